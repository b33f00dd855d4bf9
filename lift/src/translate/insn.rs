//! Lowering of one x86-64 instruction. The common integer instructions are translated inline;
//! everything else that does not transfer control goes to the runtime's single-instruction
//! helper (the interpreter), with the registers it uses written back around the call.

use iced_x86::{Instruction, Mnemonic, OpKind, Register};
use libc_shim::interp::lazy;
use wasm_encoder::Instruction as I;

use super::emit::{A0, CPU, Fx, GPR0, HIGH_BASE, SMALL_DISP, T0, gpr_index};
use super::flags::State;
use crate::link::EXIT_STOPPED;

/// Linux never maps below `vm.mmap_min_addr` (64 KiB), so lifted code checks for it.
const LOW_LIMIT: i32 = 0x1_0000;

/// Scratch locals by role.
const TA: u32 = T0;
const TB: u32 = T0 + 1;
const TR: u32 = T0 + 2;

/// The per-instruction context the block lowering passes in.
pub struct At {
    /// Flags (iced bits) live after the instruction.
    pub live_after: u32,
}

fn op_size(ins: &Instruction, i: u32) -> u32 {
    match ins.op_kind(i) {
        OpKind::Register => ins.op_register(i).size() as u32,
        OpKind::Memory => ins.memory_size().size() as u32,
        _ => 0,
    }
}

fn is_gpr(r: Register) -> bool {
    gpr_index(r).is_some()
}

/// Whether every register operand is a general register and memory operands are plain
/// (no vsib); immediates are fine.
fn gpr_operands(ins: &Instruction) -> bool {
    (0..ins.op_count()).all(|i| match ins.op_kind(i) {
        OpKind::Register => is_gpr(ins.op_register(i)),
        OpKind::Memory => {
            (ins.memory_base() == Register::None
                || ins.memory_base() == Register::RIP
                || is_gpr(ins.memory_base()))
                && (ins.memory_index() == Register::None || is_gpr(ins.memory_index()))
                && matches!(
                    ins.memory_segment(),
                    Register::DS
                        | Register::SS
                        | Register::ES
                        | Register::CS
                        | Register::FS
                        | Register::GS
                )
        }
        OpKind::Immediate8
        | OpKind::Immediate16
        | OpKind::Immediate32
        | OpKind::Immediate64
        | OpKind::Immediate8to16
        | OpKind::Immediate8to32
        | OpKind::Immediate8to64
        | OpKind::Immediate32to64 => true,
        _ => false,
    })
}

impl Fx<'_> {
    /// Pushes the effective address of the memory operand (without the segment for `lea`).
    pub fn ea(&mut self, ins: &Instruction, with_segment: bool) {
        let base = ins.memory_base();
        let index = ins.memory_index();
        let disp = ins.memory_displacement64();
        if base == Register::RIP || base == Register::EIP {
            self.i(I::I64Const(disp as i64));
        } else {
            // The displacement last, and not at all when zero.
            let mut pushed = false;
            if base != Register::None {
                self.get_reg(base);
                pushed = true;
            }
            if index != Register::None {
                self.get_reg(index);
                let scale = ins.memory_index_scale();
                if scale > 1 {
                    self.i(I::I64Const(i64::from(scale.trailing_zeros())))
                        .i(I::I64Shl);
                }
                if pushed {
                    self.i(I::I64Add);
                }
                pushed = true;
            }
            if !pushed {
                self.i(I::I64Const(disp as i64));
            } else if disp != 0 {
                self.i(I::I64Const(disp as i64)).i(I::I64Add);
            }
            let narrow = (base != Register::None && base.size() == 4)
                || (index != Register::None && index.size() == 4);
            if narrow {
                self.mask(4);
            }
        }
        if with_segment {
            match ins.memory_segment() {
                Register::FS => {
                    self.cpu_load64(libc_shim::cpu::offset::FS_BASE);
                    self.i(I::I64Add);
                }
                Register::GS => {
                    self.cpu_load64(libc_shim::cpu::offset::GS_BASE);
                    self.i(I::I64Add);
                }
                _ => {}
            }
        }
    }

    /// Computes the memory operand's address into `A0` if the instruction has one. An address
    /// below [`LOW_LIMIT`] (a null pointer, give or take a field offset) leaves to the runtime
    /// before anything changed, so the interpreter raises the SIGSEGV the guest would get.
    ///
    /// A 64-bit base register with a small displacement and no index is checked instead (at
    /// least [`HIGH_BASE`], else the interpreter runs the instruction), and only once per block
    /// until the register is written ([`Fx::high`]).
    pub(super) fn ea_prepare(&mut self, ins: &Instruction) {
        if (0..ins.op_count()).any(|i| ins.op_kind(i) == OpKind::Memory) {
            self.ea(ins, true);
            self.addr32();
            // The stack and rip-relative data are mapped; other pointers are checked.
            let base = ins.memory_base();
            let fs = matches!(ins.memory_segment(), Register::FS | Register::GS);
            if !fs && matches!(base, Register::RSP | Register::RIP) {
                self.i(I::LocalSet(A0));
                return;
            }
            let disp = ins.memory_displacement64() as i64;
            let by_base = !fs
                && base.is_gpr64()
                && ins.memory_index() == Register::None
                && disp.unsigned_abs() < SMALL_DISP as u64;
            if by_base {
                self.i(I::LocalSet(A0));
                let bit = 1u16 << gpr_index(base).expect("a general register");
                if self.high & bit == 0 {
                    self.get_reg(base);
                    self.i(I::I32WrapI64).i(I::I32Const(HIGH_BASE)).i(I::I32LtU);
                    self.if_();
                    self.exit_before(ins);
                    self.end();
                    self.high |= bit;
                }
                return;
            }
            self.i(I::LocalTee(A0))
                .i(I::I32Const(LOW_LIMIT))
                .i(I::I32LtU);
            self.if_();
            self.exit_before(ins);
            self.end();
        }
    }

    /// Leaves for the interpreter to run `ins`, storing the flags only if some are live there.
    fn exit_before(&mut self, ins: &Instruction) {
        if self.flags_dead {
            self.exit_to_keep_flags(ins.ip());
        } else {
            self.exit_to(ins.ip());
        }
    }

    /// Pushes operand `i`, zero-extended from `size` bytes (immediates are masked to it).
    pub(super) fn read(&mut self, ins: &Instruction, i: u32, size: u32) {
        match ins.op_kind(i) {
            OpKind::Register => self.get_reg(ins.op_register(i)),
            OpKind::Memory => {
                self.i(I::LocalGet(A0));
                self.load(size);
            }
            _ => {
                self.i(I::I64Const(ins.immediate(i) as i64));
                self.mask(size);
            }
        }
    }

    /// Reads operands 0 and 1 (zero-extended from `size` bytes) into `TA` and `TB`.
    pub(super) fn read_operands(&mut self, ins: &Instruction, size: u32) {
        self.read(ins, 0, size);
        self.i(I::LocalSet(TA));
        self.read(ins, 1, size);
        self.i(I::LocalSet(TB));
    }

    /// Writes the i64 in local `v` to operand `i` (register or memory) of `size` bytes.
    pub(super) fn write(&mut self, ins: &Instruction, i: u32, size: u32, v: u32) {
        match ins.op_kind(i) {
            OpKind::Register => {
                self.i(I::LocalGet(v));
                self.set_reg(ins.op_register(i));
            }
            _ => {
                self.i(I::LocalGet(A0)).i(I::LocalGet(v));
                self.store(size);
            }
        }
    }

    /// Lowers a non-control-flow instruction inline if it can; false (nothing emitted) if not.
    pub fn lower_inline_checked(&mut self, ins: &Instruction, at: &At, st: &mut State) -> bool {
        if self.lower_string(ins, st) {
            return true;
        }
        let xmm = (0..ins.op_count())
            .any(|i| ins.op_kind(i) == OpKind::Register && ins.op_register(i).is_xmm());
        if xmm {
            return self.lower_fp(ins, st) || self.lower_sse(ins);
        }
        gpr_operands(ins) && self.lower_inline(ins, at, st)
    }

    /// Pushes the target of an indirect `jmp`/`call` (register or memory operand).
    pub fn ea_target(&mut self, ins: &Instruction) {
        match ins.op_kind(0) {
            OpKind::Register if gpr_index(ins.op_register(0)).is_some() => {
                self.get_reg(ins.op_register(0))
            }
            _ => {
                self.ea(ins, true);
                self.addr32();
                self.load(8);
            }
        }
    }

    fn lower_inline(&mut self, ins: &Instruction, at: &At, st: &mut State) -> bool {
        use Mnemonic as M;
        let live = at.live_after & super::cfg::ARITH != 0;
        let m = ins.mnemonic();
        let size = if ins.op_count() > 0 {
            op_size(ins, 0)
        } else {
            0
        };
        match m {
            M::Nop | M::Endbr64 | M::Endbr32 | M::Pause | M::Prefetchnta | M::Prefetcht0 => {}
            M::Mov if ins.op_count() == 2 => {
                if size == 0 {
                    return false;
                }
                self.ea_prepare(ins);
                self.read(ins, 1, size);
                self.i(I::LocalSet(TR));
                self.write(ins, 0, size, TR);
            }
            M::Movzx | M::Movsx | M::Movsxd => {
                let src = op_size(ins, 1);
                self.ea_prepare(ins);
                self.read(ins, 1, src);
                if m != M::Movzx {
                    self.sext(src);
                }
                self.i(I::LocalSet(TR));
                self.write(ins, 0, size, TR);
            }
            M::Lea => {
                self.ea(ins, false);
                self.i(I::LocalSet(TR));
                self.write(ins, 0, size, TR);
            }
            M::Add | M::Sub | M::Cmp | M::And | M::Or | M::Xor | M::Test => {
                if size == 0 {
                    return false;
                }
                self.ea_prepare(ins);
                // `xor r, r` and `sub r, r` do not depend on r.
                let same = ins.op_kind(0) == OpKind::Register
                    && ins.op_kind(1) == OpKind::Register
                    && ins.op_register(0) == ins.op_register(1)
                    && matches!(m, M::Xor | M::Sub);
                if same && !live {
                    self.i(I::I64Const(0));
                    self.set_reg(ins.op_register(0));
                    return true;
                }
                if same {
                    self.i(I::I64Const(0)).i(I::LocalSet(TA));
                    self.i(I::I64Const(0)).i(I::LocalSet(TB));
                } else {
                    self.read_operands(ins, size);
                }
                self.i(I::LocalGet(TA)).i(I::LocalGet(TB));
                self.i(match m {
                    M::Add => I::I64Add,
                    M::Sub | M::Cmp => I::I64Sub,
                    M::And | M::Test => I::I64And,
                    M::Or => I::I64Or,
                    _ => I::I64Xor,
                });
                self.mask(size);
                self.i(I::LocalSet(TR));
                if !matches!(m, M::Cmp | M::Test) {
                    self.write(ins, 0, size, TR);
                }
                if live {
                    *st = match m {
                        M::Add => self.produce(lazy::ADD, size, TA, TB, TR, None),
                        M::Sub | M::Cmp => self.produce(lazy::SUB, size, TA, TB, TR, None),
                        _ => self.produce_logic(size, TR),
                    };
                }
            }
            M::Inc | M::Dec | M::Neg | M::Not => {
                self.ea_prepare(ins);
                self.read(ins, 0, size);
                self.i(I::LocalSet(TA));
                match m {
                    M::Inc | M::Dec => {
                        self.i(I::I64Const(1)).i(I::LocalSet(TB));
                        self.i(I::LocalGet(TA)).i(I::LocalGet(TB));
                        self.i(if m == M::Inc { I::I64Add } else { I::I64Sub });
                    }
                    M::Neg => {
                        self.i(I::LocalGet(TA)).i(I::LocalSet(TB));
                        self.i(I::I64Const(0)).i(I::LocalSet(TA));
                        self.i(I::I64Const(0)).i(I::LocalGet(TB)).i(I::I64Sub);
                    }
                    _ => {
                        self.i(I::LocalGet(TA)).i(I::I64Const(-1)).i(I::I64Xor);
                    }
                }
                self.mask(size);
                self.i(I::LocalSet(TR));
                self.write(ins, 0, size, TR);
                if live && m != M::Not {
                    *st = match m {
                        M::Neg => self.produce(lazy::SUB, size, TA, TB, TR, None),
                        _ => {
                            let op = if m == M::Inc { lazy::INC } else { lazy::DEC };
                            let prev = *st;
                            let carry_live = at.live_after & iced_x86::RflagsBits::CF != 0;
                            let carry = move |fx: &mut Self| {
                                fx.cond(prev, iced_x86::ConditionCode::b);
                            };
                            self.produce(
                                op,
                                size,
                                TA,
                                TB,
                                TR,
                                carry_live.then_some(&carry as &dyn Fn(&mut Self)),
                            )
                        }
                    };
                }
            }
            M::Shl | M::Shr | M::Sar if !live && size >= 4 => {
                self.ea_prepare(ins);
                self.read(ins, 0, size);
                if m == M::Sar {
                    self.sext(size);
                }
                self.read(ins, 1, 1);
                self.i(I::I64Const(if size == 8 { 63 } else { 31 }))
                    .i(I::I64And);
                self.i(match m {
                    M::Shl => I::I64Shl,
                    M::Shr => I::I64ShrU,
                    _ => I::I64ShrS,
                });
                self.i(I::LocalSet(TR));
                self.write(ins, 0, size, TR);
            }
            M::Rol | M::Ror if !live && size == 8 => {
                self.ea_prepare(ins);
                self.read(ins, 0, size);
                self.read(ins, 1, 1);
                self.i(if m == M::Rol { I::I64Rotl } else { I::I64Rotr });
                self.i(I::LocalSet(TR));
                self.write(ins, 0, size, TR);
            }
            M::Imul if !live && size >= 4 && ins.op_count() >= 2 => {
                self.ea_prepare(ins);
                let (x, y) = if ins.op_count() == 3 { (1, 2) } else { (0, 1) };
                self.read(ins, x, size);
                self.read(ins, y, size);
                self.i(I::I64Mul);
                self.i(I::LocalSet(TR));
                self.write(ins, 0, size, TR);
            }
            M::Cmove
            | M::Cmovne
            | M::Cmovb
            | M::Cmovae
            | M::Cmovbe
            | M::Cmova
            | M::Cmovl
            | M::Cmovge
            | M::Cmovle
            | M::Cmovg
            | M::Cmovs
            | M::Cmovns
            | M::Cmovo
            | M::Cmovno
            | M::Cmovp
            | M::Cmovnp => {
                self.ea_prepare(ins);
                self.read(ins, 1, size);
                self.read(ins, 0, size);
                self.cond(*st, ins.condition_code());
                self.i(I::Select);
                self.i(I::LocalSet(TR));
                self.write(ins, 0, size, TR);
            }
            M::Sete
            | M::Setne
            | M::Setb
            | M::Setae
            | M::Setbe
            | M::Seta
            | M::Setl
            | M::Setge
            | M::Setle
            | M::Setg
            | M::Sets
            | M::Setns
            | M::Seto
            | M::Setno
            | M::Setp
            | M::Setnp => {
                self.ea_prepare(ins);
                self.cond(*st, ins.condition_code());
                self.i(I::I64ExtendI32U).i(I::LocalSet(TR));
                self.write(ins, 0, 1, TR);
            }
            // `push imm16` (0x66 prefix) moves rsp by 2: the helper runs it.
            M::Push
                if ins.stack_pointer_increment() == -8
                    && (size == 8 || ins.op_kind(0) != OpKind::Register) =>
            {
                if ins.op_kind(0) == OpKind::Memory && ins.memory_size().size() != 8 {
                    return false;
                }
                self.ea_prepare(ins);
                self.push_value(|fx| fx.read(ins, 0, 8));
            }
            M::Pop if ins.op_kind(0) == OpKind::Register && size == 8 => {
                self.pop_value(0);
                self.set_reg(ins.op_register(0));
            }
            M::Leave if ins.code() == iced_x86::Code::Leaveq => {
                self.i(I::LocalGet(GPR0 + 5)).i(I::LocalSet(GPR0 + 4));
                self.pop_value(0);
                self.i(I::LocalSet(GPR0 + 5));
            }
            M::Xchg if ins.op_kind(0) == OpKind::Register && ins.op_kind(1) == OpKind::Register => {
                self.read_operands(ins, size);
                self.write(ins, 0, size, TB);
                self.write(ins, 1, size, TA);
            }
            M::Cdqe | M::Cwde => {
                let (from, to) = if m == M::Cdqe {
                    (Register::EAX, Register::RAX)
                } else {
                    (Register::AX, Register::EAX)
                };
                self.get_reg(from);
                self.sext(from.size() as u32);
                self.set_reg(to);
            }
            M::Cqo | M::Cdq => {
                let (from, to, bits) = if m == M::Cqo {
                    (Register::RAX, Register::RDX, 63)
                } else {
                    (Register::EAX, Register::EDX, 31)
                };
                self.get_reg(from);
                self.sext(from.size() as u32);
                self.i(I::I64Const(bits)).i(I::I64ShrS);
                self.set_reg(to);
            }
            M::Mul | M::Imul | M::Div | M::Idiv if ins.op_count() == 1 => {
                return self.lower_muldiv(ins, st, size);
            }
            _ => return self.lower_bits(ins, at, st, size),
        }
        true
    }

    /// Runs `ins` in the runtime's interpreter: writes back what it uses, calls the helper, reads
    /// back what it writes; a stop (syscall, fault) leaves the function.
    pub fn helper(&mut self, ins: &Instruction, st: &mut State) {
        let (reads, writes) = super::regs::of(ins);
        self.store_gprs(reads | writes);
        // Where no flag is live the interpreter's copy may stay stale: what the instruction
        // reads of it (DF) only helpers change, and they keep `cpu` current.
        if !self.flags_dead {
            self.store_flags();
        }
        self.cpu_store64(libc_shim::cpu::offset::RIP, |fx| {
            fx.i(I::I64Const(ins.ip() as i64));
        });
        let f = self.link.step_func;
        self.i(I::LocalGet(CPU)).i(I::Call(f));
        self.if_();
        // The helper stopped: the flags in `cpu` are its own, so they are kept.
        self.load_gprs(writes);
        self.cpu_load64(libc_shim::cpu::offset::RIP);
        self.exit_dynamic_keep_flags(EXIT_STOPPED);
        self.end();
        self.load_gprs(writes);
        if ins.rflags_modified() != 0 {
            self.load_flags();
            *st = State::Unknown;
        }
    }
}

//! The Wasm function emitter: locals, the block-dispatch skeleton, guest registers and memory,
//! and the ways out of a lifted function (see `link` for the contract).
//!
//! Skeleton, for blocks `0..n` in address order:
//!
//! ```text
//! prologue: load the registers the function uses (and the lazy flags if a block reads them)
//! block $exit_keep_flags
//!   block $exit
//!     loop $top
//!       block $t(n-1) ... block $t0
//!         br_table $t0 .. $t(n-1) (local $next)   ;; initially the `$entry` parameter
//!       end  <code of block 0>
//!       ...
//!       end  <code of block n-1>
//!     end
//!     unreachable
//!   end
//!   store the lazy flags
//! end
//! epilogue: store modified registers, cpu.rip = $exit_rip, return $exit_code
//! ```
//!
//! Ways out where the flags are dead (`ret`, a call's guards, by the ABI) or already right in
//! `cpu` (a callee or the helper stopped) branch to `$exit_keep_flags`, so the flag locals are
//! not live along them.
//!
//! A branch to a later block is a `br` to the label that ends right before it; a block that
//! branches to its own start is wrapped in a `loop` (the branch is a `br` to it); other branches
//! back go through `$top` and the `br_table`.

use iced_x86::Register;
use libc_shim::cpu::offset;
use wasm_encoder::{BlockType, Function, Instruction as I, MemArg, ValType};

use crate::link::{Link, MAX_DEPTH};

/// Local indices. Parameters: 0 cpu, 1 entry, 2 depth.
pub const CPU: u32 = 0;
pub const ENTRY: u32 = 1;
pub const DEPTH: u32 = 2;
/// Sixteen i64 guest registers start here.
pub const GPR0: u32 = 3;
/// Lazy flags: result, src1, src2, stored (i64) and op, size (i32).
pub const F_RES: u32 = 19;
pub const F_A: u32 = 20;
pub const F_B: u32 = 21;
pub const F_STORED: u32 = 22;
pub const EXIT_RIP: u32 = 23;
pub const ICNT: u32 = 24;
/// Scratch i64 locals.
pub const T0: u32 = 25;
pub const N_I64_TEMPS: u32 = 6;
pub const F_OP: u32 = T0 + N_I64_TEMPS;
pub const F_SIZE: u32 = F_OP + 1;
pub const NEXT: u32 = F_OP + 2;
pub const EXIT_CODE: u32 = F_OP + 3;
/// Scratch i32 locals (addresses).
pub const A0: u32 = F_OP + 4;
pub const N_I32_TEMPS: u32 = 3;
/// Scratch floats: three f64, then three f32.
pub const FP0: u32 = A0 + N_I32_TEMPS;
/// Scratch v128s: three.
pub const V0: u32 = FP0 + 6;

/// A label on the emitter's control stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Label {
    /// The way out that stores the lazy flags first.
    Exit,
    /// The way out where the flags in `cpu` are already right or dead (after `ret` or at a
    /// call, by the ABI; after a callee or the helper stopped).
    ExitKeepFlags,
    /// The way out where `cpu` is already complete (registers, rip, flags): after a callee that
    /// stopped or did not return to its call; only the instruction count is added.
    ExitDone,
    Top,
    /// Ends right before block `k`.
    Before(usize),
    /// A `loop` around block `k`, which branches back to itself.
    Loop(usize),
    /// An `if`/`block` the instruction lowering opened.
    Inner,
}

pub struct Fx<'a> {
    pub f: Function,
    pub link: &'a Link,
    labels: Vec<Label>,
    /// Registers (encoding index bits) the function reads and writes.
    pub used: u16,
    pub modified: u16,
    /// Registers known in this block to hold at least [`HIGH_BASE`] (checked, and not written
    /// since): a memory operand based on one with a small displacement needs no null check.
    pub high: u16,
    /// No flag is live before the instruction being lowered: its ways out to the interpreter
    /// need not store them.
    pub flags_dead: bool,
}

/// See [`Fx::high`]: a base at or above this plus a displacement of magnitude below
/// [`SMALL_DISP`] stays above the unmapped first 64 KiB.
pub const HIGH_BASE: i32 = 0x1_1000;
pub const SMALL_DISP: i64 = 0x1000;

/// The encoding index (0..16) of a 64-bit general register.
pub fn gpr_index(r: Register) -> Option<u32> {
    let full = r.full_register();
    if full.is_gpr64() {
        Some(full as u32 - Register::RAX as u32)
    } else {
        None
    }
}

fn mem(offset: u64, align: u32) -> MemArg {
    MemArg {
        offset,
        align,
        memory_index: 0,
    }
}

impl<'a> Fx<'a> {
    pub fn new(link: &'a Link, used: u16, modified: u16) -> Fx<'a> {
        let locals = [
            (16 + 4 + 2 + N_I64_TEMPS, ValType::I64),
            (4 + N_I32_TEMPS, ValType::I32),
            (3, ValType::F64),
            (3, ValType::F32),
            (3, ValType::V128),
        ];
        Fx {
            f: Function::new(locals),
            link,
            labels: Vec::new(),
            used,
            modified,
            high: 0,
            flags_dead: false,
        }
    }

    #[inline]
    pub fn i(&mut self, ins: I<'_>) -> &mut Self {
        self.f.instruction(&ins);
        self
    }

    pub fn push_label(&mut self, l: Label, bt: BlockType, is_loop: bool) {
        self.labels.push(l);
        if is_loop {
            self.i(I::Loop(bt));
        } else {
            self.i(I::Block(bt));
        }
    }

    /// Opens an `if` (condition on the stack).
    pub fn if_(&mut self) {
        self.labels.push(Label::Inner);
        self.i(I::If(BlockType::Empty));
    }

    /// Opens an `if` whose arms leave an i32 (condition on the stack).
    pub fn if_i32(&mut self) {
        self.labels.push(Label::Inner);
        self.i(I::If(BlockType::Result(ValType::I32)));
    }

    /// Closes the innermost label.
    pub fn end(&mut self) {
        self.labels.pop();
        self.i(I::End);
    }

    /// The `br` depth of `l`.
    pub fn depth(&self, l: Label) -> u32 {
        let pos = self
            .labels
            .iter()
            .rposition(|&x| x == l)
            .expect("branch to an open label");
        (self.labels.len() - 1 - pos) as u32
    }

    /// Whether `l` is open.
    pub fn is_open(&self, l: Label) -> bool {
        self.labels.contains(&l)
    }

    pub fn br(&mut self, l: Label) {
        let d = self.depth(l);
        self.i(I::Br(d));
    }

    // ---- the CPU state ----

    pub fn cpu_load64(&mut self, off: usize) {
        self.i(I::LocalGet(CPU)).i(I::I64Load(mem(off as u64, 3)));
    }

    /// Stores the i64 that `value` pushes at `cpu + off`.
    pub fn cpu_store64(&mut self, off: usize, value: impl FnOnce(&mut Self)) {
        self.i(I::LocalGet(CPU));
        value(self);
        self.i(I::I64Store(mem(off as u64, 3)));
    }

    pub fn load_gprs(&mut self, set: u16) {
        for r in 0..16u32 {
            if set & (1 << r) != 0 {
                self.cpu_load64(offset::GPR + 8 * r as usize);
                self.i(I::LocalSet(GPR0 + r));
            }
        }
    }

    pub fn store_gprs(&mut self, set: u16) {
        for r in 0..16u32 {
            if set & (1 << r) != 0 {
                self.cpu_store64(offset::GPR + 8 * r as usize, |fx| {
                    fx.i(I::LocalGet(GPR0 + r));
                });
            }
        }
    }

    /// Writes the lazy-flag locals to `cpu.flags`.
    pub fn store_flags(&mut self) {
        for (off, l) in [
            (offset::FLAGS_RESULT, F_RES),
            (offset::FLAGS_SRC1, F_A),
            (offset::FLAGS_SRC2, F_B),
            (offset::FLAGS_STORED, F_STORED),
        ] {
            self.cpu_store64(off, |fx| {
                fx.i(I::LocalGet(l));
            });
        }
        for (off, l) in [(offset::FLAGS_OP, F_OP), (offset::FLAGS_SIZE, F_SIZE)] {
            self.i(I::LocalGet(CPU))
                .i(I::LocalGet(l))
                .i(I::I32Store(mem(off as u64, 2)));
        }
    }

    pub fn load_flags(&mut self) {
        for (off, l) in [
            (offset::FLAGS_RESULT, F_RES),
            (offset::FLAGS_SRC1, F_A),
            (offset::FLAGS_SRC2, F_B),
            (offset::FLAGS_STORED, F_STORED),
        ] {
            self.cpu_load64(off);
            self.i(I::LocalSet(l));
        }
        for (off, l) in [(offset::FLAGS_OP, F_OP), (offset::FLAGS_SIZE, F_SIZE)] {
            self.i(I::LocalGet(CPU))
                .i(I::I32Load(mem(off as u64, 2)))
                .i(I::LocalSet(l));
        }
    }

    /// Adds the instruction counter to `cpu.lifted` and clears it.
    pub fn flush_count(&mut self) {
        self.cpu_store64(offset::LIFTED, |fx| {
            fx.cpu_load64(offset::LIFTED);
            fx.i(I::LocalGet(ICNT)).i(I::I64Add);
        });
        self.i(I::I64Const(0)).i(I::LocalSet(ICNT));
    }

    /// Calls lifted function `func` (relative to `first_func`) at `block`, one level deeper;
    /// pushes its exit code.
    pub fn call_lifted(&mut self, func: u32, block: u32) {
        let callee = self.link.first_func + func;
        self.i(I::LocalGet(CPU))
            .i(I::I32Const(block as i32))
            .i(I::LocalGet(DEPTH))
            .i(I::I32Const(1))
            .i(I::I32Add)
            .i(I::Call(callee));
    }

    // ---- leaving ----

    /// Leaves with `cpu.rip` = the i64 on the stack and exit code `code`, without storing the
    /// flags ([`Label::ExitKeepFlags`]: they are dead there).
    pub fn exit_dynamic_keep_flags(&mut self, code: i32) {
        self.i(I::LocalSet(EXIT_RIP));
        if code != crate::link::EXIT_CONTINUE {
            self.i(I::I32Const(code)).i(I::LocalSet(EXIT_CODE));
        }
        self.br(Label::ExitKeepFlags);
    }

    /// Leaves with [`crate::link::EXIT_CONTINUE`] (the initial `$exit_code`, which only the
    /// stopped path changes, and that path always leaves).
    pub fn exit_to(&mut self, rip: u64) {
        self.i(I::I64Const(rip as i64)).i(I::LocalSet(EXIT_RIP));
        self.br(Label::Exit);
    }

    /// [`Self::exit_to`] without storing the flags (they are dead at `rip`).
    pub fn exit_to_keep_flags(&mut self, rip: u64) {
        self.i(I::I64Const(rip as i64)).i(I::LocalSet(EXIT_RIP));
        self.br(Label::ExitKeepFlags);
    }

    /// The epilogue after the `$exit_keep_flags` block (the `$exit` block inside it stored the
    /// flags): registers and rip. The instruction count follows the `$exit_done` block.
    pub fn epilogue(&mut self) {
        self.store_gprs(self.modified);
        self.cpu_store64(offset::RIP, |fx| {
            fx.i(I::LocalGet(EXIT_RIP));
        });
    }

    /// At a lifted call's target (`depth > 0`, so the entry block at `entry`), leaves at once
    /// with `cpu` untouched when the call nests [`MAX_DEPTH`] deep or the pushed return address
    /// came within a window of the stack guard (`cpu.stack_guard`): the runtime then runs the
    /// function, and the interpreter faults on the guard page like the CPU. The caller, seeing
    /// that the callee did not return, leaves too.
    ///
    /// The window is generous (1 MiB) because only calls are checked: a function's own frame
    /// below the return address is not.
    pub fn call_guard(&mut self, entry: u64) {
        const WINDOW: i64 = 1 << 20;
        self.i(I::LocalGet(DEPTH))
            .i(I::I32Const(MAX_DEPTH))
            .i(I::I32GeS);
        // The return address went below the guard, by at most the window:
        // `guard - 1 - rsp <u WINDOW`.
        self.i(I::LocalGet(DEPTH)).i(I::I32Const(0)).i(I::I32Ne);
        self.cpu_load64(offset::STACK_GUARD);
        self.i(I::LocalGet(GPR0 + 4))
            .i(I::I64Sub)
            .i(I::I64Const(-1))
            .i(I::I64Add)
            .i(I::I64Const(WINDOW))
            .i(I::I64LtU)
            .i(I::I32And)
            .i(I::I32Or);
        self.if_();
        self.cpu_store64(offset::RIP, |fx| {
            fx.i(I::I64Const(entry as i64));
        });
        self.i(I::I32Const(crate::link::EXIT_CONTINUE)).i(I::Return);
        self.end();
    }

    // ---- guest memory ----

    /// Converts the i64 guest address on the stack to the i32 operand of a load or store.
    pub fn addr32(&mut self) {
        self.i(I::I32WrapI64);
    }

    /// Loads `size` bytes, zero-extended to i64, from the i32 address on the stack.
    pub fn load(&mut self, size: u32) {
        let m = mem(u64::from(self.link.guest_base), 0);
        self.i(match size {
            1 => I::I64Load8U(m),
            2 => I::I64Load16U(m),
            4 => I::I64Load32U(m),
            _ => I::I64Load(m),
        });
    }

    /// Stores the low `size` bytes of the i64 on the stack at the i32 address below it.
    pub fn store(&mut self, size: u32) {
        let m = mem(u64::from(self.link.guest_base), 0);
        self.i(match size {
            1 => I::I64Store8(m),
            2 => I::I64Store16(m),
            4 => I::I64Store32(m),
            _ => I::I64Store(m),
        });
    }

    // ---- registers ----

    /// Pushes register `r` zero-extended to i64.
    pub fn get_reg(&mut self, r: Register) {
        let idx = gpr_index(r).expect("a general register");
        self.i(I::LocalGet(GPR0 + idx));
        match r.size() {
            8 => {}
            4 => {
                self.i(I::I32WrapI64).i(I::I64ExtendI32U);
            }
            2 => {
                self.i(I::I64Const(0xffff)).i(I::I64And);
            }
            _ if is_high8(r) => {
                self.i(I::I64Const(8))
                    .i(I::I64ShrU)
                    .i(I::I64Const(0xff))
                    .i(I::I64And);
            }
            _ => {
                self.i(I::I64Const(0xff)).i(I::I64And);
            }
        }
    }

    /// Writes the i64 on the stack to register `r` with x86 rules: 32-bit writes zero-extend,
    /// 8- and 16-bit writes keep the other bits. Uses `T0 + 5` as scratch.
    pub fn set_reg(&mut self, r: Register) {
        let idx = gpr_index(r).expect("a general register");
        let l = GPR0 + idx;
        let (mask, shift): (u64, i64) = match r.size() {
            8 => {
                self.i(I::LocalSet(l));
                return;
            }
            4 => {
                self.i(I::I32WrapI64).i(I::I64ExtendI32U).i(I::LocalSet(l));
                return;
            }
            2 => (0xffff, 0),
            _ if is_high8(r) => (0xff00, 8),
            _ => (0xff, 0),
        };
        let tmp = T0 + N_I64_TEMPS - 1;
        if shift != 0 {
            self.i(I::I64Const(shift)).i(I::I64Shl);
        }
        self.i(I::I64Const(mask as i64))
            .i(I::I64And)
            .i(I::LocalSet(tmp))
            .i(I::LocalGet(l))
            .i(I::I64Const(!mask as i64))
            .i(I::I64And)
            .i(I::LocalGet(tmp))
            .i(I::I64Or)
            .i(I::LocalSet(l));
    }

    /// Pushes `rsp - 8`, stores it to rsp; the caller then stores a value at the new rsp.
    pub fn push_value(&mut self, value: impl FnOnce(&mut Self)) {
        let rsp = GPR0 + 4;
        let a = A0 + N_I32_TEMPS - 1;
        let v = T0 + N_I64_TEMPS - 2;
        value(self);
        self.i(I::LocalSet(v));
        self.i(I::LocalGet(rsp))
            .i(I::I64Const(8))
            .i(I::I64Sub)
            .i(I::LocalTee(rsp))
            .i(I::I32WrapI64)
            .i(I::LocalSet(a));
        self.i(I::LocalGet(a)).i(I::LocalGet(v));
        self.store(8);
    }

    /// Pushes the value popped from the guest stack.
    pub fn pop_value(&mut self, extra: u64) {
        let rsp = GPR0 + 4;
        self.i(I::LocalGet(rsp)).i(I::I32WrapI64);
        self.load(8);
        self.i(I::LocalGet(rsp))
            .i(I::I64Const(8 + extra as i64))
            .i(I::I64Add)
            .i(I::LocalSet(rsp));
    }

    /// Masks the i64 on the stack to `size` bytes.
    pub fn mask(&mut self, size: u32) {
        match size {
            8 => {}
            4 => {
                self.i(I::I32WrapI64).i(I::I64ExtendI32U);
            }
            _ => {
                self.i(I::I64Const(((1u64 << (size * 8)) - 1) as i64))
                    .i(I::I64And);
            }
        }
    }

    /// Sign-extends the low `size` bytes of the i64 on the stack.
    pub fn sext(&mut self, size: u32) {
        match size {
            1 => {
                self.i(I::I64Extend8S);
            }
            2 => {
                self.i(I::I64Extend16S);
            }
            4 => {
                self.i(I::I64Extend32S);
            }
            _ => {}
        }
    }
}

pub fn is_high8(r: Register) -> bool {
    matches!(r, Register::AH | Register::CH | Register::DH | Register::BH)
}

//! Test cases for one form: operands chosen from its operand kinds (registers from two pools
//! that avoid rsp, rbp, rsi and rdi; memory at `[rbp+0x40]` in the data area, 64-byte aligned;
//! immediates from an edge list), and input states mixing integer edge values, shift counts,
//! x87/SSE special values (NaNs, infinities, denormals, ±0) with seeded random values.

use std::vec::Vec;

use iced_x86::{
    Code, Encoder, Instruction, MemoryOperand, Mnemonic as M, OpCodeOperandKind as K, OpKind,
    Register as R,
};

use super::super::flags::{AF, CF, OF, PF, SF, ZF};
use super::super::testing::{DATA, EDGES, STACK_TOP, State};

/// Offset of the memory operand from rbp (`DATA + 0x1000`), and from the data area start.
pub(super) const MEM_DISP: u64 = 0x40;
pub(super) const MEM_OFF: usize = 0x1040;

const P8: [[R; 3]; 2] = [[R::BL, R::CL, R::R8L], [R::R9L, R::R10L, R::R11L]];
const P16: [[R; 3]; 2] = [[R::BX, R::CX, R::R8W], [R::R9W, R::R10W, R::R11W]];
const P32: [[R; 3]; 2] = [[R::EBX, R::ECX, R::R8D], [R::R9D, R::R10D, R::R11D]];
const P64: [[R; 3]; 2] = [[R::RBX, R::RCX, R::R8], [R::R9, R::R10, R::R11]];
const PM: [[R; 3]; 2] = [[R::MM1, R::MM2, R::MM3], [R::MM4, R::MM5, R::MM6]];
const PX: [[R; 3]; 2] = [[R::XMM1, R::XMM2, R::XMM3], [R::XMM9, R::XMM10, R::XMM11]];

/// Registers the generator randomises (all but rsp, rbp, rsi, rdi).
const RANDOM_GPRS: [usize; 12] = [0, 1, 2, 3, 8, 9, 10, 11, 12, 13, 14, 15];

/// A deterministic xorshift generator.
pub(super) struct Rng(pub u64);

impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

const IMM_EDGES: [u64; 8] = [0, 1, 0x7f, 0x80, 0xff, 0x1f, 0x3f, 0x40];
const COUNTS: [u64; 10] = [0, 1, 7, 8, 15, 16, 31, 32, 63, 64];

const F64_EDGES: [u64; 14] = [
    0,
    0x8000_0000_0000_0000,
    0x3ff0_0000_0000_0000,
    0xbff8_0000_0000_0000,
    0x7ff0_0000_0000_0000,
    0xfff0_0000_0000_0000,
    0x7ff8_0000_0000_0000,
    0x7ff4_0000_0000_0001,
    0x0000_0000_0000_0001,
    0x000f_ffff_ffff_ffff,
    0x0010_0000_0000_0000,
    0x7fef_ffff_ffff_ffff,
    0x43e0_0000_0000_0000,
    0x41e0_0000_0000_0000,
];
const F32_EDGES: [u32; 14] = [
    0,
    0x8000_0000,
    0x3f80_0000,
    0xbfc0_0000,
    0x7f80_0000,
    0xff80_0000,
    0x7fc0_0000,
    0x7fa0_0001,
    0x0000_0001,
    0x007f_ffff,
    0x0080_0000,
    0x7f7f_ffff,
    0x5f00_0000,
    0x4f00_0000,
];

/// A placed operand.
#[derive(Clone, Copy, Debug)]
pub enum Op {
    Reg(R),
    Mem,
    /// `moffs64`: the absolute address of the memory operand.
    MemOffs,
    /// `xlat`'s `[rbx+al]`.
    Xlat,
    Imm(OpKind, u64),
    Str(OpKind),
    /// A relative branch to [`branch::TARGET`](super::branch::TARGET).
    Branch(OpKind),
}

/// Operands for case `k`: register pool `k % 2` (one register for every operand of a class when
/// `k % 8 == 7`), memory for the r/m operand when `mem` (the form's memory variant),
/// immediates from the edge list then random.
pub(super) fn operands(code: Code, k: usize, mem: bool, rng: &mut Rng) -> Vec<Op> {
    let pool = k % 2;
    let mut imms = 0;
    let kinds = code.op_code().op_kinds();
    let mut v = Vec::new();
    for (i, &kind) in kinds.iter().enumerate() {
        // Every eighth case uses one register for all operands of a class (aliasing).
        let i = if k % 8 == 7 { 0 } else { i.min(2) };
        let imm = |rng: &mut Rng| {
            if k < IMM_EDGES.len() {
                IMM_EDGES[(k + imms * 3) % IMM_EDGES.len()]
            } else {
                rng.next()
            }
        };
        let op = match kind {
            K::mem => Op::Mem,
            K::mem_offs => Op::MemOffs,
            K::seg_rBX_al => Op::Xlat,
            k if mem && super::forms::is_rm(k) => Op::Mem,
            K::r8_or_mem | K::r8_reg | K::r8_opcode => Op::Reg(P8[pool][i]),
            K::r16_or_mem | K::r16_reg | K::r16_reg_mem | K::r16_rm | K::r16_opcode => {
                Op::Reg(P16[pool][i])
            }
            K::r32_or_mem
            | K::r32_reg
            | K::r32_reg_mem
            | K::r32_rm
            | K::r32_opcode
            | K::r32_vvvv => Op::Reg(P32[pool][i]),
            K::r64_or_mem
            | K::r64_reg
            | K::r64_reg_mem
            | K::r64_rm
            | K::r64_opcode
            | K::r64_vvvv => Op::Reg(P64[pool][i]),
            K::xmm_or_mem | K::xmm_reg | K::xmm_rm => Op::Reg(PX[pool][i]),
            K::mm_or_mem | K::mm_reg | K::mm_rm => Op::Reg(PM[pool][i]),
            K::al => Op::Reg(R::AL),
            K::cl => Op::Reg(R::CL),
            K::ax => Op::Reg(R::AX),
            K::dx => Op::Reg(R::DX),
            K::eax => Op::Reg(R::EAX),
            K::rax => Op::Reg(R::RAX),
            K::st0 => Op::Reg(R::ST0),
            K::sti_opcode => Op::Reg(if pool == 0 { R::ST1 } else { R::ST2 }),
            K::imm8_const_1 => Op::Imm(OpKind::Immediate8, 1),
            K::imm8 => {
                let kind = if imms == 0 {
                    OpKind::Immediate8
                } else {
                    OpKind::Immediate8_2nd
                };
                Op::Imm(kind, imm(rng) & 0xff)
            }
            K::imm8sex16 => Op::Imm(OpKind::Immediate8to16, imm(rng) & 0xff),
            K::imm8sex32 => Op::Imm(OpKind::Immediate8to32, imm(rng) & 0xff),
            K::imm8sex64 => Op::Imm(OpKind::Immediate8to64, imm(rng) & 0xff),
            K::imm16 => Op::Imm(OpKind::Immediate16, imm_wide(k, rng) & 0xffff),
            K::imm32 => Op::Imm(OpKind::Immediate32, imm_wide(k, rng) & 0xffff_ffff),
            K::imm32sex64 => Op::Imm(OpKind::Immediate32to64, imm_wide(k, rng) & 0xffff_ffff),
            K::imm64 => Op::Imm(OpKind::Immediate64, imm_wide(k, rng)),
            K::br16_1 | K::br16_2 => Op::Branch(OpKind::NearBranch16),
            K::br64_1 | K::br64_4 => Op::Branch(OpKind::NearBranch64),
            K::seg_rSI => Op::Str(OpKind::MemorySegRSI),
            K::es_rDI => Op::Str(OpKind::MemoryESRDI),
            K::seg_rDI => Op::Str(OpKind::MemorySegRDI),
            _ => unreachable!("unsupported operand kind {kind:?}"),
        };
        if matches!(op, Op::Imm(..)) {
            imms += 1;
        }
        v.push(op);
    }
    v
}

fn imm_wide(k: usize, rng: &mut Rng) -> u64 {
    if k < EDGES.len() {
        EDGES[k]
    } else {
        rng.next()
    }
}

/// An instruction of form `code` with no operands set yet (`Instruction::with` asserts the
/// form has none).
pub(super) fn bare(code: Code) -> Instruction {
    let mut i = Instruction::default();
    i.set_code(code);
    i
}

/// Encodes `code` with `ops` at `ip`; `None` when iced refuses or the bytes decode to another
/// form (an fwait pseudo-form is `fwait` and its no-wait form).
pub(super) fn encode(code: Code, ops: &[Op], ip: u64) -> Option<Vec<u8>> {
    let mut ins = bare(code);
    for (i, op) in ops.iter().enumerate() {
        let i = i as u32;
        match *op {
            Op::Reg(r) => {
                ins.set_op_kind(i, OpKind::Register);
                ins.set_op_register(i, r);
            }
            Op::Mem => {
                let m = MemoryOperand::with_base_displ(R::RBP, MEM_DISP as i64);
                ins.set_op_kind(i, OpKind::Memory);
                ins.set_memory_base(m.base);
                ins.set_memory_index(R::None);
                ins.set_memory_displacement64(MEM_DISP);
                ins.set_memory_displ_size(1);
            }
            Op::Xlat => {
                ins.set_op_kind(i, OpKind::Memory);
                ins.set_memory_base(R::RBX);
                ins.set_memory_index(R::AL);
            }
            Op::MemOffs => {
                ins.set_op_kind(i, OpKind::Memory);
                ins.set_memory_base(R::None);
                ins.set_memory_index(R::None);
                ins.set_memory_displacement64(DATA + MEM_OFF as u64);
                ins.set_memory_displ_size(8);
            }
            Op::Imm(kind, v) => {
                ins.set_op_kind(i, kind);
                match kind {
                    OpKind::Immediate8
                    | OpKind::Immediate8to16
                    | OpKind::Immediate8to32
                    | OpKind::Immediate8to64 => ins.set_immediate8(v as u8),
                    OpKind::Immediate8_2nd => ins.set_immediate8_2nd(v as u8),
                    OpKind::Immediate16 => ins.set_immediate16(v as u16),
                    OpKind::Immediate32 | OpKind::Immediate32to64 => ins.set_immediate32(v as u32),
                    _ => ins.set_immediate64(v),
                }
            }
            Op::Branch(kind) => {
                ins.set_op_kind(i, kind);
                let t = super::branch::TARGET;
                if kind == OpKind::NearBranch16 {
                    ins.set_near_branch16(t as u16);
                } else {
                    ins.set_near_branch64(t);
                }
            }
            Op::Str(kind) => {
                ins.set_op_kind(i, kind);
                let base = if kind == OpKind::MemorySegRSI {
                    R::RSI
                } else {
                    R::RDI
                };
                ins.set_memory_base(base);
            }
        }
    }
    let mut e = Encoder::new(64);
    e.encode(&ins, ip).ok()?;
    let bytes = e.take_buffer();
    let mut d = iced_x86::Decoder::with_ip(64, &bytes, ip, 0);
    let back = d.decode();
    // An fwait pseudo-form (fstenv = fwait; fnstenv) decodes as its two instructions.
    let ok = back.code() == code
        || (code.op_code().fwait()
            && back.code() == Code::Wait
            && !d.decode().is_invalid()
            && d.position() == bytes.len());
    ok.then_some(bytes)
}

fn fp_lane(k: usize, j: usize, rng: &mut Rng) -> u128 {
    match k % 4 {
        0 => {
            let a = F32_EDGES[(k / 4 + j) % F32_EDGES.len()] as u128;
            let b = F32_EDGES[(k / 4 + j * 5 + 3) % F32_EDGES.len()] as u128;
            a | b << 32 | (rng.next() as u128) << 64
        }
        1 => {
            let a = F64_EDGES[(k / 4 + j) % F64_EDGES.len()] as u128;
            let b = F64_EDGES[(k / 4 + j * 5 + 3) % F64_EDGES.len()] as u128;
            a | b << 64
        }
        2 => {
            let a = EDGES[(k + j * 3) % EDGES.len()] as u128;
            let b = EDGES[(k + j * 7 + 1) % EDGES.len()] as u128;
            a | b << 64
        }
        _ => (rng.next() as u128) << 64 | rng.next() as u128,
    }
}

/// The input state for case `k`: GPRs from the edge values (cases below 17) or random, cl from
/// the shift-count edges, carry and the other arithmetic flags varied, MXCSR rounding mode and
/// FTZ/DAZ varied, XMM registers and the memory operand from the special-value lists.
pub(super) fn state(k: usize, rng: &mut Rng) -> State {
    let mut s = State::default();
    for (j, &g) in RANDOM_GPRS.iter().enumerate() {
        s.gpr[g] = if k < EDGES.len() {
            EDGES[(k + j * 5) % EDGES.len()]
        } else {
            rng.next()
        };
    }
    if k.is_multiple_of(2) {
        s.gpr[1] = COUNTS[(k / 2) % COUNTS.len()] | (rng.next() & !0xff);
    }
    let flag_sets = [0, CF, ZF | PF, SF | OF | AF, CF | ZF | SF | OF | PF | AF];
    s.rflags = 0x202 | flag_sets[k % flag_sets.len()];
    // MXCSR: default, the three other rounding modes, FTZ+DAZ (all exceptions masked).
    let mxcsr = [0x1f80, 0x3f80, 0x5f80, 0x7f80, 0x9fc0, 0x1f80, 0x1f80];
    s.mxcsr = mxcsr[k % mxcsr.len()];
    for j in 0..16 {
        s.xmm[j] = fp_lane(k, j, rng);
    }
    // The memory operand: 16 special bytes, then scratch for wider forms (fxsave, m80).
    let m = fp_lane(k + 1, 7, rng).to_le_bytes();
    s.mem[MEM_OFF..MEM_OFF + 16].copy_from_slice(&m);
    // Two f64 values at rsi for the x87 prologue.
    // (No signalling NaN: loading one would test `fld m64fp` in every x87 form.)
    let quiet = |i: usize| match F64_EDGES[i % F64_EDGES.len()] {
        0x7ff4_0000_0000_0001 => 0x7ff8_0000_0000_0001u64,
        v => v,
    };
    let a = quiet(k).to_le_bytes();
    let b = quiet(k * 3 + 5).to_le_bytes();
    s.mem[0x100..0x108].copy_from_slice(&a);
    s.mem[0x108..0x110].copy_from_slice(&b);
    // The x87 control word at rsi+24: all exceptions masked, the four rounding modes, then the
    // 64-, 53- and 24-bit precisions.
    let cw = 0x7f | ([3u16, 2, 0][k / 4 % 3] << 8) | ((k % 4) as u16) << 10;
    s.mem[0x118..0x11a].copy_from_slice(&cw.to_le_bytes());
    s
}

/// The register-file index of a GPR operand.
fn gpr_index(r: R) -> usize {
    r.full_register().number()
}

/// Makes division forms not fault natively: retries the divisor and dividend until the
/// quotient fits. Returns false if no valid input was found.
pub(super) fn fix_divide(code: Code, ops: &[Op], s: &mut State) -> bool {
    let signed = match code.mnemonic() {
        M::Div => false,
        M::Idiv => true,
        _ => return true,
    };
    let size = code.op_code().memory_size().size().max(match ops[0] {
        Op::Reg(r) => r.size(),
        _ => 0,
    }) as u32;
    let bits = size * 8;
    let mask = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    for attempt in 0..4 {
        let d = match ops[0] {
            Op::Reg(r) if r.size() == 1 => s.gpr[gpr_index(r)] & 0xff,
            Op::Reg(r) => s.gpr[gpr_index(r)] & mask,
            _ => u64::from_le_bytes(s.mem[MEM_OFF..MEM_OFF + 8].try_into().unwrap()) & mask,
        };
        let (hi, lo) = if bits == 8 {
            ((s.gpr[0] >> 8) & 0xff, s.gpr[0] & 0xff)
        } else {
            (s.gpr[2] & mask, s.gpr[0] & mask)
        };
        if divides(bits, signed, hi, lo, d) {
            return true;
        }
        match attempt {
            0 => set_hi(s, bits, 0),
            1 => {
                set_hi(s, bits, 0);
                s.gpr[0] &= !(mask & !(mask >> 1));
            }
            _ => {
                set_hi(s, bits, 0);
                s.gpr[0] = 7;
                set_divisor(ops[0], s, 3);
            }
        }
    }
    false
}

fn set_hi(s: &mut State, bits: u32, v: u64) {
    if bits == 8 {
        s.gpr[0] = (s.gpr[0] & !0xff00) | (v & 0xff) << 8;
    } else {
        s.gpr[2] = v;
    }
}

fn set_divisor(op: Op, s: &mut State, v: u64) {
    match op {
        Op::Reg(r) => s.gpr[gpr_index(r)] = v,
        _ => s.mem[MEM_OFF..MEM_OFF + 8].copy_from_slice(&v.to_le_bytes()),
    }
}

fn divides(bits: u32, signed: bool, hi: u64, lo: u64, d: u64) -> bool {
    if d == 0 {
        return false;
    }
    let sh = 128 - 2 * bits;
    let n = (hi as u128) << bits | lo as u128;
    if signed {
        let n = ((n << sh) as i128) >> sh;
        let d = ((d as i128) << (128 - bits)) >> (128 - bits);
        let q = n.checked_div(d);
        let lim = 1i128 << (bits - 1);
        matches!(q, Some(q) if q >= -lim && q < lim)
    } else {
        n / (d as u128) < 1u128 << bits
    }
}

/// `xlatb` reads `[rbx+al]`: points rbx into the data area.
pub(super) fn fix_xlat(code: Code, s: &mut State) {
    if code.mnemonic() == M::Xlatb {
        s.gpr[3] = DATA + 0x1000;
    }
}

/// `enter` frames larger than the 32 KiB stack fault natively; keeps the size below 512.
pub(super) fn fix_enter(code: Code, ops: &mut [Op]) {
    if code.mnemonic() == M::Enter
        && let Some(Op::Imm(_, v)) = ops.first_mut()
    {
        *v &= 0x1ff;
    }
}

/// `bt*` with a memory destination and a register bit offset address up to 2^60 bytes away;
/// keeps the offset within ±512 bits of the operand.
pub(super) fn fix_bit_offset(code: Code, ops: &[Op], s: &mut State) {
    if matches!(code.mnemonic(), M::Bt | M::Bts | M::Btr | M::Btc)
        && let [Op::Mem, Op::Reg(r)] = ops
    {
        let g = &mut s.gpr[gpr_index(*r)];
        *g = (*g & 0x3ff).wrapping_sub(0x200);
    }
}

/// `fbld` of digits above 9 is undefined: reduces every digit of the memory operand mod 10
/// (the sign byte's ignored low bits stay random).
pub(super) fn fix_bcd(code: Code, s: &mut State) {
    if code.mnemonic() == M::Fbld {
        for b in &mut s.mem[MEM_OFF..MEM_OFF + 9] {
            *b = (((*b >> 4) % 10) << 4) | ((*b & 15) % 10);
        }
    }
}

/// st(0) for the x87 transcendentals, from each one's domain (plus zeros, infinities, a NaN
/// and, for the trigonometric forms, the out-of-range 2^63), and for fbstp (halfway cases,
/// 18-digit limits, -0): written to `[rsi+16]` and loaded instead of `fldpi`. True when the
/// form has one.
pub(super) fn x87_top(code: Code, k: usize, s: &mut State) -> bool {
    const TRIG: [f64; 16] = [
        core::f64::consts::PI,
        1.0,
        -0.5,
        0.785,
        2.5,
        -100.0,
        1e10,
        4.611_686_018_427_388e18,
        9.223_372_036_854_776e18,
        0.0,
        -0.0,
        f64::INFINITY,
        f64::NAN,
        1e-20,
        3.0,
        -7.0,
    ];
    const EXP: [f64; 16] = [
        0.5,
        -0.5,
        1.0,
        -1.0,
        0.0,
        -0.0,
        1e-10,
        0.3,
        -0.9,
        1e-300,
        0.123,
        -1e-5,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        0.999,
    ];
    const LOG1P: [f64; 12] = [
        0.1,
        -0.2,
        0.28,
        -0.28,
        0.0,
        -0.0,
        1e-18,
        -1e-5,
        1e-300,
        f64::NAN,
        0.01,
        -0.001,
    ];
    const ANY: [f64; 16] = [
        core::f64::consts::PI,
        1.0,
        0.5,
        2.0,
        1e100,
        0.0,
        -0.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        -1.0,
        f64::NAN,
        3e-310,
        1e-5,
        10.0,
        0.999,
        -2.5,
    ];
    const BCD: [f64; 16] = [
        3.25,
        -2.5,
        1e17,
        -1.234_567_890_123_456_7e17,
        1e18,
        9.999_999_999_999_998e17,
        0.5,
        -0.5,
        1.5,
        -0.0,
        0.0,
        f64::NAN,
        f64::INFINITY,
        -1e300,
        123_456_789.75,
        -0.4,
    ];
    let list: &[f64] = match code.mnemonic() {
        M::Fsin | M::Fcos | M::Fsincos | M::Fptan => &TRIG,
        M::F2xm1 => &EXP,
        M::Fyl2xp1 => &LOG1P,
        M::Fpatan | M::Fyl2x => &ANY,
        M::Fbstp => &BCD,
        _ => return false,
    };
    let v = list[k % list.len()];
    s.mem[0x110..0x118].copy_from_slice(&v.to_bits().to_le_bytes());
    true
}

/// Forms that load control state from memory: every exception stays masked (an unmasked one
/// would trap natively), MXCSR's reserved bits stay clear (else #GP), the x87 precision field
/// is not the reserved 01, and loaded x87 registers are well-formed extended values (the
/// integer bit set exactly when the exponent is non-zero).
pub(super) fn fix_control_state(code: Code, s: &mut State) {
    let cw = |s: &mut State, off: usize| {
        let v = u16::from_le_bytes([s.mem[off], s.mem[off + 1]]) | 0x3f;
        let v = if (v >> 8) & 3 == 1 { v | 0x300 } else { v };
        s.mem[off..off + 2].copy_from_slice(&v.to_le_bytes());
    };
    let regs = |s: &mut State, at: usize, stride: usize| {
        for i in 0..8 {
            let r = at + i * stride;
            let exp = u16::from_le_bytes([s.mem[r + 8], s.mem[r + 9]]) & 0x7fff;
            let top = &mut s.mem[r + 7];
            *top = if exp == 0 { *top & 0x7f } else { *top | 0x80 };
        }
    };
    match code.mnemonic() {
        M::Ldmxcsr => {
            let v = u32::from_le_bytes(s.mem[MEM_OFF..MEM_OFF + 4].try_into().unwrap());
            let v = (v & 0xffff) | 0x1f80;
            s.mem[MEM_OFF..MEM_OFF + 4].copy_from_slice(&v.to_le_bytes());
        }
        M::Fldcw | M::Fldenv => cw(s, MEM_OFF),
        M::Frstor => {
            cw(s, MEM_OFF);
            let env = code.op_code().memory_size().size() - 80;
            regs(s, MEM_OFF + env, 10);
        }
        M::Fxrstor | M::Fxrstor64 => {
            cw(s, MEM_OFF);
            let v = u32::from_le_bytes(s.mem[MEM_OFF + 24..MEM_OFF + 28].try_into().unwrap());
            let v = (v & 0xffff) | 0x1f80;
            s.mem[MEM_OFF + 24..MEM_OFF + 28].copy_from_slice(&v.to_le_bytes());
            regs(s, MEM_OFF + 32, 16);
        }
        _ => {}
    }
}

/// popf of a random image: TF would trap after the next instruction and AC would make the
/// host's own misaligned accesses fault once the snippet returns, so both are cleared.
pub(super) fn fix_popf(code: Code, s: &mut State) {
    if matches!(code.mnemonic(), M::Popf | M::Popfq) {
        let at = (STACK_TOP - DATA) as usize;
        s.mem[at + 1] &= !0x01;
        s.mem[at + 2] &= !0x04;
    }
}

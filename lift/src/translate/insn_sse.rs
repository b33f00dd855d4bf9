//! Inline lowering of the SSE instructions whose Wasm SIMD128 (or scalar) counterpart has
//! exactly the x86 semantics: moves, bitwise logic, integer lane arithmetic and compares,
//! `pmovmskb`, shuffles by constant, byte shifts. XMM registers stay in the CPU state (the
//! interpreter and helpers share them); each access is a load or store at `cpu + XMM + 16 * i`.
//! Floating-point arithmetic is not here: MXCSR rounding and sticky exception flags have no
//! Wasm counterpart, so it goes to the helper.

use iced_x86::{Instruction, Mnemonic as M, OpKind, Register};
use libc_shim::cpu::offset;
use wasm_encoder::{Instruction as I, MemArg};

use super::emit::{A0, CPU, Fx, T0, gpr_index};

const TR: u32 = T0 + 2;

fn xmm_index(r: Register) -> Option<u32> {
    r.is_xmm().then(|| r as u32 - Register::XMM0 as u32)
}

fn cpu_arg(off: u64, align: u32) -> MemArg {
    MemArg {
        offset: off,
        align,
        memory_index: 0,
    }
}

/// Whether every operand is an XMM register, a general register, memory or an immediate.
fn sse_operands(ins: &Instruction) -> bool {
    (0..ins.op_count()).all(|i| match ins.op_kind(i) {
        OpKind::Register => {
            let r = ins.op_register(i);
            xmm_index(r).is_some() || gpr_index(r).is_some()
        }
        OpKind::Memory => {
            let ok =
                |r: Register| r == Register::None || r == Register::RIP || gpr_index(r).is_some();
            ok(ins.memory_base()) && ok(ins.memory_index())
        }
        OpKind::Immediate8 => true,
        _ => false,
    })
}

impl Fx<'_> {
    fn xmm_off(i: u32) -> u64 {
        (offset::XMM + 16 * i as usize) as u64
    }

    /// Pushes operand `i` as a v128 (an XMM register or 16 bytes of memory).
    pub(super) fn read_v128(&mut self, ins: &Instruction, i: u32) {
        match ins.op_kind(i) {
            OpKind::Register => {
                let x = xmm_index(ins.op_register(i)).expect("an XMM register");
                self.i(I::LocalGet(CPU))
                    .i(I::V128Load(cpu_arg(Self::xmm_off(x), 4)));
            }
            _ => {
                let gb = u64::from(self.link.guest_base);
                self.i(I::LocalGet(A0)).i(I::V128Load(cpu_arg(gb, 0)));
            }
        }
    }

    /// Stores the v128 in local... (the value must be pushed by `value`) to operand `i`.
    pub(super) fn write_v128(&mut self, ins: &Instruction, i: u32, value: &dyn Fn(&mut Self)) {
        match ins.op_kind(i) {
            OpKind::Register => {
                let x = xmm_index(ins.op_register(i)).expect("an XMM register");
                self.i(I::LocalGet(CPU));
                value(self);
                self.i(I::V128Store(cpu_arg(Self::xmm_off(x), 4)));
            }
            _ => {
                let gb = u64::from(self.link.guest_base);
                self.i(I::LocalGet(A0));
                value(self);
                self.i(I::V128Store(cpu_arg(gb, 0)));
            }
        }
    }

    /// Stores the i64 `value` pushes into the low lane of XMM `x`, zeroing the high lane if
    /// `zero_high`; `size` 4 or 8 bytes (a 4-byte write with `zero_high` zeroes bytes 4..16).
    fn xmm_set_low(&mut self, x: u32, size: u32, zero_high: bool, value: &dyn Fn(&mut Self)) {
        let off = Self::xmm_off(x);
        self.i(I::LocalGet(CPU));
        value(self);
        if size == 8 || zero_high {
            if size == 4 {
                self.mask(4);
            }
            self.i(I::I64Store(cpu_arg(off, 3)));
        } else {
            self.i(I::I64Store32(cpu_arg(off, 2)));
        }
        if zero_high {
            self.i(I::LocalGet(CPU))
                .i(I::I64Const(0))
                .i(I::I64Store(cpu_arg(off + 8, 3)));
        }
    }

    /// Pushes the low `size` bytes of XMM `x`, zero-extended.
    fn xmm_get_low(&mut self, x: u32, size: u32) {
        let off = Self::xmm_off(x);
        self.i(I::LocalGet(CPU));
        self.i(if size == 8 {
            I::I64Load(cpu_arg(off, 3))
        } else {
            I::I64Load32U(cpu_arg(off, 2))
        });
    }

    /// A two-operand SIMD op `dst = op(dst, src)`.
    fn binop(&mut self, ins: &Instruction, op: I<'static>, swap: bool) {
        self.write_v128(ins, 0, &|fx: &mut Self| {
            if swap {
                fx.read_v128(ins, 1);
                fx.read_v128(ins, 0);
            } else {
                fx.read_v128(ins, 0);
                fx.read_v128(ins, 1);
            }
            fx.i(op.clone());
        });
    }

    pub(super) fn lower_sse(&mut self, ins: &Instruction) -> bool {
        if !sse_operands(ins) || ins.has_segment_prefix() {
            return false;
        }
        let x0 = (ins.op_count() > 0 && ins.op_kind(0) == OpKind::Register)
            .then(|| xmm_index(ins.op_register(0)))
            .flatten();
        let x1 = (ins.op_count() > 1 && ins.op_kind(1) == OpKind::Register)
            .then(|| xmm_index(ins.op_register(1)))
            .flatten();
        let is_mem = |i: u32| ins.op_count() > i && ins.op_kind(i) == OpKind::Memory;
        let m = ins.mnemonic();
        // Only legacy (non-VEX) encodings: cpuid does not advertise AVX.
        if ins.encoding() != iced_x86::EncodingKind::Legacy {
            return false;
        }
        self.ea_prepare(ins);
        match m {
            M::Movdqa | M::Movdqu | M::Movaps | M::Movups | M::Movapd | M::Movupd | M::Lddqu => {
                self.write_v128(ins, 0, &|fx: &mut Self| fx.read_v128(ins, 1));
            }
            M::Movq | M::Movd => {
                let size = if m == M::Movq { 8 } else { 4 };
                match (x0, x1) {
                    // xmm <- gpr/mem/xmm: the rest of the register is zeroed.
                    (Some(d), src) => self.xmm_set_low(d, size, true, &|fx: &mut Self| match src {
                        Some(s) => fx.xmm_get_low(s, size),
                        None => fx.read(ins, 1, size),
                    }),
                    (None, Some(s)) => {
                        self.xmm_get_low(s, size);
                        self.i(I::LocalSet(TR));
                        self.write(ins, 0, size, TR);
                    }
                    _ => return false,
                }
            }
            M::Movsd | M::Movss if ins.op_count() == 2 => {
                let size = if m == M::Movsd { 8 } else { 4 };
                match (x0, x1) {
                    (Some(d), Some(s)) => {
                        self.xmm_set_low(d, size, false, &|fx: &mut Self| fx.xmm_get_low(s, size))
                    }
                    (Some(d), None) if is_mem(1) => {
                        self.xmm_set_low(d, size, true, &|fx: &mut Self| fx.read(ins, 1, size))
                    }
                    (None, Some(s)) if is_mem(0) => {
                        self.xmm_get_low(s, size);
                        self.i(I::LocalSet(TR));
                        self.write(ins, 0, size, TR);
                    }
                    _ => return false,
                }
            }
            // Half loads and stores: the other half of the register is kept.
            M::Movlpd | M::Movlps | M::Movhpd | M::Movhps if is_mem(0) || is_mem(1) => {
                let high = matches!(m, M::Movhpd | M::Movhps);
                let gb = u64::from(self.link.guest_base);
                let half = if high { 8 } else { 0 };
                if let Some(d) = x0 {
                    let off = Self::xmm_off(d) + half;
                    self.i(I::LocalGet(CPU));
                    self.i(I::LocalGet(A0)).i(I::I64Load(cpu_arg(gb, 0)));
                    self.i(I::I64Store(cpu_arg(off, 3)));
                } else if let Some(s) = x1 {
                    let off = Self::xmm_off(s) + half;
                    self.i(I::LocalGet(A0));
                    self.i(I::LocalGet(CPU)).i(I::I64Load(cpu_arg(off, 3)));
                    self.i(I::I64Store(cpu_arg(gb, 0)));
                } else {
                    return false;
                }
            }
            M::Pxor | M::Xorps | M::Xorpd if x0.is_some() && x0 == x1 => {
                self.write_v128(ins, 0, &|fx: &mut Self| {
                    fx.i(I::V128Const(0));
                });
            }
            M::Pxor | M::Xorps | M::Xorpd => self.binop(ins, I::V128Xor, false),
            M::Por | M::Orps | M::Orpd => self.binop(ins, I::V128Or, false),
            M::Pand | M::Andps | M::Andpd => self.binop(ins, I::V128And, false),
            // dst = !dst & src = andnot(src, dst)
            M::Pandn | M::Andnps | M::Andnpd => self.binop(ins, I::V128AndNot, true),
            M::Paddb => self.binop(ins, I::I8x16Add, false),
            M::Paddw => self.binop(ins, I::I16x8Add, false),
            M::Paddd => self.binop(ins, I::I32x4Add, false),
            M::Paddq => self.binop(ins, I::I64x2Add, false),
            M::Psubb => self.binop(ins, I::I8x16Sub, false),
            M::Psubw => self.binop(ins, I::I16x8Sub, false),
            M::Psubd => self.binop(ins, I::I32x4Sub, false),
            M::Psubq => self.binop(ins, I::I64x2Sub, false),
            M::Pcmpeqb => self.binop(ins, I::I8x16Eq, false),
            M::Pcmpeqw => self.binop(ins, I::I16x8Eq, false),
            M::Pcmpeqd => self.binop(ins, I::I32x4Eq, false),
            M::Pcmpgtb => self.binop(ins, I::I8x16GtS, false),
            M::Pcmpgtw => self.binop(ins, I::I16x8GtS, false),
            M::Pcmpgtd => self.binop(ins, I::I32x4GtS, false),
            M::Pminub => self.binop(ins, I::I8x16MinU, false),
            M::Pmaxub => self.binop(ins, I::I8x16MaxU, false),
            M::Pminsw => self.binop(ins, I::I16x8MinS, false),
            M::Pmaxsw => self.binop(ins, I::I16x8MaxS, false),
            M::Pavgb => self.binop(ins, I::I8x16AvgrU, false),
            M::Pmullw => self.binop(ins, I::I16x8Mul, false),
            M::Pmovmskb if x1.is_some() && x0.is_none() => {
                self.read_v128(ins, 1);
                self.i(I::I8x16Bitmask)
                    .i(I::I64ExtendI32U)
                    .i(I::LocalSet(TR));
                let r = ins.op_register(0);
                self.i(I::LocalGet(TR));
                self.set_reg(r);
            }
            M::Pshufd => {
                let imm = ins.immediate8();
                let mut lanes = [0u8; 16];
                for (d, lane) in lanes.iter_mut().enumerate() {
                    let sel = (imm >> (2 * (d / 4))) & 3;
                    *lane = sel * 4 + (d % 4) as u8;
                }
                self.write_v128(ins, 0, &|fx: &mut Self| {
                    fx.read_v128(ins, 1);
                    fx.read_v128(ins, 1);
                    fx.i(I::I8x16Shuffle(lanes));
                });
            }
            M::Punpcklbw
            | M::Punpcklwd
            | M::Punpckldq
            | M::Punpcklqdq
            | M::Punpckhbw
            | M::Punpckhwd
            | M::Punpckhdq
            | M::Punpckhqdq
            | M::Unpcklpd
            | M::Unpckhpd
            | M::Unpcklps
            | M::Unpckhps => {
                let (w, high) = match m {
                    M::Unpcklpd => (8, false),
                    M::Unpckhpd => (8, true),
                    M::Unpcklps => (4, false),
                    M::Unpckhps => (4, true),
                    M::Punpcklbw => (1, false),
                    M::Punpcklwd => (2, false),
                    M::Punpckldq => (4, false),
                    M::Punpcklqdq => (8, false),
                    M::Punpckhbw => (1, true),
                    M::Punpckhwd => (2, true),
                    M::Punpckhdq => (4, true),
                    _ => (8, true),
                };
                // Interleave elements of dst (lanes 0..16) and src (16..32).
                let base = if high { 8 } else { 0 };
                let mut lanes = [0u8; 16];
                for (d, lane) in lanes.iter_mut().enumerate() {
                    let elem = d / w;
                    let byte = d % w;
                    let from_src = elem % 2 == 1;
                    let idx = base + (elem / 2) * w + byte;
                    *lane = (idx + if from_src { 16 } else { 0 }) as u8;
                }
                self.write_v128(ins, 0, &|fx: &mut Self| {
                    fx.read_v128(ins, 0);
                    fx.read_v128(ins, 1);
                    fx.i(I::I8x16Shuffle(lanes));
                });
            }
            M::Pslldq | M::Psrldq => {
                let n = u32::from(ins.immediate8()).min(16) as usize;
                let mut lanes = [0u8; 16];
                for (d, lane) in lanes.iter_mut().enumerate() {
                    // Lanes 16.. come from the zero vector.
                    *lane = if m == M::Pslldq {
                        if d >= n { (d - n) as u8 } else { 16 }
                    } else if d + n < 16 {
                        (d + n) as u8
                    } else {
                        16
                    };
                }
                self.write_v128(ins, 0, &|fx: &mut Self| {
                    fx.read_v128(ins, 0);
                    fx.i(I::V128Const(0));
                    fx.i(I::I8x16Shuffle(lanes));
                });
            }
            _ => return false,
        }
        true
    }
}

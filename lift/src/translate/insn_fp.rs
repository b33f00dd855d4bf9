//! Scalar SSE floating point (`addsd`, `mulss`, `sqrtsd`, `maxsd`, ...) with a fast path that
//! is exact, and the interpreter's helper for everything else.
//!
//! Wasm arithmetic rounds to nearest like x86 but has no MXCSR: no other rounding modes, no
//! DAZ/FTZ and no sticky exception flags. The fast path therefore runs only when that cannot
//! matter: MXCSR is the default (all exceptions masked, round to nearest, no DAZ/FTZ), the
//! inexact flag is already set (the first inexact operation of a program sets it, and programs
//! rarely clear it) or the result is provably exact, and operands and result are ordinary: inputs zero or normal and finite,
//! the result normal and finite (or an exact zero of an addition). Such an operation can raise
//! no flag but inexact, which is already set. Anything else (NaN, infinity, denormals, tiny or
//! overflowing results, other modes, clear inexact flag) re-runs the instruction in the helper,
//! which produces the x86 result, NaN bits and flags.

use iced_x86::{Instruction, Mnemonic as M, OpKind, Register};
use libc_shim::cpu::offset;
use wasm_encoder::{Instruction as I, MemArg};

use super::emit::{A0, CPU, Fx};
use super::flags::State;

/// MXCSR with every exception masked, round to nearest, no DAZ/FTZ (flag bits aside), and PE
/// (inexact) set.
const FAST_MXCSR: i32 = 0x1fa0;

fn arg(offset: u64, align: u32) -> MemArg {
    MemArg {
        offset,
        align,
        memory_index: 0,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Sqrt,
    Min,
    Max,
}

impl Fx<'_> {
    /// Pushes operand `i` (XMM low lane or memory) as f64 or f32.
    fn fp_read(&mut self, ins: &Instruction, i: u32, double: bool) {
        match ins.op_kind(i) {
            OpKind::Register => {
                let x = ins.op_register(i) as u32 - Register::XMM0 as u32;
                let off = (offset::XMM + 16 * x as usize) as u64;
                self.i(I::LocalGet(CPU));
                self.i(if double {
                    I::F64Load(arg(off, 3))
                } else {
                    I::F32Load(arg(off, 2))
                });
            }
            _ => {
                let gb = u64::from(self.link.guest_base);
                self.i(I::LocalGet(A0));
                self.i(if double {
                    I::F64Load(arg(gb, 0))
                } else {
                    I::F32Load(arg(gb, 0))
                });
            }
        }
    }

    /// Pushes whether the float in `local` is zero or a finite normal number.
    fn fp_ordinary(&mut self, local: u32, double: bool, allow_zero: bool) {
        // |x| as bits: below the smallest normal (but not zero) or at/above infinity fails.
        let (min_normal, inf) = if double {
            (
                f64::MIN_POSITIVE.to_bits() as i64,
                f64::INFINITY.to_bits() as i64,
            )
        } else {
            (
                i64::from(f32::MIN_POSITIVE.to_bits()),
                i64::from(f32::INFINITY.to_bits()),
            )
        };
        self.i(I::LocalGet(local));
        if double {
            self.i(I::F64Abs).i(I::I64ReinterpretF64);
        } else {
            self.i(I::F32Abs)
                .i(I::I32ReinterpretF32)
                .i(I::I64ExtendI32U);
        }
        let bits = super::emit::T0 + 5;
        self.i(I::LocalTee(bits));
        self.i(I::I64Const(min_normal)).i(I::I64Sub);
        self.i(I::I64Const(inf - min_normal)).i(I::I64LtU);
        if allow_zero {
            self.i(I::LocalGet(bits)).i(I::I64Eqz).i(I::I32Or);
        }
    }

    /// Pushes whether the float in `local` is zero, normal or infinite (not NaN, not denormal).
    fn fp_not_nan_or_denormal(&mut self, local: u32, double: bool) {
        self.fp_ordinary(local, double, true);
        self.i(I::LocalGet(local));
        if double {
            self.i(I::F64Abs)
                .i(I::F64Const(f64::INFINITY.into()))
                .i(I::F64Eq);
        } else {
            self.i(I::F32Abs)
                .i(I::F32Const(f32::INFINITY.into()))
                .i(I::F32Eq);
        }
        self.i(I::I32Or);
    }

    /// `ucomisd`/`comisd` (and `ss`): without NaN or denormal operands no MXCSR flag changes
    /// and ZF/CF come from the ordered compare (PF/OF/SF/AF clear).
    fn lower_fcmp(&mut self, ins: &Instruction, double: bool, st: &mut State) {
        let (a, b) = if double {
            (super::emit::FP0, super::emit::FP0 + 1)
        } else {
            (super::emit::FP0 + 3, super::emit::FP0 + 4)
        };
        self.ea_prepare(ins);
        self.fp_read(ins, 0, double);
        self.i(I::LocalSet(a));
        self.fp_read(ins, 1, double);
        self.i(I::LocalSet(b));
        self.fp_not_nan_or_denormal(a, double);
        self.fp_not_nan_or_denormal(b, double);
        self.i(I::I32And);
        self.if_();
        let (lt, eq) = if double {
            (I::F64Lt, I::F64Eq)
        } else {
            (I::F32Lt, I::F32Eq)
        };
        self.i(I::LocalGet(super::emit::F_STORED))
            .i(I::I64Const(!libc_shim::interp::lazy::ARITH as i64))
            .i(I::I64And);
        self.i(I::LocalGet(a))
            .i(I::LocalGet(b))
            .i(lt)
            .i(I::I64ExtendI32U)
            .i(I::I64Or);
        self.i(I::LocalGet(a))
            .i(I::LocalGet(b))
            .i(eq)
            .i(I::I64ExtendI32U)
            .i(I::I64Const(6))
            .i(I::I64Shl)
            .i(I::I64Or)
            .i(I::LocalSet(super::emit::F_STORED));
        self.i(I::Else);
        let mut scratch = *st;
        self.helper(ins, &mut scratch);
        // Into the same form: all six flags stored.
        self.rflags();
        self.i(I::I64Const(libc_shim::interp::lazy::ARITH as i64))
            .i(I::I64And)
            .i(I::LocalGet(super::emit::F_STORED))
            .i(I::I64Const(!libc_shim::interp::lazy::ARITH as i64))
            .i(I::I64And)
            .i(I::I64Or)
            .i(I::LocalSet(super::emit::F_STORED));
        self.end();
        self.i(I::I32Const(libc_shim::interp::lazy::STORED as i32))
            .i(I::LocalSet(super::emit::F_OP));
        *st = State::Stored;
    }

    /// `cvtsi2sd` from a 32-bit integer (always exact) or a 64-bit one (default rounding, and
    /// the inexact flag already set or the conversion exact), and `cvttsd2si`
    /// (truncation) when the value is in range and MXCSR already has the inexact flag.
    fn lower_fcvt(&mut self, ins: &Instruction, st: &mut State) -> bool {
        let m = ins.mnemonic();
        if m == M::Cvtsi2sd && ins.op_kind(0) == OpKind::Register {
            let src = if ins.op_kind(1) == OpKind::Register {
                ins.op_register(1).size()
            } else {
                ins.memory_size().size()
            };
            let x = ins.op_register(0) as u32 - Register::XMM0 as u32;
            let off = (offset::XMM + 16 * x as usize) as u64;
            if src == 4 {
                self.ea_prepare(ins);
                self.i(I::LocalGet(CPU));
                self.read(ins, 1, 4);
                self.i(I::I32WrapI64).i(I::F64ConvertI32S);
                self.i(I::F64Store(arg(off, 3)));
                return true;
            }
            // From 64 bits the conversion may round: inline with the default rounding mode when
            // the inexact flag is already set or the value converts back exactly.
            let (v, r) = (super::emit::T0, super::emit::FP0);
            self.ea_prepare(ins);
            self.read(ins, 1, 8);
            self.i(I::LocalTee(v))
                .i(I::F64ConvertI64S)
                .i(I::LocalSet(r));
            self.i(I::LocalGet(CPU))
                .i(I::I32Load(arg(offset::MXCSR as u64, 2)))
                .i(I::LocalTee(super::emit::A0 + 1))
                .i(I::I32Const(!0x3f))
                .i(I::I32And)
                .i(I::I32Const(FAST_MXCSR & !0x3f))
                .i(I::I32Eq);
            self.i(I::LocalGet(super::emit::A0 + 1))
                .i(I::I32Const(0x20))
                .i(I::I32And);
            self.i(I::LocalGet(r))
                .i(I::I64TruncSatF64S)
                .i(I::LocalGet(v))
                .i(I::I64Eq)
                .i(I::I32Or)
                .i(I::I32And);
            self.if_();
            self.i(I::LocalGet(CPU)).i(I::LocalGet(r));
            self.i(I::F64Store(arg(off, 3)));
            self.i(I::Else);
            let mut scratch = *st;
            self.helper(ins, &mut scratch);
            self.end();
            return true;
        }
        if m == M::Cvttsd2si && ins.op_kind(0) == OpKind::Register {
            let size = ins.op_register(0).size() as u32;
            let a = super::emit::FP0;
            self.ea_prepare(ins);
            self.fp_read(ins, 1, true);
            self.i(I::LocalSet(a));
            let (lo, hi) = if size == 8 {
                (
                    -9_223_372_036_854_775_808.0f64,
                    9_223_372_036_854_775_808.0f64,
                )
            } else {
                (-2_147_483_649.0f64, 2_147_483_648.0f64)
            };
            // In range (which excludes NaN), and MXCSR's inexact flag already set.
            self.i(I::LocalGet(a)).i(I::F64Const(lo.into())).i(I::F64Gt);
            self.i(I::LocalGet(a))
                .i(I::F64Const(hi.into()))
                .i(I::F64Lt)
                .i(I::I32And);
            self.i(I::LocalGet(CPU))
                .i(I::I32Load(arg(offset::MXCSR as u64, 2)))
                .i(I::I32Const(5))
                .i(I::I32ShrU)
                .i(I::I32Const(1))
                .i(I::I32And)
                .i(I::I32And);
            self.if_();
            self.i(I::LocalGet(a)).i(I::I64TruncF64S);
            self.set_reg(ins.op_register(0));
            self.i(I::Else);
            let mut scratch = *st;
            self.helper(ins, &mut scratch);
            self.end();
            return true;
        }
        false
    }

    /// Pushes the number of trailing zero bits of the significand of the float in `local`
    /// (with the implicit bit, so at most 52 or 23): the significand has `53 - n` (`24 - n`)
    /// significant bits.
    fn fp_sig_tz(&mut self, local: u32, double: bool) {
        self.i(I::LocalGet(local));
        if double {
            self.i(I::I64ReinterpretF64)
                .i(I::I64Const((1i64 << 52) - 1))
                .i(I::I64And)
                .i(I::I64Const(1i64 << 52))
                .i(I::I64Or)
                .i(I::I64Ctz)
                .i(I::I32WrapI64);
        } else {
            self.i(I::I32ReinterpretF32)
                .i(I::I32Const((1 << 23) - 1))
                .i(I::I32And)
                .i(I::I32Const(1 << 23))
                .i(I::I32Or)
                .i(I::I32Ctz);
        }
    }

    /// Pushes whether `r = op(a, b)` was exact, conservatively (false may be exact): sums by
    /// the TwoSum error term; products, quotients and roots when the significant bits fit.
    fn fp_exact(&mut self, op: Op, double: bool, a: u32, b: u32, r: u32) {
        let bits = if double { 53 } else { 24 };
        let (add, sub, mul, eq, neg) = if double {
            (I::F64Add, I::F64Sub, I::F64Mul, I::F64Eq, I::F64Neg)
        } else {
            (I::F32Add, I::F32Sub, I::F32Mul, I::F32Eq, I::F32Neg)
        };
        match op {
            Op::Min | Op::Max => {
                self.i(I::I32Const(1));
            }
            Op::Add | Op::Sub => {
                // TwoSum: bb = r - a; err = (a - (r - bb)) + (b' - bb); exact iff err == 0.
                let b_term = |fx: &mut Self| {
                    fx.i(I::LocalGet(b));
                    if op == Op::Sub {
                        fx.i(neg.clone());
                    }
                };
                self.i(I::LocalGet(a));
                self.i(I::LocalGet(r));
                self.i(I::LocalGet(r)).i(I::LocalGet(a)).i(sub.clone());
                self.i(sub.clone());
                self.i(sub.clone());
                b_term(self);
                self.i(I::LocalGet(r)).i(I::LocalGet(a)).i(sub.clone());
                self.i(sub.clone());
                self.i(add);
                if double {
                    self.i(I::F64Const(0.0f64.into()));
                } else {
                    self.i(I::F32Const(0.0f32.into()));
                }
                self.i(eq.clone());
            }
            Op::Mul => {
                self.fp_sig_tz(a, double);
                self.fp_sig_tz(b, double);
                self.i(I::I32Add).i(I::I32Const(bits)).i(I::I32GeU);
            }
            Op::Div => {
                // r * b == a exactly (the product fits) means the quotient was exact.
                self.fp_sig_tz(r, double);
                self.fp_sig_tz(b, double);
                self.i(I::I32Add).i(I::I32Const(bits)).i(I::I32GeU);
                self.i(I::LocalGet(r)).i(I::LocalGet(b)).i(mul.clone());
                self.i(I::LocalGet(a)).i(eq.clone()).i(I::I32And);
            }
            Op::Sqrt => {
                self.fp_sig_tz(r, double);
                self.i(I::I32Const(1))
                    .i(I::I32Shl)
                    .i(I::I32Const(bits))
                    .i(I::I32GeU);
                self.i(I::LocalGet(r)).i(I::LocalGet(r)).i(mul);
                self.i(I::LocalGet(b)).i(eq).i(I::I32And);
            }
        }
    }

    /// `addpd`/`subpd`/`mulpd`/`divpd`: on the fast path when MXCSR is the default with the
    /// inexact flag set and every lane's operands and result are ordinary.
    fn lower_fp_packed(&mut self, ins: &Instruction, st: &mut State) -> bool {
        use super::emit::V0;
        let op = match ins.mnemonic() {
            M::Addpd => I::F64x2Add,
            M::Subpd => I::F64x2Sub,
            M::Mulpd => I::F64x2Mul,
            M::Divpd => I::F64x2Div,
            _ => return false,
        };
        if ins.op_count() != 2 || ins.op_kind(0) != OpKind::Register {
            return false;
        }
        let sum = matches!(ins.mnemonic(), M::Addpd | M::Subpd);
        let (va, vb, vr) = (V0, V0 + 1, V0 + 2);
        let f = super::emit::FP0;
        self.ea_prepare(ins);
        self.read_v128(ins, 0);
        self.i(I::LocalSet(va));
        self.read_v128(ins, 1);
        self.i(I::LocalSet(vb));
        self.i(I::LocalGet(va)).i(I::LocalGet(vb)).i(op);
        self.i(I::LocalSet(vr));
        self.i(I::LocalGet(CPU))
            .i(I::I32Load(arg(offset::MXCSR as u64, 2)))
            .i(I::I32Const(!0x1f))
            .i(I::I32And)
            .i(I::I32Const(FAST_MXCSR))
            .i(I::I32Eq);
        for lane in 0..2u8 {
            for (v, zero) in [(va, true), (vb, true), (vr, sum)] {
                self.i(I::LocalGet(v)).i(I::F64x2ExtractLane(lane));
                self.i(I::LocalSet(f));
                self.fp_ordinary(f, true, zero);
                self.i(I::I32And);
            }
        }
        self.if_();
        self.write_v128(ins, 0, &|fx: &mut Self| {
            fx.i(I::LocalGet(vr));
        });
        self.i(I::Else);
        let mut scratch = *st;
        self.helper(ins, &mut scratch);
        self.end();
        true
    }

    pub(super) fn lower_fp(&mut self, ins: &Instruction, st: &mut State) -> bool {
        if self.lower_fp_packed(ins, st) {
            return true;
        }
        match ins.mnemonic() {
            M::Ucomisd | M::Comisd if ins.op_kind(0) == OpKind::Register => {
                self.lower_fcmp(ins, true, st);
                return true;
            }
            M::Ucomiss | M::Comiss if ins.op_kind(0) == OpKind::Register => {
                self.lower_fcmp(ins, false, st);
                return true;
            }
            M::Cvtsi2sd | M::Cvttsd2si => return self.lower_fcvt(ins, st),
            _ => {}
        }
        let (op, double) = match ins.mnemonic() {
            M::Addsd => (Op::Add, true),
            M::Subsd => (Op::Sub, true),
            M::Mulsd => (Op::Mul, true),
            M::Divsd => (Op::Div, true),
            M::Sqrtsd => (Op::Sqrt, true),
            M::Minsd => (Op::Min, true),
            M::Maxsd => (Op::Max, true),
            M::Addss => (Op::Add, false),
            M::Subss => (Op::Sub, false),
            M::Mulss => (Op::Mul, false),
            M::Divss => (Op::Div, false),
            M::Sqrtss => (Op::Sqrt, false),
            M::Minss => (Op::Min, false),
            M::Maxss => (Op::Max, false),
            _ => return false,
        };
        if ins.op_count() != 2 || ins.op_kind(0) != OpKind::Register {
            return false;
        }
        // f64/f32 scratch locals live after the integer ones.
        let (a, b, r) = (super::emit::FP0, super::emit::FP0 + 1, super::emit::FP0 + 2);
        let (a, b, r) = if double {
            (a, b, r)
        } else {
            (a + 3, b + 3, r + 3)
        };
        self.ea_prepare(ins);
        self.fp_read(ins, 0, double);
        self.i(I::LocalSet(a));
        self.fp_read(ins, 1, double);
        self.i(I::LocalSet(b));
        let (add, sub, mul, div, sqrt, lt, gt) = if double {
            (
                I::F64Add,
                I::F64Sub,
                I::F64Mul,
                I::F64Div,
                I::F64Sqrt,
                I::F64Lt,
                I::F64Gt,
            )
        } else {
            (
                I::F32Add,
                I::F32Sub,
                I::F32Mul,
                I::F32Div,
                I::F32Sqrt,
                I::F32Lt,
                I::F32Gt,
            )
        };
        match op {
            Op::Sqrt => {
                self.i(I::LocalGet(b)).i(sqrt);
            }
            // x86 min/max: the first operand if it compares less (greater), else the second
            // (so NaNs and equal zeros give the second; NaNs go to the helper anyway).
            Op::Min | Op::Max => {
                self.i(I::LocalGet(a)).i(I::LocalGet(b));
                self.i(I::LocalGet(a)).i(I::LocalGet(b));
                self.i(if op == Op::Min { lt } else { gt });
                self.i(I::Select);
            }
            _ => {
                self.i(I::LocalGet(a)).i(I::LocalGet(b));
                self.i(match op {
                    Op::Add => add,
                    Op::Sub => sub,
                    Op::Mul => mul,
                    _ => div,
                });
            }
        }
        self.i(I::LocalSet(r));
        // The fast-path condition: default modes, the inexact flag already set (the common
        // case, tested first so that exactness is computed only without it) or the result
        // exact, ordinary operands and result.
        let mxcsr = super::emit::A0 + 1;
        self.i(I::LocalGet(CPU))
            .i(I::I32Load(arg(offset::MXCSR as u64, 2)))
            .i(I::LocalTee(mxcsr))
            .i(I::I32Const(!0x1f))
            .i(I::I32And)
            .i(I::I32Const(FAST_MXCSR))
            .i(I::I32Eq);
        self.if_i32();
        self.i(I::I32Const(1));
        self.i(I::Else);
        self.i(I::LocalGet(mxcsr))
            .i(I::I32Const(!0x3f))
            .i(I::I32And)
            .i(I::I32Const(FAST_MXCSR & !0x3f))
            .i(I::I32Eq);
        self.fp_exact(op, double, a, b, r);
        self.i(I::I32And);
        self.end();
        if op != Op::Sqrt {
            self.fp_ordinary(a, double, true);
            self.i(I::I32And);
        }
        self.fp_ordinary(b, double, true);
        self.i(I::I32And);
        self.fp_ordinary(
            r,
            double,
            matches!(op, Op::Add | Op::Sub | Op::Min | Op::Max),
        );
        self.i(I::I32And);
        self.if_();
        let x = ins.op_register(0) as u32 - Register::XMM0 as u32;
        let off = (offset::XMM + 16 * x as usize) as u64;
        self.i(I::LocalGet(CPU)).i(I::LocalGet(r));
        self.i(if double {
            I::F64Store(arg(off, 3))
        } else {
            I::F32Store(arg(off, 2))
        });
        self.i(I::Else);
        let mut scratch = *st;
        self.helper(ins, &mut scratch);
        self.end();
        true
    }
}

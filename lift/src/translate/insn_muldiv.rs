//! One-operand `mul`/`imul` (rdx:rax = rax * src) and `div`/`idiv` of 32 and 64 bits inline.
//!
//! Wasm has no widening multiply, so the high half of a 64-bit product is built from four
//! 32 x 32 -> 64-bit partial products (the signed high half then subtracts each operand where
//! the other is negative). Flags follow the interpreter: CF = OF = "the high half is
//! significant", SF/ZF/PF from the low half, AF clear.
//!
//! Division is inline only where Wasm's `div`/`rem` give x86's quotient and remainder and
//! cannot trap: a non-zero divisor and a quotient that fits (for 64 bits: rdx the zero or sign
//! extension of rax; for 32 bits the 64-bit dividend edx:eax and a range check on the
//! quotient). Everything else, the divide error included, runs in the helper. Flags are left
//! unchanged, as the interpreter leaves them.

use iced_x86::{Instruction, Mnemonic as M, Register};
use wasm_encoder::Instruction as I;

use super::emit::{Fx, T0};
use super::flags::State;

const A: u32 = T0;
const B: u32 = T0 + 1;
const LO: u32 = T0 + 2;
const HI: u32 = T0 + 3;
const MID: u32 = T0 + 4;

impl Fx<'_> {
    /// Lowers one-operand `mul`/`imul`/`div`/`idiv` of 4 or 8 bytes; false for anything else.
    pub(super) fn lower_muldiv(&mut self, ins: &Instruction, st: &mut State, size: u32) -> bool {
        let m = ins.mnemonic();
        if ins.op_count() != 1 || !(size == 4 || size == 8) {
            return false;
        }
        match m {
            M::Mul | M::Imul => {
                self.ea_prepare(ins);
                self.read(ins, 0, size);
                self.i(I::LocalSet(B));
                self.get_reg(if size == 8 {
                    Register::RAX
                } else {
                    Register::EAX
                });
                self.i(I::LocalSet(A));
                let signed = m == M::Imul;
                if size == 8 {
                    self.mul_high64(signed);
                } else {
                    self.mul32(signed);
                }
                // CF = OF = the high half is significant.
                let wide = move |fx: &mut Self| {
                    fx.i(I::LocalGet(HI));
                    if signed {
                        fx.i(I::LocalGet(LO));
                        fx.sext(size);
                        fx.i(I::I64Const(i64::from(size * 8 - 1))).i(I::I64ShrS);
                        fx.mask(size);
                        fx.i(I::I64Ne);
                    } else {
                        fx.i(I::I64Const(0)).i(I::I64Ne);
                    }
                    fx.i(I::I64ExtendI32U);
                };
                *st = self.produce_res(size, LO, &wide, &wide);
                let (lo, hi) = if size == 8 {
                    (Register::RAX, Register::RDX)
                } else {
                    (Register::EAX, Register::EDX)
                };
                self.i(I::LocalGet(LO));
                self.set_reg(lo);
                self.i(I::LocalGet(HI));
                self.set_reg(hi);
                true
            }
            M::Div | M::Idiv => {
                self.lower_div(ins, st, size, m == M::Idiv);
                true
            }
            _ => false,
        }
    }

    /// LO, HI = the 32-bit product of A and B (zero-extended in the locals).
    fn mul32(&mut self, signed: bool) {
        let ext = |fx: &mut Self, l: u32| {
            fx.i(I::LocalGet(l));
            if signed {
                fx.i(I::I64Extend32S);
            }
        };
        ext(self, A);
        ext(self, B);
        self.i(I::I64Mul).i(I::LocalTee(MID));
        self.mask(4);
        self.i(I::LocalSet(LO));
        self.i(I::LocalGet(MID)).i(I::I64Const(32)).i(I::I64ShrU);
        self.mask(4);
        self.i(I::LocalSet(HI));
    }

    /// LO, HI = the 128-bit product of A and B.
    fn mul_high64(&mut self, signed: bool) {
        let lo32 = |fx: &mut Self, l: u32| {
            fx.i(I::LocalGet(l))
                .i(I::I64Const(0xffff_ffff))
                .i(I::I64And);
        };
        let hi32 = |fx: &mut Self, l: u32| {
            fx.i(I::LocalGet(l)).i(I::I64Const(32)).i(I::I64ShrU);
        };
        // MID = (aL*bL >> 32) + lo32(aL*bH) + lo32(aH*bL); HI gathers the rest.
        lo32(self, A);
        lo32(self, B);
        self.i(I::I64Mul).i(I::I64Const(32)).i(I::I64ShrU);
        self.i(I::LocalSet(MID));
        // aL*bH
        lo32(self, A);
        hi32(self, B);
        self.i(I::I64Mul).i(I::LocalTee(LO));
        self.i(I::I64Const(32)).i(I::I64ShrU).i(I::LocalSet(HI));
        self.i(I::LocalGet(MID)).i(I::LocalGet(LO));
        self.i(I::I64Const(0xffff_ffff)).i(I::I64And).i(I::I64Add);
        self.i(I::LocalSet(MID));
        // aH*bL
        hi32(self, A);
        lo32(self, B);
        self.i(I::I64Mul).i(I::LocalTee(LO));
        self.i(I::I64Const(32))
            .i(I::I64ShrU)
            .i(I::LocalGet(HI))
            .i(I::I64Add)
            .i(I::LocalSet(HI));
        self.i(I::LocalGet(MID)).i(I::LocalGet(LO));
        self.i(I::I64Const(0xffff_ffff)).i(I::I64And).i(I::I64Add);
        self.i(I::LocalSet(MID));
        // HI += aH*bH + (MID >> 32)
        hi32(self, A);
        hi32(self, B);
        self.i(I::I64Mul)
            .i(I::LocalGet(HI))
            .i(I::I64Add)
            .i(I::LocalGet(MID))
            .i(I::I64Const(32))
            .i(I::I64ShrU)
            .i(I::I64Add)
            .i(I::LocalSet(HI));
        if signed {
            // hi_s = hi_u - (a < 0 ? b : 0) - (b < 0 ? a : 0)
            for (x, y) in [(A, B), (B, A)] {
                self.i(I::LocalGet(HI));
                self.i(I::LocalGet(y)).i(I::I64Const(0));
                self.i(I::LocalGet(x)).i(I::I64Const(0)).i(I::I64LtS);
                self.i(I::Select).i(I::I64Sub).i(I::LocalSet(HI));
            }
        }
        self.i(I::LocalGet(A))
            .i(I::LocalGet(B))
            .i(I::I64Mul)
            .i(I::LocalSet(LO));
    }

    fn lower_div(&mut self, ins: &Instruction, st: &mut State, size: u32, signed: bool) {
        self.ea_prepare(ins);
        self.read(ins, 0, size);
        if signed {
            self.sext(size);
        }
        self.i(I::LocalSet(B));
        // A = the dividend when it fits in 64 bits; the condition on the stack.
        if size == 8 {
            self.get_reg(Register::RAX);
            self.i(I::LocalSet(A));
            self.get_reg(Register::RDX);
            if signed {
                self.i(I::LocalGet(A)).i(I::I64Const(63)).i(I::I64ShrS);
            } else {
                self.i(I::I64Const(0));
            }
            self.i(I::I64Eq);
        } else {
            self.get_reg(Register::EDX);
            self.i(I::I64Const(32)).i(I::I64Shl);
            self.get_reg(Register::EAX);
            self.i(I::I64Or).i(I::LocalSet(A));
            self.i(I::I32Const(1));
        }
        self.i(I::LocalGet(B))
            .i(I::I64Const(0))
            .i(I::I64Ne)
            .i(I::I32And);
        if signed {
            // Not i64::MIN / -1 (Wasm traps; x86 raises the divide error).
            self.i(I::LocalGet(A))
                .i(I::I64Const(i64::MIN))
                .i(I::I64Ne)
                .i(I::LocalGet(B))
                .i(I::I64Const(-1))
                .i(I::I64Ne)
                .i(I::I32Or)
                .i(I::I32And);
        }
        self.if_();
        let ok = super::emit::A0 + 1;
        let (div, rem) = if signed {
            (I::I64DivS, I::I64RemS)
        } else {
            (I::I64DivU, I::I64RemU)
        };
        self.i(I::LocalGet(A)).i(I::LocalGet(B)).i(div);
        self.i(I::LocalSet(LO));
        self.i(I::LocalGet(A)).i(I::LocalGet(B)).i(rem);
        self.i(I::LocalSet(HI));
        // A 32-bit quotient must fit in 32 bits.
        if size == 4 {
            self.i(I::LocalGet(LO));
            if signed {
                self.i(I::LocalGet(LO)).i(I::I64Extend32S).i(I::I64Eq);
            } else {
                self.i(I::I64Const(32)).i(I::I64ShrU).i(I::I64Eqz);
            }
        } else {
            self.i(I::I32Const(1));
        }
        self.i(I::LocalSet(ok));
        self.i(I::Else);
        self.i(I::I32Const(0)).i(I::LocalSet(ok));
        self.end();
        self.i(I::LocalGet(ok));
        self.if_();
        let (q, r) = if size == 8 {
            (Register::RAX, Register::RDX)
        } else {
            (Register::EAX, Register::EDX)
        };
        self.i(I::LocalGet(LO));
        self.set_reg(q);
        self.i(I::LocalGet(HI));
        self.set_reg(r);
        self.i(I::Else);
        let mut scratch = *st;
        self.helper(ins, &mut scratch);
        self.end();
    }
}

//! Arithmetic flags in lifted code: producers record the interpreter's lazy form
//! (`libc_shim::interp::lazy`) in locals, only when a later instruction or a way out may read it;
//! consumers in the same block as their producer evaluate the condition straight from the
//! operands (`cmp a, b; jl` is one `i64.lt_s`), others ask the runtime for RFLAGS.

use iced_x86::ConditionCode as Cc;
use libc_shim::interp::lazy;
use wasm_encoder::Instruction as I;

use super::emit::{CPU, F_A, F_B, F_OP, F_RES, F_SIZE, F_STORED, Fx, T0};

/// What the translator knows about the flags at a point of a block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Only the locals know (block entry, after a helper).
    Unknown,
    /// The last producer in this block: its lazy kind and operand size; `F_A`, `F_B`, `F_RES`
    /// hold its operands and result.
    Known { op: u32, size: u32 },
    /// A logic operation: CF = OF = 0, the rest from `F_RES`.
    Logic { size: u32 },
    /// All six flags are in `F_STORED` (kind `STORED`), e.g. after a float compare.
    Stored,
}

impl Fx<'_> {
    /// Records a lazy `op` whose operands and result are in locals `a`, `b`, `r` (zero-extended to
    /// `size`), with `carry` (an i32-pushing closure) as the carry-in or preserved CF.
    pub fn produce(
        &mut self,
        op: u32,
        size: u32,
        a: u32,
        b: u32,
        r: u32,
        carry: Option<&dyn Fn(&mut Self)>,
    ) -> State {
        self.i(I::LocalGet(a)).i(I::LocalSet(F_A));
        self.i(I::LocalGet(b)).i(I::LocalSet(F_B));
        self.i(I::LocalGet(r)).i(I::LocalSet(F_RES));
        self.i(I::I32Const(op as i32)).i(I::LocalSet(F_OP));
        self.i(I::I32Const(size as i32)).i(I::LocalSet(F_SIZE));
        self.i(I::LocalGet(F_STORED))
            .i(I::I64Const(!lazy::ARITH as i64))
            .i(I::I64And);
        if let Some(c) = carry {
            c(self);
            self.i(I::I64ExtendI32U).i(I::I64Or);
        }
        self.i(I::LocalSet(F_STORED));
        State::Known { op, size }
    }

    /// Records a logic result in local `r`.
    pub fn produce_logic(&mut self, size: u32, r: u32) -> State {
        self.i(I::LocalGet(r)).i(I::LocalSet(F_RES));
        self.i(I::I32Const(lazy::RES as i32)).i(I::LocalSet(F_OP));
        self.i(I::I32Const(size as i32)).i(I::LocalSet(F_SIZE));
        self.i(I::LocalGet(F_STORED))
            .i(I::I64Const(!lazy::ARITH as i64))
            .i(I::I64And)
            .i(I::LocalSet(F_STORED));
        State::Logic { size }
    }

    fn sign_of(&mut self, local: u32, size: u32) {
        self.i(I::LocalGet(local))
            .i(I::I64Const(i64::from(size * 8 - 1)))
            .i(I::I64ShrU)
            .i(I::I64Const(1))
            .i(I::I64And)
            .i(I::I32WrapI64);
    }

    /// Pushes OF of an addition or subtraction: the sign of `(F_A ^ x) & (y ^ F_RES)`, which for
    /// `r = a + b` is `(a ^ r) & (b ^ r)` (x = y = F_RES, swapped operands) and for `r = a - b` is
    /// `(a ^ b) & (a ^ r)` (x = F_B, y = F_A).
    fn overflow(&mut self, size: u32, x: u32, y: u32) {
        let t = T0 + 4;
        self.i(I::LocalGet(F_A)).i(I::LocalGet(x)).i(I::I64Xor);
        if x == F_RES && y == F_RES {
            self.i(I::LocalGet(F_B)).i(I::LocalGet(F_RES)).i(I::I64Xor);
        } else {
            self.i(I::LocalGet(y)).i(I::LocalGet(F_RES)).i(I::I64Xor);
        }
        self.i(I::I64And).i(I::LocalSet(t));
        self.sign_of(t, size);
    }

    fn zero_of(&mut self, local: u32) {
        self.i(I::LocalGet(local)).i(I::I64Eqz);
    }

    fn signed_cmp(&mut self, size: u32, op: I<'static>) {
        self.i(I::LocalGet(F_A));
        self.sext(size);
        self.i(I::LocalGet(F_B));
        self.sext(size);
        self.i(op);
    }

    /// Pushes the i32 truth of condition `cc`.
    pub fn cond(&mut self, st: State, cc: Cc) {
        let negated = matches!(
            cc,
            Cc::no | Cc::ae | Cc::ne | Cc::a | Cc::ns | Cc::np | Cc::ge | Cc::g
        );
        let base = match cc {
            Cc::no => Cc::o,
            Cc::ae => Cc::b,
            Cc::ne => Cc::e,
            Cc::a => Cc::be,
            Cc::ns => Cc::s,
            Cc::np => Cc::p,
            Cc::ge => Cc::l,
            Cc::g => Cc::le,
            c => c,
        };
        if !self.cond_fused(st, base) {
            if st == State::Unknown && base != Cc::p {
                self.cond_dynamic(base);
            } else {
                self.cond_generic(base);
            }
        }
        if negated {
            self.i(I::I32Eqz);
        }
    }

    /// The fused forms; false if `st` has none for `cc` (nothing pushed then).
    fn cond_fused(&mut self, st: State, cc: Cc) -> bool {
        match st {
            State::Known { op, size } if op == lazy::SUB => match cc {
                Cc::e => {
                    self.i(I::LocalGet(F_A)).i(I::LocalGet(F_B)).i(I::I64Eq);
                }
                Cc::b => {
                    self.i(I::LocalGet(F_A)).i(I::LocalGet(F_B)).i(I::I64LtU);
                }
                Cc::be => {
                    self.i(I::LocalGet(F_A)).i(I::LocalGet(F_B)).i(I::I64LeU);
                }
                Cc::l => self.signed_cmp(size, I::I64LtS),
                Cc::le => self.signed_cmp(size, I::I64LeS),
                Cc::s => self.sign_of(F_RES, size),
                Cc::o => self.overflow(size, F_B, F_A),
                _ => return false,
            },
            State::Known { op, size } if op == lazy::ADD => match cc {
                Cc::e => self.zero_of(F_RES),
                Cc::s => self.sign_of(F_RES, size),
                Cc::b => {
                    self.i(I::LocalGet(F_RES)).i(I::LocalGet(F_A)).i(I::I64LtU);
                }
                Cc::o => self.overflow(size, F_RES, F_RES),
                Cc::l | Cc::le => {
                    self.sign_of(F_RES, size);
                    self.overflow(size, F_RES, F_RES);
                    self.i(I::I32Xor);
                    if cc == Cc::le {
                        self.zero_of(F_RES);
                        self.i(I::I32Or);
                    }
                }
                _ => return false,
            },
            State::Known { op, size } if op == lazy::INC || op == lazy::DEC => match cc {
                Cc::e => self.zero_of(F_RES),
                Cc::s => self.sign_of(F_RES, size),
                Cc::o | Cc::l | Cc::le => {
                    // OF: the result is the signed minimum (inc) or maximum (dec).
                    let min = 1u64 << (size * 8 - 1);
                    let of = if op == lazy::INC { min } else { min - 1 };
                    if cc == Cc::o {
                        self.i(I::LocalGet(F_RES))
                            .i(I::I64Const(of as i64))
                            .i(I::I64Eq);
                    } else {
                        self.sign_of(F_RES, size);
                        self.i(I::LocalGet(F_RES))
                            .i(I::I64Const(of as i64))
                            .i(I::I64Eq);
                        self.i(I::I32Xor);
                        if cc == Cc::le {
                            self.zero_of(F_RES);
                            self.i(I::I32Or);
                        }
                    }
                }
                _ => return false,
            },
            State::Logic { size } => match cc {
                Cc::e | Cc::be => self.zero_of(F_RES),
                Cc::s | Cc::l => self.sign_of(F_RES, size),
                Cc::o | Cc::b => {
                    self.i(I::I32Const(0));
                }
                Cc::le => {
                    self.zero_of(F_RES);
                    self.sign_of(F_RES, size);
                    self.i(I::I32Or);
                }
                _ => return false,
            },
            State::Stored => {
                let v = super::emit::F_STORED;
                self.cond_bits(v, cc);
            }
            _ => return false,
        }
        true
    }

    /// `cc` when the producer is known only at run time (block entry, after a helper): a compare
    /// (`SUB`) or a result-only kind (`RES`: logic, multiply, ...) is evaluated inline from the
    /// lazy locals, with the operand size from `F_SIZE`; any other kind asks the runtime.
    fn cond_dynamic(&mut self, cc: Cc) {
        // Shifting a value zero-extended from `F_SIZE` bytes left by 64 - 8 * F_SIZE puts its
        // sign bit at bit 63.
        let sh = T0 + 4;
        self.i(I::I64Const(64))
            .i(I::LocalGet(F_SIZE))
            .i(I::I64ExtendI32U)
            .i(I::I64Const(3))
            .i(I::I64Shl)
            .i(I::I64Sub)
            .i(I::LocalSet(sh));
        let top = |fx: &mut Self, l: u32| {
            fx.i(I::LocalGet(l)).i(I::LocalGet(sh)).i(I::I64Shl);
        };
        let sign = |fx: &mut Self| {
            top(fx, F_RES);
            fx.i(I::I64Const(0)).i(I::I64LtS);
        };
        let stored_bit = |fx: &mut Self, n: i64| {
            fx.i(I::LocalGet(F_STORED))
                .i(I::I64Const(n))
                .i(I::I64ShrU)
                .i(I::I64Const(1))
                .i(I::I64And)
                .i(I::I32WrapI64);
        };
        self.i(I::LocalGet(F_OP))
            .i(I::I32Const(lazy::SUB as i32))
            .i(I::I32Eq);
        self.if_i32();
        match cc {
            Cc::e => {
                self.i(I::LocalGet(F_A)).i(I::LocalGet(F_B)).i(I::I64Eq);
            }
            Cc::b => {
                self.i(I::LocalGet(F_A)).i(I::LocalGet(F_B)).i(I::I64LtU);
            }
            Cc::be => {
                self.i(I::LocalGet(F_A)).i(I::LocalGet(F_B)).i(I::I64LeU);
            }
            Cc::s => sign(self),
            Cc::l | Cc::le => {
                top(self, F_A);
                top(self, F_B);
                self.i(if cc == Cc::l { I::I64LtS } else { I::I64LeS });
            }
            _ => self.cond_generic(cc),
        }
        self.i(I::Else);
        self.i(I::LocalGet(F_OP))
            .i(I::I32Const(lazy::RES as i32))
            .i(I::I32Eq);
        self.if_i32();
        let zero = |fx: &mut Self| {
            fx.i(I::LocalGet(F_RES)).i(I::I64Eqz);
        };
        match cc {
            Cc::e => zero(self),
            Cc::s => sign(self),
            Cc::b => stored_bit(self, 0),
            Cc::o => stored_bit(self, 11),
            Cc::be => {
                stored_bit(self, 0);
                zero(self);
                self.i(I::I32Or);
            }
            Cc::l | Cc::le => {
                sign(self);
                stored_bit(self, 11);
                self.i(I::I32Xor);
                if cc == Cc::le {
                    zero(self);
                    self.i(I::I32Or);
                }
            }
            _ => self.cond_generic(cc),
        }
        self.i(I::Else);
        self.cond_generic(cc);
        self.end();
        self.end();
    }

    /// Stores the lazy flags and evaluates RFLAGS in the runtime.
    pub fn rflags(&mut self) {
        self.store_flags();
        let f = self.link.rflags_func;
        self.i(I::LocalGet(CPU)).i(I::Call(f));
    }

    fn cond_generic(&mut self, cc: Cc) {
        let v = T0 + 4;
        self.rflags();
        self.i(I::LocalSet(v));
        self.cond_bits(v, cc);
    }

    /// Evaluates `cc` (not negated) on the RFLAGS bits in local `v`.
    fn cond_bits(&mut self, v: u32, cc: Cc) {
        let bit = |fx: &mut Self, n: i64| {
            fx.i(I::LocalGet(v))
                .i(I::I64Const(n))
                .i(I::I64ShrU)
                .i(I::I64Const(1))
                .i(I::I64And)
                .i(I::I32WrapI64);
        };
        let (cf, pf, zf, sf, of) = (0, 2, 6, 7, 11);
        match cc {
            Cc::o => bit(self, of),
            Cc::b => bit(self, cf),
            Cc::e => bit(self, zf),
            Cc::be => {
                bit(self, cf);
                bit(self, zf);
                self.i(I::I32Or);
            }
            Cc::s => bit(self, sf),
            Cc::p => bit(self, pf),
            Cc::l => {
                bit(self, sf);
                bit(self, of);
                self.i(I::I32Xor);
            }
            Cc::le => {
                bit(self, sf);
                bit(self, of);
                self.i(I::I32Xor);
                bit(self, zf);
                self.i(I::I32Or);
            }
            _ => unreachable!("negated conditions are reduced before"),
        }
    }
}

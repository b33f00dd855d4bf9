//! Inline lowering of shifts with live flags, rotates, bit scans and counts, carries (`adc`,
//! `sbb`) and the read-modify-write exchanges (`xchg`, `xadd`, `cmpxchg`). Lifted code is
//! single-threaded, so `lock` needs nothing beyond doing the operation.

use iced_x86::{ConditionCode, Instruction, Mnemonic as M, OpKind};
use libc_shim::interp::lazy;
use wasm_encoder::Instruction as I;

use super::emit::{Fx, T0};
use super::flags::State;
use super::insn::At;

const TA: u32 = T0;
const TB: u32 = T0 + 1;
const TR: u32 = T0 + 2;
const TC: u32 = T0 + 3;

impl Fx<'_> {
    /// Records RES flags: ZF/SF/PF from `r`, CF and OF (i64 0/1 pushed by the closures) stored.
    pub(super) fn produce_res(
        &mut self,
        size: u32,
        r: u32,
        cf: &dyn Fn(&mut Self),
        of: &dyn Fn(&mut Self),
    ) -> State {
        self.i(I::LocalGet(r)).i(I::LocalSet(super::emit::F_RES));
        self.i(I::I32Const(lazy::RES as i32))
            .i(I::LocalSet(super::emit::F_OP));
        self.i(I::I32Const(size as i32))
            .i(I::LocalSet(super::emit::F_SIZE));
        self.i(I::LocalGet(super::emit::F_STORED))
            .i(I::I64Const(!lazy::ARITH as i64))
            .i(I::I64And);
        cf(self);
        self.i(I::I64Or);
        of(self);
        self.i(I::I64Const(11)).i(I::I64Shl).i(I::I64Or);
        self.i(I::LocalSet(super::emit::F_STORED));
        State::Known {
            op: lazy::RES,
            size,
        }
    }

    /// Pushes bit `n` (a constant) of local `l` as i64 0/1.
    fn bit_of(&mut self, l: u32, n: u32) {
        self.i(I::LocalGet(l))
            .i(I::I64Const(i64::from(n)))
            .i(I::I64ShrU)
            .i(I::I64Const(1))
            .i(I::I64And);
    }

    pub(super) fn lower_bits(
        &mut self,
        ins: &Instruction,
        at: &At,
        st: &mut State,
        size: u32,
    ) -> bool {
        let live = at.live_after & super::cfg::ARITH != 0;
        let m = ins.mnemonic();
        let bits = size * 8;
        match m {
            // Shifts by a constant count that is not zero after masking and below the width.
            M::Shl | M::Shr | M::Sar
                if ins.op_count() == 2 && ins.op_kind(1) != OpKind::Register =>
            {
                let mask = if size == 8 { 63 } else { 31 };
                let c = (ins.immediate(1) as u32) & mask;
                if c == 0 || c >= bits {
                    return false;
                }
                self.ea_prepare(ins);
                self.read(ins, 0, size);
                self.i(I::LocalSet(TA));
                self.i(I::LocalGet(TA));
                if m == M::Sar {
                    self.sext(size);
                }
                self.i(I::I64Const(i64::from(c)));
                self.i(match m {
                    M::Shl => I::I64Shl,
                    M::Shr => I::I64ShrU,
                    _ => I::I64ShrS,
                });
                self.mask(size);
                self.i(I::LocalSet(TR));
                self.write(ins, 0, size, TR);
                if live {
                    let cf_bit = if m == M::Shl { bits - c } else { c - 1 };
                    *st = self.produce_res(
                        size,
                        TR,
                        &|fx: &mut Self| fx.bit_of(TA, cf_bit),
                        &|fx: &mut Self| match m {
                            // OF = MSB(result) ^ CF (defined for a count of 1).
                            M::Shl => {
                                fx.bit_of(TR, bits - 1);
                                fx.bit_of(TA, bits - c);
                                fx.i(I::I64Xor);
                            }
                            M::Shr => fx.bit_of(TA, bits - 1),
                            _ => {
                                fx.i(I::I64Const(0));
                            }
                        },
                    );
                }
            }
            M::Rol | M::Ror if !live && size == 4 => {
                self.ea_prepare(ins);
                self.read(ins, 0, 4);
                self.i(I::I32WrapI64);
                self.read(ins, 1, 1);
                self.i(I::I32WrapI64);
                self.i(if m == M::Rol { I::I32Rotl } else { I::I32Rotr });
                self.i(I::I64ExtendI32U).i(I::LocalSet(TR));
                self.write(ins, 0, 4, TR);
            }
            M::Tzcnt | M::Lzcnt | M::Popcnt if !live && size >= 4 => {
                self.ea_prepare(ins);
                self.read(ins, 1, size);
                if size == 4 {
                    self.i(I::I32WrapI64);
                    self.i(match m {
                        M::Tzcnt => I::I32Ctz,
                        M::Lzcnt => I::I32Clz,
                        _ => I::I32Popcnt,
                    });
                    self.i(I::I64ExtendI32U);
                } else {
                    self.i(match m {
                        M::Tzcnt => I::I64Ctz,
                        M::Lzcnt => I::I64Clz,
                        _ => I::I64Popcnt,
                    });
                }
                self.i(I::LocalSet(TR));
                self.write(ins, 0, size, TR);
            }
            // bswap: swap adjacent bytes, then 16-bit pairs (each 32-bit half is now reversed),
            // then for 64 bits the halves (a rotate).
            M::Bswap if size >= 4 => {
                let r = ins.op_register(0);
                self.get_reg(r);
                self.i(I::LocalSet(TA));
                let swap = |fx: &mut Self, mask: i64, n: i64| {
                    fx.i(I::LocalGet(TA))
                        .i(I::I64Const(mask))
                        .i(I::I64And)
                        .i(I::I64Const(n))
                        .i(I::I64Shl)
                        .i(I::LocalGet(TA))
                        .i(I::I64Const(n))
                        .i(I::I64ShrU)
                        .i(I::I64Const(mask))
                        .i(I::I64And)
                        .i(I::I64Or)
                        .i(I::LocalSet(TA));
                };
                swap(self, 0x00ff_00ff_00ff_00ff, 8);
                swap(self, 0x0000_ffff_0000_ffff, 16);
                self.i(I::LocalGet(TA));
                if size == 8 {
                    self.i(I::I64Const(32)).i(I::I64Rotl);
                }
                // For 32 bits the low half is already reversed; the write zero-extends.
                self.set_reg(r);
            }
            // bsf/bsr: a zero source leaves the destination as it was.
            M::Bsf | M::Bsr if !live && size >= 4 => {
                self.ea_prepare(ins);
                self.read(ins, 1, size);
                self.i(I::LocalSet(TB));
                if m == M::Bsf {
                    self.i(I::LocalGet(TB)).i(I::I64Ctz);
                } else {
                    self.i(I::I64Const(63))
                        .i(I::LocalGet(TB))
                        .i(I::I64Clz)
                        .i(I::I64Sub);
                }
                self.read(ins, 0, size);
                self.i(I::LocalGet(TB))
                    .i(I::I64Eqz)
                    .i(I::I32Eqz)
                    .i(I::Select);
                self.i(I::LocalSet(TR));
                self.write(ins, 0, size, TR);
            }
            M::Adc | M::Sbb if size >= 4 => {
                self.ea_prepare(ins);
                self.read_operands(ins, size);
                self.cond(*st, ConditionCode::b);
                self.i(I::I64ExtendI32U).i(I::LocalSet(TC));
                self.i(I::LocalGet(TA)).i(I::LocalGet(TB));
                self.i(if m == M::Adc { I::I64Add } else { I::I64Sub });
                self.i(I::LocalGet(TC));
                self.i(if m == M::Adc { I::I64Add } else { I::I64Sub });
                self.mask(size);
                self.i(I::LocalSet(TR));
                self.write(ins, 0, size, TR);
                if live {
                    let op = if m == M::Adc { lazy::ADC } else { lazy::SBB };
                    *st = self.produce(
                        op,
                        size,
                        TA,
                        TB,
                        TR,
                        Some(&|fx: &mut Self| {
                            fx.i(I::LocalGet(TC)).i(I::I32WrapI64);
                        }),
                    );
                }
            }
            M::Xchg => {
                // A register with memory (or the same register twice).
                self.ea_prepare(ins);
                self.read_operands(ins, size);
                self.write(ins, 0, size, TB);
                self.write(ins, 1, size, TA);
            }
            M::Xadd => {
                self.ea_prepare(ins);
                self.read_operands(ins, size);
                self.i(I::LocalGet(TA)).i(I::LocalGet(TB)).i(I::I64Add);
                self.mask(size);
                self.i(I::LocalSet(TR));
                self.write(ins, 1, size, TA);
                self.write(ins, 0, size, TR);
                if live {
                    *st = self.produce(lazy::ADD, size, TA, TB, TR, None);
                }
            }
            M::Cmpxchg if size >= 4 => {
                // Compare the accumulator with the destination: equal -> store the source,
                // else load the destination into the accumulator (only then is it written).
                let acc = if size == 8 {
                    iced_x86::Register::RAX
                } else {
                    iced_x86::Register::EAX
                };
                self.ea_prepare(ins);
                self.get_reg(acc);
                self.i(I::LocalSet(TA));
                self.read(ins, 0, size);
                self.i(I::LocalSet(TB));
                self.i(I::LocalGet(TA)).i(I::LocalGet(TB)).i(I::I64Sub);
                self.mask(size);
                self.i(I::LocalSet(TR));
                self.i(I::LocalGet(TA)).i(I::LocalGet(TB)).i(I::I64Eq);
                self.if_();
                self.read(ins, 1, size);
                self.i(I::LocalSet(TC));
                self.write(ins, 0, size, TC);
                self.i(I::Else);
                self.i(I::LocalGet(TB));
                self.set_reg(acc);
                self.end();
                if live {
                    *st = self.produce(lazy::SUB, size, TA, TB, TR, None);
                }
            }
            // Bit tests with a constant bit number: CF = the bit, ZF kept, the rest undefined
            // (kept as well); the flags end up stored.
            M::Bt | M::Bts | M::Btr | M::Btc
                if ins.op_kind(1) == OpKind::Immediate8 && size >= 2 =>
            {
                let n = u32::from(ins.immediate8()) & (bits - 1);
                self.ea_prepare(ins);
                self.read(ins, 0, size);
                self.i(I::LocalSet(TA));
                if m != M::Bt {
                    self.i(I::LocalGet(TA)).i(I::I64Const(1i64 << n));
                    match m {
                        M::Bts => self.i(I::I64Or),
                        M::Btr => self.i(I::I64Const(-1)).i(I::I64Xor).i(I::I64And),
                        _ => self.i(I::I64Xor),
                    };
                    self.i(I::LocalSet(TR));
                    self.write(ins, 0, size, TR);
                }
                if live {
                    // ZF from the state before, CF from the bit.
                    self.cond(*st, ConditionCode::e);
                    self.i(I::I64ExtendI32U).i(I::LocalSet(TC));
                    self.rflags_keep_stored();
                    self.bit_of(TA, n);
                    self.i(I::I64Or);
                    self.i(I::LocalGet(TC))
                        .i(I::I64Const(6))
                        .i(I::I64Shl)
                        .i(I::I64Or);
                    self.i(I::LocalSet(super::emit::F_STORED));
                    self.i(I::I32Const(lazy::STORED as i32))
                        .i(I::LocalSet(super::emit::F_OP));
                    *st = State::Stored;
                }
            }
            _ => return false,
        }
        true
    }

    /// Pushes `F_STORED` without the arithmetic flags.
    fn rflags_keep_stored(&mut self) {
        self.i(I::LocalGet(super::emit::F_STORED))
            .i(I::I64Const(!lazy::ARITH as i64))
            .i(I::I64And);
    }
}

//! Lazy arithmetic flags: the last flag-setting operation is recorded in [`LazyFlags`] (kind,
//! operand size, operands, result) and CF/PF/AF/ZF/SF/OF are computed only when read.
//!
//! Kinds (`LazyFlags::op`):
//! - `STORED`: all six arithmetic flags are in `stored`.
//! - `ADD`/`SUB`: everything follows from `src1`, `src2` and `result`.
//! - `ADC`/`SBB`: as `ADD`/`SUB`, with the carry-in in `stored` bit 0.
//! - `INC`/`DEC`: ZF/SF/PF/AF/OF from the result, CF preserved in `stored` bit 0.
//! - `RES`: ZF/SF/PF from `result`, CF/OF/AF in `stored` (logic ops, shifts, multiplies).
//!
//! Non-arithmetic bits (DF, AC, ID) always live in `stored`.

use crate::cpu::{Cpu, LazyFlags};

pub const CF: u64 = 1 << 0;
pub const PF: u64 = 1 << 2;
pub const AF: u64 = 1 << 4;
pub const ZF: u64 = 1 << 6;
pub const SF: u64 = 1 << 7;
pub(crate) const TF: u64 = 1 << 8;
pub(crate) const IF: u64 = 1 << 9;
pub const DF: u64 = 1 << 10;
pub const OF: u64 = 1 << 11;
pub(crate) const NT: u64 = 1 << 14;
pub(crate) const AC: u64 = 1 << 18;
pub(crate) const ID: u64 = 1 << 21;
/// The six arithmetic flags.
pub const ARITH: u64 = CF | PF | AF | ZF | SF | OF;
/// Bits a user-mode `popf` can change (TF is accepted but single-stepping is not emulated).
const USER_WRITABLE: u64 = ARITH | TF | DF | OF | NT | AC | ID;

pub const STORED: u32 = 0;
pub const ADD: u32 = 1;
pub const ADC: u32 = 2;
pub const SUB: u32 = 3;
pub const SBB: u32 = 4;
pub const INC: u32 = 5;
pub const DEC: u32 = 6;
pub const RES: u32 = 7;

/// All-ones mask of an operand of `size` bytes.
#[inline]
pub(crate) fn mask(size: u32) -> u64 {
    if size >= 8 {
        u64::MAX
    } else {
        (1u64 << (size * 8)) - 1
    }
}

/// The sign bit of an operand of `size` bytes.
#[inline]
pub(crate) fn sign_bit(size: u32) -> u64 {
    1u64 << (size * 8 - 1)
}

/// Sign-extends the low `size` bytes of `v` to 64 bits.
#[inline]
pub(crate) fn sext(v: u64, size: u32) -> u64 {
    let sh = 64 - size * 8;
    (((v << sh) as i64) >> sh) as u64
}

impl LazyFlags {
    /// Records a lazily evaluated operation (`carry` is the carry-in or preserved CF).
    #[inline]
    pub(crate) fn set(&mut self, op: u32, size: u32, result: u64, a: u64, b: u64, carry: bool) {
        self.op = op;
        self.size = size;
        self.result = result & mask(size);
        self.src1 = a;
        self.src2 = b;
        self.stored = (self.stored & !ARITH) | carry as u64;
    }

    /// Records a result whose CF/OF/AF are known now (ZF/SF/PF come from `result`).
    #[inline]
    pub(crate) fn set_res(&mut self, size: u32, result: u64, cf: bool, of: bool, af: bool) {
        self.op = RES;
        self.size = size;
        self.result = result & mask(size);
        self.stored = (self.stored & !ARITH) | cf as u64 | (of as u64) << 11 | (af as u64) << 4;
    }

    /// Stores all six arithmetic flags from `bits` (other bits of `bits` are ignored).
    #[inline]
    pub(crate) fn set_arith(&mut self, bits: u64) {
        self.op = STORED;
        self.stored = (self.stored & !ARITH) | (bits & ARITH);
    }

    /// Changes only the flags in `which` to the values in `bits`, keeping the others.
    pub(crate) fn update(&mut self, which: u64, bits: u64) {
        let cur = self.arith();
        self.set_arith((cur & !which) | (bits & which));
    }

    #[inline]
    fn msb(&self, v: u64) -> bool {
        v & sign_bit(self.size) != 0
    }

    #[inline]
    pub(crate) fn cf(&self) -> bool {
        let m = mask(self.size);
        let (a, b, r) = (self.src1 & m, self.src2 & m, self.result);
        match self.op {
            ADD => r < a,
            ADC => {
                if self.stored & 1 != 0 {
                    r <= a
                } else {
                    r < a
                }
            }
            SUB => a < b,
            SBB => {
                if self.stored & 1 != 0 {
                    a <= b
                } else {
                    a < b
                }
            }
            _ => self.stored & CF != 0,
        }
    }

    #[inline]
    pub(crate) fn zf(&self) -> bool {
        match self.op {
            STORED => self.stored & ZF != 0,
            _ => self.result == 0,
        }
    }

    #[inline]
    pub(crate) fn sf(&self) -> bool {
        match self.op {
            STORED => self.stored & SF != 0,
            _ => self.msb(self.result),
        }
    }

    #[inline]
    pub(crate) fn pf(&self) -> bool {
        match self.op {
            STORED => self.stored & PF != 0,
            _ => (self.result as u8).count_ones().is_multiple_of(2),
        }
    }

    #[inline]
    pub(crate) fn of(&self) -> bool {
        let (a, b, r) = (self.src1, self.src2, self.result);
        match self.op {
            ADD | ADC => self.msb((a ^ r) & (b ^ r)),
            SUB | SBB => self.msb((a ^ b) & (a ^ r)),
            INC => r == sign_bit(self.size),
            DEC => r == sign_bit(self.size) - 1,
            _ => self.stored & OF != 0,
        }
    }

    #[inline]
    pub(crate) fn af(&self) -> bool {
        match self.op {
            ADD | ADC | SUB | SBB => (self.src1 ^ self.src2 ^ self.result) & 0x10 != 0,
            INC => self.result & 0xf == 0,
            DEC => self.result & 0xf == 0xf,
            _ => self.stored & AF != 0,
        }
    }

    /// The six arithmetic flags as RFLAGS bits.
    pub(crate) fn arith(&self) -> u64 {
        if self.op == STORED {
            return self.stored & ARITH;
        }
        self.cf() as u64
            | (self.pf() as u64) << 2
            | (self.af() as u64) << 4
            | (self.zf() as u64) << 6
            | (self.sf() as u64) << 7
            | (self.of() as u64) << 11
    }

    /// Evaluates a condition code in encoding order (`o`=0, `no`, `b`, `ae`, `e`, `ne`, `be`,
    /// `a`, `s`, `ns`, `p`, `np`, `l`, `ge`, `le`, `g`=15).
    #[inline]
    pub(crate) fn cond(&self, cc: u32) -> bool {
        let v = match cc >> 1 {
            0 => self.of(),
            1 => self.cf(),
            2 => self.zf(),
            3 => self.cf() || self.zf(),
            4 => self.sf(),
            5 => self.pf(),
            6 => self.sf() != self.of(),
            _ => self.zf() || self.sf() != self.of(),
        };
        v != (cc & 1 != 0)
    }

    pub(crate) fn df(&self) -> bool {
        self.stored & DF != 0
    }
}

/// Materialises RFLAGS as user mode sees it (IF and the reserved bit 1 are always set).
pub fn rflags(cpu: &Cpu) -> u64 {
    let f = &cpu.flags;
    (f.stored & !ARITH) | f.arith() | IF | 2
}

/// Loads RFLAGS (as `popf` in user mode does: only user-writable bits are taken).
pub fn set_rflags(cpu: &mut Cpu, value: u64) {
    cpu.flags.op = STORED;
    cpu.flags.stored = value & USER_WRITABLE;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags_of(op: u32, size: u32, a: u64, b: u64, carry: bool) -> u64 {
        let r = match op {
            ADD => a.wrapping_add(b),
            ADC => a.wrapping_add(b).wrapping_add(carry as u64),
            SUB => a.wrapping_sub(b),
            _ => a.wrapping_sub(b).wrapping_sub(carry as u64),
        };
        let mut f = LazyFlags::default();
        f.set(op, size, r, a, b, carry);
        f.arith()
    }

    #[test]
    fn add_and_sub_flags() {
        assert_eq!(flags_of(ADD, 1, 0xff, 1, false), CF | ZF | PF | AF);
        assert_eq!(flags_of(ADD, 1, 0x7f, 1, false), OF | SF | AF);
        assert_eq!(flags_of(SUB, 4, 0, 1, false), CF | SF | PF | AF);
        assert_eq!(flags_of(ADC, 8, u64::MAX, 0, true), CF | ZF | PF | AF);
        assert_eq!(flags_of(SBB, 2, 5, 5, true), CF | SF | PF | AF);
    }

    #[test]
    fn conditions_and_rflags_roundtrip() {
        let mut cpu = Cpu::default();
        set_rflags(&mut cpu, CF | ZF | DF | ID);
        assert_eq!(rflags(&cpu), CF | ZF | DF | ID | IF | 2);
        assert!(cpu.flags.cond(2) && cpu.flags.cond(4) && cpu.flags.cond(6));
        assert!(!cpu.flags.cond(7));
        cpu.flags.update(CF, 0);
        assert!(cpu.flags.cond(3) && cpu.flags.df());
        assert_eq!(sext(0x80, 1), u64::MAX - 0x7f);
    }
}

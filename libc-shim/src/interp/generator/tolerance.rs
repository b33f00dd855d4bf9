//! Where the generator compares within a bound instead of bit for bit, each for an
//! architectural reason:
//!
//! - rcpps/rcpss/rsqrtps/rsqrtss: the SDM bounds the relative error by 1.5·2^-12 and the
//!   tables are implementation-specific; the destination lanes are compared within that bound.
//! - fsin, fcos, fsincos, fptan, fpatan, f2xm1, fyl2x, fyl2xp1: results are specified to
//!   about one unit in the last place; the stored x87 registers are compared within one unit
//!   of the 64-bit significand, and C1 (which reports the rounding direction of that result)
//!   is not compared.

use iced_x86::{Code, Mnemonic as M};

use super::cases::Op;

/// The data-area offset of the four `fstp tbyte` slots the x87 epilogue writes.
const X87_SLOTS: usize = 0x900;

/// How one form's results are compared.
#[derive(Clone, Copy, Debug)]
pub enum Tol {
    Exact,
    /// rcp/rsqrt: the destination register and the lanes written.
    Approx {
        xmm: usize,
        lanes: u32,
    },
    /// An x87 transcendental.
    X87Ulp,
}

/// Whether `code` is an x87 transcendental.
pub(super) fn is_transcendental(code: Code) -> bool {
    matches!(
        code.mnemonic(),
        M::Fsin | M::Fcos | M::Fsincos | M::Fptan | M::Fpatan | M::F2xm1 | M::Fyl2x | M::Fyl2xp1
    )
}

impl Tol {
    pub(super) fn of(code: Code, ops: &[Op]) -> Tol {
        if is_transcendental(code) {
            return Tol::X87Ulp;
        }
        let lanes = match code.mnemonic() {
            M::Rcpps | M::Rsqrtps => 4,
            M::Rcpss | M::Rsqrtss => 1,
            _ => return Tol::Exact,
        };
        match ops[0] {
            Op::Reg(r) => Tol::Approx {
                xmm: r.number(),
                lanes,
            },
            _ => Tol::Exact,
        }
    }

    /// The bits of GPR `r` compared: all but C1 of the status word in ax for the
    /// transcendentals.
    pub(super) fn gpr_mask(self, r: usize) -> u64 {
        match self {
            Tol::X87Ulp if r == 0 => !0x200,
            _ => u64::MAX,
        }
    }

    pub(super) fn xmm_eq(self, r: usize, n: u128, i: u128) -> bool {
        match self {
            Tol::Approx { xmm, lanes } if xmm == r => (0..4).all(|k| {
                let (a, b) = ((n >> (32 * k)) as u32, (i >> (32 * k)) as u32);
                if k < lanes { approx_eq(a, b) } else { a == b }
            }),
            _ => n == i,
        }
    }

    /// The first differing byte of the data area, the x87 slots compared within one ulp.
    pub(super) fn mem_diff(self, n: &[u8], i: &[u8]) -> Option<usize> {
        let slot = |p: usize| (X87_SLOTS..X87_SLOTS + 64).contains(&p) && (p - X87_SLOTS) % 16 < 10;
        (0..n.len()).find(|&p| {
            if n[p] == i[p] {
                return false;
            }
            if !matches!(self, Tol::X87Ulp) || !slot(p) {
                return true;
            }
            let s = p - (p - X87_SLOTS) % 16;
            !ulp_eq(&n[s..s + 10], &i[s..s + 10])
        })
    }
}

/// Whether native and interpreted rcp/rsqrt lanes agree: both within the SDM's relative error
/// bound 1.5·2^-12 of the exact value. The interpreter's lane is the exact value correctly
/// rounded (relative error at most 2^-24), so the native lane may differ from it by
/// (1.5·2^-12 + 2^-23)·|interpreted|. A tiny result just below the normal range is flushed to
/// 0 or not depending on the implementation (SDM, rcpps).
fn approx_eq(n: u32, i: u32) -> bool {
    let (a, b) = (f32::from_bits(n) as f64, f32::from_bits(i) as f64);
    let tiny = f32::MIN_POSITIVE as f64 * 2.0;
    if n == i {
        true
    } else if (n ^ i) >> 31 != 0 || !a.is_finite() || !b.is_finite() {
        false
    } else if a == 0.0 || b == 0.0 {
        a.abs() < tiny && b.abs() < tiny
    } else {
        (a - b).abs() <= (1.5 / 4096.0 + 1.0 / (1u64 << 23) as f64) * b.abs()
    }
}

/// Whether two extended values (10 bytes each) are equal or adjacent finite values of the
/// same sign (one unit of the 64-bit significand apart).
fn ulp_eq(a: &[u8], b: &[u8]) -> bool {
    let parts = |v: &[u8]| {
        let m = u64::from_le_bytes(v[..8].try_into().unwrap());
        let se = u16::from_le_bytes([v[8], v[9]]);
        (se >> 15, se & 0x7fff, m)
    };
    let ((sa, ea, ma), (sb, eb, mb)) = (parts(a), parts(b));
    // Position in the ordered sequence of non-negative finite extended values.
    let ord = |e: u16, m: u64| {
        if e == 0 {
            m as u128
        } else {
            (e as u128) << 63 | (m & !(1 << 63)) as u128
        }
    };
    a == b || (sa == sb && ea != 0x7fff && eb != 0x7fff && ord(ea, ma).abs_diff(ord(eb, mb)) <= 1)
}

//! The x87 transcendentals: fsin, fcos, fsincos, fptan, fpatan, f2xm1, fyl2x, fyl2xp1, in
//! double-double arithmetic ([`dd`](super::super::dd)) rounded once to the extended format.
//!
//! Hardware results are only specified to within about one unit in the last place, so the
//! generator compares these forms within one ulp of the 64-bit significand (and without C1,
//! which reports the rounding direction of that result). Argument reduction for
//! fsin/fcos/fsincos/fptan is exact with respect to the 66-bit π the x87 uses internally (as
//! Intel documents), which is why `fsin` of the extended-precision π is -2^-64 rather than the
//! mathematically exact -5.0165e-20. `|x| >= 2^63` is out of range: C2 is set and st(0) kept.

use core::cmp::Ordering;

use iced_x86::Mnemonic as M;

use super::super::dd::{self, Dd, LN2, PI};
use super::super::f80::{EXT, F80};
use super::super::operand::{Ctx, Step};
use super::{C1, C2};

/// The x87's internal π: 66 significant bits, `P * 2^-64`.
const PI66: u128 = (0xc90f_daa2_2168_c234 << 2) | 3;

/// ±0, ±1 and -∞.
fn zero(sign: bool) -> F80 {
    F80 {
        se: (sign as u16) << 15,
        m: 0,
    }
}

fn one(sign: bool) -> F80 {
    F80 {
        se: (sign as u16) << 15 | 0x3fff,
        m: 1 << 63,
    }
}

const NEG_INF: F80 = F80 {
    se: 0xffff,
    m: 1 << 63,
};

/// A finite non-zero value as `m * 2^e` with `m` in [1, 2) (exact).
fn split(x: F80) -> (Dd, i32) {
    let e = (x.se & 0x7fff) as i32;
    let lz = x.m.leading_zeros() as i32;
    let m = x.m << lz;
    let d = Dd {
        hi: (m >> 11) as f64 / (1u64 << 52) as f64,
        lo: libm::scalbn((m & 0x7ff) as f64, -63),
    };
    let d = if x.sign() { d.neg() } else { d };
    (d, e.max(1) - 16383 - lz)
}

impl Ctx<'_> {
    /// `d * 2^k` rounded per the control word, C1 set when that rounded up in magnitude.
    fn round_c1(&mut self, d: Dd, k: i32) -> F80 {
        let r = d.to_f80(k, self.rc());
        self.set_c1_up(r, d.to_f80(k, 3));
        r
    }
}

/// `|x| mod (π66 / 2)` as the quadrant and the remainder in [-π/4, π/4], for finite non-zero
/// `|x| < 2^63`.
fn reduce(x: F80) -> (u32, Dd) {
    let (m, e) = split(x.abs());
    if e < 0 && m.hi < 1.5 {
        return (0, m.ldexp(e));
    }
    // |x| = n * 2^-65 with n an integer below 2^128.
    let n = ((x.m << x.m.leading_zeros()) as u128) << (e + 2);
    let mut q = n / PI66;
    let mut rem = (n - q * PI66) as i128;
    if 2 * rem as u128 > PI66 {
        q += 1;
        rem -= PI66 as i128;
    }
    let hi = rem as f64;
    let lo = (rem - hi as i128) as f64;
    ((q & 3) as u32, Dd { hi, lo }.ldexp(-65))
}

/// sin and cos of a finite non-zero `x`, `|x| < 2^63`; `None` for cos when it is exactly 1
/// to far below extended precision (tiny `x`), in which case sin is `x` itself.
fn sin_cos(x: F80) -> Option<(Dd, Dd)> {
    let (_, e) = split(x);
    if e < -1000 {
        return None;
    }
    let (q, r) = reduce(x);
    let (s, c) = dd::sin_cos(r);
    let (s, c) = match q {
        0 => (s, c),
        1 => (c, s.neg()),
        2 => (s.neg(), c.neg()),
        _ => (c.neg(), s),
    };
    Some((if x.sign() { s.neg() } else { s }, c))
}

pub(super) fn exec(c: &mut Ctx, m: M) -> Step {
    match m {
        M::Fsin | M::Fcos | M::Fsincos | M::Fptan => trig(c, m),
        M::Fpatan => {
            let r = fpatan(c, c.st(1), c.st(0));
            c.set_st(1, r);
            c.pop_st();
        }
        M::Fyl2x | M::Fyl2xp1 => {
            let r = ylog(c, c.st(1), c.st(0), m == M::Fyl2xp1);
            c.set_st(1, r);
            c.pop_st();
        }
        _ => {
            let r = f2xm1(c, c.st(0));
            c.set_st(0, r);
        }
    }
    Ok(())
}

fn trig(c: &mut Ctx, m: M) {
    let x = c.st(0);
    if !x.is_nan() && !x.is_inf() && (x.se & 0x7fff) >= 16383 + 63 {
        c.cpu.x87.status |= C2;
        return;
    }
    c.cpu.x87.status &= !(C1 | C2);
    let (s, co) = if x.is_nan() {
        let q = F80::add(x, x, EXT, 0);
        (q, q)
    } else if x.is_inf() {
        (F80::DEFAULT_NAN, F80::DEFAULT_NAN)
    } else if x.is_zero() {
        (x, one(false))
    } else {
        match sin_cos(x) {
            None => (x, one(false)),
            Some((s, co)) if m == M::Fptan => (c.round_c1(s.div(co), 0), one(false)),
            Some((s, co)) if m == M::Fcos => (s.to_f80(0, 0), c.round_c1(co, 0)),
            Some((s, co)) => {
                let co = co.to_f80(0, c.rc());
                (c.round_c1(s, 0), co)
            }
        }
    };
    match m {
        M::Fsin => c.set_st(0, s),
        M::Fcos => c.set_st(0, co),
        M::Fsincos => {
            c.set_st(0, s);
            c.push_st(co);
        }
        _ => {
            c.set_st(0, s);
            c.push_st(if x.is_nan() || x.is_inf() { s } else { co });
        }
    }
}

/// atan2(y, x), in (-π, π].
fn fpatan(c: &mut Ctx, y: F80, x: F80) -> F80 {
    if y.is_nan() || x.is_nan() {
        return F80::add(y, x, EXT, 0);
    }
    let neg = |v: Dd| if y.sign() { v.neg() } else { v };
    let r = if y.is_zero() || (x.is_inf() && !y.is_inf()) {
        if x.sign() {
            PI
        } else {
            return zero(y.sign());
        }
    } else if x.is_zero() || (y.is_inf() && !x.is_inf()) {
        PI.ldexp(-1)
    } else if y.is_inf() {
        if x.sign() {
            PI.mul(Dd::from(0.75))
        } else {
            PI.ldexp(-2)
        }
    } else {
        let ((my, ey), (mx, ex)) = (split(y.abs()), split(x.abs()));
        let y_le_x = (ey, my.hi, my.lo) <= (ex, mx.hi, mx.lo);
        let (t, k) = if y_le_x {
            (my.div(mx), ey - ex)
        } else {
            (mx.div(my), ex - ey)
        };
        if k < -1000 && y_le_x && !x.sign() {
            return c.round_c1(neg(t), k);
        }
        let a = if k < -1000 {
            Dd::ZERO
        } else {
            dd::atan(t.ldexp(k))
        };
        match (y_le_x, x.sign()) {
            (true, false) => a,
            (true, true) => PI.sub(a),
            (false, false) => PI.ldexp(-1).sub(a),
            (false, true) => PI.ldexp(-1).add(a),
        }
    };
    c.round_c1(neg(r), 0)
}

/// y * log2(x) (fyl2x), or y * log2(1 + x) (fyl2xp1).
fn ylog(c: &mut Ctx, y: F80, x: F80, p1: bool) -> F80 {
    if y.is_nan() || x.is_nan() {
        return F80::add(y, x, EXT, 0);
    }
    let special = if p1 {
        x.is_zero().then_some(x)
    } else if x.sign() && !x.is_zero() {
        return F80::DEFAULT_NAN;
    } else if x.is_zero() {
        Some(NEG_INF)
    } else if x.is_inf() {
        Some(x)
    } else if x == one(false) {
        Some(F80::ZERO)
    } else {
        None
    };
    if let Some(l) = special {
        return F80::mul(y, l, EXT, c.rc());
    }
    if y.is_zero() || y.is_inf() {
        let sign = if p1 {
            x.sign()
        } else {
            F80::cmp(x, one(false)) == Some(Ordering::Less)
        };
        return F80::mul(y, one(sign), EXT, c.rc());
    }
    let (my, ey) = split(y);
    let (mx, ex) = split(x);
    let (l, k) = if p1 {
        if ex < -1000 {
            (mx.div(LN2), ex)
        } else {
            (dd::ln1p(mx.ldexp(ex)).div(LN2), 0)
        }
    } else {
        let (m, e) = if mx.hi > core::f64::consts::SQRT_2 {
            (mx.ldexp(-1), ex + 1)
        } else {
            (mx, ex)
        };
        (Dd::from(e as f64).add(dd::ln(m).div(LN2)), 0)
    };
    c.round_c1(my.mul(l), ey + k)
}

/// 2^x - 1 (defined for |x| <= 1).
fn f2xm1(c: &mut Ctx, x: F80) -> F80 {
    if x.is_nan() {
        return F80::add(x, x, EXT, 0);
    }
    if x.is_zero() {
        return x;
    }
    if x.is_inf() {
        return if x.sign() { one(true) } else { x };
    }
    let (m, e) = split(x);
    if e < -1000 {
        return c.round_c1(m.mul(LN2), e);
    }
    if e > 0 {
        return F80::DEFAULT_NAN;
    }
    c.round_c1(dd::expm1(m.ldexp(e).mul(LN2)), 0)
}

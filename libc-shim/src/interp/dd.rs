//! Double-double arithmetic (an unevaluated sum of two f64, about 106 significant bits) and the
//! series the x87 transcendentals (`x87::trans`) are computed with: sin/cos on [-π/4, π/4],
//! atan, ln on [√½, √2], expm1. Accurate to well below one unit in the last place of the 64-bit
//! extended significand; [`Dd::to_f80`] rounds a value scaled by a power of two to extended.

use super::f80::{EXT, F80, Rc};

/// `hi + lo` with `|lo| <= ulp(hi) / 2`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Dd {
    pub hi: f64,
    pub lo: f64,
}

fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let bb = s - a;
    (s, (a - (s - bb)) + (b - bb))
}

fn quick(a: f64, b: f64) -> Dd {
    let s = a + b;
    Dd {
        hi: s,
        lo: b - (s - a),
    }
}

/// ln 2 and π/4 as double-doubles.
pub(crate) const LN2: Dd = Dd {
    hi: core::f64::consts::LN_2,
    lo: 2.319_046_813_846_299_6e-17,
};
pub(crate) const PI: Dd = Dd {
    hi: core::f64::consts::PI,
    lo: 1.224_646_799_147_353_2e-16,
};

impl Dd {
    pub(crate) const ONE: Dd = Dd { hi: 1.0, lo: 0.0 };
    pub(crate) const ZERO: Dd = Dd { hi: 0.0, lo: 0.0 };

    pub(crate) fn from(v: f64) -> Dd {
        Dd { hi: v, lo: 0.0 }
    }

    pub(crate) fn add(self, o: Dd) -> Dd {
        let (s, e) = two_sum(self.hi, o.hi);
        let (t, f) = two_sum(self.lo, o.lo);
        let r = quick(s, e + t);
        quick(r.hi, r.lo + f)
    }

    pub(crate) fn neg(self) -> Dd {
        Dd {
            hi: -self.hi,
            lo: -self.lo,
        }
    }

    pub(crate) fn sub(self, o: Dd) -> Dd {
        self.add(o.neg())
    }

    pub(crate) fn mul(self, o: Dd) -> Dd {
        let p = self.hi * o.hi;
        let e = libm::fma(self.hi, o.hi, -p);
        quick(p, e + self.hi * o.lo + self.lo * o.hi)
    }

    pub(crate) fn div(self, o: Dd) -> Dd {
        let q1 = self.hi / o.hi;
        let r = self.sub(o.mul(Dd::from(q1)));
        let q2 = r.hi / o.hi;
        let r = r.sub(o.mul(Dd::from(q2)));
        let q3 = r.hi / o.hi;
        quick(q1, q2).add(Dd::from(q3))
    }

    pub(crate) fn sqrt(self) -> Dd {
        if self.hi <= 0.0 {
            return Dd::ZERO;
        }
        let x = libm::sqrt(self.hi);
        let r = self.sub(Dd::from(x).mul(Dd::from(x)));
        Dd::from(x).add(Dd::from(r.hi / (2.0 * x)))
    }

    /// Scales by 2^k (k small enough to stay in range).
    pub(crate) fn ldexp(self, k: i32) -> Dd {
        Dd {
            hi: libm::scalbn(self.hi, k),
            lo: libm::scalbn(self.lo, k),
        }
    }

    fn tiny(self, sum: Dd) -> bool {
        self.hi.abs() <= sum.hi.abs() * 1e-34 || self.hi == 0.0
    }

    /// `self * 2^k` rounded to extended precision with mode `rc`.
    pub(crate) fn to_f80(self, k: i32, rc: Rc) -> F80 {
        if self.hi == 0.0 {
            return F80::from_f64(self.hi.to_bits());
        }
        let parts = |v: f64| -> (i128, i32) {
            let b = v.to_bits();
            let e = ((b >> 52) & 0x7ff) as i32;
            let m = (b & ((1 << 52) - 1)) as i128;
            let (m, e) = if e == 0 {
                (m, -1074)
            } else {
                (m | 1 << 52, e - 1075)
            };
            (if v < 0.0 { -m } else { m }, e)
        };
        let (a, ea) = parts(self.hi);
        let mut sig = a << 68;
        if self.lo != 0.0 {
            let (b, eb) = parts(self.lo);
            let sh = 68 + eb - ea;
            if sh >= 0 {
                sig += b << sh.min(126);
            } else if sh > -127 {
                // Below the kept bits: only its direction matters (a sticky bit).
                sig += (b >> -sh) + b.signum();
            }
        }
        let sign = sig < 0;
        F80::make_pub(sign, ea - 68 + 127 + k, sig.unsigned_abs(), EXT, rc)
    }
}

/// sin and cos of `r`, `|r| <= π/4`, by their Taylor series.
pub(crate) fn sin_cos(r: Dd) -> (Dd, Dd) {
    let r2 = r.mul(r);
    let (mut s, mut term) = (r, r);
    let mut n = 1.0;
    while !term.tiny(s) {
        term = term.mul(r2).div(Dd::from((n + 1.0) * (n + 2.0))).neg();
        s = s.add(term);
        n += 2.0;
    }
    let (mut c, mut term) = (Dd::ONE, Dd::ONE);
    let mut n = 0.0;
    while !term.tiny(c) {
        term = term.mul(r2).div(Dd::from((n + 1.0) * (n + 2.0))).neg();
        c = c.add(term);
        n += 2.0;
    }
    (s, c)
}

/// `sum z^(2i+1) / (2i+1)` (atanh) or its alternating version (atan), for `|z| < 0.5`.
fn odd_series(z: Dd, alternate: bool) -> Dd {
    let z2 = z.mul(z);
    let (mut s, mut p) = (z, z);
    let mut n = 1.0;
    loop {
        p = p.mul(z2);
        if alternate {
            p = p.neg();
        }
        n += 2.0;
        let t = p.div(Dd::from(n));
        if t.tiny(s) {
            return s;
        }
        s = s.add(t);
    }
}

/// atan of `x`, `|x| <= 1`: three argument halvings `x / (1 + sqrt(1 + x^2))`, then the series.
pub(crate) fn atan(mut x: Dd) -> Dd {
    for _ in 0..3 {
        x = x.div(Dd::ONE.add(Dd::ONE.add(x.mul(x)).sqrt()));
    }
    odd_series(x, true).ldexp(3)
}

/// ln of `m` in [√½, √2]: `2 atanh((m - 1) / (m + 1))`.
pub(crate) fn ln(m: Dd) -> Dd {
    let z = m.sub(Dd::ONE).div(m.add(Dd::ONE));
    odd_series(z, false).ldexp(1)
}

/// ln(1 + x) for `|x| < 0.3`: `2 atanh(x / (2 + x))` (no cancellation for small x).
pub(crate) fn ln1p(x: Dd) -> Dd {
    odd_series(x.div(Dd::from(2.0).add(x)), false).ldexp(1)
}

/// e^y - 1 for `|y| <= 1` by its series.
pub(crate) fn expm1(y: Dd) -> Dd {
    let (mut s, mut term) = (y, y);
    let mut n = 1.0;
    while !term.tiny(s) {
        n += 1.0;
        term = term.mul(y).div(Dd::from(n));
        s = s.add(term);
    }
    s
}

//! A software 80-bit extended float (the x87 register format): sign and 15-bit exponent in `se`,
//! a 64-bit significand with an explicit integer bit in `m`. Add, subtract, multiply, divide and
//! square root are correctly rounded to the precision (24, 53 or 64 bits) and rounding mode of
//! the x87 control word; conversions to and from f32/f64/integers follow x86 (NaN payloads kept,
//! quieted; invalid results are the negative default NaN; integer overflow gives None, which the
//! caller stores as the integer indefinite value).

use core::cmp::Ordering;

/// Rounding control, as in the x87 control word and MXCSR: nearest, down, up, toward zero.
pub(crate) type Rc = u32;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct F80 {
    pub se: u16,
    pub m: u64,
}

const BIAS: i32 = 16383;
const INT_BIT: u64 = 1 << 63;

/// A finite non-zero value `sig * 2^(exp - 127)` with bit 127 of `sig` set.
struct Unpacked {
    sign: bool,
    exp: i32,
    sig: u128,
}

/// Target format of a rounding: precision, exponent range.
#[derive(Clone, Copy)]
pub(crate) struct Format {
    p: u32,
    emin: i32,
    emax: i32,
}

pub(crate) const EXT: Format = Format {
    p: 64,
    emin: -16382,
    emax: 16383,
};
const DOUBLE: Format = Format {
    p: 53,
    emin: -1022,
    emax: 1023,
};
const SINGLE: Format = Format {
    p: 24,
    emin: -126,
    emax: 127,
};

/// The extended format with the precision of control-word field PC (0: 24, 2: 53, 3: 64 bits).
pub(crate) fn ext_with_pc(pc: u32) -> Format {
    let p = match pc {
        0 => 24,
        2 => 53,
        _ => 64,
    };
    Format { p, ..EXT }
}

fn shr_sticky(v: u128, n: u32) -> u128 {
    if n == 0 {
        v
    } else if n >= 128 {
        (v != 0) as u128
    } else {
        (v >> n) | ((v << (128 - n)) != 0) as u128
    }
}

/// A rounded result: `m` has the value's top `p` bits (MSB at `p - 1` unless denormal).
struct Rounded {
    sign: bool,
    exp: i32,
    m: u64,
    inf: bool,
}

/// Rounds `sig * 2^(exp - 127)` (any `sig`, not zero) to `f` with mode `rc`.
fn round(sign: bool, mut exp: i32, mut sig: u128, f: Format, rc: Rc) -> Rounded {
    let lz = sig.leading_zeros();
    sig <<= lz;
    exp -= lz as i32;
    if exp < f.emin {
        sig = shr_sticky(sig, (f.emin - exp) as u32);
        exp = f.emin;
    }
    let mut keep = (sig >> (128 - f.p)) as u64;
    let rest = sig << f.p;
    let half = rest >> 127 != 0;
    let sticky = rest << 1 != 0;
    let up = match rc {
        0 => half && (sticky || keep & 1 != 0),
        1 => sign && rest != 0,
        2 => !sign && rest != 0,
        _ => false,
    };
    if up {
        keep = keep.wrapping_add(1);
        if keep == 1u64.checked_shl(f.p).unwrap_or(0) || (f.p == 64 && keep == 0) {
            keep = 1 << (f.p - 1);
            exp += 1;
        }
    }
    if exp > f.emax {
        // Overflow: infinity, or the largest finite value when rounding toward zero from it.
        let to_inf = match rc {
            0 => true,
            1 => sign,
            2 => !sign,
            _ => false,
        };
        if to_inf {
            return Rounded {
                sign,
                exp,
                m: 0,
                inf: true,
            };
        }
        let max = if f.p == 64 {
            u64::MAX
        } else {
            (1u64 << f.p) - 1
        };
        return Rounded {
            sign,
            exp: f.emax,
            m: max,
            inf: false,
        };
    }
    Rounded {
        sign,
        exp,
        m: keep,
        inf: false,
    }
}

impl F80 {
    pub(crate) const DEFAULT_NAN: F80 = F80 {
        se: 0xffff,
        m: 0xc000_0000_0000_0000,
    };
    pub(crate) const ZERO: F80 = F80 { se: 0, m: 0 };

    pub(crate) fn from_bytes(b: [u8; 10]) -> F80 {
        let mut m = [0u8; 8];
        m.copy_from_slice(&b[..8]);
        F80 {
            se: u16::from_le_bytes([b[8], b[9]]),
            m: u64::from_le_bytes(m),
        }
    }

    pub(crate) fn to_bytes(self) -> [u8; 10] {
        let mut b = [0u8; 10];
        b[..8].copy_from_slice(&self.m.to_le_bytes());
        b[8..].copy_from_slice(&self.se.to_le_bytes());
        b
    }

    pub(crate) fn sign(self) -> bool {
        self.se & 0x8000 != 0
    }
    fn exp(self) -> i32 {
        (self.se & 0x7fff) as i32
    }
    pub(crate) fn is_nan(self) -> bool {
        self.exp() == 0x7fff && self.m << 1 != 0
    }
    pub(crate) fn is_inf(self) -> bool {
        self.exp() == 0x7fff && self.m << 1 == 0
    }
    pub(crate) fn is_zero(self) -> bool {
        self.exp() == 0 && self.m == 0
    }
    pub(crate) fn is_denormal(self) -> bool {
        self.exp() == 0 && self.m != 0
    }
    pub(crate) fn neg(self) -> F80 {
        F80 {
            se: self.se ^ 0x8000,
            m: self.m,
        }
    }
    pub(crate) fn abs(self) -> F80 {
        F80 {
            se: self.se & 0x7fff,
            m: self.m,
        }
    }
    fn quiet(self) -> F80 {
        F80 {
            se: self.se,
            m: self.m | 1 << 62,
        }
    }
    fn inf(sign: bool) -> F80 {
        F80 {
            se: (sign as u16) << 15 | 0x7fff,
            m: INT_BIT,
        }
    }
    fn zero(sign: bool) -> F80 {
        F80 {
            se: (sign as u16) << 15,
            m: 0,
        }
    }

    fn unpack(self) -> Unpacked {
        let e = if self.exp() == 0 { 1 } else { self.exp() };
        let sig = (self.m as u128) << 64;
        let lz = sig.leading_zeros();
        Unpacked {
            sign: self.sign(),
            exp: e - BIAS - lz as i32,
            sig: sig << lz,
        }
    }

    fn pack_p(r: Rounded, p: u32) -> F80 {
        if r.inf {
            return F80::inf(r.sign);
        }
        let s = (r.sign as u16) << 15;
        let m = r.m << (64 - p);
        if m == 0 {
            return F80::zero(r.sign);
        }
        if m & INT_BIT == 0 {
            F80 { se: s, m }
        } else {
            F80 {
                se: s | (r.exp + BIAS) as u16,
                m,
            }
        }
    }

    /// Rounds `sig * 2^(exp - 127)` to the format `f` (extended range) and packs it.
    fn make(sign: bool, exp: i32, sig: u128, f: Format, rc: Rc) -> F80 {
        if sig == 0 {
            return F80::zero(sign);
        }
        F80::pack_p(round(sign, exp, sig, f, rc), f.p)
    }

    /// Rounds `sig * 2^(exp - 127)` to extended precision (for callers outside this file).
    pub(crate) fn make_pub(sign: bool, exp: i32, sig: u128, f: Format, rc: Rc) -> F80 {
        F80::make(sign, exp, sig, f, rc)
    }

    pub(crate) fn from_f64(v: u64) -> F80 {
        F80::from_binary(v, 11, 52)
    }

    pub(crate) fn from_f32(v: u32) -> F80 {
        F80::from_binary(u64::from(v), 8, 23)
    }

    /// Widens an IEEE binary float of `exp_bits` exponent and `frac_bits` fraction bits (f32 or
    /// f64, in the low bits of `v`) exactly.
    fn from_binary(v: u64, exp_bits: u32, frac_bits: u32) -> F80 {
        let sign = v >> (exp_bits + frac_bits) != 0;
        let max_e = (1i32 << exp_bits) - 1;
        let bias = max_e >> 1;
        let e = ((v >> frac_bits) as i32) & max_e;
        let frac = v & ((1 << frac_bits) - 1);
        // The fraction's top bit lands just below the explicit integer bit.
        let m = frac << (63 - frac_bits);
        match e {
            _ if e == max_e && frac == 0 => F80::inf(sign),
            // A signalling NaN loads quieted (IE, masked, is not recorded).
            _ if e == max_e => F80 {
                se: (sign as u16) << 15 | 0x7fff,
                m: INT_BIT | 1 << 62 | m,
            },
            0 if frac == 0 => F80::zero(sign),
            0 => F80::make(
                sign,
                1 - bias - frac_bits as i32 + 127,
                frac as u128,
                EXT,
                0,
            ),
            _ => F80 {
                se: (sign as u16) << 15 | (e - bias + BIAS) as u16,
                m: INT_BIT | m,
            },
        }
    }

    pub(crate) fn from_i64(v: i64) -> F80 {
        F80::make(v < 0, 127, v.unsigned_abs() as u128, EXT, 0)
    }

    /// Converts to a binary interchange format (`f` = DOUBLE or SINGLE) as raw bits.
    fn to_ieee(self, f: Format, ebits: u32, rc: Rc) -> u64 {
        let fb = f.p - 1;
        let sign = (self.sign() as u64) << (fb + ebits);
        let emax_field = (1u64 << ebits) - 1;
        if self.is_nan() {
            return sign | emax_field << fb | 1 << (fb - 1) | (self.m << 1 >> (64 - fb));
        }
        if self.is_inf() {
            return sign | emax_field << fb;
        }
        if self.is_zero() {
            return sign;
        }
        let u = self.unpack();
        let r = round(u.sign, u.exp, u.sig, f, rc);
        if r.inf {
            return sign | emax_field << fb;
        }
        if r.m >> fb == 0 {
            return sign | r.m;
        }
        sign | ((r.exp + f.emax) as u64) << fb | (r.m & ((1 << fb) - 1))
    }

    pub(crate) fn to_f64(self, rc: Rc) -> u64 {
        self.to_ieee(DOUBLE, 11, rc)
    }

    pub(crate) fn to_f32(self, rc: Rc) -> u32 {
        self.to_ieee(SINGLE, 8, rc) as u32
    }

    /// Rounds to an integer value (frndint).
    pub(crate) fn round_int(self, rc: Rc) -> F80 {
        if self.is_nan() {
            return self.quiet();
        }
        if self.is_inf() || self.is_zero() || self.exp() >= BIAS + 63 {
            return self;
        }
        let u = self.unpack();
        // The integer part and two rounding bits (half, sticky) below it.
        let shift = (127 - u.exp) as u32;
        let t = shr_sticky(u.sig, shift - 2);
        let (int, half, sticky) = (t >> 2, t & 2 != 0, t & 1 != 0);
        let inexact = half || sticky;
        let up = match rc {
            0 => half && (sticky || int & 1 != 0),
            1 => u.sign && inexact,
            2 => !u.sign && inexact,
            _ => false,
        };
        let int = int + up as u128;
        if int == 0 {
            return F80::zero(u.sign);
        }
        F80::make(u.sign, 127, int, EXT, 0)
    }

    /// Converts to a signed integer of `bits` bits, or None if out of range or NaN.
    pub(crate) fn to_int(self, bits: u32, rc: Rc) -> Option<i64> {
        if self.is_nan() || self.is_inf() {
            return None;
        }
        let r = self.round_int(rc);
        if r.is_zero() {
            return Some(0);
        }
        let e = r.exp() - BIAS;
        if e > 63 {
            return None;
        }
        let mag = (r.m >> (63 - e)) as u128;
        let lim = 1u128 << (bits - 1);
        if (!r.sign() && mag >= lim) || (r.sign() && mag > lim) {
            return None;
        }
        Some(if r.sign() {
            (mag as i128).wrapping_neg() as i64
        } else {
            mag as i64
        })
    }

    fn nan_pick(a: F80, b: F80) -> Option<F80> {
        match (a.is_nan(), b.is_nan()) {
            (true, true) => Some(if a.m << 1 >= b.m << 1 {
                a.quiet()
            } else {
                b.quiet()
            }),
            (true, false) => Some(a.quiet()),
            (false, true) => Some(b.quiet()),
            _ => None,
        }
    }

    pub(crate) fn add(a: F80, b: F80, f: Format, rc: Rc) -> F80 {
        if let Some(n) = F80::nan_pick(a, b) {
            return n;
        }
        match (a.is_inf(), b.is_inf()) {
            (true, true) if a.sign() != b.sign() => return F80::DEFAULT_NAN,
            (true, _) => return a,
            (_, true) => return b,
            _ => {}
        }
        if a.is_zero() && b.is_zero() {
            let sign = if a.sign() == b.sign() {
                a.sign()
            } else {
                rc == 1
            };
            return F80::zero(sign);
        }
        if a.is_zero() {
            return b.to_format(f, rc);
        }
        if b.is_zero() {
            return a.to_format(f, rc);
        }
        let (x, y) = (a.unpack(), b.unpack());
        let (big, small) = if x.exp >= y.exp { (x, y) } else { (y, x) };
        let d = (big.exp - small.exp) as u32;
        let bs = big.sig >> 2;
        let ss = shr_sticky(small.sig >> 2, d);
        if big.sign == small.sign {
            F80::make(big.sign, big.exp + 2, bs + ss, f, rc)
        } else if bs >= ss {
            let r = bs - ss;
            if r == 0 {
                F80::zero(rc == 1)
            } else {
                F80::make(big.sign, big.exp + 2, r, f, rc)
            }
        } else {
            F80::make(small.sign, big.exp + 2, ss - bs, f, rc)
        }
    }

    /// `self` rounded to the precision of `f`.
    fn to_format(self, f: Format, rc: Rc) -> F80 {
        if self.is_zero() || self.is_inf() || self.is_nan() || f.p == 64 {
            return self;
        }
        let u = self.unpack();
        F80::make(u.sign, u.exp, u.sig, f, rc)
    }

    pub(crate) fn sub(a: F80, b: F80, f: Format, rc: Rc) -> F80 {
        if b.is_nan() {
            return F80::add(a, b, f, rc);
        }
        F80::add(a, b.neg(), f, rc)
    }

    pub(crate) fn mul(a: F80, b: F80, f: Format, rc: Rc) -> F80 {
        if let Some(n) = F80::nan_pick(a, b) {
            return n;
        }
        let sign = a.sign() != b.sign();
        if (a.is_inf() && b.is_zero()) || (a.is_zero() && b.is_inf()) {
            return F80::DEFAULT_NAN;
        }
        if a.is_inf() || b.is_inf() {
            return F80::inf(sign);
        }
        if a.is_zero() || b.is_zero() {
            return F80::zero(sign);
        }
        let (x, y) = (a.unpack(), b.unpack());
        let p = (x.sig >> 64) * (y.sig >> 64);
        F80::make(sign, x.exp + y.exp + 1, p, f, rc)
    }

    pub(crate) fn div(a: F80, b: F80, f: Format, rc: Rc) -> F80 {
        if let Some(n) = F80::nan_pick(a, b) {
            return n;
        }
        let sign = a.sign() != b.sign();
        if (a.is_inf() && b.is_inf()) || (a.is_zero() && b.is_zero()) {
            return F80::DEFAULT_NAN;
        }
        if a.is_inf() || b.is_zero() {
            return F80::inf(sign);
        }
        if a.is_zero() || b.is_inf() {
            return F80::zero(sign);
        }
        let (x, y) = (a.unpack(), b.unpack());
        let (ma, mb) = ((x.sig >> 64) as u64, (y.sig >> 64) as u64);
        let n = (ma as u128) << 64;
        let (qh, r) = (n / mb as u128, n % mb as u128);
        let ql = (r << 64) / mb as u128;
        let r2 = (r << 64) % mb as u128;
        let q = (qh << 62) | (ql >> 2) | ((ql & 3 != 0 || r2 != 0) as u128);
        // ma/mb * 2^126 = q; value = ma/mb * 2^(x.exp - y.exp).
        F80::make(sign, x.exp - y.exp + 1, q, f, rc)
    }

    pub(crate) fn sqrt(a: F80, f: Format, rc: Rc) -> F80 {
        if a.is_nan() {
            return a.quiet();
        }
        if a.is_zero() {
            return a;
        }
        if a.sign() {
            return F80::DEFAULT_NAN;
        }
        if a.is_inf() {
            return a;
        }
        let u = a.unpack();
        // value = m * 2^(u.exp - 63) with m = sig >> 64; take N = m << k, k in {63, 64}, so that
        // the exponent (u.exp - 63 - k) is even.
        let m = u.sig >> 64;
        let e = u.exp - 63;
        let k = if (e - 64).rem_euclid(2) == 0 { 64 } else { 63 };
        let n = m << k;
        let r = isqrt(n);
        let rem = n - r * r;
        let tail: u128 = if rem == 0 {
            0
        } else if rem > r {
            0xc000_0000_0000_0000
        } else {
            0x4000_0000_0000_0000
        };
        let sig = (r << 64) | tail;
        // sqrt = r * 2^((e - k) / 2); sig = r << 64.
        F80::make(false, (e - k) / 2 + 63, sig, f, rc)
    }

    /// IEEE comparison: None if unordered.
    pub(crate) fn cmp(a: F80, b: F80) -> Option<Ordering> {
        if a.is_nan() || b.is_nan() {
            return None;
        }
        if a.is_zero() && b.is_zero() {
            return Some(Ordering::Equal);
        }
        let key = |v: F80| -> i128 {
            let mag = ((v.se & 0x7fff) as i128) << 64 | v.m as i128;
            if v.sign() { -mag } else { mag }
        };
        Some(key(a).cmp(&key(b)))
    }

    /// Unbiased exponent and significand in [1, 2) (fxtract), for finite non-zero values.
    pub(crate) fn extract(self) -> (F80, F80) {
        let u = self.unpack();
        let e = u.exp;
        let sig = F80 {
            se: (u.sign as u16) << 15 | BIAS as u16,
            m: (u.sig >> 64) as u64,
        };
        (F80::from_i64(e as i64), sig)
    }

    /// `self * 2^n` rounded (fscale with an integer `n`).
    pub(crate) fn scale(self, n: i64, f: Format, rc: Rc) -> F80 {
        if self.is_nan() {
            return self.quiet();
        }
        if self.is_inf() || self.is_zero() {
            return self;
        }
        let u = self.unpack();
        let n = n.clamp(-70000, 70000) as i32;
        F80::make(u.sign, u.exp + n, u.sig, f, rc)
    }
}

fn isqrt(n: u128) -> u128 {
    if n == 0 {
        return 0;
    }
    let mut r = libm::sqrt(n as f64) as u128;
    if r == 0 {
        r = 1;
    }
    r = (r + n / r) / 2;
    while r * r > n {
        r -= 1;
    }
    while (r + 1).checked_mul(r + 1).is_some_and(|s| s <= n) {
        r += 1;
    }
    r
}

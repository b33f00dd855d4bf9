//! MXCSR-exact SSE float arithmetic: add/sub/mul/div/sqrt and the float-producing conversions
//! round per MXCSR.RC and raise the sticky exception flags (IE, DE, ZE, OE, UE, PE), with DAZ
//! and FTZ honoured.
//!
//! Technique: the exact result is described by `hi·2^scale` plus the sign of the remaining error,
//! where `hi` is the host's round-to-nearest f64 result on operands reduced to [1, 2) mantissas
//! (so it never over- or underflows) and the error sign comes from an exact residual (TwoSum for
//! add, `fma` for mul/div/sqrt). [`round`] then rounds that to the target format in integer
//! arithmetic, which also gives overflow, tininess after rounding (as x86 detects it) and
//! inexactness. f32 operations are done the same way in f64.

use super::sse_fp::Op;

pub(super) const IE: u32 = 1;
pub(super) const DE: u32 = 2;
const ZE: u32 = 4;
const OE: u32 = 8;
const UE: u32 = 0x10;
pub(super) const PE: u32 = 0x20;
pub(super) const DAZ: u32 = 0x40;
const FTZ: u32 = 0x8000;

/// A binary float format: `p` significand bits (with the implicit one), `ebits` exponent bits.
#[derive(Clone, Copy)]
pub(super) struct Fmt {
    p: u32,
    ebits: u32,
}

pub(super) const F32: Fmt = Fmt { p: 24, ebits: 8 };
pub(super) const F64: Fmt = Fmt { p: 53, ebits: 11 };

impl Fmt {
    fn sign(self) -> u64 {
        1 << (self.p + self.ebits - 1)
    }
    fn inf(self) -> u64 {
        ((1 << self.ebits) - 1) << (self.p - 1)
    }
    fn quiet(self) -> u64 {
        1 << (self.p - 2)
    }
    fn default_nan(self) -> u64 {
        self.sign() | self.inf() | self.quiet()
    }
    /// Exponent of the smallest denormal.
    fn emin(self) -> i32 {
        3 - (1 << (self.ebits - 1)) - self.p as i32
    }
    fn is_nan(self, v: u64) -> bool {
        v & !self.sign() > self.inf()
    }
    fn is_denormal(self, v: u64) -> bool {
        v & self.inf() == 0 && v & !self.sign() != 0
    }
    /// A finite or infinite value of this format as f64 (exact).
    fn to_f64(self, v: u64) -> f64 {
        if self.p == 53 {
            f64::from_bits(v)
        } else {
            f32::from_bits(v as u32) as f64
        }
    }
    /// A zero or infinity of this format with the sign of `neg`.
    fn special(self, neg: bool, inf: bool) -> u64 {
        (neg as u64 * self.sign()) | (inf as u64 * self.inf())
    }
}

/// Denormal operands read as zero under DAZ.
fn daz(fmt: Fmt, v: u64, mx: u32) -> u64 {
    if mx & DAZ != 0 && fmt.is_denormal(v) {
        v & fmt.sign()
    } else {
        v
    }
}

/// Operands of a compare or min/max read under DAZ: IE for a signalling NaN (any NaN when
/// `signalling`), else DE for a denormal if neither is a NaN.
pub(super) fn screen(
    fmt: Fmt,
    a: u64,
    b: u64,
    signalling: bool,
    mx: u32,
    fl: &mut u32,
) -> (u64, u64) {
    let (a, b) = (daz(fmt, a, mx), daz(fmt, b, mx));
    let snan = |v: u64| fmt.is_nan(v) && (signalling || v & fmt.quiet() == 0);
    if snan(a) || snan(b) {
        *fl |= IE;
    } else if !fmt.is_nan(a) && !fmt.is_nan(b) && (fmt.is_denormal(a) || fmt.is_denormal(b)) {
        *fl |= DE;
    }
    (a, b)
}

/// An operand of a conversion to integer as f64, read under DAZ.
pub(super) fn operand(fmt: Fmt, v: u64, mx: u32) -> f64 {
    fmt.to_f64(daz(fmt, v, mx))
}

fn sign_of(v: f64) -> i8 {
    if v > 0.0 {
        1
    } else if v < 0.0 {
        -1
    } else {
        0
    }
}

/// `x = m·2^e` with `1 <= |m| < 2` (x finite, nonzero).
fn split(x: f64) -> (f64, i32) {
    let b = x.to_bits();
    let be = ((b >> 52) & 0x7ff) as i32;
    if be == 0 {
        let (m, e) = split(x * f64::from_bits((1023 + 64) << 52));
        return (m, e - 64);
    }
    (
        f64::from_bits((b & !(0x7ff << 52)) | (1023 << 52)),
        be - 1023,
    )
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    Exact,
    Below,
    Half,
    Above,
}

/// Rounds the magnitude `m·2^e` plus a tail of sign `t` (at most half an ulp of `m·2^e`) to `p`
/// bits, in steps of no less than `2^emin`. Returns (significand, its ulp exponent, inexact).
fn round_mag(
    m: u64,
    e: i32,
    t: i8,
    p: u32,
    emin: i32,
    up: impl Fn(u64, Part) -> bool,
) -> (u64, i32, bool) {
    let top = e + 63 - m.leading_zeros() as i32;
    let q = (top - (p as i32 - 1)).max(emin);
    let shift = q - e;
    let (kept, rem, half) = if shift <= 0 {
        (m << -shift, 0, 1)
    } else if shift >= 64 {
        (0, m, u64::MAX)
    } else {
        (m >> shift, m & ((1 << shift) - 1), 1 << (shift - 1))
    };
    let (mut lower, mut q, part) = if rem == 0 && t == 0 {
        (kept, q, Part::Exact)
    } else if rem == 0 && t < 0 {
        // Just below a representable value: its lower neighbour, one finer below a power of two.
        if kept == 1 << (p - 1) && q > emin {
            ((1 << p) - 1, q - 1, Part::Above)
        } else {
            (kept - 1, q, Part::Above)
        }
    } else if rem == 0 || rem < half || (rem == half && t < 0) {
        (kept, q, Part::Below)
    } else if rem > half || t > 0 {
        (kept, q, Part::Above)
    } else {
        (kept, q, Part::Half)
    };
    if up(lower, part) {
        lower += 1;
        if lower == 1 << p {
            lower >>= 1;
            q += 1;
        }
    }
    (lower, q, part != Part::Exact)
}

/// Rounds `hi·2^scale` + (a tail of sign `t`) to `fmt` under `mx`, adding OE/UE/PE to `fl`.
/// `hi` is finite and nonzero.
fn round(fmt: Fmt, hi: f64, scale: i32, t: i8, mx: u32, fl: &mut u32) -> u64 {
    let bits = hi.to_bits();
    let neg = bits >> 63 != 0;
    let be = ((bits >> 52) & 0x7ff) as i32;
    let frac = bits & ((1 << 52) - 1);
    let (m, e) = if be == 0 {
        (frac, -1074 + scale)
    } else {
        (frac | 1 << 52, be - 1075 + scale)
    };
    let t = if neg { -t } else { t };
    let rc = (mx >> 13) & 3;
    let up = |lower: u64, part: Part| match rc {
        0 => part == Part::Above || (part == Part::Half && lower & 1 == 1),
        1 => neg && part != Part::Exact,
        2 => !neg && part != Part::Exact,
        _ => false,
    };
    let (p, emin) = (fmt.p, fmt.emin());
    let (k, q, inexact) = round_mag(m, e, t, p, emin, up);
    let sign = neg as u64 * fmt.sign();
    if q > (1 << (fmt.ebits - 1)) - p as i32 {
        *fl |= OE | PE;
        let to_inf = match rc {
            0 => true,
            1 => neg,
            2 => !neg,
            _ => false,
        };
        return sign | if to_inf { fmt.inf() } else { fmt.inf() - 1 };
    }
    // Tininess after rounding: the result rounded with an unbounded exponent is below normal.
    let tiny = q <= emin && round_mag(m, e, t, p, i32::MIN / 2, up).1 < emin;
    if tiny && mx & FTZ != 0 {
        *fl |= UE | PE;
        return sign;
    }
    if inexact {
        *fl |= PE | if tiny { UE } else { 0 };
    }
    sign | ((((q - emin) as u64) << (p - 1)) + k)
}

/// Checks NaN operands: returns the propagated (quieted) NaN, raising IE for a signalling one.
fn nan_operand(fmt: Fmt, a: Option<u64>, b: u64, fl: &mut u32) -> Option<u64> {
    let snan = |v: u64| fmt.is_nan(v) && v & fmt.quiet() == 0;
    if a.is_some_and(snan) || snan(b) {
        *fl |= IE;
    }
    match a {
        Some(a) if fmt.is_nan(a) => Some(a | fmt.quiet()),
        _ if fmt.is_nan(b) => Some(b | fmt.quiet()),
        _ => None,
    }
}

/// `a op b` (or `sqrt b`) in `fmt` bit patterns with x86 NaN rules, MXCSR rounding and flags.
pub(super) fn arith(fmt: Fmt, op: Op, a: u64, b: u64, mx: u32, fl: &mut u32) -> u64 {
    let (a, b) = (daz(fmt, a, mx), daz(fmt, b, mx));
    let a = (op != Op::Sqrt).then_some(a);
    if let Some(n) = nan_operand(fmt, a, b, fl) {
        return n;
    }
    // A denormal operand raises DE, except when ZE (division by zero) or IE (square root of a
    // negative denormal) takes precedence.
    let zero_divisor = op == Op::Div && b & !fmt.sign() == 0;
    let negative_root = op == Op::Sqrt && b & fmt.sign() != 0;
    let denormal = a.is_some_and(|a| fmt.is_denormal(a)) || fmt.is_denormal(b);
    if denormal && !zero_divisor && !negative_root {
        *fl |= DE;
    }
    let x = fmt.to_f64(a.unwrap_or(0));
    let y = fmt.to_f64(b);
    if let Some(r) = fast(fmt, op, x, y, mx, denormal) {
        return r;
    }
    let invalid = |fl: &mut u32| {
        *fl |= IE;
        fmt.default_nan()
    };
    let xor = x.is_sign_negative() != y.is_sign_negative();
    let (hi, scale, t) = match op {
        Op::Add | Op::Sub => {
            let y = if op == Op::Sub { -y } else { y };
            if x.is_infinite() || y.is_infinite() {
                if x.is_infinite() && y.is_infinite() && x != y {
                    return invalid(fl);
                }
                let inf = if x.is_infinite() { x } else { y };
                return fmt.special(inf < 0.0, true);
            }
            // An overflowing sum is redone on quartered operands (then both are large: exact).
            let (x, y, scale) = if (x + y).is_infinite() {
                (x / 4.0, y / 4.0, 2)
            } else {
                (x, y, 0)
            };
            let s = x + y;
            let bb = s - x;
            let err = (x - (s - bb)) + (y - bb);
            if s == 0.0 {
                let neg = if x == 0.0 && y == 0.0 && x.is_sign_negative() == y.is_sign_negative() {
                    x.is_sign_negative()
                } else {
                    (mx >> 13) & 3 == 1
                };
                return fmt.special(neg, false);
            }
            (s, scale, sign_of(err))
        }
        Op::Mul => {
            if (x.is_infinite() && y == 0.0) || (x == 0.0 && y.is_infinite()) {
                return invalid(fl);
            }
            if x.is_infinite() || y.is_infinite() || x == 0.0 || y == 0.0 {
                return fmt.special(xor, x.is_infinite() || y.is_infinite());
            }
            let ((ma, ex), (my, ey)) = (split(x), split(y));
            let hi = ma * my;
            (hi, ex + ey, sign_of(libm::fma(ma, my, -hi)))
        }
        Op::Div => {
            if (x == 0.0 && y == 0.0) || (x.is_infinite() && y.is_infinite()) {
                return invalid(fl);
            }
            if y == 0.0 && x.is_finite() {
                *fl |= ZE;
                return fmt.special(xor, true);
            }
            if x.is_infinite() || y.is_infinite() || x == 0.0 {
                return fmt.special(xor, x.is_infinite());
            }
            let ((ma, ex), (my, ey)) = (split(x), split(y));
            let hi = ma / my;
            let r = libm::fma(-hi, my, ma);
            (hi, ex - ey, sign_of(r) * sign_of(my))
        }
        _ => {
            if y == 0.0 {
                return b;
            }
            if y < 0.0 {
                return invalid(fl);
            }
            if y.is_infinite() {
                return b;
            }
            let (mut m, mut e) = split(y);
            if e & 1 != 0 {
                m *= 2.0;
                e -= 1;
            }
            let hi = libm::sqrt(m);
            (hi, e / 2, sign_of(libm::fma(-hi, hi, m)))
        }
    };
    round(fmt, hi, scale, t, mx, fl)
}

/// The common case without the exact path: round to nearest with PE already set, no DAZ/FTZ,
/// no denormal operand, and a finite host result above the smallest normal (so no OE, UE, IE or
/// ZE can arise, and the host's round-to-nearest result is the answer).
fn fast(fmt: Fmt, op: Op, x: f64, y: f64, mx: u32, denormal: bool) -> Option<u64> {
    if mx & (0x6000 | DAZ | FTZ | PE) != PE || denormal {
        return None;
    }
    let r = if fmt.p == 53 {
        match op {
            Op::Add => x + y,
            Op::Sub => x - y,
            Op::Mul => x * y,
            Op::Div => x / y,
            _ => libm::sqrt(y),
        }
        .to_bits()
    } else {
        let (x, y) = (x as f32, y as f32);
        match op {
            Op::Add => x + y,
            Op::Sub => x - y,
            Op::Mul => x * y,
            Op::Div => x / y,
            _ => libm::sqrtf(y),
        }
        .to_bits() as u64
    };
    // Above the smallest normal: a result rounded up to it may be tiny (UE).
    let mag = r & !fmt.sign();
    (mag > 1 << (fmt.p - 1) && mag < fmt.inf()).then_some(r)
}

/// f64 bits to `F32` (cvtsd2ss/cvtpd2ps): NaNs keep their payload, quieted.
pub(super) fn f64_to_f32(v: u64, mx: u32, fl: &mut u32) -> u32 {
    let v = daz(F64, v, mx);
    let f = f64::from_bits(v);
    if f.is_nan() {
        if v & F64.quiet() == 0 {
            *fl |= IE;
        }
        let sign = ((v >> 63) as u32) << 31;
        return sign | 0x7fc0_0000 | ((v >> 29) as u32 & 0x3f_ffff);
    }
    if F64.is_denormal(v) {
        *fl |= DE;
    }
    if f == 0.0 || f.is_infinite() {
        return (f as f32).to_bits();
    }
    round(F32, f, 0, 0, mx, fl) as u32
}

/// A signed integer to `fmt` (cvtsi2sd/ss, cvtdq2ps) under the MXCSR rounding field.
pub(super) fn from_int(fmt: Fmt, i: i64, mx: u32, fl: &mut u32) -> u64 {
    if i == 0 {
        return 0;
    }
    let hi = i as f64;
    let t = (i as i128 - hi as i128).signum() as i8;
    round(fmt, hi, 0, t, mx, fl)
}

//! SSE/SSE2/SSE3 floating point: add/sub/mul/div/min/max/sqrt in ss/sd/ps/pd forms, the
//! compares (ucomis/comis, cmpps/pd/ss/sd), haddps/pd and addsubps/pd, roundss/sd/ps/pd,
//! insertps/extractps, the conversions, and ldmxcsr/stmxcsr.
//!
//! NaN results follow x86 rather than the host: a NaN operand propagates (the first one if both
//! are NaN) quieted, and an invalid operation gives the negative "default NaN". Float-to-integer
//! overflow gives the "integer indefinite" value. Arithmetic and conversions honour MXCSR rounding,
//! DAZ and FTZ and raise its exception flags (`sse_round`); min/max, compares and round* raise
//! IE/DE/PE as the hardware does.

use iced_x86::Mnemonic as M;

use super::flags::{CF, PF, ZF};
use super::operand::{Ctx, Step};
use super::sse_round::{self as sr, DAZ, DE, F32, F64, Fmt, IE, PE};
use super::{sse_approx, system};

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Min,
    Max,
    Sqrt,
}

/// One float width: bit patterns in u64 lanes.
trait Fp: Copy {
    const BITS: u32;
    const FMT: Fmt;
    const QUIET: u64;
    fn from(v: u64) -> Self;
    fn is_nan(self) -> bool;
    fn lt(a: Self, b: Self) -> bool;
    fn eq(a: Self, b: Self) -> bool;
}

impl Fp for f64 {
    const BITS: u32 = 64;
    const FMT: Fmt = F64;
    const QUIET: u64 = 1 << 51;
    fn from(v: u64) -> Self {
        f64::from_bits(v)
    }
    fn is_nan(self) -> bool {
        self.is_nan()
    }
    fn lt(a: f64, b: f64) -> bool {
        a < b
    }
    fn eq(a: f64, b: f64) -> bool {
        a == b
    }
}

impl Fp for f32 {
    const BITS: u32 = 32;
    const FMT: Fmt = F32;
    const QUIET: u64 = 1 << 22;
    fn from(v: u64) -> Self {
        f32::from_bits(v as u32)
    }
    fn is_nan(self) -> bool {
        self.is_nan()
    }
    fn lt(a: f32, b: f32) -> bool {
        a < b
    }
    fn eq(a: f32, b: f32) -> bool {
        a == b
    }
}

/// `a op b` on bit patterns with x86 NaN rules under MXCSR `mx`, adding exception flags to `fl`.
fn calc<F: Fp>(op: Op, a: u64, b: u64, mx: u32, fl: &mut u32) -> u64 {
    match op {
        Op::Min | Op::Max => {
            let (a, b) = sr::screen(F::FMT, a, b, true, mx, fl);
            let (x, y) = (F::from(a), F::from(b));
            let pick_a = if op == Op::Min {
                F::lt(x, y)
            } else {
                F::lt(y, x)
            };
            if pick_a { a } else { b }
        }
        _ => sr::arith(F::FMT, op, a, b, mx, fl),
    }
}

fn lanes<F: Fp>(a: u128, b: u128, scalar: bool, mut f: impl FnMut(u64, u64) -> u64) -> u128 {
    let bits = F::BITS;
    let m = if bits == 64 { u64::MAX } else { 0xffff_ffff };
    let n = if scalar { 1 } else { 128 / bits };
    let mut r = a;
    for k in 0..n {
        let (x, y) = ((a >> (k * bits)) as u64 & m, (b >> (k * bits)) as u64 & m);
        let lm = (m as u128) << (k * bits);
        r = (r & !lm) | ((f(x, y) & m) as u128) << (k * bits);
    }
    r
}

fn arith_op(m: M) -> Option<(Op, u32, bool)> {
    use M::*;
    Some(match m {
        Addss => (Op::Add, 32, true),
        Addsd => (Op::Add, 64, true),
        Addps => (Op::Add, 32, false),
        Addpd => (Op::Add, 64, false),
        Subss => (Op::Sub, 32, true),
        Subsd => (Op::Sub, 64, true),
        Subps => (Op::Sub, 32, false),
        Subpd => (Op::Sub, 64, false),
        Mulss => (Op::Mul, 32, true),
        Mulsd => (Op::Mul, 64, true),
        Mulps => (Op::Mul, 32, false),
        Mulpd => (Op::Mul, 64, false),
        Divss => (Op::Div, 32, true),
        Divsd => (Op::Div, 64, true),
        Divps => (Op::Div, 32, false),
        Divpd => (Op::Div, 64, false),
        Minss => (Op::Min, 32, true),
        Minsd => (Op::Min, 64, true),
        Minps => (Op::Min, 32, false),
        Minpd => (Op::Min, 64, false),
        Maxss => (Op::Max, 32, true),
        Maxsd => (Op::Max, 64, true),
        Maxps => (Op::Max, 32, false),
        Maxpd => (Op::Max, 64, false),
        Sqrtss => (Op::Sqrt, 32, true),
        Sqrtsd => (Op::Sqrt, 64, true),
        Sqrtps => (Op::Sqrt, 32, false),
        Sqrtpd => (Op::Sqrt, 64, false),
        _ => return None,
    })
}

pub(crate) fn exec(c: &mut Ctx, m: M) -> Step {
    if let Some((op, bits, scalar)) = arith_op(m) {
        let b = c.xread(1)?;
        let d = c.x0();
        let a = c.cpu.xmm[d];
        let (mx, mut fl) = (c.cpu.mxcsr, 0);
        c.cpu.xmm[d] = if bits == 64 {
            lanes::<f64>(a, b, scalar, |x, y| calc::<f64>(op, x, y, mx, &mut fl))
        } else {
            lanes::<f32>(a, b, scalar, |x, y| calc::<f32>(op, x, y, mx, &mut fl))
        };
        c.cpu.mxcsr |= fl;
        return Ok(());
    }
    match m {
        M::Ucomiss | M::Comiss | M::Ucomisd | M::Comisd => {
            let b = c.xread(1)? as u64;
            let a = c.cpu.xmm[c.x0()] as u64;
            let signalling = matches!(m, M::Comiss | M::Comisd);
            let mut fl = 0;
            let (lt, eq, un) = if matches!(m, M::Ucomisd | M::Comisd) {
                let (a, b) = sr::screen(F64, a, b, signalling, c.cpu.mxcsr, &mut fl);
                let (x, y) = (f64::from_bits(a), f64::from_bits(b));
                (x < y, x == y, x.is_nan() || y.is_nan())
            } else {
                let (a, b) = (a & 0xffff_ffff, b & 0xffff_ffff);
                let (a, b) = sr::screen(F32, a, b, signalling, c.cpu.mxcsr, &mut fl);
                let (x, y) = (f32::from_bits(a as u32), f32::from_bits(b as u32));
                (x < y, x == y, x.is_nan() || y.is_nan())
            };
            c.cpu.mxcsr |= fl;
            let f = if un {
                ZF | PF | CF
            } else {
                ((eq as u64) * ZF) | ((lt as u64) * CF)
            };
            c.cpu.flags.set_arith(f);
            Ok(())
        }
        M::Cmpss | M::Cmpsd | M::Cmpps | M::Cmppd => {
            let b = c.xread(1)?;
            let d = c.x0();
            let a = c.cpu.xmm[d];
            let p = c.ins.immediate(2) as u32 & 7;
            let scalar = matches!(m, M::Cmpss | M::Cmpsd);
            let (mx, mut fl) = (c.cpu.mxcsr, 0);
            c.cpu.xmm[d] = if matches!(m, M::Cmpsd | M::Cmppd) {
                lanes::<f64>(a, b, scalar, |x, y| cmp::<f64>(p, x, y, mx, &mut fl))
            } else {
                lanes::<f32>(a, b, scalar, |x, y| cmp::<f32>(p, x, y, mx, &mut fl))
            };
            c.cpu.mxcsr |= fl;
            Ok(())
        }
        M::Haddps | M::Haddpd | M::Hsubps | M::Hsubpd | M::Addsubps | M::Addsubpd => {
            let b = c.xread(1)?;
            let d = c.x0();
            let a = c.cpu.xmm[d];
            let mut fl = 0;
            c.cpu.xmm[d] = horizontal(m, a, b, c.cpu.mxcsr, &mut fl);
            c.cpu.mxcsr |= fl;
            Ok(())
        }
        M::Rcpps | M::Rcpss | M::Rsqrtps | M::Rsqrtss => sse_approx::exec(c, m),
        M::Dpps | M::Dppd => {
            let b = c.xread(1)?;
            let d = c.x0();
            let mut fl = 0;
            let imm = c.ins.immediate(2) as u32;
            c.cpu.xmm[d] = dot(m == M::Dppd, c.cpu.xmm[d], b, imm, c.cpu.mxcsr, &mut fl);
            c.cpu.mxcsr |= fl;
            Ok(())
        }
        M::Roundss | M::Roundsd | M::Roundps | M::Roundpd => {
            let b = c.xread(1)?;
            let d = c.x0();
            let a = c.cpu.xmm[d];
            let i = c.ins.immediate(2) as u32;
            let rc = if i & 4 != 0 {
                (c.cpu.mxcsr >> 13) & 3
            } else {
                i & 3
            };
            let scalar = matches!(m, M::Roundss | M::Roundsd);
            let (mx, mut fl) = (c.cpu.mxcsr, 0);
            c.cpu.xmm[d] = if matches!(m, M::Roundsd | M::Roundpd) {
                lanes::<f64>(a, b, scalar, |_, y| round_bits::<f64>(y, rc, mx, &mut fl))
            } else {
                lanes::<f32>(a, b, scalar, |_, y| round_bits::<f32>(y, rc, mx, &mut fl))
            };
            // imm8 bit 3 suppresses the precision exception.
            c.cpu.mxcsr |= if i & 8 != 0 { fl & !PE } else { fl };
            Ok(())
        }
        M::Insertps => {
            let b = c.xread(1)?;
            let i = c.ins.immediate(2) as u32;
            let src = if c.is_mem(1) {
                b as u32
            } else {
                (b >> (32 * ((i >> 6) & 3))) as u32
            };
            let d = c.x0();
            let dst = (i >> 4) & 3;
            let mut r =
                (c.cpu.xmm[d] & !(0xffff_ffffu128 << (32 * dst))) | (src as u128) << (32 * dst);
            for k in 0..4 {
                if (i >> k) & 1 != 0 {
                    r &= !(0xffff_ffffu128 << (32 * k));
                }
            }
            c.cpu.xmm[d] = r;
            Ok(())
        }
        M::Extractps => {
            let s = c.xread(1)?;
            let k = c.ins.immediate(2) as u32 & 3;
            let v = (s >> (32 * k)) as u32 as u64;
            if c.is_mem(0) {
                c.write_mem(c.ea(), 4, v)
            } else {
                c.write_op(0, v)
            }
        }
        M::Ldmxcsr => {
            let v = c.read_op(0)?;
            c.cpu.mxcsr = v as u32 & 0xffff;
            Ok(())
        }
        M::Stmxcsr => c.write_op(0, c.cpu.mxcsr as u64),
        M::Cvtsi2sd
        | M::Cvtsi2ss
        | M::Cvttsd2si
        | M::Cvtsd2si
        | M::Cvttss2si
        | M::Cvtss2si
        | M::Cvtsd2ss
        | M::Cvtss2sd
        | M::Cvtps2pd
        | M::Cvtpd2ps
        | M::Cvtdq2pd
        | M::Cvtdq2ps
        | M::Cvttps2dq
        | M::Cvtps2dq
        | M::Cvttpd2dq
        | M::Cvtpd2dq
        | M::Cvtpi2ps
        | M::Cvtpi2pd
        | M::Cvtps2pi
        | M::Cvttps2pi
        | M::Cvtpd2pi
        | M::Cvttpd2pi => convert(c, m),
        _ => system::exec(c, m),
    }
}

/// cmpps/pd/ss/sd predicate `p` (eq, lt, le, unord, neq, nlt, nle, ord); the ordered ones
/// signal on any NaN.
fn cmp<F: Fp>(p: u32, a: u64, b: u64, mx: u32, fl: &mut u32) -> u64 {
    let signalling = matches!(p, 1 | 2 | 5 | 6);
    let (a, b) = sr::screen(F::FMT, a, b, signalling, mx, fl);
    let (x, y) = (F::from(a), F::from(b));
    let un = x.is_nan() || y.is_nan();
    let r = match p {
        0 => F::eq(x, y),
        1 => F::lt(x, y),
        2 => F::lt(x, y) || F::eq(x, y),
        3 => un,
        4 => !F::eq(x, y),
        5 => !F::lt(x, y),
        6 => !(F::lt(x, y) || F::eq(x, y)),
        _ => !un,
    };
    if r { u64::MAX } else { 0 }
}

fn horizontal(m: M, a: u128, b: u128, mx: u32, fl: &mut u32) -> u128 {
    let f32l = |v: u128, k: u32| (v >> (32 * k)) as u64 & 0xffff_ffff;
    let f64l = |v: u128, k: u32| (v >> (64 * k)) as u64;
    let mut c32 = |op, x, y| calc::<f32>(op, x, y, mx, fl) as u128;
    match m {
        M::Haddps | M::Hsubps => {
            let op = if m == M::Haddps { Op::Add } else { Op::Sub };
            let mut h = |v: u128, k: u32| c32(op, f32l(v, 2 * k), f32l(v, 2 * k + 1));
            h(a, 0) | h(a, 1) << 32 | h(b, 0) << 64 | h(b, 1) << 96
        }
        M::Haddpd | M::Hsubpd => {
            let op = if m == M::Haddpd { Op::Add } else { Op::Sub };
            let mut h = |v: u128| calc::<f64>(op, f64l(v, 0), f64l(v, 1), mx, fl) as u128;
            h(a) | h(b) << 64
        }
        M::Addsubps => (0..4).fold(0u128, |r, k| {
            let op = if k % 2 == 0 { Op::Sub } else { Op::Add };
            r | c32(op, f32l(a, k), f32l(b, k)) << (32 * k)
        }),
        _ => {
            let lo = calc::<f64>(Op::Sub, f64l(a, 0), f64l(b, 0), mx, fl) as u128;
            lo | (calc::<f64>(Op::Add, f64l(a, 1), f64l(b, 1), mx, fl) as u128) << 64
        }
    }
}

/// dpps/dppd: the products selected by `imm`'s high nibble (+0.0 for the others), summed
/// pairwise as the SDM orders it (each step rounded per MXCSR), into the lanes its low bits
/// select (+0.0 elsewhere).
fn dot(pd: bool, a: u128, b: u128, imm: u32, mx: u32, fl: &mut u32) -> u128 {
    let (bits, n) = if pd { (64, 2) } else { (32, 4) };
    let lane = |v: u128, k: u32| (v >> (bits * k)) as u64 & lane_bits(bits);
    let mut f = |op, x, y| {
        if pd {
            calc::<f64>(op, x, y, mx, fl)
        } else {
            calc::<f32>(op, x, y, mx, fl)
        }
    };
    let mut t = [0u64; 4];
    for k in 0..n {
        if (imm >> (4 + k)) & 1 != 0 {
            t[k as usize] = f(Op::Mul, lane(a, k), lane(b, k));
        }
    }
    // Each lane sums in its own operand order, which decides the NaN that propagates (as
    // measured): u = swap_pairs(t) + t, then v = u + swap_halves(u).
    let (mut u, mut v) = ([0u64; 4], [0u64; 4]);
    if pd {
        v[0] = f(Op::Add, t[0], t[1]);
        v[1] = f(Op::Add, t[1], t[0]);
    } else {
        for k in 0..4 {
            u[k] = f(Op::Add, t[k ^ 1], t[k]);
        }
        for k in 0..4 {
            v[k] = f(Op::Add, u[k], u[k ^ 2]);
        }
    }
    (0..n).fold(0u128, |r, k| {
        if (imm >> k) & 1 != 0 {
            r | (v[k as usize] as u128) << (bits * k)
        } else {
            r
        }
    })
}

fn lane_bits(bits: u32) -> u64 {
    if bits == 64 { u64::MAX } else { 0xffff_ffff }
}

/// roundss/sd/ps/pd on one element: to an integral value with rounding control `rc`, NaNs
/// quieted (IE for a signalling one), PE when inexact, read under DAZ.
fn round_bits<F: Fp>(v: u64, rc: u32, mx: u32, fl: &mut u32) -> u64 {
    let (v, _) = sr::screen(F::FMT, v, 0, false, mx, &mut 0);
    let x = F::from(v);
    if x.is_nan() {
        if v & F::QUIET == 0 {
            *fl |= IE;
        }
        return v | F::QUIET;
    }
    let r = round_value::<F>(v, rc);
    if r != v {
        *fl |= PE;
    }
    r
}

fn round_value<F: Fp>(v: u64, rc: u32) -> u64 {
    if F::BITS == 64 {
        round(f64::from_bits(v), rc).to_bits()
    } else {
        let f = f32::from_bits(v as u32);
        let r = match rc {
            0 => libm::rintf(f),
            1 => libm::floorf(f),
            2 => libm::ceilf(f),
            _ => libm::truncf(f),
        };
        r.to_bits() as u64
    }
}

/// Rounds per the MXCSR rounding field (or truncates).
fn round(v: f64, rc: u32) -> f64 {
    match rc {
        0 => libm::rint(v),
        1 => libm::floor(v),
        2 => libm::ceil(v),
        _ => libm::trunc(v),
    }
}

/// A float to a signed integer of `bits` (32 or 64) bits; NaN or overflow is the indefinite value
/// (IE), an inexact result raises PE.
fn to_int(v: f64, bits: u32, rc: u32, fl: &mut u32) -> u64 {
    let indefinite = 1u64 << (bits - 1);
    if v.is_nan() {
        *fl |= IE;
        return indefinite;
    }
    let r = round(v, rc);
    let lim = (1u64 << (bits - 1)) as f64;
    if r >= lim || r < -lim {
        *fl |= IE;
        return indefinite;
    }
    if r != v {
        *fl |= PE;
    }
    (r as i64 as u64) & if bits == 64 { u64::MAX } else { 0xffff_ffff }
}

/// f32 bits to f64 (cvtss2sd/cvtps2pd): exact; a signalling NaN raises IE, a denormal DE.
fn f32_to_f64(v: u32, mx: u32, fl: &mut u32) -> u64 {
    let f = f32::from_bits(v);
    if f.is_nan() {
        if v & 0x40_0000 == 0 {
            *fl |= IE;
        }
        let sign = ((v >> 31) as u64) << 63;
        return sign | 0x7ff8_0000_0000_0000 | ((v as u64 & 0x3f_ffff) << 29);
    }
    if f.is_subnormal() {
        if mx & DAZ != 0 {
            return ((v >> 31) as u64) << 63;
        }
        *fl |= DE;
    }
    (f as f64).to_bits()
}

fn convert(c: &mut Ctx, m: M) -> Step {
    let mx = c.cpu.mxcsr;
    let rc = (mx >> 13) & 3;
    let src = c.xread(1)?;
    let low64 = u64::MAX as u128;
    let low32 = 0xffff_ffffu128;
    let mut fl = 0;
    match m {
        M::Cvtsi2sd | M::Cvtsi2ss => {
            let size = c.op_size(1);
            let i = if size == 8 {
                src as u64 as i64
            } else {
                src as u32 as i32 as i64
            };
            let d = c.x0();
            let x = c.cpu.xmm[d];
            c.cpu.xmm[d] = if m == M::Cvtsi2sd {
                (x & !low64) | sr::from_int(F64, i, mx, &mut fl) as u128
            } else {
                (x & !low32) | sr::from_int(F32, i, mx, &mut fl) as u128
            };
        }
        M::Cvttsd2si | M::Cvtsd2si | M::Cvttss2si | M::Cvtss2si => {
            let v = if matches!(m, M::Cvttsd2si | M::Cvtsd2si) {
                sr::operand(F64, src as u64, mx)
            } else {
                sr::operand(F32, src as u32 as u64, mx)
            };
            let rc = if matches!(m, M::Cvttsd2si | M::Cvttss2si) {
                3
            } else {
                rc
            };
            let bits = c.op_size(0) * 8;
            c.write_op(0, to_int(v, bits, rc, &mut fl))?;
        }
        M::Cvtsd2ss | M::Cvtss2sd => {
            let d = c.x0();
            let x = c.cpu.xmm[d];
            c.cpu.xmm[d] = if m == M::Cvtsd2ss {
                (x & !low32) | sr::f64_to_f32(src as u64, mx, &mut fl) as u128
            } else {
                (x & !low64) | f32_to_f64(src as u32, mx, &mut fl) as u128
            };
        }
        M::Cvtps2pd => {
            let lo = f32_to_f64(src as u32, mx, &mut fl) as u128;
            c.xwrite(
                0,
                lo | (f32_to_f64((src >> 32) as u32, mx, &mut fl) as u128) << 64,
            )?;
        }
        M::Cvtpd2ps => {
            let lo = sr::f64_to_f32(src as u64, mx, &mut fl) as u128;
            let hi = sr::f64_to_f32((src >> 64) as u64, mx, &mut fl) as u128;
            c.xwrite(0, lo | hi << 32)?;
        }
        M::Cvtpi2ps => {
            let r = (0..2).fold(0u128, |r, k| {
                let i = (src >> (32 * k)) as u32 as i32 as i64;
                r | (sr::from_int(F32, i, mx, &mut fl) as u128) << (32 * k)
            });
            let d = c.x0();
            c.cpu.xmm[d] = (c.cpu.xmm[d] & !low64) | r;
        }
        M::Cvtdq2pd | M::Cvtpi2pd => {
            let r = ((src as u32 as i32) as f64).to_bits() as u128
                | ((((src >> 32) as u32 as i32) as f64).to_bits() as u128) << 64;
            c.xwrite(0, r)?;
        }
        M::Cvtdq2ps => {
            let r = (0..4).fold(0u128, |r, k| {
                let i = (src >> (32 * k)) as u32 as i32 as i64;
                r | (sr::from_int(F32, i, mx, &mut fl) as u128) << (32 * k)
            });
            c.xwrite(0, r)?;
        }
        M::Cvttps2dq | M::Cvtps2dq | M::Cvttps2pi | M::Cvtps2pi => {
            let rc = if matches!(m, M::Cvttps2dq | M::Cvttps2pi) {
                3
            } else {
                rc
            };
            let n = if matches!(m, M::Cvttps2dq | M::Cvtps2dq) {
                4
            } else {
                2
            };
            let r = (0..n).fold(0u128, |r, k| {
                let v = sr::operand(F32, (src >> (32 * k)) as u32 as u64, mx);
                r | (to_int(v, 32, rc, &mut fl) as u128) << (32 * k)
            });
            c.xwrite(0, r)?;
        }
        _ => {
            let rc = if matches!(m, M::Cvttpd2dq | M::Cvttpd2pi) {
                3
            } else {
                rc
            };
            let lo = to_int(sr::operand(F64, src as u64, mx), 32, rc, &mut fl) as u128;
            let hi = to_int(sr::operand(F64, (src >> 64) as u64, mx), 32, rc, &mut fl) as u128;
            c.xwrite(0, lo | hi << 32)?;
        }
    }
    c.cpu.mxcsr |= fl;
    Ok(())
}

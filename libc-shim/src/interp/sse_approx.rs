//! rcpps/rcpss/rsqrtps/rsqrtss: approximate reciprocals and reciprocal square roots.
//!
//! The SDM only bounds the result: relative error at most 1.5·2^-12; the exact values come from
//! implementation-specific tables. The interpreter returns the correctly rounded f32 value,
//! which is within the bound. Special values follow the SDM: a denormal source counts as 0
//! (whatever DAZ says), ±0 gives ±∞, ±∞ gives ±0, a NaN is returned quiet; rsqrt of a negative
//! non-zero value is the default NaN; rcp flushes a tiny result to 0 of the operand's sign. The
//! instructions ignore MXCSR's rounding and raise no exception flags.

use iced_x86::Mnemonic as M;

use super::operand::{Ctx, Step};

const SIGN: u32 = 0x8000_0000;
const INF: u32 = 0x7f80_0000;

/// The approximation of one f32 lane.
pub(crate) fn approx(v: u32, rsqrt: bool) -> u32 {
    let sign = v & SIGN;
    let mag = v & !SIGN;
    if mag > INF {
        return v | 0x40_0000;
    }
    if mag < 0x80_0000 {
        return sign | INF;
    }
    if rsqrt && sign != 0 {
        return 0xffc0_0000;
    }
    if mag == INF {
        return sign;
    }
    let x = f32::from_bits(mag) as f64;
    let r = if rsqrt { 1.0 / libm::sqrt(x) } else { 1.0 / x };
    // Tiny results (below the normal range) are flushed to 0.
    if r < f32::MIN_POSITIVE as f64 {
        return sign;
    }
    sign | (r as f32).to_bits()
}

pub(crate) fn exec(c: &mut Ctx, m: M) -> Step {
    let s = c.xread(1)?;
    let d = c.x0();
    let rsqrt = matches!(m, M::Rsqrtps | M::Rsqrtss);
    let lanes = if matches!(m, M::Rcpss | M::Rsqrtss) {
        1
    } else {
        4
    };
    let mut r = c.cpu.xmm[d];
    for k in 0..lanes {
        let lm = 0xffff_ffffu128 << (32 * k);
        let v = approx((s >> (32 * k)) as u32, rsqrt);
        r = (r & !lm) | (v as u128) << (32 * k);
    }
    c.cpu.xmm[d] = r;
    Ok(())
}

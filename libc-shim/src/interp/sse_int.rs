//! Packed-integer SSE2/SSSE3/SSE4.1: add/sub (wrapping and saturating), compares, min/max,
//! averages, multiplies, psadbw, shifts (per element and whole-register byte shifts), unpack and
//! pack, shuffles (pshufd/pshuflw/pshufhw/pshufb/palignr/shufps/shufpd), abs/sign, horizontal
//! adds and subtracts (wrapping and saturating), zero/sign extensions (pmovzx/pmovsx), blends,
//! phminposuw, mpsadbw and ptest.

use iced_x86::Mnemonic as M;

use super::flags::{CF, ZF};
use super::operand::{Ctx, Step};
use super::sse::lane_mask;
use super::sse_fp;

/// Lane `k` of `bits` bits.
#[inline]
fn lane(v: u128, bits: u32, k: u32) -> u64 {
    (v >> (k * bits)) as u64 & lane_mask(bits)
}

#[inline]
fn sx(v: u64, bits: u32) -> i64 {
    let sh = 64 - bits;
    ((v << sh) as i64) >> sh
}

/// Applies `f` lane by lane.
#[inline]
fn lanes(a: u128, b: u128, bits: u32, f: impl Fn(u64, u64) -> u64) -> u128 {
    let mut r = 0u128;
    for k in 0..128 / bits {
        r |= ((f(lane(a, bits, k), lane(b, bits, k)) & lane_mask(bits)) as u128) << (k * bits);
    }
    r
}

fn sat_s(v: i64, bits: u32) -> u64 {
    let (lo, hi) = (-(1i64 << (bits - 1)), (1i64 << (bits - 1)) - 1);
    v.clamp(lo, hi) as u64
}

fn sat_u(v: i64, bits: u32) -> u64 {
    v.clamp(0, lane_mask(bits) as i64) as u64
}

fn ones(c: bool) -> u64 {
    if c { u64::MAX } else { 0 }
}

/// Interleaves the low (or high) halves of `a` and `b`.
fn unpack(a: u128, b: u128, bits: u32, high: bool) -> u128 {
    let n = 64 / bits;
    let off = if high { n } else { 0 };
    let mut r = 0u128;
    for k in 0..n {
        r |= (lane(a, bits, k + off) as u128) << (2 * k * bits);
        r |= (lane(b, bits, k + off) as u128) << ((2 * k + 1) * bits);
    }
    r
}

/// Packs the `2*bits` lanes of `a` then `b` into `bits` lanes with saturation.
fn pack(a: u128, b: u128, bits: u32, signed: bool) -> u128 {
    let w = 2 * bits;
    let n = 128 / w;
    let mut r = 0u128;
    for (j, v) in [a, b].into_iter().enumerate() {
        for k in 0..n {
            let x = sx(lane(v, w, k), w);
            let s = if signed {
                sat_s(x, bits)
            } else {
                sat_u(x, bits)
            };
            r |= ((s & lane_mask(bits)) as u128) << ((j as u32 * n + k) * bits);
        }
    }
    r
}

/// Element shift with the count from an XMM/m128 (low 64 bits) or an immediate.
fn shift(a: u128, count: u64, bits: u32, kind: u8) -> u128 {
    lanes(a, 0, bits, |x, _| match kind {
        b'l' => {
            if count >= bits as u64 {
                0
            } else {
                x << count
            }
        }
        b'r' => {
            if count >= bits as u64 {
                0
            } else {
                x >> count
            }
        }
        _ => (sx(x, bits) >> count.min(bits as u64 - 1)) as u64,
    })
}

pub(crate) fn exec(c: &mut Ctx, m: M) -> Step {
    match m {
        M::Ptest => return ptest(c),
        M::Pshufd | M::Pshuflw | M::Pshufhw => return pshuf(c, m),
        _ if !is_int(m) => return sse_fp::exec(c, m),
        _ => {}
    }
    let b = c.xread(1)?;
    let d = c.x0();
    let imm = if c.ins.op_count() > 2 {
        c.ins.immediate(2)
    } else {
        0
    };
    match lanewise(m, c.cpu.xmm[d], b, imm, c.cpu.xmm[0]) {
        Some(r) => {
            c.cpu.xmm[d] = r;
            Ok(())
        }
        None => sse_fp::exec(c, m),
    }
}

/// The 128-bit result of packed-integer operation `m` on destination `a` and source `b` (a
/// shift count for the shifts), with immediate `imm` and xmm0 `sel` (the blendv selector);
/// `None` for a mnemonic this function does not handle. The MMX forms (`mmx`) reuse it.
pub(crate) fn lanewise(m: M, a: u128, b: u128, imm: u64, sel: u128) -> Option<u128> {
    Some(match m {
        M::Paddb => lanes(a, b, 8, u64::wrapping_add),
        M::Paddw => lanes(a, b, 16, u64::wrapping_add),
        M::Paddd => lanes(a, b, 32, u64::wrapping_add),
        M::Paddq => lanes(a, b, 64, u64::wrapping_add),
        M::Psubb => lanes(a, b, 8, u64::wrapping_sub),
        M::Psubw => lanes(a, b, 16, u64::wrapping_sub),
        M::Psubd => lanes(a, b, 32, u64::wrapping_sub),
        M::Psubq => lanes(a, b, 64, u64::wrapping_sub),
        M::Paddsb => lanes(a, b, 8, |x, y| sat_s(sx(x, 8) + sx(y, 8), 8)),
        M::Paddsw => lanes(a, b, 16, |x, y| sat_s(sx(x, 16) + sx(y, 16), 16)),
        M::Psubsb => lanes(a, b, 8, |x, y| sat_s(sx(x, 8) - sx(y, 8), 8)),
        M::Psubsw => lanes(a, b, 16, |x, y| sat_s(sx(x, 16) - sx(y, 16), 16)),
        M::Paddusb => lanes(a, b, 8, |x, y| sat_u((x + y) as i64, 8)),
        M::Paddusw => lanes(a, b, 16, |x, y| sat_u((x + y) as i64, 16)),
        M::Psubusb => lanes(a, b, 8, |x, y| x.saturating_sub(y)),
        M::Psubusw => lanes(a, b, 16, |x, y| x.saturating_sub(y)),
        M::Pcmpeqb => lanes(a, b, 8, |x, y| ones(x == y)),
        M::Pcmpeqw => lanes(a, b, 16, |x, y| ones(x == y)),
        M::Pcmpeqd => lanes(a, b, 32, |x, y| ones(x == y)),
        M::Pcmpeqq => lanes(a, b, 64, |x, y| ones(x == y)),
        M::Pcmpgtb => lanes(a, b, 8, |x, y| ones(sx(x, 8) > sx(y, 8))),
        M::Pcmpgtw => lanes(a, b, 16, |x, y| ones(sx(x, 16) > sx(y, 16))),
        M::Pcmpgtd => lanes(a, b, 32, |x, y| ones(sx(x, 32) > sx(y, 32))),
        M::Pcmpgtq => lanes(a, b, 64, |x, y| ones((x as i64) > (y as i64))),
        M::Pminub => lanes(a, b, 8, u64::min),
        M::Pmaxub => lanes(a, b, 8, u64::max),
        M::Pminuw => lanes(a, b, 16, u64::min),
        M::Pmaxuw => lanes(a, b, 16, u64::max),
        M::Pminud => lanes(a, b, 32, u64::min),
        M::Pmaxud => lanes(a, b, 32, u64::max),
        M::Pminsb => lanes(a, b, 8, |x, y| sx(x, 8).min(sx(y, 8)) as u64),
        M::Pmaxsb => lanes(a, b, 8, |x, y| sx(x, 8).max(sx(y, 8)) as u64),
        M::Pminsw => lanes(a, b, 16, |x, y| sx(x, 16).min(sx(y, 16)) as u64),
        M::Pmaxsw => lanes(a, b, 16, |x, y| sx(x, 16).max(sx(y, 16)) as u64),
        M::Pminsd => lanes(a, b, 32, |x, y| sx(x, 32).min(sx(y, 32)) as u64),
        M::Pmaxsd => lanes(a, b, 32, |x, y| sx(x, 32).max(sx(y, 32)) as u64),
        M::Pavgb => lanes(a, b, 8, |x, y| (x + y + 1) >> 1),
        M::Pavgw => lanes(a, b, 16, |x, y| (x + y + 1) >> 1),
        M::Pmullw => lanes(a, b, 16, u64::wrapping_mul),
        M::Pmulld => lanes(a, b, 32, u64::wrapping_mul),
        M::Pmulhw => lanes(a, b, 16, |x, y| ((sx(x, 16) * sx(y, 16)) >> 16) as u64),
        M::Pmulhuw => lanes(a, b, 16, |x, y| (x * y) >> 16),
        M::Pmuludq => lanes(a, b, 64, |x, y| (x & 0xffff_ffff) * (y & 0xffff_ffff)),
        M::Pmuldq => lanes(a, b, 64, |x, y| (sx(x, 32) * sx(y, 32)) as u64),
        M::Pmulhrsw => lanes(a, b, 16, |x, y| {
            ((((sx(x, 16) * sx(y, 16)) >> 14) + 1) >> 1) as u64
        }),
        M::Pmaddwd => lanes(a, b, 32, |x, y| {
            let p = |s: u32| sx(x >> s, 16) * sx(y >> s, 16);
            (p(0) + p(16)) as u64
        }),
        M::Pmaddubsw => lanes(a, b, 16, |x, y| {
            let p = |s: u32| ((x >> s) & 0xff) as i64 * sx(y >> s, 8);
            sat_s(p(0) + p(8), 16)
        }),
        M::Psadbw => lanes(a, b, 64, |x, y| {
            (0..8)
                .map(|k| ((x >> (8 * k)) as u8).abs_diff((y >> (8 * k)) as u8) as u64)
                .sum()
        }),
        M::Pabsb => lanes(b, 0, 8, |x, _| sx(x, 8).unsigned_abs()),
        M::Pabsw => lanes(b, 0, 16, |x, _| sx(x, 16).unsigned_abs()),
        M::Pabsd => lanes(b, 0, 32, |x, _| sx(x, 32).unsigned_abs()),
        M::Psignb | M::Psignw | M::Psignd => {
            let bits = match m {
                M::Psignb => 8,
                M::Psignw => 16,
                _ => 32,
            };
            lanes(a, b, bits, |x, y| match sx(y, bits).signum() {
                -1 => x.wrapping_neg(),
                0 => 0,
                _ => x,
            })
        }
        M::Psllw | M::Pslld | M::Psllq | M::Psrlw | M::Psrld | M::Psrlq | M::Psraw | M::Psrad => {
            let count = b as u64;
            let (bits, kind) = match m {
                M::Psllw => (16, b'l'),
                M::Pslld => (32, b'l'),
                M::Psllq => (64, b'l'),
                M::Psrlw => (16, b'r'),
                M::Psrld => (32, b'r'),
                M::Psrlq => (64, b'r'),
                M::Psraw => (16, b'a'),
                _ => (32, b'a'),
            };
            shift(a, count, bits, kind)
        }
        M::Pslldq => {
            let n = b as u32 & 0xff;
            if n > 15 { 0 } else { a << (8 * n) }
        }
        M::Psrldq => {
            let n = b as u32 & 0xff;
            if n > 15 { 0 } else { a >> (8 * n) }
        }
        M::Punpcklbw => unpack(a, b, 8, false),
        M::Punpcklwd => unpack(a, b, 16, false),
        M::Punpckldq | M::Unpcklps => unpack(a, b, 32, false),
        M::Punpcklqdq | M::Unpcklpd => unpack(a, b, 64, false),
        M::Punpckhbw => unpack(a, b, 8, true),
        M::Punpckhwd => unpack(a, b, 16, true),
        M::Punpckhdq | M::Unpckhps => unpack(a, b, 32, true),
        M::Punpckhqdq | M::Unpckhpd => unpack(a, b, 64, true),
        M::Packsswb => pack(a, b, 8, true),
        M::Packuswb => pack(a, b, 8, false),
        M::Packssdw => pack(a, b, 16, true),
        M::Packusdw => pack(a, b, 16, false),
        M::Pshufb => {
            let mut r = 0u128;
            for k in 0..16 {
                let i = lane(b, 8, k);
                if i & 0x80 == 0 {
                    r |= (lane(a, 8, i as u32 & 15) as u128) << (8 * k);
                }
            }
            r
        }
        M::Palignr => {
            let n = imm as u32 & 0xff;
            match n {
                0 => b,
                1..=15 => (b >> (8 * n)) | (a << (8 * (16 - n))),
                16 => a,
                17..=31 => a >> (8 * (n - 16)),
                _ => 0,
            }
        }
        M::Shufps => {
            let i = imm as u32;
            let w = |v: u128, s: u32| lane(v, 32, (i >> s) & 3) as u128;
            w(a, 0) | w(a, 2) << 32 | w(b, 4) << 64 | w(b, 6) << 96
        }
        M::Shufpd => {
            let i = imm as u32;
            lane(a, 64, i & 1) as u128 | (lane(b, 64, (i >> 1) & 1) as u128) << 64
        }
        M::Phaddw | M::Phaddd | M::Phsubw | M::Phsubd | M::Phaddsw | M::Phsubsw => {
            let bits = if matches!(m, M::Phaddd | M::Phsubd) {
                32
            } else {
                16
            };
            let sub = matches!(m, M::Phsubw | M::Phsubd | M::Phsubsw);
            let sat = matches!(m, M::Phaddsw | M::Phsubsw);
            let n = 128 / bits / 2;
            let mut r = 0u128;
            for (j, v) in [a, b].into_iter().enumerate() {
                for k in 0..n {
                    let (x, y) = (lane(v, bits, 2 * k), lane(v, bits, 2 * k + 1));
                    let s = match (sat, sub) {
                        (true, true) => sat_s(sx(x, bits) - sx(y, bits), bits),
                        (true, false) => sat_s(sx(x, bits) + sx(y, bits), bits),
                        (false, true) => x.wrapping_sub(y),
                        (false, false) => x.wrapping_add(y),
                    };
                    r |= ((s & lane_mask(bits)) as u128) << ((j as u32 * n + k) * bits);
                }
            }
            r
        }
        M::Pmovzxbw
        | M::Pmovzxbd
        | M::Pmovzxbq
        | M::Pmovzxwd
        | M::Pmovzxwq
        | M::Pmovzxdq
        | M::Pmovsxbw
        | M::Pmovsxbd
        | M::Pmovsxbq
        | M::Pmovsxwd
        | M::Pmovsxwq
        | M::Pmovsxdq => {
            let (from, to) = match m {
                M::Pmovzxbw | M::Pmovsxbw => (8, 16),
                M::Pmovzxbd | M::Pmovsxbd => (8, 32),
                M::Pmovzxbq | M::Pmovsxbq => (8, 64),
                M::Pmovzxwd | M::Pmovsxwd => (16, 32),
                M::Pmovzxwq | M::Pmovsxwq => (16, 64),
                _ => (32, 64),
            };
            let signed = matches!(
                m,
                M::Pmovsxbw | M::Pmovsxbd | M::Pmovsxbq | M::Pmovsxwd | M::Pmovsxwq | M::Pmovsxdq
            );
            let mut r = 0u128;
            for k in 0..128 / to {
                let x = lane(b, from, k);
                let x = if signed { sx(x, from) as u64 } else { x };
                r |= ((x & lane_mask(to)) as u128) << (k * to);
            }
            r
        }
        M::Phminposuw => {
            let (i, v) = (0..8)
                .map(|k| (k, lane(b, 16, k)))
                .min_by_key(|&(k, v)| (v, k))?;
            (i as u128) << 16 | v as u128
        }
        M::Mpsadbw => {
            let (oa, ob) = (4 * ((imm >> 2) & 1) as u32, 4 * (imm & 3) as u32);
            (0..8).fold(0u128, |r, i| {
                let s: u64 = (0..4)
                    .map(|j| lane(a, 8, oa + i + j).abs_diff(lane(b, 8, ob + j)))
                    .sum();
                r | (s as u128) << (16 * i)
            })
        }
        M::Pblendw | M::Blendps | M::Blendpd => {
            let bits = match m {
                M::Pblendw => 16,
                M::Blendps => 32,
                _ => 64,
            };
            let i = imm;
            let mut r = a;
            for k in 0..128 / bits {
                if (i >> k) & 1 != 0 {
                    let lm = (lane_mask(bits) as u128) << (k * bits);
                    r = (r & !lm) | (b & lm);
                }
            }
            r
        }
        M::Pblendvb | M::Blendvps | M::Blendvpd => {
            let bits = match m {
                M::Pblendvb => 8,
                M::Blendvps => 32,
                _ => 64,
            };
            let mut r = a;
            for k in 0..128 / bits {
                if (sel >> (k * bits + bits - 1)) & 1 != 0 {
                    let lm = (lane_mask(bits) as u128) << (k * bits);
                    r = (r & !lm) | (b & lm);
                }
            }
            r
        }
        _ => return None,
    })
}

/// Whether `m` is handled by the main match of [`exec`] (reads operand 1 as a vector).
fn is_int(m: M) -> bool {
    use M::*;
    matches!(
        m,
        Paddb
            | Paddw
            | Paddd
            | Paddq
            | Psubb
            | Psubw
            | Psubd
            | Psubq
            | Paddsb
            | Paddsw
            | Psubsb
            | Psubsw
            | Paddusb
            | Paddusw
            | Psubusb
            | Psubusw
            | Pcmpeqb
            | Pcmpeqw
            | Pcmpeqd
            | Pcmpeqq
            | Pcmpgtb
            | Pcmpgtw
            | Pcmpgtd
            | Pcmpgtq
            | Pminub
            | Pmaxub
            | Pminuw
            | Pmaxuw
            | Pminud
            | Pmaxud
            | Pminsb
            | Pmaxsb
            | Pminsw
            | Pmaxsw
            | Pminsd
            | Pmaxsd
            | Pavgb
            | Pavgw
            | Pmullw
            | Pmulld
            | Pmulhw
            | Pmulhuw
            | Pmuludq
            | Pmuldq
            | Pmulhrsw
            | Pmaddwd
            | Pmaddubsw
            | Psadbw
            | Pabsb
            | Pabsw
            | Pabsd
            | Psignb
            | Psignw
            | Psignd
            | Psllw
            | Pslld
            | Psllq
            | Psrlw
            | Psrld
            | Psrlq
            | Psraw
            | Psrad
            | Pslldq
            | Psrldq
            | Punpcklbw
            | Punpcklwd
            | Punpckldq
            | Unpcklps
            | Punpcklqdq
            | Unpcklpd
            | Punpckhbw
            | Punpckhwd
            | Punpckhdq
            | Unpckhps
            | Punpckhqdq
            | Unpckhpd
            | Packsswb
            | Packuswb
            | Packssdw
            | Packusdw
            | Pshufb
            | Palignr
            | Shufps
            | Shufpd
            | Phaddw
            | Phaddd
            | Phsubw
            | Phsubd
            | Phaddsw
            | Phsubsw
            | Pmovzxbw
            | Pmovzxbd
            | Pmovzxbq
            | Pmovzxwd
            | Pmovzxwq
            | Pmovzxdq
            | Pmovsxbw
            | Pmovsxbd
            | Pmovsxbq
            | Pmovsxwd
            | Pmovsxwq
            | Pmovsxdq
            | Phminposuw
            | Mpsadbw
            | Pblendw
            | Blendps
            | Blendpd
            | Pblendvb
            | Blendvps
            | Blendvpd
    )
}

/// pshufd/pshuflw/pshufhw: a dword or word permutation of the source by an immediate.
fn pshuf(c: &mut Ctx, m: M) -> Step {
    let s = c.xread(1)?;
    let i = c.ins.immediate(2) as u32;
    let r = match m {
        M::Pshufd => (0..4).fold(0u128, |r, k| {
            r | (lane(s, 32, (i >> (2 * k)) & 3) as u128) << (32 * k)
        }),
        M::Pshuflw => {
            let lo = (0..4).fold(0u128, |r, k| {
                r | (lane(s, 16, (i >> (2 * k)) & 3) as u128) << (16 * k)
            });
            (s & !(u64::MAX as u128)) | lo
        }
        _ => {
            let hi = (0..4).fold(0u128, |r, k| {
                r | (lane(s, 16, 4 + ((i >> (2 * k)) & 3)) as u128) << (16 * (k + 4))
            });
            (s & u64::MAX as u128) | hi
        }
    };
    c.xwrite(0, r)
}

/// ptest: ZF = (a & b) == 0, CF = (!a & b) == 0, the other arithmetic flags cleared.
fn ptest(c: &mut Ctx) -> Step {
    let b = c.xread(1)?;
    let a = c.cpu.xmm[c.x0()];
    let f = (((a & b) == 0) as u64 * ZF) | (((!a & b) == 0) as u64 * CF);
    c.cpu.flags.set_arith(f);
    Ok(())
}

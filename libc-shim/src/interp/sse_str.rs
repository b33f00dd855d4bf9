//! SSE4.2 string compares (pcmpistri/pcmpistrm/pcmpestri/pcmpestrm) and crc32 (CRC-32C).
//!
//! The immediate selects the element format (unsigned/signed bytes/words), the aggregation
//! (equal any, ranges, equal each, equal ordered), the polarity and the output (least/most
//! significant index in ecx, or a bit/element mask in xmm0). Lengths are implicit (up to the
//! first zero element) or explicit (|eax| and |edx|, saturated).

use iced_x86::Mnemonic as M;

use super::flags::{CF, OF, SF, ZF};
use super::operand::{Ctx, Step};

/// The element `k` of `v` (signed formats sign-extended).
fn elem(v: u128, k: u32, words: bool, signed: bool) -> i64 {
    if words {
        let x = (v >> (16 * k)) as u16;
        if signed { x as i16 as i64 } else { x as i64 }
    } else {
        let x = (v >> (8 * k)) as u8;
        if signed { x as i8 as i64 } else { x as i64 }
    }
}

fn implicit_len(v: u128, n: u32, words: bool) -> u32 {
    (0..n).find(|&k| elem(v, k, words, false) == 0).unwrap_or(n)
}

fn explicit_len(r: u64, wide: bool, n: u32) -> u32 {
    let v = if wide { r as i64 } else { r as i32 as i64 };
    v.unsigned_abs().min(n as u64) as u32
}

/// The polarity-adjusted result bits (IntRes2) for operands `a` (xmm1) and `b` (xmm2/m128).
fn compare(a: u128, b: u128, la: u32, lb: u32, imm: u32) -> u32 {
    let words = imm & 1 != 0;
    let signed = imm & 2 != 0;
    let n = if words { 8 } else { 16 };
    let ea = |i: u32| elem(a, i, words, signed);
    let eb = |j: u32| elem(b, j, words, signed);
    let mut res = 0u32;
    for j in 0..n {
        let bit = match (imm >> 2) & 3 {
            0 => j < lb && (0..la).any(|i| eb(j) == ea(i)),
            1 => j < lb && (0..la / 2).any(|k| eb(j) >= ea(2 * k) && eb(j) <= ea(2 * k + 1)),
            2 => match (j < la, j < lb) {
                (true, true) => ea(j) == eb(j),
                (false, false) => true,
                _ => false,
            },
            _ => (0..n - j).all(|k| {
                if k >= la {
                    true
                } else if j + k >= lb {
                    false
                } else {
                    eb(j + k) == ea(k)
                }
            }),
        };
        res |= (bit as u32) << j;
    }
    let all = (1u32 << n) - 1;
    match (imm >> 4) & 3 {
        1 => res ^ all,
        3 => res ^ ((1u32 << lb) - 1),
        _ => res,
    }
}

pub(crate) fn pcmpstr(c: &mut Ctx, m: M) -> Step {
    let b = c.xread(1)?;
    let a = c.cpu.xmm[c.x0()];
    let imm = c.ins.immediate(2) as u32;
    let words = imm & 1 != 0;
    let n = if words { 8 } else { 16 };
    let (la, lb) = if matches!(m, M::Pcmpistri | M::Pcmpistrm) {
        (implicit_len(a, n, words), implicit_len(b, n, words))
    } else {
        let wide = is_wide(c);
        (
            explicit_len(c.cpu.gpr[0], wide, n),
            explicit_len(c.cpu.gpr[2], wide, n),
        )
    };
    let r = compare(a, b, la, lb, imm);
    if matches!(m, M::Pcmpistri | M::Pcmpestri | M::Pcmpestri64) {
        let idx = if r == 0 {
            n
        } else if imm & 0x40 != 0 {
            31 - r.leading_zeros()
        } else {
            r.trailing_zeros()
        };
        c.cpu.gpr[1] = idx as u64;
    } else {
        c.cpu.xmm[0] = if imm & 0x40 == 0 {
            r as u128
        } else {
            let bits = if words { 16 } else { 8 };
            (0..n).fold(0u128, |v, k| {
                if (r >> k) & 1 != 0 {
                    v | ((1u128 << bits) - 1) << (k * bits)
                } else {
                    v
                }
            })
        };
    }
    let f = ((r != 0) as u64 * CF)
        | ((lb < n) as u64 * ZF)
        | ((la < n) as u64 * SF)
        | ((r & 1) as u64 * OF);
    c.cpu.flags.set_arith(f);
    Ok(())
}

/// REX.W on pcmpestri/pcmpestrm selects 64-bit lengths in rax/rdx.
fn is_wide(c: &Ctx) -> bool {
    matches!(
        c.ins.code(),
        iced_x86::Code::Pcmpestri64_xmm_xmmm128_imm8 | iced_x86::Code::Pcmpestrm64_xmm_xmmm128_imm8
    )
}

/// crc32 r32/r64, r/m8/16/32/64: CRC-32C of the source bytes, continuing from the destination.
pub(crate) fn crc32(c: &mut Ctx) -> Step {
    let size = c.op_size(1);
    let v = c.read_op(1)?;
    let mut crc = c.read_op(0)? as u32;
    for k in 0..size {
        crc ^= (v >> (8 * k)) as u8 as u32;
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0x82f6_3b78 & (crc & 1).wrapping_neg());
        }
    }
    c.write_op(0, crc as u64)
}

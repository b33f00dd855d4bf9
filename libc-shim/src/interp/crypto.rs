//! The cryptographic extensions on XMM registers: PCLMULQDQ, AES-NI (aesenc, aesenclast,
//! aesdec, aesdeclast, aesimc, aeskeygenassist), SHA (sha1rnds4, sha1nexte, sha1msg1,
//! sha1msg2, sha256rnds2, sha256msg1, sha256msg2) and GFNI (gf2p8mulb, gf2p8affineqb,
//! gf2p8affineinvqb, in AES's field), as the SDM's pseudocode defines them.
//!
//! The AES state is the register's 16 bytes in order, four bytes per column.

use iced_x86::Mnemonic as M;

use super::operand::{Ctx, Step};

/// Multiplication in GF(2^8) modulo x^8 + x^4 + x^3 + x + 1.
const fn gmul(mut a: u8, mut b: u8) -> u8 {
    let mut r = 0;
    while b != 0 {
        if b & 1 != 0 {
            r ^= a;
        }
        a = (a << 1) ^ if a & 0x80 != 0 { 0x1b } else { 0 };
        b >>= 1;
    }
    r
}

/// Multiplicative inverses in GF(2^8) (x^254; 0 for 0).
const fn inverses() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 1;
    while i < 256 {
        let mut inv = 1u8;
        let mut k = 0;
        while k < 254 {
            inv = gmul(inv, i as u8);
            k += 1;
        }
        t[i] = inv;
        i += 1;
    }
    t
}

/// The AES S-box: the multiplicative inverse then the affine map.
const fn sbox() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let x = GINV[i];
        t[i] = x ^ x.rotate_left(1) ^ x.rotate_left(2) ^ x.rotate_left(3) ^ x.rotate_left(4) ^ 0x63;
        i += 1;
    }
    t
}

const fn inverse(s: &[u8; 256]) -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[s[i] as usize] = i as u8;
        i += 1;
    }
    t
}

const GINV: [u8; 256] = inverses();
const SBOX: [u8; 256] = sbox();
const INV_SBOX: [u8; 256] = inverse(&SBOX);

fn bytes(v: u128) -> [u8; 16] {
    v.to_le_bytes()
}

/// ShiftRows (or its inverse) then SubBytes (or its inverse).
fn shift_sub(s: [u8; 16], inv: bool) -> [u8; 16] {
    let mut r = [0u8; 16];
    for col in 0..4 {
        for row in 0..4 {
            let from = if inv { col + 4 - row } else { col + row } % 4;
            let b = s[from * 4 + row];
            r[col * 4 + row] = if inv {
                INV_SBOX[b as usize]
            } else {
                SBOX[b as usize]
            };
        }
    }
    r
}

/// MixColumns with the coefficients of row 0 (`[2, 3, 1, 1]`, or `[14, 11, 13, 9]` inverted).
fn mix(s: [u8; 16], k: [u8; 4]) -> [u8; 16] {
    let mut r = [0u8; 16];
    for col in 0..4 {
        for row in 0..4 {
            r[col * 4 + row] =
                (0..4).fold(0, |acc, j| acc ^ gmul(k[(j + 4 - row) % 4], s[col * 4 + j]));
        }
    }
    r
}

const MIX: [u8; 4] = [2, 3, 1, 1];
const INV_MIX: [u8; 4] = [14, 11, 13, 9];

fn sub_word(w: u32) -> u32 {
    u32::from_le_bytes(w.to_le_bytes().map(|b| SBOX[b as usize]))
}

fn aes(m: M, a: u128, key: u128, imm: u64) -> u128 {
    let k = bytes(key);
    let s = match m {
        M::Aesenc => mix(shift_sub(bytes(a), false), MIX),
        M::Aesenclast => shift_sub(bytes(a), false),
        M::Aesdec => mix(shift_sub(bytes(a), true), INV_MIX),
        M::Aesdeclast => shift_sub(bytes(a), true),
        M::Aesimc => return u128::from_le_bytes(mix(k, INV_MIX)),
        _ => {
            let w = |i: u32| (key >> (32 * i)) as u32;
            let (x1, x3) = (sub_word(w(1)), sub_word(w(3)));
            let rcon = imm as u32 & 0xff;
            let r = [x1, x1.rotate_right(8) ^ rcon, x3, x3.rotate_right(8) ^ rcon];
            return r
                .iter()
                .enumerate()
                .fold(0, |v, (i, &d)| v | (d as u128) << (32 * i));
        }
    };
    u128::from_le_bytes(s) ^ key
}

/// gf2p8mulb, gf2p8affineqb and gf2p8affineinvqb: per byte of `a`; the affine forms take bit
/// `i` of each result byte as the parity of `x & matrix.byte[7 - i]` (the matrix is `b`'s
/// qword for that byte) XOR bit `i` of `imm`, with `x` inverted first for the inv form.
fn gfni(m: M, a: u128, b: u128, imm: u64) -> u128 {
    let (x, y) = (bytes(a), bytes(b));
    let mut r = [0u8; 16];
    for k in 0..16 {
        r[k] = if m == M::Gf2p8mulb {
            gmul(x[k], y[k])
        } else {
            let v = if m == M::Gf2p8affineinvqb {
                GINV[x[k] as usize]
            } else {
                x[k]
            };
            let row = |i: usize| y[(k & !7) + 7 - i];
            (0..8).fold(0u8, |acc, i| {
                acc | ((((row(i) & v).count_ones() & 1) as u8) ^ ((imm >> i) as u8 & 1)) << i
            })
        };
    }
    u128::from_le_bytes(r)
}

/// Carry-less multiplication of two 64-bit values.
fn clmul(a: u64, b: u64) -> u128 {
    (0..64)
        .filter(|i| (b >> i) & 1 != 0)
        .fold(0, |r, i| r ^ (a as u128) << i)
}

/// Dword `i` of `v` (0 is bits 31:0).
fn dw(v: u128, i: u32) -> u32 {
    (v >> (32 * i)) as u32
}

/// Builds a register from dwords, most significant (bits 127:96) first.
fn from_dw(d: [u32; 4]) -> u128 {
    d.iter().fold(0, |v, &x| v << 32 | x as u128)
}

fn sha1rnds4(a: u128, b: u128, imm: u64) -> u128 {
    let (f, k): (fn(u32, u32, u32) -> u32, u32) = match imm & 3 {
        0 => (|b, c, d| (b & c) ^ (!b & d), 0x5a82_7999),
        1 => (|b, c, d| b ^ c ^ d, 0x6ed9_eba1),
        2 => (|b, c, d| (b & c) ^ (b & d) ^ (c & d), 0x8f1b_bcdc),
        _ => (|b, c, d| b ^ c ^ d, 0xca62_c1d6),
    };
    let (mut sa, mut sb, mut sc, mut sd, mut se) = (dw(a, 3), dw(a, 2), dw(a, 1), dw(a, 0), 0u32);
    for i in 0..4 {
        let w = dw(b, 3 - i);
        let t = f(sb, sc, sd)
            .wrapping_add(sa.rotate_left(5))
            .wrapping_add(w)
            .wrapping_add(se)
            .wrapping_add(k);
        (se, sd, sc, sb, sa) = (sd, sc, sb.rotate_left(30), sa, t);
    }
    from_dw([sa, sb, sc, sd])
}

fn sha256rnds2(a: u128, b: u128, wk: u128) -> u128 {
    let (mut sa, mut sb, mut sc, mut sd) = (dw(b, 3), dw(b, 2), dw(a, 3), dw(a, 2));
    let (mut se, mut sf, mut sg, mut sh) = (dw(b, 1), dw(b, 0), dw(a, 1), dw(a, 0));
    for i in 0..2 {
        let s1 = se.rotate_right(6) ^ se.rotate_right(11) ^ se.rotate_right(25);
        let ch = (se & sf) ^ (!se & sg);
        let t1 = sh.wrapping_add(s1).wrapping_add(ch).wrapping_add(dw(wk, i));
        let s0 = sa.rotate_right(2) ^ sa.rotate_right(13) ^ sa.rotate_right(22);
        let maj = (sa & sb) ^ (sa & sc) ^ (sb & sc);
        (sh, sg, sf, se) = (sg, sf, se, sd.wrapping_add(t1));
        (sd, sc, sb, sa) = (sc, sb, sa, t1.wrapping_add(s0).wrapping_add(maj));
    }
    from_dw([sa, sb, se, sf])
}

fn sha(m: M, a: u128, b: u128, imm: u64, xmm0: u128) -> u128 {
    let s0 = |x: u32| x.rotate_right(7) ^ x.rotate_right(18) ^ (x >> 3);
    let s1 = |x: u32| x.rotate_right(17) ^ x.rotate_right(19) ^ (x >> 10);
    match m {
        M::Sha1rnds4 => sha1rnds4(a, b, imm),
        M::Sha1nexte => {
            let t = dw(a, 3).rotate_left(30);
            (b & !(0xffff_ffffu128 << 96)) | (dw(b, 3).wrapping_add(t) as u128) << 96
        }
        M::Sha1msg1 => from_dw([
            dw(a, 1) ^ dw(a, 3),
            dw(a, 0) ^ dw(a, 2),
            dw(b, 3) ^ dw(a, 1),
            dw(b, 2) ^ dw(a, 0),
        ]),
        M::Sha1msg2 => {
            let w16 = (dw(a, 3) ^ dw(b, 2)).rotate_left(1);
            let w17 = (dw(a, 2) ^ dw(b, 1)).rotate_left(1);
            let w18 = (dw(a, 1) ^ dw(b, 0)).rotate_left(1);
            let w19 = (dw(a, 0) ^ w16).rotate_left(1);
            from_dw([w16, w17, w18, w19])
        }
        M::Sha256rnds2 => sha256rnds2(a, b, xmm0),
        M::Sha256msg1 => from_dw([
            dw(a, 3).wrapping_add(s0(dw(b, 0))),
            dw(a, 2).wrapping_add(s0(dw(a, 3))),
            dw(a, 1).wrapping_add(s0(dw(a, 2))),
            dw(a, 0).wrapping_add(s0(dw(a, 1))),
        ]),
        _ => {
            let w16 = dw(a, 0).wrapping_add(s1(dw(b, 2)));
            let w17 = dw(a, 1).wrapping_add(s1(dw(b, 3)));
            let w18 = dw(a, 2).wrapping_add(s1(w16));
            let w19 = dw(a, 3).wrapping_add(s1(w17));
            from_dw([w19, w18, w17, w16])
        }
    }
}

/// Whether `m` is handled here.
pub(crate) fn handles(m: M) -> bool {
    matches!(
        m,
        M::Pclmulqdq
            | M::Aesenc
            | M::Aesenclast
            | M::Aesdec
            | M::Aesdeclast
            | M::Aesimc
            | M::Aeskeygenassist
            | M::Sha1rnds4
            | M::Sha1nexte
            | M::Sha1msg1
            | M::Sha1msg2
            | M::Sha256rnds2
            | M::Sha256msg1
            | M::Sha256msg2
            | M::Gf2p8mulb
            | M::Gf2p8affineqb
            | M::Gf2p8affineinvqb
    )
}

pub(crate) fn exec(c: &mut Ctx, m: M) -> Step {
    let b = c.xread(1)?;
    let d = c.x0();
    let a = c.cpu.xmm[d];
    let imm = if c.ins.op_count() > 2 && m != M::Sha256rnds2 {
        c.ins.immediate(2)
    } else {
        0
    };
    c.cpu.xmm[d] = match m {
        M::Pclmulqdq => {
            let half = |v: u128, bit: u64| (v >> if imm & bit != 0 { 64 } else { 0 }) as u64;
            clmul(half(a, 1), half(b, 0x10))
        }
        M::Aesenc | M::Aesenclast | M::Aesdec | M::Aesdeclast | M::Aesimc | M::Aeskeygenassist => {
            aes(m, a, b, imm)
        }
        M::Gf2p8mulb | M::Gf2p8affineqb | M::Gf2p8affineinvqb => gfni(m, a, b, imm),
        _ => sha(m, a, b, imm, c.cpu.xmm[0]),
    };
    Ok(())
}

//! Helpers of the x87 module: fprem/fprem1's remainder and the fxsave/fxrstor image.

use core::cmp::Ordering;

use super::super::Exit;
use super::super::f80::EXT;
use super::super::operand::{Ctx, Step};
use super::*;

/// Partial remainder of `x / y`: the remainder and the low three bits of the quotient, or `None`
/// for the quotient when the exponent difference is [`PREM_MAX`] or more: then, as the SDM
/// describes, `x` is only reduced by a multiple of `y * 2^(d - n)` (quotient chopped) and the
/// caller sets C2; the SDM's implementation-dependent `n` is `(d & 31) | 32` here (as Intel
/// hardware behaves in the generator's cases; Bochs uses the same). `nearest` rounds a complete
/// quotient to nearest (fprem1).
/// Exponent difference from which fprem/fprem1 reduce only partially.
const PREM_MAX: i32 = 64;

pub(super) fn prem(x: F80, y: F80, nearest: bool) -> (F80, Option<u64>) {
    if x.is_nan() || y.is_nan() {
        return (F80::add(x, y, EXT, 0), Some(0));
    }
    if x.is_inf() || y.is_zero() {
        return (F80::DEFAULT_NAN, Some(0));
    }
    if y.is_inf() || x.is_zero() {
        return (x, Some(0));
    }
    let (ex, mx) = x.norm();
    let (mut ey, my) = y.norm();
    let partial = ex - ey >= PREM_MAX;
    if partial {
        ey = ex - (((ex - ey) & 31) | 32);
    }
    let (r, mut q) = if ex < ey {
        (None, 0u64)
    } else {
        let mut d = (ex - ey) as u32;
        let mut r = (mx % my) as u128;
        let mut q = mx / my;
        while d > 0 {
            let k = d.min(64);
            let t = r << k;
            let shifted = if k >= 64 { 0 } else { q << k };
            q = shifted.wrapping_add((t / my as u128) as u64);
            r = t % my as u128;
            d -= k;
        }
        (Some(r as u64), q)
    };
    let ymag = y.abs();
    let mut out = match r {
        Some(v) => from_mag(x.sign(), v, ey),
        None => x,
    };
    if partial {
        return (out, None);
    }
    if nearest {
        let twice = F80::add(out.abs(), out.abs(), EXT, 0);
        let c = F80::cmp(twice, ymag);
        if c == Some(Ordering::Greater) || (c == Some(Ordering::Equal) && q & 1 != 0) {
            let adj = if x.sign() { ymag.neg() } else { ymag };
            out = F80::sub(out, adj, EXT, 0);
            q = q.wrapping_add(1);
        }
    }
    (out, Some(q & 7))
}

impl F80 {
    /// Unbiased exponent of the integer bit and the normalised significand.
    fn norm(self) -> (i32, u64) {
        let e = (self.se & 0x7fff) as i32;
        let (e, m) = if e == 0 { (1, self.m) } else { (e, self.m) };
        let lz = m.leading_zeros();
        (e - 16383 - lz as i32, m << lz)
    }
}

/// `±v * 2^(e - 63)` (exact unless it is below the denormal range).
fn from_mag(sign: bool, v: u64, e: i32) -> F80 {
    let s = (sign as u16) << 15;
    if v == 0 {
        return F80 { se: s, m: 0 };
    }
    let lz = v.leading_zeros();
    let biased = e - lz as i32 + 16383;
    if biased <= 0 {
        return F80 {
            se: s,
            m: (v << lz) >> (1 - biased).min(63),
        };
    }
    F80 {
        se: s | biased as u16,
        m: v << lz,
    }
}

/// fxsave: the 512-byte legacy area (FCW, FSW, abridged FTW, FIP, MXCSR, ST0-7, XMM0-15).
pub(super) fn fxsave(c: &mut Ctx) -> Step {
    let a = c.ea();
    if !a.is_multiple_of(16) {
        return Err(Exit::Fault {
            signal: 11,
            addr: 0,
            write: true,
        });
    }
    // Bytes 416..512 are reserved or available to software: the processor leaves them alone.
    let mut buf = [0u8; 416];
    let x = c.cpu.x87;
    buf[0..2].copy_from_slice(&x.control.to_le_bytes());
    let sw = (x.status & !0x3800) | (x.top as u16) << 11;
    buf[2..4].copy_from_slice(&sw.to_le_bytes());
    buf[4] = (0..8).fold(0u8, |t, p| t | (((x.tag >> (2 * p)) & 3 != 3) as u8) << p);
    // FIP (64 bits with REX.W, else 32 and a zero FCS); FOP, FDP and FDS are 0 (see `env`).
    let ip = if c.ins.mnemonic() == M::Fxsave64 {
        8
    } else {
        4
    };
    buf[8..8 + ip].copy_from_slice(&x.fip.to_le_bytes()[..ip]);
    buf[24..28].copy_from_slice(&c.cpu.mxcsr.to_le_bytes());
    buf[28..32].copy_from_slice(&0xffffu32.to_le_bytes());
    for i in 0..8 {
        let p = (x.top as usize + i) & 7;
        buf[32 + 16 * i..42 + 16 * i].copy_from_slice(&x.regs[p][..10]);
    }
    for i in 0..16 {
        buf[160 + 16 * i..176 + 16 * i].copy_from_slice(&c.cpu.xmm[i].to_le_bytes());
    }
    c.mem.write_bytes(a, buf)?;
    Ok(())
}

pub(super) fn fxrstor(c: &mut Ctx) -> Step {
    let a = c.ea();
    if !a.is_multiple_of(16) {
        return Err(Exit::Fault {
            signal: 11,
            addr: 0,
            write: false,
        });
    }
    let buf: [u8; 512] = c.mem.read_bytes(a, crate::mem::perm::READ)?;
    let x = &mut c.cpu.x87;
    x.control = u16::from_le_bytes([buf[0], buf[1]]);
    let sw = u16::from_le_bytes([buf[2], buf[3]]);
    x.status = sw & !0x3800;
    x.top = ((sw >> 11) & 7) as u8;
    let mut ip = [0u8; 8];
    let n = if c.ins.mnemonic() == M::Fxrstor64 {
        8
    } else {
        4
    };
    ip[..n].copy_from_slice(&buf[8..8 + n]);
    x.fip = u64::from_le_bytes(ip);
    for i in 0..8 {
        let p = (x.top as usize + i) & 7;
        x.regs[p][..10].copy_from_slice(&buf[32 + 16 * i..42 + 16 * i]);
    }
    let ftw = buf[4];
    for p in 0..8 {
        let t = if ftw >> p & 1 == 0 { 3 } else { 0 };
        x.tag = (x.tag & !(3 << (2 * p))) | t << (2 * p);
    }
    c.cpu.mxcsr = u32::from_le_bytes([buf[24], buf[25], buf[26], buf[27]]) & 0xffff;
    for i in 0..16 {
        let mut b = [0u8; 16];
        b.copy_from_slice(&buf[160 + 16 * i..176 + 16 * i]);
        c.cpu.xmm[i] = u128::from_le_bytes(b);
    }
    // Recompute the full tags of the valid registers.
    for i in 0..8 {
        let p = c.phys(i);
        if c.tag_of(p) != TAG_EMPTY {
            let v = c.st(i);
            c.set_st(i, v);
        }
    }
    Ok(())
}

//! fbld/fbstp: the 10-byte packed BCD integer (18 digits, two per byte from the least
//! significant, sign in bit 7 of byte 9).

use super::super::Exit;
use super::super::f80::F80;
use super::super::operand::{Ctx, Step};
use super::C1;

/// The packed BCD indefinite value fbstp stores for NaNs, infinities and values of 10^18 or
/// more (the masked invalid-operation response).
const INDEFINITE: [u8; 10] = [0, 0, 0, 0, 0, 0, 0, 0xc0, 0xff, 0xff];

const LIMIT: u64 = 1_000_000_000_000_000_000;

/// fbld: pushes the BCD integer (digits above 9 give an undefined result; here, their value).
pub(super) fn fbld(c: &mut Ctx) -> Step {
    let b: [u8; 10] = c.mem.read_bytes(c.ea(), crate::mem::perm::READ)?;
    let v = (0..9).rev().fold(0i64, |v, k| {
        v * 100 + (b[k] >> 4) as i64 * 10 + (b[k] & 15) as i64
    });
    let x = F80::from_i64(v);
    c.push_st(if b[9] >> 7 != 0 { x.neg() } else { x });
    Ok(())
}

/// fbstp: stores st(0) rounded to an integer per the control word as BCD, then pops; C1 is
/// set when the rounding went up in magnitude.
pub(super) fn fbstp(c: &mut Ctx) -> Step {
    let x = c.st(0);
    let rc = c.rc();
    let out = if x.is_nan() || x.is_inf() {
        None
    } else {
        x.to_int(64, rc)
            .filter(|v| v.unsigned_abs() < LIMIT)
            .map(|v| (v.unsigned_abs(), x.sign()))
    };
    let bytes = match out {
        None => INDEFINITE,
        Some((mut v, neg)) => {
            let mut b = [0u8; 10];
            for byte in b.iter_mut().take(9) {
                *byte = (v % 10) as u8 | ((v / 10 % 10) as u8) << 4;
                v /= 100;
            }
            b[9] = (neg as u8) << 7;
            b
        }
    };
    let a = c.ea();
    c.mem.write_bytes(a, bytes).map_err(Exit::from)?;
    let up = out.is_some() && {
        let (r, z) = (x.round_int(rc), x.round_int(3));
        (r.se & 0x7fff, r.m) > (z.se & 0x7fff, z.m)
    };
    c.cpu.x87.status = (c.cpu.x87.status & !C1) | (up as u16 * C1);
    c.pop_st();
    Ok(())
}

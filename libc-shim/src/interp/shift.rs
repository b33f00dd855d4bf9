//! Shifts and rotates: shl/sal/shr/sar, rol/ror, rcl/rcr and the double shifts shld/shrd. The
//! count is masked to 5 bits (6 for 64-bit operands); a masked count of 0 changes no flags.
//! Flags the manuals leave undefined (OF for counts above 1, AF) follow the common Intel
//! results: OF as for a count of 1, AF cleared.

use iced_x86::Mnemonic as M;

use super::flags::{CF, OF, mask, sext, sign_bit};
use super::operand::{Ctx, Step};

fn count(c: &Ctx, i: u32, size: u32) -> Result<u32, super::Exit> {
    let n = c.read_op(i)? as u32;
    Ok(n & if size == 8 { 63 } else { 31 })
}

pub(crate) fn shift(c: &mut Ctx, m: M) -> Step {
    let size = c.op_size(0);
    let bits = size * 8;
    let a = c.read_op(0)?;
    let n = if c.ins.op_count() > 1 {
        count(c, 1, size)?
    } else {
        1
    };
    if n == 0 {
        if !c.is_mem(0) {
            // A 32-bit register destination is still written (zero-extended).
            c.write_op(0, a)?;
        }
        return Ok(());
    }
    let msb = |v: u64| v & sign_bit(size) != 0;
    let m64 = mask(size);
    match m {
        M::Shl | M::Sal | M::Shr | M::Sar => {
            let (r, cf, of) = match m {
                M::Shr => {
                    let r = if n >= bits { 0 } else { a >> n };
                    let cf = n <= bits && (a >> (n - 1)) & 1 != 0;
                    (r, cf, msb(a))
                }
                M::Sar => {
                    let s = sext(a, size) as i64;
                    let r = (s >> n.min(63)) as u64 & m64;
                    let cf = (s >> (n - 1).min(63)) & 1 != 0;
                    (r, cf, false)
                }
                _ => {
                    let r = if n >= bits { 0 } else { (a << n) & m64 };
                    let cf = n <= bits && (a >> (bits - n)) & 1 != 0;
                    (r, cf, msb(r) != cf)
                }
            };
            c.write_op(0, r)?;
            c.cpu.flags.set_res(size, r, cf, of, false);
        }
        M::Rol | M::Ror => {
            let k = n % bits;
            let r = if k == 0 {
                a
            } else if m == M::Rol {
                ((a << k) | (a >> (bits - k))) & m64
            } else {
                ((a >> k) | (a << (bits - k))) & m64
            };
            let (cf, of) = if m == M::Rol {
                (r & 1 != 0, msb(r) != (r & 1 != 0))
            } else {
                (msb(r), msb(r) != msb(r << 1))
            };
            c.write_op(0, r)?;
            let bits = (cf as u64) | (of as u64) << 11;
            c.cpu.flags.update(CF | OF, bits);
        }
        _ => {
            // rcl/rcr rotate the (bits + 1)-bit value CF:dest.
            let w = bits + 1;
            let k = if size >= 4 { n } else { n % w };
            let cin = c.cpu.flags.cf();
            let v = (cin as u128) << bits | a as u128;
            let wm = (1u128 << w) - 1;
            let v2 = if k == 0 {
                v
            } else if m == M::Rcl {
                ((v << k) | (v >> (w - k))) & wm
            } else {
                ((v >> k) | (v << (w - k))) & wm
            };
            let r = v2 as u64 & m64;
            let cf = (v2 >> bits) & 1 != 0;
            let of = if m == M::Rcl {
                msb(r) != cf
            } else {
                msb(r) != msb(r << 1)
            };
            c.write_op(0, r)?;
            c.cpu.flags.update(CF | OF, (cf as u64) | (of as u64) << 11);
        }
    }
    Ok(())
}

/// shld/shrd: shifts the destination, filling from the source.
pub(crate) fn double(c: &mut Ctx, m: M) -> Step {
    let size = c.op_size(0);
    let bits = size * 8;
    let a = c.read_op(0)?;
    let b = c.read_op(1)?;
    let n = count(c, 2, size)?;
    if n == 0 {
        if !c.is_mem(0) {
            c.write_op(0, a)?;
        }
        return Ok(());
    }
    let msb = |v: u64| v & sign_bit(size) != 0;
    // 8/16/32-bit: shift the concatenation dest:src:dest, so counts above the width of a 16-bit
    // operand give Intel's results.
    let (r, cf) = match (m == M::Shld, size == 8) {
        (true, true) => ((a << n) | (b >> (64 - n)), (a >> (64 - n)) & 1 != 0),
        (false, true) => ((a >> n) | (b << (64 - n)), (a >> (n - 1)) & 1 != 0),
        (shld, false) => {
            let v = (a as u128) << (2 * bits) | (b as u128) << bits | a as u128;
            if shld {
                let r = (v >> (2 * bits - n)) as u64 & mask(size);
                (r, (v >> (3 * bits - n)) & 1 != 0)
            } else {
                ((v >> n) as u64 & mask(size), (v >> (n - 1)) & 1 != 0)
            }
        }
    };
    c.write_op(0, r)?;
    c.cpu.flags.set_res(size, r, cf, msb(r) != msb(a), false);
    Ok(())
}

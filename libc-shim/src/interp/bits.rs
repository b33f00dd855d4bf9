//! Bit operations: bt/bts/btr/btc (with the bit-string addressing of their memory forms),
//! bsf/bsr/tzcnt/lzcnt/popcnt, bswap, movbe, the BMI1 group (andn, bextr, blsi, blsmsk, blsr) and
//! the BMI2 group (bzhi, mulx, pdep, pext, rorx, sarx, shlx, shrx).

use iced_x86::{Mnemonic as M, OpKind, Register};

use super::flags::{CF, ZF, mask, sext};
use super::operand::{Ctx, Step};

/// bt/bts/btr/btc: CF = the selected bit, which bts/btr/btc then set, clear or flip. A register
/// bit offset on a memory operand addresses the whole bit string around the operand.
pub(crate) fn bt(c: &mut Ctx, m: M) -> Step {
    let size = c.op_size(0);
    let bits = size * 8;
    let off = c.read_op(1)?;
    let (addr, bit) = if c.is_mem(0) && c.ins.op_kind(1) == OpKind::Register {
        let off = sext(off, size) as i64;
        let shift = bits.trailing_zeros();
        let addr = c.ea().wrapping_add(((off >> shift) * size as i64) as u64);
        (Some(addr), (off as u64) & (bits as u64 - 1))
    } else {
        (c.is_mem(0).then(|| c.ea()), off & (bits as u64 - 1))
    };
    let v = match addr {
        Some(a) => c.read_mem(a, size)?,
        None => c.read_op(0)?,
    };
    let cf = (v >> bit) & 1 != 0;
    let nv = match m {
        M::Bts => v | 1 << bit,
        M::Btr => v & !(1 << bit),
        M::Btc => v ^ 1 << bit,
        _ => v,
    };
    if m != M::Bt {
        match addr {
            Some(a) => c.write_mem(a, size, nv)?,
            None => c.write_op(0, nv)?,
        }
    }
    c.cpu.flags.update(CF, cf as u64);
    Ok(())
}

/// bsf/bsr (a zero source sets ZF and leaves the destination unchanged), tzcnt/lzcnt (CF = zero
/// source, ZF = zero result) and popcnt (ZF = zero source, other flags cleared).
pub(crate) fn scan(c: &mut Ctx, m: M) -> Step {
    let size = c.op_size(0);
    let bits = size * 8;
    let v = c.read_op(1)? & mask(size);
    match m {
        M::Bsf | M::Bsr => {
            if v == 0 {
                c.cpu.flags.update(ZF, ZF);
                return Ok(());
            }
            let r = if m == M::Bsf {
                v.trailing_zeros()
            } else {
                63 - v.leading_zeros()
            };
            c.write_op(0, r as u64)?;
            c.cpu.flags.update(ZF, 0);
        }
        M::Tzcnt | M::Lzcnt => {
            let r = if v == 0 {
                bits
            } else if m == M::Tzcnt {
                v.trailing_zeros()
            } else {
                v.leading_zeros() - (64 - bits)
            };
            c.write_op(0, r as u64)?;
            let f = ((v == 0) as u64 * CF) | ((r == 0) as u64 * ZF);
            c.cpu.flags.update(CF | ZF, f);
        }
        _ => {
            c.write_op(0, v.count_ones() as u64)?;
            c.cpu.flags.set_arith((v == 0) as u64 * ZF);
        }
    }
    Ok(())
}

pub(crate) fn bswap(c: &mut Ctx) -> Step {
    let size = c.op_size(0);
    let v = c.read_op(0)?;
    let r = match size {
        8 => v.swap_bytes(),
        4 => (v as u32).swap_bytes() as u64,
        // 16-bit bswap is undefined; hardware gives zero.
        _ => 0,
    };
    c.write_op(0, r)
}

/// movbe: a load or store with the bytes reversed.
pub(crate) fn movbe(c: &mut Ctx) -> Step {
    let size = if c.is_mem(0) {
        c.op_size(1)
    } else {
        c.op_size(0)
    };
    let v = c.read_op(1)?;
    let r = v.swap_bytes() >> (64 - size * 8);
    c.write_op(0, r)
}

/// BMI1: CF/OF/ZF/SF as the manual defines; AF and PF (undefined) follow the result.
pub(crate) fn bmi1(c: &mut Ctx, m: M) -> Step {
    let size = c.op_size(0);
    let bits = size * 8;
    let (r, cf) = match m {
        M::Andn => (!c.read_op(1)? & c.read_op(2)?, false),
        M::Bextr => {
            let src = c.read_op(1)?;
            let ctl = c.read_op(2)?;
            let (start, len) = ((ctl & 0xff) as u32, ((ctl >> 8) & 0xff) as u32);
            let v = if start >= bits { 0 } else { src >> start };
            let v = if len >= 64 {
                v
            } else {
                v & ((1u64 << len) - 1)
            };
            (v, false)
        }
        _ => {
            let s = c.read_op(1)?;
            let r = match m {
                M::Blsi => s & s.wrapping_neg(),
                M::Blsmsk => s ^ s.wrapping_sub(1),
                _ => s & s.wrapping_sub(1),
            };
            (r, if m == M::Blsi { s != 0 } else { s == 0 })
        }
    };
    let r = r & mask(size);
    c.write_op(0, r)?;
    c.cpu.flags.set_res(size, r, cf, false, false);
    Ok(())
}

/// The BMI2 forms: bzhi (flags as BMI1's, CF when the index is past the width), mulx, pdep,
/// pext, rorx, sarx, shlx, shrx (no flags).
pub(crate) fn bmi2(c: &mut Ctx, m: M) -> Step {
    let size = c.op_size(0);
    let bits = size * 8;
    let mk = mask(size);
    match m {
        M::Bzhi => {
            let (src, n) = (c.read_op(1)?, c.read_op(2)? & 0xff);
            let r = if n < bits as u64 {
                src & ((1u64 << n) - 1)
            } else {
                src
            } & mk;
            c.write_op(0, r)?;
            c.cpu
                .flags
                .set_res(size, r, n > bits as u64 - 1, false, false);
        }
        M::Mulx => {
            let d = c.reg(if size == 8 {
                Register::RDX
            } else {
                Register::EDX
            });
            let p = d as u128 * c.read_op(2)? as u128;
            c.write_op(1, p as u64 & mk)?;
            c.write_op(0, (p >> bits) as u64 & mk)?;
        }
        M::Pdep | M::Pext => {
            let (src, sel) = (c.read_op(1)?, c.read_op(2)?);
            let (mut r, mut k) = (0u64, 0);
            for i in 0..bits {
                if (sel >> i) & 1 != 0 {
                    if m == M::Pdep {
                        r |= ((src >> k) & 1) << i;
                    } else {
                        r |= ((src >> i) & 1) << k;
                    }
                    k += 1;
                }
            }
            c.write_op(0, r)?;
        }
        _ => {
            let src = c.read_op(1)?;
            let n = (if m == M::Rorx {
                c.ins.immediate(2)
            } else {
                c.read_op(2)?
            } & (bits as u64 - 1)) as u32;
            let r = match m {
                M::Rorx if bits == 32 => (src as u32).rotate_right(n) as u64,
                M::Rorx => src.rotate_right(n),
                M::Sarx => (sext(src, size) as i64 >> n) as u64,
                M::Shlx => src << n,
                _ => src >> n,
            };
            c.write_op(0, r & mk)?;
        }
    }
    Ok(())
}

//! mul/imul (one, two and three operands) and div/idiv. Division by zero and quotient overflow
//! are [`Exit::DivideError`] with nothing changed. After mul/imul, CF=OF say whether the high
//! half is significant; SF/ZF/PF follow the low half and AF is cleared (Intel's results for the
//! flags the manual leaves undefined). div/idiv leave the flags unchanged.

use iced_x86::{Mnemonic as M, Register};

use super::Exit;
use super::flags::{mask, sext};
use super::operand::{Ctx, Step};

/// The (low, high) registers of a widening multiply or a division of `size` bytes.
fn pair(size: u32) -> (Register, Register) {
    match size {
        1 => (Register::AL, Register::AH),
        2 => (Register::AX, Register::DX),
        4 => (Register::EAX, Register::EDX),
        _ => (Register::RAX, Register::RDX),
    }
}

pub(crate) fn exec(c: &mut Ctx, m: M) -> Step {
    if m == M::Imul && c.ins.op_count() > 1 {
        return imul_n(c);
    }
    let size = c.op_size(0);
    let bits = size * 8;
    let src = c.read_op(0)?;
    let (lo_r, hi_r) = pair(size);
    match m {
        M::Mul | M::Imul => {
            let a = c.reg(lo_r);
            let (lo, hi, wide) = if m == M::Mul {
                let p = a as u128 * src as u128;
                let lo = p as u64 & mask(size);
                let hi = (p >> bits) as u64 & mask(size);
                (lo, hi, hi != 0)
            } else {
                let p = sext(a, size) as i64 as i128 * sext(src, size) as i64 as i128;
                let lo = p as u64 & mask(size);
                let hi = (p >> bits) as u64 & mask(size);
                (lo, hi, p != sext(lo, size) as i64 as i128)
            };
            if size == 1 {
                c.set_reg(Register::AX, hi << 8 | lo);
            } else {
                c.set_reg(lo_r, lo);
                c.set_reg(hi_r, hi);
            }
            c.cpu.flags.set_res(size, lo, wide, wide, false);
        }
        _ => {
            if src == 0 {
                return Err(Exit::DivideError);
            }
            let (hi, lo) = if size == 1 {
                let ax = c.reg(Register::AX);
                (ax >> 8, ax & 0xff)
            } else {
                (c.reg(hi_r), c.reg(lo_r))
            };
            let (q, r) = if m == M::Div {
                let n = (hi as u128) << bits | lo as u128;
                let q = n / src as u128;
                if q > mask(size) as u128 {
                    return Err(Exit::DivideError);
                }
                (q as u64, (n % src as u128) as u64)
            } else {
                let n = (((hi as u128) << bits | lo as u128) << (128 - 2 * bits)) as i128
                    >> (128 - 2 * bits);
                let d = sext(src, size) as i64 as i128;
                let q = n.checked_div(d).ok_or(Exit::DivideError)?;
                let lim = 1i128 << (bits - 1);
                if q >= lim || q < -lim {
                    return Err(Exit::DivideError);
                }
                (q as u64 & mask(size), (n % d) as u64 & mask(size))
            };
            if size == 1 {
                c.set_reg(Register::AX, r << 8 | q);
            } else {
                c.set_reg(lo_r, q);
                c.set_reg(hi_r, r);
            }
        }
    }
    Ok(())
}

/// imul r, r/m and imul r, r/m, imm: the truncated signed product.
fn imul_n(c: &mut Ctx) -> Step {
    let size = c.op_size(0);
    let (a, b) = if c.ins.op_count() == 3 {
        (c.read_op(1)?, c.read_op(2)?)
    } else {
        (c.read_op(0)?, c.read_op(1)?)
    };
    let p = sext(a, size) as i64 as i128 * sext(b, size) as i64 as i128;
    let lo = p as u64 & mask(size);
    let wide = p != sext(lo, size) as i64 as i128;
    c.write_op(0, lo)?;
    c.cpu.flags.set_res(size, lo, wide, wide, false);
    Ok(())
}

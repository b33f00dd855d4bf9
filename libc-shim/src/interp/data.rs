//! Data movement: mov/movzx/movsx/movsxd, lea, cmovcc/setcc, xchg, cmpxchg/cmpxchg8b/16b,
//! xadd, and the accumulator sign extensions cbw/cwde/cdqe and cwd/cdq/cqo. A `lock` prefix
//! changes nothing: the guest is single-threaded.

use iced_x86::Register;

use super::flags::{ADD, SUB, ZF, mask, sext};
use super::operand::{Ctx, Step};

/// mov and movzx: the source, zero-extended, to the destination.
pub(crate) fn mov(c: &mut Ctx) -> Step {
    let v = c.read_op(1)?;
    c.write_op(0, v)
}

/// movsx/movsxd: the source sign-extended to the destination.
pub(crate) fn movsx(c: &mut Ctx) -> Step {
    let size = c.op_size(1);
    let v = sext(c.read_op(1)?, size);
    c.write_op(0, v)
}

pub(crate) fn lea(c: &mut Ctx) -> Step {
    let a = c.lea();
    c.write_op(0, a)
}

fn cond(c: &Ctx) -> bool {
    c.cpu.flags.cond(c.ins.condition_code() as u32 - 1)
}

/// cmovcc: the source is read either way, and a 32-bit destination is zero-extended either way.
pub(crate) fn cmov(c: &mut Ctx) -> Step {
    let v = c.read_op(1)?;
    let v = if cond(c) { v } else { c.read_op(0)? };
    c.write_op(0, v)
}

pub(crate) fn setcc(c: &mut Ctx) -> Step {
    let v = cond(c) as u64;
    c.write_op(0, v)
}

/// Writes two operands, the memory one (which may fault) first.
fn write_two(c: &mut Ctx, first: (u32, u64), second: (u32, u64)) -> Step {
    if c.is_mem(second.0) {
        c.write_op(second.0, second.1)?;
        c.write_op(first.0, first.1)
    } else {
        c.write_op(first.0, first.1)?;
        c.write_op(second.0, second.1)
    }
}

pub(crate) fn xchg(c: &mut Ctx) -> Step {
    let a = c.read_op(0)?;
    let b = c.read_op(1)?;
    write_two(c, (0, b), (1, a))
}

/// xadd: `tmp = dest + src; src = dest; dest = tmp` (with the flags of the add).
pub(crate) fn xadd(c: &mut Ctx) -> Step {
    let size = c.op_size(0);
    let a = c.read_op(0)?;
    let b = c.read_op(1)?;
    let r = a.wrapping_add(b) & mask(size);
    write_two(c, (1, a), (0, r))?;
    c.cpu.flags.set(ADD, size, r, a, b, false);
    Ok(())
}

/// The accumulator register of `size` bytes.
fn acc(size: u32) -> Register {
    match size {
        1 => Register::AL,
        2 => Register::AX,
        4 => Register::EAX,
        _ => Register::RAX,
    }
}

/// cmpxchg: compares the accumulator with the destination; equal stores the source, else loads
/// the destination into the accumulator (memory is written back either way, as on hardware).
pub(crate) fn cmpxchg(c: &mut Ctx) -> Step {
    let size = c.op_size(0);
    let d = c.read_op(0)?;
    let s = c.read_op(1)?;
    let a = c.reg(acc(size));
    if a == d {
        c.write_op(0, s)?;
    } else {
        if c.is_mem(0) {
            c.write_op(0, d)?;
        }
        c.set_reg(acc(size), d);
    }
    c.cpu.flags.set(SUB, size, a.wrapping_sub(d), a, d, false);
    Ok(())
}

/// cmpxchg8b/cmpxchg16b: edx:eax (rdx:rax) against memory; ZF says whether ecx:ebx was stored.
pub(crate) fn cmpxchg_wide(c: &mut Ctx) -> Step {
    let addr = c.ea();
    let g = c.cpu.gpr;
    let equal = if c.op_size(0) == 16 {
        if !addr.is_multiple_of(16) {
            // A misaligned cmpxchg16b operand is a general-protection fault.
            return Err(super::Exit::Fault {
                signal: 11,
                addr: 0,
                write: true,
            });
        }
        let lo = c.read_mem(addr, 8)?;
        let hi = c.read_mem(addr.wrapping_add(8), 8)?;
        let equal = lo == g[0] && hi == g[2];
        let (wlo, whi) = if equal { (g[3], g[1]) } else { (lo, hi) };
        c.mem.write_u128(addr, (whi as u128) << 64 | wlo as u128)?;
        if !equal {
            c.cpu.gpr[0] = lo;
            c.cpu.gpr[2] = hi;
        }
        equal
    } else {
        let m = c.read_mem(addr, 8)?;
        let expect = (g[2] & 0xffff_ffff) << 32 | (g[0] & 0xffff_ffff);
        let equal = m == expect;
        let new = (g[1] & 0xffff_ffff) << 32 | (g[3] & 0xffff_ffff);
        c.write_mem(addr, 8, if equal { new } else { m })?;
        if !equal {
            c.cpu.gpr[0] = m & 0xffff_ffff;
            c.cpu.gpr[2] = m >> 32;
        }
        equal
    };
    c.cpu.flags.update(ZF, if equal { ZF } else { 0 });
    Ok(())
}

/// cbw/cwde/cdqe: sign-extends the lower half of the accumulator into all of it.
pub(crate) fn cbw(c: &mut Ctx, size: u32) -> Step {
    let half = size / 2;
    let v = sext(c.reg(acc(half)), half);
    c.set_reg(acc(size), v);
    Ok(())
}

/// cwd/cdq/cqo: fills the data register with the accumulator's sign.
pub(crate) fn cwd(c: &mut Ctx, size: u32) -> Step {
    let a = c.reg(acc(size));
    let v = if a & (1 << (size * 8 - 1)) != 0 {
        u64::MAX
    } else {
        0
    };
    let d = match size {
        2 => Register::DX,
        4 => Register::EDX,
        _ => Register::RDX,
    };
    c.set_reg(d, v);
    Ok(())
}

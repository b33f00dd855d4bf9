//! Integer arithmetic and logic: add/adc/sub/sbb/cmp, and/or/xor/test, inc/dec/neg/not,
//! adcx/adox.

use iced_x86::Mnemonic as M;

use super::flags::{ADC, ADD, CF, DEC, INC, OF, SBB, SUB, mask};
use super::operand::{Ctx, Step};

/// The two-operand ALU group; `cmp` and `test` only set flags.
pub(crate) fn binop(c: &mut Ctx, m: M) -> Step {
    let size = c.op_size(0);
    let a = c.read_op(0)?;
    let b = c.read_op(1)? & mask(size);
    let f = &c.cpu.flags;
    let (r, op, carry) = match m {
        M::Add => (a.wrapping_add(b), ADD, false),
        M::Adc => {
            let cin = f.cf();
            (a.wrapping_add(b).wrapping_add(cin as u64), ADC, cin)
        }
        M::Sub | M::Cmp => (a.wrapping_sub(b), SUB, false),
        M::Sbb => {
            let cin = f.cf();
            (a.wrapping_sub(b).wrapping_sub(cin as u64), SBB, cin)
        }
        M::And | M::Test => (a & b, 0, false),
        M::Or => (a | b, 0, false),
        _ => (a ^ b, 0, false),
    };
    if !matches!(m, M::Cmp | M::Test) {
        c.write_op(0, r & mask(size))?;
    }
    if op == 0 {
        c.cpu.flags.set_res(size, r, false, false, false);
    } else {
        c.cpu.flags.set(op, size, r, a, b, carry);
    }
    Ok(())
}

/// inc/dec (CF preserved), neg (flags of `0 - x`), not (no flags).
pub(crate) fn unop(c: &mut Ctx, m: M) -> Step {
    let size = c.op_size(0);
    let a = c.read_op(0)?;
    let r = match m {
        M::Inc => a.wrapping_add(1),
        M::Dec => a.wrapping_sub(1),
        M::Neg => a.wrapping_neg(),
        _ => !a,
    } & mask(size);
    c.write_op(0, r)?;
    let f = &mut c.cpu.flags;
    match m {
        M::Inc => {
            let cf = f.cf();
            f.set(INC, size, r, a, 1, cf);
        }
        M::Dec => {
            let cf = f.cf();
            f.set(DEC, size, r, a, 1, cf);
        }
        M::Neg => f.set(SUB, size, r, 0, a, false),
        _ => {}
    }
    Ok(())
}

/// adcx (carry in and out through CF) and adox (through OF): unsigned add with carry that leaves
/// every other flag alone.
pub(crate) fn adx(c: &mut Ctx, m: M) -> Step {
    let size = c.op_size(0);
    let (a, b) = (c.read_op(0)?, c.read_op(1)? & mask(size));
    let (flag, cin) = if m == M::Adcx {
        (CF, c.cpu.flags.cf())
    } else {
        (OF, c.cpu.flags.of())
    };
    let wide = a as u128 + b as u128 + cin as u128;
    let out = wide >> (size * 8) != 0;
    c.write_op(0, wide as u64 & mask(size))?;
    c.cpu.flags.update(flag, if out { flag } else { 0 });
    Ok(())
}

//! Signal syscalls: `rt_sigaction`, `rt_sigprocmask`, `rt_sigpending`, `rt_sigreturn`,
//! `sigaltstack`, and `kill`/`tkill`/`tgkill` to the process itself (pid and tid 1).

use super::Ctx;
use crate::abi::sig::*;
use crate::abi::*;
use crate::process::PID;
use crate::signal::{UNBLOCKABLE, bit};

fn check_set_size(size: u64) -> SysResult<()> {
    if size == 8 { Ok(()) } else { Err(EINVAL) }
}

pub fn rt_sigaction(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    check_set_size(a[3])?;
    let signal = a[0] as u32;
    if !(1..=64).contains(&signal) || (a[1] != 0 && (signal == SIGKILL || signal == SIGSTOP)) {
        return Err(EINVAL);
    }
    let old = ctx.proc.sig.actions[(signal - 1) as usize];
    if a[1] != 0 {
        let mut new = SigAction::from_bytes(ctx.mem.read_bytes(a[1], crate::mem::perm::READ)?);
        new.mask &= !UNBLOCKABLE;
        ctx.proc.sig.actions[(signal - 1) as usize] = new;
    }
    if a[2] != 0 {
        ctx.write(a[2], &old.to_bytes())?;
    }
    Ok(0)
}

pub fn rt_sigprocmask(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    check_set_size(a[3])?;
    let old = ctx.proc.sig.mask;
    if a[1] != 0 {
        let set = ctx.mem.read_u64(a[1])?;
        ctx.proc.sig.mask = match a[0] {
            SIG_BLOCK => old | set,
            SIG_UNBLOCK => old & !set,
            SIG_SETMASK => set,
            _ => return Err(EINVAL),
        } & !UNBLOCKABLE;
    }
    if a[2] != 0 {
        ctx.mem.write_u64(a[2], old)?;
    }
    Ok(0)
}

pub fn rt_sigpending(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    check_set_size(a[1])?;
    let p = ctx.proc.sig.pending & ctx.proc.sig.mask;
    ctx.mem.write_u64(a[0], p)?;
    Ok(0)
}

pub fn rt_sigreturn(ctx: &mut Ctx<'_>, _a: [u64; 6]) -> SysResult {
    crate::signal::sigreturn(ctx)
}

pub fn sigaltstack(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let rsp = ctx.cpu.gpr[crate::cpu::reg::RSP];
    let cur = ctx.proc.sig.altstack;
    let on = ctx.proc.sig.on_altstack(rsp);
    if a[0] != 0 {
        if on {
            return Err(EPERM);
        }
        let (sp, flags, size) = (
            ctx.mem.read_u64(a[0])?,
            ctx.mem.read_u32(a[0] + 8)?,
            ctx.mem.read_u64(a[0] + 16)?,
        );
        if flags & !(SS_DISABLE | (1 << 31)) != 0 {
            return Err(EINVAL);
        }
        ctx.proc.sig.altstack = if flags & SS_DISABLE != 0 {
            crate::signal::AltStack {
                sp: 0,
                size: 0,
                flags: SS_DISABLE,
            }
        } else if size < MINSIGSTKSZ {
            return Err(ENOMEM);
        } else {
            crate::signal::AltStack { sp, size, flags: 0 }
        };
    }
    if a[1] != 0 {
        let flags = if on {
            SS_ONSTACK
        } else {
            cur.flags & SS_DISABLE
        };
        ctx.write(
            a[1],
            &Enc::new(24)
                .u64(0, cur.sp)
                .u32(8, flags)
                .u64(16, cur.size)
                .done(),
        )?;
    }
    Ok(0)
}

/// Sends `signal` to the process itself (0 only checks).
fn send(ctx: &mut Ctx<'_>, signal: u64) -> SysResult {
    if signal > 64 {
        return Err(EINVAL);
    }
    if signal != 0 {
        ctx.proc.sig.raise(signal as u32);
        let _ = bit(signal as u32);
    }
    Ok(0)
}

pub fn kill(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    match a[0] as i64 as i32 {
        0 | -1 => send(ctx, a[1]),
        p if p as u64 == PID || p == -(PID as i32) => send(ctx, a[1]),
        _ => Err(ESRCH),
    }
}

pub fn tkill(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    if a[0] != PID {
        return Err(if (a[0] as i64) <= 0 { EINVAL } else { ESRCH });
    }
    send(ctx, a[1])
}

pub fn tgkill(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    if a[0] != PID {
        return Err(ESRCH);
    }
    tkill(ctx, [a[1], a[2], 0, 0, 0, 0])
}

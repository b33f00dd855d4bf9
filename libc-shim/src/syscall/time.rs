//! Clocks and sleeping: `clock_gettime`, `clock_getres`, `gettimeofday`, `time`, `nanosleep`,
//! `clock_nanosleep`. CPU-time clocks report time since the process started (one thread, always
//! running), which is what a CPU-bound guest measures natively too.

use super::Ctx;
use crate::abi::{misc::*, *};
use crate::mem::perm;
use crate::platform::Clock;

/// Nanoseconds on a Linux clock id.
fn now(ctx: &mut Ctx<'_>, id: u64) -> SysResult<u64> {
    Ok(match id {
        CLOCK_REALTIME | CLOCK_REALTIME_COARSE => ctx.p.now(Clock::Realtime),
        CLOCK_MONOTONIC | CLOCK_MONOTONIC_RAW | CLOCK_MONOTONIC_COARSE | CLOCK_BOOTTIME => {
            ctx.p.now(Clock::Monotonic)
        }
        CLOCK_PROCESS_CPUTIME_ID | CLOCK_THREAD_CPUTIME_ID => ctx
            .p
            .now(Clock::Monotonic)
            .saturating_sub(ctx.proc.start_ns),
        _ => return Err(EINVAL),
    })
}

pub fn clock_gettime(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let t = now(ctx, a[0])?;
    ctx.write(a[1], &Timespec::from_ns(t).to_bytes())
        .map(|()| 0)
}

pub fn clock_getres(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    now(ctx, a[0])?;
    if a[1] != 0 {
        ctx.write(a[1], &Timespec::from_ns(1).to_bytes())?;
    }
    Ok(0)
}

pub fn gettimeofday(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let t = ctx.p.now(Clock::Realtime);
    if a[0] != 0 {
        let ts = Timespec::from_ns(t);
        ctx.mem.write_u64(a[0], ts.sec as u64)?;
        ctx.mem.write_u64(a[0] + 8, (ts.nsec / 1000) as u64)?;
    }
    if a[1] != 0 {
        ctx.write(a[1], &[0; 8])?;
    }
    Ok(0)
}

pub fn time(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let secs = ctx.p.now(Clock::Realtime) / 1_000_000_000;
    if a[0] != 0 {
        ctx.mem.write_u64(a[0], secs)?;
    }
    Ok(secs)
}

fn read_ts(ctx: &Ctx<'_>, at: u64) -> SysResult<u64> {
    Timespec::from_bytes(ctx.mem.read_bytes(at, perm::READ)?)
        .to_ns()
        .ok_or(EINVAL)
}

pub fn nanosleep(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let ns = read_ts(ctx, a[0])?;
    ctx.p.sleep(ns);
    Ok(0)
}

pub fn clock_nanosleep(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let target = read_ts(ctx, a[2])?;
    let ns = if a[1] & TIMER_ABSTIME != 0 {
        target.saturating_sub(now(ctx, a[0])?)
    } else {
        now(ctx, a[0]).map(|_| target)?
    };
    ctx.p.sleep(ns);
    Ok(0)
}

//! Identity, limits and single-thread bookkeeping: `exit`/`exit_group`, pids and ids, `uname`,
//! rlimits, `sysinfo`, CPU affinity, `set_tid_address`, `arch_prctl`, `futex` (one thread: no
//! waiter can exist), `prctl` names, `getrandom`.

use super::Ctx;
use crate::abi::{misc::*, *};
use crate::platform::Clock;
use alloc::vec;

/// Syscalls that succeed with no effect in a one-thread, one-process world (`sched_yield`,
/// `set_robust_list`, `flock`, `sync`, `fadvise64`, `setgroups`, `sched_setaffinity`).
pub fn zero(_ctx: &mut Ctx<'_>, _a: [u64; 6]) -> SysResult {
    Ok(0)
}

/// `rseq`: restartable sequences are not supported (libc then does without them). A row of its
/// own so that the answer is traced only under `OCI2WASM_STRACE`, as glibc asks at every start.
pub fn rseq(_ctx: &mut Ctx<'_>, _a: [u64; 6]) -> SysResult {
    Err(ENOSYS)
}

pub fn exit(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    ctx.proc.exit_status = Some((a[0] & 0xff) as i32);
    Ok(0)
}

pub fn getpid(_ctx: &mut Ctx<'_>, _a: [u64; 6]) -> SysResult {
    Ok(crate::process::PID)
}

pub fn getppid(_ctx: &mut Ctx<'_>, _a: [u64; 6]) -> SysResult {
    Ok(0)
}

pub fn getpgid(_ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    if a[0] == 0 || a[0] == crate::process::PID {
        Ok(crate::process::PID)
    } else {
        Err(ESRCH)
    }
}

pub fn setpgid(_ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    getpgid(_ctx, a).map(|_| 0)
}

pub fn wait4(_ctx: &mut Ctx<'_>, _a: [u64; 6]) -> SysResult {
    Err(ECHILD)
}

pub fn getuid(ctx: &mut Ctx<'_>, _a: [u64; 6]) -> SysResult {
    Ok(u64::from(ctx.proc.cred.uid))
}
pub fn geteuid(ctx: &mut Ctx<'_>, _a: [u64; 6]) -> SysResult {
    Ok(u64::from(ctx.proc.cred.euid))
}
pub fn getgid(ctx: &mut Ctx<'_>, _a: [u64; 6]) -> SysResult {
    Ok(u64::from(ctx.proc.cred.gid))
}
pub fn getegid(ctx: &mut Ctx<'_>, _a: [u64; 6]) -> SysResult {
    Ok(u64::from(ctx.proc.cred.egid))
}

/// Sets an id as Linux does for the given privilege: root may set anything, others only to
/// their current ids.
fn set_id(root: bool, cur: [u32; 2], new: u64) -> SysResult<Option<u32>> {
    let new = new as u32;
    if new == u32::MAX {
        return Ok(None);
    }
    if root || cur.contains(&new) {
        Ok(Some(new))
    } else {
        Err(EPERM)
    }
}

pub fn setuid(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    setresuid(ctx, [a[0], a[0], a[0], 0, 0, 0])
}

pub fn setgid(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    setresgid(ctx, [a[0], a[0], a[0], 0, 0, 0])
}

/// Sets a real and effective id pair from `setres*id` arguments (`-1` keeps one); a non-root
/// caller may only switch between the ids it already has. Returns the new effective id.
fn set_pair(root: bool, real: &mut u32, effective: &mut u32, a: [u64; 6]) -> SysResult<u32> {
    let cur = [*real, *effective];
    let (r, e) = (set_id(root, cur, a[0])?, set_id(root, cur, a[1])?);
    *real = r.unwrap_or(*real);
    *effective = e.unwrap_or(*effective);
    Ok(*effective)
}

pub fn setresuid(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let c = &mut ctx.proc.cred;
    let root = c.euid == 0;
    ctx.proc.vfs.uid = set_pair(root, &mut c.uid, &mut c.euid, a)?;
    Ok(0)
}

pub fn setresgid(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let c = &mut ctx.proc.cred;
    let root = c.euid == 0;
    ctx.proc.vfs.gid = set_pair(root, &mut c.gid, &mut c.egid, a)?;
    Ok(0)
}

pub fn getresuid(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let c = ctx.proc.cred;
    for (at, v) in [(a[0], c.uid), (a[1], c.euid), (a[2], c.euid)] {
        ctx.mem.write_u32(at, v)?;
    }
    Ok(0)
}

pub fn getresgid(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let c = ctx.proc.cred;
    for (at, v) in [(a[0], c.gid), (a[1], c.egid), (a[2], c.egid)] {
        ctx.mem.write_u32(at, v)?;
    }
    Ok(0)
}

pub fn getgroups(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    if a[0] == 0 {
        return Ok(1);
    }
    let gid = ctx.proc.cred.gid;
    ctx.mem.write_u32(a[1], gid)?;
    Ok(1)
}

pub fn uname(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let host = ctx.proc.hostname.clone();
    let b = utsname([
        b"Linux",
        &host,
        b"6.1.0-oci2wasm",
        b"#1 SMP PREEMPT_DYNAMIC",
        b"x86_64",
        b"(none)",
    ]);
    ctx.write(a[0], &b).map(|()| 0)
}

fn rlimit_index(res: u64) -> SysResult<usize> {
    if res < 16 {
        Ok(res as usize)
    } else {
        Err(EINVAL)
    }
}

pub fn prlimit64(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    if a[0] != 0 && a[0] != crate::process::PID {
        return Err(ESRCH);
    }
    let i = rlimit_index(a[1])?;
    let old = ctx.proc.rlimits[i];
    if a[2] != 0 {
        let (cur, max) = (ctx.mem.read_u64(a[2])?, ctx.mem.read_u64(a[2] + 8)?);
        if cur > max || (max > old.1 && ctx.proc.cred.euid != 0) {
            return Err(if cur > max { EINVAL } else { EPERM });
        }
        ctx.proc.rlimits[i] = (cur, max);
    }
    if a[3] != 0 {
        ctx.write(a[3], &rlimit(old.0, old.1))?;
    }
    Ok(0)
}

pub fn getrlimit(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    prlimit64(ctx, [0, a[0], 0, a[1], 0, 0])
}

pub fn setrlimit(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    prlimit64(ctx, [0, a[0], a[1], 0, 0, 0])
}

/// `struct rusage` with the run time as user time.
pub fn getrusage(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let t = Timespec::from_ns(
        ctx.p
            .now(Clock::Monotonic)
            .saturating_sub(ctx.proc.start_ns),
    );
    let b = Enc::new(144)
        .u64(0, t.sec as u64)
        .u64(8, (t.nsec / 1000) as u64)
        .u64(32, ctx.proc.mm.mapped() / 1024)
        .done();
    ctx.write(a[1], &b).map(|()| 0)
}

/// `times`: clock ticks (100 Hz) since start.
pub fn times(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let ticks = ctx
        .p
        .now(Clock::Monotonic)
        .saturating_sub(ctx.proc.start_ns)
        / 10_000_000;
    if a[0] != 0 {
        ctx.write(a[0], &Enc::new(32).u64(0, ticks).done())?;
    }
    Ok(ticks)
}

pub fn sysinfo(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let up = ctx.p.now(Clock::Monotonic) / 1_000_000_000;
    let (total, used) = crate::fs::synth::ProcSource::memory(&ctx.proc.mm);
    let b = crate::abi::sysinfo(up, total, total.saturating_sub(used));
    ctx.write(a[0], &b).map(|()| 0)
}

pub fn sched_getaffinity(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    if a[1] < 8 || !a[1].is_multiple_of(8) {
        return Err(EINVAL);
    }
    let mut mask = vec![0u8; 8];
    mask[0] = 1;
    ctx.write(a[2], &mask).map(|()| 8)
}

pub fn getcpu(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    for at in [a[0], a[1]] {
        if at != 0 {
            ctx.mem.write_u32(at, 0)?;
        }
    }
    Ok(0)
}

pub fn set_tid_address(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    ctx.proc.clear_child_tid = a[0];
    Ok(crate::process::PID)
}

pub fn arch_prctl(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    match a[0] {
        ARCH_SET_FS => ctx.cpu.fs_base = a[1],
        ARCH_SET_GS => ctx.cpu.gs_base = a[1],
        ARCH_GET_FS => ctx.mem.write_u64(a[1], ctx.cpu.fs_base)?,
        ARCH_GET_GS => ctx.mem.write_u64(a[1], ctx.cpu.gs_base)?,
        _ => return Err(EINVAL),
    }
    Ok(0)
}

/// `futex` with one thread: a wake finds no waiter; a wait whose value still matches could only
/// be woken by another thread, so it times out (with a timeout) or reports a spurious wake-up.
pub fn futex(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    match a[1] & FUTEX_CMD_MASK {
        FUTEX_WAKE | FUTEX_WAKE_BITSET => {
            ctx.mem.read_u32(a[0])?;
            Ok(0)
        }
        FUTEX_WAIT | FUTEX_WAIT_BITSET => {
            if ctx.mem.read_u32(a[0])? != a[2] as u32 {
                return Err(EAGAIN);
            }
            if a[3] == 0 {
                return Err(EINTR);
            }
            let t = Timespec::from_bytes(ctx.mem.read_bytes(a[3], crate::mem::perm::READ)?)
                .to_ns()
                .ok_or(EINVAL)?;
            let wait = if a[1] & FUTEX_CMD_MASK == FUTEX_WAIT {
                t
            } else {
                t.saturating_sub(ctx.p.now(Clock::Monotonic))
            };
            ctx.p.sleep(wait);
            Err(ETIMEDOUT)
        }
        _ => Err(ENOSYS),
    }
}

pub fn prctl(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    const PR_SET_PDEATHSIG: u64 = 1;
    const PR_GET_DUMPABLE: u64 = 3;
    const PR_SET_DUMPABLE: u64 = 4;
    const PR_SET_NAME: u64 = 15;
    const PR_GET_NAME: u64 = 16;
    match a[0] {
        PR_SET_NAME => {
            let name = ctx.read(a[1], 16)?;
            let end = name.iter().position(|&b| b == 0).unwrap_or(15);
            ctx.proc.comm = name[..end.min(15)].to_vec();
            Ok(0)
        }
        PR_GET_NAME => {
            let mut name = ctx.proc.comm.clone();
            name.resize(16, 0);
            ctx.write(a[1], &name).map(|()| 0)
        }
        PR_GET_DUMPABLE => Ok(1),
        PR_SET_DUMPABLE | PR_SET_PDEATHSIG => Ok(0),
        _ => Err(EINVAL),
    }
}

pub fn getrandom(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let len = a[1].min(1 << 25);
    let buf = ctx.mem.slice_mut(a[0], len)?;
    ctx.p.random(buf);
    Ok(len)
}

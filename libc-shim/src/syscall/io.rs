//! Descriptor I/O: `read`/`write` and their vectored and positioned forms, `close`, `lseek`,
//! `dup*`, `fcntl`, `ioctl` on terminals, pipes, and `poll`/`select` (which never block for long:
//! the process has one thread, so nothing else can make a descriptor ready).

use super::Ctx;
use crate::abi::*;
use crate::fs::file::{FileKind, FileRef, OpenFile, Pipe};
use alloc::rc::Rc;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::RefCell;

fn file(ctx: &Ctx<'_>, fd: u64) -> SysResult<FileRef> {
    ctx.proc.vfs.fds.get(fd as i64)
}

fn now(ctx: &mut Ctx<'_>) -> Timespec {
    Timespec::from_ns(ctx.p.now(crate::platform::Clock::Realtime))
}

/// Reads into guest memory at `buf` from `fd`.
fn read_into(ctx: &mut Ctx<'_>, fd: u64, buf: u64, len: u64, at: Option<u64>) -> SysResult {
    let f = file(ctx, fd)?;
    let dst = ctx.mem.slice_mut(buf, len)?;
    let n = f.borrow_mut().read(&ctx.proc.vfs.image, ctx.p, dst, at)?;
    Ok(n as u64)
}

/// Writes guest memory at `buf` to `fd`; a write to a pipe without readers raises SIGPIPE.
fn write_from(ctx: &mut Ctx<'_>, fd: u64, buf: u64, len: u64, at: Option<u64>) -> SysResult {
    let f = file(ctx, fd)?;
    let t = now(ctx);
    let src = ctx.mem.slice(buf, len, crate::mem::perm::READ)?;
    let r = f.borrow_mut().write(ctx.p, src, at, t);
    if r == Err(EPIPE) {
        ctx.proc.sig.raise(sig::SIGPIPE);
    }
    Ok(r? as u64)
}

pub fn read(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    read_into(ctx, a[0], a[1], a[2], None)
}

pub fn write(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    write_from(ctx, a[0], a[1], a[2], None)
}

pub fn pread(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    if (a[3] as i64) < 0 {
        return Err(EINVAL);
    }
    read_into(ctx, a[0], a[1], a[2], Some(a[3]))
}

pub fn pwrite(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    if (a[3] as i64) < 0 {
        return Err(EINVAL);
    }
    write_from(ctx, a[0], a[1], a[2], Some(a[3]))
}

/// The `(base, len)` pairs of an iovec array.
fn iovecs(ctx: &Ctx<'_>, iov: u64, count: u64) -> SysResult<Vec<(u64, u64)>> {
    if count > 1024 {
        return Err(EINVAL);
    }
    (0..count)
        .map(|i| {
            Ok((
                ctx.mem.read_u64(iov + 16 * i)?,
                ctx.mem.read_u64(iov + 16 * i + 8)?,
            ))
        })
        .collect()
}

fn vectored(ctx: &mut Ctx<'_>, a: [u64; 6], at: Option<u64>, write: bool) -> SysResult {
    let mut total = 0u64;
    for (base, len) in iovecs(ctx, a[1], a[2])? {
        let pos = at.map(|o| o + total);
        let r = if write {
            write_from(ctx, a[0], base, len, pos)
        } else {
            read_into(ctx, a[0], base, len, pos)
        };
        match r {
            Ok(n) => {
                total += n;
                if n < len {
                    break;
                }
            }
            Err(e) if total == 0 => return Err(e),
            Err(_) => break,
        }
    }
    Ok(total)
}

pub fn readv(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    vectored(ctx, a, None, false)
}

pub fn writev(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    vectored(ctx, a, None, true)
}

pub fn preadv(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    vectored(ctx, a, Some(a[3]), false)
}

pub fn pwritev(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    vectored(ctx, a, Some(a[3]), true)
}

pub fn close(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    ctx.proc.vfs.fds.close(a[0] as i64, ctx.p)?;
    Ok(0)
}

pub fn close_range(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    if a[0] > a[1] {
        return Err(EINVAL);
    }
    const CLOSE_RANGE_CLOEXEC: u64 = 4;
    if a[2] & CLOSE_RANGE_CLOEXEC != 0 {
        for fd in ctx.proc.vfs.fds.fds() {
            if (a[0]..=a[1]).contains(&u64::from(fd)) {
                ctx.proc.vfs.fds.set_cloexec(i64::from(fd), true)?;
            }
        }
        return Ok(0);
    }
    ctx.proc.vfs.fds.close_range(a[0], a[1], ctx.p);
    Ok(0)
}

pub fn lseek(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let f = file(ctx, a[0])?;
    let mut f = f.borrow_mut();
    f.seek(&ctx.proc.vfs.image, ctx.p, a[1] as i64, a[2] as u32)
}

pub fn dup(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    Ok(u64::from(ctx.proc.vfs.fds.dup(a[0] as i64, 0, false)?))
}

pub fn dup2(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    Ok(u64::from(ctx.proc.vfs.fds.dup_to(
        a[0] as i64,
        a[1] as i64,
        false,
        ctx.p,
    )?))
}

pub fn dup3(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    if a[0] == a[1] || a[2] & !u64::from(o::CLOEXEC) != 0 {
        return Err(EINVAL);
    }
    Ok(u64::from(ctx.proc.vfs.fds.dup_to(
        a[0] as i64,
        a[1] as i64,
        a[2] != 0,
        ctx.p,
    )?))
}

pub fn fcntl(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let fd = a[0] as i64;
    let fds = &mut ctx.proc.vfs.fds;
    match a[1] as u32 {
        f::DUPFD => Ok(u64::from(fds.dup(fd, a[2] as usize, false)?)),
        f::DUPFD_CLOEXEC => Ok(u64::from(fds.dup(fd, a[2] as usize, true)?)),
        f::GETFD => Ok(if fds.cloexec(fd)? { f::FD_CLOEXEC } else { 0 }),
        f::SETFD => fds.set_cloexec(fd, a[2] & f::FD_CLOEXEC != 0).map(|()| 0),
        f::GETFL => Ok(u64::from(fds.get(fd)?.borrow().flags | o::LARGEFILE)),
        f::SETFL => {
            let file = fds.get(fd)?;
            let mut file = file.borrow_mut();
            file.flags = (file.flags & !o::SETFL_MASK) | (a[2] as u32 & o::SETFL_MASK);
            Ok(0)
        }
        f::GETLK => {
            fds.get(fd)?;
            // One process: no other lock can conflict.
            ctx.mem.write_u16(a[2], f::UNLCK)?;
            Ok(0)
        }
        f::SETLK | f::SETLKW => fds.get(fd).map(|_| 0),
        1031 | 1032 => fds.get(fd).map(|_| crate::fs::file::PIPE_CAPACITY as u64),
        _ => Err(EINVAL),
    }
}

/// Whether `fd` is a terminal: a host stdio stream the platform says is one, or `/dev/tty`.
fn is_tty(ctx: &mut Ctx<'_>, f: &FileRef) -> bool {
    let host = match f.borrow().kind {
        FileKind::Stdio(h) => h,
        FileKind::Dev(crate::fs::synth::Device::Tty) => 0,
        _ => return false,
    };
    ctx.p.isatty(host)
}

pub fn ioctl(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let f = file(ctx, a[0])?;
    match a[1] {
        ioctl::FIOCLEX | ioctl::FIONCLEX => {
            ctx.proc
                .vfs
                .fds
                .set_cloexec(a[0] as i64, a[1] == ioctl::FIOCLEX)?;
            return Ok(0);
        }
        ioctl::FIONBIO => {
            let on = ctx.mem.read_u32(a[2])? != 0;
            let mut f = f.borrow_mut();
            f.flags = if on {
                f.flags | o::NONBLOCK
            } else {
                f.flags & !o::NONBLOCK
            };
            return Ok(0);
        }
        ioctl::FIONREAD => {
            let n = match &f.borrow().kind {
                FileKind::PipeRead(p) => p.borrow().buf.len() as u32,
                _ => 0,
            };
            ctx.mem.write_u32(a[2], n)?;
            return Ok(0);
        }
        _ => {}
    }
    if !is_tty(ctx, &f) {
        return Err(ENOTTY);
    }
    match a[1] {
        ioctl::TCGETS => ctx.write(a[2], &termios_default()).map(|()| 0),
        ioctl::TCSETS | ioctl::TCSETSW | ioctl::TCSETSF | ioctl::TIOCSPGRP => Ok(0),
        ioctl::TIOCGWINSZ => ctx.write(a[2], &winsize(24, 80)).map(|()| 0),
        ioctl::TIOCGPGRP => ctx.mem.write_u32(a[2], 1).map(|()| 0).map_err(Into::into),
        _ => Err(ENOTTY),
    }
}

fn make_pipe(ctx: &mut Ctx<'_>, out: u64, flags: u64) -> SysResult {
    if flags & !u64::from(o::CLOEXEC | o::NONBLOCK) != 0 {
        return Err(EINVAL);
    }
    ctx.mem.check(out, 8, crate::mem::perm::WRITE)?;
    let ino = ctx.proc.vfs.alloc_ino();
    let pipe = Rc::new(RefCell::new(Pipe {
        readers: 1,
        writers: 1,
        ino,
        ..Pipe::default()
    }));
    let cloexec = flags & u64::from(o::CLOEXEC) != 0;
    let extra = flags as u32 & o::NONBLOCK;
    let name = alloc::format!("pipe:[{ino}]").into_bytes();
    let fds = &mut ctx.proc.vfs.fds;
    let r = fds.install(
        OpenFile::new(
            FileKind::PipeRead(pipe.clone()),
            o::RDONLY | extra,
            name.clone(),
        ),
        cloexec,
    )?;
    let w = match fds.install(
        OpenFile::new(FileKind::PipeWrite(pipe), o::WRONLY | extra, name),
        cloexec,
    ) {
        Ok(w) => w,
        Err(e) => {
            let _ = fds.close(i64::from(r), ctx.p);
            return Err(e);
        }
    };
    ctx.mem.write_u32(out, r)?;
    ctx.mem.write_u32(out + 4, w)?;
    Ok(0)
}

pub fn pipe(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    make_pipe(ctx, a[0], 0)
}

pub fn pipe2(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    make_pipe(ctx, a[0], a[1])
}

/// `(readable, writable, hung up)` of an fd, `None` if it is not open.
fn readiness(ctx: &Ctx<'_>, fd: i64) -> Option<(bool, bool, bool)> {
    ctx.proc.vfs.fds.get(fd).ok().map(|f| f.borrow().ready())
}

/// Polls an array of `struct pollfd`; waits up to `timeout_ns` only if nothing is ready.
fn do_poll(ctx: &mut Ctx<'_>, fds: u64, n: u64, timeout_ns: Option<u64>) -> SysResult {
    if n > 1024 {
        return Err(EINVAL);
    }
    let mut ready = 0;
    for i in 0..n {
        let at = fds + 8 * i;
        let fd = ctx.mem.read_u32(at)? as i32;
        let events = ctx.mem.read_u16(at + 4)?;
        let revents = if fd < 0 {
            0
        } else {
            match readiness(ctx, i64::from(fd)) {
                None => misc::POLLNVAL,
                Some((r, w, hup)) => {
                    let mut ev = 0;
                    if r && events & misc::POLLIN != 0 {
                        ev |= misc::POLLIN;
                    }
                    if w && events & misc::POLLOUT != 0 {
                        ev |= misc::POLLOUT;
                    }
                    if hup {
                        ev |= if events & misc::POLLOUT != 0 && !r {
                            misc::POLLERR
                        } else {
                            misc::POLLHUP
                        };
                    }
                    ev
                }
            }
        };
        ctx.mem.write_u16(at + 6, revents)?;
        if revents != 0 {
            ready += 1;
        }
    }
    if ready == 0
        && let Some(ns) = timeout_ns
    {
        ctx.p.sleep(ns);
    }
    Ok(ready)
}

pub fn poll(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let t = a[2] as i32;
    do_poll(ctx, a[0], a[1], (t > 0).then(|| t as u64 * 1_000_000))
}

pub fn ppoll(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let t = if a[2] == 0 {
        None
    } else {
        Some(
            Timespec::from_bytes(ctx.mem.read_bytes(a[2], crate::mem::perm::READ)?)
                .to_ns()
                .ok_or(EINVAL)?,
        )
    };
    do_poll(ctx, a[0], a[1], t)
}

/// `select` over fd bitmaps; `timeout_ns` as for poll.
fn do_select(ctx: &mut Ctx<'_>, n: u64, sets: [u64; 3], timeout_ns: Option<u64>) -> SysResult {
    if n > 1024 {
        return Err(EINVAL);
    }
    let words = n.div_ceil(64);
    let load = |ctx: &Ctx<'_>, at: u64| -> SysResult<Vec<u64>> {
        if at == 0 {
            return Ok(vec![0; words as usize]);
        }
        (0..words)
            .map(|i| Ok(ctx.mem.read_u64(at + 8 * i)?))
            .collect()
    };
    let (rin, win, ein) = (
        load(ctx, sets[0])?,
        load(ctx, sets[1])?,
        load(ctx, sets[2])?,
    );
    let (mut rout, mut wout) = (vec![0u64; words as usize], vec![0u64; words as usize]);
    let mut count = 0;
    for fd in 0..n {
        let (w, bit) = ((fd / 64) as usize, 1u64 << (fd % 64));
        if (rin[w] | win[w] | ein[w]) & bit == 0 {
            continue;
        }
        let (r, wr, hup) = readiness(ctx, fd as i64).ok_or(EBADF)?;
        if rin[w] & bit != 0 && (r || hup) {
            rout[w] |= bit;
            count += 1;
        }
        if win[w] & bit != 0 && wr {
            wout[w] |= bit;
            count += 1;
        }
    }
    for (at, v) in [
        (sets[0], &rout),
        (sets[1], &wout),
        (sets[2], &vec![0; words as usize]),
    ] {
        if at != 0 {
            for (i, word) in v.iter().enumerate() {
                ctx.mem.write_u64(at + 8 * i as u64, *word)?;
            }
        }
    }
    if count == 0
        && let Some(ns) = timeout_ns
    {
        ctx.p.sleep(ns);
    }
    Ok(count)
}

pub fn select(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let t = if a[4] == 0 {
        None
    } else {
        let (s, us) = (ctx.mem.read_u64(a[4])?, ctx.mem.read_u64(a[4] + 8)?);
        Some(
            s.saturating_mul(1_000_000_000)
                .saturating_add(us.saturating_mul(1000)),
        )
    };
    do_select(ctx, a[0], [a[1], a[2], a[3]], t)
}

pub fn pselect6(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let t = if a[4] == 0 {
        None
    } else {
        Some(
            Timespec::from_bytes(ctx.mem.read_bytes(a[4], crate::mem::perm::READ)?)
                .to_ns()
                .ok_or(EINVAL)?,
        )
    };
    do_select(ctx, a[0], [a[1], a[2], a[3]], t)
}

pub fn ftruncate(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    if (a[1] as i64) < 0 {
        return Err(EINVAL);
    }
    let f = file(ctx, a[0])?;
    let t = now(ctx);
    f.borrow_mut().truncate(ctx.p, a[1], t)?;
    Ok(0)
}

pub fn fsync(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    file(ctx, a[0]).map(|_| 0)
}

/// `fallocate` mode 0: extends an overlay or host file to cover the range.
pub fn fallocate(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    if a[1] != 0 {
        return Err(EOPNOTSUPP);
    }
    let end = a[2].checked_add(a[3]).ok_or(EFBIG)?;
    let f = file(ctx, a[0])?;
    let size = f.borrow().size(&ctx.proc.vfs.image, ctx.p)?;
    if end > size {
        let t = now(ctx);
        f.borrow_mut().truncate(ctx.p, end, t)?;
    }
    Ok(0)
}

/// `sendfile`: copies through a runtime buffer.
pub fn sendfile(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let (out, inf) = (file(ctx, a[0])?, file(ctx, a[1])?);
    let mut off = if a[2] == 0 {
        None
    } else {
        Some(ctx.mem.read_u64(a[2])?)
    };
    let mut left = a[3].min(1 << 30);
    let mut total = 0u64;
    let mut buf = vec![0u8; 65536];
    while left > 0 {
        let want = (left as usize).min(buf.len());
        let n = inf
            .borrow_mut()
            .read(&ctx.proc.vfs.image, ctx.p, &mut buf[..want], off)?;
        if n == 0 {
            break;
        }
        let t = now(ctx);
        let w = out.borrow_mut().write(ctx.p, &buf[..n], None, t)?;
        total += w as u64;
        left -= w as u64;
        off = off.map(|o| o + w as u64);
        if w < n {
            break;
        }
    }
    if let Some(o) = off {
        ctx.mem.write_u64(a[2], o)?;
    }
    Ok(total)
}

//! Path-based file syscalls: `open*`, the `stat` family incl. `statx`, `access`, `readlink`,
//! `getcwd`/`chdir`, `mkdir`/`rmdir`/`unlink`/`rename`/`link`/`symlink`, metadata changes,
//! `getdents64` and `statfs`.

use super::Ctx;
use crate::abi::*;
use crate::fs::file::FileKind;
use crate::fs::node::Node;
use crate::fs::path_string;
use crate::fs::synth::Synth;
use crate::platform::Kind;

const FDCWD: u64 = at::FDCWD as i64 as u64;

fn open_at(ctx: &mut Ctx<'_>, dirfd: u64, path: u64, flags: u64, mode: u64) -> SysResult {
    let path = ctx.cstr(path)?;
    let Ctx { proc, p, .. } = ctx;
    let fd = proc
        .vfs
        .open(*p, &proc.mm, dirfd as i64, &path, flags as u32, mode as u32)?;
    Ok(u64::from(fd))
}

pub fn open(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    open_at(ctx, FDCWD, a[0], a[1], a[2])
}

pub fn openat(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    open_at(ctx, a[0], a[1], a[2], a[3])
}

pub fn creat(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    open_at(
        ctx,
        FDCWD,
        a[0],
        u64::from(o::CREAT | o::WRONLY | o::TRUNC),
        a[1],
    )
}

/// `stat` of what an fd refers to.
pub fn fd_stat(ctx: &mut Ctx<'_>, fd: u64) -> SysResult<Stat> {
    let f = ctx.proc.vfs.fds.get(fd as i64)?;
    let f = f.borrow();
    if let Some(node) = f.node() {
        return Ok(ctx.proc.vfs.stat(&node));
    }
    Ok(match &f.kind {
        FileKind::Dev(d) => ctx.proc.vfs.stat(&Node::Synth(Synth::Dev(*d))),
        FileKind::Stdio(h) => {
            let tty = ctx.p.isatty(*h);
            let (mode, rdev) = if tty {
                (0o020620, makedev(136, 0))
            } else {
                (0o010600, 0)
            };
            Stat {
                dev: 0xd,
                ino: 10 + u64::from(*h),
                nlink: 1,
                mode,
                rdev,
                blksize: 4096,
                ..Stat::default()
            }
        }
        FileKind::PipeRead(p) | FileKind::PipeWrite(p) => Stat {
            dev: 0xc,
            ino: p.borrow().ino,
            nlink: 1,
            mode: 0o010600,
            blksize: 4096,
            ..Stat::default()
        },
        _ => Stat {
            dev: 4,
            ino: 1,
            nlink: 1,
            mode: 0o100444,
            blksize: 4096,
            ..Stat::default()
        },
    })
}

/// `stat` of a path from `dirfd` (with `AT_EMPTY_PATH`, of `dirfd` itself).
fn path_stat(ctx: &mut Ctx<'_>, dirfd: u64, path: u64, flags: u64) -> SysResult<Stat> {
    let path = ctx.cstr(path)?;
    if path.is_empty() && flags & u64::from(at::EMPTY_PATH) != 0 {
        return fd_stat(ctx, dirfd);
    }
    let follow = flags & u64::from(at::SYMLINK_NOFOLLOW) == 0;
    let vfs = &ctx.proc.vfs;
    let base = vfs.base(dirfd as i64, &path)?;
    let w = vfs.walk(ctx.p, &base, &path, follow)?;
    Ok(vfs.stat(w.node()))
}

pub fn stat(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let st = path_stat(ctx, FDCWD, a[0], 0)?;
    ctx.write(a[1], &st.to_stat()).map(|()| 0)
}

pub fn lstat(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let st = path_stat(ctx, FDCWD, a[0], u64::from(at::SYMLINK_NOFOLLOW))?;
    ctx.write(a[1], &st.to_stat()).map(|()| 0)
}

pub fn fstat(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let st = fd_stat(ctx, a[0])?;
    ctx.write(a[1], &st.to_stat()).map(|()| 0)
}

pub fn newfstatat(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let st = path_stat(ctx, a[0], a[1], a[3])?;
    ctx.write(a[2], &st.to_stat()).map(|()| 0)
}

pub fn statx(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let st = path_stat(ctx, a[0], a[1], a[2])?;
    ctx.write(a[4], &st.to_statx()).map(|()| 0)
}

/// Whether the caller's credentials allow `want` (`R_OK` 4, `W_OK` 2, `X_OK` 1) on `st`.
fn allowed(uid: u32, gid: u32, st: &Stat, want: u32) -> bool {
    if uid == 0 {
        // Root may do anything except execute a file with no execute bit at all.
        return want & 1 == 0 || st.mode & s::IFMT == s::IFDIR || st.mode & 0o111 != 0;
    }
    let bits = if st.uid == uid {
        st.mode >> 6
    } else if st.gid == gid {
        st.mode >> 3
    } else {
        st.mode
    } & 7;
    bits & want == want
}

fn access_at(ctx: &mut Ctx<'_>, dirfd: u64, path: u64, mode: u64, flags: u64) -> SysResult {
    if mode & !7 != 0 {
        return Err(EINVAL);
    }
    let st = path_stat(
        ctx,
        dirfd,
        path,
        flags & u64::from(at::SYMLINK_NOFOLLOW | at::EMPTY_PATH),
    )?;
    let c = &ctx.proc.cred;
    let (uid, gid) = if flags & u64::from(at::EACCESS) != 0 {
        (c.euid, c.egid)
    } else {
        (c.uid, c.gid)
    };
    if allowed(uid, gid, &st, mode as u32) {
        Ok(0)
    } else {
        Err(EACCES)
    }
}

pub fn access(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    access_at(ctx, FDCWD, a[0], a[1], 0)
}

pub fn faccessat(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    access_at(ctx, a[0], a[1], a[2], 0)
}

pub fn faccessat2(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    access_at(ctx, a[0], a[1], a[2], a[3])
}

fn readlink_at(ctx: &mut Ctx<'_>, dirfd: u64, path: u64, buf: u64, size: u64) -> SysResult {
    if (size as i64) <= 0 {
        return Err(EINVAL);
    }
    let path = ctx.cstr(path)?;
    let vfs = &ctx.proc.vfs;
    let base = vfs.base(dirfd as i64, &path)?;
    let w = vfs.walk(ctx.p, &base, &path, false)?;
    if w.node().kind() != Kind::Symlink {
        return Err(EINVAL);
    }
    let target = vfs.readlink(ctx.p, w.node())?;
    let n = target.len().min(size as usize);
    ctx.write(buf, &target[..n])?;
    Ok(n as u64)
}

pub fn readlink(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    readlink_at(ctx, FDCWD, a[0], a[1], a[2])
}

pub fn readlinkat(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    readlink_at(ctx, a[0], a[1], a[2], a[3])
}

pub fn getcwd(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let mut path = path_string(&ctx.proc.vfs.cwd);
    path.push(0);
    if (path.len() as u64) > a[1] {
        return Err(ERANGE);
    }
    ctx.write(a[0], &path)?;
    Ok(path.len() as u64)
}

pub fn chdir(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let path = ctx.cstr(a[0])?;
    ctx.proc.vfs.chdir(ctx.p, &path).map(|()| 0)
}

pub fn fchdir(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let path = ctx.proc.vfs.base(a[0] as i64, b"x")?;
    ctx.proc.vfs.cwd = path;
    Ok(0)
}

pub fn umask(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let old = ctx.proc.vfs.umask;
    ctx.proc.vfs.umask = a[0] as u32 & 0o777;
    Ok(u64::from(old))
}

pub fn mkdir(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    mkdirat(ctx, [FDCWD, a[0], a[1], 0, 0, 0])
}

pub fn mkdirat(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let path = ctx.cstr(a[1])?;
    ctx.proc
        .vfs
        .mkdir(ctx.p, a[0] as i64, &path, a[2] as u32)
        .map(|()| 0)
}

pub fn rmdir(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    unlinkat(ctx, [FDCWD, a[0], u64::from(at::REMOVEDIR), 0, 0, 0])
}

pub fn unlink(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    unlinkat(ctx, [FDCWD, a[0], 0, 0, 0, 0])
}

pub fn unlinkat(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let path = ctx.cstr(a[1])?;
    if a[2] & !u64::from(at::REMOVEDIR) != 0 {
        return Err(EINVAL);
    }
    let vfs = &mut ctx.proc.vfs;
    if a[2] != 0 {
        vfs.rmdir(ctx.p, a[0] as i64, &path)
    } else {
        vfs.unlink(ctx.p, a[0] as i64, &path)
    }
    .map(|()| 0)
}

pub fn rename(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    renameat2(ctx, [FDCWD, a[0], FDCWD, a[1], 0, 0])
}

pub fn renameat(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    renameat2(ctx, [a[0], a[1], a[2], a[3], 0, 0])
}

pub fn renameat2(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let (old, new) = (ctx.cstr(a[1])?, ctx.cstr(a[3])?);
    ctx.proc
        .vfs
        .rename(ctx.p, a[0] as i64, &old, a[2] as i64, &new, a[4] as u32)
        .map(|()| 0)
}

pub fn link(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    linkat(ctx, [FDCWD, a[0], FDCWD, a[1], 0, 0])
}

pub fn linkat(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let (old, new) = (ctx.cstr(a[1])?, ctx.cstr(a[3])?);
    let follow = a[4] & u64::from(at::SYMLINK_FOLLOW) != 0;
    ctx.proc
        .vfs
        .link(ctx.p, a[0] as i64, &old, a[2] as i64, &new, follow)
        .map(|()| 0)
}

pub fn symlink(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    symlinkat(ctx, [a[0], FDCWD, a[1], 0, 0, 0])
}

pub fn symlinkat(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let (target, path) = (ctx.cstr(a[0])?, ctx.cstr(a[2])?);
    if target.is_empty() {
        return Err(ENOENT);
    }
    ctx.proc
        .vfs
        .symlink(ctx.p, &target, a[1] as i64, &path)
        .map(|()| 0)
}

/// Applies a metadata change to a path (empty path: the fd itself).
fn modify(
    ctx: &mut Ctx<'_>,
    dirfd: u64,
    path: &[u8],
    follow: bool,
    f: &mut dyn FnMut(&mut crate::fs::node::Upper),
) -> SysResult {
    let now = Timespec::from_ns(ctx.p.now(crate::platform::Clock::Realtime));
    let mut g = |u: &mut crate::fs::node::Upper| {
        f(u);
        u.ctime = now;
    };
    ctx.proc
        .vfs
        .modify(ctx.p, dirfd as i64, path, follow, &mut g)
        .map(|()| 0)
}

fn chmod_at(ctx: &mut Ctx<'_>, dirfd: u64, path: &[u8], mode: u64, follow: bool) -> SysResult {
    let mode = mode as u32 & 0o7777;
    modify(ctx, dirfd, path, follow, &mut |u| {
        u.mode = (u.mode & s::IFMT) | mode
    })
}

pub fn chmod(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let path = ctx.cstr(a[0])?;
    chmod_at(ctx, FDCWD, &path, a[1], true)
}

pub fn fchmod(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    chmod_at(ctx, a[0], b"", a[1], true)
}

pub fn fchmodat(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let path = ctx.cstr(a[1])?;
    chmod_at(ctx, a[0], &path, a[2], true)
}

fn chown_at(
    ctx: &mut Ctx<'_>,
    dirfd: u64,
    path: &[u8],
    uid: u64,
    gid: u64,
    follow: bool,
) -> SysResult {
    let (uid, gid) = (uid as u32, gid as u32);
    modify(ctx, dirfd, path, follow, &mut |u| {
        if uid != u32::MAX {
            u.uid = uid;
        }
        if gid != u32::MAX {
            u.gid = gid;
        }
    })
}

pub fn chown(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let path = ctx.cstr(a[0])?;
    chown_at(ctx, FDCWD, &path, a[1], a[2], true)
}

pub fn lchown(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let path = ctx.cstr(a[0])?;
    chown_at(ctx, FDCWD, &path, a[1], a[2], false)
}

pub fn fchown(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    chown_at(ctx, a[0], b"", a[1], a[2], true)
}

pub fn fchownat(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let path = ctx.cstr(a[1])?;
    chown_at(
        ctx,
        a[0],
        &path,
        a[2],
        a[3],
        a[4] & u64::from(at::SYMLINK_NOFOLLOW) == 0,
    )
}

pub fn utimensat(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    const UTIME_NOW: i64 = (1 << 30) - 1;
    const UTIME_OMIT: i64 = (1 << 30) - 2;
    let path = if a[1] == 0 {
        alloc::vec::Vec::new()
    } else {
        ctx.cstr(a[1])?
    };
    let now = Timespec::from_ns(ctx.p.now(crate::platform::Clock::Realtime));
    let mut times = [Some(now), Some(now)];
    if a[2] != 0 {
        for (i, t) in times.iter_mut().enumerate() {
            let ts = Timespec::from_bytes(
                ctx.mem
                    .read_bytes(a[2] + 16 * i as u64, crate::mem::perm::READ)?,
            );
            *t = match ts.nsec {
                UTIME_NOW => Some(now),
                UTIME_OMIT => None,
                n if (0..1_000_000_000).contains(&n) => Some(ts),
                _ => return Err(EINVAL),
            };
        }
    }
    let follow = a[3] & u64::from(at::SYMLINK_NOFOLLOW) == 0;
    modify(ctx, a[0], &path, follow, &mut |u| {
        if let Some(t) = times[0] {
            u.atime = t;
        }
        if let Some(t) = times[1] {
            u.mtime = t;
        }
    })
}

pub fn utimes(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let path = ctx.cstr(a[0])?;
    let mut times = None;
    if a[1] != 0 {
        let mut t = [Timespec::default(); 2];
        for (i, ts) in t.iter_mut().enumerate() {
            let at = a[1] + 16 * i as u64;
            *ts = Timespec {
                sec: ctx.mem.read_u64(at)? as i64,
                nsec: ctx.mem.read_u64(at + 8)? as i64 * 1000,
            };
        }
        times = Some(t);
    }
    let now = Timespec::from_ns(ctx.p.now(crate::platform::Clock::Realtime));
    let [at_, mt] = times.unwrap_or([now, now]);
    modify(ctx, FDCWD, &path, true, &mut |u| {
        u.atime = at_;
        u.mtime = mt;
    })
}

pub fn truncate(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let path = ctx.cstr(a[0])?;
    let fd = {
        let Ctx { proc, p, .. } = ctx;
        proc.vfs
            .open(*p, &proc.mm, at::FDCWD.into(), &path, o::WRONLY, 0)?
    };
    let r = super::io::ftruncate(ctx, [u64::from(fd), a[1], 0, 0, 0, 0]);
    let _ = ctx.proc.vfs.fds.close(i64::from(fd), ctx.p);
    r
}

pub fn getdents64(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let room = a[2].min(1 << 20) as usize;
    let bytes = ctx.proc.vfs.getdents(ctx.p, a[0] as i64, room)?;
    ctx.write(a[1], &bytes)?;
    Ok(bytes.len() as u64)
}

/// `struct statfs` of the overlay (or of a host mount, reported the same way).
fn statfs_bytes(ctx: &Ctx<'_>) -> alloc::vec::Vec<u8> {
    let (total, used) = crate::fs::synth::ProcSource::memory(&ctx.proc.mm);
    let blocks = total / 4096;
    let free = blocks.saturating_sub(used / 4096);
    Enc::new(120)
        .u64(0, 0x794c_7630) // OVERLAYFS_SUPER_MAGIC
        .u64(8, 4096)
        .u64(16, blocks)
        .u64(24, free)
        .u64(32, free)
        .u64(40, 1 << 20)
        .u64(48, 1 << 19)
        .u64(64, 255)
        .u64(72, 4096)
        .done()
}

pub fn statfs(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    path_stat(ctx, FDCWD, a[0], 0)?;
    let b = statfs_bytes(ctx);
    ctx.write(a[1], &b).map(|()| 0)
}

pub fn fstatfs(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    ctx.proc.vfs.fds.get(a[0] as i64)?;
    let b = statfs_bytes(ctx);
    ctx.write(a[1], &b).map(|()| 0)
}

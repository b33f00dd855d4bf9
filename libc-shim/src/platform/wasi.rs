//! [`Platform`] over WASI preview 1 imports, declared by hand (no `wasi` crate in a no_std
//! runtime). The output module imports `wasi_snapshot_preview1`; the p1 adapter turns it into a
//! WASI 0.2 component. Struct layouts follow `wasi_snapshot_preview1.witx`.

use super::{Clock, HostDirEntry, HostOpen, HostStat, Kind, Platform};
use crate::abi::*;
use alloc::vec;
use alloc::vec::Vec;

#[link(wasm_import_module = "wasi_snapshot_preview1")]
unsafe extern "C" {
    fn fd_write(fd: u32, iovs: *const [u32; 2], n: u32, written: *mut u32) -> u16;
    fn fd_read(fd: u32, iovs: *const [u32; 2], n: u32, read: *mut u32) -> u16;
    fn fd_pread(fd: u32, iovs: *const [u32; 2], n: u32, off: u64, read: *mut u32) -> u16;
    fn fd_pwrite(fd: u32, iovs: *const [u32; 2], n: u32, off: u64, written: *mut u32) -> u16;
    fn fd_close(fd: u32) -> u16;
    fn fd_fdstat_get(fd: u32, out: *mut u8) -> u16;
    fn fd_filestat_get(fd: u32, out: *mut u8) -> u16;
    fn fd_filestat_set_size(fd: u32, size: u64) -> u16;
    fn fd_prestat_get(fd: u32, out: *mut u8) -> u16;
    fn fd_prestat_dir_name(fd: u32, path: *mut u8, len: u32) -> u16;
    fn fd_readdir(fd: u32, buf: *mut u8, len: u32, cookie: u64, used: *mut u32) -> u16;
    fn clock_time_get(id: u32, precision: u64, out: *mut u64) -> u16;
    fn random_get(buf: *mut u8, len: u32) -> u16;
    fn args_sizes_get(argc: *mut u32, size: *mut u32) -> u16;
    fn args_get(argv: *mut u32, buf: *mut u8) -> u16;
    fn environ_sizes_get(count: *mut u32, size: *mut u32) -> u16;
    fn environ_get(env: *mut u32, buf: *mut u8) -> u16;
    fn poll_oneoff(subs: *const u8, events: *mut u8, n: u32, nevents: *mut u32) -> u16;
    fn proc_exit(code: u32) -> !;
    #[allow(clippy::too_many_arguments)]
    fn path_open(
        dir: u32,
        lookup: u32,
        path: *const u8,
        len: u32,
        oflags: u32,
        rights: u64,
        inherit: u64,
        fdflags: u32,
        fd: *mut u32,
    ) -> u16;
    fn path_filestat_get(dir: u32, lookup: u32, path: *const u8, len: u32, out: *mut u8) -> u16;
    fn path_create_directory(dir: u32, path: *const u8, len: u32) -> u16;
    fn path_unlink_file(dir: u32, path: *const u8, len: u32) -> u16;
    fn path_remove_directory(dir: u32, path: *const u8, len: u32) -> u16;
    fn path_rename(d1: u32, p1: *const u8, l1: u32, d2: u32, p2: *const u8, l2: u32) -> u16;
    fn path_readlink(d: u32, p: *const u8, l: u32, buf: *mut u8, blen: u32, used: *mut u32) -> u16;
    fn path_symlink(t: *const u8, tl: u32, d: u32, p: *const u8, l: u32) -> u16;
}

/// Maps a WASI errno to the Linux one (the names match; the numbers do not).
fn errno(e: u16) -> Errno {
    Errno(match e {
        1 => 7,
        2 => 13,
        6 => 11,
        8 => 9,
        10 => 16,
        20 => 17,
        21 => 14,
        22 => 27,
        27 => 4,
        28 => 22,
        29 => 5,
        31 => 21,
        32 => 40,
        33 => 24,
        37 => 36,
        43 => 19,
        44 => 2,
        48 => 12,
        51 => 28,
        52 => 38,
        54 => 20,
        55 => 39,
        58 => 95,
        59 => 25,
        63 | 76 => 1,
        64 => 32,
        69 => 30,
        70 => 29,
        75 => 18,
        _ => 5,
    })
}

fn check(e: u16) -> SysResult<()> {
    if e == 0 { Ok(()) } else { Err(errno(e)) }
}

fn kind(filetype: u8) -> Kind {
    match filetype {
        1 => Kind::BlockDevice,
        2 => Kind::CharDevice,
        3 => Kind::Dir,
        5 | 6 => Kind::Socket,
        7 => Kind::Symlink,
        _ => Kind::File,
    }
}

fn filestat(b: &[u8; 64]) -> HostStat {
    let w = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap_or_default());
    HostStat {
        kind: kind(b[16]),
        ino: w(8),
        nlink: w(24),
        size: w(32),
        mtime_ns: w(48),
    }
}

/// The linear-memory address of a pointer (wasm32 pointers are 32 bits).
fn addr<T>(p: *const T) -> u32 {
    p as usize as u32
}

/// The WASI platform. Stateless: WASI keeps the state.
#[derive(Debug, Default)]
pub struct Wasi;

/// Reads a list of NUL-terminated strings with a sizes/get import pair.
fn strings(
    sizes: unsafe extern "C" fn(*mut u32, *mut u32) -> u16,
    get: unsafe extern "C" fn(*mut u32, *mut u8) -> u16,
) -> Vec<Vec<u8>> {
    let (mut n, mut size) = (0u32, 0u32);
    // SAFETY: both pointers are to live locals.
    if unsafe { sizes(&mut n, &mut size) } != 0 {
        return Vec::new();
    }
    let mut ptrs = vec![0u32; n as usize];
    let mut buf = vec![0u8; size as usize];
    // SAFETY: the buffers have the sizes the host just reported.
    if unsafe { get(ptrs.as_mut_ptr(), buf.as_mut_ptr()) } != 0 {
        return Vec::new();
    }
    buf.split(|&b| b == 0)
        .take(n as usize)
        .map(<[u8]>::to_vec)
        .collect()
}

impl Platform for Wasi {
    fn write(&mut self, fd: u32, buf: &[u8]) -> SysResult<usize> {
        let iov = [addr(buf.as_ptr()), buf.len() as u32];
        let mut n = 0;
        // SAFETY: the iovec names `buf`, live for the call; `n` is a live local.
        check(unsafe { fd_write(fd, &iov, 1, &mut n) })?;
        Ok(n as usize)
    }
    fn read(&mut self, fd: u32, buf: &mut [u8]) -> SysResult<usize> {
        let iov = [addr(buf.as_ptr()), buf.len() as u32];
        let mut n = 0;
        // SAFETY: the iovec names `buf`, exclusively borrowed for the call.
        check(unsafe { fd_read(fd, &iov, 1, &mut n) })?;
        Ok(n as usize)
    }
    fn isatty(&mut self, fd: u32) -> bool {
        let mut st = [0u8; 24];
        // SAFETY: `st` is the 24-byte fdstat the call fills.
        let ok = unsafe { fd_fdstat_get(fd, st.as_mut_ptr()) } == 0;
        // As wasi-libc's isatty: a character device without the seek and tell rights.
        let rights = u64::from_le_bytes(st[8..16].try_into().unwrap_or_default());
        ok && st[0] == 2 && rights & (0x4 | 0x20) == 0
    }
    fn now(&mut self, clock: Clock) -> u64 {
        let mut t = 0u64;
        let id = match clock {
            Clock::Realtime => 0,
            Clock::Monotonic => 1,
        };
        // SAFETY: `t` is a live local.
        unsafe { clock_time_get(id, 1, &mut t) };
        t
    }
    fn sleep(&mut self, ns: u64) {
        let mut sub = [0u8; 48];
        sub[16..20].copy_from_slice(&1u32.to_le_bytes()); // monotonic clock
        sub[24..32].copy_from_slice(&ns.to_le_bytes());
        let mut ev = [0u8; 32];
        let mut n = 0;
        // SAFETY: one 48-byte subscription in, room for one 32-byte event out.
        unsafe { poll_oneoff(sub.as_ptr(), ev.as_mut_ptr(), 1, &mut n) };
    }
    fn random(&mut self, buf: &mut [u8]) {
        // SAFETY: `buf` is exclusively borrowed for the call.
        unsafe { random_get(buf.as_mut_ptr(), buf.len() as u32) };
    }
    fn args(&mut self) -> Vec<Vec<u8>> {
        strings(args_sizes_get, args_get)
    }
    fn env(&mut self) -> Vec<Vec<u8>> {
        strings(environ_sizes_get, environ_get)
    }
    fn exit(&mut self, status: i32) -> ! {
        // SAFETY: ends the instance; nothing runs after it.
        unsafe { proc_exit(status as u32) }
    }
    fn preopens(&mut self) -> Vec<(u32, Vec<u8>)> {
        let mut out = Vec::new();
        for fd in 3..64 {
            let mut pre = [0u8; 8];
            // SAFETY: `pre` is the 8-byte prestat the call fills.
            if unsafe { fd_prestat_get(fd, pre.as_mut_ptr()) } != 0 {
                break;
            }
            let len = u32::from_le_bytes(pre[4..8].try_into().unwrap_or_default());
            let mut name = vec![0u8; len as usize];
            // SAFETY: `name` has the length the host just reported.
            if pre[0] == 0 && unsafe { fd_prestat_dir_name(fd, name.as_mut_ptr(), len) } == 0 {
                out.push((fd, name));
            }
        }
        out
    }
    fn open(&mut self, dir: u32, path: &[u8], how: HostOpen) -> SysResult<u32> {
        let oflags = u32::from(how.create)
            | u32::from(how.directory) << 1
            | u32::from(how.excl) << 2
            | u32::from(how.trunc) << 3;
        let fdflags = u32::from(how.append);
        let mut rights = 0x1fff_ffffu64;
        if !how.write {
            rights &= !(0x40 | 0x400_000); // fd_write, fd_filestat_set_size
        }
        let mut fd = 0;
        // SAFETY: `path` is borrowed for the call; `fd` is a live local.
        check(unsafe {
            path_open(
                dir,
                u32::from(how.follow),
                path.as_ptr(),
                path.len() as u32,
                oflags,
                rights,
                rights,
                fdflags,
                &mut fd,
            )
        })?;
        Ok(fd)
    }
    fn close(&mut self, fd: u32) {
        // SAFETY: plain call; the fd belongs to the runtime.
        unsafe { fd_close(fd) };
    }
    fn pread(&mut self, fd: u32, buf: &mut [u8], offset: u64) -> SysResult<usize> {
        let iov = [addr(buf.as_ptr()), buf.len() as u32];
        let mut n = 0;
        // SAFETY: the iovec names `buf`, exclusively borrowed for the call.
        check(unsafe { fd_pread(fd, &iov, 1, offset, &mut n) })?;
        Ok(n as usize)
    }
    fn pwrite(&mut self, fd: u32, buf: &[u8], offset: u64) -> SysResult<usize> {
        let iov = [addr(buf.as_ptr()), buf.len() as u32];
        let mut n = 0;
        // SAFETY: the iovec names `buf`, live for the call.
        check(unsafe { fd_pwrite(fd, &iov, 1, offset, &mut n) })?;
        Ok(n as usize)
    }
    fn fstat(&mut self, fd: u32) -> SysResult<HostStat> {
        let mut b = [0u8; 64];
        // SAFETY: `b` is the 64-byte filestat the call fills.
        check(unsafe { fd_filestat_get(fd, b.as_mut_ptr()) })?;
        Ok(filestat(&b))
    }
    fn set_size(&mut self, fd: u32, size: u64) -> SysResult<()> {
        // SAFETY: plain call.
        check(unsafe { fd_filestat_set_size(fd, size) })
    }
    fn stat(&mut self, dir: u32, path: &[u8], follow: bool) -> SysResult<HostStat> {
        let mut b = [0u8; 64];
        // SAFETY: `path` is borrowed and `b` is the 64-byte filestat the call fills.
        check(unsafe {
            path_filestat_get(
                dir,
                u32::from(follow),
                path.as_ptr(),
                path.len() as u32,
                b.as_mut_ptr(),
            )
        })?;
        Ok(filestat(&b))
    }
    fn readdir(&mut self, fd: u32) -> SysResult<Vec<HostDirEntry>> {
        let (mut out, mut cookie, mut buf) = (Vec::new(), 0u64, vec![0u8; 4096]);
        loop {
            let mut used = 0;
            // SAFETY: `buf` is exclusively borrowed for the call.
            check(unsafe {
                fd_readdir(fd, buf.as_mut_ptr(), buf.len() as u32, cookie, &mut used)
            })?;
            let used = used as usize;
            let mut at = 0;
            let mut progressed = false;
            while at + 24 <= used {
                let w = |o: usize| {
                    u64::from_le_bytes(buf[at + o..at + o + 8].try_into().unwrap_or_default())
                };
                let namlen =
                    u32::from_le_bytes(buf[at + 16..at + 20].try_into().unwrap_or_default())
                        as usize;
                if at + 24 + namlen > used {
                    break;
                }
                let name = buf[at + 24..at + 24 + namlen].to_vec();
                cookie = w(0);
                progressed = true;
                if name != b"." && name != b".." {
                    out.push(HostDirEntry {
                        name,
                        kind: kind(buf[at + 20]),
                        ino: w(8),
                    });
                }
                at += 24 + namlen;
            }
            if used < buf.len() {
                return Ok(out);
            }
            if !progressed {
                buf.resize(buf.len() * 2, 0);
            }
        }
    }
    fn mkdir(&mut self, dir: u32, path: &[u8]) -> SysResult<()> {
        // SAFETY: `path` is borrowed for the call.
        check(unsafe { path_create_directory(dir, path.as_ptr(), path.len() as u32) })
    }
    fn unlink(&mut self, dir: u32, path: &[u8]) -> SysResult<()> {
        // SAFETY: `path` is borrowed for the call.
        check(unsafe { path_unlink_file(dir, path.as_ptr(), path.len() as u32) })
    }
    fn rmdir(&mut self, dir: u32, path: &[u8]) -> SysResult<()> {
        // SAFETY: `path` is borrowed for the call.
        check(unsafe { path_remove_directory(dir, path.as_ptr(), path.len() as u32) })
    }
    fn rename(&mut self, dir: u32, old: &[u8], new_dir: u32, new: &[u8]) -> SysResult<()> {
        // SAFETY: both paths are borrowed for the call.
        check(unsafe {
            path_rename(
                dir,
                old.as_ptr(),
                old.len() as u32,
                new_dir,
                new.as_ptr(),
                new.len() as u32,
            )
        })
    }
    fn readlink(&mut self, dir: u32, path: &[u8]) -> SysResult<Vec<u8>> {
        let mut buf = vec![0u8; 4096];
        let mut used = 0;
        // SAFETY: `path` is borrowed and `buf` exclusively borrowed for the call.
        check(unsafe {
            path_readlink(
                dir,
                path.as_ptr(),
                path.len() as u32,
                buf.as_mut_ptr(),
                4096,
                &mut used,
            )
        })?;
        buf.truncate(used as usize);
        Ok(buf)
    }
    fn symlink(&mut self, target: &[u8], dir: u32, path: &[u8]) -> SysResult<()> {
        // SAFETY: both byte strings are borrowed for the call.
        check(unsafe {
            path_symlink(
                target.as_ptr(),
                target.len() as u32,
                dir,
                path.as_ptr(),
                path.len() as u32,
            )
        })
    }
}

//! Syscall tests through the dispatcher, against the test platform.

use super::testing::{Harness, SCRATCH};
use crate::abi::*;
use alloc::string::String;

const FDCWD: u64 = at::FDCWD as i64 as u64;

fn e(err: Errno) -> i64 {
    -i64::from(err.0)
}

#[test]
fn table_has_unique_numbers_and_unknown_is_enosys() {
    let mut n = super::NUMBERS.to_vec();
    n.sort_unstable();
    n.dedup();
    assert_eq!(n.len(), super::NUMBERS.len());
    let mut h = Harness::new();
    assert_eq!(h.call(999, &[1, 2, 3]), e(ENOSYS));
    assert!(String::from_utf8_lossy(&h.p.stderr).contains("unsupported syscall 999"));
}

#[test]
fn file_io_roundtrip_with_strace() {
    let mut h = Harness::new();
    h.proc.strace = true;
    let path = h.str(0, "/tmp/new");
    let fd = h.call(257, &[FDCWD, path, u64::from(o::CREAT | o::RDWR), 0o600]);
    assert_eq!(fd, 3);
    let data = h.str(100, "hello world");
    assert_eq!(h.call(1, &[3, data, 11]), 11);
    assert_eq!(h.call(8, &[3, 0, 0]), 0);
    assert_eq!(h.call(0, &[3, SCRATCH + 200, 5]), 5);
    assert_eq!(h.bytes(SCRATCH + 200, 5), b"hello");
    assert_eq!(h.call(17, &[3, SCRATCH + 300, 100, 6]), 5);
    assert_eq!(h.bytes(SCRATCH + 300, 5), b"world");
    // fstat and stat agree; statx has the size.
    assert_eq!(h.call(5, &[3, SCRATCH + 400]), 0);
    assert_eq!(h.bytes(SCRATCH + 400 + 48, 8), 11u64.to_le_bytes());
    assert_eq!(h.call(332, &[FDCWD, path, 0, 0x7ff, SCRATCH + 600]), 0);
    assert_eq!(h.bytes(SCRATCH + 600 + 40, 8), 11u64.to_le_bytes());
    // dup2, fcntl, close.
    assert_eq!(h.call(33, &[3, 10]), 10);
    assert_eq!(h.call(72, &[10, u64::from(f::SETFD), 1]), 0);
    assert_eq!(h.call(72, &[10, u64::from(f::GETFD)]), 1);
    assert_eq!(h.call(72, &[3, u64::from(f::DUPFD_CLOEXEC), 20]), 20);
    assert_eq!(h.call(3, &[3]), 0);
    assert_eq!(h.call(3, &[3]), e(EBADF));
    let missing = h.str(900, "/nope");
    assert_eq!(h.call(2, &[missing, 0]), e(ENOENT));
    let trace = String::from_utf8_lossy(&h.p.stderr).into_owned();
    assert!(
        trace.contains("openat(AT_FDCWD, \"/tmp/new\", 0x42, 0x180) = 3"),
        "{trace}"
    );
    assert!(
        trace.contains("open(\"/nope\", 0x0, 0x0) = -1 ENOENT (No such file or directory)"),
        "{trace}"
    );
}

#[test]
fn directories_cwd_and_getdents() {
    let mut h = Harness::new();
    let d = h.str(0, "/tmp/d");
    assert_eq!(h.call(83, &[d, 0o755]), 0);
    assert_eq!(h.call(83, &[d, 0o755]), e(EEXIST));
    assert_eq!(h.call(80, &[d]), 0);
    assert_eq!(h.call(79, &[SCRATCH + 100, 100]), 7);
    assert_eq!(h.bytes(SCRATCH + 100, 7), b"/tmp/d\0");
    assert_eq!(h.call(79, &[SCRATCH + 100, 3]), e(ERANGE));
    let rel = h.str(200, "f");
    assert_eq!(h.call(85, &[rel, 0o644]), 3);
    let dot = h.str(300, ".");
    let fd = h.call(2, &[dot, u64::from(o::DIRECTORY)]) as u64;
    let n = h.call(217, &[fd, SCRATCH + 1000, 4096]);
    assert_eq!(n, 72, ". .. f");
    assert_eq!(h.call(217, &[fd, SCRATCH + 1000, 4096]), 0);
    let link = h.str(400, "/tmp/l");
    let target = h.str(500, "d/f");
    assert_eq!(h.call(88, &[target, link]), 0);
    assert_eq!(h.call(89, &[link, SCRATCH + 600, 64]), 3);
    assert_eq!(h.call(89, &[d, SCRATCH + 600, 64]), e(EINVAL));
    assert_eq!(h.call(84, &[d]), e(ENOTEMPTY));
    assert_eq!(h.call(87, &[rel]), 0);
    let up = h.str(700, "..");
    assert_eq!(h.call(80, &[up]), 0);
    assert_eq!(h.call(84, &[d]), 0);
    let x = h.str(800, "/bin/busybox");
    assert_eq!(h.call(21, &[x, 1]), 0);
    let passwd = h.str(900, "/etc/passwd");
    assert_eq!(h.call(21, &[passwd, 1]), e(EACCES));
}

#[test]
fn pipes_poll_and_ioctl() {
    let mut h = Harness::new();
    assert_eq!(h.call(293, &[SCRATCH, u64::from(o::CLOEXEC)]), 0);
    let (r, w) = (
        u64::from(h.host.mem.read_u32(SCRATCH).unwrap()),
        u64::from(h.host.mem.read_u32(SCRATCH + 4).unwrap()),
    );
    assert_eq!((r, w), (3, 4));
    assert_eq!(h.call(0, &[r, SCRATCH + 100, 10]), e(EAGAIN));
    let msg = h.str(200, "ping");
    assert_eq!(h.call(1, &[w, msg, 4]), 4);
    // pollfd {fd, events=POLLIN} for the read end.
    h.host.mem.write_u32(SCRATCH + 300, r as u32).unwrap();
    h.host.mem.write_u16(SCRATCH + 304, 1).unwrap();
    assert_eq!(h.call(7, &[SCRATCH + 300, 1, 0]), 1);
    assert_eq!(h.host.mem.read_u16(SCRATCH + 306).unwrap(), 1);
    assert_eq!(h.call(16, &[r, ioctl::FIONREAD, SCRATCH + 400]), 0);
    assert_eq!(h.host.mem.read_u32(SCRATCH + 400).unwrap(), 4);
    assert_eq!(h.call(0, &[r, SCRATCH + 100, 10]), 4);
    assert_eq!(h.call(3, &[w]), 0);
    assert_eq!(
        h.call(0, &[r, SCRATCH + 100, 10]),
        0,
        "EOF once writers are gone"
    );
    assert_eq!(h.call(16, &[1, ioctl::TCGETS, SCRATCH + 500]), e(ENOTTY));
    h.p.tty = true;
    assert_eq!(h.call(16, &[1, ioctl::TIOCGWINSZ, SCRATCH + 500]), 0);
    assert_eq!(h.host.mem.read_u16(SCRATCH + 502).unwrap(), 80);
    // Writing to a pipe without readers: EPIPE and SIGPIPE pending.
    assert_eq!(h.call(22, &[SCRATCH]), 0);
    let (r2, w2) = (
        u64::from(h.host.mem.read_u32(SCRATCH).unwrap()),
        u64::from(h.host.mem.read_u32(SCRATCH + 4).unwrap()),
    );
    assert_eq!(h.call(3, &[r2]), 0);
    assert_eq!(h.call(1, &[w2, msg, 4]), e(EPIPE));
    assert_eq!(h.proc.sig.next_deliverable(), Some(sig::SIGPIPE));
}

#[test]
fn memory_identity_time_and_random() {
    let mut h = Harness::new();
    let a = h.call(
        9,
        &[0, 8192, 3, mm::MAP_PRIVATE | mm::MAP_ANONYMOUS, u64::MAX, 0],
    );
    assert_eq!(a, 0x100_0000);
    let path = h.str(0, "/etc/passwd");
    let fd = h.call(2, &[path, 0]) as u64;
    let m = h.call(9, &[0, 100, 1, mm::MAP_PRIVATE, fd, 0]) as u64;
    assert_eq!(h.bytes(m, 4), b"root");
    assert_eq!(h.call(11, &[m, 4096]), 0);
    assert_eq!(h.call(12, &[0]), 0x40_0000);
    assert_eq!(h.call(39, &[]), 1);
    assert_eq!(h.call(102, &[]), 0);
    assert_eq!(h.call(63, &[SCRATCH]), 0);
    assert_eq!(h.bytes(SCRATCH, 6), b"Linux\0");
    assert_eq!(h.bytes(SCRATCH + 4 * 65, 7), b"x86_64\0");
    assert_eq!(h.call(228, &[1, SCRATCH + 100]), 0);
    assert_eq!(h.call(228, &[99, SCRATCH + 100]), e(EINVAL));
    assert_eq!(h.call(318, &[SCRATCH + 200, 16, 0]), 16);
    assert_eq!(h.call(158, &[misc::ARCH_SET_FS, 0x1234]), 0);
    assert_eq!(h.cpu.fs_base, 0x1234);
    assert_eq!(h.call(302, &[0, 7, 0, SCRATCH + 300]), 0);
    assert_eq!(h.host.mem.read_u64(SCRATCH + 300).unwrap(), 1024);
    assert_eq!(h.call(204, &[0, 128, SCRATCH + 400]), 8);
    h.host.mem.write_u32(SCRATCH + 500, 5).unwrap();
    assert_eq!(h.call(202, &[SCRATCH + 500, 0, 6, 0]), e(EAGAIN));
    assert_eq!(h.call(202, &[SCRATCH + 500, 1, 1]), 0);
    assert_eq!(h.call(231, &[300]), 0);
    assert_eq!(h.proc.exit_status, Some(44));
}

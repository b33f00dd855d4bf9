//! The Linux x86-64 guest ABI in one place: syscall numbers, errno values, flag bits, auxv tags,
//! signal numbers, and the byte layouts of the structures the kernel writes into guest memory.
//!
//! Structures are written as little-endian byte encoders (`to_bytes`) rather than `#[repr(C)]`
//! structs so that the runtime never depends on its own target's layout (wasm32 has 4-byte
//! pointers; the guest has 8-byte ones). Offsets follow the kernel's `arch/x86/include/uapi`.

use alloc::vec::Vec;

/// A guest-visible error: a positive Linux errno, returned to the guest as `-errno`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Errno(pub i32);

impl From<vfs_pack::FsError> for Errno {
    fn from(e: vfs_pack::FsError) -> Errno {
        Errno(e.errno())
    }
}

impl From<crate::mem::Fault> for Errno {
    fn from(_: crate::mem::Fault) -> Errno {
        EFAULT
    }
}

/// The result of a guest-visible operation.
pub type SysResult<T = u64> = Result<T, Errno>;

macro_rules! errnos {
    ($($name:ident = $v:expr, $msg:expr;)*) => {
        $(pub const $name: Errno = Errno($v);)*
        /// The symbolic name of an errno (`"ENOENT"`), for traces.
        pub fn errno_name(e: Errno) -> &'static str {
            match e.0 { $($v => stringify!($name),)* _ => "E?" }
        }
        /// The message `strerror` gives for an errno.
        pub fn errno_message(e: Errno) -> &'static str {
            match e.0 { $($v => $msg,)* _ => "Unknown error" }
        }
    };
}

errnos! {
    EPERM = 1, "Operation not permitted";
    ENOENT = 2, "No such file or directory";
    ESRCH = 3, "No such process";
    EINTR = 4, "Interrupted system call";
    EIO = 5, "Input/output error";
    ENXIO = 6, "No such device or address";
    E2BIG = 7, "Argument list too long";
    ENOEXEC = 8, "Exec format error";
    EBADF = 9, "Bad file descriptor";
    ECHILD = 10, "No child processes";
    EAGAIN = 11, "Resource temporarily unavailable";
    ENOMEM = 12, "Cannot allocate memory";
    EACCES = 13, "Permission denied";
    EFAULT = 14, "Bad address";
    EBUSY = 16, "Device or resource busy";
    EEXIST = 17, "File exists";
    EXDEV = 18, "Invalid cross-device link";
    ENODEV = 19, "No such device";
    ENOTDIR = 20, "Not a directory";
    EISDIR = 21, "Is a directory";
    EINVAL = 22, "Invalid argument";
    ENFILE = 23, "Too many open files in system";
    EMFILE = 24, "Too many open files";
    ENOTTY = 25, "Inappropriate ioctl for device";
    EFBIG = 27, "File too large";
    ENOSPC = 28, "No space left on device";
    ESPIPE = 29, "Illegal seek";
    EROFS = 30, "Read-only file system";
    EMLINK = 31, "Too many links";
    EPIPE = 32, "Broken pipe";
    ERANGE = 34, "Numerical result out of range";
    EDEADLK = 35, "Resource deadlock avoided";
    ENAMETOOLONG = 36, "File name too long";
    ENOSYS = 38, "Function not implemented";
    ENOTEMPTY = 39, "Directory not empty";
    ELOOP = 40, "Too many levels of symbolic links";
    ENODATA = 61, "No data available";
    EOVERFLOW = 75, "Value too large for defined data type";
    ENOTSOCK = 88, "Socket operation on non-socket";
    EOPNOTSUPP = 95, "Operation not supported";
    ETIMEDOUT = 110, "Connection timed out";
}

/// System call numbers (x86-64).
pub mod nr {
    pub const READ: u64 = 0;
    pub const WRITE: u64 = 1;
    pub const RT_SIGRETURN: u64 = 15;
    pub const EXIT: u64 = 60;
    pub const EXIT_GROUP: u64 = 231;
}

/// `open` flags (octal, as in `asm-generic/fcntl.h`).
pub mod o {
    pub const RDONLY: u32 = 0;
    pub const WRONLY: u32 = 1;
    pub const RDWR: u32 = 2;
    pub const ACCMODE: u32 = 3;
    pub const CREAT: u32 = 0o100;
    pub const EXCL: u32 = 0o200;
    pub const NOCTTY: u32 = 0o400;
    pub const TRUNC: u32 = 0o1000;
    pub const APPEND: u32 = 0o2000;
    pub const NONBLOCK: u32 = 0o4000;
    pub const LARGEFILE: u32 = 0o100000;
    pub const DIRECTORY: u32 = 0o200000;
    pub const NOFOLLOW: u32 = 0o400000;
    pub const CLOEXEC: u32 = 0o2000000;
    pub const PATH: u32 = 0o10000000;
    pub const TMPFILE: u32 = 0o20000000;
    /// Flags `F_SETFL` may change.
    pub const SETFL_MASK: u32 = APPEND | NONBLOCK;
}

/// `*at` flags and the special directory fd.
pub mod at {
    pub const FDCWD: i32 = -100;
    pub const SYMLINK_NOFOLLOW: u32 = 0x100;
    pub const REMOVEDIR: u32 = 0x200;
    pub const EACCESS: u32 = 0x200;
    pub const SYMLINK_FOLLOW: u32 = 0x400;
    pub const EMPTY_PATH: u32 = 0x1000;
    pub const RENAME_NOREPLACE: u32 = 1;
    pub const RENAME_EXCHANGE: u32 = 2;
}

/// `st_mode` type bits.
pub mod s {
    pub const IFMT: u32 = 0o170000;
    pub const IFDIR: u32 = 0o040000;
    pub const IFREG: u32 = 0o100000;
    pub const IFLNK: u32 = 0o120000;
    pub const IFCHR: u32 = 0o020000;
    pub const IFIFO: u32 = 0o010000;
}

/// `fcntl` commands.
pub mod f {
    pub const DUPFD: u32 = 0;
    pub const GETFD: u32 = 1;
    pub const SETFD: u32 = 2;
    pub const GETFL: u32 = 3;
    pub const SETFL: u32 = 4;
    pub const GETLK: u32 = 5;
    pub const SETLK: u32 = 6;
    pub const SETLKW: u32 = 7;
    pub const DUPFD_CLOEXEC: u32 = 1030;
    pub const FD_CLOEXEC: u64 = 1;
    pub const UNLCK: u16 = 2;
}

/// `mmap` protections and flags, `mremap` and `madvise`.
pub mod mm {
    pub const PROT_READ: u64 = 1;
    pub const PROT_WRITE: u64 = 2;
    pub const PROT_EXEC: u64 = 4;
    pub const MAP_SHARED: u64 = 0x01;
    pub const MAP_PRIVATE: u64 = 0x02;
    pub const MAP_FIXED: u64 = 0x10;
    pub const MAP_ANONYMOUS: u64 = 0x20;
    pub const MAP_GROWSDOWN: u64 = 0x100;
    pub const MAP_FIXED_NOREPLACE: u64 = 0x100000;
    pub const MREMAP_MAYMOVE: u64 = 1;
    pub const MREMAP_FIXED: u64 = 2;
    pub const MADV_DONTNEED: u64 = 4;
    pub const MADV_FREE: u64 = 8;
}

/// Signals and `sigaction` flags.
pub mod sig {
    pub const SIGHUP: u32 = 1;
    pub const SIGINT: u32 = 2;
    pub const SIGQUIT: u32 = 3;
    pub const SIGILL: u32 = 4;
    pub const SIGTRAP: u32 = 5;
    pub const SIGABRT: u32 = 6;
    pub const SIGBUS: u32 = 7;
    pub const SIGFPE: u32 = 8;
    pub const SIGKILL: u32 = 9;
    pub const SIGUSR1: u32 = 10;
    pub const SIGSEGV: u32 = 11;
    pub const SIGUSR2: u32 = 12;
    pub const SIGPIPE: u32 = 13;
    pub const SIGALRM: u32 = 14;
    pub const SIGTERM: u32 = 15;
    pub const SIGCHLD: u32 = 17;
    pub const SIGCONT: u32 = 18;
    pub const SIGSTOP: u32 = 19;
    pub const SIGTSTP: u32 = 20;
    pub const SIGURG: u32 = 23;
    pub const SIGWINCH: u32 = 28;
    pub const SIGSYS: u32 = 31;
    pub const NSIG: u32 = 64;
    pub const SIG_DFL: u64 = 0;
    pub const SIG_IGN: u64 = 1;
    pub const SIG_BLOCK: u64 = 0;
    pub const SIG_UNBLOCK: u64 = 1;
    pub const SIG_SETMASK: u64 = 2;
    pub const SA_SIGINFO: u64 = 4;
    pub const SA_RESTORER: u64 = 0x0400_0000;
    pub const SA_ONSTACK: u64 = 0x0800_0000;
    pub const SA_RESTART: u64 = 0x1000_0000;
    pub const SA_NODEFER: u64 = 0x4000_0000;
    pub const SA_RESETHAND: u64 = 0x8000_0000;
    pub const SS_ONSTACK: u32 = 1;
    pub const SS_DISABLE: u32 = 2;
    pub const MINSIGSTKSZ: u64 = 2048;
    /// `si_code` values.
    pub const SI_USER: i32 = 0;
    pub const SI_KERNEL: i32 = 0x80;
    pub const SI_TKILL: i32 = -6;
    pub const SEGV_MAPERR: i32 = 1;
    pub const SEGV_ACCERR: i32 = 2;
    pub const FPE_INTDIV: i32 = 1;
    pub const ILL_ILLOPN: i32 = 2;
    pub const TRAP_BRKPT: i32 = 1;

    /// What a shell prints when a child dies of `signal`.
    pub fn description(signal: u32) -> &'static str {
        match signal {
            SIGHUP => "Hangup",
            SIGINT => "Interrupt",
            SIGQUIT => "Quit",
            SIGILL => "Illegal instruction",
            SIGTRAP => "Trace/breakpoint trap",
            SIGABRT => "Aborted",
            SIGBUS => "Bus error",
            SIGFPE => "Floating point exception",
            SIGKILL => "Killed",
            SIGUSR1 => "User defined signal 1",
            SIGSEGV => "Segmentation fault",
            SIGUSR2 => "User defined signal 2",
            SIGPIPE => "Broken pipe",
            SIGALRM => "Alarm clock",
            SIGTERM => "Terminated",
            SIGSYS => "Bad system call",
            _ => "Killed by signal",
        }
    }

    /// Whether the default action of `signal` is to ignore it.
    pub fn default_ignored(signal: u32) -> bool {
        matches!(signal, SIGCHLD | SIGCONT | SIGURG | SIGWINCH)
    }
}

/// Auxiliary vector tags.
pub mod auxv {
    pub const AT_NULL: u64 = 0;
    pub const AT_PHDR: u64 = 3;
    pub const AT_PHENT: u64 = 4;
    pub const AT_PHNUM: u64 = 5;
    pub const AT_PAGESZ: u64 = 6;
    pub const AT_BASE: u64 = 7;
    pub const AT_FLAGS: u64 = 8;
    pub const AT_ENTRY: u64 = 9;
    pub const AT_UID: u64 = 11;
    pub const AT_EUID: u64 = 12;
    pub const AT_GID: u64 = 13;
    pub const AT_EGID: u64 = 14;
    pub const AT_PLATFORM: u64 = 15;
    pub const AT_HWCAP: u64 = 16;
    pub const AT_CLKTCK: u64 = 17;
    pub const AT_SECURE: u64 = 23;
    pub const AT_RANDOM: u64 = 25;
    pub const AT_HWCAP2: u64 = 26;
    pub const AT_EXECFN: u64 = 31;
    /// CPUID.1:EDX of the interpreter's CPU (`interp::system`): FPU, TSC, CX8, CMOV, CLFSH, MMX,
    /// FXSR, SSE, SSE2.
    pub const HWCAP: u64 = 0x0788_8111;
}

/// `ioctl` requests on terminals.
pub mod ioctl {
    pub const TCGETS: u64 = 0x5401;
    pub const TCSETS: u64 = 0x5402;
    pub const TCSETSW: u64 = 0x5403;
    pub const TCSETSF: u64 = 0x5404;
    pub const TIOCGPGRP: u64 = 0x540f;
    pub const TIOCSPGRP: u64 = 0x5410;
    pub const TIOCGWINSZ: u64 = 0x5413;
    pub const FIONREAD: u64 = 0x541b;
    pub const FIONBIO: u64 = 0x5421;
    pub const FIOCLEX: u64 = 0x5451;
    pub const FIONCLEX: u64 = 0x5450;
}

/// Miscellaneous constants.
pub mod misc {
    pub const FUTEX_WAIT: u64 = 0;
    pub const FUTEX_WAKE: u64 = 1;
    pub const FUTEX_WAIT_BITSET: u64 = 9;
    pub const FUTEX_WAKE_BITSET: u64 = 10;
    pub const FUTEX_CMD_MASK: u64 = 0x7f;
    pub const ARCH_SET_GS: u64 = 0x1001;
    pub const ARCH_SET_FS: u64 = 0x1002;
    pub const ARCH_GET_FS: u64 = 0x1003;
    pub const ARCH_GET_GS: u64 = 0x1004;
    pub const CLOCK_REALTIME: u64 = 0;
    pub const CLOCK_MONOTONIC: u64 = 1;
    pub const CLOCK_PROCESS_CPUTIME_ID: u64 = 2;
    pub const CLOCK_THREAD_CPUTIME_ID: u64 = 3;
    pub const CLOCK_MONOTONIC_RAW: u64 = 4;
    pub const CLOCK_REALTIME_COARSE: u64 = 5;
    pub const CLOCK_MONOTONIC_COARSE: u64 = 6;
    pub const CLOCK_BOOTTIME: u64 = 7;
    pub const TIMER_ABSTIME: u64 = 1;
    pub const POLLIN: u16 = 1;
    pub const POLLOUT: u16 = 4;
    pub const POLLERR: u16 = 8;
    pub const POLLHUP: u16 = 0x10;
    pub const POLLNVAL: u16 = 0x20;
    pub const RLIMIT_STACK: u32 = 3;
    pub const RLIMIT_NOFILE: u32 = 7;
    pub const RLIM_INFINITY: u64 = u64::MAX;
    pub const SEEK_SET: u32 = 0;
    pub const SEEK_CUR: u32 = 1;
    pub const SEEK_END: u32 = 2;
    pub const GRND_NONBLOCK: u64 = 1;
    pub const STATX_BASIC_STATS: u32 = 0x7ff;
}

/// Writes little-endian fields into a zeroed buffer at fixed offsets.
#[derive(Debug)]
pub struct Enc(pub Vec<u8>);

impl Enc {
    pub fn new(len: usize) -> Enc {
        Enc(alloc::vec![0; len])
    }
    pub fn u16(&mut self, at: usize, v: u16) -> &mut Enc {
        self.0[at..at + 2].copy_from_slice(&v.to_le_bytes());
        self
    }
    pub fn u32(&mut self, at: usize, v: u32) -> &mut Enc {
        self.0[at..at + 4].copy_from_slice(&v.to_le_bytes());
        self
    }
    pub fn u64(&mut self, at: usize, v: u64) -> &mut Enc {
        self.0[at..at + 8].copy_from_slice(&v.to_le_bytes());
        self
    }
    pub fn bytes(&mut self, at: usize, v: &[u8]) -> &mut Enc {
        self.0[at..at + v.len()].copy_from_slice(v);
        self
    }
    pub fn done(&mut self) -> Vec<u8> {
        core::mem::take(&mut self.0)
    }
}

/// A point in time: seconds and nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timespec {
    pub sec: i64,
    pub nsec: i64,
}

impl Timespec {
    pub fn from_ns(ns: u64) -> Timespec {
        Timespec {
            sec: (ns / 1_000_000_000) as i64,
            nsec: (ns % 1_000_000_000) as i64,
        }
    }
    /// Nanoseconds, or `None` if negative or out of range (EINVAL).
    pub fn to_ns(self) -> Option<u64> {
        if self.sec < 0 || !(0..1_000_000_000).contains(&self.nsec) {
            return None;
        }
        (self.sec as u64)
            .checked_mul(1_000_000_000)?
            .checked_add(self.nsec as u64)
    }
    pub fn to_bytes(self) -> [u8; 16] {
        let mut b = [0; 16];
        b[..8].copy_from_slice(&self.sec.to_le_bytes());
        b[8..].copy_from_slice(&self.nsec.to_le_bytes());
        b
    }
    pub fn from_bytes(b: [u8; 16]) -> Timespec {
        Timespec {
            sec: i64::from_le_bytes(b[..8].try_into().unwrap_or_default()),
            nsec: i64::from_le_bytes(b[8..].try_into().unwrap_or_default()),
        }
    }
}

/// What `stat`, `fstat` and `statx` report, before encoding.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stat {
    pub dev: u64,
    pub ino: u64,
    pub nlink: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub rdev: u64,
    pub size: u64,
    pub blksize: u64,
    pub blocks: u64,
    pub atime: Timespec,
    pub mtime: Timespec,
    pub ctime: Timespec,
}

/// Splits a device number as Linux's `major()`/`minor()` do.
pub fn dev_split(dev: u64) -> (u32, u32) {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    (major as u32, minor as u32)
}

/// Combines a device number as Linux's `makedev()` does.
pub fn makedev(major: u32, minor: u32) -> u64 {
    let (ma, mi) = (u64::from(major), u64::from(minor));
    ((ma & 0xfff) << 8) | ((ma & !0xfff) << 32) | (mi & 0xff) | ((mi & !0xff) << 12)
}

impl Stat {
    /// `struct stat` (144 bytes).
    pub fn to_stat(&self) -> Vec<u8> {
        Enc::new(144)
            .u64(0, self.dev)
            .u64(8, self.ino)
            .u64(16, self.nlink)
            .u32(24, self.mode)
            .u32(28, self.uid)
            .u32(32, self.gid)
            .u64(40, self.rdev)
            .u64(48, self.size)
            .u64(56, self.blksize)
            .u64(64, self.blocks)
            .bytes(72, &self.atime.to_bytes())
            .bytes(88, &self.mtime.to_bytes())
            .bytes(104, &self.ctime.to_bytes())
            .done()
    }

    /// `struct statx` (256 bytes) with every basic field valid.
    pub fn to_statx(&self) -> Vec<u8> {
        let ts = |t: Timespec| {
            let mut b = [0u8; 16];
            b[..8].copy_from_slice(&t.sec.to_le_bytes());
            b[8..12].copy_from_slice(&(t.nsec as u32).to_le_bytes());
            b
        };
        let (rmaj, rmin) = dev_split(self.rdev);
        let (dmaj, dmin) = dev_split(self.dev);
        Enc::new(256)
            .u32(0, misc::STATX_BASIC_STATS)
            .u32(4, self.blksize as u32)
            .u32(16, self.nlink as u32)
            .u32(20, self.uid)
            .u32(24, self.gid)
            .u16(28, self.mode as u16)
            .u64(32, self.ino)
            .u64(40, self.size)
            .u64(48, self.blocks)
            .bytes(64, &ts(self.atime))
            .bytes(96, &ts(self.ctime))
            .bytes(112, &ts(self.mtime))
            .u32(128, rmaj)
            .u32(132, rmin)
            .u32(136, dmaj)
            .u32(140, dmin)
            .done()
    }
}

/// Appends one `struct linux_dirent64` record (8-byte aligned) if it fits in `room` bytes.
pub fn push_dirent64(
    out: &mut Vec<u8>,
    room: usize,
    ino: u64,
    off: u64,
    dtype: u8,
    name: &[u8],
) -> bool {
    let reclen = (19 + name.len() + 1).div_ceil(8) * 8;
    if out.len() + reclen > room {
        return false;
    }
    let at = out.len();
    out.resize(at + reclen, 0);
    out[at..at + 8].copy_from_slice(&ino.to_le_bytes());
    out[at + 8..at + 16].copy_from_slice(&off.to_le_bytes());
    out[at + 16..at + 18].copy_from_slice(&(reclen as u16).to_le_bytes());
    out[at + 18] = dtype;
    out[at + 19..at + 19 + name.len()].copy_from_slice(name);
    true
}

/// `struct utsname`: six 65-byte NUL-terminated fields.
pub fn utsname(fields: [&[u8]; 6]) -> Vec<u8> {
    let mut e = Enc::new(6 * 65);
    for (i, f) in fields.iter().enumerate() {
        e.bytes(i * 65, &f[..f.len().min(64)]);
    }
    e.done()
}

/// `struct sysinfo` (112 bytes, `mem_unit` 1).
pub fn sysinfo(uptime: u64, totalram: u64, freeram: u64) -> Vec<u8> {
    Enc::new(112)
        .u64(0, uptime)
        .u64(32, totalram)
        .u64(40, freeram)
        .u16(80, 1)
        .u32(104, 1)
        .done()
}

/// `struct rlimit`.
pub fn rlimit(cur: u64, max: u64) -> [u8; 16] {
    let mut b = [0; 16];
    b[..8].copy_from_slice(&cur.to_le_bytes());
    b[8..].copy_from_slice(&max.to_le_bytes());
    b
}

/// The kernel's `struct sigaction` for x86-64 (32 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigAction {
    pub handler: u64,
    pub flags: u64,
    pub restorer: u64,
    pub mask: u64,
}

impl SigAction {
    pub fn to_bytes(self) -> [u8; 32] {
        let mut b = [0; 32];
        for (i, v) in [self.handler, self.flags, self.restorer, self.mask]
            .iter()
            .enumerate()
        {
            b[i * 8..i * 8 + 8].copy_from_slice(&v.to_le_bytes());
        }
        b
    }
    pub fn from_bytes(b: [u8; 32]) -> SigAction {
        let w = |i: usize| u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().unwrap_or_default());
        SigAction {
            handler: w(0),
            flags: w(1),
            restorer: w(2),
            mask: w(3),
        }
    }
}

/// `struct winsize` for `TIOCGWINSZ`.
pub fn winsize(rows: u16, cols: u16) -> [u8; 8] {
    let mut b = [0; 8];
    b[..2].copy_from_slice(&rows.to_le_bytes());
    b[2..4].copy_from_slice(&cols.to_le_bytes());
    b
}

/// A `struct termios` (60 bytes, kernel layout) for a cooked terminal at 38400 baud.
pub fn termios_default() -> Vec<u8> {
    Enc::new(60)
        .u32(0, 0x0500) // c_iflag: ICRNL | IXON
        .u32(4, 0x0005) // c_oflag: OPOST | ONLCR
        .u32(8, 0x00bf) // c_cflag: B38400 | CS8 | CREAD
        .u32(12, 0x8a3b) // c_lflag: ISIG | ICANON | ECHO | ECHOE | ECHOK | ECHOCTL | ECHOKE | IEXTEN
        .bytes(
            17,
            &[3, 28, 127, 21, 4, 0, 1, 0, 17, 19, 26, 0, 18, 15, 23, 22],
        )
        .done()
}

#[cfg(test)]
mod tests;

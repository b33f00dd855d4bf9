//! System calls: ONE table of rows `number name "argument kinds" handler` produces both the
//! dispatcher and the strace-like trace (`OCI2WASM_STRACE=1` in the guest environment prints
//! `name(args) = result` on stderr). A number without a row returns `-ENOSYS` and always leaves
//! one trace line naming it.
//!
//! Argument kinds, one letter per argument: `i` signed integer, `u` unsigned, `x` hex, `s` a
//! NUL-terminated guest string, `f` an fd (`AT_FDCWD` shown by name), `p` a pointer.
//!
//! Handlers live in [`fs`] and [`io`] (files), [`mm`] (memory), [`proc`] (identity, limits,
//! threads), [`time`] and [`signal`]; each takes a [`Ctx`] and the six raw arguments and returns
//! the value for `rax` or a guest errno.

pub mod fs;
pub mod io;
pub mod mm;
pub mod proc;
pub mod signal;
pub mod time;

use crate::abi::*;
use crate::cpu::{Cpu, reg};
use crate::mem::{GuestMem, perm};
use crate::platform::Platform;
use crate::process::Process;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// Everything a handler may touch.
pub struct Ctx<'a> {
    pub proc: &'a mut Process,
    pub cpu: &'a mut Cpu,
    pub mem: &'a mut GuestMem,
    pub p: &'a mut dyn Platform,
    /// The executor's RFLAGS accessors (flags are lazy in the CPU state).
    pub rflags: fn(&Cpu) -> u64,
    pub set_rflags: fn(&mut Cpu, u64),
}

impl core::fmt::Debug for Ctx<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Ctx").field("rip", &self.cpu.rip).finish()
    }
}

/// A handler.
pub type Handler = fn(&mut Ctx<'_>, [u64; 6]) -> SysResult;

impl Ctx<'_> {
    /// A NUL-terminated guest string (at most `PATH_MAX` bytes).
    pub fn cstr(&self, addr: u64) -> SysResult<Vec<u8>> {
        let mut out = Vec::new();
        loop {
            let b = self.mem.read_u8(addr + out.len() as u64)?;
            if b == 0 {
                return Ok(out);
            }
            out.push(b);
            if out.len() >= vfs_pack::PATH_MAX {
                return Err(ENAMETOOLONG);
            }
        }
    }

    pub fn read(&self, addr: u64, len: u64) -> SysResult<Vec<u8>> {
        Ok(self.mem.slice(addr, len, perm::READ)?.to_vec())
    }

    pub fn write(&mut self, addr: u64, bytes: &[u8]) -> SysResult<()> {
        self.mem
            .slice_mut(addr, bytes.len() as u64)?
            .copy_from_slice(bytes);
        Ok(())
    }

    /// Writes to the guest's stderr directly (runtime messages).
    pub fn stderr(&mut self, msg: &str) {
        let _ = self.p.write(2, msg.as_bytes());
    }
}

macro_rules! syscalls {
    ($($nr:literal $name:ident $args:literal $handler:path;)*) => {
        /// The row for a syscall number: name, argument kinds, handler.
        pub fn lookup(nr: u64) -> Option<(&'static str, &'static str, Handler)> {
            match nr {
                $($nr => Some((stringify!($name), $args, $handler as Handler)),)*
                _ => None,
            }
        }
        /// Every row's number, for tests and documentation.
        pub const NUMBERS: &[u64] = &[$($nr),*];
    };
}

syscalls! {
    0 read "fpu" io::read;
    1 write "fpu" io::write;
    2 open "sxx" fs::open;
    3 close "f" io::close;
    4 stat "sp" fs::stat;
    5 fstat "fp" fs::fstat;
    6 lstat "sp" fs::lstat;
    7 poll "pui" io::poll;
    8 lseek "fii" io::lseek;
    9 mmap "xxxxfx" mm::mmap;
    10 mprotect "xxx" mm::mprotect;
    11 munmap "xx" mm::munmap;
    12 brk "x" mm::brk;
    13 rt_sigaction "ippu" signal::rt_sigaction;
    14 rt_sigprocmask "ippu" signal::rt_sigprocmask;
    15 rt_sigreturn "" signal::rt_sigreturn;
    16 ioctl "fxp" io::ioctl;
    17 pread64 "fpui" io::pread;
    18 pwrite64 "fpui" io::pwrite;
    19 readv "fpi" io::readv;
    20 writev "fpi" io::writev;
    21 access "sx" fs::access;
    22 pipe "p" io::pipe;
    23 select "ipppp" io::select;
    24 sched_yield "" proc::zero;
    25 mremap "xxxxx" mm::mremap;
    26 msync "xxx" mm::msync;
    27 mincore "xxp" mm::mincore;
    28 madvise "xxi" mm::madvise;
    32 dup "f" io::dup;
    33 dup2 "ff" io::dup2;
    35 nanosleep "pp" time::nanosleep;
    39 getpid "" proc::getpid;
    40 sendfile "ffpu" io::sendfile;
    60 exit "i" proc::exit;
    61 wait4 "ipxp" proc::wait4;
    62 kill "ii" signal::kill;
    63 uname "p" proc::uname;
    72 fcntl "fix" io::fcntl;
    73 flock "fi" proc::zero;
    74 fsync "f" io::fsync;
    75 fdatasync "f" io::fsync;
    76 truncate "si" fs::truncate;
    77 ftruncate "fi" io::ftruncate;
    79 getcwd "pu" fs::getcwd;
    80 chdir "s" fs::chdir;
    81 fchdir "f" fs::fchdir;
    82 rename "ss" fs::rename;
    83 mkdir "sx" fs::mkdir;
    84 rmdir "s" fs::rmdir;
    85 creat "sx" fs::creat;
    86 link "ss" fs::link;
    87 unlink "s" fs::unlink;
    88 symlink "ss" fs::symlink;
    89 readlink "spu" fs::readlink;
    90 chmod "sx" fs::chmod;
    91 fchmod "fx" fs::fchmod;
    92 chown "sii" fs::chown;
    93 fchown "fii" fs::fchown;
    94 lchown "sii" fs::lchown;
    95 umask "x" fs::umask;
    96 gettimeofday "pp" time::gettimeofday;
    97 getrlimit "ip" proc::getrlimit;
    98 getrusage "ip" proc::getrusage;
    99 sysinfo "p" proc::sysinfo;
    100 times "p" proc::times;
    102 getuid "" proc::getuid;
    104 getgid "" proc::getgid;
    105 setuid "i" proc::setuid;
    106 setgid "i" proc::setgid;
    107 geteuid "" proc::geteuid;
    108 getegid "" proc::getegid;
    109 setpgid "ii" proc::setpgid;
    110 getppid "" proc::getppid;
    111 getpgrp "" proc::getpid;
    112 setsid "" proc::getpid;
    115 getgroups "ip" proc::getgroups;
    116 setgroups "ip" proc::zero;
    117 setresuid "iii" proc::setresuid;
    118 getresuid "ppp" proc::getresuid;
    119 setresgid "iii" proc::setresgid;
    120 getresgid "ppp" proc::getresgid;
    121 getpgid "i" proc::getpgid;
    124 getsid "i" proc::getpgid;
    127 rt_sigpending "pu" signal::rt_sigpending;
    131 sigaltstack "pp" signal::sigaltstack;
    137 statfs "sp" fs::statfs;
    138 fstatfs "fp" fs::fstatfs;
    157 prctl "ixxxx" proc::prctl;
    158 arch_prctl "xx" proc::arch_prctl;
    160 setrlimit "ip" proc::setrlimit;
    162 sync "" proc::zero;
    186 gettid "" proc::getpid;
    200 tkill "ii" signal::tkill;
    201 time "p" time::time;
    202 futex "pixppi" proc::futex;
    203 sched_setaffinity "iup" proc::zero;
    204 sched_getaffinity "iup" proc::sched_getaffinity;
    217 getdents64 "fpu" fs::getdents64;
    218 set_tid_address "p" proc::set_tid_address;
    221 fadvise64 "fiii" proc::zero;
    228 clock_gettime "ip" time::clock_gettime;
    229 clock_getres "ip" time::clock_getres;
    230 clock_nanosleep "iipp" time::clock_nanosleep;
    231 exit_group "i" proc::exit;
    234 tgkill "iii" signal::tgkill;
    235 utimes "sp" fs::utimes;
    257 openat "fsxx" fs::openat;
    258 mkdirat "fsx" fs::mkdirat;
    260 fchownat "fsiix" fs::fchownat;
    262 newfstatat "fspx" fs::newfstatat;
    263 unlinkat "fsx" fs::unlinkat;
    264 renameat "fsfs" fs::renameat;
    265 linkat "fsfsx" fs::linkat;
    266 symlinkat "sfs" fs::symlinkat;
    267 readlinkat "fspu" fs::readlinkat;
    268 fchmodat "fsx" fs::fchmodat;
    269 faccessat "fsx" fs::faccessat;
    270 pselect6 "ipppp" io::pselect6;
    271 ppoll "pupp" io::ppoll;
    273 set_robust_list "pu" proc::zero;
    280 utimensat "fspx" fs::utimensat;
    285 fallocate "fiii" io::fallocate;
    292 dup3 "ffx" io::dup3;
    293 pipe2 "px" io::pipe2;
    295 preadv "fpii" io::preadv;
    296 pwritev "fpii" io::pwritev;
    302 prlimit64 "iipp" proc::prlimit64;
    309 getcpu "ppp" proc::getcpu;
    316 renameat2 "fsfsx" fs::renameat2;
    318 getrandom "pux" proc::getrandom;
    332 statx "fsxxp" fs::statx;
    334 rseq "pxxx" proc::rseq;
    436 close_range "uux" io::close_range;
    439 faccessat2 "fsxx" fs::faccessat2;
}

/// Runs the syscall in `rax` with the arguments in `rdi, rsi, rdx, r10, r8, r9` and puts the
/// result in `rax`.
pub fn dispatch(ctx: &mut Ctx<'_>) {
    let g = &ctx.cpu.gpr;
    let nr = g[reg::RAX];
    let args = [
        g[reg::RDI],
        g[reg::RSI],
        g[reg::RDX],
        g[reg::R10],
        g[reg::R8],
        g[reg::R9],
    ];
    let Some((name, kinds, handler)) = lookup(nr) else {
        let line = format!(
            "oci2wasm: unsupported syscall {nr} ({:#x}, {:#x}, {:#x}) = -1 ENOSYS\n",
            args[0], args[1], args[2]
        );
        ctx.stderr(&line);
        ctx.cpu.gpr[reg::RAX] = (-(ENOSYS.0 as i64)) as u64;
        return;
    };
    // Strings are read before the call: the call may change them (e.g. a read into them).
    let pre = ctx
        .proc
        .strace
        .then(|| format_args_line(ctx, name, kinds, &args));
    let result = handler(ctx, args);
    let rax = match result {
        Ok(v) => v,
        Err(e) => (-(i64::from(e.0))) as u64,
    };
    if nr != 15 {
        ctx.cpu.gpr[reg::RAX] = rax;
    }
    if let Some(mut line) = pre {
        match result {
            Ok(v) if kinds.is_empty() || (v as i64) >= 0 && v < 0x10000 => {
                line.push_str(&format!(" = {v}\n"))
            }
            Ok(v) => line.push_str(&format!(" = {v:#x}\n")),
            Err(e) => line.push_str(&format!(" = -1 {} ({})\n", errno_name(e), errno_message(e))),
        }
        ctx.stderr(&line);
    }
}

/// `name(arg, ...)` as strace prints it.
fn format_args_line(ctx: &Ctx<'_>, name: &str, kinds: &str, args: &[u64; 6]) -> String {
    let mut s = format!("{name}(");
    for (i, (k, &a)) in kinds.chars().zip(args).enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        match k {
            'f' if a as i32 == at::FDCWD => s.push_str("AT_FDCWD"),
            'f' | 'i' => s.push_str(&format!("{}", a as i64 as i32)),
            'u' => s.push_str(&format!("{a}")),
            's' => match ctx.cstr(a) {
                Ok(bytes) => s.push_str(&format!("{:?}", String::from_utf8_lossy(&bytes))),
                Err(_) => s.push_str(&format!("{a:#x}")),
            },
            'p' if a == 0 => s.push_str("NULL"),
            _ => s.push_str(&format!("{a:#x}")),
        }
    }
    s.push(')');
    s
}

#[cfg(test)]
pub mod testing;
#[cfg(test)]
mod tests;

//! The synthesized `/dev` and `/proc` trees: device nodes (`null`, `zero`, `full`, `random`,
//! `urandom`, `tty`), the `stdin`/`stdout`/`stderr`/`fd` links into `/proc/self/fd`, and the
//! `/proc` files programs read (`self/exe`, `self/fd/`, `self/maps`, `self/cwd`, `self/stat`,
//! `cpuinfo`, `meminfo`, `uptime`). The process has pid 1, so `/proc/self` links to `1`.

use crate::abi::{Stat, makedev};
use crate::platform::Kind;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// A character device under `/dev`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    Null,
    Zero,
    Full,
    Random,
    Urandom,
    Tty,
}

/// A generated `/proc` file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcFile {
    Cpuinfo,
    Meminfo,
    Uptime,
    Version,
    Mounts,
    Maps,
    Stat,
    Cmdline,
    Environ,
}

/// A synthesized inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Synth {
    DevDir,
    Dev(Device),
    /// `/dev/stdin` (0), `stdout` (1), `stderr` (2): links to `/proc/self/fd/N`.
    DevStdio(u32),
    /// `/dev/fd` -> `/proc/self/fd`.
    DevFd,
    ProcDir,
    /// `/proc/self` -> `1`.
    ProcSelf,
    /// `/proc/1`.
    PidDir,
    PidFdDir,
    /// `/proc/1/fd/N`: a link to what fd N names.
    PidFd(u32),
    PidExe,
    PidCwd,
    File(ProcFile),
    /// What `/proc/self/fd/N` leads to when fd N has no path (a pipe, a stdio stream): opening
    /// it duplicates the descriptor, as Linux's magic links reopen the same object.
    FdTarget(u32),
}

/// What the memory manager tells `/proc`.
pub trait ProcSource {
    /// The text of `/proc/self/maps`.
    fn maps(&self) -> Vec<u8>;
    /// Bytes of guest memory in total and in use.
    fn memory(&self) -> (u64, u64);
}

const DEV_ENTRIES: [(&str, Synth); 10] = [
    ("fd", Synth::DevFd),
    ("full", Synth::Dev(Device::Full)),
    ("null", Synth::Dev(Device::Null)),
    ("random", Synth::Dev(Device::Random)),
    ("stderr", Synth::DevStdio(2)),
    ("stdin", Synth::DevStdio(0)),
    ("stdout", Synth::DevStdio(1)),
    ("tty", Synth::Dev(Device::Tty)),
    ("urandom", Synth::Dev(Device::Urandom)),
    ("zero", Synth::Dev(Device::Zero)),
];

const PROC_ENTRIES: [(&str, Synth); 7] = [
    ("1", Synth::PidDir),
    ("cpuinfo", Synth::File(ProcFile::Cpuinfo)),
    ("meminfo", Synth::File(ProcFile::Meminfo)),
    ("mounts", Synth::File(ProcFile::Mounts)),
    ("self", Synth::ProcSelf),
    ("uptime", Synth::File(ProcFile::Uptime)),
    ("version", Synth::File(ProcFile::Version)),
];

const PID_ENTRIES: [(&str, Synth); 7] = [
    ("cmdline", Synth::File(ProcFile::Cmdline)),
    ("cwd", Synth::PidCwd),
    ("environ", Synth::File(ProcFile::Environ)),
    ("exe", Synth::PidExe),
    ("fd", Synth::PidFdDir),
    ("maps", Synth::File(ProcFile::Maps)),
    ("stat", Synth::File(ProcFile::Stat)),
];

impl Synth {
    pub fn kind(self) -> Kind {
        match self {
            Synth::DevDir | Synth::ProcDir | Synth::PidDir | Synth::PidFdDir => Kind::Dir,
            Synth::Dev(_) => Kind::CharDevice,
            Synth::File(_) => Kind::File,
            Synth::FdTarget(_) => Kind::Fifo,
            _ => Kind::Symlink,
        }
    }

    /// The entries of a synthesized directory; `fds` lists the open descriptors.
    pub fn entries(self, fds: &[u32]) -> Vec<(Vec<u8>, Synth)> {
        let fixed: &[(&str, Synth)] = match self {
            Synth::DevDir => &DEV_ENTRIES,
            Synth::ProcDir => &PROC_ENTRIES,
            Synth::PidDir => &PID_ENTRIES,
            Synth::PidFdDir => {
                return fds
                    .iter()
                    .map(|&fd| (format!("{fd}").into_bytes(), Synth::PidFd(fd)))
                    .collect();
            }
            _ => &[],
        };
        fixed
            .iter()
            .map(|(n, s)| (n.as_bytes().to_vec(), *s))
            .collect()
    }

    /// The entry `name` of a synthesized directory.
    pub fn lookup(self, name: &[u8], fds: &[u32]) -> Option<Synth> {
        self.entries(fds)
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s)
    }

    /// A fixed link target, or `None` for links whose target depends on the process.
    pub fn fixed_target(self) -> Option<Vec<u8>> {
        match self {
            Synth::DevStdio(n) => Some(format!("/proc/self/fd/{n}").into_bytes()),
            Synth::DevFd => Some(b"/proc/self/fd".to_vec()),
            Synth::ProcSelf => Some(b"1".to_vec()),
            _ => None,
        }
    }

    fn id(self) -> u64 {
        match self {
            Synth::DevDir => 1,
            Synth::Dev(d) => 2 + d as u64,
            Synth::DevStdio(n) => 10 + u64::from(n),
            Synth::DevFd => 13,
            Synth::ProcDir => 14,
            Synth::ProcSelf => 15,
            Synth::PidDir => 16,
            Synth::PidFdDir => 17,
            Synth::PidExe => 18,
            Synth::PidCwd => 19,
            Synth::File(f) => 20 + f as u64,
            Synth::PidFd(n) => 100 + u64::from(n),
            Synth::FdTarget(n) => 2000 + u64::from(n),
        }
    }

    pub fn stat(self, size: u64) -> Stat {
        let (mode, rdev) = match self {
            Synth::Dev(d) => {
                let minor = match d {
                    Device::Null => 3,
                    Device::Zero => 5,
                    Device::Full => 7,
                    Device::Random => 8,
                    Device::Urandom => 9,
                    Device::Tty => 0,
                };
                let major = if d == Device::Tty { 5 } else { 1 };
                (0o020666, makedev(major, minor))
            }
            Synth::File(_) => (0o100444, 0),
            Synth::FdTarget(_) => (0o010600, 0),
            s if s.kind() == Kind::Dir => (0o040555, 0),
            _ => (0o120777, 0),
        };
        let dev = match self {
            Synth::DevDir | Synth::Dev(_) | Synth::DevStdio(_) | Synth::DevFd => 5,
            _ => 4,
        };
        Stat {
            dev,
            ino: (3 << 40) + self.id(),
            nlink: if self.kind() == Kind::Dir { 2 } else { 1 },
            mode,
            rdev,
            size,
            blksize: 4096,
            ..Stat::default()
        }
    }
}

/// The text of a `/proc` file.
pub fn proc_text(
    f: ProcFile,
    src: &dyn ProcSource,
    uptime_ns: u64,
    cmdline: &[u8],
    environ: &[u8],
) -> Vec<u8> {
    let (total, used) = src.memory();
    let secs = uptime_ns / 1_000_000_000;
    let centis = (uptime_ns / 10_000_000) % 100;
    match f {
        ProcFile::Cpuinfo => CPUINFO.as_bytes().to_vec(),
        ProcFile::Meminfo => {
            let kb = |b: u64| b / 1024;
            format!(
                "MemTotal:       {:8} kB\nMemFree:        {:8} kB\nMemAvailable:   {:8} kB\nBuffers:               0 kB\nCached:                0 kB\nSwapTotal:             0 kB\nSwapFree:              0 kB\n",
                kb(total), kb(total - used.min(total)), kb(total - used.min(total))
            )
            .into_bytes()
        }
        ProcFile::Uptime => format!("{secs}.{centis:02} {secs}.{centis:02}\n").into_bytes(),
        ProcFile::Version => {
            b"Linux version 6.1.0-oci2wasm (oci2wasm) #1 SMP PREEMPT_DYNAMIC\n".to_vec()
        }
        ProcFile::Mounts => {
            b"overlay / overlay rw 0 0\nproc /proc proc rw 0 0\ndevtmpfs /dev devtmpfs rw 0 0\n"
                .to_vec()
        }
        ProcFile::Maps => src.maps(),
        ProcFile::Stat => {
            let mut s = String::from("1 (init) R 0 1 1 0 -1 4194304 0 0 0 0 0 0 0 0 20 0 1 0 0 ");
            s.push_str(&format!("{used} {} ", used / 4096));
            s.push_str(
                "18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
            );
            s.into_bytes()
        }
        ProcFile::Cmdline => cmdline.to_vec(),
        ProcFile::Environ => environ.to_vec(),
    }
}

/// One CPU, with the features the interpreter's CPUID reports (SSE through SSE4.1, POPCNT, no AVX).
pub(crate) const CPUINFO: &str = "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 94\nmodel name\t: oci2wasm x86-64 interpreter\nstepping\t: 3\ncpu MHz\t\t: 2000.000\ncache size\t: 8192 KB\nphysical id\t: 0\nsiblings\t: 1\ncore id\t\t: 0\ncpu cores\t: 1\nfpu\t\t: yes\nfpu_exception\t: yes\ncpuid level\t: 13\nwp\t\t: yes\nflags\t\t: fpu tsc cx8 cmov clflush mmx fxsr sse sse2 syscall nx lm pni pclmulqdq ssse3 cx16 sse4_1 sse4_2 movbe popcnt aes lahf_lm abm 3dnowprefetch bmi1 bmi2 adx clflushopt clwb sha_ni gfni cldemote serialize\nbogomips\t: 4000.00\nclflush size\t: 64\ncache_alignment\t: 64\naddress sizes\t: 39 bits physical, 48 bits virtual\n\n";

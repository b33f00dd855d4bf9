//! What the host provides to the runtime: stdio, clocks, randomness, arguments and environment,
//! exit, and the preopened host directories behind `--mount` volumes.
//!
//! [`Platform`] is implemented over WASI preview 1 imports on wasm32 ([`wasi`]) and by an
//! in-memory double for host tests ([`testing`]). Every fallible method returns a guest errno:
//! host failures are reported to the guest as Linux would, never turned into runtime panics.

#[cfg(test)]
pub mod testing;
#[cfg(target_arch = "wasm32")]
pub mod wasi;

use crate::abi::SysResult;
use alloc::vec::Vec;
pub use vfs_pack::Kind;

/// A host clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    Realtime,
    Monotonic,
}

/// How to open a host path.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostOpen {
    pub write: bool,
    pub create: bool,
    pub excl: bool,
    pub trunc: bool,
    pub directory: bool,
    pub append: bool,
    pub follow: bool,
}

/// Metadata of a host file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostStat {
    pub kind: Kind,
    pub ino: u64,
    pub nlink: u64,
    pub size: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: u64,
}

/// One host directory entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostDirEntry {
    pub name: Vec<u8>,
    pub kind: Kind,
    pub ino: u64,
}

/// The host services the runtime uses. Host file descriptors (`u32`) are the platform's own and
/// never shown to the guest.
pub trait Platform {
    /// Writes to a host stream (1 stdout, 2 stderr) or host file.
    fn write(&mut self, fd: u32, buf: &[u8]) -> SysResult<usize>;
    /// Reads from a host stream (0 stdin) or host file.
    fn read(&mut self, fd: u32, buf: &mut [u8]) -> SysResult<usize>;
    /// Whether a host stdio stream is a terminal.
    fn isatty(&mut self, fd: u32) -> bool;
    /// Nanoseconds on `clock` (since the epoch for [`Clock::Realtime`]).
    fn now(&mut self, clock: Clock) -> u64;
    /// Blocks for `ns` nanoseconds.
    fn sleep(&mut self, ns: u64);
    /// Fills `buf` with cryptographically secure random bytes.
    fn random(&mut self, buf: &mut [u8]);
    /// The runner's arguments; the first is the program name.
    fn args(&mut self) -> Vec<Vec<u8>>;
    /// The runner's environment, `KEY=VALUE` each.
    fn env(&mut self) -> Vec<Vec<u8>>;
    /// Ends the process.
    fn exit(&mut self, status: i32) -> !;

    /// Preopened host directories: (host fd, the guest path they are mounted at).
    fn preopens(&mut self) -> Vec<(u32, Vec<u8>)>;
    /// Opens `path` relative to the host directory `dir`.
    fn open(&mut self, dir: u32, path: &[u8], how: HostOpen) -> SysResult<u32>;
    fn close(&mut self, fd: u32);
    fn pread(&mut self, fd: u32, buf: &mut [u8], offset: u64) -> SysResult<usize>;
    fn pwrite(&mut self, fd: u32, buf: &[u8], offset: u64) -> SysResult<usize>;
    fn fstat(&mut self, fd: u32) -> SysResult<HostStat>;
    fn set_size(&mut self, fd: u32, size: u64) -> SysResult<()>;
    fn stat(&mut self, dir: u32, path: &[u8], follow: bool) -> SysResult<HostStat>;
    /// Every entry of an open host directory (without `.` and `..`).
    fn readdir(&mut self, fd: u32) -> SysResult<Vec<HostDirEntry>>;
    fn mkdir(&mut self, dir: u32, path: &[u8]) -> SysResult<()>;
    fn unlink(&mut self, dir: u32, path: &[u8]) -> SysResult<()>;
    fn rmdir(&mut self, dir: u32, path: &[u8]) -> SysResult<()>;
    fn rename(&mut self, dir: u32, old: &[u8], new_dir: u32, new: &[u8]) -> SysResult<()>;
    fn readlink(&mut self, dir: u32, path: &[u8]) -> SysResult<Vec<u8>>;
    fn symlink(&mut self, target: &[u8], dir: u32, path: &[u8]) -> SysResult<()>;
}

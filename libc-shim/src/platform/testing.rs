//! An in-memory [`Platform`] for host tests: captured stdout/stderr, scripted stdin, a manual
//! clock, deterministic "random" bytes, and one preopened host directory kept in a map.

use super::{Clock, HostDirEntry, HostOpen, HostStat, Kind, Platform};
use crate::abi::*;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

/// The test double. Host paths are keys like `b"dir/file"` relative to the one preopen (fd 3).
#[derive(Debug, Default)]
pub struct TestPlatform {
    pub stdin: Vec<u8>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub tty: bool,
    pub clock_ns: u64,
    pub random_state: u64,
    pub args: Vec<Vec<u8>>,
    pub env: Vec<Vec<u8>>,
    /// Mounted at this guest path when set.
    pub mount: Option<Vec<u8>>,
    /// Host files (`Some(data)`) and directories (`None`).
    pub host: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// Open host fds (index - 10) to paths.
    pub open: Vec<Option<Vec<u8>>>,
}

impl TestPlatform {
    fn path(&self, fd: u32) -> SysResult<Vec<u8>> {
        if fd == 3 {
            return Ok(Vec::new());
        }
        let i = fd.checked_sub(10).ok_or(EBADF)? as usize;
        self.open.get(i).cloned().flatten().ok_or(EBADF)
    }
    fn join(&self, dir: u32, path: &[u8]) -> SysResult<Vec<u8>> {
        let mut p = self.path(dir)?;
        if !p.is_empty() {
            p.push(b'/');
        }
        p.extend_from_slice(path);
        Ok(p)
    }
    fn stat_of(&self, p: &[u8]) -> SysResult<HostStat> {
        let kind = match (p.is_empty(), self.host.get(p)) {
            (true, _) | (_, Some(None)) => Kind::Dir,
            (_, Some(Some(_))) => Kind::File,
            _ => return Err(ENOENT),
        };
        let size = self
            .host
            .get(p)
            .cloned()
            .flatten()
            .map_or(0, |d| d.len() as u64);
        Ok(HostStat {
            kind,
            ino: p.len() as u64 + 1,
            nlink: 1,
            size,
            mtime_ns: 0,
        })
    }
}

impl Platform for TestPlatform {
    fn write(&mut self, fd: u32, buf: &[u8]) -> SysResult<usize> {
        match fd {
            1 => self.stdout.extend_from_slice(buf),
            2 => self.stderr.extend_from_slice(buf),
            _ => return self.pwrite(fd, buf, u64::MAX),
        }
        Ok(buf.len())
    }
    fn read(&mut self, fd: u32, buf: &mut [u8]) -> SysResult<usize> {
        if fd != 0 {
            return Err(EBADF);
        }
        let n = buf.len().min(self.stdin.len());
        buf[..n].copy_from_slice(&self.stdin[..n]);
        self.stdin.drain(..n);
        Ok(n)
    }
    fn isatty(&mut self, _fd: u32) -> bool {
        self.tty
    }
    fn now(&mut self, clock: Clock) -> u64 {
        self.clock_ns += 1000;
        match clock {
            Clock::Realtime => 1_700_000_000_000_000_000 + self.clock_ns,
            Clock::Monotonic => self.clock_ns,
        }
    }
    fn sleep(&mut self, ns: u64) {
        self.clock_ns += ns;
    }
    fn random(&mut self, buf: &mut [u8]) {
        // A deterministic xorshift stream: different on every call, the same in every run.
        for b in buf.iter_mut() {
            let mut x = self.random_state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.random_state = x;
            *b = (x >> 32) as u8;
        }
    }
    fn args(&mut self) -> Vec<Vec<u8>> {
        self.args.clone()
    }
    fn env(&mut self) -> Vec<Vec<u8>> {
        self.env.clone()
    }
    fn exit(&mut self, status: i32) -> ! {
        panic!("guest exit {status}")
    }
    fn preopens(&mut self) -> Vec<(u32, Vec<u8>)> {
        self.mount.iter().map(|m| (3, m.clone())).collect()
    }
    fn open(&mut self, dir: u32, path: &[u8], how: HostOpen) -> SysResult<u32> {
        let p = self.join(dir, path)?;
        match self.stat_of(&p) {
            Ok(_) if how.create && how.excl => return Err(EEXIST),
            Ok(st) if how.directory && st.kind != Kind::Dir => return Err(ENOTDIR),
            Ok(_) => {}
            Err(_) if how.create => {
                self.host.insert(p.clone(), Some(Vec::new()));
            }
            Err(e) => return Err(e),
        }
        if how.trunc
            && let Some(Some(d)) = self.host.get_mut(&p)
        {
            d.clear();
        }
        self.open.push(Some(p));
        Ok(self.open.len() as u32 + 9)
    }
    fn close(&mut self, fd: u32) {
        if let Some(slot) = fd
            .checked_sub(10)
            .and_then(|i| self.open.get_mut(i as usize))
        {
            *slot = None;
        }
    }
    fn pread(&mut self, fd: u32, buf: &mut [u8], offset: u64) -> SysResult<usize> {
        let p = self.path(fd)?;
        let data = self.host.get(&p).cloned().flatten().ok_or(EISDIR)?;
        let start = (offset as usize).min(data.len());
        let n = buf.len().min(data.len() - start);
        buf[..n].copy_from_slice(&data[start..start + n]);
        Ok(n)
    }
    fn pwrite(&mut self, fd: u32, buf: &[u8], offset: u64) -> SysResult<usize> {
        let p = self.path(fd)?;
        let Some(Some(data)) = self.host.get_mut(&p) else {
            return Err(EISDIR);
        };
        let at = if offset == u64::MAX {
            data.len()
        } else {
            offset as usize
        };
        if data.len() < at + buf.len() {
            data.resize(at + buf.len(), 0);
        }
        data[at..at + buf.len()].copy_from_slice(buf);
        Ok(buf.len())
    }
    fn fstat(&mut self, fd: u32) -> SysResult<HostStat> {
        let p = self.path(fd)?;
        self.stat_of(&p)
    }
    fn set_size(&mut self, fd: u32, size: u64) -> SysResult<()> {
        let p = self.path(fd)?;
        let Some(Some(data)) = self.host.get_mut(&p) else {
            return Err(EISDIR);
        };
        data.resize(size as usize, 0);
        Ok(())
    }
    fn stat(&mut self, dir: u32, path: &[u8], _follow: bool) -> SysResult<HostStat> {
        let p = self.join(dir, path)?;
        self.stat_of(&p)
    }
    fn readdir(&mut self, fd: u32) -> SysResult<Vec<HostDirEntry>> {
        let p = self.path(fd)?;
        let prefix = if p.is_empty() {
            p.clone()
        } else {
            [&p[..], b"/"].concat()
        };
        Ok(self
            .host
            .iter()
            .filter_map(|(k, v)| {
                let rest = k.strip_prefix(&prefix[..])?;
                (!rest.contains(&b'/')).then(|| HostDirEntry {
                    name: rest.to_vec(),
                    kind: if v.is_some() { Kind::File } else { Kind::Dir },
                    ino: k.len() as u64 + 1,
                })
            })
            .collect())
    }
    fn mkdir(&mut self, dir: u32, path: &[u8]) -> SysResult<()> {
        let p = self.join(dir, path)?;
        if self.host.contains_key(&p) {
            return Err(EEXIST);
        }
        self.host.insert(p, None);
        Ok(())
    }
    fn unlink(&mut self, dir: u32, path: &[u8]) -> SysResult<()> {
        let p = self.join(dir, path)?;
        match self.host.get(&p) {
            Some(Some(_)) => self.host.remove(&p).map(|_| ()).ok_or(ENOENT),
            Some(None) => Err(EISDIR),
            None => Err(ENOENT),
        }
    }
    fn rmdir(&mut self, dir: u32, path: &[u8]) -> SysResult<()> {
        let p = self.join(dir, path)?;
        match self.host.get(&p) {
            Some(None) => self.host.remove(&p).map(|_| ()).ok_or(ENOENT),
            Some(Some(_)) => Err(ENOTDIR),
            None => Err(ENOENT),
        }
    }
    fn rename(&mut self, dir: u32, old: &[u8], new_dir: u32, new: &[u8]) -> SysResult<()> {
        let (o, n) = (self.join(dir, old)?, self.join(new_dir, new)?);
        let v = self.host.remove(&o).ok_or(ENOENT)?;
        self.host.insert(n, v);
        Ok(())
    }
    fn readlink(&mut self, _dir: u32, _path: &[u8]) -> SysResult<Vec<u8>> {
        Err(EINVAL)
    }
    fn symlink(&mut self, _target: &[u8], _dir: u32, _path: &[u8]) -> SysResult<()> {
        Err(EPERM)
    }
}

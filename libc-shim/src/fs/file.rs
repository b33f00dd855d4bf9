//! Open file descriptions: what an fd refers to (an image file, an overlay file, a directory
//! being listed, a `/proc` snapshot, a device, a host stdio stream or file, a pipe end), its
//! status flags and offset, and reading, writing and seeking on it.

use super::node::{Body, Node, UpperRef};
use super::synth::Device;
use crate::abi::*;
use crate::platform::{Kind, Platform};
use alloc::collections::VecDeque;
use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::RefCell;
use vfs_pack::InodeRef;

/// Bytes a pipe holds before writes stop (Linux's default pipe size).
pub const PIPE_CAPACITY: usize = 65536;

/// A pipe inside the process.
#[derive(Debug, Default)]
pub struct Pipe {
    pub buf: VecDeque<u8>,
    pub readers: u32,
    pub writers: u32,
    pub ino: u64,
}

/// A shared pipe.
pub type PipeRef = Rc<RefCell<Pipe>>;

/// One entry of a directory listing: name, inode number, `DT_*` type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEnt {
    pub name: Vec<u8>,
    pub ino: u64,
    pub dtype: u8,
}

/// What an open file description refers to.
#[derive(Debug)]
pub enum FileKind {
    Lower(InodeRef),
    Upper(UpperRef),
    /// A directory: its canonical path (for `fchdir`, `openat`, `/proc/self/fd`), the node, and
    /// the listing `getdents64` is walking (taken on the first call, dropped by `lseek(0)`).
    Dir {
        path: Vec<Vec<u8>>,
        node: Node,
        listing: Option<Vec<DirEnt>>,
    },
    /// A generated `/proc` file, captured at open.
    Snapshot(Vec<u8>),
    Dev(Device),
    /// Host stdin/stdout/stderr.
    Stdio(u32),
    PipeRead(PipeRef),
    PipeWrite(PipeRef),
    /// A file in a mounted host directory.
    Host {
        fd: u32,
        node: Node,
    },
    /// `O_PATH`: names a node, no I/O.
    Path(Node),
}

/// An open file description, shared by every fd `dup`ed from it.
#[derive(Debug)]
pub struct OpenFile {
    pub kind: FileKind,
    /// `O_ACCMODE` and the status flags (`O_APPEND`, `O_NONBLOCK`).
    pub flags: u32,
    pub offset: u64,
    /// The path it was opened by, for `/proc/self/fd` links.
    pub path: Vec<u8>,
}

/// A shared open file description.
pub type FileRef = Rc<RefCell<OpenFile>>;

impl OpenFile {
    pub fn new(kind: FileKind, flags: u32, path: Vec<u8>) -> OpenFile {
        OpenFile {
            kind,
            flags,
            offset: 0,
            path,
        }
    }

    pub fn readable(&self) -> bool {
        self.flags & o::ACCMODE != o::WRONLY && !matches!(self.kind, FileKind::Path(_))
    }

    pub fn writable(&self) -> bool {
        self.flags & o::ACCMODE != o::RDONLY && !matches!(self.kind, FileKind::Path(_))
    }

    /// Reads at `at` (or at the file offset, advancing it, for `None`).
    pub fn read(
        &mut self,
        img: &vfs_pack::Image<'_>,
        p: &mut dyn Platform,
        buf: &mut [u8],
        at: Option<u64>,
    ) -> SysResult<usize> {
        if !self.readable() {
            return Err(EBADF);
        }
        let off = at.unwrap_or(self.offset);
        let from_slice = |data: &[u8], buf: &mut [u8]| {
            let start = (off as usize).min(data.len());
            let n = buf.len().min(data.len() - start);
            buf[..n].copy_from_slice(&data[start..start + n]);
            n
        };
        let n = match &mut self.kind {
            FileKind::Lower(i) => from_slice(img.file_data(i), buf),
            FileKind::Upper(u) => match &u.borrow().body {
                Body::File(d) => from_slice(d, buf),
                _ => return Err(EISDIR),
            },
            FileKind::Snapshot(d) => from_slice(d, buf),
            FileKind::Dir { .. } => return Err(EISDIR),
            FileKind::Dev(Device::Null) => 0,
            FileKind::Dev(Device::Zero | Device::Full) => {
                buf.fill(0);
                buf.len()
            }
            FileKind::Dev(Device::Random | Device::Urandom) => {
                p.random(buf);
                buf.len()
            }
            FileKind::Dev(Device::Tty) => p.read(0, buf)?,
            FileKind::Stdio(fd) => {
                return if at.is_some() {
                    Err(ESPIPE)
                } else {
                    p.read(*fd, buf)
                };
            }
            FileKind::PipeRead(pipe) => {
                let mut pipe = pipe.borrow_mut();
                if pipe.buf.is_empty() {
                    // One thread: nobody else can fill the pipe while we wait.
                    return if pipe.writers == 0 {
                        Ok(0)
                    } else {
                        Err(EAGAIN)
                    };
                }
                let n = buf.len().min(pipe.buf.len());
                for (d, s) in buf.iter_mut().zip(pipe.buf.drain(..n)) {
                    *d = s;
                }
                return Ok(n);
            }
            FileKind::PipeWrite(_) => return Err(EBADF),
            FileKind::Host { fd, .. } => p.pread(*fd, buf, off)?,
            FileKind::Path(_) => return Err(EBADF),
        };
        if at.is_none() && self.seekable() {
            self.offset = off + n as u64;
        }
        Ok(n)
    }

    /// Writes at `at` (or at the file offset, or the end with `O_APPEND`, for `None`).
    /// `now` stamps the modification time of overlay files.
    pub fn write(
        &mut self,
        p: &mut dyn Platform,
        data: &[u8],
        at: Option<u64>,
        now: Timespec,
    ) -> SysResult<usize> {
        if !self.writable() {
            return Err(EBADF);
        }
        let append = self.flags & o::APPEND != 0;
        let n = match &mut self.kind {
            FileKind::Upper(u) => {
                let mut u = u.borrow_mut();
                u.mtime = now;
                u.ctime = now;
                let Body::File(d) = &mut u.body else {
                    return Err(EISDIR);
                };
                let off = match at {
                    Some(o) => o,
                    None if append => d.len() as u64,
                    None => self.offset,
                };
                let off = usize::try_from(off).map_err(|_| EFBIG)?;
                let end = off
                    .checked_add(data.len())
                    .filter(|&e| e <= u32::MAX as usize)
                    .ok_or(EFBIG)?;
                if d.len() < end {
                    d.try_reserve(end - d.len()).map_err(|_| ENOSPC)?;
                    d.resize(end, 0);
                }
                d[off..end].copy_from_slice(data);
                if at.is_none() {
                    self.offset = end as u64;
                }
                return Ok(data.len());
            }
            FileKind::Dev(Device::Full) => return Err(ENOSPC),
            FileKind::Dev(Device::Tty) => p.write(1, data)?,
            FileKind::Dev(_) => data.len(),
            FileKind::Stdio(fd) => p.write(*fd, data)?,
            FileKind::PipeWrite(pipe) => {
                let mut pipe = pipe.borrow_mut();
                if pipe.readers == 0 {
                    return Err(EPIPE);
                }
                let room = PIPE_CAPACITY.saturating_sub(pipe.buf.len());
                if room == 0 {
                    return Err(EAGAIN);
                }
                let n = room.min(data.len());
                pipe.buf.extend(&data[..n]);
                return Ok(n);
            }
            FileKind::Host { fd, .. } => {
                let off = match at {
                    Some(o) => o,
                    None if append => p.fstat(*fd)?.size,
                    None => self.offset,
                };
                let n = p.pwrite(*fd, data, off)?;
                if at.is_none() {
                    self.offset = off + n as u64;
                }
                return Ok(n);
            }
            FileKind::Dir { .. } => return Err(EISDIR),
            _ => return Err(EBADF),
        };
        Ok(n)
    }

    fn seekable(&self) -> bool {
        !matches!(
            self.kind,
            FileKind::Stdio(_) | FileKind::PipeRead(_) | FileKind::PipeWrite(_)
        )
    }

    /// The size `SEEK_END` counts from.
    pub fn size(&self, img: &vfs_pack::Image<'_>, p: &mut dyn Platform) -> SysResult<u64> {
        Ok(match &self.kind {
            FileKind::Lower(i) => img.file_data(i).len() as u64,
            FileKind::Upper(u) => match &u.borrow().body {
                Body::File(d) => d.len() as u64,
                _ => 0,
            },
            FileKind::Snapshot(d) => d.len() as u64,
            FileKind::Host { fd, .. } => p.fstat(*fd)?.size,
            _ => 0,
        })
    }

    pub fn seek(
        &mut self,
        img: &vfs_pack::Image<'_>,
        p: &mut dyn Platform,
        off: i64,
        whence: u32,
    ) -> SysResult<u64> {
        if !self.seekable() {
            return Err(ESPIPE);
        }
        let base = match whence {
            misc::SEEK_SET => 0,
            misc::SEEK_CUR => self.offset as i64,
            misc::SEEK_END => self.size(img, p)? as i64,
            _ => return Err(EINVAL),
        };
        let new = base.checked_add(off).filter(|&n| n >= 0).ok_or(EINVAL)? as u64;
        if let FileKind::Dir { listing, .. } = &mut self.kind
            && new == 0
        {
            *listing = None;
        }
        self.offset = new;
        Ok(new)
    }

    /// Sets the length of a writable overlay or host file.
    pub fn truncate(&mut self, p: &mut dyn Platform, len: u64, now: Timespec) -> SysResult<()> {
        if !self.writable() {
            return Err(EINVAL);
        }
        match &self.kind {
            FileKind::Upper(u) => {
                let mut u = u.borrow_mut();
                let Body::File(d) = &mut u.body else {
                    return Err(EISDIR);
                };
                d.resize(usize::try_from(len).map_err(|_| EFBIG)?, 0);
                u.mtime = now;
                u.ctime = now;
                Ok(())
            }
            FileKind::Host { fd, .. } => p.set_size(*fd, len),
            _ => Err(EINVAL),
        }
    }

    /// The node behind a file-backed description.
    pub fn node(&self) -> Option<Node> {
        match &self.kind {
            FileKind::Lower(i) => Some(Node::Lower(*i)),
            FileKind::Upper(u) => Some(Node::Upper(u.clone())),
            FileKind::Dir { node, .. } | FileKind::Host { node, .. } | FileKind::Path(node) => {
                Some(node.clone())
            }
            _ => None,
        }
    }

    /// `poll` readiness: (readable, writable, hung up).
    pub fn ready(&self) -> (bool, bool, bool) {
        match &self.kind {
            FileKind::PipeRead(pipe) => {
                let pipe = pipe.borrow();
                (
                    !pipe.buf.is_empty() || pipe.writers == 0,
                    false,
                    pipe.writers == 0,
                )
            }
            FileKind::PipeWrite(pipe) => {
                let pipe = pipe.borrow();
                (false, pipe.buf.len() < PIPE_CAPACITY, pipe.readers == 0)
            }
            _ => (self.readable(), self.writable(), false),
        }
    }

    /// Called when the last fd referring to this description is closed.
    pub fn release(&mut self, p: &mut dyn Platform) {
        match &self.kind {
            FileKind::PipeRead(pipe) => pipe.borrow_mut().readers -= 1,
            FileKind::PipeWrite(pipe) => pipe.borrow_mut().writers -= 1,
            FileKind::Host { fd, .. } => p.close(*fd),
            _ => {}
        }
    }

    /// The `DT_*`-style kind for `fstat` of descriptions without a node.
    pub fn anon_kind(&self) -> Kind {
        match self.kind {
            FileKind::PipeRead(_) | FileKind::PipeWrite(_) => Kind::Fifo,
            FileKind::Snapshot(_) => Kind::File,
            _ => Kind::CharDevice,
        }
    }
}

//! Creating and opening: copy-up of image inodes into the overlay, `create` (files, directories,
//! symlinks), `open` (with `O_CREAT`, `O_TRUNC`, copy-up of image files opened for writing),
//! metadata changes, and `getdents64`. Host mounts forward to the platform. Removing and
//! renaming names is in [`super::names`].

use super::file::{FileKind, OpenFile};
use super::node::{Body, Entry, Node, Upper, UpperRef};
use super::synth::{ProcSource, Synth, proc_text};
use super::{Vfs, Walk, path_string};
use crate::abi::*;
use crate::platform::{Clock, HostOpen, Kind, Platform};
use alloc::collections::BTreeMap;
use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::RefCell;

/// What to create.
#[derive(Debug)]
pub enum NewNode {
    File,
    Dir,
    Symlink(Vec<u8>),
}

impl Vfs {
    pub(super) fn now(p: &mut dyn Platform) -> Timespec {
        Timespec::from_ns(p.now(Clock::Realtime))
    }

    fn new_upper(&mut self, p: &mut dyn Platform, mode: u32, body: Body) -> UpperRef {
        let now = Vfs::now(p);
        let nlink = if matches!(body, Body::Dir { .. }) {
            2
        } else {
            1
        };
        Rc::new(RefCell::new(Upper {
            ino: self.alloc_ino(),
            mode,
            uid: self.uid,
            gid: self.gid,
            nlink,
            atime: now,
            mtime: now,
            ctime: now,
            body,
        }))
    }

    /// Makes the directory a walk ends at exist in the overlay, copying up every image directory
    /// on the way (merged over its image counterpart), and returns it.
    pub fn copy_up_dir(&mut self, p: &mut dyn Platform, w: &Walk) -> SysResult<UpperRef> {
        let mut cur = self.root.clone();
        for (name, node) in w.names.iter().zip(&w.nodes[1..]) {
            let existing = match &cur.borrow().body {
                Body::Dir { entries, .. } => entries.get(name).cloned(),
                _ => return Err(ENOTDIR),
            };
            if let Some(Entry::Node(Node::Upper(u))) = existing {
                cur = u;
                continue;
            }
            let Node::Lower(i) = node else {
                return Err(if matches!(node, Node::Synth(_)) {
                    EACCES
                } else {
                    EXDEV
                });
            };
            if i.kind() != Kind::Dir {
                return Err(ENOTDIR);
            }
            let up = self.copy_of_lower(p, i);
            set_entry(&cur, name, Entry::Node(Node::Upper(up.clone())));
            cur = up;
        }
        Ok(cur)
    }

    /// An overlay inode with an image inode's metadata: a directory merged over it, or a copy of
    /// its file data or link target.
    fn copy_of_lower(&mut self, p: &mut dyn Platform, i: &vfs_pack::InodeRef) -> UpperRef {
        let body = match i.kind() {
            Kind::Dir => Body::Dir {
                entries: BTreeMap::new(),
                lower: Some(*i),
            },
            Kind::Symlink => Body::Symlink(self.image.readlink(i).unwrap_or_default().to_vec()),
            _ => Body::File(self.image.file_data(i).to_vec()),
        };
        let up = self.new_upper(p, i.mode(), body);
        {
            let mut u = up.borrow_mut();
            u.uid = i.uid();
            u.gid = i.gid();
            u.nlink = if i.kind() == Kind::Dir { i.nlink() } else { 1 };
            u.mtime = Timespec {
                sec: i.mtime(),
                nsec: 0,
            };
        }
        up
    }

    /// The overlay inode for what a walk names, copying an image inode up if needed.
    pub fn copy_up(&mut self, p: &mut dyn Platform, w: &Walk) -> SysResult<UpperRef> {
        match w.node() {
            Node::Upper(u) => Ok(u.clone()),
            Node::Lower(i) if i.kind() == Kind::Dir => self.copy_up_dir(p, w),
            Node::Lower(i) => {
                let i = *i;
                let (parent, name) = w.split_last().ok_or(EINVAL)?;
                let dir = self.copy_up_dir(p, &parent)?;
                let up = self.copy_of_lower(p, &i);
                set_entry(&dir, name, Entry::Node(Node::Upper(up.clone())));
                Ok(up)
            }
            Node::Synth(_) => Err(EACCES),
            Node::Host { .. } => Err(EXDEV),
        }
    }

    /// Creates `name` in the directory `parent` ends at.
    pub fn create(
        &mut self,
        p: &mut dyn Platform,
        parent: &Walk,
        name: &[u8],
        what: NewNode,
        mode: u32,
    ) -> SysResult<Node> {
        if self.child(p, parent, name).is_ok() {
            return Err(EEXIST);
        }
        if let Node::Host { mount, path, .. } = parent.node() {
            let fd = self.mounts[*mount].fd;
            let rel = super::join_rel(path, name);
            match &what {
                NewNode::Dir => p.mkdir(fd, &rel)?,
                NewNode::Symlink(t) => p.symlink(t, fd, &rel)?,
                NewNode::File => {
                    let how = HostOpen {
                        write: true,
                        create: true,
                        excl: true,
                        ..Default::default()
                    };
                    let h = p.open(fd, &rel, how)?;
                    p.close(h);
                }
            }
            return self.child(p, parent, name);
        }
        let dir = self.copy_up_dir(p, parent)?;
        let mode = mode & 0o7777;
        let (mode, body) = match what {
            NewNode::File => (s::IFREG | (mode & !self.umask), Body::File(Vec::new())),
            NewNode::Dir => (
                s::IFDIR | (mode & !self.umask),
                Body::Dir {
                    entries: BTreeMap::new(),
                    lower: None,
                },
            ),
            NewNode::Symlink(t) => (s::IFLNK | 0o777, Body::Symlink(t)),
        };
        let is_dir = mode & s::IFMT == s::IFDIR;
        let up = self.new_upper(p, mode, body);
        set_entry(&dir, name, Entry::Node(Node::Upper(up.clone())));
        let now = Vfs::now(p);
        let mut d = dir.borrow_mut();
        d.mtime = now;
        d.ctime = now;
        if is_dir {
            d.nlink += 1;
        }
        Ok(Node::Upper(up))
    }

    /// `openat`: returns the new fd.
    pub fn open(
        &mut self,
        p: &mut dyn Platform,
        src: &dyn ProcSource,
        dirfd: i64,
        path: &[u8],
        flags: u32,
        mode: u32,
    ) -> SysResult<u32> {
        let base = self.base(dirfd, path)?;
        let follow = flags & o::NOFOLLOW == 0;
        let creat = flags & o::CREAT != 0;
        let mut w = match self.walk(p, &base, path, follow) {
            Ok(_) if creat && flags & o::EXCL != 0 => return Err(EEXIST),
            Ok(w) => w,
            Err(e) if e == ENOENT && creat => {
                if path.ends_with(b"/") {
                    return Err(EISDIR);
                }
                let (mut parent, mut name) = self.walk_parent(p, &base, path)?;
                // A dangling symlink as the last component: create its target, as Linux does.
                let mut links = 0;
                while follow
                    && let Ok(n) = self.child(p, &parent, &name)
                    && n.kind() == Kind::Symlink
                {
                    links += 1;
                    if links > vfs_pack::MAX_SYMLINKS || flags & o::EXCL != 0 {
                        return Err(if links > vfs_pack::MAX_SYMLINKS {
                            ELOOP
                        } else {
                            EEXIST
                        });
                    }
                    let target = self.readlink(p, &n)?;
                    (parent, name) = self.walk_parent(p, &parent.names, &target)?;
                }
                let node = self.create(p, &parent, &name, NewNode::File, mode)?;
                let mut w = parent;
                w.names.push(name);
                w.nodes.push(node);
                w
            }
            Err(e) => return Err(e),
        };
        let node = w.node().clone();
        if let Node::Synth(Synth::FdTarget(fd)) = node {
            return self.fds.dup(i64::from(fd), 0, flags & o::CLOEXEC != 0);
        }
        let kind = node.kind();
        let writing = flags & o::ACCMODE != o::RDONLY;
        if flags & o::PATH != 0 {
            return self.fds.install(
                OpenFile::new(FileKind::Path(node), flags, path_string(&w.names)),
                flags & o::CLOEXEC != 0,
            );
        }
        if flags & o::DIRECTORY != 0 && kind != Kind::Dir {
            return Err(ENOTDIR);
        }
        if kind == Kind::Symlink {
            return Err(ELOOP);
        }
        if kind == Kind::Dir && (writing || creat) {
            return Err(EISDIR);
        }
        let trunc = flags & o::TRUNC != 0 && writing;
        let file_kind = match node {
            Node::Lower(i) if kind == Kind::Dir => FileKind::Dir {
                path: w.names.clone(),
                node: Node::Lower(i),
                listing: None,
            },
            Node::Lower(i) if kind == Kind::File && !writing => FileKind::Lower(i),
            Node::Lower(_) if kind == Kind::File => {
                let up = self.copy_up(p, &w)?;
                if let Some(n) = w.nodes.last_mut() {
                    *n = Node::Upper(up.clone());
                }
                FileKind::Upper(up)
            }
            Node::Lower(_) => return Err(ENXIO),
            Node::Upper(u) if kind == Kind::Dir => FileKind::Dir {
                path: w.names.clone(),
                node: Node::Upper(u),
                listing: None,
            },
            Node::Upper(u) => FileKind::Upper(u),
            Node::Synth(s) => match s {
                Synth::Dev(d) => FileKind::Dev(d),
                Synth::File(f) => {
                    if writing {
                        return Err(EACCES);
                    }
                    let uptime = p.now(Clock::Monotonic);
                    FileKind::Snapshot(proc_text(f, src, uptime, &self.cmdline, &self.environ))
                }
                _ => FileKind::Dir {
                    path: w.names.clone(),
                    node: Node::Synth(s),
                    listing: None,
                },
            },
            Node::Host {
                mount, ref path, ..
            } => {
                if kind == Kind::Dir {
                    FileKind::Dir {
                        path: w.names.clone(),
                        node: node.clone(),
                        listing: None,
                    }
                } else {
                    let how = HostOpen {
                        write: writing,
                        trunc,
                        append: flags & o::APPEND != 0,
                        follow: true,
                        ..Default::default()
                    };
                    let fd = p.open(self.mounts[mount].fd, path, how)?;
                    FileKind::Host {
                        fd,
                        node: node.clone(),
                    }
                }
            }
        };
        let mut file = OpenFile::new(
            file_kind,
            flags & !(o::CREAT | o::EXCL | o::TRUNC | o::CLOEXEC | o::NOCTTY),
            path_string(&w.names),
        );
        if trunc {
            let now = Vfs::now(p);
            if let FileKind::Upper(_) = file.kind {
                file.truncate(p, 0, now)?;
            }
        }
        self.fds.install(file, flags & o::CLOEXEC != 0)
    }

    /// Applies `f` to the overlay inode of what `path` names (copying it up), for `chmod`,
    /// `chown` and `utimensat`. Host files accept and ignore metadata changes.
    pub fn modify(
        &mut self,
        p: &mut dyn Platform,
        dirfd: i64,
        path: &[u8],
        follow: bool,
        f: &mut dyn FnMut(&mut Upper),
    ) -> SysResult<()> {
        let w = if path.is_empty() {
            let file = self.fds.get(dirfd)?;
            let node = file.borrow().node().ok_or(EBADF)?;
            if let Node::Upper(u) = &node {
                f(&mut u.borrow_mut());
                return Ok(());
            }
            let fpath = file.borrow().path.clone();
            self.walk(p, &[], &fpath, false)?
        } else {
            let base = self.base(dirfd, path)?;
            self.walk(p, &base, path, follow)?
        };
        match w.node() {
            Node::Host { .. } => Ok(()),
            Node::Synth(_) => Err(EPERM),
            _ => {
                let up = self.copy_up(p, &w)?;
                f(&mut up.borrow_mut());
                Ok(())
            }
        }
    }

    /// `getdents64` on a directory fd: records that fit in `room` bytes.
    pub fn getdents(&mut self, p: &mut dyn Platform, fd: i64, room: usize) -> SysResult<Vec<u8>> {
        let file = self.fds.get(fd)?;
        let mut f = file.borrow_mut();
        let pos = f.offset as usize;
        let FileKind::Dir { path, listing, .. } = &mut f.kind else {
            return Err(ENOTDIR);
        };
        if listing.is_none() {
            let w = self.walk_canonical(p, path)?;
            *listing = Some(self.listing(p, &w)?);
        }
        let entries = listing.as_deref().unwrap_or_default();
        let mut out = Vec::new();
        let mut next = pos;
        for e in entries.iter().skip(pos) {
            if !push_dirent64(&mut out, room, e.ino, next as u64 + 1, e.dtype, &e.name) {
                if out.is_empty() {
                    return Err(EINVAL);
                }
                break;
            }
            next += 1;
        }
        f.offset = next as u64;
        Ok(out)
    }
}

/// Sets entry `name` of an overlay directory.
pub(super) fn set_entry(dir: &UpperRef, name: &[u8], e: Entry) {
    if let Body::Dir { entries, .. } = &mut dir.borrow_mut().body {
        entries.insert(name.to_vec(), e);
    }
}

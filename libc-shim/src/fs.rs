//! The guest's filesystem: the packed image (read-only lower layer, served zero-copy from linear
//! memory) under a writable in-memory overlay (tmpfs semantics: whiteouts hide lower entries,
//! lower files are copied up when opened for writing), with synthesized `/dev` and `/proc`, host
//! directories mounted through WASI preopens, a working directory and the fd table.
//!
//! Paths resolve with Linux semantics across all of these (symlinks may cross layers and mounts;
//! 40 links at most, `ENOTDIR`, `ENOENT`, `ELOOP`, `ENAMETOOLONG`). A resolution is a [`Walk`]:
//! the canonical names from the root and the node each leads to, so `..` pops a component and
//! the working directory and directory fds are kept as canonical paths, re-resolved on use so
//! that they always see the current overlay.
//!
//! - [`node`]: what a path can name; [`synth`]: `/dev` and `/proc`; [`file`]: open file
//!   descriptions and their I/O; [`fdtable`]: fd numbers; [`ops`]: copy-up, creating and
//!   opening; [`names`]: removing and renaming.

pub mod fdtable;
pub mod file;
pub mod names;
pub mod node;
pub mod ops;
pub mod synth;

use crate::abi::*;
use crate::platform::{Kind, Platform};
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::rc::Rc;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::RefCell;
use fdtable::FdTable;
use file::{DirEnt, FileKind};
use node::{Body, Entry, Node, Upper, UpperRef, host_stat, lower_stat};
use synth::Synth;
use vfs_pack::{Image, NAME_MAX, PATH_MAX};

/// A host directory mounted into the guest tree.
#[derive(Debug, Clone)]
pub struct Mount {
    /// Canonical guest path components of the mount point.
    pub path: Vec<Vec<u8>>,
    /// The platform's preopened directory fd.
    pub fd: u32,
}

/// A resolved path: `names[i]` leads from `nodes[i]` to `nodes[i + 1]`; `nodes[0]` is the root.
#[derive(Debug, Clone)]
pub struct Walk {
    pub names: Vec<Vec<u8>>,
    pub nodes: Vec<Node>,
}

impl Walk {
    /// The node the path names.
    pub fn node(&self) -> &Node {
        self.nodes
            .last()
            .unwrap_or_else(|| unreachable!("a walk always holds the root"))
    }

    fn push(&mut self, name: Vec<u8>, node: Node) {
        self.names.push(name);
        self.nodes.push(node);
    }

    fn pop(&mut self) {
        if !self.names.is_empty() {
            self.names.pop();
            self.nodes.pop();
        }
    }

    /// The parent walk and the last name (`None` at the root).
    pub fn split_last(&self) -> Option<(Walk, &[u8])> {
        let name = self.names.last()?;
        let mut parent = self.clone();
        parent.pop();
        Some((parent, name))
    }
}

/// Joins canonical components into an absolute path.
pub fn path_string(names: &[Vec<u8>]) -> Vec<u8> {
    if names.is_empty() {
        return b"/".to_vec();
    }
    let mut out = Vec::new();
    for n in names {
        out.push(b'/');
        out.extend_from_slice(n);
    }
    out
}

/// The filesystem and the process's file state.
#[derive(Debug)]
pub struct Vfs {
    pub image: Image<'static>,
    pub root: UpperRef,
    pub mounts: Vec<Mount>,
    /// Canonical components of the working directory.
    pub cwd: Vec<Vec<u8>>,
    pub fds: FdTable,
    pub umask: u32,
    /// Path of the running executable, for `/proc/self/exe`.
    pub exe: Vec<u8>,
    /// NUL-separated argv and environment, for `/proc/self/cmdline` and `environ`.
    pub cmdline: Vec<u8>,
    pub environ: Vec<u8>,
    /// Owner of new files.
    pub uid: u32,
    pub gid: u32,
    next_ino: u64,
}

impl Vfs {
    /// A filesystem over `image`, with the platform's preopens mounted at their guest paths.
    pub fn new(image: Image<'static>, p: &mut dyn Platform) -> Vfs {
        let root = image.root();
        let now = Timespec::from_ns(p.now(crate::platform::Clock::Realtime));
        let upper_root = Upper {
            ino: 2,
            mode: root.mode(),
            uid: root.uid(),
            gid: root.gid(),
            nlink: root.nlink(),
            atime: now,
            mtime: Timespec {
                sec: root.mtime(),
                nsec: 0,
            },
            ctime: now,
            body: Body::Dir {
                entries: BTreeMap::new(),
                lower: Some(root),
            },
        };
        let mut vfs = Vfs {
            image,
            root: Rc::new(RefCell::new(upper_root)),
            mounts: Vec::new(),
            cwd: Vec::new(),
            fds: FdTable::default(),
            umask: 0o022,
            exe: Vec::new(),
            cmdline: Vec::new(),
            environ: Vec::new(),
            uid: 0,
            gid: 0,
            next_ino: node::UPPER_INO_BASE,
        };
        for (fd, guest) in p.preopens() {
            let path: Vec<Vec<u8>> = components(&guest)
                .into_iter()
                .filter(|c| c != b".")
                .map(<[u8]>::to_vec)
                .collect();
            if !path.is_empty() {
                vfs.mounts.push(Mount { path, fd });
            }
        }
        vfs
    }

    /// A fresh overlay inode number.
    pub fn alloc_ino(&mut self) -> u64 {
        self.next_ino += 1;
        self.next_ino
    }

    fn root_walk(&self) -> Walk {
        Walk {
            names: Vec::new(),
            nodes: vec![Node::Upper(self.root.clone())],
        }
    }

    /// The canonical directory a path is resolved from: none for an absolute path, the working
    /// directory for `AT_FDCWD`, else the directory `dirfd` names.
    pub fn base(&self, dirfd: i64, path: &[u8]) -> SysResult<Vec<Vec<u8>>> {
        if path.starts_with(b"/") {
            return Ok(Vec::new());
        }
        // `dirfd` is an `int`: the kernel looks at the low 32 bits only (a zero-extended
        // AT_FDCWD is still AT_FDCWD).
        let dirfd = i64::from(dirfd as i32);
        if dirfd == i64::from(at::FDCWD) {
            return Ok(self.cwd.clone());
        }
        let file = self.fds.get(dirfd)?;
        let file = file.borrow();
        match &file.kind {
            FileKind::Dir { path, .. } => Ok(path.clone()),
            FileKind::Path(n) if n.is_dir() => {
                Ok(components(&file.path).iter().map(|c| c.to_vec()).collect())
            }
            _ => Err(ENOTDIR),
        }
    }

    /// Re-resolves canonical components (no symlinks among them) from the root.
    fn walk_canonical(&self, p: &mut dyn Platform, names: &[Vec<u8>]) -> SysResult<Walk> {
        let mut w = self.root_walk();
        for name in names {
            let child = self.child(p, &w, name)?;
            w.push(name.clone(), child);
        }
        Ok(w)
    }

    /// Resolves `path` from `base` (see [`Vfs::base`]); follows a final symlink if `follow`.
    pub fn walk(
        &self,
        p: &mut dyn Platform,
        base: &[Vec<u8>],
        path: &[u8],
        follow: bool,
    ) -> SysResult<Walk> {
        if path.is_empty() {
            return Err(ENOENT);
        }
        if path.len() >= PATH_MAX {
            return Err(ENAMETOOLONG);
        }
        let mut w = if path.starts_with(b"/") {
            self.root_walk()
        } else {
            self.walk_canonical(p, base)?
        };
        let must_be_dir = path.ends_with(b"/");
        let mut pending: Vec<Vec<u8>> = components(path)
            .into_iter()
            .rev()
            .map(<[u8]>::to_vec)
            .collect();
        let mut links = 0;
        while let Some(comp) = pending.pop() {
            let last = pending.is_empty();
            if comp.len() > NAME_MAX {
                return Err(ENAMETOOLONG);
            }
            if !w.node().is_dir() {
                return Err(ENOTDIR);
            }
            match &comp[..] {
                b"." => continue,
                b".." => {
                    w.pop();
                    continue;
                }
                _ => {}
            }
            let child = self.child(p, &w, &comp)?;
            if child.kind() == Kind::Symlink && (!last || follow || must_be_dir) {
                if let Node::Synth(Synth::PidFd(fd)) = child
                    && self.fds.get(i64::from(fd))?.borrow().node().is_none()
                {
                    w.push(comp, Node::Synth(Synth::FdTarget(fd)));
                    continue;
                }
                links += 1;
                if links > vfs_pack::MAX_SYMLINKS {
                    return Err(ELOOP);
                }
                let target = self.readlink_node(&child)?;
                if target.is_empty() {
                    return Err(ENOENT);
                }
                if target.starts_with(b"/") {
                    w = self.root_walk();
                }
                pending.extend(components(&target).into_iter().rev().map(<[u8]>::to_vec));
                continue;
            }
            w.push(comp, child);
        }
        if must_be_dir && !w.node().is_dir() {
            return Err(ENOTDIR);
        }
        Ok(w)
    }

    /// Resolves all but the last component of `path`: the parent directory and the final name.
    /// A path ending in `.` or `..` or naming the root has no final name (`EEXIST`/`EBUSY` for
    /// the callers that create or remove; here `EINVAL`, which callers refine).
    pub fn walk_parent(
        &self,
        p: &mut dyn Platform,
        base: &[Vec<u8>],
        path: &[u8],
    ) -> SysResult<(Walk, Vec<u8>)> {
        if path.is_empty() {
            return Err(ENOENT);
        }
        if path.len() >= PATH_MAX {
            return Err(ENAMETOOLONG);
        }
        let trimmed = &path[..path.len() - path.iter().rev().take_while(|&&b| b == b'/').count()];
        let (dir, name) = match trimmed.iter().rposition(|&b| b == b'/') {
            Some(i) => (&trimmed[..=i], &trimmed[i + 1..]),
            None => (&b""[..], trimmed),
        };
        if name.is_empty() || name == b"." || name == b".." {
            return Err(EINVAL);
        }
        if name.len() > NAME_MAX {
            return Err(ENAMETOOLONG);
        }
        let w = if dir.is_empty() {
            self.walk_canonical(p, base)?
        } else {
            self.walk(p, base, dir, true)?
        };
        if !w.node().is_dir() {
            return Err(ENOTDIR);
        }
        Ok((w, name.to_vec()))
    }

    /// The mount whose mount point is `parent` + `name`.
    fn mount_at(&self, parent: &[Vec<u8>], name: &[u8]) -> Option<usize> {
        self.mounts.iter().position(|m| {
            m.path.len() == parent.len() + 1
                && m.path[..parent.len()] == *parent
                && m.path[parent.len()] == name
        })
    }

    /// The entry `name` of the directory the walk ends at.
    pub fn child(&self, p: &mut dyn Platform, w: &Walk, name: &[u8]) -> SysResult<Node> {
        if let Some(i) = self.mount_at(&w.names, name) {
            let stat = p
                .fstat(self.mounts[i].fd)
                .unwrap_or(crate::platform::HostStat {
                    kind: Kind::Dir,
                    ino: 1,
                    nlink: 2,
                    size: 4096,
                    mtime_ns: 0,
                });
            return Ok(Node::Host {
                mount: i,
                path: Vec::new(),
                stat,
            });
        }
        match w.node() {
            Node::Lower(dir) => Ok(Node::Lower(self.image.lookup(dir, name)?)),
            Node::Upper(u) => {
                if w.names.is_empty() {
                    match name {
                        b"dev" => return Ok(Node::Synth(Synth::DevDir)),
                        b"proc" => return Ok(Node::Synth(Synth::ProcDir)),
                        _ => {}
                    }
                }
                let u = u.borrow();
                let Body::Dir { entries, lower } = &u.body else {
                    return Err(ENOTDIR);
                };
                match entries.get(name) {
                    Some(Entry::Node(n)) => Ok(n.clone()),
                    Some(Entry::Whiteout) => Err(ENOENT),
                    None => match lower {
                        Some(l) => Ok(Node::Lower(self.image.lookup(l, name)?)),
                        None => Err(ENOENT),
                    },
                }
            }
            Node::Synth(s) => s
                .lookup(name, &self.fds.fds())
                .map(Node::Synth)
                .ok_or(ENOENT),
            Node::Host { mount, path, .. } => {
                let rel = join_rel(path, name);
                let stat = p.stat(self.mounts[*mount].fd, &rel, false)?;
                Ok(Node::Host {
                    mount: *mount,
                    path: rel,
                    stat,
                })
            }
        }
    }

    /// The target of a symlink node.
    pub fn readlink_node(&self, n: &Node) -> SysResult<Vec<u8>> {
        match n {
            Node::Lower(i) => Ok(self.image.readlink(i)?.to_vec()),
            Node::Upper(u) => match &u.borrow().body {
                Body::Symlink(t) => Ok(t.clone()),
                _ => Err(EINVAL),
            },
            Node::Synth(s) => {
                if let Some(t) = s.fixed_target() {
                    return Ok(t);
                }
                match s {
                    Synth::PidExe => Ok(self.exe.clone()),
                    Synth::PidCwd => Ok(path_string(&self.cwd)),
                    Synth::PidFd(fd) => {
                        let f = self.fds.get(i64::from(*fd))?;
                        let f = f.borrow();
                        Ok(match &f.kind {
                            FileKind::PipeRead(pp) | FileKind::PipeWrite(pp) => {
                                format!("pipe:[{}]", pp.borrow().ino).into_bytes()
                            }
                            FileKind::Stdio(_) => b"/dev/pts/0".to_vec(),
                            _ => f.path.clone(),
                        })
                    }
                    _ => Err(EINVAL),
                }
            }
            Node::Host { .. } => Err(EINVAL),
        }
    }

    /// Like [`Vfs::readlink_node`], reading host links through the platform.
    pub fn readlink(&self, p: &mut dyn Platform, n: &Node) -> SysResult<Vec<u8>> {
        match n {
            Node::Synth(Synth::PidFd(fd)) => {
                let f = self.fds.get(i64::from(*fd))?;
                let host = match f.borrow().kind {
                    FileKind::Stdio(h) => h,
                    _ => return self.readlink_node(n),
                };
                // Docker gives a container without a terminal pipes for its stdio.
                Ok(if p.isatty(host) {
                    b"/dev/pts/0".to_vec()
                } else {
                    format!("pipe:[{}]", 4026531840u64 + u64::from(host)).into_bytes()
                })
            }
            Node::Host { mount, path, stat } if stat.kind == Kind::Symlink => {
                p.readlink(self.mounts[*mount].fd, path)
            }
            _ => self.readlink_node(n),
        }
    }

    /// `stat` of a node.
    pub fn stat(&self, n: &Node) -> Stat {
        match n {
            Node::Lower(i) => lower_stat(i),
            Node::Upper(u) => u.borrow().stat(),
            Node::Synth(s) => {
                let size = if s.kind() == Kind::Symlink {
                    self.readlink_node(n).map_or(0, |t| t.len() as u64)
                } else {
                    0
                };
                s.stat(size)
            }
            Node::Host { mount, stat, .. } => host_stat(*mount, stat),
        }
    }

    /// The entries of a directory, `.` and `..` first, the overlay merged over the image.
    pub fn listing(&self, p: &mut dyn Platform, w: &Walk) -> SysResult<Vec<DirEnt>> {
        let here = self.stat(w.node()).ino;
        let up = w
            .nodes
            .len()
            .checked_sub(2)
            .map_or(here, |i| self.stat(&w.nodes[i]).ino);
        let mut out = vec![
            DirEnt {
                name: b".".to_vec(),
                ino: here,
                dtype: 4,
            },
            DirEnt {
                name: b"..".to_vec(),
                ino: up,
                dtype: 4,
            },
        ];
        let mut merged: BTreeMap<Vec<u8>, DirEnt> = BTreeMap::new();
        let add_lower = |merged: &mut BTreeMap<Vec<u8>, DirEnt>, dir| -> SysResult<()> {
            for e in self.image.readdir(dir)? {
                let e = e.map_err(vfs_pack::FsError::from)?;
                let ent = DirEnt {
                    name: e.name.to_vec(),
                    ino: lower_stat(&e.inode).ino,
                    dtype: e.inode.kind().dirent_type(),
                };
                merged.insert(e.name.to_vec(), ent);
            }
            Ok(())
        };
        match w.node() {
            Node::Lower(dir) => add_lower(&mut merged, dir)?,
            Node::Upper(u) => {
                let u = u.borrow();
                let Body::Dir { entries, lower } = &u.body else {
                    return Err(ENOTDIR);
                };
                if let Some(l) = lower {
                    add_lower(&mut merged, l)?;
                }
                for (name, e) in entries {
                    match e {
                        Entry::Whiteout => {
                            merged.remove(name);
                        }
                        Entry::Node(n) => {
                            let ent = DirEnt {
                                name: name.clone(),
                                ino: self.stat(n).ino,
                                dtype: n.kind().dirent_type(),
                            };
                            merged.insert(name.clone(), ent);
                        }
                    }
                }
                if w.names.is_empty() {
                    for (name, s) in [(&b"dev"[..], Synth::DevDir), (b"proc", Synth::ProcDir)] {
                        merged.insert(
                            name.to_vec(),
                            DirEnt {
                                name: name.to_vec(),
                                ino: s.stat(0).ino,
                                dtype: 4,
                            },
                        );
                    }
                }
            }
            Node::Synth(s) => {
                for (name, e) in s.entries(&self.fds.fds()) {
                    let ent = DirEnt {
                        name: name.clone(),
                        ino: e.stat(0).ino,
                        dtype: e.kind().dirent_type(),
                    };
                    merged.insert(name, ent);
                }
            }
            Node::Host { mount, path, .. } => {
                let fd = self.mounts[*mount].fd;
                let how = crate::platform::HostOpen {
                    directory: true,
                    follow: true,
                    ..Default::default()
                };
                let dfd = if path.is_empty() {
                    fd
                } else {
                    p.open(fd, path, how)?
                };
                let entries = p.readdir(dfd);
                if dfd != fd {
                    p.close(dfd);
                }
                for e in entries? {
                    let ent = DirEnt {
                        name: e.name.clone(),
                        ino: e.ino,
                        dtype: e.kind.dirent_type(),
                    };
                    merged.insert(e.name, ent);
                }
            }
        }
        for m in &self.mounts {
            if m.path.len() == w.names.len() + 1 && m.path[..w.names.len()] == w.names[..] {
                let name = m.path[w.names.len()].clone();
                merged.insert(
                    name.clone(),
                    DirEnt {
                        name,
                        ino: 1,
                        dtype: 4,
                    },
                );
            }
        }
        out.extend(merged.into_values());
        Ok(out)
    }

    /// `chdir`.
    pub fn chdir(&mut self, p: &mut dyn Platform, path: &[u8]) -> SysResult<()> {
        let base = self.base(i64::from(at::FDCWD), path)?;
        let w = self.walk(p, &base, path, true)?;
        if !w.node().is_dir() {
            return Err(ENOTDIR);
        }
        self.cwd = w.names;
        Ok(())
    }
}

/// The `/`-separated non-empty components of a path.
pub fn components(path: &[u8]) -> Vec<&[u8]> {
    path.split(|&b| b == b'/')
        .filter(|c| !c.is_empty())
        .collect()
}

/// `dir/name` for host paths relative to a mount (`name` alone at the mount's root).
fn join_rel(dir: &[u8], name: &[u8]) -> Vec<u8> {
    if dir.is_empty() {
        return name.to_vec();
    }
    [dir, b"/", name].concat()
}

#[cfg(test)]
pub(crate) mod tests;

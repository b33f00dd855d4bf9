//! Removing and renaming names: `unlink`, `rmdir`, `mkdir`, `symlink`, `link`, `rename`.
//! Removing a name that the image also has leaves a whiteout in the overlay; renaming an image
//! directory copies it up as a directory merged over the original (its contents stay visible);
//! host mounts forward to the platform, and moves between filesystems are `EXDEV`.

use super::node::{Body, Entry, Node};
use super::ops::{NewNode, set_entry};
use super::{Vfs, Walk};
use crate::abi::*;
use crate::platform::{Kind, Platform};
use alloc::vec::Vec;

impl Vfs {
    /// Resolves `path` for `unlink`/`rmdir`/`rename`: the parent walk, name and node.
    fn existing(
        &self,
        p: &mut dyn Platform,
        dirfd: i64,
        path: &[u8],
    ) -> SysResult<(Walk, Vec<u8>, Node)> {
        let base = self.base(dirfd, path)?;
        let (parent, name) = self.walk_parent(p, &base, path)?;
        let node = self.child(p, &parent, &name)?;
        Ok((parent, name, node))
    }

    /// Whether a directory has no entries but `.` and `..`.
    fn is_empty_dir(
        &self,
        p: &mut dyn Platform,
        parent: &Walk,
        name: &[u8],
        node: &Node,
    ) -> SysResult<bool> {
        let mut w = parent.clone();
        w.names.push(name.to_vec());
        w.nodes.push(node.clone());
        Ok(self.listing(p, &w)?.len() <= 2)
    }

    /// Removes the name `name` from the directory `parent` ends at.
    fn remove_name(
        &mut self,
        p: &mut dyn Platform,
        parent: &Walk,
        name: &[u8],
        node: &Node,
    ) -> SysResult<()> {
        let is_dir = node.is_dir();
        let dir = self.copy_up_dir(p, parent)?;
        let lower_has = match &dir.borrow().body {
            Body::Dir { lower: Some(l), .. } => self.image.lookup(l, name).is_ok(),
            _ => false,
        };
        {
            let mut d = dir.borrow_mut();
            let Body::Dir { entries, .. } = &mut d.body else {
                return Err(ENOTDIR);
            };
            if lower_has {
                entries.insert(name.to_vec(), Entry::Whiteout);
            } else {
                entries.remove(name);
            }
            if is_dir {
                d.nlink = d.nlink.saturating_sub(1);
            }
        }
        if let Node::Upper(u) = node {
            let mut u = u.borrow_mut();
            u.nlink = u.nlink.saturating_sub(if is_dir { 2 } else { 1 });
        }
        Ok(())
    }

    /// `unlinkat` without `AT_REMOVEDIR`.
    pub fn unlink(&mut self, p: &mut dyn Platform, dirfd: i64, path: &[u8]) -> SysResult<()> {
        let (parent, name, node) = self.existing(p, dirfd, path)?;
        if node.is_dir() {
            return Err(EISDIR);
        }
        if let Node::Host { mount, path, .. } = &node {
            return p.unlink(self.mounts[*mount].fd, path);
        }
        if path.ends_with(b"/") {
            return Err(ENOTDIR);
        }
        self.remove_name(p, &parent, &name, &node)
    }

    /// `rmdir` / `unlinkat(AT_REMOVEDIR)`.
    pub fn rmdir(&mut self, p: &mut dyn Platform, dirfd: i64, path: &[u8]) -> SysResult<()> {
        let (parent, name, node) = self.existing(p, dirfd, path).map_err(|e| {
            if e == EINVAL && path.ends_with(b"..") {
                ENOTEMPTY
            } else {
                e
            }
        })?;
        if !node.is_dir() {
            return Err(ENOTDIR);
        }
        let n = parent.names.len();
        if self
            .mounts
            .iter()
            .any(|m| m.path.len() == n + 1 && m.path[..n] == parent.names[..] && m.path[n] == name)
        {
            return Err(EBUSY);
        }
        if let Node::Host { mount, path, .. } = &node {
            return p.rmdir(self.mounts[*mount].fd, path);
        }
        if !self.is_empty_dir(p, &parent, &name, &node)? {
            return Err(ENOTEMPTY);
        }
        self.remove_name(p, &parent, &name, &node)
    }

    /// `mkdirat`.
    pub fn mkdir(
        &mut self,
        p: &mut dyn Platform,
        dirfd: i64,
        path: &[u8],
        mode: u32,
    ) -> SysResult<()> {
        let base = self.base(dirfd, path)?;
        let (parent, name) = self
            .walk_parent(p, &base, path)
            .map_err(|e| if e == EINVAL { EEXIST } else { e })?;
        self.create(p, &parent, &name, NewNode::Dir, mode)
            .map(|_| ())
    }

    /// `symlinkat`.
    pub fn symlink(
        &mut self,
        p: &mut dyn Platform,
        target: &[u8],
        dirfd: i64,
        path: &[u8],
    ) -> SysResult<()> {
        let base = self.base(dirfd, path)?;
        let (parent, name) = self
            .walk_parent(p, &base, path)
            .map_err(|e| if e == EINVAL { EEXIST } else { e })?;
        self.create(p, &parent, &name, NewNode::Symlink(target.to_vec()), 0o777)
            .map(|_| ())
    }

    /// `linkat`: a second name for a non-directory.
    pub fn link(
        &mut self,
        p: &mut dyn Platform,
        old_fd: i64,
        old: &[u8],
        new_fd: i64,
        new: &[u8],
        follow: bool,
    ) -> SysResult<()> {
        let base = self.base(old_fd, old)?;
        let src = self.walk(p, &base, old, follow)?;
        let node = src.node().clone();
        if node.is_dir() {
            return Err(EPERM);
        }
        let base = self.base(new_fd, new)?;
        let (parent, name) = self
            .walk_parent(p, &base, new)
            .map_err(|e| if e == EINVAL { EEXIST } else { e })?;
        if self.child(p, &parent, &name).is_ok() {
            return Err(EEXIST);
        }
        match (&node, parent.node()) {
            (Node::Host { .. }, _) | (_, Node::Host { .. }) => return Err(EXDEV),
            (Node::Synth(_), _) => return Err(EXDEV),
            _ => {}
        }
        let dir = self.copy_up_dir(p, &parent)?;
        if let Node::Upper(u) = &node {
            u.borrow_mut().nlink += 1;
        }
        set_entry(&dir, &name, Entry::Node(node));
        Ok(())
    }

    /// `renameat2` (flags: `RENAME_NOREPLACE`; `RENAME_EXCHANGE` is `EINVAL`).
    pub fn rename(
        &mut self,
        p: &mut dyn Platform,
        old_fd: i64,
        old: &[u8],
        new_fd: i64,
        new: &[u8],
        flags: u32,
    ) -> SysResult<()> {
        if flags & !at::RENAME_NOREPLACE != 0 {
            return Err(EINVAL);
        }
        let (op, oname, src) = self
            .existing(p, old_fd, old)
            .map_err(|e| if e == EINVAL { EBUSY } else { e })?;
        let base = self.base(new_fd, new)?;
        let (np, nname) = self
            .walk_parent(p, &base, new)
            .map_err(|e| if e == EINVAL { EBUSY } else { e })?;
        let dst = self.child(p, &np, &nname).ok();
        if let Some(d) = &dst {
            if d.same(&src) {
                return Ok(());
            }
            if flags & at::RENAME_NOREPLACE != 0 {
                return Err(EEXIST);
            }
            match (src.is_dir(), d.is_dir()) {
                (true, false) => return Err(ENOTDIR),
                (false, true) => return Err(EISDIR),
                (true, true) if !self.is_empty_dir(p, &np, &nname, d)? => return Err(ENOTEMPTY),
                _ => {}
            }
        }
        let mut src_path = op.names.clone();
        src_path.push(oname.clone());
        if src.is_dir()
            && np.names.len() >= src_path.len()
            && np.names[..src_path.len()] == src_path[..]
        {
            return Err(EINVAL);
        }
        match (&src, np.node()) {
            (
                Node::Host { mount, path, .. },
                Node::Host {
                    mount: m2,
                    path: dir,
                    ..
                },
            ) if mount == m2 => {
                let fd = self.mounts[*mount].fd;
                return p.rename(fd, path, fd, &super::join_rel(dir, &nname));
            }
            (Node::Host { .. }, _) | (_, Node::Host { .. }) | (Node::Synth(_), _) => {
                return Err(EXDEV);
            }
            _ => {}
        }
        let moved = match &src {
            Node::Lower(i) if i.kind() == Kind::Dir => {
                let mut w = op.clone();
                w.names.push(oname.clone());
                w.nodes.push(src.clone());
                Node::Upper(self.copy_up_dir(p, &w)?)
            }
            n => n.clone(),
        };
        if let Some(d) = &dst {
            self.remove_name(p, &np, &nname, d)?;
        }
        self.remove_name(p, &op, &oname, &src)?;
        let moved_dir = moved.is_dir();
        if let Node::Upper(u) = &moved {
            let mut u = u.borrow_mut();
            u.nlink += if moved_dir { 2 } else { 1 };
        }
        let dir = self.copy_up_dir(p, &np)?;
        if moved_dir {
            dir.borrow_mut().nlink += 1;
        }
        set_entry(&dir, &nname, Entry::Node(moved));
        Ok(())
    }
}

//! `dir:PATH` sources: a host directory read into a [`Tree`] as the image's only layer.
//!
//! Symlinks are read, never followed; hard links (same device and inode) become one inode;
//! devices, fifos and sockets are recorded with their numbers. Ownership, modes and mtimes are
//! kept as they are on the host.

use std::collections::HashMap;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use vfs_pack::tree::{Inode, InodeId, Meta, Node, Tree};

use crate::error::{Error, Result};
use crate::progress::Progress;

/// Linux's encoding of a device number into major and minor (glibc's `gnu_dev_major/minor`).
fn split_dev(rdev: u64) -> (u32, u32) {
    let major = ((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff);
    let minor = (rdev & 0xff) | ((rdev >> 12) & !0xff);
    (major as u32, minor as u32)
}

fn meta_of(m: &fs::Metadata) -> Meta {
    Meta {
        mode: m.mode() & 0o7777,
        uid: m.uid(),
        gid: m.gid(),
        mtime: m.mtime(),
    }
}

/// Reads the tree under `root`.
pub fn read_dir_tree(root: &Path, progress: &Progress) -> Result<Tree> {
    let top = fs::symlink_metadata(root).map_err(|e| Error::io("cannot read", root, e))?;
    if !top.is_dir() {
        return Err(Error::new(
            crate::ErrorKind::Io,
            format!("{} is not a directory", root.display()),
        ));
    }
    let mut tree = Tree::new();
    let tree_root = tree.root();
    tree.get_mut(tree_root).meta = meta_of(&top);
    let bar = progress.bytes(0, format!("read {}", root.display()));
    let mut links = HashMap::new();
    let mut pending = vec![(root.to_path_buf(), tree_root)];
    while let Some((dir, id)) = pending.pop() {
        let mut entries: Vec<_> = fs::read_dir(&dir)
            .map_err(|e| Error::io("cannot list", &dir, e))?
            .collect::<std::io::Result<_>>()
            .map_err(|e| Error::io("cannot list", &dir, e))?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            let m = fs::symlink_metadata(&path).map_err(|e| Error::io("cannot stat", &path, e))?;
            let name = entry.file_name();
            let key = (m.dev(), m.ino());
            if !m.is_dir()
                && m.nlink() > 1
                && let Some(&existing) = links.get(&key)
            {
                tree.link(id, name.as_bytes(), existing);
                continue;
            }
            let ft = m.file_type();
            let node = if ft.is_dir() {
                Node::Dir(Default::default())
            } else if ft.is_symlink() {
                let target =
                    fs::read_link(&path).map_err(|e| Error::io("cannot read link", &path, e))?;
                Node::Symlink(target.as_os_str().as_bytes().to_vec())
            } else if ft.is_file() {
                let data = fs::read(&path).map_err(|e| Error::io("cannot read", &path, e))?;
                bar.inc(data.len() as u64);
                Node::File(data)
            } else if ft.is_char_device() || ft.is_block_device() {
                let (major, minor) = split_dev(m.rdev());
                if ft.is_char_device() {
                    Node::CharDevice { major, minor }
                } else {
                    Node::BlockDevice { major, minor }
                }
            } else if ft.is_fifo() {
                Node::Fifo
            } else {
                Node::Socket
            };
            let is_dir = matches!(node, Node::Dir(_));
            let child: InodeId = tree.add(Inode {
                meta: meta_of(&m),
                node,
            });
            tree.link(id, name.as_bytes(), child);
            if is_dir {
                pending.push((path, child));
            } else if m.nlink() > 1 {
                links.insert(key, child);
            }
        }
    }
    bar.finish_and_clear();
    Ok(tree)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_files_links_and_hard_links() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::create_dir(d.join("bin")).unwrap();
        fs::write(d.join("bin/busybox"), b"ELF").unwrap();
        fs::hard_link(d.join("bin/busybox"), d.join("bin/sh")).unwrap();
        std::os::unix::fs::symlink("/bin/busybox", d.join("bin/ls")).unwrap();
        let tree = read_dir_tree(d, &Progress::hidden()).unwrap();
        let bb = tree.resolve(b"/bin/busybox", false).unwrap();
        assert_eq!(tree.resolve(b"/bin/sh", false).unwrap(), bb);
        assert_eq!(tree.resolve(b"/bin/ls", true).unwrap(), bb);
        assert_eq!(tree.get(bb).node, Node::File(b"ELF".to_vec()));
        assert_eq!(split_dev(0x0103), (1, 3));
    }
}

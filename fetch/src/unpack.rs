//! Writing a [`Tree`] out to a host directory, for the tools that need the image as real files
//! (`oci2wasm verify` runs the command natively, `chroot`ed into it).
//!
//! This is the one place where an image's files reach the host, so it keeps invariant 1 of
//! ARCHITECTURE.md by construction: every name is checked to be one plain path component, entries
//! are created only with calls that refuse to follow or replace what is already there
//! (`mkdir`, `O_CREAT | O_EXCL`, `symlink`, `link`), and the parent of every entry is checked to be a
//! real directory (not a symlink) before anything is created in it. Symlinks are created with their
//! target as stored and are never followed. Device nodes, fifos and sockets are skipped and
//! reported. Modes, owners (when the caller may set them) and modification times are copied, the
//! times of directories and symlinks included, so `ls -l` inside the directory matches the image.
//!
//! ```no_run
//! # fn main() -> oci2wasm_fetch::Result<()> {
//! use oci2wasm_fetch::{FetchOptions, ImageRef, fetch, unpack};
//! let image = fetch(&ImageRef::parse("oci:fixtures/out/busybox/oci:latest")?, &FetchOptions::default())?;
//! let dir = std::path::Path::new("/tmp/rootfs");
//! std::fs::create_dir(dir).unwrap();
//! let report = unpack(&image.rootfs, dir)?;
//! println!("{} entries, {} skipped", report.entries, report.skipped.len());
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::ffi::{CString, OsStr};
use std::fs::{OpenOptions, Permissions};
use std::io::Write as _;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use vfs_pack::tree::{InodeId, Node, Tree};

use crate::{Error, ErrorKind, Result};

/// What [`unpack`] wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Unpacked {
    /// Entries created (directories, files, symlinks and hard links; the root not counted).
    pub entries: u64,
    /// Entries that were not created: `(absolute path in the image, kind)`.
    pub skipped: Vec<(String, &'static str)>,
}

/// Writes `tree` into `dest`, an existing (normally empty, private) directory that becomes the
/// tree's root. Nothing is written outside `dest`; an entry that already exists is an error.
pub fn unpack(tree: &Tree, dest: &Path) -> Result<Unpacked> {
    let root_meta =
        std::fs::symlink_metadata(dest).map_err(|e| Error::io("cannot read", dest, e))?;
    if !root_meta.is_dir() {
        return Err(Error::new(
            ErrorKind::Io,
            format!("{} is not a directory", dest.display()),
        ));
    }
    let mut report = Unpacked::default();
    // Inodes already written, for hard links: inode -> host path of its first name.
    let mut first_path: HashMap<InodeId, PathBuf> = HashMap::new();
    // Directory modes and every entry's time are set last, children first, so that writing into
    // a directory neither fails on its mode nor changes its time afterwards.
    let mut finish: Vec<(PathBuf, InodeId)> = Vec::new();
    for (path, id) in tree.walk() {
        let inode = tree.get(id);
        let host = if path == b"/" {
            dest.to_path_buf()
        } else {
            let host = host_path(dest, &path)?;
            check_parent(&host)?;
            let shown = String::from_utf8_lossy(&path).into_owned();
            if let Some(first) = first_path.get(&id) {
                std::fs::hard_link(first, &host).map_err(|e| Error::io("cannot link", &host, e))?;
                report.entries += 1;
                continue;
            }
            match &inode.node {
                Node::Dir(_) => std::fs::create_dir(&host)
                    .map_err(|e| Error::io("cannot create directory", &host, e))?,
                Node::File(data) => {
                    let mut file = OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .mode(0o600)
                        .open(&host)
                        .map_err(|e| Error::io("cannot create", &host, e))?;
                    file.write_all(data)
                        .map_err(|e| Error::io("cannot write", &host, e))?;
                    first_path.insert(id, host.clone());
                }
                Node::Symlink(target) => {
                    std::os::unix::fs::symlink(OsStr::from_bytes(target), &host)
                        .map_err(|e| Error::io("cannot create symlink", &host, e))?
                }
                other => {
                    report.skipped.push((shown, other.kind_name()));
                    continue;
                }
            }
            report.entries += 1;
            host
        };
        finish.push((host, id));
    }
    for (host, id) in finish.into_iter().rev() {
        let meta = tree.get(id).meta;
        // Owners are copied when we may (as root); otherwise the files stay ours.
        let _ = std::os::unix::fs::lchown(&host, Some(meta.uid), Some(meta.gid));
        if !matches!(tree.get(id).node, Node::Symlink(_)) {
            std::fs::set_permissions(&host, Permissions::from_mode(meta.mode & 0o7777))
                .map_err(|e| Error::io("cannot set the mode of", &host, e))?;
        }
        set_mtime(&host, meta.mtime).map_err(|e| Error::io("cannot set the time of", &host, e))?;
    }
    Ok(report)
}

/// `dest` joined with an absolute tree path whose every component is a plain name.
fn host_path(dest: &Path, path: &[u8]) -> Result<PathBuf> {
    let mut host = dest.to_path_buf();
    for name in path.split(|&b| b == b'/').skip(1) {
        if name.is_empty() || name == b"." || name == b".." || name.contains(&0) {
            return Err(Error::new(
                ErrorKind::UnsafeEntry,
                format!(
                    "{:?}: not a plain path inside the image",
                    String::from_utf8_lossy(path)
                ),
            ));
        }
        host.push(OsStr::from_bytes(name));
    }
    Ok(host)
}

/// The parent of `host` must be a directory, not a symlink to one.
fn check_parent(host: &Path) -> Result<()> {
    let parent = host.parent().unwrap_or(host);
    match std::fs::symlink_metadata(parent) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(Error::new(
            ErrorKind::UnsafeEntry,
            format!("{} is not a directory", parent.display()),
        )),
        Err(e) => Err(Error::io("cannot read", parent, e)),
    }
}

/// Sets the access and modification times of `path` itself (a symlink is not followed).
fn set_mtime(path: &Path, mtime: i64) -> std::io::Result<()> {
    let c = CString::new(path.as_os_str().as_bytes())?;
    let time = libc::timespec {
        tv_sec: mtime,
        tv_nsec: 0,
    };
    let times = [time, time];
    // SAFETY: `c` is a NUL-terminated path and `times` two valid timespecs, both alive for the
    // call; utimensat reads them and keeps no reference.
    let rc = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt as _;
    use vfs_pack::tree::{Inode, Meta};

    fn meta(mode: u32) -> Meta {
        Meta {
            mode,
            uid: 0,
            gid: 0,
            mtime: 1_700_000_000,
        }
    }

    fn add(tree: &mut Tree, dir: InodeId, name: &[u8], mode: u32, node: Node) -> InodeId {
        let id = tree.add(Inode {
            meta: meta(mode),
            node,
        });
        tree.link(dir, name, id);
        id
    }

    #[test]
    fn files_dirs_links_and_times_are_written_and_symlinks_never_followed() {
        let outside = tempfile::tempdir().unwrap();
        let mut tree = Tree::new();
        let root = tree.root();
        let etc = add(
            &mut tree,
            root,
            b"etc",
            0o755,
            Node::Dir(Default::default()),
        );
        let file = add(
            &mut tree,
            etc,
            b"passwd",
            0o640,
            Node::File(b"root".to_vec()),
        );
        tree.link(etc, b"hard", file);
        // A symlink pointing out of the image, and an entry "through" it cannot exist in a tree;
        // the symlink is created as is and nothing is written where it points.
        let escape = outside.path().join("victim");
        add(
            &mut tree,
            root,
            b"esc",
            0o777,
            Node::Symlink(escape.as_os_str().as_bytes().to_vec()),
        );
        add(
            &mut tree,
            root,
            b"null",
            0o666,
            Node::CharDevice { major: 1, minor: 3 },
        );
        let dest = tempfile::tempdir().unwrap();
        let report = unpack(&tree, dest.path()).unwrap();
        assert_eq!(report.entries, 4);
        assert_eq!(report.skipped, [("/null".to_string(), "chardev")]);
        let passwd = dest.path().join("etc/passwd");
        assert_eq!(std::fs::read(&passwd).unwrap(), b"root");
        let m = std::fs::metadata(&passwd).unwrap();
        assert_eq!(
            (m.mode() & 0o7777, m.mtime(), m.nlink()),
            (0o640, 1_700_000_000, 2)
        );
        let l = std::fs::symlink_metadata(dest.path().join("esc")).unwrap();
        assert!(l.file_type().is_symlink());
        assert_eq!(l.mtime(), 1_700_000_000);
        assert_eq!(
            std::fs::metadata(dest.path().join("etc")).unwrap().mtime(),
            1_700_000_000
        );
        assert!(!escape.exists());
    }

    #[test]
    fn an_existing_entry_is_an_error_not_overwritten() {
        let mut tree = Tree::new();
        let root = tree.root();
        add(&mut tree, root, b"f", 0o644, Node::File(b"new".to_vec()));
        let dest = tempfile::tempdir().unwrap();
        std::fs::write(dest.path().join("f"), b"old").unwrap();
        assert!(unpack(&tree, dest.path()).is_err());
        assert_eq!(std::fs::read(dest.path().join("f")).unwrap(), b"old");
    }
}

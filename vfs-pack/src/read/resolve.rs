//! Path resolution with Linux semantics and no allocation.
//!
//! Directories store their parent, so `..` is one lookup and a walk needs no stack of visited
//! directories. The only state that grows is the stack of path strings still to walk: following a
//! symlink in the middle of a path pushes its target above the rest of the path. Each follow costs
//! one of [`MAX_SYMLINKS`], so that stack has a fixed size, and each step consumes at least one byte
//! of one of its strings, so a resolution ends after at most the path's length plus
//! `MAX_SYMLINKS` targets' lengths steps, whatever cycles a corrupt image holds.

use super::{Image, InodeRef};
use crate::error::FsError;
use crate::format::Kind;

/// The most symlinks one resolution follows before failing with [`FsError::Loop`] (Linux's
/// `MAXSYMLINKS`).
pub const MAX_SYMLINKS: u32 = 40;
/// The longest file name a lookup accepts (Linux's `NAME_MAX`).
pub const NAME_MAX: usize = 255;
/// Paths of this many bytes or more fail with [`FsError::NameTooLong`] (Linux's `PATH_MAX`,
/// which counts the terminating NUL).
pub const PATH_MAX: usize = 4096;

const STACK: usize = MAX_SYMLINKS as usize + 1;

/// The path strings still to walk, innermost symlink target on top. Every string on the stack
/// holds at least one component.
struct Pending<'p> {
    paths: [&'p [u8]; STACK],
    len: usize,
}

/// Whether `path` names at least one component (anything but slashes).
fn has_components(path: &[u8]) -> bool {
    path.iter().any(|&b| b != b'/')
}

impl<'p> Pending<'p> {
    fn push(&mut self, path: &'p [u8]) -> Result<(), FsError> {
        if has_components(path) {
            *self.paths.get_mut(self.len).ok_or(FsError::Loop)? = path;
            self.len += 1;
        }
        Ok(())
    }

    /// The next component; strings are popped as soon as they have none left, so the stack is
    /// empty exactly when the component returned is the last of the whole resolution.
    fn next(&mut self) -> Option<&'p [u8]> {
        let top = self.paths.get_mut(self.len.checked_sub(1)?)?;
        let path = trim_slashes(top);
        let end = path.iter().position(|&b| b == b'/').unwrap_or(path.len());
        let (comp, rest) = path.split_at_checked(end)?;
        *top = rest;
        if !has_components(rest) {
            self.len -= 1;
        }
        Some(comp)
    }
}

/// `path` without its leading slashes.
fn trim_slashes(path: &[u8]) -> &[u8] {
    let start = path.iter().position(|&b| b != b'/').unwrap_or(path.len());
    path.get(start..).unwrap_or_default()
}

impl Image<'_> {
    /// Resolves `path` as Linux does: from the root if it is absolute, else from the directory
    /// `start`; `..` at the root stays at the root; a relative symlink target is resolved from the
    /// directory holding the link, an absolute one from the root; the last component is followed
    /// if it is a symlink only when `follow_last` (`stat` rather than `lstat`) or when the path
    /// ends in `/`, which also requires a directory.
    ///
    /// Errors: [`FsError::NotFound`] for a missing entry or an empty path or target,
    /// [`FsError::NotDir`] for a non-directory where a directory is needed,
    /// [`FsError::Loop`] after [`MAX_SYMLINKS`] symlinks, [`FsError::NameTooLong`] for a path of
    /// [`PATH_MAX`] bytes or a component over [`NAME_MAX`], and [`FsError::Corrupt`] where the
    /// image is malformed.
    pub fn resolve(
        &self,
        start: &InodeRef,
        path: &[u8],
        follow_last: bool,
    ) -> Result<InodeRef, FsError> {
        if path.is_empty() {
            return Err(FsError::NotFound);
        }
        if path.len() >= PATH_MAX {
            return Err(FsError::NameTooLong);
        }
        let mut cur = if path.starts_with(b"/") {
            self.root()
        } else {
            *start
        };
        let mut must_be_dir = path.ends_with(b"/");
        let mut budget = MAX_SYMLINKS;
        let mut pending = Pending {
            paths: [&[]; STACK],
            len: 0,
        };
        pending.push(path)?;
        while let Some(comp) = pending.next() {
            let last = pending.len == 0;
            match comp {
                b"." if cur.kind() != Kind::Dir => return Err(FsError::NotDir),
                b"." => {}
                b".." => cur = self.parent(&cur)?,
                name => {
                    let child = self.lookup(&cur, name)?;
                    if child.kind() != Kind::Symlink || (last && !follow_last && !must_be_dir) {
                        cur = child;
                        continue;
                    }
                    budget = budget.checked_sub(1).ok_or(FsError::Loop)?;
                    let target = self.readlink(&child)?;
                    if target.is_empty() {
                        return Err(FsError::NotFound);
                    }
                    if target.starts_with(b"/") {
                        cur = self.root();
                    }
                    if last && target.ends_with(b"/") {
                        must_be_dir = true;
                    }
                    pending.push(target)?;
                }
            }
        }
        if must_be_dir && cur.kind() != Kind::Dir {
            return Err(FsError::NotDir);
        }
        Ok(cur)
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use crate::tree::{Inode, Meta, Node, Tree};
    use std::vec::Vec;

    fn add(t: &mut Tree, path: &str, node: Node) {
        let (dir, name) = t
            .resolve_parent(path.as_bytes(), Some(Meta::root(0o755)), false)
            .unwrap();
        let id = t.add(Inode {
            meta: Meta::root(0o644),
            node,
        });
        t.link(dir, &name, id);
    }

    fn link(t: &mut Tree, path: &str, target: &str) {
        add(t, path, Node::Symlink(target.into()));
    }

    fn sample() -> Vec<u8> {
        let mut t = Tree::new();
        add(&mut t, "/etc/passwd", Node::File(b"root".to_vec()));
        add(&mut t, "/usr/lib/x", Node::File(Vec::new()));
        link(&mut t, "/lib", "usr/lib");
        link(&mut t, "/usr/lib/up", "../../etc");
        link(&mut t, "/abs", "/etc/passwd");
        link(&mut t, "/slash", "etc/passwd/");
        link(&mut t, "/empty", "");
        link(&mut t, "/loop", "loop");
        // A chain of exactly MAX_SYMLINKS links ending in /etc.
        for i in 0..MAX_SYMLINKS {
            let target = if i == 0 {
                "/etc".into()
            } else {
                std::format!("c{}", i - 1)
            };
            link(&mut t, &std::format!("/c{i}"), &target);
        }
        let mut out = Vec::new();
        crate::write(&t, &mut out).unwrap();
        out
    }

    #[test]
    fn resolves_like_linux() {
        let bytes = sample();
        let image = Image::parse(&bytes).unwrap();
        let root = image.root();
        let r = |path: &str, follow: bool| image.resolve(&root, path.as_bytes(), follow);
        let passwd = r("/etc/passwd", true).unwrap();
        assert_eq!(image.file_data(&passwd), b"root");
        assert_eq!(r("../../etc/./passwd", false), Ok(passwd));
        assert_eq!(r("lib/up/passwd", false), Ok(passwd));
        assert_eq!(r("lib/up/../lib/x", false), r("/usr/lib/x", false));
        assert_eq!(r("abs", true), Ok(passwd));
        assert_eq!(r("abs", false).unwrap().kind(), Kind::Symlink);
        assert_eq!(r("/", false), Ok(root));
        assert_eq!(r("..", false), Ok(root));
        let etc = r("etc", false).unwrap();
        assert_eq!(image.resolve(&etc, b"passwd", false), Ok(passwd));
        assert_eq!(image.resolve(&etc, b"../etc/passwd", false), Ok(passwd));
        assert_eq!(image.resolve(&passwd, b"x", false), Err(FsError::NotDir));
        assert_eq!(
            r(&std::format!("c{}/passwd", MAX_SYMLINKS - 1), true),
            Ok(passwd)
        );
    }

    #[test]
    fn fails_like_linux() {
        let bytes = sample();
        let image = Image::parse(&bytes).unwrap();
        let root = image.root();
        let r = |path: &[u8], follow: bool| image.resolve(&root, path, follow);
        assert_eq!(r(b"", true), Err(FsError::NotFound));
        assert_eq!(r(b"/nope", true), Err(FsError::NotFound));
        assert_eq!(r(b"/etc/passwd/x", true), Err(FsError::NotDir));
        assert_eq!(r(b"/etc/passwd/", false), Err(FsError::NotDir));
        assert_eq!(r(b"/etc/passwd/.", false), Err(FsError::NotDir));
        assert_eq!(r(b"/etc/passwd/..", false), Err(FsError::NotDir));
        assert_eq!(r(b"slash", true), Err(FsError::NotDir));
        assert_eq!(r(b"slash", false).map(|i| i.kind()), Ok(Kind::Symlink));
        assert_eq!(r(b"empty", true), Err(FsError::NotFound));
        assert_eq!(r(b"loop", true), Err(FsError::Loop));
        assert_eq!(r(b"loop", false).map(|i| i.kind()), Ok(Kind::Symlink));
        assert_eq!(r(b"loop/", false), Err(FsError::Loop));
        // The chain c39 -> ... -> c0 -> /etc is exactly the budget; /usr/lib/up is one more.
        let over = std::format!("/usr/lib/up/../c{}/passwd", MAX_SYMLINKS - 1);
        assert_eq!(r(over.as_bytes(), true), Err(FsError::Loop));
        assert_eq!(r(&[b'a'; PATH_MAX], true), Err(FsError::NameTooLong));
        assert_eq!(r(&[b'a'; NAME_MAX + 1], true), Err(FsError::NameTooLong));
    }
}

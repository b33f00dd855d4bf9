//! The in-memory filesystem tree: what image layers are applied into, what `dir:` sources are read
//! into, and what [`crate::write`] packs.
//!
//! Inodes live in one arena and directories map names to inode ids, so hard links are two directory
//! entries naming the same id. Names are bytes (Linux file names need not be UTF-8). Path resolution
//! is always scoped to the tree's root, like `chroot`: `..` at the root stays at the root and an
//! absolute symlink target starts again from the root, so no path can leave the tree.

use std::boxed::Box;
use std::collections::BTreeMap;
use std::string::String;
use std::vec;
use std::vec::Vec;

/// A file name inside a directory: any bytes except `/` and NUL, never `.` or `..`.
pub type Name = Box<[u8]>;

/// The most symlinks one resolution follows before failing with [`ResolveError::Loop`] (Linux's
/// `MAXSYMLINKS`).
pub const MAX_SYMLINKS: u32 = 40;

/// Index of an inode in a [`Tree`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InodeId(u32);

impl InodeId {
    /// The arena index.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Ownership, permissions and time of an inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Meta {
    /// Permission bits plus setuid, setgid and sticky (`0o7777`); the file type is in [`Node`].
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Modification time, seconds since the Unix epoch.
    pub mtime: i64,
}

impl Meta {
    /// `root:root`, the given mode, time 0.
    pub fn root(mode: u32) -> Meta {
        Meta {
            mode,
            uid: 0,
            gid: 0,
            mtime: 0,
        }
    }
}

/// What an inode is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    Dir(BTreeMap<Name, InodeId>),
    File(Vec<u8>),
    /// The link target exactly as stored; never followed while building the tree.
    Symlink(Vec<u8>),
    CharDevice {
        major: u32,
        minor: u32,
    },
    BlockDevice {
        major: u32,
        minor: u32,
    },
    Fifo,
    Socket,
}

impl Node {
    /// A one-word name of the kind, for listings.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Node::Dir(_) => "dir",
            Node::File(_) => "file",
            Node::Symlink(_) => "symlink",
            Node::CharDevice { .. } => "chardev",
            Node::BlockDevice { .. } => "blockdev",
            Node::Fifo => "fifo",
            Node::Socket => "socket",
        }
    }
}

/// One inode: metadata and content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inode {
    pub meta: Meta,
    pub node: Node,
}

/// Why a path did not resolve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResolveError {
    /// A component does not exist (ENOENT).
    NotFound,
    /// A component other than the last is not a directory (ENOTDIR).
    NotDir,
    /// More than [`MAX_SYMLINKS`] symlinks were followed (ELOOP).
    Loop,
    /// The path has no final component to create (it is `/` or ends in `..`).
    NoName,
    /// In a strict resolution, `..` was applied at the root: the path (or a symlink it went
    /// through) points outside the tree.
    Escapes,
}

impl core::fmt::Display for ResolveError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            ResolveError::NotFound => "no such file or directory",
            ResolveError::NotDir => "not a directory",
            ResolveError::Loop => "too many levels of symbolic links",
            ResolveError::NoName => "path names no entry",
            ResolveError::Escapes => "path leaves the root",
        })
    }
}

impl std::error::Error for ResolveError {}

/// A filesystem tree rooted at inode 0, which is always a directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tree {
    inodes: Vec<Inode>,
}

impl Default for Tree {
    fn default() -> Self {
        Tree::new()
    }
}

/// State of one path resolution.
struct Walk {
    /// Symlinks that may still be followed.
    budget: u32,
    /// Fail on `..` at the root instead of staying there.
    strict: bool,
}

/// Splits a path into its components, dropping empty ones and `.`.
fn components(path: &[u8]) -> impl DoubleEndedIterator<Item = &[u8]> {
    path.split(|&b| b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
}

impl Tree {
    /// A tree holding only `/` (mode 0755, `root:root`, time 0).
    pub fn new() -> Tree {
        Tree {
            inodes: vec![Inode {
                meta: Meta::root(0o755),
                node: Node::Dir(BTreeMap::new()),
            }],
        }
    }

    /// The root directory.
    pub fn root(&self) -> InodeId {
        InodeId(0)
    }

    /// Adds an inode that no directory names yet; [`Tree::link`] gives it a name.
    pub fn add(&mut self, inode: Inode) -> InodeId {
        let id = u32::try_from(self.inodes.len()).expect("more than 2^32 inodes");
        self.inodes.push(inode);
        InodeId(id)
    }

    pub fn get(&self, id: InodeId) -> &Inode {
        &self.inodes[id.index()]
    }

    pub fn get_mut(&mut self, id: InodeId) -> &mut Inode {
        &mut self.inodes[id.index()]
    }

    /// The entries of a directory, or `None` if `id` is not one.
    pub fn entries(&self, id: InodeId) -> Option<&BTreeMap<Name, InodeId>> {
        match &self.get(id).node {
            Node::Dir(entries) => Some(entries),
            _ => None,
        }
    }

    /// Names `child` as `name` in directory `dir`, replacing any entry of that name, and returns the
    /// replaced inode. Panics if `dir` is not a directory or `name` is not a valid [`Name`].
    pub fn link(&mut self, dir: InodeId, name: &[u8], child: InodeId) -> Option<InodeId> {
        assert!(
            valid_name(name),
            "invalid file name {:?}",
            String::from_utf8_lossy(name)
        );
        match &mut self.get_mut(dir).node {
            Node::Dir(entries) => entries.insert(name.into(), child),
            _ => panic!("link into a non-directory"),
        }
    }

    /// Removes the entry `name` from directory `dir`, returning the inode it named. The inode stays in
    /// the arena; unreachable inodes are never listed or packed.
    pub fn unlink(&mut self, dir: InodeId, name: &[u8]) -> Option<InodeId> {
        match &mut self.get_mut(dir).node {
            Node::Dir(entries) => entries.remove(name),
            _ => None,
        }
    }

    /// Resolves `path` from the root, following symlinks in every component (and in the last one too
    /// when `follow_last`), scoped to the root.
    pub fn resolve(&self, path: &[u8], follow_last: bool) -> Result<InodeId, ResolveError> {
        let mut walk = Walk {
            budget: MAX_SYMLINKS,
            strict: false,
        };
        let mut stack = vec![self.root()];
        self.walk_path(&mut stack, path, follow_last, &mut walk)?;
        Ok(*stack.last().expect("stack holds the root"))
    }

    /// Resolves every component of `path` but the last (following symlinks, scoped to the root) and
    /// returns the parent directory with the last component's name. With `create_dirs`, missing
    /// intermediate directories are created with that metadata, as `mkdir -p` would. With `strict`,
    /// a `..` at the root, in `path` or in a symlink it goes through, fails with
    /// [`ResolveError::Escapes`] instead of staying at the root (image layers use this; the runtime
    /// follows Linux and stays at the root).
    pub fn resolve_parent(
        &mut self,
        path: &[u8],
        create_dirs: Option<Meta>,
        strict: bool,
    ) -> Result<(InodeId, Name), ResolveError> {
        let mut comps: Vec<&[u8]> = components(path).collect();
        let last = comps.pop().ok_or(ResolveError::NoName)?;
        if last == b".." {
            return Err(ResolveError::NoName);
        }
        let mut walk = Walk {
            budget: MAX_SYMLINKS,
            strict,
        };
        let mut stack = vec![self.root()];
        for comp in comps {
            let dir = *stack.last().expect("stack holds the root");
            // Only a component missing from the directory itself is created: a dangling symlink
            // is an error, never replaced or created through.
            let missing = comp != b".." && self.entries(dir).is_some_and(|e| !e.contains_key(comp));
            match create_dirs {
                Some(meta) if missing => {
                    let new = self.add(Inode {
                        meta,
                        node: Node::Dir(BTreeMap::new()),
                    });
                    self.link(dir, comp, new);
                    stack.push(new);
                }
                _ => self.step(&mut stack, comp, true, &mut walk)?,
            }
        }
        let parent = *stack.last().expect("stack holds the root");
        if self.entries(parent).is_none() {
            return Err(ResolveError::NotDir);
        }
        Ok((parent, last.into()))
    }

    /// Walks `path` from the directory on top of `stack`; `stack` is the chain of directories from
    /// the root, so `..` pops it (never below the root).
    fn walk_path(
        &self,
        stack: &mut Vec<InodeId>,
        path: &[u8],
        follow_last: bool,
        walk: &mut Walk,
    ) -> Result<(), ResolveError> {
        if path.starts_with(b"/") {
            stack.truncate(1);
        }
        let mut comps = components(path).peekable();
        while let Some(comp) = comps.next() {
            let is_last = comps.peek().is_none();
            self.step(stack, comp, !is_last || follow_last, walk)?;
        }
        Ok(())
    }

    /// Moves one component from the directory on top of `stack`.
    fn step(
        &self,
        stack: &mut Vec<InodeId>,
        comp: &[u8],
        follow: bool,
        walk: &mut Walk,
    ) -> Result<(), ResolveError> {
        let dir = *stack.last().expect("stack holds the root");
        let entries = self.entries(dir).ok_or(ResolveError::NotDir)?;
        if comp == b".." {
            if stack.len() > 1 {
                stack.pop();
            } else if walk.strict {
                return Err(ResolveError::Escapes);
            }
            return Ok(());
        }
        let child = *entries.get(comp).ok_or(ResolveError::NotFound)?;
        match &self.get(child).node {
            Node::Symlink(target) if follow => {
                walk.budget = walk.budget.checked_sub(1).ok_or(ResolveError::Loop)?;
                self.walk_path(stack, target, true, walk)
            }
            _ => {
                stack.push(child);
                Ok(())
            }
        }
    }

    /// Every reachable inode with its absolute path (`/` for the root), depth-first with the entries
    /// of each directory in byte order. A hard-linked inode appears once per name.
    pub fn walk(&self) -> Vec<(Vec<u8>, InodeId)> {
        let mut out = Vec::new();
        let mut pending = vec![(b"/".to_vec(), self.root())];
        while let Some((path, id)) = pending.pop() {
            if let Some(entries) = self.entries(id) {
                for (name, &child) in entries.iter().rev() {
                    let mut child_path = path.clone();
                    if child_path.len() > 1 {
                        child_path.push(b'/');
                    }
                    child_path.extend_from_slice(name);
                    pending.push((child_path, child));
                }
            }
            out.push((path, id));
        }
        out
    }

    /// How many distinct inodes are reachable and how many bytes their regular files hold.
    pub fn usage(&self) -> (u64, u64) {
        let mut seen = vec![false; self.inodes.len()];
        let (mut count, mut bytes) = (0u64, 0u64);
        for (_, id) in self.walk() {
            if !std::mem::replace(&mut seen[id.index()], true) {
                count += 1;
                if let Node::File(data) = &self.get(id).node {
                    bytes += data.len() as u64;
                }
            }
        }
        (count, bytes)
    }
}

/// Whether `name` can be a directory entry (shared with the reader, which checks stored names).
pub use crate::format::valid_name;

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;

    fn file(tree: &mut Tree, path: &str, data: &[u8]) -> InodeId {
        let (dir, name) = tree
            .resolve_parent(path.as_bytes(), Some(Meta::root(0o755)), false)
            .unwrap();
        let id = tree.add(Inode {
            meta: Meta::root(0o644),
            node: Node::File(data.to_vec()),
        });
        tree.link(dir, &name, id);
        id
    }

    fn symlink(tree: &mut Tree, path: &str, target: &str) {
        let (dir, name) = tree
            .resolve_parent(path.as_bytes(), Some(Meta::root(0o755)), false)
            .unwrap();
        let id = tree.add(Inode {
            meta: Meta::root(0o777),
            node: Node::Symlink(target.as_bytes().to_vec()),
        });
        tree.link(dir, &name, id);
    }

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let mut t = Tree::new();
        let passwd = file(&mut t, "/etc/passwd", b"root");
        symlink(&mut t, "/a", "../../../../etc");
        symlink(&mut t, "/b", "/etc/passwd");
        assert_eq!(t.resolve(b"/a/passwd", true), Ok(passwd));
        assert_eq!(t.resolve(b"b", true), Ok(passwd));
        assert_ne!(t.resolve(b"b", false), Ok(passwd));
        assert_eq!(t.resolve(b"/../../etc/./passwd", true), Ok(passwd));
        // Creating through the symlink lands inside the tree.
        let (dir, name) = t.resolve_parent(b"a/shadow", None, false).unwrap();
        assert_eq!(t.resolve(b"/etc", true), Ok(dir));
        assert_eq!(&*name, b"shadow");
        assert_eq!(t.resolve(b"/b/..", true), Err(ResolveError::NotDir));
        // Strict resolution refuses what would leave the root, and only that.
        assert_eq!(
            t.resolve_parent(b"a/shadow", None, true),
            Err(ResolveError::Escapes)
        );
        assert_eq!(
            t.resolve_parent(b"../../etc/passwd", None, true),
            Err(ResolveError::Escapes)
        );
        symlink(&mut t, "/c", "/etc");
        assert_eq!(t.resolve_parent(b"c/shadow", None, true), Ok((dir, name)));
    }

    #[test]
    fn loops_and_missing_components_fail() {
        let mut t = Tree::new();
        symlink(&mut t, "/x", "y");
        symlink(&mut t, "/y", "x");
        assert_eq!(t.resolve(b"/x", true), Err(ResolveError::Loop));
        assert_eq!(t.resolve(b"/nope/x", true), Err(ResolveError::NotFound));
        file(&mut t, "/f", b"");
        assert_eq!(t.resolve(b"/f/x", true), Err(ResolveError::NotDir));
        assert_eq!(
            t.resolve_parent(b"/", None, false),
            Err(ResolveError::NoName)
        );
    }

    #[test]
    fn creating_parents_never_goes_through_a_dangling_symlink() {
        let mut t = Tree::new();
        symlink(&mut t, "/dangling", "/nowhere");
        symlink(&mut t, "/rel", "sub/missing");
        let create = Some(Meta::root(0o755));
        let err = Err(ResolveError::NotFound);
        assert_eq!(t.resolve_parent(b"/dangling/x", create, false), err);
        assert_eq!(t.resolve_parent(b"/rel/x", create, false), err);
        assert_eq!(t.resolve(b"/nowhere", true), Err(ResolveError::NotFound));
        assert_eq!(t.resolve(b"/sub", true), Err(ResolveError::NotFound));
        let dangling = t.resolve(b"/dangling", false).unwrap();
        assert!(matches!(t.get(dangling).node, Node::Symlink(_)));
        // A missing directory itself is created.
        let (dir, name) = t.resolve_parent(b"/a/b/c", create, false).unwrap();
        assert_eq!(t.resolve(b"/a/b", true), Ok(dir));
        assert_eq!(&*name, b"c");
    }

    #[test]
    fn hard_links_share_an_inode_and_count_once() {
        let mut t = Tree::new();
        let id = file(&mut t, "/bin/busybox", b"0123456789");
        let (bin, _) = t.resolve_parent(b"/bin/sh", None, false).unwrap();
        t.link(bin, b"sh", id);
        assert_eq!(t.resolve(b"/bin/sh", true), Ok(id));
        assert_eq!(t.usage(), (3, 10));
        let paths: Vec<_> = t
            .walk()
            .into_iter()
            .map(|(p, _)| String::from_utf8(p).unwrap())
            .collect();
        assert_eq!(paths, ["/", "/bin", "/bin/busybox", "/bin/sh"]);
    }
}

//! Applying one layer's entries to the tree, with Docker's and containerd's semantics.
//!
//! - Parents resolve through symlinks, scoped to the image root and strictly: a symlink (or `..`)
//!   that would leave the root makes the entry an [`ErrorKind::UnsafeEntry`]. Missing parents are
//!   created `0755 root:root`, time 0.
//! - A directory entry over a directory updates its metadata and keeps its children; any other
//!   entry replaces what was there (a directory with everything in it). The last component is
//!   never followed, so a directory entry replaces a symlink to a directory.
//! - Hard links name the inode of an earlier entry; their header's owner (and, unless the target
//!   is a symlink, mode and time) are applied to it, as Docker's `lchown`/`chmod`/`chtimes` do.
//! - Whiteouts (`.wh.NAME`) and opaque markers (`.wh..wh..opq`) remove what the *lower* layers put
//!   there, never what this layer wrote (see `whiteout.rs`).

use std::collections::{BTreeMap, HashMap};

use vfs_pack::tree::{Inode, InodeId, Meta, Name, Node, ResolveError, Tree, valid_name};

use super::LayerStats;
use super::entry::{Entry, Kind};
use super::path::{self, AUFS_LINK_DIR};
use super::whiteout::Written;
use crate::{Error, ErrorKind, Result};

/// The state of one layer being applied.
#[derive(Debug)]
pub(super) struct Applier<'t> {
    tree: &'t mut Tree,
    written: Written,
    /// Files from AUFS's `/.wh..wh.plnk`, by base name, not linked anywhere yet.
    aufs_links: HashMap<Name, InodeId>,
    pub stats: LayerStats,
}

/// A failed resolution of an entry's path (shown as `path`) as an error.
fn resolve_error(err: ResolveError, path: &str) -> Error {
    match err {
        ResolveError::Escapes => Error::new(
            ErrorKind::UnsafeEntry,
            format!("layer entry {path} leaves the image root through a symlink"),
        ),
        other => Error::new(ErrorKind::Layer, format!("layer entry {path}")).with_source(other),
    }
}

impl<'t> Applier<'t> {
    pub(super) fn new(tree: &'t mut Tree) -> Self {
        Applier {
            tree,
            written: Written::default(),
            aufs_links: HashMap::new(),
            stats: LayerStats::default(),
        }
    }

    fn lookup(&self, dir: InodeId, name: &[u8]) -> Option<InodeId> {
        self.tree
            .entries(dir)
            .and_then(|entries| entries.get(name))
            .copied()
    }

    fn add(&mut self, meta: Meta, node: Node) -> InodeId {
        self.tree.add(Inode { meta, node })
    }

    /// The directory that holds the last of `comps` (a cleaned path, shown as `path`), creating
    /// missing directories on the way.
    fn parent(&mut self, comps: &[&[u8]], path: &str) -> Result<InodeId> {
        let full = comps.join(&b'/');
        let resolved = match self.tree.resolve_parent(&full, None, true) {
            Err(ResolveError::NotFound) => {
                // Create each missing directory in turn. (A component that exists but does not
                // resolve, a dangling symlink, stays an error, as Docker's `MkdirAll` fails.)
                for end in 1..comps.len() {
                    let prefix = comps[..end].join(&b'/');
                    let (dir, name) = self
                        .tree
                        .resolve_parent(&prefix, None, true)
                        .map_err(|e| resolve_error(e, path))?;
                    if self.lookup(dir, &name).is_none() {
                        let new = self.add(Meta::root(0o755), Node::Dir(BTreeMap::new()));
                        self.tree.link(dir, &name, new);
                    }
                }
                self.tree.resolve_parent(&full, None, true)
            }
            other => other,
        };
        resolved
            .map(|(dir, _)| dir)
            .map_err(|e| resolve_error(e, path))
    }

    /// Applies an ordinary entry at `comps` (a cleaned path, non-empty, shown as `path`).
    pub(super) fn entry(&mut self, comps: &[&[u8]], path: &str, entry: Entry) -> Result<()> {
        let dir = self.parent(comps, path)?;
        let name = *comps.last().expect("an entry path has a last component");
        let existing = self.lookup(dir, name);
        let id = match entry.kind {
            Kind::Dir => match existing {
                Some(id) if matches!(self.tree.get(id).node, Node::Dir(_)) => {
                    self.tree.get_mut(id).meta = entry.meta;
                    id
                }
                _ => self.add(entry.meta, Node::Dir(BTreeMap::new())),
            },
            Kind::HardLink(target) => {
                // Docker removes the path first, so a link to itself finds nothing.
                self.tree.unlink(dir, name);
                self.hard_link_target(&target, path, entry.meta)?
            }
            Kind::File(data) => {
                self.stats.bytes += data.len() as u64;
                self.add(entry.meta, Node::File(data))
            }
            Kind::Symlink(target) => self.add(entry.meta, Node::Symlink(target)),
            Kind::CharDevice { major, minor } => {
                self.add(entry.meta, Node::CharDevice { major, minor })
            }
            Kind::BlockDevice { major, minor } => {
                self.add(entry.meta, Node::BlockDevice { major, minor })
            }
            Kind::Fifo => self.add(entry.meta, Node::Fifo),
        };
        self.tree.link(dir, name, id);
        self.written.insert(dir, name);
        self.stats.entries += 1;
        Ok(())
    }

    /// The inode a hard link to `target` names, with the link's metadata applied to it.
    fn hard_link_target(&mut self, target: &[u8], path: &str, meta: Meta) -> Result<InodeId> {
        let shown = String::from_utf8_lossy(target);
        let fail = |kind, what: &str| {
            Error::new(
                kind,
                format!("layer entry {path}: hard link target {shown} {what}"),
            )
        };
        let comps = path::clean(target).map_err(|e| match e {
            path::PathError::Escapes => fail(ErrorKind::UnsafeEntry, "leaves the image root"),
            path::PathError::Nul => fail(ErrorKind::Layer, "holds a NUL byte"),
        })?;
        if let [AUFS_LINK_DIR, base] = comps[..] {
            // Docker re-targets these to the file kept aside, with that file's metadata.
            return self
                .aufs_links
                .get(base)
                .copied()
                .ok_or_else(|| fail(ErrorKind::Layer, "was never stored"));
        }
        let (dir, name) = match self.tree.resolve_parent(&comps.join(&b'/'), None, true) {
            Ok(found) => found,
            Err(ResolveError::Escapes) => {
                return Err(fail(ErrorKind::UnsafeEntry, "leaves the image root"));
            }
            Err(ResolveError::NoName) => return Err(fail(ErrorKind::Layer, "is the image root")),
            Err(ResolveError::NotFound) => return Err(fail(ErrorKind::Layer, "does not exist")),
            Err(other) => {
                return Err(fail(ErrorKind::Layer, "does not resolve").with_source(other));
            }
        };
        let id = self
            .lookup(dir, &name)
            .ok_or_else(|| fail(ErrorKind::Layer, "does not exist"))?;
        let inode = self.tree.get_mut(id);
        match inode.node {
            Node::Dir(_) => return Err(fail(ErrorKind::Layer, "is a directory")),
            Node::Symlink(_) => (inode.meta.uid, inode.meta.gid) = (meta.uid, meta.gid),
            _ => inode.meta = meta,
        }
        Ok(id)
    }

    /// Applies a directory entry for the image root itself: Docker updates the root's metadata.
    pub(super) fn root(&mut self, path: &str, entry: Entry) -> Result<()> {
        if entry.kind != Kind::Dir {
            let msg = format!("layer entry {path} names the image root but is not a directory");
            return Err(Error::new(ErrorKind::UnsafeEntry, msg));
        }
        let root = self.tree.root();
        self.tree.get_mut(root).meta = entry.meta;
        self.stats.entries += 1;
        Ok(())
    }

    /// Keeps an AUFS hard link file aside (only regular files are; anything else there is skipped).
    /// It is counted as skipped: it is in the image only through the links.
    pub(super) fn aufs_link(&mut self, base: &[u8], entry: Entry) {
        if let Kind::File(data) = entry.kind {
            let id = self.add(entry.meta, Node::File(data));
            self.aufs_links.insert(base.into(), id);
        }
        self.stats.skipped += 1;
    }

    /// `DIR/.wh.NAME` (`comps` ends with the whiteout's own name): removes what lower layers put at
    /// `DIR/NAME`.
    pub(super) fn whiteout(&mut self, comps: &[&[u8]], name: &[u8], path: &str) -> Result<()> {
        if !valid_name(name) {
            let msg = format!("layer entry {path} is a whiteout that names no entry");
            return Err(Error::new(ErrorKind::Layer, msg));
        }
        let dir = self.parent(comps, path)?;
        self.written.remove_lower(self.tree, dir, vec![name.into()]);
        self.stats.whiteouts += 1;
        Ok(())
    }

    /// `DIR/.wh..wh..opq` (`comps` ends with the marker): removes from `DIR` what lower layers put
    /// there.
    pub(super) fn opaque(&mut self, comps: &[&[u8]], path: &str) -> Result<()> {
        let dir = self.parent(comps, path)?;
        let names = self
            .tree
            .entries(dir)
            .map(|e| e.keys().cloned().collect())
            .unwrap_or_default();
        self.written.remove_lower(self.tree, dir, names);
        self.stats.whiteouts += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_tar::{
        LayerBuilder, apply, build, contents, dir_meta, file_meta, inode, listing, meta,
    };
    use super::*;

    /// The error applying `layer` on top of `lower` gives.
    fn error(lower: &[Vec<u8>], layer: Vec<u8>) -> Error {
        apply(&mut build(lower), &layer).unwrap_err()
    }

    #[test]
    fn entries_replace_what_was_there_but_directories_merge() {
        let lower = LayerBuilder::new()
            .file("a/child", b"", file_meta())
            .file("b", b"", file_meta())
            .dir("c", meta(0o700, 5, 5, 5))
            .file("c/keep", b"", file_meta())
            .symlink("s", "c", meta(0o777, 0, 0, 1))
            .tar();
        let upper = LayerBuilder::new()
            .file("a", b"now a file", file_meta())
            .dir("b", dir_meta())
            .dir("c", meta(0o755, 0, 0, 9))
            .dir("s", dir_meta())
            .tar();
        let tree = build(&[lower, upper]);
        assert_eq!(listing(&tree), ["/", "/a", "/b", "/c", "/c/keep", "/s"]);
        assert_eq!(contents(&tree, "a"), b"now a file");
        assert_eq!(inode(&tree, "c").meta, meta(0o755, 0, 0, 9));
        assert!(matches!(inode(&tree, "s").node, Node::Dir(_)));
    }

    #[test]
    fn parents_follow_symlinks_inside_the_root() {
        let lower = LayerBuilder::new()
            .dir("usr/bin", dir_meta())
            .dir("usr/lib", dir_meta())
            .symlink("bin", "usr/bin", meta(0o777, 0, 0, 1))
            .symlink("lib", "/usr/lib", meta(0o777, 0, 0, 1))
            .symlink("usr/sbin", "../usr/bin", meta(0o777, 0, 0, 1))
            .tar();
        let upper = LayerBuilder::new()
            .file("bin/foo", b"", file_meta())
            .file("lib/libc.so", b"", file_meta())
            .file("usr/sbin/tool", b"", file_meta())
            .raw(b"/abs/file", b'0', b"", file_meta())
            .tar();
        let tree = build(&[lower, upper]);
        for path in [
            "/usr/bin/foo",
            "/usr/lib/libc.so",
            "/usr/bin/tool",
            "/abs/file",
        ] {
            assert!(
                listing(&tree).contains(&path.to_string()),
                "{path} in {:?}",
                listing(&tree)
            );
        }
        assert!(matches!(inode(&tree, "bin").node, Node::Symlink(_)));
    }

    #[test]
    fn missing_parents_are_created_plain() {
        let tree = build(&[LayerBuilder::new().file("a/b/c", b"", file_meta()).tar()]);
        for dir in ["a", "a/b"] {
            let created = inode(&tree, dir);
            assert!(matches!(created.node, Node::Dir(_)), "{dir}");
            assert_eq!(created.meta, Meta::root(0o755));
        }
    }

    #[test]
    fn dotdot_escapes_are_refused() {
        for name in [
            &b"../../etc/passwd"[..],
            b"/../etc/passwd",
            b"a/../../passwd",
        ] {
            let err = error(
                &[],
                LayerBuilder::new()
                    .raw(name, b'0', b"root", file_meta())
                    .tar(),
            );
            assert_eq!(err.kind(), ErrorKind::UnsafeEntry);
            let name = String::from_utf8_lossy(name);
            assert_eq!(
                err.to_string(),
                format!("layer entry {name} leaves the image root")
            );
        }
        let tree = build(&[LayerBuilder::new()
            .raw(b"a/../b", b'0', b"", file_meta())
            .tar()]);
        assert_eq!(listing(&tree), ["/", "/b"]);
    }

    #[test]
    fn escaping_symlinks_are_refused_as_parents_and_link_targets() {
        let evil = LayerBuilder::new()
            .symlink("evil", "../../../../../etc", meta(0o777, 0, 0, 1))
            .tar();
        let tree = build(std::slice::from_ref(&evil));
        assert_eq!(
            inode(&tree, "evil").node,
            Node::Symlink(b"../../../../../etc".to_vec())
        );
        let layers = [
            LayerBuilder::new()
                .file("evil/passwd", b"", file_meta())
                .tar(),
            LayerBuilder::new()
                .hardlink("x", "evil/passwd", file_meta())
                .tar(),
            LayerBuilder::new()
                .raw_link(b"x", b'1', b"../etc/passwd", b"", file_meta())
                .tar(),
            LayerBuilder::new().whiteout("evil/.wh.passwd").tar(),
        ];
        for layer in layers {
            let err = error(std::slice::from_ref(&evil), layer);
            assert_eq!(err.kind(), ErrorKind::UnsafeEntry, "{err}");
            assert!(err.to_string().contains("leaves the image root"), "{err}");
        }
    }

    #[test]
    fn hard_links_share_the_target_inode() {
        let lower = LayerBuilder::new()
            .file("bin/busybox", b"elf", meta(0o755, 1, 1, 1))
            .symlink("bin/link", "busybox", meta(0o777, 1, 1, 1))
            .symlink("b", "bin", meta(0o777, 0, 0, 1))
            .tar();
        let upper = LayerBuilder::new()
            .hardlink("bin/sh", "bin/busybox", meta(0o4755, 0, 0, 7))
            .hardlink("ls", "/b/busybox", meta(0o4755, 0, 0, 7))
            .hardlink("link2", "bin/link", meta(0o644, 3, 3, 7))
            .tar();
        let tree = build(&[lower, upper]);
        let id = |p: &str| tree.resolve(p.as_bytes(), false).unwrap();
        assert_eq!(id("bin/sh"), id("bin/busybox"));
        assert_eq!(id("ls"), id("bin/busybox"));
        assert_eq!(inode(&tree, "bin/busybox").meta, meta(0o4755, 0, 0, 7));
        assert_eq!(id("link2"), id("bin/link"));
        assert_eq!(inode(&tree, "link2").meta, meta(0o777, 3, 3, 1));
    }

    #[test]
    fn hard_links_need_an_existing_non_directory_target() {
        let lower = [LayerBuilder::new().file("d/f", b"", file_meta()).tar()];
        let cases = [
            (
                LayerBuilder::new().hardlink("x", "missing", file_meta()),
                "does not exist",
            ),
            (
                LayerBuilder::new().hardlink("x", "nodir/missing", file_meta()),
                "does not exist",
            ),
            (
                LayerBuilder::new().hardlink("x", "d", file_meta()),
                "is a directory",
            ),
            (
                LayerBuilder::new().hardlink("x", "d/f/g", file_meta()),
                "does not resolve: not a directory",
            ),
            (
                LayerBuilder::new().hardlink("d/f", "d/f", file_meta()),
                "does not exist",
            ),
            (
                LayerBuilder::new().raw_link(b"x", b'1', b"./", b"", file_meta()),
                "is the image root",
            ),
            (
                LayerBuilder::new().raw_link(b"x", b'1', b".wh..wh.plnk/1", b"", file_meta()),
                "never stored",
            ),
        ];
        for (layer, expected) in cases {
            let err = error(&lower, layer.tar());
            assert_eq!(err.kind(), ErrorKind::Layer, "{err}");
            assert!(err.to_string().contains(expected), "{err}");
        }
    }

    #[test]
    fn aufs_hard_link_directory_feeds_links_and_is_not_in_the_image() {
        let layer = LayerBuilder::new()
            .dir(".wh..wh.plnk", dir_meta())
            .file(".wh..wh.plnk/123.4", b"shared", meta(0o750, 2, 2, 2))
            .hardlink("a", "/.wh..wh.plnk/123.4", file_meta())
            .hardlink("b", ".wh..wh.plnk/123.4", file_meta())
            .tar();
        let mut tree = Tree::new();
        let stats = apply(&mut tree, &layer).unwrap();
        assert_eq!((stats.entries, stats.skipped), (2, 2));
        assert_eq!(listing(&tree), ["/", "/a", "/b"]);
        assert_eq!(tree.resolve(b"a", false), tree.resolve(b"b", false));
        assert_eq!(inode(&tree, "a").meta, meta(0o750, 2, 2, 2));
        assert_eq!(contents(&tree, "a"), b"shared");
    }

    #[test]
    fn dangling_symlink_parents_are_errors_and_stay_symlinks() {
        let lower = LayerBuilder::new()
            .dir("b", dir_meta())
            .symlink("rel", "b/missing", meta(0o777, 0, 0, 1))
            .symlink("abs", "/nowhere", meta(0o777, 0, 0, 1))
            .tar();
        for path in ["rel/x", "abs/x"] {
            let mut tree = build(std::slice::from_ref(&lower));
            let err = apply(
                &mut tree,
                &LayerBuilder::new().file(path, b"", file_meta()).tar(),
            )
            .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Layer);
            assert!(err.to_string().contains("no such file"), "{err}");
            assert_eq!(listing(&tree), ["/", "/abs", "/b", "/rel"]);
        }
    }

    #[test]
    fn the_root_entry_sets_root_metadata_and_must_be_a_directory() {
        let tree = build(&[LayerBuilder::new()
            .raw(b"./", b'5', b"", meta(0o750, 0, 0, 3))
            .tar()]);
        assert_eq!(tree.get(tree.root()).meta, meta(0o750, 0, 0, 3));
        let err = error(
            &[],
            LayerBuilder::new().raw(b"/", b'0', b"", file_meta()).tar(),
        );
        assert_eq!(err.kind(), ErrorKind::UnsafeEntry);
    }

    #[test]
    fn malformed_names_and_links_are_errors() {
        let cases = [
            (
                LayerBuilder::new().whiteout("a/.wh."),
                "whiteout that names no entry",
            ),
            (
                LayerBuilder::new().raw_link(b"s", b'2', b"", b"", file_meta()),
                "without a valid target",
            ),
            (
                LayerBuilder::new()
                    .pax(&[("linkpath", "a\0b")])
                    .symlink("s", "x", file_meta()),
                "without a valid target",
            ),
            (
                LayerBuilder::new()
                    .pax(&[("path", "a\0b")])
                    .file("f", b"", file_meta()),
                "holds a NUL byte",
            ),
            (
                LayerBuilder::new()
                    .file("f", b"", file_meta())
                    .file("f/g", b"", file_meta()),
                "not a directory",
            ),
        ];
        for (layer, expected) in cases {
            let err = error(&[], layer.tar());
            assert_eq!(err.kind(), ErrorKind::Layer, "{err}");
            assert!(err.to_string().contains(expected), "{err}");
        }
    }
}

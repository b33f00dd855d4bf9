//! Whiteouts and opaque directories: removing what the lower layers put at a path while keeping
//! what the current layer wrote there.
//!
//! The OCI image spec applies `.wh.NAME` and `.wh..wh..opq` to the lower layers only, and lets the
//! marker sit anywhere in the layer's tar, before or after the layer's own entries in that
//! directory. So the layer records every name it writes, and a removal spares those and the
//! directories leading to them. A directory kept only because this layer wrote inside it is reset
//! to `0755 root:root`, time 0, as it would have been recreated had the marker come first.
//!
//! Docker and containerd depend on the order in two corner cases that the spec settles: a
//! `.wh.NAME` after the layer's own `NAME` removes it there, and an opaque marker after the
//! layer's entries drops a directory the layer wrote into without an entry of its own.

use std::collections::{HashMap, HashSet};

use vfs_pack::tree::{InodeId, Meta, Name, Tree};

/// The names the current layer created or updated, per directory.
#[derive(Debug, Default)]
pub(super) struct Written(HashMap<InodeId, HashSet<Name>>);

impl Written {
    pub(super) fn insert(&mut self, dir: InodeId, name: &[u8]) {
        self.0.entry(dir).or_default().insert(name.into());
    }

    fn contains(&self, dir: InodeId, name: &[u8]) -> bool {
        self.0.get(&dir).is_some_and(|names| names.contains(name))
    }

    /// Removes `names` from `dir`, and everything below them, except what this layer wrote and
    /// the directories leading to it.
    pub(super) fn remove_lower(&self, tree: &mut Tree, dir: InodeId, names: Vec<Name>) {
        struct Visit {
            dir: InodeId,
            name: Name,
            id: InodeId,
            parent: Option<usize>,
            written: bool,
            holds_written: bool,
        }
        let mut visits: Vec<Visit> = Vec::new();
        for name in names {
            if let Some(id) = tree.entries(dir).and_then(|e| e.get(&name)).copied() {
                let written = self.contains(dir, &name);
                visits.push(Visit {
                    dir,
                    name,
                    id,
                    parent: None,
                    written,
                    holds_written: false,
                });
            }
        }
        // Breadth first without recursion (trees can be deep): children follow their parents.
        let mut next = 0;
        while next < visits.len() {
            let id = visits[next].id;
            for (name, &child) in tree.entries(id).into_iter().flatten() {
                let written = self.contains(id, name);
                let (name, parent) = (name.clone(), Some(next));
                visits.push(Visit {
                    dir: id,
                    name,
                    id: child,
                    parent,
                    written,
                    holds_written: false,
                });
            }
            next += 1;
        }
        // Backwards, every child is settled before its parent.
        for i in (0..visits.len()).rev() {
            let v = &visits[i];
            let keep = v.written || v.holds_written;
            if !keep {
                tree.unlink(v.dir, &v.name);
            } else if !v.written {
                tree.get_mut(v.id).meta = Meta::root(0o755);
            }
            if let (true, Some(parent)) = (keep, v.parent) {
                visits[parent].holds_written = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_tar::{
        LayerBuilder, apply, build, contents, dir_meta, file_meta, inode, listing, meta,
    };
    use super::*;

    #[test]
    fn whiteouts_remove_lower_entries_only() {
        let lower = LayerBuilder::new()
            .file("a/x", b"x", file_meta())
            .file("a/y", b"y", file_meta())
            .file("b", b"lower b", file_meta())
            .file("c/inner", b"", file_meta())
            .tar();
        let upper = LayerBuilder::new()
            .whiteout("a/.wh.x")
            .whiteout(".wh.c")
            .whiteout("nowhere/.wh.missing")
            .file("b", b"upper b", file_meta())
            .whiteout(".wh.b")
            .whiteout("a/.wh..wh.aufs-metadata")
            .tar();
        let mut tree = build(&[lower]);
        let stats = apply(&mut tree, &upper).unwrap();
        assert_eq!((stats.entries, stats.whiteouts, stats.skipped), (1, 4, 1));
        assert_eq!(listing(&tree), ["/", "/a", "/a/y", "/b", "/nowhere"]);
        assert_eq!(contents(&tree, "b"), b"upper b");
    }

    #[test]
    fn opaque_directories_keep_this_layers_entries_wherever_the_marker_is() {
        let lower = LayerBuilder::new()
            .file("d/old", b"", file_meta())
            .file("d/sub/old", b"", file_meta())
            .dir("d/deep", meta(0o700, 5, 5, 5))
            .file("d/deep/old", b"", file_meta())
            .file("keep/z", b"", file_meta())
            .tar();
        let entries = |layer: LayerBuilder| {
            layer
                .dir("d", meta(0o750, 0, 0, 2))
                .file("d/new", b"", file_meta())
                .dir("d/sub", dir_meta())
                .file("d/sub/new", b"", file_meta())
                .file("d/deep/er/new", b"", file_meta())
        };
        let before = entries(LayerBuilder::new().whiteout("d/.wh..wh..opq")).tar();
        let after = entries(LayerBuilder::new())
            .whiteout("d/.wh..wh..opq")
            .tar();
        let trees = [build(&[lower.clone(), before]), build(&[lower, after])];
        for tree in &trees {
            assert_eq!(
                listing(tree),
                [
                    "/",
                    "/d",
                    "/d/deep",
                    "/d/deep/er",
                    "/d/deep/er/new",
                    "/d/new",
                    "/d/sub",
                    "/d/sub/new",
                    "/keep",
                    "/keep/z"
                ]
            );
            assert_eq!(inode(tree, "d").meta, meta(0o750, 0, 0, 2));
            assert_eq!(inode(tree, "d/deep").meta, Meta::root(0o755));
        }
    }
}

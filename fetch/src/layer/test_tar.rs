//! Test helpers: layers built in memory with the tar crate's `Builder` (and raw headers for what it
//! refuses to write, such as `..` paths), compressed with flate2 or zstd.

use std::io::Write;

use tar::{Builder, EntryType, Header};
use vfs_pack::tree::{Inode, Meta, Node, Tree};

use super::{Compression, LayerStats, apply_layer};
use crate::Result;

/// Metadata in one call.
pub(super) fn meta(mode: u32, uid: u32, gid: u32, mtime: i64) -> Meta {
    Meta {
        mode,
        uid,
        gid,
        mtime,
    }
}

pub(super) fn file_meta() -> Meta {
    meta(0o644, 0, 0, 1)
}

pub(super) fn dir_meta() -> Meta {
    meta(0o755, 0, 0, 1)
}

/// A tree with `layers` applied in order.
pub(super) fn build(layers: &[Vec<u8>]) -> Tree {
    let mut tree = Tree::new();
    for layer in layers {
        apply(&mut tree, layer).unwrap();
    }
    tree
}

/// Every path in the tree.
pub(super) fn listing(tree: &Tree) -> Vec<String> {
    tree.walk()
        .into_iter()
        .map(|(p, _)| String::from_utf8(p).unwrap())
        .collect()
}

pub(super) fn inode<'t>(tree: &'t Tree, path: &str) -> &'t Inode {
    tree.get(tree.resolve(path.as_bytes(), false).unwrap())
}

pub(super) fn contents(tree: &Tree, path: &str) -> Vec<u8> {
    match &inode(tree, path).node {
        Node::File(data) => data.clone(),
        other => panic!("{path} is a {}", other.kind_name()),
    }
}

/// Applies an uncompressed layer.
pub(super) fn apply(tree: &mut Tree, layer: &[u8]) -> Result<LayerStats> {
    apply_layer(tree, layer, Compression::None)
}

/// A tar stream under construction.
pub(super) struct LayerBuilder {
    builder: Builder<Vec<u8>>,
}

fn header(kind: EntryType, size: usize, m: Meta) -> Header {
    let mut h = Header::new_gnu();
    h.set_entry_type(kind);
    h.set_size(size as u64);
    h.set_mode(m.mode);
    h.set_uid(m.uid.into());
    h.set_gid(m.gid.into());
    h.set_mtime(m.mtime.try_into().expect("test mtimes are not negative"));
    h
}

impl LayerBuilder {
    pub(super) fn new() -> Self {
        LayerBuilder {
            builder: Builder::new(Vec::new()),
        }
    }

    pub(super) fn file(mut self, path: &str, data: &[u8], m: Meta) -> Self {
        let mut h = header(EntryType::Regular, data.len(), m);
        self.builder.append_data(&mut h, path, data).unwrap();
        self
    }

    pub(super) fn dir(mut self, path: &str, m: Meta) -> Self {
        let mut h = header(EntryType::Directory, 0, m);
        self.builder.append_data(&mut h, path, &[][..]).unwrap();
        self
    }

    /// An empty file named `.wh.NAME` or `.wh..wh..opq`.
    pub(super) fn whiteout(self, path: &str) -> Self {
        self.file(path, b"", meta(0o644, 0, 0, 0))
    }

    pub(super) fn symlink(mut self, path: &str, target: &str, m: Meta) -> Self {
        let mut h = header(EntryType::Symlink, 0, m);
        self.builder.append_link(&mut h, path, target).unwrap();
        self
    }

    pub(super) fn hardlink(mut self, path: &str, target: &str, m: Meta) -> Self {
        let mut h = header(EntryType::Link, 0, m);
        self.builder.append_link(&mut h, path, target).unwrap();
        self
    }

    pub(super) fn device(
        mut self,
        path: &str,
        kind: EntryType,
        major: u32,
        minor: u32,
        m: Meta,
    ) -> Self {
        let mut h = header(kind, 0, m);
        h.set_device_major(major).unwrap();
        h.set_device_minor(minor).unwrap();
        self.builder.append_data(&mut h, path, &[][..]).unwrap();
        self
    }

    pub(super) fn fifo(mut self, path: &str, m: Meta) -> Self {
        let mut h = header(EntryType::Fifo, 0, m);
        self.builder.append_data(&mut h, path, &[][..]).unwrap();
        self
    }

    /// An entry whose name (at most 100 bytes) and type byte (even `\0`) are written as given.
    pub(super) fn raw(self, name: &[u8], kind: u8, data: &[u8], m: Meta) -> Self {
        self.raw_link(name, kind, b"", data, m)
    }

    /// Like [`LayerBuilder::raw`], with a link name written as given.
    pub(super) fn raw_link(
        mut self,
        name: &[u8],
        kind: u8,
        link: &[u8],
        data: &[u8],
        m: Meta,
    ) -> Self {
        let mut h = header(EntryType::new(kind), data.len(), m);
        let old = h.as_old_mut();
        old.linkflag = [kind];
        old.name[..name.len()].copy_from_slice(name);
        old.linkname[..link.len()].copy_from_slice(link);
        h.set_cksum();
        self.builder.append(&h, data).unwrap();
        self
    }

    /// A PAX extended header whose records apply to the next entry.
    pub(super) fn pax(self, records: &[(&str, &str)]) -> Self {
        let mut data = Vec::new();
        for (key, value) in records {
            // The length counts itself: grow it until it is consistent.
            let body = format!(" {key}={value}\n");
            let mut len = body.len() + 1;
            while format!("{len}").len() + body.len() != len {
                len += 1;
            }
            write!(data, "{len}{body}").unwrap();
        }
        self.raw(b"PaxHeaders/next", b'x', &data, meta(0o644, 0, 0, 0))
    }

    pub(super) fn tar(self) -> Vec<u8> {
        self.builder.into_inner().unwrap()
    }

    pub(super) fn gzip(self) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&self.tar()).unwrap();
        gz.finish().unwrap()
    }

    pub(super) fn zstd(self) -> Vec<u8> {
        zstd::encode_all(&self.tar()[..], 3).unwrap()
    }
}

//! The writer: lays out a [`Tree`] as an image and streams it.
//!
//! [`write`] first computes the whole layout: inode numbers in [`Tree::walk`] order, directory
//! entry ranges, an interned string table, and the page-aligned offset of every distinct file
//! content. It then writes the header and the tables (built in memory, a few MB for a full
//! distribution) and streams each distinct file content straight from the tree, so file data is
//! never copied. Maps are only looked up, never iterated, so the output depends on the tree alone.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::io::{self, Write};
use std::vec;
use std::vec::Vec;

use crate::format::{
    CHECKSUM_AT, DIRENT_SIZE, DirentRecord, HEADER_SIZE, Header, INODE_SIZE, InodeRecord, Kind,
    PAGE_SIZE, VERSION, crc32,
};
use crate::tree::{InodeId, Node, Tree};

/// What [`write()`] packed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Distinct reachable inodes.
    pub inodes: u32,
    /// Directory entries.
    pub entries: u32,
    /// Regular files with distinct non-empty contents, each stored once.
    pub unique_files: u32,
    /// Bytes of regular-file contents, counting each inode once.
    pub file_bytes: u64,
    /// Bytes of file contents stored after deduplication (without alignment padding).
    pub data_bytes: u64,
    /// Length of the whole image.
    pub image_bytes: u64,
}

/// Packs the inodes reachable from the root of `tree` into `out`; see `FORMAT.md`. The same tree
/// always gives the same bytes. Fails if `out` fails or the tree exceeds the format's limits
/// (2^32 inodes, entries, or bytes of names and symlink targets).
pub fn write(tree: &Tree, out: &mut impl Write) -> io::Result<WriteStats> {
    let layout = Layout::new(tree)?;
    let meta = layout.metadata();
    out.write_all(&meta)?;
    let mut pos = meta.len() as u64;
    for (data, offset) in &layout.blobs {
        pad(out, offset - pos)?;
        out.write_all(data)?;
        pos = offset + data.len() as u64;
    }
    pad(out, layout.image_len - pos)?;
    Ok(layout.stats)
}

/// Writes `n` zero bytes.
fn pad(out: &mut impl Write, mut n: u64) -> io::Result<()> {
    const ZEROS: [u8; PAGE_SIZE as usize] = [0; PAGE_SIZE as usize];
    while n > 0 {
        let chunk = n.min(PAGE_SIZE);
        out.write_all(&ZEROS[..chunk as usize])?;
        n -= chunk;
    }
    Ok(())
}

fn too_big(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        std::format!("tree has too many {what} to pack"),
    )
}

fn to_u32(n: usize, what: &str) -> io::Result<u32> {
    u32::try_from(n).map_err(|_| too_big(what))
}

fn align_up(n: u64) -> u64 {
    n.div_ceil(PAGE_SIZE) * PAGE_SIZE
}

/// Everything about the image but the file bytes themselves.
struct Layout<'t> {
    /// The inode records, indexed by image inode number; file offsets are image offsets.
    inodes: Vec<InodeRecord>,
    dirents: Vec<DirentRecord>,
    strtab: Vec<u8>,
    /// Each distinct file content with its image offset, in offset order.
    blobs: Vec<(&'t [u8], u64)>,
    data_off: u64,
    image_len: u64,
    stats: WriteStats,
}

impl<'t> Layout<'t> {
    fn new(tree: &'t Tree) -> io::Result<Layout<'t>> {
        let (order, parents) = number(tree)?;
        let ino_of: HashMap<InodeId, u32> = order.iter().zip(0..).map(|(&id, n)| (id, n)).collect();
        let mut inodes = Vec::with_capacity(order.len());
        let mut dirents = Vec::new();
        let mut strings = Strings::default();
        let mut blobs = Blobs::default();
        let mut stats = WriteStats {
            inodes: to_u32(order.len(), "inodes")?,
            ..WriteStats::default()
        };
        // Names of each inode; a directory also counts its `.` and each subdirectory's `..`.
        let mut nlink = vec![0u32; order.len()];
        for (ino, (&id, &parent)) in order.iter().zip(&parents).enumerate() {
            let inode = tree.get(id);
            let mut rec = InodeRecord {
                mode: inode.meta.mode & 0o7777,
                uid: inode.meta.uid,
                gid: inode.meta.gid,
                mtime: inode.meta.mtime,
                ..InodeRecord::default()
            };
            let kind = match &inode.node {
                Node::Dir(entries) => {
                    rec.offset = dirents.len() as u64;
                    rec.size = entries.len() as u64;
                    rec.aux0 = parent;
                    nlink[ino] = nlink[ino].saturating_add(2);
                    for (name, child) in entries {
                        let child_ino = ino_of[child];
                        let named = match tree.get(*child).node {
                            Node::Dir(_) => ino,
                            _ => child_ino as usize,
                        };
                        nlink[named] = nlink[named].saturating_add(1);
                        let (name_off, name_len) = strings.intern(name)?;
                        dirents.push(DirentRecord {
                            ino: child_ino,
                            name_off,
                            name_len,
                        });
                    }
                    Kind::Dir
                }
                Node::File(data) => {
                    rec.size = data.len() as u64;
                    rec.offset = blobs.place(data);
                    stats.file_bytes += rec.size;
                    Kind::File
                }
                Node::Symlink(target) => {
                    let (off, len) = strings.intern(target)?;
                    (rec.offset, rec.size) = (off.into(), len.into());
                    Kind::Symlink
                }
                &Node::CharDevice { major, minor } => {
                    (rec.aux0, rec.aux1) = (major, minor);
                    Kind::CharDevice
                }
                &Node::BlockDevice { major, minor } => {
                    (rec.aux0, rec.aux1) = (major, minor);
                    Kind::BlockDevice
                }
                Node::Fifo => Kind::Fifo,
                Node::Socket => Kind::Socket,
            };
            rec.mode |= kind.mode_bits();
            inodes.push(rec);
        }
        stats.entries = to_u32(dirents.len(), "directory entries")?;
        let meta_len = (HEADER_SIZE + inodes.len() * INODE_SIZE + dirents.len() * DIRENT_SIZE)
            as u64
            + strings.bytes.len() as u64;
        let data_off = align_up(meta_len);
        for (rec, nlink) in inodes.iter_mut().zip(nlink) {
            rec.nlink = nlink;
            if Kind::from_mode(rec.mode) == Some(Kind::File) && rec.size > 0 {
                rec.offset += data_off;
            }
        }
        let blobs: Vec<_> = blobs
            .list
            .into_iter()
            .map(|(d, off)| (d, off + data_off))
            .collect();
        let data_end = blobs
            .last()
            .map_or(data_off, |&(d, off)| off + d.len() as u64);
        stats.unique_files = to_u32(blobs.len(), "files")?;
        stats.data_bytes = blobs.iter().map(|(d, _)| d.len() as u64).sum();
        // An image is whole pages, so it can be mapped or embedded page by page.
        stats.image_bytes = align_up(data_end);
        Ok(Layout {
            inodes,
            dirents,
            strtab: strings.bytes,
            blobs,
            data_off,
            image_len: stats.image_bytes,
            stats,
        })
    }

    /// The header and the metadata tables, contiguous, with the checksum filled in.
    fn metadata(&self) -> Vec<u8> {
        let inode_off = HEADER_SIZE as u64;
        let dirent_off = inode_off + (self.inodes.len() * INODE_SIZE) as u64;
        let strtab_off = dirent_off + (self.dirents.len() * DIRENT_SIZE) as u64;
        let mut header = Header {
            version: VERSION,
            header_size: HEADER_SIZE as u32,
            page_size: PAGE_SIZE as u32,
            inode_count: self.stats.inodes,
            dirent_count: self.stats.entries,
            inode_off,
            dirent_off,
            strtab_off,
            strtab_len: self.strtab.len() as u64,
            data_off: self.data_off,
            data_len: self.image_len - self.data_off,
            image_len: self.image_len,
            ..Header::default()
        };
        let mut meta = Vec::with_capacity(strtab_off as usize + self.strtab.len());
        meta.extend_from_slice(&header.encode());
        for rec in &self.inodes {
            meta.extend_from_slice(&rec.encode());
        }
        for rec in &self.dirents {
            meta.extend_from_slice(&rec.encode());
        }
        meta.extend_from_slice(&self.strtab);
        header.checksum = crc32(crc32(0, &meta[..CHECKSUM_AT]), &meta[HEADER_SIZE..]);
        meta[..HEADER_SIZE].copy_from_slice(&header.encode());
        meta
    }
}

/// Image inode numbers: the reachable inodes in [`Tree::walk`] order (depth-first, entries in byte
/// order, each inode at its first name), and for each the inode number of the directory it was
/// first reached from. A directory reached again is not entered again, so even a tree whose
/// directories form a cycle is numbered.
fn number(tree: &Tree) -> io::Result<(Vec<InodeId>, Vec<u32>)> {
    let mut seen = HashSet::new();
    let (mut order, mut parents) = (Vec::new(), Vec::new());
    let mut pending = vec![(tree.root(), 0u32)];
    while let Some((id, parent)) = pending.pop() {
        if !seen.insert(id) {
            continue;
        }
        let ino = to_u32(order.len(), "inodes")?;
        order.push(id);
        parents.push(parent);
        if let Some(entries) = tree.entries(id) {
            pending.extend(entries.values().rev().map(|&child| (child, ino)));
        }
    }
    Ok((order, parents))
}

/// The string table: names and symlink targets, each distinct string stored once.
#[derive(Default)]
struct Strings<'t> {
    bytes: Vec<u8>,
    offsets: HashMap<&'t [u8], u32>,
}

impl<'t> Strings<'t> {
    /// Offset and length of `s` in the table, adding it if new.
    fn intern(&mut self, s: &'t [u8]) -> io::Result<(u32, u32)> {
        let len = to_u32(s.len(), "bytes in one name")?;
        if let Some(&off) = self.offsets.get(s) {
            return Ok((off, len));
        }
        let off = to_u32(self.bytes.len(), "bytes of names")?;
        self.bytes.extend_from_slice(s);
        self.offsets.insert(s, off);
        Ok((off, len))
    }
}

/// Distinct file contents and their offsets from the start of the data region.
#[derive(Default)]
struct Blobs<'t> {
    list: Vec<(&'t [u8], u64)>,
    /// Content hash to the indices in `list` of the contents with that hash.
    by_hash: HashMap<u64, Vec<usize>>,
    end: u64,
}

impl<'t> Blobs<'t> {
    /// The data-region offset of `data`, placing it on the next page if no equal content was
    /// placed before. Empty files take no space.
    fn place(&mut self, data: &'t [u8]) -> u64 {
        if data.is_empty() {
            return 0;
        }
        // A fixed-key SipHash: collisions are resolved by comparing bytes, so a weak or even
        // adversarial hash only costs time, never correctness.
        let hash = BuildHasherDefault::<DefaultHasher>::default().hash_one(data);
        let same = self.by_hash.entry(hash).or_default();
        if let Some(&i) = same.iter().find(|&&i| self.list[i].0 == data) {
            return self.list[i].1;
        }
        let off = align_up(self.end);
        same.push(self.list.len());
        self.list.push((data, off));
        self.end = off + data.len() as u64;
        off
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::{Inode, Meta};

    fn file(t: &mut Tree, name: &str, data: &[u8]) -> InodeId {
        let id = t.add(Inode {
            meta: Meta::root(0o644),
            node: Node::File(data.to_vec()),
        });
        t.link(t.root(), name.as_bytes(), id);
        id
    }

    #[test]
    fn dedupes_aligns_and_counts() {
        let mut t = Tree::new();
        let a = file(&mut t, "a", b"same");
        file(&mut t, "b", b"same");
        file(&mut t, "c", b"other");
        file(&mut t, "e", b"");
        t.link(t.root(), b"hard", a);
        // Unreachable inodes are not packed.
        t.add(Inode {
            meta: Meta::root(0),
            node: Node::File(b"gone".to_vec()),
        });
        let mut out = Vec::new();
        let stats = write(&t, &mut out).unwrap();
        assert_eq!(
            stats,
            WriteStats {
                inodes: 5,
                entries: 5,
                unique_files: 2,
                file_bytes: 13,
                data_bytes: 9,
                image_bytes: 3 * PAGE_SIZE,
            }
        );
        assert_eq!(out.len() as u64, stats.image_bytes);
        assert_eq!(&out[PAGE_SIZE as usize..][..4], b"same");
        assert_eq!(&out[2 * PAGE_SIZE as usize..][..5], b"other");
        let mut again = Vec::new();
        write(&t, &mut again).unwrap();
        assert_eq!(out, again);
    }
}

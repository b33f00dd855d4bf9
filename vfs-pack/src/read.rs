//! The zero-copy reader: no_std, no allocation, and no panics or unbounded loops on any input.
//!
//! [`Image::parse`] checks the header, the checksum and that every table lies inside the image,
//! once. Each access then decodes one fixed-size record with checked arithmetic: [`Image::inode`]
//! validates the record's kind and ranges before handing out an [`InodeRef`], so the accessors that
//! take one (file data, symlink targets, directory entries) only slice ranges already checked.
//! Path resolution lives in [`resolve`](Image::resolve).

mod resolve;

pub use resolve::{MAX_SYMLINKS, NAME_MAX, PATH_MAX};

use crate::error::{FormatError, FormatErrorKind, FsError};
use crate::format::{
    CHECKSUM_AT, DIRENT_SIZE, DirentRecord, HEADER_SIZE, Header, INODE_SIZE, InodeRecord, Kind,
    MAGIC, PAGE_SIZE, VERSION, crc32, valid_name,
};

/// A parsed image borrowing its bytes. Cheap to copy.
#[derive(Clone, Copy)]
pub struct Image<'a> {
    /// The whole image, exactly `image_len` bytes.
    bytes: &'a [u8],
    inodes: &'a [u8],
    dirents: &'a [u8],
    strtab: &'a [u8],
    inode_off: u64,
    dirent_off: u64,
    /// The data region, `[data_off, data_end)`.
    data_off: u64,
    data_end: u64,
    inode_count: u32,
    dirent_count: u32,
    root: InodeRef,
}

/// Sizes only: the bytes may be hundreds of megabytes.
impl core::fmt::Debug for Image<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Image")
            .field("len", &self.bytes.len())
            .field("inodes", &self.inode_count)
            .field("dirents", &self.dirent_count)
            .field("strtab_len", &self.strtab.len())
            .field("data", &(self.data_off..self.data_end))
            .finish()
    }
}

/// One validated inode: its number, kind and metadata. Cheap to copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InodeRef {
    ino: u32,
    kind: Kind,
    rec: InodeRecord,
}

impl InodeRef {
    /// The inode number (0 is the root directory).
    pub fn ino(&self) -> u32 {
        self.ino
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// `st_mode`: the `S_IF*` type bits and the permission bits.
    pub fn mode(&self) -> u32 {
        self.rec.mode
    }

    /// Number of names (for a directory, 2 plus its subdirectories, as on Linux).
    pub fn nlink(&self) -> u32 {
        self.rec.nlink
    }

    pub fn uid(&self) -> u32 {
        self.rec.uid
    }

    pub fn gid(&self) -> u32 {
        self.rec.gid
    }

    /// Modification time, seconds since the Unix epoch.
    pub fn mtime(&self) -> i64 {
        self.rec.mtime
    }

    /// `st_size`: a file's length, a symlink's target length, 4096 for a directory (as ext4
    /// reports a small one), 0 for anything else.
    pub fn size(&self) -> u64 {
        match self.kind {
            Kind::File | Kind::Symlink => self.rec.size,
            Kind::Dir => PAGE_SIZE,
            _ => 0,
        }
    }

    /// `(major, minor)` of a character or block device.
    pub fn device(&self) -> Option<(u32, u32)> {
        match self.kind {
            Kind::CharDevice | Kind::BlockDevice => Some((self.rec.aux0, self.rec.aux1)),
            _ => None,
        }
    }

    /// Number of entries of a directory (`.` and `..` are not stored), 0 for anything else.
    pub fn entry_count(&self) -> u32 {
        match self.kind {
            Kind::Dir => u32::try_from(self.rec.size).unwrap_or(0),
            _ => 0,
        }
    }

    /// First entry index and entry count of a directory; validated by [`Image::inode`].
    fn dir_range(&self) -> Result<(u32, u32), FsError> {
        match self.kind {
            Kind::Dir => Ok((
                u32::try_from(self.rec.offset).unwrap_or(u32::MAX),
                self.entry_count(),
            )),
            _ => Err(FsError::NotDir),
        }
    }
}

/// One directory entry, as [`Image::readdir`] lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DirEntry<'a> {
    /// The file name (never `.` or `..`, which are not stored).
    pub name: &'a [u8],
    /// The inode the entry names.
    pub inode: InodeRef,
    /// Position of the entry in its directory; `readdir_from(dir, index + 1)` resumes after it.
    pub index: u32,
}

/// `[off, off + len)` as a `usize` range, if it fits.
fn range(off: u64, len: u64) -> Option<core::ops::Range<usize>> {
    let start = usize::try_from(off).ok()?;
    let end = start.checked_add(usize::try_from(len).ok()?)?;
    Some(start..end)
}

impl<'a> Image<'a> {
    /// Parses an image: checks the header, that every table lies inside the image, the checksum
    /// over the header and metadata tables, and that inode 0 is a directory. Bytes past the
    /// header's `image_len` are ignored.
    pub fn parse(bytes: &'a [u8]) -> Result<Image<'a>, FormatError> {
        Image::parse_inner(bytes, true)
    }

    /// Like [`Image::parse`] but without verifying the checksum, for bytes already known to be
    /// intact (e.g. an image embedded in the same module as the reader) and for fuzzing. Every
    /// access stays bounds-checked; a corrupt image gives errors, never a panic.
    pub fn parse_unchecked(bytes: &'a [u8]) -> Result<Image<'a>, FormatError> {
        Image::parse_inner(bytes, false)
    }

    fn parse_inner(bytes: &'a [u8], verify: bool) -> Result<Image<'a>, FormatError> {
        use FormatErrorKind as K;
        let err = FormatError::new;
        let (magic, h) = Header::decode(bytes).ok_or(err(K::Truncated, 0))?;
        if magic != MAGIC {
            return Err(err(K::Magic, 0));
        }
        if h.version != VERSION {
            return Err(err(K::Version(h.version), 8));
        }
        if usize::try_from(h.header_size) != Ok(HEADER_SIZE) {
            return Err(err(K::Header, 12));
        }
        if u64::from(h.page_size) != PAGE_SIZE {
            return Err(err(K::Header, 16));
        }
        if h.flags != 0 {
            return Err(err(K::Header, 20));
        }
        if h.reserved != 0 {
            return Err(err(K::Header, 88));
        }
        let image_len = usize::try_from(h.image_len).map_err(|_| err(K::Truncated, 80))?;
        if image_len < HEADER_SIZE {
            return Err(err(K::Header, 80));
        }
        let bytes = bytes.get(..image_len).ok_or(err(K::Truncated, 80))?;
        let table = |off: u64, len: Option<u64>, field: u64| {
            len.and_then(|len| range(off, len))
                .and_then(|r| bytes.get(r))
                .ok_or(err(K::Bounds, field))
        };
        let inodes = table(
            h.inode_off,
            u64::from(h.inode_count).checked_mul(INODE_SIZE as u64),
            32,
        )?;
        let dirents = table(
            h.dirent_off,
            u64::from(h.dirent_count).checked_mul(DIRENT_SIZE as u64),
            40,
        )?;
        let strtab = table(h.strtab_off, Some(h.strtab_len), 48)?;
        if h.data_off % PAGE_SIZE != 0 {
            return Err(err(K::Header, 64));
        }
        let data_end = h
            .data_off
            .checked_add(h.data_len)
            .filter(|&end| end <= h.image_len);
        let data_end = data_end.ok_or(err(K::Bounds, 64))?;
        if verify {
            let header = bytes.get(..CHECKSUM_AT).unwrap_or_default();
            let computed = [header, inodes, dirents, strtab]
                .iter()
                .fold(0, |c, b| crc32(c, b));
            if computed != h.checksum {
                return Err(err(
                    K::Checksum {
                        stored: h.checksum,
                        computed,
                    },
                    CHECKSUM_AT as u64,
                ));
            }
        }
        let mut image = Image {
            bytes,
            inodes,
            dirents,
            strtab,
            inode_off: h.inode_off,
            dirent_off: h.dirent_off,
            data_off: h.data_off,
            data_end,
            inode_count: h.inode_count,
            dirent_count: h.dirent_count,
            root: InodeRef {
                ino: 0,
                kind: Kind::Dir,
                rec: InodeRecord::default(),
            },
        };
        image.root = image.inode(0)?;
        if image.root.kind != Kind::Dir {
            return Err(err(K::Inode, h.inode_off));
        }
        Ok(image)
    }

    /// The root directory, inode 0.
    pub fn root(&self) -> InodeRef {
        self.root
    }

    /// Number of inodes; valid inode numbers are `0..inode_count()`.
    pub fn inode_count(&self) -> u32 {
        self.inode_count
    }

    /// The inode numbered `ino`, its record checked: a known file type, and for a directory, file
    /// or symlink, an entry range, page-aligned data range or target range inside the image.
    pub fn inode(&self, ino: u32) -> Result<InodeRef, FormatError> {
        let at = u64::from(ino) * INODE_SIZE as u64;
        let bad = FormatError::new(FormatErrorKind::Inode, self.inode_off.saturating_add(at));
        let rec = range(at, INODE_SIZE as u64)
            .and_then(|r| self.inodes.get(r))
            .and_then(InodeRecord::decode)
            .ok_or(bad)?;
        let kind = Kind::from_mode(rec.mode).ok_or(bad)?;
        let end = rec.offset.checked_add(rec.size).ok_or(bad)?;
        let ok = match kind {
            Kind::Dir => end <= u64::from(self.dirent_count) && rec.aux0 < self.inode_count,
            Kind::File => {
                rec.size == 0
                    || (rec.offset % PAGE_SIZE == 0
                        && rec.offset >= self.data_off
                        && end <= self.data_end)
            }
            Kind::Symlink => end <= self.strtab.len() as u64,
            _ => true,
        };
        if !ok {
            return Err(bad);
        }
        Ok(InodeRef { ino, kind, rec })
    }

    /// The contents of a regular file, borrowed from the image (page-aligned if the image is);
    /// empty for anything else.
    pub fn file_data(&self, inode: &InodeRef) -> &'a [u8] {
        match inode.kind {
            Kind::File if inode.rec.size > 0 => range(inode.rec.offset, inode.rec.size)
                .and_then(|r| self.bytes.get(r))
                .unwrap_or_default(),
            _ => &[],
        }
    }

    /// The target of a symlink, exactly as stored; [`FsError::Invalid`] for anything else.
    pub fn readlink(&self, inode: &InodeRef) -> Result<&'a [u8], FsError> {
        if inode.kind != Kind::Symlink {
            return Err(FsError::Invalid);
        }
        let bad = FormatError::new(FormatErrorKind::Inode, self.inode_off);
        range(inode.rec.offset, inode.rec.size)
            .and_then(|r| self.strtab.get(r))
            .ok_or(FsError::Corrupt(bad))
    }

    /// The parent of a directory (the root's parent is the root), what `..` names.
    pub fn parent(&self, dir: &InodeRef) -> Result<InodeRef, FsError> {
        match dir.kind {
            Kind::Dir => Ok(self.inode(dir.rec.aux0)?),
            _ => Err(FsError::NotDir),
        }
    }

    /// Directory entry number `index` of the entry table: the record and its name.
    fn entry(&self, index: u32) -> Result<(DirentRecord, &'a [u8]), FormatError> {
        let at = u64::from(index) * DIRENT_SIZE as u64;
        let bad = FormatError::new(FormatErrorKind::Dirent, self.dirent_off.saturating_add(at));
        let rec = range(at, DIRENT_SIZE as u64)
            .and_then(|r| self.dirents.get(r))
            .and_then(DirentRecord::decode)
            .ok_or(bad)?;
        let name = range(rec.name_off.into(), rec.name_len.into())
            .and_then(|r| self.strtab.get(r))
            .filter(|name| valid_name(name))
            .ok_or(bad)?;
        Ok((rec, name))
    }

    /// The entry `name` of directory `dir`, by binary search over its entries (sorted by name
    /// bytes). `.` and `..` are not entries: [`Image::resolve`] and [`Image::parent`] handle them.
    pub fn lookup(&self, dir: &InodeRef, name: &[u8]) -> Result<InodeRef, FsError> {
        let (first, count) = dir.dir_range()?;
        if name.len() > NAME_MAX {
            return Err(FsError::NameTooLong);
        }
        let (mut lo, mut hi) = (0u32, count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let (rec, entry) = self.entry(first.saturating_add(mid))?;
            match entry.cmp(name) {
                core::cmp::Ordering::Less => lo = mid + 1,
                core::cmp::Ordering::Greater => hi = mid,
                core::cmp::Ordering::Equal => return Ok(self.inode(rec.ino)?),
            }
        }
        Err(FsError::NotFound)
    }

    /// The entries of directory `dir` in name-byte order.
    pub fn readdir(&self, dir: &InodeRef) -> Result<ReadDir<'a>, FsError> {
        self.readdir_from(dir, 0)
    }

    /// The entries of directory `dir` from position `start` on (as `getdents64` resumes at a
    /// directory offset); empty if `start` is past the end.
    pub fn readdir_from(&self, dir: &InodeRef, start: u32) -> Result<ReadDir<'a>, FsError> {
        let (first, count) = dir.dir_range()?;
        Ok(ReadDir {
            image: *self,
            first,
            next: start,
            count,
        })
    }
}

/// Iterator over a directory's entries; see [`Image::readdir`]. After a corrupt entry it yields
/// that error once and ends.
#[derive(Clone, Debug)]
pub struct ReadDir<'a> {
    image: Image<'a>,
    first: u32,
    next: u32,
    count: u32,
}

impl<'a> Iterator for ReadDir<'a> {
    type Item = Result<DirEntry<'a>, FormatError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.count {
            return None;
        }
        let index = self.next;
        self.next += 1;
        let entry = self
            .image
            .entry(self.first.saturating_add(index))
            .and_then(|(rec, name)| {
                Ok(DirEntry {
                    name,
                    inode: self.image.inode(rec.ino)?,
                    index,
                })
            });
        if entry.is_err() {
            self.next = self.count;
        }
        Some(entry)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.count.saturating_sub(self.next) as usize;
        (0, Some(left))
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use crate::tree::{Inode, Meta, Node, Tree};
    use std::vec::Vec;

    fn image_bytes() -> Vec<u8> {
        let mut t = Tree::new();
        let etc = t.add(Inode {
            meta: Meta::root(0o755),
            node: Node::Dir(Default::default()),
        });
        t.link(t.root(), b"etc", etc);
        for name in ["b", "a", "c"] {
            let f = t.add(Inode {
                meta: Meta::root(0o644),
                node: Node::File(name.into()),
            });
            t.link(etc, name.as_bytes(), f);
        }
        let mut out = Vec::new();
        crate::write(&t, &mut out).unwrap();
        out
    }

    #[test]
    fn lookup_and_readdir_list_sorted_entries() {
        let bytes = image_bytes();
        let image = Image::parse(&bytes).unwrap();
        let etc = image.lookup(&image.root(), b"etc").unwrap();
        assert_eq!(image.parent(&etc).unwrap(), image.root());
        let names: Vec<_> = image
            .readdir(&etc)
            .unwrap()
            .map(|e| e.unwrap().name)
            .collect();
        assert_eq!(names, [b"a", b"b", b"c"]);
        let rest: Vec<_> = image
            .readdir_from(&etc, 2)
            .unwrap()
            .map(|e| e.unwrap().index)
            .collect();
        assert_eq!(rest, [2]);
        assert_eq!(image.readdir_from(&etc, u32::MAX).unwrap().count(), 0);
        let b = image.lookup(&etc, b"b").unwrap();
        assert_eq!(image.file_data(&b), b"b");
        assert_eq!(image.file_data(&etc), b"");
        assert_eq!(image.lookup(&etc, b"d"), Err(FsError::NotFound));
        assert_eq!(image.lookup(&b, b"x"), Err(FsError::NotDir));
        assert_eq!(image.readlink(&b), Err(FsError::Invalid));
        assert_eq!(image.lookup(&etc, &[b'x'; 256]), Err(FsError::NameTooLong));
    }

    #[test]
    fn parse_rejects_bad_headers_and_checksums() {
        let bytes = image_bytes();
        let kind = |b: &[u8]| Image::parse(b).unwrap_err().kind();
        assert_eq!(kind(&bytes[..10]), FormatErrorKind::Truncated);
        assert_eq!(kind(&bytes[..bytes.len() - 1]), FormatErrorKind::Truncated);
        let mut bad = bytes.clone();
        bad[0] = b'X';
        assert_eq!(kind(&bad), FormatErrorKind::Magic);
        let mut bad = bytes.clone();
        bad[8] = 2;
        assert_eq!(kind(&bad), FormatErrorKind::Version(2));
        let mut bad = bytes.clone();
        bad[HEADER_SIZE + 8] ^= 1; // the root's uid
        assert!(matches!(kind(&bad), FormatErrorKind::Checksum { .. }));
        assert!(Image::parse_unchecked(&bad).is_ok());
        let mut bad = bytes.clone();
        bad[32..40].copy_from_slice(&u64::MAX.to_le_bytes()); // inode table offset
        assert_eq!(
            Image::parse_unchecked(&bad).unwrap_err().kind(),
            FormatErrorKind::Bounds
        );
        // Trailing bytes past image_len are ignored.
        let mut long = bytes.clone();
        long.extend_from_slice(&[0; 10]);
        assert!(Image::parse(&long).is_ok());
    }
}

//! The on-disk layout shared by the writer and the reader: constants, the header, the inode and
//! directory-entry records, and the checksum. `FORMAT.md` describes the same layout in prose; the
//! encoders and decoders here are its only implementation, so writer and reader cannot disagree.

/// The first eight bytes of every image.
pub const MAGIC: [u8; 8] = *b"VFSPACK\0";
/// The format version this crate writes and reads.
pub const VERSION: u32 = 1;
/// Size of the header in bytes.
pub const HEADER_SIZE: usize = 96;
/// Byte offset of the checksum field inside the header (its last four bytes).
pub const CHECKSUM_AT: usize = HEADER_SIZE - 4;
/// Alignment of every file's data, relative to the start of the image.
pub const PAGE_SIZE: u64 = 4096;
/// Size of one inode record.
pub const INODE_SIZE: usize = 48;
/// Size of one directory-entry record.
pub const DIRENT_SIZE: usize = 12;

/// `S_IFMT` and the file-type bits of `st_mode`.
pub const S_IFMT: u32 = 0o170_000;
const S_IFSOCK: u32 = 0o140_000;
const S_IFLNK: u32 = 0o120_000;
const S_IFREG: u32 = 0o100_000;
const S_IFBLK: u32 = 0o060_000;
const S_IFDIR: u32 = 0o040_000;
const S_IFCHR: u32 = 0o020_000;
const S_IFIFO: u32 = 0o010_000;

/// The type of an inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Dir,
    File,
    Symlink,
    CharDevice,
    BlockDevice,
    Fifo,
    Socket,
}

impl Kind {
    /// The `S_IF*` bits of `st_mode` for this kind.
    pub fn mode_bits(self) -> u32 {
        match self {
            Kind::Dir => S_IFDIR,
            Kind::File => S_IFREG,
            Kind::Symlink => S_IFLNK,
            Kind::CharDevice => S_IFCHR,
            Kind::BlockDevice => S_IFBLK,
            Kind::Fifo => S_IFIFO,
            Kind::Socket => S_IFSOCK,
        }
    }

    /// The kind named by the `S_IF*` bits of `mode`, if they name one.
    pub fn from_mode(mode: u32) -> Option<Kind> {
        Some(match mode & S_IFMT {
            S_IFDIR => Kind::Dir,
            S_IFREG => Kind::File,
            S_IFLNK => Kind::Symlink,
            S_IFCHR => Kind::CharDevice,
            S_IFBLK => Kind::BlockDevice,
            S_IFIFO => Kind::Fifo,
            S_IFSOCK => Kind::Socket,
            _ => return None,
        })
    }

    /// The `DT_*` value `getdents64` reports in `d_type` for this kind.
    pub fn dirent_type(self) -> u8 {
        // DT_x is S_IFx >> 12 on Linux.
        (self.mode_bits() >> 12) as u8
    }
}

/// Whether `name` can be a directory entry: non-empty, not `.` or `..`, no `/` or NUL.
pub fn valid_name(name: &[u8]) -> bool {
    !name.is_empty() && name != b"." && name != b".." && !name.iter().any(|&b| b == b'/' || b == 0)
}

/// The image header (all integers little-endian; see `FORMAT.md` for the byte offsets).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Header {
    pub version: u32,
    pub header_size: u32,
    pub page_size: u32,
    pub flags: u32,
    pub inode_count: u32,
    pub dirent_count: u32,
    pub inode_off: u64,
    pub dirent_off: u64,
    pub strtab_off: u64,
    pub strtab_len: u64,
    pub data_off: u64,
    pub data_len: u64,
    pub image_len: u64,
    pub reserved: u32,
    pub checksum: u32,
}

impl Header {
    pub fn encode(&self) -> [u8; HEADER_SIZE] {
        let mut out = [0; HEADER_SIZE];
        let mut w = Writer(&mut out);
        w.bytes(&MAGIC);
        for v in [self.version, self.header_size, self.page_size, self.flags] {
            w.u32(v);
        }
        w.u32(self.inode_count);
        w.u32(self.dirent_count);
        for v in [
            self.inode_off,
            self.dirent_off,
            self.strtab_off,
            self.strtab_len,
            self.data_off,
            self.data_len,
            self.image_len,
        ] {
            w.u64(v);
        }
        w.u32(self.reserved);
        w.u32(self.checksum);
        out
    }

    /// Decodes the header fields; `None` only if `bytes` is too short. The magic is returned for
    /// the caller to check.
    pub fn decode(bytes: &[u8]) -> Option<([u8; 8], Header)> {
        let mut r = Reader(bytes);
        let magic = *r.array::<8>()?;
        let h = Header {
            version: r.u32()?,
            header_size: r.u32()?,
            page_size: r.u32()?,
            flags: r.u32()?,
            inode_count: r.u32()?,
            dirent_count: r.u32()?,
            inode_off: r.u64()?,
            dirent_off: r.u64()?,
            strtab_off: r.u64()?,
            strtab_len: r.u64()?,
            data_off: r.u64()?,
            data_len: r.u64()?,
            image_len: r.u64()?,
            reserved: r.u32()?,
            checksum: r.u32()?,
        };
        Some((magic, h))
    }
}

/// One inode record. What `size`, `offset`, `aux0` and `aux1` mean depends on the kind:
///
/// | kind        | size               | offset                    | aux0         | aux1  |
/// |-------------|--------------------|---------------------------|--------------|-------|
/// | dir         | number of entries  | index of the first entry  | parent inode | 0     |
/// | file        | length in bytes    | image offset of the data  | 0            | 0     |
/// | symlink     | target length      | string-table offset       | 0            | 0     |
/// | char/block  | 0                  | 0                         | major        | minor |
/// | fifo/socket | 0                  | 0                         | 0            | 0     |
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct InodeRecord {
    /// `st_mode`: the `S_IF*` type bits and the permission bits (`0o7777`).
    pub mode: u32,
    pub nlink: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: i64,
    pub size: u64,
    pub offset: u64,
    pub aux0: u32,
    pub aux1: u32,
}

impl InodeRecord {
    pub fn encode(&self) -> [u8; INODE_SIZE] {
        let mut out = [0; INODE_SIZE];
        let mut w = Writer(&mut out);
        for v in [self.mode, self.nlink, self.uid, self.gid] {
            w.u32(v);
        }
        w.bytes(&self.mtime.to_le_bytes());
        w.u64(self.size);
        w.u64(self.offset);
        w.u32(self.aux0);
        w.u32(self.aux1);
        out
    }

    pub fn decode(bytes: &[u8]) -> Option<InodeRecord> {
        let mut r = Reader(bytes);
        Some(InodeRecord {
            mode: r.u32()?,
            nlink: r.u32()?,
            uid: r.u32()?,
            gid: r.u32()?,
            mtime: i64::from_le_bytes(*r.array::<8>()?),
            size: r.u64()?,
            offset: r.u64()?,
            aux0: r.u32()?,
            aux1: r.u32()?,
        })
    }
}

/// One directory entry: the inode it names and where its name is in the string table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct DirentRecord {
    pub ino: u32,
    pub name_off: u32,
    pub name_len: u32,
}

impl DirentRecord {
    pub fn encode(&self) -> [u8; DIRENT_SIZE] {
        let mut out = [0; DIRENT_SIZE];
        let mut w = Writer(&mut out);
        for v in [self.ino, self.name_off, self.name_len] {
            w.u32(v);
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Option<DirentRecord> {
        let mut r = Reader(bytes);
        Some(DirentRecord {
            ino: r.u32()?,
            name_off: r.u32()?,
            name_len: r.u32()?,
        })
    }
}

/// Little-endian reads that fail instead of panicking when the bytes run out.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn array<const N: usize>(&mut self) -> Option<&'a [u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(head)
    }

    fn u32(&mut self) -> Option<u32> {
        self.array().map(|b| u32::from_le_bytes(*b))
    }

    fn u64(&mut self) -> Option<u64> {
        self.array().map(|b| u64::from_le_bytes(*b))
    }
}

/// Little-endian writes into a fixed-size record; every record's fields add up to its size, so
/// a write past the end is a bug in this file and is ignored rather than panicking.
struct Writer<'a>(&'a mut [u8]);

impl Writer<'_> {
    fn bytes(&mut self, b: &[u8]) {
        let buf = core::mem::take(&mut self.0);
        if let Some((head, rest)) = buf.split_at_mut_checked(b.len()) {
            head.copy_from_slice(b);
            self.0 = rest;
        }
    }

    fn u32(&mut self, v: u32) {
        self.bytes(&v.to_le_bytes());
    }

    fn u64(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes());
    }
}

/// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320), the checksum over the header and the
/// metadata tables.
///
/// Why CRC-32 and not FNV-1a: both fit in a few no_std lines, but CRC-32 guarantees to detect every
/// burst error up to 32 bits and every odd number of flipped bits, which is what storage and
/// transfer corruption looks like, while FNV-1a guarantees nothing. The checksum is a corruption
/// tripwire, not a security measure: the reader is bounds-checked on any bytes whatever their
/// checksum. File data is not covered, so checking an image at start-up costs time proportional to
/// its metadata only (about 2 MB for a Debian image).
pub fn crc32(crc: u32, bytes: &[u8]) -> u32 {
    let mut c = !crc;
    for &b in bytes {
        c = CRC_TABLE[usize::from(c as u8 ^ b)] ^ (c >> 8);
    }
    !c
}

/// The byte-at-a-time table for [`crc32`], built at compile time.
const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut bit = 0;
        while bit < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            bit += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(0, b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(crc32(0, b"1234"), b"56789"), 0xCBF4_3926);
        assert_eq!(crc32(0, b""), 0);
    }

    #[test]
    fn records_round_trip() {
        let h = Header {
            version: VERSION,
            header_size: HEADER_SIZE as u32,
            inode_count: 3,
            image_len: u64::MAX,
            checksum: 0xdead_beef,
            ..Header::default()
        };
        let bytes = h.encode();
        assert_eq!(&bytes[..8], &MAGIC);
        assert_eq!(&bytes[CHECKSUM_AT..], &0xdead_beef_u32.to_le_bytes());
        assert_eq!(Header::decode(&bytes), Some((MAGIC, h)));
        assert_eq!(Header::decode(&bytes[..HEADER_SIZE - 1]), None);

        let i = InodeRecord {
            mode: 0o100644,
            mtime: -5,
            size: 7,
            aux1: 9,
            ..Default::default()
        };
        assert_eq!(InodeRecord::decode(&i.encode()), Some(i));
        let d = DirentRecord {
            ino: 1,
            name_off: 2,
            name_len: 3,
        };
        assert_eq!(DirentRecord::decode(&d.encode()), Some(d));
        assert_eq!(DirentRecord::decode(&d.encode()[..11]), None);
    }

    #[test]
    fn kinds_map_to_mode_and_dirent_type() {
        for kind in [
            Kind::Dir,
            Kind::File,
            Kind::Symlink,
            Kind::CharDevice,
            Kind::BlockDevice,
            Kind::Fifo,
            Kind::Socket,
        ] {
            assert_eq!(Kind::from_mode(kind.mode_bits() | 0o7777), Some(kind));
        }
        assert_eq!(Kind::Dir.dirent_type(), 4);
        assert_eq!(Kind::File.dirent_type(), 8);
        assert_eq!(Kind::Symlink.dirent_type(), 10);
        assert_eq!(Kind::from_mode(0o0644), None);
    }
}

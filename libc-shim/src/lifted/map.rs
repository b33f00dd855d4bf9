//! The lifted-code map: which guest addresses have lifted code, per lifted ELF.
//!
//! `compose` encodes it ([`encode`], on the host) into a data segment and names it in the layout
//! (`Layout::map_offset`/`map_len`); the runtime reads it in place ([`Map::parse`], no
//! allocation, never panics on any bytes). All integers are little-endian:
//!
//! ```text
//! header   16 bytes   magic "O2WM" u32 | version u32 (= VERSION) | elf_count u32 | 0 u32
//! elfs     24 bytes   ino u32 | entry_count u32 | bias u64 | entries_offset u32 | 0 u32
//!          (elf_count records)
//! entries  16 bytes   addr u64 | table u32 | block u32
//!          (per ELF, entry_count records at entries_offset from the start of the map,
//!          sorted by addr, strictly ascending)
//! ```
//!
//! An ELF's identity is the inode number of its file in the packed read-only filesystem image
//! and the load bias its code was translated for; entry addresses are loaded guest addresses
//! (`p_vaddr + bias`). `table` is the table-0 index of the lifted Wasm function and `block`
//! the entry-block argument it is called with.

use alloc::vec::Vec;

/// `b"O2WM"` little-endian.
pub const MAGIC: u32 = u32::from_le_bytes(*b"O2WM");
/// Version of the map encoding.
pub const VERSION: u32 = 1;

const HEADER: usize = 16;
const ELF_RECORD: usize = 24;
const ENTRY: usize = 16;

/// One lifted entry point: guest code at `addr` is block `block` of the function at table-0
/// index `table`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Entry {
    pub addr: u64,
    pub table: u32,
    pub block: u32,
}

/// One lifted ELF, as `compose` describes it to [`encode`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ElfMap {
    /// Inode number of the file in the packed filesystem image.
    pub ino: u32,
    /// The load bias the code was translated for.
    pub bias: u64,
    /// Sorted by `addr`, unique.
    pub entries: Vec<Entry>,
}

/// Why [`encode`] or [`Map::parse`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    BadMagic,
    BadVersion(u32),
    /// A record or the entries of ELF `n` lie outside the bytes.
    Truncated,
    /// The entries of ELF `n` are not strictly ascending by address.
    Unsorted(u32),
    /// More than 4 GiB of map.
    TooLarge,
}

impl core::fmt::Display for MapError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            MapError::BadMagic => f.write_str("not a lifted-code map (bad magic)"),
            MapError::BadVersion(v) => write!(f, "lifted-code map version {v} is not {VERSION}"),
            MapError::Truncated => f.write_str("lifted-code map is truncated"),
            MapError::Unsorted(n) => {
                write!(f, "lifted-code map: entries of ELF {n} are not sorted")
            }
            MapError::TooLarge => f.write_str("lifted-code map exceeds 4 GiB"),
        }
    }
}

/// Encodes `elfs` in the format above. Entries must be sorted and unique per ELF.
pub fn encode(elfs: &[ElfMap]) -> Result<Vec<u8>, MapError> {
    let total = elfs.iter().map(|e| e.entries.len()).sum::<usize>();
    let size = HEADER + elfs.len() * ELF_RECORD + total * ENTRY;
    if u32::try_from(size).is_err() {
        return Err(MapError::TooLarge);
    }
    let mut out = Vec::with_capacity(size);
    let u32s = |out: &mut Vec<u8>, v: &[u32]| v.iter().for_each(|x| out.extend(x.to_le_bytes()));
    u32s(&mut out, &[MAGIC, VERSION, elfs.len() as u32, 0]);
    let mut at = HEADER + elfs.len() * ELF_RECORD;
    for (n, e) in elfs.iter().enumerate() {
        if e.entries.windows(2).any(|w| w[0].addr >= w[1].addr) {
            return Err(MapError::Unsorted(n as u32));
        }
        u32s(&mut out, &[e.ino, e.entries.len() as u32]);
        out.extend(e.bias.to_le_bytes());
        u32s(&mut out, &[at as u32, 0]);
        at += e.entries.len() * ENTRY;
    }
    for entry in elfs.iter().flat_map(|e| &e.entries) {
        out.extend(entry.addr.to_le_bytes());
        u32s(&mut out, &[entry.table, entry.block]);
    }
    Ok(out)
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut v = [0; 4];
    v.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(v)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut v = [0; 8];
    v.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(v)
}

/// A parsed map over its bytes.
#[derive(Clone, Copy, Debug, Default)]
pub struct Map<'a> {
    bytes: &'a [u8],
    count: u32,
}

impl<'a> Map<'a> {
    /// The empty map (no lifted code).
    pub const EMPTY: Map<'static> = Map {
        bytes: &[],
        count: 0,
    };

    /// Checks the header, every record's bounds and every ELF's entry order; an empty slice is
    /// the empty map.
    pub fn parse(bytes: &'a [u8]) -> Result<Map<'a>, MapError> {
        if bytes.is_empty() {
            return Ok(Map::EMPTY);
        }
        if bytes.len() < HEADER {
            return Err(MapError::Truncated);
        }
        if u32_at(bytes, 0) != MAGIC {
            return Err(MapError::BadMagic);
        }
        let version = u32_at(bytes, 4);
        if version != VERSION {
            return Err(MapError::BadVersion(version));
        }
        let count = u32_at(bytes, 8);
        (count as usize)
            .checked_mul(ELF_RECORD)
            .and_then(|n| n.checked_add(HEADER))
            .filter(|&end| end <= bytes.len())
            .ok_or(MapError::Truncated)?;
        let map = Map { bytes, count };
        for n in 0..count {
            let at = HEADER + n as usize * ELF_RECORD;
            let (entries, offset) = (u32_at(bytes, at + 4), u32_at(bytes, at + 16));
            let end = (entries as usize)
                .checked_mul(ENTRY)
                .and_then(|len| len.checked_add(offset as usize))
                .ok_or(MapError::Truncated)?;
            if end > bytes.len() {
                return Err(MapError::Truncated);
            }
            let elf = map.elf(n);
            if (1..elf.len()).any(|i| elf.addr(i - 1) >= elf.addr(i)) {
                return Err(MapError::Unsorted(n));
            }
        }
        Ok(map)
    }

    /// Number of lifted ELFs.
    pub fn len(&self) -> u32 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// ELF `n` (`n < len()`, checked by `parse`).
    pub fn elf(&self, n: u32) -> ElfRef<'a> {
        let at = HEADER + n as usize * ELF_RECORD;
        let b = self.bytes;
        let (count, offset) = (u32_at(b, at + 4) as usize, u32_at(b, at + 16) as usize);
        ElfRef {
            ino: u32_at(b, at),
            bias: u64_at(b, at + 8),
            entries: &b[offset..offset + count * ENTRY],
        }
    }

    /// Every ELF, in order.
    pub fn elfs(&self) -> impl Iterator<Item = ElfRef<'a>> + '_ {
        (0..self.count).map(|n| self.elf(n))
    }
}

/// One ELF's part of a [`Map`].
#[derive(Clone, Copy, Debug)]
pub struct ElfRef<'a> {
    pub ino: u32,
    pub bias: u64,
    entries: &'a [u8],
}

impl ElfRef<'_> {
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len() / ENTRY
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn addr(&self, i: usize) -> u64 {
        u64_at(self.entries, i * ENTRY)
    }

    /// Entry `i` (`i < len()`).
    pub fn entry(&self, i: usize) -> Entry {
        Entry {
            addr: self.addr(i),
            table: u32_at(self.entries, i * ENTRY + 8),
            block: u32_at(self.entries, i * ENTRY + 12),
        }
    }

    /// `[lowest, highest]` entry address, if any.
    pub fn span(&self) -> Option<(u64, u64)> {
        let n = self.len();
        (n > 0).then(|| (self.addr(0), self.addr(n - 1)))
    }

    /// The entry at exactly `addr` (binary search).
    pub fn lookup(&self, addr: u64) -> Option<Entry> {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let a = self.addr(mid);
            if a == addr {
                return Some(self.entry(mid));
            }
            if a < addr {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn sample() -> Vec<ElfMap> {
        let e = |addr, table, block| Entry { addr, table, block };
        vec![
            ElfMap {
                ino: 7,
                bias: 0,
                entries: vec![e(0x401000, 40, 0), e(0x401010, 40, 1), e(0x402000, 41, 0)],
            },
            ElfMap {
                ino: 9,
                bias: 0x40_0000,
                entries: vec![],
            },
            ElfMap {
                ino: 12,
                bias: 0x40_0000,
                entries: vec![e(0x40_1000, 42, 3)],
            },
        ]
    }

    #[test]
    fn round_trips_and_looks_up() {
        let elfs = sample();
        let bytes = encode(&elfs).unwrap();
        assert_eq!(bytes.len(), 16 + 3 * 24 + 4 * 16);
        let map = Map::parse(&bytes).unwrap();
        assert_eq!(map.len(), 3);
        for (got, want) in map.elfs().zip(&elfs) {
            assert_eq!(
                (got.ino, got.bias, got.len()),
                (want.ino, want.bias, want.entries.len())
            );
            for (i, e) in want.entries.iter().enumerate() {
                assert_eq!(got.entry(i), *e);
                assert_eq!(got.lookup(e.addr), Some(*e));
                assert_eq!(got.lookup(e.addr + 1), None);
            }
        }
        let first = map.elf(0);
        assert_eq!(first.span(), Some((0x401000, 0x402000)));
        assert_eq!(first.lookup(0x400fff), None);
        assert_eq!(first.lookup(0x402001), None);
        assert_eq!(map.elf(1).span(), None);
        assert_eq!(map.elf(1).lookup(0x401000), None);
        assert!(Map::parse(&[]).unwrap().is_empty());
        assert!(Map::parse(&encode(&[]).unwrap()).unwrap().is_empty());
    }

    #[test]
    fn refuses_bad_bytes_without_panicking() {
        let bytes = encode(&sample()).unwrap();
        for cut in 1..bytes.len() {
            assert!(Map::parse(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut bad = bytes.clone();
        bad[0] ^= 1;
        assert_eq!(Map::parse(&bad).unwrap_err(), MapError::BadMagic);
        let mut bad = bytes.clone();
        bad[4] = 9;
        assert_eq!(Map::parse(&bad).unwrap_err(), MapError::BadVersion(9));
        // Swap the first two entries of ELF 0.
        let mut bad = bytes.clone();
        let at = 16 + 3 * 24;
        let (a, b) = bad[at..at + 32].split_at_mut(16);
        a.swap_with_slice(b);
        assert_eq!(Map::parse(&bad).unwrap_err(), MapError::Unsorted(0));
        let mut unsorted = sample();
        let again = unsorted[2].entries[0];
        unsorted[2].entries.push(again);
        assert_eq!(encode(&unsorted).unwrap_err(), MapError::Unsorted(2));
        // Huge counts and offsets.
        let mut bad = bytes.clone();
        bad[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(Map::parse(&bad).unwrap_err(), MapError::Truncated);
        let mut bad = bytes;
        bad[16 + 16..16 + 20].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(Map::parse(&bad).unwrap_err(), MapError::Truncated);
    }
}

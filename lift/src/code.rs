//! The loaded bytes of an ELF file: its `PT_LOAD` segments as they sit in memory at a load bias.
//!
//! [`Code`] answers the questions the lifter asks about addresses: is this code, what bytes start
//! here, what data word is stored there. Only the file-backed part of each segment is kept (the
//! zero-filled tail of `.bss` holds no code and no initialised pointers). Addresses are always
//! *loaded* addresses, `p_vaddr + bias`; for a fixed-address executable the bias is normally 0.
//!
//! ```
//! let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
//! let code = oci2wasm_lift::code::Code::new(&exe, 0).unwrap();
//! assert!(code.is_code(code.entry()));
//! ```

use goblin::elf::Elf;
use goblin::elf::header::EM_X86_64;
use goblin::elf::program_header::{PF_W, PF_X, PT_LOAD};

use crate::discover::DiscoverError;

/// One file-backed `PT_LOAD` segment at its loaded address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment<'a> {
    /// Loaded address of the first byte (`p_vaddr + bias`).
    pub start: u64,
    /// The file bytes (`p_filesz` of them).
    pub bytes: &'a [u8],
    /// `PF_X`.
    pub executable: bool,
    /// `PF_W`.
    pub writable: bool,
}

impl Segment<'_> {
    /// One past the last file-backed byte.
    pub fn end(&self) -> u64 {
        self.start + self.bytes.len() as u64
    }

    /// Whether `addr` is inside the file-backed part.
    pub fn contains(&self, addr: u64) -> bool {
        addr >= self.start && addr < self.end()
    }
}

/// The executable bytes of an ELF as loaded at `bias` (and, for reading tables and pointers, its
/// other loaded bytes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Code<'a> {
    /// Every file-backed `PT_LOAD` segment, in program-header order.
    segments: Vec<Segment<'a>>,
    entry: u64,
    bias: u64,
}

impl<'a> Code<'a> {
    /// Maps the `PT_LOAD` segments of a 64-bit x86-64 ELF at `bias`.
    pub fn new(elf_bytes: &'a [u8], bias: u64) -> Result<Code<'a>, DiscoverError> {
        let elf = Elf::parse_header(elf_bytes).map_err(|e| DiscoverError::Parse(e.to_string()))?;
        if !elf.container().map(|c| c.is_big()).unwrap_or(false) || elf.e_machine != EM_X86_64 {
            return Err(DiscoverError::NotX86_64 {
                machine: elf.e_machine,
            });
        }
        let elf = Elf::parse(elf_bytes).map_err(|e| DiscoverError::Parse(e.to_string()))?;
        let mut segments = Vec::new();
        for ph in elf.program_headers.iter().filter(|ph| ph.p_type == PT_LOAD) {
            if ph.p_filesz == 0 {
                continue;
            }
            let bad = DiscoverError::SegmentOutsideFile {
                vaddr: ph.p_vaddr,
                offset: ph.p_offset,
                size: ph.p_filesz,
            };
            let Some(file_end) = ph.p_offset.checked_add(ph.p_filesz) else {
                return Err(bad);
            };
            let (Ok(lo), Ok(hi)) = (usize::try_from(ph.p_offset), usize::try_from(file_end)) else {
                return Err(bad);
            };
            let Some(bytes) = elf_bytes.get(lo..hi) else {
                return Err(bad);
            };
            let start = ph
                .p_vaddr
                .checked_add(bias)
                .filter(|s| s.checked_add(ph.p_filesz).is_some())
                .ok_or(DiscoverError::AddressOverflow {
                    vaddr: ph.p_vaddr,
                    bias,
                })?;
            segments.push(Segment {
                start,
                bytes,
                executable: ph.p_flags & PF_X != 0,
                writable: ph.p_flags & PF_W != 0,
            });
        }
        if !segments.iter().any(|s| s.executable) {
            return Err(DiscoverError::NoCode);
        }
        Ok(Code {
            segments,
            entry: elf.entry.wrapping_add(bias),
            bias,
        })
    }

    /// The bytes from `addr` to the end of the executable segment holding it (file-backed part only).
    pub fn bytes_at(&self, addr: u64) -> Option<&'a [u8]> {
        let seg = self
            .segments
            .iter()
            .find(|s| s.executable && s.contains(addr))?;
        seg.bytes.get(usize::try_from(addr - seg.start).ok()?..)
    }

    /// Whether `addr` is inside an executable segment.
    pub fn is_code(&self, addr: u64) -> bool {
        self.segments
            .iter()
            .any(|s| s.executable && s.contains(addr))
    }

    /// Executable ranges [start, end).
    pub fn ranges(&self) -> Vec<(u64, u64)> {
        self.segments
            .iter()
            .filter(|s| s.executable)
            .map(|s| (s.start, s.end()))
            .collect()
    }

    /// `e_entry + bias`.
    pub fn entry(&self) -> u64 {
        self.entry
    }

    /// The load bias the segments were mapped at.
    pub fn bias(&self) -> u64 {
        self.bias
    }

    /// Every file-backed loaded segment, executable or not.
    pub fn segments(&self) -> &[Segment<'a>] {
        &self.segments
    }

    /// `len` loaded bytes at `addr` from any segment (not only code), if all are file-backed.
    pub fn read(&self, addr: u64, len: usize) -> Option<&'a [u8]> {
        let seg = self.segments.iter().find(|s| s.contains(addr))?;
        let lo = usize::try_from(addr - seg.start).ok()?;
        seg.bytes.get(lo..lo.checked_add(len)?)
    }

    /// The little-endian 64-bit word stored at `addr`, as in the file (no relocation applied).
    pub fn read_u64(&self, addr: u64) -> Option<u64> {
        let b = self.read(addr, 8)?;
        Some(u64::from_le_bytes(b.try_into().ok()?))
    }

    /// The little-endian 32-bit word stored at `addr`, as in the file.
    pub fn read_u32(&self, addr: u64) -> Option<u32> {
        let b = self.read(addr, 4)?;
        Some(u32::from_le_bytes(b.try_into().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_own_executable() {
        let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let code = Code::new(&exe, 0x1000_0000).unwrap();
        assert!(code.is_code(code.entry()));
        assert!(code.bytes_at(code.entry()).is_some_and(|b| !b.is_empty()));
        let (start, end) = code.ranges()[0];
        assert!(start < end && code.is_code(start) && !code.is_code(end));
        assert_eq!(code.bias(), 0x1000_0000);
    }

    #[test]
    fn rejects_garbage() {
        assert!(Code::new(b"not an elf at all", 0).is_err());
        assert!(Code::new(&[], 0).is_err());
    }
}

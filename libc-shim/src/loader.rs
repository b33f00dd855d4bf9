//! ELF loading and the initial stack.
//!
//! Executables load as Linux's `binfmt_elf` loads them: fixed-address (`ET_EXEC`) at their link
//! addresses, position-independent ones (`ET_DYN`, static-pie or PIE) at [`EXE_BASE`], and an
//! executable with `PT_INTERP` gets its interpreter (the dynamic loader) loaded too, in the mmap
//! area, and control starts there with `AT_BASE` pointing at it. The stack gets `argc`, `argv`,
//! `envp` and the auxiliary vector, 16-byte aligned as the ABI requires.
//!
//! The headers are parsed by hand rather than with `goblin` (which needs std): only the ELF header
//! and program headers are needed, every field is read through a bounds-checked helper, and
//! every size and offset is checked with checked arithmetic, so a malformed file is a
//! [`LoadError`], never a panic.

use crate::abi::auxv::*;
use crate::abi::mm::{PROT_EXEC, PROT_READ, PROT_WRITE};
use crate::mem::{GuestMem, PAGE};
use crate::mm::{EXE_BASE, Mm};
use alloc::vec::Vec;

/// Why an executable could not be loaded (fatal for the runtime, not a guest errno).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoadError {
    NotElf,
    /// Not a little-endian 64-bit x86-64 executable.
    WrongArch,
    /// A header or segment lies outside the file or is inconsistent, at this file offset.
    Malformed(u64),
    /// The address space cannot hold it.
    NoMemory,
    /// The interpreter named by `PT_INTERP` could not be opened.
    Interp(Vec<u8>),
}

impl core::fmt::Display for LoadError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            LoadError::NotElf => f.write_str("not an ELF file"),
            LoadError::WrongArch => f.write_str("not an x86-64 Linux executable"),
            LoadError::Malformed(at) => write!(f, "malformed ELF header at byte {at}"),
            LoadError::NoMemory => f.write_str("does not fit in the address space"),
            LoadError::Interp(p) => write!(
                f,
                "cannot open interpreter {}",
                alloc::string::String::from_utf8_lossy(p)
            ),
        }
    }
}

const PT_LOAD: u32 = 1;
const PT_INTERP: u32 = 3;
const PT_PHDR: u32 = 6;
const ET_EXEC: u16 = 2;
const ET_DYN: u16 = 3;
const EM_X86_64: u16 = 62;
const PHENT: u64 = 56;

/// One program header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Phdr {
    pub kind: u32,
    pub flags: u32,
    pub offset: u64,
    pub vaddr: u64,
    pub filesz: u64,
    pub memsz: u64,
}

/// The parts of an ELF file the loader uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Elf {
    pub dynamic: bool,
    pub entry: u64,
    pub phoff: u64,
    pub phdrs: Vec<Phdr>,
    /// `PT_INTERP` path, without its NUL.
    pub interp: Option<Vec<u8>>,
}

fn field<const N: usize>(b: &[u8], at: u64) -> Result<[u8; N], LoadError> {
    let start = usize::try_from(at).map_err(|_| LoadError::Malformed(at))?;
    b.get(start..start.checked_add(N).ok_or(LoadError::Malformed(at))?)
        .and_then(|s| s.try_into().ok())
        .ok_or(LoadError::Malformed(at))
}
fn u16_at(b: &[u8], at: u64) -> Result<u16, LoadError> {
    field(b, at).map(u16::from_le_bytes)
}
fn u32_at(b: &[u8], at: u64) -> Result<u32, LoadError> {
    field(b, at).map(u32::from_le_bytes)
}
fn u64_at(b: &[u8], at: u64) -> Result<u64, LoadError> {
    field(b, at).map(u64::from_le_bytes)
}

impl Elf {
    pub fn parse(b: &[u8]) -> Result<Elf, LoadError> {
        if b.get(..4) != Some(b"\x7fELF") {
            return Err(LoadError::NotElf);
        }
        if b.get(4) != Some(&2) || b.get(5) != Some(&1) || u16_at(b, 18)? != EM_X86_64 {
            return Err(LoadError::WrongArch);
        }
        let kind = u16_at(b, 16)?;
        if kind != ET_EXEC && kind != ET_DYN {
            return Err(LoadError::WrongArch);
        }
        let (entry, phoff) = (u64_at(b, 24)?, u64_at(b, 32)?);
        let (phentsize, phnum) = (u16_at(b, 54)?, u16_at(b, 56)?);
        if u64::from(phentsize) != PHENT || phnum == 0 {
            return Err(LoadError::Malformed(54));
        }
        let mut phdrs = Vec::new();
        let mut interp = None;
        for i in 0..u64::from(phnum) {
            let at = phoff
                .checked_add(i * PHENT)
                .ok_or(LoadError::Malformed(32))?;
            let ph = Phdr {
                kind: u32_at(b, at)?,
                flags: u32_at(b, at + 4)?,
                offset: u64_at(b, at + 8)?,
                vaddr: u64_at(b, at + 16)?,
                filesz: u64_at(b, at + 32)?,
                memsz: u64_at(b, at + 40)?,
            };
            let end = ph
                .offset
                .checked_add(ph.filesz)
                .ok_or(LoadError::Malformed(at))?;
            if ph.kind == PT_LOAD
                && (end > b.len() as u64
                    || ph.filesz > ph.memsz
                    || ph.vaddr % PAGE != ph.offset % PAGE)
            {
                return Err(LoadError::Malformed(at));
            }
            if ph.kind == PT_INTERP {
                let s = b
                    .get(ph.offset as usize..end as usize)
                    .ok_or(LoadError::Malformed(at))?;
                let len = s.iter().position(|&c| c == 0).unwrap_or(s.len());
                interp = Some(s[..len].to_vec());
            }
            phdrs.push(ph);
        }
        if !phdrs.iter().any(|p| p.kind == PT_LOAD) {
            return Err(LoadError::Malformed(phoff));
        }
        Ok(Elf {
            dynamic: kind == ET_DYN,
            entry,
            phoff,
            phdrs,
            interp,
        })
    }

    /// `[lowest page, end)` of the loadable segments, before relocation.
    fn span(&self) -> Result<(u64, u64), LoadError> {
        let loads = self.phdrs.iter().filter(|p| p.kind == PT_LOAD);
        let lo = loads
            .clone()
            .map(|p| p.vaddr & !(PAGE - 1))
            .min()
            .unwrap_or(0);
        let mut hi = 0u64;
        for p in loads {
            hi = hi.max(
                p.vaddr
                    .checked_add(p.memsz)
                    .ok_or(LoadError::Malformed(self.phoff))?,
            );
        }
        Ok((
            lo,
            hi.checked_add(PAGE - 1).ok_or(LoadError::NoMemory)? & !(PAGE - 1),
        ))
    }
}

/// Where a loaded file ended up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Loaded {
    /// Added to every address of the file.
    pub bias: u64,
    pub entry: u64,
    /// Address of the program headers in memory.
    pub phdr: u64,
    pub phnum: u64,
    /// End of the highest segment.
    pub end: u64,
}

fn seg_prot(flags: u32) -> u64 {
    let mut p = 0;
    if flags & 4 != 0 {
        p |= PROT_READ;
    }
    if flags & 2 != 0 {
        p |= PROT_WRITE;
    }
    if flags & 1 != 0 {
        p |= PROT_EXEC;
    }
    p
}

/// Maps the `PT_LOAD` segments of `elf` (bytes `file`) at `base` (for `ET_DYN`; `None`: the mmap
/// area) and names them `path` in `/proc/self/maps`.
pub fn load(
    mm: &mut Mm,
    mem: &mut GuestMem,
    elf: &Elf,
    file: &[u8],
    path: &[u8],
    base: Option<u64>,
) -> Result<Loaded, LoadError> {
    let (lo, hi) = elf.span()?;
    let len = hi - lo;
    let bias = if elf.dynamic {
        let at = match base {
            Some(b) => b,
            None => mm.find_free(0, len).map_err(|_| LoadError::NoMemory)?,
        };
        at.wrapping_sub(lo)
    } else {
        0
    };
    let start = lo.wrapping_add(bias);
    mm.map_fixed(mem, start, len, PROT_READ | PROT_WRITE, path, 0)
        .map_err(|_| LoadError::NoMemory)?;
    // Page protections: the union of the segments covering each page; gaps are unmapped.
    let pages = (len / PAGE) as usize;
    let mut prot = alloc::vec![None::<u64>; pages];
    for p in elf.phdrs.iter().filter(|p| p.kind == PT_LOAD) {
        let data = &file[p.offset as usize..(p.offset + p.filesz) as usize];
        mm.poke(mem, p.vaddr.wrapping_add(bias), data)
            .map_err(|_| LoadError::NoMemory)?;
        let first = ((p.vaddr & !(PAGE - 1)) - lo) / PAGE;
        let last = (p.vaddr + p.memsz).div_ceil(PAGE) - lo / PAGE;
        for slot in &mut prot[first as usize..last as usize] {
            *slot = Some(slot.unwrap_or(0) | seg_prot(p.flags));
        }
    }
    for (i, pr) in prot.iter().enumerate() {
        let at = start + i as u64 * PAGE;
        let r = match pr {
            Some(pr) => mm.mprotect(mem, at, PAGE, *pr),
            None => mm.munmap(mem, at, PAGE),
        };
        r.map_err(|_| LoadError::NoMemory)?;
    }
    let phdr = match elf.phdrs.iter().find(|p| p.kind == PT_PHDR) {
        Some(p) => p.vaddr,
        None => elf
            .phdrs
            .iter()
            .find(|p| p.kind == PT_LOAD && p.offset <= elf.phoff && elf.phoff < p.offset + p.filesz)
            .map_or(0, |p| p.vaddr + (elf.phoff - p.offset)),
    };
    Ok(Loaded {
        bias,
        entry: elf.entry.wrapping_add(bias),
        phdr: phdr.wrapping_add(bias),
        phnum: elf.phdrs.len() as u64,
        end: hi.wrapping_add(bias),
    })
}

/// Reads the interpreter at a path: its bytes and canonical path.
pub type OpenInterp<'a> = dyn FnMut(&[u8]) -> Option<(Vec<u8>, Vec<u8>)> + 'a;

/// Loads an executable (and its interpreter, read with `open_interp`), sets up `brk`, and
/// returns the executable's placement, the interpreter's (if any) and the entry point.
pub fn load_program(
    mm: &mut Mm,
    mem: &mut GuestMem,
    file: &[u8],
    path: &[u8],
    open_interp: &mut OpenInterp<'_>,
) -> Result<(Loaded, Option<Loaded>, u64), LoadError> {
    let elf = Elf::parse(file)?;
    let exe = load(mm, mem, &elf, file, path, Some(EXE_BASE))?;
    mm.set_brk_start(exe.end);
    let Some(ipath) = &elf.interp else {
        return Ok((exe, None, exe.entry));
    };
    let (ibytes, icanon) = open_interp(ipath).ok_or_else(|| LoadError::Interp(ipath.clone()))?;
    let ielf = Elf::parse(&ibytes)?;
    let interp = load(mm, mem, &ielf, &ibytes, &icanon, None)?;
    Ok((exe, Some(interp), interp.entry))
}

/// What goes on the initial stack.
#[derive(Debug)]
pub struct StackSetup<'a> {
    pub argv: &'a [Vec<u8>],
    pub envp: &'a [Vec<u8>],
    pub execfn: &'a [u8],
    pub exe: Loaded,
    pub interp: Option<Loaded>,
    pub uid: u32,
    pub gid: u32,
    pub random: [u8; 16],
}

/// Writes strings, `argc`, `argv`, `envp` and the auxiliary vector below `top`; returns the
/// initial `rsp` (16-byte aligned, pointing at `argc`).
pub fn build_stack(
    mm: &mut Mm,
    mem: &mut GuestMem,
    top: u64,
    s: &StackSetup<'_>,
) -> Result<u64, LoadError> {
    let mut sp = top;
    let mut push =
        |mm: &mut Mm, mem: &mut GuestMem, bytes: &[u8], nul: bool| -> Result<u64, LoadError> {
            sp -= bytes.len() as u64 + u64::from(nul);
            mm.poke(mem, sp, bytes).map_err(|_| LoadError::NoMemory)?;
            if nul {
                mm.poke(mem, sp + bytes.len() as u64, &[0])
                    .map_err(|_| LoadError::NoMemory)?;
            }
            Ok(sp)
        };
    push(mm, mem, &[0; 8], false)?;
    let execfn = push(mm, mem, s.execfn, true)?;
    let mut envp = Vec::new();
    for e in s.envp.iter().rev() {
        envp.push(push(mm, mem, e, true)?);
    }
    envp.reverse();
    let mut argv = Vec::new();
    for a in s.argv.iter().rev() {
        argv.push(push(mm, mem, a, true)?);
    }
    argv.reverse();
    let platform = push(mm, mem, b"x86_64", true)?;
    let random = push(mm, mem, &s.random, false)?;
    let auxv: [(u64, u64); 18] = [
        (AT_PHDR, s.exe.phdr),
        (AT_PHENT, PHENT),
        (AT_PHNUM, s.exe.phnum),
        (AT_PAGESZ, PAGE),
        (AT_BASE, s.interp.map_or(0, |i| i.bias)),
        (AT_FLAGS, 0),
        (AT_ENTRY, s.exe.entry),
        (AT_UID, u64::from(s.uid)),
        (AT_EUID, u64::from(s.uid)),
        (AT_GID, u64::from(s.gid)),
        (AT_EGID, u64::from(s.gid)),
        (AT_SECURE, 0),
        (AT_RANDOM, random),
        (AT_HWCAP, HWCAP),
        (AT_HWCAP2, 0),
        (AT_CLKTCK, 100),
        (AT_PLATFORM, platform),
        (AT_EXECFN, execfn),
    ];
    let mut words: Vec<u64> = Vec::new();
    words.push(argv.len() as u64);
    words.extend(&argv);
    words.push(0);
    words.extend(&envp);
    words.push(0);
    for (k, v) in auxv {
        words.extend([k, v]);
    }
    words.extend([AT_NULL, 0]);
    let mut rsp = (sp - words.len() as u64 * 8) & !15;
    if rsp < top.saturating_sub(crate::mm::STACK_SIZE) {
        return Err(LoadError::NoMemory);
    }
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    mm.poke(mem, rsp, &bytes).map_err(|_| LoadError::NoMemory)?;
    rsp &= !15;
    Ok(rsp)
}

#[cfg(test)]
pub(crate) mod tests;

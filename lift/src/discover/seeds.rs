//! Where descent starts: function starts the ELF states outright (entry, symbols, init/fini
//! arrays, `.eh_frame`, relocations), and pointer-shaped data words found by scanning.

use std::collections::{BTreeMap, HashMap, HashSet};

use gimli::{BaseAddresses, CieOrFde, EhFrame, EhFrameHdr, LittleEndian, Pointer, UnwindSection};
use goblin::elf::Elf;
use goblin::elf::dynamic::{
    DT_FINI, DT_FINI_ARRAY, DT_FINI_ARRAYSZ, DT_INIT, DT_INIT_ARRAY, DT_INIT_ARRAYSZ,
    DT_PREINIT_ARRAY, DT_PREINIT_ARRAYSZ,
};
use goblin::elf::header::ET_DYN;
use goblin::elf::program_header::PT_GNU_EH_FRAME;
use goblin::elf::reloc::{R_X86_64_64, R_X86_64_IRELATIVE, R_X86_64_RELATIVE};
use goblin::elf::section_header::{SHT_DYNSYM, SHT_FINI_ARRAY, SHT_INIT_ARRAY, SHT_PREINIT_ARRAY};
use goblin::elf::sym::{STT_FUNC, STT_GNU_IFUNC};
use iced_x86::{Decoder, DecoderOptions, FlowControl, Mnemonic};

use super::Source;
use super::descent::{State, Walker};
use crate::code::Code;

/// A discovered seed: address and why.
pub(super) type Seed = (u64, Source);

/// `.eh_frame` function regions: FDE start -> end (loaded addresses).
pub(super) type Regions = BTreeMap<u64, u64>;

/// Most entries an init/fini array is read for (a corrupt size must not make us spin).
const MAX_ARRAY: u64 = 1 << 16;

/// The relocations of the file, as the data words they produce once applied.
#[derive(Debug, Default)]
pub(super) struct Relocations {
    /// Loaded address of a relocated word -> its value after relocation.
    words: HashMap<u64, u64>,
    /// `R_X86_64_IRELATIVE` resolver functions.
    resolvers: Vec<u64>,
    /// Words other relocations overwrite with values not known here (`IRELATIVE` results,
    /// symbol lookups, TLS offsets): the file's word there is not what the program sees.
    unknown: HashSet<u64>,
    /// `ET_DYN`: unrelocated words are offsets, not addresses.
    position_independent: bool,
    bias: u64,
}

impl Relocations {
    /// Collects `RELATIVE`, `64` and `IRELATIVE` relocations from the dynamic section and from
    /// every `SHT_RELA` section (static non-PIE glibc programs keep `IRELATIVE` in `.rela.plt`
    /// without a dynamic section).
    pub(super) fn read(elf: &Elf<'_>, bias: u64) -> Relocations {
        let mut out = Relocations {
            position_independent: elf.header.e_type == ET_DYN,
            bias,
            ..Relocations::default()
        };
        let dyn_relocs = elf.dynrelas.iter().chain(elf.pltrelocs.iter());
        let dynsym_link = |idx: usize| {
            elf.section_headers
                .get(idx)
                .and_then(|sh| elf.section_headers.get(sh.sh_link as usize))
                .is_none_or(|l| l.sh_type == SHT_DYNSYM)
        };
        let mut add = |r: goblin::elf::Reloc, dynamic_syms: bool| {
            let at = r.r_offset.wrapping_add(bias);
            let addend = r.r_addend.unwrap_or(0) as u64;
            match r.r_type {
                R_X86_64_RELATIVE => {
                    out.words.insert(at, addend.wrapping_add(bias));
                }
                R_X86_64_IRELATIVE => {
                    out.resolvers.push(addend.wrapping_add(bias));
                    out.unknown.insert(at);
                }
                R_X86_64_64 => {
                    let syms = if dynamic_syms {
                        &elf.dynsyms
                    } else {
                        &elf.syms
                    };
                    if let Some(s) = syms.get(r.r_sym).filter(|s| s.st_shndx != 0) {
                        let value = s.st_value.wrapping_add(addend).wrapping_add(bias);
                        out.words.insert(at, value);
                    } else {
                        out.unknown.insert(at);
                    }
                }
                _ => {
                    out.unknown.insert(at);
                }
            }
        };
        for r in dyn_relocs {
            add(r, true);
        }
        for (idx, section) in &elf.shdr_relocs {
            let dynamic_syms = dynsym_link(*idx);
            for r in section.iter() {
                add(r, dynamic_syms);
            }
        }
        out
    }

    /// The pointer-sized word at `addr` once relocated: the relocation's value, or for a
    /// fixed-address file the stored word. `None` for an unrelocated word of a PIE (not a
    /// pointer) and for a word a relocation sets to something not known here.
    pub(super) fn word(&self, code: &Code<'_>, addr: u64) -> Option<u64> {
        if let Some(v) = self.words.get(&addr) {
            return Some(*v);
        }
        if self.position_independent || self.unknown.contains(&addr) {
            return None;
        }
        code.read_u64(addr).map(|w| w.wrapping_add(self.bias))
    }
}

/// The entry point and every defined function symbol that lies in code.
pub(super) fn entry_and_symbols(code: &Code<'_>, elf: &Elf<'_>, out: &mut Vec<Seed>) {
    if code.is_code(code.entry()) {
        out.push((code.entry(), Source::Entry));
    }
    for sym in elf.syms.iter().chain(elf.dynsyms.iter()) {
        let kind = sym.st_type();
        if (kind == STT_FUNC || kind == STT_GNU_IFUNC) && sym.st_value != 0 && sym.st_shndx != 0 {
            let addr = sym.st_value.wrapping_add(code.bias());
            if code.is_code(addr) {
                out.push((addr, Source::Symbol));
            }
        }
    }
}

/// `.preinit_array`, `.init_array`, `.fini_array` (section headers and dynamic tags), `DT_INIT`
/// and `DT_FINI`.
pub(super) fn init_arrays(
    code: &Code<'_>,
    elf: &Elf<'_>,
    relocs: &Relocations,
    out: &mut Vec<Seed>,
) {
    let bias = code.bias();
    let mut arrays: Vec<(u64, u64, Source)> = Vec::new();
    for sh in &elf.section_headers {
        let source = match sh.sh_type {
            SHT_INIT_ARRAY => Source::InitArray,
            SHT_FINI_ARRAY => Source::FiniArray,
            SHT_PREINIT_ARRAY => Source::PreinitArray,
            _ => continue,
        };
        arrays.push((sh.sh_addr.wrapping_add(bias), sh.sh_size, source));
    }
    if let Some(dynamic) = &elf.dynamic {
        let tag = |t: u64| dynamic.dyns.iter().find(|d| d.d_tag == t).map(|d| d.d_val);
        for (at, size, source) in [
            (DT_INIT_ARRAY, DT_INIT_ARRAYSZ, Source::InitArray),
            (DT_FINI_ARRAY, DT_FINI_ARRAYSZ, Source::FiniArray),
            (DT_PREINIT_ARRAY, DT_PREINIT_ARRAYSZ, Source::PreinitArray),
        ] {
            if let (Some(at), Some(size)) = (tag(at), tag(size)) {
                arrays.push((at.wrapping_add(bias), size, source));
            }
        }
        for (t, source) in [(DT_INIT, Source::InitArray), (DT_FINI, Source::FiniArray)] {
            if let Some(addr) = tag(t).map(|a| a.wrapping_add(bias))
                && code.is_code(addr)
            {
                out.push((addr, source));
            }
        }
    }
    for (start, size, source) in arrays {
        for i in 0..(size / 8).min(MAX_ARRAY) {
            let Some(addr) = relocs.word(code, start.wrapping_add(i * 8)) else {
                continue;
            };
            if code.is_code(addr) {
                out.push((addr, source));
            }
        }
    }
}

/// FDE initial locations from `.eh_frame` (found by section name, or through `PT_GNU_EH_FRAME`
/// when there are no section headers). Returns every FDE's region. A malformed entry ends the
/// walk; what was read before it is kept.
pub(super) fn eh_frame(
    code: &Code<'_>,
    elf: &Elf<'_>,
    elf_bytes: &[u8],
    out: &mut Vec<Seed>,
) -> Regions {
    let mut regions = Regions::new();
    let Some((bytes, link_addr)) = eh_frame_bytes(code, elf, elf_bytes) else {
        return regions;
    };
    let eh = EhFrame::new(bytes, LittleEndian);
    let bases = BaseAddresses::default().set_eh_frame(link_addr);
    let mut entries = eh.entries(&bases);
    while let Ok(Some(entry)) = entries.next() {
        let CieOrFde::Fde(partial) = entry else {
            continue;
        };
        let Ok(fde) = partial.parse(EhFrame::cie_from_offset) else {
            continue;
        };
        let start = fde.initial_address().wrapping_add(code.bias());
        if fde.initial_address() != 0 && code.is_code(start) {
            out.push((start, Source::EhFrame));
            let end = start.saturating_add(fde.len());
            let e = regions.entry(start).or_insert(end);
            *e = (*e).max(end);
        }
    }
    regions
}

/// The `.eh_frame` bytes and their link-time address.
fn eh_frame_bytes<'a>(
    code: &Code<'a>,
    elf: &Elf<'_>,
    elf_bytes: &'a [u8],
) -> Option<(&'a [u8], u64)> {
    let named = elf.section_headers.iter().find(|sh| {
        elf.shdr_strtab.get_at(sh.sh_name) == Some(".eh_frame") && sh.sh_type != 8 // SHT_NOBITS
    });
    if let Some(sh) = named {
        let lo = usize::try_from(sh.sh_offset).ok()?;
        let hi = lo.checked_add(usize::try_from(sh.sh_size).ok()?)?;
        return Some((elf_bytes.get(lo..hi)?, sh.sh_addr));
    }
    let ph = elf
        .program_headers
        .iter()
        .find(|ph| ph.p_type == PT_GNU_EH_FRAME)?;
    let lo = usize::try_from(ph.p_offset).ok()?;
    let hi = lo.checked_add(usize::try_from(ph.p_filesz).ok()?)?;
    let hdr = EhFrameHdr::new(elf_bytes.get(lo..hi)?, LittleEndian);
    let bases = BaseAddresses::default().set_eh_frame_hdr(ph.p_vaddr);
    let parsed = hdr.parse(&bases, 8).ok()?;
    let Pointer::Direct(link_addr) = parsed.eh_frame_ptr() else {
        return None;
    };
    let loaded = link_addr.wrapping_add(code.bias());
    let seg = code.segments().iter().find(|s| s.contains(loaded))?;
    let bytes = seg.bytes.get(usize::try_from(loaded - seg.start).ok()?..)?;
    Some((bytes, link_addr))
}

/// Relocated words and `IRELATIVE` resolvers that point into code.
pub(super) fn relocation_targets(code: &Code<'_>, relocs: &Relocations, out: &mut Vec<Seed>) {
    let mut targets: Vec<u64> = relocs.words.values().copied().collect();
    targets.extend(&relocs.resolvers);
    targets.sort_unstable();
    targets.dedup();
    out.extend(
        targets
            .into_iter()
            .filter(|&t| code.is_code(t))
            .map(|t| (t, Source::Relocation)),
    );
}

/// 8-byte-aligned words of non-executable data (outside recognised jump tables) whose value is
/// an instruction start descent already found, or a new address that decodes plausibly.
pub(super) fn data_pointers(
    code: &Code<'_>,
    relocs: &Relocations,
    walker: &Walker<'_>,
    out: &mut Vec<u64>,
) {
    for seg in code.segments().iter().filter(|s| !s.executable) {
        let Some(mut addr) = seg.start.checked_next_multiple_of(8) else {
            continue;
        };
        while addr.saturating_add(8) <= seg.end() {
            let here = addr;
            addr += 8;
            if walker.in_table(here) {
                continue;
            }
            let Some(value) = relocs.word(code, here) else {
                continue;
            };
            if starts_code(code, walker, value) {
                out.push(value);
            }
        }
    }
    out.sort_unstable();
    out.dedup();
}

/// The addresses of `refs` that are a decoded instruction start or plausibly start code.
pub(super) fn plausible_starts<T>(
    code: &Code<'_>,
    walker: &Walker<'_>,
    refs: Vec<(u64, T)>,
) -> Vec<(u64, T)> {
    refs.into_iter()
        .filter(|(addr, _)| starts_code(code, walker, *addr))
        .collect()
}

/// Whether `addr` is a decoded instruction start, or undecoded and plausible.
fn starts_code(code: &Code<'_>, walker: &Walker<'_>, addr: u64) -> bool {
    match walker.state(addr) {
        Some(State::Start) => true,
        Some(State::Unknown) => plausible(code, walker, addr),
        Some(State::Interior) | None => false,
    }
}

/// Whether code at `addr` (not yet decoded) looks like the start of a function: up to 16
/// instructions decode without error, none privileged or a padding `int3`, none straddling a
/// known instruction, ending at a control transfer or at known code.
fn plausible(code: &Code<'_>, walker: &Walker<'_>, addr: u64) -> bool {
    let Some(bytes) = code.bytes_at(addr) else {
        return false;
    };
    if bytes.starts_with(&[0, 0]) {
        return false;
    }
    let mut decoder = Decoder::with_ip(64, bytes, addr, DecoderOptions::NONE);
    for n in 0..16 {
        if !decoder.can_decode() {
            return false;
        }
        let ip = decoder.ip();
        if n > 0 && walker.state(ip) == Some(State::Start) {
            return true;
        }
        let instr = decoder.decode();
        if instr.is_invalid() || walker.state(ip) != Some(State::Unknown) {
            return false;
        }
        if matches!(
            instr.mnemonic(),
            Mnemonic::Int3
                | Mnemonic::Hlt
                | Mnemonic::In
                | Mnemonic::Out
                | Mnemonic::Insb
                | Mnemonic::Insd
                | Mnemonic::Outsb
                | Mnemonic::Outsd
                | Mnemonic::Cli
                | Mnemonic::Sti
                | Mnemonic::Iretq
                | Mnemonic::Iretd
        ) {
            return false;
        }
        match instr.flow_control() {
            FlowControl::Return
            | FlowControl::UnconditionalBranch
            | FlowControl::IndirectBranch => {
                return true;
            }
            FlowControl::Exception | FlowControl::Interrupt => return false,
            _ => {}
        }
    }
    true
}

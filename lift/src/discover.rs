//! Code discovery: where the functions, basic blocks and `switch` jump tables of an x86-64 ELF are.
//!
//! Discovery works on any x86-64 ELF — static or dynamic, PIE or fixed address, stripped or not —
//! and in three steps:
//!
//! 1. **Seeds** ([`seeds`]): the entry point; `STT_FUNC`/`STT_GNU_IFUNC` symbols of `.symtab` and
//!    `.dynsym`; `.preinit_array`/`.init_array`/`.fini_array` and `DT_INIT`/`DT_FINI`; `.eh_frame`
//!    FDE initial locations (present even in stripped binaries); relocation targets in code.
//! 2. **Recursive descent** ([`descent`]) from the seeds with iced-x86, following direct jumps,
//!    conditional branches, calls (whose targets are functions) and recognised jump tables
//!    ([`jump_table`]). Every byte is decoded at most once, so the work is linear in code size.
//! 3. **Data scan** ([`seeds::data_pointers`]): 8-byte-aligned words of non-executable data that
//!    point at a plausible instruction start in code (function pointer tables of fixed-address
//!    binaries, which have no relocations), code addresses loaded by instructions, then descent
//!    from those.
//! 4. **Gaps** ([`gaps`]): the first aligned instruction after padding in code nothing reached.
//!
//! ```no_run
//! let elf = std::fs::read("/bin/busybox").unwrap();
//! let code = oci2wasm_lift::code::Code::new(&elf, 0).unwrap();
//! let found = oci2wasm_lift::discover::discover(&code, &elf).unwrap();
//! println!("{} functions, {} jump tables", found.functions.len(), found.jump_tables.len());
//! ```

#[cfg(test)]
mod asm_tests;
mod descent;
mod gaps;
mod jump_table;
mod seeds;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use crate::code::Code;

/// Why an ELF cannot be discovered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscoverError {
    /// goblin could not parse the file.
    #[error("not a readable ELF file: {0}")]
    Parse(String),
    /// Only 64-bit x86-64 code is discovered.
    #[error("not a 64-bit x86-64 ELF (e_machine {machine})")]
    NotX86_64 { machine: u16 },
    /// A `PT_LOAD` segment's file bytes are not all in the file.
    #[error("segment at {vaddr:#x} claims file bytes {offset:#x}+{size:#x} beyond the file")]
    SegmentOutsideFile { vaddr: u64, offset: u64, size: u64 },
    /// `p_vaddr + bias` does not fit in 64 bits.
    #[error("segment at {vaddr:#x} does not fit in the address space at bias {bias:#x}")]
    AddressOverflow { vaddr: u64, bias: u64 },
    /// No executable `PT_LOAD` segment with file bytes.
    #[error("no executable segment")]
    NoCode,
}

/// How sure discovery is that an address starts a function. Ordered from most to least sure, so
/// the strongest of two is their `min`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Confidence {
    /// Entry point, symbols, init/fini arrays, `.eh_frame`, call targets reached from those.
    Certain,
    /// Relocation targets in code, code addresses loaded by instructions.
    Likely,
    /// Pointer-shaped data words, and what is only reached from them.
    Guess,
}

/// Why an address was taken for a function start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// `e_entry`.
    Entry,
    /// A `STT_FUNC` or `STT_GNU_IFUNC` symbol (`.symtab` or `.dynsym`).
    Symbol,
    /// `.init_array` / `DT_INIT_ARRAY`, or `DT_INIT`.
    InitArray,
    /// `.fini_array` / `DT_FINI_ARRAY`, or `DT_FINI`.
    FiniArray,
    /// `.preinit_array` / `DT_PREINIT_ARRAY`.
    PreinitArray,
    /// The initial location of an `.eh_frame` FDE.
    EhFrame,
    /// The target of a direct `call`.
    CallTarget,
    /// The target of a direct `jmp` that leaves the current function.
    TailJump,
    /// An address in code loaded by an instruction (`mov reg, imm`, `lea reg, [rip + x]`,
    /// `push imm`): a function pointer being taken.
    CodeAddress,
    /// `R_X86_64_RELATIVE`, `R_X86_64_64` or `R_X86_64_IRELATIVE` target.
    Relocation,
    /// An aligned data word that points at a plausible instruction start.
    DataPointer,
    /// The first instruction after the padding opening a gap descent never reached.
    Gap,
}

impl Source {
    /// The confidence a function found only this way has.
    pub fn confidence(self) -> Confidence {
        match self {
            Source::Relocation | Source::CodeAddress => Confidence::Likely,
            Source::DataPointer | Source::Gap => Confidence::Guess,
            _ => Confidence::Certain,
        }
    }
}

/// One discovered function start.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Function {
    /// The strongest confidence among its sources (and the path that found it).
    pub confidence: Confidence,
    /// Every way it was found, sorted, without repeats.
    pub sources: Vec<Source>,
}

/// What discovery found in one ELF. All addresses are loaded addresses (bias applied).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Discovery {
    /// Function entry addresses.
    pub functions: BTreeMap<u64, Function>,
    /// For an indirect `jmp` recognised as a jump table: address of the jmp instruction -> its
    /// targets (deduplicated, sorted).
    pub jump_tables: BTreeMap<u64, Vec<u64>>,
    /// Block leaders: function starts, targets of direct jumps and conditional branches, the
    /// fall-through after a conditional branch, and jump-table targets.
    pub branch_targets: BTreeSet<u64>,
    /// How many instructions recursive descent decoded (each once).
    pub instructions: usize,
    /// Indirect `jmp`s that were not recognised as jump tables (tail calls through a pointer,
    /// tables whose bound was not found), by address.
    pub unresolved_jumps: BTreeSet<u64>,
}

impl Discovery {
    /// Adds `source` to the function at `addr` (creating it), keeping the strongest confidence
    /// between `confidence` and what it had. Returns whether the function is new.
    pub(crate) fn add_function(
        &mut self,
        addr: u64,
        source: Source,
        confidence: Confidence,
    ) -> bool {
        let mut new = false;
        let f = self.functions.entry(addr).or_insert_with(|| {
            new = true;
            Function {
                confidence,
                sources: Vec::new(),
            }
        });
        f.confidence = f.confidence.min(confidence);
        if let Err(at) = f.sources.binary_search(&source) {
            f.sources.insert(at, source);
        }
        self.branch_targets.insert(addr);
        new
    }

    /// How many functions each source contributed (a function found several ways counts for each).
    pub fn count_by_source(&self) -> BTreeMap<Source, usize> {
        let mut counts = BTreeMap::new();
        for f in self.functions.values() {
            for s in &f.sources {
                *counts.entry(*s).or_insert(0) += 1;
            }
        }
        counts
    }
}

/// Finds the functions, block leaders and jump tables of the ELF `elf_bytes` mapped as `code`.
pub fn discover(code: &Code<'_>, elf_bytes: &[u8]) -> Result<Discovery, DiscoverError> {
    let elf =
        goblin::elf::Elf::parse(elf_bytes).map_err(|e| DiscoverError::Parse(e.to_string()))?;
    let relocs = seeds::Relocations::read(&elf, code.bias());
    let mut found = Discovery::default();
    let mut seed_list = Vec::new();
    seeds::entry_and_symbols(code, &elf, &mut seed_list);
    seeds::init_arrays(code, &elf, &relocs, &mut seed_list);
    let regions = seeds::eh_frame(code, &elf, elf_bytes, &mut seed_list);
    seeds::relocation_targets(code, &relocs, &mut seed_list);
    for &(addr, source) in &seed_list {
        found.add_function(addr, source, source.confidence());
    }

    let mut walker = descent::Walker::new(code, &relocs, &regions);
    let roots: Vec<u64> = found.functions.keys().copied().collect();
    walker.run(&roots, Confidence::Certain, &mut found);
    // Function pointers taken in code, then in data; each round may take more.
    for _ in 0..8 {
        let mut new_roots = Vec::new();
        let refs = walker.take_code_refs();
        for (addr, confidence) in seeds::plausible_starts(code, &walker, refs) {
            let confidence = confidence.max(Confidence::Likely);
            if found.add_function(addr, Source::CodeAddress, confidence) {
                new_roots.push((addr, confidence));
            }
        }
        if new_roots.is_empty() {
            break;
        }
        for confidence in [Confidence::Likely, Confidence::Guess] {
            let roots: Vec<u64> = new_roots
                .iter()
                .filter(|r| r.1 == confidence)
                .map(|r| r.0)
                .collect();
            walker.run(&roots, confidence, &mut found);
        }
    }
    let mut guesses = Vec::new();
    seeds::data_pointers(code, &relocs, &walker, &mut guesses);
    let mut new_roots = Vec::new();
    for addr in guesses {
        if found.add_function(addr, Source::DataPointer, Confidence::Guess) {
            new_roots.push(addr);
        }
    }
    walker.run(&new_roots, Confidence::Guess, &mut found);
    let refs = walker.take_code_refs();
    for (addr, _) in seeds::plausible_starts(code, &walker, refs) {
        if found.add_function(addr, Source::CodeAddress, Confidence::Guess) {
            walker.run(&[addr], Confidence::Guess, &mut found);
        }
    }
    // Unreached code after padding; each round's descent leaves smaller gaps.
    for _ in 0..64 {
        let starts = gaps::gap_starts(code, &walker);
        let new_roots: Vec<u64> = starts
            .into_iter()
            .filter(|&a| found.add_function(a, Source::Gap, Confidence::Guess))
            .collect();
        if new_roots.is_empty() {
            break;
        }
        walker.run(&new_roots, Confidence::Guess, &mut found);
    }
    Ok(found)
}

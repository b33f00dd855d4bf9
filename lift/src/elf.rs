//! What an ELF file is: class, machine, executable or library, static or dynamic, interpreter,
//! PIE or fixed address, needed libraries, entry point and how much executable code it holds.
//!
//! This is the first step of discovery: `inspect` reports it, and the lifter decides from it which
//! files to translate and how to load them.

use goblin::elf::Elf;
use goblin::elf::dynamic::{DF_1_PIE, DT_FLAGS_1};
use goblin::elf::header::{
    EM_386, EM_AARCH64, EM_ARM, EM_RISCV, EM_X86_64, ET_DYN, ET_EXEC, ET_REL,
};
use goblin::elf::program_header::{PF_X, PT_DYNAMIC, PT_INTERP, PT_LOAD};

/// The kind of an ELF file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ElfKind {
    /// A program loaded at its link address (`ET_EXEC`).
    Executable,
    /// A position-independent program (`ET_DYN` with an interpreter or `DF_1_PIE`).
    PieExecutable,
    /// A shared library (`ET_DYN` that is not a program).
    SharedObject,
    /// An object file (`ET_REL`).
    Relocatable,
    /// Anything else (core dumps, unknown types).
    Other,
}

/// How a program gets its libraries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Linking {
    /// No interpreter and no dynamic section: everything is in the file.
    Static,
    /// No interpreter, but it relocates itself (`-static-pie`).
    StaticPie,
    /// Loaded by the interpreter named in `PT_INTERP`.
    Dynamic,
}

/// The facts `inspect` shows and the lifter starts from.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ElfInfo {
    /// 32 or 64.
    pub class: u8,
    /// `e_machine`.
    pub machine: u16,
    /// A readable name of `machine`: `x86-64`, `aarch64`, ...
    pub machine_name: String,
    pub kind: ElfKind,
    pub linking: Linking,
    /// `PT_INTERP`, the dynamic loader's path.
    pub interpreter: Option<String>,
    /// The lowest `PT_LOAD` address of a fixed-address executable.
    pub fixed_address: Option<u64>,
    /// `DT_NEEDED` entries in order.
    pub needed: Vec<String>,
    /// `DT_SONAME`.
    pub soname: Option<String>,
    pub entry: u64,
    /// File bytes in executable `PT_LOAD` segments.
    pub code_bytes: u64,
}

impl ElfInfo {
    /// Whether oci2wasm can run it: a 64-bit x86-64 program or library.
    pub fn is_x86_64(&self) -> bool {
        self.class == 64 && self.machine == EM_X86_64
    }

    /// Whether it is a program rather than a library.
    pub fn is_program(&self) -> bool {
        matches!(self.kind, ElfKind::Executable | ElfKind::PieExecutable)
    }
}

/// Why a file is not analysable.
#[derive(Debug, thiserror::Error)]
pub enum ElfError {
    #[error("not an ELF file")]
    NotElf,
    #[error("malformed ELF: {0}")]
    Malformed(String),
}

/// Whether `bytes` start with the ELF magic.
pub fn is_elf(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\x7fELF")
}

fn machine_name(machine: u16) -> String {
    match machine {
        EM_X86_64 => "x86-64".into(),
        EM_386 => "i386".into(),
        EM_AARCH64 => "aarch64".into(),
        EM_ARM => "arm".into(),
        EM_RISCV => "riscv".into(),
        other => format!("machine {other}"),
    }
}

/// Analyses an ELF file's headers.
pub fn analyze(bytes: &[u8]) -> Result<ElfInfo, ElfError> {
    if !is_elf(bytes) {
        return Err(ElfError::NotElf);
    }
    // goblin returns errors for malformed input, but image files are arbitrary bytes and a
    // parser bug must not bring down a whole conversion: a panic here is reported as malformed.
    let parsed = std::panic::catch_unwind(|| Elf::parse(bytes).map(|elf| info_of(&elf)));
    match parsed {
        Ok(Ok(info)) => Ok(info),
        Ok(Err(e)) => Err(ElfError::Malformed(e.to_string())),
        Err(_) => Err(ElfError::Malformed(
            "the ELF parser failed on this file".into(),
        )),
    }
}

fn info_of(elf: &Elf<'_>) -> ElfInfo {
    let phdrs = &elf.program_headers;
    let has = |ty| phdrs.iter().any(|p| p.p_type == ty);
    let interpreter = elf.interpreter.map(str::to_string);
    let pie_flag = elf.dynamic.as_ref().is_some_and(|d| {
        d.dyns
            .iter()
            .any(|e| e.d_tag == DT_FLAGS_1 && e.d_val & DF_1_PIE != 0)
    });
    let kind = match elf.header.e_type {
        ET_EXEC => ElfKind::Executable,
        ET_DYN if interpreter.is_some() || pie_flag => ElfKind::PieExecutable,
        ET_DYN => ElfKind::SharedObject,
        ET_REL => ElfKind::Relocatable,
        _ => ElfKind::Other,
    };
    let linking = if has(PT_INTERP) {
        Linking::Dynamic
    } else if has(PT_DYNAMIC) && kind != ElfKind::Executable {
        Linking::StaticPie
    } else {
        Linking::Static
    };
    let loads = phdrs.iter().filter(|p| p.p_type == PT_LOAD);
    let fixed_address = match kind {
        ElfKind::Executable => loads.clone().map(|p| p.p_vaddr).min(),
        _ => None,
    };
    let code_bytes = loads
        .filter(|p| p.p_flags & PF_X != 0)
        .map(|p| p.p_filesz)
        .sum();
    ElfInfo {
        class: if elf.is_64 { 64 } else { 32 },
        machine: elf.header.e_machine,
        machine_name: machine_name(elf.header.e_machine),
        kind,
        linking,
        interpreter,
        fixed_address,
        needed: elf.libraries.iter().map(|s| s.to_string()).collect(),
        soname: elf.soname.map(str::to_string),
        entry: elf.entry,
        code_bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_binary_itself_is_a_dynamic_pie() {
        let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let info = analyze(&exe).unwrap();
        assert!(info.is_x86_64() && info.is_program(), "{info:?}");
        assert_eq!(info.linking, Linking::Dynamic);
        assert!(info.interpreter.as_deref().unwrap().contains("ld-linux"));
        assert!(
            info.needed.iter().any(|n| n.starts_with("libc.so")),
            "{:?}",
            info.needed
        );
        assert!(info.code_bytes > 0);
    }

    #[test]
    fn junk_is_an_error_not_a_panic() {
        assert!(matches!(analyze(b"#!/bin/sh\n"), Err(ElfError::NotElf)));
        let mut junk = b"\x7fELF\x02\x01\x01".to_vec();
        junk.resize(200, 0xff);
        assert!(matches!(analyze(&junk), Err(ElfError::Malformed(_))));
        let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        for cut in [16, 64, 100, 1000] {
            let _ = analyze(&exe[..cut]);
        }
    }
}

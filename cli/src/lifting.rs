//! `convert --lift`: which ELF programs of the image are translated ahead of time, and the
//! per-ELF lift report.
//!
//! Programs only (fixed-address `ET_EXEC` at their link address, position-independent ones at
//! the runtime's `EXE_BASE`, where its loader puts a main executable); shared libraries keep
//! running in the interpreter. A file reached by several paths (busybox's applet links) is
//! lifted once: the runtime identifies lifted code by the inode of the packed file.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use oci2wasm_lift::elf::{self, ElfKind};
use oci2wasm_lift::link::{LiftedElf, Link};
use vfs_pack::tree::{Node, Tree};

/// Which programs to lift.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LiftMode {
    /// The entrypoint's program and every other x86-64 program in the image, entrypoint first,
    /// until `--lift-budget` bytes of x86 code are taken.
    Auto,
    /// Only the entrypoint's program.
    Entry,
    /// Every x86-64 program in the image, whatever its size.
    All,
    /// Nothing: the interpreter runs everything.
    None,
}

/// The lift options of `convert` (and `verify`).
#[derive(Debug, Clone, clap::Args)]
pub struct LiftArgs {
    /// Translate x86-64 code to Wasm ahead of time (the interpreter still runs whatever was not
    /// translated or found).
    #[arg(long, value_enum, default_value_t = LiftMode::Auto, value_name = "WHAT")]
    pub lift: LiftMode,

    /// With `--lift auto`: MiB of x86 code to lift beyond the entrypoint's program.
    #[arg(long, default_value_t = 8, value_name = "MIB")]
    pub lift_budget: u64,

    /// A file written by `oci2wasm run --record-misses`: the code addresses it lists that ran in
    /// the interpreter are lifted too (as extra function entries).
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
}

/// One program to lift.
struct Candidate {
    path: String,
    bytes: Vec<u8>,
    bias: u64,
    code_size: u64,
}

fn candidates(tree: &Tree) -> Vec<Candidate> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (path, id) in tree.walk() {
        let inode = tree.get(id);
        let Node::File(bytes) = &inode.node else {
            continue;
        };
        if !elf::is_elf(bytes) || !seen.insert(id.index()) {
            continue;
        }
        let Ok(info) = elf::analyze(bytes) else {
            continue;
        };
        if !info.is_x86_64() || !info.is_program() {
            continue;
        }
        let bias = match info.kind {
            ElfKind::Executable => 0,
            ElfKind::PieExecutable => libc_shim::mm::EXE_BASE,
            _ => continue,
        };
        out.push(Candidate {
            path: String::from_utf8_lossy(&path).into_owned(),
            bytes: bytes.to_vec(),
            bias,
            code_size: info.code_bytes,
        });
    }
    out
}

/// Reads a `--record-misses` file: one hex address per line.
fn read_profile(path: &PathBuf) -> Result<BTreeSet<u64>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the profile {}", path.display()))?;
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            u64::from_str_radix(l.trim_start_matches("0x"), 16)
                .with_context(|| format!("{}: {l:?} is not a hex address", path.display()))
        })
        .collect()
}

/// Lifts the chosen programs with `link`; `say` reports each one.
pub fn lift(
    tree: &Tree,
    entry_path: &str,
    args: &LiftArgs,
    link: &Link,
    say: &dyn Fn(String),
) -> Result<Vec<LiftedElf>> {
    if args.lift == LiftMode::None {
        return Ok(Vec::new());
    }
    let extra = match &args.profile {
        Some(p) => read_profile(p)?,
        None => BTreeSet::new(),
    };
    let entry_id = tree.resolve(entry_path.as_bytes(), true).ok();
    let mut all = candidates(tree);
    // The entrypoint first, then by path.
    all.sort_by_key(|c| {
        let is_entry = tree.resolve(c.path.as_bytes(), true).ok() == entry_id;
        (!is_entry, c.path.clone())
    });
    let budget = args.lift_budget << 20;
    let mut taken = 0u64;
    let mut out = Vec::new();
    let mut first = 0u32;
    for (i, c) in all.iter().enumerate() {
        let keep = match args.lift {
            LiftMode::Entry => i == 0 && entry_id.is_some(),
            LiftMode::All => true,
            LiftMode::Auto => i == 0 || taken + c.code_size <= budget,
            LiftMode::None => false,
        };
        if !keep {
            continue;
        }
        if i > 0 {
            taken += c.code_size;
        }
        let started = Instant::now();
        let lifted =
            oci2wasm_lift::translate::lift_elf_with(&c.path, &c.bytes, c.bias, link, first, &extra)
                .with_context(|| format!("cannot lift {}", c.path))?;
        let r = &lifted.report;
        say(format!(
            "lifted {}: {} of {} functions, {} of x86 code -> {} of Wasm ({:.1}x), {} instructions inline, {} by helper ({:.1} s)",
            c.path,
            r.functions_lifted,
            r.functions_found,
            crate::output::human_bytes(r.code_bytes_covered),
            crate::output::human_bytes(r.wasm_bytes),
            r.wasm_bytes as f64 / r.code_bytes_covered.max(1) as f64,
            r.insns_inline,
            r.insns_helper,
            started.elapsed().as_secs_f64()
        ));
        first += lifted.funcs.len() as u32;
        out.push(lifted);
    }
    Ok(out)
}

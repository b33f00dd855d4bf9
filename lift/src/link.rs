//! The contract between the translator, `compose` and the runtime (libc-shim `lifted`).
//!
//! Every lifted guest function becomes one Wasm function of type [`SIG_PARAMS`] -> [`SIG_RESULTS`]:
//!
//! ```text
//! (func (param $cpu i32) (param $entry i32) (param $depth i32) (result i32))
//! ```
//!
//! - `$cpu` is the linear address of the runtime's `Cpu` (libc-shim `cpu::Cpu`, `#[repr(C)]`).
//!   Lifted code loads the guest registers it uses from there on entry and stores them back at
//!   every exit, helper call and call to another function; flags are kept in the interpreter's
//!   lazy format (`cpu.flags`), so either executor can continue where the other stopped.
//! - `$entry` is the index of the basic block to start at: every block of a lifted function is
//!   an entry, so the runtime can resume lifted code after a syscall, after the interpreter ran an
//!   instruction, or at a return address.
//! - `$depth` is the Wasm call depth of lifted code; a direct call past [`MAX_DEPTH`] returns to
//!   the runtime instead of nesting deeper, so guest recursion never overflows the Wasm stack.
//! - The result is [`EXIT_CONTINUE`]: the state is in `cpu` and `cpu.rip` says where to go on
//!   (a lifted entry or not), or [`EXIT_STOPPED`]: the runtime's single-instruction helper stopped
//!   (syscall, fault, ...) and recorded why; the runtime reads that record.
//!
//! Lifted code calls two runtime exports directly: [`STEP_EXPORT`] `(cpu i32) -> i32` interprets
//! the one instruction at `cpu.rip` (returning [`EXIT_CONTINUE`] or [`EXIT_STOPPED`]) and
//! [`RFLAGS_EXPORT`] `(cpu i32) -> i64` evaluates `cpu.flags` to RFLAGS.
//!
//! Guest address `g` is linear address `guest_base + g`: loads and stores fold `guest_base` into
//! their offset immediate.
//!
//! Instructions lifted code retires are counted in `cpu.lifted` (added at every exit), for
//! `OCI2WASM_STATS`.

use serde::Serialize;

/// Parameters of a lifted function: cpu, entry block, depth.
pub const SIG_PARAMS: [wasm_encoder::ValType; 3] = [
    wasm_encoder::ValType::I32,
    wasm_encoder::ValType::I32,
    wasm_encoder::ValType::I32,
];
/// Result of a lifted function: an exit code.
pub const SIG_RESULTS: [wasm_encoder::ValType; 1] = [wasm_encoder::ValType::I32];

/// `cpu.rip` says where to continue.
pub const EXIT_CONTINUE: i32 = 0;
/// The runtime's helper stopped with a syscall, a fault or another event it recorded.
pub const EXIT_STOPPED: i32 = 1;

/// Nesting of lifted-to-lifted Wasm calls before a call goes through the runtime instead.
pub const MAX_DEPTH: i32 = 200;

/// The runtime export that interprets one instruction: `(cpu i32) -> i32`.
pub const STEP_EXPORT: &str = "oci2wasm_step";
/// The runtime export that evaluates the lazy flags in `cpu`: `(cpu i32) -> i64`.
pub const RFLAGS_EXPORT: &str = "oci2wasm_rflags";

/// Where lifted functions go in the composed module; `compose` computes it from the runtime.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Link {
    /// Function index of the first lifted function (all lifted functions follow it in order).
    pub first_func: u32,
    /// Type index of the lifted-function signature.
    pub sig_type: u32,
    /// Function index of [`STEP_EXPORT`].
    pub step_func: u32,
    /// Function index of [`RFLAGS_EXPORT`].
    pub rflags_func: u32,
    /// Table-0 index of the first lifted function (the runtime calls lifted code through it).
    pub table_base: u32,
    /// Linear address of guest address 0.
    pub guest_base: u32,
}

/// One entry of the guest-address map: code at `addr` is block `block` of lifted function
/// `func` (an index into [`LiftedElf::funcs`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct MapEntry {
    pub addr: u64,
    pub func: u32,
    pub block: u32,
}

/// Per-ELF lift figures.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Functions discovered / translated.
    pub functions_found: usize,
    pub functions_lifted: usize,
    /// Bytes of x86 code in translated blocks, and the bytes of Wasm code emitted for them.
    pub code_bytes_covered: u64,
    pub wasm_bytes: u64,
    /// Instructions translated inline and instructions left to the interpreter's helper.
    pub insns_inline: u64,
    pub insns_helper: u64,
    /// The most common mnemonics that went to the helper, with counts.
    pub helper_mnemonics: Vec<(String, u64)>,
}

/// An ELF's lifted code.
#[derive(Clone, Debug, Default)]
pub struct LiftedElf {
    /// The ELF's path in the image.
    pub path: String,
    /// The load bias the code was translated for (0 for fixed-address executables; the runtime's
    /// `EXE_BASE` for position-independent ones).
    pub bias: u64,
    /// Encoded function bodies (locals and code, as in the code section), in function order:
    /// function `i` has index `link.first_func + first + i` for the `first` it was lifted with.
    pub funcs: Vec<Vec<u8>>,
    /// Sorted by `addr`, unique.
    pub entries: Vec<MapEntry>,
    pub report: Report,
}

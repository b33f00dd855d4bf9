//! Lifted code as an executor: guest functions the `lift` crate translated to Wasm functions,
//! appended to this module by `compose` (contract: `lift::link`), run where they apply and the
//! interpreter everywhere else.
//!
//! [`LiftedExecutor`] is a dispatcher loop: when `cpu.rip` is an entry of an *active* lifted ELF
//! (the [`map`]), it calls that lifted function through table 0 (`$entry` = the block, `$depth`
//! = 0); it returns `EXIT_CONTINUE` with `cpu.rip` saying where to go on, or `EXIT_STOPPED` when
//! the one-instruction helper [`oci2wasm_step`](wasm) stopped (a syscall, a fault), whose
//! [`Stop`] it recorded. Otherwise the interpreter runs one instruction at a time while `rip` is
//! in an active ELF's code (so lifted code is re-entered as soon as it can be; after a long
//! stretch without an entry, a few at a time) and a few at a time elsewhere. Interpreting code
//! that has lifted code is always correct, only slower.
//!
//! An ELF's map is active only while the main executable loaded is exactly the packed inode it
//! was lifted from, at the bias it was lifted for ([`Executor::program_loaded`]); a change to
//! its code pages (munmap, mprotect, mmap over them) deactivates the whole ELF. Misses (the
//! addresses in active code where the dispatcher fell into the interpreter, after lifted code
//! returned or when the main loop resumed) are counted for `OCI2WASM_STATS=1` and
//! `OCI2WASM_RECORD_MISSES=PATH` ([`stats`]).
//!
//! The call through the table is wasm32-only; [`CallLifted`] is the seam host tests replace.

pub mod map;
pub mod stats;

use crate::cpu::Cpu;
use crate::interp::{Exit, Interp};
use crate::mem::GuestMem;
use crate::process::{Executor, LoadedFile, Stop};
use alloc::vec::Vec;
use map::{ElfRef, Entry, Map};

/// `cpu.rip` says where to continue (`lift::link::EXIT_CONTINUE`).
pub const EXIT_CONTINUE: i32 = 0;
/// The helper stopped and recorded why (`lift::link::EXIT_STOPPED`).
pub const EXIT_STOPPED: i32 = 1;

/// Instructions the interpreter runs at a time outside active lifted code.
const OUTSIDE_CHUNK: u64 = 32;

/// Instructions interpreted one at a time in active code without reaching an entry, after
/// which the interpreter runs 1..=[`MAX_CHUNK`] at a time (pseudo-random lengths, so that no
/// loop keeps its entry between two checks): code that has no lifted entries nearby is
/// interpreted at nearly full speed, and lifted code is re-entered a little later.
const STEP_STREAK: u32 = 256;
const MAX_CHUNK: u32 = 64;

/// Bits of the entry filter: bit `addr % FILTER_BITS` is set for every active entry, so most
/// addresses without one are rejected by one load (128 KiB).
const FILTER_BITS: usize = 1 << 20;

/// Calls lifted code: the function at table-0 index `table`, entry block `block`, depth 0, with
/// `interp` and `mem` reachable by the step helper for the duration of the call.
pub trait CallLifted {
    fn call(
        &mut self,
        entry: Entry,
        cpu: &mut Cpu,
        interp: &mut Interp,
        mem: &mut GuestMem,
    ) -> Result<(), Stop>;
}

/// The interpreter's exit as a [`Stop`].
pub fn stop_of(exit: Exit) -> Stop {
    match exit {
        Exit::Syscall => Stop::Syscall,
        Exit::Fault {
            signal,
            addr,
            write,
        } => Stop::Fault {
            signal,
            addr,
            write,
        },
        Exit::InvalidOpcode => Stop::InvalidOpcode,
        Exit::DivideError => Stop::DivideError,
        Exit::Breakpoint => Stop::Breakpoint,
        Exit::Halt => Stop::Halt,
        Exit::BudgetExhausted => Stop::BudgetExhausted,
    }
}

/// Interprets exactly the one instruction at `cpu.rip` (what `oci2wasm_step` does).
pub fn step(interp: &mut Interp, cpu: &mut Cpu, mem: &mut GuestMem) -> Result<(), Stop> {
    match interp.run(cpu, mem, 1) {
        Exit::BudgetExhausted => Ok(()),
        exit => Err(stop_of(exit)),
    }
}

/// A lifted ELF whose code is in the address space now.
#[derive(Clone, Copy, Debug)]
struct Active<'m> {
    elf: ElfRef<'m>,
    /// `[lowest, highest]` entry address.
    span: (u64, u64),
}

/// Lifted code where it applies, the interpreter elsewhere.
pub struct LiftedExecutor<'m, C: CallLifted> {
    pub interp: Interp,
    caller: C,
    map: Map<'m>,
    active: Vec<Active<'m>>,
    /// Executable pages of the loaded main executable, while a map of it is active.
    code: Vec<(u64, u64)>,
    /// The entry filter (empty when nothing is active).
    filter: Vec<u64>,
    /// Instructions single-stepped in active code since lifted code last ran.
    streak: u32,
    /// State of the chunk-length generator.
    rng: u32,
    /// Lifted-function calls so far.
    pub calls: u64,
    /// `cpu.lifted` when the last run returned.
    pub lifted: u64,
    pub misses: stats::Misses,
}

impl<C: CallLifted> core::fmt::Debug for LiftedExecutor<'_, C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LiftedExecutor")
            .field("interp", &self.interp)
            .field("elfs", &self.map.len())
            .field("active", &self.active.len())
            .field("calls", &self.calls)
            .finish_non_exhaustive()
    }
}

impl<'m, C: CallLifted> LiftedExecutor<'m, C> {
    /// An executor over `map`; misses are counted only if `track_misses`.
    pub fn new(map: Map<'m>, caller: C, track_misses: bool) -> Self {
        LiftedExecutor {
            interp: Interp::new(),
            caller,
            map,
            active: Vec::new(),
            code: Vec::new(),
            filter: Vec::new(),
            streak: 0,
            rng: 1,
            calls: 0,
            lifted: 0,
            misses: stats::Misses::new(track_misses),
        }
    }

    /// Number of lifted ELFs whose code applies now.
    pub fn active(&self) -> usize {
        self.active.len()
    }

    /// The lifted entry at `rip`, if an active ELF has one.
    pub fn lookup(&self, rip: u64) -> Option<Entry> {
        let bit = rip as usize % FILTER_BITS;
        if self
            .filter
            .get(bit / 64)
            .is_none_or(|w| w >> (bit % 64) & 1 == 0)
        {
            return None;
        }
        self.active
            .iter()
            .filter(|a| a.span.0 <= rip && rip <= a.span.1)
            .find_map(|a| a.elf.lookup(rip))
    }

    fn deactivate(&mut self) {
        self.active.clear();
        self.code.clear();
        self.filter = Vec::new();
    }

    fn in_code(&self, rip: u64) -> bool {
        self.code.iter().any(|&(s, e)| s <= rip && rip < e)
    }
}

impl<C: CallLifted> Executor for LiftedExecutor<'_, C> {
    fn run(&mut self, cpu: &mut Cpu, mem: &mut GuestMem, budget: u64) -> Stop {
        if self.active.is_empty() {
            let stop = stop_of(self.interp.run(cpu, mem, budget));
            self.lifted = cpu.lifted;
            return stop;
        }
        let first = self.interp.executed() + self.calls;
        let mut dispatched = true;
        let stop = loop {
            let used = self.interp.executed() + self.calls - first;
            if used >= budget {
                break Stop::BudgetExhausted;
            }
            if let Some(entry) = self.lookup(cpu.rip) {
                let at = cpu.rip;
                self.calls += 1;
                self.streak = 0;
                dispatched = true;
                match self.caller.call(entry, cpu, &mut self.interp, mem) {
                    // Lifted code hands back an instruction it leaves to the interpreter (a
                    // fault, `ud2`, a far jump) at the address it was entered at: without
                    // progress, the interpreter must take that instruction.
                    Ok(()) if cpu.rip != at => continue,
                    Ok(()) => {}
                    Err(stop) => break stop,
                }
            }
            let inside = self.in_code(cpu.rip);
            if dispatched && inside {
                self.misses.add(cpu.rip);
            }
            dispatched = false;
            let chunk = if !inside {
                OUTSIDE_CHUNK.min(budget - used)
            } else if self.streak < STEP_STREAK {
                self.streak += 1;
                1
            } else {
                self.rng = self.rng.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                u64::from(1 + (self.rng >> 16) % MAX_CHUNK).min(budget - used)
            };
            match self.interp.run(cpu, mem, chunk) {
                Exit::BudgetExhausted => {}
                exit => break stop_of(exit),
            }
        };
        self.lifted = cpu.lifted;
        stop
    }

    fn invalidate(&mut self, addr: u64, len: u64) {
        self.interp.invalidate(addr, len);
        let end = addr.saturating_add(len);
        if self.code.iter().any(|&(s, e)| addr < e && s < end) {
            self.deactivate();
        }
    }

    fn program_loaded(&mut self, exe: &LoadedFile) {
        self.deactivate();
        let Some(ino) = exe.ino else { return };
        for elf in self.map.elfs() {
            if elf.ino == ino
                && elf.bias == exe.bias
                && let Some(span) = elf.span()
            {
                self.active.push(Active { elf, span });
            }
        }
        if self.active.is_empty() {
            return;
        }
        self.code = exe.code.clone();
        self.filter = alloc::vec![0; FILTER_BITS / 64];
        for a in &self.active {
            for i in 0..a.elf.len() {
                let bit = a.elf.entry(i).addr as usize % FILTER_BITS;
                self.filter[bit / 64] |= 1 << (bit % 64);
            }
        }
    }

    fn rflags(cpu: &Cpu) -> u64 {
        crate::interp::rflags(cpu)
    }

    fn set_rflags(cpu: &mut Cpu, v: u64) {
        crate::interp::set_rflags(cpu, v);
    }
}

#[cfg(target_arch = "wasm32")]
pub mod wasm;

#[cfg(test)]
mod tests;

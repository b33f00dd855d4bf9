//! The x86-64 user-mode interpreter: decodes guest code with iced-x86 (cached per address, see
//! [`decode`]), executes it against [`Cpu`] and [`GuestMem`], and returns to the caller on a
//! system call, a fault or when its instruction budget runs out.
//!
//! Files: `decode` (cache), `exec` (dispatch by mnemonic), `operand` (registers, addresses,
//! memory), `flags` (lazy RFLAGS), then one file per instruction family. Instructions it does
//! not implement end the run with [`Exit::InvalidOpcode`], which the runtime reports as SIGILL.

mod alu;
mod bits;
mod control;
mod data;
mod decode;
#[cfg(test)]
mod difftest_int;
#[cfg(test)]
mod difftest_sse;
#[cfg(test)]
mod difftest_x87;
mod exec;
mod f80;
mod flags;
mod muldiv;
mod operand;
mod shift;
mod sse;
mod sse_fp;
mod sse_int;
mod string;
mod system;
#[cfg(test)]
mod testing;
mod x87;

pub use flags::{rflags, set_rflags};

use crate::cpu::Cpu;
use crate::mem::GuestMem;
use operand::Ctx;

/// Why [`Interp::run`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// `syscall`: `rip` is past the instruction, `rcx` = next rip and `r11` = RFLAGS.
    Syscall,
    /// A memory access was not allowed (`signal` is SIGSEGV=11 or SIGBUS=7).
    Fault { signal: u32, addr: u64, write: bool },
    /// Undefined or unimplemented instruction (SIGILL).
    InvalidOpcode,
    /// Division by zero or quotient overflow (SIGFPE).
    DivideError,
    /// `int3` (SIGTRAP); `rip` is past the instruction, as Linux reports it.
    Breakpoint,
    /// `hlt` (a privileged instruction: SIGSEGV in user mode).
    Halt,
    /// The instruction budget ran out; `rip` is the next instruction to run.
    BudgetExhausted,
}

/// The interpreter: decoded-instruction cache and statistics. The CPU state is passed in.
pub struct Interp {
    cache: decode::Cache,
    executed: u64,
}

impl core::fmt::Debug for Interp {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Interp")
            .field("executed", &self.executed)
            .finish_non_exhaustive()
    }
}

impl Default for Interp {
    fn default() -> Self {
        Self::new()
    }
}

impl Interp {
    pub fn new() -> Interp {
        Interp {
            cache: decode::Cache::new(),
            executed: 0,
        }
    }

    /// Runs from `cpu.rip` until an exit or `budget` instructions. On `syscall`, `cpu.rip`
    /// already points past the instruction and rcx/r11 are set as Linux does. On a fault,
    /// `cpu.rip` is the faulting instruction and none of its architectural state was committed
    /// (a `rep` string instruction keeps the iterations it completed, as on hardware).
    pub fn run(&mut self, cpu: &mut Cpu, mem: &mut GuestMem, budget: u64) -> Exit {
        let mut n = 0u64;
        let exit = loop {
            if n >= budget {
                break Exit::BudgetExhausted;
            }
            let rip = cpu.rip;
            let ins = match self.cache.fetch(mem, rip) {
                Ok(i) => *i,
                Err(e) => break e,
            };
            n += 1;
            cpu.rip = ins.next_ip();
            let mut ctx = Ctx {
                cpu: &mut *cpu,
                mem: &mut *mem,
                ins: &ins,
                icount: self.executed + n,
            };
            if let Err(e) = exec::exec(&mut ctx) {
                if !matches!(e, Exit::Syscall | Exit::Breakpoint) {
                    cpu.rip = rip;
                    n -= 1;
                }
                break e;
            }
        };
        self.executed += n;
        exit
    }

    /// Forgets cached decodes in `[addr, addr + len)`.
    pub fn invalidate(&mut self, addr: u64, len: u64) {
        self.cache.invalidate(addr, len);
    }

    /// Instructions executed so far.
    pub fn executed(&self) -> u64 {
        self.executed
    }
}

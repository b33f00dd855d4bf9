//! The x86-64 user-mode interpreter: decodes guest code with iced-x86 (cached per address, see
//! [`decode`]), executes it against [`Cpu`] and [`GuestMem`], and returns to the caller on a
//! system call, a fault or when its instruction budget runs out.
//!
//! Files: `decode` (cache), `exec` (dispatch by mnemonic), `operand` (registers, addresses,
//! memory), `flags` (lazy RFLAGS), then one file per instruction family: `alu`, `data`,
//! `shift`, `muldiv`, `bits`, `string`, `control`, `system` (cpuid), `sse`/`sse_int`/`sse_fp`/
//! `sse_round`/`sse_str`/`sse_approx`, `crypto`, `mmx`, `x87` over the soft float `f80`. Instructions it does not implement
//! end the run with [`Exit::InvalidOpcode`], which the runtime reports as SIGILL.
//!
//! Fidelity: every family is checked against the host CPU by the differential harness in
//! `testing` (`difftest_*`). SSE float instructions honour MXCSR (rounding, DAZ/FTZ, exception
//! flags; `sse_round`). Known differences: x87 exception flags are not raised and the x87
//! opcode/data pointers are not kept; AVX, `int 0x80` and the forms `docs/coverage.md` lists as
//! not implemented end the run; `lock` on a register operand is not rejected.
//! The CPU that cpuid describes (`system`) only claims what is implemented: SSE..SSE4.2,
//! POPCNT, CX16, MOVBE, LZCNT, PREFETCHW, BMI1, BMI2, ADX, PCLMULQDQ, AES, SHA, GFNI and the
//! hint/ordering no-ops CLFLUSHOPT, CLWB, CLDEMOTE, SERIALIZE; no AVX/OSXSAVE. Keep `/proc/cpuinfo` and AT_HWCAP in step.

mod alu;
mod bits;
mod control;
mod crypto;
mod data;
mod dd;
mod decode;
#[cfg(test)]
mod difftest_int;
#[cfg(test)]
mod difftest_mem;
#[cfg(test)]
mod difftest_sse;
#[cfg(test)]
mod difftest_sse_round;
#[cfg(test)]
mod difftest_x87;
mod exec;
mod f80;
mod flags;
#[cfg(any(test, feature = "generator"))]
pub mod generator;
mod mmx;
mod muldiv;
mod operand;
mod shift;
mod sse;
mod sse_approx;
mod sse_fp;
mod sse_int;
mod sse_round;
mod sse_str;
mod string;
mod system;
#[cfg(any(test, feature = "generator"))]
pub mod testing;
mod x87;

pub use flags::{rflags, set_rflags};

/// The lazy-flag kinds (`LazyFlags::op`) and RFLAGS bits, for code that writes `LazyFlags` in the
/// interpreter's format (the lifter's emitted code).
pub mod lazy {
    pub use super::flags::{
        ADC, ADD, AF, ARITH, CF, DEC, DF, INC, OF, PF, RES, SBB, SF, STORED, SUB, ZF,
    };
}

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

#[cfg(test)]
mod tests {
    use super::testing::{REGION, assemble};
    use super::*;
    use iced_x86::code_asm::*;

    /// Guest memory with `code` at `REGION + 0x400` in a 64 KiB RWX region, and a CPU about to
    /// run it.
    fn load(code: &[u8]) -> (crate::mem::testing::HostMem, Cpu) {
        let mut h = crate::mem::testing::host_mem(REGION + 0x10000);
        let m = &mut h.mem;
        m.protect(REGION, 0x10000, crate::mem::perm::RWX).unwrap();
        m.slice_mut(REGION + 0x400, code.len() as u64)
            .unwrap()
            .copy_from_slice(code);
        let cpu = Cpu {
            rip: REGION + 0x400,
            ..Cpu::default()
        };
        (h, cpu)
    }

    #[test]
    fn self_modifying_code_is_seen() {
        // Run a `mov eax, 1` once, patch its immediate, run it again from the same address.
        let code = assemble(&|a| {
            let mut top = a.create_label();
            a.set_label(&mut top)?;
            a.mov(eax, 1)?;
            a.ret()
        });
        let (mut h, mut cpu) = load(&code);
        let m = &mut h.mem;
        m.write_u64(REGION + 0x8000, 0).unwrap();
        cpu.gpr[4] = REGION + 0x8000;
        let mut it = Interp::new();
        assert_eq!(it.run(&mut cpu, m, 1), Exit::BudgetExhausted);
        assert_eq!(cpu.gpr[0], 1);
        m.write_u32(REGION + 0x401, 7).unwrap();
        cpu.rip = REGION + 0x400;
        it.run(&mut cpu, m, 1);
        assert_eq!(cpu.gpr[0], 7);
        // Removing execute permission makes the cached instruction fault.
        m.protect(REGION, 0x1000, crate::mem::perm::RW).unwrap();
        cpu.rip = REGION + 0x400;
        assert!(matches!(
            it.run(&mut cpu, m, 1),
            Exit::Fault { write: false, .. }
        ));
        assert_eq!(it.executed(), 2);
    }

    /// Instructions per second on a simple loop (run with `--release --ignored --nocapture`).
    #[test]
    #[ignore]
    fn speed_simple_loop() {
        let code = assemble(&|a| {
            let mut top = a.create_label();
            a.mov(ecx, 20_000_000)?;
            a.xor(eax, eax)?;
            a.set_label(&mut top)?;
            a.add(rax, rcx)?;
            a.mov(qword_ptr(rsi), rax)?;
            a.xor(rdx, rax)?;
            a.dec(ecx)?;
            a.jnz(top)
        });
        let (mut h, mut cpu) = load(&code);
        let m = &mut h.mem;
        m.write_u8(REGION + 0x2000, 0xf4).unwrap();
        cpu.gpr[6] = REGION + 0x8000;
        let mut it = Interp::new();
        let t = std::time::Instant::now();
        let exit = it.run(&mut cpu, m, u64::MAX);
        let dt = t.elapsed().as_secs_f64();
        assert_eq!(exit, Exit::Halt);
        let n = 2.0 + 5.0 * 20_000_000.0;
        std::eprintln!("{:.1} M instructions/s ({n} in {dt:.3} s)", n / dt / 1e6);
    }
}

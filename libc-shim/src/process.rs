//! The guest process: its state (filesystem and fds, address space, signals, credentials,
//! limits) and the main loop that runs the executor and services what stops it: a syscall is
//! dispatched, a fault becomes a signal delivered to the guest's handler or ending it with the
//! shell's `128 + N` status, and pending signals are delivered after each syscall.
//!
//! The executor is behind [`Executor`] so that the loop is tested on the host with a scripted
//! one; the interpreter implements it (see `start`), and lifted code will too.

use crate::abi::sig::*;
use crate::cpu::Cpu;
use crate::fs::Vfs;
use crate::mem::GuestMem;
use crate::mm::Mm;
use crate::platform::Platform;
use crate::signal::{Outcome, SigInfo, Signals, bit, deliver};
use crate::syscall::{Ctx, dispatch};
use alloc::vec::Vec;

/// The guest's pid (and tid): it is the container's first process.
pub const PID: u64 = 1;

/// Instructions run between checks of the loop (the executor may stop earlier).
pub const BUDGET: u64 = 1 << 24;

/// Real and effective ids.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cred {
    pub uid: u32,
    pub gid: u32,
    pub euid: u32,
    pub egid: u32,
}

/// Per-process state.
#[derive(Debug)]
pub struct Process {
    pub vfs: Vfs,
    pub mm: Mm,
    pub sig: Signals,
    pub cred: Cred,
    pub hostname: Vec<u8>,
    /// The thread name (`prctl(PR_SET_NAME)`).
    pub comm: Vec<u8>,
    /// Trace every syscall on stderr (`OCI2WASM_STRACE=1`).
    pub strace: bool,
    /// Set by `exit`/`exit_group`.
    pub exit_status: Option<i32>,
    pub clear_child_tid: u64,
    /// Monotonic time at start, for CPU-time clocks.
    pub start_ns: u64,
    /// `(soft, hard)` per `RLIMIT_*`.
    pub rlimits: [(u64, u64); 16],
    /// The main executable as loaded (for [`Executor::program_loaded`]).
    pub exe_file: LoadedFile,
}

impl Process {
    pub fn new(vfs: Vfs, mm: Mm, start_ns: u64) -> Process {
        let inf = crate::abi::misc::RLIM_INFINITY;
        let mut rlimits = [(inf, inf); 16];
        rlimits[crate::abi::misc::RLIMIT_STACK as usize] = (crate::mm::STACK_SIZE, inf);
        rlimits[crate::abi::misc::RLIMIT_NOFILE as usize] = (1024, 1024);
        rlimits[4] = (0, inf); // RLIMIT_CORE
        Process {
            vfs,
            mm,
            sig: Signals::default(),
            cred: Cred::default(),
            hostname: b"localhost".to_vec(),
            comm: Vec::new(),
            strace: false,
            exit_status: None,
            clear_child_tid: 0,
            start_ns,
            rlimits,
            exe_file: LoadedFile::default(),
        }
    }
}

/// Why the executor stopped (mirrors the interpreter's `Exit`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// A `syscall` instruction: `rip` is past it and `rcx`/`r11` are set.
    Syscall,
    Fault {
        signal: u32,
        addr: u64,
        write: bool,
    },
    InvalidOpcode,
    DivideError,
    Breakpoint,
    Halt,
    BudgetExhausted,
}

/// The main executable as the loader mapped it, for executors that have code for particular
/// files (lifted code).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadedFile {
    /// Inode number in the packed read-only image, if the file came from there unchanged (not
    /// from the overlay, a host mount or `/proc`).
    pub ino: Option<u32>,
    /// Added to every address of the file.
    pub bias: u64,
    /// `[start, end)` of its executable segments, page-rounded, loaded addresses.
    pub code: Vec<(u64, u64)>,
}

/// Something that runs guest code.
pub trait Executor {
    fn run(&mut self, cpu: &mut Cpu, mem: &mut GuestMem, budget: u64) -> Stop;
    /// Code in `[addr, addr + len)` may have changed or been unmapped.
    fn invalidate(&mut self, addr: u64, len: u64);
    /// A new program replaced the address space (process start; `execve` later): forget what
    /// applied to the old one. Called after the loader's own changes were passed to
    /// [`Executor::invalidate`].
    fn program_loaded(&mut self, _exe: &LoadedFile) {}
    fn rflags(cpu: &Cpu) -> u64
    where
        Self: Sized;
    fn set_rflags(cpu: &mut Cpu, v: u64)
    where
        Self: Sized;
}

/// What a stop that is a hardware exception means as a signal.
fn fault_info(stop: Stop, cpu: &Cpu, mem: &GuestMem) -> Option<SigInfo> {
    let rip = cpu.rip;
    Some(match stop {
        Stop::Fault {
            signal,
            addr,
            write,
        } => {
            let present = mem.perms_at(addr) != 0;
            let code = if present {
                crate::abi::sig::SEGV_ACCERR
            } else {
                crate::abi::sig::SEGV_MAPERR
            };
            SigInfo {
                signo: signal,
                code,
                addr,
                trapno: 14,
                err: 4 | (u64::from(write) << 1) | u64::from(present),
            }
        }
        Stop::InvalidOpcode => SigInfo {
            signo: SIGILL,
            code: ILL_ILLOPN,
            addr: rip,
            trapno: 6,
            err: 0,
        },
        Stop::DivideError => SigInfo {
            signo: SIGFPE,
            code: FPE_INTDIV,
            addr: rip,
            trapno: 0,
            err: 0,
        },
        Stop::Breakpoint => SigInfo {
            signo: SIGTRAP,
            code: SI_KERNEL,
            addr: 0,
            trapno: 3,
            err: 0,
        },
        Stop::Halt => SigInfo {
            signo: SIGSEGV,
            code: SI_KERNEL,
            addr: 0,
            trapno: 13,
            err: 0,
        },
        Stop::Syscall | Stop::BudgetExhausted => return None,
    })
}

/// Ends the process by `signal`: the shell's message on stderr, status `128 + signal`.
fn killed(p: &mut dyn Platform, signal: u32) -> i32 {
    if signal != SIGPIPE && signal != SIGINT {
        let mut msg = Vec::from(description(signal).as_bytes());
        if matches!(
            signal,
            SIGSEGV | SIGILL | SIGFPE | SIGABRT | SIGBUS | SIGTRAP | SIGQUIT | SIGSYS
        ) {
            msg.extend_from_slice(b" (core dumped)");
        }
        msg.push(b'\n');
        let _ = p.write(2, &msg);
    }
    128 + signal as i32
}

/// Runs the guest until it exits; returns its exit status.
pub fn run<E: Executor>(
    proc: &mut Process,
    cpu: &mut Cpu,
    mem: &mut GuestMem,
    p: &mut dyn Platform,
    exec: &mut E,
) -> i32 {
    loop {
        for (addr, len) in proc.mm.take_changed() {
            exec.invalidate(addr, len);
        }
        let stop = exec.run(cpu, mem, BUDGET);
        if stop == Stop::BudgetExhausted {
            continue;
        }
        let mut ctx = Ctx {
            proc: &mut *proc,
            cpu: &mut *cpu,
            mem: &mut *mem,
            p: &mut *p,
            rflags: E::rflags,
            set_rflags: E::set_rflags,
        };
        if stop == Stop::Syscall {
            dispatch(&mut ctx);
            if let Some(status) = ctx.proc.exit_status {
                return status;
            }
        } else if let Some(info) = fault_info(stop, ctx.cpu, ctx.mem) {
            if ctx.proc.strace {
                let line = alloc::format!(
                    "--- {} {{si_code={}, si_addr={:#x}}} at rip={:#x} ---\n",
                    description(info.signo),
                    info.code,
                    info.addr,
                    ctx.cpu.rip
                );
                ctx.stderr(&line);
            }
            if let Outcome::Terminate(s) = deliver(&mut ctx, info, true) {
                return killed(ctx.p, s);
            }
        }
        while let Some(s) = ctx.proc.sig.next_deliverable() {
            ctx.proc.sig.pending &= !bit(s);
            let uid = u64::from(ctx.proc.cred.uid);
            let info = SigInfo {
                signo: s,
                code: SI_TKILL,
                addr: PID | (uid << 32),
                trapno: 0,
                err: 0,
            };
            if let Outcome::Terminate(s) = deliver(&mut ctx, info, false) {
                return killed(ctx.p, s);
            }
        }
    }
}

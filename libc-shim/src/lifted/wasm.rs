//! The wasm32 side of lifted code: the two runtime exports lifted code calls
//! ([`oci2wasm_step`], [`oci2wasm_rflags`]) and the call into lifted code through table 0
//! ([`WasmTable`]).
//!
//! While a lifted function runs, the interpreter and guest memory of the executor that called it
//! are reachable through [`CURRENT`] (the runtime is single-threaded); `oci2wasm_step` records
//! the [`Stop`] it ended with there, and the caller takes it when the function returns
//! `EXIT_STOPPED`.

use super::{CallLifted, EXIT_CONTINUE, EXIT_STOPPED, step};
use crate::cpu::Cpu;
use crate::interp::Interp;
use crate::mem::GuestMem;
use crate::process::Stop;
use core::cell::UnsafeCell;
use core::ptr::null_mut;

/// What the step helper needs while lifted code runs.
struct Current {
    interp: *mut Interp,
    mem: *mut GuestMem,
    stop: Option<Stop>,
}

struct Slot(UnsafeCell<Current>);

// SAFETY: the wasm32 runtime has one thread; nothing runs concurrently with the code that
// touches the slot.
unsafe impl Sync for Slot {}

static CURRENT: Slot = Slot(UnsafeCell::new(Current {
    interp: null_mut(),
    mem: null_mut(),
    stop: None,
}));

/// A lifted function: `(cpu, entry block, depth) -> exit`.
type LiftedFn = extern "C" fn(*mut Cpu, u32, u32) -> i32;

/// Calls lifted functions through table 0 (the indirect-function table `compose` appended them
/// to).
#[derive(Clone, Copy, Debug, Default)]
pub struct WasmTable;

impl CallLifted for WasmTable {
    fn call(
        &mut self,
        entry: super::map::Entry,
        cpu: &mut Cpu,
        interp: &mut Interp,
        mem: &mut GuestMem,
    ) -> Result<(), Stop> {
        if entry.table == 0 {
            return Err(Stop::InvalidOpcode);
        }
        // SAFETY: single-threaded, and no reference into the slot is live: `oci2wasm_step`
        // only runs during the call below.
        unsafe {
            *CURRENT.0.get() = Current {
                interp,
                mem,
                stop: None,
            };
        }
        // SAFETY: on wasm32 a function pointer is a table-0 index. `compose` put a function of
        // type (i32, i32, i32) -> i32, which is how this signature lowers, at every index the
        // map names (`call_indirect` traps on any mismatch rather than misbehaving); index 0 is
        // refused above so the pointer is not null.
        let f = unsafe { core::mem::transmute::<usize, LiftedFn>(entry.table as usize) };
        let exit = f(cpu, entry.block, 0);
        // SAFETY: as above; the lifted function has returned.
        let stop = unsafe {
            let current = &mut *CURRENT.0.get();
            current.interp = null_mut();
            current.mem = null_mut();
            current.stop.take()
        };
        match exit {
            EXIT_CONTINUE => Ok(()),
            EXIT_STOPPED => Err(stop.unwrap_or(Stop::InvalidOpcode)),
            _ => Err(Stop::InvalidOpcode),
        }
    }
}

/// Interprets the one instruction at `cpu.rip`: `EXIT_CONTINUE` when it completed, else
/// `EXIT_STOPPED` with the [`Stop`] recorded for the caller of the lifted code.
#[unsafe(no_mangle)]
pub extern "C" fn oci2wasm_step(cpu: *mut Cpu) -> i32 {
    // SAFETY: single-threaded; `WasmTable::call` set the pointers from live `&mut` borrows it
    // does not use until the lifted function (our caller) returns, and `cpu` is the pointer it
    // passed to that function.
    unsafe {
        let current = &mut *CURRENT.0.get();
        if current.interp.is_null() || current.mem.is_null() || cpu.is_null() {
            current.stop = Some(Stop::InvalidOpcode);
            return EXIT_STOPPED;
        }
        match step(&mut *current.interp, &mut *cpu, &mut *current.mem) {
            Ok(()) => EXIT_CONTINUE,
            Err(stop) => {
                current.stop = Some(stop);
                EXIT_STOPPED
            }
        }
    }
}

/// RFLAGS from the lazy flags in `cpu`.
#[unsafe(no_mangle)]
pub extern "C" fn oci2wasm_rflags(cpu: *const Cpu) -> u64 {
    // SAFETY: lifted code passes the `Cpu` pointer it was called with, which is live.
    crate::interp::rflags(unsafe { &*cpu })
}

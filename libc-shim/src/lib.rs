//! The oci2wasm guest runtime: compiled to wasm32 and linked into every converted image (see
//! `build-wasm.sh`; the built module is committed as `libc-shim.wasm`), and compiled for the host,
//! where its unit tests run.
//!
//! A process starts in [`start`] (on wasm32, `_start`): it reads the [`layout`] `compose` filled
//! in, applies `docker run` semantics to the run configuration ([`process`]), loads the ELF
//! ([`loader`]) into guest memory ([`mem`], managed by [`mm`]), and loops: the executor
//! ([`lifted`]: lifted code where it applies, else [`interp`]) runs guest code on the [`cpu`] state until a system call,
//! which [`syscall`] dispatches (one table for dispatch and the strace-like trace), or a fault,
//! which [`signal`] delivers. Files come from [`fs`] (the packed image, an in-memory overlay,
//! `/dev`, `/proc` and host mounts); the host is reached through [`platform`] (WASI preview 1 on
//! wasm32, a test double on the host). [`abi`] holds every Linux constant and structure;
//! [`heap`] is the runtime's own allocator over a fixed arena below the guest window.
#![no_std]

extern crate alloc;
#[cfg(any(test, feature = "generator"))]
extern crate std;

pub mod abi;
pub mod cpu;
pub mod fs;
pub mod heap;
pub mod interp;
pub mod layout;
pub mod lifted;
pub mod loader;
pub mod mem;
pub mod mm;
pub mod platform;
pub mod process;
pub mod signal;
pub mod start;
pub mod syscall;

//! The oci2wasm guest runtime (work in progress): compiled to wasm32 and linked into every
//! converted image, and compiled for the host where its unit tests run.
//!
//! - [`cpu`]: the guest CPU state shared by every executor.
//! - [`mem`]: guest memory with page permissions.
//! - [`layout`]: where `compose` put the filesystem and the run configuration.
#![no_std]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod abi;
pub mod cpu;
pub mod fs;
pub mod heap;
pub mod interp;
pub mod layout;
pub mod loader;
pub mod mem;
pub mod mm;
pub mod platform;
pub mod process;
pub mod signal;
pub mod start;
pub mod syscall;

//! The packed read-only filesystem of oci2wasm.
//!
//! (Overview to be completed with the format: see FORMAT.md.)
#![no_std]

#[cfg(feature = "std")]
extern crate std;

#[cfg(feature = "std")]
pub mod tree;

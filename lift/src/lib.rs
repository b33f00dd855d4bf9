//! ELF discovery for oci2wasm, and (as it lands) the x86-64 to Wasm translator.
//!
//! Today this crate answers "what is this ELF file?" ([`elf::analyze`]): class, machine, program
//! or library, static or dynamic, interpreter, PIE or fixed address, needed libraries, entry point
//! and executable code size. `oci2wasm inspect` reports it for every ELF in an image; the lifter
//! will start its discovery from the same facts.
//!
//! ```
//! let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
//! let info = oci2wasm_lift::elf::analyze(&exe).unwrap();
//! assert!(info.is_x86_64());
//! ```

pub mod code;
pub mod discover;
pub mod elf;
pub mod link;
pub mod translate;

//! Image fetching for oci2wasm (overview completed as modules land).

mod error;

pub use error::{Error, ErrorKind, Result};

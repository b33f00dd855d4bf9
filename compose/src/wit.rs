//! WASI 0.2 imports the runtime makes directly, beside the ones the p1 adapter provides.
//!
//! `wit-component` needs the WIT type of every import a core module makes outside the adapter. A
//! `no_std` runtime declares such imports as bare `extern` functions, so it carries no
//! `component-type` section; [`add_metadata`] embeds one for the interfaces it knows:
//!
//! - `wasi:cli/exit@0.2.12#exit-with-code` (`(func (param i32))`): exit with a full status byte.
//!   The p1 adapter's `proc_exit` reports every non-zero status as 1, so a runtime that wants
//!   `exit 3` to be seen as 3 (as `docker run` would) must call this instead.

use wasmparser::{Parser, Payload};

use crate::error::{Error, ErrorKind, Result};

/// The core import module name of `wasi:cli/exit`.
pub const EXIT_MODULE: &str = "wasi:cli/exit@0.2.12";

/// The WIT of the interfaces in this module's list, as wasmtime 48 ships them.
const WIT: &str = r#"
package wasi:cli@0.2.12;

interface exit {
  exit: func(status: result);
  exit-with-code: func(status-code: u8);
}

world oci2wasm-runtime {
  import exit;
}
"#;

/// Whether the module imports anything from `module`.
fn imports_from(wasm: &[u8], module: &str) -> Result<bool> {
    for payload in Parser::new(0).parse_all(wasm) {
        if let Payload::ImportSection(reader) = payload? {
            for import in reader.into_imports() {
                if import?.module == module {
                    return Ok(true);
                }
            }
        }
    }
    Ok(false)
}

/// Appends a `component-type` section for the WASI interfaces above when the module imports
/// them directly.
pub fn add_metadata(wasm: &mut Vec<u8>) -> Result<()> {
    if !imports_from(wasm, EXIT_MODULE)? {
        return Ok(());
    }
    let fail = |e: &dyn std::fmt::Display| {
        Error::new(
            ErrorKind::Encode,
            format!("cannot describe the runtime's WASI imports: {e:#}"),
        )
    };
    let mut resolve = wit_parser::Resolve::default();
    let package = resolve
        .push_str("oci2wasm-runtime.wit", WIT)
        .map_err(|e| fail(&e))?;
    let world = resolve
        .select_world(&[package], Some("oci2wasm-runtime"))
        .map_err(|e| fail(&e))?;
    wit_component::embed_component_metadata(
        wasm,
        &resolve,
        world,
        wit_component::StringEncoding::UTF8,
    )
    .map_err(|e| fail(&e))
}

//! Copies the committed runtime module (`libc-shim/libc-shim.wasm`, built by
//! `libc-shim/build-wasm.sh`) into `OUT_DIR` for `include_bytes!`. If it has not been built yet,
//! an empty file stands in and composing reports that the runtime is missing, so the rest of the
//! workspace still builds.

use std::path::Path;

fn main() {
    let src = Path::new("../libc-shim/libc-shim.wasm");
    println!("cargo::rerun-if-changed={}", src.display());
    let out =
        Path::new(&std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("libc-shim.wasm");
    let bytes = std::fs::read(src).unwrap_or_default();
    std::fs::write(&out, bytes).expect("write OUT_DIR/libc-shim.wasm");
}

#!/usr/bin/env bash
# The whole test suite, as CI runs it: set-up, formatting, then every crate's tests and the
# end-to-end tests (which build the fixture images they use and start their own registry).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo fmt --all -- --check
# The committed runtime module must be what its committed sources build (byte for byte).
libc-shim/build-wasm.sh --check
cargo test --workspace --locked

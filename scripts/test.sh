#!/usr/bin/env bash
# The whole test suite, as CI runs it: set-up, formatting, then every crate's tests and the
# end-to-end tests (which build the fixture images they use and start their own registry).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo fmt --all -- --check
cargo test --workspace --locked

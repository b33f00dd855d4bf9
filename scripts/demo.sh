#!/usr/bin/env bash
# The main job on the bundled demo image: set up, build the busybox fixture image (from Debian's
# busybox-static, offline), inspect it, convert it to a WASI 0.2 component and run that.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
fixtures/build.sh busybox
cargo build --release -p oci2wasm
mkdir -p demo-out
target/release/oci2wasm inspect oci:fixtures/out/busybox/oci:latest
target/release/oci2wasm convert oci:fixtures/out/busybox/oci:latest -o demo-out
target/release/oci2wasm run demo-out/busybox.wasm -- uname -a
target/release/oci2wasm run demo-out/busybox.wasm -- sh -c 'for w in hello from converted busybox; do printf "%s " "$w"; done; echo'

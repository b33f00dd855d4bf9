#!/usr/bin/env bash
# The main job on the bundled demo image: set up, build the busybox fixture image (from Debian's
# busybox-static, offline), then inspect it and pack its filesystem with a release build.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
fixtures/build.sh busybox
cargo build --release -p oci2wasm
mkdir -p demo-out
target/release/oci2wasm inspect oci:fixtures/out/busybox/oci:latest
target/release/oci2wasm pack oci:fixtures/out/busybox/oci:latest -o demo-out/busybox.vfs

#!/usr/bin/env bash
# Installs what oci2wasm's build, fixtures and tests need and is missing: Debian packages and
# stock wasmtime-cli (the Rust toolchain itself is the machine's own). Idempotent and quick when everything is there.
# Run as root, or with sudo available.
set -euo pipefail

# Debian packages, and why:
#   busybox-static  the busybox fixture's userland (a static x86-64 binary)
#   musl-tools      musl-gcc, for the static C fixture programs
#   umoci skopeo    build OCI layouts and docker archives of the fixtures; push to the registry
#   docker-registry the local OCI registry the pull tests start on 127.0.0.1
#   debootstrap     the Debian bookworm minbase fixture (dynamic glibc programs)
#   jq curl python3 used by fixtures/build.sh and fixtures/registry.sh
#   apache2-utils   htpasswd, for the registry authentication test
#   gcc libc6-dev binutils
#                   lift's discovery tests: a static glibc program (gcc -static), strip
#   rustc-web cargo-web rust-web-src
#                   a second Rust (1.9x) with its library sources, which builds core/alloc for
#                   wasm32 (libc-shim/build-wasm.sh) where rustup cannot add the target
#   qemu-user fonts-dejavu-core
#                   bench/: the qemu-x86_64 column, and the font of its PNG chart
PACKAGES=(busybox-static musl-tools umoci skopeo docker-registry debootstrap jq curl python3 apache2-utils
    gcc libc6-dev binutils
    rustc-web cargo-web rust-web-src qemu-user fonts-dejavu-core)

missing=()
for pkg in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done

if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}" >&2
    sudo=()
    if ((EUID != 0)); then
        command -v sudo >/dev/null || { echo "setup: need root (or sudo) to install ${missing[*]}" >&2; exit 1; }
        sudo=(sudo)
    fi
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Stock wasmtime, to check that converted components run outside oci2wasm too (same engine
# version as the embedded one). A cold build takes ~9 minutes on 2 cores; skipped when present.
WASMTIME_VERSION=48.0.8
if ! command -v wasmtime >/dev/null || [[ $(wasmtime --version) != "wasmtime $WASMTIME_VERSION"* ]]; then
    echo "setup: installing wasmtime-cli $WASMTIME_VERSION (cargo install, takes minutes)" >&2
    cargo install --locked --quiet "wasmtime-cli@$WASMTIME_VERSION"
fi

# Fail loudly, here, if anything the tests rely on is still not there.
for tool in cargo busybox musl-gcc umoci skopeo docker-registry debootstrap jq curl python3 htpasswd; do
    command -v "$tool" >/dev/null || { echo "setup: $tool is still missing" >&2; exit 1; }
done

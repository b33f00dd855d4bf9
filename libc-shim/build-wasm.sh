#!/usr/bin/env bash
# Builds the oci2wasm runtime (libc-shim) as a wasm32 module and installs it as
# libc-shim/libc-shim.wasm, the committed file that `compose` embeds (so building the host tools
# needs no wasm toolchain).
#
#   libc-shim/build-wasm.sh           rebuild and replace libc-shim/libc-shim.wasm
#   libc-shim/build-wasm.sh --check   rebuild into a temporary file; fail if it differs from the
#                                     committed bytes (CI runs this through scripts/test.sh)
#
# Toolchains, in order of preference:
#   1. rustup's toolchain, when `rustup target list --installed` has wasm32-unknown-unknown;
#   2. Debian's rustc-web/cargo-web/rust-web-src (rustc 1.9x with the library sources), building
#      core/alloc with -Zbuild-std (RUSTC_BOOTSTRAP=1), linked with rustup's rust-lld.
# Set OCI2WASM_WASM_TOOLCHAIN=rustup|debian to force one. The output is deterministic for a given
# toolchain (paths remapped, no debug info or names), so --check is meaningful only against a
# module built by the same toolchain; the committed module is built with (2), which
# scripts/setup.sh installs.
#
# The module exports `memory`, `OCI2WASM_LAYOUT` (the layout contract with compose, see
# src/layout.rs), `__heap_base`, and `_start`/`cabi_realloc` when the runtime defines them.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=libc-shim/libc-shim.wasm
TARGET=wasm32-unknown-unknown
TARGET_DIR=$ROOT/target/wasm
STACK_SIZE=$((1 << 20))

check=false
case "${1:-}" in
    --check) check=true ;;
    "") ;;
    -h | --help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-wasm: unknown argument $1 (try --help)" >&2; exit 2 ;;
esac

die() { echo "build-wasm: $*" >&2; exit 1; }

# --- pick a toolchain -------------------------------------------------------------------------
toolchain=${OCI2WASM_WASM_TOOLCHAIN:-}
if [[ -z $toolchain ]]; then
    if command -v rustup >/dev/null && rustup target list --installed 2>/dev/null | grep -qx "$TARGET"; then
        toolchain=rustup
    elif [[ -x /usr/bin/rustc && -x /usr/bin/cargo && -d /usr/lib/rustlib/src/rust/library ]]; then
        toolchain=debian
    else
        die "no wasm32 toolchain: run scripts/setup.sh (Debian's rustc-web) or 'rustup target add $TARGET'"
    fi
fi

# Paths that would otherwise end up in panic messages and be embedded in the module.
CARGO_HOME_DIR=${CARGO_HOME:-$HOME/.cargo}
remap=(
    "--remap-path-prefix=$ROOT=/oci2wasm"
    "--remap-path-prefix=$CARGO_HOME_DIR/registry/src=/cargo"
    "--remap-path-prefix=$CARGO_HOME_DIR/git/checkouts=/cargo-git"
)
link=(
    -C "link-arg=-zstack-size=$STACK_SIZE"
    -C link-arg=--export=OCI2WASM_LAYOUT
    -C link-arg=--export=__heap_base
    -C link-arg=--export-if-defined=_start
    -C link-arg=--export-if-defined=cabi_realloc
    -C link-arg=--strip-debug
    -C link-arg=--no-entry
)
cargo_args=(rustc -p libc-shim --profile wasm --target "$TARGET" --crate-type cdylib --locked)

case $toolchain in
    rustup)
        cargo=(cargo)
        env_vars=()
        sysroot=$(rustc --print sysroot)
        remap+=("--remap-path-prefix=$sysroot/lib/rustlib/src/rust=/rustc-src")
        ;;
    debian)
        lld=""
        for candidate in "$(rustup which rustc 2>/dev/null | xargs -r dirname)/../lib/rustlib/x86_64-unknown-linux-gnu/bin/rust-lld" \
            "$HOME"/.rustup/toolchains/*/lib/rustlib/x86_64-unknown-linux-gnu/bin/rust-lld \
            "$(command -v rust-lld || true)" "$(command -v wasm-ld || true)"; do
            if [[ -n $candidate && -x $candidate ]]; then lld=$candidate; break; fi
        done
        [[ -n $lld ]] || die "no rust-lld or wasm-ld found to link wasm32"
        cargo=(/usr/bin/cargo)
        env_vars=(RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1)
        cargo_args+=(-Zbuild-std=core,alloc,panic_abort)
        link+=(-C "linker=$lld")
        remap+=("--remap-path-prefix=/usr/lib/rustlib/src/rust=/rustc-src")
        ;;
    *) die "OCI2WASM_WASM_TOOLCHAIN must be rustup or debian, not $toolchain" ;;
esac

# RUSTFLAGS (not `cargo rustc -- FLAGS`) so that the remapping also covers core and alloc.
rustflags="${remap[*]} ${link[*]}"
echo "build-wasm: building libc-shim for $TARGET with the $toolchain toolchain" >&2
env -u CARGO_ENCODED_RUSTFLAGS "${env_vars[@]}" CARGO_TARGET_DIR="$TARGET_DIR" RUSTFLAGS="$rustflags" \
    "${cargo[@]}" "${cargo_args[@]}" >&2 ||
    die "the build failed"

built=$TARGET_DIR/$TARGET/wasm/libc_shim.wasm
[[ -f $built ]] || die "the build produced no $built"

exports=$(python3 - "$built" <<'EOF'
import sys
data = open(sys.argv[1], "rb").read()
def leb(i):
    r = s = 0
    while True:
        b = data[i]; i += 1; r |= (b & 0x7f) << s; s += 7
        if b < 0x80: return r, i
i, names = 8, []
while i < len(data):
    sid = data[i]; size, j = leb(i + 1); end = j + size
    if sid == 7:
        n, j = leb(j)
        for _ in range(n):
            ln, j = leb(j); names.append(data[j:j + ln].decode()); j += ln + 1; _, j = leb(j)
    i = end
print(" ".join(names))
EOF
)
for required in memory OCI2WASM_LAYOUT __heap_base; do
    [[ " $exports " == *" $required "* ]] || die "the module does not export $required (exports: $exports)"
done
[[ " $exports " == *" _start "* ]] || echo "build-wasm: note: no _start yet (the runtime's entry point)" >&2

size=$(stat -c %s "$built")
if $check; then
    [[ -f $OUT ]] || die "$OUT is missing; run libc-shim/build-wasm.sh and commit it"
    if cmp -s "$built" "$OUT"; then
        echo "build-wasm: $OUT is up to date ($size bytes; exports: $exports)" >&2
    else
        die "$OUT differs from a fresh build ($(stat -c %s "$OUT") committed vs $size built): run libc-shim/build-wasm.sh and commit it"
    fi
else
    tmp=$(mktemp "$OUT.XXXXXX")
    cp "$built" "$tmp" && mv -f "$tmp" "$OUT"
    echo "build-wasm: wrote $OUT ($size bytes; exports: $exports)" >&2
fi

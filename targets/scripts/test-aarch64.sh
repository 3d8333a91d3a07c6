#!/usr/bin/env bash
# Runs the edgelm-kernels tests for aarch64 under qemu user emulation, twice: on
# qemu's default CPU (NEON + dotprod: the sdot kernels) and on a Cortex-A72 (NEON
# only: the plain kernels). Installs the Rust target, the cross linker and qemu
# when they are missing (Debian/Ubuntu; sudo only when not root).
set -euo pipefail

cd "$(dirname "$0")/../.."
TARGET=aarch64-unknown-linux-gnu
SYSROOT=/usr/aarch64-linux-gnu

if ! rustup target list --installed | grep -qx "$TARGET"; then
    rustup target add "$TARGET"
fi

if ! command -v aarch64-linux-gnu-gcc >/dev/null || ! command -v qemu-aarch64 >/dev/null \
    || [ ! -d "$SYSROOT/lib" ]; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        SUDO=sudo
    fi
    $SUDO apt-get update -q
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
fi

# Extra arguments go to `cargo test` (e.g. a test name filter). EDGELM_EXPECT_DOTPROD
# makes the dispatch test fail if the emulated CPU does not report what we expect,
# rather than quietly skipping the SDOT kernels.
run() {
    local cpu_args=$1 dotprod=$2
    shift 2
    echo "== edgelm-kernels on qemu-aarch64 ${cpu_args:-(default CPU)}, dotprod=$dotprod"
    EDGELM_EXPECT_DOTPROD=$dotprod \
        CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 $cpu_args -L $SYSROOT" \
        cargo test -p edgelm-kernels --target "$TARGET" "$@"
}

run "" 1 "$@"
run "-cpu cortex-a72" 0 "$@"

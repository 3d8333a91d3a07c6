#!/usr/bin/env bash
# Runs the edgelm-kernels tests for aarch64 under qemu user emulation, twice: on
# qemu's default CPU (NEON + dotprod: the sdot kernels) and on a Cortex-A72 (NEON
# only: the plain kernels). Installs the Rust target, the cross linker and qemu
# when they are missing (Debian/Ubuntu; sudo only when not root).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=common.sh
source "$here/common.sh"
cd "$here/../.."
TARGET=aarch64-unknown-linux-gnu
SYSROOT=/usr/aarch64-linux-gnu

ensure_rust_target "$TARGET"
ensure_apt gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user

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

#!/usr/bin/env bash
# Every check CI runs: formatting, lints, and all tests (with the real model fetched).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
rustup component add rustfmt clippy >/dev/null 2>&1 || true
bash runtime/scripts/fetch-smollm2.sh
bash runtime/scripts/fetch-gemma3.sh
bash tests/scripts/smollm2-hf.sh
# Here every test input exists: a test that would skip for a missing one fails instead.
export EDGELM_REQUIRE_FIXTURES=1
EDGELM_TEST_PYTHON="$(bash tests/scripts/python-env.sh)"
export EDGELM_TEST_PYTHON
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace --no-fail-fast

# Devices. Each script installs what it needs (Rust targets; apt: cross gcc, qemu, llvm, file)
# and says what failed; `step` names the step that did.
step() {
    local name=$1 start=$SECONDS
    shift
    echo "### $name"
    if ! "$@"; then
        echo "FAILED step: $name" >&2
        exit 1
    fi
    echo "### $name: ok in $((SECONDS - start)) s"
}
# The NEON kernels against their scalar twins under qemu-aarch64, with dotprod (default
# CPU) and without (Cortex-A72).
step "aarch64 kernel tests (qemu)" bash targets/scripts/test-aarch64.sh
# The static musl `edgelm` under qemu-aarch64 gives x86's greedy tokens on the tiny models
# (ci-arm profile: the device code without fat LTO; x86: the binary cargo test built).
# SmolLM2 takes minutes under emulation: run `compare all` by hand (README, Deploying).
step "aarch64 musl greedy = x86 (qemu)" env PROFILE=ci-arm X86_BIN=target/debug/edgelm \
    bash targets/scripts/run-aarch64.sh compare tiny
# The C API static library for Android and iOS: right architecture and object format, the
# header's functions exported (ci-arm profile for CI time; apps ship the device profile,
# the same code with fat LTO: `targets/scripts/check-libs.sh` without PROFILE). The iOS
# simulator is skipped only if rustup cannot fetch its standard library.
step "Android/iOS static libraries" env PROFILE=ci-arm bash targets/scripts/check-libs.sh
# The app library unwinds: an internal panic comes back as EDGELM_ERR_INTERNAL with the host
# process alive (ci-arm-lib: the shipped device-lib's panic strategy, CI's build speed).
step "C API panic -> EDGELM_ERR_INTERNAL (app profile)" env PROFILE=ci-arm bash targets/scripts/check-panic.sh

# CUDA without a GPU: the feature builds and passes clippy, NVRTC (from its PyPI wheel)
# compiles every kernel, the GPU tests report that they skipped, `--device cuda` fails
# cleanly. The GPU run itself is bench/gpu/run.sh on a machine with one.
step "CUDA build + NVRTC kernel compile (no GPU)" bash tests/scripts/cuda-nogpu.sh

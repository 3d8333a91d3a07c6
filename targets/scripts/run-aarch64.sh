#!/usr/bin/env bash
# The static aarch64 `edgelm` (musl) under qemu user emulation, on this x86 machine.
#
#   targets/scripts/run-aarch64.sh run MODEL.gguf "PROMPT" [N]
#       greedy (--temp 0) generation of N tokens (default 32) on the emulated ARM CPU.
#   targets/scripts/run-aarch64.sh compare [tiny|smollm2|all]
#       greedy tokens on x86 and under qemu must be the same ids, on two emulated CPUs:
#       `max` (NEON + dotprod: the SDOT kernels) and `cortex-a72` (plain NEON), 16 tokens each.
#       `tiny` (default, what CI runs): the random-weight models in tests/fixtures/tiny, first
#       prompt only; `smollm2`: models/SmolLM2-135M-Instruct.Q4_1.gguf on both reference prompts
#       (slow under emulation: about a minute a run); `all`: both. Exits 1 on any difference.
#
# PROFILE (default `device`) is the cargo profile both binaries are built with. X86_BIN, when
# set, is an x86 `edgelm` built already from this tree, used instead of building one. CI uses
# PROFILE=ci-arm (no fat LTO: a quicker cold build) and X86_BIN=target/debug/edgelm (the one
# `cargo test --workspace` has just built). THREADS (default 2) is edgelm's -t.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=common.sh
source "$here/common.sh"
cd "$here/../.."

TARGET=aarch64-unknown-linux-musl
profile=${PROFILE:-device}
threads=${THREADS:-2}
n_predict=16
# The reference prompts (see /work/shared/ORACLES.md for SmolLM2's greedy continuations).
prompts=("The capital of France is" "def fibonacci(n):")

usage() {
    sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

build_arm() {
    ensure_rust_target "$TARGET"
    ensure_apt qemu-user
    cargo build -q --profile "$profile" --target "$TARGET" -p edgelm-runtime --bin edgelm
    arm_bin="target/$TARGET/$(profile_dir "$profile")/edgelm"
}

build_x86() {
    if [ -n "${X86_BIN:-}" ]; then
        [ -x "$X86_BIN" ] || { echo "error: X86_BIN=$X86_BIN is not an executable" >&2; exit 1; }
        x86_bin=$X86_BIN
        return
    fi
    cargo build -q --profile "$profile" -p edgelm-runtime --bin edgelm
    x86_bin="target/$(profile_dir "$profile")/edgelm"
}

# The greedy run's JSON report on stdout. $1: command prefix (empty or a qemu line), $2 model, $3 prompt.
greedy_json() {
    local prefix=$1 bin=$2 model=$3 prompt=$4
    # shellcheck disable=SC2086 # the prefix is a word list on purpose
    $prefix "$bin" run -m "$model" -p "$prompt" --temp 0 -n "$n_predict" -t "$threads" --json
}

# Prints one field of a JSON report: tokens as a comma list, text as JSON string.
field() {
    python3 -c 'import json, sys; r = json.load(sys.stdin); v = r[sys.argv[1]]
print(",".join(map(str, v)) if isinstance(v, list) else json.dumps(v))' "$1"
}

compare() {
    local which=${1:-tiny} models=() model prompt cpu failed=0
    local tiny=(tests/fixtures/tiny/{llama,mistral,qwen2,qwen3,gemma2,gemma3,gpt2,phi3}.gguf)
    local smollm2=models/SmolLM2-135M-Instruct.Q4_1.gguf
    case $which in
        tiny) models=("${tiny[@]}") ;;
        smollm2) models=("$smollm2") ;;
        all) models=("${tiny[@]}" "$smollm2") ;;
        *) usage ;;
    esac
    for model in "${models[@]}"; do
        if [ ! -f "$model" ]; then
            echo "error: $model is missing (SmolLM2: bash runtime/scripts/fetch-smollm2.sh)" >&2
            exit 1
        fi
    done
    build_x86
    build_arm
    for model in "${models[@]}"; do
        local model_prompts=("${prompts[@]}")
        # Random weights make any prompt as good a test as another: one keeps CI short.
        [ "$model" != "$smollm2" ] && model_prompts=("${prompts[0]}")
        for prompt in "${model_prompts[@]}"; do
            local x86 x86_tokens
            x86=$(greedy_json "" "$x86_bin" "$model" "$prompt")
            x86_tokens=$(field tokens <<<"$x86")
            echo "== $(basename "$model") | $prompt"
            echo "   x86_64            $(field text <<<"$x86")"
            for cpu in max cortex-a72; do
                local arm arm_tokens verdict=same
                arm=$(greedy_json "qemu-aarch64 -cpu $cpu" "$arm_bin" "$model" "$prompt")
                arm_tokens=$(field tokens <<<"$arm")
                if [ "$arm_tokens" != "$x86_tokens" ]; then
                    verdict="DIFFERENT tokens: x86 [$x86_tokens] vs aarch64 [$arm_tokens]"
                    failed=1
                fi
                printf '   aarch64 %-10s %s  (%s)\n' "$cpu" "$(field text <<<"$arm")" "$verdict"
            done
        done
    done
    if [ $failed -ne 0 ]; then
        echo "FAIL: greedy tokens under qemu-aarch64 differ from x86" >&2
        exit 1
    fi
    echo "ok: greedy tokens under qemu-aarch64 (max, cortex-a72) equal x86 for every model and prompt"
}

case ${1:-} in
    run)
        [ $# -ge 3 ] && [ $# -le 4 ] || usage
        [ -f "$2" ] || { echo "error: $2: no such model file" >&2; exit 1; }
        build_arm
        qemu-aarch64 "$arm_bin" run -m "$2" -p "$3" --temp 0 -n "${4:-32}" -t "$threads"
        ;;
    compare)
        [ $# -le 2 ] || usage
        compare "${2:-tiny}"
        ;;
    *) usage ;;
esac

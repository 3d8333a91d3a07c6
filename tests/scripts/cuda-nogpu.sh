#!/usr/bin/env bash
# The CUDA backend on a machine without a GPU: it builds and lints with the feature on,
# every kernel's CUDA C compiles with NVRTC (the library alone, from the PyPI wheel
# nvidia-cuda-nvrtc-cu12: no toolkit, no driver), the GPU tests say they skipped, and
# `edgelm --device cuda` fails with a clear message.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"

nvrtc="$root/models/nvrtc"
if [ ! -f "$nvrtc/.edgelm-nvrtc-12.9.86" ]; then
    python="$(bash tests/scripts/python-env.sh)"
    "$python" -m pip install --quiet --disable-pip-version-check --no-deps \
        --target "$nvrtc" nvidia-cuda-nvrtc-cu12==12.9.86 >&2
    touch "$nvrtc/.edgelm-nvrtc-12.9.86"
fi

cargo clippy --quiet -p edgelm-kernels -p edgelm-runtime --all-targets --features cuda -- -D warnings
LD_LIBRARY_PATH="$nvrtc/nvidia/cuda_nvrtc/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
EDGELM_REQUIRE_NVRTC=1 \
    cargo test --quiet -p edgelm-kernels -p edgelm-runtime --features cuda \
        --test cuda_nvrtc --test cuda_kernels --test cuda_model --test cli_device

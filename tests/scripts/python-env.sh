#!/usr/bin/env bash
# A small Python environment for the test oracles that CI can afford (no torch):
# gguf-py (reads and dequantizes GGUF), numpy, safetensors, and the official `openai` client
# (drives `edgelm serve` in tests/tests/serve_http.rs). Made once in models/.venv;
# prints the path of its python.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
venv="$root/models/.venv"
stamp="$venv/.edgelm-deps-2"
if [ ! -f "$stamp" ]; then
    mkdir -p "$root/models"
    if ! python3 -m venv "$venv" >/dev/null 2>&1; then
        # Debian/Ubuntu ship venv separately.
        if command -v apt-get >/dev/null; then
            sudo_cmd=""; [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
            $sudo_cmd apt-get install -y -qq python3-venv >/dev/null
        fi
        python3 -m venv "$venv"
    fi
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        gguf==0.19.0 numpy safetensors==0.8.0 openai==3.63.0 >&2
    touch "$stamp"
fi
echo "$venv/bin/python"

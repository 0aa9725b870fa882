#!/usr/bin/env bash
# Starts and stops a real local LLM on loopback: llama.cpp's OpenAI-compatible server (the PyPI
# package llama-cpp-python[server]) with the SmolLM2-135M-Instruct GGUF, both from the cached
# virtual environment of scripts/python-env.sh.
#   scripts/llm.sh start DIR    starts it, waits until /v1/models answers, writes DIR/env with
#                               CODECITE_LLM_BASE_URL=http://127.0.0.1:<port>/v1 and prints it
#   scripts/llm.sh stop DIR     stops it and removes DIR
# The model is tiny (135M parameters): fast on 2 cores, and it invents codes freely, which is
# what the verification tests want to see.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { sed -n '2,9p' "$0" >&2; exit 2; }

case "$cmd" in
start)
    venv=$("$here/python-env.sh")
    model="$venv/models/SmolLM2-135M-Instruct.Q4_1.gguf"
    mkdir -p "$dir"
    # A free port below the kernel's ephemeral range (32768 and up).
    port=$(python3 -c 'import random, socket
for _ in range(50):
    port = random.randrange(10000, 32000)
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
    print(port)
    break')
    "$venv/bin/python" -m llama_cpp.server --model "$model" --model_alias smollm2-135m \
        --host 127.0.0.1 --port "$port" --n_ctx 8192 --n_threads 2 --n_threads_batch 2 --seed 7 --verbose false \
        --interrupt_requests true >"$dir/log" 2>&1 &
    echo $! >"$dir/pid"
    for _ in $(seq 1 300); do
        curl -sf "http://127.0.0.1:$port/v1/models" >/dev/null 2>&1 && break
        kill -0 "$(cat "$dir/pid")" 2>/dev/null || { echo "llm.sh: the server exited; see $dir/log" >&2; tail -n 20 "$dir/log" >&2; exit 1; }
        sleep 0.2
    done
    curl -sf "http://127.0.0.1:$port/v1/models" >/dev/null || { echo "llm.sh: not answering after 60 s" >&2; exit 1; }
    {
        echo "CODECITE_LLM_BASE_URL=http://127.0.0.1:$port/v1"
        echo "CODECITE_LLM_MODEL=smollm2-135m"
    } >"$dir/env"
    cat "$dir/env"
    ;;
stop)
    if [ -f "$dir/pid" ]; then
        pid=$(cat "$dir/pid")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -rf "$dir"
    ;;
*) sed -n '2,9p' "$0" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# Starts and stops Qdrant servers on loopback for the server-backend tests and benchmarks.
#   scripts/qdrant.sh start DIR single     one node
#   scripts/qdrant.sh start DIR cluster    three peers (Raft consensus, peer-to-peer on loopback)
#   scripts/qdrant.sh stop DIR             stops every node and removes DIR
#   scripts/qdrant.sh stop-node DIR N      stops node N (1-based) and keeps its storage
#   scripts/qdrant.sh start-node DIR N     starts node N again on the same ports and storage
# The binary is $QDRANT_BIN (default ~/.cache/codecite/qdrant/qdrant; no registry ships the
# Qdrant server, so it is built from its public source, see README "Scaling out"). Storage lives
# in DIR. `start` waits until every node answers /readyz (and, for a cluster, until all three
# peers are in the consensus), then writes DIR/env with
#   QDRANT_URL=http://127.0.0.1:<grpc port of node 1>
#   QDRANT_HTTP_URLS="http://127.0.0.1:<http port of node 1> ..."   (one per node)
# and prints it. Exit status 3 means the binary is missing.
set -euo pipefail
bin=${QDRANT_BIN:-$HOME/.cache/codecite/qdrant/qdrant}
cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { sed -n '2,8p' "$0" >&2; exit 2; }

http_port() { echo $(( $(cat "$dir/base") + 10 * $1 )); }
grpc_port() { echo $(( $(cat "$dir/base") + 10 * $1 + 1 )); }
p2p_port() { echo $(( $(cat "$dir/base") + 10 * $1 + 2 )); }

wait_ready() { # node
    local url="http://127.0.0.1:$(http_port "$1")/readyz"
    for _ in $(seq 1 300); do
        curl -sf "$url" >/dev/null 2>&1 && return 0
        kill -0 "$(cat "$dir/node$1/pid")" 2>/dev/null || { echo "qdrant.sh: node $1 exited; see $dir/node$1/log" >&2; tail -n 20 "$dir/node$1/log" >&2; return 1; }
        sleep 0.2
    done
    echo "qdrant.sh: node $1 not ready after 60 s; see $dir/node$1/log" >&2
    return 1
}

start_node() { # node
    local n=$1 node="$dir/node$1"
    mkdir -p "$node/storage" "$node/snapshots"
    local args=()
    if [ "$(cat "$dir/mode")" = cluster ]; then
        args+=(--uri "http://127.0.0.1:$(p2p_port "$n")")
        [ "$n" = 1 ] || args+=(--bootstrap "http://127.0.0.1:$(p2p_port 1)")
    fi
    (
        cd "$node"
        export QDRANT__SERVICE__HOST=127.0.0.1
        export QDRANT__SERVICE__HTTP_PORT=$(http_port "$n")
        export QDRANT__SERVICE__GRPC_PORT=$(grpc_port "$n")
        export QDRANT__CLUSTER__ENABLED=$([ "$(cat "$dir/mode")" = cluster ] && echo true || echo false)
        export QDRANT__CLUSTER__P2P__PORT=$(p2p_port "$n")
        export QDRANT__STORAGE__STORAGE_PATH="$node/storage"
        export QDRANT__STORAGE__SNAPSHOTS_PATH="$node/snapshots"
        export QDRANT__TELEMETRY_DISABLED=true
        export QDRANT__LOG_LEVEL=${QDRANT_LOG_LEVEL:-WARN}
        exec "$bin" "${args[@]}" >>"$node/log" 2>&1
    ) &
    echo $! >"$node/pid"
    wait_ready "$n"
}

stop_node() { # node
    local pidfile="$dir/node$1/pid"
    [ -f "$pidfile" ] || return 0
    local pid
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$pidfile"
}

nodes() { [ "$(cat "$dir/mode")" = cluster ] && echo "1 2 3" || echo 1; }

case "$cmd" in
start)
    mode=${3:-single}
    [ "$mode" = single ] || [ "$mode" = cluster ] || { echo "qdrant.sh: mode is single or cluster, not $mode" >&2; exit 2; }
    [ -x "$bin" ] || { echo "qdrant.sh: no Qdrant server binary at $bin (set QDRANT_BIN)" >&2; exit 3; }
    mkdir -p "$dir"
    echo "$mode" >"$dir/mode"
    # Ports below the kernel's ephemeral range (32768 and up), so that no outgoing connection
    # holds one; a base is taken only when every port of every node is free to bind.
    for _ in $(seq 1 50); do
        base=$(( 10000 + RANDOM % 22000 ))
        python3 - "$base" <<'PY' && break
import socket, sys
base = int(sys.argv[1])
for port in [base + 10 * n + k for n in (1, 2, 3) for k in (0, 1, 2)]:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            sys.exit(1)
PY
    done
    echo "$base" >"$dir/base"
    for n in $(nodes); do start_node "$n"; done
    if [ "$mode" = cluster ]; then
        for _ in $(seq 1 300); do
            peers=$(curl -sf "http://127.0.0.1:$(http_port 1)/cluster" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["result"]["peers"]))' 2>/dev/null || echo 0)
            [ "$peers" = 3 ] && break
            sleep 0.2
        done
        [ "$peers" = 3 ] || { echo "qdrant.sh: the cluster has $peers of 3 peers after 60 s" >&2; exit 1; }
    fi
    urls=""
    for n in $(nodes); do urls="$urls http://127.0.0.1:$(http_port "$n")"; done
    {
        echo "QDRANT_URL=http://127.0.0.1:$(grpc_port 1)"
        echo "QDRANT_HTTP_URLS=\"${urls# }\""
    } >"$dir/env"
    cat "$dir/env"
    ;;
stop)
    [ -f "$dir/mode" ] || exit 0
    for n in $(nodes); do stop_node "$n"; done
    rm -rf "$dir"
    ;;
stop-node) stop_node "${3:?node number}" ;;
start-node) start_node "${3:?node number}" ;;
*) sed -n '2,8p' "$0" >&2; exit 2 ;;
esac

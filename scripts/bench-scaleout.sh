#!/usr/bin/env bash
# `codecite bench` on the bundled corpus three ways, for the README's side-by-side table:
# Qdrant Edge in process, one Qdrant server node, and a 3-node cluster (3 shards, replication
# factor 2), each on loopback from scripts/qdrant.sh; then the resident memory of every Qdrant
# node. The SQL side is SQLite unless DATABASE_URL is set. Release build, binary from
# $CODECITE_BIN (default $CARGO_TARGET_DIR/release/codecite).
#   scripts/bench-scaleout.sh [--queries N]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${CODECITE_BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/codecite/target}/release/codecite}
work=$(mktemp -d /tmp/codecite-bench-scaleout.XXXXXX)
trap 'scripts/qdrant.sh stop "$work/q" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

rss() { # pid -> "now MB (peak MB)"
    awk '/^VmRSS/{r=$2} /^VmHWM/{h=$2} END{printf "%.0f MB (peak %.0f MB)", r/1024, h/1024}' "/proc/$1/status"
}

for backend in edge single cluster; do
    echo "### $backend"
    if [ "$backend" = edge ]; then
        env -u QDRANT_URL -u CODECITE_QDRANT_URL "$bin" bench "$@"
        continue
    fi
    scripts/qdrant.sh start "$work/q" "$backend" >/dev/null
    url=$(sed -n 's/^QDRANT_URL=//p' "$work/q/env")
    shards=1 replicas=1
    [ "$backend" = cluster ] && shards=3 replicas=2
    CODECITE_QDRANT_URL="$url" CODECITE_QDRANT_SHARDS=$shards CODECITE_QDRANT_REPLICATION_FACTOR=$replicas \
        CODECITE_COLLECTION=bench "$bin" bench "$@"
    for pidfile in "$work"/q/node*/pid; do
        node=$(basename "$(dirname "$pidfile")")
        echo "| Qdrant $node RSS after the bench | $(rss "$(cat "$pidfile")") |"
    done
    scripts/qdrant.sh stop "$work/q"
done

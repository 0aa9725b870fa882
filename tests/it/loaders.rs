//! Loaders for operators' files, in the official layouts (fixtures written for the tests).

use std::path::{Path, PathBuf};

use axum::http::StatusCode;
use codecite::codes::CodeSystem;
use codecite::ingest::loaders::{load, write_overlay, Format, Loaded};
use codecite::ingest::IngestOptions;

use crate::helpers::TestApp;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/loaders").join(name)
}

fn records(format: Format, name: &str) -> Vec<codecite::codes::CodeRecord> {
    match load(format, &fixture(name)).unwrap() {
        Loaded::Records(r) => r,
        _ => panic!("records expected"),
    }
}

#[test]
fn each_format_parses() {
    let ama = records(Format::AmaCpt, "ama-cpt.txt");
    assert_eq!(ama.iter().map(|r| r.code.as_str()).collect::<Vec<_>>(), ["47562", "12002"]);
    assert_eq!(ama[0].title, "Fixture descriptor: gallbladder removal, keyhole approach");

    let hcpcs = records(Format::CmsHcpcs, "cms-hcpcs.txt");
    let codes: Vec<_> = hcpcs.iter().map(|r| (r.code.as_str(), r.system)).collect();
    assert_eq!(codes, [("J1885", CodeSystem::Hcpcs), ("A9270", CodeSystem::Hcpcs), ("XS", CodeSystem::Modifier)], "D codes are skipped");
    assert_eq!(hcpcs[0].title, "Fixture ketorolac");
    assert_eq!(hcpcs[0].description.as_deref(), Some("Fixture long text for ketorolac, first line continued fixture text"));

    let icd = records(Format::Icd10cmOrder, "icd10cm-order.txt");
    assert_eq!(icd.iter().map(|r| r.code.as_str()).collect::<Vec<_>>(), ["E11.9", "Z99.89"], "headers are not codes");
    assert_eq!(icd[0].title, "Fixture long title for type 2 diabetes without complications");

    match load(Format::NcciPtp, &fixture("ncci-ptp.txt")).unwrap() {
        Loaded::Ncci(rows) => assert_eq!(
            rows,
            vec![("99213".to_string(), "47562".to_string(), false), ("G0463".to_string(), "0591T".to_string(), true)],
            "deleted edits and indicator 9 are left out"
        ),
        _ => panic!("NCCI rows expected"),
    }
}

#[test]
fn a_bad_line_names_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(Format, &str, &str); 5] = [
        (Format::Icd10cmXml, "<ICD10CM.tabular>\n<chapter>\n</section>\n</ICD10CM.tabular>\n", ":3:"),
        (Format::AmaCpt, "header\n47562\tok\n4756X\tbad code\n", ":3: \"4756X\" is not a CPT code"),
        (Format::CmsHcpcs, &format!("{:<5}{:0>5}9{:<80}\n", "J1885", "100", "x"), ":1: unknown record identification code \"9\""),
        (Format::Icd10cmOrder, "00001 E119    1 short\nnot a record\n", ":2: not an ICD-10-CM order file record"),
        (Format::NcciPtp, "title\n99213\t47562\t\t20200101\t*\t1\tx\n99213\t47563\t\t20200101\t*\t5\tx\n", ":3: modifier indicator \"5\""),
    ];
    for (format, text, needle) in cases {
        let path = dir.path().join("input.txt");
        std::fs::write(&path, text).unwrap();
        let err = load(format, &path).err().unwrap_or_else(|| panic!("{format:?} accepted a bad file")).to_string();
        assert!(err.contains("input.txt") && err.contains(needle), "{format:?}: {err}");
    }
}

#[tokio::test]
async fn loaded_files_layer_over_the_corpus() {
    let app = TestApp::spawn().await;
    let overlay = app.config.overlay_dir();
    for (format, name) in [(Format::AmaCpt, "ama-cpt.txt"), (Format::NcciPtp, "ncci-ptp.txt")] {
        let path = fixture(name);
        write_overlay(&overlay, format, &path, &load(format, &path).unwrap()).unwrap();
    }
    let summary = app.services().ingest(&IngestOptions::default()).await.unwrap();
    assert_eq!((summary.added, summary.changed), (1, 1), "12002 is new, 47562 changed: {summary}");

    // The licensed descriptor replaces our summary's wording and keeps its facts.
    let (_, body) = app.get("/api/codes/47562").await;
    assert_eq!(body["title"], "Fixture descriptor: gallbladder removal, keyhole approach");
    assert_eq!(body["global"], "090");
    assert_eq!(app.search_codes("12002").await[0], "12002");

    // The loaded NCCI file replaces the bundled table.
    let (status, body) = app.get("/api/ncci?c1=47562&c2=99213").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["modifier_allowed"], false);
    let (status, _) = app.get("/api/ncci?c1=96372&c2=99213").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the deleted edit is gone");
}

/// The Rust reader of the tabular XML and the script that built the shipped corpus agree on
/// every code, title, path and note.
#[test]
fn the_tabular_xml_loader_matches_the_shipped_corpus() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let loaded = records(Format::Icd10cmXml, "../../../corpus/raw/icd10cm-tabular-2026-04-01.xml.xz");
    assert_eq!(loaded.len(), 74_719);
    let shipped: Vec<codecite::codes::CodeRecord> = std::fs::read_to_string(root.join("corpus/codes/icd10cm.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let by_code: std::collections::HashMap<&str, &codecite::codes::CodeRecord> =
        shipped.iter().map(|r| (r.code.as_str(), r)).collect();
    for r in &loaded {
        let s = by_code.get(r.code.as_str()).unwrap_or_else(|| panic!("{} is not in the shipped corpus", r.code));
        assert_eq!((&r.title, &r.path, &r.notes, &r.synonyms), (&s.title, &s.path, &s.notes, &s.synonyms), "{}", r.code);
    }
    assert!(loaded.iter().any(|r| r.code == "S72.001A"));
    assert!(!loaded.iter().any(|r| r.code == "S06.1X7D"), "the S06 exception holds");
    // A subcategory's inclusion terms name its codes too, with each code's qualifier.
    let sacral = loaded.iter().find(|r| r.code == "L89.153").unwrap();
    assert!(sacral.synonyms.contains(&"Pressure ulcer of tailbone, stage 3".to_string()), "{:?}", sacral.synonyms);
}

#[tokio::test]
async fn our_own_notes_load_through_the_overlay() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad-note.md");
    std::fs::write(&bad, "no front matter here\n").unwrap();
    let err = load(Format::CodeciteNote, &bad).err().unwrap().to_string();
    assert!(err.contains("bad-note.md") && err.contains("front matter"), "{err}");

    let note = dir.path().join("practice-policy.md");
    std::fs::write(&note, "---\ntitle: Our practice policy on wart removal\ntopic: local policy\ncodes: [17110]\n---\nWe photograph every plantar wart before freezing it.\n").unwrap();
    write_overlay(&app.config.overlay_dir(), Format::CodeciteNote, &note, &load(Format::CodeciteNote, &note).unwrap()).unwrap();
    let summary = app.services().ingest(&IngestOptions::default()).await.unwrap();
    assert_eq!(summary.added, 1, "{summary}");
    let (_, body) = app.get("/api/search?q=photograph+plantar+wart+policy&system=GUIDELINE").await;
    assert_eq!(body["hits"][0]["title"], "Our practice policy on wart removal", "{body}");
}

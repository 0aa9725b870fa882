//! CMS reference tables: code validity, add-on edits, NCCI pairs, and what uses them.

use axum::http::StatusCode;
use codecite::ingest::IngestOptions;
use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn stats_count_what_is_loaded() {
    let app = TestApp::spawn().await;
    let (status, body) = app.get("/api/stats").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["codes"], json!({"CPT": 27, "HCPCS": 12, "ICD10CM": 38, "MODIFIER": 8}));
    assert_eq!(body["guidelines"], 2);
    assert_eq!(body["ncci_pairs"], 6);
    assert_eq!(body["valid_code_numbers"], 17);
    assert!(body["chunks"].as_u64().unwrap() >= 76);
}

#[tokio::test]
async fn ncci_pairs_answer_in_either_order() {
    let app = TestApp::spawn().await;
    let expected = json!({"column1": "G0463", "column2": "0591T", "modifier_allowed": true,
        "edit_set": "hospital outpatient (I/OCE)", "version": "I/OCE v27.1"});
    for uri in ["/api/ncci?c1=G0463&c2=0591T", "/api/ncci?c1=0591t&c2=g0463"] {
        let (status, body) = app.get(uri).await;
        assert_eq!((status, &body), (StatusCode::OK, &expected), "{uri}");
    }
    let (_, body) = app.get("/api/ncci?c1=43235&c2=43239").await;
    assert_eq!(body["modifier_allowed"], false);
    let (status, body) = app.get("/api/ncci?c1=99213&c2=47562").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    for bad in ["/api/ncci?c1=99213", "/api/ncci?c1=99213&c2=E11.9", "/api/ncci?c1=x&c2=y"] {
        let (status, body) = app.get(bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
}

#[tokio::test]
async fn code_pages_know_validity_and_cms_add_on_edits() {
    let app = TestApp::spawn().await;
    let (_, body) = app.get("/api/codes/99201").await;
    assert_eq!(body["validity"]["last_valid"], "2020-12-31", "{body}");
    assert_eq!(body["replaced_by"], json!(["99202"]));
    let (_, body) = app.get("/api/codes/99292").await;
    assert_eq!(body["cms_primary_codes"], json!(["99291"]));
    assert_eq!(body["validity"]["addon_type"], 1);
    // Expired edits are left out: 37253 → 37252 ended in 2019 in the CMS table.
    let (_, body) = app.get("/api/codes/37253").await;
    assert_eq!(body["cms_primary_codes"], json!(["0075T", "33361"]));
    assert_eq!(body["primary_codes"], json!(["37252"]));
    // A real code number with no summary of ours.
    let (status, body) = app.get("/api/codes/36556").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((body["system"].as_str(), body["title"].is_null()), (Some("CPT"), true));
    assert_eq!(body["validity"]["valid_from"], "2019-07-01");
}

#[tokio::test]
async fn reference_tables_are_rewritten_only_when_their_file_changes() {
    let app = TestApp::spawn().await;
    let again = app.services().ingest(&IngestOptions::default()).await.unwrap();
    assert_eq!(again.reference_rows, 0, "{again}");
    let path = app.corpus().join("raw/addon-primary-ioce-v27.1.tsv");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("17003\t17000\t1\t2019-07-01\t\n");
    std::fs::write(&path, text).unwrap();
    let changed = app.services().ingest(&IngestOptions::default()).await.unwrap();
    assert_eq!(changed.reference_rows, 5, "only the add-on table is rewritten: {changed}");
}

#[tokio::test]
async fn a_repeated_reference_row_keeps_the_first_and_any_text_loads() {
    let app = TestApp::spawn().await;
    let raw = app.corpus().join("raw");
    let addons = raw.join("addon-primary-ioce-v27.1.tsv");
    let mut text = std::fs::read_to_string(&addons).unwrap();
    // The same pair twice: the first (current) wins, as CMS files repeat a few pairs.
    text.push_str("99292\t99468\t1\t2019-07-01\t\n99292\t99468\t2\t2019-07-01\t2020-12-31\n");
    std::fs::write(&addons, text).unwrap();
    let validity = raw.join("code-validity-ioce-v27.1.tsv");
    let mut text = std::fs::read_to_string(&validity).unwrap();
    // Characters that PostgreSQL's COPY text format escapes.
    text.push_str("0X\\1\tCPT\t2019-07-01\t\t\n");
    std::fs::write(&validity, text).unwrap();
    let summary = app.services().ingest(&IngestOptions::default()).await.unwrap();
    assert_eq!(summary.reference_rows, 6 + 18, "{summary}");
    let (_, body) = app.get("/api/codes/99292").await;
    assert_eq!(body["cms_primary_codes"], json!(["99291", "99468"]), "{body}");
    let odd = app.services().codes.validity("0X\\1").await.unwrap().expect("the row was loaded");
    assert_eq!(odd.valid_from, "2019-07-01");
    let again = app.services().ingest(&IngestOptions::default()).await.unwrap();
    assert_eq!((again.reference_rows, again.codes_written, again.added), (0, 0, 0), "{again}");
}

#[tokio::test]
async fn a_bad_reference_line_stops_the_ingest_before_any_write() {
    let app = TestApp::spawn().await;
    let path = app.corpus().join("raw/code-validity-ioce-v27.1.tsv");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("12345\tCPT\tyesterday\t\t\n");
    std::fs::write(&path, &text).unwrap();
    // Change a record as well: it must not be written either.
    let cpt = app.corpus().join("codes/cpt.jsonl");
    std::fs::write(&cpt, std::fs::read_to_string(&cpt).unwrap().replace("Laparoscopic cholecystectomy\"", "Changed\"")).unwrap();
    let err = format!("{:#}", app.services().ingest(&IngestOptions::default()).await.unwrap_err());
    let line = text.lines().count();
    assert!(err.contains(&format!("code-validity-ioce-v27.1.tsv:{line}")) && err.contains("YYYY-MM-DD"), "{err}");
    let (_, body) = app.get("/api/codes/47562").await;
    assert_eq!(body["title"], "Laparoscopic cholecystectomy");
}

#[tokio::test]
async fn many_codes_at_once_read_the_same_as_one_by_one() {
    let app = TestApp::spawn().await;
    let codes = app.services().codes.clone();
    let wanted: Vec<String> = ["99213", "99417", "75946", "37253", "E11.9", "J1885", "NOPE1"].iter().map(|c| c.to_string()).collect();
    let many = codes.get_many(&wanted).await.unwrap();
    assert_eq!(many.len(), 6, "the unknown code is left out");
    for code in &wanted {
        let one = codes.get(std::slice::from_ref(code)).await.unwrap();
        let one = one.map(|s| serde_json::to_value(s).unwrap());
        let batch = many.get(code).map(|s| serde_json::to_value(s).unwrap());
        assert_eq!(batch, one, "{code}");
    }
}

//! Ingest: idempotence, updates, deletions, embedder changes, reloads and bad files.

use std::sync::Arc;

use axum::http::StatusCode;
use codecite::app::Services;
use codecite::embed::{EmbedError, Embedder};
use codecite::ingest::IngestOptions;

use crate::helpers::{embedder, TestApp};

fn options() -> IngestOptions {
    IngestOptions::default()
}

#[tokio::test]
async fn reingest_writes_only_what_changed() {
    let app = TestApp::unprepared().await;
    let services = app.services();
    let first = services.ingest(&options()).await.unwrap();
    assert_eq!(first.added, first.chunks);
    assert_eq!((first.changed, first.deleted, first.unchanged), (0, 0, 0));
    assert_eq!(first.codes_written, 85);

    let again = services.ingest(&options()).await.unwrap();
    assert_eq!((again.added, again.changed, again.deleted), (0, 0, 0), "{again}");
    assert_eq!(again.unchanged, first.chunks);
    assert_eq!((again.codes_written, again.codes_deleted), (0, 0));

    // Change one record, remove one, add one.
    let path = app.corpus().join("codes/hcpcs.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let text = text.replace("Ketorolac tromethamine inj", "Ketorolac tromethamine injection per 15 mg");
    let text: String = text.lines().filter(|l| !l.contains("\"E0114\"")).map(|l| format!("{l}\n")).collect();
    let text = text
        + "{\"system\":\"HCPCS\",\"code\":\"J7050\",\"title\":\"Normal saline solution infus\",\"source\":\"test\"}\n";
    std::fs::write(&path, text).unwrap();

    let third = services.ingest(&options()).await.unwrap();
    assert_eq!((third.added, third.changed, third.deleted), (1, 1, 1), "{third}");
    assert_eq!(third.unchanged, first.chunks - 2);
    assert_eq!((third.codes_written, third.codes_deleted), (2, 1));
    assert_eq!(services.store.count().await.unwrap(), first.chunks);

    prepare_ready(&app);
    let (status, _) = app.get("/api/codes/E0114").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a removed code leaves the code tables");
    assert!(!app.search_codes("E0114 crutches").await.contains(&"E0114".to_string()));
    let (_, body) = app.get("/api/codes/J1885").await;
    assert_eq!(body["title"], "Ketorolac tromethamine injection per 15 mg");
    let (_, body) = app.get("/api/search?q=J1885").await;
    assert_eq!(body["hits"][0]["title"], "Ketorolac tromethamine injection per 15 mg");
    assert_eq!(app.search_codes("J7050").await[0], "J7050");
}

fn prepare_ready(app: &TestApp) {
    app.state.set_ready();
}

#[tokio::test]
async fn a_store_reloads_from_disk() {
    let app = TestApp::spawn().await;
    let before = app.search_codes("type 2 diabetes without complications").await;
    let count = app.services().store.count().await.unwrap();
    let app = app.restart().await;
    assert_eq!(app.services().store.count().await.unwrap(), count);
    assert_eq!(app.search_codes("type 2 diabetes without complications").await, before);
    let again = app.services().ingest(&options()).await.unwrap();
    assert_eq!(again.unchanged, count, "a reloaded store still knows every hash");
}

/// An embedder with another identity (and deliberately useless vectors).
struct OtherEmbedder;

#[async_trait::async_trait]
impl Embedder for OtherEmbedder {
    fn id(&self) -> &str {
        "test/other/256"
    }
    fn dim(&self) -> usize {
        256
    }
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        Ok(texts.iter().map(|_| vec![1.0 / 16.0; 256]).collect())
    }
}

#[tokio::test]
async fn another_embedder_must_reingest() {
    let app = TestApp::spawn().await;
    let (config, _dir) = app.close();
    let other = Services::open_with(&config, Arc::new(OtherEmbedder)).await.unwrap();
    let err = other.store_ready().await.unwrap_err().to_string();
    assert!(err.contains("static/") && err.contains("test/other/256") && err.contains("--reset"), "{err}");
    let err = other.ingest(&options()).await.unwrap_err().to_string();
    assert!(err.contains("--reset"), "{err}");

    let rebuilt = other.ingest(&IngestOptions { reset: true, ..options() }).await.unwrap();
    assert_eq!(rebuilt.added, rebuilt.chunks, "a reset rebuilds every chunk");
    assert!(other.store_ready().await.unwrap());
    drop(other);
    let back = Services::open_with(&config, embedder()).await.unwrap();
    assert!(back.store_ready().await.is_err(), "now the original embedder is the stranger");
}

#[tokio::test]
async fn a_bad_corpus_file_changes_nothing() {
    let app = TestApp::spawn().await;
    let count = app.services().store.count().await.unwrap();
    let path = app.corpus().join("codes/cpt.jsonl");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text = text.replace("Laparoscopic cholecystectomy\"", "Laparoscopic cholecystectomy, changed\"");
    text.push_str("{\"system\":\"CPT\",\"code\":\"12345\",\"title\":\"\",\"source\":\"x\"}\n");
    std::fs::write(&path, &text).unwrap();
    let line = text.lines().count();
    let err = app.services().ingest(&options()).await.unwrap_err().to_string();
    assert!(err.contains(&format!("cpt.jsonl:{line}")) && err.contains("empty title"), "{err}");
    assert_eq!(app.services().store.count().await.unwrap(), count);
    let (_, body) = app.get("/api/codes/47562").await;
    assert_eq!(body["title"], "Laparoscopic cholecystectomy", "nothing was half ingested");
}

#[tokio::test]
async fn guideline_notes_are_chunked_and_searchable() {
    let app = TestApp::spawn().await;
    let (status, body) = app.get("/api/search?q=separately+identifiable+evaluation+on+the+day+of+a+procedure&system=GUIDELINE").await;
    assert_eq!(status, StatusCode::OK);
    let first = &body["hits"][0];
    assert!(first["title"].as_str().unwrap().starts_with("Modifier 25"), "{body}");
    assert!(first["codes"].as_array().unwrap().iter().any(|c| c == "25"));
    assert!(first["id"].as_str().unwrap().starts_with("note:modifier-25.md#"));
}

#[tokio::test]
async fn a_new_empty_database_is_filled_on_start() {
    let app = TestApp::spawn().await;
    let (mut config, dir) = app.close();
    config.database_url = Some(crate::helpers::test_database(&dir.path().join("second")).await);
    std::fs::create_dir_all(dir.path().join("second")).unwrap();
    let app = TestApp::with_config(dir, config).await;
    let summary = codecite::app::prepare(&app.state, false).await.unwrap().expect("an ingest ran");
    assert_eq!(summary.added, 0, "the vectors were already there: {summary}");
    assert_eq!(summary.codes_written, 85);
    let (status, _) = app.get("/api/codes/J1885").await;
    assert_eq!(status, StatusCode::OK);
}

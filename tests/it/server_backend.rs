//! The Qdrant server backend, against a real server when `QDRANT_URL` is set.

use codecite::app::{prepare, AppState, Services};

use crate::helpers::{embedder, test_config};

#[tokio::test]
async fn server_backend_ingests_and_searches() {
    let Some(url) = std::env::var("QDRANT_URL").ok().filter(|u| !u.is_empty()) else {
        eprintln!("skipped: server_backend_ingests_and_searches needs QDRANT_URL (a Qdrant 1.18 server)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path()).await;
    config.qdrant_url = Some(url);
    config.collection = format!("codecite_test_{}", uuid::Uuid::new_v4().simple());
    let services = std::sync::Arc::new(Services::open_with(&config, embedder()).await.unwrap());
    let state = AppState::new(services.clone());
    let summary = prepare(&state, false).await.unwrap().expect("an empty collection is ingested");
    assert_eq!(summary.added, summary.chunks);
    let again = services.ingest(&Default::default()).await.unwrap();
    assert_eq!(again.unchanged, summary.chunks);
    let request = codecite::retrieval::SearchRequest {
        query: "type 2 diabetes without complications".into(),
        limit: Some(5),
        ..Default::default()
    };
    let hits = services.retriever.search(&request).await.unwrap();
    assert!(hits.iter().take(3).any(|h| h.code.as_deref() == Some("E11.9")));
    let request = codecite::retrieval::SearchRequest { query: "J1885".into(), ..Default::default() };
    assert_eq!(services.retriever.search(&request).await.unwrap()[0].code.as_deref(), Some("J1885"));
}

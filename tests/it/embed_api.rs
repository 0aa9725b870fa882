//! The OpenAI-compatible embeddings backend against an in-process fake server, and the
//! on-disk cache that keeps re-ingests from calling it again.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use codecite::app::Services;
use codecite::config::{Config, EmbedderKind};
use codecite::ingest::IngestOptions;
use serde_json::{json, Value};

use crate::helpers::test_config;

const DIM: usize = 16;

/// A deterministic bag-of-letters embedding, so similar texts get similar vectors.
fn fake_vector(text: &str) -> Vec<f32> {
    let mut v = vec![0.0f32; DIM];
    for b in text.to_lowercase().bytes().filter(u8::is_ascii_alphabetic) {
        v[(b - b'a') as usize % DIM] += 1.0;
    }
    v
}

async fn embeddings(State(texts_seen): State<Arc<AtomicUsize>>, Json(body): Json<Value>) -> Json<Value> {
    let inputs: Vec<String> = match &body["input"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().map(|v| v.as_str().unwrap_or_default().to_string()).collect(),
        other => panic!("unexpected input {other}"),
    };
    texts_seen.fetch_add(inputs.len(), Ordering::SeqCst);
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, t)| json!({"object": "embedding", "index": i, "embedding": fake_vector(t)}))
        .collect();
    Json(json!({"object": "list", "data": data, "model": body["model"], "usage": {"prompt_tokens": 1, "total_tokens": 1}}))
}

async fn fake_server() -> (String, Arc<AtomicUsize>) {
    let seen = Arc::new(AtomicUsize::new(0));
    let app = Router::new().route("/v1/embeddings", post(embeddings)).with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/v1"), seen)
}

#[tokio::test]
async fn api_embedder_ingests_and_its_cache_spares_repeat_calls() {
    let (base, seen) = fake_server().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path()).await;
    config.embed.kind = EmbedderKind::Openai;
    config.embed.api_base = Some(base);
    config.embed.api_model = "fake-embed".into();
    config.embed.batch_size = 32;

    let services = Services::open(&config).await.unwrap();
    assert_eq!(services.embedder.id(), format!("openai/fake-embed/{DIM}"));
    let probe = seen.load(Ordering::SeqCst);
    let summary = services.ingest(&IngestOptions::default()).await.unwrap();
    let embedded = seen.load(Ordering::SeqCst) - probe;
    assert_eq!(embedded, summary.chunks, "every chunk text went to the API once");

    let rebuilt = services.ingest(&IngestOptions { reset: true, ..Default::default() }).await.unwrap();
    assert_eq!(rebuilt.added, rebuilt.chunks);
    assert_eq!(seen.load(Ordering::SeqCst) - probe, embedded, "a rebuild reads every vector from the cache");
    drop(services);

    // The cache survives a restart; only the start-up probe (which is not cached) reaches the API.
    let services = Services::open(&config).await.unwrap();
    let before = seen.load(Ordering::SeqCst);
    services.ingest(&IngestOptions { reset: true, ..Default::default() }).await.unwrap();
    assert_eq!(seen.load(Ordering::SeqCst), before);

    let request = codecite::retrieval::SearchRequest { query: "J1885".into(), ..Default::default() };
    let hits = services.retriever.search(&request).await.unwrap();
    assert_eq!(hits[0].code.as_deref(), Some("J1885"));
}

#[tokio::test]
async fn an_unreachable_api_fails_at_start_with_a_clear_error() {
    let mut config = Config::default();
    let dir = tempfile::tempdir().unwrap();
    config.data_dir = dir.path().to_path_buf();
    config.embed.kind = EmbedderKind::Openai;
    config.embed.api_base = Some("http://127.0.0.1:9/v1".into());
    let err = Services::open(&config).await.err().expect("no server listens on port 9").to_string();
    assert!(err.contains("embedder"), "{err}");
}

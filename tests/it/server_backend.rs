//! The Qdrant server backend against real servers that `scripts/test.sh` starts with
//! `scripts/qdrant.sh`: a single node (`CODECITE_TEST_QDRANT_URL`, its gRPC URL) and a
//! three-node cluster (`CODECITE_TEST_QDRANT_CLUSTER`, the directory `qdrant.sh start` wrote).
//! Without them each test says loudly that it skipped.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use codecite::app::{prepare, AppState, Services};
use codecite::config::Config;
use codecite::retrieval::{MatchKind, SearchHit, SearchRequest};
use serde_json::Value;

use http_body_util::BodyExt;

use crate::helpers::{embedder, env_value, parse_sse, test_config, TestApp};

fn single_node() -> Option<String> {
    let url = std::env::var("CODECITE_TEST_QDRANT_URL").ok().filter(|u| !u.is_empty());
    if url.is_none() {
        eprintln!("SKIPPED: needs CODECITE_TEST_QDRANT_URL (a Qdrant 1.18 server; scripts/test.sh starts one when the binary is built)");
    }
    url
}

/// A private collection on `url`.
async fn server_config(dir: &std::path::Path, url: &str) -> Config {
    let mut config = test_config(dir).await;
    config.qdrant_url = Some(url.to_string());
    config.collection = format!("codecite_test_{}", uuid::Uuid::new_v4().simple());
    config
}

/// The questions of the fixture evaluation set: every kind of query the product gets.
fn fixture_questions() -> Vec<String> {
    let text = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/eval/questions.jsonl"),
    )
    .unwrap();
    let mut questions: Vec<String> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["question"].as_str().unwrap().to_string())
        .collect();
    questions.extend(["fracture of the wrist", "modifier for a distinct procedure", "J1885", "office visit"].map(String::from));
    questions
}

/// The hits as groups of equal score: within a group the order is the tie-break's, so the
/// comparison between backends is by group (ties aside), and scores must agree closely.
fn tie_groups(hits: &[SearchHit]) -> Vec<(f32, Vec<String>)> {
    let mut groups: Vec<(f32, Vec<String>)> = vec![];
    for hit in hits {
        match groups.last_mut() {
            Some((score, ids)) if (*score - hit.score).abs() < 1e-5 => ids.push(hit.id.clone()),
            _ => groups.push((hit.score, vec![hit.id.clone()])),
        }
    }
    for (_, ids) in &mut groups {
        ids.sort();
    }
    groups
}

#[tokio::test]
async fn server_backend_ingests_and_searches() {
    let Some(url) = single_node() else { return };
    let dir = tempfile::tempdir().unwrap();
    let config = server_config(dir.path(), &url).await;
    let services = Arc::new(Services::open_with(&config, embedder()).await.unwrap());
    let state = AppState::new(services.clone());
    let summary = prepare(&state, false).await.unwrap().expect("an empty collection is ingested");
    assert_eq!(summary.added, summary.chunks);
    let again = services.ingest(&Default::default()).await.unwrap();
    assert_eq!(again.unchanged, summary.chunks);
    let request = SearchRequest { query: "type 2 diabetes without complications".into(), limit: Some(5), ..Default::default() };
    let hits = services.retriever.search(&request).await.unwrap();
    assert!(hits.iter().take(3).any(|h| h.code.as_deref() == Some("E11.9")));
    let request = SearchRequest { query: "J1885".into(), ..Default::default() };
    assert_eq!(services.retriever.search(&request).await.unwrap()[0].code.as_deref(), Some("J1885"));
}

/// One layout, one query: the server ranks every question as Qdrant Edge does. Compared on
/// the store's fused ranking (the rank-1 stage off): the rank-1 stage reads fused positions,
/// so a fused tie broken the other way would move its output without any real difference.
#[tokio::test]
async fn server_ranks_as_edge_does() {
    let Some(url) = single_node() else { return };
    let edge_dir = tempfile::tempdir().unwrap();
    let mut edge_config = test_config(edge_dir.path()).await;
    edge_config.search.rerank = false;
    let edge = Arc::new(Services::open_with(&edge_config, embedder()).await.unwrap());
    prepare(&AppState::new(edge.clone()), false).await.unwrap();
    let server_dir = tempfile::tempdir().unwrap();
    let mut server_config = server_config(server_dir.path(), &url).await;
    server_config.search.rerank = false;
    let server = Arc::new(Services::open_with(&server_config, embedder()).await.unwrap());
    prepare(&AppState::new(server.clone()), false).await.unwrap();
    assert_eq!(edge.store.count().await.unwrap(), server.store.count().await.unwrap());

    let k = edge_config.search.rrf_k as f32;
    let search = |services: Arc<Services>, query: String, mode: &'static str, limit: usize| async move {
        let request = SearchRequest { query, limit: Some(limit), mode: mode.parse().unwrap(), ..Default::default() };
        let hits = services.retriever.search(&request).await.unwrap();
        // A code the question names is listed first and left out of the searched list.
        let names_codes = hits.iter().any(|h| h.match_kind == MatchKind::Exact);
        (names_codes, hits.into_iter().filter(|h| h.match_kind == MatchKind::Search).collect::<Vec<_>>())
    };
    for question in fixture_questions() {
        // Each mode alone ranks identically, ties aside.
        let mut ranks = vec![];
        let mut fused_checkable = true;
        for mode in ["dense", "bm25"] {
            let (names_codes, on_edge) = search(edge.clone(), question.clone(), mode, 50).await;
            let (_, on_server) = search(server.clone(), question.clone(), mode, 50).await;
            fused_checkable &= !names_codes;
            let (a, b) = (tie_groups(&on_edge), tie_groups(&on_server));
            // The last group may be cut at the limit differently; all before it must agree.
            let whole = a.len().min(b.len()).saturating_sub(1);
            for (i, ((sa, ia), (sb, ib))) in a.iter().zip(&b).take(whole).enumerate() {
                assert_eq!(ia, ib, "{mode} {question:?}: group {i} differs (edge {sa}, server {sb})");
                assert!((sa - sb).abs() < 1e-3, "{mode} {question:?}: scores {sa} vs {sb}");
            }
            ranks.push(rank_spans(&a));
        }
        // Fused, each hit's score is what reciprocal rank fusion gives its places in the two
        // lists, on both backends; where a list has ties, any place within the tie will do.
        // (Not where the question names a code: that code's place in the lists is not shown.)
        if !fused_checkable {
            continue;
        }
        for (backend, services) in [("edge", edge.clone()), ("server", server.clone())] {
            for hit in search(services, question.clone(), "hybrid", 10).await.1 {
                let (mut low, mut high) = (0.0, 0.0);
                for spans in &ranks {
                    let (first, last) = spans.get(&hit.id).copied().unwrap_or((50, 99));
                    low += if last >= 50 { 0.0 } else { 1.0 / (k + last as f32) };
                    high += 1.0 / (k + first as f32);
                }
                assert!(
                    hit.score >= low - 1e-4 && hit.score <= high + 1e-4,
                    "{backend} hybrid {question:?}: {} scored {} outside [{low}, {high}]",
                    hit.id,
                    hit.score
                );
            }
        }
    }
}

/// The places (0-based, first and last) each id can hold in a list of tie groups.
fn rank_spans(groups: &[(f32, Vec<String>)]) -> std::collections::HashMap<String, (usize, usize)> {
    let mut spans = std::collections::HashMap::new();
    let mut place = 0;
    for (_, ids) in groups {
        for id in ids {
            spans.insert(id.clone(), (place, place + ids.len() - 1));
        }
        place += ids.len();
    }
    spans
}

/// A three-node cluster started by `scripts/qdrant.sh start DIR cluster`.
struct Cluster {
    dir: PathBuf,
    grpc: String,
    http: Vec<String>,
}

impl Cluster {
    fn from_env() -> Option<Self> {
        let Some(dir) = std::env::var("CODECITE_TEST_QDRANT_CLUSTER").ok().filter(|d| !d.is_empty()) else {
            eprintln!("SKIPPED: needs CODECITE_TEST_QDRANT_CLUSTER (a 3-node Qdrant cluster from scripts/qdrant.sh)");
            return None;
        };
        let dir = PathBuf::from(dir);
        let env = std::fs::read_to_string(dir.join("env")).expect("the cluster's env file");
        let http = env_value(&env, "QDRANT_HTTP_URLS").split_whitespace().map(String::from).collect();
        Some(Self { grpc: env_value(&env, "QDRANT_URL"), http, dir })
    }

    fn node(&self, verb: &str, n: usize) {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/qdrant.sh");
        let status = std::process::Command::new(script)
            .args([verb, self.dir.to_str().unwrap(), &n.to_string()])
            .status()
            .expect("run scripts/qdrant.sh");
        assert!(status.success(), "qdrant.sh {verb} {n}");
    }

    /// `GET` on node `n`'s REST API.
    async fn rest(&self, n: usize, path: &str) -> Value {
        let url = format!("{}{path}", self.http[n - 1]);
        reqwest::get(&url).await.unwrap().json().await.unwrap()
    }

    /// Waits until every replica of `collection` is active and the replicas of each shard
    /// hold the same number of points; returns points per shard.
    async fn wait_consistent(&self, collection: &str) -> Vec<u64> {
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        loop {
            let mut per_shard: std::collections::BTreeMap<u64, Vec<(String, u64)>> = Default::default();
            for n in 1..=self.http.len() {
                let info = self.rest(n, &format!("/collections/{collection}/cluster")).await;
                for shard in info["result"]["local_shards"].as_array().into_iter().flatten() {
                    per_shard.entry(shard["shard_id"].as_u64().unwrap()).or_default().push((
                        shard["state"].as_str().unwrap_or("?").to_string(),
                        shard["points_count"].as_u64().unwrap_or(0),
                    ));
                }
            }
            let settled = per_shard.len() == 3
                && per_shard.values().all(|replicas| {
                    replicas.len() == 2
                        && replicas.iter().all(|(state, _)| state == "Active")
                        && replicas.iter().all(|(_, count)| *count == replicas[0].1)
                });
            if settled {
                return per_shard.values().map(|r| r[0].1).collect();
            }
            assert!(std::time::Instant::now() < deadline, "the replicas did not converge: {per_shard:?}");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

#[tokio::test]
async fn cluster_serves_through_a_node_failure_and_catches_up() {
    let Some(cluster) = Cluster::from_env() else { return };
    let app = TestApp::unprepared_with(|config| {
        config.qdrant_url = Some(cluster.grpc.clone());
        config.collection = format!("codecite_test_{}", uuid::Uuid::new_v4().simple());
        config.qdrant.shards = 3;
        config.qdrant.replication_factor = 2;
        config.qdrant.write_consistency = 1;
    })
    .await;
    let collection = app.config.collection.clone();
    let summary = prepare(&app.state, false).await.unwrap().expect("ingested");
    assert_eq!(summary.added, summary.chunks);

    // The layout the configuration asked for.
    let params = cluster.rest(1, &format!("/collections/{collection}")).await["result"]["config"]["params"].clone();
    assert_eq!(params["shard_number"], 3, "{params}");
    assert_eq!(params["replication_factor"], 2, "{params}");
    assert_eq!(params["write_consistency_factor"], 1, "{params}");
    let per_shard = cluster.wait_consistent(&collection).await;
    assert_eq!(per_shard.iter().sum::<u64>() as usize, summary.chunks, "{per_shard:?}");
    assert!(per_shard.iter().all(|n| *n > 0), "every shard holds points: {per_shard:?}");

    let before = app.search_codes("type 2 diabetes without complications").await;
    assert!(before.iter().take(3).any(|c| c == "E11.9"), "{before:?}");

    // One node down: every shard still has a live replica; search, readiness and ingest go on.
    cluster.node("stop-node", 3);
    let (status, body) = app.get("/readyz").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(app.search_codes("type 2 diabetes without complications").await, before);
    let again = app.services().ingest(&Default::default()).await.unwrap();
    assert_eq!((again.unchanged, again.added), (summary.chunks, 0), "re-ingest is idempotent");
    // A write while the node is down: one chunk removed, then put back by an ingest.
    let key = "code:ICD10CM:E11.9";
    app.services().store.delete(&[key.to_string()]).await.unwrap();
    let refill = app.services().ingest(&Default::default()).await.unwrap();
    assert_eq!(refill.added, 1, "the deleted chunk is written again");

    // Two nodes down: some shard has no live replica; readiness and search say so.
    cluster.node("stop-node", 2);
    let (status, body) = app.get("/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "store_unavailable", "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("no live replica"), "{body}");
    let (status, body) = app.get("/api/search?q=diabetes").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "search_unavailable", "{body}");
    let response = app.post_json("/api/chat", r#"{"question":"code for type 2 diabetes"}"#).await;
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let events = parse_sse(&String::from_utf8_lossy(&bytes));
    let names: Vec<&str> = events.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["meta", "error"], "one terminal event, the error");
    assert_eq!(events[1].data["code"], "search_unavailable", "{:?}", events[1].data);

    // Back up: the restarted replicas catch up with the writes they missed.
    cluster.node("start-node", 2);
    cluster.node("start-node", 3);
    let per_shard = cluster.wait_consistent(&collection).await;
    assert_eq!(per_shard.iter().sum::<u64>() as usize, summary.chunks, "{per_shard:?}");
    assert_eq!(app.search_codes("type 2 diabetes without complications").await, before);
    let last = app.services().ingest(&Default::default()).await.unwrap();
    assert_eq!((last.unchanged, last.added, last.changed, last.deleted), (summary.chunks, 0, 0, 0));
}

//! Faults, provoked for real: a client that reads slowly, SQLite busy behind another
//! writer, PostgreSQL restarted under a running app (run by `scripts/test.sh`, which owns the
//! server), and `kill -9` in the middle of an ingest. The LLM failing with a 5xx, timing out
//! and dropping mid-stream is in `chat.rs`.

use std::time::Duration;

use axum::http::StatusCode;
use http_body_util::BodyExt;
use serde_json::json;

use crate::fake_llm::{FakeLlm, Script};
use crate::helpers::{parse_sse, test_config, TestApp};

#[tokio::test]
async fn a_client_that_reads_slowly_gets_the_whole_answer() {
    let pieces: Vec<&'static str> = std::iter::repeat_n("word ", 400).collect();
    let llm = FakeLlm::start(Script::text(&pieces)).await;
    let base = llm.base_url.clone();
    let app = TestApp::spawn_with(move |c| c.llm.base_url = Some(base)).await;
    let response = app.post_json("/api/chat", &json!({ "question": "What is E11.9?" }).to_string()).await;
    let mut body = response.into_body();
    let mut text = String::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.unwrap().into_data() {
            text.push_str(&String::from_utf8_lossy(&data));
        }
        // Far slower than the model sends: the answer task waits on the full channel.
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let events = parse_sse(&text);
    assert_eq!(events.last().map(|e| e.name.as_str()), Some("done"));
    assert_eq!(events.iter().filter(|e| e.name == "delta").count(), 400);
}

#[tokio::test]
async fn a_question_waits_out_another_sqlite_writer() {
    let app = TestApp::spawn().await;
    let url = app.config.database_url.clone().unwrap();
    if !url.starts_with("sqlite:") {
        return; // SQLite's single writer only
    }
    use sqlx::{Connection, Executor};
    let mut other = sqlx::SqliteConnection::connect(&url).await.unwrap();
    other.execute("BEGIN IMMEDIATE").await.unwrap();
    let release = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(700)).await;
        other.execute("COMMIT").await.unwrap();
    });
    let response = app.post_json("/api/chat", &json!({ "question": "What is E11.9?" }).to_string()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let events = parse_sse(&String::from_utf8_lossy(&bytes));
    assert_eq!(events.last().map(|e| e.name.as_str()), Some("done"), "{events:?}");
    release.await.unwrap();
}

/// Run by `scripts/test.sh` with `CODECITE_TEST_PG_RESTART` set to a command that restarts
/// the test PostgreSQL server; ignored otherwise, since it would break the tests beside it.
#[tokio::test]
#[ignore]
async fn postgres_restarted_under_a_running_app() {
    let Some(restart) = std::env::var("CODECITE_TEST_PG_RESTART").ok().filter(|s| !s.is_empty()) else {
        panic!("set CODECITE_TEST_PG_RESTART (and CODECITE_TEST_PG_URL) to run this test");
    };
    let llm = FakeLlm::start(Script::text(&["E11.9 is type 2 diabetes [1]."])).await;
    let base = llm.base_url.clone();
    let app = TestApp::spawn_with(move |c| c.llm.base_url = Some(base)).await;
    let body = json!({ "question": "What is E11.9?" }).to_string();
    let ask = || app.post_json("/api/chat", &body);
    let done = |bytes: &[u8]| parse_sse(&String::from_utf8_lossy(bytes)).last().map(|e| e.name.clone());
    let first = ask().await.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(done(&first).as_deref(), Some("done"));
    let status = std::process::Command::new("sh").arg("-c").arg(&restart).status().expect("the restart command runs");
    assert!(status.success(), "{restart}");
    // The pool checks a connection before lending it, so the app carries on.
    let again = ask().await;
    assert_eq!(again.status(), StatusCode::OK);
    let again = again.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(done(&again).as_deref(), Some("done"));
    let (status, _) = app.get("/api/stats").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn an_ingest_killed_midway_completes_on_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = test_config(dir.path()).await;
    let run = |kill_after: Option<Duration>| {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_codecite"))
            .args(["ingest"])
            .env("CODECITE_DATA_DIR", &config.data_dir)
            .env("CODECITE_CORPUS_DIR", &config.corpus_dir)
            .env("CODECITE_DATABASE_URL", config.database_url.as_deref().unwrap())
            .env("RUST_LOG", "error")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("codecite ingest starts");
        match kill_after {
            Some(after) => {
                std::thread::sleep(after);
                let _ = child.kill(); // SIGKILL: no cleanup of any kind
                child.wait().unwrap();
            }
            None => {
                let out = child.wait_with_output().unwrap();
                assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            }
        }
    };
    for after in [150, 400, 700] {
        run(Some(Duration::from_millis(after)));
    }
    run(None);
    let app = TestApp::with_config(tempfile::tempdir().unwrap(), config.clone()).await;
    codecite::app::prepare(&app.state, false).await.unwrap();
    let (status, stats) = app.get("/api/stats").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stats["chunks"], 91, "{stats}");
    assert_eq!(stats["codes"]["CPT"], 27, "{stats}");
    assert_eq!(stats["ncci_pairs"], 6, "{stats}");
}

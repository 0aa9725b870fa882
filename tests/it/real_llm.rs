//! Answers from a real local LLM: llama.cpp's OpenAI-compatible server with SmolLM2-135M,
//! started by `scripts/test.sh` through `scripts/llm.sh` (`CODECITE_TEST_LLM_BASE_URL`,
//! `CODECITE_TEST_LLM_MODEL`), reached through the real `async-openai` path. The tests that
//! need a server of their own (to kill it) start one with `scripts/llm.sh`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use codecite::codes::lookup_forms;
use http_body_util::BodyExt;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::helpers::{env_value, parse_sse, read_until, Ev, TestApp};

struct Llm {
    base_url: String,
    model: String,
}

/// The shared server answers one request at a time; its tests take turns so that none waits
/// out another's answer.
static SHARED: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn shared_llm() -> Option<Llm> {
    let base_url = std::env::var("CODECITE_TEST_LLM_BASE_URL").ok().filter(|u| !u.is_empty());
    let Some(base_url) = base_url else {
        eprintln!("SKIPPED: needs CODECITE_TEST_LLM_BASE_URL (llama.cpp's server from scripts/llm.sh)");
        return None;
    };
    let model = std::env::var("CODECITE_TEST_LLM_MODEL").unwrap_or_else(|_| "smollm2-135m".into());
    Some(Llm { base_url, model })
}

async fn app_on(base_url: &str, model: &str) -> TestApp {
    let (base_url, model) = (base_url.to_string(), model.to_string());
    TestApp::spawn_with(move |c| {
        c.llm.base_url = Some(base_url);
        c.llm.model = model;
        c.llm.temperature = 0.0;
        c.llm.max_tokens = 200;
        // Four sources keep the prompt short enough for a quick answer on two cores.
        c.chat.sources = 4;
        // A shared 2-core machine: the tiny model is quick, but may wait for a core.
        c.llm.timeout_secs = 120.0;
        c.llm.stall_secs = 60.0;
    })
    .await
}

async fn events_of(response: axum::response::Response) -> Vec<Ev> {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    parse_sse(&String::from_utf8_lossy(&bytes))
}

fn names(events: &[Ev]) -> Vec<&str> {
    events.iter().map(|e| e.name.as_str()).collect()
}

#[tokio::test]
async fn a_real_model_streams_answers_whose_codes_are_checked() {
    let Some(llm) = shared_llm() else { return };
    let _turn = SHARED.lock().await;
    let app = app_on(&llm.base_url, &llm.model).await;
    let questions = [
        "What is the ICD-10-CM code for type 2 diabetes without complications?",
        "Which HCPCS code is the ketorolac injection, J1885?",
        "List five ICD-10-CM codes for diabetes with their meanings.",
    ];
    let (mut verified, mut unverified) = (0, 0);
    for question in questions {
        let response = app.post_json("/api/chat", &json!({ "question": question }).to_string()).await;
        assert_eq!(response.status(), 200);
        let events = events_of(response).await;
        let names = names(&events);
        assert_eq!(names[..2], ["meta", "sources"], "{names:?}");
        assert_eq!(names.last(), Some(&"done"), "{names:?} {:?}", events.last().unwrap().data);
        assert!(names.iter().filter(|n| **n == "delta").count() >= 2, "streamed in pieces: {names:?}");
        let done = &events.last().unwrap().data;
        assert_eq!(done["usage"]["generator"], "openai", "{done}");
        let text: String = events.iter().filter(|e| e.name == "delta").map(|e| e.data["text"].as_str().unwrap()).collect();
        assert!(!text.trim().is_empty());
        // Every citation's verdict is the code tables' own, and the done event lists the
        // codes that failed it.
        let flagged: Vec<&str> =
            done["unverified_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
        for citation in events.iter().filter(|e| e.name == "citation").map(|e| &e.data) {
            let code = citation["code"].as_str().unwrap();
            let known = app.services().codes.get(&lookup_forms(code)).await.unwrap().is_some()
                || app.services().codes.icd_category(code).await.unwrap().is_some();
            assert_eq!(citation["verified"].as_bool(), Some(known), "{code} in {text:?}");
            assert_eq!(flagged.contains(&code), !known, "{code}: {flagged:?}");
            if known { verified += 1 } else { unverified += 1 }
        }
    }
    eprintln!("real model: {verified} verified and {unverified} unverified citations");
    assert!(verified > 0, "the model's answers cite codes from the sources");
}

/// A loopback TCP relay that counts the connections its caller has open.
struct Relay {
    url: String,
    open: Arc<AtomicUsize>,
}

impl Relay {
    async fn to(upstream: &str) -> Self {
        let addr = upstream.trim_start_matches("http://").split('/').next().unwrap().to_string();
        let path = upstream.trim_start_matches("http://").split_once('/').map(|(_, p)| p).unwrap_or("");
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/{path}", listener.local_addr().unwrap());
        let open = Arc::new(AtomicUsize::new(0));
        let count = open.clone();
        tokio::spawn(async move {
            while let Ok((mut caller, _)) = listener.accept().await {
                let mut server = TcpStream::connect(&addr).await.unwrap();
                let count = count.clone();
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let (mut caller_read, mut caller_write) = caller.split();
                    let (mut server_read, mut server_write) = server.split();
                    let up = async {
                        let mut buf = [0u8; 8192];
                        loop {
                            match caller_read.read(&mut buf).await {
                                Ok(0) | Err(_) => break,
                                Ok(n) => {
                                    if server_write.write_all(&buf[..n]).await.is_err() {
                                        return;
                                    }
                                }
                            }
                        }
                    };
                    let down = tokio::io::copy(&mut server_read, &mut caller_write);
                    tokio::select! {
                        _ = up => {}
                        _ = down => {}
                    }
                    count.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Self { url, open }
    }
}

#[tokio::test]
async fn a_client_that_disconnects_closes_the_real_upstream_request() {
    let Some(llm) = shared_llm() else { return };
    let _turn = SHARED.lock().await;
    let relay = Relay::to(&llm.base_url).await;
    let app = app_on(&relay.url, &llm.model).await;
    let question = "Explain in detail every rule for coding diabetes in ICD-10-CM, with many examples.";
    let response = app.post_json("/api/chat", &json!({ "question": question }).to_string()).await;
    let mut body = response.into_body();
    let mut seen = String::new();
    read_until(&mut body, &mut seen, "event: delta").await;
    assert!(!seen.contains("event: done"), "the answer ended before the client could leave");
    assert_eq!(relay.open.load(Ordering::SeqCst), 1, "the answer streams over one open request");
    drop(body);
    for _ in 0..100 {
        if relay.open.load(Ordering::SeqCst) == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("codecite kept the request to the model open after its client left");
}

/// A llama.cpp server of this test's own, started and stopped by `scripts/llm.sh`.
struct OwnLlm {
    dir: PathBuf,
    base_url: String,
    model: String,
}

impl OwnLlm {
    fn start(dir: &Path) -> Option<Self> {
        std::env::var("CODECITE_TEST_LLM_BASE_URL").ok().filter(|u| !u.is_empty())?;
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/llm.sh");
        let output = std::process::Command::new(&script).args(["start", dir.to_str().unwrap()]).output().unwrap();
        assert!(output.status.success(), "llm.sh start: {}", String::from_utf8_lossy(&output.stderr));
        let env = String::from_utf8(output.stdout).unwrap();
        let (base_url, model) = (env_value(&env, "CODECITE_LLM_BASE_URL"), env_value(&env, "CODECITE_LLM_MODEL"));
        Some(Self { dir: dir.to_path_buf(), base_url, model })
    }

    fn kill(&self) {
        let pid = std::fs::read_to_string(self.dir.join("pid")).unwrap();
        let status = std::process::Command::new("kill").args(["-9", pid.trim()]).status().unwrap();
        assert!(status.success());
    }
}

impl Drop for OwnLlm {
    fn drop(&mut self) {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/llm.sh");
        let _ = std::process::Command::new(script).args(["stop", self.dir.to_str().unwrap()]).status();
    }
}

#[tokio::test]
async fn the_model_server_killed_mid_answer_ends_the_stream_with_one_error() {
    let dir = tempfile::tempdir().unwrap();
    let Some(llm) = OwnLlm::start(&dir.path().join("llm")) else {
        eprintln!("SKIPPED: needs CODECITE_TEST_LLM_BASE_URL (scripts/llm.sh)");
        return;
    };
    let app = app_on(&llm.base_url, &llm.model).await;
    let question = "Explain in detail every rule for coding diabetes in ICD-10-CM, with many examples.";
    let response = app.post_json("/api/chat", &json!({ "question": question }).to_string()).await;
    let mut body = response.into_body();
    let mut seen = String::new();
    read_until(&mut body, &mut seen, "event: delta").await;
    llm.kill();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.unwrap().into_data() {
            seen.push_str(&String::from_utf8_lossy(&data));
        }
    }
    let events = parse_sse(&seen);
    let names = names(&events);
    let terminals: Vec<&Ev> = events.iter().filter(|e| e.name == "done" || e.name == "error").collect();
    assert_eq!(terminals.len(), 1, "{names:?}");
    assert_eq!(terminals[0].name, "error", "{names:?}");
    assert_eq!(terminals[0].data["code"], "llm_stream_failed", "{}", terminals[0].data);
    assert_eq!(names.last(), Some(&"error"));
}

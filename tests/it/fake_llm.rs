//! An in-process fake OpenAI-compatible chat server that streams real
//! `chat.completion.chunk` Server-Sent Events, scripted per test.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

#[derive(Clone, Debug)]
pub enum Step {
    /// A content chunk.
    Text(&'static str),
    /// A pause before the next step.
    Wait(Duration),
    /// Break the connection (a mid-stream failure).
    Fail,
}

#[derive(Clone, Debug)]
pub struct Script {
    /// HTTP statuses answered (with no stream) to the first calls, before the stream is served.
    pub failures_first: Vec<u16>,
    pub steps: Vec<Step>,
    /// Finish with a usage chunk and `[DONE]`.
    pub finish: bool,
}

impl Script {
    pub fn text(pieces: &[&'static str]) -> Self {
        Self { failures_first: vec![], steps: pieces.iter().map(|p| Step::Text(p)).collect(), finish: true }
    }
}

#[derive(Default)]
pub struct FakeState {
    pub calls: AtomicUsize,
    pub requests: Mutex<Vec<Value>>,
    /// Set when a response stream was dropped before it finished (the client went away).
    pub dropped_early: AtomicBool,
    script: Mutex<Option<Script>>,
}

pub struct FakeLlm {
    pub base_url: String,
    pub state: Arc<FakeState>,
}

/// Sets `dropped_early` if dropped before `finished` is set.
struct DropGuard {
    state: Arc<FakeState>,
    finished: bool,
}

impl Drop for DropGuard {
    // A stream that ran to its end marks itself finished before dropping the guard.
    fn drop(&mut self) {
        if !self.finished {
            self.state.dropped_early.store(true, Ordering::SeqCst);
        }
    }
}

fn chunk(content: Option<&str>, usage: Option<Value>) -> Bytes {
    let choices = match content {
        Some(c) => json!([{"index": 0, "delta": {"content": c}, "finish_reason": null}]),
        None => json!([]),
    };
    let mut v = json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": "fake-model", "choices": choices});
    if let Some(u) = usage {
        v["usage"] = u;
    }
    Bytes::from(format!("data: {v}\n\n"))
}

async fn completions(State(state): State<Arc<FakeState>>, Json(body): Json<Value>) -> Response {
    let call = state.calls.fetch_add(1, Ordering::SeqCst);
    state.requests.lock().unwrap().push(body);
    let script = state.script.lock().unwrap().clone().expect("a script");
    if let Some(status) = script.failures_first.get(call) {
        let status = StatusCode::from_u16(*status).unwrap();
        return (status, Json(json!({"error": {"message": "scripted failure", "type": "server_error"}}))).into_response();
    }
    let guard = DropGuard { state: state.clone(), finished: false };
    let stream = futures::stream::unfold((script, 0usize, guard), |(script, i, mut guard)| async move {
        if i < script.steps.len() {
            let item: Result<Bytes, std::io::Error> = match &script.steps[i] {
                Step::Text(t) => Ok(chunk(Some(t), None)),
                Step::Wait(d) => {
                    tokio::time::sleep(*d).await;
                    Ok(Bytes::new())
                }
                Step::Fail => {
                    guard.finished = true;
                    Err(std::io::Error::other("scripted connection failure"))
                }
            };
            return Some((item, (script, i + 1, guard)));
        }
        if i == script.steps.len() && script.finish {
            let usage = json!({"prompt_tokens": 321, "completion_tokens": 12, "total_tokens": 333});
            let mut bytes = chunk(None, Some(usage)).to_vec();
            bytes.extend_from_slice(b"data: [DONE]\n\n");
            guard.finished = true;
            return Some((Ok(Bytes::from(bytes)), (script, i + 1, guard)));
        }
        guard.finished = true;
        std::hint::black_box(&guard);
        None
    });
    let body = Body::from_stream(stream);
    Response::builder().header("content-type", "text/event-stream").body(body).unwrap()
}

impl FakeLlm {
    pub async fn start(script: Script) -> Self {
        let state = Arc::new(FakeState::default());
        *state.script.lock().unwrap() = Some(script);
        let app = Router::new().route("/v1/chat/completions", post(completions)).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let _: Option<Infallible> = None;
        Self { base_url: format!("http://{addr}/v1"), state }
    }

    pub fn calls(&self) -> usize {
        self.state.calls.load(Ordering::SeqCst)
    }
}

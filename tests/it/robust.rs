//! Odd input and internal failures never cost a response: the inputs that once broke a
//! request, and answers whose generator panics before or during the stream.

use std::sync::Arc;

use axum::http::StatusCode;
use codecite::chat::{ChatEvent, ChatRequest, ChatService};
use codecite::llm::{GenError, GenerationContext, Generator, Piece, PieceStream};
use futures::StreamExt;
use http_body_util::BodyExt;
use serde_json::json;

use crate::fake_llm::{FakeLlm, Script, Step};
use crate::helpers::{json_of, parse_sse, read_until, TestApp};

#[tokio::test]
async fn a_folding_character_after_a_code_shape_is_answered() {
    let app = TestApp::spawn().await;
    let (status, body) = app.get("/api/search?q=A1%C5%BF").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for question in ["what is A1ſ", "E1\u{212A}.9 or ſ11.9?", "99213ſ and J1885"] {
        let response = app.post_json("/api/chat", &json!({ "question": question }).to_string()).await;
        assert_eq!(response.status(), StatusCode::OK, "{question}");
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let events = parse_sse(&String::from_utf8_lossy(&bytes));
        assert_eq!(events.last().map(|e| e.name.as_str()), Some("done"), "{question}: {events:?}");
    }
    let (status, _) = app.get("/api/codes/A1%C5%BF").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

/// Panics when asked, or after its first piece.
struct Panicking {
    after_first_piece: bool,
}

#[async_trait::async_trait]
impl Generator for Panicking {
    fn name(&self) -> &'static str {
        "panicking"
    }

    async fn generate(&self, _: &GenerationContext) -> Result<PieceStream, GenError> {
        if !self.after_first_piece {
            panic!("a bug before the first piece");
        }
        let first = futures::stream::iter([Ok(Piece::Text("E11.9 is ".into()))]);
        let then = futures::stream::once(async { panic!("a bug in the middle of the stream") });
        Ok(first.chain(then).boxed())
    }
}

#[tokio::test]
async fn an_answer_that_panics_still_ends_with_one_error() {
    let app = TestApp::spawn().await;
    let services = app.services();
    let config = &services.config;
    for after_first_piece in [false, true] {
        let chat = Arc::new(ChatService::new(
            services.retriever.clone(),
            services.codes.clone(),
            Arc::new(Panicking { after_first_piece }),
            config.chat.clone(),
            &config.llm,
        ));
        let mut rx = chat.start(ChatRequest::new("What is E11.9?"), None).await.unwrap();
        let mut names = vec![];
        while let Some(event) = rx.recv().await {
            names.push(event.name());
            if let ChatEvent::Error(e) = &event {
                assert_eq!(e.code, "internal");
                assert!(!e.message.contains("bug"), "panic text stays in the log: {}", e.message);
            }
        }
        assert_eq!(names.last(), Some(&"error"), "{names:?}");
        assert_eq!(names.iter().filter(|n| **n == "error" || **n == "done").count(), 1, "{names:?}");
        assert_eq!(names.contains(&"delta"), after_first_piece, "{names:?}");
    }
}

#[tokio::test]
async fn a_body_past_the_limit_is_a_413() {
    let app = TestApp::spawn().await;
    let big = json!({ "question": "a".repeat(100 * 1024) }).to_string();
    let (status, _, body) = json_of(app.post_json("/api/chat", &big).await).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["error"]["code"], "too_large");
}

#[tokio::test]
async fn answers_past_the_concurrency_limit_are_shed_before_any_quota_is_spent() {
    let script = Script { failures_first: vec![], steps: vec![Step::Text("E11.9 "), Step::Wait(std::time::Duration::from_secs(30))], finish: true };
    let llm = FakeLlm::start(script).await;
    let base = llm.base_url.clone();
    let app = TestApp::spawn_with(move |c| {
        c.llm.base_url = Some(base);
        c.llm.stall_secs = 60.0;
        c.chat.max_concurrent_answers = 1;
    })
    .await;
    let metering = &app.services().metering;
    let account = metering.create_account("busy@example.com", "free").await.unwrap();
    let key = metering.create_key(&account, "k").await.unwrap().key;
    let body = json!({ "question": "What is E11.9?" }).to_string();
    let first = app.send("POST", "/api/chat", Some(&key), Some(&body), &[]).await;
    let mut stream = first.into_body();
    let mut seen = String::new();
    read_until(&mut stream, &mut seen, "event: delta").await;
    let (status, headers, error) = json_of(app.send("POST", "/api/chat", Some(&key), Some(&body), &[]).await).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(error["error"]["code"], "overloaded");
    assert_eq!(headers["retry-after"], "1");
    let used = metering.balance(&account, codecite::metering::Meter::Questions).await.unwrap().used;
    assert_eq!(used, 1, "only the streaming answer counts");
    drop(stream);
}

#[tokio::test]
async fn an_answer_past_its_size_cap_ends_with_an_error() {
    let llm = FakeLlm::start(Script::text(&["E11.9 is type 2 diabetes ", "mellitus without complications [1]."])).await;
    let base = llm.base_url.clone();
    let app = TestApp::spawn_with(move |c| {
        c.llm.base_url = Some(base);
        c.chat.max_answer_chars = 30;
    })
    .await;
    let response = app.post_json("/api/chat", &json!({ "question": "What is E11.9?" }).to_string()).await;
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let events = parse_sse(&String::from_utf8_lossy(&bytes));
    let last = events.last().unwrap();
    assert_eq!(last.name, "error", "{events:?}");
    assert_eq!(last.data["code"], "answer_too_long");
    assert_eq!(events.iter().filter(|e| e.name == "delta").count(), 1);
}

/// A request whose body never finishes arriving: in flight until dropped.
fn endless_chat(app: &TestApp) -> (tokio::sync::mpsc::Sender<Result<axum::body::Bytes, std::io::Error>>, tokio::task::JoinHandle<StatusCode>) {
    use tower::ServiceExt;
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let body = axum::body::Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    let request = axum::http::Request::builder()
        .method("POST")
        .uri("/api/chat")
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {}", app.key))
        .body(body)
        .unwrap();
    let router = app.router.clone();
    (tx, tokio::spawn(async move { router.oneshot(request).await.unwrap().status() }))
}

#[tokio::test]
async fn requests_past_the_in_flight_limit_are_shed_and_slow_ones_time_out() {
    let app = TestApp::spawn_with(|c| {
        c.limits.max_in_flight_requests = 1;
        c.limits.request_timeout_secs = 1;
    })
    .await;
    let (held, slow) = endless_chat(&app);
    // Let it start: it then waits for its body, holding the only slot.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(!slow.is_finished());
    // Wait until the slow request holds the only slot.
    let mut shed = None;
    for _ in 0..100 {
        let (status, headers, body) = json_of(app.send("GET", "/api/stats", None, None, &[]).await).await;
        if status == StatusCode::SERVICE_UNAVAILABLE {
            shed = Some((headers, body));
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let (headers, body) = shed.expect("a second request is shed while the first is in flight");
    assert_eq!(body["error"]["code"], "overloaded");
    assert_eq!(headers["retry-after"], "1");
    // The slow one is stopped by the request timeout, and the slot is free again.
    assert_eq!(slow.await.unwrap(), StatusCode::SERVICE_UNAVAILABLE);
    drop(held);
    let (status, _) = app.get("/api/stats").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn every_response_has_a_request_id_and_metrics_scrape() {
    let app = TestApp::spawn().await;
    let response = app.send("GET", "/api/stats", None, None, &[]).await;
    let id = response.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let response = app.send("GET", "/healthz", None, None, &[("x-request-id", "from-the-proxy")]).await;
    assert_eq!(response.headers()["x-request-id"], "from-the-proxy");

    let answer = app.post_json("/api/chat", &json!({ "question": "What is E11.9?" }).to_string()).await;
    answer.into_body().collect().await.unwrap();
    let response = app.send("GET", "/metrics", None, None, &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let text = String::from_utf8(response.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    for needle in [
        "codecite_http_requests_total{route=\"/api/chat\",method=\"POST\",status=\"200\"}",
        "codecite_http_request_duration_seconds_bucket{route=\"/api/stats\"",
        "codecite_chat_time_to_sources_seconds_bucket",
        "codecite_chat_time_to_first_token_seconds_bucket",
        "codecite_chat_answers_total{outcome=\"done\"}",
    ] {
        assert!(text.contains(needle), "{needle} missing from\n{text}");
    }
}

#[tokio::test]
async fn the_openapi_description_covers_exactly_the_json_routes() {
    use std::collections::BTreeSet;
    let app = TestApp::spawn().await;
    let (status, doc) = app.get("/api/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    let paths = doc["paths"].as_object().expect("paths");
    let documented: BTreeSet<String> = paths.keys().cloned().collect();
    // The router registers every route in one file: read them from it.
    let registered: BTreeSet<String> = include_str!("../../src/http/routes.rs")
        .lines()
        .filter_map(|l| l.trim().strip_prefix(".route(\""))
        .filter_map(|r| r.split('"').next())
        .filter(|p| p.starts_with("/api/") || p.starts_with("/v1/") || ["/healthz", "/readyz", "/metrics"].contains(p))
        .map(str::to_string)
        .collect();
    assert_eq!(documented, registered);
    // Every documented operation reaches a handler, not the fallback.
    for (path, operations) in paths {
        let uri = path.replace("{code}", "E11.9").replace("{id}", "no-such-id");
        for method in operations.as_object().unwrap().keys() {
            let response = app.send(&method.to_uppercase(), &uri, Some(&app.key), None, &[]).await;
            let status = response.status();
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            let text = String::from_utf8_lossy(&bytes);
            assert!(!(status == StatusCode::NOT_FOUND && text.contains("no such route")), "{method} {path}: {status} {text}");
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        }
    }
}

//! `/v1`: codecite as an OpenAI-compatible model. The official `openai` Python package
//! against the served app over loopback HTTP (`tests/python/openai_client.py`), and the wire
//! details through the router: the chunks of a stream, its terminal frames, OpenAI's error
//! shape from every layer, and what is charged.

use axum::http::StatusCode;
use codecite::metering::{Account, Meter};
use http_body_util::BodyExt;
use serde_json::{json, Value};

use crate::fake_llm::{FakeLlm, Script, Step};
use crate::helpers::{json_of, python, python_script, TestApp};

async fn account(app: &TestApp, plan: &str) -> (Account, String) {
    let metering = &app.services().metering;
    let email = format!("coder-{}@example.com", uuid::Uuid::new_v4().simple());
    let account = metering.create_account(&email, plan).await.unwrap();
    let key = metering.create_key(&account, "sdk").await.unwrap().key;
    (account, key)
}

/// Uses up the account's questions, as earlier questions would have.
pub async fn spend_questions(app: &TestApp, account: &Account) {
    let metering = &app.services().metering;
    while let Ok(reservation) = metering.reserve(account, Meter::Questions, None, "earlier question").await.unwrap() {
        reservation.charge().await.unwrap();
    }
}

async fn used(app: &TestApp, account: &Account) -> i64 {
    app.services().metering.balance(account, Meter::Questions).await.unwrap().used
}

/// The `data:` payloads of a `/v1` stream, in order.
fn data_frames(text: &str) -> Vec<String> {
    text.split("\n\n").filter_map(|block| block.lines().find_map(|l| l.strip_prefix("data: ")).map(str::to_string)).collect()
}

async fn complete(app: &TestApp, key: &str, body: Value) -> axum::response::Response {
    app.send("POST", "/v1/chat/completions", Some(key), Some(&body.to_string()), &[]).await
}

#[tokio::test]
async fn the_official_openai_sdk_streams_cited_answers() {
    let Some(python) = python("the_official_openai_sdk_streams_cited_answers") else { return };
    let app = TestApp::spawn().await;
    let base = app.serve().await;
    let (coder, key) = account(&app, "pro").await;
    let (spent, spent_key) = account(&app, "free").await;
    spend_questions(&app, &spent).await;
    let spent_before = used(&app, &spent).await;
    let output = tokio::process::Command::new(&python)
        .arg(python_script("openai_client.py"))
        .args([format!("{base}/v1"), key, spent_key])
        .output()
        .await
        .expect("the Python interpreter runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "openai_client.py failed:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let summary: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    // Each answered question was charged once; the refusals cost nothing.
    assert_eq!(summary["answered"], 4);
    assert_eq!(used(&app, &coder).await, 4);
    let ledger = app.services().metering.ledger(&coder, 100).await.unwrap();
    let count = |kind: &str| ledger.iter().filter(|r| r.kind == kind).count();
    assert_eq!((count("reserve"), count("charge"), count("refund")), (4, 4, 0), "{ledger:?}");
    assert_eq!(used(&app, &spent).await, spent_before);
    // The turns are stored in the caller's conversation, as /api/chat stores them.
    let conversation = summary["conversation_id"].as_str().unwrap();
    let turns = app.services().chat.conversations().messages(conversation, &coder.id).await.unwrap().unwrap();
    assert_eq!(turns.iter().map(|t| t.question.as_str()).collect::<Vec<_>>(), ["What is HCPCS J1885?", "Is it an add-on code?"]);
}

#[tokio::test]
async fn a_stream_is_chunks_then_the_codecite_object_then_done() {
    let app = TestApp::spawn().await;
    let (coder, key) = account(&app, "free").await;
    let response = complete(&app, &key, json!({"model": "codecite", "stream": true, "messages": [{"role": "user", "content": "What is HCPCS J1885?"}]})).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert_eq!(response.headers()["x-quota-remaining"], "4");
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let frames = data_frames(&String::from_utf8_lossy(&bytes));
    assert_eq!(frames.last().map(String::as_str), Some("[DONE]"), "{frames:?}");
    let chunks: Vec<Value> = frames[..frames.len() - 1].iter().map(|f| serde_json::from_str(f).unwrap()).collect();
    assert_eq!(chunks[0]["choices"][0]["delta"], json!({"role": "assistant", "content": ""}));
    let id = chunks[0]["id"].as_str().unwrap();
    assert!(id.starts_with("chatcmpl-") && chunks.iter().all(|c| c["id"] == id), "one id for the whole stream");
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
    assert_eq!(last["codecite"]["verified_codes"], json!(["J1885"]));
    assert_eq!(last["codecite"]["remaining"], 4);
    assert!(last["usage"]["total_tokens"].as_u64().unwrap() > 0);
    let text: String = chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
    assert!(text.contains("- J1885 (HCPCS Level II): http://127.0.0.1:8080/codes/J1885"), "{text}");
    assert_eq!(used(&app, &coder).await, 1);
}

#[tokio::test]
async fn a_failure_mid_stream_ends_with_an_error_chunk_then_done() {
    let script = Script { failures_first: vec![], steps: vec![Step::Text("J1885 is "), Step::Wait(std::time::Duration::from_millis(50)), Step::Fail], finish: false };
    let llm = FakeLlm::start(script).await;
    let base = llm.base_url.clone();
    let app = TestApp::spawn_with(move |c| {
        c.llm.base_url = Some(base);
        c.llm.model = "fake-model".into();
    })
    .await;
    let response = complete(&app, &app.key, json!({"model": "codecite", "stream": true, "messages": [{"role": "user", "content": "What is J1885?"}]})).await;
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let frames = data_frames(&String::from_utf8_lossy(&bytes));
    let n = frames.len();
    assert_eq!(frames[n - 1], "[DONE]", "{frames:?}");
    let error: Value = serde_json::from_str(&frames[n - 2]).unwrap();
    assert_eq!(error["error"]["type"], "server_error");
    assert_eq!(error["error"]["code"], "llm_stream_failed");
    assert!(frames.iter().all(|f| !f.contains("\"finish_reason\":\"stop\"")), "no normal end after a failure");
}

#[tokio::test]
async fn a_whole_answer_that_fails_is_refunded() {
    let llm = FakeLlm::start(Script { failures_first: vec![500, 500, 500, 500], steps: vec![], finish: false }).await;
    let base = llm.base_url.clone();
    let app = TestApp::spawn_with(move |c| {
        c.llm.base_url = Some(base);
        c.llm.retries = 0;
    })
    .await;
    let (coder, key) = account(&app, "free").await;
    let response = complete(&app, &key, json!({"model": "codecite", "messages": [{"role": "user", "content": "What is J1885?"}]})).await;
    let (status, _, body) = json_of(response).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(body["error"]["type"], "server_error");
    assert_eq!(used(&app, &coder).await, 0, "a failed answer costs nothing");
    let ledger = app.services().metering.ledger(&coder, 10).await.unwrap();
    assert_eq!(ledger.iter().map(|r| r.kind.as_str()).collect::<Vec<_>>(), ["reserve", "refund"]);
}

#[tokio::test]
async fn every_error_under_v1_takes_openais_shape_and_costs_nothing() {
    let app = TestApp::spawn().await;
    let (coder, key) = account(&app, "free").await;
    let question = json!({"model": "codecite", "messages": [{"role": "user", "content": "What is J1885?"}]});
    let huge = json!({"model": "codecite", "messages": [{"role": "user", "content": "x".repeat(1024 * 1024 + 10)}]});
    let cases: Vec<(axum::response::Response, StatusCode, &str, Option<&str>)> = vec![
        (app.send("POST", "/v1/chat/completions", None, Some(&question.to_string()), &[]).await, StatusCode::UNAUTHORIZED, "unauthenticated", None),
        (app.send("GET", "/v1/models", Some("cck_nope"), None, &[]).await, StatusCode::UNAUTHORIZED, "invalid_credentials", None),
        (app.send("POST", "/v1/chat/completions", Some(&key), Some("{not json"), &[]).await, StatusCode::BAD_REQUEST, "bad_request", None),
        (complete(&app, &key, huge).await, StatusCode::PAYLOAD_TOO_LARGE, "too_large", None),
        (complete(&app, &key, json!({"model": "codecite", "messages": [{"role": "user", "content": " "}]})).await, StatusCode::BAD_REQUEST, "bad_request", None),
        (complete(&app, &key, json!({"model": "codecite", "messages": [{"role": "user", "content": "q"}], "conversation_id": "not-mine"})).await, StatusCode::NOT_FOUND, "not_found", None),
        (complete(&app, &key, json!({"model": "codecite", "messages": [{"role": "user", "content": "q"}], "max_tokens": 0})).await, StatusCode::BAD_REQUEST, "bad_request", Some("max_tokens")),
        (app.send("GET", "/v1/models/gpt-4o", Some(&key), None, &[]).await, StatusCode::NOT_FOUND, "model_not_found", None),
        (app.send("GET", "/v1/embeddings", Some(&key), None, &[]).await, StatusCode::NOT_FOUND, "not_found", None),
    ];
    for (response, status, code, param) in cases {
        let (got, _, body) = json_of(response).await;
        assert_eq!(got, status, "{body}");
        let error = &body["error"];
        assert_eq!(error["code"], code, "{body}");
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
        let kind = if status.is_server_error() { "server_error" } else { "invalid_request_error" };
        assert_eq!(error["type"], kind, "{body}");
        assert_eq!(error["param"], param.map_or(Value::Null, |p| json!(p)), "{body}");
    }
    assert_eq!(used(&app, &coder).await, 0);
    // The JSON API keeps its own shape.
    let (_, _, body) = json_of(app.send("POST", "/api/chat", None, Some("{}"), &[]).await).await;
    assert!(body["error"].get("type").is_none(), "{body}");
}

#[tokio::test]
async fn a_named_conversation_without_earlier_messages_continues_its_stored_turns() {
    let app = TestApp::spawn().await;
    let ask = |body: Value| async { json_of(complete(&app, &app.key, body).await).await.2 };
    let first = ask(json!({"model": "codecite", "messages": [{"role": "user", "content": "What is 37253?"}]})).await;
    let conversation = first["codecite"]["conversation_id"].as_str().unwrap().to_string();
    let follow = ask(json!({"model": "codecite", "conversation_id": conversation, "messages": [{"role": "user", "content": "Is it an add-on code?"}]})).await;
    assert_eq!(follow["codecite"]["conversation_id"], conversation.as_str());
    assert_eq!(follow["codecite"]["sources"][0]["code"], "37253", "{follow}");
    assert!(follow["choices"][0]["message"]["content"].as_str().unwrap().contains("add-on code"), "{follow}");
    // Without the conversation, the same words are a new question about nothing in particular.
    let alone = ask(json!({"model": "codecite", "messages": [{"role": "user", "content": "Is it an add-on code?"}]})).await;
    assert_ne!(alone["codecite"]["sources"][0]["code"], "37253", "{alone}");
}

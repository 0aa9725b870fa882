//! Accounts and metering through the real router, on SQLite or (with
//! `CODECITE_TEST_PG_URL`) PostgreSQL: credentials, exact quotas under concurrency,
//! charges and refunds, idempotency, guest registration, month rollover, private
//! conversations, rate limits.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use chrono::{TimeZone, Utc};
use codecite::metering::{ManualClock, Meter};
use futures::future::join_all;
use http_body_util::BodyExt;
use serde_json::{json, Value};

use crate::fake_llm::{FakeLlm, Script, Step};
use crate::helpers::{json_of, parse_sse, test_config, Ev, TestApp};

/// What one metered request came back with: a stream's events, or a JSON body.
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    events: Vec<Ev>,
    json: Value,
}

impl Reply {
    fn names(&self) -> Vec<&str> {
        self.events.iter().map(|e| e.name.as_str()).collect()
    }

    fn event(&self, name: &str) -> &Value {
        &self.events.iter().find(|e| e.name == name).unwrap_or_else(|| panic!("no {name}: {:?}", self.names())).data
    }

    fn done(&self) -> bool {
        self.status == StatusCode::OK && self.names().last() == Some(&"done")
    }
}

async fn request(app: &TestApp, method: &str, uri: &str, token: Option<&str>, body: Option<&str>, headers: &[(&str, &str)]) -> Reply {
    let response = app.send(method, uri, token, body, headers).await;
    let status = response.status();
    if response.headers().get("content-type").is_some_and(|v| v == "text/event-stream") {
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        return Reply { status, headers, events: parse_sse(&String::from_utf8_lossy(&bytes)), json: Value::Null };
    }
    let (status, headers, json) = if status == StatusCode::NO_CONTENT {
        (status, response.headers().clone(), Value::Null)
    } else {
        json_of(response).await
    };
    Reply { status, headers, events: vec![], json }
}

async fn ask(app: &TestApp, token: &str, question: &str) -> Reply {
    ask_with(app, token, json!({ "question": question }), &[]).await
}

async fn ask_with(app: &TestApp, token: &str, body: Value, headers: &[(&str, &str)]) -> Reply {
    request(app, "POST", "/api/chat", Some(token), Some(&body.to_string()), headers).await
}

async fn view(app: &TestApp, token: &str, code: &str) -> Reply {
    request(app, "GET", &format!("/api/codes/{code}"), Some(token), None, &[]).await
}

/// A new account on `plan` and an API key for it.
async fn key_on(app: &TestApp, plan: &str) -> String {
    let metering = &app.services().metering;
    let email = format!("coder-{}@example.com", uuid::Uuid::new_v4().simple());
    let account = metering.create_account(&email, plan).await.unwrap();
    metering.create_key(&account, "test").await.unwrap().key
}

async fn guest(app: &TestApp) -> String {
    let reply = request(app, "POST", "/api/guest", None, None, &[]).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    assert_eq!(reply.json["plan"], "guest");
    assert_eq!(reply.json["remaining"], json!({"questions": 1, "code_views": 1}));
    let cookie = reply.headers["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with("codecite_session=ccs_") && cookie.contains("HttpOnly"), "{cookie}");
    reply.json["token"].as_str().unwrap().to_string()
}

async fn me(app: &TestApp, token: &str) -> Value {
    let reply = request(app, "GET", "/api/me", Some(token), None, &[]).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    reply.json
}

/// Counts of each kind of ledger row of the account behind `token`.
async fn ledger(app: &TestApp, token: &str) -> (usize, usize, usize) {
    let metering = &app.services().metering;
    let caller = metering.identify(token).await.unwrap().expect("a live credential");
    let rows = metering.ledger(&caller.account, 10_000).await.unwrap();
    let count = |kind: &str| rows.iter().filter(|r| r.kind == kind).count();
    (count("reserve"), count("charge"), count("refund"))
}

/// Waits, bounded, for a condition that a background task makes true.
async fn eventually<F: std::future::Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) {
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{what} never happened");
}

async fn with_llm(script: Script) -> (TestApp, FakeLlm) {
    let llm = FakeLlm::start(script).await;
    let base = llm.base_url.clone();
    let app = TestApp::spawn_with(move |c| {
        c.llm.base_url = Some(base);
        c.llm.retries = 0;
        c.llm.stall_secs = 60.0;
    })
    .await;
    (app, llm)
}

#[tokio::test]
async fn missing_malformed_and_unknown_credentials_get_a_401_that_says_what_to_do() {
    let app = TestApp::spawn().await;
    let body = json!({"question": "What is E11.9?"}).to_string();
    let none = request(&app, "POST", "/api/chat", None, Some(&body), &[]).await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    assert_eq!(none.json["error"]["code"], "unauthenticated");
    assert!(none.json["error"]["message"].as_str().unwrap().contains("POST /api/guest"), "{}", none.json);
    let cases: [(&str, &[(&str, &str)]); 5] = [
        ("malformed header", &[("authorization", "Basic Zm9vOmJhcg==")]),
        ("empty bearer", &[("authorization", "Bearer ")]),
        ("unknown key", &[("authorization", "Bearer cck_0000000000000000000000000000000000000000000000000000000000000000")]),
        ("not ours", &[("authorization", "Bearer ccs_'; DROP TABLE accounts; --")]),
        ("stale cookie", &[("cookie", "codecite_session=ccs_deadbeef")]),
    ];
    for (what, headers) in cases {
        for uri in ["/api/me", "/api/codes/E11.9", "/api/conversations"] {
            let reply = request(&app, "GET", uri, None, None, headers).await;
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{what} {uri}");
            assert_eq!(reply.json["error"]["code"], "invalid_credentials", "{what} {uri}");
        }
    }
    // Open routes need nothing.
    for uri in ["/healthz", "/readyz", "/api/search?q=diabetes", "/api/stats", "/api/ncci?c1=G0463&c2=0591T"] {
        let reply = request(&app, "GET", uri, None, None, &[]).await;
        assert_ne!(reply.status, StatusCode::UNAUTHORIZED, "{uri}");
        assert!(reply.status.is_success() || reply.status == StatusCode::NOT_FOUND, "{uri}: {}", reply.status);
    }
}

#[tokio::test]
async fn a_guest_gets_one_question_and_one_code_view_then_an_offer_to_register() {
    let app = TestApp::spawn().await;
    let token = guest(&app).await;
    let first = ask(&app, &token, "What is E11.9?").await;
    assert!(first.done(), "{:?}", first.names());
    assert_eq!(first.headers["x-quota-remaining"], "0");
    assert_eq!(first.event("meta")["remaining"], 0);
    assert_eq!(first.event("done")["remaining"], 0);
    let second = ask(&app, &token, "And E11.65?").await;
    assert_eq!(second.status, StatusCode::PAYMENT_REQUIRED);
    let error = &second.json["error"];
    assert_eq!(error["code"], "quota_exhausted");
    assert_eq!(error["meter"], "questions");
    assert_eq!(error["remaining"], 0);
    assert_eq!(error["action"], "register");
    assert_eq!(error["resets_at"], Value::Null);
    assert!(error["message"].as_str().unwrap().contains("Register"), "{error}");

    let page = view(&app, &token, "E11.9").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.json["code"], "E11.9");
    assert_eq!(page.headers["x-quota-remaining"], "0");
    let again = view(&app, &token, "E11.65").await;
    assert_eq!(again.status, StatusCode::PAYMENT_REQUIRED);
    assert_eq!(again.json["error"]["meter"], "code_views");
    assert_eq!(again.json["error"]["action"], "register");
    // The cookie alone is a credential too.
    let by_cookie = request(&app, "GET", "/api/me", None, None, &[("cookie", &format!("codecite_session={token}"))]).await;
    assert_eq!(by_cookie.status, StatusCode::OK);
    assert_eq!(by_cookie.json["remaining"], json!({"questions": 0, "code_views": 0}));
}

#[tokio::test]
async fn bad_input_costs_no_quota() {
    let app = TestApp::spawn().await;
    let token = guest(&app).await;
    for body in ["{not json", "{\"question\": \"  \"}", "{\"question\": \"hi\", \"conversation_id\": \"nope\"}"] {
        let reply = request(&app, "POST", "/api/chat", Some(&token), Some(body), &[]).await;
        assert!(reply.status.is_client_error() && reply.status != StatusCode::PAYMENT_REQUIRED, "{body}: {}", reply.status);
    }
    let bad_key = ask_with(&app, &token, json!({"question": "What is E11.9?"}), &[("idempotency-key", "")]).await;
    assert_eq!(bad_key.status, StatusCode::BAD_REQUEST);
    assert_eq!(view(&app, &token, "not%20a%20code").await.status, StatusCode::BAD_REQUEST);
    let unknown = view(&app, &token, "Q99.99").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(me(&app, &token).await["remaining"], json!({"questions": 1, "code_views": 1}));
    let (reserved, charged, refunded) = ledger(&app, &token).await;
    assert_eq!((reserved, charged, refunded), (1, 0, 1), "the unknown code was reserved, then refunded");
}

/// 200 requests at once from an account with 5 left: exactly 5 answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_questions_and_code_views_are_counted_exactly() {
    let app = TestApp::spawn().await;
    let key = key_on(&app, "free").await;
    let replies = join_all((0..200).map(|i| {
        let (app, key) = (&app, &key);
        async move { ask(app, key, &format!("What is E11.9? ({i})")).await }
    }))
    .await;
    let done = replies.iter().filter(|r| r.done()).count();
    let refused = replies.iter().filter(|r| r.status == StatusCode::PAYMENT_REQUIRED).count();
    assert_eq!((done, refused), (5, 195));
    assert!(replies.iter().filter(|r| r.status == StatusCode::PAYMENT_REQUIRED).all(|r| r.json["error"]["action"] == "upgrade"));
    let mut left: Vec<i64> = replies.iter().filter(|r| r.done()).map(|r| r.event("done")["remaining"].as_i64().unwrap()).collect();
    left.sort();
    assert_eq!(left, [0, 1, 2, 3, 4], "each answer saw its own count");
    assert_eq!(ledger(&app, &key).await, (5, 5, 0));

    let views = join_all((0..200).map(|_| view(&app, &key, "E11.9"))).await;
    let ok = views.iter().filter(|r| r.status == StatusCode::OK).count();
    let refused = views.iter().filter(|r| r.status == StatusCode::PAYMENT_REQUIRED).count();
    assert_eq!((ok, refused), (5, 195));
    let balance = me(&app, &key).await;
    assert_eq!(balance["meters"]["questions"]["used"], 5);
    assert_eq!(balance["meters"]["code_views"]["used"], 5);
    assert_eq!(balance["remaining"], json!({"questions": 0, "code_views": 0}));
}

#[tokio::test]
async fn a_failure_before_any_content_is_refunded() {
    let script = Script { failures_first: vec![400], steps: vec![Step::Text("never")], finish: true };
    let (app, _llm) = with_llm(script).await;
    let key = key_on(&app, "free").await;
    let reply = ask(&app, &key, "What is E11.9?").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.names().last(), Some(&"error"), "{:?}", reply.names());
    assert_eq!(reply.event("meta")["remaining"], 4, "reserved while answering");
    assert_eq!(ledger(&app, &key).await, (1, 0, 1));
    assert_eq!(me(&app, &key).await["remaining"]["questions"], 5, "refunded before the error event");
}

#[tokio::test]
async fn a_client_gone_before_content_is_refunded_and_after_content_charged_once() {
    let script = Script {
        failures_first: vec![],
        steps: vec![Step::Wait(Duration::from_millis(300)), Step::Text("E11.9 "), Step::Wait(Duration::from_secs(30))],
        finish: true,
    };
    let (app, llm) = with_llm(script).await;
    let key = key_on(&app, "free").await;

    // Gone after `sources`, while the model is still silent: refunded.
    let response = app.send("POST", "/api/chat", Some(&key), Some(&json!({"question": "What is E11.9?"}).to_string()), &[]).await;
    read_until(response, "event: sources").await;
    eventually("the refund", || async { ledger(&app, &key).await == (1, 0, 1) }).await;

    // Gone after the first delta: charged, and never refunded after.
    let response = app.send("POST", "/api/chat", Some(&key), Some(&json!({"question": "What is E11.9?"}).to_string()), &[]).await;
    read_until(response, "event: delta").await;
    eventually("the upstream call dropped", || async { llm.state.dropped_early.load(Ordering::SeqCst) }).await;
    eventually("the charge", || async { ledger(&app, &key).await == (2, 1, 1) }).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(ledger(&app, &key).await, (2, 1, 1));
    assert_eq!(me(&app, &key).await["meters"]["questions"]["used"], 1);
}

/// Reads a streamed body until `needle` shows, then drops it (the client goes away).
async fn read_until(response: axum::response::Response, needle: &str) {
    let mut body = response.into_body();
    let mut seen = String::new();
    while !seen.contains(needle) {
        let frame = body.frame().await.expect("more frames").unwrap();
        if let Ok(data) = frame.into_data() {
            seen.push_str(&String::from_utf8_lossy(&data));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_idempotency_key_makes_a_retry_free_sequentially_and_concurrently() {
    let app = TestApp::spawn().await;
    let key = key_on(&app, "free").await;
    let body = json!({"question": "What is E11.9?"});
    let first = ask_with(&app, &key, body.clone(), &[("idempotency-key", "retry-1")]).await;
    let second = ask_with(&app, &key, body.clone(), &[("idempotency-key", "retry-1")]).await;
    assert!(first.done() && second.done());
    assert_eq!(me(&app, &key).await["meters"]["questions"]["used"], 1);

    let together = join_all((0..20).map(|_| ask_with(&app, &key, body.clone(), &[("idempotency-key", "retry-2")]))).await;
    assert!(together.iter().all(Reply::done));
    assert_eq!(me(&app, &key).await["meters"]["questions"]["used"], 2);
    let views = join_all((0..10).map(|_| request(&app, "GET", "/api/codes/E11.9", Some(&key), None, &[("idempotency-key", "v")]))).await;
    assert!(views.iter().all(|r| r.status == StatusCode::OK));
    assert_eq!(me(&app, &key).await["meters"]["code_views"]["used"], 1);
    // Another key is another request.
    ask_with(&app, &key, body.clone(), &[("idempotency-key", "retry-3")]).await;
    assert_eq!(me(&app, &key).await["meters"]["questions"]["used"], 3);
}

#[tokio::test]
async fn a_refunded_request_retried_with_its_key_is_charged_once() {
    let script = Script { failures_first: vec![400], steps: vec![Step::Text("E11.9 is type 2 diabetes [1].")], finish: true };
    let (app, _llm) = with_llm(script).await;
    let key = key_on(&app, "free").await;
    let body = json!({"question": "What is E11.9?"});
    let failed = ask_with(&app, &key, body.clone(), &[("idempotency-key", "k")]).await;
    assert_eq!(failed.names().last(), Some(&"error"));
    let retried = ask_with(&app, &key, body.clone(), &[("idempotency-key", "k")]).await;
    assert!(retried.done(), "{:?}", retried.names());
    assert_eq!(ledger(&app, &key).await, (2, 1, 1));
    assert_eq!(me(&app, &key).await["meters"]["questions"]["used"], 1);
}

#[tokio::test]
async fn a_guest_who_registers_keeps_its_conversations_and_usage() {
    let app = TestApp::spawn().await;
    let token = guest(&app).await;
    let first = ask(&app, &token, "What is E11.9?").await;
    let conversation = first.event("meta")["conversation_id"].as_str().unwrap().to_string();
    let credentials = json!({"email": "New.Coder@Example.com", "password": "correct horse"}).to_string();
    let registered = request(&app, "POST", "/api/register", Some(&token), Some(&credentials), &[]).await;
    assert_eq!(registered.status, StatusCode::CREATED, "{}", registered.json);
    assert_eq!(registered.json["plan"], "free");
    assert_eq!(registered.json["account"]["email"], "new.coder@example.com");
    assert_eq!(registered.json["remaining"]["questions"], 4, "the guest's question still counts");
    let new_token = registered.json["token"].as_str().unwrap().to_string();
    assert_eq!(request(&app, "GET", "/api/me", Some(&token), None, &[]).await.status, StatusCode::UNAUTHORIZED, "the guest session ends");

    let list = request(&app, "GET", "/api/conversations", Some(&new_token), None, &[]).await;
    assert_eq!(list.json["conversations"][0]["id"], conversation.as_str());
    assert_eq!(list.json["conversations"][0]["title"], "What is E11.9?");
    let follow_up = ask_with(&app, &new_token, json!({"question": "And with hyperglycemia?", "conversation_id": conversation}), &[]).await;
    assert!(follow_up.done());
    let balance = me(&app, &new_token).await;
    assert_eq!(balance["meters"]["questions"]["used"], 2);
    assert!(balance["resets_at"].as_str().unwrap().ends_with("-01T00:00:00Z"));

    // The same email again, in any case, is a conflict; a bad email or password a 400.
    let again = request(&app, "POST", "/api/register", None, Some(&credentials.replace("New.Coder", "new.coder")), &[]).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    for (email, password) in [("not-an-email", "long enough"), ("a@example.com", "short")] {
        let body = json!({"email": email, "password": password}).to_string();
        let bad = request(&app, "POST", "/api/register", None, Some(&body), &[]).await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{email}");
    }

    // Sign out, wrong password, sign in.
    let out = request(&app, "POST", "/api/logout", Some(&new_token), None, &[]).await;
    assert_eq!(out.status, StatusCode::OK);
    assert_eq!(request(&app, "GET", "/api/me", Some(&new_token), None, &[]).await.status, StatusCode::UNAUTHORIZED);
    let wrong = json!({"email": "new.coder@example.com", "password": "wrong horse"}).to_string();
    assert_eq!(request(&app, "POST", "/api/login", None, Some(&wrong), &[]).await.status, StatusCode::UNAUTHORIZED);
    let unknown = json!({"email": "nobody@example.com", "password": "correct horse"}).to_string();
    assert_eq!(request(&app, "POST", "/api/login", None, Some(&unknown), &[]).await.status, StatusCode::UNAUTHORIZED);
    let login = request(&app, "POST", "/api/login", None, Some(&credentials), &[]).await;
    assert_eq!(login.status, StatusCode::OK);
    let token = login.json["token"].as_str().unwrap();
    assert_eq!(me(&app, token).await["account"]["id"], registered.json["account"]["id"]);
}

#[tokio::test]
async fn a_new_month_resets_the_count() {
    let dir = tempfile::tempdir().unwrap();
    let config = test_config(dir.path()).await;
    let ms = |y, m, d, h, min| Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap().timestamp_millis();
    let clock = Arc::new(ManualClock::new(ms(2027, 1, 31, 23, 50)));
    let app = TestApp::with_clock(dir, config, clock.clone()).await;
    codecite::app::prepare(&app.state, false).await.unwrap();
    let key = key_on(&app, "free").await;
    for _ in 0..5 {
        assert_eq!(view(&app, &key, "E11.9").await.status, StatusCode::OK);
    }
    let spent = view(&app, &key, "E11.9").await;
    assert_eq!(spent.status, StatusCode::PAYMENT_REQUIRED);
    assert_eq!(spent.json["error"]["action"], "upgrade");
    assert_eq!(spent.json["error"]["resets_at"], "2027-02-01T00:00:00Z");
    clock.set(ms(2027, 2, 1, 0, 0));
    let fresh = view(&app, &key, "E11.9").await;
    assert_eq!(fresh.status, StatusCode::OK);
    assert_eq!(fresh.headers["x-quota-remaining"], "4");
    assert_eq!(me(&app, &key).await["meters"]["code_views"]["period"], "2027-02");

    // A guest's lifetime quota does not reset, and its session expires.
    let token = guest(&app).await;
    view(&app, &token, "E11.9").await;
    clock.set(ms(2027, 3, 1, 0, 0));
    assert_eq!(view(&app, &token, "E11.9").await.status, StatusCode::PAYMENT_REQUIRED);
    clock.set(ms(2027, 4, 1, 0, 0));
    let expired = view(&app, &token, "E11.9").await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
    assert_eq!(expired.json["error"]["code"], "invalid_credentials");
}

#[tokio::test]
async fn conversations_are_private_to_their_account() {
    let app = TestApp::spawn().await;
    let (a, b) = (key_on(&app, "free").await, key_on(&app, "free").await);
    let answer = ask(&app, &a, "What is E11.9?").await;
    let id = answer.event("meta")["conversation_id"].as_str().unwrap().to_string();
    let mine = request(&app, "GET", &format!("/api/conversations/{id}"), Some(&a), None, &[]).await;
    assert_eq!(mine.status, StatusCode::OK);
    assert_eq!(mine.json["messages"][0]["question"], "What is E11.9?");
    assert!(mine.json["messages"][0]["cited_codes"].as_array().unwrap().iter().any(|c| c == "E11.9"));

    let theirs = request(&app, "GET", &format!("/api/conversations/{id}"), Some(&b), None, &[]).await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
    let continued = ask_with(&app, &b, json!({"question": "and E11.65?", "conversation_id": id}), &[]).await;
    assert_eq!(continued.status, StatusCode::NOT_FOUND);
    assert_eq!(me(&app, &b).await["meters"]["questions"]["used"], 0, "a refused request costs nothing");
    assert_eq!(request(&app, "DELETE", &format!("/api/conversations/{id}"), Some(&b), None, &[]).await.status, StatusCode::NOT_FOUND);
    let listed = request(&app, "GET", "/api/conversations", Some(&b), None, &[]).await;
    assert_eq!(listed.json["conversations"], json!([]));

    assert_eq!(request(&app, "DELETE", &format!("/api/conversations/{id}"), Some(&a), None, &[]).await.status, StatusCode::NO_CONTENT);
    assert_eq!(request(&app, "GET", &format!("/api/conversations/{id}"), Some(&a), None, &[]).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn api_keys_are_shown_once_listed_by_prefix_and_revocable() {
    let app = TestApp::spawn().await;
    let guest = guest(&app).await;
    let refused = request(&app, "POST", "/api/keys", Some(&guest), None, &[]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    let owner = key_on(&app, "pro").await;
    let made = request(&app, "POST", "/api/keys", Some(&owner), Some("{\"name\": \"laptop\"}"), &[]).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.json);
    let new_key = made.json["key"].as_str().unwrap().to_string();
    let id = made.json["id"].as_str().unwrap().to_string();
    assert!(ask(&app, &new_key, "What is E11.9?").await.done());
    let listed = request(&app, "GET", "/api/keys", Some(&owner), None, &[]).await;
    let text = listed.json.to_string();
    assert!(text.contains("laptop") && !text.contains(&new_key), "{text}");

    let other = key_on(&app, "pro").await;
    assert_eq!(request(&app, "DELETE", &format!("/api/keys/{id}"), Some(&other), None, &[]).await.status, StatusCode::NOT_FOUND);
    assert_eq!(request(&app, "DELETE", &format!("/api/keys/{id}"), Some(&owner), None, &[]).await.status, StatusCode::NO_CONTENT);
    let revoked = ask(&app, &new_key, "What is E11.9?").await;
    assert_eq!(revoked.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after() {
    let app = TestApp::spawn_with(|c| {
        c.rate_limits.per_account_per_minute = 60;
        c.rate_limits.per_account_burst = 3;
        c.rate_limits.auth_per_ip_per_minute = 60;
        c.rate_limits.auth_per_ip_burst = 2;
    })
    .await;
    let key = key_on(&app, "pro").await;
    for _ in 0..3 {
        assert_eq!(request(&app, "GET", "/api/me", Some(&key), None, &[]).await.status, StatusCode::OK);
    }
    let limited = request(&app, "GET", "/api/me", Some(&key), None, &[]).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.json["error"]["code"], "rate_limited");
    assert!(limited.headers["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
    // Another account is not held up, and a rate limit is not a quota.
    let other = key_on(&app, "pro").await;
    assert_eq!(request(&app, "GET", "/api/me", Some(&other), None, &[]).await.status, StatusCode::OK);
    assert_eq!(questions_used(&app, &key).await, 0);
    // Guest creation per address.
    guest(&app).await;
    guest(&app).await;
    assert_eq!(request(&app, "POST", "/api/guest", None, None, &[]).await.status, StatusCode::TOO_MANY_REQUESTS);

    let open = TestApp::spawn_with(|c| {
        c.rate_limits.per_ip_per_minute = 60;
        c.rate_limits.per_ip_burst = 2;
    })
    .await;
    let statuses = join_all((0..4).map(|_| request(&open, "GET", "/api/stats", None, None, &[]))).await;
    let limited = statuses.iter().filter(|r| r.status == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!(limited, 2);
}

/// Questions used by the account behind `key`, read from the database.
async fn questions_used(app: &TestApp, key: &str) -> i64 {
    let metering = &app.services().metering;
    let caller = metering.identify(key).await.unwrap().unwrap();
    metering.balance(&caller.account, Meter::Questions).await.unwrap().used
}

/// The "done when" of the metering issue, through the command line: a key printed by
/// `codecite account create --plan free` gets exactly 5 answers out of 30 at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_key_from_the_cli_gets_exactly_five_of_thirty_answers() {
    let app = TestApp::spawn().await;
    let run = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_codecite"))
            .args(args)
            .env("CODECITE_DATA_DIR", &app.config.data_dir)
            .env("CODECITE_DATABASE_URL", app.config.database_url.as_deref().unwrap())
            .output()
            .expect("the codecite binary runs");
        let stdout = String::from_utf8_lossy(&output.stdout).to_string();
        assert!(output.status.success(), "{args:?}: {stdout}{}", String::from_utf8_lossy(&output.stderr));
        stdout
    };
    let printed = run(&["account", "create", "--email", "cli@example.com", "--plan", "free"]);
    let key = printed.lines().last().unwrap().trim().to_string();
    assert!(key.starts_with("cck_"), "{printed}");
    let replies = join_all((0..30).map(|_| ask(&app, &key, "What is E11.9?"))).await;
    assert_eq!(replies.iter().filter(|r| r.done()).count(), 5);
    assert_eq!(replies.iter().filter(|r| r.status == StatusCode::PAYMENT_REQUIRED).count(), 25);

    let shown = run(&["account", "show", "--email", "cli@example.com"]);
    assert!(shown.contains("questions  5 used") && shown.contains("0 remaining"), "{shown}");
    run(&["account", "grant", "--email", "cli@example.com", "--questions", "2"]);
    assert!(ask(&app, &key, "What is E11.9?").await.done());
    let usage = run(&["account", "usage", "--email", "cli@example.com", "--json"]);
    let rows: Vec<Value> = serde_json::from_str(&usage).unwrap();
    let kinds = |k: &str| rows.iter().filter(|r| r["kind"] == k).count();
    assert_eq!((kinds("reserve"), kinds("charge"), kinds("grant")), (6, 6, 1));
    run(&["account", "grant", "--email", "cli@example.com", "--plan", "pro"]);
    assert!(run(&["account", "list"]).contains("cli@example.com"));
    assert_eq!(me(&app, &key).await["plan"], "pro");
}

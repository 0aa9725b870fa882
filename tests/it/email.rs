//! Answers by email, against a real SMTP server on loopback (`tests/python/smtp_sink.py`,
//! aiosmtpd): a question posted to `/api/inbound/email` comes back through SMTP with its
//! cited codes linked and threaded to the question; the quota is charged once per answer
//! that left; machines are never answered and strangers get one invitation.

use std::path::PathBuf;

use axum::http::StatusCode;
use codecite::config::{Config, SmtpSecurity};
use codecite::metering::{Account, Meter};
use serde_json::Value;
use tokio::io::AsyncBufReadExt;

use crate::helpers::{json_of, python, python_script, TestApp};
use crate::openai::spend_questions;

const SECRET: &str = "inbound-s3cret";

/// The SMTP server: a child process that keeps each message it accepts as a file.
struct Sink {
    port: u16,
    dir: tempfile::TempDir,
    _child: tokio::process::Child,
}

impl Sink {
    async fn start(python: &PathBuf, fail_first: u32) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut child = tokio::process::Command::new(python)
            .arg(python_script("smtp_sink.py"))
            .arg(dir.path())
            .args(["--fail-first", &fail_first.to_string()])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the SMTP sink starts");
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let line = lines.next_line().await.unwrap().expect("the sink says it is ready");
        let port = line.strip_prefix("ready ").and_then(|p| p.parse().ok()).unwrap_or_else(|| panic!("{line}"));
        Self { port, dir, _child: child }
    }

    /// Every message accepted so far, in order, raw.
    fn messages(&self) -> Vec<Vec<u8>> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        paths.sort();
        paths.iter().map(|p| std::fs::read(p).unwrap()).collect()
    }
}

fn configure(c: &mut Config, port: u16) {
    c.email.inbound_secret = Some(SECRET.into());
    c.email.from = "codecite answers <answers@codecite.test>".into();
    c.email.smtp_host = Some("127.0.0.1".into());
    c.email.smtp_port = port;
    c.email.smtp_security = SmtpSecurity::None;
    c.email.retry_delay_secs = 0.01;
    c.web.public_url = Some("https://codecite.test".into());
}

async fn verified(app: &TestApp, email: &str, plan: &str) -> Account {
    let metering = &app.services().metering;
    let account = metering.create_account(email, plan).await.unwrap();
    metering.verify_email(&account).await.unwrap()
}

fn raw(from: &str, message_id: &str, subject: &str, extra_headers: &str, body: &str) -> String {
    format!(
        "From: A Coder <{from}>\r\nTo: answers@codecite.test\r\nSubject: {subject}\r\nMessage-ID: <{message_id}>\r\n\
         Date: Mon, 5 Jan 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n{extra_headers}\r\n{body}\r\n"
    )
}

/// Posts a raw message as a provider's inbound route does; gives the status and receipt.
async fn post(app: &TestApp, message: &str) -> (StatusCode, Value) {
    let response = app.send("POST", "/api/inbound/email", Some(SECRET), Some(message), &[("content-type", "message/rfc822")]).await;
    let (status, _, body) = json_of(response).await;
    app.services().email.idle().await;
    (status, body)
}

/// One parsed message the sink accepted: headers, the plain and HTML bodies.
struct Got {
    raw: String,
    text: String,
    html: String,
}

fn read(raw: &[u8]) -> Got {
    let message = mail_parser::MessageParser::default().parse(raw).expect("an email");
    Got {
        raw: String::from_utf8_lossy(raw).into_owned(),
        text: message.body_text(0).unwrap_or_default().into_owned(),
        html: message.body_html(0).unwrap_or_default().into_owned(),
    }
}

/// A header's value, unfolded.
fn header(got: &Got, name: &str) -> String {
    let prefix = format!("{name}: ");
    let mut lines = got.raw.lines().skip_while(|l| !l.starts_with(&prefix));
    let first = lines.next().unwrap_or_else(|| panic!("no {name} in\n{}", got.raw));
    let mut value = first[prefix.len()..].trim().to_string();
    for more in lines.take_while(|l| l.starts_with([' ', '\t'])) {
        value.push(' ');
        value.push_str(more.trim());
    }
    value
}

async fn questions_used(app: &TestApp, account: &Account) -> (i64, Vec<String>) {
    let metering = &app.services().metering;
    let used = metering.balance(account, Meter::Questions).await.unwrap().used;
    let kinds = metering.ledger(account, 100).await.unwrap().into_iter().map(|r| r.kind).collect();
    (used, kinds)
}

#[tokio::test]
async fn an_emailed_question_is_answered_through_smtp_threaded_and_charged_once() {
    let Some(python) = python("an_emailed_question_is_answered_through_smtp_threaded_and_charged_once") else { return };
    let sink = Sink::start(&python, 0).await;
    let app = TestApp::spawn_with(|c| configure(c, sink.port)).await;
    let coder = verified(&app, "coder@example.com", "free").await;

    let question = raw("Coder@Example.com", "q1@example.com", "Add-on?", "", "What is 37253?\r\n\r\n-- \r\nA coder, CPC");
    let (status, receipt) = post(&app, &question).await;
    assert_eq!((status, receipt["status"].as_str()), (StatusCode::ACCEPTED, Some("answering")), "{receipt}");
    let messages = sink.messages();
    assert_eq!(messages.len(), 1);
    let answer = read(&messages[0]);
    assert!(answer.raw.starts_with("X-Envelope-To: coder@example.com"), "{}", answer.raw);
    assert_eq!(header(&answer, "Subject"), "Re: Add-on?");
    assert_eq!(header(&answer, "In-Reply-To"), "<q1@example.com>");
    assert_eq!(header(&answer, "References"), "<q1@example.com>");
    assert_eq!(header(&answer, "Auto-Submitted"), "auto-replied");
    let reply_id = header(&answer, "Message-ID");
    assert_eq!(format!("<{}>", receipt["message_id"].as_str().unwrap()), reply_id);
    assert!(answer.raw.contains("multipart/alternative"), "{}", answer.raw);
    assert!(answer.text.contains("**37253**") && answer.text.contains("- 37253 (CPT): https://codecite.test/codes/37253"), "{}", answer.text);
    assert!(answer.html.contains("<a href=\"https://codecite.test/codes/37253\">37253</a>"), "{}", answer.html);
    assert!(answer.text.contains("You have 4 questions left"), "{}", answer.text);
    assert_eq!(questions_used(&app, &coder).await, (1, vec!["reserve".into(), "charge".into()]));

    // The provider posting the same message again: no second answer, no second charge.
    let (status, receipt) = post(&app, &question).await;
    assert_eq!((status, receipt["status"].as_str()), (StatusCode::OK, Some("duplicate")));
    assert_eq!(sink.messages().len(), 1);

    // A reply to our answer continues the conversation: "it" is 37253.
    let references = format!("In-Reply-To: {reply_id}\r\nReferences: <q1@example.com> {reply_id}\r\n");
    let follow_up = raw("coder@example.com", "q2@example.com", "Re: Add-on?", &references, "Is it an add-on code?\r\n\r\nOn Mon, codecite wrote:\r\n> 37253 ...");
    assert_eq!(post(&app, &follow_up).await.0, StatusCode::ACCEPTED);
    let second = read(&sink.messages()[1]);
    assert!(second.text.contains("add-on code"), "{}", second.text);
    assert_eq!(header(&second, "Subject"), "Re: Add-on?");
    assert_eq!(header(&second, "References"), format!("<q1@example.com> {reply_id} <q2@example.com>"));
    let conversations = app.services().chat.conversations().list(&coder.id, 10).await.unwrap();
    assert_eq!(conversations.len(), 1, "{conversations:?}");
    assert_eq!(conversations[0].turns, 2);

    // A code that exists nowhere is marked, in both bodies, and never linked.
    assert_eq!(post(&app, &raw("coder@example.com", "q3@example.com", "billing", "", "Can I bill 99999 today?")).await.0, StatusCode::ACCEPTED);
    let third = read(&sink.messages()[2]);
    assert!(third.text.contains("- 99999: NOT VERIFIED"), "{}", third.text);
    assert!(third.html.contains("<del title=\"not verified\">99999</del>") && !third.html.contains("/codes/99999"), "{}", third.html);
    assert_eq!(questions_used(&app, &coder).await.0, 3);
}

#[tokio::test]
async fn a_failed_send_is_retried_and_never_charged_twice() {
    let Some(python) = python("a_failed_send_is_retried_and_never_charged_twice") else { return };
    // The relay refuses the first three messages for now (451).
    let sink = Sink::start(&python, 3).await;
    let app = TestApp::spawn_with(|c| {
        configure(c, sink.port);
        c.email.send_attempts = 2;
    })
    .await;
    let coder = verified(&app, "coder@example.com", "free").await;
    // Two attempts, both refused: given up, refunded.
    assert_eq!(post(&app, &raw("coder@example.com", "a@example.com", "J1885", "", "What is HCPCS J1885?")).await.0, StatusCode::ACCEPTED);
    assert!(sink.messages().is_empty());
    assert_eq!(questions_used(&app, &coder).await, (0, vec!["reserve".into(), "refund".into()]));
    // Refused once more, then accepted on the retry: delivered once, charged once.
    assert_eq!(post(&app, &raw("coder@example.com", "b@example.com", "J1885", "", "What is HCPCS J1885?")).await.0, StatusCode::ACCEPTED);
    assert_eq!(sink.messages().len(), 1);
    assert!(read(&sink.messages()[0]).text.contains("https://codecite.test/codes/J1885"));
    let (used, kinds) = questions_used(&app, &coder).await;
    assert_eq!(used, 1);
    assert_eq!(kinds.iter().filter(|k| *k == "charge").count(), 1, "{kinds:?}");
}

#[tokio::test]
async fn machines_are_never_answered_strangers_invited_once_and_a_spent_quota_told() {
    let Some(python) = python("machines_are_never_answered_strangers_invited_once_and_a_spent_quota_told") else { return };
    let sink = Sink::start(&python, 0).await;
    let app = TestApp::spawn_with(|c| configure(c, sink.port)).await;
    let coder = verified(&app, "coder@example.com", "free").await;
    let unverified = app.services().metering.create_account("unverified@example.com", "pro").await.unwrap();

    // An out-of-office reply, a bounce and list mail: ignored, unanswered, free.
    for (i, headers) in ["Auto-Submitted: auto-replied\r\n", "Return-Path: <>\r\n", "List-Id: <coders.example.com>\r\n"].iter().enumerate() {
        let (status, receipt) = post(&app, &raw("coder@example.com", &format!("auto{i}@example.com"), "Out of office", headers, "I am away.")).await;
        assert_eq!((status, receipt["status"].as_str()), (StatusCode::OK, Some("ignored")), "{receipt}");
    }
    // A stranger, and an account whose address is not verified: one invitation each, once.
    for (sender, id) in [("stranger@example.org", "s1"), ("stranger@example.org", "s2"), ("unverified@example.com", "u1")] {
        post(&app, &raw(sender, &format!("{id}@example.org"), "J1885?", "", "What is J1885?")).await;
    }
    let messages = sink.messages();
    assert_eq!(messages.len(), 2, "one invitation per address");
    let invitation = read(&messages[0]);
    assert!(invitation.raw.starts_with("X-Envelope-To: stranger@example.org"), "{}", invitation.raw);
    assert!(invitation.text.contains("Register a free account") && invitation.text.contains("https://codecite.test/"), "{}", invitation.text);
    assert!(read(&messages[1]).raw.starts_with("X-Envelope-To: unverified@example.com"));
    assert_eq!(questions_used(&app, &unverified).await.0, 0);

    // A spent quota: the register/upgrade message, nothing charged.
    spend_questions(&app, &coder).await;
    let before = questions_used(&app, &coder).await;
    let (status, receipt) = post(&app, &raw("coder@example.com", "q9@example.com", "J1885", "", "What is J1885?")).await;
    assert_eq!((status, receipt["status"].as_str(), receipt["reason"].as_str()), (StatusCode::ACCEPTED, Some("refused"), Some("quota exhausted")));
    let refusal = read(&sink.messages()[2]);
    assert!(refusal.text.contains("0 questions remaining on the free plan") && refusal.text.contains("Upgrade"), "{}", refusal.text);
    assert!(refusal.text.contains("nothing was charged"), "{}", refusal.text);
    assert_eq!(header(&refusal, "In-Reply-To"), "<q9@example.com>");
    assert_eq!(questions_used(&app, &coder).await, before);
    assert_eq!(sink.messages().len(), 3, "machines got nothing");
}

#[tokio::test]
async fn the_inbound_route_checks_its_secret_size_and_message() {
    let off = TestApp::spawn().await;
    let (status, _, body) = json_of(off.send("POST", "/api/inbound/email", Some(SECRET), Some("x"), &[]).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    // No relay needed: nothing here is answered.
    let app = TestApp::spawn_with(|c| {
        configure(c, 9);
        c.email.max_message_bytes = 2048;
    })
    .await;
    let question = raw("coder@example.com", "q@example.com", "J1885", "", "What is J1885?");
    for (token, body, status) in [
        (None, question.clone(), StatusCode::UNAUTHORIZED),
        (Some("wrong"), question.clone(), StatusCode::UNAUTHORIZED),
        (Some(SECRET), format!("{question}{}", "x".repeat(4096)), StatusCode::PAYLOAD_TOO_LARGE),
        (Some(SECRET), "no headers at all".to_string(), StatusCode::BAD_REQUEST),
        (Some(SECRET), "Subject: hi\r\n\r\nno sender\r\n".to_string(), StatusCode::BAD_REQUEST),
    ] {
        let (got, _, json) = json_of(app.send("POST", "/api/inbound/email", token, Some(&body), &[]).await).await;
        assert_eq!(got, status, "{json}");
        assert!(json["error"]["message"].is_string(), "{json}");
    }
    // A sender past its hourly rate is dropped unanswered (the first message's answer could
    // not leave, since no relay listens here: it was refunded).
    let rated = TestApp::spawn_with(|c| {
        configure(c, 9);
        c.email.per_sender_per_hour = 1;
        c.email.send_attempts = 1;
    })
    .await;
    let coder = verified(&rated, "coder@example.com", "free").await;
    let (status, first) = post(&rated, &raw("coder@example.com", "r1@example.com", "J1885", "", "What is J1885?")).await;
    assert_eq!((status, first["status"].as_str()), (StatusCode::ACCEPTED, Some("answering")), "{first}");
    let (status, second) = post(&rated, &raw("coder@example.com", "r2@example.com", "J1885", "", "What is J1885?")).await;
    assert_eq!((status, second["status"].as_str()), (StatusCode::OK, Some("ignored")), "{second}");
    assert!(second["reason"].as_str().unwrap().contains("an hour"), "{second}");
    assert_eq!(questions_used(&rated, &coder).await, (0, vec!["reserve".into(), "refund".into()]));

    // The secret also comes as a basic-auth password, as providers send it from the URL.
    use base64::Engine;
    let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("inbound:{SECRET}")));
    let automatic = raw("coder@example.com", "auto@example.com", "away", "Auto-Submitted: auto-replied\r\n", "away");
    let response = app.send("POST", "/api/inbound/email", None, Some(&automatic), &[("authorization", &basic)]).await;
    let (status, _, json) = json_of(response).await;
    assert_eq!((status, json["status"].as_str()), (StatusCode::OK, Some("ignored")), "{json}");
}

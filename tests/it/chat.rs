//! `POST /api/chat`: streamed, cited, verified answers, from a fake OpenAI-compatible
//! server or from the built-in extractive composer.

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::http::StatusCode;
use codecite::config::Config;
use http_body_util::BodyExt;
use serde_json::{json, Value};

use crate::fake_llm::{FakeLlm, Script, Step};
use crate::helpers::{parse_sse, read_until, Ev, TestApp};

struct Answer {
    events: Vec<Ev>,
}

impl Answer {
    fn names(&self) -> Vec<&str> {
        self.events.iter().map(|e| e.name.as_str()).collect()
    }
    fn text(&self) -> String {
        self.events.iter().filter(|e| e.name == "delta").map(|e| e.data["text"].as_str().unwrap()).collect()
    }
    fn all(&self, name: &str) -> Vec<&Value> {
        self.events.iter().filter(|e| e.name == name).map(|e| &e.data).collect()
    }
    fn one(&self, name: &str) -> &Value {
        let all = self.all(name);
        assert_eq!(all.len(), 1, "{name} events: {:?}", self.names());
        all[0]
    }
    /// The conversation this answer belongs to, for the next turn.
    fn conversation(&self) -> String {
        self.one("meta")["conversation_id"].as_str().unwrap().to_string()
    }
    fn citation(&self, code: &str) -> &Value {
        self.all("citation").into_iter().find(|c| c["code"] == code).unwrap_or_else(|| panic!("no citation of {code}: {:?}", self.all("citation")))
    }
    /// meta first, sources second, exactly one terminal event, last.
    fn assert_well_formed(&self) {
        let names = self.names();
        assert_eq!(names.first(), Some(&"meta"), "{names:?}");
        assert_eq!(names.get(1), Some(&"sources"), "{names:?}");
        let terminals = names.iter().filter(|n| **n == "done" || **n == "error").count();
        assert_eq!(terminals, 1, "{names:?}");
        assert!(matches!(*names.last().unwrap(), "done" | "error"), "{names:?}");
    }
}

async fn ask(app: &TestApp, body: Value) -> Answer {
    let response = app.post_json("/api/chat", &body.to_string()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "text/event-stream");
    assert_eq!(headers["cache-control"], "no-cache");
    assert_eq!(headers["x-accel-buffering"], "no");
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let answer = Answer { events: parse_sse(&String::from_utf8_lossy(&bytes)) };
    answer.assert_well_formed();
    answer
}

async fn ask_q(app: &TestApp, question: &str) -> Answer {
    ask(app, json!({ "question": question })).await
}

/// The next turn of `conversation`.
async fn ask_in(app: &TestApp, conversation: &str, question: &str) -> Answer {
    ask(app, json!({ "question": question, "conversation_id": conversation })).await
}

async fn with_llm(script: Script, adjust: impl FnOnce(&mut Config)) -> (TestApp, FakeLlm) {
    let llm = FakeLlm::start(script).await;
    let base = llm.base_url.clone();
    let app = TestApp::spawn_with(move |c| {
        c.llm.base_url = Some(base);
        c.llm.model = "fake-model".into();
        adjust(c);
    })
    .await;
    (app, llm)
}

#[tokio::test]
async fn an_llm_answer_streams_with_verified_citations() {
    let (app, llm) = with_llm(Script::text(&["J1885 is ketorolac ", "[1]; give it with ", "96372 or 99213."]), |_| {}).await;
    let a = ask_q(&app, "What is HCPCS J1885?").await;
    assert_eq!(a.text(), "J1885 is ketorolac [1]; give it with 96372 or 99213.");
    let sources = a.one("sources").as_array().unwrap();
    assert_eq!(sources[0]["code"], "J1885");
    assert_eq!(sources[0]["n"], 1);
    assert_eq!(sources[0]["url"], "/codes/J1885");
    let j = a.citation("J1885");
    assert_eq!((j["verified"].as_bool(), j["source_n"].as_u64(), j["system"].as_str()), (Some(true), Some(1), Some("HCPCS")));
    assert_eq!(a.citation("96372")["verified"], true);
    let done = a.one("done");
    assert_eq!(done["cited_codes"], json!(["J1885", "96372", "99213"]));
    assert_eq!(done["unverified_codes"], json!([]));
    assert_eq!(done["usage"]["generator"], "openai");
    assert_eq!(done["usage"]["prompt_tokens"], 321);
    // Citations follow the delta that completed them, never precede it.
    let names = a.names();
    let first_cite = names.iter().position(|n| *n == "citation").unwrap();
    assert!(names[..first_cite].contains(&"delta"));

    // What the model was sent: the rules, the numbered sources as data, the question.
    let request = llm.state.requests.lock().unwrap()[0].clone();
    assert_eq!(request["model"], "fake-model");
    assert_eq!(request["stream"], true);
    let system = request["messages"][0]["content"].as_str().unwrap();
    assert!(system.contains("Never invent"), "{system}");
    let user = request["messages"][1]["content"].as_str().unwrap();
    assert!(user.contains("<source n=\"1\" system=\"HCPCS\" code=\"J1885\">"), "{user}");
    assert!(user.trim_end().ends_with("Question: What is HCPCS J1885?"), "{user}");
}

#[tokio::test]
async fn codes_and_markers_split_across_chunks_are_handled() {
    let (app, _llm) = with_llm(Script::text(&["For this use E1", "1.", "9 [", "1] and modifier ", "2", "5 with 9921", "3."]), |_| {}).await;
    let a = ask_q(&app, "type 2 diabetes without complications at a visit with a procedure").await;
    let cites: Vec<&str> = a.all("citation").iter().map(|c| c["code"].as_str().unwrap()).collect();
    assert_eq!(cites, ["E11.9", "25", "99213"]);
    assert_eq!(a.citation("E11.9")["source_n"], 1);
    assert!(a.all("citation").iter().all(|c| c["verified"] == true));
}

#[tokio::test]
async fn a_code_that_does_not_exist_is_flagged() {
    let (app, _llm) = with_llm(Script::text(&["Bill 99999 ", "and J9999 and E11.99 alongside J1885."]), |_| {}).await;
    let a = ask_q(&app, "What is J1885?").await;
    for fake in ["99999", "J9999", "E11.99"] {
        let c = a.citation(fake);
        assert_eq!(c["verified"], false, "{fake}");
        assert!(c["source_n"].is_null());
    }
    assert_eq!(a.citation("J1885")["verified"], true);
    assert_eq!(a.one("done")["unverified_codes"], json!(["99999", "J9999", "E11.99"]));
}

#[tokio::test]
async fn a_mid_stream_failure_ends_with_one_error() {
    // The pause lets the first chunks reach us before the connection breaks.
    let steps = vec![Step::Text("J1885 is "), Step::Text("ketorolac"), Step::Wait(Duration::from_millis(200)), Step::Fail];
    let script = Script { failures_first: vec![], steps, finish: false };
    let (app, llm) = with_llm(script, |_| {}).await;
    let a = ask_q(&app, "What is J1885?").await;
    assert_eq!(a.text(), "J1885 is ketorolac");
    let error = a.one("error");
    assert_eq!(error["retryable"], true, "{error}");
    assert!(a.all("done").is_empty());
    assert_eq!(llm.calls(), 1, "content was delivered, so nothing is retried");
}

#[tokio::test]
async fn a_stall_past_the_timeout_becomes_an_error_event() {
    let script = Script {
        failures_first: vec![],
        steps: vec![Step::Text("J1885 is "), Step::Wait(Duration::from_secs(30)), Step::Text("late")],
        finish: true,
    };
    let (app, _llm) = with_llm(script, |c| c.llm.stall_secs = 0.3).await;
    let a = ask_q(&app, "What is J1885?").await;
    let error = a.one("error");
    assert_eq!((error["code"].as_str(), error["retryable"].as_bool()), (Some("llm_stalled"), Some(true)));
    assert!(!a.text().contains("late"));
}

#[tokio::test]
async fn no_first_token_in_time_is_retried_then_reported() {
    let script = Script { failures_first: vec![], steps: vec![Step::Wait(Duration::from_secs(30)), Step::Text("late")], finish: true };
    let (app, llm) = with_llm(script, |c| {
        c.llm.timeout_secs = 0.3;
        c.llm.retries = 1;
    })
    .await;
    let a = ask_q(&app, "What is J1885?").await;
    let error = a.one("error");
    assert_eq!((error["code"].as_str(), error["retryable"].as_bool()), (Some("llm_timeout"), Some(true)));
    assert_eq!(llm.calls(), 2, "one retry");
    assert!(a.all("delta").is_empty());
}

#[tokio::test]
async fn transient_failures_before_the_first_token_are_retried() {
    let script = Script { failures_first: vec![503, 429], ..Script::text(&["J1885 is ketorolac [1]."]) };
    let (app, llm) = with_llm(script, |c| c.llm.retries = 2).await;
    let a = ask_q(&app, "What is J1885?").await;
    assert_eq!(a.text(), "J1885 is ketorolac [1].");
    assert!(a.all("error").is_empty());
    assert_eq!(llm.calls(), 3);

    // A client error is not retried.
    let script = Script { failures_first: vec![400], ..Script::text(&["unused"]) };
    let (app, llm) = with_llm(script, |c| c.llm.retries = 2).await;
    let a = ask_q(&app, "What is J1885?").await;
    assert_eq!(a.one("error")["retryable"], false);
    assert_eq!(a.one("error")["code"], "llm_error");
    let message = a.one("error")["message"].as_str().unwrap();
    assert!(!message.contains("scripted") && !message.contains("400"), "the provider's words stay in the log: {message}");
    assert_eq!(llm.calls(), 1);
}

#[tokio::test]
async fn a_client_that_disconnects_cancels_the_upstream_call() {
    let script = Script {
        failures_first: vec![],
        steps: vec![Step::Text("J1885 "), Step::Wait(Duration::from_secs(30)), Step::Text("never sent")],
        finish: true,
    };
    let (app, llm) = with_llm(script, |_| {}).await;
    let response = app.post_json("/api/chat", &json!({"question": "What is J1885?"}).to_string()).await;
    let mut body = response.into_body();
    let mut seen = String::new();
    read_until(&mut body, &mut seen, "event: delta").await;
    assert!(!llm.state.dropped_early.load(Ordering::SeqCst));
    drop(body);
    // The upstream response is dropped as soon as our task notices; allow it a moment.
    for _ in 0..100 {
        if llm.state.dropped_early.load(Ordering::SeqCst) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the upstream LLM call was not dropped after the client disconnected");
}

#[tokio::test]
async fn bad_requests_are_refused_before_any_stream() {
    let app = TestApp::spawn().await;
    let long = "a".repeat(2001);
    let cases = [
        ("{not json", "JSON"),
        ("{}", "question"),
        ("{\"question\": 5}", "question"),
        ("{\"question\": \"  \"}", "empty"),
        (&*json!({"question": long}).to_string(), "2001 characters"),
        (&*json!({"question": "hi", "conversation_id": "nope"}).to_string(), "no conversation"),
    ];
    for (body, needle) in cases {
        let response = app.post_json("/api/chat", body).await;
        let status = response.status();
        assert!(status.is_client_error(), "{body}: {status}");
        assert_eq!(response.headers()["content-type"], "application/json", "{body}");
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let json: Value = serde_json::from_slice(&bytes).unwrap();
        let message = json["error"]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{body}: {message}");
    }
}

#[tokio::test]
async fn extractive_answers_for_the_main_question_kinds() {
    let app = TestApp::spawn().await;

    // Code lookup.
    let a = ask_q(&app, "What is HCPCS J1885?").await;
    assert!(a.text().contains("**J1885** (HCPCS Level II): Ketorolac tromethamine injection [1]"), "{}", a.text());
    assert_eq!(a.one("done")["usage"]["generator"], "extractive");
    assert_eq!(a.one("done")["cited_codes"], json!(["J1885"]));

    // Description to code.
    let a = ask_q(&app, "Which code for type 2 diabetes without complications?").await;
    assert!(a.text().starts_with("The best match is **E11.9**"), "{}", a.text());
    assert_eq!(a.citation("E11.9")["source_n"], 1);

    // A question about coding whose other words tell the record, not the code, is answered;
    // the same one shared word in a question about something else is chance.
    let a = ask_q(&app, "hypertension, doc didnt say anything else").await;
    assert!(a.text().starts_with("The best match is **I10**"), "{}", a.text());
    let a = ask_q(&app, "Tell me a joke about hypertension").await;
    assert!(a.text().starts_with("I could not find anything"), "{}", a.text());

    // Add-on and primary.
    let a = ask_q(&app, "Is 37253 an add-on code?").await;
    assert!(a.text().contains("add-on code: report it only together with its primary code 37252"), "{}", a.text());
    assert!(a.text().contains("It replaced the deleted code 75946"), "{}", a.text());
    assert_eq!(a.citation("37252")["verified"], true);

    // Deleted and replaced.
    let a = ask_q(&app, "What replaced 75946?").await;
    assert!(a.text().contains("deleted in 2016; for current dates of service use 37253 instead"), "{}", a.text());

    // Modifier, with the guideline note about it.
    let a = ask_q(&app, "When do I need modifier 25?").await;
    assert!(a.text().starts_with("Modifier **25**"), "{}", a.text());
    assert!(a.text().contains("From our guideline note “Modifier 25"), "{}", a.text());
    assert_eq!(a.citation("25")["system"], "MODIFIER");

    // Nothing found, and a made-up code.
    let a = ask_q(&app, "What is the weather in Paris tomorrow?").await;
    assert!(a.text().starts_with("I could not find anything"), "{}", a.text());
    assert_eq!(a.one("done")["cited_codes"], json!([]));
    let a = ask_q(&app, "Can I bill 99999 today?").await;
    assert!(a.text().contains("There is no code 99999"), "{}", a.text());
    assert_eq!(a.one("done")["unverified_codes"], json!(["99999"]));

    // A category is a real code, but not a billable one.
    let a = ask_q(&app, "Can I use S72.0 for a hip fracture?").await;
    assert!(a.text().contains("**S72.0** is an ICD-10-CM category"), "{}", a.text());
    assert_eq!(a.citation("S72.0")["verified"], true);
}

#[tokio::test]
async fn follow_ups_continue_the_conversation() {
    let app = TestApp::spawn().await;
    let first = ask_q(&app, "What is 37253?").await;
    let conversation = first.conversation();
    let second = ask_in(&app, &conversation, "Is it an add-on code?").await;
    assert_eq!(second.one("meta")["conversation_id"], conversation.as_str());
    assert_eq!(second.one("sources")[0]["code"], "37253", "the follow-up is about the code before");
    assert!(second.text().contains("add-on code"), "{}", second.text());
    let turns = app.services().chat.conversations().recent(&conversation, 10).await.unwrap();
    assert_eq!(turns.len(), 2);
    assert_eq!(turns[0].question, "What is 37253?");
    assert!(turns[1].cited_codes.contains(&"37253".to_string()));
    // "Is it an add-on?" about a primary asks about the primary, not for its add-ons.
    let first = ask_q(&app, "What is 99291?").await;
    let conversation = first.conversation();
    let second = ask_in(&app, &conversation, "Is it an add-on code?").await;
    assert_eq!(second.one("sources")[0]["code"], "99291", "{}", second.one("sources"));
    // Asked for its add-on, the add-on comes first.
    let third = ask_in(&app, &conversation, "and what add-on goes with it?").await;
    assert_eq!(third.one("sources")[0]["code"], "99292", "{}", third.one("sources"));
}

#[tokio::test]
async fn a_follow_up_chooses_among_the_codes_before_and_their_neighbours() {
    let app = TestApp::spawn().await;
    let first = ask_q(&app, "broken hip S72.001A").await;
    assert_eq!(first.one("sources")[0]["code"], "S72.001A");
    let conversation = first.conversation();
    // No code of its own, no "it": the code before is not pinned first; its seventh-character
    // neighbour that says what the follow-up asks is.
    let second = ask_in(&app, &conversation, "what about the subsequent encounter?").await;
    assert_eq!(second.one("sources")[0]["code"], "S72.001D", "{}", second.one("sources"));
    // What the earlier code points to is a candidate too: a deleted code's replacement.
    let first = ask_q(&app, "tell me about 75946").await;
    let conversation = first.conversation();
    let second = ask_in(&app, &conversation, "and the replacement code?").await;
    let codes: Vec<&str> = second.one("sources").as_array().unwrap().iter().filter_map(|h| h["code"].as_str()).take(3).collect();
    assert!(codes.contains(&"37253"), "{codes:?}");
}

#[tokio::test]
async fn a_follow_up_without_it_or_codes_is_read_with_the_question_before() {
    let app = TestApp::spawn().await;
    let first = ask_q(&app, "broken hip S72.001A").await;
    let conversation = first.conversation();
    // Long, with no "it" and no code: still about the hip fracture before.
    let second = ask_in(&app, &conversation, "she came back for the subsequent encounter, healing as expected so far").await;
    assert_eq!(second.one("sources")[0]["code"], "S72.001D", "{}", second.one("sources"));
    // A question that moved on keeps its own topic, whatever code system the one before named.
    let first = ask_q(&app, "ICD-10 code for osteoarthritis of the right knee").await;
    let conversation = first.conversation();
    let second = ask_in(&app, &conversation, "urinary tract infection").await;
    assert_eq!(second.one("sources")[0]["code"], "N39.0", "{}", second.one("sources"));
    let second = ask_in(&app, &conversation, "critical care, first 30 to 74 minutes").await;
    assert_eq!(second.one("sources")[0]["code"], "99291", "{}", second.one("sources"));
}

#[tokio::test]
async fn a_follow_up_that_says_more_of_the_case_is_not_about_the_codes_before() {
    let app = TestApp::spawn().await;
    let first = ask_q(&app, "type 2 diabetes, no complications").await;
    assert_eq!(first.one("sources")[0]["code"], "E11.9", "{}", first.one("sources"));
    let conversation = first.conversation();
    // "It's" says what the case is, "same" that it is alike: the codes before are candidates,
    // not answers pinned first, and what the follow-up adds decides.
    for follow_up in ["it's with hyperglycemia", "its actually with hyperglycemia", "same patient but with hyperglycemia"] {
        let second = ask_in(&app, &conversation, follow_up).await;
        assert_eq!(second.one("sources")[0]["code"], "E11.65", "{follow_up}: {}", second.one("sources"));
    }
}

#[tokio::test]
async fn a_follow_up_that_says_the_record_names_less_drops_the_earlier_specifics() {
    let app = TestApp::spawn().await;
    let first = ask_q(&app, "strep throat").await;
    assert_eq!(first.one("sources")[0]["code"], "J02.0", "{}", first.one("sources"));
    // The record names only the condition: its default code, not the earlier organism's.
    let second = ask_in(&app, &first.conversation(), "what if the note only says pharyngitis").await;
    assert_eq!(second.one("sources")[0]["code"], "J02.9", "{}", second.one("sources"));
    // The record leaves the side unsaid: the earlier side goes too.
    let first = ask_q(&app, "status post right knee replacement").await;
    assert_eq!(first.one("sources")[0]["code"], "Z96.651", "{}", first.one("sources"));
    let second = ask_in(&app, &first.conversation(), "what if the doc never says which side").await;
    assert_eq!(second.one("sources")[0]["code"], "Z96.659", "{}", second.one("sources"));
}

#[tokio::test]
async fn it_in_a_question_for_a_modifier_is_not_the_answer() {
    let app = TestApp::spawn().await;
    let first = ask_q(&app, "what is 20610").await;
    let conversation = first.conversation();
    // "It" is 20610, but the question asks for a modifier: 20610 is not pinned first.
    let second = ask_in(&app, &conversation, "which modifier do I append to it for the left side?").await;
    assert_eq!(second.one("sources")[0]["code"], "LT", "{}", second.one("sources"));
}

#[tokio::test]
async fn the_llm_sees_the_conversation_so_far() {
    let (app, llm) = with_llm(Script::text(&["J1885 [1]."]), |_| {}).await;
    let first = ask_q(&app, "What is J1885?").await;
    let conversation = first.conversation();
    ask_in(&app, &conversation, "And its usual administration code?").await;
    let requests = llm.state.requests.lock().unwrap();
    let user = requests[1]["messages"][1]["content"].as_str().unwrap();
    assert!(user.starts_with("Earlier in this conversation"), "{user}");
    assert!(user.contains("<history>\n<turn>\nQ: What is J1885?\nA: J1885 [1].\n</turn>\n</history>"), "{user}");
}

#[tokio::test]
async fn heartbeats_keep_a_quiet_stream_open() {
    let script = Script {
        failures_first: vec![],
        steps: vec![Step::Text("J1885 "), Step::Wait(Duration::from_millis(2500)), Step::Text("is ketorolac [1].")],
        finish: true,
    };
    let (app, _llm) = with_llm(script, |c| {
        c.chat.heartbeat_secs = 1;
        c.llm.stall_secs = 10.0;
    })
    .await;
    let response = app.post_json("/api/chat", &json!({"question": "What is J1885?"}).to_string()).await;
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains("\n: heartbeat\n") || text.starts_with(": heartbeat\n"), "{text}");
    let answer = Answer { events: parse_sse(&text) };
    answer.assert_well_formed();
    assert_eq!(answer.text(), "J1885 is ketorolac [1].");
}

#[tokio::test]
async fn two_procedure_codes_are_answered_from_the_ncci_table() {
    let app = TestApp::spawn().await;
    let a = ask_q(&app, "can G0463 and 0591T be billed together?").await;
    let text = a.text();
    assert!(
        text.starts_with("NCCI procedure-to-procedure edit, hospital outpatient (I/OCE) table, I/OCE v27.1: G0463 is the column 1 code and 0591T the column 2 code."),
        "{text}"
    );
    assert!(text.contains("modifier indicator 1"), "{text}");
    assert_eq!(a.citation("G0463")["verified"], true);
    assert_eq!(a.citation("0591T")["verified"], true);

    let a = ask_q(&app, "Can 99213 and 47562 go on the same claim?").await;
    assert!(a.text().starts_with("The hospital outpatient (I/OCE) NCCI table (I/OCE v27.1) has no procedure-to-procedure edit between 99213 and 47562"), "{}", a.text());

    // The LLM gets the same finding as reference data.
    let (app, llm) = with_llm(Script::text(&["Yes, with modifier 59."]), |_| {}).await;
    ask_q(&app, "43239 and 43235 together?").await;
    let user = llm.state.requests.lock().unwrap()[0]["messages"][1]["content"].as_str().unwrap().to_string();
    assert!(user.contains("- NCCI procedure-to-procedure edit, hospital outpatient (I/OCE) table, I/OCE v27.1: 43239 is the column 1 code and 43235 the column 2 code."), "{user}");
    assert!(user.contains("no modifier can allow the pair (modifier indicator 0)"), "{user}");
}

#[tokio::test]
async fn real_code_numbers_without_a_summary_still_verify() {
    let (app, _llm) = with_llm(Script::text(&["Report 36556 for the line; 99999 is not a code."]), |_| {}).await;
    let a = ask_q(&app, "central line insertion code?").await;
    assert_eq!(a.citation("36556")["verified"], true);
    assert_eq!(a.citation("36556")["system"], "CPT");
    assert_eq!(a.citation("99999")["verified"], false);
}

#[tokio::test]
async fn a_code_only_the_validity_table_lists_is_real_not_missing() {
    let app = TestApp::spawn().await;
    // A current CPT code with no summary of ours is a real code, not a typo.
    let a = ask_q(&app, "what is 36556?").await;
    assert!(a.text().contains("**36556** is a valid CPT code (the CMS code tables list it), but codecite holds no description of it"), "{}", a.text());
    assert!(!a.text().contains("There is no code"), "{}", a.text());
    assert_eq!(a.citation("36556")["verified"], true);
    // A code deleted before our tables were written, with its validity in the year asked.
    let a = ask_q(&app, "was G2012 ok in 2023? and in 2025?").await;
    assert!(a.text().contains("**G2012** is a deleted HCPCS Level II code: the CMS code tables list it as valid through 2024-12-31"), "{}", a.text());
    assert!(a.text().contains("For dates of service in 2023: yes, G2012 was valid then"), "{}", a.text());
    assert!(a.text().contains("For dates of service in 2025: no. G2012 stopped being valid on 2024-12-31"), "{}", a.text());
    assert_eq!(a.citation("G2012")["billable"], false);

    // The LLM reads the same lookups as reference data.
    let (app, llm) = with_llm(Script::text(&["It is a deleted code."]), |_| {}).await;
    ask_q(&app, "G2012 or 99999?").await;
    let user = llm.state.requests.lock().unwrap()[0]["messages"][1]["content"].as_str().unwrap().to_string();
    assert!(user.contains("The codes the question names, as the code tables know them (reference data):"), "{user}");
    assert!(user.contains("- There is no code 99999 in the codecite code tables."), "{user}");
    assert!(user.contains("- **G2012** is a deleted HCPCS Level II code"), "{user}");
}

#[tokio::test]
async fn a_date_of_service_question_is_answered_from_the_validity_table() {
    let app = TestApp::spawn().await;
    let a = ask_q(&app, "could 99201 be billed in 2022?").await;
    assert!(a.text().contains("For dates of service in 2022: no. 99201 stopped being valid on 2020-12-31"), "{}", a.text());
    let a = ask_q(&app, "was 99201 still ok for a 2020 visit?").await;
    assert!(a.text().contains("For dates of service in 2020: yes"), "{}", a.text());
}

#[tokio::test]
async fn a_category_or_a_deleted_code_is_cited_as_not_billable() {
    let (app, _llm) = with_llm(Script::text(&["Code E11.6 or E11.9 here; 99201 was used before 2021."]), |_| {}).await;
    let a = ask_q(&app, "type 2 diabetes with complications").await;
    let category = a.citation("E11.6");
    assert_eq!(category["verified"], true, "a category is a real code");
    assert_eq!(category["billable"], false, "but it needs more characters");
    assert_eq!(category["billable_codes"], json!(["E11.65"]));
    assert_eq!(a.citation("E11.9")["billable"], true);
    assert!(a.citation("E11.9").get("billable_codes").is_none());
    assert_eq!(a.citation("99201")["verified"], true);
    assert_eq!(a.citation("99201")["billable"], false, "deleted at the end of 2020");
}

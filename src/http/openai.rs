//! The OpenAI wire format, so that the clients coders already use (the OpenAI SDKs, Open
//! WebUI, LibreChat, editor plugins) can use codecite as a model: `POST /v1/chat/completions`
//! (streamed and not), `GET /v1/models` and `GET /v1/models/{id}`, with an API key as the
//! bearer token.
//!
//! The same metered pipeline as `/api/chat` answers (`routes::start_metered` and
//! `routes::admit_metered`); only the wire differs. The last message is the question and the
//! earlier user/assistant pairs are the conversation; system messages are ignored (codecite
//! keeps its own instructions). The answer text ends with its sources and cited codes
//! (`chat::render`), and a `codecite` object (in the last chunk of a stream) carries them as
//! data. A streamed answer is charged after its first delta, like `/api/chat`; a whole one
//! only when it is returned, and refunded when it fails.
//!
//! Errors use OpenAI's shape, `{"error":{"message","type","param","code"}}`: [`errors`]
//! rewrites every error answered under `/v1/`, whichever layer made it (credentials, rate
//! limits, body limits, load shedding), from the one error policy of `error.rs`.

use std::convert::Infallible;

use axum::body::{to_bytes, Body};
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::sse::Event;
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::{stream, StreamExt};
use serde_json::{json, Map, Value};
use tokio_stream::wrappers::ReceiverStream;

use super::auth::Authed;
use super::routes::{admit_metered, quota_header, sse_response, start_metered};
use super::ApiError;
use crate::app::AppState;
use crate::chat::render::plain_footer;
use crate::chat::{ChatEvent, ChatRequest, Collected, DoneEvent, ErrorEvent, StoredTurn};

/// The one model served.
pub const MODEL: &str = "codecite";

/// A whole conversation comes with every request, so the body may be larger than elsewhere.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What a completion request asks, once checked.
#[derive(Debug, Clone, PartialEq)]
struct Completion {
    question: String,
    history: Vec<StoredTurn>,
    stream: bool,
    include_usage: bool,
    /// codecite's extension: store the turn in this conversation of the caller's.
    conversation_id: Option<String>,
}

/// A request OpenAI would refuse: a `400` naming the parameter at fault, or the `404` of an
/// unknown model.
#[derive(Debug, Clone, PartialEq)]
struct Invalid {
    param: String,
    message: String,
    unknown_model: bool,
}

fn invalid(param: &str, message: impl Into<String>) -> Invalid {
    Invalid { param: param.into(), message: message.into(), unknown_model: false }
}

impl From<Invalid> for ApiError {
    fn from(e: Invalid) -> Self {
        let mut error = match e.unknown_model {
            true => ApiError::new(StatusCode::NOT_FOUND, "model_not_found", e.message),
            false => ApiError::bad_request(e.message),
        };
        if !e.param.is_empty() {
            error.extra.insert("param".into(), json!(e.param));
        }
        error
    }
}

/// A number parameter OpenAI accepts in `range` (checked, then ignored: codecite's own
/// settings decide how the answer is written).
fn check_number(body: &Map<String, Value>, name: &str, range: std::ops::RangeInclusive<f64>) -> Result<(), Invalid> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Number(n)) if n.as_f64().is_some_and(|x| range.contains(&x)) => Ok(()),
        Some(_) => Err(invalid(name, format!("{name} must be a number from {} to {}", range.start(), range.end()))),
    }
}

/// The text of a message's `content`: a string, or an array of text parts. Anything else
/// (images, audio, files) is refused: codecite reads text only.
fn content_text(content: Option<&Value>, i: usize, role: &str) -> Result<String, Invalid> {
    let param = format!("messages[{i}].content");
    match content {
        Some(Value::String(s)) => Ok(s.clone()),
        None | Some(Value::Null) if role == "assistant" => Ok(String::new()),
        Some(Value::Array(parts)) => {
            let mut texts = vec![];
            for (j, part) in parts.iter().enumerate() {
                match (part.get("type").and_then(Value::as_str), part.get("text").and_then(Value::as_str)) {
                    (Some("text"), Some(text)) => texts.push(text),
                    (Some("refusal"), _) if role == "assistant" => {}
                    (Some(kind), _) if kind != "text" => {
                        return Err(invalid(&format!("{param}[{j}].type"), format!("codecite reads text only; a {kind:?} part is not supported")))
                    }
                    _ => return Err(invalid(&format!("{param}[{j}]"), "a content part must be {\"type\": \"text\", \"text\": …}")),
                }
            }
            Ok(texts.join("\n"))
        }
        _ => Err(invalid(&param, "content must be a string or an array of text parts")),
    }
}

/// Reads a completion request the way OpenAI does: the same required fields, ranges and
/// refusals; parameters that change only how an answer is sampled are accepted and ignored.
fn parse(body: &Value) -> Result<Completion, Invalid> {
    let Some(body) = body.as_object() else { return Err(invalid("", "the body must be a JSON object")) };
    match body.get("model") {
        Some(Value::String(m)) if m == MODEL => {}
        Some(Value::String(m)) => {
            let message = format!("The model `{m}` does not exist; this server serves `{MODEL}`");
            return Err(Invalid { unknown_model: true, ..invalid("model", message) });
        }
        None | Some(Value::Null) => return Err(invalid("model", "you must provide a model parameter")),
        Some(_) => return Err(invalid("model", "model must be a string")),
    }
    let stream = match body.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(invalid("stream", "stream must be a boolean")),
    };
    let include_usage = match body.get("stream_options") {
        None | Some(Value::Null) => false,
        Some(_) if !stream => return Err(invalid("stream_options", "stream_options is only allowed when stream is true")),
        Some(Value::Object(o)) => match o.get("include_usage") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(invalid("stream_options.include_usage", "include_usage must be a boolean")),
        },
        Some(_) => return Err(invalid("stream_options", "stream_options must be an object")),
    };
    match body.get("n") {
        None | Some(Value::Null) => {}
        Some(n) if n.as_u64() == Some(1) => {}
        Some(n) if n.as_u64().is_some_and(|n| n > 1) => return Err(invalid("n", "codecite writes one answer per question: n must be 1")),
        Some(_) => return Err(invalid("n", "n must be a positive integer")),
    }
    check_number(body, "temperature", 0.0..=2.0)?;
    check_number(body, "top_p", 0.0..=1.0)?;
    check_number(body, "presence_penalty", -2.0..=2.0)?;
    check_number(body, "frequency_penalty", -2.0..=2.0)?;
    for name in ["max_tokens", "max_completion_tokens"] {
        check_number(body, name, 1.0..=f64::MAX)?;
    }
    if body.get("logprobs").and_then(Value::as_bool) == Some(true) {
        return Err(invalid("logprobs", "codecite does not return log probabilities"));
    }
    if let Some(kind) = body.get("response_format").and_then(|f| f.get("type")).and_then(Value::as_str) {
        if kind != "text" {
            return Err(invalid("response_format", format!("codecite answers in text; response_format {kind:?} is not supported")));
        }
    }
    // Tools may be offered (editor plugins do); codecite never calls one, so it may not be made to.
    match body.get("tool_choice") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if s == "none" || s == "auto" => {}
        Some(_) => return Err(invalid("tool_choice", "codecite calls no tools; tool_choice may only be \"auto\" or \"none\"")),
    }
    let conversation_id = match body.get("conversation_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(invalid("conversation_id", "conversation_id must be a string")),
    };
    let (question, history) = conversation(body.get("messages"))?;
    Ok(Completion { question, history, stream, include_usage, conversation_id })
}

/// The question (the last message, a user's) and the earlier user/assistant pairs.
fn conversation(messages: Option<&Value>) -> Result<(String, Vec<StoredTurn>), Invalid> {
    let messages = match messages {
        Some(Value::Array(m)) if !m.is_empty() => m,
        Some(Value::Array(_)) => return Err(invalid("messages", "messages must hold at least one message")),
        None | Some(Value::Null) => return Err(invalid("messages", "you must provide a messages parameter")),
        Some(_) => return Err(invalid("messages", "messages must be an array")),
    };
    let mut history = vec![];
    let mut asked: Option<String> = None;
    let mut last = None;
    for (i, message) in messages.iter().enumerate() {
        let role = message.get("role").and_then(Value::as_str).unwrap_or("");
        let text = match role {
            "user" | "assistant" | "system" | "developer" | "tool" | "function" => content_text(message.get("content"), i, role)?,
            _ => return Err(invalid(&format!("messages[{i}].role"), "role must be system, developer, user, assistant or tool")),
        };
        last = Some(role);
        match role {
            // Consecutive user messages read as one question.
            "user" => asked = Some(match asked.take() {
                Some(before) => format!("{before}\n{text}"),
                None => text,
            }),
            "assistant" => {
                if let Some(question) = asked.take() {
                    let cited_codes = crate::chat::strong_codes(&text);
                    history.push(StoredTurn { question, answer: text, cited_codes });
                }
            }
            _ => {}
        }
    }
    match (last, asked) {
        (Some("user"), Some(question)) => Ok((question, history)),
        _ => Err(invalid("messages", "the last message must be the user's question")),
    }
}

/// `GET /v1/models`: the one model.
#[utoipa::path(get, path = "/v1/models", tag = "openai", security(("bearer" = [])), responses((status = 200, description = "OpenAI's model list: the one model, codecite"), (status = 401, description = "No, malformed, unknown or expired credentials (OpenAI's error shape)")))]
pub(super) async fn models(Authed(_): Authed) -> Json<Value> {
    Json(json!({"object": "list", "data": [model()]}))
}

/// `GET /v1/models/{id}`.
#[utoipa::path(get, path = "/v1/models/{model}", tag = "openai", params(("model" = String, Path)), security(("bearer" = [])), responses((status = 200, description = "The model"), (status = 404, description = "No such model (OpenAI's error shape)")))]
pub(super) async fn model_by_id(Authed(_): Authed, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    if id == MODEL {
        return Ok(Json(model()));
    }
    Err(ApiError::new(StatusCode::NOT_FOUND, "model_not_found", format!("The model `{id}` does not exist; this server serves `{MODEL}`")))
}

fn model() -> Value {
    // A fixed date: the model's identity does not change with each start.
    json!({"id": MODEL, "object": "model", "created": 1_767_225_600, "owned_by": "codecite"})
}

/// `POST /v1/chat/completions`.
#[utoipa::path(post, path = "/v1/chat/completions", tag = "openai", security(("bearer" = [])), responses((status = 200, description = "A chat.completion, or with stream: chat.completion.chunk events ending with data: [DONE]; the codecite object carries sources and verified and unverified codes"), (status = 400, description = "Bad input (OpenAI's error shape, with param)"), (status = 401, description = "No, malformed, unknown or expired credentials"), (status = 402, description = "The quota is spent: type insufficient_quota, with meter, action, resets_at"), (status = 404, description = "No such model, or another account's conversation"), (status = 413, description = "Body over 1 MiB"), (status = 429, description = "Rate limited; see Retry-After"), (status = 503, description = "Starting up, or shedding load; see Retry-After")))]
pub(super) async fn completions(
    State(state): State<AppState>,
    Authed(caller): Authed,
    headers: HeaderMap,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(ApiError::rejected)?;
    let completion = parse(&body)?;
    let request = ChatRequest {
        question: completion.question.clone(),
        conversation_id: completion.conversation_id.clone(),
        account_id: Some(caller.account.id.clone()),
        // A client that names a stored conversation and sends no earlier messages continues
        // that conversation's stored turns.
        history: match (&completion.conversation_id, completion.history.is_empty()) {
            (Some(_), true) => None,
            _ => Some(completion.history.clone()),
        },
    };
    let writer = Writer { completion, public_url: state.services.config.public_url(), id: String::new(), created: now_secs(), collected: Collected::default() };
    if writer.completion.stream {
        let (events, remaining) = start_metered(&state, &caller, &headers, request).await?;
        let frames = ReceiverStream::new(events)
            .scan(writer, |w, event| futures::future::ready(Some(w.frames(&event))))
            .flat_map(stream::iter)
            .map(Ok::<_, Infallible>);
        let mut response = sse_response(&state, frames);
        if let Some((name, value)) = quota_header(remaining) {
            response.headers_mut().insert(name, value);
        }
        return Ok(response);
    }
    let admitted = admit_metered(&state, &caller, &headers, &request).await?;
    let remaining = admitted.remaining();
    let (events, reservation) = state.services.chat.start_whole(request, admitted).await?;
    let mut writer = writer;
    writer.collected = Collected::all(events).await;
    let ending = writer.collected.ending.clone().expect("Collected::all ends with a terminal event");
    let mut response = match ending {
        Ok(done) => {
            let body = writer.completion_body(&done);
            reservation.charge().await?;
            Json(body).into_response()
        }
        Err(error) => {
            reservation.refund().await?;
            failed(&error)
        }
    };
    if let Some((name, value)) = quota_header(remaining) {
        response.headers_mut().insert(name, value);
    }
    Ok(response)
}

/// A whole answer that failed: the upstream model's failures as `502`, ours as `500`, in
/// OpenAI's shape with the answer's error code.
fn failed(error: &ErrorEvent) -> Response {
    let status = if error.code.starts_with("llm_") || error.code == "empty_answer" { StatusCode::BAD_GATEWAY } else { StatusCode::INTERNAL_SERVER_ERROR };
    (status, Json(json!({"error": error_object(error)}))).into_response()
}

fn error_object(error: &ErrorEvent) -> Value {
    json!({"message": error.message, "type": "server_error", "param": null, "code": error.code, "retryable": error.retryable})
}

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Turns one answer's events into OpenAI's objects.
struct Writer {
    completion: Completion,
    public_url: String,
    /// `chatcmpl-` and the answer's message id, known from `meta`.
    id: String,
    created: i64,
    collected: Collected,
}

impl Writer {
    /// The text the client reads: the answer, then its sources and cited codes.
    fn footer(&self) -> String {
        let c = &self.collected;
        plain_footer(&c.text, &c.sources, &c.citations, &self.public_url)
    }

    /// Token counts: the model's own when it reported them, else counted (cl100k) over the
    /// conversation sent and the text returned.
    fn usage(&self, done: &DoneEvent, content: &str) -> Value {
        let reported = |name: &str| done.usage.get(name).and_then(Value::as_u64);
        let prompt = reported("prompt_tokens").unwrap_or_else(|| {
            let turns: usize = self.completion.history.iter().map(|t| count(&t.question) + count(&t.answer)).sum();
            (turns + count(&self.completion.question)) as u64
        });
        let completion = reported("completion_tokens").unwrap_or_else(|| count(content) as u64);
        json!({"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion})
    }

    /// codecite's extension: what the answer rests on, as data.
    fn extension(&self, done: &DoneEvent) -> Value {
        let c = &self.collected;
        let verified: Vec<&str> = c.citations.iter().filter(|x| x.verified).map(|x| x.code.as_str()).collect();
        json!({
            "conversation_id": c.conversation_id(),
            "message_id": c.meta.as_ref().map(|m| m.message_id.clone()),
            "sources": c.sources,
            "citations": c.citations,
            "cited_codes": done.cited_codes,
            "verified_codes": verified,
            "unverified_codes": done.unverified_codes,
            "remaining": done.remaining.or(c.meta.as_ref().and_then(|m| m.remaining)),
            "generator": done.usage.get("generator"),
            "latency_ms": done.latency_ms,
        })
    }

    fn completion_body(&mut self, done: &DoneEvent) -> Value {
        let content = format!("{}{}", self.collected.text, self.footer());
        let message_id = self.collected.meta.as_ref().map(|m| m.message_id.clone()).unwrap_or_default();
        json!({
            "id": format!("chatcmpl-{message_id}"),
            "object": "chat.completion",
            "created": self.created,
            "model": MODEL,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content, "refusal": null}, "logprobs": null, "finish_reason": "stop"}],
            "usage": self.usage(done, &content),
            "codecite": self.extension(done),
        })
    }

    fn chunk(&self, delta: Value, finish_reason: Option<&str>) -> Value {
        json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": MODEL,
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason}],
        })
    }

    /// The frames one event becomes; after the terminal event, `[DONE]`.
    fn frames(&mut self, event: &ChatEvent) -> Vec<Event> {
        self.collected.push(event);
        let data = |v: Value| Event::default().data(v.to_string());
        match event {
            ChatEvent::Meta(m) => {
                self.id = format!("chatcmpl-{}", m.message_id);
                vec![data(self.chunk(json!({"role": "assistant", "content": ""}), None))]
            }
            ChatEvent::Delta { text } => vec![data(self.chunk(json!({"content": text}), None))],
            ChatEvent::Sources(_) | ChatEvent::Citation(_) => vec![],
            ChatEvent::Done(done) => {
                let footer = self.footer();
                let mut frames = vec![];
                if !footer.is_empty() {
                    frames.push(data(self.chunk(json!({"content": footer}), None)));
                }
                let usage = self.usage(done, &format!("{}{footer}", self.collected.text));
                let mut last = self.chunk(json!({}), Some("stop"));
                last["usage"] = usage.clone();
                last["codecite"] = self.extension(done);
                frames.push(data(last));
                if self.completion.include_usage {
                    let mut usage_chunk = self.chunk(json!({}), None);
                    usage_chunk["choices"] = json!([]);
                    usage_chunk["usage"] = usage;
                    frames.push(data(usage_chunk));
                }
                frames.push(Event::default().data("[DONE]"));
                frames
            }
            ChatEvent::Error(error) => vec![data(json!({"error": error_object(error)})), Event::default().data("[DONE]")],
        }
    }
}

fn count(text: &str) -> usize {
    crate::ingest::chunk::count_tokens(text)
}

/// Middleware: every error answered under `/v1/` in OpenAI's shape. Our error object's
/// `code` and `message` stay; `type` is OpenAI's for the status, `param` names the parameter
/// at fault (or `null`), and the other fields (a 402's `meter`, `action`, `resets_at`) follow.
pub(super) async fn errors(request: Request, next: Next) -> Response {
    let v1 = request.uri().path().starts_with("/v1/") || request.uri().path() == "/v1";
    let response = next.run(request).await;
    let status = response.status();
    let json = response.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !v1 || !(status.is_client_error() || status.is_server_error()) || !json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // Our error bodies are small; anything else passes through as it was.
    let Ok(bytes) = to_bytes(body, 64 * 1024).await else {
        return (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"error": {"message": "an internal error occurred", "type": "server_error", "param": null, "code": "internal"}}))).into_response();
    };
    let rewritten = match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(mut outer)) => match outer.remove("error") {
            Some(Value::Object(error)) if !error.contains_key("type") => Some(openai_error(status, error)),
            _ => None,
        },
        _ => None,
    };
    let body = match rewritten {
        Some(v) => {
            parts.headers.remove(header::CONTENT_LENGTH);
            Body::from(v.to_string())
        }
        None => Body::from(bytes),
    };
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Response::from_parts(parts, body)
}

fn openai_error(status: StatusCode, mut error: Map<String, Value>) -> Value {
    let kind = match status.as_u16() {
        402 => "insufficient_quota",
        429 => "rate_limit_error",
        s if s >= 500 => "server_error",
        _ => "invalid_request_error",
    };
    let mut out = Map::new();
    out.insert("message".into(), error.remove("message").unwrap_or(Value::Null));
    out.insert("type".into(), json!(kind));
    out.insert("param".into(), error.remove("param").unwrap_or(Value::Null));
    out.insert("code".into(), error.remove("code").unwrap_or(Value::Null));
    out.extend(error);
    json!({ "error": out })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(body: Value) -> Result<Completion, (StatusCode, String)> {
        parse(&body).map_err(|e| {
            let e = ApiError::from(e);
            (e.status, e.extra.get("param").and_then(Value::as_str).unwrap_or("").to_string())
        })
    }

    #[test]
    fn the_last_message_is_the_question_and_earlier_pairs_the_conversation() {
        let c = parsed(json!({"model": "codecite", "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "What is J1885?"},
            {"role": "assistant", "content": [{"type": "text", "text": "J1885 is ketorolac."}]},
            {"role": "user", "content": "and"},
            {"role": "user", "content": [{"type": "text", "text": "its units?"}]},
        ], "temperature": 0.2, "seed": 7, "user": "x", "tools": []}))
        .unwrap();
        assert_eq!(c.question, "and\nits units?");
        assert_eq!(c.history.len(), 1);
        assert_eq!(c.history[0].question, "What is J1885?");
        assert_eq!(c.history[0].cited_codes, ["J1885"]);
        assert!(!c.stream && !c.include_usage && c.conversation_id.is_none());
    }

    #[test]
    fn bad_requests_name_their_parameter() {
        let user = json!([{"role": "user", "content": "q"}]);
        let cases = [
            (json!({"messages": user}), 400, "model"),
            (json!({"model": "gpt-4o", "messages": user}), 404, "model"),
            (json!({"model": "codecite"}), 400, "messages"),
            (json!({"model": "codecite", "messages": []}), 400, "messages"),
            (json!({"model": "codecite", "messages": [{"role": "assistant", "content": "a"}]}), 400, "messages"),
            (json!({"model": "codecite", "messages": [{"role": "wizard", "content": "a"}]}), 400, "messages[0].role"),
            (json!({"model": "codecite", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}), 400, "messages[0].content[0].type"),
            (json!({"model": "codecite", "messages": user, "n": 2}), 400, "n"),
            (json!({"model": "codecite", "messages": user, "temperature": 3}), 400, "temperature"),
            (json!({"model": "codecite", "messages": user, "temperature": "hot"}), 400, "temperature"),
            (json!({"model": "codecite", "messages": user, "stream": "yes"}), 400, "stream"),
            (json!({"model": "codecite", "messages": user, "stream_options": {"include_usage": true}}), 400, "stream_options"),
            (json!({"model": "codecite", "messages": user, "logprobs": true}), 400, "logprobs"),
            (json!({"model": "codecite", "messages": user, "response_format": {"type": "json_object"}}), 400, "response_format"),
            (json!({"model": "codecite", "messages": user, "tool_choice": "required"}), 400, "tool_choice"),
            (json!(["not", "an", "object"]), 400, ""),
        ];
        for (body, status, param) in cases {
            assert_eq!(parsed(body.clone()), Err((StatusCode::from_u16(status).unwrap(), param.to_string())), "{body}");
        }
        let streamed = parsed(json!({"model": "codecite", "messages": user, "stream": true, "stream_options": {"include_usage": true}})).unwrap();
        assert!(streamed.stream && streamed.include_usage);
    }

    #[test]
    fn errors_take_openais_shape_and_keep_their_details() {
        let ours = json!({"code": "quota_exhausted", "message": "0 questions remaining", "meter": "questions", "action": "upgrade"});
        let Value::Object(ours) = ours else { unreachable!() };
        let out = openai_error(StatusCode::PAYMENT_REQUIRED, ours);
        assert_eq!(out["error"]["type"], "insufficient_quota");
        assert_eq!(out["error"]["code"], "quota_exhausted");
        assert_eq!(out["error"]["param"], Value::Null);
        assert_eq!(out["error"]["action"], "upgrade");
    }
}

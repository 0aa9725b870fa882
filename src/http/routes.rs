//! Routes and their handlers.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderName, HeaderValue};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::{Stream, StreamExt};
use tokio_stream::wrappers::ReceiverStream;
use serde::Deserialize;
use serde_json::{json, Value};

use super::ApiError;
use crate::app::AppState;
use crate::chat::{ChatEvent, ChatRequest};
use crate::codes::{lookup_forms, CodeSystem};
use crate::retrieval::{SearchMode, SearchRequest};

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/api/search", get(search))
        .route("/api/codes/{code}", get(code))
        .route("/api/chat", post(chat))
        .fallback(|| async { ApiError::not_found("no such route") })
        .with_state(state)
}

async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    if !state.is_ready() {
        return Err(ApiError::not_ready());
    }
    let chunks = state.services.store.count().await.map_err(ApiError::internal)?;
    Ok(Json(json!({"status": "ready", "chunks": chunks})))
}

/// Every parameter arrives as text so that a bad value gets our JSON error, not axum's.
#[derive(Debug, Deserialize)]
struct SearchParams {
    q: Option<String>,
    limit: Option<String>,
    system: Option<String>,
    mode: Option<String>,
}

async fn search(
    State(state): State<AppState>,
    params: Result<Query<SearchParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let limit = match params.limit.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(s.parse::<usize>().map_err(|_| ApiError::bad_request(format!("limit {s:?} is not a number")))?),
    };
    let system = match params.system.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(s.parse::<CodeSystem>().map_err(|e| ApiError::bad_request(e.to_string()))?),
    };
    let mode = match params.mode.as_deref().filter(|s| !s.is_empty()) {
        None => SearchMode::Hybrid,
        Some(s) => s.parse::<SearchMode>()?,
    };
    let request = SearchRequest { query: params.q.unwrap_or_default(), limit, system, mode };
    let retriever = &state.services.retriever;
    retriever.validate(&request)?;
    if !state.is_ready() {
        return Err(ApiError::not_ready());
    }
    let hits = retriever.search(&request).await?;
    Ok(Json(json!({"hits": hits})))
}

async fn code(State(state): State<AppState>, Path(code): Path<String>) -> Result<Json<Value>, ApiError> {
    let valid = !code.is_empty()
        && code.len() <= 12
        && code.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    if !valid {
        return Err(ApiError::bad_request(format!("{code:?} is not shaped like a code")));
    }
    if !state.is_ready() {
        return Err(ApiError::not_ready());
    }
    match state.services.codes.get(&lookup_forms(&code)).await? {
        Some(stored) => Ok(Json(serde_json::to_value(stored).map_err(ApiError::internal)?)),
        None => Err(ApiError::not_found(format!("no code {code} in the code tables"))),
    }
}

#[derive(Debug, Deserialize)]
struct ChatBody {
    question: String,
    conversation_id: Option<String>,
}

/// Streams an answer as Server-Sent Events. Everything that can be refused (bad JSON, an
/// empty or overlong question, an unknown conversation) is refused with a JSON 4xx before
/// the stream opens.
async fn chat(
    State(state): State<AppState>,
    body: Result<Json<ChatBody>, JsonRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Json(body) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let request = ChatRequest { question: body.question, conversation_id: body.conversation_id };
    let chat = &state.services.chat;
    chat.validate(&request)?;
    if !state.is_ready() {
        return Err(ApiError::not_ready());
    }
    let events = chat.start(request).await?;
    let stream: std::pin::Pin<Box<dyn Stream<Item = Result<Event, Infallible>> + Send>> =
        ReceiverStream::new(events).map(|e: ChatEvent| Ok(sse_event(&e))).boxed();
    let heartbeat = Duration::from_secs(state.services.config.chat.heartbeat_secs.max(1));
    let sse = Sse::new(stream).keep_alive(KeepAlive::new().interval(heartbeat).text("heartbeat"));
    Ok((
        [
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (HeaderName::from_static("x-accel-buffering"), HeaderValue::from_static("no")),
        ],
        sse,
    ))
}

fn sse_event(e: &ChatEvent) -> Event {
    Event::default().event(e.name()).data(e.data().to_string())
}

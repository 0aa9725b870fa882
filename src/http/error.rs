//! Error policy: every failure a client sees is JSON `{"error":{"code","message",…}}` with a
//! 4xx for bad input and a 5xx for our faults. Internal errors reach the client as a generic
//! message and the log in full. Domain errors map to statuses in one exhaustive `match`, so
//! a new variant forces a decision here.
//!
//! The statuses of accounts and metering: `401` missing, malformed, unknown or expired
//! credentials (the message says how to get a guest token); `402` a spent quota (with
//! `meter`, `remaining`, `action` and `resets_at`); `403` what a guest may not do; `409` a
//! taken email; `429` a rate limit (with `Retry-After`).

use std::time::Duration;

use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use crate::chat::{ChatError, Refusal};
use crate::codes::CodeTableError;
use crate::email::EmailError;
use crate::metering::{Exhausted, MeteringError};
use crate::retrieval::RetrievalError;
use crate::store::StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// More fields of the error object (the 402 body's meter, action, …).
    pub extra: Map<String, Value>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

/// How a client without credentials gets some.
pub const GET_CREDENTIALS: &str =
    "send Authorization: Bearer <token>; get a guest token with POST /api/guest, or sign in (POST /api/login) or use an API key";

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), extra: Map::new(), headers: vec![] }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn not_ready() -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", "the corpus is still being ingested; try again shortly")
    }

    /// No credentials at all.
    pub fn unauthenticated() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", format!("credentials required: {GET_CREDENTIALS}"))
            .with_header(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))
    }

    /// Credentials that are malformed, unknown, revoked or expired.
    pub fn invalid_credentials(what: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_credentials", format!("{what}: {GET_CREDENTIALS}"))
            .with_header(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer error=\"invalid_token\""))
    }

    pub fn rate_limited(wait: Duration) -> Self {
        let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
        let mut e = Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", format!("too many requests; retry in {secs} s"));
        e.extra.insert("retry_after".into(), json!(secs));
        e.with_header(header::RETRY_AFTER, HeaderValue::from(secs))
    }

    pub fn quota_exhausted(e: &Exhausted) -> Self {
        let mut error = Self::new(StatusCode::PAYMENT_REQUIRED, "quota_exhausted", e.message());
        error.extra.insert("meter".into(), json!(e.meter));
        error.extra.insert("remaining".into(), json!(0));
        error.extra.insert("action".into(), json!(e.action));
        error.extra.insert("resets_at".into(), json!(e.resets_at));
        error.with_header(HeaderName::from_static("x-quota-remaining"), HeaderValue::from(0))
    }

    /// The vector store cannot serve (`StoreError::Unavailable`): `503` with `Retry-After`;
    /// the detail is logged.
    pub fn store_unavailable(error: impl std::fmt::Display) -> Self {
        tracing::warn!(%error, "vector store unavailable");
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "search_unavailable", "the search index cannot be reached right now; try again shortly")
            .with_header(header::RETRY_AFTER, HeaderValue::from(5))
    }

    /// Shed load: `503` with `Retry-After`.
    pub fn overloaded(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", message).with_header(header::RETRY_AFTER, HeaderValue::from(1))
    }

    /// A JSON body the extractor refused, with its own status (`413` too large, `415` not
    /// JSON, `400` or `422` malformed).
    pub fn rejected(e: axum::extract::rejection::JsonRejection) -> Self {
        let status = e.status();
        let code = match status {
            StatusCode::PAYLOAD_TOO_LARGE => "too_large",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            _ => "bad_request",
        };
        Self::new(status, code, e.body_text())
    }

    pub fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "an internal error occurred; it has been logged")
    }

    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = Map::new();
        error.insert("code".into(), json!(self.code));
        error.insert("message".into(), json!(self.message));
        error.extend(self.extra);
        let mut response = (self.status, Json(json!({ "error": error }))).into_response();
        for (name, value) in self.headers {
            response.headers_mut().insert(name, value);
        }
        response
    }
}

impl From<RetrievalError> for ApiError {
    fn from(e: RetrievalError) -> Self {
        match e {
            RetrievalError::EmptyQuery
            | RetrievalError::QueryTooLong { .. }
            | RetrievalError::BadLimit { .. }
            | RetrievalError::BadMode(_) => ApiError::bad_request(e.to_string()),
            RetrievalError::Store(StoreError::Unavailable(_)) => ApiError::store_unavailable(e),
            RetrievalError::Store(_) | RetrievalError::Embed(_) => ApiError::internal(e),
        }
    }
}

impl From<CodeTableError> for ApiError {
    fn from(e: CodeTableError) -> Self {
        match e {
            CodeTableError::Sql(_) | CodeTableError::Migrate(_) | CodeTableError::Corrupt { .. } => ApiError::internal(e),
        }
    }
}

impl From<ChatError> for ApiError {
    fn from(e: ChatError) -> Self {
        match e {
            ChatError::EmptyQuestion | ChatError::QuestionTooLong { .. } => ApiError::bad_request(e.to_string()),
            ChatError::UnknownConversation(_) => ApiError::not_found(e.to_string()),
            ChatError::Busy(_) => ApiError::overloaded(e.to_string()),
            ChatError::Database(_) => ApiError::internal(e),
        }
    }
}

impl From<MeteringError> for ApiError {
    fn from(e: MeteringError) -> Self {
        match e {
            MeteringError::Invalid(_) | MeteringError::UnknownPlan { .. } => ApiError::bad_request(e.to_string()),
            MeteringError::EmailTaken | MeteringError::AlreadyRegistered => {
                ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string())
            }
            MeteringError::WrongPassword => ApiError::new(StatusCode::UNAUTHORIZED, "wrong_password", e.to_string()),
            MeteringError::GuestNotAllowed => ApiError::new(StatusCode::FORBIDDEN, "forbidden", e.to_string()),
            MeteringError::UnknownAccount(_) => ApiError::not_found(e.to_string()),
            MeteringError::Hashing(_) | MeteringError::Database(_) => ApiError::internal(e),
        }
    }
}

impl From<Refusal> for ApiError {
    fn from(e: Refusal) -> Self {
        match e {
            Refusal::Chat(e) => e.into(),
            Refusal::Metering(e) => e.into(),
            Refusal::Exhausted(e) => ApiError::quota_exhausted(&e),
        }
    }
}

impl From<EmailError> for ApiError {
    fn from(e: EmailError) -> Self {
        match e {
            EmailError::Malformed(_) => ApiError::bad_request(e.to_string()),
            EmailError::Busy(_) => ApiError::overloaded(e.to_string()),
            EmailError::Config(_) | EmailError::Send(_) | EmailError::Database(_) | EmailError::Metering(_) => ApiError::internal(e),
        }
    }
}

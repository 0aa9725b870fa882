//! Error policy: every failure a client sees is JSON `{"error":{"code","message"}}` with a
//! 4xx for bad input and a 5xx for our faults. Internal errors reach the client as a generic
//! message and the log in full. Domain errors map to statuses in one exhaustive `match`, so
//! a new variant forces a decision here.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::chat::ChatError;
use crate::codes::CodeTableError;
use crate::retrieval::RetrievalError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self { status: StatusCode::BAD_REQUEST, code: "bad_request", message: message.into() }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self { status: StatusCode::NOT_FOUND, code: "not_found", message: message.into() }
    }

    pub fn not_ready() -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "not_ready",
            message: "the corpus is still being ingested; try again shortly".into(),
        }
    }

    pub fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "internal error");
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal",
            message: "an internal error occurred; it has been logged".into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({"error": {"code": self.code, "message": self.message}}))).into_response()
    }
}

impl From<RetrievalError> for ApiError {
    fn from(e: RetrievalError) -> Self {
        match e {
            RetrievalError::EmptyQuery
            | RetrievalError::QueryTooLong { .. }
            | RetrievalError::BadLimit { .. }
            | RetrievalError::BadMode(_) => ApiError::bad_request(e.to_string()),
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
            ChatError::Database(_) => ApiError::internal(e),
        }
    }
}

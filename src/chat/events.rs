//! The events of one answer, as the SSE protocol names them (see PRODUCT.md).

use serde::Serialize;

use crate::codes::CodeSystem;
use crate::llm::{GenErrorKind, Source};
use crate::retrieval::SearchHit;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MetaEvent {
    pub conversation_id: String,
    pub message_id: String,
    /// Questions left on the account's plan; `null` until metering exists.
    pub remaining: Option<i64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SourceEvent {
    pub n: usize,
    pub id: String,
    pub system: CodeSystem,
    pub code: Option<String>,
    pub title: String,
    pub snippet: String,
    pub url: Option<String>,
    pub score: f32,
}

impl SourceEvent {
    /// Source `n` of an answer, as the `sources` event shows it.
    pub fn of(n: usize, hit: &SearchHit) -> Self {
        Self {
            n,
            id: hit.id.clone(),
            system: hit.system,
            code: hit.code.clone(),
            title: hit.title.clone(),
            snippet: hit.snippet.clone(),
            url: hit.code.as_ref().map(|c| format!("/codes/{c}")),
            score: hit.score,
        }
    }
}

impl From<&Source> for SourceEvent {
    fn from(s: &Source) -> Self {
        Self::of(s.n, &s.hit)
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CitationEvent {
    /// 1 for the first code the answer names, 2 for the next, …
    pub n: usize,
    pub system: CodeSystem,
    pub code: String,
    /// The code exists in a code table.
    pub verified: bool,
    /// It can be reported as it stands today: false for an ICD-10-CM category or subcategory
    /// (it needs more characters), for a CPT or HCPCS code no longer valid, and for an
    /// unverified code.
    pub billable: bool,
    /// For a category or subcategory: the billable codes under it (the first twelve).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub billable_codes: Vec<String>,
    /// The source it came from, when one of the sources is about it.
    pub source_n: Option<usize>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DoneEvent {
    pub cited_codes: Vec<String>,
    pub unverified_codes: Vec<String>,
    pub usage: serde_json::Value,
    pub latency_ms: u64,
    pub remaining: Option<i64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ErrorEvent {
    pub code: String,
    pub message: String,
    pub retryable: bool,
}

/// Every way an answer can fail once its stream is open. [`AnswerError::event`] is the one,
/// exhaustive mapping to what clients see (as `http/error.rs` is for statuses): a stable
/// code, a fixed message and whether asking again may help. What went wrong in detail
/// (an upstream's words) is logged, never sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerError {
    Retrieval,
    /// The vector store cannot serve right now (a server down, a shard without a live replica).
    SearchUnavailable,
    Generation(GenErrorKind),
    /// No piece for this many seconds once streaming.
    Stalled(u64),
    /// Past the answer's time cap, in seconds.
    TooSlow(u64),
    /// Past the answer's size cap, in characters.
    TooLong(usize),
    Empty,
    /// A bug (the answer task panicked).
    Internal,
}

impl AnswerError {
    pub fn event(self) -> ErrorEvent {
        let (code, message, retryable) = match self {
            AnswerError::Retrieval => ("retrieval_failed", "retrieval failed; it has been logged".to_string(), true),
            AnswerError::SearchUnavailable => {
                ("search_unavailable", "the search index cannot be reached right now; try again shortly".into(), true)
            }
            AnswerError::Generation(GenErrorKind::Unavailable) => {
                ("llm_unavailable", "the language model is unavailable; try again shortly".into(), true)
            }
            AnswerError::Generation(GenErrorKind::Rejected) => ("llm_error", "the language model refused the request; it has been logged".into(), false),
            AnswerError::Generation(GenErrorKind::Timeout) => ("llm_timeout", "the language model sent nothing in time".into(), true),
            AnswerError::Generation(GenErrorKind::StreamFailed) => ("llm_stream_failed", "the language model's answer broke off".into(), true),
            AnswerError::Stalled(secs) => ("llm_stalled", format!("the language model stopped sending for {secs} s"), true),
            AnswerError::TooSlow(secs) => ("answer_too_long", format!("the answer took longer than {secs} s and was ended"), false),
            AnswerError::TooLong(chars) => ("answer_too_long", format!("the answer passed {chars} characters and was ended"), false),
            AnswerError::Empty => ("empty_answer", "the language model returned no text".into(), true),
            AnswerError::Internal => ("internal", "an internal error ended the answer; it has been logged".into(), true),
        };
        ErrorEvent { code: code.into(), message, retryable }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ChatEvent {
    Meta(MetaEvent),
    Sources(Vec<SourceEvent>),
    Delta { text: String },
    Citation(CitationEvent),
    Done(DoneEvent),
    Error(ErrorEvent),
}

impl ChatEvent {
    pub fn name(&self) -> &'static str {
        match self {
            ChatEvent::Meta(_) => "meta",
            ChatEvent::Sources(_) => "sources",
            ChatEvent::Delta { .. } => "delta",
            ChatEvent::Citation(_) => "citation",
            ChatEvent::Done(_) => "done",
            ChatEvent::Error(_) => "error",
        }
    }

    pub fn data(&self) -> serde_json::Value {
        let v = match self {
            ChatEvent::Meta(m) => serde_json::to_value(m),
            ChatEvent::Sources(s) => serde_json::to_value(s),
            ChatEvent::Delta { text } => Ok(serde_json::json!({ "text": text })),
            ChatEvent::Citation(c) => serde_json::to_value(c),
            ChatEvent::Done(d) => serde_json::to_value(d),
            ChatEvent::Error(e) => serde_json::to_value(e),
        };
        v.expect("events serialize")
    }

    /// `done` or `error`: the last event of every stream.
    pub fn is_terminal(&self) -> bool {
        matches!(self, ChatEvent::Done(_) | ChatEvent::Error(_))
    }
}

//! Answer generators: one trait, two implementations.
//!
//! - [`OpenAiGenerator`]: any OpenAI-compatible chat API, streamed through `async-openai`.
//! - [`ExtractiveComposer`]: the built-in, deterministic answer written from the retrieved
//!   records, used when no LLM is configured.
//!
//! Both stream text pieces; the chat module verifies the codes in them, whichever wrote them.

mod extractive;
mod openai;
pub mod prompt;

use std::pin::Pin;

use futures::Stream;
use serde::Serialize;

pub use extractive::ExtractiveComposer;
pub use openai::OpenAiGenerator;

use crate::codes::StoredCode;
use crate::retrieval::SearchHit;

/// One retrieved passage, numbered as the answer cites it (`[n]`, from 1).
#[derive(Debug, Clone)]
pub struct Source {
    pub n: usize,
    pub hit: SearchHit,
    /// The full code record, for code hits.
    pub record: Option<StoredCode>,
    /// Share of the question's content words found in the passage (0–1): how well it
    /// answers, as opposed to merely being the nearest thing in the index. Above
    /// [`crate::chat::COVERS`] the passage is taken to cover the question.
    pub support: f32,
}

/// An earlier question and answer of the same conversation.
#[derive(Debug, Clone, Serialize)]
pub struct Turn {
    pub question: String,
    pub answer: String,
}

/// Everything a generator may use.
#[derive(Debug, Clone)]
pub struct GenerationContext {
    pub question: String,
    pub history: Vec<Turn>,
    pub sources: Vec<Source>,
    /// Codes the question names (or a follow-up refers back to), in order, that exist.
    pub named: Vec<String>,
    /// Code-shaped tokens in the question that no code table has.
    pub unknown: Vec<String>,
    /// ICD-10-CM categories the question names (code, title): real but not billable.
    pub categories: Vec<(String, String)>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Usage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub total_tokens: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    Text(String),
    Usage(Usage),
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct GenError {
    /// Stable machine-readable kind: `llm_unavailable`, `llm_timeout`, `llm_error`, `llm_stalled`.
    pub code: &'static str,
    pub message: String,
    pub retryable: bool,
}

pub type PieceStream = Pin<Box<dyn Stream<Item = Result<Piece, GenError>> + Send>>;

#[async_trait::async_trait]
pub trait Generator: Send + Sync {
    /// `openai` or `extractive`, reported in `done.usage`.
    fn name(&self) -> &'static str;
    /// Starts an answer. Errors before the first piece come back here (after any retries);
    /// later ones arrive in the stream.
    async fn generate(&self, context: &GenerationContext) -> Result<PieceStream, GenError>;
}

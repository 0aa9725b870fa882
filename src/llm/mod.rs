//! Answer generators: one trait, two implementations.
//!
//! - [`OpenAiGenerator`]: any OpenAI-compatible chat API, streamed through `async-openai`.
//! - [`ExtractiveComposer`]: the built-in, deterministic answer written from the retrieved
//!   records, used when no LLM is configured.
//!
//! Both stream text pieces; the chat module verifies the codes in them, whichever wrote them.

mod extractive;
mod openai;
pub mod client;
pub mod prompt;

use std::pin::Pin;

use futures::Stream;
use serde::Serialize;

pub use extractive::ExtractiveComposer;
pub use openai::OpenAiGenerator;

use crate::codes::{StoredCode, Validity};
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
    /// Whether the passage covers the question (see `chat::covers`).
    pub covers: bool,
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
    /// CPT and HCPCS codes the question names that no code table of codecite's has but the CMS
    /// validity table lists: real codes, current or since deleted, with no record here.
    pub listed: Vec<(String, Validity)>,
    /// NCCI lookups for pairs of procedure codes the question names.
    pub ncci: Vec<NcciFinding>,
}

impl GenerationContext {
    /// What the code tables say of the codes the question names that are not among the sources,
    /// one plain sentence each, the same for the composer and the prompt: codes that exist
    /// nowhere, ICD-10-CM categories, codes only the CMS validity table lists (with their
    /// validity in each year the question names).
    pub fn lookups(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .unknown
            .iter()
            .map(|code| {
                format!(
                    "There is no code {code} in the codecite code tables. Check it for a typo; it may also be a code that was never issued."
                )
            })
            .collect();
        for (code, title) in &self.categories {
            out.push(format!(
                "**{code}** is an ICD-10-CM category ({title}), not a billable code: report one of the complete codes under it."
            ));
        }
        let years = extractive::years_asked(&self.question);
        for (code, v) in &self.listed {
            let system = v.system.label();
            let mut text = match &v.last_valid {
                Some(last) if v.in_force_today() => format!(
                    "**{code}** is a valid {system} code until {last} (the CMS code tables list its last day), but codecite holds no description of it."
                ),
                Some(last) => format!(
                    "**{code}** is a deleted {system} code: the CMS code tables list it as valid through {last}, so it cannot be reported for later dates of service. codecite holds no description of it."
                ),
                None => format!(
                    "**{code}** is a valid {system} code (the CMS code tables list it), but codecite holds no description of it: check its descriptor in the {system} code set."
                ),
            };
            for year in &years {
                text.push(' ');
                text.push_str(&extractive::validity_for_year(code, v, *year));
            }
            out.push(text);
        }
        out
    }
}

/// The hospital outpatient NCCI table's word on one pair of codes.
#[derive(Debug, Clone, Serialize)]
pub struct NcciFinding {
    pub a: String,
    pub b: String,
    pub edit: Option<crate::codes::NcciEdit>,
    /// The table version the lookup used (even when it found no edit).
    pub version: String,
}

impl NcciFinding {
    /// One plain sentence, the same for the composer and the prompt.
    pub fn sentence(&self) -> String {
        match &self.edit {
            Some(e) => format!(
                "NCCI procedure-to-procedure edit, {} table, {}: {} is the column 1 code and {} the column 2 code. \
                 Billed together for the same patient and date, the column 2 code is denied{}",
                e.edit_set,
                e.version,
                e.column1,
                e.column2,
                if e.modifier_allowed {
                    " unless a modifier that bypasses NCCI (such as 59 or XE, XS, XP, XU) is justified by a distinct service (modifier indicator 1)."
                } else {
                    "; no modifier can allow the pair (modifier indicator 0)."
                }
            ),
            None => format!(
                "The {} NCCI table ({}) has no procedure-to-procedure edit between {} and {}, so NCCI does not bar reporting them together; payer rules may still apply.",
                crate::codes::reference::NCCI_EDIT_SET,
                self.version,
                self.a,
                self.b
            ),
        }
    }
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

/// Why a generator failed. `detail` holds the upstream's own words (a provider message, a
/// connection error) for the log; clients only ever see what [`GenErrorKind`] maps to.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{kind:?}: {detail}")]
pub struct GenError {
    pub kind: GenErrorKind,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GenErrorKind {
    /// Unreachable, or answered 429 or 5xx: trying again may help.
    Unavailable,
    /// Refused the request (a 4xx other than 429, a request we could not build).
    Rejected,
    /// Sent nothing within the first-token timeout.
    Timeout,
    /// The stream broke off after it started.
    StreamFailed,
}

impl GenError {
    pub fn new(kind: GenErrorKind, detail: impl Into<String>) -> Self {
        Self { kind, detail: detail.into() }
    }

    /// Whether a retry before the first token may help.
    pub fn retryable(&self) -> bool {
        !matches!(self.kind, GenErrorKind::Rejected)
    }
}

pub type PieceStream = Pin<Box<dyn Stream<Item = Result<Piece, GenError>> + Send>>;

#[async_trait::async_trait]
pub trait Generator: Send + Sync {
    /// `openai` or `extractive`, reported in `done.usage`.
    fn name(&self) -> &'static str;
    /// Whether it reads the sources' full code records (the extractive composer does; an
    /// LLM reads the passages), so that nobody loads them for nothing.
    fn needs_records(&self) -> bool {
        true
    }
    /// Starts an answer. Errors before the first piece come back here (after any retries);
    /// later ones arrive in the stream.
    async fn generate(&self, context: &GenerationContext) -> Result<PieceStream, GenError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::CodeSystem;

    #[test]
    fn lookups_tell_a_listed_code_as_current_ending_or_deleted() {
        let listed = |last: Option<&str>| Validity {
            system: CodeSystem::Cpt,
            valid_from: "2019-07-01".into(),
            last_valid: last.map(Into::into),
            addon_type: None,
        };
        let context = GenerationContext {
            question: "were 36556, 99000 and 99441 ok in 2024?".into(),
            history: vec![],
            sources: vec![],
            named: vec![],
            unknown: vec!["99999".into()],
            categories: vec![],
            listed: vec![("36556".into(), listed(None)), ("99000".into(), listed(Some("2999-12-31"))), ("99441".into(), listed(Some("2024-12-31")))],
            ncci: vec![],
        };
        let lines = context.lookups();
        assert!(lines[0].starts_with("There is no code 99999"), "{lines:?}");
        assert!(lines[1].starts_with("**36556** is a valid CPT code (the CMS code tables list it)"), "{lines:?}");
        assert!(lines[2].starts_with("**99000** is a valid CPT code until 2999-12-31"), "{lines:?}");
        assert!(lines[3].starts_with("**99441** is a deleted CPT code: the CMS code tables list it as valid through 2024-12-31"), "{lines:?}");
        assert!(lines[3].contains("For dates of service in 2024: yes"), "{lines:?}");
    }
}

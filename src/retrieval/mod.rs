//! Retrieval: query analysis (code-shaped tokens, lexicon expansion), exact code lookup and
//! hybrid search, merged into one ranking with exact hits first.

mod analyze;
mod lexicon;
pub mod rerank;
mod search;
mod sequence;
pub mod spelling;

pub use analyze::{analyze, code_candidates, Analysis};
pub use lexicon::{Lexicon, LexiconError, Term, MODIFIER_FILE, VOCABULARY_FILE};
pub use search::{MatchKind, RetrievalError, Retriever, SearchHit, SearchMode, SearchRequest};

//! Ingestion: corpus files → chunks → vectors and code tables.
//!
//! - [`corpus`] reads code records (JSONL) and guideline notes (Markdown with front matter),
//!   with errors that name the file and line.
//! - [`chunk`] turns them into token-bounded chunks with a content hash.
//! - [`pipeline`] writes what changed, and only that, to the vector store and the SQL tables.

pub mod chunk;
pub mod corpus;
pub mod pipeline;

pub use corpus::{apply_overlay, load_corpus, Corpus, CorpusError, GuidelineNote};
pub use pipeline::{ingest, IngestOptions, IngestSummary, Phases};
mod icd_xml;
pub mod loaders;

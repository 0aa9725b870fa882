//! The vector store: one trait, two backends, one collection layout and one query.
//!
//! Layout: a named dense vector `dense` (cosine) and a named sparse vector `bm25` with the
//! IDF modifier; keyword payload indexes on `system`, `code` and `key`. Every point is one
//! chunk, identified by a UUID derived from its stable key, with a [`ChunkPayload`].
//!
//! Query: prefetch dense and sparse candidates, fuse them with reciprocal rank fusion, apply
//! the optional system filter to both. Ties are broken here, identically for both backends.

mod edge;
mod server;

use std::cmp::Ordering;
use std::collections::HashMap;

use serde::{Deserialize, Serialize};

pub use edge::EdgeStore;
pub use server::ServerStore;

use crate::codes::CodeSystem;
use crate::embed::SparseVec;

pub const DENSE: &str = "dense";
pub const SPARSE: &str = "bm25";
/// Bumped when the layout or payload changes incompatibly; a store with another
/// layout must be re-ingested.
pub const LAYOUT_VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("vector store: {0}")]
    Backend(String),
    /// The store cannot serve right now (server unreachable, no live replica of a shard);
    /// worth retrying, unlike `Backend`.
    #[error("the vector store is unavailable: {0}")]
    Unavailable(String),
    #[error("the vector store at {location} was built by embedder {found} but this configuration uses {expected}; re-ingest with `codecite ingest --reset`")]
    EmbedderMismatch { location: String, found: String, expected: String },
    #[error("the vector store at {location} has layout {found}, this build expects {expected}; re-ingest with `codecite ingest --reset`")]
    LayoutMismatch { location: String, found: u32, expected: u32 },
    #[error("the vector store has not been created yet; run `codecite ingest`")]
    NotInitialized,
    #[error("stored payload is unreadable: {0}")]
    Payload(String),
}

/// What a store records about how it was built.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoreMeta {
    pub embedder: String,
    pub dim: usize,
    /// Mean document length used for BM25 document weights; fixed when the store is created
    /// so that unchanged documents keep identical sparse vectors across ingests.
    pub bm25_avg_len: f64,
    pub layout: u32,
}

impl StoreMeta {
    /// Fails with a clear message when the store was built by another embedder or layout.
    pub fn check(&self, location: &str, embedder: &str, dim: usize) -> Result<(), StoreError> {
        if self.layout != LAYOUT_VERSION {
            return Err(StoreError::LayoutMismatch {
                location: location.into(),
                found: self.layout,
                expected: LAYOUT_VERSION,
            });
        }
        if self.embedder != embedder || self.dim != dim {
            return Err(StoreError::EmbedderMismatch {
                location: location.into(),
                found: format!("{} ({} dims)", self.embedder, self.dim),
                expected: format!("{embedder} ({dim} dims)"),
            });
        }
        Ok(())
    }
}

/// The payload of every point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkPayload {
    /// Stable chunk key: `code:ICD10CM:E11.9`, `note:modifiers/25.md#0`.
    pub key: String,
    pub system: CodeSystem,
    /// The code a code record describes; absent for guideline chunks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Every code the chunk is about (the record's own, its primaries and replacements, or a
    /// note's front-matter codes).
    #[serde(default)]
    pub codes: Vec<String>,
    pub title: String,
    /// A code's other names (description, inclusion terms), for the rank-1 stage.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    /// The code is an add-on (reported only with a primary), for the rank-1 stage.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub addon: bool,
    /// Empty in a search's headers ([`VectorQuery::headers_only`]) until [`VectorStore::payloads`]
    /// fills it; so are `source` and `hash`.
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub source: String,
    /// SHA-256 of everything that determines the point; unchanged hash, nothing to write.
    #[serde(default)]
    pub hash: String,
}

/// The payload fields a search returns with [`VectorQuery::headers_only`]: what ranking reads.
pub const HEADER_FIELDS: [&str; 7] = ["key", "system", "code", "codes", "title", "names", "addon"];

pub struct ChunkPoint {
    pub payload: ChunkPayload,
    pub dense: Vec<f32>,
    pub sparse: SparseVec,
}

/// A search. With both vectors it is hybrid (RRF); with one it is that single mode.
#[derive(Debug, Clone, Default)]
pub struct VectorQuery {
    pub dense: Option<Vec<f32>>,
    pub sparse: Option<SparseVec>,
    /// Only these systems (all when empty).
    pub systems: Vec<CodeSystem>,
    pub limit: usize,
    pub prefetch: usize,
    pub rrf_k: usize,
    /// Return only [`HEADER_FIELDS`] of each payload (no passage text): a ranking stage reads
    /// many candidates and keeps few, whose full payloads it then asks [`VectorStore::payloads`] for.
    pub headers_only: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoreHit {
    pub score: f32,
    pub payload: ChunkPayload,
}

/// UUID of a chunk key, the same in both backends.
pub fn point_id(key: &str) -> uuid::Uuid {
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, format!("codecite:{key}").as_bytes())
}

/// Highest score first; equal scores ordered by code then key, so that rankings are
/// reproducible whatever order the store returned tied points in.
pub fn rank_hits(hits: &mut [StoreHit]) {
    hits.sort_by(|a, b| {
        b.score
            .partial_cmp(&a.score)
            .unwrap_or(Ordering::Equal)
            .then_with(|| a.payload.code.as_deref().unwrap_or("~").cmp(b.payload.code.as_deref().unwrap_or("~")))
            .then_with(|| a.payload.key.cmp(&b.payload.key))
    });
}

/// How many candidates to ask the store for so that ties at the cut are resolved by
/// [`rank_hits`] rather than by the store's internal order.
pub fn overfetch(limit: usize) -> usize {
    limit * 2 + 10
}

/// The payload fields searches filter on; both backends give each a keyword index.
pub const INDEXED_FIELDS: [&str; 4] = ["system", "code", "key", "codes"];

#[async_trait::async_trait]
pub trait VectorStore: Send + Sync {
    /// Where the store lives, for messages.
    fn location(&self) -> String;
    /// The build record, or `None` when the store is empty and uncreated.
    async fn meta(&self) -> Result<Option<StoreMeta>, StoreError>;
    /// Creates the collection with the layout (dropping any previous one) and records `meta`.
    async fn create(&self, meta: &StoreMeta) -> Result<(), StoreError>;
    /// `key → hash` of every stored point.
    async fn key_hashes(&self) -> Result<HashMap<String, String>, StoreError>;
    /// Inserts or replaces points; durable when it returns.
    async fn upsert(&self, points: Vec<ChunkPoint>) -> Result<(), StoreError>;
    /// Removes points by key; durable when it returns.
    async fn delete(&self, keys: &[String]) -> Result<(), StoreError>;
    /// Builds indexes after a bulk write (a no-op where the server does it itself).
    async fn optimize(&self) -> Result<(), StoreError>;
    async fn search(&self, query: &VectorQuery) -> Result<Vec<StoreHit>, StoreError>;
    /// The full payloads of the points with these keys (any order; unknown keys left out).
    async fn payloads(&self, keys: &[String]) -> Result<Vec<ChunkPayload>, StoreError>;
    /// Points whose `code` is one of `codes` (exact lookup, no scoring).
    async fn lookup_codes(&self, codes: &[String], system: Option<CodeSystem>) -> Result<Vec<StoreHit>, StoreError>;
    /// Up to `limit` code points (no guideline passages) that link to one of `codes` without
    /// being one: the add-ons that name them as primaries, the deleted codes they replaced.
    async fn linking_to(&self, codes: &[String], limit: usize) -> Result<Vec<StoreHit>, StoreError>;
    async fn count(&self) -> Result<usize, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(score: f32, code: Option<&str>, key: &str) -> StoreHit {
        StoreHit {
            score,
            payload: ChunkPayload {
                key: key.into(),
                system: CodeSystem::Cpt,
                code: code.map(Into::into),
                codes: vec![],
                title: String::new(),
                names: vec![],
                addon: false,
                text: String::new(),
                source: String::new(),
                hash: String::new(),
            },
        }
    }

    #[test]
    fn ties_break_by_code_then_key() {
        let mut hits = vec![
            hit(0.5, None, "note:b"),
            hit(0.5, Some("99214"), "code:CPT:99214"),
            hit(0.9, Some("99215"), "code:CPT:99215"),
            hit(0.5, Some("99213"), "code:CPT:99213"),
            hit(0.5, None, "note:a"),
        ];
        rank_hits(&mut hits);
        let keys: Vec<_> = hits.iter().map(|h| h.payload.key.as_str()).collect();
        assert_eq!(keys, ["code:CPT:99215", "code:CPT:99213", "code:CPT:99214", "note:a", "note:b"]);
    }

    #[test]
    fn meta_check_names_both_embedders() {
        let meta = StoreMeta { embedder: "static/a/256".into(), dim: 256, bm25_avg_len: 10.0, layout: LAYOUT_VERSION };
        assert!(meta.check("x", "static/a/256", 256).is_ok());
        let err = meta.check("data/qdrant", "openai/m/1536", 1536).unwrap_err().to_string();
        assert!(err.contains("static/a/256") && err.contains("openai/m/1536") && err.contains("--reset"), "{err}");
    }
}

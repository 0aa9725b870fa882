//! Embedders: one trait, several implementations, and an on-disk cache for the slow ones.
//!
//! - [`StaticEmbedder`]: the model2vec static model shipped in `models/` (default).
//! - [`ApiEmbedder`]: any OpenAI-compatible embeddings API.
//! - `OnnxEmbedder` (feature `onnx`): the full all-MiniLM-L6-v2 transformer through onnxruntime.
//!
//! The BM25 sparse encoder lives here too: it is the other half of every point.

mod api;
mod bm25;
mod cache;
#[cfg(feature = "onnx")]
mod onnx;
mod static_model;

use std::sync::Arc;

pub use api::ApiEmbedder;
pub use bm25::{average_words, Bm25Encoder, SparseVec};
pub use cache::CachedEmbedder;
#[cfg(feature = "onnx")]
pub use onnx::OnnxEmbedder;
pub use static_model::StaticEmbedder;

use crate::config::{EmbedConfig, EmbedderKind};

#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error("cannot load embedding model from {path}: {message}")]
    Load { path: String, message: String },
    #[error("embedding API: {0}")]
    Api(String),
    #[error("embedder returned {got} vectors for {expected} texts")]
    Count { expected: usize, got: usize },
    #[error("embedder returned a vector of {got} dimensions, expected {expected}")]
    Dimension { expected: usize, got: usize },
    #[error("embedding cache {path}: {message}")]
    Cache { path: String, message: String },
    #[error("{0}")]
    Unavailable(String),
}

/// Turns texts into dense vectors. Implementations are cheap to share behind an `Arc`.
#[async_trait::async_trait]
pub trait Embedder: Send + Sync {
    /// Stable identity recorded in the vector store: a store built by one embedder is
    /// never queried with another's vectors.
    fn id(&self) -> &str;
    fn dim(&self) -> usize;
    /// Whether embedding is slow enough that the on-disk cache pays for itself.
    fn worth_caching(&self) -> bool {
        true
    }
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError>;

    async fn embed_one(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        let mut v = self.embed(&[text.to_string()]).await?;
        v.pop().ok_or(EmbedError::Count { expected: 1, got: 0 })
    }
}

/// Builds the configured embedder; slow ones are wrapped in the on-disk cache under `cache_dir`.
pub async fn build(config: &EmbedConfig, cache_dir: &std::path::Path) -> Result<Arc<dyn Embedder>, EmbedError> {
    let inner: Arc<dyn Embedder> = match config.kind {
        EmbedderKind::Static => {
            let dir = config.model_dir.clone().unwrap_or_else(crate::config::default_static_model_dir);
            Arc::new(StaticEmbedder::load(&dir)?)
        }
        EmbedderKind::Openai => Arc::new(ApiEmbedder::connect(config).await?),
        #[cfg(feature = "onnx")]
        EmbedderKind::Minilm => Arc::new(OnnxEmbedder::load(config)?),
        #[cfg(not(feature = "onnx"))]
        EmbedderKind::Minilm => {
            return Err(EmbedError::Unavailable(
                "the minilm embedder needs a build with `--features onnx`".into(),
            ))
        }
    };
    if inner.worth_caching() {
        Ok(Arc::new(CachedEmbedder::open(inner, cache_dir, config.cache_entries)?))
    } else {
        Ok(inner)
    }
}

/// Scales a vector to unit length so cosine and dot product agree across embedders.
pub fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

//! The default embedder: a static (model2vec) model, loaded from a local folder with
//! `model2vec-rs` built without its hub client, so nothing is fetched at run time.

use std::path::Path;

use model2vec_rs::model::StaticModel;

use super::{EmbedError, Embedder};

pub struct StaticEmbedder {
    model: StaticModel,
    id: String,
}

/// Static models pool token vectors; longer inputs only dilute the mean.
const MAX_TOKENS: usize = 256;

impl StaticEmbedder {
    pub fn load(dir: &Path) -> Result<Self, EmbedError> {
        let err = |message: String| EmbedError::Load { path: dir.display().to_string(), message };
        if !dir.join("model.safetensors").exists() {
            return Err(err("model.safetensors not found".into()));
        }
        let model = StaticModel::from_pretrained(dir, None, Some(true), None).map_err(|e| err(format!("{e:#}")))?;
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        Ok(Self { id: format!("static/{name}/{}", model.dim()), model })
    }

    /// Synchronous embedding, for callers already on a blocking thread.
    pub fn embed_sync(&self, texts: &[String]) -> Vec<Vec<f32>> {
        self.model.encode_with_args(texts, Some(MAX_TOKENS), 1024)
    }
}

#[async_trait::async_trait]
impl Embedder for StaticEmbedder {
    fn id(&self) -> &str {
        &self.id
    }

    fn dim(&self) -> usize {
        self.model.dim()
    }

    /// Embedding costs about a microsecond a text: a cache lookup would be slower.
    fn worth_caching(&self) -> bool {
        false
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        Ok(self.embed_sync(texts))
    }
}

//! Dense vectors from any OpenAI-compatible embeddings API, through `async-openai`.

use std::time::Duration;

use async_openai::config::OpenAIConfig;
use async_openai::types::embeddings::CreateEmbeddingRequestArgs;
use async_openai::Client;

use crate::llm::client::{openai_client, Wait};
use super::{EmbedError, Embedder};
use crate::config::EmbedConfig;

pub struct ApiEmbedder {
    client: Client<OpenAIConfig>,
    model: String,
    dimensions: Option<u32>,
    dim: usize,
    id: String,
    batch_size: usize,
}

impl ApiEmbedder {
    /// Connects and asks for one embedding to learn the dimension, so a misconfigured
    /// endpoint fails at start-up rather than half-way through an ingest.
    pub async fn connect(config: &EmbedConfig) -> Result<Self, EmbedError> {
        let base = config
            .api_base
            .clone()
            .ok_or_else(|| EmbedError::Unavailable("the openai embedder needs embed.api_base".into()))?;
        let wait = Wait::Total(Duration::from_secs_f64(config.api_timeout_secs.max(0.001)));
        let mut embedder = Self {
            client: openai_client(&base, config.api_key.as_deref(), wait),
            model: config.api_model.clone(),
            dimensions: config.api_dimensions,
            dim: 0,
            id: String::new(),
            batch_size: config.batch_size.max(1),
        };
        let probe = embedder.call(&["dimension probe".to_string()]).await?;
        embedder.dim = probe.first().map(Vec::len).unwrap_or(0);
        if embedder.dim == 0 {
            return Err(EmbedError::Api("the API returned an empty embedding".into()));
        }
        embedder.id = format!("openai/{}/{}", embedder.model, embedder.dim);
        Ok(embedder)
    }

    async fn call(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut args = CreateEmbeddingRequestArgs::default();
        args.model(&self.model).input(texts.to_vec());
        if let Some(d) = self.dimensions {
            args.dimensions(d);
        }
        let request = args.build().map_err(|e| EmbedError::Api(e.to_string()))?;
        let response = self.client.embeddings().create(request).await.map_err(|e| EmbedError::Api(e.to_string()))?;
        let mut data = response.data;
        data.sort_by_key(|d| d.index);
        if data.len() != texts.len() {
            return Err(EmbedError::Count { expected: texts.len(), got: data.len() });
        }
        Ok(data
            .into_iter()
            .map(|d| {
                let mut v = d.embedding;
                super::normalize(&mut v);
                v
            })
            .collect())
    }
}

#[async_trait::async_trait]
impl Embedder for ApiEmbedder {
    fn id(&self) -> &str {
        &self.id
    }

    fn dim(&self) -> usize {
        self.dim
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut out = Vec::with_capacity(texts.len());
        for batch in texts.chunks(self.batch_size) {
            let vectors = self.call(batch).await?;
            if let Some(v) = vectors.iter().find(|v| v.len() != self.dim) {
                return Err(EmbedError::Dimension { expected: self.dim, got: v.len() });
            }
            out.extend(vectors);
        }
        Ok(out)
    }
}

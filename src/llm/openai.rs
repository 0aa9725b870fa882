//! Answers from any OpenAI-compatible chat API, streamed through `async-openai`.
//!
//! Transient failures before the first token (connection errors, timeouts, 429, 5xx) are
//! retried with a short backoff; after the first token a failure ends the answer, because the
//! client has already read part of it.

use std::time::Duration;

use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::types::chat::{
    ChatCompletionRequestSystemMessageArgs, ChatCompletionRequestUserMessageArgs, ChatCompletionStreamOptions,
    CreateChatCompletionRequest, CreateChatCompletionRequestArgs, CreateChatCompletionStreamResponse,
};
use async_openai::Client;
use futures::StreamExt;

use super::client::{openai_client, Wait};
use super::{prompt, GenError, GenErrorKind, GenerationContext, Generator, Piece, PieceStream, Usage};
use crate::config::LlmConfig;

pub struct OpenAiGenerator {
    client: Client<OpenAIConfig>,
    config: LlmConfig,
}

impl OpenAiGenerator {
    pub fn new(config: &LlmConfig) -> Option<Self> {
        let base = config.base_url.as_deref()?;
        // A read waiting past the stall limit means the stream is dead.
        let read = Duration::from_secs_f64(config.stall_secs.max(config.timeout_secs).max(0.001));
        let client = openai_client(base, config.api_key.as_deref(), Wait::Streaming { read });
        Some(Self { client, config: config.clone() })
    }

    #[allow(deprecated)]
    fn request(&self, context: &GenerationContext) -> Result<CreateChatCompletionRequest, GenError> {
        let (system, user) = prompt::render(context);
        let build = |e: &dyn std::fmt::Display| GenError::new(GenErrorKind::Rejected, format!("building the request: {e}"));
        CreateChatCompletionRequestArgs::default()
            .model(&self.config.model)
            .max_tokens(self.config.max_tokens)
            .temperature(self.config.temperature)
            .stream(true)
            .stream_options(ChatCompletionStreamOptions { include_usage: Some(true), include_obfuscation: None })
            .messages([
                ChatCompletionRequestSystemMessageArgs::default().content(system).build().map_err(|e| build(&e))?.into(),
                ChatCompletionRequestUserMessageArgs::default().content(user).build().map_err(|e| build(&e))?.into(),
            ])
            .build()
            .map_err(|e| build(&e))
    }
}

/// Whether trying again might help; the upstream's words go in the detail, for the log.
fn classify(e: &OpenAIError) -> GenError {
    match e {
        OpenAIError::Reqwest(err) => GenError::new(GenErrorKind::Unavailable, format!("cannot reach the language model: {err}")),
        OpenAIError::ApiError(api) => {
            let status = api.status_code.as_u16();
            let kind = if status == 429 || status >= 500 { GenErrorKind::Unavailable } else { GenErrorKind::Rejected };
            GenError::new(kind, format!("the language model answered {status}: {}", api.api_error.message))
        }
        OpenAIError::StreamError(err) => GenError::new(GenErrorKind::StreamFailed, format!("the language model's stream failed: {err}")),
        other => GenError::new(GenErrorKind::Rejected, format!("language model error: {other}")),
    }
}

fn pieces(chunk: CreateChatCompletionStreamResponse) -> Vec<Piece> {
    let mut out: Vec<Piece> = chunk
        .choices
        .into_iter()
        .filter_map(|c| c.delta.content)
        .filter(|t| !t.is_empty())
        .map(Piece::Text)
        .collect();
    if let Some(u) = chunk.usage {
        out.push(Piece::Usage(Usage {
            prompt_tokens: u.prompt_tokens,
            completion_tokens: u.completion_tokens,
            total_tokens: u.total_tokens,
        }));
    }
    out
}

#[async_trait::async_trait]
impl Generator for OpenAiGenerator {
    fn name(&self) -> &'static str {
        "openai"
    }

    fn needs_records(&self) -> bool {
        false
    }

    async fn generate(&self, context: &GenerationContext) -> Result<PieceStream, GenError> {
        let request = self.request(context)?;
        let first_token = Duration::from_secs_f64(self.config.timeout_secs.max(0.001));
        let mut attempt = 0;
        loop {
            let try_once = async {
                let mut stream = self.client.chat().create_stream(request.clone()).await.map_err(|e| classify(&e))?;
                // Read up to the first text, so that failures before it can be retried.
                let mut head: Vec<Piece> = vec![];
                while let Some(item) = stream.next().await {
                    let got = pieces(item.map_err(|e| classify(&e))?);
                    let has_text = got.iter().any(|p| matches!(p, Piece::Text(_)));
                    head.extend(got);
                    if has_text {
                        break;
                    }
                }
                let rest = stream.flat_map(|item| {
                    let out: Vec<Result<Piece, GenError>> = match item {
                        Ok(chunk) => pieces(chunk).into_iter().map(Ok).collect(),
                        Err(e) => vec![Err(classify(&e))],
                    };
                    futures::stream::iter(out)
                });
                Ok::<PieceStream, GenError>(Box::pin(futures::stream::iter(head.into_iter().map(Ok)).chain(rest)))
            };
            let error = match tokio::time::timeout(first_token, try_once).await {
                Ok(Ok(stream)) => return Ok(stream),
                Ok(Err(e)) => e,
                Err(_) => GenError::new(
                    GenErrorKind::Timeout,
                    format!("the language model sent nothing within {:.0} s", first_token.as_secs_f64()),
                ),
            };
            metrics::counter!(crate::telemetry::LLM_ERRORS, "kind" => format!("{:?}", error.kind)).increment(1);
            if !error.retryable() || attempt >= self.config.retries {
                return Err(error);
            }
            metrics::counter!(crate::telemetry::LLM_RETRIES).increment(1);
            attempt += 1;
            tracing::warn!(attempt, %error, "retrying the language model");
            tokio::time::sleep(Duration::from_millis(200 * 2u64.pow(attempt - 1))).await;
        }
    }
}

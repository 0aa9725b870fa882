//! Typed configuration: built-in defaults < `codecite.toml` < `CODECITE_*` environment
//! variables < command-line flags (applied by `main`).
//!
//! `QDRANT_URL` and `DATABASE_URL` are honoured as well, because operators expect those
//! conventional names; the `CODECITE_` forms win when both are set.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::metering::Plans;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("environment variable {name}: {message}")]
    Env { name: String, message: String },
}

/// Which embedder produces the dense vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmbedderKind {
    /// The static model2vec model shipped in `models/` (default: fast, in process).
    Static,
    /// The full all-MiniLM-L6-v2 transformer through onnxruntime (`--features onnx`).
    Minilm,
    /// Any OpenAI-compatible embeddings API.
    Openai,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the vector shard, the SQLite file and the embedding cache live.
    pub data_dir: PathBuf,
    /// The address `serve` listens on.
    pub addr: String,
    /// The corpus ingested on first start and by `ingest` without a path.
    pub corpus_dir: PathBuf,
    /// Qdrant server or cluster (gRPC URL). Unset: the embedded Qdrant Edge shard.
    pub qdrant_url: Option<String>,
    pub qdrant_api_key: Option<String>,
    /// How the server backend lays a new collection over a cluster.
    pub qdrant: QdrantConfig,
    /// Collection name (server backend) and shard directory name (edge backend).
    pub collection: String,
    /// `sqlite:` or `postgres:` URL. Unset: a SQLite file in the data dir.
    pub database_url: Option<String>,
    pub embed: EmbedConfig,
    pub search: SearchConfig,
    pub llm: LlmConfig,
    pub chat: ChatConfig,
    /// `[plans.NAME]`: limits per plan, layered over the built-in guest, free, pro and admin.
    pub plans: Plans,
    pub metering: MeteringConfig,
    pub rate_limits: RateLimitConfig,
    pub web: WebConfig,
    pub limits: LimitsConfig,
    pub email: EmailConfig,
}

/// How a TLS connection to the SMTP relay is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// Plain SMTP, upgraded with STARTTLS (required): port 587.
    Starttls,
    /// TLS from the first byte (SMTPS): port 465.
    Tls,
    /// No encryption: only for a relay on this machine or in tests.
    None,
}

/// Questions by email: the inbound route and the SMTP relay answers leave through.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmailConfig {
    /// The secret a mail provider's inbound route presents (`Authorization: Bearer SECRET`, or
    /// as the password of HTTP basic auth). Unset: `POST /api/inbound/email` answers 404.
    pub inbound_secret: Option<String>,
    /// The answers' `From`, e.g. `codecite <answers@codecite.example.org>`; its domain also
    /// names our Message-IDs.
    pub from: String,
    /// The SMTP relay. Unset: email is received but no answer can leave (each is logged as failed).
    pub smtp_host: Option<String>,
    pub smtp_port: u16,
    pub smtp_security: SmtpSecurity,
    pub smtp_username: Option<String>,
    pub smtp_password: Option<String>,
    /// Seconds one SMTP conversation may take.
    pub smtp_timeout_secs: f64,
    /// Attempts to send one answer (transient failures are retried, a permanent rejection is not).
    pub send_attempts: u32,
    /// Seconds before the first retry; doubled for each next one.
    pub retry_delay_secs: f64,
    /// The largest raw message accepted (`413` past it).
    pub max_message_bytes: usize,
    /// Messages accepted from one sender address per hour; the rest are dropped unanswered.
    pub per_sender_per_hour: u32,
    /// Hours between two invitations to register sent to the same unknown address.
    pub invite_interval_hours: u32,
    /// When set, only messages whose `Authentication-Results` header from this server
    /// (the provider's authserv-id) says `dmarc=pass`, or `dkim=pass` for the sender's
    /// domain, are answered; others are ignored. Unset: the provider's acceptance is trusted.
    pub trusted_authserv_id: Option<String>,
}

impl Default for EmailConfig {
    fn default() -> Self {
        Self {
            inbound_secret: None,
            from: "codecite <answers@codecite.invalid>".into(),
            smtp_host: None,
            smtp_port: 587,
            smtp_security: SmtpSecurity::Starttls,
            smtp_username: None,
            smtp_password: None,
            smtp_timeout_secs: 30.0,
            send_attempts: 4,
            retry_delay_secs: 5.0,
            max_message_bytes: 1024 * 1024,
            per_sender_per_hour: 30,
            invite_interval_hours: 24,
            trusted_authserv_id: None,
        }
    }
}

/// The collection's distribution when the server backend creates it (ignored by Qdrant Edge).
/// Changing them takes a re-ingest with `--reset`; an existing collection keeps its own.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QdrantConfig {
    /// Shards the collection is split into (Qdrant's `shard_number`); one per node is usual.
    pub shards: u32,
    /// Copies of each shard on distinct nodes; 2 keeps every shard served with one node down.
    pub replication_factor: u32,
    /// Replicas that must acknowledge a write before it succeeds (at most the replication factor).
    pub write_consistency: u32,
}

impl Default for QdrantConfig {
    fn default() -> Self {
        Self { shards: 1, replication_factor: 1, write_consistency: 1 }
    }
}

/// Bounds on the work one process takes on.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Requests handled at once; past it, `503` with `Retry-After` (load shedding).
    pub max_in_flight_requests: usize,
    /// Seconds a request may take to produce its response (a stream's headers, for chat).
    pub request_timeout_secs: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self { max_in_flight_requests: 1024, request_timeout_secs: 30 }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebConfig {
    /// Origins (`https://example.com`) whose pages may call the API: where the widget is
    /// embedded. `"*"` allows any. Empty: same origin only.
    pub cors_origins: Vec<String>,
    /// The address people reach this server at (`https://codecite.example.org`): links to
    /// code pages in emails and in `/v1` answers. Unset: `http://` and `addr`.
    pub public_url: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MeteringConfig {
    /// Days a session (guest or signed in) stays valid.
    pub session_days: u32,
    /// Hours within which a request repeated with the same `Idempotency-Key` is free.
    pub idempotency_hours: u32,
    /// Mark the session cookie `Secure` (set it when serving over HTTPS).
    pub cookie_secure: bool,
}

/// Requests per minute and burst sizes; a rate of 0 turns that limit off.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    pub per_ip_per_minute: u32,
    pub per_ip_burst: u32,
    /// Guest creation, registration and login, per client address.
    pub auth_per_ip_per_minute: u32,
    pub auth_per_ip_burst: u32,
    pub per_account_per_minute: u32,
    pub per_account_burst: u32,
    /// Take the client address from `X-Forwarded-For` (only behind a proxy that sets it).
    pub trust_forwarded_for: bool,
}

impl Default for MeteringConfig {
    fn default() -> Self {
        Self { session_days: 30, idempotency_hours: 24, cookie_secure: false }
    }
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            per_ip_per_minute: 600,
            per_ip_burst: 120,
            auth_per_ip_per_minute: 30,
            auth_per_ip_burst: 10,
            per_account_per_minute: 300,
            per_account_burst: 60,
            trust_forwarded_for: false,
        }
    }
}

/// An OpenAI-compatible chat API. Without `base_url` the built-in extractive composer answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LlmConfig {
    pub base_url: Option<String>,
    pub api_key: Option<String>,
    pub model: String,
    /// Seconds to wait for the first token, per attempt.
    pub timeout_secs: f64,
    /// Seconds without a chunk, once streaming, before the answer is abandoned.
    pub stall_secs: f64,
    /// Retries of transient failures (connection errors, 429, 5xx, timeouts) before the first token.
    pub retries: u32,
    pub max_tokens: u32,
    pub temperature: f32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChatConfig {
    /// Sources retrieved and shown for each question.
    pub sources: usize,
    /// Longest accepted question, in characters.
    pub max_question_chars: usize,
    /// Earlier turns of the conversation given to the LLM.
    pub history_turns: usize,
    /// Seconds between SSE heartbeat comments.
    pub heartbeat_secs: u64,
    /// Answers streaming at once; past it a question gets `503` and `Retry-After`.
    pub max_concurrent_answers: usize,
    /// Longest an answer may stream, in seconds, and its longest text, in characters.
    pub max_answer_secs: u64,
    pub max_answer_chars: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmbedConfig {
    pub kind: EmbedderKind,
    /// Folder of the static model, or of the ONNX transformer for `minilm`.
    pub model_dir: Option<PathBuf>,
    /// onnxruntime shared library for `minilm` (found in the PyPI `onnxruntime` wheel).
    pub onnxruntime_lib: Option<PathBuf>,
    /// OpenAI-compatible embeddings API.
    pub api_base: Option<String>,
    pub api_key: Option<String>,
    pub api_model: String,
    pub api_dimensions: Option<u32>,
    /// Texts per embedding call.
    pub batch_size: usize,
    /// Seconds one embeddings API call may take, response included.
    pub api_timeout_secs: f64,
    /// Vectors of the on-disk embedding cache (transformer and API embedders) kept in memory.
    pub cache_entries: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SearchConfig {
    /// Results returned when the request names no limit.
    pub default_limit: usize,
    /// Largest limit a request may ask for.
    pub max_limit: usize,
    /// Candidates each prefetch (dense, sparse) contributes before fusion.
    pub prefetch: usize,
    /// The `k` of reciprocal rank fusion.
    pub rrf_k: usize,
    /// Longest accepted query, in characters.
    pub max_query_chars: usize,
    /// The rank-1 stage (`retrieval::rerank`) and the code system the question names; off
    /// gives the fused ranking alone, for comparison.
    pub rerank: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            addr: "127.0.0.1:8080".into(),
            corpus_dir: default_corpus_dir(),
            qdrant_url: None,
            qdrant_api_key: None,
            qdrant: QdrantConfig::default(),
            collection: "codecite".into(),
            database_url: None,
            embed: EmbedConfig::default(),
            search: SearchConfig::default(),
            llm: LlmConfig::default(),
            chat: ChatConfig::default(),
            plans: Plans::default(),
            metering: MeteringConfig::default(),
            rate_limits: RateLimitConfig::default(),
            web: WebConfig::default(),
            limits: LimitsConfig::default(),
            email: EmailConfig::default(),
        }
    }
}

impl Default for LlmConfig {
    fn default() -> Self {
        Self {
            base_url: None,
            api_key: None,
            model: "gpt-4o-mini".into(),
            timeout_secs: 30.0,
            stall_secs: 30.0,
            retries: 2,
            max_tokens: 900,
            temperature: 0.1,
        }
    }
}

impl Default for ChatConfig {
    fn default() -> Self {
        Self {
            sources: 8,
            max_question_chars: 2000,
            history_turns: 3,
            heartbeat_secs: 15,
            max_concurrent_answers: 256,
            max_answer_secs: 180,
            max_answer_chars: 20_000,
        }
    }
}

impl Default for EmbedConfig {
    fn default() -> Self {
        Self {
            kind: EmbedderKind::Static,
            model_dir: None,
            onnxruntime_lib: None,
            api_base: None,
            api_key: None,
            api_model: "text-embedding-3-small".into(),
            api_dimensions: None,
            batch_size: 256,
            api_timeout_secs: 60.0,
            cache_entries: 100_000,
        }
    }
}

impl Default for SearchConfig {
    fn default() -> Self {
        Self { default_limit: 10, max_limit: 50, prefetch: 50, rrf_k: 2, max_query_chars: 2000, rerank: true }
    }
}

/// The repository's own folders, used when the working directory holds no copy: the binary
/// then still finds the bundled corpus and model when run from elsewhere.
fn repo_path(rel: &str) -> PathBuf {
    let local = PathBuf::from(rel);
    if local.exists() {
        local
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
    }
}

pub fn default_corpus_dir() -> PathBuf {
    repo_path("corpus")
}

pub fn default_static_model_dir() -> PathBuf {
    repo_path("models/m2v-minilm-l6-256-f16")
}

impl Config {
    /// Defaults, then `file` (or `./codecite.toml` when it exists), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut config = match file {
            Some(path) => Self::from_file(path)?,
            None if Path::new("codecite.toml").exists() => Self::from_file(Path::new("codecite.toml"))?,
            None => Self::default(),
        };
        config.apply_env(|name| std::env::var(name).ok())?;
        Ok(config)
    }

    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.into(), source })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse { path: path.into(), message: e.to_string() })
    }

    /// Applies environment overrides; `get` is injectable so tests need not touch the process env.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let pick = |names: &[&str]| names.iter().find_map(|n| get(n).filter(|v| !v.is_empty()));
        if let Some(v) = pick(&["CODECITE_DATA_DIR"]) {
            self.data_dir = v.into();
        }
        if let Some(v) = pick(&["CODECITE_ADDR"]) {
            self.addr = v;
        }
        if let Some(v) = pick(&["CODECITE_CORPUS_DIR"]) {
            self.corpus_dir = v.into();
        }
        if let Some(v) = pick(&["CODECITE_QDRANT_URL", "QDRANT_URL"]) {
            self.qdrant_url = Some(v);
        }
        if let Some(v) = pick(&["CODECITE_QDRANT_API_KEY", "QDRANT_API_KEY"]) {
            self.qdrant_api_key = Some(v);
        }
        for (name, field) in [
            ("CODECITE_QDRANT_SHARDS", &mut self.qdrant.shards),
            ("CODECITE_QDRANT_REPLICATION_FACTOR", &mut self.qdrant.replication_factor),
            ("CODECITE_QDRANT_WRITE_CONSISTENCY", &mut self.qdrant.write_consistency),
        ] {
            if let Some(v) = pick(&[name]) {
                *field = v.parse().ok().filter(|n| *n > 0).ok_or_else(|| ConfigError::Env {
                    name: name.into(),
                    message: format!("{v:?} is not a positive whole number"),
                })?;
            }
        }
        if let Some(v) = pick(&["CODECITE_COLLECTION"]) {
            self.collection = v;
        }
        if let Some(v) = pick(&["CODECITE_DATABASE_URL", "DATABASE_URL"]) {
            self.database_url = Some(v);
        }
        if let Some(v) = pick(&["CODECITE_EMBED_KIND"]) {
            self.embed.kind = match v.as_str() {
                "static" => EmbedderKind::Static,
                "minilm" => EmbedderKind::Minilm,
                "openai" => EmbedderKind::Openai,
                other => {
                    return Err(ConfigError::Env {
                        name: "CODECITE_EMBED_KIND".into(),
                        message: format!("unknown embedder {other:?}; expected static, minilm or openai"),
                    })
                }
            };
        }
        if let Some(v) = pick(&["CODECITE_EMBED_MODEL_DIR"]) {
            self.embed.model_dir = Some(v.into());
        }
        if let Some(v) = pick(&["CODECITE_ONNXRUNTIME_LIB", "ORT_DYLIB_PATH"]) {
            self.embed.onnxruntime_lib = Some(v.into());
        }
        if let Some(v) = pick(&["CODECITE_EMBED_API_BASE"]) {
            self.embed.api_base = Some(v);
        }
        if let Some(v) = pick(&["CODECITE_EMBED_API_KEY"]) {
            self.embed.api_key = Some(v);
        }
        if let Some(v) = pick(&["CODECITE_EMBED_API_MODEL"]) {
            self.embed.api_model = v;
        }
        if let Some(v) = pick(&["CODECITE_LLM_BASE_URL"]) {
            self.llm.base_url = Some(v);
        }
        if let Some(v) = pick(&["CODECITE_LLM_API_KEY", "OPENAI_API_KEY"]) {
            self.llm.api_key = Some(v);
        }
        if let Some(v) = pick(&["CODECITE_LLM_MODEL"]) {
            self.llm.model = v;
        }
        if let Some(v) = pick(&["CODECITE_PUBLIC_URL"]) {
            self.web.public_url = Some(v);
        }
        if let Some(v) = pick(&["CODECITE_EMAIL_INBOUND_SECRET"]) {
            self.email.inbound_secret = Some(v);
        }
        if let Some(v) = pick(&["CODECITE_EMAIL_FROM"]) {
            self.email.from = v;
        }
        if let Some(v) = pick(&["CODECITE_SMTP_HOST"]) {
            self.email.smtp_host = Some(v);
        }
        if let Some(v) = pick(&["CODECITE_SMTP_PORT"]) {
            self.email.smtp_port = v.parse().map_err(|_| ConfigError::Env {
                name: "CODECITE_SMTP_PORT".into(),
                message: format!("{v:?} is not a port number"),
            })?;
        }
        if let Some(v) = pick(&["CODECITE_SMTP_SECURITY"]) {
            self.email.smtp_security = match v.as_str() {
                "starttls" => SmtpSecurity::Starttls,
                "tls" => SmtpSecurity::Tls,
                "none" => SmtpSecurity::None,
                other => {
                    return Err(ConfigError::Env {
                        name: "CODECITE_SMTP_SECURITY".into(),
                        message: format!("unknown {other:?}; expected starttls, tls or none"),
                    })
                }
            };
        }
        if let Some(v) = pick(&["CODECITE_SMTP_USERNAME"]) {
            self.email.smtp_username = Some(v);
        }
        if let Some(v) = pick(&["CODECITE_SMTP_PASSWORD"]) {
            self.email.smtp_password = Some(v);
        }
        if let Some(v) = pick(&["CODECITE_CORS_ORIGINS"]) {
            self.web.cors_origins = v.split(',').map(|o| o.trim().to_string()).filter(|o| !o.is_empty()).collect();
        }
        Ok(())
    }

    /// Operator-loaded data (licensed files converted by `ingest --format`), layered over the corpus.
    pub fn overlay_dir(&self) -> PathBuf {
        self.data_dir.join("overlay")
    }

    /// Where people reach this server, without a trailing slash.
    pub fn public_url(&self) -> String {
        match &self.web.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("http://{}", self.addr),
        }
    }

    pub fn edge_dir(&self) -> PathBuf {
        self.data_dir.join("qdrant").join(&self.collection)
    }

    pub fn sqlite_url(&self) -> String {
        format!("sqlite://{}?mode=rwc", self.data_dir.join("codecite.db").display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_env_override_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("codecite.toml");
        std::fs::write(&path, "addr = \"0.0.0.0:9000\"\ncollection = \"from-file\"\n[search]\ndefault_limit = 5\n").unwrap();
        let mut config = Config::from_file(&path).unwrap();
        assert_eq!(config.addr, "0.0.0.0:9000");
        assert_eq!(config.search.default_limit, 5);
        assert_eq!(config.search.max_limit, 50, "unset keys keep their defaults");
        config
            .apply_env(|name| match name {
                "CODECITE_COLLECTION" => Some("from-env".into()),
                "QDRANT_URL" => Some("http://localhost:6334".into()),
                _ => None,
            })
            .unwrap();
        assert_eq!(config.collection, "from-env");
        assert_eq!(config.qdrant_url.as_deref(), Some("http://localhost:6334"));
    }

    #[test]
    fn email_settings_come_from_the_file_and_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("codecite.toml");
        std::fs::write(&path, "[email]\nsmtp_host = \"smtp.example.org\"\nsmtp_security = \"tls\"\nsmtp_port = 465\n[web]\npublic_url = \"https://c.example/\"\n").unwrap();
        let mut config = Config::from_file(&path).unwrap();
        assert_eq!(config.email.smtp_security, SmtpSecurity::Tls);
        assert_eq!(config.public_url(), "https://c.example");
        config
            .apply_env(|name| match name {
                "CODECITE_EMAIL_INBOUND_SECRET" => Some("s".into()),
                "CODECITE_SMTP_PORT" => Some("2525".into()),
                "CODECITE_SMTP_SECURITY" => Some("none".into()),
                _ => None,
            })
            .unwrap();
        assert_eq!((config.email.inbound_secret.as_deref(), config.email.smtp_port), (Some("s"), 2525));
        assert_eq!(config.email.smtp_security, SmtpSecurity::None);
        assert!(Config::default().apply_env(|n| (n == "CODECITE_SMTP_PORT").then(|| "x".into())).is_err());
        assert_eq!(Config::default().public_url(), "http://127.0.0.1:8080");
    }

    #[test]
    fn unknown_keys_and_bad_env_values_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, "adr = \"typo\"\n").unwrap();
        let err = Config::from_file(&path).unwrap_err().to_string();
        assert!(err.contains("bad.toml") && err.contains("adr"), "{err}");
        let err = Config::default()
            .apply_env(|n| (n == "CODECITE_EMBED_KIND").then(|| "bert".to_string()))
            .unwrap_err();
        assert!(err.to_string().contains("bert"));
    }
}

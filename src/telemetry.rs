//! Prometheus metrics: one process-wide recorder, rendered by `GET /metrics`. Code records
//! through the `metrics` macros where things happen (HTTP middleware, the answer task, the
//! LLM client, metering, ingest); this module only installs the recorder and names the
//! metrics, so that a dashboard has one list to read.
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `codecite_http_requests_total` | counter | `route`, `method`, `status` |
//! | `codecite_http_request_duration_seconds` | histogram | `route`, `method` |
//! | `codecite_chat_time_to_sources_seconds` | histogram | |
//! | `codecite_chat_time_to_first_token_seconds` | histogram | |
//! | `codecite_chat_answers_total` | counter | `outcome` (`done`, an error code, `gone`) |
//! | `codecite_llm_errors_total` | counter | `kind` |
//! | `codecite_llm_retries_total` | counter | |
//! | `codecite_quota_denials_total` | counter | `meter`, `plan` |
//! | `codecite_ingest_chunks_embedded_total` | counter | |

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

pub const HTTP_REQUESTS: &str = "codecite_http_requests_total";
pub const HTTP_DURATION: &str = "codecite_http_request_duration_seconds";
pub const TIME_TO_SOURCES: &str = "codecite_chat_time_to_sources_seconds";
pub const TIME_TO_FIRST_TOKEN: &str = "codecite_chat_time_to_first_token_seconds";
pub const ANSWERS: &str = "codecite_chat_answers_total";
pub const LLM_ERRORS: &str = "codecite_llm_errors_total";
pub const LLM_RETRIES: &str = "codecite_llm_retries_total";
pub const QUOTA_DENIALS: &str = "codecite_quota_denials_total";
pub const INGEST_CHUNKS: &str = "codecite_ingest_chunks_embedded_total";

/// Latency buckets, in seconds: sub-millisecond lookups to a slow model's first token.
const BUCKETS: [f64; 16] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

/// The process's recorder, installed on first use (every app in a test process shares it).
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&BUCKETS)
            .expect("the buckets are not empty")
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics shows only this one's");
        }
        handle
    })
}

/// The Prometheus text exposition of every metric so far.
pub fn render() -> String {
    handle().render()
}

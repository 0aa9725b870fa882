//! The one way codecite builds a client for an OpenAI-compatible API: the chat generator,
//! the embeddings API and the evaluation judge all come through here, so every outbound
//! call has a connect timeout, and a read or total timeout fitting its use.

use std::time::Duration;

use async_openai::config::OpenAIConfig;
use async_openai::Client;

/// How long a connection may take to open.
const CONNECT: Duration = Duration::from_secs(10);

/// How long to wait for the API.
#[derive(Debug, Clone, Copy)]
pub enum Wait {
    /// A streamed answer: no total limit (answers are long), but no read may wait longer.
    Streaming { read: Duration },
    /// One request and its whole response.
    Total(Duration),
}

pub fn openai_client(base: &str, api_key: Option<&str>, wait: Wait) -> Client<OpenAIConfig> {
    let builder = reqwest::Client::builder().connect_timeout(CONNECT).tcp_nodelay(true);
    let builder = match wait {
        Wait::Streaming { read } => builder.read_timeout(read),
        Wait::Total(total) => builder.timeout(total),
    };
    // Building fails only when the TLS backend cannot start, which no request could survive.
    let http = builder.build().expect("the HTTP client builds");
    let mut config = OpenAIConfig::new().with_api_base(base.trim_end_matches('/'));
    if let Some(key) = api_key {
        config = config.with_api_key(key);
    }
    Client::with_config(config).with_http_client(http)
}

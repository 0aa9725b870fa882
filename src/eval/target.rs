//! What an evaluation runs against: the pipeline in this process, or a server over HTTP.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use futures::StreamExt;
use serde_json::Value;

use crate::app::Services;
use crate::chat::{ChatEvent, ChatRequest};
use crate::retrieval::{SearchMode, SearchRequest};

/// One answered question.
#[derive(Debug, Clone, Default)]
pub struct ChatOutcome {
    pub conversation_id: Option<String>,
    pub answer: String,
    /// Codes of the `sources` event, in order (`-` for guideline passages).
    pub source_codes: Vec<String>,
    /// `(n, "title: snippet")` of each source, for the faithfulness judge.
    pub source_texts: Vec<(usize, String)>,
    pub cited: Vec<String>,
    pub unverified: Vec<String>,
    pub sources_ms: Option<f64>,
    pub done_ms: Option<f64>,
    pub error: Option<String>,
}

#[async_trait::async_trait]
pub trait Target: Send + Sync {
    async fn search(&self, query: &str, mode: SearchMode, limit: usize) -> anyhow::Result<Vec<String>>;
    async fn chat(&self, question: &str, conversation_id: Option<String>) -> anyhow::Result<ChatOutcome>;
}

fn code_or_dash(code: Option<&str>) -> String {
    code.unwrap_or("-").to_string()
}

pub struct InProcessTarget {
    pub services: Arc<Services>,
}

#[async_trait::async_trait]
impl Target for InProcessTarget {
    async fn search(&self, query: &str, mode: SearchMode, limit: usize) -> anyhow::Result<Vec<String>> {
        let request = SearchRequest { query: query.to_string(), limit: Some(limit), system: None, mode, ..Default::default() };
        let hits = self.services.retriever.search(&request).await?;
        Ok(hits.iter().map(|h| code_or_dash(h.code.as_deref())).collect())
    }

    async fn chat(&self, question: &str, conversation_id: Option<String>) -> anyhow::Result<ChatOutcome> {
        let started = Instant::now();
        let request = ChatRequest { question: question.to_string(), conversation_id, ..Default::default() };
        let mut rx = self.services.chat.start(request, None).await?;
        let mut out = ChatOutcome::default();
        while let Some(event) = rx.recv().await {
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            match event {
                ChatEvent::Meta(m) => out.conversation_id = Some(m.conversation_id),
                ChatEvent::Sources(s) => {
                    out.sources_ms = Some(ms);
                    out.source_codes = s.iter().map(|s| code_or_dash(s.code.as_deref())).collect();
                    out.source_texts = s.iter().map(|s| (s.n, format!("{}: {}", s.title, s.snippet))).collect();
                }
                ChatEvent::Delta { text } => out.answer.push_str(&text),
                ChatEvent::Citation(_) => {}
                ChatEvent::Done(d) => {
                    out.done_ms = Some(ms);
                    out.cited = d.cited_codes;
                    out.unverified = d.unverified_codes;
                }
                ChatEvent::Error(e) => out.error = Some(format!("{}: {}", e.code, e.message)),
            }
        }
        Ok(out)
    }
}

/// A running codecite server, through its public API.
pub struct HttpTarget {
    base: String,
    client: reqwest::Client,
    api_key: Option<String>,
}

impl HttpTarget {
    /// `api_key` authenticates the metered chat route (`Authorization: Bearer`).
    pub fn new(base: &str, api_key: Option<&str>) -> Self {
        Self { base: base.trim_end_matches('/').to_string(), client: reqwest::Client::new(), api_key: api_key.map(str::to_string) }
    }
}

#[async_trait::async_trait]
impl Target for HttpTarget {
    async fn search(&self, query: &str, mode: SearchMode, limit: usize) -> anyhow::Result<Vec<String>> {
        let mode = serde_json::to_value(mode)?.as_str().unwrap_or("hybrid").to_string();
        let response = self
            .client
            .get(format!("{}/api/search", self.base))
            .query(&[("q", query), ("mode", mode.as_str()), ("limit", &limit.to_string())])
            .send()
            .await
            .with_context(|| format!("GET {}/api/search", self.base))?;
        let status = response.status();
        let body: Value = response.json().await?;
        anyhow::ensure!(status.is_success(), "search answered {status}: {body}");
        Ok(body["hits"].as_array().map(|h| h.iter().map(|h| code_or_dash(h["code"].as_str())).collect()).unwrap_or_default())
    }

    async fn chat(&self, question: &str, conversation_id: Option<String>) -> anyhow::Result<ChatOutcome> {
        let started = Instant::now();
        let body = serde_json::json!({"question": question, "conversation_id": conversation_id});
        let mut request = self.client.post(format!("{}/api/chat", self.base)).json(&body);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("POST {}/api/chat", self.base))?;
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            anyhow::bail!("chat answered {status}: {text}");
        }
        let mut out = ChatOutcome::default();
        let mut buffer = String::new();
        let mut bytes = response.bytes_stream();
        while let Some(chunk) = bytes.next().await {
            buffer.push_str(&String::from_utf8_lossy(&chunk?));
            while let Some(end) = buffer.find("\n\n") {
                let block: String = buffer.drain(..end + 2).collect();
                let ms = started.elapsed().as_secs_f64() * 1000.0;
                let mut name = "";
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = match v.trim() {
                            "meta" => "meta",
                            "sources" => "sources",
                            "delta" => "delta",
                            "done" => "done",
                            "error" => "error",
                            _ => "",
                        };
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                let v: Value = serde_json::from_str(&data).unwrap_or(Value::Null);
                let strings = |v: &Value| -> Vec<String> {
                    v.as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect()).unwrap_or_default()
                };
                match name {
                    "meta" => out.conversation_id = v["conversation_id"].as_str().map(str::to_string),
                    "sources" => {
                        out.sources_ms = Some(ms);
                        let list = v.as_array().cloned().unwrap_or_default();
                        out.source_codes = list.iter().map(|s| code_or_dash(s["code"].as_str())).collect();
                        out.source_texts = list
                            .iter()
                            .map(|s| {
                                let n = s["n"].as_u64().unwrap_or(0) as usize;
                                (n, format!("{}: {}", s["title"].as_str().unwrap_or(""), s["snippet"].as_str().unwrap_or("")))
                            })
                            .collect();
                    }
                    "delta" => out.answer.push_str(v["text"].as_str().unwrap_or_default()),
                    "done" => {
                        out.done_ms = Some(ms);
                        out.cited = strings(&v["cited_codes"]);
                        out.unverified = strings(&v["unverified_codes"]);
                    }
                    "error" => out.error = Some(format!("{}: {}", v["code"], v["message"])),
                    _ => {}
                }
            }
        }
        Ok(out)
    }
}

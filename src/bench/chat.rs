//! Chat benchmarks: request → `sources` latency, extractive answers per second, and the
//! time our relay adds between an upstream LLM chunk and the `delta` carrying it (measured
//! against a local OpenAI-compatible stub that stamps each chunk with its send time).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::routing::post;
use axum::Router;
use serde::{Deserialize, Serialize};

use super::percentile;
use crate::app::Services;
use crate::chat::{ChatEvent, ChatRequest, ChatService};
use crate::config::LlmConfig;
use crate::llm::OpenAiGenerator;
use crate::metering::Reservation;

#[derive(Debug, Serialize, Deserialize)]
pub struct ChatReport {
    pub questions: usize,
    pub sources_p50_ms: f64,
    pub sources_p99_ms: f64,
    pub done_p50_ms: f64,
    pub done_p99_ms: f64,
    pub answers_per_sec: f64,
    pub concurrency: usize,
    pub relay_chunks: usize,
    pub relay_p50_ms: f64,
    pub relay_p99_ms: f64,
}

impl ChatReport {
    pub fn print(&self) {
        println!(
            "| chat, extractive: request → `sources` event, {} questions | p50 {:.2} ms, p99 {:.2} ms |",
            self.questions, self.sources_p50_ms, self.sources_p99_ms
        );
        println!("| chat, extractive: request → `done` | p50 {:.2} ms, p99 {:.2} ms |", self.done_p50_ms, self.done_p99_ms);
        println!(
            "| chat, extractive answers per second ({} concurrent clients) | {:.0} |",
            self.concurrency, self.answers_per_sec
        );
        println!(
            "| chat, LLM relay: upstream chunk sent → our `delta`, {} chunks over loopback | p50 {:.2} ms, p99 {:.2} ms |",
            self.relay_chunks, self.relay_p50_ms, self.relay_p99_ms
        );
    }
}

/// Runs one question; returns (ms to `sources`, ms to the terminal event).
async fn timed(chat: &Arc<ChatService>, question: &str) -> anyhow::Result<(f64, f64)> {
    timed_from(Instant::now(), chat, ChatRequest::new(question), None).await
}

/// Answers `request`; returns (ms to `sources`, ms to the terminal event) since `started`.
pub(super) async fn timed_from(
    started: Instant,
    chat: &Arc<ChatService>,
    request: ChatRequest,
    reservation: Option<Reservation>,
) -> anyhow::Result<(f64, f64)> {
    let mut rx = chat.start(request, reservation).await?;
    let mut sources = None;
    while let Some(event) = rx.recv().await {
        if matches!(event, ChatEvent::Sources(_)) {
            sources = Some(started.elapsed().as_secs_f64() * 1000.0);
        }
        if let ChatEvent::Error(e) = &event {
            anyhow::bail!("chat failed: {}", e.message);
        }
        if event.is_terminal() {
            break;
        }
    }
    Ok((sources.unwrap_or(f64::NAN), started.elapsed().as_secs_f64() * 1000.0))
}

fn questions(queries: &[String]) -> Vec<String> {
    queries
        .iter()
        .enumerate()
        .map(|(i, q)| match i % 3 {
            0 => format!("What is {q}?"),
            1 => format!("Which code for {q}?"),
            _ => q.clone(),
        })
        .collect()
}

pub async fn chat_phase(services: &Services, queries: &[String]) -> anyhow::Result<ChatReport> {
    let questions: Vec<String> = questions(queries).into_iter().take(1000).collect();
    let chat = services.chat.clone();
    for q in questions.iter().take(20) {
        timed(&chat, q).await?;
    }
    let mut to_sources = vec![];
    let mut to_done = vec![];
    for q in &questions {
        let (s, d) = timed(&chat, q).await?;
        to_sources.push(s);
        to_done.push(d);
    }
    to_sources.sort_by(|a, b| a.total_cmp(b));
    to_done.sort_by(|a, b| a.total_cmp(b));

    let concurrency = 4;
    let started = Instant::now();
    let mut workers = vec![];
    for w in 0..concurrency {
        let chat = chat.clone();
        let mine: Vec<String> = questions.iter().skip(w).step_by(concurrency).cloned().collect();
        workers.push(tokio::spawn(async move {
            for q in mine {
                timed(&chat, &q).await?;
            }
            Ok::<(), anyhow::Error>(())
        }));
    }
    for w in workers {
        w.await??;
    }
    let answers_per_sec = questions.len() as f64 / started.elapsed().as_secs_f64();

    let mut relay = relay_latencies(services).await?;
    relay.sort_by(|a, b| a.total_cmp(b));
    Ok(ChatReport {
        questions: questions.len(),
        sources_p50_ms: percentile(&to_sources, 0.5),
        sources_p99_ms: percentile(&to_sources, 0.99),
        done_p50_ms: percentile(&to_done, 0.5),
        done_p99_ms: percentile(&to_done, 0.99),
        answers_per_sec,
        concurrency,
        relay_chunks: relay.len(),
        relay_p50_ms: percentile(&relay, 0.5),
        relay_p99_ms: percentile(&relay, 0.99),
    })
}

fn now_micros() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros()).unwrap_or(0)
}

/// A local OpenAI-compatible stub: each answer is `chunks` chunks, `gap` apart, chunk `i`
/// carrying `word(i)`. Shared by the relay measurement and the load test.
pub(super) async fn stub_llm(chunks: usize, gap: Duration, word: fn(usize) -> String) -> anyhow::Result<String> {
    let app = Router::new().route(
        "/v1/chat/completions",
        post(move || async move {
            let stream = futures::stream::unfold(0usize, move |i| async move {
                if i > chunks {
                    return None;
                }
                if i == chunks {
                    return Some((Ok::<Bytes, std::convert::Infallible>(Bytes::from("data: [DONE]\n\n")), i + 1));
                }
                tokio::time::sleep(gap).await;
                let chunk = serde_json::json!({
                    "id": "bench", "object": "chat.completion.chunk", "created": 0, "model": "stub",
                    "choices": [{"index": 0, "delta": {"content": word(i)}, "finish_reason": null}]
                });
                Some((Ok(Bytes::from(format!("data: {chunk}\n\n"))), i + 1))
            });
            axum::response::Response::builder()
                .header("content-type", "text/event-stream")
                .body(Body::from_stream(stream))
                .expect("valid response")
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    // Like any streaming server, the stub sends each chunk at once (no Nagle coalescing).
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(format!("http://{addr}/v1"))
}

/// Milliseconds from each stub chunk's send to the arrival of our `delta` with it.
async fn relay_latencies(services: &Services) -> anyhow::Result<Vec<f64>> {
    // Each chunk carries its send time in microseconds.
    let base = stub_llm(100, Duration::from_millis(5), |_| format!("t{} ", now_micros())).await?;
    let llm = LlmConfig { base_url: Some(base), ..Default::default() };
    let generator = Arc::new(OpenAiGenerator::new(&llm).expect("a base URL is set"));
    let chat = Arc::new(ChatService::new(
        services.retriever.clone(),
        services.codes.clone(),
        generator,
        services.config.chat.clone(),
        &llm,
    ));
    let mut out = vec![];
    for _ in 0..5 {
        let mut rx = chat.start(ChatRequest::new("What is J1885?"), None).await?;
        while let Some(event) = rx.recv().await {
            if let ChatEvent::Delta { text } = &event {
                let arrived = now_micros();
                for stamp in text.split_whitespace().filter_map(|w| w.strip_prefix('t')?.parse::<u128>().ok()) {
                    out.push(arrived.saturating_sub(stamp) as f64 / 1000.0);
                }
            }
            if event.is_terminal() {
                break;
            }
        }
    }
    anyhow::ensure!(!out.is_empty(), "the relay measurement received no chunks");
    Ok(out)
}

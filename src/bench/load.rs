//! `codecite bench --load`: concurrent SSE clients over loopback HTTP against a served
//! instance, the way users reach it. The bench starts `codecite serve` as a child process on
//! the bundled corpus (ingested on its first start), with an operator key and rate limits
//! off, then measures two phases:
//!
//! - extractive: a few clients asking back to back, for answers per second;
//! - LLM: many clients holding streams at once against a local OpenAI-compatible stub that
//!   streams at a set token rate, for time to `sources`, gaps between `delta`s and errors.
//!
//! Every figure is over the wire: from the request leaving this process to the event
//! arriving. The loops are bounded in count and in time, and the child is stopped at the end.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;

use super::percentile;

/// Settings of the load phases (from `bench --load …`).
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Streams held at once in the LLM phase.
    pub streams: usize,
    /// Seconds the LLM phase lasts.
    pub seconds: u64,
    /// Tokens per second the stub LLM streams, per stream.
    pub token_rate: u64,
    /// Clients asking back to back in the extractive phase, and its seconds.
    pub extractive_clients: usize,
    pub extractive_seconds: u64,
}

#[derive(Debug, Default)]
struct Phase {
    answers: usize,
    errors: usize,
    error_samples: Vec<String>,
    to_sources_ms: Vec<f64>,
    gaps_ms: Vec<f64>,
    seconds: f64,
    rss_mb: f64,
}

impl Phase {
    fn merge(&mut self, other: Phase) {
        self.answers += other.answers;
        self.errors += other.errors;
        if self.error_samples.len() < 3 {
            self.error_samples.extend(other.error_samples.into_iter().take(3));
        }
        self.to_sources_ms.extend(other.to_sources_ms);
        self.gaps_ms.extend(other.gaps_ms);
    }

    fn print(&mut self, label: &str) {
        self.to_sources_ms.sort_by(|a, b| a.total_cmp(b));
        self.gaps_ms.sort_by(|a, b| a.total_cmp(b));
        let p = |v: &Vec<f64>, q: f64| if v.is_empty() { f64::NAN } else { percentile(v, q) };
        println!(
            "| {label}: request → `sources` over the wire | p50 {:.2} ms, p99 {:.2} ms |",
            p(&self.to_sources_ms, 0.5),
            p(&self.to_sources_ms, 0.99)
        );
        if !self.gaps_ms.is_empty() {
            println!("| {label}: gap between `delta`s | p50 {:.2} ms, p99 {:.2} ms |", p(&self.gaps_ms, 0.5), p(&self.gaps_ms, 0.99));
        }
        println!(
            "| {label}: answers, errors | {} answers in {:.0} s ({:.0}/s), {} errors{} |",
            self.answers,
            self.seconds,
            self.answers as f64 / self.seconds.max(0.001),
            self.errors,
            if self.error_samples.is_empty() { String::new() } else { format!(" (e.g. {})", self.error_samples.join("; ")) }
        );
        println!("| {label}: server RSS at the end | {:.0} MB |", self.rss_mb);
    }
}

/// A `codecite serve` child, stopped when dropped.
struct Served {
    child: std::process::Child,
    base: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Served {
    fn rss_mb(&self) -> f64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS")).and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok()))
            .map(|kb| kb / 1024.0)
            .unwrap_or(f64::NAN)
    }
}

async fn serve(exe: &Path, config: &Path, data_dir: &Path, corpus: &Path, llm: Option<&str>) -> anyhow::Result<Served> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("--config").arg(config).arg("serve").arg("--data-dir").arg(data_dir).arg("--corpus").arg(corpus);
    cmd.arg("--addr").arg(format!("127.0.0.1:{port}")).env("RUST_LOG", "error");
    if let Some(base) = llm {
        cmd.env("CODECITE_LLM_BASE_URL", base).env("CODECITE_LLM_MODEL", "stub");
    }
    let served = Served { child: cmd.stderr(std::process::Stdio::inherit()).spawn().context("starting codecite serve")?, base: format!("http://127.0.0.1:{port}") };
    let client = reqwest::Client::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(600) {
        if let Ok(r) = client.get(format!("{}/readyz", served.base)).send().await {
            if r.status().is_success() {
                return Ok(served);
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    anyhow::bail!("codecite serve did not become ready in 10 minutes")
}

/// One client asking `questions` in turn from `start` until `until`.
async fn client(client: reqwest::Client, base: String, key: String, questions: Arc<Vec<String>>, offset: usize, start: Duration, until: Instant) -> Phase {
    let mut phase = Phase::default();
    tokio::time::sleep(start).await;
    let mut i = offset;
    while Instant::now() < until {
        let question = &questions[i % questions.len()];
        i += 1;
        let sent = Instant::now();
        let response = client
            .post(format!("{base}/api/chat"))
            .bearer_auth(&key)
            .json(&serde_json::json!({ "question": question }))
            .send()
            .await;
        let response = match response {
            Ok(r) if r.status().is_success() => r,
            Ok(r) => {
                phase.errors += 1;
                phase.error_samples.push(format!("HTTP {}", r.status()));
                continue;
            }
            Err(e) => {
                phase.errors += 1;
                phase.error_samples.push(e.to_string());
                continue;
            }
        };
        let mut bytes = response.bytes_stream();
        let mut buffer = String::new();
        let mut last_delta: Option<Instant> = None;
        let mut ended = false;
        while let Some(chunk) = bytes.next().await {
            let Ok(chunk) = chunk else { break };
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let block: String = buffer.drain(..end + 2).collect();
                let now = Instant::now();
                if block.starts_with("event: sources") {
                    phase.to_sources_ms.push((now - sent).as_secs_f64() * 1000.0);
                } else if block.starts_with("event: delta") {
                    if let Some(last) = last_delta {
                        phase.gaps_ms.push((now - last).as_secs_f64() * 1000.0);
                    }
                    last_delta = Some(now);
                } else if block.starts_with("event: done") {
                    phase.answers += 1;
                    ended = true;
                } else if block.starts_with("event: error") {
                    phase.errors += 1;
                    phase.error_samples.push(block.lines().nth(1).unwrap_or_default().to_string());
                    ended = true;
                }
            }
        }
        if !ended {
            phase.errors += 1;
            phase.error_samples.push("a stream ended without done or error".into());
        }
    }
    phase
}

/// `clients` clients for `seconds`; their first questions are spread over `ramp`, as real
/// users' are, rather than all sent in the same millisecond.
async fn run_phase(served: &Served, key: &str, questions: &Arc<Vec<String>>, clients: usize, seconds: u64, ramp: Duration) -> Phase {
    let http = reqwest::Client::builder().pool_max_idle_per_host(clients).tcp_nodelay(true).build().expect("client");
    let started = Instant::now();
    let until = started + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let start = ramp.mul_f64(c as f64 / clients.max(1) as f64);
            tokio::spawn(client(http.clone(), served.base.clone(), key.to_string(), questions.clone(), c * 7, start, until))
        })
        .collect();
    let mut phase = Phase::default();
    for t in tasks {
        if let Ok(p) = t.await {
            phase.merge(p);
        }
    }
    phase.seconds = started.elapsed().as_secs_f64();
    phase.rss_mb = served.rss_mb();
    phase
}

pub async fn run(config_file: Option<&Path>, corpus: PathBuf, data_dir: &Path, queries: Vec<String>, options: LoadOptions) -> anyhow::Result<()> {
    let exe = std::env::current_exe()?;
    // The served instance: rate limits off (every client is 127.0.0.1), room for the streams.
    let config = data_dir.join("load.toml");
    let mut text = match config_file {
        Some(f) => std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?,
        None => String::new(),
    };
    text.push_str(&format!(
        "\n[rate_limits]\nper_ip_per_minute = 0\nauth_per_ip_per_minute = 0\nper_account_per_minute = 0\n[chat]\nmax_concurrent_answers = {}\n[limits]\nmax_in_flight_requests = {}\n",
        options.streams.max(options.extractive_clients) * 2,
        options.streams.max(options.extractive_clients) * 4
    ));
    std::fs::write(&config, text)?;
    let served_dir = data_dir.join("served");
    let key_out = std::process::Command::new(&exe)
        .arg("--config")
        .arg(&config)
        .args(["account", "create", "--plan", "admin", "--email"])
        .arg(format!("load-{}@codecite.invalid", uuid::Uuid::new_v4().simple()))
        .env("CODECITE_DATA_DIR", &served_dir)
        .output()
        .context("creating the bench account")?;
    anyhow::ensure!(key_out.status.success(), "account create failed: {}", String::from_utf8_lossy(&key_out.stderr));
    let key = String::from_utf8_lossy(&key_out.stdout).lines().last().unwrap_or_default().trim().to_string();
    let questions: Arc<Vec<String>> = Arc::new(queries.iter().map(|q| format!("What is {q}?")).collect());

    eprintln!("bench --load: serving the bundled corpus (the first start ingests it)");
    let served = serve(&exe, &config, &served_dir, &corpus, None).await?;
    let mut extractive = run_phase(&served, &key, &questions, options.extractive_clients, options.extractive_seconds, Duration::ZERO).await;
    drop(served);

    const TOKENS: usize = 60;
    let gap = Duration::from_secs_f64(1.0 / options.token_rate.max(1) as f64);
    let stub = super::chat::stub_llm(TOKENS, gap, |i| if i == 0 { "E11.9 ".into() } else { format!("w{i} ") }).await?;
    let served = serve(&exe, &config, &served_dir, &corpus, Some(&stub)).await?;
    eprintln!("bench --load: {} streams for {} s at {} tokens/s", options.streams, options.seconds, options.token_rate);
    // Spread the first questions over one answer's length.
    let ramp = Duration::from_secs_f64(TOKENS as f64 / options.token_rate.max(1) as f64);
    let mut llm = run_phase(&served, &key, &questions, options.streams, options.seconds, ramp).await;
    drop(served);

    println!("| measure (over loopback HTTP, client and server on this machine) | value |");
    println!("|---|---|");
    extractive.print(&format!("extractive, {} clients back to back", options.extractive_clients));
    llm.print(&format!("LLM stub at {} tokens/s, {} streams held", options.token_rate, options.streams));
    Ok(())
}

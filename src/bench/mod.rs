//! `codecite bench`: cold ingest of the bundled corpus into a fresh data dir, then hybrid
//! search latency over generated queries in a fresh process (as `serve` would run after a
//! restart), with that process's resident memory; then chat latency and what metering adds
//! to it.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use serde::Serialize;

use crate::app::Services;
use crate::config::Config;
use crate::ingest::{load_corpus, IngestOptions};
use crate::retrieval::{SearchMode, SearchRequest};

mod chat;
mod load;
mod metering;

#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// Data dir to build in (default: a new temporary folder, removed afterwards).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Corpus to ingest (default: the bundled corpus).
    #[arg(long)]
    pub corpus: Option<PathBuf>,
    /// Number of timed queries.
    #[arg(long, default_value_t = 2000)]
    pub queries: usize,
    /// Only measure the configured embedder's throughput on this many corpus texts.
    #[arg(long)]
    pub embed_texts: Option<usize>,
    /// Reuse an already ingested data dir and time only the searches, reading the queries
    /// (one per line) from this file.
    #[arg(long)]
    pub search_only: Option<PathBuf>,
    /// Load test over loopback HTTP: serve the bundled corpus in a child process and drive
    /// concurrent SSE clients against it (extractive, then a stub LLM at --token-rate).
    #[arg(long)]
    pub load: bool,
    /// Streams held at once in the load test's LLM phase.
    #[arg(long, default_value_t = 200)]
    pub streams: usize,
    /// Seconds of the load test's LLM phase.
    #[arg(long, default_value_t = 60)]
    pub seconds: u64,
    /// Tokens per second the stub LLM streams, per stream.
    #[arg(long, default_value_t = 50)]
    pub token_rate: u64,
    /// Clients asking back to back in the load test's extractive phase, and its seconds.
    #[arg(long, default_value_t = 8)]
    pub extractive_clients: usize,
    #[arg(long, default_value_t = 20)]
    pub extractive_seconds: u64,
}

/// What the child process measures: searches, then chat.
#[derive(Debug, Serialize, serde::Deserialize)]
pub struct ServingReport {
    pub searches: Vec<SearchReport>,
    pub chat: chat::ChatReport,
    pub metering: metering::MeteringReport,
}

#[derive(Debug, Serialize, serde::Deserialize)]
pub struct SearchReport {
    pub queries: usize,
    pub mode: String,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub mean_ms: f64,
    pub queries_per_sec: f64,
    pub rss_mb: f64,
    pub peak_rss_mb: f64,
}

pub async fn run(config_file: Option<&Path>, args: BenchArgs) -> anyhow::Result<()> {
    let mut config = Config::load(config_file)?;
    if let Some(c) = &args.corpus {
        config.corpus_dir = c.clone();
    }
    let temp = tempfile::Builder::new().prefix("codecite-bench").tempdir()?;
    config.data_dir = args.data_dir.clone().unwrap_or_else(|| temp.path().to_path_buf());

    if let Some(n) = args.embed_texts {
        return embed_throughput(&config, n).await;
    }
    if args.load {
        let options = load::LoadOptions {
            streams: args.streams,
            seconds: args.seconds,
            token_rate: args.token_rate,
            extractive_clients: args.extractive_clients,
            extractive_seconds: args.extractive_seconds,
        };
        let queries = bench_queries(&config.corpus_dir, 500)?;
        println!("machine: {}\n", machine());
        return load::run(config_file, config.corpus_dir.clone(), &config.data_dir, queries, options).await;
    }
    if let Some(file) = &args.search_only {
        let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        let queries: Vec<String> = text.lines().map(str::to_string).collect();
        let services = Services::open(&config).await?;
        anyhow::ensure!(services.store_ready().await?, "the data dir holds no ingested store");
        let searches = search_phase(&services, &queries).await?;
        let chat = chat::chat_phase(&services, &queries).await?;
        let metering = metering::metering_phase(&services, &queries).await?;
        let report = ServingReport { searches, chat, metering };
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }

    eprintln!("bench: cold ingest of {} into {}", config.corpus_dir.display(), config.data_dir.display());
    let started = Instant::now();
    let services = Services::open(&config).await?;
    let open_s = started.elapsed().as_secs_f64();
    let summary = services.ingest(&IngestOptions { reset: true, progress: true, ..Default::default() }).await?;
    let ingest_peak = peak_rss_mb();
    drop(services);
    let chunks_per_s = summary.chunks as f64 / summary.seconds;

    // Searches run in a child process so that its memory is what a serving process holds
    // (the queries are made here, so the child never loads the corpus).
    let queries_file = temp.path().join("queries.txt");
    std::fs::write(&queries_file, bench_queries(&config.corpus_dir, args.queries)?.join("\n"))?;
    let exe = std::env::current_exe()?;
    let mut cmd = std::process::Command::new(exe);
    if let Some(f) = config_file {
        cmd.arg("--config").arg(f);
    }
    cmd.arg("bench").arg("--search-only").arg(&queries_file);
    cmd.arg("--data-dir").arg(&config.data_dir).arg("--corpus").arg(&config.corpus_dir);
    let out = cmd.stderr(std::process::Stdio::inherit()).output().context("running the search phase")?;
    anyhow::ensure!(out.status.success(), "search phase failed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let serving: ServingReport = stdout
        .lines()
        .find_map(|l| serde_json::from_str(l).ok())
        .with_context(|| format!("the search phase printed no report: {stdout}"))?;
    let reports = &serving.searches;

    println!("machine: {}", machine());
    println!();
    println!("| measure | value |");
    println!("|---|---|");
    println!("| corpus | {} code records, {} guideline notes, {} chunks |", summary.records, summary.notes, summary.chunks);
    println!("| cold ingest (load, chunk, embed, write vectors, code tables and reference tables) | {:.1} s ({chunks_per_s:.0} chunks/s) |", summary.seconds);
    for (phase, seconds) in summary.phases.rows() {
        println!("| ingest phase: {phase} | {seconds:.1} s |");
    }
    println!("| index build (HNSW), from the last vector write, beside the SQL writes | {:.1} s |", summary.optimize_seconds);
    println!("| cold ingest with the index build (ready to serve) | {:.1} s |", summary.total_seconds);
    println!("| open stores and model | {open_s:.2} s |");
    println!("| ingest peak RSS | {ingest_peak:.0} MB |");
    for r in reports {
        println!(
            "| {} search, {} queries | p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms ({:.0} queries/s, 1 client) |",
            r.mode, r.queries, r.p50_ms, r.p95_ms, r.p99_ms, r.queries_per_sec
        );
    }
    if let Some(r) = reports.first() {
        println!("| serving RSS after the searches | {:.0} MB (peak {:.0} MB) |", r.rss_mb, r.peak_rss_mb);
    }
    serving.chat.print();
    serving.metering.print();
    Ok(())
}

/// Texts per second of the configured embedder on code titles from the corpus.
async fn embed_throughput(config: &Config, n: usize) -> anyhow::Result<()> {
    let corpus = load_corpus(&config.corpus_dir)?;
    let texts: Vec<String> = corpus.records.iter().step_by((corpus.records.len() / n.max(1)).max(1)).take(n).map(|r| r.title.clone()).collect();
    let embedder = crate::embed::build(&config.embed, &config.data_dir.join("embed-cache")).await?;
    // The cache would measure itself, not the model: embed through a fresh cache dir.
    let started = Instant::now();
    let vectors = embedder.embed(&texts).await?;
    let secs = started.elapsed().as_secs_f64();
    println!("| embedder {} | {} texts in {secs:.2} s: {:.0} texts/s |", embedder.id(), vectors.len(), vectors.len() as f64 / secs);
    Ok(())
}

/// Opens the ingested store as `serve` would and times searches, hybrid then each single mode.
async fn search_phase(services: &Services, queries: &[String]) -> anyhow::Result<Vec<SearchReport>> {
    anyhow::ensure!(!queries.is_empty(), "no queries to time");
    let mut reports = vec![];
    for mode in [SearchMode::Hybrid, SearchMode::Dense, SearchMode::Bm25] {
        for q in queries.iter().take(50) {
            services.retriever.search(&SearchRequest { query: q.clone(), limit: Some(10), system: None, mode, ..Default::default() }).await?;
        }
        let mut times = Vec::with_capacity(queries.len());
        let started = Instant::now();
        for q in queries {
            let t = Instant::now();
            services.retriever.search(&SearchRequest { query: q.clone(), limit: Some(10), system: None, mode, ..Default::default() }).await?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        let total = started.elapsed().as_secs_f64();
        times.sort_by(|a, b| a.partial_cmp(b).expect("finite"));
        let pct = |p: f64| percentile(&times, p);
        reports.push(SearchReport {
            queries: times.len(),
            mode: format!("{mode:?}").to_lowercase(),
            p50_ms: pct(0.50),
            p95_ms: pct(0.95),
            p99_ms: pct(0.99),
            mean_ms: times.iter().sum::<f64>() / times.len() as f64,
            queries_per_sec: times.len() as f64 / total,
            rss_mb: rss_mb("VmRSS"),
            peak_rss_mb: rss_mb("VmHWM"),
        });
    }
    // Hybrid first: its RSS figure is the one reported as serving memory.
    Ok(reports)
}

/// Varied queries from the corpus itself: titles cut to a few words, lower-cased (how
/// people type), bare codes with and without the ICD dot, and lay phrases.
pub fn bench_queries(corpus_dir: &Path, n: usize) -> anyhow::Result<Vec<String>> {
    let corpus = load_corpus(corpus_dir)?;
    anyhow::ensure!(!corpus.records.is_empty(), "the corpus has no code records");
    let lay = [
        "sugar diabetes", "high blood pressure", "lap chole", "strep throat", "broken hip", "knee replacement",
        "flu shot", "heart attack", "afib", "chf exacerbation", "pink eye", "ear infection in a child",
        "office visit established patient", "colonoscopy screening", "ketorolac injection", "wheelchair",
    ];
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let r = &corpus.records[(next() % corpus.records.len() as u64) as usize];
        let q = match out.len() % 5 {
            0 => r.code.clone(),
            1 => r.code.replace('.', ""),
            2 => lay[(next() % lay.len() as u64) as usize].to_string(),
            _ => {
                let words: Vec<&str> = r.title.split_whitespace().collect();
                let take = 2 + (next() % 4) as usize;
                words.iter().take(take).copied().collect::<Vec<_>>().join(" ").to_lowercase()
            }
        };
        out.push(q);
    }
    Ok(out)
}

/// Percentile `p` (0–1) of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

fn rss_mb(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse::<f64>().ok()))
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

fn peak_rss_mb() -> f64 {
    rss_mb("VmHWM")
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string()))
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    format!("{cores} cores, {cpu}")
}

//! The `codecite` command: serve | ingest | search | ask | account | bench | eval.

mod cli;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use axum::serve::ListenerExt;
use clap::{Args, Parser, Subcommand};
use codecite::app::{prepare, AppState, Services};
use codecite::codes::CodeSystem;
use codecite::config::Config;
use codecite::ingest::IngestOptions;
use codecite::retrieval::{SearchMode, SearchRequest};

// A request allocates many small, short-lived values (tokens, candidates, payload fields):
// under the system allocator a sixth of a search's samples were malloc and free.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "codecite", version, about = "Cited, verified answers for US medical coders")]
struct Cli {
    /// Config file (default: ./codecite.toml when it exists).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Log lines as text or as JSON objects (one per line), on stderr.
    #[arg(long, global = true, value_enum, default_value = "text", env = "CODECITE_LOG_FORMAT")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Args)]
struct DataArgs {
    /// Where the vector shard, the SQLite file and caches live.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Corpus folder (codes/, guidelines/, lexicon/).
    #[arg(long)]
    corpus: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API; the first start ingests the bundled corpus.
    Serve {
        #[command(flatten)]
        data: DataArgs,
        /// Address to listen on.
        #[arg(long)]
        addr: Option<String>,
    },
    /// Ingest (or update) the corpus; unchanged chunks are not rewritten.
    Ingest {
        #[command(flatten)]
        data: DataArgs,
        /// Drop the vector store and rebuild it (after changing the embedder).
        #[arg(long)]
        reset: bool,
        /// Load licensed or official files of this format into the data dir's overlay first.
        #[arg(long, requires = "files")]
        format: Option<codecite::ingest::loaders::Format>,
        /// The files for --format.
        files: Vec<PathBuf>,
    },
    /// Search from the command line, with the same ranking as /api/search.
    Search {
        #[command(flatten)]
        data: DataArgs,
        #[arg(long, default_value_t = 10)]
        limit: usize,
        /// CPT, HCPCS, ICD10CM, MODIFIER or GUIDELINE.
        #[arg(long)]
        system: Option<CodeSystem>,
        #[arg(long, default_value = "hybrid")]
        mode: SearchMode,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[arg(required = true, num_args = 1..)]
        query: Vec<String>,
    },
    /// Answer one question in the terminal, in process and unmetered.
    Ask {
        #[command(flatten)]
        data: DataArgs,
        #[arg(required = true, num_args = 1..)]
        question: Vec<String>,
    },
    /// Accounts, plans and usage: create, grant, key, verify-email, show, list, usage.
    Account {
        #[command(flatten)]
        data: DataArgs,
        #[command(subcommand)]
        command: cli::account::AccountCommand,
    },
    /// Measure cold ingest, search latency and serving memory on the bundled corpus.
    Bench(codecite::bench::BenchArgs),
    /// Score question sets (retrieval and answers), diff reports, make the protocol set.
    Eval(codecite::eval::cli::EvalArgs),
}

fn load_config(cli_config: Option<&PathBuf>, data: &DataArgs) -> anyhow::Result<Config> {
    let mut config = Config::load(cli_config.map(|p| p.as_path()))?;
    if let Some(d) = &data.data_dir {
        config.data_dir = d.clone();
    }
    if let Some(c) = &data.corpus {
        config.corpus_dir = c.clone();
    }
    Ok(config)
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,sqlx=warn,qdrant_edge=error".into());
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().with_current_span(true).init(),
    }
    if let Err(e) = run(cli).await {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve { data, addr } => {
            let mut config = load_config(cli.config.as_ref(), &data)?;
            if let Some(a) = addr {
                config.addr = a;
            }
            serve(config).await
        }
        Command::Ingest { data, reset, format, files } => {
            let config = load_config(cli.config.as_ref(), &data)?;
            if let Some(format) = format {
                // Parse every file before writing any, so a bad line leaves nothing half loaded.
                let mut loaded = vec![];
                for f in &files {
                    loaded.push((f, codecite::ingest::loaders::load(format, f)?));
                }
                for (f, l) in &loaded {
                    let target = codecite::ingest::loaders::write_overlay(&config.overlay_dir(), format, f, l)?;
                    eprintln!("loaded {} into {}", f.display(), target.display());
                }
            }
            let services = Services::open(&config).await?;
            let options = IngestOptions { reset, progress: true, ..Default::default() };
            let summary = services.ingest(&options).await?;
            println!("{summary}");
            Ok(())
        }
        Command::Search { data, limit, system, mode, json, query } => {
            let config = load_config(cli.config.as_ref(), &data)?;
            let services = Services::open(&config).await?;
            if !services.store_ready().await? {
                anyhow::bail!("the store in {} is empty; run `codecite ingest` first", config.data_dir.display());
            }
            let request = SearchRequest { query: query.join(" "), limit: Some(limit), system, mode, ..Default::default() };
            let hits = services.retriever.search(&request).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "hits": hits }))?);
            } else {
                for (i, h) in hits.iter().enumerate() {
                    let code = h.code.as_deref().unwrap_or("-");
                    println!("{:>2}. {:<9} {:<9} {:.4}  {}", i + 1, h.system.as_str(), code, h.score, h.title);
                }
            }
            Ok(())
        }
        Command::Ask { data, question } => {
            let config = load_config(cli.config.as_ref(), &data)?;
            cli::ask::run(&config, question.join(" ")).await
        }
        Command::Account { data, command } => {
            let config = load_config(cli.config.as_ref(), &data)?;
            cli::account::run(&config, command).await
        }
        Command::Bench(args) => codecite::bench::run(cli.config.as_deref(), args).await,
        Command::Eval(args) => codecite::eval::cli::main(cli.config.as_deref(), args).await,
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let services = Arc::new(Services::open(&config).await?);
    // Fail before listening when the store was built by another embedder.
    services.store_ready().await?;
    let state = AppState::new(services);
    let addr: SocketAddr = config.addr.parse().with_context(|| format!("--addr {:?} is not HOST:PORT", config.addr))?;
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
    tracing::info!("listening on http://{}", listener.local_addr()?);
    // Answers stream in small SSE frames: send each at once rather than waiting to coalesce.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("TCP_NODELAY not set: {e}");
        }
    });
    let preparing = state.clone();
    tokio::spawn(async move {
        match prepare(&preparing, true).await {
            Ok(Some(summary)) => tracing::info!("ingested the bundled corpus: {summary}; ready"),
            Ok(None) => tracing::info!("store opened; ready"),
            Err(e) => {
                eprintln!("error: ingest failed: {e:#}");
                std::process::exit(1);
            }
        }
    });
    let email = state.services.email.clone();
    let app = codecite::http::router(state);
    // The peer address feeds the per-address rate limit.
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    // Email answers already admitted are sent (and their units settled) before the process ends.
    email.idle().await;
    Ok(())
}

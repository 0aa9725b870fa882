//! `codecite eval …`: run question sets, diff reports, make the protocol set.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand};

use super::{diff, load_cases, official_descriptions, protocol_cases, run, EvalOptions, Gate, HttpTarget, InProcessTarget, Report, Target};
use crate::app::Services;
use crate::config::Config;
use crate::ingest::IngestOptions;
use crate::retrieval::SearchMode;

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct EvalArgs {
    #[command(subcommand)]
    pub command: Option<EvalCommand>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Subcommand, Debug)]
pub enum EvalCommand {
    /// Show what moved between two JSON reports, overall and case by case.
    Diff { before: PathBuf, after: PathBuf },
    /// Write the protocol set: sampled codes whose official descriptions are the questions.
    MakeProtocol {
        #[arg(long, default_value_t = 2024)]
        seed: u64,
        #[arg(long, default_value_t = 600)]
        icd: usize,
        #[arg(long, default_value_t = 400)]
        hcpcs: usize,
        #[arg(long, default_value = "evals/protocol.jsonl")]
        out: PathBuf,
        #[arg(long)]
        corpus: Option<PathBuf>,
    },
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Question sets (JSONL); their cases are scored together.
    pub files: Vec<PathBuf>,
    /// Evaluate a running server instead of the in-process pipeline.
    #[arg(long)]
    pub url: Option<String>,
    /// API key for a metered server (`--url`); each chat case spends one question.
    #[arg(long, env = "CODECITE_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    #[arg(long, default_value = "hybrid")]
    pub mode: SearchMode,
    /// Depth for the extra recall@k column.
    #[arg(long, default_value_t = 10)]
    pub k: usize,
    /// JSON report path; the Markdown report is written beside it.
    #[arg(long, default_value = "eval-report.json")]
    pub out: PathBuf,
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    #[arg(long)]
    pub corpus: Option<PathBuf>,
    /// Score retrieval only (no chat answers).
    #[arg(long)]
    pub no_answers: bool,
    /// Fail (exit 1) when the report misses these thresholds (TOML).
    #[arg(long)]
    pub gate: Option<PathBuf>,
    /// Score faithfulness with the configured LLM as judge (needs `llm.base_url`).
    #[arg(long)]
    pub judge: bool,
    /// Judge runs per answer, averaged.
    #[arg(long, default_value_t = 3)]
    pub judge_runs: usize,
}

pub async fn main(config_file: Option<&Path>, args: EvalArgs) -> anyhow::Result<()> {
    match args.command {
        Some(EvalCommand::Diff { before, after }) => {
            let read = |p: &Path| -> anyhow::Result<Report> {
                serde_json::from_str(&std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?)
                    .with_context(|| format!("{} is not an eval report", p.display()))
            };
            print!("{}", diff(&read(&before)?, &read(&after)?));
            Ok(())
        }
        Some(EvalCommand::MakeProtocol { seed, icd, hcpcs, out, corpus }) => {
            let corpus = corpus.unwrap_or_else(crate::config::default_corpus_dir);
            let cases = protocol_cases(&official_descriptions(&corpus.join("raw"))?, seed, icd, hcpcs);
            let lines: Vec<String> = cases.iter().map(serde_json::to_string).collect::<Result<_, _>>()?;
            std::fs::write(&out, lines.join("\n") + "\n").with_context(|| format!("writing {}", out.display()))?;
            println!("wrote {} cases to {}", cases.len(), out.display());
            Ok(())
        }
        None => run_sets(config_file, args.run).await,
    }
}

async fn run_sets(config_file: Option<&Path>, args: RunArgs) -> anyhow::Result<()> {
    anyhow::ensure!(!args.files.is_empty(), "name at least one question set, e.g. evals/questions.jsonl");
    let mut cases = vec![];
    for f in &args.files {
        cases.extend(load_cases(f)?);
    }
    let gate: Option<Gate> = args.gate.as_deref().map(Gate::load).transpose()?;
    let config = {
        let mut c = Config::load(config_file)?;
        if let Some(d) = &args.data_dir {
            c.data_dir = d.clone();
        }
        if let Some(corpus) = &args.corpus {
            c.corpus_dir = corpus.clone();
        }
        c
    };
    let judge = match args.judge {
        false => None,
        true => Some(Arc::new(
            super::Judge::new(&config.llm, args.judge_runs)
                .context("--judge needs an LLM: set llm.base_url (CODECITE_LLM_BASE_URL)")?,
        )),
    };
    let options = EvalOptions { mode: args.mode, k: args.k, answers: !args.no_answers, judge };
    let mut run_info = BTreeMap::from([
        ("sets".to_string(), args.files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(", ")),
        ("mode".to_string(), format!("{:?}", args.mode).to_lowercase()),
    ]);
    let target: Box<dyn Target> = match &args.url {
        Some(url) => {
            run_info.insert("target".into(), url.clone());
            Box::new(HttpTarget::new(url, args.api_key.as_deref()))
        }
        None => {
            let services = Arc::new(Services::open(&config).await?);
            if !services.store_ready().await? {
                eprintln!("eval: the store is empty; ingesting {} first", config.corpus_dir.display());
                services.ingest(&IngestOptions { progress: true, ..Default::default() }).await?;
            }
            run_info.insert("target".into(), "in-process".into());
            run_info.insert("generator".into(), services.chat.generator_name().into());
            run_info.insert("embedder".into(), services.embedder.id().into());
            Box::new(InProcessTarget { services })
        }
    };
    let results = run(target.as_ref(), &cases, &options).await?;
    let report = Report::new(run_info, results);
    println!("{}", report.table());
    std::fs::write(&args.out, serde_json::to_string_pretty(&report)?).with_context(|| format!("writing {}", args.out.display()))?;
    let md = args.out.with_extension("md");
    std::fs::write(&md, report.markdown()).with_context(|| format!("writing {}", md.display()))?;
    eprintln!("eval: wrote {} and {}", args.out.display(), md.display());
    if let Some(gate) = gate {
        let misses = gate.check(&report);
        if !misses.is_empty() {
            for m in &misses {
                eprintln!("gate: {m}");
            }
            anyhow::bail!("the evaluation gate failed: {} threshold(s) missed", misses.len());
        }
        eprintln!("gate: every threshold met");
    }
    Ok(())
}

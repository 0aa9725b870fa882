//! `codecite ask "…"`: one answer in the terminal, in process and unmetered (the operator's
//! own tool). The answer streams to stdout; sources and citations follow on stderr.

use std::io::Write;

use codecite::app::{prepare, AppState, Services};
use codecite::chat::{ChatEvent, ChatRequest};
use codecite::config::Config;

pub async fn run(config: &Config, question: String) -> anyhow::Result<()> {
    let services = std::sync::Arc::new(Services::open(config).await?);
    let state = AppState::new(services.clone());
    prepare(&state, true).await?;
    let mut rx = services.chat.start(ChatRequest::new(question), None).await?;
    let mut out = std::io::stdout();
    let mut sources = vec![];
    let mut citations = vec![];
    while let Some(event) = rx.recv().await {
        match event {
            ChatEvent::Meta(_) => {}
            ChatEvent::Sources(s) => sources = s,
            ChatEvent::Delta { text } => {
                write!(out, "{text}")?;
                out.flush()?;
            }
            ChatEvent::Citation(c) => citations.push(c),
            ChatEvent::Done(done) => {
                writeln!(out)?;
                eprintln!("\nsources:");
                for s in &sources {
                    eprintln!("  [{}] {:<9} {:<9} {}", s.n, s.system.as_str(), s.code.as_deref().unwrap_or("-"), s.title);
                }
                for c in &citations {
                    let flag = match (c.verified, c.billable) {
                        (false, _) => " UNVERIFIED".to_string(),
                        (true, false) if c.billable_codes.is_empty() => " not billable".to_string(),
                        (true, false) => format!(" not billable: use one of {}", c.billable_codes.join(", ")),
                        (true, true) => String::new(),
                    };
                    eprintln!("  cites {} ({}){flag}", c.code, c.system.as_str());
                }
                eprintln!("  {} ms", done.latency_ms);
            }
            ChatEvent::Error(e) => anyhow::bail!("the answer failed: {} ({})", e.message, e.code),
        }
    }
    Ok(())
}

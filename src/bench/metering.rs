//! What metering adds to an answer: request → `sources` with and without a quota
//! reservation (identify the API key, reserve, then answer and charge), interleaved so that
//! both see the same warm caches, and the metering steps alone. In process, on whichever
//! SQL database the config names (SQLite by default, PostgreSQL with `DATABASE_URL`).

use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::percentile;
use crate::app::Services;
use crate::chat::ChatRequest;
use crate::metering::{Meter, Reservation};

#[derive(Debug, Serialize, Deserialize)]
pub struct MeteringReport {
    pub database: String,
    pub questions: usize,
    pub unmetered_sources_p50_ms: f64,
    pub metered_sources_p50_ms: f64,
    pub metered_sources_p99_ms: f64,
    pub steps_p50_ms: f64,
    pub steps_p99_ms: f64,
}

impl MeteringReport {
    pub fn print(&self) {
        println!(
            "| metering on {}: request → `sources`, {} questions each way | metered p50 {:.2} ms (p99 {:.2} ms), unmetered p50 {:.2} ms: +{:.2} ms |",
            self.database,
            self.questions,
            self.metered_sources_p50_ms,
            self.metered_sources_p99_ms,
            self.unmetered_sources_p50_ms,
            self.metered_sources_p50_ms - self.unmetered_sources_p50_ms
        );
        println!(
            "| metering on {}: identify key + reserve + charge alone | p50 {:.2} ms, p99 {:.2} ms |",
            self.database, self.steps_p50_ms, self.steps_p99_ms
        );
    }
}

/// Runs one question, metered when `key` is given; returns ms to `sources`.
async fn to_sources(services: &Services, question: &str, key: Option<&str>) -> anyhow::Result<f64> {
    let started = Instant::now();
    let (request, reservation) = match key {
        Some(key) => {
            let caller = services.metering.identify(key).await?.ok_or_else(|| anyhow::anyhow!("the bench key is unknown"))?;
            let reservation = reserve(services, &caller.account).await?;
            let request = ChatRequest { account_id: Some(caller.account.id.clone()), ..ChatRequest::new(question) };
            (request, Some(reservation))
        }
        None => (ChatRequest::new(question), None),
    };
    services.chat.check(&request).await?;
    let (sources, _) = super::chat::timed_from(started, &services.chat, request, reservation).await?;
    Ok(sources)
}

async fn reserve(services: &Services, account: &crate::metering::Account) -> anyhow::Result<Reservation> {
    services
        .metering
        .reserve(account, Meter::Questions, None, "bench")
        .await?
        .map_err(|e| anyhow::anyhow!("the bench account ran out: {}", e.message()))
}

pub async fn metering_phase(services: &Services, questions: &[String]) -> anyhow::Result<MeteringReport> {
    let metering = &services.metering;
    let email = format!("bench-{}@codecite.invalid", uuid::Uuid::new_v4().simple());
    // A counted plan with room, so that every reservation takes the conditional-update path.
    let account = metering.create_account(&email, "pro").await?;
    metering.grant(&account, Meter::Questions, 1_000_000).await?;
    let key = metering.create_key(&account, "bench").await?.key;

    let questions: Vec<&String> = questions.iter().take(500).collect();
    for q in questions.iter().take(20) {
        to_sources(services, q, Some(&key)).await?;
        to_sources(services, q, None).await?;
    }
    let (mut metered, mut unmetered) = (vec![], vec![]);
    for q in &questions {
        metered.push(to_sources(services, q, Some(&key)).await?);
        unmetered.push(to_sources(services, q, None).await?);
    }
    let mut steps = vec![];
    for _ in 0..questions.len() {
        let started = Instant::now();
        let caller = metering.identify(&key).await?.ok_or_else(|| anyhow::anyhow!("the bench key is unknown"))?;
        let reservation = reserve(services, &caller.account).await?;
        reservation.charge().await?;
        steps.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    for v in [&mut metered, &mut unmetered, &mut steps] {
        v.sort_by(|a, b| a.total_cmp(b));
    }
    let database = match &services.config.database_url {
        Some(url) if url.starts_with("postgres") => "PostgreSQL",
        _ => "SQLite",
    };
    Ok(MeteringReport {
        database: database.into(),
        questions: questions.len(),
        unmetered_sources_p50_ms: percentile(&unmetered, 0.5),
        metered_sources_p50_ms: percentile(&metered, 0.5),
        metered_sources_p99_ms: percentile(&metered, 0.99),
        steps_p50_ms: percentile(&steps, 0.5),
        steps_p99_ms: percentile(&steps, 0.99),
    })
}

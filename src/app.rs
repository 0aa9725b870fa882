//! Application wiring: opens the stores and the embedder from a [`Config`], and builds the
//! router. `serve`, `ingest`, `search`, `bench` and the tests all start here.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;

use crate::chat::ChatService;
use crate::codes::CodeTable;
use crate::config::Config;
use crate::email::EmailService;
use crate::embed::{self, Embedder};
use crate::ingest::{self, IngestOptions, IngestSummary};
use crate::llm::{ExtractiveComposer, Generator, OpenAiGenerator};
use crate::metering::{Clock, Metering, RateLimits, SystemClock};
use crate::retrieval::{Lexicon, Retriever};
use crate::store::{EdgeStore, ServerStore, VectorStore};
use crate::web::Web;

/// Everything a request needs, opened once.
pub struct Services {
    pub config: Config,
    pub store: Arc<dyn VectorStore>,
    pub embedder: Arc<dyn Embedder>,
    pub codes: CodeTable,
    pub retriever: Retriever,
    pub chat: Arc<ChatService>,
    pub metering: Metering,
    pub email: Arc<EmailService>,
}

impl Services {
    /// Opens the configured stores and embedder.
    pub async fn open(config: &Config) -> anyhow::Result<Self> {
        let embedder = embed::build(&config.embed, &config.data_dir.join("embed-cache"))
            .await
            .context("loading the embedder")?;
        Self::open_with(config, embedder).await
    }

    /// Like [`Services::open`] with a given embedder (tests share one loaded model).
    pub async fn open_with(config: &Config, embedder: Arc<dyn Embedder>) -> anyhow::Result<Self> {
        Self::open_with_clock(config, embedder, Arc::new(SystemClock)).await
    }

    /// Like [`Services::open_with`] with the clock metering reads (tests move it).
    pub async fn open_with_clock(config: &Config, embedder: Arc<dyn Embedder>, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating the data dir {}", config.data_dir.display()))?;
        let store: Arc<dyn VectorStore> = match &config.qdrant_url {
            Some(url) => Arc::new(ServerStore::connect(
                url,
                config.qdrant_api_key.as_deref(),
                &config.collection,
                &config.qdrant,
            )?),
            None => Arc::new(EdgeStore::open(&config.edge_dir())?),
        };
        let db_url = config.database_url.clone().unwrap_or_else(|| config.sqlite_url());
        let codes = CodeTable::connect(&db_url).await.context("opening the code tables")?;
        let lexicon = Lexicon::load_dir(&config.corpus_dir.join("lexicon"))?;
        let retriever = Retriever::new(store.clone(), embedder.clone(), Arc::new(lexicon), config.search.clone());
        let generator: Arc<dyn Generator> = match OpenAiGenerator::new(&config.llm) {
            Some(llm) => Arc::new(llm),
            None => Arc::new(ExtractiveComposer),
        };
        let chat = Arc::new(ChatService::new(retriever.clone(), codes.clone(), generator, config.chat.clone(), &config.llm));
        let metering = Metering::new(codes.pool().clone(), config.plans.clone(), config.metering.clone(), clock);
        metering.housekeeping().await.context("clearing expired sessions")?;
        let email = EmailService::new(&config.email, config.public_url(), codes.pool().clone(), metering.clone(), chat.clone())
            .context("setting up email")?;
        Ok(Self { config: config.clone(), store, embedder, codes, retriever, chat, metering, email: Arc::new(email) })
    }

    /// `Ok(true)` when the store holds a corpus built by this embedder, `Ok(false)` when it is
    /// empty, and an error that says to re-ingest when another embedder built it.
    pub async fn store_ready(&self) -> anyhow::Result<bool> {
        match self.store.meta().await? {
            None => Ok(false),
            Some(meta) => {
                meta.check(&self.store.location(), self.embedder.id(), self.embedder.dim())?;
                Ok(true)
            }
        }
    }

    pub async fn ingest(&self, options: &IngestOptions) -> anyhow::Result<IngestSummary> {
        let overlay = self.config.overlay_dir();
        ingest::ingest(&self.config.corpus_dir, &overlay, self.store.as_ref(), self.embedder.clone(), &self.codes, options).await
    }
}

/// Only the accounts and quotas, over the configured SQL database: what the `account`
/// commands need, without opening the vector store a running server holds.
pub async fn open_metering(config: &Config) -> anyhow::Result<Metering> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating the data dir {}", config.data_dir.display()))?;
    let db_url = config.database_url.clone().unwrap_or_else(|| config.sqlite_url());
    let codes = CodeTable::connect(&db_url).await.context("opening the database")?;
    Ok(Metering::new(codes.pool().clone(), config.plans.clone(), config.metering.clone(), Arc::new(SystemClock)))
}

/// Shared state of the HTTP layer.
#[derive(Clone)]
pub struct AppState {
    pub services: Arc<Services>,
    pub limits: Arc<RateLimits>,
    pub web: Arc<Web>,
    ready: Arc<AtomicBool>,
}

impl AppState {
    pub fn new(services: Arc<Services>) -> Self {
        let limits = Arc::new(RateLimits::new(&services.config.rate_limits));
        crate::telemetry::handle();
        Self { services, limits, web: Arc::new(Web::new()), ready: Arc::new(AtomicBool::new(false)) }
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }
}

/// Brings the store up to date the way `serve` does on start: ingest the bundled corpus when
/// the store is empty, refuse a store built by another embedder, then mark ready.
pub async fn prepare(state: &AppState, progress: bool) -> anyhow::Result<Option<IngestSummary>> {
    let services = &state.services;
    // A store built earlier with an empty SQL database (a new DATABASE_URL, say) also needs an
    // ingest; unchanged chunks are not rewritten, so it only fills the tables.
    let tables_empty = services.codes.counts().await?.is_empty();
    let summary = if services.store_ready().await? && !tables_empty {
        None
    } else {
        let options = IngestOptions { progress, ..Default::default() };
        Some(services.ingest(&options).await?)
    };
    state.set_ready();
    Ok(summary)
}

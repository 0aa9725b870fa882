//! Chat: retrieve → prompt → generate → verify citations → events.
//!
//! [`ChatService::check`] validates a question and its conversation (bad input fails before
//! any quota is reserved or stream opens); [`ChatService::start`] then runs the answer on its
//! own task, which sends [`ChatEvent`]s: `meta`, `sources`, `delta`s and `citation`s, and
//! exactly one of `done` or `error` last. When the receiver is dropped (the client went
//! away) the task stops at once, dropping the generator's stream and with it the upstream
//! LLM request.
//!
//! A metered answer carries its quota [`Reservation`]: charged right after the first `delta`
//! is sent, refunded when the answer ends without one (an error, the client gone), and
//! settled before the terminal event goes out, so a client that reads `done` or `error`
//! and then asks for its balance sees the final count.

mod citations;
mod conversation;
mod events;
mod metered;
pub mod render;
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use tracing::Instrument;
use tokio::sync::mpsc;

pub use citations::{strong_codes, CitationScanner, Mention};
pub use conversation::{ConversationStore, ConversationSummary, StoredMessage, StoredTurn};
pub use support::COVERS;
pub use events::{AnswerError, ChatEvent, CitationEvent, DoneEvent, ErrorEvent, MetaEvent, SourceEvent};
pub use metered::{Admitted, Collected, Refusal};

use crate::codes::{lookup_forms, shape, CodeSystem, CodeTable};
use crate::config::{ChatConfig, LlmConfig};
use crate::llm::{GenError, GenerationContext, Generator, NcciFinding, Piece, Source, Turn};
use crate::metering::Reservation;
use crate::telemetry;
use crate::retrieval::{MatchKind, RetrievalError, Retriever, SearchRequest};
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    #[error("the question is empty")]
    EmptyQuestion,
    #[error("the question is {got} characters long; the limit is {max}")]
    QuestionTooLong { got: usize, max: usize },
    #[error("no conversation {0}")]
    UnknownConversation(String),
    #[error("{0} answers are streaming, the most this server runs at once; try again in a moment")]
    Busy(usize),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

#[derive(Debug, Clone, Default)]
pub struct ChatRequest {
    pub question: String,
    pub conversation_id: Option<String>,
    /// The account asking; `None` for the operator's own in-process tools (`ask`, `eval`,
    /// `bench`). A conversation must belong to the account that continues it.
    pub account_id: Option<String>,
    /// The conversation so far as the client holds it (an OpenAI-style client sends every
    /// message each time), oldest first; `None`: the stored turns of `conversation_id`.
    pub history: Option<Vec<StoredTurn>>,
}

impl ChatRequest {
    pub fn new(question: impl Into<String>) -> Self {
        Self { question: question.into(), ..Default::default() }
    }
}

/// The hits of a search, and the query and analysis that found them.
struct Found {
    query: String,
    analysis: crate::retrieval::Analysis,
    hits: Vec<crate::retrieval::SearchHit>,
}

/// What retrieval found for a question.
pub struct Retrieved {
    pub sources: Vec<Source>,
    pub named: Vec<String>,
    pub unknown: Vec<String>,
    pub categories: Vec<(String, String)>,
    pub listed: Vec<(String, crate::codes::Validity)>,
    pub ncci: Vec<NcciFinding>,
}

/// Room for one more streaming answer (see [`ChatService::admit`]).
pub struct AnswerPermit {
    _held: tokio::sync::OwnedSemaphorePermit,
}

pub struct ChatService {
    answers: Arc<tokio::sync::Semaphore>,
    retriever: Retriever,
    codes: CodeTable,
    conversations: ConversationStore,
    generator: Arc<dyn Generator>,
    config: ChatConfig,
    stall: Duration,
}

/// Codes of a question looked up one by one (a question listing hundreds of codes gets the
/// first ones), and citations verified per answer.
const MAX_CODE_LOOKUPS: usize = 12;
const MAX_CITATIONS: usize = 64;
/// Billable codes named under a cited category.
const BILLABLE_CHILDREN: usize = 12;

/// Words that make a question a follow-up about the codes of the previous answer ("is it an
/// add-on?", "what replaced it?", "its global period").
const BACK_REFERENCES: [&str; 7] = ["it", "its", "this", "that", "these", "those", "them"];
/// Words that say the case is the earlier one, or like it ("it's with a chest infection",
/// "same thing for the ankle", "2 more lesions same way"): the earlier answer's codes are
/// candidates, as for "it", but what the follow-up adds decides among them and their
/// neighbours.
const LIKENESS: [&str; 3] = ["it's", "it’s", "same"];
/// Words that do not open a noun phrase: after "its", they show it is "it's".
const NO_NOUN_AFTER: [&str; 19] = [
    "a", "an", "the", "actually", "really", "just", "also", "only", "now", "still", "not", "with", "without", "for", "on", "in", "at",
    "from", "because",
];

/// Codes of the answer before that a follow-up without "it" is taken to be about.
const FOLLOW_UP_SUBJECTS: usize = 1;
/// Codes of the answer before that "it" refers to.
const BACK_REFERENCED: usize = 3;

impl ChatService {
    pub fn new(
        retriever: Retriever,
        codes: CodeTable,
        generator: Arc<dyn Generator>,
        config: ChatConfig,
        llm: &LlmConfig,
    ) -> Self {
        let conversations = ConversationStore::new(codes.pool().clone());
        let stall = Duration::from_secs_f64(llm.stall_secs.max(0.001));
        let answers = Arc::new(tokio::sync::Semaphore::new(config.max_concurrent_answers.max(1)));
        Self { answers, retriever, codes, conversations, generator, config, stall }
    }

    pub fn generator_name(&self) -> &'static str {
        self.generator.name()
    }

    pub fn conversations(&self) -> &ConversationStore {
        &self.conversations
    }

    pub fn validate(&self, request: &ChatRequest) -> Result<(), ChatError> {
        if request.question.trim().is_empty() {
            return Err(ChatError::EmptyQuestion);
        }
        let got = request.question.chars().count();
        if got > self.config.max_question_chars {
            return Err(ChatError::QuestionTooLong { got, max: self.config.max_question_chars });
        }
        Ok(())
    }

    /// Everything that can refuse a request before work starts: the question, and that a
    /// named conversation exists and belongs to the asking account (another account's
    /// conversation is as unknown as a missing one).
    pub async fn check(&self, request: &ChatRequest) -> Result<(), ChatError> {
        self.validate(request)?;
        if let Some(id) = &request.conversation_id {
            let visible = match self.conversations.owner(id).await? {
                None => false,
                Some(owner) => request.account_id.is_none() || owner == request.account_id,
            };
            if !visible {
                return Err(ChatError::UnknownConversation(id.clone()));
            }
        }
        Ok(())
    }

    /// Room for one more answer, or [`ChatError::Busy`]: taken before a quota is reserved,
    /// so that a shed request costs nothing.
    pub fn admit(&self) -> Result<AnswerPermit, ChatError> {
        match self.answers.clone().try_acquire_owned() {
            Ok(permit) => Ok(AnswerPermit { _held: permit }),
            Err(_) => Err(ChatError::Busy(self.config.max_concurrent_answers)),
        }
    }

    /// [`ChatService::start_admitted`] with a permit taken now.
    pub async fn start(
        self: &Arc<Self>,
        request: ChatRequest,
        reservation: Option<Reservation>,
    ) -> Result<mpsc::Receiver<ChatEvent>, ChatError> {
        let permit = self.admit()?;
        self.start_admitted(request, reservation, permit).await
    }

    /// Checks the request, opens (or creates) the conversation and starts answering. The
    /// reservation, when metered, is charged or refunded by the answer task; the permit is
    /// held until the answer ends.
    pub async fn start_admitted(
        self: &Arc<Self>,
        request: ChatRequest,
        reservation: Option<Reservation>,
        permit: AnswerPermit,
    ) -> Result<mpsc::Receiver<ChatEvent>, ChatError> {
        self.check(&request).await?;
        let mut request = request;
        let given = request.history.take().map(|mut turns| {
            turns.drain(..turns.len().saturating_sub(self.config.history_turns));
            turns
        });
        let (conversation_id, history) = match (&request.conversation_id, given) {
            (Some(id), Some(turns)) => (id.clone(), turns),
            (Some(id), None) => (id.clone(), self.conversations.recent(id, self.config.history_turns).await?),
            (None, turns) => (self.conversations.create(request.account_id.as_deref()).await?, turns.unwrap_or_default()),
        };
        let (tx, rx) = mpsc::channel(64);
        let tx_watch = tx.clone();
        let service = self.clone();
        let answering = tokio::spawn(async move {
            let _permit = permit;
            service.answer(request.question, conversation_id, history, tx, reservation).await
        });
        let tx = tx_watch;
        // A bug that panics the answer must still end the stream: the client gets one
        // `error` (the reservation, dropped unsettled in the unwinding, is refunded).
        tokio::spawn(async move {
            if let Err(e) = answering.await {
                if e.is_panic() {
                    tracing::error!(error = %e, "the answer task panicked");
                    let _ = tx.send(ChatEvent::Error(AnswerError::Internal.event())).await;
                }
            }
        });
        Ok(rx)
    }

    /// The hits for a question (and the codes of the turn before, when the question refers
    /// back to them): everything the `sources` event shows, with no SQL yet.
    async fn find(&self, question: &str, history: &[StoredTurn]) -> Result<Found, (AnswerError, String)> {
        let mut request = SearchRequest { query: question.to_string(), limit: Some(self.config.sources), ..Default::default() };
        let analysis = self.retriever.analyze(question);
        // A question without codes of its own, in a conversation, is read together with the
        // one before it: its own words count twice and decide, so one that moved on to another
        // topic keeps it ("chest x-ray, two views" after a knee question), and one that did not
        // is understood ("pt back 2 weeks later for a recheck" after an ankle sprain). It is
        // about what the answer before was about: with "it" ("is it an add-on?"), that answer's
        // first codes, pinned first; without, its first code, whose neighbours are then
        // candidates, not answers pinned first.
        if let (true, Some(last)) = (analysis.codes.is_empty(), history.last()) {
            let words: Vec<String> =
                question.split(|c: char| !c.is_alphanumeric() && c != '\'' && c != '’').filter(|w| !w.is_empty()).map(str::to_lowercase).collect();
            // "Its" before what cannot open a noun phrase is "it's" typed without its
            // apostrophe ("its actually the left wrist"); the possessive comes before a noun
            // ("its global period").
            let contraction = |i: usize| words[i] == "its" && words.get(i + 1).is_some_and(|w| NO_NOUN_AFTER.contains(&w.as_str()));
            let refers_back = (0..words.len()).any(|i| BACK_REFERENCES.contains(&words[i].as_str()) && !contraction(i));
            let alike = (0..words.len()).any(|i| LIKENESS.contains(&words[i].as_str()) || contraction(i));
            let n = if refers_back || alike { BACK_REFERENCED } else { FOLLOW_UP_SUBJECTS };
            request.context = Some(last.question.clone());
            request.subjects = last.cited_codes.iter().take(n).cloned().collect();
            request.pin_subjects = refers_back;
        }
        // What the sources were found for, as the answer's support reads it.
        let query = request.text();
        let hits = self.retriever.search(&request).await.map_err(|e| {
            let kind = match e {
                RetrievalError::Store(StoreError::Unavailable(_)) => AnswerError::SearchUnavailable,
                _ => AnswerError::Retrieval,
            };
            (kind, e.to_string())
        })?;
        Ok(Found { query, analysis, hits })
    }

    /// What the answer needs beyond the hits: named, unknown and category codes, support
    /// scores, NCCI findings, and (when the generator reads them) full records.
    async fn enrich(&self, question: &str, found: Found, records: bool) -> Result<Retrieved, String> {
        let Found { query, analysis, hits } = found;
        let named: Vec<String> =
            hits.iter().filter(|h| h.match_kind == MatchKind::Exact).filter_map(|h| h.code.clone()).collect();
        // Codes the question names that are not among the hits: categories, codes only the CMS
        // validity table lists (a CPT code with no summary of ours, a code deleted before our
        // tables), codes of ours that the search left out, or nothing at all.
        let mut unknown = vec![];
        let mut categories = vec![];
        let mut listed = vec![];
        for code in citations::strong_codes(question).into_iter().take(MAX_CODE_LOOKUPS) {
            let forms = lookup_forms(&code);
            if named.iter().any(|n| forms.contains(n)) {
                continue;
            }
            let e = |e: crate::codes::CodeTableError| e.to_string();
            if let Some(title) = self.codes.icd_category(&code).await.map_err(e)? {
                categories.push((code, title));
            } else if let Some(v) = self.codes.validity(&code).await.map_err(e)? {
                listed.push((code, v));
            } else if self.codes.identify(&forms).await.map_err(e)?.is_none() {
                unknown.push(code);
            }
        }
        // Support is judged on the question's own words and, separately, on the lexicon's
        // expansion of them, so that neither dilutes the other.
        let analysis = if query == question { analysis } else { self.retriever.analyze(&query) };
        let own = support::content_words(question);
        let expanded = support::content_words(&analysis.expansions.join(" "));
        let coding = support::about_coding(&query);
        let mut stored = match records {
            true => {
                let codes: Vec<String> = hits.iter().filter_map(|h| h.code.clone()).collect();
                self.codes.get_many(&codes).await.map_err(|e| e.to_string())?
            }
            false => Default::default(),
        };
        let mut sources = Vec::with_capacity(hits.len());
        for (i, hit) in hits.into_iter().enumerate() {
            let record = hit.code.as_ref().and_then(|c| stored.remove(c));
            let (support, covers) = if matches!(hit.match_kind, MatchKind::Exact | MatchKind::Linked) {
                (1.0, true)
            } else {
                let text = format!("{} {}", hit.title, hit.text);
                let support = support::support(&own, &text).max(support::support(&expanded, &text));
                let matched = support::matched(&own, &text).max(support::matched(&expanded, &text));
                (support, support::covers(i + 1, support, matched, coding))
            };
            sources.push(Source { n: i + 1, hit, record, support, covers });
        }
        let ncci = self.ncci_findings(question).await.map_err(|e| e.to_string())?;
        Ok(Retrieved { sources, named, unknown, categories, listed, ncci })
    }

    /// Runs one answer and ends its stream: settles the reservation, then sends `done` or
    /// `error` (nothing when the client is gone).
    async fn answer(
        self: Arc<Self>,
        question: String,
        conversation_id: String,
        history: Vec<StoredTurn>,
        tx: mpsc::Sender<ChatEvent>,
        reservation: Option<Reservation>,
    ) {
        let mut billing = Billing { reservation, delivered: false };
        let message_id = uuid::Uuid::new_v4().to_string();
        // Every log line of this answer carries its message id, which the client has too.
        let span = tracing::info_span!("answer", message_id = %message_id);
        let ending = self.run(question, conversation_id, message_id, history, &tx, &mut billing).instrument(span.clone()).await;
        async move {
            if !billing.delivered {
                if let Some(r) = &billing.reservation {
                    if let Err(e) = r.refund().await {
                        tracing::error!(error = %e, "refunding an undelivered answer failed");
                    }
                }
            }
            let outcome = match &ending {
                Ending::Done(_) => "done".to_string(),
                Ending::Failed(error, _) => error.event().code,
                Ending::Gone => "gone".to_string(),
            };
            metrics::counter!(telemetry::ANSWERS, "outcome" => outcome).increment(1);
            let terminal = match ending {
                Ending::Done(done) => ChatEvent::Done(done),
                Ending::Failed(error, detail) => {
                    tracing::warn!(?error, detail = detail.as_deref().unwrap_or(""), "answer failed");
                    ChatEvent::Error(error.event())
                }
                Ending::Gone => return,
            };
            let _ = tx.send(terminal).await;
        }
        .instrument(span)
        .await;
    }

    /// Everything of an answer but its terminal event.
    async fn run(
        &self,
        question: String,
        conversation_id: String,
        message_id: String,
        history: Vec<StoredTurn>,
        tx: &mpsc::Sender<ChatEvent>,
        billing: &mut Billing,
    ) -> Ending {
        let started = Instant::now();
        let remaining = billing.remaining();
        let meta = MetaEvent { conversation_id: conversation_id.clone(), message_id: message_id.clone(), remaining };
        if tx.send(ChatEvent::Meta(meta)).await.is_err() {
            return Ending::Gone;
        }
        // The sources go out as soon as search returns; the SQL lookups come after.
        let found = match self.find(&question, &history).await {
            Ok(f) => f,
            Err((kind, detail)) => return Ending::Failed(kind, Some(detail)),
        };
        let shown = found.hits.iter().enumerate().map(|(i, hit)| SourceEvent::of(i + 1, hit)).collect();
        if tx.send(ChatEvent::Sources(shown)).await.is_err() {
            return Ending::Gone;
        }
        metrics::histogram!(telemetry::TIME_TO_SOURCES).record(started.elapsed().as_secs_f64());
        let Retrieved { sources, named, unknown, categories, listed, ncci } =
            match self.enrich(&question, found, self.generator.needs_records()).await {
                Ok(r) => r,
                Err(e) => return Ending::Failed(AnswerError::Retrieval, Some(e)),
            };
        let context = GenerationContext {
            question: question.clone(),
            history: history.iter().map(Turn::from).collect(),
            sources,
            named,
            unknown,
            categories,
            listed,
            ncci,
        };
        let mut stream = tokio::select! {
            _ = tx.closed() => return Ending::Gone,
            generated = self.generator.generate(&context) => match generated {
                Ok(s) => s,
                Err(e) => return Ending::generation(e),
            },
        };

        let mut scanner = CitationScanner::new();
        let mut answer = String::new();
        let mut usage = None;
        let mut cited: Vec<CitationEvent> = vec![];
        let deadline = started + Duration::from_secs(self.config.max_answer_secs.max(1));
        loop {
            // The next piece must come within the stall limit and before the answer's deadline.
            let wait = self.stall.min(deadline.saturating_duration_since(Instant::now()));
            let next = tokio::select! {
                _ = tx.closed() => return Ending::Gone,
                next = tokio::time::timeout(wait, stream.next()) => next,
            };
            let piece = match next {
                Err(_) if Instant::now() >= deadline => return Ending::Failed(AnswerError::TooSlow(self.config.max_answer_secs), None),
                Err(_) => return Ending::Failed(AnswerError::Stalled(self.stall.as_secs_f64().round() as u64), None),
                Ok(None) => break,
                Ok(Some(Err(e))) => return Ending::generation(e),
                Ok(Some(Ok(p))) => p,
            };
            match piece {
                Piece::Usage(u) => usage = Some(u),
                Piece::Text(text) => {
                    if answer.chars().count() + text.chars().count() > self.config.max_answer_chars {
                        return Ending::Failed(AnswerError::TooLong(self.config.max_answer_chars), None);
                    }
                    if answer.is_empty() {
                        metrics::histogram!(telemetry::TIME_TO_FIRST_TOKEN).record(started.elapsed().as_secs_f64());
                    }
                    answer.push_str(&text);
                    if tx.send(ChatEvent::Delta { text: text.clone() }).await.is_err() {
                        return Ending::Gone;
                    }
                    billing.delivered().await;
                    if !self.cite(scanner.push(&text), &context.sources, &mut cited, tx).await {
                        return Ending::Gone;
                    }
                }
            }
        }
        if !self.cite(scanner.finish(), &context.sources, &mut cited, tx).await {
            return Ending::Gone;
        }
        if answer.trim().is_empty() {
            return Ending::Failed(AnswerError::Empty, None);
        }
        let cited_codes: Vec<String> = cited.iter().map(|c| c.code.clone()).collect();
        let unverified_codes: Vec<String> = cited.iter().filter(|c| !c.verified).map(|c| c.code.clone()).collect();
        let turn = StoredTurn { question, answer, cited_codes: cited_codes.clone() };
        let source_ids: Vec<String> = context.sources.iter().map(|s| s.hit.id.clone()).collect();
        if let Err(e) = self.conversations.append(&conversation_id, &message_id, &turn, &source_ids).await {
            tracing::error!(error = %e, "storing the turn failed");
        }
        let usage = serde_json::json!({
            "generator": self.generator.name(),
            "prompt_tokens": usage.as_ref().map(|u| u.prompt_tokens),
            "completion_tokens": usage.as_ref().map(|u| u.completion_tokens),
            "total_tokens": usage.as_ref().map(|u| u.total_tokens),
        });
        Ending::Done(DoneEvent {
            cited_codes,
            unverified_codes,
            usage,
            latency_ms: started.elapsed().as_millis() as u64,
            remaining,
        })
    }

    /// NCCI lookups for each pair of (real) procedure codes the question names, first four codes.
    async fn ncci_findings(&self, question: &str) -> Result<Vec<NcciFinding>, crate::codes::CodeTableError> {
        let mut procedures = vec![];
        for code in citations::strong_codes(question).into_iter().filter(|c| shape::is_procedure_code(c)) {
            let known = self.codes.validity(&code).await?.is_some()
                || self.codes.identify(std::slice::from_ref(&code)).await?.is_some();
            if known && procedures.len() < 4 {
                procedures.push(code);
            }
        }
        if procedures.len() < 2 {
            return Ok(vec![]);
        }
        let Some(version) = self.codes.reference_version("ncci").await? else {
            return Ok(vec![]);
        };
        let mut out = vec![];
        for (i, a) in procedures.iter().enumerate() {
            for b in &procedures[i + 1..] {
                let edit = self.codes.ncci(a, b).await?;
                out.push(NcciFinding { a: a.clone(), b: b.clone(), edit, version: version.clone() });
            }
        }
        Ok(out)
    }

    /// Verifies mentions and sends a `citation` for each code; `false` once the client is gone.
    async fn cite(
        &self,
        mentions: Vec<Mention>,
        sources: &[Source],
        cited: &mut Vec<CitationEvent>,
        tx: &mpsc::Sender<ChatEvent>,
    ) -> bool {
        for mention in mentions {
            if cited.len() >= MAX_CITATIONS {
                break;
            }
            if let Some(c) = self.verify(&mention, sources, cited.len() + 1).await {
                cited.push(c.clone());
                if tx.send(ChatEvent::Citation(c)).await.is_err() {
                    return false;
                }
            }
        }
        true
    }

    /// Checks one mention against the code tables and the sources. Weakly shaped tokens
    /// that no table has are not codes at all and yield nothing.
    async fn verify(&self, mention: &Mention, sources: &[Source], n: usize) -> Option<CitationEvent> {
        let stored = match self.codes.identify(&lookup_forms(&mention.code)).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "citation lookup failed");
                None
            }
        };
        let shape = shape::system_of(&mention.code);
        // CMS validity dates, for CPT and HCPCS codes, stored or not.
        let validity = match &stored {
            Some((_, CodeSystem::Icd10Cm | CodeSystem::Modifier | CodeSystem::Guideline)) => None,
            Some((code, _)) => self.codes.validity(code).await.ok().flatten(),
            None => self.codes.validity(&mention.code).await.ok().flatten(),
        };
        let mut billable_codes = vec![];
        let (code, system, verified, billable) = match (stored, validity) {
            // Rows of the code tables are billable codes; a CPT or HCPCS one may have been
            // deleted since.
            (Some((code, system)), v) => (code, system, true, v.as_ref().is_none_or(crate::codes::Validity::in_force_today)),
            // A real CPT or HCPCS code number that codecite has no summary of.
            (None, Some(v)) => (mention.code.clone(), v.system, true, v.in_force_today()),
            (None, None) => {
                // ICD-10-CM categories are real codes, just not billable rows of their own.
                let category = shape == CodeSystem::Icd10Cm
                    && self.codes.icd_category(&mention.code).await.ok().flatten().is_some();
                match (category, mention.strong || mention.category) {
                    (true, _) => {
                        billable_codes = match self.codes.codes_under(&mention.code, BILLABLE_CHILDREN).await {
                            Ok(children) => children.into_iter().map(|(c, _)| c).collect(),
                            Err(e) => {
                                tracing::error!(error = %e, "category lookup failed");
                                vec![]
                            }
                        };
                        (mention.code.clone(), CodeSystem::Icd10Cm, true, false)
                    }
                    (false, true) => (mention.code.clone(), shape, false, false),
                    (false, false) => return None,
                }
            }
        };
        let from_marker = mention.marker.filter(|m| (1..=sources.len()).contains(m));
        let source_n = from_marker.or_else(|| {
            sources
                .iter()
                .find(|s| s.hit.code.as_deref() == Some(code.as_str()) || s.hit.codes.contains(&code))
                .map(|s| s.n)
        });
        Some(CitationEvent { n, system, code, verified, billable, billable_codes, source_n })
    }
}


/// How an answer ended, before its terminal event.
enum Ending {
    Done(DoneEvent),
    /// What the client is told, and what only the log hears.
    Failed(AnswerError, Option<String>),
    /// The client went away: no terminal event to send.
    Gone,
}

impl Ending {
    fn generation(e: GenError) -> Self {
        Ending::Failed(AnswerError::Generation(e.kind), Some(e.detail))
    }
}

/// The quota side of one answer: charged once, right after the first `delta` is sent.
struct Billing {
    reservation: Option<Reservation>,
    delivered: bool,
}

impl Billing {
    fn remaining(&self) -> Option<i64> {
        self.reservation.as_ref().and_then(Reservation::remaining)
    }

    async fn delivered(&mut self) {
        if self.delivered {
            return;
        }
        self.delivered = true;
        if let Some(r) = &self.reservation {
            if let Err(e) = r.charge().await {
                tracing::error!(error = %e, "charging a delivered answer failed");
            }
        }
    }
}

//! Questions by email: a raw message comes in (a mail provider's inbound route posts it to
//! `POST /api/inbound/email`), the answer goes out through an SMTP relay.
//!
//! [`EmailService::receive`] decides everything that can be decided at once, in this order:
//! the message is read ([`inbound`]); recorded once by its Message-ID (a repeated post is a
//! duplicate and does nothing); machines (auto-replies, bounces, lists, ourselves) are
//! ignored, never answered; a sender past its hourly rate is dropped; an address that is no
//! verified account's gets one invitation to register per interval, and nothing else; the
//! question is admitted and its unit reserved by the same `ChatService::admit_metered` as
//! every other channel (a spent quota, an empty or overlong question get a reply saying so,
//! and cost nothing). The answer then runs on its own task through the same pipeline, and
//! the unit is charged only once the relay accepted the reply ([`outbound`] retries
//! transient failures) and refunded when the answer or the sending failed: so an answer is
//! never charged twice, nor for nothing. `In-Reply-To` and `References` naming an earlier
//! question or reply of ours continue that conversation.

mod compose;
pub mod inbound;
mod outbound;
mod store;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::Notify;

use crate::chat::{ChatError, ChatRequest, ChatService, Collected, Refusal};
use crate::config::EmailConfig;
use crate::metering::{Account, Keyed, Metering, MeteringError};
use compose::Bodies;
pub use outbound::{Mailer, Reply};
use store::{EmailStore, Outcome};

#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    #[error("not an email message: {0}")]
    Malformed(String),
    #[error("email configuration: {0}")]
    Config(String),
    #[error("{0}; the message was not kept, so the provider's retry is handled afresh")]
    Busy(String),
    #[error("sending: {0}")]
    Send(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("metering: {0}")]
    Metering(#[from] MeteringError),
}

/// What became of one inbound message at once (its answer may still be on its way).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Receipt {
    /// Received before: nothing more was done.
    Duplicate,
    /// Not answered, and why (a machine wrote it, a rate, an unauthenticated sender…).
    Ignored { reason: String },
    /// An unknown sender: an invitation to register is on its way.
    Invited,
    /// The question was refused (a spent quota, an empty or overlong question): a reply
    /// saying so is on its way. Nothing was charged.
    Refused { reason: String },
    /// Admitted: the answer is on its way.
    Answering { message_id: String },
}

impl Receipt {
    /// Whether a reply was queued.
    pub fn replies(&self) -> bool {
        matches!(self, Receipt::Invited | Receipt::Refused { .. } | Receipt::Answering { .. })
    }
}

/// Counts the replies still being written or sent, so that a caller can wait for them.
#[derive(Default)]
struct InFlight {
    count: AtomicUsize,
    idle: Notify,
}

struct Task(Arc<InFlight>);

impl Drop for Task {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

pub struct EmailService {
    config: EmailConfig,
    public_url: String,
    store: EmailStore,
    metering: Metering,
    chat: Arc<ChatService>,
    mailer: Arc<Mailer>,
    per_sender: Keyed<String>,
    in_flight: Arc<InFlight>,
}

impl EmailService {
    pub fn new(
        config: &EmailConfig,
        public_url: String,
        pool: sqlx::AnyPool,
        metering: Metering,
        chat: Arc<ChatService>,
    ) -> Result<Self, EmailError> {
        Ok(Self {
            config: config.clone(),
            public_url,
            store: EmailStore::new(pool),
            mailer: Arc::new(Mailer::new(config)?),
            metering,
            chat,
            per_sender: Keyed::per_hour(config.per_sender_per_hour),
            in_flight: Arc::default(),
        })
    }

    /// The shared secret the inbound route checks, when email is on.
    pub fn inbound_secret(&self) -> Option<&str> {
        self.config.inbound_secret.as_deref().filter(|s| !s.is_empty())
    }

    pub fn max_message_bytes(&self) -> usize {
        self.config.max_message_bytes
    }

    /// Waits until every reply queued so far was sent or given up (tests, shutdown).
    pub async fn idle(&self) {
        loop {
            let notified = self.in_flight.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.in_flight.count.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }

    /// Handles one raw inbound message (see the module's doc for the order of decisions).
    pub async fn receive(self: &Arc<Self>, raw: &[u8]) -> Result<Receipt, EmailError> {
        let message = inbound::parse(raw).ok_or_else(|| EmailError::Malformed("no header could be read".into()))?;
        let Some(sender) = message.sender.clone().filter(|s| s.contains('@')) else {
            return Err(EmailError::Malformed("it has no From address".into()));
        };
        let now = self.metering.now_ms();
        if !self.store.claim(&message.key, &sender, now).await? {
            return Ok(Receipt::Duplicate);
        }
        match self.decide(&message, &sender).await {
            Ok(receipt) => Ok(receipt),
            Err(e) => {
                // Not handled: let the provider's retry try again.
                if let Err(release) = self.store.release(&message.key).await {
                    tracing::error!(error = %release, "releasing an unhandled message failed");
                }
                Err(e)
            }
        }
    }

    async fn decide(self: &Arc<Self>, message: &inbound::Inbound, sender: &str) -> Result<Receipt, EmailError> {
        let now = || self.metering.now_ms();
        let ignore = |reason: String| async move {
            self.store.record(&message.key, &Outcome { status: "ignored", detail: Some(&reason), ..Default::default() }, now()).await?;
            tracing::info!(sender, reason = %reason, "inbound email ignored");
            Ok::<_, EmailError>(Receipt::Ignored { reason })
        };
        if let Some(why) = message.automatic {
            return ignore(format!("sent by a machine ({why})")).await;
        }
        if sender == self.mailer.address() {
            return ignore("sent from our own address".into()).await;
        }
        if let Some(server) = self.config.trusted_authserv_id.as_deref().filter(|s| !s.is_empty()) {
            if !inbound::authenticated(message, server) {
                return ignore(format!("{server} did not vouch for the sender (Authentication-Results)")).await;
            }
        }
        if self.per_sender.check(&sender.to_string()).is_err() {
            return ignore(format!("over {} messages an hour from this sender", self.config.per_sender_per_hour)).await;
        }
        let Some(account) = self.metering.account_by_verified_email(sender).await? else {
            let interval = i64::from(self.config.invite_interval_hours) * 3_600_000;
            if !self.store.may_invite(sender, now(), interval).await? {
                return ignore("unknown sender, invited recently".into()).await;
            }
            self.store.record(&message.key, &Outcome { status: "invited", ..Default::default() }, now()).await?;
            self.reply_later(message, sender, compose::invitation(sender, &self.public_url));
            return Ok(Receipt::Invited);
        };
        let conversation_id = self.store.thread(&account.id, &message.references).await?;
        let request = ChatRequest {
            question: message.question.clone(),
            conversation_id: conversation_id.clone(),
            account_id: Some(account.id.clone()),
            history: None,
        };
        let admitted = match self.chat.admit_metered(&self.metering, &account, &request, None, "email question").await {
            Ok(a) => a,
            Err(refusal) => return self.refuse(message, sender, &account, refusal).await,
        };
        let remaining = admitted.remaining();
        let (events, reservation) = self.chat.start_whole(request, admitted).await.map_err(|e| EmailError::Busy(e.to_string()))?;
        let reply_id = self.mailer.new_message_id();
        let outcome = Outcome { status: "answering", account_id: Some(&account.id), reply_id: Some(&reply_id), conversation_id: conversation_id.as_deref(), detail: None };
        self.store.record(&message.key, &outcome, now()).await?;
        let task = self.task();
        let service = self.clone();
        let (message, sender, account_id) = (message.clone(), sender.to_string(), account.id.clone());
        let id = reply_id.clone();
        tokio::spawn(async move {
            let _task = task;
            let collected = Collected::all(events).await;
            let (bodies, answered) = match &collected.ending {
                Some(Ok(_)) => (compose::answer(&collected, remaining, &service.public_url), true),
                Some(Err(error)) => (compose::failed(&error.message, &service.public_url), false),
                None => unreachable!("Collected::all ends with a terminal event"),
            };
            let reply = service.reply(&message, &sender, bodies, id.clone());
            let sent = service.mailer.send(&reply).await;
            // Charged once, and only for an answer that left; everything else is refunded.
            let settled = match (&sent, answered) {
                (Ok(()), true) => reservation.charge().await.map(|_| ()),
                _ => reservation.refund().await.map(|_| ()),
            };
            if let Err(e) = settled {
                tracing::error!(error = %e, "settling an email question failed");
            }
            let (status, detail) = match (&sent, answered) {
                (Ok(()), true) => ("answered", None),
                (Ok(()), false) => ("failed", collected.ending.as_ref().and_then(|e| e.as_ref().err()).map(|e| e.code.clone())),
                (Err(e), _) => ("failed", Some(e.to_string())),
            };
            if let Err(e) = &sent {
                tracing::error!(error = %e, to = %sender, "an email answer could not be sent");
            }
            let outcome = Outcome {
                status,
                account_id: Some(&account_id),
                conversation_id: collected.conversation_id(),
                reply_id: Some(&id),
                detail: detail.as_deref(),
            };
            if let Err(e) = service.store.record(&message.key, &outcome, service.metering.now_ms()).await {
                tracing::error!(error = %e, "recording an email answer failed");
            }
        });
        Ok(Receipt::Answering { message_id: reply_id })
    }

    /// A question the chat refused before any work: the sender is told why (nothing was
    /// charged); a busy server or a database error is left for the provider to retry.
    async fn refuse(&self, message: &inbound::Inbound, sender: &str, account: &Account, refusal: Refusal) -> Result<Receipt, EmailError> {
        let (reason, bodies) = match refusal {
            Refusal::Exhausted(e) => ("quota exhausted".to_string(), compose::exhausted(&e.message(), &self.public_url)),
            Refusal::Chat(e @ (ChatError::EmptyQuestion | ChatError::QuestionTooLong { .. })) => {
                let why = e.to_string();
                (why.clone(), compose::refused(&why, &self.public_url))
            }
            Refusal::Chat(e @ (ChatError::Busy(_) | ChatError::UnknownConversation(_))) => return Err(EmailError::Busy(e.to_string())),
            Refusal::Chat(ChatError::Database(e)) => return Err(EmailError::Database(e)),
            Refusal::Metering(e) => return Err(EmailError::Metering(e)),
        };
        let outcome = Outcome { status: "refused", account_id: Some(&account.id), detail: Some(&reason), ..Default::default() };
        self.store.record(&message.key, &outcome, self.metering.now_ms()).await?;
        self.reply_later(message, sender, bodies);
        Ok(Receipt::Refused { reason })
    }

    fn task(&self) -> Task {
        self.in_flight.count.fetch_add(1, Ordering::AcqRel);
        Task(self.in_flight.clone())
    }

    fn reply(&self, message: &inbound::Inbound, sender: &str, bodies: Bodies, message_id: String) -> Reply {
        let mut references = message.references.clone();
        if let Some(id) = &message.message_id {
            references.push(id.clone());
        }
        Reply {
            to: sender.to_string(),
            subject: compose::reply_subject(&message.subject),
            in_reply_to: message.message_id.clone(),
            references,
            message_id,
            text: bodies.text,
            html: bodies.html,
        }
    }

    /// Sends a notice on its own task (retried like an answer; nothing to charge).
    fn reply_later(&self, message: &inbound::Inbound, sender: &str, bodies: Bodies) {
        let reply = self.reply(message, sender, bodies, self.mailer.new_message_id());
        let task = self.task();
        let mailer = self.mailer.clone();
        tokio::spawn(async move {
            let _task = task;
            if let Err(e) = mailer.send(&reply).await {
                tracing::error!(error = %e, to = %reply.to, "a notice could not be sent");
            }
        });
    }
}

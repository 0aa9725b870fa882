//! A metered question: the one way every channel starts one (the web chat, `/v1`, email).
//!
//! [`ChatService::admit_metered`] checks the request, takes room for the answer and reserves
//! a unit, in that order, so that nothing refused costs quota. Then either the answer task
//! settles the reservation ([`ChatService::start_streaming`]: charged right after the first
//! delta, for a client that reads the answer as it comes) or the caller does
//! ([`ChatService::start_whole`]: for an answer delivered whole, a JSON completion or an
//! email, charged only once it was delivered and refunded when it failed or never left).

use std::sync::Arc;

use tokio::sync::mpsc;

use super::events::{CitationEvent, DoneEvent, ErrorEvent, MetaEvent, SourceEvent};
use super::{AnswerPermit, ChatError, ChatEvent, ChatRequest, ChatService};
use crate::metering::{Account, Exhausted, Meter, Metering, MeteringError, Reservation};

/// Why a metered question did not start. Each is decided before any work, and none costs
/// a unit.
#[derive(Debug)]
pub enum Refusal {
    /// The question or its conversation was refused, or no room for another answer.
    Chat(ChatError),
    Metering(MeteringError),
    /// The quota is spent.
    Exhausted(Exhausted),
}

/// Room for an answer and a reserved unit, ready to start.
pub struct Admitted {
    permit: AnswerPermit,
    reservation: Reservation,
}

impl Admitted {
    /// Questions left after this one; `None` without a limit.
    pub fn remaining(&self) -> Option<i64> {
        self.reservation.remaining()
    }
}

impl ChatService {
    /// Checks `request`, takes room for its answer, then reserves one question of the
    /// account's quota (free with an idempotency key already paid for).
    pub async fn admit_metered(
        &self,
        metering: &Metering,
        account: &Account,
        request: &ChatRequest,
        idempotency_key: Option<&str>,
        detail: &str,
    ) -> Result<Admitted, Refusal> {
        self.check(request).await.map_err(Refusal::Chat)?;
        // Room for the answer first, so that a shed request costs no quota.
        let permit = self.admit().map_err(Refusal::Chat)?;
        let reservation = metering
            .reserve(account, Meter::Questions, idempotency_key, detail)
            .await
            .map_err(Refusal::Metering)?
            .map_err(Refusal::Exhausted)?;
        Ok(Admitted { permit, reservation })
    }

    /// Starts an answer that streams to its client: the answer task charges the unit right
    /// after the first delta, or refunds it.
    pub async fn start_streaming(
        self: &Arc<Self>,
        request: ChatRequest,
        admitted: Admitted,
    ) -> Result<mpsc::Receiver<ChatEvent>, ChatError> {
        self.start_admitted(request, Some(admitted.reservation), admitted.permit).await
    }

    /// Starts an answer delivered whole: the caller gets the reservation back and charges it
    /// once the answer reached its reader, or refunds it. (Dropped unsettled, it is refunded.)
    pub async fn start_whole(
        self: &Arc<Self>,
        request: ChatRequest,
        admitted: Admitted,
    ) -> Result<(mpsc::Receiver<ChatEvent>, Reservation), ChatError> {
        let Admitted { permit, reservation } = admitted;
        let events = self.start_admitted(request, None, permit).await?;
        Ok((events, reservation))
    }
}

/// An answer's events gathered as they come: what a channel that is not the SSE stream
/// (a completion, an email) shows at the end.
#[derive(Debug, Clone, Default)]
pub struct Collected {
    pub meta: Option<MetaEvent>,
    pub sources: Vec<SourceEvent>,
    pub text: String,
    pub citations: Vec<CitationEvent>,
    /// `None` until the terminal event.
    pub ending: Option<Result<DoneEvent, ErrorEvent>>,
}

impl Collected {
    pub fn push(&mut self, event: &ChatEvent) {
        match event {
            ChatEvent::Meta(m) => self.meta = Some(m.clone()),
            ChatEvent::Sources(s) => self.sources = s.clone(),
            ChatEvent::Delta { text } => self.text.push_str(text),
            ChatEvent::Citation(c) => self.citations.push(c.clone()),
            ChatEvent::Done(d) => self.ending = Some(Ok(d.clone())),
            ChatEvent::Error(e) => self.ending = Some(Err(e.clone())),
        }
    }

    /// Reads `events` to the end. A stream that closes without a terminal event (which the
    /// answer task never does, even when it panics) ends as an internal error.
    pub async fn all(mut events: mpsc::Receiver<ChatEvent>) -> Self {
        let mut collected = Self::default();
        while let Some(event) = events.recv().await {
            collected.push(&event);
            if event.is_terminal() {
                break;
            }
        }
        if collected.ending.is_none() {
            collected.ending = Some(Err(super::AnswerError::Internal.event()));
        }
        collected
    }

    /// The answer's conversation, once `meta` came.
    pub fn conversation_id(&self) -> Option<&str> {
        self.meta.as_ref().map(|m| m.conversation_id.as_str())
    }
}

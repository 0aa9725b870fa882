//! Accounts, plans and quotas, in the same SQL database as the code tables.
//!
//! Who is asking ([`accounts`]): guests, registered accounts with argon2-hashed passwords,
//! sessions and API keys stored only as hashes. How much they may ask ([`plans`]): a plan
//! gives each [`Meter`] a limit per period. What they used ([`quota`]): a request first
//! *reserves* one unit with a single conditional `UPDATE` (exact under concurrency on
//! SQLite and PostgreSQL alike), then *charges* it once content reaches the client or
//! *refunds* it when the request failed before any content; every step is a ledger row.
//! How fast they may ask ([`ratelimit`]) is separate from how much.
//!
//! Nothing here knows HTTP: `http` maps [`MeteringError`] to statuses in one `match`.

mod accounts;
mod clock;
mod plans;
mod quota;
mod ratelimit;

use std::sync::Arc;

use sqlx::AnyPool;

pub use accounts::{Account, Caller, CredentialKind, KeyInfo, NewKey, NewSession};
pub use clock::{Clock, ManualClock, SystemClock};
pub use plans::{period_key, resets_at, Limit, Meter, Period, PlanConfig, Plans, FREE, GUEST};
pub use quota::{Action, Balance, Exhausted, LedgerRow, Reservation};
pub use ratelimit::{Keyed, RateLimits};

use crate::config::MeteringConfig;

#[derive(Debug, thiserror::Error)]
pub enum MeteringError {
    #[error("{0}")]
    Invalid(String),
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error("this account is already registered; log out to register another")]
    AlreadyRegistered,
    #[error("wrong email or password")]
    WrongPassword,
    #[error("guest accounts cannot do this; register a free account first")]
    GuestNotAllowed,
    #[error("no plan {name:?}; configured plans: {known}")]
    UnknownPlan { name: String, known: String },
    #[error("no account {0}")]
    UnknownAccount(String),
    #[error("password hashing: {0}")]
    Hashing(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// The metering service: accounts, sessions, keys and quotas over one SQL pool.
#[derive(Clone)]
pub struct Metering {
    pool: AnyPool,
    plans: Plans,
    config: MeteringConfig,
    clock: Arc<dyn Clock>,
}

impl Metering {
    pub fn new(pool: AnyPool, plans: Plans, config: MeteringConfig, clock: Arc<dyn Clock>) -> Self {
        Self { pool, plans, config, clock }
    }

    pub fn plans(&self) -> &Plans {
        &self.plans
    }

    pub fn config(&self) -> &MeteringConfig {
        &self.config
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// The plan an account is on. An account whose plan was removed from the config gets the
    /// free plan's limits (and a warning), rather than none or unlimited ones.
    pub fn plan(&self, account: &Account) -> &PlanConfig {
        self.plans.get(&account.plan).unwrap_or_else(|| {
            tracing::warn!(plan = %account.plan, account = %account.id, "account on an unconfigured plan; using the free plan");
            self.plans.get(FREE).expect("the free plan is always configured")
        })
    }

    /// Checks that `name` is a configured plan.
    pub fn check_plan(&self, name: &str) -> Result<(), MeteringError> {
        match self.plans.get(name) {
            Some(_) => Ok(()),
            None => Err(MeteringError::UnknownPlan { name: name.into(), known: self.plans.names().join(", ") }),
        }
    }

    /// Deletes expired sessions and idempotency keys past their window.
    pub async fn housekeeping(&self) -> Result<(), MeteringError> {
        let now = self.now_ms();
        sqlx::query("DELETE FROM sessions WHERE expires_at <= $1").bind(now).execute(&self.pool).await?;
        sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
            .bind(now - self.idempotency_window_ms())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    fn idempotency_window_ms(&self) -> i64 {
        i64::from(self.config.idempotency_hours) * 3_600_000
    }
}

/// Whether a database error is a unique-constraint violation (a duplicate email, say).
fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

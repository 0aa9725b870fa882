//! Quotas: reserve before any work, charge when content is delivered, refund when the
//! request failed before any.
//!
//! A reservation is one transaction whose counting step is a single conditional
//! `UPDATE quota_usage SET used = used + 1 WHERE … AND used < limit + granted`: PostgreSQL
//! re-checks the condition after waiting for a concurrent writer's row lock, and SQLite
//! runs one writer at a time, so the count is exact on both without a read-then-write. The
//! transaction's first statement writes, so SQLite takes its write lock before it reads.
//!
//! A reservation is settled once: the charge or refund row names it in the ledger's unique
//! `settles` column, so whichever comes first wins and the other does nothing. A
//! [`Reservation`] dropped unsettled (a panic, a path that forgot) is refunded on a task.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde::Serialize;
use sqlx::{AnyPool, Row};

use super::clock::Clock;
use super::plans::{period_key, resets_at, Limit, Meter};
use super::{Account, Metering, MeteringError};

/// What a user can do when a quota is spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// A guest: register a free account.
    Register,
    /// A registered account: move to a larger plan (or wait for `resets_at`).
    Upgrade,
}

/// A meter's state for one account in the current period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Balance {
    pub meter: Meter,
    pub limit: Limit,
    pub used: i64,
    pub granted: i64,
    /// `None` when the plan has no limit.
    pub remaining: Option<i64>,
    pub period: String,
    pub resets_at: Option<String>,
}

/// A refused reservation: the quota is spent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Exhausted {
    pub meter: Meter,
    pub plan: String,
    pub action: Action,
    pub resets_at: Option<String>,
    /// The plan's limit that was reached.
    #[serde(skip)]
    pub limit: i64,
    /// What registering gives (the free plan's limit per month), for a guest.
    #[serde(skip)]
    pub offer: Option<u64>,
}

impl Exhausted {
    pub fn message(&self) -> String {
        let noun = self.meter.noun();
        match self.action {
            Action::Register => {
                let offer = match self.offer {
                    Some(n) => format!("to get {n} {noun} a month"),
                    None => "to get more".into(),
                };
                format!(
                    "0 {noun} remaining: guest accounts are limited to {}. Register a free account (POST /api/register) {offer}.",
                    self.limit
                )
            }
            Action::Upgrade => match &self.resets_at {
                Some(at) => format!("0 {noun} remaining on the {} plan until {at}. Upgrade for more.", self.plan),
                None => format!("0 {noun} remaining on the {} plan. Upgrade for more.", self.plan),
            },
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct LedgerRow {
    pub id: String,
    pub meter: String,
    pub period: String,
    /// `reserve`, `charge`, `refund` or `grant`.
    pub kind: String,
    pub amount: i64,
    /// For a charge or refund: the reservation it settles.
    pub settles: Option<String>,
    pub detail: Option<String>,
    pub at: i64,
}

/// One reserved unit, to be charged or refunded.
pub struct Reservation {
    /// `None` for a request made free by its idempotency key: nothing to settle.
    unit: Option<Arc<Unit>>,
    remaining: Option<i64>,
}

struct Unit {
    pool: AnyPool,
    clock: Arc<dyn Clock>,
    id: String,
    account_id: String,
    meter: Meter,
    period: String,
    settled: AtomicBool,
}

impl Reservation {
    /// Units left after this one; `None` without a limit.
    pub fn remaining(&self) -> Option<i64> {
        self.remaining
    }

    /// Charges the reserved unit; `true` when this call settled it.
    pub async fn charge(&self) -> Result<bool, MeteringError> {
        match &self.unit {
            Some(unit) => unit.charge().await,
            None => Ok(false),
        }
    }

    /// Gives the reserved unit back; `true` when this call settled it.
    pub async fn refund(&self) -> Result<bool, MeteringError> {
        match &self.unit {
            Some(unit) => unit.refund().await,
            None => Ok(false),
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let Some(unit) = self.unit.take() else { return };
        if unit.settled.load(Ordering::Acquire) {
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(async move {
                    if let Err(e) = unit.refund().await {
                        tracing::error!(error = %e, reservation = %unit.id, "refunding a dropped reservation failed");
                    }
                });
            }
            Err(_) => tracing::error!(reservation = %unit.id, "reservation dropped outside a runtime; left reserved"),
        }
    }
}

impl Unit {
    async fn charge(&self) -> Result<bool, MeteringError> {
        let settled = self.settle_row("charge").execute(&self.pool).await?.rows_affected() == 1;
        self.settled.store(true, Ordering::Release);
        Ok(settled)
    }

    async fn refund(&self) -> Result<bool, MeteringError> {
        let mut tx = self.pool.begin().await?;
        if self.settle_row("refund").execute(&mut *tx).await?.rows_affected() == 0 {
            self.settled.store(true, Ordering::Release);
            return Ok(false);
        }
        sqlx::query("UPDATE quota_usage SET used = used - 1 WHERE account_id = $1 AND meter = $2 AND period = $3 AND used > 0")
            .bind(&self.account_id)
            .bind(self.meter.as_str())
            .bind(&self.period)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE idempotency_keys SET refunded = 1 WHERE reservation_id = $1").bind(&self.id).execute(&mut *tx).await?;
        tx.commit().await?;
        self.settled.store(true, Ordering::Release);
        Ok(true)
    }

    /// The ledger row that settles this reservation, unless another already did.
    fn settle_row(&self, kind: &'static str) -> sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments<'_>> {
        sqlx::query(
            "INSERT INTO usage_ledger (id, account_id, meter, period, kind, amount, settles, detail, at) \
             VALUES ($1, $2, $3, $4, $5, 1, $6, NULL, $7) ON CONFLICT (settles) DO NOTHING",
        )
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(&self.account_id)
        .bind(self.meter.as_str())
        .bind(&self.period)
        .bind(kind)
        .bind(&self.id)
        .bind(self.clock.now_ms())
    }
}

impl Metering {
    /// Reserves one unit of `meter` for `account`, or says the quota is spent. With an
    /// idempotency key already used (and not refunded) within the window, the reservation is
    /// free: the earlier request paid.
    pub async fn reserve(
        &self,
        account: &Account,
        meter: Meter,
        idempotency_key: Option<&str>,
        detail: &str,
    ) -> Result<Result<Reservation, Exhausted>, MeteringError> {
        let plan = self.plan(account);
        let now = self.now_ms();
        let period = period_key(plan.period, now);
        let limit = plan.limit(meter).as_sql();
        let id = uuid::Uuid::new_v4().to_string();
        let mut tx = self.pool.begin().await?;
        if let Some(key) = idempotency_key {
            let claimed = sqlx::query(
                "INSERT INTO idempotency_keys (account_id, meter, idem_key, reservation_id, refunded, created_at) \
                 VALUES ($1, $2, $3, $4, 0, $5) ON CONFLICT (account_id, meter, idem_key) DO UPDATE SET \
                 reservation_id = excluded.reservation_id, refunded = 0, created_at = excluded.created_at \
                 WHERE idempotency_keys.refunded = 1 OR idempotency_keys.created_at < $6",
            )
            .bind(&account.id)
            .bind(meter.as_str())
            .bind(key)
            .bind(&id)
            .bind(now)
            .bind(now - self.idempotency_window_ms())
            .execute(&mut *tx)
            .await?;
            if claimed.rows_affected() == 0 {
                tx.rollback().await?;
                let remaining = self.balance(account, meter).await?.remaining;
                return Ok(Ok(Reservation { unit: None, remaining }));
            }
        }
        sqlx::query(
            "INSERT INTO quota_usage (account_id, meter, period, used, granted) VALUES ($1, $2, $3, 0, 0) \
             ON CONFLICT (account_id, meter, period) DO NOTHING",
        )
        .bind(&account.id)
        .bind(meter.as_str())
        .bind(&period)
        .execute(&mut *tx)
        .await?;
        let counted = sqlx::query(
            "UPDATE quota_usage SET used = used + 1 \
             WHERE account_id = $1 AND meter = $2 AND period = $3 AND ($4 < 0 OR used < $4 + granted) \
             RETURNING used, granted",
        )
        .bind(&account.id)
        .bind(meter.as_str())
        .bind(&period)
        .bind(limit)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = counted else {
            tx.rollback().await?;
            let (action, offer) = match account.is_guest() {
                true => (Action::Register, self.plans.get(super::FREE).and_then(|p| match p.limit(meter) {
                    Limit::Count(n) => Some(n),
                    Limit::Unlimited => None,
                })),
                false => (Action::Upgrade, None),
            };
            let resets_at = resets_at(plan.period, now);
            metrics::counter!(crate::telemetry::QUOTA_DENIALS, "meter" => meter.as_str(), "plan" => account.plan.clone()).increment(1);
            return Ok(Err(Exhausted { meter, plan: account.plan.clone(), action, resets_at, limit, offer }));
        };
        let (used, granted): (i64, i64) = (row.get(0), row.get(1));
        self.ledger_row(&mut tx, &id, &account.id, meter, &period, "reserve", 1, Some(detail), now).await?;
        tx.commit().await?;
        let remaining = (limit >= 0).then(|| (limit + granted - used).max(0));
        let unit = Unit {
            pool: self.pool.clone(),
            clock: self.clock.clone(),
            id,
            account_id: account.id.clone(),
            meter,
            period,
            settled: AtomicBool::new(false),
        };
        Ok(Ok(Reservation { unit: Some(Arc::new(unit)), remaining }))
    }

    /// Where `meter` stands for `account` in the current period.
    pub async fn balance(&self, account: &Account, meter: Meter) -> Result<Balance, MeteringError> {
        let plan = self.plan(account);
        let now = self.now_ms();
        let period = period_key(plan.period, now);
        let row = sqlx::query("SELECT used, granted FROM quota_usage WHERE account_id = $1 AND meter = $2 AND period = $3")
            .bind(&account.id)
            .bind(meter.as_str())
            .bind(&period)
            .fetch_optional(&self.pool)
            .await?;
        let (used, granted): (i64, i64) = row.map(|r| (r.get(0), r.get(1))).unwrap_or((0, 0));
        let limit = plan.limit(meter);
        let remaining = match limit {
            Limit::Count(_) => Some((limit.as_sql() + granted - used).max(0)),
            Limit::Unlimited => None,
        };
        Ok(Balance { meter, limit, used, granted, remaining, period, resets_at: resets_at(plan.period, now) })
    }

    /// Gives `account` `amount` extra units of `meter` for the current period.
    pub async fn grant(&self, account: &Account, meter: Meter, amount: i64) -> Result<Balance, MeteringError> {
        if amount <= 0 {
            return Err(MeteringError::Invalid("a grant must be a positive number".into()));
        }
        let now = self.now_ms();
        let period = period_key(self.plan(account).period, now);
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO quota_usage (account_id, meter, period, used, granted) VALUES ($1, $2, $3, 0, $4) \
             ON CONFLICT (account_id, meter, period) DO UPDATE SET granted = quota_usage.granted + excluded.granted",
        )
        .bind(&account.id)
        .bind(meter.as_str())
        .bind(&period)
        .bind(amount)
        .execute(&mut *tx)
        .await?;
        let id = uuid::Uuid::new_v4().to_string();
        self.ledger_row(&mut tx, &id, &account.id, meter, &period, "grant", amount, Some("granted by the operator"), now).await?;
        tx.commit().await?;
        self.balance(account, meter).await
    }

    /// The account's ledger, newest last; at most `limit` rows (the newest).
    pub async fn ledger(&self, account: &Account, limit: usize) -> Result<Vec<LedgerRow>, MeteringError> {
        let rows = sqlx::query(
            "SELECT id, meter, period, kind, amount, settles, detail, at FROM usage_ledger \
             WHERE account_id = $1 ORDER BY at DESC, CASE kind WHEN 'reserve' THEN 0 ELSE 1 END DESC LIMIT $2",
        )
        .bind(&account.id)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        let mut out: Vec<LedgerRow> = rows
            .iter()
            .map(|r| LedgerRow {
                id: r.get(0),
                meter: r.get(1),
                period: r.get(2),
                kind: r.get(3),
                amount: r.get(4),
                settles: r.get(5),
                detail: r.get(6),
                at: r.get(7),
            })
            .collect();
        out.reverse();
        Ok(out)
    }

    #[allow(clippy::too_many_arguments)]
    async fn ledger_row(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        id: &str,
        account_id: &str,
        meter: Meter,
        period: &str,
        kind: &str,
        amount: i64,
        detail: Option<&str>,
        at: i64,
    ) -> Result<(), MeteringError> {
        sqlx::query(
            "INSERT INTO usage_ledger (id, account_id, meter, period, kind, amount, settles, detail, at) \
             VALUES ($1, $2, $3, $4, $5, $6, NULL, $7, $8)",
        )
        .bind(id)
        .bind(account_id)
        .bind(meter.as_str())
        .bind(period)
        .bind(kind)
        .bind(amount)
        .bind(detail)
        .bind(at)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}

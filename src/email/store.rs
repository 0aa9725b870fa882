//! The email tables (migration 0007): each inbound message once, what became of it, the
//! reply that answered it, and the last invitation sent to an unknown address. Portable SQL
//! for SQLite and PostgreSQL.

use sqlx::{AnyPool, Row};

#[derive(Clone)]
pub struct EmailStore {
    pool: AnyPool,
}

/// What became of an inbound message.
#[derive(Debug, Clone, Default)]
pub struct Outcome<'a> {
    pub status: &'a str,
    pub account_id: Option<&'a str>,
    pub conversation_id: Option<&'a str>,
    pub reply_id: Option<&'a str>,
    pub detail: Option<&'a str>,
}

impl EmailStore {
    pub fn new(pool: AnyPool) -> Self {
        Self { pool }
    }

    /// Records a message as received; `false` when it was received before (a provider's
    /// retry, a duplicate post): then nothing more is done with it.
    pub async fn claim(&self, key: &str, sender: &str, now: i64) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "INSERT INTO email_messages (message_id, sender, status, received_at, updated_at) VALUES ($1, $2, 'received', $3, $3) \
             ON CONFLICT (message_id) DO NOTHING",
        )
        .bind(key)
        .bind(sender)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Forgets a claim, so that the provider's retry is handled afresh (we were too busy).
    pub async fn release(&self, key: &str) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM email_messages WHERE message_id = $1 AND status = 'received'").bind(key).execute(&self.pool).await?;
        Ok(())
    }

    pub async fn record(&self, key: &str, outcome: &Outcome<'_>, now: i64) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE email_messages SET status = $1, account_id = COALESCE($2, account_id), conversation_id = COALESCE($3, conversation_id), \
             reply_id = COALESCE($4, reply_id), detail = $5, updated_at = $6 WHERE message_id = $7",
        )
        .bind(outcome.status)
        .bind(outcome.account_id)
        .bind(outcome.conversation_id)
        .bind(outcome.reply_id)
        .bind(outcome.detail)
        .bind(now)
        .bind(key)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The account's conversation that a message with these thread ids continues: the
    /// newest whose question or reply is among them, when the conversation still exists.
    pub async fn thread(&self, account_id: &str, ids: &[String]) -> Result<Option<String>, sqlx::Error> {
        if ids.is_empty() {
            return Ok(None);
        }
        let marks: Vec<String> = (0..ids.len()).map(|i| format!("${}", i + 2)).collect();
        let marks = marks.join(", ");
        let sql = format!(
            "SELECT e.conversation_id FROM email_messages e JOIN conversations c ON c.id = e.conversation_id AND c.account_id = e.account_id \
             WHERE e.account_id = $1 AND (e.message_id IN ({marks}) OR e.reply_id IN ({marks})) ORDER BY e.received_at DESC LIMIT 1"
        );
        let mut query = sqlx::query(&sql).bind(account_id);
        for id in ids {
            query = query.bind(id);
        }
        Ok(query.fetch_optional(&self.pool).await?.map(|r| r.get(0)))
    }

    /// Whether an invitation may go to `address` now (none within `interval_ms`); when it
    /// may, the sending is recorded in the same statement, so two at once send one.
    pub async fn may_invite(&self, address: &str, now: i64, interval_ms: i64) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "INSERT INTO email_invitations (address, sent_at) VALUES ($1, $2) \
             ON CONFLICT (address) DO UPDATE SET sent_at = excluded.sent_at WHERE email_invitations.sent_at <= $3",
        )
        .bind(address)
        .bind(now)
        .bind(now - interval_ms)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

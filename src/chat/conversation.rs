//! Conversations in SQL: each answered turn is stored, and a follow-up question sees the
//! turns before it. A conversation belongs to the account that started it; the listing,
//! reading and deleting calls take that account and see nothing of anyone else's.

use serde::{Deserialize, Serialize};
use sqlx::{AnyPool, Row};

use crate::llm::Turn;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StoredTurn {
    pub question: String,
    pub answer: String,
    pub cited_codes: Vec<String>,
}

/// One line of a conversation list.
#[derive(Debug, Clone, Serialize)]
pub struct ConversationSummary {
    pub id: String,
    /// The first question.
    pub title: String,
    pub turns: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One stored turn, as the conversation API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct StoredMessage {
    pub id: String,
    pub question: String,
    pub answer: String,
    pub cited_codes: Vec<String>,
    pub created_at: i64,
}

#[derive(Clone)]
pub struct ConversationStore {
    pool: AnyPool,
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

impl ConversationStore {
    pub fn new(pool: AnyPool) -> Self {
        Self { pool }
    }

    pub async fn create(&self, account_id: Option<&str>) -> Result<String, sqlx::Error> {
        let id = uuid::Uuid::new_v4().to_string();
        sqlx::query("INSERT INTO conversations (id, created_at, account_id) VALUES ($1, $2, $3)")
            .bind(&id)
            .bind(now())
            .bind(account_id)
            .execute(&self.pool)
            .await?;
        Ok(id)
    }

    /// `None` when there is no such conversation, else its owner (`Some(None)`: no account).
    pub async fn owner(&self, id: &str) -> Result<Option<Option<String>>, sqlx::Error> {
        let row = sqlx::query("SELECT account_id FROM conversations WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
        Ok(row.map(|r| r.get(0)))
    }

    /// The account's conversations, newest first, each titled by its first question.
    pub async fn list(&self, account_id: &str, limit: usize) -> Result<Vec<ConversationSummary>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT c.id, c.created_at, \
             (SELECT m.question FROM messages m WHERE m.conversation_id = c.id ORDER BY m.seq LIMIT 1), \
             (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id), \
             (SELECT MAX(m.created_at) FROM messages m WHERE m.conversation_id = c.id) \
             FROM conversations c WHERE c.account_id = $1 ORDER BY c.created_at DESC, c.id LIMIT $2",
        )
        .bind(account_id)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| {
                let created_at: i64 = r.get(1);
                ConversationSummary {
                    id: r.get(0),
                    created_at,
                    title: r.get::<Option<String>, _>(2).unwrap_or_default(),
                    turns: r.get(3),
                    updated_at: r.get::<Option<i64>, _>(4).unwrap_or(created_at),
                }
            })
            .collect())
    }

    /// Every turn of one of the account's conversations, oldest first; `None` when the
    /// account has no such conversation.
    pub async fn messages(&self, id: &str, account_id: &str) -> Result<Option<Vec<StoredMessage>>, sqlx::Error> {
        if self.owner(id).await?.flatten().as_deref() != Some(account_id) {
            return Ok(None);
        }
        let rows = sqlx::query(
            "SELECT id, question, answer, cited_codes, created_at FROM messages WHERE conversation_id = $1 ORDER BY seq",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        Ok(Some(
            rows.iter()
                .map(|r| StoredMessage {
                    id: r.get(0),
                    question: r.get(1),
                    answer: r.get(2),
                    cited_codes: serde_json::from_str(&r.get::<String, _>(3)).unwrap_or_default(),
                    created_at: r.get(4),
                })
                .collect(),
        ))
    }

    /// Deletes one of the account's conversations with its turns; `false` when it has none.
    pub async fn delete(&self, id: &str, account_id: &str) -> Result<bool, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "DELETE FROM messages WHERE conversation_id = $1 \
             AND conversation_id IN (SELECT id FROM conversations WHERE id = $1 AND account_id = $2)",
        )
        .bind(id)
        .bind(account_id)
        .execute(&mut *tx)
        .await?;
        let gone = sqlx::query("DELETE FROM conversations WHERE id = $1 AND account_id = $2")
            .bind(id)
            .bind(account_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(gone.rows_affected() == 1)
    }

    /// The last `n` turns, oldest first.
    pub async fn recent(&self, id: &str, n: usize) -> Result<Vec<StoredTurn>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT question, answer, cited_codes FROM messages WHERE conversation_id = $1 ORDER BY seq DESC LIMIT $2",
        )
        .bind(id)
        .bind(n as i64)
        .fetch_all(&self.pool)
        .await?;
        let mut turns: Vec<StoredTurn> = rows
            .into_iter()
            .map(|r| StoredTurn {
                question: r.get(0),
                answer: r.get(1),
                cited_codes: serde_json::from_str(&r.get::<String, _>(2)).unwrap_or_default(),
            })
            .collect();
        turns.reverse();
        Ok(turns)
    }

    pub async fn append(
        &self,
        conversation_id: &str,
        message_id: &str,
        turn: &StoredTurn,
        sources: &[String],
    ) -> Result<(), sqlx::Error> {
        // One statement computes the next sequence number and inserts, so concurrent turns
        // need no read-then-write transaction (which SQLite answers with "database is locked").
        sqlx::query(
            "INSERT INTO messages (id, conversation_id, seq, question, answer, sources, cited_codes, created_at) \
             SELECT $1, $2, COALESCE(MAX(seq), -1) + 1, $3, $4, $5, $6, $7 FROM messages WHERE conversation_id = $2",
        )
        .bind(message_id)
        .bind(conversation_id)
        .bind(&turn.question)
        .bind(&turn.answer)
        .bind(serde_json::to_string(sources).expect("strings serialize"))
        .bind(serde_json::to_string(&turn.cited_codes).expect("strings serialize"))
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

impl From<&StoredTurn> for Turn {
    fn from(t: &StoredTurn) -> Self {
        Turn { question: t.question.clone(), answer: t.answer.clone() }
    }
}

//! Conversations in SQL: each answered turn is stored, and a follow-up question sees the
//! turns before it.

use serde::{Deserialize, Serialize};
use sqlx::{AnyPool, Row};

use crate::llm::Turn;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StoredTurn {
    pub question: String,
    pub answer: String,
    pub cited_codes: Vec<String>,
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

    pub async fn create(&self) -> Result<String, sqlx::Error> {
        let id = uuid::Uuid::new_v4().to_string();
        sqlx::query("INSERT INTO conversations (id, created_at) VALUES ($1, $2)")
            .bind(&id)
            .bind(now())
            .execute(&self.pool)
            .await?;
        Ok(id)
    }

    pub async fn exists(&self, id: &str) -> Result<bool, sqlx::Error> {
        let row = sqlx::query("SELECT id FROM conversations WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
        Ok(row.is_some())
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

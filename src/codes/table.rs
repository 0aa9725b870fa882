//! The SQL code tables (sqlx, SQLite by default, PostgreSQL when `DATABASE_URL` says so).
//!
//! The vector store answers "what is relevant"; these tables answer "does this code exist and
//! what is known about it" exactly, and later verify every code an answer cites.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use sqlx::any::AnyPoolOptions;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{AnyPool, Row};

use super::{CodeRecord, CodeSystem};

#[derive(Debug, thiserror::Error)]
pub enum CodeTableError {
    #[error("database: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored record for {code} is unreadable: {message}")]
    Corrupt { code: String, message: String },
}

/// A code with what other rows say about it.
#[derive(Debug, Clone, Serialize)]
pub struct StoredCode {
    #[serde(flatten)]
    pub record: CodeRecord,
    /// Add-on codes that name this code as an acceptable primary.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub addon_codes: Vec<String>,
    /// Deleted codes that this code replaced.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub replaces: Vec<String>,
    /// Validity dates from the CMS code editor tables (CPT and HCPCS).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validity: Option<super::Validity>,
    /// Acceptable primary codes under the current CMS add-on edits.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cms_primary_codes: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct CodeTable {
    pool: AnyPool,
    /// The same PostgreSQL database through its own driver, for what the `Any` driver cannot
    /// do (`COPY`); it opens its one connection when first used.
    postgres: Option<PgPool>,
}

/// Rows per multi-row INSERT: 5 parameters each stays far below both engines' limits.
const INSERT_BATCH: usize = 400;

impl CodeTable {
    /// Connects and runs the migrations. A `sqlite:` URL creates its file when missing.
    pub async fn connect(url: &str) -> Result<Self, CodeTableError> {
        sqlx::any::install_default_drivers();
        let sqlite = url.starts_with("sqlite:");
        let pool = AnyPoolOptions::new()
            .max_connections(if sqlite { 4 } else { 8 })
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if sqlite {
                        // WAL lets readers proceed while an ingest writes; with WAL, NORMAL
                        // syncs at checkpoints rather than on every commit: a power cut may
                        // lose the last commits, never the database's consistency.
                        sqlx::query("PRAGMA journal_mode = WAL").execute(&mut *conn).await?;
                        sqlx::query("PRAGMA synchronous = NORMAL").execute(&mut *conn).await?;
                        sqlx::query("PRAGMA busy_timeout = 5000").execute(&mut *conn).await?;
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        let postgres = if sqlite { None } else { Some(PgPoolOptions::new().max_connections(1).connect_lazy(url)?) };
        Ok(Self { pool, postgres })
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub(super) fn postgres(&self) -> Option<&PgPool> {
        self.postgres.as_ref()
    }

    /// Placeholders for `rows` rows of `width` values each, `($1,$2),($3,$4),…`; `?` on
    /// SQLite, whose numbered parameters sqlx finds by name one at a time, in a time quadratic
    /// in their number.
    fn rows_of(&self, rows: usize, width: usize) -> String {
        let sqlite = self.postgres.is_none();
        let row = |r: usize| {
            let cells: Vec<String> =
                (1..=width).map(|c| if sqlite { "?".into() } else { format!("${}", r * width + c) }).collect();
            format!("({})", cells.join(","))
        };
        (0..rows).map(row).collect::<Vec<_>>().join(",")
    }

    /// Content hash of every stored code, for idempotent ingest.
    pub async fn hashes(&self) -> Result<HashMap<String, String>, CodeTableError> {
        let rows = sqlx::query("SELECT code, hash FROM codes").fetch_all(&self.pool).await?;
        Ok(rows.into_iter().map(|r| (r.get::<String, _>(0), r.get::<String, _>(1))).collect())
    }

    /// Writes changed records and removes deleted codes in one transaction, so a failed
    /// ingest leaves the previous tables whole.
    pub async fn apply(
        &self,
        upserts: &[(&CodeRecord, &str)],
        deletes: &[String],
    ) -> Result<(), CodeTableError> {
        let mut tx = self.pool.begin().await?;
        let relinked: Vec<&String> = deletes.iter().chain(upserts.iter().map(|(r, _)| &r.code)).collect();
        for batch in relinked.chunks(INSERT_BATCH) {
            let sql = format!("DELETE FROM code_links WHERE code IN {}", self.rows_of(1, batch.len()));
            batch.iter().fold(sqlx::query(&sql), |q, code| q.bind(code.as_str())).execute(&mut *tx).await?;
        }
        for batch in deletes.chunks(INSERT_BATCH) {
            let sql = format!("DELETE FROM codes WHERE code IN {}", self.rows_of(1, batch.len()));
            batch.iter().fold(sqlx::query(&sql), |q, code| q.bind(code.as_str())).execute(&mut *tx).await?;
        }
        for batch in upserts.chunks(INSERT_BATCH) {
            let mut sql = format!("INSERT INTO codes (code, system, title, record, hash) VALUES {}", self.rows_of(batch.len(), 5));
            sql.push_str(
                " ON CONFLICT (code) DO UPDATE SET system = excluded.system, title = excluded.title, \
                 record = excluded.record, hash = excluded.hash",
            );
            let mut query = sqlx::query(&sql);
            for (record, hash) in batch {
                let json = serde_json::to_string(record).expect("records serialize");
                query = query
                    .bind(record.code.clone())
                    .bind(record.system.as_str())
                    .bind(record.title.clone())
                    .bind(json)
                    .bind(hash.to_string());
            }
            query.execute(&mut *tx).await?;
        }
        let links: Vec<(&str, &str, &str)> = upserts
            .iter()
            .flat_map(|(r, _)| {
                let primaries = r.primary_codes.iter().map(move |p| (r.code.as_str(), p.as_str(), "primary"));
                let replacements = r.replaced_by.iter().map(move |p| (r.code.as_str(), p.as_str(), "replaced_by"));
                primaries.chain(replacements)
            })
            .collect();
        for batch in links.chunks(INSERT_BATCH) {
            let mut sql = format!("INSERT INTO code_links (code, related, kind) VALUES {}", self.rows_of(batch.len(), 3));
            sql.push_str(" ON CONFLICT DO NOTHING");
            let mut query = sqlx::query(&sql);
            for (code, related, kind) in batch {
                query = query.bind(code.to_string()).bind(related.to_string()).bind(kind.to_string());
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The first of `forms` that names a stored code, with its system: an existence check
    /// without the record and its relationships.
    pub async fn identify(&self, forms: &[String]) -> Result<Option<(String, CodeSystem)>, CodeTableError> {
        for code in forms {
            let row = sqlx::query("SELECT code, system FROM codes WHERE code = $1").bind(code).fetch_optional(&self.pool).await?;
            if let Some(system) = row.as_ref().and_then(|r| r.get::<String, _>(1).parse::<CodeSystem>().ok()) {
                return Ok(Some((row.expect("row").get(0), system)));
            }
        }
        Ok(None)
    }

    /// The first of `forms` that names a stored code, with its reverse relationships.
    pub async fn get(&self, forms: &[String]) -> Result<Option<StoredCode>, CodeTableError> {
        for code in forms {
            let row = sqlx::query("SELECT record FROM codes WHERE code = $1")
                .bind(code)
                .fetch_optional(&self.pool)
                .await?;
            let Some(row) = row else { continue };
            let json: String = row.get(0);
            let record: CodeRecord = serde_json::from_str(&json)
                .map_err(|e| CodeTableError::Corrupt { code: code.clone(), message: e.to_string() })?;
            let linked = sqlx::query("SELECT code, kind FROM code_links WHERE related = $1 ORDER BY code")
                .bind(code)
                .fetch_all(&self.pool)
                .await?;
            let validity = self.validity(code).await?;
            let cms_primary_codes = self.addon_primaries(code).await?;
            let mut stored = StoredCode { record, addon_codes: vec![], replaces: vec![], validity, cms_primary_codes };
            for row in linked {
                let (other, kind): (String, String) = (row.get(0), row.get(1));
                match kind.as_str() {
                    "primary" => stored.addon_codes.push(other),
                    _ => stored.replaces.push(other),
                }
            }
            return Ok(Some(stored));
        }
        Ok(None)
    }

    /// Several stored codes with their relationships, by exact code, in four queries
    /// whatever their number (an answer's sources); codes no table has are left out.
    pub async fn get_many(&self, codes: &[String]) -> Result<HashMap<String, StoredCode>, CodeTableError> {
        let mut out = HashMap::new();
        if codes.is_empty() {
            return Ok(out);
        }
        let marks = self.rows_of(1, codes.len());
        let fetch = |sql: String| async move {
            let mut query = sqlx::query(&sql);
            for c in codes {
                query = query.bind(c);
            }
            query.fetch_all(&self.pool).await
        };
        for row in fetch(format!("SELECT code, record FROM codes WHERE code IN {marks}")).await? {
            let code: String = row.get(0);
            let record: CodeRecord = serde_json::from_str(&row.get::<String, _>(1))
                .map_err(|e| CodeTableError::Corrupt { code: code.clone(), message: e.to_string() })?;
            out.insert(code, StoredCode { record, addon_codes: vec![], replaces: vec![], validity: None, cms_primary_codes: vec![] });
        }
        for row in fetch(format!("SELECT related, code, kind FROM code_links WHERE related IN {marks} ORDER BY code")).await? {
            if let Some(stored) = out.get_mut(&row.get::<String, _>(0)) {
                let (other, kind): (String, String) = (row.get(1), row.get(2));
                match kind.as_str() {
                    "primary" => stored.addon_codes.push(other),
                    _ => stored.replaces.push(other),
                }
            }
        }
        for row in fetch(format!("SELECT code, system, first_seen, last_valid, addon_type FROM code_validity WHERE code IN {marks}")).await? {
            if let (Some(stored), Ok(system)) = (out.get_mut(&row.get::<String, _>(0)), row.get::<String, _>(1).parse()) {
                stored.validity = Some(super::Validity { system, valid_from: row.get(2), last_valid: row.get(3), addon_type: row.get(4) });
            }
        }
        let primaries = format!("SELECT addon, primary_code FROM addon_edits WHERE addon IN {marks} AND last_valid IS NULL ORDER BY primary_code");
        for row in fetch(primaries).await? {
            if let Some(stored) = out.get_mut(&row.get::<String, _>(0)) {
                stored.cms_primary_codes.push(row.get(1));
            }
        }
        Ok(out)
    }

    /// The title of an ICD-10-CM category or subcategory (`E11`, `S72.0`): real codes that
    /// are not billable, so not rows of `codes`.
    /// Billable ICD-10-CM codes under a category (`E11` → `E11.0`, …), by code; at most `limit`.
    pub async fn codes_under(&self, category: &str, limit: usize) -> Result<Vec<(String, String)>, CodeTableError> {
        // A range on the primary key rather than `LIKE`, which neither database serves from the
        // index with a bound pattern (codes are ASCII letters, digits and dots, all below '~').
        // `system || ''` keeps SQLite's planner off the `system` index, which would read every
        // ICD-10-CM row (40 ms instead of 0.1 ms).
        let rows = sqlx::query(
            "SELECT code, title FROM codes WHERE code >= $1 AND code < $2 AND system || '' = 'ICD10CM' ORDER BY code LIMIT $3",
        )
        .bind(category.to_string())
        .bind(format!("{category}~"))
        .bind(limit as i64)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    pub async fn icd_category(&self, code: &str) -> Result<Option<String>, CodeTableError> {
        let row = sqlx::query("SELECT title FROM icd_categories WHERE code = $1").bind(code).fetch_optional(&self.pool).await?;
        Ok(row.map(|r| r.get(0)))
    }

    /// Makes `icd_categories` equal to `categories` (code → title), writing only differences.
    pub async fn sync_icd_categories(&self, categories: &BTreeMap<String, String>) -> Result<usize, CodeTableError> {
        let rows = sqlx::query("SELECT code, title FROM icd_categories").fetch_all(&self.pool).await?;
        let existing: HashMap<String, String> = rows.into_iter().map(|r| (r.get(0), r.get(1))).collect();
        let upserts: Vec<(&String, &String)> =
            categories.iter().filter(|(c, t)| existing.get(*c) != Some(*t)).collect();
        let deletes: Vec<&String> = existing.keys().filter(|c| !categories.contains_key(*c)).collect();
        let mut tx = self.pool.begin().await?;
        for code in &deletes {
            sqlx::query("DELETE FROM icd_categories WHERE code = $1").bind(code.as_str()).execute(&mut *tx).await?;
        }
        for batch in upserts.chunks(INSERT_BATCH) {
            let mut sql = format!("INSERT INTO icd_categories (code, title) VALUES {}", self.rows_of(batch.len(), 2));
            sql.push_str(" ON CONFLICT (code) DO UPDATE SET title = excluded.title");
            let mut query = sqlx::query(&sql);
            for (code, title) in batch {
                query = query.bind(code.to_string()).bind(title.to_string());
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(upserts.len() + deletes.len())
    }

    /// Number of codes per system.
    pub async fn counts(&self) -> Result<BTreeMap<CodeSystem, i64>, CodeTableError> {
        let rows = sqlx::query("SELECT system, COUNT(*) FROM codes GROUP BY system").fetch_all(&self.pool).await?;
        let mut out = BTreeMap::new();
        for row in rows {
            let system: String = row.get(0);
            if let Ok(system) = system.parse::<CodeSystem>() {
                out.insert(system, row.get::<i64, _>(1));
            }
        }
        Ok(out)
    }
}

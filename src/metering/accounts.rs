//! Identities: guests, registered accounts, sessions and API keys.
//!
//! A session token (`ccs_…`) or an API key (`cck_…`) is 32 random bytes, shown once and
//! stored only as its SHA-256 hash; being random, it needs no slow hash. Passwords are
//! hashed with argon2 on a blocking thread. A guest who registers keeps its account id, so
//! its conversations and ledger stay its own, and its lifetime usage moves into the month.

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::plans::{period_key, Period, FREE, GUEST};
use super::{is_unique_violation, Metering, MeteringError};

const SESSION_PREFIX: &str = "ccs_";
const KEY_PREFIX: &str = "cck_";
const MIN_PASSWORD: usize = 8;
const MAX_PASSWORD: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Account {
    pub id: String,
    /// `None` for a guest.
    pub email: Option<String>,
    pub plan: String,
    pub created_at: i64,
    /// When the email was verified (Unix ms): only then may it ask questions by email.
    pub email_verified_at: Option<i64>,
}

impl Account {
    pub fn is_guest(&self) -> bool {
        self.email.is_none()
    }

    fn from_row(r: &AnyRow) -> Self {
        Account { id: r.get(0), email: r.get(1), plan: r.get(2), created_at: r.get(3), email_verified_at: r.get(4) }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    Session,
    ApiKey,
}

/// The account behind a request's credential.
#[derive(Debug, Clone)]
pub struct Caller {
    pub account: Account,
    pub kind: CredentialKind,
    token_hash: String,
}

/// A session just opened: the token is shown this once.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub account: Account,
    pub token: String,
    pub expires_at: i64,
}

/// An API key just made: the key is shown this once.
#[derive(Debug, Clone, Serialize)]
pub struct NewKey {
    pub id: String,
    pub key: String,
    pub name: String,
    pub prefix: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct KeyInfo {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

fn new_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source works");
    format!("{prefix}{}", hex::encode(bytes))
}

fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Trims and lower-cases an email address and checks its shape (one `@`, a dotted domain,
/// no spaces or control characters, at most 254 characters).
pub fn parse_email(raw: &str) -> Result<String, MeteringError> {
    let email = raw.trim().to_lowercase();
    let bad = |why: &str| Err(MeteringError::Invalid(format!("email {raw:?} {why}")));
    if email.is_empty() {
        return Err(MeteringError::Invalid("email is required".into()));
    }
    if email.len() > 254 {
        return bad("is longer than 254 characters");
    }
    if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("contains spaces or control characters");
    }
    let Some((local, domain)) = email.split_once('@') else { return bad("has no @") };
    if local.is_empty() || domain.contains('@') {
        return bad("is not of the form name@domain");
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 || labels.iter().any(|l| l.is_empty()) {
        return bad("needs a domain such as example.com");
    }
    Ok(email)
}

fn check_password(password: &str) -> Result<(), MeteringError> {
    let n = password.chars().count();
    if n < MIN_PASSWORD {
        return Err(MeteringError::Invalid(format!("the password must be at least {MIN_PASSWORD} characters")));
    }
    if n > MAX_PASSWORD {
        return Err(MeteringError::Invalid(format!("the password must be at most {MAX_PASSWORD} characters")));
    }
    Ok(())
}

async fn hash_password(password: String) -> Result<String, MeteringError> {
    tokio::task::spawn_blocking(move || {
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt).map_err(|e| MeteringError::Hashing(e.to_string()))?;
        let salt = SaltString::encode_b64(&salt).map_err(|e| MeteringError::Hashing(e.to_string()))?;
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| MeteringError::Hashing(e.to_string()))
    })
    .await
    .map_err(|e| MeteringError::Hashing(e.to_string()))?
}

/// Verifies on a blocking thread. Without a stored hash it verifies against a dummy one, so
/// that an unknown email takes as long to refuse as a wrong password.
async fn verify_password(password: String, stored: Option<String>) -> Result<bool, MeteringError> {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let dummy = match DUMMY.get() {
        Some(d) => d.clone(),
        None => {
            let d = hash_password("not a password of anyone's".into()).await?;
            DUMMY.get_or_init(|| d).clone()
        }
    };
    let found = stored.is_some();
    let hash = stored.unwrap_or(dummy);
    tokio::task::spawn_blocking(move || {
        let parsed = PasswordHash::new(&hash).map_err(|e| MeteringError::Hashing(e.to_string()))?;
        Ok(found && Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
    })
    .await
    .map_err(|e| MeteringError::Hashing(e.to_string()))?
}

const ACCOUNT_COLUMNS: &str = "a.id, a.email, a.plan, a.created_at, a.email_verified_at";

impl Metering {
    /// The account behind a session token or API key; `None` when the token is unknown,
    /// revoked, expired or not shaped like one of ours.
    pub async fn identify(&self, token: &str) -> Result<Option<Caller>, MeteringError> {
        let shaped = token.len() < 128 && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        let kind = if !shaped {
            return Ok(None);
        } else if token.starts_with(SESSION_PREFIX) {
            CredentialKind::Session
        } else if token.starts_with(KEY_PREFIX) {
            CredentialKind::ApiKey
        } else {
            return Ok(None);
        };
        let token_hash = hash_secret(token);
        let query = match kind {
            CredentialKind::Session => sqlx::query(
                "SELECT a.id, a.email, a.plan, a.created_at, a.email_verified_at FROM sessions s JOIN accounts a ON a.id = s.account_id \
                 WHERE s.token_hash = $1 AND s.expires_at > $2",
            )
            .bind(&token_hash)
            .bind(self.now_ms()),
            CredentialKind::ApiKey => sqlx::query(
                "SELECT a.id, a.email, a.plan, a.created_at, a.email_verified_at FROM api_keys k JOIN accounts a ON a.id = k.account_id \
                 WHERE k.key_hash = $1 AND k.revoked_at IS NULL",
            )
            .bind(&token_hash),
        };
        let row = query.fetch_optional(&self.pool).await?;
        Ok(row.map(|r| Caller { account: Account::from_row(&r), kind, token_hash }))
    }

    /// A new guest account with a session.
    pub async fn create_guest(&self) -> Result<NewSession, MeteringError> {
        let now = self.now_ms();
        let account =
            Account { id: uuid::Uuid::new_v4().to_string(), email: None, plan: GUEST.into(), created_at: now, email_verified_at: None };
        let mut tx = self.pool.begin().await?;
        insert_account(&mut tx, &account).await?;
        let session = self.open_session(&mut tx, &account).await?;
        tx.commit().await?;
        Ok(session)
    }

    /// Registers an email and password. Called by a guest, it turns that guest into the
    /// registered account (same id: conversations and usage stay); otherwise it makes a new
    /// account. Either way the caller gets a fresh session.
    pub async fn register(&self, email: &str, password: &str, current: Option<&Caller>) -> Result<NewSession, MeteringError> {
        let email = parse_email(email)?;
        check_password(password)?;
        if current.is_some_and(|c| !c.account.is_guest()) {
            return Err(MeteringError::AlreadyRegistered);
        }
        let hash = hash_password(password.to_string()).await?;
        let now = self.now_ms();
        let mut tx = self.pool.begin().await?;
        let account = match current {
            Some(guest) => {
                let updated = sqlx::query(
                    "UPDATE accounts SET email = $1, plan = $2, registered_at = $3 WHERE id = $4 AND email IS NULL",
                )
                .bind(&email)
                .bind(FREE)
                .bind(now)
                .bind(&guest.account.id)
                .execute(&mut *tx)
                .await
                .map_err(taken)?;
                if updated.rows_affected() != 1 {
                    return Err(MeteringError::AlreadyRegistered);
                }
                let from = self.plan(&guest.account).period;
                let account = Account { email: Some(email), plan: FREE.into(), ..guest.account.clone() };
                self.move_usage(&mut tx, &account.id, from, self.plan(&account).period, now).await?;
                sqlx::query("DELETE FROM sessions WHERE account_id = $1").bind(&account.id).execute(&mut *tx).await?;
                account
            }
            None => {
                let account = Account {
                    id: uuid::Uuid::new_v4().to_string(),
                    email: Some(email),
                    plan: FREE.into(),
                    created_at: now,
                    email_verified_at: None,
                };
                insert_account(&mut tx, &account).await?;
                account
            }
        };
        sqlx::query("INSERT INTO password_credentials (account_id, hash, updated_at) VALUES ($1, $2, $3)")
            .bind(&account.id)
            .bind(&hash)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let session = self.open_session(&mut tx, &account).await?;
        tx.commit().await?;
        Ok(session)
    }

    pub async fn login(&self, email: &str, password: &str) -> Result<NewSession, MeteringError> {
        let email = email.trim().to_lowercase();
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS}, p.hash FROM accounts a JOIN password_credentials p ON p.account_id = a.id WHERE a.email = $1"
        );
        let row = sqlx::query(&sql).bind(&email).fetch_optional(&self.pool).await?;
        let stored = row.as_ref().map(|r| r.get::<String, _>(5));
        if password.chars().count() > MAX_PASSWORD || !verify_password(password.to_string(), stored).await? {
            return Err(MeteringError::WrongPassword);
        }
        let account = Account::from_row(row.as_ref().expect("verified against a stored hash"));
        let mut tx = self.pool.begin().await?;
        let session = self.open_session(&mut tx, &account).await?;
        tx.commit().await?;
        Ok(session)
    }

    /// Ends the session the caller used (an API key stays valid: revoke it instead).
    pub async fn logout(&self, caller: &Caller) -> Result<(), MeteringError> {
        if caller.kind == CredentialKind::Session {
            sqlx::query("DELETE FROM sessions WHERE token_hash = $1").bind(&caller.token_hash).execute(&self.pool).await?;
        }
        Ok(())
    }

    pub async fn create_key(&self, account: &Account, name: &str) -> Result<NewKey, MeteringError> {
        if account.is_guest() {
            return Err(MeteringError::GuestNotAllowed);
        }
        let name = name.trim();
        if name.chars().count() > 100 {
            return Err(MeteringError::Invalid("a key name is at most 100 characters".into()));
        }
        let key = new_secret(KEY_PREFIX);
        let made = NewKey {
            id: uuid::Uuid::new_v4().to_string(),
            prefix: key[..KEY_PREFIX.len() + 8].to_string(),
            key,
            name: if name.is_empty() { "default".into() } else { name.into() },
            created_at: self.now_ms(),
        };
        sqlx::query("INSERT INTO api_keys (id, account_id, key_hash, prefix, name, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&made.id)
            .bind(&account.id)
            .bind(hash_secret(&made.key))
            .bind(&made.prefix)
            .bind(&made.name)
            .bind(made.created_at)
            .execute(&self.pool)
            .await?;
        Ok(made)
    }

    pub async fn list_keys(&self, account: &Account) -> Result<Vec<KeyInfo>, MeteringError> {
        let rows = sqlx::query(
            "SELECT id, name, prefix, created_at, revoked_at FROM api_keys WHERE account_id = $1 ORDER BY created_at, id",
        )
        .bind(&account.id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| KeyInfo { id: r.get(0), name: r.get(1), prefix: r.get(2), created_at: r.get(3), revoked_at: r.get(4) })
            .collect())
    }

    /// Revokes one of the account's keys; `false` when it has no such live key.
    pub async fn revoke_key(&self, account: &Account, id: &str) -> Result<bool, MeteringError> {
        let done = sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND account_id = $3 AND revoked_at IS NULL")
            .bind(self.now_ms())
            .bind(id)
            .bind(&account.id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// An account made by the operator (no password: it signs in with its API keys).
    pub async fn create_account(&self, email: &str, plan: &str) -> Result<Account, MeteringError> {
        let email = parse_email(email)?;
        self.check_plan(plan)?;
        let account = Account {
            id: uuid::Uuid::new_v4().to_string(),
            email: Some(email),
            plan: plan.into(),
            created_at: self.now_ms(),
            email_verified_at: None,
        };
        let mut tx = self.pool.begin().await?;
        insert_account(&mut tx, &account).await?;
        tx.commit().await?;
        Ok(account)
    }

    /// Marks the account's email as verified: the operator's word that the address is the
    /// account holder's (`codecite account verify-email`). Only a verified address may ask
    /// questions by email, since a message's `From` is easy to forge.
    pub async fn verify_email(&self, account: &Account) -> Result<Account, MeteringError> {
        if account.is_guest() {
            return Err(MeteringError::GuestNotAllowed);
        }
        let now = self.now_ms();
        sqlx::query("UPDATE accounts SET email_verified_at = $1 WHERE id = $2 AND email_verified_at IS NULL")
            .bind(now)
            .bind(&account.id)
            .execute(&self.pool)
            .await?;
        self.find_account(&account.id).await
    }

    /// The account whose verified email is `email` (compared lower-cased); `None` when no
    /// account has it, or its holder has not verified it.
    pub async fn account_by_verified_email(&self, email: &str) -> Result<Option<Account>, MeteringError> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE a.email = $1 AND a.email_verified_at IS NOT NULL");
        let row = sqlx::query(&sql).bind(email.trim().to_lowercase()).fetch_optional(&self.pool).await?;
        Ok(row.map(|r| Account::from_row(&r)))
    }

    /// An account by email or id.
    pub async fn find_account(&self, email_or_id: &str) -> Result<Account, MeteringError> {
        let needle = email_or_id.trim();
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE a.email = $1 OR a.id = $2");
        let row = sqlx::query(&sql).bind(needle.to_lowercase()).bind(needle).fetch_optional(&self.pool).await?;
        row.map(|r| Account::from_row(&r)).ok_or_else(|| MeteringError::UnknownAccount(needle.into()))
    }

    /// Registered accounts first by email, then guests by age; at most `limit`.
    pub async fn list_accounts(&self, include_guests: bool, limit: usize) -> Result<Vec<Account>, MeteringError> {
        let filter = if include_guests { "" } else { "WHERE a.email IS NOT NULL" };
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts a {filter} \
             ORDER BY CASE WHEN a.email IS NULL THEN 1 ELSE 0 END, a.email, a.created_at LIMIT $1"
        );
        let rows = sqlx::query(&sql).bind(limit as i64).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(Account::from_row).collect())
    }

    /// Moves an account to another plan; usage moves with it when the period kind changes.
    pub async fn set_plan(&self, account: &Account, plan: &str) -> Result<Account, MeteringError> {
        self.check_plan(plan)?;
        let now = self.now_ms();
        let moved = Account { plan: plan.into(), ..account.clone() };
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE accounts SET plan = $1 WHERE id = $2").bind(plan).bind(&account.id).execute(&mut *tx).await?;
        self.move_usage(&mut tx, &account.id, self.plan(account).period, self.plan(&moved).period, now).await?;
        tx.commit().await?;
        Ok(moved)
    }

    /// Carries the counters of the current `from` period into the current `to` period.
    async fn move_usage(
        &self,
        tx: &mut Transaction<'static, Any>,
        account_id: &str,
        from: Period,
        to: Period,
        now: i64,
    ) -> Result<(), MeteringError> {
        let (from, to) = (period_key(from, now), period_key(to, now));
        if from == to {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO quota_usage (account_id, meter, period, used, granted) \
             SELECT account_id, meter, $2, used, granted FROM quota_usage WHERE account_id = $1 AND period = $3 \
             ON CONFLICT (account_id, meter, period) DO UPDATE SET \
             used = quota_usage.used + excluded.used, granted = quota_usage.granted + excluded.granted",
        )
        .bind(account_id)
        .bind(&to)
        .bind(&from)
        .execute(&mut **tx)
        .await?;
        sqlx::query("DELETE FROM quota_usage WHERE account_id = $1 AND period = $2")
            .bind(account_id)
            .bind(&from)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    async fn open_session(&self, tx: &mut Transaction<'static, Any>, account: &Account) -> Result<NewSession, MeteringError> {
        let token = new_secret(SESSION_PREFIX);
        let now = self.now_ms();
        let expires_at = now + i64::from(self.config.session_days) * 86_400_000;
        sqlx::query("INSERT INTO sessions (token_hash, account_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(hash_secret(&token))
            .bind(&account.id)
            .bind(now)
            .bind(expires_at)
            .execute(&mut **tx)
            .await?;
        Ok(NewSession { account: account.clone(), token, expires_at })
    }
}

async fn insert_account(tx: &mut Transaction<'static, Any>, account: &Account) -> Result<(), MeteringError> {
    sqlx::query("INSERT INTO accounts (id, email, plan, created_at, registered_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(&account.id)
        .bind(&account.email)
        .bind(&account.plan)
        .bind(account.created_at)
        .bind(account.email.as_ref().map(|_| account.created_at))
        .execute(&mut **tx)
        .await
        .map_err(taken)?;
    Ok(())
}

fn taken(e: sqlx::Error) -> MeteringError {
    if is_unique_violation(&e) {
        MeteringError::EmailTaken
    } else {
        MeteringError::Database(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(parse_email("  Coder@Example.COM ").unwrap(), "coder@example.com");
        for bad in ["", "coder", "@example.com", "coder@", "coder@example", "a b@example.com", "a@b@c.com", "coder@.com"] {
            assert!(parse_email(bad).is_err(), "{bad:?}");
        }
        assert!(check_password("short").is_err());
        assert!(check_password("long enough").is_ok());
    }

    #[test]
    fn secrets_are_random_prefixed_and_hashed() {
        let a = new_secret(KEY_PREFIX);
        assert!(a.starts_with("cck_") && a.len() == 4 + 64);
        assert_ne!(a, new_secret(KEY_PREFIX));
        assert_eq!(hash_secret(&a).len(), 64);
        assert_ne!(hash_secret(&a), a);
    }
}

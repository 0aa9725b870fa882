-- Accounts and metering. Portable SQL: the same migration runs on SQLite and PostgreSQL.
-- Times are Unix milliseconds. Secrets (session tokens, API keys) are stored only as
-- SHA-256 hashes; passwords only as argon2 hashes.
CREATE TABLE IF NOT EXISTS accounts (
    id TEXT NOT NULL PRIMARY KEY,
    -- NULL for guests; lower-cased, so uniqueness ignores case.
    email TEXT UNIQUE,
    plan TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    registered_at BIGINT
);
CREATE TABLE IF NOT EXISTS password_credentials (
    account_id TEXT NOT NULL PRIMARY KEY REFERENCES accounts (id),
    hash TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT NOT NULL PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_account ON sessions (account_id);
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT NOT NULL PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    key_hash TEXT NOT NULL UNIQUE,
    -- The first characters of the key, shown in lists so a user can tell keys apart.
    prefix TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX IF NOT EXISTS api_keys_by_account ON api_keys (account_id);
-- One counter per account, meter and period ("lifetime" or "YYYY-MM"): `used` counts
-- reservations not refunded, `granted` the extra units an operator gave for that period.
-- Reserving is one conditional UPDATE of this row, so no read-then-write race exists.
CREATE TABLE IF NOT EXISTS quota_usage (
    account_id TEXT NOT NULL,
    meter TEXT NOT NULL,
    period TEXT NOT NULL,
    used BIGINT NOT NULL,
    granted BIGINT NOT NULL,
    PRIMARY KEY (account_id, meter, period)
);
-- The usage ledger: one row per reservation, charge, refund and grant. A charge or refund
-- names the reservation it settles in `settles`, which is unique: a reservation is settled
-- once, whichever comes first.
CREATE TABLE IF NOT EXISTS usage_ledger (
    id TEXT NOT NULL PRIMARY KEY,
    account_id TEXT NOT NULL,
    meter TEXT NOT NULL,
    period TEXT NOT NULL,
    kind TEXT NOT NULL,
    amount BIGINT NOT NULL,
    settles TEXT UNIQUE,
    detail TEXT,
    at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS usage_ledger_by_account ON usage_ledger (account_id, at);
-- A request that carries an `Idempotency-Key` records the reservation it made; the same key
-- again within the window is free, unless that reservation was refunded.
CREATE TABLE IF NOT EXISTS idempotency_keys (
    account_id TEXT NOT NULL,
    meter TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    reservation_id TEXT NOT NULL,
    refunded INTEGER NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, meter, idem_key)
);
ALTER TABLE conversations ADD COLUMN account_id TEXT;
CREATE INDEX IF NOT EXISTS conversations_by_account ON conversations (account_id, created_at);

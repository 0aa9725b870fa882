-- Answers by email. Portable SQL: the same migration runs on SQLite and PostgreSQL.
-- An account's email counts for email questions only once verified (an operator's
-- `codecite account verify-email`, or `account create --email-verified`): Unix ms, or NULL.
ALTER TABLE accounts ADD COLUMN email_verified_at BIGINT;
-- Every inbound message, once: its Message-ID (or a hash of the raw message when it has
-- none) is the key, so a provider posting the same message twice gets no second answer and
-- no second charge. `reply_id` is the Message-ID of our reply: a later message naming it in
-- In-Reply-To or References continues `conversation_id`.
CREATE TABLE IF NOT EXISTS email_messages (
    message_id TEXT NOT NULL PRIMARY KEY,
    sender TEXT NOT NULL,
    account_id TEXT,
    conversation_id TEXT,
    reply_id TEXT,
    -- received, ignored, invited, refused, answered, failed
    status TEXT NOT NULL,
    detail TEXT,
    received_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS email_messages_by_reply ON email_messages (reply_id);
CREATE INDEX IF NOT EXISTS email_messages_by_account ON email_messages (account_id, received_at);
-- The last invitation to register sent to an unknown address: at most one per interval.
CREATE TABLE IF NOT EXISTS email_invitations (
    address TEXT NOT NULL PRIMARY KEY,
    sent_at BIGINT NOT NULL
);

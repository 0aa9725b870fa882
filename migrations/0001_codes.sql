-- Code tables: one row per code with its full record as JSON, and the relationships
-- (add-on → primary, deleted → replacement) as rows for reverse lookups.
-- Portable SQL: the same migration runs on SQLite and PostgreSQL.
CREATE TABLE IF NOT EXISTS codes (
    code TEXT NOT NULL PRIMARY KEY,
    system TEXT NOT NULL,
    title TEXT NOT NULL,
    record TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS codes_system ON codes (system);
CREATE TABLE IF NOT EXISTS code_links (
    code TEXT NOT NULL,
    related TEXT NOT NULL,
    kind TEXT NOT NULL,
    PRIMARY KEY (code, kind, related)
);
CREATE INDEX IF NOT EXISTS code_links_related ON code_links (related, kind);

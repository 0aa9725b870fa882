-- CMS reference tables (code numbers only): every CPT/HCPCS code number valid since July 2019
-- with its validity dates, the add-on → primary edits, and the NCCI procedure-to-procedure
-- pairs; `reference_sets` records which file version each table holds.
CREATE TABLE IF NOT EXISTS code_validity (
    code TEXT NOT NULL PRIMARY KEY,
    system TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    last_valid TEXT,
    addon_type INTEGER
);
CREATE TABLE IF NOT EXISTS addon_edits (
    addon TEXT NOT NULL,
    primary_code TEXT NOT NULL,
    edit_type INTEGER NOT NULL,
    first_seen TEXT NOT NULL,
    last_valid TEXT,
    PRIMARY KEY (addon, primary_code)
);
CREATE INDEX IF NOT EXISTS addon_edits_by_primary ON addon_edits (primary_code);
CREATE TABLE IF NOT EXISTS ncci_pairs (
    column1 TEXT NOT NULL,
    column2 TEXT NOT NULL,
    modifier_allowed INTEGER NOT NULL,
    PRIMARY KEY (column1, column2)
);
CREATE TABLE IF NOT EXISTS reference_sets (
    name TEXT NOT NULL PRIMARY KEY,
    version TEXT NOT NULL,
    row_count BIGINT NOT NULL,
    hash TEXT NOT NULL
);

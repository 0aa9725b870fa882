-- Code pages list every NCCI pair a code is in, as column 1 or column 2; the primary key
-- serves the first lookup, this index the second.
CREATE INDEX IF NOT EXISTS ncci_pairs_by_column2 ON ncci_pairs (column2);

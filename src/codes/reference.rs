//! CMS reference tables in SQL: code validity by date, add-on → primary edits and NCCI
//! procedure-to-procedure pairs (hospital outpatient, I/OCE). Code numbers only.
//!
//! Each is loaded from a file in the corpus's `raw/` folder (`.tsv`, or `.tsv.xz`), replaced
//! whole inside one transaction when the file changed, and left alone when it did not.

use std::collections::HashSet;
use std::path::Path;

use serde::Serialize;
use sqlx::{Connection, Row};

use super::{CodeSystem, CodeTable, CodeTableError};

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Validity {
    pub system: CodeSystem,
    /// 2019-07-01 means "on or before" (the tables start there).
    pub valid_from: String,
    /// The last day the code was valid; `None` while it is still valid.
    pub last_valid: Option<String>,
    /// CMS add-on edit type (1, 2 or 3) for add-on codes.
    pub addon_type: Option<i64>,
}

impl Validity {
    /// Whether the code may still be reported today: no last valid day, or one not yet past.
    pub fn in_force_today(&self) -> bool {
        let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
        self.last_valid.as_deref().is_none_or(|last| *last >= *today)
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NcciEdit {
    pub column1: String,
    pub column2: String,
    pub modifier_allowed: bool,
    pub edit_set: String,
    pub version: String,
}

pub const NCCI_EDIT_SET: &str = "hospital outpatient (I/OCE)";

#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    #[error("{file}:{line}: {message}")]
    Line { file: String, line: usize, message: String },
    #[error("{file}: {message}")]
    File { file: String, message: String },
    #[error(transparent)]
    Table(#[from] CodeTableError),
}

/// Reads a reference file, decompressing `.xz`.
fn read_text(path: &Path) -> Result<String, ReferenceError> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| ReferenceError::File { file: file.clone(), message: e.to_string() })?;
    let bytes = if path.extension().is_some_and(|e| e == "xz") {
        let mut out = vec![];
        lzma_rs::xz_decompress(&mut bytes.as_slice(), &mut out)
            .map_err(|e| ReferenceError::File { file: file.clone(), message: format!("not valid xz: {e}") })?;
        out
    } else {
        bytes
    };
    String::from_utf8(bytes).map_err(|e| ReferenceError::File { file, message: e.to_string() })
}

/// Rows of a TSV with the expected header, each with its line number.
fn rows<'a>(path: &Path, text: &'a str, header: &[&str]) -> Result<Vec<(usize, Vec<&'a str>)>, ReferenceError> {
    let file = path.display().to_string();
    let mut lines = text.lines().enumerate();
    let first = lines.next().map(|(_, l)| l).unwrap_or_default();
    let got: Vec<&str> = first.split('\t').collect();
    if got != header {
        return Err(ReferenceError::Line {
            file,
            line: 1,
            message: format!("expected the header {:?}, found {:?}", header.join("\t"), first),
        });
    }
    let mut out = vec![];
    for (i, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        if fields.len() != header.len() {
            return Err(ReferenceError::Line {
                file: file.clone(),
                line: i + 1,
                message: format!("expected {} tab-separated fields, found {}", header.len(), fields.len()),
            });
        }
        out.push((i + 1, fields));
    }
    Ok(out)
}

fn bad(path: &Path, line: usize, message: impl Into<String>) -> ReferenceError {
    ReferenceError::Line { file: path.display().to_string(), line, message: message.into() }
}

fn is_date(s: &str) -> bool {
    s.len() == 10 && s.as_bytes()[4] == b'-' && s.as_bytes()[7] == b'-' && s.replace('-', "").chars().all(|c| c.is_ascii_digit())
}

/// `…-v27.1.tsv.xz` → `I/OCE v27.1`.
fn version_of(path: &Path) -> String {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    name.split("-v")
        .nth(1)
        .and_then(|rest| rest.split(".tsv").next())
        .map(|v| format!("I/OCE v{v}"))
        .unwrap_or(name)
}

/// code, system, first seen, last valid, add-on type.
pub type ValidityRow = (String, CodeSystem, String, Option<String>, Option<i64>);

/// Reads one reference file.
pub type Parser = fn(&Path) -> Result<Parsed, ReferenceError>;

/// A parsed reference table, ready to write.
pub enum Parsed {
    Validity(Vec<ValidityRow>),
    Addons(Vec<(String, String, i64, String, Option<String>)>),
    Ncci(Vec<(String, String, bool)>),
}

/// One value of a row to write.
enum Cell<'a> {
    Text(&'a str),
    Int(i64),
    Null,
}

impl Serialize for Cell<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Cell::Text(t) => s.serialize_str(t),
            Cell::Int(n) => s.serialize_i64(*n),
            Cell::Null => s.serialize_none(),
        }
    }
}

impl Parsed {
    /// The table and its columns.
    fn table(&self) -> (&'static str, &'static str) {
        match self {
            Parsed::Validity(_) => ("code_validity", "code, system, first_seen, last_valid, addon_type"),
            Parsed::Addons(_) => ("addon_edits", "addon, primary_code, edit_type, first_seen, last_valid"),
            Parsed::Ncci(_) => ("ncci_pairs", "column1, column2, modifier_allowed"),
        }
    }

    fn len(&self) -> usize {
        match self {
            Parsed::Validity(r) => r.len(),
            Parsed::Addons(r) => r.len(),
            Parsed::Ncci(r) => r.len(),
        }
    }

    /// Calls `f` with each row's cells, in file order; of rows with the same primary key only
    /// the first (a CMS file repeats a few add-on pairs).
    fn each_row(&self, mut f: impl FnMut(&[Cell])) {
        fn text(s: &Option<String>) -> Cell<'_> {
            s.as_deref().map_or(Cell::Null, Cell::Text)
        }
        let int = |i: &Option<i64>| i.map_or(Cell::Null, Cell::Int);
        let mut seen = HashSet::with_capacity(self.len());
        match self {
            Parsed::Validity(rows) => {
                for (code, system, first, last, addon) in rows {
                    if seen.insert((code.as_str(), "")) {
                        f(&[Cell::Text(code), Cell::Text(system.as_str()), Cell::Text(first), text(last), int(addon)]);
                    }
                }
            }
            Parsed::Addons(rows) => {
                for (addon, primary, edit, first, last) in rows {
                    if seen.insert((addon.as_str(), primary.as_str())) {
                        f(&[Cell::Text(addon), Cell::Text(primary), Cell::Int(*edit), Cell::Text(first), text(last)]);
                    }
                }
            }
            Parsed::Ncci(rows) => {
                for (c1, c2, allowed) in rows {
                    if seen.insert((c1.as_str(), c2.as_str())) {
                        f(&[Cell::Text(c1), Cell::Text(c2), Cell::Int(i64::from(*allowed))]);
                    }
                }
            }
        }
    }

    /// The rows as one JSON array of arrays, for SQLite's `json_each`.
    fn json_rows(&self) -> String {
        let mut out = Vec::with_capacity(self.len() * 32);
        out.push(b'[');
        self.each_row(|cells| {
            if out.len() > 1 {
                out.push(b',');
            }
            serde_json::to_writer(&mut out, cells).expect("cells serialize");
        });
        out.push(b']');
        String::from_utf8(out).expect("serde_json writes UTF-8")
    }

    /// The rows in PostgreSQL's `COPY` text format.
    fn copy_rows(&self) -> String {
        let mut out = String::with_capacity(self.len() * 24);
        self.each_row(|cells| {
            for (i, cell) in cells.iter().enumerate() {
                if i > 0 {
                    out.push('\t');
                }
                match cell {
                    Cell::Text(s) => {
                        for c in s.chars() {
                            match c {
                                '\\' => out.push_str("\\\\"),
                                '\t' => out.push_str("\\t"),
                                '\n' => out.push_str("\\n"),
                                '\r' => out.push_str("\\r"),
                                c => out.push(c),
                            }
                        }
                    }
                    Cell::Int(n) => out.push_str(&n.to_string()),
                    Cell::Null => out.push_str("\\N"),
                }
            }
            out.push('\n');
        });
        out
    }
}

pub fn parse_validity(path: &Path) -> Result<Parsed, ReferenceError> {
    let text = read_text(path)?;
    let mut out = vec![];
    for (line, f) in rows(path, &text, &["code", "system", "first_seen", "last_valid", "addon_type"])? {
        let system = match f[1] {
            "CPT" => CodeSystem::Cpt,
            "HCPCS" => CodeSystem::Hcpcs,
            other => return Err(bad(path, line, format!("unknown system {other:?}"))),
        };
        if system == CodeSystem::Hcpcs && f[0].starts_with('D') {
            continue; // CDT code numbers belong to the ADA's code set, which codecite excludes.
        }
        if !is_date(f[2]) || !(f[3].is_empty() || is_date(f[3])) {
            return Err(bad(path, line, "dates must be YYYY-MM-DD"));
        }
        let addon = match f[4] {
            "" => None,
            t => Some(t.parse::<i64>().map_err(|_| bad(path, line, format!("add-on type {t:?} is not a number")))?),
        };
        out.push((f[0].to_string(), system, f[2].to_string(), (!f[3].is_empty()).then(|| f[3].to_string()), addon));
    }
    Ok(Parsed::Validity(out))
}

pub fn parse_addons(path: &Path) -> Result<Parsed, ReferenceError> {
    let text = read_text(path)?;
    let mut out = vec![];
    for (line, f) in rows(path, &text, &["addon_code", "primary_code", "edit_type", "first_seen", "last_valid"])? {
        let edit_type = f[2].parse::<i64>().map_err(|_| bad(path, line, format!("edit type {:?} is not a number", f[2])))?;
        if !is_date(f[3]) || !(f[4].is_empty() || is_date(f[4])) {
            return Err(bad(path, line, "dates must be YYYY-MM-DD"));
        }
        out.push((f[0].to_string(), f[1].to_string(), edit_type, f[3].to_string(), (!f[4].is_empty()).then(|| f[4].to_string())));
    }
    Ok(Parsed::Addons(out))
}

pub fn parse_ncci(path: &Path) -> Result<Parsed, ReferenceError> {
    let text = read_text(path)?;
    let mut out = Vec::with_capacity(text.len() / 16);
    for (line, f) in rows(path, &text, &["column1", "column2", "modifier_allowed"])? {
        let allowed = match f[2] {
            "0" => false,
            "1" => true,
            other => return Err(bad(path, line, format!("modifier_allowed must be 0 or 1, found {other:?}"))),
        };
        out.push((f[0].to_string(), f[1].to_string(), allowed));
    }
    Ok(Parsed::Ncci(out))
}

/// Records which file a reference table now holds (run in the transaction that wrote it).
fn record_set<'q, DB: sqlx::Database>(
    name: &'q str,
    version: &'q str,
    count: usize,
    hash: &'q str,
) -> sqlx::query::Query<'q, DB, DB::Arguments<'q>>
where
    &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    sqlx::query(
        "INSERT INTO reference_sets (name, version, row_count, hash) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (name) DO UPDATE SET version = excluded.version, row_count = excluded.row_count, hash = excluded.hash",
    )
    .bind(name)
    .bind(version)
    .bind(count as i64)
    .bind(hash)
}

impl CodeTable {
    /// The hash recorded for a reference set, if any.
    pub async fn reference_hash(&self, name: &str) -> Result<Option<String>, CodeTableError> {
        let row = sqlx::query("SELECT hash FROM reference_sets WHERE name = $1").bind(name).fetch_optional(self.pool()).await?;
        Ok(row.map(|r| r.get(0)))
    }

    /// Replaces one reference table with `parsed` in a single transaction: PostgreSQL takes
    /// the rows through `COPY`, SQLite as one JSON array that `json_each` unpacks, each in
    /// one statement.
    pub async fn replace_reference(&self, name: &str, version: &str, hash: &str, parsed: &Parsed) -> Result<usize, CodeTableError> {
        let (table, columns) = parsed.table();
        let count = parsed.len();
        match self.postgres() {
            Some(pg) => {
                let mut conn = pg.acquire().await?;
                let mut tx = conn.begin().await?;
                sqlx::query(&format!("DELETE FROM {table}")).execute(&mut *tx).await?;
                let mut copy = tx.copy_in_raw(&format!("COPY {table} ({columns}) FROM STDIN")).await?;
                copy.send(parsed.copy_rows().into_bytes()).await?;
                copy.finish().await?;
                record_set(name, version, count, hash).execute(&mut *tx).await?;
                tx.commit().await?;
            }
            None => {
                let mut tx = self.pool().begin().await?;
                sqlx::query(&format!("DELETE FROM {table}")).execute(&mut *tx).await?;
                let width = columns.split(',').count();
                let values: Vec<String> = (0..width).map(|i| format!("value->>{i}")).collect();
                sqlx::query(&format!("INSERT INTO {table} ({columns}) SELECT {} FROM json_each($1)", values.join(", ")))
                    .bind(parsed.json_rows())
                    .execute(&mut *tx)
                    .await?;
                record_set(name, version, count, hash).execute(&mut *tx).await?;
                tx.commit().await?;
            }
        }
        Ok(count)
    }

    pub async fn validity(&self, code: &str) -> Result<Option<Validity>, CodeTableError> {
        let row = sqlx::query("SELECT system, first_seen, last_valid, addon_type FROM code_validity WHERE code = $1")
            .bind(code)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.and_then(|r| {
            let system = r.get::<String, _>(0).parse().ok()?;
            Some(Validity { system, valid_from: r.get(1), last_valid: r.get(2), addon_type: r.get(3) })
        }))
    }

    /// Acceptable primary codes of an add-on code under the CMS add-on edits (current ones).
    pub async fn addon_primaries(&self, addon: &str) -> Result<Vec<String>, CodeTableError> {
        let rows = sqlx::query("SELECT primary_code FROM addon_edits WHERE addon = $1 AND last_valid IS NULL ORDER BY primary_code")
            .bind(addon)
            .fetch_all(self.pool())
            .await?;
        Ok(rows.into_iter().map(|r| r.get(0)).collect())
    }

    /// The NCCI edit between two codes, in either order.
    pub async fn ncci(&self, a: &str, b: &str) -> Result<Option<NcciEdit>, CodeTableError> {
        let row = sqlx::query(
            "SELECT column1, column2, modifier_allowed FROM ncci_pairs \
             WHERE (column1 = $1 AND column2 = $2) OR (column1 = $2 AND column2 = $1)",
        )
        .bind(a)
        .bind(b)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let version = sqlx::query("SELECT version FROM reference_sets WHERE name = 'ncci'")
            .fetch_optional(self.pool())
            .await?
            .map(|r| r.get::<String, _>(0))
            .unwrap_or_default();
        Ok(Some(NcciEdit {
            column1: row.get(0),
            column2: row.get(1),
            modifier_allowed: row.get::<i64, _>(2) == 1,
            edit_set: NCCI_EDIT_SET.into(),
            version,
        }))
    }

    /// Up to `limit` NCCI edits that `code` is in (as column 1 first, then as column 2), and
    /// how many there are in all.
    pub async fn ncci_pairs(&self, code: &str, limit: usize) -> Result<(Vec<NcciEdit>, i64), CodeTableError> {
        let version = self.reference_version("ncci").await?.unwrap_or_default();
        let mut edits = vec![];
        for sql in [
            "SELECT column1, column2, modifier_allowed FROM ncci_pairs WHERE column1 = $1 ORDER BY column2 LIMIT $2",
            "SELECT column1, column2, modifier_allowed FROM ncci_pairs WHERE column2 = $1 ORDER BY column1 LIMIT $2",
        ] {
            let room = limit.saturating_sub(edits.len());
            if room == 0 {
                break;
            }
            let rows = sqlx::query(sql).bind(code).bind(room as i64).fetch_all(self.pool()).await?;
            edits.extend(rows.iter().map(|row| NcciEdit {
                column1: row.get(0),
                column2: row.get(1),
                modifier_allowed: row.get::<i64, _>(2) == 1,
                edit_set: NCCI_EDIT_SET.into(),
                version: version.clone(),
            }));
        }
        let total: i64 = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM ncci_pairs WHERE column1 = $1) + (SELECT COUNT(*) FROM ncci_pairs WHERE column2 = $1)",
        )
        .bind(code)
        .fetch_one(self.pool())
        .await?
        .get(0);
        Ok((edits, total))
    }

    /// The version label of a loaded reference set, `None` when it was never loaded.
    pub async fn reference_version(&self, name: &str) -> Result<Option<String>, CodeTableError> {
        let row = sqlx::query("SELECT version FROM reference_sets WHERE name = $1").bind(name).fetch_optional(self.pool()).await?;
        Ok(row.map(|r| r.get(0)))
    }

    /// Row counts of a reference table by name (`ncci`, `validity`, `addons`, `guideline_notes`).
    pub async fn reference_count(&self, name: &str) -> Result<i64, CodeTableError> {
        let row = sqlx::query("SELECT row_count FROM reference_sets WHERE name = $1").bind(name).fetch_optional(self.pool()).await?;
        Ok(row.map(|r| r.get(0)).unwrap_or(0))
    }

    /// Records a count that is not a table of its own (e.g. guideline notes ingested).
    pub async fn record_count(&self, name: &str, count: usize) -> Result<(), CodeTableError> {
        sqlx::query(
            "INSERT INTO reference_sets (name, version, row_count, hash) VALUES ($1, '', $2, '') \
             ON CONFLICT (name) DO UPDATE SET row_count = excluded.row_count",
        )
        .bind(name)
        .bind(count as i64)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}

/// The reference files of a corpus and how to read each: (set name, file stem, parser).
pub const REFERENCE_FILES: [(&str, &str, Parser); 3] = [
    ("validity", "code-validity", parse_validity),
    ("addons", "addon-primary", parse_addons),
    ("ncci", "ncci-ptp-outpatient", parse_ncci),
];

/// Finds `raw/<stem>*.tsv[.xz]` in a corpus.
pub fn find_reference(corpus: &Path, stem: &str) -> Option<std::path::PathBuf> {
    let mut found: Vec<std::path::PathBuf> = std::fs::read_dir(corpus.join("raw"))
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            name.starts_with(stem) && (name.ends_with(".tsv") || name.ends_with(".tsv.xz"))
        })
        .collect();
    found.sort();
    found.pop()
}

pub fn version_label(path: &Path) -> String {
    version_of(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_reference_lines_name_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ncci-ptp-outpatient-ioce-v27.1.tsv");
        std::fs::write(&p, "column1\tcolumn2\tmodifier_allowed\n0001U\t0029U\t1\n0001U\t0030U\t7\n").unwrap();
        let err = parse_ncci(&p).err().unwrap().to_string();
        assert!(err.ends_with("ncci-ptp-outpatient-ioce-v27.1.tsv:3: modifier_allowed must be 0 or 1, found \"7\""), "{err}");
        std::fs::write(&p, "c1\tc2\n").unwrap();
        assert!(parse_ncci(&p).err().unwrap().to_string().contains(":1: expected the header"));
        assert_eq!(version_of(&p), "I/OCE v27.1");
    }

    #[test]
    fn xz_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.tsv.xz");
        let mut packed = vec![];
        lzma_rs::xz_compress(&mut "column1\tcolumn2\tmodifier_allowed\nA\tB\t0\n".as_bytes(), &mut packed).unwrap();
        std::fs::write(&p, packed).unwrap();
        match parse_ncci(&p).unwrap() {
            Parsed::Ncci(rows) => assert_eq!(rows, vec![("A".to_string(), "B".to_string(), false)]),
            _ => unreachable!(),
        }
    }
}

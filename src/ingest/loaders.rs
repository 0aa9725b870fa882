//! Loaders for the files licensed operators receive, chosen with `codecite ingest --format`:
//!
//! | format | file |
//! |---|---|
//! | `ama-cpt` | AMA CPT data file: `CODE<TAB>descriptor` per line (long, medium or short descriptors) |
//! | `cms-hcpcs` | CMS HCPCS annual file, fixed-width record layout (code 1–5, record id 11, long description 12–91, short 92–119) |
//! | `icd10cm-xml` | the ICD-10-CM tabular XML (plain or `.xz`): codes, seventh characters, classification path, notes |
//! | `icd10cm-order` | ICD-10-CM order file, fixed width (order 1–5, code 7–13, billable flag 15, short 17–76, long 78–) |
//! | `ncci-ptp` | NCCI procedure-to-procedure quarterly text file (column 1, column 2, prior-1996 flag, effective date, deletion date, modifier indicator, …) |
//! | `codecite` | our own JSONL code records |
//! | `codecite-note` | our own guideline note (Markdown with `title`, `topic`, `codes` front matter) |
//!
//! A loader turns its file into code records (or NCCI rows) in the data dir's overlay, which
//! every ingest layers over the bundled corpus: an overlay record replaces the title and
//! description of the corpus record with the same code and keeps its other facts. Licensed
//! text therefore lives only in the operator's data dir, never in the repository. Every file
//! is parsed completely before anything is written, and a bad line names the file and line.

use std::path::{Path, PathBuf};

use crate::codes::{icd_form, shape, CodeRecord, CodeSystem};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    AmaCpt,
    CmsHcpcs,
    Icd10cmXml,
    Icd10cmOrder,
    NcciPtp,
    Codecite,
    CodeciteNote,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{}:{line}: {message}", file.display())]
    Line { file: PathBuf, line: usize, message: String },
    #[error("{}: {message}", file.display())]
    File { file: PathBuf, message: String },
}

pub enum Loaded {
    Records(Vec<CodeRecord>),
    /// A guideline note, checked, with its Markdown text.
    Note(String),
    /// (column 1, column 2, modifier allowed) of the edits in force.
    Ncci(Vec<(String, String, bool)>),
}

fn at(file: &Path, line: usize, message: impl Into<String>) -> LoadError {
    LoadError::Line { file: file.to_path_buf(), line, message: message.into() }
}

/// Fixed-width field by 1-based inclusive columns, trimmed; short lines give "".
fn cols(line: &str, from: usize, to: usize) -> &str {
    let start = (from - 1).min(line.len());
    let end = to.min(line.len());
    line.get(start..end).unwrap_or("").trim()
}

pub fn load(format: Format, path: &Path) -> Result<Loaded, LoadError> {
    let mut bytes = std::fs::read(path).map_err(|e| LoadError::File { file: path.into(), message: e.to_string() })?;
    if path.extension().is_some_and(|e| e == "xz") {
        let mut out = vec![];
        lzma_rs::xz_decompress(&mut bytes.as_slice(), &mut out)
            .map_err(|e| LoadError::File { file: path.into(), message: format!("not valid xz: {e}") })?;
        bytes = out;
    }
    // Government and AMA files are often Latin-1; keep every byte readable.
    let text = String::from_utf8(bytes.clone()).unwrap_or_else(|_| bytes.iter().map(|&b| b as char).collect());
    parse(format, path, &text)
}

/// Parses a file's text (`path` names it in errors). Any text gives records or an error
/// naming the file and line, never a panic.
pub fn parse(format: Format, path: &Path, text: &str) -> Result<Loaded, LoadError> {
    match format {
        Format::AmaCpt => ama_cpt(path, text).map(Loaded::Records),
        Format::CmsHcpcs => cms_hcpcs(path, text).map(Loaded::Records),
        Format::Icd10cmXml => super::icd_xml::icd10cm_tabular(path, text).map(Loaded::Records),
        Format::Icd10cmOrder => icd10cm_order(path, text).map(Loaded::Records),
        Format::NcciPtp => ncci_ptp(path, text).map(Loaded::Ncci),
        Format::CodeciteNote => {
            super::corpus::parse_note(path, file_name(path), text)
                .map_err(|e| LoadError::File { file: path.into(), message: e.to_string() })?;
            Ok(Loaded::Note(text.to_string()))
        }
        Format::Codecite => {
            let mut out = vec![];
            for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
                out.push(serde_json::from_str(line).map_err(|e| at(path, i + 1, e.to_string()))?);
            }
            Ok(Loaded::Records(out))
        }
    }
}

fn ama_cpt(path: &Path, text: &str) -> Result<Vec<CodeRecord>, LoadError> {
    let mut out = vec![];
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let (code, descriptor) = line.split_once('\t').unwrap_or((line, ""));
        let code = code.trim();
        if !shape::fits(CodeSystem::Cpt, code) {
            if i == 0 {
                continue; // a header line
            }
            return Err(at(path, i + 1, format!("{code:?} is not a CPT code")));
        }
        if !line.contains('\t') {
            return Err(at(path, i + 1, "expected CODE<TAB>descriptor"));
        }
        if descriptor.trim().is_empty() {
            return Err(at(path, i + 1, format!("{code} has an empty descriptor")));
        }
        let source = format!("AMA CPT data file {} (licensed, loaded by the operator)", file_name(path));
        out.push(CodeRecord::new(CodeSystem::Cpt, code, descriptor.trim(), source));
    }
    Ok(out)
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

fn cms_hcpcs(path: &Path, text: &str) -> Result<Vec<CodeRecord>, LoadError> {
    let mut out: Vec<CodeRecord> = vec![];
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        if line.len() < 12 {
            return Err(at(path, i + 1, format!("a record is at least 12 characters; this one has {}", line.len())));
        }
        let code = cols(line, 1, 5);
        let record_id = cols(line, 11, 11);
        let long = cols(line, 12, 91);
        let short = cols(line, 92, 119);
        let (system, first, continuation) = match record_id {
            "3" | "4" => (CodeSystem::Hcpcs, "3", "4"),
            "7" | "8" => (CodeSystem::Modifier, "7", "8"),
            other => return Err(at(path, i + 1, format!("unknown record identification code {other:?}"))),
        };
        if !shape::fits(system, code) {
            return Err(at(path, i + 1, format!("{code:?} is not a {} code", system.label())));
        }
        if system == CodeSystem::Hcpcs && code.starts_with('D') {
            continue; // CDT codes belong to the ADA and are excluded.
        }
        if record_id == continuation {
            match out.last_mut() {
                Some(r) if r.code == code => {
                    let d = r.description.get_or_insert_with(String::new);
                    d.push(' ');
                    d.push_str(long);
                }
                _ => return Err(at(path, i + 1, format!("continuation line for {code} without its first line"))),
            }
            continue;
        }
        debug_assert_eq!(record_id, first);
        let title = if short.is_empty() { long } else { short };
        let mut record = CodeRecord::new(system, code, title, format!("CMS HCPCS annual file {}", file_name(path)));
        record.description = Some(long.to_string());
        out.push(record);
    }
    Ok(out)
}

fn icd10cm_order(path: &Path, text: &str) -> Result<Vec<CodeRecord>, LoadError> {
    let mut out = vec![];
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let (order, code, billable, long) = (cols(line, 1, 5), cols(line, 7, 13), cols(line, 15, 15), cols(line, 78, 400));
        if order.parse::<u32>().is_err() || code.len() < 3 || !matches!(billable, "0" | "1") {
            return Err(at(path, i + 1, "not an ICD-10-CM order file record (order 1-5, code 7-13, billable flag 15)"));
        }
        if billable == "0" {
            continue; // headers (categories) are not billable codes
        }
        let code = icd_form(code);
        let title = if long.is_empty() { cols(line, 17, 76) } else { long };
        out.push(CodeRecord::new(CodeSystem::Icd10Cm, code, title, format!("ICD-10-CM order file {}", file_name(path))));
    }
    Ok(out)
}

/// `20260401` or `2026-04-01` → `2026-04-01`.
fn date(s: &str) -> Option<String> {
    let digits: String = s.chars().filter(|c| c.is_ascii_digit()).collect();
    (digits.len() == 8).then(|| format!("{}-{}-{}", &digits[..4], &digits[4..6], &digits[6..]))
}

fn ncci_ptp(path: &Path, text: &str) -> Result<Vec<(String, String, bool)>, LoadError> {
    let today = {
        let days = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() / 86_400).unwrap_or(0);
        civil_date(days as i64)
    };
    let mut out = vec![];
    let mut seen_data = false;
    for (i, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.trim_end_matches('\r').split('\t').map(str::trim).collect();
        if fields.len() < 6 || !shape::is_procedure_code(fields[0]) {
            if seen_data && !line.trim().is_empty() {
                return Err(at(path, i + 1, "expected column 1, column 2, prior-1996 flag, effective date, deletion date, modifier indicator"));
            }
            continue; // title, copyright and header lines come first
        }
        seen_data = true;
        if !shape::is_procedure_code(fields[1]) {
            return Err(at(path, i + 1, format!("{:?} is not a column 2 code", fields[1])));
        }
        let effective = date(fields[3]).ok_or_else(|| at(path, i + 1, format!("effective date {:?} is not a date", fields[3])))?;
        let deleted = match fields[4] {
            "" | "*" => None,
            d => Some(date(d).ok_or_else(|| at(path, i + 1, format!("deletion date {d:?} is not a date")))?),
        };
        let allowed = match fields[5] {
            "0" => false,
            "1" => true,
            "9" => continue, // the edit no longer applies
            other => return Err(at(path, i + 1, format!("modifier indicator {other:?} is not 0, 1 or 9"))),
        };
        if effective > today || deleted.is_some_and(|d| d < today) {
            continue;
        }
        out.push((fields[0].to_string(), fields[1].to_string(), allowed));
    }
    if !seen_data {
        return Err(LoadError::File { file: path.into(), message: "no edit rows found".into() });
    }
    Ok(out)
}

/// Days since 1970-01-01 → `YYYY-MM-DD` (proleptic Gregorian).
fn civil_date(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Writes what a loader produced into the overlay: records as JSONL under `codes/`, NCCI
/// rows as a reference file under `raw/` that replaces the bundled one.
pub fn write_overlay(overlay: &Path, format: Format, source: &Path, loaded: &Loaded) -> std::io::Result<PathBuf> {
    let stem = format!("{format:?}").to_lowercase();
    match loaded {
        Loaded::Records(records) => {
            let dir = overlay.join("codes");
            std::fs::create_dir_all(&dir)?;
            let target = dir.join(format!("{stem}-{}.jsonl", file_name(source).replace(['.', ' '], "_")));
            let lines: Vec<String> = records.iter().map(|r| serde_json::to_string(r).expect("records serialize")).collect();
            std::fs::write(&target, lines.join("\n") + "\n")?;
            Ok(target)
        }
        Loaded::Note(text) => {
            let dir = overlay.join("guidelines");
            std::fs::create_dir_all(&dir)?;
            let target = dir.join(file_name(source));
            std::fs::write(&target, text)?;
            Ok(target)
        }
        Loaded::Ncci(rows) => {
            let dir = overlay.join("raw");
            std::fs::create_dir_all(&dir)?;
            let target = dir.join(format!("ncci-ptp-outpatient-{}.tsv", file_name(source).replace(['.', ' '], "_")));
            let mut text = String::from("column1\tcolumn2\tmodifier_allowed\n");
            for (a, b, allowed) in rows {
                text.push_str(&format!("{a}\t{b}\t{}\n", u8::from(*allowed)));
            }
            std::fs::write(&target, text)?;
            Ok(target)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_date(0), "1970-01-01");
        assert_eq!(civil_date(20_454), "2026-01-01");
    }

    proptest::proptest! {
        #[test]
        fn any_file_text_loads_or_names_its_line(text in proptest::prelude::any::<String>(), lines in proptest::collection::vec("[0-9A-Zſé\t .,\\-]{0,130}", 0..4)) {
            let joined = lines.join("\n");
            for format in [Format::AmaCpt, Format::CmsHcpcs, Format::Icd10cmXml, Format::Icd10cmOrder, Format::NcciPtp, Format::Codecite, Format::CodeciteNote] {
                for t in [&text, &joined] {
                    if let Err(e) = parse(format, Path::new("input.txt"), t) {
                        proptest::prop_assert!(e.to_string().contains("input.txt"), "{e}");
                    }
                }
            }
        }
    }
}

//! Reading the corpus: `codes/*.jsonl` (one [`CodeRecord`] per line) and
//! `guidelines/**/*.md` (guideline notes with a front matter block).
//!
//! Every problem is reported with the file and line, and nothing is ingested from a
//! corpus that has one: loading is all-or-nothing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::codes::{shape, CodeRecord, CodeSystem};

#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    #[error("{}:{line}: {message}", file.display())]
    Line { file: PathBuf, line: usize, message: String },
    #[error("{}: {message}", file.display())]
    File { file: PathBuf, message: String },
}

fn at(file: &Path, line: usize, message: impl Into<String>) -> CorpusError {
    CorpusError::Line { file: file.to_path_buf(), line, message: message.into() }
}

/// A guideline note: our own plain-language explanation of a coding rule.
#[derive(Debug, Clone, PartialEq)]
pub struct GuidelineNote {
    /// Path relative to the guidelines folder, with `/` separators: the note's stable id.
    pub id: String,
    pub title: String,
    pub topic: String,
    pub codes: Vec<String>,
    pub body: String,
}

#[derive(Debug, Default)]
pub struct Corpus {
    pub records: Vec<CodeRecord>,
    pub notes: Vec<GuidelineNote>,
}

pub fn load_corpus(dir: &Path) -> Result<Corpus, CorpusError> {
    if !dir.is_dir() {
        return Err(CorpusError::File { file: dir.into(), message: "corpus folder not found".into() });
    }
    let mut corpus = Corpus::default();
    let mut seen: HashMap<String, (PathBuf, usize)> = HashMap::new();
    for file in files_with_ext(&dir.join("codes"), "jsonl")? {
        let text = read(&file)?;
        for (i, line) in text.lines().enumerate() {
            let n = i + 1;
            if line.trim().is_empty() {
                continue;
            }
            let record: CodeRecord = serde_json::from_str(line).map_err(|e| at(&file, n, e.to_string()))?;
            validate_record(&record).map_err(|m| at(&file, n, m))?;
            if let Some((f, l)) = seen.get(&record.code) {
                return Err(at(&file, n, format!("code {} is already defined at {}:{l}", record.code, f.display())));
            }
            seen.insert(record.code.clone(), (file.clone(), n));
            corpus.records.push(record);
        }
    }
    read_everyday_names(&dir.join("names"), &mut corpus.records)?;
    name_unsided_codes(&mut corpus.records);
    let guidelines = dir.join("guidelines");
    for file in files_with_ext(&guidelines, "md")? {
        let id = file.strip_prefix(&guidelines).unwrap_or(&file).to_string_lossy().replace('\\', "/");
        if id.eq_ignore_ascii_case("README.md") {
            continue;
        }
        corpus.notes.push(parse_note(&file, id, &read(&file)?)?);
    }
    Ok(corpus)
}

/// Most everyday names one code may have.
pub const EVERYDAY_NAMES: usize = 3;

/// Reads `names/*.tsv` (`CODE<TAB>name; name`, `#` comments) into the records' everyday names.
/// A code no record has, a code named twice, or more than [`EVERYDAY_NAMES`] names is an error
/// naming the file and line.
fn read_everyday_names(dir: &Path, records: &mut [CodeRecord]) -> Result<(), CorpusError> {
    let index: HashMap<String, usize> = records.iter().enumerate().map(|(i, r)| (r.code.clone(), i)).collect();
    let mut seen: HashMap<usize, (PathBuf, usize)> = HashMap::new();
    for file in files_with_ext(dir, "tsv")? {
        let text = read(&file)?;
        for (i, line) in text.lines().enumerate() {
            let n = i + 1;
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let (code, names) = line.split_once('\t').ok_or_else(|| at(&file, n, "expected `CODE<TAB>name; name`"))?;
            let names: Vec<String> = names.split(';').map(|s| s.trim().to_string()).collect();
            if names.iter().any(|s| s.is_empty() || s.contains('\t')) || names.len() > EVERYDAY_NAMES {
                return Err(at(&file, n, format!("expected one to {EVERYDAY_NAMES} names separated by \"; \"")));
            }
            let &k = index.get(code.trim()).ok_or_else(|| at(&file, n, format!("no code record has the code {code:?}")))?;
            if let Some((f, l)) = seen.get(&k) {
                return Err(at(&file, n, format!("code {code} is already named at {}:{l}", f.display())));
            }
            seen.insert(k, (file.clone(), n));
            records[k].everyday = names;
        }
    }
    Ok(())
}

/// Gives an ICD-10-CM code for an unspecified side that has no everyday name of its own the
/// names of its right and left siblings without their side: "dog bite right hand" names
/// S61.451A, so "dog bite hand" names S61.459A ("Open bite of unspecified hand"). The sibling
/// is the code whose title is this one's with an "unspecified" read as "right" or "left".
/// Without it, a question that names no side finds the sided codes by their names and not the
/// one it asks for.
fn name_unsided_codes(records: &mut [CodeRecord]) {
    let by_title: HashMap<&str, usize> =
        records.iter().enumerate().filter(|(_, r)| r.system == CodeSystem::Icd10Cm).map(|(i, r)| (r.title.as_str(), i)).collect();
    let mut derived: Vec<(usize, Vec<String>)> = Vec::new();
    for (i, r) in records.iter().enumerate() {
        if r.system != CodeSystem::Icd10Cm || !r.everyday.is_empty() {
            continue;
        }
        let mut names: Vec<String> = Vec::new();
        for side in ["right", "left"] {
            let Some(k) = sided_titles(&r.title, side).find_map(|t| by_title.get(t.as_str()).copied()) else {
                continue;
            };
            for name in records[k].everyday.iter().filter_map(|n| without_side(n)) {
                if names.len() < EVERYDAY_NAMES && !names.contains(&name) {
                    names.push(name);
                }
            }
        }
        if !names.is_empty() {
            derived.push((i, names));
        }
    }
    for (i, names) in derived {
        records[i].everyday = names;
    }
}

/// `title` with one "unspecified" (as a word) read as `side`, for each one it has.
fn sided_titles<'t>(title: &'t str, side: &'t str) -> impl Iterator<Item = String> + 't {
    title.match_indices("unspecified").filter_map(move |(at, w)| {
        let before = title[..at].chars().next_back();
        let after = title[at + w.len()..].chars().next();
        (!before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric))
            .then(|| format!("{}{side}{}", &title[..at], &title[at + w.len()..]))
    })
}

/// An everyday name without the side it names ("torn MCL right, initial visit" → "torn MCL,
/// initial visit"); `None` when nothing is left or it names no side in words.
fn without_side(name: &str) -> Option<String> {
    const SIDES: [&str; 4] = ["right-sided", "left-sided", "right", "left"];
    let mut kept: Vec<String> = Vec::new();
    let mut dropped = false;
    for w in name.split(' ') {
        let bare = w.trim_end_matches([',', '.', ';']);
        if !SIDES.iter().any(|s| bare.eq_ignore_ascii_case(s)) {
            kept.push(w.to_string());
            continue;
        }
        dropped = true;
        // "on the right" goes whole.
        let n = kept.len();
        if n >= 2 && kept[n - 1].eq_ignore_ascii_case("the") && ["on", "of", "in", "at"].iter().any(|p| kept[n - 2].eq_ignore_ascii_case(p)) {
            kept.truncate(n - 2);
        }
        // A comma the side carried stays with the word before it.
        let tail = &w[bare.len()..];
        if let Some(last) = kept.last_mut().filter(|l| !tail.is_empty() && !l.ends_with([',', '.', ';'])) {
            last.push_str(tail);
        }
    }
    let name = kept.join(" ");
    let name = name.trim_matches([' ', ',']);
    (dropped && !name.is_empty()).then(|| name.to_string())
}

/// Layers operator-loaded records (`overlay/codes/*.jsonl`) over the corpus: a record for a
/// code the corpus has replaces its title, description and source and keeps its other facts;
/// a record for a new code is added.
pub fn apply_overlay(corpus: &mut Corpus, overlay: &Path) -> Result<usize, CorpusError> {
    let mut index: HashMap<String, usize> = corpus.records.iter().enumerate().map(|(i, r)| (r.code.clone(), i)).collect();
    let mut applied = 0;
    for file in files_with_ext(&overlay.join("codes"), "jsonl")? {
        let text = read(&file)?;
        for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let record: CodeRecord = serde_json::from_str(line).map_err(|e| at(&file, i + 1, e.to_string()))?;
            validate_record(&record).map_err(|m| at(&file, i + 1, m))?;
            match index.get(&record.code) {
                Some(&k) => {
                    let base = &mut corpus.records[k];
                    base.title = record.title;
                    if record.description.is_some() {
                        base.description = record.description;
                    }
                    base.source = record.source;
                }
                None => {
                    index.insert(record.code.clone(), corpus.records.len());
                    corpus.records.push(record);
                }
            }
            applied += 1;
        }
    }
    // Operator notes are added beside the bundled ones.
    let guidelines = overlay.join("guidelines");
    for file in files_with_ext(&guidelines, "md")? {
        let id = file.strip_prefix(&guidelines).unwrap_or(&file).to_string_lossy().replace('\\', "/");
        corpus.notes.push(parse_note(&file, format!("overlay/{id}"), &read(&file)?)?);
        applied += 1;
    }
    Ok(applied)
}

fn read(file: &Path) -> Result<String, CorpusError> {
    std::fs::read_to_string(file).map_err(|e| CorpusError::File { file: file.into(), message: e.to_string() })
}

/// Files below `dir` ending in `.ext`, sorted so ingest order (and so every summary) is stable.
fn files_with_ext(dir: &Path, ext: &str) -> Result<Vec<PathBuf>, CorpusError> {
    let mut out = vec![];
    if !dir.is_dir() {
        return Ok(out);
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| CorpusError::File { file: d.clone(), message: e.to_string() })?;
        for entry in entries {
            let path = entry.map_err(|e| CorpusError::File { file: d.clone(), message: e.to_string() })?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == ext) {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

fn validate_record(r: &CodeRecord) -> Result<(), String> {
    let code = r.code.trim();
    if code.is_empty() || code != r.code || code.contains(char::is_whitespace) {
        return Err(format!("code {:?} must be non-empty with no spaces", r.code));
    }
    if code != code.to_ascii_uppercase() {
        return Err(format!("code {code} must be upper case"));
    }
    if r.title.trim().is_empty() {
        return Err(format!("code {code} has an empty title"));
    }
    if r.system == CodeSystem::Guideline {
        return Err("GUIDELINE is not a code system; guideline notes go in guidelines/*.md".into());
    }
    if r.system == CodeSystem::Hcpcs && code.starts_with('D') {
        return Err(format!("{code} is a CDT code (owned by the ADA) and is excluded from the corpus"));
    }
    if !shape::fits(r.system, code) {
        return Err(format!("{code} is not shaped like a {} code", r.system.label()));
    }
    Ok(())
}

/// Parses `---` front matter (`title:`, `topic:`, `codes:`) followed by the Markdown body.
/// Parses one guideline note file (front matter and Markdown body).
pub fn parse_note(file: &Path, id: String, text: &str) -> Result<GuidelineNote, CorpusError> {
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, l)) if l.trim() == "---" => {}
        _ => return Err(at(file, 1, "a guideline note starts with a `---` front matter block")),
    }
    let (mut title, mut topic, mut codes) = (None, None, vec![]);
    let mut body_start = None;
    for (i, line) in lines.by_ref() {
        let n = i + 1;
        if line.trim() == "---" {
            body_start = Some(n);
            break;
        }
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let (key, value) = line.split_once(':').ok_or_else(|| at(file, n, "expected `key: value`"))?;
        let value = value.trim().trim_matches('"');
        match key.trim() {
            "title" => title = Some(value.to_string()),
            "topic" => topic = Some(value.to_string()),
            "codes" => {
                codes = value
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .split(',')
                    .map(|c| c.trim().trim_matches('"').to_ascii_uppercase())
                    .filter(|c| !c.is_empty())
                    .collect()
            }
            other => return Err(at(file, n, format!("unknown front matter key {other:?} (expected title, topic, codes)"))),
        }
    }
    let body_start = body_start.ok_or_else(|| at(file, 1, "front matter is not closed with `---`"))?;
    let title = title.filter(|t| !t.is_empty()).ok_or_else(|| at(file, 1, "front matter needs a title"))?;
    let body: String = text.lines().skip(body_start).collect::<Vec<_>>().join("\n");
    if body.trim().is_empty() {
        return Err(at(file, body_start + 1, "the note has no body"));
    }
    Ok(GuidelineNote { id, title, topic: topic.unwrap_or_default(), codes, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, rel: &str, text: &str) {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "codes/a.jsonl",
            "{\"system\":\"CPT\",\"code\":\"99213\",\"title\":\"Office visit\",\"source\":\"ours\"}\n\n{\"system\":\"CPT\",\"code\":\"99213\",\"title\":\"again\",\"source\":\"ours\"}\n",
        );
        let err = load_corpus(dir.path()).unwrap_err().to_string();
        assert!(err.contains("a.jsonl:3") && err.contains("already defined"), "{err}");

        write(dir.path(), "codes/a.jsonl", "{\"system\":\"HCPCS\",\"code\":\"D0120\",\"title\":\"x\",\"source\":\"s\"}\n");
        let err = load_corpus(dir.path()).unwrap_err().to_string();
        assert!(err.contains("a.jsonl:1") && err.contains("ADA"), "{err}");

        write(dir.path(), "codes/a.jsonl", "{not json\n");
        assert!(load_corpus(dir.path()).unwrap_err().to_string().contains("a.jsonl:1"));
    }

    #[test]
    fn everyday_names_join_their_records_and_bad_lines_name_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let record = "{\"system\":\"HCPCS\",\"code\":\"L0120\",\"title\":\"Cerv flex n/adj foam pre ots\",\"source\":\"s\"}\n";
        write(dir.path(), "codes/h.jsonl", record);
        write(dir.path(), "names/h.tsv", "# comment\n\nL0120\tsoft foam neck collar; foam cervical collar\n");
        let corpus = load_corpus(dir.path()).unwrap();
        assert_eq!(corpus.records[0].everyday, vec!["soft foam neck collar", "foam cervical collar"]);
        // The names survive an operator's record for the same code.
        let overlay = tempfile::tempdir().unwrap();
        write(overlay.path(), "codes/o.jsonl", &record.replace("Cerv flex n/adj foam pre ots", "Licensed title"));
        let mut corpus = corpus;
        apply_overlay(&mut corpus, overlay.path()).unwrap();
        assert_eq!((corpus.records[0].title.as_str(), corpus.records[0].everyday.len()), ("Licensed title", 2));

        for (text, line, says) in [
            ("L0120\tcollar\nL0120\tagain\n", "h.tsv:2", "already named"),
            ("L0121\tcollar\n", "h.tsv:1", "no code record"),
            ("L0120 collar\n", "h.tsv:1", "expected"),
            ("L0120\ta; b; c; d\n", "h.tsv:1", "one to 3 names"),
            ("L0120\ta;; b\n", "h.tsv:1", "one to 3 names"),
        ] {
            write(dir.path(), "names/h.tsv", text);
            let err = load_corpus(dir.path()).unwrap_err().to_string();
            assert!(err.contains(line) && err.contains(says), "{text:?}: {err}");
        }
    }

    #[test]
    fn a_code_for_an_unspecified_side_takes_its_sided_siblings_names_without_the_side() {
        let dir = tempfile::tempdir().unwrap();
        let record = |code: &str, title: &str| format!("{{\"system\":\"ICD10CM\",\"code\":\"{code}\",\"title\":\"{title}\",\"source\":\"s\"}}\n");
        let codes = [
            record("S61.451A", "Open bite of right hand, initial encounter"),
            record("S61.452A", "Open bite of left hand, initial encounter"),
            record("S61.459A", "Open bite of unspecified hand, initial encounter"),
            record("S83.411A", "Sprain of medial collateral ligament of right knee, initial encounter"),
            record("S83.419A", "Sprain of medial collateral ligament of unspecified knee, initial encounter"),
            record("M21.42", "Flat foot [pes planus] (acquired), left foot"),
            record("M21.40", "Flat foot [pes planus] (acquired), unspecified foot"),
            record("H66.91", "Otitis media, unspecified, right ear"),
            record("H66.90", "Otitis media, unspecified, unspecified ear"),
        ];
        write(dir.path(), "codes/i.jsonl", &codes.concat());
        let names = "S61.451A\tdog bite right hand, initial visit; animal bite on the right hand\n\
                     S61.452A\tdog bite left hand, initial visit\n\
                     S83.411A\ttorn MCL right, initial visit\n\
                     M21.42\tflat foot left; left\n\
                     H66.91\tright ear infection\n\
                     H66.90\tear infection\n";
        write(dir.path(), "names/i.tsv", names);
        let corpus = load_corpus(dir.path()).unwrap();
        let named = |code: &str| corpus.records.iter().find(|r| r.code == code).unwrap().everyday.clone();
        // Both siblings' names, once each, without the side.
        assert_eq!(named("S61.459A"), ["dog bite hand, initial visit", "animal bite hand"]);
        assert_eq!(named("S83.419A"), ["torn MCL, initial visit"]);
        // A name that is only the side gives nothing.
        assert_eq!(named("M21.40"), ["flat foot"]);
        // A code named in the corpus keeps its own names; the sided ones keep theirs.
        assert_eq!(named("H66.90"), ["ear infection"]);
        assert_eq!(named("S61.451A").len(), 2);
        // The sibling is found by the title's "unspecified" that is the side, not the first one.
        let corpus_without = {
            write(dir.path(), "names/i.tsv", "H66.91\tright ear infection\n");
            load_corpus(dir.path()).unwrap()
        };
        let h6690 = corpus_without.records.iter().find(|r| r.code == "H66.90").unwrap();
        assert_eq!(h6690.everyday, ["ear infection"]);
    }

    #[test]
    fn notes_parse_front_matter() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "guidelines/mod/25.md", "---\ntitle: Modifier 25\ntopic: modifiers\ncodes: [25, 99213]\n---\n# When\nBody text.\n");
        let corpus = load_corpus(dir.path()).unwrap();
        assert_eq!(corpus.notes.len(), 1);
        let note = &corpus.notes[0];
        assert_eq!((note.id.as_str(), note.title.as_str(), note.topic.as_str()), ("mod/25.md", "Modifier 25", "modifiers"));
        assert_eq!(note.codes, ["25", "99213"]);
        assert!(note.body.starts_with("# When"));

        write(dir.path(), "guidelines/mod/25.md", "---\ntitle: x\nauthor: me\n---\nbody\n");
        let err = load_corpus(dir.path()).unwrap_err().to_string();
        assert!(err.contains("25.md:3") && err.contains("author"), "{err}");
    }
}

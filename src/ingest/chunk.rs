//! Chunking: one chunk per code record, and guideline notes split at headings into chunks of
//! about [`NOTE_TOKENS`] tokens (cl100k, the tokenizer of the LLMs we prompt) with overlap.
//!
//! Each chunk has three texts: `text`, the full passage shown to a reader or an LLM;
//! `dense_text`, what the dense vector is computed from; and `sparse_text`, what BM25 indexes.
//! They differ for code records. Excludes notes name other conditions and would pull
//! unrelated queries toward the code, so neither vector sees them. A static embedder averages
//! its tokens, so the dense text is kept to the code's own names; BM25 also gets the words the
//! parent category adds, each once, so repeated category words do not inflate term counts.

use std::collections::{HashMap, HashSet};

use rayon::prelude::*;
use sha2::{Digest, Sha256};
use tiktoken_rs::CoreBPE;

use super::GuidelineNote;
use crate::codes::{CodeRecord, CodeSystem};
use crate::store::{ChunkPayload, LAYOUT_VERSION};

/// Target size of a guideline chunk, in tokens.
pub const NOTE_TOKENS: usize = 300;
/// Tokens of the previous chunk repeated at the start of the next, so a rule that straddles
/// the cut is whole in at least one chunk.
pub const OVERLAP_TOKENS: usize = 50;
/// Longest code-record chunk; long inherited note lists are cut here.
pub const CODE_TOKENS: usize = 400;

#[derive(Debug, Clone)]
pub struct Chunk {
    pub payload: ChunkPayload,
    pub dense_text: String,
    pub sparse_text: String,
}

fn bpe() -> &'static CoreBPE {
    tiktoken_rs::cl100k_base_singleton()
}

pub fn count_tokens(text: &str) -> usize {
    bpe().encode_ordinary(text).len()
}

fn finish(mut payload: ChunkPayload, dense_text: String, sparse_text: String) -> Chunk {
    let mut h = Sha256::new();
    h.update(LAYOUT_VERSION.to_le_bytes());
    payload.hash.clear();
    h.update(serde_json::to_vec(&payload).expect("payload serializes"));
    for part in [&dense_text, &sparse_text] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    payload.hash = hex::encode(h.finalize());
    Chunk { payload, dense_text, sparse_text }
}

pub fn code_key(record: &CodeRecord) -> String {
    format!("code:{}:{}", record.system, record.code)
}

/// The key of a note's `i`-th passage: the note's, then the passage's place in it.
fn note_key(id: &str, i: usize) -> String {
    format!("note:{id}#{i}")
}

/// The note a passage's key names ([`note_key`]); `None` for a code's key.
pub fn note_of_key(key: &str) -> Option<&str> {
    key.strip_prefix("note:").and_then(|k| k.split('#').next())
}

pub fn code_chunk(r: &CodeRecord) -> Chunk {
    code_chunk_counted(r, &count_tokens)
}

/// The chunks of `records`, in order, cut on every core. A note is tokenized once however
/// many records repeat it (ICD-10-CM codes inherit their category's notes).
pub fn code_chunks(records: &[CodeRecord]) -> Vec<Chunk> {
    let notes: HashSet<&str> = records.iter().flat_map(|r| r.notes.iter().map(String::as_str)).collect();
    let notes: Vec<&str> = notes.into_iter().collect();
    let tokens: HashMap<&str, usize> = notes.par_iter().map(|n| (*n, count_tokens(n))).collect();
    records.par_iter().map(|r| code_chunk_counted(r, &|note| tokens[note])).collect()
}

/// [`code_chunk`] with the token count of a note given.
fn code_chunk_counted(r: &CodeRecord, note_tokens: &(dyn Fn(&str) -> usize + Sync)) -> Chunk {
    let label = r.system.label();
    let mut lines = vec![format!("{label} {}: {}", r.code, r.title)];
    if let Some(d) = r.description.as_deref().filter(|d| *d != r.title) {
        lines.push(d.to_string());
    }
    if !r.everyday.is_empty() {
        lines.push(format!("Also called: {}.", r.everyday.join("; ")));
    }
    if r.addon {
        if r.primary_codes.is_empty() {
            lines.push(format!("{ADDON_LINE}, never alone."));
        } else {
            lines.push(format!(
                "{ADDON_LINE} ({}), never alone.",
                crate::codes::short_list(&r.primary_codes, LISTED_PRIMARIES)
            ));
        }
    }
    if let Some(year) = r.deleted_year {
        if r.replaced_by.is_empty() {
            lines.push(format!("{DELETED_LINE} {year}."));
        } else {
            lines.push(format!("{DELETED_LINE} {year}; replaced by {}.", r.replaced_by.join(", ")));
        }
    }
    if let Some(global) = r.global {
        lines.push(global.sentence().to_string());
    }
    if !r.path.is_empty() {
        lines.push(format!("Classification: {}.", r.path.join(" > ")));
    }
    let head = lines.join("\n");
    let mut text = head.clone();
    let mut budget = CODE_TOKENS.saturating_sub(count_tokens(&text));
    for note in &r.notes {
        let cost = note_tokens(note) + 1;
        if cost > budget {
            break;
        }
        budget -= cost;
        text.push('\n');
        text.push_str(note);
    }

    // Dense: the code's own names. Sparse: those, the code, and the parent's new words.
    let mut names: Vec<String> = r.description.iter().filter(|d| **d != r.title).cloned().collect();
    names.extend(r.everyday.iter().cloned());
    names.extend(r.synonyms.iter().take(6).cloned());
    let dense_text = std::iter::once(&r.title).chain(&names).cloned().collect::<Vec<_>>().join("; ");
    let mut sparse_text = format!("{} {}", r.code, dense_text);
    if let Some(parent) = r.path.last() {
        append_new_words(&mut sparse_text, strip_code_prefix(parent));
    }
    let mut codes = vec![r.code.clone()];
    codes.extend(r.primary_codes.iter().cloned());
    codes.extend(r.replaced_by.iter().cloned());
    finish(
        ChunkPayload {
            key: code_key(r),
            system: r.system,
            code: Some(r.code.clone()),
            codes,
            title: r.title.clone(),
            names,
            addon: r.addon,
            text,
            source: r.source.clone(),
            hash: String::new(),
        },
        dense_text,
        sparse_text,
    )
}

/// How a deleted code's chunk says it is one (the line opens with it, then the year).
pub const DELETED_LINE: &str = "Deleted in";

/// How an add-on code's chunk says it is one (the line opens with it).
pub const ADDON_LINE: &str = "Add-on code: reported only in addition to a primary procedure";

/// Primaries listed in a chunk; the rest are counted.
const LISTED_PRIMARIES: usize = 12;

/// Appends the words of `extra` that `text` does not already contain (case-insensitively).
fn append_new_words(text: &mut String, extra: &str) {
    let have: std::collections::HashSet<String> =
        text.split(|c: char| !c.is_alphanumeric()).map(str::to_lowercase).collect();
    for word in extra.split_whitespace() {
        let bare: String = word.chars().filter(|c| c.is_alphanumeric()).collect::<String>().to_lowercase();
        if !bare.is_empty() && !have.contains(&bare) {
            text.push(' ');
            text.push_str(word);
        }
    }
}

/// "E11 Type 2 diabetes mellitus" → "Type 2 diabetes mellitus".
fn strip_code_prefix(s: &str) -> &str {
    match s.split_once(' ') {
        Some((head, rest)) if head.chars().any(|c| c.is_ascii_digit()) => rest,
        _ => s,
    }
}

/// Splits a note at its headings, then packs each section's paragraphs and sentences into
/// chunks of at most [`NOTE_TOKENS`] tokens, each opening with the last [`OVERLAP_TOKENS`]
/// tokens' worth of sentences of the chunk before it in the same section.
pub fn note_chunks(note: &GuidelineNote) -> Vec<Chunk> {
    let mut chunks = vec![];
    for (heading, body) in sections(&note.body) {
        let units = units(&body);
        let mut start = 0;
        while start < units.len() {
            let mut end = start;
            let mut tokens = 0;
            while end < units.len() && (end == start || tokens + units[end].1 <= NOTE_TOKENS) {
                tokens += units[end].1;
                end += 1;
            }
            let text: Vec<&str> = units[start..end].iter().map(|u| u.0.as_str()).collect();
            chunks.push((heading.clone(), text.join(" ")));
            if end >= units.len() {
                break;
            }
            // Step back over trailing units that fit in the overlap, but always move forward.
            let mut next = end;
            let mut overlap = 0;
            while next > start + 1 && overlap + units[next - 1].1 <= OVERLAP_TOKENS {
                overlap += units[next - 1].1;
                next -= 1;
            }
            start = next;
        }
    }
    let system = CodeSystem::Guideline;
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, (heading, body))| {
            let title = match &heading {
                Some(h) => format!("{} — {h}", note.title),
                None => note.title.clone(),
            };
            let text = format!("{title}\n{body}");
            finish(
                ChunkPayload {
                    key: note_key(&note.id, i),
                    system,
                    code: None,
                    codes: note.codes.clone(),
                    title,
                    names: vec![],
                    addon: false,
                    text: text.clone(),
                    source: format!("codecite guideline note {}", note.id),
                    hash: String::new(),
                },
                text.clone(),
                text,
            )
        })
        .collect()
}

/// (heading, body) pairs; text before the first heading has no heading.
fn sections(body: &str) -> Vec<(Option<String>, String)> {
    let mut out: Vec<(Option<String>, String)> = vec![(None, String::new())];
    for line in body.lines() {
        if let Some(h) = line.strip_prefix('#') {
            out.push((Some(h.trim_start_matches('#').trim().to_string()), String::new()));
        } else {
            let cur = &mut out.last_mut().expect("one section").1;
            cur.push_str(line);
            cur.push('\n');
        }
    }
    out.into_iter().filter(|(_, b)| !b.trim().is_empty()).collect()
}

/// Sentences (paragraph lines joined), each with its token count; a sentence longer than a
/// whole chunk is cut by tokens.
fn units(body: &str) -> Vec<(String, usize)> {
    let mut out = vec![];
    for para in body.split("\n\n") {
        let para = para.split_whitespace().collect::<Vec<_>>().join(" ");
        let mut rest = para.as_str();
        while !rest.is_empty() {
            let cut = rest.find(". ").map(|i| i + 1).unwrap_or(rest.len());
            let sentence = rest[..cut].trim();
            rest = rest[cut..].trim_start();
            if sentence.is_empty() {
                continue;
            }
            let tokens = bpe().encode_ordinary(sentence);
            if tokens.len() <= NOTE_TOKENS {
                out.push((sentence.to_string(), tokens.len()));
            } else {
                for piece in tokens.chunks(NOTE_TOKENS - OVERLAP_TOKENS) {
                    let text = bpe().decode(piece).unwrap_or_default();
                    out.push((text, piece.len()));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> CodeRecord {
        serde_json::from_str(
            r#"{"system":"ICD10CM","code":"E11.9","title":"Type 2 diabetes mellitus without complications",
                "path":["Chapter 4","E08-E13 Diabetes mellitus","E11 Type 2 diabetes mellitus"],
                "notes":["Includes: diabetes NOS","Excludes1: type 1 diabetes mellitus (E10.-)"],"source":"CDC"}"#,
        )
        .unwrap()
    }

    #[test]
    fn code_chunks_index_names_but_not_exclusions() {
        let mut r = record();
        r.synonyms = vec!["adult-onset diabetes".into()];
        r.path.push("E11.6 Type 2 diabetes mellitus with other specified complications".into());
        let c = code_chunk(&r);
        assert_eq!(c.payload.key, "code:ICD10CM:E11.9");
        assert!(c.payload.text.contains("Excludes1: type 1"), "the reader sees every note");
        assert_eq!(c.dense_text, "Type 2 diabetes mellitus without complications; adult-onset diabetes");
        assert!(c.sparse_text.starts_with("E11.9 Type 2 diabetes mellitus without complications"));
        assert!(c.sparse_text.ends_with(" other specified"), "only the parent's new words: {}", c.sparse_text);
        assert!(!c.sparse_text.contains("type 1"), "{}", c.sparse_text);
        // Everyday names are names too, before the inclusion terms, and the reader sees them.
        r.everyday = vec!["sugar diabetes, no problems".into()];
        let c = code_chunk(&r);
        assert_eq!(c.payload.names, vec!["sugar diabetes, no problems", "adult-onset diabetes"]);
        assert!(c.dense_text.contains("; sugar diabetes, no problems; adult-onset"), "{}", c.dense_text);
        assert!(c.payload.text.contains("Also called: sugar diabetes, no problems."), "{}", c.payload.text);
    }

    #[test]
    fn chunking_many_records_at_once_matches_one_by_one() {
        let mut other = record();
        other.code = "E11.8".into();
        other.notes.insert(0, "Use additional code to identify control using insulin (Z79.4)".into());
        let records = vec![record(), other.clone(), record()];
        let many = code_chunks(&records);
        let one: Vec<String> = records.iter().map(|r| code_chunk(r).payload.hash).collect();
        assert_eq!(many.iter().map(|c| c.payload.hash.clone()).collect::<Vec<_>>(), one);
    }

    #[test]
    fn hash_changes_with_content_only() {
        let a = code_chunk(&record());
        assert_eq!(a.payload.hash, code_chunk(&record()).payload.hash);
        let mut r = record();
        r.title.push('!');
        assert_ne!(a.payload.hash, code_chunk(&r).payload.hash);
    }

    #[test]
    fn long_notes_split_at_headings_and_by_tokens_with_overlap() {
        let sentence = "Modifier 25 marks a significant, separately identifiable evaluation and management service on the day of a procedure.";
        let long: Vec<&str> = std::iter::repeat_n(sentence, 40).collect();
        let note = GuidelineNote {
            id: "m/25.md".into(),
            title: "Modifier 25".into(),
            topic: "modifiers".into(),
            codes: vec!["25".into()],
            body: format!("Intro line.\n# Short\nOne rule.\n## Long\n{}", long.join(" ")),
        };
        let chunks = note_chunks(&note);
        assert!(chunks.len() >= 4, "{}", chunks.len());
        assert_eq!(chunks[0].payload.title, "Modifier 25");
        assert_eq!(chunks[1].payload.title, "Modifier 25 — Short");
        let long_chunks: Vec<_> = chunks.iter().filter(|c| c.payload.title.ends_with("Long")).collect();
        assert!(long_chunks.len() >= 2);
        for c in &long_chunks {
            assert!(count_tokens(&c.payload.text) <= NOTE_TOKENS + 20, "chunk too long");
        }
        let total_sentences: usize = long_chunks.iter().map(|c| c.payload.text.matches("Modifier 25 marks").count()).sum();
        assert!(total_sentences > 40, "consecutive chunks overlap");
        let keys: std::collections::HashSet<_> = chunks.iter().map(|c| c.payload.key.clone()).collect();
        assert_eq!(keys.len(), chunks.len());
        assert!(chunks.iter().all(|c| note_of_key(&c.payload.key) == Some("m/25.md")), "every passage's key names its note");
        assert_eq!(note_of_key("code:CPT:99213"), None);
    }

    proptest::proptest! {
        #[test]
        fn any_note_and_record_text_chunks_without_panicking(body in proptest::prelude::any::<String>(), title in "[^\\n]{0,20}") {
            let note = GuidelineNote { id: "n.md".into(), title: title.clone(), topic: "t".into(), codes: vec![], body: body.clone() };
            let _ = note_chunks(&note);
            let mut record = CodeRecord::new(crate::codes::CodeSystem::Cpt, "99213", if title.trim().is_empty() { "x" } else { &title }, "test");
            record.description = Some(body);
            let _ = code_chunk(&record);
        }
    }
}

//! Misspelled words: "underactive thyriod", "had a siezure", "kidny stone". A word that is in
//! no code title and no English word list gets the title word one edit away (a letter
//! dropped, added, changed, or two swapped, never the first) as an expansion, the most
//! frequent when several are; the typed word stays the user's own. Failing that, it gets the
//! title word it sounds like, spelled with its letters doubled or single and its "rh" as "r"
//! ("hemmoroids", "hemmorage", "cirosis"): the misspellings of medical words are mostly
//! these, and they are often more than one edit away.
//!
//! The vocabulary is `corpus/lexicon/vocabulary.txt`, lines `word<TAB>count`: the words of
//! the code records' titles, descriptions and other names with how often they occur (the
//! corrections), and the whole words of the static model's tokenizer with count 0 (known
//! English, never a correction). It is generated from the corpus and the model
//! ([`vocabulary`]); a test holds the file to them.

use foldhash::HashMap;
use std::collections::BTreeMap;
use std::path::Path;

use super::lexicon::LexiconError;
use crate::codes::CodeRecord;

/// Words shorter than this are never corrected (too many neighbours one edit away).
const MIN_LEN: usize = 5;

#[derive(Debug, Clone, Default)]
pub struct Spelling {
    counts: HashMap<String, u32>,
    /// [`sound`] of every word some record uses → the most frequent such word.
    sounds: HashMap<String, (String, u32)>,
}

/// How `word` sounds, as far as its spelling can be wrong without changing that: a letter
/// written once or doubled the same, and "rh" as "r" ("hemorrhoids", "hemmoroids": "hemoroids").
fn sound(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    for c in word.chars() {
        let last = out.chars().last();
        if last == Some(c) || (c == 'h' && last == Some('r')) {
            continue;
        }
        out.push(c);
    }
    out
}

/// The lower-cased words of `text` worth knowing: runs of ASCII letters of four or more.
fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_ascii_alphabetic()).filter(|w| w.len() >= 4).map(str::to_ascii_lowercase)
}

/// The vocabulary of `records` (counted) and of `known` words (count 0 where no record has
/// them), as the file holds it.
pub fn vocabulary<'a>(records: &[CodeRecord], known: impl IntoIterator<Item = &'a str>) -> BTreeMap<String, u32> {
    let mut counts: BTreeMap<String, u32> = BTreeMap::new();
    for r in records {
        let texts = std::iter::once(&r.title).chain(r.description.as_ref()).chain(&r.synonyms).chain(&r.everyday);
        for w in texts.flat_map(|t| words(t)) {
            *counts.entry(w).or_default() += 1;
        }
    }
    for w in known.into_iter().flat_map(words) {
        counts.entry(w).or_default();
    }
    counts
}

/// The file's text for a vocabulary.
pub fn vocabulary_text(counts: &BTreeMap<String, u32>) -> String {
    let mut out = String::from("# Generated from corpus/codes and the static model's tokenizer (see src/retrieval/spelling.rs): word<TAB>count.\n");
    for (w, n) in counts {
        out.push_str(&format!("{w}\t{n}\n"));
    }
    out
}

impl Spelling {
    /// Reads `vocabulary.txt`; a missing file means no corrections.
    pub fn load(path: &Path) -> Result<Self, LexiconError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(LexiconError::File { file: path.into(), message: e.to_string() }),
        };
        let mut counts = HashMap::default();
        for (i, line) in text.lines().enumerate() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let err = || LexiconError::Line { file: path.into(), line: i + 1, message: "expected `word<TAB>count`".into() };
            let (w, n) = line.split_once('\t').ok_or_else(err)?;
            counts.insert(w.to_string(), n.trim().parse::<u32>().map_err(|_| err())?);
        }
        Ok(Self::from_counts(counts))
    }

    pub fn from_counts(counts: impl IntoIterator<Item = (String, u32)>) -> Self {
        let counts: HashMap<String, u32> = counts.into_iter().collect();
        let mut sounds: HashMap<String, (String, u32)> = HashMap::default();
        for (w, &n) in counts.iter().filter(|(_, n)| **n > 0) {
            let best = sounds.entry(sound(w)).or_insert_with(|| (w.clone(), n));
            if n > best.1 || (n == best.1 && *w < best.0) {
                *best = (w.clone(), n);
            }
        }
        Self { counts, sounds }
    }

    /// Some code record uses `word`.
    pub fn used(&self, word: &str) -> bool {
        self.counts.get(word).is_some_and(|&n| n > 0)
    }

    pub fn knows(&self, word: &str) -> bool {
        self.counts.contains_key(word)
    }

    /// The title word `word` misspells, when it is unknown and one edit from one; a plural
    /// ("alzhiemers") is corrected as its singular ("alzheimer"), which titles hold.
    pub fn correct(&self, word: &str) -> Option<&str> {
        if self.counts.is_empty() || word.len() < MIN_LEN || !word.bytes().all(|b| b.is_ascii_lowercase()) || self.knows(word) {
            return None;
        }
        let singular = word.strip_suffix('s').filter(|w| w.len() >= MIN_LEN && !self.knows(w));
        self.one_edit(word)
            .or_else(|| self.one_edit(singular?))
            .or_else(|| self.sounds_like(word))
            .or_else(|| self.sounds_like(singular?))
    }

    /// The record word `word` sounds like ([`sound`]), when it is spelled otherwise.
    fn sounds_like(&self, word: &str) -> Option<&str> {
        self.sounds.get(&sound(word)).map(|(w, _)| w.as_str()).filter(|w| *w != word)
    }

    fn one_edit(&self, word: &str) -> Option<&str> {
        let b = word.as_bytes();
        let mut best: Option<(&str, u32)> = None;
        let mut consider = |cand: Vec<u8>| {
            let Ok(cand) = String::from_utf8(cand) else { return };
            if let Some((w, &n)) = self.counts.get_key_value(&cand) {
                if n > 0 && best.is_none_or(|(bw, bn)| n > bn || (n == bn && w.as_str() < bw)) {
                    best = Some((w.as_str(), n));
                }
            }
        };
        // A typed word keeps its first letter (spelling errors seldom touch it, and a word
        // with another first letter is another word: "pwned" is no misspelling of "owned").
        for i in 1..=b.len() {
            if i < b.len() {
                consider([&b[..i], &b[i + 1..]].concat());
            }
            if i + 1 < b.len() {
                let mut t = b.to_vec();
                t.swap(i, i + 1);
                consider(t);
            }
            for c in b'a'..=b'z' {
                if i < b.len() && b[i] != c {
                    let mut t = b.to_vec();
                    t[i] = c;
                    consider(t);
                }
                consider([&b[..i], &[c], &b[i..]].concat());
            }
        }
        best.map(|(w, _)| w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spelling() -> Spelling {
        Spelling::from_counts(
            [("thyroid", 40), ("seizure", 12), ("kidney", 30), ("warts", 3), ("wants", 0), ("lipoma", 2), ("diploma", 0), ("hemorrhoids", 47), ("hemorrhage", 900), ("hemorrhagic", 50)]
                .map(|(w, n)| (w.to_string(), n)),
        )
    }

    #[test]
    fn one_edit_from_a_title_word() {
        let s = spelling();
        assert_eq!(s.correct("thyriod"), Some("thyroid"), "two letters swapped");
        assert_eq!(s.correct("siezure"), Some("seizure"));
        assert_eq!(s.correct("kidny"), Some("kidney"), "a letter dropped");
        assert_eq!(s.correct("kidnney"), Some("kidney"), "a letter added");
        assert_eq!(s.correct("siezures"), Some("seizure"), "a plural as its singular");
        assert_eq!(s.correct("thyriods"), Some("thyroid"));
    }

    #[test]
    fn letters_doubled_or_single_and_rh_as_r() {
        let s = spelling();
        assert_eq!(s.correct("hemmoroids"), Some("hemorrhoids"), "three edits away, the same sound");
        assert_eq!(s.correct("hemmorage"), Some("hemorrhage"));
        assert_eq!(s.correct("hemmoroid"), None, "a singular the records do not use");
        assert_eq!(s.correct("hemoragik"), None, "only doubling and rh: no other letter changes");
        assert_eq!(s.correct("kidnnee"), None);
    }

    #[test]
    fn known_words_and_short_words_stay() {
        let s = spelling();
        assert_eq!(s.correct("wants"), None, "an English word is no misspelling of warts");
        assert_eq!(s.correct("lipoma"), None);
        assert_eq!(s.correct("wart"), None, "too short to tell");
        assert_eq!(s.correct("zzzzzzz"), None);
        assert_eq!(s.correct("qarts"), None, "the first letter stays: \"qarts\" is no misspelling of warts");
        assert_eq!(Spelling::default().correct("thyriod"), None);
    }

    #[test]
    fn the_vocabulary_counts_titles_and_knows_english() {
        let record: CodeRecord = serde_json::from_value(serde_json::json!({
            "system": "ICD10CM", "code": "E03.9", "title": "Hypothyroidism, unspecified", "synonyms": ["Myxedema NOS"], "source": "t"
        }))
        .unwrap();
        let v = vocabulary(&[record], ["the", "wants", "hypothyroidism"]);
        assert_eq!(v.get("hypothyroidism"), Some(&1));
        assert_eq!(v.get("myxedema"), Some(&1));
        assert_eq!(v.get("wants"), Some(&0));
        assert_eq!(v.get("the"), None, "shorter than four letters");
        let text = vocabulary_text(&v);
        let path = std::env::temp_dir().join(format!("codecite-vocab-{}.txt", std::process::id()));
        std::fs::write(&path, &text).unwrap();
        let s = Spelling::load(&path).unwrap();
        std::fs::remove_file(&path).ok();
        assert_eq!(s.correct("myxdema"), Some("myxedema"));
        assert!(s.knows("wants"));
    }
}

//! Finding the codes an answer names, as it streams.
//!
//! Text arrives in arbitrary pieces, so a code (`E11.` + `9`), a modifier phrase
//! (`modifier ` + `25`) or a citation marker (`[` + `2]`) can be split across them. The
//! scanner keeps the whole answer and only reports a mention once the text after it shows
//! the mention cannot grow any more.

use std::collections::HashSet;
use std::sync::LazyLock;

use regex::Regex;

use crate::codes::shape::{self, Case};

static MARKER: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^\s?\[(\d{1,3})\]").expect("valid regex"));
static PARTIAL_MARKER: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^\s?(?:\[\d{0,3})?$").expect("valid regex"));

#[derive(Debug, Clone, PartialEq)]
pub struct Mention {
    pub code: String,
    /// The `[n]` written right after the code, if any.
    pub marker: Option<usize>,
    /// Shaped unmistakably like a code (5-character CPT or HCPCS, dotted ICD-10-CM, or a
    /// modifier named as one). Weak shapes (`I10`, `E119`) count only if a table has them.
    pub strong: bool,
    /// Written as an ICD-10-CM category reference (`E08.-`, `O24.4-`): the codes under it.
    pub category: bool,
}

/// Answers are short, so each piece rescans the whole text: a mention that was incomplete
/// (or not yet a match at all) is simply found again, whole, on a later scan.
#[derive(Debug, Default)]
pub struct CitationScanner {
    text: String,
    /// Start offsets of mentions already reported or skipped as repeats.
    handled: HashSet<usize>,
    seen: HashSet<String>,
}

struct Found {
    start: usize,
    end: usize,
    code: String,
    strong: bool,
}

impl CitationScanner {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a piece of the answer; returns the mentions now known to be complete.
    pub fn push(&mut self, piece: &str) -> Vec<Mention> {
        self.text.push_str(piece);
        self.scan(false)
    }

    /// The answer ended: everything left is complete.
    pub fn finish(&mut self) -> Vec<Mention> {
        self.scan(true)
    }

    fn candidates(&self) -> Vec<Found> {
        let mut found = vec![];
        // Codes are written in capitals in answers: "a1c" is a word.
        for f in shape::find_codes(&self.text, Case::Upper) {
            if let Some(m) = shape::modifier_after_code(&self.text[f.end..]) {
                found.push(Found { start: f.end + m.start, end: f.end + m.end, code: m.code, strong: true });
            }
            found.push(Found { start: f.start, end: f.end, code: f.code, strong: f.shape.strong() });
        }
        for m in shape::modifiers_in_answer(&self.text) {
            found.push(Found { start: m.start, end: m.end, code: m.code, strong: true });
        }
        found.sort_by_key(|f| (f.start, f.end));
        found.dedup_by_key(|f| f.start);
        found
    }

    /// A mention is complete when the text after it shows it cannot grow: a character that
    /// cannot continue a code, and no citation marker still arriving.
    fn complete(after: &str) -> bool {
        let mut chars = after.chars();
        match chars.next() {
            None => false,
            Some('.') | Some('-') if chars.next().is_none() => false,
            _ => !PARTIAL_MARKER.is_match(after),
        }
    }

    fn scan(&mut self, finished: bool) -> Vec<Mention> {
        let mut out = vec![];
        for f in self.candidates() {
            if self.handled.contains(&f.start) {
                continue;
            }
            let after = &self.text[f.end..];
            if !finished && !Self::complete(after) {
                // Later mentions wait too, so that they are reported in order.
                break;
            }
            self.handled.insert(f.start);
            if self.seen.insert(f.code.clone()) {
                let marker = MARKER.captures(after).and_then(|m| m[1].parse().ok());
                let rest = after.strip_prefix(".-").or_else(|| after.strip_prefix('-'));
                let category = rest.is_some_and(|r| !r.starts_with(|c: char| c.is_ascii_alphanumeric()));
                out.push(Mention { code: f.code, marker, strong: f.strong, category });
            }
        }
        out
    }
}

/// Unmistakably code-shaped tokens in a question (any case): 5-character CPT or HCPCS, or
/// dotted ICD-10-CM. Used to tell the user a code they named does not exist.
pub fn strong_codes(question: &str) -> Vec<String> {
    let mut out: Vec<String> = vec![];
    for f in shape::find_codes(question, Case::Any).into_iter().filter(|f| f.shape.strong()) {
        if !out.contains(&f.code) {
            out.push(f.code);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_pieces(pieces: &[&str]) -> Vec<Mention> {
        let mut s = CitationScanner::new();
        let mut out = vec![];
        for p in pieces {
            out.extend(s.push(p));
        }
        out.extend(s.finish());
        out
    }

    fn codes(m: &[Mention]) -> Vec<&str> {
        m.iter().map(|m| m.code.as_str()).collect()
    }

    #[test]
    fn codes_split_across_pieces_are_found_once_whole() {
        let whole = scan_pieces(&["Use E11.9 [1] with J1885 [2] and 99213-25."]);
        for split in [
            vec!["Use E1", "1.9 [1] with J18", "85 [2] and 99", "213-2", "5."],
            vec!["Use E11.", "9 [", "1] with J1885 ", "[2", "] and 99213", "-25."],
            vec!["U", "se E11.9", " [1] with J1885 [2] and 99213-25", "."],
        ] {
            let got = scan_pieces(&split);
            assert_eq!(got, whole, "{split:?}");
        }
        assert_eq!(codes(&whole), ["E11.9", "J1885", "99213", "25"]);
        assert_eq!(whole[0].marker, Some(1));
        assert_eq!(whole[1].marker, Some(2));
    }

    #[test]
    fn modifiers_need_their_word_and_weak_shapes_are_marked() {
        let m = scan_pieces(&["Append modifier ", "25 (or modifiers 59 and X", "S) ", "for I10, not A1C or a1c, in 2021."]);
        assert_eq!(codes(&m), ["25", "59", "XS", "I10", "A1C"]);
        assert_eq!(codes(&scan_pieces(&["Modifier **", "GA**: waiver"])), ["GA"]);
        assert!(m[0].strong && m[1].strong && m[2].strong);
        assert!(!m[3].strong && !m[4].strong, "bare three-character shapes are weak");
    }

    #[test]
    fn a_code_at_the_very_end_is_reported_by_finish() {
        let mut s = CitationScanner::new();
        assert!(s.push("The code is 9999").is_empty());
        assert!(s.push("9").is_empty(), "it could still grow");
        assert_eq!(codes(&s.finish()), ["99999"]);
    }

    #[test]
    fn strong_shapes_in_questions() {
        assert_eq!(strong_codes("is 99999 or j1885 or e11.9 or I10 real?"), ["99999", "J1885", "E11.9"]);
    }

    #[test]
    fn category_references_are_marked() {
        let m = scan_pieces(&["Excludes1: gestational diabetes (O24.4-); due to (E08.-); see 99213-25."]);
        assert_eq!(codes(&m), ["O24.4", "E08", "99213", "25"]);
        assert!(m[0].category && m[1].category);
        assert!(!m[2].category && !m[3].category);
    }

    #[test]
    fn repeated_codes_are_reported_once() {
        assert_eq!(codes(&scan_pieces(&["J1885 is ketorolac. J1885 again."])), ["J1885"]);
    }

    /// Text that is mostly code-like, salted with characters that Unicode case folding maps
    /// onto ASCII letters (ſ, the Kelvin sign), multi-byte letters and emoji.
    fn codeish() -> impl proptest::strategy::Strategy<Value = String> {
        proptest::string::string_regex("[A-Za-z0-9 .\\-\\[\\]*ſ\u{212A}éß😀\n]{0,60}").expect("a valid strategy")
    }

    proptest::proptest! {
        #[test]
        fn any_answer_split_anywhere_is_scanned_without_panicking(text in codeish(), cuts in proptest::collection::vec(0usize..80, 0..6)) {
            let mut pieces = vec![];
            let mut rest = text.as_str();
            for cut in cuts {
                let at = (0..=cut.min(rest.len())).rev().find(|i| rest.is_char_boundary(*i)).unwrap_or(0);
                let (a, b) = rest.split_at(at);
                pieces.push(a);
                rest = b;
            }
            pieces.push(rest);
            let split = scan_pieces(&pieces);
            let whole = scan_pieces(&[text.as_str()]);
            proptest::prop_assert_eq!(split, whole);
            let _ = strong_codes(&text);
        }
    }
}

//! Query analysis: which tokens look like codes, and how the lexicon expands the words.

use std::sync::LazyLock;

use regex::Regex;

use super::Lexicon;
use crate::codes::lookup_forms;
use crate::codes::shape::{self, Case};

/// A modifier named as one: `modifier 25`, `mod 59`, `-25` after a code, `modifiers 59 and
/// XS`. ASCII-only (`(?-u)`), like every code pattern (see `codes::shape`).
static MODIFIER_CONTEXT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i-u)\b(?:modifiers?|mod)\s+([0-9A-Z]{2})(?:\s*(?:,|and|or|/)\s*([0-9A-Z]{2}))?\b|\b\w{5}-([0-9A-Z]{2})\b")
        .expect("valid regex")
});
/// Letter modifiers written in capitals on their own (`XS`, `TC`, `LT`): lower-case "lt" or
/// "gy" in prose is not a modifier, so these are matched case-sensitively.
static MODIFIER_CAPS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?-u)\b([A-Z][0-9A-Z]|[0-9][A-Z])\b").expect("valid regex"));

/// Two-letter capitals that are modifiers but far more often mean something else.
const COMMON_ABBREVIATIONS: [&str; 20] = [
    "PT", "OT", "ST", "CT", "ER", "ED", "OR", "MD", "DO", "NP", "PA", "RN", "IV", "IM", "AM", "PM", "US", "OK", "TV", "UK",
];

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Analysis {
    /// Code spellings to look up exactly, in the order the query names them.
    pub codes: Vec<String>,
    /// Lexicon expansions found for the query's words.
    pub expansions: Vec<String>,
    /// The text searched: the query followed by its expansions.
    pub expanded: String,
}

/// Every spelling worth an exact lookup, in order of appearance, without duplicates.
pub fn code_candidates(query: &str) -> Vec<String> {
    let mut found: Vec<(usize, String)> = vec![];
    for f in shape::find_codes(query, Case::Any) {
        for form in lookup_forms(&f.code) {
            found.push((f.start, form));
        }
    }
    for c in MODIFIER_CONTEXT.captures_iter(query) {
        for g in [1, 2, 3] {
            if let Some(m) = c.get(g) {
                found.push((m.start(), m.as_str().to_ascii_uppercase()));
            }
        }
    }
    for c in MODIFIER_CAPS.captures_iter(query) {
        let m = c.get(1).expect("group 1");
        // Capitalised abbreviations coders use for other things ("PT eval", "CT head", "ER
        // visit") count as modifiers only when the query calls them one.
        if !COMMON_ABBREVIATIONS.contains(&m.as_str()) {
            found.push((m.start(), m.as_str().to_string()));
        }
    }
    found.sort_by_key(|(pos, _)| *pos);
    let mut out: Vec<String> = vec![];
    for (_, code) in found {
        if !out.contains(&code) {
            out.push(code);
        }
    }
    out
}

pub fn analyze(query: &str, lexicon: &Lexicon) -> Analysis {
    let codes = code_candidates(query);
    let expansions = lexicon.expand(query);
    let mut expanded = query.trim().to_string();
    for e in &expansions {
        expanded.push_str(" ; ");
        expanded.push_str(e);
    }
    Analysis { codes, expansions, expanded }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_codes_of_every_system() {
        let c = code_candidates("Is J1885 billable with 99213-25 for E119 and S72.001A? What about 0591T");
        for want in ["J1885", "99213", "25", "E11.9", "S72.001A", "0591T"] {
            assert!(c.contains(&want.to_string()), "{want} missing from {c:?}");
        }
        let j = c.iter().position(|x| x == "J1885").unwrap();
        let e = c.iter().position(|x| x == "E11.9").unwrap();
        assert!(j < e, "order of appearance is kept");
    }

    #[test]
    fn modifiers_need_context_or_capitals() {
        assert!(code_candidates("a 25 year old with a cough").iter().all(|c| c != "25"));
        assert!(code_candidates("when is modifier 25 needed").contains(&"25".to_string()));
        assert!(code_candidates("modifiers 59 and XS").contains(&"59".to_string()));
        assert!(code_candidates("use XS or XU").contains(&"XU".to_string()));
        assert!(!code_candidates("it is ok to go").contains(&"OK".to_string()));
        assert!(!code_candidates("PT evaluation after a CT scan").iter().any(|c| c == "PT" || c == "CT"));
        assert!(code_candidates("is modifier PT needed").contains(&"PT".to_string()));
    }

    #[test]
    fn plain_words_are_not_codes() {
        assert!(code_candidates("type 2 diabetes without complications").is_empty());
    }

    /// Text that is mostly code-like, salted with characters that Unicode case folding maps
    /// onto ASCII letters (ſ, the Kelvin sign), multi-byte letters and emoji.
    fn codeish() -> impl proptest::strategy::Strategy<Value = String> {
        proptest::string::string_regex("[A-Za-z0-9 .\\-\\[\\]*ſ\u{212A}éß😀\n]{0,60}").expect("a valid strategy")
    }

    proptest::proptest! {
        #[test]
        fn any_text_is_analysed_without_panicking(text in proptest::prelude::any::<String>(), odd in codeish()) {
            let lexicon = Lexicon::default();
            for t in [&text, &odd] {
                for code in analyze(t, &lexicon).codes {
                    proptest::prop_assert!(code.is_ascii(), "{code:?} from {t:?}");
                }
            }
        }
    }

    #[test]
    fn the_reported_inputs_do_not_panic() {
        for q in ["A1ſ", "what is A1ſ", "E1\u{212A}.9", "ſ11.9 and 99213ſ"] {
            let _ = analyze(q, &Lexicon::default());
        }
    }
}

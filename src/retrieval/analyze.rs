//! Query analysis: which tokens look like codes, and how the lexicon expands the words.

use super::{Lexicon, Term};
use crate::codes::lookup_forms;
use crate::codes::shape::{self, Case};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Analysis {
    /// Code spellings to look up exactly, in the order the query names them.
    pub codes: Vec<String>,
    /// The lexicon terms the query uses, with the words they matched.
    pub terms: Vec<Term>,
    /// Their expansions, in order, without repeats.
    pub expansions: Vec<String>,
    /// The text searched: the query followed by its expansions.
    pub expanded: String,
    /// The same without the names of code systems ([`searched_text`]), searched when the
    /// search is filtered to the system the question names.
    pub expanded_unnamed: String,
}

/// The codes and modifiers `query` names: where each starts, and its spellings worth an exact
/// lookup.
fn named_at(query: &str) -> Vec<(usize, Vec<String>)> {
    let codes = shape::find_codes(query, Case::Any).into_iter().map(|f| (f.start, lookup_forms(&f.code)));
    let modifiers = shape::modifiers_in_question(query).into_iter().map(|m| (m.start, vec![m.code]));
    codes.chain(modifiers).collect()
}

/// Every spelling worth an exact lookup, in order of appearance, without duplicates.
pub fn code_candidates(query: &str) -> Vec<String> {
    let mut found: Vec<(usize, String)> = named_at(query).into_iter().flat_map(|(at, forms)| forms.into_iter().map(move |f| (at, f))).collect();
    found.sort_by_key(|(pos, _)| *pos);
    let mut out: Vec<String> = vec![];
    for (_, code) in found {
        if !out.contains(&code) {
            out.push(code);
        }
    }
    out
}

/// The codes the query sets aside ("admin code? not 90471", "anything other than J1885",
/// "something more specific than 59", "which code instead of 99417"): what it is about, not
/// what it asks for. (A deleted code's replacement is still its answer: "what do I use instead
/// of 99218" puts 99221 first. "More than 30" is a quantity.)
pub fn set_aside_codes(query: &str) -> Vec<String> {
    let lower = query.to_lowercase();
    let mut out = vec![];
    for (start, forms) in named_at(query) {
        // The words before it, past a name of its kind ("not modifier 59").
        let kind = |w: &&str| matches!(*w, "modifier" | "modifiers" | "mod" | "code" | "codes" | "cpt" | "hcpcs");
        let before: Vec<&str> = lower[..start].split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).rev().skip_while(kind).take(2).collect();
        let aside = match before.as_slice() {
            [one, ..] if matches!(*one, "not" | "except" | "besides" | "excluding") => true,
            ["of", two, ..] => matches!(*two, "instead" | "lieu" | "place"),
            ["than", two, ..] => !matches!(*two, "more" | "less" | "fewer" | "greater" | "higher" | "lower" | "longer" | "shorter" | "older" | "younger"),
            _ => false,
        };
        if aside {
            out.extend(forms);
        }
    }
    out
}

/// The words that say which code a question asks for, between "what" or "which" and "code"
/// ("which prolonged svc code", "what add-on code do I use"), or ending it ("total 75 min,
/// prolonged service code?"): articles, the names of code systems and words like "right" left
/// out. A code the question names whose title holds none of them is what it is about, not what
/// it asks for ("99215 on time, 70 minutes, what prolonged code do I add").
pub fn asked_kind(query: &str) -> Vec<String> {
    const NOT_A_KIND: &[&str] = &[
        "the", "a", "an", "s", "is", "are", "do", "does", "i", "we", "my", "this", "that", "of", "for", "cpt", "hcpcs", "icd", "10", "cm", "dx",
        "diagnosis", "procedure", "billing", "billable", "e", "m", "em", "other", "else", "correct", "right", "proper", "best", "exact", "specific",
        "kind", "type", "which", "what", "whats", "modifier", "modifiers", "mod", "level", "ii",
        // Words for what a code is to the named one, which the search of links answers.
        "primary", "primaries", "add", "on", "addon", "replacement", "new", "old", "deleted", "same", "secondary", "companion",
    ];
    let lower = query.to_lowercase().replace(" - ", ", ");
    let clauses: Vec<Vec<&str>> = lower
        .split(|c: char| matches!(c, ',' | ';' | '.' | '?' | '!' | '(' | ')' | ':'))
        .map(|clause| clause.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect::<Vec<_>>())
        .filter(|words| !words.is_empty())
        .collect();
    let mut kind = vec![];
    for (n, words) in clauses.iter().enumerate() {
        let Some(code) = words.iter().position(|w| matches!(*w, "code" | "codes")) else { continue };
        let asked = words[..code].iter().rposition(|w| matches!(*w, "what" | "which" | "whats")).filter(|&at| code - at <= 5);
        let ends = n + 1 == clauses.len() && code + 1 == words.len() && lower.trim_end().ends_with('?');
        let from = match (asked, ends) {
            (Some(at), _) => at + 1,
            (None, true) => code.saturating_sub(3),
            _ => continue,
        };
        kind.extend(words[from..code].iter().filter(|w| !NOT_A_KIND.contains(w) && !w.chars().any(|c| c.is_ascii_digit())).map(|w| w.to_string()));
    }
    kind
}

/// The question's words in lower case: its runs of letters and digits.
pub fn words_of(query: &str) -> Vec<String> {
    query.to_lowercase().split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(String::from).collect()
}

/// The question (its [`words_of`]) asks which code goes first ("what goes first", "sequenced
/// first", "first listed dx", "principal diagnosis").
pub fn asks_for_order(words: &[String]) -> bool {
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    words.iter().any(|w| w.starts_with("sequenc") || *w == "principal")
        || words.windows(2).any(|p| match p {
            [a, "first"] => matches!(*a, "goes" | "go" | "code" | "coded" | "listed" | "list" | "dx" | "put" | "comes"),
            ["first", b] => matches!(*b, "listed" | "dx" | "diagnosis"),
            ["primary", b] => matches!(*b, "dx" | "diagnosis"),
            _ => false,
        })
}

/// The question (its [`words_of`]) asks for an external cause's code ("external cause code",
/// "the activity code", "place of occurrence", "E code", "which W code"): then it is the
/// answer, not a code to list after the injury.
pub fn asks_external_cause(words: &[String]) -> bool {
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    words.iter().any(|w| matches!(*w, "external" | "activity" | "mechanism" | "ecode"))
        || words.windows(2).any(|p| match p {
            [a, "code" | "codes"] => matches!(*a, "e" | "v" | "w" | "x" | "y" | "cause" | "place"),
            ["place", "of"] => true,
            _ => false,
        })
}

/// `query` without the words that only say a code is asked for and from which system
/// ("ICD-10 code for", "CPT", "HCPCS codes"): once the search is filtered to that system, they
/// match guideline passages about coding and titles with a "10" in them, not what is asked.
pub fn searched_text(query: &str) -> String {
    let core = |t: &str| t.chars().filter(char::is_ascii_alphanumeric).collect::<String>().to_ascii_lowercase();
    let mut kept: Vec<&str> = vec![];
    let mut after_icd = false;
    for token in query.split_whitespace() {
        let w = core(token);
        let names_system = matches!(w.as_str(), "icd" | "icd10" | "icd10cm" | "cpt" | "hcpcs" | "code" | "codes")
            || (after_icd && matches!(w.as_str(), "10" | "9" | "cm" | "10cm"));
        after_icd = w.starts_with("icd") || (after_icd && names_system);
        if !names_system {
            kept.push(token);
        }
    }
    match kept.is_empty() {
        true => query.trim().to_string(),
        false => kept.join(" "),
    }
}

pub fn analyze(query: &str, lexicon: &Lexicon) -> Analysis {
    let codes = code_candidates(query);
    let terms = lexicon.terms(query);
    let expansions = super::lexicon::expansions_of(&terms);
    let with_expansions = |mut text: String| {
        for e in &expansions {
            text.push_str(" ; ");
            text.push_str(e);
        }
        text
    };
    let expanded = with_expansions(query.trim().to_string());
    let expanded_unnamed = with_expansions(searched_text(query));
    Analysis { codes, terms, expansions, expanded, expanded_unnamed }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_question_for_the_external_cause_says_so() {
        for q in ["fell off a ladder, broke ankle, external cause code?", "want to add the activity code too", "place of occurrence code for home", "which W code for the fall", "what's the e-code"] {
            assert!(asks_external_cause(&words_of(q)), "{q}");
        }
        for q in ["broke my left wrist falling off a ladder", "the cause of the fracture", "what code for the fall"] {
            assert!(!asks_external_cause(&words_of(q)), "{q}");
        }
    }

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
        // Clinical abbreviations that are also Level II modifiers (BP, UA, RR) are words.
        assert!(code_candidates("BP check, UA and HX of RR over 20").is_empty());
        assert!(code_candidates("is modifier RR for a rental").contains(&"RR".to_string()));
    }

    #[test]
    fn the_searched_text_leaves_out_the_systems_names() {
        assert_eq!(searched_text("ICD-10 code for pneumonia"), "for pneumonia");
        assert_eq!(searched_text("icd 10 cm for a sprained ankle, left"), "for a sprained ankle, left");
        assert_eq!(searched_text("CPT codes: knee scope"), "knee scope");
        assert_eq!(searched_text("HCPCS for a cane"), "for a cane");
        // A question of nothing else is searched as it is.
        assert_eq!(searched_text(" CPT codes "), "CPT codes");
        // Codes and other numbers stay.
        assert_eq!(searched_text("is 99213 a CPT code for 10 minutes"), "is 99213 a for 10 minutes");
        let a = analyze("ICD-10 for pneumonia", &Lexicon::default());
        assert_eq!((a.expanded.as_str(), a.expanded_unnamed.as_str()), ("ICD-10 for pneumonia", "for pneumonia"));
    }

    #[test]
    fn codes_set_aside_are_not_asked_for() {
        assert_eq!(set_aside_codes("medicare flu shot, admin code? not 90471"), ["90471"]);
        assert!(set_aside_codes("anything other than J1885 for toradol").contains(&"J1885".to_string()));
        assert_eq!(set_aside_codes("which prolonged code does cms want instead of 99417"), ["99417"]);
        assert_eq!(set_aside_codes("what goes in place of modifier 59"), ["59"]);
        assert!(!set_aside_codes("99417 instead of G2212?").contains(&"99417".to_string()));
        assert!(set_aside_codes("is 99213 ok with 25").is_empty());
        assert_eq!(set_aside_codes("ncci edit hits, payer wants something more specific than modifier 59"), ["59"]);
        assert!(set_aside_codes("modifier 25 when the visit ran more than 25 minutes").is_empty());
    }

    #[test]
    fn the_kind_of_code_asked_for_is_read_between_which_and_code() {
        assert_eq!(asked_kind("medicare pt, 99215 on time, total 70 minutes. what prolonged code do i add"), ["prolonged"]);
        assert_eq!(asked_kind("99215 billed on time - which prolonged svc code does cms want instead of 99417"), ["prolonged", "svc"]);
        assert_eq!(asked_kind("medicare pt 99215 by time, total 75 min, prolonged service code?"), ["prolonged", "service"]);
        // What a code is to the named one is no kind of its own.
        assert!(asked_kind("what's the add-on code for 96365").is_empty());
        assert!(asked_kind("whats the primary code for 99292").is_empty());
        // Nothing is asked of a kind: the named code may be the answer.
        assert!(asked_kind("what is the right code for 99213 with 25").is_empty());
        assert!(asked_kind("do i still code C61").is_empty());
        assert!(asked_kind("what CPT code is 99214").is_empty());
    }

    #[test]
    fn a_question_for_the_order_of_codes_says_first_or_sequence() {
        for q in ["covid w pneumonia which code goes first", "what do i sequence first", "first listed dx?", "primary dx for chemo", "principal diagnosis", "which is coded first"] {
            assert!(asks_for_order(&words_of(q)), "{q}");
        }
        for q in ["first visit ever", "critical care first hour", "primary care visit", "first-degree burn"] {
            assert!(!asks_for_order(&words_of(q)), "{q}");
        }
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

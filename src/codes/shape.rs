//! What a code looks like, decided once, modifiers included. Everything that finds, checks or spells a CPT,
//! HCPCS Level II or ICD-10-CM code or a modifier (query analysis, the citation scanner, the
//! routes, the loaders, the corpus checks) asks this module.
//!
//! Codes are ASCII letters and digits, so every pattern here is ASCII-only: no Unicode case
//! folding can make a non-ASCII character part of a code (`ſ` folds to `s`, `K`, the Kelvin
//! sign, to `k`), and every offset a match reports sits between ASCII bytes, so slicing at
//! it never cuts a character in half.

use std::sync::LazyLock;

use regex::Regex;

use super::CodeSystem;

/// The shape of a code-like token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Shape {
    /// Four digits, then a digit or F, T, U, M: `99213`, `0591T`.
    Cpt,
    /// A letter A–V, then four digits: `J1885`.
    Hcpcs,
    /// ICD-10-CM with its dot: `E11.9`, `S72.001A`, `QA0.0101`.
    IcdDotted,
    /// ICD-10-CM without the dot, or a three-character category: `E119`, `I10`.
    IcdBare,
    /// Two characters named as a modifier: `25`, `XS` (see [`modifiers_in_question`]).
    Modifier,
}

impl Shape {
    /// Unmistakably a code: everything but the bare ICD-10-CM shape, which words like
    /// `A1C` share and which counts only when a table has it.
    pub fn strong(self) -> bool {
        !matches!(self, Shape::IcdBare)
    }
}

/// Whether lower-case letters may spell a code: yes in questions (coders type `j1885`),
/// no in answers, where codes are written in capitals and `a1c` is a word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    Any,
    Upper,
}

/// A code-shaped token found in text, in canonical spelling (upper case, as written
/// otherwise: `E119` stays bare; see [`lookup_forms`] for the dotted form).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub start: usize,
    pub end: usize,
    pub code: String,
    pub shape: Shape,
}

/// The alternatives, in priority order at one position. `(?-u)`: ASCII classes, ASCII
/// word boundaries, ASCII-only case folding.
const ALTERNATIVES: &str = r"\b(?:(?P<icd_dot>[A-Z](?:\d[0-9A-Z]|[A-Z]\d)\.[0-9A-Z]{1,4})|(?P<hcpcs>[A-V]\d{4})|(?P<cpt>\d{4}[0-9FTUM])|(?P<icd_bare>[A-Z]\d[0-9A-Z]{1,5}))\b";

static ANY_CASE: LazyLock<Regex> = LazyLock::new(|| Regex::new(&format!("(?i-u){ALTERNATIVES}")).expect("valid regex"));
static UPPER_CASE: LazyLock<Regex> = LazyLock::new(|| Regex::new(&format!("(?-u){ALTERNATIVES}")).expect("valid regex"));

/// Code-shaped tokens in `text`, left to right. Modifiers are not found here: a bare `25`
/// is a number until context (`modifier 25`, `99213-25`) says otherwise.
pub fn find_codes(text: &str, case: Case) -> Vec<Found> {
    let re = match case {
        Case::Any => &*ANY_CASE,
        Case::Upper => &*UPPER_CASE,
    };
    let mut out = vec![];
    for c in re.captures_iter(text) {
        let (m, shape) = [("icd_dot", Shape::IcdDotted), ("hcpcs", Shape::Hcpcs), ("cpt", Shape::Cpt), ("icd_bare", Shape::IcdBare)]
            .into_iter()
            .find_map(|(g, s)| c.name(g).map(|m| (m, s)))
            .expect("one alternative matched");
        out.push(Found { start: m.start(), end: m.end(), code: m.as_str().to_ascii_uppercase(), shape });
    }
    out
}

/// Where a question names a modifier: after "modifier(s)" or "mod" (any case), after a
/// five-character code and a dash (`99213-25`), and, for `modifiers_in_question`, a capital
/// pair on its own (`XS`, `TC`).
static MODIFIER_IN_QUESTION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i-u)\b(?:modifiers?|mod)\s+([0-9A-Z]{2})(?:\s*(?:,|and|or|/)\s*([0-9A-Z]{2}))?\b|\b\w{5}-([0-9A-Z]{2})\b")
        .expect("valid regex")
});
/// Letter modifiers written in capitals on their own: lower-case "lt" or "gy" in prose is
/// not a modifier, so these are matched case-sensitively.
static MODIFIER_CAPS: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?-u)\b([A-Z][0-9A-Z]|[0-9][A-Z])\b").expect("valid regex"));
/// Where an answer names a modifier: after "modifier(s)", Markdown bold allowed.
static MODIFIER_IN_ANSWER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?-u)\b[Mm]odifiers?\s+\**(?P<a>[0-9A-Z]{2})\b\**(?:\s*(?:,|and|or|/)\s*\**(?P<b>[0-9A-Z]{2})\b)?")
        .expect("valid regex")
});
/// A modifier right after a code: the `-25` of `99213-25`.
static SUFFIX: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?-u)^-([0-9A-Z]{2})\b").expect("valid regex"));

/// Two-letter capitals that are modifiers but far more often mean something else: clinical
/// abbreviations (BP, UA, HX, FB, LS, UE, RA, PD, TB...), settings, roles and words.
const COMMON_ABBREVIATIONS: &[&str] = &[
    "PT", "OT", "ST", "CT", "ER", "ED", "OR", "MD", "DO", "NP", "PA", "RN", "IV", "IM", "AM", "PM", "US", "OK", "TV", "UK",
    "AB", "AP", "AV", "BP", "BR", "CA", "CS", "DA", "EB", "EP", "ET", "FB", "FP", "GI", "GS", "GU", "HA", "HD", "HF", "HH",
    "HN", "HP", "HR", "HS", "HT", "HX", "HZ", "KO", "LS", "NR", "PC", "PD", "PE", "PL", "PO", "PR", "QA", "RA", "RE", "RR",
    "SA", "SB", "SC", "SE", "SL", "SM", "TB", "TD", "TF", "TM", "TP", "TS", "TT", "UA", "UC", "UE", "UP", "VM", "VP",
];

/// Modifiers a question names, with their offsets, upper-cased. A capitalised abbreviation
/// coders use for other things (`PT eval`, `CT head`, `ER visit`) counts only when the
/// question calls it a modifier.
pub fn modifiers_in_question(text: &str) -> Vec<Found> {
    let mut out = vec![];
    let modifier = |m: regex::Match| Found { start: m.start(), end: m.end(), code: m.as_str().to_ascii_uppercase(), shape: Shape::Modifier };
    for c in MODIFIER_IN_QUESTION.captures_iter(text) {
        out.extend([1, 2, 3].into_iter().filter_map(|g| c.get(g)).map(modifier));
    }
    for c in MODIFIER_CAPS.captures_iter(text) {
        let m = c.get(1).expect("group 1");
        if !COMMON_ABBREVIATIONS.contains(&m.as_str()) {
            out.push(modifier(m));
        }
    }
    out
}

/// Modifiers an answer names after "modifier(s)", with their offsets.
pub fn modifiers_in_answer(text: &str) -> Vec<Found> {
    let mut out = vec![];
    for c in MODIFIER_IN_ANSWER.captures_iter(text) {
        for m in ["a", "b"].into_iter().filter_map(|g| c.name(g)) {
            out.push(Found { start: m.start(), end: m.end(), code: m.as_str().into(), shape: Shape::Modifier });
        }
    }
    out
}

/// The modifier written right after a code (`rest` is the text after it): `-25` → `25`,
/// with its offsets in `rest`.
pub fn modifier_after_code(rest: &str) -> Option<Found> {
    let m = SUFFIX.captures(rest)?.get(1)?;
    Some(Found { start: m.start(), end: m.end(), code: m.as_str().into(), shape: Shape::Modifier })
}

/// Whether `s` is a modifier: two ASCII letters or digits.
pub fn is_modifier(s: &str) -> bool {
    s.len() == 2 && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Whether `s` (already upper case) is a five-character CPT or HCPCS code: the codes NCCI
/// pairs and the CMS tables hold.
pub fn is_procedure_code(s: &str) -> bool {
    matches!(whole(s), Some(Shape::Cpt | Shape::Hcpcs))
}

/// The shape of `s` when all of it is one code (any case), else `None`.
pub fn whole(s: &str) -> Option<Shape> {
    let found = find_codes(s, Case::Any);
    match found.as_slice() {
        [f] if f.start == 0 && f.end == s.len() => Some(f.shape),
        _ => None,
    }
}

/// Whether a path segment may name a code at all (`/api/codes/{code}`): 1–12 ASCII letters,
/// digits, dots and dashes. Finer checks happen in the lookup.
pub fn plausible(s: &str) -> bool {
    !s.is_empty() && s.len() <= 12 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
}

/// Canonical spellings of a code worth looking up, most likely first: upper case, and
/// ICD-10-CM codes with their dot after the third character (`e119` → `E11.9`, `E119`).
/// A letter and four digits written without a dot is a HCPCS code first (`G0439` is HCPCS
/// G0439 before ICD-10-CM G04.39). Anything that is not ASCII is looked up as typed, trimmed
/// (it matches nothing).
pub fn lookup_forms(raw: &str) -> Vec<String> {
    let code: String = raw.trim().trim_start_matches('-').to_ascii_uppercase();
    if !code.is_ascii() {
        return vec![code];
    }
    let bare: String = code.chars().filter(|c| *c != '.').collect();
    let mut forms = vec![];
    if code.contains('.') || hcpcs_shaped(&code) {
        forms.push(code.clone());
    }
    for form in [icd_form(&code), bare] {
        if !forms.contains(&form) {
            forms.push(form);
        }
    }
    forms
}

/// A letter and four digits: how a HCPCS Level II code is written.
fn hcpcs_shaped(code: &str) -> bool {
    let b = code.as_bytes();
    b.len() == 5 && b[0].is_ascii_alphabetic() && b[1..].iter().all(u8::is_ascii_digit)
}

/// The ICD-10-CM spelling of a code-shaped string: upper case, the dot after the third
/// character when it reads as ICD-10-CM (a letter then a digit, more than three characters);
/// anything else upper case without dots.
pub fn icd_form(raw: &str) -> String {
    let bare: String = raw.trim().chars().filter(|c| *c != '.').collect::<String>().to_ascii_uppercase();
    let b = bare.as_bytes();
    if bare.is_ascii() && b.len() > 3 && b[0].is_ascii_alphabetic() && b[1].is_ascii_digit() {
        format!("{}.{}", &bare[..3], &bare[3..])
    } else {
        bare
    }
}

/// The system a code's shape suggests, for codes no table has.
pub fn system_of(code: &str) -> CodeSystem {
    if is_modifier(code) {
        return CodeSystem::Modifier;
    }
    // A letter and four digits reads as HCPCS even past V (`Z9999`): that is how a coder
    // would read an unknown one.
    if hcpcs_shaped(code) {
        return CodeSystem::Hcpcs;
    }
    match whole(code) {
        Some(Shape::Cpt) => CodeSystem::Cpt,
        Some(Shape::Hcpcs) => CodeSystem::Hcpcs,
        Some(Shape::IcdDotted | Shape::IcdBare | Shape::Modifier) | None => CodeSystem::Icd10Cm,
    }
}

/// Whether a record's code fits its system (the corpus and loader checks).
pub fn fits(system: CodeSystem, code: &str) -> bool {
    match system {
        CodeSystem::Cpt => whole(code) == Some(Shape::Cpt),
        CodeSystem::Hcpcs => code.bytes().next().is_some_and(|b| b.is_ascii_uppercase()) && whole(code) == Some(Shape::Hcpcs),
        // The official files have the last word here (FY2026 added `QA0.0101`, with a
        // letter second): an upper-case letter, then letters and digits, dotted after three.
        CodeSystem::Icd10Cm => {
            let bare = code.replace('.', "");
            (3..=7).contains(&bare.len())
                && bare.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
                && bare.as_bytes()[0].is_ascii_uppercase()
                && (bare.len() == 3 || (code.as_bytes().get(3) == Some(&b'.') && code.matches('.').count() == 1))
        }
        CodeSystem::Modifier => is_modifier(code),
        CodeSystem::Guideline => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_of_every_shape_in_any_case() {
        let found = find_codes("j1885, 99213, 0591T, e11.9, S72.001A, E119, I10", Case::Any);
        let got: Vec<(&str, Shape)> = found.iter().map(|f| (f.code.as_str(), f.shape)).collect();
        assert_eq!(
            got,
            [
                ("J1885", Shape::Hcpcs),
                ("99213", Shape::Cpt),
                ("0591T", Shape::Cpt),
                ("E11.9", Shape::IcdDotted),
                ("S72.001A", Shape::IcdDotted),
                ("E119", Shape::IcdBare),
                ("I10", Shape::IcdBare)
            ]
        );
        assert!(find_codes("a1c and j1885", Case::Upper).is_empty());
    }

    #[test]
    fn non_ascii_letters_never_join_a_code() {
        // ſ (long s) and K (Kelvin sign) fold to ASCII letters under Unicode rules.
        for text in ["what is A1\u{17f}", "A1\u{17f}", "\u{17f}11.9", "E1\u{212a}", "\u{212a}1885", "E11.\u{17f}", "99213\u{17f}"] {
            for case in [Case::Any, Case::Upper] {
                for f in find_codes(text, case) {
                    assert!(f.code.is_ascii() && text.is_char_boundary(f.start) && text.is_char_boundary(f.end), "{text}: {f:?}");
                }
            }
            for form in lookup_forms(text) {
                let _ = system_of(&form);
            }
        }
        assert!(find_codes("\u{212a}1885", Case::Any).is_empty());
        assert!(find_codes("A1\u{17f}", Case::Any).is_empty());
    }

    #[test]
    fn lookup_forms_add_the_icd_dot() {
        assert_eq!(lookup_forms("e119"), vec!["E11.9", "E119"]);
        assert_eq!(lookup_forms("E11.9"), vec!["E11.9", "E119"]);
        assert_eq!(lookup_forms("j1885"), vec!["J1885", "J18.85"]);
        assert_eq!(lookup_forms("G0439"), vec!["G0439", "G04.39"]);
        assert_eq!(lookup_forms("G04.39"), vec!["G04.39", "G0439"]);
        assert_eq!(lookup_forms("E11649"), vec!["E11.649", "E11649"]);
        assert_eq!((icd_form("z9989"), icd_form("E11.9"), icd_form("I10"), icd_form("99213")), ("Z99.89".into(), "E11.9".into(), "I10".into(), "99213".into()));
        assert_eq!(lookup_forms("99213"), vec!["99213"]);
        assert_eq!(lookup_forms("-25"), vec!["25"]);
        assert_eq!(lookup_forms("I10"), vec!["I10"]);
        assert_eq!(lookup_forms("A1ſ"), vec!["A1ſ"]);
    }

    #[test]
    fn systems_and_fits_by_shape() {
        assert_eq!(system_of("99999"), CodeSystem::Cpt);
        assert_eq!(system_of("Z9999"), CodeSystem::Hcpcs);
        assert_eq!(system_of("Z99.99"), CodeSystem::Icd10Cm);
        assert_eq!(system_of("ZZ"), CodeSystem::Modifier);
        assert!(fits(CodeSystem::Icd10Cm, "S72.001A") && fits(CodeSystem::Icd10Cm, "QA0.0101") && !fits(CodeSystem::Icd10Cm, "S7200.1A"));
        assert_eq!(whole("qa0.0101"), Some(Shape::IcdDotted));
        assert!(find_codes("see www.example.com", Case::Any).is_empty());
        assert!(fits(CodeSystem::Hcpcs, "J1885") && !fits(CodeSystem::Hcpcs, "j1885"));
        assert!(is_procedure_code("G0463") && !is_procedure_code("E11.9") && !is_procedure_code("G0463X"));
        assert!(plausible("E11.9") && !plausible("E11 9") && !plausible("A1ſ"));
    }
}

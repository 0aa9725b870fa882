//! How much of a question a passage actually covers: the share of the question's content
//! words (and their lexicon expansions) that appear in it. Vector search always returns
//! its nearest neighbours; this tells a real match from the nearest of nothing.

const STOP: &[&str] = &[
    "a", "about", "an", "and", "are", "as", "at", "be", "billed", "billing", "bill", "but", "by", "can", "code", "codes",
    "coding", "could", "do", "does", "for", "from", "get", "had", "has", "have", "how", "i", "if", "in", "into", "is",
    "it", "its", "me", "my", "need", "needed", "no", "not", "of", "on", "or", "our", "patient", "please", "report",
    "reported", "should", "so", "tell", "that", "the", "their", "them", "then", "there", "these", "they", "this", "to",
    "use", "used", "using", "was", "we", "what", "when", "where", "which", "who", "why", "will", "with", "would", "you",
    "your", "together", "same", "day", "any", "all", "one", "two", "correct", "proper", "appropriate",
    // Words every part of the corpus uses, which match anything.
    "other", "unspecified", "services", "service",
];

/// Stem-ish key: the first five letters, so "fractures"/"fracture" and "injection"/"injections" meet.
fn key(word: &str) -> String {
    word.chars().take(5).collect()
}

/// "Right" that means correct ("the right code", "right modifier"), not the side.
fn correct_right(word: &str, next: Option<&String>) -> bool {
    word == "right" && next.is_some_and(|n| matches!(n.as_str(), "code" | "codes" | "modifier" | "dx" | "one" | "way" | "answer"))
}

/// The lower-cased words of `text`.
fn lower_words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect()
}

pub fn content_words(text: &str) -> Vec<String> {
    let mut out: Vec<String> = vec![];
    let words = lower_words(text);
    for (i, w) in words.iter().enumerate() {
        if w.len() < 3 || STOP.contains(&w.as_str()) || w.chars().all(|c| c.is_ascii_digit()) || correct_right(w, words.get(i + 1)) {
            continue;
        }
        let k = key(w);
        if !out.contains(&k) {
            out.push(k);
        }
    }
    out
}

/// A passage covers a question when more than half of its content words appear in it.
pub const COVERS: f32 = 0.5;

/// How many of `words` appear in `text`.
pub fn matched(words: &[String], text: &str) -> usize {
    let have: std::collections::HashSet<String> = lower_words(text).iter().map(|w| key(w)).collect();
    words.iter().filter(|w| have.contains(*w)).count()
}

/// Share (0–1) of `words` found in `text`.
pub fn support(words: &[String], text: &str) -> f32 {
    if words.is_empty() {
        return 0.0;
    }
    matched(words, text) as f32 / words.len() as f32
}

/// Words that only a question about coding uses: the code sets, a diagnosis, a modifier, a
/// bill, the record a coder codes from, the patient.
const CODING: &[&str] = &[
    "dx", "diagnosis", "diagnoses", "icd", "icd10", "cpt", "hcpcs", "modifier", "modifiers", "mod", "append",
    "bill", "billed", "billing", "doc", "documented", "documentation", "chart", "charted", "pt", "pts", "patient",
    // What the record says or leaves out ("no severity listed", "type not specified").
    "listed", "specified", "stated",
];

/// The question asks about coding, in words no other question uses ([`CODING`]), or uses
/// "code" as a verb ("can I code the pneumonia", "how do we code it"; not "Python code").
pub fn about_coding(text: &str) -> bool {
    let words = lower_words(text);
    let verb = |i: usize| i > 0 && matches!(words[i - 1].as_str(), "i" | "we" | "to" | "you" | "do" | "should" | "can" | "would");
    (0..words.len()).any(|i| CODING.contains(&words[i].as_str()) || (words[i] == "code" && verb(i)))
}

/// Whether a retrieved passage covers the question: more than half of its content words, or,
/// for one of the top three results, at least two of them (lay questions carry extra words
/// that no code description uses, but a single shared word is chance), or, for the first
/// result of a question about coding ([`about_coding`]), one: such a question is about a
/// code, and its other words tell the record ("anemia, doc didn't say what kind", "headache
/// dx, no other details").
pub fn covers(rank: usize, support: f32, matched: usize, coding: bool) -> bool {
    support > COVERS || (rank <= 3 && matched >= 2) || (rank == 1 && coding && matched >= 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn support_counts_shared_content_words() {
        let words = content_words("Which code for a broken hip fracture?");
        assert_eq!(words, ["broke", "hip", "fract"]);
        assert_eq!(content_words("the right code for the right eye?"), ["right", "eye"], "the side, not the correct code");
        assert!(support(&words, "Fracture of neck of femur, hip") > 0.6);
        assert_eq!(support(&words, "Ketorolac tromethamine injection"), 0.0);
        assert_eq!(support(&content_words("what is the weather in paris"), "Weather"), 1.0 / 2.0);
        assert!(!covers(1, 0.5, 1, false), "one shared word is chance");
        assert!(covers(2, 0.4, 2, false));
        assert!(!covers(5, 0.4, 2, false));
        assert!(covers(1, 0.2, 1, true), "unless the question is about coding");
        assert!(!covers(2, 0.2, 1, true) && !covers(1, 0.0, 0, true));
    }

    #[test]
    fn a_question_about_coding_says_so_in_words_of_its_own() {
        assert!(about_coding("anemia, doc didnt say what kind"));
        assert!(about_coding("headache dx code, no other details"));
        assert!(about_coding("it was the right eye, what do i append"));
        assert!(about_coding("can I code the pneumonia?"));
        assert!(about_coding("kid has asthma, no severity listed"));
        assert!(!about_coding("Fix my Python code that reads a CSV"));
        assert!(!about_coding("What is the zip code for Paris?"));
        assert!(!about_coding("Tell me a joke about cats"));
    }
}

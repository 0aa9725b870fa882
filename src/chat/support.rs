//! How much of a question a passage actually covers: the share of the question's content
//! words (and their lexicon expansions) that appear in it. Vector search always returns
//! its nearest neighbours; this tells a real match from the nearest of nothing.

const STOP: &[&str] = &[
    "a", "about", "an", "and", "are", "as", "at", "be", "billed", "billing", "bill", "but", "by", "can", "code", "codes",
    "coding", "could", "do", "does", "for", "from", "get", "had", "has", "have", "how", "i", "if", "in", "into", "is",
    "it", "its", "me", "my", "need", "needed", "no", "not", "of", "on", "or", "our", "patient", "please", "report",
    "reported", "should", "so", "tell", "that", "the", "their", "them", "then", "there", "these", "they", "this", "to",
    "use", "used", "using", "was", "we", "what", "when", "where", "which", "who", "why", "will", "with", "would", "you",
    "your", "together", "same", "day", "any", "all", "one", "two", "correct", "right", "proper", "appropriate",
    // Words every part of the corpus uses, which match anything.
    "other", "unspecified", "services", "service",
];

/// Stem-ish key: the first five letters, so "fractures"/"fracture" and "injection"/"injections" meet.
fn key(word: &str) -> String {
    word.chars().take(5).collect()
}

pub fn content_words(text: &str) -> Vec<String> {
    let mut out: Vec<String> = vec![];
    for w in text.split(|c: char| !c.is_alphanumeric()).map(str::to_lowercase) {
        if w.len() < 3 || STOP.contains(&w.as_str()) || w.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let k = key(&w);
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
    let have: std::collections::HashSet<String> =
        text.split(|c: char| !c.is_alphanumeric()).map(|w| key(&w.to_lowercase())).collect();
    words.iter().filter(|w| have.contains(*w)).count()
}

/// Share (0–1) of `words` found in `text`.
pub fn support(words: &[String], text: &str) -> f32 {
    if words.is_empty() {
        return 0.0;
    }
    matched(words, text) as f32 / words.len() as f32
}

/// Whether a retrieved passage covers the question: more than half of its content words, or,
/// for one of the top three results, at least two of them (lay questions carry extra words
/// that no code description uses, but a single shared word is chance).
pub fn covers(rank: usize, support: f32, matched: usize) -> bool {
    support > COVERS || (rank <= 3 && matched >= 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn support_counts_shared_content_words() {
        let words = content_words("Which code for a broken hip fracture?");
        assert_eq!(words, ["broke", "hip", "fract"]);
        assert!(support(&words, "Fracture of neck of femur, hip") > 0.6);
        assert_eq!(support(&words, "Ketorolac tromethamine injection"), 0.0);
        assert_eq!(support(&content_words("what is the weather in paris"), "Weather"), 1.0 / 2.0);
        assert!(!covers(1, 0.5, 1), "one shared word is chance");
        assert!(covers(2, 0.4, 2));
        assert!(!covers(5, 0.4, 2));
    }
}

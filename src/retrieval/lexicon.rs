//! The lexicon: abbreviations coders use and words patients use, each mapped to the
//! clinical wording the code sets use. Files are `corpus/lexicon/*.tsv` with lines
//! `term<TAB>expansion`; `#` starts a comment. Terms match whole words, case-insensitively.
//! A term may have several lines, one per alternative: the rank-1 stage scores a title by
//! the share of one expansion's words it holds (the best one), so an expansion is one phrase
//! ("shingles → zoster", "shingles → herpes zoster"), never a list run together.

use foldhash::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::rerank::stem;
use super::spelling::Spelling;

#[derive(Debug, thiserror::Error)]
pub enum LexiconError {
    #[error("{}:{line}: {message}", file.display())]
    Line { file: PathBuf, line: usize, message: String },
    #[error("{}: {message}", file.display())]
    File { file: PathBuf, message: String },
}

#[derive(Debug, Clone, Default)]
pub struct Lexicon {
    /// Lower-cased term (words joined by one space) → expansions.
    entries: HashMap<String, Vec<String>>,
    longest: usize,
    /// Corrections of misspelled words (`vocabulary.txt` in the lexicon's folder).
    spelling: Spelling,
    /// Every word of every term: known words, never misspellings ("hives", "smokes").
    term_words: HashSet<String>,
    /// Terms of two words or more by their words' stems → expansions: a phrase matches in any
    /// inflection ("radiologist only read the film" is "radiologist only reads films").
    by_stems: HashMap<String, Vec<String>>,
    /// Expansions of the file of modifier situations ([`MODIFIER_FILE`]): the wording of a
    /// modifier's title ("bilateral procedure", "professional component").
    modifier_wording: HashSet<String>,
    /// Terms of the shorthand file ([`SHORTHAND_FILE`]) → expansions: a title's words are
    /// spelled out by these as well as by the acronyms of the other files.
    shorthand: HashMap<String, Vec<String>>,
    /// Words in the longest shorthand term.
    shorthand_longest: usize,
    /// The first word of each shorthand term: a title's words from one that starts none are
    /// no shorthand.
    shorthand_first: HashSet<String>,
}

/// The lexicon file whose expansions are modifiers' titles: the situations a modifier is for,
/// told without naming it ("only reading the film", "both knees same session").
pub const MODIFIER_FILE: &str = "lay-modifiers.tsv";

/// The lexicon file of the shorthand our CPT titles write ("eval", "lap chole"), read in
/// titles only: there the other files' lowercase terms are plain words a title means as
/// written ("shot", "scope"), and in a question a word cut short is matched as typed.
pub const SHORTHAND_FILE: &str = "shorthand.tsv";

/// The vocabulary file in the lexicon's folder.
pub const VOCABULARY_FILE: &str = "vocabulary.txt";

/// Two words read as one when the records use them joined and the joined word is this long.
const COMPOUND_MIN: usize = 6;

/// Words a phrase may hold that change nothing: "pit of my stomach", "ringing in the ears".
const FILLERS: &[&str] = &["my", "the", "a", "an", "his", "her", "their", "your", "our", "its"];

/// Sides a term may span without holding them, as it spans fillers ("ringing in both ears" is
/// "ringing in ears"); the rank-1 stage reads the side as a concept of its own.
pub const INSIDE_SIDES: &[&str] = &["both", "left", "right", "bilateral"];

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .filter(|w| !w.is_empty())
        .map(|w| w.to_lowercase())
        .collect()
}

impl Lexicon {
    pub fn load_dir(dir: &Path) -> Result<Self, LexiconError> {
        let mut lexicon = Self::default();
        if !dir.is_dir() {
            return Ok(lexicon);
        }
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| LexiconError::File { file: dir.into(), message: e.to_string() })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "tsv"))
            .collect();
        files.sort();
        for file in files {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| LexiconError::File { file: file.clone(), message: e.to_string() })?;
            lexicon.add_text(&file, &text)?;
        }
        lexicon.spelling = Spelling::load(&dir.join(VOCABULARY_FILE))?;
        Ok(lexicon)
    }

    pub fn add_text(&mut self, file: &Path, text: &str) -> Result<(), LexiconError> {
        for (i, line) in text.lines().enumerate() {
            let line = line.trim_end();
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            let err = |message: &str| LexiconError::Line { file: file.into(), line: i + 1, message: message.into() };
            let (term, expansion) = line.split_once('\t').ok_or_else(|| err("expected `term<TAB>expansion`"))?;
            let key = words(term).join(" ");
            if key.is_empty() || expansion.trim().is_empty() {
                return Err(err("both the term and its expansion must be non-empty"));
            }
            if file.file_name().is_some_and(|n| n == SHORTHAND_FILE) {
                self.shorthand_longest = self.shorthand_longest.max(key.split(' ').count());
                self.shorthand_first.extend(key.split(' ').next().map(str::to_string));
                let list = self.shorthand.entry(key).or_default();
                if !list.iter().any(|e| e == expansion.trim()) {
                    list.push(expansion.trim().to_string());
                }
                continue;
            }
            if file.file_name().is_some_and(|n| n == MODIFIER_FILE) {
                self.modifier_wording.insert(expansion.trim().to_string());
            }
            self.longest = self.longest.max(key.split(' ').count());
            self.term_words.extend(key.split(' ').map(str::to_string));
            // A term written with an article ("pit of the stomach") also matches a question
            // with another filler there ("pit of my stomach"), which matching skips.
            let bare: Vec<&str> = key.split(' ').enumerate().filter(|(j, w)| *j == 0 || !FILLERS.contains(w)).map(|(_, w)| w).collect();
            let bare = bare.join(" ");
            let keys = if bare == key { vec![key] } else { vec![key, bare] };
            for key in keys {
                let stems: Vec<String> = key.split(' ').map(stem).collect();
                let lists = [Some(key), (stems.len() >= 2).then(|| stems.join(" "))];
                for (map, key) in [&mut self.entries, &mut self.by_stems].into_iter().zip(lists) {
                    let Some(key) = key else { continue };
                    let list = map.entry(key).or_default();
                    if !list.iter().any(|e| e == expansion.trim()) {
                        list.push(expansion.trim().to_string());
                    }
                }
            }
        }
        Ok(())
    }

    /// With corrections from `spelling` (tests; `load_dir` reads them from the folder).
    pub fn with_spelling(mut self, spelling: Spelling) -> Self {
        self.spelling = spelling;
        self
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// `title` with the acronyms it writes in capitals that the lexicon knows ("AK", "TEE",
    /// "I&D") and the shorthand it uses ("PT eval", "Lap chole", "admin") spelled out by their
    /// first expansion, when it has any: our CPT titles are short and a question may use the
    /// full words ("actinic keratosis", "physical therapy evaluation").
    pub fn spell_out(&self, title: &str) -> Option<String> {
        let is_acronym = |w: &str| w.chars().filter(|c| c.is_ascii_uppercase()).count() >= 2 && !w.chars().any(|c| c.is_lowercase());
        // The title's runs of letters, digits and the joiners acronyms use ("E/M", "D&C"), as
        // byte ranges.
        let mut runs: Vec<(usize, usize)> = vec![];
        let mut start = None;
        for (i, c) in title.char_indices().chain([(title.len(), ' ')]) {
            match (start, c.is_alphanumeric() || matches!(c, '/' | '&')) {
                (None, true) => start = Some(i),
                (Some(s), false) => {
                    runs.push((s, i));
                    start = None;
                }
                _ => {}
            }
        }
        let run_words: Vec<Vec<String>> = runs.iter().map(|&(s, e)| words(&title[s..e])).collect();
        let mut out: Option<String> = None;
        // The end of what `out` holds of `title`.
        let mut copied = 0;
        let mut i = 0;
        while i < runs.len() {
            // The longest shorthand term from run i on; else the run alone, an acronym.
            let starts_one = run_words[i..].iter().flatten().next().is_some_and(|w| self.shorthand_first.contains(w));
            let shorthand = (1..=self.shorthand_longest.min(runs.len() - i)).rev().filter(|_| starts_one).find_map(|n| {
                let key = run_words[i..i + n].concat().join(" ");
                self.shorthand.get(&key).and_then(|e| e.first()).map(|e| (n, e))
            });
            let run = &title[runs[i].0..runs[i].1];
            let acronym = || is_acronym(run).then(|| self.entries.get(&run_words[i].join(" ")).and_then(|e| e.first())).flatten().map(|e| (1, e));
            match shorthand.or_else(acronym) {
                Some((n, expansion)) => {
                    let out = out.get_or_insert_with(|| String::with_capacity(title.len() * 2));
                    out.push_str(&title[copied..runs[i].0]);
                    out.push_str(expansion);
                    copied = runs[i + n - 1].1;
                    i += n;
                }
                None => i += 1,
            }
        }
        out.map(|mut out| {
            out.push_str(&title[copied..]);
            out
        })
    }

    /// The expansions of `terms` that word a modifier's title: the question tells the
    /// situation a modifier is for.
    pub fn modifier_wording(&self, terms: &[Term]) -> Vec<String> {
        expansions_of(terms).into_iter().filter(|e| self.modifier_wording.contains(e)).collect()
    }

    /// Expansions of every term in `query`, longest match first at each position
    /// ("sugar diabetes" wins over "diabetes"), in order of appearance, without repeats.
    pub fn expand(&self, query: &str) -> Vec<String> {
        expansions_of(&self.terms(query))
    }

    /// The lexicon terms `query` uses, longest match first at each position, each with the
    /// query's own words it matched and its expansions, in order of appearance.
    /// A term's words may have a possessive or an article between them that the term does
    /// not ("blood in my urine" is "blood in urine"); the term then holds the query's words
    /// with it.
    pub fn terms(&self, query: &str) -> Vec<Term> {
        let typed = words(query);
        // Misspelled words are read as the words they misspell, for the terms too
        // ("underactive thyriod"); a term still holds the words as typed.
        let fix = |w: &String| match self.term_words.contains(w) {
            true => None,
            false => self.spelling.correct(w),
        };
        let words: Vec<String> = typed.iter().map(|w| fix(w).map_or_else(|| w.clone(), str::to_string)).collect();
        let corrections = |from: usize, to: usize| (from..to).filter(|&j| words[j] != typed[j]).map(|j| words[j].clone());
        let stems: Vec<String> = words.iter().map(|w| stem(w)).collect();
        let mut out: Vec<Term> = vec![];
        let mut i = 0;
        while i < words.len() {
            // The words from i on, as written and without fillers after the first: each the
            // key's words and the count of the query's words they span.
            let spans = |skip: bool| {
                let mut key: Vec<&str> = vec![];
                let mut key_stems: Vec<&str> = vec![];
                let mut ends: Vec<usize> = vec![];
                for (j, w) in words.iter().enumerate().skip(i) {
                    if skip && j > i && (FILLERS.contains(&w.as_str()) || INSIDE_SIDES.contains(&w.as_str())) {
                        continue;
                    }
                    if key.len() == self.longest {
                        break;
                    }
                    key.push(w);
                    key_stems.push(&stems[j]);
                    ends.push(j + 1);
                }
                (key, key_stems, ends)
            };
            // The longest match either way ("blood in my urine" over "blood"); a phrase as
            // written, or else in another inflection.
            let lookup = |key: &[&str], key_stems: &[&str]| {
                self.entries.get(&key.join(" ")).or_else(|| match key.len() >= 2 {
                    true => self.by_stems.get(&key_stems.join(" ")),
                    false => None,
                })
            };
            let found = [spans(false), spans(true)]
                .into_iter()
                .filter_map(|(key, key_stems, ends)| {
                    (1..=key.len()).rev().find_map(|n| lookup(&key[..n], &key_stems[..n]).map(|exp| (ends[n - 1], exp)))
                })
                .max_by_key(|(end, _)| *end);
            // Two words the records write as one ("wheel chair", "light weight", "tail bone"); a
            // lone letter is no half of one (the "s" of "visit s/p" is status post's).
            let compound = words.get(i + 1).filter(|next| next.len() >= 2).map(|next| format!("{}{next}", words[i])).filter(|joined| {
                joined.len() >= COMPOUND_MIN && joined.bytes().all(|b| b.is_ascii_lowercase()) && self.spelling.used(joined)
            });
            // A longer term wins over the joined word; the joined word over a one-word term.
            let (end, expansions) = match (found, compound) {
                (found, Some(joined)) if found.is_none_or(|(end, _)| end == i + 1) => (i + 2, vec![joined]),
                (Some((end, exp)), _) => (end, corrections(i, end).chain(exp.iter().cloned()).collect()),
                (None, _) => (i + 1, corrections(i, i + 1).collect::<Vec<_>>()),
            };
            if !expansions.is_empty() {
                out.push(Term { words: typed[i..end].to_vec(), expansions });
            }
            i = end;
        }
        out
    }
}

/// The expansions of `terms`, in order, without repeats.
pub fn expansions_of(terms: &[Term]) -> Vec<String> {
    let mut out: Vec<String> = vec![];
    for e in terms.iter().flat_map(|t| &t.expansions) {
        if !out.contains(e) {
            out.push(e.clone());
        }
    }
    out
}

/// One lexicon term found in a query.
#[derive(Debug, Clone, PartialEq)]
pub struct Term {
    /// The query's words that matched, lower-cased.
    pub words: Vec<String>,
    pub expansions: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lexicon() -> Lexicon {
        let mut l = Lexicon::default();
        l.add_text(Path::new("t.tsv"), "# comment\nHTN\thypertension\nsugar diabetes\ttype 2 diabetes mellitus\ndiabetes\tdiabetes mellitus\nlap chole\tlaparoscopic cholecystectomy\n").unwrap();
        l
    }

    #[test]
    fn expands_whole_words_longest_first() {
        let l = lexicon();
        assert_eq!(l.expand("pt with HTN and sugar diabetes"), vec!["hypertension", "type 2 diabetes mellitus"]);
        assert_eq!(l.expand("Lap Chole today"), vec!["laparoscopic cholecystectomy"]);
        assert!(l.expand("HTNx").is_empty(), "no partial words");
        assert_eq!(l.expand("had a lap chole"), vec!["laparoscopic cholecystectomy"]);
    }

    #[test]
    fn a_title_s_acronyms_are_spelled_out() {
        let mut l = lexicon();
        l.add_text(Path::new("t.tsv"), "AK\tactinic keratosis\nI&D\tincision and drainage\nak\tabove knee\n").unwrap();
        assert_eq!(l.spell_out("AK destruction, first lesion").as_deref(), Some("actinic keratosis destruction, first lesion"));
        assert_eq!(l.spell_out("Abscess I&D, simple").as_deref(), Some("Abscess incision and drainage, simple"));
        assert_eq!(l.spell_out("HTN, benign").as_deref(), Some("hypertension, benign"));
        // Only words in capitals: "Lap chole" is no acronym, nor a known word in capitals
        // the lexicon lacks.
        assert_eq!(l.spell_out("Lap chole"), None);
        assert_eq!(l.spell_out("TEE"), None);
    }

    #[test]
    fn a_title_s_shorthand_is_spelled_out() {
        let mut l = lexicon();
        l.add_text(Path::new(SHORTHAND_FILE), "eval\tevaluation\nre-eval\tre-evaluation\nPT eval\tphysical therapy evaluation\nadmin\tadministration\n").unwrap();
        l.add_text(Path::new("t.tsv"), "OT\toccupational therapy\nshot\tinjection\n").unwrap();
        // The longest term wins ("PT eval" over "eval"); an acronym with a shorthand word after it.
        assert_eq!(l.spell_out("PT eval, moderate complexity").as_deref(), Some("physical therapy evaluation, moderate complexity"));
        assert_eq!(l.spell_out("OT re-eval").as_deref(), Some("occupational therapy re-evaluation"));
        assert_eq!(l.spell_out("Vaccine admin, first shot").as_deref(), Some("Vaccine administration, first shot"), "a plain word of another file stays");
        // Whole words only.
        assert_eq!(l.spell_out("Evaluation, medical"), None);
        // Shorthand is read in titles, not in questions.
        assert!(l.expand("the admin password").is_empty());
    }

    #[test]
    fn a_phrase_matches_in_another_inflection_a_word_does_not() {
        let mut l = lexicon();
        l.add_text(Path::new("t.tsv"), "radiologist only reads	professional component
aids	HIV disease
").unwrap();
        assert_eq!(l.expand("the radiologist only read the film"), vec!["professional component"]);
        assert_eq!(l.expand("radiologists only reading"), vec!["professional component"]);
        assert!(l.expand("hearing aid").is_empty(), "one word matches as written only");
        assert_eq!(l.expand("lap choles"), vec!["laparoscopic cholecystectomy"]);
    }

    #[test]
    fn a_possessive_or_article_inside_a_term_is_skipped() {
        let mut l = lexicon();
        l.add_text(Path::new("t.tsv"), "blood in urine\thematuria\na fib\tatrial fibrillation\n").unwrap();
        let terms = l.terms("blood in my urine, a fib");
        assert_eq!(terms[0].words, vec!["blood", "in", "my", "urine"], "the term holds the words it spans");
        assert_eq!(terms[0].expansions, vec!["hematuria"]);
        assert_eq!(terms[1].expansions, vec!["atrial fibrillation"], "a term's own article still matches");
        l.add_text(Path::new("t.tsv"), "blood\themorrhage\n").unwrap();
        assert_eq!(l.expand("blood in my urine"), vec!["hematuria"], "the longest match either way");
        l.add_text(Path::new("t.tsv"), "pit of the stomach\tepigastric pain\n").unwrap();
        assert_eq!(l.expand("pain in the pit of my stomach"), vec!["epigastric pain"], "another article than the term's");
        assert_eq!(l.expand("pit of the stomach"), vec!["epigastric pain"]);
    }

    #[test]
    fn a_misspelled_word_expands_to_the_word_it_misspells() {
        let l = lexicon().with_spelling(Spelling::from_counts([("diabetes".to_string(), 9), ("thyroid".to_string(), 4)]));
        let terms = l.terms("underactive thyriod, diabetis");
        assert_eq!(terms[0], Term { words: vec!["thyriod".into()], expansions: vec!["thyroid".into()] });
        assert_eq!(terms[1].expansions, vec!["diabetes", "diabetes mellitus"], "with the corrected word's own expansions");
        let mut l = l.with_spelling(Spelling::from_counts([("thyroid".to_string(), 4)]));
        l.add_text(Path::new("t.tsv"), "underactive thyroid\thypothyroidism\n").unwrap();
        let terms = l.terms("underactive thyriod");
        assert_eq!(terms[0].words, vec!["underactive", "thyriod"], "a term over the corrected words holds the typed ones");
        assert_eq!(terms[0].expansions, vec!["thyroid", "hypothyroidism"]);
        assert!(l.terms("thyroid").is_empty(), "a known word is no misspelling");
        let l2 = lexicon().with_spelling(Spelling::from_counts([("chose".to_string(), 3)]));
        assert!(l2.terms("chole").is_empty(), "a word of a term ('lap chole') is known, never a misspelling of 'chose'");
    }

    #[test]
    fn two_words_the_records_write_as_one_are_that_word() {
        let l = lexicon().with_spelling(Spelling::from_counts([("wheelchair", 9), ("lightweight", 3), ("into", 0), ("visit", 9), ("visits", 5)].map(|(w, n)| (w.to_string(), n))));
        let terms = l.terms("light weight wheel chair for my mom");
        assert_eq!(terms[0], Term { words: vec!["light".into(), "weight".into()], expansions: vec!["lightweight".into()] });
        assert_eq!(terms[1].expansions, vec!["wheelchair"]);
        assert!(l.terms("went in to the office").is_empty(), "a word no record uses is not joined");
        assert!(l.terms("wheelchair").is_empty());
        assert!(!l.terms("visit s/p knee").iter().any(|t| t.expansions.contains(&"visits".to_string())), "a lone letter is no half of a word");
    }

    #[test]
    fn the_modifier_file_s_expansions_word_modifiers() {
        let mut l = lexicon();
        l.add_text(Path::new("corpus/lexicon/lay-modifiers.tsv"), "both knees same session\tbilateral procedure\n").unwrap();
        assert_eq!(l.modifier_wording(&l.terms("did both knees same session, HTN")), vec!["bilateral procedure"]);
        assert!(l.modifier_wording(&l.terms("pt with HTN")).is_empty(), "another file's expansion words no modifier");
    }

    #[test]
    fn bad_lines_name_file_and_line() {
        let err = Lexicon::default().add_text(Path::new("x.tsv"), "ok\tfine\nbroken line\n").unwrap_err();
        assert_eq!(err.to_string(), "x.tsv:2: expected `term<TAB>expansion`");
    }
}

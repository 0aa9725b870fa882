//! The rank-1 stage: the fused candidates re-ordered by how well each one's own names answer
//! the question. Hybrid search finds the right code's neighbourhood; this decides between
//! siblings, the way a coder reads titles:
//!
//! - **coverage**: the share of the question's concepts a candidate's names hold. A concept is
//!   a word of the question, or a lexicon term with its expansions; the user's own words count
//!   fully, an expansion only [`EXPANSION`] as much where a candidate holds the user's word, so
//!   an abbreviation that is also a plain word ("pad", "aud") does not outweigh what was typed;
//!   a concept no candidate holds anywhere ("broke out in hives": "broke") is left out of the
//!   share, so it cannot shrink every coverage until the fused rank decides between siblings;
//!   what the question says is not documented ("severity not documented") is held only by a
//!   title that leaves it unspecified (where no candidate's title names it so, by one that says
//!   "unspecified" alone: "Anemia, unspecified" for "type not specified"); an HCPCS
//!   description, the short descriptor spelled out, counts as the descriptor in full words;
//! - **extra qualifiers**: words of the title the question never asked for (with coma,
//!   bilateral, sequela, type 1, 3 views) cost [`EXTRA`] each ([`SUMMARY_EXTRA`] of that in
//!   our wordier CPT summaries). The words of the default a coder
//!   picks when nothing is specified (unspecified, other, NOS, initial encounter, anything after
//!   "without") cost nothing, so a question with no specifics lands on the default code; nor do
//!   a title's other alternatives once the question asks one ("medial or lateral", a CPT
//!   title's "scalp/neck/trunk/limbs"), which otherwise cost one word together, nor
//!   alternatives that leave nothing out ("one or both sides"), nor any title word of a code
//!   whose "X NOS" name is what the question asks (the classification's default); a word that
//!   makes a code another kind of thing than what it names (anesthesia, status, vaccine,
//!   screening, history, deleted) costs [`KIND`] extra words. A title that holds a concept
//!   only through another name no longer than it (an everyday name, an inclusion term) costs
//!   what that name's own extra words cost, when more ("into the knee" through "Zilretta …
//!   knee injection" brings "Zilretta"), but for the name's kind words and its everyday words
//!   for the title's (`RESTATED`);
//! - **negation**: "no X" / "without X" / "w/o X" / "didn't X" in the question matches a title's
//!   "without X" (or "Zero X", or any member of "without A, B, and C") and contradicts its
//!   "with X", also where X is a lay word's expansion (and a title that names all of that
//!   expansion, "not strep" against "Streptococcal pharyngitis"); what the question asks for,
//!   in its words or a term's expansion, is contradicted by a title that names it only after
//!   "without"; a lexicon term that opens with a negation and names a finding ("no appetite")
//!   is that finding; another name holds what it says is absent ("alcohol use, not stated as
//!   abuse or dependence", a description's "… is reported with 01967 instead") only for a
//!   question that negates it, and an everyday name no longer than the title that names what
//!   the question negates contradicts it ("not having an attack": "asthma attack");
//! - **phrase order**: pairs of the question's words that the title holds in the same order
//!   ("other atherosclerosis of unspecified type" against "unspecified atherosclerosis of
//!   other type");
//! - **weights**: an expansion counts in full where no candidate holds the user's own word (a
//!   brand name is its generic name); a dose ("40mg") or a route ("IV", "shot") beside a
//!   drug's name weighs less than the name, matches any title's word for that route, and a
//!   code for the other route contradicts it; a question's "R"/"L" before a body part is its
//!   side, and a side inside a lay phrase ("ringing in both ears") a concept of its own;
//!   a title naming the side asked pays nothing for the part a sibling leaves unspecified
//!   ("right radius" beside "unspecified radius"); the dominant side is the hand the question
//!   names or the guidelines' default; weeks of gestation fall in the trimester a title names;
//! - **coding conventions on the question's numbers and words**: a lesion with margins is its
//!   excised diameter, repairs of one anatomic group their summed length, a time the highest
//!   rung it reaches of a family's met-or-exceeded ladder; what the record is said not to say
//!   ("never says type 1 or 2", "no mention of acute or chronic") is dropped, so the default
//!   answers, and an axis said to be undocumented ("no severity documented") is unknown; an
//!   exam that found something is the encounter with abnormal findings; a title that gives
//!   the thing the question counts another number ("one CRNA" for "3 CRNAs", "type 1" for
//!   "type 2") contradicts it, and so does one that numbers a word the question numbers
//!   otherwise ("stage 2" for "stage 3b"; "stage 1 through stage 4" holds it); a visit's
//!   rung is met by decision making or time, whichever is higher, and a rung the time passes or
//!   does not reach is not met unless the question names its decision making; a patient seen by
//!   the same specialty or group within three years is established (CPT's three-year rule);
//!   several degrees of one thing are the highest; a substance's dependence named with its
//!   abuse is the dependence; an uncertain diagnosis is not asked, but in a hospital stay it is;
//! - **the code system the question names** ("G code", "ICD-10", "modifier", "CPT modifier",
//!   "J code"; sequencing, "what goes first", asks for a diagnosis), found by [`system_hint`]; Medicare's own HCPCS codes when the question names
//!   Medicare, and not its G codes when it names a commercial payer; quality data codes only
//!   when it asks about measures; questions that ask for rules rather than a code, and a
//!   guideline passage below the codes it is about otherwise (one section of a note below the
//!   best of them, its other sections below all of them);
//! - **add-ons and deleted codes**: a question that asks for an add-on ("each additional",
//!   "the 2nd hour", "what do I add past the first 15") prefers add-on codes by [`ADD_ON`] and
//!   takes their counts ("2nd–14th lesion, each") as asked; one about a code that is gone ("the
//!   old", "used to", "went away") asks for the deleted kind, and any other question ranks
//!   a deleted code by [`CONTRADICTION`] below what it would be, its deletion year unread;
//! - a small **prior** from the fused rank (or, for a candidate from a second search, its rank
//!   there: [`rerank_ranked`]), which decides when the names say nothing.
//!
//! It works on titles and a few names per candidate, tokenized once and cached for every thread
//! ([`cached_tokens`]): under callgrind, 60 questions searched in three modes, it took 20% of
//! the instructions with no cache and 8% with it.

use foldhash::{HashMap, HashSet};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};

use qdrant_rust_stemmers::{Algorithm, Stemmer};

use super::lexicon::{Term, INSIDE_SIDES};
use crate::codes::shape::{find_codes, Case};
use crate::codes::CodeSystem;

// The weights below were set on 2026-12-03 by a coordinate search over the tuning sets
// (questions, dev-lay, dev-lay2, protocol; never the hold-outs), one weight at a time at half,
// three quarters, four thirds and twice its value. It raised EXPANSION past 1, which would let
// an expansion outweigh the user's own words; the issue's rule caps it just below.

/// How much an expansion's match is worth next to a match of the user's own words: a little
/// less, so that with all else equal the user's words win.
pub const EXPANSION: f32 = 0.95;
/// Cost of each title word the question did not ask for.
pub const EXTRA: f32 = 0.19;
/// What an extra word of one of our CPT summaries costs, as a share of [`EXTRA`]: the
/// summaries say in several plain words what an official title says in one ("Destruction of
/// benign lesions such as warts, up to 14"), and at the full cost a bare diagnosis title beat
/// the procedure a question asked for ("froze 3 warts": viral warts).
pub const SUMMARY_EXTRA: f32 = 0.6;
/// What the words of "other" cost, as a share of an extra word, when the question names no
/// specifics (it means the unspecified code).
pub const OTHER: f32 = 0.5;
/// Weight of phrase order (share of the question's word pairs in the title's order).
pub const ORDER: f32 = 0.1;
/// Weight of the fused rank.
pub const PRIOR: f32 = 0.15;
/// A title that says "with X" when the question says "no X".
pub const CONTRADICTION: f32 = 0.5;
/// A candidate from another code system than the one the question names.
pub const OTHER_SYSTEM: f32 = 0.6;
/// A guideline passage when the question asks for rules; when it asks for a code, a passage
/// about codes ranks below the codes themselves by as much.
pub const RULES: f32 = 0.3;
/// A CPT code when the question names Medicare (which has HCPCS codes of its own for some
/// services) and no code system: enough that Medicare's code outranks the CPT code although
/// its title says more than was asked ("Psa screening" for "medicare PSA", over "PSA, total").
pub const MEDICARE: f32 = 0.3;
/// An add-on code when the question asks for one ("the add-on for each extra lesion"): add-on
/// titles name the unit they add ("2nd–14th lesion, each"), rarely the word. From a sweep over
/// the tuning sets (0 to 0.6; with the add-on's count asked, the weight moves a case or two).
pub const ADD_ON: f32 = 0.1;
/// A quality data code when the question does not ask for a measure.
pub const QUALITY: f32 = 0.2;
/// A candidate's names other than its title (description, inclusion terms) match a little less.
const OTHER_NAME: f32 = 0.85;

static STEMMER: LazyLock<Stemmer> = LazyLock::new(|| Stemmer::create(Algorithm::English));

/// Words that say nothing about which code is meant: question words, filler, and the names
/// of the code systems (which [`system_hint`] reads separately).
const STOP: &[&str] = &[
    "a", "about", "an", "and", "any", "are", "as", "at", "be", "been", "bill", "billed", "billing", "by", "can", "code",
    "codes", "coding", "could", "cpt", "dx", "do", "does", "for", "from", "get", "give", "had", "has", "have", "hcpcs",
    "how", "i", "icd", "icd10", "icd10cm", "cm", "if", "in", "into", "is", "it", "its", "it's", "me", "my", "need",
    "of", "on", "or", "our", "please", "pt", "report", "should", "so", "tell", "that", "the", "their", "them", "there",
    "these", "this", "those", "to", "use", "used", "using", "was", "we", "what", "whats", "what's", "when", "where",
    "which", "who", "why", "will", "would", "you", "your", "i'm", "im", "am", "he", "she", "his", "her", "patient",
    "patients", "s", "correct", "number", "plus", "modifier", "modifiers", "mod", "mods", "append", "appended", "now", "default", "here", "put",
    "coder", "coders", "biller", "billers",
];

/// Title words of the default choice: present in the code a coder picks when the question
/// names no specifics, so a title holding them has asked for nothing extra.
const DEFAULTS: &[&str] = &["unspecified", "unsp", "unspec", "nos", "other", "oth", "nec", "elsewhere", "classified", "initial", "encounter", "not", "uncomplicated"];

/// What a code is when a question does not say: a visit is the office (outpatient) visit, a
/// service the complete (global) one, and, by the ICD-10-CM conventions, a fracture closed and
/// displaced and its healing routine. Their title words are never extra, but for a service's
/// words in a diagnosis ("Complete rotator cuff tear", "Global developmental delay"), where
/// they are a qualifier like any other.
const SERVICE_EVERYDAY: &[&str] = &["office", "outpatient", "outpt", "complete", "global"];
const CONVENTION_EVERYDAY: &[&str] = &["closed", "displaced", "routine"];
static EVERYDAY_STEMS: LazyLock<HashSet<String>> = LazyLock::new(|| SERVICE_EVERYDAY.iter().chain(CONVENTION_EVERYDAY).map(|w| stem(w)).collect());
static SERVICE_EVERYDAY_STEMS: LazyLock<HashSet<String>> = LazyLock::new(|| SERVICE_EVERYDAY.iter().map(|w| stem(w)).collect());

/// Title words that make a code another kind of thing than what it names: the anesthesia for
/// a procedure, the status after it, the vaccine against a disease, the screening for it, a
/// history of it, a code deleted years ago, a replacement part or an accessory of an item
/// (HCPCS: "Replacement breastpump tube", "Wheelchair accessory, crutch and cane holder"), and
/// a pathological fracture (the conventions read an unqualified fracture as traumatic).
/// Unasked, each costs [`KIND`] extra words, not one: "vasectomy" is the operation before its
/// anesthesia or the status it leaves, "cane" the cane before its replacement handgrip.
const KINDS: &[&str] = &[
    "anesthesia", "status", "vaccine", "screening", "history", "deleted", "replacement", "replace", "repl", "replcmnt", "accessory",
    "accessor", "pathological", "pathologic",
];
/// The class nouns a condition's name ends on ("urinary tract infection", "chronic kidney
/// disease"): held alone, they say another member of the class, not this one.
const GENERIC_HEADS: &[&str] = &["infection", "disease", "disorder", "syndrome", "condition"];
static GENERIC_HEAD_STEMS: LazyLock<HashSet<String>> = LazyLock::new(|| GENERIC_HEADS.iter().map(|w| stem(w)).collect());
/// Extra words that one unasked kind word costs.
pub const KIND: f32 = 2.0;

static KIND_STEMS: LazyLock<HashSet<String>> = LazyLock::new(|| KINDS.iter().map(|w| stem(w)).collect());
static DELETED: LazyLock<String> = LazyLock::new(|| stem("deleted"));
/// The everyday names' words for a title's (ICD-10-CM's "encounter" is a visit, its fracture a
/// broken bone).
const RESTATED: &[(&str, &str)] = &[("visit", "encounter"), ("broken", "fracture")];
static RESTATED_STEMS: LazyLock<Vec<(String, String)>> = LazyLock::new(|| RESTATED.iter().map(|(a, b)| (stem(a), stem(b))).collect());

/// Quality data codes (HCPCS G8000–G9999, M1000–M1999) report a measure for a quality
/// programme; they bill no service, and a question means one only when it says so.
fn is_quality_code(code: &str) -> bool {
    let b = code.as_bytes();
    b.len() == 5 && b[1..].iter().all(u8::is_ascii_digit) && matches!((b[0], b[1]), (b'G', b'8' | b'9') | (b'M', b'1'))
}

static DEFAULT_STEMS: LazyLock<HashSet<String>> = LazyLock::new(|| DEFAULTS.iter().map(|w| stem(w)).collect());

/// The words of "other" among the defaults.
fn is_other(stem: &str) -> bool {
    matches!(stem, "other" | "oth")
}

fn is_default(stem: &str) -> bool {
    DEFAULT_STEMS.contains(stem)
}

/// The encounter's default ("initial encounter") is another axis than the one a question's
/// "unspecified" or "side not documented" speaks of: it stays free, so "third degree burn of
/// the forearm, side unknown" is the unspecified side's initial encounter, not its sequela.
fn is_encounter_default(stem: &str) -> bool {
    static STEMS: LazyLock<HashSet<String>> = LazyLock::new(|| ["initial", "encounter"].iter().map(|w| self::stem(w)).collect());
    STEMS.contains(stem)
}

/// A title that says its service was not done ("Immunization not carried out …", "procedure
/// not performed"): the words of its absence are the defaults' (free) except the verb, which
/// costs where the question does not say something was not done ("her shots, nothing else"
/// is the immunization, not the one not carried out; "vaccine not given" may be either).
const NOT_DONE: &[&str] = &["carried", "done", "performed", "given", "administered"];
static NOT_DONE_STEMS: LazyLock<HashSet<String>> = LazyLock::new(|| NOT_DONE.iter().map(|w| stem(w)).collect());

/// The stem a title's "no" or "not" leaves.
const NOT: &str = "not";

/// Measures a number is written in ("30 minutes", "5 days", "2 cm"): what they follow is an
/// amount a title's range or ladder answers, not a count of a thing (see [`Question::counts`]).
const MEASURES: &[&str] = &[
    "minute", "minutes", "hour", "hours", "day", "days", "week", "weeks", "wk", "wks", "month", "months", "mo", "mos", "year", "years", "yr",
    "yrs", "yo", "percent", "sq", "square",
    "inch", "inches", "cm", "mm", "kg", "lb", "lbs", "mg", "mcg", "ml", "unit", "units", "each", "additional", "addl",
];
static MEASURE_STEMS: LazyLock<HashSet<String>> = LazyLock::new(|| MEASURES.iter().chain(UNITS).chain(DOSE_UNITS).map(|w| stem(w)).collect());

/// Words that open a negated phrase in a question.
const NEGATIONS: &[&str] = &[
    "no", "zero", "nothing", "without", "not", "non", "denies", "negative", "never", "didn't", "didnt", "doesn't", "doesnt", "don't", "dont",
    "wasn't", "wasnt", "isn't", "isnt", "hasn't", "hasnt", "haven't", "havent", "hadn't", "hadnt",
];

/// Units written right after a number in HCPCS descriptors ("15m", "10mg", "48h").
const UNITS: &[&str] = &["m", "min", "mins", "h", "hr", "hrs", "mg", "mcg", "g", "gm", "kg", "ml", "cc", "l", "cm", "mm", "u", "iu", "units"];

/// A question's word that says a diagnosis is certain ("only cough confirmed"): asked of no
/// title, but free in one that names it ("Child physical abuse, confirmed", beside the
/// suspected abuse of another code).
const CERTAIN: &[&str] = &["confirmed"];

/// Units of a dose or a volume, after a number in a question.
const DOSE_UNITS: &[&str] = &["mg", "mcg", "g", "gm", "gram", "grams", "ml", "cc", "l", "liter", "liters", "litre", "u", "iu", "unit", "units", "meq"];

/// Weight of a dose's number among the question's concepts (a word weighs 1).
const DOSE: f32 = 0.3;

/// How a drug is given. Beside a drug's name it is a detail ("keytruda infusion" is the
/// pembrolizumab code, not any infusion); alone it is the question.
const ROUTES: &[&str] = &[
    "iv", "im", "intravenous", "intramuscular", "subq", "subcut", "subcutaneous", "sq", "inj", "injection", "injections",
    "shot", "shots", "push", "infusion", "infusions", "oral", "po",
];

/// "With and without" read as one word: a study done both ways.
const BOTH_WAYS: &str = "withandwithout";

/// Weight of a route among the question's concepts.
const ROUTE: f32 = 0.5;

/// What a title says for a drug given by any route but the mouth, and for one by mouth.
const PARENTERAL: &[&str] = &["injection", "infusion", "intravenous", "intramuscular", "subcutaneous", "iv", "im", "shot", "push", "subq"];
const BY_MOUTH: &[&str] = &["oral"];
/// What a title says for a drug given into a vein, a muscle or under the skin: the site's
/// own words and the ones that name no site.
const INTO_VEIN: &[&str] = &["intravenous", "iv", "injection", "infusion", "push"];
const INTO_MUSCLE: &[&str] = &["intramuscular", "im", "injection", "shot"];
const UNDER_SKIN: &[&str] = &["subcutaneous", "subq", "subcut", "injection", "infusion", "shot"];

/// Where a parenteral drug goes: IV, IM and subcutaneous are services of their own
/// (96365, 96372, 96369), not one route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Site {
    Vein,
    Muscle,
    Skin,
}

/// The site a (stemmed or written) word names; not "sq", which titles use for square
/// ("per sq cm").
fn site_of(word: &str) -> Option<Site> {
    if word == "iv" || word.starts_with("intraven") {
        Some(Site::Vein)
    } else if word == "im" || word.starts_with("intramuscular") {
        Some(Site::Muscle)
    } else if word == "subq" || word.starts_with("subcut") {
        Some(Site::Skin)
    } else {
        None
    }
}

/// How a question says a drug is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Parenteral,
    Oral,
}

/// The route a title's (stemmed) word names: HCPCS titles cut them short ("inj", "injectio",
/// "infus").
fn route_of(stem: &str) -> Option<Route> {
    let parenteral = ["inj", "infus", "intraven", "intramuscular", "subcutan", "subq"].iter().any(|p| stem.starts_with(p));
    if parenteral || matches!(stem, "iv" | "im") {
        Some(Route::Parenteral)
    } else if stem == "oral" {
        Some(Route::Oral)
    } else {
        None
    }
}

/// The salt a drug's name carries ("ondansetron hcl", "heparin sodium"): no qualifier a
/// question names.
const SALTS: &[&str] = &[
    "hcl", "hydrochloride", "sodium", "sulfate", "acetate", "phosphate", "citrate", "tartrate", "mesylate", "maleate",
    "bromide", "succinate", "fumarate", "besylate", "tromethamine", "hydrobromide", "dihydrochloride", "bitartrate",
];

static SALT_STEMS: LazyLock<HashSet<String>> = LazyLock::new(|| SALTS.iter().map(|w| stem(w)).collect());

/// Comparisons written as symbols or words, read as one word each.
const COMPARISONS: &[(&str, &str)] = &[
    ("<=", " atmost "), (">=", " atleast "), ("≤", " atmost "), ("≥", " atleast "), ("<", " lessthan "),
    (">", " morethan "), ("less than", " lessthan "), ("fewer than", " lessthan "), ("more than", " morethan "),
    ("greater than", " morethan "), ("at least", " atleast "), ("up to", " atmost "),
];

/// Words that end a negated phrase once it holds a word: "without foreign body of right
/// finger" negates the foreign body, not the finger; "no contrast for kidney stone" the
/// contrast, not the stone.
fn ends_negation(word: &str) -> bool {
    matches!(word, "of" | "in" | "at" | "on" | "for")
}

const NUMBER_WORDS: &[(&str, &str)] = &[
    ("one", "1"), ("two", "2"), ("three", "3"), ("four", "4"), ("five", "5"), ("six", "6"), ("seven", "7"),
    ("eight", "8"), ("nine", "9"), ("ten", "10"), ("eleven", "11"), ("twelve", "12"), ("fifteen", "15"),
    ("twenty", "20"), ("thirty", "30"), ("forty", "40"), ("fifty", "50"), ("sixty", "60"), ("ninety", "90"),
    ("single", "1"), ("once", "1"), ("twice", "2"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    Plain,
    /// After "with": a qualifier the title adds.
    With,
    /// After "without" (or "no" in a question): an absence.
    Without,
    /// After "no" or "not" in a title: an absence, but in HCPCS descriptors a measure's
    /// outcome ("no f/u, not gvn") rather than the default code.
    Not,
}

impl Scope {
    fn absent(self) -> bool {
        matches!(self, Scope::Without | Scope::Not)
    }
}

#[derive(Debug, Clone)]
struct Tok {
    stem: String,
    scope: Scope,
    /// A number of a range the title names ("40–64", "2.5 cm or less", "65+"): the range.
    range: Option<(f32, f32)>,
    /// What the title leaves unspecified ("unspecified organism", "site not specified"): the
    /// default's own words, which a question need not name.
    vague: bool,
    /// The unit a supply is billed by ("per box", "per sq cm", "each"): in an HCPCS title it
    /// is no qualifier a question names.
    unit: bool,
    /// Alternatives a title offers ("medial or lateral", "IM or subcut"): the words on either
    /// side of an "or" share a group.
    alt: Option<u16>,
    /// The word as written (lower-cased): an HCPCS truncation ("electr", "methylpred") is the
    /// start of the question's word as written, not only of its stem.
    written: Box<str>,
    /// The number written right before the word ("one CRNA", "2 to 4 concurrent"): the count
    /// the title gives it, as the range it spans.
    count: Option<(f32, f32)>,
}

impl Tok {
    fn covers(&self, n: f32) -> bool {
        self.range.is_some_and(|(low, high)| low <= n && n <= high)
    }

    /// How well the range holds `n`: fully when it is bounded both ways ("40–64"); an
    /// open range ("40+ min", "2.5 cm or less") the less, the farther its bound lies from `n`,
    /// so that of "10+ min" and "40+ min" a question's 42 minutes is the second.
    fn fit_of(&self, n: f32) -> Option<f32> {
        let (low, high) = self.range.filter(|_| self.covers(n))?;
        let slack = match (low > 0.0, high.is_finite()) {
            (_, false) if n > 0.0 => (n - low) / n,
            (false, true) if high > 0.0 => (high - n) / high,
            _ => 0.0,
        };
        Some(1.0 - LOOSE_RANGE * slack)
    }
}

/// What an open range loses at most for a bound far from the question's number.
const LOOSE_RANGE: f32 = 0.1;

/// Words that put a number's range below it ("up to 48 h") or above it ("65+").
const AT_MOST: &[&str] = &["atmost", "lessthan", "under", "below", "within"];
const AT_LEAST: &[&str] = &["atleast", "morethan", "plus", "over", "above"];

/// The range a title's number at `i` belongs to, when the words around it name one.
fn range_at(words: &[String], i: usize, n: f32) -> Option<(f32, f32)> {
    let at = |j: usize| words.get(j).map(String::as_str).unwrap_or("");
    let number = |j: usize| words.get(j).and_then(|w| w.parse::<f32>().ok());
    // "under age 12": the comparison before the word "age".
    let before = match i {
        0 => "",
        _ if at(i - 1) == "age" && i >= 2 => at(i - 2),
        _ => at(i - 1),
    };
    // The comparison may follow the unit: "2.5 cm or less".
    let after = [at(i + 1), if number(i + 1).is_none() && at(i + 1) != "," { at(i + 2) } else { "" }];
    if at(i + 1) == "to" {
        return number(i + 2).map(|m| (n, m));
    }
    if before == "to" && i >= 2 {
        return number(i - 2).map(|m| (m, n));
    }
    if AT_MOST.contains(&before) || after.iter().any(|w| AT_MOST.contains(w)) {
        return Some((0.0, n));
    }
    if AT_LEAST.contains(&before) || after.iter().any(|w| AT_LEAST.contains(w)) {
        return Some((n, f32::INFINITY));
    }
    None
}

/// The weeks of gestation a title's "first trimester" spans, by the ICD-10-CM definitions
/// (first: under 14 weeks; second: 14 to under 28; third: 28 until delivery), so that a
/// question's "10 weeks" is the first trimester.
fn trimester(words: &[String], i: usize) -> Option<(f32, f32)> {
    if words.get(i + 1).is_none_or(|w| w != "trimester") {
        return None;
    }
    match words[i].as_str() {
        "first" | "1st" => Some((0.0, 13.99)),
        "second" | "2nd" => Some((14.0, 27.99)),
        "third" | "3rd" => Some((28.0, 45.0)),
        _ => None,
    }
}

/// "One" that stands for a thing named elsewhere, not a count: "she had one last year", "the
/// one with contrast", "which one". A count is followed by what it counts ("one view"), or
/// follows what it numbers ("level one").
fn one_is_a_pronoun(before: &str, after: &str) -> bool {
    const POINTING: &[&str] =
        &["the", "which", "that", "this", "each", "any", "every", "another", "a", "an", "no", "had", "have", "has", "got", "get", "need", "needs", "want", "new", "next", "last", "same", "other"];
    const ENDING: &[&str] = &["", ",", "with", "without", "of", "for", "that", "which", "where", "last", "before", "again", "instead", "too", "also"];
    POINTING.contains(&before) || (ENDING.contains(&after) && !NUMBERED.contains(&before))
}

/// Words a number follows to name one of a series ("stage 3b", "level one", "type 2").
const NUMBERED: &[&str] = &["level", "stage", "grade", "type", "category", "number", "day", "week", "part", "phase", "step", "tier", "zone", "class", "size", "trimester"];

fn is_stop(word: &str) -> bool {
    STOP.contains(&word)
}

/// Lower-cased words with "w/o" and "w/" read as "without" and "with", number words as digits,
/// "N hours" as minutes, and punctuation kept as clause breaks (`,`).
fn words(text: &str) -> Vec<String> {
    read_words(text, false)
}

/// [`words`] of a question, which may also say "one" for a thing named elsewhere ("had one
/// last year"; a title's "Synvisc-One" is a name).
fn question_words(text: &str) -> Vec<String> {
    read_words(text, true)
}

/// `text` with each "f/u" that stands as a word ("f/u visit", "no f/u") as "follow up".
fn follow_up_spelled(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut rest = text;
    while let Some(at) = rest.find("f/u") {
        let before = rest[..at].chars().next_back();
        let after = rest[at + 3..].chars().next();
        let word = !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric);
        out.push_str(&rest[..at]);
        out.push_str(if word { " follow up " } else { "f/u" });
        rest = &rest[at + 3..];
    }
    out.push_str(rest);
    out
}

fn read_words(text: &str, question: bool) -> Vec<String> {
    let mut lower = text.to_lowercase().replace("w/wo", " with and without ").replace("w/o", " without ").replace("w/", " with ");
    // "f/u" is a follow-up, in a question and in an HCPCS descriptor ("No f/u rec image study").
    if lower.contains("f/u") {
        lower = follow_up_spelled(&lower);
    }
    // Comparisons as words, the same in a question and a title: "<50%" and "less than 50%".
    for (from, to) in COMPARISONS {
        if lower.contains(from) {
            lower = lower.replace(from, to);
        }
    }
    let mut out: Vec<String> = vec![];
    let mut cur = String::new();
    let flush = |cur: &mut String, out: &mut Vec<String>| {
        if !cur.is_empty() {
            out.push(std::mem::take(cur));
        }
    };
    let chars: Vec<char> = lower.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let digit_before = i > 0 && chars[i - 1].is_ascii_digit();
        let digit_after = chars.get(i + 1).is_some_and(char::is_ascii_digit);
        if c.is_alphanumeric() || c == '\'' || (c == '.' && digit_before && digit_after) {
            cur.push(c);
            continue;
        }
        flush(&mut cur, &mut out);
        match c {
            // "40–64", "1.1-2.5": a range.
            '-' | '–' | '—' if digit_before && digit_after => out.push("to".into()),
            // "65+", "20+ min": that many or more.
            '+' if digit_before => out.push("plus".into()),
            ',' | ';' | '.' | '(' | ')' | ':' | '?' | '!' => out.push(",".into()),
            _ => {}
        }
    }
    flush(&mut cur, &mut out);
    let mut words: Vec<String> = vec![];
    // The unit of a number that comes after it ("day 12").
    let mut unit_of_next: Option<f32> = None;
    for (at, w) in out.iter().enumerate() {
        let w = w.trim_matches('\'').to_string();
        if w.is_empty() {
            continue;
        }
        // "ICD-10", "ICD 10 CM": the system's name, not a number asked for.
        if words.last().is_some_and(|p| p == "icd") && matches!(w.as_str(), "10" | "9" | "cm") {
            continue;
        }
        if question && w == "one" && one_is_a_pronoun(at.checked_sub(1).map_or("", |p| out[p].as_str()), out.get(at + 1).map_or("", String::as_str)) {
            continue;
        }
        let w = NUMBER_WORDS.iter().find(|(name, _)| *name == w).map(|(_, d)| d.to_string()).unwrap_or(w);
        if let Some(per_unit) = unit_of_next.take() {
            if let Ok(n) = w.parse::<f32>() {
                words.push(number_word(n * per_unit));
                words.push("minutes".into());
                continue;
            }
        }
        // A number with its unit in one word: "15m", "48h", "10mg" (not "3b", "3rd").
        let digits = w.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(w.len());
        let w = if digits > 0 && digits < w.len() && UNITS.contains(&&w[digits..]) {
            words.push(w[..digits].to_string());
            match &w[digits..] {
                "m" => "min".to_string(),
                unit => unit.to_string(),
            }
        } else {
            w
        };
        // An age in months or weeks ("2 months old"), in years as titles give ages.
        if let Some(per) = per_year(&w).filter(|_| out.get(at + 1).is_some_and(|next| next == "old")) {
            if scale_last(&mut words, |n| (n / per * 100.0).round() / 100.0) {
                words.push("years".into());
                continue;
            }
        }
        // Time in minutes: "one hour", "48 h", "two days".
        let per_unit = match w.as_str() {
            "hour" | "hours" | "hr" | "hrs" | "h" => Some(60.0),
            "day" | "days" => Some(1440.0),
            _ => None,
        };
        if let Some(per_unit) = per_unit {
            let number = scale_last(&mut words, |n| n * per_unit);
            // A question's "day 12", "hour 2": that many days or hours in (the twelfth day
            // after discharge falls in "within 14 days").
            let next_number = out.get(at + 1).and_then(|n| n.parse::<f32>().ok());
            if question && !number && matches!(w.as_str(), "day" | "hour") && next_number.is_some() {
                unit_of_next = Some(per_unit);
                continue;
            }
            // "3 to 7 days": the range's first number has the same unit.
            let k = words.len();
            if number && k >= 3 && words[k - 2] == "to" {
                scale_last(&mut words[..k - 2], |m| m * per_unit);
            }
            // Without a number, "hour" is still a time ("an hour", "per hour"); "day" is a
            // day ("same day", "every day").
            if number || !matches!(w.as_str(), "h" | "day" | "days") {
                words.push("minutes".into());
                continue;
            }
            if w == "h" {
                continue;
            }
        }
        // "2.5 cm or less", "20 or more": the same words as "up to" and "at least".
        if words.last().is_some_and(|p| p == "or") && matches!(w.as_str(), "less" | "fewer" | "more" | "greater" | "longer" | "older" | "over" | "younger" | "under") {
            *words.last_mut().expect("or") = if matches!(w.as_str(), "more" | "greater" | "longer" | "older" | "over") { "atleast" } else { "atmost" }.into();
            continue;
        }
        // Volumes in millilitres: "1 liter" is the "1000 cc" of a title.
        if matches!(w.as_str(), "l" | "liter" | "liters" | "litre" | "litres") && scale_last(&mut words, |n| n * 1000.0) {
            words.push("ml".into());
            continue;
        }
        let w = match w.as_str() {
            "cc" => "ml".to_string(),
            "min" | "mins" => "minutes".to_string(),
            "xray" | "xrays" => "ray".to_string(),
            _ => w,
        };
        // "With and without contrast" (either order, "w/wo", "with & without") is one study
        // that holds both: a word of its own, not an absence of what follows.
        if matches!(w.as_str(), "with" | "without") {
            let k = words.len();
            let other = if w == "with" { "without" } else { "with" };
            let joined = if k >= 2 && words[k - 1] == "and" && words[k - 2] == other {
                2
            } else if k >= 1 && words[k - 1] == other {
                1
            } else {
                0
            };
            if joined > 0 {
                words.truncate(k - joined);
                words.push(BOTH_WAYS.into());
                continue;
            }
        }
        // "non-sterile", "non tobacco": one word, the opposite of "sterile", not a negation
        // of what follows.
        if words.last().is_some_and(|p| p == "non") && w.chars().next().is_some_and(char::is_alphabetic) {
            *words.last_mut().expect("non") = format!("non{w}");
            continue;
        }
        words.push(w);
    }
    words
}

/// Words that say what follows is not established ("chest pain, r/o MI", "possible
/// pneumonia"): outpatient coding codes the signs and symptoms, not the uncertain diagnosis.
/// ("Suspected" is not among them: titles name suspected conditions, T76, Z03.)
const UNCERTAIN: &[&str] = &["possible", "possibly", "probable", "probably", "questionable", "likely"];

/// Words that place a question in a hospital stay, where an uncertain diagnosis at discharge
/// is coded as if it were established.
const INPATIENT: &[&str] = &["inpatient", "inpt", "admitted", "hospitalized", "hospitalised"];

/// The question places itself in a hospital stay ([`INPATIENT`], a discharge summary or
/// diagnosis), read before its narration ("the discharge summary says") is left out.
fn in_hospital(words: &[String]) -> bool {
    words.iter().any(|w| INPATIENT.contains(&w.as_str())) || words.windows(2).any(|w| w[0] == "discharge" && matches!(w[1].as_str(), "summary" | "diagnosis" | "dx"))
}

/// The question without what it says is uncertain, from the cue ("r/o", "rule out",
/// [`UNCERTAIN`]) to the clause's end, unless nothing else is left. In a hospital stay
/// ([`in_hospital`]) only the cue goes: "probable pneumonia" is pneumonia.
fn without_rule_outs(words: Vec<String>, inpatient: bool) -> Vec<String> {
    let mut kept: Vec<String> = Vec::with_capacity(words.len());
    let mut dropping = false;
    let mut i = 0;
    while i < words.len() {
        let (w, next) = (words[i].as_str(), words.get(i + 1).map(String::as_str));
        let cue = match (w, next) {
            ("r", Some("o")) | ("rule" | "rules" | "ruling", Some("out")) => 2,
            (w, _) if UNCERTAIN.contains(&w) => 1,
            _ => 0,
        };
        if cue > 0 {
            dropping = !inpatient;
            i += cue;
            continue;
        }
        if matches!(w, "," | "with" | "but" | "and") {
            dropping = false;
        }
        if !dropping {
            kept.push(words[i].clone());
        }
        i += 1;
    }
    match kept.iter().any(|w| w != "," && !is_stop(w)) {
        true => kept,
        false => words,
    }
}

/// The question without what it asks to count ("how many units of the J code", "how much
/// time counts"): the count is the answer, not a word the code's title should hold.
fn without_counted(words: Vec<String>) -> Vec<String> {
    let mut out = Vec::with_capacity(words.len());
    let mut i = 0;
    while i < words.len() {
        let counted = words[i] == "how"
            && words.get(i + 1).is_some_and(|w| w == "many" || w == "much")
            && words.get(i + 2).is_some_and(|w| w != "," && !is_stop(w) && w.parse::<f32>().is_err());
        // "Which J code and units?", "the code and the units": the units asked for at a
        // clause's end.
        let units_asked = matches!(words[i].as_str(), "units" | "unit")
            && i > 0
            && matches!(words[i - 1].as_str(), "and" | "the" | "of" | "what" | "many")
            && words.get(i + 1).is_none_or(|w| w == ",");
        if units_asked {
            i += 1;
            continue;
        }
        out.push(words[i].clone());
        i += if counted { 3 } else { 1 };
    }
    out
}

/// The ordinals that grade a degree, in the titles' words: "2nd" is "second".
const DEGREES: [(&str, &str); 4] = [("1st", "first"), ("2nd", "second"), ("3rd", "third"), ("4th", "fourth")];

/// The rank of an ordinal that grades a degree ("2nd", "third").
fn degree_rank(word: &str) -> Option<usize> {
    DEGREES.iter().position(|(digits, name)| word == *digits || word == *name)
}

/// Several degrees of one thing ("2nd and 3rd degree in the same spot", "first and second
/// degree tear") are coded to the highest degree recorded (a burn's site, an obstetric
/// laceration): the lower ones are not asked. A degree's ordinal is the titles' word for it.
fn highest_degree(mut words: Vec<String>) -> Vec<String> {
    let mut drop: HashSet<usize> = HashSet::default();
    let at_degree: Vec<usize> = (0..words.len()).filter(|&i| matches!(words[i].as_str(), "degree" | "degrees")).collect();
    for at in at_degree {
        // The ordinals right before it, joined by "and", "&" or commas.
        let mut graded: Vec<(usize, usize)> = vec![];
        let mut i = at;
        while i > 0 {
            i -= 1;
            match degree_rank(&words[i]) {
                Some(rank) => {
                    graded.push((i, rank));
                    words[i] = DEGREES[rank].1.to_string();
                }
                None if matches!(words[i].as_str(), "and" | "&" | "," | "plus") && !graded.is_empty() => {}
                None => break,
            }
        }
        if let Some(&(top, _)) = graded.iter().max_by_key(|(_, rank)| *rank).filter(|_| graded.len() > 1) {
            let first = graded.iter().map(|(i, _)| *i).min().unwrap_or(top);
            drop.extend((first..at).filter(|&i| i != top));
        }
    }
    words.into_iter().enumerate().filter(|(i, _)| !drop.contains(i)).map(|(_, w)| w).collect()
}

/// A substance's dependence, named: it is what is coded when the record also says abuse of
/// it (the guidelines' hierarchy, dependence over abuse over use), so the abuse is not asked.
const DEPENDENCE: &[&str] = &["dependence", "dependent", "dependency", "addiction", "addicted"];

/// The question without "abuse" when it also names a dependence ("etoh abuse in the HPI,
/// dependence in the assessment" is coded as the dependence).
fn dependence_over_abuse(words: Vec<String>) -> Vec<String> {
    if !words.iter().any(|w| DEPENDENCE.contains(&w.as_str())) {
        return words;
    }
    words.into_iter().filter(|w| !matches!(w.as_str(), "abuse" | "abuses" | "abusing")).collect()
}

/// The axes a code specifies, which a record may leave unsaid ("no stage documented").
const AXES: &[&str] = &["severity", "stage", "type", "kind", "cause", "side", "laterality", "acuity", "class", "degree", "grade", "trimester", "site", "location", "organism", "episode"];

/// What a question says it does not know ("type not specified", "severity not documented",
/// "cause unknown") is the titles' "unspecified", not a negation of what follows.
/// Also gives the positions of the words it declares unknown: the word right before "not
/// documented" or "unknown" at the end of a clause ("severity not documented,").
/// A question's own "unspecified" ("anemia unspecified") is not such a declaration.
fn unstated_at(words: Vec<String>) -> (Vec<String>, HashSet<usize>) {
    let mut out: Vec<String> = Vec::with_capacity(words.len());
    let mut read = vec![];
    let mut i = 0;
    while i < words.len() {
        let next = words.get(i + 1).map(String::as_str);
        // "No severity documented", "no obesity class stated": the axis a code specifies is
        // unknown, as "severity not documented" says.
        let axis_unsaid = match (words[i].as_str(), next) {
            ("no", Some(_)) => (i + 2..=i + 3).find(|&j| {
                words.get(j).is_some_and(|w| matches!(w.as_str(), "specified" | "documented" | "stated" | "given" | "mentioned" | "recorded"))
                    && AXES.contains(&words[j - 1].as_str())
                    && words[i + 1..j].iter().all(|w| w != ",")
            }),
            _ => None,
        };
        if let Some(j) = axis_unsaid {
            out.extend(words[i + 1..j].iter().cloned());
            read.push(out.len());
            out.push("unspecified".into());
            i = j + 1;
            continue;
        }
        // "Doc wrote anemia, no type or cause", "no stage anywhere": the axes it names are
        // unknown (a condition has a type; "no type" is none given).
        let mut axes_unknown = i;
        if words[i] == "no" {
            while words.get(axes_unknown + 1).is_some_and(|w| AXES.contains(&w.as_str())) {
                axes_unknown += 1;
                match words.get(axes_unknown + 1).map(String::as_str) {
                    Some("or" | "and" | "nor") if words.get(axes_unknown + 2).is_some_and(|w| AXES.contains(&w.as_str())) => axes_unknown += 1,
                    _ => break,
                }
            }
        }
        if axes_unknown > i {
            let axes_unknown = axes_unknown + 1;
            out.extend(words[i + 1..axes_unknown].iter().filter(|w| AXES.contains(&w.as_str())).cloned());
            read.push(out.len());
            out.push("unspecified".into());
            i = axes_unknown;
            continue;
        }
        match (words[i].as_str(), next) {
            // Not "not specified as traumatic": that negates what follows. "The stage was
            // never documented" is "stage unspecified".
            ("not" | "never", Some("specified" | "documented" | "stated" | "known" | "given")) if words.get(i + 2).is_none_or(|w| w != "as") => {
                while out.last().is_some_and(|w| matches!(w.as_str(), "was" | "is" | "were" | "been" | "ever")) {
                    out.pop();
                }
                read.push(out.len());
                out.push("unspecified".into());
                i += 2;
            }
            // "Not otherwise specified" is NOS written out.
            ("not", Some("otherwise")) if words.get(i + 2).is_some_and(|w| w == "specified") => {
                read.push(out.len());
                out.push("unspecified".into());
                i += 3;
            }
            ("unknown" | "undocumented" | "unstated", _) => {
                read.push(out.len());
                out.push("unspecified".into());
                i += 1;
            }
            _ => {
                out.push(words[i].clone());
                i += 1;
            }
        }
    }
    let unknown = read
        .into_iter()
        .filter(|&p| p > 0 && out[p - 1] != "," && out.get(p + 1).is_none_or(|w| w == ","))
        .map(|p| p - 1)
        .collect();
    (out, unknown)
}

/// A question's "R" or "L" before a body part is its side ("R shoulder", "L hand"); not in
/// "L spine" (lumbar) or "R/O" (rule out).
fn sides(mut words: Vec<String>) -> Vec<String> {
    for i in 0..words.len() {
        let next = words.get(i + 1).map(String::as_str).unwrap_or("");
        let part = next.len() >= 3 && next.chars().all(char::is_alphabetic) && !matches!(next, "spine" | "and" | "with");
        let side = match words[i].as_str() {
            "r" if part => "right",
            "l" if part => "left",
            _ => continue,
        };
        words[i] = side.into();
    }
    words
}

/// Which side is dominant, as ICD-10-CM's hemiplegia and monoplegia codes ask: the question's
/// "right handed" or "left handed" against the side it names ("right sided weakness, right
/// handed": the dominant side), or, where it says no hand, the guidelines' default (the right
/// side dominant, the left non-dominant; an ambidextrous patient's either side dominant).
/// Returns the question without its words of handedness, which say nothing of the condition,
/// and "dominant" or "nondominant" when a side is named and neither word is.
fn dominance(words: Vec<String>) -> (Vec<String>, Option<&'static str>) {
    let handed_at = |i: usize| words.get(i + 1).is_some_and(|w| matches!(w.as_str(), "handed" | "hand" | "hander")) && matches!(words[i].as_str(), "right" | "left");
    let hand = (0..words.len()).find(|&i| handed_at(i)).map(|i| words[i] == "right");
    let ambidextrous = words.iter().any(|w| w == "ambidextrous");
    let side = (0..words.len()).filter(|&i| !handed_at(i) && matches!(words[i].as_str(), "right" | "left")).map(|i| words[i] == "right").next();
    let said = words.iter().any(|w| matches!(w.as_str(), "dominant" | "nondominant"));
    let dominant = match (side, said) {
        (Some(right), false) => Some(if ambidextrous { true } else { hand.map_or(right, |h| h == right) }),
        _ => None,
    };
    let word = dominant.map(|d| if d { "dominant" } else { "nondominant" });
    if dominant.is_none() || (hand.is_none() && !ambidextrous) {
        return (words, word);
    }
    let mut out = Vec::with_capacity(words.len());
    let mut i = 0;
    while i < words.len() {
        if handed_at(i) {
            i += 2;
            continue;
        }
        if words[i] != "ambidextrous" {
            out.push(words[i].clone());
        }
        i += 1;
    }
    (out, word)
}

/// An examination that found something ("well check, found an ear infection on exam", "doc
/// heard a new murmur during the physical") is the encounter "with abnormal findings" of the
/// guidelines, which the question then asks for; nothing found ("no problems found") is not,
/// and a routine or general one that says it was normal ("annual physical, everything
/// normal", "unremarkable checkup") is the encounter "without abnormal findings".
fn exam_findings(mut words: Vec<String>) -> Vec<String> {
    let exam = words.iter().any(|w| matches!(w.as_str(), "exam" | "exams" | "examination" | "physical" | "checkup" | "check"));
    let found = (0..words.len()).any(|i| {
        matches!(words[i].as_str(), "found" | "finds" | "heard" | "noted" | "noticed" | "discovered" | "detected")
            && !words[i.saturating_sub(3)..i].iter().any(|w| NEGATIONS.contains(&w.as_str()))
    });
    let abnormal = words.iter().any(|w| w == "abnormal");
    // Routine and general examinations are the ones ICD-10-CM codes with or without abnormal
    // findings; a sports or pre-op exam has no such axis.
    let routine = words.iter().any(|w| matches!(w.as_str(), "annual" | "yearly" | "routine" | "well" | "wellness" | "general" | "preventive" | "checkup"));
    if exam && found && !abnormal {
        words.extend([",", "abnormal", "findings"].map(String::from));
    } else if exam && !abnormal && routine && words.iter().any(|w| matches!(w.as_str(), "normal" | "unremarkable")) {
        words.extend([",", "without", "abnormal", "findings"].map(String::from));
    }
    words
}

/// What the question says its record does not say ("note never says type 1 or 2", "chart
/// doesn't say if the pt is left or right handed", "doc didn't document which side") is not
/// known: the clause goes, from the negation to its end, so that neither what it names nor its
/// negation is asked, and the code falls to the guidelines' default. ("Type not documented"
/// is [`unstated_at`]'s.) The question's reading keeps the clause apart ([`unsaid_apart`]).
#[cfg(test)]
fn without_unsaid(words: Vec<String>) -> Vec<String> {
    unsaid_apart(words).0
}

/// A stem that names a side, or the side itself ("left", "side", "handed", "laterality").
fn says_a_side(s: &str) -> bool {
    is_side(s) || ["side", "hand", "handed", "laterality"].iter().any(|w| stem(w) == s)
}

/// A word of a later encounter than the default initial one ("subsequent encounter", "sequela").
fn is_later_encounter(stem: &str) -> bool {
    static STEMS: LazyLock<HashSet<String>> = LazyLock::new(|| ["subsequent", "sequela"].iter().map(|w| self::stem(w)).collect());
    STEMS.contains(stem)
}

/// A word of a first visit or service ("initial eval", "admit H&P", "first hour"), and of a
/// later one ("subsequent visit", "follow-up", "re-eval", "re-check"): a follow-up that names a
/// later one and no first one asks for the later one in place of the first.
fn is_first_service(stem: &str) -> bool {
    static STEMS: LazyLock<HashSet<String>> = LazyLock::new(|| ["initial", "first", "admit", "admission"].iter().map(|w| self::stem(w)).collect());
    STEMS.contains(stem)
}

/// See [`is_first_service`].
fn is_later_service(stem: &str) -> bool {
    static STEMS: LazyLock<HashSet<String>> = LazyLock::new(|| ["subsequent", "follow", "re", "reevaluation", "recheck", "next"].iter().map(|w| self::stem(w)).collect());
    STEMS.contains(stem)
}

/// The text to search: the case the question tells. Without what it says its record leaves
/// unsaid ("they never documented right or left arm"), which would fill the pool with the codes
/// that name it (and, when that is the side, with "unspecified", the side a coder then codes),
/// without its narration ([`without_narration`]) and without what it says is only ruled out
/// ([`without_rule_outs`]). None when it leaves nothing out. (Not with the contact words of
/// [`contact_of_another`]: searched, they fill the pool with exposures to hazards.)
pub fn case_to_search(text: &str) -> Option<String> {
    let words = question_words(text);
    let told = without_rule_outs(without_narration(words.clone()), in_hospital(&words));
    let shortened = told.len() < words.len();
    let (kept, dropped) = unsaid_apart(told);
    if dropped.is_empty() && !shortened {
        return None;
    }
    let side = dropped.iter().any(|w| says_a_side(&stem(w)));
    let kept = kept.into_iter().filter(|w| w != ",");
    Some(kept.chain(side.then(|| "unspecified".to_string())).collect::<Vec<_>>().join(" "))
}

/// A word for what a record says.
fn says(w: &str) -> bool {
    matches!(
        w,
        "say" | "says" | "said" | "state" | "states" | "stated" | "specify" | "specifies" | "specified" | "document" | "documents" | "documented" | "mention"
            | "mentions" | "mentioned" | "indicate" | "indicates" | "indicated" | "write" | "writes" | "wrote" | "written" | "list" | "lists" | "listed"
    )
}

/// The question says its record names only what it names ("the note only says migraine", "doc
/// just wrote 'depression', nothing more"): a follow-up that says so asks about that alone.
fn only_said(words: &[String]) -> bool {
    (0..words.len()).any(|i| {
        let w = words[i].as_str();
        (says(w) && (i.checked_sub(1).is_some_and(|j| matches!(words[j].as_str(), "only" | "just")) || words.get(i + 1).is_some_and(|n| n == "only")))
            || (w == "nothing" && words.get(i + 1).is_some_and(|n| matches!(n.as_str(), "more" | "else")))
    })
}

/// Who or what a question says wrote its record: "the doc wrote", "note says", "the provider
/// documented", "it says".
const SAYERS: &[&str] = &["doc", "docs", "doctor", "doctors", "dr", "provider", "physician", "np", "md", "note", "notes", "chart", "summary", "it", "they", "he", "she"];

/// Words of whose note a question tells ("the office note", "urgent care note", "his
/// progress note", "the discharge summary").
const NOTE_OF: &[&str] = &[
    "office", "clinic", "er", "ed", "urgent", "care", "progress", "visit", "discharge", "nurse", "nurses", "nurse's", "nursing", "triage", "doctor's", "doc's", "provider's",
    "physician's", "the", "his", "her", "their", "our", "my", "today's", "todays",
];

/// A verb that reports what a record says, the tenses a question tells its record in.
fn reports(w: &str) -> bool {
    matches!(
        w,
        "say" | "says" | "said" | "write" | "writes" | "wrote" | "written" | "document" | "documents" | "documented" | "note" | "notes" | "noted" | "states"
            | "stated" | "chart" | "charted" | "charts" | "lists" | "listed" | "calls" | "called" | "put" | "puts" | "mentions" | "mentioned"
    )
}

/// The question without the words that tell who wrote its record ("doc just wrote anemia",
/// "the note says afib", "provider only documented depression", "the doc didn't say which
/// kind"): the record's words are what a code answers, the narration holds none of them
/// and would rank a title that happens to ("Preoperative care only", a provider) first.
fn without_narration(words: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(words.len());
    let mut i = 0;
    while i < words.len() {
        // The asker's own story: "new coder here", "I'm new to billing".
        let asker = match (words[i].as_str(), words.get(i + 1).map(String::as_str), words.get(i + 2).map(String::as_str)) {
            ("new", Some("to"), Some("coding" | "billing")) => 3,
            ("new", Some("coder" | "coders" | "biller" | "billers"), _) => 2,
            _ => 0,
        };
        if asker > 0 {
            i += asker;
            continue;
        }
        let frame = SAYERS.contains(&words[i].as_str()).then(|| {
            let mut j = i + 1;
            if words.get(j).is_some_and(|w| matches!(w.as_str(), "only" | "just")) {
                j += 1;
            }
            j
        });
        match frame {
            // "Doc wrote anemia", "note only says": the sayer, its "only" and the verb, and an
            // "only" after the verb; not where nothing follows ("as the doc wrote.").
            Some(j) if words.get(j).is_some_and(|w| reports(w)) && words.get(j + 1).is_some_and(|w| w != ",") => {
                // Whose note it is ("the urgent care note says", "office note"): where the
                // note was written, not what it says.
                if matches!(words[i].as_str(), "note" | "notes" | "chart" | "summary") {
                    while out.last().is_some_and(|w| NOTE_OF.contains(&w.as_str())) {
                        out.pop();
                    }
                }
                i = j + 1;
                if words.get(i).is_some_and(|w| matches!(w.as_str(), "only" | "just")) {
                    i += 1;
                }
            }
            // "The doc didn't say", "doc never documented": the sayer of what it leaves unsaid.
            Some(_) if !matches!(words[i].as_str(), "it" | "they" | "he" | "she") && leaves_unsaid(&words[i + 1..]) => i += 1,
            _ => {
                out.push(words[i].clone());
                i += 1;
            }
        }
    }
    out
}

/// Words that open with a record's not saying ("didn't say", "does not document", "never
/// mentions").
fn leaves_unsaid(words: &[String]) -> bool {
    let mut k = usize::from(words.first().is_some_and(|w| matches!(w.as_str(), "did" | "does" | "do")));
    if !words.get(k).is_some_and(|w| matches!(w.as_str(), "not" | "never") || (NEGATIONS.contains(&w.as_str()) && w.ends_with('t'))) {
        return false;
    }
    k += 1;
    words[k..].iter().take(2).any(|w| says(w))
}

/// Where what a record leaves unsaid ends, from its verb at `j`: at the clause's end, past a
/// list's commas ("doesn't say paroxysmal, persistent, or permanent", "no mention of major,
/// single episode, or how bad"), and before a clause of its own ("didn't say what kind and she
/// has no behavior problems", "... but it's chronic").
fn unsaid_end(words: &[String], j: usize) -> usize {
    let clause = |from: usize| {
        (from..words.len())
            .find(|&k| {
                let next = words.get(k + 1).map(String::as_str);
                words[k] == ","
                    || (k > from && words[k] == "but")
                    || (k > from && words[k] == "and" && next.is_some_and(|n| matches!(n, "she" | "he" | "they" | "it" | "we" | "i" | "pt" | "patient" | "there" | "no" | "has" | "is" | "was")))
            })
            .unwrap_or(words.len())
    };
    let end = clause(j + 1);
    // A list: short items after commas, up to the one its "or" (or "nor") opens.
    let mut at = end;
    for _ in 0..4 {
        if words.get(at).is_none_or(|w| w != ",") {
            break;
        }
        let next = clause(at + 1);
        // An item is a few words, not a sentence ("patient is stable", "or so she says").
        let item = &words[at + 1..next];
        let sentence = item.iter().any(|w| matches!(w.as_str(), "is" | "was" | "are" | "has" | "have" | "she" | "he" | "they" | "it" | "patient" | "pt" | "says" | "said"));
        if item.is_empty() || item.len() > 4 || sentence {
            break;
        }
        if matches!(item[0].as_str(), "or" | "nor") {
            return next;
        }
        at = next;
    }
    end
}

/// [`without_unsaid`], and the words it left out.
fn unsaid_apart(words: Vec<String>) -> (Vec<String>, Vec<String>) {
    let negation = |w: &str| NEGATIONS.contains(&w) && !matches!(w, "no" | "zero" | "nothing" | "without" | "negative" | "denies" | "non");
    let mut out = Vec::with_capacity(words.len());
    let mut dropped = vec![];
    let mut i = 0;
    while i < words.len() {
        // "never says", "doesn't state", "does not say", "did not document", "no mention of".
        let verb = (1..=2).map(|k| i + k).find(|&j| words.get(j).is_some_and(|w| says(w)) && words[i + 1..j].iter().all(|w| matches!(w.as_str(), "does" | "did" | "not")));
        let verb = verb.or_else(|| {
            let mention = words.get(i + 1).is_some_and(|w| matches!(w.as_str(), "mention" | "documentation" | "record")) && words.get(i + 2).is_some_and(|w| w == "of");
            (words[i] == "no" && mention).then_some(i + 2)
        });
        let tells_what = |j: usize| words.get(j + 1).is_some_and(|w| w != ",");
        match verb {
            Some(j) if (negation(&words[i]) || words[i] == "no") && tells_what(j) => {
                let end = unsaid_end(&words, j);
                // "Never says which hip" of a hip the question names: it names the part, and
                // leaves which one of the pair unsaid, its side.
                let which_of_named = words[j + 1] == "which"
                    && words.get(j + 2).is_some_and(|x| end == j + 3 && !AXES.contains(&x.as_str()) && words.iter().enumerate().any(|(k, w)| w == x && !(j..end).contains(&k)));
                match which_of_named {
                    true => dropped.extend(["which".to_string(), "side".to_string()]),
                    false => dropped.extend(words[j + 1..end].iter().cloned()),
                }
                i = end;
            }
            _ => {
                out.push(words[i].clone());
                i += 1;
            }
        }
    }
    (out, dropped)
}

/// Wound repairs are coded by their summed length ("2 cm on the cheek and 1.5 cm on the lip":
/// one 3.5 cm repair, as CPT adds repairs of one complexity and anatomic group): a question
/// about repairs that names several lengths in cm names their sum. Not where it names sites of
/// two groups (the cheek and the scalp), nor where it names a lesion or an excision, whose size
/// is another measure.
fn summed_repairs(mut words: Vec<String>) -> Vec<String> {
    let repair = |w: &str| {
        matches!(w, "repair" | "repairs" | "repaired" | "lac" | "lacs" | "laceration" | "lacerations" | "closure" | "sutured" | "sutures" | "stitches" | "stitched")
    };
    let other_measure = |w: &str| matches!(w, "lesion" | "lesions" | "excision" | "excised" | "excise" | "margin" | "margins" | "defect" | "flap" | "graft");
    // CPT's anatomic groups, as far as simple repairs split them: the face's parts, and the rest
    // of the body. Repairs on both are two codes.
    let face = |w: &str| {
        matches!(w, "face" | "facial" | "cheek" | "cheeks" | "forehead" | "chin" | "nose" | "lip" | "lips" | "ear" | "ears" | "eyelid" | "eyelids" | "eyebrow" | "brow" | "mouth" | "mucous")
    };
    let body = |w: &str| {
        matches!(
            w,
            "scalp" | "neck" | "arm" | "arms" | "forearm" | "leg" | "legs" | "thigh" | "shin" | "knee" | "trunk" | "back" | "chest" | "abdomen" | "belly" | "hand" | "hands"
                | "finger" | "fingers" | "foot" | "feet" | "toe" | "toes" | "shoulder" | "hip" | "buttock" | "axilla" | "armpit" | "genitalia" | "elbow" | "wrist" | "ankle"
        )
    };
    let both_groups = words.iter().any(|w| face(w)) && words.iter().any(|w| body(w));
    if !words.iter().any(|w| repair(w)) || words.iter().any(|w| other_measure(w)) || both_groups {
        return words;
    }
    let lengths: Vec<usize> = (0..words.len()).filter(|&i| words[i].parse::<f32>().is_ok() && words.get(i + 1).is_some_and(|u| u == "cm")).collect();
    if lengths.len() < 2 {
        return words;
    }
    let total: f32 = lengths.iter().filter_map(|&i| words[i].parse::<f32>().ok()).sum();
    words[lengths[0]] = number_word((total * 100.0).round() / 100.0);
    for &i in lengths[1..].iter().rev() {
        words.drain(i..i + 2);
    }
    words
}

/// A lesion excised with margins is coded by the excised diameter, the lesion's greatest
/// diameter plus the margin on either side ("0.8 cm lesion with 1 cm margins": 2.8 cm): the
/// question's lesion size becomes that diameter, in the lesion's unit, and the margin's own
/// number goes (it is no size a title should match).
fn excised_diameter(mut words: Vec<String>) -> Vec<String> {
    let length = |i: usize| -> Option<f32> {
        let n = words.get(i)?.parse::<f32>().ok()?;
        match words.get(i + 1)?.as_str() {
            "cm" => Some(n),
            "mm" => Some(n / 10.0),
            _ => None,
        }
    };
    let Some(m) = words.iter().position(|w| w == "margin" || w == "margins") else { return words };
    // "1 cm margins", "margins of 2 mm".
    let margin_at = [m.checked_sub(2), Some(m + 2)].into_iter().flatten().find(|&i| length(i).is_some() && (i < m || words[m + 1] == "of"));
    let Some(at) = margin_at else { return words };
    let lesion_at = (0..words.len()).filter(|&i| i != at && length(i).is_some()).min_by_key(|&i| i.abs_diff(at));
    let (Some(lesion_at), Some(margin)) = (lesion_at, length(at)) else { return words };
    let lesion = length(lesion_at).unwrap_or(0.0);
    let per_unit = if words[lesion_at + 1] == "mm" { 10.0 } else { 1.0 };
    let excised = ((lesion + 2.0 * margin) * per_unit * 100.0).round() / 100.0;
    words[lesion_at] = number_word(excised);
    words.drain(at..at + 2);
    words
}

/// Replaces the last word, when it is a number, by `scale` of it; says whether it was one.
fn scale_last(words: &mut [String], scale: impl Fn(f32) -> f32) -> bool {
    match words.last_mut() {
        Some(last) => match last.parse::<f32>() {
            Ok(n) => {
                *last = number_word(scale(n));
                true
            }
            Err(_) => false,
        },
        None => false,
    }
}

fn number_word(n: f32) -> String {
    if n.fract() == 0.0 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// Stems of words seen on this thread: candidates' titles repeat the same few thousand words.
const STEM_CACHE: usize = 100_000;

thread_local! {
    static STEMS: std::cell::RefCell<HashMap<String, String>> = Default::default();
}

/// The English stem of `word`, cached per thread (the lexicon matches its phrases by stems too).
pub(super) fn stem(word: &str) -> String {
    STEMS.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some(s) = cache.get(word) {
            return s.clone();
        }
        if cache.len() >= STEM_CACHE {
            cache.clear();
        }
        let s = STEMMER.stem(word).into_owned();
        cache.insert(word.to_string(), s.clone());
        s
    })
}

/// Tokens read, by the text read.
type ByText = HashMap<String, Arc<Vec<Tok>>>;

/// Titles and names tokenized lately, shared by every thread: the same codes come back search
/// after search.
const TOKENS_CACHE: usize = 20_000;

/// By text, with its slashes as written and read as "or".
static TOKENS: LazyLock<Mutex<[ByText; 2]>> = LazyLock::new(Default::default);
/// Other names read by [`name_tokens`], by code and text.
static NAMES: LazyLock<Mutex<HashMap<String, ByText>>> = LazyLock::new(Default::default);

/// A cache, locked: it holds only finished readings, so one that a panic left locked is still
/// sound.
fn locked<T>(cache: &Mutex<T>) -> MutexGuard<'_, T> {
    cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// [`title_tokens`] of `text` (its slashes read as "or" when `slashes`), from the cache.
fn cached_tokens(text: &str, slashes: bool) -> Arc<Vec<Tok>> {
    let which = usize::from(slashes);
    if let Some(hit) = locked(&TOKENS)[which].get(text).cloned() {
        return hit;
    }
    let tokens = Arc::new(if slashes { title_tokens(&slashes_as_or(text)) } else { title_tokens(text) });
    let cache = &mut locked(&TOKENS)[which];
    if cache.len() >= TOKENS_CACHE {
        cache.clear();
    }
    cache.insert(text.to_string(), tokens.clone());
    tokens
}

/// "a/b/c" between words of two letters or more as "a or b or c" ("w/o", "n/adj" stay).
fn slashes_as_or(title: &str) -> std::borrow::Cow<'_, str> {
    if !title.contains('/') {
        return title.into();
    }
    let chars: Vec<char> = title.chars().collect();
    let mut out = String::with_capacity(title.len() + 8);
    for (i, &c) in chars.iter().enumerate() {
        let between_words = || {
            let word_before = chars[..i].iter().rev().take_while(|c| c.is_alphanumeric()).count();
            word_before >= 2 && chars.get(i + 1).is_some_and(|c| c.is_alphabetic())
        };
        if c == '/' && between_words() {
            out.push_str(" or ");
        } else {
            out.push(c);
        }
    }
    out.into()
}

/// Content tokens of a title or name: stems with the scope "with"/"without" puts them in.
/// "not" and "no" open an absence as "without" does ("not having achieved remission", "not
/// including thumb", "no wood"); an absence ends at a clause break or, once it holds a word,
/// at a preposition that names a site.
fn title_tokens(text: &str) -> Vec<Tok> {
    let mut scope = Scope::Plain;
    let mut held = 0;
    let mut out: Vec<Tok> = vec![];
    let mut vague_next = false;
    let mut per = false;
    // The group of an "or" just read, for the next word, and the word index of the last token.
    let mut alt_next: Option<u16> = None;
    let mut groups = 0u16;
    let mut last_at: Option<usize> = None;
    let words = words(text);
    let letters = letter_names(text);
    for (i, w) in words.iter().enumerate() {
        // "site not specified", "status unknown", an axis "unspecified" ("intestine, part
        // unspecified"): the word before is what is left unspecified.
        let axis_before = || i >= 1 && (AXES.contains(&words[i - 1].as_str()) || matches!(words[i - 1].as_str(), "part" | "level" | "extent"));
        if (w == "specified" && i >= 2 && words[i - 1] == "not") || w == "unknown" || (w == "unspecified" && axis_before()) {
            if let Some(t) = out.iter_mut().rev().find(|t| t.stem != NOT) {
                t.vague = true;
            }
        }
        match w.as_str() {
            // A comma ends a clause, but not an absence that lists its members ("without
            // behavioral disturbance, psychotic disturbance, mood disturbance, and anxiety").
            // What "unspecified" leaves unspecified is the word right after it, in its clause
            // ("Otitis media, unspecified, right ear" leaves the side said).
            "," => {
                if !(scope.absent() && lists_on(&words[i..])) {
                    scope = Scope::Plain;
                }
                per = false;
                vague_next = false;
            }
            "without" => {
                scope = Scope::Without;
                held = 0;
            }
            // "Zero drug wasted" opens with its absence ("beta zero" later in a title is a type).
            "not" | "no" | "zero" if w != "zero" || i == 0 => {
                scope = Scope::Not;
                held = 0;
                // The word itself, so that a question that negates nothing can count it.
                out.push(Tok { stem: NOT.into(), scope, range: None, vague: false, unit: false, alt: None, written: NOT.into(), count: None });
            }
            "with" => scope = Scope::With,
            "or" => {
                if let (Some(at), Some(last)) = (last_at, out.last_mut()) {
                    if at + 1 == i {
                        let g = *last.alt.get_or_insert_with(|| {
                            groups += 1;
                            groups
                        });
                        alt_next = Some(g);
                    }
                }
            }
            w if scope.absent() && held > 0 && ends_negation(w) => scope = Scope::Plain,
            // A title's "IM" is intramuscular, never a question's "I'm".
            w if (is_stop(w) && w != "im") || (w.len() < 2 && !w.chars().all(|c| c.is_ascii_digit()) && !letters.iter().any(|l| l == w)) => {}
            w => {
                held += 1;
                // A trimester's weeks are its number's and its own ("1st trimester" holds 10 weeks).
                let range = w.parse::<f32>().ok().and_then(|n| range_at(&words, i, n)).or_else(|| trimester(&words, i)).or_else(|| i.checked_sub(1).and_then(|p| trimester(&words, p)));
                let stem = stem(w);
                let vague = std::mem::take(&mut vague_next);
                // "unspecified organism": the next word is what is left unspecified; a title
                // that opens with "Unspecified" names its subject next ("Unspecified contact
                // dermatitis").
                vague_next = !out.is_empty() && matches!(w, "unspecified" | "unsp" | "unspec");
                // "per" opens the billing unit, to the end of the clause.
                per |= w == "per";
                let unit = per || matches!(w, "each" | "ea");
                let alt = alt_next.take().filter(|_| last_at.is_some_and(|at| at + 2 == i));
                let count = match out.last() {
                    Some(p) if last_at == Some(i.wrapping_sub(1)) && range.is_none() && w.parse::<f32>().is_err() => {
                        p.stem.parse::<f32>().ok().map(|m| p.range.unwrap_or((m, m)))
                    }
                    _ => None,
                };
                last_at = Some(i);
                out.push(Tok { stem, scope, range, vague, unit, alt, written: w.into(), count })
            }
        }
    }
    exhaustive_alternatives(&mut out);
    out
}

/// The single letters `text` writes as capitals after its first word, lower-cased: the letter
/// that names a variant of the word before ("Vitamin D", "hepatitis B", "large B-cell",
/// "E. coli"), which a question names too ("vit d deficiency"). HCPCS short descriptors cut
/// words to a letter ("w/c", "pch drain/barr lk flng/f"): a letter before or after a slash or
/// an ampersand is no name. Nor is "x", the times sign of "cough x 1 week" and "2 x 2 gauze"
/// and the "X" of "X-ray".
fn letter_names(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out: Vec<String> = vec![];
    for (i, &c) in chars.iter().enumerate() {
        let joined = |j: Option<&char>| j.is_some_and(|d| d.is_alphanumeric() || matches!(d, '/' | '&' | '\''));
        let before = i.checked_sub(1).and_then(|j| chars.get(j));
        if c.is_ascii_uppercase() && i > 0 && !joined(before) && !joined(chars.get(i + 1)) {
            let letter = c.to_ascii_lowercase().to_string();
            if !is_stop(&letter) && letter != "x" && !out.contains(&letter) {
                out.push(letter);
            }
        }
    }
    out
}

/// `rest`, opening with a comma, goes on with the members of a list ("…, B, and C") before
/// any new "with" or "without" clause.
fn lists_on(rest: &[String]) -> bool {
    let clause = rest.iter().position(|w| w == "with" || w == "without").unwrap_or(rest.len());
    rest[..clause].windows(2).any(|p| p[0] == "," && (p[1] == "and" || p[1] == "or"))
}

/// Alternatives that leave nothing out ("one or both sides", "unilateral or bilateral",
/// "single or multiple") qualify nothing: every case is one of them, so none is an extra.
fn exhaustive_alternatives(toks: &mut [Tok]) {
    // One of each end: "single or multiple" leaves out nothing, "2 or more" leaves out one.
    static ONE: LazyLock<[String; 4]> = LazyLock::new(|| ["one", "1", "single", "unilateral"].map(stem));
    static ALL: LazyLock<[String; 4]> = LazyLock::new(|| ["both", "bilateral", "multiple", "more"].map(stem));
    static SIDE: LazyLock<[String; 2]> = LazyLock::new(|| ["side", "sides"].map(stem));
    let has = |g: u16, ends: &[String]| toks.iter().any(|t| t.alt == Some(g) && ends.contains(&t.stem));
    let mut groups: Vec<u16> = toks.iter().filter_map(|t| t.alt).filter(|&g| has(g, &*ONE) && has(g, &*ALL)).collect();
    groups.dedup();
    for g in groups {
        let Some(last) = toks.iter().rposition(|t| t.alt == Some(g)) else { continue };
        for t in toks.iter_mut().filter(|t| t.alt == Some(g)) {
            t.vague = true;
        }
        if let Some(next) = toks.get_mut(last + 1).filter(|t| SIDE.contains(&t.stem)) {
            next.vague = true;
        }
    }
}

/// What the question asks, read once per search.
#[derive(Debug, Clone, Default)]
pub struct Question {
    /// Concepts: the stems of the user's words (a lexicon term's words together), each with
    /// its expansions' stems and its weight.
    concepts: Vec<Concept>,
    /// The user's content stems in order, for phrase order.
    sequence: Vec<String>,
    /// Each two of the user's words in a row, stemmed, stop words among them but not both
    /// ("use disorder"), outside what it negates: a phrase a name may say is absent.
    pairs: Vec<[String; 2]>,
    /// Every stem the question or its expansions hold, to tell a title's extra words.
    asked: HashSet<String>,
    /// Stems the question negates.
    negated: HashSet<String>,
    /// Stems of the user's words it does not negate ("breast cancer ... no cancer now" both
    /// names and negates "cancer").
    asserted: HashSet<String>,
    /// Stems of what the question says its record does not say ("doesn't document how it's
    /// controlled"): a follow-up's replace the earlier question's words for that.
    unsaid: HashSet<String>,
    /// The question says its record names only what it names ([`only_said`]).
    only_said: bool,
    /// The question itself uses a default's words ("unspecified", "other").
    specific: bool,
    /// The question says a service was not done ("vaccine not given", "wasn't performed").
    not_done: bool,
    /// The numbers the question names (time in minutes).
    numbers: Vec<f32>,
    /// The times it names, in minutes ("25 min", "one hour").
    minutes: Vec<f32>,
    /// What it counts and how many ("3 CRNAs", "two views", "type 2 diabetes"): a title
    /// that gives the same thing another number ("one CRNA", "type 1") contradicts it.
    counts: Vec<(f32, String)>,
    /// What it numbers and the number ("stage 3b", "grade 2"): a title that gives the same
    /// word another number ("stage 2") contradicts it.
    numbered: Vec<(String, String)>,
    pub system: Option<CodeSystem>,
    /// A code letter the question names ("G code" → 'G').
    pub letter: Option<char>,
    /// The question asks for rules rather than for a code.
    pub rules: bool,
    /// The question asks about quality measures (MIPS, quality data codes).
    pub quality: bool,
    /// The question names Medicare.
    pub medicare: bool,
    /// The question asks for an anesthesia code ([`asks_anesthesia_code`]).
    anesthesia: bool,
    /// The question names a commercial payer ("commercial", "private insurance"), which
    /// bills services by their CPT codes rather than Medicare's own G codes.
    commercial: bool,
    /// The question asks for a CPT modifier (`Some(true)`) or an HCPCS Level II one.
    modifier_kind: Option<bool>,
    /// The route the question names for a drug.
    route: Option<Route>,
    /// The site the question names for a parenteral drug ("IV", "IM").
    site: Option<Site>,
    /// The question asks for an add-on code ("each additional", "the 2nd hour", "what do I
    /// add for the rest").
    pub add_on: bool,
}

#[derive(Debug, Clone)]
struct Concept {
    literal: Vec<String>,
    /// The words of `literal` as the question has them (unstemmed), for a search.
    words: Vec<String>,
    expansions: Vec<Vec<String>>,
    /// What an expansion itself says is absent ("without abnormal findings").
    absences: Vec<String>,
    /// Its words, counted twice when a follow-up says them (see [`Question::continuing`]).
    weight: f32,
    /// The question says it is not known ("severity not documented"): only a title that
    /// leaves it unspecified ("unspecified severity") holds it, not one that names a severity.
    unknown: bool,
}

impl Question {
    pub fn new(query: &str, terms: &[Term]) -> Self {
        let mut q = Question::default();
        let raw = question_words(query);
        q.add_on = asks_for_add_on(&raw);
        q.not_done = (0..raw.len()).any(|i| NEGATIONS.contains(&raw[i].as_str()) && raw[i + 1..].iter().take(3).any(|w| NOT_DONE.contains(&w.as_str())));
        q.only_said = only_said(&raw);
        q.pairs = word_pairs(&raw, |w| NEGATIONS.contains(&w))
            .into_iter()
            .filter(|(p, absent)| !absent && p[0] != p[1] && !p.iter().any(|w| w == ",") && !p.iter().all(|w| is_stop(w)))
            .map(|(p, _)| p)
            .collect();
        let inpatient = in_hospital(&raw);
        let (mut words, unsaid) = unsaid_apart(sides(past_the_first(summed_repairs(excised_diameter(returning_patient(contact_of_another(without_narration(raw))))))));
        q.unsaid = unsaid.iter().filter(|w| !is_stop(w) && w.as_str() != ",").map(|w| stem(w)).collect();
        // An unsaid side is the side unknown ("never says which hip": "side unknown"); not
        // where the question names one ("left sided hemiplegia, doesn't say if right or left
        // handed" leaves the dominance unsaid).
        if q.unsaid_side() && !words.iter().any(|w| is_side(&stem(w))) {
            words.extend([",", "side", "unknown"].map(String::from));
        }
        let (words, dominant) = dominance(words);
        let (words, unknown) = unstated_at(without_rule_outs(without_counted(exam_findings(highest_degree(dependence_over_abuse(words)))), inpatient));
        let mut negating = 0usize;
        // The lexicon's terms, matched back onto the question's words.
        // A term's words as typed, or else as the question's words read them ("chest xray" is
        // "chest ray", "synvisc one" "synvisc 1", "non emergency" one word): each term with the
        // words it spans.
        let mut by_start: Vec<(usize, Vec<String>, &Term)> = vec![];
        let mut from = 0;
        for term in terms {
            let find = |form: &[String]| (!form.is_empty()).then(|| (from..words.len().saturating_sub(form.len() - 1)).find(|&i| words[i..i + form.len()] == *form)).flatten();
            // The other readings only when the typed one is not found.
            let found = find(&term.words).map(|at| (at, term.words.clone())).or_else(|| {
                let read = |text: &str| -> Vec<String> { question_words(text).into_iter().filter(|w| w != ",").collect() };
                let spaced = read(&term.words.join(" "));
                let joined = vec![term.words.concat()];
                // "f/u" is read "follow up".
                let slashed = || read(&term.words.join("/"));
                find(&spaced).map(|at| (at, spaced)).or_else(|| find(&joined).map(|at| (at, joined))).or_else(|| {
                    let slashed = slashed();
                    find(&slashed).map(|at| (at, slashed))
                })
            });
            if let Some((at, form)) = found {
                from = at + form.len();
                by_start.push((at, form, term));
            }
        }
        let mut i = 0;
        while i < words.len() {
            let w = words[i].as_str();
            if w == "," || w == "with" || w == "but" || w == "and" {
                negating = 0;
                i += 1;
                continue;
            }
            if negating > 0 && negating < 3 && ends_negation(w) {
                negating = 0;
            }
            // A lexicon term that opens with a negation and names a finding of its own ("no
            // appetite": anorexia, "non emergency ambulance") is that finding; one whose
            // expansion is itself an absence ("no complications") is read as a negation.
            let finding = |t: &Term| !t.expansions.iter().any(|e| e.split_whitespace().any(|x| NEGATIONS.contains(&x.to_lowercase().as_str())));
            if NEGATIONS.contains(&w) && !by_start.iter().any(|(at, _, t)| *at == i && finding(t)) {
                negating = 3;
                i += 1;
                continue;
            }
            let (literal_words, expansions): (Vec<&str>, Vec<&str>) = match by_start.iter().find(|(at, _, _)| *at == i) {
                Some((_, spanned, term)) => (spanned.iter().map(String::as_str).collect(), term.expansions.iter().map(String::as_str).collect()),
                None => (vec![w], vec![]),
            };
            let n = literal_words.len();
            // A side inside a lay phrase ("ringing in both ears") is said of the whole phrase:
            // its own concept, "both" read as the titles' "bilateral".
            let inside: Vec<&str> = literal_words.iter().skip(1).filter(|w| INSIDE_SIDES.contains(w)).copied().collect();
            let literal_words: Vec<&str> = match inside.is_empty() {
                true => literal_words,
                false => literal_words.iter().enumerate().filter(|(j, w)| *j == 0 || !INSIDE_SIDES.contains(w)).map(|(_, w)| *w).collect(),
            };
            // A dose ("40mg", "1000 mcg", "1 liter") is the billing unit of a drug or
            // solution: it tells siblings apart but says less than the drug's name.
            let after_number = i > 0 && words[i - 1].parse::<f32>().is_ok();
            if n == 1 && ((after_number && DOSE_UNITS.contains(&w)) || CERTAIN.contains(&w)) {
                q.asked.insert(stem(w));
                i += 1;
                continue;
            }
            let dose = n == 1 && w.parse::<f32>().is_ok() && words.get(i + 1).is_some_and(|u| DOSE_UNITS.contains(&u.as_str()));
            let route = (n == 1 && ROUTES.contains(&w)).then_some(if matches!(w, "oral" | "po") { Route::Oral } else { Route::Parenteral });
            q.route = route.or(q.route);
            // A route is any title's word for that route ("IV" is a title's "injection").
            let site = route.and(site_of(w).or((w == "sq").then_some(Site::Skin)));
            q.site = site.or(q.site);
            let route_words: &[&str] = match (route, site) {
                (Some(Route::Oral), _) => BY_MOUTH,
                (_, Some(Site::Vein)) => INTO_VEIN,
                (_, Some(Site::Muscle)) => INTO_MUSCLE,
                (_, Some(Site::Skin)) => UNDER_SKIN,
                (Some(Route::Parenteral), None) => PARENTERAL,
                (None, _) => &[],
            };
            let expansions: Vec<&str> = expansions.into_iter().chain(route_words.iter().copied()).collect();
            let typed: Vec<String> = literal_words.iter().filter(|w| !is_stop(w) && !NEGATIONS.contains(w)).map(|w| w.to_string()).collect();
            let literal: Vec<String> = typed.iter().map(|w| stem(w)).collect();
            if !literal.is_empty() {
                // An expansion may say an absence itself ("everything normal": without abnormal
                // findings), which a title's "with" then contradicts.
                let mut absences: Vec<String> = vec![];
                let expansions: Vec<Vec<String>> = expansions
                    .iter()
                    .map(|e| {
                        let toks = title_tokens(e);
                        absences.extend(toks.iter().filter(|t| t.scope == Scope::Without).map(|t| t.stem.clone()));
                        toks.into_iter().map(|t| t.stem).collect()
                    })
                    .collect();
                // What is unknown is not asked: a title that names it has named an extra.
                let is_unknown = unknown.contains(&(i + n - 1));
                for s in literal.iter().filter(|_| !is_unknown).chain(expansions.iter().flatten()) {
                    q.asked.insert(s.clone());
                    if negating > 0 {
                        q.negated.insert(s.clone());
                    }
                }
                if negating == 0 {
                    q.asserted.extend(literal.iter().cloned());
                }
                q.sequence.extend(literal.iter().cloned());
                let weight = if dose { DOSE } else if route.is_some() { ROUTE } else { literal.len() as f32 };
                q.concepts.push(Concept { literal, words: typed, expansions, absences, weight, unknown: is_unknown });
                negating = negating.saturating_sub(1);
            }
            for side in inside {
                let literal = vec![stem(side)];
                let expansions = if side == "both" { vec![vec![stem("bilateral")]] } else { vec![] };
                q.asked.extend(literal.iter().chain(expansions.iter().flatten()).cloned());
                q.sequence.extend(literal.iter().cloned());
                q.concepts.push(Concept { literal, words: vec![side.to_string()], expansions, absences: vec![], weight: 1.0, unknown: false });
            }
            i += n;
        }
        q.numbers = q.sequence.iter().filter_map(|s| amount(s)).collect();
        q.counts = words
            .windows(2)
            .filter_map(|w| {
                // A count is small; a five-digit number is a code ("99213 modifier 25").
                let n = w[0].parse::<f32>().ok().filter(|n| *n < 1000.0)?;
                let thing = stem(&w[1]);
                let counted = w[1] != "," && w[1].parse::<f32>().is_err() && !is_stop(&w[1]) && !MEASURE_STEMS.contains(&thing);
                counted.then_some((n, thing))
            })
            .collect();
        q.numbered = words
            .windows(2)
            .filter(|w| NUMBERED.contains(&w[0].as_str()) && w[1].starts_with(|c: char| c.is_ascii_digit()))
            .map(|w| (stem(&w[0]), stem(&w[1])))
            .collect();
        q.minutes = words.windows(2).filter(|w| w[1] == "minutes").filter_map(|w| w[0].parse::<f32>().ok()).collect();
        q.specific = q.sequence.iter().any(|s| is_default(s) && !is_encounter_default(s));
        // A misspelt name of a system ("modifer") is read as its correction.
        let mut words = words;
        for (at, _, term) in &by_start {
            if let ([_], [one]) = (&term.words[..], &term.expansions[..]) {
                if !one.contains(' ') && system_hint(std::slice::from_ref(one)).is_some() {
                    words[*at] = one.clone();
                }
            }
        }
        q.system = system_hint(&words);
        q.letter = letter_hint(&words, query);
        if q.letter.is_some() {
            q.system = Some(if q.letter == Some('Z') { CodeSystem::Icd10Cm } else { CodeSystem::Hcpcs });
        }
        q.rules = words.iter().any(|w| {
            matches!(w.as_str(), "guideline" | "guidelines" | "rule" | "rules" | "policy" | "policies" | "requirement" | "requirements" | "convention" | "conventions" | "instructions")
        });
        q.quality = words.iter().any(|w| matches!(w.as_str(), "quality" | "measure" | "measures" | "mips" | "qdc" | "qdcs" | "pqrs" | "performance" | "numerator" | "denominator"));
        q.medicare = words.iter().any(|w| w == "medicare");
        q.anesthesia = asks_anesthesia_code(&words);
        q.commercial = !q.medicare
            && (words.iter().any(|w| w == "commercial")
                || words.windows(2).any(|w| w[0] == "private" && matches!(w[1].as_str(), "insurance" | "insurer" | "payer" | "payor" | "plan" | "plans")));
        q.modifier_kind = modifier_kind(&words);
        // A question about a code that is gone ("the old observation codes", "what we used to
        // bill") asks for the deleted code's kind.
        if asks_about_deleted(&words) {
            q.asked.insert(DELETED.clone());
        }
        // The dominant side the question says or the guidelines default to is no extra word.
        if let Some(d) = dominant {
            q.asked.insert(stem(d));
        }
        q
    }

    /// The question's words that `c` answers nowhere: no name of it holds them or their
    /// expansions (what the question negates aside). When it asks for several codes, these are
    /// what the other code answers ("the underdosing code and the noncompliance code").
    pub fn unanswered(&self, c: &Candidate) -> Vec<String> {
        let (title, others) = (c.title_toks(), c.other_toks());
        let abbreviated = c.system == CodeSystem::Hcpcs;
        self.concepts
            .iter()
            .filter(|k| Negated::of(self, k) == Negated::Not)
            .filter(|k| k.literal.iter().chain(k.expansions.iter().flatten()).all(|s| holds(s, k.unknown, Negated::Not, &title, &others, abbreviated) == 0.0))
            .flat_map(|k| k.words.iter().cloned())
            .collect()
    }

    /// The question's words that no one name of `c` holds whole: neither the words as typed nor
    /// any one expansion ("uti" in "Escherichia coli as the cause of diseases classified
    /// elsewhere", which holds "infection" of "urinary tract infection" at most).
    pub fn not_wholly_answered(&self, c: &Candidate) -> Vec<String> {
        let (title, others) = (c.title_toks(), c.other_toks());
        let abbreviated = c.system == CodeSystem::Hcpcs;
        let whole = |stems: &[String], unknown: bool| !stems.is_empty() && stems.iter().all(|s| holds(s, unknown, Negated::Not, &title, &others, abbreviated) > 0.0);
        self.concepts
            .iter()
            .filter(|k| Negated::of(self, k) == Negated::Not)
            .filter(|k| !whole(&k.literal, k.unknown) && !k.expansions.iter().any(|e| whole(e, k.unknown)))
            .flat_map(|k| k.words.iter().cloned())
            .collect()
    }

    /// The title of `c` names something the question says is absent: its words, or the
    /// last word of an expansion ("no high blood pressure", read "essential hypertension",
    /// and a hypertensive code).
    pub fn names_what_is_negated(&self, c: &Candidate) -> bool {
        let (title, others) = (c.title_toks(), c.other_toks());
        let abbreviated = c.system == CodeSystem::Hcpcs;
        let whole = |stems: &[String]| !stems.is_empty() && stems.iter().all(|s| holds(s, false, Negated::Not, &title, &others, abbreviated) > 0.0);
        self.concepts
            .iter()
            .filter(|k| Negated::of(self, k) != Negated::Not)
            .any(|k| whole(&k.literal) || k.expansions.iter().any(|e| e.last().is_some_and(|head| whole(std::slice::from_ref(head)))))
    }

    pub fn is_empty(&self) -> bool {
        self.concepts.is_empty()
    }

    /// The question counts more than one of something ("2 shots", "three lesions"; not a time,
    /// "2 yrs ago").
    pub fn counts_several(&self) -> bool {
        self.counts.iter().any(|(n, _)| *n >= 2.0)
    }

    /// This follow-up asks, in words of its own, for another code system than `earlier` ("it
    /// was the right eye, what do I append" after a cataract surgery; not "ICD-10 code for
    /// it", which has no words of its own, nor "and with neuropathy, ICD-10?" after an ICD-10
    /// question).
    pub fn asks_another_system_than(&self, earlier: &Question) -> bool {
        self.system.is_some() && self.system != earlier.system && !self.is_empty()
    }

    /// Words the question says by naming a code with this title: never extra.
    /// Not when the question says its record names only what it names ("what if the note only
    /// says migraine" after migraine with aura), nor the words for what it says the record
    /// leaves unsaid (a side, after "never says which hand").
    pub fn also_asked(&mut self, title: &str) {
        if self.only_said {
            return;
        }
        let unsaid_side = self.unsaid_side();
        let kept: Vec<String> = title_tokens(title).into_iter().map(|t| t.stem).filter(|s| !self.unsaid.contains(s) && !(unsaid_side && is_side(s))).collect();
        self.asked.extend(kept);
    }

    /// The question says its record names only what it names ([`only_said`]).
    pub fn says_only(&self) -> bool {
        self.only_said
    }

    /// What the question says the record leaves unsaid is the side ("which hand").
    fn unsaid_side(&self) -> bool {
        self.unsaid.iter().any(|s| says_a_side(s))
    }

    /// `t` is a title's word of a later encounter than the initial one that the question did not
    /// ask for ("subsequent encounter" unasked).
    fn unasked_later_encounter(&self, t: &Tok) -> bool {
        is_later_encounter(&t.stem) && !self.asked.contains(&t.stem)
    }

    /// This question as a follow-up of `earlier` ("and for type 1?" after "type 2 diabetes, no
    /// complications"): its own words count twice, and what it says again replaces what the
    /// earlier question said of it, its negations included ("the one with contrast" after
    /// "CT without contrast").
    pub fn continuing(mut self, earlier: Question) -> Self {
        for concept in &mut self.concepts {
            concept.weight *= 2.0;
        }
        let said = self.asked.clone();
        // A follow-up that says the record names only what it names ("what if the note only
        // says migraine") asks about that alone: the earlier question's words go.
        let earlier = match self.only_said {
            true => Question { rules: earlier.rules, quality: earlier.quality, medicare: earlier.medicare, commercial: earlier.commercial, ..Question::default() },
            false => earlier,
        };
        // A side the follow-up names replaces the earlier one ("oops, it's the left wrist"), and
        // so does a number next to the same word ("now stage 4" after "stage 3"; not the "2" of
        // "type 2 diabetes"), and the earlier words for what the follow-up says the record
        // leaves unsaid ("what if the doc never says which hand" after "right wrist"; "doesn't
        // document how it's controlled" after "diet controlled").
        let names_side = self.sequence.iter().any(|s| is_side(s)) || self.unsaid_side();
        let old_numbers = numbers_said_again(&earlier.sequence, &self.sequence);
        let unsaid = self.unsaid.clone();
        // A later visit named ("re-eval?" after "PT initial eval") replaces the first one.
        let names_later = self.sequence.iter().any(|s| is_later_service(s)) && !self.sequence.iter().any(|s| is_first_service(s));
        let replaced = |s: &String| (names_side && is_side(s)) || old_numbers.contains(s) || unsaid.contains(s) || (names_later && is_first_service(s));
        self.concepts.extend(earlier.concepts.into_iter().filter(|c| !c.literal.iter().all(|s| said.contains(s) || replaced(s)) && !c.literal.iter().any(|s| unsaid.contains(s))));
        // What the earlier question negated stays negated unless the follow-up names it again,
        // or asks for the study done both ways ("and with and without?" after "no contrast").
        let both_ways = said.contains(&stem(BOTH_WAYS));
        self.negated.extend(earlier.negated.into_iter().filter(|s| !said.contains(s) && !both_ways));
        self.asked.extend(earlier.asked.into_iter().filter(|s| !replaced(s)));
        let mut sequence: Vec<String> = earlier.sequence.into_iter().filter(|s| !replaced(s)).collect();
        sequence.append(&mut self.sequence);
        self.sequence = sequence;
        self.numbers = self.sequence.iter().filter_map(|s| s.parse::<f32>().ok()).collect();
        let recounted = |n: &f32| old_numbers.iter().any(|o| o.parse::<f32>().ok() == Some(*n));
        self.counts.extend(earlier.counts.into_iter().filter(|(n, _)| !recounted(n)));
        self.specific |= earlier.specific;
        // The code system the earlier question named is not carried over: it narrowed that
        // question, and a follow-up that says nothing of it may have moved on ("chest x-ray, two
        // views" after "knee osteoarthritis ICD-10"); its words decide.
        self.rules |= earlier.rules;
        self.quality |= earlier.quality;
        // The payer carries over unless the follow-up names the other one.
        let (medicare, commercial) = (self.medicare, self.commercial);
        self.medicare = medicare || (earlier.medicare && !commercial);
        self.commercial = commercial || (earlier.commercial && !medicare);
        self.modifier_kind = self.modifier_kind.or(earlier.modifier_kind);
        self.route = self.route.or(earlier.route);
        self.site = self.site.or(earlier.site);
        self.add_on |= earlier.add_on;
        self
    }
}

/// The numbers of `earlier` next to a word that is next to a number in `later` too ("stage 3",
/// then "stage 4"; "2 views", then "3 views").
fn numbers_said_again(earlier: &[String], later: &[String]) -> HashSet<String> {
    let is_number = |s: &String| s.parse::<f32>().is_ok();
    let beside = |seq: &[String], i: usize| -> Vec<String> {
        [i.checked_sub(1), Some(i + 1)].into_iter().flatten().filter_map(|j| seq.get(j)).filter(|w| !is_number(w)).cloned().collect()
    };
    let marks: HashSet<String> = (0..later.len()).filter(|&i| is_number(&later[i])).flat_map(|i| beside(later, i)).collect();
    (0..earlier.len()).filter(|&i| is_number(&earlier[i]) && beside(earlier, i).iter().any(|w| marks.contains(w))).map(|i| earlier[i].clone()).collect()
}

/// A side of the body ([`INSIDE_SIDES`]), as the question's stems name it.
fn is_side(word: &str) -> bool {
    static SIDES: LazyLock<Vec<String>> = LazyLock::new(|| INSIDE_SIDES.iter().map(|w| stem(w)).collect());
    SIDES.iter().any(|s| s == word)
}

/// The question asks for an anesthesia code ("anesthesia code for lap chole", "anesthesia for
/// a colonoscopy", "what does anesthesia bill"), which CPT's anesthesia section has, not the
/// procedure's own code. (Not "under general anesthesia", which is how a procedure was done.)
fn asks_anesthesia_code(words: &[String]) -> bool {
    words.windows(2).any(|w| {
        matches!(w[0].as_str(), "anesthesia" | "anaesthesia" | "anesthesiology" | "anes")
            && matches!(w[1].as_str(), "code" | "codes" | "cpt" | "for" | "bill" | "bills" | "billing" | "billed")
    })
}

/// A code of CPT's anesthesia section (00100–01999), or one of its qualifying circumstances
/// (99100–99140).
fn is_anesthesia_code(code: &str) -> bool {
    code.len() == 5 && code.bytes().all(|b| b.is_ascii_digit()) && (("00100"..="01999").contains(&code) || ("99100"..="99140").contains(&code))
}

/// The question asks for an add-on: what is added for more of a service ("add-on",
/// "additional", "extra", "what do I add"), or for the part past the first ("the 2nd hour",
/// "the lesions after the first").
fn asks_for_add_on(words: &[String]) -> bool {
    (0..words.len()).any(|i| past_the_first_at(words, i) || from_the_second_at(words, i))
        || words.windows(2).any(|w| matches!((w[0].as_str(), w[1].as_str()), ("add", "on")))
        || words.iter().any(|w| matches!(w.as_str(), "add" | "addon" | "addons" | "additional" | "extra" | "2nd" | "second" | "3rd" | "third"))
}

/// How many of a unit shorter than a year make one ("months" 12, "weeks" 52).
fn per_year(unit: &str) -> Option<f32> {
    match unit {
        "month" | "months" | "mo" | "mos" => Some(12.0),
        "week" | "weeks" | "wk" | "wks" => Some(52.0),
        _ => None,
    }
}

/// People a patient meets who are no blood relatives: a condition one of them has is, for the
/// patient, one they were in contact with or exposed to (a blood relative's is family history,
/// which the codes' names read).
const CONTACTS: &[&str] = &[
    "coworker", "coworkers", "roommate", "roommates", "housemate", "husband", "wife", "spouse", "boyfriend", "girlfriend", "fiance", "fiancee", "classmate",
    "classmates", "friend", "friends", "teacher", "neighbor", "neighbour", "boss",
];

/// The question tells that someone who is not the patient nor a blood relative has or had a
/// condition ("coworker tested positive for covid", "my wife has strep", "roommate just got
/// diagnosed with flu"): it asks for the patient's contact with it or exposure to it, words
/// added unless it says them.
fn contact_of_another(mut words: Vec<String>) -> Vec<String> {
    let contact = |i: usize| {
        let w = words[i].trim_end_matches("'s");
        CONTACTS.contains(&w) || (w == "worker" && i > 0 && words[i - 1] == "co")
    };
    let has = |w: &String| matches!(w.as_str(), "has" | "had" | "have" | "tested" | "got" | "caught" | "diagnosed" | "positive");
    let told = (0..words.len()).any(|i| contact(i) && words[i + 1..].iter().take(3).take_while(|w| *w != ",").any(has));
    let said = words.iter().any(|w| matches!(w.as_str(), "contact" | "exposed" | "exposure"));
    if told && !said {
        words.extend([",", "contact", "exposure"].map(String::from));
    }
    words
}

/// CPT's three-year rule: a patient seen by a physician of the same specialty in the same
/// group within the past three years is an established patient, whoever sees them now ("saw
/// my partner, same specialty, 2 yrs ago", "seen by our PA 18 months back, now booked with the
/// MD"); seen longer ago, a new one. A question that says when, and that it was the same
/// specialty or group, has its "new" or "established" read by the rule, and says it when it
/// does not.
fn returning_patient(mut words: Vec<String>) -> Vec<String> {
    let years_ago = (0..words.len()).find_map(|i| {
        let n = words[i].parse::<f32>().ok()?;
        let per = match words.get(i + 1)?.as_str() {
            "year" | "years" | "yr" | "yrs" | "y" => 1.0,
            unit => per_year(unit)?,
        };
        matches!(words.get(i + 2)?.as_str(), "ago" | "back" | "prior" | "before" | "earlier").then_some(n / per)
    });
    let seen = words.iter().any(|w| matches!(w.as_str(), "saw" | "seen" | "visited" | "treated"));
    // "Same specialty", "our group", "our PA", "my partner"; a patient of another specialty is
    // new to this one whenever they were seen.
    let other_specialty = words.windows(2).any(|w| matches!(w[0].as_str(), "different" | "another" | "other") && w[1] == "specialty");
    let same_practice = words.windows(2).any(|w| w[0] == "same" && matches!(w[1].as_str(), "specialty" | "group" | "practice"))
        || words.iter().any(|w| matches!(w.as_str(), "our" | "partner" | "partners" | "colleague"));
    let Some(years) = years_ago.filter(|_| seen && (same_practice || other_specialty)) else {
        return words;
    };
    let (is, is_not) = match years < 3.0 && !other_specialty {
        true => ("established", ["new"].as_slice()),
        false => ("new", ["established", "est"].as_slice()),
    };
    let mut said = false;
    for w in words.iter_mut().filter(|w| is_not.contains(&w.as_str()) || w.as_str() == is) {
        *w = is.to_string();
        said = true;
    }
    if !said {
        words.extend([",".to_string(), is.to_string(), "patient".to_string()]);
    }
    words
}

/// The question without what "past the first 15" names: the part of the service the primary
/// code covers, said to ask for the add-on beyond it, not words a title should hold ("first",
/// "15"). [`asks_for_add_on`] reads the words before this.
fn past_the_first(mut words: Vec<String>) -> Vec<String> {
    let mut i = 0;
    while i + 2 < words.len() {
        if past_the_first_at(&words, i) {
            let n = words.get(i + 3).and_then(|w| w.parse::<f32>().ok()).map_or(1, |_| 2);
            let unit = words.get(i + 2 + n).is_some_and(|w| matches!(w.as_str(), "minutes" | "min" | "hour" | "hours" | "sq" | "cm"));
            words.drain(i + 2..i + 2 + n + usize::from(unit));
        }
        i += 1;
    }
    words
}

/// "Past the first" (or "after", "beyond", "over"; "1st") starts at word `i`.
fn past_the_first_at(words: &[String], i: usize) -> bool {
    words.get(i..i + 3).is_some_and(|w| {
        matches!(w[0].as_str(), "past" | "after" | "beyond" | "over") && w[1] == "the" && matches!(w[2].as_str(), "first" | "1st")
    })
}

/// The things a question numbers from the second on start at word `i` ("lesions 2 thru 8",
/// "bx #2 and #3", "hours 2 and 3"): the ones past the first, which an add-on counts. Not a
/// count of things named after it ("directing 2 to 4 CRNAs").
fn from_the_second_at(words: &[String], i: usize) -> bool {
    let number = |j: usize| words.get(j).and_then(|w| w.parse::<f32>().ok());
    words[i] == "2"
        && words.get(i + 1).is_some_and(|w| matches!(w.as_str(), "thru" | "through" | "to" | "and"))
        && number(i + 2).is_some_and(|n| n > 2.0)
        && i.checked_sub(1).is_some_and(|p| number(p).is_none() && words[p] != ",")
        && words.get(i + 3).is_none_or(|w| w == "," || is_stop(w))
}

/// A title's word that counts past the first: "each", "additional", a number, or an ordinal
/// after the first ("2nd", "14th", "second").
fn counts_beyond_the_first(t: &Tok) -> bool {
    let w = t.written.as_ref();
    let ordinal = w.len() > 2 && w[..w.len() - 2].bytes().all(|b| b.is_ascii_digit()) && matches!(&w[w.len() - 2..], "nd" | "rd" | "th");
    ordinal
        || w.parse::<f32>().is_ok()
        || matches!(w, "each" | "additional" | "addl" | "extra" | "second" | "third" | "subsequent")
}

/// The question is about a code that no longer exists ("the old obs codes", "what we used to
/// bill", "went away", "no longer valid").
fn asks_about_deleted(words: &[String]) -> bool {
    let phrase = words.windows(2).any(|w| {
        matches!((w[0].as_str(), w[1].as_str()), ("used", "to") | ("went", "away") | ("no", "longer") | ("got", "rid") | ("not", "valid"))
    });
    phrase
        || words.iter().any(|w| {
            matches!(
                w.as_str(),
                "old" | "former" | "formerly" | "retired" | "obsolete" | "discontinued" | "gone" | "removed" | "dropped" | "deleted"
                    | "replaced" | "anymore" | "defunct" | "eliminated"
            )
        })
}

/// The code system a question names, when it names exactly one.
pub fn system_hint(words: &[String]) -> Option<CodeSystem> {
    let mut found: Vec<CodeSystem> = vec![];
    let mut add = |s: CodeSystem| {
        if !found.contains(&s) {
            found.push(s)
        }
    };
    for (i, w) in words.iter().enumerate() {
        let next = words.get(i + 1).map(String::as_str);
        let before = i.checked_sub(1).map(|j| words[j].as_str());
        // "Dx code", "what dx goes first", "primary dx", "…, dx?": the diagnosis code asked
        // for ("dx of pneumonia" is the clinical diagnosis, "PET imaging initial dx" a
        // descriptor's word).
        // "Which well child dx" at a clause's end asks for the code too.
        let asked_at_end = next.is_none_or(|n| n == ",") && words[i.saturating_sub(3)..i].iter().any(|w| matches!(w.as_str(), "what" | "which"));
        let asks_diagnosis = asked_at_end
            || matches!(next, Some("code" | "codes" | ","))
            || matches!(before, Some("what" | "which" | "primary" | "principal" | "secondary" | "first" | "listed" | "final" | "admitting" | "working" | ","));
        match w.as_str() {
            "icd" | "icd10" | "icd10cm" => add(CodeSystem::Icd10Cm),
            "diagnosis" | "dx" | "diag" if asks_diagnosis => add(CodeSystem::Icd10Cm),
            "cpt" => add(CodeSystem::Cpt),
            "hcpcs" => add(CodeSystem::Hcpcs),
            // "Does it need modifier 50": the word names the modifier the question is about
            // (which the search finds by its code), not the kind of answer it asks for.
            "modifier" | "mod" if next.is_some_and(names_a_modifier) && asks_beyond_modifiers(words) => {}
            "modifier" | "modifiers" | "mod" | "mods" | "append" | "appended" => add(CodeSystem::Modifier),
            _ => {}
        }
    }
    // "CPT modifier", "HCPCS modifiers": the word "modifier" says what is asked, the other
    // name which kind (see [`modifier_kind`]).
    if found.contains(&CodeSystem::Modifier) {
        return Some(CodeSystem::Modifier);
    }
    // "What goes first", "which code is listed first", "what do I sequence first": sequencing
    // is of diagnoses (the first-listed or principal diagnosis), when no system is named.
    let sequencing = words.iter().enumerate().any(|(i, w)| {
        let before = i.checked_sub(1).map(|j| words[j].as_str());
        (w == "first" && (matches!(before, Some("goes" | "go" | "listed" | "sequence" | "sequenced" | "code" | "coded")) || words.get(i + 1).is_some_and(|n| n == "listed")))
            || matches!(w.as_str(), "sequence" | "sequenced" | "sequencing")
    });
    if found.is_empty() && sequencing {
        return Some(CodeSystem::Icd10Cm);
    }
    match found.as_slice() {
        [one] => Some(*one),
        _ => None,
    }
}

/// A word after "modifier" that is a modifier's code ("50", "rt", "xs"), not a word ("on", "to").
fn names_a_modifier(word: &str) -> bool {
    crate::codes::shape::is_modifier(word)
        && (word.bytes().any(|b| b.is_ascii_digit()) || !(is_stop(word) || matches!(word, "go" | "up" | "no" | "ok" | "so" | "us" | "we" | "be")))
}

/// The question names something besides modifiers ("bilateral screening mammogram, does it
/// need modifier 50"; not "when do I need modifier 25").
fn asks_beyond_modifiers(words: &[String]) -> bool {
    let modifier = |w: &str| matches!(w, "modifier" | "modifiers" | "mod" | "mods");
    (0..words.len()).any(|j| {
        let w = words[j].as_str();
        let named = j > 0 && modifier(&words[j - 1]) && names_a_modifier(w);
        w != "," && !is_stop(w) && !modifier(w) && !named
    })
}

/// Which modifiers a question names: CPT's (two digits, `Some(true)`) or HCPCS Level II's
/// (letters, `Some(false)`).
fn modifier_kind(words: &[String]) -> Option<bool> {
    if !words.iter().any(|w| w == "modifier" || w == "modifiers") {
        return None;
    }
    let cpt = words.iter().any(|w| w == "cpt");
    let hcpcs = words.iter().any(|w| w == "hcpcs");
    (cpt != hcpcs).then_some(cpt)
}

/// "J code", "G-code", "Q codes": the HCPCS letter the question names ('Z' for the ICD-10-CM
/// Z codes). Letters that name several things (E codes, V codes) are not read, nor is the
/// article of "is there a code for it": the A codes are named with a capital (`query` as typed).
fn letter_hint(words: &[String], query: &str) -> Option<char> {
    let capital_a = query.contains("A code") || query.contains("A-code");
    words.windows(2).find_map(|w| match (w[0].as_str(), w[1].as_str()) {
        (l, "code" | "codes") if l.len() == 1 => {
            let c = l.chars().next()?.to_ascii_uppercase();
            ("BCGJKLQZ".contains(c) || (c == 'A' && capital_a)).then_some(c)
        }
        _ => None,
    })
}

/// A candidate as the rank-1 stage sees it.
pub struct Candidate<'a> {
    pub system: CodeSystem,
    pub code: Option<&'a str>,
    pub title: &'a str,
    /// Other names: description, inclusion terms.
    pub names: &'a [String],
    /// The codes a guideline passage is about.
    pub codes: &'a [String],
    /// An add-on code, reported only with its primary.
    pub add_on: bool,
    /// The title with its acronyms spelled out ([`Lexicon::spell_out`](super::lexicon::Lexicon::spell_out)).
    pub spelled: Option<String>,
    /// The guideline note a passage is a section of.
    pub note: Option<&'a str>,
}

impl Candidate<'_> {
    /// The title's tokens. Our CPT and modifier titles list alternatives with slashes
    /// ("scalp/neck/trunk/limbs"), read as "or"; HCPCS descriptors also join mixtures with them
    /// ("dextrose/normal saline").
    fn title_toks(&self) -> Arc<Vec<Tok>> {
        cached_tokens(self.title, matches!(self.system, CodeSystem::Cpt | CodeSystem::Modifier))
    }

    /// The tokens of its names other than the title.
    fn other_toks(&self) -> Vec<Arc<Vec<Tok>>> {
        self.names.iter().filter(|n| n.as_str() != self.title).map(|n| name_tokens(n, self.code)).collect()
    }

    /// The tokens of all its names, the title among them.
    fn name_toks(&self) -> Vec<Arc<Vec<Tok>>> {
        self.names.iter().map(|n| name_tokens(n, self.code)).collect()
    }
}

/// The tokens of another name of `code`. Its sentences that send a case to another code
/// ("Planned neuraxial labor analgesia is reported with 01967 instead", "ERCP is 00732", "a
/// biopsy or treatment moves to a more specific EGD code", "deeper debridement uses other
/// codes", "layered closure is coded separately") say what this code is not: their words are
/// absences, which hold only what a question negates. (A sentence that says what goes with
/// this code, an add-on's primary, what this code is used instead of, or that it is the code for
/// what has "no more specific code", is its own.)
fn name_tokens(name: &str, code: Option<&str>) -> Arc<Vec<Tok>> {
    let key = code.unwrap_or("");
    if let Some(hit) = locked(&NAMES).get(key).and_then(|names| names.get(name)).cloned() {
        return hit;
    }
    let tokens = read_name(name, code);
    let mut cache = locked(&NAMES);
    if cache.len() >= TOKENS_CACHE {
        cache.clear();
    }
    cache.entry(key.to_string()).or_default().insert(name.to_string(), tokens.clone());
    tokens
}

/// [`name_tokens`], uncached.
fn read_name(name: &str, code: Option<&str>) -> Arc<Vec<Tok>> {
    // A sentence that says "instead" and names another code goes as a whole. Otherwise each
    // clause (split at ", and", ", but", "; ") that says what is another code ("Radical surgery
    // is 00162", "With one-lung ventilation use 00529") or holds a phrase of [`SENDS_AWAY`] goes,
    // and the rest stays: "The vaccine product is coded separately, and Medicare uses G0008 …"
    // sends away the product, not the flu shot, which only Medicare bills otherwise; "Surgical
    // knee arthroscopy, such as meniscectomy, goes to 01400" is one clause.
    let other_code = |w: &str| {
        let w = w.trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
        w.len() == 5 && w.bytes().filter(u8::is_ascii_digit).count() >= 4 && w.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()) && Some(w) != code
    };
    let is_another = |text: &str| {
        let words: Vec<&str> = text.split_whitespace().collect();
        words.windows(2).any(|p| matches!(p[0], "is" | "are" | "use" | "uses") && other_code(p[1]))
    };
    let sends_away = |text: &str, instead: bool| {
        let lower = text.to_lowercase();
        let elsewhere = match instead {
            true => lower.contains("instead") && !lower.contains("instead of") && find_codes(text, Case::Upper).iter().any(|f| Some(f.code.as_str()) != code),
            // What one payer bills otherwise ("Medicare uses G0008 for flu shots") is still this
            // code's for the others.
            false => (is_another(text) || SENDS_AWAY.iter().any(|p| lower.contains(p))) && !lower.contains("medicare"),
        };
        elsewhere && !lower.contains("no more specific") && !lower.contains("no code of")
    };
    let (mut away, mut own): (Vec<&str>, Vec<&str>) = (vec![], vec![]);
    for sentence in name.split_inclusive(". ") {
        if sends_away(sentence, true) {
            away.push(sentence);
            continue;
        }
        for clause in clauses(sentence) {
            match sends_away(clause, false) {
                true => away.push(clause),
                false => own.push(clause),
            }
        }
    }
    if away.is_empty() {
        return cached_tokens(name, false);
    }
    let mut toks: Vec<Tok> = cached_tokens(&own.concat(), false).to_vec();
    toks.extend(cached_tokens(&away.concat(), false).iter().map(|t| Tok { scope: Scope::Not, ..t.clone() }));
    Arc::new(toks)
}

/// The clauses of `sentence`, split where a conjunction or a semicolon joins them (", and",
/// ", but", "; "), each with its separator.
fn clauses(sentence: &str) -> Vec<&str> {
    let mut ends: Vec<usize> = sentence
        .match_indices(", ")
        .filter(|(at, _)| sentence[at + 2..].starts_with("and ") || sentence[at + 2..].starts_with("but "))
        .chain(sentence.match_indices("; "))
        .map(|(at, _)| at + 2)
        .collect();
    ends.sort_unstable();
    ends.push(sentence.len());
    let mut from = 0;
    ends.into_iter().map(|end| std::mem::replace(&mut from, end)..end).map(|r| &sentence[r]).collect()
}

/// What a description's clause says when it sends a case to another code in other words than
/// "instead" with the code named ([`read_name`]).
const SENDS_AWAY: &[&str] = &[
    "moves to",
    "goes to",
    "use other codes",
    "uses other codes",
    "a different code",
    "has its own code",
    "have their own code",
    "has another code",
    "coded separately",
    "reported separately",
];

/// A question's stem `q` and a title's stem `t` name the same word. HCPCS short descriptors
/// cut words short ("vis", "prolong", "injectio"), so there a title word may be the start of
/// the question's, or the question's stem with up to three letters of the cut word after it.
fn same(q: &str, tok: &Tok, abbreviated: bool) -> bool {
    let t = tok.stem.as_str();
    q == t
        || (abbreviated
            // A truncation is the start of the word as written: "pacing" (stem "pace") is not
            // the start of "pacemaker".
            && ((t.len() >= 3 && q.len() > t.len() && q.starts_with(t) && q.starts_with(&*tok.written))
                || (q.len() >= 5 && t.len() > q.len() && t.len() <= q.len() + 3 && t.starts_with(q))))
}

/// How many words a name says, not counting what spans one value or only says a default: a
/// range's second bound ("38 to 52 minute psychotherapy" is a title's "Psychotherapy, 45 min"),
/// a second alternative ("foot or big toe") and a clause that says a detail is not given
/// ("gout in foot or big toe, side not stated" is a title's "Idiopathic gout, unspecified
/// ankle and foot").
fn words_in(name: &[Tok]) -> usize {
    (0..name.len())
        .filter(|&i| {
            let t = &name[i];
            let prev = i.checked_sub(1).map(|p| &name[p]);
            let second_bound = prev.is_some_and(|p| t.range.is_some() && p.range == t.range && t.stem.parse::<f32>().is_ok());
            let second_alternative = prev.is_some_and(|p| t.alt.is_some() && p.alt == t.alt);
            !(second_bound || second_alternative || unstated(name, i))
        })
        .count()
}

/// The word at `i` is part of a clause that says a detail is not given ("side not stated"):
/// the default's words, as "unspecified" is. Not "not specified as traumatic", which says what
/// the code is not.
fn unstated(name: &[Tok], i: usize) -> bool {
    let says_not = |j: usize| {
        name.get(j).is_some_and(|t| t.stem == NOT)
            && name.get(j + 1).is_some_and(|t| UNSTATED.contains(&t.stem.as_str()))
            && name.get(j + 2).is_none_or(|t| t.scope != Scope::Not)
    };
    says_not(i) || (i > 0 && says_not(i - 1)) || says_not(i + 1)
}

/// What a clause "X not ..." says of X when it says no more than that X is not given.
const UNSTATED: &[&str] = &["state", "specifi", "document", "given", "known"];

/// What the candidates together hold of each of the question's concepts.
struct Field {
    /// No candidate holds the user's own words of concept `k`, so its expansions count in full.
    unrivalled: Vec<bool>,
    /// Some candidate holds concept `k` (its words or an expansion) in one of its names. A
    /// concept no candidate holds ("broke out in hives": "broke", "out") cannot tell them
    /// apart; counted, it only shrinks every coverage, and with it what the extra qualifiers
    /// cost, until the fused rank decides between siblings.
    held: Vec<bool>,
    /// Words some candidate leaves unspecified ("Colles' fracture of unspecified radius"): where
    /// a sibling names the side asked ("right radius"), the side is the qualifier, not the word.
    vague: HashSet<String>,
    /// Where the question names a side (and does not say it is unsaid), the words some
    /// candidate names right after a side ("left radius", "right ear"): a title that leaves one
    /// of them unspecified leaves the side unspecified. Empty otherwise.
    sided: HashSet<String>,
    /// Concept `k` is part of a measure ([`is_measure`]), read once per rerank.
    measure: Vec<bool>,
}

/// How well `c` answers `q`, before the prior.
fn relevance(q: &Question, c: &Candidate, title: &[Tok], field: &Field) -> f32 {
    let others = c.other_toks();
    // ICD-10-CM's words in parentheses are nonessential: a name says the same without them
    // ("Seizure(s) (convulsive) NOS" is where a bare "seizure" goes).
    let (essential_title, essential_names): (Option<Arc<Vec<Tok>>>, Vec<Arc<Vec<Tok>>>) = match c.system {
        CodeSystem::Icd10Cm => (
            essential(c.title).map(|t| cached_tokens(&t, false)),
            c.names.iter().filter(|n| n.as_str() != c.title).filter_map(|n| essential(n)).map(|n| cached_tokens(&n, false)).collect(),
        ),
        _ => (None, vec![]),
    };
    // A code that is gone answers only a question about codes that are gone: to any other it
    // is a code a coder must not copy, whatever its title holds. "Deleted 2021" dates the
    // deletion, and its year is no answer to a question that names the year for another
    // reason ("office visit levels since 2021").
    let gone = !q.asked.contains(&*DELETED) && title.iter().any(|t| t.stem == *DELETED);
    let undated: Vec<Tok>;
    let deletion_year = |i: usize| i > 0 && title[i - 1].stem == *DELETED && title[i].stem.parse::<f32>().is_ok();
    let title = if gone && (0..title.len()).any(deletion_year) {
        undated = title.iter().enumerate().filter(|(i, _)| !deletion_year(*i)).map(|(_, t)| t.clone()).collect();
        &undated[..]
    } else {
        title
    };
    // HCPCS short descriptors abbreviate by truncation ("vis", "inj", "prolong").
    let abbreviated = c.system == CodeSystem::Hcpcs;
    let guideline = c.system == CodeSystem::Guideline;
    // The title (with the other names for what it lacks), or one other name alone when it
    // answers better: "flu" is J11.1's "Influenza NOS" more than its long title.
    // "Osteoporosis NOS" among the names, and the question names osteoporosis and nothing the
    // name lacks: this code is where the bare word goes, so its title's qualifiers ("Age-related")
    // are what the classification assumes, not extras.
    let says_nos = |name: &[Tok]| name.iter().any(|t| t.stem == "nos");
    let default_for_question = others.iter().chain(&essential_names).any(|name| {
        name.len() > 1 && says_nos(name) && name.iter().filter(|t| t.stem != "nos").all(|t| q.asked.contains(&t.stem))
    });
    // An add-on asked for: the count it adds is what was asked.
    let asked_add_on = q.add_on && c.add_on;
    let mut r = fit(q, title, &others, c.system, guideline || default_for_question, field, asked_add_on);
    // Only a name no longer than the title can fit the question more tightly (inclusion terms,
    // "Influenza NOS"); a description is a sentence.
    // An HCPCS description is its short descriptor spelled out ("Whfo w/o joints pre ots":
    // "wrist-hand-finger orthosis without joints prefabricated off-the-shelf"), the same
    // name in full words.
    // A name shared by a code's encounters ("Injury of head NOS" for S09.90XA, XD and XS) does
    // not say the encounter; the title's later one ("subsequent encounter", "sequela"), unasked,
    // still costs what a word unasked does, so "head injury" is the initial encounter.
    let later = title.iter().filter(|t| q.unasked_later_encounter(t)).count() as f32;
    // A title that names what the question says is absent ("no HTN", a hypertensive code) is
    // not lifted by an everyday name that says it in other words ("high blood pressure with
    // chronic kidney disease"): the code is what its title says.
    let negation_named = q.concepts.iter().filter(|k| Negated::of(q, k) == Negated::Only).any(|k| {
        // "Without diagnosis of hypertension" says the absence of what follows it.
        let named = |s: &String| title.iter().enumerate().any(|(i, t)| t.stem == *s && !t.scope.absent() && !(i > 0 && title[i - 1].scope.absent()));
        k.literal.iter().all(named) || k.expansions.iter().any(|e| in_full(e, named))
    });
    let named_negation = if negation_named { CONTRADICTION } else { 0.0 };
    for name in others.iter().chain(&essential_names).filter(|n| words_in(n) <= title.len() || abbreviated) {
        // "Eczema NOS": the name says where the bare word goes.
        let weight = if says_nos(name) || abbreviated { 1.0 } else { OTHER_NAME };
        let unsaid_encounter = if name.iter().any(|t| is_later_encounter(&t.stem)) { 0.0 } else { EXTRA * later };
        r = r.max(weight * fit(q, name, &[], c.system, guideline, field, asked_add_on) - unsaid_encounter - named_negation);
    }
    if let Some(t) = &essential_title {
        r = r.max(fit(q, t, &others, c.system, guideline || default_for_question, field, asked_add_on));
    }
    // "AK destruction" is "actinic keratosis destruction" to a question in full words.
    if let Some(spelled) = &c.spelled {
        r = r.max(fit(q, &cached_tokens(spelled, true), &others, c.system, default_for_question, field, asked_add_on));
    }
    if let Some(system) = q.system {
        if c.system != system && !guideline {
            r -= OTHER_SYSTEM;
        }
    }
    // Medicare bills some services with its own HCPCS codes (G0008 for a flu shot's
    // administration, G0103 for a screening PSA): a question that names Medicare and no code
    // system means that code where one exists.
    if q.medicare && q.system.is_none() && c.system == CodeSystem::Cpt {
        r -= MEDICARE;
    }
    // A commercial payer's service is its CPT code, not the G code Medicare made for it
    // ("admin codes, commercial" is 90471, not G0010).
    if q.commercial && q.letter.is_none() && c.system == CodeSystem::Hcpcs && c.code.is_some_and(|code| code.starts_with('G')) {
        r -= MEDICARE;
    }
    // The anesthesia for a procedure is billed from CPT's anesthesia section, not with the
    // procedure's own code.
    if q.anesthesia && c.system == CodeSystem::Cpt && !c.code.is_some_and(is_anesthesia_code) {
        r -= OTHER_SYSTEM;
    }
    if let (Some(numeric), Some(code), CodeSystem::Modifier) = (q.modifier_kind, c.code, c.system) {
        if code.bytes().all(|b| b.is_ascii_digit()) != numeric {
            r -= OTHER_SYSTEM;
        }
    }
    if let (Some(letter), Some(code)) = (q.letter, c.code) {
        if !code.starts_with(letter) {
            r -= OTHER_SYSTEM;
        }
    }
    // A drug asked by one route, a code for the other ("zofran IV" is not the oral tablet); a
    // diagnosis's "oral" is a site, not a route.
    if let (Some(asked), CodeSystem::Hcpcs | CodeSystem::Cpt) = (q.route, c.system) {
        let mut routes = title.iter().chain(others.iter().flat_map(|n| n.iter())).filter_map(|t| route_of(&t.stem)).peekable();
        if routes.peek().is_some() && routes.all(|r| r != asked) {
            r -= CONTRADICTION;
        }
    }
    // "IV infusion" is not the subcutaneous one, nor "IM injection" the IV push.
    if let (Some(asked), CodeSystem::Hcpcs | CodeSystem::Cpt) = (q.site, c.system) {
        let mut sites = title.iter().filter_map(|t| site_of(&t.stem)).peekable();
        if sites.peek().is_some() && sites.all(|s| s != asked) {
            r -= CONTRADICTION;
        }
    }
    // A passage that holds nothing of the question is not lifted by its asking for rules.
    if guideline && (r > 0.0 || !q.rules) {
        r += if q.rules { RULES } else { -RULES };
    }
    if q.add_on && c.add_on {
        r += ADD_ON;
    }
    if gone || says_absent(q, c) {
        r -= CONTRADICTION;
    }
    if c.code.is_some_and(is_quality_code) && !q.quality && !matches!(q.letter, Some('G' | 'M')) {
        r -= QUALITY;
    }
    tracing::trace!(code = ?c.code, title = c.title, r, "rank-1");
    r
}

/// `name` without the words in parentheses, when it has some.
fn essential(name: &str) -> Option<String> {
    if !name.contains('(') {
        return None;
    }
    let mut out = String::with_capacity(name.len());
    let mut depth = 0usize;
    for ch in name.chars() {
        match ch {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            c if depth == 0 => out.push(c),
            _ => {}
        }
    }
    let out = out.split_whitespace().collect::<Vec<_>>().join(" ");
    (!out.is_empty()).then_some(out)
}

/// `title` names `stem`, and only as an absence ("without heart failure").
fn only_absent(stem: &str, title: &[Tok]) -> bool {
    let mut scopes = title.iter().filter(|t| t.stem == stem).map(|t| t.scope).peekable();
    scopes.peek().is_some() && scopes.all(Scope::absent)
}

/// The amount a question's word says, when it is a number: five digits are a CPT code's
/// ("99217 replacement"), not an amount a title's range ("over 30 min") holds.
fn amount(word: &str) -> Option<f32> {
    let code_shaped = word.len() == 5 && word.bytes().all(|b| b.is_ascii_digit());
    (!code_shaped).then(|| word.parse::<f32>().ok()).flatten()
}

/// How much `title` (1) or else one of `others` ([`OTHER_NAME`]) holds the question's `stem`:
/// the same word, or a number in a range the title names. What the question says is
/// `unknown` is held only where a name leaves it unspecified; what another name says is absent
/// ("alcohol use, not stated as abuse or dependence") holds only what the question `negated`,
/// and what the question negated only that ("no swab done" is not held by "rapid flu swab").
fn holds(stem: &str, unknown: bool, negated: Negated, title: &[Tok], others: &[Arc<Vec<Tok>>], abbreviated: bool) -> f32 {
    held_by(stem, unknown, negated, title, others, abbreviated).0
}

/// Whether the question's concept `k` is part of a measure: a number and the unit right after
/// it ("3 days" is 4320 minutes). A bare number may name a thing ("instead of 59"), and a unit
/// without a number is a word like any other ("the same day", "each additional").
fn is_measure(concepts: &[Concept], k: usize) -> bool {
    let all = |k: usize, f: &dyn Fn(&String) -> bool| concepts.get(k).is_some_and(|c| !c.literal.is_empty() && c.literal.iter().all(f));
    let unit = |s: &String| MEASURE_STEMS.contains(s);
    let number = |s: &String| amount(s).is_some();
    (all(k, &number) && all(k + 1, &unit)) || (all(k, &unit) && k.checked_sub(1).is_some_and(|j| all(j, &number)))
}

/// Each two words in a row of `words`, stemmed, with whether a `negation` opens their clause
/// before them ("without use disorder": "use disorder" absent).
fn word_pairs(words: &[String], negation: impl Fn(&str) -> bool) -> Vec<([String; 2], bool)> {
    let mut absent = false;
    let mut out = vec![];
    for j in 1..words.len() {
        absent = (absent || negation(&words[j - 1])) && words[j - 1] != ",";
        out.push(([stem(&words[j - 1]), stem(&words[j])], absent && !negation(&words[j - 1])));
    }
    out
}

/// Two of the question's words in a row that a name of `c` says are absent and neither its
/// title nor another name holds: "alcohol use disorder" asked, and the alcohol-induced
/// disorder's inclusion term "... without use disorder". Read on the names' words, stop words
/// and all ("use").
fn says_absent(q: &Question, c: &Candidate) -> bool {
    const ABSENCE: [&str; 3] = ["without", "no", "not"];
    let negation = |w: &str| ABSENCE.contains(&w);
    let negating = |n: &String| n.split(|c: char| !c.is_alphanumeric()).any(|w| ABSENCE.iter().any(|x| w.eq_ignore_ascii_case(x)));
    let absent: Vec<[String; 2]> = c
        .names
        .iter()
        .filter(|n| negating(n))
        .flat_map(|n| word_pairs(&words(n), negation))
        .filter(|(p, absent)| *absent && q.pairs.contains(p))
        .map(|(p, _)| p)
        .collect();
    // Said absent, and nowhere said present: "no new global period starts" in a description
    // that also says "during a global period" leaves the global period said.
    !absent.is_empty() && {
        let said: Vec<([String; 2], bool)> = std::iter::once(c.title).chain(c.names.iter().map(String::as_str)).flat_map(|n| word_pairs(&words(n), negation)).collect();
        absent.iter().any(|p| !said.iter().any(|(t, absent)| t == p && !absent))
    }
}

/// A title that says it is unspecified in so many words ("Anemia, unspecified", "… NOS").
fn leaves_unspecified(title: &[Tok]) -> bool {
    title.iter().any(|t| matches!(t.stem.as_str(), "unspecifi" | "unsp" | "unspec" | "nos"))
}

/// Whether the question negates a concept: not, or negates it and also names its words
/// unnegated elsewhere ("breast cancer ... no cancer now"), or only negates it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Negated {
    Not,
    Also,
    Only,
}

impl Negated {
    fn of(q: &Question, k: &Concept) -> Self {
        if !k.literal.iter().all(|s| q.negated.contains(s)) {
            Negated::Not
        } else if k.literal.iter().all(|s| q.asserted.contains(s)) {
            Negated::Also
        } else {
            Negated::Only
        }
    }
}

/// [`holds`], and which of `others` holds the word when the title does not.
fn held_by(stem: &str, unknown: bool, negated: Negated, title: &[Tok], others: &[Arc<Vec<Tok>>], abbreviated: bool) -> (f32, Option<usize>) {
    // What the question only negates, the title holds only by saying it is absent ("no HTN" is
    // not held by "Hypertensive chronic kidney disease"), as another name does. "Without
    // diagnosis of hypertension" says its absence before naming it.
    let said_absent = |i: usize| title[..=i].iter().any(|t| t.scope.absent());
    if title.iter().enumerate().any(|(i, t)| same(stem, t, abbreviated) && (t.vague || !unknown) && (negated != Negated::Only || said_absent(i))) {
        return (1.0, None);
    }
    let in_range = amount(stem).and_then(|n| title.iter().filter_map(|t| t.fit_of(n)).reduce(f32::max));
    if let Some(fit) = in_range {
        (fit, None)
    } else if let Some(at) = others.iter().position(|n| n.iter().any(|t| same(stem, t, false) && (t.vague || !unknown) && (negated != Negated::Not) == t.scope.absent())) {
        (OTHER_NAME, Some(at))
    } else {
        (0.0, None)
    }
}

/// How well one name (`title`, helped by `others` for the concepts it lacks) of a code of
/// `system` answers `q`: coverage and phrase order, less extra qualifiers and contradictions.
/// `no_extras`: the title's words the question did not ask for cost nothing (a guideline
/// passage, a code that is the default for what is asked); `add_on`: the title is an add-on's
/// that the question asks for, whose count ("2nd–14th lesion, each") was asked.
fn fit(q: &Question, title: &[Tok], others: &[Arc<Vec<Tok>>], system: CodeSystem, no_extras: bool, field: &Field, add_on: bool) -> f32 {
    // HCPCS short descriptors abbreviate by truncation ("vis", "inj", "prolong").
    let abbreviated = system == CodeSystem::Hcpcs;
    // Our CPT titles are plain-language summaries, wordier than the official titles of the
    // other systems: each of their extra words says less (a share of [`EXTRA`]).
    let extra = if system == CodeSystem::Cpt { SUMMARY_EXTRA } else { 1.0 };
    // A modifier title's "not" says the case it is for ("CT scanner not meeting the NEMA XR-29
    // standard"), a qualifier like any other, where a code's "not" says a default ("not
    // elsewhere classified") or a service not done.
    let modifier = system == CodeSystem::Modifier;
    let diagnosis = system == CodeSystem::Icd10Cm;
    let mut score = 0.0;
    let mut weight = 0.0;
    // What the title holds of the question's measures ("for 3 days", "2 hours"), and whether it
    // holds any of the rest, which some candidate holds: a measure says how much of what the
    // question names, so a title that holds only the measure ("Extended ECG monitor, over 48
    // hours to 7 days" for "diarrhea for 3 days") holds nothing.
    let (mut measured, mut names_any, mut asks_names) = (0.0, false, false);
    let mut contradiction = false;
    // The other names the title leans on for a concept it lacks, one bit each (a code has
    // fewer than 64 names).
    let mut borrowed: u64 = 0;
    for (k, concept) in q.concepts.iter().enumerate() {
        let negation = Negated::of(q, concept);
        let negated = negation != Negated::Not;
        let share = |stems: &[String]| {
            let (mut sum, mut from) = (0.0, 0u64);
            let (mut specific, mut lacks_specific) = (false, false);
            for s in stems {
                let (mut held, by) = held_by(s, concept.unknown, negation, title, others, abbreviated);
                // "Anemia, unspecified" leaves unspecified the type that "type not specified"
                // says is unknown, as "Nutritional anemia, unspecified" does, where no
                // candidate leaves it unspecified by name ("site not specified").
                if held == 0.0 && concept.unknown && !field.vague.contains(s) && leaves_unspecified(title) && !title.iter().any(|t| same(s, t, abbreviated)) {
                    held = OTHER_NAME;
                }
                sum += held;
                from |= by.map_or(0, |at| 1u64.checked_shl(at as u32).unwrap_or(0));
                if !GENERIC_HEAD_STEMS.contains(s) {
                    specific |= held > 0.0;
                    lacks_specific |= held == 0.0;
                }
            }
            // "Urinary tract infection" is not a third held by "Q fever"'s "infection": a
            // generic head alone, without any of the words that say which, holds nothing.
            if !specific && lacks_specific {
                return (0.0, 0);
            }
            (sum / stems.len().max(1) as f32, from)
        };
        let (literal, from_literal) = share(&concept.literal);
        let (expanded, from_expansion) = concept.expansions.iter().map(|e| share(e)).fold((0.0f32, 0), |a, b| if b.0 > a.0 { b } else { a });
        let n = concept.weight;
        let discount = if field.unrivalled.get(k).copied().unwrap_or(false) { 1.0 } else { EXPANSION };
        if field.held.get(k).copied().unwrap_or(true) {
            let held = n * literal.max(discount * expanded);
            if field.measure.get(k).copied().unwrap_or(false) {
                measured += held;
            } else {
                score += held;
                names_any |= held > 0.0;
                asks_names = true;
            }
            weight += n;
            borrowed |= if literal >= discount * expanded { from_literal } else { from_expansion };
        }
        if negated {
            contradiction |= names_negated(concept, title);
        } else if concept.expansions.iter().flatten().any(|s| !is_default(s) && !concept.absences.contains(s) && only_absent(s, title)) {
            // What a term asks for ("HTN w/ CHF": heart failure), named only after "without".
            contradiction = true;
        }
        for s in &concept.absences {
            if title.iter().any(|t| t.stem == *s && !t.scope.absent()) {
                contradiction = true;
            }
        }
        for s in &concept.literal {
            if q.negated.contains(s) {
                // "no X" asked, the title has X, or an everyday name no longer than it does
                // ("not having an attack": "asthma attack").
                if names_negated_word(s, title) || others.iter().any(|n| words_in(n) <= title.len() && names_negated_word(s, n)) {
                    contradiction = true;
                }
            } else if !is_default(s) && only_absent(s, title) {
                // X asked, the title says "without X".
                contradiction = true;
            }
        }
    }
    // A title that leaves the side unspecified ("unspecified radius", where a sibling names the
    // "left radius") does not answer a question that names the side.
    if title.iter().any(|t| t.vague && field.sided.contains(&t.stem)) {
        contradiction = true;
    }
    // "3 CRNAs" is not "one CRNA", nor "type 2 diabetes" "type 1 diabetes". What is counted
    // is plural where the stemmer keeps an acronym's "s" ("crnas").
    for (n, thing) in &q.counts {
        let one = thing.strip_suffix('s').filter(|_| *n != 1.0);
        let counted = |t: &Tok| same(thing, t, abbreviated) || one.is_some_and(|one| same(one, t, abbreviated));
        if title.iter().any(|t| t.count.is_some_and(|(low, high)| *n < low || *n > high) && counted(t)) {
            contradiction = true;
        }
    }
    // "Stage 3b" is not "stage 2", nor "stage 3" (unspecified) when the question says which;
    // "stage 1 through stage 4" holds it.
    let leading = |v: &str| v[..v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len())].parse::<u32>().ok();
    for (word, value) in &q.numbered {
        // The numbers right after the word ("stage 1-4" reads "stage 1 4").
        let digit = |t: &Tok| t.stem.starts_with(|c: char| c.is_ascii_digit());
        let named: Vec<&String> = (0..title.len())
            .filter(|&i| title[i].stem == *word)
            .flat_map(|i| title[i + 1..].iter().take_while(|t| digit(t)).map(|t| &t.stem))
            .collect();
        let bounds = named.iter().filter_map(|v| leading(v)).fold(None, |b: Option<(u32, u32)>, n| Some(b.map_or((n, n), |(lo, hi)| (lo.min(n), hi.max(n)))));
        let in_range = named.len() >= 2 && bounds.zip(leading(value)).is_some_and(|((lo, hi), n)| lo <= n && n <= hi);
        if !named.is_empty() && !named.contains(&value) && !in_range {
            contradiction = true;
        }
    }
    if names_any || !asks_names {
        score += measured;
    }
    let coverage = if weight > 0.0 { score / weight } else { 0.0 };
    let is_asked = |t: &Tok| {
        let held = if abbreviated { q.asked.iter().any(|s| same(s, t, true)) } else { q.asked.contains(&t.stem) };
        held || (t.stem == NOT && !q.negated.is_empty())
    };
    // The words of `name` the question did not ask for, and what they cost. A name the title
    // leans on (`borrowed`) says the title's kind in words of its own ("right knee replacement
    // status" for "Presence of right artificial knee joint", "vaccination visit" for "Encounter
    // for immunization"): its kind words, and its everyday words for the title's, are the
    // title's.
    let restates = |t: &Tok| RESTATED_STEMS.iter().any(|(lay, official)| t.stem == *lay && title.iter().any(|o| o.stem == *official));
    let extras_of = |name: &[Tok], borrowed: bool| -> f32 {
        // A code that is the default for what is asked still has its encounter: a later one
        // unasked costs (see `relevance`).
        if no_extras {
            let later = |t: &&Tok| system != CodeSystem::Guideline && q.unasked_later_encounter(t);
            return name.iter().filter(later).count() as f32;
        }
        let mut extras: HashSet<&str> = HashSet::default();
        // A title that names the side asked ("right radius") specifies what a sibling leaves
        // unspecified ("unspecified radius"): the side is its qualifier, not the word.
        let names_side_asked = name.iter().any(|t| is_side(&t.stem) && q.asked.contains(&t.stem));
        // Alternatives: one of them asked frees the rest; none asked, they cost one word.
        let alt_asked: HashSet<u16> = name.iter().filter(|t| is_asked(t)).filter_map(|t| t.alt).collect();
        for (i, t) in name.iter().enumerate() {
            let asked = is_asked(t) || t.alt.is_some_and(|g| alt_asked.contains(&g));
            // The default's words are free to a question that names no specifics; one that
            // says "unspecified" or "other" itself means the one it says.
            // A drug's dose in an HCPCS title ("10 mg", "per 10 u") is its billing unit, not a
            // qualifier a question names.
            let dose = abbreviated && (t.unit || t.stem.parse::<f32>().is_ok() || UNITS.contains(&t.stem.as_str()));
            let free = t.scope == Scope::Without
                || t.vague
                || unstated(name, i)
                || (names_side_asked && field.vague.contains(&t.stem))
                || dose
                || q.numbers.iter().any(|n| t.covers(*n))
                || (t.scope == Scope::Not && !abbreviated && !modifier && (q.not_done || !NOT_DONE_STEMS.contains(&t.stem)))
                || (is_default(&t.stem) && (!q.specific || is_encounter_default(&t.stem)))
                || (EVERYDAY_STEMS.contains(&t.stem) && !(diagnosis && SERVICE_EVERYDAY_STEMS.contains(&t.stem)))
                || SALT_STEMS.contains(&t.stem)
                // An HCPCS drug is injected unless the question says how it is given.
                || (abbreviated && q.route.is_none() && route_of(&t.stem) == Some(Route::Parenteral))
                || (add_on && counts_beyond_the_first(t));
            let the_titles = borrowed && (KIND_STEMS.contains(&t.stem) || restates(t));
            if !asked && !free && !the_titles {
                let first = t.alt.and_then(|g| name.iter().find(|o| o.alt == Some(g)));
                extras.insert(first.unwrap_or(t).stem.as_str());
            }
        }
        // "Other" is a choice of its own: a question that names no specifics means the
        // unspecified code, so the words of "other" cost a part of an extra word.
        let says_other = !q.specific && name.iter().any(|t| is_other(&t.stem) && t.scope == Scope::Plain);
        extras.iter().map(|s| if KIND_STEMS.contains(*s) { KIND } else { 1.0 }).sum::<f32>() + if says_other { OTHER } else { 0.0 }
    };
    // A word the title lacks, held by another name no longer than it (an everyday name, an
    // inclusion term; not a description's sentence), comes with that name's own words: "into
    // the knee" found in "Zilretta … knee injection" is not a Kenalog shot's, nor "hip
    // replacement" in "right hip replacement status" a hip of unstated side's. The title costs
    // what the most costly of the names it leans on costs.
    let leaned_on = (0..others.len().min(64)).filter(|&at| borrowed >> at & 1 == 1 && words_in(&others[at]) <= title.len());
    let extra_words = leaned_on.map(|at| extras_of(&others[at], true)).fold(extras_of(title, false), f32::max);
    let order = if q.sequence.len() >= 2 {
        let pairs = q.sequence.windows(2).filter(|p| p[0] != p[1]);
        let (mut held, mut all) = (0, 0);
        for p in pairs {
            all += 1;
            // Next to each other, or one word apart, in the question's order.
            let follows = title.iter().enumerate().any(|(a, ta)| {
                same(&p[0], ta, abbreviated) && title[a + 1..].iter().take(2).any(|tb| same(&p[1], tb, abbreviated))
            });
            if follows {
                held += 1;
            }
        }
        if all > 0 {
            held as f32 / all as f32
        } else {
            0.0
        }
    } else {
        0.0
    };
    // Extra words tell apart siblings that answer the question; a title that holds none of it
    // is no sibling, and its length says nothing (the fused rank decides).
    let scale = if coverage > 0.0 { coverage.max(0.2) } else { 0.0 };
    let mut r = coverage + ORDER * order - EXTRA * extra * extra_words * scale;
    if contradiction {
        r -= CONTRADICTION;
    }
    r
}

/// `title` names what the question says is absent, a word the question negates ("no X" asked,
/// the title has X).
fn names_negated_word(stem: &str, title: &[Tok]) -> bool {
    title.iter().any(|t| t.stem == stem && !t.scope.absent())
}

/// `title` names what a negated `concept`'s expansion names: "didn't black out" and a title
/// "with" loss of consciousness, or a title with no absence of its own that names all of it
/// ("sore throat, not strep": streptococcal pharyngitis). "Without diagnosis of hypertension"
/// names its absence, the words after "of" outside it.
fn names_negated(concept: &Concept, title: &[Tok]) -> bool {
    let with = |s: &String| title.iter().any(|t| t.stem == *s && t.scope == Scope::With);
    let says_absence = title.iter().any(|t| t.scope.absent());
    concept.expansions.iter().flatten().any(with) || (!says_absence && concept.expansions.iter().any(|e| in_full(e, |s| title.iter().any(|t| t.stem == *s))))
}

/// Every word of an expansion that says what it is (not a stop word, not a default's), and
/// there is one, is `named`.
fn in_full(expansion: &[String], named: impl Fn(&String) -> bool) -> bool {
    let mut words = expansion.iter().filter(|s| !is_stop(s) && !is_default(s)).peekable();
    words.peek().is_some() && words.all(named)
}

/// A ladder of thresholds met or exceeded ("straightforward MDM or 10+ min", "low MDM or 20+
/// min", …: the codes of one family, the same but for their last character): a time the
/// question names in minutes reaches the highest rung at or below it, and the rungs below it do not
/// answer it (25 minutes is the 20+ visit, not the 10+ one). `title` without the ranges a
/// sibling's higher rung passes; they are then no word the question asked, nor an extra.
/// A rung is met by its decision making or its time, whichever is higher: the rung the time
/// reaches also answers a lower level of decision making the question names ("straightforward
/// MDM but 35 min" is the 30+ visit, "moderate MDM or 30+ min"), as if its title said that level.
/// Nor is a rung the time passes met, nor one above the time unless the question names its
/// level of decision making: `true` with the title then (32 minutes is neither the 10+ visit
/// nor the 40+ one, but the 30+ one).
fn past_rungs<'t>(q: &Question, c: &Candidate, title: &'t Arc<Vec<Tok>>, candidates: &[Candidate], titles: &[Arc<Vec<Tok>>]) -> (std::borrow::Cow<'t, [Tok]>, bool) {
    let open_low = |t: &Tok| t.range.filter(|(low, high)| *low > 0.0 && high.is_infinite()).map(|(low, _)| low);
    fn stem_of(code: &str) -> Option<&str> {
        code.char_indices().last().and_then(|(at, _)| (at > 0).then(|| &code[..at]))
    }
    let sibling = |a: &str, b: &str| a != b && a.len() == b.len() && stem_of(a).is_some() && stem_of(a) == stem_of(b);
    // One ladder's titles say the same before the level ("Office visit, established patient,"):
    // a hospital follow-up's 35+ minutes are no rung of the discharge day's.
    fn family(t: &[Tok]) -> impl Iterator<Item = &str> {
        t.iter().map(|t| t.stem.as_str()).take_while(|s| !MDM_LEVELS.contains(s) && s.parse::<f32>().is_err())
    }
    let Some(code) = c.code.filter(|_| !q.minutes.is_empty()) else { return (title[..].into(), false) };
    // The open lower bounds of the other rungs of this title's ladder.
    let siblings_lows: Vec<f32> = candidates
        .iter()
        .zip(titles)
        .filter(|(o, ot)| o.system == c.system && o.code.is_some_and(|oc| sibling(oc, code)) && family(ot).eq(family(title)))
        .flat_map(|(_, ot)| ot.iter().filter_map(open_low))
        .collect();
    let passed = |low: f32| q.minutes.iter().any(|&n| low <= n && siblings_lows.iter().any(|&l| l > low && l <= n));
    let reached = title.iter().filter_map(open_low).any(|low| q.minutes.iter().any(|&n| low <= n) && !passed(low));
    // The level of decision making the question names, and the title's, lowest first.
    let level = |stem: &str| MDM_LEVELS.iter().position(|l| *l == stem);
    let asked_level = q.sequence.iter().any(|s| s == "mdm" || s == "decis").then(|| q.sequence.iter().filter_map(|s| level(s)).min()).flatten();
    let own_level = title.iter().filter_map(|t| level(&t.stem)).max();
    let carried = asked_level.filter(|&asked| reached && own_level.is_some_and(|own| own > asked));
    let unreached = title.iter().filter_map(open_low).any(|low| q.minutes.iter().all(|&n| n < low))
        && siblings_lows.iter().any(|&l| q.minutes.iter().any(|&n| l <= n))
        && !asked_level.zip(own_level).is_some_and(|(asked, own)| asked >= own);
    let below = title.iter().filter_map(open_low).any(passed);
    let unmet = unreached || (below && !reached);
    if carried.is_none() && !below {
        return (title[..].into(), unmet);
    }
    let title = title
        .iter()
        .map(|t| match (open_low(t), carried) {
            (Some(low), _) if passed(low) => Tok { range: None, vague: true, ..t.clone() },
            (_, Some(asked)) if level(&t.stem).is_some() => Tok { stem: MDM_LEVELS[asked].to_string(), ..t.clone() },
            _ => t.clone(),
        })
        .collect::<Vec<_>>()
        .into();
    (title, unmet)
}

/// The levels of medical decision making, lowest first, as stems.
const MDM_LEVELS: [&str; 4] = ["straightforward", "low", "moder", "high"];

/// The new order of `candidates` (indices, with their scores), best first: relevance plus the prior of the fused
/// rank (falling linearly to nothing at [`RERANK_DEPTH`](super::search::RERANK_DEPTH)); ties
/// keep the fused order.
pub fn rerank(q: &Question, candidates: &[Candidate]) -> Vec<(usize, f32)> {
    rerank_ranked(q, candidates, &(0..candidates.len()).collect::<Vec<_>>())
}

/// [`rerank`] with each candidate's rank in the list it came from (`ranks`), where candidates
/// come from more than one list.
pub fn rerank_ranked(q: &Question, candidates: &[Candidate], ranks: &[usize]) -> Vec<(usize, f32)> {
    let depth = super::search::RERANK_DEPTH as f32;
    // An expansion weighs less than the user's words only where some candidate holds those
    // words: "pad" read as peripheral artery disease must not beat a crutch pad, but a brand
    // name no title holds ("keytruda") is its generic name and nothing else.
    let titles: Vec<Arc<Vec<Tok>>> = candidates.iter().map(Candidate::title_toks).collect();
    let unrivalled: Vec<bool> = q
        .concepts
        .iter()
        .map(|concept| {
            !concept.expansions.is_empty()
                && !titles.iter().zip(candidates).any(|(title, c)| {
                    let abbreviated = c.system == CodeSystem::Hcpcs;
                    concept.literal.iter().all(|s| title.iter().any(|t| same(s, t, abbreviated)))
                })
        })
        .collect();
    let names: Vec<Vec<Arc<Vec<Tok>>>> = candidates.iter().map(Candidate::name_toks).collect();
    let held: Vec<bool> = q
        .concepts
        .iter()
        .map(|concept| {
            let stems = || concept.literal.iter().chain(concept.expansions.iter().flatten());
            let negated = Negated::of(q, concept);
            titles.iter().zip(&names).zip(candidates).any(|((title, names), c)| {
                stems().any(|s| holds(s, concept.unknown, negated, title, names, c.system == CodeSystem::Hcpcs) > 0.0)
            })
        })
        .collect();
    let vague: HashSet<String> = titles.iter().flat_map(|t| t.iter().filter(|t| t.vague).map(|t| t.stem.clone())).collect();
    let names_side = q.asked.iter().any(|s| is_side(s)) && !q.unsaid_side();
    let sided: HashSet<String> = match names_side {
        true => titles.iter().flat_map(|t| t.windows(2).filter(|w| is_side(&w[0].stem)).map(|w| w[1].stem.clone())).collect(),
        false => HashSet::default(),
    };
    let measure: Vec<bool> = (0..q.concepts.len()).map(|k| is_measure(&q.concepts, k)).collect();
    let field = Field { unrivalled, held, vague, sided, measure };
    // Codes with the same names (HCPCS short descriptors shared by siblings: "Normal saline
    // solution infus") share the best fused rank among them and come in code order, so their
    // order does not change with the index build between ingests.
    let rank: Vec<usize> = candidates
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let twins = candidates.iter().zip(ranks).filter(|(o, _)| o.system == c.system && o.title == c.title && o.names == c.names);
            twins.map(|(_, r)| *r).min().unwrap_or(ranks[i])
        })
        .collect();
    let mut scored: Vec<(usize, f32)> = candidates
        .iter()
        .zip(&titles)
        .enumerate()
        .map(|(i, (c, title))| {
            let (title, unreached) = past_rungs(q, c, title, candidates, &titles);
            let unmet = if unreached { CONTRADICTION } else { 0.0 };
            (i, relevance(q, c, &title, &field) - unmet + PRIOR * (1.0 - rank[i] as f32 / depth).max(0.0))
        })
        .collect();
    // A passage about codes ranks below the codes it is about when the question asks for a
    // code ("Medicare annual wellness visit, the first one" is G0438, not the notes on it):
    // the best section of a note right below the best of its codes, its other sections below
    // all of them, so that one note's sections do not stand between the question and the
    // codes ("how do I pick an office visit level": one passage, then the levels).
    if !q.rules {
        let score_of = |code: &str| candidates.iter().position(|c| c.code == Some(code)).map(|j| scored[j].1);
        let best_section = |i: usize| {
            let note = candidates[i].note;
            note.is_none()
                || candidates.iter().enumerate().filter(|(_, c)| c.note == note).all(|(j, _)| scored[j].1 < scored[i].1 || (scored[j].1 == scored[i].1 && j >= i))
        };
        // A question that names the system of the code it asks for ("what dx") is answered
        // by that system's best code before any passage.
        let best_of_asked = q.system.and_then(|system| candidates.iter().zip(&scored).filter(|(c, _)| c.system == system).map(|(_, s)| s.1).reduce(f32::max));
        let caps: Vec<Option<f32>> = candidates
            .iter()
            .enumerate()
            .map(|(i, c)| match c.system {
                CodeSystem::Guideline => {
                    let scores = c.codes.iter().filter_map(|code| score_of(code));
                    let cap = if best_section(i) { scores.reduce(f32::max) } else { scores.reduce(f32::min) };
                    match (cap, best_of_asked) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    }
                }
                _ => None,
            })
            .collect();
        for ((_, score), cap) in scored.iter_mut().zip(caps) {
            if let Some(cap) = cap {
                *score = score.min(cap - f32::EPSILON.max(cap.abs() * 1e-6));
            }
        }
    }
    scored.sort_by(|a, b| {
        b.1.total_cmp(&a.1).then(rank[a.0].cmp(&rank[b.0])).then_with(|| candidates[a.0].code.cmp(&candidates[b.0].code)).then(a.0.cmp(&b.0))
    });
    scored
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retrieval::Lexicon;

    fn lexicon() -> Lexicon {
        let mut l = Lexicon::default();
        l.add_text(
            std::path::Path::new("t.tsv"),
            "PAD\tperipheral arterial disease\nsugar diabetes\ttype 2 diabetes mellitus\nhigh blood sugar\thyperglycemia\nflare-up\texacerbation\nlovenox\tenoxaparin sodium\nkeytruda\tpembrolizumab\n",
        )
        .unwrap();
        l
    }

    fn order(query: &str, titles: &[(CodeSystem, &str, &str)]) -> Vec<String> {
        order_with(&lexicon(), query, titles)
    }

    /// [`order`] with the lexicon `l`.
    fn order_with(l: &Lexicon, query: &str, titles: &[(CodeSystem, &str, &str)]) -> Vec<String> {
        ordered(&Question::new(query, &l.terms(query)), titles)
    }

    fn ordered(q: &Question, titles: &[(CodeSystem, &str, &str)]) -> Vec<String> {
        rerank(q, &candidates(titles)).into_iter().map(|(i, _)| titles[i].1.to_string()).collect()
    }

    /// Candidates with only a system, a code and a title.
    fn candidates<'a>(titles: &'a [(CodeSystem, &'a str, &'a str)]) -> Vec<Candidate<'a>> {
        titles.iter().map(|(s, code, title)| Candidate { system: *s, code: Some(code), title, names: &[], codes: &[], add_on: false, spelled: None, note: None }).collect()
    }

    /// Candidates with a system, a code, a title and other names.
    fn named_candidates<'a>(codes: &'a [(CodeSystem, &'a str, &'a str, &'a [String])]) -> Vec<Candidate<'a>> {
        codes.iter().map(|(s, code, title, names)| Candidate { system: *s, code: Some(code), title, names, codes: &[], add_on: false, spelled: None, note: None }).collect()
    }

    /// The code `q` ranks first among `codes` (each with its other names).
    fn first_named<'a>(q: &Question, codes: &'a [(CodeSystem, &'a str, &'a str, &'a [String])]) -> &'a str {
        codes[rerank(q, &named_candidates(codes))[0].0].1
    }

    use CodeSystem::*;

    #[test]
    fn of_open_ranges_that_hold_a_number_the_nearest_bound_wins() {
        let titles = [
            (Cpt, "1", "Office visit, new patient, 30+ min"),
            (Cpt, "2", "Office visit, new patient, 60+ min"),
            (Cpt, "3", "Office visit, new patient, 45+ min"),
            (Cpt, "4", "Office visit, new patient, 15+ min"),
        ];
        assert_eq!(order("new patient office visit, 65 minutes", &titles)[0], "2");
        assert_eq!(order("new patient office visit, 50 minutes", &titles)[0], "3");
        let sizes = [(Cpt, "5", "Lesion removal, 4 cm or less"), (Cpt, "6", "Lesion removal, 2 cm or less")];
        assert_eq!(order("lesion removal 1.5 cm", &sizes)[0], "6");
    }

    #[test]
    fn a_letter_that_names_a_variant_is_a_word_of_its_own() {
        let titles = [
            (Icd10Cm, "B18.2", "Chronic viral hepatitis C"),
            (Icd10Cm, "B18.1", "Chronic viral hepatitis B without delta-agent"),
            (Icd10Cm, "E56.1", "Deficiency of vitamin K"),
            (Icd10Cm, "E56.0", "Deficiency of vitamin E"),
            (Icd10Cm, "E56.9", "Vitamin deficiency, unspecified"),
        ];
        assert_eq!(order("chronic hepatitis b", &titles)[0], "B18.1");
        assert_eq!(order("vitamin k deficiency", &titles)[0], "E56.1");
        assert_eq!(order("vitamin deficiency", &titles)[0], "E56.9", "a title's letter not asked is extra");
        // A short descriptor's cut words are no letters: "w/c" is a wheelchair.
        assert!(letter_names("W/c lateral thigh/knee sup, Hosp bed w/m, R&l hrt").is_empty());
        assert_eq!(letter_names("Large B-cell lymphoma; E. coli"), vec!["b", "e"]);
        assert!(letter_names("Chest X-ray, 2 views").is_empty(), "x is the times sign of questions");
    }

    /// `query` as the follow-up of `earlier`.
    fn follow_up(earlier: &str, query: &str) -> Question {
        let l = lexicon();
        Question::new(query, &l.terms(query)).continuing(Question::new(earlier, &l.terms(earlier)))
    }

    fn order_after(earlier: &str, query: &str, titles: &[(CodeSystem, &str, &str)]) -> Vec<String> {
        ordered(&follow_up(earlier, query), titles)
    }

    #[test]
    fn a_follow_up_that_asks_another_system_in_words_of_its_own_is_searched_by_them() {
        let asks = |earlier: &str, query: &str| {
            Question::new(query, &[]).asks_another_system_than(&Question::new(earlier, &[]))
        };
        assert!(asks("cataract surgery with lens implant", "it was the right eye, what do I append"));
        assert!(asks("knee arthroscopy CPT", "which modifier for the left side"));
        // Nothing of its own to search for: the earlier words are what it asks about.
        assert!(!asks("cataract surgery with lens implant", "what modifier do I append to it"));
        assert!(!asks("walker with wheels", "ICD-10 code for that"));
        // The same system, or none named: the earlier question goes on.
        assert!(!asks("type 2 diabetes ICD-10", "and with neuropathy, ICD-10?"));
        assert!(!asks("cataract surgery with lens implant", "and for the right eye?"));
    }

    #[test]
    fn a_follow_up_that_says_the_record_names_only_one_thing_asks_for_that_alone() {
        let titles = [
            (Icd10Cm, "G43.109", "Migraine with aura, not intractable, without status migrainosus"),
            (Icd10Cm, "G43.909", "Migraine, unspecified, not intractable, without status migrainosus"),
        ];
        assert_eq!(order_after("migraine with aura not intractable", "and if it's intractable?", &titles)[0], "G43.109", "the earlier words go on");
        assert_eq!(order_after("migraine with aura not intractable", "what if the note only says migraine", &titles)[0], "G43.909");
        assert_eq!(order_after("migraine with aura", "provider just wrote 'migraine', nothing more", &titles)[0], "G43.909");
        assert!(!only_said(&question_words("only the left knee")) && !only_said(&question_words("he says it hurts")));
    }

    #[test]
    fn what_a_follow_up_says_the_record_leaves_unsaid_replaces_the_earlier_words_for_it() {
        let hands = [
            (Icd10Cm, "G56.01", "Carpal tunnel syndrome, right upper limb"),
            (Icd10Cm, "G56.00", "Carpal tunnel syndrome, unspecified upper limb"),
        ];
        assert_eq!(order_after("carpal tunnel right wrist", "and the other one?", &hands)[0], "G56.01");
        assert_eq!(order_after("carpal tunnel right wrist", "what if the doc never says which hand", &hands)[0], "G56.00");
        let f = follow_up("gestational diabetes, diet controlled", "what if the OB doesn't document how it's controlled");
        assert!(!f.concepts.iter().any(|c| c.literal.contains(&stem("controlled"))), "the earlier word for what is unsaid goes");
    }

    #[test]
    fn a_follow_up_does_not_inherit_the_code_system_named_before() {
        let titles = [(Icd10Cm, "M17.11", "Unilateral primary osteoarthritis, right knee"), (Cpt, "71046", "Chest X-ray, 2 views")];
        assert_eq!(order_after("right knee osteoarthritis icd 10", "chest xray two views", &titles)[0], "71046");
    }

    #[test]
    fn a_question_in_full_words_fits_a_title_s_acronym() {
        let l = lexicon();
        let titles = [(Cpt, "11", "Leg artery angioplasty"), (Cpt, "22", "PAD rehab, each session")];
        let cands = |spelled: bool| -> Vec<Candidate> {
            let mut cands = candidates(&titles);
            for c in cands.iter_mut().filter(|_| spelled) {
                c.spelled = l.spell_out(c.title);
            }
            cands
        };
        let query = "rehab for peripheral arterial disease";
        let q = Question::new(query, &l.terms(query));
        assert_eq!(titles[rerank(&q, &cands(true))[0].0].1, "22");
        assert!(rerank(&q, &cands(true))[0].1 > rerank(&q, &cands(false)).iter().find(|(i, _)| *i == 1).unwrap().1);
    }

    #[test]
    fn with_and_without_is_one_study_not_an_absence() {
        let titles = [
            (Cpt, "73721", "Lower extremity joint MRI without contrast"),
            (Cpt, "73722", "Lower extremity joint MRI with contrast"),
            (Cpt, "73723", "Lower extremity joint MRI without and with contrast"),
        ];
        for query in ["leg joint MRI with and without contrast", "leg joint MRI w/wo contrast", "leg joint MRI with & without contrast"] {
            assert_eq!(order(query, &titles)[0], "73723", "{query}");
        }
        assert_eq!(order("leg joint MRI without contrast", &titles)[0], "73721");
        assert_eq!(order("leg joint MRI with contrast", &titles)[0], "73722");
        assert_eq!(words("without and with contrast"), words("w/wo contrast"));
    }

    #[test]
    fn iv_im_and_subcutaneous_are_services_of_their_own() {
        let l = lexicon();
        let titles = [
            (Cpt, "96369", "Subcutaneous infusion, first hour"),
            (Cpt, "96365", "IV infusion, drug, first hour"),
            (Cpt, "96374", "IV push, first drug"),
            (Cpt, "96372", "IM or subcut injection"),
        ];
        assert_eq!(order_with(&l, "IV infusion first hour", &titles)[0], "96365");
        assert_eq!(order_with(&l, "subq infusion, first hour", &titles)[0], "96369");
        assert_eq!(order_with(&l, "intramuscular injection", &titles)[0], "96372");
        assert_eq!(order_with(&l, "IV push", &titles)[0], "96374");
        // A title's "IM" is a word; a question's "im" may be "I'm".
        assert!(title_tokens("IM or subcut injection").iter().any(|t| t.stem == "im"));
    }

    #[test]
    fn what_a_question_asks_to_count_is_no_word_a_title_should_hold() {
        // Asked how many units, the sibling whose title says "unit" is not what was asked.
        let titles = [(Cpt, "vial", "Ceftriaxone injection, vial unit"), (Cpt, "J0696", "Ceftriaxone injection")];
        assert_eq!(order("how many units of ceftriaxone injection", &titles)[0], "J0696");
        assert_eq!(without_counted(words("how many units of each")), words("how of each"));
        assert_eq!(without_counted(words("how many 15 minute units")), words("how many 15 minute units"), "a number is no count asked");
        assert_eq!(without_counted(words("rocephin 1 gram, which j code and units?")), words("rocephin 1 gram, which j code and ?"));
        assert_eq!(without_counted(words("units of insulin, 10 units")), words("units of insulin, 10 units"));
    }

    #[test]
    fn a_question_for_an_add_on_prefers_add_on_codes() {
        let l = lexicon();
        let titles = [(Cpt, "17000", "AK destruction, first lesion", false), (Cpt, "17003", "AK destruction, 2nd–14th lesion, each", true)];
        let first = |query: &str| {
            let cands: Vec<Candidate> =
                titles.iter().map(|(s, code, title, add_on)| Candidate { system: *s, code: Some(code), title, names: &[], codes: &[], add_on: *add_on, spelled: None, note: None }).collect();
            titles[rerank(&Question::new(query, &l.terms(query)), &cands)[0].0].1
        };
        assert_eq!(first("froze 6 AKs, what do I add for the rest"), "17003");
        assert_eq!(first("AK destruction, the lesions after the first"), "17003");
        assert_eq!(first("AK destruction, first lesion"), "17000");
        assert!(asks_for_add_on(&words("second hour of the infusion")) && asks_for_add_on(&words("any add-on?")));
        assert!(!asks_for_add_on(&words("first hour of the infusion")));
        // Numbered from the second on: the ones past the first; not a count of what follows.
        for q in ["froze 8 AKs - code for lesions 2 thru 8?", "what do I bill for bx #2 and #3", "which code covers hours 2 and 3", "lesions 2-6"] {
            assert!(asks_for_add_on(&words(q)), "{q}");
        }
        for q in ["anesthesiologist directing 2 to 4 crnas", "2 to 4 lesions pared", "bp 2 and 3 times a day"] {
            assert!(!asks_for_add_on(&words(q)), "{q}");
        }
    }

    #[test]
    fn a_question_about_a_code_that_is_gone_asks_for_the_deleted_one() {
        let titles = [(Cpt, "99238", "Hospital discharge day, 30 minutes or less"), (Cpt, "99217", "Observation discharge day, deleted 2023")];
        assert_eq!(order("what was the old observation discharge day code", &titles)[0], "99217");
        assert_eq!(order("observation discharge day code we used to bill", &titles)[0], "99217");
        assert!(!asks_about_deleted(&words("observation discharge day")));
    }

    #[test]
    fn a_follow_up_says_what_changes() {
        let diabetes = [(Icd10Cm, "E11.9", "Type 2 diabetes mellitus without complications"), (Icd10Cm, "E10.9", "Type 1 diabetes mellitus without complications")];
        assert_eq!(order_after("type 2 diabetes, no complications", "and for type 1?", &diabetes)[0], "E10.9");
        let ct = [(Cpt, "74176", "CT abdomen and pelvis without contrast"), (Cpt, "74177", "CT abdomen and pelvis with contrast")];
        assert_eq!(order_after("CT abdomen and pelvis without contrast", "what's the one with contrast?", &ct)[0], "74177");
        // The study done both ways is no longer "without" it.
        let mri = [(Cpt, "70551", "Brain MRI without contrast"), (Cpt, "70553", "Brain MRI without and with contrast")];
        assert_eq!(order_after("brain mri no contrast", "and with and without?", &mri)[0], "70553");
        assert_eq!(order_after("brain mri no contrast", "is it a global code?", &mri)[0], "70551");
        // The payer carries over, unless the follow-up names the other one.
        let admin = [(Hcpcs, "G0010", "Admin hepatitis b vaccine"), (Cpt, "90471", "Vaccine admin, first shot")];
        assert_eq!(order_after("hep b vaccine, commercial plan", "and the admin?", &admin)[0], "90471");
        assert_eq!(order_after("hep b vaccine, commercial plan", "and the admin for medicare?", &admin)[0], "G0010");
        // What the follow-up does not restate still holds.
        let diabetes = [(Icd10Cm, "E10.8", "Type 1 diabetes mellitus with unspecified complications"), (Icd10Cm, "E10.9", "Type 1 diabetes mellitus without complications")];
        assert_eq!(order_after("type 2 diabetes, no complications", "and for type 1?", &diabetes)[0], "E10.9");
    }

    #[test]
    fn a_code_of_another_kind_ranks_below_the_thing_asked() {
        // The anesthesia for an operation, the status it leaves, the vaccine against a disease.
        let titles = [
            (Cpt, "00921", "Vasectomy anesthesia"),
            (Icd10Cm, "Z98.52", "Vasectomy status"),
            (Cpt, "55250", "Vasectomy, one or both sides"),
        ];
        assert_eq!(order("vasectomy", &titles)[0], "55250");
        assert_eq!(order("vasectomy status", &titles)[0], "Z98.52");
        assert_eq!(order("anesthesia for vasectomy", &titles)[0], "00921");
        let knee = [(Cpt, "01402", "Total knee arthroplasty anesthesia"), (Cpt, "27447", "Total knee arthroplasty, cemented")];
        assert_eq!(order("total knee arthroplasty", &knee)[0], "27447");
        let biopsy = [(Cpt, "55700", "Prostate needle biopsy, deleted 2026"), (Cpt, "55707", "Prostate needle biopsy, transrectal")];
        assert_eq!(order("prostate needle biopsy", &biopsy)[0], "55707");
        assert_eq!(order("prostate needle biopsy code deleted in 2026", &biopsy)[0], "55700");
        // A replacement part is not the item; a fracture is traumatic unless it says otherwise.
        let cane = [(Hcpcs, "A4637", "Repl tip cane/crutch/walker"), (Hcpcs, "E0100", "Cane adjust/fixed with tip")];
        assert_eq!(order("cane", &cane)[0], "E0100");
        assert_eq!(order("replacement cane tip", &cane)[0], "A4637");
        let ulna = [
            (Icd10Cm, "M84.431A", "Pathological fracture, right ulna, initial encounter for fracture"),
            (Icd10Cm, "S52.201A", "Unspecified fracture of shaft of right ulna, initial encounter for closed fracture"),
        ];
        assert_eq!(order("fracture of the right ulna, initial encounter", &ulna)[0], "S52.201A");
        assert_eq!(order("pathological fracture of the right ulna, initial encounter", &ulna)[0], "M84.431A");
    }

    #[test]
    fn a_side_inside_a_lay_phrase_is_still_the_side() {
        let mut l = Lexicon::default();
        l.add_text(std::path::Path::new("t.tsv"), "ringing in ears\ttinnitus\nclot in leg\tthrombosis of vein of lower extremity\n").unwrap();
        let tinnitus = [
            (Icd10Cm, "H93.11", "Tinnitus, right ear"),
            (Icd10Cm, "H93.19", "Tinnitus, unspecified ear"),
            (Icd10Cm, "H93.13", "Tinnitus, bilateral"),
        ];
        let query = "ringing in both ears";
        assert_eq!(l.terms(query)[0].expansions, vec!["tinnitus"], "the term spans the side");
        assert_eq!(order_with(&l, query, &tinnitus)[0], "H93.13");
        let query = "ringing in right ears";
        assert_eq!(order_with(&l, query, &tinnitus)[0], "H93.11");
        let clots = [
            (Icd10Cm, "I82.401", "Acute embolism and thrombosis of unspecified deep veins of right lower extremity"),
            (Icd10Cm, "I82.402", "Acute embolism and thrombosis of unspecified deep veins of left lower extremity"),
        ];
        let query = "clot in left leg";
        assert_eq!(order_with(&l, query, &clots)[0], "I82.402");
    }

    #[test]
    fn the_dominant_side_is_the_hand_said_or_the_guidelines_default() {
        let hemiplegia = [
            (Icd10Cm, "I69.353", "Hemiplegia and hemiparesis following cerebral infarction affecting right non-dominant side"),
            (Icd10Cm, "I69.352", "Hemiplegia and hemiparesis following cerebral infarction affecting left dominant side"),
            (Icd10Cm, "I69.354", "Hemiplegia and hemiparesis following cerebral infarction affecting left non-dominant side"),
            (Icd10Cm, "I69.351", "Hemiplegia and hemiparesis following cerebral infarction affecting right dominant side"),
        ];
        let first = |query: &str| order(query, &hemiplegia)[0].clone();
        assert_eq!(first("hemiparesis following cerebral infarction, right side"), "I69.351", "right defaults to dominant");
        assert_eq!(first("hemiparesis following cerebral infarction, left side"), "I69.354", "left defaults to non-dominant");
        assert_eq!(first("right sided hemiparesis following cerebral infarction, pt is left handed"), "I69.353");
        assert_eq!(first("left sided hemiparesis following cerebral infarction, left-handed"), "I69.352");
        assert_eq!(first("ambidextrous pt, hemiparesis following cerebral infarction on the left"), "I69.352");
        assert_eq!(first("hemiparesis following cerebral infarction, right non-dominant side"), "I69.353", "what the question says stands");
    }

    #[test]
    fn the_side_asked_is_the_qualifier_not_the_part_a_sibling_leaves_unspecified() {
        let colles = [
            (Icd10Cm, "S52.539D", "Colles' fracture of unspecified radius, subsequent encounter for closed fracture with routine healing"),
            (Icd10Cm, "S52.531D", "Colles' fracture of right radius, subsequent encounter for closed fracture with routine healing"),
            (Icd10Cm, "S52.532D", "Colles' fracture of left radius, subsequent encounter for closed fracture with routine healing"),
        ];
        assert_eq!(order("right colles fracture, subsequent encounter, closed, routine healing", &colles)[0], "S52.531D");
        assert_eq!(order("colles fracture, subsequent encounter, closed, routine healing", &colles)[0], "S52.539D", "no side said");
    }

    #[test]
    fn a_title_that_leaves_the_side_unspecified_does_not_answer_a_question_that_names_it() {
        let wrists = [
            (Icd10Cm, "S52.509A", "Unspecified fracture of the lower end of unspecified radius, initial encounter for closed fracture"),
            (Icd10Cm, "S52.502A", "Unspecified fracture of the lower end of left radius, initial encounter for closed fracture"),
            (Icd10Cm, "S62.102A", "Fracture of unspecified carpal bone, left wrist, initial encounter for closed fracture"),
        ];
        // The left radius or the left wrist, never the radius of no side.
        let left = order("fracture lower end of radius or wrist, left, initial", &wrists);
        assert_eq!(left.last().map(String::as_str), Some("S52.509A"), "{left:?}");
        assert_eq!(order("fracture lower end of radius, initial", &wrists)[0], "S52.509A", "no side said");
        assert_eq!(order("fracture lower end of radius, initial, side not documented", &wrists)[0], "S52.509A");
        // Complete is a service's default, not a diagnosis's.
        let tears = [
            (Icd10Cm, "M75.120", "Complete rotator cuff tear or rupture of unspecified shoulder, not specified as traumatic"),
            (Icd10Cm, "M75.100", "Unspecified rotator cuff tear or rupture of unspecified shoulder, not specified as traumatic"),
        ];
        assert_eq!(order("rotator cuff tear", &tears)[0], "M75.100");
    }

    #[test]
    fn an_exam_that_found_something_has_abnormal_findings() {
        let exams = [
            (Icd10Cm, "Z00.129", "Encounter for routine child health examination without abnormal findings"),
            (Icd10Cm, "Z00.121", "Encounter for routine child health examination with abnormal findings"),
        ];
        assert_eq!(order("routine child health exam, found an ear infection", &exams)[0], "Z00.121");
        assert_eq!(order("routine child health exam, no problems found", &exams)[0], "Z00.129");
        assert_eq!(order("routine child health exam", &exams)[0], "Z00.129");
        // An exam said to be normal is the one without abnormal findings, beside a visit's code.
        let visits = [
            (Cpt, "99396", "Physical, established patient, age 40–64"),
            (Icd10Cm, "Z00.01", "Encounter for general adult medical examination with abnormal findings"),
            (Icd10Cm, "Z00.00", "Encounter for general adult medical examination without abnormal findings"),
        ];
        assert_eq!(order("adult annual physical, all normal", &visits)[0], "Z00.00");
        assert_eq!(order("unremarkable routine adult medical exam", &visits)[0], "Z00.00");
        assert_eq!(order("adult medical exam, found high blood pressure, otherwise normal", &visits)[0], "Z00.01");
    }

    #[test]
    fn what_the_record_does_not_say_is_not_asked() {
        let read = |q: &str| without_unsaid(question_words(q)).join(" ");
        assert_eq!(read("diabetic, note never says type 1 or 2, no complications"), "diabetic , note , no complications");
        assert_eq!(read("chart doesn't say if pt is left or right handed"), "chart");
        assert_eq!(read("the doc did not document which side, knee pain"), "the doc did , knee pain");
        assert_eq!(read("type not documented"), "type not documented", "unstated_at's, not this");
        assert_eq!(read("hfref, no mention of acute or chronic anywhere"), "hfref ,");
        assert_eq!(read("no mention, no record"), "no mention , no record");
        let types = [
            (Icd10Cm, "E10.9", "Type 1 diabetes mellitus without complications"),
            (Icd10Cm, "E13.9", "Other specified diabetes mellitus without complications"),
            (Icd10Cm, "E11.9", "Type 2 diabetes mellitus without complications"),
        ];
        // Diabetes of no stated type is type 2 (the lexicon's reading, as the guidelines say).
        let mut l = Lexicon::default();
        l.add_text(std::path::Path::new("t.tsv"), "diabetes\ttype 2 diabetes mellitus\n").unwrap();
        assert_eq!(order_with(&l, "diabetes, no complications, note never says type 1 or 2", &types)[0], "E11.9");
    }

    #[test]
    fn an_anesthesia_code_asked_is_one_of_the_anesthesia_section() {
        let titles = [(Cpt, "49320", "Diagnostic laparoscopy"), (Cpt, "00790", "Upper abdominal intraperitoneal surgery anesthesia, laparoscopy included")];
        assert_eq!(order("anesthesia code for a diagnostic laparoscopy", &titles)[0], "00790");
        assert_eq!(order("diagnostic laparoscopy under general anesthesia", &titles)[0], "49320", "how the procedure was done");
        assert!(is_anesthesia_code("01967") && is_anesthesia_code("99100") && !is_anesthesia_code("47562") && !is_anesthesia_code("0001A"));
    }

    #[test]
    fn what_the_record_does_not_say_is_not_searched_and_an_unsaid_side_is_the_unspecified() {
        assert_eq!(case_to_search("burn on the forearm, they never documented right or left arm").as_deref(), Some("burn on the forearm they unspecified"));
        assert_eq!(case_to_search("diabetic, note never says type 1 or 2").as_deref(), Some("diabetic"), "not a side: nothing added");
        assert_eq!(case_to_search("third degree burn of the right forearm"), None);
        // "Which hip" of a hip named: its side; of nothing named, that thing.
        assert_eq!(case_to_search("total hip replacement, note never says which hip").as_deref(), Some("total hip replacement unspecified"));
        assert_eq!(case_to_search("infection, note never says which organism").as_deref(), Some("infection"));
        let hips = [
            (Icd10Cm, "Z96.641", "Presence of right artificial hip joint"),
            (Icd10Cm, "Z96.649", "Presence of unspecified artificial hip joint"),
        ];
        assert_eq!(order("s/p total hip replacement, note never says which hip. z code for the prosthetic hip", &hips)[0], "Z96.649");
        // The encounter's default is another axis than the unspecified side the question asks.
        let burns = [
            (Icd10Cm, "T22.319S", "Burn of third degree of unspecified forearm, sequela"),
            (Icd10Cm, "T22.319D", "Burn of third degree of unspecified forearm, subsequent encounter"),
            (Icd10Cm, "T22.319A", "Burn of third degree of unspecified forearm, initial encounter"),
        ];
        for q in ["third degree burn of the forearm, side unknown", "third degree burn of unspecified forearm"] {
            assert_eq!(order(q, &burns)[0], "T22.319A", "{q}");
        }
        assert_eq!(order("third degree burn of unspecified forearm, subsequent encounter", &burns)[0], "T22.319D");
    }

    #[test]
    fn a_confirmed_diagnosis_asks_no_confirmed_title() {
        let codes = [
            (Icd10Cm, "T74.01XA", "Adult neglect or abandonment, confirmed, initial encounter"),
            (Icd10Cm, "T74.02XA", "Child neglect or abandonment, confirmed, initial encounter"),
            (Icd10Cm, "A37.90", "Whooping cough, unspecified species without pneumonia"),
            (Icd10Cm, "R05.9", "Cough, unspecified"),
            (Icd10Cm, "R05.3", "Chronic cough"),
            (Icd10Cm, "T76.12XA", "Child physical abuse, suspected, initial encounter"),
            (Icd10Cm, "T74.12XA", "Child physical abuse, confirmed, initial encounter"),
        ];
        let q = Question::new("only cough confirmed", &[]);
        assert!(!q.concepts.iter().any(|c| c.literal.contains(&stem("confirmed"))) && q.asked.contains(&stem("confirmed")), "asked of no title, free in one");
        assert_eq!(order("office visit to r/o pneumonia, only cough confirmed - dx?", &codes)[0], "R05.9");
        assert_eq!(order("confirmed child physical abuse", &codes)[0], "T74.12XA");
        assert_eq!(order("suspected child physical abuse", &codes)[0], "T76.12XA");
    }

    #[test]
    fn a_name_shared_by_a_code_s_encounters_does_not_ask_the_later_ones() {
        let nos = ["Injury of head NOS".to_string()];
        let codes = [
            (Icd10Cm, "S09.90XS", "Unspecified injury of head, sequela", &nos[..]),
            (Icd10Cm, "S09.90XD", "Unspecified injury of head, subsequent encounter", &nos[..]),
            (Icd10Cm, "S09.90XA", "Unspecified injury of head, initial encounter", &nos[..]),
        ];
        let first = |query: &str| first_named(&Question::new(query, &[]), &codes);
        assert_eq!(first("injury of head"), "S09.90XA");
        assert_eq!(first("injury of head, sequela"), "S09.90XS");
        assert_eq!(first("injury of head, subsequent encounter"), "S09.90XD");
    }

    /// Questions made of the words the question readers look for (sizes, margins, repairs,
    /// hands and sides, what a note does not say, times, "dx"), in any order, with odd
    /// characters between them.
    fn reader_words() -> impl proptest::strategy::Strategy<Value = String> {
        let word = proptest::sample::select(vec![
            "0.8", "1", "2", "25", "cm", "mm", "min", "margin", "margins", "of", "lesion", "repair", "lac", "cheek", "scalp", "right", "left", "handed",
            "hand", "ambidextrous", "dominant", "never", "says", "doesn't", "say", "not", "documented", "dx", ",", "?", "modifer", "day", "hour", "ſ", "😀",
        ]);
        proptest::strategy::Strategy::prop_map(proptest::collection::vec(word, 0..14), |w| w.join(" "))
    }

    proptest::proptest! {
        #[test]
        fn any_question_is_read_and_ranked_without_panicking(text in reader_words(), any in proptest::prelude::any::<String>()) {
            let titles = [
                (Cpt, "12011", "Simple repair, face/ears/eyelids/nose/lips, 2.5 cm or less"),
                (Cpt, "99213", "Office visit, established patient, low MDM or 20+ min"),
                (Cpt, "99212", "Office visit, established patient, straightforward MDM or 10+ min"),
                (Icd10Cm, "I69.351", "Hemiplegia and hemiparesis following cerebral infarction affecting right dominant side"),
                (Icd10Cm, "I69.359", "Hemiplegia and hemiparesis following cerebral infarction affecting unspecified side"),
            ];
            for q in [&text, &any] {
                proptest::prop_assert_eq!(order(q, &titles).len(), titles.len());
            }
        }
    }

    #[test]
    fn a_service_not_carried_out_answers_only_a_question_that_says_so() {
        let immunization = [
            (Icd10Cm, "Z28.9", "Immunization not carried out for unspecified reason"),
            (Icd10Cm, "Z23", "Encounter for immunization"),
        ];
        assert_eq!(order("immunization", &immunization)[0], "Z23");
        assert_eq!(order("immunization not carried out", &immunization)[0], "Z28.9");
    }

    #[test]
    fn a_time_reaches_the_highest_rung_of_its_ladder() {
        let visits = [
            (Cpt, "99212", "Office visit, established patient, straightforward MDM or 10+ min"),
            (Cpt, "99213", "Office visit, established patient, low MDM or 20+ min"),
            (Cpt, "99214", "Office visit, established patient, moderate MDM or 30+ min"),
            (Cpt, "99215", "Office visit, established patient, high MDM or 40+ min"),
        ];
        let first = |query: &str| order(query, &visits)[0].clone();
        assert_eq!(first("office visit established patient 25 min total time"), "99213");
        assert_eq!(first("office visit established patient, 38 minutes"), "99214");
        assert_eq!(first("office visit established patient, one hour"), "99215");
        assert_eq!(first("office visit established patient 12 min"), "99212");
        // A year is no time: "since 2021" passes no rung.
        let cands = candidates(&visits);
        let titles: Vec<Arc<Vec<Tok>>> = visits.iter().map(|v| cached_tokens(v.2, true)).collect();
        let ranges = |query: &str| past_rungs(&Question::new(query, &[]), &cands[0], &titles[0], &cands, &titles).0.iter().filter(|t| t.range.is_some()).count();
        assert_eq!(ranges("office visit levels since 2021"), 1);
        assert_eq!(ranges("office visit, 25 min"), 0);
        // A rung the time passes, or one above it, is not met, unless the question names that
        // rung's decision making.
        let unmet = |query: &str| -> Vec<&str> {
            let q = Question::new(query, &[]);
            (0..visits.len()).filter(|&i| past_rungs(&q, &cands[i], &titles[i], &cands, &titles).1).map(|i| visits[i].1).collect()
        };
        assert_eq!(unmet("established pt, doc spent 32 minutes total on the day, which level by time"), ["99212", "99213", "99215"]);
        assert_eq!(unmet("established pt, high MDM, 32 minutes"), ["99212", "99213"]);
        assert!(unmet("established pt, moderate MDM").is_empty());
        // A hospital follow-up's rungs are no rungs of the discharge day's.
        let hospital = [
            (Cpt, "99232", "Hospital follow-up visit, moderate MDM or 35+ min"),
            (Cpt, "99238", "Hospital discharge day, 30 min or less"),
            (Cpt, "99239", "Hospital discharge day, over 30 min"),
        ];
        let (cands, titles) = (candidates(&hospital), hospital.iter().map(|v| cached_tokens(v.2, true)).collect::<Vec<_>>());
        assert!(!past_rungs(&Question::new("hospital discharge day, doc spent 45 min on it", &[]), &cands[2], &titles[2], &cands, &titles).1);
    }

    #[test]
    fn repairs_are_coded_by_their_summed_length() {
        let repairs = [
            (Cpt, "12011", "Simple repair, face/ears/eyelids/nose/lips, 2.5 cm or less"),
            (Cpt, "12013", "Simple repair, face/ears/eyelids/nose/lips, 2.6–5.0 cm"),
        ];
        let first = |query: &str| order(query, &repairs)[0].clone();
        assert_eq!(first("simple repair 2 cm on the nose and 1.5 cm on the lip"), "12013");
        assert_eq!(first("simple repair 2 cm on the nose"), "12011");
        let read = |q: &str| summed_repairs(question_words(q)).join(" ");
        assert_eq!(read("two lacs 2 cm and 3 cm repaired"), "2 lacs 5 cm and repaired");
        assert_eq!(read("simple repair 2 cm on cheek and 3 cm on scalp"), "simple repair 2 cm on cheek and 3 cm on scalp", "two anatomic groups");
        assert_eq!(read("excised 1.5 cm lesion, intermediate repair 3 cm"), "excised 1.5 cm lesion , intermediate repair 3 cm", "a lesion's size is not a repair's");
    }

    #[test]
    fn a_lesion_with_margins_is_coded_by_the_excised_diameter() {
        let excisions = [
            (Cpt, "11641", "Skin cancer excision, face/ears/eyelids/nose/lips, 0.6–1.0 cm"),
            (Cpt, "11642", "Excision of a malignant lesion, face, ears, eyelids, nose or lips, 1.1 to 2.0 cm"),
            (Cpt, "11643", "Excision of a malignant lesion, face, ears, eyelids, nose or lips, 2.1 to 3.0 cm"),
        ];
        let first = |query: &str| order(query, &excisions)[0].clone();
        assert_eq!(first("malignant lesion excision nose, 0.8 cm with 1cm margins"), "11643");
        assert_eq!(first("malignant lesion excision nose 1 cm, margins of 2 mm"), "11642");
        assert_eq!(first("malignant lesion excision nose 0.8 cm"), "11641");
    }

    #[test]
    fn a_title_that_opens_with_zero_says_an_absence() {
        let waste = [(Modifier, "JZ", "Zero drug wasted"), (Modifier, "JW", "Drug amount discarded, drug wasted")];
        assert_eq!(order("drug wasted from a single dose vial", &waste)[0], "JW");
        assert_eq!(order("no drug wasted", &waste)[0], "JZ");
        assert_eq!(order("zero drug wasted", &waste)[0], "JZ");
        // Later in a title "zero" is a name ("beta zero").
        let toks = title_tokens("Sickle-cell thalassemia beta zero without crisis");
        assert!(toks.iter().any(|t| t.stem == "zero" && t.scope == Scope::Plain));
    }

    #[test]
    fn an_hcpcs_truncation_is_the_start_of_the_word_as_written() {
        let toks = title_tokens("Inj, methylpred sod succ 5mg, place perm pacing cardiovert");
        let find = |w: &str| toks.iter().find(|t| &*t.written == w).unwrap().clone();
        assert!(same(&stem("methylprednisolone"), &find("methylpred"), true));
        assert!(same(&stem("sodium"), &find("sod"), true));
        assert!(!same(&stem("pacemaker"), &find("pacing"), true), "'pacing' is a whole word, not the start of 'pacemaker'");
        assert!(!same(&stem("sodium"), &find("sod"), false), "truncations count in HCPCS titles only");
    }

    #[test]
    fn a_lexicon_term_that_opens_with_a_negation_is_a_finding() {
        let mut l = Lexicon::default();
        l.add_text(std::path::Path::new("t.tsv"), "no appetite\tloss of appetite\nno complications\twithout complications\n").unwrap();
        let titles = [(Icd10Cm, "R63.8", "Other symptoms concerning food and fluid intake"), (Icd10Cm, "R63.0", "Anorexia, loss of appetite")];
        let query = "no appetite";
        assert_eq!(order_with(&l, query, &titles)[0], "R63.0");
        // An expansion that is itself an absence still reads as a negation.
        let diabetes = [(Icd10Cm, "E11.8", "Type 2 diabetes mellitus with unspecified complications"), (Icd10Cm, "E11.9", "Type 2 diabetes mellitus without complications")];
        let query = "type 2 diabetes no complications";
        assert_eq!(order_with(&l, query, &diabetes)[0], "E11.9");
    }

    proptest::proptest! {
        /// Any question, read with terms that span sides and open with negations, against
        /// titles with alternatives, truncations and "Zero", ranks without panicking.
        #[test]
        fn any_question_is_ranked_without_panicking(query in "[a-z0-9 ,'/.-]{0,80}", words in proptest::collection::vec("(no|zero|both|left|right|ringing|in|ears|appetite|or|one|with|without|2021|5mg|iv|r|l)", 0..12)) {
            let mut l = Lexicon::default();
            l.add_text(std::path::Path::new("t.tsv"), "ringing in ears\ttinnitus\nno appetite\tloss of appetite\nno complications\twithout complications\nboth ears\tbilateral\n").unwrap();
            let titles = [
                (Hcpcs, "JZ", "Zero drug wasted"),
                (Cpt, "55250", "Vasectomy, one or both sides"),
                (Hcpcs, "J2919", "Inj, methylpred sod succ 5mg"),
                (Icd10Cm, "H93.13", "Tinnitus, bilateral"),
            ];
            for q in [query.clone(), words.join(" ")] {
                let got = order_with(&l, &q, &titles);
                proptest::prop_assert_eq!(got.len(), titles.len());
            }
        }
    }

    #[test]
    fn alternatives_that_leave_nothing_out_qualify_nothing() {
        let vague = |title: &str| title_tokens(title).iter().filter(|t| t.vague).count();
        assert_eq!(vague("Vasectomy, one or both sides"), 3);
        assert_eq!(vague("Excision of lesion, single or multiple"), 2);
        assert_eq!(vague("Biopsy of lesion, medial or lateral"), 0);
        assert_eq!(vague("Excision of lesion, 2 or more"), 0, "two or more leaves one out");
    }

    #[test]
    fn the_users_words_outweigh_an_expansion() {
        let got = order("crutch pad", &[(Icd10Cm, "I73.9", "Peripheral vascular disease, unspecified"), (Hcpcs, "A4635", "Underarm pad, crutch, replacement")]);
        assert_eq!(got[0], "A4635");
    }

    #[test]
    fn no_specifics_lands_on_the_default() {
        let got = order(
            "cough",
            &[(Icd10Cm, "A37.90", "Whooping cough, unspecified species without pneumonia"), (Icd10Cm, "R05.9", "Cough, unspecified")],
        );
        assert_eq!(got[0], "R05.9");
        let got = order(
            "sugar diabetes",
            &[(Icd10Cm, "E10.9", "Type 1 diabetes mellitus without complications"), (Icd10Cm, "E11.9", "Type 2 diabetes mellitus without complications")],
        );
        assert_eq!(got[0], "E11.9");
        let got = order(
            "knee pain",
            &[(Icd10Cm, "M25.561", "Pain in right knee"), (Icd10Cm, "M25.569", "Pain in unspecified knee")],
        );
        assert_eq!(got[0], "M25.569");
    }

    #[test]
    fn what_a_title_leaves_unspecified_is_not_an_extra() {
        let got = order("urinary tract infection", &[(Icd10Cm, "P39.3", "Neonatal urinary tract infection"), (Icd10Cm, "N39.0", "Urinary tract infection, site not specified")]);
        assert_eq!(got[0], "N39.0");
        let got = order("pneumonia", &[(Icd10Cm, "J12.9", "Viral pneumonia, unspecified"), (Icd10Cm, "J18.9", "Pneumonia, unspecified organism")]);
        assert_eq!(got[0], "J18.9");
        // A title that opens with "Unspecified" names its subject next.
        let vague: Vec<bool> = title_tokens("Unspecified contact dermatitis, unspecified cause").iter().map(|t| t.vague).collect();
        assert_eq!(vague, [false, false, false, false, true]);
        // What "unspecified" leaves unspecified stays in its clause; an axis before it is it.
        let vague = |title: &str| title_tokens(title).into_iter().filter(|t| t.vague).map(|t| t.written.to_string()).collect::<Vec<String>>();
        assert_eq!(vague("Otitis media, unspecified, right ear"), Vec::<String>::new());
        assert_eq!(vague("Diverticulitis of intestine, part unspecified, without perforation"), ["part"]);
        let got = order("ear infection", &[(Icd10Cm, "H66.91", "Otitis media, unspecified, right ear"), (Icd10Cm, "H66.90", "Otitis media, unspecified, unspecified ear")]);
        assert_eq!(got[0], "H66.90");
        let got = order(
            "diverticulitis",
            &[
                (Icd10Cm, "K57.32", "Diverticulitis of large intestine without perforation or abscess without bleeding"),
                (Icd10Cm, "K57.92", "Diverticulitis of intestine, part unspecified, without perforation or abscess without bleeding"),
            ],
        );
        assert_eq!(got[0], "K57.92");
    }

    #[test]
    fn negation_reads_without() {
        let got = order(
            "type 2 diabetes, no complications",
            &[(Icd10Cm, "E11.8", "Type 2 diabetes mellitus with unspecified complications"), (Icd10Cm, "E11.9", "Type 2 diabetes mellitus without complications")],
        );
        assert_eq!(got[0], "E11.9");
        let vial = [(Modifier, "JW", "Drug amount wasted"), (Modifier, "JZ", "Zero drug amount wasted")];
        assert_eq!(order("single dose vial all used, nothing wasted", &vial)[0], "JZ");
        // A negated lay word negates its expansion ("didn't black out": no loss of consciousness).
        let mut l = Lexicon::default();
        l.add_text(std::path::Path::new("t.tsv"), "black out\tloss of consciousness\n").unwrap();
        let query = "concussion, didn't black out";
        let q = Question::new(query, &l.terms(query));
        let concussion = [
            (Icd10Cm, "S06.0XAA", "Concussion with loss of consciousness status unknown"),
            (Icd10Cm, "S06.0X0A", "Concussion without loss of consciousness"),
        ];
        assert_eq!(ordered(&q, &concussion)[0], "S06.0X0A");
        // A title that names all of a negated term's expansion contradicts it; one that names a
        // part of it (the pharyngitis) does not.
        let mut l = Lexicon::default();
        l.add_text(std::path::Path::new("t.tsv"), "sore throat\tpharyngitis\nstrep\tstreptococcal pharyngitis\n").unwrap();
        let throat = [(Icd10Cm, "J02.0", "Streptococcal pharyngitis"), (Icd10Cm, "J02.9", "Acute pharyngitis, unspecified")];
        assert_eq!(order_with(&l, "sore throat not strep", &throat)[0], "J02.9");
        assert_eq!(order_with(&l, "sore throat, strep", &throat)[0], "J02.0");
        // An absence that lists its members covers the whole list; a comma before a new
        // "with" clause still ends it.
        let dementia = [
            (Icd10Cm, "F03.911", "Unspecified dementia, unspecified severity, with agitation"),
            (Icd10Cm, "F03.90", "Unspecified dementia, unspecified severity, without behavioral disturbance, psychotic disturbance, mood disturbance, and anxiety"),
        ];
        assert_eq!(order("dementia, no behavioral disturbance", &dementia)[0], "F03.90");
        // What an abbreviation asks for is contradicted by a title that names it only after
        // "without"; without the contradiction both siblings hold "hypertensive heart failure".
        let mut l = Lexicon::default();
        l.add_text(std::path::Path::new("t.tsv"), "HTN\thypertension\nCHF\tcongestive heart failure\n").unwrap();
        let hypertensive = [
            (Icd10Cm, "I11.9", "Hypertensive heart disease without heart failure"),
            (Icd10Cm, "I11.0", "Hypertensive heart disease with heart failure"),
        ];
        assert_eq!(order_with(&l, "HTN w/ CHF", &hypertensive)[0], "I11.0");
        let scopes: Vec<Scope> = title_tokens("Calculus of gallbladder without cholecystitis, with obstruction").into_iter().map(|t| t.scope).collect();
        assert_eq!(scopes[2..], [Scope::Without, Scope::With]);
    }

    #[test]
    fn codes_with_the_same_name_come_in_code_order_whatever_the_fused_rank() {
        let a = [(Hcpcs, "J7040", "Normal saline solution infus"), (Hcpcs, "J7030", "Normal saline solution infus"), (Hcpcs, "J7042", "5% dextrose/normal saline")];
        assert_eq!(order("normal saline", &a)[..2], ["J7030", "J7040"]);
        let b = [a[1], a[0], a[2]];
        assert_eq!(order("normal saline", &b)[..2], ["J7030", "J7040"]);
    }

    #[test]
    fn phrase_order_separates_twins() {
        let a = "Other atherosclerosis of unspecified type of bypass graft(s) of the extremities, left leg";
        let b = "Unspecified atherosclerosis of other type of bypass graft(s) of the extremities, left leg";
        assert_eq!(order(a, &[(Icd10Cm, "I70.702", b), (Icd10Cm, "I70.392", a)])[0], "I70.392");
        assert_eq!(order(b, &[(Icd10Cm, "I70.392", a), (Icd10Cm, "I70.702", b)])[0], "I70.702");
    }

    #[test]
    fn a_titles_own_negation_is_an_absence() {
        let with = "Puncture wound with foreign body of right little finger without damage to nail";
        let without = "Puncture wound without foreign body of right little finger without damage to nail";
        assert_eq!(order(with, &[(Icd10Cm, "S61.236", without), (Icd10Cm, "S61.246", with)])[0], "S61.246");
        assert_eq!(order(without, &[(Icd10Cm, "S61.246", with), (Icd10Cm, "S61.236", without)])[0], "S61.236");
        // The absence ends at the site: the finger is asked for, not negated.
        let scopes: Vec<(String, Scope)> = title_tokens(without).into_iter().map(|t| (t.stem, t.scope)).collect();
        assert_eq!(scopes[2..5], [("foreign".into(), Scope::Without), ("bodi".into(), Scope::Without), ("right".into(), Scope::Plain)]);
        let scopes: Vec<Scope> = title_tokens("Other exposure to controlled fire, not in building").into_iter().map(|t| t.scope).collect();
        assert_eq!(scopes.last(), Some(&Scope::Not), "a preposition right after the negation stays in it");
        let got = order(
            "Prolymphocytic leukemia of B-cell type not having achieved remission",
            &[(Icd10Cm, "C91.32", "Prolymphocytic leukemia of B-cell type, in relapse"), (Icd10Cm, "C91.30", "Prolymphocytic leukemia of B-cell type not having achieved remission")],
        );
        assert_eq!(got[0], "C91.30");
        let got = order(
            "corrosion of multiple fingers, not including thumb",
            &[(Icd10Cm, "T23.549", "Corrosion of multiple fingers, including thumb"), (Icd10Cm, "T23.539", "Corrosion of multiple fingers, not including thumb")],
        );
        assert_eq!(got[0], "T23.539");
    }

    #[test]
    fn prefixes_and_comparisons_are_words() {
        let got = order("Non-sterile gauze<=16 sq in", &[(Hcpcs, "A6402", "Sterile gauze <= 16 sq in"), (Hcpcs, "A6216", "Non-sterile gauze<=16 sq in")]);
        assert_eq!(got[0], "A6216");
        let got = order("sterile gauze up to 16 sq in", &[(Hcpcs, "A6216", "Non-sterile gauze<=16 sq in"), (Hcpcs, "A6402", "Sterile gauze <= 16 sq in")]);
        assert_eq!(got[0], "A6402");
        let got = order("less than 50% of encounters", &[(Hcpcs, "M1007", ">=50% total pt outpt ra enct"), (Hcpcs, "M1008", "<50% total pt outpt ra encts")]);
        assert_eq!(got[0], "M1008");
        assert_eq!(words("non-sterile, >= 2"), ["nonsterile", ",", "atleast", "2"]);
    }

    #[test]
    fn numbers_fall_in_the_ranges_titles_name() {
        let physicals = [(Cpt, "99395", "Physical, established patient, age 18–39"), (Cpt, "99397", "Physical, established patient, age 65+"), (Cpt, "99396", "Physical, established patient, age 40–64")];
        assert_eq!(order("annual physical, 45 year old established patient", &physicals)[0], "99396");
        assert_eq!(order("physical for a 70 year old, established", &physicals)[0], "99397");
        let repairs = [(Cpt, "12002", "Simple wound repair, 2.6 to 7.5 cm"), (Cpt, "12001", "Simple wound repair, 2.5 cm or less")];
        assert_eq!(order("simple repair of a 2 cm cut", &repairs)[0], "12001");
        assert_eq!(order("simple repair of a 4 cm cut", &repairs)[0], "12002");
        let monitors = [(Cpt, "93241", "ECG monitor, 3 to 7 days"), (Cpt, "93224", "Holter monitor, up to 48 h")];
        assert_eq!(order("heart monitor for two days", &monitors)[0], "93224");
        // A measure says how much of what the question names: a title that holds only the
        // measure holds nothing.
        let symptom = [(Cpt, "93241", "Extended ECG monitor, over 48 hours to 7 days"), (Icd10Cm, "R19.7", "Diarrhea, unspecified")];
        assert_eq!(order("diarrhea for 3 days", &symptom)[0], "R19.7");
        assert_eq!(order("headache for 2 hours", &[(Cpt, "97545", "Work hardening, first 2 hours"), (Icd10Cm, "R51.9", "Headache, unspecified")])[0], "R51.9");
        // A unit without a number is a word like any other ("that day", "each additional").
        let measures = |query: &str| {
            let q = Question::new(query, &[]);
            (0..q.concepts.len()).filter(|&k| is_measure(&q.concepts, k)).map(|k| q.concepts[k].literal.join(" ")).collect::<Vec<_>>()
        };
        assert_eq!(measures("diarrhea for 3 days"), ["4320", "minut"]);
        assert!(measures("the visit when the doctor also injected the knee that day").is_empty());
        assert!(measures("each additional 15 minutes").len() == 2 && measures("each additional unit").is_empty());
        assert_eq!(order("obesity counseling 15 minutes", &[(Hcpcs, "G0310", "Immunize counsel 5-15 min"), (Hcpcs, "G0447", "Behavior counsel obesity 15m")])[0], "G0447");
        assert_eq!(words("48h, 2 days, 10mg, 3b"), ["2880", "minutes", ",", "2880", "minutes", ",", "10", "mg", ",", "3b"]);
        // A day without a number is no time: "every day" is how often, "same day" when.
        assert_eq!(words("every day, same day, an hour"), ["every", "day", ",", "same", "day", ",", "an", "minutes"]);
        // Ages: months old in years, "under age 12", "age 12 or older".
        let well = [(Cpt, "99392", "Well visit, established patient, age 1–4"), (Cpt, "99391", "Well visit, established patient, under 1 year")];
        assert_eq!(order("well baby visit 2 months old, established", &well)[0], "99391");
        assert_eq!(order("well child visit, 3 year old, established", &well)[0], "99392");
        let tonsils = [(Cpt, "42821", "Tonsils and adenoids out, age 12 or older"), (Cpt, "42820", "Tonsils and adenoids out, under age 12")];
        assert_eq!(order("tonsils and adenoids out, 6 year old", &tonsils)[0], "42820");
        assert_eq!(order("tonsils and adenoids out, 30 year old", &tonsils)[0], "42821");
        // Weeks of gestation fall in the trimester that spans them.
        let prenatal = [
            (Icd10Cm, "Z34.00", "Encounter for supervision of normal first pregnancy, unspecified trimester"),
            (Icd10Cm, "Z34.03", "Encounter for supervision of normal first pregnancy, third trimester"),
            (Icd10Cm, "Z34.01", "Encounter for supervision of normal first pregnancy, first trimester"),
        ];
        assert_eq!(order("prenatal visit, normal first pregnancy, 10 weeks", &prenatal)[0], "Z34.01");
        assert_eq!(order("prenatal visit, normal first pregnancy, 31 weeks", &prenatal)[0], "Z34.03");
        assert_eq!(order("prenatal visit, normal first pregnancy", &prenatal)[0], "Z34.00");
        // "1st trimester" holds the weeks in both words, so neither is extra beside an everyday
        // name's "trimester not stated", which costs nothing.
        let name = title_tokens("routine prenatal visit, first pregnancy, 1st trimester");
        assert!(name.iter().rev().take(2).all(|t| t.covers(10.0) && !t.covers(20.0)), "{name:?}");
    }

    #[test]
    fn an_hcpcs_description_is_its_descriptor_spelled_out() {
        let query = "power wheelchair group 2 standard seat";
        let q = Question::new(query, &lexicon().terms(query));
        let names = ["power wheelchair group 2 standard seat".to_string()];
        let score = |title: &str, names: &[String]| {
            rerank(&q, &[Candidate { system: Hcpcs, code: Some("K0001"), title, names, codes: &[], add_on: false, spelled: None, note: None }])[0].1
        };
        // The abbreviations of the short descriptor cost nothing once its description says them.
        assert!((score("Pwc grp 2 std seat", &names) - score("power wheelchair group 2 standard seat", &[])).abs() < 1e-6);
        assert!(score("Pwc grp 2 std seat", &names) > score("Pwc grp 2 std seat", &[]));
    }

    #[test]
    fn a_numbered_word_with_another_number_is_another_thing() {
        let ckd = [
            (Icd10Cm, "N18.2", "Chronic kidney disease, stage 2 (mild)"),
            (Icd10Cm, "N18.30", "Chronic kidney disease, stage 3 unspecified"),
            (Icd10Cm, "E11.22", "Type 2 diabetes mellitus with diabetic chronic kidney disease"),
            (Icd10Cm, "N18.32", "Chronic kidney disease, stage 3b"),
        ];
        let got = order("t2dm with ckd stage 3b, combo code plus the stage code", &ckd);
        assert_eq!(&got[..2], ["N18.32", "E11.22"], "another stage is no answer: {got:?}");
        assert_eq!(order("ckd stage 3", &ckd)[0], "N18.30");
        // A title that names a range of stages holds those between.
        let htn = [(Icd10Cm, "N18.30", "Chronic kidney disease, stage 3 unspecified"), (Icd10Cm, "I12.9", "Hypertensive chronic kidney disease with stage 1 through stage 4 chronic kidney disease")];
        assert_eq!(order("hypertensive ckd stage 3b", &htn)[0], "I12.9");
        let hyphen = [(Icd10Cm, "N18.30", "Chronic kidney disease, stage 3 unspecified"), (Icd10Cm, "I12.9", "Hypertensive chronic kidney disease, stage 1-4")];
        assert_eq!(order("hypertensive ckd stage 3b", &hyphen)[0], "I12.9");
    }

    #[test]
    fn a_term_is_found_in_the_words_as_the_question_reads_them() {
        // "xray" reads as "ray", "one" as 1, "non emergency" as one word: the term still spans them.
        let mut lexicon = Lexicon::default();
        lexicon.add_text(std::path::Path::new("t.tsv"), "chest xray\tradiologic examination chest\nnon emergency ambulance\tbls\n").unwrap();
        for (query, spanned) in [("chest xray 2 views", vec!["chest", "ray"]), ("non emergency ambulance", vec!["nonemergency", "ambulance"])] {
            let terms = lexicon.terms(query);
            assert!(!terms.is_empty(), "{query}");
            let q = Question::new(query, &terms);
            let want: Vec<String> = spanned.iter().map(|w| stem(w)).collect();
            assert!(q.concepts.iter().any(|c| c.literal == want && !c.expansions.is_empty()), "{query}: {:?}", q.concepts);
        }
    }

    #[test]
    fn a_word_found_in_another_name_brings_that_names_words() {
        let query = "kenalog 40mg into the knee";
        let q = Question::new(query, &lexicon().terms(query));
        let kenalog = ["Kenalog triamcinolone acetonide injection".to_string()];
        let first = |other: &[String]| {
            let cands = [
                Candidate { system: Hcpcs, code: Some("J3301"), title: "Triamcinolone acet inj nos", names: &kenalog, codes: &[], add_on: false, spelled: None, note: None },
                Candidate { system: Hcpcs, code: Some("J3304"), title: "Inj triamcinolone ace xr 1mg", names: other, codes: &[], add_on: false, spelled: None, note: None },
            ];
            cands[rerank(&q, &cands)[0].0].code.unwrap().to_string()
        };
        // "Knee" is held only by the other brand's name: that name's brand comes with it.
        assert_eq!(first(&["Zilretta triamcinolone extended-release knee injection".to_string()]), "J3301");
        assert_eq!(first(&["triamcinolone knee injection".to_string()]), "J3304", "the knee counts when its name adds nothing");
        // A name that says the title's kind in its own words ("status" for "Presence of") adds
        // no extra word.
        let query = "s/p right total knee replacement";
        let q = Question::new(query, &lexicon().terms(query));
        let right = ["right knee replacement status".to_string()];
        let cands = [
            Candidate { system: Icd10Cm, code: Some("Z96.653"), title: "Presence of artificial knee joint, bilateral", names: &[], codes: &[], add_on: false, spelled: None, note: None },
            Candidate { system: Icd10Cm, code: Some("Z96.651"), title: "Presence of right artificial knee joint", names: &right, codes: &[], add_on: false, spelled: None, note: None },
        ];
        assert_eq!(cands[rerank(&q, &cands)[0].0].code, Some("Z96.651"));
    }

    #[test]
    fn titles_that_answer_nothing_keep_the_fused_order() {
        let got = order("toradol", &[(Icd10Cm, "E16.2", "Hypoglycemia, unspecified, with a long title"), (Hcpcs, "J1885", "Ketorolac tromethamine inj")]);
        assert_eq!(got, ["E16.2", "J1885"], "no title holds the word: fewer words are no better answer");
        // A candidate from another list (Medicare's HCPCS codes) keeps its rank in that list.
        let titles = [(Icd10Cm, "E16.2", "Hypoglycemia, unspecified, with a long title"), (Hcpcs, "J1885", "Ketorolac tromethamine inj")];
        let q = Question::new("toradol", &[]);
        let got: Vec<usize> = rerank_ranked(&q, &candidates(&titles), &[20, 0]).into_iter().map(|(i, _)| i).collect();
        assert_eq!(got, [1, 0]);
    }

    #[test]
    fn what_the_question_does_not_know_is_unspecified() {
        let anemia = [(Icd10Cm, "D59.13", "Mixed type autoimmune hemolytic anemia"), (Icd10Cm, "D64.9", "Anemia, unspecified")];
        assert_eq!(order("pt anemic, type not specified", &anemia)[0], "D64.9");
        // What the question does not know is held only by a title that leaves it unspecified:
        // "severity not documented" is not "severe".
        let dementia = [
            (Icd10Cm, "F03.C0", "Unspecified dementia, severe, without behavioral disturbance"),
            (Icd10Cm, "F03.90", "Unspecified dementia, unspecified severity, without behavioral disturbance"),
        ];
        assert_eq!(order("dementia, severity not documented", &dementia)[0], "F03.90");
        assert_eq!(order("dementia, no severity documented", &dementia)[0], "F03.90");
        assert_eq!(unstated_at(words("no obesity class documented")).0, ["obesity", "class", "unspecified"]);
        assert_eq!(unstated_at(words("no complications documented")).0, ["no", "complications", "documented"], "not an axis a code specifies");
        assert_eq!(order("severe dementia", &dementia)[0], "F03.C0");
        let (read, unknown) = unstated_at(words("severity not documented, cause unknown"));
        assert_eq!(read, ["severity", "unspecified", ",", "cause", "unspecified"]);
        assert_eq!(unknown, HashSet::from_iter([0, 3]));
        assert_eq!(unstated_at(words("tear not specified as traumatic")).0, ["tear", "not", "specified", "as", "traumatic"]);
        // NOS written out is no negation of "specified".
        assert_eq!(order("anemia, not otherwise specified", &anemia)[0], "D64.9");
        assert_eq!(unstated_at(words("radius fracture, not otherwise specified")).0, ["radius", "fracture", ",", "unspecified"]);
    }

    #[test]
    fn r_and_l_are_sides() {
        let cuff = [(Icd10Cm, "M75.100", "Unspecified rotator cuff tear of unspecified shoulder"), (Icd10Cm, "M75.101", "Unspecified rotator cuff tear of right shoulder")];
        assert_eq!(order("rotator cuff tear R shoulder", &cuff)[0], "M75.101");
        assert_eq!(sides(words("L spine x-ray, r/o fracture, L hand")), ["l", "spine", "x", "ray", ",", "r", "o", "fracture", ",", "left", "hand"]);
    }

    #[test]
    fn alternatives_restrict_nothing() {
        assert_eq!(slashes_as_or("Simple repair, scalp/neck, w/o graft, n/adj"), "Simple repair, scalp or neck, w/o graft, n/adj");
        let repairs = [(Cpt, "12011", "Simple wound repair, face, 2.5 cm or less"), (Cpt, "12001", "Simple wound repair, scalp/neck/trunk/limbs, 2.5 cm or less")];
        let cands = candidates(&repairs);
        let top = |query: &str| repairs[rerank(&Question::new(query, &[]), &cands)[0].0].1;
        assert_eq!(top("simple wound repair of the trunk, 2 cm"), "12001");
        // One of a title's alternatives asked frees the others; "and" asks for both.
        let scopes = [(Cpt, "29880", "Knee scope, medial and lateral meniscectomy"), (Cpt, "29881", "Knee scope, medial or lateral meniscectomy")];
        assert_eq!(order("knee scope with medial meniscectomy", &scopes)[0], "29881");
        assert_eq!(order("knee scope, medial and lateral meniscectomy", &scopes)[0], "29880");
        // With no component named, the complete service.
        let ekg = [(Cpt, "93010", "EKG, 12-lead, reading only"), (Cpt, "93000", "EKG, 12-lead, complete")];
        assert_eq!(order("12 lead EKG", &ekg)[0], "93000");
        assert_eq!(order("12 lead EKG, reading only", &ekg)[0], "93010");
    }

    #[test]
    fn a_route_is_the_titles_word_for_it() {
        let benadryl = [(Hcpcs, "Q0163", "Diphenhydramine hcl 50mg"), (Hcpcs, "J1200", "Diphenhydramine hcl injectio")];
        assert_eq!(order("diphenhydramine 50 mg IV", &benadryl)[0], "J1200");
        assert_eq!(order("diphenhydramine 50 mg oral", &[(Hcpcs, "J1200", "Diphenhydramine hcl injectio"), (Hcpcs, "Q0163", "Diphenhydramine hcl, oral, 50mg")])[0], "Q0163");
        // A code for the other route contradicts the question, in its title or its other names.
        let oral = ["Ondansetron hydrochloride 4 mg, oral".to_string()];
        let cands = [
            Candidate { system: Hcpcs, code: Some("S0119"), title: "Ondansetron 4 mg", names: &oral, codes: &[], add_on: false, spelled: None, note: None },
            Candidate { system: Hcpcs, code: Some("J2405"), title: "Ondansetron hcl injection", names: &[], codes: &[], add_on: false, spelled: None, note: None },
        ];
        let top = |query: &str| cands[rerank(&Question::new(query, &[]), &cands)[0].0].code;
        assert_eq!(top("ondansetron IV 4mg"), Some("J2405"));
        assert_eq!(top("ondansetron 4 mg by mouth, oral"), Some("S0119"));
        // With no route named, a drug's salt and its injection are no extra words.
        let naloxone = [(Hcpcs, "J2313", "Inj, naloxone (zimhi) 0.01mg"), (Hcpcs, "J2312", "Inj naloxone hcl nos, 0.01mg"), (Hcpcs, "G2216", "Home supply naloxone kit")];
        assert_eq!(order("naloxone", &naloxone)[0], "J2312");
        // A litre is the 1000 ml of a title.
        assert_eq!(words("1 liter, 500 cc"), ["1000", "ml", ",", "500", "ml"]);
    }

    #[test]
    fn a_name_that_says_the_asked_phrase_is_absent_contradicts_it() {
        let induced = ["Alcohol induced anxiety disorder, without use disorder".to_string()];
        let moderate = ["Alcohol use disorder, moderate".to_string(), "Alcohol use disorder, severe".to_string()];
        let cands = [
            Candidate { system: Icd10Cm, code: Some("F10.988"), title: "Alcohol use, unspecified with other alcohol-induced disorder", names: &induced, codes: &[], add_on: false, spelled: None, note: None },
            Candidate { system: Icd10Cm, code: Some("F10.20"), title: "Alcohol dependence, uncomplicated", names: &moderate, codes: &[], add_on: false, spelled: None, note: None },
        ];
        let q = Question::new("alcohol use disorder", &[]);
        assert_eq!(rerank(&q, &cands)[0].0, 1, "F10.988 is the induced disorder without use disorder");
        let q = Question::new("anxiety disorder from drinking, alcohol use", &[]);
        assert_eq!(rerank(&q, &cands)[0].0, 0, "the words apart are no phrase");
    }

    #[test]
    fn a_name_that_answers_alone_counts() {
        let l = lexicon();
        let q = Question::new("influenza", &l.terms("influenza"));
        let nos = ["Influenza NOS".to_string()];
        let cands = [
            Candidate { system: Icd10Cm, code: Some("J10.1"), title: "Influenza due to other identified influenza virus with other respiratory manifestations", names: &[], codes: &[], add_on: false, spelled: None, note: None },
            Candidate { system: Icd10Cm, code: Some("J11.1"), title: "Influenza due to unidentified influenza virus with other respiratory manifestations", names: &nos, codes: &[], add_on: false, spelled: None, note: None },
        ];
        assert_eq!(rerank(&q, &cands)[0].0, 1, "J11.1's inclusion term is the plain word");
        // "X NOS" says where the bare word goes: it beats a sibling that names X with more.
        let q = Question::new("eczema", &[]);
        let nos = ["Eczema NOS".to_string()];
        let cands = [
            Candidate { system: Icd10Cm, code: Some("L20.82"), title: "Flexural eczema", names: &[], codes: &[], add_on: false, spelled: None, note: None },
            Candidate { system: Icd10Cm, code: Some("L30.9"), title: "Dermatitis, unspecified", names: &nos, codes: &[], add_on: false, spelled: None, note: None },
        ];
        assert_eq!(rerank(&q, &cands)[0].0, 1);
        // Words in parentheses are nonessential: "Seizure(s) (convulsive) NOS" is "Seizure NOS".
        let q = Question::new("had a seizure", &[]);
        let nos = ["Fit NOS".to_string(), "Seizure(s) (convulsive) NOS".to_string()];
        let cands = [
            Candidate { system: Icd10Cm, code: Some("G40.89"), title: "Other seizures", names: &[], codes: &[], add_on: false, spelled: None, note: None },
            Candidate { system: Icd10Cm, code: Some("R56.9"), title: "Unspecified convulsions", names: &nos, codes: &[], add_on: false, spelled: None, note: None },
        ];
        assert_eq!(rerank(&q, &cands)[0].0, 1);
        assert_eq!(essential("Seizure(s) (convulsive) NOS").as_deref(), Some("Seizure NOS"));
        assert_eq!(essential("(only) (words)"), None);
        assert_eq!(essential("Fit NOS"), None);
    }

    #[test]
    fn a_patient_seen_by_the_group_within_three_years_is_established() {
        let w = |q: &str| returning_patient(question_words(q)).join(" ");
        assert_eq!(w("pt saw my partner same specialty 2 yrs ago, low mdm"), "pt saw my partner same specialty 2 yrs ago , low mdm , established patient");
        assert_eq!(w("seen by our PA 18 months back, can i bill new pt"), "seen by our pa 18 months back , can i bill established pt");
        assert_eq!(w("seen by our group 4 years ago, est pt visit"), "seen by our group 4 years ago , new pt visit");
        assert_eq!(w("seen by our dermatologist 1 year ago, now cardiology, a different specialty, est pt"), "seen by our dermatologist 1 year ago , now cardiology , a different specialty , new pt");
        // Without the same specialty or group, or without when, the rule says nothing.
        assert_eq!(w("seen by a cardiologist 2 yrs ago, new pt visit"), "seen by a cardiologist 2 yrs ago , new pt visit");
        assert_eq!(w("saw my partner last week, new pt"), "saw my partner last week , new pt");
        let titles = [
            (CodeSystem::Cpt, "99203", "Office visit, new patient, low MDM or 30+ min"),
            (CodeSystem::Cpt, "99213", "Office visit, established patient, low MDM or 20+ min"),
        ];
        assert_eq!(order("pt saw my partner, same specialty, 2 yrs ago. can i bill a new pt visit? low mdm", &titles)[0], "99213");
    }

    #[test]
    fn a_visit_is_levelled_by_decision_making_or_time_whichever_is_higher() {
        let titles = [
            (CodeSystem::Cpt, "99212", "Office visit, established patient, straightforward MDM or 10+ min"),
            (CodeSystem::Cpt, "99213", "Office visit, established patient, low MDM or 20+ min"),
            (CodeSystem::Cpt, "99214", "Office visit, established patient, moderate MDM or 30+ min"),
            (CodeSystem::Cpt, "99215", "Office visit, established patient, high MDM or 40+ min"),
        ];
        assert_eq!(order("est pt straightforward MDM but 35 min total time on the date", &titles)[0], "99214");
        assert_eq!(order("est pt low MDM, 22 minutes", &titles)[0], "99213");
        assert_eq!(order("est pt high MDM, 22 minutes", &titles)[0], "99215");
        assert_eq!(order("est pt moderate MDM", &titles)[0], "99214");
    }

    #[test]
    fn what_a_code_leaves_unanswered_is_what_another_must_answer() {
        let l = lexicon();
        let text = "aftercare visit s/p right total knee replacement, no infection";
        let q = Question::new(text, &l.terms(text));
        let titles = [(CodeSystem::Icd10Cm, "Z96.651", "Presence of right artificial knee joint")];
        let left = q.unanswered(&candidates(&titles)[0]);
        assert!(left.contains(&"aftercare".to_string()), "{left:?}");
        // What it holds, and what the question negates, are not left.
        assert!(!left.iter().any(|w| w == "right" || w == "knee" || w == "infection"), "{left:?}");
    }

    #[test]
    fn a_description_s_sentences_that_send_a_case_elsewhere_say_what_it_is_not() {
        let d = "Anesthesia for a vaginal delivery alone. Planned neuraxial labor analgesia is reported with 01967 instead.";
        let scope_of = |name: &str, code: &str, word: &str| name_tokens(name, Some(code)).iter().find(|t| t.stem == stem(word)).map(|t| t.scope);
        assert_eq!(scope_of(d, "01960", "vaginal"), Some(Scope::Plain));
        assert_eq!(scope_of(d, "01960", "labor"), Some(Scope::Not));
        let add_on = "Each further hour of the same chemotherapy infusion. Reported with 96413.";
        assert_eq!(scope_of(add_on, "96415", "chemotherapy"), Some(Scope::Plain));
        let both = "Upper and lower GI endoscopy in one session, reported once instead of 00731 plus 00811.";
        assert_eq!(scope_of(both, "00813", "endoscopy"), Some(Scope::Plain));
        // Sent elsewhere in other words, with no code named.
        let egd = "Upper endoscopy to look at the stomach. A biopsy or treatment moves to a more specific EGD code.";
        assert_eq!(scope_of(egd, "43235", "stomach"), Some(Scope::Plain));
        assert_eq!(scope_of(egd, "43235", "biopsy"), Some(Scope::Not));
        assert_eq!(clauses("A is coded separately, and B uses G0008; C, such as D, goes to 01400."), vec!["A is coded separately, ", "and B uses G0008; ", "C, such as D, goes to 01400."]);
        let vaccine = "Giving the first vaccine by injection. The vaccine product is coded separately, and Medicare uses G0008 for flu shots.";
        assert_eq!(scope_of(vaccine, "90471", "product"), Some(Scope::Not));
        assert_eq!(scope_of(vaccine, "90471", "flu"), Some(Scope::Plain));
        let scope = "Anesthesia for an upper GI endoscopy. ERCP is 00732, and upper plus lower endoscopy in the same session is 00813.";
        assert_eq!(scope_of(scope, "00731", "upper"), Some(Scope::Plain));
        assert_eq!(scope_of(scope, "00731", "ercp"), Some(Scope::Not));
        assert_eq!(scope_of(scope, "00731", "session"), Some(Scope::Not));
        let closure = "Removal of a small benign lesion. Layered or complex closure is coded separately.";
        assert_eq!(scope_of(closure, "11400", "layered"), Some(Scope::Not));
        // The code for what has no more specific code is its own.
        let catch_all = "Anesthesia for eye procedures that have no more specific anesthesia code of their own.";
        assert_eq!(scope_of(catch_all, "00140", "eye"), Some(Scope::Plain));
        let names = [d.to_string()];
        let codes = [
            (Cpt, "01960", "Vaginal delivery anesthesia", &names[..]),
            (Cpt, "01967", "Labor epidural (neuraxial labor analgesia) for planned vaginal delivery", &[][..]),
        ];
        let q = "labor epidural for a planned vaginal delivery, anesthesia code?";
        assert_eq!(first_named(&Question::new(q, &[]), &codes), "01967");
        // The diagnostic scope's description names the biopsy it sends away: it does not hold it.
        let names = [egd.to_string()];
        let codes = [(Cpt, "43235", "Upper endoscopy, diagnostic", &names[..]), (Cpt, "43239", "Upper endoscopy with biopsy", &[][..])];
        assert_eq!(first_named(&follow_up("upper endoscopy diagnostic only", "and if they took a biopsy"), &codes), "43239");
    }

    #[test]
    fn a_time_is_no_count_of_things() {
        assert!(Question::new("adult got 2 shots today, admin codes", &[]).counts_several());
        assert!(!Question::new("seen by our group 2 yrs ago, 3 wks of cough, codes", &[]).counts_several());
    }

    #[test]
    fn dependence_is_coded_over_abuse_and_a_name_s_absence_holds_no_word() {
        assert_eq!(dependence_over_abuse(question_words("etoh abuse in the HPI, etoh dependence in the assessment")).join(" "), "etoh in the hpi , etoh dependence in the assessment");
        assert_eq!(dependence_over_abuse(question_words("etoh abuse")).join(" "), "etoh abuse");
        let use_names = ["alcohol use, not stated as abuse or dependence".to_string()];
        let codes = [
            (Icd10Cm, "F10.90", "Alcohol use, unspecified, uncomplicated", &use_names[..]),
            (Icd10Cm, "F10.10", "Alcohol abuse, uncomplicated", &[][..]),
            (Icd10Cm, "F10.20", "Alcohol dependence, uncomplicated", &[][..]),
        ];
        let first = |query: &str| first_named(&Question::new(query, &[]), &codes);
        assert_eq!(first("alcohol abuse and alcohol dependence documented, uncomplicated"), "F10.20");
        assert_eq!(first("alcohol dependence, uncomplicated"), "F10.20");
        assert_eq!(first("alcohol use, no abuse or dependence"), "F10.90");
        // The name says the dependence is absent: it holds the word only for a question that
        // negates it too.
        let (title, name) = (cached_tokens(codes[0].2, false), cached_tokens(&use_names[0], false));
        assert_eq!(holds(&stem("dependence"), false, Negated::Not, &title, std::slice::from_ref(&name), false), 0.0);
        assert_eq!(holds(&stem("dependence"), false, Negated::Only, &title, &[name], false), OTHER_NAME);
    }

    #[test]
    fn several_degrees_of_one_thing_are_the_highest() {
        let w = |q: &str| highest_degree(question_words(q)).join(" ");
        assert_eq!(w("2nd and 3rd degree burn of the forearm"), "third degree burn of the forearm");
        assert_eq!(w("first, second and third degree"), "third degree");
        assert_eq!(w("2nd degree burn of hand and 3rd degree burn of foot"), "second degree burn of hand and third degree burn of foot");
        let titles = [
            (CodeSystem::Icd10Cm, "T22.219A", "Burn of second degree of unspecified forearm, initial encounter"),
            (CodeSystem::Icd10Cm, "T22.319A", "Burn of third degree of unspecified forearm, initial encounter"),
        ];
        assert_eq!(order("burn of the forearm, 2nd and 3rd degree in the same spot", &titles)[0], "T22.319A");
    }

    #[test]
    fn what_is_to_be_ruled_out_is_not_asked() {
        let w = |q: &str| without_rule_outs(words(q), in_hospital(&words(q)));
        assert_eq!(w("chest pain r/o MI"), ["chest", "pain"]);
        assert_eq!(w("cough, rule out pneumonia, with fever"), ["cough", ",", ",", "with", "fever"]);
        assert_eq!(w("possible strep"), ["possible", "strep"], "nothing else to code: kept");
        // In a hospital stay the uncertain diagnosis is coded as if established.
        assert_eq!(w("inpatient, cough, probable pneumonia"), ["inpatient", ",", "cough", ",", "pneumonia"]);
        assert_eq!(w("discharge summary says likely pneumonia"), ["discharge", "summary", "says", "pneumonia"]);
        let titles = [(Icd10Cm, "I21.9", "Acute myocardial infarction, unspecified"), (Icd10Cm, "R07.9", "Chest pain, unspecified")];
        assert_eq!(order("chest pain r/o MI", &titles)[0], "R07.9");
    }

    #[test]
    fn an_everyday_name_that_holds_what_the_question_negates_contradicts_it() {
        let attack = ["asthma attack".to_string()];
        let calm = ["asthma, not in flare".to_string()];
        let codes = [
            (Icd10Cm, "J45.901", "Unspecified asthma with (acute) exacerbation", &attack[..]),
            (Icd10Cm, "J45.909", "Unspecified asthma, uncomplicated", &calm[..]),
        ];
        let first = |query: &str| first_named(&Question::new(query, &[]), &codes);
        assert_eq!(first("kid has asthma, not having an attack today"), "J45.909");
        assert_eq!(first("kid has asthma, having an attack today"), "J45.901");
    }

    #[test]
    fn a_name_s_range_alternatives_and_unstated_detail_do_not_make_it_a_sentence() {
        // The nominal time of a title is the range its everyday name spells out.
        let session = ["38 to 52 minute psychotherapy".to_string()];
        let family = ["family therapy with the patient".to_string()];
        let codes = [(Cpt, "90834", "Psychotherapy, 45 min", &session[..]), (Cpt, "90847", "Family therapy with patient, 50 min", &family[..])];
        let first = |query: &str| first_named(&Question::new(query, &[]), &codes);
        assert_eq!(first("psychotherapy 50 minutes"), "90834");
        assert_eq!(first("family therapy 50 minutes"), "90847");
        // "Side not stated" says the default, as "unspecified" does; a question that names the
        // side still gets the sided code.
        let unsided = ["gout in foot or big toe, side not stated".to_string()];
        let right = ["gout right big toe".to_string()];
        let codes = [
            (Icd10Cm, "M10.079", "Idiopathic gout, unspecified ankle and foot", &unsided[..]),
            (Icd10Cm, "M10.071", "Idiopathic gout, right ankle and foot", &right[..]),
        ];
        let first = |query: &str| first_named(&Question::new(query, &[]), &codes);
        assert_eq!(first("gout in big toe"), "M10.079");
        assert_eq!(first("gout in right big toe"), "M10.071");
        // "Not specified as traumatic" says what the code is not: its words count.
        let words = |name: &str| words_in(&title_tokens(name));
        assert_eq!(words("rotator cuff tear, not specified as traumatic"), 6);
        assert_eq!(words("gout in foot or big toe, side not stated"), 3);
        assert_eq!(words("38 to 52 minute psychotherapy"), 3);
    }

    #[test]
    fn who_wrote_the_record_is_no_word_of_it() {
        let told = |q: &str| without_narration(question_words(q)).into_iter().filter(|w| w != ",").collect::<Vec<_>>().join(" ");
        assert_eq!(told("doc just wrote anemia"), "anemia");
        assert_eq!(told("the urgent care note says uti"), "uti");
        assert_eq!(told("provider only documented depression"), "depression");
        assert_eq!(told("new coder here, office visit"), "here office visit");
        // A discharge summary is narration, and still places the question in a hospital stay,
        // where a probable diagnosis is coded as if established.
        assert_eq!(told("the discharge summary says probable pneumonia"), "probable pneumonia");
        let asks_pneumonia = |q: &str| Question::new(q, &[]).concepts.iter().any(|k| k.literal == [stem("pneumonia")]);
        assert!(asks_pneumonia("cough, the discharge summary says probable pneumonia"));
        assert!(!asks_pneumonia("cough, the office note says probable pneumonia"));
        // The sayer of what a record leaves unsaid goes; the unsaid clause stays for
        // `unsaid_apart`; a sayer with nothing after its verb is a word of the question.
        assert_eq!(told("dementia, doc didn't say what kind"), "dementia didn't say what kind");
        assert_eq!(told("as the doc wrote."), "as the doc wrote");
        assert_eq!(told("it says heart failure"), "heart failure");
        // The narrated question ranks the record's words, not a title that holds the narration.
        let titles = [(Modifier, "56", "Preoperative care only"), (Icd10Cm, "F32.A", "Depression, unspecified")];
        assert_eq!(order("provider only wrote depression", &titles)[0], "F32.A");
    }

    #[test]
    fn another_persons_condition_is_a_contact_or_exposure() {
        let read = |q: &str| contact_of_another(question_words(q)).into_iter().filter(|w| w != ",").collect::<Vec<_>>().join(" ");
        assert_eq!(read("coworker tested positive for covid"), "coworker tested positive for covid contact exposure");
        assert_eq!(read("my co-worker got diagnosed with flu"), "my co worker got diagnosed with flu contact exposure");
        assert_eq!(read("roommate's kid has strep"), "roommate's kid has strep contact exposure");
        // Said already; a blood relative's is family history; no condition told of the person.
        assert_eq!(read("wife has tb, pt exposed"), "wife has tb pt exposed");
        assert_eq!(read("mom had breast cancer"), "mom had breast cancer");
        assert_eq!(read("husband called, pt has fever"), "husband called pt has fever");
        let titles = [
            (Icd10Cm, "U07.1", "COVID-19"),
            (Icd10Cm, "Z20.822", "Contact with and (suspected) exposure to COVID-19"),
        ];
        assert_eq!(order("coworker tested positive for covid, no symptoms", &titles)[0], "Z20.822");
        assert_eq!(order("tested positive for covid, no symptoms", &titles)[0], "U07.1");
    }

    #[test]
    fn a_generic_head_alone_holds_no_part_of_a_named_condition() {
        let mut l = Lexicon::default();
        l.add_text(std::path::Path::new("t.tsv"), "uti\turinary tract infection\n").unwrap();
        let uti = ["UTI, site not stated".to_string()];
        let coxiella = ["Coxiella burnetii infection".to_string()];
        let fever = ["fever NOS".to_string()];
        let codes = [
            (Icd10Cm, "N39.0", "Urinary tract infection, site not specified", &uti[..]),
            (Icd10Cm, "A78", "Q fever", &coxiella[..]),
            (Icd10Cm, "R50.9", "Fever, unspecified", &fever[..]),
        ];
        let query = "uti with fever";
        // Q fever's "infection" is no third of a urinary tract infection.
        assert_eq!(first_named(&Question::new(query, &l.terms(query)), &codes), "N39.0");
    }

    #[test]
    fn what_a_record_leaves_unsaid_runs_through_a_list_and_stops_at_a_new_clause() {
        let dropped = |q: &str| unsaid_apart(question_words(q)).1.join(" ");
        assert_eq!(dropped("afib, doesnt say paroxysmal, persistent, or permanent. what do i code"), "paroxysmal , persistent , or permanent");
        assert_eq!(dropped("depression, no mention of major, single episode, or how bad"), "of major , 1 episode , or how bad");
        assert_eq!(dropped("dementia, didnt say what kind or how severe and she has no behavior problems"), "what kind or how severe");
        // Not a list: the next clause is a sentence of its own.
        assert_eq!(dropped("doesn't say which type, patient is stable, or so she says"), "which type");
        // "No type or cause", "stage never documented": the axes are unknown.
        let read = |q: &str| unstated_at(question_words(q)).0.join(" ");
        assert_eq!(read("anemia, no type or cause"), "anemia , type cause unspecified");
        assert_eq!(read("ckd, the stage was never documented"), "ckd , the stage unspecified");
        assert_eq!(read("no stage anywhere in the note"), "stage unspecified anywhere in the note");
    }

    #[test]
    fn a_title_that_names_what_the_question_negates_is_not_lifted_by_an_everyday_name() {
        let mut l = Lexicon::default();
        l.add_text(std::path::Path::new("t.tsv"), "htn\thypertension\nckd\tchronic kidney disease\n").unwrap();
        let everyday = ["hypertension with CKD stage 1 to 4".to_string(), "high blood pressure with chronic kidney disease".to_string()];
        let plain = ["chronic kidney disease".to_string()];
        let codes = [
            (Icd10Cm, "I12.9", "Hypertensive chronic kidney disease with stage 1 through stage 4 chronic kidney disease, or unspecified chronic kidney disease", &everyday[..]),
            (Icd10Cm, "N18.9", "Chronic kidney disease, unspecified", &plain[..]),
        ];
        let first = |query: &str| first_named(&Question::new(query, &l.terms(query)), &codes);
        assert_eq!(first("ckd, no htn"), "N18.9");
        // A word the question both names and negates is not only negated: "breast cancer ...
        // no cancer now" still asks about breast cancer.
        let q = Question::new("breast cancer years ago, no cancer now", &[]);
        assert!(q.concepts.iter().all(|k| Negated::of(&q, k) != Negated::Only));
    }

    #[test]
    fn a_code_the_question_names_is_no_amount() {
        let titles = [(Cpt, "99238", "Hospital discharge day, 30 min or less"), (Cpt, "99239", "Hospital discharge day, over 30 min")];
        assert_eq!(order("99217 replacement", &titles)[0], "99238", "99217 is no number of minutes");
        assert_eq!(order("discharge day, 45 min", &titles)[0], "99239");
    }

    #[test]
    fn a_modifier_s_not_is_a_qualifier_of_its_own() {
        let mut l = Lexicon::default();
        l.add_text(std::path::Path::new("t.tsv"), "radiologist reads\tprofessional component\nct\tcomputed tomography\n").unwrap();
        let titles = [(Modifier, "CT", "CT scanner not meeting the NEMA XR-29 standard"), (Modifier, "26", "Professional component")];
        assert_eq!(order_with(&l, "radiologist reads CT done on hospital-owned scanner, what mod", &titles)[0], "26");
        assert_eq!(order_with(&l, "modifier for a CT scanner not meeting the NEMA standard", &titles)[0], "CT");
    }

    #[test]
    fn what_the_question_negates_is_not_held_by_a_name_that_has_it() {
        let mut l = Lexicon::default();
        l.add_text(std::path::Path::new("t.tsv"), "flu\tinfluenza\n").unwrap();
        let swab = ["rapid flu swab read by eye".to_string()];
        let nos = ["Influenza NOS".to_string()];
        let codes = [
            (Cpt, "87804", "Rapid flu test", &swab[..]),
            (Icd10Cm, "J11.1", "Influenza due to unidentified influenza virus with other respiratory manifestations", &nos[..]),
        ];
        let first = |query: &str| first_named(&Question::new(query, &l.terms(query)), &codes);
        assert_eq!(first("the flu, no swab done"), "J11.1", "the test's name says swab; the question says none was done");
        assert_eq!(first("the flu, swab done"), "87804");
    }

    #[test]
    fn a_passage_about_a_code_ranks_below_it() {
        let l = lexicon();
        let about = ["G0438".to_string(), "G0439".to_string()];
        let cands = [
            Candidate { system: Guideline, code: None, title: "Medicare annual wellness visit (G0438, G0439)", names: &[], codes: &about, add_on: false, spelled: None, note: None },
            Candidate { system: Hcpcs, code: Some("G0438"), title: "Ppps, initial visit", names: &[], codes: &[], add_on: false, spelled: None, note: None },
        ];
        let top = |query: &str| rerank(&Question::new(query, &l.terms(query)), &cands)[0].0;
        assert_eq!(top("Medicare annual wellness visit, initial"), 1, "the code asked for");
        assert_eq!(top("guidelines for the Medicare annual wellness visit"), 0, "the rules asked for");
        // A question that names the system it asks a code of: that system's best code first,
        // though no code the passage is about is a candidate.
        let about = ["99406".to_string(), "Z72.0".to_string()];
        let cands = [
            Candidate { system: Guideline, code: None, title: "Tobacco cessation counseling — With an office visit", names: &[], codes: &about, add_on: false, spelled: None, note: None },
            Candidate { system: Icd10Cm, code: Some("R05.9"), title: "Cough, unspecified", names: &[], codes: &[], add_on: false, spelled: None, note: None },
        ];
        let top = |query: &str| rerank(&Question::new(query, &l.terms(query)), &cands)[0].0;
        assert_eq!(top("office visit for a cough, what dx"), 1);
        assert_eq!(top("office visit for a cough"), 0, "no system named: the passage holds more of it");
    }

    #[test]
    fn one_section_of_a_note_comes_before_the_codes_it_is_about_the_others_after_them() {
        let l = lexicon();
        let about = ["99202".to_string(), "99203".to_string()];
        let section = |title| Candidate { system: Guideline, code: None, title, names: &[], codes: &about, add_on: false, spelled: None, note: Some("levels") };
        let code = |code, title| Candidate { system: Cpt, code: Some(code), title, names: &[], codes: &[], add_on: false, spelled: None, note: None };
        let cands = [
            section("Choosing an office visit level"),
            section("Choosing an office visit level — By time"),
            code("99203", "Office visit, new patient, low MDM or 30+ min"),
            code("99202", "Office visit, new patient, straightforward MDM or 15+ min"),
        ];
        let query = "how do I choose the office visit level for a new patient";
        let got: Vec<usize> = rerank(&Question::new(query, &l.terms(query)), &cands).into_iter().map(|(i, _)| i).collect();
        assert_eq!(got, [2, 0, 3, 1]);
    }

    #[test]
    fn a_code_that_is_gone_answers_only_a_question_about_codes_that_are_gone() {
        let titles = [(Cpt, "99201", "Office visit, new patient, level 1, deleted 2021"), (Cpt, "99202", "Office visit, new patient, straightforward MDM or 15+ min")];
        assert_eq!(order("new patient office visit level since 2021", &titles)[0], "99202", "the year dates the deletion");
        assert_eq!(order("new patient office visit level 1", &titles)[0], "99202", "a current code, not one a coder must not copy");
        assert_eq!(order("the old level 1 new patient office visit", &titles)[0], "99201");
    }

    #[test]
    fn a_title_that_counts_the_thing_otherwise_contradicts_the_question() {
        let titles = [(Modifier, "QY", "Medical direction of one CRNA"), (Modifier, "QK", "Medical direction of 2 to 4 concurrent anesthesia cases")];
        let q = Question::new("anesthesiologist medically directing 3 crnas at once", &[]);
        assert_eq!(ordered(&q, &titles)[0], "QK");
        assert_eq!(order("medical direction of one crna", &titles)[0], "QY");
        // The thing counted is the word right after the number, in the title as in the question.
        let burns = [(Icd10Cm, "T31.21", "Burns involving 20-29% of body surface with 10-19% third degree burns"), (Icd10Cm, "T31.20", "Burns involving 20-29% of body surface with 0% to 9% third degree burns")];
        assert_eq!(order("25% of the body burned, 12% of the body third degree", &burns)[0], "T31.21");
        let diabetes = [(Icd10Cm, "E10.9", "Type 1 diabetes mellitus without complications"), (Icd10Cm, "E11.9", "Type 2 diabetes mellitus without complications")];
        assert_eq!(order("type 2 diabetes no complications", &diabetes)[0], "E11.9");
    }

    #[test]
    fn counts_and_the_named_system() {
        let got = order("chest x-ray two views", &[(Cpt, "71045", "Chest X-ray, 1 view"), (Cpt, "71046", "Chest X-ray, 2 views")]);
        assert_eq!(got[0], "71046");
        let got = order(
            "Medicare G code for the prolonged office visit",
            &[(Cpt, "99205", "Office visit, new patient, high MDM"), (Cpt, "99417", "Prolonged office visit, each 15 minutes"), (Hcpcs, "G2212", "Prolong outpt/office vis")],
        );
        assert_eq!(got[0], "G2212");
        let got = order("which modifier for the left side", &[(Icd10Cm, "M25.562", "Pain in left knee"), (Modifier, "LT", "Left side")]);
        assert_eq!(got[0], "LT");
    }

    #[test]
    fn everyday_codes_for_everyday_words() {
        // A visit with no setting named is the office visit.
        let visits = [(Cpt, "99348", "Home visit, established patient, low MDM or 30+ min"), (Cpt, "99213", "Office visit, established patient, low MDM or 20+ min")];
        assert_eq!(order("est pt visit, low MDM", &visits)[0], "99213");
        assert_eq!(order("home visit est pt low MDM", &visits)[0], "99348");
        // A quality data code reports a measure; it answers only a question about measures.
        let vaccine = [(Hcpcs, "G8864", "Pneumococcal vaccine admin"), (Hcpcs, "G0009", "Admin pneumococcal vaccine")];
        assert_eq!(order("pneumococcal vaccine admin", &vaccine)[0], "G0009");
        assert_eq!(order("quality measure: pneumococcal vaccine admin", &vaccine)[0], "G8864");
        // Medicare's own code for a service, when the question names Medicare.
        let psa = [(Cpt, "84153", "PSA, total"), (Hcpcs, "G0103", "Psa screening")];
        assert_eq!(order("PSA", &psa)[0], "84153");
        assert_eq!(order("medicare PSA", &psa)[0], "G0103");
        // A commercial payer's: the CPT code.
        let admin = [(Hcpcs, "G0010", "Admin hepatitis b vaccine"), (Cpt, "90471", "Vaccine admin, first shot")];
        assert_eq!(order("hep b vaccine admin", &admin)[0], "G0010");
        assert_eq!(order("hep b vaccine admin, commercial", &admin)[0], "90471");
        assert_eq!(order("hep b vaccine admin, private insurance", &admin)[0], "90471");
        // An expansion's own absence: "everything normal" is without abnormal findings.
        let exams = [(Icd10Cm, "Z00.01", "Encounter for general adult medical examination with abnormal findings"), (Icd10Cm, "Z00.00", "Encounter for general adult medical examination without abnormal findings")];
        let mut l = lexicon();
        l.add_text(std::path::Path::new("t.tsv"), "everything normal\twithout abnormal findings\n").unwrap();
        let q = "adult physical, everything normal";
        assert_eq!(ordered(&Question::new(q, &l.terms(q)), &exams)[0], "Z00.00");
        // What a supply is billed by is no qualifier.
        let lancets = [(Icd10Cm, "B66.2", "Dicroceliasis lancet"), (Hcpcs, "A4259", "Lancets per box")];
        assert_eq!(order("lancets", &lancets)[0], "A4259");
        assert!(is_quality_code("G9548") && is_quality_code("M1218") && !is_quality_code("G0438") && !is_quality_code("M0201") && !is_quality_code("G95é"));
        // "Uncomplicated" is the default's word.
        let asthma = [(Icd10Cm, "J45.998", "Other asthma"), (Icd10Cm, "J45.909", "Unspecified asthma, uncomplicated")];
        assert_eq!(order("asthma", &asthma)[0], "J45.909");
    }

    #[test]
    fn a_dose_says_less_than_the_drug() {
        let drugs = [(Hcpcs, "J2470", "Inj pantoprazole sodium 40mg"), (Hcpcs, "J1650", "Inj enoxaparin sodium")];
        assert_eq!(order("lovenox 40mg", &drugs)[0], "J1650");
        assert_eq!(order("lovenox 40 mg", &drugs)[0], "J1650");
        // A brand name no title holds is its generic name in full; the route is a detail.
        let infusions = [(Hcpcs, "J7070", "D5w infusion"), (Hcpcs, "J9271", "Inj pembrolizumab 1 mg")];
        assert_eq!(order("keytruda infusion", &infusions)[0], "J9271");
        // Between doses of one drug, the dose still decides.
        let doses = [(Hcpcs, "J7050", "Normal saline solution infus 250 cc"), (Hcpcs, "J7030", "Normal saline solution infus 1000 cc")];
        assert_eq!(order("normal saline 1000 cc", &doses)[0], "J7030");
    }

    #[test]
    fn hints() {
        let w = |s: &str| words(s);
        assert_eq!(system_hint(&w("ICD-10 code for cough")), Some(Icd10Cm));
        assert_eq!(system_hint(&w("diagnosis code for cough")), Some(Icd10Cm));
        assert_eq!(system_hint(&w("kid came in just for her shots, dx?")), Some(Icd10Cm));
        assert_eq!(system_hint(&w("screening colonoscopy found a polyp, what dx goes first")), Some(Icd10Cm));
        assert_eq!(system_hint(&w("dx of pneumonia, chest x-ray two views")), None);
        assert_eq!(system_hint(&w("troponins neg, sent home, final dx is just chest pain")), Some(Icd10Cm));
        assert_eq!(system_hint(&w("4 yo well check, found an ear infection. which well child dx")), Some(Icd10Cm));
        assert_eq!(system_hint(&w("CPT or HCPCS for a walker")), None);
        assert_eq!(system_hint(&w("video visit, CPT modifier")), Some(Modifier));
        // A modifier named by its code is what the question is about, not what it asks for.
        assert_eq!(system_hint(&w("bilateral screening mammogram, does it need modifier 50")), None);
        assert_eq!(system_hint(&w("what modifier on the knee injection")), Some(Modifier));
        assert_eq!(system_hint(&w("When do I need modifier 25?")), Some(Modifier));
        assert_eq!(system_hint(&w("patient came in for her chemo infusion, what code is listed first?")), Some(Icd10Cm));
        assert_eq!(system_hint(&w("covid positive w pneumonia which code first")), Some(Icd10Cm));
        assert_eq!(system_hint(&w("which CPT goes first on the claim")), Some(Cpt));
        assert_eq!(system_hint(&w("first visit with this doctor")), None);
        assert_eq!(system_hint(&w("modifier 59 or another modifier for a separate site")), Some(Modifier));
        assert_eq!(modifier_kind(&w("video visit, CPT modifier")), Some(true));
        assert_eq!(modifier_kind(&w("HCPCS modifiers for a video visit")), Some(false));
        assert_eq!(modifier_kind(&w("CPT code for a video visit")), None);
        let got = order("phone visit, audio only, CPT modifier", &[(Modifier, "FQ", "Audio-only telehealth"), (Modifier, "93", "Audio-only telehealth")]);
        assert_eq!(got[0], "93");
        assert_eq!(letter_hint(&w("J-code for ketorolac"), "J-code for ketorolac"), Some('J'));
        assert_eq!(letter_hint(&w("e codes"), "e codes"), None);
        let q = "he got a kidney transplant, is there a code to show that?";
        assert_eq!(letter_hint(&w(q), q), None);
        assert_eq!(letter_hint(&w("A code for a walker"), "A code for a walker"), Some('A'));
        assert_eq!(words("one hour of psychotherapy"), ["60", "minutes", "of", "psychotherapy"]);
        assert_eq!(words("DM w/o complications"), ["dm", "without", "complications"]);
    }

    #[test]
    fn a_follow_up_side_or_number_replaces_the_earlier_one() {
        let q = follow_up("right knee osteoarthritis", "oops, it's the left knee");
        assert!(!q.asked.contains(&stem("right")) && q.asked.contains(&stem("left")) && q.asked.contains(&stem("osteoarthritis")));
        assert!(!q.concepts.iter().any(|c| c.literal == [stem("right")]));
        let q = follow_up("pressure ulcer stage 3", "now stage 4");
        assert_eq!(q.numbers, [4.0]);
        assert!(!q.sequence.contains(&"3".to_string()) && !q.asked.contains("3"));
        let q = follow_up("pressure ulcer stage 3, right heel", "and the stage is unknown?");
        assert_eq!(q.numbers, [3.0]);
        assert!(q.asked.contains(&stem("right")));
        // A number next to another word is another number.
        let q = follow_up("type 2 diabetes with chronic kidney disease", "and it's stage 3?");
        assert!(q.numbers.contains(&2.0) && q.numbers.contains(&3.0) && q.asked.contains("2"));
        let knees = [(Icd10Cm, "M17.11", "Unilateral primary osteoarthritis, right knee"), (Icd10Cm, "M17.12", "Unilateral primary osteoarthritis, left knee")];
        assert_eq!(order_after("right knee osteoarthritis", "oops, it's the left knee", &knees)[0], "M17.12");
        let ulcers = [(Icd10Cm, "L89.153", "Pressure ulcer of sacral region, stage 3"), (Icd10Cm, "L89.154", "Pressure ulcer of sacral region, stage 4")];
        assert_eq!(order_after("pressure ulcer of sacral region stage 3", "it got worse, now stage 4", &ulcers)[0], "L89.154");
        // Without a side or number of its own, the earlier one holds.
        assert_eq!(order_after("right knee osteoarthritis", "and for a follow-up visit?", &knees)[0], "M17.11");
        // "The one with complications" is not type 1.
        let diabetes = [(Icd10Cm, "E10.8", "Type 1 diabetes mellitus with unspecified complications"), (Icd10Cm, "E11.8", "Type 2 diabetes mellitus with unspecified complications")];
        assert_eq!(order_after("type 2 diabetes without complications", "the one with complications?", &diabetes)[0], "E11.8");
    }

    #[test]
    fn a_title_that_leaves_all_unspecified_leaves_unspecified_what_the_question_says_is_unknown() {
        let named = ["nutritional anemia, type not specified".to_string()];
        let codes = [(Icd10Cm, "D53.9", "Nutritional anemia, unspecified", &named[..]), (Icd10Cm, "D64.9", "Anemia, unspecified", &[][..])];
        assert_eq!(first_named(&Question::new("pt anemic, type not specified", &[]), &codes), "D64.9");
        // Not where a candidate leaves it unspecified by name.
        let codes = [(Icd10Cm, "N39.0", "Urinary tract infection, site not specified", &[][..]), (Icd10Cm, "O23.40", "Unspecified infection of urinary tract in pregnancy", &[][..])];
        assert_eq!(first_named(&Question::new("urinary tract infection, site not specified", &[]), &codes), "N39.0");
    }

    #[test]
    fn f_u_is_a_follow_up() {
        assert_eq!(words("No f/u rec image study"), ["no", "follow", "up", "rec", "image", "study"]);
        assert_eq!(question_words("limited f/u echo?"), ["limited", "follow", "up", "echo", ","]);
        assert_eq!(words("self/use"), ["self", "use"]);
        // The lexicon's "f/u" is found in the words that spell it.
        let mut l = Lexicon::default();
        l.add_text(std::path::Path::new("t.tsv"), "f/u\tsubsequent encounter\n").unwrap();
        let q = Question::new("f/u visit", &l.terms("f/u visit"));
        assert!(q.concepts.iter().any(|c| c.literal == [stem("follow"), stem("up")] && c.expansions == [vec![stem("subsequent"), stem("encounter")]]), "{:?}", q.concepts);
    }

    #[test]
    fn a_follow_up_that_names_a_later_visit_replaces_the_first() {
        let q = follow_up("PT initial eval, low complexity", "re-eval?");
        assert!(!q.asked.contains(&stem("initial")) && q.asked.contains(&stem("eval")));
        let q = follow_up("inpatient admit visit, high MDM", "and the next day's visit?");
        assert!(!q.asked.contains(&stem("admit")));
        let visits = [(Cpt, "99223", "Hospital admit visit, high MDM"), (Cpt, "99233", "Hospital next day visit, high MDM")];
        assert_eq!(order_after("inpatient admit visit, high MDM", "and the next day's visit?", &visits)[0], "99233");
        // One that names the first visit again keeps it.
        assert!(follow_up("PT initial eval", "initial eval, high complexity?").asked.contains(&stem("initial")));
    }

    #[test]
    fn one_that_points_to_a_thing_is_no_count() {
        assert_eq!(question_words("AWV, she had one last year"), ["awv", ",", "she", "had", "last", "year"]);
        assert_eq!(question_words("the one with contrast"), ["the", "with", "contrast"]);
        assert_eq!(question_words("which one?"), ["which", ","]);
        // "day 12" is twelve days in, as "12 days" is.
        assert_eq!(question_words("seen on day 12 after dc"), ["seen", "on", "17280", "minutes", "after", "dc"]);
        let tcm = [(Cpt, "99495", "TCM, moderate MDM, seen within 14 days"), (Cpt, "99496", "TCM, high MDM, seen within 7 days")];
        assert_eq!(order("tcm, f2f visit on day 12 after dc", &tcm)[0], "99495");
        assert_eq!(question_words("one view, level one, synvisc one knee"), ["1", "view", ",", "level", "1", ",", "synvisc", "1", "knee"]);
        // In a title it is a count or a name.
        assert_eq!(words("Hyaluronan, synvisc-one"), ["hyaluronan", ",", "synvisc", "1"]);
        // A well visit for an infant under one year is not what "had one last year" asks for.
        let visits = [(Cpt, "99391", "Well visit, established patient, under 1 year"), (Hcpcs, "G0439", "Annual wellness visit, subsequent")];
        assert_eq!(order("annual wellness visit, had one last year", &visits)[0], "G0439");
    }
}

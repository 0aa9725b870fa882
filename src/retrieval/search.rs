//! The retriever: exact code hits first, then hybrid (dense + BM25, fused in the store).

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::rerank::{case_to_search, rerank, rerank_ranked, stem, Candidate, Question};
use super::{analyze, sequence, Analysis, Lexicon};
use crate::codes::CodeSystem;
use crate::config::SearchConfig;
use crate::embed::{Bm25Encoder, EmbedError, Embedder};
use crate::ingest::chunk::{note_of_key, ADDON_LINE, DELETED_LINE};
use crate::store::{ChunkPayload, StoreError, StoreHit, VectorQuery, VectorStore};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SearchMode {
    #[default]
    Hybrid,
    Dense,
    Bm25,
}

impl SearchRequest {
    /// The text searched: the question, after the one it continues when it is a follow-up.
    pub fn text(&self) -> String {
        match &self.context {
            Some(earlier) => format!("{earlier} {}", self.query),
            None => self.query.clone(),
        }
    }
}

impl std::str::FromStr for SearchMode {
    type Err = RetrievalError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "hybrid" => Ok(Self::Hybrid),
            "dense" => Ok(Self::Dense),
            "bm25" | "sparse" => Ok(Self::Bm25),
            other => Err(RetrievalError::BadMode(other.to_string())),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RetrievalError {
    #[error("the query is empty")]
    EmptyQuery,
    #[error("the query is {got} characters long; the limit is {max}")]
    QueryTooLong { got: usize, max: usize },
    #[error("limit must be between 1 and {max}")]
    BadLimit { max: usize },
    #[error("unknown search mode {0:?}; expected hybrid, dense or bm25")]
    BadMode(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Embed(#[from] EmbedError),
}

#[derive(Debug, Clone, Default)]
pub struct SearchRequest {
    pub query: String,
    /// The question this one continues, when it is a follow-up ("and for type 1?"): both are
    /// searched, and the rank-1 stage reads the new words over the earlier ones.
    pub context: Option<String>,
    /// The codes the conversation was about (the earlier answer's first), for a follow-up that
    /// names none: they and their neighbours are candidates, as codes the earlier question named.
    pub subjects: Vec<String>,
    /// The follow-up refers back to the [`subjects`](Self::subjects) ("is it an add-on?"):
    /// they come first, as codes it named, unless it asks for another code system ("what
    /// modifier do I append to it?").
    pub pin_subjects: bool,
    pub limit: Option<usize>,
    pub system: Option<CodeSystem>,
    pub mode: SearchMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MatchKind {
    /// The query named this code.
    Exact,
    /// A code a named code points to: an add-on's primary, a deleted code's replacement.
    Linked,
    /// Found by vector search (in the request's mode).
    Search,
}

#[derive(Debug, Clone, Serialize)]
pub struct SearchHit {
    pub system: CodeSystem,
    pub code: Option<String>,
    pub codes: Vec<String>,
    pub title: String,
    pub snippet: String,
    pub score: f32,
    pub source: String,
    /// The chunk's stable key, e.g. `code:HCPCS:J1885`.
    pub id: String,
    #[serde(rename = "match")]
    pub match_kind: MatchKind,
    /// The full chunk text, for answer generation; not sent by the search API.
    #[serde(skip)]
    pub text: String,
}

const SNIPPET_CHARS: usize = 240;
/// The codes that differ from `code` in the last character only, in order: another seventh
/// character (encounter), side or level of an ICD-10-CM code, the next CPT or HCPCS codes of
/// a family ("with contrast" after 74176).
fn neighbours(code: &str) -> Vec<String> {
    let Some(last) = code.chars().last().filter(|c| c.is_ascii_alphanumeric() && code.is_ascii() && code.len() >= 5) else {
        return vec![];
    };
    let stem = &code[..code.len() - 1];
    ('0'..='9').chain('A'..='Z').filter(|&c| c != last).map(|c| format!("{stem}{c}")).collect()
}

/// The codes `hits` point to (primaries, replacements), up to [`LINKS_PER_CODE`] each, none of
/// `known`: an add-on may have hundreds of primaries, so first the ones its passage names, in
/// the order it names them (its description comes before any list).
fn links_of<'h>(hits: impl IntoIterator<Item = &'h StoreHit>, known: &[String], every: impl Fn(&StoreHit) -> bool) -> Vec<String> {
    let mut pointed: Vec<String> = vec![];
    for hit in hits {
        let own = hit.payload.code.as_deref();
        let mut links: Vec<&String> = hit.payload.codes.iter().filter(|c| Some(c.as_str()) != own && !known.contains(c)).collect();
        links.sort_by_key(|c| hit.payload.text.find(c.as_str()).unwrap_or(usize::MAX));
        // Every replacement of a deleted code the question describes or asks to replace: they are
        // few, and its words choose among them (99441's eight phone visits by patient and level).
        let take = if every(hit) { links.len() } else { LINKS_PER_CODE };
        for code in links.into_iter().take(take) {
            if !pointed.contains(code) {
                pointed.push(code.clone());
            }
        }
    }
    pointed
}

/// Codes taken from each named code's links (primaries, replacements).
const LINKS_PER_CODE: usize = 3;

/// How many points that link to the named codes are read to find their add-ons (a code may be
/// the primary of dozens, and the replacement of deleted codes too).
const ADD_ON_SCAN: usize = 200;

/// The chunk is an add-on code's: its header flag, or (in a full payload stored before the flag
/// existed) its add-on line.
fn is_add_on(payload: &ChunkPayload) -> bool {
    payload.addon || payload.text.contains(ADDON_LINE)
}

/// The chunk is a deleted code's: its deletion line, or in a search's header, which has no text,
/// its title that ends with the deletion and its year ("Observation discharge, deleted 2023",
/// "… lowest level (deleted)").
fn is_deleted(payload: &ChunkPayload) -> bool {
    if !payload.text.is_empty() {
        return payload.text.contains(DELETED_LINE);
    }
    let lower = payload.title.to_lowercase();
    lower.trim_end_matches(|c: char| c.is_ascii_digit() || c == ')' || c.is_whitespace()).ends_with("deleted")
}

/// The question in lower case and its words (runs of letters and digits), split once per search
/// for the checks below.
struct Said {
    lower: String,
    words: Vec<String>,
}

impl Said {
    fn new(query: &str) -> Self {
        Said { lower: query.to_lowercase(), words: analyze::words_of(query) }
    }

    fn words(&self) -> impl Iterator<Item = &str> {
        self.words.iter().map(String::as_str)
    }

    fn has(&self, word: &str) -> bool {
        self.words().any(|w| w == word)
    }
}

/// How many of the best hits are read for a deleted code the question describes and asks to
/// replace.
const REPLACED_WINDOW: usize = 3;

/// The codes a question asks for when it asks what its named codes (`exact`) point to rather
/// than about them: the replacements of a deleted code it asks to replace or whose service it
/// describes (`replaced`: a deleted code is not billed), an add-on's primaries, or the add-ons
/// of a named code, named or `linked` ("what add-on goes with 99291"; not "is 99292 an
/// add-on").
fn asked_links(said: &Said, exact: &[StoreHit], linked: &[StoreHit], replaced: impl Fn(&StoreHit) -> bool) -> Vec<String> {
    let lower = &said.lower;
    let primary = said.words().any(|w| matches!(w, "primary" | "primaries"));
    let mut answers: Vec<String> = vec![];
    for h in exact {
        let own = h.payload.code.as_deref();
        if replaced(h) || (primary && is_add_on(&h.payload)) {
            answers.extend(h.payload.codes.iter().filter(|c| Some(c.as_str()) != own).cloned());
        }
    }
    // "Is 90472 an add-on?" (or, in a follow-up, "is it an add-on?") asks about the code;
    // "what add-on goes with 37252" for its add-ons, though 37252 is an add-on of other codes.
    let names: Vec<String> = exact.iter().filter_map(|h| h.payload.code.as_deref()).map(str::to_lowercase).chain(["it", "this", "that"].map(String::from)).collect();
    let about_the_code = names.iter().any(|name| {
        lower.match_indices(name.as_str()).any(|(at, _)| {
            let word_start = lower[..at].chars().next_back().is_none_or(|c| !c.is_alphanumeric());
            let after = lower[at + name.len()..].trim_start();
            word_start && ["an add", "a add", "add"].iter().any(|p| after.starts_with(p))
        })
    });
    if asks_for_add_ons(said) && !about_the_code {
        let named: Vec<&str> = exact.iter().filter_map(|h| h.payload.code.as_deref()).collect();
        let add_on_of_named = |h: &&StoreHit| {
            let own = h.payload.code.as_deref();
            is_add_on(&h.payload) && h.payload.codes.iter().any(|c| Some(c.as_str()) != own && named.contains(&c.as_str()))
        };
        let add_ons = exact.iter().chain(linked).filter(add_on_of_named);
        answers.extend(add_ons.filter_map(|h| h.payload.code.clone()));
    }
    answers
}

/// The question describes the service beside a deleted code it names, in words of its title
/// ("99219 no longer valid? moderate complexity obs admit"): it is about billing that service
/// now, unless it asks what became of the code ("still valid?", "what happened to", "when was
/// it deleted"). `searched` is the question with its expansions ("obs" as "observation").
fn describes_deleted(said: &Said, searched: &str, h: &StoreHit) -> bool {
    if !is_deleted(&h.payload) {
        return false;
    }
    let content = |text: &str| -> Vec<String> {
        let lower = text.to_lowercase();
        lower.split(|c: char| !c.is_alphanumeric()).filter(|w| w.len() >= 3 && !w.chars().any(|c| c.is_ascii_digit()) && *w != "deleted").map(stem).collect()
    };
    if asks_status(said) {
        return false;
    }
    let asked = content(searched);
    content(&h.payload.title).iter().any(|w| asked.contains(w))
}

/// The question asks what to bill in place of a code ("what replaced", "instead of", "what
/// now", "what do I use"), or says the code is gone ("it's deleted", "no longer works", "got
/// dropped") without asking what became of it ("when was 99441 deleted", "is it still valid").
fn asks_replacement(said: &Said) -> bool {
    let gone = said.words().any(|w| matches!(w, "deleted" | "longer" | "anymore" | "retired" | "dropped" | "removed" | "gone" | "discontinued"));
    names_replacement(said) || (gone && !asks_status(said))
}

/// The question's words ask what to bill in place of a code ("what replaced", "instead", "what
/// now", "what do I use"), which a question that only says a code is gone ("the old level 1
/// visit that got deleted") does not: it may ask for that code.
fn names_replacement(said: &Said) -> bool {
    said.words().any(|w| w.starts_with("replac") || matches!(w, "instead" | "now" | "successor" | "use"))
}

/// The question asks what became of a code ("still valid?", "what happened to", "when was it
/// deleted"), not what to bill instead.
fn asks_status(said: &Said) -> bool {
    said.words().any(|w| matches!(w, "still" | "happened" | "when" | "year"))
}

/// The question asks for more than one code: "codes", or "code" twice ("the underdosing code
/// and the noncompliance code").
fn asks_for_several_codes(said: &Said) -> bool {
    said.has("codes") || said.words().filter(|w| *w == "code").count() >= 2
}

/// The add-on of the first of `primaries` that has one among `add_ons`, moved (or put) right
/// after that primary in `found`, with its score.
fn after_its_primary(found: &mut Vec<StoreHit>, primaries: &[String], add_ons: &[StoreHit]) {
    let pick = primaries.iter().find_map(|p| add_ons.iter().find(|a| a.payload.codes.contains(p)).map(|a| (p, a)));
    if let Some((primary, add_on)) = pick {
        found.retain(|h| h.payload.key != add_on.payload.key);
        let after = found.iter().position(|h| h.payload.code.as_ref() == Some(primary)).map_or(found.len(), |at| at + 1);
        let score = found.get(after.saturating_sub(1)).map_or(0.0, |h| h.score);
        found.insert(after, StoreHit { score, ..add_on.clone() });
    }
}

/// The question says "both" ("both IM", "both knees").
fn mentions_both(said: &Said) -> bool {
    said.has("both")
}

/// Where the code that answers what the best one left goes (second), and how many hits of its
/// search are read.
const COMPANION_SLOT: usize = 1;
const COMPANION_DEPTH: usize = 10;

/// The question asks about add-on codes: names them, or asks what to add to a service ("what
/// do I add to 77067"; not "do I add them together").
fn asks_for_add_ons(said: &Said) -> bool {
    ["add-on", "add on", "addon"].iter().any(|w| said.lower.contains(w)) || said.words.windows(2).any(|p| p[0] == "add" && matches!(p[1].as_str(), "to" | "with" | "onto"))
}

/// The add-ons among `hits` (points linking to the `named` codes), up to [`LINKS_PER_CODE`] per
/// named code, those with the fewest primaries first (99292 belongs to 99291 alone; G2211 to
/// every office visit), then in code order.
fn add_ons_of(mut hits: Vec<StoreHit>, named: &[String], system: Option<CodeSystem>) -> Vec<StoreHit> {
    hits.retain(|h| is_add_on(&h.payload) && system.is_none_or(|s| h.payload.system == s));
    hits.sort_by(|a, b| a.payload.codes.len().cmp(&b.payload.codes.len()).then_with(|| a.payload.code.cmp(&b.payload.code)));
    let mut kept: Vec<StoreHit> = vec![];
    for code in named {
        let mine: Vec<StoreHit> = hits
            .iter()
            .filter(|h| h.payload.codes.contains(code) && !kept.iter().any(|k| k.payload.key == h.payload.key))
            .take(LINKS_PER_CODE)
            .cloned()
            .collect();
        kept.extend(mine);
    }
    kept
}

/// The first hits whose notes may order them ([`sequence`]).
const SEQUENCE_WINDOW: usize = 10;

/// Fused candidates the rank-1 stage re-orders.
pub const RERANK_DEPTH: usize = 50;
/// The HCPCS Level II codes a question that names Medicare adds to the candidates.
const MEDICARE_DEPTH: usize = 20;
/// The modifiers a question that tells a modifier's situation adds to the candidates.
const MODIFIER_DEPTH: usize = 3;

fn snippet(text: &str) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= SNIPPET_CHARS {
        return flat;
    }
    let cut: String = flat.chars().take(SNIPPET_CHARS).collect();
    let cut = cut.rsplit_once(' ').map(|(a, _)| a).unwrap_or(&cut);
    format!("{cut}…")
}

impl SearchHit {
    fn from_store(hit: StoreHit, match_kind: MatchKind) -> Self {
        let p = hit.payload;
        Self {
            system: p.system,
            code: p.code,
            codes: p.codes,
            title: p.title,
            snippet: snippet(&p.text),
            score: hit.score,
            source: p.source,
            id: p.key,
            match_kind,
            text: p.text,
        }
    }
}

#[derive(Clone)]
pub struct Retriever {
    store: Arc<dyn VectorStore>,
    embedder: Arc<dyn Embedder>,
    bm25: Arc<Bm25Encoder>,
    lexicon: Arc<Lexicon>,
    config: SearchConfig,
}

impl Retriever {
    pub fn new(
        store: Arc<dyn VectorStore>,
        embedder: Arc<dyn Embedder>,
        lexicon: Arc<Lexicon>,
        config: SearchConfig,
    ) -> Self {
        // The BM25 average length only weights documents; queries encode the same whatever it is.
        Self { store, embedder, bm25: Arc::new(Bm25Encoder::new(1.0)), lexicon, config }
    }

    /// Two codes among the first hits that the tabular orders ("Use additional code (B95-B97)"
    /// on N39.0, "Code first (U07.1)" on J12.82) put in its order, when the question asks which
    /// goes first, or when the later answers what the earlier leaves unanswered and the earlier
    /// is never listed first ("e coli uti": the infection, then its organism; "broke my wrist
    /// falling off a ladder": the fracture, then the fall) or its own note says to code the
    /// later first ("heart failure, unspecified, due to hypertension": I11.0, then I50.9).
    /// `found` holds full payloads.
    fn in_tabular_order(&self, question: &Question, said: &Said, found: &mut Vec<StoreHit>) {
        let window = found.len().min(SEQUENCE_WINDOW);
        let asks_order = analyze::asks_for_order(&said.words);
        // An external cause asked for stays where the question put it.
        let asks_cause = analyze::asks_external_cause(&said.words);
        let order = {
            let hits = &found[..window];
            // Only the best hit's adverse effect (or underdosing) goes after the condition.
            let noted: Vec<sequence::Noted> = hits
                .iter()
                .enumerate()
                .map(|(i, h)| sequence::Noted::new(h.payload.system, h.payload.code.as_deref().unwrap_or_default(), &h.payload.title, &h.payload.text, i == 0))
                .collect();
            // What each leaves unanswered, read only for a pair the tabular orders.
            let left: Vec<std::cell::OnceCell<Vec<String>>> = hits.iter().map(|_| std::cell::OnceCell::new()).collect();
            let left_by = |i: usize| left[i].get_or_init(|| question.not_wholly_answered(&self.candidate(&hits[i])));
            sequence::in_tabular_order(&noted, |earlier, later| {
                let (h, code) = (&hits[earlier].payload, hits[earlier].payload.code.as_deref().unwrap_or_default());
                !(asks_cause && sequence::is_external_cause(h.system, code))
                    && (asks_order
                        || ((sequence::never_first(h.system, code, &h.title) || sequence::says_code_first(&noted[later], &noted[earlier]))
                            && left_by(earlier).iter().any(|w| !left_by(later).contains(w))
                            && !question.names_what_is_negated(&self.candidate(&hits[later]))))
            })
        };
        let mut slots: Vec<Option<StoreHit>> = found.drain(..window).map(Some).collect();
        let ordered: Vec<StoreHit> = order.into_iter().filter_map(|i| slots[i].take()).collect();
        found.splice(0..0, ordered);
    }

    /// A hit as the rank-1 stage reads it.
    fn candidate<'h>(&self, h: &'h StoreHit) -> Candidate<'h> {
        Candidate {
            system: h.payload.system,
            code: h.payload.code.as_deref(),
            title: &h.payload.title,
            names: &h.payload.names,
            codes: &h.payload.codes,
            add_on: is_add_on(&h.payload),
            // Our CPT titles write acronyms ("TEE"); the official titles of the other systems
            // spell what they mean.
            spelled: match h.payload.system {
                CodeSystem::Cpt => self.lexicon.spell_out(&h.payload.title),
                _ => None,
            },
            note: note_of_key(&h.payload.key),
        }
    }

    pub fn lexicon(&self) -> &Lexicon {
        &self.lexicon
    }

    /// Checks a request before any work, so bad input costs nothing.
    pub fn validate(&self, request: &SearchRequest) -> Result<usize, RetrievalError> {
        let chars = request.query.chars().count();
        if request.query.trim().is_empty() {
            return Err(RetrievalError::EmptyQuery);
        }
        if chars > self.config.max_query_chars {
            return Err(RetrievalError::QueryTooLong { got: chars, max: self.config.max_query_chars });
        }
        let limit = request.limit.unwrap_or(self.config.default_limit);
        if limit == 0 || limit > self.config.max_limit {
            return Err(RetrievalError::BadLimit { max: self.config.max_limit });
        }
        Ok(limit)
    }

    /// The records of `codes`, with no store call when there are none.
    async fn lookup(&self, codes: &[String], system: Option<CodeSystem>) -> Result<Vec<StoreHit>, StoreError> {
        match codes.is_empty() {
            true => Ok(vec![]),
            false => self.store.lookup_codes(codes, system).await,
        }
    }

    pub fn analyze(&self, query: &str) -> Analysis {
        analyze(query, &self.lexicon)
    }

    pub async fn search(&self, request: &SearchRequest) -> Result<Vec<SearchHit>, RetrievalError> {
        let limit = self.validate(request)?;
        let analysis = self.analyze(&request.text());
        // A follow-up that names no code of its own is about the codes of the question it
        // continues ("what about the subsequent encounter?" after S72.001A): they and their
        // neighbours are what its words choose between, not answers pinned first.
        let (pinned, subjects) = match &request.context {
            Some(_) if analyze::code_candidates(&request.query).is_empty() => {
                let mut about = analysis.codes.clone();
                about.extend(request.subjects.iter().filter(|c| !analysis.codes.contains(c)).cloned());
                match request.pin_subjects {
                    true => (about, vec![]),
                    false => (vec![], about),
                }
            }
            _ => (analysis.codes.clone(), vec![]),
        };
        // A follow-up that asks, in words of its own, for another code system than the question
        // it continues ("it was the right eye, what do I append" after a cataract surgery) is
        // searched by its own words: the earlier question named the procedure, not the
        // modifier. The rank-1 stage reads both, the follow-up's words counting twice.
        // So is one that says the record names only what it names ("what if the note only says
        // migraine" after migraine with aura).
        let mut switching = false;
        let mut question = match &request.context {
            Some(earlier) => {
                let own = Question::new(&request.query, &self.lexicon.terms(&request.query));
                let before = Question::new(earlier, &self.lexicon.terms(earlier));
                switching = own.asks_another_system_than(&before) || own.says_only();
                own.continuing(before)
            }
            None => Question::new(&request.query, &analysis.terms),
        };
        // A question that names one code system is answered from it (and the guidelines), and
        // the words that name it are then not searched for.
        let rerank_on = self.config.rerank && !question.is_empty();
        let systems = match (request.system, question.system) {
            (Some(s), _) => vec![s],
            (None, Some(s)) if rerank_on && !question.rules => vec![s, CodeSystem::Guideline],
            _ => vec![],
        };
        let asked_systems = systems.clone();
        let of_asked_system = |h: &StoreHit| asked_systems.is_empty() || asked_systems.contains(&h.payload.system);
        let own_words = switching.then(|| self.analyze(&request.query));
        // What the question says its record leaves unsaid is not searched for.
        let said = case_to_search(&if switching { request.query.clone() } else { request.text() }).map(|text| self.analyze(&text));
        let words = said.as_ref().or(own_words.as_ref()).unwrap_or(&analysis);
        let searched = match systems.is_empty() {
            true => &words.expanded,
            false => &words.expanded_unnamed,
        };
        let exact = self.lookup(&pinned, request.system);
        let dense = async {
            match request.mode {
                SearchMode::Bm25 => Ok(None),
                _ => self.embedder.embed_one(searched).await.map(Some),
            }
        };
        let (exact, dense) = tokio::join!(exact, dense);
        let mut exact = exact?;
        // "It" is the earlier answer's codes, but a question for another code system is not
        // answered by them, nor by what they point to.
        let other_system = request.pin_subjects && request.context.is_some() && !asked_systems.is_empty();
        if other_system {
            exact.retain(of_asked_system);
        }
        // Keep the order in which the query named the codes.
        exact.sort_by_key(|h| {
            let code = h.payload.code.clone().unwrap_or_default();
            analysis.codes.iter().position(|c| *c == code).unwrap_or(usize::MAX)
        });
        // The codes the named codes point to (an add-on's primaries, a deleted code's
        // replacements) come right after them: "what replaced 75946" asks for 37253.
        // A deleted code whose replacement is asked for, or whose service the question describes:
        // all its replacements are candidates, in the order the question's words put them.
        let said = Said::new(&request.query);
        let asks_add_ons = asks_for_add_ons(&said);
        let replacement = asks_replacement(&said);
        let replaced = |h: &StoreHit| (replacement && is_deleted(&h.payload)) || describes_deleted(&said, &analysis.expanded, h);
        let pointed = links_of(&exact, &analysis.codes, replaced);
        // A named code the question sets aside ("Medicare's prolonged code, not 99417") is
        // not what it asks about, nor are the codes only it points to (99417's primaries).
        let mut set_aside = analyze::set_aside_codes(&request.query);
        if !set_aside.is_empty() {
            let kept = exact.iter().filter(|h| !h.payload.code.as_ref().is_some_and(|c| set_aside.contains(c)));
            let pointed_by_kept = links_of(kept, &analysis.codes, replaced);
            set_aside.extend(pointed.iter().filter(|c| !pointed_by_kept.contains(c)).cloned());
        }
        let sparse = match request.mode {
            SearchMode::Dense => None,
            _ => Some(self.bm25.query(searched)),
        };
        let query = VectorQuery {
            dense: dense?,
            sparse,
            systems,
            limit: limit.max(RERANK_DEPTH) + exact.len() + pointed.len(),
            prefetch: self.config.prefetch,
            rrf_k: self.config.rrf_k,
            headers_only: true,
        };
        // A question about add-ons ("what add-on goes with 99291") also gets the add-ons of the
        // codes it names, which point to them rather than the other way round.
        let add_ons = async {
            match asks_add_ons && !pinned.is_empty() {
                true => self.store.linking_to(&pinned, ADD_ON_SCAN).await,
                false => Ok(vec![]),
            }
        };
        // Medicare bills some services by codes of its own (G2212 for a prolonged office visit),
        // whose terse HCPCS descriptors lose their place in the fused pool to the other systems'
        // wordier titles: a question that names Medicare and no code system also searches HCPCS
        // Level II, so that those codes are candidates the rank-1 stage can prefer.
        let medicare = async {
            match rerank_on && question.medicare && query.systems.is_empty() {
                true => self.store.search(&VectorQuery { systems: vec![CodeSystem::Hcpcs], limit: MEDICARE_DEPTH, ..query.clone() }).await,
                false => Ok(vec![]),
            }
        };
        // A question that tells the situation a modifier is for, without asking for a code system
        // ("did both knees same session, injection"), may be asking for that modifier, whose short
        // title loses its place in the fused pool to the procedures and diagnoses the question
        // also names: the modifiers that wording finds are candidates too, which the rank-1
        // stage weighs against the rest.
        let wording = self.lexicon.modifier_wording(&analysis.terms);
        let modifiers = async {
            match rerank_on && !wording.is_empty() && query.systems.is_empty() {
                true => {
                    let sparse = Some(self.bm25.query(&wording.join(" ")));
                    self.store.search(&VectorQuery { dense: None, sparse, systems: vec![CodeSystem::Modifier], limit: MODIFIER_DEPTH, ..query.clone() }).await
                }
                false => Ok(vec![]),
            }
        };
        // The linked codes and a follow-up's subjects are looked up while the hybrid search runs.
        let mut family: Vec<String> = subjects.iter().cloned().chain(subjects.iter().flat_map(|c| neighbours(c))).collect();
        let (found, linked, family_hits, add_ons, medicare, modifiers) = tokio::join!(
            self.store.search(&query),
            self.lookup(&pointed, request.system),
            self.lookup(&family, request.system),
            add_ons,
            medicare,
            modifiers
        );
        let (mut found, mut linked) = (found?, linked?);
        linked.extend(add_ons_of(add_ons?, &pinned, request.system));
        let mut family_hits = family_hits?;
        // What the subjects point to ("and the replacement?"), looked up once they are known.
        let subject_hits: Vec<StoreHit> = family_hits.iter().filter(|h| h.payload.code.as_ref().is_some_and(|c| subjects.contains(c))).cloned().collect();
        let subject_links = links_of(&subject_hits, &family, |_| false);
        family_hits.extend(self.lookup(&subject_links, request.system).await?);
        family.splice(subjects.len()..subjects.len(), subject_links);
        // The subjects first, then what they point to, then their neighbours in code order,
        // then what the search found.
        family_hits.sort_by_key(|h| family.iter().position(|c| Some(c.as_str()) == h.payload.code.as_deref()).unwrap_or(usize::MAX));
        family_hits.dedup_by(|a, b| a.payload.key == b.payload.key);
        found.retain(|h| !family_hits.iter().any(|x| x.payload.key == h.payload.key));
        // Naming a code says its title: a neighbour's words that the subject shares (its side,
        // its site) are asked, not extra.
        for h in &subject_hits {
            question.also_asked(&h.payload.title);
        }
        // A follow-up that names a code system ("modifier for the left knee?") is answered
        // from it: the earlier code's family of another system is no candidate.
        family_hits.retain(of_asked_system);
        family_hits.append(&mut found);
        let mut found = family_hits;
        linked.retain(|h| !exact.iter().any(|x| x.payload.key == h.payload.key));
        if other_system {
            linked.retain(of_asked_system);
        }
        // What the named codes point to in the order they point to it, then their add-ons.
        linked.sort_by_key(|h| pointed.iter().position(|c| Some(c.as_str()) == h.payload.code.as_deref()).unwrap_or(usize::MAX));
        let mut seen = std::collections::HashSet::new();
        linked.retain(|h| seen.insert(h.payload.key.clone()));
        let named = exact.len() + linked.len();
        found.retain(|h| !exact.iter().chain(&linked).any(|x| x.payload.key == h.payload.key));
        found.truncate(RERANK_DEPTH.max(limit));
        // Each keeps its rank in its own search (HCPCS Level II codes, modifiers), which the fused
        // rank's prior reads.
        let mut ranks: Vec<usize> = (0..found.len()).collect();
        for (at, h) in medicare?.into_iter().enumerate().chain(modifiers?.into_iter().enumerate()) {
            if !found.iter().chain(&exact).chain(&linked).any(|x| x.payload.key == h.payload.key) {
                found.push(h);
                ranks.push(at);
            }
        }
        if rerank_on {
            let candidates: Vec<Candidate> = found.iter().map(|h| self.candidate(h)).collect();
            let order = rerank_ranked(&question, &candidates, &ranks);
            let mut slots: Vec<Option<StoreHit>> = found.into_iter().map(Some).collect();
            // A re-ordered hit carries the score it was ordered by.
            found = order
                .into_iter()
                .filter_map(|(i, score)| slots[i].take().map(|h| StoreHit { score, ..h }))
                .collect();
            // A question about the rules is answered by the passage, then by the codes it is
            // about, best first ("TCM rules, high complexity, seen 5 days after discharge": the
            // TCM passage, then 99496), before other passages.
            if question.rules && found.first().is_some_and(|h| h.payload.system == CodeSystem::Guideline) {
                let about = found[0].payload.codes.clone();
                let (theirs, rest): (Vec<StoreHit>, Vec<StoreHit>) =
                    found.drain(1..).partition(|h| h.payload.code.as_ref().is_some_and(|c| about.contains(c)));
                found.extend(theirs);
                found.extend(rest);
            }
        }
        // A deleted code the question describes in words and asks to replace ("the obs discharge
        // code got deleted, what do we bill now"): its replacements, in the order the question's
        // words put them, come before it (as they do for a deleted code it names).
        let described = found.iter().take(REPLACED_WINDOW).find(|h| is_deleted(&h.payload)).filter(|_| rerank_on && names_replacement(&said) && exact.is_empty());
        if let Some(gone) = described.cloned() {
            let own = gone.payload.code.as_deref();
            let codes: Vec<String> = gone.payload.codes.iter().filter(|c| Some(c.as_str()) != own).cloned().collect();
            let replacements: Vec<StoreHit> = self.lookup(&codes, request.system).await?.into_iter().filter(|h| !is_deleted(&h.payload)).collect();
            let candidates: Vec<Candidate> = replacements.iter().map(|h| self.candidate(h)).collect();
            let ordered: Vec<StoreHit> = rerank(&question, &candidates).into_iter().map(|(i, score)| StoreHit { score, ..replacements[i].clone() }).collect();
            found.retain(|h| !ordered.iter().any(|x| x.payload.key == h.payload.key));
            let at = found.iter().position(|h| h.payload.key == gone.payload.key).unwrap_or(0);
            found.splice(at..at, ordered);
        }
        // A question that asks for several codes ("the underdosing code and the noncompliance
        // code", "aftercare visit s/p knee replacement, dx codes"), or which code goes first when
        // its best code is an adverse effect or an underdosing (the guidelines code the condition
        // first: "got dizzy from her new BP pill, what goes first"), and whose best code leaves
        // some of its words unanswered gets, second, the code that best answers them: a BM25
        // search of those words, its hits ranked by the whole question.
        // (Not when a passage comes first: it is about rules, and leaves no code to complete.)
        let two = |h: &StoreHit| {
            asks_for_several_codes(&said)
                || (h.payload.system == CodeSystem::Icd10Cm && sequence::after_its_manifestation(&h.payload.title) && analyze::asks_for_order(&said.words))
        };
        let first = found.first().filter(|h| rerank_on && h.payload.system != CodeSystem::Guideline && two(h));
        let first = first.map(|h| (h.payload.system, h.payload.key.clone(), question.unanswered(&self.candidate(h))));
        if let Some((system, first_key, missing)) = first.filter(|(_, _, missing)| !missing.is_empty()) {
            // From the best code's system: a diagnosis's companion is a diagnosis.
            let more = VectorQuery { dense: None, sparse: Some(self.bm25.query(&missing.join(" "))), systems: vec![system], limit: COMPANION_DEPTH, ..query.clone() };
            let named: Vec<&String> = exact.iter().chain(&linked).map(|h| &h.payload.key).chain([&first_key]).collect();
            let fresh: Vec<StoreHit> = self.store.search(&more).await?.into_iter().filter(|h| !named.contains(&&h.payload.key)).collect();
            let candidates: Vec<Candidate> = fresh.iter().map(|h| self.candidate(h)).collect();
            let best = rerank(&question, &candidates).into_iter().next();
            // Only a code that answers some of what the best one left, and is not second already.
            let answers = |i: usize| {
                let left = question.unanswered(&candidates[i]);
                missing.iter().any(|w| !left.contains(w))
            };
            let placed = |i: usize| found.iter().take(COMPANION_SLOT + 1).any(|h| h.payload.key == fresh[i].payload.key);
            if let Some((i, score)) = best.filter(|&(i, _)| answers(i) && !placed(i)) {
                let hit = StoreHit { score, ..fresh[i].clone() };
                found.retain(|h| h.payload.key != hit.payload.key);
                found.insert(COMPANION_SLOT.min(found.len()), hit);
            }
        }
        // Several codes asked for several of one service ("got 2 shots, which admin codes", "both
        // IM"): the first and each further one are a primary and its add-on, which comes right
        // after the primary (the best of the first two hits that has one).
        let several = rerank_on && asks_for_several_codes(&said) && (question.counts_several() || mentions_both(&said));
        if several && found.iter().take(2).all(|h| !h.payload.addon) {
            let primaries: Vec<String> = found.iter().take(2).filter_map(|h| h.payload.code.clone()).collect();
            let add_ons = add_ons_of(self.store.linking_to(&primaries, ADD_ON_SCAN).await?, &primaries, None);
            after_its_primary(&mut found, &primaries, &add_ons);
        }
        // Ranked on headers; the passages of the hits kept (and of the first few, whose notes
        // may order them) come in one more lookup.
        found.truncate(limit.saturating_sub(named).max(if rerank_on { SEQUENCE_WINDOW } else { 0 }));
        let keys: Vec<String> = found.iter().map(|h| h.payload.key.clone()).collect();
        let mut full: HashMap<String, ChunkPayload> =
            self.store.payloads(&keys).await?.into_iter().map(|p| (p.key.clone(), p)).collect();
        let mut found: Vec<StoreHit> = found.into_iter().filter_map(|h| full.remove(&h.payload.key).map(|payload| StoreHit { payload, ..h })).collect();
        if rerank_on {
            self.in_tabular_order(&question, &said, &mut found);
        }
        found.truncate(limit.saturating_sub(named));
        let found = found.into_iter();
        // What the question asks of a named code may be what it points to: a deleted code's
        // replacement ("what do I use now instead of 99218"), an add-on's primary ("the primary
        // for 11103"), or its add-ons ("the add-on to go with 96365"). Those come first, named
        // or linked.
        let mut answers = asked_links(&said, &exact, &linked, replaced);
        // Several add-ons asked for ("the add-on for the extra time" after 99205: 99415 and
        // 99417), which no table orders, or the replacements of a deleted code the question
        // asks to replace or describes, come in the order the rank-1 stage puts their titles in. (Otherwise a
        // deleted code's replacements keep the order its note gives them.)
        if rerank_on && answers.len() > 1 && (asks_add_ons || exact.iter().any(replaced)) {
            let of_answers: Vec<&StoreHit> = answers.iter().filter_map(|a| exact.iter().chain(&linked).find(|h| h.payload.code.as_ref() == Some(a))).collect();
            let candidates: Vec<Candidate> = of_answers.iter().map(|h| self.candidate(h)).collect();
            answers = rerank(&question, &candidates).into_iter().filter_map(|(i, _)| of_answers[i].payload.code.clone()).collect();
        }
        let mut named_hits: Vec<(MatchKind, StoreHit)> =
            exact.into_iter().map(|h| (MatchKind::Exact, h)).chain(linked.into_iter().map(|h| (MatchKind::Linked, h))).collect();
        named_hits.sort_by_key(|(_, h)| h.payload.code.as_ref().and_then(|c| answers.iter().position(|a| a == c)).unwrap_or(usize::MAX));
        // A named code the question sets aside ("admin code? not 90471"), or of another system
        // than the one it asks for when it names none of that one ("what modifier on the 99213";
        // not "can G2211 go with modifier 25"), is what the question is about, not its answer:
        // it comes right after the best hit of the search.
        let names_asked = |s: CodeSystem| named_hits.iter().any(|(kind, h)| *kind == MatchKind::Exact && h.payload.system == s);
        // A named code whose title is not of the kind the question asks for ("99215 on time,
        // what prolonged code do I add") is what it is about, too.
        let asked_kind = match analysis.codes.is_empty() {
            true => vec![],
            false => analyze::asked_kind(&request.query),
        };
        let other_kind = |h: &StoreHit| {
            let title = h.payload.title.to_lowercase();
            let words: Vec<&str> = title.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
            let holds = |k: &String| words.iter().any(|w| w.starts_with(&k.chars().take(4).collect::<String>()));
            asked_kind.iter().any(|k| k.chars().count() >= 4) && !asked_kind.iter().any(holds)
        };
        let other_asked = question.system.filter(|s| !names_asked(*s));
        // So is a named procedure code that is no add-on, where the question asks for one
        // ("extra 15 min beyond a 99205") without naming add-ons, whose links answer it ("what
        // add-on goes with it") or which ask about the code ("is it an add-on?").
        let not_the_add_on = |h: &StoreHit| {
            rerank_on
                && question.add_on
                && !asks_add_ons
                && matches!(h.payload.system, CodeSystem::Cpt | CodeSystem::Hcpcs)
                && !is_add_on(&h.payload)
                && answers.is_empty()
        };
        let aside = |h: &StoreHit| {
            h.payload.code.as_ref().is_some_and(|c| (set_aside.contains(c) || (analysis.codes.contains(c) && (other_kind(h) || not_the_add_on(h)))) && !answers.contains(c))
                || other_asked.is_some_and(|s| s != h.payload.system && h.payload.system != CodeSystem::Guideline)
        };
        let (about, named_hits): (Vec<_>, Vec<_>) = named_hits.into_iter().partition(|(_, h)| aside(h));
        let mut hits: Vec<SearchHit> = named_hits.into_iter().map(|(kind, h)| SearchHit::from_store(h, kind)).collect();
        // A code the question names keeps its place when what it points to would crowd it out
        // (99441's eight replacements first): the answer says what became of it. The first hit
        // stays whatever it is.
        while hits.len() > limit {
            match hits[1..].iter().rposition(|h| h.match_kind == MatchKind::Linked) {
                Some(last) => drop(hits.remove(last + 1)),
                None => break,
            }
        }
        hits.truncate(limit);
        let mut found = found.map(|h| SearchHit::from_store(h, MatchKind::Search));
        hits.extend(found.next());
        hits.extend(about.into_iter().map(|(kind, h)| SearchHit::from_store(h, kind)));
        hits.extend(found);
        hits.truncate(limit);
        Ok(hits)
    }
}

#[cfg(test)]
mod tests {
    use super::{after_its_primary, asks_for_several_codes, mentions_both, neighbours, Said};
    use crate::codes::CodeSystem;
    use crate::store::{ChunkPayload, StoreHit};

    fn hit(code: &str, codes: &[&str]) -> StoreHit {
        let payload = ChunkPayload {
            key: format!("code:CPT:{code}"),
            system: CodeSystem::Cpt,
            code: Some(code.into()),
            codes: codes.iter().map(|c| c.to_string()).collect(),
            title: String::new(),
            names: vec![],
            addon: !codes.is_empty(),
            text: String::new(),
            source: String::new(),
            hash: String::new(),
        };
        StoreHit { score: 1.0, payload }
    }

    #[test]
    fn several_of_one_service_put_its_add_on_right_after_the_primary() {
        let codes = |hits: &[StoreHit]| hits.iter().filter_map(|h| h.payload.code.clone()).collect::<Vec<_>>();
        // "2 shots, admin codes": the vaccine product first, its administration second, then the
        // administration of each further shot, moved up from where the ranking left it.
        let mut found = vec![hit("90750", &[]), hit("90471", &[]), hit("90715", &[]), hit("90472", &["90460", "90471"])];
        after_its_primary(&mut found, &["90750".into(), "90471".into()], &[hit("90472", &["90460", "90471"])]);
        assert_eq!(codes(&found), ["90750", "90471", "90472", "90715"]);
        // Not found by the search: put in.
        let mut found = vec![hit("90471", &[]), hit("90715", &[])];
        after_its_primary(&mut found, &["90471".into(), "90715".into()], &[hit("90472", &["90471"])]);
        assert_eq!(codes(&found), ["90471", "90472", "90715"]);
        // No add-on of the first two: nothing moves.
        let mut found = vec![hit("90715", &[]), hit("90750", &[]), hit("99213", &[])];
        after_its_primary(&mut found, &["90715".into(), "90750".into()], &[hit("G2211", &["99213"])]);
        assert_eq!(codes(&found), ["90715", "90750", "99213"]);
        assert!(mentions_both(&Said::new("tdap and shingrix, both IM")));
        assert!(!mentions_both(&Said::new("bothersome cough")));
    }

    #[test]
    fn several_codes_are_asked_by_a_plural_or_by_naming_two() {
        assert!(asks_for_several_codes(&Said::new("aftercare visit s/p knee replacement, dx codes")));
        assert!(asks_for_several_codes(&Said::new("whats the underdosing code and the noncompliance code")));
        assert!(!asks_for_several_codes(&Said::new("what code for a knee replacement aftercare visit")));
    }

    #[test]
    fn neighbours_differ_in_the_last_character() {
        let n = neighbours("S72.001A");
        assert_eq!(n.len(), 35);
        assert!(n.contains(&"S72.001D".to_string()) && n.contains(&"S72.0010".to_string()));
        assert!(!n.contains(&"S72.001A".to_string()));
        assert!(neighbours("74176").contains(&"74177".to_string()));
        // Modifiers and odd text have none.
        assert!(neighbours("25").is_empty() && neighbours("é1234").is_empty() && neighbours("").is_empty());
    }
}

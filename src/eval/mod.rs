//! The evaluation runner: a question set (JSONL) run against the in-process pipeline or a
//! server over HTTP and SSE, scored for retrieval and for answers, reported as JSON and
//! Markdown, compared run to run, and gated in CI.

pub mod cli;
mod judge;
mod metrics;
mod report;
mod target;

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

pub use metrics::{ndcg10, recall, reciprocal_rank};
pub use judge::Judge;
pub use report::{diff, Gate, Report};
pub use metrics::Means;
pub use target::{ChatOutcome, HttpTarget, InProcessTarget, Target};

use crate::retrieval::SearchMode;

/// One question and what a good answer does with it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EvalCase {
    /// The question set (file stem) the case came from; set by [`load_cases`].
    #[serde(skip)]
    pub set: String,
    pub id: String,
    pub category: String,
    pub question: String,
    /// Earlier questions of the same conversation, asked first (follow-up cases).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub context: Vec<String>,
    /// Codes any one of which counts as a hit.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expect_any: Vec<String>,
    /// Codes the answer must all cite.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expect_all: Vec<String>,
    /// Facts (case-insensitive substrings) the answer should state.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub must_mention: Vec<String>,
    /// Text the answer must not contain (a leaked prompt, an obeyed injection).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub must_not_mention: Vec<String>,
    /// The right answer is to decline (out of scope, injection, a code that does not exist).
    #[serde(default)]
    pub expect_refusal: bool,
    /// The question names a code that does not exist: the answer must not present it as real.
    #[serde(default)]
    pub expect_no_fabrication: bool,
}

pub fn load_cases(path: &Path) -> anyhow::Result<Vec<EvalCase>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut cases = vec![];
    let mut ids = std::collections::HashSet::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let mut case: EvalCase =
            serde_json::from_str(line).with_context(|| format!("{}:{}: not an eval case", path.display(), i + 1))?;
        case.set = path.file_stem().and_then(|s| s.to_str()).unwrap_or("set").to_string();
        anyhow::ensure!(!case.question.trim().is_empty(), "{}:{}: empty question", path.display(), i + 1);
        anyhow::ensure!(ids.insert(case.id.clone()), "{}:{}: duplicate id {}", path.display(), i + 1, case.id);
        cases.push(case);
    }
    Ok(cases)
}

#[derive(Clone)]
pub struct EvalOptions {
    pub mode: SearchMode,
    pub k: usize,
    /// Also ask each question through chat and score the answer.
    pub answers: bool,
    /// Score each answer's faithfulness to its sources with an LLM judge.
    pub judge: Option<std::sync::Arc<Judge>>,
}

impl Default for EvalOptions {
    fn default() -> Self {
        Self { mode: SearchMode::Hybrid, k: 10, answers: true, judge: None }
    }
}

/// What happened to one case.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CaseResult {
    #[serde(default)]
    pub set: String,
    pub id: String,
    pub category: String,
    pub question: String,
    /// Codes of the ranking, best first (`-` for guideline passages).
    pub ranked: Vec<String>,
    pub metrics: BTreeMap<String, f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    #[serde(default)]
    pub cited: Vec<String>,
    #[serde(default)]
    pub unverified: Vec<String>,
    /// Cited codes that exist nowhere and were not in the question: invented by the answer.
    #[serde(default)]
    pub fabricated: Vec<String>,
    /// Code-shaped words of the answer, in any case, that got no citation (so no verdict):
    /// what verification missed. A fabricated code the reader sees unflagged is one of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unchecked: Vec<String>,
    #[serde(default)]
    pub refused: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sources_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Whether an answer declines (what both generators say when the corpus has nothing). What
/// the corpus does not cover is a refusal; what a payer does not cover ("Medicare does not cover
/// routine physicals", quoted from a note) is an answer.
pub fn is_refusal(answer: &str) -> bool {
    static R: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(
            r"(?i)could ?n[o']t find|(?:corpus|codecite)[^.]{0,40}does ?n[o']t cover|not covered by (?:the )?(?:codecite|corpus)|there is no code|no code \S+ in|can ?n[o']t help|cannot help|outside (?:the |my )?scope|not (?:a|an) (?:medical )?coding question",
        )
        .expect("valid regex")
    });
    R.is_match(answer)
}

/// Runs every case against `target`.
pub async fn run(target: &dyn Target, cases: &[EvalCase], options: &EvalOptions) -> anyhow::Result<Vec<CaseResult>> {
    let mut results = Vec::with_capacity(cases.len());
    for case in cases {
        results.push(run_case(target, case, options).await?);
    }
    Ok(results)
}

/// Records a metric that applies to the case (`None`: it does not).
fn put_metric(metrics: &mut BTreeMap<String, f64>, name: &str, value: Option<f64>) {
    if let Some(v) = value {
        metrics.insert(name.to_string(), v);
    }
}

async fn run_case(target: &dyn Target, case: &EvalCase, options: &EvalOptions) -> anyhow::Result<CaseResult> {
    let mut result = CaseResult {
        set: case.set.clone(),
        id: case.id.clone(),
        category: case.category.clone(),
        question: case.question.clone(),
        ..Default::default()
    };
    let mut outcome = None;
    if options.answers || !case.context.is_empty() {
        let mut conversation = None;
        for earlier in &case.context {
            conversation = target.chat(earlier, conversation.clone()).await?.conversation_id;
        }
        outcome = Some(target.chat(&case.question, conversation).await?);
    }
    // Follow-ups are ranked by what chat retrieved with the conversation; others by search.
    result.ranked = match (&outcome, case.context.is_empty()) {
        (Some(o), false) => o.source_codes.clone(),
        _ => target.search(&case.question, options.mode, options.k.max(10)).await?,
    };
    let mut put = |name: &str, v: Option<f64>| put_metric(&mut result.metrics, name, v);
    put("recall@1", recall(case, &result.ranked, 1));
    put("recall@5", recall(case, &result.ranked, 5));
    put("recall@10", recall(case, &result.ranked, 10));
    put(&format!("recall@{}", options.k), recall(case, &result.ranked, options.k));
    put("mrr", reciprocal_rank(case, &result.ranked));
    put("ndcg@10", ndcg10(case, &result.ranked));

    if let Some(o) = outcome.filter(|_| options.answers) {
        let question_upper = case.question.to_ascii_uppercase();
        result.fabricated = o.unverified.iter().filter(|c| !question_upper.contains(c.as_str())).cloned().collect();
        let written = crate::codes::shape::find_codes(&o.answer, crate::codes::shape::Case::Any);
        for code in written.into_iter().filter(|f| f.shape.strong()).map(|f| f.code.to_ascii_uppercase()) {
            if !o.cited.contains(&code) && !result.unchecked.contains(&code) {
                result.unchecked.push(code);
            }
        }
        result.refused = is_refusal(&o.answer);
        let answer_lower = o.answer.to_lowercase();
        let mut put = |name: &str, v: Option<f64>| put_metric(&mut result.metrics, name, v);
        put("cited_precision", metrics::cited_precision(case, &o.cited));
        put("cited_recall", if o.error.is_none() { recall(case, &o.cited, usize::MAX) } else { None });
        put("refusal_correct", Some(f64::from(u8::from(result.refused == case.expect_refusal))));
        if !case.must_mention.is_empty() {
            let found = case.must_mention.iter().filter(|f| answer_lower.contains(&f.to_lowercase())).count();
            put("mention_rate", Some(found as f64 / case.must_mention.len() as f64));
        }
        if !case.must_not_mention.is_empty() {
            let clean = case.must_not_mention.iter().all(|f| !answer_lower.contains(&f.to_lowercase()));
            put("no_forbidden_text", Some(f64::from(u8::from(clean))));
        }
        if case.expect_no_fabrication {
            // The made-up code must be declared missing, never described as a real code.
            put("no_fabrication", Some(f64::from(u8::from(result.fabricated.is_empty() && result.refused))));
        }
        if let Some(judge) = &options.judge {
            if o.error.is_none() {
                let score = judge.faithfulness(&o.source_texts, &o.answer).await?;
                result.metrics.extend(score.map(|s| ("faithfulness".to_string(), s)));
            }
        }
        result.sources_ms = o.sources_ms;
        result.done_ms = o.done_ms;
        result.answer = Some(o.answer);
        result.cited = o.cited;
        result.unverified = o.unverified;
        result.error = o.error;
    }
    Ok(result)
}

/// A seeded sample of ICD-10-CM and HCPCS codes whose official descriptions become the
/// questions, after "Large Language Models Are Poor Medical Coders" (NEJM AI, 2024).
/// The official descriptions as published, the protocol set's questions: the ICD-10-CM
/// tabular `<desc>` (with the seventh character's meaning, as the CMS order file writes it) and
/// the CMS HCPCS Level II short descriptor, read from the raw files in `corpus/raw/`, not from
/// the index's records. Dental (CDT) codes are not in the corpus and are skipped.
pub fn official_descriptions(raw: &std::path::Path) -> anyhow::Result<Vec<(crate::codes::CodeSystem, String, String)>> {
    use anyhow::Context;
    use crate::codes::CodeSystem;
    use crate::ingest::loaders::{load, Format, Loaded};
    let find = |prefix: &str| -> anyhow::Result<std::path::PathBuf> {
        let mut found: Vec<std::path::PathBuf> = std::fs::read_dir(raw)
            .with_context(|| format!("reading {}", raw.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(prefix)))
            .collect();
        found.sort();
        found.pop().with_context(|| format!("no {prefix}* file in {}", raw.display()))
    };
    let mut out = vec![];
    if let Loaded::Records(records) = load(Format::Icd10cmXml, &find("icd10cm-tabular-")?)? {
        out.extend(records.into_iter().map(|r| (CodeSystem::Icd10Cm, r.code, r.title)));
    }
    let tsv = find("hcpcs-level2-")?;
    let text = std::fs::read_to_string(&tsv).with_context(|| format!("reading {}", tsv.display()))?;
    for (i, line) in text.lines().enumerate().skip(1) {
        let mut cols = line.split('\t');
        let (Some(code), Some(short)) = (cols.next(), cols.next()) else {
            anyhow::bail!("{}:{}: expected code<TAB>short_description", tsv.display(), i + 1);
        };
        if !code.starts_with('D') {
            out.push((CodeSystem::Hcpcs, code.trim().to_string(), short.trim().to_string()));
        }
    }
    Ok(out)
}

/// The protocol set: a seeded sample of codes whose official descriptions are the questions,
/// after *Large Language Models Are Poor Medical Coders* (NEJM AI, 2024).
pub fn protocol_cases(official: &[(crate::codes::CodeSystem, String, String)], seed: u64, icd: usize, hcpcs: usize) -> Vec<EvalCase> {
    use crate::codes::CodeSystem;
    let mut state = seed.max(1);
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut out = vec![];
    for (system, n, category) in [(CodeSystem::Icd10Cm, icd, "protocol_icd10cm"), (CodeSystem::Hcpcs, hcpcs, "protocol_hcpcs")] {
        let mut pool: Vec<&(CodeSystem, String, String)> = official.iter().filter(|r| r.0 == system).collect();
        pool.sort_by(|a, b| a.1.cmp(&b.1));
        let mut picked = std::collections::BTreeSet::new();
        while picked.len() < n.min(pool.len()) {
            picked.insert((next() % pool.len() as u64) as usize);
        }
        for i in picked {
            let (_, code, description) = pool[i];
            out.push(EvalCase {
                id: format!("{category}-{code}"),
                category: category.to_string(),
                question: description.clone(),
                expect_any: vec![code.clone()],
                ..Default::default()
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_recognised() {
        assert!(is_refusal("I could not find anything in the codecite corpus that answers this."));
        assert!(is_refusal("There is no code 99999 in the codecite code tables."));
        assert!(is_refusal("The codecite corpus does not cover this question."));
        assert!(!is_refusal("The best match is **E11.9** (ICD-10-CM)."));
        assert!(!is_refusal("The best match is **G0439**. Medicare does not cover routine physicals by law, so the patient pays."));
        assert!(!is_refusal("Acupuncture is not covered by Medicare for most conditions."));
    }

    #[test]
    fn cases_load_with_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("q.jsonl");
        std::fs::write(&p, "{\"id\":\"a\",\"category\":\"c\",\"question\":\"q\",\"expect_any\":[\"E11.9\"]}\n{\"id\":\"a\",\"category\":\"c\",\"question\":\"q\"}\n").unwrap();
        let err = format!("{:#}", load_cases(&p).unwrap_err());
        assert!(err.contains("q.jsonl:2") && err.contains("duplicate id a"), "{err}");
        std::fs::write(&p, "{\"id\":\"a\",\"category\":\"c\",\"question\":\"q\",\"expect\":[]}\n").unwrap();
        let err = format!("{:#}", load_cases(&p).unwrap_err());
        assert!(err.contains("q.jsonl:1"), "{err}");
    }
}

//! The evaluation runner and its CI gate, on the fixture corpus.

use std::sync::Arc;

use codecite::app::Services;
use codecite::embed::{EmbedError, Embedder};
use codecite::eval::cli::{EvalArgs, RunArgs};
use codecite::eval::{load_cases, run, EvalOptions, Gate, InProcessTarget, Report};
use codecite::ingest::IngestOptions;
use codecite::retrieval::SearchMode;

use crate::helpers::TestApp;

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/eval").join(name)
}

#[tokio::test]
async fn the_cli_scores_a_set_writes_both_reports_and_passes_the_gate() {
    let app = TestApp::spawn().await;
    let out = app.dir.path().join("report.json");
    let (config, dir) = app.close();
    let args = EvalArgs {
        command: None,
        run: RunArgs {
            files: vec![fixture("questions.jsonl")],
            url: None,
            api_key: None,
            mode: SearchMode::Hybrid,
            k: 10,
            out: out.clone(),
            data_dir: Some(config.data_dir.clone()),
            corpus: Some(config.corpus_dir.clone()),
            no_answers: false,
            gate: Some(fixture("gate.toml")),
            judge: false,
            judge_runs: 3,
        },
    };
    std::env::set_var("CODECITE_DATABASE_URL", config.database_url.clone().unwrap());
    let result = codecite::eval::cli::main(None, args).await;
    std::env::remove_var("CODECITE_DATABASE_URL");
    result.expect("the fixture set meets its gate");
    let report: Report = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(report.cases.len(), 18);
    assert_eq!(report.by_category["trap"]["fabricated_rate"], 0.0);
    assert!(report.overall["recall@5"] >= 0.85, "{:?}", report.overall);
    assert_eq!(report.by_category["trap"]["no_fabrication"], 1.0);
    let md = std::fs::read_to_string(out.with_extension("md")).unwrap();
    assert!(md.contains("| **overall** | 18 |"), "{md}");
    drop(dir);
}

/// Vectors that carry no meaning: what a broken embedding model looks like.
struct Broken;

#[async_trait::async_trait]
impl Embedder for Broken {
    fn id(&self) -> &str {
        "test/broken/256"
    }
    fn dim(&self) -> usize {
        256
    }
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        Ok(texts.iter().map(|t| (0..256).map(|i| ((t.len() * 31 + i * 7) % 13) as f32).collect()).collect())
    }
}

#[tokio::test]
async fn the_gate_fails_when_retrieval_is_broken() {
    let cases = load_cases(&fixture("questions.jsonl")).unwrap();
    let options = EvalOptions { mode: SearchMode::Dense, k: 10, answers: false, judge: None };

    let good = TestApp::spawn().await;
    let target = InProcessTarget { services: good.state.services.clone() };
    let report = Report::new(Default::default(), run(&target, &cases, &options).await.unwrap());
    let retrieval_gate = Gate {
        min: [("recall@5".to_string(), 0.85), ("mrr".to_string(), 0.7)].into(),
        min_by_category: [("lay".to_string(), [("recall@5".to_string(), 0.8)].into())].into(),
        ..Default::default()
    };
    let misses = retrieval_gate.check(&report);
    assert!(misses.is_empty(), "working retrieval passes: {misses:?}");
    drop(target);
    let (config, dir) = good.close();

    let broken = Arc::new(Services::open_with(&config, Arc::new(Broken)).await.unwrap());
    broken.ingest(&IngestOptions { reset: true, ..Default::default() }).await.unwrap();
    let target = InProcessTarget { services: broken };
    let report = Report::new(Default::default(), run(&target, &cases, &options).await.unwrap());
    drop(target);
    let misses = retrieval_gate.check(&report);
    assert!(misses.iter().any(|m| m.contains("recall@5")), "the gate must catch it: {misses:?}");
    drop(dir);
}

#[test]
fn diffs_show_what_moved() {
    let mut a = Report::new(Default::default(), vec![]);
    let mut case = codecite::eval::CaseResult { id: "x".into(), category: "c".into(), ..Default::default() };
    case.metrics.insert("recall@5".into(), 1.0);
    case.ranked = vec!["E11.9".into()];
    a = Report::new(a.run.clone(), vec![case.clone()]);
    case.metrics.insert("recall@5".into(), 0.0);
    case.ranked = vec!["E10.9".into()];
    let b = Report::new(a.run.clone(), vec![case]);
    let d = codecite::eval::diff(&a, &b);
    assert!(d.contains("| recall@5 | 1.000 | 0.000 | -1.000 |"), "{d}");
    assert!(d.contains("`x` (c): recall@5 1.00 → 0.00; top E11.9 → E10.9"), "{d}");
}

/// The spelling vocabulary is what the corpus and the static model's tokenizer make of it.
/// `CODECITE_WRITE_VOCABULARY=1` rewrites it after the corpus changed.
#[test]
fn the_spelling_vocabulary_is_current() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let corpus = codecite::ingest::load_corpus(&root.join("corpus")).unwrap();
    let tokenizer: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(codecite::config::default_static_model_dir().join("tokenizer.json")).unwrap()).unwrap();
    let known = tokenizer["model"]["vocab"].as_object().expect("a WordPiece vocabulary").keys().filter(|k| !k.starts_with("##")).map(String::as_str);
    let text = codecite::retrieval::spelling::vocabulary_text(&codecite::retrieval::spelling::vocabulary(&corpus.records, known));
    let path = root.join("corpus/lexicon").join(codecite::retrieval::VOCABULARY_FILE);
    if std::env::var_os("CODECITE_WRITE_VOCABULARY").is_some() {
        std::fs::write(&path, &text).unwrap();
    }
    let shipped = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(shipped == text, "{} is out of date: run CODECITE_WRITE_VOCABULARY=1 cargo test --test it the_spelling_vocabulary_is_current", path.display());
}

/// Every drug class the lexicon gives a drug is a class ICD-10-CM's T36–T50 titles name (the
/// adverse-effect, poisoning and underdosing codes), so a drug's name reaches them.
#[test]
fn every_drug_class_in_the_lexicon_is_named_by_a_t_code() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let corpus = codecite::ingest::load_corpus(&root.join("corpus")).unwrap();
    let titles: Vec<String> = corpus
        .records
        .iter()
        .filter(|r| r.code.starts_with('T') && r.code.get(1..3).and_then(|n| n.parse::<u32>().ok()).is_some_and(|n| (36..=50).contains(&n)))
        .map(|r| r.title.to_lowercase())
        .collect();
    assert!(titles.len() > 1000, "{}", titles.len());
    let text = std::fs::read_to_string(root.join("corpus/lexicon/drug-classes.tsv")).unwrap();
    let mut lines = 0;
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#')) {
        let (_, class) = line.split_once('\t').unwrap_or_else(|| panic!("drug-classes.tsv:{}: no tab", i + 1));
        assert!(titles.iter().any(|t| t.contains(class)), "drug-classes.tsv:{}: no T36-T50 title names {class:?}", i + 1);
        lines += 1;
    }
    assert!(lines > 100, "{lines}");
}

/// The shipped question sets stay true to the corpus: every expected code exists, and the
/// traps name codes that do not.
#[test]
fn shipped_question_sets_match_the_corpus() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let corpus = codecite::ingest::load_corpus(&root.join("corpus")).unwrap();
    let codes: std::collections::HashSet<&str> = corpus.records.iter().map(|r| r.code.as_str()).collect();
    let questions = load_cases(&root.join("evals/questions.jsonl")).unwrap();
    assert!(questions.len() >= 250, "{}", questions.len());
    let categories: std::collections::HashSet<&str> = questions.iter().map(|c| c.category.as_str()).collect();
    assert!(categories.len() >= 12, "{categories:?}");
    let others: Vec<_> = ["evals/protocol.jsonl", "evals/holdout.jsonl", "evals/holdout-lay.jsonl", "evals/dev-lay.jsonl", "evals/dev-lay2.jsonl", "evals/dev-pairs.jsonl", "evals/dev-guide.jsonl", "evals/dev-guide2.jsonl", "evals/dev-guide3.jsonl", "evals/dev-guide4.jsonl", "evals/dev-guide5.jsonl", "evals/dev-guide6.jsonl", "evals/dev-guide7.jsonl", "evals/dev-pairs2.jsonl"].iter().flat_map(|f| load_cases(&root.join(f)).unwrap()).collect();
    for case in questions.iter().chain(others.iter()) {
        for code in case.expect_any.iter().chain(&case.expect_all) {
            assert!(codes.contains(code.as_str()), "{}: {code} is not in the corpus", case.id);
        }
        if case.expect_no_fabrication {
            for code in codecite::chat::strong_codes(&case.question) {
                assert!(!codes.contains(code.as_str()), "{}: trap code {code} exists", case.id);
            }
        }
    }
    let protocol = load_cases(&root.join("evals/protocol.jsonl")).unwrap();
    let official = codecite::eval::official_descriptions(&root.join("corpus/raw")).unwrap();
    let mut again = codecite::eval::protocol_cases(&official, 2024, 600, 400);
    again.iter_mut().for_each(|c| c.set = "protocol".into());
    assert_eq!(protocol, again, "evals/protocol.jsonl is what `codecite eval make-protocol` makes");
}

/// A judge model that answers three verdicts in turn: full support, half, then no JSON at all.
async fn fake_judge() -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
    use axum::routing::post;
    let prompts = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen = prompts.clone();
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        post(move |axum::Json(body): axum::Json<serde_json::Value>| {
            let seen = seen.clone();
            async move {
                let prompt = body["messages"][0]["content"].as_str().unwrap_or_default().to_string();
                let n = {
                    let mut s = seen.lock().unwrap();
                    s.push(prompt);
                    s.len()
                };
                let content = match n % 3 {
                    1 => "{\"claims\": 4, \"supported\": 4}",
                    2 => "Here you go: {\"claims\": 4, \"supported\": 2}",
                    _ => "I cannot grade this.",
                };
                axum::Json(serde_json::json!({
                    "id": "judge", "object": "chat.completion", "created": 0, "model": "judge",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}]
                }))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/v1"), prompts)
}

#[tokio::test]
async fn an_llm_judge_scores_faithfulness_averaged_over_runs() {
    let (base, prompts) = fake_judge().await;
    let llm = codecite::config::LlmConfig { base_url: Some(base), ..Default::default() };
    let judge = Arc::new(codecite::eval::Judge::new(&llm, 3).unwrap());
    let app = TestApp::spawn().await;
    let target = InProcessTarget { services: app.state.services.clone() };
    let cases: Vec<_> = load_cases(&fixture("questions.jsonl")).unwrap().into_iter().take(1).collect();
    let options = EvalOptions { judge: Some(judge), ..Default::default() };
    let results = run(&target, &cases, &options).await.unwrap();
    assert_eq!(results[0].metrics["faithfulness"], 0.75, "mean of the two usable verdicts");
    let prompts = prompts.lock().unwrap();
    assert_eq!(prompts.len(), 3, "three runs per answer");
    assert!(prompts[0].contains(results[0].answer.as_deref().unwrap()), "{}", prompts[0]);
    assert!(prompts[0].contains("[1] Ketorolac"), "{}", prompts[0]);
    drop(target);
}

/// Every primary or replacement code a shipped record names exists in the corpus, and the
/// corpus holds at least the counts the product promises.
#[test]
fn shipped_corpus_references_resolve() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let corpus = codecite::ingest::load_corpus(&root.join("corpus")).unwrap();
    let mut codes: std::collections::HashSet<&str> = corpus.records.iter().map(|r| r.code.as_str()).collect();
    // Primaries and replacements may be codes we have no summary for, but never codes that
    // do not exist: the CMS validity table lists every CPT and HCPCS number.
    let validity = std::fs::read_to_string(root.join("corpus/raw/code-validity-ioce-v27.1.tsv")).unwrap();
    codes.extend(validity.lines().skip(1).filter_map(|l| l.split('\t').next()));
    for r in &corpus.records {
        for c in r.primary_codes.iter().chain(&r.replaced_by) {
            assert!(codes.contains(c.as_str()), "{} names {c}, which exists nowhere", r.code);
        }
    }
    // An add-on summary lists at least every primary the CMS add-on table gives it.
    let addon_table = std::fs::read_to_string(root.join("corpus/raw/addon-primary-ioce-v27.1.tsv")).unwrap();
    for line in addon_table.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (addon, primary, last_valid) = (cols[0], cols[1], cols.get(4).copied().unwrap_or(""));
        if primary.is_empty() || !last_valid.is_empty() {
            continue;
        }
        if let Some(r) = corpus.records.iter().find(|r| r.code == addon && r.system == codecite::codes::CodeSystem::Cpt) {
            assert!(r.primary_codes.iter().any(|p| p == primary), "{addon}: the CMS table pairs it with {primary}, the summary does not");
        }
    }
    let count = |s: codecite::codes::CodeSystem| corpus.records.iter().filter(|r| r.system == s).count();
    assert!(count(codecite::codes::CodeSystem::Cpt) >= 400);
    assert_eq!(count(codecite::codes::CodeSystem::Hcpcs), 7409);
    assert_eq!(count(codecite::codes::CodeSystem::Icd10Cm), 74719);
    assert!(corpus.records.iter().all(|r| !(r.system == codecite::codes::CodeSystem::Hcpcs && r.code.starts_with('D'))));
}

/// CPT wording is ours (corpus/SOURCES.md, "Wording of CPT entries"): no sign of an AMA
/// descriptor carried over in any CPT title, description or everyday name, modifier or guideline note.
#[test]
fn cpt_wording_is_our_own() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let corpus = codecite::ingest::load_corpus(&root.join("corpus")).unwrap();
    let tells = ["radiologic examination", "list separately", "separate procedure", "when performed", "with or without", "e.g.", " eg,", "(s)"];
    let openings = ["evaluation and management", "radiologic", "injection procedure", "introduction of"];
    let mut found = vec![];
    for r in corpus.records.iter().filter(|r| matches!(r.system, codecite::codes::CodeSystem::Cpt | codecite::codes::CodeSystem::Modifier)) {
        let fields = [("title", r.title.as_str()), ("description", r.description.as_deref().unwrap_or(""))];
        for (field, text) in fields.into_iter().chain(r.everyday.iter().map(|n| ("everyday name", n.as_str()))) {
            let lower = format!(" {}", text.to_lowercase());
            if text.contains(';') {
                found.push(format!("{} {field}: a semicolon (the descriptor's parent;child structure)", r.code));
            }
            for t in tells.iter().filter(|t| lower.contains(*t)) {
                found.push(format!("{} {field}: {t:?}", r.code));
            }
            if field == "title" {
                for o in openings.iter().filter(|o| lower.trim_start().starts_with(*o)) {
                    found.push(format!("{} title opens with {o:?}", r.code));
                }
            }
        }
    }
    for note in &corpus.notes {
        let lower = note.body.to_lowercase();
        for t in ["list separately", "separate procedure", "radiologic examination"].iter().filter(|t| lower.contains(*t)) {
            found.push(format!("note {}: {t:?}", note.id));
        }
    }
    assert!(found.is_empty(), "descriptor-like wording:\n{}", found.join("\n"));
    let count = |s| corpus.records.iter().filter(|r| r.system == s).count();
    assert!(count(codecite::codes::CodeSystem::Cpt) >= 1200 && count(codecite::codes::CodeSystem::Modifier) >= 90 && corpus.notes.len() >= 85);
}

/// The gate CI holds every change to is the real `evals/gate.toml`: it parses, floors every
/// category of every question set (hold-outs included), and a run in which every case misses
/// fails each of those floors.
#[test]
fn the_real_gate_floors_every_category_of_every_set() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let gate = Gate::load(&root.join("evals/gate.toml")).unwrap();
    assert_eq!(gate.max.get("fabricated_rate"), Some(&0.0));
    let mut results = vec![];
    for set in ["questions", "dev-lay", "dev-lay2", "dev-pairs", "dev-guide", "dev-guide2", "dev-guide3", "dev-guide4", "dev-guide5", "dev-guide6", "dev-guide7", "dev-pairs2", "protocol", "holdout", "holdout-lay"] {
        let groups = gate.min_by_set.get(set).unwrap_or_else(|| panic!("{set} is not gated"));
        assert!(groups.contains_key("overall"), "{set} has no overall floor");
        for case in load_cases(&root.join(format!("evals/{set}.jsonl"))).unwrap() {
            assert!(groups.contains_key(&case.category), "{set}/{} has no floor", case.category);
            let metrics = ["recall@1", "recall@5", "mrr", "refusal_accuracy", "no_fabrication", "no_forbidden_text"]
                .into_iter()
                .map(|m| (m.to_string(), 0.0))
                .collect();
            results.push(codecite::eval::CaseResult {
                set: case.set.clone(),
                id: case.id.clone(),
                category: case.category.clone(),
                question: case.question.clone(),
                metrics,
                ..Default::default()
            });
        }
    }
    let misses = gate.check(&Report::new(Default::default(), results));
    for (set, groups) in &gate.min_by_set {
        for group in groups.keys() {
            let scope = format!("{set}/{group} ");
            assert!(misses.iter().any(|m| m.starts_with(&scope)), "nothing failed {scope}: {misses:?}");
        }
    }
}

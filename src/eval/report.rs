//! Reports (JSON and Markdown), run-to-run diffs and the CI gate.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::{Deserialize, Serialize};

use super::metrics::{percentile, Means};
use super::CaseResult;

/// Published exact-match rates of GPT-4 on official descriptions (Soroush et al., "Large
/// Language Models Are Poor Medical Coders", NEJM AI 2024).
pub const GPT4_ICD10CM: f64 = 0.339;
pub const GPT4_CPT: f64 = 0.498;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Report {
    pub run: BTreeMap<String, String>,
    pub overall: BTreeMap<String, f64>,
    pub by_category: BTreeMap<String, BTreeMap<String, f64>>,
    /// Each question set apart: its categories and, under `overall`, the whole set.
    #[serde(default)]
    pub by_set: BTreeMap<String, BTreeMap<String, BTreeMap<String, f64>>>,
    pub cases: Vec<CaseResult>,
}

fn summarize(cases: &[&CaseResult]) -> BTreeMap<String, f64> {
    let mut means = Means::default();
    let (mut cited, mut unverified, mut fabricated, mut errors) = (0usize, 0usize, 0usize, 0usize);
    let mut unchecked = 0usize;
    let mut sources = vec![];
    let mut done = vec![];
    for c in cases {
        for (k, v) in &c.metrics {
            let name = if k == "refusal_correct" { "refusal_accuracy" } else { k.as_str() };
            means.add(name, Some(*v));
        }
        cited += c.cited.len();
        unverified += c.unverified.len();
        fabricated += c.fabricated.len();
        unchecked += c.unchecked.len();
        errors += usize::from(c.error.is_some());
        sources.extend(c.sources_ms);
        done.extend(c.done_ms);
    }
    let mut out = means.finish();
    out.insert("cases".into(), cases.len() as f64);
    if cases.iter().any(|c| c.answer.is_some()) {
        let rate = |n: usize| if cited == 0 { 0.0 } else { n as f64 / cited as f64 };
        out.insert("fabricated_rate".into(), rate(fabricated));
        out.insert("unverified_rate".into(), rate(unverified));
        // Of every code the answers wrote (cited or not), the share left without a verdict.
        let written = cited + unchecked;
        out.insert("unchecked_rate".into(), if written == 0 { 0.0 } else { unchecked as f64 / written as f64 });
        out.insert("answer_errors".into(), errors as f64);
        for (name, values) in [("sources_ms", &sources), ("done_ms", &done)] {
            if let Some(p) = percentile(values, 0.5) {
                out.insert(format!("{name}_p50"), p);
            }
            if let Some(p) = percentile(values, 0.95) {
                out.insert(format!("{name}_p95"), p);
            }
        }
    }
    out
}

impl Report {
    pub fn new(run: BTreeMap<String, String>, cases: Vec<CaseResult>) -> Self {
        let all: Vec<&CaseResult> = cases.iter().collect();
        let overall = summarize(&all);
        let mut groups: BTreeMap<String, Vec<&CaseResult>> = BTreeMap::new();
        for c in &cases {
            groups.entry(c.category.clone()).or_default().push(c);
        }
        let by_category = groups.into_iter().map(|(k, v)| (k, summarize(&v))).collect();
        let mut sets: BTreeMap<String, BTreeMap<String, Vec<&CaseResult>>> = BTreeMap::new();
        for c in &cases {
            let set = sets.entry(c.set.clone()).or_default();
            set.entry("overall".into()).or_default().push(c);
            set.entry(c.category.clone()).or_default().push(c);
        }
        let by_set = sets
            .into_iter()
            .map(|(set, groups)| (set, groups.into_iter().map(|(k, v)| (k, summarize(&v))).collect()))
            .collect();
        Self { run, overall, by_category, by_set, cases }
    }

    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let run: Vec<String> = self.run.iter().map(|(k, v)| format!("{k} `{v}`")).collect();
        let _ = writeln!(md, "# codecite evaluation\n\n{}\n", run.join(", "));
        let mut cols: Vec<(&str, &str)> = vec![
            ("cases", "cases"),
            ("recall@1", "R@1"),
            ("recall@5", "R@5"),
            ("recall@10", "R@10"),
            ("mrr", "MRR"),
            ("ndcg@10", "nDCG@10"),
            ("cited_precision", "cited P"),
            ("cited_recall", "cited R"),
            ("fabricated_rate", "fabricated"),
            ("unverified_rate", "unverified"),
            ("unchecked_rate", "unchecked"),
            ("refusal_accuracy", "refusal acc."),
        ];
        if self.overall.contains_key("faithfulness") {
            cols.push(("faithfulness", "faithfulness"));
        }
        let row = |name: &str, m: &BTreeMap<String, f64>| {
            let cells: Vec<String> = cols
                .iter()
                .map(|(k, _)| match m.get(*k) {
                    Some(v) if *k == "cases" => format!("{v:.0}"),
                    Some(v) => format!("{v:.3}"),
                    None => "–".into(),
                })
                .collect();
            format!("| {name} | {} |\n", cells.join(" | "))
        };
        let header = format!("| category | {} |\n|---|{}\n", cols.iter().map(|c| c.1).collect::<Vec<_>>().join(" | "), "---|".repeat(cols.len()));
        if self.by_set.len() > 1 {
            // Each set apart (the protocol set would otherwise dominate), then all together.
            for (set, groups) in &self.by_set {
                let _ = writeln!(md, "**{set}**\n");
                md.push_str(&header);
                for (name, m) in groups.iter().filter(|(k, _)| *k != "overall") {
                    md.push_str(&row(name, m));
                }
                if let Some(m) = groups.get("overall") {
                    md.push_str(&row(&format!("**{set}**"), m));
                }
                md.push('\n');
            }
            let _ = writeln!(md, "**all sets together**\n");
            md.push_str(&header);
        }
        for (name, m) in &self.by_category {
            md.push_str(&row(name, m));
        }
        md.push_str(&row("**overall**", &self.overall));
        let o = &self.overall;
        if let (Some(s), Some(d)) = (o.get("sources_ms_p50"), o.get("done_ms_p50")) {
            let _ = writeln!(
                md,
                "\nLatency: request → `sources` p50 {s:.1} ms, p95 {:.1} ms; → `done` p50 {d:.1} ms, p95 {:.1} ms.",
                o.get("sources_ms_p95").unwrap_or(&0.0),
                o.get("done_ms_p95").unwrap_or(&0.0)
            );
        }
        let protocol: Vec<(&String, &BTreeMap<String, f64>)> =
            self.by_category.iter().filter(|(k, _)| k.starts_with("protocol_")).collect();
        if !protocol.is_empty() {
            let _ = writeln!(
                md,
                "\nExact match (top-1) on official descriptions, after *Large Language Models Are Poor Medical Coders* (NEJM AI, 2024):\n\n| set | codecite top-1 | GPT-4, published |\n|---|---|---|"
            );
            for (name, m) in protocol {
                let published = if name.ends_with("icd10cm") {
                    format!("{:.1}% (ICD-10-CM)", GPT4_ICD10CM * 100.0)
                } else {
                    format!("{:.1}% (CPT; HCPCS Level II was not tested)", GPT4_CPT * 100.0)
                };
                let _ = writeln!(md, "| {name} ({:.0} codes) | {:.1}% | {published} |", m["cases"], m.get("recall@1").unwrap_or(&0.0) * 100.0);
            }
        }
        let misses: Vec<&CaseResult> =
            self.cases.iter().filter(|c| c.metrics.get("recall@5").is_some_and(|v| *v < 1.0)).take(25).collect();
        if !misses.is_empty() {
            let _ = writeln!(md, "\nCases below full recall@5 (first 25):\n");
            for c in misses {
                let _ = writeln!(md, "- `{}` {:?} → {}", c.id, c.question, c.ranked.iter().take(5).cloned().collect::<Vec<_>>().join(", "));
            }
        }
        md
    }

    /// Prints the overall and per-category table to stdout.
    pub fn table(&self) -> String {
        self.markdown().split("\nCases below").next().unwrap_or_default().to_string()
    }
}

/// What changed between two reports: overall metrics, then case by case.
pub fn diff(a: &Report, b: &Report) -> String {
    let mut md = String::from("| metric | before | after | change |\n|---|---|---|---|\n");
    let names: std::collections::BTreeSet<&String> = a.overall.keys().chain(b.overall.keys()).collect();
    for name in names {
        let (x, y) = (a.overall.get(name), b.overall.get(name));
        let fmt = |v: Option<&f64>| v.map(|v| format!("{v:.3}")).unwrap_or_else(|| "–".into());
        let change = match (x, y) {
            (Some(x), Some(y)) if (y - x).abs() > 1e-9 => format!("{:+.3}", y - x),
            (Some(_), Some(_)) => String::new(),
            _ => "new or gone".into(),
        };
        let _ = writeln!(md, "| {name} | {} | {} | {change} |", fmt(x), fmt(y));
    }
    let before: BTreeMap<&str, &CaseResult> = a.cases.iter().map(|c| (c.id.as_str(), c)).collect();
    let mut moved = vec![];
    for c in &b.cases {
        let Some(old) = before.get(c.id.as_str()) else {
            moved.push(format!("- `{}`: new case", c.id));
            continue;
        };
        let mut changes = vec![];
        for m in ["recall@1", "recall@5", "mrr", "cited_recall", "refusal_correct"] {
            if let (Some(x), Some(y)) = (old.metrics.get(m), c.metrics.get(m)) {
                if (x - y).abs() > 1e-9 {
                    changes.push(format!("{m} {x:.2} → {y:.2}"));
                }
            }
        }
        if old.fabricated != c.fabricated {
            changes.push(format!("fabricated {:?} → {:?}", old.fabricated, c.fabricated));
        }
        if !changes.is_empty() {
            let top = |r: &CaseResult| r.ranked.first().cloned().unwrap_or_default();
            moved.push(format!("- `{}` ({}): {}; top {} → {}", c.id, c.category, changes.join(", "), top(old), top(c)));
        }
    }
    let _ = writeln!(md, "\n{} cases moved:\n{}", moved.len(), moved.join("\n"));
    md
}

/// Thresholds a report must meet (`evals/gate.toml`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gate {
    #[serde(default)]
    pub min: BTreeMap<String, f64>,
    #[serde(default)]
    pub max: BTreeMap<String, f64>,
    #[serde(default)]
    pub min_by_category: BTreeMap<String, BTreeMap<String, f64>>,
    /// Per question set (file stem): its `overall` or one of its categories → floors.
    #[serde(default)]
    pub min_by_set: BTreeMap<String, BTreeMap<String, BTreeMap<String, f64>>>,
}

impl Gate {
    /// Reads a gate file (TOML), naming the file in any error.
    pub fn load(path: &std::path::Path) -> anyhow::Result<Self> {
        use anyhow::Context;
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("{} is not a gate file", path.display()))
    }

    /// Every threshold the report misses, as a sentence; a missing metric is a miss.
    pub fn check(&self, report: &Report) -> Vec<String> {
        let mut out = vec![];
        let mut want = |scope: &str, m: &BTreeMap<String, f64>, name: &str, bound: f64, is_min: bool| match m.get(name) {
            None => out.push(format!("{scope} {name}: not measured")),
            Some(v) if is_min && *v < bound => out.push(format!("{scope} {name} = {v:.3}, below the minimum {bound}")),
            Some(v) if !is_min && *v > bound => out.push(format!("{scope} {name} = {v:.3}, above the maximum {bound}")),
            Some(_) => {}
        };
        for (name, bound) in &self.min {
            want("overall", &report.overall, name, *bound, true);
        }
        for (name, bound) in &self.max {
            want("overall", &report.overall, name, *bound, false);
        }
        for (category, mins) in &self.min_by_category {
            let empty = BTreeMap::new();
            let m = report.by_category.get(category).unwrap_or(&empty);
            for (name, bound) in mins {
                want(category, m, name, *bound, true);
            }
        }
        for (set, groups) in &self.min_by_set {
            for (group, mins) in groups {
                let empty = BTreeMap::new();
                let m = report.by_set.get(set).and_then(|g| g.get(group)).unwrap_or(&empty);
                for (name, bound) in mins {
                    want(&format!("{set}/{group}"), m, name, *bound, true);
                }
            }
        }
        out
    }
}

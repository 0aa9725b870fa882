//! Metrics of one case and their aggregation.
//!
//! Relevance: a case expects any one of `expect_any` (one "slot") and every one of
//! `expect_all` (one slot each). Recall@k is the share of slots filled within the top k,
//! out of the slots the top k can hold (min(k, slots), the "capped" recall of BEIR): a case
//! that expects a pair, such as an NCCI pair or an add-on with its primary, scores 1 at k = 1
//! when the first code is one of them, since one position cannot hold two codes. MRR is the
//! reciprocal rank of the first relevant code; nDCG@10 uses binary gains with an ideal ranking
//! that fills every slot first.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::EvalCase;

pub fn slots(case: &EvalCase) -> usize {
    all_codes(case).len() + usize::from(any_slot(case))
}

/// The `expect_all` codes, each once.
fn all_codes(case: &EvalCase) -> Vec<&String> {
    let mut seen = std::collections::HashSet::new();
    case.expect_all.iter().filter(|c| seen.insert(*c)).collect()
}

/// `expect_any` is a slot of its own unless one of its codes is required anyway
/// (`expect_all` lists it too): then the "any" is met whenever the "all" is.
fn any_slot(case: &EvalCase) -> bool {
    !case.expect_any.is_empty() && !case.expect_any.iter().any(|c| case.expect_all.contains(c))
}

fn relevant(case: &EvalCase, code: &str) -> bool {
    case.expect_any.iter().chain(&case.expect_all).any(|c| c == code)
}

/// Share of the case's slots filled by the first `k` of `codes`, out of min(k, slots).
pub fn recall(case: &EvalCase, codes: &[String], k: usize) -> Option<f64> {
    let n = slots(case);
    if n == 0 {
        return None;
    }
    let top = &codes[..codes.len().min(k)];
    let any = any_slot(case) && case.expect_any.iter().any(|c| top.contains(c));
    let all = all_codes(case).into_iter().filter(|c| top.contains(c)).count();
    Some((usize::from(any) + all) as f64 / n.min(k) as f64)
}

pub fn reciprocal_rank(case: &EvalCase, codes: &[String]) -> Option<f64> {
    if slots(case) == 0 {
        return None;
    }
    Some(codes.iter().position(|c| relevant(case, c)).map(|p| 1.0 / (p + 1) as f64).unwrap_or(0.0))
}

pub fn ndcg10(case: &EvalCase, codes: &[String]) -> Option<f64> {
    let n = slots(case);
    if n == 0 {
        return None;
    }
    let gain = |rank: usize| 1.0 / ((rank + 2) as f64).log2();
    let mut any_counted = false;
    let mut dcg = 0.0;
    let mut all_counted = std::collections::HashSet::new();
    for (i, code) in codes.iter().take(10).enumerate() {
        let in_all = case.expect_all.contains(code) && all_counted.insert(code);
        let in_any = !any_counted && any_slot(case) && case.expect_any.contains(code);
        if in_all || in_any {
            dcg += gain(i);
            any_counted |= in_any;
        }
    }
    let ideal: f64 = (0..n.min(10)).map(gain).sum();
    Some(dcg / ideal)
}

/// Precision of cited codes against the expected ones (`None` without citations or expectations).
pub fn cited_precision(case: &EvalCase, cited: &[String]) -> Option<f64> {
    if cited.is_empty() || slots(case) == 0 {
        return None;
    }
    Some(cited.iter().filter(|c| relevant(case, c)).count() as f64 / cited.len() as f64)
}

/// Running means, keyed by metric name, that skip cases a metric does not apply to.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Means {
    sums: BTreeMap<String, (f64, usize)>,
}

impl Means {
    pub fn add(&mut self, name: &str, value: Option<f64>) {
        if let Some(v) = value {
            let e = self.sums.entry(name.to_string()).or_default();
            e.0 += v;
            e.1 += 1;
        }
    }

    pub fn finish(&self) -> BTreeMap<String, f64> {
        self.sums.iter().map(|(k, (s, n))| (k.clone(), s / *n as f64)).collect()
    }
}

pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    Some(v[((v.len() as f64 * p) as usize).min(v.len() - 1)])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(any: &[&str], all: &[&str]) -> EvalCase {
        EvalCase {
            expect_any: any.iter().map(|s| s.to_string()).collect(),
            expect_all: all.iter().map(|s| s.to_string()).collect(),
            ..EvalCase::default()
        }
    }

    fn codes(c: &[&str]) -> Vec<String> {
        c.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn recall_counts_slots() {
        let c = case(&["E11.9", "E11.8"], &["Z79.4"]);
        let ranked = codes(&["X", "E11.8", "Y", "Z79.4"]);
        assert_eq!(recall(&c, &ranked, 1), Some(0.0));
        assert_eq!(recall(&c, &ranked, 2), Some(0.5));
        assert_eq!(recall(&c, &ranked, 3), Some(0.5));
        assert_eq!(recall(&c, &ranked, 5), Some(1.0));
        // One position holds one code: a pair's first code fills the top 1, no more.
        let pair = case(&["A"], &["B"]);
        assert_eq!(recall(&pair, &codes(&["B", "X"]), 1), Some(1.0));
        assert_eq!(recall(&pair, &codes(&["X", "A", "B"]), 1), Some(0.0));
        assert_eq!(recall(&pair, &codes(&["B", "X", "Y"]), 3), Some(0.5));
        // A code that `expect_any` and `expect_all` both list is one slot, filled once.
        let twice = case(&["A"], &["A", "B"]);
        assert_eq!(slots(&twice), 2);
        assert_eq!(recall(&twice, &codes(&["A", "X"]), 1), Some(1.0));
        assert_eq!(recall(&twice, &codes(&["A", "X"]), 5), Some(0.5));
        assert_eq!(recall(&twice, &codes(&["A", "B"]), 5), Some(1.0));
        assert_eq!(ndcg10(&twice, &codes(&["A", "B"])), Some(1.0));
        assert_eq!(recall(&case(&[], &["A", "A"]), &codes(&["A"]), 5), Some(1.0));
        assert_eq!(recall(&case(&[], &[]), &ranked, 5), None);
    }

    #[test]
    fn rank_and_ndcg() {
        let c = case(&["A"], &[]);
        assert_eq!(reciprocal_rank(&c, &codes(&["X", "A"])), Some(0.5));
        assert_eq!(reciprocal_rank(&c, &codes(&["X"])), Some(0.0));
        assert_eq!(ndcg10(&c, &codes(&["A", "X"])), Some(1.0));
        let two = case(&["A"], &["B"]);
        let perfect = ndcg10(&two, &codes(&["A", "B"])).unwrap();
        let swapped = ndcg10(&two, &codes(&["X", "A", "B"])).unwrap();
        assert!((perfect - 1.0).abs() < 1e-9 && swapped < perfect);
        assert_eq!(ndcg10(&case(&["A", "A2"], &[]), &codes(&["A", "A2"])), Some(1.0), "one any-slot counts once");
    }

    #[test]
    fn precision_and_means() {
        let c = case(&["A"], &["B"]);
        assert_eq!(cited_precision(&c, &codes(&["A", "B", "C", "D"])), Some(0.5));
        assert_eq!(cited_precision(&c, &[]), None);
        let mut m = Means::default();
        m.add("x", Some(1.0));
        m.add("x", None);
        m.add("x", Some(0.0));
        assert_eq!(m.finish()["x"], 0.5);
        assert_eq!(percentile(&[3.0, 1.0, 2.0], 0.5), Some(2.0));
    }
}

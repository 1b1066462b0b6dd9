//! Scores of scoring problems, from the test group tree and each case's outcome.
//!
//! Only `data/secret` scores. Two models, one per format:
//! - 2023-07: a group's `scoring.score` is its maximum. It is handed down: under
//!   `aggregation: min` every child gets the whole maximum, under `sum` an equal share. A
//!   case scores its share when accepted (times the validator's `score.txt`, read as a
//!   fraction in [0, 1]), else 0.
//! - legacy: a case scores `accept_score` (default 1) when accepted — or the validator's
//!   `score.txt` — and `reject_score` (default 0) otherwise; groups aggregate their children
//!   with the `grader_flags` (`sum`, the default, `min`, `max`, `avg`). As with Kattis'
//!   default grader, only what was judged is aggregated: a case or group that
//!   `on_reject: break` skipped is left out (so `avg` and `max` see only the judged ones).
//!
//! When no group on the way down names a maximum, the legacy model applies (also in 2023-07
//! packages).

use crate::problem::{Aggregation, Group, Node, Problem};

/// What scoring needs to know about a judged case.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CaseScore {
    pub accepted: bool,
    /// The validator's score (`score.txt`, or testlib points).
    pub raw: Option<f64>,
}

/// Computes scores over a problem's group tree.
pub struct Scorer<'a> {
    pub problem: &'a Problem,
    /// Per case (index into `problem.cases`); None = not run (scores as rejected).
    pub outcomes: &'a [Option<CaseScore>],
    /// Validator scores are fractions of the case's maximum (testlib points), not scores.
    pub fractions: bool,
}

impl Scorer<'_> {
    /// Score and maximum of the secret data.
    pub fn total(&self) -> (f64, f64) {
        let (score, max) = match self.problem.secret() {
            Some(g) => {
                let (s, m) = self.group(g, None);
                (s.unwrap_or(0.0), m)
            }
            None => (0.0, 0.0),
        };
        // Legacy: the top-level `range` bounds the whole problem's score (the sample
        // counts for nothing here: only the secret data scores).
        match self.problem.root.range {
            Some((_, hi)) if hi.is_finite() && self.problem.root.max_score.is_none() => (score, hi),
            _ => (score, max),
        }
    }

    /// The score of every secret case.
    pub fn per_case(&self) -> Vec<(usize, f64)> {
        let mut out = Vec::new();
        if let Some(g) = self.problem.secret() {
            self.walk(g, None, &mut out);
        }
        out
    }

    fn child_max(g: &Group, assigned: Option<f64>) -> Option<f64> {
        let n = g.children.len().max(1) as f64;
        g.max_score.or(assigned).map(|m| match g.aggregation {
            Aggregation::Min | Aggregation::Max => m,
            Aggregation::Sum | Aggregation::Avg => m / n,
        })
    }

    fn walk(&self, g: &Group, assigned: Option<f64>, out: &mut Vec<(usize, f64)>) {
        let cm = Self::child_max(g, assigned);
        for c in &g.children {
            match c {
                Node::Group(s) => self.walk(s, cm, out),
                Node::Case(i) => {
                    if let Some(s) = self.case(*i, cm).0 {
                        out.push((*i, s))
                    }
                }
            }
        }
    }

    /// Score (None: nothing in it was judged, in the legacy model) and maximum.
    fn group(&self, g: &Group, assigned: Option<f64>) -> (Option<f64>, f64) {
        let cm = Self::child_max(g, assigned);
        let parts: Vec<(Option<f64>, f64)> = g
            .children
            .iter()
            .map(|c| match c {
                Node::Group(s) => self.group(s, cm),
                Node::Case(i) => self.case(*i, cm),
            })
            .collect();
        if parts.is_empty() {
            return (Some(0.0), g.max_score.or(assigned).unwrap_or(0.0));
        }
        let agg = |v: Vec<f64>| -> f64 {
            let n = v.len() as f64;
            match g.aggregation {
                Aggregation::Sum => v.iter().sum(),
                Aggregation::Min => v.iter().copied().fold(f64::INFINITY, f64::min),
                Aggregation::Max => v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                Aggregation::Avg => v.iter().sum::<f64>() / n,
            }
        };
        let scores: Vec<f64> = parts.iter().filter_map(|p| p.0).collect();
        let maxes: Vec<f64> = parts.iter().map(|p| p.1).collect();
        let score = (!scores.is_empty()).then(|| agg(scores));
        // Legacy: a finite `range` maximum is the group's full score, whatever the cases'
        // `accept_score` would add up to (validators' score.txt may score in other units).
        let max = match g.range {
            Some((_, hi)) if hi.is_finite() && g.max_score.is_none() && assigned.is_none() => hi,
            _ => agg(maxes),
        };
        (score, max)
    }

    /// A case's score (None: not judged, in the legacy model) and maximum.
    fn case(&self, i: usize, assigned: Option<f64>) -> (Option<f64>, f64) {
        let case = &self.problem.cases[i];
        let outcome = self.outcomes[i];
        let accepted = outcome.filter(|o| o.accepted);
        match assigned {
            Some(max) => {
                let s = accepted.map_or(0.0, |o| max * o.raw.unwrap_or(1.0).clamp(0.0, 1.0));
                (Some(s), max)
            }
            None => {
                let s = match (outcome, accepted) {
                    (None, _) => None,
                    (_, Some(CaseScore { raw: Some(x), .. })) if self.fractions => {
                        Some(x * case.accept_score)
                    }
                    (_, Some(CaseScore { raw: Some(x), .. })) => Some(x),
                    (_, Some(_)) => Some(case.accept_score),
                    (Some(_), None) => Some(case.reject_score),
                };
                (s, case.accept_score)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn package(files: &[(&str, &str)]) -> (tempfile::TempDir, Problem) {
        let d = tempfile::tempdir().unwrap();
        for (p, t) in files {
            let f = d.path().join(p);
            fs::create_dir_all(f.parent().unwrap()).unwrap();
            fs::write(f, t).unwrap();
        }
        let p = crate::problem::load(d.path()).unwrap();
        (d, p)
    }

    fn cases(groups: &[&str], n: usize) -> Vec<(String, String)> {
        let mut v = Vec::new();
        for g in groups {
            for i in 0..n {
                v.push((format!("data/secret/{g}/{i}.in"), String::new()));
                v.push((format!("data/secret/{g}/{i}.ans"), String::new()));
            }
        }
        v
    }

    fn score(p: &Problem, accepted: &[bool], fractions: bool) -> (f64, f64) {
        let o: Vec<Option<CaseScore>> = accepted
            .iter()
            .map(|&a| {
                Some(CaseScore {
                    accepted: a,
                    raw: None,
                })
            })
            .collect();
        Scorer {
            problem: p,
            outcomes: &o,
            fractions,
        }
        .total()
    }

    #[test]
    fn groups_2023_min_and_sum() {
        let mut files = vec![
            (
                "problem.yaml".to_string(),
                "problem_format_version: 2023-07\ntype: scoring\n".to_string(),
            ),
            (
                "data/secret/a/test_group.yaml".into(),
                "scoring: {score: 40, aggregation: min}\n".into(),
            ),
            (
                "data/secret/b/test_group.yaml".into(),
                "scoring: {score: 60, aggregation: sum}\n".into(),
            ),
        ];
        files.extend(cases(&["a", "b"], 3));
        let refs: Vec<(&str, &str)> = files
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let (_d, p) = package(&refs);
        assert_eq!(score(&p, &[true; 6], false), (100.0, 100.0));
        // One failure in the min group loses it all; each case of the sum group is 20.
        let (s, m) = score(&p, &[true, false, true, true, false, true], false);
        assert_eq!(m, 100.0);
        assert!((s - 40.0).abs() < 1e-9, "{s}");
        let (s, _) = score(&p, &[true, true, true, false, false, true], false);
        assert!((s - 60.0).abs() < 1e-9, "{s}");
    }

    #[test]
    fn legacy_accept_scores_and_grader_flags() {
        let mut files = vec![
            ("problem.yaml".to_string(), "type: scoring\n".to_string()),
            (
                "data/secret/a/testdata.yaml".into(),
                "grader_flags: min\naccept_score: 25\n".into(),
            ),
            (
                "data/secret/b/testdata.yaml".into(),
                "accept_score: 5\n".into(),
            ),
        ];
        files.extend(cases(&["a", "b"], 2));
        let refs: Vec<(&str, &str)> = files
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let (_d, p) = package(&refs);
        // a: min of 25s = 25; b: sum of 5s = 10.
        assert_eq!(score(&p, &[true; 4], false), (35.0, 35.0));
        assert_eq!(score(&p, &[true, false, true, false], false), (5.0, 35.0));
        // Validator scores: score.txt is the score; testlib points a fraction.
        let o = vec![
            Some(CaseScore {
                accepted: true,
                raw: Some(0.5),
            }),
            Some(CaseScore {
                accepted: true,
                raw: Some(0.5),
            }),
            None,
            None,
        ];
        let mk = |fractions| {
            Scorer {
                problem: &p,
                outcomes: &o,
                fractions,
            }
            .total()
        };
        assert_eq!(mk(false), (0.5, 35.0));
        assert_eq!(mk(true), (12.5, 35.0));
    }
}

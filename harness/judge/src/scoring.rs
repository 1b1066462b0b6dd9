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
//! - 2025-09: `secret` (default `max_score` 100, `score_aggregation: sum`) and its test
//!   data groups (default `pass-fail`) each have a maximum (or are `unbounded`). A case in
//!   a `sum` group may score the group's maximum over its number of cases, in a `min`
//!   group the whole maximum; an accepted case scores that, or its `score.txt` (a
//!   `score_multiplier.txt` is turned into a score when the case is checked), a rejected
//!   one 0. A `pass-fail` group scores its maximum when every case in it is accepted. A
//!   group whose `require_pass` groups are not all accepted scores 0.
//!
//! When no group on the way down names a maximum, the legacy model applies (also in 2023-07
//! packages).

use crate::problem::{Aggregation, CaseMax, FormatVersion, Group, Node, Problem};

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
        if self.problem.format == FormatVersion::V2025_09 {
            return self
                .problem
                .secret()
                .map_or((0.0, 0.0), |g| self.group_2025(g));
        }
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
        if self.problem.format == FormatVersion::V2025_09 {
            if let Some(g) = self.problem.secret() {
                self.walk_2025(g, &mut out);
            }
            return out;
        }
        if let Some(g) = self.problem.secret() {
            self.walk(g, None, &mut out);
        }
        out
    }

    /// 2025-09: the score of `secret` and of each of its test data groups.
    pub fn group_scores(&self) -> Vec<(String, f64)> {
        let mut out = Vec::new();
        if let Some(s) = self.problem.secret() {
            out.push((s.name.clone(), self.group_2025(s).0));
            for c in &s.children {
                if let Node::Group(g) = c {
                    out.push((g.name.clone(), self.group_2025(g).0));
                }
            }
        }
        out
    }

    fn find<'g>(g: &'g Group, name: &str) -> Option<&'g Group> {
        if g.name == name {
            return Some(g);
        }
        g.children.iter().find_map(|c| match c {
            Node::Group(s) => Self::find(s, name),
            Node::Case(_) => None,
        })
    }

    /// Every case in `g` was judged and accepted.
    fn all_accepted(&self, g: &Group) -> bool {
        g.children.iter().all(|c| match c {
            Node::Case(i) => self.outcomes[*i].is_some_and(|o| o.accepted),
            Node::Group(s) => self.all_accepted(s),
        })
    }

    /// 2025-09: the groups `g` requires (`require_pass`, transitively) were all accepted.
    fn requirements_met(&self, g: &Group) -> bool {
        self.problem
            .requirements(&g.name)
            .iter()
            .all(|r| Self::find(&self.problem.root, r).is_some_and(|t| self.all_accepted(t)))
    }

    /// 2025-09: a case's score (0 when not accepted).
    fn case_2025(&self, i: usize) -> f64 {
        match self.outcomes[i].filter(|o| o.accepted) {
            None => 0.0,
            Some(o) => o.raw.unwrap_or(match self.problem.cases[i].score_max {
                CaseMax::Bounded(m) => m,
                _ => 0.0,
            }),
        }
    }

    /// 2025-09: a group's score and maximum (infinite when unbounded).
    fn group_2025(&self, g: &Group) -> (f64, f64) {
        let max = g.max_score.unwrap_or(f64::INFINITY);
        if !self.requirements_met(g) {
            return (0.0, max);
        }
        let score = match g.aggregation {
            Aggregation::PassFail => {
                if self.all_accepted(g) {
                    max
                } else {
                    0.0
                }
            }
            agg => {
                let parts: Vec<f64> = g
                    .children
                    .iter()
                    .map(|c| match c {
                        Node::Case(i) => self.case_2025(*i),
                        Node::Group(s) => self.group_2025(s).0,
                    })
                    .collect();
                match agg {
                    Aggregation::Min => parts.iter().copied().fold(f64::INFINITY, f64::min),
                    _ => parts.iter().sum(),
                }
            }
        };
        (
            if score.is_finite() {
                score.min(max)
            } else {
                0.0
            },
            max,
        )
    }

    fn walk_2025(&self, g: &Group, out: &mut Vec<(usize, f64)>) {
        let met = self.requirements_met(g);
        for c in &g.children {
            match c {
                Node::Group(s) => self.walk_2025(s, out),
                Node::Case(i) => {
                    let scored = matches!(
                        self.problem.cases[*i].score_max,
                        CaseMax::Bounded(_) | CaseMax::Unbounded
                    );
                    if scored {
                        out.push((*i, if met { self.case_2025(*i) } else { 0.0 }));
                    }
                }
            }
        }
    }

    fn child_max(g: &Group, assigned: Option<f64>) -> Option<f64> {
        let n = g.children.len().max(1) as f64;
        g.max_score.or(assigned).map(|m| match g.aggregation {
            Aggregation::Min | Aggregation::Max | Aggregation::PassFail => m,
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
                Aggregation::Min | Aggregation::PassFail => {
                    v.iter().copied().fold(f64::INFINITY, f64::min)
                }
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

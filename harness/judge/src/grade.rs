//! The verdict of a submission from its cases' verdicts, group by group, as Kattis' default
//! grader computes it.
//!
//! Each group walks its children (cases and subgroups) in order; a group that stops at a
//! rejection (`on_reject: break`) ignores what follows its first rejected child. The
//! children's verdicts then make the group's verdict:
//! - a judge error in any child is the group's verdict, whatever the flags;
//! - `ignore_sample`: the `sample` group does not count (Kattis keeps the last of the root's
//!   two children, sample and secret; here the flag drops a `sample` child wherever it is);
//! - `accept_if_any_accepted`: AC when any child is AC;
//! - otherwise the rule: `worst_error` (the legacy default; severity JE, SV, RTE, MLE, TLE,
//!   OLE, WA, PE, AC), `first_error` (the 2023-07 rule) or `always_accept`.
//!
//! The walk also tells which cases count: those a breaking group did not skip. Scores are
//! computed elsewhere ([`crate::scoring`]) from the counted cases.

use crate::problem::{Group, Node, Problem, VerdictRule};
use crate::verdict::Verdict;

/// The result of grading.
#[derive(Debug, Clone, PartialEq)]
pub struct Graded {
    /// The overall verdict (the root group's).
    pub verdict: Verdict,
    /// The case the verdict comes from (None for AC, or an accepted rejection).
    pub case: Option<usize>,
    /// Per case: whether it counts (was not skipped by a group's `on_reject: break`).
    pub counted: Vec<bool>,
    /// Cases that count but have no verdict (not run): graded as JE.
    pub missing: Vec<usize>,
}

/// Every case of every group the group `name` requires (`require_pass`, transitively) was
/// judged and accepted.
fn requirements_met(problem: &Problem, name: &str, verdicts: &[Option<Verdict>]) -> bool {
    problem.requirements(name).iter().all(|r| {
        (0..problem.cases.len())
            .filter(|&i| problem.case_in(i, r))
            .all(|i| verdicts.get(i).copied().flatten() == Some(Verdict::AC))
    })
}

/// How bad a verdict is, for `worst_error` (higher is worse).
fn severity(v: Verdict) -> u8 {
    match v {
        Verdict::AC => 0,
        Verdict::PE => 1,
        Verdict::WA => 2,
        Verdict::OLE => 3,
        Verdict::TLE => 4,
        Verdict::MLE => 5,
        Verdict::RTE => 6,
        Verdict::SV => 7,
        Verdict::CE => 8,
        Verdict::JE => 9,
    }
}

/// Grades a problem's cases. `verdicts[i]` is case i's verdict, None when it did not run.
pub fn grade(problem: &Problem, verdicts: &[Option<Verdict>]) -> Graded {
    let mut g = Graded {
        verdict: Verdict::AC,
        case: None,
        counted: vec![false; problem.cases.len()],
        missing: Vec::new(),
    };
    if let Some((v, c)) = group(problem, &problem.root, verdicts, &mut g) {
        g.verdict = v;
        g.case = if v == Verdict::AC { None } else { c };
    }
    g
}

/// A group's verdict and the case it comes from; None when nothing in it was judged.
fn group(
    problem: &Problem,
    grp: &Group,
    verdicts: &[Option<Verdict>],
    g: &mut Graded,
) -> Option<(Verdict, Option<usize>)> {
    // (child is the sample group, verdict, case)
    let mut results: Vec<(bool, Verdict, Option<usize>)> = Vec::new();
    for child in &grp.children {
        let (is_sample, v, c) = match child {
            Node::Case(i) => {
                g.counted[*i] = true;
                let v = verdicts.get(*i).copied().flatten().unwrap_or_else(|| {
                    g.missing.push(*i);
                    Verdict::JE
                });
                (false, v, Some(*i))
            }
            // 2025-09 `require_pass`: a group whose required groups were not all accepted
            // is not judged; its cases do not count (and score 0).
            Node::Group(s) if !requirements_met(problem, &s.name, verdicts) => continue,
            Node::Group(s) => match group(problem, s, verdicts, g) {
                Some((v, c)) => (s.name == "sample", v, c),
                None => continue,
            },
        };
        results.push((is_sample, v, c));
        if v != Verdict::AC && grp.on_reject_break {
            break;
        }
    }
    if results.is_empty() {
        return None;
    }
    if let Some(&(_, v, c)) = results.iter().find(|r| r.1 == Verdict::JE) {
        return Some((v, c));
    }
    let flags = grp.grader;
    if flags.ignore_sample && results.iter().any(|r| !r.0) {
        results.retain(|r| !r.0);
    }
    if flags.accept_if_any && results.iter().any(|r| r.1 == Verdict::AC) {
        return Some((Verdict::AC, None));
    }
    let first_rejected = results.iter().find(|r| r.1 != Verdict::AC);
    Some(match flags.rule {
        VerdictRule::AlwaysAccept => (Verdict::AC, None),
        VerdictRule::First => first_rejected.map_or((Verdict::AC, None), |r| (r.1, r.2)),
        VerdictRule::Worst => {
            // The first child with the worst verdict.
            let worst = results.iter().map(|r| severity(r.1)).max().unwrap_or(0);
            results
                .iter()
                .find(|r| severity(r.1) == worst)
                .map_or((Verdict::AC, None), |r| (r.1, r.2))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use Verdict::*;

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

    /// A legacy package: one sample case, secret groups a and b with two cases each;
    /// `secret` and the groups get the given testdata.yaml texts.
    fn legacy(root: &str, secret: &str, a: &str, b: &str) -> (tempfile::TempDir, Problem) {
        let mut files = vec![
            ("problem.yaml", "name: t\n"),
            ("data/sample/1.in", ""),
            ("data/sample/1.ans", ""),
        ];
        for g in ["a", "b"] {
            for c in ["1", "2"] {
                files.push((
                    Box::leak(format!("data/secret/{g}/{c}.in").into_boxed_str()),
                    "",
                ));
                files.push((
                    Box::leak(format!("data/secret/{g}/{c}.ans").into_boxed_str()),
                    "",
                ));
            }
        }
        for (path, text) in [
            ("data/testdata.yaml", root),
            ("data/secret/testdata.yaml", secret),
            ("data/secret/a/testdata.yaml", a),
            ("data/secret/b/testdata.yaml", b),
        ] {
            if !text.is_empty() {
                files.push((path, text));
            }
        }
        package(&files)
    }

    fn run(p: &Problem, v: &[Verdict]) -> (Verdict, Option<String>, Vec<bool>) {
        let v: Vec<Option<Verdict>> = v.iter().map(|&v| Some(v)).collect();
        let g = grade(p, &v);
        assert!(g.missing.is_empty());
        (
            g.verdict,
            g.case.map(|i| p.cases[i].name.clone()),
            g.counted,
        )
    }

    #[test]
    fn default_legacy_is_worst_error_and_breaks() {
        let (_d, p) = legacy("", "", "", "");
        assert_eq!(p.cases.len(), 5);
        // Breaking everywhere (the legacy default): the first rejection ends judging.
        let (v, c, counted) = run(&p, &[AC, WA, TLE, AC, AC]);
        assert_eq!((v, c.as_deref()), (WA, Some("secret/a/1")));
        assert_eq!(counted, [true, true, false, false, false]);
        assert_eq!(run(&p, &[AC; 5]).0, AC);
    }

    #[test]
    fn worst_and_first_error_when_continuing() {
        let (_d, p) = legacy(
            "",
            "on_reject: continue\n",
            "on_reject: continue\n",
            "on_reject: break\n",
        );
        // a: WA then TLE; b: RTE (b breaks: its second case does not count).
        let verdicts = [AC, WA, TLE, RTE, AC];
        let (v, c, counted) = run(&p, &verdicts);
        assert_eq!((v, c.as_deref()), (RTE, Some("secret/b/1")));
        assert_eq!(counted, [true, true, true, true, false]);
        // first_error at secret: group a's verdict is its worst (TLE), and a comes first.
        let (_d, p) = legacy(
            "",
            "on_reject: continue\ngrader_flags: first_error\n",
            "on_reject: continue\ngrader_flags: worst_error\n",
            "",
        );
        let (v, c, _) = run(&p, &verdicts);
        assert_eq!((v, c.as_deref()), (TLE, Some("secret/a/2")));
        // PE is the mildest rejection, JE beats everything.
        let (_d, p) = legacy("", "on_reject: continue\n", "on_reject: continue\n", "");
        assert_eq!(run(&p, &[AC, PE, WA, AC, AC]).0, WA);
        assert_eq!(run(&p, &[AC, JE, SV, AC, AC]).0, JE);
        assert_eq!(run(&p, &[AC, SV, RTE, AC, AC]).0, SV);
    }

    #[test]
    fn always_accept_and_accept_if_any() {
        // Group a always accepts: a rejection inside it neither fails secret nor stops b.
        let (_d, p) = legacy("", "", "grader_flags: always_accept\n", "");
        let (v, c, counted) = run(&p, &[AC, WA, AC, AC, AC]);
        assert_eq!((v, c), (AC, None));
        // a breaks at its first rejection (on_reject is still break), b runs.
        assert_eq!(counted, [true, true, false, true, true]);
        assert!(
            !p.breaks_between(1, 3),
            "no skipping across an accepting group"
        );
        assert!(p.breaks_between(1, 2), "a itself still breaks");
        assert_eq!(run(&p, &[AC, WA, AC, TLE, AC]).0, TLE);
        // A judge error is never accepted.
        assert_eq!(run(&p, &[AC, JE, AC, AC, AC]).0, JE);

        // accept_if_any_accepted: one accepted case is enough.
        let (_d, p) = legacy(
            "",
            "",
            "on_reject: continue\ngrader_flags: accept_if_any_accepted\n",
            "",
        );
        assert_eq!(run(&p, &[AC, WA, AC, AC, AC]).0, AC);
        let (v, c, _) = run(&p, &[AC, WA, TLE, AC, AC]);
        assert_eq!((v, c.as_deref()), (TLE, Some("secret/a/2")));
        // With first_error too, the first rejection names the verdict.
        let (_d, p) = legacy(
            "",
            "",
            "on_reject: continue\ngrader_flags: accept_if_any_accepted first_error\n",
            "",
        );
        assert_eq!(run(&p, &[AC, WA, TLE, AC, AC]).0, WA);
    }

    #[test]
    fn ignore_sample() {
        // The root continues after the sample and ignores its verdict.
        let (_d, p) = legacy(
            "on_reject: continue\ngrader_flags: ignore_sample\n",
            "grader_flags: sum\non_reject: break\n",
            "",
            "",
        );
        let (v, _, counted) = run(&p, &[WA, AC, AC, AC, AC]);
        assert_eq!(v, AC);
        assert_eq!(counted, [true; 5]);
        assert_eq!(run(&p, &[WA, AC, AC, RTE, AC]).0, RTE);
        // Breaking at the root, a failed sample stops judging: its verdict is all there is.
        let (_d, p) = legacy(
            "grader_flags: ignore_sample\n",
            "grader_flags: sum\n",
            "",
            "",
        );
        let (v, _, counted) = run(&p, &[WA, AC, AC, AC, AC]);
        assert_eq!(v, WA);
        assert_eq!(counted, [true, false, false, false, false]);
    }

    #[test]
    fn grader_flags_replace_the_parents() {
        // secret says min + always_accept; group a's own flags name only first_error, so a
        // aggregates with sum and grades by first error, as Kattis' grader would.
        let (_d, p) = legacy(
            "",
            "grader_flags: min always_accept\n",
            "grader_flags: first_error\n",
            "",
        );
        let secret = p.secret().unwrap();
        assert_eq!(secret.aggregation, crate::problem::Aggregation::Min);
        assert_eq!(secret.grader.rule, VerdictRule::AlwaysAccept);
        let Node::Group(a) = &secret.children[0] else {
            panic!("a group")
        };
        assert_eq!(a.aggregation, crate::problem::Aggregation::Sum);
        assert_eq!(a.grader.rule, VerdictRule::First);
        // Group b inherits secret's flags whole.
        let Node::Group(b) = &secret.children[1] else {
            panic!("a group")
        };
        assert_eq!(b.grader.rule, VerdictRule::AlwaysAccept);
    }

    #[test]
    fn format_2023_is_first_error() {
        let (_d, p) = package(&[
            ("problem.yaml", "problem_format_version: 2023-07\nname: t\n"),
            ("data/secret/1.in", ""),
            ("data/secret/1.ans", ""),
            ("data/secret/2.in", ""),
            ("data/secret/2.ans", ""),
        ]);
        assert_eq!(p.root.grader.rule, VerdictRule::First);
        let g = grade(&p, &[Some(WA), None]);
        assert_eq!(g.verdict, WA);
        assert_eq!(g.counted, [true, false]);
        assert!(g.missing.is_empty());
        // A counted case that did not run is a judge error, not the submission's.
        let g = grade(&p, &[None, None]);
        assert_eq!((g.verdict, g.missing), (JE, vec![0]));
    }

    #[test]
    fn require_pass_is_transitive_and_keeps_dependents_from_counting() {
        let yaml = "problem_format_version: 2025-09\ntype: scoring\nname: t\n\
                    uuid: 0b7f3e52-3f0e-4c55-9a8d-61b0d2f3c6a4\nlimits:\n  time_limit: 1\n";
        let (_d, p) = package(&[
            ("problem.yaml", yaml),
            ("data/sample/1.in", ""),
            ("data/sample/1.ans", ""),
            ("data/secret/a/1.in", ""),
            ("data/secret/a/1.ans", ""),
            ("data/secret/a/test_group.yaml", "max_score: 20\n"),
            ("data/secret/b/1.in", ""),
            ("data/secret/b/1.ans", ""),
            (
                "data/secret/b/test_group.yaml",
                "max_score: 30\nrequire_pass: secret/a\n",
            ),
            ("data/secret/c/1.in", ""),
            ("data/secret/c/1.ans", ""),
            (
                "data/secret/c/test_group.yaml",
                "max_score: 50\nrequire_pass: [secret/b]\n",
            ),
        ]);
        // Cases: sample/1, a/1, b/1, c/1. c needs b, and so (through b) a.
        assert_eq!(p.requirements("secret/c"), ["secret/b", "secret/a"]);
        assert!(p.requires_between(1, 3) && p.requires_between(2, 3));
        assert!(!p.requires_between(0, 3), "nothing requires sample");
        assert!(!p.requires_between(3, 2), "b does not need c");
        // a rejected: b and c are not judged (not counted), whatever they got.
        let g = grade(&p, &[Some(AC), Some(WA), Some(AC), Some(AC)]);
        assert_eq!(g.counted, [true, true, false, false]);
        assert_eq!((g.verdict, g.case), (WA, Some(1)));
        // A dependent that was skipped leaves its own dependents unjudged too.
        let g = grade(&p, &[Some(AC), Some(AC), None, Some(AC)]);
        assert_eq!(g.counted, [true, true, true, false]);
        assert_eq!(g.missing, [2]);
        let g = grade(&p, &[Some(AC); 4]);
        assert_eq!((g.verdict, g.counted), (AC, vec![true; 4]));
    }
}

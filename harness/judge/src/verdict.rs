//! Judge verdicts, how the engine's outcomes map to them, and the verdicts a
//! `submissions/<directory>` expects.

use hatchery_report::{CaseResult, Limit, Outcome};

pub use hatchery_report::Verdict;

/// The verdict of a run that did not end normally, with its message; `None` when the
/// program exited with status 0 within its limits (the checker decides then).
///
/// TLE is decided on CPU time (Kattis semantics): a run that exited normally but used more
/// CPU than `cpu_limit_us` is TLE too. The wall limit (a backstop against sleeping) also
/// gives TLE.
pub fn run_verdict(r: &CaseResult, cpu_limit_us: Option<u64>) -> Option<(Verdict, String)> {
    let v = match r.outcome {
        Outcome::Ok => {
            if let Some(l) = cpu_limit_us {
                if r.usage.cpu_us > l {
                    return Some((
                        Verdict::TLE,
                        format!(
                            "used {} of CPU time, over the {} limit",
                            crate::fmt_us(r.usage.cpu_us),
                            crate::fmt_us(l)
                        ),
                    ));
                }
            }
            return None;
        }
        Outcome::TimeLimit => Verdict::TLE,
        Outcome::MemoryLimit => Verdict::MLE,
        Outcome::OutputLimit => Verdict::OLE,
        Outcome::PolicyViolation => Verdict::SV,
        Outcome::SandboxError => Verdict::JE,
        Outcome::NonzeroExit => Verdict::RTE,
        // A crash after the pids limit refused a fork is still the program's run-time error.
        Outcome::Signaled => Verdict::RTE,
    };
    let msg = match (v, &r.error) {
        (Verdict::JE, Some(e)) => format!("sandbox error: {e}"),
        (Verdict::TLE, _) => match r.limit {
            Some(Limit::Wall) => format!(
                "wall-clock limit reached after {} (CPU {})",
                crate::fmt_us(r.usage.wall_us),
                crate::fmt_us(r.usage.cpu_us)
            ),
            _ => format!("CPU time limit reached ({})", crate::fmt_us(r.usage.cpu_us)),
        },
        _ => r.reason.clone(),
    };
    Some((v, msg))
}

/// Verdicts that a submission in `submissions/<dir>/` may receive, or None for a directory
/// name this judge does not know. Kattis legacy and 2023-07 names, plus hatchery's own
/// (`compile_error`, `memory_limit_exceeded`, `output_limit_exceeded`,
/// `presentation_error`, `security_violation`).
pub fn expected_for_dir(dir: &str) -> Option<Expected> {
    use Verdict::*;
    let e = match dir {
        "accepted" => Expected::Verdicts(vec![AC]),
        "partially_accepted" => Expected::Partial,
        "wrong_answer" => Expected::Verdicts(vec![WA, PE]),
        "time_limit_exceeded" => Expected::Verdicts(vec![TLE]),
        // Accepted, but possibly slower than the time limit (problemtools' examples).
        "slow_accepted" => Expected::Verdicts(vec![AC, TLE]),
        "run_time_error" => Expected::Verdicts(vec![RTE, MLE]),
        "rejected" => Expected::Verdicts(vec![WA, PE, TLE, MLE, OLE, RTE, SV, CE]),
        "brute_force" => Expected::Verdicts(vec![TLE, RTE, MLE]),
        "compile_error" | "compiler_error" => Expected::Verdicts(vec![CE]),
        "memory_limit_exceeded" => Expected::Verdicts(vec![MLE]),
        "output_limit_exceeded" => Expected::Verdicts(vec![OLE]),
        "presentation_error" => Expected::Verdicts(vec![PE]),
        "security_violation" => Expected::Verdicts(vec![SV]),
        _ => return None,
    };
    Some(e)
}

/// What a submission is expected to get.
#[derive(Debug, Clone, PartialEq)]
pub enum Expected {
    /// One of these verdicts (for a scoring problem, `AC` also means the full score).
    Verdicts(Vec<Verdict>),
    /// A scoring problem's submission with a score above 0 and below the maximum.
    Partial,
    /// DOMjudge's `@EXPECTED_SCORE@: N`: this score (and, when `verdicts` is not empty,
    /// one of these verdicts).
    Score { score: f64, verdicts: Vec<Verdict> },
}

impl Expected {
    /// Whether a result matches. `score`/`max_score` are set for scoring problems.
    pub fn matches(&self, v: Verdict, score: Option<f64>, max_score: Option<f64>) -> bool {
        match self {
            Expected::Verdicts(vs) => {
                if !vs.contains(&v) {
                    return false;
                }
                match (v, score, max_score) {
                    (Verdict::AC, Some(s), Some(m)) => (s - m).abs() < 1e-9,
                    _ => true,
                }
            }
            Expected::Partial => match (score, max_score) {
                (Some(s), Some(m)) => s > 1e-9 && s < m - 1e-9,
                _ => false,
            },
            Expected::Score {
                score: want,
                verdicts,
            } => {
                (verdicts.is_empty() || verdicts.contains(&v))
                    && score.is_some_and(|s| (s - want).abs() < 1e-6)
            }
        }
    }

    pub fn describe(&self) -> String {
        let names = |v: &[Verdict]| v.iter().map(|v| v.as_str()).collect::<Vec<_>>().join("|");
        match self {
            Expected::Verdicts(v) => names(v),
            Expected::Partial => "partial score".into(),
            Expected::Score { score, verdicts } if verdicts.is_empty() => format!("score {score}"),
            Expected::Score { score, verdicts } => format!("{} score {score}", names(verdicts)),
        }
    }
}

/// The names `@EXPECTED_RESULTS@` accepts, as DOMjudge reads them: upper-cased, `_` read as
/// `-`, DOMjudge's remapped Kattis names (`ACCEPTED`, `WRONG_ANSWER`,
/// `TIME_LIMIT_EXCEEDED`, `RUN_TIME_ERROR`, `COMPILER_ERROR`, `NO_OUTPUT`, `OUTPUT_LIMIT`)
/// and the remaining Kattis directory names.
fn annotated_verdicts(name: &str) -> Option<&'static [Verdict]> {
    use Verdict::*;
    Some(
        match name.trim().to_uppercase().replace('_', "-").as_str() {
            "CORRECT" | "ACCEPTED" => &[AC],
            // DOMjudge's NO-OUTPUT is a wrong answer that printed nothing.
            "WRONG-ANSWER" | "NO-OUTPUT" => &[WA, PE],
            "PRESENTATION-ERROR" => &[PE],
            "TIMELIMIT" | "TIME-LIMIT-EXCEEDED" => &[TLE],
            "RUN-ERROR" | "RUN-TIME-ERROR" => &[RTE, MLE],
            "COMPILER-ERROR" | "COMPILE-ERROR" => &[CE],
            "OUTPUT-LIMIT" | "OUTPUT-LIMIT-EXCEEDED" => &[OLE],
            "MEMORY-LIMIT" | "MEMORY-LIMIT-EXCEEDED" => &[MLE],
            _ => return None,
        },
    )
}

/// Where `marker` occurs in `text`, ignoring ASCII case (DOMjudge matches it so).
fn find_marker(text: &str, marker: &str, from: usize) -> Option<usize> {
    let hay = text.as_bytes();
    let needle = marker.as_bytes();
    (from..=hay.len().checked_sub(needle.len())?)
        .find(|&i| hay[i..i + needle.len()].eq_ignore_ascii_case(needle))
}

/// The rest of the line after the one occurrence of `marker`; an error when it occurs
/// twice (DOMjudge refuses such a file).
fn marker_value<'t>(text: &'t str, marker: &str) -> Result<Option<&'t str>, String> {
    let Some(at) = find_marker(text, marker, 0) else {
        return Ok(None);
    };
    let start = at + marker.len();
    if find_marker(text, marker, start).is_some() {
        return Err(format!("{marker} occurs more than once"));
    }
    let rest = &text[start..];
    Ok(Some(rest.lines().next().unwrap_or("").trim()))
}

/// DOMjudge's annotations in a submission's source, which override its directory:
/// `@EXPECTED_RESULTS@: CORRECT, TIMELIMIT` (the verdicts it may get) and
/// `@EXPECTED_SCORE@: 42` (its score; a non-numeric value is read as results, as DOMjudge
/// does). Markers match in any case; each may appear once.
pub fn expected_from_source(text: &str) -> Option<Result<Expected, String>> {
    let results = marker_value(text, "@EXPECTED_RESULTS@:");
    let score = marker_value(text, "@EXPECTED_SCORE@:");
    let (results, score) = match (results, score) {
        (Err(e), _) | (_, Err(e)) => return Some(Err(e)),
        (Ok(None), Ok(None)) => return None,
        (Ok(r), Ok(s)) => (r, s),
    };
    let parse_results = |line: &str, marker: &str| -> Result<Vec<Verdict>, String> {
        let mut out = Vec::new();
        for w in line.split(',') {
            let w = w.trim();
            if w.is_empty() {
                continue;
            }
            let Some(vs) = annotated_verdicts(w) else {
                return Err(format!(
                    "{marker} unknown result `{w}` (expected CORRECT, WRONG-ANSWER, NO-OUTPUT, \
                     TIMELIMIT, RUN-ERROR, COMPILER-ERROR, OUTPUT-LIMIT, MEMORY-LIMIT, or a \
                     Kattis name such as TIME_LIMIT_EXCEEDED)"
                ));
            };
            if vs.iter().all(|v| out.contains(v)) {
                return Err(format!("{marker} `{w}` is given twice"));
            }
            for v in vs {
                if !out.contains(v) {
                    out.push(*v);
                }
            }
        }
        if out.is_empty() {
            return Err(format!("{marker} no result given"));
        }
        Ok(out)
    };
    let mut verdicts = Vec::new();
    if let Some(r) = results {
        match parse_results(r, "@EXPECTED_RESULTS@:") {
            Ok(v) => verdicts = v,
            Err(e) => return Some(Err(e)),
        }
    }
    let mut expected_score = None;
    if let Some(sv) = score {
        match sv.parse::<f64>() {
            Ok(x) if x.is_finite() => expected_score = Some(x),
            _ if results.is_some() => {
                return Some(Err(format!(
                    "@EXPECTED_SCORE@: `{sv}` is not a number (and @EXPECTED_RESULTS@ already \
                     gives the results)"
                )))
            }
            _ => match parse_results(sv, "@EXPECTED_SCORE@:") {
                Ok(v) => verdicts = v,
                Err(e) => return Some(Err(e)),
            },
        }
    }
    Some(Ok(match expected_score {
        Some(score) => Expected::Score { score, verdicts },
        None => Expected::Verdicts(verdicts),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hatchery_report::{decide, Enforcement, Limits, RawFacts, Termination};

    fn result(t: Option<Termination>, killed: Option<Limit>, cpu: u64) -> CaseResult {
        let mut f = RawFacts {
            termination: t,
            killed_for: killed,
            ..Default::default()
        };
        f.usage.cpu_us = cpu;
        decide(f, &Limits::default(), "hardened", Enforcement::new())
    }

    #[test]
    fn outcomes_map_to_verdicts() {
        let sig = |s| {
            Some(Termination::Signaled {
                signal: s,
                core_dumped: false,
            })
        };
        assert_eq!(
            run_verdict(&result(Some(Termination::Exited(0)), None, 10), Some(100)),
            None
        );
        assert_eq!(
            run_verdict(&result(Some(Termination::Exited(0)), None, 200), Some(100))
                .unwrap()
                .0,
            Verdict::TLE
        );
        let v = |r: CaseResult| run_verdict(&r, Some(1_000_000)).unwrap();
        assert_eq!(
            v(result(Some(Termination::Exited(3)), None, 0)),
            (Verdict::RTE, "exited with status 3".into())
        );
        assert_eq!(v(result(sig(11), None, 0)).0, Verdict::RTE);
        assert!(v(result(sig(11), None, 0)).1.contains("SIGSEGV"));
        assert_eq!(v(result(sig(31), None, 0)).0, Verdict::SV);
        assert_eq!(v(result(sig(9), Some(Limit::Cpu), 0)).0, Verdict::TLE);
        assert_eq!(v(result(sig(9), Some(Limit::Wall), 0)).0, Verdict::TLE);
        assert_eq!(v(result(sig(9), Some(Limit::Output), 0)).0, Verdict::OLE);
        let je = decide(
            RawFacts {
                error: Some("zygote died".into()),
                ..Default::default()
            },
            &Limits::default(),
            "hardened",
            Enforcement::new(),
        );
        let (verdict, msg) = v(je);
        assert_eq!(verdict, Verdict::JE);
        assert!(msg.contains("zygote died"));
    }

    #[test]
    fn directories_and_annotations() {
        let ac = expected_for_dir("accepted").unwrap();
        assert!(ac.matches(Verdict::AC, None, None));
        assert!(!ac.matches(Verdict::AC, Some(50.0), Some(100.0)));
        assert!(ac.matches(Verdict::AC, Some(100.0), Some(100.0)));
        assert!(expected_for_dir("run_time_error")
            .unwrap()
            .matches(Verdict::RTE, None, None));
        assert!(!expected_for_dir("wrong_answer")
            .unwrap()
            .matches(Verdict::TLE, None, None));
        let p = expected_for_dir("partially_accepted").unwrap();
        assert!(p.matches(Verdict::WA, Some(30.0), Some(100.0)));
        assert!(!p.matches(Verdict::AC, Some(100.0), Some(100.0)));
        assert!(expected_for_dir("nonsense").is_none());
        let e = expected_from_source("// @EXPECTED_RESULTS@: CORRECT, TIMELIMIT\nint main")
            .unwrap()
            .unwrap();
        assert!(e.matches(Verdict::TLE, None, None));
        assert!(e.matches(Verdict::AC, None, None));
        assert!(expected_from_source("@EXPECTED_RESULTS@: MAYBE")
            .unwrap()
            .is_err());
        assert!(expected_from_source("int main() {}").is_none());
        assert_eq!("tle".parse::<Verdict>().unwrap(), Verdict::TLE);
    }
}

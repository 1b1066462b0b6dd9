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
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    /// One of these verdicts (for a scoring problem, `AC` also means the full score).
    Verdicts(Vec<Verdict>),
    /// A scoring problem's submission with a score above 0 and below the maximum.
    Partial,
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
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Expected::Verdicts(v) => v.iter().map(|v| v.as_str()).collect::<Vec<_>>().join("|"),
            Expected::Partial => "partial score".into(),
        }
    }
}

/// DOMjudge's `@EXPECTED_RESULTS@: CORRECT, TIMELIMIT` annotation in a submission's source,
/// which overrides its directory.
pub fn expected_from_source(text: &str) -> Option<Result<Expected, String>> {
    let idx = text.find("@EXPECTED_RESULTS@:")?;
    let rest = &text[idx + "@EXPECTED_RESULTS@:".len()..];
    let line = rest.lines().next().unwrap_or("");
    let mut out = Vec::new();
    for w in line.split(|c: char| c == ',' || c.is_whitespace()) {
        let w = w.trim();
        if w.is_empty() {
            continue;
        }
        let v = match w.to_ascii_uppercase().replace('_', "-").as_str() {
            "CORRECT" => vec![Verdict::AC],
            "WRONG-ANSWER" | "NO-OUTPUT" => vec![Verdict::WA, Verdict::PE],
            "TIMELIMIT" => vec![Verdict::TLE],
            "RUN-ERROR" => vec![Verdict::RTE, Verdict::MLE],
            "COMPILER-ERROR" => vec![Verdict::CE],
            "OUTPUT-LIMIT" => vec![Verdict::OLE],
            "MEMORY-LIMIT" => vec![Verdict::MLE],
            other => {
                return Some(Err(format!(
                    "@EXPECTED_RESULTS@: unknown result `{other}` (expected CORRECT, \
                     WRONG-ANSWER, NO-OUTPUT, TIMELIMIT, RUN-ERROR, COMPILER-ERROR, \
                     OUTPUT-LIMIT or MEMORY-LIMIT)"
                )))
            }
        };
        for x in v {
            if !out.contains(&x) {
                out.push(x);
            }
        }
    }
    if out.is_empty() {
        return Some(Err("@EXPECTED_RESULTS@: no result given".into()));
    }
    Some(Ok(Expected::Verdicts(out)))
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

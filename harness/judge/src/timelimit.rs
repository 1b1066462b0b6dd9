//! Deriving a problem's time limit from its accepted submissions, the way the Kattis
//! problem package format defines it (`--derive-time-limit`, and whenever a package gives
//! no time limit).
//!
//! Every submission under `submissions/accepted/` is judged with a generous cap (60 s of
//! CPU per test case unless `--time-limit` says otherwise). `T` is the largest CPU time of
//! any single run of any of them (for multi-pass problems, of one pass). Then:
//!
//! - legacy: the limit is `T × time_multiplier` (default 5) rounded **up** to a whole
//!   second, at least 1 s (the legacy specification's `⌈T·M⌉`; problemtools rounds to the
//!   nearest second instead). Every `time_limit_exceeded` submission must still get TLE
//!   with `limit × time_safety_margin` (default 2).
//! - 2023-07: the limit is the smallest positive multiple of `time_resolution` (default
//!   1 s) that is at least `T × ac_to_time_limit` (default 2) and with
//!   `limit × time_limit_to_tle` (default 1.5) at most the run time of every
//!   `time_limit_exceeded` submission: each must get TLE with `limit × time_limit_to_tle`.
//!   If one does not, no such multiple exists and the derivation fails.
//!
//! An accepted submission that is not accepted under the cap, or a time_limit_exceeded
//! submission that is accepted within the margin, makes the derivation fail with a message
//! naming it. Submissions of other verdicts in `time_limit_exceeded/` (a wrong answer
//! before any slow case) do not bound the limit and are listed as such.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::judge::{Judge, JudgeReport, Submission};
use crate::problem::FormatVersion;
use crate::report::Events;
use crate::verdict::Verdict;
use crate::verify::Planned;

/// The default cap on each run of an accepted submission while deriving.
pub const DEFAULT_CAP: Duration = Duration::from_secs(60);

/// One accepted submission's slowest run.
#[derive(Debug, Clone, Serialize)]
pub struct AcceptedRun {
    pub path: String,
    pub slowest_case: Option<String>,
    pub slowest_cpu_us: u64,
}

/// One time_limit_exceeded submission judged with the margin.
#[derive(Debug, Clone, Serialize)]
pub struct TleCheck {
    pub path: String,
    pub limit_us: u64,
    pub verdict: Verdict,
    /// Whether it bounds the limit from above (it got TLE with the margin).
    pub bounds: bool,
}

/// How a time limit was derived.
#[derive(Debug, Clone, Serialize)]
pub struct Derivation {
    pub time_limit_us: u64,
    /// The cap each accepted run had.
    pub cap_us: u64,
    /// The slowest accepted run and where it was.
    pub slowest_accepted_us: u64,
    pub slowest_accepted: String,
    /// `time_multiplier` / `ac_to_time_limit`.
    pub ac_to_time_limit: f64,
    /// `time_safety_margin` / `time_limit_to_tle`.
    pub time_limit_to_tle: f64,
    /// The rule applied, in words.
    pub rule: String,
    pub accepted: Vec<AcceptedRun>,
    pub time_limit_exceeded: Vec<TleCheck>,
    pub duration_us: u64,
}

impl Derivation {
    /// One line for people.
    pub fn summary(&self) -> String {
        format!(
            "time limit {} derived from {} accepted submission{}: slowest run {} ({}), {}",
            crate::fmt_us(self.time_limit_us),
            self.accepted.len(),
            if self.accepted.len() == 1 { "" } else { "s" },
            crate::fmt_us(self.slowest_accepted_us),
            self.slowest_accepted,
            self.rule
        )
    }
}

/// The limit from the slowest accepted run `t_us`, before the upper-bound check.
pub fn limit_from(format: FormatVersion, t_us: u64, multiplier: f64, resolution: f64) -> u64 {
    let exact_s = t_us as f64 / 1e6 * multiplier;
    // A little slack so that an exact multiple is not rounded up by float noise.
    let eps = 1e-9;
    match format {
        FormatVersion::Legacy => ((exact_s - eps).ceil().max(1.0) * 1e6) as u64,
        FormatVersion::V2023_07 | FormatVersion::V2025_09 => {
            let k = (exact_s / resolution - eps).ceil().max(1.0);
            (k * resolution * 1e6).round() as u64
        }
    }
}

fn slowest(r: &JudgeReport) -> (u64, Option<String>) {
    r.cases
        .iter()
        .map(|c| (c.slowest_run_cpu_us, Some(c.name.clone())))
        .max_by_key(|x| x.0)
        .unwrap_or((0, None))
}

/// Derives the time limit and sets it on `judge` (`time_limit`, `time_limit_source`,
/// `derivation`). `accepted` and `tle` are the package's `submissions/accepted/` and
/// `submissions/time_limit_exceeded/`. `progress` sees a line per judged submission.
pub fn derive(
    judge: &mut Judge<'_>,
    cap: Duration,
    accepted: &[Planned],
    tle: &[Planned],
    mut progress: impl FnMut(&str),
) -> Result<Derivation, String> {
    let start = Instant::now();
    let problem = judge.problem;
    if accepted.is_empty() {
        return Err(format!(
            "{}: cannot derive a time limit: no submissions in submissions/accepted/ (give \
             one with --time-limit)",
            problem.dir.display()
        ));
    }
    let limits = &problem.limits;
    let (m, s) = (limits.ac_to_time_limit, limits.time_limit_to_tle);
    judge.time_limit = cap;
    judge.time_limit_source = "derivation cap".into();
    let all: Vec<&Planned> = accepted.iter().chain(tle).collect();
    // The derivation's runs are not in the event stream (which starts once the time limit
    // is known).
    let mut quiet = Events::quiet();
    let subs: Vec<(&Submission, String)> = all
        .iter()
        .map(|p| (&p.submission, crate::verify::prefix(&p.submission)))
        .collect();
    let built = judge.build_all(&subs, &mut quiet);
    let mut built = built.into_iter();
    let mut runs = Vec::new();
    for p in accepted {
        let Some(b) = built.next() else {
            return Err(format!("{}: the build did not run", p.submission.label));
        };
        let r = judge.judge_built(&p.submission, b, Instant::now(), "", &mut quiet);
        if matches!(r.verdict, Verdict::JE | Verdict::CE) && r.cases.is_empty() {
            // Not built (for want of a toolchain, a broken one, or a compile error): it says
            // nothing about the time limit, and problemtools leaves it out too. Its
            // verification reports the error.
            progress(&format!(
                "derive: {} left out: {} before any test case: {}",
                p.submission.label,
                r.verdict.as_str(),
                r.message.lines().next().unwrap_or("")
            ));
            continue;
        }
        // 2025-09: a lower bound that may be rejected (a wrong_answer submission) only
        // gives its run time.
        if r.verdict != Verdict::AC && (p.must_accept() || r.verdict == Verdict::TLE) {
            return Err(format!(
                "cannot derive the time limit: {} got {}{} with a cap of {} per test case{}",
                p.submission.label,
                r.verdict.as_str(),
                r.failed_case
                    .as_ref()
                    .map(|c| format!(" on {c}"))
                    .unwrap_or_default(),
                crate::fmt_us(cap.as_micros() as u64),
                if r.message.is_empty() {
                    String::new()
                } else {
                    format!(": {}", r.message.lines().next().unwrap_or(""))
                }
            ));
        }
        let (t, case) = slowest(&r);
        progress(&format!(
            "derive: {} {}, slowest run {}{}",
            p.submission.label,
            r.verdict.as_str(),
            crate::fmt_us(t),
            case.as_ref()
                .map(|c| format!(" on {c}"))
                .unwrap_or_default()
        ));
        runs.push(AcceptedRun {
            path: p.submission.label.clone(),
            slowest_case: case,
            slowest_cpu_us: t,
        });
    }
    let Some(worst) = runs.iter().max_by_key(|r| r.slowest_cpu_us) else {
        return Err(format!(
            "{}: cannot derive a time limit: no accepted submission could be built (see the \
             judge errors above; give a limit with --time-limit)",
            problem.dir.display()
        ));
    };
    let t_ac = worst.slowest_cpu_us;
    let slowest_accepted = format!(
        "{}{}",
        worst.path,
        worst
            .slowest_case
            .as_ref()
            .map(|c| format!(" on {c}"))
            .unwrap_or_default()
    );
    let tl = limit_from(problem.format, t_ac, m, limits.time_resolution);
    let (mname, sname) = match problem.format {
        FormatVersion::Legacy => ("time_multiplier", "time_safety_margin"),
        FormatVersion::V2023_07 | FormatVersion::V2025_09 => {
            ("ac_to_time_limit", "time_limit_to_tle")
        }
    };
    let rounding = match problem.format {
        FormatVersion::Legacy => "rounded up to a whole second".to_owned(),
        FormatVersion::V2023_07 | FormatVersion::V2025_09 => format!(
            "rounded up to a multiple of time_resolution {}",
            crate::fmt_us((limits.time_resolution * 1e6) as u64)
        ),
    };
    let high = (tl as f64 * s).round() as u64;
    let rule = format!(
        "× {mname} {m} = {}, {rounding}; {}",
        crate::fmt_us((t_ac as f64 * m) as u64),
        if tle.is_empty() {
            "no time_limit_exceeded submissions to check it against".to_owned()
        } else {
            format!(
                "time_limit_exceeded submissions must exceed {} (× {sname} {s})",
                crate::fmt_us(high)
            )
        }
    );
    // Upper bound: the time_limit_exceeded submissions, with the margin.
    judge.time_limit = Duration::from_micros(high);
    let mut checks = Vec::new();
    for p in tle {
        let Some(b) = built.next() else {
            return Err(format!("{}: the build did not run", p.submission.label));
        };
        let r = judge.judge_built(&p.submission, b, Instant::now(), "", &mut quiet);
        progress(&format!(
            "derive: {} {} with {}",
            p.submission.label,
            r.verdict.as_str(),
            crate::fmt_us(high)
        ));
        if r.verdict == Verdict::AC {
            return Err(format!(
                "cannot derive the time limit: {} is accepted within {} (the derived limit {} × \
                 {sname} {s}), so no time limit keeps the slowest accepted run ({}, {}) within \
                 1/{m} of it and this submission over it",
                p.submission.label,
                crate::fmt_us(high),
                crate::fmt_us(tl),
                crate::fmt_us(t_ac),
                slowest_accepted
            ));
        }
        checks.push(TleCheck {
            path: p.submission.label.clone(),
            limit_us: high,
            verdict: r.verdict,
            bounds: r.verdict == Verdict::TLE,
        });
    }
    let d = Derivation {
        time_limit_us: tl,
        cap_us: cap.as_micros() as u64,
        slowest_accepted_us: t_ac,
        slowest_accepted,
        ac_to_time_limit: m,
        time_limit_to_tle: s,
        rule,
        accepted: runs,
        time_limit_exceeded: checks,
        duration_us: start.elapsed().as_micros() as u64,
    };
    judge.time_limit = Duration::from_micros(tl);
    judge.time_limit_source = "derived from submissions/accepted".into();
    judge.derivation = Some(d.clone());
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_rounds_up_to_whole_seconds_at_least_one() {
        let l = |t_us, m| limit_from(FormatVersion::Legacy, t_us, m, 1.0);
        assert_eq!(l(12_000, 5.0), 1_000_000);
        assert_eq!(l(200_000, 5.0), 1_000_000);
        assert_eq!(l(200_001, 5.0), 2_000_000);
        assert_eq!(l(1_300_000, 2.0), 3_000_000);
        assert_eq!(l(0, 5.0), 1_000_000);
    }

    #[test]
    fn v2023_uses_the_time_resolution() {
        let l = |t_us, m, r| limit_from(FormatVersion::V2023_07, t_us, m, r);
        assert_eq!(l(12_000, 2.0, 1.0), 1_000_000);
        assert_eq!(l(600_000, 2.0, 1.0), 2_000_000);
        assert_eq!(l(120_000, 2.0, 0.1), 300_000);
        assert_eq!(l(150_000, 2.0, 0.1), 300_000);
        assert_eq!(l(1_000, 2.0, 0.25), 250_000);
    }
}

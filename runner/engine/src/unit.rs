//! The unit of work: one case (a program, its input, its limits, its policy), what it is
//! expected to do, the group it belongs to, and how often it may be retried.

use std::time::Duration;

use hatchery_report::{CaseResult, Limit, Outcome, Verdict};
use hatchery_sandbox::{CaseSpec, Tier};

/// What a unit must do to pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Its outcome is this one (`ok` by default; a hostile case may expect `memory_limit`).
    Outcome(Outcome),
    /// The front end's verdict is this one (a judge submission expected to get WA passes
    /// when it gets WA).
    Verdict(Verdict),
}

impl Default for Expect {
    fn default() -> Self {
        Expect::Outcome(Outcome::Ok)
    }
}

/// How a failing unit is attempted again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RetryPolicy {
    /// Extra attempts after a failure; a pass after a failure is flaky.
    pub retries: u32,
    /// Wait before each retry.
    pub delay: Duration,
    /// Double the delay after each retry (nextest's exponential backoff).
    pub exponential: bool,
    /// The longest wait of an exponential backoff (nextest's `max-delay`).
    pub max_delay: Option<Duration>,
    /// Randomise each wait as nextest's `jitter` does: a uniform factor in (0.5, 1], applied
    /// after `max_delay`.
    pub jitter: bool,
}

impl RetryPolicy {
    /// The wait before attempt `next` (2 for the first retry), jittered when asked.
    pub fn delay_before(&self, next: u32) -> Duration {
        let d = self.backoff_before(next);
        if self.jitter {
            // (0, 1]: fastrand's f64 is in [0, 1).
            jittered(d, 1.0 - fastrand::f64())
        } else {
            d
        }
    }

    /// The wait before attempt `next` without jitter.
    pub fn backoff_before(&self, next: u32) -> Duration {
        if self.exponential && next > 2 {
            let d = self
                .delay
                .saturating_mul(1u32.checked_shl(next - 2).unwrap_or(u32::MAX));
            self.max_delay.map_or(d, |m| d.min(m))
        } else {
            self.delay
        }
    }
}

/// nextest's jitter: `d` scaled by `0.5 + u / 2` for `u` in (0, 1], so in (d/2, d].
pub fn jittered(d: Duration, u: f64) -> Duration {
    d.mul_f64(0.5 + u.clamp(0.0, 1.0) / 2.0)
}

/// One unit of work.
#[derive(Debug, Clone)]
pub struct Unit {
    /// Unique within a run; reports name the case by it.
    pub id: String,
    pub spec: CaseSpec,
    pub tier: Tier,
    pub expect: Expect,
    /// The group the unit belongs to (a test binary, a judge's test group): reporters show it,
    /// skip rules may use it.
    pub group: Option<String>,
    /// Overrides the run's retry policy for this unit.
    pub retry: Option<RetryPolicy>,
    /// An attempt that leaves processes behind (`leftover_processes` > 0) fails even when it
    /// meets the expectation otherwise (nextest's `leak-timeout` with `result = "fail"`).
    pub leak_fails: bool,
    /// An attempt ended by its wall-clock limit passes (nextest's `slow-timeout` with
    /// `on-timeout = "pass"`: for fuzz-like tests, running out of time finds nothing wrong).
    pub timeout_passes: bool,
    /// Overrides the run's `slow_after` for this unit (nextest's per-test `slow-timeout`).
    pub slow_after: Option<Duration>,
}

impl Unit {
    pub fn new(id: impl Into<String>, spec: CaseSpec, tier: Tier) -> Unit {
        Unit {
            id: id.into(),
            spec,
            tier,
            expect: Expect::default(),
            group: None,
            retry: None,
            leak_fails: false,
            timeout_passes: false,
            slow_after: None,
        }
    }

    /// The outcome expected, as reports show it (`ok` when a verdict is expected: the
    /// verdict fields say more).
    pub fn expected_outcome(&self) -> Outcome {
        match self.expect {
            Expect::Outcome(o) => o,
            Expect::Verdict(_) => Outcome::Ok,
        }
    }
}

/// What one attempt of a unit produced: the program's result, and the front end's verdict
/// when it gives one.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub result: CaseResult,
    pub verdict: Option<Verdict>,
}

impl Attempt {
    pub fn of(result: CaseResult) -> Attempt {
        Attempt {
            result,
            verdict: None,
        }
    }

    /// Whether this attempt passes `unit`: it met the expectation, and left nothing behind
    /// when leaks fail; or it ran out of wall-clock time when that passes.
    pub fn passes(&self, unit: &Unit) -> bool {
        let r = &self.result;
        let timed_out = r.outcome == Outcome::TimeLimit && r.limit == Some(Limit::Wall);
        (self.meets(unit.expect) || (unit.timeout_passes && timed_out))
            && !(unit.leak_fails && r.leftover_processes > 0)
    }

    /// Whether this attempt met the expectation.
    pub fn meets(&self, e: Expect) -> bool {
        match e {
            Expect::Outcome(o) => self.result.outcome == o,
            Expect::Verdict(v) => self.verdict == Some(v),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles() {
        let p = RetryPolicy {
            retries: 3,
            delay: Duration::from_millis(10),
            exponential: true,
            max_delay: None,
            jitter: false,
        };
        assert_eq!(p.delay_before(2), Duration::from_millis(10));
        assert_eq!(p.delay_before(4), Duration::from_millis(40));
    }

    #[test]
    fn jitter_stays_within_half_and_the_whole_delay() {
        let d = Duration::from_millis(400);
        assert_eq!(jittered(d, 1.0), d);
        assert_eq!(jittered(d, 0.0), d / 2);
        let p = RetryPolicy {
            retries: 5,
            delay: Duration::from_millis(100),
            exponential: true,
            max_delay: Some(Duration::from_millis(300)),
            jitter: true,
        };
        let mut seen = std::collections::BTreeSet::new();
        for next in 2..=6 {
            let whole = p.backoff_before(next);
            assert_eq!(
                whole,
                Duration::from_millis([100, 200, 300, 300, 300][next as usize - 2])
            );
            for _ in 0..200 {
                let j = p.delay_before(next);
                assert!(
                    j > whole / 2 && j <= whole,
                    "{j:?} not in ({:?}, {whole:?}]",
                    whole / 2
                );
                seen.insert(j);
            }
        }
        // Random, not one fixed factor.
        assert!(seen.len() > 100, "{}", seen.len());
    }
}

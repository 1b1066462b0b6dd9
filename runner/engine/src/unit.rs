//! The unit of work: one case (a program, its input, its limits, its policy), what it is
//! expected to do, the group it belongs to, and how often it may be retried.

use std::time::Duration;

use hatchery_report::{CaseResult, Outcome, Verdict};
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
}

impl RetryPolicy {
    /// The wait before attempt `next` (2 for the first retry).
    pub fn delay_before(&self, next: u32) -> Duration {
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
    /// when leaks fail.
    pub fn passes(&self, unit: &Unit) -> bool {
        self.meets(unit.expect) && !(unit.leak_fails && self.result.leftover_processes > 0)
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
        };
        assert_eq!(p.delay_before(2), Duration::from_millis(10));
        assert_eq!(p.delay_before(4), Duration::from_millis(40));
    }
}

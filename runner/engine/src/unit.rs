//! The unit of work: one case (a program, its input, its limits, its policy), what it is
//! expected to do, the group it belongs to, and how often it may be retried.

use std::time::Duration;

use hatchery_report::{CaseResult, Limits, Outcome, Verdict};
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
}

impl RetryPolicy {
    /// The wait before attempt `next` (2 for the first retry).
    pub fn delay_before(&self, next: u32) -> Duration {
        if self.exponential && next > 2 {
            self.delay
                .saturating_mul(1u32.checked_shl(next - 2).unwrap_or(u32::MAX))
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

    /// Whether this attempt met the expectation.
    pub fn meets(&self, e: Expect) -> bool {
        match e {
            Expect::Outcome(o) => self.result.outcome == o,
            Expect::Verdict(v) => self.verdict == Some(v),
        }
    }
}

/// A limit or argument that cannot work, found before anything runs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error("`{field}` must be greater than 0 (a case cannot run under a limit of 0)")]
    Zero { field: &'static str },
    #[error(
        "the arguments and environment take {bytes} bytes, beyond the kernel's limit of {max} \
         for execve (ARG_MAX)"
    )]
    ArgvTooLong { bytes: usize, max: usize },
    #[error(
        "argument or environment string {index} has {bytes} bytes, beyond the kernel's limit \
         of {max} for one string (MAX_ARG_STRLEN)"
    )]
    StringTooLong {
        index: usize,
        bytes: usize,
        max: usize,
    },
}

/// Checks that every limit can work: CPU, wall, memory, pids, stack and open files of 0 are
/// refused (output and file size of 0 are meaningful: "write nothing"). `field` names are
/// those of the jobs file (`limits.<name>`); command-line front ends map them to options.
pub fn check_limits(l: &Limits) -> Result<(), LimitError> {
    let fields = [
        ("cpu_time", l.cpu_us),
        ("wall_time", l.wall_us),
        ("memory", l.memory_bytes),
        ("pids", l.pids),
        ("stack", l.stack_bytes),
        ("open_files", l.open_files),
    ];
    for (field, v) in fields {
        if v == Some(0) {
            return Err(LimitError::Zero { field });
        }
    }
    Ok(())
}

/// The kernel's limit on one argument or environment string (32 pages).
pub const MAX_ARG_STRLEN: usize = 32 * 4096;

/// Checks that argv and the environment (given as the byte length of each string, `K=V`
/// for the environment) fit what `execve` accepts here.
pub fn check_args(lengths: impl Iterator<Item = usize>) -> Result<(), LimitError> {
    let max = nix::unistd::sysconf(nix::unistd::SysconfVar::ARG_MAX)
        .ok()
        .flatten()
        .map_or(2 << 20, |v| v as usize);
    let mut bytes = 0usize;
    for (index, len) in lengths.enumerate() {
        if len + 1 > MAX_ARG_STRLEN {
            return Err(LimitError::StringTooLong {
                index,
                bytes: len,
                max: MAX_ARG_STRLEN - 1,
            });
        }
        // Each string with its NUL, plus its pointer.
        bytes += len + 1 + std::mem::size_of::<usize>();
    }
    if bytes > max {
        return Err(LimitError::ArgvTooLong { bytes, max });
    }
    Ok(())
}

/// Checks a spec before anything runs: its limits and the size of its argv and environment.
pub fn check_spec(spec: &CaseSpec) -> Result<(), LimitError> {
    use std::os::unix::ffi::OsStrExt as _;
    check_limits(&spec.limits)?;
    let argv = spec.argv.iter().map(|a| a.as_bytes().len());
    let env = spec
        .env
        .iter()
        .map(|(k, v)| k.as_bytes().len() + 1 + v.as_bytes().len());
    check_args(argv.chain(env))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_limits_are_refused_and_named() {
        let l = Limits {
            memory_bytes: Some(0),
            ..Default::default()
        };
        assert_eq!(check_limits(&l), Err(LimitError::Zero { field: "memory" }));
        let ok = Limits {
            output_bytes: Some(0),
            file_size_bytes: Some(0),
            ..Default::default()
        };
        assert_eq!(check_limits(&ok), Ok(()));
    }

    #[test]
    fn argv_beyond_the_kernel_limit_is_refused() {
        assert!(matches!(
            check_args([200 * 1024].into_iter()),
            Err(LimitError::StringTooLong { .. })
        ));
        assert!(matches!(
            check_args(std::iter::repeat_n(100 * 1024, 100)),
            Err(LimitError::ArgvTooLong { .. })
        ));
        assert_eq!(check_args([4, 2].into_iter()), Ok(()));
    }

    #[test]
    fn backoff_doubles() {
        let p = RetryPolicy {
            retries: 3,
            delay: Duration::from_millis(10),
            exponential: true,
        };
        assert_eq!(p.delay_before(2), Duration::from_millis(10));
        assert_eq!(p.delay_before(4), Duration::from_millis(40));
    }
}

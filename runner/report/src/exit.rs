//! The one table of process exit codes every hatchery front end uses. `cargo hatchery test`
//! keeps nextest's codes where they overlap (100 and up), so CI scripts written for nextest
//! keep working; `run`, `batch` and `judge` use the small codes.

use crate::Outcome;

/// The case ran and its outcome is `ok`; a batch, judge or test run where everything met its
/// expectation.
pub const OK: u8 = 0;
/// `run`: `nonzero_exit` or `signaled`; `batch`: some case failed or did not run; `judge`: a
/// verdict other than AC (or a mismatch with `--verify-submissions`).
pub const FAILED: u8 = 1;
/// Bad command line, option value or limit (nothing ran).
pub const USAGE: u8 = 2;
/// `run`: `time_limit`, `memory_limit` or `output_limit`.
pub const LIMIT: u8 = 3;
/// `run`: `policy_violation`; `cargo hatchery test`: no test was selected.
pub const POLICY: u8 = 4;
/// `cargo hatchery test`: no test was selected (nextest's code).
pub const NO_TESTS: u8 = 4;
/// hatchery itself failed (`sandbox_error`, judge error JE): never the program's fault.
pub const SANDBOX_ERROR: u8 = 5;
/// This host cannot provide the requested tier or layer (the message names the feature).
pub const HOST_UNSUPPORTED: u8 = 6;
/// The input cannot be used: a program or stdin file that is missing or not executable, a
/// malformed jobs file, problem package or languages file (nothing ran).
pub const BAD_INPUT: u8 = 7;
/// `cargo hatchery test`: some test failed, or did not run because of fail-fast.
pub const TEST_FAILED: u8 = 100;
/// `cargo hatchery test`: `cargo test --no-run` failed.
pub const BUILD_FAILED: u8 = 101;
/// `cargo hatchery test`: `cargo metadata` failed.
pub const METADATA_FAILED: u8 = 102;
/// `cargo hatchery test`: a test binary could not list its tests.
pub const LIST_FAILED: u8 = 104;
/// A report file (`--report`, `--junit`, `--html`) could not be written.
pub const WRITE_FAILED: u8 = 110;
/// cargo's runner route: the binary hit the wall or CPU time limit.
pub const RUNNER_TIMEOUT: u8 = 124;
/// cargo's runner route: the binary hit the memory or output limit.
pub const RUNNER_LIMIT: u8 = 125;
/// Interrupted by SIGINT or SIGTERM (running cases were killed; reports end with
/// `run_finished`).
pub const INTERRUPTED: u8 = 130;

/// The exit code of `hatchery run` for one outcome.
pub fn of_outcome(o: Outcome) -> u8 {
    match o {
        Outcome::Ok => OK,
        Outcome::NonzeroExit | Outcome::Signaled => FAILED,
        Outcome::TimeLimit | Outcome::MemoryLimit | Outcome::OutputLimit => LIMIT,
        Outcome::PolicyViolation => POLICY,
        Outcome::SandboxError => SANDBOX_ERROR,
    }
}

/// The `--help` text of the codes `run` and `batch` use.
pub const RUN_HELP: &str = "\
Exit codes:
  0  the case ran and its outcome is `ok`
  1  the program failed: outcome `nonzero_exit` or `signaled`
  2  bad command line, option value or limit (e.g. a malformed duration, --memory 0), or
     a report path that cannot be written (checked before anything runs)
  3  a limit was hit: outcome `time_limit`, `memory_limit` or `output_limit`
  4  outcome `policy_violation` (a system call the seccomp profile forbids)
  5  outcome `sandbox_error`: hatchery itself failed (never the program's fault)
  6  this host cannot provide the requested tier or layer (the message names the missing
     kernel feature and the fix)
  7  the program or the stdin file cannot be used: not found, not a regular file,
     unreadable; for `batch`: a malformed jobs file (nothing ran)
  130  `batch` was interrupted by SIGINT or SIGTERM (running cases were killed; the report
     written so far is complete and ends with run_finished)
For `batch`: 0 when every case had its expected outcome, 1 when some did not (or did not
run), 6 when no zygote could be started.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_has_a_code_and_only_sandbox_error_is_ours() {
        for o in Outcome::ALL {
            let c = of_outcome(o);
            assert_eq!(c == SANDBOX_ERROR, o == Outcome::SandboxError, "{o}");
        }
    }
}

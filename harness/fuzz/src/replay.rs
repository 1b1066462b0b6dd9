//! `hatchery fuzz replay`: each input as a case of its own (the default), or, with `--batch`,
//! a libFuzzer target gets its inputs in batches, one process per batch, as libFuzzer itself
//! runs a list of files (`target -runs=1 a b c`, what `cargo fuzz run T corpus -- -runs=0`
//! relies on for regression runs). A process start of a sanitizer build costs tens of
//! milliseconds, more than most inputs take.
//!
//! A batch that does not end cleanly is split by what libFuzzer printed on stderr
//! (`Running: P` before an input, `Executed P in N ms` after it): the input that was running
//! is replayed alone (its own case, classified as any finding), the inputs after it form a new
//! batch, and the inputs before it run again as a batch (a crash ends the process before
//! LeakSanitizer's check at exit, so their leaks would go unseen). A batch that failed with
//! every input executed (a leak found at exit, a crash in a destructor) is halved until the
//! failing inputs stand alone. So every failing input is reported from a run of its own, and
//! every passing one from a process that ended cleanly. An AFL++ target runs one input per
//! case.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use hatchery_engine::{Expect, Options, Pool, Reporter, SandboxExecutor, Unit};
use hatchery_report::{CaseFinished, Event, Outcome, RunFinished};

use crate::target::TargetRun;
use crate::triage;

/// Inputs per batch at most (a batch's stderr holds two short lines per input; a failing
/// batch runs its inputs before the failure again).
const MAX_BATCH: usize = 256;

/// What became of one input.
#[derive(Debug, Clone)]
pub enum InputVerdict {
    /// Ran clean in a process that ended cleanly; libFuzzer's time for it.
    Passed { ms: Option<u64> },
    /// Failed in a run of its own.
    Failed(Box<CaseFinished>),
}

/// The verdicts (`None`: not run, the replay was interrupted) and the run's totals (over the
/// cases run: batches and single inputs).
pub struct Replayed {
    pub verdicts: Vec<Option<InputVerdict>>,
    pub totals: RunFinished,
}

/// Replays `inputs` (name to show, staged path) on `pool` with `jobs` workers, each input as
/// a case of its own, or in batches with `batch` (libFuzzer targets); the engine's events go
/// to `reporter`, and `decided(i, verdict)` is called as each input is decided.
#[allow(clippy::too_many_arguments)]
pub fn replay(
    pool: &Pool<SandboxExecutor>,
    run: &TargetRun,
    cwd: &Path,
    inputs: &[(String, PathBuf)],
    jobs: usize,
    batch: bool,
    cancel: &AtomicBool,
    reporter: &mut dyn Reporter,
    decided: &mut dyn FnMut(usize, &InputVerdict),
) -> Replayed {
    let n = inputs.len();
    // An AFL++ target takes one input per process (on stdin, or as the file of `@@`).
    let size = if !batch || run.afl.is_some() {
        1
    } else {
        n.div_ceil(jobs.max(1) * 2).clamp(1, MAX_BATCH)
    };
    let mut todo: Vec<Vec<usize>> = (0..n)
        .collect::<Vec<_>>()
        .chunks(size)
        .map(<[usize]>::to_vec)
        .collect();
    let mut verdicts: Vec<Option<InputVerdict>> = vec![None; n];
    let mut totals = RunFinished::default();
    let mut first_index = 0u64;
    let mut decide = |i: usize, v: InputVerdict, verdicts: &mut Vec<Option<InputVerdict>>| {
        decided(i, &v);
        verdicts[i] = Some(v);
    };
    while !todo.is_empty() {
        let units: Vec<Unit> = todo
            .iter()
            .map(|b| {
                let mut u = if let [i] = b[..] {
                    run.unit(inputs[i].0.clone(), run.replay(&inputs[i].1, cwd))
                } else {
                    let paths: Vec<&Path> = b.iter().map(|&i| inputs[i].1.as_path()).collect();
                    run.unit(
                        format!("inputs {}-{} of {n}", b[0] + 1, b[b.len() - 1] + 1),
                        run.replay_many(&paths, cwd),
                    )
                };
                u.expect = Expect::Outcome(Outcome::Ok);
                u
            })
            .collect();
        let opts = Options {
            workers: jobs,
            first_index,
            ..Default::default()
        };
        let mut keep = Keep {
            inner: reporter,
            first_index,
            finished: vec![None; units.len()],
        };
        let rf = hatchery_engine::run(
            pool,
            &units,
            &hatchery_engine::RunSpec,
            &opts,
            None,
            None,
            cancel,
            &mut keep,
        );
        first_index += units.len() as u64;
        add(&mut totals, &rf);
        let mut next = Vec::new();
        for (b, cf) in todo.iter().zip(keep.finished) {
            let Some(cf) = cf else { continue };
            if let [i] = b[..] {
                let v = if cf.passed {
                    InputVerdict::Passed {
                        ms: Some(cf.result.usage.wall_us / 1000),
                    }
                } else {
                    InputVerdict::Failed(Box::new(cf))
                };
                decide(i, v, &mut verdicts);
                continue;
            }
            let paths: Vec<&Path> = b.iter().map(|&i| inputs[i].1.as_path()).collect();
            let (executed, running) = progress(&cf.result.stderr.data, &paths);
            if cf.passed {
                for (k, &i) in b.iter().enumerate() {
                    decide(i, InputVerdict::Passed { ms: executed[k] }, &mut verdicts);
                }
                continue;
            }
            match running {
                Some(r) => {
                    next.extend(
                        [&b[..r], &b[r..=r], &b[r + 1..]]
                            .into_iter()
                            .filter(|s| !s.is_empty())
                            .map(<[usize]>::to_vec),
                    );
                }
                None => {
                    let (x, y) = b.split_at(b.len() / 2);
                    next.extend([x.to_vec(), y.to_vec()]);
                }
            }
        }
        if rf.interrupted {
            break;
        }
        todo = next;
    }
    Replayed { verdicts, totals }
}

fn add(t: &mut RunFinished, r: &RunFinished) {
    for (o, c) in &r.outcomes {
        *t.outcomes.entry(*o).or_default() += c;
    }
    t.passed += r.passed;
    t.failed += r.failed;
    t.flaky += r.flaky;
    t.not_run += r.not_run;
    t.skipped += r.skipped;
    t.duration_us += r.duration_us;
    t.interrupted |= r.interrupted;
    t.killed_running += r.killed_running;
    t.worker_errors.extend(r.worker_errors.iter().cloned());
}

/// What libFuzzer said it did with a batch's files, in order: each input's time when it was
/// executed, and the input it was running when the output ends (an input may appear twice:
/// staged copies are named by content). Lines are matched to the inputs in order.
fn progress(stderr: &[u8], paths: &[&Path]) -> (Vec<Option<u64>>, Option<usize>) {
    let mut executed = vec![None; paths.len()];
    let mut running = None;
    let mut at = 0usize;
    for line in String::from_utf8_lossy(stderr).lines() {
        let Some(p) = paths.get(at) else { break };
        let p = p.to_string_lossy();
        if line.strip_prefix("Running: ") == Some(&p) {
            running = Some(at);
        } else if let Some(rest) = line
            .strip_prefix("Executed ")
            .and_then(|l| l.strip_prefix(p.as_ref()))
            .and_then(|l| l.strip_prefix(" in "))
        {
            if running == Some(at) {
                executed[at] = rest
                    .strip_suffix(" ms")
                    .and_then(|ms| ms.trim().parse().ok());
                running = None;
                at += 1;
            }
        }
    }
    (executed, running)
}

/// Forwards the engine's events and keeps each unit's last `case_finished`.
struct Keep<'r> {
    inner: &'r mut dyn Reporter,
    first_index: u64,
    finished: Vec<Option<CaseFinished>>,
}

impl Reporter for Keep<'_> {
    fn event(&mut self, e: &Event) {
        self.inner.event(e);
        if let Event::CaseFinished(cf) = e {
            let k = cf.index.saturating_sub(self.first_index) as usize;
            if let Some(slot) = self.finished.get_mut(k) {
                *slot = Some((**cf).clone());
            }
        }
    }
}

/// JUnit XML: one test case per input.
pub fn junit(
    binary: &Path,
    inputs: &[(String, PathBuf)],
    verdicts: &[Option<InputVerdict>],
) -> String {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    let name = format!("fuzz replay {}", binary.display());
    let mut report = Report::new(&name);
    let mut suite = TestSuite::new(&name);
    for ((input, _), v) in inputs.iter().zip(verdicts) {
        let mut tc = match v {
            None => TestCase::new(input.clone(), TestCaseStatus::skipped()),
            Some(InputVerdict::Passed { ms }) => {
                let mut tc = TestCase::new(input.clone(), TestCaseStatus::success());
                if let Some(ms) = ms {
                    tc.set_time(Duration::from_millis(*ms));
                }
                tc
            }
            Some(InputVerdict::Failed(cf)) => {
                let t = triage::classify(&cf.result);
                let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
                st.set_message(format!("{}: {}", t.kind.as_str(), t.reason));
                st.set_type(t.kind.as_str());
                st.set_description(format!("signature: {}", t.signature()));
                let mut tc = TestCase::new(input.clone(), st);
                tc.set_time(Duration::from_micros(cf.result.usage.wall_us));
                tc.set_system_err_lossy(&cf.result.stderr.head_tail(64 << 10).data);
                tc
            }
        };
        tc.set_classname(&name);
        suite.add_test_case(tc);
    }
    report.add_test_suite(suite);
    report.to_string().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_follows_libfuzzers_lines_in_order() {
        let (a, b) = (Path::new("/w/in/aa"), Path::new("/w/in/bb"));
        let err = b"INFO: Seed: 1\nRunning: /w/in/aa\nExecuted /w/in/aa in 3 ms\n\
                    Running: /w/in/aa\nExecuted /w/in/aa in 0 ms\nRunning: /w/in/bb\n\
                    ==1==ERROR: AddressSanitizer: heap-buffer-overflow\n";
        let (ex, running) = progress(err, &[a, a, b]);
        assert_eq!(ex, [Some(3), Some(0), None]);
        assert_eq!(running, Some(2));
        let (ex, running) = progress(b"Running: /w/in/bb\nExecuted /w/in/bb in 12 ms\n", &[b]);
        assert_eq!((ex, running), (vec![Some(12)], None));
        // A line that names another file (the target's own output) is not progress.
        let (ex, running) = progress(b"Running: /elsewhere\n", &[a]);
        assert_eq!((ex, running), (vec![None], None));
    }
}

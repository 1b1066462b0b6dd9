//! The pool: one thread per worker, each owning one executor (a zygote, or a fake in tests).
//! Jobs are taken in input order; results come back over a channel; the caller's reporter
//! gets `case_started` events as cases start and `case_finished` events in input order.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hatchery_report::{
    CaseFinished, CaseResult, CaseStarted, Event, Limits, Outcome, RunFinished, RunStarted,
};

use crate::jobs::Job;

/// Something that runs one case at a time.
pub trait Executor: Send {
    /// Runs one job with the limits already merged. Never panics for a bad case: failures of
    /// the executor itself are `sandbox_error` results.
    fn run(&mut self, job: &Job, limits: &Limits) -> CaseResult;
    /// False once the executor is unusable (its zygote died, hung or answered garbage); the
    /// pool then replaces it.
    fn healthy(&self) -> bool;
    /// A handle that kills whatever this executor is running (used on SIGINT/SIGTERM).
    fn interrupt_handle(&self) -> Interrupt;
}

/// Kills the case an executor is running, from another thread.
pub type Interrupt = Arc<dyn Fn() + Send + Sync>;

/// Creates executors, once per worker and again to replace a broken one.
pub trait ExecutorFactory: Sync {
    type Exec: Executor;
    fn create(&self, worker: u32) -> Result<Self::Exec, String>;
}

/// Receives the event stream.
pub trait Reporter {
    /// Events in report order (`case_finished` sorted by input position).
    fn event(&mut self, e: &Event);
    /// Every finished attempt as soon as it finishes (for progress display).
    fn progress(&mut self, _done: u64, _total: u64, _attempt: &CaseFinished) {}
}

/// Scheduling options.
#[derive(Debug, Clone)]
pub struct Options {
    pub workers: u32,
    /// Extra attempts for a failing case; a pass after a failure is flaky.
    pub retries: u32,
    /// Stop starting new cases after this many failed cases.
    pub max_fail: Option<u64>,
    pub defaults: Limits,
}

enum Msg {
    Started(CaseStarted),
    Finished(Box<CaseFinished>),
    /// A case whose run was cut short by cancellation.
    Interrupted,
    WorkerFailed(String),
}

/// Runs every job; returns when all are done, fail-fast stopped the run, or `cancel` was set
/// (then every running case is killed first). Emits `run_started` (given), case events, and
/// `run_finished`; returns the latter too.
pub fn run<F: ExecutorFactory>(
    jobs: &[Job],
    factory: &F,
    opts: &Options,
    run_started: RunStarted,
    cancel: &AtomicBool,
    reporter: &mut dyn Reporter,
) -> RunFinished {
    let start = Instant::now();
    reporter.event(&Event::RunStarted(run_started));
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let failures = AtomicU64::new(0);
    let interrupts: Mutex<BTreeMap<u32, Interrupt>> = Mutex::new(BTreeMap::new());
    let (tx, rx) = mpsc::channel::<Msg>();
    let workers = opts.workers.max(1).min(jobs.len().max(1) as u32);

    let mut outcomes: BTreeMap<Outcome, u64> = BTreeMap::new();
    let (mut passed, mut failed, mut flaky) = (0u64, 0u64, 0u64);
    let mut finished_cases = 0u64;
    let mut interrupted_cases = 0u64;
    let mut done_attempts = 0u64;
    let mut pending: BTreeMap<(u64, u32), Box<CaseFinished>> = BTreeMap::new();
    let mut next_index = 0u64;
    let mut fail_fast = false;
    let mut interrupted = false;
    let mut worker_errors = Vec::new();

    std::thread::scope(|s| {
        for w in 0..workers {
            let tx = tx.clone();
            let (next, stop, failures, interrupts) = (&next, &stop, &failures, &interrupts);
            s.spawn(move || {
                worker(
                    w, jobs, factory, opts, next, stop, failures, interrupts, cancel, &tx,
                )
            });
        }
        drop(tx);
        let mut cancelled_once = false;
        loop {
            if cancel.load(Ordering::SeqCst) && !cancelled_once {
                cancelled_once = true;
                interrupted = true;
                stop.store(true, Ordering::SeqCst);
                for i in interrupts
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .values()
                {
                    i();
                }
            }
            let msg = match rx.recv_timeout(Duration::from_millis(10)) {
                Ok(m) => m,
                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            };
            match msg {
                Msg::Started(cs) => reporter.event(&Event::CaseStarted(cs)),
                Msg::Interrupted => interrupted_cases += 1,
                Msg::WorkerFailed(m) => worker_errors.push(m),
                Msg::Finished(cf) => {
                    done_attempts += 1;
                    reporter.progress(done_attempts, jobs.len() as u64, &cf);
                    if !cf.will_retry {
                        finished_cases += 1;
                        *outcomes.entry(cf.result.outcome).or_default() += 1;
                        if cf.passed {
                            passed += 1;
                            if cf.flaky {
                                flaky += 1;
                            }
                        } else {
                            failed += 1;
                            if opts.max_fail.is_some_and(|m| failed >= m) {
                                fail_fast = true;
                            }
                        }
                    }
                    pending.insert((cf.index, cf.attempt), cf);
                    // Emit in input order: everything up to the first index still running.
                    while let Some((&(idx, _), _)) = pending.first_key_value() {
                        if idx > next_index {
                            break;
                        }
                        let (_, e) = pending.pop_first().expect("non-empty");
                        if !e.will_retry {
                            next_index = idx + 1;
                        }
                        reporter.event(&Event::CaseFinished(e));
                    }
                }
            }
        }
    });
    // Whatever is still buffered (cases after a skipped or interrupted one) goes out now.
    while let Some((_, e)) = pending.pop_first() {
        reporter.event(&Event::CaseFinished(e));
    }
    let not_run = jobs.len() as u64 - finished_cases;
    let rf = RunFinished {
        killed_running: interrupted_cases,
        worker_errors,
        outcomes,
        passed,
        failed,
        flaky,
        not_run,
        duration_us: start.elapsed().as_micros() as u64,
        interrupted,
        fail_fast: fail_fast && !interrupted,
    };
    reporter.event(&Event::RunFinished(rf.clone()));
    rf
}

#[allow(clippy::too_many_arguments)]
fn worker<F: ExecutorFactory>(
    w: u32,
    jobs: &[Job],
    factory: &F,
    opts: &Options,
    next: &AtomicUsize,
    stop: &AtomicBool,
    failures: &AtomicU64,
    interrupts: &Mutex<BTreeMap<u32, Interrupt>>,
    cancel: &AtomicBool,
    tx: &mpsc::Sender<Msg>,
) {
    let set_interrupt = |e: &F::Exec| {
        interrupts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(w, e.interrupt_handle());
    };
    let mut exec = match factory.create(w) {
        Ok(e) => e,
        Err(m) => {
            let _ = tx.send(Msg::WorkerFailed(m));
            return;
        }
    };
    set_interrupt(&exec);
    loop {
        if stop.load(Ordering::SeqCst) || cancel.load(Ordering::SeqCst) {
            return;
        }
        if opts
            .max_fail
            .is_some_and(|m| failures.load(Ordering::SeqCst) >= m)
        {
            stop.store(true, Ordering::SeqCst);
            return;
        }
        let i = next.fetch_add(1, Ordering::SeqCst);
        let Some(job) = jobs.get(i) else {
            return;
        };
        let limits = job.limits.over(&opts.defaults);
        let mut attempt = 0u32;
        let mut failed_before = false;
        let mut sandbox_retry_used = false;
        loop {
            attempt += 1;
            let _ = tx.send(Msg::Started(CaseStarted {
                id: job.id.clone(),
                index: i as u64,
                attempt,
                worker: w,
            }));
            let result = exec.run(job, &limits);
            if cancel.load(Ordering::SeqCst) {
                let _ = tx.send(Msg::Interrupted);
                return;
            }
            let mut replaced = false;
            if !exec.healthy() {
                // A broken zygote is replaced; its case gets one more try on the fresh one.
                match factory.create(w) {
                    Ok(e) => {
                        exec = e;
                        set_interrupt(&exec);
                        replaced = true;
                    }
                    Err(m) => {
                        let _ = tx.send(Msg::WorkerFailed(m));
                        stop.store(true, Ordering::SeqCst);
                    }
                }
            }
            let passed = result.outcome == job.expect;
            let retry_sandbox = result.outcome == Outcome::SandboxError
                && replaced
                && !sandbox_retry_used
                && job.expect != Outcome::SandboxError;
            let will_retry = !passed
                && !cancel.load(Ordering::SeqCst)
                && (retry_sandbox || attempt <= opts.retries);
            if retry_sandbox && will_retry {
                sandbox_retry_used = true;
            }
            if !passed && !will_retry {
                failures.fetch_add(1, Ordering::SeqCst);
            }
            let _ = tx.send(Msg::Finished(Box::new(CaseFinished {
                id: job.id.clone(),
                index: i as u64,
                attempt,
                worker: w,
                expected: job.expect,
                passed,
                flaky: passed && failed_before,
                will_retry,
                result,
            })));
            if !will_retry {
                break;
            }
            failed_before = true;
            if stop.load(Ordering::SeqCst) && !replaced {
                break;
            }
        }
    }
}

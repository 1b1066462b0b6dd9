//! The dispatcher: hands units to the workers of a [`Pool`] in input order, retries, stops
//! early (fail-fast, skip rules), notices slow cases, reacts to cancellation, keeps the run's
//! statistics, and emits the event stream in a deterministic order: `case_started`, `case_slow`
//! and `case_retrying` as they happen, `case_finished` and `case_skipped` in input order.
//! It knows nothing about sandboxes: it runs on the [`Executor`] trait, so it is tested with a
//! fake executor.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hatchery_report::{
    CaseFinished, CaseRetrying, CaseSkipped, CaseSlow, CaseStarted, Event, Outcome, RetryCause,
    RunFinished, RunStarted,
};

use crate::exec::{ExecError, Executor, Interrupt, Pool};
use crate::unit::{Attempt, RetryPolicy, Unit};

/// What one attempt of a unit does with an executor. [`RunSpec`] runs the unit's spec; a
/// front end whose unit is more than one case (a judge's run plus its checker) brings its own.
pub trait Work<E>: Sync {
    fn attempt(&self, exec: &mut E, unit: &Unit, index: usize) -> Result<Attempt, ExecError>;

    /// The attempt reported when the executor failed for good (the failure is not retryable,
    /// or its one retry failed too): by default the `sandbox_error` result naming the failure.
    /// A work that made its own result of the failure (a judge's JE, with its verdict) returns
    /// that instead; the retry rule itself stays the dispatcher's.
    fn failed(&self, unit: &Unit, _index: usize, error: &ExecError) -> Attempt {
        Attempt::of(error.result(&unit.spec.limits, unit.tier))
    }
}

/// Runs the unit's case as it is.
pub struct RunSpec;

impl<E: Executor> Work<E> for RunSpec {
    fn attempt(&self, exec: &mut E, unit: &Unit, _index: usize) -> Result<Attempt, ExecError> {
        exec.run(&unit.spec, unit.tier).map(Attempt::of)
    }
}

/// Which finished units keep which later ones from starting (a judge group's
/// `on_reject: break`). Units already started when the trigger becomes known still finish.
pub trait SkipRule: Sync {
    /// Whether this final attempt can make later units be skipped (default: it failed).
    fn triggers(&self, finished: &CaseFinished) -> bool {
        !finished.passed
    }
    /// Whether unit `later` must not start because unit `done` triggered.
    fn skips(&self, done: usize, later: usize) -> bool;
}

/// Receives the event stream.
pub trait Reporter {
    /// Events in report order.
    fn event(&mut self, e: &Event);
    /// Every finished attempt as soon as it finishes (for progress display).
    fn progress(&mut self, _done: u64, _total: u64, _attempt: &CaseFinished) {}
}

/// How a run is dispatched.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Workers used (at most the pool's size; 0 means all of it).
    pub workers: usize,
    /// Retries of a failing unit (a unit's own policy overrides it).
    pub retry: RetryPolicy,
    /// Stop starting units after this many failed ones.
    pub max_fail: Option<u64>,
    /// Emit `case_slow` for a unit running longer than this, and again each period (a unit's
    /// own `slow_after` wins).
    pub slow_after: Option<Duration>,
    /// The `index` events give the first unit (a front end that writes several dispatches
    /// into one stream, as the judge does, numbers them on).
    pub first_index: u64,
}

enum Msg {
    Started(CaseStarted),
    Retrying(CaseRetrying),
    Finished(Box<CaseFinished>),
    Skipped(CaseSkipped),
    /// A unit whose run was cut short by cancellation.
    Interrupted,
    WorkerError(String),
}

/// An event waiting for its turn in input order.
enum Ordered {
    Finished(Box<CaseFinished>),
    Skipped(CaseSkipped),
}

/// A running attempt, for slow notices.
struct Running {
    id: String,
    index: u64,
    attempt: u32,
    since: Instant,
    next_notice: Instant,
    period: Duration,
}

struct Shared<'a, W> {
    units: &'a [Unit],
    work: &'a W,
    opts: &'a Options,
    skip: Option<&'a dyn SkipRule>,
    cancel: &'a AtomicBool,
    next: AtomicUsize,
    stop: AtomicBool,
    failures: AtomicU64,
    /// Units that triggered the skip rule.
    triggered: Mutex<Vec<usize>>,
    backlog: Backlog,
    /// Cases started and not yet taken by the reporter.
    started: Mutex<Vec<CaseStarted>>,
}

/// Output bytes of finished results sent to the reporter and not yet received by it. A
/// finished case carries its whole output; a reporter slower than the workers (JSON escaping
/// of large outputs, a report on a slow disk) would otherwise let results pile up in memory.
/// A worker waits while the backlog is over [`BACKLOG_BYTES`]; small results never wait, and
/// a result alone is always admitted.
struct Backlog {
    /// Bytes in flight, and how many workers wait for them to drain.
    bytes: Mutex<(u64, u32)>,
    drained: std::sync::Condvar,
}

/// See [`Backlog`].
const BACKLOG_BYTES: u64 = 64 << 20;

impl Backlog {
    fn admit(&self, n: u64) {
        let mut b = self.bytes.lock().unwrap_or_else(|e| e.into_inner());
        while b.0 > 0 && b.0 + n > BACKLOG_BYTES {
            b.1 += 1;
            b = self.drained.wait(b).unwrap_or_else(|e| e.into_inner());
            b.1 -= 1;
        }
        b.0 += n;
    }

    fn received(&self, n: u64) {
        let mut b = self.bytes.lock().unwrap_or_else(|e| e.into_inner());
        b.0 = b.0.saturating_sub(n);
        // A notification is a system call even when nobody waits: only when a worker does.
        if b.1 > 0 {
            self.drained.notify_all();
        }
    }
}

fn output_bytes(f: &CaseFinished) -> u64 {
    (f.result.stdout.data.len() + f.result.stderr.data.len()) as u64
}

/// Runs every unit on the pool; returns when all are done, fail-fast stopped the run, or
/// `cancel` was set (every running case is killed first). With `run_started`, the stream
/// begins with it and ends with `run_finished`; the latter is returned in any case.
// Each argument is a separate concern of the caller's (what, how, which rule, framing,
// cancellation, rendering); a struct of them would only move the list.
#[allow(clippy::too_many_arguments)]
pub fn run<E: Executor, W: Work<E>>(
    pool: &Pool<E>,
    units: &[Unit],
    work: &W,
    opts: &Options,
    skip: Option<&dyn SkipRule>,
    run_started: Option<RunStarted>,
    cancel: &AtomicBool,
    reporter: &mut dyn Reporter,
) -> RunFinished {
    let start = Instant::now();
    let framed = run_started.is_some();
    if let Some(rs) = run_started {
        reporter.event(&Event::RunStarted(rs));
    }
    let limit = if opts.workers == 0 {
        pool.len()
    } else {
        opts.workers.min(pool.len())
    };
    let workers = limit.max(1).min(units.len().max(1)).min(pool.len());
    let interrupts: Vec<Interrupt> = (0..workers)
        .map(|w| pool.worker(w).interrupt_handle())
        .collect();
    let shared = Shared {
        units,
        work,
        opts,
        skip,
        cancel,
        next: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        failures: AtomicU64::new(0),
        triggered: Mutex::new(Vec::new()),
        started: Mutex::new(Vec::new()),
        backlog: Backlog {
            bytes: Mutex::new((0, 0)),
            drained: std::sync::Condvar::new(),
        },
    };
    let (tx, rx) = mpsc::channel::<Msg>();

    let mut outcomes: BTreeMap<Outcome, u64> = BTreeMap::new();
    let (mut passed, mut failed, mut flaky, mut skipped) = (0u64, 0u64, 0u64, 0u64);
    let mut finished_units = 0u64;
    let mut interrupted_units = 0u64;
    let mut done_attempts = 0u64;
    let mut pending: BTreeMap<(u64, u32), Ordered> = BTreeMap::new();
    let mut next_index = opts.first_index;
    let mut fail_fast = false;
    let mut interrupted = false;
    let mut worker_errors = Vec::new();
    let mut running: HashMap<u32, Running> = HashMap::new();

    std::thread::scope(|s| {
        for w in 0..workers {
            let tx = tx.clone();
            let shared = &shared;
            s.spawn(move || {
                let mut exec = pool.worker(w);
                worker(w as u32, &mut *exec, shared, &tx)
            });
        }
        drop(tx);
        let mut cancelled_once = false;
        loop {
            if cancel.load(Ordering::SeqCst) && !cancelled_once {
                cancelled_once = true;
                interrupted = true;
                shared.stop.store(true, Ordering::SeqCst);
                for i in &interrupts {
                    i();
                }
            }
            {
                let now = Instant::now();
                for (&worker, r) in running.iter_mut() {
                    if now >= r.next_notice {
                        // Multiples of the period since the start (no drift).
                        while r.next_notice <= now {
                            r.next_notice += r.period;
                        }
                        reporter.event(&Event::CaseSlow(CaseSlow {
                            id: r.id.clone(),
                            index: r.index,
                            attempt: r.attempt,
                            worker,
                            elapsed_us: r.since.elapsed().as_micros() as u64,
                        }));
                    }
                }
            }
            let (msg, last) = match rx.recv_timeout(Duration::from_millis(10)) {
                Ok(m) => (Some(m), false),
                Err(mpsc::RecvTimeoutError::Timeout) => (None, false),
                Err(mpsc::RecvTimeoutError::Disconnected) => (None, true),
            };
            // Starts queued without waking us come first: a worker queues its case's start
            // before it sends anything else about it.
            let started =
                std::mem::take(&mut *shared.started.lock().unwrap_or_else(|e| e.into_inner()));
            for msg in started.into_iter().map(Msg::Started).chain(msg) {
                let mut ordered = None;
                match msg {
                    Msg::Started(cs) => {
                        let unit = cs
                            .index
                            .checked_sub(opts.first_index)
                            .and_then(|i| units.get(i as usize));
                        let period = unit.and_then(|u| u.slow_after).or(opts.slow_after);
                        if let Some(p) = period.filter(|p| !p.is_zero()) {
                            let now = Instant::now();
                            running.insert(
                                cs.worker,
                                Running {
                                    id: cs.id.clone(),
                                    index: cs.index,
                                    attempt: cs.attempt,
                                    since: now,
                                    next_notice: now + p,
                                    period: p,
                                },
                            );
                        }
                        reporter.event(&Event::CaseStarted(cs));
                    }
                    Msg::Retrying(r) => {
                        forget_attempt(&mut running, r.worker, r.index, r.attempt);
                        reporter.event(&Event::CaseRetrying(r));
                    }
                    Msg::Interrupted => interrupted_units += 1,
                    Msg::WorkerError(m) => worker_errors.push(m),
                    Msg::Skipped(sk) => {
                        skipped += 1;
                        ordered = Some(((sk.index, 0), Ordered::Skipped(sk)));
                    }
                    Msg::Finished(cf) => {
                        shared.backlog.received(output_bytes(&cf));
                        forget_attempt(&mut running, cf.worker, cf.index, cf.attempt);
                        done_attempts += 1;
                        reporter.progress(done_attempts, units.len() as u64, &cf);
                        if !cf.will_retry {
                            finished_units += 1;
                            *outcomes.entry(cf.result.outcome).or_default() += 1;
                            if cf.passed {
                                passed += 1;
                                flaky += u64::from(cf.flaky);
                            } else {
                                failed += 1;
                                if opts.max_fail.is_some_and(|m| failed >= m) {
                                    fail_fast = true;
                                }
                            }
                        }
                        ordered = Some(((cf.index, cf.attempt), Ordered::Finished(cf)));
                    }
                }
                if let Some((key, o)) = ordered {
                    pending.insert(key, o);
                    // Emit in input order: everything up to the first index still running.
                    while let Some((&(idx, _), _)) = pending.first_key_value() {
                        if idx > next_index {
                            break;
                        }
                        let (_, o) = pending.pop_first().expect("non-empty");
                        emit(o, &mut next_index, idx, reporter);
                    }
                }
            }
            if last {
                break;
            }
        }
    });
    // Whatever is still buffered (units after one that never ran) goes out now.
    while let Some(((idx, _), o)) = pending.pop_first() {
        emit(o, &mut next_index, idx, reporter);
    }
    let rf = RunFinished {
        outcomes,
        passed,
        failed,
        flaky,
        not_run: units.len() as u64 - finished_units - skipped,
        skipped,
        duration_us: start.elapsed().as_micros() as u64,
        interrupted,
        fail_fast: fail_fast && !interrupted,
        killed_running: interrupted_units,
        worker_errors,
    };
    if framed {
        reporter.event(&Event::RunFinished(rf.clone()));
    }
    rf
}

fn emit(o: Ordered, next_index: &mut u64, idx: u64, reporter: &mut dyn Reporter) {
    match o {
        Ordered::Finished(e) => {
            if !e.will_retry {
                *next_index = idx + 1;
            }
            reporter.event(&Event::CaseFinished(e));
        }
        Ordered::Skipped(s) => {
            *next_index = idx + 1;
            reporter.event(&Event::CaseSkipped(s));
        }
    }
}

/// A cancellation flag for [`run`] that SIGINT and SIGTERM set (the running cases are then
/// killed and the reports finished). A signal that cannot be handled is reported in the
/// error list; the run goes on without it.
pub fn cancel_on_signals() -> (std::sync::Arc<AtomicBool>, Vec<String>) {
    let cancel = std::sync::Arc::new(AtomicBool::new(false));
    let mut errors = Vec::new();
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(sig, cancel.clone()) {
            errors.push(format!("cannot handle signal {sig}: {e}"));
        }
    }
    (cancel, errors)
}

/// Sleeps `d` unless the run is cancelled first.
fn pause(d: Duration, cancel: &AtomicBool) {
    let end = Instant::now() + d;
    while !cancel.load(Ordering::SeqCst) {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        std::thread::sleep(left.min(Duration::from_millis(10)));
    }
}

fn worker<E: Executor, W: Work<E>>(
    w: u32,
    exec: &mut E,
    sh: &Shared<'_, W>,
    tx: &mpsc::Sender<Msg>,
) {
    if let Some(c) = exec.cpu() {
        // The worker's thread next to its zygotes and cases (one wake-up per case, not two).
        if let Err(e) = hatchery_sandbox::affinity::pin_current_thread(c) {
            let _ = tx.send(Msg::WorkerError(format!(
                "cannot pin worker {w} to CPU {c}: {e}"
            )));
        }
    }
    loop {
        if sh.stop.load(Ordering::SeqCst) || sh.cancel.load(Ordering::SeqCst) {
            return;
        }
        if sh
            .opts
            .max_fail
            .is_some_and(|m| sh.failures.load(Ordering::SeqCst) >= m)
        {
            sh.stop.store(true, Ordering::SeqCst);
            return;
        }
        let i = sh.next.fetch_add(1, Ordering::SeqCst);
        let Some(unit) = sh.units.get(i) else {
            return;
        };
        if let Some(rule) = sh.skip {
            let cause = sh
                .triggered
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .copied()
                .find(|&d| d < i && rule.skips(d, i));
            if let Some(d) = cause {
                let _ = tx.send(Msg::Skipped(CaseSkipped {
                    id: unit.id.clone(),
                    index: sh.opts.first_index + i as u64,
                    because_of: sh.units[d].id.clone(),
                }));
                continue;
            }
        }
        if !run_unit(w, exec, sh, tx, i, unit) {
            return;
        }
    }
}

/// Runs every attempt of one unit. Returns false when the worker must stop (cancellation).
fn run_unit<E: Executor, W: Work<E>>(
    w: u32,
    exec: &mut E,
    sh: &Shared<'_, W>,
    tx: &mpsc::Sender<Msg>,
    i: usize,
    unit: &Unit,
) -> bool {
    let policy = unit.retry.unwrap_or(sh.opts.retry);
    let mut attempt = 0u32;
    // Attempts whose program ran to an end and failed (the user's retry budget).
    let mut program_failures = 0u32;
    let mut executor_retry_used = false;
    loop {
        attempt += 1;
        // Queued, not sent: a send would wake the reporter for every case, which costs a
        // system call and a wake-up per case; it takes the queue with the case's next message
        // (or within 10 ms, for a case that runs longer).
        sh.started
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(CaseStarted {
                id: unit.id.clone(),
                index: sh.opts.first_index + i as u64,
                attempt,
                worker: w,
            });
        let outcome = sh.work.attempt(exec, unit, i);
        if sh.cancel.load(Ordering::SeqCst) {
            let _ = tx.send(Msg::Interrupted);
            return false;
        }
        // The retry rule, explicitly: an executor failure is retried once on a fresh zygote
        // and never counts as a failure of the program (nor makes the unit flaky); a final
        // executor failure is reported as `sandbox_error`, naming it, and not retried again.
        let (a, executor_failed) = match outcome {
            Ok(a) => (a, false),
            Err(e) if e.retryable() && !executor_retry_used => {
                executor_retry_used = true;
                let _ = tx.send(Msg::Retrying(CaseRetrying {
                    id: unit.id.clone(),
                    index: sh.opts.first_index + i as u64,
                    attempt,
                    worker: w,
                    cause: RetryCause::ExecutorFailed,
                    reason: hatchery_report::error_chain(&e),
                    delay_us: 0,
                }));
                continue;
            }
            Err(e) => {
                if matches!(e, ExecError::Start { .. }) {
                    let _ = tx.send(Msg::WorkerError(hatchery_report::error_chain(&e)));
                }
                (sh.work.failed(unit, i, &e), true)
            }
        };
        let passed = a.passes(unit);
        if !passed && !executor_failed {
            program_failures += 1;
        }
        let will_retry = !passed
            && !executor_failed
            && program_failures <= policy.retries
            && !sh.cancel.load(Ordering::SeqCst);
        if !passed && !will_retry {
            sh.failures.fetch_add(1, Ordering::SeqCst);
        }
        let fin = CaseFinished {
            id: unit.id.clone(),
            index: sh.opts.first_index + i as u64,
            attempt,
            worker: w,
            expected: unit.expected_outcome(),
            verdict: a.verdict,
            expected_verdict: match unit.expect {
                crate::Expect::Verdict(v) => Some(v),
                crate::Expect::Outcome(_) => None,
            },
            passed,
            flaky: passed && program_failures > 0,
            will_retry,
            result: a.result,
        };
        if !will_retry {
            if let Some(rule) = sh.skip {
                if rule.triggers(&fin) {
                    sh.triggered
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(i);
                }
            }
            sh.backlog.admit(output_bytes(&fin));
            let _ = tx.send(Msg::Finished(Box::new(fin)));
            return true;
        }
        let delay = policy.delay_before(attempt + 1);
        let reason = format!("{}: {}", fin.result.outcome, fin.result.reason);
        sh.backlog.admit(output_bytes(&fin));
        let _ = tx.send(Msg::Finished(Box::new(fin)));
        let _ = tx.send(Msg::Retrying(CaseRetrying {
            id: unit.id.clone(),
            index: sh.opts.first_index + i as u64,
            attempt,
            worker: w,
            cause: RetryCause::Failed,
            reason,
            delay_us: delay.as_micros() as u64,
        }));
        pause(delay, sh.cancel);
        if sh.cancel.load(Ordering::SeqCst) {
            return false;
        }
    }
}

/// The skip rule "a failure stops the rest of its group": a failed unit keeps every later
/// unit of the same [`Unit::group`] from starting.
pub struct BreakGroupOnFailure<'a>(pub &'a [Unit]);

impl SkipRule for BreakGroupOnFailure<'_> {
    fn skips(&self, done: usize, later: usize) -> bool {
        let g = &self.0[done].group;
        g.is_some() && *g == self.0[later].group
    }
}

/// Stops the slow notices of one attempt. The worker's next attempt may have started already
/// (its start is read before the end of the one before): its notices go on.
fn forget_attempt(running: &mut HashMap<u32, Running>, worker: u32, index: u64, attempt: u32) {
    if running
        .get(&worker)
        .is_some_and(|r| r.index == index && r.attempt == attempt)
    {
        running.remove(&worker);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backlog_holds_a_worker_back_only_while_big_results_wait() {
        let b = std::sync::Arc::new(Backlog {
            bytes: Mutex::new((0, 0)),
            drained: std::sync::Condvar::new(),
        });
        // A big result passes when nothing waits; small ones pass while the backlog is small.
        b.admit(BACKLOG_BYTES * 2);
        b.received(BACKLOG_BYTES * 2);
        b.admit(10);
        b.admit(10);
        b.received(20);
        b.admit(BACKLOG_BYTES * 2);
        // A second big one waits until the reporter took the first.
        let (tx, rx) = mpsc::channel();
        let b2 = b.clone();
        let t = std::thread::spawn(move || {
            b2.admit(BACKLOG_BYTES / 2);
            tx.send(()).unwrap();
        });
        assert!(rx.recv_timeout(Duration::from_millis(100)).is_err());
        b.received(BACKLOG_BYTES * 2);
        assert!(rx.recv_timeout(Duration::from_secs(5)).is_ok());
        t.join().unwrap();
    }
}

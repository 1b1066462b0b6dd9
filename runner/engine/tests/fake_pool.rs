//! Dispatcher logic with a fake executor: ordering, retries and flaky detection, the
//! executor-failure retry rule, fail-fast, skip rules, slow notices, cancellation, verdicts.

use std::collections::HashMap;
use std::ffi::OsString;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use hatchery_engine::{
    run, Attempt, BreakGroupOnFailure, ExecError, Executor, Expect, Interrupt, Options, Pool,
    Reporter, RetryPolicy, SkipRule, Unit, Work,
};
use hatchery_report::{
    decide, CaseFinished, CaseResult, Enforcement, Event, HostFacts, Limits, Outcome, RawFacts,
    RetryCause, RunStarted, Termination, Verdict,
};
use hatchery_sandbox::{CaseSpec, RunError, Tier};

/// Behaviour is the unit's argv[0]: `ok`, `fail`, `flaky:N` (fails N times), `sleep:MS`,
/// `die:N` (the zygote dies N times, then ok), `hang` (until interrupted).
#[derive(Default)]
struct Shared {
    attempts: Mutex<HashMap<String, u32>>,
    hang: (Mutex<bool>, Condvar),
}

struct Fake {
    shared: Arc<Shared>,
}

fn exited(code: i32) -> CaseResult {
    let facts = RawFacts {
        termination: Some(Termination::Exited(code)),
        ..Default::default()
    };
    decide(facts, &Limits::default(), "none", Enforcement::new())
}

impl Executor for Fake {
    fn run(&mut self, spec: &CaseSpec, _tier: Tier) -> Result<CaseResult, ExecError> {
        let what = spec.argv[0].to_str().unwrap().to_owned();
        let id = spec.argv[1].to_str().unwrap().to_owned();
        let n = {
            let mut a = self.shared.attempts.lock().unwrap();
            let e = a.entry(id).or_default();
            *e += 1;
            *e
        };
        if let Some(ms) = what.strip_prefix("sleep:") {
            std::thread::sleep(Duration::from_millis(ms.parse().unwrap()));
            return Ok(exited(0));
        }
        if let Some(k) = what.strip_prefix("flaky:") {
            let k: u32 = k.parse().unwrap();
            return Ok(exited(if n <= k { 1 } else { 0 }));
        }
        if let Some(k) = what.strip_prefix("die:") {
            let k: u32 = k.parse().unwrap();
            if n <= k {
                return Err(ExecError::Zygote(RunError::Died {
                    status: "signal: 9 (SIGKILL)".into(),
                }));
            }
            return Ok(exited(0));
        }
        match what.as_str() {
            "ok" => Ok(exited(0)),
            "fail" => Ok(exited(1)),
            "hang" => {
                let (m, c) = &self.shared.hang;
                let mut g = m.lock().unwrap();
                while !*g {
                    g = c.wait(g).unwrap();
                }
                Err(ExecError::Interrupted)
            }
            _ => panic!("unknown fake behaviour {what}"),
        }
    }
    fn interrupt_handle(&self) -> Interrupt {
        let s = self.shared.clone();
        Arc::new(move || {
            let (m, c) = &s.hang;
            *m.lock().unwrap() = true;
            c.notify_all();
        })
    }
}

fn pool(workers: usize) -> (Pool<Fake>, Arc<Shared>) {
    let shared = Arc::new(Shared::default());
    let execs = (0..workers)
        .map(|_| Fake {
            shared: shared.clone(),
        })
        .collect();
    (Pool::new(execs), shared)
}

#[derive(Default)]
struct Collect {
    events: Vec<Event>,
    progress: u64,
}

impl Reporter for Collect {
    fn event(&mut self, e: &Event) {
        self.events.push(e.clone());
    }
    fn progress(&mut self, _done: u64, _total: u64, _a: &CaseFinished) {
        self.progress += 1;
    }
}

fn started() -> Option<RunStarted> {
    Some(RunStarted {
        schema_version: hatchery_report::SCHEMA_VERSION,
        hatchery_version: "test".into(),
        started_at_ms: 0,
        host: HostFacts {
            kernel: "test".into(),
            cgroup_version: "none".into(),
            cpus: 1,
            hostname: "test".into(),
        },
        tier: "none".into(),
        enforcement: Enforcement::new(),
        limits: Limits::default(),
        cases: 0,
        workers: 1,
    })
}

fn units(spec: &[&str]) -> Vec<Unit> {
    spec.iter()
        .enumerate()
        .map(|(i, b)| {
            let id = format!("u{i}");
            let argv = vec![OsString::from(b), OsString::from(&id)];
            Unit::new(id, CaseSpec::new(argv), Tier::None)
        })
        .collect()
}

fn opts(workers: usize) -> Options {
    Options {
        workers,
        ..Default::default()
    }
}

fn finished(c: &Collect) -> Vec<(u64, u32, Outcome, bool)> {
    c.events
        .iter()
        .filter_map(|e| match e {
            Event::CaseFinished(f) => Some((f.index, f.attempt, f.result.outcome, f.flaky)),
            _ => None,
        })
        .collect()
}

fn go(
    p: &Pool<Fake>,
    us: &[Unit],
    o: &Options,
    skip: Option<&dyn SkipRule>,
) -> (hatchery_report::RunFinished, Collect) {
    let mut c = Collect::default();
    let rf = run(
        p,
        us,
        &hatchery_engine::RunSpec,
        o,
        skip,
        started(),
        &AtomicBool::new(false),
        &mut c,
    );
    (rf, c)
}

#[test]
fn finished_events_come_in_input_order_whatever_the_completion_order() {
    let us = units(&[
        "sleep:80", "sleep:1", "sleep:40", "sleep:1", "ok", "sleep:20",
    ]);
    let (p, _) = pool(3);
    let (rf, c) = go(&p, &us, &opts(3), None);
    let idx: Vec<u64> = finished(&c).iter().map(|f| f.0).collect();
    assert_eq!(idx, vec![0, 1, 2, 3, 4, 5]);
    assert_eq!(rf.passed, 6);
    assert!(matches!(c.events.first(), Some(Event::RunStarted(_))));
    assert!(matches!(c.events.last(), Some(Event::RunFinished(_))));
    assert_eq!(c.progress, 6);
}

#[test]
fn retries_and_flaky_detection() {
    let us = units(&["flaky:1", "fail", "flaky:5"]);
    let (p, _) = pool(2);
    let mut o = opts(2);
    o.retry = RetryPolicy {
        retries: 2,
        ..Default::default()
    };
    let (rf, c) = go(&p, &us, &o, None);
    // u0: fail then pass (flaky); u1: three failures; u2: three failures.
    assert_eq!(
        finished(&c),
        vec![
            (0, 1, Outcome::NonzeroExit, false),
            (0, 2, Outcome::Ok, true),
            (1, 1, Outcome::NonzeroExit, false),
            (1, 2, Outcome::NonzeroExit, false),
            (1, 3, Outcome::NonzeroExit, false),
            (2, 1, Outcome::NonzeroExit, false),
            (2, 2, Outcome::NonzeroExit, false),
            (2, 3, Outcome::NonzeroExit, false),
        ]
    );
    assert_eq!((rf.passed, rf.failed, rf.flaky), (1, 2, 1));
    let retrying = c
        .events
        .iter()
        .filter(|e| matches!(e, Event::CaseRetrying(r) if r.cause == RetryCause::Failed))
        .count();
    assert_eq!(retrying, 5);
}

#[test]
fn a_per_unit_retry_policy_overrides_the_run() {
    let mut us = units(&["flaky:1"]);
    us[0].retry = Some(RetryPolicy {
        retries: 1,
        delay: Duration::from_millis(30),
        exponential: false,
        max_delay: None,
        jitter: false,
    });
    let (p, _) = pool(1);
    let t = Instant::now();
    let (rf, c) = go(&p, &us, &opts(1), None);
    assert!(t.elapsed() >= Duration::from_millis(30));
    assert_eq!((rf.passed, rf.flaky), (1, 1));
    assert!(c
        .events
        .iter()
        .any(|e| matches!(e, Event::CaseRetrying(r) if r.delay_us == 30_000 && r.attempt == 1)));
}

#[test]
fn an_executor_failure_is_retried_once_and_is_never_the_programs_result() {
    // die:1: the zygote dies once, the fresh one runs the case: a pass, not flaky, and no
    // case_finished for the attempt that has no result of the program.
    // die:2: the retry fails too: one final sandbox_error naming the zygote, no user retry.
    let us = units(&["die:1", "die:2", "ok"]);
    let (p, _) = pool(1);
    let mut o = opts(1);
    o.retry.retries = 3;
    let (rf, c) = go(&p, &us, &o, None);
    let f = finished(&c);
    assert_eq!(
        f,
        vec![
            (0, 2, Outcome::Ok, false),
            (1, 2, Outcome::SandboxError, false),
            (2, 1, Outcome::Ok, false),
        ]
    );
    assert_eq!((rf.passed, rf.failed, rf.flaky), (2, 1, 0));
    let cf = c
        .events
        .iter()
        .find_map(|e| match e {
            Event::CaseFinished(f) if f.index == 1 => Some(f.clone()),
            _ => None,
        })
        .unwrap();
    assert!(
        cf.result.error.as_deref().unwrap().contains("zygote died"),
        "{:?}",
        cf.result.error
    );
    let exec_retries = c
        .events
        .iter()
        .filter(|e| matches!(e, Event::CaseRetrying(r) if r.cause == RetryCause::ExecutorFailed))
        .count();
    assert_eq!(exec_retries, 2);
}

#[test]
fn fail_fast_stops_starting_cases() {
    let us = units(&["fail", "ok", "ok", "ok", "ok"]);
    let (p, _) = pool(1);
    let mut o = opts(1);
    o.max_fail = Some(1);
    let (rf, c) = go(&p, &us, &o, None);
    assert!(rf.fail_fast);
    assert_eq!(rf.failed, 1);
    assert_eq!(rf.not_run, 4);
    assert_eq!(finished(&c).len(), 1);
}

#[test]
fn a_group_skip_rule_skips_later_units_of_the_failed_group_only() {
    let mut us = units(&["ok", "fail", "ok", "ok", "ok"]);
    for (u, g) in us.iter_mut().zip(["a", "a", "a", "b", "a"]) {
        u.group = Some(g.into());
    }
    let (p, _) = pool(1);
    let rule = BreakGroupOnFailure(&us);
    let (rf, c) = go(&p, &us, &opts(1), Some(&rule));
    assert_eq!((rf.passed, rf.failed, rf.skipped, rf.not_run), (2, 1, 2, 0));
    let order: Vec<String> = c
        .events
        .iter()
        .filter_map(|e| match e {
            Event::CaseFinished(f) => Some(format!("F{}", f.index)),
            Event::CaseSkipped(s) => Some(format!("S{}<{}", s.index, s.because_of)),
            _ => None,
        })
        .collect();
    assert_eq!(order, ["F0", "F1", "S2<u1", "F3", "S4<u1"]);
}

#[test]
fn slow_cases_are_noticed_while_they_run() {
    let us = units(&["sleep:120", "ok"]);
    let (p, _) = pool(1);
    let mut o = opts(1);
    o.slow_after = Some(Duration::from_millis(40));
    let (_, c) = go(&p, &us, &o, None);
    let slow: Vec<(u64, u64)> = c
        .events
        .iter()
        .filter_map(|e| match e {
            Event::CaseSlow(s) => Some((s.index, s.elapsed_us)),
            _ => None,
        })
        .collect();
    assert!(!slow.is_empty() && slow.len() <= 3, "{slow:?}");
    assert!(
        slow.iter().all(|(i, us)| *i == 0 && *us >= 40_000),
        "{slow:?}"
    );
}

#[test]
fn cancellation_kills_running_cases_and_says_so() {
    let us = units(&["hang", "hang", "ok", "ok"]);
    let (p, _) = pool(2);
    let cancel = Arc::new(AtomicBool::new(false));
    let c2 = cancel.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        c2.store(true, Ordering::SeqCst);
    });
    let mut c = Collect::default();
    let t = Instant::now();
    let rf = run(
        &p,
        &us,
        &hatchery_engine::RunSpec,
        &opts(2),
        None,
        started(),
        &cancel,
        &mut c,
    );
    assert!(t.elapsed() < Duration::from_secs(5));
    assert!(rf.interrupted);
    assert_eq!(rf.killed_running, 2);
    assert_eq!(rf.not_run, 4);
    assert!(matches!(c.events.last(), Some(Event::RunFinished(r)) if r.interrupted));
}

#[test]
fn expectations_decide_pass_and_fail() {
    let mut us = units(&["fail", "ok"]);
    for u in &mut us {
        u.expect = Expect::Outcome(Outcome::NonzeroExit);
    }
    let (p, _) = pool(2);
    let (rf, _) = go(&p, &us, &opts(2), None);
    assert_eq!((rf.passed, rf.failed), (1, 1));
}

/// A judge-like work: the verdict is WA when the program exits 1.
struct Judged;

impl Work<Fake> for Judged {
    fn attempt(&self, exec: &mut Fake, unit: &Unit, _i: usize) -> Result<Attempt, ExecError> {
        let r = exec.run(&unit.spec, unit.tier)?;
        let v = if r.outcome == Outcome::Ok {
            Verdict::AC
        } else {
            Verdict::WA
        };
        Ok(Attempt {
            result: r,
            verdict: Some(v),
        })
    }
}

#[test]
fn an_expected_verdict_passes_and_is_a_typed_field() {
    let mut us = units(&["fail", "ok"]);
    for u in &mut us {
        u.expect = Expect::Verdict(Verdict::WA);
    }
    let (p, _) = pool(1);
    let mut c = Collect::default();
    let rf = run(
        &p,
        &us,
        &Judged,
        &opts(1),
        None,
        None,
        &AtomicBool::new(false),
        &mut c,
    );
    assert_eq!((rf.passed, rf.failed), (1, 1));
    let v: Vec<(Option<Verdict>, bool)> = c
        .events
        .iter()
        .filter_map(|e| match e {
            Event::CaseFinished(f) => Some((f.verdict, f.passed)),
            _ => None,
        })
        .collect();
    assert_eq!(v, [(Some(Verdict::WA), true), (Some(Verdict::AC), false)]);
    // Without run_started, the stream is not framed.
    assert!(!c.events.iter().any(|e| matches!(e, Event::RunFinished(_))));
}

/// A work that makes its own result of an executor failure (a judge's JE with its verdict).
struct OwnFailure;

impl Work<Fake> for OwnFailure {
    fn attempt(&self, exec: &mut Fake, unit: &Unit, _i: usize) -> Result<Attempt, ExecError> {
        exec.run(&unit.spec, unit.tier).map(Attempt::of)
    }
    fn failed(&self, unit: &Unit, _i: usize, e: &ExecError) -> Attempt {
        Attempt {
            result: e.result(&unit.spec.limits, unit.tier),
            verdict: Some(Verdict::JE),
        }
    }
}

#[test]
fn a_final_executor_failure_is_reported_by_the_work_after_the_one_retry() {
    let us = units(&["die:2", "die:1"]);
    let (p, shared) = pool(1);
    let mut c = Collect::default();
    let rf = run(
        &p,
        &us,
        &OwnFailure,
        &opts(1),
        None,
        None,
        &AtomicBool::new(false),
        &mut c,
    );
    assert_eq!((rf.passed, rf.failed), (1, 1));
    let v: Vec<(u64, Option<Verdict>, Outcome)> = c
        .events
        .iter()
        .filter_map(|e| match e {
            Event::CaseFinished(f) => Some((f.index, f.verdict, f.result.outcome)),
            _ => None,
        })
        .collect();
    assert_eq!(
        v,
        [
            (0, Some(Verdict::JE), Outcome::SandboxError),
            (1, None, Outcome::Ok)
        ]
    );
    // The retry rule is the dispatcher's: two tries each, never a third.
    let attempts = shared.attempts.lock().unwrap();
    assert_eq!((attempts["u0"], attempts["u1"]), (2, 2));
}

#[test]
fn a_second_dispatch_numbers_its_units_on() {
    let us = units(&["sleep:30", "ok", "ok"]);
    let (p, _) = pool(2);
    let o = Options {
        workers: 2,
        first_index: 5,
        ..Default::default()
    };
    let (_, c) = go(&p, &us, &o, None);
    let idx: Vec<u64> = finished(&c).iter().map(|f| f.0).collect();
    assert_eq!(idx, [5, 6, 7]);
}

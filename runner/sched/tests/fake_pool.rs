//! Scheduler logic with a fake executor: ordering, retries and flaky detection, fail-fast,
//! cancellation, and replacement of a broken executor.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use hatchery_report::{
    decide, CaseFinished, CaseResult, Enforcement, Event, HostFacts, Limits, Outcome, RawFacts,
    RunStarted, Termination,
};
use hatchery_sched::{
    parse_jobs, run, Executor, ExecutorFactory, Interrupt, Job, Options, Reporter,
};

/// Behaviour is the job's argv[0]: `ok`, `fail`, `flaky:N` (fails N times), `sleep:MS`,
/// `die` (sandbox error, executor broken), `hang` (until interrupted).
#[derive(Default)]
struct Shared {
    attempts: Mutex<HashMap<String, u32>>,
    created: AtomicU32,
    hang: (Mutex<bool>, Condvar),
}

struct Fake {
    shared: Arc<Shared>,
    healthy: bool,
}

fn result(outcome_exit: Option<i32>, error: Option<String>) -> CaseResult {
    let facts = RawFacts {
        termination: outcome_exit.map(Termination::Exited),
        error,
        ..Default::default()
    };
    decide(facts, &Limits::default(), "fake", Enforcement::new())
}

impl Executor for Fake {
    fn run(&mut self, job: &Job, _limits: &Limits) -> CaseResult {
        let what = job.argv[0].as_str();
        let n = {
            let mut a = self.shared.attempts.lock().unwrap();
            let e = a.entry(job.id.clone()).or_default();
            *e += 1;
            *e
        };
        if let Some(ms) = what.strip_prefix("sleep:") {
            std::thread::sleep(Duration::from_millis(ms.parse().unwrap()));
            return result(Some(0), None);
        }
        if let Some(k) = what.strip_prefix("flaky:") {
            let k: u32 = k.parse().unwrap();
            return result(Some(if n <= k { 1 } else { 0 }), None);
        }
        match what {
            "ok" => result(Some(0), None),
            "fail" => result(Some(1), None),
            "die" => {
                self.healthy = false;
                if n == 1 {
                    result(None, Some("the zygote died".into()))
                } else {
                    result(Some(0), None)
                }
            }
            "hang" => {
                let (m, c) = &self.shared.hang;
                let mut g = m.lock().unwrap();
                while !*g {
                    g = c.wait(g).unwrap();
                }
                self.healthy = false;
                result(None, Some("interrupted".into()))
            }
            _ => panic!("unknown fake behaviour {what}"),
        }
    }
    fn healthy(&self) -> bool {
        self.healthy
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

struct Factory(Arc<Shared>);

impl ExecutorFactory for Factory {
    type Exec = Fake;
    fn create(&self, _w: u32) -> Result<Fake, String> {
        self.0.created.fetch_add(1, Ordering::SeqCst);
        Ok(Fake {
            shared: self.0.clone(),
            healthy: true,
        })
    }
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

fn started() -> RunStarted {
    RunStarted {
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
    }
}

fn jobs(spec: &[&str]) -> Vec<Job> {
    let text: String = spec
        .iter()
        .enumerate()
        .map(|(i, b)| format!("{{\"id\":\"j{i}\",\"argv\":[\"{b}\"]}}\n"))
        .collect();
    let (j, e) = parse_jobs(&text);
    assert!(e.is_empty());
    j
}

fn opts(workers: u32) -> Options {
    Options {
        workers,
        retries: 0,
        max_fail: None,
        defaults: Limits::default(),
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

#[test]
fn finished_events_come_in_input_order_whatever_the_completion_order() {
    let js = jobs(&[
        "sleep:80", "sleep:1", "sleep:40", "sleep:1", "ok", "sleep:20",
    ]);
    let shared = Arc::new(Shared::default());
    let mut c = Collect::default();
    let rf = run(
        &js,
        &Factory(shared),
        &opts(3),
        started(),
        &AtomicBool::new(false),
        &mut c,
    );
    let idx: Vec<u64> = finished(&c).iter().map(|f| f.0).collect();
    assert_eq!(idx, vec![0, 1, 2, 3, 4, 5]);
    assert_eq!(rf.passed, 6);
    assert!(matches!(c.events.first(), Some(Event::RunStarted(_))));
    assert!(matches!(c.events.last(), Some(Event::RunFinished(_))));
    assert_eq!(c.progress, 6);
}

#[test]
fn retries_and_flaky_detection() {
    let js = jobs(&["flaky:1", "fail", "flaky:5"]);
    let shared = Arc::new(Shared::default());
    let mut c = Collect::default();
    let mut o = opts(2);
    o.retries = 2;
    let rf = run(
        &js,
        &Factory(shared),
        &o,
        started(),
        &AtomicBool::new(false),
        &mut c,
    );
    let f = finished(&c);
    // j0: fail then pass (flaky); j1: three failures; j2: three failures.
    assert_eq!(
        f,
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
}

#[test]
fn fail_fast_stops_starting_cases() {
    let js = jobs(&["fail", "ok", "ok", "ok", "ok"]);
    let shared = Arc::new(Shared::default());
    let mut c = Collect::default();
    let mut o = opts(1);
    o.max_fail = Some(1);
    let rf = run(
        &js,
        &Factory(shared),
        &o,
        started(),
        &AtomicBool::new(false),
        &mut c,
    );
    assert!(rf.fail_fast);
    assert_eq!(rf.failed, 1);
    assert_eq!(rf.not_run, 4);
    assert_eq!(finished(&c).len(), 1);
}

#[test]
fn cancellation_kills_running_cases_and_says_so() {
    let js = jobs(&["hang", "hang", "ok", "ok"]);
    let shared = Arc::new(Shared::default());
    let cancel = Arc::new(AtomicBool::new(false));
    let c2 = cancel.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        c2.store(true, Ordering::SeqCst);
    });
    let mut c = Collect::default();
    let t = Instant::now();
    let rf = run(&js, &Factory(shared), &opts(2), started(), &cancel, &mut c);
    assert!(t.elapsed() < Duration::from_secs(5));
    assert!(rf.interrupted);
    assert_eq!(rf.killed_running, 2);
    assert_eq!(rf.not_run, 4);
    assert!(matches!(c.events.last(), Some(Event::RunFinished(r)) if r.interrupted));
}

#[test]
fn a_broken_executor_is_replaced_and_its_case_retried_once() {
    let js = jobs(&["die", "ok", "ok"]);
    let shared = Arc::new(Shared::default());
    let mut c = Collect::default();
    let rf = run(
        &js,
        &Factory(shared.clone()),
        &opts(1),
        started(),
        &AtomicBool::new(false),
        &mut c,
    );
    let f = finished(&c);
    assert_eq!(f[0], (0, 1, Outcome::SandboxError, false));
    assert_eq!(f[1], (0, 2, Outcome::Ok, true));
    assert_eq!(rf.passed, 3);
    assert!(shared.created.load(Ordering::SeqCst) >= 2);
}

#[test]
fn expectations_decide_pass_and_fail() {
    let (js, e) = parse_jobs(
        "{\"id\":\"a\",\"argv\":[\"fail\"],\"expect\":\"nonzero_exit\"}\n{\"id\":\"b\",\"argv\":[\"ok\"],\"expect\":\"nonzero_exit\"}\n",
    );
    assert!(e.is_empty());
    let mut c = Collect::default();
    let rf = run(
        &js,
        &Factory(Arc::new(Shared::default())),
        &opts(2),
        started(),
        &AtomicBool::new(false),
        &mut c,
    );
    assert_eq!((rf.passed, rf.failed), (1, 1));
}

//! Scale-out through Redis, end to end: each test starts its own `redis-server` on a
//! loopback port with a temporary directory (never a system Redis), a `hatchery-serve
//! --redis` and `hatchery-worker`s, talks HTTP to the server, and stops and reaps them all.
//!
//! The fault test: 1 000 runs across three workers, one SIGKILLed in the middle; every run
//! gets exactly one result (checked in the responses and in Redis), and the time until the
//! killed worker's runs were taken over and finished is printed.

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::Commands as _;
use serde_json::{json, Value};

/// A child process stopped (SIGTERM, then SIGKILL after 20 s) and reaped on drop; its
/// stderr is collected.
struct Proc {
    child: Child,
    log: Arc<Mutex<String>>,
}

impl Proc {
    /// Starts `cmd` and waits for a stderr line starting with `ready`; returns the rest of
    /// that line. None when it exited with code 6 (the host cannot run the tier).
    fn start(mut cmd: Command, ready: &str) -> (Proc, Option<String>) {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut p = Proc {
            child: cmd.spawn().expect("start a child"),
            log: Arc::default(),
        };
        let mut err = BufReader::new(p.child.stderr.take().unwrap());
        loop {
            let mut line = String::new();
            if err.read_line(&mut line).unwrap_or(0) == 0 {
                let st = p.child.wait().unwrap();
                let seen = p.log.lock().unwrap().clone();
                if st.code() == Some(6) {
                    skip(&format!("the host cannot run tier hardened: {seen}"));
                    return (p, None);
                }
                panic!("{cmd:?} exited ({st}) before `{ready}`:\n{seen}");
            }
            p.log.lock().unwrap().push_str(&line);
            if let Some(rest) = line.trim().strip_prefix(ready) {
                let log = p.log.clone();
                std::thread::spawn(move || {
                    let mut l = String::new();
                    while err.read_line(&mut l).unwrap_or(0) > 0 {
                        log.lock().unwrap().push_str(&l);
                        l.clear();
                    }
                });
                return (p, Some(rest.to_owned()));
            }
        }
    }

    fn pid(&self) -> nix::unistd::Pid {
        nix::unistd::Pid::from_raw(self.child.id() as i32)
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(self.pid(), nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(20);
        while matches!(self.child.try_wait(), Ok(None)) {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn skip(why: &str) {
    if std::env::var("HATCHERY_TEST_REQUIRE").is_ok_and(|v| v == "all") {
        panic!("HATCHERY_TEST_REQUIRE=all but: {why}");
    }
    eprintln!("SKIP: {why}");
}

fn tmp(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("redis-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A redis-server of our own on a free loopback port, persisting nothing.
fn redis_server(dir: &std::path::Path) -> Option<(Proc, String)> {
    if Command::new("redis-server")
        .arg("--version")
        .output()
        .is_err()
    {
        skip("no redis-server on PATH (apt install redis-server)");
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cmd = Command::new("redis-server");
    cmd.args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["--save", "", "--appendonly", "no", "--logfile", ""])
        .arg("--dir")
        .arg(dir);
    cmd.stdout(Stdio::piped());
    // redis-server logs to stdout: wait for its PING instead.
    let child = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let p = Proc {
        child,
        log: Arc::default(),
    };
    let url = format!("redis://127.0.0.1:{port}/");
    let client = redis::Client::open(url.as_str()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(mut c) = client.get_connection() {
            if redis::cmd("PING").query::<String>(&mut c).is_ok() {
                return Some((p, url));
            }
        }
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn cgroup_delegate() {
    // cgroup v2: step out of the test's own cgroup first (as the other tests do).
    static DELEGATE: std::sync::Once = std::sync::Once::new();
    DELEGATE.call_once(|| drop(hatchery_sandbox::cgroup::CgroupSlot::allocate()));
}

fn server(dir: &std::path::Path, url: &str) -> Option<(Proc, String)> {
    cgroup_delegate();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hatchery-serve"));
    cmd.arg("--store")
        .arg(dir.join("serve"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--redis",
            url,
            "--redis-wait",
            "120s",
        ])
        .env_remove("HATCHERY_SERVE_TOKEN")
        .env_remove("HATCHERY_REDIS");
    let (p, at) = Proc::start(cmd, "hatchery serve: listening on ");
    Some((p, at?))
}

fn worker(dir: &std::path::Path, url: &str, name: &str) -> Option<Proc> {
    worker_with(dir, url, name, &[])
}

fn worker_with(dir: &std::path::Path, url: &str, name: &str, extra: &[&str]) -> Option<Proc> {
    cgroup_delegate();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hatchery-worker"));
    cmd.arg("--store")
        .arg(dir.join(name))
        .args(["--redis", url, "--name", name, "-j", "2", "--no-pin"])
        .args(["--claim-after", "2s"])
        .args(extra)
        .env_remove("HATCHERY_REDIS");
    let (p, ok) = Proc::start(cmd, &format!("hatchery worker: {name} reading"));
    ok.map(|_| p)
}

fn echo(n: usize) -> Value {
    json!({"cmd": [{
        "args": ["/bin/echo", format!("run-{n}")],
        "env": ["PATH=/usr/bin:/bin"],
        "files": [{"content": ""}, {"name": "stdout", "max": 1024}, {"name": "stderr", "max": 1024}],
        "cpuLimit": 1_000_000_000u64,
        "memoryLimit": 64u64 << 20,
        "procLimit": 10,
        "copyOut": ["stdout", "stderr"],
    }]})
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(150))
        .build()
        .unwrap()
}

#[test]
fn redis_run_round_trip_and_refusals() {
    let dir = tmp("basic");
    let Some((_redis, url)) = redis_server(&dir) else {
        return;
    };
    let Some((_srv, at)) = server(&dir, &url) else {
        return;
    };
    let Some(_w) = worker(&dir, &url, "solo") else {
        return;
    };
    let c = client();
    let r = c.post(format!("{at}/run")).json(&echo(7)).send().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-hatchery-worker"], "solo");
    let v: Value = r.json().unwrap();
    assert_eq!(v[0]["status"], "Accepted", "{v}");
    assert_eq!(v[0]["files"]["stdout"], "run-7\n");
    // A limit beyond the worker's maximum is capped there, as locally; a nonzero exit is
    // reported as go-judge does.
    let fail = json!({"cmd": [{"args": ["/bin/sh", "-c", "exit 3"], "env": ["PATH=/usr/bin:/bin"],
        "files": [{"content": ""}, {"name": "stdout", "max": 64}, {"name": "stderr", "max": 64}],
        "cpuLimit": 1_000_000_000_000u64, "copyOut": ["stdout"]}]});
    let v: Value = c
        .post(format!("{at}/run"))
        .json(&fail)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(v[0]["status"], "Nonzero Exit Status", "{v}");
    assert_eq!(v[0]["exitStatus"], 3);
    // What names the server's store cannot reach another machine: refused, not run.
    let mut by_id = echo(1);
    by_id["cmd"][0]["copyIn"] = json!({"a": {"fileId": "ABCDEFGHIJKLMNOP"}});
    let r = c.post(format!("{at}/run")).json(&by_id).send().unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().unwrap().contains("not available"));
    let mut cached = echo(1);
    cached["cmd"][0]["copyOutCached"] = json!(["a"]);
    let r = c.post(format!("{at}/run")).json(&cached).send().unwrap();
    assert_eq!(r.status(), 400);
    // Nothing left behind: every entry acknowledged and deleted.
    let mut rc = redis::Client::open(url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let len: u64 = rc.xlen("hatchery:runs").unwrap();
    assert_eq!(len, 0);
    // /metrics shows the queue as Redis has it.
    let m = c
        .get(format!("{at}/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    for line in [
        "hatchery_serve_redis_runs_waiting 0",
        "hatchery_serve_redis_runs_taken 0",
        "hatchery_serve_redis_consumers 1",
    ] {
        assert!(m.lines().any(|l| l == line), "{line} in\n{m}");
    }
    assert!(m.trim_end().ends_with("# EOF"), "{m}");
}

/// The runs (entry id → run id) a consumer holds.
fn pending_of(rc: &mut redis::Connection, consumer: &str) -> BTreeMap<String, String> {
    let p: redis::streams::StreamPendingCountReply = rc
        .xpending_consumer_count("hatchery:runs", "workers", "-", "+", 1000, consumer)
        .unwrap();
    let mut out = BTreeMap::new();
    for e in p.ids {
        let r: redis::streams::StreamRangeReply = rc.xrange("hatchery:runs", &e.id, &e.id).unwrap();
        if let Some(s) = r.ids.first() {
            if let Some(run) = s.get::<String>("id") {
                out.insert(e.id.clone(), run);
            }
        }
    }
    out
}

#[test]
fn redis_fault_kill_a_worker_mid_run() {
    const RUNS: usize = 1000;
    const CLIENTS: usize = 20;
    let dir = tmp("fault");
    let Some((_redis, url)) = redis_server(&dir) else {
        return;
    };
    let Some((_srv, at)) = server(&dir, &url) else {
        return;
    };
    let mut workers = Vec::new();
    for name in ["w0", "w1", "w2"] {
        let Some(w) = worker(&dir, &url, name) else {
            return;
        };
        workers.push(Some(w));
    }
    let mut rc = redis::Client::open(url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let done = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|k| {
            let (at, done) = (at.clone(), done.clone());
            std::thread::spawn(move || {
                let c = client();
                let mut got = Vec::new();
                for n in (k..RUNS).step_by(CLIENTS) {
                    let r = c.post(format!("{at}/run")).json(&echo(n)).send().unwrap();
                    let code = r.status();
                    let who = r.headers()["x-hatchery-worker"]
                        .to_str()
                        .unwrap()
                        .to_owned();
                    let v: Value = r.json().unwrap();
                    assert_eq!(code, 200, "run {n}: {v}");
                    got.push((n, who, v));
                    done.fetch_add(1, Ordering::Relaxed);
                }
                got
            })
        })
        .collect();
    // In the middle, with runs in w0's hands: SIGKILL it.
    while done.load(Ordering::Relaxed) < RUNS / 3 {
        std::thread::sleep(Duration::from_millis(5));
    }
    // Stopped first, so that what it holds cannot change between the look and the kill.
    let (killed_at, orphans) = loop {
        use nix::sys::signal::{kill, Signal};
        let w0 = workers[0].as_ref().unwrap().pid();
        kill(w0, Signal::SIGSTOP).unwrap();
        let held = pending_of(&mut rc, "w0");
        if !held.is_empty() {
            kill(w0, Signal::SIGKILL).unwrap();
            break (Instant::now(), held);
        }
        kill(w0, Signal::SIGCONT).unwrap();
        assert!(done.load(Ordering::Relaxed) < RUNS, "w0 never held a run");
        std::thread::sleep(Duration::from_millis(1));
    };
    let mut w0 = workers[0].take().unwrap();
    let _ = w0.child.wait();
    eprintln!(
        "killed w0 after {} of {RUNS} runs, holding {} run(s)",
        done.load(Ordering::Relaxed),
        orphans.len()
    );
    assert!(
        !orphans.is_empty(),
        "w0 finished its runs before it was killed"
    );
    // Recovered when no run is left in w0's hands (each is acknowledged, after its result
    // is stored, by the worker that took it over).
    let recovered = loop {
        if pending_of(&mut rc, "w0").is_empty() {
            break killed_at.elapsed();
        }
        assert!(
            killed_at.elapsed() < Duration::from_secs(60),
            "w0's runs were not taken over"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut results = Vec::new();
    for c in clients {
        results.extend(c.join().unwrap());
    }
    let total = started.elapsed();
    // Every run answered once, with its own output.
    assert_eq!(results.len(), RUNS);
    let mut seen = HashSet::new();
    let mut by_worker: BTreeMap<String, usize> = BTreeMap::new();
    for (n, who, v) in &results {
        assert!(seen.insert(*n), "run {n} answered twice");
        assert_eq!(v[0]["status"], "Accepted", "run {n}: {v}");
        assert_eq!(
            v[0]["files"]["stdout"],
            format!("run-{n}\n"),
            "run {n}: {v}"
        );
        *by_worker.entry(who.clone()).or_default() += 1;
    }
    // In Redis: exactly one result per run, none pending, nothing left on the stream.
    let keys: Vec<String> = rc.keys("hatchery:result:*").unwrap();
    assert_eq!(keys.len(), RUNS, "results stored");
    let len: u64 = rc.xlen("hatchery:runs").unwrap();
    assert_eq!(len, 0, "entries left on the stream");
    let pending: redis::streams::StreamPendingReply =
        rc.xpending("hatchery:runs", "workers").unwrap();
    assert_eq!(pending.count(), 0, "entries still pending");
    // The runs w0 held were finished by the others.
    for run in orphans.values() {
        let stored: String = rc.get(format!("hatchery:result:{run}")).unwrap();
        let stored: Value = serde_json::from_str(&stored).unwrap();
        assert_ne!(stored["worker"], "w0", "{stored}");
        assert_eq!(stored["code"], 200);
    }
    let dups: Option<u64> = rc.get("hatchery:duplicates").unwrap();
    let took_over: usize = workers
        .iter()
        .flatten()
        .map(|w| w.log().matches("took over").count())
        .sum();
    eprintln!(
        "redis fault test: {RUNS} runs in {:.2?}; w0 killed holding {} run(s); recovered \
         (all its runs finished elsewhere) {:.2?} after the kill (claim-after 2s); takeovers \
         logged: {took_over}; duplicate results dropped: {}; runs per worker: {by_worker:?}",
        total,
        orphans.len(),
        recovered,
        dups.unwrap_or(0)
    );
}

/// A run whose worker stopped while running it is taken over; once it was started
/// `--max-deliveries` times it is answered with an error instead of a further start (a run
/// that kills its workers would otherwise go round them for ever).
#[test]
fn redis_run_that_outlives_its_workers_is_not_redelivered_for_ever() {
    let dir = tmp("poison");
    let Some((_redis, url)) = redis_server(&dir) else {
        return;
    };
    let Some((_srv, at)) = server(&dir, &url) else {
        return;
    };
    let Some(first) = worker(&dir, &url, "first") else {
        return;
    };
    let mut rc = redis::Client::open(url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let long = json!({"cmd": [{
        "args": ["/bin/sleep", "100"],
        "env": ["PATH=/usr/bin:/bin"],
        "files": [{"content": ""}, {"name": "stdout", "max": 64}, {"name": "stderr", "max": 64}],
        "cpuLimit": 1_000_000_000u64,
        "clockLimit": 200_000_000_000u64,
    }]});
    let t0 = Instant::now();
    let at2 = at.clone();
    let client_thread = std::thread::spawn(move || {
        let r = client()
            .post(format!("{at}/run"))
            .json(&long)
            .send()
            .unwrap();
        (r.status(), r.text().unwrap())
    });
    // Once the first worker runs it: SIGKILL the worker.
    let deadline = Instant::now() + Duration::from_secs(60);
    while pending_of(&mut rc, "first").is_empty() {
        assert!(Instant::now() < deadline, "never taken: {}", first.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    let m = client()
        .get(format!("{at2}/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        m.lines().any(|l| l == "hatchery_serve_redis_runs_taken 1"),
        "{m}"
    );
    nix::sys::signal::kill(first.pid(), nix::sys::signal::Signal::SIGKILL).unwrap();
    // A worker that allows one start only answers it at its takeover.
    let Some(second) = worker_with(&dir, &url, "second", &["--max-deliveries", "1"]) else {
        return;
    };
    let (code, body) = client_thread.join().unwrap();
    assert_eq!(code, 500, "{body}\n{}", second.log());
    assert!(
        body.contains("started 1 time and") && body.contains("not run again"),
        "{body}"
    );
    assert!(
        t0.elapsed() < Duration::from_secs(60),
        "answered only after {:?}: the sleep ran again",
        t0.elapsed()
    );
    assert!(second.log().contains("not run again"), "{}", second.log());
    let len: u64 = rc.xlen("hatchery:runs").unwrap();
    assert_eq!(len, 0, "the entry is acknowledged and deleted");
}

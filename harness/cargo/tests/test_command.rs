//! `cargo hatchery test` end to end on the fixture workspace corpora/cargo/suite: every
//! outcome, retries and FLAKY, fail-fast, timeouts and SLOW, memory limits, network, lockdown,
//! partitions, custom harnesses, exit codes, SIGINT.

mod common;
use common::*;

use std::io::Read as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn every_outcome_is_reported() {
    if !userns() {
        return;
    }
    let dir = scratch("all");
    let state = state_dir("all");
    let (report, junit) = (dir.join("report.jsonl"), dir.join("junit.xml"));
    let o = hatchery(
        "test",
        &[
            "--workspace",
            "--no-fail-fast",
            "-j",
            "2",
            "--env",
            &format!("HATCHERY_FIXTURE_STATE={}", state.display()),
            "--writable",
            state.to_str().unwrap(),
            "--report",
            report.to_str().unwrap(),
            "--junit",
            junit.to_str().unwrap(),
        ],
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(100), "{err}");
    assert!(
        err.contains("34 tests run: 29 passed (1 leaky), 5 failed, 4 skipped"),
        "{err}"
    );
    let ev = events(&report);
    assert_eq!(ev[0]["type"], "run_started");
    assert_eq!(ev[0]["data"]["cases"], 34);
    let rf = &ev.last().unwrap()["data"];
    assert_eq!(
        (rf["passed"].as_u64(), rf["failed"].as_u64()),
        (Some(29), Some(5))
    );
    let m = finished(&ev);
    let outcome = |id: &str| last(&m, id)["outcome"].as_str().unwrap().to_owned();
    for ok in [
        "alpha basics::passes",
        "alpha basics::should_panic_passes",
        "alpha env::cargo_env",
        "alpha env::private_tmp",
        "alpha state::writes_outside_tmp",
        "alpha resources::memory_hungry",
        "alpha resources::slow",
        "alpha resources::leaks_a_process",
        "alpha::cli runs_the_binary",
        "alpha::cli target_tmpdir_is_set",
        "beta quick::t00",
        "beta quick::t15",
        "beta::mimic mimic::adds",
        "beta::plain",
        // Loopback by default: binding 127.0.0.1 works.
        "alpha net::binds_localhost",
    ] {
        assert_eq!(outcome(ok), "ok", "{ok}: {:#}", last(&m, ok));
    }
    for bad in [
        "alpha basics::fails",
        "alpha state::flaky",
        "beta::mimic mimic::fails",
    ] {
        assert_eq!(outcome(bad), "nonzero_exit", "{bad}");
    }
    let segv = last(&m, "alpha crashes::segfaults");
    assert_eq!(segv["outcome"], "signaled");
    assert_eq!(segv["signal"], "SIGSEGV");
    assert_eq!(last(&m, "alpha crashes::aborts")["signal"], "SIGABRT");
    // Ignored tests do not run.
    assert!(!m.contains_key("alpha basics::ignored_passes"));
    assert!(!m.contains_key("beta::mimic mimic::ignored"));
    // Measurements.
    let leak = last(&m, "alpha resources::leaks_a_process");
    assert!(
        leak["leftover_processes"].as_u64().unwrap() >= 1,
        "{leak:#}"
    );
    let hungry = last(&m, "alpha resources::memory_hungry");
    assert!(
        hungry["usage"]["peak_memory_bytes"].as_u64().unwrap() >= 90 << 20,
        "{:#}",
        hungry["usage"]
    );
    assert!(
        last(&m, "beta quick::t00")["usage"]["peak_memory_bytes"]
            .as_u64()
            .unwrap()
            < 64 << 20
    );
    let slow = last(&m, "alpha resources::slow");
    assert!(slow["usage"]["wall_us"].as_u64().unwrap() >= 1_200_000);
    assert!(
        slow["usage"]["cpu_us"].as_u64().unwrap() < 500_000,
        "sleeping is not CPU"
    );
    // Captured output lands in the report and, for failures, on the terminal.
    let fails = last(&m, "alpha basics::fails");
    assert!(fails["stdout"]["text"]
        .as_str()
        .unwrap()
        .contains("stdout line before the failure"));
    assert!(err.contains("--- STDERR: alpha basics::fails ---"), "{err}");
    assert!(err.contains("deliberate failure"), "{err}");
    assert!(!err.contains("--- STDOUT: alpha basics::passes"), "{err}");
    // Status lines.
    for line in ["PASS [", "FAIL [", "SIGSEGV [", "SIGABRT [", "LEAK ["] {
        assert!(err.contains(line), "no `{line}` in:\n{err}");
    }
    assert!(err.contains("alpha basics::passes"), "{err}");
    let slowest = err.lines().find(|l| l.contains("Slowest")).unwrap();
    assert!(slowest.contains("resources::slow"), "{slowest}");
    let mem = err.lines().find(|l| l.contains("Peak memory")).unwrap();
    assert!(mem.contains("resources::memory_hungry"), "{mem}");
    // Scheduled across binaries on both workers.
    let workers: std::collections::BTreeSet<u64> = ev
        .iter()
        .filter(|e| e["type"] == "case_started")
        .map(|e| e["data"]["worker"].as_u64().unwrap())
        .collect();
    assert_eq!(workers.len(), 2, "{workers:?}");
    // JUnit: one suite per binary, ignored tests skipped.
    let xml = std::fs::read_to_string(&junit).unwrap();
    for s in [
        r#"<testsuite name="alpha" tests="15" skipped="2" errors="0" failures="4""#,
        r#"<testsuite name="beta::mimic" tests="3" skipped="1" errors="0" failures="1""#,
        r#"<testsuite name="beta::plain" tests="1""#,
    ] {
        assert!(xml.contains(s), "no `{s}` in:\n{xml}");
    }
    // nextest's failure types, and the panic's header as the message.
    assert!(
        xml.contains(r#"type="test failure with exit code 101""#),
        "{xml}"
    );
    assert!(xml.contains(r#"<failure message="thread &apos;"#), "{xml}");
}

#[test]
fn retries_turn_a_flaky_test_into_flaky() {
    if !userns() {
        return;
    }
    let state = state_dir("flaky");
    let report = scratch("flaky").join("report.jsonl");
    let o = hatchery(
        "test",
        &[
            "-p",
            "alpha",
            "--lib",
            "state::flaky",
            "--retries",
            "2",
            "--env",
            &format!("HATCHERY_FIXTURE_STATE={}", state.display()),
            "--writable",
            state.to_str().unwrap(),
            "--report",
            report.to_str().unwrap(),
        ],
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("TRY 1 FAIL ["), "{err}");
    assert!(err.contains("FLAKY 2/3 ["), "{err}");
    assert!(err.contains("1 test run: 1 passed (1 flaky)"), "{err}");
    let m = finished(&events(&report));
    let tries = &m["alpha state::flaky"];
    assert_eq!(tries.len(), 2);
    assert_eq!(tries[0]["passed"], false);
    assert_eq!(tries[0]["will_retry"], true);
    assert_eq!(tries[1]["flaky"], true);
}

#[test]
fn fail_fast_is_the_default() {
    if !userns() {
        return;
    }
    // libtest lists names sorted: basics::fails runs first, on the only worker.
    let o = hatchery("test", &["-p", "alpha", "--lib", "-j", "1", "basics::"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(100), "{err}");
    assert!(
        err.contains("1 test run: 0 passed, 1 failed, 12 skipped, 2 not run (fail-fast"),
        "{err}"
    );
    let o = hatchery(
        "test",
        &[
            "-p",
            "alpha",
            "--lib",
            "-j",
            "1",
            "--no-fail-fast",
            "basics::",
        ],
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(100), "{err}");
    assert!(err.contains("3 tests run: 2 passed, 1 failed"), "{err}");
}

#[test]
fn timeouts_kill_hanging_tests_and_slow_tests_are_flagged() {
    if !userns() {
        return;
    }
    let report = scratch("timeout").join("report.jsonl");
    let start = Instant::now();
    let o = hatchery(
        "test",
        &[
            "-p",
            "alpha",
            "--lib",
            "--run-ignored",
            "all",
            "resources::hangs",
            "resources::slow",
            "--no-fail-fast",
            "--timeout",
            "1500ms",
            "--slow-timeout",
            "400ms",
            "--report",
            report.to_str().unwrap(),
        ],
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(100), "{err}");
    assert!(start.elapsed() < Duration::from_secs(30));
    assert!(err.contains("TIMEOUT ["), "{err}");
    assert!(
        err.contains("SLOW [>  0.400s] alpha resources::hangs"),
        "{err}"
    );
    assert!(
        err.contains("SLOW [>  0.800s] alpha resources::hangs"),
        "{err}"
    );
    assert!(err.contains("(1 slow), 1 timed out"), "{err}");
    let m = finished(&events(&report));
    let hang = last(&m, "alpha resources::hangs");
    assert_eq!(hang["outcome"], "time_limit");
    assert_eq!(hang["limit"], "wall");
    let wall = hang["usage"]["wall_us"].as_u64().unwrap();
    assert!((1_500_000..5_000_000).contains(&wall), "{wall}");
    assert_eq!(last(&m, "alpha resources::slow")["outcome"], "ok");
}

#[test]
fn memory_limit_is_oom() {
    if !userns() || !cgroup() {
        return;
    }
    let o = hatchery(
        "test",
        &[
            "-p",
            "alpha",
            "--lib",
            "resources::memory_hungry",
            "--memory",
            "48M",
        ],
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(100), "{err}");
    assert!(err.contains("OOM ["), "{err}");
}

#[test]
fn loopback_by_default_and_the_network_off_on_request() {
    if !userns() {
        return;
    }
    let o = hatchery("test", &["-p", "alpha", "--lib", "net::binds_localhost"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // Off: the seccomp profile refuses AF_INET before the empty network namespace would.
    let report = scratch("network-off").join("report.jsonl");
    let o = hatchery(
        "test",
        &[
            "-p",
            "alpha",
            "--lib",
            "net::binds_localhost",
            "--network",
            "off",
            "--report",
            report.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(100), "{}", stderr(&o));
    let m = finished(&events(&report));
    let net = last(&m, "alpha net::binds_localhost");
    assert!(
        net["stderr"]["text"]
            .as_str()
            .unwrap()
            .contains("Address family not supported"),
        "{net:#}"
    );
}

#[test]
fn lockdown_makes_tests_hermetic() {
    if !userns() {
        return;
    }
    let state = state_dir("lockdown");
    let report = scratch("lockdown").join("report.jsonl");
    let o = hatchery(
        "test",
        &[
            "-p",
            "alpha",
            "--tier",
            "lockdown",
            "--no-fail-fast",
            "--env",
            &format!("HATCHERY_FIXTURE_STATE={}", state.display()),
            // No --writable: what lockdown shows is read-only (a directory named writable
            // would be written, as in hardened).
            "--report",
            report.to_str().unwrap(),
            "writes_outside_tmp",
            "private_tmp",
            "cargo_env",
            "runs_the_binary",
            "binds_localhost",
        ],
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(100), "{err}");
    let m = finished(&events(&report));
    let w = last(&m, "alpha state::writes_outside_tmp");
    assert_eq!(w["outcome"], "nonzero_exit");
    assert!(
        w["stderr"]["text"]
            .as_str()
            .unwrap()
            .contains("Read-only file system"),
        "{w:#}"
    );
    assert!(!state.join("written").exists());
    for ok in [
        "alpha env::private_tmp",
        "alpha env::cargo_env",
        "alpha::cli runs_the_binary",
    ] {
        assert_eq!(last(&m, ok)["outcome"], "ok", "{ok}: {:#}", last(&m, ok));
    }
    // Loopback works in lockdown too.
    assert_eq!(last(&m, "alpha net::binds_localhost")["outcome"], "ok");
    assert_eq!(m.len(), 5);
}

#[test]
fn partitions_are_deterministic_and_cover_everything_once() {
    if !userns() {
        return;
    }
    let list = |extra: &[&str]| {
        let mut args = vec!["-p", "beta"];
        args.extend_from_slice(extra);
        let o = hatchery("list", &args);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        stdout(&o).lines().map(str::to_owned).collect::<Vec<_>>()
    };
    let all = list(&[]);
    // 16 quick tests, mimic::adds, mimic::fails, the plain harness (ignored tests excluded).
    assert_eq!(all.len(), 19, "{all:?}");
    assert!(all.contains(&"beta::plain".to_owned()));
    assert!(all.contains(&"beta::mimic mimic::adds".to_owned()));
    let mut union = Vec::new();
    for k in 1..=3 {
        let p = format!("hash:{k}/3");
        let shard = list(&["--partition", &p]);
        assert!(!shard.is_empty(), "{p} is empty");
        assert_eq!(
            shard,
            list(&["--partition", &p]),
            "{p} is not deterministic"
        );
        union.extend(shard);
    }
    union.sort();
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(union, sorted);
    // Running a shard runs exactly its tests.
    let report = scratch("partition").join("report.jsonl");
    let o = hatchery(
        "test",
        &[
            "-p",
            "beta",
            "--lib",
            "--partition",
            "hash:2/3",
            "--report",
            report.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let ran: Vec<String> = finished(&events(&report)).into_keys().collect();
    let want: Vec<String> = list(&["--lib", "--partition", "hash:2/3"]);
    let mut want_sorted = want.clone();
    want_sorted.sort();
    assert_eq!(ran, want_sorted);
}

#[test]
fn filters_and_libtest_arguments() {
    if !userns() {
        return;
    }
    let o = hatchery(
        "list",
        &[
            "-p",
            "beta",
            "--lib",
            "--",
            "quick::t0",
            "--skip",
            "quick::t05",
        ],
    );
    let out = stdout(&o);
    assert_eq!(out.lines().count(), 9, "{out}");
    assert!(!out.contains("t05"));
    let o = hatchery("list", &["-p", "beta", "--exact", "quick::t1"]);
    assert_eq!(stdout(&o), "");
    let o = hatchery("list", &["-p", "beta", "--run-ignored", "only"]);
    assert_eq!(
        stdout(&o),
        "beta quick::ignored\nbeta::mimic mimic::ignored\n"
    );
    let o = hatchery("list", &["-p", "beta", "--", "--bogus"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn exit_codes_for_build_failures_and_empty_runs() {
    if !userns() {
        return;
    }
    let o = hatchery("test", &["-p", "beta", "--features", "no-such-feature"]);
    assert_eq!(o.status.code(), Some(101), "{}", stderr(&o));
    let o = hatchery("test", &["-p", "beta", "no-such-test"]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    let o = hatchery(
        "test",
        &["-p", "beta", "no-such-test", "--no-tests", "pass"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = hatchery("test", &["--partition", "hash:4/3"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn sigint_kills_running_tests_and_finishes_the_report() {
    if !userns() {
        return;
    }
    let report = scratch("sigint").join("report.jsonl");
    let mut child = Command::new(bin())
        .args(["hatchery", "test", "--target-dir"])
        .arg(fixture_target())
        .args([
            "--color",
            "never",
            "--cargo-quiet",
            "-p",
            "alpha",
            "--lib",
            "--run-ignored",
            "only",
            "resources::hangs",
            "--report",
        ])
        .arg(&report)
        .current_dir(fixture())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the test runs (its case_started event is in the report).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let started = std::fs::read_to_string(&report)
            .map(|t| t.contains("case_started"))
            .unwrap_or(false);
        if started {
            break;
        }
        assert!(Instant::now() < deadline, "the test never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    let st = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let t = Instant::now();
    let status = child.wait().unwrap();
    assert!(t.elapsed() < Duration::from_secs(10));
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(130), "{err}");
    let ev = events(&report);
    let rf = &ev.last().unwrap();
    assert_eq!(rf["type"], "run_finished");
    assert_eq!(rf["data"]["interrupted"], true);
    assert_eq!(rf["data"]["killed_running"], 1);
}

//! nextest configuration keys that change how a test runs or is shown, end to end on the
//! fixture corpora/cargo/knobs (its `.config/nextest.toml` has one profile per key).

mod common;
use common::*;

use serde_json::Value;

/// Runs `cargo hatchery test -P <profile> <args>` on the knobs fixture with a report and a
/// JUnit file; returns the exit code, stderr, the events and the JUnit text.
fn run(name: &str, profile: &str, args: &[&str]) -> (Option<i32>, String, Vec<Value>, String) {
    let dir = scratch(name);
    let (report, junit) = (dir.join("report.jsonl"), dir.join("junit.xml"));
    let mut all = vec![
        "-P",
        profile,
        "--no-fail-fast",
        "--report",
        report.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    let o = hatchery_knobs("test", &all);
    let err = stderr(&o);
    assert!(report.exists(), "no report: {err}");
    let junit = std::fs::read_to_string(&junit).unwrap_or_default();
    (o.status.code(), err, events(&report), junit)
}

#[test]
fn leak_timeout_result_fail_makes_a_leak_a_failure() {
    if !userns() {
        return;
    }
    // Override level: `leak::holds_output` fails for its leak; `holds_output_too` is only
    // leaky; a child that ends within the 3 s period is no leak at all, nor is one that
    // holds neither stdout nor stderr (nextest's rule; it is killed all the same).
    let (code, err, ev, junit) = run("leaks", "leaks", &["-j", "3", "leak::"]);
    assert_eq!(code, Some(100), "{err}");
    assert!(!err.contains("not used by hatchery"), "{err}");
    assert!(
        err.contains("4 tests run: 3 passed (1 leaky), 1 failed (1 due to being leaky), "),
        "{err}"
    );
    assert!(err.contains("LEAK-FAIL ["), "{err}");
    let m = finished(&ev);
    let fail = last(&m, "knobs leak::holds_output");
    assert_eq!(fail["passed"], false, "{fail:#}");
    assert_eq!(fail["outcome"], "ok", "{fail:#}");
    assert!(fail["leftover_processes"].as_u64() >= Some(1));
    assert!(
        fail["reason"].as_str().unwrap().contains("leak-timeout"),
        "{fail:#}"
    );
    let leaky = last(&m, "knobs leak::holds_output_too");
    assert_eq!(leaky["passed"], true, "{leaky:#}");
    assert!(leaky["leftover_processes"].as_u64() >= Some(1));
    for id in [
        "knobs leak::child_ends_in_time",
        "knobs leak::detached_child",
    ] {
        let clean = last(&m, id);
        assert_eq!(clean["passed"], true, "{clean:#}");
        assert_eq!(clean["leftover_processes"], 0, "{clean:#}");
    }
    // JUnit as nextest writes it: an error, typed by what happened.
    assert!(
        junit.contains(r#"<error message="LEAK-FAIL: "#)
            && junit.contains(
                r#"type="test exited with code 0, but leaked handles so was marked failed""#
            ),
        "{junit}"
    );
    assert!(junit.contains(r#"errors="1""#), "{junit}");

    // Profile level: every leak fails.
    let (code, err, ev, _) = run("leak-fail", "leak-fail", &["-j", "2", "leak::holds"]);
    assert_eq!(code, Some(100), "{err}");
    assert!(
        err.contains("2 tests run: 0 passed, 2 failed (2 due to being leaky), "),
        "{err}"
    );
    let m = finished(&ev);
    for id in ["knobs leak::holds_output", "knobs leak::holds_output_too"] {
        assert_eq!(last(&m, id)["passed"], false, "{id}");
    }
}

#[test]
fn terminate_after_sends_sigterm_then_sigkill_after_the_grace_period() {
    if !userns() {
        return;
    }
    // Profile `grace`: the limit is 2 periods of 500 ms, then SIGTERM, SIGKILL 1 s later.
    let (code, err, ev, junit) = run("grace", "grace", &["-j", "2", "term::"]);
    assert_eq!(code, Some(100), "{err}");
    // JUnit types a timeout as nextest does.
    assert_eq!(
        junit.matches(r#"type="test timeout""#).count(),
        2,
        "{junit}"
    );
    // With retries, the notices name the attempt, as nextest's.
    let (_, retried, _, _) = run(
        "grace-retried",
        "grace",
        &["--retries", "1", "term::ignores_sigterm"],
    );
    for want in [
        "TRY 1 SLOW [>  0.500s] knobs term::ignores_sigterm",
        "TRY 1 TRMNTG [>  1.000s] knobs term::ignores_sigterm",
        "TRY 2 SLOW [>  0.500s] knobs term::ignores_sigterm",
        "TRY 2 TRMNTG [>  1.000s] knobs term::ignores_sigterm",
    ] {
        assert!(retried.contains(want), "{want}: {retried}");
    }
    assert!(!err.contains("not used by hatchery"), "{err}");
    assert!(err.contains("TIMEOUT ["), "{err}");
    // From terminate-after on, the notices read TERMINATING (ignores_sigterm runs on 1 s).
    assert!(
        err.contains("TERMINATING [>  1.000s] knobs term::ignores_sigterm"),
        "{err}"
    );
    // nextest's summary counts timeouts apart from failures.
    assert!(
        err.contains("2 tests run: 0 passed, 2 timed out, "),
        "{err}"
    );
    let m = finished(&ev);
    // It ended by itself, exit status 0, on SIGTERM: still a timeout.
    let clean = last(&m, "knobs term::exits_on_sigterm");
    assert_eq!(clean["outcome"], "time_limit", "{clean:#}");
    assert_eq!(clean["exit_code"], 0, "{clean:#}");
    assert!(
        clean["usage"]["wall_us"].as_u64() >= Some(1_000_000),
        "{clean:#}"
    );
    // SIGTERM did nothing: SIGKILL at the end of the grace period.
    let stubborn = last(&m, "knobs term::ignores_sigterm");
    assert_eq!(stubborn["outcome"], "time_limit", "{stubborn:#}");
    assert_eq!(stubborn["signal"], "SIGKILL", "{stubborn:#}");
    assert!(
        stubborn["usage"]["wall_us"].as_u64() >= Some(2_000_000),
        "killed before the grace period was over: {stubborn:#}"
    );

    // on-timeout = "pass": ended by terminate-after, and passed.
    let (code, err, ev, _) = run("timeout-pass", "timeout-pass", &["term::ignores"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("TIMEOUT-PASS ["), "{err}");
    let r = last(&finished(&ev), "knobs term::ignores_sigterm").clone();
    assert_eq!(
        (&r["outcome"], &r["passed"]),
        (&"time_limit".into(), &true.into())
    );

    // An override's slow-timeout: its own SLOW period (300 ms, not the profile's 60 s).
    let (code, err, _, _) = run("slow-override", "slow-override", &["term::ignores"]);
    assert_eq!(code, Some(100), "{err}");
    assert!(
        err.contains("SLOW [>  0.300s] knobs term::ignores_sigterm"),
        "{err}"
    );
    assert!(err.contains("1 timed out"), "{err}");

    // grace-period = "0s": SIGKILL at once, so not even the handler runs.
    let (code, err, ev, _) = run("grace-zero", "grace-zero", &["-j", "2", "term::"]);
    assert_eq!(code, Some(100), "{err}");
    let m = finished(&ev);
    for id in [
        "knobs term::exits_on_sigterm",
        "knobs term::ignores_sigterm",
    ] {
        let r = last(&m, id);
        assert_eq!(r["outcome"], "time_limit", "{r:#}");
        assert_eq!(r["signal"], "SIGKILL", "{r:#}");
    }
}

/// The `delay_us` of every `case_retrying` event.
fn retry_delays(ev: &[Value]) -> Vec<u64> {
    ev.iter()
        .filter(|e| e["type"] == "case_retrying")
        .map(|e| e["data"]["delay_us"].as_u64().unwrap())
        .collect()
}

#[test]
fn retry_jitter_stays_within_nextest_bounds() {
    if !userns() {
        return;
    }
    // Fixed 400 ms, jittered: each delay in (200 ms, 400 ms].
    let (code, err, ev, _) = run("jitter", "jitter", &["retry::"]);
    assert_eq!(code, Some(100), "{err}");
    assert!(!err.contains("not used by hatchery"), "{err}");
    assert_eq!(finished(&ev)["knobs retry::always_fails"].len(), 4, "{err}");
    let d = retry_delays(&ev);
    assert_eq!(d.len(), 3, "{ev:?}");
    for us in &d {
        assert!((200_001..=400_000).contains(us), "{d:?}");
    }
    // Exponential from 200 ms capped at 300 ms, jittered: (100, 200], (150, 300], (150, 300].
    let (code, err, ev, _) = run("jitter-exp", "jitter-exp", &["retry::"]);
    assert_eq!(code, Some(100), "{err}");
    let d = retry_delays(&ev);
    assert_eq!(d.len(), 3, "{ev:?}");
    for (us, whole) in d.iter().zip([200_000, 300_000, 300_000]) {
        assert!(*us > whole / 2 && *us <= whole, "{d:?}");
    }
}

/// Case ids in the order they started.
fn start_order(ev: &[Value]) -> Vec<&str> {
    ev.iter()
        .filter(|e| e["type"] == "case_started")
        .map(|e| e["data"]["id"].as_str().unwrap())
        .collect()
}

#[test]
fn priority_decides_the_start_order() {
    if !userns() {
        return;
    }
    // One worker: tests start one after another, higher priority first, ties in list order.
    let (code, err, ev, _) = run("priority", "priority", &["-j", "1", "order::"]);
    assert_eq!(code, Some(100), "{err}");
    assert!(!err.contains("not used by hatchery"), "{err}");
    let started = start_order(&ev);
    assert_eq!(
        started,
        [
            "knobs order::d",       // 100
            "knobs order::c",       // 50
            "knobs order::b",       // 0
            "knobs order::e_fails", // 0
            "knobs order::a",       // -10
        ],
        "{err}"
    );
    // Without the profile: list order.
    let (_, err, ev, _) = run("no-priority", "default", &["-j", "1", "order::"]);
    let started = start_order(&ev);
    assert_eq!(started[0], "knobs order::a", "{err}");
}

#[test]
fn output_settings_of_overrides_decide_what_is_shown() {
    if !userns() {
        return;
    }
    // Profile: failures immediate, passes never; overrides: order::b's output shown though it
    // passes, order::e_fails's hidden though it fails.
    let (code, err, _, _) = run("outputs", "outputs", &["-j", "1", "order::"]);
    assert_eq!(code, Some(100), "{err}");
    assert!(!err.contains("not used by hatchery"), "{err}");
    assert!(err.contains("--- STDOUT: knobs order::b ---"), "{err}");
    assert!(err.contains("output of order::b"), "{err}");
    for hidden in ["order::a", "order::c", "order::d", "order::e_fails"] {
        assert!(
            !err.contains(&format!("output of {hidden}")),
            "{hidden}: {err}"
        );
    }
    assert!(err.contains("FAIL ["), "{err}");
    // The command line (or NEXTEST_*_OUTPUT) wins over the overrides, as in nextest.
    let (_, err, _, _) = run(
        "outputs-forced",
        "outputs",
        &[
            "-j",
            "1",
            "--success-output",
            "never",
            "--failure-output",
            "immediate",
            "order::",
        ],
    );
    assert!(!err.contains("output of order::b"), "{err}");
    assert!(err.contains("output of order::e_fails"), "{err}");
}

#[test]
fn hash_partitions_match_nextests_assignment() {
    // Derived from nextest's algorithm (xxHash64, seed 0, of the test name; shard = hash % N
    // + 1) with an independent implementation, Python's `xxhash`:
    // `[n for n in names if xxhash.xxh64_intdigest(n.encode(), seed=0) % 3 == k - 1]`.
    let expected: [&[&str]; 3] = [
        &[
            "leak::child_ends_in_time",
            "leak::detached_child",
            "order::a",
            "order::c",
            "term::exits_on_sigterm",
        ],
        &[
            "leak::holds_output_too",
            "order::b",
            "order::d",
            "order::e_fails",
        ],
        &[
            "leak::holds_output",
            "retry::always_fails",
            "term::ignores_sigterm",
        ],
    ];
    for (k, want) in expected.iter().enumerate() {
        let o = hatchery_knobs("list", &["--partition", &format!("hash:{}/3", k + 1)]);
        assert!(o.status.success(), "{}", stderr(&o));
        let mut got: Vec<String> = stdout(&o)
            .lines()
            .map(|l| l.strip_prefix("knobs ").unwrap_or(l).to_owned())
            .collect();
        got.sort();
        assert_eq!(got, *want, "shard {}/3", k + 1);
    }
    // hash:1/2: a filter does not move a test to another shard.
    let o = hatchery_knobs("list", &["--partition", "hash:1/2", "order::"]);
    assert_eq!(
        stdout(&o).lines().collect::<Vec<_>>(),
        ["knobs order::a", "knobs order::b", "knobs order::c"],
        "{}",
        stderr(&o)
    );
}

//! The target-runner route: `CARGO_TARGET_<TRIPLE>_RUNNER="cargo-hatchery runner --"` makes
//! plain `cargo test` (and `cargo nextest run`) run each test binary as one sandboxed case.

mod common;
use common::*;

use std::os::unix::process::ExitStatusExt as _;
use std::process::{Command, Output, Stdio};

/// `cargo <args>` in the fixture with cargo-hatchery as the target runner.
fn cargo_with_runner(args: &[&str], runner_opts: &str) -> Output {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(args)
        .env("CARGO_TARGET_DIR", fixture_target())
        .current_dir(fixture())
        .env(
            runner_var(),
            format!("{} runner {runner_opts} --", bin().display()),
        )
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn cargo_test_runs_each_binary_in_the_sandbox() {
    if !userns() {
        return;
    }
    // Passing: the binary's output comes through unchanged, exit status 0.
    let o = cargo_with_runner(&["test", "-p", "beta", "--lib"], "");
    let out = stdout(&o);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    assert!(
        out.contains("test result: ok. 16 passed; 0 failed; 1 ignored"),
        "{out}"
    );
    // Loopback is there by default (a network namespace with only `lo` up); with the network
    // off, inet sockets are refused inside, so this test fails.
    let o = cargo_with_runner(
        &["test", "-p", "alpha", "--lib", "--", "net::binds_localhost"],
        "",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = cargo_with_runner(
        &["test", "-p", "alpha", "--lib", "--", "net::binds_localhost"],
        "--network off",
    );
    let (out, err) = (stdout(&o), stderr(&o));
    assert_eq!(o.status.code(), Some(101), "{out}\n{err}");
    // libtest prints the failed test's captured panic message on stdout.
    assert!(out.contains("Address family not supported"), "{out}");
}

#[test]
fn runner_forwards_signals_and_exit_codes() {
    if !userns() {
        return;
    }
    let o = cargo_with_runner(
        &[
            "test",
            "-p",
            "alpha",
            "--lib",
            "--",
            "--exact",
            "crashes::segfaults",
        ],
        "",
    );
    let err = stderr(&o);
    assert!(!o.status.success());
    // cargo saw the runner die of SIGSEGV, exactly as it would have seen the test binary.
    assert!(err.contains("SIGSEGV"), "{err}");
    assert!(err.contains("cargo-hatchery runner: signaled"), "{err}");

    // Directly: the runner's own exit status.
    let exe = find_test_binary("mimic");
    let run = |args: &[&str]| {
        Command::new(bin())
            .args(["runner", "--"])
            .arg(&exe)
            .args(args)
            .current_dir(fixture())
            .output()
            .unwrap()
    };
    let o = run(&["mimic::adds", "--exact"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stdout(&o), "test mimic::adds ... ok\n");
    assert_eq!(stderr(&o), "", "a passing run prints nothing of its own");
    let o = run(&["mimic::fails", "--exact"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("mimic failure"));
    // The list protocol passes through untouched (nextest lists through the runner).
    let o = run(&["--list", "--format", "terse"]);
    assert_eq!(
        stdout(&o),
        "mimic::adds: test\nmimic::fails: test\nmimic::ignored: test\n"
    );
    assert!(o.status.signal().is_none());
}

#[test]
fn runner_applies_limits() {
    if !userns() {
        return;
    }
    let exe = find_test_binary("alpha");
    let o = Command::new(bin())
        .args(["runner", "--timeout", "500ms", "--"])
        .arg(&exe)
        .args(["--exact", "resources::hangs", "--ignored"])
        .current_dir(fixture().join("alpha"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(124), "{}", stderr(&o));
    assert!(stderr(&o).contains("time_limit"), "{}", stderr(&o));
}

#[test]
fn nextest_can_use_the_runner() {
    if !userns() {
        return;
    }
    let have = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["nextest", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !need(have, "cargo-nextest installed") {
        return;
    }
    let o = cargo_with_runner(&["nextest", "run", "-p", "beta", "--lib"], "");
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("16 tests run: 16 passed"), "{err}");
}

/// The newest executable `<target>/debug/deps/<name>-<hash>` built for the fixture.
fn find_test_binary(name: &str) -> std::path::PathBuf {
    // Make sure it exists.
    let built = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["test", "--no-run", "--quiet", "--workspace", "--target-dir"])
        .arg(fixture_target())
        .current_dir(fixture())
        .status()
        .unwrap();
    assert!(built.success());
    let deps = fixture_target().join("debug/deps");
    let mut found: Vec<(std::time::SystemTime, std::path::PathBuf)> = std::fs::read_dir(&deps)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            let f = p.file_name().unwrap().to_string_lossy().into_owned();
            f.strip_prefix(&format!("{name}-"))
                .is_some_and(|h| h.chars().all(|c| c.is_ascii_hexdigit()))
        })
        .filter_map(|p| Some((p.metadata().ok()?.modified().ok()?, p)))
        .collect();
    found.sort();
    found.pop().expect("test binary built").1
}

//! The per-test target-runner route: plain `cargo test` with
//! `CARGO_TARGET_<HOST>_RUNNER="cargo-hatchery cargo-runner"` (the same code as `hatchery
//! cargo-runner`) on corpora/cargo/doc. The fixture's `tests::in_own_pid_namespace` and the
//! `sandboxed` doctest pass only inside a hatchery sandbox.

mod common;

use std::process::{Command, Output, Stdio};

use common::*;

fn cargo_test(runner: Option<&str>, args: &[&str]) -> Output {
    let mut c = Command::new("cargo");
    c.args(["test", "-p", "gamma", "--target-dir"])
        .arg(doc_fixture_target())
        .args(args)
        .current_dir(doc_fixture())
        .env("RUST_BACKTRACE", "0")
        .env_remove("RUSTDOCFLAGS")
        .stdin(Stdio::null());
    if let Some(r) = runner {
        c.env(runner_var(), r);
    }
    c.output().unwrap()
}

fn runner() -> String {
    format!("{} cargo-runner -v", bin().display())
}

#[test]
fn plain_cargo_test_runs_every_test_as_its_own_case() {
    if !userns() {
        return;
    }
    // Without the runner the sandbox check fails: the check is real.
    let plain = cargo_test(None, &["--lib", "--", "in_own_pid_namespace"]);
    assert!(!plain.status.success(), "{}", stdout(&plain));

    let o = cargo_test(Some(&runner()), &["--lib"]);
    let (out, err) = (stdout(&o), stderr(&o));
    assert!(o.status.success(), "{out}\n{err}");
    assert!(out.contains("running 4 tests"), "{out}");
    // One case per test: each line carries that test's own measurement.
    for t in ["adds", "in_own_pid_namespace", "tmp_a", "tmp_b"] {
        assert!(
            out.contains(&format!("test tests::{t} ... ok <")),
            "{t}: {out}"
        );
    }
    assert!(
        err.contains("4 tests of gamma-") && err.contains("each its own sandboxed case"),
        "{err}"
    );
    assert!(out.contains("test result: ok. 4 passed; 0 failed"), "{out}");

    // libtest arguments after `--` select tests.
    let o = cargo_test(Some(&runner()), &["--lib", "--", "tmp_"]);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("running 2 tests") && out.contains("2 filtered out"),
        "{out}"
    );
}

#[test]
fn failures_and_doctests_through_the_runner() {
    if !userns() {
        return;
    }
    // rustdoc gets the runner as its run tool: each doctest executable is one case.
    let o = cargo_test(Some(&runner()), &["--doc", "--", "sandboxed"]);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    assert!(out.contains("sandboxed (line 74) ... ok"), "{out}");

    // A failing test: libtest's exit status and failure section, with hatchery's verdict.
    let o = cargo_test(Some(&runner()), &["--doc", "--", "fails"]);
    assert!(!o.status.success());
    assert!(
        stdout(&o).contains("fails (line 19) ... FAILED"),
        "{}",
        stdout(&o)
    );
}

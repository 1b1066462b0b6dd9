//! `hatchery cargo-runner` as cargo's target runner: plain `cargo test` on the doc fixture
//! (corpora/cargo/doc), each test of the test binary its own sandboxed case. The fixture's
//! `tests::in_own_pid_namespace` passes only inside a hatchery sandbox.

mod common;
use common::*;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn host_triple() -> String {
    let out = Command::new("rustc")
        .arg("-vV")
        .output()
        .expect("rustc -vV");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("host line")
        .trim()
        .to_owned()
}

fn cargo_test(runner: Option<&str>, args: &[&str]) -> Output {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../corpora/cargo/doc");
    // Not under /tmp (cases have their own), readable by the uid cases run as.
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("doc-fixture-target");
    let mut c = Command::new("cargo");
    c.args(["test", "-p", "gamma", "--target-dir"])
        .arg(target)
        .args(args)
        .current_dir(fixture)
        .env("RUST_BACKTRACE", "0")
        .env_remove("RUSTDOCFLAGS")
        .stdin(Stdio::null());
    let var = format!(
        "CARGO_TARGET_{}_RUNNER",
        host_triple().to_uppercase().replace(['-', '.'], "_")
    );
    c.env_remove(&var);
    if let Some(r) = runner {
        c.env(var, r);
    }
    c.output().expect("cargo runs")
}

#[test]
fn hatchery_is_cargos_target_runner() {
    if !tier_ok("hardened") {
        return;
    }
    let text = |o: &Output| {
        format!(
            "{}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };
    // Without the runner the sandbox check fails: the check is real.
    let plain = cargo_test(None, &["--lib", "--", "in_own_pid_namespace"]);
    assert!(!plain.status.success(), "{}", text(&plain));

    let runner = format!("{} cargo-runner -v", hatchery_bin().display());
    let o = cargo_test(Some(&runner), &["--lib"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("running 4 tests"), "{out}");
    for t in ["adds", "in_own_pid_namespace", "tmp_a", "tmp_b"] {
        assert!(
            out.contains(&format!("test tests::{t} ... ok <")),
            "{t}: {out}"
        );
    }
    assert!(out.contains("test result: ok. 4 passed; 0 failed"), "{out}");
}

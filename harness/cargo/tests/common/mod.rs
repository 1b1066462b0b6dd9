//! Shared helpers: the fixture workspace (corpora/cargo/suite), running `cargo-hatchery` on
//! it, reading its report, and feature checks that skip loudly (or fail under
//! `HATCHERY_TEST_REQUIRE=all`).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_cargo-hatchery"))
}

pub fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../corpora/cargo/suite")
}

/// The fixture's own target directory (inside ours, not under /tmp: cases have a private
/// /tmp, and as root they run as uid 65534, which must be able to read the binaries).
pub fn fixture_target() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fixture-target")
}

/// A fresh directory every uid may write (the tests run as 65534 when we are root), for the
/// fixture's `HATCHERY_FIXTURE_STATE`.
pub fn state_dir(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("state-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).unwrap();
    d
}

pub fn scratch(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("scratch-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `cargo-hatchery hatchery <sub> --target-dir <fixture target> --color never <args>` in the
/// fixture workspace, as cargo would call it. Backtraces off: failing tests stay fast.
pub fn hatchery(sub: &str, args: &[&str]) -> Output {
    Command::new(bin())
        .args(["hatchery", sub, "--target-dir"])
        .arg(fixture_target())
        .args(["--color", "never", "--cargo-quiet"])
        .args(args)
        .current_dir(fixture())
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Every event of a report, parsed.
pub fn events(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Every `case_finished` of a report, by case id (attempts in order).
pub fn finished(ev: &[Value]) -> BTreeMap<String, Vec<Value>> {
    let mut m: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for e in ev.iter().filter(|e| e["type"] == "case_finished") {
        m.entry(e["data"]["id"].as_str().unwrap().to_owned())
            .or_default()
            .push(e["data"].clone());
    }
    m
}

/// The last attempt of a case.
pub fn last<'a>(m: &'a BTreeMap<String, Vec<Value>>, id: &str) -> &'a Value {
    m.get(id)
        .and_then(|v| v.last())
        .unwrap_or_else(|| panic!("no case `{id}` in the report: {:?}", m.keys()))
}

/// Whether a missing feature should fail the test instead of skipping it.
pub fn require_all() -> bool {
    std::env::var("HATCHERY_TEST_REQUIRE").is_ok_and(|v| v == "all")
}

/// True when the test may go on; prints why it skips otherwise (panics under
/// HATCHERY_TEST_REQUIRE=all).
pub fn need(ok: bool, what: &str) -> bool {
    if ok {
        return true;
    }
    if require_all() {
        panic!("required feature missing: {what} (HATCHERY_TEST_REQUIRE=all)");
    }
    eprintln!("SKIP: {what}");
    false
}

/// User namespaces (tiers hardened and lockdown).
pub fn userns() -> bool {
    need(
        Command::new("unshare")
            .args(["--user", "--map-root-user", "true"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success()),
        "user namespaces (tiers hardened and lockdown)",
    )
}

/// A cgroup this process can create (memory limits, peak memory of all processes).
pub fn cgroup() -> bool {
    need(
        hatchery_sandbox::cgroup::CgroupSlot::allocate()
            .map(|mut s| s.remove())
            .is_ok(),
        "a usable cgroup (memory limit)",
    )
}

/// The host triple, for `CARGO_TARGET_<TRIPLE>_RUNNER`.
pub fn host_triple() -> String {
    let out = Command::new("rustc").arg("-vV").output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("rustc -vV prints the host")
        .to_owned()
}

pub fn runner_var() -> String {
    format!(
        "CARGO_TARGET_{}_RUNNER",
        host_triple().to_uppercase().replace(['-', '.'], "_")
    )
}

/// The doctest and runner-route fixture (corpora/cargo/doc).
pub fn doc_fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../corpora/cargo/doc")
}

pub fn doc_fixture_target() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("doc-fixture-target")
}

/// Like [`hatchery`], in the doc fixture.
pub fn hatchery_doc(sub: &str, args: &[&str]) -> Output {
    Command::new(bin())
        .args(["hatchery", sub, "--target-dir"])
        .arg(doc_fixture_target())
        .args(["--color", "never", "--cargo-quiet"])
        .args(args)
        .current_dir(doc_fixture())
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// `test NAME ... RESULT` lines of libtest output: name → result (`ok`, `FAILED`, `ignored`).
pub fn libtest_results(out: &str) -> BTreeMap<String, String> {
    out.lines()
        .filter_map(|l| l.strip_prefix("test ")?.rsplit_once(" ... "))
        .map(|(n, r)| {
            (
                n.to_owned(),
                r.split(',').next().unwrap_or(r).trim().to_owned(),
            )
        })
        .collect()
}

/// The drop-in fixture (corpora/cargo/dropin): output volume, live output, nextest config.
pub fn dropin_fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../corpora/cargo/dropin")
}

pub fn dropin_target() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dropin-fixture-target")
}

/// `cargo-hatchery hatchery <sub>` in `dir` (a copy of the drop-in fixture, or the fixture
/// itself), building into the drop-in target directory.
pub fn dropin_command(dir: &Path, sub: &str, args: &[&str]) -> Command {
    dropin_command_to(dir, &dropin_target(), sub, args)
}

/// [`dropin_command`] with a target directory of its own (its kept output files are not
/// cleared by runs of other tests).
pub fn dropin_command_to(dir: &Path, target: &Path, sub: &str, args: &[&str]) -> Command {
    let mut c = Command::new(bin());
    c.args(["hatchery", sub, "--target-dir"])
        .arg(target)
        .args(["--color", "never", "--cargo-quiet"])
        .args(args)
        .current_dir(dir)
        .env("RUST_BACKTRACE", "0")
        .env_remove("NEXTEST_PROFILE")
        .stdin(Stdio::null());
    c
}

/// Like [`hatchery`], in the drop-in fixture.
pub fn hatchery_dropin(sub: &str, args: &[&str]) -> Output {
    dropin_command(&dropin_fixture(), sub, args)
        .output()
        .unwrap()
}

/// The nextest-keys fixture (corpora/cargo/knobs): leak-timeout, grace periods, jitter,
/// priority, per-override output, hash partitions.
pub fn knobs_fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../corpora/cargo/knobs")
}

/// `cargo-hatchery hatchery <sub>` in the knobs fixture, with its own target directory.
pub fn hatchery_knobs(sub: &str, args: &[&str]) -> Output {
    Command::new(bin())
        .args(["hatchery", sub, "--target-dir"])
        .arg(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("knobs-fixture-target"))
        .args(["--color", "never", "--cargo-quiet"])
        .args(args)
        .current_dir(knobs_fixture())
        .env("RUST_BACKTRACE", "0")
        .env_remove("NEXTEST_PROFILE")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

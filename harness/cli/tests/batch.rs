//! `hatchery batch` end to end: the bundled example, thousands of cases, malformed input,
//! SIGINT mid-run, and a zygote killed mid-run.

mod common;
use common::*;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn events_validator() -> jsonschema::Validator {
    let s = std::fs::read_to_string(root().join("reports/schema/events.schema.json")).unwrap();
    jsonschema::validator_for(&serde_json::from_str(&s).unwrap()).unwrap()
}

/// Parses and validates every line of a report against the committed schema.
fn read_report(path: &Path) -> Vec<Value> {
    let v = events_validator();
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .enumerate()
        .map(|(i, l)| {
            let j: Value = serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("line {} does not parse: {e}: {l}", i + 1));
            let errs: Vec<String> = v.iter_errors(&j).map(|e| e.to_string()).collect();
            assert!(
                errs.is_empty(),
                "line {} violates the schema: {errs:?}",
                i + 1
            );
            j
        })
        .collect()
}

fn of_type<'a>(ev: &'a [Value], t: &str) -> Vec<&'a Value> {
    ev.iter().filter(|e| e["type"] == t).collect()
}

fn scratch(name: &str) -> PathBuf {
    let d = prog_dir().join(format!("{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn the_bundled_example_shows_every_outcome_and_passes() {
    if !tier_ok("lockdown") || !need(cgroup_ok(), "a cgroup (the example has a memory case)") {
        return;
    }
    let dir = scratch("example");
    let report = dir.join("report.jsonl");
    let junit = dir.join("junit.xml");
    let out = Command::new(hatchery_bin())
        .args(["batch", "-j", "2"])
        .arg(root().join("corpora/examples/jobs.jsonl"))
        .arg("--report")
        .arg(&report)
        .arg("--junit")
        .arg(&junit)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let ev = read_report(&report);
    assert_eq!(ev[0]["type"], "run_started");
    assert_eq!(ev[0]["data"]["schema_version"], 2);
    let fin = of_type(&ev, "case_finished");
    let idx: Vec<u64> = fin
        .iter()
        .map(|e| e["data"]["index"].as_u64().unwrap())
        .collect();
    let mut sorted = idx.clone();
    sorted.sort();
    assert_eq!(idx, sorted, "case_finished events are in input order");
    let outcomes: std::collections::BTreeSet<&str> = fin
        .iter()
        .map(|e| e["data"]["outcome"].as_str().unwrap())
        .collect();
    for o in [
        "ok",
        "nonzero_exit",
        "signaled",
        "time_limit",
        "memory_limit",
        "output_limit",
        "policy_violation",
        "sandbox_error",
    ] {
        assert!(outcomes.contains(o), "the example lacks {o}");
    }
    let last = ev.last().unwrap();
    assert_eq!(last["type"], "run_finished");
    assert_eq!(last["data"]["interrupted"], false);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("<testsuites") && xml.contains("failures=\"0\""),
        "{xml}"
    );
}

#[test]
fn thousands_of_small_cases() {
    if !tier_ok("hardened") {
        return;
    }
    let dir = scratch("many");
    let jobs = dir.join("jobs.jsonl");
    let mut f = std::fs::File::create(&jobs).unwrap();
    let n = 2000;
    for i in 0..n {
        writeln!(f, "{{\"id\":\"c{i}\",\"argv\":[\"/bin/true\"]}}").unwrap();
    }
    drop(f);
    let report = dir.join("r.jsonl");
    let out = Command::new(hatchery_bin())
        .args(["batch", "-j", "2", "--tier", "hardened"])
        .arg(&jobs)
        .arg("--report")
        .arg(&report)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ev = read_report(&report);
    let fin = of_type(&ev, "case_finished");
    assert_eq!(fin.len(), n);
    assert!(fin.iter().all(|e| e["data"]["outcome"] == "ok"));
    let workers: std::collections::BTreeSet<u64> = fin
        .iter()
        .map(|e| e["data"]["worker"].as_u64().unwrap())
        .collect();
    assert_eq!(workers.len(), 2, "both workers ran cases");
    assert_eq!(ev.last().unwrap()["data"]["passed"], n as u64);
}

#[test]
fn malformed_jobs_name_the_line_and_field_and_nothing_runs() {
    let dir = scratch("malformed");
    let jobs = dir.join("jobs.jsonl");
    std::fs::write(
        &jobs,
        "{\"id\":\"good\",\"argv\":[\"/bin/true\"]}\n{\"id\":\"bad\",\"argv\":[\"/bin/true\"],\"limits\":{\"memory\":\"lots\"}}\n{\"id\":\"missing\",\"argv\":[\"/no/such/program\"]}\n",
    )
    .unwrap();
    let report = dir.join("r.jsonl");
    let out = Command::new(hatchery_bin())
        .arg("batch")
        .arg(&jobs)
        .arg("--report")
        .arg(&report)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(7), "{err}");
    assert!(err.contains("line 2: field `limits.memory`"), "{err}");
    assert!(err.contains("line 3: field `argv`"), "{err}");
    assert!(!report.exists(), "nothing ran");
    if !tier_ok("hardened") {
        return;
    }
    let out = Command::new(hatchery_bin())
        .args(["batch", "--keep-going"])
        .arg(&jobs)
        .arg("--report")
        .arg(&report)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(of_type(&read_report(&report), "case_finished").len(), 1);
}

/// Kills and reaps the child if the test fails half-way.
struct Guard(std::process::Child);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sigint_kills_running_cases_and_leaves_a_valid_report() {
    if !tier_ok("hardened") {
        return;
    }
    let dir = scratch("sigint");
    let jobs = dir.join("jobs.jsonl");
    let marker = format!("hatchery-sigint-{}", std::process::id());
    let mut f = std::fs::File::create(&jobs).unwrap();
    for i in 0..6 {
        writeln!(
            f,
            "{{\"id\":\"s{i}\",\"argv\":[\"/bin/bash\",\"-c\",\"exec -a {marker} sleep 60\"]}}"
        )
        .unwrap();
    }
    drop(f);
    let report = dir.join("r.jsonl");
    let mut child = Guard(
        Command::new(hatchery_bin())
            .args(["batch", "-j", "2"])
            .arg(&jobs)
            .arg("--report")
            .arg(&report)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for("two running cases", || processes_with(&marker).len() >= 2);
    let pid = child.0.id() as i32;
    Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    let status = child.0.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let ev = read_report(&report);
    let last = ev.last().unwrap();
    assert_eq!(last["type"], "run_finished");
    assert_eq!(last["data"]["interrupted"], true);
    assert_eq!(last["data"]["killed_running"], 2);
    wait_for("no surviving case process", || {
        processes_with(&marker).is_empty()
    });
}

#[test]
fn a_killed_zygote_is_replaced_and_its_case_retried() {
    if !tier_ok("hardened") {
        return;
    }
    let dir = scratch("zkill");
    let jobs = dir.join("jobs.jsonl");
    let marker = format!("hatchery-zkill-{}", std::process::id());
    std::fs::write(
        &jobs,
        format!(
            "{{\"id\":\"victim\",\"argv\":[\"/bin/bash\",\"-c\",\"exec -a {marker} sleep 60\"]}}\n{{\"id\":\"after\",\"argv\":[\"/bin/true\"]}}\n"
        ),
    )
    .unwrap();
    let report = dir.join("r.jsonl");
    let mut child = Guard(
        Command::new(hatchery_bin())
            .args(["batch", "-j", "1", "--wall-time", "3s"])
            .arg(&jobs)
            .arg("--report")
            .arg(&report)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for("the victim case", || !processes_with(&marker).is_empty());
    // Children of every thread of `pid` (zygote launchers are started by a thread of their
    // own).
    let launcher_children = |pid: u32| -> Vec<u32> {
        let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
            .into_iter()
            .flatten();
        tasks
            .flatten()
            .flat_map(|t| {
                std::fs::read_to_string(t.path().join("children"))
                    .unwrap_or_default()
                    .split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .collect::<Vec<u32>>()
            })
            .collect()
    };
    let mut killed = false;
    for launcher in launcher_children(child.0.id()) {
        for z in launcher_children(launcher) {
            Command::new("kill")
                .args(["-KILL", &z.to_string()])
                .status()
                .unwrap();
            killed = true;
        }
    }
    assert!(killed, "found no zygote to kill");
    // The retry sleeps again and ends at the 3 s wall limit; the next case runs normally.
    let status = child.0.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(1),
        "the victim failed (time limit) on its retry"
    );
    let ev = read_report(&report);
    // The executor failure is not a result of the program: a case_retrying event says what
    // failed, and the only case_finished of the victim is its second attempt.
    let retrying = of_type(&ev, "case_retrying");
    assert_eq!(retrying.len(), 1, "{retrying:?}");
    assert_eq!(retrying[0]["data"]["cause"], "executor_failed");
    assert!(retrying[0]["data"]["reason"]
        .as_str()
        .unwrap()
        .contains("zygote died"));
    let fin = of_type(&ev, "case_finished");
    assert_eq!(fin[0]["data"]["id"], "victim");
    assert_eq!(fin[0]["data"]["attempt"], 2);
    assert_eq!(fin[0]["data"]["outcome"], "time_limit");
    assert_eq!(fin[0]["data"]["flaky"], false);
    assert_eq!(fin.last().unwrap()["data"]["id"], "after");
    assert_eq!(fin.last().unwrap()["data"]["outcome"], "ok");
    wait_for("no surviving case process", || {
        processes_with(&marker).is_empty()
    });
}

#[test]
fn network_is_chosen_per_job() {
    if !tier_ok("hardened") {
        return;
    }
    let lo = prog("loopback");
    let dir = scratch("network");
    let jobs = dir.join("jobs.jsonl");
    std::fs::write(
        &jobs,
        format!(
            "{{\"id\":\"lo\",\"argv\":[\"{0}\"],\"network\":\"loopback\"}}\n\
             {{\"id\":\"off\",\"argv\":[\"{0}\"],\"expect\":\"nonzero_exit\"}}\n\
             {{\"id\":\"bad\",\"argv\":[\"{0}\"],\"network\":\"internet\"}}\n",
            lo.display()
        ),
    )
    .unwrap();
    // An unknown network names the line and field, and nothing runs.
    let out = Command::new(hatchery_bin())
        .args(["batch", "--tier", "hardened"])
        .arg(&jobs)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(7), "{err}");
    assert!(err.contains("line 3: field `network`"), "{err}");
    let report = dir.join("r.jsonl");
    let out = Command::new(hatchery_bin())
        .args(["batch", "-j", "1", "--keep-going", "--tier", "hardened"])
        .arg(&jobs)
        .arg("--report")
        .arg(&report)
        .output()
        .unwrap();
    let ev = read_report(&report);
    let fin = of_type(&ev, "case_finished");
    assert_eq!(fin.len(), 2, "{}", String::from_utf8_lossy(&out.stderr));
    for e in fin {
        assert_eq!(e["data"]["passed"], true, "{e}");
    }
}

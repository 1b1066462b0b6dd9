//! The HTML report end to end: `hatchery batch --html` on the bundled example, hostile output
//! that must stay text, and `hatchery html` on good, cut-short and foreign event streams.

mod common;
use common::*;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn scratch(name: &str) -> PathBuf {
    let d = prog_dir().join(format!("html-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The text of an HTML page with the five escapes undone (for finding ids and reasons).
fn unescaped(page: &str) -> String {
    page.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

fn finished_cases(report: &Path) -> Vec<Value> {
    std::fs::read_to_string(report)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["type"] == "case_finished")
        .collect()
}

fn html_cmd(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(hatchery_bin())
        .arg("html")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn batch_html_lists_every_case_and_outcome_of_the_example() {
    if !tier_ok("lockdown") || !need(cgroup_ok(), "a cgroup (the example has a memory case)") {
        return;
    }
    let dir = scratch("example");
    let report = dir.join("report.jsonl");
    let html = dir.join("report.html");
    let out = Command::new(hatchery_bin())
        .args(["batch", "-j", "2"])
        .arg(root().join("corpora/examples/jobs.jsonl"))
        .arg("--report")
        .arg(&report)
        .arg("--html")
        .arg(&html)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>") && page.ends_with("</html>\n"));
    assert!(!page.contains("<script"), "no JavaScript");
    assert!(
        !page.contains(" src=") && !page.contains(" href="),
        "no external assets"
    );
    assert_eq!(
        page.matches("<svg").count(),
        3,
        "CPU, wall and memory plots"
    );
    let cases = finished_cases(&report);
    assert_eq!(cases.len(), 15);
    for c in &cases {
        let id = c["data"]["id"].as_str().unwrap();
        let outcome = c["data"]["outcome"].as_str().unwrap();
        let row = format!("<td>{id}<td>pass");
        assert!(page.contains(&row), "no passing row for {id}");
        let cells = format!("<td>{outcome}<td>");
        let at = page.find(&row).unwrap();
        assert!(
            page[at..].split('\n').next().unwrap().contains(&cells),
            "{id}: outcome {outcome} missing from its row"
        );
    }
    assert!(page.contains("all passed"));

    // The same page from the report file.
    let again = dir.join("again.html");
    let out = html_cmd(&[report.as_os_str(), "-o".as_ref(), again.as_os_str()]);
    assert_eq!(out.status.code(), Some(0));
    let page2 = std::fs::read_to_string(&again).unwrap();
    for c in &cases {
        assert!(page2.contains(c["data"]["id"].as_str().unwrap()));
    }
}

#[test]
fn hostile_output_and_ids_stay_text() {
    if !tier_ok("hardened") {
        return;
    }
    let dir = scratch("hostile");
    let jobs = dir.join("jobs.jsonl");
    std::fs::write(
        &jobs,
        concat!(
            r#"{"id": "<img src=x onerror=alert(0)>", "argv": ["/bin/sh", "-c", "#,
            r#""printf '</pre><script>alert(1)</script>'; printf '\\033[31m</details><script>alert(2)</script>' >&2; exit 1"]}"#,
            "\n",
            r#"{"id": "fine", "argv": ["/bin/echo", "</pre><script>alert(3)</script>"]}"#,
            "\n"
        ),
    )
    .unwrap();
    let html = dir.join("r.html");
    let report = dir.join("r.jsonl");
    let out = Command::new(hatchery_bin())
        .args(["batch", "--tier", "hardened"])
        .arg(&jobs)
        .arg("--html")
        .arg(&html)
        .arg("--report")
        .arg(&report)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for page in [
        std::fs::read_to_string(&html).unwrap(),
        String::from_utf8(html_cmd(&[report.as_os_str()]).stdout).unwrap(),
    ] {
        assert!(!page.contains("<script"), "{page}");
        assert!(!page.contains("<img"), "{page}");
        assert!(page.contains("&lt;/pre&gt;&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(page.contains("\u{241b}[31m&lt;/details&gt;&lt;script&gt;alert(2)"));
        assert!(page.contains("&lt;img src=x onerror=alert(0)&gt;"));
        assert_eq!(
            page.matches("<details>").count(),
            1,
            "only the failing case"
        );
        assert_eq!(page.matches("</details>").count(), 1);
        assert!(unescaped(&page).contains("FAIL (expected ok)"));
    }
}

const RUN_STARTED: &str = r#"{"type":"run_started","data":{"schema_version":1,"hatchery_version":"9.9.9","started_at_ms":0,"host":{"kernel":"","cgroup_version":"","cpus":1,"hostname":""},"tier":"none","enforcement":{},"limits":{"cpu_us":null,"wall_us":null,"memory_bytes":null,"output_bytes":null,"file_size_bytes":null,"stack_bytes":null,"pids":null,"open_files":null},"cases":2,"workers":1,"added_by_a_newer_writer":true}}"#;

#[test]
fn html_reads_cut_short_streams_and_refuses_foreign_files() {
    let dir = scratch("streams");
    // A run killed mid-write: one case started, a half-written line, no run_finished.
    let cut = dir.join("cut.jsonl");
    std::fs::write(
        &cut,
        format!(
            "{RUN_STARTED}\n{}\n{}",
            r#"{"type":"case_started","data":{"id":"only-started","index":0,"attempt":1,"worker":0}}"#,
            r#"{"type":"case_finished","data":{"id":"half"#
        ),
    )
    .unwrap();
    let out_file = dir.join("cut.html");
    let out = html_cmd(&[cut.as_os_str(), "-o".as_ref(), out_file.as_os_str()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 3"));
    let page = std::fs::read_to_string(&out_file).unwrap();
    for s in [
        "only-started",
        "NOT FINISHED",
        "1 line(s) of the report could not be read",
        "no <code>run_finished</code>",
        "9.9.9",
    ] {
        assert!(page.contains(s), "missing {s}");
    }

    // An empty run.
    let empty = dir.join("empty.jsonl");
    std::fs::write(
        &empty,
        format!("{}\n", RUN_STARTED.replace("\"cases\":2", "\"cases\":0")),
    )
    .unwrap();
    let out = html_cmd(&[empty.as_os_str()]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("No case ran."));

    // Not an event stream, an empty file, a missing file: exit 7, nothing written.
    let jobs = root().join("corpora/examples/jobs.jsonl");
    let nothing = dir.join("nothing.jsonl");
    std::fs::write(&nothing, "").unwrap();
    let missing = dir.join("missing.jsonl");
    for bad in [&jobs, &nothing, &missing] {
        let o = dir.join("never.html");
        let out = html_cmd(&[bad.as_os_str(), "-o".as_ref(), o.as_os_str()]);
        assert_eq!(out.status.code(), Some(7), "{}", bad.display());
        assert!(!o.exists());
    }
    // A schema version this hatchery does not know.
    let future = dir.join("future.jsonl");
    std::fs::write(
        &future,
        RUN_STARTED.replace("\"schema_version\":1", "\"schema_version\":99"),
    )
    .unwrap();
    let out = html_cmd(&[future.as_os_str()]);
    assert_eq!(out.status.code(), Some(7));
    assert!(String::from_utf8_lossy(&out.stderr).contains("schema version 99"));
}

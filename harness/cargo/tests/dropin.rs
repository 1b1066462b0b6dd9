//! What cargo-nextest users expect of `cargo hatchery test`, on the fixture workspace
//! corpora/cargo/dropin: output volume never changes a verdict (spilled to disk, head and tail
//! shown), live output, `.config/nextest.toml` profiles and filtersets.

mod common;
use common::*;

#[test]
fn output_volume_never_changes_a_verdict() {
    if !userns() {
        return;
    }
    let dir = scratch("flood");
    let report = dir.join("report.jsonl");
    let o = hatchery_dropin(
        "test",
        &[
            "output::",
            "--no-fail-fast",
            "--report",
            report.to_str().unwrap(),
        ],
    );
    let err = stderr(&o);
    assert_eq!(
        o.status.code(),
        Some(100),
        "{}",
        &err[err.len().saturating_sub(4000)..]
    );
    assert!(
        err.contains("2 tests run: 1 passed, 1 failed"),
        "{}",
        &err[err.len() - 3000..]
    );
    let m = finished(&events(&report));
    // >100 MiB on stderr: passes, as under cargo test and nextest; the report keeps its head
    // and tail (bounded), the count is exact.
    let flood = last(&m, "flood output::floods_stderr_and_passes");
    assert_eq!(flood["outcome"], "ok", "{}", flood["reason"]);
    let e = &flood["stderr"];
    let written = e["bytes"].as_u64().unwrap();
    assert_eq!(written, 120 * 1024 * 1024 + 24, "{}", written);
    assert_eq!(e["truncated"], true);
    let text = e["text"].as_str().unwrap();
    assert!(text.len() < 8 << 20, "{} bytes kept", text.len());
    assert!(text.contains("00000000 xxx"), "the head is kept");
    assert!(
        text.ends_with("the last line of stderr\n"),
        "the tail is kept"
    );
    assert!(text.contains("[... hatchery: "), "the gap is marked");
    // A passing test's spilled streams are not kept.
    assert!(e.get("file").is_none(), "{e:#}");
    // A failing one: head and tail on the terminal, the whole stream on disk.
    let fails = last(&m, "flood output::floods_stdout_and_fails");
    assert_eq!(fails["outcome"], "nonzero_exit");
    let file = fails["stdout"]["file"].as_str().expect("whole stdout kept");
    let whole = std::fs::read(file).unwrap();
    // The file holds the whole stream, byte for byte.
    let whole = String::from_utf8(whole).unwrap();
    assert_eq!(
        whole.len() as u64,
        fails["stdout"]["bytes"].as_u64().unwrap()
    );
    assert!(
        whole.starts_with("\nrunning 1 test\nthe first line of stdout\n"),
        "{}",
        &whole[..100]
    );
    assert_eq!(whole.matches("yyyy\n").count(), 96 * 1024);
    assert!(whole.contains("\nthe last line of stdout\n"));
    assert!(err.contains("the first line of stdout"), "head shown");
    assert!(err.contains("the last line of stdout"), "tail shown");
    assert!(err.contains(&format!("whole stream: {file}")), "file named");
    // The panic message on stderr is small: shown whole, nothing kept beside it.
    assert!(err.contains("failed after a lot of output"));
    assert!(
        fails["stderr"].get("file").is_none(),
        "{:#}",
        fails["stderr"]
    );
    // An output limit is an explicit choice: then the flood is OUTPUT-LIMIT.
    let o = hatchery_dropin("test", &["floods_stderr", "--output", "1M"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(100), "{err}");
    assert!(err.contains("OUTPUT-LIMIT"), "{err}");
}

#[test]
fn no_capture_streams_output_while_the_test_runs() {
    use std::io::BufRead as _;
    if !userns() {
        return;
    }
    let state = state_dir("live");
    let mut child = dropin_command(
        &dropin_fixture(),
        "test",
        &[
            "live::",
            "--no-capture",
            "--show-progress",
            "counter",
            "--env",
            &format!("HATCHERY_FIXTURE_STATE={}", state.display()),
        ],
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    let err = child.stderr.take().unwrap();
    let err = std::thread::spawn(move || std::io::read_to_string(err).unwrap());
    // The fixture test waits (up to 60 s, then fails) for `go`, which we create only once its
    // first line reached us: it passes only if output is live.
    let mut seen = Vec::new();
    for line in std::io::BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if line == "live: waiting for go" {
            std::fs::write(state.join("go"), "").unwrap();
        }
        seen.push(line);
    }
    let status = child.wait().unwrap();
    let err = err.join().unwrap();
    assert!(status.success(), "{err}\n{seen:?}");
    let pos = |l: &str| seen.iter().position(|s| s == l);
    assert!(
        pos("live: waiting for go") < pos("live: saw go"),
        "{seen:?}"
    );
    assert!(pos("live: saw go").is_some(), "{seen:?}");
    // nextest's counter on the status line.
    assert!(
        err.lines()
            .any(|l| l.contains("PASS [") && l.contains("] (1/1) ") && l.contains("live::")),
        "{err}"
    );
}

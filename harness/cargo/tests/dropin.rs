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
    let target = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dropin-flood-target");
    let o = dropin_command_to(
        &dropin_fixture(),
        &target,
        "test",
        &[
            "output::",
            "--no-fail-fast",
            "--report",
            report.to_str().unwrap(),
        ],
    )
    .output()
    .unwrap();
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
            "--writable",
            state.to_str().unwrap(),
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

#[test]
fn nextest_profiles_overrides_and_filtersets() {
    if !userns() {
        return;
    }
    let state = state_dir("profile");
    let dir = scratch("profile");
    let report = dir.join("report.jsonl");
    let o = dropin_command(
        &dropin_fixture(),
        "test",
        &[
            "-E",
            "test(flaky) | binary(it) | test(=slow::sleeps)",
            "-E",
            "test(live) | test(threads)",
            "--env",
            &format!("HATCHERY_FIXTURE_STATE={}", state.display()),
            "--writable",
            state.to_str().unwrap(),
            "--env",
            &format!(
                "HATCHERY_FIXTURE_MIN_CPUS={}",
                std::thread::available_parallelism().unwrap()
            ),
            "--report",
            report.to_str().unwrap(),
        ],
    )
    .env("NEXTEST_PROFILE", "ci")
    .output()
    .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(100), "{err}");
    // fail-fast = false (profile ci): everything ran; timeouts counted apart, as nextest.
    assert!(
        err.contains("6 tests run: 3 passed (1 flaky), 1 failed, 2 timed out, 2 skipped"),
        "{err}"
    );
    let m = finished(&events(&report));
    // retries with backoff from the profile: FLAKY on the second attempt.
    let flaky = &m["flood flaky::fails_first"];
    assert_eq!(flaky.len(), 2);
    assert_eq!(flaky[1]["outcome"], "ok");
    assert!(err.contains("FLAKY 2/3"), "{err}");
    // An override: retries = 0 for binary(it).
    assert_eq!(m["flood::it it_fails"].len(), 1);
    // The profile's hatchery env makes the test sleep 5 s; its override's slow-timeout
    // (250ms, terminate-after 2) ends it after 500 ms: TIMEOUT, three attempts.
    let slow = &m["flood slow::sleeps"];
    assert_eq!(slow.len(), 3);
    for a in slow {
        assert_eq!(a["outcome"], "time_limit", "{a:#}");
        assert!(a["usage"]["wall_us"].as_u64().unwrap() < 3_000_000);
    }
    // A per-override hatchery limit (timeout = 300ms) on the test that waits for `go`.
    let live = last(&m, "flood live::waits_for_its_line_to_be_seen");
    assert_eq!(live["outcome"], "time_limit", "{live:#}");
    // threads-required = num-test-threads, and tests are not pinned to one CPU: the test sees
    // every CPU we have.
    assert_eq!(
        last(&m, "flood threads::reports_parallelism")["outcome"],
        "ok"
    );
    // JUnit where the profile says, with store-success-output.
    let xml = std::fs::read_to_string(dropin_target().join("nextest/ci/junit.xml")).unwrap();
    assert!(xml.contains(r#"<testcase name="it_passes""#), "{xml}");
    let passed = &xml[xml
        .find(r#"<testcase name="threads::reports_parallelism""#)
        .unwrap()..];
    let passed = &passed[..passed.find("</testcase>").unwrap()];
    assert!(passed.contains("available_parallelism="), "{passed}");

    // --profile on the command line; default-filter; --ignore-default-filter.
    let list = |args: &[&str]| {
        let o = hatchery_dropin("list", args);
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
    };
    let narrow = list(&["--profile", "narrow"]);
    assert!(
        !narrow.contains("output::") && !narrow.contains("live::"),
        "{narrow}"
    );
    assert!(narrow.contains("flood::it it_passes"), "{narrow}");
    let all = list(&["--profile", "narrow", "--ignore-default-filter"]);
    assert!(all.contains("output::floods_stderr_and_passes"), "{all}");
    // Filterset operators and matchers: =exact, ~contains, #glob, /regex/, kind(), not, &, |.
    let picked = list(&[
        "-E",
        "kind(test) | (package(=flood) & test(~parallel)) | test(#*floods_stdout*)",
        "-E",
        "test(/^slow::/) & not binary(it)",
    ]);
    let lines: Vec<&str> = picked.lines().collect();
    assert_eq!(
        lines,
        [
            "flood output::floods_stdout_and_fails",
            "flood slow::sleeps",
            "flood threads::reports_parallelism",
            "flood::it it_fails",
            "flood::it it_passes"
        ],
        "{picked}"
    );
    // Mistakes are named, with exit code 2.
    let o = hatchery_dropin("list", &["-E", "test(foo"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("invalid filterset `test(foo`"),
        "{}",
        stderr(&o)
    );
    let o = hatchery_dropin("list", &["--profile", "nope"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("profile `nope` not found"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn list_message_format_json_is_nextests() {
    use nextest_metadata::{FilterMatch, MismatchReason, TestListSummary};
    let o = hatchery_dropin(
        "list",
        &[
            "--message-format",
            "json",
            "-E",
            "not test(live)",
            "--",
            "--skip",
            "slow::",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    // nextest's own types read it.
    let s = TestListSummary::parse_json(stdout(&o)).unwrap();
    assert_eq!(s.test_count, 8);
    let lib = &s.rust_suites[&nextest_metadata::RustBinaryId::new("flood")];
    assert_eq!(lib.package_name, "flood");
    assert_eq!(lib.binary.kind.as_str(), "lib");
    assert!(
        lib.binary.package_id.contains("flood"),
        "{}",
        lib.binary.package_id
    );
    assert!(lib.binary.binary_path.as_str().contains("/deps/flood-"));
    let case = |n: &str| &lib.test_cases[&nextest_metadata::TestCaseName::new(n)];
    assert_eq!(
        case("flaky::fails_first").filter_match,
        FilterMatch::Matches
    );
    assert_eq!(
        case("live::waits_for_its_line_to_be_seen").filter_match,
        FilterMatch::Mismatch {
            reason: MismatchReason::Expression
        }
    );
    assert_eq!(
        case("slow::sleeps").filter_match,
        FilterMatch::Mismatch {
            reason: MismatchReason::String
        }
    );
    let it = &s.rust_suites[&nextest_metadata::RustBinaryId::new("flood::it")];
    assert_eq!(it.binary.kind.as_str(), "test");
    assert_eq!(it.test_cases.len(), 2);
    assert_eq!(
        s.rust_build_meta.target_directory.as_str(),
        dropin_target().to_str().unwrap()
    );
}

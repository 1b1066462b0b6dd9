//! End-to-end tests of the judge: the `hatchery-judge` binary (the same code as `hatchery
//! judge`, and its own zygote) on the sample problems in corpora/judge and on small packages
//! made here. They need user namespaces (tier hardened), gcc, g++ and python3; without them
//! they print SKIP and the reason (and fail under HATCHERY_TEST_REQUIRE=all).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;

fn judge_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_hatchery-judge"))
}

fn corpora() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../corpora/judge")
}

/// A fresh directory outside /tmp (cases get a private /tmp), reachable by the case uid.
fn scratch(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("judge-tests")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn require_all() -> bool {
    std::env::var("HATCHERY_TEST_REQUIRE").is_ok_and(|v| v == "all")
}

/// Whether the host can run these tests; the reason when not (checked once).
fn host_problem() -> Option<&'static str> {
    static P: OnceLock<Option<String>> = OnceLock::new();
    P.get_or_init(|| {
        for tool in ["gcc", "g++", "python3"] {
            let ok = Command::new(tool)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success());
            if !ok {
                return Some(format!("`{tool}` is not installed"));
            }
        }
        let settings = hatchery_engine::ExecSettings::new(judge_bin());
        let hardened = hatchery_sandbox::Tier::Hardened;
        match hatchery_judge::exec::Runner::start(settings, 1, hardened, hardened) {
            Ok(_) => None,
            Err(e) => Some(format!(
                "tier hardened is not available here: {}",
                hatchery_judge::error_chain(&e)
            )),
        }
    })
    .as_deref()
}

/// True when the test may go on; prints SKIP and why otherwise (panics when
/// HATCHERY_TEST_REQUIRE=all).
fn need(problem: Option<&str>) -> bool {
    match problem {
        None => true,
        Some(why) if require_all() => panic!("required feature missing: {why}"),
        Some(why) => {
            eprintln!("SKIP: {why}");
            false
        }
    }
}

fn run_judge(args: &[&str], workdir: &Path) -> Output {
    Command::new(judge_bin())
        .args(args)
        .arg("--workdir")
        .arg(workdir)
        .output()
        .expect("run hatchery-judge")
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): stdout {} stderr {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Verifies a corpus package and returns (path -> verdict).
fn verify(pkg: &str) -> Vec<(String, String, Value)> {
    let dir = corpora().join(pkg);
    let work = scratch(&format!("verify-{pkg}"));
    let out = run_judge(
        &[
            dir.to_str().unwrap(),
            "--verify-submissions",
            "--json",
            "-j2",
        ],
        &work,
    );
    let v = json_of(&out);
    let subs = v["submissions"].as_array().expect("submissions").clone();
    for s in &subs {
        assert!(
            s["matched"].as_bool().unwrap(),
            "{pkg}: {} got {} (expected {}): {}",
            s["path"],
            s["verdict"],
            s["expected"],
            s["judgement"]["message"]
        );
    }
    assert!(v["all_matched"].as_bool().unwrap(), "{v:#}");
    assert!(v["skipped"].as_array().unwrap().is_empty(), "{v:#}");
    assert_eq!(out.status.code(), Some(0), "{pkg}: exit status");
    subs.into_iter()
        .map(|s| {
            (
                s["path"].as_str().unwrap().to_owned(),
                s["verdict"].as_str().unwrap().to_owned(),
                s["judgement"].clone(),
            )
        })
        .collect()
}

fn verdicts(v: &[(String, String, Value)]) -> Vec<String> {
    let mut all: Vec<String> = v.iter().map(|x| x.1.clone()).collect();
    all.sort();
    all.dedup();
    all
}

#[test]
fn corpus_aplusb_every_verdict() {
    if !need(host_problem()) {
        return;
    }
    let v = verify("aplusb");
    assert_eq!(
        verdicts(&v),
        ["AC", "CE", "MLE", "OLE", "RTE", "SV", "TLE", "WA"]
    );
    // The facts behind the verdicts.
    for (path, verdict, j) in &v {
        let failing = j["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["verdict"] != "AC");
        match verdict.as_str() {
            "TLE" => {
                // Either the CPU limit decided, or (on a loaded machine) the wall-clock
                // backstop of 2 × limit + 1 s, and the message says which.
                let f = failing.unwrap();
                let cpu = f["cpu_us"].as_u64().unwrap();
                let by_wall = f["message"].as_str().unwrap().contains("wall-clock");
                let wall = f["wall_us"].as_u64().unwrap();
                assert!(
                    cpu >= 1_000_000 || (by_wall && wall >= 3_000_000),
                    "{path}: TLE after only {cpu} µs of CPU, {wall} µs of wall time"
                );
            }
            "MLE" => {
                let mem = failing.unwrap()["peak_memory_bytes"].as_u64().unwrap();
                assert!(mem >= 32 << 20, "{path}: MLE at only {mem} bytes");
            }
            "RTE" if path.ends_with("segv.c") => {
                assert_eq!(failing.unwrap()["signal"], "SIGSEGV", "{path}");
            }
            "RTE" => assert_eq!(failing.unwrap()["exit_code"], 1, "{path}"),
            "CE" => {
                let msg = j["message"].as_str().unwrap();
                assert!(msg.contains("error"), "{path}: compiler message {msg:?}");
                assert!(j["cases"].as_array().unwrap().is_empty());
            }
            "WA" if path.ends_with("int_overflow.c") => {
                assert_eq!(j["failed_case"], "secret/02", "{path}")
            }
            // The hostile ones (read_answers.c, plant_links.c) answer wrongly on the first
            // case: they would get AC only by reading the answers.
            "WA" => assert_eq!(j["failed_case"], "sample/1", "{path}"),
            "AC" => assert_eq!(j["cases"].as_array().unwrap().len(), 4, "{path}"),
            _ => {}
        }
    }
}

#[test]
fn corpus_circle_float_tolerance() {
    if !need(host_problem()) {
        return;
    }
    let v = verify("circle");
    assert_eq!(verdicts(&v), ["AC", "WA"]);
    let rough = v.iter().find(|x| x.0.ends_with("two_decimals.c")).unwrap();
    assert!(
        rough.2["message"]
            .as_str()
            .unwrap()
            .contains("exceeds the tolerance"),
        "{}",
        rough.2["message"]
    );
    assert_eq!(
        rough.2["time_limit_source"],
        "domjudge-problem.ini timelimit"
    );
}

#[test]
fn corpus_pairsum_kattis_validator() {
    if !need(host_problem()) {
        return;
    }
    let v = verify("pairsum");
    assert_eq!(verdicts(&v), ["AC", "WA"]);
    // The message comes from the validator's judgemessage.txt; the minimum from
    // validator_flags.
    let zero = v.iter().find(|x| x.0.ends_with("zero.c")).unwrap();
    assert_eq!(zero.2["message"], "both numbers must be at least 1");
    assert_eq!(zero.2["time_limit_source"], ".timelimit");
}

#[test]
fn corpus_reverse_testlib_checker() {
    if !need(host_problem()) {
        return;
    }
    let v = verify("reverse");
    assert_eq!(verdicts(&v), ["AC", "PE", "WA"]);
}

#[test]
fn corpus_subtasks_scoring_groups() {
    if !need(host_problem()) {
        return;
    }
    let v = verify("subtasks");
    let score = |name: &str| {
        let j = &v.iter().find(|x| x.0.ends_with(name)).unwrap().2;
        (
            j["score"].as_f64().unwrap(),
            j["max_score"].as_f64().unwrap(),
        )
    };
    assert_eq!(score("sum64.c"), (100.0, 100.0));
    assert_eq!(score("sum32.c"), (30.0, 100.0));
    assert_eq!(score("zero.py"), (0.0, 100.0));
}

#[test]
fn corpus_guess_interactive() {
    if !need(host_problem()) {
        return;
    }
    let v = verify("guess");
    assert_eq!(verdicts(&v), ["AC", "RTE", "TLE", "WA"]);
    let lin = v.iter().find(|x| x.0.ends_with("linear.c")).unwrap();
    assert!(
        lin.2["message"]
            .as_str()
            .unwrap()
            .contains("more than 10 guesses"),
        "{}",
        lin.2["message"]
    );
}

#[test]
fn lockdown_tier_for_submissions() {
    if !need(host_problem()) {
        return;
    }
    // Submissions read-only on the host; compilers and validators in tier hardened.
    let work = scratch("lockdown");
    let dir = corpora().join("pairsum");
    let out = run_judge(
        &[
            dir.to_str().unwrap(),
            "--verify-submissions",
            "--tier",
            "lockdown",
            "--json",
        ],
        &work,
    );
    let v = json_of(&out);
    assert!(v["all_matched"].as_bool().unwrap(), "{v:#}");
    // A submission cannot write outside its private /tmp.
    let pkg = corpora().join("aplusb");
    let src = work.join("writer.py");
    let target = work.join("written-by-submission");
    std::fs::write(
        &src,
        format!(
            "a, b = map(int, input().split())\ntry:\n    open({:?}, 'w').write('x')\n    \
             print(-1)\nexcept OSError:\n    print(a + b)\n",
            target.display().to_string()
        ),
    )
    .unwrap();
    // The work directory is writable by everyone for this check, so only the tier stops it.
    std::fs::set_permissions(&work, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let out = run_judge(
        &[
            pkg.to_str().unwrap(),
            src.to_str().unwrap(),
            "--tier",
            "lockdown",
            "--json",
        ],
        &work,
    );
    assert_eq!(json_of(&out)["verdict"], "AC", "{out:?}");
    assert!(!target.exists());
}

#[test]
fn json_output_and_event_report() {
    if !need(host_problem()) {
        return;
    }
    let work = scratch("report");
    let report = work.join("report.jsonl");
    let pkg = corpora().join("aplusb");
    let src = pkg.join("submissions/wrong_answer/int_overflow.c");
    let out = run_judge(
        &[
            pkg.to_str().unwrap(),
            src.to_str().unwrap(),
            "--json",
            "-j1",
            "--report",
            report.to_str().unwrap(),
        ],
        &work,
    );
    assert_eq!(out.status.code(), Some(1), "WA exits 1");
    let v = json_of(&out);
    assert_eq!(v["verdict"], "WA");
    assert_eq!(v["score"], Value::Null);
    assert_eq!(v["max_score"], Value::Null);
    let cases = v["cases"].as_array().unwrap();
    // -j1 stops at the first failure: sample/1, secret/01 and secret/02 ran.
    assert_eq!(cases.len(), 3, "{v:#}");
    assert_eq!(v["skipped"], 1);
    for c in cases {
        for k in [
            "name",
            "verdict",
            "cpu_us",
            "wall_us",
            "peak_memory_bytes",
            "message",
        ] {
            assert!(c.get(k).is_some(), "case without `{k}`: {c}");
        }
        assert!(c["wall_us"].as_u64().unwrap() > 0);
    }
    assert_eq!(cases[2]["verdict"], "WA");
    assert!(cases[2]["message"]
        .as_str()
        .unwrap()
        .contains("expected `4000000000`"));

    let f = std::fs::File::open(&report).unwrap();
    let events = hatchery_report::read_events(std::io::BufReader::new(f)).expect("valid report");
    use hatchery_report::Event;
    assert!(matches!(events.first(), Some(Event::RunStarted(_))));
    let finished: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::CaseFinished(c) => Some(c),
            _ => None,
        })
        .collect();
    let ids: Vec<&str> = finished.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["compile", "sample/1", "secret/01", "secret/02"]);
    use hatchery_report::Verdict;
    // The verdict is a typed field; `passed` means the expectation (AC) was met.
    assert_eq!(finished[3].verdict, Some(Verdict::WA));
    assert_eq!(finished[3].expected_verdict, Some(Verdict::AC));
    assert_eq!(finished[1].verdict, Some(Verdict::AC));
    assert!(!finished[3].passed && finished[1].passed);
    let indices: Vec<u64> = finished.iter().map(|c| c.index).collect();
    assert_eq!(indices, [0, 1, 2, 3]);
    // on_reject: break skipped the last case, because of secret/02.
    let skipped: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::CaseSkipped(s) => Some((s.id.as_str(), s.index, s.because_of.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(skipped, [("secret/03", 4, "secret/02")]);
    match events.last() {
        Some(Event::RunFinished(rf)) => {
            assert_eq!((rf.passed, rf.failed, rf.skipped, rf.not_run), (3, 1, 1, 0));
        }
        other => panic!("last event {other:?}"),
    }
}

#[test]
fn verify_submissions_event_stream_has_one_frame_and_typed_verdicts() {
    if !need(host_problem()) {
        return;
    }
    let work = scratch("verify-report");
    let report = work.join("report.jsonl");
    let pkg = corpora().join("aplusb");
    let out = run_judge(
        &[
            pkg.to_str().unwrap(),
            "--verify-submissions",
            "--filter",
            "_error/syntax.c",
            "-j2",
            "--report",
            report.to_str().unwrap(),
        ],
        &work,
    );
    // compile_error/syntax.c gets CE as expected.
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let f = std::fs::File::open(&report).unwrap();
    let events = hatchery_report::read_events(std::io::BufReader::new(f)).expect("valid report");
    use hatchery_report::{Event, Verdict};
    let frames = events
        .iter()
        .filter(|e| matches!(e, Event::RunStarted(_) | Event::RunFinished(_)))
        .count();
    assert_eq!(frames, 2);
    match events.first() {
        // The compilation and four test cases.
        Some(Event::RunStarted(rs)) => assert_eq!(rs.cases, 5),
        other => panic!("first event {other:?}"),
    }
    let finished: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::CaseFinished(c) => Some(c),
            _ => None,
        })
        .collect();
    assert_eq!(finished.len(), 1, "only the compilation ran");
    let c = finished[0];
    assert_eq!(c.id, "submissions/compile_error/syntax.c:compile");
    assert_eq!(c.verdict, Some(Verdict::CE));
    assert_eq!(c.expected_verdict, Some(Verdict::AC));
    assert!(!c.passed, "passed means AC, per unit");
    match events.last() {
        Some(Event::RunFinished(rf)) => {
            assert_eq!((rf.passed, rf.failed, rf.not_run), (0, 1, 4));
        }
        other => panic!("last event {other:?}"),
    }
}

#[test]
fn binary_command_and_language_file() {
    if !need(host_problem()) {
        return;
    }
    let work = scratch("kinds");
    let pkg = corpora().join("aplusb");
    // --binary
    let bin = work.join("sum");
    let st = Command::new("gcc")
        .arg("-O2")
        .arg("-o")
        .arg(&bin)
        .arg(pkg.join("submissions/accepted/sum.c"))
        .status()
        .unwrap();
    assert!(st.success());
    let out = run_judge(
        &[
            pkg.to_str().unwrap(),
            "--binary",
            bin.to_str().unwrap(),
            "--json",
        ],
        &work,
    );
    assert_eq!(json_of(&out)["verdict"], "AC", "{out:?}");
    // --command, with a program outside the package (submissions do not see the package: a
    // command naming a file in it is refused before anything runs).
    let in_pkg = pkg.join("submissions/accepted/sum.py");
    let py = work.join("sum.py");
    std::fs::copy(&in_pkg, &py).unwrap();
    let cmd = format!("python3 {}", py.display());
    let out = run_judge(&[pkg.to_str().unwrap(), "--command", &cmd, "--json"], &work);
    assert_eq!(json_of(&out)["verdict"], "AC", "{out:?}");
    let cmd = format!("python3 {}", in_pkg.display());
    let out = run_judge(&[pkg.to_str().unwrap(), "--command", &cmd, "--json"], &work);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("inside the problem package"));
    // A language from a TOML file: POSIX shell scripts.
    let langs = work.join("langs.toml");
    std::fs::write(
        &langs,
        "[languages.sh]\nextensions = [\"sh\"]\nrun = \"/bin/sh {source}\"\n",
    )
    .unwrap();
    let script = work.join("sum.sh");
    std::fs::write(&script, "read a b\necho $((a + b))\n").unwrap();
    let out = run_judge(
        &[
            pkg.to_str().unwrap(),
            script.to_str().unwrap(),
            "--languages",
            langs.to_str().unwrap(),
            "--json",
        ],
        &work,
    );
    let v = json_of(&out);
    assert_eq!(v["verdict"], "AC", "{v:#}");
    assert_eq!(v["language"], "sh");
    // --time-limit overrides the package's.
    let out = run_judge(
        &[
            pkg.to_str().unwrap(),
            script.to_str().unwrap(),
            "--languages",
            langs.to_str().unwrap(),
            "--time-limit",
            "250ms",
            "--json",
        ],
        &work,
    );
    let v = json_of(&out);
    assert_eq!(v["time_limit_us"], 250_000);
    assert_eq!(v["time_limit_source"], "--time-limit");
}

/// Writes a package under `dir` from (path, contents) pairs.
fn package(dir: &Path, files: &[(&str, &str)]) {
    for (p, text) in files {
        let f = dir.join(p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, text).unwrap();
    }
}

#[test]
fn judge_errors_are_never_the_submissions_fault() {
    if !need(host_problem()) {
        return;
    }
    let work = scratch("je");
    let pkg = work.join("broken");
    package(
        &pkg,
        &[
            (
                "problem.yaml",
                "validation: custom\nlimits: {time_limit: 1}\n",
            ),
            ("data/secret/1.in", "1 2\n"),
            ("data/secret/1.ans", "3\n"),
            // Neither 42 nor 43.
            (
                "output_validators/v/validate.py",
                "import sys\nsys.stderr.write('validator crashed\\n')\nsys.exit(1)\n",
            ),
        ],
    );
    let src = corpora().join("aplusb/submissions/accepted/sum.py");
    let out = run_judge(
        &[pkg.to_str().unwrap(), src.to_str().unwrap(), "--json"],
        &work,
    );
    let v = json_of(&out);
    assert_eq!(v["verdict"], "JE", "{v:#}");
    assert!(v["message"].as_str().unwrap().contains("validator crashed"));
    assert_eq!(out.status.code(), Some(5));

    // A validator that does not compile: nothing is judged, exit 5.
    package(
        &pkg,
        &[("output_validators/v/validate.py", "this is not python(\n")],
    );
    let out = run_judge(&[pkg.to_str().unwrap(), src.to_str().unwrap()], &work);
    assert_eq!(out.status.code(), Some(5));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("output validator") && err.contains("could not be built"),
        "{err}"
    );
}

#[test]
fn hanging_compiler_is_stopped() {
    if !need(host_problem()) {
        return;
    }
    let work = scratch("hang");
    let pkg = work.join("p");
    package(
        &pkg,
        &[
            (
                "problem.yaml",
                "limits: {time_limit: 1, compilation_time: 1}\n",
            ),
            ("data/secret/1.in", "1 2\n"),
            ("data/secret/1.ans", "3\n"),
        ],
    );
    let langs = work.join("langs.json");
    std::fs::write(
        &langs,
        r#"{"languages": {"slow": {"extensions": ["slow"], "compile": ["/bin/sleep", "600"], "run": ["{binary}"]}}}"#,
    )
    .unwrap();
    let src = work.join("x.slow");
    std::fs::write(&src, "").unwrap();
    let start = std::time::Instant::now();
    let out = run_judge(
        &[
            pkg.to_str().unwrap(),
            src.to_str().unwrap(),
            "--languages",
            langs.to_str().unwrap(),
            "--json",
        ],
        &work,
    );
    let v = json_of(&out);
    assert_eq!(v["verdict"], "CE", "{v:#}");
    assert!(v["message"].as_str().unwrap().contains("took longer"));
    assert!(
        start.elapsed().as_secs() < 20,
        "the compiler was not stopped"
    );
}

#[test]
fn malformed_packages_and_missing_time_limit() {
    let work = scratch("bad");
    let pkg = work.join("p");
    package(
        &pkg,
        &[
            ("problem.yaml", "limits:\n  memory: lots\n"),
            ("data/secret/1.in", ""),
            ("data/secret/1.ans", ""),
        ],
    );
    let src = corpora().join("aplusb/submissions/accepted/sum.py");
    let out = run_judge(&[pkg.to_str().unwrap(), src.to_str().unwrap()], &work);
    assert_eq!(out.status.code(), Some(7));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("problem.yaml: limits.memory: expected a number, found `lots`"),
        "{err}"
    );

    package(&pkg, &[("problem.yaml", "name: no time limit\n")]);
    let out = run_judge(&[pkg.to_str().unwrap(), src.to_str().unwrap()], &work);
    assert_eq!(out.status.code(), Some(7));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--time-limit"));

    let out = run_judge(&[work.to_str().unwrap(), src.to_str().unwrap()], &work);
    assert_eq!(out.status.code(), Some(7));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a problem package"));

    let out = run_judge(&[pkg.to_str().unwrap()], &work);
    assert_eq!(out.status.code(), Some(2), "no submission given");
}

#[test]
fn rust_submissions_compile_with_rustc() {
    if !need(host_problem()) {
        return;
    }
    // The rustc on our PATH as it is: for a rustup install as root, a proxy under /root,
    // which the case uid (65534) cannot search; the engine shows the toolchain read-only.
    let work = scratch("rust");
    if let Err(e) = Command::new("rustc").arg("--version").output() {
        need(Some(&format!("rustc is not installed: {e}")));
        return;
    }
    let src = work.join("sum.rs");
    std::fs::write(
        &src,
        "use std::io::Read;\nfn main() {\n    let mut s = String::new();\n    \
         std::io::stdin().read_to_string(&mut s).unwrap();\n    \
         let v: Vec<i64> = s.split_whitespace().map(|x| x.parse().unwrap()).collect();\n    \
         println!(\"{}\", v[0] + v[1]);\n}\n",
    )
    .unwrap();
    let pkg = corpora().join("aplusb");
    let out = Command::new(judge_bin())
        .arg(&pkg)
        .arg(&src)
        .arg("--json")
        .arg("--workdir")
        .arg(&work)
        .output()
        .unwrap();
    let v = json_of(&out);
    assert_eq!(v["verdict"], "AC", "{v:#}");
    assert_eq!(v["language"], "rust");
    assert_eq!(v["compile"]["verdict"], "AC");
}

fn case_names(j: &Value) -> Vec<String> {
    j["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn corpus_roundtrip_multi_pass_and_derived_2023_limit() {
    if !need(host_problem()) {
        return;
    }
    let dir = corpora().join("roundtrip");
    let work = scratch("verify-roundtrip");
    let out = run_judge(
        &[
            dir.to_str().unwrap(),
            "--verify-submissions",
            "--json",
            "-j2",
        ],
        &work,
    );
    let v = json_of(&out);
    assert!(v["all_matched"].as_bool().unwrap(), "{v:#}");
    let subs = v["submissions"].as_array().unwrap();
    let by = |name: &str| {
        &subs
            .iter()
            .find(|s| s["path"].as_str().unwrap().ends_with(name))
            .unwrap()["judgement"]
    };
    // Accepted runs take two passes on every case.
    for c in by("base26.c")["cases"].as_array().unwrap() {
        assert_eq!(c["passes"], 2, "{c}");
        assert_eq!(c["verdict"], "AC");
    }
    // Rejected in pass 1 by the validator, in pass 2 by the validator, crashes in pass 2.
    let digits = by("digits.c");
    assert_eq!(digits["verdict"], "WA");
    assert!(
        digits["message"].as_str().unwrap().contains("pass 1"),
        "{digits}"
    );
    let forgetful = by("forgetful.py");
    assert_eq!(forgetful["verdict"], "WA");
    let m = forgetful["message"].as_str().unwrap();
    assert!(m.contains("pass 2: expected 42, got 0"), "{m}");
    let crash = by("crash_on_decode.py");
    assert_eq!(crash["verdict"], "RTE");
    assert!(crash["message"].as_str().unwrap().starts_with("pass 2:"));
    assert_eq!(crash["cases"][0]["passes"], 2);
    let spin = by("spin_on_decode.c");
    assert_eq!(spin["verdict"], "TLE");
    assert_eq!(spin["cases"][0]["passes"], 2);
    // No time limit in the package: derived with the 2023-07 rule.
    assert_eq!(v["time_limit_us"], 1_000_000, "{v:#}");
    assert_eq!(v["time_limit_source"], "derived from submissions/accepted");
    let d = &v["time_limit_derivation"];
    assert_eq!(d["ac_to_time_limit"], 2.0);
    assert_eq!(d["time_limit_to_tle"], 1.5);
    assert_eq!(d["accepted"].as_array().unwrap().len(), 2);
    let tle = &d["time_limit_exceeded"][0];
    assert_eq!(tle["limit_us"], 1_500_000);
    assert_eq!(tle["verdict"], "TLE");
    assert_eq!(tle["bounds"], true);
    assert!(
        d["slowest_accepted_us"].as_u64().unwrap() * 2 <= 1_000_000,
        "{d}"
    );
    // The input validator ran first: 7 valid inputs, 4 rejected invalid ones.
    let iv = &v["input_validation"];
    assert_eq!(iv["all_ok"], true, "{iv}");
    let files = iv["files"].as_array().unwrap();
    assert_eq!(files.len(), 11);
    let invalid: Vec<_> = files
        .iter()
        .filter(|f| f["expected"] == "invalid")
        .collect();
    assert_eq!(invalid.len(), 4);
    for f in invalid {
        assert_eq!(f["runs"][0]["status"], "invalid", "{f}");
    }
}

#[test]
fn corpus_distance_legacy_derivation_and_old_validator_dir() {
    if !need(host_problem()) {
        return;
    }
    let v = verify("distance");
    assert_eq!(verdicts(&v), ["AC", "RTE", "TLE", "WA"]);
    let j = &v[0].2;
    assert_eq!(j["time_limit_source"], "derived from submissions/accepted");
    let d = &j["time_limit_derivation"];
    assert_eq!(d["ac_to_time_limit"], 5.0, "{d}");
    assert_eq!(d["time_limit_to_tle"], 2.0);
    // Legacy: rounded up to a whole second.
    let tl = d["time_limit_us"].as_u64().unwrap();
    assert_eq!(tl % 1_000_000, 0);
    assert!(tl >= d["slowest_accepted_us"].as_u64().unwrap() * 5);
    assert_eq!(d["time_limit_exceeded"][0]["limit_us"], tl * 2);
    // The TLE submission ran for the whole derived limit (in CPU time, or in wall time when
    // a loaded machine gave it less CPU than that before the wall backstop).
    let tle = v.iter().find(|x| x.1 == "TLE").unwrap();
    let case = tle.2["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["verdict"] == "TLE")
        .unwrap();
    let cpu = case["cpu_us"].as_u64().unwrap();
    let wall = case["wall_us"].as_u64().unwrap();
    assert!(
        cpu >= tl || wall >= tl,
        "TLE after {cpu} µs of CPU and {wall} µs of wall time with a {tl} µs limit"
    );
}

#[test]
fn validate_input_skips_checktestdata_and_reads_the_old_directory() {
    if !need(host_problem()) {
        return;
    }
    let work = scratch("validate-distance");
    let dir = corpora().join("distance");
    let out = run_judge(&[dir.to_str().unwrap(), "--validate-input"], &work);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("skip input_format_validators/distance.ctd")
            && text.contains("Checktestdata"),
        "{text}"
    );
    assert!(
        text.contains("4 of 4 input files validated as expected"),
        "{text}"
    );
}

#[test]
fn corpus_oddwords_legacy_groups_on_reject() {
    if !need(host_problem()) {
        return;
    }
    let v = verify("oddwords");
    let get = |name: &str| &v.iter().find(|x| x.0.ends_with(name)).unwrap().2;
    for name in ["odd.py", "odd.c"] {
        assert_eq!(get(name)["score"], 100.0);
    }
    // Group 1 (40) passes; group 2 stops at its first rejected case (on_reject: break).
    let five = get("first_five.c");
    assert_eq!(five["score"], 40.0);
    let names = case_names(five);
    assert!(names.contains(&"secret/group2/1".to_owned()), "{names:?}");
    assert!(!names.contains(&"secret/group2/2".to_owned()), "{names:?}");
    assert_eq!(five["skipped"], 2);
    // A failed sample does not stop the secret data (data/testdata.yaml: continue), and
    // secret continues into group 2 after group 1 failed; each group breaks.
    let even = get("even.py");
    assert_eq!(even["score"], 0.0);
    assert_eq!(
        case_names(even),
        ["sample/1", "secret/group1/1", "secret/group2/1"]
    );
    assert_eq!(even["failed_case"], "sample/1");
}

#[test]
fn corpus_hello_no_time_limit_anywhere() {
    if !need(host_problem()) {
        return;
    }
    let v = verify("hello");
    assert_eq!(verdicts(&v), ["AC", "MLE", "WA"]);
}

#[test]
fn on_reject_break_and_continue_in_legacy_packages() {
    if !need(host_problem()) {
        return;
    }
    let work = scratch("onreject");
    // The submission prints 0 for input 0 and the input doubled otherwise; every answer
    // is the input doubled except for case 1 (so only 1 and 3 fail).
    let src = work.join("double.py");
    std::fs::write(
        &src,
        "x = int(input())\nprint(0 if x == 1 or x == 3 else 2 * x)\n",
    )
    .unwrap();
    let mut files: Vec<(String, String)> = Vec::new();
    for i in 0..5 {
        files.push((format!("data/secret/{i}.in"), format!("{i}\n")));
        files.push((format!("data/secret/{i}.ans"), format!("{}\n", 2 * i)));
    }
    let make = |name: &str, extra: &[(&str, &str)]| {
        let pkg = work.join(name);
        let mut all: Vec<(&str, &str)> = files
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        all.extend_from_slice(extra);
        package(&pkg, &all);
        pkg
    };
    let judge = |pkg: &Path, j: &str| {
        json_of(&run_judge(
            &[pkg.to_str().unwrap(), src.to_str().unwrap(), "--json", j],
            &work,
        ))
    };
    // Pass-fail, default (break): nothing after the first rejection counts, whatever -j.
    let pf = make("pf", &[("problem.yaml", "limits: {time_limit: 2}\n")]);
    for j in ["-j1", "-j2"] {
        let v = judge(&pf, j);
        assert_eq!(v["verdict"], "WA");
        assert_eq!(v["failed_case"], "secret/1");
        assert_eq!(case_names(&v), ["secret/0", "secret/1"], "{j}");
        assert_eq!(v["skipped"], 3);
    }
    // Pass-fail with on_reject: continue: every case runs; the first rejection decides.
    let pfc = make(
        "pfc",
        &[
            ("problem.yaml", "limits: {time_limit: 2}\n"),
            ("data/secret/testdata.yaml", "on_reject: continue\n"),
        ],
    );
    let v = judge(&pfc, "-j2");
    assert_eq!(v["verdict"], "WA");
    assert_eq!(v["failed_case"], "secret/1");
    assert_eq!(case_names(&v).len(), 5);
    // Scoring, sum of accept_score 10: break keeps only the judged cases (10), continue
    // sums all three accepted ones (30), as Kattis' default grader does.
    let sb = make(
        "sb",
        &[
            ("problem.yaml", "type: scoring\nlimits: {time_limit: 2}\n"),
            ("data/secret/testdata.yaml", "accept_score: 10\n"),
        ],
    );
    let v = judge(&sb, "-j2");
    assert_eq!(
        (v["score"].as_f64(), v["max_score"].as_f64()),
        (Some(10.0), Some(50.0))
    );
    let sc = make(
        "sc",
        &[
            ("problem.yaml", "type: scoring\nlimits: {time_limit: 2}\n"),
            (
                "data/secret/testdata.yaml",
                "accept_score: 10\non_reject: continue\n",
            ),
        ],
    );
    let v = judge(&sc, "-j1");
    assert_eq!(
        (v["score"].as_f64(), v["max_score"].as_f64()),
        (Some(30.0), Some(50.0))
    );
    // --all-cases shows the skipped cases but scores as the package says.
    let v = json_of(&run_judge(
        &[
            sb.to_str().unwrap(),
            src.to_str().unwrap(),
            "--json",
            "--all-cases",
        ],
        &work,
    ));
    assert_eq!(case_names(&v).len(), 5);
    assert_eq!(v["score"].as_f64(), Some(10.0));
}

/// A 2023-07 multi-pass package whose validator is `validator` (Python).
fn multi_pass_package(dir: &Path, validator: &str) {
    package(
        dir,
        &[
            (
                "problem.yaml",
                "problem_format_version: 2023-07\ntype: [pass-fail, multi-pass]\n\
                 limits: {time_limit: 2, validation_passes: 3}\n",
            ),
            ("data/secret/1.in", "1\n"),
            ("data/secret/1.ans", "\n"),
            ("output_validator/validate.py", validator),
        ],
    );
}

#[test]
fn multi_pass_judge_errors_are_the_validators() {
    if !need(host_problem()) {
        return;
    }
    let work = scratch("multipass-je");
    let src = work.join("echo.py");
    std::fs::write(&src, "print(int(input()) + 1)\n").unwrap();
    // Always asks for another pass: JE after validation_passes (3) passes.
    let greedy = work.join("greedy");
    multi_pass_package(
        &greedy,
        "import sys\nx = int(sys.stdin.read())\n\
         open(sys.argv[3] + 'nextpass.in', 'w').write(f'{x}\\n')\nsys.exit(42)\n",
    );
    let v = json_of(&run_judge(
        &[greedy.to_str().unwrap(), src.to_str().unwrap(), "--json"],
        &work,
    ));
    assert_eq!(v["verdict"], "JE", "{v:#}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("asked for pass 4 but validation_passes is 3"),
        "{}",
        v["message"]
    );
    assert_eq!(v["cases"][0]["passes"], 3);
    // Writes nextpass.in and rejects: JE, never the submission's WA.
    let confused = work.join("confused");
    multi_pass_package(
        &confused,
        "import sys\nopen(sys.argv[3] + 'nextpass.in', 'w').write('1\\n')\nsys.exit(43)\n",
    );
    let v = json_of(&run_judge(
        &[confused.to_str().unwrap(), src.to_str().unwrap(), "--json"],
        &work,
    ));
    assert_eq!(v["verdict"], "JE", "{v:#}");
    assert!(v["message"]
        .as_str()
        .unwrap()
        .contains("wrote nextpass.in but rejected"));
    // Counts to 3 through the passes: each pass's input is the previous output, and the
    // feedback directory persists.
    let counter = work.join("counter");
    multi_pass_package(
        &counter,
        "import sys\nx = int(sys.stdin.read())\nfb = sys.argv[3]\n\
         open(fb + 'judgemessage.txt', 'a').write(f'saw {x}\\n')\n\
         if x < 3:\n    open(fb + 'nextpass.in', 'w').write(f'{x}\\n')\nsys.exit(42)\n",
    );
    let v = json_of(&run_judge(
        &[counter.to_str().unwrap(), src.to_str().unwrap(), "--json"],
        &work,
    ));
    assert_eq!(v["verdict"], "AC", "{v:#}");
    assert_eq!(v["cases"][0]["passes"], 2);
    assert_eq!(v["cases"][0]["message"], "saw 2\nsaw 3");
}

#[test]
fn invalid_input_is_detected() {
    if !need(host_problem()) {
        return;
    }
    let work = scratch("bad-input");
    // The sample package plus one deliberately invalid secret input.
    let pkg = work.join("aplusb");
    let st = Command::new("cp")
        .arg("-r")
        .arg(corpora().join("aplusb"))
        .arg(&pkg)
        .status()
        .unwrap();
    assert!(st.success());
    package(
        &pkg,
        &[
            ("data/secret/04.in", "3 four\n"),
            ("data/secret/04.ans", "7\n"),
        ],
    );
    let out = run_judge(
        &[pkg.to_str().unwrap(), "--validate-input", "--json"],
        &work,
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let v = json_of(&out);
    assert_eq!(v["failed"], 1, "{v:#}");
    assert_eq!(v["all_ok"], false);
    let bad: Vec<_> = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["ok"] == false)
        .collect();
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0]["name"], "secret/04");
    assert_eq!(bad[0]["runs"][0]["exit_code"], 43);
    assert!(bad[0]["runs"][0]["message"]
        .as_str()
        .unwrap()
        .contains("expected one line"));
    // The human report names it; --verify-submissions fails because of it.
    let out = run_judge(&[pkg.to_str().unwrap(), "--validate-input"], &work);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("FAIL secret/04"), "{text}");
    let out = run_judge(
        &[
            pkg.to_str().unwrap(),
            "--verify-submissions",
            "--filter",
            "accepted/sum.c",
        ],
        &work,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("input validation failed"));
    // An input validator that does not build: JE, exit 5.
    package(&pkg, &[("input_validators/broken.c", "int main( {")]);
    let out = run_judge(&[pkg.to_str().unwrap(), "--validate-input"], &work);
    assert_eq!(out.status.code(), Some(5), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("input validator"));
}

#[test]
fn derivation_failures_name_the_submission() {
    if !need(host_problem()) {
        return;
    }
    let work = scratch("derive-fail");
    let base = [("data/secret/1.in", "2\n"), ("data/secret/1.ans", "4\n")];
    // An accepted submission that is wrong: no limit can be derived.
    let pkg = work.join("wrong");
    let mut files = base.to_vec();
    files.push(("problem.yaml", "name: x\n"));
    files.push(("submissions/accepted/bad.py", "print(5)\n"));
    package(&pkg, &files);
    let src = corpora().join("aplusb/submissions/accepted/sum.py");
    let out = run_judge(&[pkg.to_str().unwrap(), src.to_str().unwrap()], &work);
    assert_eq!(out.status.code(), Some(7));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "cannot derive the time limit: submissions/accepted/bad.py got WA on secret/1"
        ),
        "{err}"
    );
    // An accepted submission that does not compile is left out of the derivation (as in
    // problemtools); its verification fails.
    let pkg = work.join("ce");
    let mut files = base.to_vec();
    files.push(("problem.yaml", "name: x\n"));
    files.push(("submissions/accepted/ok.py", "print(2 * int(input()))\n"));
    files.push(("submissions/accepted/broken.c", "int main( {\n"));
    package(&pkg, &files);
    let out = run_judge(
        &[pkg.to_str().unwrap(), "--verify-submissions", "--json"],
        &work,
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let v = json_of(&out);
    let d = &v["time_limit_derivation"];
    assert!(
        d["slowest_accepted"].as_str().unwrap().contains("ok.py")
            && d["accepted"].as_array().unwrap().len() == 1,
        "{v:#}"
    );
    let broken = v["submissions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["path"] == "submissions/accepted/broken.c")
        .unwrap();
    assert_eq!(
        (&broken["verdict"], &broken["matched"]),
        (&Value::from("CE"), &Value::from(false))
    );
    // 2023-07: a time_limit_exceeded submission that finishes within limit × 1.5.
    let pkg = work.join("fast-tle");
    let mut files = base.to_vec();
    files.push(("problem.yaml", "problem_format_version: 2023-07\n"));
    files.push(("submissions/accepted/ok.py", "print(2 * int(input()))\n"));
    files.push((
        "submissions/time_limit_exceeded/quick.py",
        "print(2 * int(input()))\n",
    ));
    package(&pkg, &files);
    let out = run_judge(&[pkg.to_str().unwrap(), "--verify-submissions"], &work);
    assert_eq!(out.status.code(), Some(7));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("submissions/time_limit_exceeded/quick.py is accepted within 1.500 s"),
        "{err}"
    );
    // --derive-time-limit replaces a package's limit; --time-limit is then the cap.
    let pkg = corpora().join("circle");
    let src = pkg.join("submissions/accepted/area.c");
    let v = json_of(&run_judge(
        &[
            pkg.to_str().unwrap(),
            src.to_str().unwrap(),
            "--derive-time-limit",
            "--time-limit",
            "5",
            "--json",
        ],
        &work,
    ));
    assert_eq!(v["verdict"], "AC", "{v:#}");
    assert_eq!(v["time_limit_source"], "derived from submissions/accepted");
    assert_eq!(v["time_limit_derivation"]["cap_us"], 5_000_000);
    assert_eq!(v["time_limit_us"], 1_000_000);
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Every entry below `dir` (not following links): (path, owner uid, mode).
fn owners_below(dir: &Path) -> Vec<(PathBuf, u32, u32)> {
    use std::os::unix::fs::MetadataExt as _;
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let md = e.path().symlink_metadata().unwrap();
            out.push((e.path(), md.uid(), md.mode()));
            if md.is_dir() {
                todo.push(e.path());
            }
        }
    }
    out.sort();
    out
}

/// Issue 12, item 1: hostile submissions plant links to the directory that holds the work
/// tree in every directory of it they can write (builds of other submissions, validator
/// feedback directories) while the judge builds, checks and cleans up in parallel. Nothing
/// outside the work tree may change owner, mode or content, and the work tree is removed.
#[test]
fn planted_links_never_lead_the_judge_outside_its_work_tree() {
    if !need(host_problem()) {
        return;
    }
    let base = scratch("plant");
    let sentinel = base.join("sentinel");
    std::fs::write(&sentinel, "root's own\n").unwrap();
    let secret = base.join("secret");
    std::fs::write(&secret, "TOPSECRET\n").unwrap();
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let before = owners_below(&base);
    let plant = corpora().join("aplusb/submissions/wrong_answer/plant_links.c");
    // Two judges at once on one work base: aplusb (builds in parallel) and pairsum (a
    // Kattis validator with a feedback directory per case), each with the planter.
    let mut kids: Vec<_> = ["aplusb", "pairsum"]
        .iter()
        .map(|pkg| {
            Command::new(judge_bin())
                .arg(corpora().join(pkg))
                .arg("--verify-submissions")
                .arg("--json")
                .arg("-j2")
                .arg("--workdir")
                .arg(&base)
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let planter = Command::new(judge_bin())
        .arg(corpora().join("pairsum"))
        .arg(&plant)
        .arg("--json")
        .arg("--workdir")
        .arg(&base)
        .output()
        .unwrap();
    assert_ne!(json_of(&planter)["verdict"], "JE", "{planter:?}");
    for k in kids.drain(..) {
        let out = k.wait_with_output().unwrap();
        let v = json_of(&out);
        assert!(v["all_matched"].as_bool().unwrap(), "{v:#}");
    }
    assert_eq!(
        owners_below(&base),
        before,
        "something outside the work tree changed"
    );
    assert_eq!(std::fs::read_to_string(&sentinel).unwrap(), "root's own\n");
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "TOPSECRET\n");
}

/// Issue 12, item 6: a package file that is a link out of the package (here an answer file
/// leading to a root-only file) is refused when the package is read, and the file's content
/// shows up nowhere.
#[test]
fn package_links_out_of_the_package_are_refused() {
    if !need(host_problem()) {
        return;
    }
    let work = scratch("pkg-link");
    let secret = work.join("secret.ans");
    std::fs::write(&secret, "TOPSECRET\n").unwrap();
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let pkg = work.join("aplusb");
    let st = Command::new("cp")
        .arg("-r")
        .arg(corpora().join("aplusb"))
        .arg(&pkg)
        .status()
        .unwrap();
    assert!(st.success());
    // A link that stays inside is fine...
    std::fs::remove_file(pkg.join("data/secret/01.in")).unwrap();
    std::os::unix::fs::symlink("../sample/1.in", pkg.join("data/secret/01.in")).unwrap();
    std::fs::copy(
        pkg.join("data/sample/1.ans"),
        pkg.join("data/secret/01.ans"),
    )
    .unwrap();
    let sum = corpora().join("aplusb/submissions/accepted/sum.c");
    let out = run_judge(
        &[pkg.to_str().unwrap(), sum.to_str().unwrap(), "--json"],
        &work,
    );
    assert_eq!(json_of(&out)["verdict"], "AC", "{out:?}");
    // ... a link out of the package is not.
    std::fs::remove_file(pkg.join("data/secret/02.ans")).unwrap();
    std::os::unix::fs::symlink(&secret, pkg.join("data/secret/02.ans")).unwrap();
    let out = run_judge(
        &[pkg.to_str().unwrap(), sum.to_str().unwrap(), "--json"],
        &work,
    );
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_ne!(out.status.code(), Some(0), "{all}");
    assert!(
        all.contains("02.ans: a symbolic link that leads outside the package"),
        "{all}"
    );
    assert!(!all.contains("TOPSECRET"), "{all}");
}

/// Issue 12, item 7: a compiler message quoting a source line with terminal escapes is shown
/// escaped in the judge's human output.
#[test]
fn compiler_messages_cannot_drive_the_terminal() {
    if !need(host_problem()) {
        return;
    }
    let work = scratch("escapes");
    let src = work.join("evil.c");
    std::fs::write(
        &src,
        "#error forged \x1b[8mhidden\x1b]0;title\x07\nint main;\n",
    )
    .unwrap();
    let pkg = corpora().join("aplusb");
    let out = run_judge(&[pkg.to_str().unwrap(), src.to_str().unwrap()], &work);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains("CE"), "{shown}");
    assert!(shown.contains("\\x1b[8mhidden"), "{shown}");
    assert!(
        !out.stdout.contains(&0x1b) && !out.stdout.contains(&0x07),
        "{shown}"
    );
}

/// Issue 12, item 2, unprivileged: run by a normal user (uid 65534 through setpriv), a
/// submission still cannot find the answers through its stdin.
#[test]
fn unprivileged_judge_keeps_answers_out_of_reach() {
    if !need(host_problem()) {
        return;
    }
    if !is_root() {
        if require_all() {
            panic!("required: root, to drop to uid 65534 with setpriv");
        }
        eprintln!("SKIP: root, to drop to uid 65534 with setpriv");
        return;
    }
    let stage = scratch("unpriv");
    let bin = stage.join("hatchery-judge");
    std::fs::copy(judge_bin(), &bin).unwrap();
    let st = Command::new("cp")
        .arg("-r")
        .arg(corpora().join("aplusb"))
        .arg(stage.join("aplusb"))
        .status()
        .unwrap();
    assert!(st.success());
    let st = Command::new("chown")
        .args(["-R", "65534:65534"])
        .arg(&stage)
        .status()
        .unwrap();
    assert!(st.success());
    // Every ancestor must be searchable by 65534.
    let reach = Command::new("setpriv")
        .args([
            "--reuid",
            "65534",
            "--regid",
            "65534",
            "--clear-groups",
            "--",
        ])
        .arg("test")
        .arg("-x")
        .arg(&stage)
        .status()
        .unwrap();
    if !reach.success() {
        let why = format!("uid 65534 cannot reach {}", stage.display());
        if require_all() {
            panic!("required: {why}");
        }
        eprintln!("SKIP: {why}");
        return;
    }
    for (sub, want) in [
        ("wrong_answer/read_answers.c", "WA"),
        ("accepted/sum.c", "AC"),
    ] {
        let out = Command::new("setpriv")
            .args([
                "--reuid",
                "65534",
                "--regid",
                "65534",
                "--clear-groups",
                "--",
            ])
            .arg(&bin)
            .arg(stage.join("aplusb"))
            .arg(stage.join("aplusb/submissions").join(sub))
            .arg("--json")
            .arg("--workdir")
            .arg(stage.join("work"))
            .output()
            .unwrap();
        assert_eq!(json_of(&out)["verdict"], want, "{sub}: {out:?}");
    }
}

/// A submission that knows where the package is (a judge service installs problems at known
/// paths) sees nothing of it: neither its compiler (`#include` of an answer file) nor the
/// running program (it prints the answer file when it can read it, else computes the sum).
#[test]
fn submissions_and_their_compiler_see_nothing_of_the_package() {
    if !need(host_problem()) {
        return;
    }
    let pkg = std::fs::canonicalize(corpora().join("aplusb")).unwrap();
    let work = scratch("private-view");
    let include = work.join("include.c");
    std::fs::write(
        &include,
        format!(
            "#include <stdio.h>\nint answer =\n#include \"{}/data/sample/1.ans\"\n;\n\
             int main(void) {{ printf(\"%d\\n\", answer); return 0; }}\n",
            pkg.display()
        ),
    )
    .unwrap();
    let out = run_judge(&[p(&pkg), p(&include), "--json"], &work);
    let v = json_of(&out);
    assert_eq!(v["verdict"], "CE", "{v:#}");
    let msg = v["compile"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
        + &v.to_string();
    assert!(msg.contains("No such file"), "{v:#}");
    let peek = work.join("peek.c");
    std::fs::write(
        &peek,
        format!(
            "#include <stdio.h>\n#include <stdlib.h>\n\
             int main(void) {{\n\
               FILE *f = fopen(\"{0}/problem.yaml\", \"r\");\n\
               if (f) {{ puts(\"saw the package\"); return 0; }}\n\
               long a, b; if (scanf(\"%ld %ld\", &a, &b) != 2) return 1;\n\
               printf(\"%ld\\n\", a + b); return 0;\n\
             }}\n",
            pkg.display()
        ),
    )
    .unwrap();
    let out = run_judge(&[p(&pkg), p(&peek), "--json"], &work);
    let v = json_of(&out);
    assert_eq!(v["verdict"], "AC", "{v:#}");
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Issue 17, item 5: a submission that keeps running, or dies of SIGPIPE, after the
/// validator rejected it gets the validator's WA, every time.
#[test]
fn interactive_wa_stands_when_the_validator_ended_first() {
    if !need(host_problem()) {
        return;
    }
    let dir = corpora().join("guess");
    let work = scratch("after-wa");
    for round in 0..3 {
        let out = run_judge(
            &[
                dir.to_str().unwrap(),
                "--verify-submissions",
                "--filter",
                "_after_wa",
                "--json",
                "-j2",
            ],
            &work,
        );
        let v = json_of(&out);
        let subs = v["submissions"].as_array().unwrap();
        assert_eq!(subs.len(), 2, "{v:#}");
        for s in subs {
            assert_eq!(s["verdict"], "WA", "round {round}: {s:#}");
        }
        assert_eq!(out.status.code(), Some(0));
    }
}

const ECHO_VALIDATOR: &str = "\
import sys
ans = open(sys.argv[2]).read().split()
out = sys.stdin.read().split()
if out != ans:
    open(sys.argv[3] + 'judgemessage.txt', 'w').write('expected %s, got %s' % (ans, out))
    sys.exit(43)
sys.exit(42)
";

/// Issue 17, item 2: problemtools' layout `output_validator/<name>/` and test files that
/// are links inside the package (to another group's files) work; a directory link that
/// loops is refused by name.
#[test]
fn nested_output_validator_and_linked_test_files() {
    if !need(host_problem()) {
        return;
    }
    let work = scratch("nested-validator");
    let pkg = work.join("echo");
    package(
        &pkg,
        &[
            (
                "problem.yaml",
                "problem_format_version: 2023-07\nname: echo\nlimits: {time_limit: 2}\n",
            ),
            ("data/sample/1.in", "1 2\n"),
            ("data/sample/1.ans", "1 2\n"),
            ("data/secret/group/2.in", "3\n"),
            ("data/secret/group/2.ans", "3\n"),
            (
                "output_validator/echo_validator/validate.py",
                ECHO_VALIDATOR,
            ),
            (
                "submissions/accepted/cat.py",
                "import sys\nsys.stdout.write(sys.stdin.read())\n",
            ),
            ("submissions/wrong_answer/nothing.py", "print(0)\n"),
        ],
    );
    for f in ["1.in", "1.ans"] {
        std::os::unix::fs::symlink(
            format!("../../sample/{f}"),
            pkg.join("data/secret/group").join(f),
        )
        .unwrap();
    }
    let out = run_judge(
        &[pkg.to_str().unwrap(), "--verify-submissions", "--json"],
        &work,
    );
    let v = json_of(&out);
    assert_eq!(v["all_matched"], true, "{v:#}");
    let acc = &v["submissions"][0];
    assert_eq!(acc["path"], "submissions/accepted/cat.py");
    assert_eq!(
        case_names(&acc["judgement"]),
        ["sample/1", "secret/group/1", "secret/group/2"]
    );
    let wa = &v["submissions"][1]["judgement"];
    assert!(
        wa["message"]
            .as_str()
            .unwrap()
            .contains("expected ['1', '2']"),
        "{wa:#}"
    );
    // A link to a directory above it would make the walk endless: refused, named.
    std::os::unix::fs::symlink("..", pkg.join("data/secret/group/loop")).unwrap();
    let out = run_judge(
        &[pkg.to_str().unwrap(), "--verify-submissions", "--json"],
        &work,
    );
    assert_eq!(out.status.code(), Some(7));
    let v = json_of(&out);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("loop: a symbolic link to")
            && v["error"].as_str().unwrap().contains("(a cycle)"),
        "{v:#}"
    );
}

/// Issue 17, item 8: --json always prints one object (an error object when refused); the
/// table shows a judge error's whole message; compiler messages name the submission's file,
/// not the work tree; a verification that judges nothing is not a failure.
#[test]
fn human_and_machine_output_conformance() {
    if !need(host_problem()) {
        return;
    }
    let work = scratch("output-conformance");
    // Refused package, --json: a JSON error object on stdout, exit 7.
    let out = run_judge(
        &[
            work.join("missing").to_str().unwrap(),
            "--verify-submissions",
            "--json",
        ],
        &work,
    );
    assert_eq!(out.status.code(), Some(7));
    let v = json_of(&out);
    assert_eq!(v["kind"], "bad_input", "{v:#}");
    assert_eq!(v["exit_code"], 7);
    assert!(v["error"].as_str().unwrap().contains("missing"), "{v:#}");

    // A judge error whose explanation is long and spans lines: shown whole.
    let pkg = work.join("je");
    let tail = "THE-END-OF-A-LONG-EXPLANATION";
    package(
        &pkg,
        &[
            ("problem.yaml", "validation: custom\nlimits: {time_limit: 1}\n"),
            ("data/secret/1.in", "1\n"),
            ("data/secret/1.ans", "1\n"),
            (
                "output_validators/v/validate.py",
                &format!(
                    "import sys\nsys.stderr.write('validator failed: ' + 'x' * 150 + '\\nsecond line {tail}\\n')\nsys.exit(3)\n"
                ),
            ),
            ("submissions/accepted/one.py", "print(1)\n"),
        ],
    );
    let src = pkg.join("submissions/accepted/one.py");
    let copy = work.join("one.py");
    std::fs::copy(&src, &copy).unwrap();
    let out = run_judge(&[pkg.to_str().unwrap(), copy.to_str().unwrap()], &work);
    assert_eq!(out.status.code(), Some(5));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains(tail), "{table}");

    // A compilation error names the submission's file, not the build directory.
    let bad = work.join("broken_prog.c");
    std::fs::write(&bad, "int main(void) { return missing_symbol; }\n").unwrap();
    let aplusb = corpora().join("aplusb");
    let out = run_judge(
        &[aplusb.to_str().unwrap(), bad.to_str().unwrap(), "--json"],
        &work,
    );
    let v = json_of(&out);
    assert_eq!(v["verdict"], "CE", "{v:#}");
    let msg = v["message"].as_str().unwrap();
    assert!(msg.contains("broken_prog.c:1:"), "{msg}");
    assert!(!msg.contains(work.to_str().unwrap()), "{msg}");

    // Nothing to judge (the filter matches no submission): not a mismatch, exit 0.
    let out = run_judge(
        &[
            aplusb.to_str().unwrap(),
            "--verify-submissions",
            "--filter",
            "no-such-submission",
            "--json",
        ],
        &work,
    );
    let v = json_of(&out);
    assert_eq!(v["total"], 0, "{v:#}");
    assert_eq!(out.status.code(), Some(0));
}

const SCORE_VALIDATOR: &str = "\
import sys
out = sys.stdin.read().split()
if not out:
    sys.exit(43)
open(sys.argv[3] + 'score.txt', 'w').write(out[0])
sys.exit(42)
";

/// Issue 17, item 6: a legacy `range` is the full score (problemtools' rule), and a
/// `score.txt` without custom scoring is the validator's error (JE), as in problemtools.
#[test]
fn legacy_range_and_score_txt_need_custom_scoring() {
    if !need(host_problem()) {
        return;
    }
    let work = scratch("range");
    let pkg = work.join("scored");
    package(
        &pkg,
        &[
            (
                "problem.yaml",
                "type: scoring\nvalidation: custom score\nlimits: {time_limit: 1}\n",
            ),
            ("data/testdata.yaml", "range: 0 100\non_reject: continue\n"),
            (
                "data/secret/testdata.yaml",
                "range: 0 100\ngrader_flags: max\n",
            ),
            ("data/secret/1.in", "1\n"),
            ("data/secret/1.ans", "1\n"),
            ("data/secret/2.in", "2\n"),
            ("data/secret/2.ans", "2\n"),
            ("output_validators/v/validate.py", SCORE_VALIDATOR),
            ("submissions/accepted/full.py", "print(100)\n"),
            ("submissions/partially_accepted/half.py", "print(50)\n"),
        ],
    );
    let out = run_judge(
        &[pkg.to_str().unwrap(), "--verify-submissions", "--json"],
        &work,
    );
    let v = json_of(&out);
    assert_eq!(v["all_matched"], true, "{v:#}");
    assert_eq!(v["submissions"][0]["score"], 100.0);
    assert_eq!(v["submissions"][0]["max_score"], 100.0);
    assert_eq!(v["submissions"][1]["score"], 50.0);

    // The same validator in a package without `validation: custom score`: JE.
    package(
        &pkg,
        &[(
            "problem.yaml",
            "type: scoring\nvalidation: custom\nlimits: {time_limit: 1}\n",
        )],
    );
    let src = work.join("full.py");
    std::fs::write(&src, "print(100)\n").unwrap();
    let out = run_judge(
        &[pkg.to_str().unwrap(), src.to_str().unwrap(), "--json"],
        &work,
    );
    let v = json_of(&out);
    assert_eq!(v["verdict"], "JE", "{v:#}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("does not have custom scoring"),
        "{v:#}"
    );
    assert_eq!(out.status.code(), Some(5));
}

/// Issue 17, item 7: DOMjudge's annotations and directories.
#[test]
fn domjudge_annotations_and_directories() {
    if !need(host_problem()) {
        return;
    }
    let work = scratch("domjudge");
    let pkg = work.join("dj");
    package(
        &pkg,
        &[
            ("domjudge-problem.ini", "name='A plus B'\ntimelimit='1'\n"),
            ("problem.yaml", "name: aplusb\n"),
            ("data/secret/1.in", "1 2\n"),
            ("data/secret/1.ans", "3\n"),
            // Lower case marker, DOMjudge's remapped Kattis names.
            (
                "submissions/mixed-verdicts/sum.py",
                "# @expected_results@: WRONG_ANSWER, accepted\nprint(sum(map(int, input().split())))\n",
            ),
            (
                "submissions/check_manually/tle.py",
                "# @EXPECTED_RESULTS@: TIME_LIMIT_EXCEEDED,RUN_TIME_ERROR\nwhile True: pass\n",
            ),
            (
                "submissions/no_output/quiet.py",
                "# @EXPECTED_RESULTS@: NO-OUTPUT\npass\n",
            ),
            // Untagged in a directory that names no verdict: skipped.
            ("submissions/multiple/untagged.py", "print(3)\n"),
            // One bad tag, one duplicate: those two are skipped, the rest is judged.
            (
                "submissions/accepted/typo.py",
                "# @EXPECTED_RESULTS@: CORECT\nprint(3)\n",
            ),
            (
                "submissions/accepted/twice.py",
                "# @EXPECTED_RESULTS@: CORRECT\n# @EXPECTED_RESULTS@: CORRECT\nprint(3)\n",
            ),
            (
                "submissions/accepted/dup.py",
                "# @EXPECTED_RESULTS@: CORRECT, ACCEPTED\nprint(3)\n",
            ),
        ],
    );
    let out = run_judge(
        &[
            pkg.to_str().unwrap(),
            "--verify-submissions",
            "--json",
            "-j2",
        ],
        &work,
    );
    let v = json_of(&out);
    let judged: Vec<(&str, &str)> = v["submissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["path"].as_str().unwrap(), s["verdict"].as_str().unwrap()))
        .collect();
    assert_eq!(
        judged,
        [
            ("submissions/check_manually/tle.py", "TLE"),
            ("submissions/mixed-verdicts/sum.py", "AC"),
            ("submissions/no_output/quiet.py", "WA"),
        ],
        "{v:#}"
    );
    assert_eq!(v["all_matched"], true, "{v:#}");
    let skipped: Vec<(String, String)> = v["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["path"].as_str().unwrap().to_owned(),
                s["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let reason = |p: &str| {
        skipped
            .iter()
            .find(|s| s.0 == p)
            .unwrap_or_else(|| panic!("{p} not skipped: {skipped:?}"))
            .1
            .clone()
    };
    assert!(reason("submissions/accepted/typo.py").contains("unknown result `CORECT`"));
    assert!(reason("submissions/accepted/twice.py").contains("more than once"));
    assert!(reason("submissions/accepted/dup.py").contains("given twice"));
    assert!(reason("submissions/multiple/").contains("untagged.py"));
    assert_eq!(out.status.code(), Some(0));
}

/// Issue 17, item 3: Bash is built in (`.sh`, DOMjudge's `.bash`; a syntax error is CE),
/// and `--languages` lists what is available here with versions.
#[test]
fn bash_submissions_and_the_language_list() {
    if !need(host_problem()) {
        return;
    }
    let work = scratch("bash");
    let aplusb = corpora().join("aplusb");
    for (name, text, verdict) in [
        ("sum.sh", "read a b\necho $((a + b))\n", "AC"),
        ("sum.bash", "read a b\necho $((a + b))\n", "AC"),
        ("broken.sh", "if then fi (\n", "CE"),
    ] {
        let src = work.join(name);
        std::fs::write(&src, text).unwrap();
        let out = run_judge(
            &[aplusb.to_str().unwrap(), src.to_str().unwrap(), "--json"],
            &work,
        );
        let v = json_of(&out);
        assert_eq!(v["verdict"], verdict, "{name}: {v:#}");
        assert_eq!(v["language"], "bash", "{name}: {v:#}");
    }
    let out = Command::new(judge_bin())
        .args(["--languages", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v = json_of(&out);
    let bash = v
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == "bash")
        .expect("bash listed");
    assert_eq!(bash["available"], true);
    assert!(
        bash["version"].as_str().unwrap().contains("bash"),
        "{bash:#}"
    );
    let human = Command::new(judge_bin())
        .arg("--languages")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(
        text.lines()
            .any(|l| l.starts_with("bash") && l.contains(".sh .bash")),
        "{text}"
    );
}

/// Compilers write their temporaries to /tmp: a program with a 100 MiB initialised array
/// needs an object file of that size, more than a run's 64 MiB scratch. The compile step gets
/// its own (`--compile-scratch`, 1 GiB by default); shrunk below what the compiler needs, the
/// same program is a compile error.
#[test]
fn compilers_get_a_scratch_of_their_own() {
    if !need(host_problem()) {
        return;
    }
    let work = scratch("bigarray");
    let aplusb = corpora().join("aplusb");
    let src = work.join("big.c");
    std::fs::write(
        &src,
        "#include <stdio.h>\nchar big[100 << 20] = {1};\nint main(void) {\n  long a, b;\n  \
         if (scanf(\"%ld %ld\", &a, &b) != 2) return 1;\n  \
         printf(\"%ld\\n\", a + b + big[(a * a + 7) % sizeof big] - big[7]);\n  return 0;\n}\n",
    )
    .unwrap();
    let out = run_judge(
        &[aplusb.to_str().unwrap(), src.to_str().unwrap(), "--json"],
        &work,
    );
    let v = json_of(&out);
    assert_eq!(v["verdict"], "AC", "{v:#}");
    let out = run_judge(
        &[
            aplusb.to_str().unwrap(),
            src.to_str().unwrap(),
            "--json",
            "--compile-scratch",
            "16M",
        ],
        &work,
    );
    let v = json_of(&out);
    assert_eq!(v["verdict"], "CE", "{v:#}");
}

/// 2025-09, after the specification's "maximal" example: constants substituted in the
/// validators, included files and submissions; include/<language>/ and include/default/
/// copied into each submission; an input validator built by `build`/`run` scripts;
/// submissions.yaml's `language`, `entrypoint`, `message` and per-test-group requirements.
#[test]
fn corpus_maximal2025_include_constants_scripts_submissions_yaml() {
    if !need(host_problem()) {
        return;
    }
    let v = verify("maximal2025");
    let paths: Vec<&str> = v.iter().map(|x| x.0.as_str()).collect();
    assert_eq!(
        paths,
        [
            "submissions/accepted/accepted.py",
            "submissions/accepted/entry",
            "submissions/accepted/with_include.cpp",
            "submissions/accepted/without_include.py",
            "submissions/run_time_error/not_defined",
            "submissions/time_limit_exceeded/solves_small.py",
            "submissions/time_limit_exceeded/tle.py",
            "submissions/wrong_answer/wrong.py",
        ]
    );
    // The requirement about some groups made every case run: AC on the small ones, TLE
    // on the large ones.
    let small = &v
        .iter()
        .find(|x| x.0.ends_with("solves_small.py"))
        .unwrap()
        .2;
    let got: Vec<(&str, &str)> = small["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["verdict"].as_str().unwrap()))
        .collect();
    assert_eq!(
        got,
        [
            ("sample/1", "AC"),
            ("secret/1", "AC"),
            ("secret/2", "TLE"),
            ("secret/3", "TLE"),
            ("secret/4", "AC")
        ]
    );
    // The validator's message, with the constant substituted in its source.
    let wrong = &v.iter().find(|x| x.0.ends_with("wrong.py")).unwrap().2;
    assert_eq!(wrong["message"], "expected 42, got Forty-Two");
    // The input validator (build/run scripts, a constant in its C source) rejects
    // data/invalid_input.
    let work = scratch("maximal2025-inputs");
    let dir = corpora().join("maximal2025");
    let out = run_judge(
        &[dir.to_str().unwrap(), "--validate-input", "--json"],
        &work,
    );
    let r = json_of(&out);
    assert_eq!(r["all_ok"], true, "{r:#}");
    let big = r["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "invalid_input/too_big")
        .unwrap();
    assert_eq!(big["runs"][0]["status"], "invalid", "{big:#}");
    assert!(big["runs"][0]["message"]
        .as_str()
        .unwrap()
        .contains("5000 is out of range"));
    // The time limit derived from submissions.yaml's bounds: the accepted ones (and
    // wrong_answer, run_time_error) below, the time_limit_exceeded ones above.
    let out = run_judge(
        &[
            dir.to_str().unwrap(),
            "--verify-submissions",
            "--derive-time-limit",
            "--json",
            "-j2",
            "--filter",
            "accepted/accepted.py",
        ],
        &work,
    );
    let r = json_of(&out);
    let d = &r["time_limit_derivation"];
    assert_eq!(d["time_limit_us"], 1_000_000, "{d:#}");
    let tle: Vec<&str> = d["time_limit_exceeded"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["path"].as_str().unwrap())
        .collect();
    assert!(
        tle.contains(&"submissions/time_limit_exceeded/solves_small.py"),
        "{d:#}"
    );
}

/// A submission outside the package gets the included files but no constant substitution;
/// a language `languages` does not list is refused (CE).
#[test]
fn v2025_include_for_outside_submissions_and_languages() {
    if !need(host_problem()) {
        return;
    }
    let work = scratch("v2025-outside");
    let dir = corpora().join("maximal2025");
    let src = work.join("sub.py");
    std::fs::write(
        &src,
        "import include\nprint(int(input()) + include.magic_constant)\n",
    )
    .unwrap();
    let out = run_judge(
        &[dir.to_str().unwrap(), src.to_str().unwrap(), "--json"],
        &work,
    );
    assert_eq!(
        json_of(&out)["verdict"],
        "AC",
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let raw = work.join("raw.py");
    std::fs::write(&raw, "print(int(input()) + {{example_constant}})\n").unwrap();
    let out = run_judge(
        &[dir.to_str().unwrap(), raw.to_str().unwrap(), "--json"],
        &work,
    );
    assert_ne!(json_of(&out)["verdict"], "AC");
    let c = work.join("sub.c");
    std::fs::write(&c, "int main(void) { return 0; }\n").unwrap();
    let out = run_judge(
        &[dir.to_str().unwrap(), c.to_str().unwrap(), "--json"],
        &work,
    );
    let r = json_of(&out);
    assert_eq!(r["verdict"], "CE");
    assert!(
        r["message"].as_str().unwrap().contains("not allowed"),
        "{r:#}"
    );
}

/// 2025-09 scoring: `max_score` (one from a constant in test_group.yaml), pass-fail and sum
/// aggregation, `require_pass`, `args`, `score_multiplier.txt`, and submissions.yaml
/// scores per group.
#[test]
fn corpus_scoring2025_groups_require_pass_args_multiplier() {
    if !need(host_problem()) {
        return;
    }
    let v = verify("scoring2025");
    let get = |name: &str| &v.iter().find(|x| x.0.ends_with(name)).unwrap().2;
    let scores = |j: &Value| -> Vec<(String, f64)> {
        j["group_scores"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| {
                (
                    g["name"].as_str().unwrap().to_owned(),
                    g["score"].as_f64().unwrap(),
                )
            })
            .collect()
    };
    let full = get("full.py");
    assert_eq!(
        (full["score"].as_f64(), full["max_score"].as_f64()),
        (Some(100.0), Some(100.0))
    );
    let part = get("group1_only.py");
    assert_eq!(
        scores(part),
        [
            ("secret".into(), 65.0),
            ("secret/group1".into(), 30.0),
            ("secret/group2".into(), 35.0)
        ]
    );
    // score_multiplier.txt 0.5 of each group2 case's 70 / 2.
    let c = part["cases"].as_array().unwrap();
    assert_eq!(c.last().unwrap()["score"].as_f64(), Some(17.5));
    // group2 is accepted but requires group1, which is not.
    let skip = get("skip_group1.py");
    assert_eq!(skip["score"].as_f64(), Some(0.0));
    assert_eq!(scores(skip)[2], ("secret/group2".into(), 0.0));
    // Judged alone (not verified group by group), group2 is not judged: its cases are
    // skipped (as problemtools and BAPCtools do), not run; the event report says why.
    let work = scratch("require-pass-skip");
    let events = work.join("events.jsonl");
    let pkg = corpora().join("scoring2025");
    let out = run_judge(
        &[
            pkg.to_str().unwrap(),
            pkg.join("submissions/wrong_answer/skip_group1.py")
                .to_str()
                .unwrap(),
            "--json",
            "-j2",
            "--report",
            events.to_str().unwrap(),
        ],
        &work,
    );
    let skip = json_of(&out);
    assert_eq!(skip["score"].as_f64(), Some(0.0));
    let names: Vec<&str> = skip["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(
        !names.iter().any(|n| n.starts_with("secret/group2/")),
        "{names:?}"
    );
    // group1 stops at its first rejection (pass-fail); group2 is not judged at all.
    assert_eq!(skip["skipped"].as_u64(), Some(3), "{skip:#}");
    assert_eq!(skip["verdict"], "WA");
    let skipped: Vec<Value> = std::fs::read_to_string(&events)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["event"] == "case_skipped")
        .collect();
    // Skipped (when not already started) because of a rejection in what they need.
    assert!(
        skipped.iter().all(|e| {
            let (id, cause) = (e["id"].as_str().unwrap(), e["because_of"].as_str().unwrap());
            id.starts_with("secret/group")
                && (cause.starts_with("sample/") || cause.starts_with("secret/group1/"))
        }),
        "{skipped:?}"
    );
}

/// 2025-09 package with submissions started by `build`/`run` scripts (a compiled one, a
/// `run` alone, a `build` that writes `run`), and `data/invalid_output` / `data/valid_output`
/// checked against the output validator before the submissions.
#[test]
fn corpus_scripts2025_build_run_submissions_and_output_checks() {
    if !need(host_problem()) {
        return;
    }
    let v = verify("scripts2025");
    let got: Vec<(&str, &str)> = v.iter().map(|x| (x.0.as_str(), x.1.as_str())).collect();
    assert_eq!(
        got,
        [
            ("submissions/accepted/compiled", "AC"),
            ("submissions/accepted/shell_run", "AC"),
            ("submissions/wrong_answer/off_by_one", "WA")
        ]
    );
    // The compiled one was built by its script (a compile step), the others need none.
    assert!(v[0].2["compile"]["verdict"] == "AC", "{:#}", v[0].2);
    let work = scratch("scripts2025");
    let pkg = work.join("scripts2025");
    let _ = std::fs::remove_dir_all(&pkg);
    let st = Command::new("cp")
        .arg("-r")
        .arg(corpora().join("scripts2025"))
        .arg(&pkg)
        .status()
        .unwrap();
    assert!(st.success());
    let check = |pkg: &Path| {
        let out = run_judge(
            &[pkg.to_str().unwrap(), "--validate-package", "--json"],
            &work,
        );
        (out.status.code(), json_of(&out))
    };
    let (code, r) = check(&pkg);
    assert_eq!(
        (code, r["all_ok"].as_bool()),
        (Some(0), Some(true)),
        "{r:#}"
    );
    let outs: Vec<(&str, &str)> = r["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["name"].as_str().unwrap().ends_with(".out"))
        .map(|f| (f["name"].as_str().unwrap(), f["expected"].as_str().unwrap()))
        .collect();
    assert_eq!(
        outs,
        [
            ("invalid_output/extra_token.out", "rejected"),
            ("invalid_output/not_a_number.out", "rejected"),
            ("invalid_output/wrong.out", "rejected"),
            ("valid_output/spaces.out", "accepted"),
        ]
    );
    // An invalid output the validator accepts, and a valid one it rejects: both reported,
    // and the submissions' verification fails because of them.
    package(
        &pkg,
        &[
            ("data/invalid_output/right.in", "4 5\n"),
            ("data/invalid_output/right.ans", "9\n"),
            ("data/invalid_output/right.out", "9\n"),
            ("data/valid_output/two_lines.in", "4 5\n"),
            ("data/valid_output/two_lines.ans", "9\n"),
            ("data/valid_output/two_lines.out", "9\n9\n"),
        ],
    );
    let (code, r) = check(&pkg);
    assert_eq!(code, Some(1), "{r:#}");
    let bad: Vec<(&str, Value)> = r["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["ok"] == false)
        .map(|f| {
            (
                f["name"].as_str().unwrap(),
                f["runs"][0]["exit_code"].clone(),
            )
        })
        .collect();
    assert_eq!(
        bad,
        [
            ("invalid_output/right.out", Value::from(42)),
            ("valid_output/two_lines.out", Value::from(43))
        ]
    );
    let out = run_judge(&[pkg.to_str().unwrap(), "--validate-input"], &work);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("FAIL invalid_output/right.out") && text.contains("expected rejected"),
        "{text}"
    );
    // A `.out` is required in data/invalid_output.
    std::fs::remove_file(pkg.join("data/invalid_output/right.out")).unwrap();
    let (code, r) = check(&pkg);
    assert_eq!(code, Some(7), "{r:#}");
    assert!(r["error"].as_str().unwrap().contains("right.out"), "{r:#}");

    // A submission directory given on the command line: a `build` that leaves no `run` is
    // CE, with the reason.
    let sub = work.join("no_run");
    let _ = std::fs::remove_dir_all(&sub);
    std::fs::create_dir_all(&sub).unwrap();
    let st = Command::new("sh")
        .arg("-c")
        .arg("printf '#!/bin/sh\\necho building\\n' > build && chmod +x build")
        .current_dir(&sub)
        .status()
        .unwrap();
    assert!(st.success());
    let out = run_judge(
        &[
            corpora().join("scripts2025").to_str().unwrap(),
            sub.to_str().unwrap(),
            "--json",
        ],
        &work,
    );
    let r = json_of(&out);
    assert_eq!(r["verdict"], "CE", "{r:#}");
    assert!(
        r["message"]
            .as_str()
            .unwrap()
            .contains("no executable `run`"),
        "{r:#}"
    );
}

/// 2025-09 static validation: `secret`'s static validation test case (20 of 100 points,
/// `static_validator_args`) runs the static validator on each submission's files (a C build
/// directory, Python sources); its verdict and score join the submission's.
#[test]
fn corpus_static2025_static_validator() {
    if !need(host_problem()) {
        return;
    }
    let v = verify("static2025");
    let get = |name: &str| &v.iter().find(|x| x.0.ends_with(name)).unwrap().2;
    let static_case = |j: &Value| -> Value {
        j["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "secret/static_validation")
            .cloned()
            .unwrap_or(Value::Null)
    };
    for (name, score, verdict, case_score) in [
        ("short.c", 100.0, "AC", Some(20.0)),
        ("short.py", 100.0, "AC", Some(20.0)),
        ("long.py", 90.0, "AC", Some(10.0)),
        ("uses_eval.py", 80.0, "WA", None),
    ] {
        let j = get(name);
        assert_eq!(j["score"].as_f64(), Some(score), "{name}: {j:#}");
        let c = static_case(j);
        assert_eq!(c["verdict"], verdict, "{name}: {c:#}");
        assert_eq!(
            c["score"].as_f64(),
            case_score.or(Some(0.0)),
            "{name}: {c:#}"
        );
    }
    assert!(
        static_case(get("uses_eval.py"))["message"]
            .as_str()
            .unwrap()
            .contains("uses_eval.py (python3) calls eval"),
        "the validator gets the language and the entry point"
    );
    // The static validator sees the submission's files, not the test data: a binary has no
    // files to judge (JE, named).
    let work = scratch("static2025");
    let bin = work.join("true");
    // Copied by a child (an executable written here could be held open by a fork: ETXTBSY).
    let st = Command::new("cp")
        .arg("/bin/true")
        .arg(&bin)
        .status()
        .unwrap();
    assert!(st.success());
    let out = run_judge(
        &[
            corpora().join("static2025").to_str().unwrap(),
            "--binary",
            bin.to_str().unwrap(),
            "--json",
        ],
        &work,
    );
    let r = json_of(&out);
    assert!(
        r["cases"].as_array().unwrap().iter().any(
            |c| c["verdict"] == "JE" && c["message"].as_str().unwrap().contains("source files")
        ),
        "{r:#}"
    );
}

/// `--verify-submissions` skips (and names) a submission whose language has no toolchain
/// here, as verifyproblem does, and judges the rest; judged alone, it is a JE that names the
/// missing program.
#[test]
fn verify_skips_languages_not_installed_here() {
    if !need(host_problem()) {
        return;
    }
    let work = scratch("not-installed");
    let pkg = work.join("p");
    package(
        &pkg,
        &[
            ("problem.yaml", "name: sum\n"),
            (".timelimit", "1\n"),
            ("data/secret/1.in", "1 2\n"),
            ("data/secret/1.ans", "3\n"),
            ("submissions/accepted/sum.sh", "read a b\necho $((a + b))\n"),
            ("submissions/accepted/sum.nope", "whatever\n"),
        ],
    );
    let langs = work.join("langs.toml");
    std::fs::write(
        &langs,
        "[languages.nope]\nextensions = [\"nope\"]\nrun = \"hatchery-no-such-interpreter {source}\"\n",
    )
    .unwrap();
    let l = langs.to_str().unwrap();
    let out = run_judge(
        &[
            pkg.to_str().unwrap(),
            "--verify-submissions",
            "--json",
            "--languages",
            l,
        ],
        &work,
    );
    let v = json_of(&out);
    assert_eq!(out.status.code(), Some(0), "{v:#}");
    assert_eq!(v["submissions"].as_array().unwrap().len(), 1, "{v:#}");
    let skipped = v["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1, "{v:#}");
    assert_eq!(skipped[0]["path"], "submissions/accepted/sum.nope");
    assert!(
        skipped[0]["reason"]
            .as_str()
            .unwrap()
            .contains("`hatchery-no-such-interpreter` is not installed here"),
        "{v:#}"
    );
    let src = pkg.join("submissions/accepted/sum.nope");
    let out = run_judge(
        &[
            pkg.to_str().unwrap(),
            src.to_str().unwrap(),
            "--json",
            "--languages",
            l,
        ],
        &work,
    );
    let v = json_of(&out);
    assert_eq!(v["verdict"], "JE", "{v:#}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("hatchery-no-such-interpreter"),
        "{v:#}"
    );
}

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
        let cfg = hatchery_judge::engine::EngineConfig {
            tier: hatchery_sandbox::Tier::Hardened,
            tool_tier: hatchery_sandbox::Tier::Hardened,
            zygote_exe: judge_bin(),
            cgroup: hatchery_sandbox::policy::CgroupMode::Auto,
            workers: 1,
        };
        match hatchery_judge::engine::Engine::start(cfg) {
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
                let cpu = failing.unwrap()["cpu_us"].as_u64().unwrap();
                assert!(cpu >= 1_000_000, "{path}: TLE after only {cpu} µs of CPU");
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
            "WA" => assert_eq!(j["failed_case"], "secret/02", "{path}"),
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
    assert!(finished[3].result.reason.starts_with("judge_verdict=WA"));
    assert!(!finished[3].passed && finished[1].passed);
    match events.last() {
        Some(Event::RunFinished(rf)) => {
            assert_eq!((rf.passed, rf.failed, rf.not_run), (3, 1, 1));
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
    // --command
    let py = pkg.join("submissions/accepted/sum.py");
    let cmd = format!("python3 {}", py.display());
    let out = run_judge(&[pkg.to_str().unwrap(), "--command", &cmd, "--json"], &work);
    assert_eq!(json_of(&out)["verdict"], "AC", "{out:?}");
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

/// A `PATH` entry with a `rustc` the sandboxed user can run. As root, cases run as uid
/// 65534, which cannot reach a rustup toolchain under /root: the toolchain's `rustc`, its
/// libraries and the target's standard library are hard-linked (same inodes, same modes) into
/// the target directory, which it can reach.
fn reachable_rustc(work: &Path) -> Result<Option<PathBuf>, String> {
    let wd = hatchery_judge::engine::WorkDir::create(work, false)?;
    if hatchery_judge::engine::Resolver::default()
        .resolve("rustc", &wd)
        .is_ok()
    {
        return Ok(None);
    }
    let out = Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .map_err(|e| format!("rustc is not installed: {e}"))?;
    let sysroot = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let host = String::from_utf8_lossy(
        &Command::new("rustc")
            .arg("-vV")
            .output()
            .map_err(|e| e.to_string())?
            .stdout,
    )
    .lines()
    .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
    .ok_or("cannot tell rustc's host triple")?;
    let dst = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("rust-sysroot");
    if dst.join("bin/rustc").is_file() {
        return Ok(Some(dst.join("bin")));
    }
    let staging = dst.with_extension(format!("tmp{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    fn link_tree(from: &Path, to: &Path) -> std::io::Result<()> {
        if from.is_dir() {
            std::fs::create_dir_all(to)?;
            for e in std::fs::read_dir(from)? {
                let e = e?;
                link_tree(&e.path(), &to.join(e.file_name()))?;
            }
            Ok(())
        } else {
            std::fs::hard_link(from, to)
        }
    }
    let link = || -> std::io::Result<()> {
        std::fs::create_dir_all(staging.join("bin"))?;
        std::fs::create_dir_all(staging.join("lib"))?;
        std::fs::hard_link(sysroot.join("bin/rustc"), staging.join("bin/rustc"))?;
        // librustc_driver and friends.
        for e in std::fs::read_dir(sysroot.join("lib"))? {
            let e = e?;
            if e.path().is_file() {
                std::fs::hard_link(e.path(), staging.join("lib").join(e.file_name()))?;
            }
        }
        let t = format!("lib/rustlib/{host}");
        link_tree(&sysroot.join(&t), &staging.join(&t))
    };
    link().map_err(|e| {
        format!(
            "the rustc toolchain at {} cannot be reached by the sandboxed user and cannot be \
             hard-linked to where it can: {e}",
            sysroot.display()
        )
    })?;
    let _ = std::fs::rename(&staging, &dst);
    let _ = std::fs::remove_dir_all(&staging);
    Ok(Some(dst.join("bin")))
}

#[test]
fn rust_submissions_compile_with_rustc() {
    if !need(host_problem()) {
        return;
    }
    let work = scratch("rust");
    let extra_path = match reachable_rustc(&work) {
        Ok(p) => p,
        Err(e) => {
            need(Some(&e));
            return;
        }
    };
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
    let mut cmd = Command::new(judge_bin());
    cmd.arg(&pkg)
        .arg(&src)
        .arg("--json")
        .arg("--workdir")
        .arg(&work);
    if let Some(p) = extra_path {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs = vec![p];
        dirs.extend(std::env::split_paths(&path));
        cmd.env("PATH", std::env::join_paths(dirs).unwrap());
    }
    let out = cmd.output().unwrap();
    let v = json_of(&out);
    assert_eq!(v["verdict"], "AC", "{v:#}");
    assert_eq!(v["language"], "rust");
    assert_eq!(v["compile"]["verdict"], "AC");
}

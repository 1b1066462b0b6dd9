//! A real zygote per test (the test-only `hatchery-test-zygote` binary), several cases on it:
//! what counts as a leftover process, scratch space that names cannot defeat, and programs
//! the kernel refuses to execute. Tiers with namespaces need user namespaces: without them the
//! tests say so and skip (or fail under `HATCHERY_TEST_REQUIRE=all`).

use std::ffi::OsString;
use std::path::PathBuf;

use hatchery_report::{CaseResult, Limits, Outcome};
use hatchery_sandbox::policy::CgroupMode;
use hatchery_sandbox::{CaseSpec, Sandbox, SandboxConfig, Tier};

fn require_all() -> bool {
    std::env::var("HATCHERY_TEST_REQUIRE").is_ok_and(|v| v == "all")
}

/// A zygote of `tier`, or `None` after saying why this host cannot start one.
fn zygote(tier: Tier) -> Option<Sandbox> {
    let mut cfg = SandboxConfig::new(
        tier,
        PathBuf::from(env!("CARGO_BIN_EXE_hatchery-test-zygote")),
    );
    cfg.cgroup = CgroupMode::Off;
    match Sandbox::start(cfg) {
        Ok(sb) => Some(sb),
        Err(e) if e.is_missing_feature() && !require_all() => {
            eprintln!(
                "SKIP tier {}: {}",
                tier.as_str(),
                hatchery_report::error_chain(&e)
            );
            None
        }
        Err(e) => panic!(
            "cannot start a {} zygote: {}",
            tier.as_str(),
            hatchery_report::error_chain(&e)
        ),
    }
}

fn run(sb: &mut Sandbox, argv: &[&str]) -> CaseResult {
    let mut spec = CaseSpec::new(argv.iter().map(OsString::from).collect());
    spec.cwd = PathBuf::from("/");
    spec.limits = Limits {
        wall_us: Some(10_000_000),
        output_bytes: Some(1 << 20),
        ..Limits::default()
    };
    let case = sb.prepare(&spec).expect("the case is well-formed");
    sb.run(case).expect("the zygote answers")
}

/// Writes an executable file from a child process, never from this one. A file this
/// multi-threaded test process writes may still be open for writing in a child another test
/// forks meanwhile (a zygote starting), and executing it would then fail with ETXTBSY.
fn write_executable(path: &std::path::Path, text: &str) {
    use std::io::Write;
    let mut child = std::process::Command::new("sh")
        .args(["-c", "cat > \"$1\" && chmod 755 \"$1\"", "sh"])
        .arg(path)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("sh starts");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(text.as_bytes()).unwrap();
    drop(stdin);
    assert!(
        child.wait().unwrap().success(),
        "writing {}",
        path.display()
    );
}

fn sh(sb: &mut Sandbox, script: &str) -> CaseResult {
    run(sb, &["sh", "-c", script])
}

const ALL: [Tier; 3] = [Tier::None, Tier::Hardened, Tier::Lockdown];

#[test]
fn exited_children_are_not_leftovers() {
    for tier in ALL {
        let Some(mut sb) = zygote(tier) else { continue };
        // /bin/true exits at once; its zombie waits for `sleep` (which never reaps it) and
        // then for the zygote: not a leftover.
        let r = sh(&mut sb, "/bin/true & exec sleep 0.2");
        assert_eq!(r.outcome, Outcome::Ok, "{tier:?}: {}", r.reason);
        assert_eq!(r.leftover_processes, 0, "{tier:?}");
        // Still running when the case ended: a leftover, killed.
        let r = sh(&mut sb, "sleep 30 & exec sleep 0.1");
        assert_eq!(r.outcome, Outcome::Ok, "{tier:?}: {}", r.reason);
        assert_eq!(r.leftover_processes, 1, "{tier:?}");
        // Two alive, one exited.
        let r = sh(&mut sb, "sleep 30 & sleep 30 & /bin/true & exec sleep 0.2");
        assert_eq!(r.leftover_processes, 2, "{tier:?}");
        assert!(sb.is_healthy());
    }
}

#[test]
fn scratch_names_chosen_by_a_case_do_not_defeat_the_wipe() {
    for tier in [Tier::Hardened, Tier::Lockdown] {
        let Some(mut sb) = zygote(tier) else { continue };
        let r = sh(
            &mut sb,
            "mkdir -p /tmp/.hatchery-clear-1/x/.hatchery-clear-2/y /tmp/.hatchery-clear-2/a/b/c \
             /tmp/d/.hatchery-clear-1/x && touch /tmp/.hatchery-clear-1/x/f /tmp/.hatchery-clear-3 \
             && ln -s / /tmp/root && ln -s /etc/passwd /tmp/passwd && mkdir /tmp/locked \
             && touch /tmp/locked/f && chmod 000 /tmp/locked \
             && i=0; p=/tmp/deep; while [ $i -lt 200 ]; do p=$p/d; i=$((i+1)); done; \
             mkdir -p $p && echo made",
        );
        assert_eq!(r.outcome, Outcome::Ok, "{tier:?}: {}", r.reason);
        assert_eq!(r.stdout.data, b"made\n", "{tier:?}");
        for _ in 0..2 {
            let r = sh(&mut sb, "ls -A /tmp");
            assert_eq!(r.outcome, Outcome::Ok, "{tier:?}: {}", r.reason);
            assert_eq!(
                String::from_utf8_lossy(&r.stdout.data),
                "",
                "{tier:?}: /tmp is not empty for the next case"
            );
            assert!(sb.is_healthy(), "{tier:?}: {:?}", sb.retire_reason());
        }
        assert!(std::path::Path::new("/etc/passwd").exists());
    }
}

#[test]
fn a_missing_interpreter_is_the_programs_fault() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("leftovers-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("no-interpreter.sh");
    write_executable(&script, "#!/nonexistent/interpreter -x\necho never\n");
    for tier in ALL {
        let Some(mut sb) = zygote(tier) else { continue };
        let r = run(&mut sb, &[script.to_str().unwrap()]);
        assert_eq!(r.outcome, Outcome::NonzeroExit, "{tier:?}: {}", r.reason);
        assert_eq!(r.exit_code, Some(127), "{tier:?}");
        assert_eq!(r.error, None, "{tier:?}");
        assert!(
            r.reason.contains("cannot execute the program")
                && r.reason.contains("/nonexistent/interpreter"),
            "{tier:?}: {}",
            r.reason
        );
        // The zygote goes on serving.
        let r = sh(&mut sb, "exit 0");
        assert_eq!(r.outcome, Outcome::Ok, "{tier:?}: {}", r.reason);
        assert!(sb.is_healthy());
    }
}

/// A zygote whose cleanup after a case failed reports the case as it ran, and retires: the
/// sandbox says it is no longer healthy, says why, and runs nothing more on it.
#[test]
fn a_failed_cleanup_reports_the_case_and_retires_the_zygote() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("leftovers-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let exe = dir.join("fake-retire-zygote");
    write_executable(
        &exe,
        &format!(
            "#!/bin/sh\nexec {} __fake-retire \"$@\"\n",
            env!("CARGO_BIN_EXE_hatchery-test-zygote")
        ),
    );
    let mut cfg = SandboxConfig::new(Tier::None, exe);
    cfg.cgroup = CgroupMode::Off;
    let mut sb = Sandbox::start(cfg).expect("the fake zygote starts");
    assert!(sb.is_healthy());
    let r = run(&mut sb, &["true"]);
    assert_eq!(r.outcome, Outcome::Ok, "{}", r.reason);
    assert_eq!(r.stdout.data, b"ran\n");
    assert_eq!(r.error, None);
    assert!(!sb.is_healthy());
    assert!(
        sb.retire_reason()
            .is_some_and(|w| w.contains("wipe the scratch")),
        "{:?}",
        sb.retire_reason()
    );
    // Nothing more runs on it: an error of the zygote, never a result of a program.
    let mut spec = CaseSpec::new(vec![OsString::from("true")]);
    spec.cwd = PathBuf::from("/");
    let case = sb.prepare(&spec).expect("the case is well-formed");
    let e = sb.run(case).expect_err("a retired zygote runs nothing");
    assert!(
        matches!(e, hatchery_sandbox::RunError::Retired { .. }),
        "{e:?}"
    );
}

/// A step of the zygote that fails is reported by name and errno, as the sandbox's error.
#[test]
fn a_failed_zygote_step_names_the_step_and_the_errno() {
    // A directory of the host's /tmp: the sandbox has a private /tmp without it.
    let host_dir = std::env::temp_dir().join(format!("hatchery-cwd-test-{}", std::process::id()));
    std::fs::create_dir_all(&host_dir).unwrap();
    for tier in [Tier::Hardened, Tier::Lockdown] {
        let Some(mut sb) = zygote(tier) else { continue };
        let mut spec = CaseSpec::new(vec!["true".into()]);
        spec.cwd = host_dir.clone();
        let case = sb.prepare(&spec).expect("the directory exists on the host");
        let r = sb.run(case).expect("the zygote answers");
        assert_eq!(r.outcome, Outcome::SandboxError, "{tier:?}");
        let e = r.error.unwrap_or_default();
        assert!(
            e.starts_with("the zygote failed to open the working directory inside the sandbox (")
                && e.ends_with(": ENOENT (No such file or directory)"),
            "{tier:?}: {e}"
        );
        // A failed case is not a failed zygote.
        assert!(sb.is_healthy());
        let r = sh(&mut sb, "exit 3");
        assert_eq!(r.outcome, Outcome::NonzeroExit, "{tier:?}: {}", r.reason);
    }
    std::fs::remove_dir(&host_dir).unwrap();
}

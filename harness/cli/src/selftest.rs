//! `hatchery selftest`: the hostile conformance suite (corpora/hostile, embedded at build
//! time) run through the real engine, per tier, with host-side checks after every case.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use hatchery_engine::{ExecError, ExecSettings, Executor, SandboxExecutor};
use hatchery_report::{CaseResult, Level};
use hatchery_sandbox::{CaseSpec, Tier};
use serde::Deserialize;

use crate::exit;

include!(concat!(env!("OUT_DIR"), "/hostile_corpus.rs"));

#[derive(clap::Args)]
pub struct SelftestArgs {
    /// Tier to test (repeatable; default: none, hardened and lockdown).
    #[arg(long = "tier")]
    tiers: Vec<Tier>,
    /// Only the cases whose id contains this text.
    #[arg(long)]
    filter: Option<String>,
    /// Where to build the programs (default: ./.hatchery-selftest-<pid>, removed afterwards;
    /// not under /tmp, which the sandbox replaces).
    #[arg(long)]
    workdir: Option<PathBuf>,
    /// C compiler.
    #[arg(long, env = "CC", default_value = "cc")]
    cc: String,
    /// Print the results as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Deserialize)]
struct Manifest {
    cases: Vec<Entry>,
}

#[derive(Deserialize, Clone)]
#[serde(untagged)]
enum Expect {
    Outcome(String),
    Skip { skip: String },
}

#[derive(Deserialize, Clone)]
struct FileSpec {
    content: String,
    mode: String,
}

/// A stdin file the selftest writes for a case (`<id>.in` in the work directory, `{stdin}` in
/// `args`), with files beside it (a judge's answers) that the case must not reach.
#[derive(Deserialize, Clone)]
struct StdinSpec {
    content: String,
    mode: String,
    #[serde(default)]
    beside: BTreeMap<String, String>,
}

#[derive(Deserialize, Clone)]
struct Entry {
    id: String,
    attempts: String,
    #[serde(default)]
    program: Option<String>,
    #[serde(default)]
    file: Option<FileSpec>,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    limits: serde_json::Map<String, serde_json::Value>,
    expect: BTreeMap<String, Expect>,
    #[serde(default)]
    expect_without_cgroup: Option<String>,
    #[serde(default)]
    expect_unprivileged: BTreeMap<String, String>,
    #[serde(default)]
    safe: Option<bool>,
    #[serde(default)]
    check_limit: Option<String>,
    #[serde(default)]
    no_core_file: bool,
    #[serde(default)]
    host_scratch_clean: bool,
    #[serde(default)]
    stdin: Option<StdinSpec>,
    /// The human rendering of its output (the shared escaping) holds no character a terminal
    /// would act on.
    #[serde(default)]
    human_output_clean: bool,
}

#[derive(serde::Serialize)]
struct Row {
    id: String,
    tier: &'static str,
    attempts: String,
    expected: String,
    got: String,
    passed: Option<bool>,
    detail: String,
}

struct Host {
    root: bool,
}

fn expectation(e: &Entry, tier: Tier, host: &Host, cgroup: bool) -> Expect {
    let t = tier.as_str();
    if !host.root {
        if let Some(o) = e.expect_unprivileged.get(t) {
            return Expect::Outcome(o.clone());
        }
    }
    let base = e
        .expect
        .get(t)
        .or_else(|| e.expect.get("all"))
        .cloned()
        .unwrap_or(Expect::Skip {
            skip: "no expectation for this tier".into(),
        });
    match (base, &e.expect_without_cgroup) {
        (Expect::Outcome(_), Some(o)) if !cgroup => Expect::Outcome(o.clone()),
        (b, _) => b,
    }
}

fn processes_with(marker: &str) -> Vec<u32> {
    let mut found = Vec::new();
    let me = std::process::id();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if pid == me {
            continue;
        }
        if let Ok(cmd) = std::fs::read(e.path().join("cmdline")) {
            if String::from_utf8_lossy(&cmd).contains(marker) {
                found.push(pid);
            }
        }
    }
    found
}

fn build(dir: &Path, cc: &str) -> Result<BTreeMap<String, PathBuf>, String> {
    let src = dir.join("src");
    std::fs::create_dir_all(&src).map_err(|e| format!("cannot create {}: {e}", src.display()))?;
    for (name, text) in SOURCES {
        std::fs::write(src.join(name), text).map_err(|e| format!("cannot write {name}: {e}"))?;
    }
    let mut built = BTreeMap::new();
    for (name, _) in SOURCES.iter().filter(|(n, _)| n.ends_with(".c")) {
        let out = dir.join(name.trim_end_matches(".c"));
        let o = std::process::Command::new(cc)
            .args(["-O1", "-pthread", "-o"])
            .arg(&out)
            .arg(src.join(name))
            .arg("-lrt")
            .output()
            .map_err(|e| format!("cannot run the C compiler `{cc}`: {e}"))?;
        if !o.status.success() {
            return Err(format!(
                "{cc} failed on {name}: {}",
                String::from_utf8_lossy(&o.stderr)
            ));
        }
        built.insert(name.to_string(), out);
    }
    Ok(built)
}

/// Writes `<id>.in` (with its mode) and the files beside it (readable by everyone, like a
/// package's answers); returns the stdin path.
fn write_stdin(dir: &Path, id: &str, s: &StdinSpec) -> std::io::Result<PathBuf> {
    let p = dir.join(format!("{id}.in"));
    let mode = u32::from_str_radix(&s.mode, 8)
        .map_err(|e| std::io::Error::other(format!("bad mode {}: {e}", s.mode)))?;
    std::fs::write(&p, &s.content)?;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode))?;
    for (name, content) in &s.beside {
        let b = dir.join(name);
        std::fs::write(&b, content)?;
        std::fs::set_permissions(&b, std::fs::Permissions::from_mode(0o644))?;
    }
    Ok(p)
}

fn limits_of(e: &Entry) -> Result<hatchery_report::Limits, String> {
    let line = serde_json::json!({"id": e.id, "argv": ["x"], "limits": e.limits}).to_string();
    let (jobs, errs) = hatchery::jobs::parse_jobs(&line);
    match (jobs.into_iter().next(), errs.first()) {
        (Some(j), None) => Ok(j.limits.0),
        (_, Some(err)) => Err(err.to_string()),
        _ => Err("no limits".into()),
    }
}

/// Checks one result against the entry; returns what went wrong (empty: passed).
fn check(
    e: &Entry,
    expected: &str,
    got: &str,
    r: Option<&CaseResult>,
    marker: &str,
    dir: &Path,
) -> Vec<String> {
    let mut bad = Vec::new();
    if got != expected {
        bad.push(format!("expected {expected}, got {got}"));
    }
    if let Some(r) = r {
        let out = String::from_utf8_lossy(&r.stdout.data);
        if out.contains("BREACH") {
            bad.push(
                out.lines()
                    .find(|l| l.contains("BREACH"))
                    .unwrap_or("")
                    .to_owned(),
            );
        }
        if got == "ok" && e.safe.unwrap_or(true) && !out.contains("SAFE:") {
            bad.push(format!("no SAFE line in stdout: {:?}", out.trim()));
        }
        if let Some(l) = &e.check_limit {
            let named = r.limit.map(|x| x.as_str()).unwrap_or("none");
            if named != l && got == expected {
                bad.push(format!("limit {named}, expected {l}"));
            }
        }
    }
    // Nothing the case started may survive it.
    let mut alive = processes_with(marker);
    for _ in 0..50 {
        if alive.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
        alive = processes_with(marker);
    }
    if !alive.is_empty() {
        bad.push(format!("processes survived the case: {alive:?}"));
        for p in alive {
            // Ours to clean up: they carry this run's marker.
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(p as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
    if e.no_core_file {
        let cores: Vec<String> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|d| d.file_name().to_string_lossy().into_owned())
            .filter(|n| {
                n == "core"
                    || n.strip_prefix("core.")
                        .is_some_and(|s| s.chars().all(|c| c.is_ascii_digit()))
            })
            .collect();
        if !cores.is_empty() {
            bad.push(format!("core files written: {cores:?}"));
        }
    }
    if let (true, Some(r)) = (e.human_output_clean, r) {
        for (name, c) in [("stdout", &r.stdout), ("stderr", &r.stderr)] {
            let shown = hatchery_report::escape_text(&c.data);
            if let Some(ch) = shown
                .chars()
                .find(|&ch| hatchery_report::is_terminal_control(ch))
            {
                bad.push(format!(
                    "the human rendering of {name} keeps the control character U+{:04X}",
                    ch as u32
                ));
            }
        }
    }
    if e.host_scratch_clean {
        for d in ["/tmp", "/var/tmp", "/dev/shm"] {
            for f in std::fs::read_dir(d).into_iter().flatten().flatten() {
                if f.file_name().to_string_lossy().contains(marker) {
                    bad.push(format!("left {} on the host", f.path().display()));
                    let _ = std::fs::remove_file(f.path());
                }
            }
        }
    }
    bad
}

pub fn selftest(a: SelftestArgs) -> u8 {
    let manifest: Manifest = match serde_json::from_str(MANIFEST) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("hatchery: the embedded hostile manifest is malformed: {e}");
            return exit::SANDBOX_ERROR;
        }
    };
    let run_id = std::process::id();
    let dir = a
        .workdir
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!(".hatchery-selftest-{run_id}")));
    let dir = match std::path::absolute(&dir) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("hatchery: bad --workdir: {e}");
            return exit::USAGE;
        }
    };
    let created = !dir.exists();
    if let Err(e) = std::fs::create_dir_all(&dir)
        .and_then(|_| std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)))
    {
        eprintln!("hatchery: cannot prepare {}: {e}", dir.display());
        return exit::USAGE;
    }
    let code = run_suite(&a, &manifest, &dir, run_id);
    if created && a.workdir.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    code
}

fn run_suite(a: &SelftestArgs, manifest: &Manifest, dir: &Path, run_id: u32) -> u8 {
    let built = match build(dir, &a.cc) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("hatchery: {e}");
            return exit::SANDBOX_ERROR;
        }
    };
    // A secret in our environment that no case may see.
    std::env::set_var("HATCHERY_SELFTEST_SECRET", format!("s3cret-{run_id}"));
    // An abstract unix socket on the host that no case may reach.
    use std::os::linux::net::SocketAddrExt as _;
    let abstract_name = format!("hatchery-selftest-{run_id}");
    let _listener = std::os::unix::net::SocketAddr::from_abstract_name(&abstract_name)
        .and_then(|addr| std::os::unix::net::UnixListener::bind_addr(&addr));
    let host = Host {
        root: nix::unistd::geteuid().is_root(),
    };
    let tiers = if a.tiers.is_empty() {
        vec![Tier::None, Tier::Hardened, Tier::Lockdown]
    } else {
        a.tiers.clone()
    };
    let mut rows = Vec::new();
    let mut settings = ExecSettings::new(crate::own_exe());
    settings.view.show(dir);
    let settings = std::sync::Arc::new(settings);
    for tier in tiers {
        // One executor per tier: it replaces a zygote an attack killed before the next case.
        let mut sb = SandboxExecutor::new(settings.clone(), None);
        let enforcement = match sb.enforcement(tier, hatchery_engine::Network::Off) {
            Ok(s) => s,
            Err(e) => {
                rows.push(Row {
                    id: "(zygote)".into(),
                    tier: tier.as_str(),
                    attempts: "start a zygote".into(),
                    expected: "ready".into(),
                    got: "error".into(),
                    passed: Some(false),
                    detail: crate::error_chain(&e),
                });
                continue;
            }
        };
        let cgroup = enforcement
            .get("cgroup_memory")
            .is_some_and(|l| l.level == Level::Full);
        for e in &manifest.cases {
            if a.filter
                .as_ref()
                .is_some_and(|f| !e.id.contains(f.as_str()))
            {
                continue;
            }
            let marker = format!("hatchery-selftest-{run_id}-{}-{}", tier.as_str(), e.id);
            let expected = match expectation(e, tier, &host, cgroup) {
                Expect::Skip { skip } => {
                    rows.push(Row {
                        id: e.id.clone(),
                        tier: tier.as_str(),
                        attempts: e.attempts.clone(),
                        expected: "skip".into(),
                        got: "-".into(),
                        passed: None,
                        detail: skip,
                    });
                    continue;
                }
                Expect::Outcome(o) => o,
            };
            let program = match (&e.program, &e.file) {
                (Some(p), _) => built.get(p).cloned(),
                (None, Some(f)) => {
                    let p = dir.join(format!("{}.file", e.id));
                    let mode = u32::from_str_radix(&f.mode, 8).unwrap_or(0o644);
                    let _ = std::fs::write(&p, &f.content).and_then(|_| {
                        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode))
                    });
                    Some(p)
                }
                _ => None,
            };
            let Some(program) = program else {
                rows.push(Row {
                    id: e.id.clone(),
                    tier: tier.as_str(),
                    attempts: e.attempts.clone(),
                    expected,
                    got: "-".into(),
                    passed: Some(false),
                    detail: "the manifest names no known program".into(),
                });
                continue;
            };
            let stdin = match &e.stdin {
                None => None,
                Some(s) => match write_stdin(dir, &e.id, s) {
                    Ok(p) => Some(p),
                    Err(err) => {
                        rows.push(Row {
                            id: e.id.clone(),
                            tier: tier.as_str(),
                            attempts: e.attempts.clone(),
                            expected,
                            got: "-".into(),
                            passed: Some(false),
                            detail: format!("cannot write the stdin file: {err}"),
                        });
                        continue;
                    }
                },
            };
            let stdin_shown = stdin
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            let mut argv: Vec<OsString> = vec![program.clone().into()];
            for arg in &e.args {
                argv.push(
                    arg.replace("{abstract}", &abstract_name)
                        .replace("{stdin}", &stdin_shown)
                        .into(),
                );
            }
            argv.push(marker.clone().into());
            let mut spec = CaseSpec::new(argv);
            spec.cwd = dir.to_path_buf();
            // As a jobs file names it: opened with the case's rights.
            spec.stdin = stdin.map(hatchery_sandbox::Stdin::File);
            spec.limits = match limits_of(e) {
                Ok(l) => l,
                Err(err) => {
                    rows.push(Row {
                        id: e.id.clone(),
                        tier: tier.as_str(),
                        attempts: e.attempts.clone(),
                        expected,
                        got: "-".into(),
                        passed: Some(false),
                        detail: format!("bad limits in the manifest: {err}"),
                    });
                    continue;
                }
            };
            let (got, result) = match sb.run(&spec, tier) {
                Err(ExecError::BadSpec(_)) => ("spec_error".to_owned(), None),
                Err(err) => {
                    let r = err.result(&spec.limits, tier);
                    (r.outcome.as_str().to_owned(), Some(r))
                }
                Ok(r) => (r.outcome.as_str().to_owned(), Some(r)),
            };
            let bad = check(e, &expected, &got, result.as_ref(), &marker, dir);
            let detail = if bad.is_empty() {
                result
                    .as_ref()
                    .map(|r| {
                        String::from_utf8_lossy(&r.stdout.data)
                            .lines()
                            .find(|l| l.starts_with("SAFE"))
                            .unwrap_or(&r.reason)
                            .to_owned()
                    })
                    .unwrap_or_else(|| "refused before running".into())
            } else {
                bad.join("; ")
            };
            rows.push(Row {
                id: e.id.clone(),
                tier: tier.as_str(),
                attempts: e.attempts.clone(),
                expected,
                got,
                passed: Some(bad.is_empty()),
                detail,
            });
        }
        // The runner is still alive and answering.
        let mut plain = CaseSpec::new(vec!["/bin/true".into()]);
        plain.cwd = dir.to_path_buf();
        let alive = sb
            .run(&plain, tier)
            .map(|r| r.outcome.as_str().to_owned())
            .unwrap_or_else(|e| crate::error_chain(&e));
        rows.push(Row {
            id: "(runner alive)".into(),
            tier: tier.as_str(),
            attempts: "a plain case after all the attacks".into(),
            expected: "ok".into(),
            got: alive.clone(),
            passed: Some(alive == "ok"),
            detail: String::new(),
        });
    }
    let passed = rows.iter().filter(|r| r.passed == Some(true)).count();
    let failed = rows.iter().filter(|r| r.passed == Some(false)).count();
    let skipped = rows.iter().filter(|r| r.passed.is_none()).count();
    if a.json {
        println!(
            "{}",
            serde_json::json!({"rows": rows, "passed": passed, "failed": failed, "skipped": skipped})
        );
    } else {
        let mut o = std::io::stdout().lock();
        let _ = writeln!(
            o,
            "{:<22} {:<9} {:<17} {:<17} {:<5} detail",
            "case", "tier", "expected", "got", ""
        );
        for r in &rows {
            let v = match r.passed {
                Some(true) => "pass",
                Some(false) => "FAIL",
                None => "skip",
            };
            let _ = writeln!(
                o,
                "{:<22} {:<9} {:<17} {:<17} {:<5} {}",
                r.id, r.tier, r.expected, r.got, v, r.detail
            );
        }
        let _ = writeln!(o, "{passed} passed, {failed} failed, {skipped} skipped");
    }
    if failed == 0 {
        exit::OK
    } else {
        exit::FAILED
    }
}

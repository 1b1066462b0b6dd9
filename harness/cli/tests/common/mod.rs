//! Shared helpers for the integration tests: building the C test programs, running the
//! `hatchery` binary, and feature checks that skip loudly (or fail under
//! `HATCHERY_TEST_REQUIRE=all`).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;

use serde_json::Value;

pub const TIERS: [&str; 3] = ["none", "hardened", "lockdown"];

pub fn hatchery_bin() -> PathBuf {
    // cgroup v2: this process moves itself into a leaf of its own before it starts a hatchery,
    // so the hatcheries it starts are born in that leaf and step out beside it. Started
    // earlier, they would share its cgroup with it, and neither could use one.
    static DELEGATE: std::sync::Once = std::sync::Once::new();
    DELEGATE.call_once(|| drop(hatchery_sandbox::cgroup::CgroupSlot::allocate()));
    PathBuf::from(env!("CARGO_BIN_EXE_hatchery"))
}

/// Directory for compiled programs (inside the target directory, not /tmp: the sandbox gives
/// cases a private /tmp).
pub fn prog_dir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("progs");
    std::fs::create_dir_all(&d).unwrap();
    d
}

static BUILD: Mutex<()> = Mutex::new(());

/// Compiles `tests/progs/<name>.c` (once per test binary run) and returns the executable.
pub fn prog(name: &str) -> PathBuf {
    let _g = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/progs")
        .join(format!("{name}.c"));
    let out = prog_dir().join(name);
    let fresh = out
        .metadata()
        .and_then(|o| Ok(o.modified()? >= src.metadata()?.modified()?))
        .unwrap_or(false);
    if !fresh {
        let tmp = prog_dir().join(format!("{name}.tmp.{}", std::process::id()));
        let st = Command::new("gcc")
            .args(["-O1", "-pthread", "-o"])
            .arg(&tmp)
            .arg(&src)
            .arg("-lrt")
            .status()
            .expect("gcc is needed to build test programs");
        assert!(st.success(), "gcc failed for {}", src.display());
        std::fs::rename(&tmp, &out).unwrap();
    }
    out
}

/// Whether a missing feature should fail the test instead of skipping it.
pub fn require_all() -> bool {
    std::env::var("HATCHERY_TEST_REQUIRE").is_ok_and(|v| v == "all")
}

/// Returns true when the test may go on; prints why it skips otherwise (and panics when
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

pub fn is_root() -> bool {
    nix_euid() == 0
}

fn nix_euid() -> u32 {
    // /proc/self/status "Uid: real effective saved fs"
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(u32::MAX)
}

/// Whether this host lets us create user namespaces (needed by tiers hardened and lockdown).
pub fn userns_ok() -> bool {
    Command::new("unshare")
        .args(["--user", "--map-root-user", "true"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether tier `t` can run here.
pub fn tier_ok(t: &str) -> bool {
    t == "none" || need(userns_ok(), "user namespaces (tiers hardened and lockdown)")
}

/// Whether a v1 or v2 cgroup slot can be created by this process.
pub fn cgroup_ok() -> bool {
    let v = hatchery_sandbox::cgroup::CgroupSlot::allocate();
    v.is_ok()
}

/// Result of one `hatchery run --json`.
pub struct Run {
    pub code: i32,
    pub json: Value,
    pub stderr: String,
}

impl Run {
    pub fn outcome(&self) -> &str {
        self.json["outcome"].as_str().unwrap_or("<none>")
    }
    pub fn limit(&self) -> Option<&str> {
        self.json["limit"].as_str()
    }
    pub fn stdout(&self) -> &str {
        self.json["stdout"]["text"].as_str().unwrap_or("")
    }
    pub fn usage(&self, k: &str) -> u64 {
        self.json["usage"][k].as_u64().unwrap_or(0)
    }
}

/// Runs `hatchery run --json <opts> -- <argv>` and parses its answer.
pub fn run(opts: &[&str], argv: &[&str]) -> Run {
    let out = Command::new(hatchery_bin())
        .arg("run")
        .arg("--json")
        .args(opts)
        .arg("--")
        .args(argv)
        .output()
        .unwrap();
    parse(out)
}

pub fn parse(out: Output) -> Run {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "hatchery did not print JSON ({e}); exit {:?}; stdout {:?}; stderr {stderr}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout)
        )
    });
    Run {
        code: out.status.code().unwrap_or(-1),
        json,
        stderr,
    }
}

/// Writes an executable file from a child process, never from this one. A file this
/// multi-threaded test process writes may still be open for writing in a child another test
/// forks meanwhile, and executing it would then fail with ETXTBSY ("Text file busy").
pub fn write_executable(path: &Path, text: &str) {
    use std::io::Write;
    let mut child = Command::new("sh")
        .args(["-c", "cat > \"$1\" && chmod 755 \"$1\"", "sh"])
        .arg(path)
        .stdin(Stdio::piped())
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

pub fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Processes on the host whose command line contains `marker`.
pub fn processes_with(marker: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if let Ok(cmd) = std::fs::read(e.path().join("cmdline")) {
            if String::from_utf8_lossy(&cmd).contains(marker) && pid != std::process::id() {
                found.push(pid);
            }
        }
    }
    found
}

/// Whether a normal user may create user namespaces here.
pub fn userns_unprivileged() -> bool {
    as_nobody(Path::new("unshare"))
        .args(["--user", "true"])
        .status()
        .is_ok_and(|s| s.success())
}

/// A command that runs `program` as uid/gid 65534 with no supplementary groups (setpriv).
pub fn as_nobody(program: &Path) -> Command {
    let mut c = Command::new("setpriv");
    c.args([
        "--reuid",
        "65534",
        "--regid",
        "65534",
        "--clear-groups",
        "--",
    ]);
    c.arg(program);
    c
}

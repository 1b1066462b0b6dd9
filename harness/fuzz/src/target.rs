//! How a libFuzzer target runs as a case: the environment every run gets, the spec of a
//! campaign worker, of a replay and of a minimization, and the sandbox settings they share.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hatchery_engine::{ExecSettings, Network, Unit};
use hatchery_report::Limits;
use hatchery_sandbox::{CaseSpec, SeccompProfile, Tier};

/// `PATH` inside the sandbox.
pub const SANDBOX_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A worker writes libFuzzer's output to a log file so that its status lines can be read
/// while it runs (the engine hands a case's output over when it ends). The shell execs the
/// target: one process, the target, remains.
const LOG_WRAPPER: &str = r#"exec "$0" "$@" 2>>"$HATCHERY_FUZZ_LOG""#;

/// What every run of the target shares.
#[derive(Debug, Clone)]
pub struct TargetRun {
    pub binary: PathBuf,
    pub tier: Tier,
    /// Per-input timeout (libFuzzer's `-timeout`, whole seconds, at least 1).
    pub timeout: Duration,
    /// libFuzzer's `-rss_limit_mb`; the cgroup limit is above it (see [`TargetRun::limits`]).
    pub memory_bytes: u64,
    /// Extra environment (sanitizer options from our environment, the symbolizer).
    pub env: Vec<(OsString, OsString)>,
    /// The variables the user gave (`--env`), also in `env`: reproducer commands repeat them.
    pub user_env: Vec<(String, String)>,
    /// An AFL++ target (`fuzz run --afl`): `afl-fuzz` drives it (see [`crate::afl`]).
    pub afl: Option<std::sync::Arc<crate::afl::AflTarget>>,
}

impl TargetRun {
    pub fn new(binary: PathBuf, tier: Tier, timeout: Duration, memory_bytes: u64) -> TargetRun {
        TargetRun {
            binary,
            tier,
            timeout,
            memory_bytes,
            env: sanitizer_env(),
            user_env: Vec::new(),
            afl: None,
        }
    }

    pub fn timeout_secs(&self) -> u64 {
        self.timeout.as_secs_f64().ceil().max(1.0) as u64
    }

    pub fn rss_limit_mb(&self) -> u64 {
        (self.memory_bytes >> 20).max(1)
    }

    /// The cgroup limit of a case: libFuzzer's RSS limit plus a quarter (at least 256 MiB),
    /// so that libFuzzer's own check (which writes an `oom-` artifact) usually fires first and
    /// the cgroup is the backstop for what it cannot see (allocations between its once-a-second
    /// polls, children). Never `RLIMIT_AS`: ASan reserves terabytes of address space.
    pub fn cgroup_bytes(&self) -> u64 {
        self.memory_bytes + (self.memory_bytes / 4).max(256 << 20)
    }

    fn limits(&self, wall: Option<Duration>) -> Limits {
        Limits {
            memory_bytes: Some(self.cgroup_bytes()),
            wall_us: wall.map(|w| w.as_micros() as u64),
            output_bytes: Some(16 << 20),
            file_size_bytes: Some(1 << 30),
            pids: Some(256),
            ..Default::default()
        }
    }

    pub(crate) fn spec(&self, argv: Vec<OsString>, cwd: &Path, wall: Option<Duration>) -> CaseSpec {
        let mut spec = CaseSpec::new(argv);
        // The work directory lends its directories to one uid (as the judge's does).
        spec.shared_ids = true;
        spec.cwd = cwd.to_path_buf();
        spec.env = self.env.clone();
        spec.env.push(("PATH".into(), SANDBOX_PATH.into()));
        spec.limits = self.limits(wall);
        spec.seccomp = SeccompProfile::Fuzz;
        spec.network = Network::Off;
        spec
    }

    /// libFuzzer's flags for the limits.
    fn limit_flags(&self) -> Vec<OsString> {
        vec![
            format!("-timeout={}", self.timeout_secs()).into(),
            format!("-rss_limit_mb={}", self.rss_limit_mb()).into(),
            format!("-malloc_limit_mb={}", self.rss_limit_mb()).into(),
        ]
    }

    /// One campaign worker: libFuzzer on the shared corpus `corpus` (which it writes),
    /// artifacts into `artifacts`, its output appended to `log`; `max_total_time`: what is
    /// left of the budget.
    pub fn worker(
        &self,
        corpus: &Path,
        artifacts: &Path,
        log: &Path,
        max_total_time: Option<Duration>,
        user_flags: &[String],
    ) -> CaseSpec {
        let mut argv: Vec<OsString> = vec![
            "/bin/sh".into(),
            "-c".into(),
            LOG_WRAPPER.into(),
            self.binary.clone().into(),
        ];
        argv.extend(self.limit_flags());
        argv.push(format!("-artifact_prefix={}/", artifacts.display()).into());
        argv.push("-print_final_stats=1".into());
        if let Some(t) = max_total_time {
            argv.push(format!("-max_total_time={}", t.as_secs().max(1)).into());
        }
        argv.extend(user_flags.iter().map(OsString::from));
        argv.push(corpus.into());
        // libFuzzer stops itself at the time budget; the wall limit is a backstop well after it.
        let wall = max_total_time.map(|t| t + self.timeout * 2 + Duration::from_secs(30));
        let mut spec = self.spec(argv, artifacts, wall);
        spec.env.push(("HATCHERY_FUZZ_LOG".into(), log.into()));
        spec
    }

    /// One replay of `input` (a file the case may read).
    pub fn replay(&self, input: &Path, cwd: &Path) -> CaseSpec {
        if let Some(a) = &self.afl {
            return a.replay(self, input, cwd);
        }
        let mut argv: Vec<OsString> = vec![self.binary.clone().into()];
        argv.extend(self.limit_flags());
        argv.push("-runs=1".into());
        argv.push(input.into());
        // libFuzzer's -timeout fires first; the case's wall limit catches a target that blocks
        // its alarm (whole seconds, so a 1 s timeout can take almost 2 s).
        let wall = self.timeout * 2 + Duration::from_secs(5);
        let mut spec = self.spec(argv, cwd, Some(wall));
        spec.env.push(("RUST_BACKTRACE".into(), "1".into()));
        spec
    }

    /// One process over `inputs` in order (libFuzzer runs each file once, printing
    /// `Running:` and `Executed` lines), under a wall limit that allows each its timeout.
    pub fn replay_many(&self, inputs: &[&Path], cwd: &Path) -> CaseSpec {
        let mut argv: Vec<OsString> = vec![self.binary.clone().into()];
        argv.extend(self.limit_flags());
        argv.push("-runs=1".into());
        argv.extend(inputs.iter().map(|p| p.as_os_str().to_owned()));
        let wall = self.timeout * (inputs.len() as u32 + 2) + Duration::from_secs(5);
        let mut spec = self.spec(argv, cwd, Some(wall));
        spec.env.push(("RUST_BACKTRACE".into(), "1".into()));
        spec
    }

    /// libFuzzer's `-minimize_crash=1` on `input`, writing the smallest input that still
    /// crashes to `out`, for at most `budget`.
    pub fn minimize(&self, input: &Path, out: &Path, cwd: &Path, budget: Duration) -> CaseSpec {
        if let Some(a) = &self.afl {
            return a.minimize(self, input, out, cwd, budget);
        }
        let mut argv: Vec<OsString> = vec![self.binary.clone().into()];
        argv.extend(self.limit_flags());
        argv.push("-minimize_crash=1".into());
        argv.push("-runs=255".into());
        argv.push(format!("-max_total_time={}", budget.as_secs().max(1)).into());
        argv.push(format!("-exact_artifact_path={}", out.display()).into());
        argv.push(input.into());
        let wall = budget * 2 + self.timeout * 2 + Duration::from_secs(10);
        self.spec(argv, cwd, Some(wall))
    }

    pub fn unit(&self, id: String, spec: CaseSpec) -> Unit {
        Unit::new(id, spec, self.tier)
    }

    /// A shell command that reproduces a finding.
    pub fn repro_command(&self, artifact: &Path) -> String {
        if let Some(a) = &self.afl {
            return a.repro_command(self, artifact);
        }
        format!(
            "hatchery fuzz repro{} --binary {} {}",
            self.env_flags(),
            shell_word(&self.binary.to_string_lossy()),
            shell_word(&artifact.to_string_lossy())
        )
    }

    /// ` --env K=V` for each variable the user gave.
    pub(crate) fn env_flags(&self) -> String {
        self.user_env
            .iter()
            .map(|(k, v)| format!(" --env {}", shell_word(&format!("{k}={v}"))))
            .collect()
    }
}

pub(crate) fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+=:,@".contains(&b))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The sanitizer options of our environment, passed on (the case's environment is clean
/// otherwise), and the symbolizer when one is installed (frames need function names).
fn sanitizer_env() -> Vec<(OsString, OsString)> {
    let mut env = Vec::new();
    for k in [
        "ASAN_OPTIONS",
        "UBSAN_OPTIONS",
        "LSAN_OPTIONS",
        "MSAN_OPTIONS",
        "ASAN_SYMBOLIZER_PATH",
    ] {
        if let Some(v) = std::env::var_os(k) {
            env.push((k.into(), v));
        }
    }
    if std::env::var_os("ASAN_SYMBOLIZER_PATH").is_none() {
        if let Some(s) = find_symbolizer() {
            env.push(("ASAN_SYMBOLIZER_PATH".into(), s.into()));
        }
    }
    env
}

/// `llvm-symbolizer` on `PATH`, or the newest in `/usr/lib/llvm-*/bin` (Debian's layout).
fn find_symbolizer() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("llvm-symbolizer"))
            .find(|f| f.is_file())
    });
    on_path
        .or_else(|| {
            let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib")
                .ok()?
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("llvm-"))
                .map(|e| e.path().join("bin/llvm-symbolizer"))
                .filter(|f| f.is_file())
                .collect();
            found.sort();
            found.pop()
        })
        .and_then(|p| std::fs::canonicalize(p).ok())
}

/// The sandbox settings of a fuzz run: our executable as the zygote, a cgroup required
/// (memory is limited by it, never by `RLIMIT_AS`), the target's directory shown, the work
/// directory writable.
pub fn exec_settings(zygote_exe: PathBuf, run: &TargetRun, work: &Path) -> ExecSettings {
    let mut s = ExecSettings::new(zygote_exe);
    s.cgroup = hatchery_sandbox::policy::CgroupMode::Required;
    if let Some(dir) = run.binary.parent() {
        s.view.show(dir);
    }
    s.view.show_tool(&run.binary);
    // The work directory (corpus, artifacts, logs) is the only place outside their scratch
    // where the workers may write (Landlock).
    s.view.allow_write(work);
    s.shared_ids = hatchery_sandbox::ids::lent();
    s
}

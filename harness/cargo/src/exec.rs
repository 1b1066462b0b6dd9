//! Running test processes as hatchery cases: one zygote per worker, a [`hatchery_sched`]
//! executor on top, and a registry of what is running (for SLOW warnings and the progress bar).

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use hatchery_report::{CaseResult, Enforcement, Limits, Outcome, RawFacts, Termination};
use hatchery_sandbox::policy::CgroupMode;
use hatchery_sandbox::{CaseSpec, Sandbox, SandboxConfig, SeccompProfile, Tier};
use hatchery_sched::{Executor, ExecutorFactory, Interrupt, Job};

/// How every zygote of a run is configured.
#[derive(Debug, Clone)]
pub struct SandboxSettings {
    pub tier: Tier,
    pub network: bool,
    pub cgroup: CgroupMode,
    pub seccomp: SeccompProfile,
}

impl SandboxSettings {
    pub fn config(&self, worker: usize) -> SandboxConfig {
        // The zygote is this very binary (`cargo-hatchery __zygote`).
        let mut cfg = SandboxConfig::new(self.tier, PathBuf::from("/proc/self/exe"));
        cfg.network = self.network;
        cfg.cgroup = self.cgroup;
        cfg.worker_index = worker;
        cfg
    }
}

/// A `sandbox_error` result for a failure before the case could start.
pub fn error_result(msg: String, limits: &Limits, tier: Tier) -> CaseResult {
    hatchery_report::decide(
        RawFacts {
            error: Some(msg),
            ..Default::default()
        },
        limits,
        tier.as_str(),
        Enforcement::new(),
    )
}

/// The result of a doctest rustdoc decided without running it (`compile_fail`, `no_run`, a
/// doctest that does not compile), or that we could not match to its executable. Nothing ran:
/// the usage figures are zero and the reason says who decided.
pub fn verdict_result(kind: &crate::doc::DocKind, limits: &Limits, tier: Tier) -> CaseResult {
    use crate::doc::DocKind;
    let (code, reason, message) = match kind {
        DocKind::Verdict { passed: true, .. } | DocKind::Run { .. } => (
            0,
            "decided by rustdoc when compiling (compile_fail or no_run doctest); not run"
                .to_owned(),
            String::new(),
        ),
        DocKind::Verdict {
            passed: false,
            message,
        } => (
            1,
            "rustdoc: the doctest did not compile as expected; not run".to_owned(),
            message.clone(),
        ),
        DocKind::Unmatched { message } => {
            return error_result(message.clone(), limits, tier);
        }
    };
    let mut r = hatchery_report::decide(
        RawFacts {
            termination: Some(Termination::Exited(code)),
            ..Default::default()
        },
        limits,
        tier.as_str(),
        Enforcement::new(),
    );
    r.exit_code = None;
    r.reason = reason;
    r.stdout = hatchery_report::Captured {
        bytes: message.len() as u64,
        data: message.into_bytes(),
        truncated: false,
    };
    r
}

/// Runs one command on a sandbox. Failures to prepare the case become `sandbox_error`
/// results (the binaries come from cargo, so a missing one is our problem, not the test's).
pub fn run_command(
    sb: &mut Sandbox,
    argv: &[OsString],
    env: &BTreeMap<String, String>,
    cwd: &Path,
    limits: &Limits,
    seccomp: SeccompProfile,
) -> CaseResult {
    let mut spec = CaseSpec::new(argv.to_vec());
    spec.env = env
        .iter()
        .map(|(k, v)| (OsString::from(k), OsString::from(v)))
        .collect();
    spec.cwd = cwd.to_path_buf();
    spec.limits = limits.clone();
    spec.seccomp = seccomp;
    match sb.prepare(&spec) {
        Ok(p) => sb.run(p),
        Err(e) => error_result(format!("cannot start the test: {e}"), limits, sb.tier()),
    }
}

/// A test that is running now.
#[derive(Debug, Clone)]
pub struct RunningTest {
    pub id: String,
    pub started: Instant,
    /// How many SLOW warnings were printed for it.
    pub slow_reported: u32,
}

/// What every worker is running (for SLOW warnings and the progress bar).
pub type Running = Arc<Mutex<BTreeMap<u32, RunningTest>>>;

pub struct TestExec {
    worker: u32,
    sandbox: Sandbox,
    seccomp: SeccompProfile,
    running: Running,
    verdicts: Arc<HashMap<String, CaseResult>>,
}

impl Executor for TestExec {
    fn run(&mut self, job: &Job, limits: &Limits) -> CaseResult {
        if let Some(v) = self.verdicts.get(&job.id) {
            return v.clone();
        }
        let argv: Vec<OsString> = job.argv.iter().map(OsString::from).collect();
        let cwd = job.cwd.clone().unwrap_or_else(|| PathBuf::from("/"));
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                self.worker,
                RunningTest {
                    id: job.id.clone(),
                    started: Instant::now(),
                    slow_reported: 0,
                },
            );
        let r = run_command(
            &mut self.sandbox,
            &argv,
            &job.env,
            &cwd,
            limits,
            self.seccomp,
        );
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.worker);
        let mut r = r;
        if job.expect == Outcome::NonzeroExit && r.outcome == Outcome::Ok {
            r.reason = "exited with status 0, but the doctest is marked should_panic".into();
        }
        r
    }

    fn healthy(&self) -> bool {
        self.sandbox.is_healthy()
    }

    fn interrupt_handle(&self) -> Interrupt {
        Arc::new(self.sandbox.interrupter())
    }
}

/// Starts one zygote per worker; the zygote used for listing serves worker 0.
pub struct Factory {
    pub settings: SandboxSettings,
    pub first: Mutex<Option<Sandbox>>,
    pub running: Running,
    /// Results decided without running anything, by job id (see [`verdict_result`]).
    pub verdicts: Arc<HashMap<String, CaseResult>>,
    /// Index of the next zygote (each needs its own cgroup name; the listing zygote is 0).
    pub next_index: std::sync::atomic::AtomicUsize,
}

impl ExecutorFactory for Factory {
    type Exec = TestExec;
    fn create(&self, worker: u32) -> Result<TestExec, String> {
        let reused = if worker == 0 {
            self.first.lock().unwrap_or_else(|e| e.into_inner()).take()
        } else {
            None
        };
        let sandbox = match reused {
            Some(s) => s,
            None => Sandbox::start(
                self.settings.config(
                    self.next_index
                        .fetch_add(1, std::sync::atomic::Ordering::SeqCst),
                ),
            )
            .map_err(|e| crate::error_chain(&e))?,
        };
        Ok(TestExec {
            worker,
            sandbox,
            seccomp: self.settings.seccomp,
            running: self.running.clone(),
            verdicts: self.verdicts.clone(),
        })
    }
}

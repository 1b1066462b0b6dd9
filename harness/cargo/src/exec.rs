//! Tests as units of work on the engine: the sandbox settings of a run, how a test command
//! becomes a case, and the [`Work`] that answers for doctests rustdoc decided without running.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use hatchery_engine::{Attempt, ExecError, ExecSettings, Executor, Unit, Work};
use hatchery_report::{CaseResult, Enforcement, Limits, Outcome, RawFacts, Termination};
use hatchery_sandbox::policy::CgroupMode;
use hatchery_sandbox::{CaseSpec, Network, SeccompProfile, Spill, Tier, View};

/// How every zygote of a run is configured.
#[derive(Debug, Clone)]
pub struct SandboxSettings {
    pub tier: Tier,
    pub network: Network,
    pub cgroup: CgroupMode,
    pub seccomp: SeccompProfile,
    /// What the tests see beyond their tier's view (the crate and its target directory when
    /// they lie below `/tmp` and the like).
    pub view: View,
    /// Where output beyond what is kept in memory goes (see [`spill_in`]).
    pub spill: Option<Spill>,
}

/// Output of one test kept in memory (stdout and stderr together); the rest is spilled to disk.
pub const MEMORY_OUTPUT_BYTES: u64 = 4 << 20;
/// The end of a spilled stream shown with its head.
pub const TAIL_OUTPUT_BYTES: u64 = 1 << 20;
/// Name of the directory below the target directory that holds spilled output.
pub const SPILL_DIR: &str = "hatchery/output";

/// Spilling into `dir` (created if needed): a test's output beyond [`MEMORY_OUTPUT_BYTES`] goes
/// to unnamed files there; a failing test's whole streams stay there as
/// `output-<pid>-<n>.stdout`/`.stderr`. `None` when the directory cannot be created (output
/// beyond the memory budget is then counted, not kept; the verdict is the same).
pub fn spill_in(dir: PathBuf) -> Option<Spill> {
    std::fs::create_dir_all(&dir).ok()?;
    Some(Spill {
        memory_bytes: MEMORY_OUTPUT_BYTES,
        tail_bytes: TAIL_OUTPUT_BYTES,
        dir,
        keep_failed: true,
    })
}

/// The spill directory for a test binary that cargo built: below its target directory (the
/// nearest ancestor with cargo's `CACHEDIR.TAG`), else below the system's temporary directory.
pub fn spill_dir_for(binary: &Path) -> PathBuf {
    let target = std::fs::canonicalize(binary).ok().and_then(|p| {
        p.ancestors()
            .skip(1)
            .find(|d| d.join("CACHEDIR.TAG").is_file())
            .map(Path::to_path_buf)
    });
    match target {
        Some(t) => t.join(SPILL_DIR),
        None => std::env::temp_dir().join(format!(
            "hatchery-output-{}",
            nix::unistd::geteuid().as_raw()
        )),
    }
}

/// Removes the whole streams earlier runs kept in `dir`: `output-<pid>-<n>.*` files of
/// processes that are gone (a run going on beside us in the same target directory keeps its
/// own).
pub fn clear_spill_dir(dir: &Path) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("output-"))
            .and_then(|n| n.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let alive = Path::new("/proc").join(pid.to_string()).exists();
        if !alive && e.file_type().is_ok_and(|t| t.is_file()) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

impl SandboxSettings {
    pub fn exec_settings(&self) -> ExecSettings {
        // The zygote is this very binary (`cargo-hatchery __zygote` or `hatchery __zygote`).
        let mut s = ExecSettings::new(PathBuf::from("/proc/self/exe"));
        s.cgroup = self.cgroup;
        s.view = self.view.clone();
        s
    }
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
            return hatchery_report::decide(
                RawFacts {
                    error: Some(message.clone()),
                    ..Default::default()
                },
                limits,
                tier.as_str(),
                Enforcement::new(),
            );
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
        file: None,
    };
    r
}

/// A test command as a case: a clean environment plus the given variables, run in `cwd`.
pub fn spec(
    argv: &[OsString],
    env: &BTreeMap<String, String>,
    cwd: &Path,
    limits: &Limits,
    settings: &SandboxSettings,
) -> CaseSpec {
    let mut spec = CaseSpec::new(argv.to_vec());
    spec.network = settings.network;
    spec.env = env
        .iter()
        .map(|(k, v)| (OsString::from(k), OsString::from(v)))
        .collect();
    spec.cwd = cwd.to_path_buf();
    spec.limits = limits.clone();
    spec.seccomp = settings.seccomp;
    spec.spill = settings.spill.clone();
    spec
}

/// Runs one test command. A spec the engine refuses is hatchery's problem here (the binaries
/// come from cargo), so every executor failure becomes a `sandbox_error` result.
pub fn run_command(exec: &mut impl Executor, spec: &CaseSpec, tier: Tier) -> CaseResult {
    exec.run(spec, tier)
        .unwrap_or_else(|e| e.result(&spec.limits, tier))
}

/// How a test unit runs: doctests rustdoc already decided are answered from `verdicts`
/// without running anything; every other unit runs its case, once it holds its slots.
pub struct TestWork {
    /// Results decided without running anything, by unit id (see [`verdict_result`]).
    pub verdicts: HashMap<String, CaseResult>,
    pub slots: Slots,
}

/// nextest's `threads-required` and test groups: of the run's `total` slots (test threads), a
/// test holds `threads-required` while it runs, and at most `max-threads` slots of a group
/// are held by its tests at once. A worker waits, holding nothing, until every slot its test
/// needs is free, then takes them all at once (so no two waiting workers can deadlock).
pub struct Slots {
    total: u32,
    /// By unit id: slots needed and the group (with its capacity), when not 1 and `@global`.
    needs: HashMap<String, (u32, Option<(String, u32)>)>,
    state: std::sync::Mutex<SlotState>,
    freed: std::sync::Condvar,
}

#[derive(Default)]
struct SlotState {
    used: u32,
    groups: HashMap<String, u32>,
}

impl Slots {
    pub fn new(total: u32, needs: HashMap<String, (u32, Option<(String, u32)>)>) -> Slots {
        Slots {
            total: total.max(1),
            needs,
            state: Default::default(),
            freed: Default::default(),
        }
    }

    /// Waits for the slots of unit `id`; they are given back when the guard drops.
    fn take(&self, id: &str) -> SlotGuard<'_> {
        let (n, group) = self.needs.get(id).cloned().unwrap_or((1, None));
        // A test may not need more than there is.
        let n = n.clamp(1, self.total);
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let group_ok = group.as_ref().is_none_or(|(g, max)| {
                st.groups.get(g).copied().unwrap_or(0) + n.min(*max) <= *max
            });
            if st.used + n <= self.total && group_ok {
                break;
            }
            st = self.freed.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        st.used += n;
        if let Some((g, max)) = &group {
            *st.groups.entry(g.clone()).or_default() += n.min(*max);
        }
        SlotGuard {
            slots: self,
            n,
            group,
        }
    }
}

struct SlotGuard<'a> {
    slots: &'a Slots,
    n: u32,
    group: Option<(String, u32)>,
}

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        let mut st = self.slots.state.lock().unwrap_or_else(|e| e.into_inner());
        st.used -= self.n;
        if let Some((g, max)) = &self.group {
            if let Some(u) = st.groups.get_mut(g) {
                *u -= self.n.min(*max);
            }
        }
        drop(st);
        self.slots.freed.notify_all();
    }
}

impl<E: Executor> Work<E> for TestWork {
    fn attempt(&self, exec: &mut E, unit: &Unit, _index: usize) -> Result<Attempt, ExecError> {
        if let Some(v) = self.verdicts.get(&unit.id) {
            return Ok(Attempt::of(v.clone()));
        }
        let slots = self.slots.take(&unit.id);
        let mut r = exec.run(&unit.spec, unit.tier)?;
        drop(slots);
        if unit.expected_outcome() == Outcome::NonzeroExit && r.outcome == Outcome::Ok {
            r.reason = "exited with status 0, but the doctest is marked should_panic".into();
        }
        if let (Some(g), Some(hatchery_report::Limit::Wall)) = (unit.spec.kill_grace, r.limit) {
            let how = match (r.exit_code, &r.signal) {
                _ if g.is_zero() => String::new(),
                (Some(c), _) => format!(" (SIGTERM, then it exited with status {c})"),
                (None, Some(s)) if s == "SIGKILL" => format!(
                    " (SIGTERM, then SIGKILL after the {:.3}s grace period)",
                    g.as_secs_f64()
                ),
                (None, Some(s)) => format!(" (SIGTERM, then it died of {s})"),
                (None, None) => String::new(),
            };
            r.reason.push_str(&how);
        }
        if unit.leak_fails && r.outcome == Outcome::Ok && r.leftover_processes > 0 {
            r.reason = format!(
                "{}, but {} process(es) it started still ran after its leak-timeout \
                 ({:.3}s) and were killed: marked failed (leak-timeout result = \"fail\")",
                r.reason,
                r.leftover_processes,
                unit.spec.leak_wait.unwrap_or_default().as_secs_f64()
            );
        }
        Ok(Attempt::of(r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_hold_threads_required_and_group_limits() {
        let needs = HashMap::from([
            ("wide".to_owned(), (2, None)),
            ("g1".to_owned(), (1, Some(("serial".to_owned(), 1)))),
            ("g2".to_owned(), (1, Some(("serial".to_owned(), 1)))),
            // More than there is: clamped to the total.
            ("huge".to_owned(), (9, None)),
        ]);
        let slots = &Slots::new(2, needs);
        std::thread::scope(|s| {
            let wide = slots.take("wide");
            let (tx, rx) = std::sync::mpsc::channel();
            s.spawn(move || {
                let _one = slots.take("plain");
                tx.send(()).unwrap();
            });
            // "plain" cannot start while "wide" holds both slots.
            assert!(rx.try_recv().is_err());
            drop(wide);
            rx.recv().unwrap();
            let g1 = slots.take("g1");
            let (tx, rx) = std::sync::mpsc::channel();
            s.spawn(move || {
                let _g2 = slots.take("g2");
                tx.send(()).unwrap();
            });
            // A free slot, but the group allows one test at a time.
            assert!(rx.try_recv().is_err());
            drop(g1);
            rx.recv().unwrap();
        });
        drop(slots.take("huge"));
    }
}

//! The judge on hatchery's engine: every sandboxed step (a compilation, a test case with its
//! checker, an interactive pair, the passes of a multi-pass case, an input validator on one
//! file) is one attempt of a [`Unit`] that [`hatchery_engine::run`] dispatches over the
//! workers of a [`Pool`]. The judge has no worker pool, zygote or thread of its own.
//!
//! A unit's [`Work`] is a judge function of the worker's executor and the unit's index; what
//! it returns besides the [`Attempt`] (a [`crate::CaseReport`], a build, ...) goes into a side
//! table indexed like the units.

use std::sync::atomic::AtomicBool;
use std::sync::Mutex;

use hatchery_engine::{
    Attempt, ExecError, ExecSettings, Executor as _, Options, PairSide, Pool, SandboxExecutor,
    SkipRule, Unit, Work,
};
use hatchery_report::{CaseFinished, CaseResult, Enforcement, Verdict};
use hatchery_sandbox::{CaseSpec, Network, Tier};

use crate::problem::Problem;
use crate::report::Events;

/// A worker's executor as the judge's steps use it. An executor failure becomes the
/// `sandbox_error` result that the judge reports as JE (never the submission's fault); the
/// first retryable one (a zygote that died or hung) is kept, so that the dispatcher can
/// attempt the whole unit once more on a fresh zygote.
pub struct Exec<'e> {
    exec: &'e mut SandboxExecutor,
    retryable: Option<ExecError>,
}

impl<'e> Exec<'e> {
    pub fn new(exec: &'e mut SandboxExecutor) -> Exec<'e> {
        Exec {
            exec,
            retryable: None,
        }
    }

    /// Runs one case on the worker's zygote of `tier`.
    pub fn run(&mut self, spec: &CaseSpec, tier: Tier) -> CaseResult {
        let r = self.exec.run(spec, tier);
        self.result(r, spec, tier)
    }

    /// Runs two cases at once (an interactive submission and its validator); neither starts
    /// unless both could be prepared. `ended` as in [`hatchery_engine::Executor::run_pair`].
    pub fn run_pair(
        &mut self,
        a: (&CaseSpec, Tier),
        b: (&CaseSpec, Tier),
        ended: &(dyn Fn(PairSide) + Sync),
    ) -> (CaseResult, CaseResult) {
        let (ra, rb) = self.exec.run_pair(a, b, ended);
        (self.result(ra, a.0, a.1), self.result(rb, b.0, b.1))
    }

    fn result(
        &mut self,
        r: Result<CaseResult, ExecError>,
        spec: &CaseSpec,
        tier: Tier,
    ) -> CaseResult {
        match r {
            Ok(r) => r,
            Err(e) => {
                let res = e.result(&spec.limits, tier);
                if e.retryable() && self.retryable.is_none() {
                    self.retryable = Some(e);
                }
                res
            }
        }
    }

    /// The first retryable executor failure of this attempt.
    pub fn take_retryable(&mut self) -> Option<ExecError> {
        self.retryable.take()
    }
}

/// A judge step as a [`Work`]: `f(exec, index)` gives the side-table entry and the attempt.
/// An attempt that met a retryable executor failure answers with that failure, so that the
/// dispatcher's retry rule applies (once, on a fresh zygote); when the dispatcher gives up,
/// [`Work::failed`] reports the judge's own JE attempt of the last try.
struct Steps<T, F> {
    f: F,
    out: Mutex<Vec<Option<T>>>,
    /// The judge's attempt of a try that met an executor failure (its JE, with the verdict).
    failed: Mutex<Vec<Option<Attempt>>>,
}

impl<T, F> Work<SandboxExecutor> for Steps<T, F>
where
    T: Send,
    F: Fn(&mut Exec<'_>, usize) -> (T, Attempt) + Sync,
{
    fn attempt(
        &self,
        exec: &mut SandboxExecutor,
        _unit: &Unit,
        index: usize,
    ) -> Result<Attempt, ExecError> {
        let mut x = Exec::new(exec);
        let (t, a) = (self.f)(&mut x, index);
        self.out.lock().unwrap_or_else(|e| e.into_inner())[index] = Some(t);
        match x.take_retryable() {
            Some(e) => {
                self.failed.lock().unwrap_or_else(|e| e.into_inner())[index] = Some(a);
                Err(e)
            }
            None => Ok(a),
        }
    }

    fn failed(&self, unit: &Unit, index: usize, error: &ExecError) -> Attempt {
        self.failed.lock().unwrap_or_else(|e| e.into_inner())[index]
            .take()
            .unwrap_or_else(|| Attempt::of(error.result(&unit.spec.limits, unit.tier)))
    }
}

/// Dispatches `units` on the pool with `f` as their work; `events` receives the event
/// stream (and this dispatch's totals). Returns each unit's side-table entry (`None`: the
/// unit did not run).
pub fn dispatch<T, F>(
    pool: &Pool<SandboxExecutor>,
    units: &[Unit],
    skip: Option<&dyn SkipRule>,
    events: &mut Events,
    f: F,
) -> Vec<Option<T>>
where
    T: Send,
    F: Fn(&mut Exec<'_>, usize) -> (T, Attempt) + Sync,
{
    let steps = Steps {
        f,
        out: Mutex::new(units.iter().map(|_| None).collect()),
        failed: Mutex::new(units.iter().map(|_| None).collect()),
    };
    // The judge is not interrupted from outside (a SIGINT ends the process).
    let cancel = AtomicBool::new(false);
    let rf = hatchery_engine::run(
        pool,
        units,
        &steps,
        &Options {
            first_index: events.next_index(),
            ..Options::default()
        },
        skip,
        None,
        &cancel,
        events,
    );
    events.dispatched(units.len(), &rf);
    steps.out.into_inner().unwrap_or_else(|e| e.into_inner())
}

/// One step run on worker 0 outside any dispatch (building the output validator): no events.
pub fn on_worker0<T>(pool: &Pool<SandboxExecutor>, f: impl FnOnce(&mut Exec<'_>) -> T) -> T {
    let mut w = pool.worker(0);
    f(&mut Exec::new(&mut w))
}

/// `on_reject: break` and `require_pass`: a test case whose verdict is not AC keeps from
/// starting the later cases of the groups that break at it, and the cases of the groups
/// that require (2025-09 `require_pass`) a group holding it (unless every case must run).
/// Cases already running still finish; grading decides afterwards what counts, whatever the
/// timing.
pub struct BreakOnReject<'p> {
    pub problem: &'p Problem,
    pub run_all_cases: bool,
}

impl SkipRule for BreakOnReject<'_> {
    fn triggers(&self, finished: &CaseFinished) -> bool {
        finished.verdict != Some(Verdict::AC)
    }

    fn skips(&self, done: usize, later: usize) -> bool {
        !self.run_all_cases
            && (self.problem.breaks_between(done, later)
                || self.problem.requires_between(done, later))
    }
}

/// The judge's sandboxes: a pool of engine executors (each worker keeps one zygote per
/// tier it uses: the submission's and the tools'), and what the submission's tier enforces.
pub struct Runner {
    pub pool: Pool<SandboxExecutor>,
    /// Tier of the submission's runs.
    pub tier: Tier,
    /// Tier of the tools: compilers and validators. They write into the work directory
    /// (executables, feedback), which `lockdown`'s read-only root forbids.
    pub tool_tier: Tier,
    /// What a zygote of `tier` enforces on this host.
    pub enforcement: Enforcement,
    /// Size of a compiler's private /tmp (its own zygotes): room for its temporaries without
    /// giving it to every run.
    pub compile_scratch: u64,
}

/// [`Runner::compile_scratch`] unless `--compile-scratch` says otherwise.
pub const DEFAULT_COMPILE_SCRATCH: u64 = 1 << 30;

impl Runner {
    /// `workers` executors; worker 0 starts its zygotes of both tiers right away, before
    /// anything runs: they prove both tiers work on this host (an error names the missing
    /// feature, see [`ExecError::is_missing_feature`]).
    pub fn start(
        settings: ExecSettings,
        workers: usize,
        tier: Tier,
        tool_tier: Tier,
    ) -> Result<Runner, ExecError> {
        let pool = Pool::sandboxed(settings, workers.max(1), false);
        let enforcement = {
            let mut w0 = pool.worker(0);
            let e = w0.enforcement(tier, Network::Off)?;
            w0.enforcement(tool_tier, Network::Off)?;
            e
        };
        Ok(Runner {
            pool,
            tier,
            tool_tier,
            enforcement,
            compile_scratch: DEFAULT_COMPILE_SCRATCH,
        })
    }
}

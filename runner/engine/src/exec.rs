//! Executors: something that runs one case at a time and answers with the program's result or
//! with its own failure. [`SandboxExecutor`] is the one real implementation; tests use fakes.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use hatchery_report::{CaseResult, Enforcement, Limits, RawFacts};
use hatchery_sandbox::ids::CaseIds;
use hatchery_sandbox::policy::CgroupMode;
use hatchery_sandbox::{
    CaseSpec, Network, RunError, Sandbox, SandboxConfig, SandboxError, SeccompProfile, SpecError,
    Tier, View,
};

/// Kills what an executor is running, from another thread.
pub type Interrupt = Arc<dyn Fn() + Send + Sync>;

/// Why an executor produced no result of the program. Never folded into the target's result:
/// the dispatcher decides (explicitly, see [`ExecError::retryable`]) whether to try again, and
/// only a final failure is reported, as `sandbox_error` naming this error.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The case cannot be started as specified (a missing program, an unreadable stdin file):
    /// the user's input; never retried.
    #[error("the case cannot be started: {0}")]
    BadSpec(#[from] SpecError),
    /// No zygote could be started for the case's tier (a missing kernel feature, a cgroup
    /// that is required but unavailable): the host's; never retried.
    #[error("cannot start a zygote for tier {tier}")]
    Start {
        tier: &'static str,
        #[source]
        source: SandboxError,
    },
    /// The zygote died, hung or answered garbage during the case; it has been discarded and
    /// the next case gets a fresh one.
    #[error("the zygote failed")]
    Zygote(#[from] RunError),
    /// The run was interrupted (SIGINT/SIGTERM) while the case ran.
    #[error("interrupted")]
    Interrupted,
    /// The other case of a pair could not be started, so this one was not either.
    #[error("not started: the other case of its pair could not be started")]
    PartnerNotStarted,
    /// The executor cannot do what was asked (e.g. a fake that runs no pairs).
    #[error("not supported by this executor: {0}")]
    Unsupported(&'static str),
}

impl ExecError {
    /// The retry rule: a failure of the zygote is retried once on a fresh zygote (the case
    /// never ran to an end, so nothing is known about the program); a bad spec, a host that
    /// cannot start the tier and an interruption are not.
    pub fn retryable(&self) -> bool {
        matches!(self, ExecError::Zygote(_))
    }

    /// Whether the host lacks what the tier needs (front ends exit with "host unsupported").
    pub fn is_missing_feature(&self) -> bool {
        matches!(self, ExecError::Start { source, .. } if source.is_missing_feature())
    }

    /// The `sandbox_error` result that reports this failure as ours.
    pub fn result(&self, limits: &Limits, tier: Tier) -> CaseResult {
        hatchery_report::decide(
            RawFacts {
                error: Some(hatchery_report::error_chain(self)),
                ..Default::default()
            },
            limits,
            tier.as_str(),
            Enforcement::new(),
        )
    }
}

/// Something that runs cases, one at a time (or a pair at once).
pub trait Executor: Send {
    /// Runs one case on a zygote of `tier`.
    fn run(&mut self, spec: &CaseSpec, tier: Tier) -> Result<CaseResult, ExecError>;

    /// Runs two cases at the same time on two zygotes (an interactive submission and its
    /// validator, connected by pipes or FIFOs the caller set up). Neither starts unless both
    /// could be prepared. `ended` is called once for each case that started, as soon as it
    /// is over (also when it failed), from the thread that ran it: a caller that holds ends
    /// of the pipes between the two can release them there, so that neither case sees the
    /// other's end before the first end is known (the order of the calls is then the order
    /// in which the cases ended, as far as either could tell).
    fn run_pair(
        &mut self,
        _a: (&CaseSpec, Tier),
        _b: (&CaseSpec, Tier),
        _ended: &(dyn Fn(PairSide) + Sync),
    ) -> (Result<CaseResult, ExecError>, Result<CaseResult, ExecError>) {
        (
            Err(ExecError::Unsupported("pairs of cases")),
            Err(ExecError::Unsupported("pairs of cases")),
        )
    }

    /// A handle that kills whatever this executor is running.
    fn interrupt_handle(&self) -> Interrupt;

    /// The CPU the executor's cases run on, when pinned: the dispatcher pins the worker
    /// thread that drives it there too.
    fn cpu(&self) -> Option<usize> {
        None
    }
}

/// Which case of a [`Executor::run_pair`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairSide {
    First,
    Second,
}

/// Calls `ended(side)` when dropped: after the case's run returned, or when its thread
/// unwound, so that a caller holding pipe ends never waits for a case that is gone.
struct EndedGuard<'f> {
    ended: &'f (dyn Fn(PairSide) + Sync),
    side: PairSide,
}

impl Drop for EndedGuard<'_> {
    fn drop(&mut self) {
        (self.ended)(self.side);
    }
}

/// How every zygote of a pool is set up (what the tier and the case do not decide).
#[derive(Debug, Clone)]
pub struct ExecSettings {
    /// Executable with the zygote entry point (`<exe> __zygote`); `/proc/self/exe` stays
    /// valid even when the file is replaced on disk while we run.
    pub zygote_exe: PathBuf,
    pub cgroup: CgroupMode,
    /// Host paths shown (below the private scratch directories) or hidden in every zygote.
    pub view: View,
    /// The view of zygotes for cases with [`CaseSpec::private_view`] (`view` when unset).
    pub private_view: Option<View>,
    /// Host ids of the cases when we are root (`None`: each zygote leases its own, see
    /// [`hatchery_sandbox::ids`]).
    pub case_ids: Option<CaseIds>,
    /// The ids of cases with [`CaseSpec::shared_ids`] (zygotes of their own).
    pub shared_ids: Option<hatchery_sandbox::fsat::HostIds>,
}

impl ExecSettings {
    pub fn new(zygote_exe: PathBuf) -> ExecSettings {
        ExecSettings {
            zygote_exe,
            cgroup: CgroupMode::Auto,
            view: View::default(),
            private_view: None,
            case_ids: None,
            shared_ids: None,
        }
    }

    fn config(&self, key: ZygoteKey, cpu: Option<usize>) -> SandboxConfig {
        let mut c = SandboxConfig::new(key.tier, self.zygote_exe.clone());
        c.network = key.network;
        c.cgroup = self.cgroup;
        c.cpu = cpu;
        c.case_ids = match (key.shared_ids, self.shared_ids) {
            (true, Some(ids)) => Some(CaseIds::Fixed(ids)),
            _ => self.case_ids,
        };
        if let Some(b) = key.scratch_bytes {
            c.tmp_size_bytes = b;
        }
        c.view = match (&self.private_view, key.private_view) {
            (Some(v), true) => v.clone(),
            _ => self.view.clone(),
        };
        if key.seccomp_off {
            c.seccomp_base = SeccompProfile::Off;
        }
        c
    }
}

/// What must differ between two zygotes of one executor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ZygoteKey {
    pub tier: Tier,
    /// Cases with seccomp `off` need a zygote without the base filter (each other case then
    /// installs its own).
    pub seccomp_off: bool,
    /// The network of its cases.
    pub network: Network,
    /// It serves cases of the private view.
    pub private_view: bool,
    /// The second zygote of a pair whose two cases need the same kind of zygote (an
    /// interactive validator beside its submission on one tier).
    pub partner: bool,
    /// The size of its scratch tmpfs, when not the default.
    pub scratch_bytes: Option<u64>,
    /// Its cases run as the executor's shared ids.
    pub shared_ids: bool,
}

impl ZygoteKey {
    pub fn of(spec: &CaseSpec, tier: Tier) -> ZygoteKey {
        ZygoteKey {
            tier,
            seccomp_off: spec.seccomp.needs_unfiltered_zygote(),
            network: spec.network,
            private_view: spec.private_view,
            partner: false,
            scratch_bytes: spec.scratch_bytes,
            shared_ids: spec.shared_ids,
        }
    }
}

type StartRequest = (SandboxConfig, mpsc::Sender<Result<Sandbox, SandboxError>>);

/// Starts every zygote of the process on one thread that lives as long as the process. A
/// zygote's launcher gets a parent-death signal, which Linux ties to the *thread* that
/// created it: a zygote started on a worker thread of one dispatch would die with that thread,
/// while a pool's executors outlive their dispatches (a judge builds, then runs the tests).
fn start_zygote(cfg: SandboxConfig) -> Result<Sandbox, SandboxError> {
    static SPAWNER: OnceLock<Option<Mutex<mpsc::Sender<StartRequest>>>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<StartRequest>();
        std::thread::Builder::new()
            .name("hatchery-zygotes".into())
            .spawn(move || {
                for (cfg, reply) in rx {
                    let _ = reply.send(Sandbox::start(cfg));
                }
            })
            .ok()
            .map(|_| Mutex::new(tx))
    });
    // No spawner thread could be created: start it here (it then lives as long as this
    // thread does).
    let Some(tx) = spawner else {
        return Sandbox::start(cfg);
    };
    let (rtx, rrx) = mpsc::channel();
    let sent = tx
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .send((cfg, rtx));
    match sent {
        Ok(()) => rrx.recv().unwrap_or_else(|_| {
            Err(SandboxError::Setup {
                tier: "any",
                reason: "the thread that starts zygotes is gone".into(),
            })
        }),
        Err(mpsc::SendError((cfg, _))) => Sandbox::start(cfg),
    }
}

/// The sandbox executor of one worker: its zygotes, one per [`ZygoteKey`] its cases need,
/// started on first use and replaced when one died, hung, or said it could not restore a
/// clean state.
pub struct SandboxExecutor {
    settings: Arc<ExecSettings>,
    cpu: Option<usize>,
    zygotes: HashMap<ZygoteKey, Sandbox>,
    interrupters: Arc<Mutex<HashMap<ZygoteKey, Interrupt>>>,
}

impl SandboxExecutor {
    pub fn new(settings: Arc<ExecSettings>, cpu: Option<usize>) -> SandboxExecutor {
        SandboxExecutor {
            settings,
            cpu,
            zygotes: HashMap::new(),
            interrupters: Arc::default(),
        }
    }

    /// Moves this executor (its warm zygotes) out, leaving an empty one with the same
    /// settings and CPU in its place: to lend it to a [`Pool`] by value.
    pub fn take(&mut self) -> SandboxExecutor {
        let empty = SandboxExecutor::new(self.settings.clone(), self.cpu);
        std::mem::replace(self, empty)
    }

    /// The zygote for `key`, started (or replaced) as needed.
    pub fn zygote(&mut self, key: ZygoteKey) -> Result<&mut Sandbox, ExecError> {
        let usable = self.zygotes.get(&key).is_some_and(Sandbox::is_healthy);
        if !usable {
            // A dead, hung or poisoned zygote is dropped (killed, reaped, its cgroup removed)
            // before its replacement starts.
            self.zygotes.remove(&key);
            self.interrupters
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&key);
            let sb = start_zygote(self.settings.config(key, self.cpu)).map_err(|source| {
                ExecError::Start {
                    tier: key.tier.as_str(),
                    source,
                }
            })?;
            self.interrupters
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(key, Arc::new(sb.interrupter()));
            self.zygotes.insert(key, sb);
        }
        Ok(self.zygotes.get_mut(&key).expect("inserted above"))
    }

    /// What a zygote of `tier` (with `network`) enforces on this host (starting it when needed): the facts a
    /// run's `run_started` event carries, and the proof that the tier works here.
    pub fn enforcement(&mut self, tier: Tier, network: Network) -> Result<Enforcement, ExecError> {
        let key = ZygoteKey {
            tier,
            seccomp_off: false,
            network,
            private_view: false,
            partner: false,
            scratch_bytes: None,
            shared_ids: false,
        };
        Ok(self.zygote(key)?.enforcement().clone())
    }
}

impl Executor for SandboxExecutor {
    fn run(&mut self, spec: &CaseSpec, tier: Tier) -> Result<CaseResult, ExecError> {
        let sb = self.zygote(ZygoteKey::of(spec, tier))?;
        let prepared = sb.prepare(spec)?;
        Ok(sb.run(prepared)?)
    }

    fn run_pair(
        &mut self,
        a: (&CaseSpec, Tier),
        b: (&CaseSpec, Tier),
        ended: &(dyn Fn(PairSide) + Sync),
    ) -> (Result<CaseResult, ExecError>, Result<CaseResult, ExecError>) {
        let ka = ZygoteKey::of(a.0, a.1);
        // A second zygote of the same kind only when both cases need the same kind (a zygote
        // runs one case at a time); otherwise each runs on its usual one.
        let kb = ZygoteKey {
            partner: ZygoteKey::of(b.0, b.1) == ka,
            ..ZygoteKey::of(b.0, b.1)
        };
        // The failing side carries the error, the other is not started.
        let fail_a = |e: ExecError| (Err(e), Err(ExecError::PartnerNotStarted));
        let fail_b = |e: ExecError| (Err(ExecError::PartnerNotStarted), Err(e));
        if let Err(e) = self.zygote(ka) {
            return fail_a(e);
        }
        if let Err(e) = self.zygote(kb) {
            return fail_b(e);
        }
        let [Some(za), Some(zb)] = self.zygotes.get_disjoint_mut([&ka, &kb]) else {
            unreachable!("both started above and keys differ");
        };
        let pa = match za.prepare(a.0) {
            Ok(p) => p,
            Err(e) => return fail_a(e.into()),
        };
        let pb = match zb.prepare(b.0) {
            Ok(p) => p,
            Err(e) => return fail_b(e.into()),
        };
        std::thread::scope(|s| {
            let hb = s.spawn(move || {
                let _ended = EndedGuard {
                    ended,
                    side: PairSide::Second,
                };
                zb.run(pb)
            });
            let ra = {
                let _ended = EndedGuard {
                    ended,
                    side: PairSide::First,
                };
                za.run(pa).map_err(ExecError::from)
            };
            let rb = hb
                .join()
                .unwrap_or_else(|_| {
                    Err(RunError::Protocol(
                        "the thread running the partner case panicked".into(),
                    ))
                })
                .map_err(ExecError::from);
            (ra, rb)
        })
    }

    fn interrupt_handle(&self) -> Interrupt {
        let list = self.interrupters.clone();
        Arc::new(move || {
            for i in list.lock().unwrap_or_else(|e| e.into_inner()).values() {
                i();
            }
        })
    }

    fn cpu(&self) -> Option<usize> {
        self.cpu
    }
}

/// The executors of a run, one per worker; they outlive a dispatch, so a front end can
/// dispatch several times (build, then test) on warm zygotes.
pub struct Pool<E> {
    execs: Vec<Mutex<E>>,
}

impl<E: Executor> Pool<E> {
    pub fn new(execs: Vec<E>) -> Pool<E> {
        Pool {
            execs: execs.into_iter().map(Mutex::new).collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.execs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.execs.is_empty()
    }

    /// The executors back, in worker order (a front end that lent one to a pool for one
    /// dispatch keeps its warm zygotes).
    pub fn into_executors(self) -> Vec<E> {
        self.execs
            .into_iter()
            .map(|m| m.into_inner().unwrap_or_else(|e| e.into_inner()))
            .collect()
    }

    /// Worker `w`'s executor (for a front end's own set-up steps, e.g. listing tests).
    pub fn worker(&self, w: usize) -> MutexGuard<'_, E> {
        self.execs[w].lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Pool<SandboxExecutor> {
    /// A pool whose worker 0 is `first` (already warm: it probed the host or listed the
    /// tests), and `workers - 1` more executors with its settings, unpinned.
    pub fn around(first: SandboxExecutor, workers: usize) -> Pool<SandboxExecutor> {
        let settings = first.settings.clone();
        let mut execs = vec![first];
        execs.extend((1..workers.max(1)).map(|_| SandboxExecutor::new(settings.clone(), None)));
        Pool::new(execs)
    }

    /// `workers` sandbox executors. With `pin`, when there are no more workers than usable
    /// CPUs, each worker (its thread, zygotes and cases) runs on a CPU of its own: a
    /// supervisor thread and a zygote on one CPU avoid a cross-CPU wake-up per case (cases
    /// then see one CPU). Consecutive CPUs from the one this process started on, so that
    /// side-by-side `-j1` runs spread over the machine.
    pub fn sandboxed(settings: ExecSettings, workers: usize, pin: bool) -> Pool<SandboxExecutor> {
        let settings = Arc::new(settings);
        let workers = workers.max(1);
        Pool::new(
            (0..workers)
                .map(|w| {
                    let cpu = pin
                        .then(|| hatchery_sandbox::affinity::cpu_for_worker(w, workers))
                        .flatten();
                    SandboxExecutor::new(settings.clone(), cpu)
                })
                .collect(),
        )
    }
}

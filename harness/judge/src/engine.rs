//! The judge's use of the sandbox: a pool of workers, each owning its zygotes (a second one
//! for the validator of interactive problems), a work directory the sandboxed user can
//! reach, and resolution of the programs (compilers, interpreters) cases run.

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::Read as _;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use hatchery_report::{CaseResult, Enforcement, Limits, RawFacts};
use hatchery_sandbox::policy::CgroupMode;
use hatchery_sandbox::{CaseSpec, Sandbox, SandboxConfig, SandboxError, Tier};

/// `PATH` inside the sandbox (the engine's clean environment).
pub const SANDBOX_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// How the judge's sandboxes are set up.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Tier of the submission's runs.
    pub tier: Tier,
    /// Tier of the tools: compilers and validators. They write into the work directory
    /// (executables, feedback), which `lockdown`'s read-only root forbids.
    pub tool_tier: Tier,
    /// Executable with the zygote entry point (`<exe> __zygote`).
    pub zygote_exe: PathBuf,
    pub cgroup: CgroupMode,
    /// Parallel workers (test cases judged at once).
    pub workers: usize,
}

/// Which of a worker's zygotes runs a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The submission (tier `tier`).
    Submission,
    /// Compilers and validators (tier `tool_tier`).
    Tool,
}

/// One worker: its two zygotes (submission and tool), started on first use and replaced
/// when they break.
pub struct Worker {
    pub index: usize,
    cfg: Arc<EngineConfig>,
    spawner: Arc<Spawner>,
    sub: Option<Sandbox>,
    tool: Option<Sandbox>,
}

/// A result that says the sandbox (not the program) failed.
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

fn start_sandbox(cfg: &EngineConfig, index: usize, role: Role) -> Result<Sandbox, SandboxError> {
    let tier = match role {
        Role::Submission => cfg.tier,
        Role::Tool => cfg.tool_tier,
    };
    let mut c = SandboxConfig::new(tier, cfg.zygote_exe.clone());
    c.cgroup = cfg.cgroup;
    let _ = index;
    Sandbox::start(c)
}

type SpawnRequest = (usize, Role, mpsc::Sender<Result<Sandbox, SandboxError>>);

/// Starts zygotes on one long-lived thread. A zygote's launcher dies with the *thread* that
/// spawned it (it sets a parent-death signal, which Linux ties to the creating thread), so a
/// zygote started on a short-lived worker thread would die when that thread ends.
struct Spawner {
    tx: Mutex<Option<mpsc::Sender<SpawnRequest>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Spawner {
    fn new(cfg: Arc<EngineConfig>) -> Spawner {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        let thread = std::thread::Builder::new()
            .name("judge-zygotes".into())
            .spawn(move || {
                for (index, role, reply) in rx {
                    let _ = reply.send(start_sandbox(&cfg, index, role));
                }
            })
            .ok();
        Spawner {
            tx: Mutex::new(Some(tx)),
            thread,
        }
    }

    fn start(&self, index: usize, role: Role) -> Result<Result<Sandbox, SandboxError>, String> {
        let (rtx, rrx) = mpsc::channel();
        self.tx
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .ok_or("the zygote spawner is gone")?
            .send((index, role, rtx))
            .map_err(|_| "the zygote spawner thread is gone".to_owned())?;
        rrx.recv()
            .map_err(|_| "the zygote spawner thread is gone".to_owned())
    }
}

impl Drop for Spawner {
    fn drop(&mut self) {
        self.tx.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Worker {
    fn tier(&self, role: Role) -> Tier {
        match role {
            Role::Submission => self.cfg.tier,
            Role::Tool => self.cfg.tool_tier,
        }
    }

    fn slot(&mut self, role: Role) -> Result<&mut Sandbox, String> {
        let slot = match role {
            Role::Submission => &mut self.sub,
            Role::Tool => &mut self.tool,
        };
        if slot.as_ref().is_some_and(|s| !s.is_healthy()) {
            *slot = None;
        }
        if slot.is_none() {
            let sb = self
                .spawner
                .start(self.index, role)?
                .map_err(|e| format!("cannot start a sandbox: {}", crate::error_chain(&e)))?;
            *slot = Some(sb);
        }
        Ok(slot.as_mut().expect("just set"))
    }

    /// Runs one case on this worker's zygote for `role`. Failures to start it are
    /// `sandbox_error`.
    pub fn run(&mut self, role: Role, spec: &CaseSpec) -> CaseResult {
        let tier = self.tier(role);
        let sb = match self.slot(role) {
            Ok(s) => s,
            Err(e) => return error_result(e, &spec.limits, tier),
        };
        match sb.prepare(spec) {
            Ok(p) => sb
                .run(p)
                .unwrap_or_else(|e| error_result(e.to_string(), &spec.limits, tier)),
            Err(e) => error_result(format!("cannot start the case: {e}"), &spec.limits, tier),
        }
    }

    /// Runs a submission and a tool at the same time, on the two zygotes (an interactive
    /// submission and its validator). Neither starts unless both could be prepared.
    pub fn run_pair(&mut self, sub: &CaseSpec, tool: &CaseSpec) -> (CaseResult, CaseResult) {
        let (ts, tt) = (self.cfg.tier, self.cfg.tool_tier);
        let both_err = |e: String| {
            (
                error_result(e.clone(), &sub.limits, ts),
                error_result(e, &tool.limits, tt),
            )
        };
        for role in [Role::Submission, Role::Tool] {
            if let Err(e) = self.slot(role) {
                return both_err(e);
            }
        }
        let (Some(sa), Some(sb)) = (self.sub.as_mut(), self.tool.as_mut()) else {
            return both_err("sandboxes vanished".into());
        };
        let pa = match sa.prepare(sub) {
            Ok(p) => p,
            Err(e) => return both_err(format!("cannot start the case: {e}")),
        };
        let pb = match sb.prepare(tool) {
            Ok(p) => p,
            Err(e) => return both_err(format!("cannot start the case: {e}")),
        };
        std::thread::scope(|s| {
            let h = s.spawn(move || sb.run(pb));
            let ra = sa
                .run(pa)
                .unwrap_or_else(|e| error_result(e.to_string(), &sub.limits, ts));
            let rb =
                h.join().ok().and_then(Result::ok).unwrap_or_else(|| {
                    error_result("the validator failed".into(), &tool.limits, tt)
                });
            (ra, rb)
        })
    }
}

/// The pool of workers.
pub struct Engine {
    cfg: Arc<EngineConfig>,
    /// Dropped before the spawner: the zygotes are stopped first.
    workers: Vec<Mutex<Worker>>,
    enforcement: Enforcement,
    _spawner: Arc<Spawner>,
}

impl Engine {
    /// Starts worker 0's zygotes right away: they prove both tiers work on this host (an
    /// error names the missing feature).
    pub fn start(cfg: EngineConfig) -> Result<Engine, SandboxError> {
        let cfg = Arc::new(EngineConfig {
            workers: cfg.workers.max(1),
            ..cfg
        });
        let spawner = Arc::new(Spawner::new(cfg.clone()));
        let first = |role| match spawner.start(0, role) {
            Ok(r) => r,
            // No spawner thread (it could not be created): start it here instead.
            Err(_) => start_sandbox(&cfg, 0, role),
        };
        let sub = first(Role::Submission)?;
        let tool = first(Role::Tool)?;
        let enforcement = sub.enforcement().clone();
        let mut workers = Vec::new();
        for index in 0..cfg.workers {
            workers.push(Mutex::new(Worker {
                index,
                cfg: cfg.clone(),
                spawner: spawner.clone(),
                sub: None,
                tool: None,
            }));
        }
        let w0 = workers[0].get_mut().unwrap_or_else(|e| e.into_inner());
        w0.sub = Some(sub);
        w0.tool = Some(tool);
        Ok(Engine {
            cfg,
            workers,
            enforcement,
            _spawner: spawner,
        })
    }

    pub fn config(&self) -> &EngineConfig {
        &self.cfg
    }

    /// What the submission's tier enforces on this host (from the first zygote).
    pub fn enforcement(&self) -> &Enforcement {
        &self.enforcement
    }

    /// Runs `f` on every item, in parallel on the workers, taking items in order. When
    /// `stop_on` says a result is a failure, items after it are not started (items before
    /// it still finish), so the first failure in order is always known.
    pub fn map<T, R, F, S>(&self, items: &[T], stop_on: S, f: F) -> Vec<Option<R>>
    where
        T: Sync,
        R: Send,
        F: Fn(&mut Worker, usize, &T) -> R + Sync,
        S: Fn(&R) -> bool + Sync,
    {
        self.map_skipping(items, stop_on, |_, _| true, f)
    }

    /// Like [`Engine::map`], but a failure of item `i` only keeps item `j > i` from starting
    /// when `skips(i, j)` (a test group's `on_reject: break`). Items already started when a
    /// failure becomes known still finish: callers that need a result independent of timing
    /// drop those afterwards.
    pub fn map_skipping<T, R, F, S, K>(
        &self,
        items: &[T],
        is_failure: S,
        skips: K,
        f: F,
    ) -> Vec<Option<R>>
    where
        T: Sync,
        R: Send,
        F: Fn(&mut Worker, usize, &T) -> R + Sync,
        S: Fn(&R) -> bool + Sync,
        K: Fn(usize, usize) -> bool + Sync,
    {
        let next = AtomicUsize::new(0);
        let failed: Mutex<Vec<usize>> = Mutex::new(Vec::new());
        let results: Vec<Mutex<Option<R>>> = items.iter().map(|_| Mutex::new(None)).collect();
        let n = self.workers.len().min(items.len());
        let work = |w: &Mutex<Worker>| {
            let mut worker = w.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= items.len() {
                    break;
                }
                let skip = failed
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .iter()
                    .any(|&x| x < i && skips(x, i));
                if skip {
                    continue;
                }
                let r = f(&mut worker, i, &items[i]);
                if is_failure(&r) {
                    failed.lock().unwrap_or_else(|e| e.into_inner()).push(i);
                }
                *results[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
            }
        };
        if n <= 1 {
            if let Some(w) = self.workers.first() {
                work(w);
            }
        } else {
            std::thread::scope(|s| {
                for w in &self.workers[..n] {
                    s.spawn(|| work(w));
                }
            });
        }
        results
            .into_iter()
            .map(|m| m.into_inner().unwrap_or_else(|e| e.into_inner()))
            .collect()
    }
}

/// The judge's files: builds, outputs for validators, feedback directories, FIFOs. Outside
/// `/tmp` (cases get a private one) and reachable by the uid cases run as.
pub struct WorkDir {
    root: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    /// Host uid/gid of cases when they differ from ours (we are root).
    case_ids: Option<(u32, u32)>,
    counter: AtomicUsize,
}

impl WorkDir {
    /// Creates a fresh directory under `base` (removed on drop unless `keep`).
    pub fn create(base: &Path, keep: bool) -> Result<WorkDir, String> {
        let base = std::path::absolute(base)
            .map_err(|e| format!("invalid work directory {}: {e}", base.display()))?;
        std::fs::create_dir_all(&base)
            .map_err(|e| format!("cannot create work directory {}: {e}", base.display()))?;
        let tmp = tempfile::Builder::new()
            .prefix(".hatchery-judge.")
            .tempdir_in(&base)
            .map_err(|e| format!("cannot create a directory in {}: {e}", base.display()))?;
        let case_ids = (nix::unistd::geteuid().is_root()).then_some((65534, 65534));
        let root = tmp.path().to_path_buf();
        let wd = WorkDir {
            root: root.clone(),
            _tmp: if keep {
                let _ = tmp.keep();
                None
            } else {
                Some(tmp)
            },
            case_ids,
            counter: AtomicUsize::new(0),
        };
        set_mode(&root, 0o755).map_err(|e| format!("cannot chmod {}: {e}", root.display()))?;
        wd.check_reachable(&root)?;
        Ok(wd)
    }

    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Host uid of cases, when it is not ours.
    pub fn case_uid(&self) -> Option<u32> {
        self.case_ids.map(|c| c.0)
    }

    /// A new, empty directory (mode 0755, ours).
    pub fn new_dir(&self, prefix: &str) -> std::io::Result<PathBuf> {
        let n = self.counter.fetch_add(1, Ordering::SeqCst);
        let p = self.root.join(format!("{prefix}-{n}"));
        std::fs::create_dir(&p)?;
        set_mode(&p, 0o755)?;
        Ok(p)
    }

    /// Makes a path (recursively) owned by the case uid, so a case can write there.
    pub fn give_to_case(&self, p: &Path) -> std::io::Result<()> {
        match self.case_ids {
            Some((u, g)) => chown_tree(p, u, g),
            None => Ok(()),
        }
    }

    /// Takes a path back (recursively) after a case wrote there, so later cases cannot
    /// change it.
    pub fn take_back(&self, p: &Path) -> std::io::Result<()> {
        if self.case_ids.is_some() {
            chown_tree(
                p,
                nix::unistd::geteuid().as_raw(),
                nix::unistd::getegid().as_raw(),
            )?;
        }
        Ok(())
    }

    /// Checks that the case uid can reach (search every ancestor of) a directory.
    pub fn check_reachable(&self, p: &Path) -> Result<(), String> {
        match self.case_ids {
            Some((uid, _)) => reachable(p, uid, false),
            None => Ok(()),
        }
    }

    /// Whether the case uid can read a file (it can search every ancestor and read it).
    pub fn readable_by_case(&self, p: &Path) -> bool {
        match self.case_ids {
            Some((uid, _)) => reachable(p, uid, true).is_ok(),
            None => true,
        }
    }
}

fn set_mode(p: &Path, mode: u32) -> std::io::Result<()> {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
}

/// Changes the owner of a tree without following symbolic links.
fn chown_tree(p: &Path, uid: u32, gid: u32) -> std::io::Result<()> {
    let md = std::fs::symlink_metadata(p)?;
    std::os::unix::fs::lchown(p, Some(uid), Some(gid))?;
    if md.is_dir() {
        for e in std::fs::read_dir(p)? {
            chown_tree(&e?.path(), uid, gid)?;
        }
    }
    Ok(())
}

/// Checks, by permission bits, that `uid` (not ours, not root) can search every directory
/// on the way to `p` (and read `p` when `read`). Errors name the blocking path and its mode.
fn reachable(p: &Path, uid: u32, read: bool) -> Result<(), String> {
    let p = std::path::absolute(p).map_err(|e| e.to_string())?;
    let canon = p.canonicalize().unwrap_or(p.clone());
    let check = |q: &Path, bit: u32| -> Result<(), String> {
        let md = std::fs::metadata(q).map_err(|e| format!("{}: {e}", q.display()))?;
        let mode = md.mode();
        let ok = if md.uid() == uid {
            mode & (bit << 6) != 0
        } else {
            mode & bit != 0
        };
        if ok {
            Ok(())
        } else {
            Err(format!(
                "{} (mode {:04o}, owner uid {}) is not {} by uid {uid}",
                q.display(),
                mode & 0o7777,
                md.uid(),
                if bit == 1 { "searchable" } else { "readable" }
            ))
        }
    };
    let mut ancestors: Vec<&Path> = canon.ancestors().skip(1).collect();
    ancestors.reverse();
    for a in ancestors {
        check(a, 0o1)?;
    }
    if read {
        check(&canon, 0o4)
    } else {
        check(&canon, 0o1)
    }
}

/// Resolves program names the way cases will see them, once per name.
#[derive(Default)]
pub struct Resolver {
    cache: Mutex<HashMap<String, Result<PathBuf, String>>>,
}

impl Resolver {
    /// Resolves `name` (a compiler or interpreter) to an absolute path the case uid can
    /// execute: first on the sandbox's `PATH`, then on ours; a rustup proxy is replaced by
    /// the toolchain's real binary (the proxy needs the caller's home directory).
    pub fn resolve(&self, name: &str, work: &WorkDir) -> Result<PathBuf, String> {
        if name.contains('/') {
            let p = std::path::absolute(name).map_err(|e| format!("{name}: {e}"))?;
            if let Some(uid) = work.case_uid() {
                reachable(&p, uid, false)
                    .map_err(|e| format!("`{name}` cannot be run by the sandboxed user: {e}"))?;
            }
            return Ok(p);
        }
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = cache.get(name) {
            return r.clone();
        }
        let r = resolve_uncached(name, work);
        cache.insert(name.to_owned(), r.clone());
        r
    }
}

fn find_in(path: &std::ffi::OsStr, name: &str) -> Option<PathBuf> {
    std::env::split_paths(path).map(|d| d.join(name)).find(|c| {
        c.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

fn resolve_uncached(name: &str, work: &WorkDir) -> Result<PathBuf, String> {
    let host_path = std::env::var_os("PATH").unwrap_or_else(|| SANDBOX_PATH.into());
    let found = find_in(SANDBOX_PATH.as_ref(), name)
        .or_else(|| find_in(&host_path, name))
        .ok_or_else(|| {
            format!(
                "`{name}` not found on the sandbox's PATH ({SANDBOX_PATH}) or on ours; install it"
            )
        })?;
    let mut path = found.clone();
    let is_rustup = found
        .canonicalize()
        .ok()
        .and_then(|c| c.file_name().map(|n| n == "rustup"))
        .unwrap_or(false);
    if is_rustup {
        // `rustc --print sysroot` through the proxy names the toolchain it would use.
        let out = std::process::Command::new(&found)
            .args(["--print", "sysroot"])
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output()
            .map_err(|e| {
                format!(
                    "cannot ask the rustup proxy {} for its toolchain: {e}",
                    found.display()
                )
            })?;
        let sysroot = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let real = Path::new(&sysroot).join("bin").join(name);
        if !out.status.success() || !real.is_file() {
            return Err(format!(
                "`{name}` is a rustup proxy ({}) whose toolchain could not be found",
                found.display()
            ));
        }
        path = real;
    }
    if let Some(uid) = work.case_uid() {
        reachable(&path, uid, false).map_err(|e| {
            format!(
                "`{name}` resolves to {}, which the sandboxed user cannot run: {e}; install it \
                 where every user can reach it, or run the judge as a normal user",
                path.display()
            )
        })?;
    }
    Ok(path)
}

/// Reads a file a case wrote (a validator's feedback): never follows a symbolic link, only
/// regular files, at most `cap` bytes.
pub fn read_case_file(p: &Path, cap: u64) -> Option<Vec<u8>> {
    let f = std::fs::File::options()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK)
        .open(p)
        .ok()?;
    if !f.metadata().ok()?.is_file() {
        return None;
    }
    let mut buf = Vec::new();
    f.take(cap).read_to_end(&mut buf).ok()?;
    Some(buf)
}

/// Makes a FIFO owned by the case uid.
pub fn make_fifo(p: &Path, work: &WorkDir) -> Result<(), String> {
    nix::unistd::mkfifo(p, nix::sys::stat::Mode::from_bits_truncate(0o600))
        .map_err(|e| format!("mkfifo {}: {e}", p.display()))?;
    work.give_to_case(p)
        .map_err(|e| format!("chown {}: {e}", p.display()))
}

/// A case spec with the judge's defaults: clean environment, default seccomp profile.
pub fn spec(argv: Vec<OsString>, cwd: &Path, limits: Limits) -> CaseSpec {
    let mut s = CaseSpec::new(argv);
    s.cwd = cwd.to_path_buf();
    s.limits = limits;
    s
}

//! Running `POST /run` commands as cases on the engine.
//!
//! Workers: one OS thread per worker, each owning one [`SandboxExecutor`] (its zygotes) and
//! pinned with it to a CPU of its own when there are no more workers than CPUs. Commands
//! wait in one queue (its depth is a metric); a worker takes a command, prepares it (a
//! fresh working directory with the `copyIn` files, stdin spooled), runs it, copies out what
//! was asked, removes the directory and answers.
//!
//! Files: each command gets a directory made for it in the server's work tree (created mode
//! 0700 by us, filled by us, then lent to the case uid by `fchown` on its descriptor; see
//! `hatchery_sandbox::fsat`). The work tree is the one place cases may write besides their
//! scratch (`View::allow_write`); what a case wrote is read back through descriptors without
//! following links, and the directory is removed the same way. Client paths (`copyIn`,
//! `copyOut` names) are relative paths of normal components, resolved beneath that
//! directory only; `src` is accepted only inside the store.

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd as _, AsRawFd as _, OwnedFd};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Instant;

use base64::Engine as _;
use hatchery_engine::{ExecError, ExecSettings, Executor, SandboxExecutor};
use hatchery_report::{Captured, CaseResult, Limits};
use hatchery_sandbox::fsat::{self, CaseDir, HostIds};
use hatchery_sandbox::{CaseSpec, Stdin, Tier};
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use crate::api::{Cmd, CmdFile, FileError, FileErrorType, PipeMap, Request, RunResult, Status};
use crate::metrics::{CaseLabels, Metrics};
use crate::store::Store;

/// The server's maximums: every limit a client asks for is capped by these, and a limit it
/// leaves out gets the maximum.
#[derive(Debug, Clone)]
pub struct Caps {
    pub cpu_us: u64,
    pub wall_us: u64,
    pub memory_bytes: u64,
    pub procs: u64,
    pub stack_bytes: u64,
    /// stdout + stderr of one command.
    pub output_bytes: u64,
    /// One file copied in or out (and the file size rlimit of cases).
    pub file_bytes: u64,
    pub cmds: usize,
    pub args: usize,
    pub env: usize,
    pub copy_in: usize,
    pub copy_out: usize,
}

impl Default for Caps {
    fn default() -> Caps {
        Caps {
            cpu_us: 10_000_000,
            wall_us: 30_000_000,
            memory_bytes: 1 << 30,
            procs: 128,
            stack_bytes: 256 << 20,
            output_bytes: 64 << 20,
            file_bytes: 64 << 20,
            cmds: 16,
            args: 4096,
            env: 1024,
            copy_in: 1024,
            copy_out: 256,
        }
    }
}

/// Longest path a client may name (`copyIn`, `copyOut`).
const MAX_PATH: usize = 4096;

type Job = Box<dyn FnOnce(&mut SandboxExecutor) + Send>;

/// The work tree: one directory per command, lent to the case uid.
struct WorkTree {
    root: PathBuf,
    fd: OwnedFd,
    /// Where stdin contents are spooled (ours, hidden from cases).
    spool: PathBuf,
    spool_fd: OwnedFd,
    case_ids: Option<HostIds>,
    counter: AtomicU64,
}

/// What the workers share.
pub struct Shared {
    pub store: Arc<Store>,
    pub metrics: Arc<Metrics>,
    pub caps: Caps,
    pub tier: Tier,
    work: WorkTree,
}

/// The workers and their queue.
pub struct Runner {
    tx: Mutex<mpsc::Sender<Job>>,
    pub shared: Arc<Shared>,
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

/// A request refused as a whole (HTTP 400), with what is wrong.
#[derive(Debug)]
pub struct BadRequest(pub String);

fn bad<T>(msg: impl Into<String>) -> Result<T, BadRequest> {
    Err(BadRequest(msg.into()))
}

impl Runner {
    /// Starts `workers` worker threads. `work_root` and `spool` are empty directories of
    /// ours; `settings` must let cases write below `work_root` and hide `spool` and the store.
    pub fn start(
        settings: ExecSettings,
        workers: usize,
        pin: bool,
        shared: SharedParts,
    ) -> std::io::Result<Runner> {
        let open = |p: &Path| fsat::open_dir(p);
        let work = WorkTree {
            fd: open(&shared.work_root)?,
            root: shared.work_root,
            spool_fd: open(&shared.spool)?,
            spool: shared.spool,
            case_ids: settings.shared_ids,
            counter: AtomicU64::new(0),
        };
        let shared = Arc::new(Shared {
            store: shared.store,
            metrics: shared.metrics,
            caps: shared.caps,
            tier: shared.tier,
            work,
        });
        let settings = Arc::new(settings);
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let workers = workers.max(1);
        let mut threads = Vec::new();
        for w in 0..workers {
            let cpu = pin
                .then(|| hatchery_sandbox::affinity::cpu_for_worker(w, workers))
                .flatten();
            let rx = rx.clone();
            let settings = settings.clone();
            let metrics = shared.metrics.clone();
            threads.push(
                std::thread::Builder::new()
                    .name(format!("serve-worker-{w}"))
                    .spawn(move || {
                        if let Some(c) = cpu {
                            let _ = hatchery_sandbox::affinity::pin_current_thread(c);
                        }
                        let mut exec = SandboxExecutor::new(settings, cpu);
                        loop {
                            let job = {
                                let rx = rx.lock().unwrap_or_else(|e| e.into_inner());
                                rx.recv()
                            };
                            let Ok(job) = job else { break };
                            metrics.queue_depth.dec();
                            metrics.running.inc();
                            job(&mut exec);
                            metrics.running.dec();
                        }
                    })?,
            );
        }
        Ok(Runner {
            tx: Mutex::new(tx),
            shared,
            threads: Mutex::new(threads),
        })
    }

    /// Queues `f` for the next free worker; its answer arrives on the receiver (an error
    /// when the workers are gone).
    pub(crate) fn enqueue<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut SandboxExecutor) -> T + Send + 'static,
    ) -> tokio::sync::oneshot::Receiver<T> {
        let (otx, orx) = tokio::sync::oneshot::channel();
        self.shared.metrics.queue_depth.inc();
        let sent = self
            .tx
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(Box::new(move |ex| {
                let _ = otx.send(f(ex));
            }));
        if sent.is_err() {
            self.shared.metrics.queue_depth.dec();
        }
        orx
    }

    /// Runs one request: its commands at the same time (each on a worker), or a pair
    /// connected by `pipeMapping` on one worker's two zygotes.
    pub async fn run(&self, req: Request) -> Result<Vec<RunResult>, BadRequest> {
        validate(&req, &self.shared.caps)?;
        let arrived = Instant::now();
        let lost = || {
            RunResult::not_run(
                Status::InternalError,
                "the worker running this command stopped".into(),
            )
        };
        if !req.pipe_mapping.is_empty() {
            let sh = self.shared.clone();
            let Request {
                cmd, pipe_mapping, ..
            } = req;
            let out = self
                .enqueue(move |ex| sh.run_piped(ex, &cmd, &pipe_mapping, arrived))
                .await;
            return Ok(out.unwrap_or_else(|_| vec![lost(), lost()]));
        }
        // Every command queued at once: they run side by side as workers free up.
        let pending: Vec<_> = req
            .cmd
            .into_iter()
            .map(|cmd| {
                let sh = self.shared.clone();
                self.enqueue(move |ex| sh.run_one(ex, &cmd, arrived))
            })
            .collect();
        let mut out = Vec::with_capacity(pending.len());
        for p in pending {
            out.push(p.await.unwrap_or_else(|_| lost()));
        }
        Ok(out)
    }

    /// Stops the workers (after the commands queued) and drops their zygotes.
    pub fn shutdown(&self) {
        // A closed channel ends each worker's loop.
        let (dead, _) = mpsc::channel();
        *self.tx.lock().unwrap_or_else(|e| e.into_inner()) = dead;
        for t in std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner())) {
            let _ = t.join();
        }
    }
}

/// What [`Runner::start`] is given besides the engine settings.
pub struct SharedParts {
    pub store: Arc<Store>,
    pub metrics: Arc<Metrics>,
    pub caps: Caps,
    pub tier: Tier,
    pub work_root: PathBuf,
    pub spool: PathBuf,
}

/// A path a client names inside a command's directory: relative, normal components only.
fn client_path(p: &str, what: &str) -> Result<PathBuf, BadRequest> {
    if p.is_empty() || p.len() > MAX_PATH || p.contains('\0') {
        return bad(format!("{what} `{p}`: not a usable file name"));
    }
    let path = Path::new(p);
    if !path
        .components()
        .all(|c| matches!(c, Component::Normal(n) if n.len() <= 255))
    {
        return bad(format!(
            "{what} `{p}`: must be a relative path inside the working directory (no `..`, no \
             leading `/`)"
        ));
    }
    Ok(path.to_path_buf())
}

/// Checks what can be checked before anything runs: counts, shapes, names.
pub fn validate(req: &Request, caps: &Caps) -> Result<(), BadRequest> {
    if req.cmd.is_empty() {
        return bad("`cmd` is empty");
    }
    if req.cmd.len() > caps.cmds {
        return bad(format!(
            "{} commands in one request; this server takes at most {}",
            req.cmd.len(),
            caps.cmds
        ));
    }
    if let Some(id) = &req.request_id {
        if id.len() > 256 {
            return bad("`requestId` is longer than 256 bytes");
        }
    }
    for (i, c) in req.cmd.iter().enumerate() {
        let at = |m: String| BadRequest(format!("cmd[{i}]: {m}"));
        if c.args.is_empty() {
            return Err(at("`args` is empty".into()));
        }
        if c.args.len() > caps.args {
            return Err(at(format!("more than {} `args`", caps.args)));
        }
        if c.env.len() > caps.env {
            return Err(at(format!("more than {} `env` entries", caps.env)));
        }
        if let Some(e) = c.env.iter().find(|e| !e.contains('=')) {
            return Err(at(format!("`env` entry `{e}` is not KEY=VALUE")));
        }
        if c.tty {
            return Err(at("`tty` is not supported".into()));
        }
        if c.copy_out_dir.as_deref().is_some_and(|d| !d.is_empty()) {
            return Err(at(
                "`copyOutDir` is not supported (paths of the server's filesystem are never \
                 written for clients)"
                    .into(),
            ));
        }
        if c.files.len() > 3 {
            return Err(at(
                "`files` names descriptors 0, 1 and 2 only (more are not supported)".into(),
            ));
        }
        for (fd, f) in c.files.iter().enumerate() {
            let Some(f) = f else { continue };
            let what = format!("files[{fd}]");
            if f.stream_in.is_some() || f.stream_out.is_some() {
                return Err(at(format!("{what}: streams are not supported")));
            }
            let collector = f.name.is_some() && f.max.is_some();
            let input = f.content.is_some() || f.file_id.is_some() || f.src.is_some();
            match fd {
                0 if !input => {
                    return Err(at(format!(
                        "{what}: stdin must be `content`, `fileId` or `src`"
                    )))
                }
                1 | 2 if !collector => {
                    return Err(at(format!(
                        "{what}: an output must be a collector (`name` and `max`)"
                    )))
                }
                _ => {}
            }
            if collector && f.max.is_some_and(|m| m < 0) {
                return Err(at(format!("{what}: `max` must not be negative")));
            }
        }
        if c.copy_in.len() > caps.copy_in {
            return Err(at(format!("more than {} `copyIn` files", caps.copy_in)));
        }
        for (name, f) in &c.copy_in {
            client_path(name, "copyIn").map_err(|e| at(e.0))?;
            if f.symlink.is_some() {
                return Err(at(format!("copyIn `{name}`: symlinks are not supported")));
            }
            if f.content.is_none() && f.file_id.is_none() && f.src.is_none() {
                return Err(at(format!(
                    "copyIn `{name}`: needs `content`, `fileId` or `src`"
                )));
            }
        }
        if c.copy_out.len() + c.copy_out_cached.len() > caps.copy_out {
            return Err(at(format!(
                "more than {} `copyOut` and `copyOutCached` files",
                caps.copy_out
            )));
        }
        for n in c.copy_out.iter().chain(&c.copy_out_cached) {
            client_path(n.strip_suffix('?').unwrap_or(n), "copyOut").map_err(|e| at(e.0))?;
        }
    }
    if !req.pipe_mapping.is_empty() {
        if req.cmd.len() != 2 {
            return bad("`pipeMapping` connects the two commands of a request (exactly two)");
        }
        let mut ends = std::collections::HashSet::new();
        for (k, p) in req.pipe_mapping.iter().enumerate() {
            let at = |m: &str| BadRequest(format!("pipeMapping[{k}]: {m}"));
            if p.proxy {
                return Err(at("`proxy` is not supported"));
            }
            if p.input.index > 1 || p.output.index > 1 || p.input.index == p.output.index {
                return Err(at("must connect command 0 and command 1"));
            }
            if !matches!(p.input.fd, 1 | 2) || p.output.fd != 0 {
                return Err(at("must go from descriptor 1 or 2 to descriptor 0"));
            }
            for e in [(p.input.index, p.input.fd), (p.output.index, p.output.fd)] {
                if !ends.insert(e) {
                    return Err(at(&format!(
                        "descriptor {} of command {} is mapped twice",
                        e.1, e.0
                    )));
                }
                let given = req.cmd[e.0]
                    .files
                    .get(e.1 as usize)
                    .is_some_and(Option::is_some);
                if given {
                    return Err(at(&format!(
                        "cmd[{}].files[{}] must be null: the pipe is connected there",
                        e.0, e.1
                    )));
                }
            }
        }
    }
    Ok(())
}

/// The limits of a command: what it asks, capped by the server's maximums; what it leaves
/// out is the maximum (the wall limit: 2 × CPU + 1 s, capped).
pub fn limits(c: &Cmd, caps: &Caps) -> Limits {
    let ask = |v: u64, cap: u64| if v == 0 { cap } else { v.min(cap) };
    let cpu_us = ask(c.cpu_limit.div_ceil(1000), caps.cpu_us);
    let clock = if c.real_cpu_limit > 0 {
        c.real_cpu_limit
    } else {
        c.clock_limit
    };
    let wall_us = if clock > 0 {
        clock.div_ceil(1000).min(caps.wall_us)
    } else {
        (cpu_us.saturating_mul(2) + 1_000_000).min(caps.wall_us)
    };
    let collected = |fd: usize| -> Option<u64> {
        let f = c.files.get(fd)?.as_ref()?;
        f.name.as_ref()?;
        Some(f.max.unwrap_or(0).max(0) as u64)
    };
    let output = match (collected(1), collected(2)) {
        (Some(a), Some(b)) => a.saturating_add(b).min(caps.output_bytes),
        _ => caps.output_bytes,
    };
    Limits {
        cpu_us: Some(cpu_us),
        wall_us: Some(wall_us),
        memory_bytes: Some(ask(c.memory_limit, caps.memory_bytes)),
        output_bytes: Some(output),
        file_size_bytes: Some(caps.file_bytes),
        stack_bytes: (c.stack_limit > 0).then(|| c.stack_limit.min(caps.stack_bytes)),
        pids: Some(ask(c.proc_limit, caps.procs)),
        open_files: None,
    }
}

/// A command ready to run: its case and what to do afterwards.
struct Prepared {
    spec: CaseSpec,
    /// The command's working directory in the work tree; `None`: it runs in its private
    /// `/tmp` (see [`Shared::prepare`]).
    dir: Option<CaseDir>,
    spool: Option<OsString>,
    /// (descriptor, collector name, max bytes).
    collectors: Vec<(u32, String, u64)>,
}

/// A command that cannot run: a file error (status "File Error").
fn file_error(name: &str, kind: FileErrorType, msg: String) -> RunResult {
    let mut r = RunResult::not_run(Status::FileError, msg.clone());
    r.file_error.push(FileError {
        name: name.to_owned(),
        kind,
        message: Some(msg),
    });
    r
}

impl Shared {
    fn fresh(&self, prefix: &str) -> OsString {
        let n = self.work.counter.fetch_add(1, Ordering::Relaxed);
        format!("{prefix}-{n}").into()
    }

    /// The bytes of a file a client gives: inline, by id, or by a path inside the store.
    fn file_bytes(&self, f: &CmdFile) -> Result<Vec<u8>, String> {
        if let Some(c) = &f.content {
            return Ok(c.clone().into_bytes());
        }
        let id = match (&f.file_id, &f.src) {
            (Some(id), _) => id.as_str(),
            (None, Some(src)) => {
                // `src` only inside the store: the store's directory and one id.
                let p = Path::new(src);
                match p
                    .strip_prefix(self.store.dir())
                    .ok()
                    .and_then(|r| r.to_str())
                {
                    Some(id) if Store::valid_id(id) => id,
                    _ => {
                        return Err(format!(
                            "`src` {src}: only files of the store ({}) may be named by path",
                            self.store.dir().display()
                        ))
                    }
                }
            }
            (None, None) => return Err("no content".into()),
        };
        self.store
            .get(id)
            .map(|(_, b)| b)
            .map_err(|e| hatchery_report::error_chain(&e))
    }

    /// Writes `data` at `rel` in `dir` (ours, not yet lent), creating the directories on the
    /// way, every entry handed to the case uid.
    fn place(&self, dir: &CaseDir, rel: &Path, data: &[u8]) -> std::io::Result<()> {
        let ids = self.work.case_ids;
        let give = |fd: &OwnedFd| -> std::io::Result<()> {
            if let Some(ids) = ids {
                nix::unistd::fchown(
                    fd.as_raw_fd(),
                    Some(nix::unistd::Uid::from_raw(ids.uid)),
                    Some(nix::unistd::Gid::from_raw(ids.gid)),
                )?;
            }
            Ok(())
        };
        let comps: Vec<&OsStr> = rel.iter().collect();
        let (last, parents) = comps.split_last().expect("validated: not empty");
        let mut cur: Option<OwnedFd> = None;
        for p in parents {
            let at = cur.as_ref().map_or(dir.fd(), |f| f.as_fd());
            match nix::sys::stat::mkdirat(Some(at.as_raw_fd()), *p, Mode::from_bits_truncate(0o755))
            {
                Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
                Err(e) => return Err(e.into()),
            }
            let next = hatchery_sys::openat2_beneath(
                at,
                Path::new(p),
                OFlag::O_RDONLY | OFlag::O_DIRECTORY,
                Mode::empty(),
            )?;
            nix::sys::stat::fchmod(next.as_raw_fd(), Mode::from_bits_truncate(0o755))?;
            give(&next)?;
            cur = Some(next);
        }
        let at = cur.as_ref().map_or(dir.fd(), |f| f.as_fd());
        let fd = hatchery_sys::openat_owned(
            at,
            *last,
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o755),
        )?;
        nix::sys::stat::fchmod(fd.as_raw_fd(), Mode::from_bits_truncate(0o755))?;
        give(&fd)?;
        std::io::Write::write_all(&mut std::fs::File::from(fd), data)
    }

    /// Makes the command's directory, copies its files in, spools its stdin, builds its case.
    /// A command's working directory, stdin and spec. A command that copies no file in or
    /// out (its outputs are collectors) and needs no directory shared with another command
    /// (`alone`) runs in its private `/tmp`, fresh for each case and gone with it, where
    /// the tier gives one (not `none`): no directory is made, lent and removed for it.
    fn prepare(&self, c: &Cmd, alone: bool) -> Result<Prepared, Box<RunResult>> {
        let collector_names: Vec<&str> = c
            .files
            .iter()
            .skip(1)
            .filter_map(|f| f.as_ref()?.name.as_deref())
            .collect();
        let in_scratch = alone
            && self.tier != Tier::None
            && c.copy_in.is_empty()
            && c.copy_out
                .iter()
                .chain(&c.copy_out_cached)
                .all(|n| collector_names.contains(&n.strip_suffix('?').unwrap_or(n)));
        let dir = if in_scratch {
            None
        } else {
            Some(
                CaseDir::create(self.work.fd.as_fd(), &self.work.root, &self.fresh("c")).map_err(
                    |e| {
                        Box::new(RunResult::not_run(
                            Status::InternalError,
                            format!("cannot create the working directory: {e}"),
                        ))
                    },
                )?,
            )
        };
        let fail = |r: RunResult| {
            if let Some(d) = &dir {
                let _ = fsat::remove_tree_at(
                    self.work.fd.as_fd(),
                    d.path().file_name().unwrap_or_default(),
                );
            }
            Box::new(r)
        };
        for (name, f) in &c.copy_in {
            let Some(dir) = &dir else { break };
            let data = match self.file_bytes(f) {
                Ok(d) => d,
                Err(e) => {
                    return Err(fail(file_error(
                        name,
                        FileErrorType::CopyInOpenFile,
                        format!("copyIn `{name}`: {e}"),
                    )))
                }
            };
            if data.len() as u64 > self.caps.file_bytes {
                return Err(fail(file_error(
                    name,
                    FileErrorType::CopyInCreateFile,
                    format!(
                        "copyIn `{name}`: {} bytes, beyond this server's largest file ({})",
                        data.len(),
                        self.caps.file_bytes
                    ),
                )));
            }
            if let Err(e) = self.place(dir, Path::new(name), &data) {
                return Err(fail(file_error(
                    name,
                    FileErrorType::CopyInCreateFile,
                    format!("copyIn `{name}`: {e}"),
                )));
            }
        }
        let mut spool = None;
        let mut stdin = None;
        // Empty inline content reads as /dev/null does (end of file at once): nothing to
        // spool.
        let stdin_file = c
            .files
            .first()
            .and_then(Option::as_ref)
            .filter(|f| f.content.as_deref() != Some(""));
        if let Some(f) = stdin_file {
            let data = match self.file_bytes(f) {
                Ok(d) => d,
                Err(e) => {
                    return Err(fail(file_error(
                        "stdin",
                        FileErrorType::CopyInOpenFile,
                        format!("stdin: {e}"),
                    )))
                }
            };
            let name = self.fresh("in");
            if let Err(e) = fsat::write_new(self.work.spool_fd.as_fd(), &name, &data, 0o600) {
                return Err(fail(RunResult::not_run(
                    Status::InternalError,
                    format!("cannot spool stdin: {e}"),
                )));
            }
            stdin = Some(Stdin::Trusted(self.work.spool.join(&name)));
            spool = Some(name);
        }
        if let Err(e) = dir
            .as_ref()
            .map_or(Ok(()), |d| d.lend(self.work.case_ids, 0o700))
        {
            self.unspool(&spool);
            return Err(fail(RunResult::not_run(
                Status::InternalError,
                format!("cannot hand the working directory to the case: {e}"),
            )));
        }
        let mut spec = CaseSpec::new(c.args.iter().map(OsString::from).collect());
        // A program named without a slash that was copied in is the one in the working
        // directory (go-judge runs `a` after copying `a` in); otherwise `PATH` decides.
        if let Some(d) = dir
            .as_ref()
            .filter(|_| !c.args[0].contains('/') && c.copy_in.contains_key(&c.args[0]))
        {
            spec.program = d.path().join(&c.args[0]).into();
        }
        spec.env = c
            .env
            .iter()
            .filter_map(|e| e.split_once('='))
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        spec.stdin = stdin;
        spec.limits = limits(c, &self.caps);
        match &dir {
            Some(d) => {
                spec.cwd = d.path().to_path_buf();
                // It writes in a directory lent to the shared ids before a worker was chosen.
                spec.shared_ids = true;
            }
            None => spec.cwd = PathBuf::from("/tmp"),
        }
        let collectors = c
            .files
            .iter()
            .enumerate()
            .skip(1)
            .filter_map(|(fd, f)| {
                let f = f.as_ref()?;
                Some((fd as u32, f.name.clone()?, f.max.unwrap_or(0).max(0) as u64))
            })
            .collect();
        if let Err(e) = spec.check() {
            let msg = format!("{e}");
            let p = Prepared {
                spec,
                dir,
                spool,
                collectors,
            };
            self.cleanup(&p);
            return Err(Box::new(RunResult::not_run(Status::InternalError, msg)));
        }
        Ok(Prepared {
            spec,
            dir,
            spool,
            collectors,
        })
    }

    fn unspool(&self, spool: &Option<OsString>) {
        if let Some(n) = spool {
            let _ = nix::unistd::unlinkat(
                Some(self.work.spool_fd.as_raw_fd()),
                n.as_os_str(),
                nix::unistd::UnlinkatFlags::NoRemoveDir,
            );
        }
    }

    fn cleanup(&self, p: &Prepared) {
        self.unspool(&p.spool);
        if let Some(d) = &p.dir {
            let _ = fsat::remove_tree_at(
                self.work.fd.as_fd(),
                d.path().file_name().unwrap_or_default(),
            );
        }
    }

    /// Turns the engine's result into go-judge's, copying out what the command asked for.
    fn finish(&self, c: &Cmd, p: &Prepared, res: Result<CaseResult, ExecError>) -> RunResult {
        let r = match res {
            Ok(r) => r,
            Err(ExecError::BadSpec(e)) => {
                // The program cannot be started (not found, not executable).
                return file_error(
                    &c.args[0],
                    FileErrorType::CopyInOpenFile,
                    format!("the case cannot be started: {e}"),
                );
            }
            Err(e) => e.result(&p.spec.limits, self.tier),
        };
        let mut out = RunResult {
            status: Status::of(r.outcome),
            exit_status: r.signal_number.or(r.exit_code).unwrap_or(0),
            error: r.error.clone(),
            time: r.usage.cpu_us.saturating_mul(1000),
            memory: r.usage.peak_memory_bytes,
            run_time: r.usage.wall_us.saturating_mul(1000),
            proc_peak: r.usage.peak_pids,
            files: Default::default(),
            file_ids: Default::default(),
            file_error: Vec::new(),
            files_base64: Default::default(),
            outcome: Some(r.outcome),
            reason: r.reason.clone(),
            signal: r.signal.clone(),
            limit: r.limit,
            limits: Some(r.limits.clone()),
            enforcement: Some(r.enforcement.clone()),
        };
        // Collectors: each stream up to its own `max` (beyond: Output Limit Exceeded).
        let mut collected: Vec<(String, Vec<u8>)> = Vec::new();
        for (fd, name, max) in &p.collectors {
            let s: &Captured = if *fd == 1 { &r.stdout } else { &r.stderr };
            if s.bytes > *max || (s.truncated && s.data.len() as u64 >= *max) {
                out.file_error.push(FileError {
                    name: name.clone(),
                    kind: FileErrorType::CollectSizeExceeded,
                    message: Some(format!("more than {max} bytes written")),
                });
                if out.status == Status::Accepted || out.status == Status::NonzeroExitStatus {
                    out.status = Status::OutputLimitExceeded;
                }
            }
            let keep = s.data.len().min(*max as usize);
            collected.push((name.clone(), s.data[..keep].to_vec()));
        }
        let max = if c.copy_out_max == 0 {
            self.caps.file_bytes
        } else {
            c.copy_out_max.min(self.caps.file_bytes)
        };
        let fetch = |name: &str, out: &mut RunResult| -> Option<Vec<u8>> {
            let (name, optional) = match name.strip_suffix('?') {
                Some(n) => (n, true),
                None => (name, false),
            };
            if let Some((_, b)) = collected.iter().find(|(n, _)| n == name) {
                return Some(b.clone());
            }
            let err = |kind, msg: String| FileError {
                name: name.to_owned(),
                kind,
                message: Some(msg),
            };
            let read = match &p.dir {
                Some(d) => d.read(Path::new(name), max + 1),
                // Only collectors are copied out of a command without a directory.
                None => Ok(None),
            };
            match read {
                Ok(Some(b)) if b.len() as u64 > max => {
                    out.file_error.push(err(
                        FileErrorType::CopyOutSizeExceeded,
                        format!("larger than {max} bytes"),
                    ));
                    None
                }
                Ok(Some(b)) => Some(b),
                Ok(None) if optional => None,
                Ok(None) => {
                    out.file_error.push(err(
                        FileErrorType::CopyOutOpen,
                        "no such regular file (links are not followed)".into(),
                    ));
                    None
                }
                Err(e) if optional && e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => {
                    out.file_error
                        .push(err(FileErrorType::CopyOutOpen, e.to_string()));
                    None
                }
            }
        };
        let errors_before = out.file_error.len();
        for name in &c.copy_out {
            if let Some(b) = fetch(name, &mut out) {
                let key = name.strip_suffix('?').unwrap_or(name).to_owned();
                match String::from_utf8(b) {
                    Ok(s) => {
                        out.files.insert(key, s);
                    }
                    Err(e) => {
                        let b = e.into_bytes();
                        out.files
                            .insert(key.clone(), String::from_utf8_lossy(&b).into_owned());
                        out.files_base64
                            .insert(key, base64::engine::general_purpose::STANDARD.encode(&b));
                    }
                }
            }
        }
        for name in &c.copy_out_cached {
            if let Some(b) = fetch(name, &mut out) {
                let key = name.strip_suffix('?').unwrap_or(name).to_owned();
                match self.store.add(&key, &b) {
                    Ok(id) => {
                        out.file_ids.insert(key, id);
                    }
                    Err(e) => out.file_error.push(FileError {
                        name: key,
                        kind: FileErrorType::CopyOutCreateFile,
                        message: Some(hatchery_report::error_chain(&e)),
                    }),
                }
            }
        }
        if out.file_error.len() > errors_before && out.status == Status::Accepted {
            out.status = Status::FileError;
        }
        out
    }

    fn record(&self, r: &RunResult, arrived: Instant) {
        let m = &self.metrics;
        m.cases
            .get_or_create(&CaseLabels {
                outcome: r
                    .outcome
                    .map_or("not_run".to_owned(), |o| o.as_str().to_owned()),
                status: serde_json::to_value(r.status)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
            })
            .inc();
        m.latency.observe(arrived.elapsed().as_secs_f64());
        let st = self.store.stats();
        m.store_files.set(st.files as i64);
        m.store_bytes.set(st.bytes as i64);
        m.store_evicted.set(st.evicted as i64);
    }

    /// One attempt, and one more on a fresh zygote when the zygote failed (the engine's
    /// retry rule: nothing is known about the program then).
    fn run_case(&self, ex: &mut SandboxExecutor, spec: &CaseSpec) -> Result<CaseResult, ExecError> {
        match ex.run(spec, self.tier) {
            Err(e) if e.retryable() => ex.run(spec, self.tier),
            r => r,
        }
    }

    fn run_one(&self, ex: &mut SandboxExecutor, c: &Cmd, arrived: Instant) -> RunResult {
        let r = match self.prepare(c, true) {
            Err(r) => *r,
            Ok(p) => {
                let res = self.run_case(ex, &p.spec);
                let out = self.finish(c, &p, res);
                self.cleanup(&p);
                out
            }
        };
        self.record(&r, arrived);
        r
    }

    /// Two commands connected by FIFOs as `pipeMapping` says, run at the same time on two
    /// zygotes of one worker.
    fn run_piped(
        &self,
        ex: &mut SandboxExecutor,
        cmds: &[Cmd],
        pipes: &[PipeMap],
        arrived: Instant,
    ) -> Vec<RunResult> {
        let done = |rs: Vec<RunResult>| {
            for r in &rs {
                self.record(r, arrived);
            }
            rs
        };
        // The pipes are FIFOs lent to the shared ids: both commands run as them.
        let (a, b) = match (self.prepare(&cmds[0], false), self.prepare(&cmds[1], false)) {
            (Ok(a), Ok(b)) => (a, b),
            (a, b) => {
                let skipped = || {
                    RunResult::not_run(
                        Status::FileError,
                        "not run: the other command of the pipe could not be prepared".into(),
                    )
                };
                let ra = a.map_or_else(
                    |r| *r,
                    |p| {
                        self.cleanup(&p);
                        skipped()
                    },
                );
                let rb = b.map_or_else(
                    |r| *r,
                    |p| {
                        self.cleanup(&p);
                        skipped()
                    },
                );
                return done(vec![ra, rb]);
            }
        };
        let fifo_dir = match self.fifos(pipes.len()) {
            Ok(d) => d,
            Err(e) => {
                self.cleanup(&a);
                self.cleanup(&b);
                let err = || {
                    RunResult::not_run(Status::InternalError, format!("cannot make the pipes: {e}"))
                };
                return done(vec![err(), err()]);
            }
        };
        let wrap = |i: usize, p: &Prepared| -> CaseSpec {
            // `exec` opens the FIFOs in mapping order in both commands, so neither waits
            // for an end the other opens later.
            let mut script = String::new();
            let mut paths: Vec<OsString> = Vec::new();
            for (k, m) in pipes.iter().enumerate() {
                let fifo = fifo_dir.path().join(format!("p{k}"));
                let fd = if m.input.index == i {
                    format!("{}>", m.input.fd)
                } else if m.output.index == i {
                    "0<".to_owned()
                } else {
                    continue;
                };
                paths.push(fifo.into());
                script.push_str(&format!(" {fd}\"$p{}\"", paths.len()));
            }
            let n = paths.len();
            let names: String = (1..=n).map(|j| format!("p{j}=${j}; ")).collect();
            let mut s = p.spec.clone();
            let mut argv: Vec<OsString> = vec![
                "sh".into(),
                "-c".into(),
                format!("{names}shift {n}; exec \"$@\"{script}").into(),
                "sh".into(),
            ];
            argv.extend(paths);
            argv.push(p.spec.program.clone());
            argv.extend(p.spec.argv.iter().skip(1).cloned());
            s.argv = argv;
            s.program = "/bin/sh".into();
            s
        };
        let (sa, sb) = (wrap(0, &a), wrap(1, &b));
        let (ra, rb) = ex.run_pair((&sa, self.tier), (&sb, self.tier), &|_| ());
        let out = vec![self.finish(&cmds[0], &a, ra), self.finish(&cmds[1], &b, rb)];
        self.cleanup(&a);
        self.cleanup(&b);
        let _ = fsat::remove_tree_at(
            self.work.fd.as_fd(),
            fifo_dir.path().file_name().unwrap_or_default(),
        );
        done(out)
    }

    /// A directory of ours with FIFOs `p0`.. owned by the case uid.
    fn fifos(&self, n: usize) -> std::io::Result<CaseDir> {
        let d = CaseDir::create(self.work.fd.as_fd(), &self.work.root, &self.fresh("pipes"))?;
        for k in 0..n {
            let name = format!("p{k}");
            nix::unistd::mkfifoat(
                Some(d.fd().as_raw_fd()),
                name.as_str(),
                Mode::from_bits_truncate(0o600),
            )?;
            if let Some(ids) = self.work.case_ids {
                nix::unistd::fchownat(
                    Some(d.fd().as_raw_fd()),
                    name.as_str(),
                    Some(nix::unistd::Uid::from_raw(ids.uid)),
                    Some(nix::unistd::Gid::from_raw(ids.gid)),
                    nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
                )?;
            }
        }
        d.lend(None, 0o755)?;
        Ok(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(v: serde_json::Value) -> Cmd {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn limits_are_capped_and_defaulted() {
        let caps = Caps::default();
        let l = limits(&cmd(serde_json::json!({"args": ["x"]})), &caps);
        assert_eq!(l.cpu_us, Some(caps.cpu_us));
        assert_eq!(
            l.wall_us,
            Some(caps.wall_us.min(2 * caps.cpu_us + 1_000_000))
        );
        assert_eq!(l.memory_bytes, Some(caps.memory_bytes));
        assert_eq!(l.pids, Some(caps.procs));
        assert_eq!(l.output_bytes, Some(caps.output_bytes));
        let l = limits(
            &cmd(
                serde_json::json!({"args": ["x"], "cpuLimit": 1_500_000_001u64,
                "realCpuLimit": 3_000_000_000u64, "clockLimit": 1u64,
                "memoryLimit": 1u64 << 50, "procLimit": 5, "stackLimit": 1u64 << 40,
                "files": [null, {"name": "stdout", "max": 10}, {"name": "stderr", "max": 20}]}),
            ),
            &caps,
        );
        // ns rounded up to µs; realCpuLimit wins over clockLimit, as in go-judge.
        assert_eq!(l.cpu_us, Some(1_500_001));
        assert_eq!(l.wall_us, Some(3_000_000));
        assert_eq!(l.memory_bytes, Some(caps.memory_bytes));
        assert_eq!(l.pids, Some(5));
        assert_eq!(l.stack_bytes, Some(caps.stack_bytes));
        assert_eq!(l.output_bytes, Some(30));
    }

    #[test]
    fn validation_names_the_command_and_field() {
        let caps = Caps::default();
        let req = |v: serde_json::Value| -> Request { serde_json::from_value(v).unwrap() };
        let err = |v| validate(&req(v), &caps).unwrap_err().0;
        assert!(err(
            serde_json::json!({"cmd": [{"args": ["x"]}, {"args": ["y"], "env": ["NOEQ"]}]})
        )
        .starts_with("cmd[1]: `env` entry `NOEQ`"));
        assert!(err(
            serde_json::json!({"cmd": [{"args": ["x"], "files": [{"name": "o", "max": 1}]}]})
        )
        .contains("files[0]: stdin must be"));
        assert!(err(
            serde_json::json!({"cmd": [{"args": ["x"], "files": [null, {"content": "a"}]}]})
        )
        .contains("files[1]: an output must be a collector"));
        // A pipe end that is also given a file.
        assert!(err(serde_json::json!({"cmd": [
            {"args": ["x"], "files": [null, {"name": "stdout", "max": 1}]}, {"args": ["y"]}],
            "pipeMapping": [{"in": {"index": 0, "fd": 1}, "out": {"index": 1, "fd": 0}}]}))
        .contains("cmd[0].files[1] must be null"));
        assert!(err(
            serde_json::json!({"cmd": [{"args": ["x"]}, {"args": ["y"]}],
            "pipeMapping": [{"in": {"index": 0, "fd": 0}, "out": {"index": 1, "fd": 1}}]})
        )
        .contains("from descriptor 1 or 2 to descriptor 0"));
        let many: Vec<_> = (0..=caps.cmds)
            .map(|_| serde_json::json!({"args": ["x"]}))
            .collect();
        assert!(err(serde_json::json!({ "cmd": many })).contains("at most 16"));
        assert!(validate(
            &req(serde_json::json!({"cmd": [{"args": ["x"],
            "copyIn": {"d/e/f": {"content": ""}}, "copyOut": ["d/e/f?"]}]})),
            &caps
        )
        .is_ok());
    }
}

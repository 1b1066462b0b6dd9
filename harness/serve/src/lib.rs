//! `hatchery serve`: hatchery as a service for online-judge back ends, in go-judge's REST
//! shape (`POST /run`, `/file`, `/version`) plus `/health` and `/metrics`.
//!
//! - [`api`]: the request and result types (go-judge's names and units, and ours beside).
//! - [`exec`]: workers that run commands as cases on the engine, working directories,
//!   copy-in/copy-out, `pipeMapping`, the server's maximums.
//! - [`store`]: the file store (ids, quota, eviction).
//! - [`http`]: routes, authentication, body caps.
//! - [`judge`]: `POST /judge`, a submission against an installed problem package, streamed.
//! - [`metrics`]: the Prometheus registry.
//!
//! The entry point for the command line is [`run`]; `hatchery serve` and the standalone
//! `hatchery-serve` binary both call it.

pub mod api;
pub mod exec;
pub mod http;
pub mod judge;
pub mod metrics;
pub mod queue;
pub mod store;
pub mod worker;

use std::net::SocketAddr;
use std::os::fd::AsFd as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use hatchery_engine::{parse, ExecSettings, Network};
use hatchery_report::exit;
use hatchery_sandbox::fsat;
use hatchery_sandbox::policy::CgroupMode;
use hatchery_sandbox::Tier;

pub const EXIT_CODES: &str = "\
Exit codes:
  0  the server stopped on SIGTERM or SIGINT
  2  bad command line (a non-loopback --listen without --token, a limit of 0), or the
     address or socket cannot be bound
  6  this host cannot provide the tier (the message names the missing feature)
  7  the store directory cannot be set up";

/// `hatchery serve` options.
#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// TCP address to listen on. Loopback by default; any other address requires --token.
    #[arg(
        long,
        value_name = "ADDR",
        default_value = "127.0.0.1:5050",
        conflicts_with = "socket"
    )]
    pub listen: SocketAddr,
    /// Listen on a unix socket instead (created mode 0600; a stale socket there is replaced).
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Bearer token every request but /health must carry (`Authorization: Bearer T`).
    #[arg(
        long,
        value_name = "T",
        env = "HATCHERY_SERVE_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// Directory for the file store and the commands' working directories (its `files`,
    /// `work` and `spool` are emptied at start and at exit; default: a fresh directory in
    /// the current directory, removed at exit). Outside /tmp, reachable by the case uid.
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,
    /// Total size of the file store; beyond it the least recently used files are evicted.
    #[arg(long, value_parser = parse::size_bytes, default_value = "1G")]
    pub store_quota: u64,
    /// Largest file uploaded, copied in or out, or written by a case.
    #[arg(long, value_parser = parse::size_bytes, default_value = "64M")]
    pub max_file: u64,
    /// Largest `/run` body.
    #[arg(long, value_parser = parse::size_bytes, default_value = "64M")]
    pub max_body: u64,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Run no case here: put each `/run` on this Redis's stream for `hatchery worker`s
    /// (redis://[:PASSWORD@]HOST[:PORT][/DB]); `fileId`, `src` and `copyOutCached` are
    /// refused in this mode.
    #[arg(
        long,
        value_name = "URL",
        env = "HATCHERY_REDIS",
        hide_env_values = true
    )]
    pub redis: Option<String>,
    /// Prefix of every Redis key (the workers' --redis-prefix).
    #[arg(long, default_value = "hatchery", requires = "redis")]
    pub redis_prefix: String,
    /// How long a `/run` waits for a worker's result before answering 504.
    #[arg(long, value_parser = parse::duration, default_value = "5m", requires = "redis")]
    pub redis_wait: Duration,
    /// Directory of problem packages (Kattis/ICPC format) that `POST /judge` judges against,
    /// each addressed by its directory name. Without it, /judge answers 404.
    #[arg(long, value_name = "DIR")]
    pub problems: Option<PathBuf>,
    /// A TOML or JSON file that adds or overrides the judge's languages (as `hatchery judge
    /// --languages FILE`).
    #[arg(long, value_name = "FILE")]
    pub languages: Option<PathBuf>,
}

/// The engine and the caps on every case's limits: the same options for `hatchery serve`
/// and `hatchery worker`.
#[derive(Args, Debug, Clone)]
pub struct EngineArgs {
    /// Workers (cases run at the same time). Default: the number of CPUs.
    #[arg(short = 'j', long)]
    pub jobs: Option<usize>,
    /// Do not pin each worker to a CPU of its own.
    #[arg(long)]
    pub no_pin: bool,
    /// Isolation tier of every case.
    #[arg(long, default_value = "hardened")]
    pub tier: Tier,
    /// cgroup use: auto, required, off.
    #[arg(long, default_value = "auto")]
    pub cgroup: CgroupMode,
    /// Largest CPU time limit a request may ask (and the limit when it asks none).
    #[arg(long, value_parser = parse::duration, default_value = "10s")]
    pub max_cpu_time: Duration,
    /// Largest wall-clock limit.
    #[arg(long, value_parser = parse::duration, default_value = "30s")]
    pub max_wall_time: Duration,
    /// Largest memory limit.
    #[arg(long, value_parser = parse::size_bytes, default_value = "1G")]
    pub max_memory: u64,
    /// Largest process limit.
    #[arg(long, default_value = "128")]
    pub max_procs: u64,
    /// Largest stdout + stderr of one command.
    #[arg(long, value_parser = parse::size_bytes, default_value = "64M")]
    pub max_output: u64,
}

impl EngineArgs {
    /// The caps, with `file_bytes` for files; an error when a cap is 0.
    pub(crate) fn caps(&self, file_bytes: u64) -> Result<exec::Caps, String> {
        let caps = exec::Caps {
            cpu_us: self.max_cpu_time.as_micros() as u64,
            wall_us: self.max_wall_time.as_micros() as u64,
            memory_bytes: self.max_memory,
            procs: self.max_procs,
            output_bytes: self.max_output,
            file_bytes,
            ..exec::Caps::default()
        };
        if [caps.cpu_us, caps.wall_us, caps.memory_bytes, caps.procs].contains(&0) {
            return Err(
                "--max-cpu-time, --max-wall-time, --max-memory and --max-procs must \
                        be greater than 0"
                    .into(),
            );
        }
        Ok(caps)
    }

    /// `-j`, or the number of CPUs.
    pub(crate) fn workers(&self) -> usize {
        self.jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .max(1)
    }
}

enum Listen {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

/// The store's directory and its three parts.
pub(crate) struct Dirs {
    base: PathBuf,
    ours: bool,
    files: PathBuf,
    work: PathBuf,
    spool: PathBuf,
    /// `/judge`'s work directories.
    judge: PathBuf,
}

const PARTS: [(&str, u32); 4] = [
    ("files", 0o700),
    ("work", 0o755),
    ("spool", 0o700),
    ("judge", 0o755),
];

impl Dirs {
    pub(crate) fn create(store: Option<&Path>) -> Result<Dirs, String> {
        let (base, ours) = match store {
            Some(s) => (s.to_path_buf(), false),
            None => (
                std::env::current_dir()
                    .map_err(|e| format!("no current directory: {e}"))?
                    .join(format!(".hatchery-serve.{}", std::process::id())),
                true,
            ),
        };
        let base = std::path::absolute(&base)
            .map_err(|e| format!("invalid store {}: {e}", base.display()))?;
        std::fs::create_dir_all(&base)
            .map_err(|e| format!("cannot create the store {}: {e}", base.display()))?;
        let fd = fsat::open_dir(&base)
            .map_err(|e| format!("cannot open the store {}: {e}", base.display()))?;
        for (name, mode) in PARTS {
            // What a previous server left (cases wrote in `work`): removed by descriptor.
            match fsat::remove_tree_at(fd.as_fd(), name.as_ref()) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("cannot empty {}/{name}: {e}", base.display())),
            }
            let d = fsat::CaseDir::create(fd.as_fd(), &base, name.as_ref())
                .and_then(|d| d.lend(None, mode))
                .map_err(|e| format!("cannot create {}/{name}: {e}", base.display()));
            d?;
        }
        Ok(Dirs {
            files: base.join("files"),
            work: base.join("work"),
            spool: base.join("spool"),
            judge: base.join("judge"),
            base,
            ours,
        })
    }

    pub(crate) fn remove(&self) {
        if let Ok(fd) = fsat::open_dir(&self.base) {
            for (name, _) in PARTS {
                let _ = fsat::remove_tree_at(fd.as_fd(), name.as_ref());
            }
        }
        if self.ours {
            let _ = std::fs::remove_dir(&self.base);
        }
    }
}

fn fail(code: u8, msg: impl std::fmt::Display) -> u8 {
    eprintln!("hatchery serve: {msg}");
    code
}

/// Runs the server until SIGTERM or SIGINT; returns the process exit code.
pub fn run(a: ServeArgs, zygote_exe: PathBuf) -> u8 {
    let listen = match &a.socket {
        Some(p) => Listen::Unix(p.clone()),
        None => Listen::Tcp(a.listen),
    };
    if let Listen::Tcp(addr) = &listen {
        if !addr.ip().is_loopback() && a.token.as_deref().is_none_or(str::is_empty) {
            return fail(
                exit::USAGE,
                format!(
                    "refusing to listen on {addr} without --token: a non-loopback address \
                     needs a bearer token (or use a loopback address or --socket)"
                ),
            );
        }
    }
    if a.token.as_deref() == Some("") {
        return fail(exit::USAGE, "--token: must not be empty");
    }
    let caps = match a.engine.caps(a.max_file) {
        Ok(c) => c,
        Err(e) => return fail(exit::USAGE, e),
    };
    let dirs = match Dirs::create(a.store.as_deref()) {
        Ok(d) => d,
        Err(e) => return fail(exit::BAD_INPUT, e),
    };
    let code = serve(&a, listen, caps, &dirs, zygote_exe);
    dirs.remove();
    code
}

/// What [`start_engine`] needs besides the store directories.
pub(crate) struct EngineOpts {
    pub cgroup: CgroupMode,
    pub store_quota: u64,
    pub max_file: u64,
    pub workers: usize,
    pub pin: bool,
    pub caps: exec::Caps,
    pub tier: Tier,
}

/// The file store and the workers running cases on the engine (the server's and
/// `hatchery worker`'s).
pub(crate) fn start_engine(
    o: EngineOpts,
    dirs: &Dirs,
    zygote_exe: PathBuf,
) -> Result<exec::Runner, (u8, String)> {
    let store = match store::Store::open(&dirs.files, o.store_quota, o.max_file) {
        Ok(s) => Arc::new(s),
        Err(e) => return Err((exit::BAD_INPUT, format!("cannot open the store: {e}"))),
    };
    let metrics = Arc::new(metrics::Metrics::new(o.workers));
    let mut settings = ExecSettings::new(zygote_exe);
    settings.cgroup = o.cgroup;
    // Working directories are lent to one uid before a worker is chosen: the cases that use
    // them run as it (as the judge's lent directories do; SECURITY.md).
    settings.shared_ids = hatchery_sandbox::ids::lent();
    settings.view.allow_write(&dirs.work);
    // Nobody's files and nobody's stdin are any case's business.
    settings.view.hide(&dirs.files);
    settings.view.hide(&dirs.spool);
    exec::Runner::start(
        settings,
        o.workers,
        o.pin,
        exec::SharedParts {
            store,
            metrics,
            caps: o.caps,
            tier: o.tier,
            work_root: dirs.work.clone(),
            spool: dirs.spool.clone(),
        },
    )
    .map_err(|e| {
        (
            exit::SANDBOX_ERROR,
            format!("cannot start the workers: {e}"),
        )
    })
}

/// Proof that the tier works here, before anyone is told to connect.
pub(crate) async fn probe(
    runner: &exec::Runner,
) -> Result<hatchery_report::Enforcement, (u8, String)> {
    let tier = runner.shared.tier;
    match runner
        .enqueue(move |ex| ex.enforcement(tier, Network::Off))
        .await
    {
        Ok(Ok(e)) => Ok(e),
        Ok(Err(e)) => {
            let code = if e.is_missing_feature() {
                exit::HOST_UNSUPPORTED
            } else {
                exit::SANDBOX_ERROR
            };
            Err((code, hatchery_report::error_chain(&e)))
        }
        Err(_) => Err((exit::SANDBOX_ERROR, "the first worker stopped".into())),
    }
}

fn serve(a: &ServeArgs, listen: Listen, caps: exec::Caps, dirs: &Dirs, zygote_exe: PathBuf) -> u8 {
    let workers = a.engine.workers();
    let opts = EngineOpts {
        cgroup: a.engine.cgroup,
        store_quota: a.store_quota,
        max_file: a.max_file,
        // With --redis the workers run the cases: one idle thread here.
        workers: if a.redis.is_some() { 1 } else { workers },
        pin: !a.engine.no_pin,
        caps: caps.clone(),
        tier: a.engine.tier,
    };
    let judge_exe = zygote_exe.clone();
    let runner = match start_engine(opts, dirs, zygote_exe) {
        Ok(r) => r,
        Err((code, msg)) => return fail(code, msg),
    };
    let (store, metrics) = (runner.shared.store.clone(), runner.shared.metrics.clone());
    let problems = match &a.problems {
        Some(dir) => {
            let mut langs = hatchery_judge::lang::LanguageTable::builtin();
            if let Some(f) = &a.languages {
                if let Err(e) = langs.load_file(f) {
                    return fail(exit::USAGE, format!("--languages: {e}"));
                }
            }
            let p = judge::Problems::new(judge::ProblemsParts {
                dir: dir.clone(),
                work_base: dirs.judge.clone(),
                hidden: vec![dirs.files.clone(), dirs.spool.clone(), dirs.work.clone()],
                zygote_exe: judge_exe,
                tier: a.engine.tier,
                cgroup: a.engine.cgroup,
                workers,
                caps,
                langs,
                store: store.clone(),
            });
            match p {
                Ok(p) => Some(Arc::new(p)),
                Err(e) => return fail(exit::USAGE, e),
            }
        }
        None => None,
    };
    // One thread serves HTTP: a request costs it tens of microseconds, the engine's workers
    // (threads of their own) do the rest, and a second runtime thread only added wake-ups
    // (CPU per /run request 302/305 -> 283/292 us interleaved, perf task-clock).
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return fail(
                exit::SANDBOX_ERROR,
                format!("cannot start the runtime: {e}"),
            )
        }
    };
    let code = rt.block_on(async {
        let (queue, enforcement) = match &a.redis {
            // The workers prove their own tier; this server runs nothing.
            Some(url) => match queue::Queue::start(url, &a.redis_prefix, a.redis_wait).await {
                Ok(q) => (Some(q), hatchery_report::Enforcement::new()),
                Err(e) => return fail(exit::USAGE, e),
            },
            None => match probe(&runner).await {
                Ok(e) => (None, e),
                Err((code, msg)) => return fail(code, msg),
            },
        };
        let app = Arc::new(http::App {
            runner,
            store,
            metrics,
            token: a.token.clone(),
            workers,
            max_body: a.max_body as usize,
            enforcement,
            queue,
            problems,
        });
        let router = http::router(app.clone());
        let served = match listen {
            Listen::Tcp(addr) => {
                let l = match tokio::net::TcpListener::bind(addr).await {
                    Ok(l) => l,
                    Err(e) => return fail(exit::USAGE, format!("cannot listen on {addr}: {e}")),
                };
                let at = l.local_addr().map_or(addr.to_string(), |a| a.to_string());
                eprintln!("hatchery serve: listening on http://{at}");
                axum::serve(l, router)
                    .with_graceful_shutdown(stop_signal())
                    .await
            }
            Listen::Unix(path) => {
                let l = match bind_unix(&path) {
                    Ok(l) => l,
                    Err(e) => {
                        return fail(
                            exit::USAGE,
                            format!("cannot listen on {}: {e}", path.display()),
                        )
                    }
                };
                eprintln!("hatchery serve: listening on unix:{}", path.display());
                let r = axum::serve(l, router)
                    .with_graceful_shutdown(stop_signal())
                    .await;
                let _ = std::fs::remove_file(&path);
                r
            }
        };
        app.runner.shutdown();
        match served {
            Ok(()) => exit::OK,
            Err(e) => fail(exit::SANDBOX_ERROR, format!("the server failed: {e}")),
        }
    });
    eprintln!("hatchery serve: stopped");
    code
}

/// A unix socket at `path`, mode 0600; a stale socket left there is replaced (any other
/// file is not).
fn bind_unix(path: &Path) -> std::io::Result<tokio::net::UnixListener> {
    use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};
    if let Ok(md) = std::fs::symlink_metadata(path) {
        if md.file_type().is_socket() {
            std::fs::remove_file(path)?;
        } else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "a file that is not a socket is there",
            ));
        }
    }
    let l = tokio::net::UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(l)
}

pub(crate) async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // No handler: serve until killed.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

//! The `hatchery` command line.

use std::ffi::OsString;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

pub(crate) use hatchery_report::{error_chain, fmt_bytes, fmt_us};

mod batch;
mod html_cmd;
mod selftest;
use hatchery::outfiles;
use hatchery_engine::parse;
use hatchery_engine::{ExecError, ExecSettings, Executor, Network, SandboxExecutor};
use hatchery_report::{escape_str, escape_text, CaseResult, Level, Limits};
use hatchery_sandbox::policy::CgroupMode;
use hatchery_sandbox::{CaseSpec, SeccompProfile, Tier};

pub(crate) use hatchery_report::exit;

const EXIT_CODES: &str = exit::RUN_HELP;

#[derive(Parser)]
#[command(name = "hatchery", version, about, after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run one program in the sandbox and report what happened.
    #[command(after_help = EXIT_CODES)]
    Run(Box<RunArgs>),
    /// Run every case of a JSON Lines jobs file on a pool of zygotes.
    #[command(after_help = EXIT_CODES)]
    Batch(Box<batch::BatchArgs>),
    /// Judge a submission against a Kattis/ICPC problem package, or verify its submissions.
    #[command(after_help = hatchery_judge::cli::EXIT_CODES)]
    Judge(Box<hatchery_judge::cli::JudgeArgs>),
    /// Render the HTML report of an event stream written by `--report` (batch, judge,
    /// `cargo hatchery test`).
    #[command(after_help = html_cmd::EXIT_CODES)]
    Html(html_cmd::HtmlArgs),
    /// Run the hostile conformance suite (every known attack, as data) on this host.
    Selftest(selftest::SelftestArgs),
    /// Probe what this host can enforce, and how to fix what is missing.
    Doctor {
        /// Print the probes as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print a JSON Schema of hatchery's output: `events` (a batch report line) or `case`
    /// (the object `run --json` prints).
    Schema {
        #[arg(value_parser = ["events", "case"])]
        which: String,
    },
    /// cargo's target runner: every test of each test binary its own sandboxed case
    /// (`CARGO_TARGET_<TRIPLE>_RUNNER="hatchery cargo-runner" cargo test`).
    CargoRunner(Box<cargo_hatchery::cargo_runner::CargoRunnerArgs>),
    /// Fuzz campaigns (libFuzzer targets): run, replay, repro; every execution sandboxed.
    #[command(after_help = hatchery_campaign::cli::EXIT_CODES)]
    Fuzz(Box<hatchery_campaign::cli::FuzzArgs>),
    /// Serve go-judge's REST API (/run, /file) plus /health and /metrics over HTTP.
    #[command(after_help = hatchery_serve::EXIT_CODES)]
    Serve(Box<hatchery_serve::ServeArgs>),
    /// Run the /run requests a `serve --redis` queues, taken from Redis (scale-out worker).
    #[command(after_help = hatchery_serve::worker::EXIT_CODES)]
    Worker(Box<hatchery_serve::worker::WorkerArgs>),
    #[command(name = "__zygote", hide = true)]
    Zygote,
}

/// Options shared by `run` and `batch`: the tier, the default limits and the policy.
#[derive(Args, Clone)]
pub struct SandboxArgs {
    /// Isolation tier: none, hardened (user+pid+ipc namespaces) or lockdown (also mount+net,
    /// read-only root).
    #[arg(long, default_value = "hardened")]
    pub(crate) tier: Tier,
    /// CPU time limit of all processes of the case (e.g. 500ms, 2s).
    #[arg(long, value_parser = parse::duration)]
    cpu_time: Option<Duration>,
    /// Wall-clock time limit.
    #[arg(long, value_parser = parse::duration)]
    wall_time: Option<Duration>,
    /// Memory limit of all processes of the case (e.g. 64M, 1G).
    #[arg(long, value_parser = parse::size_bytes)]
    memory: Option<u64>,
    /// Limit on stdout+stderr bytes; beyond it the case is killed.
    #[arg(long, value_parser = parse::size_bytes, default_value = "64M")]
    output: u64,
    /// Largest file the case may write.
    #[arg(long, value_parser = parse::size_bytes)]
    file_size: Option<u64>,
    /// Stack size limit.
    #[arg(long, value_parser = parse::size_bytes)]
    stack: Option<u64>,
    /// Processes and threads alive at once.
    #[arg(long)]
    pids: Option<u64>,
    /// Open file descriptors per process.
    #[arg(long)]
    open_files: Option<u64>,
    /// Environment override, KEY=VALUE (repeatable). The environment is clean otherwise.
    #[arg(long = "env", value_name = "K=V", value_parser = parse::env_pair)]
    pub(crate) env: Vec<(String, String)>,
    /// Start from hatchery's own environment instead of a clean one.
    #[arg(long)]
    pub(crate) inherit_env: bool,
    /// Network of the cases: off (default), loopback (127.0.0.1 and ::1 only; tiers hardened
    /// and lockdown) or host (the host's network, shared). `--network` alone means host.
    #[arg(
        long,
        value_name = "MODE",
        num_args = 0..=1,
        default_value = "off",
        default_missing_value = "host",
        require_equals = false
    )]
    pub(crate) network: Network,
    /// Seccomp profile: default (deny list), strict (allow list for compiled submissions), off.
    #[arg(long, default_value = "default")]
    pub(crate) seccomp: SeccompProfile,
    /// cgroup use: auto (fall back to rlimits when none can be created), required, off.
    #[arg(long, default_value = "auto")]
    cgroup: CgroupMode,
    /// A directory the cases may write in, as its permissions allow (repeatable). Otherwise
    /// cases write only their private /tmp, /dev/shm, /var/tmp, /run/lock and device nodes
    /// (Landlock, tiers hardened and lockdown); `--writable .` lets them write the current
    /// directory.
    #[arg(long, value_name = "DIR")]
    pub(crate) writable: Vec<PathBuf>,
}

impl SandboxArgs {
    /// The default limits these options give, refused (naming the option) when one cannot
    /// work.
    pub(crate) fn limits(&self) -> Result<Limits, String> {
        let l = Limits {
            cpu_us: self.cpu_time.map(|d| d.as_micros() as u64),
            wall_us: self.wall_time.map(|d| d.as_micros() as u64),
            memory_bytes: self.memory,
            output_bytes: Some(self.output),
            file_size_bytes: self.file_size,
            stack_bytes: self.stack,
            pids: self.pids,
            open_files: self.open_files,
        };
        hatchery_sandbox::policy::check_limits(&l).map_err(|e| match e {
            hatchery_engine::LimitError::Zero { field } => {
                format!("--{}: must be greater than 0", field.replace('_', "-"))
            }
            e => e.to_string(),
        })?;
        Ok(l)
    }

    /// How the zygotes of a run are set up.
    pub(crate) fn exec_settings(&self) -> ExecSettings {
        let mut s = ExecSettings::new(own_exe());
        s.cgroup = self.cgroup;
        for w in &self.writable {
            s.view.allow_write(w);
        }
        s
    }

    fn env_pairs(&self) -> impl Iterator<Item = (OsString, OsString)> + '_ {
        self.env.iter().map(|(k, v)| (k.into(), v.into()))
    }
}

#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    sandbox: SandboxArgs,
    /// File to use as stdin (default /dev/null), opened with the case's rights (a file the
    /// case may not read is refused); the case reads a sealed copy that names no path.
    #[arg(long)]
    stdin: Option<PathBuf>,
    /// Working directory of the case (default: the current directory).
    #[arg(long)]
    cwd: Option<PathBuf>,
    /// Print one JSON object instead of the human summary.
    #[arg(long)]
    json: bool,
    /// Write the case's stdout to FILE instead of showing it (and leave it out of --json and
    /// --meta, which keep its byte count). Created or truncated before the case starts, never
    /// through a symbolic link.
    #[arg(long, value_name = "FILE")]
    stdout: Option<PathBuf>,
    /// Like --stdout, for the case's stderr.
    #[arg(long, value_name = "FILE")]
    stderr: Option<PathBuf>,
    /// Write the JSON result (what --json prints) to FILE.
    #[arg(long, value_name = "FILE")]
    meta: Option<PathBuf>,
    /// The program and its arguments.
    #[arg(required = true, last = true, num_args = 1..)]
    command: Vec<OsString>,
}

fn main() -> ExitCode {
    // The zygote entry point must run before anything else creates threads.
    hatchery_sandbox::zygote::enter_if_asked();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            });
        }
    };
    let code = match cli.cmd {
        Cmd::Run(args) => run(*args),
        Cmd::Batch(args) => ExitCode::from(batch::batch(*args)),
        Cmd::Doctor { json } => doctor(json),
        Cmd::Html(a) => ExitCode::from(html_cmd::html(a)),
        Cmd::Selftest(a) => ExitCode::from(selftest::selftest(a)),
        Cmd::Judge(a) => ExitCode::from(hatchery_judge::cli::run(*a, own_exe())),
        Cmd::Schema { which } => {
            print!(
                "{}",
                if which == "events" {
                    hatchery_report::event_schema_json()
                } else {
                    hatchery_report::case_result_schema_json()
                }
            );
            ExitCode::SUCCESS
        }
        Cmd::CargoRunner(a) => ExitCode::from(cargo_hatchery::cargo_runner::run(*a)),
        Cmd::Fuzz(a) => ExitCode::from(hatchery_campaign::cli::run(*a, own_exe())),
        Cmd::Serve(a) => ExitCode::from(hatchery_serve::run(*a, own_exe())),
        Cmd::Worker(a) => ExitCode::from(hatchery_serve::worker::run(*a, own_exe())),
        Cmd::Zygote => hatchery_sandbox::zygote::main(),
    };
    // cgroup v2: leave the cgroup tree as we found it (our leaf, the controllers we enabled).
    hatchery_sandbox::cgroup::release();
    code
}

fn run(a: RunArgs) -> ExitCode {
    let sa = &a.sandbox;
    let mut spec = CaseSpec::new(a.command.clone());
    spec.env = sa.env_pairs().collect();
    spec.inherit_env = sa.inherit_env;
    spec.stdin = a.stdin.clone().map(hatchery_sandbox::Stdin::File);
    spec.seccomp = sa.seccomp;
    spec.network = sa.network;
    if let Some(c) = &a.cwd {
        spec.cwd = match std::path::absolute(c) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("hatchery: invalid --cwd {}: {e}", c.display());
                return ExitCode::from(exit::USAGE);
            }
        };
    }
    spec.limits = match sa.limits() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("hatchery: {e}");
            return ExitCode::from(exit::USAGE);
        }
    };
    if let Err(e) = spec.check() {
        eprintln!("hatchery: {e}");
        return ExitCode::from(exit::USAGE);
    }
    if sa.tier == Tier::None && spec.network == Network::Loopback {
        eprintln!(
            "hatchery: --network: {}",
            hatchery_sandbox::SpecError::LoopbackNeedsNamespace
        );
        return ExitCode::from(exit::USAGE);
    }
    let mut files = match outfiles::OutFiles::open(&outfiles::OutPaths {
        stdout: a.stdout.clone(),
        stderr: a.stderr.clone(),
        meta: a.meta.clone(),
    }) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("hatchery: {e}");
            return ExitCode::from(exit::USAGE);
        }
    };
    let mut settings = sa.exec_settings();
    settings.view.show_case(&spec);
    let mut exec = SandboxExecutor::new(std::sync::Arc::new(settings), None);
    let mut result = match exec.run(&spec, sa.tier) {
        Ok(r) => r,
        Err(ExecError::BadSpec(e)) => {
            eprintln!("hatchery: {e}");
            return ExitCode::from(exit::BAD_INPUT);
        }
        Err(e @ ExecError::Start { .. }) => {
            eprintln!("hatchery: {}", error_chain(&e));
            return ExitCode::from(if e.is_missing_feature() {
                exit::HOST_UNSUPPORTED
            } else {
                exit::SANDBOX_ERROR
            });
        }
        // The zygote failed: reported as ours, with what failed.
        Err(e) => e.result(&spec.limits, sa.tier),
    };
    drop(exec);
    if let Err(e) = files.write(&result) {
        eprintln!("hatchery: {e}");
        return ExitCode::from(exit::SANDBOX_ERROR);
    }
    files.strip(&mut result);
    if a.json {
        let mut out = std::io::stdout().lock();
        let _ = serde_json::to_writer(&mut out, &result);
        let _ = writeln!(out);
    } else {
        // Human output: the case's bytes are shown, never acted on by the terminal (raw
        // bytes: --json).
        let _ = std::io::stdout().write_all(escape_text(&result.stdout.data).as_bytes());
        let _ = std::io::stderr().write_all(escape_text(&result.stderr.data).as_bytes());
        eprint!("{}", escape_str(&human_summary(&result)));
    }
    ExitCode::from(exit::of_outcome(result.outcome))
}

/// The zygote is this very binary: `/proc/self/exe` stays valid even when the file was
/// replaced on disk while we run (a rebuild, a package upgrade).
pub(crate) fn own_exe() -> PathBuf {
    PathBuf::from("/proc/self/exe")
}

fn human_summary(r: &CaseResult) -> String {
    let mut s = String::new();
    let lim = r
        .limit
        .map(|l| format!(" [{} limit]", l.as_str()))
        .unwrap_or_default();
    s.push_str(&format!(
        "── hatchery ── {}{lim}: {}\n",
        r.outcome, r.reason
    ));
    if let Some(e) = &r.error {
        s.push_str(&format!("   error   {e}\n"));
    }
    s.push_str(&format!(
        "   cpu     {} (user {}, sys {})   wall {}\n",
        fmt_us(r.usage.cpu_us),
        fmt_us(r.usage.cpu_user_us),
        fmt_us(r.usage.cpu_sys_us),
        fmt_us(r.usage.wall_us)
    ));
    s.push_str(&format!(
        "   memory  {} peak ({})\n",
        fmt_bytes(r.usage.peak_memory_bytes),
        r.usage
            .memory_source
            .map(|m| serde_json::to_value(m)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default())
            .unwrap_or_default()
    ));
    s.push_str(&format!(
        "   output  stdout {}{}, stderr {}{}\n",
        fmt_bytes(r.stdout.bytes),
        if r.stdout.truncated {
            " (truncated)"
        } else {
            ""
        },
        fmt_bytes(r.stderr.bytes),
        if r.stderr.truncated {
            " (truncated)"
        } else {
            ""
        },
    ));
    if r.leftover_processes > 0 {
        s.push_str(&format!(
            "   left    {} process(es) outlived the main process and were killed\n",
            r.leftover_processes
        ));
    }
    let weak: Vec<String> = r
        .enforcement
        .iter()
        .filter(|(_, l)| l.level != Level::Full)
        .map(|(k, l)| format!("{k}: {}", l.mechanism))
        .collect();
    s.push_str(&format!("   tier    {}", r.tier));
    if weak.is_empty() {
        s.push_str(" (every layer fully enforced)\n");
    } else {
        s.push_str(&format!("; not fully enforced: {}\n", weak.join("; ")));
    }
    s
}

fn doctor(json: bool) -> ExitCode {
    let probes = hatchery_sandbox::probe::probe_host();
    let userns = probes.iter().any(|p| p.name == "user namespaces" && p.ok);
    let cgroup = probes.iter().any(|p| p.name == "cgroup" && p.ok);
    let seccomp = probes.iter().any(|p| p.name == "seccomp" && p.ok);
    let tiers = [
        ("none", seccomp, "rlimits, cgroup, seccomp; no namespaces"),
        (
            "hardened",
            seccomp && userns,
            "user + PID + IPC namespaces, private /tmp and /proc",
        ),
        (
            "lockdown",
            seccomp && userns,
            "hardened + network namespace, read-only root, minimal /dev",
        ),
    ];
    if json {
        let v = serde_json::json!({
            "probes": probes,
            "tiers": tiers.iter().map(|(t, ok, what)| serde_json::json!({
                "tier": t, "available": ok, "what": what,
                "memory_pids_cpu": if cgroup { "cgroup" } else { "rlimit only" },
            })).collect::<Vec<_>>(),
        });
        println!("{v:#}");
    } else {
        for p in &probes {
            println!(
                "{:<3} {:<16} {}",
                if p.ok { "ok" } else { "NO" },
                p.name,
                p.detail
            );
            if let Some(f) = &p.fix {
                println!("    {:<16} fix: {f}", "");
            }
        }
        println!();
        for (t, ok, what) in tiers {
            println!(
                "tier {t:<9} {}  {what}; memory/pids/cpu via {}",
                if ok { "available  " } else { "UNAVAILABLE" },
                if cgroup { "cgroup" } else { "rlimits only" }
            );
        }
    }
    if tiers[1].1 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(exit::HOST_UNSUPPORTED)
    }
}

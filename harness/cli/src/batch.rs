//! `hatchery batch JOBS.jsonl`: many cases on a pool of zygotes, with a progress display, a
//! summary, a JSON Lines report and JUnit XML.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::File;
use std::io::{BufWriter, IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use hatchery_report::{
    CaseFinished, CaseResult, Enforcement, Event, JsonLinesWriter, Limits, Outcome, RunFinished,
    RunStarted,
};
use hatchery_sandbox::{CaseSpec, Sandbox, SandboxConfig, SeccompProfile, Tier};
use hatchery_sched::{Executor, ExecutorFactory, Interrupt, Job, Options, Reporter};

use crate::{exit, fmt_bytes, fmt_us, SandboxArgs};

#[derive(clap::Args)]
pub struct BatchArgs {
    /// The jobs file: JSON Lines, one case per line (see README).
    pub jobs: PathBuf,
    /// Parallel workers (zygotes); default: the number of usable CPUs.
    #[arg(short = 'j', long)]
    pub jobs_parallel: Option<u32>,
    /// Write the JSON Lines event stream here.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Write JUnit XML here.
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// Write the HTML report here (verdict table, time and memory plots) at the end.
    #[arg(long)]
    pub html: Option<PathBuf>,
    /// Extra attempts for a failing case; a pass on retry is reported as flaky.
    #[arg(long, default_value_t = 0)]
    pub retries: u32,
    /// Stop starting cases after this many failures.
    #[arg(long)]
    pub max_fail: Option<u64>,
    /// Run the valid cases even when some lines of the jobs file are malformed.
    #[arg(long)]
    pub keep_going: bool,
    /// Do not pin workers to CPUs. By default, when there are no more workers than usable
    /// CPUs, each worker (its thread, zygote and cases) runs on a CPU of its own: cases then
    /// see one CPU. Use this for cases that need several CPUs at once.
    #[arg(long)]
    pub no_pin: bool,
    #[command(flatten)]
    pub sandbox: SandboxArgs,
}

/// Executor of one worker: one zygote per tier used by its cases, started on first use.
struct PoolExec {
    worker: u32,
    exe: PathBuf,
    args: Arc<SandboxArgs>,
    base: PathBuf,
    /// Keyed by tier and whether the zygote's base seccomp profile is `off`.
    sandboxes: HashMap<(&'static str, bool), Sandbox>,
    interrupters: Arc<Mutex<Vec<Interrupt>>>,
    healthy: bool,
    /// The CPU this worker's thread, zygotes and cases run on.
    cpu: Option<usize>,
}

fn tier_of(s: &str) -> Tier {
    s.parse().unwrap_or(Tier::Hardened)
}

impl PoolExec {
    fn sandbox(&mut self, tier: Tier, seccomp_off: bool) -> Result<&mut Sandbox, String> {
        let key = (tier.as_str(), seccomp_off);
        if !self.sandboxes.contains_key(&key) {
            let mut cfg = SandboxConfig::new(tier, self.exe.clone());
            cfg.network = self.args.network;
            cfg.cgroup = self.args.cgroup;
            cfg.worker_index = self.worker as usize * 8 + tier as usize * 2 + seccomp_off as usize;
            cfg.cpu = self.cpu;
            if seccomp_off {
                cfg.seccomp_base = SeccompProfile::Off;
            }
            let sb = Sandbox::start(cfg).map_err(|e| crate::error_chain(&e))?;
            self.interrupters
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(Arc::new(sb.interrupter()));
            self.sandboxes.insert(key, sb);
        }
        Ok(self.sandboxes.get_mut(&key).expect("inserted"))
    }
}

fn error_result(msg: String, limits: &Limits, tier: &str) -> CaseResult {
    hatchery_report::decide(
        hatchery_report::RawFacts {
            error: Some(msg),
            ..Default::default()
        },
        limits,
        tier,
        Enforcement::new(),
    )
}

/// Turns a job into a case spec; relative paths are relative to the jobs file's directory.
fn spec_of(job: &Job, base: &Path, args: &SandboxArgs, limits: &Limits) -> CaseSpec {
    let mut spec = CaseSpec::new(job.argv.iter().map(OsString::from).collect());
    let cwd = job
        .cwd
        .as_ref()
        .map_or(base.to_path_buf(), |c| base.join(c));
    spec.cwd = cwd;
    if job.argv[0].contains('/') && !job.argv[0].starts_with('/') {
        spec.program = base.join(&job.argv[0]).into_os_string();
    }
    spec.stdin = job.stdin.as_ref().map(|s| base.join(s));
    spec.env = job
        .env
        .iter()
        .map(|(k, v)| (k.into(), v.into()))
        .chain(args.env_pairs())
        .collect();
    spec.inherit_env = args.inherit_env;
    spec.seccomp = job.seccomp.as_deref().map_or(args.seccomp, |s| {
        s.parse().unwrap_or(SeccompProfile::Default)
    });
    spec.limits = limits.clone();
    spec
}

impl Executor for PoolExec {
    fn run(&mut self, job: &Job, limits: &Limits) -> CaseResult {
        let tier = job.tier.as_deref().map_or(self.args.tier, tier_of);
        let spec = spec_of(job, &self.base, &self.args, limits);
        let sb = match self.sandbox(tier, spec.seccomp == SeccompProfile::Off) {
            Ok(sb) => sb,
            Err(e) => {
                self.healthy = false;
                return error_result(e, limits, tier.as_str());
            }
        };
        let prepared = match sb.prepare(&spec) {
            Ok(p) => p,
            Err(e) => {
                return error_result(format!("cannot start the case: {e}"), limits, tier.as_str())
            }
        };
        let r = sb.run(prepared);
        if !sb.is_healthy() {
            self.healthy = false;
        }
        r
    }
    fn healthy(&self) -> bool {
        self.healthy
    }
    fn interrupt_handle(&self) -> Interrupt {
        let list = self.interrupters.clone();
        Arc::new(move || {
            for i in list.lock().unwrap_or_else(|e| e.into_inner()).iter() {
                i();
            }
        })
    }
}

struct Factory {
    exe: PathBuf,
    args: Arc<SandboxArgs>,
    base: PathBuf,
    first: Mutex<Option<Sandbox>>,
    /// CPU of each worker, when pinned.
    cpus: Vec<Option<usize>>,
}

impl ExecutorFactory for Factory {
    type Exec = PoolExec;
    fn create(&self, worker: u32) -> Result<PoolExec, String> {
        // Called on the worker's own thread: pin it next to its zygote.
        let cpu = self.cpus.get(worker as usize).copied().flatten();
        if let Some(c) = cpu {
            hatchery_sandbox::affinity::pin_current_thread(c)
                .map_err(|e| format!("cannot pin worker {worker}: {e}"))?;
        }
        let mut e = PoolExec {
            worker,
            exe: self.exe.clone(),
            args: self.args.clone(),
            base: self.base.clone(),
            sandboxes: HashMap::new(),
            interrupters: Arc::default(),
            healthy: true,
            cpu,
        };
        // The probe zygote started for run_started serves worker 0 first.
        if let Some(sb) = self.first.lock().unwrap_or_else(|e| e.into_inner()).take() {
            e.interrupters
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(Arc::new(sb.interrupter()));
            e.sandboxes.insert(
                (sb.tier().as_str(), self.args.seccomp == SeccompProfile::Off),
                sb,
            );
        } else {
            e.sandbox(self.args.tier, self.args.seccomp == SeccompProfile::Off)?;
        }
        Ok(e)
    }
}

enum Progress {
    Bar(indicatif::ProgressBar),
    Counter { last_print: std::time::Instant },
}

struct BatchReporter {
    jsonl: Option<JsonLinesWriter<BufWriter<File>>>,
    attempts: Vec<CaseFinished>,
    /// With `--html`: run_started and case_started events (finished ones are `attempts`).
    html_events: Option<Vec<Event>>,
    progress: Progress,
    total: u64,
}

impl Reporter for BatchReporter {
    fn event(&mut self, e: &Event) {
        if let Some(w) = &mut self.jsonl {
            if let Err(err) = w.write(e) {
                eprintln!("hatchery: failed to write the report: {err}");
                self.jsonl = None;
            }
        }
        if let Event::CaseFinished(cf) = e {
            self.attempts.push((**cf).clone());
        }
        if let (Some(v), Event::RunStarted(_) | Event::CaseStarted(_)) = (&mut self.html_events, e)
        {
            v.push(e.clone());
        }
    }

    fn progress(&mut self, _done: u64, total: u64, a: &CaseFinished) {
        let status = if a.passed {
            "PASS"
        } else if a.will_retry {
            "RETRY"
        } else {
            "FAIL"
        };
        let line = format!(
            "{status:>5} [{:>9}] {} ({})",
            fmt_us(a.result.usage.wall_us),
            a.id,
            a.result.outcome
        );
        match &mut self.progress {
            Progress::Bar(b) => {
                if !a.passed || a.flaky {
                    b.println(&line);
                }
                if !a.will_retry {
                    b.inc(1);
                }
                b.set_message(a.id.clone());
            }
            Progress::Counter { last_print } => {
                if !a.will_retry {
                    self.total += 1;
                }
                if !a.passed || last_print.elapsed().as_secs() >= 2 || self.total == total {
                    eprintln!("[{}/{total}] {line}", self.total);
                    *last_print = std::time::Instant::now();
                }
            }
        }
    }
}

pub fn batch(a: BatchArgs) -> u8 {
    let text = match std::fs::read_to_string(&a.jobs) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("hatchery: cannot read {}: {e}", a.jobs.display());
            return exit::BAD_PROGRAM;
        }
    };
    let base = std::path::absolute(&a.jobs)
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."));
    let defaults = match a.sandbox.limits() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("hatchery: {e}");
            return exit::USAGE;
        }
    };
    let (mut jobs, mut errors) = hatchery_sched::parse_jobs(&text);
    // Programs and stdin files are checked before anything runs.
    let args = Arc::new(a.sandbox.clone());
    jobs.retain(|j| {
        let tier = j.tier.as_deref().map_or(args.tier, tier_of);
        let spec = spec_of(j, &base, &args, &j.limits.over(&defaults));
        match hatchery_sandbox::check_spec(&spec, tier) {
            Ok(_) => true,
            Err(e) => {
                let field = match e {
                    hatchery_sandbox::SpecError::Stdin { .. } => "stdin",
                    hatchery_sandbox::SpecError::Cwd { .. } => "cwd",
                    _ => "argv",
                };
                errors.push(hatchery_sched::JobError {
                    line: j.line,
                    field: Some(field.into()),
                    message: e.to_string(),
                });
                false
            }
        }
    });
    errors.sort_by_key(|e| e.line);
    for e in &errors {
        eprintln!("hatchery: {}: {e}", a.jobs.display());
    }
    if !errors.is_empty() && !a.keep_going {
        eprintln!(
            "hatchery: {} malformed line(s); nothing was run (use --keep-going to run the valid ones)",
            errors.len()
        );
        return exit::BAD_PROGRAM;
    }
    let workers = a
        .jobs_parallel
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get() as u32))
        .max(1);
    let pool_size = (workers as usize).min(jobs.len().max(1));
    let cpus: Vec<Option<usize>> = (0..pool_size)
        .map(|w| {
            (!a.no_pin)
                .then(|| hatchery_sandbox::affinity::cpu_for_worker(w, pool_size))
                .flatten()
        })
        .collect();
    let exe = crate::own_exe();
    // One zygote up front: it proves the tier works here and gives run_started its facts.
    let mut cfg = SandboxConfig::new(args.tier, exe.clone());
    cfg.network = args.network;
    cfg.cgroup = args.cgroup;
    cfg.seccomp_base = args.seccomp;
    cfg.cpu = cpus[0];
    let probe = match Sandbox::start(cfg) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("hatchery: {}", crate::error_chain(&e));
            return if e.is_missing_feature() {
                exit::HOST_UNSUPPORTED
            } else {
                exit::SANDBOX_ERROR
            };
        }
    };
    let enforcement = probe.enforcement().clone();
    let run_started = RunStarted::now(
        args.tier.as_str(),
        enforcement,
        defaults.clone(),
        jobs.len() as u64,
        workers,
    );
    let jsonl = match &a.report {
        Some(p) => match File::create(p) {
            Ok(f) => Some(JsonLinesWriter::new(BufWriter::new(f))),
            Err(e) => {
                eprintln!("hatchery: cannot create report {}: {e}", p.display());
                return exit::USAGE;
            }
        },
        None => None,
    };
    let progress = if std::io::stderr().is_terminal() {
        let b = indicatif::ProgressBar::new(jobs.len() as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}",
            )
            .expect("valid template"),
        );
        Progress::Bar(b)
    } else {
        Progress::Counter {
            last_print: std::time::Instant::now(),
        }
    };
    let mut reporter = BatchReporter {
        jsonl,
        attempts: Vec::new(),
        html_events: a.html.as_ref().map(|_| Vec::new()),
        progress,
        total: 0,
    };
    let cancel = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(sig, cancel.clone()) {
            eprintln!("hatchery: cannot handle signal {sig}: {e}");
        }
    }
    let factory = Factory {
        exe,
        args: args.clone(),
        base,
        first: Mutex::new(Some(probe)),
        cpus,
    };
    let opts = Options {
        workers,
        retries: a.retries,
        max_fail: a.max_fail,
        defaults,
    };
    let rf = hatchery_sched::run(&jobs, &factory, &opts, run_started, &cancel, &mut reporter);
    if let Progress::Bar(b) = &reporter.progress {
        b.finish_and_clear();
    }
    if let Some(p) = &a.junit {
        let name = a
            .jobs
            .file_stem()
            .map_or("hatchery".into(), |s| s.to_string_lossy().into_owned());
        let xml = hatchery_report::junit::junit_xml(&name, &reporter.attempts);
        if let Err(e) = std::fs::write(p, xml) {
            eprintln!("hatchery: cannot write JUnit {}: {e}", p.display());
        }
    }
    if let Some(p) = &a.html {
        let events = reporter.html_events.take().unwrap_or_default();
        let mut run = hatchery_report::html::RunView::from_events(&events)
            .pop()
            .unwrap_or_default();
        run.attempts = reporter.attempts.iter().collect();
        run.finished = Some(&rf);
        let opts = hatchery_report::html::HtmlOptions {
            title: format!("hatchery batch: {}", a.jobs.display()),
            ..Default::default()
        };
        if let Err(e) = std::fs::write(p, hatchery_report::html::render(&[run], &opts)) {
            eprintln!(
                "hatchery: cannot write the HTML report {}: {e}",
                p.display()
            );
        }
    }
    print_summary(&reporter.attempts, &rf, jobs.len());
    if let Some(w) = reporter.jsonl.take() {
        let _ = w.into_inner().flush();
    }
    if rf.interrupted {
        exit::INTERRUPTED
    } else if !rf.worker_errors.is_empty() && rf.passed + rf.failed == 0 {
        for e in &rf.worker_errors {
            eprintln!("hatchery: {e}");
        }
        exit::HOST_UNSUPPORTED
    } else if rf.failed > 0 || rf.not_run > 0 {
        exit::PROGRAM_FAILED
    } else {
        exit::OK
    }
}

fn print_summary(attempts: &[CaseFinished], rf: &RunFinished, total: usize) {
    let finals: Vec<&CaseFinished> = attempts.iter().filter(|a| !a.will_retry).collect();
    let mut e = std::io::stderr().lock();
    let _ = writeln!(e, "── hatchery batch ──");
    let counts: Vec<String> = rf
        .outcomes
        .iter()
        .map(|(o, n)| format!("{o}: {n}"))
        .collect();
    let _ = writeln!(
        e,
        "   {total} cases: {} passed, {} failed, {} flaky, {} not run in {}",
        rf.passed,
        rf.failed,
        rf.flaky,
        rf.not_run,
        fmt_us(rf.duration_us)
    );
    let _ = writeln!(e, "   outcomes: {}", counts.join(", "));
    let mut slow = finals.clone();
    slow.sort_by_key(|a| std::cmp::Reverse(a.result.usage.wall_us));
    let _ = writeln!(
        e,
        "   slowest: {}",
        slow.iter()
            .take(3)
            .map(|a| format!("{} {}", a.id, fmt_us(a.result.usage.wall_us)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut mem = finals.clone();
    mem.sort_by_key(|a| std::cmp::Reverse(a.result.usage.peak_memory_bytes));
    let _ = writeln!(
        e,
        "   peak memory: {}",
        mem.iter()
            .take(3)
            .map(|a| format!("{} {}", a.id, fmt_bytes(a.result.usage.peak_memory_bytes)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for f in finals.iter().filter(|a| !a.passed) {
        let _ = writeln!(
            e,
            "   FAIL {}: {} (expected {}): {}",
            f.id, f.result.outcome, f.expected, f.result.reason
        );
    }
    if rf.interrupted {
        let _ = writeln!(
            e,
            "   interrupted: {} running case(s) killed, {} not run",
            rf.killed_running, rf.not_run
        );
    }
    if rf.fail_fast {
        let _ = writeln!(e, "   stopped early: --max-fail reached");
    }
    let _ = Outcome::Ok;
}

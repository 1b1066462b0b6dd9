//! `hatchery fuzz run | replay | repro`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use hatchery_engine::{parse, ExecSettings, Pool, Reporter, SandboxExecutor};
use hatchery_report::{exit, fmt_us, CrashFound, Event, FindingKind, JsonLinesWriter, RunStarted};
use hatchery_sandbox::workdir::WorkDir;
use hatchery_sandbox::{Network, Tier};

use crate::campaign::{self, Campaign, Sink};
use crate::cargo_fuzz;
use crate::libfuzzer;
use crate::replay;
use crate::target::{self, TargetRun};
use crate::triage;

/// The `--help` text of the exit codes.
pub const EXIT_CODES: &str = "\
Exit codes:
  0  run: no crash, timeout, OOM or leak was found; replay: every input ran clean (or
     findings without --fail-on-crash); repro: the artifact no longer fails
  1  run: at least one finding reproduced (see the crash_found events); replay with
     --fail-on-crash: an input failed; repro: the artifact still fails
  2  bad command line
  5  hatchery itself failed (never the target's fault)
  6  this host cannot provide the sandbox (the message names the missing feature; a fuzz
     run needs a cgroup: memory is limited by it, never by RLIMIT_AS)
  7  the target, corpus or an input cannot be used (run: the target stopped before it
     fuzzed, e.g. a shared library not found; what it printed is shown)
110  a report file could not be written
130  interrupted";

#[derive(Args)]
pub struct FuzzArgs {
    #[command(subcommand)]
    cmd: FuzzCmd,
}

#[derive(Subcommand)]
enum FuzzCmd {
    /// Fuzz a libFuzzer target: -j workers, each a sandboxed case, triage, minimization.
    #[command(after_help = EXIT_CODES)]
    Run(Box<RunArgs>),
    /// Replay inputs (files or directories: a corpus, artifacts) as one case each.
    #[command(after_help = EXIT_CODES)]
    Replay(ReplayArgs),
    /// Replay one artifact and print its triage: kind, reason, signature, frames.
    #[command(after_help = EXIT_CODES)]
    Repro(ReproArgs),
}

#[derive(Args, Clone)]
struct TargetArgs {
    /// The libFuzzer target binary (built with -fsanitize=fuzzer, or by cargo fuzz).
    #[arg(long, conflicts_with = "target")]
    binary: Option<PathBuf>,
    /// A cargo-fuzz target by name, built as `cargo fuzz build NAME` builds it (outside the
    /// sandbox, as you); corpus and artifacts default to fuzz/corpus/NAME and
    /// fuzz/artifacts/NAME.
    #[arg(long, value_name = "NAME")]
    target: Option<String>,
    /// The cargo-fuzz directory (default: fuzz/ in the current directory or a parent).
    #[arg(long)]
    fuzz_dir: Option<PathBuf>,
    /// Sanitizer of a cargo-fuzz build (address needs a nightly toolchain).
    #[arg(long, value_enum, default_value = "address")]
    sanitizer: cargo_fuzz::Sanitizer,
    /// Per-input timeout (libFuzzer's -timeout, whole seconds; default 10 s). AFL++: its
    /// `-t` (default: AFL++ calibrates its own); replays of its findings use 10 s.
    #[arg(long, value_parser = parse::duration)]
    timeout: Option<Duration>,
    /// Memory of one input (libFuzzer's -rss_limit_mb); the worker's cgroup limit is a
    /// quarter above it (at least 256 MiB more).
    #[arg(long, default_value = "2G", value_parser = parse::size_bytes)]
    memory: u64,
    /// Isolation tier: hardened (user+pid+ipc+mount+net namespaces) or lockdown.
    #[arg(long, default_value = "hardened")]
    tier: Tier,
    /// An AFL++ target (built with afl-cc): `run` runs afl-fuzz in the sandbox (flags after
    /// `--`, then the target's arguments after a second `--`); replay and repro run it as
    /// AFL++ does (input on stdin, or as the file named by `@@`).
    #[arg(long)]
    afl: bool,
    /// An environment variable of every run of the target, KEY=VALUE (repeatable): the
    /// sandbox starts from a clean environment (e.g. LD_LIBRARY_PATH for a target whose
    /// shared libraries are found through it).
    #[arg(long = "env", value_name = "KEY=VALUE", value_parser = parse_env)]
    env: Vec<(String, String)>,
    /// An argument of the AFL++ target (`@@`: the input's path); repeatable.
    #[arg(long = "target-arg", allow_hyphen_values = true, requires = "afl")]
    target_args: Vec<String>,
}

/// `KEY=VALUE` of `--env`.
fn parse_env(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() && !k.contains('\0') && !v.contains('\0') => {
            Ok((k.to_owned(), v.to_owned()))
        }
        _ => Err(format!("{s:?}: expected KEY=VALUE")),
    }
}

/// The per-input timeout without `--timeout`.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// A cargo-fuzz target: its fuzz directory and name.
struct CargoTarget {
    dir: cargo_fuzz::FuzzDir,
    name: String,
}

impl TargetArgs {
    /// The target to run; a cargo-fuzz target is built first.
    fn run(&self) -> Result<(TargetRun, Option<CargoTarget>), String> {
        let (bin, cargo) = match (&self.binary, &self.target) {
            (Some(b), _) => (std::path::absolute(b).map_err(|e| e.to_string())?, None),
            (None, Some(name)) => {
                let cwd = std::env::current_dir().map_err(|e| e.to_string())?;
                let dir = cargo_fuzz::FuzzDir::find(self.fuzz_dir.as_deref(), &cwd)?;
                let bin = dir.build(name, self.sanitizer)?;
                let name = name.clone();
                (bin, Some(CargoTarget { dir, name }))
            }
            (None, None) => return Err("give --binary PATH or a cargo-fuzz target".into()),
        };
        if !bin.is_file() {
            return Err(format!("{}: no such file", bin.display()));
        }
        let timeout = self.timeout.unwrap_or(DEFAULT_TIMEOUT);
        let mut run = TargetRun::new(bin, self.tier, timeout, self.memory);
        if cargo.is_some() && self.sanitizer == cargo_fuzz::Sanitizer::Address {
            // What cargo fuzz run sets.
            let user = run
                .env
                .iter()
                .position(|(k, _)| k == "ASAN_OPTIONS")
                .map(|i| run.env.remove(i).1);
            run.env
                .push(("ASAN_OPTIONS".into(), cargo_fuzz::asan_options(user)));
        }
        for (k, v) in &self.env {
            run.env.retain(|(key, _)| key.as_os_str() != k.as_str());
            run.env.push((k.into(), v.into()));
        }
        run.user_env = self.env.clone();
        if self.afl {
            run.afl = Some(std::sync::Arc::new(crate::afl::AflTarget {
                afl_args: Vec::new(),
                target_args: self.target_args.clone(),
                exec_timeout: self.timeout,
            }));
        }
        Ok((run, cargo))
    }
}

#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// A cargo-fuzz target by name (as --target NAME).
    #[arg(value_name = "TARGET", conflicts_with_all = ["binary", "target"])]
    name: Option<String>,
    /// The corpus directory (seeds; new inputs are added to it). Default: `corpus/` beside
    /// the artifacts.
    #[arg(long)]
    corpus: Option<PathBuf>,
    /// Where artifacts go, under libFuzzer's names (crash-<sha1>, timeout-, oom-, leak-,
    /// minimized-from-). Default: `./artifacts`.
    #[arg(long)]
    artifacts: Option<PathBuf>,
    /// Workers, each a libFuzzer process in its own case.
    #[arg(short = 'j', long = "jobs", default_value_t = 1)]
    jobs: usize,
    /// Total time budget (e.g. 60s, 10m). Without it, until interrupted.
    #[arg(long, value_parser = parse::duration)]
    max_total_time: Option<Duration>,
    /// Time budget of each minimization (libFuzzer -minimize_crash in the sandbox).
    #[arg(long, default_value = "10s", value_parser = parse::duration)]
    minimize_time: Duration,
    /// Do not minimize findings.
    #[arg(long)]
    no_minimize: bool,
    /// Seconds between statistics (fuzz_stats events and the progress line).
    #[arg(long, default_value = "1s", value_parser = parse::duration)]
    stats_interval: Duration,
    /// Write the JSON Lines event stream here.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Write JUnit XML here: one test case per unique finding.
    #[arg(long)]
    junit: Option<PathBuf>,
    /// Write the HTML report here.
    #[arg(long)]
    html: Option<PathBuf>,
    /// Keep the work directory (the workers' logs).
    #[arg(long)]
    keep_work: bool,
    /// Flags passed to libFuzzer as they are (after `--`).
    #[arg(last = true)]
    libfuzzer_flags: Vec<String>,
}

#[derive(Args)]
struct ReplayArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// Workers (default: one per CPU).
    #[arg(short = 'j', long = "jobs")]
    jobs: Option<usize>,
    /// Exit 1 when any input fails.
    #[arg(long)]
    fail_on_crash: bool,
    /// libFuzzer targets: run up to 256 inputs per process, as libFuzzer runs a list of
    /// files (far faster than a case per input; inputs of a batch share the process). A
    /// batch that fails is split, so every failing input is still replayed alone.
    #[arg(long)]
    batch: bool,
    #[arg(long)]
    report: Option<PathBuf>,
    #[arg(long)]
    junit: Option<PathBuf>,
    /// Files or directories of inputs (default for a cargo-fuzz target: its corpus and
    /// artifacts directories).
    inputs: Vec<PathBuf>,
}

#[derive(Args)]
struct ReproArgs {
    #[command(flatten)]
    target: TargetArgs,
    artifact: PathBuf,
}

fn fail(code: u8, msg: impl std::fmt::Display) -> u8 {
    eprintln!("hatchery fuzz: {msg}");
    code
}

/// Runs `hatchery fuzz ...`; `zygote_exe` is our executable.
pub fn run(a: FuzzArgs, zygote_exe: PathBuf) -> u8 {
    match a.cmd {
        FuzzCmd::Run(r) => fuzz_run(*r, zygote_exe),
        FuzzCmd::Replay(r) => replay(r, zygote_exe),
        FuzzCmd::Repro(r) => repro(r, zygote_exe),
    }
}

/// The first executor, warm, and what it enforces (`run_started`'s facts).
fn start(
    settings: ExecSettings,
    run: &TargetRun,
) -> Result<(SandboxExecutor, hatchery_report::Enforcement), u8> {
    let mut first = SandboxExecutor::new(std::sync::Arc::new(settings), None);
    match first.enforcement(run.tier, Network::Off) {
        Ok(e) => Ok((first, e)),
        Err(e) => Err(fail(
            if e.is_missing_feature() {
                exit::HOST_UNSUPPORTED
            } else {
                exit::SANDBOX_ERROR
            },
            hatchery_report::error_chain(&e),
        )),
    }
}

struct CliSink {
    json: Option<JsonLinesWriter<std::io::BufWriter<std::fs::File>>>,
    events: Vec<Event>,
    write_error: Option<String>,
    tty: bool,
}

impl Sink for CliSink {
    fn event(&mut self, e: &Event) {
        if let Some(w) = self.json.as_mut() {
            if let Err(err) = w.write(e) {
                self.write_error.get_or_insert(err.to_string());
            }
        }
        if let Event::CrashFound(c) = e {
            print_finding(c);
        }
        // Kept for the HTML page (execs/s and coverage over time, the findings).
        self.events.push(e.clone());
    }
    fn progress(&mut self, line: &str) {
        if self.tty {
            eprint!("\r\x1b[2K{line}");
        } else {
            eprintln!("{line}");
        }
    }
}

fn print_finding(c: &CrashFound) {
    let mut err = std::io::stderr().lock();
    if !c.new_signature {
        let _ = writeln!(
            err,
            "\r\x1b[2K{} (duplicate) {}",
            c.kind.as_str().to_uppercase(),
            c.artifact
        );
        return;
    }
    let _ = writeln!(
        err,
        "\r\x1b[2K{} {}{}\n  reason    {}\n  artifact  {} ({} bytes){}\n  reproduce {}",
        c.kind.as_str().to_uppercase(),
        c.signature,
        if c.new_signature { "" } else { " (duplicate)" },
        c.reason,
        c.artifact,
        c.size,
        c.minimized
            .as_ref()
            .map(|m| format!(
                "\n  minimized {m} ({} bytes)",
                c.minimized_size.unwrap_or(0)
            ))
            .unwrap_or_default(),
        c.reproduce
    );
}

fn open_report(
    p: &Option<PathBuf>,
) -> Result<Option<JsonLinesWriter<std::io::BufWriter<std::fs::File>>>, u8> {
    p.as_ref()
        .map(|p| JsonLinesWriter::create(p))
        .transpose()
        .map_err(|e| fail(exit::WRITE_FAILED, format!("cannot write the report: {e}")))
}

fn fuzz_run(mut a: RunArgs, zygote_exe: PathBuf) -> u8 {
    if a.jobs == 0 {
        return fail(exit::USAGE, "-j must be at least 1");
    }
    if a.name.is_some() {
        a.target.target = a.name.take();
    }
    let (mut run, cargo) = match a.target.run() {
        Ok(r) => r,
        Err(e) => return fail(exit::BAD_INPUT, e),
    };
    if let Some(afl) = &mut run.afl {
        let mut parsed = match crate::afl::AflTarget::parse(&a.libfuzzer_flags) {
            Ok(p) => p,
            Err(e) => return fail(exit::USAGE, e),
        };
        parsed
            .target_args
            .splice(0..0, afl.target_args.iter().cloned());
        parsed.exec_timeout = afl.exec_timeout;
        if crate::afl::find_afl_fuzz().is_none() {
            return fail(
                exit::HOST_UNSUPPORTED,
                "afl-fuzz is not installed (apt-get install afl++)",
            );
        }
        *afl = std::sync::Arc::new(parsed);
    }
    let artifacts = match (a.artifacts, &cargo) {
        (Some(p), _) => p,
        (None, Some(c)) => c.dir.artifacts(&c.name),
        (None, None) => PathBuf::from("artifacts"),
    };
    let artifacts = std::path::absolute(artifacts).unwrap_or_default();
    let corpus = match (a.corpus, &cargo) {
        (Some(c), _) => std::path::absolute(c).unwrap_or_default(),
        (None, Some(c)) => c.dir.corpus(&c.name),
        (None, None) => artifacts.parent().unwrap_or(Path::new(".")).join("corpus"),
    };
    let json = match open_report(&a.report) {
        Ok(j) => j,
        Err(c) => return c,
    };
    let work_base = artifacts.parent().unwrap_or(Path::new("/")).to_path_buf();
    let _ = std::fs::create_dir_all(&artifacts);
    let settings = target::exec_settings(zygote_exe, &run, &work_base);
    let (first, enforcement) = match start(settings.clone(), &run) {
        Ok(x) => x,
        Err(c) => return c,
    };
    let triage_exec = SandboxExecutor::new(std::sync::Arc::new(settings), None);
    let pool = Pool::around(first, a.jobs);
    let c = Campaign {
        run: run.clone(),
        corpus,
        artifacts,
        workers: a.jobs,
        max_total_time: a.max_total_time,
        engine_args: a.libfuzzer_flags,
        stats_every: a.stats_interval,
        minimize: (!a.no_minimize).then_some(a.minimize_time),
        keep_work: a.keep_work,
    };
    let rs = RunStarted::now(
        run.tier.as_str(),
        enforcement,
        Default::default(),
        (a.jobs
            * if a.target.afl {
                1
            } else {
                campaign::STARTS_PER_WORKER
            }) as u64,
        a.jobs as u32,
    );
    let (cancel, _) = hatchery_engine::cancel_on_signals();
    let mut sink = CliSink {
        json,
        events: Vec::new(),
        write_error: None,
        tty: nix::unistd::isatty(2).unwrap_or(false),
    };
    let out = match campaign::run(&c, &pool, triage_exec, rs, &cancel, &mut sink) {
        Ok(o) => o,
        Err(e) => return fail(exit::BAD_INPUT, hatchery_report::error_chain(&e)),
    };
    if sink.tty {
        eprintln!();
    }
    let fin = out
        .finished
        .clone()
        .unwrap_or_else(|| unreachable!("set by run"));
    let unique = out.unique();
    eprintln!(
        "fuzz: {} execs in {}, corpus {}, {} finding(s), {} unique",
        fin.execs,
        fmt_us(fin.duration_ms * 1000),
        fin.corpus_size,
        fin.crashes,
        unique.len()
    );
    if let Some(p) = &a.junit {
        let xml = junit_findings(&run.binary, &out.findings);
        if let Err(e) = std::fs::write(p, xml) {
            return fail(
                exit::WRITE_FAILED,
                format!("cannot write {}: {e}", p.display()),
            );
        }
    }
    if let Some(p) = &a.html {
        let opts = hatchery_report::html::HtmlOptions {
            title: format!("hatchery fuzz {}", run.binary.display()),
            ..Default::default()
        };
        let html = hatchery_report::html::render_events(&sink.events, &opts);
        if let Err(e) = std::fs::write(p, html) {
            return fail(
                exit::WRITE_FAILED,
                format!("cannot write {}: {e}", p.display()),
            );
        }
    }
    if let Some(e) = sink.write_error {
        return fail(exit::WRITE_FAILED, format!("cannot write the report: {e}"));
    }
    if fin.interrupted {
        return exit::INTERRUPTED;
    }
    if !unique.is_empty() {
        return exit::FAILED;
    }
    if !fin.worker_errors.is_empty() || fin.execs == 0 {
        for e in &fin.worker_errors {
            eprintln!("hatchery fuzz: worker error: {e}");
        }
        if fin.execs == 0 {
            // The target spoke and stopped by itself (a missing shared library, a bad flag):
            // it cannot be used; silence is ours to explain.
            let target_said = fin
                .worker_errors
                .iter()
                .any(|e| e.starts_with(campaign::START_FAILURE));
            return if target_said {
                fail(
                    exit::BAD_INPUT,
                    "the target did not start fuzzing (its words above; --env passes \
                     variables such as LD_LIBRARY_PATH into the sandbox)",
                )
            } else {
                fail(
                    exit::SANDBOX_ERROR,
                    "no worker ran an input (see the report's case_finished events)",
                )
            };
        }
    }
    exit::OK
}

/// JUnit: one test case per unique finding (a passing `campaign` case when there is none).
pub fn junit_findings(binary: &Path, findings: &[CrashFound]) -> String {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    let name = format!("fuzz {}", binary.display());
    let mut report = Report::new(&name);
    let mut suite = TestSuite::new(&name);
    let unique: Vec<&CrashFound> = findings
        .iter()
        .filter(|f| f.new_signature && f.kind != FindingKind::NotReproduced)
        .collect();
    if unique.is_empty() {
        let mut tc = TestCase::new("campaign", TestCaseStatus::success());
        tc.set_classname(&name);
        suite.add_test_case(tc);
    }
    for f in unique {
        let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
        st.set_message(format!("{}: {}", f.kind.as_str(), f.reason));
        st.set_type(f.kind.as_str());
        st.set_description(format!(
            "signature: {}\nartifact: {}\nreproduce: {}",
            f.signature, f.artifact, f.reproduce
        ));
        let mut tc = TestCase::new(f.signature.clone(), st);
        tc.set_classname(&name);
        tc.set_time(Duration::from_micros(f.replay.usage.wall_us));
        tc.set_system_err_lossy(&f.replay.stderr.data);
        suite.add_test_case(tc);
    }
    report.add_test_suite(suite);
    report.to_string().unwrap_or_default()
}

/// Copies of the inputs in a work directory the case can read, with the name to show.
fn stage_inputs(work: &WorkDir, inputs: &[PathBuf]) -> Result<Vec<(String, PathBuf)>, String> {
    let dir = work.dir("inputs").map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for p in inputs {
        let files = campaign::read_inputs(p).map_err(|e| e.to_string())?;
        for (path, data) in files {
            let sha = libfuzzer::sha1_hex(&data);
            let _ = dir.write_file(std::ffi::OsStr::new(&sha), &data, 0o644);
            out.push((path.display().to_string(), dir.path().join(sha)));
        }
    }
    Ok(out)
}

/// What `replay` and `repro` start from: the target, a work directory (in the current
/// directory) holding copies of `inputs`, and a started executor.
struct Staged {
    run: TargetRun,
    work: WorkDir,
    staged: Vec<(String, PathBuf)>,
    exec: SandboxExecutor,
    enforcement: hatchery_report::Enforcement,
}

fn stage(target: &TargetArgs, inputs: &[PathBuf], zygote_exe: PathBuf) -> Result<Staged, u8> {
    let (run, cargo) = target.run().map_err(|e| fail(exit::BAD_INPUT, e))?;
    let defaults: Vec<PathBuf> = match (&cargo, inputs.is_empty()) {
        (Some(c), true) => [c.dir.corpus(&c.name), c.dir.artifacts(&c.name)]
            .into_iter()
            .filter(|d| d.is_dir())
            .collect(),
        _ => Vec::new(),
    };
    let inputs = if inputs.is_empty() { &defaults } else { inputs };
    if inputs.is_empty() {
        return Err(fail(
            exit::USAGE,
            "no inputs (give files or directories; a cargo-fuzz target has none yet)",
        ));
    }
    let base = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    let work = WorkDir::create(&base, false).map_err(|e| fail(exit::BAD_INPUT, e))?;
    let staged = stage_inputs(&work, inputs).map_err(|e| fail(exit::BAD_INPUT, e))?;
    let settings = target::exec_settings(zygote_exe, &run, work.path());
    let (exec, enforcement) = start(settings, &run)?;
    Ok(Staged {
        run,
        work,
        staged,
        exec,
        enforcement,
    })
}

fn replay(a: ReplayArgs, zygote_exe: PathBuf) -> u8 {
    let Staged {
        run,
        work,
        staged,
        exec: first,
        enforcement,
    } = match stage(&a.target, &a.inputs, zygote_exe) {
        Ok(s) => s,
        Err(c) => return c,
    };
    let jobs = a
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let pool = Pool::around(first, jobs);
    let mut json = match open_report(&a.report) {
        Ok(j) => j,
        Err(c) => return c,
    };
    let (cancel, _) = hatchery_engine::cancel_on_signals();
    let t0 = Instant::now();
    let mut events = |e: &Event| {
        if let Some(w) = json.as_mut() {
            let _ = w.write(e);
        }
    };
    events(&Event::RunStarted(RunStarted::now(
        run.tier.as_str(),
        enforcement,
        Default::default(),
        staged.len() as u64,
        jobs as u32,
    )));
    let mut failed = 0u64;
    let mut unusable = None;
    let mut show = |i: usize, v: &replay::InputVerdict| match v {
        replay::InputVerdict::Passed { ms } => {
            let secs = ms.map_or(0.0, |ms| ms as f64 / 1e3);
            eprintln!("        PASS [{secs:>8.3}s] {}", staged[i].0);
        }
        replay::InputVerdict::Failed(cf) => {
            failed += 1;
            let secs = cf.result.usage.wall_us as f64 / 1e6;
            if let Some(why) = triage::cannot_start(&cf.result) {
                eprintln!("        FAIL [{secs:>8.3}s] {}: {why}", staged[i].0);
                unusable.get_or_insert(why);
                return;
            }
            let t = triage::classify(&cf.result);
            eprintln!(
                "        FAIL [{secs:>8.3}s] {}: {}",
                staged[i].0,
                t.signature()
            );
        }
    };
    let done = replay::replay(
        &pool,
        &run,
        work.path(),
        &staged,
        jobs,
        a.batch,
        &cancel,
        &mut FnReporter(&mut events),
        &mut show,
    );
    let mut totals = done.totals;
    totals.duration_us = t0.elapsed().as_micros() as u64;
    events(&Event::RunFinished(totals.clone()));
    let passed = done
        .verdicts
        .iter()
        .filter(|v| matches!(v, Some(replay::InputVerdict::Passed { .. })))
        .count();
    eprintln!(
        "     Summary [{:>8.3}s] {} input(s): {passed} passed, {failed} failed{}",
        t0.elapsed().as_secs_f64(),
        staged.len(),
        if totals.interrupted {
            ", interrupted"
        } else {
            ""
        }
    );
    if let Some(p) = &a.junit {
        let xml = replay::junit(&run.binary, &staged, &done.verdicts);
        if let Err(e) = std::fs::write(p, xml) {
            return fail(
                exit::WRITE_FAILED,
                format!("cannot write {}: {e}", p.display()),
            );
        }
    }
    if let Some(why) = unusable {
        // Not findings: the target never ran an input.
        return fail(exit::BAD_INPUT, format!("the target cannot start: {why}"));
    }
    if totals.interrupted {
        exit::INTERRUPTED
    } else if a.fail_on_crash && failed > 0 {
        exit::FAILED
    } else {
        exit::OK
    }
}

/// A [`Reporter`] that is a function of the events.
struct FnReporter<'f>(&'f mut dyn FnMut(&Event));

impl Reporter for FnReporter<'_> {
    fn event(&mut self, e: &Event) {
        (self.0)(e);
    }
}

fn repro(a: ReproArgs, zygote_exe: PathBuf) -> u8 {
    let Staged {
        run,
        work,
        staged,
        mut exec,
        ..
    } = match stage(&a.target, std::slice::from_ref(&a.artifact), zygote_exe) {
        Ok(s) => s,
        Err(c) => return c,
    };
    if staged.len() != 1 {
        return fail(
            exit::BAD_INPUT,
            format!("{}: not one input file", a.artifact.display()),
        );
    }
    let spec = run.replay(&staged[0].1, work.path());
    let r = match hatchery_engine::Executor::run(&mut exec, &spec, run.tier) {
        Ok(r) => r,
        Err(e) => return fail(exit::SANDBOX_ERROR, hatchery_report::error_chain(&e)),
    };
    let _ = std::io::stderr().write_all(&r.stderr.data);
    if let Some(why) = triage::cannot_start(&r) {
        return fail(exit::BAD_INPUT, format!("the target cannot start: {why}"));
    }
    let t = triage::classify(&r);
    println!("kind       {}", t.kind.as_str());
    println!("reason     {}", t.reason);
    println!("signature  {}", t.signature());
    for f in &t.frames {
        println!("frame      {f}");
    }
    println!("outcome    {} ({})", r.outcome.as_str(), r.reason);
    if t.kind == FindingKind::NotReproduced {
        exit::OK
    } else {
        exit::FAILED
    }
}

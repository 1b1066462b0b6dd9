//! `hatchery batch JOBS.jsonl`: the jobs file becomes units of work on the engine; this front
//! end only renders the events (progress, summary, JSON Lines, JUnit, HTML).

use std::ffi::OsString;
use std::fs::File;
use std::io::{BufWriter, IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};

use hatchery_engine::{Expect, Options, Pool, Reporter, RetryPolicy, RunSpec, Unit};
use hatchery_report::{escape_str, CaseFinished, Event, JsonLinesWriter, RunFinished, RunStarted};
use hatchery_sandbox::CaseSpec;

use crate::{exit, fmt_bytes, fmt_us, SandboxArgs};
use hatchery::jobs::{Job, JobError};

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
    /// Report a case still running after this long (again each period), e.g. 30s.
    #[arg(long, value_parser = hatchery_engine::parse::duration)]
    pub slow_timeout: Option<std::time::Duration>,
    #[command(flatten)]
    pub sandbox: SandboxArgs,
}

enum Progress {
    Bar(indicatif::ProgressBar),
    Counter { last_print: std::time::Instant },
}

/// Output kept per stream of each finished case for JUnit and HTML (head and tail): the
/// whole output goes to the JSON Lines report as it arrives and is not held.
const KEPT_OUTPUT: usize = 64 << 10;

/// Turns a job into a unit; relative paths are relative to the jobs file's directory.
fn unit_of(job: &Job, base: &Path, args: &SandboxArgs, defaults: &hatchery_report::Limits) -> Unit {
    let mut spec = CaseSpec::new(job.argv.iter().map(OsString::from).collect());
    spec.cwd = job
        .cwd
        .as_ref()
        .map_or(base.to_path_buf(), |c| base.join(c));
    if job.argv[0].contains('/') && !job.argv[0].starts_with('/') {
        spec.program = base.join(&job.argv[0]).into_os_string();
    }
    spec.stdin = job
        .stdin
        .as_ref()
        .map(|s| hatchery_sandbox::Stdin::File(base.join(s)));
    spec.env = job
        .env
        .iter()
        .map(|(k, v)| (k.into(), v.into()))
        .chain(args.env.iter().map(|(k, v)| (k.into(), v.into())))
        .collect();
    spec.inherit_env = args.inherit_env;
    // The parser accepted only known names.
    spec.seccomp = job
        .seccomp
        .as_deref()
        .and_then(|s| s.parse().ok())
        .unwrap_or(args.seccomp);
    spec.limits = job.limits.over(defaults);
    spec.network = job.network.unwrap_or(args.network);
    let tier = job
        .tier
        .as_deref()
        .and_then(|t| t.parse().ok())
        .unwrap_or(args.tier);
    let mut u = Unit::new(job.id.clone(), spec, tier);
    u.expect = Expect::Outcome(job.expect);
    u
}

/// Output files of every job are open at once: the soft limit on descriptors is raised (up
/// to the hard one) when `files` more would not fit. Zygotes inherit it; a case's own limit is
/// `--open-files`.
fn raise_open_file_limit(files: u64) {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let want = (files + 256).min(hard);
        if want > soft {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, want, hard);
        }
    }
}

/// Opens a report file before anything runs (a path that cannot be written is a usage error,
/// found before the run, not after it).
fn create(p: &Option<PathBuf>, what: &str) -> Result<Option<File>, String> {
    p.as_ref()
        .map(|p| File::create(p).map_err(|e| format!("cannot create {what} {}: {e}", p.display())))
        .transpose()
}

struct BatchReporter {
    jsonl: Option<JsonLinesWriter<BufWriter<File>>>,
    /// Finished attempts with their output cut to head and tail (for the summary, JUnit and
    /// HTML): the runner's memory does not grow with what cases print.
    attempts: Vec<CaseFinished>,
    /// With `--html`: run_started and case_started events (finished ones are `attempts`).
    html_events: Option<Vec<Event>>,
    progress: Progress,
    total: u64,
    /// Per unit: the files its final attempt's output and result go to (opened before the run).
    outputs: Vec<Option<hatchery::outfiles::OutFiles>>,
}

impl Reporter for BatchReporter {
    fn event(&mut self, e: &Event) {
        if let Some(w) = &mut self.jsonl {
            if let Err(err) = w.write(e) {
                eprintln!("hatchery: failed to write the report: {err}");
                self.jsonl = None;
            }
        }
        match e {
            Event::CaseFinished(cf) => {
                let files = (!cf.will_retry)
                    .then(|| self.outputs.get_mut(cf.index as usize))
                    .flatten()
                    .and_then(Option::as_mut);
                if let Some(f) = files {
                    if let Err(err) = f.write(&cf.result) {
                        eprintln!("hatchery: {}: {err}", cf.id);
                    }
                }
                let kept = CaseFinished {
                    id: cf.id.clone(),
                    index: cf.index,
                    attempt: cf.attempt,
                    worker: cf.worker,
                    expected: cf.expected,
                    verdict: cf.verdict,
                    expected_verdict: cf.expected_verdict,
                    passed: cf.passed,
                    flaky: cf.flaky,
                    will_retry: cf.will_retry,
                    result: cf.result.with_output_kept(KEPT_OUTPUT),
                };
                self.attempts.push(kept);
            }
            Event::CaseSlow(s) => {
                self.line(&format!(" SLOW [>{:>8}] {}", fmt_us(s.elapsed_us), s.id))
            }
            _ => {}
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
                    b.println(escape_str(&line));
                }
                if !a.will_retry {
                    b.inc(1);
                }
                b.set_message(escape_str(&a.id).into_owned());
            }
            Progress::Counter { last_print } => {
                if !a.will_retry {
                    self.total += 1;
                }
                if !a.passed || last_print.elapsed().as_secs() >= 2 || self.total == total {
                    eprintln!("[{}/{total}] {}", self.total, escape_str(&line));
                    *last_print = std::time::Instant::now();
                }
            }
        }
    }
}

impl BatchReporter {
    fn line(&self, l: &str) {
        // Ids and reasons come from the jobs file and the cases: shown, never acted on.
        let l = &*escape_str(l);
        match &self.progress {
            Progress::Bar(b) => b.println(l),
            Progress::Counter { .. } => eprintln!("{l}"),
        }
    }
}

pub fn batch(a: BatchArgs) -> u8 {
    let text = match std::fs::read_to_string(&a.jobs) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("hatchery: cannot read {}: {e}", a.jobs.display());
            return exit::BAD_INPUT;
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
    if a.jobs_parallel == Some(0) {
        eprintln!("hatchery: -j/--jobs-parallel: must be at least 1");
        return exit::USAGE;
    }
    let (jobs, mut errors) = hatchery::jobs::parse_jobs(&text);
    // Programs and stdin files are checked before anything runs.
    let mut units = Vec::with_capacity(jobs.len());
    // Output files are opened now, before any case runs (no case can plant a link there).
    let mut outputs = Vec::with_capacity(jobs.len());
    raise_open_file_limit(3 * jobs.iter().filter(|j| !j.outputs.is_empty()).count() as u64);
    for j in &jobs {
        let u = unit_of(j, &base, &a.sandbox, &defaults);
        let files = match j.outputs.is_empty() {
            true => Ok(None),
            false => hatchery::outfiles::OutFiles::open(&j.outputs.under(&base)).map(Some),
        };
        let files = match files {
            Ok(f) => f,
            Err(message) => {
                errors.push(JobError {
                    line: j.line,
                    field: Some("stdout/stderr/meta".into()),
                    message,
                });
                continue;
            }
        };
        match hatchery_sandbox::check_spec(&u.spec, u.tier) {
            Ok(_) => {
                units.push(u);
                outputs.push(files);
            }
            Err(e) => {
                let field = match e {
                    hatchery_sandbox::SpecError::Stdin { .. } => "stdin",
                    hatchery_sandbox::SpecError::Cwd { .. } => "cwd",
                    hatchery_sandbox::SpecError::LoopbackNeedsNamespace => "network",
                    _ => "argv",
                };
                errors.push(JobError {
                    line: j.line,
                    field: Some(field.into()),
                    message: e.to_string(),
                });
            }
        }
    }
    errors.sort_by_key(|e| e.line);
    for e in &errors {
        eprintln!("hatchery: {}: {e}", a.jobs.display());
    }
    if !errors.is_empty() && !a.keep_going {
        eprintln!(
            "hatchery: {} malformed line(s); nothing was run (use --keep-going to run the valid ones)",
            errors.len()
        );
        return exit::BAD_INPUT;
    }
    // Report paths are checked once the jobs file is known to be good, before anything runs.
    let (files, junit_file, html_file) = match (
        create(&a.report, "report"),
        create(&a.junit, "JUnit report"),
        create(&a.html, "HTML report"),
    ) {
        (Ok(r), Ok(j), Ok(h)) => (r, j, h),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
            eprintln!("hatchery: {e}");
            return exit::USAGE;
        }
    };
    let workers = a
        .jobs_parallel
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get() as u32))
        as usize;
    let mut settings = a.sandbox.exec_settings();
    // What a case shows depends on its directory, program and the paths it names: cases that
    // share them (most of a jobs file) are looked at once.
    let mut seen = std::collections::HashSet::new();
    for u in &units {
        let s = &u.spec;
        let named = s
            .argv
            .iter()
            .skip(1)
            .filter(|a| std::os::unix::ffi::OsStrExt::as_bytes(a.as_os_str()).contains(&b'/'));
        let key: Vec<&std::ffi::OsStr> = [s.cwd.as_os_str(), s.program.as_os_str()]
            .into_iter()
            .chain(named.map(|a| a.as_os_str()))
            .chain(s.env.iter().map(|(_, v)| v.as_os_str()))
            .collect();
        if seen.insert(key) {
            settings.view.show_case(s);
        }
    }
    let pool = Pool::sandboxed(settings, workers.min(units.len().max(1)), !a.no_pin);
    // Worker 0's first zygote proves the tier works here and gives run_started its facts.
    let enforcement = match pool
        .worker(0)
        .enforcement(a.sandbox.tier, a.sandbox.network)
    {
        Ok(e) => e,
        Err(e) => {
            eprintln!("hatchery: {}", crate::error_chain(&e));
            return if e.is_missing_feature() {
                exit::HOST_UNSUPPORTED
            } else {
                exit::SANDBOX_ERROR
            };
        }
    };
    let run_started = RunStarted::now(
        a.sandbox.tier.as_str(),
        enforcement,
        defaults.clone(),
        units.len() as u64,
        workers as u32,
    );
    let progress = if std::io::stderr().is_terminal() {
        let b = indicatif::ProgressBar::new(units.len() as u64);
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
        jsonl: files.map(|f| JsonLinesWriter::new(BufWriter::new(f))),
        attempts: Vec::new(),
        html_events: a.html.as_ref().map(|_| Vec::new()),
        progress,
        total: 0,
        outputs,
    };
    let (cancel, signal_errors) = hatchery_engine::cancel_on_signals();
    for e in signal_errors {
        eprintln!("hatchery: {e}");
    }
    let opts = Options {
        workers,
        retry: RetryPolicy {
            retries: a.retries,
            ..Default::default()
        },
        max_fail: a.max_fail,
        slow_after: a.slow_timeout,
        ..Default::default()
    };
    let rf = hatchery_engine::run(
        &pool,
        &units,
        &RunSpec,
        &opts,
        None,
        Some(run_started),
        &cancel,
        &mut reporter,
    );
    drop(pool);
    if let Progress::Bar(b) = &reporter.progress {
        b.finish_and_clear();
    }
    let mut write_failed = false;
    if let (Some(p), Some(f)) = (&a.junit, junit_file) {
        let name = a
            .jobs
            .file_stem()
            .map_or("hatchery".into(), |s| s.to_string_lossy().into_owned());
        let xml = hatchery_report::junit::junit_xml(&name, &reporter.attempts);
        if let Err(e) = BufWriter::new(f).write_all(xml.as_bytes()) {
            eprintln!("hatchery: cannot write JUnit {}: {e}", p.display());
            write_failed = true;
        }
    }
    if let (Some(p), Some(f)) = (&a.html, html_file) {
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
        let page = hatchery_report::html::render(&[run], &opts);
        if let Err(e) = BufWriter::new(f).write_all(page.as_bytes()) {
            eprintln!(
                "hatchery: cannot write the HTML report {}: {e}",
                p.display()
            );
            write_failed = true;
        }
    }
    print_summary(&reporter.attempts, &rf, units.len(), errors.len());
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
    } else if rf.failed > 0 || rf.not_run > 0 || write_failed {
        exit::FAILED
    } else {
        exit::OK
    }
}

fn print_summary(attempts: &[CaseFinished], rf: &RunFinished, total: usize, skipped_lines: usize) {
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
    if skipped_lines > 0 {
        let _ = writeln!(
            e,
            "   skipped: {skipped_lines} malformed line(s) of the jobs file (--keep-going)"
        );
    }
    let mut slow = finals.clone();
    slow.sort_by_key(|a| std::cmp::Reverse(a.result.usage.wall_us));
    let _ = writeln!(
        e,
        "   slowest: {}",
        slow.iter()
            .take(3)
            .map(|a| format!("{} {}", escape_str(&a.id), fmt_us(a.result.usage.wall_us)))
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
            .map(|a| {
                format!(
                    "{} {}",
                    escape_str(&a.id),
                    fmt_bytes(a.result.usage.peak_memory_bytes)
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    );
    for f in finals.iter().filter(|a| !a.passed) {
        let _ = writeln!(
            e,
            "   FAIL {}: {} (expected {}): {}",
            escape_str(&f.id),
            f.result.outcome,
            f.expected,
            escape_str(&f.result.reason)
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
}

//! `hatchery cargo-runner BINARY [ARGS...]` (also `cargo-hatchery cargo-runner`): cargo's
//! `target.<triple>.runner` with one sandboxed case **per test**. Plain `cargo test` calls the
//! runner once per test binary; we list the binary's tests inside the sandbox (libtest's
//! `--list --format terse`), run each as its own case on a pool of zygotes
//! (`BINARY --exact NAME --nocapture`), print libtest's output format, and exit as libtest
//! does (0, or 101 when a test failed).
//!
//! Anything that is not a plain libtest run — a binary outside `target/.../deps/` (`cargo
//! run`, examples, rustdoc's doctest executables), `--list`, `--bench`, or a libtest option we
//! do not know — runs as one case, exactly like `cargo-hatchery runner`.

use std::ffi::OsString;
use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::time::Instant;

use hatchery_engine::{Options, Pool, Reporter, RetryPolicy, RunSpec, Unit};
use hatchery_report::{
    escape_str, escape_text, CaseFinished, Event, JsonLinesWriter, Outcome, RunStarted,
};

use crate::cargo::TestBinary;
use crate::exec::{run_command, spec};
use crate::exit;
use crate::list::{list_binary, Listed};
use crate::opts::{LimitOpts, SandboxOpts};
use crate::output::{fmt_bytes, fmt_secs};
use crate::runner::RunnerArgs;
use crate::select::{RunIgnored, Selection};

#[derive(Debug, clap::Args)]
pub struct CargoRunnerArgs {
    #[command(flatten)]
    pub sandbox: SandboxOpts,
    #[command(flatten)]
    pub limits: LimitOpts,
    /// Tests run at once (one zygote each). Default: libtest's `--test-threads` or
    /// `RUST_TEST_THREADS` when given, else the number of CPUs.
    #[arg(short = 'j', long, value_name = "N")]
    pub jobs: Option<u32>,
    /// Extra attempts for a failing test; a pass on retry is reported as flaky.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub retries: u32,
    /// Write hatchery's JSON Lines event stream (one case per test) here.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Add wall time, CPU time and peak memory to every `test NAME ... ok` line.
    #[arg(short, long)]
    pub verbose: bool,
    /// The binary cargo built and its arguments.
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        num_args = 1..,
        value_name = "BINARY [ARGS]"
    )]
    pub command: Vec<OsString>,
}

/// What libtest arguments cargo passed, when we understand all of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LibtestArgs {
    pub selection: Selection,
    pub threads: Option<u32>,
}

/// Parses the arguments cargo passes to a test binary. `None` for anything that is not a
/// plain test run (`--list`, `--bench`, formats, unknown options): that runs as one case.
pub fn parse_libtest(args: &[OsString]) -> Option<LibtestArgs> {
    let mut out = LibtestArgs::default();
    let mut it = args.iter().map(|a| a.to_str());
    while let Some(a) = it.next() {
        let a = a?;
        match a {
            "--skip" => out.selection.skip.push(it.next()??.to_owned()),
            "--exact" => out.selection.exact = true,
            "--ignored" => out.selection.run_ignored = RunIgnored::Only,
            "--include-ignored" => out.selection.run_ignored = RunIgnored::All,
            "--nocapture" | "--no-capture" | "--show-output" | "-q" | "--quiet" => {}
            "--test-threads" => out.threads = Some(it.next()??.parse().ok()?),
            "--color" => {
                it.next()??;
            }
            x if x.starts_with("--test-threads=") => {
                out.threads = Some(x["--test-threads=".len()..].parse().ok()?);
            }
            x if x.starts_with("--color=") => {}
            x if x.starts_with('-') => return None,
            f => out.selection.filters.push(f.to_owned()),
        }
    }
    Some(out)
}

/// Whether cargo built this binary as a test harness (`target/<profile>/deps/<name>-<hash>`).
pub fn is_test_binary(path: &Path) -> bool {
    path.parent()
        .and_then(Path::file_name)
        .is_some_and(|d| d == "deps")
}

pub fn run(a: CargoRunnerArgs) -> u8 {
    let Some((bin, rest)) = a.command.split_first() else {
        return exit::USAGE;
    };
    let bin_path = PathBuf::from(bin);
    let parsed = if is_test_binary(&bin_path) {
        parse_libtest(rest)
    } else {
        None
    };
    let Some(parsed) = parsed else {
        return crate::runner::runner(RunnerArgs {
            sandbox: a.sandbox,
            limits: a.limits,
            verbose: a.verbose,
            command: a.command,
        });
    };
    per_test(&a, &bin_path, parsed)
}

fn per_test(a: &CargoRunnerArgs, bin: &Path, parsed: LibtestArgs) -> u8 {
    let start = Instant::now();
    let limits = match a.limits.limits() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("hatchery cargo-runner: {e}");
            return exit::USAGE;
        }
    };
    let (cwd, env, settings, mut probe, enforcement) =
        match crate::runner::runner_setup("hatchery cargo-runner", &a.sandbox, bin) {
            Ok(x) => x,
            Err(code) => return code,
        };
    let binary_id = bin
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let tb = TestBinary {
        binary_id: binary_id.clone(),
        path: bin.to_path_buf(),
        package: env.get("CARGO_PKG_NAME").cloned().unwrap_or_default(),
        kind: "test".into(),
        target_name: binary_id.clone(),
        cwd: cwd.clone(),
        env: env.clone(),
        // A binary that does not speak the protocol runs as one case instead of failing.
        harness: false,
    };
    let list_limits = hatchery_report::Limits {
        wall_us: Some(120_000_000),
        ..limits.clone()
    };
    let mut run = |args: &[&str]| {
        let mut argv: Vec<OsString> = vec![bin.as_os_str().to_owned()];
        argv.extend(args.iter().map(OsString::from));
        let case = spec(&argv, &env, &cwd, &list_limits, &settings);
        let r = run_command(&mut probe, &case, settings.tier);
        if r.outcome == Outcome::SandboxError {
            Err(r.error.unwrap_or(r.reason))
        } else {
            Ok(r)
        }
    };
    let listed = match list_binary(&tb, &mut run) {
        Ok(l) => l,
        Err(e) => {
            eprintln!(
                "hatchery cargo-runner: listing {} failed: {e}",
                bin.display()
            );
            return exit::SANDBOX_ERROR;
        }
    };
    let tests: Vec<(String, bool)> = match listed {
        Listed::Tests(t) => t,
        Listed::Whole => {
            drop(probe);
            return crate::runner::runner(RunnerArgs {
                sandbox: a.sandbox.clone(),
                limits: a.limits.clone(),
                verbose: a.verbose,
                command: a.command.clone(),
            });
        }
    };
    let keys: Vec<(&str, &str, bool)> = tests
        .iter()
        .map(|(n, i)| (binary_id.as_str(), n.as_str(), *i))
        .collect();
    let decisions = parsed.selection.apply(&keys);
    let mut selected: Vec<(String, bool)> = Vec::new();
    let (mut ignored, mut filtered) = (Vec::new(), 0u64);
    for ((n, ign), d) in tests.iter().zip(decisions) {
        match d {
            None => selected.push((n.clone(), *ign)),
            Some(crate::select::Skip::Ignored) => ignored.push(n.clone()),
            Some(_) => filtered += 1,
        }
    }
    let jobs: Vec<Unit> = selected
        .iter()
        .map(|(n, ign)| {
            let mut argv: Vec<OsString> = vec![
                bin.as_os_str().to_owned(),
                "--exact".into(),
                n.into(),
                "--nocapture".into(),
            ];
            if *ign {
                argv.push("--ignored".into());
            }
            let case = spec(&argv, &env, &cwd, &limits, &settings);
            Unit::new(n.clone(), case, settings.tier)
        })
        .collect();
    let workers = a
        .jobs
        .or(parsed.threads)
        .or_else(|| std::env::var("RUST_TEST_THREADS").ok()?.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get() as u32))
        .max(1);
    let run_started = RunStarted::now(
        settings.tier.as_str(),
        enforcement,
        limits.clone(),
        jobs.len() as u64,
        workers,
    );
    let jsonl = match &a.report {
        Some(p) => match JsonLinesWriter::create(p) {
            Ok(w) => Some(w),
            Err(e) => {
                eprintln!("hatchery cargo-runner: cannot create {}: {e}", p.display());
                return exit::WRITE_FAILED;
            }
        },
        None => None,
    };
    println!("\nrunning {} test{}", jobs.len(), plural(jobs.len()));
    for n in &ignored {
        println!("test {n} ... ignored");
    }
    let mut rep = LibtestReporter {
        jsonl,
        verbose: a.verbose,
        finals: Vec::new(),
        write_error: None,
    };
    let pool = Pool::around(probe, workers as usize);
    let opts = Options {
        workers: workers as usize,
        retry: RetryPolicy {
            retries: a.retries,
            ..Default::default()
        },
        ..Default::default()
    };
    let (cancel, signal_errors) = hatchery_engine::cancel_on_signals();
    for e in signal_errors {
        eprintln!("hatchery cargo-runner: {e}");
    }
    let rf = hatchery_engine::run(
        &pool,
        &jobs,
        &RunSpec,
        &opts,
        None,
        Some(run_started),
        &cancel,
        &mut rep,
    );
    drop(pool);
    if let Some(w) = rep.jsonl.take() {
        if let Err(e) = w.into_inner().flush() {
            rep.write_error = Some(e.to_string());
        }
    }
    let failed: Vec<&CaseFinished> = rep.finals.iter().filter(|f| !f.passed).collect();
    if !failed.is_empty() {
        println!("\nfailures:\n");
        for f in &failed {
            println!("---- {} stdout ----", escape_str(&f.id));
            let r = &f.result;
            print!("{}", escape_text(&r.stdout.data));
            print!("{}", escape_text(&r.stderr.data));
            println!("[hatchery: {} ({})]\n", r.outcome, escape_str(&r.reason));
        }
        println!("\nfailures:");
        for f in &failed {
            println!("    {}", escape_str(&f.id));
        }
    }
    let passed = rep.finals.len() - failed.len();
    let not_run = jobs.len().saturating_sub(rep.finals.len());
    println!(
        "\ntest result: {}. {passed} passed; {} failed; {} ignored; 0 measured; {filtered} \
         filtered out; finished in {:.2}s\n",
        if failed.is_empty() && not_run == 0 {
            "ok"
        } else {
            "FAILED"
        },
        failed.len() + not_run,
        ignored.len(),
        start.elapsed().as_secs_f64()
    );
    let _ = std::io::stdout().flush();
    let cpu: u64 = rep.finals.iter().map(|f| f.result.usage.cpu_us).sum();
    let peak = rep
        .finals
        .iter()
        .max_by_key(|f| f.result.usage.peak_memory_bytes);
    eprintln!(
        "hatchery: {} test{} of {binary_id}, each its own sandboxed case (tier {}, {workers} \
         worker{}); cpu {} in total{}",
        jobs.len(),
        plural(jobs.len()),
        settings.tier.as_str(),
        plural(workers as usize),
        fmt_secs(cpu),
        peak.map_or_else(String::new, |p| format!(
            "; peak memory {} ({})",
            fmt_bytes(p.result.usage.peak_memory_bytes),
            p.id
        ))
    );
    if let Some(e) = rep.write_error {
        eprintln!("hatchery cargo-runner: writing the report failed: {e}");
        return exit::WRITE_FAILED;
    }
    if rf.interrupted {
        return exit::INTERRUPTED;
    }
    if failed.is_empty() && not_run == 0 {
        exit::OK
    } else {
        // libtest's exit status for failed tests.
        101
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Prints libtest's `test NAME ... ok` lines and keeps each test's final attempt.
struct LibtestReporter {
    jsonl: Option<JsonLinesWriter<BufWriter<File>>>,
    verbose: bool,
    finals: Vec<CaseFinished>,
    write_error: Option<String>,
}

impl Reporter for LibtestReporter {
    fn event(&mut self, e: &Event) {
        if let Some(w) = &mut self.jsonl {
            if let Err(err) = w.write(e) {
                self.write_error = Some(err.to_string());
                self.jsonl = None;
            }
        }
    }

    fn progress(&mut self, _done: u64, _total: u64, a: &CaseFinished) {
        if a.will_retry {
            return;
        }
        let mut status = match (a.passed, a.flaky) {
            (true, true) => format!("ok (flaky, attempt {})", a.attempt),
            (true, false) => "ok".to_owned(),
            (false, _) => "FAILED".to_owned(),
        };
        if self.verbose {
            let u = &a.result.usage;
            status.push_str(&format!(
                " <{} wall, {} cpu, {}>",
                fmt_secs(u.wall_us),
                fmt_secs(u.cpu_us),
                fmt_bytes(u.peak_memory_bytes)
            ));
        }
        println!("test {} ... {status}", a.id);
        self.finals.push(a.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn libtest_arguments_are_understood_or_refused() {
        let p = parse_libtest(&args(&[
            "foo",
            "--skip",
            "bar",
            "--exact",
            "--test-threads=3",
            "--include-ignored",
            "--nocapture",
        ]))
        .unwrap();
        assert_eq!(p.selection.filters, vec!["foo".to_owned()]);
        assert_eq!(p.selection.skip, vec!["bar".to_owned()]);
        assert!(p.selection.exact);
        assert_eq!(p.selection.run_ignored, RunIgnored::All);
        assert_eq!(p.threads, Some(3));
        assert_eq!(parse_libtest(&args(&[])), Some(LibtestArgs::default()));
        for whole in [
            &["--list"][..],
            &["--bench"],
            &["--format", "json"],
            &["--skip"],
        ] {
            assert_eq!(parse_libtest(&args(whole)), None, "{whole:?}");
        }
    }

    #[test]
    fn only_cargo_test_binaries_run_per_test() {
        assert!(is_test_binary(Path::new(
            "/w/target/debug/deps/alpha-0123abcd"
        )));
        assert!(!is_test_binary(Path::new("/w/target/debug/alpha-tool")));
        assert!(!is_test_binary(Path::new("/tmp/rustdoctestAbc/rust_out")));
    }
}

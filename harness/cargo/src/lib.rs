//! `cargo hatchery test`: every test of a cargo workspace as its own sandboxed, measured case.
//!
//! Phases, as in nextest: **build** (`cargo test --no-run --message-format
//! json-render-diagnostics`, [`cargo`]), **list** (`<binary> --list --format terse` and
//! `--ignored`, run inside the sandbox, [`list`]), **select** (filters, ignored, partition,
//! [`select`]), **run** (one case per test, `<binary> --exact <name> --nocapture`, on a pool
//! of zygotes scheduled across all binaries by the engine's dispatcher, [`exec`]) and **report**
//! (status lines, progress bar, summary, JSON Lines, JUnit, [`output`]). [`runner`] is the
//! target-runner route: one binary, one case.

pub(crate) use hatchery_report::error_chain;

pub mod archive;
pub mod cargo;
pub mod cargo_runner;
pub mod config;
pub mod doc;
pub mod exec;
pub mod filter;
pub mod list;
pub mod live;
pub mod opts;
pub mod output;
pub mod overrides;
pub mod runner;
pub mod select;

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use hatchery_engine::{Expect, Options, Pool, RetryPolicy, SandboxExecutor, Unit};
use hatchery_report::{JsonLinesWriter, Level, Limits, Outcome, RunStarted};

use crate::cargo::{CargoOpts, TestBinary};
use crate::exec::{run_command, spec, SandboxSettings, TestWork};
use crate::list::Listed;
use crate::opts::{parse_duration, LimitOpts, SandboxOpts};
use crate::output::{CaseMeta, Display, Out, ShowOutput, StatusLevel, Style, TestReporter};
use crate::select::{Partition, RunIgnored, Selection, Skip};

/// Documented process exit codes: the one table (nextest's codes where they overlap).
pub use hatchery_report::exit;

pub const EXIT_CODES: &str = "\
Exit codes (test):
    0  every selected test passed (flaky and leaky tests count as passed)
    2  bad command line
    4  no test was selected (see --no-tests)
    5  hatchery itself failed for some test (sandbox_error; never the test's fault)
    6  this host cannot provide the requested tier (the message names the missing feature)
  100  some test failed, or did not run because of fail-fast
  101  building the tests failed
  102  cargo metadata failed
  104  a test binary could not list its tests
  110  the --report or --junit file could not be written
  130  interrupted by SIGINT/SIGTERM
Exit codes (runner): the binary's own exit code; 128+N when killed by signal N; 124 time
limit; 125 memory or output limit; 5 sandbox error; 6 tier unavailable.";

#[derive(Parser, Debug)]
#[command(
    name = "cargo-hatchery",
    bin_name = "cargo hatchery",
    version,
    about = "Run every Rust test as its own sandboxed, measured process.",
    after_help = EXIT_CODES
)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Build the tests, list them, and run each one as its own sandboxed case.
    #[command(after_help = EXIT_CODES)]
    Test(Box<TestArgs>),
    /// Build the tests and print the ones that would run (`binary-id test-name` per line).
    List(Box<TestArgs>),
    /// Build the tests and write them, with what they need at run time, to an archive in
    /// nextest's format (`test --archive-file` runs it elsewhere without building).
    Archive(Box<archive::ArchiveArgs>),
    /// Run one binary as one sandboxed case: cargo's `target.<triple>.runner`.
    #[command(after_help = EXIT_CODES)]
    Runner(Box<runner::RunnerArgs>),
    /// cargo's `target.<triple>.runner` with one sandboxed case per test of each test binary
    /// (`CARGO_TARGET_<TRIPLE>_RUNNER="cargo-hatchery cargo-runner" cargo test`).
    CargoRunner(Box<cargo_runner::CargoRunnerArgs>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum NoTests {
    Fail,
    Warn,
    Pass,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ShowProgress {
    /// A bar on a terminal, plain lines otherwise.
    Auto,
    Bar,
    /// Plain status lines, no bar.
    Counter,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MessageFormat {
    Human,
    Json,
    JsonPretty,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Args, Debug)]
pub struct TestArgs {
    /// Run only tests whose name contains one of these.
    #[arg(value_name = "FILTERS")]
    pub filters: Vec<String>,
    /// Filters must match test names exactly.
    #[arg(long, help_heading = "Selection")]
    pub exact: bool,
    /// Skip tests whose name contains this (repeatable).
    #[arg(long, value_name = "PATTERN", help_heading = "Selection")]
    pub skip: Vec<String>,
    /// Which `#[ignore]`d tests run.
    #[arg(long, value_enum, default_value_t = RunIgnored::Default, help_heading = "Selection")]
    pub run_ignored: RunIgnored,
    /// Run one shard: `hash:K/N` (stable hash of binary id and test name), `count:K/N`
    /// (round-robin within each binary, as nextest) or `slice:K/N` (round-robin over all).
    #[arg(long, value_name = "hash:K/N", help_heading = "Selection")]
    pub partition: Option<Partition>,
    /// nextest filterset (repeatable: a test runs if it matches any), e.g. `-E 'test(parse) &
    /// package(mycrate)'`; intersected with name filters and the profile's default-filter.
    #[arg(
        short = 'E',
        long = "filterset",
        alias = "filter-expr",
        value_name = "EXPR",
        help_heading = "Selection"
    )]
    pub filterset: Vec<String>,
    /// Do not apply the profile's `default-filter`.
    #[arg(long, help_heading = "Selection")]
    pub ignore_default_filter: bool,

    /// nextest profile of `.config/nextest.toml` (default: `default`).
    #[arg(
        short = 'P',
        long,
        env = "NEXTEST_PROFILE",
        value_name = "NAME",
        help_heading = "Config"
    )]
    pub profile: Option<String>,
    /// Read the nextest configuration from this file instead of
    /// `<workspace>/.config/nextest.toml`.
    #[arg(long, value_name = "PATH", help_heading = "Config")]
    pub config_file: Option<PathBuf>,

    /// Tests run at once (one zygote each): N, -N (CPUs minus N) or num-cpus; default: the
    /// profile's test-threads, else the number of CPUs.
    #[arg(
        short = 'j',
        long = "test-threads",
        env = "NEXTEST_TEST_THREADS",
        value_name = "N",
        allow_hyphen_values = true,
        help_heading = "Running"
    )]
    pub test_threads: Option<String>,
    /// Extra attempts for a failing test; a pass on retry is FLAKY. Overrides the profile.
    #[arg(
        long,
        env = "NEXTEST_RETRIES",
        value_name = "N",
        help_heading = "Running"
    )]
    pub retries: Option<u32>,
    /// Run every test even after failures.
    #[arg(long, conflicts_with_all = ["max_fail", "fail_fast"], help_heading = "Running")]
    pub no_fail_fast: bool,
    /// Stop starting tests after the first failure (the default).
    #[arg(long, help_heading = "Running")]
    pub fail_fast: bool,
    /// Stop starting tests after N failures.
    #[arg(long, value_name = "N", help_heading = "Running")]
    pub max_fail: Option<u64>,
    /// Print a SLOW line each time a running test passes another multiple of this; tests
    /// slower than this count as slow in the summary. 0 turns it off. Default: the profile's
    /// slow-timeout (60s).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION", help_heading = "Running")]
    pub slow_timeout: Option<Duration>,
    /// What to do when no test is selected.
    #[arg(long, value_enum, env = "NEXTEST_NO_TESTS", default_value_t = NoTests::Fail, help_heading = "Running")]
    pub no_tests: NoTests,

    #[command(flatten)]
    pub limits: LimitOpts,
    #[command(flatten)]
    pub sandbox: SandboxOpts,

    /// Write the JSON Lines event stream (hatchery's report schema) here.
    #[arg(long, value_name = "FILE", help_heading = "Reporting")]
    pub report: Option<PathBuf>,
    /// Write JUnit XML here.
    #[arg(long, value_name = "FILE", help_heading = "Reporting")]
    pub junit: Option<PathBuf>,
    /// Which status lines are printed while the run goes on (default: the profile's, else
    /// pass).
    #[arg(
        long,
        value_enum,
        env = "NEXTEST_STATUS_LEVEL",
        help_heading = "Reporting"
    )]
    pub status_level: Option<StatusLevel>,
    /// Which tests the final summary lists again (failures, flaky and leaky ones at least).
    #[arg(
        long,
        value_enum,
        env = "NEXTEST_FINAL_STATUS_LEVEL",
        help_heading = "Reporting"
    )]
    pub final_status_level: Option<StatusLevel>,
    /// When the captured output of failing tests is shown (default: immediate).
    #[arg(
        long,
        value_enum,
        env = "NEXTEST_FAILURE_OUTPUT",
        help_heading = "Reporting"
    )]
    pub failure_output: Option<ShowOutput>,
    /// When the captured output of passing tests is shown (default: never).
    #[arg(
        long,
        value_enum,
        env = "NEXTEST_SUCCESS_OUTPUT",
        help_heading = "Reporting"
    )]
    pub success_output: Option<ShowOutput>,
    /// A bar on a terminal (auto), or `(n/N)` counters on status lines (counter; auto without
    /// a terminal), or neither.
    #[arg(long, value_enum, default_value_t = ShowProgress::Auto, help_heading = "Reporting")]
    pub show_progress: ShowProgress,
    /// Show each test's output as it runs (copied from the sandbox live, escaped), besides
    /// capturing it. Runs one test at a time, as nextest does, so output does not interleave.
    #[arg(long, alias = "nocapture", help_heading = "Reporting")]
    pub no_capture: bool,
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, help_heading = "Reporting")]
    pub color: ColorChoice,
    /// `list` only: `human` (`binary-id test-name` lines of the tests that would run), or
    /// nextest's JSON document (`json`, `json-pretty`: every listed test of the test
    /// binaries, with why it would not run).
    #[arg(long, value_enum, default_value_t = MessageFormat::Human, help_heading = "Reporting")]
    pub message_format: MessageFormat,

    #[command(flatten)]
    pub cargo: CargoOpts,
    #[command(flatten)]
    pub reuse: archive::ReuseArgs,

    /// After `--`: more filters, and libtest's `--skip P`, `--exact`, `--ignored`,
    /// `--include-ignored`.
    #[arg(last = true, value_name = "TEST_ARGS")]
    pub test_args: Vec<String>,
}

impl TestArgs {
    /// The selection, with libtest-style arguments after `--` folded in.
    pub fn selection(&self) -> Result<Selection, String> {
        let mut s = Selection {
            filters: self.filters.clone(),
            exact: self.exact,
            skip: self.skip.clone(),
            run_ignored: self.run_ignored,
            partition: self.partition,
        };
        let mut it = self.test_args.iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "--skip" => s.skip.push(
                    it.next()
                        .ok_or("`--skip` after `--` needs a pattern")?
                        .clone(),
                ),
                "--exact" => s.exact = true,
                "--ignored" => s.run_ignored = RunIgnored::Only,
                "--include-ignored" => s.run_ignored = RunIgnored::All,
                // Live output (see `no_capture`); every test already runs alone.
                "--nocapture" | "--no-capture" | "--show-output" | "--quiet" | "-q" => {}
                x if x.starts_with("--test-threads") => {}
                x if x.starts_with('-') => {
                    return Err(format!(
                        "unsupported test-binary argument `{x}` after `--` (supported: \
                         filters, --skip P, --exact, --ignored, --include-ignored)"
                    ))
                }
                f => s.filters.push(f.to_owned()),
            }
        }
        Ok(s)
    }

    /// `--no-capture`, or libtest's `--nocapture` after `--`.
    fn no_capture(&self) -> bool {
        self.no_capture
            || self
                .test_args
                .iter()
                .any(|a| a == "--nocapture" || a == "--no-capture")
    }

    /// Failures after which no new test starts: the command line, else the profile.
    fn max_fail(&self, profile: &config::Profile) -> Result<Option<u64>, String> {
        if self.no_fail_fast {
            Ok(None)
        } else if let Some(n) = self.max_fail {
            Ok(Some(n.max(1)))
        } else if self.fail_fast {
            Ok(Some(1))
        } else {
            profile.fail_fast.max_fail()
        }
    }
}

/// Entry point after the zygote check. `args` is the full argv; cargo calls us as
/// `cargo-hatchery hatchery test ...`, people as `cargo-hatchery test ...`.
pub fn main_with(mut args: Vec<OsString>) -> u8 {
    // rustdoc's linker and run tool during the doctest pass (see [`doc`]).
    if args
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .is_some_and(|n| n == doc::LINKER_NAME)
    {
        return doc::linker_main(&args[1..]);
    }
    if args.get(1).is_some_and(|a| a == doc::COLLECT_ARG) {
        return doc::collect_main(&args[2..]);
    }
    if args.get(1).is_some_and(|a| a == "hatchery") {
        args.remove(1);
    }
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
        }
    };
    match cli.cmd {
        Cmd::Test(a) => test(*a, false),
        Cmd::List(a) => test(*a, true),
        Cmd::Archive(a) => archive::archive_main(*a),
        Cmd::Runner(a) => runner::runner(*a),
        Cmd::CargoRunner(a) => cargo_runner::run(*a),
    }
}

fn use_color(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            match std::env::var("CARGO_TERM_COLOR").as_deref() {
                Ok("always") => return true,
                Ok("never") => return false,
                _ => {}
            }
            if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
                return false;
            }
            if std::env::var_os("CLICOLOR_FORCE").is_some_and(|v| v != "0") {
                return true;
            }
            std::io::stderr().is_terminal()
        }
    }
}

/// Limits of a list command: listing must be quick.
fn list_limits(l: &Limits) -> Limits {
    Limits {
        wall_us: Some(120_000_000),
        ..l.clone()
    }
}

/// `test` (and `list` with `list_only`).
pub fn test(a: TestArgs, list_only: bool) -> u8 {
    let selection = match a.selection() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let style = Style {
        color: use_color(a.color),
    };
    // Checked before building; applied once the profile is known.
    if let Err(e) = a.limits.limits() {
        eprintln!("error: {e}");
        return exit::USAGE;
    }

    if let Some(t) = &a.cargo.target {
        match cargo::host_triple() {
            Some(h) if cargo::runs_natively(t, &h) => {}
            h => {
                eprintln!(
                    "error: tests built for --target {t} cannot run on this host ({}): the \
                     sandbox runs native binaries only; build them with `cargo test --no-run \
                     --target {t}` and run them on a {t} machine or under an emulator",
                    h.as_deref().unwrap_or("unknown host")
                );
                return exit::USAGE;
            }
        }
    }

    // Build, or extract a build.
    let extracted = match a
        .reuse
        .archive_file
        .is_some()
        .then(|| archive::load(&a.reuse))
    {
        None => None,
        Some(Ok(x)) => Some(x),
        Some(Err(e)) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let built = match extracted
        .map(|x| Ok((x.built, x.temp)))
        .unwrap_or_else(|| cargo::build(&a.cargo).map(|b| (b, None)))
    {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {e}");
            return match e {
                cargo::BuildError::Metadata(_) => exit::METADATA_FAILED,
                cargo::BuildError::Build(_) => exit::BUILD_FAILED,
            };
        }
    };
    // The extraction directory (if temporary) lives as long as the run.
    let (built, _extracted_dir) = built;
    let mut binaries = built.binaries.clone();

    // The nextest profile: CLI > environment (NEXTEST_*) > profile > nextest's defaults.
    let profile = match config::Profile::load(
        &built.meta.workspace_root,
        a.config_file.as_deref(),
        a.profile.as_deref().unwrap_or("default"),
    ) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    if !profile.ignored.is_empty() {
        eprintln!(
            "{} nextest configuration not used by hatchery: {}",
            style.paint("1;33", &format!("{:>12}", "Note")),
            profile.ignored.join(", ")
        );
    }
    let sandbox_opts = a.sandbox.or_config(&profile.hatchery);
    let mut settings = sandbox_opts.settings();
    let limit_opts = a.limits.or_config(&profile.hatchery);
    let limits = match limit_opts.limits() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: profile `{}`: {e}", profile.name);
            return exit::USAGE;
        }
    };
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
    let threads_cfg = match &a.test_threads {
        Some(t) => Some(match t.parse::<i64>() {
            Ok(n) => config::ThreadsCfg::Count(n),
            Err(_) => config::ThreadsCfg::Named(t.clone()),
        }),
        None => profile.test_threads.clone(),
    };
    let workers = match (a.no_capture(), threads_cfg) {
        // Serially, as nextest does: live output of several tests would interleave.
        (true, _) => 1,
        (false, None) => cpus,
        (false, Some(t)) => match config::threads(&t, cpus, cpus) {
            Ok(n) => n.max(1),
            Err(e) => {
                eprintln!("error: test-threads: {e}");
                return exit::USAGE;
            }
        },
    };

    let spill_dir = built.target_dir.join(exec::SPILL_DIR);
    exec::clear_spill_dir(&spill_dir);
    settings.spill = exec::spill_in(spill_dir);
    // Tests write in their workspace (snapshots, fixtures) and target directory
    // (CARGO_TARGET_TMPDIR); the rest of the host stays closed to writing.
    settings.view.allow_write(&built.meta.workspace_root);
    settings.view.allow_write(&built.target_dir);
    for b in &binaries {
        settings.view.show(&b.cwd);
    }
    // The toolchain, for tests that run cargo or rustc or link std dynamically.
    cargo::show_toolchain(
        &mut settings.view,
        built.output.toolchain_libdir.as_deref(),
        &built.meta.workspace_root,
    );
    for (_, v) in &sandbox_opts.env {
        settings.view.show_value(std::ffi::OsStr::new(v));
    }

    // Doctests: compiled (not run) by one `cargo test --doc` pass, on a thread of its own
    // while the zygote starts and the test binaries are listed.
    let _collected = doc::RemoveOnDrop(
        a.cargo
            .runs_doctests()
            .then(|| doc::collect_dir(&built.target_dir)),
    );
    let any_lib = built
        .meta
        .packages
        .iter()
        .any(|p| p.targets.iter().any(|t| t.kind.iter().any(|k| is_lib(k))));
    // An archive holds no doctests (as with nextest).
    let run_docs = a.cargo.runs_doctests() && any_lib && a.reuse.archive_file.is_none();
    let extra_env: Vec<(String, String)> = sandbox_opts.env.clone();
    let env_of = |b: &TestBinary| {
        let mut e = b.env.clone();
        e.extend(extra_env.iter().cloned());
        e
    };
    let (docs, listing) = std::thread::scope(|s| {
        let doc_pass = run_docs.then(|| s.spawn(|| doctests(&a, &selection, &built, workers)));
        let listing = start_and_list(&settings, &limits, &binaries, &env_of);
        let docs = match doc_pass.map(|h| h.join()) {
            None => Ok((Vec::new(), Vec::new())),
            Some(Ok(r)) => r,
            Some(Err(_)) => Err("the doctest pass panicked".to_owned()),
        };
        (docs, listing)
    });
    let (docs, merged_bins) = match docs {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: doctests: {e}");
            return exit::BUILD_FAILED;
        }
    };
    let (probe, enforcement, mut listed) = match listing {
        Ok(x) => x,
        Err(code) => return code,
    };
    // rustdoc's merged doctests speak no list protocol: one case each.
    for b in merged_bins {
        listed.push((binaries.len(), Listed::Whole));
        binaries.push(b);
    }

    // Select.
    let mut all: Vec<(Launch, CaseMeta)> = Vec::new();
    for (i, l) in &listed {
        let id = &binaries[*i].binary_id;
        match l {
            Listed::Whole => all.push((
                Launch::Binary(*i),
                CaseMeta {
                    binary_id: id.clone(),
                    name: String::new(),
                    ignored: false,
                },
            )),
            Listed::Tests(t) => all.extend(t.iter().map(|(n, ign)| {
                (
                    Launch::Binary(*i),
                    CaseMeta {
                        binary_id: id.clone(),
                        name: n.clone(),
                        ignored: *ign,
                    },
                )
            })),
        }
    }
    for (j, d) in docs.iter().enumerate() {
        all.push((
            Launch::Doc(j),
            CaseMeta {
                binary_id: doc_binary_id(&built.meta, &d.package),
                name: d.name.clone(),
                ignored: d.ignored,
            },
        ));
    }
    let keys: Vec<(&str, &str, bool)> = all
        .iter()
        .map(|(_, m)| {
            let name = if m.name.is_empty() {
                m.binary_id.as_str()
            } else {
                m.name.as_str()
            };
            (m.binary_id.as_str(), name, m.ignored)
        })
        .collect();
    // Filtersets and per-test overrides.
    let compiled =
        match overrides::Compiled::new(&profile, &a.filterset, a.ignore_default_filter, &a.cargo) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {e}");
                return exit::USAGE;
            }
        };
    let package_ids: HashMap<&str, &str> = built
        .meta
        .packages
        .iter()
        .map(|p| (p.name.as_str(), p.id.as_str()))
        .collect();
    let per_test: Vec<overrides::PerTest> = all
        .iter()
        .zip(&keys)
        .map(|((launch, m), (_, name, _))| {
            let (package, kind, target) = match launch {
                Launch::Binary(i) => {
                    let b = &binaries[*i];
                    (b.package.as_str(), b.kind.as_str(), b.target_name.as_str())
                }
                Launch::Doc(j) => (docs[*j].package.as_str(), "doc", ""),
            };
            let facts = filter::TestFacts::new(
                package_ids.get(package).copied().unwrap_or(package),
                &m.binary_id,
                target,
                kind,
                name,
            );
            let per = compiled.per_test(&facts);
            let refused = compiled.refuses(&facts, &per);
            (per, refused)
        })
        .map(|(per, sel)| overrides::PerTest {
            refused: sel,
            ..per
        })
        .collect();
    let decisions = selection.apply_with(&keys, &|i| per_test[i].refused);
    let mut run_list: Vec<(Launch, CaseMeta, overrides::PerTest)> = Vec::new();
    let mut skipped: Vec<(CaseMeta, Skip)> = Vec::new();
    for (((i, m), d), per) in all.into_iter().zip(decisions).zip(per_test) {
        match d {
            None => run_list.push((i, m, per)),
            Some(why) => skipped.push((m, why)),
        }
    }

    if list_only && a.message_format != MessageFormat::Human {
        let by_id: HashMap<&str, &TestBinary> = built
            .binaries
            .iter()
            .map(|b| (b.binary_id.as_str(), b))
            .collect();
        let mut tests: Vec<list::ListedTest<'_>> = Vec::new();
        let all_listed = run_list
            .iter()
            .map(|(_, m, _)| (m, None))
            .chain(skipped.iter().map(|(m, why)| (m, Some(*why))));
        for (m, skip) in all_listed {
            let Some(b) = by_id.get(m.binary_id.as_str()) else {
                continue;
            };
            tests.push(list::ListedTest {
                binary: b,
                package_id: package_ids.get(b.package.as_str()).copied().unwrap_or(""),
                name: if m.name.is_empty() {
                    &m.binary_id
                } else {
                    &m.name
                },
                ignored: m.ignored,
                skip,
            });
        }
        println!(
            "{}",
            list::summary_json(
                &built.target_dir,
                &tests,
                a.message_format == MessageFormat::JsonPretty
            )
        );
        return exit::OK;
    }
    if list_only {
        let mut o = std::io::stdout().lock();
        for (_, m, _) in &run_list {
            let _ = writeln!(o, "{}", m.id());
        }
        return exit::OK;
    }
    // nextest's priority: higher starts sooner; the sort is stable, so tests of one priority
    // keep their order.
    run_list.sort_by_key(|(_, _, per)| std::cmp::Reverse(per.priority.unwrap_or_default()));
    let used_binaries: std::collections::BTreeSet<&str> = run_list
        .iter()
        .map(|(_, m, _)| m.binary_id.as_str())
        .collect();
    if run_list.is_empty() {
        let msg = format!("no tests to run ({} listed, all skipped)", skipped.len());
        match a.no_tests {
            NoTests::Fail => {
                eprintln!("error: {msg}; use --no-tests=pass to accept this");
                return exit::NO_TESTS;
            }
            NoTests::Warn => eprintln!("warning: {msg}"),
            NoTests::Pass => {}
        }
    }

    let weak: Vec<String> = enforcement
        .iter()
        .filter(|(_, l)| l.level != Level::Full)
        .map(|(k, l)| match l.level {
            Level::None => format!("{k} (none)"),
            _ => format!("{k} (partial)"),
        })
        .collect();
    eprintln!(
        "{} {} test{} across {} binar{} ({} skipped); tier {}, {} worker{}",
        style.status("Starting"),
        run_list.len(),
        if run_list.len() == 1 { "" } else { "s" },
        used_binaries.len(),
        if used_binaries.len() == 1 { "y" } else { "ies" },
        skipped.len(),
        settings.tier.as_str(),
        workers,
        if workers == 1 { "" } else { "s" },
    );
    if !weak.is_empty() {
        eprintln!(
            "{} not fully enforced here: {} (details in --report's run_started)",
            style.paint("1;33", &format!("{:>12}", "Note")),
            weak.join(", ")
        );
    }

    let max_fail = match a.max_fail(&profile) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: profile `{}`: {e}", profile.name);
            return exit::USAGE;
        }
    };
    let slow_after = a
        .slow_timeout
        .unwrap_or_else(|| profile.slow_timeout.period());

    // Units: one per test.
    let mut verdicts: HashMap<String, hatchery_report::CaseResult> = HashMap::new();
    let mut needs: HashMap<String, (u32, Option<(String, u32)>)> = HashMap::new();
    let mut junit_store: Vec<(bool, bool)> = Vec::new();
    let mut per_case: Vec<output::CaseShow> = Vec::new();
    let mut max_attempts = a.retries.map_or(1, |r| r + 1);
    let mut jobs: Vec<Unit> = Vec::new();
    for (launch, m, per) in &run_list {
        let unit = {
            let (argv, env, cwd, expect): (Vec<OsString>, _, _, _) = match launch {
                Launch::Binary(bi) => {
                    let b = &binaries[*bi];
                    let mut argv = vec![b.path.clone().into_os_string()];
                    if !m.name.is_empty() {
                        argv.extend([
                            "--exact".into(),
                            m.name.clone().into(),
                            "--nocapture".into(),
                        ]);
                        if m.ignored {
                            argv.push("--ignored".into());
                        }
                    }
                    (argv, env_of(b), b.cwd.clone(), Outcome::Ok)
                }
                Launch::Doc(j) => {
                    let d = &docs[*j];
                    let (mut env, cwd) = doc_env(&built, d);
                    env.extend(extra_env.iter().cloned());
                    match &d.kind {
                        doc::DocKind::Run { exe, should_panic } => (
                            vec![exe.clone().into_os_string()],
                            env,
                            cwd,
                            if *should_panic {
                                Outcome::NonzeroExit
                            } else {
                                Outcome::Ok
                            },
                        ),
                        kind => {
                            // Decided by rustdoc: answered by TestWork without running.
                            verdicts
                                .insert(m.id(), exec::verdict_result(kind, &limits, settings.tier));
                            (vec!["rustdoc".into()], env, cwd, Outcome::Ok)
                        }
                    }
                }
            };
            // hatchery's settings: the command line, then the overrides, then the profile.
            let (u_settings, mut u_limits, env) = if per.hatchery == Default::default() {
                (settings.clone(), limits.clone(), env)
            } else {
                let h = per.hatchery.or_cfg(&profile.hatchery);
                let mut s = a.sandbox.or_config(&h).settings();
                s.view = settings.view.clone();
                s.spill = settings.spill.clone();
                let l = match a.limits.or_config(&h).limits() {
                    Ok(l) => l,
                    Err(e) => {
                        eprintln!("error: the overrides of `{}`: {e}", m.id());
                        return exit::USAGE;
                    }
                };
                let mut env = env;
                env.extend(per.hatchery.env.clone());
                // `--env` still wins.
                env.extend(a.sandbox.env.iter().cloned());
                (s, l, env)
            };
            let slow = per.slow_timeout.unwrap_or(profile.slow_timeout);
            let explicit_wall = u_limits.wall_us;
            u_limits.wall_us = overrides::wall_limit(explicit_wall, &slow);
            let mut u = Unit::new(
                m.id(),
                spec(&argv, &env, &cwd, &u_limits, &u_settings),
                u_settings.tier,
            );
            u.expect = Expect::Outcome(expect);
            u.group = Some(m.binary_id.clone());
            // terminate-after's limit (not --timeout's, a hard kill) ends a test as nextest
            // does: SIGTERM, then SIGKILL after the grace period.
            if slow
                .terminate()
                .is_some_and(|t| explicit_wall.is_none_or(|e| (t.as_micros() as u64) < e))
            {
                u.spec.kill_grace = Some(slow.grace_period());
                u.timeout_passes = slow.timeout_passes();
            }
            // An override's slow-timeout period, unless --slow-timeout sets one for all.
            if a.slow_timeout.is_none() && per.slow_timeout.is_some() {
                u.slow_after = Some(slow.period());
            }
            // nextest's leak-timeout: what the test leaves gets the period to end.
            let leak = per.leak_timeout.unwrap_or(profile.leak_timeout);
            u.spec.leak_wait = Some(leak.period());
            u.leak_fails = leak.fails();
            if a.retries.is_none() {
                let policy = config::retry_policy(per.retries.unwrap_or(profile.retries));
                max_attempts = max_attempts.max(policy.retries + 1);
                u.retry = Some(policy);
            }
            let threads_required = per
                .threads_required
                .clone()
                .unwrap_or_else(|| profile.threads_required.clone());
            let n = match config::threads(&threads_required, cpus, workers) {
                Ok(n) => n,
                Err(e) => {
                    eprintln!("error: threads-required of `{}`: {e}", m.id());
                    return exit::USAGE;
                }
            };
            let group = match per.test_group.as_deref() {
                None | Some("@global") => None,
                Some(g) => {
                    let max = profile.groups.get(g).map(|c| c.max_threads.clone());
                    match max.map(|t| config::threads(&t, cpus, workers)) {
                        Some(Ok(max)) => Some((g.to_owned(), max.max(1))),
                        Some(Err(e)) => {
                            eprintln!("error: test group `{g}`: max-threads: {e}");
                            return exit::USAGE;
                        }
                        None => None,
                    }
                }
            };
            if n != 1 || group.is_some() {
                needs.insert(m.id(), (n, group));
            }
            // Output settings of the overrides, unless the command line forces them.
            let parse = |v: &Option<String>| v.as_deref().and_then(|v| config::show_output(v).ok());
            per_case.push(output::CaseShow {
                success: parse(&per.success_output).filter(|_| a.success_output.is_none()),
                failure: parse(&per.failure_output).filter(|_| a.failure_output.is_none()),
                slow_us: u.slow_after.map(|d| d.as_micros() as u64),
                terminate_us: u
                    .spec
                    .kill_grace
                    .and(slow.terminate())
                    .map(|d| d.as_micros() as u64),
            });
            junit_store.push((
                per.store_success_output
                    .or(profile.junit.store_success_output)
                    .unwrap_or(false),
                per.store_failure_output
                    .or(profile.junit.store_failure_output)
                    .unwrap_or(true),
            ));
            u
        };
        jobs.push(unit);
    }
    let cases: Vec<CaseMeta> = run_list.into_iter().map(|(_, m, _)| m).collect();

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
                eprintln!("error: cannot create the report {}: {e}", p.display());
                return exit::WRITE_FAILED;
            }
        },
        None => None,
    };
    let live = match a.no_capture() {
        true => match live::Live::start() {
            Ok(l) => Some(l),
            Err(e) => {
                eprintln!("error: cannot set up live output: {e}");
                return exit::SANDBOX_ERROR;
            }
        },
        false => None,
    };
    let mut jobs = jobs;
    if let Some(l) = &live {
        for u in &mut jobs {
            u.spec.live = Some(l.ends.clone());
        }
    }
    let bar = match a.show_progress {
        _ if live.is_some() => None,
        ShowProgress::Auto | ShowProgress::Bar if std::io::stderr().is_terminal() => {
            let b = indicatif::ProgressBar::new(jobs.len() as u64);
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "{prefix:>12.bold.green} [{elapsed_precise}] {bar:25} {pos}/{len}: {wide_msg}",
                )
                .expect("valid template"),
            );
            b.set_prefix("Running");
            Some(b)
        }
        _ => None,
    };
    let out = Out { bar };
    let display = Display {
        style,
        status_level: a
            .status_level
            .or(profile.status_level)
            .unwrap_or(StatusLevel::Pass),
        final_status_level: a
            .final_status_level
            .or(profile.final_status_level)
            .unwrap_or(StatusLevel::Fail),
        failure_output: a
            .failure_output
            .or(profile.failure_output)
            .unwrap_or(ShowOutput::Immediate),
        success_output: a
            .success_output
            .or(profile.success_output)
            .unwrap_or(ShowOutput::Never),
        per_case,
        max_attempts,
        slow_us: slow_after.as_micros() as u64,
        counter: match a.show_progress {
            ShowProgress::Counter => true,
            ShowProgress::Auto => out.bar.is_none(),
            ShowProgress::Bar | ShowProgress::None => false,
        },
    };
    let mut reporter = TestReporter {
        out: &out,
        display: display.clone(),
        cases: &cases,
        jsonl,
        report_error: None,
        attempts: Vec::new(),
        running: Default::default(),
        done: 0,
    };
    let (cancel, signal_errors) = hatchery_engine::cancel_on_signals();
    for e in signal_errors {
        eprintln!("warning: {e}");
    }
    let pool = Pool::around(probe, workers as usize);
    let opts = Options {
        workers: workers as usize,
        retry: RetryPolicy {
            retries: a.retries.unwrap_or(0),
            ..Default::default()
        },
        max_fail,
        slow_after: (!slow_after.is_zero()).then_some(slow_after),
        ..Default::default()
    };
    let rf = hatchery_engine::run(
        &pool,
        &jobs,
        &TestWork {
            verdicts,
            slots: exec::Slots::new(workers, needs),
        },
        &opts,
        None,
        Some(run_started),
        &cancel,
        &mut reporter,
    );
    drop(pool);
    drop(jobs);
    if let Some(l) = live {
        l.finish();
    }
    if let Some(b) = &out.bar {
        b.finish_and_clear();
    }
    let mut code = exit::OK;
    if let Some(e) = &reporter.report_error {
        eprintln!("error: writing the report failed: {e}");
        code = exit::WRITE_FAILED;
    }
    if let Some(w) = reporter.jsonl.take() {
        if let Err(e) = w.into_inner().flush() {
            eprintln!("error: writing the report failed: {e}");
            code = exit::WRITE_FAILED;
        }
    }
    if let Some(p) = a
        .junit
        .clone()
        .or_else(|| profile.junit_path(&built.target_dir))
    {
        if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = std::fs::create_dir_all(dir);
        }
        let name = profile
            .junit
            .report_name
            .as_deref()
            .unwrap_or("cargo-hatchery");
        let xml = output::junit(name, &cases, &reporter.attempts, &skipped, &junit_store);
        if let Err(e) = std::fs::write(&p, xml) {
            eprintln!("error: cannot write JUnit {}: {e}", p.display());
            code = exit::WRITE_FAILED;
        }
    }
    let c = output::counts(
        &reporter.attempts,
        cases.len(),
        skipped.len() as u64,
        &display,
    );
    eprint!(
        "{}",
        output::summary(&display, &cases, &reporter.attempts, &rf, &c)
    );
    if rf.interrupted {
        return exit::INTERRUPTED;
    }
    if c.sandbox_errors > 0 || (!rf.worker_errors.is_empty() && c.not_run > 0) {
        eprintln!("error: hatchery failed to run some tests (sandbox_error): not the tests' fault");
        return exit::SANDBOX_ERROR;
    }
    if c.failed > 0 || c.not_run > 0 {
        eprintln!("error: test run failed");
        return exit::TEST_FAILED;
    }
    code
}

/// How a selected test is started.
#[derive(Debug, Clone, Copy)]
enum Launch {
    /// Through test binary `binaries[i]` (libtest protocol, or the whole binary).
    Binary(usize),
    /// Doctest `docs[j]`.
    Doc(usize),
}

/// The binary id of a package's doctests: `pkg::doc/<lib target>` (nextest's `kind/name`
/// form, which no integration test name can take).
fn doc_binary_id(meta: &cargo::Metadata, package: &str) -> String {
    let lib = meta
        .packages
        .iter()
        .find(|p| p.name == package)
        .and_then(|p| p.targets.iter().find(|t| t.kind.iter().any(|k| is_lib(k))))
        .map_or_else(|| package.replace('-', "_"), |t| t.name.clone());
    format!("{package}::doc/{lib}")
}

fn is_lib(kind: &str) -> bool {
    matches!(
        kind,
        "lib" | "rlib" | "dylib" | "cdylib" | "staticlib" | "proc-macro"
    )
}

/// The environment and working directory of a doctest: what `cargo test` gives the library's
/// tests, with the dynamic library path and `OUT_DIR` rustdoc had.
fn doc_env(built: &cargo::Built, d: &doc::DocTest) -> (BTreeMap<String, String>, PathBuf) {
    let pkg = built.meta.packages.iter().find(|p| p.name == d.package);
    let mut env = BTreeMap::new();
    let mut cwd = d.info.cwd.clone();
    if let Some(pkg) = pkg {
        let lib = pkg
            .targets
            .iter()
            .find(|t| t.kind.iter().any(|k| is_lib(k)))
            .cloned()
            .unwrap_or_else(|| cargo::Target {
                name: pkg.name.clone(),
                kind: vec!["lib".into()],
            });
        let exe = match &d.kind {
            doc::DocKind::Run { exe, .. } => exe.clone(),
            _ => doc::collect_dir(&built.target_dir).join("bin/x"),
        };
        env = cargo::binary_env(pkg, &lib, "lib", &exe, &built.output, &built.target_dir);
        if cwd.as_os_str().is_empty() {
            cwd = pkg
                .manifest_path
                .parent()
                .map_or_else(|| PathBuf::from("/"), std::path::Path::to_path_buf);
        }
    }
    env.extend(d.info.env.clone());
    if cwd.as_os_str().is_empty() {
        cwd = PathBuf::from("/");
    }
    (env, cwd)
}

/// libtest arguments that make rustdoc compile only the selected doctests.
fn doc_test_args(sel: &Selection) -> Vec<String> {
    let mut a: Vec<String> = sel.filters.clone();
    for s in &sel.skip {
        a.push("--skip".into());
        a.push(s.clone());
    }
    if sel.exact {
        a.push("--exact".into());
    }
    if sel.run_ignored != RunIgnored::Default {
        a.push("--include-ignored".into());
    }
    a
}

/// Starts the first executor's zygote (it proves the tier works here, lists the tests, and
/// then serves worker 0) and lists the tests of every binary on it. On failure, the exit code.
#[allow(clippy::type_complexity)]
fn start_and_list(
    settings: &SandboxSettings,
    limits: &Limits,
    binaries: &[TestBinary],
    env_of: &dyn Fn(&TestBinary) -> BTreeMap<String, String>,
) -> Result<
    (
        SandboxExecutor,
        hatchery_report::Enforcement,
        Vec<(usize, Listed)>,
    ),
    u8,
> {
    let mut probe = SandboxExecutor::new(Arc::new(settings.exec_settings()), None);
    let enforcement = match probe.enforcement(settings.tier, settings.network) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
            return Err(if e.is_missing_feature() {
                exit::HOST_UNSUPPORTED
            } else {
                exit::SANDBOX_ERROR
            });
        }
    };
    let mut listed: Vec<(usize, Listed)> = Vec::new();
    for (i, b) in binaries.iter().enumerate() {
        let env = env_of(b);
        let ll = list_limits(limits);
        let mut run = |args: &[&str]| {
            let mut argv: Vec<OsString> = vec![b.path.clone().into_os_string()];
            argv.extend(args.iter().map(OsString::from));
            let case = spec(&argv, &env, &b.cwd, &ll, settings);
            let r = run_command(&mut probe, &case, settings.tier);
            if r.outcome == Outcome::SandboxError {
                Err(format!(
                    "cannot list {}: {}",
                    b.binary_id,
                    r.error.unwrap_or(r.reason)
                ))
            } else {
                Ok(r)
            }
        };
        match list::list_binary(b, &mut run) {
            Ok(l) => listed.push((i, l)),
            Err(e) => {
                eprintln!("error: listing the tests of {} failed: {e}", b.binary_id);
                return Err(exit::LIST_FAILED);
            }
        }
    }
    Ok((probe, enforcement, listed))
}

/// The doctest pass: compiles every selected doctest, and returns the doctests plus one
/// whole-binary test binary per crate whose doctests rustdoc merged (edition 2024).
fn doctests(
    a: &TestArgs,
    sel: &Selection,
    built: &cargo::Built,
    workers: u32,
) -> Result<(Vec<doc::DocTest>, Vec<TestBinary>), String> {
    let crate_to_pkg: HashMap<String, String> = built
        .meta
        .packages
        .iter()
        .flat_map(|p| {
            p.targets
                .iter()
                .filter(|t| t.kind.iter().any(|k| is_lib(k)))
                .map(|t| (t.name.replace('-', "_"), p.name.clone()))
        })
        .collect();
    let pass = doc::DocPass {
        cargo: &a.cargo,
        dir: doc::collect_dir(&built.target_dir),
        test_args: doc_test_args(sel),
        threads: workers,
    };
    let ignored = if sel.run_ignored == RunIgnored::Default {
        HashMap::new()
    } else {
        doc::list_ignored(&pass, &crate_to_pkg)?
    };
    let (sections, bins) = doc::collect(&pass)?;
    let c = doc::assemble(&sections, &bins, &crate_to_pkg, &ignored);
    let mut merged = Vec::new();
    for (pkg, exe, info) in c.merged {
        let d = doc::DocTest {
            package: pkg.clone(),
            name: String::new(),
            ignored: false,
            kind: doc::DocKind::Run {
                exe: exe.clone(),
                should_panic: false,
            },
            info,
        };
        let (mut env, cwd) = doc_env(built, &d);
        // Each merged doctest in its own process, as under rustdoc.
        env.insert(
            "RUSTDOC_DOCTEST_BIN_PATH".into(),
            exe.to_string_lossy().into_owned(),
        );
        merged.push(TestBinary {
            binary_id: doc_binary_id(&built.meta, &pkg),
            path: exe,
            package: pkg,
            kind: "doc".into(),
            target_name: String::new(),
            cwd,
            env,
            harness: false,
        });
    }
    Ok((c.tests, merged))
}

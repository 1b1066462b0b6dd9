//! The command line of `hatchery judge` (and of the standalone `hatchery-judge`).

use std::io::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use hatchery_engine::ExecSettings;
use hatchery_report::exit;
use hatchery_sandbox::Tier;

use crate::exec::Runner;
use crate::judge::{Judge, JudgeError, Submission, SubmissionKind};
use crate::lang::LanguageTable;
use crate::report::{self, Events};
use crate::verdict::Verdict;
use crate::verify;
use hatchery_sandbox::workdir::WorkDir;

pub const EXIT_CODES: &str = "\
Exit codes:
  0  verdict AC (with --verify-submissions: every submission got its expected verdict)
  1  another verdict: WA, PE, TLE, MLE, OLE, RTE, SV or CE (--verify-submissions: a mismatch)
  2  bad command line
  5  JE: the judge failed (the output validator is broken or the sandbox failed)
  6  this host cannot provide the requested tier (the message names the missing feature)
  7  the problem package, the submission or the languages file cannot be used (the message
     names the file and the field)";

/// `hatchery judge` options.
#[derive(clap::Args, Debug, Clone)]
pub struct JudgeArgs {
    /// The problem package (Kattis/ICPC format: problem.yaml, data/, output_validators/ ...).
    pub problem: Option<PathBuf>,
    /// The submission: a source file, or a directory of source files of one language.
    pub source: Option<PathBuf>,
    /// Judge this executable instead of a source file.
    #[arg(long, value_name = "FILE", conflicts_with = "source")]
    pub binary: Option<PathBuf>,
    /// Judge this command line (split like a shell, no shell involved; run in the current
    /// directory).
    #[arg(long, value_name = "CMD", conflicts_with_all = ["source", "binary"])]
    pub command: Option<String>,
    /// Judge every submission under PROBLEM/submissions/ and check that each gets the verdict
    /// its directory names (accepted, wrong_answer, time_limit_exceeded, ...).
    #[arg(long, conflicts_with_all = ["source", "binary", "command"])]
    pub verify_submissions: bool,
    /// Run the package's input validators (input_validators/ or input_format_validators/)
    /// on every test input, and its output validator on the outputs of data/invalid_output
    /// (must be rejected) and data/valid_output (must be accepted); report each file
    /// (--verify-submissions does this first).
    #[arg(long, visible_alias = "validate-package", conflicts_with_all = ["source", "binary", "command"])]
    pub validate_input: bool,
    /// Derive the time limit from the accepted submissions as the problem package format
    /// does (slowest accepted run × time_multiplier / ac_to_time_limit, rounded up), even
    /// if the package gives one; done anyway when neither the package nor --time-limit
    /// gives a limit. With this flag, --time-limit is the cap on each accepted run while
    /// deriving (default 60s).
    #[arg(long)]
    pub derive_time_limit: bool,
    /// With --verify-submissions: only submissions whose path contains TEXT.
    #[arg(long, value_name = "TEXT", requires = "verify_submissions")]
    pub filter: Option<String>,
    /// Language of the source (c, cpp, rust, python3, or a name from --languages); default:
    /// from the file extension.
    #[arg(long, short = 'l')]
    pub language: Option<String>,
    /// A TOML or JSON file that adds or overrides languages (see the README). Without a
    /// FILE (`hatchery judge --languages`): list the languages available here, with the
    /// program each needs and its version, and exit.
    #[arg(long, value_name = "FILE", env = "HATCHERY_JUDGE_LANGUAGES", num_args = 0..=1, default_missing_value = "", value_parser = clap::builder::TypedValueParser::map(clap::builder::OsStringValueParser::new(), PathBuf::from))]
    pub languages: Option<PathBuf>,
    /// List the languages available here (as `--languages` without a FILE) and exit.
    #[arg(long)]
    pub list_languages: bool,
    /// CPU time limit per test case (e.g. 1, 1.5s, 500ms); overrides the package's.
    #[arg(long, value_parser = hatchery_engine::parse::duration)]
    pub time_limit: Option<Duration>,
    /// Write the JSON Lines event stream (hatchery's report format) here.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Test cases judged in parallel (default: the number of CPUs).
    #[arg(short = 'j', long = "jobs", value_name = "N")]
    pub jobs: Option<usize>,
    /// Run every test case even after one failed (scoring problems always do).
    #[arg(long)]
    pub all_cases: bool,
    /// Isolation tier of the submission's runs: none, hardened or lockdown.
    #[arg(long, default_value = "hardened")]
    pub tier: Tier,
    /// Isolation tier of compilers and validators (they write executables and feedback into
    /// the work directory, which lockdown's read-only root forbids). Default: hardened, or
    /// none with --tier none.
    #[arg(long, value_name = "TIER")]
    pub tool_tier: Option<Tier>,
    /// Where builds, outputs and feedback go (a fresh directory inside it, removed at the
    /// end). Must be outside /tmp and reachable by the sandboxed user. Default: the current
    /// directory.
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<PathBuf>,
    /// Keep the work directory.
    #[arg(long)]
    pub keep_workdir: bool,
    /// Size of a compiler's private /tmp, where compilers write their temporaries (a run's
    /// stays 64M). Charged to the compile step's memory while used.
    #[arg(long, value_name = "SIZE", default_value = "1G", value_parser = hatchery_engine::parse::size_bytes)]
    pub compile_scratch: u64,
}

/// Runs `hatchery judge`. `zygote_exe` is the executable with the zygote entry point
/// (`/proc/self/exe` for `hatchery`).
pub fn run(a: JudgeArgs, zygote_exe: PathBuf) -> u8 {
    let started = Instant::now();
    // A refusal: on stderr, and with --json also as a JSON object on stdout, so that a
    // program reading stdout always gets one object.
    let json = a.json;
    let fail = |code: u8, msg: String| {
        eprintln!("hatchery judge: {msg}");
        if json {
            print_json(&JsonError {
                error: &msg,
                exit_code: code,
                kind: match code {
                    exit::USAGE => "usage",
                    exit::HOST_UNSUPPORTED => "host_unsupported",
                    exit::SANDBOX_ERROR => "judge_error",
                    _ => "bad_input",
                },
            });
        }
        code
    };
    let list = a.list_languages
        || a.languages
            .as_ref()
            .is_some_and(|f| f.as_os_str().is_empty());
    if list {
        let mut langs = LanguageTable::builtin();
        if let Some(f) = a.languages.as_ref().filter(|f| !f.as_os_str().is_empty()) {
            if let Err(e) = langs.load_file(f) {
                return fail(exit::BAD_INPUT, e);
            }
        }
        return list_languages(&langs, a.json);
    }
    let Some(problem_dir) = a.problem.clone() else {
        return fail(
            exit::USAGE,
            "give a PROBLEM directory (or --languages to list the languages)".into(),
        );
    };
    if a.source.is_none()
        && a.binary.is_none()
        && a.command.is_none()
        && !a.verify_submissions
        && !a.validate_input
    {
        return fail(
            exit::USAGE,
            "give a SOURCE_FILE, --binary FILE, --command CMD, --verify-submissions or \
             --validate-input"
                .into(),
        );
    }
    if a.time_limit.is_some_and(|t| t.is_zero()) {
        return fail(
            exit::USAGE,
            "--time-limit must be greater than 0 (a case cannot run under a limit of 0)".into(),
        );
    }
    // Only the inputs are checked: no submission runs, so no time limit is needed.
    let inputs_only = a.validate_input && !a.verify_submissions;
    let mut langs = LanguageTable::builtin();
    if let Some(f) = &a.languages {
        if let Err(e) = langs.load_file(f) {
            return fail(exit::BAD_INPUT, e);
        }
    }
    let problem = match crate::problem::load(&problem_dir) {
        Ok(p) => p,
        Err(e) => return fail(exit::BAD_INPUT, crate::error_chain(&e)),
    };
    if !a.json {
        for n in &problem.notes {
            eprintln!("hatchery judge: note: {n}");
        }
    }
    // The time limit: --time-limit, the package's, or derived from the accepted
    // submissions (asked for, or when there is no other).
    let derive = !inputs_only
        && (a.derive_time_limit || (a.time_limit.is_none() && problem.limits.time_limit.is_none()));
    let derive_cap = match (a.derive_time_limit, a.time_limit) {
        (true, Some(t)) => t,
        _ => crate::timelimit::DEFAULT_CAP,
    };
    if derive && !problem.dir.join("submissions/accepted").is_dir() {
        return fail(
            exit::BAD_INPUT,
            format!(
                "{}: no time limit: none in problem.yaml (limits.time_limit), .timelimit or \
                 domjudge-problem.ini (timelimit), and no submissions/accepted/ to derive one \
                 from; give one with --time-limit",
                problem.dir.display()
            ),
        );
    }
    let (time_limit, tl_source) = match (derive, a.time_limit, problem.limits.time_limit) {
        (true, _, _) => (derive_cap, "derivation cap".to_owned()),
        (false, Some(t), _) => (t, "--time-limit".to_owned()),
        (false, None, Some(t)) => (t, problem.limits.time_limit_source.clone()),
        // Only --validate-input: the submission's limit is never used.
        (false, None, None) => (Duration::from_secs(1), "unused".to_owned()),
    };
    // The submission, checked before any sandbox starts.
    let submission = if a.verify_submissions || a.validate_input {
        None
    } else if let Some(src) = &a.source {
        match Submission::from_path(src, a.language.as_deref(), &langs) {
            Ok(s) => Some(s),
            Err(e) => return fail(exit::BAD_INPUT, e),
        }
    } else if let Some(b) = &a.binary {
        if !b.is_file() {
            return fail(exit::BAD_INPUT, format!("{}: not a file", b.display()));
        }
        Some(Submission {
            label: b.display().to_string(),
            kind: SubmissionKind::Binary(b.clone()),
            from_package: false,
        })
    } else {
        let cmd = a.command.clone().unwrap_or_default();
        let argv = match shlex::split(&cmd) {
            Some(v) if !v.is_empty() => v,
            _ => {
                return fail(
                    exit::USAGE,
                    format!("cannot split --command `{cmd}` into words"),
                )
            }
        };
        let cwd = match std::env::current_dir() {
            Ok(c) => c,
            Err(e) => return fail(exit::USAGE, format!("no current directory: {e}")),
        };
        // Submissions run in a view without the package: a command that needs a file of it
        // would fail in an obscure way; say so now.
        let inside = argv
            .iter()
            .filter_map(|w| std::fs::canonicalize(cwd.join(w)).ok())
            .find(|p| p.starts_with(&problem.dir));
        if let Some(p) = inside {
            return fail(
                exit::USAGE,
                format!(
                    "--command names {}, inside the problem package, which submissions cannot \
                     see: copy it elsewhere (the package's own submissions are judged with \
                     --verify-submissions)",
                    p.display()
                ),
            );
        }
        Some(Submission {
            label: cmd,
            kind: SubmissionKind::Command { argv, cwd },
            from_package: false,
        })
    };
    let planned = if a.verify_submissions {
        match verify::list(&problem, &langs, a.filter.as_deref()) {
            Ok(p) => Some(p),
            Err(e) => return fail(exit::BAD_INPUT, e),
        }
    } else {
        None
    };

    let base = a
        .workdir
        .clone()
        .unwrap_or_else(|| std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")));
    let work = match WorkDir::create(&base, a.keep_workdir) {
        Ok(w) => w,
        Err(e) => {
            return fail(
                exit::BAD_INPUT,
                format!("{e}; choose a work directory with --workdir"),
            )
        }
    };
    if a.keep_workdir && !a.json {
        eprintln!("hatchery judge: work directory {}", work.path().display());
    }
    let workers = a
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let tool_tier = a.tool_tier.unwrap_or(match a.tier {
        Tier::None => Tier::None,
        _ => Tier::Hardened,
    });
    let mut settings = ExecSettings::new(zygote_exe);
    // `--command` runs in our working directory.
    if let Ok(cwd) = std::env::current_dir() {
        settings.view.show(&cwd);
    }
    // And what its words name (a script below /tmp & co.), as for any case.
    if let Some(Submission {
        kind: SubmissionKind::Command { argv, cwd },
        ..
    }) = &submission
    {
        let mut spec = hatchery_sandbox::CaseSpec::new(argv.iter().map(Into::into).collect());
        spec.cwd = cwd.clone();
        settings.view.show_case(&spec);
    }
    crate::setup::prepare_settings(&mut settings, &problem, &work, &langs);
    let runner = match Runner::start(settings, workers, a.tier, tool_tier) {
        Ok(mut r) => {
            r.compile_scratch = a.compile_scratch;
            r
        }
        Err(e) => {
            return fail(
                if e.is_missing_feature() {
                    exit::HOST_UNSUPPORTED
                } else {
                    exit::SANDBOX_ERROR
                },
                crate::error_chain(&e),
            )
        }
    };
    let mut judge = match Judge::new(&problem, &runner, &work, &langs, time_limit, tl_source) {
        Ok(j) => j,
        Err(e @ (JudgeError::Validator { .. } | JudgeError::StaticValidator { .. })) => {
            return fail(exit::SANDBOX_ERROR, e.to_string())
        }
        Err(e) => return fail(exit::BAD_INPUT, e.to_string()),
    };
    judge.run_all_cases = a.all_cases;

    // Input validation: alone, or before verifying the submissions.
    let run_inputs = a.validate_input
        || (a.verify_submissions
            && (!problem.input_validators.is_empty()
                || !problem.skipped_input_validators.is_empty()
                || !problem.output_checks.is_empty()));
    let input_report = if run_inputs {
        if a.validate_input
            && problem.input_validators.is_empty()
            && problem.skipped_input_validators.is_empty()
            && problem.output_checks.is_empty()
        {
            return fail(
                exit::BAD_INPUT,
                format!(
                    "{}: no input validators (input_validators/ or input_format_validators/) \
                     and no data/invalid_output or data/valid_output",
                    problem.dir.display()
                ),
            );
        }
        match crate::inputs::validate_inputs(&judge) {
            Ok(r) => {
                if !a.json {
                    print!("{}", crate::inputs::human(&r));
                }
                Some(r)
            }
            Err(e) => return fail(exit::SANDBOX_ERROR, e.to_string()),
        }
    } else {
        None
    };
    if inputs_only {
        let r = input_report.expect("input validation ran");
        if a.json {
            print_json(&r);
        }
        return if r.errors > 0 {
            exit::SANDBOX_ERROR
        } else if r.all_ok {
            exit::OK
        } else {
            exit::FAILED
        };
    }

    if derive {
        let all = match verify::list(&problem, &langs, None) {
            Ok(p) => p.0,
            Err(e) => return fail(exit::BAD_INPUT, e),
        };
        let (mut acc, mut tle) = (Vec::new(), Vec::new());
        for p in all {
            match p.time_limit_bounds() {
                (true, _) => acc.push(p),
                (false, true) => tle.push(p),
                _ => {}
            }
        }
        match crate::timelimit::derive(&mut judge, derive_cap, &acc, &tle, |l| {
            if !json {
                eprintln!("hatchery judge: {l}");
            }
        }) {
            Ok(d) => {
                if !a.json {
                    eprintln!("hatchery judge: {}", d.summary());
                    if let Some(t) = problem.limits.time_limit {
                        eprintln!(
                            "hatchery judge: note: the package's time limit ({}, {}) is \
                             replaced by the derived one",
                            crate::fmt_us(t.as_micros() as u64),
                            problem.limits.time_limit_source
                        );
                    }
                }
            }
            Err(e) => return fail(exit::BAD_INPUT, e),
        }
    }
    let time_limit = judge.time_limit;

    let mut events = match &a.report {
        Some(p) => {
            let tl = time_limit.as_micros() as u64;
            let limits = hatchery_report::Limits {
                cpu_us: Some(tl),
                wall_us: Some(2 * tl + 1_000_000),
                memory_bytes: Some(problem.limits.memory_bytes),
                output_bytes: Some(problem.limits.output_bytes),
                ..Default::default()
            };
            // Units: each submission's compilation (when it compiles) and test cases.
            let subs: Vec<&Submission> = match &planned {
                Some(p) => p.0.iter().map(|p| &p.submission).collect(),
                None => submission.iter().collect(),
            };
            let n: usize = subs
                .iter()
                .map(|s| usize::from(Judge::compiles(s)) + problem.cases.len())
                .sum();
            let started = hatchery_report::RunStarted::now(
                a.tier.as_str(),
                runner.enforcement.clone(),
                limits,
                n as u64,
                workers as u32,
            );
            match Events::create(p, started) {
                Ok(l) => l,
                Err(e) => return fail(exit::USAGE, e),
            }
        }
        None => Events::quiet(),
    };

    let code = if let Some((planned, skipped)) = planned {
        let mut vr = verify::verify(&judge, &planned, skipped, &mut events, |v| {
            if !json {
                let score = match (v.score, v.max_score) {
                    (Some(s), Some(m)) => format!(" score {s}/{m}"),
                    _ => String::new(),
                };
                let detail = v
                    .judgement
                    .failed_case
                    .as_ref()
                    .map(|c| format!(" on {c}"))
                    .unwrap_or_default();
                println!(
                    "{} {:<48} {:<4} expected {:<10}{score}{detail} ({})",
                    if v.matched { "ok  " } else { "FAIL" },
                    v.path,
                    v.verdict.as_str(),
                    v.expected,
                    crate::fmt_us(v.judgement.duration_us)
                );
                for u in &v.unmet {
                    println!("       | unmet: {}", hatchery_report::escape_str(u));
                }
                if !v.matched {
                    let lines = if v.verdict == Verdict::JE { 30 } else { 5 };
                    for l in v.judgement.message.lines().take(lines) {
                        println!("       | {}", hatchery_report::escape_str(l));
                    }
                }
            }
        });
        if let Some(ir) = input_report {
            vr.all_matched &= ir.all_ok && ir.errors == 0;
            vr.input_validation = Some(ir);
        }
        if a.json {
            print_json(&vr);
        } else {
            for s in &vr.skipped {
                println!("skip {:<48} {}", s.path, s.reason);
            }
            println!(
                "{} of {} submissions got their expected verdicts{} ({})",
                vr.matched,
                vr.total,
                if vr.skipped.is_empty() {
                    String::new()
                } else {
                    format!(", {} skipped", vr.skipped.len())
                },
                crate::fmt_us(started.elapsed().as_micros() as u64)
            );
            if vr.total == 0 {
                eprintln!(
                    "hatchery judge: note: no submission was judged{}; nothing to compare \
                     (exit status 0 unless input validation failed)",
                    if vr.skipped.is_empty() {
                        String::new()
                    } else {
                        format!(" ({} skipped)", vr.skipped.len())
                    }
                );
            }
            if let Some(ir) = &vr.input_validation {
                if !(ir.all_ok && ir.errors == 0) {
                    println!(
                        "input validation failed: {} input file{} not as expected",
                        ir.failed,
                        if ir.failed == 1 { "" } else { "s" }
                    );
                }
            }
        }
        if vr.all_matched {
            exit::OK
        } else {
            exit::FAILED
        }
    } else {
        let sub = submission.expect("checked above");
        let r = judge.judge(&sub, &mut events);
        if a.json {
            print_json(&r);
        } else {
            print!("{}", report::human(&r));
        }
        match r.verdict {
            Verdict::AC => exit::OK,
            Verdict::JE => exit::SANDBOX_ERROR,
            _ => exit::FAILED,
        }
    };
    if let Err(e) = events.finish() {
        eprintln!("hatchery judge: {e}");
    }
    code
}

/// `--languages`: each language, its extensions and the program it needs, with the path and
/// version found here.
fn list_languages(langs: &LanguageTable, json: bool) -> u8 {
    let rows = langs.describe();
    if json {
        print_json(&rows);
        return exit::OK;
    }
    for l in rows {
        let ext: Vec<String> = l.extensions.iter().map(|e| format!(".{e}")).collect();
        let where_ = match (&l.path, &l.version) {
            (Some(path), Some(version)) => format!("{path} · {version}"),
            _ => format!("`{}` not found: submissions in it get JE", l.program),
        };
        println!("{:<12} {:<24} {where_}", l.name, ext.join(" "));
    }
    exit::OK
}

/// What `--json` prints when the judge refuses (a package, a submission, a command line) or
/// fails before judging.
#[derive(serde::Serialize)]
struct JsonError<'a> {
    error: &'a str,
    /// `usage`, `bad_input`, `host_unsupported` or `judge_error`.
    kind: &'static str,
    exit_code: u8,
}

fn print_json<T: serde::Serialize>(v: &T) {
    let mut out = std::io::stdout().lock();
    let _ = serde_json::to_writer(&mut out, v);
    let _ = writeln!(out);
}

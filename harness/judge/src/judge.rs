//! Judging: build the submission and the validator (sandboxed), run every test case
//! (sandboxed, in parallel), check the output, and turn it all into verdicts and scores.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use hatchery_engine::{Attempt, Expect, PairSide, Unit};
use hatchery_report::{CaseResult, Limits, Outcome, RawFacts};
use hatchery_sandbox::{CaseSpec, Stdin, Tier};
use serde::Serialize;

use crate::checker::{self, Check, TokenOptions};
use crate::exec::{self, BreakOnReject, Exec, Runner};
use crate::lang::{self, Language, LanguageTable};
use crate::problem::{CaseMax, FormatVersion, Problem, ValidatorProtocol};
use crate::report::Events;
use crate::scoring::{CaseScore, Scorer};
use crate::verdict::{run_verdict, Verdict};
use crate::workdir::{self, Resolver};
use hatchery_sandbox::fsat::{self, CaseDir, CopyLimits};
use hatchery_sandbox::workdir::WorkDir;

const MIB: u64 = 1 << 20;
/// Compiler and validator messages kept in a verdict's message.
const MESSAGE_CAP: usize = 4096;
/// Processes and threads a submission may have at once.
const RUN_PIDS: u64 = 64;
/// Processes a compiler may have at once.
const COMPILE_PIDS: u64 = 64;
/// A build's output taken from the compiler's directory: at most this many bytes (the
/// compiler's file size limit), entries and levels of directories.
const BUILD_FILE_BYTES: u64 = 1 << 30;
const BUILD_ENTRIES: u64 = 10_000;
const BUILD_DEPTH: u32 = 16;
/// Without a cgroup: a failed run within this much of the memory limit is MLE.
const RLIMIT_MLE_SLACK: u64 = 16 * MIB;

/// A fatal problem with the judging setup (nothing was judged).
#[derive(Debug, thiserror::Error)]
pub enum JudgeError {
    #[error("{0}")]
    Setup(String),
    #[error("the output validator {path} could not be built: {message}")]
    Validator { path: PathBuf, message: String },
    #[error("the input validator {path} could not be built: {message}")]
    InputValidator { path: PathBuf, message: String },
    #[error("the static validator {path} could not be built: {message}")]
    StaticValidator { path: PathBuf, message: String },
}

/// What to judge.
#[derive(Debug, Clone)]
pub enum SubmissionKind {
    /// Source files of one language (one file, or a directory's files); `main` is the entry.
    Source {
        files: Vec<PathBuf>,
        main: PathBuf,
        language: Language,
    },
    /// A ready executable (copied into the work directory first).
    Binary(PathBuf),
    /// A command line, run in `cwd`.
    Command { argv: Vec<String>, cwd: PathBuf },
}

#[derive(Debug, Clone)]
pub struct Submission {
    /// How it is shown (its path, or the command).
    pub label: String,
    pub kind: SubmissionKind,
    /// One of the package's own submissions (`submissions/`): the package's constants are
    /// substituted in it (2025-09).
    pub from_package: bool,
}

impl Submission {
    /// A source file or a directory of sources; the language comes from `language` (a name,
    /// alias or extension) or from the file extensions.
    pub fn from_path(
        path: &Path,
        language: Option<&str>,
        langs: &LanguageTable,
    ) -> Result<Submission, String> {
        let label = path.display().to_string();
        let forced = match language {
            Some(l) => Some(
                langs
                    .get(l)
                    .ok_or_else(|| format!("unknown language `{l}`"))?
                    .clone(),
            ),
            None => None,
        };
        let md = fs::metadata(path).map_err(|e| format!("{label}: {e}"))?;
        if md.is_file() {
            let language = match forced {
                Some(l) => l,
                None => langs.for_path(path).cloned().ok_or_else(|| {
                    format!("{label}: unknown language (no known extension; use --language)")
                })?,
            };
            let p = std::path::absolute(path).map_err(|e| format!("{label}: {e}"))?;
            return Ok(Submission {
                label,
                kind: SubmissionKind::Source {
                    files: vec![p.clone()],
                    main: p,
                    language,
                },
                from_package: false,
            });
        }
        // A directory with `build` and/or `run` scripts is built and started by them
        // (as BAPCtools and problemtools do; the format describes them for validators).
        let (files, main, language) = if has_scripts(path) {
            script_program(path)?
        } else {
            sources_in_dir(path, forced, langs)?
        };
        Ok(Submission {
            label,
            kind: SubmissionKind::Source {
                files,
                main,
                language,
            },
            from_package: false,
        })
    }
}

/// The files of a multi-file program and its entry point.
fn sources_in_dir(
    dir: &Path,
    forced: Option<Language>,
    langs: &LanguageTable,
) -> Result<(Vec<PathBuf>, PathBuf, Language), String> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    let files: Vec<PathBuf> = files
        .into_iter()
        .map(|f| std::path::absolute(f).unwrap_or_default())
        .collect();
    let language = match forced {
        Some(l) => l,
        None => {
            // The first language (in table order) that has a file here.
            langs
                .languages()
                .iter()
                .find(|l| {
                    files.iter().any(|f| {
                        f.extension()
                            .and_then(|e| e.to_str())
                            .is_some_and(|e| l.extensions.iter().any(|x| x == e))
                    })
                })
                .cloned()
                .ok_or_else(|| format!("{}: no source file of a known language", dir.display()))?
        }
    };
    let srcs: Vec<&PathBuf> = files
        .iter()
        .filter(|f| {
            f.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| language.extensions.iter().any(|x| x == e))
        })
        .collect();
    let main = if srcs.len() == 1 {
        srcs[0].clone()
    } else {
        let stems = [
            "main",
            "validate",
            "validator",
            "output_validator",
            "checker",
            "check",
            "__main__",
        ];
        srcs.iter()
            .find(|f| {
                f.file_stem()
                    .and_then(|s| s.to_str())
                    .is_some_and(|s| stems.contains(&s))
            })
            .map(|f| (*f).clone())
            .or_else(|| srcs.first().map(|f| (*f).clone()))
            .ok_or_else(|| format!("{}: no {} source file", dir.display(), language.name))?
    };
    Ok((files, main, language))
}

/// Whether the program directory `path` has a `build` or a `run` script.
fn has_scripts(path: &Path) -> bool {
    path.is_dir() && (path.join("build").is_file() || path.join("run").is_file())
}

/// The name of the pseudo-language of programs with `build`/`run` scripts.
pub const SCRIPT_PROGRAM: &str = "build/run scripts";

/// A program directory with `build` and/or `run` scripts: all its files, `run` as the
/// entry, a language that runs `build` (when there is one) and then `run`.
fn script_program(dir: &Path) -> Result<(Vec<PathBuf>, PathBuf, Language), String> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .filter_map(|p| std::path::absolute(p).ok())
        .collect();
    files.sort();
    if let Some(d) = fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .flatten()
        .find(|e| e.path().is_dir())
    {
        return Err(format!(
            "{}: subdirectories of a program with build/run scripts are not supported",
            d.path().display()
        ));
    }
    let has_build = dir.join("build").is_file();
    let main = if has_build {
        dir.join("build")
    } else {
        dir.join("run")
    };
    let main = std::path::absolute(main).map_err(|e| e.to_string())?;
    Ok((
        files,
        main,
        Language {
            name: SCRIPT_PROGRAM.into(),
            extensions: Vec::new(),
            compile: has_build.then(|| vec!["{dir}/build".to_owned()]),
            run: vec!["{dir}/run".to_owned()],
            env: Vec::new(),
        },
    ))
}

/// A program ready to run: argv (argv\[0\] resolved) and working directory.
#[derive(Debug, Clone)]
pub struct Runnable {
    pub argv: Vec<OsString>,
    pub cwd: PathBuf,
    pub env: Vec<(OsString, OsString)>,
    pub language: Option<String>,
    /// A program built from sources: the directory of its files (submitted, compiled,
    /// included) and its entry point's file name, for a static validator.
    pub files: Option<(PathBuf, OsString)>,
}

/// How building went.
#[derive(Debug, Clone, Serialize)]
pub struct CompileReport {
    /// `AC` when the build succeeded, `CE` or `JE` otherwise.
    pub verdict: Verdict,
    pub message: String,
    pub cpu_us: u64,
    pub wall_us: u64,
    pub peak_memory_bytes: u64,
    #[serde(skip)]
    pub result: Option<CaseResult>,
}

/// The result of a build: a runnable program, or the verdict that ends judging.
pub struct Built {
    pub runnable: Option<Runnable>,
    pub compile: Option<CompileReport>,
}

/// One judged test case.
#[derive(Debug, Clone, Serialize)]
pub struct CaseReport {
    pub name: String,
    pub verdict: Verdict,
    pub cpu_us: u64,
    pub wall_us: u64,
    pub peak_memory_bytes: u64,
    pub message: String,
    /// The case's score (scoring problems).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    pub exit_code: Option<i32>,
    pub signal: Option<String>,
    /// Multi-pass problems: how many times the submission ran (CPU and wall time are the
    /// sums over the passes, peak memory the largest).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passes: Option<u32>,
    /// CPU time of the slowest single run (the time limit applies to each pass).
    #[serde(skip)]
    pub slowest_run_cpu_us: u64,
    /// The submission's run as the engine saw it (the last pass).
    #[serde(skip)]
    pub run: CaseResult,
    /// The validator's run (custom validators).
    #[serde(skip)]
    pub checker: Option<CaseResult>,
    /// Validator score (`score.txt`, testlib points) before scaling.
    #[serde(skip)]
    pub raw_score: Option<f64>,
}

impl CaseReport {
    /// A case not run (yet): a judge error until something better is known.
    fn not_run(name: &str, tier: Tier) -> CaseReport {
        CaseReport {
            name: name.to_owned(),
            verdict: Verdict::JE,
            cpu_us: 0,
            wall_us: 0,
            peak_memory_bytes: 0,
            message: String::new(),
            score: None,
            exit_code: None,
            signal: None,
            passes: None,
            slowest_run_cpu_us: 0,
            run: no_run("not run".into(), &Limits::default(), tier),
            checker: None,
            raw_score: None,
        }
    }
}

/// The judgement of one submission.
#[derive(Debug, Clone, Serialize)]
pub struct JudgeReport {
    pub problem: String,
    pub submission: String,
    pub language: Option<String>,
    pub verdict: Verdict,
    /// Scoring problems: the score and the maximum; null otherwise.
    pub score: Option<f64>,
    pub max_score: Option<f64>,
    /// The first failing case, in judging order.
    pub failed_case: Option<String>,
    /// Why the verdict: the failing case's message, the compiler's output, ...
    pub message: String,
    pub time_limit_us: u64,
    pub time_limit_source: String,
    /// How the time limit was derived from the accepted submissions, when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_limit_derivation: Option<crate::timelimit::Derivation>,
    pub compile: Option<CompileReport>,
    /// Cases run although `on_reject: break` would have skipped them (only with
    /// `--all-cases`): shown, but neither decide the verdict nor score.
    pub cases: Vec<CaseReport>,
    /// 2025-09 scoring problems: the score of `secret` and of each of its groups.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub group_scores: Vec<GroupScoreReport>,
    /// Cases not run because an earlier case failed.
    pub skipped: usize,
    pub duration_us: u64,
}

/// The score of a test data group.
#[derive(Debug, Clone, Serialize)]
pub struct GroupScoreReport {
    pub name: String,
    pub score: f64,
}

/// A validator ready to run.
struct BuiltValidator {
    runnable: Runnable,
    protocol: ValidatorProtocol,
}

/// Judges submissions against one problem.
pub struct Judge<'a> {
    pub problem: &'a Problem,
    pub runner: &'a Runner,
    pub work: &'a WorkDir,
    pub langs: &'a LanguageTable,
    pub time_limit: Duration,
    pub time_limit_source: String,
    /// Set when the time limit was derived from the accepted submissions.
    pub derivation: Option<crate::timelimit::Derivation>,
    /// Run every case even after a failure (`on_reject: break` skips the rest of a group).
    pub run_all_cases: bool,
    /// Called with each test case's report as soon as it is judged, in finishing order
    /// (`hatchery serve`'s `/judge` streams them). A case attempted again after an executor
    /// failure is reported again.
    pub on_case: Option<&'a (dyn Fn(&CaseReport) + Sync)>,
    /// Memory is limited by RLIMIT_AS only (no cgroup on this host).
    rlimit_memory: bool,
    resolver: Resolver,
    validator: Option<BuiltValidator>,
    /// The static validator (2025-09), when a static validation test case needs it.
    static_validator: Option<Runnable>,
    /// Copies of test files the case uid cannot read in place.
    data_dir: PathBuf,
    run_dir: PathBuf,
}

impl<'a> Judge<'a> {
    /// What a submission (and its compiler) must not see: the problem package (answers, other
    /// inputs, validators) and the private part of the judge's work tree (copies of test data,
    /// validator feedback). Hidden from the executor's private view, which submission and
    /// compile cases use (`CaseSpec::private_view`); validators see everything.
    pub fn private_paths(problem: &Problem, work: &WorkDir) -> Vec<PathBuf> {
        vec![problem.dir.clone(), work.private_path().to_path_buf()]
    }

    /// Prepares judging: checks the work directory, builds the output validator.
    pub fn new(
        problem: &'a Problem,
        runner: &'a Runner,
        work: &'a WorkDir,
        langs: &'a LanguageTable,
        time_limit: Duration,
        time_limit_source: String,
    ) -> Result<Judge<'a>, JudgeError> {
        let setup = |e: std::io::Error| JudgeError::Setup(format!("work directory: {e}"));
        let data_dir = work
            .private_dir("data")
            .map(|d| d.path().to_path_buf())
            .map_err(setup)?;
        let run_dir = work.new_dir("run").map_err(setup)?;
        let mut j = Judge {
            problem,
            runner,
            work,
            langs,
            time_limit,
            time_limit_source,
            derivation: None,
            run_all_cases: false,
            on_case: None,
            rlimit_memory: runner
                .enforcement
                .get("cgroup_memory")
                .is_none_or(|l| l.level != hatchery_report::Level::Full),
            resolver: Resolver::default(),
            validator: None,
            static_validator: None,
            data_dir,
            run_dir,
        };
        if let Some(v) = &problem.validator {
            let built = j
                .build_programs(std::slice::from_ref(&v.path))
                .pop()
                .unwrap_or_else(|| Err("the build did not run".into()));
            match built {
                Ok(r) => {
                    j.validator = Some(BuiltValidator {
                        runnable: r,
                        protocol: v.protocol,
                    })
                }
                Err(message) => {
                    return Err(JudgeError::Validator {
                        path: v.path.clone(),
                        message,
                    })
                }
            }
        }
        if let Some(v) = &problem.static_validator {
            let built = j
                .build_programs(std::slice::from_ref(&v.path))
                .pop()
                .unwrap_or_else(|| Err("the build did not run".into()));
            match built {
                Ok(r) => j.static_validator = Some(r),
                Err(message) => {
                    return Err(JudgeError::StaticValidator {
                        path: v.path.clone(),
                        message,
                    })
                }
            }
        }
        Ok(j)
    }

    /// Builds programs of the package (validators) in parallel, as units on the pool (no
    /// events: the judge's report is about submissions).
    pub fn build_programs(&self, paths: &[PathBuf]) -> Vec<Result<Runnable, String>> {
        let tier = self.runner.tool_tier;
        let units: Vec<Unit> = paths
            .iter()
            .map(|p| {
                let spec = CaseSpec::new(vec![p.clone().into_os_string()]);
                let mut u = Unit::new(format!("build {}", p.display()), spec, tier);
                u.expect = Expect::Verdict(Verdict::AC);
                u
            })
            .collect();
        let built = exec::dispatch(
            &self.runner.pool,
            &units,
            None,
            &mut Events::quiet(),
            |x, i| {
                let b = self.build_program(x, &paths[i]);
                let a = build_attempt(&b, tier);
                (b, a)
            },
        );
        built
            .into_iter()
            .map(|b| match b {
                Some(Built {
                    runnable: Some(r), ..
                }) => Ok(r),
                Some(Built { compile, .. }) => Err(compile.map_or("no result".into(), |c| {
                    format!("{}: {}", c.verdict.describe(), c.message)
                })),
                None => Err("the build did not run".into()),
            })
            .collect()
    }

    /// Builds a program of the package (a validator: one source file, or a directory of
    /// them) with the compilation limits; it will run with the validation limits.
    fn build_program(&self, x: &mut Exec<'_>, path: &Path) -> Built {
        let found = if has_scripts(path) {
            // `build` and/or `run` scripts (the format's "other programs"): `build` runs in
            // a copy of the directory, then `run` (there, or made by `build`) is the program.
            script_program(path)
        } else if path.is_dir() {
            sources_in_dir(path, None, self.langs)
        } else {
            self.langs
                .for_path(path)
                .cloned()
                .ok_or_else(|| format!("{}: unknown language (no known extension)", path.display()))
                .map(|l| (vec![path.to_path_buf()], path.to_path_buf(), l))
        };
        let (files, main, language) = match found {
            Ok(f) => f,
            Err(e) => return judge_error_build(Err(e)),
        };
        let limits = BuildLimits {
            time: self.problem.limits.compilation_time,
            memory_bytes: self.problem.limits.compilation_memory_bytes,
            run_memory_mib: self.problem.limits.validation_memory_bytes / MIB,
        };
        // Constants are substituted in validators (2025-09).
        match self.prepare_sources(&files, &main, &language, true, false) {
            Ok((srcs, main_name)) => {
                self.build_source(x, &srcs, &main_name, &language, &limits, false)
            }
            Err(e) => judge_error_build(Err(e)),
        }
    }

    /// Builds a submission (compiles it, sandboxed) on a worker.
    pub fn build(&self, x: &mut Exec<'_>, sub: &Submission) -> Built {
        let limits = BuildLimits {
            time: self.problem.limits.compilation_time,
            memory_bytes: self.problem.limits.compilation_memory_bytes,
            run_memory_mib: self.problem.limits.memory_bytes / MIB,
        };
        match &sub.kind {
            SubmissionKind::Source {
                files,
                main,
                language,
            } => {
                if let Some(allowed) = &self.problem.languages {
                    if !allowed.iter().any(|l| l == &language.name) {
                        return compile_error(format!(
                            "the language {} is not allowed for this problem (problem.yaml \
                             languages: {})",
                            language.name,
                            allowed.join(", ")
                        ));
                    }
                }
                if let Some(max) = self.problem.code_limit_bytes {
                    let size: u64 = files
                        .iter()
                        .map(|f| fs::metadata(f).map_or(0, |m| m.len()))
                        .sum();
                    if size > max {
                        return compile_error(format!(
                            "the submission is {size} bytes, more than the code limit of {} \
                             KiB (problem.yaml limits.code)",
                            max / 1024
                        ));
                    }
                }
                match self.prepare_sources(files, main, language, sub.from_package, true) {
                    Ok((srcs, main_name)) => {
                        self.build_source(x, &srcs, &main_name, language, &limits, true)
                    }
                    Err(e) => judge_error_build(Err(e)),
                }
            }
            SubmissionKind::Binary(p) => {
                let r = (|| -> Result<Runnable, String> {
                    let dir = self.work.new_dir("bin").map_err(|e| e.to_string())?;
                    let name = p.file_name().ok_or("the binary has no file name")?;
                    let dst = dir.join(name);
                    fs::copy(p, &dst).map_err(|e| format!("cannot copy {}: {e}", p.display()))?;
                    fs::set_permissions(&dst, fs::Permissions::from_mode(0o755))
                        .map_err(|e| e.to_string())?;
                    Ok(Runnable {
                        argv: vec![dst.into_os_string()],
                        cwd: self.run_dir.clone(),
                        env: Vec::new(),
                        language: None,
                        files: None,
                    })
                })();
                judge_error_build(r)
            }
            SubmissionKind::Command { argv, cwd } => {
                let r = (|| -> Result<Runnable, String> {
                    let first = argv.first().ok_or("empty command")?;
                    let prog = if first.contains('/') {
                        cwd.join(first)
                    } else {
                        self.resolver.resolve(first, self.work)?
                    };
                    self.work.check_reachable(cwd).map_err(|e| {
                        format!("the command's working directory cannot be used: {e}")
                    })?;
                    let mut v: Vec<OsString> = vec![prog.into_os_string()];
                    v.extend(argv[1..].iter().map(OsString::from));
                    Ok(Runnable {
                        argv: v,
                        cwd: cwd.clone(),
                        env: Vec::new(),
                        language: None,
                        files: None,
                    })
                })();
                judge_error_build(r)
            }
        }
    }

    /// The files a build starts from: the program's files (with the package's constants
    /// substituted when `substitute`), and for a submission of a 2025-09 package the
    /// included files of its language (`include/<language>/`, else `include/default/`),
    /// which replace submitted files of the same name. Returns them and the entry point's
    /// name: `main`'s, or an included file named as the language's default entry point
    /// (`__main__.py`, `Main.java`, `main.js`, ...).
    fn prepare_sources(
        &self,
        files: &[PathBuf],
        main: &Path,
        language: &Language,
        substitute: bool,
        include: bool,
    ) -> Result<(Vec<SourceFile>, OsString), String> {
        let constants = &self.problem.constants;
        let read = |f: &Path| -> Result<SourceFile, String> {
            let name = f.file_name().ok_or("a source has no file name")?.to_owned();
            let data = fs::read(f).map_err(|e| format!("cannot read {}: {e}", f.display()))?;
            let md = fs::metadata(f).map_err(|e| format!("{}: {e}", f.display()))?;
            Ok(SourceFile {
                name,
                data: if substitute {
                    constants.substitute_bytes(data)
                } else {
                    data
                },
                mode: if md.permissions().mode() & 0o111 != 0 {
                    0o755
                } else {
                    0o644
                },
            })
        };
        let mut srcs = files
            .iter()
            .map(|f| read(f))
            .collect::<Result<Vec<_>, _>>()?;
        let mut main_name = main
            .file_name()
            .ok_or("the main source has no file name")?
            .to_owned();
        let inc = self
            .problem
            .include_dir
            .as_ref()
            .filter(|_| include)
            .and_then(|d| {
                [d.join(&language.name), d.join("default")]
                    .into_iter()
                    .find(|p| p.is_dir())
            });
        if let Some(inc) = inc {
            let mut entries: Vec<PathBuf> = fs::read_dir(&inc)
                .map_err(|e| format!("{}: {e}", inc.display()))?
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.is_file()
                        && !p
                            .file_name()
                            .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                })
                .collect();
            entries.sort();
            for f in entries {
                // Constants are substituted in included files.
                let mut sf = read(&f)?;
                sf.data = constants.substitute_bytes(sf.data);
                let p = Path::new(&sf.name);
                let is_entry = p
                    .file_stem()
                    .is_some_and(|s| s == "__main__" || s == "main" || s == "Main")
                    && p.extension()
                        .and_then(|e| e.to_str())
                        .is_some_and(|e| language.extensions.iter().any(|x| x == e));
                if is_entry {
                    main_name = sf.name.clone();
                }
                srcs.retain(|s| s.name != sf.name);
                srcs.push(sf);
            }
        }
        Ok((srcs, main_name))
    }

    fn build_source(
        &self,
        x: &mut Exec<'_>,
        srcs: &[SourceFile],
        main_name: &OsStr,
        language: &Language,
        limits: &BuildLimits,
        private: bool,
    ) -> Built {
        // The sources go into a directory made for this build: ours and closed while we
        // write them, then (to compile) lent to the case uid by descriptor.
        let main_name = main_name.to_owned();
        let setup = (|| -> Result<(CaseDir, Vec<OsString>), String> {
            let dir = self.work.case_dir("build").map_err(|e| e.to_string())?;
            let mut names = Vec::new();
            for f in srcs {
                dir.write_file(&f.name, &f.data, f.mode)
                    .map_err(|e| format!("cannot copy {}: {e}", Path::new(&f.name).display()))?;
                names.push(f.name.clone());
            }
            if !names.contains(&main_name) {
                return Err("the main source is not among the files".into());
            }
            Ok((dir, names))
        })();
        let (dir, names) = match setup {
            Ok(x) => x,
            Err(e) => return judge_error_build(Err(e)),
        };
        let is_source = |n: &OsString| {
            Path::new(n)
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| language.extensions.iter().any(|x| x == e))
        };
        // The paths of a build in `d`: main source, sources, binary.
        let paths_in = |d: &Path| -> (PathBuf, Vec<PathBuf>, PathBuf) {
            (
                d.join(&main_name),
                names
                    .iter()
                    .filter(|n| is_source(n))
                    .map(|n| d.join(n))
                    .collect(),
                d.join("prog"),
            )
        };
        let (main, sources, binary) = paths_in(dir.path());
        let vars = lang::Vars {
            source: &main,
            sources: &sources,
            binary: &binary,
            dir: dir.path(),
            memory_mib: limits.run_memory_mib,
        };
        let env: Vec<(OsString, OsString)> = language
            .env
            .iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        let resolve = |argv: Vec<OsString>| -> Result<Vec<OsString>, String> {
            let mut argv = argv;
            let first = argv
                .first()
                .ok_or("empty command")?
                .to_string_lossy()
                .into_owned();
            if !first.contains('/') {
                argv[0] = self.resolver.resolve(&first, self.work)?.into_os_string();
            }
            Ok(argv)
        };
        let Some(tpl) = &language.compile else {
            // Nothing to compile: the case only reads the sources, in a directory of ours.
            let run_argv = resolve(lang::expand(&language.run, &vars));
            let r = dir
                .lend(None, 0o755)
                .map_err(|e| format!("chmod {}: {e}", dir.path().display()))
                .and(run_argv)
                .map(|argv| Runnable {
                    argv,
                    cwd: dir.path().to_path_buf(),
                    env,
                    language: Some(language.name.clone()),
                    files: Some((dir.path().to_path_buf(), main_name.clone())),
                });
            return judge_error_build(r);
        };
        let argv = match resolve(lang::expand(tpl, &vars)) {
            Ok(a) => a,
            Err(e) => return judge_error_build(Err(e)),
        };
        {
            if let Err(e) = self.work.lend(&dir) {
                let _ = self.work.remove(&dir);
                return judge_error_build(Err(format!("chown {}: {e}", dir.path().display())));
            }
            let time_us = limits.time.as_micros() as u64;
            let mut spec = workdir::spec(
                argv,
                dir.path(),
                Limits {
                    // Compilers may use several threads (rustc): CPU may exceed wall time.
                    cpu_us: Some(time_us * 2),
                    wall_us: Some(time_us),
                    memory_bytes: Some(limits.memory_bytes),
                    output_bytes: Some(MIB),
                    file_size_bytes: Some(BUILD_FILE_BYTES),
                    stack_bytes: None,
                    pids: Some(COMPILE_PIDS),
                    open_files: None,
                },
            );
            spec.env = env.clone();
            // A submission's compiler sees no more of the package than the submission does
            // (`#include` of an answer file is an attack).
            spec.private_view = private;
            spec.scratch_bytes = Some(self.runner.compile_scratch);
            let r = x.run(&spec, self.runner.tool_tier);
            // What the compiler wrote is copied out through descriptors into a directory of
            // ours (regular files and directories the case uid owns, never through a link),
            // the sources again from their originals; the build directory is then removed.
            // Nothing is re-owned and no path inside the case's tree is followed.
            let out = self.take_build(&dir, srcs);
            let _ = self.work.remove(&dir);
            let out = match out {
                Ok(o) => Some(o),
                Err(e) if r.outcome == Outcome::Ok => {
                    return judge_error_build(Err(format!("cannot take the build's output: {e}")))
                }
                // The compiler failed anyway: its verdict below says why.
                Err(_) => None,
            };
            let script = language.name == SCRIPT_PROGRAM;
            let produced = out.as_ref().is_some_and(|o| {
                if script {
                    // The build must leave an executable `run`.
                    return fs::metadata(o.path().join("run"))
                        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
                }
                !tpl.iter().any(|a| a.contains("{binary}")) || paths_in(o.path()).2.is_file()
            });
            let (verdict, message) = match r.outcome {
                Outcome::SandboxError => (
                    Verdict::JE,
                    format!(
                        "the compiler could not run: {}",
                        r.error.clone().unwrap_or_default()
                    ),
                ),
                Outcome::Ok if produced => (Verdict::AC, compiler_message(&r, dir.path())),
                Outcome::Ok if script => (
                    Verdict::CE,
                    format!(
                        "the build script left no executable `run`\n{}",
                        compiler_message(&r, dir.path())
                    ),
                ),
                Outcome::Ok => (
                    Verdict::CE,
                    format!(
                        "the compiler produced no executable\n{}",
                        compiler_message(&r, dir.path())
                    ),
                ),
                Outcome::TimeLimit => (
                    Verdict::CE,
                    format!(
                        "compilation took longer than {} and was stopped",
                        humantime::format_duration(limits.time)
                    ),
                ),
                Outcome::MemoryLimit => (
                    Verdict::CE,
                    format!(
                        "compilation used more than {} MiB of memory and was stopped",
                        limits.memory_bytes / MIB
                    ),
                ),
                Outcome::OutputLimit => (
                    Verdict::CE,
                    format!(
                        "the compiler wrote more than 1 MiB of messages\n{}",
                        compiler_message(&r, dir.path())
                    ),
                ),
                _ => (Verdict::CE, compiler_message(&r, dir.path())),
            };
            let compile = CompileReport {
                verdict,
                message,
                cpu_us: r.usage.cpu_us,
                wall_us: r.usage.wall_us,
                peak_memory_bytes: r.usage.peak_memory_bytes,
                result: Some(r),
            };
            let run_argv = match out.as_ref().filter(|_| compile.verdict == Verdict::AC) {
                Some(o) => {
                    let (run_main, run_sources, run_binary) = paths_in(o.path());
                    let run_vars = lang::Vars {
                        source: &run_main,
                        sources: &run_sources,
                        binary: &run_binary,
                        dir: o.path(),
                        memory_mib: limits.run_memory_mib,
                    };
                    resolve(lang::expand(&language.run, &run_vars))
                }
                None => Err(String::new()),
            };
            match run_argv {
                Ok(argv) => Built {
                    runnable: Some(Runnable {
                        argv,
                        // A `run` script runs in its (built) directory.
                        // A submission of a package with included files runs among its
                        // files (2025-09: the working directory holds the submitted,
                        // compiled and included files).
                        cwd: match (
                            &out,
                            script || (private && self.problem.include_dir.is_some()),
                        ) {
                            (Some(o), true) => o.path().to_path_buf(),
                            _ => self.run_dir.clone(),
                        },
                        env,
                        language: Some(language.name.clone()),
                        files: out
                            .as_ref()
                            .map(|o| (o.path().to_path_buf(), main_name.clone())),
                    }),
                    compile: Some(compile),
                },
                Err(e) => {
                    if let Some(o) = &out {
                        let _ = self.work.remove(o);
                    }
                    if compile.verdict == Verdict::AC {
                        // The build worked but its run command cannot be resolved.
                        return judge_error_build(Err(e));
                    }
                    Built {
                        runnable: None,
                        compile: Some(compile),
                    }
                }
            }
        }
    }

    /// Copies a finished build out of the directory the compiler wrote (see `build_source`)
    /// into a new directory of ours: the compiler's products (files the case uid owns), then
    /// the sources from their originals.
    fn take_build(&self, build: &CaseDir, srcs: &[SourceFile]) -> Result<CaseDir, String> {
        let out = self.work.dir("prog").map_err(|e| e.to_string())?;
        let lim = CopyLimits {
            max_bytes: BUILD_FILE_BYTES,
            max_entries: BUILD_ENTRIES,
            max_depth: BUILD_DEPTH,
            owner: self.work.case_uid(),
        };
        fsat::copy_tree(build.fd(), out.fd(), &lim).map_err(|e| e.to_string())?;
        for f in srcs {
            match out.write_file(&f.name, &f.data, f.mode) {
                Ok(()) => {}
                // The compiler made a file of that name: keep it.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(format!("cannot copy {}: {e}", Path::new(&f.name).display())),
            }
        }
        Ok(out)
    }

    /// Builds and judges one submission; unit ids are `compile` and the case names.
    pub fn judge(&self, sub: &Submission, events: &mut Events) -> JudgeReport {
        let start = Instant::now();
        let built = self
            .build_all(&[(sub, String::new())], events)
            .pop()
            .unwrap_or_else(|| judge_error_build(Err("the build did not run".into())));
        self.judge_built(sub, built, start, "", events)
    }

    /// Whether building `sub` runs a compiler (a unit of its own, `<prefix>compile`).
    pub fn compiles(sub: &Submission) -> bool {
        matches!(&sub.kind, SubmissionKind::Source { language, .. } if language.compile.is_some())
    }

    /// Builds submissions, each with the id prefix of its units: the compilations are
    /// dispatched as units (in parallel, events to `events`), the other builds (a binary, a
    /// command, an interpreted language without a check) run nothing and are done here.
    pub fn build_all(&self, subs: &[(&Submission, String)], events: &mut Events) -> Vec<Built> {
        let compiled: Vec<usize> = (0..subs.len())
            .filter(|&i| Self::compiles(subs[i].0))
            .collect();
        let units: Vec<Unit> = compiled
            .iter()
            .map(|&i| {
                let (sub, prefix) = &subs[i];
                let mut spec = CaseSpec::new(vec![OsString::from(&sub.label)]);
                let time_us = self.problem.limits.compilation_time.as_micros() as u64;
                spec.limits = Limits {
                    cpu_us: Some(time_us * 2),
                    wall_us: Some(time_us),
                    memory_bytes: Some(self.problem.limits.compilation_memory_bytes),
                    ..Default::default()
                };
                let mut u = Unit::new(format!("{prefix}compile"), spec, self.runner.tool_tier);
                u.expect = Expect::Verdict(Verdict::AC);
                u
            })
            .collect();
        let tool_tier = self.runner.tool_tier;
        let built = exec::dispatch(&self.runner.pool, &units, None, events, |x, k| {
            let b = self.build(x, subs[compiled[k]].0);
            let a = build_attempt(&b, tool_tier);
            (b, a)
        });
        let mut built: Vec<Option<Built>> = {
            let mut all: Vec<Option<Built>> = subs.iter().map(|_| None).collect();
            for (&i, b) in compiled.iter().zip(built) {
                all[i] = b;
            }
            all
        };
        for (i, b) in built.iter_mut().enumerate() {
            if b.is_none() && !Self::compiles(subs[i].0) {
                // Runs nothing: worker 0's executor only stands by.
                *b = Some(exec::on_worker0(&self.runner.pool, |x| {
                    self.build(x, subs[i].0)
                }));
            }
        }
        built
            .into_iter()
            .map(|b| b.unwrap_or_else(|| judge_error_build(Err("the build did not run".into()))))
            .collect()
    }

    /// Judges a built submission: its test cases are units (ids `<prefix><case name>`)
    /// dispatched on the pool, their events go to `events`.
    pub fn judge_built(
        &self,
        sub: &Submission,
        built: Built,
        start: Instant,
        prefix: &str,
        events: &mut Events,
    ) -> JudgeReport {
        self.judge_built_with(sub, built, start, prefix, events, self.run_all_cases)
    }

    /// [`Judge::judge_built`], running every case when `all` (as `--all-cases`).
    pub fn judge_built_with(
        &self,
        sub: &Submission,
        built: Built,
        start: Instant,
        prefix: &str,
        events: &mut Events,
        all: bool,
    ) -> JudgeReport {
        let scoring = self.problem.scoring;
        let mut report = JudgeReport {
            problem: self.problem.name.clone(),
            submission: sub.label.clone(),
            language: match &sub.kind {
                SubmissionKind::Source { language, .. } => Some(language.name.clone()),
                _ => None,
            },
            verdict: Verdict::JE,
            score: None,
            max_score: None,
            failed_case: None,
            message: String::new(),
            time_limit_us: self.time_limit.as_micros() as u64,
            time_limit_source: self.time_limit_source.clone(),
            time_limit_derivation: self.derivation.clone(),
            compile: built.compile,
            cases: Vec::new(),
            group_scores: Vec::new(),
            skipped: 0,
            duration_us: 0,
        };
        let Some(runnable) = built.runnable else {
            let c = report.compile.as_ref();
            report.verdict = c.map_or(Verdict::JE, |c| c.verdict);
            report.message = c.map_or_else(String::new, |c| c.message.clone());
            if scoring {
                report.score = Some(0.0);
                report.max_score = Some(self.max_score());
            }
            report.skipped = self.problem.cases.len();
            events.not_run(self.problem.cases.len());
            report.duration_us = start.elapsed().as_micros() as u64;
            return report;
        };
        let problem = self.problem;
        let units: Vec<Unit> = problem
            .cases
            .iter()
            .map(|case| {
                let mut spec = workdir::spec(
                    self.case_argv(&runnable, case),
                    &runnable.cwd,
                    self.run_limits(),
                );
                spec.private_view = true;
                spec.env = runnable.env.clone();
                if case.static_args.is_none() {
                    spec.stdin = Some(Stdin::Trusted(case.input.clone()));
                }
                let mut u = Unit::new(format!("{prefix}{}", case.name), spec, self.runner.tier);
                // A case passes when it is accepted (see the README: per case, `passed`
                // is "AC"; whether a submission got what it should is the verification's).
                u.expect = Expect::Verdict(Verdict::AC);
                u.group = case
                    .name
                    .rsplit_once('/')
                    .map(|(g, _)| format!("{prefix}{g}"));
                u
            })
            .collect();
        let skip = BreakOnReject {
            problem,
            run_all_cases: all,
        };
        let results = exec::dispatch(&self.runner.pool, &units, Some(&skip), events, |x, i| {
            let rep = self.run_case(x, &runnable, i);
            if let Some(f) = self.on_case {
                f(&rep);
            }
            let a = Attempt {
                result: rep.run.clone(),
                verdict: Some(rep.verdict),
            };
            (rep, a)
        });
        // Which cases count, whatever the timing of the parallel runs was (a case after a
        // counted rejection in a group that stops at rejections does not), and the verdict,
        // group by group (grader_flags).
        let mut by_index: Vec<Option<CaseReport>> = results;
        let verdicts: Vec<Option<Verdict>> = by_index
            .iter()
            .map(|c| c.as_ref().map(|c| c.verdict))
            .collect();
        let graded = crate::grade::grade(problem, &verdicts);
        let counted = graded.counted;
        if !all {
            for (r, &c) in by_index.iter_mut().zip(&counted) {
                if !c {
                    *r = None;
                }
            }
        }
        report.skipped = counted.iter().filter(|c| !**c).count();
        report.verdict = graded.verdict;
        if let Some(&m) = graded.missing.first() {
            report.failed_case = Some(problem.cases[m].name.clone());
            report.message = format!(
                "judge error: test case {} did not run although it counts",
                problem.cases[m].name
            );
        } else if let Some(first) = graded.case.and_then(|i| by_index[i].as_ref()) {
            report.failed_case = Some(first.name.clone());
            report.message = first.message.clone();
        }
        if scoring {
            let (s, m, groups) = self.score(&mut by_index, &counted);
            report.score = Some(round6(s));
            report.max_score = Some(round6(m));
            report.group_scores = groups;
        }
        report.cases = by_index.into_iter().flatten().collect();
        report.duration_us = start.elapsed().as_micros() as u64;
        report
    }

    /// The submission's command line for a case: with the case's `args` (2025-09).
    fn case_argv(&self, runnable: &Runnable, case: &crate::problem::TestCase) -> Vec<OsString> {
        let mut argv = runnable.argv.clone();
        argv.extend(case.args.iter().map(OsString::from));
        argv
    }

    fn run_limits(&self) -> Limits {
        let tl = self.time_limit.as_micros() as u64;
        let mem = self.problem.limits.memory_bytes;
        let out = self.problem.limits.output_bytes;
        Limits {
            cpu_us: Some(tl),
            wall_us: Some(2 * tl + 1_000_000),
            memory_bytes: Some(mem),
            output_bytes: Some(out),
            file_size_bytes: Some(out),
            stack_bytes: Some(mem),
            pids: Some(RUN_PIDS),
            open_files: None,
        }
    }

    fn validator_limits(&self) -> Limits {
        let l = &self.problem.limits;
        let t = l.validation_time.as_micros() as u64;
        Limits {
            cpu_us: Some(t),
            wall_us: Some(t * 2),
            memory_bytes: Some(l.validation_memory_bytes),
            output_bytes: Some(l.validation_output_bytes),
            file_size_bytes: Some(l.validation_output_bytes.max(MIB)),
            stack_bytes: None,
            pids: Some(RUN_PIDS),
            open_files: None,
        }
    }

    /// A test file the case uid can read: a copy when needed, else the original (whose
    /// failure the run then reports).
    pub fn readable(&self, p: &Path, tag: &str) -> PathBuf {
        self.case_readable(p, tag)
            .unwrap_or_else(|_| p.to_path_buf())
    }

    /// A test file the case uid can read: the original, or a copy in the work directory.
    fn case_readable(&self, p: &Path, tag: &str) -> Result<PathBuf, String> {
        if self.work.readable_by_case(p) {
            return Ok(p.to_path_buf());
        }
        let dst = self.data_dir.join(format!(
            "{tag}-{}",
            p.file_name().map_or("file".into(), |n| n.to_string_lossy())
        ));
        if !dst.exists() {
            fs::copy(p, &dst).map_err(|e| format!("cannot copy {}: {e}", p.display()))?;
            fs::set_permissions(&dst, fs::Permissions::from_mode(0o644))
                .map_err(|e| e.to_string())?;
        }
        Ok(dst)
    }

    fn run_case(&self, x: &mut Exec<'_>, runnable: &Runnable, i: usize) -> CaseReport {
        let case = &self.problem.cases[i];
        if let Some(args) = &case.static_args {
            return self.run_static(x, runnable, case, args);
        }
        if self.problem.interactive {
            return self.run_interactive(x, runnable, i);
        }
        if self.problem.multi_pass {
            return self.run_multi_pass(x, runnable, i);
        }
        let mut spec = workdir::spec(
            self.case_argv(runnable, case),
            &runnable.cwd,
            self.run_limits(),
        );
        spec.private_view = true;
        // Nothing lent: stdin is a sealed copy, the output a pipe; so its worker's own uid,
        // which it shares with no submission running beside it.
        spec.shared_ids = false;
        spec.env = runnable.env.clone();
        spec.stdin = Some(Stdin::Trusted(case.input.clone()));
        let r = x.run(&spec, self.runner.tier);
        let mut rep = CaseReport {
            name: case.name.clone(),
            verdict: Verdict::JE,
            cpu_us: r.usage.cpu_us,
            wall_us: r.usage.wall_us,
            peak_memory_bytes: r.usage.peak_memory_bytes,
            message: String::new(),
            score: None,
            exit_code: r.exit_code,
            signal: r.signal.clone(),
            passes: None,
            slowest_run_cpu_us: r.usage.cpu_us,
            run: r,
            checker: None,
            raw_score: None,
        };
        if let Some((v, m)) = self.submission_failure(&rep.run) {
            rep.verdict = v;
            rep.message = m;
            return rep;
        }
        let (v, m, score, vr) = self.check_output(x, case, &i.to_string(), &rep.run.stdout.data);
        rep.verdict = v;
        rep.message = m;
        rep.raw_score = score;
        rep.checker = vr;
        rep
    }

    /// A static validation test case (2025-09): the static validator runs in a copy-free
    /// view of the submission's files (its build directory: submitted, compiled and
    /// included files) as `<validator> language entry_point feedback_dir/ [args]`, with the
    /// validation limits; it reports as an output validator does (42 accepts, 43 rejects,
    /// `score.txt` / `score_multiplier.txt` by the case's maximum).
    fn run_static(
        &self,
        x: &mut Exec<'_>,
        runnable: &Runnable,
        case: &crate::problem::TestCase,
        args: &[String],
    ) -> CaseReport {
        let mut rep = CaseReport::not_run(&case.name, self.runner.tool_tier);
        let (Some(val), Some((files, entry))) = (&self.static_validator, &runnable.files) else {
            rep.message = if self.static_validator.is_none() {
                "no static validator was built".into()
            } else {
                "static validation needs the submission's source files (not a binary or a \
                 command)"
                    .into()
            };
            return rep;
        };
        let dir = match self.work.private_dir("static") {
            Ok(d) => d,
            Err(e) => {
                rep.message = format!("work directory: {e}");
                return rep;
            }
        };
        let fb = match self.feedback_dir(&dir) {
            Ok(fb) => fb,
            Err(e) => {
                let _ = self.work.remove(&dir);
                rep.message = e;
                return rep;
            }
        };
        let mut argv = val.argv.clone();
        let mut fbs = fb.path().as_os_str().to_owned();
        fbs.push("/");
        argv.extend([
            OsString::from(runnable.language.clone().unwrap_or_default()),
            entry.clone(),
            fbs,
        ]);
        argv.extend(args.iter().map(OsString::from));
        let mut spec = workdir::spec(argv, files, self.validator_limits());
        spec.env = val.env.clone();
        let r = x.run(&spec, self.runner.tool_tier);
        let msg = feedback_file(&fb, "judgemessage.txt", MESSAGE_CAP as u64)
            .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| cap_text(&r.stderr.data));
        let scores = self.score_file(&fb);
        let _ = self.work.remove(&dir);
        let (v, m, score) = match (r.outcome, r.exit_code) {
            (Outcome::NonzeroExit, Some(c @ (42 | 43))) => {
                match self.check_score(case, c == 42, scores) {
                    Ok(score) if c == 42 => (Verdict::AC, msg, score),
                    Ok(_) => (Verdict::WA, msg, None),
                    Err(e) => (Verdict::JE, format!("{e}: {msg}"), None),
                }
            }
            _ => (
                Verdict::JE,
                format!(
                    "the static validator misbehaved ({}; it exits 42 or 43): {msg}",
                    r.reason
                ),
                None,
            ),
        };
        rep.verdict = v;
        rep.message = m;
        rep.raw_score = score;
        rep.exit_code = r.exit_code;
        rep.checker = Some(r.clone());
        rep.run = r;
        rep
    }

    /// Checks an output of `case` with the output validator: the default comparison, or
    /// the package's validator (`tag` names copies of test files it needs). Returns verdict,
    /// message, score, the validator's run.
    pub fn check_output(
        &self,
        x: &mut Exec<'_>,
        case: &crate::problem::TestCase,
        tag: &str,
        output: &[u8],
    ) -> (Verdict, String, Option<f64>, Option<CaseResult>) {
        match &self.validator {
            None => {
                let (v, m) = match (
                    fs::read(&case.answer),
                    TokenOptions::parse(&case.validator_flags),
                ) {
                    (Err(e), _) => (
                        Verdict::JE,
                        format!("cannot read {}: {e}", case.answer.display()),
                    ),
                    (_, Err(e)) => (Verdict::JE, format!("validator flags: {e}")),
                    (Ok(ans), Ok(o)) => match checker::compare(&ans, output, &o) {
                        Check::Accepted => (Verdict::AC, String::new()),
                        Check::WrongAnswer(m) => (Verdict::WA, m),
                        Check::PresentationError(m) => (Verdict::PE, m),
                    },
                };
                (v, m, None, None)
            }
            Some(val) => self.validate(x, val, case, tag, output),
        }
    }

    /// Runs a custom validator on an output. Returns verdict, message, score, its run.
    fn validate(
        &self,
        x: &mut Exec<'_>,
        val: &BuiltValidator,
        case: &crate::problem::TestCase,
        tag: &str,
        output: &[u8],
    ) -> (Verdict, String, Option<f64>, Option<CaseResult>) {
        let je = |m: String| (Verdict::JE, m, None, None);
        let dir = match self.work.private_dir("check") {
            Ok(d) => d,
            Err(e) => return je(format!("work directory: {e}")),
        };
        let cleanup = |d: &CaseDir| {
            let _ = self.work.remove(d);
        };
        let out_path = dir.path().join("team_output");
        if let Err(e) = dir.write_file(OsStr::new("team_output"), output, 0o644) {
            cleanup(&dir);
            return je(format!("cannot write the output for the validator: {e}"));
        }
        let (input, answer) = match (
            self.case_readable(&case.input, tag),
            self.case_readable(&case.answer, tag),
        ) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(e), _) | (_, Err(e)) => {
                cleanup(&dir);
                return je(e);
            }
        };
        let fb = match self.feedback_dir(&dir) {
            Ok(fb) => fb,
            Err(e) => {
                cleanup(&dir);
                return je(e);
            }
        };
        let r = self.run_validator(x, val, case, &input, &answer, &out_path, &fb);
        cleanup(&dir);
        r
    }

    /// A feedback directory in `dir` (ours), lent to the case uid for the validator.
    fn feedback_dir(&self, dir: &CaseDir) -> Result<CaseDir, String> {
        CaseDir::create(dir.fd(), dir.path(), OsStr::new("feedback"))
            .and_then(|fb| self.work.lend(&fb).map(|()| fb))
            .map_err(|e| format!("cannot create the feedback directory: {e}"))
    }

    /// Runs a custom validator on an output file with a feedback directory the case uid
    /// owns. Returns verdict, message, score, its run.
    #[allow(clippy::too_many_arguments)]
    fn run_validator(
        &self,
        x: &mut Exec<'_>,
        val: &BuiltValidator,
        case: &crate::problem::TestCase,
        input: &Path,
        answer: &Path,
        out_path: &Path,
        fb: &CaseDir,
    ) -> (Verdict, String, Option<f64>, Option<CaseResult>) {
        let (input, answer, out_path) = (
            input.to_path_buf(),
            answer.to_path_buf(),
            out_path.to_path_buf(),
        );
        let mut argv = val.runnable.argv.clone();
        let mut spec_stdin = None;
        match val.protocol {
            ValidatorProtocol::Kattis => {
                // The feedback directory ends with a path separator, as the format asks.
                let mut fbs = fb.path().as_os_str().to_owned();
                fbs.push("/");
                argv.extend([input.into(), answer.into(), fbs]);
                argv.extend(case.validator_flags.iter().map(OsString::from));
                spec_stdin = Some(Stdin::Trusted(out_path.clone()));
            }
            ValidatorProtocol::Testlib => {
                argv.extend([input.into(), out_path.clone().into(), answer.into()]);
            }
        }
        let mut spec = workdir::spec(argv, &val.runnable.cwd, self.validator_limits());
        spec.env = val.runnable.env.clone();
        spec.stdin = spec_stdin;
        let r = x.run(&spec, self.runner.tool_tier);
        let judgemessage = feedback_file(fb, "judgemessage.txt", MESSAGE_CAP as u64)
            .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
            .filter(|s| !s.is_empty());
        let score_txt = self.score_file(fb);
        let stderr = cap_text(&r.stderr.data);
        let msg = judgemessage.unwrap_or_else(|| stderr.clone());
        let (v, m, score) = match (val.protocol, r.outcome, r.exit_code) {
            (_, Outcome::SandboxError, _) => (
                Verdict::JE,
                format!(
                    "the validator could not run: {}",
                    r.error.clone().unwrap_or_default()
                ),
                None,
            ),
            (ValidatorProtocol::Kattis, Outcome::NonzeroExit, Some(c @ (42 | 43))) => {
                match self.check_score(case, c == 42, score_txt) {
                    Ok(score) if c == 42 => (Verdict::AC, msg, score),
                    Ok(_) => (Verdict::WA, msg, None),
                    Err(e) => (Verdict::JE, format!("{e}: {msg}"), None),
                }
            }
            (ValidatorProtocol::Testlib, Outcome::Ok, _) => (Verdict::AC, stderr, None),
            (ValidatorProtocol::Testlib, Outcome::NonzeroExit, Some(c)) => match c {
                1 => (Verdict::WA, stderr, None),
                2 | 4 | 8 => (Verdict::PE, stderr, None),
                7 | 16.. => {
                    let pts = if c == 7 {
                        testlib_points(&stderr)
                    } else {
                        Some(f64::from(c - 16) / 100.0)
                    };
                    match pts {
                        Some(p) if self.problem.scoring => (Verdict::AC, stderr, Some(p)),
                        Some(_) => (
                            Verdict::WA,
                            format!("partial points in a pass-fail problem: {stderr}"),
                            None,
                        ),
                        None => (
                            Verdict::JE,
                            format!("testlib checker gave points without a number: {stderr}"),
                            None,
                        ),
                    }
                }
                _ => (
                    Verdict::JE,
                    format!("testlib checker failed (exit status {c}): {stderr}"),
                    None,
                ),
            },
            _ => (
                Verdict::JE,
                format!(
                    "the validator misbehaved ({}; a Kattis validator exits 42 or 43): {msg}",
                    r.reason
                ),
                None,
            ),
        };
        (v, m, score, Some(r))
    }

    /// The verdict of a submission's run that did not end normally (see [`run_verdict`]).
    /// Without a cgroup, memory is limited by `RLIMIT_AS`: an allocation fails and the
    /// program crashes or exits with an error. Such a run whose peak memory came within
    /// [`RLIMIT_MLE_SLACK`] of the limit is MLE, and the message says why.
    fn submission_failure(&self, r: &CaseResult) -> Option<(Verdict, String)> {
        let f = run_verdict(r, Some(self.time_limit.as_micros() as u64))?;
        let mem = self.problem.limits.memory_bytes;
        if f.0 == Verdict::RTE
            && self.rlimit_memory
            && r.usage.peak_memory_bytes.saturating_add(RLIMIT_MLE_SLACK) >= mem
        {
            return Some((
                Verdict::MLE,
                format!(
                    "{} after using {} of the {} memory limit (no cgroup here: the limit is \
                     RLIMIT_AS, so exceeding it fails an allocation)",
                    f.1,
                    crate::fmt_bytes(r.usage.peak_memory_bytes),
                    crate::fmt_bytes(mem)
                ),
            ));
        }
        Some(f)
    }

    fn run_interactive(&self, x: &mut Exec<'_>, runnable: &Runnable, i: usize) -> CaseReport {
        let case = &self.problem.cases[i];
        let mut rep = CaseReport::not_run(&case.name, self.runner.tier);
        let Some(val) = &self.validator else {
            rep.message = "interactive problem without a validator".into();
            return rep;
        };
        let dir = match self.work.dir("interact") {
            Ok(d) => d,
            Err(e) => {
                rep.message = format!("cannot set up the interaction: work directory: {e}");
                return rep;
            }
        };
        type Fifo = (PathBuf, fs::File);
        let prepared = (|| -> Result<(Fifo, Fifo, PathBuf, CaseDir, PathBuf, PathBuf), String> {
            let s2v = workdir::make_fifo(&dir, "to_validator", self.work)?;
            let v2s = workdir::make_fifo(&dir, "to_submission", self.work)?;
            let start = workdir::make_fifo(&dir, "start", self.work)?.0;
            let fb = self.feedback_dir(&dir)?;
            let input = self.case_readable(&case.input, &format!("{i}"))?;
            let answer = self.case_readable(&case.answer, &format!("{i}"))?;
            Ok((s2v, v2s, start, fb, input, answer))
        })();
        let ((s2v, s2v_held), (v2s, v2s_held), start, fb, input, answer) = match prepared {
            Ok(x) => x,
            Err(e) => {
                let _ = self.work.remove(&dir);
                rep.message = format!("cannot set up the interaction: {e}");
                return rep;
            }
        };
        // The submission: stdout to the validator, stdin from it. We hold ends of both
        // FIFOs (below), so opening them does not wait; the `start` FIFO (not held) is where
        // the two meet: each opens it after its two FIFOs, and that open returns only when
        // the other side opens it too. So neither program starts before both sides have their
        // ends open, and neither can find the other gone at an open.
        let mut sub_argv: Vec<OsString> = vec![
            "sh".into(),
            "-c".into(),
            "o=$1; i=$2; b=$3; shift 3; exec \"$@\" >\"$o\" <\"$i\" 3>\"$b\" 3>&-".into(),
            "sh".into(),
            s2v.clone().into(),
            v2s.clone().into(),
            start.clone().into(),
        ];
        sub_argv.extend(self.case_argv(runnable, case));
        let mut sub = workdir::spec(sub_argv, &runnable.cwd, self.run_limits());
        sub.private_view = true;
        sub.program = "/bin/sh".into();
        sub.env = runnable.env.clone();
        // The validator ignores SIGPIPE: a submission that exits early must not kill it.
        let mut val_argv: Vec<OsString> = vec![
            "sh".into(),
            "-c".into(),
            "trap '' PIPE; i=$1; o=$2; b=$3; shift 3; exec \"$@\" <\"$i\" >\"$o\" 3<\"$b\" 3<&-"
                .into(),
            "sh".into(),
            s2v.clone().into(),
            v2s.clone().into(),
            start.into(),
        ];
        val_argv.extend(val.runnable.argv.iter().cloned());
        let mut fbs = fb.path().as_os_str().to_owned();
        fbs.push("/");
        val_argv.extend([input.into(), answer.into(), fbs]);
        val_argv.extend(case.validator_flags.iter().map(OsString::from));
        let mut vl = self.validator_limits();
        let sub_wall = sub.limits.wall_us.unwrap_or(0);
        vl.wall_us = Some(sub_wall + vl.cpu_us.unwrap_or(0).min(10_000_000));
        let mut vspec = workdir::spec(val_argv, &val.runnable.cwd, vl);
        vspec.program = "/bin/sh".into();
        vspec.env = val.runnable.env.clone();
        // The order in which the two ended decides between the validator's WA and the
        // submission's failure, so it must not depend on which zygote woke up first. We hold
        // a read and a write end of both FIFOs until the first of the two has ended: until
        // then neither can see the other's end (no end of file, no SIGPIPE), so whatever the
        // second did after the first ended, it did after the first's end was recorded here.
        let held = Mutex::new(Some((s2v_held, v2s_held)));
        let first_ended: OnceLock<PairSide> = OnceLock::new();
        let ended = |side: PairSide| {
            let _ = first_ended.set(side);
            drop(held.lock().unwrap_or_else(|e| e.into_inner()).take());
        };
        let (r, vr) = x.run_pair(
            (&sub, self.runner.tier),
            (&vspec, self.runner.tool_tier),
            &ended,
        );
        drop(held);
        let judgemessage = feedback_file(&fb, "judgemessage.txt", MESSAGE_CAP as u64)
            .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| cap_text(&vr.stderr.data));
        let score_txt = self.score_file(&fb);
        let _ = self.work.remove(&dir);
        let accepted = vr.outcome == Outcome::NonzeroExit && vr.exit_code == Some(42);
        let rejected = vr.outcome == Outcome::NonzeroExit && vr.exit_code == Some(43);
        let score_txt = if accepted || rejected {
            self.check_score(case, accepted, score_txt)
        } else {
            Ok(None)
        };
        rep.cpu_us = r.usage.cpu_us;
        rep.wall_us = r.usage.wall_us;
        rep.peak_memory_bytes = r.usage.peak_memory_bytes;
        rep.exit_code = r.exit_code;
        rep.signal = r.signal.clone();
        rep.slowest_run_cpu_us = r.usage.cpu_us;
        let sub_failure = self.submission_failure(&r);
        // As problemtools decides: a judge failure (the pair could not run, the validator
        // misbehaved) first; then the validator's WA when the validator ended first (the
        // submission may fail only because of that: SIGPIPE on its next write, a read at end
        // of file, or it keeps running into the time limit); then the submission's own
        // failure (TLE before RTE); then the validator's verdict. Which ended first is the
        // order in which the engine reported their ends, made causal by the held FIFO ends.
        let validator_wa = vr.outcome == Outcome::NonzeroExit && vr.exit_code == Some(43);
        let validator_ac = vr.outcome == Outcome::NonzeroExit && vr.exit_code == Some(42);
        let validator_first = first_ended.get() == Some(&PairSide::Second);
        let (v, m) = if r.outcome == Outcome::SandboxError && vr.outcome == Outcome::SandboxError {
            // The pair did not start (one side could not be prepared, the other was not
            // started): name both.
            (
                Verdict::JE,
                format!(
                    "the interaction could not run: submission: {}; validator: {}",
                    r.error.clone().unwrap_or_default(),
                    vr.error.clone().unwrap_or_default()
                ),
            )
        } else if vr.outcome == Outcome::SandboxError {
            (
                Verdict::JE,
                format!(
                    "the validator could not run: {}",
                    vr.error.clone().unwrap_or_default()
                ),
            )
        } else if let Some(f @ (Verdict::JE, _)) = &sub_failure {
            f.clone()
        } else if !(validator_ac || validator_wa) {
            (
                Verdict::JE,
                format!(
                    "the validator misbehaved ({}; a Kattis validator exits 42 or 43): {judgemessage}",
                    vr.reason
                ),
            )
        } else if let Err(e) = &score_txt {
            (Verdict::JE, format!("{e}: {judgemessage}"))
        } else if validator_wa && (sub_failure.is_none() || validator_first) {
            (Verdict::WA, judgemessage)
        } else if let Some(f) = sub_failure {
            f
        } else {
            rep.raw_score = score_txt.ok().flatten();
            (Verdict::AC, judgemessage)
        };
        rep.verdict = v;
        rep.message = m;
        rep.run = r;
        rep.checker = Some(vr);
        rep
    }

    /// A multi-pass case: the submission runs, the validator checks its output and may
    /// write `nextpass.in` into the feedback directory, on which the submission runs again,
    /// up to `validation_passes` times. The feedback directory persists between passes
    /// (it is the case uid's only while the validator runs). Time and memory limits apply
    /// to each run.
    fn run_multi_pass(&self, x: &mut Exec<'_>, runnable: &Runnable, i: usize) -> CaseReport {
        let case = &self.problem.cases[i];
        let mut rep = CaseReport::not_run(&case.name, self.runner.tier);
        rep.passes = Some(0);
        let Some(val) = &self.validator else {
            rep.message = "multi-pass problem without a validator".into();
            return rep;
        };
        let dir = match self.work.private_dir("passes") {
            Ok(d) => d,
            Err(e) => {
                rep.message = format!("cannot set up the passes: work directory: {e}");
                return rep;
            }
        };
        let prepared = (|| -> Result<(CaseDir, PathBuf, PathBuf), String> {
            let fb = self.feedback_dir(&dir)?;
            let input = self.case_readable(&case.input, &format!("{i}"))?;
            let answer = self.case_readable(&case.answer, &format!("{i}"))?;
            Ok((fb, input, answer))
        })();
        let (fb, first_input, answer) = match prepared {
            Ok(x) => x,
            Err(e) => {
                let _ = self.work.remove(&dir);
                rep.message = format!("cannot set up the passes: {e}");
                return rep;
            }
        };
        let passes = self.problem.limits.validation_passes;
        let mut input = first_input;
        let (v, m) = 'passes: {
            for pass in 1..=passes {
                rep.passes = Some(pass);
                // The submission runs while the feedback directory is ours and closed (the
                // directory itself, by descriptor: nothing inside is looked up or re-owned).
                if let Err(e) = fb.reclaim() {
                    break 'passes (Verdict::JE, format!("chown {}: {e}", fb.path().display()));
                }
                let mut spec = workdir::spec(
                    self.case_argv(runnable, case),
                    &runnable.cwd,
                    self.run_limits(),
                );
                spec.private_view = true;
                spec.env = runnable.env.clone();
                spec.stdin = Some(Stdin::Trusted(input.clone()));
                let r = x.run(&spec, self.runner.tier);
                rep.cpu_us += r.usage.cpu_us;
                rep.wall_us += r.usage.wall_us;
                rep.peak_memory_bytes = rep.peak_memory_bytes.max(r.usage.peak_memory_bytes);
                rep.slowest_run_cpu_us = rep.slowest_run_cpu_us.max(r.usage.cpu_us);
                rep.exit_code = r.exit_code;
                rep.signal = r.signal.clone();
                let failure = self.submission_failure(&r);
                let output = r.stdout.data.clone();
                rep.run = r;
                if let Some((v, m)) = failure {
                    break 'passes (v, format!("pass {pass}: {m}"));
                }
                let out_name = format!("output-{pass}");
                let out_path = dir.path().join(&out_name);
                if let Err(e) = dir
                    .write_file(OsStr::new(&out_name), &output, 0o644)
                    .and_then(|_| self.work.lend(&fb))
                {
                    break 'passes (
                        Verdict::JE,
                        format!("cannot prepare the validator's pass {pass}: {e}"),
                    );
                }
                let (v, m, score, vr) =
                    self.run_validator(x, val, case, &input, &answer, &out_path, &fb);
                rep.checker = vr;
                rep.raw_score = score;
                let next = feedback_file(
                    &fb,
                    "nextpass.in",
                    self.problem.limits.validation_output_bytes,
                );
                let _ = fsat::remove_tree_at(fb.fd(), OsStr::new("nextpass.in"));
                match (v, next) {
                    (Verdict::AC, None) => break 'passes (Verdict::AC, m),
                    (Verdict::AC, Some(_)) if pass == passes => {
                        break 'passes (
                            Verdict::JE,
                            format!(
                                "the validator asked for pass {} but validation_passes is \
                                 {passes}: {m}",
                                pass + 1
                            ),
                        )
                    }
                    (Verdict::AC, Some(data)) => {
                        let name = format!("input-{}", pass + 1);
                        let p = dir.path().join(&name);
                        if let Err(e) = dir.write_file(OsStr::new(&name), &data, 0o644) {
                            break 'passes (
                                Verdict::JE,
                                format!("cannot write the input of pass {}: {e}", pass + 1),
                            );
                        }
                        input = p;
                    }
                    (Verdict::JE, _) => break 'passes (Verdict::JE, format!("pass {pass}: {m}")),
                    (_, Some(_)) => {
                        break 'passes (
                            Verdict::JE,
                            format!(
                                "the validator wrote nextpass.in but rejected pass {pass} (a \
                                 next pass needs exit status 42): {m}"
                            ),
                        )
                    }
                    (v, None) => break 'passes (v, format!("pass {pass}: {m}")),
                }
            }
            (Verdict::JE, "no pass ran".into())
        };
        let _ = self.work.remove(&dir);
        rep.verdict = v;
        rep.message = m;
        rep
    }

    /// The maximum score of the problem (secret groups).
    pub fn max_score(&self) -> f64 {
        let none = vec![None; self.problem.cases.len()];
        round6(self.scorer(&none).total().1)
    }

    fn scorer<'s>(&'s self, outcomes: &'s [Option<CaseScore>]) -> Scorer<'s> {
        Scorer {
            problem: self.problem,
            outcomes,
            fractions: self
                .validator
                .as_ref()
                .is_some_and(|v| v.protocol == ValidatorProtocol::Testlib),
        }
    }

    /// Score and maximum of the secret data, and each secret case's score. Cases not
    /// `counted` score as not run.
    fn score(
        &self,
        results: &mut [Option<CaseReport>],
        counted: &[bool],
    ) -> (f64, f64, Vec<GroupScoreReport>) {
        let outcomes: Vec<Option<CaseScore>> = results
            .iter()
            .zip(counted)
            .map(|(r, &c)| {
                r.as_ref().filter(|_| c).map(|r| CaseScore {
                    accepted: r.verdict == Verdict::AC,
                    raw: r.raw_score,
                })
            })
            .collect();
        let sc = self.scorer(&outcomes);
        for (i, s) in sc.per_case() {
            if let Some(r) = results[i].as_mut() {
                r.score = Some(round6(s));
            }
        }
        let groups = if self.problem.format == FormatVersion::V2025_09 {
            sc.group_scores()
                .into_iter()
                .map(|(name, s)| GroupScoreReport {
                    name,
                    score: round6(s),
                })
                .collect()
        } else {
            Vec::new()
        };
        let (s, m) = sc.total();
        (s, m, groups)
    }
}

/// A file a build starts from.
#[derive(Debug, Clone)]
struct SourceFile {
    name: OsString,
    data: Vec<u8>,
    mode: u32,
}

/// What a validator wrote about a case's score.
#[derive(Debug, Clone, Copy)]
struct Scores {
    score: Option<f64>,
    multiplier: Option<f64>,
}

struct BuildLimits {
    time: Duration,
    memory_bytes: u64,
    run_memory_mib: u64,
}

/// A submission refused before its compiler ran (CE, with why).
fn compile_error(message: String) -> Built {
    Built {
        runnable: None,
        compile: Some(CompileReport {
            verdict: Verdict::CE,
            message,
            cpu_us: 0,
            wall_us: 0,
            peak_memory_bytes: 0,
            result: None,
        }),
    }
}

fn judge_error_build(r: Result<Runnable, String>) -> Built {
    match r {
        Ok(r) => Built {
            runnable: Some(r),
            compile: None,
        },
        Err(e) => Built {
            runnable: None,
            compile: Some(CompileReport {
                verdict: Verdict::JE,
                message: e,
                cpu_us: 0,
                wall_us: 0,
                peak_memory_bytes: 0,
                result: None,
            }),
        },
    }
}

/// A build as a unit's attempt: the compiler's run and the build's verdict (a JE before the
/// compiler could run is a `sandbox_error` naming why).
fn build_attempt(b: &Built, tier: Tier) -> Attempt {
    match &b.compile {
        Some(c) => Attempt {
            result: c
                .result
                .clone()
                .unwrap_or_else(|| no_run(c.message.clone(), &Limits::default(), tier)),
            verdict: Some(c.verdict),
        },
        // Nothing to compile (an interpreted language without a check): nothing ran.
        None => Attempt {
            result: no_run("nothing to compile".into(), &Limits::default(), tier),
            verdict: Some(Verdict::AC),
        },
    }
}

/// The `sandbox_error` result of a step that did not run (the judge's, never the program's).
pub(crate) fn no_run(msg: String, limits: &Limits, tier: Tier) -> CaseResult {
    hatchery_report::decide(
        RawFacts {
            error: Some(msg),
            ..Default::default()
        },
        limits,
        tier.as_str(),
        hatchery_report::Enforcement::new(),
    )
}

impl Judge<'_> {
    /// The validator's `score.txt` and (2025-09) `score_multiplier.txt`: `None` when there
    /// is none, an error when one is not a finite number.
    fn score_file(&self, fb: &CaseDir) -> Result<Scores, String> {
        let read = |name: &str| -> Result<Option<f64>, String> {
            let Some(b) = feedback_file(fb, name, 4096) else {
                return Ok(None);
            };
            let t = String::from_utf8_lossy(&b);
            match t.trim().parse::<f64>() {
                Ok(x) if x.is_finite() => Ok(Some(x)),
                _ => Err(format!(
                    "the validator wrote a {name} that is not a number (`{}`)",
                    t.trim().chars().take(40).collect::<String>()
                )),
            }
        };
        let multiplier = if self.problem.format == FormatVersion::V2025_09 {
            read("score_multiplier.txt")?
        } else {
            None
        };
        Ok(Scores {
            score: read("score.txt")?,
            multiplier,
        })
    }

    /// 2025-09's rules for `score.txt` and `score_multiplier.txt` (each breach is the
    /// validator's: JE). Returns the case's score (a multiplier times the case's maximum).
    fn check_score_2025(
        &self,
        case: &crate::problem::TestCase,
        accepted: bool,
        s: Scores,
    ) -> Result<Option<f64>, String> {
        let any = s.score.is_some() || s.multiplier.is_some();
        if s.score.is_some() && s.multiplier.is_some() {
            return Err("the validator wrote both score.txt and score_multiplier.txt".into());
        }
        if !accepted {
            return match any {
                true => Err("the validator wrote a score with a WA verdict".into()),
                false => Ok(None),
            };
        }
        match case.score_max {
            // Samples of a scoring problem: a score there is ignored.
            CaseMax::NotScored if self.problem.scoring => Ok(None),
            CaseMax::NotScored if any => {
                Err("the validator wrote a score, but the problem is not a scoring problem".into())
            }
            CaseMax::NotScored => Ok(None),
            CaseMax::PassFail if any => Err(format!(
                "the validator wrote a score for {}, which is in a group with pass-fail \
                 aggregation",
                case.name
            )),
            CaseMax::PassFail => Ok(None),
            CaseMax::Unbounded => match (s.score, s.multiplier) {
                (_, Some(_)) => {
                    Err("score_multiplier.txt for a case with an unbounded maximum score".into())
                }
                (Some(x), _) if x >= 0.0 => Ok(Some(x)),
                (Some(x), _) => Err(format!("score.txt is negative ({x})")),
                (None, None) => {
                    Err("an accepted case with an unbounded maximum score needs a score.txt".into())
                }
            },
            CaseMax::Bounded(m) => match (s.score, s.multiplier) {
                (Some(x), _) if x >= 0.0 && x <= m + 1e-9 => Ok(Some(x)),
                (Some(x), _) => Err(format!(
                    "score.txt ({x}) is not between 0 and the case's maximum score {}",
                    round6(m)
                )),
                (_, Some(f)) if (0.0..=1.0).contains(&f) => Ok(Some(f * m)),
                (_, Some(f)) => Err(format!("score_multiplier.txt ({f}) is not in [0, 1]")),
                (None, None) => Ok(None),
            },
        }
    }

    /// The score of a Kattis validator's verdict, as problemtools decides it: `score.txt`
    /// only with custom scoring (legacy `validation: custom score`, a 2023-07 scoring
    /// problem) and never on WA; legacy custom scoring requires one on AC. An error is the
    /// validator's (JE).
    fn check_score(
        &self,
        case: &crate::problem::TestCase,
        accepted: bool,
        score: Result<Scores, String>,
    ) -> Result<Option<f64>, String> {
        let score = score?;
        if self.problem.format == FormatVersion::V2025_09 {
            return self.check_score_2025(case, accepted, score);
        }
        let score = score.score;
        match (accepted, score) {
            (false, Some(_)) => Err("the validator wrote score.txt with a WA verdict".into()),
            (true, Some(_)) if !self.problem.custom_score => Err(
                "the validator wrote score.txt, but the problem does not have custom scoring \
                 (legacy: `validation: custom score`; 2023-07: `type: scoring`)"
                    .into(),
            ),
            (true, None) if self.problem.custom_score_required => Err(
                "the problem has custom scoring (`validation: custom score`), but the \
                 validator wrote no score.txt"
                    .into(),
            ),
            (_, s) => Ok(s),
        }
    }
}

/// A file the validator wrote in its feedback directory, read through the directory's
/// descriptor (never through a link); `None` when there is none.
fn feedback_file(fb: &CaseDir, name: &str, cap: u64) -> Option<Vec<u8>> {
    fb.read(Path::new(name), cap).ok().flatten()
}

/// The compiler's messages, with the build directory left out of the paths they name
/// (`sum.c:3:1: error`, not the work tree's `/.../build-7/sum.c`).
fn compiler_message(r: &CaseResult, build_dir: &Path) -> String {
    let mut b = r.stderr.data.clone();
    if !r.stdout.data.is_empty() {
        if !b.is_empty() {
            b.push(b'\n');
        }
        b.extend_from_slice(&r.stdout.data);
    }
    let mut s = cap_text(&b);
    let prefix = format!("{}/", build_dir.display());
    s = s.replace(&prefix, "");
    if s.is_empty() && r.outcome != Outcome::Ok {
        s = r.reason.clone();
    }
    s
}

/// Lossy text of at most [`MESSAGE_CAP`] bytes, trimmed.
fn cap_text(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(&b[..b.len().min(MESSAGE_CAP)]);
    let mut s = s.trim().to_owned();
    if b.len() > MESSAGE_CAP {
        s.push_str(" …");
    }
    s
}

/// testlib's `points` message: the first number in it.
fn testlib_points(msg: &str) -> Option<f64> {
    msg.split_whitespace()
        .find_map(|w| checker::parse_number(w.as_bytes()))
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

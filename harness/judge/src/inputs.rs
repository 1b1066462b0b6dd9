//! Input validation (`--validate-input`, and part of `--verify-submissions`): every input
//! validator of the package runs on every test input (`data/sample`, `data/secret`) with
//! the input on stdin and the group's `input_validator_flags` / `input_validator_args`;
//! exit status 42 means valid, anything else that the file could not be confirmed valid.
//! Inputs in 2023-07's `data/invalid_input/` must be rejected by at least one validator.
//! The outputs of `data/invalid_output/` (2025-09, BAPCtools) must be rejected by the output
//! validator, those of `data/valid_output/` accepted; their inputs must be valid.
//!
//! Validators are built like output validators (one source file, or a directory) and run
//! sandboxed with the package's validation limits. A validator the sandbox cannot run, or
//! one that hits a limit, is an error of the validator, not a verdict on the file.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Instant;

use hatchery_engine::{Attempt, Unit};
use hatchery_report::Outcome;
use hatchery_sandbox::Stdin;
use serde::Serialize;

use crate::exec;
use crate::judge::{Judge, JudgeError, Runnable};
use crate::problem::{InputValidatorArgs, SkippedProgram};
use crate::report::Events;
use crate::workdir;

/// Validator output kept in a result's message.
const MESSAGE_CAP: usize = 2048;

/// What one validator said about one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Exit status 42.
    Valid,
    /// Any other exit status, or a crash.
    Invalid,
    /// The validator could not be run or hit a limit.
    Error,
}

/// One validator on one file.
#[derive(Debug, Clone, Serialize)]
pub struct ValidatorRun {
    pub validator: String,
    pub status: Status,
    pub exit_code: Option<i32>,
    pub args: Vec<String>,
    /// The validator's stdout and stderr (capped), or why it could not run.
    pub message: String,
    pub cpu_us: u64,
}

/// One input file and every validator's result.
#[derive(Debug, Clone, Serialize)]
pub struct FileResult {
    /// Path under `data/` without `.in`.
    pub name: String,
    /// `valid` for sample and secret data, `invalid` for `data/invalid_input/`; for the
    /// `.out` of `data/invalid_output/` `rejected`, of `data/valid_output/` `accepted`.
    pub expected: &'static str,
    pub ok: bool,
    pub runs: Vec<ValidatorRun>,
}

/// The input validation of a package.
#[derive(Debug, Clone, Serialize)]
pub struct InputReport {
    pub validators: Vec<String>,
    /// Validators not run (Checktestdata, VIVA).
    pub skipped: Vec<SkippedProgram>,
    pub files: Vec<FileResult>,
    /// Files that did not get their expected result.
    pub failed: usize,
    /// A validator failed (could not run, hit a limit) on some file.
    pub errors: usize,
    pub all_ok: bool,
    pub duration_us: u64,
}

struct Task {
    validator: usize,
    file: usize,
    input: PathBuf,
    args: Vec<String>,
}

/// Builds the input validators and runs them on every input. A validator that does not
/// build is a [`JudgeError::Validator`].
pub fn validate_inputs(judge: &Judge<'_>) -> Result<InputReport, JudgeError> {
    let start = Instant::now();
    let problem = judge.problem;
    let vals = &problem.input_validators;
    let tool_tier = judge.runner.tool_tier;
    let paths: Vec<PathBuf> = vals.iter().map(|v| v.path.clone()).collect();
    let built = judge.build_programs(&paths);
    let mut runnables: Vec<Runnable> = Vec::new();
    for (v, b) in vals.iter().zip(built) {
        match b {
            Ok(r) => runnables.push(r),
            Err(message) => {
                return Err(JudgeError::InputValidator {
                    path: v.path.clone(),
                    message,
                })
            }
        }
    }
    // Files: the test cases, then data/invalid_input.
    // (name, input, validator arguments, the case's `args` (2025-09), must be valid)
    type File<'p> = (String, PathBuf, &'p InputValidatorArgs, &'p [String], bool);
    let mut files: Vec<File<'_>> = problem
        .cases
        .iter()
        .filter(|c| c.static_args.is_none())
        .map(|c| {
            (
                c.name.clone(),
                c.input.clone(),
                &c.input_validator_args,
                c.args.as_slice(),
                true,
            )
        })
        .collect();
    files.extend(problem.output_checks.iter().map(|c| {
        (
            c.case.name.clone(),
            c.case.input.clone(),
            &c.case.input_validator_args,
            c.case.args.as_slice(),
            true,
        )
    }));
    files.extend(problem.invalid_inputs.iter().map(|c| {
        (
            c.name.clone(),
            c.input.clone(),
            &c.input_validator_args,
            &[][..],
            false,
        )
    }));
    let mut tasks = Vec::new();
    for (fi, (_, input, args, case_args, _)) in files.iter().enumerate() {
        for (vi, v) in vals.iter().enumerate() {
            // The validator's arguments, then the case's `args`.
            let mut a = args.for_validator(&v.name);
            a.extend(case_args.iter().cloned());
            tasks.push(Task {
                validator: vi,
                file: fi,
                input: input.clone(),
                args: a,
            });
        }
    }
    let l = &problem.limits;
    let t = l.validation_time.as_micros() as u64;
    let limits = hatchery_report::Limits {
        cpu_us: Some(t),
        wall_us: Some(t * 2),
        memory_bytes: Some(l.validation_memory_bytes),
        output_bytes: Some(l.validation_output_bytes),
        file_size_bytes: Some(l.validation_output_bytes.max(1 << 20)),
        stack_bytes: None,
        pids: Some(64),
        open_files: None,
    };
    let units: Vec<Unit> = tasks
        .iter()
        .map(|task| {
            let r = &runnables[task.validator];
            let mut argv: Vec<OsString> = r.argv.clone();
            argv.extend(task.args.iter().map(OsString::from));
            let mut spec = workdir::spec(argv, &r.cwd, limits.clone());
            spec.env = r.env.clone();
            // The package's own file (checked to stay inside the package when it was loaded).
            spec.stdin = Some(Stdin::Trusted(task.input.clone()));
            Unit::new(
                format!("{} {}", vals[task.validator].name, files[task.file].0),
                spec,
                tool_tier,
            )
        })
        .collect();
    let runs = exec::dispatch(
        &judge.runner.pool,
        &units,
        None,
        &mut Events::quiet(),
        |x, i| {
            let task = &tasks[i];
            let res = x.run(&units[i].spec, tool_tier);
            let mut out = res.stdout.data.clone();
            if !res.stderr.data.is_empty() {
                if !out.is_empty() && !out.ends_with(b"\n") {
                    out.push(b'\n');
                }
                out.extend_from_slice(&res.stderr.data);
            }
            let mut message = String::from_utf8_lossy(&out[..out.len().min(MESSAGE_CAP)])
                .trim()
                .to_owned();
            let status = match (res.outcome, res.exit_code) {
                (Outcome::NonzeroExit, Some(42)) => Status::Valid,
                (Outcome::SandboxError, _) => {
                    message = format!(
                        "the validator could not run: {}",
                        res.error.clone().unwrap_or_default()
                    );
                    Status::Error
                }
                (
                    Outcome::TimeLimit
                    | Outcome::MemoryLimit
                    | Outcome::OutputLimit
                    | Outcome::PolicyViolation,
                    _,
                ) => {
                    message = format!("the validator was stopped: {}", res.reason);
                    Status::Error
                }
                (Outcome::Ok, _) => {
                    if message.is_empty() {
                        message = "exited with status 0 (valid is 42)".into();
                    }
                    Status::Invalid
                }
                _ => {
                    if message.is_empty() {
                        message = res.reason.clone();
                    }
                    Status::Invalid
                }
            };
            let run = ValidatorRun {
                validator: vals[task.validator].name.clone(),
                status,
                exit_code: res.exit_code,
                args: task.args.clone(),
                message,
                cpu_us: res.usage.cpu_us,
            };
            (run, Attempt::of(res))
        },
    );
    let mut results: Vec<FileResult> = files
        .iter()
        .map(|(name, _, _, _, valid)| FileResult {
            name: name.clone(),
            expected: if *valid { "valid" } else { "invalid" },
            ok: false,
            runs: Vec::new(),
        })
        .collect();
    for (task, run) in tasks.iter().zip(runs) {
        if let Some(run) = run {
            results[task.file].runs.push(run);
        }
    }
    let mut errors = 0;
    for (f, (_, _, _, _, valid)) in results.iter_mut().zip(&files) {
        let any_error = f.runs.iter().any(|r| r.status == Status::Error);
        errors += usize::from(any_error);
        f.ok = !any_error
            && if *valid {
                f.runs.iter().all(|r| r.status == Status::Valid)
            } else {
                f.runs.iter().any(|r| r.status == Status::Invalid)
            };
    }
    if vals.is_empty() {
        // Without a validator, nothing is confirmed: no input is a failure then.
        results.clear();
    }
    let mut skipped = problem.skipped_input_validators.clone();
    let outputs = check_outputs(judge, &mut skipped);
    errors += outputs
        .iter()
        .filter(|f| f.runs.iter().any(|r| r.status == Status::Error))
        .count();
    results.extend(outputs);
    let failed = results.iter().filter(|f| !f.ok).count();
    Ok(InputReport {
        validators: vals.iter().map(|v| v.name.clone()).collect(),
        skipped,
        all_ok: failed == 0,
        failed,
        errors,
        files: results,
        duration_us: start.elapsed().as_micros() as u64,
    })
}

/// Name of the output validator in a report: the package's, or the default comparison.
fn output_validator_name(judge: &Judge<'_>) -> String {
    match &judge.problem.validator {
        Some(v) => format!(
            "output validator {}",
            v.path.file_name().unwrap_or_default().to_string_lossy()
        ),
        None => "default output validator".into(),
    }
}

/// The `.out` files of `data/invalid_output/` and `data/valid_output/`, each checked by the
/// output validator (as a submission's output of that case would be): a rejection (WA, PE)
/// is what `invalid_output` needs, an acceptance what `valid_output` needs; a judge error
/// (the validator crashed, misbehaved) is an error either way. Interactive and multi-pass
/// problems have none (the format's rule); such directories are named in `skipped`.
fn check_outputs(judge: &Judge<'_>, skipped: &mut Vec<SkippedProgram>) -> Vec<FileResult> {
    let problem = judge.problem;
    let checks = &problem.output_checks;
    if checks.is_empty() {
        return Vec::new();
    }
    if problem.interactive || problem.multi_pass {
        skipped.push(SkippedProgram {
            path: "data/invalid_output, data/valid_output".into(),
            reason: "outputs are checked for problems that are neither interactive nor \
                     multi-pass only"
                .into(),
        });
        return Vec::new();
    }
    let name = output_validator_name(judge);
    let tool_tier = judge.runner.tool_tier;
    let units: Vec<Unit> = checks
        .iter()
        .map(|c| {
            let spec = workdir::spec(
                vec![c.output.clone().into_os_string()],
                &judge.problem.dir,
                Default::default(),
            );
            Unit::new(format!("check {}", c.case.name), spec, tool_tier)
        })
        .collect();
    let runs = exec::dispatch(
        &judge.runner.pool,
        &units,
        None,
        &mut Events::quiet(),
        |x, i| {
            let c = &checks[i];
            let (verdict, message, _, res) = match std::fs::read(&c.output) {
                Ok(out) => judge.check_output(x, &c.case, &format!("out{i}"), &out),
                Err(e) => (
                    crate::Verdict::JE,
                    format!("cannot read {}: {e}", c.output.display()),
                    None,
                    None,
                ),
            };
            let status = match verdict {
                crate::Verdict::AC => Status::Valid,
                crate::Verdict::WA | crate::Verdict::PE => Status::Invalid,
                _ => Status::Error,
            };
            let run = ValidatorRun {
                validator: name.clone(),
                status,
                exit_code: res.as_ref().and_then(|r| r.exit_code),
                args: c.case.validator_flags.clone(),
                message: message.chars().take(MESSAGE_CAP).collect(),
                cpu_us: res.as_ref().map_or(0, |r| r.usage.cpu_us),
            };
            // The default comparison runs in the judge: no sandboxed run to show.
            let result = res.unwrap_or_else(|| {
                crate::judge::no_run(
                    "compared by the judge".into(),
                    &units[i].spec.limits,
                    tool_tier,
                )
            });
            (
                run,
                Attempt {
                    result,
                    verdict: Some(verdict),
                },
            )
        },
    );
    checks
        .iter()
        .zip(runs)
        .map(|(c, run)| {
            let runs: Vec<ValidatorRun> = run.into_iter().collect();
            let want = if c.valid {
                Status::Valid
            } else {
                Status::Invalid
            };
            FileResult {
                name: format!("{}.out", c.case.name),
                expected: if c.valid { "accepted" } else { "rejected" },
                ok: runs.iter().any(|r| r.status == want),
                runs,
            }
        })
        .collect()
}

/// The human-readable lines of a report: failures in full, then a summary.
pub fn human(r: &InputReport) -> String {
    let mut s = String::new();
    for sk in &r.skipped {
        s.push_str(&format!("skip {:<40} {}\n", sk.path, sk.reason));
    }
    if r.validators.is_empty() {
        s.push_str("no input validator to run\n");
        if r.files.is_empty() {
            return s;
        }
    }
    for f in &r.files {
        let verdicts: Vec<String> = f
            .runs
            .iter()
            .map(|v| {
                format!(
                    "{}: {}",
                    v.validator,
                    match v.status {
                        Status::Valid => "valid".to_owned(),
                        Status::Invalid => match v.exit_code {
                            Some(c) => format!("invalid (exit {c})"),
                            None => "invalid".to_owned(),
                        },
                        Status::Error => "ERROR".to_owned(),
                    }
                )
            })
            .collect();
        s.push_str(&format!(
            "{} {:<40} expected {:<8} {}\n",
            if f.ok { "ok  " } else { "FAIL" },
            f.name,
            f.expected,
            verdicts.join(", ")
        ));
        if !f.ok {
            for v in &f.runs {
                for l in v.message.lines().take(5) {
                    s.push_str(&format!("       | {}: {l}\n", v.validator));
                }
            }
        }
    }
    let outputs = r.files.iter().filter(|f| f.name.ends_with(".out")).count();
    let out_failed = r
        .files
        .iter()
        .filter(|f| f.name.ends_with(".out") && !f.ok)
        .count();
    let inputs = r.files.len() - outputs;
    s.push_str(&format!(
        "{} of {} input files validated as expected by {} validator{}",
        inputs - (r.failed - out_failed),
        inputs,
        r.validators.len(),
        if r.validators.len() == 1 { "" } else { "s" },
    ));
    if outputs > 0 {
        s.push_str(&format!(
            ", {} of {} outputs (data/invalid_output, data/valid_output) judged as expected",
            outputs - out_failed,
            outputs
        ));
    }
    s.push_str(&format!(" ({})\n", crate::fmt_us(r.duration_us)));
    hatchery_report::escape_str(&s).into_owned()
}

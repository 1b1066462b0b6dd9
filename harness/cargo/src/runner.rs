//! `cargo-hatchery runner -- BINARY [ARGS...]`: the target-runner route. Cargo (and nextest)
//! call the configured `target.<triple>.runner` with the test binary and its arguments; we
//! run that as one sandboxed case, forward its stdout and stderr, and exit with its status.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use hatchery_engine::SandboxExecutor;
use hatchery_report::{CaseResult, Outcome};

use crate::exec::{run_command, spec, SandboxSettings};
use crate::opts::{LimitOpts, SandboxOpts};
use crate::output::{fmt_bytes, fmt_secs};
use crate::{error_chain, exit};

#[derive(Debug, clap::Args)]
pub struct RunnerArgs {
    #[command(flatten)]
    pub sandbox: SandboxOpts,
    #[command(flatten)]
    pub limits: LimitOpts,
    /// Also print the one-line result (outcome, wall, CPU, peak memory) when the binary
    /// succeeded. It goes to stderr; stdout carries only the binary's own output.
    #[arg(short, long)]
    pub verbose: bool,
    /// The binary cargo built and its arguments.
    #[arg(required = true, last = true, num_args = 1.., value_name = "BINARY [ARGS]")]
    pub command: Vec<OsString>,
}

/// Which of our own environment variables reach the binary: everything cargo sets for it
/// (`CARGO*`, `OUT_DIR`), the Rust runtime's knobs (`RUST_*`), nextest's (`NEXTEST*`) and
/// the dynamic library path. The rest of the environment is not passed, nor anything that
/// looks like a credential (`CARGO_REGISTRY_TOKEN`, ...).
pub fn forwarded(name: &str) -> bool {
    let secret = ["TOKEN", "SECRET", "PASSWORD", "CREDENTIAL"]
        .iter()
        .any(|w| name.to_ascii_uppercase().contains(w));
    !secret
        && (name.starts_with("CARGO")
            || name.starts_with("RUST_")
            || name.starts_with("NEXTEST")
            || name == "OUT_DIR"
            || name == "LD_LIBRARY_PATH")
}

/// The exit status the runner reports for a result (documented in the README).
pub fn exit_status(r: &CaseResult) -> u8 {
    match r.outcome {
        Outcome::Ok => 0,
        Outcome::NonzeroExit => r.exit_code.map_or(1, |c| (c & 0xff) as u8).max(1),
        Outcome::Signaled | Outcome::PolicyViolation => {
            r.signal_number.map_or(1, |n| (128 + n).clamp(1, 255) as u8)
        }
        Outcome::TimeLimit => exit::RUNNER_TIMEOUT,
        Outcome::MemoryLimit | Outcome::OutputLimit => exit::RUNNER_LIMIT,
        Outcome::SandboxError => exit::SANDBOX_ERROR,
    }
}

/// What both runner routes start from (see [`runner_setup`]).
pub(crate) type Setup = (
    PathBuf,
    BTreeMap<String, String>,
    SandboxSettings,
    SandboxExecutor,
    hatchery_report::Enforcement,
);

/// What both runner routes start from: the current directory, cargo's environment (plus
/// `--env`), and an executor whose first zygote proves the tier works here. On failure the
/// message is printed (prefixed with `who`) and the exit code returned.
pub(crate) fn runner_setup(
    who: &str,
    sandbox: &SandboxOpts,
    program: &std::path::Path,
) -> Result<Setup, u8> {
    let cwd = std::env::current_dir().map_err(|e| {
        eprintln!("{who}: cannot read the current directory: {e}");
        exit::USAGE
    })?;
    let mut env: BTreeMap<String, String> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .filter(|(k, _)| forwarded(k))
        .collect();
    env.extend(sandbox.env.iter().cloned());
    let mut settings = sandbox.settings();
    settings.spill = crate::exec::spill_in(crate::exec::spill_dir_for(program));
    // The package's directory, where cargo runs its tests, is theirs to write in.
    settings.view.allow_write(&cwd);
    for (_, v) in &sandbox.env {
        settings.view.show_value(std::ffi::OsStr::new(v));
    }
    if let Some(dir) = std::fs::canonicalize(program)
        .ok()
        .as_deref()
        .and_then(|p| p.parent())
    {
        settings.view.show(dir);
        // target/<profile>/deps/<test>: the target directory (CARGO_TARGET_TMPDIR) too.
        if dir.file_name().is_some_and(|n| n == "deps") {
            if let Some(target) = dir.parent().and_then(Path::parent) {
                settings.view.allow_write(target);
            }
        }
    }
    // The toolchain, for tests that run cargo or rustc (see `cargo::toolchain_env`), and
    // the directories of cargo's library path (`-C prefer-dynamic`: the toolchain's).
    for (k, v) in crate::cargo::toolchain_env() {
        env.entry(k).or_insert(v);
    }
    crate::cargo::show_toolchain(&mut settings.view, None, &cwd);
    if let Some(v) = env.get("LD_LIBRARY_PATH") {
        for d in std::env::split_paths(v) {
            settings.view.show_read_only(&d);
        }
    }
    let mut exec = SandboxExecutor::new(std::sync::Arc::new(settings.exec_settings()), None);
    let enforcement = exec
        .enforcement(settings.tier, settings.network)
        .map_err(|e| {
            eprintln!("{who}: {}", error_chain(&e));
            if e.is_missing_feature() {
                exit::HOST_UNSUPPORTED
            } else {
                exit::SANDBOX_ERROR
            }
        })?;
    Ok((cwd, env, settings, exec, enforcement))
}

pub fn runner(a: RunnerArgs) -> u8 {
    let limits = match a.limits.limits() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cargo-hatchery runner: {e}");
            return exit::USAGE;
        }
    };
    let (cwd, env, settings, mut exec, _) = match runner_setup(
        "cargo-hatchery runner",
        &a.sandbox,
        std::path::Path::new(a.command.first().map(|c| c.as_os_str()).unwrap_or_default()),
    ) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let case = spec(&a.command, &env, &cwd, &limits, &settings);
    let r = run_command(&mut exec, &case, settings.tier);
    drop(exec);
    // The test binary's output, shown to people by cargo: escaped like all human output.
    let _ = std::io::stdout().write_all(hatchery_report::escape_text(&r.stdout.data).as_bytes());
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().write_all(hatchery_report::escape_text(&r.stderr.data).as_bytes());
    let code = exit_status(&r);
    let notable = !matches!(r.outcome, Outcome::Ok | Outcome::NonzeroExit)
        || r.leftover_processes > 0
        || r.stdout.truncated
        || r.stderr.truncated;
    if a.verbose || notable {
        let mut line = format!(
            "cargo-hatchery runner: {} ({}); wall {}, cpu {}, peak memory {}, tier {}",
            r.outcome,
            r.reason,
            fmt_secs(r.usage.wall_us),
            fmt_secs(r.usage.cpu_us),
            fmt_bytes(r.usage.peak_memory_bytes),
            r.tier
        );
        if r.leftover_processes > 0 {
            line.push_str(&format!(
                "; {} leaked process(es) killed",
                r.leftover_processes
            ));
        }
        if let Some(e) = &r.error {
            line.push_str(&format!("; error: {e}"));
        }
        if code != 0 && r.outcome != Outcome::NonzeroExit {
            line.push_str(&format!("; exit status {code}"));
        }
        eprintln!("{line}");
    }
    if let (Outcome::Signaled | Outcome::PolicyViolation, Some(sig)) = (r.outcome, r.signal_number)
    {
        die_by(sig);
    }
    code
}

/// Ends this process with the signal that ended the binary, so that cargo and nextest report
/// `SIGSEGV` & co. exactly as without a runner (no core dump of our own). Returns only when
/// the signal does not terminate by default; the caller then exits with 128+N.
fn die_by(sig: i32) {
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    let _ = nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_CORE, 0, 0);
    let _ = signal_hook::low_level::emulate_default_handler(sig);
}

#[cfg(test)]
mod tests {
    use super::*;
    use hatchery_report::{decide, Limits, RawFacts, Termination};

    fn res(t: Termination) -> CaseResult {
        decide(
            RawFacts {
                termination: Some(t),
                ..Default::default()
            },
            &Limits::default(),
            "hardened",
            Default::default(),
        )
    }

    #[test]
    fn exit_statuses() {
        assert_eq!(exit_status(&res(Termination::Exited(0))), 0);
        assert_eq!(exit_status(&res(Termination::Exited(101))), 101);
        assert_eq!(
            exit_status(&res(Termination::Signaled {
                signal: 11,
                core_dumped: false
            })),
            139
        );
        let err = decide(
            RawFacts {
                error: Some("x".into()),
                ..Default::default()
            },
            &Limits::default(),
            "hardened",
            Default::default(),
        );
        assert_eq!(exit_status(&err), exit::SANDBOX_ERROR);
    }

    #[test]
    fn only_cargo_and_rust_variables_are_forwarded() {
        for k in [
            "CARGO_MANIFEST_DIR",
            "CARGO_PKG_NAME",
            "CARGO_BIN_EXE_x",
            "CARGO",
            "RUST_BACKTRACE",
            "OUT_DIR",
            "NEXTEST_TEST_NAME",
            "LD_LIBRARY_PATH",
        ] {
            assert!(forwarded(k), "{k}");
        }
        for k in [
            "HOME",
            "AWS_SECRET_ACCESS_KEY",
            "SSH_AUTH_SOCK",
            "PATH",
            "RUSTUP_HOME",
            "CARGO_REGISTRY_TOKEN",
            "CARGO_REGISTRIES_X_TOKEN",
        ] {
            assert!(!forwarded(k), "{k}");
        }
    }
}

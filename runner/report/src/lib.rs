//! The vocabulary shared by every part of hatchery: what a case produced (raw facts), the
//! outcome derived from those facts, the resources it used, and which isolation layers were
//! enforced. This crate has no OS code; it is what reporters and other tools read.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub mod events;
pub mod exit;
pub mod html;
pub mod junit;
pub mod text;
mod verdict;

pub use text::{error_chain, escape_str, escape_text, fmt_bytes, fmt_us, is_terminal_control};

pub use events::*;
pub use verdict::Verdict;

/// Version of the JSON shapes defined here. Bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 2;

/// The closed set of outcomes a case can have. Derived from raw facts by [`decide`].
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema, PartialOrd, Ord,
)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Exited with status 0 and hit no limit.
    Ok,
    /// Exited with a non-zero status.
    NonzeroExit,
    /// Killed by a signal that no limit or policy explains.
    Signaled,
    /// CPU or wall time limit reached (see [`Limit`]).
    TimeLimit,
    /// The memory limit was reached (OOM kill, or an allocation failure the cgroup saw).
    MemoryLimit,
    /// Output (stdout + stderr) or file size limit exceeded.
    OutputLimit,
    /// The program made a call the seccomp policy forbids.
    PolicyViolation,
    /// hatchery itself failed; never the program's fault.
    SandboxError,
}

impl Outcome {
    pub const ALL: [Outcome; 8] = [
        Outcome::Ok,
        Outcome::NonzeroExit,
        Outcome::Signaled,
        Outcome::TimeLimit,
        Outcome::MemoryLimit,
        Outcome::OutputLimit,
        Outcome::PolicyViolation,
        Outcome::SandboxError,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::NonzeroExit => "nonzero_exit",
            Outcome::Signaled => "signaled",
            Outcome::TimeLimit => "time_limit",
            Outcome::MemoryLimit => "memory_limit",
            Outcome::OutputLimit => "output_limit",
            Outcome::PolicyViolation => "policy_violation",
            Outcome::SandboxError => "sandbox_error",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which limit ended the case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Limit {
    Cpu,
    Wall,
    Memory,
    Output,
    FileSize,
    Pids,
    OpenFiles,
    Stack,
}

impl Limit {
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::Cpu => "cpu",
            Limit::Wall => "wall",
            Limit::Memory => "memory",
            Limit::Output => "output",
            Limit::FileSize => "file_size",
            Limit::Pids => "pids",
            Limit::OpenFiles => "open_files",
            Limit::Stack => "stack",
        }
    }
}

/// Resource limits of one case. `None` means "not limited by this field".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Limits {
    /// CPU time of all processes of the case, microseconds.
    pub cpu_us: Option<u64>,
    /// Wall-clock time, microseconds.
    pub wall_us: Option<u64>,
    /// Memory of all processes of the case, bytes.
    pub memory_bytes: Option<u64>,
    /// Bytes captured from stdout + stderr together.
    pub output_bytes: Option<u64>,
    /// Largest file the case may write, bytes (RLIMIT_FSIZE).
    pub file_size_bytes: Option<u64>,
    /// Stack size, bytes (RLIMIT_STACK).
    pub stack_bytes: Option<u64>,
    /// Processes and threads alive at once.
    pub pids: Option<u64>,
    /// Open file descriptors per process (RLIMIT_NOFILE).
    pub open_files: Option<u64>,
}

/// Where the peak memory figure came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MemorySource {
    /// cgroup v2 `memory.peak`, reset before the case.
    CgroupV2Peak,
    /// cgroup v1 `memory.max_usage_in_bytes`, reset before the case.
    CgroupV1MaxUsage,
    /// `ru_maxrss` of the main process (and the descendants it waited for).
    Rusage,
}

/// Resources the case used.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Usage {
    /// User + system CPU time of every process of the case.
    pub cpu_us: u64,
    pub cpu_user_us: u64,
    pub cpu_sys_us: u64,
    pub wall_us: u64,
    /// Peak memory of the case's processes only.
    pub peak_memory_bytes: u64,
    pub memory_source: Option<MemorySource>,
    /// Number of processes the kernel OOM-killed in the case.
    pub oom_kills: u64,
    /// Largest number of processes/threads alive at once, when the host can tell.
    pub peak_pids: Option<u64>,
}

/// Captured bytes of one output stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Captured {
    pub data: Vec<u8>,
    /// Bytes the program wrote, including those not kept.
    pub bytes: u64,
    pub truncated: bool,
    /// Where the whole stream was kept on disk, when it was more than the runner kept in
    /// memory (a spill file the runner owns; `data` then holds its head and tail).
    pub file: Option<std::path::PathBuf>,
}

impl Captured {
    /// A copy that keeps at most `keep` bytes: the first and the last `keep / 2`, with a line
    /// in between saying how many were left out (`truncated` is then set). What a reporter
    /// that holds results until the end of a run (JUnit, HTML) needs, at a bounded cost.
    pub fn head_tail(&self, keep: usize) -> Captured {
        if self.data.len() <= keep {
            return self.clone();
        }
        let half = keep / 2;
        let left_out = self.data.len() - 2 * half;
        let mut data = Vec::with_capacity(2 * half + 64);
        data.extend_from_slice(&self.data[..half]);
        data.extend_from_slice(format!("\n[... {left_out} bytes not kept ...]\n").as_bytes());
        data.extend_from_slice(&self.data[self.data.len() - half..]);
        Captured {
            data,
            bytes: self.bytes,
            truncated: true,
            file: self.file.clone(),
        }
    }
}

/// JSON form of [`Captured`]: `text` when the bytes are UTF-8, `base64` otherwise. Never lossy.
#[derive(Serialize, Deserialize, JsonSchema)]
struct CapturedJson {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    base64: Option<String>,
    bytes: u64,
    truncated: bool,
    /// Path of the file holding the whole stream (see `Captured::file`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    file: Option<String>,
}

/// The serializing side of [`CapturedJson`]: text is borrowed, not copied (outputs may be
/// tens of MiB).
#[derive(Serialize)]
struct CapturedOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    base64: Option<String>,
    bytes: u64,
    truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<std::borrow::Cow<'a, str>>,
}

impl Serialize for Captured {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (text, base64) = match std::str::from_utf8(&self.data) {
            Ok(t) => (Some(t), None),
            Err(_) => (
                None,
                Some(base64::engine::general_purpose::STANDARD.encode(&self.data)),
            ),
        };
        CapturedOut {
            text,
            base64,
            bytes: self.bytes,
            truncated: self.truncated,
            file: self.file.as_ref().map(|p| p.to_string_lossy()),
        }
        .serialize(s)
    }
}

impl JsonSchema for Captured {
    fn schema_name() -> String {
        "Captured".to_owned()
    }
    fn json_schema(gen: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
        CapturedJson::json_schema(gen)
    }
}

impl<'de> Deserialize<'de> for Captured {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let j = CapturedJson::deserialize(d)?;
        let data = match (j.text, j.base64) {
            (Some(t), None) => t.into_bytes(),
            (None, Some(b)) => base64::engine::general_purpose::STANDARD
                .decode(b)
                .map_err(serde::de::Error::custom)?,
            (None, None) => Vec::new(),
            (Some(_), Some(_)) => {
                return Err(serde::de::Error::custom(
                    "captured output has both `text` and `base64`",
                ))
            }
        };
        Ok(Captured {
            data,
            bytes: j.bytes,
            truncated: j.truncated,
            file: j.file.map(Into::into),
        })
    }
}

/// How completely one isolation layer was enforced on this host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Full,
    Partial,
    None,
}

/// One layer's enforcement: level plus the mechanism used (or why not).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LayerState {
    pub level: Level,
    pub mechanism: String,
}

impl LayerState {
    pub fn full(m: impl Into<String>) -> Self {
        LayerState {
            level: Level::Full,
            mechanism: m.into(),
        }
    }
    pub fn partial(m: impl Into<String>) -> Self {
        LayerState {
            level: Level::Partial,
            mechanism: m.into(),
        }
    }
    pub fn none(m: impl Into<String>) -> Self {
        LayerState {
            level: Level::None,
            mechanism: m.into(),
        }
    }
}

/// Per layer (`user_ns`, `pid_ns`, `ipc_ns`, `mount_ns`, `net_ns`, `cgroup_memory`,
/// `cgroup_pids`, `cgroup_cpu`, `rlimits`, `seccomp`, `landlock`), what was enforced.
pub type Enforcement = BTreeMap<String, LayerState>;

/// A terminating signal, by number and name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SignalInfo {
    pub number: i32,
    pub name: String,
}

/// A seccomp violation, with the syscall when the kernel lets us know it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Violation {
    pub syscall: Option<String>,
    pub detail: String,
}

/// Everything known about one finished case. This is the object `hatchery run --json` prints
/// and that `case_finished` events carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CaseResult {
    pub outcome: Outcome,
    /// The raw fact that decided the outcome, in words.
    pub reason: String,
    pub exit_code: Option<i32>,
    /// Terminating signal name, e.g. `"SIGSEGV"`.
    pub signal: Option<String>,
    pub signal_number: Option<i32>,
    pub core_dumped: bool,
    pub limit: Option<Limit>,
    pub usage: Usage,
    /// Processes the case left behind when its main process ended (killed by hatchery).
    pub leftover_processes: u64,
    pub stdout: Captured,
    pub stderr: Captured,
    pub violation: Option<Violation>,
    /// When outcome is `sandbox_error`: what failed, naming the step.
    pub error: Option<String>,
    pub tier: String,
    pub limits: Limits,
    pub enforcement: Enforcement,
    /// See [`RawFacts::ended_ns`]; not reported (a host-local clock).
    #[serde(skip)]
    pub ended_ns: Option<u64>,
}

impl CaseResult {
    /// A copy whose stdout and stderr keep at most `keep` bytes each (see
    /// [`Captured::head_tail`]); the output itself is never copied whole.
    pub fn with_output_kept(&self, keep: usize) -> CaseResult {
        CaseResult {
            outcome: self.outcome,
            reason: self.reason.clone(),
            exit_code: self.exit_code,
            signal: self.signal.clone(),
            signal_number: self.signal_number,
            core_dumped: self.core_dumped,
            limit: self.limit,
            usage: self.usage.clone(),
            leftover_processes: self.leftover_processes,
            stdout: self.stdout.head_tail(keep),
            stderr: self.stderr.head_tail(keep),
            violation: self.violation.clone(),
            error: self.error.clone(),
            tier: self.tier.clone(),
            limits: self.limits.clone(),
            enforcement: self.enforcement.clone(),
            ended_ns: self.ended_ns,
        }
    }
}

/// How the main process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Termination {
    Exited(i32),
    Signaled { signal: i32, core_dumped: bool },
}

/// Raw facts the zygote collected about a case; [`decide`] turns them into an outcome.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RawFacts {
    pub termination: Option<Termination>,
    /// A limit the supervisor enforced by killing the case (cpu, wall, output).
    pub killed_for: Option<Limit>,
    pub usage: Usage,
    /// The cgroup saw the memory limit reached (failcnt / `memory.events max`).
    pub memory_limit_hit: bool,
    /// The cgroup refused a fork because of the pids limit.
    pub pids_limit_hit: bool,
    /// Processes still alive (or unreaped) when the main process ended; all were killed.
    pub leftover_processes: u64,
    pub stdout: Captured,
    pub stderr: Captured,
    /// The sandbox failed before or while running the case.
    pub error: Option<String>,
    /// The case made this forbidden system call (reported by the seccomp filter to the
    /// zygote, which killed the case).
    #[serde(default)]
    pub seccomp_violation: Option<String>,
    /// The kernel refused to execute the program (its format, its permissions, or a missing
    /// `#!` interpreter or ELF loader): the errno and why. A fault of the program, reported
    /// like posix_spawn's 127, never a sandbox error.
    #[serde(default)]
    pub exec_failed: Option<String>,
    /// When the case ended (`CLOCK_MONOTONIC`, ns): its main process's exit as the zygote saw
    /// it, or the moment a limit killed it. Orders the ends of cases run side by side.
    #[serde(default)]
    pub ended_ns: Option<u64>,
}

/// Signal names for the signals a case can die of (x86_64 numbering).
pub fn signal_name(sig: i32) -> String {
    let name = match sig {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        5 => "SIGTRAP",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        10 => "SIGUSR1",
        11 => "SIGSEGV",
        12 => "SIGUSR2",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        16 => "SIGSTKFLT",
        17 => "SIGCHLD",
        18 => "SIGCONT",
        19 => "SIGSTOP",
        20 => "SIGTSTP",
        21 => "SIGTTIN",
        22 => "SIGTTOU",
        23 => "SIGURG",
        24 => "SIGXCPU",
        25 => "SIGXFSZ",
        26 => "SIGVTALRM",
        27 => "SIGPROF",
        28 => "SIGWINCH",
        29 => "SIGIO",
        30 => "SIGPWR",
        31 => "SIGSYS",
        n if (34..=64).contains(&n) => return format!("SIGRTMIN+{}", n - 34),
        n => return format!("SIG{n}"),
    };
    name.to_owned()
}

const SIGKILL: i32 = 9;
const SIGABRT: i32 = 6;
const SIGSEGV: i32 = 11;
const SIGBUS: i32 = 7;
const SIGXCPU: i32 = 24;
const SIGXFSZ: i32 = 25;
const SIGSYS: i32 = 31;

/// Derives the outcome from raw facts. The order of the checks is the contract:
/// sandbox failure, then an OOM kill in the case's cgroup (the memory limit was hit, even if a
/// time limit ended the case later), then limits the supervisor enforced, then the other
/// kernel-enforced limits, then policy, then how the program itself ended.
pub fn decide(
    facts: RawFacts,
    limits: &Limits,
    tier: &str,
    enforcement: Enforcement,
) -> CaseResult {
    let (exit_code, signal, core_dumped) = match facts.termination {
        _ if facts.exec_failed.is_some() && facts.error.is_none() => (Some(127), None, false),
        Some(Termination::Exited(c)) => (Some(c), None, false),
        Some(Termination::Signaled {
            signal,
            core_dumped,
        }) => (None, Some(signal), core_dumped),
        None => (None, None, false),
    };
    let mut violation = None;
    let (outcome, limit, reason) = if let Some(err) = &facts.error {
        (
            Outcome::SandboxError,
            None,
            format!("the sandbox failed: {err}"),
        )
    } else if let Some(why) = &facts.exec_failed {
        (
            Outcome::NonzeroExit,
            None,
            format!("cannot execute the program: {why}"),
        )
    } else if facts.usage.oom_kills > 0 {
        (
            Outcome::MemoryLimit,
            Some(Limit::Memory),
            format!(
                "the kernel OOM-killed {} process(es) of the case at the memory limit",
                facts.usage.oom_kills
            ),
        )
    } else if let Some(l) = facts.killed_for {
        let o = match l {
            Limit::Cpu | Limit::Wall => Outcome::TimeLimit,
            Limit::Output | Limit::FileSize => Outcome::OutputLimit,
            Limit::Memory => Outcome::MemoryLimit,
            _ => Outcome::Signaled,
        };
        (
            o,
            Some(l),
            format!("{} limit reached; the case was killed", l.as_str()),
        )
    } else if let Some(call) = &facts.seccomp_violation {
        violation = Some(Violation {
            syscall: Some(call.clone()),
            detail: "the seccomp filter stopped this call and hatchery killed the case".to_owned(),
        });
        (
            Outcome::PolicyViolation,
            None,
            format!("{call}: a system call forbidden by the seccomp policy; the case was killed"),
        )
    } else if signal == Some(SIGXCPU) && limits.cpu_us.is_some() {
        (
            Outcome::TimeLimit,
            Some(Limit::Cpu),
            "SIGXCPU: the CPU time rlimit was reached".to_owned(),
        )
    } else if signal == Some(SIGXFSZ) && limits.file_size_bytes.is_some() {
        (
            Outcome::OutputLimit,
            Some(Limit::FileSize),
            "SIGXFSZ: the file size limit was exceeded".to_owned(),
        )
    } else if facts.memory_limit_hit && matches!(signal, Some(SIGSEGV | SIGABRT | SIGBUS | SIGKILL))
    {
        (
            Outcome::MemoryLimit,
            Some(Limit::Memory),
            format!(
                "{} after the cgroup memory limit was reached",
                signal_name(signal.unwrap_or(0))
            ),
        )
    } else if signal == Some(SIGSYS) {
        violation = Some(Violation {
            syscall: None,
            detail: "killed by SIGSYS from the seccomp filter; the kernel does not report which \
                     call to the parent"
                .to_owned(),
        });
        (
            Outcome::PolicyViolation,
            None,
            "SIGSYS: a system call forbidden by the seccomp policy".to_owned(),
        )
    } else if let Some(s) = signal {
        let l = if facts.pids_limit_hit {
            Some(Limit::Pids)
        } else {
            None
        };
        (
            Outcome::Signaled,
            l,
            format!("terminated by {} ({s})", signal_name(s)),
        )
    } else if let Some(c) = exit_code {
        let l = if facts.pids_limit_hit {
            Some(Limit::Pids)
        } else {
            None
        };
        if c == 0 {
            (Outcome::Ok, l, "exited with status 0".to_owned())
        } else {
            (Outcome::NonzeroExit, l, format!("exited with status {c}"))
        }
    } else {
        (
            Outcome::SandboxError,
            None,
            "the sandbox lost track of the case".to_owned(),
        )
    };
    CaseResult {
        outcome,
        reason,
        exit_code,
        signal: signal.map(signal_name),
        signal_number: signal,
        core_dumped,
        limit,
        usage: facts.usage,
        leftover_processes: facts.leftover_processes,
        stdout: facts.stdout,
        stderr: facts.stderr,
        violation,
        error: facts.error,
        tier: tier.to_owned(),
        limits: limits.clone(),
        enforcement,
        ended_ns: facts.ended_ns,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(t: Termination) -> RawFacts {
        RawFacts {
            termination: Some(t),
            ..Default::default()
        }
    }

    fn outcome(f: RawFacts) -> (Outcome, Option<Limit>) {
        let r = decide(f, &Limits::default(), "none", Enforcement::new());
        (r.outcome, r.limit)
    }

    #[test]
    fn a_program_the_kernel_refuses_exits_127_not_sandbox_error() {
        let f = RawFacts {
            exec_failed: Some(
                "ENOENT (No such file or directory); the #! interpreter /nonexistent does not exist"
                    .to_owned(),
            ),
            ..Default::default()
        };
        let r = decide(f, &Limits::default(), "hardened", Enforcement::new());
        assert_eq!(r.outcome, Outcome::NonzeroExit);
        assert_eq!(r.exit_code, Some(127));
        assert_eq!(r.error, None);
        assert_eq!(
            r.reason,
            "cannot execute the program: ENOENT (No such file or directory); the #! \
             interpreter /nonexistent does not exist"
        );
        // A sandbox failure still wins.
        let f = RawFacts {
            exec_failed: Some("x".to_owned()),
            error: Some("the zygote failed".to_owned()),
            ..Default::default()
        };
        let r = decide(f, &Limits::default(), "hardened", Enforcement::new());
        assert_eq!(r.outcome, Outcome::SandboxError);
    }

    #[test]
    fn exit_status_decides_when_nothing_else_happened() {
        assert_eq!(outcome(facts(Termination::Exited(0))).0, Outcome::Ok);
        assert_eq!(
            outcome(facts(Termination::Exited(3))).0,
            Outcome::NonzeroExit
        );
    }

    #[test]
    fn supervisor_kill_beats_the_signal_it_caused() {
        let mut f = facts(Termination::Signaled {
            signal: 9,
            core_dumped: false,
        });
        f.killed_for = Some(Limit::Wall);
        assert_eq!(outcome(f), (Outcome::TimeLimit, Some(Limit::Wall)));
    }

    #[test]
    fn oom_kill_is_memory_limit_even_after_exit_zero() {
        let mut f = facts(Termination::Exited(0));
        f.usage.oom_kills = 1;
        assert_eq!(outcome(f), (Outcome::MemoryLimit, Some(Limit::Memory)));
    }

    #[test]
    fn segv_after_memory_limit_is_memory_limit_but_plain_segv_is_signaled() {
        let seg = Termination::Signaled {
            signal: 11,
            core_dumped: false,
        };
        let mut f = facts(seg);
        f.memory_limit_hit = true;
        assert_eq!(outcome(f).0, Outcome::MemoryLimit);
        assert_eq!(outcome(facts(seg)).0, Outcome::Signaled);
    }

    #[test]
    fn sigsys_is_policy_violation_and_error_is_ours() {
        let f = facts(Termination::Signaled {
            signal: 31,
            core_dumped: false,
        });
        assert_eq!(outcome(f).0, Outcome::PolicyViolation);
        let f = RawFacts {
            error: Some("failed to clone".into()),
            ..Default::default()
        };
        assert_eq!(outcome(f).0, Outcome::SandboxError);
    }

    #[test]
    fn a_named_violation_is_a_policy_violation_with_the_call() {
        let f = RawFacts {
            seccomp_violation: Some("ptrace".into()),
            ..facts(Termination::Signaled {
                signal: 9,
                core_dumped: false,
            })
        };
        let r = decide(f, &Limits::default(), "hardened", Enforcement::new());
        assert_eq!(r.outcome, Outcome::PolicyViolation);
        assert_eq!(r.violation.unwrap().syscall.as_deref(), Some("ptrace"));
        assert!(r.reason.starts_with("ptrace:"), "{}", r.reason);
    }

    #[test]
    fn captured_output_round_trips_text_and_bytes() {
        for data in [b"hello\n".to_vec(), vec![0xff, 0x00, 0xfe]] {
            let c = Captured {
                data: data.clone(),
                bytes: 3,
                truncated: false,
                file: None,
            };
            let j = serde_json::to_value(&c).unwrap();
            if data[0] == b'h' {
                assert_eq!(j["text"], "hello\n");
            } else {
                assert!(j["base64"].is_string());
            }
            let back: Captured = serde_json::from_value(j).unwrap();
            assert_eq!(back, c);
        }
    }

    #[test]
    fn self_sent_limit_signals_without_a_limit_are_just_signals() {
        let f = facts(Termination::Signaled {
            signal: 24,
            core_dumped: false,
        });
        assert_eq!(outcome(f.clone()).0, Outcome::Signaled);
        let limits = Limits {
            cpu_us: Some(1),
            ..Default::default()
        };
        let r = decide(f, &limits, "none", Enforcement::new());
        assert_eq!(r.outcome, Outcome::TimeLimit);
    }

    #[test]
    fn head_tail_keeps_both_ends_and_says_what_it_left_out() {
        let c = Captured {
            data: (0..100u8).collect(),
            bytes: 100,
            truncated: false,
            file: None,
        };
        let k = c.head_tail(10);
        assert!(k.truncated && k.bytes == 100);
        assert_eq!(&k.data[..5], &[0, 1, 2, 3, 4]);
        assert_eq!(&k.data[k.data.len() - 5..], &[95, 96, 97, 98, 99]);
        assert!(String::from_utf8_lossy(&k.data).contains("90 bytes not kept"));
        assert_eq!(c.head_tail(100), c);
    }

    #[test]
    fn signal_names() {
        assert_eq!(signal_name(11), "SIGSEGV");
        assert_eq!(signal_name(35), "SIGRTMIN+1");
    }
}

#[cfg(test)]
mod schema_tests {
    use std::path::PathBuf;

    fn committed(name: &str) -> (PathBuf, String) {
        let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../reports/schema")
            .join(name);
        let s = std::fs::read_to_string(&p).unwrap_or_default();
        (p, s)
    }

    #[test]
    fn committed_schemas_match_the_types() {
        for (name, now) in [
            ("events.schema.json", crate::event_schema_json()),
            ("case-result.schema.json", crate::case_result_schema_json()),
        ] {
            let (path, old) = committed(name);
            if std::env::var("HATCHERY_UPDATE_SCHEMA").is_ok() {
                std::fs::write(&path, &now).unwrap();
                continue;
            }
            assert!(
                old == now,
                "{} drifted from the Rust types; regenerate with `cargo run -p hatchery -- schema \
                 events > reports/schema/events.schema.json` (and `schema case`), or run this test \
                 with HATCHERY_UPDATE_SCHEMA=1",
                path.display()
            );
        }
    }

    #[test]
    fn a_result_validates_against_its_schema() {
        let schema: serde_json::Value =
            serde_json::from_str(&crate::case_result_schema_json()).unwrap();
        let v = jsonschema::validator_for(&schema).unwrap();
        let r = crate::decide(
            crate::RawFacts {
                termination: Some(crate::Termination::Exited(0)),
                ..Default::default()
            },
            &crate::Limits::default(),
            "none",
            crate::Enforcement::new(),
        );
        let j = serde_json::to_value(&r).unwrap();
        assert!(
            v.is_valid(&j),
            "{:?}",
            v.iter_errors(&j).map(|e| e.to_string()).collect::<Vec<_>>()
        );
    }
}

//! Report format v1: a JSON Lines stream of events, each `{"type": ..., "data": {...}}`.
//!
//! `run_started` comes first and carries `schema_version`; then `case_started` /
//! `case_finished` per attempt (finished events in job order); `run_finished` comes last, also
//! when the run was interrupted.

use std::collections::BTreeMap;
use std::io::{self, BufRead, Write};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{CaseResult, Enforcement, Limits, Outcome, SCHEMA_VERSION};

/// One line of the event stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum Event {
    RunStarted(RunStarted),
    CaseStarted(CaseStarted),
    CaseFinished(Box<CaseFinished>),
    /// A case has been running longer than the slow threshold (repeated each period).
    CaseSlow(CaseSlow),
    /// A case will be attempted again (after a failure, or after the executor failed).
    CaseRetrying(CaseRetrying),
    /// A case was not run because a skip rule (e.g. a judge group's `on_reject: break`)
    /// said so after an earlier case failed.
    CaseSkipped(CaseSkipped),
    RunFinished(RunFinished),
    /// A fuzz campaign started (after `run_started`).
    FuzzStarted(FuzzStarted),
    /// Periodic statistics of a fuzz campaign, summed over its workers.
    FuzzStats(FuzzStats),
    /// A fuzz campaign found an input that crashes, hangs, runs out of memory or leaks, and
    /// its replay was triaged.
    CrashFound(Box<CrashFound>),
    /// A fuzz campaign ended (before `run_finished`).
    FuzzFinished(FuzzFinished),
}

/// Facts about the host the run happened on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct HostFacts {
    pub kernel: String,
    /// `v1`, `v2` or `none` (no usable cgroup).
    pub cgroup_version: String,
    pub cpus: u32,
    pub hostname: String,
}

impl HostFacts {
    /// This host, with the cgroup version that a run's enforcement layers show (`v1`, `v2`,
    /// or `none` when memory is limited by rlimits only).
    pub fn of_this_host(enforcement: &crate::Enforcement) -> HostFacts {
        let read = |p: &str| {
            std::fs::read_to_string(p)
                .map(|s| s.trim().to_owned())
                .unwrap_or_default()
        };
        let cgroup = match enforcement
            .get("cgroup_memory")
            .map(|l| l.mechanism.as_str())
        {
            Some(m) if m.starts_with("cgroup v1") => "v1",
            Some(m) if m.starts_with("cgroup v2") => "v2",
            _ => "none",
        };
        HostFacts {
            kernel: read("/proc/sys/kernel/osrelease"),
            cgroup_version: cgroup.into(),
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
            hostname: read("/proc/sys/kernel/hostname"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RunStarted {
    pub schema_version: u32,
    pub hatchery_version: String,
    /// Milliseconds since the Unix epoch.
    pub started_at_ms: u64,
    pub host: HostFacts,
    /// Default tier of the run (cases may override it).
    pub tier: String,
    /// What the default tier enforces on this host.
    pub enforcement: Enforcement,
    /// Default limits (cases may override them).
    pub limits: Limits,
    pub cases: u64,
    pub workers: u32,
}

impl RunStarted {
    pub fn schema_version() -> u32 {
        SCHEMA_VERSION
    }

    /// The first event of a run starting now on this host.
    pub fn now(
        tier: &str,
        enforcement: crate::Enforcement,
        limits: crate::Limits,
        cases: u64,
        workers: u32,
    ) -> RunStarted {
        RunStarted {
            schema_version: SCHEMA_VERSION,
            hatchery_version: env!("CARGO_PKG_VERSION").into(),
            started_at_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            host: HostFacts::of_this_host(&enforcement),
            tier: tier.into(),
            enforcement,
            limits,
            cases,
            workers,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CaseStarted {
    pub id: String,
    /// Position of the case in the input (0-based).
    pub index: u64,
    /// 1 for the first attempt, 2.. for retries.
    pub attempt: u32,
    pub worker: u32,
}

/// A finished attempt: the same object `hatchery run --json` prints, plus where it ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CaseFinished {
    pub id: String,
    pub index: u64,
    pub attempt: u32,
    pub worker: u32,
    /// The outcome the job expected (default `ok`); ignored when `expected_verdict` is set.
    pub expected: Outcome,
    /// The verdict a judge front end gave this case (AC, WA, TLE, ...), when it gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<crate::Verdict>,
    /// The verdict the case was expected to get; then `passed` compares verdicts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_verdict: Option<crate::Verdict>,
    /// Whether the case met its expectation: its outcome is `expected`, or its verdict is
    /// `expected_verdict` (a submission that gets its expected WA passes).
    pub passed: bool,
    /// Passed only after a failed attempt.
    pub flaky: bool,
    /// Whether another attempt follows this one.
    pub will_retry: bool,
    #[serde(flatten)]
    pub result: CaseResult,
}

/// A case running longer than the slow threshold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CaseSlow {
    pub id: String,
    pub index: u64,
    pub attempt: u32,
    pub worker: u32,
    /// Wall time so far, microseconds.
    pub elapsed_us: u64,
}

/// Why a case is attempted again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RetryCause {
    /// The attempt did not meet its expectation and retries remain.
    Failed,
    /// The executor failed (its zygote died, hung or was poisoned): the attempt has no
    /// result of the program, and the case runs once more on a fresh zygote.
    ExecutorFailed,
}

/// A case that will run again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CaseRetrying {
    pub id: String,
    pub index: u64,
    /// The attempt that failed.
    pub attempt: u32,
    pub worker: u32,
    pub cause: RetryCause,
    /// What failed, in words.
    pub reason: String,
    /// Wait before the next attempt, microseconds.
    pub delay_us: u64,
}

/// A case that was not run because of a skip rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CaseSkipped {
    pub id: String,
    pub index: u64,
    /// The case whose failure caused the skip.
    pub because_of: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RunFinished {
    /// Final outcome counts (last attempt of each case that ran).
    pub outcomes: BTreeMap<Outcome, u64>,
    pub passed: u64,
    pub failed: u64,
    pub flaky: u64,
    /// Cases never started (fail-fast, interruption).
    pub not_run: u64,
    /// Cases not run because a skip rule said so (see `case_skipped`).
    #[serde(default)]
    pub skipped: u64,
    pub duration_us: u64,
    /// SIGINT/SIGTERM stopped the run; cases that were running were killed and have no
    /// `case_finished` event.
    pub interrupted: bool,
    /// Stopped early because `--max-fail` failures were reached.
    pub fail_fast: bool,
    /// Cases that were running when the run was interrupted (killed, no `case_finished`).
    pub killed_running: u64,
    /// Executors (zygotes) that could not be started or replaced.
    pub worker_errors: Vec<String>,
}

/// A fuzz campaign: its target, engine and directories.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FuzzStarted {
    /// The fuzz target binary.
    pub binary: String,
    /// `libfuzzer` (AFL++ is not supported yet).
    pub engine: String,
    pub corpus: String,
    pub artifacts: String,
    pub workers: u32,
    /// The total time budget, milliseconds (`None`: until interrupted).
    pub max_total_time_ms: Option<u64>,
    /// The per-input timeout given to the engine, milliseconds.
    pub timeout_ms: u64,
    /// The memory limit of each worker (its cgroup), bytes.
    pub memory_bytes: u64,
    /// The flags passed to the engine, as given.
    pub engine_args: Vec<String>,
}

/// Statistics of a campaign so far, over all its workers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FuzzStats {
    /// Milliseconds since the campaign started.
    pub elapsed_ms: u64,
    /// Inputs executed.
    pub execs: u64,
    /// Executions per second over the last period (all workers).
    pub execs_per_s: u64,
    /// Inputs in the shared corpus.
    pub corpus_size: u64,
    /// Coverage features (libFuzzer's `ft:`), the highest any worker reported.
    pub features: u64,
    /// Coverage points (libFuzzer's `cov:`), the highest any worker reported.
    pub coverage: u64,
    /// Peak RSS of a worker, MiB, as the engine reports it.
    pub rss_mb: u64,
    /// Findings (artifacts) so far, and distinct signatures among the triaged ones.
    pub crashes: u64,
    pub unique_crashes: u64,
    /// Workers running now.
    pub workers: u32,
}

/// What kind of finding an artifact is, from the facts of its replay.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// A signal, a sanitizer report, a Rust panic, a nonzero exit of the target.
    Crash,
    /// The input ran longer than the per-input timeout (libFuzzer's, or the case's limit).
    Timeout,
    /// Memory beyond the limit: the cgroup's OOM event or the engine's RSS/malloc limit.
    Oom,
    /// LeakSanitizer found leaks.
    Leak,
    /// The artifact did not reproduce its failure when replayed.
    NotReproduced,
}

impl FindingKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::Crash => "crash",
            FindingKind::Timeout => "timeout",
            FindingKind::Oom => "oom",
            FindingKind::Leak => "leak",
            FindingKind::NotReproduced => "not_reproduced",
        }
    }
}

/// One triaged finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CrashFound {
    pub kind: FindingKind,
    /// What the replay showed, e.g. `heap-buffer-overflow WRITE`, `SEGV on unknown address`,
    /// `rust panic: index out of bounds`, `deadly signal SIGABRT`, `timeout (wall)`.
    pub reason: String,
    /// The deduplication key: the reason's class plus the top frames with runtime frames
    /// (sanitizer, libFuzzer, libc, Rust's panic machinery) dropped.
    pub signature: String,
    /// The top frames of the signature (function names; a Rust panic's location first).
    pub frames: Vec<String>,
    /// The artifact, in the artifacts directory under libFuzzer's name
    /// (`crash-<sha1>`, `timeout-`, `oom-`, `leak-`).
    pub artifact: String,
    /// Input size, bytes.
    pub size: u64,
    /// The input, base64.
    pub input_base64: String,
    /// The first artifact with this signature (`false`: a duplicate, kept up to a bound).
    pub new_signature: bool,
    /// The minimized reproducer (`minimized-from-<sha1>`), when minimization kept the
    /// signature.
    pub minimized: Option<String>,
    /// Size of the minimized reproducer, bytes.
    pub minimized_size: Option<u64>,
    /// The command that reproduces it.
    pub reproduce: String,
    /// The replay's facts: outcome, exit code, signal, usage.
    pub replay: CaseResult,
}

/// The end of a campaign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FuzzFinished {
    pub execs: u64,
    pub duration_ms: u64,
    pub corpus_size: u64,
    pub features: u64,
    /// Artifacts found, and distinct signatures among them.
    pub crashes: u64,
    pub unique_crashes: u64,
    /// Worker cases that ended in `sandbox_error` (ours, never the target's).
    pub worker_errors: Vec<String>,
    pub interrupted: bool,
}

/// Writes events as JSON Lines, flushing each line so a partial report is always valid.
pub struct JsonLinesWriter<W: Write> {
    out: W,
}

impl JsonLinesWriter<io::BufWriter<std::fs::File>> {
    /// A writer to a new (or truncated) file at `path`.
    pub fn create(path: &std::path::Path) -> io::Result<Self> {
        Ok(JsonLinesWriter::new(io::BufWriter::new(
            std::fs::File::create(path)?,
        )))
    }
}

impl<W: Write> JsonLinesWriter<W> {
    pub fn new(out: W) -> Self {
        JsonLinesWriter { out }
    }
    pub fn write(&mut self, e: &Event) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, e)?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }
    pub fn into_inner(self) -> W {
        self.out
    }
}

/// Largest line the reader accepts.
pub const MAX_EVENT_LINE: usize = 256 << 20;

/// Errors reading a report.
#[derive(Debug)]
pub struct ReadError {
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ReadError {}

/// Reads a JSON Lines report back. Checks that it starts with `run_started` of a schema
/// version this reader knows.
pub fn read_events<R: BufRead>(r: R) -> Result<Vec<Event>, ReadError> {
    let mut out = Vec::new();
    for (i, line) in r.split(b'\n').enumerate() {
        let line = line.map_err(|e| ReadError {
            line: i + 1,
            message: e.to_string(),
        })?;
        out.push(parse_event_line(&line, i + 1, out.is_empty())?);
    }
    Ok(out)
}

/// Parses one line of a report (`first`: it must be `run_started`).
pub fn parse_event_line(line: &[u8], n: usize, first: bool) -> Result<Event, ReadError> {
    if line.len() > MAX_EVENT_LINE {
        return Err(ReadError {
            line: n,
            message: format!("line longer than {MAX_EVENT_LINE} bytes"),
        });
    }
    let e: Event = serde_json::from_slice(line).map_err(|e| ReadError {
        line: n,
        message: e.to_string(),
    })?;
    if first {
        match &e {
            // Version 2 only added events and optional fields: version 1 streams read as is.
            Event::RunStarted(rs) if (1..=SCHEMA_VERSION).contains(&rs.schema_version) => {}
            Event::RunStarted(rs) => {
                return Err(ReadError {
                    line: n,
                    message: format!(
                    "schema version {} is not supported (this reader knows 1 to {SCHEMA_VERSION})",
                    rs.schema_version
                ),
                })
            }
            _ => {
                return Err(ReadError {
                    line: n,
                    message: "the first event must be run_started".into(),
                })
            }
        }
    }
    Ok(e)
}

/// The JSON Schema of one event line, as committed under `reports/schema/`.
pub fn event_schema_json() -> String {
    let schema = schemars::schema_for!(Event);
    let mut s = serde_json::to_string_pretty(&schema).expect("schema serializes");
    s.push('\n');
    s
}

/// The JSON Schema of `hatchery run --json` output.
pub fn case_result_schema_json() -> String {
    let schema = schemars::schema_for!(CaseResult);
    let mut s = serde_json::to_string_pretty(&schema).expect("schema serializes");
    s.push('\n');
    s
}

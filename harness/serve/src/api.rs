//! The request and response shapes of `POST /run`: go-judge's REST model for its common
//! subset (field names and units as go-judge spells them: limits in nanoseconds and bytes,
//! statuses as go-judge names them), plus hatchery's own fields beside the results.
//!
//! Unknown fields are ignored, as go-judge's decoder does (its own examples carry fields it
//! does not read); fields whose meaning we cannot provide (`tty`, streams, `copyOutDir`, a
//! pipe `proxy`) are refused by [`crate::exec`] with a message naming them.

use std::collections::BTreeMap;

use hatchery_report::{Enforcement, Limit, Limits, Outcome};
use serde::{Deserialize, Serialize};

/// One `POST /run` body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    #[serde(default)]
    pub request_id: Option<String>,
    pub cmd: Vec<Cmd>,
    #[serde(default)]
    pub pipe_mapping: Vec<PipeMap>,
}

/// One command: one case on the engine.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cmd {
    pub args: Vec<String>,
    #[serde(default)]
    pub env: Vec<String>,
    /// File descriptors 0, 1 and 2 (`null`: not connected).
    #[serde(default)]
    pub files: Vec<Option<CmdFile>>,
    /// CPU time, ns.
    #[serde(default)]
    pub cpu_limit: u64,
    /// Deprecated name of `clockLimit` (go-judge prefers it when set).
    #[serde(default)]
    pub real_cpu_limit: u64,
    /// Wall-clock time, ns.
    #[serde(default)]
    pub clock_limit: u64,
    /// Bytes.
    #[serde(default)]
    pub memory_limit: u64,
    /// Bytes.
    #[serde(default)]
    pub stack_limit: u64,
    #[serde(default)]
    pub proc_limit: u64,
    #[serde(default)]
    pub copy_in: BTreeMap<String, CmdFile>,
    #[serde(default)]
    pub copy_out: Vec<String>,
    #[serde(default)]
    pub copy_out_cached: Vec<String>,
    /// Largest file copied out, bytes (0: the server's maximum).
    #[serde(default)]
    pub copy_out_max: u64,
    #[serde(default)]
    pub copy_out_dir: Option<String>,
    #[serde(default)]
    pub tty: bool,
}

/// A file: inline `content`, a stored `fileId`, a `src` path (inside the store only), or a
/// collector (`name` + `max`) for an output descriptor.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CmdFile {
    pub src: Option<String>,
    pub content: Option<String>,
    pub file_id: Option<String>,
    pub name: Option<String>,
    pub max: Option<i64>,
    pub symlink: Option<String>,
    pub stream_in: Option<serde_json::Value>,
    pub stream_out: Option<serde_json::Value>,
    #[serde(default)]
    pub pipe: bool,
}

/// One end of a pipe: a command and its descriptor.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct PipeIndex {
    pub index: usize,
    pub fd: u32,
}

/// A pipe from one command's output descriptor (`in`, the end written) to another's input
/// (`out`, the end read).
#[derive(Debug, Clone, Deserialize)]
pub struct PipeMap {
    #[serde(rename = "in")]
    pub input: PipeIndex,
    #[serde(rename = "out")]
    pub output: PipeIndex,
    #[serde(default)]
    pub proxy: bool,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub max: Option<i64>,
}

/// go-judge's statuses, spelled as it spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Status {
    Accepted,
    #[serde(rename = "Memory Limit Exceeded")]
    MemoryLimitExceeded,
    #[serde(rename = "Time Limit Exceeded")]
    TimeLimitExceeded,
    #[serde(rename = "Output Limit Exceeded")]
    OutputLimitExceeded,
    #[serde(rename = "File Error")]
    FileError,
    #[serde(rename = "Nonzero Exit Status")]
    NonzeroExitStatus,
    Signalled,
    #[serde(rename = "Dangerous Syscall")]
    DangerousSyscall,
    #[serde(rename = "Internal Error")]
    InternalError,
}

impl Status {
    /// The status of an outcome (`policy_violation` is go-judge's "Dangerous Syscall";
    /// `sandbox_error`, ours, its "Internal Error").
    pub fn of(o: Outcome) -> Status {
        match o {
            Outcome::Ok => Status::Accepted,
            Outcome::NonzeroExit => Status::NonzeroExitStatus,
            Outcome::Signaled => Status::Signalled,
            Outcome::TimeLimit => Status::TimeLimitExceeded,
            Outcome::MemoryLimit => Status::MemoryLimitExceeded,
            Outcome::OutputLimit => Status::OutputLimitExceeded,
            Outcome::PolicyViolation => Status::DangerousSyscall,
            Outcome::SandboxError => Status::InternalError,
        }
    }
}

/// go-judge's file error kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum FileErrorType {
    CopyInOpenFile,
    CopyInCreateFile,
    CopyOutOpen,
    CopyOutNotRegularFile,
    CopyOutSizeExceeded,
    CopyOutCreateFile,
    CollectSizeExceeded,
}

#[derive(Debug, Clone, Serialize)]
pub struct FileError {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: FileErrorType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// One command's result: go-judge's fields first, then hatchery's.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunResult {
    pub status: Status,
    /// Exit code, or the signal number when a signal ended the program.
    pub exit_status: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// CPU time, ns.
    pub time: u64,
    /// Peak memory, bytes.
    pub memory: u64,
    /// Wall-clock time, ns.
    pub run_time: u64,
    /// Peak number of processes, when the host counts it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proc_peak: Option<u64>,
    /// Copied-out files as text (invalid UTF-8 replaced; the exact bytes are in
    /// `filesBase64`).
    pub files: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub file_ids: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub file_error: Vec<FileError>,
    // hatchery's own fields.
    /// The exact bytes of every copied-out file that is not valid UTF-8.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub files_base64: BTreeMap<String, String>,
    /// The engine's outcome (absent when the case never ran: a file error before it).
    pub outcome: Option<Outcome>,
    /// The deciding fact, in words.
    pub reason: String,
    /// The signal's name (`SIGSEGV`) when one ended the program.
    pub signal: Option<String>,
    /// Which limit ended it.
    pub limit: Option<Limit>,
    /// The limits the case ran under, after the server's maximums.
    pub limits: Option<Limits>,
    /// What this host enforced, per layer.
    pub enforcement: Option<Enforcement>,
}

impl RunResult {
    /// A command that did not run: `status` with `error` saying why.
    pub fn not_run(status: Status, error: String) -> RunResult {
        RunResult {
            status,
            exit_status: 0,
            reason: error.clone(),
            error: Some(error),
            time: 0,
            memory: 0,
            run_time: 0,
            proc_peak: None,
            files: BTreeMap::new(),
            file_ids: BTreeMap::new(),
            file_error: Vec::new(),
            files_base64: BTreeMap::new(),
            outcome: None,
            signal: None,
            limit: None,
            limits: None,
            enforcement: None,
        }
    }
}

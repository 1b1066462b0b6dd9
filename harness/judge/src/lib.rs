//! The online-judge front end of hatchery: problem packages in the Kattis/ICPC format
//! (legacy, 2023-07 and 2025-09, plus DOMjudge's variant), submissions compiled and run in the
//! sandbox, output checked by the built-in token checker, a Kattis output validator or a
//! testlib checker (both sandboxed), interactive problems over FIFOs, verdicts and scores,
//! and `--verify-submissions` for a package's own submissions.
//!
//! The entry point for the command line is [`cli::run`]; `hatchery judge` and the
//! standalone `hatchery-judge` binary both call it.

pub mod checker;
pub mod cli;
pub mod exec;
pub mod grade;
pub mod inputs;
pub mod judge;
pub mod lang;
pub mod problem;
pub mod report;
pub mod scoring;
pub mod setup;
pub mod subyaml;
pub mod timelimit;
pub mod verdict;
pub mod verify;
pub mod workdir;

pub use judge::{CaseReport, Judge, JudgeReport, Submission, SubmissionKind};
pub use verdict::Verdict;

pub use hatchery_report::{error_chain, fmt_bytes, fmt_us};

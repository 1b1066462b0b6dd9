//! The online-judge front end of hatchery: problem packages in the Kattis/ICPC format
//! (legacy and 2023-07, plus DOMjudge's variant), submissions compiled and run in the
//! sandbox, output checked by the built-in token checker, a Kattis output validator or a
//! testlib checker (both sandboxed), interactive problems over FIFOs, verdicts and scores,
//! and `--verify-submissions` for a package's own submissions.
//!
//! The entry point for the command line is [`cli::run`]; `hatchery judge` and the
//! standalone `hatchery-judge` binary both call it.

pub mod checker;
pub mod cli;
pub mod engine;
pub mod judge;
pub mod lang;
pub mod problem;
pub mod report;
pub mod scoring;
pub mod verdict;
pub mod verify;

pub use judge::{CaseReport, Judge, JudgeReport, Submission, SubmissionKind};
pub use verdict::Verdict;

/// `1.23 ms`-style durations.
pub fn fmt_us(us: u64) -> String {
    if us < 1000 {
        format!("{us} µs")
    } else if us < 1_000_000 {
        format!("{:.2} ms", us as f64 / 1000.0)
    } else {
        format!("{:.3} s", us as f64 / 1e6)
    }
}

/// `1.5 MiB`-style sizes.
pub fn fmt_bytes(b: u64) -> String {
    const K: f64 = 1024.0;
    let f = b as f64;
    if f < K {
        format!("{b} B")
    } else if f < K * K {
        format!("{:.1} KiB", f / K)
    } else if f < K * K * K {
        format!("{:.1} MiB", f / (K * K))
    } else {
        format!("{:.2} GiB", f / (K * K * K))
    }
}

/// An error and its sources, `: `-separated.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

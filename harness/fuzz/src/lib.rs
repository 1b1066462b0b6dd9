//! Fuzz campaigns on existing engines (libFuzzer) with every execution a case on the engine:
//! sandboxed long-running workers, triage of what they find by replaying it as a case,
//! deduplication by signature, minimization that keeps the signature, replay for regression
//! runs, and the reports (JSON Lines events, JUnit).

pub mod afl;
pub mod campaign;
pub mod cargo_fuzz;
pub mod cli;
pub mod libfuzzer;
pub mod replay;
pub mod target;
pub mod triage;

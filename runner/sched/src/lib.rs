//! The scheduler: takes cases, hands each to a free executor (one per worker), retries,
//! stops early, reacts to cancellation, and emits the event stream in a deterministic order.
//! It knows nothing about sandboxes: it runs on the [`Executor`] trait, so it is tested with
//! a fake executor.

pub mod jobs;
mod pool;

pub use jobs::{parse_jobs, Job, JobError, JobLimits};
pub use pool::{run, Executor, ExecutorFactory, Interrupt, Options, Reporter};

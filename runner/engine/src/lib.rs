//! The engine: the one place where hatchery executes cases. Front ends (batch, cargo, judge,
//! fuzz, the service) turn their workload into [`Unit`]s and render the [`Event`]s this crate
//! emits; none of them executes anything itself.
//!
//! - [`unit`]: the typed unit of work and what it expects.
//! - [`exec`]: the [`Executor`] trait and its one sandbox implementation, [`SandboxExecutor`]:
//!   zygotes keyed by what must differ, pinning, replacement of dead, hung or poisoned zygotes,
//!   interruption. Executor failures are [`ExecError`]s, never the target's result.
//! - [`dispatch`]: runs units on a [`Pool`] of executors: statistics, retries and flaky cases,
//!   fail-fast, skip rules, slow notices, cancellation, events in a deterministic order.
//! - [`parse`]: durations, sizes and `K=V` pairs as every front end's options spell them.
//!
//! [`Event`]: hatchery_report::Event

pub mod dispatch;
pub mod exec;
pub mod parse;
pub mod unit;

pub use dispatch::{
    cancel_on_signals, run, BreakGroupOnFailure, Options, Reporter, RunSpec, SkipRule, Work,
};
pub use exec::{
    ExecError, ExecSettings, Executor, Interrupt, PairSide, Pool, SandboxExecutor, ZygoteKey,
};
pub use hatchery_sandbox::{LimitError, Network, View};
pub use unit::{Attempt, Expect, RetryPolicy, Unit};

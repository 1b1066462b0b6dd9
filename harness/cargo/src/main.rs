//! `cargo-hatchery`: `cargo hatchery test`, `cargo hatchery list`, and the target runner.
//! The same binary is the zygote (`cargo-hatchery __zygote`).

use std::process::ExitCode;

fn main() -> ExitCode {
    // The zygote entry point must run before anything else, before any thread exists.
    hatchery_sandbox::zygote::enter_if_asked();
    ExitCode::from(cargo_hatchery::main_with(std::env::args_os().collect()))
}

//! `cargo-hatchery`: `cargo hatchery test`, `cargo hatchery list`, and the target runner.
//! The same binary is the zygote (`cargo-hatchery __zygote`).

use std::process::ExitCode;

fn main() -> ExitCode {
    // The zygote entry point must run before anything else, before any thread exists.
    if std::env::args_os().nth(1).as_deref() == Some(std::ffi::OsStr::new("__zygote")) {
        hatchery_sandbox::zygote::main();
    }
    ExitCode::from(cargo_hatchery::main_with(std::env::args_os().collect()))
}

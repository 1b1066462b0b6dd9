//! `hatchery-worker`: `hatchery worker` on its own (the scale-out worker; its own zygote).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

#[derive(Parser)]
#[command(name = "hatchery-worker", version, about = "Run the /run requests a `hatchery serve --redis` queues.", after_help = hatchery_serve::worker::EXIT_CODES)]
struct Cli {
    #[command(flatten)]
    args: hatchery_serve::worker::WorkerArgs,
}

fn main() -> ExitCode {
    // The zygote entry point must run before anything else creates threads.
    hatchery_sandbox::zygote::enter_if_asked();
    let code = match Cli::try_parse() {
        Ok(c) => hatchery_serve::worker::run(c.args, PathBuf::from("/proc/self/exe")),
        Err(e) => {
            let _ = e.print();
            if e.use_stderr() {
                hatchery_report::exit::USAGE
            } else {
                hatchery_report::exit::OK
            }
        }
    };
    hatchery_sandbox::cgroup::release();
    ExitCode::from(code)
}

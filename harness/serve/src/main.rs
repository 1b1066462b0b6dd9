//! `hatchery-serve`: the service on its own (the same as `hatchery serve`). The binary is
//! its own zygote (`hatchery-serve __zygote`), like `hatchery`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

#[derive(Parser)]
#[command(name = "hatchery-serve", version, about = "Run hatchery as a go-judge-compatible HTTP service.", after_help = hatchery_serve::EXIT_CODES)]
struct Cli {
    #[command(flatten)]
    args: hatchery_serve::ServeArgs,
}

fn main() -> ExitCode {
    // The zygote entry point must run before anything else creates threads.
    hatchery_sandbox::zygote::enter_if_asked();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                hatchery_report::exit::USAGE
            } else {
                hatchery_report::exit::OK
            });
        }
    };
    let code = hatchery_serve::run(cli.args, PathBuf::from("/proc/self/exe"));
    hatchery_sandbox::cgroup::release();
    ExitCode::from(code)
}

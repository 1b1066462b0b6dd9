//! `hatchery-judge`: the judge on its own (the same as `hatchery judge`). The binary is its
//! own zygote (`hatchery-judge __zygote`), like `hatchery`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

#[derive(Parser)]
#[command(name = "hatchery-judge", version, about = "Judge a submission against a Kattis/ICPC problem package in the hatchery sandbox.", after_help = hatchery_judge::cli::EXIT_CODES)]
struct Cli {
    #[command(flatten)]
    args: hatchery_judge::cli::JudgeArgs,
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
    ExitCode::from(hatchery_judge::cli::run(
        cli.args,
        PathBuf::from("/proc/self/exe"),
    ))
}

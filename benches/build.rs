//! Builds the floor's target, a static no-libc no-op (`noop.c`), into OUT_DIR and passes its
//! path to the benchmarks as `HATCHERY_BENCH_NOOP`. Without gcc the variable is empty and the
//! benchmarks refuse to run, naming the missing compiler; the rest of the workspace still
//! builds.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=noop.c");
    println!("cargo:rerun-if-env-changed=CC");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("noop");
    let cc = std::env::var("CC").unwrap_or_else(|_| "gcc".into());
    let status = Command::new(&cc)
        .args([
            "-nostdlib",
            "-static",
            "-O2",
            "-ffreestanding",
            "-fno-stack-protector",
            "-fno-asynchronous-unwind-tables",
            "-Wl,--build-id=none",
            "-o",
        ])
        .arg(&out)
        .arg("noop.c")
        .status();
    match status {
        Ok(s) if s.success() => println!("cargo:rustc-env=HATCHERY_BENCH_NOOP={}", out.display()),
        Ok(s) => {
            println!(
                "cargo:warning={cc} failed to build noop.c ({s}); the benchmarks will not run"
            );
            println!("cargo:rustc-env=HATCHERY_BENCH_NOOP=");
        }
        Err(e) => {
            println!("cargo:warning=cannot run {cc} ({e}); the benchmarks will not run");
            println!("cargo:rustc-env=HATCHERY_BENCH_NOOP=");
        }
    }
}

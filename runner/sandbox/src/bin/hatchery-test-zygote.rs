//! Test-only entry point: `hatchery-test-zygote __zygote` is a zygote, for the integration
//! tests of this crate (which has no binary of its own otherwise).

fn main() {
    match std::env::args().nth(1).as_deref() {
        Some("__zygote") => hatchery_sandbox::zygote::main(),
        _ => {
            eprintln!(
                "usage: hatchery-test-zygote __zygote (started by hatchery_sandbox::Sandbox)"
            );
            std::process::exit(2);
        }
    }
}

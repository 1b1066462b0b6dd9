//! Fixture for nextest configuration keys (see `.config/nextest.toml` and
//! harness/cargo/tests/nextest_keys.rs). Several tests are *meant* to leak, hang or fail.

#[cfg(test)]
mod leak {
    /// Starts `sleep <secs>` with the test's stdout and stderr and returns without waiting.
    fn leave_sleeping(secs: &str) {
        let child = std::process::Command::new("sleep")
            .arg(secs)
            .spawn()
            .expect("spawn sleep");
        std::mem::forget(child);
    }

    /// A leak under any leak-timeout shorter than 30 s.
    #[test]
    fn holds_output() {
        leave_sleeping("30");
    }

    /// The same, for a second verdict under another override.
    #[test]
    fn holds_output_too() {
        leave_sleeping("30");
    }

    /// Leaves `sleep 30` with neither stdout nor stderr (all three on /dev/null): no leak,
    /// as nextest counts them (it is still killed).
    #[test]
    fn detached_child() {
        let child = std::process::Command::new("sleep")
            .arg("30")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn sleep");
        std::mem::forget(child);
    }

    /// The child ends 100 ms later: no leak under a leak-timeout of seconds.
    #[test]
    fn child_ends_in_time() {
        leave_sleeping("0.1");
    }
}

#[cfg(test)]
mod term {
    use std::os::unix::process::CommandExt as _;

    /// Becomes a shell with `trap` for SIGTERM (the test's own process: no `unsafe` signal
    /// handler in the fixture), which says `said` and waits.
    fn become_shell_trapping_sigterm(trap: &str, said: &str) -> ! {
        let script = format!("trap '{trap}' TERM; echo '{said}'; sleep 60 & wait; sleep 60");
        let e = std::process::Command::new("/bin/sh")
            .args(["-c", &script])
            .exec();
        panic!("cannot run /bin/sh: {e}");
    }

    /// Ignores SIGTERM: only SIGKILL ends it.
    #[test]
    fn ignores_sigterm() {
        become_shell_trapping_sigterm("", "ignoring SIGTERM");
    }

    /// Exits with status 0 on SIGTERM.
    #[test]
    fn exits_on_sigterm() {
        become_shell_trapping_sigterm("exit 0", "exiting on SIGTERM");
    }
}

#[cfg(test)]
mod retry {
    #[test]
    fn always_fails() {
        panic!("fails on every attempt");
    }
}

/// Trivial tests whose start order and output the configuration changes.
#[cfg(test)]
mod order {
    #[test]
    fn a() {
        println!("output of order::a");
    }
    #[test]
    fn b() {
        println!("output of order::b");
    }
    #[test]
    fn c() {
        println!("output of order::c");
    }
    #[test]
    fn d() {
        println!("output of order::d");
    }
    #[test]
    fn e_fails() {
        println!("output of order::e_fails");
        panic!("deliberate failure");
    }
}

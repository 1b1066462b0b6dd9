//! Fixture for `cargo hatchery test`: one test per kind of outcome. The tests are *meant* to
//! fail, crash, leak and hang; harness/cargo/tests/ checks what the runner reports for each.
//!
//! `HATCHERY_FIXTURE_STATE` names a directory writable by the test's uid that survives between
//! attempts (the integration tests pass it with `--env`); `flaky` and `fs` need it.

pub fn add(a: u64, b: u64) -> u64 {
    a + b
}

#[cfg(test)]
mod basics {
    #[test]
    fn passes() {
        assert_eq!(super::add(2, 2), 4);
    }

    #[test]
    fn fails() {
        println!("stdout line before the failure");
        eprintln!("stderr line before the failure");
        assert_eq!(super::add(1, 1), 3, "deliberate failure");
    }

    #[test]
    #[should_panic(expected = "expected panic")]
    fn should_panic_passes() {
        panic!("expected panic");
    }

    #[test]
    #[ignore]
    fn ignored_passes() {}
}

#[cfg(test)]
mod crashes {
    #[test]
    fn segfaults() {
        // Dies of SIGSEGV, sent to itself by kill(1) (no unsafe code in the fixture). Rust's
        // own SIGSEGV handler (stack overflow detection) lets the first one pass and restores
        // the default action: the next one kills.
        let me = std::process::id().to_string();
        for _ in 0..50 {
            let _ = std::process::Command::new("kill")
                .args(["-SEGV", &me])
                .status();
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    #[test]
    fn aborts() {
        std::process::abort();
    }
}

#[cfg(test)]
mod resources {
    use std::time::Duration;

    #[test]
    fn slow() {
        std::thread::sleep(Duration::from_millis(1200));
    }

    #[test]
    fn memory_hungry() {
        // 96 MiB, every page touched.
        let mut v = vec![0u8; 96 << 20];
        for i in (0..v.len()).step_by(4096) {
            v[i] = i as u8;
        }
        std::hint::black_box(&v);
    }

    #[test]
    fn leaks_a_process() {
        let child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("spawn sleep");
        std::mem::forget(child);
    }

    #[test]
    #[ignore]
    fn hangs() {
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    }
}

#[cfg(test)]
mod env {
    #[test]
    fn cargo_env() {
        let dir = std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR");
        assert_eq!(dir, env!("CARGO_MANIFEST_DIR"));
        assert_eq!(std::env::current_dir().unwrap(), std::path::Path::new(&dir));
        assert_eq!(std::env::var("CARGO_PKG_NAME").unwrap(), "alpha");
        assert_eq!(std::env::var("CARGO_PKG_VERSION").unwrap(), "0.3.1");
        assert_eq!(std::env::var("CARGO_PKG_VERSION_MINOR").unwrap(), "3");
        assert_eq!(std::env::var("CARGO_CRATE_NAME").unwrap(), "alpha");
        let bin = std::env::var("CARGO_BIN_EXE_alpha-tool").expect("CARGO_BIN_EXE_alpha-tool");
        assert!(std::path::Path::new(&bin).exists(), "{bin}");
    }

    #[test]
    fn private_tmp() {
        // Each case gets a fresh /tmp: nothing an earlier case wrote is visible.
        let p = std::path::Path::new("/tmp/hatchery-fixture-private-tmp");
        assert!(!p.exists(), "a file from another case is visible in /tmp");
        std::fs::write(p, b"x").unwrap();
    }
}

#[cfg(test)]
mod net {
    #[test]
    fn binds_localhost() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        println!("bound {}", l.local_addr().unwrap());
    }
}

#[cfg(test)]
mod state {
    use std::path::PathBuf;

    fn dir() -> PathBuf {
        PathBuf::from(
            std::env::var_os("HATCHERY_FIXTURE_STATE").expect(
                "HATCHERY_FIXTURE_STATE must name a directory that persists between attempts",
            ),
        )
    }

    /// Fails on odd attempts (1st, 3rd, ...) and passes on even ones.
    #[test]
    fn flaky() {
        let f = dir().join("flaky-counter");
        let n: u32 = std::fs::read_to_string(&f)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        std::fs::write(&f, (n + 1).to_string()).unwrap();
        assert!(n % 2 == 1, "flaky: attempt {} fails", n + 1);
    }

    /// Writes outside /tmp: works where the runner lets cases write the state directory
    /// (`--writable`, in any tier), fails in tier lockdown without it (read-only root).
    #[test]
    fn writes_outside_tmp() {
        std::fs::write(dir().join("written"), b"hello").expect("write to the state directory");
    }
}

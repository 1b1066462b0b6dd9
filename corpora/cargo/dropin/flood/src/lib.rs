//! Tests whose behaviour the drop-in tests of harness/cargo check (see corpora/cargo/README.md).

#[cfg(test)]
mod output {
    use std::io::Write as _;

    /// Like bytes 1.12.2's `advance_bytes_mut_remaining_capacity`: a passing test that writes
    /// more than 100 MiB to stderr.
    #[test]
    fn floods_stderr_and_passes() {
        let line = [b'x'; 1023];
        let mut e = std::io::stderr().lock();
        for i in 0..120 * 1024 {
            write!(e, "{i:08} ").unwrap();
            e.write_all(&line[..1014]).unwrap();
            e.write_all(b"\n").unwrap();
        }
        writeln!(e, "the last line of stderr").unwrap();
    }

    /// 6 MiB of numbered lines on stdout, then a failure: head and tail are shown.
    #[test]
    fn floods_stdout_and_fails() {
        let mut o = std::io::stdout().lock();
        writeln!(o, "the first line of stdout").unwrap();
        for i in 0..96 * 1024 {
            writeln!(o, "line {i:08} {}", "y".repeat(49)).unwrap();
        }
        writeln!(o, "the last line of stdout").unwrap();
        drop(o);
        panic!("failed after a lot of output");
    }
}

#[cfg(test)]
mod live {
    use std::path::PathBuf;
    use std::time::{Duration, Instant};

    /// Prints a line, then waits (at most 60 s) for `$HATCHERY_FIXTURE_STATE/go`, which the
    /// checking test creates when it has seen the line: only live output lets it pass quickly.
    #[test]
    fn waits_for_its_line_to_be_seen() {
        let Some(dir) = std::env::var_os("HATCHERY_FIXTURE_STATE") else {
            return;
        };
        println!("live: waiting for go");
        let go = PathBuf::from(dir).join("go");
        let start = Instant::now();
        while !go.exists() {
            assert!(start.elapsed() < Duration::from_secs(60), "nobody saw the line");
            std::thread::sleep(Duration::from_millis(20));
        }
        println!("live: saw go");
    }
}

#[cfg(test)]
mod threads {
    /// What a threaded test is given: the CPUs it may run on.
    #[test]
    fn reports_parallelism() {
        let n = std::thread::available_parallelism().map_or(0, |n| n.get());
        println!("available_parallelism={n}");
        if let Ok(want) = std::env::var("HATCHERY_FIXTURE_MIN_CPUS") {
            assert!(n >= want.parse::<usize>().unwrap(), "only {n} CPUs");
        }
    }
}

#[cfg(test)]
mod flaky {
    /// Fails on odd attempts (a counter in `$HATCHERY_FIXTURE_STATE`), passes otherwise.
    #[test]
    fn fails_first() {
        let Some(dir) = std::env::var_os("HATCHERY_FIXTURE_STATE") else {
            return;
        };
        let f = std::path::PathBuf::from(dir).join("flaky");
        let n: u32 = std::fs::read_to_string(&f)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        std::fs::write(&f, (n + 1).to_string()).unwrap();
        assert!(n % 2 == 1, "attempt {} fails", n + 1);
    }
}

#[cfg(test)]
mod slow {
    /// Sleeps `$HATCHERY_FIXTURE_SLEEP_MS` (default 0).
    #[test]
    fn sleeps() {
        let ms: u64 = std::env::var("HATCHERY_FIXTURE_SLEEP_MS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}

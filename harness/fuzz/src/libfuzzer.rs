//! What libFuzzer prints, read back: the status lines (`#N NEW cov: ft: corp: exec/s: rss:`),
//! the final statistics (`-print_final_stats=1`) and its artifact names.

/// One status line of a libFuzzer worker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Status {
    /// Inputs executed (`#N`).
    pub execs: u64,
    pub cov: u64,
    pub features: u64,
    /// Inputs in this worker's corpus (`corp: N/SIZE`).
    pub corpus: u64,
    pub rss_mb: u64,
}

/// Parses `#1234\tNEW    cov: 5 ft: 6 corp: 4/15b lim: 4 exec/s: 0 rss: 32Mb ...`
/// (also INITED, REDUCE, pulse, DONE, RELOAD). `None` for any other line.
pub fn parse_status(line: &str) -> Option<Status> {
    let rest = line.strip_prefix('#')?;
    let (n, rest) = rest.split_once(|c: char| c.is_ascii_whitespace())?;
    let execs = n.parse().ok()?;
    let mut s = Status {
        execs,
        ..Default::default()
    };
    let mut words = rest.split_ascii_whitespace();
    let mut seen = false;
    while let Some(w) = words.next() {
        let target = match w {
            "cov:" => &mut s.cov,
            "ft:" => &mut s.features,
            "corp:" => &mut s.corpus,
            "rss:" => &mut s.rss_mb,
            _ => continue,
        };
        let v = words.next()?;
        let digits: String = v.chars().take_while(char::is_ascii_digit).collect();
        *target = digits.parse().ok()?;
        seen = true;
    }
    seen.then_some(s)
}

/// The last status line of a log, and the executions libFuzzer's final statistics report
/// (`stat::number_of_executed_units`), when present.
pub fn last_status(log: &str) -> Option<Status> {
    let mut last = None;
    for line in log.lines() {
        if let Some(s) = parse_status(line) {
            last = Some(s);
        }
        if let (Some(st), Some(n)) = (last.as_mut(), final_execs(line)) {
            let st: &mut Status = st;
            st.execs = st.execs.max(n);
        }
    }
    last
}

/// The executions of libFuzzer's final statistics (`stat::number_of_executed_units`).
pub fn final_execs(log: &str) -> Option<u64> {
    log.lines().find_map(|l| {
        l.strip_prefix("stat::number_of_executed_units:")
            .and_then(|v| v.trim().parse().ok())
    })
}

/// The artifact kinds libFuzzer writes, by file name prefix.
pub const ARTIFACT_PREFIXES: [&str; 5] = ["crash-", "timeout-", "oom-", "leak-", "slow-unit-"];

/// Whether a file name is one libFuzzer gives an artifact (`crash-<sha1>` and so on; not the
/// `minimized-from-` reproducers, which are ours to write).
pub fn is_artifact_name(name: &str) -> bool {
    ARTIFACT_PREFIXES.iter().any(|p| {
        name.strip_prefix(p)
            .is_some_and(|h| h.len() == 40 && h.bytes().all(|b| b.is_ascii_hexdigit()))
    })
}

/// The lowercase hex SHA-1 of `data` (libFuzzer's names for corpus files and artifacts).
pub fn sha1_hex(data: &[u8]) -> String {
    sha1_smol::Sha1::from(data).digest().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        let s = parse_status(
            "#18722\tNEW    cov: 5 ft: 7 corp: 4/15b lim: 184 exec/s: 0 rss: 32Mb L: 6/6 MS: 3 A-",
        )
        .unwrap();
        assert_eq!(
            s,
            Status {
                execs: 18722,
                cov: 5,
                features: 7,
                corpus: 4,
                rss_mb: 32
            }
        );
        let p = parse_status("#1048576\tpulse  cov: 9 ft: 12 corp: 7/1Kb exec/s: 349525 rss: 40Mb")
            .unwrap();
        assert_eq!((p.execs, p.corpus, p.features), (1048576, 7, 12));
        assert_eq!(
            parse_status("#2\tINITED cov: 2 ft: 2 corp: 1/3b exec/s: 0 rss: 30Mb")
                .unwrap()
                .execs,
            2
        );
        assert_eq!(parse_status("INFO: Seed: 772802171"), None);
        assert_eq!(
            parse_status("#0 0x556de349dbfe in malloc (/tmp/fz/bug+0xdebfe)"),
            None
        );
        assert_eq!(
            parse_status("    #1 0x56 in LLVMFuzzerTestOneInput /tmp/fz/bug.c:13:24"),
            None
        );
    }

    #[test]
    fn final_stats_win_over_the_last_status_line() {
        let log = "#334\tNEW    cov: 4 ft: 4 corp: 3/9b lim: 6 exec/s: 0 rss: 31Mb\n\
                   Done 149618 runs in 1 second(s)\nstat::number_of_executed_units: 149618\n";
        let s = last_status(log).unwrap();
        assert_eq!((s.execs, s.features), (149618, 4));
    }

    #[test]
    fn artifact_names() {
        assert!(is_artifact_name(
            "crash-239ad3eb4ce843a651e93d9c47d360c3b8b6efd7"
        ));
        assert!(is_artifact_name(
            "leak-239ad3eb4ce843a651e93d9c47d360c3b8b6efd7"
        ));
        assert!(!is_artifact_name("crash-239ad3"));
        assert!(!is_artifact_name(
            "minimized-from-239ad3eb4ce843a651e93d9c47d360c3b8b6efd7"
        ));
        assert_eq!(
            sha1_hex(b"LEAK`UA"),
            "239ad3eb4ce843a651e93d9c47d360c3b8b6efd7"
        );
    }
}

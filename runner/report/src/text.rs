//! Small text helpers shared by every front end: error chains, durations, sizes.

/// An error and its sources, `: `-separated ("failed to create cgroup X: Permission denied").
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// `1.23 ms`-style durations from microseconds.
pub fn fmt_us(us: u64) -> String {
    if us < 1000 {
        format!("{us} µs")
    } else if us < 1_000_000 {
        format!("{:.2} ms", us as f64 / 1000.0)
    } else {
        format!("{:.3} s", us as f64 / 1e6)
    }
}

/// `1.5 MiB`-style sizes.
pub fn fmt_bytes(b: u64) -> String {
    const K: f64 = 1024.0;
    let f = b as f64;
    if f < K {
        format!("{b} B")
    } else if f < K * K {
        format!("{:.1} KiB", f / K)
    } else if f < K * K * K {
        format!("{:.1} MiB", f / (K * K))
    } else {
        format!("{:.2} GiB", f / (K * K * K))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn units() {
        assert_eq!(super::fmt_us(999), "999 µs");
        assert_eq!(super::fmt_us(1500), "1.50 ms");
        assert_eq!(super::fmt_bytes(1536), "1.5 KiB");
        let e = std::io::Error::other("inner");
        assert_eq!(super::error_chain(&e), "inner");
    }
}

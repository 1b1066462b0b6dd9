//! How options and files spell durations, sizes and environment pairs: one parser for every
//! front end (`run`/`batch` flags, jobs files, `cargo hatchery test`, the judge).

/// Parses a duration: `500ms`, `2s`, `1m30s`, or a plain number of seconds (`1.5`). Returns
/// microseconds.
pub fn duration_us(s: &str) -> Result<u64, String> {
    let t = s.trim();
    if let Ok(x) = t.parse::<f64>() {
        return seconds_us(x);
    }
    humantime::parse_duration(t)
        .map(|d| d.as_micros().min(u64::MAX as u128) as u64)
        .map_err(|e| format!("invalid duration `{s}`: {e} (use e.g. 500ms, 2s, 1.5)"))
}

/// A number of seconds as microseconds.
pub fn seconds_us(x: f64) -> Result<u64, String> {
    if !x.is_finite() || !(0.0..=1e9).contains(&x) {
        return Err(format!("duration {x} s out of range (0 to 1e9 seconds)"));
    }
    Ok((x * 1e6).round() as u64)
}

/// [`duration_us`] as a `Duration` (for clap value parsers).
pub fn duration(s: &str) -> Result<std::time::Duration, String> {
    duration_us(s).map(std::time::Duration::from_micros)
}

/// Parses a size: `512K`, `64M`, `1G` (binary units), or a number of bytes.
pub fn size_bytes(s: &str) -> Result<u64, String> {
    parse_size::Config::new()
        .with_binary()
        .parse_size(s.trim())
        .map_err(|e| format!("invalid size `{s}`: {e} (use e.g. 512K, 64M, 1G)"))
}

/// Parses `KEY=VALUE` (an environment override).
pub fn env_pair(kv: &str) -> Result<(String, String), String> {
    match kv.split_once('=') {
        Some((k, v)) if !k.is_empty() && !k.contains('\0') && !v.contains('\0') => {
            Ok((k.to_owned(), v.to_owned()))
        }
        _ => Err(format!("invalid `{kv}`: expected KEY=VALUE")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_sizes_and_pairs() {
        assert_eq!(duration_us("500ms"), Ok(500_000));
        assert_eq!(duration_us("1.5"), Ok(1_500_000));
        assert_eq!(duration_us("2s"), Ok(2_000_000));
        assert!(duration_us("fast").is_err());
        assert!(duration_us("-1").is_err());
        assert_eq!(size_bytes("64M"), Ok(64 << 20));
        assert_eq!(size_bytes("1024"), Ok(1024));
        assert!(size_bytes("lots").is_err());
        assert_eq!(env_pair("A=b=c"), Ok(("A".into(), "b=c".into())));
        assert!(env_pair("=x").is_err());
        assert!(env_pair("novalue").is_err());
    }
}

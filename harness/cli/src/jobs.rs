//! The JOBS file: JSON Lines, one case per line.
//!
//! ```json
//! {"id": "t1", "argv": ["./prog", "arg"], "stdin": "in.txt", "env": {"K": "V"},
//!  "limits": {"cpu_time": "1s", "wall_time": 2.5, "memory": "64M", "output": "1M",
//!             "file_size": "16M", "stack": "8M", "pids": 32, "open_files": 64},
//!  "tier": "hardened", "seccomp": "default", "cwd": "/work", "expect": "ok"}
//! ```
//! Durations are strings such as `500ms` or numbers of seconds; sizes are strings such as
//! `64M` (binary units) or numbers of bytes. Unknown fields are errors.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use hatchery_report::{Limits, Outcome};
use serde::Deserialize;

/// Longest line accepted (a case with a huge argv is still far below this).
pub const MAX_LINE: usize = 16 << 20;

/// One case of a jobs file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: String,
    /// 1-based line number in the jobs file.
    pub line: usize,
    pub argv: Vec<String>,
    pub stdin: Option<PathBuf>,
    pub env: BTreeMap<String, String>,
    pub limits: JobLimits,
    pub tier: Option<String>,
    pub seccomp: Option<String>,
    pub cwd: Option<PathBuf>,
    pub expect: Outcome,
}

/// Per-case limit overrides; `None` keeps the batch default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobLimits(pub Limits);

impl JobLimits {
    /// The batch defaults with this case's overrides applied field by field.
    pub fn over(&self, d: &Limits) -> Limits {
        let o = &self.0;
        Limits {
            cpu_us: o.cpu_us.or(d.cpu_us),
            wall_us: o.wall_us.or(d.wall_us),
            memory_bytes: o.memory_bytes.or(d.memory_bytes),
            output_bytes: o.output_bytes.or(d.output_bytes),
            file_size_bytes: o.file_size_bytes.or(d.file_size_bytes),
            stack_bytes: o.stack_bytes.or(d.stack_bytes),
            pids: o.pids.or(d.pids),
            open_files: o.open_files.or(d.open_files),
        }
    }
}

/// A problem in the jobs file, naming the line and the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobError {
    pub line: usize,
    pub field: Option<String>,
    pub message: String,
}

impl std::fmt::Display for JobError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.field {
            Some(field) => write!(f, "line {}: field `{field}`: {}", self.line, self.message),
            None => write!(f, "line {}: {}", self.line, self.message),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJob {
    id: String,
    argv: Vec<String>,
    #[serde(default)]
    stdin: Option<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    limits: Option<RawLimits>,
    #[serde(default)]
    tier: Option<String>,
    #[serde(default)]
    seccomp: Option<String>,
    #[serde(default)]
    cwd: Option<String>,
    #[serde(default)]
    expect: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Amount {
    Text(String),
    Number(serde_json::Number),
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    cpu_time: Option<Amount>,
    wall_time: Option<Amount>,
    memory: Option<Amount>,
    output: Option<Amount>,
    file_size: Option<Amount>,
    stack: Option<Amount>,
    pids: Option<u64>,
    open_files: Option<u64>,
}

/// Parses a duration: `500ms`, `2s`, `1m30s`, or a number of seconds. Returns microseconds.
pub fn parse_duration_us(a: &str) -> Result<u64, String> {
    humantime::parse_duration(a.trim())
        .map(|d| d.as_micros().min(u64::MAX as u128) as u64)
        .map_err(|e| format!("invalid duration `{a}`: {e} (use e.g. 500ms, 2s)"))
}

/// Parses a size: `512K`, `64M`, `1G` (binary units), or a number of bytes.
pub fn parse_size_bytes(a: &str) -> Result<u64, String> {
    parse_size::Config::new()
        .with_binary()
        .parse_size(a.trim())
        .map_err(|e| format!("invalid size `{a}`: {e} (use e.g. 64M, 1G)"))
}

fn duration(a: &Amount) -> Result<u64, String> {
    match a {
        Amount::Text(t) => parse_duration_us(t),
        Amount::Number(n) => {
            let secs = n.as_f64().ok_or("not a number")?;
            if !(0.0..=1e9).contains(&secs) || secs.is_nan() {
                return Err(format!("duration {secs} s out of range"));
            }
            Ok((secs * 1e6) as u64)
        }
    }
}

fn size(a: &Amount) -> Result<u64, String> {
    match a {
        Amount::Text(t) => parse_size_bytes(t),
        Amount::Number(n) => n
            .as_u64()
            .ok_or_else(|| format!("size {n} is not a whole number of bytes")),
    }
}

const TIERS: [&str; 3] = ["none", "hardened", "lockdown"];
const SECCOMP: [&str; 3] = ["default", "strict", "off"];

fn outcome(s: &str) -> Result<Outcome, String> {
    Outcome::ALL
        .iter()
        .copied()
        .find(|o| o.as_str() == s)
        .ok_or_else(|| {
            format!(
                "unknown outcome `{s}` (expected one of {})",
                Outcome::ALL.map(|o| o.as_str()).join(", ")
            )
        })
}

fn parse_line(line: &str, n: usize) -> Result<Job, JobError> {
    let err = |field: Option<&str>, message: String| JobError {
        line: n,
        field: field.map(str::to_owned),
        message,
    };
    let raw: RawJob = serde_json::from_str(line).map_err(|e| {
        let msg = e.to_string();
        // serde names the field in messages such as "missing field `argv`".
        let field = msg
            .split('`')
            .nth(1)
            .filter(|_| msg.contains("field"))
            .map(str::to_owned);
        JobError {
            line: n,
            field,
            message: msg,
        }
    })?;
    if raw.id.is_empty() {
        return Err(err(Some("id"), "must not be empty".into()));
    }
    if raw.argv.is_empty() || raw.argv[0].is_empty() {
        return Err(err(Some("argv"), "must name a program".into()));
    }
    if raw.argv.iter().any(|a| a.contains('\0')) {
        return Err(err(Some("argv"), "contains a NUL byte".into()));
    }
    for (k, v) in &raw.env {
        if k.is_empty() || k.contains('=') || k.contains('\0') || v.contains('\0') {
            return Err(err(Some(&format!("env.{k}")), "invalid variable".into()));
        }
    }
    let mut limits = Limits::default();
    if let Some(l) = &raw.limits {
        let d = |f: &str, a: &Option<Amount>| -> Result<Option<u64>, JobError> {
            a.as_ref()
                .map(duration)
                .transpose()
                .map_err(|m| err(Some(&format!("limits.{f}")), m))
        };
        let s = |f: &str, a: &Option<Amount>| -> Result<Option<u64>, JobError> {
            a.as_ref()
                .map(size)
                .transpose()
                .map_err(|m| err(Some(&format!("limits.{f}")), m))
        };
        limits.cpu_us = d("cpu_time", &l.cpu_time)?;
        limits.wall_us = d("wall_time", &l.wall_time)?;
        limits.memory_bytes = s("memory", &l.memory)?;
        limits.output_bytes = s("output", &l.output)?;
        limits.file_size_bytes = s("file_size", &l.file_size)?;
        limits.stack_bytes = s("stack", &l.stack)?;
        limits.pids = l.pids;
        limits.open_files = l.open_files;
    }
    if let Some(t) = &raw.tier {
        if !TIERS.contains(&t.as_str()) {
            return Err(err(
                Some("tier"),
                format!("unknown tier `{t}` (expected none, hardened or lockdown)"),
            ));
        }
    }
    if let Some(t) = &raw.seccomp {
        if !SECCOMP.contains(&t.as_str()) {
            return Err(err(
                Some("seccomp"),
                format!("unknown profile `{t}` (expected default, strict or off)"),
            ));
        }
    }
    let expect = match &raw.expect {
        Some(e) => outcome(e).map_err(|m| err(Some("expect"), m))?,
        None => Outcome::Ok,
    };
    Ok(Job {
        id: raw.id,
        line: n,
        argv: raw.argv,
        stdin: raw.stdin.map(PathBuf::from),
        env: raw.env,
        limits: JobLimits(limits),
        tier: raw.tier,
        seccomp: raw.seccomp,
        cwd: raw.cwd.map(PathBuf::from),
        expect,
    })
}

/// Parses a whole jobs file. Blank lines and lines starting with `#` are skipped. Returns the
/// valid jobs and every error found (each naming its line and field).
pub fn parse_jobs(text: &str) -> (Vec<Job>, Vec<JobError>) {
    let mut jobs = Vec::new();
    let mut errors = Vec::new();
    let mut ids = HashSet::new();
    for (i, line) in text.split('\n').enumerate() {
        let n = i + 1;
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if line.len() > MAX_LINE {
            errors.push(JobError {
                line: n,
                field: None,
                message: format!("line longer than {MAX_LINE} bytes"),
            });
            continue;
        }
        match parse_line(t, n) {
            Ok(j) => {
                if !ids.insert(j.id.clone()) {
                    errors.push(JobError {
                        line: n,
                        field: Some("id".into()),
                        message: format!("duplicate id `{}`", j.id),
                    });
                } else {
                    jobs.push(j);
                }
            }
            Err(e) => errors.push(e),
        }
    }
    (jobs, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_full_job() {
        let (j, e) = parse_jobs(
            r#"{"id":"a","argv":["/bin/echo","hi"],"env":{"K":"V"},"limits":{"cpu_time":"1s","wall_time":2.5,"memory":"64M","output":1024,"pids":4},"tier":"lockdown","expect":"time_limit"}"#,
        );
        assert!(e.is_empty(), "{e:?}");
        let j = &j[0];
        assert_eq!(j.limits.0.cpu_us, Some(1_000_000));
        assert_eq!(j.limits.0.wall_us, Some(2_500_000));
        assert_eq!(j.limits.0.memory_bytes, Some(64 << 20));
        assert_eq!(j.limits.0.output_bytes, Some(1024));
        assert_eq!(j.expect, Outcome::TimeLimit);
        assert_eq!(j.line, 1);
    }

    #[test]
    fn errors_name_line_and_field() {
        let text = "# comment\n\n{\"id\":\"a\"}\n{\"id\":\"b\",\"argv\":[\"x\"],\"limits\":{\"cpu_time\":\"fast\"}}\n{\"id\":\"c\",\"argv\":[\"x\"],\"bogus\":1}\n{\"id\":\"d\",\"argv\":[\"x\"],\"tier\":\"max\"}\nnot json\n{\"id\":\"z\",\"argv\":[\"y\"]}\n{\"id\":\"z\",\"argv\":[\"y\"]}\n";
        let (jobs, errs) = parse_jobs(text);
        let shown: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(jobs.len(), 1, "{shown:?}");
        assert_eq!(errs[0].line, 3);
        assert_eq!(errs[0].field.as_deref(), Some("argv"));
        assert_eq!(errs[1].line, 4);
        assert_eq!(errs[1].field.as_deref(), Some("limits.cpu_time"));
        assert_eq!(errs[2].field.as_deref(), Some("bogus"));
        assert_eq!(errs[3].field.as_deref(), Some("tier"));
        assert_eq!(errs[4].line, 7);
        assert_eq!(errs[5].field.as_deref(), Some("id"), "{shown:?}");
        assert_eq!(errs[5].line, 9);
    }

    #[test]
    fn overrides_apply_field_by_field() {
        let d = Limits {
            cpu_us: Some(1),
            memory_bytes: Some(2),
            ..Default::default()
        };
        let o = JobLimits(Limits {
            memory_bytes: Some(3),
            ..Default::default()
        });
        let m = o.over(&d);
        assert_eq!((m.cpu_us, m.memory_bytes), (Some(1), Some(3)));
    }
}

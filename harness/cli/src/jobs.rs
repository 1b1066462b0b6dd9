//! The JOBS file: JSON Lines, one case per line.
//!
//! ```json
//! {"id": "t1", "argv": ["./prog", "arg"], "stdin": "in.txt", "env": {"K": "V"},
//!  "limits": {"cpu_time": "1s", "wall_time": 2.5, "memory": "64M", "output": "1M",
//!             "file_size": "16M", "stack": "8M", "pids": 32, "open_files": 64},
//!  "tier": "hardened", "seccomp": "default", "network": "loopback", "cwd": "/work",
//!  "expect": "ok"}
//! ```
//! Durations are strings such as `500ms` or numbers of seconds; sizes are strings such as
//! `64M` (binary units) or numbers of bytes. Unknown fields are errors.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use hatchery_engine::{parse, LimitError};
use hatchery_report::{Limits, Outcome};
use serde_json::Value;

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
    pub network: Option<hatchery_engine::Network>,
    pub cwd: Option<PathBuf>,
    /// Files for the case's stdout, stderr and JSON result (`"stdout"`, `"stderr"`, `"meta"`).
    pub outputs: crate::outfiles::OutPaths,
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

/// A JSON value's kind, in words, for type errors.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// One field's value, or an error naming the field and the type it needs.
fn typed<T: serde::de::DeserializeOwned>(
    n: usize,
    field: &str,
    v: &Value,
    expected: &str,
) -> Result<T, JobError> {
    T::deserialize(v).map_err(|_| JobError {
        line: n,
        field: Some(field.to_owned()),
        message: format!("expected {expected}, found {}", kind(v)),
    })
}

/// A duration: a string such as `500ms` or a number of seconds; microseconds.
fn duration(v: &Value) -> Result<u64, String> {
    match v {
        Value::String(t) => parse::duration_us(t),
        Value::Number(n) => parse::seconds_us(n.as_f64().ok_or("not a number")?),
        other => Err(format!(
            "expected a duration (`500ms`, `2s`) or a number of seconds, found {}",
            kind(other)
        )),
    }
}

/// A size: a string such as `64M` or a whole number of bytes.
fn size(v: &Value) -> Result<u64, String> {
    match v {
        Value::String(t) => parse::size_bytes(t),
        Value::Number(n) => n
            .as_u64()
            .ok_or_else(|| format!("size {n} is not a whole number of bytes")),
        other => Err(format!(
            "expected a size (`64M`) or a number of bytes, found {}",
            kind(other)
        )),
    }
}

const FIELDS: [&str; 13] = [
    "id", "argv", "stdin", "env", "limits", "tier", "seccomp", "network", "cwd", "expect",
    "stdout", "stderr", "meta",
];
const LIMIT_FIELDS: [&str; 8] = [
    "cpu_time",
    "wall_time",
    "memory",
    "output",
    "file_size",
    "stack",
    "pids",
    "open_files",
];

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

fn parse_limits(n: usize, v: &Value) -> Result<Limits, JobError> {
    let err = |field: &str, message: String| JobError {
        line: n,
        field: Some(format!("limits.{field}")),
        message,
    };
    let Value::Object(m) = v else {
        return Err(JobError {
            line: n,
            field: Some("limits".into()),
            message: format!("expected an object, found {}", kind(v)),
        });
    };
    if let Some(k) = m.keys().find(|k| !LIMIT_FIELDS.contains(&k.as_str())) {
        return Err(err(
            k,
            format!(
                "unknown limit (expected one of {})",
                LIMIT_FIELDS.join(", ")
            ),
        ));
    }
    let get = |f: &str, conv: fn(&Value) -> Result<u64, String>| {
        m.get(f).map(conv).transpose().map_err(|e| err(f, e))
    };
    let count = |v: &Value| {
        v.as_u64()
            .ok_or_else(|| format!("expected a whole number, found {}", kind(v)))
    };
    let l = Limits {
        cpu_us: get("cpu_time", duration)?,
        wall_us: get("wall_time", duration)?,
        memory_bytes: get("memory", size)?,
        output_bytes: get("output", size)?,
        file_size_bytes: get("file_size", size)?,
        stack_bytes: get("stack", size)?,
        pids: get("pids", count)?,
        open_files: get("open_files", count)?,
    };
    hatchery_sandbox::policy::check_limits(&l).map_err(|e| match e {
        LimitError::Zero { field } => err(field, "must be greater than 0".into()),
        e => err("", e.to_string()),
    })?;
    Ok(l)
}

fn parse_line(line: &str, n: usize) -> Result<Job, JobError> {
    let err = |field: Option<&str>, message: String| JobError {
        line: n,
        field: field.map(str::to_owned),
        message,
    };
    let v: Value =
        serde_json::from_str(line).map_err(|e| err(None, format!("not a JSON object: {e}")))?;
    let Value::Object(m) = v else {
        return Err(err(
            None,
            format!("expected a JSON object, found {}", kind(&v)),
        ));
    };
    if let Some(k) = m.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(err(
            Some(k),
            format!("unknown field (expected one of {})", FIELDS.join(", ")),
        ));
    }
    let opt_str = |f: &str| -> Result<Option<String>, JobError> {
        m.get(f)
            .map(|v| typed::<String>(n, f, v, "a string"))
            .transpose()
    };
    let id: String = match m.get("id") {
        Some(v) => typed(n, "id", v, "a string")?,
        None => return Err(err(Some("id"), "missing (every case needs an id)".into())),
    };
    let argv: Vec<String> = match m.get("argv") {
        Some(v) => typed(n, "argv", v, "a list of strings")?,
        None => {
            return Err(err(
                Some("argv"),
                "missing (the program and its arguments)".into(),
            ))
        }
    };
    let env: BTreeMap<String, String> = match m.get("env") {
        Some(v) => typed(n, "env", v, "an object of strings")?,
        None => BTreeMap::new(),
    };
    if id.is_empty() {
        return Err(err(Some("id"), "must not be empty".into()));
    }
    if argv.is_empty() || argv[0].is_empty() {
        return Err(err(Some("argv"), "must name a program".into()));
    }
    if argv.iter().any(|a| a.contains('\0')) {
        return Err(err(Some("argv"), "contains a NUL byte".into()));
    }
    for (k, v) in &env {
        if k.is_empty() || k.contains('=') || k.contains('\0') || v.contains('\0') {
            return Err(err(Some(&format!("env.{k}")), "invalid variable".into()));
        }
    }
    let lengths = argv
        .iter()
        .map(String::len)
        .chain(env.iter().map(|(k, v)| k.len() + 1 + v.len()));
    hatchery_sandbox::policy::check_args(lengths).map_err(|e| err(Some("argv"), e.to_string()))?;
    let limits = match m.get("limits") {
        Some(v) => parse_limits(n, v)?,
        None => Limits::default(),
    };
    let tier = opt_str("tier")?;
    if let Some(t) = &tier {
        if !TIERS.contains(&t.as_str()) {
            return Err(err(
                Some("tier"),
                format!("unknown tier `{t}` (expected none, hardened or lockdown)"),
            ));
        }
    }
    let seccomp = opt_str("seccomp")?;
    if let Some(t) = &seccomp {
        if !SECCOMP.contains(&t.as_str()) {
            return Err(err(
                Some("seccomp"),
                format!("unknown profile `{t}` (expected default, strict or off)"),
            ));
        }
    }
    let network = opt_str("network")?
        .map(|s| s.parse::<hatchery_engine::Network>())
        .transpose()
        .map_err(|m| err(Some("network"), m))?;
    let expect = match opt_str("expect")? {
        Some(e) => outcome(&e).map_err(|m| err(Some("expect"), m))?,
        None => Outcome::Ok,
    };
    Ok(Job {
        id,
        line: n,
        argv,
        stdin: opt_str("stdin")?.map(PathBuf::from),
        env,
        limits: JobLimits(limits),
        tier,
        seccomp,
        network,
        cwd: opt_str("cwd")?.map(PathBuf::from),
        outputs: crate::outfiles::OutPaths {
            stdout: opt_str("stdout")?.map(PathBuf::from),
            stderr: opt_str("stderr")?.map(PathBuf::from),
            meta: opt_str("meta")?.map(PathBuf::from),
        },
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
    fn type_errors_and_impossible_limits_name_the_field() {
        let text = "{\"id\":\"a\",\"argv\":\"x\"}\n{\"id\":1,\"argv\":[\"x\"]}\n{\"id\":\"c\",\"argv\":[\"x\"],\"limits\":{\"memory\":0}}\n{\"id\":\"d\",\"argv\":[\"x\"],\"limits\":{\"pids\":\"many\"}}\n{\"id\":\"e\",\"argv\":[\"x\"],\"limits\":{\"wall_time\":\"0s\"}}\n";
        let (jobs, errs) = parse_jobs(text);
        assert!(jobs.is_empty());
        let shown: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            shown,
            [
                "line 1: field `argv`: expected a list of strings, found a string",
                "line 2: field `id`: expected a string, found a number",
                "line 3: field `limits.memory`: must be greater than 0",
                "line 4: field `limits.pids`: expected a whole number, found a string",
                "line 5: field `limits.wall_time`: must be greater than 0",
            ]
        );
    }

    #[test]
    fn an_argv_beyond_the_kernel_limit_is_refused_while_parsing() {
        let big = "a".repeat(200 * 1024);
        let (jobs, errs) = parse_jobs(&format!("{{\"id\":\"a\",\"argv\":[\"x\",\"{big}\"]}}"));
        assert!(jobs.is_empty());
        assert_eq!(errs[0].field.as_deref(), Some("argv"));
        assert!(errs[0].message.contains("MAX_ARG_STRLEN"), "{}", errs[0]);
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

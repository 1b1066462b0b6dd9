//! nextest's configuration, `.config/nextest.toml` in the workspace root, as nextest reads it:
//! profiles (`default`, `ci`, any other; `--profile`/`NEXTEST_PROFILE`; every profile inherits
//! from `default`, or from `inherits = "..."`, then from nextest's built-in defaults), per-test
//! overrides selected by filtersets, test groups, JUnit settings, plus hatchery's own settings
//! (`[profile.X.hatchery]`, and `hatchery = { ... }` in an override). See the README.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::output::{ShowOutput, StatusLevel};

/// The file, relative to the workspace root.
pub const CONFIG_PATH: &str = ".config/nextest.toml";

/// A duration as nextest spells it (`"60s"`, `"1m 30s"`, `"500ms"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dur(pub Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        hatchery_engine::parse::duration(&s)
            .map(Dur)
            .map_err(serde::de::Error::custom)
    }
}

/// `retries = 2`, or `retries = { backoff = "exponential", count = 3, delay = "1s", jitter =
/// true, max-delay = "10s" }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum RetriesCfg {
    Count(u32),
    Policy(RetryTable),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RetryTable {
    pub backoff: Backoff,
    pub count: u32,
    #[serde(default)]
    pub delay: Option<Dur>,
    #[serde(default)]
    pub jitter: bool,
    #[serde(default)]
    pub max_delay: Option<Dur>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Backoff {
    Fixed,
    Exponential,
}

/// `test-threads = 4`, `-1` (CPUs minus one), or `"num-cpus"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum ThreadsCfg {
    Count(i64),
    Named(String),
}

/// `slow-timeout = "60s"` or `{ period = "60s", terminate-after = 3, grace-period = "10s" }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum SlowCfg {
    Period(Dur),
    Table(SlowTable),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct SlowTable {
    pub period: Dur,
    #[serde(default)]
    pub terminate_after: Option<u32>,
    #[serde(default)]
    pub grace_period: Option<Dur>,
    /// `"pass"`: a test that `terminate-after` ends passes (`"fail"`, the default: TIMEOUT).
    #[serde(default)]
    pub on_timeout: Option<LeakResult>,
}

/// `leak-timeout = "100ms"` or `{ period = "500ms", result = "fail" }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum LeakCfg {
    Period(Dur),
    Table(LeakTable),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct LeakTable {
    pub period: Dur,
    #[serde(default)]
    pub result: Option<LeakResult>,
}

/// `result` of `leak-timeout` and `on-timeout` of `slow-timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LeakResult {
    Pass,
    Fail,
}

/// `fail-fast = true`, or `{ max-fail = 5 }` / `{ max-fail = "all" }`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum FailFastCfg {
    Bool(bool),
    Table {
        #[serde(rename = "max-fail")]
        max_fail: ThreadsCfg,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct JunitCfg {
    pub path: Option<PathBuf>,
    pub report_name: Option<String>,
    pub store_success_output: Option<bool>,
    pub store_failure_output: Option<bool>,
}

/// hatchery's own settings, per profile (`[profile.X.hatchery]`) and per override
/// (`hatchery = { ... }`). Every field is optional; command-line options win.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct HatcheryCfg {
    /// `none`, `hardened`, `lockdown`.
    pub tier: Option<String>,
    /// `loopback`, `off`, `host`.
    pub network: Option<String>,
    /// `default`, `strict`, `off`.
    pub seccomp: Option<String>,
    /// Wall-clock limit (`"30s"`): TIMEOUT.
    pub timeout: Option<String>,
    pub cpu_time: Option<String>,
    /// Sizes as `"512M"`.
    pub memory: Option<String>,
    pub pids: Option<u64>,
    pub output: Option<String>,
    /// Extra environment variables.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

impl HatcheryCfg {
    /// Fields of `self` where set, else `base`'s.
    pub fn or_cfg(&self, base: &HatcheryCfg) -> HatcheryCfg {
        let mut env = base.env.clone();
        env.extend(self.env.clone());
        HatcheryCfg {
            tier: self.tier.clone().or_else(|| base.tier.clone()),
            network: self.network.clone().or_else(|| base.network.clone()),
            seccomp: self.seccomp.clone().or_else(|| base.seccomp.clone()),
            timeout: self.timeout.clone().or_else(|| base.timeout.clone()),
            cpu_time: self.cpu_time.clone().or_else(|| base.cpu_time.clone()),
            memory: self.memory.clone().or_else(|| base.memory.clone()),
            pids: self.pids.or(base.pids),
            output: self.output.clone().or_else(|| base.output.clone()),
            env,
        }
    }

    /// Checks every value (so that a typo fails before anything is built).
    fn check(&self, at: &str) -> Result<(), String> {
        use hatchery_engine::parse::{duration, size_bytes};
        let bad = |k: &str, e: String| format!("{at}: hatchery.{k}: {e}");
        if let Some(t) = &self.tier {
            t.parse::<hatchery_sandbox::Tier>()
                .map_err(|e| bad("tier", e.to_string()))?;
        }
        if let Some(n) = &self.network {
            n.parse::<hatchery_sandbox::Network>()
                .map_err(|e| bad("network", e.to_string()))?;
        }
        if let Some(s) = &self.seccomp {
            s.parse::<hatchery_sandbox::SeccompProfile>()
                .map_err(|e| bad("seccomp", e.to_string()))?;
        }
        for (k, v) in [("timeout", &self.timeout), ("cpu-time", &self.cpu_time)] {
            if let Some(v) = v {
                duration(v).map_err(|e| bad(k, e))?;
            }
        }
        for (k, v) in [("memory", &self.memory), ("output", &self.output)] {
            if let Some(v) = v {
                size_bytes(v).map_err(|e| bad(k, e))?;
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct OverrideCfg {
    pub filter: Option<String>,
    pub platform: Option<PlatformCfg>,
    pub retries: Option<RetriesCfg>,
    pub threads_required: Option<ThreadsCfg>,
    pub slow_timeout: Option<SlowCfg>,
    pub leak_timeout: Option<LeakCfg>,
    pub test_group: Option<String>,
    pub success_output: Option<String>,
    pub failure_output: Option<String>,
    pub junit: Option<JunitCfg>,
    pub hatchery: Option<HatcheryCfg>,
    /// Higher starts sooner (nextest: -100 to 100, default 0).
    pub priority: Option<Priority>,
    /// Keys nextest knows that we do not use (`run-extra-args`, ...): named in a note.
    #[serde(flatten)]
    pub other: BTreeMap<String, toml::Value>,
}

/// An override's `priority`: -100 to 100, both inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Priority(pub i8);

impl<'de> Deserialize<'de> for Priority {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = i64::deserialize(d)?;
        match i8::try_from(n) {
            Ok(p) if (-100..=100).contains(&p) => Ok(Priority(p)),
            _ => Err(serde::de::Error::custom(format!(
                "test priority ({n}) out of range: must be between -100 and 100, both inclusive"
            ))),
        }
    }
}

/// `platform = "cfg(unix)"` or `{ host = "...", target = "..." }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum PlatformCfg {
    Target(String),
    Table {
        host: Option<String>,
        target: Option<String>,
    },
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ProfileCfg {
    pub inherits: Option<String>,
    pub default_filter: Option<String>,
    pub retries: Option<RetriesCfg>,
    pub test_threads: Option<ThreadsCfg>,
    pub threads_required: Option<ThreadsCfg>,
    pub slow_timeout: Option<SlowCfg>,
    pub leak_timeout: Option<LeakCfg>,
    pub fail_fast: Option<FailFastCfg>,
    pub status_level: Option<String>,
    pub final_status_level: Option<String>,
    pub failure_output: Option<String>,
    pub success_output: Option<String>,
    pub junit: Option<JunitCfg>,
    #[serde(default)]
    pub overrides: Vec<OverrideCfg>,
    pub hatchery: Option<HatcheryCfg>,
    pub archive: Option<ArchiveCfg>,
    #[serde(flatten)]
    pub other: BTreeMap<String, toml::Value>,
}

/// nextest's `archive` table: what `archive` adds besides the build's outputs.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ArchiveCfg {
    #[serde(default)]
    pub include: Vec<IncludeCfg>,
}

/// One `archive.include` entry: `{ path = "...", relative-to = "target", depth = 16,
/// on-missing = "warn" }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct IncludeCfg {
    pub path: PathBuf,
    pub relative_to: RelativeTo,
    #[serde(default = "default_depth", deserialize_with = "depth")]
    pub depth: u32,
    #[serde(default)]
    pub on_missing: OnMissing,
}

/// What `archive.include` paths are relative to: the target directory, the only choice.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RelativeTo {
    Target,
}

/// What `archive` does about an `archive.include` path that does not exist.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnMissing {
    #[default]
    Warn,
    Ignore,
    Error,
}

/// nextest's default recursion depth of `archive.include` directories.
fn default_depth() -> u32 {
    16
}

/// A depth: a number, or `"infinite"`.
fn depth<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Depth {
        N(u32),
        Word(String),
    }
    match Depth::deserialize(d)? {
        Depth::N(n) => Ok(n),
        Depth::Word(w) if w == "infinite" => Ok(u32::MAX),
        Depth::Word(w) => Err(serde::de::Error::custom(format!(
            "depth `{w}`: a number or \"infinite\""
        ))),
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct GroupCfg {
    pub max_threads: ThreadsCfg,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ConfigFile {
    #[serde(default)]
    pub profile: BTreeMap<String, ProfileCfg>,
    #[serde(default)]
    pub test_groups: BTreeMap<String, GroupCfg>,
    #[serde(flatten)]
    pub other: BTreeMap<String, toml::Value>,
}

/// One override, in the order nextest applies them (the selected profile's first, then those
/// of the profiles it inherits from), with where it came from for messages.
#[derive(Debug, Clone)]
pub struct Override {
    pub at: String,
    pub cfg: OverrideCfg,
}

/// A profile resolved along its inheritance chain.
#[derive(Debug, Clone)]
pub struct Profile {
    pub name: String,
    /// Where the configuration came from (`None`: no file; built-in defaults).
    pub path: Option<PathBuf>,
    pub default_filter: Option<String>,
    pub retries: RetriesCfg,
    pub test_threads: Option<ThreadsCfg>,
    pub threads_required: ThreadsCfg,
    pub slow_timeout: SlowCfg,
    pub leak_timeout: LeakCfg,
    pub fail_fast: FailFastCfg,
    pub status_level: Option<StatusLevel>,
    pub final_status_level: Option<StatusLevel>,
    pub failure_output: Option<ShowOutput>,
    pub success_output: Option<ShowOutput>,
    pub junit: JunitCfg,
    pub overrides: Vec<Override>,
    pub hatchery: HatcheryCfg,
    pub groups: BTreeMap<String, GroupCfg>,
    /// `archive.include` of the profile (the nearest profile in the chain that sets it).
    pub archive_include: Vec<IncludeCfg>,
    /// Keys we read but do not act on, for one warning line.
    pub ignored: Vec<String>,
}

/// nextest's status levels, mapped to ours (`flaky` and `leak` are our `retry`).
pub fn status_level(s: &str) -> Result<StatusLevel, String> {
    Ok(match s {
        "none" => StatusLevel::None,
        "fail" => StatusLevel::Fail,
        "retry" | "flaky" | "leak" => StatusLevel::Retry,
        "slow" => StatusLevel::Slow,
        "pass" => StatusLevel::Pass,
        "skip" => StatusLevel::Skip,
        "all" => StatusLevel::All,
        x => return Err(format!("unknown status level `{x}`")),
    })
}

pub fn show_output(s: &str) -> Result<ShowOutput, String> {
    Ok(match s {
        "immediate" => ShowOutput::Immediate,
        "final" => ShowOutput::Final,
        "immediate-final" => ShowOutput::ImmediateFinal,
        "never" => ShowOutput::Never,
        x => return Err(format!("unknown output setting `{x}`")),
    })
}

impl Profile {
    /// Reads `<workspace>/.config/nextest.toml` (absent: built-in defaults only; `tool_config`
    /// files given with `--tool-config-file` are read the same way) and resolves `name`.
    pub fn load(
        workspace_root: &Path,
        config: Option<&Path>,
        name: &str,
    ) -> Result<Profile, String> {
        let path = match config {
            Some(p) => Some(p.to_path_buf()),
            None => Some(workspace_root.join(CONFIG_PATH)).filter(|p| p.is_file()),
        };
        let file: ConfigFile = match &path {
            None => ConfigFile::default(),
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| format!("cannot read {}: {e}", p.display()))?;
                toml::from_str(&text).map_err(|e| format!("{}: {e}", p.display()))?
            }
        };
        Profile::resolve(file, path, name)
    }

    pub fn resolve(file: ConfigFile, path: Option<PathBuf>, name: &str) -> Result<Profile, String> {
        let shown = path
            .as_ref()
            .map_or_else(|| "nextest config".to_owned(), |p| p.display().to_string());
        // The chain: the profile, what it inherits (default: `default`), ..., `default`.
        let mut chain: Vec<(&str, Option<&ProfileCfg>)> = Vec::new();
        let mut cur = Some(name);
        while let Some(n) = cur {
            if chain.iter().any(|(c, _)| *c == n) {
                return Err(format!("{shown}: profile `{n}` inherits from itself"));
            }
            let cfg = file.profile.get(n);
            if cfg.is_none() && n != "default" {
                let known: Vec<&str> = file.profile.keys().map(String::as_str).collect();
                return Err(format!(
                    "{shown}: profile `{n}` not found (known: default{}{})",
                    if known.iter().any(|k| *k != "default") {
                        ", "
                    } else {
                        ""
                    },
                    known
                        .iter()
                        .filter(|k| **k != "default")
                        .copied()
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            chain.push((n, cfg));
            cur = match (n, cfg.and_then(|c| c.inherits.as_deref())) {
                ("default", _) => None,
                (_, Some(parent)) => Some(parent),
                (_, None) => Some("default"),
            };
        }
        let mut ignored = Vec::new();
        for k in file.other.keys() {
            if !matches!(k.as_str(), "nextest-version" | "store" | "experimental") {
                ignored.push(k.clone());
            }
        }
        let mut overrides = Vec::new();
        let mut hatchery = HatcheryCfg::default();
        let mut junit = JunitCfg::default();
        for (n, c) in chain.iter().rev() {
            let Some(c) = c else { continue };
            for k in c.other.keys() {
                ignored.push(format!("profile.{n}.{k}"));
            }
            if let Some(r) = &c.retries {
                r.check()
                    .map_err(|e| format!("{shown}: profile.{n}.retries: {e}"))?;
            }
            if let Some(h) = &c.hatchery {
                h.check(&format!("{shown}: profile.{n}"))?;
                hatchery = h.or_cfg(&hatchery);
            }
            if let Some(j) = &c.junit {
                junit = JunitCfg {
                    path: j.path.clone().or(junit.path),
                    report_name: j.report_name.clone().or(junit.report_name),
                    store_success_output: j.store_success_output.or(junit.store_success_output),
                    store_failure_output: j.store_failure_output.or(junit.store_failure_output),
                };
            }
        }
        for (n, c) in &chain {
            let Some(c) = c else { continue };
            for (i, o) in c.overrides.iter().enumerate() {
                let at = format!("{shown}: profile.{n}.overrides[{i}]");
                if o.filter.is_none() && o.platform.is_none() {
                    return Err(format!(
                        "{at}: at least one of `filter` and `platform` is needed"
                    ));
                }
                if let Some(h) = &o.hatchery {
                    h.check(&at)?;
                }
                if let Some(g) = &o.test_group {
                    if g != "@global" && !file.test_groups.contains_key(g) {
                        return Err(format!("{at}: unknown test group `{g}`"));
                    }
                }
                for k in o.other.keys() {
                    ignored.push(format!("profile.{n}.overrides[{i}].{k}"));
                }
                if let Some(r) = &o.retries {
                    r.check().map_err(|e| format!("{at}: retries: {e}"))?;
                }
                for v in [&o.success_output, &o.failure_output].into_iter().flatten() {
                    show_output(v).map_err(|e| format!("{at}: {e}"))?;
                }
                overrides.push(Override { at, cfg: o.clone() });
            }
        }
        let archive_include =
            pick(&chain, |c| c.archive.clone()).map_or_else(Vec::new, |a| a.include);
        for inc in &archive_include {
            let p = &inc.path;
            if p.is_absolute() || p.components().any(|c| c == std::path::Component::ParentDir) {
                return Err(format!(
                    "{shown}: archive.include path {}: must be relative and stay inside the \
                     target directory",
                    p.display()
                ));
            }
        }
        let level = |f: &dyn Fn(&ProfileCfg) -> Option<String>| {
            pick(&chain, f)
                .map(|s| status_level(&s).map_err(|e| format!("{shown}: {e}")))
                .transpose()
        };
        let output = |f: &dyn Fn(&ProfileCfg) -> Option<String>| {
            pick(&chain, f)
                .map(|s| show_output(&s).map_err(|e| format!("{shown}: {e}")))
                .transpose()
        };
        Ok(Profile {
            name: name.to_owned(),
            path,
            default_filter: pick(&chain, |c| c.default_filter.clone()),
            retries: pick(&chain, |c| c.retries).unwrap_or(RetriesCfg::Count(0)),
            test_threads: pick(&chain, |c| c.test_threads.clone()),
            threads_required: pick(&chain, |c| c.threads_required.clone())
                .unwrap_or(ThreadsCfg::Count(1)),
            slow_timeout: pick(&chain, |c| c.slow_timeout)
                .unwrap_or(SlowCfg::Period(Dur(Duration::from_secs(60)))),
            leak_timeout: pick(&chain, |c| c.leak_timeout)
                .unwrap_or(LeakCfg::Period(Dur(Duration::from_millis(100)))),
            fail_fast: pick(&chain, |c| c.fail_fast.clone()).unwrap_or(FailFastCfg::Bool(true)),
            status_level: level(&|c| c.status_level.clone())?,
            final_status_level: level(&|c| c.final_status_level.clone())?,
            failure_output: output(&|c| c.failure_output.clone())?,
            success_output: output(&|c| c.success_output.clone())?,
            junit,
            overrides,
            hatchery,
            groups: file.test_groups,
            archive_include,
            ignored,
        })
    }

    /// The profile's JUnit file: `junit.path` relative to `<target-dir>/nextest/<profile>/`.
    pub fn junit_path(&self, target_dir: &Path) -> Option<PathBuf> {
        let p = self.junit.path.as_ref()?;
        Some(target_dir.join("nextest").join(&self.name).join(p))
    }

    /// The names of the custom test groups.
    pub fn group_names(&self) -> HashSet<String> {
        self.groups.keys().cloned().collect()
    }
}

/// The first profile along the chain that sets a value.
fn pick<T>(
    chain: &[(&str, Option<&ProfileCfg>)],
    f: impl Fn(&ProfileCfg) -> Option<T>,
) -> Option<T> {
    chain.iter().find_map(|(_, c)| c.and_then(&f))
}

/// A thread count: a number, a negative number (CPUs minus it), `num-cpus`, or (for
/// threads-required) `num-test-threads`.
pub fn threads(t: &ThreadsCfg, cpus: u32, test_threads: u32) -> Result<u32, String> {
    Ok(match t {
        ThreadsCfg::Count(n) if *n > 0 => (*n).min(u32::MAX as i64) as u32,
        ThreadsCfg::Count(n) if *n < 0 => cpus.saturating_sub(n.unsigned_abs() as u32).max(1),
        ThreadsCfg::Count(_) => return Err("a thread count of 0".into()),
        ThreadsCfg::Named(s) if s == "num-cpus" => cpus,
        ThreadsCfg::Named(s) if s == "num-test-threads" => test_threads,
        ThreadsCfg::Named(s) => return Err(format!("unknown thread count `{s}`")),
    })
}

/// The engine's retry policy for a `retries` setting: `max-delay` caps exponential backoff,
/// `jitter` scales each delay by a random factor in (0.5, 1] (after the cap), as nextest.
pub fn retry_policy(r: RetriesCfg) -> hatchery_engine::RetryPolicy {
    match r {
        RetriesCfg::Count(n) => hatchery_engine::RetryPolicy {
            retries: n,
            ..Default::default()
        },
        RetriesCfg::Policy(t) => hatchery_engine::RetryPolicy {
            retries: t.count,
            delay: t.delay.map_or(Duration::ZERO, |d| d.0),
            exponential: t.backoff == Backoff::Exponential,
            max_delay: t.max_delay.map(|d| d.0),
            jitter: t.jitter,
        },
    }
}

impl RetriesCfg {
    /// nextest's checks of a retry policy.
    fn check(&self) -> Result<(), String> {
        let RetriesCfg::Policy(t) = self else {
            return Ok(());
        };
        let delay = t.delay.map_or(Duration::ZERO, |d| d.0);
        match t.backoff {
            Backoff::Fixed if t.jitter && delay.is_zero() => {
                Err("`jitter` cannot be true if `delay` isn't specified or is zero".into())
            }
            Backoff::Fixed => Ok(()),
            Backoff::Exponential if t.count == 0 => {
                Err("`count` cannot be zero with exponential backoff".into())
            }
            Backoff::Exponential if delay.is_zero() => {
                Err("`delay` cannot be zero with exponential backoff".into())
            }
            Backoff::Exponential => match t.max_delay {
                Some(m) if m.0.is_zero() => {
                    Err("`max-delay` cannot be zero with exponential backoff".into())
                }
                Some(m) if m.0 < delay => {
                    Err("`max-delay` cannot be less than delay with exponential backoff".into())
                }
                _ => Ok(()),
            },
        }
    }
}

impl SlowCfg {
    pub fn period(&self) -> Duration {
        match self {
            SlowCfg::Period(d) => d.0,
            SlowCfg::Table(t) => t.period.0,
        }
    }

    /// Between SIGTERM and SIGKILL when `terminate-after` ends a test (nextest's default: 10 s;
    /// 0: SIGKILL at once).
    pub fn grace_period(&self) -> Duration {
        match self {
            SlowCfg::Table(SlowTable {
                grace_period: Some(g),
                ..
            }) => g.0,
            _ => Duration::from_secs(10),
        }
    }

    /// Whether a test `terminate-after` ends passes (`on-timeout = "pass"`).
    pub fn timeout_passes(&self) -> bool {
        matches!(
            self,
            SlowCfg::Table(SlowTable {
                on_timeout: Some(LeakResult::Pass),
                ..
            })
        )
    }

    /// The wall-clock limit `terminate-after` periods make.
    pub fn terminate(&self) -> Option<Duration> {
        match self {
            SlowCfg::Period(_) => None,
            SlowCfg::Table(t) => t.terminate_after.map(|n| t.period.0.saturating_mul(n)),
        }
    }
}

impl LeakCfg {
    /// How long processes a test leaves may run on after it (and hold its output) before
    /// they are a leak.
    pub fn period(&self) -> Duration {
        match self {
            LeakCfg::Period(d) => d.0,
            LeakCfg::Table(t) => t.period.0,
        }
    }

    /// Whether a leaky test fails (`result = "fail"`).
    pub fn fails(&self) -> bool {
        matches!(
            self,
            LeakCfg::Table(LeakTable {
                result: Some(LeakResult::Fail),
                ..
            })
        )
    }
}

impl FailFastCfg {
    /// Failures after which no new test starts (`None`: run everything).
    pub fn max_fail(&self) -> Result<Option<u64>, String> {
        Ok(match self {
            FailFastCfg::Bool(true) => Some(1),
            FailFastCfg::Bool(false) => None,
            FailFastCfg::Table { max_fail } => match max_fail {
                ThreadsCfg::Named(s) if s == "all" => None,
                ThreadsCfg::Count(n) if *n > 0 => Some(*n as u64),
                other => return Err(format!("invalid fail-fast max-fail {other:?}")),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, name: &str) -> Result<Profile, String> {
        Profile::resolve(toml::from_str(text).map_err(|e| e.to_string())?, None, name)
    }

    #[test]
    fn profiles_inherit_from_default_and_overrides_come_in_order() {
        let p = parse(
            r#"
            [test-groups.serial]
            max-threads = 1
            [profile.default]
            retries = 1
            slow-timeout = { period = "5s", terminate-after = 3 }
            [[profile.default.overrides]]
            filter = "test(a)"
            retries = 7
            [profile.ci]
            retries = { backoff = "exponential", count = 3, delay = "1s", max-delay = "3s" }
            fail-fast = false
            status-level = "flaky"
            junit = { path = "junit.xml" }
            [profile.ci.hatchery]
            tier = "lockdown"
            memory = "1G"
            [[profile.ci.overrides]]
            filter = "package(x)"
            test-group = "serial"
            hatchery = { network = "host" }
            "#,
            "ci",
        )
        .unwrap();
        assert_eq!(p.slow_timeout.terminate(), Some(Duration::from_secs(15)));
        let r = retry_policy(p.retries);
        assert_eq!((r.retries, r.exponential), (3, true));
        assert_eq!(r.delay_before(4), Duration::from_secs(3), "max-delay caps");
        assert_eq!(p.fail_fast.max_fail(), Ok(None));
        assert_eq!(p.status_level, Some(StatusLevel::Retry));
        assert_eq!(p.hatchery.tier.as_deref(), Some("lockdown"));
        let filters: Vec<_> = p
            .overrides
            .iter()
            .map(|o| o.cfg.filter.clone().unwrap())
            .collect();
        assert_eq!(filters, ["package(x)", "test(a)"]);
        assert_eq!(
            p.junit_path(Path::new("/t")),
            Some(PathBuf::from("/t/nextest/ci/junit.xml"))
        );
        let d = parse("", "default").unwrap();
        assert_eq!(d.retries, RetriesCfg::Count(0));
        assert_eq!(d.slow_timeout.period(), Duration::from_secs(60));
    }

    #[test]
    fn values_not_acted_on_are_named() {
        let p = parse(
            r#"
            [profile.default]
            retries = { backoff = "exponential", count = 2, delay = "1s", jitter = true }
            slow-timeout = { period = "5s", terminate-after = 2, grace-period = "1s" }
            leak-timeout = { period = "200ms", result = "fail" }
            archive = { include = [{ path = "x", relative-to = "target" }] }
            [[profile.default.overrides]]
            filter = "test(x)"
            leak-timeout = { period = "1s", result = "fail" }
            run-extra-args = ["--test-threads", "1"]
            "#,
            "default",
        )
        .unwrap();
        assert_eq!(p.ignored, ["profile.default.overrides[0].run-extra-args"]);
        assert_eq!(p.archive_include.len(), 1);
        assert_eq!(p.archive_include[0].depth, 16);
        assert_eq!(p.archive_include[0].on_missing, OnMissing::Warn);
        assert!(retry_policy(p.retries).jitter);
    }

    #[test]
    fn mistakes_are_named() {
        let e = parse("[profile.ci]\nretries = 1\n", "cj").unwrap_err();
        assert!(
            e.contains("profile `cj` not found (known: default, ci)"),
            "{e}"
        );
        let e = parse(
            "[profile.default.hatchery]\ntier = \"paranoid\"\n",
            "default",
        )
        .unwrap_err();
        assert!(e.contains("hatchery.tier"), "{e}");
        let e = parse(
            "[[profile.default.overrides]]\nfilter = \"all()\"\ntest-group = \"nope\"\n",
            "default",
        )
        .unwrap_err();
        assert!(e.contains("unknown test group `nope`"), "{e}");
        for (retries, why) in [
            (
                r#"{ backoff = "fixed", count = 2, jitter = true }"#,
                "`jitter` cannot",
            ),
            (
                r#"{ backoff = "exponential", count = 0, delay = "1s" }"#,
                "`count` cannot",
            ),
            (
                r#"{ backoff = "exponential", count = 2 }"#,
                "`delay` cannot",
            ),
            (
                r#"{ backoff = "exponential", count = 2, delay = "2s", max-delay = "1s" }"#,
                "`max-delay` cannot be less",
            ),
        ] {
            let e = parse(
                &format!("[profile.default]\nretries = {retries}\n"),
                "default",
            )
            .unwrap_err();
            assert!(e.contains(why), "{retries}: {e}");
        }
        let e = parse(
            "[[profile.default.overrides]]\nfilter = \"all()\"\npriority = 101\n",
            "default",
        )
        .unwrap_err();
        assert!(e.contains("test priority (101) out of range"), "{e}");
        assert_eq!(threads(&ThreadsCfg::Count(-1), 4, 4), Ok(3));
        assert_eq!(
            threads(&ThreadsCfg::Named("num-test-threads".into()), 4, 2),
            Ok(2)
        );
    }
}

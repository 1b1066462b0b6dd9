//! Options shared by `test` and `runner`: the sandbox policy and the per-test limits.

use std::time::Duration;

use hatchery_report::Limits;
use hatchery_sandbox::policy::CgroupMode;
use hatchery_sandbox::{Network, SeccompProfile, Tier};

use crate::exec::SandboxSettings;

pub use hatchery_engine::parse::duration as parse_duration;
use hatchery_engine::parse::{env_pair as parse_env, size_bytes as parse_bytes};

/// The sandbox every test runs in.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Sandbox options")]
pub struct SandboxOpts {
    /// Isolation tier: hardened (user+PID+IPC namespaces, empty network namespace, private
    /// /tmp and /proc) or lockdown (also a read-only root: hermetic tests). `none`: no
    /// namespaces.
    /// Default: hardened (or the profile's `hatchery.tier`).
    #[arg(long)]
    pub tier: Option<Tier>,
    /// Network of the tests: loopback (127.0.0.1 and ::1 only; the default, except in tier
    /// none, where it is off), off, or host (the host's network, shared). `--network` alone
    /// means host.
    #[arg(long, value_name = "MODE", num_args = 0..=1, default_missing_value = "host")]
    pub network: Option<Network>,
    /// Seccomp profile: default (deny list), strict (allow list; single-process tests only),
    /// off.
    #[arg(long)]
    pub seccomp: Option<SeccompProfile>,
    /// cgroup use: auto (fall back to rlimits when none can be created), required, off.
    #[arg(long, default_value = "auto")]
    pub cgroup: CgroupMode,
    /// Extra environment variable for every test, KEY=VALUE (repeatable). Tests otherwise get
    /// cargo's variables, RUST_BACKTRACE & co. when set, PATH and HOME=/tmp.
    #[arg(long = "env", value_name = "K=V", value_parser = parse_env)]
    pub env: Vec<(String, String)>,
    /// A directory the tests may write in beyond the workspace, the target directory and their
    /// private /tmp (repeatable): every other path is closed to writing (Landlock).
    #[arg(long, value_name = "DIR")]
    pub writable: Vec<std::path::PathBuf>,
}

impl SandboxOpts {
    /// These options, with what they leave unset taken from a `hatchery` table of the nextest
    /// configuration (checked when it was read). Its `env` comes first: `--env` wins.
    pub fn or_config(&self, h: &crate::config::HatcheryCfg) -> SandboxOpts {
        let mut o = self.clone();
        o.tier = o
            .tier
            .or_else(|| h.tier.as_deref().and_then(|t| t.parse().ok()));
        o.network = o
            .network
            .or_else(|| h.network.as_deref().and_then(|t| t.parse().ok()));
        o.seccomp = o
            .seccomp
            .or_else(|| h.seccomp.as_deref().and_then(|t| t.parse().ok()));
        let mut env: Vec<(String, String)> =
            h.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        env.append(&mut o.env);
        o.env = env;
        o
    }

    pub fn settings(&self) -> SandboxSettings {
        let tier = self.tier.unwrap_or(Tier::Hardened);
        let mut view = hatchery_sandbox::View::default();
        for w in &self.writable {
            view.allow_write(w);
        }
        SandboxSettings {
            tier,
            network: self.network.unwrap_or(match tier {
                Tier::None => Network::Off,
                _ => Network::Loopback,
            }),
            cgroup: self.cgroup,
            seccomp: self.seccomp.unwrap_or(SeccompProfile::Default),
            view,
            spill: None,
        }
    }
}

/// Limits of every test process (with everything it starts).
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Limits (per test)")]
pub struct LimitOpts {
    /// Kill a test after this much wall-clock time: status TIMEOUT.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub timeout: Option<Duration>,
    /// CPU time limit of a test's processes together: status TIMEOUT.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub cpu_time: Option<Duration>,
    /// Memory limit of a test's processes together (e.g. 512M): status OOM.
    #[arg(long, value_parser = parse_bytes, value_name = "SIZE")]
    pub memory: Option<u64>,
    /// Processes and threads a test may have alive at once.
    #[arg(long, value_name = "N")]
    pub pids: Option<u64>,
    /// Output (stdout+stderr) a test may write; beyond it the test is killed (OUTPUT-LIMIT).
    /// Default: no limit — output beyond 4 MiB is spilled to disk below the target directory
    /// and never changes a verdict.
    #[arg(long, value_parser = parse_bytes, value_name = "SIZE")]
    pub output: Option<u64>,
}

impl LimitOpts {
    /// These limits, with what they leave unset taken from a `hatchery` table.
    pub fn or_config(&self, h: &crate::config::HatcheryCfg) -> LimitOpts {
        let d = |s: &Option<String>| s.as_deref().and_then(|v| parse_duration(v).ok());
        let b = |s: &Option<String>| s.as_deref().and_then(|v| parse_bytes(v).ok());
        LimitOpts {
            timeout: self.timeout.or_else(|| d(&h.timeout)),
            cpu_time: self.cpu_time.or_else(|| d(&h.cpu_time)),
            memory: self.memory.or_else(|| b(&h.memory)),
            pids: self.pids.or(h.pids),
            output: self.output.or_else(|| b(&h.output)),
        }
    }

    /// The per-test limits, refused (naming the option) when one cannot work.
    pub fn limits(&self) -> Result<Limits, String> {
        let l = Limits {
            cpu_us: self.cpu_time.map(|d| d.as_micros() as u64),
            wall_us: self.timeout.map(|d| d.as_micros() as u64),
            memory_bytes: self.memory,
            output_bytes: self.output,
            pids: self.pids,
            ..Default::default()
        };
        hatchery_sandbox::policy::check_limits(&l).map_err(|e| match e {
            hatchery_engine::LimitError::Zero { field } => format!(
                "--{}: must be greater than 0",
                match field {
                    "wall_time" => "timeout",
                    f => f,
                }
                .replace('_', "-")
            ),
            e => e.to_string(),
        })?;
        Ok(l)
    }
}

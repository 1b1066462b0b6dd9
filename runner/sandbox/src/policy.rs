//! What a user asks for: the tier of a zygote and the spec of one case.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt as _;
use std::path::PathBuf;
use std::str::FromStr;

use hatchery_report::Limits;
use serde::{Deserialize, Serialize};

/// Isolation tier of a zygote; namespaces are entered once per zygote, never per case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// No namespaces. rlimits, cgroup, uid drop (when root) and seccomp still apply.
    None,
    /// User + PID + IPC namespaces, plus a private mount namespace that gives the case a fresh
    /// `/proc`, a private `/tmp` and `/dev/shm`. The host filesystem stays visible.
    Hardened,
    /// Hardened + network namespace, read-only root, minimal `/dev`.
    Lockdown,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::None => "none",
            Tier::Hardened => "hardened",
            Tier::Lockdown => "lockdown",
        }
    }
}

impl FromStr for Tier {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "none" => Ok(Tier::None),
            "hardened" => Ok(Tier::Hardened),
            "lockdown" => Ok(Tier::Lockdown),
            _ => Err(format!(
                "unknown tier `{s}` (expected none, hardened or lockdown)"
            )),
        }
    }
}

/// Seccomp profile applied last, just before exec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeccompProfile {
    /// Deny list for untrusted code (see `seccomp.rs`).
    Default,
    /// Allow list for compiled, single-process judge submissions.
    Strict,
    /// No filter.
    Off,
}

impl FromStr for SeccompProfile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "default" => Ok(SeccompProfile::Default),
            "strict" => Ok(SeccompProfile::Strict),
            "off" => Ok(SeccompProfile::Off),
            _ => Err(format!(
                "unknown seccomp profile `{s}` (expected default, strict or off)"
            )),
        }
    }
}

/// Whether a cgroup must be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CgroupMode {
    /// Use one when the host lets us; otherwise fall back to rlimits and say so.
    Auto,
    /// Fail when no cgroup can be created.
    Required,
    /// Do not use cgroups (rlimit-only memory and pids enforcement).
    Off,
}

impl FromStr for CgroupMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(CgroupMode::Auto),
            "required" => Ok(CgroupMode::Required),
            "off" => Ok(CgroupMode::Off),
            _ => Err(format!(
                "unknown cgroup mode `{s}` (expected auto, required or off)"
            )),
        }
    }
}

/// Configuration of one zygote (one worker).
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    pub tier: Tier,
    /// Share the host network and allow inet sockets. Off by default.
    pub network: bool,
    pub cgroup: CgroupMode,
    /// Executable that contains the zygote entry point (`hatchery __zygote`).
    pub zygote_exe: PathBuf,
    /// Host uid/gid the case runs as when hatchery runs as root (default 65534, "nobody").
    pub case_host_uid: u32,
    pub case_host_gid: u32,
    /// Size of the private scratch tmpfs that holds `/tmp`, `/dev/shm` (and, in tier hardened,
    /// `/var/tmp` and `/run/lock`) together, bytes.
    pub tmp_size_bytes: u64,
    /// Seccomp profile the zygote installs on itself once (cases inherit it at no cost):
    /// `Default` serves cases asking for `default` or `strict`; `Off` serves every profile,
    /// each case installing its own.
    pub seccomp_base: SeccompProfile,
    /// Pin the zygote (and so its cases) to this CPU: a supervisor thread and a zygote on one
    /// CPU avoid a cross-CPU wake-up on every exchange.
    pub cpu: Option<usize>,
}

impl SandboxConfig {
    pub fn new(tier: Tier, zygote_exe: PathBuf) -> Self {
        SandboxConfig {
            tier,
            network: false,
            cgroup: CgroupMode::Auto,
            zygote_exe,
            case_host_uid: DEFAULT_CASE_HOST_ID,
            case_host_gid: DEFAULT_CASE_HOST_ID,
            tmp_size_bytes: 64 << 20,
            seccomp_base: SeccompProfile::Default,
            cpu: None,
        }
    }
}

/// Host uid and gid of cases when hatchery runs as root ("nobody").
pub const DEFAULT_CASE_HOST_ID: u32 = 65534;

impl SandboxConfig {
    /// Whose rights a case's files are opened with: the case's host uid and gid when we are
    /// root; `None` when cases run as our own uid (our rights are theirs).
    pub fn case_host_ids(&self) -> Option<crate::fsat::HostIds> {
        nix::unistd::geteuid()
            .is_root()
            .then_some(crate::fsat::HostIds {
                uid: self.case_host_uid,
                gid: self.case_host_gid,
            })
    }
}

/// Where a case's stdin comes from. Either way a regular file reaches the case as a sealed
/// anonymous copy (`/proc/self/fd/0` names no path, and the case cannot change it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stdin {
    /// A file named by whoever wrote the case (`run --stdin`, a jobs file): opened with the
    /// case's own rights, so a file the case could not open itself is refused.
    File(PathBuf),
    /// A file the front end vouches for, opened with the runner's rights: a judge's test
    /// input from a package it checked, a file the runner wrote itself.
    Trusted(PathBuf),
}

impl Stdin {
    pub fn path(&self) -> &std::path::Path {
        match self {
            Stdin::File(p) | Stdin::Trusted(p) => p,
        }
    }
}

/// One case: one program run with one input under one set of limits.
#[derive(Debug, Clone)]
pub struct CaseSpec {
    /// Program path or name (looked up in `PATH` when it has no slash).
    pub program: OsString,
    /// Full argv, including argv\[0\].
    pub argv: Vec<OsString>,
    /// Explicit environment overrides (applied last).
    pub env: Vec<(OsString, OsString)>,
    /// Start from the supervisor's environment instead of a clean one.
    pub inherit_env: bool,
    /// Working directory of the case, as seen inside the sandbox.
    pub cwd: PathBuf,
    /// Stdin of the case (default `/dev/null`).
    pub stdin: Option<Stdin>,
    pub limits: Limits,
    pub seccomp: SeccompProfile,
}

impl CaseSpec {
    pub fn new(argv: Vec<OsString>) -> Self {
        CaseSpec {
            program: argv.first().cloned().unwrap_or_default(),
            argv,
            env: Vec::new(),
            inherit_env: false,
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")),
            stdin: None,
            limits: Limits::default(),
            seccomp: SeccompProfile::Default,
        }
    }
}

/// uid and gid of the case inside the user namespace: never 0.
pub const CASE_NS_ID: u32 = 1000;

/// A limit or argument that cannot work, found before anything runs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error("`{field}` must be greater than 0 (a case cannot run under a limit of 0)")]
    Zero { field: &'static str },
    #[error(
        "the arguments and environment take {bytes} bytes, beyond the kernel's limit of {max} \
         for execve (ARG_MAX)"
    )]
    ArgvTooLong { bytes: usize, max: usize },
    #[error(
        "argument or environment string {index} has {bytes} bytes, beyond the kernel's limit \
         of {max} for one string (MAX_ARG_STRLEN)"
    )]
    StringTooLong {
        index: usize,
        bytes: usize,
        max: usize,
    },
}

/// Checks that every limit can work: CPU, wall, memory, pids, stack and open files of 0 are
/// refused (output and file size of 0 are meaningful: "write nothing"). `field` names are
/// those of the jobs file (`limits.<name>`); command-line front ends map them to options.
pub fn check_limits(l: &Limits) -> Result<(), LimitError> {
    let fields = [
        ("cpu_time", l.cpu_us),
        ("wall_time", l.wall_us),
        ("memory", l.memory_bytes),
        ("pids", l.pids),
        ("stack", l.stack_bytes),
        ("open_files", l.open_files),
    ];
    for (field, v) in fields {
        if v == Some(0) {
            return Err(LimitError::Zero { field });
        }
    }
    Ok(())
}

/// The kernel's limit on one argument or environment string (32 pages).
pub const MAX_ARG_STRLEN: usize = 32 * 4096;

/// Checks that argv and the environment (given as the byte length of each string, `K=V`
/// for the environment) fit what `execve` accepts here.
pub fn check_args(lengths: impl Iterator<Item = usize>) -> Result<(), LimitError> {
    // glibc answers ARG_MAX with a getrlimit call: once per process is enough.
    static ARG_MAX: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    let max = *ARG_MAX.get_or_init(|| {
        nix::unistd::sysconf(nix::unistd::SysconfVar::ARG_MAX)
            .ok()
            .flatten()
            .map_or(2 << 20, |v| v as usize)
    });
    let mut bytes = 0usize;
    for (index, len) in lengths.enumerate() {
        if len + 1 > MAX_ARG_STRLEN {
            return Err(LimitError::StringTooLong {
                index,
                bytes: len,
                max: MAX_ARG_STRLEN - 1,
            });
        }
        // Each string with its NUL, plus its pointer.
        bytes += len + 1 + std::mem::size_of::<usize>();
    }
    if bytes > max {
        return Err(LimitError::ArgvTooLong { bytes, max });
    }
    Ok(())
}

impl CaseSpec {
    /// Checks what can be checked before anything runs: every limit can work, and argv and
    /// the explicit environment fit what `execve` accepts. [`crate::Sandbox::prepare`] refuses
    /// a spec that fails; front ends call it earlier to name their own option or field.
    pub fn check(&self) -> Result<(), LimitError> {
        check_limits(&self.limits)?;
        let argv = self.argv.iter().map(|a| a.as_bytes().len());
        let env = self
            .env
            .iter()
            .map(|(k, v)| k.as_bytes().len() + 1 + v.as_bytes().len());
        check_args(argv.chain(env))
    }
}

#[cfg(test)]
mod limit_tests {
    use super::*;

    #[test]
    fn zero_limits_are_refused_and_named() {
        let l = Limits {
            memory_bytes: Some(0),
            ..Default::default()
        };
        assert_eq!(check_limits(&l), Err(LimitError::Zero { field: "memory" }));
        let ok = Limits {
            output_bytes: Some(0),
            file_size_bytes: Some(0),
            ..Default::default()
        };
        assert_eq!(check_limits(&ok), Ok(()));
    }

    #[test]
    fn argv_beyond_the_kernel_limit_is_refused() {
        assert!(matches!(
            check_args([200 * 1024].into_iter()),
            Err(LimitError::StringTooLong { .. })
        ));
        assert!(matches!(
            check_args(std::iter::repeat_n(100 * 1024, 100)),
            Err(LimitError::ArgvTooLong { .. })
        ));
        assert_eq!(check_args([4, 2].into_iter()), Ok(()));
    }
}

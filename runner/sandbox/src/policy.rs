//! What a user asks for: the tier of a zygote and the spec of one case.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
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
    /// `default` for fuzz targets: a case may also stop and inspect its own threads with
    /// `ptrace` (LeakSanitizer's stop-the-world), read-only requests only (see `seccomp.rs`
    /// and SECURITY.md).
    Fuzz,
}

impl SeccompProfile {
    /// Whether a case of this profile needs a zygote without the base filter (the `default`
    /// filter the zygote installs on itself kills what this profile allows), installing its
    /// own filter instead.
    pub fn needs_unfiltered_zygote(self) -> bool {
        matches!(self, SeccompProfile::Off | SeccompProfile::Fuzz)
    }
}

impl FromStr for SeccompProfile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "default" => Ok(SeccompProfile::Default),
            "strict" => Ok(SeccompProfile::Strict),
            "off" => Ok(SeccompProfile::Off),
            "fuzz" => Ok(SeccompProfile::Fuzz),
            _ => Err(format!(
                "unknown seccomp profile `{s}` (expected default, strict, fuzz or off)"
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

/// What network a case has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Network {
    /// A network namespace with no interface up (tier none: inet sockets refused by seccomp).
    #[default]
    Off,
    /// A network namespace with only `lo` up: servers and clients on 127.0.0.1 and ::1 work,
    /// every other address is unreachable. Needs a tier with namespaces.
    Loopback,
    /// The host's network, shared.
    Host,
}

impl Network {
    pub fn as_str(self) -> &'static str {
        match self {
            Network::Off => "off",
            Network::Loopback => "loopback",
            Network::Host => "host",
        }
    }

    /// Whether cases may open inet sockets (what they reach is the namespace's business).
    pub fn inet(self) -> bool {
        self != Network::Off
    }
}

impl FromStr for Network {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "off" => Ok(Network::Off),
            "loopback" => Ok(Network::Loopback),
            "host" => Ok(Network::Host),
            _ => Err(format!("unknown network `{s}` (off, loopback, host)")),
        }
    }
}

/// Configuration of one zygote (one worker).
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    pub tier: Tier,
    /// The network of its cases. Off by default.
    pub network: Network,
    pub cgroup: CgroupMode,
    /// Executable that contains the zygote entry point (`hatchery __zygote`).
    pub zygote_exe: PathBuf,
    /// Host uid and gid the cases run as when hatchery runs as root: by default (`None`) an id
    /// of its own from the range `HATCHERY_HOST_IDS` names, or [`crate::ids::DEFAULT_RANGE`].
    pub case_ids: Option<crate::ids::CaseIds>,
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
    /// Host paths shown or hidden beyond what the tier shows (tiers with a mount namespace).
    pub view: View,
}

/// What a zygote's cases see of the host filesystem beyond their tier's defaults. Set once per
/// zygote, when its mount namespace is built.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct View {
    /// Host directories the cases must see at their own path although the tier puts private
    /// scratch there (a working directory or a program under `/tmp`, `/var/tmp`, `/dev/shm`,
    /// `/run/lock`). Writable as the tier's view of the host is: by permissions in hardened,
    /// never in lockdown. A path that is itself a scratch directory is not shown: the case
    /// gets its private one.
    pub expose: Vec<PathBuf>,
    /// Host paths the cases must not see: each is covered by an empty read-only directory (or
    /// an empty file), e.g. a problem package and the judge's own work tree.
    pub hide: Vec<PathBuf>,
    /// Toolchains the cases run that live where the case uid cannot reach them (pyenv's
    /// `~/.pyenv` under a root-only `/root`): shown read-only at their own path.
    pub tools: Vec<PathBuf>,
    /// Directories the case uid may not search that lead to something shown (`/root`): each
    /// is replaced by an empty read-only directory holding only the ways to what is shown, so
    /// the rest of it stays out of sight.
    pub cover: Vec<PathBuf>,
    /// Host directories the cases may write in, as their permissions allow, beyond their
    /// scratch and device nodes. Every other path is closed to writing by Landlock where the
    /// kernel has it (tiers with a mount namespace), and a directory shown outside these is
    /// shown read-only.
    #[serde(default)]
    pub writable: Vec<PathBuf>,
}

/// The directories a tier with a mount namespace replaces by private scratch, where present
/// (lockdown's new root has `/tmp` and `/dev/shm` only).
pub const SCRATCH_DIRS: [&str; 4] = ["/tmp", "/dev/shm", "/var/tmp", "/run/lock"];

impl View {
    /// Lets the cases write below `path` (resolved; shown too when below a scratch directory).
    /// A path that does not resolve is left out.
    pub fn allow_write(&mut self, path: &Path) {
        let Ok(p) = std::fs::canonicalize(path) else {
            return;
        };
        self.show(&p);
        add_topmost(&mut self.writable, p);
    }

    /// Whether cases may write below `p`.
    pub fn may_write(&self, p: &Path) -> bool {
        self.writable.iter().any(|w| p.starts_with(w))
    }

    /// Adds `path` (made absolute and resolved) to the directories to show, when it lies below
    /// a scratch directory and is not shown already. Paths that do not resolve are left out:
    /// the case reports them as it would anywhere.
    pub fn show(&mut self, path: &Path) {
        let Ok(p) = std::fs::canonicalize(path) else {
            return;
        };
        if !p.is_dir() {
            return;
        }
        if !below_scratch(&p) {
            // A directory behind one the case uid may not search (a project under /root).
            match unsearchable_ancestor(&p) {
                Some(a) => self.add_cover(a),
                None => return,
            }
        }
        add_topmost(&mut self.expose, p);
    }

    /// Shows the toolchain `program` belongs to when the case uid could not reach it: the
    /// directory below the first one on its way that the case uid may not search (pyenv's
    /// shim `/root/.pyenv/shims/python3` gives `/root/.pyenv`), read-only.
    /// A program below a scratch directory is shown with its prefix (the parent of its `bin`
    /// directory: a compiler finds its libraries beside it), or its directory.
    pub fn show_tool(&mut self, program: &Path) {
        let real = std::fs::canonicalize(program).ok();
        if let Some(dir) = real.as_deref().and_then(Path::parent) {
            if below_scratch(dir) {
                let prefix = match dir.file_name() {
                    Some(n) if n == "bin" => dir.parent().filter(|p| below_scratch(p)),
                    _ => None,
                };
                add_topmost(&mut self.tools, prefix.unwrap_or(dir).to_path_buf());
            }
        }
        for p in std::iter::once(program).chain(real.as_deref()) {
            let Some(a) = unsearchable_ancestor(p) else {
                continue;
            };
            let Ok(rest) = p.strip_prefix(&a) else {
                continue;
            };
            let Some(first) = rest.components().next() else {
                continue;
            };
            let root = a.join(first);
            if root == p {
                // A program right in the unsearchable directory: its directory only.
                continue;
            }
            let Ok(root) = std::fs::canonicalize(root) else {
                continue;
            };
            self.add_cover(a.clone());
            add_topmost(&mut self.tools, root);
        }
        // A rustup proxy needs its RUSTUP_HOME too (CARGO_HOME holds the proxy itself).
        for (var, home) in rustup_homes(program) {
            if var == "RUSTUP_HOME" {
                self.show_tool(&home.join("toolchains").join("."));
            }
        }
    }

    /// Shows directory `dir` (resolved) read-only where the cases could not reach it
    /// otherwise: behind a directory the case uid may not search (the toolchain's libraries
    /// under a root-only `/root`), or below a scratch directory. A directory already shown is
    /// left as it is.
    pub fn show_read_only(&mut self, dir: &Path) {
        let Ok(d) = std::fs::canonicalize(dir) else {
            return;
        };
        if !d.is_dir()
            || self
                .expose
                .iter()
                .chain(&self.tools)
                .any(|e| d.starts_with(e))
        {
            return;
        }
        if below_scratch(&d) {
            add_topmost(&mut self.tools, d);
        } else if let Some(a) = unsearchable_ancestor(&d) {
            self.add_cover(a);
            add_topmost(&mut self.tools, d);
        }
    }

    /// [`View::show_tool`] for a command as a case would name it (a bare name is looked up in
    /// `PATH`, a relative path taken from `cwd`).
    pub fn show_command(&mut self, program: &std::ffi::OsStr, cwd: &Path) {
        if let Ok(p) = crate::supervisor::resolve_program(program, cwd) {
            self.show_tool(&p);
        }
    }

    fn add_cover(&mut self, dir: PathBuf) {
        add_topmost(&mut self.cover, dir);
    }

    /// Shows what a case is given that lies below a scratch directory: its working directory,
    /// its program's directory, and the directory of every argument and environment value
    /// that names an existing path (a script, an input file, a state directory); and the
    /// toolchain of its program when the case uid could not reach it.
    pub fn show_case(&mut self, spec: &CaseSpec) {
        self.show(&spec.cwd);
        self.show_command(&spec.program, &spec.cwd);
        let args = std::iter::once(&spec.program).chain(spec.argv.iter().skip(1));
        for a in args {
            if a.as_bytes().contains(&b'/') {
                self.show_named(&spec.cwd.join(a));
            }
        }
        for (_, v) in &spec.env {
            self.show_value(v);
        }
    }

    /// Shows the path an environment value or argument names, when it is an absolute path.
    pub fn show_value(&mut self, value: &std::ffi::OsStr) {
        if value.as_bytes().starts_with(b"/") {
            self.show_named(Path::new(value));
        }
    }

    /// Shows `p` if it is a directory, else the directory it is in (when it exists).
    fn show_named(&mut self, p: &Path) {
        match std::fs::metadata(p) {
            Ok(m) if m.is_dir() => self.show(p),
            Ok(_) => {
                if let Some(parent) = p.parent() {
                    self.show(parent)
                }
            }
            Err(_) => {}
        }
    }

    /// Adds `path` (resolved) to the paths to hide.
    pub fn hide(&mut self, path: &Path) {
        let p = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        if !self.hide.contains(&p) {
            self.hide.push(p);
        }
    }
}

/// The names rustup installs its proxies under (each a link to `rustup`).
const RUSTUP_PROXIES: [&str; 14] = [
    "cargo",
    "rustc",
    "rustdoc",
    "rustup",
    "rustfmt",
    "cargo-fmt",
    "cargo-clippy",
    "clippy-driver",
    "cargo-miri",
    "rust-analyzer",
    "rust-gdb",
    "rust-gdbgui",
    "rust-lldb",
    "rls",
];

/// rustup's proxies (`cargo`, `rustc`, ... links to `rustup`) find their toolchain through
/// `RUSTUP_HOME` and `CARGO_HOME`, by default below `$HOME`, which a case's `HOME` (`/tmp`)
/// is not. When `program` is one of them: the homes our rustup uses (our variables, else
/// below our `$HOME`), those that exist. Cheap for other programs (a name check).
pub fn rustup_homes(program: &Path) -> Vec<(&'static str, PathBuf)> {
    let named = program
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| RUSTUP_PROXIES.contains(&n));
    let proxy = named
        && std::fs::canonicalize(program)
            .ok()
            .is_some_and(|c| c.file_name().is_some_and(|n| n == "rustup"));
    if !proxy {
        return Vec::new();
    }
    let home = std::env::var_os("HOME").map(PathBuf::from);
    [("RUSTUP_HOME", ".rustup"), ("CARGO_HOME", ".cargo")]
        .into_iter()
        .filter_map(|(var, default)| {
            let dir = std::env::var_os(var)
                .map(PathBuf::from)
                .or_else(|| home.as_ref().map(|h| h.join(default)))?;
            dir.is_dir().then_some((var, dir))
        })
        .collect()
}

/// Adds `p` to `list` unless a directory in it holds `p` already; drops the entries `p` holds.
fn add_topmost(list: &mut Vec<PathBuf>, p: PathBuf) {
    if list.iter().any(|e| p.starts_with(e)) {
        return;
    }
    list.retain(|e| !e.starts_with(&p));
    list.push(p);
}

/// The first directory on the way to `p` (an absolute path) that the case uid may not search,
/// when hatchery runs as root (a normal user's cases can go where the user can). Mode bits
/// for others only: a case's host uid and gid own nothing (see [`crate::ids`]), it has no
/// supplementary groups, and ACLs are not read.
pub fn unsearchable_ancestor(p: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::MetadataExt as _;
    if !nix::unistd::geteuid().is_root() {
        return None;
    }
    let mut at = PathBuf::from("/");
    for part in p.parent()?.components().skip(1) {
        at.push(part);
        let m = std::fs::metadata(&at).ok()?;
        if m.mode() & 0o001 == 0 {
            return Some(at);
        }
    }
    None
}

/// Whether `p` lies strictly below one of [`SCRATCH_DIRS`].
pub fn below_scratch(p: &Path) -> bool {
    SCRATCH_DIRS
        .iter()
        .any(|s| p.starts_with(s) && p != Path::new(s))
}

impl SandboxConfig {
    pub fn new(tier: Tier, zygote_exe: PathBuf) -> Self {
        SandboxConfig {
            tier,
            network: Network::Off,
            cgroup: CgroupMode::Auto,
            zygote_exe,
            case_ids: None,
            tmp_size_bytes: 64 << 20,
            seccomp_base: SeccompProfile::Default,
            cpu: None,
            view: View::default(),
        }
    }
}

/// "nobody": the host uid and gid a front end may fix for all its cases
/// ([`crate::ids::CaseIds::Fixed`]) instead of an id per zygote.
pub const DEFAULT_CASE_HOST_ID: u32 = 65534;

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
    /// The network the case needs (its zygote is chosen by it).
    pub network: Network,
    /// Run in the executor's private view (a zygote of its own), which hides what the front
    /// end keeps from untrusted code: a judge's problem package, for its submissions and
    /// their compilation.
    pub private_view: bool,
    /// Size of the private scratch tmpfs (`/tmp`, `/dev/shm`, ...) the case needs, bytes;
    /// `None`: the zygote's default (64 MiB). A zygote has one size, so an executor keeps
    /// zygotes per size: a compiler's temporaries get room without giving it to every run.
    pub scratch_bytes: Option<u64>,
    /// Run as the executor's shared host ids (`ExecSettings::shared_ids`, when it has them)
    /// instead of the worker's own: for cases that use directories a front end lent to one
    /// uid before it knew which worker would run them.
    pub shared_ids: bool,
    /// Keep output beyond what is kept in memory on disk (see [`Spill`]); `None`: output
    /// beyond the capture size is counted but not kept.
    pub spill: Option<Spill>,
    /// Write ends of two pipes (stdout's, stderr's) that the zygote copies the case's output
    /// to as it arrives (live output, e.g. `--no-capture`), besides capturing it. The case
    /// never gets them.
    pub live: Option<[std::sync::Arc<std::os::fd::OwnedFd>; 2]>,
    /// After the main process exits, how long the processes it left get to end, or to close
    /// the case's stdout and stderr, by themselves (their output is still collected), before
    /// they are killed (nextest's `leak-timeout`). Only processes that still hold the case's
    /// stdout or stderr then count as leftovers (nextest's leak); others are killed uncounted.
    /// `None`: every process left is killed at once and counted.
    pub leak_wait: Option<std::time::Duration>,
    /// When the wall-clock limit ends the case: SIGTERM to every process of it first, SIGKILL
    /// this long after (nextest's `slow-timeout` `grace-period`). `None` or zero: SIGKILL at
    /// once. The outcome is the time limit either way.
    pub kill_grace: Option<std::time::Duration>,
}

/// Output spilling: the zygote keeps the first `memory_bytes` of a case's stdout and stderr
/// (together) in memory and appends everything beyond them to one unlinked file per stream,
/// opened by the supervisor in `dir` (mode 0600, `O_TMPFILE`: no name anything could open,
/// never a descriptor of the case's). The result then holds each stream's head and its last
/// `tail_bytes`; the runner's memory stays bounded whatever a case writes. The output limit
/// ([`hatchery_report::Limits::output_bytes`]) stays what it is: an explicit choice to kill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spill {
    pub memory_bytes: u64,
    pub tail_bytes: u64,
    /// Directory of the spill files (on a filesystem with `O_TMPFILE`: tmpfs, ext4, xfs,
    /// btrfs, ...). Must be writable by the runner.
    pub dir: PathBuf,
    /// Give the whole streams of a case whose outcome is not `ok` a name in `dir`
    /// ([`hatchery_report::Captured::file`]); those of other cases are discarded.
    pub keep_failed: bool,
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
            network: Network::Off,
            private_view: false,
            scratch_bytes: None,
            shared_ids: false,
            spill: None,
            live: None,
            leak_wait: None,
            kill_grace: None,
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

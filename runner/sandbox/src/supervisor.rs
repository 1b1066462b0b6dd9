//! The parent side: start a zygote, turn a [`CaseSpec`] into a request (resolving and pinning
//! the program, opening stdin), send it, and turn the zygote's raw facts into a
//! [`CaseResult`].

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::Read as _;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use hatchery_report::{decide, error_chain, CaseResult, Enforcement, LayerState, Limits, RawFacts};

use crate::cgroup::{CgroupSlot, Version};
use crate::fsat::HostIds;
use crate::ids::CaseIds;
use crate::policy::{
    CaseSpec, CgroupMode, Network, SandboxConfig, SeccompProfile, Stdin, Tier, CASE_NS_ID,
};
use crate::spill::SpillFiles;
use crate::wire::{self, CaseReply, CaseRequest, Health, Hello, ZygoteInit};
use crate::zygote::DEFAULT_CAPTURE_BYTES;

/// The sandbox could not be set up (our failure or the host's, never the program's).
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("failed to start the zygote {exe}")]
    Spawn {
        exe: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the zygote failed to set up tier {tier}: {reason}")]
    Setup { tier: &'static str, reason: String },
    #[error("a cgroup is required but cannot be used here")]
    Cgroup(#[source] crate::cgroup::CgroupError),
    #[error("zygote protocol failure")]
    Wire(#[from] wire::WireError),
    #[error("no host uid for the cases: {0}")]
    HostIds(String),
}

impl SandboxError {
    /// Whether the host lacks a kernel feature the policy needs (as opposed to a bug or a
    /// transient failure).
    pub fn is_missing_feature(&self) -> bool {
        matches!(self, SandboxError::Setup { .. } | SandboxError::Cgroup(_))
    }
}

/// The zygote failed while running a case: no fact about the program is known. The zygote is
/// not used again (see [`Sandbox::is_healthy`]); the caller decides whether to retry.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("this zygote is no longer usable (it failed on an earlier case)")]
    Unusable,
    #[error("the zygote died during the case (launcher status: {status})")]
    Died { status: String },
    #[error("the zygote did not answer within {grace:?} of the case's time limit")]
    Hung { grace: Duration },
    #[error("failed to exchange the case with the zygote: {0}")]
    Protocol(String),
    /// Its last cleanup failed, so it runs nothing more (the executor replaces it first; this
    /// is what a caller that does not gets).
    #[error("this zygote retired after its last case: {reason}")]
    Retired { reason: String },
}

/// The case cannot be started as specified (the user's input, reported before running).
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("program `{0}` not found")]
    NotFound(String),
    #[error("program `{path}` is not executable: {reason}")]
    NotExecutable { path: String, reason: String },
    #[error("cannot read stdin file `{path}`: {reason}")]
    Stdin { path: String, reason: String },
    #[error("working directory `{path}`: {reason}")]
    Cwd { path: String, reason: String },
    #[error("empty argv")]
    EmptyArgv,
    #[error(transparent)]
    Limits(#[from] crate::policy::LimitError),
    #[error("seccomp profiles `off` and `fuzz` need a zygote started with the `off` base profile")]
    SeccompOff,
    #[error("network `loopback` needs a network namespace of its own: tier hardened or lockdown")]
    LoopbackNeedsNamespace,
    #[error("a scratch of {wanted} bytes needs a zygote started with it (this one has {has})")]
    Scratch { wanted: u64, has: u64 },
    #[error("cannot open output spill files in {dir}")]
    Spill {
        dir: String,
        #[source]
        source: std::io::Error,
    },
    #[error("network `{wanted}` needs a zygote started with it (this one has `{has}`)")]
    Network {
        wanted: &'static str,
        has: &'static str,
    },
}

/// A case whose program is resolved and pinned by a descriptor.
pub struct PreparedCase {
    request: CaseRequest,
    exec: OwnedFd,
    stdin: Option<OwnedFd>,
    cwd: Option<OwnedFd>,
    spill: Option<(crate::policy::Spill, SpillFiles)>,
    live: Option<[std::sync::Arc<OwnedFd>; 2]>,
    /// The resolved program path.
    pub program: PathBuf,
}

/// One zygote and the cgroup slot it uses.
pub struct Sandbox {
    cfg: SandboxConfig,
    launcher: Child,
    sock: UnixStream,
    slot: Option<CgroupSlot>,
    enforcement: Enforcement,
    broken: bool,
    /// Set once the launcher was sent SIGKILL (it is reaped only on drop).
    cancelled: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// The socket's read timeout as last set (`None`: not set since start-up).
    read_timeout: Option<Option<Duration>>,
    /// Set when a reply said the zygote must retire (cleaning up after a case failed).
    retired: Option<String>,
    /// The last working directory resolved by [`Sandbox::cwd_in_view`] and its real path: the
    /// cases of a batch mostly share one, and resolving it costs a lookup per component.
    last_cwd: std::sync::Mutex<Option<(PathBuf, PathBuf)>>,
    /// Host uid and gid of the cases when we are root (`None`: they run as our own uid).
    ids: Option<HostIds>,
    /// The locks on the ids leased from the range (the cases', the namespace owner's):
    /// released after the zygote is gone (fields drop after [`Drop::drop`] killed and reaped
    /// it).
    _leases: Vec<crate::ids::Lease>,
    /// The spill files of the last case, emptied, for the next one that spills.
    spill_files: std::sync::Mutex<Option<SpillFiles>>,
}

/// Default `PATH` of a clean environment.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

impl Sandbox {
    /// Starts a zygote for `cfg`. Fails with a message naming the missing kernel feature when
    /// the host cannot provide the tier.
    pub fn start(cfg: SandboxConfig) -> Result<Sandbox, SandboxError> {
        let euid = nix::unistd::geteuid().as_raw();
        let egid = nix::unistd::getegid().as_raw();
        let root = euid == 0;
        let mut enforcement = Enforcement::new();
        if cfg.tier == Tier::None && cfg.network == Network::Loopback {
            return Err(SandboxError::Setup {
                tier: cfg.tier.as_str(),
                reason: "network `loopback` needs a network namespace of its own: use tier \
                         hardened or lockdown"
                    .into(),
            });
        }

        let slot = match cfg.cgroup {
            CgroupMode::Off => {
                enforcement.insert(
                    "cgroup".into(),
                    LayerState::none("disabled by configuration"),
                );
                None
            }
            mode => match CgroupSlot::allocate() {
                Ok(s) => Some(s),
                Err(e) if mode == CgroupMode::Required => return Err(SandboxError::Cgroup(e)),
                Err(e) => {
                    enforcement.insert(
                        "cgroup".into(),
                        LayerState::none(format!("{}; falling back to rlimits", error_chain(&e))),
                    );
                    None
                }
            },
        };
        // Root: the host ids of this zygote's cases, its own unless fixed by the caller.
        // Root: the host ids of this zygote's cases, its own unless fixed by the caller; and
        // the owner of its user namespace, always an id of the range held for it alone:
        // a process of the owner's uid outside the namespace has every capability in it
        // (host root is mapped there), so never a fixed id such as nobody, which host
        // daemons run as.
        let mut leases = Vec::new();
        let (ids, owner) = if root {
            let configured = cfg.case_ids.map_or_else(CaseIds::configured, Ok);
            let range = match configured {
                Err(e) => return Err(SandboxError::HostIds(e)),
                Ok(CaseIds::Range(r)) => r,
                Ok(CaseIds::Fixed(_)) => match CaseIds::configured() {
                    Ok(CaseIds::Range(r)) => r,
                    _ => crate::ids::DEFAULT_RANGE,
                },
            };
            let fixed = match configured {
                Ok(CaseIds::Fixed(ids)) => Some(ids),
                _ => None,
            };
            let needs_lease = fixed.is_none() || cfg.tier != Tier::None;
            let leased = if needs_lease {
                let l = crate::ids::lease(range).map_err(SandboxError::HostIds)?;
                let ids = l.ids;
                leases.push(l);
                Some(ids)
            } else {
                None
            };
            (fixed.or(leased), leased.filter(|_| cfg.tier != Tier::None))
        } else {
            (None, None)
        };
        let version = slot.as_ref().map(|s| s.version);
        let dir_fds = match &slot {
            Some(s) => s.open_dirs().map_err(SandboxError::Cgroup)?,
            None => Vec::new(),
        };
        let (uid_map, gid_map, zygote_ns_id, case_uid, case_gid, switch_ids) = match (cfg.tier, ids)
        {
            (Tier::None, Some(ids)) => (String::new(), String::new(), 0, ids.uid, ids.gid, true),
            (Tier::None, None) => (String::new(), String::new(), euid, euid, egid, false),
            (_, Some(ids)) => (
                format!("0 0 1\n{CASE_NS_ID} {} 1\n", ids.uid),
                format!("0 0 1\n{CASE_NS_ID} {} 1\n", ids.gid),
                0,
                CASE_NS_ID,
                CASE_NS_ID,
                true,
            ),
            (_, None) => (
                format!("{CASE_NS_ID} {euid} 1\n"),
                format!("{CASE_NS_ID} {egid} 1\n"),
                CASE_NS_ID,
                CASE_NS_ID,
                CASE_NS_ID,
                true,
            ),
        };
        let init = ZygoteInit {
            tier: cfg.tier,
            network: cfg.network,
            uid_map,
            gid_map,
            deny_setgroups: !root && cfg.tier != Tier::None,
            zygote_ns_id,
            ns_owner: owner.map(|i| (i.uid, i.gid)),
            case_uid,
            case_gid,
            switch_ids,
            cgroup: version,
            tmp_size_bytes: cfg.tmp_size_bytes,
            supervisor_pid: std::process::id() as i32,
            seccomp_base: match cfg.seccomp_base {
                SeccompProfile::Off => SeccompProfile::Off,
                _ => SeccompProfile::Default,
            },
            cpu: cfg.cpu,
            view: cfg.view.clone(),
        };

        let (ours, theirs) = UnixStream::pair().map_err(|source| SandboxError::Spawn {
            exe: cfg.zygote_exe.clone(),
            source,
        })?;
        let launcher = Command::new(&cfg.zygote_exe)
            .arg("__zygote")
            .env_clear()
            .stdin(Stdio::from(OwnedFd::from(theirs)))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|source| SandboxError::Spawn {
                exe: cfg.zygote_exe.clone(),
                source,
            })?;
        let raw: Vec<i32> = dir_fds.iter().map(|f| f.as_raw_fd()).collect();
        let mut sb = Sandbox {
            cfg,
            launcher,
            sock: ours,
            slot,
            enforcement,
            broken: false,
            cancelled: Default::default(),
            read_timeout: None,
            retired: None,
            last_cwd: Default::default(),
            ids,
            _leases: leases,
            spill_files: Default::default(),
        };
        wire::send(&sb.sock, &init, &raw)?;
        drop(dir_fds);
        sb.sock
            .set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(|e| SandboxError::Wire(e.into()))?;
        let (mut hello, _) = wire::recv::<Hello>(&sb.sock, 1 << 20)?;
        if let Hello::Unshared = hello {
            let pid = sb.launcher.id();
            if let Err(reason) = write_id_maps(pid, &init) {
                return Err(SandboxError::Setup {
                    tier: sb.cfg.tier.as_str(),
                    reason,
                });
            }
            wire::send(&sb.sock, &wire::MapsWritten, &[])?;
            hello = wire::recv::<Hello>(&sb.sock, 1 << 20)?.0;
        }
        sb.sock
            .set_read_timeout(None)
            .map_err(|e| SandboxError::Wire(e.into()))?;
        match hello {
            Hello::Ready { enforcement, .. } => {
                sb.enforcement.extend(enforcement);
                sb.add_host_layers(root);
                Ok(sb)
            }
            Hello::Unshared => Err(SandboxError::Setup {
                tier: sb.cfg.tier.as_str(),
                reason: "the zygote asked for its id maps twice".into(),
            }),
            Hello::Failed { error } => Err(SandboxError::Setup {
                tier: sb.cfg.tier.as_str(),
                reason: error,
            }),
        }
    }

    fn add_host_layers(&mut self, root: bool) {
        let e = &mut self.enforcement;
        if let Some(slot) = &self.slot {
            let v = match slot.version {
                Version::V1 => "cgroup v1",
                Version::V2 => "cgroup v2",
            };
            e.insert(
                "cgroup_memory".into(),
                LayerState::full(format!("{v} memory limit, peak and OOM events")),
            );
            e.insert(
                "cgroup_pids".into(),
                LayerState::full(format!("{v} pids.max")),
            );
            e.insert(
                "cgroup_cpu".into(),
                LayerState::full(format!(
                    "{v} CPU accounting of every process; the zygote kills at the limit"
                )),
            );
            e.remove("cgroup");
        } else {
            e.insert(
                "cgroup_memory".into(),
                LayerState::partial("rlimit only (RLIMIT_AS per process); peak from rusage"),
            );
            e.insert(
                "cgroup_pids".into(),
                LayerState::partial("rlimit only (RLIMIT_NPROC)"),
            );
            e.insert(
                "cgroup_cpu".into(),
                LayerState::partial("rlimit only (RLIMIT_CPU per process, whole seconds)"),
            );
        }
        e.insert(
            "rlimits".into(),
            LayerState::full("cpu backstop, fsize, stack, nofile, core=0"),
        );
        if self.cfg.tier == Tier::None {
            e.insert(
                "user".into(),
                if root {
                    LayerState::full(format!(
                        "runs as host uid {} (this worker's own) with no capabilities",
                        self.ids.map_or(0, |i| i.uid)
                    ))
                } else {
                    LayerState::partial("runs as the invoking user (no uid switch without root)")
                },
            );
        }
        if self.cfg.tier == Tier::None {
            e.insert(
                "landlock".into(),
                LayerState::none(if root {
                    "tier none: cases write wherever their uid (this worker's own) may"
                } else {
                    "tier none: cases write wherever the invoking user may"
                }),
            );
        }
    }

    /// Layers enforced by this zygote (the seccomp layer is per case).
    pub fn enforcement(&self) -> &Enforcement {
        &self.enforcement
    }

    pub fn tier(&self) -> Tier {
        self.cfg.tier
    }

    /// Resolves and pins the program, opens stdin, builds the environment.
    pub fn prepare(&self, spec: &CaseSpec) -> Result<PreparedCase, SpecError> {
        if spec.seccomp.needs_unfiltered_zygote() && self.cfg.seccomp_base != SeccompProfile::Off {
            return Err(SpecError::SeccompOff);
        }
        if let Some(b) = spec.scratch_bytes.filter(|b| *b != self.cfg.tmp_size_bytes) {
            return Err(SpecError::Scratch {
                wanted: b,
                has: self.cfg.tmp_size_bytes,
            });
        }
        if spec.network != self.cfg.network {
            return Err(SpecError::Network {
                wanted: spec.network.as_str(),
                has: self.cfg.network.as_str(),
            });
        }
        let Pinned {
            program,
            exec,
            script,
            stdin,
            cwd,
        } = pin(spec, self.cfg.tier, self.ids)?;
        // The case gets a sealed copy: its descriptor names no file (nothing beside it to
        // find) and it cannot change what it reads.
        let stdin = match stdin {
            None => None,
            Some(f) => Some(crate::fsat::case_input(f).map_err(|e| {
                SpecError::Stdin {
                    path: spec
                        .stdin
                        .as_ref()
                        .map_or(String::new(), |s| s.path().display().to_string()),
                    reason: format!("cannot make the case's copy: {e}"),
                }
            })?),
        };
        let mut env: Vec<(OsString, OsString)> = if spec.inherit_env {
            std::env::vars_os().collect()
        } else {
            vec![
                ("PATH".into(), DEFAULT_PATH.into()),
                ("HOME".into(), "/tmp".into()),
            ]
        };
        // A rustup proxy finds its toolchain where ours is (unless the case says otherwise).
        for (var, home) in crate::policy::rustup_homes(&program) {
            // Tier none has no view to show it through: say so before running.
            if self.cfg.tier == Tier::None && self.ids.is_some() {
                if let Some(a) = crate::policy::unsearchable_ancestor(&home.join(".")) {
                    return Err(SpecError::NotExecutable {
                        path: program.display().to_string(),
                        reason: format!(
                            "it is a rustup proxy whose {var} ({}) the case uid cannot reach: \
                             {} is not searchable by others; use tier hardened or lockdown \
                             (which show it read-only), or install the toolchain where every \
                             user can read it",
                            home.display(),
                            a.display()
                        ),
                    });
                }
            }
            if !env.iter().any(|(k, _)| k == var) {
                env.push((var.into(), home.into_os_string()));
            }
        }
        for (k, v) in &spec.env {
            env.retain(|(ek, _)| ek != k);
            env.push((k.clone(), v.clone()));
        }
        let request = CaseRequest {
            argv: spec.argv.iter().map(|a| a.as_bytes().to_vec()).collect(),
            env: env
                .iter()
                .map(|(k, v)| {
                    let mut b = k.as_bytes().to_vec();
                    b.push(b'=');
                    b.extend_from_slice(v.as_bytes());
                    b
                })
                .collect(),
            cwd: self.cwd_in_view(&spec.cwd).as_os_str().as_bytes().to_vec(),
            limits: with_wall_backstop(&spec.limits),
            seccomp: spec.seccomp,
            script,
            program: script_path(&program).as_os_str().as_bytes().to_vec(),
            has_stdin: stdin.is_some(),
            has_cwd_fd: cwd.is_some(),
            has_spill: spec.spill.is_some(),
            has_live: spec.live.is_some(),
            capture_bytes: spec.spill.as_ref().map(|s| s.memory_bytes),
            leak_wait_us: spec.leak_wait.map(|d| d.as_micros() as u64),
            kill_grace_us: spec.kill_grace.map(|d| d.as_micros() as u64),
        };
        let spill = match &spec.spill {
            None => None,
            Some(sp) => {
                let cached = self.spill_files.lock().ok().and_then(|mut c| c.take());
                let files = match cached {
                    Some(f) if f.dir == sp.dir => f,
                    _ => SpillFiles::open(&sp.dir).map_err(|source| SpecError::Spill {
                        dir: sp.dir.display().to_string(),
                        source,
                    })?,
                };
                Some((sp.clone(), files))
            }
        };
        Ok(PreparedCase {
            request,
            exec,
            stdin,
            cwd,
            spill,
            live: spec.live.clone(),
            program,
        })
    }

    /// The path the zygote opens as the case's working directory: the real path when the view
    /// shows directories (it shows them by their real path, and a `..` or a link through a
    /// directory that is not shown would not resolve; the case's getcwd() gives the real path
    /// anyway), as given otherwise (no lookups on the way of every case).
    fn cwd_in_view(&self, cwd: &Path) -> PathBuf {
        let v = &self.cfg.view;
        let shows = !(v.expose.is_empty() && v.tools.is_empty() && v.cover.is_empty());
        let dotdot = cwd
            .components()
            .any(|c| c == std::path::Component::ParentDir);
        if !(shows || dotdot) {
            return cwd.to_path_buf();
        }
        let mut last = self.last_cwd.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((given, real)) = &*last {
            if given == cwd {
                return real.clone();
            }
        }
        let real = std::fs::canonicalize(cwd).unwrap_or_else(|_| cwd.to_path_buf());
        *last = Some((cwd.to_path_buf(), real.clone()));
        real
    }

    /// Runs one prepared case and derives its outcome from the zygote's facts. A failure of
    /// the zygote itself (it died, hung or answered garbage) is an error, never a result: the
    /// zygote is not trusted again.
    pub fn run(&mut self, case: PreparedCase) -> Result<CaseResult, RunError> {
        if self.broken {
            return Err(RunError::Unusable);
        }
        let facts = self.exchange(&case).inspect_err(|_| {
            self.broken = true;
            self.kill_launcher();
        })?;
        let mut r = self.decide(facts, &case.request.limits, case.request.seccomp);
        if let Some((spec, files)) = case.spill {
            let back = crate::spill::finish(files, &spec, &mut r);
            if let Ok(mut c) = self.spill_files.lock() {
                *c = back;
            }
        }
        Ok(r)
    }

    /// The result of facts this zygote's case produced (or that a caller made up for a case
    /// of this zygote, e.g. one that never started).
    pub fn decide(&self, facts: RawFacts, limits: &Limits, seccomp: SeccompProfile) -> CaseResult {
        let mut enforcement = self.enforcement.clone();
        enforcement.insert(
            "seccomp".into(),
            seccomp_layer(seccomp, self.cfg.network.inet()),
        );
        decide(facts, limits, self.cfg.tier.as_str(), enforcement)
    }

    fn exchange(&mut self, case: &PreparedCase) -> Result<RawFacts, RunError> {
        if let Some(reason) = &self.retired {
            // Its last cleanup failed: the next case could see what the last one left.
            return Err(RunError::Retired {
                reason: reason.clone(),
            });
        }
        let mut fds = vec![case.exec.as_raw_fd()];
        if let Some(s) = &case.stdin {
            fds.push(s.as_raw_fd());
        }
        if let Some(c) = &case.cwd {
            fds.push(c.as_raw_fd());
        }
        if let Some((_, s)) = &case.spill {
            fds.extend(s.files.iter().map(|f| f.as_raw_fd()));
        }
        if let Some(l) = &case.live {
            fds.extend(l.iter().map(|f| f.as_raw_fd()));
        }
        wire::send(&self.sock, &case.request, &fds).map_err(|e| {
            RunError::Protocol(format!("failed to send the case: {}", error_chain(&e)))
        })?;
        let out = case
            .request
            .capture_bytes
            .or(case.request.limits.output_bytes)
            .unwrap_or(DEFAULT_CAPTURE_BYTES);
        // The zygote keeps at most `out` bytes of stdout and stderr together and sends them
        // raw after the JSON header (one byte each, whatever they are), and keeps the header
        // short (clipped strings): the frame body is at most 4 + MAX_REPLY_HEADER_BYTES + out.
        let cap = wire::reply_cap(out);
        // The zygote enforces the case's limits itself; if it does not answer well after
        // them, it hangs.
        let l = &case.request.limits;
        let bound = l
            .wall_us
            .or(l.cpu_us.map(|c| c.saturating_mul(4)))
            .map(|us| {
                let r = &case.request;
                let after = r.leak_wait_us.unwrap_or(0) + r.kill_grace_us.unwrap_or(0);
                Duration::from_micros(us.saturating_add(after)) + HANG_GRACE
            });
        if self.read_timeout != Some(bound) {
            self.sock.set_read_timeout(bound).map_err(|e| {
                RunError::Protocol(format!("failed to set the zygote read timeout: {e}"))
            })?;
            self.read_timeout = Some(bound);
        }
        let reply = wire::recv_reply(&self.sock, cap).map_err(|e| match e {
            wire::WireError::Closed => RunError::Died {
                status: match self.launcher.try_wait() {
                    Ok(Some(s)) => s.to_string(),
                    _ => "still running".into(),
                },
            },
            wire::WireError::Io(io)
                if matches!(
                    io.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                RunError::Hung { grace: HANG_GRACE }
            }
            e => RunError::Protocol(format!("failed to read the answer: {}", error_chain(&e))),
        })?;
        let CaseReply {
            mut facts,
            failure,
            health,
        } = reply;
        if let Health::Retire { reason } = health {
            // The case's facts stand; the zygote is not used again.
            self.retired.get_or_insert(reason);
        }
        if let Some(f) = failure {
            facts.error = Some(f.render());
        }
        Ok(facts)
    }

    /// Why this zygote retired (a reply said cleaning up after a case failed), if it did.
    pub fn retire_reason(&self) -> Option<&str> {
        self.retired.as_deref()
    }

    /// Pid of the launcher process (the zygote's parent; for tier `none`, the zygote).
    pub fn launcher_pid(&self) -> u32 {
        self.launcher.id()
    }

    /// False once the zygote died, hung, answered garbage or retired: replace this sandbox.
    pub fn is_healthy(&self) -> bool {
        !self.broken && self.retired.is_none()
    }

    /// A handle that kills this zygote (and with it the running case) from another thread.
    /// The launcher stays our unreaped child until this sandbox is dropped, so its pid cannot
    /// be reused by another process meanwhile.
    pub fn interrupter(&self) -> impl Fn() + Send + Sync + 'static {
        let pid = nix::unistd::Pid::from_raw(self.launcher.id() as i32);
        let cancelled = self.cancelled.clone();
        move || {
            if !cancelled.swap(true, std::sync::atomic::Ordering::SeqCst) {
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            }
        }
    }

    fn kill_launcher(&mut self) {
        // Killing the launcher kills the zygote (parent-death signal), which as PID 1 takes
        // every case process with it; tier `none` cases die with the zygote or the cgroup.
        if !self
            .cancelled
            .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(self.launcher.id() as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// The limits a case runs under: those asked for, plus a wall limit when only a CPU limit was
/// given, so that a case that sleeps (using no CPU) still ends as `time_limit` (limit `wall`)
/// instead of running until the zygote is declared hung. The default is
/// [`WALL_PER_CPU`] × the CPU limit + [`WALL_SLACK`].
pub fn with_wall_backstop(l: &Limits) -> Limits {
    let mut l = l.clone();
    if let (Some(cpu), None) = (l.cpu_us, l.wall_us) {
        l.wall_us = Some(
            cpu.saturating_mul(WALL_PER_CPU)
                .saturating_add(WALL_SLACK.as_micros() as u64),
        );
    }
    l
}

/// See [`with_wall_backstop`].
pub const WALL_PER_CPU: u64 = 2;
/// See [`with_wall_backstop`].
pub const WALL_SLACK: Duration = Duration::from_secs(1);

/// How long past a case's time limit the supervisor waits before declaring the zygote hung.
pub const HANG_GRACE: Duration = Duration::from_secs(5);

impl Drop for Sandbox {
    fn drop(&mut self) {
        // Closing the socket makes the zygote exit; the kill covers a zygote that hangs.
        let _ = self.sock.shutdown(std::net::Shutdown::Both);
        self.kill_launcher();
        let _ = self.launcher.wait();
        if let Some(mut s) = self.slot.take() {
            s.remove();
        }
    }
}

/// Writes the uid/gid maps of the launcher, which has just unshared its user namespace.
fn write_id_maps(pid: u32, init: &ZygoteInit) -> Result<(), String> {
    let w = |file: &str, data: &str| {
        let path = format!("/proc/{pid}/{file}");
        std::fs::write(&path, data).map_err(|e| format!("failed to write {path} ({data:?}): {e}"))
    };
    if init.deny_setgroups {
        w("setgroups", "deny")?;
    }
    w("uid_map", &init.uid_map)?;
    w("gid_map", &init.gid_map)
}

/// A case's program, stdin and working directory, opened and checked.
struct Pinned {
    program: PathBuf,
    exec: OwnedFd,
    script: bool,
    stdin: Option<File>,
    cwd: Option<OwnedFd>,
}

/// Checks a case before anything runs: the program resolves to an executable ELF binary or
/// script, the stdin file is readable, the working directory exists. Returns the program path.
/// The stdin file is opened with the rights cases have on this host by default: those of an id
/// of the configured range (see [`crate::ids`]), which owns nothing.
pub fn check_spec(spec: &CaseSpec, tier: Tier) -> Result<PathBuf, SpecError> {
    let ids = nix::unistd::geteuid().is_root().then(|| {
        match CaseIds::configured().unwrap_or(CaseIds::Range(crate::ids::DEFAULT_RANGE)) {
            CaseIds::Fixed(ids) => ids,
            CaseIds::Range(r) => HostIds {
                uid: r.first,
                gid: r.first,
            },
        }
    });
    pin(spec, tier, ids).map(|p| p.program)
}

/// Opens a case's stdin: a [`Stdin::File`] with the case's rights (`ids`), a
/// [`Stdin::Trusted`] with ours (the front end checked it: a judge refuses packages whose
/// links lead outside them); not a directory.
fn open_stdin(s: &Stdin, cwd: &Path, ids: Option<HostIds>) -> Result<File, SpecError> {
    let p = s.path();
    let path = if p.is_absolute() {
        p.to_path_buf()
    } else {
        cwd.join(p)
    };
    let err = |reason: String| SpecError::Stdin {
        path: p.display().to_string(),
        reason,
    };
    let as_whom = match s {
        Stdin::File(_) => ids,
        Stdin::Trusted(_) => None,
    };
    let f = crate::fsat::open_as(&path, as_whom).map_err(|e| {
        err(match (e.kind(), as_whom) {
            (std::io::ErrorKind::PermissionDenied, Some(i)) => format!(
                "{e} (opened with the rights of the case, host uid {}, which may not read it)",
                i.uid
            ),
            _ => e.to_string(),
        })
    })?;
    let md = f.metadata().map_err(|e| err(e.to_string()))?;
    if md.is_dir() {
        return Err(err("is a directory".into()));
    }
    Ok(f)
}

fn pin(spec: &CaseSpec, tier: Tier, ids: Option<HostIds>) -> Result<Pinned, SpecError> {
    if spec.argv.is_empty() {
        return Err(SpecError::EmptyArgv);
    }
    spec.check()?;
    if tier == Tier::None && spec.network == Network::Loopback {
        return Err(SpecError::LoopbackNeedsNamespace);
    }
    let program = resolve_program(&spec.program, &spec.cwd)?;
    let (exec, script) = open_program(&program)?;
    let stdin = match &spec.stdin {
        None => None,
        Some(s) => Some(open_stdin(s, &spec.cwd, ids)?),
    };
    if !spec.cwd.is_absolute() {
        return Err(SpecError::Cwd {
            path: spec.cwd.display().to_string(),
            reason: "must be absolute".into(),
        });
    }
    // Only tier `none` shares our mount namespace: there the directory is pinned here. With a
    // mount namespace the zygote opens it by path in its own view: a descriptor from the host
    // tree would lead (through `..`) to the host's /proc and /tmp, around the private ones.
    let opened = File::options()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(&spec.cwd)
        .map(OwnedFd::from);
    let cwd = match (tier, opened) {
        (Tier::None, Ok(fd)) => Some(fd),
        (Tier::Lockdown, _) | (Tier::Hardened, Ok(_)) => None,
        (_, Err(e)) => {
            return Err(SpecError::Cwd {
                path: spec.cwd.display().to_string(),
                reason: e.to_string(),
            })
        }
    };
    Ok(Pinned {
        program,
        exec,
        script,
        stdin,
        cwd,
    })
}

fn seccomp_layer(p: SeccompProfile, network: bool) -> LayerState {
    match p {
        SeccompProfile::Off => LayerState::none("seccomp off by request"),
        SeccompProfile::Default => LayerState::full(format!(
            "default deny list; foreign architectures and x32 killed; clone3 -> ENOSYS{}",
            if network {
                ""
            } else {
                "; inet sockets refused"
            }
        )),
        SeccompProfile::Strict => {
            LayerState::full("strict allow list; foreign architectures and x32 killed")
        }
        SeccompProfile::Fuzz => LayerState::full(format!(
            "fuzz: default deny list but read-only ptrace of the case's own processes \
             (LeakSanitizer); foreign architectures and x32 killed; clone3 -> ENOSYS{}",
            if network {
                ""
            } else {
                "; inet sockets refused"
            }
        )),
    }
}

/// The path a script is executed by: as given (its `$0`), unless it has `..` in it, which may
/// pass through directories the case's view does not have; then its real path.
fn script_path(program: &Path) -> PathBuf {
    let dotdot = program
        .components()
        .any(|c| c == std::path::Component::ParentDir);
    match dotdot {
        true => std::fs::canonicalize(program).unwrap_or_else(|_| program.to_path_buf()),
        false => program.to_path_buf(),
    }
}

/// The program a case runs: a path with a slash as given (relative to `cwd`), a bare name
/// looked up in our `PATH`.
pub(crate) fn resolve_program(program: &OsStr, cwd: &Path) -> Result<PathBuf, SpecError> {
    let p = Path::new(program);
    if program.as_bytes().contains(&b'/') {
        let full = if p.is_absolute() {
            p.to_path_buf()
        } else {
            cwd.join(p)
        };
        return Ok(full);
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| DEFAULT_PATH.into());
    for dir in std::env::split_paths(&path) {
        let cand = dir.join(p);
        if let Ok(md) = cand.metadata() {
            if md.is_file() && md.permissions().mode() & 0o111 != 0 {
                return Ok(cand);
            }
        }
    }
    Err(SpecError::NotFound(program.to_string_lossy().into_owned()))
}

/// Opens the program and checks that it can run: a regular file with an execute bit that is
/// an ELF binary or a `#!` script. Returns the descriptor and whether it is a script.
fn open_program(path: &Path) -> Result<(OwnedFd, bool), SpecError> {
    let shown = path.display().to_string();
    let not_exec = |reason: String| SpecError::NotExecutable {
        path: shown.clone(),
        reason,
    };
    let md = match path.metadata() {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(SpecError::NotFound(shown.clone()))
        }
        Err(e) => return Err(not_exec(e.to_string())),
    };
    if !md.is_file() {
        return Err(not_exec("not a regular file".into()));
    }
    if md.permissions().mode() & 0o111 == 0 {
        return Err(not_exec("no execute permission (mode has no x bit)".into()));
    }
    let opened = File::options()
        .read(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(path);
    match opened {
        Ok(mut f) => {
            let mut magic = [0u8; 4];
            let n = f.read(&mut magic).unwrap_or(0);
            let script = n >= 2 && &magic[..2] == b"#!";
            if !(script || (n == 4 && &magic == b"\x7fELF")) {
                return Err(not_exec("not an ELF binary or a #! script".into()));
            }
            Ok((OwnedFd::from(f), script))
        }
        // Execute-only binaries cannot be read; pin them with O_PATH.
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            let f = File::options()
                .read(true)
                .custom_flags(libc::O_PATH | libc::O_CLOEXEC)
                .open(path)
                .map_err(|e| not_exec(e.to_string()))?;
            Ok((OwnedFd::from(f), false))
        }
        Err(e) => Err(not_exec(e.to_string())),
    }
}

//! What the zygote sets up once, as PID 1 of its namespaces: the mounts of its tier, the
//! enforcement it reports, and the layers every case inherits (session, signals, bounding
//! set, no_new_privs, the base seccomp filter and its listener).

use std::ffi::c_int;
use std::os::fd::{AsFd as _, AsRawFd as _};
use std::os::unix::net::UnixStream;

use hatchery_report::{Enforcement, LayerState};
use nix::errno::Errno;

use super::error::SetupError;
use super::launcher::fail_hello;
use super::Zygote;
use crate::cgroup::CgroupFiles;
use crate::mounts;
use crate::policy::{Network, SeccompProfile, Tier};
use crate::wire::ZygoteInit;

/// The forked zygote, PID 1 of its namespace: sets up its mounts and serves. Returns the exit
/// status.
pub(super) fn become_pid1(
    sock: UnixStream,
    init: ZygoteInit,
    cgroup: Option<CgroupFiles>,
    mut enforcement: Enforcement,
) -> i32 {
    // It dies with the launcher.
    let _ = hatchery_sys::set_parent_death_signal(libc::SIGKILL);
    if let Err(e) = nix::sys::prctl::set_dumpable(false) {
        return fail_hello(&sock, SetupError::Dumpable(e));
    }
    if init.network == Network::Loopback {
        if let Err(e) = hatchery_sys::loopback_up() {
            return fail_hello(&sock, SetupError::Loopback(e));
        }
    }
    // Our own network namespace: a sysfs of its own shows only its interfaces (and no
    // cgroup tree).
    let own_net = init.network != Network::Host;
    let scratch = match init.tier {
        Tier::Lockdown => mounts::setup_lockdown(init.tmp_size_bytes, &init.view),
        _ => mounts::setup_hardened(init.tmp_size_bytes, &init.view, own_net),
    };
    let scratch = match scratch {
        Ok(s) => s,
        Err(source) => {
            let tier = init.tier.as_str();
            return fail_hello(&sock, SetupError::Mounts { tier, source });
        }
    };
    if let Err(e) = set_ns_limits() {
        return fail_hello(&sock, e);
    }
    // The zygote restricts itself once, so every case inherits the ruleset at no cost (its
    // own writes after this point are the scratch wipe and the message queues, which the
    // ruleset allows; everything else it writes through descriptors opened before).
    let writes = match crate::writes::build(
        &scratch.dirs,
        &init.view.writable,
        scratch.mqueue.as_ref().map(|f| f.as_fd()),
    ) {
        Ok(w) => w,
        Err(e) => return fail_hello(&sock, SetupError::Landlock(e)),
    };
    if let Some(w) = &writes {
        if let Err(e) = hatchery_sys::landlock_restrict_self(w.ruleset.as_raw_fd()) {
            return fail_hello(&sock, SetupError::LandlockSelf(e));
        }
    }
    enforcement.insert(
        "landlock".into(),
        match &writes {
            Some(w) => LayerState::full(format!(
                "Landlock ABI {}: cases write only below {}, in /proc and to device nodes",
                w.abi,
                w.writable
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            None => LayerState::none(
                "this kernel has no Landlock: cases write wherever their uid may (as root \
                 hatchery runs them as a uid of their own that owns nothing)",
            ),
        },
    );
    enforcement.insert(
        "user_ns".into(),
        LayerState::full(format!(
            "user namespace{}; the case runs as uid {} with no capabilities; per-user \
             kernel counts limited per namespace (inotify {NS_INOTIFY_INSTANCES} instances)",
            if init.ns_owner.is_some() {
                ", owned by this worker's own host uid"
            } else {
                ""
            },
            init.case_uid
        )),
    );
    enforcement.insert(
        "pid_ns".into(),
        LayerState::full("PID namespace; the zygote is PID 1 and kills all leftovers"),
    );
    enforcement.insert(
        "ipc_ns".into(),
        LayerState::full("IPC namespace per zygote; SysV objects removed between cases"),
    );
    let net = match init.network {
        Network::Host => LayerState::none("network requested: host network shared"),
        Network::Off => LayerState::full("empty network namespace (no interfaces up)"),
        Network::Loopback => LayerState::full(
            "network namespace of its own with only loopback up: 127.0.0.1 and ::1 work, \
             nothing else is reachable",
        ),
    };
    let mnt = if init.tier == Tier::Lockdown {
        LayerState::full(
            "read-only root, fresh /proc and /sys, minimal /dev, private /tmp and /dev/shm",
        )
    } else {
        LayerState::partial(
            "fresh /proc (and /sys without host network), private /tmp, /dev/shm, /var/tmp and \
             /run/lock; host filesystem visible",
        )
    };
    enforcement.insert("mount_ns".into(), mnt);
    enforcement.insert("net_ns".into(), net);
    match Zygote::new(sock, init, cgroup, scratch, enforcement) {
        Ok(z) => z.serve(),
        Err((sock, e)) => fail_hello(&sock, e),
    }
}

/// Per-namespace ceilings of what the kernel counts per user (`/proc/sys/user`), set in the
/// zygote's own user namespace: its cases together get these (each also within its host
/// uid's budget, which is this worker's alone when we are root).
const NS_INOTIFY_INSTANCES: u64 = 128;
const NS_LIMITS: [(&str, u64); 4] = [
    ("max_inotify_instances", NS_INOTIFY_INSTANCES),
    ("max_inotify_watches", 65536),
    ("max_fanotify_groups", 16),
    ("max_fanotify_marks", 65536),
];

/// Writes [`NS_LIMITS`] into the fresh `/proc` of our user namespace (entries the kernel does
/// not have are skipped).
fn set_ns_limits() -> Result<(), SetupError> {
    for (name, value) in NS_LIMITS {
        let path = format!("/proc/sys/user/{name}");
        match std::fs::write(&path, value.to_string()) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(SetupError::NsLimit { what: name, source }),
        }
    }
    Ok(())
}

impl Zygote {
    /// What every case inherits, set up once: its own session, default signal dispositions and an empty mask
    /// (Rust ignores SIGPIPE), an empty capability bounding set (we keep our effective
    /// capabilities), and the base seccomp filter. From here on the zygote itself lives under
    /// that filter, so it must not need anything the filter forbids.
    pub(super) fn enter_base(&mut self) -> Result<(), SetupError> {
        hatchery_sys::reset_signals().map_err(SetupError::ResetSignals)?;
        // A session of our own, without a controlling terminal: no case can reach the
        // caller's terminal (TIOCSTI, job control). Once here rather than per case: setsid
        // also creates a scheduler autogroup, which is not cheap.
        nix::unistd::setsid().map_err(SetupError::Setsid)?;
        // Unprivileged tier none has no CAP_SETPCAP: its cases keep the bounding set (they
        // cannot use it: no_new_privs, no file capabilities).
        let _ = hatchery_sys::drop_bounding_set();
        // Inherited by every case, set once here: no_new_privs (exec grants nothing: setuid
        // bits and file capabilities are ignored), no ambient capabilities, no core files.
        nix::sys::prctl::set_no_new_privs().map_err(SetupError::NoNewPrivs)?;
        hatchery_sys::clear_ambient_capabilities().map_err(SetupError::AmbientCapabilities)?;
        hatchery_sys::setrlimit(libc::RLIMIT_CORE as c_int, 0, 0).map_err(SetupError::CoreLimit)?;
        if let Some(cg) = self.cgroup.as_mut() {
            cg.join_resident().map_err(SetupError::JoinCgroup)?;
        }
        if self.init.seccomp_base != SeccompProfile::Off {
            let base = crate::seccomp::build(
                self.init.seccomp_base,
                self.init.network.inet(),
                self.pid_ns,
            )
            .map_err(SetupError::BuildSeccomp)?;
            let Some((main, rest)) = base.split_last() else {
                return Ok(());
            };
            for f in rest {
                seccompiler::apply_filter(f).map_err(SetupError::InstallSeccomp)?;
            }
            // The main filter reports forbidden calls to us instead of killing outright, so
            // that the report can name them. Kernels without listeners (before 5.0) kill.
            match hatchery_sys::seccomp_install_with_listener(&crate::seccomp::notifying(main)) {
                Ok(fd) => self.listener = Some(fd),
                Err(Errno::EINVAL) | Err(Errno::ENOSYS) => {
                    seccompiler::apply_filter(main).map_err(SetupError::InstallSeccomp)?
                }
                Err(e) => return Err(SetupError::InstallListener(e)),
            }
        }
        self.start_cloner();
        Ok(())
    }

    /// cgroup v1: starts the thread that joins the slot's memory cgroup alone and clones every
    /// case there. Last in the setup: the thread inherits the filters, `no_new_privs` and
    /// capabilities set above, and so do the cases it clones. When it cannot start, each case
    /// joins the memory cgroup itself (slower, the same result).
    fn start_cloner(&mut self) {
        let Some(cg) = self.cgroup.as_mut() else {
            return;
        };
        let Some(tasks) = cg.memory_tasks() else {
            return;
        };
        let join = move || {
            hatchery_sys::write_raw(tasks.as_raw_fd(), b"0")
                .map(drop)
                .map_err(std::io::Error::from)
        };
        if let Ok(t) = hatchery_sys::CloneThread::start(join) {
            cg.cases_born_inside();
            self.cloner = Some(t);
        }
    }
}

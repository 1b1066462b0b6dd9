//! Host probes: what this kernel and this user can enforce. Used by `hatchery doctor`.

use std::path::Path;

use serde::Serialize;

/// One probed feature.
#[derive(Debug, Clone, Serialize)]
pub struct Probe {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
    /// What to do when it is missing.
    pub fix: Option<String>,
}

fn read(p: &str) -> Option<String> {
    std::fs::read_to_string(p).ok().map(|s| s.trim().to_owned())
}

/// Probes the host. User namespaces are tested by really creating one in a child process.
pub fn probe_host() -> Vec<Probe> {
    let mut v = Vec::new();
    let uname = nix::sys::utsname::uname().ok();
    v.push(Probe {
        name: "kernel",
        ok: true,
        detail: uname
            .map(|u| u.release().to_string_lossy().into_owned())
            .unwrap_or_default(),
        fix: None,
    });
    let euid = nix::unistd::geteuid().as_raw();
    v.push(Probe {
        name: "user",
        ok: true,
        detail: if euid == 0 {
            match crate::ids::CaseIds::configured() {
                Ok(crate::ids::CaseIds::Range(r)) => format!(
                    "root (each zygote's cases run as a host uid of their own from {}..{}, \
                     HATCHERY_HOST_IDS; cases that share lent directories as uid {})",
                    r.first,
                    r.first as u64 + r.count as u64,
                    crate::policy::DEFAULT_CASE_HOST_ID
                ),
                Ok(crate::ids::CaseIds::Fixed(ids)) => {
                    format!("root (cases run as uid {} on the host)", ids.uid)
                }
                Err(e) => format!("root; {e}"),
            }
        } else {
            format!("uid {euid} (unprivileged)")
        },
        fix: None,
    });
    let userns = userns_works();
    let mut restrictions = Vec::new();
    for (k, p) in [
        (
            "user.max_user_namespaces",
            "/proc/sys/user/max_user_namespaces",
        ),
        (
            "kernel.unprivileged_userns_clone",
            "/proc/sys/kernel/unprivileged_userns_clone",
        ),
        (
            "kernel.apparmor_restrict_unprivileged_userns",
            "/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
        ),
    ] {
        if let Some(val) = read(p) {
            restrictions.push(format!("{k}={val}"));
        }
    }
    v.push(Probe {
        name: "user namespaces",
        ok: userns.is_ok(),
        detail: match &userns {
            Ok(()) => format!("usable ({})", restrictions.join(", ")),
            Err(e) => format!("{e} ({})", restrictions.join(", ")),
        },
        fix: userns.err().map(|_| {
            "enable unprivileged user namespaces: sysctl -w user.max_user_namespaces=15000; \
             on Debian/Ubuntu also kernel.unprivileged_userns_clone=1 and \
             kernel.apparmor_restrict_unprivileged_userns=0; tiers hardened and lockdown need them"
                .to_owned()
        }),
    });
    let version = crate::cgroup::host_version();
    let cg = crate::cgroup::Allocator::host().diagnose();
    v.push(Probe {
        name: "cgroup",
        ok: cg.ok,
        detail: cg.detail,
        fix: cg.fix,
    });
    v.push(Probe {
        name: "memory peak",
        ok: cg.peak == Some(true),
        detail: match (cg.peak, version) {
            (Some(true), _) => "cgroup peak counter available".into(),
            (Some(false), crate::cgroup::Version::V2) => {
                "no cgroup peak file (cgroup v2 memory.peak needs Linux 5.19)".into()
            }
            (Some(false), crate::cgroup::Version::V1) => {
                "no memory.max_usage_in_bytes in the cgroup v1 memory hierarchy".into()
            }
            (None, _) => "no cgroup: peak memory from ru_maxrss of the main process".into(),
        },
        fix: None,
    });
    let seccomp = read("/proc/self/status").and_then(|s| {
        s.lines()
            .find(|l| l.starts_with("Seccomp:"))
            .map(str::to_owned)
    });
    let seccomp_ok = Path::new("/proc/sys/kernel/seccomp/actions_avail").exists();
    v.push(Probe {
        name: "seccomp",
        ok: seccomp_ok,
        detail: read("/proc/sys/kernel/seccomp/actions_avail")
            .map(|a| {
                let named = if a.split_whitespace().any(|x| x == "user_notif") {
                    "reports name the forbidden call (user_notif)"
                } else {
                    "no user_notif: reports cannot name the forbidden call"
                };
                format!("filter mode available; {named}; actions: {}", a.trim())
            })
            .unwrap_or_else(|| format!("not available ({seccomp:?})")),
        fix: (!seccomp_ok).then(|| "a kernel with CONFIG_SECCOMP_FILTER".to_owned()),
    });
    let ll = hatchery_sys::landlock_abi_version();
    let ll_fix = ll
        .is_err()
        .then(|| "a kernel with CONFIG_SECURITY_LANDLOCK and `landlock` in lsm=".to_owned());
    v.push(Probe {
        name: "landlock",
        ok: ll.is_ok(),
        detail: match ll {
            Ok(abi) => format!(
                "ABI version {abi}: cases of tiers hardened and lockdown may write only their \
                 scratch and the directories they are given"
            ),
            Err(e) => format!(
                "unavailable ({e}): cases may write wherever their host uid may (the views' \
                 read-only mounts still apply)"
            ),
        },
        fix: ll_fix,
    });
    v.push(Probe {
        name: "clone3",
        ok: hatchery_sys::clone3_available(),
        detail:
            "cases see ENOSYS for clone3 so libc falls back to clone, whose flags seccomp checks"
                .into(),
        fix: None,
    });
    let pidfd = hatchery_sys::pidfd_open(nix::unistd::getpid());
    let pidfd_fix = pidfd
        .is_err()
        .then(|| "Linux 5.3 or newer (pidfd_open)".to_owned());
    v.push(Probe {
        name: "pidfd",
        ok: pidfd.is_ok(),
        detail: match pidfd {
            Ok(_) => "pidfd_open works".into(),
            Err(e) => format!("pidfd_open failed: {e}"),
        },
        fix: pidfd_fix,
    });
    v
}

/// Creates a user namespace in a short-lived child.
fn userns_works() -> Result<(), String> {
    let out = std::process::Command::new("unshare")
        .args([
            "--user",
            "--map-root-user",
            "--pid",
            "--ipc",
            "--fork",
            "true",
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .output();
    match out {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(format!(
            "unshare --user failed: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => Err(format!("cannot run unshare(1) to test: {e}")),
    }
}

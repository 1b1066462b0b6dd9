//! cgroups for cases, v1 and v2.
//!
//! Parent side ([`Allocator`], used by the supervisor through [`CgroupSlot::allocate`]): find
//! the cgroup this process is in (`discover`), on v2 set up delegation once per process
//! (`v2`), create one slot beneath it per zygote, hand the zygote directory descriptors,
//! remove the slot when done (`slots`). All of it goes through the [`CgroupFs`] seam, so it is
//! unit-tested against a fake cgroupfs that keeps the kernel's rules (`fake.rs`).
//!
//! Zygote side ([`CgroupFiles`], `files.rs`): control files opened once, then per case.

mod discover;
mod files;
pub mod fs;
mod slots;
mod systemd;
mod v2;

#[cfg(test)]
mod fake;
#[cfg(test)]
mod tests;

use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, OnceLock};

use serde::{Deserialize, Serialize};

pub use discover::{discover, Layout};
pub use files::{CgroupFiles, Counters};
pub use fs::{CgroupFs, HostFs};
pub use slots::{reclaim_stale, slot_owner};
pub use v2::{Delegation, Other};

/// Which cgroup hierarchy a slot lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Version {
    V1,
    V2,
}

/// Failures of the parent side, naming the step and the path.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("cannot find this process's cgroup: {0}")]
    Discover(String),
    #[error("no cgroup v1 hierarchy with the `{0}` controller is mounted")]
    NoController(&'static str),
    #[error("failed to create cgroup {path}")]
    Create {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("failed to open cgroup {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cgroup v2: failed to {step} {path}")]
    V2Step {
        path: PathBuf,
        step: &'static str,
        #[source]
        source: io::Error,
    },
    #[error(
        "cgroup v2: {path} is a `{kind}` cgroup, and the memory controller needs a domain cgroup"
    )]
    V2Threaded { path: PathBuf, kind: String },
    #[error(
        "cgroup v2: the {} controller(s) are not enabled for {path} (the cgroup.subtree_control \
         of its parent lacks them)",
        .missing.join(", ")
    )]
    V2ControllersMissing { path: PathBuf, missing: Vec<String> },
    #[error(
        "cgroup v2: {path} holds other processes ({}); a cgroup with processes cannot give \
         controllers to child cgroups, and hatchery moves only itself",
        list(.others)
    )]
    V2Shared { path: PathBuf, others: Vec<Other> },
    #[error("{first}; asking systemd for a delegated scope did not help: {why}")]
    Scope {
        first: Box<CgroupError>,
        why: String,
    },
}

impl CgroupError {
    /// Whether a cgroup of our own from systemd would avoid this failure: our cgroup holds
    /// other processes, does not offer the controllers, or is not ours to write.
    fn scope_may_help(&self) -> bool {
        match self {
            CgroupError::V2Shared { .. } | CgroupError::V2ControllersMissing { .. } => true,
            CgroupError::Create { source, .. } | CgroupError::V2Step { source, .. } => {
                source.kind() == io::ErrorKind::PermissionDenied
            }
            _ => false,
        }
    }
}

fn list(others: &[Other]) -> String {
    let mut s = others
        .iter()
        .take(5)
        .map(|o| o.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    if others.len() > 5 {
        s.push_str(&format!(" and {} more", others.len() - 5));
    }
    s
}

/// The v1 controllers a slot uses.
pub const V1_CONTROLLERS: [&str; 3] = ["memory", "pids", "cpuacct"];

/// Which cgroup version this host offers for our controllers (v1 when nothing is found).
pub fn host_version() -> Version {
    discover(&HostFs).map_or(Version::V1, |l| l.version())
}

#[derive(Default)]
struct State {
    layout: Option<Layout>,
    delegation: Option<Delegation>,
    /// The transient scope systemd gave us, and where we were before.
    scope: Option<(String, PathBuf)>,
    reclaimed: Vec<PathBuf>,
}

/// The one slot allocator of a process: names slots, reclaims stale ones once per parent, and
/// on v2 delegates once.
pub struct Allocator {
    fs: Arc<dyn CgroupFs>,
    next: AtomicU64,
    state: Mutex<State>,
}

impl Allocator {
    pub fn new(fs: Arc<dyn CgroupFs>) -> Allocator {
        Allocator {
            fs,
            next: AtomicU64::new(0),
            state: Mutex::new(State::default()),
        }
    }

    /// The allocator of this process on the real host.
    pub fn host() -> &'static Allocator {
        static HOST: OnceLock<Allocator> = OnceLock::new();
        HOST.get_or_init(|| Allocator::new(Arc::new(HostFs)))
    }

    fn parents(&self) -> Result<(Version, Vec<PathBuf>, Option<Delegation>), CgroupError> {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let layout = match &st.layout {
            Some(l) => l.clone(),
            None => {
                let l = discover(&*self.fs)?;
                st.layout = Some(l.clone());
                l
            }
        };
        let (version, parents) = match &layout {
            Layout::V1 { dirs } => (Version::V1, dirs.clone()),
            Layout::V2 { mount, own } => {
                if st.delegation.is_none() {
                    let d = match v2::delegate(&*self.fs, mount, own) {
                        Err(e)
                            if e.scope_may_help()
                                && systemd::allowed(
                                    self.fs.exists(Path::new("/run/systemd/system")),
                                ) =>
                        {
                            let (d, unit, layout) = self.in_a_scope(e)?;
                            st.scope = Some((unit, own.clone()));
                            st.layout = Some(layout);
                            d
                        }
                        r => r?,
                    };
                    st.delegation = Some(d);
                }
                let d = st.delegation.as_ref().map(|d| d.parent.clone());
                (Version::V2, d.into_iter().collect())
            }
        };
        for p in &parents {
            if !st.reclaimed.contains(p) {
                reclaim_stale(&*self.fs, p);
                st.reclaimed.push(p.clone());
            }
        }
        Ok((version, parents, st.delegation.clone()))
    }

    /// Asks systemd for a delegated scope after `first` (the reason our own cgroup cannot be
    /// used) and delegates inside it.
    fn in_a_scope(&self, first: CgroupError) -> Result<(Delegation, String, Layout), CgroupError> {
        let failed = |why: String| CgroupError::Scope {
            first: Box::new(first),
            why,
        };
        let unit = match self.fs.delegated_scope() {
            Ok(u) => u,
            Err(e) => return Err(failed(e.to_string())),
        };
        let layout = match discover(&*self.fs) {
            Ok(l @ Layout::V2 { .. }) => l,
            Ok(_) => return Err(failed(format!("after moving into {unit}, no cgroup v2"))),
            Err(e) => return Err(failed(format!("after moving into {unit}: {e}"))),
        };
        let Layout::V2 { mount, own } = &layout else {
            unreachable!("matched above")
        };
        match v2::delegate(&*self.fs, mount, own) {
            Ok(d) => Ok((d, unit, layout)),
            Err(e) => Err(failed(format!(
                "in {unit}: {}",
                hatchery_report::error_chain(&e)
            ))),
        }
    }

    /// Allocates the next slot of this process beneath its own cgroup(s).
    pub fn allocate(&self) -> Result<CgroupSlot, CgroupError> {
        let (version, parents, _) = self.parents()?;
        let dirs = slots::make_slot_dirs(&*self.fs, &self.next, &parents)?;
        Ok(CgroupSlot {
            version,
            dirs,
            fs: self.fs.clone(),
        })
    }

    /// Undoes the v2 delegation when nothing uses it any more (see `v2::release`); returns
    /// whether everything was undone.
    pub fn release(&self) -> bool {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match st.delegation.take() {
            Some(d) if !v2::release(&*self.fs, &d) => {
                st.delegation = Some(d);
                false
            }
            _ => true,
        }
    }

    /// What doctor says: which case applies on this host, and the fix when cgroups cannot be
    /// used. Creates and removes one slot.
    pub fn diagnose(&self) -> Diagnosis {
        let systemd = self.fs.exists(Path::new("/run/systemd/system"));
        let euid = self.fs.euid();
        let result = self.allocate();
        let (version, delegation, scope) = {
            let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
            (
                st.layout.as_ref().map(Layout::version),
                st.delegation.clone(),
                st.scope.clone(),
            )
        };
        match result {
            Ok(mut slot) => {
                let case = match (&slot.version, &delegation) {
                    (Version::V1, _) => "cgroup v1".to_owned(),
                    (_, Some(Delegation { moved: None, .. })) => {
                        "cgroup v2, top of the hierarchy".to_owned()
                    }
                    (_, Some(d)) => format!(
                        "cgroup v2, hatchery moved itself into the leaf {}{}",
                        d.moved
                            .as_ref()
                            .map_or(String::new(), |m| m.0.display().to_string()),
                        if d.enabled.is_empty() {
                            String::new()
                        } else {
                            format!(
                                " and enabled {} for the children of {}",
                                d.enabled.join(", "),
                                d.parent.display()
                            )
                        }
                    ),
                    (_, None) => "cgroup v2".to_owned(),
                };
                let peak_file = match slot.version {
                    Version::V1 => "memory.max_usage_in_bytes",
                    Version::V2 => "memory.peak",
                };
                let peak = slot
                    .dirs
                    .first()
                    .is_some_and(|d| self.fs.exists(&d.join(peak_file)));
                let case = match scope {
                    Some((unit, from)) => format!(
                        "{case}, inside the scope {unit} that systemd delegated to it (its own \
                         cgroup {} could not be used)",
                        from.display()
                    ),
                    None => case,
                };
                let detail = format!(
                    "{case}; created and removed a test cgroup at {}",
                    slot.dirs
                        .iter()
                        .map(|d| d.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                slot.remove();
                Diagnosis {
                    ok: true,
                    detail,
                    fix: None,
                    peak: Some(peak),
                }
            }
            Err(e) => Diagnosis {
                ok: false,
                detail: hatchery_report::error_chain(&e),
                fix: Some(fix(&e, euid, systemd, version)),
                peak: None,
            },
        }
    }
}

/// Doctor's view of the cgroup layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnosis {
    pub ok: bool,
    /// Which case applies here and what was done or refused.
    pub detail: String,
    /// What to do, fitted to this host (version, root or not, systemd or not).
    pub fix: Option<String>,
    /// Whether the slot had a peak-memory file.
    pub peak: Option<bool>,
}

const FALLBACK: &str = "without one, memory/pids/CPU fall back to rlimits";

/// The fix for a failed allocation, fitted to the host.
pub fn fix(e: &CgroupError, euid: u32, systemd: bool, version: Option<Version>) -> String {
    let root = euid == 0;
    let v1 = version == Some(Version::V1);
    let scope = if root {
        "systemd-run --scope -p Delegate=yes hatchery ..."
    } else {
        "systemd-run --user --scope -p Delegate=yes hatchery ..."
    };
    let alone = if systemd {
        format!("start hatchery as the only process of a delegated cgroup: `{scope}`")
    } else if root {
        "start hatchery as the only process of a cgroup, e.g. from the top of the hierarchy: \
         `sh -c 'echo $$ > /sys/fs/cgroup/cgroup.procs && exec hatchery ...'`"
            .to_owned()
    } else {
        "ask root for a cgroup of your own (a directory chowned to you, with memory and pids \
         enabled in its parent's cgroup.subtree_control, as systemd's Delegate=yes does) and \
         start hatchery as the only process in it"
            .to_owned()
    };
    let text = match e {
        CgroupError::Discover(_) => {
            "mount cgroup2 at /sys/fs/cgroup (`mount -t cgroup2 none /sys/fs/cgroup`)".to_owned()
        }
        CgroupError::NoController(c) => format!(
            "mount the cgroup v1 `{c}` controller (`mkdir -p /sys/fs/cgroup/{c} && mount -t \
             cgroup -o {c} cgroup /sys/fs/cgroup/{c}`), or boot with \
             systemd.unified_cgroup_hierarchy=1 for cgroup v2"
        ),
        CgroupError::Create { .. } | CgroupError::Open { .. } if v1 && !root => {
            "cgroup v1 hierarchies are not delegated to normal users: run hatchery as root, or \
             use a cgroup v2 host (boot with systemd.unified_cgroup_hierarchy=1) and a delegated \
             cgroup"
                .to_owned()
        }
        CgroupError::Create { .. } | CgroupError::Open { .. } if !root => alone,
        CgroupError::Create { path, .. } | CgroupError::Open { path, .. } => {
            format!(
                "check that {} is a writable cgroup directory",
                path.display()
            )
        }
        CgroupError::V2Shared { .. } => alone,
        CgroupError::Scope { first, .. } => return fix(first, euid, systemd, version),
        CgroupError::V2Step { .. } if !root => alone,
        CgroupError::V2Step { path, .. } => format!(
            "check that {} is writable (a read-only cgroup mount in a container needs \
             `--cgroupns=private` with a writable cgroup, or run on the host)",
            path.display()
        ),
        CgroupError::V2Threaded { .. } => {
            "start hatchery from a domain cgroup (cgroup.type `domain`)".to_owned()
        }
        CgroupError::V2ControllersMissing { path, missing } => {
            let parent = path.parent().unwrap_or(path);
            let plus = missing.iter().map(|c| format!("+{c}")).collect::<Vec<_>>();
            if root {
                format!(
                    "enable them in the parent: `echo '{}' > {}/cgroup.subtree_control`{}",
                    plus.join(" "),
                    parent.display(),
                    if systemd {
                        format!(", or `{scope}`")
                    } else {
                        String::new()
                    }
                )
            } else if systemd {
                format!(
                    "`{scope}`; if that is not enough, your user manager does not delegate them: \
                     `systemctl edit user@.service` with `[Service]` `Delegate=cpu memory pids`, \
                     then log in again"
                )
            } else {
                alone
            }
        }
    };
    format!("{text}; {FALLBACK}")
}

/// Undoes the v2 delegation of this process when nothing uses it any more: called by the CLI
/// when a command is done, so a run leaves the cgroup tree as it found it.
pub fn release() -> bool {
    Allocator::host().release()
}

/// One cgroup per zygote, created below our own cgroup, removed on drop.
pub struct CgroupSlot {
    pub version: Version,
    /// v1: one directory per controller in [`V1_CONTROLLERS`] order; v2: one directory.
    pub dirs: Vec<PathBuf>,
    fs: Arc<dyn CgroupFs>,
}

impl std::fmt::Debug for CgroupSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CgroupSlot")
            .field("version", &self.version)
            .field("dirs", &self.dirs)
            .finish()
    }
}

impl CgroupSlot {
    /// Allocates the next slot of this process beneath its own cgroup(s): the one place that
    /// names slots (see [`slot_owner`]).
    pub fn allocate() -> Result<CgroupSlot, CgroupError> {
        Allocator::host().allocate()
    }

    /// Directory descriptors (O_PATH) to send to the zygote.
    pub fn open_dirs(&self) -> Result<Vec<OwnedFd>, CgroupError> {
        self.dirs
            .iter()
            .map(|d| {
                File::options()
                    .read(true)
                    .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
                    .open(d)
                    .map(OwnedFd::from)
                    .map_err(|source| CgroupError::Open {
                        path: d.clone(),
                        source,
                    })
            })
            .collect()
    }

    /// Kills whatever is still in the slot (processes the zygote did not reap because it
    /// died) and removes the directories.
    pub fn remove(&mut self) {
        for d in &self.dirs {
            slots::remove_slot(&*self.fs, d);
        }
        self.dirs.clear();
    }
}

impl Drop for CgroupSlot {
    fn drop(&mut self) {
        self.remove();
    }
}

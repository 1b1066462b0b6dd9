//! cgroups for cases, v1 and v2.
//!
//! Parent side ([`CgroupSlot`], in the supervisor): find the cgroup this process is in (per
//! controller on v1), create one slot beneath it per zygote, hand the zygote directory
//! descriptors, remove the slot when done. Discovery uses cgroups-rs.
//!
//! Zygote side ([`CgroupFiles`]): control files opened once (before any `pivot_root`), then per
//! case: set limits, reset peaks, read counters; the case child attaches itself by writing `0`
//! to `cgroup.procs` (so the zygote itself is never in the case's cgroup and its memory never
//! counts).

use std::fs::{self, File};
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use serde::{Deserialize, Serialize};

use hatchery_sys::pread0;

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
    #[error("cgroup v2 at {path}: {reason}")]
    V2Delegation { path: PathBuf, reason: String },
}

/// The v1 controllers a slot uses.
pub const V1_CONTROLLERS: [&str; 3] = ["memory", "pids", "cpuacct"];

/// One cgroup per zygote, created below our own cgroup, removed on drop.
#[derive(Debug)]
pub struct CgroupSlot {
    pub version: Version,
    /// v1: one directory per controller in [`V1_CONTROLLERS`] order; v2: one directory.
    pub dirs: Vec<PathBuf>,
}

fn own_v1_path(controller: &str) -> Result<PathBuf, CgroupError> {
    use cgroups_rs::fs::hierarchies::V1;
    use cgroups_rs::fs::Controllers;
    let c = match controller {
        "memory" => Controllers::Mem,
        "pids" => Controllers::Pids,
        "cpuacct" => Controllers::CpuAcct,
        _ => return Err(CgroupError::NoController("unknown")),
    };
    let name: &'static str = V1_CONTROLLERS
        .iter()
        .find(|n| **n == controller)
        .copied()
        .unwrap_or("unknown");
    let (mount_point, mount_root) = V1::new()
        .get_mount_point(c)
        .ok_or(CgroupError::NoController(name))?;
    let rel = cgroups_rs::fs::cgroup::get_cgroups_relative_paths()
        .map_err(|e| CgroupError::Discover(e.to_string()))?;
    let own = rel.get(controller).ok_or_else(|| {
        CgroupError::Discover(format!("no `{controller}` line in /proc/self/cgroup"))
    })?;
    let own = Path::new(own)
        .strip_prefix(&mount_root)
        .unwrap_or(Path::new(own))
        .to_path_buf();
    Ok(mount_point.join(own.strip_prefix("/").unwrap_or(&own)))
}

fn own_v2_path() -> Result<PathBuf, CgroupError> {
    let s = fs::read_to_string("/proc/self/cgroup")
        .map_err(|e| CgroupError::Discover(format!("/proc/self/cgroup: {e}")))?;
    let rel = s
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .ok_or_else(|| CgroupError::Discover("no `0::` line in /proc/self/cgroup".into()))?;
    Ok(
        Path::new(cgroups_rs::fs::hierarchies::UNIFIED_MOUNTPOINT)
            .join(rel.trim_start_matches('/')),
    )
}

/// Which cgroup version the host offers for our controllers.
pub fn host_version() -> Version {
    if cgroups_rs::fs::hierarchies::is_cgroup2_unified_mode() {
        Version::V2
    } else {
        Version::V1
    }
}

fn mkdir(path: &Path) -> Result<(), CgroupError> {
    match fs::create_dir(path) {
        Ok(()) => Ok(()),
        Err(source) => Err(CgroupError::Create {
            path: path.to_owned(),
            source,
        }),
    }
}

fn controllers_of(dir: &Path, file: &str) -> Vec<String> {
    fs::read_to_string(dir.join(file))
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// Prefix of every cgroup hatchery creates: `hatchery-<pid>-<n>` for slots and
/// `hatchery-supervisor-<pid>` for the v2 leaf the supervisor moves into.
const SLOT_PREFIX: &str = "hatchery-";

/// The next slot number of this process: names are unique per process and slot, whoever asks
/// (a probe zygote, a worker's zygote of any tier, a judge's tool zygote).
static NEXT_SLOT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The supervisor pid a directory name of ours belongs to (`hatchery-<pid>-<n>` or
/// `hatchery-supervisor-<pid>`); `None` for names we did not make.
pub fn slot_owner(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(SLOT_PREFIX)?;
    if let Some(pid) = rest.strip_prefix("supervisor-") {
        return pid.parse().ok();
    }
    let (pid, n) = rest.split_once('-')?;
    n.parse::<u64>().ok()?;
    pid.parse().ok()
}

fn pid_alive(pid: u32) -> bool {
    // ESRCH: no such process. EPERM means it exists (someone else's).
    !matches!(
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), None),
        Err(nix::errno::Errno::ESRCH)
    )
}

/// Removes the empty slots that supervisors which no longer run left in `parent` (a killed
/// run cannot remove its own). Only names of ours, only dead owners, only `rmdir`: a slot that
/// still holds processes stays (its processes are not ours to kill). Returns how many went.
pub fn reclaim_stale(parent: &Path, alive: &dyn Fn(u32) -> bool) -> usize {
    let me = std::process::id();
    let Ok(entries) = fs::read_dir(parent) else {
        return 0;
    };
    let mut n = 0;
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(owner) = name.to_str().and_then(slot_owner) else {
            continue;
        };
        if owner == me || alive(owner) {
            continue;
        }
        // A v2 supervisor leaf may hold our own slots' parent chain; only empty ones go.
        if fs::remove_dir(e.path()).is_ok() {
            n += 1;
        }
    }
    n
}

/// Creates `parent/<name>` for the next free slot name of this process. A directory of that
/// name left by an earlier process that had our pid (pid reuse after a killed run) is
/// removed when empty; otherwise the next number is tried.
fn make_slot_dir(parents: &[PathBuf]) -> Result<(String, Vec<PathBuf>), CgroupError> {
    let me = std::process::id();
    for _ in 0..64 {
        let n = NEXT_SLOT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let name = format!("{SLOT_PREFIX}{me}-{n}");
        let mut made: Vec<PathBuf> = Vec::new();
        let mut collided = false;
        for p in parents {
            let d = p.join(&name);
            match fs::create_dir(&d) {
                Ok(()) => made.push(d),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    // Left by a dead process with our pid: an empty one is reused.
                    if fs::remove_dir(&d).is_ok() && fs::create_dir(&d).is_ok() {
                        made.push(d);
                    } else {
                        collided = true;
                        break;
                    }
                }
                Err(source) => {
                    for m in made.iter().rev() {
                        let _ = fs::remove_dir(m);
                    }
                    return Err(CgroupError::Create { path: d, source });
                }
            }
        }
        if !collided {
            return Ok((name, made));
        }
        for m in made.iter().rev() {
            let _ = fs::remove_dir(m);
        }
    }
    Err(CgroupError::Create {
        path: parents.first().cloned().unwrap_or_default(),
        source: io::Error::other("64 slot names in a row were taken"),
    })
}

/// Once per process and parent directory: stale slots of dead supervisors are reclaimed.
fn reclaim_once(parents: &[PathBuf]) {
    static DONE: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());
    let mut done = DONE.lock().unwrap_or_else(|e| e.into_inner());
    for p in parents {
        if !done.contains(p) {
            reclaim_stale(p, &pid_alive);
            done.push(p.clone());
        }
    }
}

impl CgroupSlot {
    /// Allocates the next slot of this process beneath its own cgroup(s): the one place that
    /// names slots (see [`slot_owner`]).
    pub fn allocate() -> Result<CgroupSlot, CgroupError> {
        match host_version() {
            Version::V1 => {
                let parents = V1_CONTROLLERS
                    .iter()
                    .map(|c| own_v1_path(c))
                    .collect::<Result<Vec<_>, _>>()?;
                reclaim_once(&parents);
                let (_, dirs) = make_slot_dir(&parents)?;
                Ok(CgroupSlot {
                    version: Version::V1,
                    dirs,
                })
            }
            Version::V2 => Self::allocate_v2(),
        }
    }

    /// cgroup v2: controllers must be enabled in our cgroup's `cgroup.subtree_control`, which
    /// the kernel refuses while our cgroup holds processes (the "no internal processes" rule).
    /// When we are the only process in it (e.g. `systemd-run --scope -p Delegate=yes`), move
    /// ourselves into a leaf and enable `memory` and `pids`; never move anyone else.
    fn allocate_v2() -> Result<CgroupSlot, CgroupError> {
        // Delegation (moving ourselves into a leaf, enabling controllers) happens once per
        // process; every later slot is a plain directory beside the leaf.
        static PARENT: std::sync::Mutex<Option<PathBuf>> = std::sync::Mutex::new(None);
        let mut parent = PARENT.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = parent.as_ref() {
            let (_, dirs) = make_slot_dir(std::slice::from_ref(p))?;
            return Ok(CgroupSlot {
                version: Version::V2,
                dirs,
            });
        }
        let own = own_v2_path()?;
        reclaim_once(std::slice::from_ref(&own));
        let need = ["memory", "pids"];
        let enabled = controllers_of(&own, "cgroup.subtree_control");
        if !need.iter().all(|c| enabled.iter().any(|e| e == c)) {
            let available = controllers_of(&own, "cgroup.controllers");
            if let Some(missing) = need.iter().find(|c| !available.iter().any(|a| a == *c)) {
                return Err(CgroupError::V2Delegation {
                    path: own,
                    reason: format!(
                        "the `{missing}` controller is not delegated to this cgroup (run \
                         hatchery under `systemd-run --user --scope -p Delegate=yes`)"
                    ),
                });
            }
            let procs = fs::read_to_string(own.join("cgroup.procs")).unwrap_or_default();
            let me = std::process::id().to_string();
            let others = procs.lines().filter(|p| *p != me).count();
            if others > 0 && own != Path::new(cgroups_rs::fs::hierarchies::UNIFIED_MOUNTPOINT) {
                return Err(CgroupError::V2Delegation {
                    path: own,
                    reason: format!(
                        "controllers memory,pids are not enabled for its children and {others} \
                         other process(es) live in it (run hatchery under `systemd-run --user \
                         --scope -p Delegate=yes`)"
                    ),
                });
            }
            if own != Path::new(cgroups_rs::fs::hierarchies::UNIFIED_MOUNTPOINT) {
                let sup = own.join(format!("{SLOT_PREFIX}supervisor-{}", std::process::id()));
                if !sup.exists() {
                    mkdir(&sup)?;
                }
                fs::write(sup.join("cgroup.procs"), "0").map_err(|source| CgroupError::Create {
                    path: sup.clone(),
                    source,
                })?;
            }
            fs::write(own.join("cgroup.subtree_control"), "+memory +pids").map_err(|source| {
                CgroupError::Create {
                    path: own.join("cgroup.subtree_control"),
                    source,
                }
            })?;
        }
        let (_, dirs) = make_slot_dir(std::slice::from_ref(&own))?;
        // The supervisor stays in its leaf until it exits (later slots rely on the enabled
        // controllers); a leaf left behind is reclaimed by the next run (reclaim_stale).
        *parent = Some(own);
        Ok(CgroupSlot {
            version: Version::V2,
            dirs,
        })
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
            for _ in 0..100 {
                let procs = fs::read_to_string(d.join("cgroup.procs")).unwrap_or_default();
                if procs.trim().is_empty() {
                    break;
                }
                for p in procs.lines().filter_map(|p| p.parse::<i32>().ok()) {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(p),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            let _ = fs::remove_dir(d);
        }
        self.dirs.clear();
    }
}

impl Drop for CgroupSlot {
    fn drop(&mut self) {
        self.remove();
    }
}

use std::os::unix::fs::OpenOptionsExt as _;

/// The control files of one slot, opened by the zygote once.
#[derive(Debug)]
pub struct CgroupFiles {
    pub version: Version,
    /// `cgroup.procs` of every hierarchy; the case child writes `0` to each.
    pub procs: Vec<OwnedFd>,
    mem_limit: Option<OwnedFd>,
    memsw_limit: Option<OwnedFd>,
    mem_peak: Option<OwnedFd>,
    mem_usage: Option<OwnedFd>,
    mem_failcnt: Option<OwnedFd>,
    mem_events: Option<OwnedFd>,
    pids_max: Option<OwnedFd>,
    pids_events: Option<OwnedFd>,
    pids_peak: Option<OwnedFd>,
    cpu_usage: Option<OwnedFd>,
    /// v1 `memory.force_empty` / v2 `memory.reclaim`: drops what earlier cases left charged.
    mem_reclaim: Option<OwnedFd>,
    last_mem_limit: Option<u64>,
    last_pids_max: Option<u64>,
    /// Whether writing the peak file resets it (v1 always; v2 since Linux 6.12).
    pub peak_resettable: bool,
    /// The zygote itself is a member of the pids and cpuacct cgroups (v1, see
    /// [`CgroupFiles::join_resident`]): one more pid, and its own CPU time, to leave out.
    resident: bool,
}

/// Counters read before and after a case; the case's figures are the differences.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counters {
    pub oom_kills: u64,
    pub mem_hits: u64,
    pub pids_hits: u64,
}

fn open_in(dir: &OwnedFd, name: &str, write: bool) -> Option<OwnedFd> {
    let flags = if write {
        OFlag::O_RDWR
    } else {
        OFlag::O_RDONLY
    } | OFlag::O_CLOEXEC;
    hatchery_sys::openat_owned(dir.as_fd(), name, flags, Mode::empty()).ok()
}

fn open_in_wo(dir: &OwnedFd, name: &str) -> Option<OwnedFd> {
    hatchery_sys::openat_owned(
        dir.as_fd(),
        name,
        OFlag::O_WRONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ok()
}

fn read_small<'a>(fd: &OwnedFd, buf: &'a mut [u8; 512]) -> Option<&'a str> {
    let n = pread0(fd.as_fd(), buf).ok()?;
    std::str::from_utf8(&buf[..n]).ok()
}

fn read_u64(fd: &Option<OwnedFd>) -> Option<u64> {
    let mut buf = [0u8; 512];
    read_small(fd.as_ref()?, &mut buf)?.trim().parse().ok()
}

fn read_key(fd: &Option<OwnedFd>, key: &str) -> Option<u64> {
    let mut buf = [0u8; 512];
    let s = read_small(fd.as_ref()?, &mut buf)?;
    s.lines().find_map(|l| {
        let mut it = l.split_whitespace();
        (it.next()? == key).then(|| it.next()?.parse().ok())?
    })
}

fn write_str(fd: &Option<OwnedFd>, s: &str) -> io::Result<()> {
    match fd {
        Some(fd) => hatchery_sys::write_raw(fd.as_raw_fd(), s.as_bytes())
            .map(drop)
            .map_err(io::Error::from),
        None => Ok(()),
    }
}

impl CgroupFiles {
    /// Opens the control files below directory descriptors received from the supervisor.
    pub fn open(version: Version, dirs: &[OwnedFd]) -> io::Result<CgroupFiles> {
        let need = |fd: Option<OwnedFd>, what: &str| {
            fd.ok_or_else(|| io::Error::other(format!("cannot open cgroup file {what}")))
        };
        match version {
            Version::V1 => {
                let [mem, pids, cpu] = dirs else {
                    return Err(io::Error::other("cgroup v1 needs three directories"));
                };
                Ok(CgroupFiles {
                    version,
                    procs: vec![
                        need(open_in(mem, "cgroup.procs", true), "memory/cgroup.procs")?,
                        need(open_in(pids, "cgroup.procs", true), "pids/cgroup.procs")?,
                        need(open_in(cpu, "cgroup.procs", true), "cpuacct/cgroup.procs")?,
                    ],
                    mem_limit: Some(need(
                        open_in(mem, "memory.limit_in_bytes", true),
                        "memory.limit_in_bytes",
                    )?),
                    memsw_limit: open_in(mem, "memory.memsw.limit_in_bytes", true),
                    mem_peak: Some(need(
                        open_in(mem, "memory.max_usage_in_bytes", true),
                        "memory.max_usage_in_bytes",
                    )?),
                    mem_usage: open_in(mem, "memory.usage_in_bytes", false),
                    mem_failcnt: open_in(mem, "memory.failcnt", false),
                    mem_events: open_in(mem, "memory.oom_control", false),
                    pids_max: Some(need(open_in(pids, "pids.max", true), "pids.max")?),
                    pids_events: open_in(pids, "pids.events", false),
                    pids_peak: open_in(pids, "pids.peak", false),
                    cpu_usage: Some(need(open_in(cpu, "cpuacct.usage", false), "cpuacct.usage")?),
                    mem_reclaim: open_in_wo(mem, "memory.force_empty"),
                    last_mem_limit: None,
                    last_pids_max: None,
                    peak_resettable: true,
                    resident: false,
                })
            }
            Version::V2 => {
                let [dir] = dirs else {
                    return Err(io::Error::other("cgroup v2 needs one directory"));
                };
                let mut f = CgroupFiles {
                    version,
                    procs: vec![need(open_in(dir, "cgroup.procs", true), "cgroup.procs")?],
                    mem_limit: Some(need(open_in(dir, "memory.max", true), "memory.max")?),
                    memsw_limit: open_in(dir, "memory.swap.max", true),
                    mem_peak: open_in(dir, "memory.peak", true),
                    mem_usage: open_in(dir, "memory.current", false),
                    mem_failcnt: None,
                    mem_events: open_in(dir, "memory.events", false),
                    pids_max: Some(need(open_in(dir, "pids.max", true), "pids.max")?),
                    pids_events: open_in(dir, "pids.events", false),
                    pids_peak: open_in(dir, "pids.peak", false),
                    cpu_usage: open_in(dir, "cpu.stat", false),
                    mem_reclaim: open_in_wo(dir, "memory.reclaim"),
                    last_mem_limit: None,
                    last_pids_max: None,
                    peak_resettable: false,
                    resident: false,
                };
                // Since Linux 6.12 writing memory.peak resets it for this descriptor.
                f.peak_resettable = f.mem_peak.is_some() && write_str(&f.mem_peak, "0").is_ok();
                Ok(f)
            }
        }
    }

    /// Whether the host can tell the case's peak memory from this slot.
    pub fn has_peak(&self) -> bool {
        self.mem_peak.is_some() && self.peak_resettable
    }

    /// Sets the memory and pids limits of the next case (only files whose value changed).
    pub fn set_limits(&mut self, memory: Option<u64>, pids: Option<u64>) -> io::Result<()> {
        let mem = memory.unwrap_or(u64::MAX);
        if self.last_mem_limit != Some(mem) {
            let val = match (self.version, memory) {
                (_, Some(m)) => m.to_string(),
                (Version::V1, None) => "-1".to_owned(),
                (Version::V2, None) => "max".to_owned(),
            };
            let swap = match self.version {
                Version::V1 => val.clone(),
                Version::V2 => "0".to_owned(),
            };
            // v1 requires memsw >= memory at every moment: raise memsw first, lower it last.
            let raising = mem >= self.last_mem_limit.unwrap_or(u64::MAX);
            if self.version == Version::V1 && raising {
                write_str(&self.memsw_limit, &swap)?;
                write_str(&self.mem_limit, &val)?;
            } else {
                write_str(&self.mem_limit, &val)?;
                write_str(&self.memsw_limit, &swap)?;
            }
            self.last_mem_limit = Some(mem);
        }
        let p = pids.unwrap_or(u64::MAX);
        if self.last_pids_max != Some(p) {
            let val = pids.map_or_else(
                || "max".to_owned(),
                |p| (p + self.resident as u64).to_string(),
            );
            write_str(&self.pids_max, &val)?;
            self.last_pids_max = Some(p);
        }
        Ok(())
    }

    /// Memory still charged to the (empty) slot above which it is reclaimed before a case, so
    /// that page cache left by earlier cases neither counts against the limit nor skews the
    /// peak when it is reclaimed during the case.
    pub const RECLAIM_ABOVE: u64 = 4 << 20;

    /// Resets the peak counters; returns the memory usage at that moment (the baseline the
    /// case's peak is measured from). Reclaims leftovers of earlier cases first.
    pub fn reset_peaks(&self) -> u64 {
        let mut usage = read_u64(&self.mem_usage).unwrap_or(0);
        if usage > Self::RECLAIM_ABOVE {
            let _ = match self.version {
                Version::V1 => write_str(&self.mem_reclaim, "0"),
                Version::V2 => write_str(&self.mem_reclaim, &u64::MAX.to_string()),
            };
            usage = read_u64(&self.mem_usage).unwrap_or(0);
        }
        // Nothing runs in the slot now: the peak restarts from `usage`.
        if self.peak_resettable {
            let _ = write_str(&self.mem_peak, "0");
        }
        let _ = write_str(&self.pids_peak, "0");
        usage
    }

    /// cgroup v1: the zygote joins the slot's pids and cpuacct cgroups once, so that its cases
    /// are born in them and only join the memory cgroup themselves (one write per case instead
    /// of three). The zygote stays out of the memory cgroup: the output it captures would count
    /// against the case's memory limit. Its pid and its CPU time are left out of the figures.
    pub fn join_resident(&mut self) -> io::Result<()> {
        if self.version != Version::V1 || self.procs.len() != 3 {
            return Ok(());
        }
        for fd in &self.procs[1..] {
            hatchery_sys::write_raw(fd.as_raw_fd(), b"0").map_err(io::Error::from)?;
        }
        self.procs.truncate(1);
        self.resident = true;
        Ok(())
    }

    pub fn memory_peak(&self) -> Option<u64> {
        read_u64(&self.mem_peak)
    }

    pub fn pids_peak(&self) -> Option<u64> {
        read_u64(&self.pids_peak).map(|p| p.saturating_sub(self.resident as u64))
    }

    /// CPU time of everything in the slot but the zygote, nanoseconds. Only differences of
    /// two readings mean anything.
    pub fn cpu_ns(&self) -> Option<u64> {
        let all = match self.version {
            Version::V1 => read_u64(&self.cpu_usage),
            Version::V2 => read_key(&self.cpu_usage, "usage_usec").map(|u| u * 1000),
        }?;
        if !self.resident {
            return Some(all);
        }
        let own = nix::time::clock_gettime(nix::time::ClockId::CLOCK_PROCESS_CPUTIME_ID).ok()?;
        let own_ns = own.tv_sec() as u64 * 1_000_000_000 + own.tv_nsec() as u64;
        Some(all.saturating_sub(own_ns))
    }

    pub fn counters(&self) -> Counters {
        let mut c = Counters::default();
        self.update_counters(&mut c, true, true);
        c
    }

    /// Re-reads the OOM kill count, and the memory and pids limit events when asked: a
    /// counter of limit events cannot move while that limit is unset.
    pub fn update_counters(&self, c: &mut Counters, memory_limited: bool, pids_limited: bool) {
        c.oom_kills = read_key(&self.mem_events, "oom_kill").unwrap_or(0);
        if memory_limited {
            c.mem_hits = match self.version {
                Version::V1 => read_u64(&self.mem_failcnt).unwrap_or(0),
                Version::V2 => read_key(&self.mem_events, "max").unwrap_or(0),
            };
        }
        if pids_limited {
            c.pids_hits = read_key(&self.pids_events, "max").unwrap_or(0);
        }
    }

    /// Pids of the processes in the slot (tier `none` cleanup).
    pub fn pids(&self) -> Vec<i32> {
        let Some(fd) = self.procs.first() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        if let Ok(n) = pread0(fd.as_fd(), &mut buf) {
            for l in String::from_utf8_lossy(&buf[..n]).lines() {
                if let Ok(p) = l.trim().parse() {
                    out.push(p);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod slot_tests {
    use super::*;

    #[test]
    fn only_our_names_have_owners() {
        assert_eq!(slot_owner("hatchery-42-0"), Some(42));
        assert_eq!(slot_owner("hatchery-42-17"), Some(42));
        assert_eq!(slot_owner("hatchery-supervisor-7"), Some(7));
        assert_eq!(slot_owner("hatchery-42-w0"), None);
        assert_eq!(slot_owner("hatchery-doctor"), None);
        assert_eq!(slot_owner("user.slice"), None);
        assert_eq!(slot_owner("hatchery-x-1"), None);
    }

    #[test]
    fn names_are_unique_and_leftovers_of_our_pid_are_reused_or_skipped() {
        let t = std::env::temp_dir().join(format!("hatchery-slot-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&t);
        fs::create_dir_all(&t).unwrap();
        let parents = vec![t.clone()];
        let (a, _) = make_slot_dir(&parents).unwrap();
        let (b, _) = make_slot_dir(&parents).unwrap();
        assert_ne!(a, b);
        // A populated leftover with the next name (pid reuse after a killed run) is skipped.
        let n = NEXT_SLOT.load(std::sync::atomic::Ordering::SeqCst);
        let busy = t.join(format!("hatchery-{}-{n}", std::process::id()));
        fs::create_dir(&busy).unwrap();
        fs::write(busy.join("cgroup.procs"), "1\n").unwrap();
        let (c, dirs) = make_slot_dir(&parents).unwrap();
        assert_ne!(t.join(&c), busy);
        assert!(dirs[0].is_dir() && busy.join("cgroup.procs").exists());
        fs::remove_dir_all(&t).unwrap();
    }

    #[test]
    fn stale_slots_of_dead_supervisors_are_reclaimed_and_nothing_else() {
        let t = std::env::temp_dir().join(format!("hatchery-reclaim-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&t);
        fs::create_dir_all(&t).unwrap();
        for d in [
            "hatchery-1-0",
            "hatchery-supervisor-1",
            "hatchery-2-0",
            "other",
            "hatchery-3-0",
        ] {
            fs::create_dir(t.join(d)).unwrap();
        }
        // A populated stale slot stays: its processes are not ours to kill.
        fs::write(t.join("hatchery-3-0").join("cgroup.procs"), "9").unwrap();
        let alive = |pid: u32| pid == 2;
        assert_eq!(reclaim_stale(&t, &alive), 2);
        let mut left: Vec<String> = fs::read_dir(&t)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["hatchery-2-0", "hatchery-3-0", "other"]);
        fs::remove_dir_all(&t).unwrap();
    }
}

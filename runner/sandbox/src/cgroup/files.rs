//! Zygote side of a slot: control files opened once (before any `pivot_root`), then per case:
//! set limits, reset peaks, read counters. The case child attaches itself by writing `0` to
//! `cgroup.procs` (so the zygote itself is never in the case's cgroup and its memory never
//! counts).

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use hatchery_sys::pread0;

use super::Version;

/// The control files of one slot, opened by the zygote once.
#[derive(Debug)]
pub struct CgroupFiles {
    pub version: Version,
    /// `cgroup.procs` of every hierarchy; the case child writes `0` to each (see
    /// [`CgroupFiles::join_fds`]).
    pub procs: Vec<OwnedFd>,
    /// v1: the memory cgroup's `tasks` file, through which one thread joins it alone.
    mem_tasks: Option<OwnedFd>,
    /// Cases are born in every cgroup of the slot (the zygote's clone thread is in them), and
    /// join none themselves.
    born_inside: bool,
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
    /// [`CgroupFiles::join_resident`]): its tasks (its main thread, and its clone thread once
    /// [`CgroupFiles::cases_born_inside`]), and its own CPU time, to leave out.
    resident: bool,
    /// The zygote's tasks counted by the pids cgroup.
    resident_tasks: u64,
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
                    mem_tasks: open_in_wo(mem, "tasks"),
                    born_inside: false,
                    last_mem_limit: None,
                    last_pids_max: None,
                    peak_resettable: true,
                    resident: false,
                    resident_tasks: 0,
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
                    mem_tasks: None,
                    born_inside: false,
                    last_mem_limit: None,
                    last_pids_max: None,
                    peak_resettable: false,
                    resident: false,
                    resident_tasks: 0,
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
                |p| (p + self.resident_tasks).to_string(),
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
        self.resident_tasks = 1;
        Ok(())
    }

    /// cgroup v1, after [`CgroupFiles::join_resident`]: a descriptor of the memory cgroup's
    /// `tasks` file, for one thread of the zygote to join that cgroup alone (writing `0`), so
    /// that the cases it clones are born in it: a process moving itself into a cgroup costs
    /// an RCU grace period in the kernel (~6 ms), being born there nothing. The thread's
    /// process stays where it is, and so does the charge of its memory (it follows the
    /// process's main thread). `None` on v2, where a process's threads share its cgroup.
    pub fn memory_tasks(&self) -> Option<OwnedFd> {
        if !self.resident {
            return None;
        }
        self.mem_tasks.as_ref()?.try_clone().ok()
    }

    /// The thread given [`CgroupFiles::memory_tasks`] joined: cases are born in every cgroup
    /// of the slot from now on.
    pub fn cases_born_inside(&mut self) {
        self.born_inside = true;
        // The thread is one more task in the pids cgroup: the next case's limit is rewritten.
        self.resident_tasks += 1;
        self.last_pids_max = None;
    }

    /// The `cgroup.procs` files a case child writes `0` to, to join the slot.
    pub fn join_fds(&self) -> &[OwnedFd] {
        if self.born_inside {
            &[]
        } else {
            &self.procs
        }
    }

    pub fn memory_peak(&self) -> Option<u64> {
        read_u64(&self.mem_peak)
    }

    pub fn pids_peak(&self) -> Option<u64> {
        read_u64(&self.pids_peak).map(|p| p.saturating_sub(self.resident_tasks))
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

    /// Pids of the processes in the slot (tier `none` cleanup), the zygote's own left out (its
    /// clone thread is in the slot).
    pub fn pids(&self) -> Vec<i32> {
        let Some(fd) = self.procs.first() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        if let Ok(n) = pread0(fd.as_fd(), &mut buf) {
            let me = std::process::id() as i32;
            for l in String::from_utf8_lossy(&buf[..n]).lines() {
                if let Ok(p) = l.trim().parse() {
                    if p != me {
                        out.push(p);
                    }
                }
            }
        }
        out
    }
}

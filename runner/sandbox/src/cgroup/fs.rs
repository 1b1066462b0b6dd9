//! The seam between the parent-side cgroup logic and the host: every read, write, `mkdir`,
//! `rmdir` and process query the allocator makes goes through [`CgroupFs`], so the v1/v2
//! decisions, the v2 delegation and the slot bookkeeping run unchanged against the fake
//! cgroupfs of the unit tests (`fake.rs`), which keeps the kernel's rules (no internal
//! processes, controllers only from the parent's `subtree_control`, delegation by ownership).
//! The idea is youki's `Syscall` trait and firecracker's mock cgroup fs.

use std::fs;
use std::io::{self, Write as _};
use std::path::Path;

/// What the allocator may learn about another process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    pub ppid: u32,
    /// `/proc/<pid>/comm`.
    pub comm: String,
    /// Runs the same executable as we do (another hatchery).
    pub same_exe: bool,
}

/// The host operations the parent side of the cgroup code needs.
pub trait CgroupFs: Send + Sync {
    /// Reads a small file (a control file, `/proc/self/cgroup`, `/proc/self/mountinfo`).
    fn read(&self, path: &Path) -> io::Result<String>;
    /// Writes `data` to an existing file in one `write` (no create, no truncate).
    fn write(&self, path: &Path, data: &str) -> io::Result<()>;
    fn mkdir(&self, path: &Path) -> io::Result<()>;
    fn rmdir(&self, path: &Path) -> io::Result<()>;
    fn exists(&self, path: &Path) -> bool;
    /// Names of the subdirectories of `path` (child cgroups).
    fn subdirs(&self, path: &Path) -> io::Result<Vec<String>>;
    /// Our process id (the thread group: `cgroup.procs` moves all our threads).
    fn pid(&self) -> u32;
    fn euid(&self) -> u32;
    /// `None` when there is no such process.
    fn process(&self, pid: u32) -> Option<ProcessInfo>;
    /// SIGKILL to one process that is left in a slot of ours.
    fn kill(&self, pid: u32);
    /// Sleeps between retries (the fake only counts).
    fn pause(&self, d: std::time::Duration);
    /// Asks the service manager for a transient scope holding only this process, with its
    /// cgroup delegated to us, and returns once we are in it (see `systemd.rs`): the unit's
    /// name.
    fn delegated_scope(&self) -> io::Result<String>;
}

/// The real host.
#[derive(Debug, Default)]
pub struct HostFs;

fn stat_ppid(stat: &str) -> Option<u32> {
    // `pid (comm) state ppid ...`; comm may contain spaces and parentheses.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

impl CgroupFs for HostFs {
    fn read(&self, path: &Path) -> io::Result<String> {
        fs::read_to_string(path)
    }

    fn write(&self, path: &Path, data: &str) -> io::Result<()> {
        fs::OpenOptions::new()
            .write(true)
            .open(path)?
            .write_all(data.as_bytes())
    }

    fn mkdir(&self, path: &Path) -> io::Result<()> {
        fs::create_dir(path)
    }

    fn rmdir(&self, path: &Path) -> io::Result<()> {
        fs::remove_dir(path)
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }

    fn subdirs(&self, path: &Path) -> io::Result<Vec<String>> {
        let mut v = Vec::new();
        for e in fs::read_dir(path)? {
            let e = e?;
            if e.file_type()?.is_dir() {
                v.push(e.file_name().to_string_lossy().into_owned());
            }
        }
        Ok(v)
    }

    fn pid(&self) -> u32 {
        std::process::id()
    }

    fn euid(&self) -> u32 {
        nix::unistd::geteuid().as_raw()
    }

    fn process(&self, pid: u32) -> Option<ProcessInfo> {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let comm = fs::read_to_string(format!("/proc/{pid}/comm"))
            .map(|c| c.trim_end().to_owned())
            .unwrap_or_default();
        let exe = |p: &str| fs::read_link(p).ok();
        let same_exe = match (exe(&format!("/proc/{pid}/exe")), exe("/proc/self/exe")) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        };
        Some(ProcessInfo {
            ppid: stat_ppid(&stat)?,
            comm,
            same_exe,
        })
    }

    fn kill(&self, pid: u32) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
    }

    fn pause(&self, d: std::time::Duration) {
        std::thread::sleep(d);
    }

    fn delegated_scope(&self) -> io::Result<String> {
        super::systemd::start_scope(self.pid(), self.euid() == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ppid_is_read_after_the_last_parenthesis() {
        assert_eq!(stat_ppid("42 (a) b) c) S 7 42 42 0"), Some(7));
        assert_eq!(stat_ppid("1 (init) S 0 1 1"), Some(0));
        assert_eq!(stat_ppid("garbage"), None);
    }

    #[test]
    fn host_knows_itself_and_its_parent() {
        let h = HostFs;
        let me = h.process(h.pid()).expect("/proc/self is readable");
        assert!(me.same_exe);
        assert_eq!(me.ppid, std::os::unix::process::parent_id());
    }
}

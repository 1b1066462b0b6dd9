//! After a case: kill and reap everything it left behind, count what was still alive, and
//! clean the state cases share (SysV IPC objects, message queues, scratch directories).

use std::collections::BTreeSet;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use hatchery_sys::wait4;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::error::ZygoteError;
use super::Zygote;

impl Zygote {
    /// Sends SIGKILL to every process of the case (not reaping).
    pub(super) fn kill_case(&self, main: Pid) -> u64 {
        // The other processes alive at this moment outlived the case: a limit ends the case
        // now, whatever its main process would have done. Counted before the kill, since
        // afterwards they are only zombies (which `kill_everything` does not count).
        if self.pid_ns {
            // PID 1 of the namespace: -1 reaches every other process in it.
            let alive = alive_in_proc(|pid| pid != 1 && pid != main.as_raw());
            let _ = kill(Pid::from_raw(-1), Signal::SIGKILL);
            alive
        } else {
            let _ = kill(main, Signal::SIGKILL);
            let tree: BTreeSet<i32> = self.tier_none_pids().into_iter().collect();
            let alive = tree
                .iter()
                .filter(|&&p| p != main.as_raw() && stat_of(p).is_some_and(|(_, s)| is_alive(s)))
                .count() as u64;
            for p in &tree {
                signal_if_ours(*p, Signal::SIGKILL, &tree);
            }
            alive
        }
    }

    /// Sends SIGTERM to every process of the case (a time limit with a grace period: the
    /// SIGKILL of [`Self::kill_case`] follows if it is still running).
    pub(super) fn term_case(&self, main: Pid) {
        if self.pid_ns {
            let _ = kill(Pid::from_raw(-1), Signal::SIGTERM);
        } else {
            let _ = kill(main, Signal::SIGTERM);
            let tree: BTreeSet<i32> = self.tier_none_pids().into_iter().collect();
            for p in &tree {
                signal_if_ours(*p, Signal::SIGTERM, &tree);
            }
        }
    }

    /// Whether a process of the case (its main process reaped already) still holds one of the
    /// pipes named by `inodes`, the case's stdout and stderr: what nextest calls a leak. A
    /// live process whose descriptors we may not read counts as holding them.
    pub(super) fn output_held(&self, inodes: [u64; 2]) -> bool {
        let pids: Vec<i32> = if self.pid_ns {
            // Our /proc is the namespace's: every process in it but us belongs to the case.
            proc_pids().filter(|p| *p != 1).collect()
        } else {
            let mut v = descendants_of_me();
            v.extend(self.cgroup.as_ref().map(|c| c.pids()).unwrap_or_default());
            v
        };
        pids.into_iter().any(|p| holds_pipe(p, inodes))
    }

    /// Processes of the case in tier `none`: our children (orphans reparent to us, the
    /// subreaper) and everything in the case's cgroup.
    fn tier_none_pids(&self) -> Vec<i32> {
        let mut pids = self.cgroup.as_ref().map(|c| c.pids()).unwrap_or_default();
        let me = std::process::id();
        // Every thread's children: the clone thread's cases, and orphans, which the kernel
        // gives to any thread of the subreaper.
        let tasks = std::fs::read_dir(format!("/proc/{me}/task"))
            .into_iter()
            .flatten();
        for t in tasks.flatten() {
            if let Ok(s) = std::fs::read_to_string(t.path().join("children")) {
                pids.extend(s.split_whitespace().filter_map(|p| p.parse::<i32>().ok()));
            }
        }
        pids.retain(|p| *p > 0 && *p as u32 != me);
        pids
    }

    /// Reaps every child that has exited, blocking until none is left (pid namespace) or
    /// none is ready (tier `none`). Returns how many a SIGKILL ended: after our kill, those
    /// that were alive when it was sent.
    fn reap_all(&self) -> u64 {
        let flags = if self.pid_ns { 0 } else { libc::WNOHANG };
        let mut killed = 0;
        while let Ok(Some(w)) = wait4(-1, flags) {
            if w.signaled().is_some_and(|(sig, _)| sig == libc::SIGKILL) {
                killed += 1;
            }
        }
        killed
    }

    /// Reaps the children that have already exited (zombies of processes of the case that
    /// ended before it did: not leftovers). `true` when no child is left at all.
    pub(super) fn reap_exited(&self) -> bool {
        loop {
            match wait4(-1, libc::WNOHANG) {
                Ok(Some(_)) => {}
                Err(_) => return true,
                Ok(None) => return false,
            }
        }
    }

    /// Kills and reaps everything the case left, once its main process has been reaped.
    /// Returns how many processes were still alive (zombies of processes that had already
    /// exited do not count: they are only reaped). A failure to kill everything retires the
    /// zygote.
    pub(super) fn kill_everything(&mut self) -> u64 {
        // Every process of a case descends from us (tier none: we are the subreaper): no child
        // at all means nothing is left (the usual case), without signalling or scanning.
        if self.reap_exited() {
            return 0;
        }
        if self.pid_ns {
            // Our /proc is the namespace's: every process in it but us belongs to the case.
            // The scan is not atomic (a child that exits right after its own fork can be
            // seen dead while its new child is not listed yet); what our SIGKILL ended was
            // alive too, so the larger count stands.
            let alive = alive_in_proc(|pid| pid != 1);
            let _ = kill(Pid::from_raw(-1), Signal::SIGKILL);
            return alive.max(self.reap_all());
        }
        // Tier none. Without a PID namespace a fork bomb can outrun a kill loop, so first stop
        // the whole tree (stopped processes cannot fork) until a scan finds nothing new, then
        // kill it all, then reap until no child is left.
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut stopped = BTreeSet::new();
        let mut alive = 0;
        loop {
            let mut tree = descendants_of_me();
            tree.extend(self.cgroup.as_ref().map(|c| c.pids()).unwrap_or_default());
            let fresh: Vec<i32> = tree.into_iter().filter(|p| stopped.insert(*p)).collect();
            if fresh.is_empty() || Instant::now() > deadline {
                break;
            }
            for p in fresh {
                if stat_of(p).is_some_and(|(_, state)| is_alive(state)) {
                    alive += 1;
                }
                signal_if_ours(p, Signal::SIGSTOP, &stopped);
            }
        }
        for p in &stopped {
            signal_if_ours(*p, Signal::SIGKILL, &stopped);
        }
        loop {
            match wait4(-1, libc::WNOHANG) {
                Ok(Some(_)) => {}
                Err(_) => break,
                Ok(None) => {
                    let tree: BTreeSet<i32> = descendants_of_me().into_iter().collect();
                    for p in &tree {
                        signal_if_ours(*p, Signal::SIGKILL, &tree);
                    }
                    if Instant::now() > deadline {
                        let left = tree.len();
                        self.retire(ZygoteError::KillLeftovers { left });
                        break;
                    }
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
        }
        alive
    }

    /// SysV IPC objects and scratch files of the case must not reach the next one.
    pub(super) fn clean_shared_state(&mut self) -> Result<(), ZygoteError> {
        if self.pid_ns {
            let (shm, msg, sem) = hatchery_sys::sysv_ipc_counts();
            if shm + msg + sem > 0 {
                remove_sysv_objects()?;
            }
        }
        self.scratch.reset().map_err(ZygoteError::ScratchReset)?;
        self.scratch
            .clear_mqueues()
            .map_err(ZygoteError::MqueueRemove)?;
        Ok(())
    }
}

/// Parent pid and state letter from `/proc/<pid>/stat`.
fn stat_of(pid: i32) -> Option<(i32, char)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // pid (comm) state ppid ...: comm may hold spaces and parentheses.
    let (_, rest) = stat.rsplit_once(')')?;
    let mut f = rest.split_whitespace();
    let state = f.next()?.chars().next()?;
    let ppid = f.next()?.parse().ok()?;
    Some((ppid, state))
}

/// Not a zombie (`Z`) nor dead (`X`, `x`).
fn is_alive(state: char) -> bool {
    !matches!(state, 'Z' | 'X' | 'x')
}

/// The pids in our /proc.
fn proc_pids() -> impl Iterator<Item = i32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()))
}

/// How many processes of our /proc that `want` accepts are alive (not zombies).
fn alive_in_proc(want: impl Fn(i32) -> bool) -> u64 {
    proc_pids()
        .filter(|&pid| want(pid) && stat_of(pid).is_some_and(|(_, s)| is_alive(s)))
        .count() as u64
}

/// Whether live process `pid` has a descriptor of a pipe named by `inodes` (`pipe:[N]`).
/// When its descriptors cannot be read (it is not ours to inspect), it is assumed to.
fn holds_pipe(pid: i32, inodes: [u64; 2]) -> bool {
    if !stat_of(pid).is_some_and(|(_, s)| is_alive(s)) {
        return false;
    }
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        // Gone meanwhile (then no longer alive), or not readable: assume the worst.
        return stat_of(pid).is_some_and(|(_, s)| is_alive(s));
    };
    fds.flatten().any(|e| {
        std::fs::read_link(e.path()).is_ok_and(|t| {
            t.to_str()
                .and_then(|t| t.strip_prefix("pipe:[")?.strip_suffix(']')?.parse().ok())
                .is_some_and(|ino: u64| inodes.contains(&ino))
        })
    })
}

/// Signals `pid` only if it is still one of ours. A pid read from /proc or cgroup.procs may
/// have been reaped (by a case process, its parent) and reused by an unrelated process since:
/// the pidfd pins the process, and its parent is checked after pinning — our child, or a
/// child of a process of the case's tree.
fn signal_if_ours(pid: i32, sig: Signal, tree: &BTreeSet<i32>) {
    let Ok(fd) = hatchery_sys::pidfd_open(Pid::from_raw(pid)) else {
        return;
    };
    let me = std::process::id() as i32;
    if let Some((pp, _)) = stat_of(pid) {
        if pp == me || tree.contains(&pp) {
            let _ = hatchery_sys::pidfd_send_signal(fd.as_fd(), sig as i32);
        }
    }
}

/// Every descendant of this process, from one scan of /proc/<pid>/stat (parent links).
fn descendants_of_me() -> Vec<i32> {
    let me = std::process::id() as i32;
    let mut parent_of = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        if let Some((ppid, _)) = stat_of(pid) {
            parent_of.push((pid, ppid));
        }
    }
    let mut found = vec![me];
    let mut i = 0;
    while i < found.len() {
        let p = found[i];
        found.extend(parent_of.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    found.remove(0);
    found
}

fn remove_sysv_objects() -> Result<(), ZygoteError> {
    use hatchery_sys::IpcKind;
    for (file, kind, col) in [
        ("/proc/sysvipc/shm", IpcKind::Shm, 1),
        ("/proc/sysvipc/msg", IpcKind::Msg, 1),
        ("/proc/sysvipc/sem", IpcKind::Sem, 1),
    ] {
        let s = std::fs::read_to_string(file).map_err(|source| ZygoteError::SysvRemove {
            what: format!("read {file}"),
            source,
        })?;
        for line in s.lines().skip(1) {
            if let Some(id) = line
                .split_whitespace()
                .nth(col)
                .and_then(|v| v.parse().ok())
            {
                hatchery_sys::sysv_ipc_remove(kind, id).map_err(|e| ZygoteError::SysvRemove {
                    what: format!("remove object {id} of {file}"),
                    source: e.into(),
                })?;
            }
        }
    }
    Ok(())
}

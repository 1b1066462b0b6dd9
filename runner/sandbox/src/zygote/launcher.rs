//! The `hatchery __zygote` entry: read the init message, unshare the namespaces, let the
//! supervisor write the id maps, fork PID 1 and wait for it (or, for tier `none`, become the
//! zygote directly).

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;

use hatchery_report::{Enforcement, LayerState};
use hatchery_sys::wait4;
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags};
use nix::sched::CloneFlags;
use nix::sys::signal::{kill, Signal};
use nix::sys::stat::Mode;
use nix::unistd::Pid;

use super::error::SetupError;
use super::scratch::Scratch;
use super::Zygote;
use crate::cgroup::CgroupFiles;
use crate::policy::Tier;
use crate::wire::{self, Hello, ZygoteInit};

/// Entry point of `hatchery __zygote`: the control socket is on stdin. Never returns.
pub fn main() -> ! {
    // fd 0 was set up by the supervisor as our end of the socket pair.
    let sock = match take_stdin_socket() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("hatchery zygote: {e}");
            std::process::exit(70);
        }
    };
    let code = match wire::recv::<ZygoteInit>(&sock, 64 << 10) {
        Ok((init, fds)) => launch(sock, init, fds),
        Err(e) => {
            eprintln!("hatchery zygote: failed to read the init message: {e}");
            70
        }
    };
    std::process::exit(code)
}

fn take_stdin_socket() -> io::Result<UnixStream> {
    // A close-on-exec duplicate (F_DUPFD_CLOEXEC); fd 0 becomes /dev/null.
    let fd = io::stdin().as_fd().try_clone_to_owned()?;
    let null =
        hatchery_sys::open_owned("/dev/null", OFlag::O_RDWR | OFlag::O_CLOEXEC, Mode::empty())?;
    nix::unistd::dup2(null.as_raw_fd(), 0)?;
    Ok(UnixStream::from(fd))
}

pub(super) fn fail_hello(sock: &UnixStream, error: SetupError) -> i32 {
    let error = hatchery_report::error_chain(&error);
    let _ = wire::send(sock, &Hello::Failed { error }, &[]);
    71
}

fn launch(sock: UnixStream, init: ZygoteInit, cgroup_dirs: Vec<OwnedFd>) -> i32 {
    // Die with the supervisor *process*. (PR_SET_PDEATHSIG would follow the supervisor thread
    // that spawned us, which may end long before the process.) A pidfd of the supervisor,
    // opened while it is still our parent, becomes readable when it exits.
    let supervisor = match hatchery_sys::pidfd_open(Pid::from_raw(init.supervisor_pid)) {
        Ok(fd) => fd,
        Err(e) => return fail_hello(&sock, SetupError::SupervisorPidfd(e)),
    };
    if nix::unistd::getppid().as_raw() != init.supervisor_pid {
        return 72;
    }
    // Before anything forks: the zygote and every case inherit the pin.
    if let Some(cpu) = init.cpu {
        if let Err(e) = crate::affinity::pin_current_thread(cpu) {
            return fail_hello(&sock, SetupError::Pin { cpu, source: e });
        }
    }
    // Open the cgroup control files now, while the host's /sys is still in view.
    let cgroup = match init.cgroup {
        Some(v) => match CgroupFiles::open(v, &cgroup_dirs) {
            Ok(f) => Some(f),
            Err(e) => return fail_hello(&sock, SetupError::CgroupFiles(e)),
        },
        None => None,
    };
    drop(cgroup_dirs);
    let mut enforcement = Enforcement::new();
    if init.tier == Tier::None {
        if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
            return fail_hello(&sock, SetupError::Subreaper(e));
        }
        // Cases run as another uid when we are root; unprivileged they share ours: either
        // way, /proc/<zygote>/{mem,environ,fd} stay closed to them.
        if let Err(e) = nix::sys::prctl::set_dumpable(false) {
            return fail_hello(&sock, SetupError::Dumpable(e));
        }
        for l in ["user_ns", "pid_ns", "ipc_ns", "mount_ns", "net_ns"] {
            enforcement.insert(l.into(), LayerState::none("tier none"));
        }
        let mut z = match Zygote::new(sock, init, cgroup, Scratch::none(), enforcement) {
            Ok(z) => z,
            Err((sock, e)) => return fail_hello(&sock, e),
        };
        z.supervisor = Some(supervisor);
        return z.serve();
    }
    let proof = match hatchery_sys::SingleThreaded::check() {
        Ok(p) => p,
        Err(e) => return fail_hello(&sock, SetupError::NotSingleThreaded(e)),
    };
    let mut flags = CloneFlags::CLONE_NEWUSER
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWNS;
    // No network unless asked: an empty network namespace, which also keeps the case away
    // from the host's abstract unix sockets.
    if init.network != crate::policy::Network::Host {
        flags |= CloneFlags::CLONE_NEWNET;
    }
    // Root: create the namespace as the cases' own host uid, so that it owns it and the
    // kernel charges what is counted per user in it (inotify instances, message queue bytes,
    // pending signals, ...) to that uid on the host and not to root.
    if let Some((uid, gid)) = init.ns_owner {
        if let Err(e) = take_ids(uid, gid) {
            return fail_hello(&sock, e);
        }
    }
    if let Err(source) = nix::sched::unshare(flags) {
        let flags = if flags.contains(CloneFlags::CLONE_NEWNET) {
            "user|pid|ipc|mount|net"
        } else {
            "user|pid|ipc|mount"
        };
        return fail_hello(&sock, SetupError::Unshare { flags, source });
    }
    // Mappings beyond our own uid need CAP_SETUID in the parent namespace, which only the
    // supervisor has: it writes our maps and tells us.
    if wire::send(&sock, &Hello::Unshared, &[]).is_err() {
        return 77;
    }
    if wire::recv::<wire::MapsWritten>(&sock, 1024).is_err() {
        return 78;
    }
    // The creator has every capability in the new namespace: it becomes its root (host root
    // is mapped there) for the mounts and the cases' id switches, as before.
    if init.ns_owner.is_some() {
        use nix::unistd::{setresgid, setresuid, Gid, Uid};
        let r = setresgid(Gid::from_raw(0), Gid::from_raw(0), Gid::from_raw(0))
            .and_then(|()| setresuid(Uid::from_raw(0), Uid::from_raw(0), Uid::from_raw(0)));
        if let Err(e) = r {
            return fail_hello(&sock, SetupError::NsRoot(e));
        }
    }
    match hatchery_sys::fork_single_threaded(proof) {
        Err(e) => fail_hello(&sock, SetupError::Fork(e)),
        Ok(Some(child)) => {
            // The launcher: wait for the zygote, then leave with its status; if the
            // supervisor goes first, take the zygote (and with it every case) down.
            drop(sock);
            drop(cgroup);
            wait_for_zygote(child, &supervisor)
        }
        Ok(None) => super::pid1::become_pid1(sock, init, cgroup, enforcement),
    }
}

/// Drops every group and takes `uid` and `gid` as real, effective and saved ids.
fn take_ids(uid: u32, gid: u32) -> Result<(), SetupError> {
    use nix::unistd::{setgroups, setresgid, setresuid, Gid, Uid};
    let step =
        |what: String, r: nix::Result<()>| r.map_err(|source| SetupError::NsOwner { what, source });
    step("no supplementary groups".into(), setgroups(&[]))?;
    let g = Gid::from_raw(gid);
    step(format!("gid {gid}"), setresgid(g, g, g))?;
    let u = Uid::from_raw(uid);
    step(format!("uid {uid}"), setresuid(u, u, u))
}

/// The launcher's life after the fork: returns the zygote's exit status.
fn wait_for_zygote(child: Pid, supervisor: &OwnedFd) -> i32 {
    let Ok(zygote) = hatchery_sys::pidfd_open(child) else {
        let _ = kill(child, Signal::SIGKILL);
        return 73;
    };
    loop {
        let mut fds = [
            PollFd::new(zygote.as_fd(), PollFlags::POLLIN),
            PollFd::new(supervisor.as_fd(), PollFlags::POLLIN),
        ];
        if let Err(e) = nix::poll::poll(&mut fds, nix::poll::PollTimeout::NONE) {
            if e == Errno::EINTR {
                continue;
            }
        }
        let supervisor_gone = fds[1].revents().is_some_and(|r| !r.is_empty());
        if supervisor_gone {
            let _ = kill(child, Signal::SIGKILL);
        }
        match wait4(child.as_raw(), libc::WNOHANG) {
            Ok(Some(w)) if w.pid == child => {
                return w.exited().unwrap_or(128 + w.signaled().map_or(0, |s| s.0))
            }
            Ok(_) if !supervisor_gone => continue,
            Ok(_) => {
                let _ = wait4(child.as_raw(), 0);
                return 74;
            }
            Err(_) => return 73,
        }
    }
}

//! The zygote: a small single-threaded process, started once per worker, that enters its
//! namespaces once and then serves cases: for each request it clones one case child (see
//! `child.rs`), enforces wall/CPU/output limits, kills and reaps everything the case started,
//! measures, cleans shared state, and answers.
//!
//! Process layout for tiers with namespaces:
//! supervisor ─ launcher (`hatchery __zygote`, unshares user/ipc/mount[/net]/pid namespaces)
//!            └ zygote (PID 1 of the new PID namespace) ─ case child ─ …
//! For tier `none` the launcher is the zygote and is a child subreaper instead.

use std::cell::Cell;
use std::collections::HashMap;
use std::ffi::{c_int, CString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use hatchery_report::{
    Captured, Enforcement, LayerState, Limit, Limits, MemorySource, RawFacts, Termination, Usage,
};
use hatchery_sys::{wait4, CStrArray};
use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::poll::{PollFd, PollFlags};
use nix::sched::CloneFlags;
use nix::sys::signal::{kill, Signal};
use nix::sys::stat::Mode;
use nix::unistd::Pid;
use seccompiler::BpfProgram;

use crate::cgroup::CgroupFiles;
use crate::child::{self, ChildPlan, Step};
use crate::mounts::{self, Scratch};
use crate::policy::{SeccompProfile, Tier};
use crate::wire::{self, CaseReply, CaseRequest, Hello, ZygoteInit, MAX_REQUEST_BYTES};

/// How much output is kept when the case has no output limit.
pub const DEFAULT_CAPTURE_BYTES: u64 = 64 << 20;

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
    let dup = nix::unistd::dup(0).map_err(io::Error::from)?;
    let fd = hatchery_sys::own_fd(dup);
    nix::fcntl::fcntl(
        fd.as_raw_fd(),
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    )?;
    let null = open("/dev/null", OFlag::O_RDWR | OFlag::O_CLOEXEC, Mode::empty())?;
    nix::unistd::dup2(null, 0)?;
    nix::unistd::close(null)?;
    Ok(UnixStream::from(fd))
}

fn fail_hello(sock: &UnixStream, error: String) -> i32 {
    let _ = wire::send(sock, &Hello::Failed { error }, &[]);
    71
}

fn launch(sock: UnixStream, init: ZygoteInit, cgroup_dirs: Vec<OwnedFd>) -> i32 {
    // Die with the supervisor *process*. (PR_SET_PDEATHSIG would follow the supervisor thread
    // that spawned us, which may end long before the process.) A pidfd of the supervisor,
    // opened while it is still our parent, becomes readable when it exits.
    let supervisor = match hatchery_sys::pidfd_open(Pid::from_raw(init.supervisor_pid)) {
        Ok(fd) => fd,
        Err(e) => return fail_hello(&sock, format!("pidfd_open of the supervisor failed: {e}")),
    };
    if nix::unistd::getppid().as_raw() != init.supervisor_pid {
        return 72;
    }
    // Before anything forks: the zygote and every case inherit the pin.
    if let Some(cpu) = init.cpu {
        if let Err(e) = crate::affinity::pin_current_thread(cpu) {
            return fail_hello(&sock, format!("failed to pin the zygote to CPU {cpu}: {e}"));
        }
    }
    // Open the cgroup control files now, while the host's /sys is still in view.
    let cgroup = match init.cgroup {
        Some(v) => match CgroupFiles::open(v, &cgroup_dirs) {
            Ok(f) => Some(f),
            Err(e) => return fail_hello(&sock, format!("failed to open cgroup files: {e}")),
        },
        None => None,
    };
    drop(cgroup_dirs);
    let mut enforcement = Enforcement::new();
    if init.tier == Tier::None {
        if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
            return fail_hello(&sock, format!("failed to become a child subreaper: {e}"));
        }
        // Cases run as another uid when we are root; unprivileged they share ours: either
        // way, /proc/<zygote>/{mem,environ,fd} stay closed to them.
        if let Err(e) = nix::sys::prctl::set_dumpable(false) {
            return fail_hello(
                &sock,
                format!("failed to make the zygote non-dumpable: {e}"),
            );
        }
        for l in ["user_ns", "pid_ns", "ipc_ns", "mount_ns", "net_ns"] {
            enforcement.insert(l.into(), LayerState::none("tier none"));
        }
        let scratch = Scratch {
            dirs: Vec::new(),
            base: None,
            mqueue: None,
        };
        let mut z = Zygote::new(sock, init, cgroup, scratch, enforcement);
        z.supervisor = Some(supervisor);
        return z.serve();
    }
    match hatchery_sys::thread_count() {
        Ok(1) => {}
        Ok(n) => return fail_hello(&sock, format!("zygote launcher has {n} threads, needs 1")),
        Err(e) => return fail_hello(&sock, format!("cannot count threads: {e}")),
    }
    let mut flags = CloneFlags::CLONE_NEWUSER
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWNS;
    // No network unless asked: an empty network namespace, which also keeps the case away
    // from the host's abstract unix sockets.
    if !init.network {
        flags |= CloneFlags::CLONE_NEWNET;
    }
    if let Err(e) = nix::sched::unshare(flags) {
        return fail_hello(
            &sock,
            format!(
                "unshare(user|pid|ipc|mount{}) failed: {e}; user namespaces are unavailable \
                 for this user (check sysctl user.max_user_namespaces, \
                 kernel.unprivileged_userns_clone, and AppArmor's \
                 kernel.apparmor_restrict_unprivileged_userns)",
                if flags.contains(CloneFlags::CLONE_NEWNET) {
                    "|net"
                } else {
                    ""
                }
            ),
        );
    }
    // Mappings beyond our own uid need CAP_SETUID in the parent namespace, which only the
    // supervisor has: it writes our maps and tells us.
    if wire::send(&sock, &Hello::Unshared, &[]).is_err() {
        return 77;
    }
    if wire::recv::<wire::MapsWritten>(&sock, 1024).is_err() {
        return 78;
    }
    match hatchery_sys::fork_single_threaded() {
        Err(e) => fail_hello(&sock, format!("failed to fork the zygote: {e}")),
        Ok(Some(child)) => {
            // The launcher: wait for the zygote, then leave with its status; if the
            // supervisor goes first, take the zygote (and with it every case) down.
            drop(sock);
            drop(cgroup);
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
        Ok(None) => {
            // The zygote, PID 1 of its namespace. It dies with the launcher.
            let _ = hatchery_sys::set_parent_death_signal(libc::SIGKILL);
            if let Err(e) = nix::sys::prctl::set_dumpable(false) {
                return fail_hello(
                    &sock,
                    format!("failed to make the zygote non-dumpable: {e}"),
                );
            }
            let scratch = match init.tier {
                Tier::Lockdown => mounts::setup_lockdown(init.tmp_size_bytes),
                _ => mounts::setup_hardened(init.tmp_size_bytes),
            };
            let scratch = match scratch {
                Ok(s) => s,
                Err(e) => return fail_hello(&sock, e.to_string()),
            };
            enforcement.insert(
                "user_ns".into(),
                LayerState::full(format!(
                    "user namespace; the case runs as uid {} with no capabilities",
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
            let (mnt, net) = if init.tier == Tier::Lockdown {
                (
                    LayerState::full(
                        "read-only root, fresh /proc, minimal /dev, private /tmp and /dev/shm",
                    ),
                    if init.network {
                        LayerState::none("network requested: host network shared")
                    } else {
                        LayerState::full("empty network namespace (no interfaces up)")
                    },
                )
            } else {
                (
                    LayerState::partial(
                        "fresh /proc, private /tmp, /dev/shm, /var/tmp and /run/lock; host filesystem visible",
                    ),
                    if init.network {
                        LayerState::none("network requested: host network shared")
                    } else {
                        LayerState::full("empty network namespace (no interfaces up)")
                    },
                )
            };
            enforcement.insert("mount_ns".into(), mnt);
            enforcement.insert("net_ns".into(), net);
            Zygote::new(sock, init, cgroup, scratch, enforcement).serve()
        }
    }
}

struct Zygote {
    sock: UnixStream,
    init: ZygoteInit,
    cgroup: Option<CgroupFiles>,
    scratch: Scratch,
    enforcement: Enforcement,
    filters: HashMap<SeccompProfile, std::rc::Rc<[BpfProgram]>>,
    /// Read buffer for the case's output pipes, reused across cases.
    out_buf: Vec<u8>,
    stack: Vec<u8>,
    ncpus: u64,
    pid_ns: bool,
    /// Tier none (we are the launcher): the supervisor's pidfd; when it exits, so do we,
    /// after killing the case.
    supervisor: Option<OwnedFd>,
    /// stdin of cases that have none.
    dev_null: Option<OwnedFd>,
    /// The output pipes (read end non-blocking, write end for the case), kept across cases:
    /// once every process of a case is dead and reaped, the pipes are drained to empty.
    /// Replaced after a case that left processes behind.
    pipes: Option<[(OwnedFd, OwnedFd); 2]>,
    /// cgroup event counters after the last case: the baseline of the next one (nothing can
    /// change them in between). `None` after a failure: read again.
    carry: Option<crate::cgroup::Counters>,
    /// Our children's CPU times (user, system µs) after the last case.
    children_cpu: Option<(u64, u64)>,
    /// Listener of the base filter: a forbidden call of a case arrives here (the caller
    /// blocked in it), gets named, and the case is killed.
    listener: Option<OwnedFd>,
}

/// How the main wait loop ended.
struct Ran {
    main: Option<hatchery_sys::Waited>,
    leftovers: u64,
    killed_for: Option<Limit>,
    wall: Duration,
    stdout: Captured,
    stderr: Captured,
    /// The forbidden system call the case was killed for.
    violation: Option<String>,
}

impl Zygote {
    fn new(
        sock: UnixStream,
        init: ZygoteInit,
        cgroup: Option<CgroupFiles>,
        scratch: Scratch,
        enforcement: Enforcement,
    ) -> Zygote {
        let ncpus = (crate::affinity::allowed_cpus().len() as u64).max(1);
        let pid_ns = init.tier != Tier::None;
        Zygote {
            sock,
            init,
            cgroup,
            scratch,
            enforcement,
            filters: HashMap::new(),
            out_buf: vec![0u8; 64 << 10],
            stack: vec![0u8; 256 << 10],
            ncpus,
            pid_ns,
            supervisor: None,
            dev_null: None,
            pipes: None,
            carry: None,
            children_cpu: None,
            listener: None,
        }
    }

    /// What every case inherits, set up once: its own session, default signal dispositions and an empty mask
    /// (Rust ignores SIGPIPE), an empty capability bounding set (we keep our effective
    /// capabilities), and the base seccomp filter. From here on the zygote itself lives under
    /// that filter, so it must not need anything the filter forbids.
    fn enter_base(&mut self) -> Result<(), String> {
        hatchery_sys::reset_signals().map_err(|e| format!("failed to reset signals: {e}"))?;
        // A session of our own, without a controlling terminal: no case can reach the
        // caller's terminal (TIOCSTI, job control). Once here rather than per case: setsid
        // also creates a scheduler autogroup, which is not cheap.
        nix::unistd::setsid().map_err(|e| format!("failed to start a new session: {e}"))?;
        // Unprivileged tier none has no CAP_SETPCAP: its cases keep the bounding set (they
        // cannot use it: no_new_privs, no file capabilities).
        let _ = hatchery_sys::drop_bounding_set();
        // Inherited by every case, set once here: no_new_privs (exec grants nothing: setuid
        // bits and file capabilities are ignored), no ambient capabilities, no core files.
        nix::sys::prctl::set_no_new_privs()
            .map_err(|e| format!("failed to set no_new_privs: {e}"))?;
        hatchery_sys::clear_ambient_capabilities()
            .map_err(|e| format!("failed to clear the ambient capabilities: {e}"))?;
        hatchery_sys::setrlimit(libc::RLIMIT_CORE as c_int, 0, 0)
            .map_err(|e| format!("failed to set RLIMIT_CORE to 0: {e}"))?;
        if let Some(cg) = self.cgroup.as_mut() {
            cg.join_resident()
                .map_err(|e| format!("failed to join the worker's cgroups: {e}"))?;
        }
        if self.init.seccomp_base != SeccompProfile::Off {
            let base =
                crate::seccomp::build(self.init.seccomp_base, self.init.network, self.pid_ns)
                    .map_err(|e| e.to_string())?;
            let Some((main, rest)) = base.split_last() else {
                return Ok(());
            };
            for f in rest {
                seccompiler::apply_filter(f)
                    .map_err(|e| format!("failed to install the base seccomp filter: {e}"))?;
            }
            // The main filter reports forbidden calls to us instead of killing outright, so
            // that the report can name them. Kernels without listeners (before 5.0) kill.
            match hatchery_sys::seccomp_install_with_listener(&crate::seccomp::notifying(main)) {
                Ok(fd) => self.listener = Some(fd),
                Err(Errno::EINVAL) | Err(Errno::ENOSYS) => seccompiler::apply_filter(main)
                    .map_err(|e| format!("failed to install the base seccomp filter: {e}"))?,
                Err(e) => return Err(format!("failed to install the base seccomp filter: {e}")),
            }
        }
        Ok(())
    }

    fn serve(mut self) -> i32 {
        if let Err(error) = self.enter_base() {
            let _ = wire::send(&self.sock, &Hello::Failed { error }, &[]);
            return 79;
        }
        let hello = Hello::Ready {
            enforcement: self.enforcement.clone(),
        };
        if wire::send(&self.sock, &hello, &[]).is_err() {
            return 74;
        }
        loop {
            if let Some(sup) = &self.supervisor {
                let mut fds = [
                    PollFd::new(self.sock.as_fd(), PollFlags::POLLIN),
                    PollFd::new(sup.as_fd(), PollFlags::POLLIN),
                ];
                let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::NONE);
                if fds[1].revents().is_some_and(|r| !r.is_empty()) {
                    return 0;
                }
            }
            let (req, fds) = match wire::recv::<CaseRequest>(&self.sock, MAX_REQUEST_BYTES) {
                Ok(r) => r,
                Err(wire::WireError::Closed) => return 0,
                Err(e) => {
                    // Garbage from the supervisor: say so and stop; the supervisor replaces us.
                    let facts = RawFacts {
                        error: Some(format!("zygote received a bad request: {e}")),
                        ..Default::default()
                    };
                    let _ = wire::send(&self.sock, &CaseReply { facts }, &[]);
                    return 75;
                }
            };
            let facts = self.run_case(&req, fds);
            if wire::send(&self.sock, &CaseReply { facts }, &[]).is_err() {
                return 76;
            }
        }
    }

    /// The filters a case installs on top of what it inherits from the zygote.
    fn filters(&mut self, profile: SeccompProfile) -> Result<std::rc::Rc<[BpfProgram]>, String> {
        if !self.filters.contains_key(&profile) {
            let f = match (self.init.seccomp_base, profile) {
                (SeccompProfile::Off, p) => {
                    crate::seccomp::build(p, self.init.network, self.pid_ns)
                        .map_err(|e| e.to_string())?
                }
                (_, SeccompProfile::Default) => Vec::new(),
                (_, SeccompProfile::Strict) => {
                    vec![crate::seccomp::strict_overlay().map_err(|e| e.to_string())?]
                }
                (base, SeccompProfile::Off) => {
                    return Err(format!(
                        "seccomp profile off was asked of a zygote whose base profile is {base:?}"
                    ))
                }
            };
            self.filters.insert(profile, f.into());
        }
        Ok(self.filters[&profile].clone())
    }

    fn run_case(&mut self, req: &CaseRequest, mut fds: Vec<OwnedFd>) -> RawFacts {
        let want = 1 + req.has_stdin as usize + req.has_cwd_fd as usize;
        if fds.len() != want || (req.has_cwd_fd && self.init.tier != Tier::None) {
            return error_facts(format!(
                "request carried {} descriptors, expected {want}",
                fds.len()
            ));
        }
        let cwd = if req.has_cwd_fd { fds.pop() } else { None };
        let given_stdin = if req.has_stdin { fds.pop() } else { None };
        if given_stdin.is_none() && self.dev_null.is_none() {
            match open(
                "/dev/null",
                OFlag::O_RDONLY | OFlag::O_CLOEXEC,
                Mode::empty(),
            ) {
                Ok(fd) => self.dev_null = Some(hatchery_sys::own_fd(fd)),
                Err(e) => return error_facts(format!("failed to open /dev/null: {e}")),
            }
        }
        let stdin = match (&given_stdin, &self.dev_null) {
            (Some(fd), _) | (None, Some(fd)) => fd.as_raw_fd(),
            (None, None) => unreachable!("opened above"),
        };
        let exec_fd = fds.pop().expect("length checked");
        match self.prepare_and_run(req, &exec_fd, stdin, cwd) {
            Ok(f) => f,
            Err(e) => {
                // Never leave anything behind, even when we failed half-way.
                self.kill_everything();
                self.pipes = None;
                self.carry = None;
                self.children_cpu = None;
                error_facts(e)
            }
        }
    }

    fn prepare_and_run(
        &mut self,
        req: &CaseRequest,
        exec_fd: &OwnedFd,
        stdin: RawFd,
        cwd: Option<OwnedFd>,
    ) -> Result<RawFacts, String> {
        let limits = &req.limits;
        let cwd = match cwd {
            Some(fd) => fd,
            None => open_cwd(&req.cwd)?,
        };
        let argv = to_cstrings(&req.argv, "argument")?;
        let envp = to_cstrings(&req.env, "environment variable")?;
        let rlimits = self.rlimits(limits);
        let filters = self.filters(req.seccomp)?;

        // cgroup: limits for this case, then the baseline of every counter.
        let mut base_mem = 0;
        let mut base = Default::default();
        let mut base_cpu_ns = 0;
        if let Some(cg) = self.cgroup.as_mut() {
            cg.set_limits(limits.memory_bytes, limits.pids)
                .map_err(|e| format!("failed to set cgroup limits: {e}"))?;
            base_mem = cg.reset_peaks();
            base = match self.carry.take() {
                Some(c) => c,
                None => cg.counters(),
            };
            if limits.cpu_us.is_some() {
                base_cpu_ns = cg.cpu_ns().unwrap_or(0);
            }
        }
        let procs: Vec<RawFd> = self
            .cgroup
            .as_ref()
            .map(|c| c.procs.iter().map(|f| f.as_raw_fd()).collect())
            .unwrap_or_default();
        // Children's CPU times only move when a child is reaped: none is between cases.
        let cpu_before = self
            .children_cpu
            .take()
            .unwrap_or_else(hatchery_sys::children_cpu_us);

        let [(out_r, out_w), (err_r, err_w)] = match self.pipes.take() {
            Some(p) => p,
            None => [pipe()?, pipe()?],
        };
        let failure: Cell<Option<(Step, Errno)>> = Cell::new(None);
        let set_groups = !self.init.deny_setgroups;
        let plan = ChildPlan {
            stdin,
            stdout: out_w.as_raw_fd(),
            stderr: err_w.as_raw_fd(),
            cwd: cwd.as_raw_fd(),
            rlimits: &rlimits,
            cgroup_procs: &procs,
            switch_ids: self.init.switch_ids,
            set_groups,
            uid: self.init.case_uid,
            gid: self.init.case_gid,
            filters: &filters,
            exec_fd: exec_fd.as_raw_fd(),
            keep_exec_fd: req.script,
            argv: &argv,
            envp: &envp,
            failure: &failure,
            parent_pid: nix::unistd::getpid().as_raw(),
            parent_death: !self.pid_ns,
        };
        let start = Instant::now();
        let mut run_child = || child::run(&plan);
        let (pid, pidfd) = hatchery_sys::clone_vm_vfork_pidfd(&mut self.stack, &mut run_child)
            .map_err(|e| format!("failed to clone the case process: {e}"))?;
        drop(cwd);
        if let Some((step, errno)) = failure.get() {
            let _ = wait4(pid.as_raw(), 0);
            self.kill_everything();
            return Err(format!("{}: {}", step.describe(), errno.desc()));
        }
        let ran = self.supervise(pid, pidfd, start, limits, [&out_r, &err_r], base_cpu_ns)?;
        // Every writer is dead and the pipes are empty: the next case can use them, unless
        // something was left behind (it was killed, but a fresh pair costs little then).
        if ran.leftovers == 0 {
            self.pipes = Some([(out_r, out_w), (err_r, err_w)]);
        }

        // Everything the case started is dead and reaped (in `supervise`): counters are final.
        let cpu_after = hatchery_sys::children_cpu_us();
        self.children_cpu = Some(cpu_after);
        let mut usage = Usage {
            cpu_user_us: cpu_after.0.saturating_sub(cpu_before.0),
            cpu_sys_us: cpu_after.1.saturating_sub(cpu_before.1),
            wall_us: ran.wall.as_micros() as u64,
            ..Default::default()
        };
        usage.cpu_us = usage.cpu_user_us + usage.cpu_sys_us;
        let mut memory_limit_hit = false;
        let mut pids_limit_hit = false;
        match self.cgroup.as_ref() {
            Some(cg) if cg.has_peak() => {
                usage.peak_memory_bytes = cg.memory_peak().unwrap_or(0).saturating_sub(base_mem);
                usage.memory_source = Some(match cg.version {
                    crate::cgroup::Version::V1 => MemorySource::CgroupV1MaxUsage,
                    crate::cgroup::Version::V2 => MemorySource::CgroupV2Peak,
                });
            }
            _ => {
                usage.peak_memory_bytes = ran.main.map_or(0, |w| w.maxrss_kib * 1024);
                usage.memory_source = Some(MemorySource::Rusage);
            }
        }
        if let Some(cg) = self.cgroup.as_ref() {
            let mut after = base;
            cg.update_counters(
                &mut after,
                limits.memory_bytes.is_some(),
                limits.pids.is_some(),
            );
            usage.oom_kills = after.oom_kills.saturating_sub(base.oom_kills);
            memory_limit_hit = after.mem_hits > base.mem_hits && limits.memory_bytes.is_some();
            pids_limit_hit = after.pids_hits > base.pids_hits;
            usage.peak_pids = cg.pids_peak();
            self.carry = Some(after);
        }
        let mut killed_for = ran.killed_for;
        let termination = ran.main.map(|w| match w.signaled() {
            Some((signal, core_dumped)) => Termination::Signaled {
                signal,
                core_dumped,
            },
            None => Termination::Exited(w.exited().unwrap_or(0)),
        });
        // The rlimit backstop (SIGKILL at the hard CPU limit) also means "CPU limit".
        if killed_for.is_none() {
            if let (Some(cpu), Some(Termination::Signaled { signal, .. })) =
                (limits.cpu_us, termination)
            {
                if usage.cpu_us >= cpu && (signal == libc::SIGKILL || signal == libc::SIGXCPU) {
                    killed_for = Some(Limit::Cpu);
                }
            }
        }
        self.clean_shared_state()?;
        Ok(RawFacts {
            termination,
            killed_for,
            usage,
            memory_limit_hit,
            pids_limit_hit,
            leftover_processes: ran.leftovers,
            stdout: ran.stdout,
            stderr: ran.stderr,
            error: None,
            seccomp_violation: ran.violation,
        })
    }

    fn rlimits(&self, l: &Limits) -> Vec<(c_int, u64, u64)> {
        let mut v = Vec::new();
        let have_cg = self.cgroup.is_some();
        if let Some(cpu) = l.cpu_us {
            // With a cgroup the zygote enforces CPU time precisely; the rlimit is a backstop a
            // second later. Without one, the rlimit is the enforcement (whole seconds).
            let secs = cpu.div_ceil(1_000_000).max(1);
            let soft = if have_cg { secs + 1 } else { secs };
            v.push((libc::RLIMIT_CPU as c_int, soft, soft + 1));
        }
        if let Some(f) = l.file_size_bytes {
            v.push((libc::RLIMIT_FSIZE as c_int, f, f));
        }
        if let Some(s) = l.stack_bytes {
            v.push((libc::RLIMIT_STACK as c_int, s, s));
        }
        if let Some(n) = l.open_files {
            v.push((libc::RLIMIT_NOFILE as c_int, n, n));
        }
        if !have_cg {
            if let Some(m) = l.memory_bytes {
                v.push((libc::RLIMIT_AS as c_int, m, m));
            }
            if let Some(p) = l.pids {
                // In a user namespace the case uid is ours alone; the unprivileged zygote
                // shares it, so count it too.
                let extra = (self.init.zygote_ns_id == self.init.case_uid) as u64;
                v.push((libc::RLIMIT_NPROC as c_int, p + extra, p + extra));
            }
        }
        v
    }

    /// Waits for the main process while draining output and enforcing wall, CPU and output
    /// limits.
    fn supervise(
        &mut self,
        pid: Pid,
        pidfd: OwnedFd,
        start: Instant,
        limits: &Limits,
        [out_r, err_r]: [&OwnedFd; 2],
        cpu_base_ns: u64,
    ) -> Result<Ran, String> {
        let cap = limits.output_bytes.unwrap_or(DEFAULT_CAPTURE_BYTES);
        let mut out = Captured::default();
        let mut err = Captured::default();
        let mut open = [true, true];
        let mut killed_for = None;
        let mut violation = None;
        let wall_deadline = limits.wall_us.map(|w| start + Duration::from_micros(w));
        let cpu_limit_ns = limits.cpu_us.map(|c| c * 1000);
        let cpu_watch = cpu_limit_ns.is_some() && self.cgroup.is_some();
        let mut next_cpu_check = start;
        let mut buf = std::mem::take(&mut self.out_buf);
        if buf.is_empty() {
            buf = vec![0u8; 64 << 10];
        }
        let exited_at;
        loop {
            let now = Instant::now();
            // CPU: the next check is when the case could at the earliest reach its limit,
            // running on every CPU we have; at least every 1 ms near the end.
            if cpu_watch && killed_for.is_none() && now >= next_cpu_check {
                let used = self
                    .cgroup
                    .as_ref()
                    .and_then(|c| c.cpu_ns())
                    .unwrap_or(0)
                    .saturating_sub(cpu_base_ns);
                let limit = cpu_limit_ns.expect("cpu_watch");
                if used >= limit {
                    killed_for = Some(Limit::Cpu);
                    self.kill_case(pid);
                } else {
                    let wait = ((limit - used) / self.ncpus).clamp(1_000_000, 500_000_000);
                    next_cpu_check = now + Duration::from_nanos(wait);
                }
            }
            if let Some(d) = wall_deadline {
                if killed_for.is_none() && now >= d {
                    killed_for = Some(Limit::Wall);
                    self.kill_case(pid);
                }
            }
            let mut timeout: Option<Duration> = None;
            if killed_for.is_none() {
                if let Some(d) = wall_deadline {
                    timeout = Some(d.saturating_duration_since(now));
                }
                if cpu_watch {
                    let t = next_cpu_check.saturating_duration_since(now);
                    timeout = Some(timeout.map_or(t, |x| x.min(t)));
                }
            }
            let mut pfds = vec![PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
            let streams: [(&OwnedFd, usize); 2] = [(out_r, 0), (err_r, 1)];
            for (fd, i) in streams {
                if open[i] {
                    pfds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
                }
            }
            let sup_index = self.supervisor.as_ref().map(|sup| {
                pfds.push(PollFd::new(sup.as_fd(), PollFlags::POLLIN));
                pfds.len() - 1
            });
            let notice_index = self.listener.as_ref().map(|l| {
                pfds.push(PollFd::new(l.as_fd(), PollFlags::POLLIN));
                pfds.len() - 1
            });
            let ts = timeout.map(nix::sys::time::TimeSpec::from_duration);
            match nix::poll::ppoll(&mut pfds, ts, None) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(e) => return Err(format!("ppoll failed: {e}")),
            }
            let ready: Vec<bool> = pfds
                .iter()
                .map(|p| p.revents().is_some_and(|r| !r.is_empty()))
                .collect();
            drop(pfds);
            let mut k = 1;
            for (fd, i) in streams {
                if !open[i] {
                    continue;
                }
                if ready[k] {
                    let other = out_total_other(i, &out, &err);
                    let c = if i == 0 { &mut out } else { &mut err };
                    match read_into(fd.as_fd(), &mut buf, c, cap, &other) {
                        ReadState::Open => {}
                        ReadState::Eof => open[i] = false,
                    }
                    if limits.output_bytes.is_some()
                        && out.bytes + err.bytes > cap
                        && killed_for.is_none()
                    {
                        killed_for = Some(Limit::Output);
                        self.kill_case(pid);
                    }
                }
                k += 1;
            }
            if notice_index.is_some_and(|i| ready[i]) {
                if let Some(l) = &self.listener {
                    // Gone already (killed meanwhile): nothing to name.
                    if let Ok(n) = hatchery_sys::seccomp_notice_recv(l.as_fd()) {
                        if violation.is_none() {
                            violation = Some(crate::seccomp::describe_call(n.nr, n.arch));
                        }
                        self.kill_case(pid);
                    }
                }
            }
            if sup_index.is_some_and(|i| ready[i]) {
                // The supervisor is gone: nobody will read the result.
                self.kill_case(pid);
                self.kill_everything();
                std::process::exit(0);
            }
            if ready[0] {
                exited_at = Instant::now();
                break;
            }
        }
        let main =
            wait4(pid.as_raw(), 0).map_err(|e| format!("wait4 on the case process failed: {e}"))?;
        // Everything the case left behind dies now: nobody writes any more, and what is still
        // in the pipes is all there will be (we hold the write ends: no EOF, read to empty).
        let leftovers = self.kill_everything();
        for (fd, i) in [(out_r, 0), (err_r, 1)] {
            let other = if i == 0 {
                err.data.len() as u64
            } else {
                out.data.len() as u64
            };
            let c = if i == 0 { &mut out } else { &mut err };
            let _ = read_into(fd.as_fd(), &mut buf, c, cap, &other);
        }
        if limits.output_bytes.is_some() && out.bytes + err.bytes > cap && killed_for.is_none() {
            killed_for = Some(Limit::Output);
        }
        self.out_buf = buf;
        Ok(Ran {
            main,
            leftovers,
            killed_for,
            wall: exited_at - start,
            stdout: out,
            stderr: err,
            violation,
        })
    }

    /// Sends SIGKILL to every process of the case (not reaping).
    fn kill_case(&self, main: Pid) {
        if self.pid_ns {
            // PID 1 of the namespace: -1 reaches every other process in it.
            let _ = kill(Pid::from_raw(-1), Signal::SIGKILL);
        } else {
            let _ = kill(main, Signal::SIGKILL);
            let tree: std::collections::BTreeSet<i32> = self.tier_none_pids().into_iter().collect();
            for p in &tree {
                signal_if_ours(*p, Signal::SIGKILL, &tree);
            }
        }
    }

    /// Processes of the case in tier `none`: our children (orphans reparent to us, the
    /// subreaper) and everything in the case's cgroup.
    fn tier_none_pids(&self) -> Vec<i32> {
        let mut pids = self.cgroup.as_ref().map(|c| c.pids()).unwrap_or_default();
        let me = std::process::id();
        if let Ok(s) = std::fs::read_to_string(format!("/proc/{me}/task/{me}/children")) {
            pids.extend(s.split_whitespace().filter_map(|p| p.parse::<i32>().ok()));
        }
        pids.retain(|p| *p > 0 && *p as u32 != me);
        pids
    }

    /// Reaps every child that has exited, blocking until none is left (pid namespace) or
    /// none is ready (tier `none`). Returns how many were reaped.
    fn reap_all(&self) -> u64 {
        let mut n = 0;
        let flags = if self.pid_ns { 0 } else { libc::WNOHANG };
        while let Ok(Some(_)) = wait4(-1, flags) {
            n += 1;
        }
        n
    }

    /// Kills and reaps everything the case left; returns how many processes that was.
    fn kill_everything(&self) -> u64 {
        if self.pid_ns {
            // Every process of the namespace descends from us: no child at all means nothing
            // is left (the usual case), without signalling the whole namespace.
            let mut n = 0;
            loop {
                match wait4(-1, libc::WNOHANG) {
                    Ok(Some(_)) => n += 1,
                    Err(_) => return n,
                    Ok(None) => break,
                }
            }
            let _ = kill(Pid::from_raw(-1), Signal::SIGKILL);
            return n + self.reap_all();
        }
        // Tier none. Fast path: no child at all (ECHILD) means nothing is left, since every
        // descendant of a case is our child or becomes one (we are the subreaper) before its
        // parent can be reaped.
        let mut n = 0;
        loop {
            match wait4(-1, libc::WNOHANG) {
                Ok(Some(_)) => n += 1,
                Err(_) => return n,
                Ok(None) => break,
            }
        }
        // Something is still running. Without a PID namespace a fork bomb can outrun a
        // kill loop, so first stop the whole tree (stopped processes cannot fork) until a scan
        // finds nothing new, then kill it all, then reap until no child is left.
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut stopped = std::collections::BTreeSet::new();
        loop {
            let mut tree = descendants_of_me();
            tree.extend(self.cgroup.as_ref().map(|c| c.pids()).unwrap_or_default());
            let fresh: Vec<i32> = tree.into_iter().filter(|p| stopped.insert(*p)).collect();
            if fresh.is_empty() || Instant::now() > deadline {
                break;
            }
            for p in fresh {
                signal_if_ours(p, Signal::SIGSTOP, &stopped);
            }
        }
        for p in &stopped {
            signal_if_ours(*p, Signal::SIGKILL, &stopped);
        }
        loop {
            match wait4(-1, libc::WNOHANG) {
                Ok(Some(_)) => n += 1,
                Err(_) => break,
                Ok(None) => {
                    let tree: std::collections::BTreeSet<i32> =
                        descendants_of_me().into_iter().collect();
                    for p in &tree {
                        signal_if_ours(*p, Signal::SIGKILL, &tree);
                    }
                    if Instant::now() > deadline {
                        break;
                    }
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
        }
        n
    }

    /// SysV IPC objects and scratch files of the case must not reach the next one.
    fn clean_shared_state(&mut self) -> Result<(), String> {
        if self.pid_ns {
            let (shm, msg, sem) = hatchery_sys::sysv_ipc_counts();
            if shm + msg + sem > 0 {
                remove_sysv_objects()?;
            }
        }
        self.scratch
            .reset()
            .map_err(|e| format!("failed to reset scratch space: {e}"))?;
        self.scratch
            .clear_mqueues()
            .map_err(|e| format!("failed to remove message queues: {e}"))?;
        Ok(())
    }
}

/// Opens the working directory by path inside the sandbox's own root.
fn open_cwd(path: &[u8]) -> Result<OwnedFd, String> {
    let shown = String::from_utf8_lossy(path);
    let c = CString::new(path.to_vec()).map_err(|_| "NUL byte in the working directory")?;
    open(
        c.as_c_str(),
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map(hatchery_sys::own_fd)
    .map_err(|e| {
        let hint = if path.starts_with(b"/tmp/") || path == b"/tmp" {
            " (the sandbox has its own empty /tmp; use a working directory outside /tmp)"
        } else {
            ""
        };
        format!("failed to open the working directory {shown} inside the sandbox: {e}{hint}")
    })
}

/// Signals `pid` only if it is still one of ours. A pid read from /proc or cgroup.procs may
/// have been reaped (by a case process, its parent) and reused by an unrelated process since:
/// the pidfd pins the process, and its parent is checked after pinning — our child, or a
/// child of a process of the case's tree.
fn signal_if_ours(pid: i32, sig: Signal, tree: &std::collections::BTreeSet<i32>) {
    let Ok(fd) = hatchery_sys::pidfd_open(Pid::from_raw(pid)) else {
        return;
    };
    let me = std::process::id() as i32;
    let ppid = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit_once(')')
                .and_then(|(_, r)| r.split_whitespace().nth(1))
                .and_then(|p| p.parse::<i32>().ok())
        });
    if let Some(pp) = ppid {
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
        let name = e.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        if let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) {
            // pid (comm) state ppid ...: comm may hold spaces and parentheses.
            if let Some(ppid) = stat
                .rsplit_once(')')
                .and_then(|(_, r)| r.split_whitespace().nth(1))
                .and_then(|p| p.parse::<i32>().ok())
            {
                parent_of.push((pid, ppid));
            }
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

fn remove_sysv_objects() -> Result<(), String> {
    use hatchery_sys::IpcKind;
    for (file, kind, col) in [
        ("/proc/sysvipc/shm", IpcKind::Shm, 1),
        ("/proc/sysvipc/msg", IpcKind::Msg, 1),
        ("/proc/sysvipc/sem", IpcKind::Sem, 1),
    ] {
        let s = std::fs::read_to_string(file).map_err(|e| format!("failed to read {file}: {e}"))?;
        for line in s.lines().skip(1) {
            if let Some(id) = line
                .split_whitespace()
                .nth(col)
                .and_then(|v| v.parse().ok())
            {
                hatchery_sys::sysv_ipc_remove(kind, id)
                    .map_err(|e| format!("failed to remove SysV object {id}: {e}"))?;
            }
        }
    }
    Ok(())
}

enum ReadState {
    Open,
    Eof,
}

fn out_total_other(i: usize, out: &Captured, err: &Captured) -> u64 {
    if i == 0 {
        err.data.len() as u64
    } else {
        out.data.len() as u64
    }
}

/// Reads what is available from a non-blocking pipe into `c`, keeping at most `cap` bytes
/// across both streams (`other_kept` is what the other stream already kept).
fn read_into(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
    c: &mut Captured,
    cap: u64,
    other_kept: &u64,
) -> ReadState {
    loop {
        match nix::unistd::read(fd.as_raw_fd(), buf) {
            Ok(0) => return ReadState::Eof,
            Ok(n) => {
                c.bytes += n as u64;
                let room = cap.saturating_sub(*other_kept + c.data.len() as u64) as usize;
                let keep = n.min(room);
                c.data.extend_from_slice(&buf[..keep]);
                if keep < n {
                    c.truncated = true;
                }
                if n < buf.len() {
                    return ReadState::Open;
                }
            }
            Err(Errno::EINTR) => continue,
            Err(Errno::EAGAIN) => return ReadState::Open,
            Err(_) => return ReadState::Eof,
        }
    }
}

fn pipe() -> Result<(OwnedFd, OwnedFd), String> {
    let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| format!("pipe2 failed: {e}"))?;
    nix::fcntl::fcntl(
        r.as_raw_fd(),
        nix::fcntl::FcntlArg::F_SETFL(OFlag::O_NONBLOCK),
    )
    .map_err(|e| format!("fcntl failed: {e}"))?;
    Ok((r, w))
}

fn to_cstrings(items: &[Vec<u8>], what: &str) -> Result<CStrArray, String> {
    let v = items
        .iter()
        .map(|a| CString::new(a.clone()).map_err(|_| format!("NUL byte in an {what}")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(CStrArray::new(v))
}

fn error_facts(e: String) -> RawFacts {
    RawFacts {
        error: Some(e),
        ..Default::default()
    }
}

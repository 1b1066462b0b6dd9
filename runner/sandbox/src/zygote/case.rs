//! One case: clone the case child into the recipe (`child.rs`), connect its stdio, supervise
//! its limits while draining its output, and collect the facts.

use std::cell::Cell;
use std::ffi::{c_int, CString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use hatchery_report::{Captured, Limit, Limits, MemorySource, RawFacts, Termination, Usage};
use hatchery_sys::{wait4, CStrArray};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags};
use nix::sys::stat::Mode;
use nix::unistd::Pid;

use super::error::ZygoteError;
use super::{Zygote, DEFAULT_CAPTURE_BYTES};
use crate::child::{self, ChildPlan, Step};
use crate::policy::Tier;
use crate::wire::{CaseReply, CaseRequest};

/// What a case gets beyond its limits: time for what it leaves behind to end, and a grace
/// period between SIGTERM and SIGKILL at the wall limit.
struct After {
    leak_wait: Option<Duration>,
    kill_grace: Option<Duration>,
    /// Inode numbers of the case's stdout and stderr pipes (for the leak wait).
    pipes: [u64; 2],
}

/// How the main wait loop ended.
struct Ran {
    main: Option<hatchery_sys::Waited>,
    leftovers: u64,
    killed_for: Option<Limit>,
    wall: Duration,
    /// When the case ended: its main process's exit as we saw it, or the moment a limit
    /// killed it.
    ended: Instant,
    stdout: Captured,
    stderr: Captured,
    /// The forbidden system call the case was killed for.
    violation: Option<String>,
    /// The pipes could not be drained to empty.
    drain_failed: Option<Errno>,
}

impl Zygote {
    pub(super) fn run_case(&mut self, req: &CaseRequest, mut fds: Vec<OwnedFd>) -> CaseReply {
        let want = 1
            + req.has_stdin as usize
            + req.has_cwd_fd as usize
            + 2 * req.has_spill as usize
            + 2 * req.has_live as usize;
        if fds.len() != want || (req.has_cwd_fd && self.init.tier != Tier::None) {
            return failed(ZygoteError::BadRequest {
                detail: format!("request carried {} descriptors, expected {want}", fds.len()),
            });
        }
        let live = match req.has_live {
            true => {
                let err = fds.pop().expect("length checked");
                let out = fds.pop().expect("length checked");
                Some([out, err])
            }
            false => None,
        };
        let spill = match req.has_spill {
            true => {
                let err = fds.pop().expect("length checked");
                let out = fds.pop().expect("length checked");
                Some([out, err])
            }
            false => None,
        };
        let cwd = if req.has_cwd_fd { fds.pop() } else { None };
        let given_stdin = if req.has_stdin { fds.pop() } else { None };
        if given_stdin.is_none() && self.dev_null.is_none() {
            match hatchery_sys::open_owned(
                "/dev/null",
                OFlag::O_RDONLY | OFlag::O_CLOEXEC,
                Mode::empty(),
            ) {
                Ok(fd) => self.dev_null = Some(fd),
                Err(e) => return failed(ZygoteError::OpenDevNull(e)),
            }
        }
        let stdin = match (&given_stdin, &self.dev_null) {
            (Some(fd), _) | (None, Some(fd)) => fd.as_raw_fd(),
            (None, None) => unreachable!("opened above"),
        };
        let exec_fd = fds.pop().expect("length checked");
        match self.prepare_and_run(req, &exec_fd, stdin, cwd, [spill.as_ref(), live.as_ref()]) {
            Ok(facts) => CaseReply {
                facts,
                ..Default::default()
            },
            Err(e) => {
                // Never leave anything behind, even when we failed half-way.
                self.forget_case_state();
                if let Err(c) = self.clean_shared_state() {
                    self.retire(c);
                }
                failed(e)
            }
        }
    }

    /// After a case that did not end normally: kill what is left, and read every baseline
    /// afresh for the next case.
    fn forget_case_state(&mut self) {
        self.kill_everything();
        self.pipes = None;
        self.carry = None;
        self.children_cpu = None;
    }

    fn prepare_and_run(
        &mut self,
        req: &CaseRequest,
        exec_fd: &OwnedFd,
        stdin: RawFd,
        cwd: Option<OwnedFd>,
        [spill, live]: [Option<&[OwnedFd; 2]>; 2],
    ) -> Result<RawFacts, ZygoteError> {
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
                .map_err(ZygoteError::CgroupWrite)?;
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
            .map(|c| c.join_fds().iter().map(|f| f.as_raw_fd()).collect())
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
        let script_path = match req.script {
            true => script_path(&req.program, exec_fd.as_fd()),
            false => None,
        };
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
            script_path: script_path.as_ref().map(|(p, id)| (p.as_c_str(), *id)),
            argv: &argv,
            envp: &envp,
            failure: &failure,
            parent_pid: nix::unistd::getpid().as_raw(),
            parent_death: !self.pid_ns,
        };
        let start = Instant::now();
        let mut recipe = child::recipe(&plan);
        let (pid, pidfd) = match &self.cloner {
            Some(t) => t.clone_vm_vfork_pidfd(&mut self.stack, &mut recipe),
            None => hatchery_sys::clone_vm_vfork_pidfd(&mut self.stack, &mut recipe),
        }
        .map_err(ZygoteError::Clone)?;
        drop(cwd);
        if let Some((step, errno)) = failure.get() {
            let _ = wait4(pid.as_raw(), 0);
            let wall = start.elapsed();
            self.forget_case_state();
            // The kernel refused the program itself: the program's outcome (like
            // posix_spawn's 127), not ours.
            if step == Step::Exec && matches!(errno, Errno::ENOEXEC | Errno::EACCES | Errno::ENOENT)
            {
                return Ok(RawFacts {
                    termination: Some(Termination::Exited(127)),
                    usage: Usage {
                        wall_us: wall.as_micros() as u64,
                        ..Default::default()
                    },
                    exec_failed: Some(exec_failure(errno, exec_fd.as_fd(), req.script)),
                    ..Default::default()
                });
            }
            return Err(ZygoteError::ChildStep { step, errno });
        }
        let capture = Capture {
            pipes: [&out_r, &err_r],
            keep: req
                .capture_bytes
                .or(limits.output_bytes)
                .unwrap_or(DEFAULT_CAPTURE_BYTES),
            spill: spill.map(|[o, e]| [o.as_fd(), e.as_fd()]),
            live: live.map(|[o, e]| [o.as_fd(), e.as_fd()]),
        };
        let inode = |fd: &OwnedFd| nix::sys::stat::fstat(fd.as_raw_fd()).map_or(0, |st| st.st_ino);
        let after = After {
            leak_wait: req.leak_wait_us.map(Duration::from_micros),
            kill_grace: req.kill_grace_us.map(Duration::from_micros),
            pipes: [inode(&out_w), inode(&err_w)],
        };
        let ran = self.supervise(pid, pidfd, start, limits, capture, base_cpu_ns, after)?;
        // Every writer is dead and the pipes are empty: the next case can use them, unless
        // something was left behind (it was killed, but a fresh pair costs little then).
        if ran.leftovers == 0 && ran.drain_failed.is_none() {
            self.pipes = Some([(out_r, out_w), (err_r, err_w)]);
        }
        if let Some(e) = ran.drain_failed {
            // What the case wrote last may be missing, and the pipes are replaced; the
            // zygote retires, since a read error here means something is badly wrong.
            self.retire(ZygoteError::DrainPipes(e));
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
        // The case ran: whatever cleaning up after it does, its facts are what they are. A
        // failure here only means this zygote must not serve another case.
        if let Err(e) = self.clean_shared_state() {
            self.retire(e);
        }
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
            exec_failed: None,
            ended_ns: monotonic_ns(ran.ended),
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
    /// limits (the wall limit with a grace period when asked); then gives what it left behind
    /// `leak_wait` to end.
    #[allow(clippy::too_many_arguments)]
    fn supervise(
        &mut self,
        pid: Pid,
        pidfd: OwnedFd,
        start: Instant,
        limits: &Limits,
        mut capture: Capture<'_>,
        cpu_base_ns: u64,
        After {
            leak_wait,
            kill_grace,
            pipes,
        }: After,
    ) -> Result<Ran, ZygoteError> {
        let [out_r, err_r] = capture.pipes;
        // The output limit is a kill switch only when it was asked for.
        let over_limit =
            |o: &Captured, e: &Captured| limits.output_bytes.is_some_and(|l| o.bytes + e.bytes > l);
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
        // Processes other than the main one that were alive when a limit or the policy
        // ended the case (see `kill_case`).
        let mut alive_at_kill = 0u64;
        // When a limit ended the case: its end, for ordering it against a partner's.
        let mut killed_at: Option<Instant> = None;
        // The wall limit's SIGKILL after SIGTERM and a grace period.
        let mut kill_at: Option<Instant> = None;
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
                    killed_at.get_or_insert_with(Instant::now);
                    alive_at_kill = alive_at_kill.max(self.kill_case(pid));
                } else {
                    let wait = ((limit - used) / self.ncpus).clamp(1_000_000, 500_000_000);
                    next_cpu_check = now + Duration::from_nanos(wait);
                }
            }
            if let Some(d) = wall_deadline {
                if killed_for.is_none() && now >= d {
                    killed_for = Some(Limit::Wall);
                    killed_at.get_or_insert_with(Instant::now);
                    match kill_grace.filter(|g| !g.is_zero()) {
                        // SIGTERM now, SIGKILL when the grace period is over.
                        Some(g) => {
                            self.term_case(pid);
                            kill_at = Some(now + g);
                        }
                        None => alive_at_kill = alive_at_kill.max(self.kill_case(pid)),
                    }
                }
            }
            if kill_at.is_some_and(|k| now >= k) {
                kill_at = None;
                alive_at_kill = alive_at_kill.max(self.kill_case(pid));
            }
            let mut timeout: Option<Duration> = kill_at.map(|k| k.saturating_duration_since(now));
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
                Err(e) => {
                    self.out_buf = buf;
                    return Err(ZygoteError::Poll(e));
                }
            }
            let ready = fired(&pfds);
            drop(pfds);
            read_ready(
                &ready[1..],
                &mut open,
                &mut buf,
                [&mut out, &mut err],
                &mut capture,
            );
            if over_limit(&out, &err) && killed_for.is_none() {
                killed_for = Some(Limit::Output);
                killed_at.get_or_insert_with(Instant::now);
                alive_at_kill = alive_at_kill.max(self.kill_case(pid));
            }
            if notice_index.is_some_and(|i| ready[i]) {
                if let Some(l) = &self.listener {
                    // Gone already (killed meanwhile): nothing to name.
                    if let Ok(n) = hatchery_sys::seccomp_notice_recv(l.as_fd()) {
                        if violation.is_none() {
                            violation = Some(crate::seccomp::describe_call(n.nr, n.arch));
                        }
                        killed_at.get_or_insert_with(Instant::now);
                        alive_at_kill = alive_at_kill.max(self.kill_case(pid));
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
        let main = match wait4(pid.as_raw(), 0) {
            Ok(m) => m,
            Err(e) => {
                self.out_buf = buf;
                return Err(ZygoteError::Wait(e));
            }
        };
        // nextest's leak-timeout: what the main process left may end, or close the case's
        // stdout and stderr, within `leak_wait` (a child finishing its last write); its output
        // is still collected. We hold the pipes' write ends, so their EOF cannot tell: the
        // processes' descriptors do. Processes that hold neither are no leak (nextest's
        // rule): they are killed like any other, and not counted.
        let mut output_closed = false;
        if let (Some(w), None) = (leak_wait.filter(|w| !w.is_zero()), killed_for) {
            let until = Instant::now() + w;
            while !self.reap_exited() {
                if !self.output_held(pipes) {
                    output_closed = true;
                    break;
                }
                let now = Instant::now();
                if now >= until {
                    break;
                }
                // No notice of an orphan's exit reaches us here: look again every few ms.
                let nap = (until - now).min(Duration::from_millis(5));
                let mut pfds: Vec<PollFd> = [(out_r, 0), (err_r, 1)]
                    .into_iter()
                    .filter(|(_, i)| open[*i])
                    .map(|(fd, _)| PollFd::new(fd.as_fd(), PollFlags::POLLIN))
                    .collect();
                let ts = nix::sys::time::TimeSpec::from_duration(nap);
                if pfds.is_empty() {
                    std::thread::sleep(nap);
                    continue;
                }
                let _ = nix::poll::ppoll(&mut pfds, Some(ts), None);
                let ready = fired(&pfds);
                drop(pfds);
                read_ready(
                    &ready,
                    &mut open,
                    &mut buf,
                    [&mut out, &mut err],
                    &mut capture,
                );
                if over_limit(&out, &err) {
                    killed_for = Some(Limit::Output);
                    break;
                }
            }
        }
        // Everything the case left behind dies now: nobody writes any more, and what is still
        // in the pipes is all there will be (we hold the write ends: no EOF, read to empty).
        let mut leftovers = self.kill_everything().max(alive_at_kill);
        if output_closed {
            leftovers = 0;
        }
        let mut drain_failed = None;
        for (fd, i) in [(out_r, 0), (err_r, 1)] {
            let other = out_total_other(i, &out, &err);
            let c = if i == 0 { &mut out } else { &mut err };
            if let ReadState::Failed(e) =
                read_into(fd.as_fd(), &mut buf, c, &mut capture, i, &other)
            {
                drain_failed = Some(e);
            }
        }
        if over_limit(&out, &err) && killed_for.is_none() {
            killed_for = Some(Limit::Output);
        }
        self.out_buf = buf;
        Ok(Ran {
            main,
            leftovers,
            killed_for,
            wall: exited_at - start,
            ended: killed_at.unwrap_or(exited_at),
            stdout: out,
            stderr: err,
            violation,
            drain_failed,
        })
    }
}

fn failed(e: ZygoteError) -> CaseReply {
    CaseReply {
        failure: Some(e.to_wire()),
        ..Default::default()
    }
}

/// Why the kernel refused to execute the program, for the report: the errno, and for a
/// missing `#!` interpreter, its path (read from the script's first line).
fn exec_failure(errno: Errno, exec_fd: BorrowedFd<'_>, script: bool) -> String {
    let text = crate::wire::errno_text(errno as i32);
    let interpreter = || {
        let mut buf = [0u8; 256];
        let n = hatchery_sys::pread0(exec_fd, &mut buf).ok()?;
        let line = buf[..n].strip_prefix(b"#!")?;
        let line = line.split(|b| *b == b'\n').next()?;
        let path = line
            .split(|b| *b == b' ' || *b == b'\t')
            .find(|w| !w.is_empty())?;
        Some(String::from_utf8_lossy(path).into_owned())
    };
    let why = match (errno, script) {
        (Errno::ENOENT, true) => match interpreter() {
            Some(i) => format!("the #! interpreter {i} does not exist"),
            None => "the #! interpreter does not exist".to_owned(),
        },
        (Errno::ENOENT, false) => {
            "the program's ELF interpreter (dynamic loader) does not exist".to_owned()
        }
        (Errno::EACCES, true) => match interpreter() {
            Some(i) => format!("the #! interpreter {i} may not be executed"),
            None => "the #! interpreter may not be executed".to_owned(),
        },
        (Errno::EACCES, false) => "the program may not be executed here".to_owned(),
        _ => "the kernel does not recognise the program's format".to_owned(),
    };
    crate::wire::clip(format!("{text}; {why}"))
}

/// A script's path (when it has one) and the identity of its pinned descriptor.
fn script_path(program: &[u8], exec_fd: BorrowedFd<'_>) -> Option<(CString, (u64, u64))> {
    let path = CString::new(program.to_vec())
        .ok()
        .filter(|p| !p.is_empty())?;
    let st = nix::sys::stat::fstat(exec_fd.as_raw_fd()).ok()?;
    Some((path, (st.st_dev, st.st_ino)))
}

/// Opens the working directory by path inside the sandbox's own root.
fn open_cwd(path: &[u8]) -> Result<OwnedFd, ZygoteError> {
    let shown = crate::wire::clip(String::from_utf8_lossy(path).into_owned());
    let c = CString::new(path.to_vec()).map_err(|_| ZygoteError::BadRequest {
        detail: "NUL byte in the working directory".into(),
    })?;
    hatchery_sys::open_owned(
        c.as_c_str(),
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|source| {
        let hint = if crate::policy::below_scratch(std::path::Path::new(
            <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(path),
        )) {
            "; the sandbox has private scratch there and shows only the directories its \
             runner named (View::expose)"
        } else {
            ""
        };
        ZygoteError::OpenCwd {
            path: shown,
            hint,
            source,
        }
    })
}

enum ReadState {
    Open,
    Eof,
    /// A read error other than EAGAIN/EINTR.
    Failed(Errno),
}

/// Reads the case's streams that poll found ready: `ready` has one entry per stream still
/// `open` (stdout first); a stream at its end is no longer open.
fn read_ready(
    ready: &[bool],
    open: &mut [bool; 2],
    buf: &mut [u8],
    [out, err]: [&mut Captured; 2],
    capture: &mut Capture<'_>,
) {
    let mut k = 0;
    for (i, is_open) in open.iter_mut().enumerate() {
        if !*is_open {
            continue;
        }
        if ready[k] {
            let other = out_total_other(i, out, err);
            let c = if i == 0 { &mut *out } else { &mut *err };
            let fd = capture.pipes[i];
            match read_into(fd.as_fd(), buf, c, capture, i, &other) {
                ReadState::Open => {}
                ReadState::Eof | ReadState::Failed(_) => *is_open = false,
            }
        }
        k += 1;
    }
}

/// Which descriptors of a poll had an event.
fn fired(pfds: &[PollFd]) -> Vec<bool> {
    pfds.iter()
        .map(|p| p.revents().is_some_and(|r| !r.is_empty()))
        .collect()
}

fn out_total_other(i: usize, out: &Captured, err: &Captured) -> u64 {
    if i == 0 {
        err.data.len() as u64
    } else {
        out.data.len() as u64
    }
}

/// Where a case's output goes: at most `keep` bytes of both streams together into memory, the
/// rest of stream `i` appended to `spill[i]` (when the request brought spill files).
struct Capture<'a> {
    /// Read ends of the case's stdout and stderr pipes.
    pipes: [&'a OwnedFd; 2],
    keep: u64,
    spill: Option<[BorrowedFd<'a>; 2]>,
    /// Where each stream is copied as it arrives (live output), until a write fails.
    live: Option<[BorrowedFd<'a>; 2]>,
}

/// Reads what is available from a non-blocking pipe into `c` (stream `i`), keeping at most
/// `capture.keep` bytes across both streams (`other_kept` is what the other stream already
/// kept) and spilling the rest.
fn read_into(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
    c: &mut Captured,
    capture: &mut Capture<'_>,
    i: usize,
    other_kept: &u64,
) -> ReadState {
    loop {
        match nix::unistd::read(fd.as_raw_fd(), buf) {
            Ok(0) => return ReadState::Eof,
            Ok(n) => {
                c.bytes += n as u64;
                if let Some(live) = capture.live {
                    // The runner went away or closed its end: stop copying, keep capturing.
                    if write_all(live[i], &buf[..n]).is_err() {
                        capture.live = None;
                    }
                }
                let room = capture
                    .keep
                    .saturating_sub(*other_kept + c.data.len() as u64)
                    as usize;
                let keep = n.min(room);
                c.data.extend_from_slice(&buf[..keep]);
                if keep < n {
                    c.truncated = true;
                    if let Some(spill) = capture.spill {
                        // A full disk ends the spilling, never the case: the supervisor sees
                        // from the file's size how much of the stream it holds.
                        if write_all(spill[i], &buf[keep..n]).is_err() {
                            capture.spill = None;
                        }
                    }
                }
                if n < buf.len() {
                    return ReadState::Open;
                }
            }
            Err(Errno::EINTR) => continue,
            Err(Errno::EAGAIN) => return ReadState::Open,
            Err(e) => return ReadState::Failed(e),
        }
    }
}

/// Writes all of `data` to a (blocking, `O_APPEND`) file.
fn write_all(fd: BorrowedFd<'_>, mut data: &[u8]) -> Result<(), Errno> {
    while !data.is_empty() {
        match nix::unistd::write(fd, data) {
            Ok(0) => return Err(Errno::ENOSPC),
            Ok(n) => data = &data[n..],
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn pipe() -> Result<(OwnedFd, OwnedFd), ZygoteError> {
    let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(ZygoteError::Pipe)?;
    nix::fcntl::fcntl(
        r.as_raw_fd(),
        nix::fcntl::FcntlArg::F_SETFL(OFlag::O_NONBLOCK),
    )
    .map_err(ZygoteError::Pipe)?;
    Ok((r, w))
}

fn to_cstrings(items: &[Vec<u8>], what: &str) -> Result<CStrArray, ZygoteError> {
    let v = items
        .iter()
        .map(|a| {
            CString::new(a.clone()).map_err(|_| ZygoteError::BadRequest {
                detail: format!("NUL byte in an {what}"),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(CStrArray::new(v))
}

/// `at` on the `CLOCK_MONOTONIC` scale, ns (the clock `Instant` reads on Linux), comparable
/// between processes of this host.
fn monotonic_ns(at: Instant) -> Option<u64> {
    let now = Instant::now();
    let ts = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).ok()?;
    let now_ns = (ts.tv_sec() as u64).checked_mul(1_000_000_000)? + ts.tv_nsec() as u64;
    now_ns.checked_sub(now.saturating_duration_since(at).as_nanos() as u64)
}

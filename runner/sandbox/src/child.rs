//! The case child: the ordered containment recipe that runs between `clone` and `exec`.
//!
//! Everything here runs in a `CLONE_VM | CLONE_VFORK` child that shares the zygote's memory:
//! no allocation, no locks, no unwinding. Everything it needs was prepared by the zygote in
//! [`ChildPlan`]. A failing step records itself in `plan.failure` (shared memory, read by the
//! zygote once the child has exited) and the child exits with status 127.
//!
//! # What the case child relies on
//! [`recipe`] is the one place that wraps the child's code in
//! [`hatchery_sys::AsyncSignalSafe`], promising that it is safe to run in a `CLONE_VM |
//! CLONE_VFORK` child. That promise rests on these invariants:
//! 1. The zygote is single-threaded (checked before it forked from the launcher; nothing in it
//!    starts a thread), so no lock can be held by another thread at clone time.
//! 2. The child allocates nothing and frees nothing: argv and envp are pre-built
//!    [`CStrArray`]s, the rlimits, cgroup descriptors and seccomp programs are slices built by
//!    the zygote before clone, and every step is a direct system call (nix wrappers that take
//!    plain integers or borrowed slices, or `hatchery_sys` functions marked async-signal-safe).
//! 3. It takes no locks: nothing touches std's stdio, the environment or thread-locals.
//! 4. It never unwinds: every failure is a value (`fail`), the recipe returns an exit status;
//!    no `expect`, no indexing that could panic.
//! 5. It writes to the parent's memory only through `plan.failure`, a `Cell` the zygote reads
//!    after the child has exec'd or exited (CLONE_VFORK suspends the zygote until then).

use std::cell::Cell;
use std::ffi::c_int;
use std::os::fd::RawFd;

use hatchery_sys::{
    close_range_cloexec, drop_all_capabilities, execve_path, execveat_fd, set_parent_death_signal,
    setrlimit, write_raw, AsyncSignalSafe, CStrArray,
};
use nix::errno::Errno;
use seccompiler::BpfProgram;
use serde::{Deserialize, Serialize};

/// The steps of the recipe, in order. Used to name the failing step (also on the wire, as
/// `wire::ChildStep`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Stdio,
    CloseFds,
    Cwd,
    Rlimits,
    Cgroup,
    Groups,
    Gid,
    Uid,
    Capabilities,
    ParentDeath,
    Seccomp,
    Exec,
}

impl Step {
    /// What the case process was doing, to follow "failed to".
    pub fn action(self) -> &'static str {
        match self {
            Step::Stdio => "connect the case's stdin/stdout/stderr",
            Step::CloseFds => "close the case's inherited file descriptors",
            Step::Cwd => "enter the case's working directory",
            Step::Rlimits => "set the case's resource limits",
            Step::Cgroup => "move the case into its cgroup",
            Step::Groups => "clear the case's supplementary groups",
            Step::Gid => "switch the case to its gid",
            Step::Uid => "switch the case to its uid",
            Step::Capabilities => "drop the case's capabilities",
            Step::ParentDeath => "tie the case to the zygote's lifetime",
            Step::Seccomp => "install the case's seccomp filter",
            Step::Exec => "execute the program",
        }
    }
}

/// Everything the child needs, prepared by the zygote before clone.
pub(crate) struct ChildPlan<'a> {
    pub stdin: RawFd,
    pub stdout: RawFd,
    pub stderr: RawFd,
    pub cwd: RawFd,
    pub rlimits: &'a [(c_int, u64, u64)],
    pub cgroup_procs: &'a [RawFd],
    pub switch_ids: bool,
    pub set_groups: bool,
    pub uid: u32,
    pub gid: u32,
    pub filters: &'a [BpfProgram],
    pub exec_fd: RawFd,
    pub keep_exec_fd: bool,
    /// A script's path and the (device, inode) of `exec_fd`: when the path leads to that very
    /// file in the case's view, the script is executed by its path (its `$0` is its name).
    pub script_path: Option<(&'a std::ffi::CStr, (u64, u64))>,
    pub argv: &'a CStrArray,
    pub envp: &'a CStrArray,
    pub failure: &'a Cell<Option<(Step, Errno)>>,
    /// Pid of the zygote as the child sees it (its parent).
    pub parent_pid: i32,
    /// Tie the case to the zygote with a parent-death signal (tier `none`: with a PID
    /// namespace, the kernel kills every process in it when the zygote, its PID 1, dies).
    pub parent_death: bool,
}

fn fail(plan: &ChildPlan<'_>, step: Step, e: Errno) -> c_int {
    plan.failure.set(Some((step, e)));
    127
}

macro_rules! step {
    ($plan:expr, $step:expr, $e:expr) => {
        if let Err(e) = $e {
            return fail($plan, $step, e);
        }
    };
}

/// The recipe for `plan`, wrapped as the closure the zygote clones into (see the invariants
/// in the module documentation).
pub(crate) fn recipe<'p>(plan: &'p ChildPlan<'p>) -> AsyncSignalSafe<impl FnMut() -> c_int + 'p> {
    AsyncSignalSafe::promise(move || run(plan))
}

/// The recipe. Returns only on failure (the child's exit status).
fn run(plan: &ChildPlan<'_>) -> c_int {
    use nix::unistd::{dup2, fchdir, setresgid, setresuid, Gid, Uid};

    // The session (without a controlling terminal), signal dispositions, the signal mask and
    // the bounding set come from the zygote (`Zygote::enter_base`).
    step!(plan, Step::Stdio, dup2(plan.stdin, 0).map(drop));
    step!(plan, Step::Stdio, dup2(plan.stdout, 1).map(drop));
    step!(plan, Step::Stdio, dup2(plan.stderr, 2).map(drop));
    // 1. every other descriptor is closed at exec
    step!(plan, Step::CloseFds, close_range_cloexec(3));
    if plan.keep_exec_fd {
        step!(
            plan,
            Step::CloseFds,
            nix::fcntl::fcntl(
                plan.exec_fd,
                nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty())
            )
            .map(drop)
        );
    }
    // 2. environment: `plan.envp` is already the clean one
    // 3. working directory
    step!(plan, Step::Cwd, fchdir(plan.cwd));
    // 4. resource limits
    for &(res, soft, hard) in plan.rlimits {
        step!(plan, Step::Rlimits, setrlimit(res, soft, hard));
    }
    // 5. cgroup membership (before dropping privileges: the files belong to the zygote's user)
    for &fd in plan.cgroup_procs {
        step!(plan, Step::Cgroup, write_raw(fd, b"0").map(drop));
    }
    // 6. a non-zero uid and gid, no capabilities
    if plan.switch_ids {
        if plan.set_groups {
            step!(
                plan,
                Step::Groups,
                nix::unistd::setgroups(&[Gid::from_raw(plan.gid)])
            );
        }
        let g = Gid::from_raw(plan.gid);
        step!(plan, Step::Gid, setresgid(g, g, g));
        let u = Uid::from_raw(plan.uid);
        step!(plan, Step::Uid, setresuid(u, u, u));
    }
    step!(plan, Step::Capabilities, drop_all_capabilities());
    // The case dies with its zygote (tier `none`, which has no PID namespace). Set after the
    // id switch, which clears it; then make sure the zygote is still there.
    if plan.parent_death {
        step!(
            plan,
            Step::ParentDeath,
            set_parent_death_signal(libc::SIGKILL)
        );
        if nix::unistd::getppid().as_raw() != plan.parent_pid {
            return fail(plan, Step::ParentDeath, Errno::ESRCH);
        }
    }
    // 7. no_new_privs (setuid binaries and file capabilities grant nothing), an empty ambient
    // capability set and a zero core-file limit are inherited from the zygote, which set
    // them on itself once (`Zygote::enter_base`).
    // 8. Landlock (writes only below the scratch and the writable directories) is inherited
    // from the zygote, which restricted itself once (`pid1.rs`).
    // 9. seccomp, last (on top of the zygote's base filter, which the case inherits)
    for f in plan.filters {
        if seccompiler::apply_filter(f).is_err() {
            return fail(plan, Step::Seccomp, Errno::last());
        }
    }
    // 10. exec the descriptor opened before the case started (a script by its path when that
    // is the same file, so that its `$0` names it)
    if let Some((path, id)) = plan.script_path {
        let same = nix::sys::stat::stat(path).is_ok_and(|st| (st.st_dev, st.st_ino) == id);
        if same {
            let _ = execve_path(path, plan.argv, plan.envp);
        }
    }
    let e = execveat_fd(plan.exec_fd, plan.argv, plan.envp);
    fail(plan, Step::Exec, e)
}

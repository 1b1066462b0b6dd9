//! The zygote: a small single-threaded process, started once per worker, that enters its
//! namespaces once and then serves cases: for each request it clones one case child (see
//! `child.rs`), enforces wall/CPU/output limits, kills and reaps everything the case started,
//! measures, cleans shared state, and answers.
//!
//! Process layout for tiers with namespaces:
//! supervisor ─ launcher (`hatchery __zygote`, unshares user/ipc/mount[/net]/pid namespaces)
//!            └ zygote (PID 1 of the new PID namespace) ─ case child ─ …
//! For tier `none` the launcher is the zygote and is a child subreaper instead.
//!
//! By concern:
//! - [`launcher`]: the `__zygote` entry, unshare, the id-map handshake, the fork of PID 1;
//! - [`pid1`]: what PID 1 sets up once (mounts, the layers every case inherits, the base
//!   seccomp filter and its listener);
//! - [`serve`]: the request loop;
//! - [`case`]: one case (clone and the recipe, stdio pipes, supervising the limits, facts);
//! - [`reap`]: killing and reaping what a case left, and cleaning shared state after it;
//! - [`scratch`]: the scratch directories and message queues, wiped between cases;
//! - [`error`]: one error variant per step, and its form on the wire.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;

use hatchery_report::Enforcement;
use seccompiler::BpfProgram;

use crate::cgroup::CgroupFiles;
use crate::policy::{SeccompProfile, Tier};
use crate::wire::ZygoteInit;

mod case;
mod error;
mod launcher;
mod pid1;
mod reap;
pub(crate) mod scratch;
mod serve;

pub use launcher::main;

/// The zygote entry point of every hatchery binary: when started as `<exe> __zygote` (by
/// [`crate::Sandbox::start`]), becomes the zygote and never returns. Call it first in `main`,
/// before anything creates a thread.
pub fn enter_if_asked() {
    if std::env::args_os().nth(1).as_deref() == Some(std::ffi::OsStr::new("__zygote")) {
        main();
    }
}

use error::{SetupError, ZygoteError};
use scratch::Scratch;

/// How much output is kept when the case has no output limit.
pub const DEFAULT_CAPTURE_BYTES: u64 = 64 << 20;

/// Size of the case child's stack (below it, a guard page).
const CHILD_STACK_BYTES: usize = 256 << 10;

struct Zygote {
    sock: UnixStream,
    init: ZygoteInit,
    cgroup: Option<CgroupFiles>,
    scratch: Scratch,
    enforcement: Enforcement,
    filters: HashMap<SeccompProfile, std::rc::Rc<[BpfProgram]>>,
    /// Read buffer for the case's output pipes, reused across cases.
    out_buf: Vec<u8>,
    stack: hatchery_sys::ChildStack,
    /// cgroup v1: the thread that clones every case, born in the slot's memory cgroup (see
    /// [`crate::cgroup::CgroupFiles::memory_tasks`]).
    cloner: Option<hatchery_sys::CloneThread>,
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
    /// Why this zygote must not serve another case: cleaning up after one failed. Sticky;
    /// every reply from then on says so.
    retired: Option<String>,
}

impl Zygote {
    fn new(
        sock: UnixStream,
        init: ZygoteInit,
        cgroup: Option<CgroupFiles>,
        scratch: Scratch,
        enforcement: Enforcement,
    ) -> Result<Zygote, (UnixStream, SetupError)> {
        let ncpus = (crate::affinity::allowed_cpus().len() as u64).max(1);
        let pid_ns = init.tier != Tier::None;
        let stack = match hatchery_sys::ChildStack::new(CHILD_STACK_BYTES) {
            Ok(s) => s,
            Err(e) => return Err((sock, SetupError::ChildStack(e))),
        };
        Ok(Zygote {
            sock,
            init,
            cgroup,
            scratch,
            enforcement,
            filters: HashMap::new(),
            out_buf: vec![0u8; 64 << 10],
            stack,
            cloner: None,
            ncpus,
            pid_ns,
            supervisor: None,
            dev_null: None,
            pipes: None,
            carry: None,
            children_cpu: None,
            listener: None,
            retired: None,
        })
    }

    /// Cleaning up after a case failed: report the case as it ran, and retire.
    fn retire(&mut self, e: ZygoteError) {
        if self.retired.is_none() {
            self.retired = Some(e.to_wire().render());
        }
    }
}

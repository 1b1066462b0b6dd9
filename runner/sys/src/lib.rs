//! Thin wrappers over the Linux system calls hatchery needs and that `nix` does not offer in a
//! form usable between `clone` and `exec` (no allocation, no locks). This is the only crate of
//! the workspace allowed to use `unsafe`; every block says why it is sound.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::unistd::Pid;

pub use nix;

/// A `NULL`-terminated array of C strings, built before `clone` so the child only reads it.
pub struct CStrArray {
    _owned: Vec<std::ffi::CString>,
    ptrs: Vec<*const c_char>,
}

impl CStrArray {
    pub fn new(items: Vec<std::ffi::CString>) -> Self {
        let mut ptrs: Vec<*const c_char> = items.iter().map(|s| s.as_ptr()).collect();
        ptrs.push(std::ptr::null());
        CStrArray {
            _owned: items,
            ptrs,
        }
    }
    pub fn as_ptr(&self) -> *const *const c_char {
        self.ptrs.as_ptr()
    }
    pub fn len(&self) -> usize {
        self.ptrs.len() - 1
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

// SAFETY: the pointers point into `_owned`, which the array owns and never mutates; sending the
// whole array to another thread moves the strings with it.
unsafe impl Send for CStrArray {}

extern "C" fn trampoline<F: FnMut() -> c_int>(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the `&mut F` that `clone_vm_vfork` passed to clone; the parent is
    // suspended (CLONE_VFORK) until this child execs or exits, so the borrow is exclusive.
    let f = unsafe { &mut *(arg as *mut F) };
    f()
}

/// A closure that may run in a `CLONE_VM | CLONE_VFORK` child, between `clone` and `exec`.
///
/// # Contract
/// Wrapping a closure in this type is a promise, written down next to the one place that
/// makes it (the case child's recipe), that the closure is async-signal-safe in the sense
/// the child needs:
/// - it allocates nothing and frees nothing (the allocator's state is shared with the
///   suspended parent, and may be mid-update in another thread of it: hence also
/// - the parent is single-threaded, or no other thread of it holds a lock the closure takes);
/// - it takes no locks (no `std::io::stdout`, no `println!`, no `Mutex`);
/// - it does not unwind (a panic would unwind into the parent's frames on a foreign stack):
///   every failure is a return value;
/// - everything it reads was prepared before `clone` (argument arrays as [`CStrArray`]).
///
/// Nothing here can check these; the type makes the promise visible at the call site and in
/// the signature of [`clone_vm_vfork_pidfd`].
pub struct AsyncSignalSafe<F>(F);

impl<F: FnMut() -> c_int> AsyncSignalSafe<F> {
    /// Records the promise described on the type for `f`.
    pub fn promise(f: F) -> Self {
        AsyncSignalSafe(f)
    }
}

/// A stack for a cloned child: anonymous memory with a `PROT_NONE` guard page at its low
/// end, so a child that overflows it faults (SIGSEGV, in the child) instead of writing into
/// whatever lies below.
pub struct ChildStack {
    base: *mut c_void,
    /// Whole mapping, guard page included.
    len: usize,
}

impl ChildStack {
    /// Maps `size` usable bytes (rounded up to pages) plus one guard page.
    pub fn new(size: usize) -> io::Result<ChildStack> {
        // SAFETY: sysconf takes an integer and returns one.
        let page = match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
            p if p > 0 => p as usize,
            _ => 4096,
        };
        let usable = size.max(1).div_ceil(page) * page;
        let len = usable + page;
        // SAFETY: a fresh private anonymous mapping at an address of the kernel's choice;
        // nothing else refers to it.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let stack = ChildStack { base, len };
        // SAFETY: the first page lies inside the mapping made above, which we own.
        if unsafe { libc::mprotect(base, page, libc::PROT_NONE) } != 0 {
            return Err(io::Error::last_os_error()); // `stack` unmaps on drop
        }
        Ok(stack)
    }

    /// The initial stack pointer: the high end (stacks grow down on every architecture we
    /// build for), aligned to 16 bytes.
    fn top(&mut self) -> *mut c_void {
        ((self.base as usize + self.len) & !15usize) as *mut c_void
    }
}

// SAFETY: the stack is a private anonymous mapping that only this value refers to (the raw
// pointer is an address, not shared state); moving the owner to another thread moves the
// mapping with it, and no child runs on it once `clone_vm_vfork*` returned.
unsafe impl Send for ChildStack {}

impl Drop for ChildStack {
    fn drop(&mut self) {
        // SAFETY: `base`/`len` describe exactly the mapping made in `new`, unmapped once here;
        // no child runs on it any more (CLONE_VFORK returned only after it exec'd or exited).
        unsafe { libc::munmap(self.base, self.len) };
    }
}

/// `clone(CLONE_VM | CLONE_VFORK | SIGCHLD)` on a guarded `stack`, running `f` (see
/// [`AsyncSignalSafe`] for what it may do) in the child; the floor the benchmarks measure. The
/// caller is suspended until the child execs or exits. [`clone_vm_vfork_pidfd`] also returns a
/// pidfd of the child.
pub fn clone_vm_vfork<F: FnMut() -> c_int>(
    stack: &mut ChildStack,
    f: &mut AsyncSignalSafe<F>,
) -> io::Result<Pid> {
    let top = stack.top();
    let f: &mut F = &mut f.0;
    // SAFETY: `top` is the high end of a live mapping exclusively borrowed for the call, with a
    // guard page below; `trampoline::<F>` receives a pointer to `f`, which outlives the
    // child's use of it because CLONE_VFORK keeps us suspended until the child has exec'd or
    // exited; the closure keeps the async-signal-safety contract `AsyncSignalSafe` records.
    let pid = unsafe {
        libc::clone(
            trampoline::<F>,
            top,
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            f as *mut F as *mut c_void,
        )
    };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(Pid::from_raw(pid))
}

/// `clone(CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD)` on a guarded `stack`, running `f`
/// (see [`AsyncSignalSafe`] for what it may do) in the child. Returns the child's pid and a
/// pidfd made by the same system call (no `pidfd_open` afterwards, no window for the pid to be
/// reused). The caller is suspended until the child execs or exits.
pub fn clone_vm_vfork_pidfd<F: FnMut() -> c_int>(
    stack: &mut ChildStack,
    f: &mut AsyncSignalSafe<F>,
) -> io::Result<(Pid, OwnedFd)> {
    let job = CloneJob::new(stack, f);
    // SAFETY: `job` was made just now from live exclusive borrows of `stack` and `f`, which
    // last until this call returns.
    unsafe { job.run() }
}

/// The raw arguments of one `clone_vm_vfork_pidfd`: the trampoline of the closure's type, the
/// top of the child's stack and the closure's address. Only addresses: whoever runs it must
/// keep the borrows they were made from alive and exclusive until [`CloneJob::run`] returns.
struct CloneJob {
    trampoline: extern "C" fn(*mut c_void) -> c_int,
    top: *mut c_void,
    arg: *mut c_void,
}

// SAFETY: the pointers are addresses of a stack and a closure that the sending thread borrows
// exclusively and keeps alive, blocked, until the receiving thread has run the job and said so
// (see `CloneThread::clone_vm_vfork_pidfd`); the closure keeps the `AsyncSignalSafe` contract,
// which holds whichever thread of this process clones the child.
unsafe impl Send for CloneJob {}

impl CloneJob {
    fn new<F: FnMut() -> c_int>(stack: &mut ChildStack, f: &mut AsyncSignalSafe<F>) -> Self {
        let f: &mut F = &mut f.0;
        CloneJob {
            trampoline: trampoline::<F>,
            top: stack.top(),
            arg: f as *mut F as *mut c_void,
        }
    }

    /// Clones the child.
    ///
    /// # Safety
    /// The stack and the closure the job was made from must be alive and not otherwise used
    /// until this returns.
    unsafe fn run(self) -> io::Result<(Pid, OwnedFd)> {
        let mut pidfd: c_int = -1;
        // SAFETY: `top` is the high end of a live mapping exclusively borrowed for the call
        // (the caller's promise), with a guard page below; `trampoline` is the one made for the
        // closure's type and receives the closure's address, which outlives the child's use of
        // it because CLONE_VFORK keeps us suspended until the child has exec'd or exited; the
        // closure keeps the async-signal-safety contract `AsyncSignalSafe` records. The kernel
        // writes the new pidfd into `pidfd`, a live local that outlives the call (CLONE_PIDFD
        // takes its address as the parent_tid argument).
        let pid = unsafe {
            libc::clone(
                self.trampoline,
                self.top,
                libc::CLONE_VM | libc::CLONE_VFORK | libc::CLONE_PIDFD | libc::SIGCHLD,
                self.arg,
                &mut pidfd as *mut c_int,
            )
        };
        if pid < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: on success CLONE_PIDFD stored a fresh descriptor that nothing else owns.
        let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
        Ok((Pid::from_raw(pid), pidfd))
    }
}

/// A thread of this process that clones children for it.
///
/// A new process is born in the cgroups of the thread that clones it. Moving a process into a
/// cgroup afterwards takes the kernel's cgroup threadgroup lock for writing, which waits for an
/// RCU grace period: ~6 ms per case on a 2-CPU VM, more than the rest of a spawn. cgroup v1
/// lets a single thread join a cgroup (its `tasks` file): this thread joins the case cgroup
/// once, and the children it clones are born there, while the rest of the process (its memory
/// included, which is charged to the cgroup of the process's main thread) stays out.
///
/// The thread inherits what its creator set per thread (seccomp filters, `no_new_privs`,
/// capabilities, signal mask): make it once those are final. It ends when this value is
/// dropped.
pub struct CloneThread {
    jobs: std::sync::mpsc::SyncSender<CloneJob>,
    done: std::sync::mpsc::Receiver<io::Result<(Pid, OwnedFd)>>,
}

impl CloneThread {
    /// Starts the thread and runs `setup` on it first (for example, joining a cgroup with
    /// `write_raw(tasks, b"0")`); fails with `setup`'s error, or if no thread can be made.
    pub fn start(
        setup: impl FnOnce() -> io::Result<()> + Send + 'static,
    ) -> io::Result<CloneThread> {
        let (jobs, job_rx) = std::sync::mpsc::sync_channel::<CloneJob>(0);
        let (done_tx, done) = std::sync::mpsc::sync_channel(1);
        let (ready_tx, ready) = std::sync::mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("hatchery-clone".into())
            .stack_size(64 << 10)
            .spawn(move || {
                let r = setup();
                let ok = r.is_ok();
                if ready_tx.send(r).is_err() || !ok {
                    return;
                }
                while let Ok(job) = job_rx.recv() {
                    // SAFETY: the sender is blocked in `clone_vm_vfork_pidfd` until we report,
                    // keeping the job's stack and closure alive and unused.
                    let r = unsafe { job.run() };
                    if done_tx.send(r).is_err() {
                        return;
                    }
                }
            })?;
        ready
            .recv()
            .map_err(|_| io::Error::other("the clone thread ended before it was set up"))??;
        Ok(CloneThread { jobs, done })
    }

    /// [`clone_vm_vfork_pidfd`], done by this thread. Blocks until the child has exec'd or
    /// exited, as the plain call does.
    pub fn clone_vm_vfork_pidfd<F: FnMut() -> c_int>(
        &self,
        stack: &mut ChildStack,
        f: &mut AsyncSignalSafe<F>,
    ) -> io::Result<(Pid, OwnedFd)> {
        let gone = || io::Error::other("the clone thread has ended");
        self.jobs
            .send(CloneJob::new(stack, f))
            .map_err(|_| gone())?;
        // The borrows of `stack` and `f` last until the thread has run the job: it reports
        // once the child has exec'd or exited, and never touches them again.
        self.done.recv().map_err(|_| gone())?
    }
}

/// Proof that this process had exactly one thread when it was checked. Not `Send`: it is
/// spent by [`fork_single_threaded`] on the thread that checked.
pub struct SingleThreaded {
    _not_send: std::marker::PhantomData<*const ()>,
}

impl SingleThreaded {
    /// Counts this process's threads (`/proc/self/status`); the proof exists only if the
    /// count is 1.
    pub fn check() -> io::Result<SingleThreaded> {
        match thread_count()? {
            1 => Ok(SingleThreaded {
                _not_send: std::marker::PhantomData,
            }),
            n => Err(io::Error::other(format!(
                "the process has {n} threads; fork needs exactly 1"
            ))),
        }
    }
}

/// `fork()` for a process proven single-threaded. Returns the child's pid in the parent and
/// `None` in the child. The proof is consumed: check again before another fork.
pub fn fork_single_threaded(_proof: SingleThreaded) -> io::Result<Option<Pid>> {
    // SAFETY: `SingleThreaded` can only be made by `check`, which saw one thread, and it cannot
    // leave this thread; nothing between the check and here starts a thread (the token is
    // consumed now), so the child inherits no lock held by another thread and may continue
    // normally.
    match unsafe { nix::unistd::fork() }? {
        nix::unistd::ForkResult::Parent { child } => Ok(Some(child)),
        nix::unistd::ForkResult::Child => Ok(None),
    }
}

/// Number of threads of this process, from `/proc/self/status`.
pub fn thread_count() -> io::Result<usize> {
    let s = std::fs::read_to_string("/proc/self/status")?;
    s.lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| io::Error::other("no Threads: line in /proc/self/status"))
}

/// `execveat(fd, "", argv, envp, AT_EMPTY_PATH)`: executes the file `fd` refers to. Only
/// returns on failure. Async-signal-safe.
pub fn execveat_fd(fd: RawFd, argv: &CStrArray, envp: &CStrArray) -> Errno {
    const EMPTY: &CStr = c"";
    // SAFETY: both arrays are NULL-terminated arrays of valid C strings that outlive the call;
    // the path is a valid empty C string; the kernel copies everything before replacing the
    // address space.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            fd,
            EMPTY.as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        );
    }
    Errno::last()
}

/// `execve(path, argv, envp)`. Only returns on failure. Async-signal-safe.
pub fn execve_path(path: &CStr, argv: &CStrArray, envp: &CStrArray) -> Errno {
    // SAFETY: `path` is a valid C string and both arrays NULL-terminated arrays of valid C
    // strings, all outliving the call.
    unsafe {
        libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr());
    }
    Errno::last()
}

/// Marks every descriptor from `first` up close-on-exec (`close_range` with
/// `CLOSE_RANGE_CLOEXEC`, Linux 5.11). They stay usable until `execve`. Async-signal-safe.
pub fn close_range_cloexec(first: u32) -> Result<(), Errno> {
    // SAFETY: close_range only changes flags of this process's descriptor table.
    let r = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    Errno::result(r).map(drop)
}

/// Writes all of `buf` to `fd` with one `write(2)`. Async-signal-safe.
pub fn write_raw(fd: RawFd, buf: &[u8]) -> Result<usize, Errno> {
    // SAFETY: `buf` is a valid readable slice for its length.
    let r = unsafe { libc::write(fd, buf.as_ptr() as *const c_void, buf.len()) };
    Errno::result(r).map(|n| n as usize)
}

/// Empties the capability bounding set. Needs CAP_SETPCAP, so call it before changing uid;
/// without it (an unprivileged tier `none`) it fails with EPERM. Async-signal-safe.
pub fn drop_bounding_set() -> Result<(), Errno> {
    for cap in 0..64 {
        // SAFETY: PR_CAPBSET_DROP takes plain integers.
        let r = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
        if r != 0 {
            return match Errno::last() {
                Errno::EINVAL => Ok(()), // past the last capability this kernel knows
                e => Err(e),
            };
        }
    }
    Ok(())
}

/// Empties the ambient capability set of this process (inherited by its children, and it
/// cannot grow again without capabilities). Async-signal-safe.
pub fn clear_ambient_capabilities() -> Result<(), Errno> {
    // SAFETY: PR_CAP_AMBIENT_CLEAR_ALL takes no pointers.
    let r = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    };
    // Kernels before 4.3 have no ambient set; nothing to clear there.
    if r != 0 && Errno::last() != Errno::EINVAL {
        return Err(Errno::last());
    }
    Ok(())
}

/// Drops the effective, permitted and inheritable capabilities (capset). The ambient set is
/// cleared separately ([`clear_ambient_capabilities`], once, by the zygote). Async-signal-safe.
pub fn drop_all_capabilities() -> Result<(), Errno> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: c_int,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
    let mut hdr = Header {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let data = [Data {
        effective: 0,
        permitted: 0,
        inheritable: 0,
    }; 2];
    // SAFETY: header and the two-element data array have the layout capset(2) expects for
    // _LINUX_CAPABILITY_VERSION_3 and live across the call.
    let r = unsafe { libc::syscall(libc::SYS_capset, &mut hdr as *mut Header, data.as_ptr()) };
    Errno::result(r).map(drop)
}

/// Returns the effective capability mask (low 64 bits) of this process.
pub fn effective_capabilities() -> io::Result<u64> {
    let s = std::fs::read_to_string("/proc/self/status")?;
    s.lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .ok_or_else(|| io::Error::other("no CapEff: line in /proc/self/status"))
}

/// One BPF instruction of a seccomp filter (the layout of the kernel's `struct sock_filter`).
#[derive(Debug, Clone, Copy)]
pub struct BpfInsn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

/// Installs a seccomp filter on the calling thread with `SECCOMP_FILTER_FLAG_NEW_LISTENER`
/// (Linux 5.0) and returns the listener: filters answering `SECCOMP_RET_USER_NOTIF` queue the
/// calling thread there, blocked in the system call, until the listener answers or the
/// thread dies. Needs no_new_privs (or CAP_SYS_ADMIN).
pub fn seccomp_install_with_listener(filter: &[BpfInsn]) -> Result<OwnedFd, Errno> {
    let insns: Vec<libc::sock_filter> = filter
        .iter()
        .map(|i| libc::sock_filter {
            code: i.code,
            jt: i.jt,
            jf: i.jf,
            k: i.k,
        })
        .collect();
    let prog = libc::sock_fprog {
        len: u16::try_from(insns.len()).map_err(|_| Errno::EINVAL)?,
        filter: insns.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: `prog` points to `insns`, which lives across the call; the kernel copies the
    // program before returning.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            libc::SECCOMP_FILTER_FLAG_NEW_LISTENER,
            &prog as *const libc::sock_fprog,
        )
    };
    let fd = Errno::result(r)?;
    // SAFETY: on success seccomp(2) returned a fresh listener descriptor nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// A system call a seccomp filter sent to its listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeccompNotice {
    /// The calling thread, as seen in the listener's PID namespace.
    pub pid: u32,
    pub nr: i32,
    /// `AUDIT_ARCH_*` of the call.
    pub arch: u32,
}

/// Receives one pending notification from a seccomp listener (`SECCOMP_IOCTL_NOTIF_RECV`).
/// Blocks when none is pending: poll the listener first.
pub fn seccomp_notice_recv(listener: BorrowedFd<'_>) -> Result<SeccompNotice, Errno> {
    // SAFETY: seccomp_notif is plain old data; the kernel wants it zeroed.
    let mut n: libc::seccomp_notif = unsafe { std::mem::zeroed() };
    // SAFETY: `n` is a valid, writable seccomp_notif, the size the ioctl number encodes.
    let r = unsafe {
        libc::ioctl(
            listener.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_RECV,
            &mut n as *mut libc::seccomp_notif,
        )
    };
    Errno::result(r)?;
    Ok(SeccompNotice {
        pid: n.pid,
        nr: n.data.nr,
        arch: n.data.arch,
    })
}

/// `pidfd_open(pid, 0)` (Linux 5.3): a descriptor that becomes readable when `pid` exits.
pub fn pidfd_open(pid: Pid) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes plain integers and returns a new descriptor or -1.
    let r = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: on success the return value is a fresh descriptor that we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(r as RawFd) })
}

/// Result of `wait4`: the raw wait status and the child's resource usage.
#[derive(Debug, Clone, Copy)]
pub struct Waited {
    pub pid: Pid,
    pub status: c_int,
    pub utime_us: u64,
    pub stime_us: u64,
    pub maxrss_kib: u64,
}

impl Waited {
    pub fn exited(&self) -> Option<i32> {
        libc::WIFEXITED(self.status).then(|| libc::WEXITSTATUS(self.status))
    }
    pub fn signaled(&self) -> Option<(i32, bool)> {
        libc::WIFSIGNALED(self.status)
            .then(|| (libc::WTERMSIG(self.status), libc::WCOREDUMP(self.status)))
    }
}

fn tv_us(tv: libc::timeval) -> u64 {
    (tv.tv_sec as u64) * 1_000_000 + tv.tv_usec as u64
}

/// `wait4(pid, &status, flags, &rusage)`. `Ok(None)` with `WNOHANG` when nothing is ready.
pub fn wait4(pid: i32, flags: c_int) -> Result<Option<Waited>, Errno> {
    let mut status: c_int = 0;
    // SAFETY: rusage is plain old data; zeroed is a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: status and ru are valid for writes for the duration of the call.
        let r = unsafe { libc::wait4(pid, &mut status, flags, &mut ru) };
        if r < 0 {
            if Errno::last() == Errno::EINTR {
                continue;
            }
            return Err(Errno::last());
        }
        if r == 0 {
            return Ok(None);
        }
        return Ok(Some(Waited {
            pid: Pid::from_raw(r),
            status,
            utime_us: tv_us(ru.ru_utime),
            stime_us: tv_us(ru.ru_stime),
            maxrss_kib: ru.ru_maxrss as u64,
        }));
    }
}

/// CPU time (user, system) in microseconds of all waited-for children of this process.
pub fn children_cpu_us() -> (u64, u64) {
    // SAFETY: rusage is plain old data; zeroed is a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: ru is valid for writes; RUSAGE_CHILDREN is a valid `who`.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    (tv_us(ru.ru_utime), tv_us(ru.ru_stime))
}

/// Brings the loopback interface `lo` of the caller's network namespace up (which gives it
/// 127.0.0.1 and ::1). Needs CAP_NET_ADMIN over that namespace.
pub fn loopback_up() -> Result<(), Errno> {
    let sock = nix::sys::socket::socket(
        nix::sys::socket::AddressFamily::Inet,
        nix::sys::socket::SockType::Datagram,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    // SAFETY: an all-zero ifreq is a valid value (empty name, zero union).
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: `sock` is an open socket; `req` is a valid ifreq naming an interface and lives
    // across the call; SIOCGIFFLAGS writes only `ifru_flags`.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } < 0 {
        return Err(Errno::last());
    }
    // SAFETY: SIOCGIFFLAGS just initialised the flags member of the union.
    unsafe {
        req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
    }
    // SAFETY: as above; SIOCSIFFLAGS reads the name and the flags.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) } < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// Makes the mount tree at `path` read-only and nosuid recursively (`mount_setattr` with
/// `AT_RECURSIVE`, Linux 5.12).
pub fn mount_setattr_readonly_recursive(path: &CStr) -> Result<(), Errno> {
    #[repr(C)]
    struct MountAttr {
        attr_set: u64,
        attr_clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    const MOUNT_ATTR_RDONLY: u64 = 0x1;
    const MOUNT_ATTR_NOSUID: u64 = 0x2;
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: `path` is a valid C string and `attr` a valid mount_attr of the size passed.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            path.as_ptr(),
            libc::AT_RECURSIVE as libc::c_uint,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    Errno::result(r).map(drop)
}

/// How many SysV IPC objects exist in this IPC namespace: (shared memory segments, message
/// queues, semaphore sets). Cheap: three `*ctl(…_INFO)` calls.
pub fn sysv_ipc_counts() -> (u64, u64, u64) {
    // SAFETY: shm_info/msginfo/seminfo are plain old data; the *_INFO commands write at most
    // one such struct through the pointer, which is valid for writes.
    unsafe {
        // struct shm_info starts with `int used_ids` and is smaller than shmid_ds.
        const SHM_INFO: c_int = 14;
        let mut shm: libc::shmid_ds = std::mem::zeroed();
        let shm_n = if libc::shmctl(0, SHM_INFO, &mut shm) >= 0 {
            *(&shm as *const libc::shmid_ds as *const c_int) as u64
        } else {
            0
        };
        let mut msg: libc::msginfo = std::mem::zeroed();
        let msg_n =
            if libc::msgctl(0, libc::MSG_INFO, &mut msg as *mut _ as *mut libc::msqid_ds) >= 0 {
                msg.msgpool as u64
            } else {
                0
            };
        let mut sem: libc::seminfo = std::mem::zeroed();
        let sem_n = if libc::semctl(0, 0, libc::SEM_INFO, &mut sem as *mut libc::seminfo) >= 0 {
            sem.semusz as u64
        } else {
            0
        };
        (shm_n, msg_n, sem_n)
    }
}

/// Kinds of SysV IPC object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpcKind {
    Shm,
    Msg,
    Sem,
}

/// Removes the SysV IPC object `id` (`IPC_RMID`).
pub fn sysv_ipc_remove(kind: IpcKind, id: i32) -> Result<(), Errno> {
    // SAFETY: IPC_RMID ignores the buffer argument; a null pointer is allowed.
    let r = unsafe {
        match kind {
            IpcKind::Shm => libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut()),
            IpcKind::Msg => libc::msgctl(id, libc::IPC_RMID, std::ptr::null_mut()),
            IpcKind::Sem => libc::semctl(id, 0, libc::IPC_RMID),
        }
    };
    Errno::result(r).map(drop)
}

/// `prctl(PR_SET_PDEATHSIG, sig)`. Async-signal-safe.
pub fn set_parent_death_signal(sig: c_int) -> Result<(), Errno> {
    // SAFETY: plain integer arguments.
    let r = unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, sig as libc::c_ulong, 0, 0, 0) };
    Errno::result(r).map(drop)
}

/// Resets every signal to its default disposition and unblocks all signals, so the target
/// does not inherit what the zygote ignores (Rust ignores SIGPIPE). Async-signal-safe.
pub fn reset_signals() -> Result<(), Errno> {
    // The kernel's struct sigaction (no restorer needed for SIG_DFL). The raw call also
    // reaches signals 32 and 33, which glibc's wrapper refuses.
    #[repr(C)]
    struct KernelSigaction {
        handler: usize,
        flags: u64,
        restorer: usize,
        mask: u64,
    }
    let dfl = KernelSigaction {
        handler: libc::SIG_DFL,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: `dfl` is a valid kernel sigaction for SIG_DFL; the old-action pointer is
        // NULL; 8 is the size of the kernel's signal set.
        let r = unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                &dfl as *const KernelSigaction,
                std::ptr::null_mut::<KernelSigaction>(),
                8usize,
            )
        };
        if r != 0 {
            return Err(Errno::last());
        }
    }
    // SAFETY: an empty set built by sigemptyset is a valid argument to sigprocmask.
    let r = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut())
    };
    Errno::result(r).map(drop)
}

/// Sets one resource limit. Async-signal-safe.
pub fn setrlimit(resource: c_int, soft: u64, hard: u64) -> Result<(), Errno> {
    let lim = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: `lim` is a valid rlimit for the duration of the call.
    let r = unsafe { libc::setrlimit(resource as _, &lim) };
    Errno::result(r).map(drop)
}

/// Reads at most `buf.len()` bytes from offset 0 of `fd` (`pread`), for small control files.
pub fn pread0(fd: BorrowedFd<'_>, buf: &mut [u8]) -> Result<usize, Errno> {
    // SAFETY: `buf` is valid for writes of its length; fd is a live descriptor.
    let r = unsafe {
        libc::pread(
            fd.as_raw_fd(),
            buf.as_mut_ptr() as *mut c_void,
            buf.len(),
            0,
        )
    };
    Errno::result(r).map(|n| n as usize)
}

/// Landlock ABI version of the running kernel, or the error that says why there is none.
pub fn landlock_abi_version() -> Result<i32, Errno> {
    const LANDLOCK_CREATE_RULESET_VERSION: u32 = 1;
    // SAFETY: with the VERSION flag the attr pointer must be NULL and size 0; no memory is used.
    let r = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    Errno::result(r).map(|v| v as i32)
}

/// `landlock_restrict_self(ruleset, 0)`: the calling thread (and all it starts) is held to the
/// ruleset from now on. Needs `no_new_privs` (or CAP_SYS_ADMIN). One system call, no memory:
/// async-signal-safe, for the case child between clone and exec.
pub fn landlock_restrict_self(ruleset: RawFd) -> Result<(), Errno> {
    // SAFETY: plain integer arguments; the kernel checks the descriptor.
    let r = unsafe { libc::syscall(libc::SYS_landlock_restrict_self, ruleset, 0u32) };
    Errno::result(r).map(drop)
}

/// Whether `clone3` exists: called with an invalid size it fails with EINVAL, not ENOSYS.
pub fn clone3_available() -> bool {
    // SAFETY: a NULL args pointer with size 0 is rejected by the kernel before anything happens.
    let r = unsafe { libc::syscall(libc::SYS_clone3, std::ptr::null::<c_void>(), 0usize) };
    !(r < 0 && Errno::last() == Errno::ENOSYS)
}

/// `pidfd_send_signal(fd, sig, NULL, 0)` (Linux 5.1): signals exactly the process the pidfd
/// refers to, even if its pid number has been reused since.
pub fn pidfd_send_signal(fd: BorrowedFd<'_>, sig: c_int) -> Result<(), Errno> {
    // SAFETY: a valid descriptor, a signal number, a NULL siginfo and no flags.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0u32,
        )
    };
    Errno::result(r).map(drop)
}

/// `open(2)` returning an owned descriptor.
pub fn open_owned<P: ?Sized + nix::NixPath>(
    path: &P,
    flags: nix::fcntl::OFlag,
    mode: nix::sys::stat::Mode,
) -> Result<OwnedFd, Errno> {
    let fd = nix::fcntl::open(path, flags, mode)?;
    // SAFETY: open returned a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `openat(2)` relative to `dir`, returning an owned descriptor.
pub fn openat_owned<P: ?Sized + nix::NixPath>(
    dir: BorrowedFd<'_>,
    path: &P,
    flags: nix::fcntl::OFlag,
    mode: nix::sys::stat::Mode,
) -> Result<OwnedFd, Errno> {
    let fd = nix::fcntl::openat(Some(dir.as_raw_fd()), path, flags, mode)?;
    // SAFETY: openat returned a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `openat2(2)` of `path` strictly beneath `dir`: no symbolic link is followed anywhere on the
/// way (`RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS`), no `..` escape, no
/// absolute path; `O_NOFOLLOW | O_CLOEXEC` are always added. For trees a case could write:
/// whatever the case swapped in, the descriptor is of an object beneath `dir`, reached without
/// a link. Fallback chain: openat2 (Linux 5.6) → a walk of `openat(O_NOFOLLOW)` one component
/// at a time (ENOSYS on older kernels, or a seccomp filter that hides openat2).
pub fn openat2_beneath(
    dir: BorrowedFd<'_>,
    path: &std::path::Path,
    flags: nix::fcntl::OFlag,
    mode: nix::sys::stat::Mode,
) -> Result<OwnedFd, Errno> {
    use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
    let flags = flags | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let how = OpenHow::new().flags(flags).mode(mode).resolve(
        ResolveFlag::RESOLVE_BENEATH
            | ResolveFlag::RESOLVE_NO_SYMLINKS
            | ResolveFlag::RESOLVE_NO_MAGICLINKS,
    );
    loop {
        match nix::fcntl::openat2(dir.as_raw_fd(), path, how) {
            // SAFETY: openat2 returned a fresh descriptor that nothing else owns.
            Ok(fd) => return Ok(unsafe { OwnedFd::from_raw_fd(fd) }),
            Err(Errno::EINTR | Errno::EAGAIN) => continue,
            Err(Errno::ENOSYS) => return openat_walk_nofollow(dir, path, flags, mode),
            Err(e) => return Err(e),
        }
    }
}

/// The fallback of [`openat2_beneath`]: one `openat(O_NOFOLLOW)` per component, directories
/// opened with `O_DIRECTORY`; `..`, `.` and absolute paths are refused (EXDEV, as openat2's
/// `RESOLVE_BENEATH` answers an escape).
fn openat_walk_nofollow(
    dir: BorrowedFd<'_>,
    path: &std::path::Path,
    flags: nix::fcntl::OFlag,
    mode: nix::sys::stat::Mode,
) -> Result<OwnedFd, Errno> {
    use nix::fcntl::OFlag;
    use std::path::Component;
    let parts: Vec<&std::ffi::OsStr> = path
        .components()
        .map(|c| match c {
            Component::Normal(n) => Ok(n),
            _ => Err(Errno::EXDEV),
        })
        .collect::<Result<_, _>>()?;
    let Some((last, dirs)) = parts.split_last() else {
        return Err(Errno::ENOENT);
    };
    let walk = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let mut cur: Option<OwnedFd> = None;
    for d in dirs {
        let at = cur.as_ref().map_or(dir, |f| std::os::fd::AsFd::as_fd(f));
        cur = Some(openat_owned(at, *d, walk, nix::sys::stat::Mode::empty())?);
    }
    let at = cur.as_ref().map_or(dir, |f| std::os::fd::AsFd::as_fd(f));
    openat_owned(at, *last, flags, mode)
}

/// Gives the calling thread — only it — the file-system identity of `uid`/`gid` with no
/// supplementary groups, so that what it opens afterwards is checked against that user's
/// rights: the kernel clears the file capabilities (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH,
/// CAP_FOWNER, ...) from the effective set when the fsuid leaves 0 (capabilities(7)). The raw
/// system calls matter: glibc's `setgroups` would change every thread of the process. Meant
/// for a short-lived thread that exits afterwards; needs CAP_SETUID and CAP_SETGID.
pub fn set_thread_fs_identity(uid: u32, gid: u32) -> Result<(), Errno> {
    // SAFETY: setgroups with a size of 0 reads no memory; the raw call changes the calling
    // thread's credentials only.
    let r = unsafe { libc::syscall(libc::SYS_setgroups, 0usize, std::ptr::null::<libc::gid_t>()) };
    Errno::result(r)?;
    // setfsuid/setfsgid return the previous value and never fail visibly: set, then check
    // that a second call reports the new value.
    for (set, want) in [(libc::SYS_setfsgid, gid), (libc::SYS_setfsuid, uid)] {
        // SAFETY: plain integer arguments; affects the calling thread only.
        unsafe { libc::syscall(set, want) };
        // SAFETY: as above.
        let now = unsafe { libc::syscall(set, want) };
        if now as u32 != want {
            return Err(Errno::EPERM);
        }
    }
    Ok(())
}

/// Most descriptors [`recvmsg_fds`] takes from one message; more truncate it (`ctrunc`).
pub const MAX_RECV_FDS: usize = 8;

/// What one [`recvmsg_fds`] received.
pub struct Received {
    pub bytes: usize,
    /// Descriptors that came with the message (`SCM_RIGHTS`), close-on-exec, owned.
    pub fds: Vec<OwnedFd>,
    /// The control data was truncated (more than [`MAX_RECV_FDS`] descriptors were sent).
    pub ctrunc: bool,
}

/// `recvmsg(2)` with `MSG_CMSG_CLOEXEC` into `iov`, taking ownership of the descriptors that
/// came with the message. Retries on EINTR.
pub fn recvmsg_fds(
    sock: BorrowedFd<'_>,
    iov: &mut [io::IoSliceMut<'_>],
) -> Result<Received, Errno> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let mut cmsg_buf = nix::cmsg_space!([RawFd; MAX_RECV_FDS]);
    let msg = loop {
        match recvmsg::<()>(
            sock.as_raw_fd(),
            iov,
            Some(&mut cmsg_buf),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Ok(m) => break m,
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
        }
    };
    let mut fds = Vec::new();
    // Take ownership first, so that every descriptor is closed on any later error.
    if let Ok(cmsgs) = msg.cmsgs() {
        for c in cmsgs {
            if let ControlMessageOwned::ScmRights(raw) = c {
                for fd in raw {
                    // SAFETY: SCM_RIGHTS installed `fd` in our table for this message; nothing
                    // else knows it, so the OwnedFd is its only owner.
                    fds.push(unsafe { OwnedFd::from_raw_fd(fd) });
                }
            }
        }
    }
    Ok(Received {
        bytes: msg.bytes,
        fds,
        ctrunc: msg.flags.contains(MsgFlags::MSG_CTRUNC),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn child_stack_has_a_guard_page_below() {
        let mut s = ChildStack::new(64 << 10).unwrap();
        let top = s.top() as usize;
        assert!(top > s.base as usize);
        // The lowest page of the mapping is listed without any access rights.
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let start = format!("{:x}-", s.base as usize);
        let line = maps
            .lines()
            .find(|l| l.starts_with(&start))
            .expect("mapping listed");
        assert!(line.contains(" ---p "), "guard page not PROT_NONE: {line}");
    }

    #[test]
    fn clone_thread_clones_children_this_process_reaps() {
        use std::sync::atomic::{AtomicI32, Ordering};
        use std::sync::Arc;
        let gettid = || nix::unistd::gettid().as_raw();
        let setup_tid = Arc::new(AtomicI32::new(0));
        let seen = setup_tid.clone();
        let t = CloneThread::start(move || {
            seen.store(gettid(), Ordering::SeqCst);
            Ok(())
        })
        .unwrap();
        let helper = setup_tid.load(Ordering::SeqCst);
        assert!(
            helper > 0 && helper != gettid(),
            "setup ran on its own thread"
        );
        let mut stack = ChildStack::new(64 << 10).unwrap();
        for code in [7, 9] {
            let mut f = AsyncSignalSafe::promise(|| code);
            let (pid, pidfd) = t.clone_vm_vfork_pidfd(&mut stack, &mut f).unwrap();
            // The child of the helper thread is this process's: reaped from the test's thread.
            let w = wait4(pid.as_raw(), 0).unwrap().expect("reaped");
            assert_eq!(w.exited(), Some(code));
            assert!(pidfd_send_signal(std::os::fd::AsFd::as_fd(&pidfd), 0).is_err());
        }
        let failed = CloneThread::start(|| Err(io::Error::other("no cgroup here")));
        assert_eq!(failed.err().unwrap().to_string(), "no cgroup here");
    }

    #[test]
    fn single_threaded_proof_counts_threads() {
        // The test harness runs tests on threads of a multi-threaded process.
        if thread_count().unwrap() > 1 {
            assert!(SingleThreaded::check().is_err());
        }
    }

    #[test]
    fn beneath_opens_refuse_links_and_escapes_with_and_without_openat2() {
        use nix::fcntl::OFlag;
        use nix::sys::stat::Mode;
        use std::path::Path;
        let d = std::env::temp_dir().join(format!("sys-beneath-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("a/b")).unwrap();
        std::fs::write(d.join("a/b/f"), b"x").unwrap();
        std::os::unix::fs::symlink(d.join("a"), d.join("link")).unwrap();
        std::os::unix::fs::symlink("b", d.join("a/rel")).unwrap();
        let dir = std::fs::File::open(&d).unwrap();
        let fd = std::os::fd::AsFd::as_fd(&dir);
        let (r, m) = (OFlag::O_RDONLY, Mode::empty());
        type Open = fn(BorrowedFd<'_>, &Path, OFlag, Mode) -> Result<OwnedFd, Errno>;
        // openat2 itself (ENOSYS on kernels before 5.6 falls back), and the fallback walk.
        for (name, open) in [
            ("openat2", openat2_beneath as Open),
            ("walk", openat_walk_nofollow as Open),
        ] {
            assert!(open(fd, Path::new("a/b/f"), r, m).is_ok(), "{name}");
            for bad in ["link/b/f", "a/rel/f", "../x", "/etc/passwd", "a/../../x"] {
                assert!(
                    open(fd, Path::new(bad), r, m).is_err(),
                    "{name}: {bad} opened"
                );
            }
        }
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn recvmsg_fds_owns_what_arrives() {
        use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
        use std::os::fd::AsFd;
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let devnull = std::fs::File::open("/dev/null").unwrap();
        let raw = [devnull.as_raw_fd()];
        let iov = [io::IoSlice::new(b"x")];
        sendmsg::<()>(
            a.as_raw_fd(),
            &iov,
            &[ControlMessage::ScmRights(&raw)],
            MsgFlags::empty(),
            None,
        )
        .unwrap();
        let mut buf = [0u8; 4];
        let mut iov = [io::IoSliceMut::new(&mut buf)];
        let r = recvmsg_fds(b.as_fd(), &mut iov).unwrap();
        assert_eq!(r.bytes, 1);
        assert_eq!(r.fds.len(), 1);
        assert!(!r.ctrunc);
    }
}

//! Support for the spawn benchmarks (`benches/spawn.rs`): the floor's no-op program, a raw
//! `vfork`+`execveat`+`wait4` through the workspace's audited syscall layer, one long-lived
//! zygote per tier, scheduler executors for the throughput runs, and per-case statistics.
//!
//! Nothing here uses `unsafe`: the raw spawn goes through `hatchery_sys::clone_vm_vfork`, the
//! zygote's primitive without the pidfd, on the same guarded stack.

use std::ffi::{CString, OsString};
use std::os::fd::{AsRawFd as _, OwnedFd};
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hatchery_engine::{
    ExecError, ExecSettings, Executor, Interrupt, Options, Pool, Reporter, RunSpec,
    SandboxExecutor, Unit,
};
use hatchery_report::{CaseResult, Enforcement, Event, Limits, Outcome};
use hatchery_sandbox::policy::CgroupMode;
use hatchery_sandbox::{CaseSpec, Sandbox, SandboxConfig, SeccompProfile, Tier};
use hatchery_sys::CStrArray;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

/// The static no-libc no-op built by `build.rs` (`_start` calls `exit_group(0)`).
pub fn noop() -> Result<PathBuf, String> {
    let p = env!("HATCHERY_BENCH_NOOP");
    if p.is_empty() {
        return Err("the no-op was not built: gcc is missing (see the build warning)".into());
    }
    Ok(PathBuf::from(p))
}

/// `target/` of this build, from the bench executable (`target/<profile>/deps/spawn-*`).
pub fn target_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    Some(exe.parent()?.parent()?.parent()?.to_path_buf())
}

/// The zygote executable: `$HATCHERY_BIN`, else the `hatchery` binary of the same profile as
/// this benchmark (`cargo build --release -p hatchery` first).
pub fn hatchery_bin() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("HATCHERY_BIN") {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!("HATCHERY_BIN={} is not a file", p.display()))
        };
    }
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or("cannot locate the target directory")?;
    let p = profile_dir.join("hatchery");
    if p.is_file() {
        Ok(p)
    } else {
        Err(format!(
            "{} not found: run `cargo build --release -p hatchery` first or set HATCHERY_BIN",
            p.display()
        ))
    }
}

/// First executable called `name` in `PATH`.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| nix::unistd::access(p.as_path(), nix::unistd::AccessFlags::X_OK).is_ok())
}

fn cstr(s: &[u8]) -> CString {
    CString::new(s).expect("no NUL in arguments")
}

/// A program prepared for the floor: pinned by an `O_PATH` descriptor, argv and envp built,
/// a private child stack. Each thread needs its own.
pub struct Prog {
    fd: OwnedFd,
    argv: CStrArray,
    envp: CStrArray,
    stack: hatchery_sys::ChildStack,
}

impl Prog {
    /// `argv[0]` is `path`; the environment is empty.
    pub fn new(path: &Path, args: &[&str]) -> Result<Prog, String> {
        let fd = hatchery_sys::open_owned(path, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
            .map_err(|e| format!("open {}: {e}", path.display()))?;
        let mut argv = vec![cstr(path.as_os_str().as_bytes())];
        argv.extend(args.iter().map(|a| cstr(a.as_bytes())));
        Ok(Prog {
            fd,
            argv: CStrArray::new(argv),
            envp: CStrArray::new(Vec::new()),
            stack: hatchery_sys::ChildStack::new(64 << 10)
                .map_err(|e| format!("child stack: {e}"))?,
        })
    }

    /// One `clone(CLONE_VM|CLONE_VFORK)` + `execveat(fd)` + `wait4(pid)`: the floor. Fails
    /// unless the program exits 0.
    pub fn vfork_exec_wait(&mut self) -> Result<(), String> {
        let (fd, argv, envp) = (self.fd.as_raw_fd(), &self.argv, &self.envp);
        // Between clone and exec: one system call and a constant, no allocation, no lock.
        let mut child = hatchery_sys::AsyncSignalSafe::promise(|| {
            let _ = hatchery_sys::execveat_fd(fd, argv, envp);
            127
        });
        let pid = hatchery_sys::clone_vm_vfork(&mut self.stack, &mut child)
            .map_err(|e| format!("clone: {e}"))?;
        let w = hatchery_sys::wait4(pid.as_raw(), 0)
            .map_err(|e| format!("wait4: {e}"))?
            .ok_or("wait4 returned nothing")?;
        match w.exited() {
            Some(0) => Ok(()),
            _ => Err(format!("child ended with wait status {:#x}", w.status)),
        }
    }
}

/// `std::process::Command::spawn` + `wait`. Without `pre_exec`, uid/gid changes or a `PATH`
/// lookup, std (glibc) starts the child with `posix_spawn`, which is
/// `clone(CLONE_VM|CLONE_VFORK)` on a private stack plus signal-disposition resets.
pub fn std_spawn_wait(path: &Path, args: &[&str]) -> Result<(), String> {
    let st = std::process::Command::new(path)
        .args(args)
        .env_clear()
        .status()
        .map_err(|e| format!("spawn {}: {e}", path.display()))?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("{} {args:?}: {st}", path.display()))
    }
}

/// `fork` + `execvp` + `wait` through std: setting `PATH` in the child's environment and
/// naming the program without a slash makes std take its fork path (posix_spawn cannot do the
/// lookup in the child's `PATH`); std also reads a close-on-exec error pipe.
pub fn std_fork_exec_wait(dir: &Path, name: &str) -> Result<(), String> {
    let st = std::process::Command::new(name)
        .env_clear()
        .env("PATH", dir)
        .status()
        .map_err(|e| format!("spawn {name}: {e}"))?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("{name}: {st}"))
    }
}

/// Pins the calling thread to `cpu` (children inherit it); returns the previous mask.
pub fn pin_current_thread(cpu: usize) -> Result<nix::sched::CpuSet, String> {
    use nix::sched::{sched_getaffinity, sched_setaffinity, CpuSet};
    let me = nix::unistd::Pid::from_raw(0);
    let old = sched_getaffinity(me).map_err(|e| format!("sched_getaffinity: {e}"))?;
    let mut one = CpuSet::new();
    one.set(cpu).map_err(|e| format!("cpu {cpu}: {e}"))?;
    sched_setaffinity(me, &one).map_err(|e| format!("sched_setaffinity: {e}"))?;
    Ok(old)
}

/// Restores a mask returned by [`pin_current_thread`].
pub fn restore_affinity(old: &nix::sched::CpuSet) {
    let _ = nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), old);
}

/// The last CPU this thread may run on (the one criterion's own thread is least likely on).
pub fn last_allowed_cpu() -> usize {
    let set = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)).ok();
    (0..nix::sched::CpuSet::count())
        .rev()
        .find(|&c| set.as_ref().is_some_and(|s| s.is_set(c).unwrap_or(false)))
        .unwrap_or(0)
}

/// A zygote of `tier` with the cgroup required (falls back to `auto` and says so when the
/// host has none). Each gets its own cgroup slot.
pub fn start_sandbox(tier: Tier, exe: &Path) -> Result<(Sandbox, String), String> {
    start_sandbox_with(tier, exe, |_| {})
}

/// Like [`start_sandbox`], with `adjust` applied to the configuration (cgroup `off` set there
/// is kept as is).
pub fn start_sandbox_with(
    tier: Tier,
    exe: &Path,
    adjust: impl FnOnce(&mut SandboxConfig),
) -> Result<(Sandbox, String), String> {
    let mut cfg = SandboxConfig::new(tier, exe.to_path_buf());
    cfg.cgroup = CgroupMode::Required;
    adjust(&mut cfg);
    let sb = match Sandbox::start(cfg.clone()) {
        Ok(sb) => sb,
        Err(e) if cfg.cgroup == CgroupMode::Required => {
            eprintln!("hatchery {tier:?}: no cgroup ({e}); retrying with cgroup auto");
            cfg.cgroup = CgroupMode::Auto;
            Sandbox::start(cfg).map_err(|e| format!("cannot start a {tier:?} zygote: {e}"))?
        }
        Err(e) => return Err(format!("cannot start a {tier:?} zygote: {e}")),
    };
    let cg = sb
        .enforcement()
        .get("cgroup_memory")
        .map_or_else(|| "none".to_owned(), |l| l.mechanism.clone());
    Ok((sb, cg))
}

/// The limits `hatchery run` uses by default (output capped at 64 MiB, nothing else).
pub fn default_limits() -> Limits {
    Limits {
        output_bytes: Some(64 << 20),
        ..Limits::default()
    }
}

/// A case running `program` with no arguments in `/`, default seccomp profile, default limits.
pub fn case_spec(program: &Path) -> CaseSpec {
    let mut spec = CaseSpec::new(vec![OsString::from(program)]);
    spec.cwd = PathBuf::from("/");
    spec.limits = default_limits();
    spec.seccomp = SeccompProfile::Default;
    spec
}

/// One case end to end on a warm zygote: `prepare` (resolve, pin, build the request) and
/// `run` (round trip, per-case layers, exec, wait, measurement, cleanup, decision). Returns
/// the case's wall time as the zygote measured it (clone of the case to its exit), µs.
pub fn run_case(sb: &mut Sandbox, spec: &CaseSpec) -> Result<u64, String> {
    let p = sb.prepare(spec).map_err(|e| format!("prepare: {e}"))?;
    let r = sb.run(p).map_err(|e| hatchery_report::error_chain(&e))?;
    check(&r).map(|()| r.usage.wall_us)
}

/// Only the supervisor's `prepare` of a case (resolve, open and check the program, build the
/// request); the prepared case is dropped unrun.
pub fn prepare_only(sb: &Sandbox, spec: &CaseSpec) -> Result<(), String> {
    sb.prepare(spec)
        .map(drop)
        .map_err(|e| format!("prepare: {e}"))
}

fn check(r: &CaseResult) -> Result<(), String> {
    if r.outcome == Outcome::Ok {
        Ok(())
    } else {
        Err(format!("case outcome {}: {}", r.outcome, r.reason))
    }
}

/// `n` units running `program` in `/`, as `hatchery batch` makes them of a jobs file.
pub fn units(program: &Path, n: usize) -> Vec<Unit> {
    (0..n)
        .map(|i| Unit::new(format!("c{i}"), case_spec(program), Tier::Hardened))
        .collect()
}

/// `units` with every unit on `tier`.
pub fn on_tier(units: &[Unit], tier: Tier) -> Vec<Unit> {
    units.iter().map(|u| Unit { tier, ..u.clone() }).collect()
}

/// The engine's pool of `n` sandbox executors, each with its zygote for `tier` started (warm,
/// as in a long batch), pinned like `hatchery batch` pins `n` workers (or not).
pub fn sandbox_pool(
    tier: Tier,
    exe: &Path,
    n: usize,
    pinned: bool,
) -> Result<Pool<SandboxExecutor>, String> {
    let mut settings = ExecSettings::new(exe.to_path_buf());
    settings.cgroup = CgroupMode::Required;
    let pool = Pool::sandboxed(settings, n, pinned);
    for w in 0..n {
        pool.worker(w)
            .enforcement(tier, hatchery_engine::Network::Off)
            .map_err(|e| {
                format!(
                    "cannot start a {tier:?} zygote: {}",
                    hatchery_report::error_chain(&e)
                )
            })?;
    }
    Ok(pool)
}

/// Executor without a sandbox: each case is a bare vfork+exec+wait of the job's program, so
/// the scheduler's own cost per case shows next to the bare loop.
pub struct BareExec {
    prog: Prog,
}

impl Executor for BareExec {
    fn run(&mut self, spec: &CaseSpec, _tier: Tier) -> Result<CaseResult, ExecError> {
        let facts = match self.prog.vfork_exec_wait() {
            Ok(()) => hatchery_report::RawFacts {
                termination: Some(hatchery_report::Termination::Exited(0)),
                ..Default::default()
            },
            Err(e) => hatchery_report::RawFacts {
                error: Some(e),
                ..Default::default()
            },
        };
        Ok(hatchery_report::decide(
            facts,
            &spec.limits,
            "bare",
            Enforcement::new(),
        ))
    }
    fn interrupt_handle(&self) -> Interrupt {
        Arc::new(|| {})
    }
}

/// A pool of `n` [`BareExec`]s for `program`.
pub fn bare_pool(program: &Path, n: usize) -> Result<Pool<BareExec>, String> {
    Ok(Pool::new(
        (0..n)
            .map(|_| {
                Ok(BareExec {
                    prog: Prog::new(program, &[])?,
                })
            })
            .collect::<Result<Vec<_>, String>>()?,
    ))
}

struct NullReporter;

impl Reporter for NullReporter {
    fn event(&mut self, _e: &Event) {}
}

/// Runs `units` through the engine's dispatcher on `workers` workers of `pool`; returns the
/// wall time of the whole run and fails unless every case passed.
pub fn dispatch<E: Executor>(
    pool: &Pool<E>,
    units: &[Unit],
    workers: usize,
) -> Result<Duration, String> {
    let opts = Options {
        workers,
        ..Default::default()
    };
    let cancel = AtomicBool::new(false);
    let t = Instant::now();
    let rf = hatchery_engine::run(
        pool,
        units,
        &RunSpec,
        &opts,
        None,
        None,
        &cancel,
        &mut NullReporter,
    );
    let d = t.elapsed();
    if rf.passed != units.len() as u64 {
        return Err(format!(
            "{} of {} cases passed (outcomes {:?}, worker errors {:?})",
            rf.passed,
            units.len(),
            rf.outcomes,
            rf.worker_errors
        ));
    }
    Ok(d)
}

/// `n` bare vfork+exec+wait cases of `program` shared by `threads` threads (each with its own
/// stack and descriptor), taken from one counter like the scheduler does; wall time of all.
pub fn bare_loop(program: &Path, n: usize, threads: usize) -> Result<Duration, String> {
    let mut progs = (0..threads)
        .map(|_| Prog::new(program, &[]))
        .collect::<Result<Vec<_>, _>>()?;
    let next = AtomicUsize::new(0);
    let t = Instant::now();
    let results: Vec<Result<(), String>> = std::thread::scope(|s| {
        let handles: Vec<_> = progs
            .iter_mut()
            .map(|p| {
                let next = &next;
                s.spawn(move || {
                    while next.fetch_add(1, Ordering::Relaxed) < n {
                        p.vfork_exec_wait()?;
                    }
                    Ok(())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("thread panicked".into())))
            .collect()
    });
    let d = t.elapsed();
    results.into_iter().collect::<Result<(), String>>()?;
    Ok(d)
}

/// Order statistics of per-case timings (nanoseconds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    pub n: usize,
    pub min: f64,
    pub median: f64,
    pub mean: f64,
    pub p99: f64,
    pub max: f64,
}

/// Nearest-rank statistics of `v` (sorted in place). `None` when empty.
pub fn stats(v: &mut [u64]) -> Option<Stats> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    let n = v.len();
    let rank = |q: f64| v[((q * n as f64).ceil() as usize).clamp(1, n) - 1] as f64;
    Some(Stats {
        n,
        min: v[0] as f64,
        median: rank(0.5),
        mean: v.iter().map(|&x| x as f64).sum::<f64>() / n as f64,
        p99: rank(0.99),
        max: v[n - 1] as f64,
    })
}

/// CPU accounting snapshot, to tell how busy the rest of the machine was while one benchmark
/// ran: the host's busy and steal time (`/proc/stat`) minus what this benchmark used, which
/// is this process and its reaped children (`getrusage`) plus every process in its memory
/// cgroup or below (the zygotes, which reap the cases; read from `/proc`). Take the snapshots
/// while the zygotes are alive.
#[derive(Debug, Clone)]
pub struct CpuMeter {
    at: Instant,
    busy_s: f64,
    steal_s: f64,
    rusage_s: f64,
    /// pid → (utime+stime+cutime+cstime ticks, ppid) of the other processes of our cgroup.
    procs: std::collections::HashMap<u32, (u64, u32)>,
}

/// What happened between two [`CpuMeter`] snapshots.
#[derive(Debug, Clone, Copy)]
pub struct CpuUse {
    pub wall_s: f64,
    /// CPU-seconds the whole host was busy.
    pub busy_s: f64,
    /// CPU-seconds this benchmark used (its process, children, zygotes and cases).
    pub own_s: f64,
    /// CPU-seconds the hypervisor ran something else while this VM wanted to run.
    pub steal_s: f64,
}

impl CpuUse {
    /// CPU-seconds used by everything else (other workloads, daemons, kernel threads).
    pub fn foreign_s(&self) -> f64 {
        (self.busy_s - self.own_s).max(0.0)
    }
}

fn memcg(pid: &str) -> Option<String> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    s.lines()
        .find_map(|l| l.split_once(":memory:").map(|(_, p)| p.to_owned()))
        .or_else(|| {
            s.lines()
                .find_map(|l| l.strip_prefix("0::").map(str::to_owned))
        })
}

/// (utime + stime + cutime + cstime in clock ticks, ppid) of a process.
fn ticks(pid: &str) -> Option<(u64, u32)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let f: Vec<&str> = s.get(s.rfind(')')? + 2..)?.split_whitespace().collect();
    // Fields after the command name start at field 3 (state): ppid is field 4, utime 14.
    let ppid = f.get(1)?.parse().ok()?;
    Some((
        (11..=14)
            .filter_map(|i| f.get(i)?.parse::<u64>().ok())
            .sum(),
        ppid,
    ))
}

impl CpuMeter {
    pub fn now() -> CpuMeter {
        use nix::sys::resource::{getrusage, UsageWho};
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let f: Vec<f64> = stat
            .lines()
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .skip(1)
            .map(|x| x.parse().unwrap_or(0.0) / 100.0) // USER_HZ
            .collect();
        let get = |i: usize| f.get(i).copied().unwrap_or(0.0);
        let tv = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
        let rusage_s = [UsageWho::RUSAGE_SELF, UsageWho::RUSAGE_CHILDREN]
            .into_iter()
            .filter_map(|w| getrusage(w).ok())
            .map(|u| tv(u.user_time()) + tv(u.system_time()))
            .sum();
        let me = std::process::id();
        let procs = match memcg("self").filter(|p| p != "/") {
            Some(own) => std::fs::read_dir("/proc")
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|e| {
                    let name = e.file_name().into_string().ok()?;
                    let pid: u32 = name.parse().ok()?;
                    let cg = memcg(&name)?;
                    if pid == me || !(cg == own || cg.starts_with(&format!("{own}/"))) {
                        return None;
                    }
                    Some((pid, ticks(&name)?))
                })
                .collect(),
            None => Default::default(),
        };
        CpuMeter {
            at: Instant::now(),
            // user nice system idle iowait irq softirq steal
            busy_s: get(0) + get(1) + get(2) + get(5) + get(6),
            steal_s: get(7),
            rusage_s,
            procs,
        }
    }

    pub fn since(&self, earlier: &CpuMeter) -> CpuUse {
        let (now, then) = (&self.procs, &earlier.procs);
        let grown: u64 = now
            .iter()
            .map(|(pid, (t, _))| t.saturating_sub(then.get(pid).map_or(0, |x| x.0)))
            .sum();
        // A process gone since and reaped by us or by a process we still see: its whole life
        // is in that parent's figures now; take away the part already counted before.
        let me = std::process::id();
        let before: u64 = then
            .iter()
            .filter(|(pid, (_, pp))| !now.contains_key(pid) && (*pp == me || now.contains_key(pp)))
            .map(|(_, (t, _))| *t)
            .sum();
        CpuUse {
            wall_s: self.at.duration_since(earlier.at).as_secs_f64(),
            busy_s: self.busy_s - earlier.busy_s,
            own_s: self.rusage_s - earlier.rusage_s + grown.saturating_sub(before) as f64 / 100.0,
            steal_s: self.steal_s - earlier.steal_s,
        }
    }
}

/// `/proc/loadavg` (1, 5 and 15 minutes, running/total tasks).
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// Host facts for the report: kernel release, usable CPUs, cgroup layout, CPU model.
pub fn host_summary() -> Vec<(&'static str, String)> {
    let kernel = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let v2_root = mounts
        .lines()
        .any(|l| l.split_whitespace().nth(1) == Some("/sys/fs/cgroup") && l.contains(" cgroup2 "));
    let v1 = mounts.lines().any(|l| l.contains(" cgroup "));
    let cgroup = match (v2_root, v1) {
        (true, _) => "v2 (unified)".to_owned(),
        (false, true) => "v1 controllers (hybrid: v2 mounted without controllers)".to_owned(),
        (false, false) => "none".to_owned(),
    };
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_default();
    vec![
        ("kernel", kernel),
        ("cpus", cpus.to_string()),
        ("cgroup", cgroup),
        ("cpu model", model),
        ("euid", nix::unistd::geteuid().to_string()),
        ("load average at end", loadavg()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut v: Vec<u64> = (1..=100).rev().collect();
        let s = stats(&mut v).expect("non-empty");
        assert_eq!((s.min, s.median, s.p99, s.max), (1.0, 50.0, 99.0, 100.0));
        assert!(stats(&mut []).is_none());
    }
}

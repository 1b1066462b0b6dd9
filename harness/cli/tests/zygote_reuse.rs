//! Consecutive cases on one zygote: nothing of one case reaches the next (SysV IPC objects,
//! /tmp and /dev/shm files, processes), and the zygote keeps serving.

mod common;
use common::*;

use std::ffi::OsString;

use hatchery_sandbox::{CaseSpec, Sandbox, SandboxConfig, Tier};

fn spec(argv: &[&str]) -> CaseSpec {
    let mut s = CaseSpec::new(argv.iter().map(OsString::from).collect());
    s.cwd = "/".into();
    s
}

fn start(t: Tier) -> Sandbox {
    Sandbox::start(SandboxConfig::new(t, hatchery_bin())).expect("zygote starts")
}

fn run_on(sb: &mut Sandbox, argv: &[&str]) -> hatchery_report::CaseResult {
    let prepared = sb.prepare(&spec(argv)).expect("valid case");
    sb.run(prepared).expect("the zygote answers")
}

/// Pid of the zygote of a namespaced sandbox: the launcher's only child.
fn zygote_of(sb: &Sandbox) -> u32 {
    let launcher = sb.launcher_pid();
    std::fs::read_to_string(format!("/proc/{launcher}/task/{launcher}/children"))
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

fn text(r: &hatchery_report::CaseResult) -> String {
    String::from_utf8_lossy(&r.stdout.data).into_owned()
}

#[test]
fn sysv_ipc_objects_do_not_reach_the_next_case() {
    let sysv = prog("sysv");
    for t in [Tier::Hardened, Tier::Lockdown] {
        if !tier_ok(t.as_str()) {
            continue;
        }
        let mut sb = start(t);
        let r = run_on(&mut sb, &[p(&sysv), "create"]);
        assert_eq!(r.outcome.as_str(), "ok", "{t:?}: {:?}", r);
        let r = run_on(&mut sb, &[p(&sysv), "check"]);
        assert_eq!(text(&r), "shm=0 msg=0 sem=0\n", "{t:?}");
    }
}

#[test]
fn posix_message_queues_do_not_reach_the_next_case() {
    let mq = prog("mqueue");
    for t in [Tier::Hardened, Tier::Lockdown] {
        if !tier_ok(t.as_str()) {
            continue;
        }
        let mut sb = start(t);
        let r = run_on(&mut sb, &[p(&mq), "create"]);
        assert_eq!(r.outcome.as_str(), "ok", "{t:?}: {r:?}");
        let r = run_on(&mut sb, &[p(&mq), "check"]);
        assert_eq!(text(&r), "absent\n", "{t:?}");
    }
}

#[test]
fn scratch_files_do_not_reach_the_next_case() {
    for t in [Tier::Hardened, Tier::Lockdown] {
        if !tier_ok(t.as_str()) {
            continue;
        }
        let mut sb = start(t);
        let r = run_on(
            &mut sb,
            &[
                "/bin/sh",
                "-c",
                "echo left > /tmp/leftover; mkdir /tmp/d; echo x > /dev/shm/s; chmod 000 /tmp/d",
            ],
        );
        assert_eq!(r.outcome.as_str(), "ok", "{t:?}: {r:?}");
        let r = run_on(&mut sb, &["/bin/sh", "-c", "ls -A /tmp /dev/shm"]);
        assert_eq!(text(&r), "/dev/shm:\n\n/tmp:\n", "{t:?}");
    }
}

#[test]
fn processes_do_not_reach_the_next_case() {
    let daemon = prog("daemon");
    for t in [Tier::None, Tier::Hardened, Tier::Lockdown] {
        if !tier_ok(t.as_str()) {
            continue;
        }
        let mut sb = start(t);
        let marker = format!("hatchery-reuse-{}-{}", t.as_str(), std::process::id());
        let r = run_on(&mut sb, &[p(&daemon), &marker]);
        assert_eq!(r.outcome.as_str(), "ok");
        assert!(
            processes_with(&marker).is_empty(),
            "{t:?}: leftover survived the case"
        );
        if t != Tier::None {
            let r = run_on(&mut sb, &["/bin/sh", "-c", "ls /proc | grep -c '^[0-9]'"]);
            assert!(
                text(&r).trim().parse::<u32>().unwrap() <= 4,
                "{t:?}: {}",
                text(&r)
            );
        }
    }
}

#[test]
fn output_of_a_leftover_does_not_reach_the_next_case() {
    // The output pipes are kept across cases: a process that outlives its case, writing or
    // blocked on a full pipe, must leave nothing for the next case to read.
    for t in [Tier::None, Tier::Hardened, Tier::Lockdown] {
        if !tier_ok(t.as_str()) {
            continue;
        }
        let mut sb = start(t);
        let r = run_on(
            &mut sb,
            &[
                "/bin/sh",
                "-c",
                "(while :; do echo LEAK; echo LEAK >&2; done) & \
                 head -c 200000 /dev/zero | tr '\\0' x & sleep 0.05; echo first",
            ],
        );
        assert_eq!(r.outcome.as_str(), "ok", "{t:?}: {r:?}");
        assert!(r.leftover_processes >= 1, "{t:?}: {r:?}");
        for _ in 0..3 {
            let r = run_on(&mut sb, &["/bin/sh", "-c", "echo clean; echo quiet >&2"]);
            assert_eq!(text(&r), "clean\n", "{t:?}");
            assert_eq!(String::from_utf8_lossy(&r.stderr.data), "quiet\n", "{t:?}");
        }
    }
}

#[test]
fn a_zygote_serves_many_cases() {
    for t in [Tier::None, Tier::Hardened, Tier::Lockdown] {
        if !tier_ok(t.as_str()) {
            continue;
        }
        let mut sb = start(t);
        let pid = sb.launcher_pid();
        let mut after_warmup = 0;
        for i in 0..300 {
            let r = run_on(&mut sb, &["/bin/true"]);
            assert_eq!(r.outcome.as_str(), "ok", "{t:?} case {i}: {r:?}");
            if i == 10 {
                after_warmup = fd_count(pid);
            }
        }
        // The launcher's (for tier none: the zygote's) descriptors stay flat.
        assert_eq!(fd_count(pid), after_warmup, "{t:?}");
    }
}

fn status_kib(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn zombies_of(pid: u32) -> usize {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter(|c| {
            std::fs::read_to_string(format!("/proc/{c}/stat"))
                .map(|s| {
                    s.rsplit(')')
                        .next()
                        .unwrap_or("")
                        .trim_start()
                        .starts_with('Z')
                })
                .unwrap_or(false)
        })
        .count()
}

/// Soak, short form by default (HATCHERY_SOAK_CASES sets the count; 100000 for the long
/// form): descriptors, memory and zombies of the supervisor and the zygote stay flat.
#[test]
fn soak_resources_stay_flat() {
    if !tier_ok("hardened") {
        return;
    }
    let n: usize = std::env::var("HATCHERY_SOAK_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    let mut sb = start(Tier::Hardened);
    let me = std::process::id();
    let zygote = zygote_of(&sb);
    let warm = 200.min(n / 2);
    let mut base = None;
    for i in 0..n {
        let r = run_on(
            &mut sb,
            &["/bin/sh", "-c", "echo x > /tmp/f; (sleep 100 &) ; exit 0"],
        );
        assert_eq!(r.outcome.as_str(), "ok", "case {i}: {r:?}");
        if i == warm {
            base = Some((fd_count(me), status_kib(zygote, "VmRSS:"), fd_count(zygote)));
        }
    }
    let (fds0, rss0, zfds0) = base.unwrap();
    let (fds1, rss1, zfds1) = (fd_count(me), status_kib(zygote, "VmRSS:"), fd_count(zygote));
    eprintln!(
        "soak {n} cases: supervisor fds {fds0}->{fds1}; zygote fds {zfds0}->{zfds1}, rss {rss0}->{rss1} KiB"
    );
    assert!(fds1 <= fds0 + 2, "supervisor fds grew {fds0}->{fds1}");
    assert_eq!(zfds0, zfds1, "zygote fds grew");
    assert!(rss1 <= rss0 + 1024, "zygote RSS grew {rss0}->{rss1} KiB");
    assert_eq!(zombies_of(zygote), 0);
    assert_eq!(zombies_of(me), 0);
}

/// A zygote outlives the thread that started it (it follows the supervisor process, not the
/// thread: PR_SET_PDEATHSIG alone would kill it when that thread ends).
#[test]
fn a_zygote_outlives_the_thread_that_started_it() {
    for t in [Tier::None, Tier::Hardened] {
        if !tier_ok(t.as_str()) {
            continue;
        }
        let mut sb = std::thread::spawn(move || start(t)).join().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(100));
        let r = run_on(&mut sb, &["/bin/true"]);
        assert_eq!(r.outcome.as_str(), "ok", "{t:?}: {r:?}");
    }
}

/// A zygote that stops answering (here: stopped by a signal) is declared hung a few seconds
/// after the case's time limit, blamed on the sandbox (never the program), and torn down.
#[test]
fn a_hung_zygote_is_detected_and_torn_down() {
    if !tier_ok("hardened") {
        return;
    }
    let mut sb = start(Tier::Hardened);
    let zygote = zygote_of(&sb);
    let r = run_on(&mut sb, &["/bin/true"]);
    assert_eq!(r.outcome.as_str(), "ok", "{r:?}");
    let pidfd = pidfd_of(zygote);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(zygote as i32),
        nix::sys::signal::Signal::SIGSTOP,
    )
    .unwrap();
    let mut s = spec(&["/bin/true"]);
    s.limits.wall_us = Some(100_000);
    let t = std::time::Instant::now();
    let prepared = sb.prepare(&s).expect("valid case");
    let r = sb.run(prepared);
    let took = t.elapsed();
    // A failure of the zygote, never a result of the program.
    assert!(
        matches!(r, Err(hatchery_sandbox::RunError::Hung { .. })),
        "{r:?}"
    );
    assert!(
        hatchery_report::error_chain(&r.unwrap_err()).contains("did not answer"),
        "the message says what happened"
    );
    assert!(
        took >= hatchery_sandbox::HANG_GRACE && took < hatchery_sandbox::HANG_GRACE * 3,
        "declared hung after {took:?}"
    );
    assert!(!sb.is_healthy());
    // The stopped zygote dies with its launcher.
    let mut fds = [nix::poll::PollFd::new(
        std::os::fd::AsFd::as_fd(&pidfd),
        nix::poll::PollFlags::POLLIN,
    )];
    let n = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(5000u16)).unwrap();
    assert_eq!(n, 1, "the hung zygote {zygote} is still alive");
    drop(sb);
}

fn pidfd_of(pid: u32) -> std::os::fd::OwnedFd {
    hatchery_sys::pidfd_open(nix::unistd::Pid::from_raw(pid as i32)).expect("pidfd_open")
}

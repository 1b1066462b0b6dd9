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
    sb.run(prepared)
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
fn a_zygote_serves_many_cases() {
    for t in [Tier::None, Tier::Hardened, Tier::Lockdown] {
        if !tier_ok(t.as_str()) {
            continue;
        }
        let mut sb = start(t);
        for i in 0..300 {
            let r = run_on(&mut sb, &["/bin/true"]);
            assert_eq!(r.outcome.as_str(), "ok", "{t:?} case {i}: {r:?}");
        }
        // The zygote's own descriptors stay flat.
        let pid = sb.launcher_pid();
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|d| d.count())
            .unwrap_or(0);
        assert!(fds < 16, "{t:?}: launcher holds {fds} descriptors");
    }
}

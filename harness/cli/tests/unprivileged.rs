//! The unprivileged path: hatchery started by a normal user (dropped with setpriv), where no
//! cgroup can be created and memory/pids/CPU fall back to rlimits, which the report says.

mod common;
use common::*;

use std::path::PathBuf;
use std::process::Command;

/// Copies the binary and a program into a directory a normal user can reach.
fn stage(progs: &[&str]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hatchery-unpriv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::copy(hatchery_bin(), dir.join("hatchery")).unwrap();
    for pr in progs {
        std::fs::copy(prog(pr), dir.join(pr)).unwrap();
    }
    dir
}

fn nobody_runs(dir: &std::path::Path, args: &[&str]) -> Run {
    let out = as_nobody(&dir.join("hatchery"))
        .args(args)
        .current_dir("/")
        .output()
        .expect("setpriv (util-linux) is needed");
    parse(out)
}

#[test]
fn unprivileged_runs_with_rlimit_fallbacks() {
    if !need(
        is_root(),
        "root, to drop to an unprivileged uid with setpriv",
    ) {
        return;
    }
    let dir = stage(&["spin", "crash"]);
    let spin = dir.join("spin");
    let crash = dir.join("crash");
    let tiers: Vec<&str> = if userns_unprivileged() {
        vec!["none", "hardened", "lockdown"]
    } else {
        need(false, "unprivileged user namespaces");
        vec!["none"]
    };
    for t in tiers {
        let r = nobody_runs(
            &dir,
            &["run", "--json", "--tier", t, "--", p(&crash), "exit", "3"],
        );
        assert_eq!(r.outcome(), "nonzero_exit", "{t}: {} {}", r.json, r.stderr);
        let e = &r.json["enforcement"];
        assert_eq!(e["cgroup_memory"]["level"], "partial", "{t}: {e}");
        assert_eq!(r.json["usage"]["memory_source"], "rusage");
        let r = nobody_runs(
            &dir,
            &[
                "run",
                "--json",
                "--tier",
                t,
                "--cpu-time",
                "1s",
                "--",
                p(&spin),
            ],
        );
        assert_eq!(r.outcome(), "time_limit", "{t}: {}", r.json);
        assert_eq!(r.limit(), Some("cpu"));
        let r = nobody_runs(
            &dir,
            &["run", "--json", "--tier", t, "--", "/usr/bin/id", "-u"],
        );
        if t != "none" {
            assert_eq!(r.stdout(), "1000\n", "{t}: uid inside the user namespace");
        }
        // Required cgroups fail with the documented code and a reason.
        let out = Command::new("setpriv")
            .args([
                "--reuid",
                "65534",
                "--regid",
                "65534",
                "--clear-groups",
                "--",
            ])
            .arg(dir.join("hatchery"))
            .args([
                "run",
                "--tier",
                t,
                "--cgroup",
                "required",
                "--",
                "/bin/true",
            ])
            .current_dir("/")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(6), "{t}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("cgroup"));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

//! The hostile conformance suite (`hatchery selftest`) in CI: as root, and as an unprivileged
//! user (uid 65534 through setpriv), where no cgroup is available and the rlimit fallbacks
//! and their documented expectations apply.

mod common;
use common::*;

use std::path::{Path, PathBuf};
use std::process::Command;

fn last_line(out: &[u8]) -> String {
    String::from_utf8_lossy(out)
        .lines()
        .last()
        .unwrap_or_default()
        .to_owned()
}

fn failures(out: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(out)
        .lines()
        .filter(|l| l.contains(" FAIL "))
        .map(str::to_owned)
        .collect()
}

#[test]
fn selftest_passes_as_root() {
    if !need(is_root(), "root (the unprivileged run is the other test)") || !tier_ok("hardened") {
        return;
    }
    let wd = prog_dir().join(format!("selftest-root-{}", std::process::id()));
    let out = Command::new(hatchery_bin())
        .arg("selftest")
        .arg("--workdir")
        .arg(&wd)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&wd);
    assert_eq!(out.status.code(), Some(0), "{:?}", failures(&out.stdout));
    let tail = last_line(&out.stdout);
    assert!(
        tail.ends_with("skipped") && tail.contains(" 0 failed"),
        "{tail}"
    );
    let passed: u32 = tail.split_whitespace().next().unwrap().parse().unwrap();
    assert!(passed >= 150, "{tail}");
}

/// Whether uid 65534 can reach `p` (search permission on every ancestor).
fn reachable_by_nobody(p: &Path) -> bool {
    as_nobody(Path::new("test"))
        .arg("-x")
        .arg(p)
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn selftest_passes_unprivileged() {
    if !need(
        is_root(),
        "root, to drop to an unprivileged uid with setpriv",
    ) {
        return;
    }
    // Not under /tmp or /var/tmp: the sandbox replaces those with private ones.
    let mut base = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    if !reachable_by_nobody(&base) {
        base = PathBuf::from("/var/lib");
    }
    let dir = base.join(format!("hatchery-selftest-unpriv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(hatchery_bin(), dir.join("hatchery")).unwrap();
    for p in [dir.as_path(), &dir.join("hatchery")] {
        std::os::unix::fs::chown(p, Some(65534), Some(65534)).unwrap();
    }
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
        .arg("selftest")
        .arg("--workdir")
        .arg(dir.join("wd"))
        .current_dir(&dir)
        .output()
        .expect("setpriv (util-linux)");
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{:?} {}",
        failures(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(last_line(&out.stdout).contains(" 0 failed"));
}

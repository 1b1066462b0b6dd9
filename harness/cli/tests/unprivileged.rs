//! The unprivileged path: hatchery started by a normal user (dropped with setpriv), where no
//! cgroup can be created and memory/pids/CPU fall back to rlimits, which the report says.

mod common;
use common::*;

use std::path::PathBuf;
use std::process::Command;

/// Copies the binary and the test programs into a directory a normal user can reach, once
/// per test process (tests run side by side: copying over a binary another test runs fails
/// with ETXTBSY), by a child process (see `write_executable`).
fn stage() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("hatchery-unpriv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let st = Command::new("cp")
            .arg(hatchery_bin())
            .arg(prog("spin"))
            .arg(prog("crash"))
            .arg(&dir)
            .status()
            .unwrap();
        assert!(st.success(), "cp into {}", dir.display());
        dir
    })
    .clone()
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
    let dir = stage();
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

/// The user's own files: a hardened case started by a normal user runs as that user, so
/// permissions alone would let it append to `~/.bashrc`; Landlock closes every path but its
/// scratch, device nodes and the directories `--writable` names. As root (cases run as a uid
/// of their own) a world-writable directory is closed the same way.
#[test]
fn cases_write_only_their_scratch_and_what_is_writable() {
    use std::os::unix::fs::PermissionsExt as _;
    if !need(
        is_root(),
        "root, to drop to an unprivileged uid with setpriv",
    ) || !need(
        hatchery_sys::landlock_abi_version().is_ok(),
        "Landlock in this kernel",
    ) {
        return;
    }
    let dir = stage();
    let home =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("ll-home-{}", std::process::id()));
    std::fs::create_dir_all(&home).unwrap();
    let bashrc = home.join(".bashrc");
    std::fs::write(&bashrc, "# mine\n").unwrap();
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::set_permissions(&bashrc, std::fs::Permissions::from_mode(0o666)).unwrap();
    std::os::unix::fs::chown(&home, Some(65534), Some(65534)).unwrap();
    std::os::unix::fs::chown(&bashrc, Some(65534), Some(65534)).unwrap();
    let attack = format!(
        "echo pwned >> {0}; echo new > {1}/new; echo ok > /tmp/scratch && echo x > /dev/null \
         && echo scratch-ok",
        p(&bashrc),
        p(&home)
    );
    let unprivileged = userns_unprivileged();
    need(unprivileged, "unprivileged user namespaces");
    for (who, tier) in [("root", "hardened"), ("nobody", "hardened")] {
        if who == "nobody" && !unprivileged {
            continue;
        }
        let go = |extra: &[&str]| {
            let mut args = vec!["run", "--json", "--tier", tier];
            args.extend_from_slice(extra);
            args.extend_from_slice(&["--", "/bin/sh", "-c", &attack]);
            let out = if who == "root" {
                Command::new(dir.join("hatchery"))
                    .args(&args)
                    .current_dir("/")
                    .output()
                    .unwrap()
            } else {
                as_nobody(&dir.join("hatchery"))
                    .args(&args)
                    .current_dir("/")
                    .output()
                    .unwrap()
            };
            parse(out)
        };
        let r = go(&[]);
        assert_eq!(r.stdout(), "scratch-ok\n", "{who} {tier}: {}", r.json);
        assert_eq!(
            std::fs::read_to_string(&bashrc).unwrap(),
            "# mine\n",
            "{who} {tier}: the case wrote the user's file"
        );
        assert!(!home.join("new").exists(), "{who} {tier}");
        let e = &r.json["enforcement"]["landlock"];
        assert_eq!(e["level"], "full", "{who} {tier}: {e}");
        // Named writable: written as permissions allow.
        let r = go(&["--writable", p(&home)]);
        assert_eq!(r.outcome(), "ok", "{who} {tier}: {}", r.json);
        assert!(std::fs::read_to_string(&bashrc).unwrap().contains("pwned"));
        assert!(home.join("new").exists(), "{who} {tier}");
        std::fs::write(&bashrc, "# mine\n").unwrap();
        std::fs::remove_file(home.join("new")).unwrap();
    }
    let _ = std::fs::remove_dir_all(&home);
}

/// Unix sockets reached by their path: a normal user's session bus and `systemd --user`
/// under `/run/user/<uid>` would let a case start programs outside the sandbox, and connecting
/// is not a write (the network namespace, read-only mounts and Landlock before ABI 9 do not
/// stop it). Tiers with a mount namespace cover the host's `/run`.
#[test]
fn host_sockets_under_run_are_out_of_reach() {
    use std::os::unix::fs::PermissionsExt as _;
    if !need(
        is_root(),
        "root, to make a socket under /run and drop to nobody",
    ) || !need(
        std::process::Command::new("python3")
            .arg("-c")
            .arg("pass")
            .status()
            .is_ok_and(|s| s.success()),
        "python3",
    ) {
        return;
    }
    let dir = stage();
    let run_user = PathBuf::from("/run/user");
    let made_run_user = !run_user.exists();
    let user_dir = run_user.join(format!("65534-hatchery-{}", std::process::id()));
    std::fs::create_dir_all(&user_dir).unwrap();
    std::os::unix::fs::chown(&user_dir, Some(65534), Some(65534)).unwrap();
    let bus = user_dir.join("bus");
    let listener = std::os::unix::net::UnixListener::bind(&bus).unwrap();
    std::fs::set_permissions(&bus, std::fs::Permissions::from_mode(0o777)).unwrap();
    std::os::unix::fs::chown(&bus, Some(65534), Some(65534)).unwrap();
    let client = format!(
        "import socket\ns = socket.socket(socket.AF_UNIX)\ntry:\n    s.connect({:?})\n    \
         print('CONNECTED')\nexcept OSError as e:\n    print('refused', e.errno)\n",
        p(&bus)
    );
    let mut tiers = vec![("root", "hardened"), ("root", "lockdown")];
    if userns_unprivileged() {
        tiers.extend([("nobody", "hardened"), ("nobody", "lockdown")]);
    } else {
        need(false, "unprivileged user namespaces");
    }
    for (who, tier) in tiers {
        let args = [
            "run",
            "--json",
            "--tier",
            tier,
            "--",
            "/usr/bin/python3",
            "-c",
            &client,
        ];
        let out = if who == "root" {
            Command::new(dir.join("hatchery"))
                .args(args)
                .current_dir("/")
                .output()
                .unwrap()
        } else {
            as_nobody(&dir.join("hatchery"))
                .args(args)
                .current_dir("/")
                .output()
                .unwrap()
        };
        let r = parse(out);
        assert!(
            r.stdout().starts_with("refused"),
            "{who} {tier}: {} {}",
            r.json,
            r.stderr
        );
    }
    drop(listener);
    let _ = std::fs::remove_dir_all(&user_dir);
    if made_run_user {
        let _ = std::fs::remove_dir(&run_user);
    }
}

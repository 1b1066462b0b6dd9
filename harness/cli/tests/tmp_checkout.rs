//! Working directories below the sandbox's private scratch (`/tmp`, a clone under `/tmp`):
//! cases see them at their own path, the scratch stays private and is wiped between cases,
//! and the wipe never touches the shown directory.

mod common;
use common::*;

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// A directory below /tmp (mode 0755 all the way, so a normal user can use it too), with a
/// script and a data file in it.
fn checkout(tag: &str) -> PathBuf {
    let top = PathBuf::from(format!("/tmp/hatchery-view-{}-{tag}", std::process::id()));
    let work = top.join("clone/work");
    std::fs::create_dir_all(&work).unwrap();
    for d in [&top, &top.join("clone"), &work] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    // Each case: shows where it is and what the previous one left in the scratch, leaves
    // something of its own, reads a file next to it, and tries to move the shown tree away.
    write_executable(
        &work.join("case.sh"),
        "#!/bin/sh\n\
         echo \"pwd=$(pwd)\"\n\
         echo \"tmp=$(ls -A /tmp | tr '\\n' ' ')\"\n\
         mkdir -p /tmp/left/deeper && echo x > /tmp/left/deeper/f && echo y > /tmp/left-file\n\
         echo \"data=$(cat data.txt)\"\n\
         mv \"$1\" /tmp/moved 2>/dev/null && echo moved-away\n\
         rm -rf \"$1/clone\" 2>/dev/null\n\
         exit 0\n",
    );
    std::fs::write(work.join("data.txt"), "DATA").unwrap();
    std::fs::set_permissions(
        work.join("data.txt"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    top
}

fn jobs_file(top: &Path, n: usize) -> PathBuf {
    let work = top.join("clone/work");
    let jobs = top.join("clone/jobs.jsonl");
    let mut text = String::new();
    for i in 0..n {
        text.push_str(&format!(
            "{{\"id\":\"c{i}\",\"argv\":[\"work/case.sh\",\"{}\"],\"cwd\":\"{}\"}}\n",
            top.display(),
            work.display()
        ));
    }
    std::fs::write(&jobs, text).unwrap();
    std::fs::set_permissions(&jobs, std::fs::Permissions::from_mode(0o644)).unwrap();
    jobs
}

fn finished(report: &str) -> Vec<Value> {
    report
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["type"] == "case_finished")
        .collect()
}

/// Runs the jobs on one worker (one zygote, so every case after the first finds what the
/// one before it left) and checks what each case saw.
fn check_batch(hatchery: &Path, tier: &str, top: &Path, nobody: bool) {
    let jobs = jobs_file(top, 3);
    let mut cmd = if nobody {
        as_nobody(hatchery)
    } else {
        Command::new(hatchery)
    };
    // The report goes where the (possibly unprivileged) runner may write.
    let reports = top.join("reports");
    std::fs::create_dir_all(&reports).unwrap();
    std::fs::set_permissions(&reports, std::fs::Permissions::from_mode(0o777)).unwrap();
    let report = reports.join(format!("{tier}.jsonl"));
    let out = cmd
        .args(["batch", "-j", "1", "--tier", tier, "--report"])
        .arg(&report)
        .arg(&jobs)
        .current_dir(top.join("clone"))
        .output()
        .unwrap();
    let text = std::fs::read_to_string(&report).unwrap_or_default();
    let fin = finished(&text);
    assert_eq!(
        fin.len(),
        3,
        "tier {tier}: {text}\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let work = top.join("clone/work");
    let skeleton = top.file_name().unwrap().to_str().unwrap();
    for e in &fin {
        let d = &e["data"];
        assert_eq!(d["outcome"], "ok", "tier {tier}: {d}");
        let stdout = d["stdout"]["text"].as_str().unwrap();
        assert!(
            stdout.contains(&format!("pwd={}\n", work.display())),
            "tier {tier}: {stdout}"
        );
        assert!(stdout.contains("data=DATA\n"), "tier {tier}: {stdout}");
        // The scratch holds only the way to the shown directory: nothing of the host's /tmp,
        // nothing the case before left.
        assert!(
            stdout.contains(&format!("tmp={skeleton} \n")),
            "tier {tier}: {stdout}"
        );
        assert!(!stdout.contains("moved-away"), "tier {tier}: {stdout}");
    }
    // The wipe between cases left the shown directory alone.
    assert_eq!(
        std::fs::read_to_string(work.join("data.txt")).unwrap(),
        "DATA"
    );
    assert!(work.join("case.sh").exists());
    // What the cases left stayed in their scratch.
    assert!(!Path::new("/tmp/left-file").exists());
}

#[test]
fn cases_see_their_working_directory_below_tmp() {
    for tier in ["hardened", "lockdown"] {
        if !tier_ok(tier) {
            continue;
        }
        let top = checkout(tier);
        check_batch(&hatchery_bin(), tier, &top, false);
        // `run` from inside the clone, with a relative program.
        let out = Command::new(hatchery_bin())
            .args(["run", "--json", "--tier", tier, "--", "./case.sh"])
            .arg(&top)
            .current_dir(top.join("clone/work"))
            .output()
            .unwrap();
        let r = parse(out);
        assert_eq!(r.outcome(), "ok", "{}", r.json);
        assert!(r.stdout().contains("data=DATA"), "{}", r.stdout());
        std::fs::remove_dir_all(&top).unwrap();
    }
}

#[test]
fn a_normal_user_sees_its_working_directory_below_tmp() {
    if !need(
        is_root(),
        "root, to drop to an unprivileged uid with setpriv",
    ) {
        return;
    }
    if !need(userns_unprivileged(), "unprivileged user namespaces") {
        return;
    }
    for tier in ["hardened", "lockdown"] {
        let top = checkout(&format!("nobody-{tier}"));
        // The binary where a normal user may run it: inside the shown tree.
        let bin = top.join("clone/hatchery");
        std::fs::copy(hatchery_bin(), &bin).unwrap();
        check_batch(&bin, tier, &top, true);
        std::fs::remove_dir_all(&top).unwrap();
    }
}

/// A toolchain under a home directory only root may search (pyenv's shims under `/root`): the
/// case uid could not reach it, so it is shown read-only at its own path, and nothing else of
/// that home is. Its `#!` shim sees its own path in `$0`.
#[test]
fn a_toolchain_behind_a_private_home_is_shown_read_only() {
    if !need(is_root(), "root (cases then run as uid 65534)") {
        return;
    }
    let home =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("home-{}", std::process::id()));
    let tool = home.join(".tool");
    std::fs::create_dir_all(tool.join("bin")).unwrap();
    std::fs::create_dir_all(tool.join("libexec")).unwrap();
    std::fs::write(home.join("secret"), "s").unwrap();
    let exec = write_executable;
    // The shim finds the real program from its own path, as pyenv's and rbenv's do.
    exec(
        &tool.join("bin/shim"),
        "#!/bin/sh\nexec \"${0%/bin/*}/libexec/real\" \"$@\"\n",
    );
    exec(
        &tool.join("libexec/real"),
        &format!(
            "#!/bin/sh\necho \"home=$(ls -A {0})\"\necho x > {1}/w 2>/dev/null || echo read-only\n",
            home.display(),
            tool.display()
        ),
    );
    for d in [&tool, &tool.join("bin"), &tool.join("libexec")] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
    for tier in ["hardened", "lockdown"] {
        if !tier_ok(tier) {
            continue;
        }
        let r = run(&["--tier", tier], &[p(&tool.join("bin/shim"))]);
        assert_eq!(r.outcome(), "ok", "tier {tier}: {}", r.json);
        assert_eq!(r.stdout(), "home=.tool\nread-only\n", "tier {tier}");
    }
    std::fs::remove_dir_all(&home).unwrap();
}

/// rustup's proxies (`cargo`, `rustc` linked to `rustup` in `~/.cargo/bin`) find their
/// toolchain through RUSTUP_HOME, by default below the caller's home, which is neither the
/// case's HOME nor reachable by the case uid when it is root's: the run gives the case our
/// rustup's homes and shows them read-only.
#[test]
fn rustup_proxies_find_their_toolchain() {
    let Some(cargo) = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join("cargo"))
        .find(|c| c.is_file())
    else {
        // Not a kernel feature: nothing to require.
        eprintln!("SKIP: no cargo on PATH");
        return;
    };
    let is_proxy = std::fs::canonicalize(&cargo)
        .ok()
        .is_some_and(|c| c.file_name().is_some_and(|n| n == "rustup"));
    if !is_proxy {
        eprintln!("SKIP: cargo on PATH is not a rustup proxy");
        return;
    }
    for t in ["hardened", "lockdown"] {
        if !tier_ok(t) {
            continue;
        }
        let r = run(&["--tier", t], &[p(&cargo), "--version"]);
        assert_eq!(r.outcome(), "ok", "{t}: {} {}", r.json, r.stderr);
        assert!(r.stdout().starts_with("cargo "), "{t}: {}", r.stdout());
    }
    // Tier none has no view: as root with a home others cannot search, the run says so before
    // starting, naming the directory.
    let home = PathBuf::from(std::env::var_os("HOME").unwrap_or_default());
    let closed = std::fs::metadata(&home)
        .is_ok_and(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o001 == 0);
    if is_root() && closed && std::env::var_os("RUSTUP_HOME").is_none() {
        let o = std::process::Command::new(hatchery_bin())
            .args(["run", "--tier", "none", "--", p(&cargo), "--version"])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(7));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("rustup proxy") && err.contains(&*home.to_string_lossy()),
            "{err}"
        );
    }
}

//! `hatchery run` against real programs on the real kernel: every outcome, every limit and
//! every cleanup guarantee, per tier.

mod common;
use common::*;
use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;

#[test]
fn exit_status_and_signals_in_every_tier() {
    let crash = prog("crash");
    for t in TIERS {
        if !tier_ok(t) {
            continue;
        }
        let r = run(&["--tier", t], &[p(&crash)]);
        assert_eq!(r.outcome(), "ok", "{t}: {}", r.json);
        assert_eq!(r.code, 0);
        let r = run(&["--tier", t], &[p(&crash), "exit", "7"]);
        assert_eq!(r.outcome(), "nonzero_exit", "{t}");
        assert_eq!(r.json["exit_code"], 7);
        assert_eq!(r.code, 1);
        let r = run(&["--tier", t], &[p(&crash), "segv"]);
        assert_eq!(r.outcome(), "signaled", "{t}");
        assert_eq!(r.json["signal"], "SIGSEGV");
        let r = run(&["--tier", t], &[p(&crash), "abort"]);
        assert_eq!(r.json["signal"], "SIGABRT", "{t}");
        assert_eq!(r.json["tier"], t);
    }
}

#[test]
fn cpu_limit_stops_a_spinner_soon_after_the_limit() {
    let spin = prog("spin");
    for t in TIERS {
        if !tier_ok(t) {
            continue;
        }
        let r = run(&["--tier", t, "--cpu-time", "300ms"], &[p(&spin)]);
        assert_eq!(r.outcome(), "time_limit", "{t}: {}", r.json);
        assert_eq!(r.limit(), Some("cpu"));
        assert_eq!(r.code, 3);
        let cpu = r.usage("cpu_us");
        assert!(cpu >= 300_000, "{t}: cpu {cpu} below the limit");
        // Decided by the zygote, not by a 1 s rlimit: generous bound for a noisy machine.
        if cgroup_ok() {
            assert!(cpu < 400_000, "{t}: cpu {cpu} overshoots");
        }
    }
}

#[test]
fn cpu_time_counts_every_thread_and_every_process() {
    let threads = prog("threads");
    let forkspin = prog("forkspin");
    for t in ["hardened", "none"] {
        if !tier_ok(t) || !need(cgroup_ok(), "a cgroup (CPU of all processes)") {
            continue;
        }
        let r = run(
            &["--tier", t, "--cpu-time", "400ms", "--wall-time", "5s"],
            &[p(&threads), "3"],
        );
        assert_eq!(r.limit(), Some("cpu"), "{t}: {}", r.json);
        // Several threads spin: the CPU limit is reached before the same wall time passes.
        let r2 = run(
            &["--tier", t, "--cpu-time", "400ms", "--wall-time", "5s"],
            &[p(&forkspin), "2"],
        );
        assert_eq!(
            r2.limit(),
            Some("cpu"),
            "{t}: children's CPU must count: {}",
            r2.json
        );
        assert!(r2.usage("cpu_us") >= 400_000);
        assert!(
            r2.json["leftover_processes"].as_u64().unwrap() >= 1,
            "{t}: the spinning children were alive when the limit ended the case: {}",
            r2.json
        );
    }
}

#[test]
fn wall_limit_stops_a_sleeper() {
    for t in TIERS {
        if !tier_ok(t) {
            continue;
        }
        let r = run(
            &["--tier", t, "--wall-time", "200ms"],
            &["/bin/sleep", "10"],
        );
        assert_eq!(r.outcome(), "time_limit", "{t}");
        assert_eq!(r.limit(), Some("wall"));
        let wall = r.usage("wall_us");
        assert!((200_000..300_000).contains(&wall), "{t}: wall {wall}");
    }
}

#[test]
fn memory_limit_and_peak_memory() {
    let alloc = prog("alloc");
    for t in TIERS {
        if !tier_ok(t) || !need(cgroup_ok(), "a cgroup (memory limit)") {
            continue;
        }
        let r = run(&["--tier", t, "--memory", "64M"], &[p(&alloc), "200"]);
        assert_eq!(r.outcome(), "memory_limit", "{t}: {}", r.json);
        assert_eq!(r.limit(), Some("memory"));
        let r = run(&["--tier", t, "--memory", "256M"], &[p(&alloc), "100"]);
        assert_eq!(r.outcome(), "ok", "{t}: {}", r.json);
        let peak = r.usage("peak_memory_bytes");
        let want = 100u64 << 20;
        assert!(
            peak >= want && peak < want + (8 << 20),
            "{t}: peak {peak} for 100 MiB touched"
        );
        assert!(r.json["usage"]["memory_source"]
            .as_str()
            .unwrap()
            .starts_with("cgroup"));
    }
}

#[test]
fn pids_limit_stops_fork_and_leftovers_are_killed() {
    let fu = prog("forkuntil");
    for t in TIERS {
        if !tier_ok(t) || !need(cgroup_ok(), "a cgroup (pids limit)") {
            continue;
        }
        let r = run(
            &["--tier", t, "--pids", "16", "--wall-time", "10s"],
            &[p(&fu)],
        );
        assert_eq!(r.outcome(), "ok", "{t}: {}", r.json);
        let made: u64 = r.stdout().trim().parse().unwrap();
        // The limit counts the case's processes only: main + 15 children.
        assert_eq!(made, 15, "{t}: made {made} children under pids=16");
        assert_eq!(r.limit(), Some("pids"), "{t}");
        assert_eq!(r.json["leftover_processes"].as_u64(), Some(made), "{t}");
    }
}

#[test]
fn output_limit_truncates_and_kills() {
    let flood = prog("flood");
    for t in TIERS {
        if !tier_ok(t) {
            continue;
        }
        for fd in ["1", "2"] {
            let r = run(&["--tier", t, "--output", "256K"], &[p(&flood), fd]);
            assert_eq!(r.outcome(), "output_limit", "{t}");
            assert_eq!(r.limit(), Some("output"));
            let s = if fd == "1" { "stdout" } else { "stderr" };
            assert_eq!(r.json[s]["truncated"], true);
            assert_eq!(r.json[s]["text"].as_str().unwrap().len(), 256 << 10);
            assert!(r.json[s]["bytes"].as_u64().unwrap() > 256 << 10);
        }
    }
}

#[test]
fn file_size_limit() {
    let fsize = prog("fsize");
    for t in ["hardened", "lockdown"] {
        if !tier_ok(t) {
            continue;
        }
        let r = run(
            &["--tier", t, "--file-size", "1M"],
            &[p(&fsize), "/tmp/big"],
        );
        assert_eq!(r.outcome(), "output_limit", "{t}: {}", r.json);
        assert_eq!(r.limit(), Some("file_size"));
        assert_eq!(r.json["signal"], "SIGXFSZ");
    }
}

#[test]
fn seccomp_profiles() {
    let ptrace = prog("ptrace");
    let sock = prog("sock");
    let dofork = prog("dofork");
    for t in TIERS {
        if !tier_ok(t) {
            continue;
        }
        let r = run(&["--tier", t], &[p(&ptrace)]);
        assert_eq!(r.outcome(), "policy_violation", "{t}: {}", r.json);
        // The filter hands the call to the zygote, which names it and kills the case.
        assert_eq!(r.json["violation"]["syscall"], "ptrace", "{t}: {}", r.json);
        assert_eq!(r.json["signal"], "SIGKILL");
        assert!(r.json["reason"].as_str().unwrap().starts_with("ptrace:"));
        assert_eq!(r.code, 4);
        let r = run(&["--tier", t, "--seccomp", "off"], &[p(&ptrace)]);
        assert_eq!(r.outcome(), "ok", "{t}");
        let r = run(&["--tier", t], &[p(&sock)]);
        assert_eq!(
            r.stdout().trim(),
            "inet=97 unix=0",
            "{t}: inet sockets refused (EAFNOSUPPORT)"
        );
        let r = run(&["--tier", t, "--seccomp", "strict"], &[p(&dofork)]);
        assert_eq!(r.outcome(), "policy_violation", "{t}: strict forbids fork");
        // The strict allow list is stacked per case and kills outright: no name.
        assert_eq!(r.json["signal"], "SIGSYS", "{t}: {}", r.json);
        let r = run(
            &["--tier", t, "--seccomp", "strict"],
            &[p(&prog("alloc")), "4"],
        );
        assert_eq!(
            r.outcome(),
            "ok",
            "{t}: strict allows a plain C program: {}",
            r.json
        );
    }
}

#[test]
fn daemons_and_setsid_escapees_do_not_survive() {
    let daemon = prog("daemon");
    for t in TIERS {
        if !tier_ok(t) {
            continue;
        }
        let marker = format!("hatchery-escapee-{t}-{}", std::process::id());
        let r = run(&["--tier", t], &[p(&daemon), &marker]);
        assert_eq!(r.outcome(), "ok", "{t}: {}", r.json);
        assert!(r.json["leftover_processes"].as_u64().unwrap() >= 1, "{t}");
        let alive = processes_with(&marker);
        assert!(alive.is_empty(), "{t}: escapee survived: {alive:?}");
    }
}

#[test]
fn clean_environment_and_no_inherited_descriptors() {
    let fds = prog("fds");
    for t in TIERS {
        if !tier_ok(t) {
            continue;
        }
        let out = std::process::Command::new(hatchery_bin())
            .args([
                "run",
                "--json",
                "--tier",
                t,
                "--env",
                "EXTRA=1",
                "--",
                "/usr/bin/env",
            ])
            .env("HATCHERY_TEST_SECRET", "s3cret")
            .output()
            .unwrap();
        let r = parse(out);
        let env = r.stdout();
        assert!(
            !env.contains("s3cret"),
            "{t}: host environment leaked: {env}"
        );
        assert!(
            env.contains("EXTRA=1") && env.contains("PATH="),
            "{t}: {env}"
        );
        // A descriptor the caller left open (not close-on-exec) must not reach the case.
        let f = std::fs::File::open("/etc/hostname").unwrap();
        let raw = std::os::fd::AsRawFd::as_raw_fd(&f);
        let cmd = format!(
            "exec {} run --json --tier {t} -- {} {raw}<&{raw}",
            hatchery_bin().display(),
            fds.display()
        );
        let r = parse(
            std::process::Command::new("/bin/sh")
                .args(["-c", &cmd])
                .output()
                .unwrap(),
        );
        assert_eq!(
            r.stdout().lines().last(),
            Some("count=0"),
            "{t}: {}",
            r.stdout()
        );
    }
}

#[test]
fn case_identity_capabilities_and_views() {
    for t in TIERS {
        if !tier_ok(t) {
            continue;
        }
        let r = run(
            &["--tier", t, "--cwd", "/"],
            &["/bin/sh", "-c", "id -u; grep -E '^(Cap(Eff|Prm|Inh|Amb|Bnd)|NoNewPrivs|Seccomp):' /proc/self/status; ls /dev | wc -l"],
        );
        let out = r.stdout();
        let uid: u32 = out.lines().next().unwrap().parse().unwrap();
        assert_ne!(uid, 0, "{t}: the case must not run as uid 0");
        for set in ["CapEff", "CapPrm", "CapInh", "CapAmb"] {
            assert!(
                out.contains(&format!("{set}:\t0000000000000000")),
                "{t}: {out}"
            );
        }
        assert!(out.contains("NoNewPrivs:\t1"), "{t}: {out}");
        assert!(out.contains("Seccomp:\t2"), "{t}: {out}");
        if is_root() {
            assert!(out.contains("CapBnd:\t0000000000000000"), "{t}: {out}");
        }
        if t == "lockdown" {
            let devs: usize = out.lines().last().unwrap().trim().parse().unwrap();
            assert!(devs <= 12, "{t}: minimal /dev has {devs} entries");
            let r = run(
                &["--tier", t, "--cwd", "/"],
                &[
                    "/bin/sh",
                    "-c",
                    "touch /etc/hatchery-probe; echo $?; touch /tmp/ok && echo tmp",
                ],
            );
            assert_eq!(r.stdout(), "1\ntmp\n", "{t}: read-only root, writable /tmp");
            // A directory named writable is written through the read-only root (as a
            // campaign's work directory is); nothing reaches its parent on the host (below
            // the read-only root a write fails; in a checkout under /tmp the way to the
            // directory is the case's private scratch, where a write stays).
            let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
                .join(format!("lockdown-writable-{}", std::process::id()));
            let dir = base.join("w");
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o1777)).unwrap();
            std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o1777)).unwrap();
            let script = format!(
                "echo x > {0}/w/f && echo written; echo x > {0}/g 2>/dev/null; true",
                base.display()
            );
            let r = run(
                &[
                    "--tier",
                    t,
                    "--cwd",
                    "/",
                    "--writable",
                    dir.to_str().unwrap(),
                ],
                &["/bin/sh", "-c", &script],
            );
            assert_eq!(r.stdout(), "written\n", "{t}: {}", r.json);
            assert!(dir.join("f").is_file());
            assert!(!base.join("g").exists());
            let _ = std::fs::remove_dir_all(&base);
        }
        if t != "none" {
            let r = run(
                &["--tier", t, "--cwd", "/"],
                &["/bin/sh", "-c", "echo $PPID; ls /proc | grep -c '^[0-9]'"],
            );
            let lines: Vec<&str> = r.stdout().lines().collect();
            assert_eq!(
                lines[0], "1",
                "{t}: the case is a child of PID 1, the zygote"
            );
            let n: u32 = lines[1].parse().unwrap();
            assert!(
                n <= 4,
                "{t}: /proc shows only the case's namespace ({n} pids)"
            );
        }
    }
}

#[test]
fn bad_input_gets_documented_exit_codes() {
    let h = hatchery_bin();
    let run_raw = |args: &[&str]| std::process::Command::new(&h).args(args).output().unwrap();
    let o = run_raw(&["run", "--", "/nonexistent/program"]);
    assert_eq!(o.status.code(), Some(7));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not found"));
    let o = run_raw(&["run", "--", "no-such-program-in-path"]);
    assert_eq!(o.status.code(), Some(7));
    let o = run_raw(&["run", "--", "/etc/hostname"]);
    assert_eq!(o.status.code(), Some(7));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not executable"));
    let o = run_raw(&["run", "--cpu-time", "fast", "--", "/bin/true"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("invalid duration"));
    let o = run_raw(&["run", "--memory", "lots", "--", "/bin/true"]);
    assert_eq!(o.status.code(), Some(2));
    let o = run_raw(&["run", "--stdin", "/nonexistent/input", "--", "/bin/cat"]);
    assert_eq!(o.status.code(), Some(7));
    assert!(String::from_utf8_lossy(&o.stderr).contains("stdin"));
    let o = run_raw(&["run", "--tier", "bogus", "--", "/bin/true"]);
    assert_eq!(o.status.code(), Some(2));
    // A non-ELF file with an execute bit.
    let junk = prog_dir().join("junk.bin");
    write_executable(&junk, "\x00\x01garbage");
    let o = run_raw(&["run", "--", p(&junk)]);
    assert_eq!(o.status.code(), Some(7));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not an ELF"));
}

#[test]
fn stdin_file_and_scripts() {
    let input = prog_dir().join("input.txt");
    std::fs::write(&input, "hello from stdin\n").unwrap();
    let script = prog_dir().join("script.sh");
    write_executable(&script, "#!/bin/sh\necho script ran with $1\n");
    for t in TIERS {
        if !tier_ok(t) {
            continue;
        }
        let r = run(&["--tier", t, "--stdin", p(&input)], &["/bin/cat"]);
        assert_eq!(r.stdout(), "hello from stdin\n", "{t}");
        let r = run(&["--tier", t], &[p(&script), "arg"]);
        assert_eq!(r.stdout(), "script ran with arg\n", "{t}: {}", r.json);
    }
}

#[test]
fn non_utf8_output_is_base64() {
    let r = run(&["--tier", "none"], &["/usr/bin/printf", "\\377\\376"]);
    assert_eq!(r.json["stdout"]["base64"], "//4=");
    assert_eq!(r.json["stdout"]["bytes"], 2);
}

#[test]
fn enforcement_report_names_every_layer() {
    if !tier_ok("hardened") {
        return;
    }
    let r = run(&["--tier", "hardened"], &["/bin/true"]);
    let e = r.json["enforcement"].as_object().unwrap();
    for layer in [
        "user_ns",
        "pid_ns",
        "ipc_ns",
        "mount_ns",
        "net_ns",
        "cgroup_memory",
        "cgroup_pids",
        "cgroup_cpu",
        "rlimits",
        "seccomp",
        "landlock",
    ] {
        let l = &e[layer];
        assert!(
            ["full", "partial", "none"].contains(&l["level"].as_str().unwrap()),
            "{layer}: {l}"
        );
        assert!(!l["mechanism"].as_str().unwrap().is_empty());
    }
    if cgroup_ok() {
        assert_eq!(e["cgroup_memory"]["level"], "full");
    }
}

#[test]
fn cgroups_v1_are_used_for_real_here() {
    if !need(cgroup_ok(), "a cgroup this process can create") {
        return;
    }
    let v = hatchery_sandbox::cgroup::host_version();
    let r = run(&["--tier", "none"], &["/bin/true"]);
    let src = r.json["usage"]["memory_source"].as_str().unwrap();
    match v {
        hatchery_sandbox::cgroup::Version::V1 => assert_eq!(src, "cgroup_v1_max_usage"),
        hatchery_sandbox::cgroup::Version::V2 => {
            assert!(src.starts_with("cgroup_v2") || src == "rusage")
        }
    }
    // Nothing of ours is left under our cgroup afterwards.
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let mem = own
        .lines()
        .find(|l| l.contains(":memory:"))
        .map(|l| l.rsplit(':').next().unwrap().to_owned());
    if let Some(rel) = mem {
        let dir = format!("/sys/fs/cgroup/memory{rel}");
        let left: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with(&format!("hatchery-{}", std::process::id()))
            })
            .collect();
        assert!(left.is_empty());
    }
}

#[test]
fn doctor_reports_the_host() {
    let o = std::process::Command::new(hatchery_bin())
        .args(["doctor", "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let names: Vec<&str> = v["probes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for n in [
        "kernel",
        "user namespaces",
        "cgroup",
        "seccomp",
        "landlock",
        "clone3",
        "pidfd",
        "memory peak",
    ] {
        assert!(names.contains(&n), "doctor lacks {n}");
    }
    assert_eq!(v["tiers"].as_array().unwrap().len(), 3);
}

#[test]
fn loopback_network_reaches_only_loopback() {
    let lo = prog("loopback");
    for tier in ["hardened", "lockdown"] {
        if !tier_ok(tier) {
            continue;
        }
        let r = run(&["--tier", tier, "--network", "loopback"], &[p(&lo)]);
        assert_eq!(r.outcome(), "ok", "tier {tier}: {}", r.json);
        let out = r.stdout();
        assert!(out.contains("v4=0 v6=0\n"), "tier {tier}: {out}");
        // No route out of the namespace, and no interface but lo.
        assert!(
            out.contains(&format!("route={}\n", libc_enetunreach())),
            "tier {tier}: {out}"
        );
        assert!(out.contains("interfaces=lo,\n"), "tier {tier}: {out}");
        assert_eq!(
            r.json["enforcement"]["net_ns"]["level"], "full",
            "{}",
            r.json
        );
        // Off (the default): no inet sockets at all.
        let r = run(&["--tier", tier], &[p(&lo)]);
        assert_eq!(r.outcome(), "nonzero_exit", "tier {tier}: {}", r.json);
        assert!(r.stdout().contains("v4=97 v6=97\n"), "{}", r.stdout());
    }
    // Tier none has no network namespace to put loopback in: refused before running.
    let out = std::process::Command::new(hatchery_bin())
        .args(["run", "--tier", "none", "--network", "loopback", "--"])
        .arg(&lo)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("network namespace"));
}

/// ENETUNREACH on Linux.
fn libc_enetunreach() -> i32 {
    101
}

//! Host ids of cases when hatchery runs as root: every zygote's cases run as a uid of their own
//! (so workers share no per-user kernel budget, no `/proc/<pid>` access, no signals), and what
//! a case spends of the per-user budgets is charged to that uid, never to root (whose other
//! processes would run out of inotify instances, message queue bytes, pending signals).
//! Root only: a normal user's cases run as that user; the tests say so and skip (or fail
//! under `HATCHERY_TEST_REQUIRE=all`).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hatchery_report::{CaseResult, Limits, Outcome};
use hatchery_sandbox::policy::CgroupMode;
use hatchery_sandbox::{CaseSpec, Sandbox, SandboxConfig, Tier, View};

fn require_all() -> bool {
    std::env::var("HATCHERY_TEST_REQUIRE").is_ok_and(|v| v == "all")
}

fn root_or_skip(what: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    assert!(
        !require_all(),
        "{what} needs root (HATCHERY_TEST_REQUIRE=all)"
    );
    eprintln!("SKIP {what}: needs root (a normal user's cases run as that user)");
    false
}

fn exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_hatchery-test-zygote"))
}

fn start(tier: Tier, view: View) -> Sandbox {
    start_as(tier, view, None)
}

fn start_as(tier: Tier, view: View, ids: Option<hatchery_sandbox::ids::CaseIds>) -> Sandbox {
    let mut cfg = SandboxConfig::new(tier, exe());
    cfg.cgroup = CgroupMode::Off;
    cfg.view = view;
    cfg.case_ids = ids;
    Sandbox::start(cfg).unwrap_or_else(|e| {
        panic!(
            "cannot start a {} zygote: {}",
            tier.as_str(),
            hatchery_report::error_chain(&e)
        )
    })
}

fn run(sb: &mut Sandbox, argv: &[&str], cwd: &Path) -> CaseResult {
    let mut spec = CaseSpec::new(argv.iter().map(OsString::from).collect());
    spec.cwd = cwd.to_path_buf();
    spec.limits = Limits {
        wall_us: Some(90_000_000),
        output_bytes: Some(1 << 20),
        ..Limits::default()
    };
    let case = sb.prepare(&spec).expect("the case is well-formed");
    sb.run(case).expect("the zygote answers")
}

/// The host uid a case runs as: its own in tier none, the one its namespace maps it to in the
/// others.
fn host_uid(sb: &mut Sandbox) -> u32 {
    let r = run(
        sb,
        &["sh", "-c", "id -u; cat /proc/self/uid_map"],
        Path::new("/"),
    );
    assert_eq!(r.outcome, Outcome::Ok, "{}", r.reason);
    let text = String::from_utf8_lossy(&r.stdout.data).into_owned();
    let mut lines = text.lines();
    let uid: u32 = lines.next().unwrap().trim().parse().unwrap();
    // "inside outside count" lines; ours is the one of our uid inside.
    lines
        .filter_map(|l| {
            let f: Vec<u32> = l
                .split_whitespace()
                .filter_map(|w| w.parse().ok())
                .collect();
            (f.len() == 3 && f[0] == uid && f[1] != 0 && f[0] != f[1]).then_some(f[1])
        })
        .next()
        .unwrap_or(uid)
}

#[test]
fn each_zygote_runs_its_cases_as_a_host_uid_of_its_own() {
    if !root_or_skip("host ids per zygote") {
        return;
    }
    let mut zygotes: Vec<Sandbox> = [Tier::None, Tier::None, Tier::Hardened, Tier::Lockdown]
        .into_iter()
        .map(|t| start(t, View::default()))
        .collect();
    let uids: Vec<u32> = zygotes.iter_mut().map(host_uid).collect();
    let mut distinct = uids.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), uids.len(), "shared host uids: {uids:?}");
    let range = match hatchery_sandbox::ids::CaseIds::configured().unwrap() {
        hatchery_sandbox::ids::CaseIds::Range(r) => r,
        other => panic!("expected a range, got {other:?}"),
    };
    for u in &uids {
        assert!(
            (range.first..range.first + range.count).contains(u),
            "{u} is outside {range:?}"
        );
        assert!(
            nix::unistd::User::from_uid((*u).into()).unwrap().is_none(),
            "{u} is a user of this host"
        );
    }
    // One case cannot read another worker's case's memory or environment: a case of zygote 1
    // that holds on, found by its marker, and a case of zygote 0 that tries.
    let marker = format!("hatchery-ids-{}", std::process::id());
    let (first, rest) = zygotes.split_at_mut(1);
    let (prober, holder_zygote) = (&mut first[0], &mut rest[0]);
    std::thread::scope(|s| {
        let holder = s.spawn(|| {
            run(
                holder_zygote,
                &["sh", "-c", "sleep 30; : ", &marker],
                Path::new("/"),
            )
        });
        let pid = wait_for(|| processes_with(&marker).first().copied());
        let probe = format!(
            "cat /proc/{pid}/environ >/dev/null 2>&1 && echo READ; kill -0 {pid} 2>/dev/null \
             && echo SIGNALLED; echo done"
        );
        let r = run(prober, &["sh", "-c", &probe], Path::new("/"));
        assert_eq!(
            String::from_utf8_lossy(&r.stdout.data),
            "done\n",
            "a case reached another worker's case"
        );
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
        let r = holder.join().unwrap();
        assert_eq!(r.outcome, Outcome::Signaled, "{}", r.reason);
    });
}

/// Holds `__inotify-hold` in a case of `tier` until root has tried its own inotify instances.
/// `fixed`: the cases run as one fixed uid (nobody), as a judge's tools do; their namespace
/// is still owned by a leased id, so nothing lands on root (nor on nobody's daemons).
fn inotify_budget(tier: Tier, fixed: bool) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "inotify-{}-{}",
        tier.as_str(),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let mut view = View::default();
    view.allow_write(&dir);
    view.show_tool(&exe());
    let ids = fixed.then_some(hatchery_sandbox::ids::CaseIds::Fixed(
        hatchery_sandbox::fsat::HostIds {
            uid: 65534,
            gid: 65534,
        },
    ));
    let mut sb = start_as(tier, view, ids);
    let exe = exe();
    let argv = [
        exe.to_str().unwrap(),
        "__inotify-hold",
        dir.to_str().unwrap(),
    ];
    std::thread::scope(|s| {
        let case = s.spawn(|| run(&mut sb, &argv, &dir));
        let held = wait_for(|| std::fs::read_to_string(dir.join("held")).ok());
        // While the case holds every instance it could get, root still gets its own.
        let mine: Vec<_> = (0..8)
            .map(|_| nix::sys::inotify::Inotify::init(nix::sys::inotify::InitFlags::IN_CLOEXEC))
            .collect();
        std::fs::write(dir.join("release"), "").unwrap();
        let r = case.join().unwrap();
        assert_eq!(r.outcome, Outcome::Ok, "{tier:?}: {}", r.reason);
        for m in mine {
            m.unwrap_or_else(|e| {
                panic!("{tier:?}: root's inotify_init1 failed while a case held {held}: {e}")
            });
        }
        let n: u64 = held.split_whitespace().next().unwrap().parse().unwrap();
        assert!(n > 0, "{tier:?}: {held}");
        if tier != Tier::None {
            // The namespace's own ceiling.
            assert!(n <= 128, "{tier:?}: {held}");
        }
    });
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_case_spends_its_own_uids_budgets_not_roots() {
    if !root_or_skip("per-user budgets") {
        return;
    }
    // Lockdown's namespace is made the same way as hardened's; its read-only root leaves the
    // case no place to report through while it holds.
    for tier in [Tier::None, Tier::Hardened] {
        inotify_budget(tier, false);
    }
    inotify_budget(Tier::Hardened, true);
}

fn wait_for<T>(mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for the case");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn processes_with(marker: &str) -> Vec<u32> {
    let me = std::process::id();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(marker))
        })
        .collect()
}

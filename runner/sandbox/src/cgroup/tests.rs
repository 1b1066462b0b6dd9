//! The parent side against the fake cgroupfs (`fake.rs`): the layouts users have.

use std::sync::Arc;

use super::fake::Fake;
use super::*;

const ME: u32 = 4242;
const V2: Option<Version> = Some(Version::V2);
const SCOPE: &str = "/sys/fs/cgroup/user.slice/user-0.slice/session-1.scope";
const DELEG: &str =
    "/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/app.slice/run-u7.scope";

/// `user.slice/user-<uid>.slice/...` down to `leaf`, every level offering cpu, memory, pids
/// to the next (as systemd's accounting does), `leaf` owned by `owner`.
fn tree(f: &Fake, leaf: &str, owner: u32) {
    let mut path = String::from("/sys/fs/cgroup");
    f.enable(&path, "cpu memory pids");
    let rel = leaf.strip_prefix("/sys/fs/cgroup/").unwrap();
    let parts: Vec<&str> = rel.split('/').collect();
    for (i, p) in parts.iter().enumerate() {
        path = format!("{path}/{p}");
        let last = i + 1 == parts.len();
        f.cgroup(&path, if last { owner } else { 0 });
        if !last {
            f.enable(&path, "cpu memory pids");
        }
    }
}

/// A v2 host where we run as `euid` in `cgroup` (built by [`tree`], owned by `owner`).
fn placed(euid: u32, cgroup: &str, owner: u32) -> Arc<Fake> {
    let f = Arc::new(Fake::v2(ME, euid));
    tree(&f, cgroup, owner);
    f.place(ME, cgroup);
    f
}

/// We live in our leaf beneath `cgroup`, and `slot` is our first slot beside it.
fn assert_moved(f: &Fake, slot: &CgroupSlot, cgroup: &str) {
    assert_eq!(
        f.where_is(ME),
        Some(format!("{cgroup}/hatchery-supervisor-4242"))
    );
    assert_eq!(
        slot.dirs,
        [PathBuf::from(format!("{cgroup}/hatchery-4242-0"))]
    );
}

fn alloc(f: &Arc<Fake>) -> Allocator {
    Allocator::new(f.clone())
}

#[test]
fn v2_root_at_the_top_of_the_hierarchy_needs_no_move() {
    let f = Arc::new(Fake::v2(ME, 0));
    f.place(ME, "/sys/fs/cgroup");
    let a = alloc(&f);
    let mut slot = a.allocate().unwrap();
    assert_eq!(slot.version, Version::V2);
    assert_eq!(slot.dirs, [PathBuf::from("/sys/fs/cgroup/hatchery-4242-0")]);
    assert_eq!(
        f.get("/sys/fs/cgroup/cgroup.subtree_control"),
        "memory pids cpu"
    );
    assert!(f
        .get("/sys/fs/cgroup/hatchery-4242-0/cgroup.controllers")
        .contains("memory"));
    assert_eq!(f.where_is(ME).as_deref(), Some("/sys/fs/cgroup"));
    slot.remove();
    assert!(!f.is_dir("/sys/fs/cgroup/hatchery-4242-0"));
}

#[test]
fn root_alone_in_a_session_scope_moves_into_a_leaf_and_undoes_it_on_release() {
    let f = placed(0, SCOPE, 0);
    let a = alloc(&f);
    let slot = a.allocate().unwrap();
    let leaf = format!("{SCOPE}/hatchery-supervisor-4242");
    assert_eq!(f.where_is(ME), Some(leaf.clone()));
    assert_eq!(
        f.get(&format!("{SCOPE}/cgroup.subtree_control")),
        "memory pids cpu"
    );
    assert_eq!(
        slot.dirs,
        [PathBuf::from(format!("{SCOPE}/hatchery-4242-0"))]
    );
    assert!(f
        .get(&format!("{SCOPE}/hatchery-4242-0/cgroup.controllers"))
        .contains("pids"));
    // Delegation happens once: the second slot is one mkdir.
    let before = f.mutations().len();
    let second = a.allocate().unwrap();
    assert_eq!(
        f.mutations()[before..],
        [format!("mkdir {SCOPE}/hatchery-4242-1")]
    );
    // Not while slots exist.
    assert!(!a.release());
    assert_eq!(f.where_is(ME), Some(leaf.clone()));
    drop((slot, second));
    assert!(a.release());
    assert_eq!(f.where_is(ME).as_deref(), Some(SCOPE));
    assert!(!f.is_dir(&leaf));
    assert_eq!(f.get(&format!("{SCOPE}/cgroup.subtree_control")), "");
}

#[test]
fn a_session_scope_with_a_login_shell_is_left_untouched_and_the_fix_fits_the_host() {
    let f = Arc::new(Fake::v2(ME, 0));
    tree(&f, SCOPE, 0);
    f.spawn(77, 1, "bash", false, SCOPE);
    f.place(ME, SCOPE);
    let e = alloc(&f).allocate().unwrap_err();
    assert!(matches!(&e, CgroupError::V2Shared { others, .. } if others.len() == 1));
    let msg = e.to_string();
    assert!(msg.contains(SCOPE) && msg.contains("77 (bash)"), "{msg}");
    assert_eq!(f.mutations(), Vec::<String>::new(), "nothing may change");
    assert_eq!(f.where_is(ME).as_deref(), Some(SCOPE));
    let with_systemd = fix(&e, 0, true, V2);
    assert!(with_systemd.contains("`systemd-run --scope -p Delegate=yes hatchery ...`"));
    let without = fix(&e, 0, false, V2);
    assert!(!without.contains("systemd-run"), "{without}");
    assert!(
        without.contains("echo $$ > /sys/fs/cgroup/cgroup.procs"),
        "{without}"
    );
    assert!(fix(&e, 1000, true, V2).contains("systemd-run --user --scope -p Delegate=yes"));
}

#[test]
fn a_user_in_a_delegated_scope_gets_a_leaf_and_slots() {
    let f = placed(1000, DELEG, 1000);
    let a = alloc(&f);
    let slot = a.allocate().unwrap();
    assert_moved(&f, &slot, DELEG);
    assert!(f
        .get(&format!("{DELEG}/hatchery-4242-0/cgroup.controllers"))
        .contains("memory"));
    let d = a.diagnose();
    assert!(d.ok && d.peak == Some(true), "{d:?}");
    assert!(
        d.detail.contains("moved itself into the leaf"),
        "{}",
        d.detail
    );
    drop(slot);
    assert!(a.release());
    assert_eq!(f.where_is(ME).as_deref(), Some(DELEG));
}

#[test]
fn a_user_without_delegation_is_refused_with_the_path_and_the_step() {
    let f = placed(1000, DELEG, 0);
    let a = alloc(&f);
    let e = a.allocate().unwrap_err();
    let chain = hatchery_report::error_chain(&e);
    assert!(
        chain.contains(&format!(
            "failed to create {DELEG}/hatchery-supervisor-4242"
        )),
        "{chain}"
    );
    assert!(chain.contains("Permission denied"), "{chain}");
    assert!(!f.is_dir(&format!("{DELEG}/hatchery-supervisor-4242")));
    assert!(fix(&e, 1000, true, V2).contains("systemd-run --user --scope -p Delegate=yes hatchery"));
    assert!(!fix(&e, 1000, false, V2).contains("systemd-run"));
    let d = a.diagnose();
    assert!(!d.ok && d.peak.is_none());
}

#[test]
fn controllers_missing_in_the_parent_are_named_and_nothing_changes() {
    let f = Arc::new(Fake::v2(ME, 0));
    tree(&f, SCOPE, 0);
    f.enable("/sys/fs/cgroup/user.slice/user-0.slice", "cpu");
    f.place(ME, SCOPE);
    let e = alloc(&f).allocate().unwrap_err();
    match &e {
        CgroupError::V2ControllersMissing { missing, path } => {
            assert_eq!(missing, &["memory", "pids"]);
            assert_eq!(path, Path::new(SCOPE));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(f.mutations(), Vec::<String>::new());
    let root_fix = fix(&e, 0, false, V2);
    assert!(
        root_fix.contains(
            "echo '+memory +pids' > /sys/fs/cgroup/user.slice/user-0.slice/cgroup.subtree_control"
        ),
        "{root_fix}"
    );
    assert!(fix(&e, 1000, true, V2).contains("Delegate=cpu memory pids"));
}

#[test]
fn our_short_lived_child_is_waited_for() {
    let f = placed(1000, DELEG, 1000);
    f.spawn(90, ME, "cc", false, DELEG).exits_after(90, 3);
    let slot = alloc(&f).allocate().unwrap();
    assert_eq!(
        slot.dirs,
        [PathBuf::from(format!("{DELEG}/hatchery-4242-0"))]
    );
}

#[test]
fn a_child_that_stays_makes_us_give_up_and_undo_the_move() {
    let f = placed(1000, DELEG, 1000);
    f.spawn(91, ME, "sleep", false, DELEG);
    let e = alloc(&f).allocate().unwrap_err();
    assert!(e.to_string().contains("91 (sleep)"), "{e}");
    assert_eq!(f.where_is(ME).as_deref(), Some(DELEG));
    assert!(!f.is_dir(&format!("{DELEG}/hatchery-supervisor-4242")));
    assert_eq!(f.get(&format!("{DELEG}/cgroup.subtree_control")), "");
}

#[test]
fn a_hatchery_started_by_a_hatchery_steps_out_beside_its_parent() {
    let f = Arc::new(Fake::v2(ME, 1000));
    tree(&f, DELEG, 1000);
    let parent_leaf = format!("{DELEG}/hatchery-supervisor-70");
    f.enable(DELEG, "memory pids cpu");
    f.cgroup(&parent_leaf, 1000);
    f.spawn(70, 1, "cargo-test", false, &parent_leaf);
    f.place(ME, &parent_leaf);
    let a = alloc(&f);
    let slot = a.allocate().unwrap();
    assert_moved(&f, &slot, DELEG);
    assert_eq!(f.where_is(70), Some(parent_leaf.clone()));
    drop(slot);
    assert!(a.release());
    assert_eq!(f.where_is(ME), Some(parent_leaf));
    assert_eq!(
        f.get(&format!("{DELEG}/cgroup.subtree_control")),
        "memory pids cpu"
    );
}

#[test]
fn release_keeps_the_controllers_while_another_hatchery_uses_them() {
    let f = placed(1000, DELEG, 1000);
    let a = alloc(&f);
    drop(a.allocate().unwrap());
    f.cgroup(&format!("{DELEG}/hatchery-supervisor-71"), 1000);
    f.spawn(
        71,
        1,
        "hatchery",
        true,
        &format!("{DELEG}/hatchery-supervisor-71"),
    );
    assert!(!a.release());
    assert_eq!(
        f.where_is(ME),
        Some(format!("{DELEG}/hatchery-supervisor-4242"))
    );
}

#[test]
fn a_threaded_cgroup_is_refused() {
    let f = Arc::new(Fake::v2(ME, 0));
    tree(&f, SCOPE, 0);
    f.put(&format!("{SCOPE}/cgroup.type"), "threaded\n");
    f.place(ME, SCOPE);
    let e = alloc(&f).allocate().unwrap_err();
    assert!(e.to_string().contains("is a `threaded` cgroup"), "{e}");
}

#[test]
fn stale_slots_of_dead_supervisors_are_reclaimed_and_nothing_else() {
    let f = Arc::new(Fake::v2(ME, 1000));
    tree(&f, DELEG, 1000);
    f.enable(DELEG, "memory pids");
    f.cgroup(&format!("{DELEG}/hatchery-supervisor-70"), 1000);
    f.place(ME, &format!("{DELEG}/hatchery-supervisor-70"));
    for d in [
        "hatchery-11-0",
        "hatchery-supervisor-11",
        "hatchery-70-0",
        "other",
        "hatchery-3-0",
    ] {
        f.cgroup(&format!("{DELEG}/{d}"), 1000);
    }
    // pid 70 lives, 11 does not; pid 3 is dead but its slot still holds a process: not ours to kill.
    f.spawn(70, 1, "hatchery", true, &format!("{DELEG}/hatchery-70-0"));
    f.spawn(5, 1, "orphan", false, &format!("{DELEG}/hatchery-3-0"));
    let _slot = alloc(&f).allocate().unwrap();
    let mut left = f.subdirs(Path::new(DELEG)).unwrap();
    left.sort();
    assert_eq!(
        left,
        [
            "hatchery-3-0",
            "hatchery-4242-0",
            "hatchery-70-0",
            "hatchery-supervisor-4242",
            "hatchery-supervisor-70",
            "other"
        ]
    );
}

#[test]
fn leftovers_of_a_killed_run_with_our_pid_are_reused_or_skipped() {
    let f = Arc::new(Fake::v2(ME, 0));
    f.place(ME, "/sys/fs/cgroup");
    f.enable("/sys/fs/cgroup", "memory pids");
    f.cgroup("/sys/fs/cgroup/hatchery-4242-0", 0);
    f.cgroup("/sys/fs/cgroup/hatchery-4242-1", 0);
    f.spawn(6, 1, "left", false, "/sys/fs/cgroup/hatchery-4242-1");
    let a = alloc(&f);
    assert_eq!(
        a.allocate().unwrap().dirs[0],
        Path::new("/sys/fs/cgroup/hatchery-4242-0")
    );
    assert_eq!(
        a.allocate().unwrap().dirs[0],
        Path::new("/sys/fs/cgroup/hatchery-4242-2")
    );
    assert_eq!(
        f.where_is(6).as_deref(),
        Some("/sys/fs/cgroup/hatchery-4242-1")
    );
}

#[test]
fn removing_a_slot_kills_what_a_dead_zygote_left_in_it() {
    let f = Arc::new(Fake::v2(ME, 0));
    f.place(ME, "/sys/fs/cgroup");
    let slot = alloc(&f).allocate().unwrap();
    f.spawn(8, 1, "leftover", false, "/sys/fs/cgroup/hatchery-4242-0");
    drop(slot);
    assert!(f.mutations().contains(&"kill 8".to_owned()));
    assert!(!f.is_dir("/sys/fs/cgroup/hatchery-4242-0"));
}

#[test]
fn v1_slots_span_three_hierarchies_and_users_are_told_v1_is_not_delegated() {
    let f = Arc::new(Fake::v1(ME, 0));
    f.place(ME, "/sys/fs/cgroup");
    let a = alloc(&f);
    let slot = a.allocate().unwrap();
    assert_eq!(slot.version, Version::V1);
    assert_eq!(
        slot.dirs,
        [
            PathBuf::from("/sys/fs/cgroup/memory/hatchery-4242-0"),
            PathBuf::from("/sys/fs/cgroup/pids/hatchery-4242-0"),
            PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/hatchery-4242-0"),
        ]
    );
    drop(slot);
    let d = a.diagnose();
    assert!(
        d.ok && d.peak == Some(true) && d.detail.starts_with("cgroup v1"),
        "{d:?}"
    );

    let user = Arc::new(Fake::v1(ME, 1000));
    user.place(ME, "/sys/fs/cgroup");
    let mut u = alloc(&user).diagnose();
    assert!(!u.ok);
    let fix = u.fix.take().unwrap();
    assert!(fix.contains("not delegated to normal users"), "{fix}");
    assert!(
        !fix.contains("systemd-run"),
        "a v1 host must not be told to use systemd-run: {fix}"
    );
    assert!(
        u.detail.contains("/sys/fs/cgroup/memory/hatchery-4242-0"),
        "{}",
        u.detail
    );
}

#[test]
fn root_in_a_shared_session_scope_asks_systemd_for_a_delegated_scope() {
    let f = Arc::new(Fake::v2(ME, 0));
    tree(&f, SCOPE, 0);
    f.cgroup("/sys/fs/cgroup/system.slice", 0);
    f.enable("/sys/fs/cgroup/system.slice", "cpu memory pids");
    f.spawn(77, 1, "bash", false, SCOPE);
    f.place(ME, SCOPE);
    f.systemd_scopes_in("/sys/fs/cgroup/system.slice");
    let a = alloc(&f);
    let slot = a.allocate().unwrap();
    let scope = "/sys/fs/cgroup/system.slice/hatchery-4242.scope";
    assert_moved(&f, &slot, scope);
    // The login shell stays where it was, and nothing was written in its scope.
    assert_eq!(f.where_is(77).as_deref(), Some(SCOPE));
    assert!(f
        .mutations()
        .iter()
        .all(|m| !m.contains(&format!("{SCOPE}/"))));
    drop(slot);
    let d = a.diagnose();
    assert!(d.ok, "{d:?}");
    assert!(
        d.detail.contains("inside the scope hatchery-4242.scope") && d.detail.contains(SCOPE),
        "{}",
        d.detail
    );
    // Released into the scope (systemd removes it when we exit).
    assert!(a.release());
    assert_eq!(f.where_is(ME).as_deref(), Some(scope));
}

#[test]
fn a_user_in_a_session_scope_of_roots_gets_a_scope_from_its_own_manager() {
    let session = "/sys/fs/cgroup/user.slice/user-1000.slice/session-3.scope";
    let app = "/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/app.slice";
    let f = Arc::new(Fake::v2(ME, 1000));
    tree(&f, session, 0);
    let manager = "/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service";
    f.cgroup(manager, 1000).enable(manager, "cpu memory pids");
    f.cgroup(app, 1000).enable(app, "cpu memory pids");
    f.spawn(78, 1, "su", false, session);
    f.place(ME, session);
    f.systemd_scopes_in(app);
    let slot = alloc(&f).allocate().unwrap();
    assert_moved(&f, &slot, &format!("{app}/hatchery-4242.scope"));
}

#[test]
fn when_systemd_cannot_help_both_reasons_are_given() {
    let f = Arc::new(Fake::v2(ME, 0));
    tree(&f, SCOPE, 0);
    f.spawn(77, 1, "bash", false, SCOPE);
    f.place(ME, SCOPE);
    // A slice that does not exist: the manager's call fails.
    f.systemd_scopes_in("/sys/fs/cgroup/nowhere.slice");
    let e = alloc(&f).allocate().unwrap_err();
    let msg = hatchery_report::error_chain(&e);
    assert!(
        msg.contains("77 (bash)") && msg.contains("asking systemd for a delegated scope"),
        "{msg}"
    );
    assert_eq!(f.where_is(ME).as_deref(), Some(SCOPE));
    assert!(fix(&e, 0, true, V2).contains("systemd-run --scope -p Delegate=yes"));
}

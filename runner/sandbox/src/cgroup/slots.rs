//! The names of everything hatchery creates in a cgroup tree, and the only code that makes and
//! reclaims slot directories: `hatchery-<pid>-<n>` for slots, `hatchery-supervisor-<pid>` for
//! the cgroup v2 leaf a supervisor moves itself into.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::fs::CgroupFs;
use super::CgroupError;

/// Prefix of every cgroup hatchery creates.
pub const SLOT_PREFIX: &str = "hatchery-";
/// Prefix of the v2 leaf a supervisor moves itself into.
pub const LEAF_PREFIX: &str = "hatchery-supervisor-";

/// The supervisor pid a directory name of ours belongs to (`hatchery-<pid>-<n>` or
/// `hatchery-supervisor-<pid>`); `None` for names we did not make.
pub fn slot_owner(name: &str) -> Option<u32> {
    if let Some(pid) = leaf_owner(name) {
        return Some(pid);
    }
    let rest = name.strip_prefix(SLOT_PREFIX)?;
    let (pid, n) = rest.split_once('-')?;
    n.parse::<u64>().ok()?;
    pid.parse().ok()
}

/// The pid of the supervisor whose v2 leaf `name` is.
pub fn leaf_owner(name: &str) -> Option<u32> {
    name.strip_prefix(LEAF_PREFIX)?.parse().ok()
}

/// The name of our v2 leaf.
pub fn leaf_name(pid: u32) -> String {
    format!("{LEAF_PREFIX}{pid}")
}

/// Removes the empty cgroups that supervisors which no longer run left in `parent` (a killed
/// run cannot remove its own slots, and a supervisor cannot remove the leaf it lives in).
/// Only names of ours, only dead owners, only `rmdir`: a slot that still holds processes stays
/// (its processes are not ours to kill). Returns how many went.
pub fn reclaim_stale(fs: &dyn CgroupFs, parent: &Path) -> usize {
    let me = fs.pid();
    let Ok(names) = fs.subdirs(parent) else {
        return 0;
    };
    names
        .iter()
        .filter(|n| slot_owner(n).is_some_and(|o| o != me && fs.process(o).is_none()))
        .filter(|n| fs.rmdir(&parent.join(n)).is_ok())
        .count()
}

/// Creates `<parent>/hatchery-<pid>-<n>` in every parent for the next free `n`. A directory of
/// that name left by an earlier process that had our pid (pid reuse after a killed run) is
/// reused when it is empty; otherwise the next number is tried.
pub fn make_slot_dirs(
    fs: &dyn CgroupFs,
    next: &AtomicU64,
    parents: &[PathBuf],
) -> Result<Vec<PathBuf>, CgroupError> {
    let me = fs.pid();
    for _ in 0..64 {
        let n = next.fetch_add(1, Ordering::SeqCst);
        let name = format!("{SLOT_PREFIX}{me}-{n}");
        let mut made: Vec<PathBuf> = Vec::new();
        let mut collided = false;
        for p in parents {
            let d = p.join(&name);
            match fs.mkdir(&d) {
                Ok(()) => made.push(d),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    if fs.rmdir(&d).is_ok() && fs.mkdir(&d).is_ok() {
                        made.push(d);
                    } else {
                        collided = true;
                        break;
                    }
                }
                Err(source) => {
                    remove_all(fs, &made);
                    return Err(CgroupError::Create { path: d, source });
                }
            }
        }
        if !collided {
            return Ok(made);
        }
        remove_all(fs, &made);
    }
    Err(CgroupError::Create {
        path: parents.first().cloned().unwrap_or_default(),
        source: io::Error::other("64 slot names in a row were taken"),
    })
}

fn remove_all(fs: &dyn CgroupFs, dirs: &[PathBuf]) {
    for d in dirs.iter().rev() {
        let _ = fs.rmdir(d);
    }
}

/// Kills whatever is still in a slot of ours (processes a dead zygote did not reap), then
/// removes its directory. Gives up after ~200 ms and leaves a populated slot for
/// [`reclaim_stale`].
pub fn remove_slot(fs: &dyn CgroupFs, dir: &Path) {
    for _ in 0..100 {
        let procs = fs.read(&dir.join("cgroup.procs")).unwrap_or_default();
        if procs.trim().is_empty() {
            break;
        }
        for p in procs.lines().filter_map(|p| p.trim().parse::<u32>().ok()) {
            fs.kill(p);
        }
        fs.pause(std::time::Duration::from_millis(2));
    }
    let _ = fs.rmdir(dir);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_names_have_owners() {
        assert_eq!(slot_owner("hatchery-42-0"), Some(42));
        assert_eq!(slot_owner("hatchery-42-17"), Some(42));
        assert_eq!(slot_owner("hatchery-supervisor-7"), Some(7));
        assert_eq!(leaf_owner("hatchery-supervisor-7"), Some(7));
        assert_eq!(leaf_owner("hatchery-7-0"), None);
        assert_eq!(slot_owner("hatchery-42-w0"), None);
        assert_eq!(slot_owner("hatchery-doctor"), None);
        assert_eq!(slot_owner("user.slice"), None);
        assert_eq!(slot_owner("hatchery-x-1"), None);
        assert_eq!(leaf_owner(&leaf_name(9)), Some(9));
    }
}

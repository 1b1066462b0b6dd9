//! cgroup v2 delegation, once per process.
//!
//! A slot needs `memory` and `pids` (and `cpu` where available) in the `cgroup.subtree_control`
//! of the cgroup it is created in, and cgroup v2 refuses that write while the cgroup holds
//! processes ("no internal processes"; only the root cgroup is exempt). So, as systemd, runc and
//! nsjail do, the supervisor moves itself — the whole process: writing its pid to
//! `cgroup.procs` moves every thread — into a leaf of its own,
//! `<our cgroup>/hatchery-supervisor-<pid>`, and then enables the controllers on our cgroup.
//! It never moves anyone else: when other processes live in our cgroup (a login shell in a
//! `session-N.scope`), it changes nothing and says so. A hatchery started by a hatchery (tests,
//! the cargo runner) is born in its parent's leaf: it steps out into a leaf of its own beside
//! it, in the cgroup the first one was started in.
//!
//! [`release`] undoes it when the process is done: back to where it came from, the leaf
//! removed, and the controllers disabled again when we enabled them and nothing else uses them.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::fs::CgroupFs;
use super::slots::{leaf_name, leaf_owner};
use super::CgroupError;

/// Controllers a slot cannot do without.
pub const NEED: [&str; 2] = ["memory", "pids"];
/// Controllers enabled when the parent offers them.
pub const WANT: [&str; 1] = ["cpu"];

/// How long to wait for our own short-lived children (a compiler, `unshare`) or another
/// hatchery doing the same dance to leave our cgroup.
const BUSY_WAIT: Duration = Duration::from_secs(1);
const BUSY_STEP: Duration = Duration::from_millis(10);

/// What [`delegate`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delegation {
    /// Where slots go: a cgroup whose `cgroup.subtree_control` has [`NEED`].
    pub parent: PathBuf,
    /// Our leaf, when we moved, and the cgroup we came from.
    pub moved: Option<(PathBuf, PathBuf)>,
    /// The controllers we enabled in `parent` (disabled again by [`release`]).
    pub enabled: Vec<String>,
}

/// Another process in the cgroup we would have to empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Other {
    pub pid: u32,
    pub comm: String,
    /// Ours to wait for: our child, or another hatchery moving itself out.
    pub transient: bool,
}

impl std::fmt::Display for Other {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.pid, self.comm)
    }
}

fn words(fs: &dyn CgroupFs, dir: &Path, file: &str) -> io::Result<Vec<String>> {
    Ok(fs
        .read(&dir.join(file))?
        .split_whitespace()
        .map(str::to_owned)
        .collect())
}

fn others(fs: &dyn CgroupFs, dir: &Path) -> io::Result<Vec<Other>> {
    let me = fs.pid();
    Ok(fs
        .read(&dir.join("cgroup.procs"))?
        .lines()
        .filter_map(|l| l.trim().parse::<u32>().ok())
        .filter(|p| *p != me)
        .filter_map(|pid| {
            let info = fs.process(pid)?;
            Some(Other {
                pid,
                transient: info.ppid == me || info.same_exe,
                comm: info.comm,
            })
        })
        .collect())
}

fn io_err<'a>(path: &'a Path, step: &'static str) -> impl FnOnce(io::Error) -> CgroupError + 'a {
    move |source| CgroupError::V2Step {
        path: path.to_owned(),
        step,
        source,
    }
}

/// Enables what is missing of [`NEED`] (and of [`WANT`], where offered) in `dir`'s
/// `cgroup.subtree_control`; returns what it enabled.
fn enable(fs: &dyn CgroupFs, dir: &Path) -> io::Result<Vec<String>> {
    let active = words(fs, dir, "cgroup.subtree_control")?;
    let offered = words(fs, dir, "cgroup.controllers")?;
    let missing = |set: &[&str]| -> Vec<String> {
        set.iter()
            .filter(|c| !active.iter().any(|a| a == *c) && offered.iter().any(|o| o == *c))
            .map(|c| c.to_string())
            .collect()
    };
    let need = missing(&NEED);
    let plus = |v: &[String]| {
        v.iter()
            .map(|c| format!("+{c}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    if !need.is_empty() {
        fs.write(&dir.join("cgroup.subtree_control"), &plus(&need))?;
    }
    // `cpu` is a bonus (cpu.stat's usage_usec exists without it): a refusal is no failure.
    let want = missing(&WANT);
    let mut enabled = need;
    if !want.is_empty()
        && fs
            .write(&dir.join("cgroup.subtree_control"), &plus(&want))
            .is_ok()
    {
        enabled.extend(want);
    }
    Ok(enabled)
}

/// Sets up slots beneath our cgroup `own` on the cgroup2 hierarchy mounted at `mount`.
pub fn delegate(fs: &dyn CgroupFs, mount: &Path, own: &Path) -> Result<Delegation, CgroupError> {
    // Born in the leaf of the hatchery that started us: our cgroup is the one it came from.
    let nested = own != mount
        && own
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(leaf_owner)
            .is_some();
    let base = if nested {
        own.parent().unwrap_or(mount).to_path_buf()
    } else {
        own.to_path_buf()
    };
    if base == mount {
        // The root cgroup may hold processes and still give controllers to its children.
        let enabled = enable(fs, &base).map_err(io_err(&base, "enable controllers in"))?;
        return Ok(Delegation {
            parent: base,
            moved: None,
            enabled,
        });
    }
    // A threaded subtree cannot hold the memory controller (a missing file: before 4.14,
    // when every cgroup was a domain).
    let kind = fs
        .read(&base.join("cgroup.type"))
        .map(|t| t.trim().to_owned())
        .unwrap_or_else(|_| "domain".into());
    if kind != "domain" {
        return Err(CgroupError::V2Threaded { path: base, kind });
    }
    let offered = words(fs, &base, "cgroup.controllers").map_err(io_err(&base, "read"))?;
    let missing: Vec<String> = NEED
        .iter()
        .filter(|c| !offered.iter().any(|o| o == *c))
        .map(|c| c.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(CgroupError::V2ControllersMissing {
            path: base,
            missing,
        });
    }
    if !nested {
        let foreign: Vec<Other> = others(fs, &base)
            .map_err(io_err(&base, "read the processes of"))?
            .into_iter()
            .filter(|o| !o.transient)
            .collect();
        if !foreign.is_empty() {
            return Err(CgroupError::V2Shared {
                path: base,
                others: foreign,
            });
        }
    }
    let leaf = base.join(leaf_name(fs.pid()));
    match fs.mkdir(&leaf) {
        // Left by an earlier process with our pid: a leaf of that name is ours.
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => {
            return Err(io_err(&leaf, "create")(e));
        }
        _ => {}
    }
    if let Err(e) = fs.write(&leaf.join("cgroup.procs"), &fs.pid().to_string()) {
        let _ = fs.rmdir(&leaf);
        return Err(io_err(&leaf, "move this process into")(e));
    }
    let undo = |e: CgroupError| {
        let _ = fs.write(&own.join("cgroup.procs"), &fs.pid().to_string());
        let _ = fs.rmdir(&leaf);
        e
    };
    let mut waited = Duration::ZERO;
    let enabled = loop {
        match enable(fs, &base) {
            Ok(enabled) => break enabled,
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                let left = others(fs, &base).unwrap_or_default();
                if waited >= BUSY_WAIT || left.iter().any(|o| !o.transient) {
                    return Err(undo(CgroupError::V2Shared {
                        path: base,
                        others: left,
                    }));
                }
                fs.pause(BUSY_STEP);
                waited += BUSY_STEP;
            }
            Err(e) => return Err(undo(io_err(&base, "enable controllers in")(e))),
        }
    };
    Ok(Delegation {
        parent: base,
        moved: Some((leaf, own.to_path_buf())),
        enabled,
    })
}

/// Undoes [`delegate`] as far as nothing else depends on it: disables the controllers we
/// enabled when no other cgroup is left beside our leaf, moves us back where we came from
/// and removes the leaf. Whatever cannot be undone now (a slot or another hatchery's leaf
/// still there) stays; an empty leaf is reclaimed by the next run.
pub fn release(fs: &dyn CgroupFs, d: &Delegation) -> bool {
    let Some((leaf, origin)) = &d.moved else {
        return true;
    };
    if !d.enabled.is_empty() {
        let alone = fs
            .subdirs(&d.parent)
            .is_ok_and(|s| s.len() == 1 && d.parent.join(&s[0]) == *leaf);
        let minus = d
            .enabled
            .iter()
            .map(|c| format!("-{c}"))
            .collect::<Vec<_>>();
        if !alone
            || fs
                .write(&d.parent.join("cgroup.subtree_control"), &minus.join(" "))
                .is_err()
        {
            return false;
        }
    }
    fs.write(&origin.join("cgroup.procs"), &fs.pid().to_string())
        .is_ok()
        && fs.rmdir(leaf).is_ok()
}

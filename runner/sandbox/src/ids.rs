//! Host ids of cases when hatchery runs as root: each zygote takes a uid and gid of its own
//! from a range (isolate's box ids), held by a lock file for as long as the zygote lives, so
//! cases of different workers, and of different hatchery runs on the host, never share a uid:
//! not the kernel's per-user budgets (pipe buffers, inotify instances, message queues,
//! pending signals, processes), not `/proc/<pid>` access, not signals.
//!
//! The uid also owns the zygote's user namespace (the launcher creates it under that uid), so
//! what the kernel charges to a namespace's owner lands on it and not on host root.

use std::fs::File;
use std::os::fd::AsRawFd as _;
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use crate::fsat::HostIds;

/// Where the locks live: root's, never writable by anyone else.
pub const LOCK_DIR: &str = "/run/hatchery/ids";

/// The range used when `HATCHERY_HOST_IDS` does not name one: above the ids distributions
/// hand out to users (and systemd's container and dynamic ranges), below 2^31.
pub const DEFAULT_RANGE: IdRange = IdRange {
    first: 2_000_000_000,
    count: 1000,
};

/// Ids `first .. first + count`, each used as a uid and as a gid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IdRange {
    pub first: u32,
    pub count: u32,
}

impl std::str::FromStr for IdRange {
    type Err = String;

    /// `FIRST:COUNT` or `FIRST-LAST`.
    fn from_str(s: &str) -> Result<Self, String> {
        let num = |t: &str| {
            t.trim()
                .parse::<u32>()
                .map_err(|_| format!("`{t}` is not an id"))
        };
        let (first, count) = if let Some((a, n)) = s.split_once(':') {
            (num(a)?, num(n)?)
        } else if let Some((a, b)) = s.split_once('-') {
            let (a, b) = (num(a)?, num(b)?);
            if b < a {
                return Err(format!("`{s}`: the last id is below the first"));
            }
            (a, b - a + 1)
        } else {
            return Err(format!("`{s}`: expected FIRST:COUNT or FIRST-LAST"));
        };
        if first == 0 || count == 0 {
            return Err(format!(
                "`{s}`: the range must not hold root and not be empty"
            ));
        }
        if first
            .checked_add(count)
            .is_none_or(|end| end > i32::MAX as u32)
        {
            return Err(format!("`{s}`: ids must stay below 2^31"));
        }
        Ok(IdRange { first, count })
    }
}

/// Whose ids cases run as, when we are root.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CaseIds {
    /// Every zygote takes an id of its own from the range.
    Range(IdRange),
    /// One uid and gid for every zygote (their cases share the per-user budgets).
    Fixed(HostIds),
}

impl CaseIds {
    /// The range from `HATCHERY_HOST_IDS` (`FIRST:COUNT` or `FIRST-LAST`), else
    /// [`DEFAULT_RANGE`].
    pub fn configured() -> Result<CaseIds, String> {
        match std::env::var("HATCHERY_HOST_IDS") {
            Ok(s) => s
                .parse()
                .map(CaseIds::Range)
                .map_err(|e| format!("HATCHERY_HOST_IDS: {e}")),
            Err(_) => Ok(CaseIds::Range(DEFAULT_RANGE)),
        }
    }
}

/// The ids front ends lend case directories to when they create them before a worker is
/// chosen (a judge's builds, a service's working directories): `nobody` when we are root (see
/// [`crate::CaseSpec::shared_ids`]); `None` when cases run as our own uid.
pub fn lent() -> Option<HostIds> {
    nix::unistd::geteuid().is_root().then_some(HostIds {
        uid: crate::policy::DEFAULT_CASE_HOST_ID,
        gid: crate::policy::DEFAULT_CASE_HOST_ID,
    })
}

/// An id taken from a range: its lock is held until this is dropped.
#[derive(Debug)]
pub struct Lease {
    pub ids: HostIds,
    _lock: Flock<File>,
}

/// Takes a free id of `range`: one no other zygote (of this or another hatchery process)
/// holds, and no user or group of this host's databases has. Tries from an offset spread
/// by our pid, so concurrent runs rarely contend for the same locks.
pub fn lease(range: IdRange) -> Result<Lease, String> {
    let dir = lock_dir(Path::new(LOCK_DIR))?;
    let start = std::process::id() % range.count;
    let mut named = 0;
    for i in 0..range.count {
        let id = range.first + (start + i) % range.count;
        let path = dir.join(id.to_string());
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)
            .map_err(|e| format!("cannot open the id lock {}: {e}", path.display()))?;
        let lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(l) => l,
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => continue,
            Err((_, e)) => return Err(format!("cannot lock {}: {e}", path.display())),
        };
        // An id a user or group of this host has would hand the case that user's files (and,
        // owning the namespace, let that user into it).
        let taken = nix::unistd::User::from_uid(id.into())
            .ok()
            .flatten()
            .is_some()
            || nix::unistd::Group::from_gid(id.into())
                .ok()
                .flatten()
                .is_some();
        if taken {
            named += 1;
            continue;
        }
        return Ok(Lease {
            ids: HostIds { uid: id, gid: id },
            _lock: lock,
        });
    }
    Err(format!(
        "no free host id in {}..{} ({} in use by other zygotes, {named} belong to users or \
         groups of this host); set HATCHERY_HOST_IDS=FIRST:COUNT to a larger range no user has",
        range.first,
        range.first as u64 + range.count as u64 - 1,
        range.count - named,
    ))
}

/// Creates (0700) or checks `dir`: a directory owned by root, written by nobody else, reached
/// without links.
fn lock_dir(dir: &Path) -> Result<PathBuf, String> {
    let mut at = PathBuf::from("/");
    for part in dir.components().skip(1) {
        at.push(part);
        match std::fs::DirBuilder::new().mode(0o755).create(&at) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(format!("cannot create {}: {e}", at.display())),
        }
        let m = std::fs::symlink_metadata(&at)
            .map_err(|e| format!("cannot inspect {}: {e}", at.display()))?;
        if !m.is_dir() || m.uid() != 0 || m.mode() & 0o022 != 0 {
            return Err(format!(
                "{} must be a directory owned by root and writable by root only",
                at.display()
            ));
        }
    }
    let f = File::open(&at).map_err(|e| format!("cannot open {}: {e}", at.display()))?;
    nix::sys::stat::fchmod(
        f.as_raw_fd(),
        nix::sys::stat::Mode::from_bits_truncate(0o700),
    )
    .map_err(|e| format!("cannot chmod {}: {e}", at.display()))?;
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_both_ways_and_refuse_nonsense() {
        let r: IdRange = "60000:100".parse().unwrap();
        assert_eq!(
            r,
            IdRange {
                first: 60000,
                count: 100
            }
        );
        assert_eq!("60000-60099".parse::<IdRange>().unwrap(), r);
        for bad in ["", "0:10", "5:0", "9-3", "x:1", "2147483000:1000", "60000"] {
            assert!(bad.parse::<IdRange>().is_err(), "{bad}");
        }
    }
}

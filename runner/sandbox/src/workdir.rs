//! A front end's work directory: files its cases read or write outside their private
//! scratch (a judge's builds, validator outputs, feedback directories and FIFOs; a fuzz
//! campaign's corpus, artifacts and logs), outside `/tmp` and reachable by the uid cases run
//! as. Made with fresh names, handed to cases by descriptor, emptied through descriptors.

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd as _, AsRawFd as _, OwnedFd};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use nix::sys::stat::Mode;

use crate::fsat::{self, CaseDir, HostIds};

/// A work directory: outside `/tmp` (cases get a private one) and reachable by the uid cases
/// run as.
///
/// The rule (SECURITY.md): we never chown, chmod, copy or delete by path inside a tree a case
/// could write. The root and the directories made by [`WorkDir::dir`] are ours and written by
/// us only; a case writes only in a [`CaseDir`] made for it by [`WorkDir::case_dir`] (owned
/// by its uid from the moment it is handed over, by `fchown` on the descriptor), and what it
/// wrote is read, copied out and removed through descriptors (`hatchery_sandbox::fsat`).
pub struct WorkDir {
    root: PathBuf,
    root_fd: OwnedFd,
    /// `private/` in the root: what only the front end and the cases it trusts may see (a
    /// judge's copies of the test data and feedback directories), hidden from the view of
    /// the others (submissions).
    private: CaseDir,
    keep: bool,
    /// Host uid/gid of cases when they differ from ours (we are root).
    case_ids: Option<HostIds>,
    counter: AtomicUsize,
}

impl WorkDir {
    /// Creates a fresh directory under `base` (removed on drop unless `keep`).
    pub fn create(base: &Path, keep: bool) -> Result<WorkDir, String> {
        let base = std::path::absolute(base)
            .map_err(|e| format!("invalid work directory {}: {e}", base.display()))?;
        std::fs::create_dir_all(&base)
            .map_err(|e| format!("cannot create work directory {}: {e}", base.display()))?;
        let root = nix::unistd::mkdtemp(&base.join(".hatchery-work.XXXXXX"))
            .map_err(|e| format!("cannot create a directory in {}: {e}", base.display()))?;
        let root_fd = fsat::open_dir(&root)
            .map_err(|e| format!("cannot open work directory {}: {e}", root.display()))?;
        let case_ids = crate::ids::lent();
        let private = CaseDir::create(root_fd.as_fd(), &root, OsStr::new("private"))
            .and_then(|d| d.lend(None, 0o755).map(|_| d))
            .map_err(|e| format!("cannot create {}/private: {e}", root.display()))?;
        let wd = WorkDir {
            root: root.clone(),
            root_fd,
            private,
            keep,
            case_ids,
            counter: AtomicUsize::new(0),
        };
        nix::sys::stat::fchmod(wd.root_fd.as_raw_fd(), Mode::from_bits_truncate(0o755))
            .map_err(|e| format!("cannot chmod {}: {e}", root.display()))?;
        wd.check_reachable(&root)?;
        Ok(wd)
    }

    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Host uid of cases, when it is not ours.
    pub fn case_uid(&self) -> Option<u32> {
        self.case_ids.map(|c| c.uid)
    }

    /// Host uid and gid of cases, when they are not ours.
    pub fn case_ids(&self) -> Option<HostIds> {
        self.case_ids
    }

    fn fresh_name(&self, prefix: &str) -> OsString {
        let n = self.counter.fetch_add(1, Ordering::SeqCst);
        format!("{prefix}-{n}").into()
    }

    /// A new, empty directory of ours (mode 0755: cases may read, never write).
    pub fn dir(&self, prefix: &str) -> std::io::Result<CaseDir> {
        let d = CaseDir::create(self.root_fd.as_fd(), &self.root, &self.fresh_name(prefix))?;
        d.lend(None, 0o755)?;
        Ok(d)
    }

    /// The directory the view of untrusted cases hides (a judge's submissions).
    pub fn private_path(&self) -> &Path {
        self.private.path()
    }

    /// [`WorkDir::dir`] in the private part: for validators' eyes only.
    pub fn private_dir(&self, prefix: &str) -> std::io::Result<CaseDir> {
        let d = CaseDir::create(
            self.private.fd(),
            self.private.path(),
            &self.fresh_name(prefix),
        )?;
        d.lend(None, 0o755)?;
        Ok(d)
    }

    /// [`WorkDir::dir`] by path, for directories nothing is created in later.
    pub fn new_dir(&self, prefix: &str) -> std::io::Result<PathBuf> {
        self.dir(prefix).map(|d| d.path().to_path_buf())
    }

    /// A new directory for one case to write in: ours and closed (mode 0700) until the
    /// caller has filled it and calls [`WorkDir::lend`].
    pub fn case_dir(&self, prefix: &str) -> std::io::Result<CaseDir> {
        CaseDir::create(self.root_fd.as_fd(), &self.root, &self.fresh_name(prefix))
    }

    /// Hands a case directory (itself, by descriptor) to the case uid, mode 0700.
    pub fn lend(&self, d: &CaseDir) -> std::io::Result<()> {
        d.lend(self.case_ids, 0o700)
    }

    /// Removes a directory made by [`WorkDir::dir`] or [`WorkDir::case_dir`] and everything in
    /// it, through descriptors, never following a link.
    pub fn remove(&self, d: &CaseDir) -> std::io::Result<()> {
        if let Ok(name) = d.path().strip_prefix(self.private.path()) {
            let name = name
                .to_str()
                .filter(|n| !n.is_empty() && !n.contains('/'))
                .ok_or_else(|| std::io::Error::other("not a private directory"))?;
            return fsat::remove_tree_at(self.private.fd(), OsStr::new(name));
        }
        let name = d
            .path()
            .strip_prefix(&self.root)
            .ok()
            .and_then(|r| r.to_str())
            .filter(|n| !n.contains('/'))
            .ok_or_else(|| {
                std::io::Error::other(format!(
                    "{} is not a directory of the work directory",
                    d.path().display()
                ))
            })?;
        fsat::remove_tree_at(self.root_fd.as_fd(), OsStr::new(name))
    }

    /// Checks that the case uid can reach (search every ancestor of) a directory.
    pub fn check_reachable(&self, p: &Path) -> Result<(), String> {
        match self.case_ids {
            Some(ids) => reachable(p, ids.uid, false),
            None => Ok(()),
        }
    }

    /// Whether the case uid can read a file (it can search every ancestor and read it).
    pub fn readable_by_case(&self, p: &Path) -> bool {
        match self.case_ids {
            Some(ids) => reachable(p, ids.uid, true).is_ok(),
            None => true,
        }
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        // Cases wrote in here: emptied through descriptors, then the root itself.
        if fsat::empty_dir(self.root_fd.as_fd()).is_ok() {
            let _ = std::fs::remove_dir(&self.root);
        }
    }
}

/// Checks, by permission bits, that `uid` (not ours, not root) can search every directory
/// on the way to `p` (and read `p` when `read`). Errors name the blocking path and its mode.
pub fn reachable(p: &Path, uid: u32, read: bool) -> Result<(), String> {
    let p = std::path::absolute(p).map_err(|e| e.to_string())?;
    let canon = p.canonicalize().unwrap_or(p.clone());
    let check = |q: &Path, bit: u32| -> Result<(), String> {
        let md = std::fs::metadata(q).map_err(|e| format!("{}: {e}", q.display()))?;
        let mode = md.mode();
        let ok = if md.uid() == uid {
            mode & (bit << 6) != 0
        } else {
            mode & bit != 0
        };
        if ok {
            Ok(())
        } else {
            Err(format!(
                "{} (mode {:04o}, owner uid {}) is not {} by uid {uid}",
                q.display(),
                mode & 0o7777,
                md.uid(),
                if bit == 1 { "searchable" } else { "readable" }
            ))
        }
    };
    let mut ancestors: Vec<&Path> = canon.ancestors().skip(1).collect();
    ancestors.reverse();
    for a in ancestors {
        check(a, 0o1)?;
    }
    if read {
        check(&canon, 0o4)
    } else {
        check(&canon, 0o1)
    }
}

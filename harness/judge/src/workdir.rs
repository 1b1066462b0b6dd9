//! The judge's files and programs: a work directory the sandboxed user can reach (builds,
//! outputs for validators, feedback directories, FIFOs), resolution of the programs
//! (compilers, interpreters) cases run, and reading what a case wrote. Nothing here runs a
//! case: the engine's executors do (see `exec.rs`).

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd as _, AsRawFd as _, OwnedFd};
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use hatchery_report::Limits;
use hatchery_sandbox::fsat::{self, CaseDir, HostIds};
use hatchery_sandbox::CaseSpec;
use nix::sys::stat::Mode;

/// `PATH` inside the sandbox (the engine's clean environment).
pub const SANDBOX_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The judge's files: builds, outputs for validators, feedback directories, FIFOs. Outside
/// `/tmp` (cases get a private one) and reachable by the uid cases run as.
///
/// The rule (SECURITY.md): we never chown, chmod, copy or delete by path inside a tree a case
/// could write. The root and the directories made by [`WorkDir::dir`] are ours and written by
/// us only; a case writes only in a [`CaseDir`] made for it by [`WorkDir::case_dir`] (owned
/// by its uid from the moment it is handed over, by `fchown` on the descriptor), and what it
/// wrote is read, copied out and removed through descriptors (`hatchery_sandbox::fsat`).
pub struct WorkDir {
    root: PathBuf,
    root_fd: OwnedFd,
    /// `private/` in the root: what only the judge and its validators may see (copies of the
    /// test data, feedback directories), hidden from submissions' view.
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
        let tmp = tempfile::Builder::new()
            .prefix(".hatchery-judge.")
            .tempdir_in(&base)
            .map_err(|e| format!("cannot create a directory in {}: {e}", base.display()))?;
        let root = tmp.keep();
        let root_fd = fsat::open_dir(&root)
            .map_err(|e| format!("cannot open work directory {}: {e}", root.display()))?;
        let case_ids = hatchery_sandbox::ids::lent();
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

    /// The directory submissions must not see (see [`crate::judge::Judge::private_paths`]).
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
fn reachable(p: &Path, uid: u32, read: bool) -> Result<(), String> {
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

/// Resolves program names the way cases will see them, once per name.
#[derive(Default)]
pub struct Resolver {
    cache: Mutex<HashMap<String, Result<PathBuf, String>>>,
}

impl Resolver {
    /// Resolves `name` (a compiler or interpreter) to an absolute path the case uid can
    /// execute: first on the sandbox's `PATH`, then on ours.
    pub fn resolve(&self, name: &str, work: &WorkDir) -> Result<PathBuf, String> {
        if name.contains('/') {
            let p = std::path::absolute(name).map_err(|e| format!("{name}: {e}"))?;
            if let Some(uid) = work.case_uid() {
                reachable(&p, uid, false)
                    .map_err(|e| format!("`{name}` cannot be run by the sandboxed user: {e}"))?;
            }
            return Ok(p);
        }
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = cache.get(name) {
            return r.clone();
        }
        let r = resolve_uncached(name, work);
        cache.insert(name.to_owned(), r.clone());
        r
    }
}

fn find_in(path: &std::ffi::OsStr, name: &str) -> Option<PathBuf> {
    std::env::split_paths(path).map(|d| d.join(name)).find(|c| {
        c.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            && !crate::lang::dead_shim(c)
    })
}

fn resolve_uncached(name: &str, work: &WorkDir) -> Result<PathBuf, String> {
    let host_path = std::env::var_os("PATH").unwrap_or_else(|| SANDBOX_PATH.into());
    let found = find_in(SANDBOX_PATH.as_ref(), name)
        .or_else(|| find_in(&host_path, name))
        .ok_or_else(|| {
            format!(
                "`{name}` not found on the sandbox's PATH ({SANDBOX_PATH}) or on ours; install it"
            )
        })?;
    // A rustup proxy (`rustc`, `cargo` linked to `rustup`) stays the proxy: the engine gives
    // it our RUSTUP_HOME and CARGO_HOME and shows them read-only in the view (the judge's
    // settings show every language's command, see `setup`), also below a home directory the
    // case uid cannot search. So the uid's own reach does not matter for it.
    if !hatchery_sandbox::policy::rustup_homes(&found).is_empty() {
        return Ok(found);
    }
    let path = found;
    if let Some(uid) = work.case_uid() {
        reachable(&path, uid, false).map_err(|e| {
            format!(
                "`{name}` resolves to {}, which the sandboxed user cannot run: {e}; install it \
                 where every user can reach it, or run the judge as a normal user",
                path.display()
            )
        })?;
    }
    Ok(path)
}

/// Makes a FIFO `name` in `dir` (ours, written by nobody else) owned by the case uid, and
/// opens it for reading and writing (on Linux that waits for no partner): while the caller
/// holds that file, a case reading the FIFO sees no end of file and a case writing it gets
/// no SIGPIPE.
pub fn make_fifo(
    dir: &CaseDir,
    name: &str,
    work: &WorkDir,
) -> Result<(PathBuf, std::fs::File), String> {
    let p = dir.path().join(name);
    nix::unistd::mkfifoat(
        Some(dir.fd().as_raw_fd()),
        name,
        Mode::from_bits_truncate(0o600),
    )
    .map_err(|e| format!("mkfifo {}: {e}", p.display()))?;
    // Opened before the chown (still ours), through the directory we hold.
    let held = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(format!("/proc/self/fd/{}/{name}", dir.fd().as_raw_fd()))
        .map_err(|e| format!("open {}: {e}", p.display()))?;
    if let Some(ids) = work.case_ids() {
        nix::unistd::fchownat(
            Some(dir.fd().as_raw_fd()),
            name,
            Some(nix::unistd::Uid::from_raw(ids.uid)),
            Some(nix::unistd::Gid::from_raw(ids.gid)),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(|e| format!("chown {}: {e}", p.display()))?;
    }
    Ok((p, held))
}

/// A case spec with the judge's defaults: clean environment, default seccomp profile.
pub fn spec(argv: Vec<OsString>, cwd: &Path, limits: Limits) -> CaseSpec {
    let mut s = CaseSpec::new(argv);
    s.cwd = cwd.to_path_buf();
    s.limits = limits;
    // As the uid the work directory lends to (see `cli.rs`), unless the caller knows the
    // case uses nothing lent.
    s.shared_ids = true;
    s
}

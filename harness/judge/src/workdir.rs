//! The judge's files and programs: a work directory the sandboxed user can reach (builds,
//! outputs for validators, feedback directories, FIFOs), resolution of the programs
//! (compilers, interpreters) cases run, and reading what a case wrote. Nothing here runs a
//! case: the engine's executors do (see `exec.rs`).

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::Read as _;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use hatchery_report::Limits;
use hatchery_sandbox::CaseSpec;

/// `PATH` inside the sandbox (the engine's clean environment).
pub const SANDBOX_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The judge's files: builds, outputs for validators, feedback directories, FIFOs. Outside
/// `/tmp` (cases get a private one) and reachable by the uid cases run as.
pub struct WorkDir {
    root: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    /// Host uid/gid of cases when they differ from ours (we are root).
    case_ids: Option<(u32, u32)>,
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
        let case_ids = (nix::unistd::geteuid().is_root()).then_some((65534, 65534));
        let root = tmp.path().to_path_buf();
        let wd = WorkDir {
            root: root.clone(),
            _tmp: if keep {
                let _ = tmp.keep();
                None
            } else {
                Some(tmp)
            },
            case_ids,
            counter: AtomicUsize::new(0),
        };
        set_mode(&root, 0o755).map_err(|e| format!("cannot chmod {}: {e}", root.display()))?;
        wd.check_reachable(&root)?;
        Ok(wd)
    }

    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Host uid of cases, when it is not ours.
    pub fn case_uid(&self) -> Option<u32> {
        self.case_ids.map(|c| c.0)
    }

    /// A new, empty directory (mode 0755, ours).
    pub fn new_dir(&self, prefix: &str) -> std::io::Result<PathBuf> {
        let n = self.counter.fetch_add(1, Ordering::SeqCst);
        let p = self.root.join(format!("{prefix}-{n}"));
        std::fs::create_dir(&p)?;
        set_mode(&p, 0o755)?;
        Ok(p)
    }

    /// Makes a path (recursively) owned by the case uid, so a case can write there.
    pub fn give_to_case(&self, p: &Path) -> std::io::Result<()> {
        match self.case_ids {
            Some((u, g)) => chown_tree(p, u, g),
            None => Ok(()),
        }
    }

    /// Takes a path back (recursively) after a case wrote there, so later cases cannot
    /// change it.
    pub fn take_back(&self, p: &Path) -> std::io::Result<()> {
        if self.case_ids.is_some() {
            chown_tree(
                p,
                nix::unistd::geteuid().as_raw(),
                nix::unistd::getegid().as_raw(),
            )?;
        }
        Ok(())
    }

    /// Checks that the case uid can reach (search every ancestor of) a directory.
    pub fn check_reachable(&self, p: &Path) -> Result<(), String> {
        match self.case_ids {
            Some((uid, _)) => reachable(p, uid, false),
            None => Ok(()),
        }
    }

    /// Whether the case uid can read a file (it can search every ancestor and read it).
    pub fn readable_by_case(&self, p: &Path) -> bool {
        match self.case_ids {
            Some((uid, _)) => reachable(p, uid, true).is_ok(),
            None => true,
        }
    }
}

fn set_mode(p: &Path, mode: u32) -> std::io::Result<()> {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
}

/// Changes the owner of a tree without following symbolic links.
fn chown_tree(p: &Path, uid: u32, gid: u32) -> std::io::Result<()> {
    let md = std::fs::symlink_metadata(p)?;
    std::os::unix::fs::lchown(p, Some(uid), Some(gid))?;
    if md.is_dir() {
        for e in std::fs::read_dir(p)? {
            chown_tree(&e?.path(), uid, gid)?;
        }
    }
    Ok(())
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
    /// execute: first on the sandbox's `PATH`, then on ours; a rustup proxy is replaced by
    /// the toolchain's real binary (the proxy needs the caller's home directory).
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
    let mut path = found.clone();
    let is_rustup = found
        .canonicalize()
        .ok()
        .and_then(|c| c.file_name().map(|n| n == "rustup"))
        .unwrap_or(false);
    if is_rustup {
        // `rustc --print sysroot` through the proxy names the toolchain it would use.
        let out = std::process::Command::new(&found)
            .args(["--print", "sysroot"])
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output()
            .map_err(|e| {
                format!(
                    "cannot ask the rustup proxy {} for its toolchain: {e}",
                    found.display()
                )
            })?;
        let sysroot = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let real = Path::new(&sysroot).join("bin").join(name);
        if !out.status.success() || !real.is_file() {
            return Err(format!(
                "`{name}` is a rustup proxy ({}) whose toolchain could not be found",
                found.display()
            ));
        }
        path = real;
    }
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

/// Reads a file a case wrote (a validator's feedback): never follows a symbolic link, only
/// regular files, at most `cap` bytes.
pub fn read_case_file(p: &Path, cap: u64) -> Option<Vec<u8>> {
    let f = std::fs::File::options()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK)
        .open(p)
        .ok()?;
    if !f.metadata().ok()?.is_file() {
        return None;
    }
    let mut buf = Vec::new();
    f.take(cap).read_to_end(&mut buf).ok()?;
    Some(buf)
}

/// Makes a FIFO owned by the case uid.
pub fn make_fifo(p: &Path, work: &WorkDir) -> Result<(), String> {
    nix::unistd::mkfifo(p, nix::sys::stat::Mode::from_bits_truncate(0o600))
        .map_err(|e| format!("mkfifo {}: {e}", p.display()))?;
    work.give_to_case(p)
        .map_err(|e| format!("chown {}: {e}", p.display()))
}

/// A case spec with the judge's defaults: clean environment, default seccomp profile.
pub fn spec(argv: Vec<OsString>, cwd: &Path, limits: Limits) -> CaseSpec {
    let mut s = CaseSpec::new(argv);
    s.cwd = cwd.to_path_buf();
    s.limits = limits;
    s
}

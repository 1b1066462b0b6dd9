//! The judge's programs and files: resolution of the programs (compilers, interpreters) cases
//! run, FIFOs and case specs in the work directory ([`WorkDir`], shared with the other front
//! ends). Nothing here runs a case: the engine's executors do (see `exec.rs`).

use std::collections::HashMap;
use std::ffi::OsString;
use std::os::fd::AsRawFd as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use hatchery_report::Limits;
use hatchery_sandbox::fsat::CaseDir;
use hatchery_sandbox::workdir::{reachable, WorkDir};
use hatchery_sandbox::CaseSpec;
use nix::sys::stat::Mode;

/// `PATH` inside the sandbox (the engine's clean environment).
pub const SANDBOX_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

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

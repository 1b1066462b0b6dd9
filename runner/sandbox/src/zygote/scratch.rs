//! Scratch space between cases: the private tmpfs directories (`/tmp`, `/dev/shm`, ...) and
//! the POSIX message queues of the zygote's IPC namespace, emptied after a case that left
//! anything there.
//!
//! The wipe runs after every process of the case is dead, so nothing changes the tree while
//! it runs; still, it never follows a name the case chose: every directory is entered with
//! `openat(O_NOFOLLOW | O_DIRECTORY)` relative to its parent's descriptor, symlinks are
//! unlinked, never followed, and no entry is ever renamed (a name the case chose cannot
//! collide with anything of ours).

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use nix::unistd::{unlinkat, UnlinkatFlags};

use crate::fsat::names_in;

/// The writable scratch directories of a case (`/tmp`, `/dev/shm`, ...): directories of one
/// private tmpfs, bind-mounted into place, so that one `fstatvfs` tells whether a case left
/// anything in any of them. Wiped between cases when something was left. Also the POSIX
/// message queues of the zygote's IPC namespace.
pub(crate) struct Scratch {
    /// Where the case sees each scratch directory.
    pub dirs: Vec<PathBuf>,
    /// The tmpfs holding them all (its root is hidden from cases), and its inode count when
    /// every directory is empty.
    pub base: Option<(OwnedFd, u64)>,
    /// The mqueue filesystem of our IPC namespace, mounted once and detached at once: only the
    /// zygote holds it, through this descriptor.
    pub mqueue: Option<OwnedFd>,
}

/// A step of the wipe that failed, naming the entry.
#[derive(Debug, thiserror::Error)]
#[error("failed to {op} {path}")]
pub(crate) struct WipeError {
    pub op: &'static str,
    pub path: String,
    #[source]
    pub source: Errno,
}

fn wipe_err(op: &'static str, path: impl std::fmt::Display) -> impl FnOnce(Errno) -> WipeError {
    move |source| WipeError {
        op,
        path: path.to_string(),
        source,
    }
}

pub(crate) fn inodes_used(fd: &OwnedFd) -> u64 {
    nix::sys::statvfs::fstatvfs(fd)
        .map(|s| s.files() - s.files_free())
        .unwrap_or(u64::MAX)
}

impl Scratch {
    /// Scratch space of a zygote without any (tier `none`).
    pub fn none() -> Scratch {
        Scratch {
            dirs: Vec::new(),
            base: None,
            mqueue: None,
        }
    }

    /// Removes every POSIX message queue the case created. Returns how many.
    pub fn clear_mqueues(&self) -> Result<usize, WipeError> {
        let Some(fd) = &self.mqueue else {
            return Ok(0);
        };
        // The mqueue root directory's size grows with every queue in it: one fstat tells
        // whether there is anything to remove.
        let st = nix::sys::stat::fstat(fd.as_raw_fd())
            .map_err(wipe_err("stat", "the mqueue filesystem"))?;
        if st.st_size == 0 {
            return Ok(0);
        }
        let names = names_in(fd.as_fd()).map_err(wipe_err("list", "the mqueue filesystem"))?;
        for n in &names {
            unlinkat(
                Some(fd.as_raw_fd()),
                n.as_c_str(),
                UnlinkatFlags::NoRemoveDir,
            )
            .map_err(wipe_err("remove message queue", format!("{n:?}")))?;
        }
        Ok(names.len())
    }

    /// Empties the scratch directories if the case left anything in them (the inode count
    /// of their tmpfs tells). Deletion rather than a fresh mount: the zygote runs under its
    /// base seccomp filter, which forbids mount(2). Returns whether anything was removed.
    pub fn reset(&mut self) -> Result<bool, WipeError> {
        let Some((base, empty)) = &self.base else {
            return Ok(false);
        };
        if inodes_used(base) == *empty {
            return Ok(false);
        }
        for d in &self.dirs {
            let root = hatchery_sys::open_owned(d.as_path(), DIR_FLAGS, Mode::empty())
                .map_err(wipe_err("open", d.display()))?;
            wipe(root.as_fd(), d)?;
        }
        Ok(true)
    }
}

const DIR_FLAGS: OFlag = OFlag::O_RDONLY
    .union(OFlag::O_DIRECTORY)
    .union(OFlag::O_NOFOLLOW)
    .union(OFlag::O_CLOEXEC);

/// (device, inode) of a directory, to check that `..` leads back where we came from.
fn identity(fd: RawFd) -> Result<(u64, u64), Errno> {
    let st = nix::sys::stat::fstat(fd)?;
    Ok((st.st_dev, st.st_ino))
}

/// One directory being emptied: its identity, its name in its parent (none for the root),
/// and the entries still to remove.
struct Level {
    id: (u64, u64),
    name: Option<CString>,
    pending: Vec<CString>,
    /// Something below it stays (another filesystem), so it stays too.
    kept: bool,
}

/// Deletes everything below the directory `root` (shown as `shown` in errors), leaving
/// `root` itself. Depth-first and iterative: one directory descriptor open at a time (the
/// way back up is `..`, checked against the identity recorded on the way down), the names
/// still to remove of every directory on the path in memory. Any depth ends: the tmpfs has
/// a bounded number of inodes. Directories without permissions are given `0700` first
/// (needed only without CAP_DAC_OVERRIDE).
pub(crate) fn wipe(root: BorrowedFd<'_>, shown: &Path) -> Result<(), WipeError> {
    let shown = shown.display();
    let mut cur: OwnedFd = root
        .try_clone_to_owned()
        .map_err(|e| wipe_err("duplicate", &shown)(io_errno(e)))?;
    let mut path: Vec<String> = Vec::new();
    let at = |path: &[String], name: &CString| {
        let mut s = shown.to_string();
        for p in path {
            s.push('/');
            s.push_str(p);
        }
        s.push('/');
        s.push_str(&name.to_string_lossy());
        s
    };
    let mut levels = vec![Level {
        id: identity(cur.as_raw_fd()).map_err(wipe_err("stat", &shown))?,
        name: None,
        pending: list(cur.as_fd()).map_err(wipe_err("list", &shown))?,
        kept: false,
    }];
    let scratch_dev = levels[0].id.0;
    loop {
        let top = levels
            .last_mut()
            .expect("the root level stays until the end");
        if let Some(name) = top.pending.pop() {
            match remove_entry(cur.as_fd(), &name) {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => return Err(wipe_err("remove", at(&path, &name))(e)),
            }
            // A directory that is not empty, or a mount point: go down into it, unless it is
            // another filesystem (a directory shown to cases), which stays as it is, and so
            // do the directories that lead to it.
            let st = nix::sys::stat::fstatat(
                Some(cur.as_raw_fd()),
                name.as_c_str(),
                nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .map_err(|e| wipe_err("stat", at(&path, &name))(e))?;
            if st.st_dev != scratch_dev {
                top.kept = true;
                continue;
            }
            let sub = open_subdir(cur.as_fd(), &name)
                .map_err(|e| wipe_err("open directory", at(&path, &name))(e))?;
            let pending = list(sub.as_fd()).map_err(|e| wipe_err("list", at(&path, &name))(e))?;
            let id =
                identity(sub.as_raw_fd()).map_err(|e| wipe_err("stat", at(&path, &name))(e))?;
            path.push(name.to_string_lossy().into_owned());
            levels.push(Level {
                id,
                name: Some(name),
                pending,
                kept: false,
            });
            cur = sub;
            continue;
        }
        // Every entry of this directory is gone: go back up and remove it.
        let done = levels.pop().expect("checked above");
        let Some(name) = done.name else {
            return Ok(());
        };
        path.pop();
        let parent = levels.last_mut().expect("the root has no name");
        let up = hatchery_sys::openat_owned(cur.as_fd(), "..", DIR_FLAGS, Mode::empty())
            .map_err(|e| wipe_err("open the parent of", at(&path, &name))(e))?;
        if identity(up.as_raw_fd()).ok() != Some(parent.id) {
            return Err(wipe_err("find the way back up from", at(&path, &name))(
                Errno::ESTALE,
            ));
        }
        cur = up;
        if done.kept {
            parent.kept = true;
            continue;
        }
        match remove_dir(cur.as_fd(), &name) {
            Ok(()) | Err(Errno::ENOENT) => {}
            // A mount point of ours (a directory leading to a shown one, bound onto itself).
            Err(Errno::EBUSY) => parent.kept = true,
            Err(e) => return Err(wipe_err("remove", at(&path, &name))(e)),
        }
    }
}

fn io_errno(e: std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

/// The names in `dir`; makes it readable first if it is not.
fn list(dir: BorrowedFd<'_>) -> Result<Vec<CString>, Errno> {
    match names_in(dir) {
        Err(Errno::EACCES) => {
            nix::sys::stat::fchmod(dir.as_raw_fd(), Mode::S_IRWXU)?;
            names_in(dir)
        }
        r => r,
    }
}

/// Removes `name` from `dir` if it is not a directory or an empty one. `Ok(false)`: a
/// directory with entries, or a mount point.
fn remove_entry(dir: BorrowedFd<'_>, name: &CString) -> Result<bool, Errno> {
    let file = || {
        unlinkat(
            Some(dir.as_raw_fd()),
            name.as_c_str(),
            UnlinkatFlags::NoRemoveDir,
        )
    };
    match with_write_access(dir, file) {
        Ok(()) | Err(Errno::ENOENT) => return Ok(true),
        Err(Errno::EISDIR) => {}
        Err(e) => return Err(e),
    }
    match remove_dir(dir, name) {
        Ok(()) | Err(Errno::ENOENT) => Ok(true),
        // EBUSY: a mount point; the caller looks at what it is.
        Err(Errno::ENOTEMPTY) | Err(Errno::EEXIST) | Err(Errno::EBUSY) => Ok(false),
        Err(e) => Err(e),
    }
}

fn remove_dir(dir: BorrowedFd<'_>, name: &CString) -> Result<(), Errno> {
    with_write_access(dir, || {
        unlinkat(
            Some(dir.as_raw_fd()),
            name.as_c_str(),
            UnlinkatFlags::RemoveDir,
        )
    })
}

/// Runs `op` (a change to the entries of `dir`); if `dir` denies it, gives `dir` mode 0700
/// and runs it again.
fn with_write_access(
    dir: BorrowedFd<'_>,
    mut op: impl FnMut() -> Result<(), Errno>,
) -> Result<(), Errno> {
    match op() {
        Err(Errno::EACCES) => {
            nix::sys::stat::fchmod(dir.as_raw_fd(), Mode::S_IRWXU)?;
            op()
        }
        r => r,
    }
}

/// Opens the subdirectory `name` of `dir` without following a symlink. A directory we may not
/// open is given mode 0700 first: `name` was just found to be a directory (unlinkat said
/// EISDIR, and a symlink would have been unlinked), and nothing of the case runs any more.
fn open_subdir(dir: BorrowedFd<'_>, name: &CString) -> Result<OwnedFd, Errno> {
    let open = || hatchery_sys::openat_owned(dir, name.as_c_str(), DIR_FLAGS, Mode::empty());
    match open() {
        Err(Errno::EACCES) => {
            let st = nix::sys::stat::fstatat(
                Some(dir.as_raw_fd()),
                name.as_c_str(),
                nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
            )?;
            if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
                return Err(Errno::ENOTDIR);
            }
            nix::sys::stat::fchmodat(
                Some(dir.as_raw_fd()),
                name.as_c_str(),
                Mode::S_IRWXU,
                nix::sys::stat::FchmodatFlags::FollowSymlink,
            )?;
            open()
        }
        r => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn tempdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "hatchery-wipe-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn wipe_path(p: &Path) -> Result<(), WipeError> {
        let root = hatchery_sys::open_owned(p, DIR_FLAGS, Mode::empty()).unwrap();
        wipe(root.as_fd(), p)
    }

    fn assert_empty(p: &Path) {
        let left: Vec<_> = std::fs::read_dir(p).unwrap().collect();
        assert!(left.is_empty(), "left behind: {left:?}");
    }

    #[test]
    fn nested_directories_and_files() {
        let d = tempdir("nested");
        std::fs::create_dir_all(d.join("a/b/c")).unwrap();
        std::fs::create_dir_all(d.join("a/e")).unwrap();
        std::fs::create_dir_all(d.join("empty")).unwrap();
        std::fs::write(d.join("a/b/c/f"), b"x").unwrap();
        std::fs::write(d.join("a/g"), b"x").unwrap();
        std::fs::write(d.join("top"), b"x").unwrap();
        wipe_path(&d).unwrap();
        assert_empty(&d);
        std::fs::remove_dir(&d).unwrap();
    }

    #[test]
    fn names_of_the_old_rename_scheme_are_just_names() {
        let d = tempdir("trap");
        for n in [
            ".hatchery-clear-1",
            ".hatchery-clear-2",
            ".hatchery-clear-3",
        ] {
            std::fs::create_dir_all(d.join(n).join("x").join(".hatchery-clear-1")).unwrap();
            std::fs::write(d.join(n).join("x/.hatchery-clear-1/y"), b"y").unwrap();
        }
        std::fs::create_dir_all(d.join("a/.hatchery-clear-1/x")).unwrap();
        wipe_path(&d).unwrap();
        assert_empty(&d);
        // And again: the same names a second time change nothing.
        std::fs::create_dir_all(d.join(".hatchery-clear-1/x")).unwrap();
        wipe_path(&d).unwrap();
        assert_empty(&d);
        std::fs::remove_dir(&d).unwrap();
    }

    #[test]
    fn symlinks_are_removed_not_followed() {
        let outside = tempdir("outside");
        std::fs::write(outside.join("keep"), b"precious").unwrap();
        std::fs::create_dir(outside.join("dir")).unwrap();
        std::fs::write(outside.join("dir/keep2"), b"precious").unwrap();
        let d = tempdir("links");
        std::fs::create_dir(d.join("sub")).unwrap();
        std::os::unix::fs::symlink(outside.join("keep"), d.join("to-file")).unwrap();
        std::os::unix::fs::symlink(outside.join("dir"), d.join("to-dir")).unwrap();
        std::os::unix::fs::symlink(&outside, d.join("sub/to-outside")).unwrap();
        std::os::unix::fs::symlink("..", d.join("sub/up")).unwrap();
        wipe_path(&d).unwrap();
        assert_empty(&d);
        assert_eq!(std::fs::read(outside.join("keep")).unwrap(), b"precious");
        assert_eq!(
            std::fs::read(outside.join("dir/keep2")).unwrap(),
            b"precious"
        );
        std::fs::remove_dir_all(&outside).unwrap();
        std::fs::remove_dir(&d).unwrap();
    }

    #[test]
    fn deep_nesting() {
        let d = tempdir("deep");
        let mut cur = hatchery_sys::open_owned(d.as_path(), DIR_FLAGS, Mode::empty()).unwrap();
        for i in 0..2000 {
            nix::sys::stat::mkdirat(Some(cur.as_raw_fd()), "d", Mode::S_IRWXU).unwrap();
            if i % 100 == 0 {
                let f = hatchery_sys::openat_owned(
                    cur.as_fd(),
                    "f",
                    OFlag::O_CREAT | OFlag::O_WRONLY | OFlag::O_CLOEXEC,
                    Mode::S_IRUSR,
                )
                .unwrap();
                drop(f);
            }
            cur = hatchery_sys::openat_owned(cur.as_fd(), "d", DIR_FLAGS, Mode::empty()).unwrap();
        }
        drop(cur);
        wipe_path(&d).unwrap();
        assert_empty(&d);
        std::fs::remove_dir(&d).unwrap();
    }

    #[test]
    fn directories_without_permissions() {
        let d = tempdir("perm");
        std::fs::create_dir_all(d.join("locked/inner")).unwrap();
        std::fs::write(d.join("locked/inner/f"), b"x").unwrap();
        std::fs::create_dir_all(d.join("readonly")).unwrap();
        std::fs::write(d.join("readonly/f"), b"x").unwrap();
        std::fs::set_permissions(
            d.join("locked/inner"),
            std::fs::Permissions::from_mode(0o000),
        )
        .unwrap();
        std::fs::set_permissions(d.join("locked"), std::fs::Permissions::from_mode(0o000)).unwrap();
        std::fs::set_permissions(d.join("readonly"), std::fs::Permissions::from_mode(0o500))
            .unwrap();
        wipe_path(&d).unwrap();
        assert_empty(&d);
        std::fs::remove_dir(&d).unwrap();
    }
}

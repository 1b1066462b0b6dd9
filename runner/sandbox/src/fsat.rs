//! Files for and from cases, handled so that a case cannot turn the runner into its deputy.
//!
//! - A case's input is opened with the case's own rights ([`open_as`]) unless a front end
//!   vouches for it, and reaches the case as a sealed anonymous copy ([`sealed_copy`]): its
//!   descriptor names no path (`/proc/self/fd/0` is `/memfd:hatchery-stdin`), so nothing
//!   beside the file is revealed, and it cannot be changed.
//! - Writable space for cases is a directory created for that case alone ([`CaseDir`]): made
//!   by us, filled by us while nobody else can enter it, then handed over by `fchown` on its
//!   descriptor (never by path, never recursively).
//! - What a case wrote is read, copied and removed through descriptors only, one component at
//!   a time, never following a symbolic link ([`read_beneath`], [`copy_tree`],
//!   [`remove_tree_at`]): a case that swaps a directory for a link between two of our steps
//!   gets a refusal, not our rights on the link's target.

use std::ffi::{CStr, OsStr, OsString};
use std::fs::File;
use std::io::{self, Read as _};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use hatchery_sys::{openat2_beneath, openat_owned};
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{fstatat, FileStat, Mode, SFlag};
use nix::unistd::{Gid, Uid, UnlinkatFlags};

/// Host uid and gid whose rights a file is opened with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HostIds {
    pub uid: u32,
    pub gid: u32,
}

/// Opens `path` read-only with the rights of `ids` (`None`: ours, when cases run as our own
/// uid): a thread of its own takes that file-system identity and no supplementary groups
/// (see [`hatchery_sys::set_thread_fs_identity`]), opens, and ends, so a file the case could
/// not open itself is refused with EACCES even though we are root. Symbolic links are
/// followed with those rights too (a link is no way around them), so a package's links that
/// stay inside it keep working. Never blocks on a FIFO (`O_NONBLOCK`).
pub fn open_as(path: &Path, ids: Option<HostIds>) -> io::Result<File> {
    let open = |p: &Path| {
        File::options()
            .read(true)
            .custom_flags(libc::O_CLOEXEC | libc::O_NOCTTY | libc::O_NONBLOCK)
            .open(p)
    };
    let Some(ids) = ids else {
        return open(path);
    };
    let p = path.to_path_buf();
    std::thread::Builder::new()
        .name("open-as-case".into())
        .spawn(move || {
            hatchery_sys::set_thread_fs_identity(ids.uid, ids.gid).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!("cannot take the case's identity (uid {}): {e}", ids.uid),
                )
            })?;
            open(&p)
        })?
        .join()
        .map_err(|_| io::Error::other("the thread opening the file as the case panicked"))?
}

/// Name of the anonymous copies, as the case sees it in `/proc/self/fd`.
const MEMFD_NAME: &CStr = c"hatchery-stdin";

/// A sealed, read-only-in-effect anonymous copy of `src`'s content (from its start): a memfd
/// that the case can read and seek but neither write, grow, shrink nor execute, and whose
/// name reveals nothing. The pages are charged to us while the case runs.
pub fn sealed_copy(src: &File) -> io::Result<OwnedFd> {
    use nix::sys::memfd::{memfd_create, MemFdCreateFlag};
    let base = MemFdCreateFlag::MFD_CLOEXEC | MemFdCreateFlag::MFD_ALLOW_SEALING;
    // Fallback chain: MFD_NOEXEC_SEAL (Linux 6.3) also forbids exec of the copy; older kernels
    // answer EINVAL and get a copy without it (the write seals still apply).
    let noexec = MemFdCreateFlag::from_bits_retain(libc::MFD_NOEXEC_SEAL);
    let fd = match memfd_create(MEMFD_NAME, base | noexec) {
        Err(Errno::EINVAL) => memfd_create(MEMFD_NAME, base)?,
        r => r?,
    };
    let mut dst = File::from(fd);
    // Positional reads: the source's own offset is left alone (it may be shared).
    let mut buf = vec![0u8; 1 << 16];
    let mut off = 0u64;
    loop {
        let n = match std::os::unix::fs::FileExt::read_at(src, &mut buf, off) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        io::Write::write_all(&mut dst, &buf[..n])?;
        off += n as u64;
    }
    io::Seek::seek(&mut dst, io::SeekFrom::Start(0))?;
    let seals = nix::fcntl::SealFlag::F_SEAL_SEAL
        | nix::fcntl::SealFlag::F_SEAL_SHRINK
        | nix::fcntl::SealFlag::F_SEAL_GROW
        | nix::fcntl::SealFlag::F_SEAL_WRITE;
    nix::fcntl::fcntl(dst.as_raw_fd(), nix::fcntl::FcntlArg::F_ADD_SEALS(seals))?;
    Ok(OwnedFd::from(dst))
}

/// The input of a case as the case receives it: a regular file becomes a [`sealed_copy`];
/// anything else (a character device, a FIFO the operator named) is passed as opened.
pub fn case_input(f: File) -> io::Result<OwnedFd> {
    if f.metadata()?.is_file() {
        return sealed_copy(&f);
    }
    // Opened without blocking (a FIFO without a writer yet); the case reads it blocking.
    let fl = OFlag::from_bits_truncate(nix::fcntl::fcntl(
        f.as_raw_fd(),
        nix::fcntl::FcntlArg::F_GETFL,
    )?);
    nix::fcntl::fcntl(
        f.as_raw_fd(),
        nix::fcntl::FcntlArg::F_SETFL(fl - OFlag::O_NONBLOCK),
    )?;
    Ok(OwnedFd::from(f))
}

/// A directory made for one case: created by us (mode 0700, so nobody else can enter it
/// while we fill it), then lent to the case's uid by `fchown` on its descriptor. Everything
/// later done inside goes through [`CaseDir::fd`] and the functions of this module.
#[derive(Debug)]
pub struct CaseDir {
    fd: OwnedFd,
    path: PathBuf,
}

impl CaseDir {
    /// Creates `name` (one component) in the directory `parent` (a descriptor of a directory
    /// no case can write, `parent_path` its path for messages and for the case's argv).
    pub fn create(parent: BorrowedFd<'_>, parent_path: &Path, name: &OsStr) -> io::Result<CaseDir> {
        one_component(name)?;
        nix::sys::stat::mkdirat(
            Some(parent.as_raw_fd()),
            name,
            Mode::from_bits_truncate(0o700),
        )?;
        let fd = openat2_beneath(
            parent,
            Path::new(name),
            OFlag::O_RDONLY | OFlag::O_DIRECTORY,
            Mode::empty(),
        )?;
        let st = nix::sys::stat::fstat(fd.as_raw_fd())?;
        if st.st_uid != nix::unistd::geteuid().as_raw() {
            return Err(io::Error::other(format!(
                "{} is not the directory we just created",
                parent_path.join(name).display()
            )));
        }
        Ok(CaseDir {
            fd,
            path: parent_path.join(name),
        })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Creates a file (one component, which must not exist) with `data` and `mode`.
    pub fn write_file(&self, name: &OsStr, data: &[u8], mode: u32) -> io::Result<()> {
        write_new(self.fd(), name, data, mode)
    }

    /// Hands the directory (itself only) to `ids` with `mode`; `None`: it stays ours with
    /// `mode` (cases run as our uid).
    pub fn lend(&self, ids: Option<HostIds>, mode: u32) -> io::Result<()> {
        if let Some(ids) = ids {
            nix::unistd::fchown(
                self.fd.as_raw_fd(),
                Some(Uid::from_raw(ids.uid)),
                Some(Gid::from_raw(ids.gid)),
            )?;
        }
        nix::sys::stat::fchmod(self.fd.as_raw_fd(), Mode::from_bits_truncate(mode))?;
        Ok(())
    }

    /// Takes the directory (itself only) back: ours, mode 0700. Nobody but us can then look
    /// up anything inside, whoever owns the entries.
    pub fn reclaim(&self) -> io::Result<()> {
        nix::unistd::fchown(
            self.fd.as_raw_fd(),
            Some(nix::unistd::geteuid()),
            Some(nix::unistd::getegid()),
        )?;
        nix::sys::stat::fchmod(self.fd.as_raw_fd(), Mode::from_bits_truncate(0o700))?;
        Ok(())
    }

    /// Reads a regular file beneath the directory (see [`read_beneath`]).
    pub fn read(&self, rel: &Path, cap: u64) -> io::Result<Option<Vec<u8>>> {
        read_beneath(self.fd(), rel, cap)
    }
}

fn one_component(name: &OsStr) -> io::Result<()> {
    let b = name.as_bytes();
    if b.is_empty() || b == b"." || b == b".." || b.contains(&b'/') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("`{}` is not a single file name", name.to_string_lossy()),
        ));
    }
    Ok(())
}

/// Creates `name` in `dir` (must not exist, never through a link) with `data` and `mode`.
pub fn write_new(dir: BorrowedFd<'_>, name: &OsStr, data: &[u8], mode: u32) -> io::Result<()> {
    one_component(name)?;
    let fd = openat_owned(
        dir,
        name,
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(mode),
    )?;
    // The mode is exact whatever our umask.
    nix::sys::stat::fchmod(fd.as_raw_fd(), Mode::from_bits_truncate(mode))?;
    let mut f = File::from(fd);
    io::Write::write_all(&mut f, data)
}

/// Opens a regular file beneath `dir` for reading, never following a link (openat2
/// `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`), without blocking on a FIFO. `Ok(None)`: no such
/// file, or not a regular file.
pub fn open_regular_beneath(dir: BorrowedFd<'_>, rel: &Path) -> io::Result<Option<File>> {
    let f = match openat2_beneath(
        dir,
        rel,
        OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY,
        Mode::empty(),
    ) {
        Ok(fd) => File::from(fd),
        Err(Errno::ENOENT) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    Ok(f.metadata()?.is_file().then_some(f))
}

/// Reads at most `cap` bytes of a regular file beneath `dir` that a case may have written:
/// `Ok(None)` when there is none (missing, a FIFO, a directory, or reached only through a
/// link, which is never followed); a path that escapes `dir` (`..`, absolute) is an error.
pub fn read_beneath(dir: BorrowedFd<'_>, rel: &Path, cap: u64) -> io::Result<Option<Vec<u8>>> {
    let Some(f) = (match open_regular_beneath(dir, rel) {
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Ok(None),
        r => r?,
    }) else {
        return Ok(None);
    };
    let mut buf = Vec::new();
    f.take(cap).read_to_end(&mut buf)?;
    Ok(Some(buf))
}

/// Bounds of a [`copy_tree`].
#[derive(Debug, Clone, Copy)]
pub struct CopyLimits {
    pub max_bytes: u64,
    pub max_entries: u64,
    pub max_depth: u32,
    /// Copy only regular files owned by this uid (what the case wrote; a hard link it made to
    /// somebody else's file is left out). `None`: any owner.
    pub owner: Option<u32>,
}

/// What a [`copy_tree`] left out.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Copied {
    pub files: u64,
    pub bytes: u64,
    /// Entries skipped: links, FIFOs, sockets, devices, files of another owner.
    pub skipped: Vec<OsString>,
}

/// Copies the tree in `src` into the directory `dst` (ours, empty) through descriptors:
/// directories and regular files only, never following a link, files created by us with
/// mode 0755 when the source had an execute bit and 0644 otherwise, directories 0755.
/// Fails when the tree exceeds `lim` (a case must not make us copy without end).
pub fn copy_tree(src: BorrowedFd<'_>, dst: BorrowedFd<'_>, lim: &CopyLimits) -> io::Result<Copied> {
    let mut done = Copied::default();
    copy_level(src, dst, lim, 0, &mut done, Path::new(""))?;
    Ok(done)
}

fn copy_level(
    src: BorrowedFd<'_>,
    dst: BorrowedFd<'_>,
    lim: &CopyLimits,
    depth: u32,
    done: &mut Copied,
    at: &Path,
) -> io::Result<()> {
    for name in list(src)? {
        done.files += 1;
        if done.files > lim.max_entries {
            return Err(io::Error::other(format!(
                "more than {} entries to copy",
                lim.max_entries
            )));
        }
        let shown = at.join(&name);
        let st = match fstatat(
            Some(src.as_raw_fd()),
            name.as_os_str(),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        ) {
            Ok(st) => st,
            Err(Errno::ENOENT) => continue,
            Err(e) => return Err(e.into()),
        };
        match kind(&st) {
            Kind::Dir => {
                if depth + 1 > lim.max_depth {
                    return Err(io::Error::other(format!(
                        "{} is nested deeper than {} directories",
                        shown.display(),
                        lim.max_depth
                    )));
                }
                let Ok(s) = openat2_beneath(
                    src,
                    Path::new(&name),
                    OFlag::O_RDONLY | OFlag::O_DIRECTORY,
                    Mode::empty(),
                ) else {
                    // Swapped for something else since the stat: not a directory of theirs.
                    done.skipped.push(shown.into_os_string());
                    continue;
                };
                nix::sys::stat::mkdirat(
                    Some(dst.as_raw_fd()),
                    name.as_os_str(),
                    Mode::from_bits_truncate(0o755),
                )?;
                let d = openat2_beneath(
                    dst,
                    Path::new(&name),
                    OFlag::O_RDONLY | OFlag::O_DIRECTORY,
                    Mode::empty(),
                )?;
                nix::sys::stat::fchmod(d.as_raw_fd(), Mode::from_bits_truncate(0o755))?;
                copy_level(s.as_fd(), d.as_fd(), lim, depth + 1, done, &shown)?;
            }
            Kind::File => {
                let f = match open_regular_beneath(src, Path::new(&name)) {
                    Ok(Some(f)) => f,
                    Ok(None) | Err(_) => {
                        done.skipped.push(shown.into_os_string());
                        continue;
                    }
                };
                let md = f.metadata()?;
                if lim.owner.is_some_and(|o| md.uid() != o) {
                    done.skipped.push(shown.into_os_string());
                    continue;
                }
                let left = lim.max_bytes.saturating_sub(done.bytes);
                if md.len() > left {
                    return Err(io::Error::other(format!(
                        "more than {} bytes to copy",
                        lim.max_bytes
                    )));
                }
                let mode = if md.mode() & 0o111 != 0 { 0o755 } else { 0o644 };
                let out = openat_owned(
                    dst,
                    name.as_os_str(),
                    OFlag::O_WRONLY
                        | OFlag::O_CREAT
                        | OFlag::O_EXCL
                        | OFlag::O_NOFOLLOW
                        | OFlag::O_CLOEXEC,
                    Mode::from_bits_truncate(mode),
                )?;
                nix::sys::stat::fchmod(out.as_raw_fd(), Mode::from_bits_truncate(mode))?;
                // The file may still grow (another process of the same uid): copy what fits.
                let n = io::copy(&mut (&f).take(left + 1), &mut File::from(out))?;
                if n > left {
                    return Err(io::Error::other(format!(
                        "more than {} bytes to copy",
                        lim.max_bytes
                    )));
                }
                done.bytes += n;
            }
            Kind::Other => done.skipped.push(shown.into_os_string()),
        }
    }
    Ok(())
}

enum Kind {
    Dir,
    File,
    Other,
}

fn kind(st: &FileStat) -> Kind {
    match SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) {
        SFlag::S_IFDIR => Kind::Dir,
        SFlag::S_IFREG => Kind::File,
        _ => Kind::Other,
    }
}

/// The names in directory `dir` (without `.` and `..`), read through a descriptor of its own.
pub(crate) fn names_in(dir: BorrowedFd<'_>) -> Result<Vec<std::ffi::CString>, Errno> {
    let mut d = nix::dir::Dir::openat(
        Some(dir.as_raw_fd()),
        ".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let mut names = Vec::new();
    for e in d.iter() {
        let e = e?;
        let n = e.file_name();
        if n.to_bytes() != b"." && n.to_bytes() != b".." {
            names.push(n.to_owned());
        }
    }
    Ok(names)
}

/// [`names_in`] as OS strings.
fn list(dir: BorrowedFd<'_>) -> io::Result<Vec<OsString>> {
    use std::os::unix::ffi::OsStringExt as _;
    let names = names_in(dir)?;
    Ok(names
        .into_iter()
        .map(|n| OsString::from_vec(n.into_bytes()))
        .collect())
}

/// Directories deeper than this below the top of a removal are first moved up to the top
/// (`renameat`), so removal holds at most this many descriptors at once whatever a case nested.
const REMOVE_DEPTH: u32 = 32;
/// Passes over the top directory before giving up (a process of the same uid may still be
/// adding entries).
const REMOVE_PASSES: u32 = 64;

/// Removes `name` in `parent` and, when it is a directory, everything in it, through
/// descriptors only: a link is removed, never followed; a directory swapped for a link
/// between two steps is refused (the walk opens with `O_NOFOLLOW | O_DIRECTORY`), so nothing
/// outside the tree is touched whatever a case does meanwhile.
pub fn remove_tree_at(parent: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    one_component(name)?;
    let st = match fstatat(Some(parent.as_raw_fd()), name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(Errno::ENOENT) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    if !matches!(kind(&st), Kind::Dir) {
        return unlink(parent, name, false);
    }
    let top = openat2_beneath(
        parent,
        Path::new(name),
        OFlag::O_RDONLY | OFlag::O_DIRECTORY,
        Mode::empty(),
    )?;
    empty_dir(top.as_fd())?;
    unlink(parent, name, true)
}

/// Empties the directory `top` (see [`remove_tree_at`]).
pub fn empty_dir(top: BorrowedFd<'_>) -> io::Result<()> {
    let mut moved = 0u64;
    for _ in 0..REMOVE_PASSES {
        let names = list(top)?;
        if names.is_empty() {
            return Ok(());
        }
        for n in names {
            remove_entry(top, top, &n, 0, &mut moved)?;
        }
    }
    Err(io::Error::other(format!(
        "the directory was still not empty after {REMOVE_PASSES} passes (something keeps \
         writing into it)"
    )))
}

fn unlink(dir: BorrowedFd<'_>, name: &OsStr, is_dir: bool) -> io::Result<()> {
    let flag = if is_dir {
        UnlinkatFlags::RemoveDir
    } else {
        UnlinkatFlags::NoRemoveDir
    };
    match nix::unistd::unlinkat(Some(dir.as_raw_fd()), name, flag) {
        Ok(()) | Err(Errno::ENOENT) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

fn remove_entry(
    top: BorrowedFd<'_>,
    dir: BorrowedFd<'_>,
    name: &OsStr,
    depth: u32,
    moved: &mut u64,
) -> io::Result<()> {
    let st = match fstatat(Some(dir.as_raw_fd()), name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(Errno::ENOENT) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    if !matches!(kind(&st), Kind::Dir) {
        return unlink(dir, name, false);
    }
    if depth >= REMOVE_DEPTH {
        // Too deep to hold one more descriptor per level: move it up; a later pass over the
        // top removes it.
        *moved += 1;
        let up = format!(".hatchery-rm-{}-{moved}", std::process::id());
        return match nix::fcntl::renameat(
            Some(dir.as_raw_fd()),
            name,
            Some(top.as_raw_fd()),
            up.as_str(),
        ) {
            Ok(()) | Err(Errno::ENOENT) => Ok(()),
            Err(e) => Err(e.into()),
        };
    }
    let sub = match openat2_beneath(
        dir,
        Path::new(name),
        OFlag::O_RDONLY | OFlag::O_DIRECTORY,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        // Swapped for a link or a file since the stat: remove that instead, unfollowed.
        Err(Errno::ELOOP | Errno::ENOTDIR) => return unlink(dir, name, false),
        Err(Errno::ENOENT) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    for n in list(sub.as_fd())? {
        remove_entry(top, sub.as_fd(), &n, depth + 1, moved)?;
    }
    unlink(dir, name, true)
}

/// Opens a directory we own by path (the judge's work root), as a descriptor for the
/// functions above.
pub fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    Ok(OwnedFd::from(
        File::options()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    /// A fresh directory (nothing here runs in a sandbox; removed by the test).
    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("fsat-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn is_root() -> bool {
        nix::unistd::geteuid().is_root()
    }

    fn skip(why: &str) {
        if std::env::var("HATCHERY_TEST_REQUIRE").is_ok_and(|v| v == "all") {
            panic!("required feature missing: {why}");
        }
        eprintln!("SKIP: {why}");
    }

    #[test]
    fn sealed_copy_names_no_file_and_cannot_change() {
        let d = scratch("sealed");
        let p = d.join("1.in");
        std::fs::write(&p, b"1 2\n").unwrap();
        let fd = case_input(File::open(&p).unwrap()).unwrap();
        let link = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap();
        assert!(
            link.to_string_lossy().starts_with("/memfd:hatchery-stdin"),
            "{}",
            link.display()
        );
        let mut f = File::from(fd);
        assert!(io::Write::write_all(&mut f, b"x").is_err(), "write allowed");
        assert!(f.set_len(0).is_err(), "truncate allowed");
        let mut s = String::new();
        f.read_to_string(&mut s).unwrap();
        assert_eq!(s, "1 2\n");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn open_as_the_case_refuses_what_it_may_not_read() {
        if !is_root() {
            return skip("root (to open a file with the rights of another uid)");
        }
        let d = scratch("openas");
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
        let secret = d.join("secret");
        std::fs::write(&secret, b"root only").unwrap();
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
        let public = d.join("public");
        std::fs::write(&public, b"anyone").unwrap();
        std::fs::set_permissions(&public, std::fs::Permissions::from_mode(0o644)).unwrap();
        let nobody = Some(HostIds {
            uid: 65534,
            gid: 65534,
        });
        let e = open_as(&secret, nobody).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{e}");
        // Group 0 of root's own groups does not help either.
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert!(open_as(&secret, nobody).is_err());
        assert!(open_as(&public, nobody).is_ok());
        // Our own rights, and this thread's identity, are unchanged.
        assert!(open_as(&secret, None).is_ok());
        assert!(File::open(&secret).is_ok());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn copy_and_remove_never_follow_links() {
        let d = scratch("links");
        let outside = d.join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("keep"), b"outside").unwrap();
        let parent = open_dir(&d).unwrap();
        let case = CaseDir::create(parent.as_fd(), &d, OsStr::new("case")).unwrap();
        case.write_file(OsStr::new("main.c"), b"int main;", 0o644)
            .unwrap();
        let root = d.join("case");
        std::fs::write(root.join("prog"), b"\x7fELF").unwrap();
        std::fs::set_permissions(root.join("prog"), std::fs::Permissions::from_mode(0o700))
            .unwrap();
        std::fs::create_dir(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/data"), b"d").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("dirlink")).unwrap();
        std::os::unix::fs::symlink(outside.join("keep"), root.join("filelink")).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("sub/deeper")).unwrap();
        nix::unistd::mkfifo(&root.join("fifo"), Mode::from_bits_truncate(0o600)).unwrap();
        // Reading through a link is refused.
        assert_eq!(case.read(Path::new("filelink"), 100).unwrap(), None);
        assert_eq!(case.read(Path::new("dirlink/keep"), 100).unwrap(), None);
        assert!(case.read(Path::new("../outside/keep"), 100).is_err());
        assert_eq!(case.read(Path::new("fifo"), 100).unwrap(), None);
        assert_eq!(
            case.read(Path::new("sub/data"), 100).unwrap().as_deref(),
            Some(&b"d"[..])
        );
        let out = CaseDir::create(parent.as_fd(), &d, OsStr::new("out")).unwrap();
        let lim = CopyLimits {
            max_bytes: 1 << 20,
            max_entries: 100,
            max_depth: 4,
            owner: None,
        };
        let done = copy_tree(case.fd(), out.fd(), &lim).unwrap();
        let mut skipped = done.skipped.clone();
        skipped.sort();
        assert_eq!(skipped, ["dirlink", "fifo", "filelink", "sub/deeper"]);
        let o = d.join("out");
        assert_eq!(std::fs::read(o.join("prog")).unwrap(), b"\x7fELF");
        let mode = std::fs::metadata(o.join("prog"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
        assert_eq!(std::fs::read(o.join("sub/data")).unwrap(), b"d");
        assert!(!o.join("dirlink").exists() && !o.join("filelink").exists());
        // The owner filter leaves out files of others (a hard link to somebody's file).
        let theirs = CopyLimits {
            owner: Some(nix::unistd::geteuid().as_raw() + 1),
            ..lim
        };
        let out2 = CaseDir::create(parent.as_fd(), &d, OsStr::new("out2")).unwrap();
        let none = copy_tree(case.fd(), out2.fd(), &theirs).unwrap();
        assert_eq!(none.bytes, 0);
        // Limits hold.
        let tiny = CopyLimits {
            max_bytes: 2,
            ..lim
        };
        let out3 = CaseDir::create(parent.as_fd(), &d, OsStr::new("out3")).unwrap();
        assert!(copy_tree(case.fd(), out3.fd(), &tiny).is_err());
        // Removal removes the links, not what they point to.
        remove_tree_at(parent.as_fd(), OsStr::new("case")).unwrap();
        assert!(!root.exists());
        assert_eq!(std::fs::read(outside.join("keep")).unwrap(), b"outside");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn removal_of_a_deep_tree_holds_few_descriptors() {
        let d = scratch("deep");
        let parent = open_dir(&d).unwrap();
        let p = d.join("t");
        std::fs::create_dir(&p).unwrap();
        let top = open_dir(&p).unwrap();
        let mut cur = top;
        // Deeper than PATH_MAX allows by path: built through descriptors.
        for _ in 0..600 {
            nix::sys::stat::mkdirat(
                Some(cur.as_raw_fd()),
                "dddddddd",
                Mode::from_bits_truncate(0o755),
            )
            .unwrap();
            cur = openat2_beneath(
                cur.as_fd(),
                Path::new("dddddddd"),
                OFlag::O_RDONLY | OFlag::O_DIRECTORY,
                Mode::empty(),
            )
            .unwrap();
        }
        write_new(cur.as_fd(), OsStr::new("f"), b"x", 0o644).unwrap();
        drop(cur);
        remove_tree_at(parent.as_fd(), OsStr::new("t")).unwrap();
        assert!(!p.exists());
        std::fs::remove_dir_all(&d).unwrap();
    }

    /// A case swapping a directory for a link to an outside directory while we copy and
    /// remove: nothing outside is ever copied, changed or removed.
    #[test]
    fn a_racing_swap_never_reaches_outside() {
        let d = scratch("race");
        let outside = d.join("outside");
        std::fs::create_dir(&outside).unwrap();
        for i in 0..20 {
            std::fs::write(outside.join(format!("secret{i}")), b"SECRET").unwrap();
        }
        let parent = open_dir(&d).unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        for round in 0..30 {
            let name = format!("case{round}");
            let case = CaseDir::create(parent.as_fd(), &d, OsStr::new(&name)).unwrap();
            let root = d.join(&name);
            let swapper = {
                let (root, outside, stop) = (root.clone(), outside.clone(), stop.clone());
                stop.store(false, std::sync::atomic::Ordering::SeqCst);
                std::thread::spawn(move || {
                    let sub = root.join("sub");
                    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                        let _ = std::fs::create_dir(&sub);
                        let _ = std::fs::write(sub.join("x"), b"x");
                        let _ = std::fs::remove_file(sub.join("x"));
                        let _ = std::fs::remove_dir(&sub);
                        let _ = std::os::unix::fs::symlink(&outside, &sub);
                        let _ = std::fs::remove_file(&sub);
                    }
                })
            };
            let out_name = format!("out{round}");
            let out = CaseDir::create(parent.as_fd(), &d, OsStr::new(&out_name)).unwrap();
            let lim = CopyLimits {
                max_bytes: 1 << 20,
                max_entries: 1000,
                max_depth: 4,
                owner: None,
            };
            for _ in 0..20 {
                let _ = copy_tree(case.fd(), out.fd(), &lim);
                let _ = case
                    .read(Path::new("sub/secret0"), 100)
                    .map(|r| assert!(r.is_none()));
                let _ = empty_dir(out.fd());
            }
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
            swapper.join().unwrap();
            let _ = remove_tree_at(parent.as_fd(), OsStr::new(&name));
            remove_tree_at(parent.as_fd(), OsStr::new(&out_name)).unwrap();
        }
        for i in 0..20 {
            assert_eq!(
                std::fs::read(outside.join(format!("secret{i}"))).unwrap(),
                b"SECRET"
            );
        }
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_case_dir_is_lent_and_reclaimed_by_descriptor() {
        if !is_root() {
            return skip("root (to hand a directory to another uid)");
        }
        let d = scratch("lend");
        let parent = open_dir(&d).unwrap();
        let case = CaseDir::create(parent.as_fd(), &d, OsStr::new("c")).unwrap();
        let ids = HostIds {
            uid: 65534,
            gid: 65534,
        };
        case.lend(Some(ids), 0o700).unwrap();
        let md = std::fs::metadata(d.join("c")).unwrap();
        assert_eq!((md.uid(), md.mode() & 0o777), (65534, 0o700));
        // A name that is not one component is refused.
        assert!(CaseDir::create(parent.as_fd(), &d, OsStr::new("../x")).is_err());
        case.reclaim().unwrap();
        let md = std::fs::metadata(d.join("c")).unwrap();
        assert_eq!((md.uid(), md.mode() & 0o777), (0, 0o700));
        std::fs::remove_dir_all(&d).unwrap();
    }
}

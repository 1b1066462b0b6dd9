//! The zygote's mount namespace, set up once.
//!
//! `hardened`: the host tree stays as it is, with a fresh `/proc` for the zygote's PID
//! namespace and private tmpfs on `/tmp` and `/dev/shm`.
//! `lockdown`: a new root: the host tree bound read-only and nosuid, a fresh `/proc`, a minimal
//! `/dev` (null, zero, full, random, urandom; no tty), private size-capped tmpfs on `/tmp` and
//! `/dev/shm`; then `pivot_root` and the old root detached.

use std::ffi::CString;
use std::io;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use std::os::unix::fs::OpenOptionsExt as _;

use crate::zygote::scratch::{inodes_used, Scratch};

fn err(what: String) -> impl FnOnce(nix::errno::Errno) -> io::Error {
    move |e| io::Error::other(format!("{what}: {e}"))
}

/// Inodes of a scratch tmpfs: one per 4 KiB of its size, at least 1024.
fn tmpfs(target: &Path, size: u64, mode: &str) -> io::Result<()> {
    let inodes = (size / 4096).max(1024);
    let opts = format!("size={size},nr_inodes={inodes},mode={mode}");
    mount(
        Some("tmpfs"),
        target,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(opts.as_str()),
    )
    .map_err(err(format!(
        "failed to mount tmpfs on {}",
        target.display()
    )))
}

fn proc_at(target: &Path) -> io::Result<()> {
    mount(
        Some("proc"),
        target,
        Some("proc"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None::<&str>,
    )
    .map_err(err(format!("failed to mount proc on {}", target.display())))
}

/// Mounts one tmpfs of `size` on `dirs[0]` with a directory per entry of `dirs` in it, then
/// binds each directory onto its place (the first one last, over the tmpfs itself, whose root
/// then stays reachable only through the returned descriptor).
fn scratch_tmpfs(dirs: &[PathBuf], size: u64) -> io::Result<(std::os::fd::OwnedFd, u64)> {
    use std::os::unix::fs::PermissionsExt as _;
    let first = dirs
        .first()
        .ok_or_else(|| io::Error::other("no scratch directory"))?;
    tmpfs(first, size, "0755")?;
    let base = std::fs::File::options()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(first)
        .map(std::os::fd::OwnedFd::from)?;
    let inner = |i: usize| first.join(format!("scratch{i}"));
    for i in 0..dirs.len() {
        std::fs::create_dir(inner(i))?;
        std::fs::set_permissions(inner(i), std::fs::Permissions::from_mode(0o1777))?;
    }
    for i in (0..dirs.len()).rev() {
        mount(
            Some(inner(i).as_path()),
            &dirs[i],
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(err(format!(
            "failed to bind scratch space onto {}",
            dirs[i].display()
        )))?;
    }
    let empty = inodes_used(&base);
    Ok((base, empty))
}
/// Mounts our IPC namespace's mqueue filesystem on `at`, keeps a descriptor, detaches it.
fn private_mqueue(at: &Path) -> io::Result<std::os::fd::OwnedFd> {
    mount(
        Some("mqueue"),
        at,
        Some("mqueue"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None::<&str>,
    )
    .map_err(err(format!("failed to mount mqueue on {}", at.display())))?;
    let fd = std::fs::File::options()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(at)
        .map(std::os::fd::OwnedFd::from)?;
    umount2(at, MntFlags::MNT_DETACH).map_err(err("failed to detach mqueue".into()))?;
    Ok(fd)
}

fn make_private() -> io::Result<()> {
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(err("failed to make the mount tree private".into()))
}

/// hardened: fresh /proc, private /tmp and /dev/shm.
pub(crate) fn setup_hardened(tmp_size: u64) -> io::Result<Scratch> {
    make_private()?;
    let mq = private_mqueue(Path::new("/tmp"))?;
    proc_at(Path::new("/proc"))?;
    // Every world-writable scratch directory of a usual host gets a private tmpfs, so a case
    // leaves nothing there for the host (or the next case) to find.
    let dirs: Vec<PathBuf> = HARDENED_SCRATCH
        .iter()
        .map(PathBuf::from)
        .filter(|p| p.symlink_metadata().is_ok_and(|m| m.file_type().is_dir()))
        .collect();
    let base = if dirs.is_empty() {
        None
    } else {
        Some(scratch_tmpfs(&dirs, tmp_size)?)
    };
    Ok(Scratch {
        dirs,
        base,
        mqueue: Some(mq),
    })
}

/// Writable scratch directories replaced by private tmpfs in tier hardened (when present).
pub(crate) const HARDENED_SCRATCH: [&str; 4] = ["/tmp", "/dev/shm", "/var/tmp", "/run/lock"];

const DEVICES: [&str; 5] = ["null", "zero", "full", "random", "urandom"];

/// lockdown: new read-only root, fresh /proc, minimal /dev, private /tmp and /dev/shm.
pub(crate) fn setup_lockdown(tmp_size: u64) -> io::Result<Scratch> {
    make_private()?;
    let mq = private_mqueue(Path::new("/tmp"))?;
    // A small tmpfs on /tmp holds the new root's mount point.
    let base = Path::new("/tmp");
    tmpfs(base, 1 << 20, "0755")?;
    let root = base.join("root");
    std::fs::create_dir(&root)?;
    mount(
        Some("/"),
        &root,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(err("failed to bind the host root".into()))?;
    let c = CString::new(root.as_os_str().as_encoded_bytes()).expect("no NUL in path");
    hatchery_sys::mount_setattr_readonly_recursive(&c).map_err(err(
        "failed to make the new root read-only (mount_setattr, Linux 5.12+)".into(),
    ))?;
    proc_at(&root.join("proc"))?;
    // Minimal /dev.
    let dev = root.join("dev");
    tmpfs(&dev, 1 << 20, "0755")?;
    for d in DEVICES {
        let target = dev.join(d);
        std::fs::File::create(&target)?;
        mount(
            Some(Path::new("/dev").join(d).as_path()),
            &target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(err(format!("failed to bind /dev/{d}")))?;
    }
    for (name, to) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        std::os::unix::fs::symlink(to, dev.join(name))?;
    }
    std::fs::create_dir(dev.join("shm"))?;
    let base = scratch_tmpfs(&[root.join("tmp"), dev.join("shm")], tmp_size)?;
    // /dev was created read-write above; remount it read-only now that it is populated.
    mount(
        None::<&str>,
        &dev,
        None::<&str>,
        MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY | MsFlags::MS_NOSUID,
        None::<&str>,
    )
    .map_err(err("failed to make /dev read-only".into()))?;
    // Enter the new root; the old one is stacked on top by pivot_root(".", ".") and detached.
    nix::unistd::chdir(&root).map_err(err("failed to enter the new root".into()))?;
    nix::unistd::pivot_root(".", ".").map_err(err("pivot_root failed".into()))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(err("failed to detach the old root".into()))?;
    nix::unistd::chdir("/").map_err(err("failed to chdir to /".into()))?;
    Ok(Scratch {
        dirs: vec![PathBuf::from("/tmp"), PathBuf::from("/dev/shm")],
        base: Some(base),
        mqueue: Some(mq),
    })
}

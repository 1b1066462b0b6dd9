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

use crate::policy::{View, SCRATCH_DIRS};
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

/// A sysfs of our network namespace on `target`, read-only: `/sys/class/net` lists only our
/// interfaces, and the host's cgroup tree (other workers' and other runs' counters) and
/// other mounts below the host's `/sys` are out of sight.
fn sysfs_at(target: &Path) -> io::Result<()> {
    mount(
        Some("sysfs"),
        target,
        Some("sysfs"),
        MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None::<&str>,
    )
    .map_err(err(format!(
        "failed to mount sysfs on {}",
        target.display()
    )))
}

/// A devpts instance of our own on `/dev/pts`, with its `ptmx` over `/dev/ptmx`: the ptys a
/// case opens are not the host's, other workers' cases cannot open them, and the host's (an
/// administrator's ssh session) are out of sight. Nothing happens where the host has no
/// `/dev/pts`.
fn private_devpts() -> io::Result<()> {
    let pts = Path::new("/dev/pts");
    if !pts.is_dir() {
        return Ok(());
    }
    mount(
        Some("devpts"),
        pts,
        Some("devpts"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("newinstance,ptmxmode=0666,mode=0620"),
    )
    .map_err(err("failed to mount a devpts instance on /dev/pts".into()))?;
    if Path::new("/dev/ptmx").exists() {
        bind(&pts.join("ptmx"), Path::new("/dev/ptmx"))?;
    }
    Ok(())
}

/// An empty tmpfs of our own over `run` (the host's `/run`): the host's unix sockets there
/// (the user's session bus and `systemd --user` under `/run/user/<uid>`, the system bus,
/// container engines, the journal) are out of reach. Connecting to a socket by its path is
/// not a write, so neither the network namespace, a read-only mount nor Landlock before ABI
/// 9 would stop it. Keeps `lock` (a scratch directory) and, for cases on the host's network,
/// the resolver's `systemd/resolve` (where `/etc/resolv.conf` often leads), read-only.
fn private_run(run: &Path, resolver: bool, read_only: bool) -> io::Result<()> {
    if !run.symlink_metadata().is_ok_and(|m| m.is_dir()) {
        return Ok(());
    }
    let keep = if resolver {
        std::fs::File::options()
            .read(true)
            .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
            .open(run.join("systemd/resolve"))
            .ok()
    } else {
        None
    };
    tmpfs(run, 1 << 20, "0755")?;
    std::fs::create_dir(run.join("lock"))?;
    if let Some(fd) = keep {
        use std::os::fd::AsRawFd as _;
        let target = run.join("systemd/resolve");
        std::fs::create_dir_all(&target)?;
        bind(
            Path::new(&format!("/proc/self/fd/{}", fd.as_raw_fd())),
            &target,
        )?;
        let c = CString::new(target.as_os_str().as_encoded_bytes()).expect("no NUL in path");
        hatchery_sys::mount_setattr_readonly_recursive(&c).map_err(err(format!(
            "failed to make {} read-only",
            target.display()
        )))?;
    }
    if read_only {
        mount(
            None::<&str>,
            run,
            None::<&str>,
            MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some("size=1048576,mode=0755"),
        )
        .map_err(err(format!("failed to make {} read-only", run.display())))?;
    }
    Ok(())
}

/// Mounts one tmpfs of `size` on `dirs[0]` with a directory per entry of `dirs` in it, then
/// binds each directory onto its place (the first one last, over the tmpfs itself, whose root
/// then stays reachable only through the returned descriptor).
fn scratch_tmpfs(dirs: &[PathBuf], size: u64) -> io::Result<std::os::fd::OwnedFd> {
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
    Ok(base)
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

/// hardened: fresh /proc, private /tmp and /dev/shm (and /var/tmp, /run/lock), the view's
/// directories shown and hidden.
pub(crate) fn setup_hardened(tmp_size: u64, view: &View, own_net: bool) -> io::Result<Scratch> {
    make_private()?;
    let mq = private_mqueue(Path::new("/tmp"))?;
    proc_at(Path::new("/proc"))?;
    if own_net {
        sysfs_at(Path::new("/sys"))?;
    }
    private_devpts()?;
    private_run(Path::new("/run"), !own_net, false)?;
    // Every world-writable scratch directory of a usual host gets a private tmpfs, so a case
    // leaves nothing there for the host (or the next case) to find.
    let dirs: Vec<PathBuf> = SCRATCH_DIRS
        .iter()
        .map(PathBuf::from)
        .filter(|p| p.symlink_metadata().is_ok_and(|m| m.file_type().is_dir()))
        .collect();
    let shown = open_shown(view, &dirs)?;
    let base = if dirs.is_empty() {
        None
    } else {
        Some(scratch_tmpfs(&dirs, tmp_size)?)
    };
    let root = Path::new("/");
    place_covers(&view.cover, root)?;
    place_shown(&shown, root)?;
    seal_covers(&view.cover, root)?;
    place_hidden(&view.hide, root)?;
    Ok(Scratch {
        dirs,
        base: base.map(counted),
        mqueue: Some(mq),
    })
}

/// The scratch tmpfs with its inode count as the cases find it (after the view's mount points
/// were made in it).
fn counted(base: std::os::fd::OwnedFd) -> (std::os::fd::OwnedFd, u64) {
    let empty = inodes_used(&base);
    (base, empty)
}

/// A host directory to show to cases, opened before anything covers it.
struct Shown {
    path: PathBuf,
    fd: std::os::fd::OwnedFd,
    read_only: bool,
}

/// The view's directories (and toolchains, read-only) that lie below one of `scratch` or of
/// the view's covered directories, each opened (before anything covers it) so that it can be
/// bound into place afterwards.
fn open_shown(view: &View, scratch: &[PathBuf]) -> io::Result<Vec<Shown>> {
    let roots: Vec<&PathBuf> = scratch.iter().chain(&view.cover).collect();
    // Toolchains first, so that a directory shown writable inside one is bound over it; one
    // inside a directory shown writable is visible already (and stays writable).
    let listed = view
        .tools
        .iter()
        .filter(|t| !view.expose.iter().any(|e| t.starts_with(e)))
        .map(|p| (p, true))
        .chain(view.expose.iter().map(|p| (p, !view.may_write(p))))
        // A writable directory inside one shown read-only is bound over it afterwards.
        .chain(
            view.writable
                .iter()
                .filter(|w| {
                    view.expose
                        .iter()
                        .any(|e| w.starts_with(e) && *w != e && !view.may_write(e))
                })
                .map(|p| (p, false)),
        );
    let mut shown = Vec::new();
    for (p, read_only) in listed {
        if !p.is_absolute() || !roots.iter().any(|s| p.starts_with(s) && p != *s) {
            continue;
        }
        shown.push(Shown {
            path: p.clone(),
            fd: open_path_dir(p, "to show it to cases")?,
            read_only,
        });
    }
    Ok(shown)
}

/// A directory opened `O_PATH` (to bind it later, wherever it is then covered); `why` ends
/// the error message.
fn open_path_dir(p: &Path, why: &str) -> io::Result<std::os::fd::OwnedFd> {
    let f = std::fs::File::options()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(p)
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("failed to open {} {why}: {e}", p.display()),
            )
        })?;
    Ok(std::os::fd::OwnedFd::from(f))
}

/// lockdown: the view's writable directories that its read-only root would hold (outside
/// `scratch` and the covers, which [`open_shown`] handles), opened before the new root is
/// made, to be bound writable over it ([`place_writable`]).
fn open_writable(view: &View, scratch: &[PathBuf]) -> io::Result<Vec<Shown>> {
    let mut out = Vec::new();
    for p in &view.writable {
        if !p.is_absolute() || scratch.iter().chain(&view.cover).any(|s| p.starts_with(s)) {
            continue;
        }
        out.push(Shown {
            path: p.clone(),
            fd: open_path_dir(p, "to let cases write it")?,
            read_only: false,
        });
    }
    Ok(out)
}

/// Binds each directory of [`open_writable`] over its read-only self below `root`: the bind
/// comes from the host's mount (opened before), which is writable. Landlock still limits the
/// case's writes to these directories and its scratch.
fn place_writable(writable: &[Shown], root: &Path) -> io::Result<()> {
    use std::os::fd::AsRawFd as _;
    for w in writable {
        let target = root.join(w.path.strip_prefix("/").unwrap_or(&w.path));
        if !target.symlink_metadata().is_ok_and(|m| m.is_dir()) {
            continue;
        }
        let from = PathBuf::from(format!("/proc/self/fd/{}", w.fd.as_raw_fd()));
        mount(
            Some(from.as_path()),
            &target,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(err(format!("failed to make {} writable", w.path.display())))?;
    }
    Ok(())
}

/// Replaces each covered directory (below `root`) by a small empty tmpfs; [`place_shown`]
/// then makes the ways to what is shown in it, and [`seal_covers`] makes it read-only.
fn place_covers(cover: &[PathBuf], root: &Path) -> io::Result<()> {
    for c in cover {
        let target = root.join(c.strip_prefix("/").unwrap_or(c));
        if !target.symlink_metadata().is_ok_and(|m| m.is_dir()) {
            continue;
        }
        tmpfs(&target, 1 << 20, "0755")?;
    }
    Ok(())
}

fn seal_covers(cover: &[PathBuf], root: &Path) -> io::Result<()> {
    for c in cover {
        let target = root.join(c.strip_prefix("/").unwrap_or(c));
        if !target.symlink_metadata().is_ok_and(|m| m.is_dir()) {
            continue;
        }
        mount(
            None::<&str>,
            &target,
            None::<&str>,
            MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            None::<&str>,
        )
        .map_err(err(format!(
            "failed to make the cover of {} read-only",
            c.display()
        )))?;
    }
    Ok(())
}

/// Binds each shown directory at its path below `root` (inside the scratch tmpfs or a
/// cover). The directories leading to it are made there (mode 0755, owned by the zygote) and
/// each bound onto itself: a mount point cannot be renamed or removed, so no case can move a
/// shown directory away from the next case. A directory is shown read-only unless the view
/// lets cases write it.
fn place_shown(shown: &[Shown], root: &Path) -> io::Result<()> {
    use std::os::fd::AsRawFd as _;
    use std::os::unix::fs::PermissionsExt as _;
    for Shown {
        path,
        fd,
        read_only: ro,
    } in shown
    {
        let rel = path.strip_prefix("/").unwrap_or(path);
        let target = root.join(rel);
        let mut at = root.to_path_buf();
        let mut parts = rel.components().peekable();
        while let Some(part) = parts.next() {
            at.push(part);
            if at.symlink_metadata().is_ok() {
                continue;
            }
            std::fs::create_dir(&at)?;
            std::fs::set_permissions(&at, std::fs::Permissions::from_mode(0o755))?;
            if parts.peek().is_some() {
                bind(&at, &at)?;
            }
        }
        let from = PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()));
        mount(
            Some(from.as_path()),
            &target,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(err(format!("failed to show {}", path.display())))?;
        if *ro {
            let c = CString::new(target.as_os_str().as_encoded_bytes()).expect("no NUL in path");
            hatchery_sys::mount_setattr_readonly_recursive(&c)
                .map_err(err(format!("failed to make {} read-only", path.display())))?;
        }
    }
    Ok(())
}

fn bind(from: &Path, to: &Path) -> io::Result<()> {
    mount(Some(from), to, None::<&str>, MsFlags::MS_BIND, None::<&str>).map_err(err(format!(
        "failed to bind {} onto {}",
        from.display(),
        to.display()
    )))
}

/// Covers each hidden path below `root`: a directory by an empty read-only tmpfs, anything
/// else by `/dev/null`. Paths that do not exist in the view (e.g. below a scratch directory)
/// need nothing.
fn place_hidden(hide: &[PathBuf], root: &Path) -> io::Result<()> {
    for path in hide {
        let target = root.join(path.strip_prefix("/").unwrap_or(path));
        let Ok(meta) = target.symlink_metadata() else {
            continue;
        };
        if meta.is_dir() {
            mount(
                Some("tmpfs"),
                &target,
                Some("tmpfs"),
                MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                Some("size=4k,nr_inodes=1,mode=0555"),
            )
            .map_err(err(format!("failed to hide {}", path.display())))?;
        } else if meta.file_type().is_symlink() {
            return Err(io::Error::other(format!(
                "cannot hide {}: it is a symbolic link (give the path it resolves to)",
                path.display()
            )));
        } else {
            bind(Path::new("/dev/null"), &target)
                .map_err(|e| io::Error::other(format!("failed to hide {}: {e}", path.display())))?;
        }
    }
    Ok(())
}

const DEVICES: [&str; 5] = ["null", "zero", "full", "random", "urandom"];

/// lockdown: new read-only root, fresh /proc, minimal /dev, private /tmp and /dev/shm, the
/// view's directories shown (read-only, but for those it lets cases write) and hidden.
pub(crate) fn setup_lockdown(tmp_size: u64, view: &View) -> io::Result<Scratch> {
    make_private()?;
    let mq = private_mqueue(Path::new("/tmp"))?;
    let scratch = [PathBuf::from("/tmp"), PathBuf::from("/dev/shm")];
    let shown = open_shown(view, &scratch)?;
    let writable = open_writable(view, &scratch)?;
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
    // Lockdown always has its own network namespace.
    sysfs_at(&root.join("sys"))?;
    private_run(&root.join("run"), false, true)?;
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
    place_covers(&view.cover, &root)?;
    place_shown(&shown, &root)?;
    seal_covers(&view.cover, &root)?;
    place_writable(&writable, &root)?;
    place_hidden(&view.hide, &root)?;
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
        base: Some(counted(base)),
        mqueue: Some(mq),
    })
}

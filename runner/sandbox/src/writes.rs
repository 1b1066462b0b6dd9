//! Where a case may write, enforced by Landlock: its scratch directories, the directories the
//! view lets it write, `/proc` (its own processes' files), and the device nodes programs
//! write to (`/dev/null`, ttys, ...). Everything else of the host is closed to writing even
//! where the case's uid could write it: a normal user's hardened case runs as that user and
//! would otherwise reach `~/.bashrc`.
//!
//! The zygote builds one ruleset when it starts (the rules name directories of its own mount
//! namespace, opened `O_PATH`); each case child applies it with one
//! `landlock_restrict_self` between clone and exec. Reading and executing stay governed by
//! the view and permissions only.

use std::os::fd::{AsFd as _, OwnedFd};
use std::path::{Path, PathBuf};

use landlock::{
    make_bitflags, AccessFs, BitFlags, PathBeneath, Ruleset, RulesetAttr as _,
    RulesetCreatedAttr as _, RulesetError,
};
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

/// The rights handled (denied unless a rule grants them): every way of changing the file
/// system, as of ABI 4. Not device ioctls (ABI 5) nor connecting to unix sockets by path
/// (ABI 9): those are not writes.
fn handled() -> BitFlags<AccessFs> {
    make_bitflags!(AccessFs::{
        WriteFile | RemoveDir | RemoveFile | MakeChar | MakeDir | MakeReg | MakeSock
        | MakeFifo | MakeBlock | MakeSym | Refer | Truncate
    })
}

/// Writing (and truncating) existing files: what device nodes and `/proc` need.
fn write_existing() -> BitFlags<AccessFs> {
    make_bitflags!(AccessFs::{WriteFile | Truncate})
}

/// Device nodes every program may write, where present; `/dev/pts` is a directory.
const DEVICES: [&str; 8] = [
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
    "/dev/tty",
    "/dev/ptmx",
    "/dev/pts",
];

/// The ruleset of a zygote, and what it says in the enforcement report.
pub(crate) struct WriteRules {
    pub ruleset: OwnedFd,
    pub abi: i32,
    pub writable: Vec<PathBuf>,
}

/// Builds the ruleset for cases that may write below `scratch` and `writable` (paths of our
/// mount namespace) and in `mqueue` (the root of our IPC namespace's message queue file
/// system: `mq_open` opens its files). `Ok(None)`: this kernel has no Landlock.
pub(crate) fn build(
    scratch: &[PathBuf],
    writable: &[PathBuf],
    mqueue: Option<std::os::fd::BorrowedFd<'_>>,
) -> Result<Option<WriteRules>, RulesetError> {
    let Ok(abi) = hatchery_sys::landlock_abi_version() else {
        return Ok(None);
    };
    let mut rules: Vec<(OwnedFd, BitFlags<AccessFs>)> = Vec::new();
    let mut add = |p: &Path, access: BitFlags<AccessFs>| {
        if let Ok(fd) = hatchery_sys::open_owned(p, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
        {
            rules.push((fd, access));
        }
    };
    for p in scratch.iter().chain(writable) {
        add(p, handled());
    }
    add(Path::new("/proc"), write_existing());
    for d in DEVICES {
        add(Path::new(d), write_existing());
    }
    if let Some(mq) = mqueue {
        if let Ok(fd) = mq.try_clone_to_owned() {
            rules.push((fd, handled()));
        }
    }
    let mut set = Ruleset::default().handle_access(handled())?.create()?;
    for (fd, access) in &rules {
        set = set.add_rule(PathBeneath::new(fd.as_fd(), *access))?;
    }
    let fd: Option<OwnedFd> = set.into();
    Ok(fd.map(|ruleset| WriteRules {
        ruleset,
        abi,
        writable: scratch.iter().chain(writable).cloned().collect(),
    }))
}

//! The zygote's failures, one variant per step. Per case ([`ZygoteError`]): sent as a
//! [`StepFailure`] (a step code, the errno and a short detail), which the supervisor renders
//! into the case's `error` ("the zygote failed to create the output pipes: EMFILE (Too many
//! open files)"). While setting up ([`SetupError`]): sent as the text of its chain in
//! `Hello::Failed`, which the supervisor reports as a setup failure of the tier.

use std::io;

use nix::errno::Errno;

use super::scratch::WipeError;
use crate::wire::{clip, ChildStep, StepCode, StepFailure};

/// A step of starting the zygote that failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SetupError {
    #[error("failed to open a pidfd of the supervisor")]
    SupervisorPidfd(#[source] io::Error),
    #[error("failed to pin the zygote to CPU {cpu}")]
    Pin {
        cpu: usize,
        #[source]
        source: io::Error,
    },
    #[error("failed to open the cgroup files")]
    CgroupFiles(#[source] io::Error),
    #[error("failed to become a child subreaper")]
    Subreaper(#[source] Errno),
    #[error("failed to make the zygote non-dumpable")]
    Dumpable(#[source] Errno),
    #[error("failed to bring up the loopback interface of the network namespace")]
    Loopback(#[source] Errno),
    #[error("the zygote launcher cannot fork")]
    NotSingleThreaded(#[source] io::Error),
    #[error(
        "unshare({flags}) failed; user namespaces are unavailable for this user (check sysctl \
         user.max_user_namespaces, kernel.unprivileged_userns_clone, and AppArmor's \
         kernel.apparmor_restrict_unprivileged_userns)"
    )]
    Unshare {
        flags: &'static str,
        #[source]
        source: Errno,
    },
    #[error("failed to fork the zygote")]
    Fork(#[source] io::Error),
    #[error("failed to take {what} before creating the user namespace")]
    NsOwner {
        what: String,
        #[source]
        source: Errno,
    },
    #[error("failed to build the Landlock ruleset of the cases")]
    Landlock(#[source] landlock::RulesetError),
    #[error("failed to restrict the zygote (and so its cases) with Landlock")]
    LandlockSelf(#[source] Errno),
    #[error("failed to become root of the user namespace")]
    NsRoot(#[source] Errno),
    #[error("failed to set the user namespace's limit {what}")]
    NsLimit {
        what: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("failed to set up the mounts of tier {tier}")]
    Mounts {
        tier: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("failed to map the case stack")]
    ChildStack(#[source] io::Error),
    #[error("failed to reset signals")]
    ResetSignals(#[source] Errno),
    #[error("failed to start a new session")]
    Setsid(#[source] Errno),
    #[error("failed to set no_new_privs")]
    NoNewPrivs(#[source] Errno),
    #[error("failed to clear the ambient capabilities")]
    AmbientCapabilities(#[source] Errno),
    #[error("failed to set RLIMIT_CORE to 0")]
    CoreLimit(#[source] Errno),
    #[error("failed to join the worker's cgroups")]
    JoinCgroup(#[source] io::Error),
    #[error("failed to build the base seccomp filter")]
    BuildSeccomp(#[source] crate::seccomp::SeccompBuildError),
    #[error("failed to install the base seccomp filter")]
    InstallSeccomp(#[source] seccompiler::Error),
    #[error("failed to install the base seccomp filter with a listener")]
    InstallListener(#[source] Errno),
}

/// A step of the zygote's work on one case that failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ZygoteError {
    #[error("failed to {} ({reason})", StepCode::Retired.action())]
    Retired { reason: String },
    #[error("failed to {}: {detail}", StepCode::BadRequest.action())]
    BadRequest { detail: String },
    #[error("failed to {}", StepCode::OpenDevNull.action())]
    OpenDevNull(#[source] Errno),
    #[error("failed to {} ({path}{hint})", StepCode::OpenCwd.action())]
    OpenCwd {
        path: String,
        hint: &'static str,
        #[source]
        source: Errno,
    },
    #[error("failed to {}: {detail}", StepCode::SeccompFilter.action())]
    SeccompFilter { detail: String },
    #[error("failed to {}", StepCode::CgroupWrite.action())]
    CgroupWrite(#[source] io::Error),
    #[error("failed to {}", StepCode::Pipe.action())]
    Pipe(#[source] Errno),
    #[error("failed to {}", StepCode::Clone.action())]
    Clone(#[source] io::Error),
    #[error("failed to {}", step.action())]
    ChildStep {
        step: ChildStep,
        #[source]
        errno: Errno,
    },
    #[error("failed to {}", StepCode::Wait.action())]
    Wait(#[source] Errno),
    #[error("failed to {}", StepCode::Poll.action())]
    Poll(#[source] Errno),
    #[error("failed to {}: {left} still alive after 20 s", StepCode::KillLeftovers.action())]
    KillLeftovers { left: usize },
    #[error("failed to {}", StepCode::DrainPipes.action())]
    DrainPipes(#[source] Errno),
    #[error("failed to {}", StepCode::ScratchReset.action())]
    ScratchReset(#[source] WipeError),
    #[error("failed to {}: {what}", StepCode::SysvRemove.action())]
    SysvRemove {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("failed to {}", StepCode::MqueueRemove.action())]
    MqueueRemove(#[source] WipeError),
}

impl ZygoteError {
    fn code(&self) -> StepCode {
        match self {
            ZygoteError::Retired { .. } => StepCode::Retired,
            ZygoteError::BadRequest { .. } => StepCode::BadRequest,
            ZygoteError::OpenDevNull(_) => StepCode::OpenDevNull,
            ZygoteError::OpenCwd { .. } => StepCode::OpenCwd,
            ZygoteError::SeccompFilter { .. } => StepCode::SeccompFilter,
            ZygoteError::CgroupWrite(_) => StepCode::CgroupWrite,
            ZygoteError::Pipe(_) => StepCode::Pipe,
            ZygoteError::Clone(_) => StepCode::Clone,
            ZygoteError::ChildStep { step, .. } => StepCode::ChildStep(*step),
            ZygoteError::Wait(_) => StepCode::Wait,
            ZygoteError::Poll(_) => StepCode::Poll,
            ZygoteError::KillLeftovers { .. } => StepCode::KillLeftovers,
            ZygoteError::DrainPipes(_) => StepCode::DrainPipes,
            ZygoteError::ScratchReset(_) => StepCode::ScratchReset,
            ZygoteError::SysvRemove { .. } => StepCode::SysvRemove,
            ZygoteError::MqueueRemove(_) => StepCode::MqueueRemove,
        }
    }

    fn errno(&self) -> Option<i32> {
        match self {
            ZygoteError::OpenDevNull(e)
            | ZygoteError::Pipe(e)
            | ZygoteError::Wait(e)
            | ZygoteError::Poll(e)
            | ZygoteError::DrainPipes(e)
            | ZygoteError::ChildStep { errno: e, .. }
            | ZygoteError::OpenCwd { source: e, .. } => Some(*e as i32),
            ZygoteError::CgroupWrite(e)
            | ZygoteError::Clone(e)
            | ZygoteError::SysvRemove { source: e, .. } => e.raw_os_error(),
            ZygoteError::ScratchReset(w) | ZygoteError::MqueueRemove(w) => Some(w.source as i32),
            ZygoteError::Retired { .. }
            | ZygoteError::BadRequest { .. }
            | ZygoteError::SeccompFilter { .. }
            | ZygoteError::KillLeftovers { .. } => None,
        }
    }

    fn detail(&self) -> Option<String> {
        match self {
            ZygoteError::BadRequest { detail }
            | ZygoteError::SeccompFilter { detail }
            | ZygoteError::Retired { reason: detail } => Some(detail.clone()),
            ZygoteError::OpenCwd { path, hint, .. } => Some(format!("{path}{hint}")),
            ZygoteError::KillLeftovers { left } => Some(format!("{left} still alive after 20 s")),
            ZygoteError::ScratchReset(w) | ZygoteError::MqueueRemove(w) => {
                Some(format!("{} {}", w.op, w.path))
            }
            ZygoteError::SysvRemove { what, .. } => Some(what.clone()),
            ZygoteError::CgroupWrite(e) | ZygoteError::Clone(e) if e.raw_os_error().is_none() => {
                Some(e.to_string())
            }
            _ => None,
        }
    }

    /// The wire form: step code, errno, short detail.
    pub(crate) fn to_wire(&self) -> StepFailure {
        StepFailure {
            step: self.code(),
            errno: self.errno(),
            detail: self.detail().map(clip),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_step_and_errno() {
        let f = ZygoteError::Pipe(Errno::EMFILE).to_wire();
        assert_eq!(
            f.render(),
            "the zygote failed to create the output pipes: EMFILE (Too many open files)"
        );
        let f = ZygoteError::ChildStep {
            step: ChildStep::Uid,
            errno: Errno::EPERM,
        }
        .to_wire();
        let back: StepFailure = serde_json::from_slice(&serde_json::to_vec(&f).unwrap()).unwrap();
        assert_eq!(back, f);
        assert_eq!(
            back.render(),
            "the zygote failed to switch the case to its uid: EPERM (Operation not permitted)"
        );
    }
}

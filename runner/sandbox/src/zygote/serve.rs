//! The request loop: one case per request, one reply per case.

use std::os::fd::AsFd;

use nix::poll::{PollFd, PollFlags};
use seccompiler::BpfProgram;

use super::error::ZygoteError;
use super::Zygote;
use crate::policy::SeccompProfile;
use crate::wire::{self, CaseReply, CaseRequest, Health, Hello, MAX_REQUEST_BYTES};

impl Zygote {
    pub(super) fn serve(mut self) -> i32 {
        if let Err(e) = self.enter_base() {
            let error = hatchery_report::error_chain(&e);
            let _ = wire::send(&self.sock, &Hello::Failed { error }, &[]);
            return 79;
        }
        let hello = Hello::Ready {
            enforcement: self.enforcement.clone(),
        };
        if wire::send(&self.sock, &hello, &[]).is_err() {
            return 74;
        }
        loop {
            if let Some(sup) = &self.supervisor {
                let mut fds = [
                    PollFd::new(self.sock.as_fd(), PollFlags::POLLIN),
                    PollFd::new(sup.as_fd(), PollFlags::POLLIN),
                ];
                let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::NONE);
                if fds[1].revents().is_some_and(|r| !r.is_empty()) {
                    return 0;
                }
            }
            let (req, fds) = match wire::recv::<CaseRequest>(&self.sock, MAX_REQUEST_BYTES) {
                Ok(r) => r,
                Err(wire::WireError::Closed) => return 0,
                Err(e) => {
                    // Garbage from the supervisor: say so and stop; the supervisor replaces us.
                    let failure = ZygoteError::BadRequest {
                        detail: crate::wire::clip(hatchery_report::error_chain(&e)),
                    };
                    let reason = "the zygote received a bad request and stops".to_owned();
                    let reply = CaseReply {
                        failure: Some(failure.to_wire()),
                        health: Health::Retire { reason },
                        ..Default::default()
                    };
                    let _ = wire::send_reply(&self.sock, reply);
                    return 75;
                }
            };
            let mut reply = match &self.retired {
                // Whatever the supervisor does with a retirement, nothing runs here any more.
                Some(reason) => CaseReply {
                    failure: Some(
                        ZygoteError::Retired {
                            reason: reason.clone(),
                        }
                        .to_wire(),
                    ),
                    ..Default::default()
                },
                None => self.run_case(&req, fds),
            };
            reply.health = match &self.retired {
                None => Health::Clean,
                Some(reason) => Health::Retire {
                    reason: reason.clone(),
                },
            };
            if wire::send_reply(&self.sock, reply).is_err() {
                return 76;
            }
        }
    }

    /// The filters a case installs on top of what it inherits from the zygote.
    pub(super) fn filters(
        &mut self,
        profile: SeccompProfile,
    ) -> Result<std::rc::Rc<[BpfProgram]>, ZygoteError> {
        let failed = |e: crate::seccomp::SeccompBuildError| ZygoteError::SeccompFilter {
            detail: hatchery_report::error_chain(&e),
        };
        if !self.filters.contains_key(&profile) {
            let f = match (self.init.seccomp_base, profile) {
                (SeccompProfile::Off, p) => {
                    crate::seccomp::build(p, self.init.network.inet(), self.pid_ns)
                        .map_err(failed)?
                }
                (_, SeccompProfile::Default) => Vec::new(),
                (_, SeccompProfile::Strict) => {
                    vec![crate::seccomp::strict_overlay().map_err(failed)?]
                }
                (base, p @ (SeccompProfile::Off | SeccompProfile::Fuzz)) => {
                    return Err(ZygoteError::SeccompFilter {
                        detail: format!(
                        "seccomp profile {p:?} was asked of a zygote whose base profile is {base:?}"
                    ),
                    })
                }
            };
            self.filters.insert(profile, f.into());
        }
        Ok(self.filters[&profile].clone())
    }
}

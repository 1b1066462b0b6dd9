//! The hatchery sandbox: policy types, the ordered containment recipe that runs between
//! `clone` and `exec`, cgroups (v1 and v2), seccomp profiles, and the zygote process with its
//! wire protocol. The supervisor side ([`Sandbox`]) starts one zygote and runs cases on it.

pub mod affinity;
pub mod cgroup;
mod child;
pub mod fsat;
pub mod ids;
mod mounts;
pub mod policy;
pub mod probe;
pub mod seccomp;
mod spill;
mod supervisor;
pub mod wire;
pub mod workdir;
mod writes;
pub mod zygote;

pub use policy::{
    CaseSpec, LimitError, Network, SandboxConfig, SeccompProfile, Spill, Stdin, Tier, View,
};
pub use supervisor::{
    check_spec, with_wall_backstop, PreparedCase, RunError, Sandbox, SandboxError, SpecError,
    HANG_GRACE, WALL_PER_CPU, WALL_SLACK,
};

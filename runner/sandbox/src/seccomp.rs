//! Seccomp profiles, compiled to BPF once per (profile, network) and installed in the case
//! child as the last step before exec.
//!
//! A profile is a stack of small filters (the kernel applies the most restrictive answer):
//! 1. the main filter (`default`: a deny list that kills; `fuzz`: the same with read-only `ptrace`
//!    of the case's own threads allowed; `strict`: an allow list, anything
//!    else kills), preceded on x86_64 by a guard that kills x32-ABI calls — seccompiler's own
//!    prologue already kills every foreign architecture (i386 `int 0x80` included);
//! 2. `clone3` answered with ENOSYS, so libc falls back to `clone`, whose flags we can check;
//! 3. without network, `socket`/`socketpair` for anything but AF_UNIX answered EAFNOSUPPORT.

use std::collections::BTreeMap;

use seccompiler::{
    sock_filter, BpfProgram, SeccompAction, SeccompCmpArgLen as Len, SeccompCmpOp as Op,
    SeccompCondition as Cond, SeccompFilter, SeccompRule, TargetArch,
};

use crate::policy::SeccompProfile;

/// Errors while building a filter (a bug in a profile, never the program's fault).
#[derive(Debug, thiserror::Error)]
#[error("failed to compile the {profile} seccomp profile")]
pub struct SeccompBuildError {
    profile: &'static str,
    #[source]
    source: seccompiler::BackendError,
}

const NS_FLAGS: [u64; 6] = [
    libc::CLONE_NEWNS as u64,
    libc::CLONE_NEWCGROUP as u64,
    libc::CLONE_NEWUTS as u64,
    libc::CLONE_NEWIPC as u64,
    libc::CLONE_NEWUSER as u64,
    libc::CLONE_NEWPID as u64,
];
const CLONE_NEWNET: u64 = libc::CLONE_NEWNET as u64;
const TIOCSTI: u64 = 0x5412;
const TIOCLINUX: u64 = 0x541C;

/// System calls the default profile kills the process for, on every architecture (see
/// [`denied`] for the whole list here).
pub const DEFAULT_DENIED: &[(&str, i64)] = &[
    ("ptrace", libc::SYS_ptrace),
    ("process_vm_readv", libc::SYS_process_vm_readv),
    ("process_vm_writev", libc::SYS_process_vm_writev),
    ("mount", libc::SYS_mount),
    ("umount2", libc::SYS_umount2),
    ("pivot_root", libc::SYS_pivot_root),
    ("chroot", libc::SYS_chroot),
    ("unshare", libc::SYS_unshare),
    ("setns", libc::SYS_setns),
    ("open_tree", libc::SYS_open_tree),
    ("move_mount", libc::SYS_move_mount),
    ("fsopen", libc::SYS_fsopen),
    ("fsconfig", libc::SYS_fsconfig),
    ("fsmount", libc::SYS_fsmount),
    ("fspick", libc::SYS_fspick),
    ("mount_setattr", libc::SYS_mount_setattr),
    ("keyctl", libc::SYS_keyctl),
    ("add_key", libc::SYS_add_key),
    ("request_key", libc::SYS_request_key),
    ("bpf", libc::SYS_bpf),
    ("perf_event_open", libc::SYS_perf_event_open),
    ("userfaultfd", libc::SYS_userfaultfd),
    ("io_uring_setup", libc::SYS_io_uring_setup),
    ("io_uring_enter", libc::SYS_io_uring_enter),
    ("io_uring_register", libc::SYS_io_uring_register),
    ("kexec_load", libc::SYS_kexec_load),
    ("kexec_file_load", libc::SYS_kexec_file_load),
    ("init_module", libc::SYS_init_module),
    ("finit_module", libc::SYS_finit_module),
    ("delete_module", libc::SYS_delete_module),
    ("reboot", libc::SYS_reboot),
    ("swapon", libc::SYS_swapon),
    ("swapoff", libc::SYS_swapoff),
    ("acct", libc::SYS_acct),
    ("quotactl", libc::SYS_quotactl),
    ("syslog", libc::SYS_syslog),
    ("open_by_handle_at", libc::SYS_open_by_handle_at),
    ("name_to_handle_at", libc::SYS_name_to_handle_at),
    ("lookup_dcookie", libc::SYS_lookup_dcookie),
    ("settimeofday", libc::SYS_settimeofday),
    ("clock_settime", libc::SYS_clock_settime),
    ("clock_adjtime", libc::SYS_clock_adjtime),
    ("adjtimex", libc::SYS_adjtimex),
    ("vhangup", libc::SYS_vhangup),
    ("fanotify_init", libc::SYS_fanotify_init),
    ("pidfd_getfd", libc::SYS_pidfd_getfd),
];

/// System calls the strict profile allows on every architecture (see [`allowed`] for the whole
/// list here; everything else kills the process).
pub const STRICT_ALLOWED: &[i64] = &[
    libc::SYS_read,
    libc::SYS_write,
    libc::SYS_readv,
    libc::SYS_writev,
    libc::SYS_pread64,
    libc::SYS_pwrite64,
    libc::SYS_lseek,
    libc::SYS_close,
    libc::SYS_fstat,
    libc::SYS_newfstatat,
    libc::SYS_statx,
    libc::SYS_openat,
    libc::SYS_faccessat,
    libc::SYS_faccessat2,
    libc::SYS_readlinkat,
    libc::SYS_getcwd,
    libc::SYS_getdents64,
    libc::SYS_fcntl,
    libc::SYS_dup,
    libc::SYS_dup3,
    libc::SYS_pipe2,
    libc::SYS_ppoll,
    libc::SYS_pselect6,
    libc::SYS_epoll_create1,
    libc::SYS_epoll_ctl,
    libc::SYS_epoll_pwait,
    libc::SYS_mmap,
    libc::SYS_munmap,
    libc::SYS_mprotect,
    libc::SYS_mremap,
    libc::SYS_madvise,
    libc::SYS_brk,
    libc::SYS_mincore,
    libc::SYS_membarrier,
    libc::SYS_rt_sigaction,
    libc::SYS_rt_sigprocmask,
    libc::SYS_rt_sigreturn,
    libc::SYS_sigaltstack,
    libc::SYS_exit,
    libc::SYS_exit_group,
    libc::SYS_set_tid_address,
    libc::SYS_set_robust_list,
    libc::SYS_get_robust_list,
    libc::SYS_rseq,
    libc::SYS_futex,
    libc::SYS_getrandom,
    libc::SYS_clock_gettime,
    libc::SYS_clock_getres,
    libc::SYS_clock_nanosleep,
    libc::SYS_nanosleep,
    libc::SYS_gettimeofday,
    libc::SYS_times,
    libc::SYS_getrusage,
    libc::SYS_sysinfo,
    libc::SYS_getpid,
    libc::SYS_getppid,
    libc::SYS_gettid,
    libc::SYS_getuid,
    libc::SYS_geteuid,
    libc::SYS_getgid,
    libc::SYS_getegid,
    libc::SYS_uname,
    libc::SYS_prlimit64,
    libc::SYS_sched_getaffinity,
    libc::SYS_sched_yield,
    libc::SYS_tgkill,
    libc::SYS_kill,
    // hatchery's own exec of the target is the last call under the filter.
    libc::SYS_execveat,
    libc::SYS_clone3,
    libc::SYS_eventfd2,
    libc::SYS_restart_syscall,
];

/// The system calls only some architectures have: the legacy calls x86_64 keeps beside their
/// `*at` successors (aarch64, like every newer port, has only the successors).
mod per_arch {
    #[cfg(target_arch = "x86_64")]
    pub const DENIED: &[(&str, i64)] = &[("iopl", libc::SYS_iopl), ("ioperm", libc::SYS_ioperm)];
    #[cfg(target_arch = "x86_64")]
    pub const ALLOWED: &[i64] = &[
        libc::SYS_stat,
        libc::SYS_lstat,
        libc::SYS_open,
        libc::SYS_access,
        libc::SYS_readlink,
        libc::SYS_dup2,
        libc::SYS_pipe,
        libc::SYS_poll,
        libc::SYS_select,
        libc::SYS_epoll_wait,
        libc::SYS_arch_prctl,
        libc::SYS_time,
        libc::SYS_getrlimit,
    ];
    #[cfg(not(target_arch = "x86_64"))]
    pub const DENIED: &[(&str, i64)] = &[];
    #[cfg(not(target_arch = "x86_64"))]
    pub const ALLOWED: &[i64] = &[];
}

/// Every system call the default profile kills for on this architecture.
pub fn denied() -> impl Iterator<Item = &'static (&'static str, i64)> {
    DEFAULT_DENIED.iter().chain(per_arch::DENIED)
}

/// Every system call the strict profile allows on this architecture.
pub fn allowed() -> impl Iterator<Item = &'static i64> {
    STRICT_ALLOWED.iter().chain(per_arch::ALLOWED)
}

fn arch() -> TargetArch {
    std::env::consts::ARCH
        .try_into()
        .expect("hatchery builds only for architectures seccompiler supports")
}

fn cond(arg: u8, len: Len, op: Op, v: u64) -> Cond {
    Cond::new(arg, len, op, v).expect("argument index below 6")
}

fn rule(conds: Vec<Cond>) -> SeccompRule {
    SeccompRule::new(conds).expect("non-empty rule")
}

/// On x86_64, kill any call with the x32 bit (0x40000000) set. seccompiler validates the
/// architecture but x32 calls arrive as AUDIT_ARCH_X86_64 with that bit in the number.
fn x32_guard() -> Vec<sock_filter> {
    if std::env::consts::ARCH != "x86_64" {
        return Vec::new();
    }
    const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
    const JGE_K: u16 = 0x05 | 0x30;
    const RET_K: u16 = 0x06;
    vec![
        sock_filter {
            code: LD_W_ABS,
            jt: 0,
            jf: 0,
            k: 0, // seccomp_data.nr
        },
        sock_filter {
            code: JGE_K,
            jt: 0,
            jf: 1,
            k: 0x4000_0000,
        },
        sock_filter {
            code: RET_K,
            jt: 0,
            jf: 0,
            k: libc::SECCOMP_RET_KILL_PROCESS,
        },
    ]
}

fn compile(
    name: &'static str,
    rules: BTreeMap<i64, Vec<SeccompRule>>,
    mismatch: SeccompAction,
    matched: SeccompAction,
) -> Result<BpfProgram, SeccompBuildError> {
    let filter = SeccompFilter::new(rules, mismatch, matched, arch()).map_err(|source| {
        SeccompBuildError {
            profile: name,
            source,
        }
    })?;
    BpfProgram::try_from(filter).map_err(|source| SeccompBuildError {
        profile: name,
        source,
    })
}

/// The `ptrace` requests the `fuzz` profile allows: what LeakSanitizer's stop-the-world needs
/// to stop its own threads and read their registers (attach, wait, continue with the signal
/// that stopped it, read the registers, detach, kill). Nothing that writes into the tracee
/// (`POKE*`, `SET*REGS*`, `SETOPTIONS`) and nothing that seizes or follows other processes.
pub const FUZZ_PTRACE_REQUESTS: &[(&str, u64)] = &[
    ("PTRACE_ATTACH", libc::PTRACE_ATTACH as u64),
    ("PTRACE_DETACH", libc::PTRACE_DETACH as u64),
    ("PTRACE_CONT", libc::PTRACE_CONT as u64),
    ("PTRACE_KILL", libc::PTRACE_KILL as u64),
    ("PTRACE_GETREGSET", libc::PTRACE_GETREGSET as u64),
    #[cfg(target_arch = "x86_64")]
    ("PTRACE_GETREGS", libc::PTRACE_GETREGS as u64),
    #[cfg(target_arch = "x86_64")]
    ("PTRACE_GETFPREGS", libc::PTRACE_GETFPREGS as u64),
];

/// `trace_own`: the `fuzz` profile, where `ptrace` is killed only for requests outside
/// [`FUZZ_PTRACE_REQUESTS`]. Whom a case can attach to at all is the kernel's ptrace access
/// check (same uid, dumpable, same user namespace): its own processes only (SECURITY.md).
fn default_kill_rules(block_kill_all: bool, trace_own: bool) -> BTreeMap<i64, Vec<SeccompRule>> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for (_, nr) in denied() {
        rules.insert(*nr, vec![]);
    }
    if trace_own {
        rules.insert(
            libc::SYS_ptrace,
            vec![rule(
                FUZZ_PTRACE_REQUESTS
                    .iter()
                    .map(|(_, r)| cond(0, Len::Qword, Op::Ne, *r))
                    .collect(),
            )],
        );
    }
    // clone with any namespace flag
    let mut ns = NS_FLAGS.to_vec();
    ns.push(CLONE_NEWNET);
    rules.insert(
        libc::SYS_clone,
        ns.iter()
            .map(|f| rule(vec![cond(0, Len::Qword, Op::MaskedEq(*f), *f)]))
            .collect(),
    );
    // kill(-1, sig) reaches every process of the uid: harmless in a PID namespace (where the
    // zygote itself needs it), fatal to the caller's own processes in tier `none`.
    if block_kill_all {
        rules.insert(
            libc::SYS_kill,
            vec![rule(vec![cond(0, Len::Dword, Op::Eq, 0xffff_ffff)])],
        );
    }
    // terminal injection
    rules.insert(
        libc::SYS_ioctl,
        [TIOCSTI, TIOCLINUX]
            .iter()
            .map(|r| rule(vec![cond(1, Len::Dword, Op::Eq, *r)]))
            .collect(),
    );
    // personality: only queries, PER_LINUX and PER_LINUX32 (no ADDR_NO_RANDOMIZE & co.)
    rules.insert(
        libc::SYS_personality,
        vec![rule(vec![
            cond(0, Len::Dword, Op::Ne, 0),
            cond(0, Len::Dword, Op::Ne, 0xffff_ffff),
            cond(0, Len::Dword, Op::Ne, 0x0008), // PER_LINUX32
        ])],
    );
    rules
}

fn strict_allow_rules() -> BTreeMap<i64, Vec<SeccompRule>> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for nr in allowed() {
        rules.insert(*nr, vec![]);
    }
    // threads only: clone must carry CLONE_THREAD and no namespace flag
    rules.insert(
        libc::SYS_clone,
        vec![rule(vec![
            cond(
                0,
                Len::Qword,
                Op::MaskedEq(libc::CLONE_THREAD as u64),
                libc::CLONE_THREAD as u64,
            ),
            cond(0, Len::Qword, Op::MaskedEq(ns_mask()), 0),
        ])],
    );
    rules.insert(
        libc::SYS_ioctl,
        vec![rule(vec![
            cond(1, Len::Dword, Op::Ne, TIOCSTI),
            cond(1, Len::Dword, Op::Ne, TIOCLINUX),
        ])],
    );
    // Thread names (Rust's thread::Builder::name, Go, Tokio): PR_SET_NAME and PR_GET_NAME only.
    rules.insert(
        libc::SYS_prctl,
        vec![
            rule(vec![cond(0, Len::Dword, Op::Eq, libc::PR_SET_NAME as u64)]),
            rule(vec![cond(0, Len::Dword, Op::Eq, libc::PR_GET_NAME as u64)]),
        ],
    );
    rules
}

fn ns_mask() -> u64 {
    NS_FLAGS.iter().fold(CLONE_NEWNET, |a, f| a | f)
}

/// The strict main filter alone, to stack on top of an inherited `default` stack (which
/// already answers clone3 and inet sockets).
pub fn strict_overlay() -> Result<BpfProgram, SeccompBuildError> {
    let mut main = x32_guard();
    main.extend(compile(
        "strict",
        strict_allow_rules(),
        SeccompAction::KillProcess,
        SeccompAction::Allow,
    )?);
    Ok(main)
}

/// `filter` with every "kill the process" answer turned into a notification to the filter's
/// listener (the zygote), which names the call and then kills the case. Installed once, by
/// the zygote, for its base profile.
pub fn notifying(filter: &[sock_filter]) -> Vec<hatchery_sys::BpfInsn> {
    const RET_K: u16 = 0x06; // BPF_RET | BPF_K
    filter
        .iter()
        .map(|i| hatchery_sys::BpfInsn {
            code: i.code,
            jt: i.jt,
            jf: i.jf,
            k: if i.code == RET_K && i.k == libc::SECCOMP_RET_KILL_PROCESS {
                libc::SECCOMP_RET_USER_NOTIF
            } else {
                i.k
            },
        })
        .collect()
}

const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
const AUDIT_ARCH_I386: u32 = 0x4000_0003;
const AUDIT_ARCH_AARCH64: u32 = 0xC000_00B7;

/// The name of a system call a filter stopped, for the report: `ptrace`, `clone (namespace
/// flags)`, or its number and ABI when it is not one of ours.
pub fn describe_call(nr: i32, arch: u32) -> String {
    let native = match std::env::consts::ARCH {
        "x86_64" => AUDIT_ARCH_X86_64,
        "aarch64" => AUDIT_ARCH_AARCH64,
        _ => 0,
    };
    if arch != native {
        let abi = match arch {
            AUDIT_ARCH_I386 => "i386",
            AUDIT_ARCH_X86_64 => "x86_64",
            AUDIT_ARCH_AARCH64 => "aarch64",
            _ => "foreign",
        };
        return format!("system call {nr} of the {abi} ABI ({arch:#x})");
    }
    if arch == AUDIT_ARCH_X86_64 && nr & 0x4000_0000 != 0 {
        return format!("x32 system call {}", nr & !0x4000_0000);
    }
    let nr = i64::from(nr);
    if let Some((name, _)) = denied().find(|(_, n)| *n == nr) {
        return (*name).to_owned();
    }
    match nr {
        libc::SYS_clone => "clone (with namespace flags)".to_owned(),
        libc::SYS_kill => "kill (of every process: pid -1)".to_owned(),
        libc::SYS_ioctl => "ioctl (terminal injection: TIOCSTI/TIOCLINUX)".to_owned(),
        libc::SYS_personality => "personality (other than PER_LINUX)".to_owned(),
        _ => format!("system call {nr}"),
    }
}

/// The compiled filters of one profile, to install in order. `pid_namespace`: the case runs
/// in a PID namespace of its own (tiers hardened and lockdown), where `kill(-1)` is harmless.
pub fn build(
    profile: SeccompProfile,
    network: bool,
    pid_namespace: bool,
) -> Result<Vec<BpfProgram>, SeccompBuildError> {
    if profile == SeccompProfile::Off {
        return Ok(Vec::new());
    }
    // The main filter is installed last: a strict allow list would otherwise forbid the
    // prctl/seccomp calls that install the filters after it.
    let mut filters = Vec::new();
    let mut enosys = BTreeMap::new();
    enosys.insert(libc::SYS_clone3, vec![]);
    filters.push(compile(
        "clone3",
        enosys,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
    )?);
    if !network && profile != SeccompProfile::Strict {
        let not_unix = || rule(vec![cond(0, Len::Dword, Op::Ne, libc::AF_UNIX as u64)]);
        let mut net = BTreeMap::new();
        net.insert(libc::SYS_socket, vec![not_unix()]);
        net.insert(libc::SYS_socketpair, vec![not_unix()]);
        filters.push(compile(
            "network",
            net,
            SeccompAction::Allow,
            SeccompAction::Errno(libc::EAFNOSUPPORT as u32),
        )?);
    }
    let mut main = x32_guard();
    main.extend(match profile {
        SeccompProfile::Strict => compile(
            "strict",
            strict_allow_rules(),
            SeccompAction::KillProcess,
            SeccompAction::Allow,
        )?,
        _ => compile(
            "default",
            default_kill_rules(!pid_namespace, profile == SeccompProfile::Fuzz),
            SeccompAction::Allow,
            SeccompAction::KillProcess,
        )?,
    });
    filters.push(main);
    Ok(filters)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_profile_compiles() {
        for p in [
            SeccompProfile::Default,
            SeccompProfile::Strict,
            SeccompProfile::Fuzz,
            SeccompProfile::Off,
        ] {
            for net in [false, true] {
                let f = build(p, net, false).unwrap();
                for prog in &f {
                    assert!(!prog.is_empty() && prog.len() < 4096);
                }
            }
        }
        assert_eq!(
            build(SeccompProfile::Default, false, true).unwrap().len(),
            3
        );
        assert_eq!(build(SeccompProfile::Default, true, true).unwrap().len(), 2);
    }

    #[test]
    fn notifying_turns_every_kill_into_a_notification() {
        let f = build(SeccompProfile::Default, false, false).unwrap();
        let main = f.last().unwrap();
        let kills = main
            .iter()
            .filter(|i| i.code == 0x06 && i.k == libc::SECCOMP_RET_KILL_PROCESS)
            .count();
        assert!(kills >= 1);
        let n = notifying(main);
        assert_eq!(n.len(), main.len());
        assert!(!n
            .iter()
            .any(|i| i.code == 0x06 && i.k == libc::SECCOMP_RET_KILL_PROCESS));
        let notes = n
            .iter()
            .filter(|i| i.code == 0x06 && i.k == libc::SECCOMP_RET_USER_NOTIF)
            .count();
        assert_eq!(notes, kills);
    }

    #[test]
    fn calls_are_named() {
        if std::env::consts::ARCH != "x86_64" {
            return;
        }
        assert_eq!(
            describe_call(libc::SYS_ptrace as i32, AUDIT_ARCH_X86_64),
            "ptrace"
        );
        assert_eq!(
            describe_call(libc::SYS_clone as i32, AUDIT_ARCH_X86_64),
            "clone (with namespace flags)"
        );
        assert_eq!(
            describe_call(0x4000_0000 | 39, AUDIT_ARCH_X86_64),
            "x32 system call 39"
        );
        assert!(describe_call(26, AUDIT_ARCH_I386).contains("i386"));
    }

    #[test]
    fn x32_guard_starts_the_main_filter_on_x86_64() {
        let f = build(SeccompProfile::Default, false, false).unwrap();
        let main = f.last().unwrap();
        if std::env::consts::ARCH == "x86_64" {
            assert_eq!(main[1].k, 0x4000_0000);
            assert_eq!(main[2].k, libc::SECCOMP_RET_KILL_PROCESS);
        }
    }
}

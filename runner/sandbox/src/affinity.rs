//! CPU pinning of workers. On a VM a wake-up that crosses CPUs costs tens of microseconds
//! (an inter-processor interrupt through the hypervisor), and every case takes several:
//! request to the zygote, the case's exec and exit, the answer back. A worker whose supervisor
//! thread, zygote and cases share one CPU pays none of them. Cases then see one CPU
//! (`nproc` = 1), which is also what makes CPU times of parallel workers comparable.

use std::io;

use nix::sched::{sched_getaffinity, sched_setaffinity, CpuSet};
use nix::unistd::Pid;

/// The CPUs this process may run on, in ascending order.
pub fn allowed_cpus() -> Vec<usize> {
    match sched_getaffinity(Pid::from_raw(0)) {
        Ok(set) => (0..CpuSet::count())
            .filter(|c| set.is_set(*c).unwrap_or(false))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// The CPU worker `worker` of `workers` is pinned to: its own CPU when there are at least as
/// many allowed CPUs as workers, otherwise none (oversubscribed workers are left to the
/// scheduler). Workers take consecutive CPUs starting from the one this process first ran
/// on, so that several hatchery processes with fewer workers than CPUs (say, `-j1` runs
/// started side by side) spread over the machine instead of all taking the first CPU.
pub fn cpu_for_worker(worker: usize, workers: usize) -> Option<usize> {
    let cpus = allowed_cpus();
    if cpus.is_empty() || workers > cpus.len() {
        return None;
    }
    static START: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    let start = *START.get_or_init(|| {
        nix::sched::sched_getcpu()
            .ok()
            .and_then(|c| cpus.iter().position(|x| *x == c))
            .unwrap_or(0)
    });
    Some(cpus[(start + worker) % cpus.len()])
}

/// Restricts the calling thread (and what it starts from now on) to `cpu`.
pub fn pin_current_thread(cpu: usize) -> io::Result<()> {
    let mut set = CpuSet::new();
    set.set(cpu).map_err(io::Error::from)?;
    sched_setaffinity(Pid::from_raw(0), &set).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("sched_setaffinity to CPU {cpu}: {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_get_distinct_allowed_cpus_unless_oversubscribed() {
        let cpus = allowed_cpus();
        assert!(!cpus.is_empty(), "this process may run on no CPU?");
        let n = cpus.len();
        let mut picked: Vec<_> = (0..n).map(|w| cpu_for_worker(w, n).unwrap()).collect();
        picked.sort();
        assert_eq!(picked, cpus, "each worker a CPU of its own");
        assert_eq!(cpu_for_worker(0, n + 1), None);
    }

    #[test]
    fn pinning_a_thread_restricts_it_to_that_cpu() {
        let cpu = *allowed_cpus().last().unwrap();
        std::thread::spawn(move || {
            pin_current_thread(cpu).unwrap();
            assert_eq!(allowed_cpus(), vec![cpu]);
        })
        .join()
        .unwrap();
        assert!(pin_current_thread(CpuSet::count() + 1).is_err());
    }
}

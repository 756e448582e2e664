//! The CPUs and memory of a shard: what SLURM allocated to its task.
//!
//! A cluster with SLURM's cgroup or affinity task plugin confines a task to its CPUs. The
//! executor already reads its cgroup's cpuset, and the CPU affinity of the process narrows
//! that further. A cluster without either plugin lets the task see every CPU of the node.
//! Then `SLURM_CPUS_ON_NODE` still says how many CPUs the task may use, and cellrun takes
//! that many of the visible ones, so its slots never outnumber the allocation. Memory is
//! capped to `SLURM_MEM_PER_NODE`, or `SLURM_MEM_PER_CPU` times the CPUs, both in MiB.
//!
//! `scancel` and the time limit of a job send SIGTERM to every process of the task, the
//! processes of the running runs included, not only to cellrun. A run can then end on that
//! signal, or with its supervisor gone, before cellrun's own interrupt handling kills it.
//! Under SLURM, a run that ends while the shard is interrupted therefore counts as killed by
//! the interrupt, so that a resumed shard runs it again instead of keeping a spurious
//! failure. A run that ends by SIGTERM or SIGKILL, or without an exit status, waits up to
//! [`SIGNAL_SPREAD`] for the interrupt, which may reach cellrun a little after the run.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::sandbox::{ExitStatus, RunOutcome, RunRequest, TerminationReason};
use crate::schedule::{Executor, Resources};

const MIB: u64 = 1024 * 1024;

/// `resources` narrowed to the CPUs in `affinity` (when not empty) and to the allocation
/// that the SLURM variables read by `variable` describe.
pub fn allocated_resources(resources: Resources, affinity: &[usize], variable: impl Fn(&str) -> Option<String>) -> Resources {
    let number = |name: &str| variable(name).and_then(|value| value.trim().parse::<u64>().ok()).filter(|&value| value > 0);

    let mut cpus: Vec<usize> = resources.cpus.iter().copied().filter(|cpu| affinity.is_empty() || affinity.contains(cpu)).collect();
    if cpus.is_empty() {
        cpus = resources.cpus.clone();
    }
    if let Some(allocated) = number("SLURM_CPUS_ON_NODE") {
        cpus.truncate(usize::try_from(allocated).unwrap_or(usize::MAX).max(1));
    }

    let mut memory_bytes = resources.memory_bytes;
    let per_node = number("SLURM_MEM_PER_NODE").map(|mib| mib.saturating_mul(MIB));
    let per_cpu = number("SLURM_MEM_PER_CPU").map(|mib| mib.saturating_mul(MIB).saturating_mul(cpus.len() as u64));
    if let Some(allocated) = per_node.or(per_cpu) {
        memory_bytes = memory_bytes.min(allocated);
    }

    Resources { cpus, memory_nodes: resources.memory_nodes, memory_bytes }
}

/// Returns the CPUs this process may run on.
pub fn affinity() -> Vec<usize> {
    match nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)) {
        Ok(set) => (0..nix::sched::CpuSet::count()).filter(|&cpu| set.is_set(cpu).unwrap_or(false)).collect(),
        Err(_) => Vec::new(),
    }
}

/// Time within which SLURM's SIGTERM reaches cellrun after it reached a run's processes,
/// because slurmstepd signals the processes of a task one after the other.
const SIGNAL_SPREAD: Duration = Duration::from_millis(500);

/// Returns whether `outcome` may come from SLURM's SIGTERM or SIGKILL to the run's
/// processes: the tool died of one of them, or its supervisor ended without an exit status.
fn may_be_slurm_signal(outcome: &RunOutcome) -> bool {
    match outcome.exit {
        Some(ExitStatus::Signaled(signal)) => signal == libc::SIGTERM || signal == libc::SIGKILL,
        Some(ExitStatus::Exited(_)) => false,
        None => true,
    }
}

/// Waits until `cancel` is set, at most `limit`.
fn wait_for_interrupt(cancel: &AtomicBool, limit: Duration) {
    let deadline = Instant::now() + limit;
    while !cancel.load(Ordering::SeqCst) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// An executor that offers only the resources of a SLURM allocation.
pub struct AllocatedExecutor {
    inner: Box<dyn Executor>,
    resources: Resources,
}

impl AllocatedExecutor {
    /// Wraps `inner`, narrowing its resources to the allocation of this SLURM task.
    pub fn new(inner: Box<dyn Executor>) -> AllocatedExecutor {
        let resources = allocated_resources(inner.resources(), &affinity(), |name| std::env::var(name).ok());
        AllocatedExecutor { inner, resources }
    }
}

impl Executor for AllocatedExecutor {
    fn execute(&self, request: &RunRequest, cancel: &AtomicBool) -> RunOutcome {
        let mut outcome = self.inner.execute(request, cancel);
        let limit_reached = !matches!(outcome.termination, None | Some(TerminationReason::Failed));
        if !limit_reached && may_be_slurm_signal(&outcome) {
            wait_for_interrupt(cancel, SIGNAL_SPREAD);
        }
        if cancel.load(Ordering::SeqCst) && !limit_reached {
            outcome.termination = Some(TerminationReason::Killed);
        }
        outcome
    }

    fn resources(&self) -> Resources {
        self.resources.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine() -> Resources {
        Resources { cpus: (0..8).collect(), memory_nodes: vec![0], memory_bytes: 16 << 30 }
    }

    fn variables<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| pairs.iter().find(|(key, _)| *key == name).map(|(_, value)| value.to_string())
    }

    /// An executor whose runs end with `termination`, as when their supervisor was killed.
    struct Ending(Option<TerminationReason>);

    impl Executor for Ending {
        fn execute(&self, _request: &RunRequest, _cancel: &AtomicBool) -> RunOutcome {
            let mut outcome = RunOutcome::failed(jiff::Timestamp::now(), "supervisor ended".into());
            outcome.termination = self.0;
            outcome
        }

        fn resources(&self) -> Resources {
            machine()
        }
    }

    fn request() -> RunRequest {
        RunRequest {
            run_id: "r".into(),
            command: vec!["true".into()],
            env: Vec::new(),
            workdir: "/".into(),
            stdin: None,
            limits: Default::default(),
            dirs: Default::default(),
            network: false,
            result_patterns: Vec::new(),
            result_dir: None,
            log_path: "/dev/null".into(),
            cpus: None,
            memory_nodes: None,
            allow_unenforced_limits: false,
        }
    }

    #[test]
    fn run_ended_during_interrupt_counts_as_killed() {
        let wrap = |termination| AllocatedExecutor { inner: Box::new(Ending(termination)), resources: machine() };
        let calm = wrap(None).execute(&request(), &AtomicBool::new(false));
        assert_eq!(calm.termination, None);
        for termination in [None, Some(TerminationReason::Failed)] {
            let interrupted = wrap(termination).execute(&request(), &AtomicBool::new(true));
            assert_eq!(interrupted.termination, Some(TerminationReason::Killed), "{termination:?}");
        }
    }

    #[test]
    fn interrupt_arriving_after_signal_counts() {
        struct Terminated;
        impl Executor for Terminated {
            fn execute(&self, _request: &RunRequest, _cancel: &AtomicBool) -> RunOutcome {
                let mut outcome = RunOutcome::failed(jiff::Timestamp::now(), String::new());
                outcome.termination = None;
                outcome.exit = Some(ExitStatus::Signaled(libc::SIGTERM));
                outcome
            }
            fn resources(&self) -> Resources {
                machine()
            }
        }

        let executor = AllocatedExecutor { inner: Box::new(Terminated), resources: machine() };
        let cancel = AtomicBool::new(false);
        let outcome = std::thread::scope(|scope| {
            scope.spawn(|| {
                std::thread::sleep(Duration::from_millis(100));
                cancel.store(true, Ordering::SeqCst);
            });
            executor.execute(&request(), &cancel)
        });
        assert_eq!(outcome.termination, Some(TerminationReason::Killed));
    }

    #[test]
    fn limit_kept_during_interrupt() {
        let executor = AllocatedExecutor { inner: Box::new(Ending(Some(TerminationReason::WallTime))), resources: machine() };
        let outcome = executor.execute(&request(), &AtomicBool::new(true));
        assert_eq!(outcome.termination, Some(TerminationReason::WallTime));
    }

    #[test]
    fn outside_slurm_unchanged() {
        assert_eq!(allocated_resources(machine(), &[], variables(&[])), machine());
    }

    #[test]
    fn affinity_narrows_cpus() {
        let resources = allocated_resources(machine(), &[2, 3, 9], variables(&[]));
        assert_eq!(resources.cpus, [2, 3]);
    }

    #[test]
    fn cpu_count_caps_unconfined_task() {
        let resources = allocated_resources(machine(), &[], variables(&[("SLURM_CPUS_ON_NODE", "3")]));
        assert_eq!(resources.cpus, [0, 1, 2]);
    }

    #[test]
    fn memory_capped_per_node_or_per_cpu() {
        let per_node = allocated_resources(machine(), &[], variables(&[("SLURM_MEM_PER_NODE", "2048")]));
        assert_eq!(per_node.memory_bytes, 2 << 30);
        let per_cpu =
            allocated_resources(machine(), &[], variables(&[("SLURM_CPUS_ON_NODE", "2"), ("SLURM_MEM_PER_CPU", "512")]));
        assert_eq!(per_cpu.memory_bytes, 1 << 30);
    }
}

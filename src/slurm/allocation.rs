//! The CPUs and memory of a shard: what SLURM allocated to its task.
//!
//! A cluster with SLURM's cgroup or affinity task plugin confines a task to its CPUs, and
//! the executor already reads its cgroup's cpuset; the CPU affinity of the process narrows
//! that further. A cluster without either plugin lets the task see every CPU of the node.
//! Then `SLURM_CPUS_ON_NODE` still says how many CPUs the task may use, and cellrun takes
//! that many of the visible ones, so its slots never outnumber the allocation. Memory is
//! capped to `SLURM_MEM_PER_NODE`, or `SLURM_MEM_PER_CPU` times the CPUs, both in MiB.

use std::sync::atomic::AtomicBool;

use crate::sandbox::{RunOutcome, RunRequest};
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

/// The CPUs this process may run on.
pub fn affinity() -> Vec<usize> {
    match nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)) {
        Ok(set) => (0..nix::sched::CpuSet::count()).filter(|&cpu| set.is_set(cpu).unwrap_or(false)).collect(),
        Err(_) => Vec::new(),
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
        self.inner.execute(request, cancel)
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

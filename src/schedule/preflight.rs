//! The check before the first run: do the slots fit the CPUs and memory cellrun may use?
//!
//! Every slot needs as many CPUs as the largest `cores` limit among the runs to start and as
//! much memory as the largest `memory` limit, because any run may land in any slot. A run
//! without a `cores` limit counts as one core, except when the batch has a single slot:
//! then that slot gets every usable CPU.

use super::error::ScheduleError;
use super::topology::{SlotCpus, Topology};
use super::Resources;
use crate::plan::PlannedRun;
use crate::units::Bytes;

/// The slots a batch will use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotPlan {
    pub slots: Vec<SlotCpus>,
    /// CPUs per slot.
    pub cores: usize,
    /// The largest memory limit among the runs, in bytes.
    pub memory_per_run: Option<u64>,
}

/// Chooses the slots for `runs`: `requested` of them, or as many as fit when `None`.
pub fn plan_slots(
    requested: Option<usize>,
    runs: &[&PlannedRun],
    resources: &Resources,
    topology: &Topology,
) -> Result<SlotPlan, ScheduleError> {
    if requested == Some(0) {
        return Err(ScheduleError::ZeroParallel);
    }
    let cores_limit = runs.iter().filter_map(|run| run.settings.limits.cores).max().map(|cores| cores as usize);
    let memory_per_run = runs.iter().filter_map(|run| run.settings.limits.memory).map(|memory| memory.0).max();
    let wanted = requested.unwrap_or(usize::MAX).min(runs.len()).max(1);

    if cores_limit.is_none() && (requested == Some(1) || topology.cpu_count() <= 1) {
        let slot = topology.all_cpus();
        check_memory(1, memory_per_run, resources)?;
        return Ok(SlotPlan { cores: slot.cpus.len(), slots: vec![slot], memory_per_run });
    }

    let cores = cores_limit.unwrap_or(1);
    let cpu_slots = topology.allocate(cores, usize::MAX);
    if cpu_slots.is_empty() {
        return Err(ScheduleError::RunTooLarge { cores, available: topology.cpu_count() });
    }
    let memory_fit = memory_fit(memory_per_run, resources);
    if memory_fit == 0 {
        let memory = memory_per_run.expect("a memory fit of 0 needs a memory limit");
        return Err(ScheduleError::RunMemoryTooLarge { memory: Bytes(memory), available: Bytes(resources.memory_bytes) });
    }

    let fit = cpu_slots.len().min(memory_fit);
    let count = match requested {
        None => fit.min(wanted),
        Some(_) => {
            check_cpus(wanted, cores, cpu_slots.len(), topology)?;
            check_memory(wanted, memory_per_run, resources)?;
            wanted
        }
    };

    let slots = cpu_slots.into_iter().take(count).collect();
    Ok(SlotPlan { slots, cores, memory_per_run })
}

fn memory_fit(memory_per_run: Option<u64>, resources: &Resources) -> usize {
    match memory_per_run {
        Some(memory) if memory > 0 => usize::try_from(resources.memory_bytes / memory).unwrap_or(usize::MAX),
        _ => usize::MAX,
    }
}

fn check_cpus(slots: usize, cores: usize, fit: usize, topology: &Topology) -> Result<(), ScheduleError> {
    if slots <= fit {
        return Ok(());
    }
    Err(ScheduleError::TooManyCores {
        slots,
        cores,
        needed: slots * cores,
        available: topology.cpu_count(),
        physical: topology.units().len(),
        fit,
    })
}

fn check_memory(slots: usize, memory_per_run: Option<u64>, resources: &Resources) -> Result<(), ScheduleError> {
    let Some(memory) = memory_per_run else { return Ok(()) };
    let needed = memory.saturating_mul(slots as u64);
    if needed <= resources.memory_bytes {
        return Ok(());
    }
    Err(ScheduleError::TooMuchMemory {
        slots,
        memory: Bytes(memory),
        needed: Bytes(needed),
        available: Bytes(resources.memory_bytes),
        fit: memory_fit(Some(memory), resources),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::plan::RunSettings;
    use crate::schedule::topology::CoreUnit;

    fn run(cores: Option<u32>, memory: Option<u64>) -> PlannedRun {
        let mut settings = RunSettings {
            limits: Default::default(),
            dirs: Default::default(),
            network: false,
            env: Default::default(),
            workdir: "/".into(),
            result_files: Vec::new(),
            accept_unenforced_limits: false,
        };
        settings.limits.cores = cores;
        settings.limits.memory = memory.map(Bytes);
        PlannedRun {
            id: "r".into(),
            tool: "t".into(),
            config: String::new(),
            task_set: String::new(),
            task: String::new(),
            command: vec!["true".into()],
            expected: None,
            property: None,
            settings: Arc::new(settings),
            verdict: None,
        }
    }

    fn resources(cpus: usize, memory: u64) -> Resources {
        Resources { cpus: (0..cpus).collect(), memory_nodes: vec![0], memory_bytes: memory }
    }

    #[test]
    fn default_is_largest_fit() {
        let runs = [run(Some(2), None), run(Some(1), None), run(None, None), run(None, None), run(None, None)];
        let refs: Vec<_> = runs.iter().collect();
        let plan = plan_slots(None, &refs, &resources(8, 1 << 30), &Topology::flat(&(0..8).collect::<Vec<_>>())).unwrap();
        assert_eq!(plan.slots.len(), 4);
        assert_eq!(plan.cores, 2);
    }

    #[test]
    fn default_limited_by_memory() {
        let runs = [run(Some(1), Some(3 << 30)), run(Some(1), None), run(Some(1), None)];
        let refs: Vec<_> = runs.iter().collect();
        let plan = plan_slots(None, &refs, &resources(8, 7 << 30), &Topology::flat(&(0..8).collect::<Vec<_>>())).unwrap();
        assert_eq!(plan.slots.len(), 2);
    }

    #[test]
    fn too_many_slots_rejected_with_numbers() {
        let runs = vec![run(Some(2), None); 10];
        let refs: Vec<_> = runs.iter().collect();
        let error = plan_slots(Some(3), &refs, &resources(4, 1 << 30), &Topology::flat(&[0, 1, 2, 3])).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("3 parallel runs"), "{message}");
        assert!(message.contains("6 CPU(s)"), "{message}");
        assert!(message.contains("4 CPU(s)"), "{message}");
        assert!(message.contains("--parallel 2"), "{message}");
    }

    #[test]
    fn too_much_memory_rejected_with_numbers() {
        let runs = vec![run(Some(1), Some(1 << 30)); 4];
        let refs: Vec<_> = runs.iter().collect();
        let error = plan_slots(Some(4), &refs, &resources(4, 3 << 30), &Topology::flat(&[0, 1, 2, 3])).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("4 GiB"), "{message}");
        assert!(message.contains("3 GiB"), "{message}");
        assert!(message.contains("--parallel 3"), "{message}");
    }

    #[test]
    fn single_slot_without_cores_gets_all_cpus() {
        let runs = [run(None, None)];
        let refs: Vec<_> = runs.iter().collect();
        let plan = plan_slots(Some(1), &refs, &resources(4, 1 << 30), &Topology::flat(&[0, 1, 2, 3])).unwrap();
        assert_eq!(plan.slots[0].cpus, [0, 1, 2, 3]);
    }

    #[test]
    fn hyperthreads_count_as_one_slot_each_core() {
        let topology = Topology::from_units(vec![
            CoreUnit { cpus: vec![0, 1], node: 0 },
            CoreUnit { cpus: vec![2, 3], node: 0 },
        ]);
        let runs = vec![run(Some(1), None); 4];
        let refs: Vec<_> = runs.iter().collect();
        let error = plan_slots(Some(3), &refs, &resources(4, 1 << 30), &topology).unwrap_err();
        assert!(error.to_string().contains("2 physical core(s)"), "{error}");
    }

    #[test]
    fn run_larger_than_machine_rejected() {
        let runs = [run(Some(8), None)];
        let refs: Vec<_> = runs.iter().collect();
        let error = plan_slots(None, &refs, &resources(2, 1 << 30), &Topology::flat(&[0, 1])).unwrap_err();
        assert!(matches!(error, ScheduleError::RunTooLarge { cores: 8, available: 2 }), "{error}");
    }

    #[test]
    fn zero_parallel_rejected() {
        let runs = [run(None, None)];
        let refs: Vec<_> = runs.iter().collect();
        assert!(plan_slots(Some(0), &refs, &resources(2, 1), &Topology::flat(&[0, 1])).is_err());
    }
}

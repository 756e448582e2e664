//! The sandbox as the batch scheduler's executor.

use std::sync::atomic::AtomicBool;

use super::{RunOutcome, RunRequest, Sandbox};
use crate::schedule::{Executor, Resources};

impl Executor for Sandbox {
    fn execute(&self, request: &RunRequest, cancel: &AtomicBool) -> RunOutcome {
        Sandbox::execute(self, request, cancel)
    }

    /// The CPUs and memory nodes of cellrun's cgroup, and the smaller of the machine's
    /// memory and the memory limit of cellrun's cgroup.
    fn resources(&self) -> Resources {
        let machine_memory = machine_memory_bytes();
        let Some(cgroups) = self.cgroups() else {
            return Resources {
                cpus: online_list("/sys/devices/system/cpu/online"),
                memory_nodes: online_list("/sys/devices/system/node/online"),
                memory_bytes: machine_memory,
            };
        };
        let memory_bytes = match cgroups.own_memory_limit() {
            Some(limit) => limit.min(machine_memory),
            None => machine_memory,
        };
        Resources { cpus: cgroups.available_cpus(), memory_nodes: cgroups.available_memory_nodes(), memory_bytes }
    }
}

/// Reads `MemTotal` from `/proc/meminfo`; 0 when it cannot be read, which makes the
/// scheduler's memory check fail loudly instead of guessing.
fn machine_memory_bytes() -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    text.lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kib| kib * 1024)
        .unwrap_or(0)
}

/// Reads a kernel list file such as `/sys/devices/system/cpu/online` (`0-3,8`); empty when
/// it cannot be read.
fn online_list(path: &str) -> Vec<usize> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    crate::cli::exec::parse_cpu_list(text.trim()).map(|list| list.0).unwrap_or_default()
}

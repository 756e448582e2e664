//! Which CPUs share a physical core and a memory node, and how slots divide them.
//!
//! Two hyperthreads of one physical core share its execution units and caches, so a run on
//! one of them slows a run on the other. A slot therefore always takes whole physical cores:
//! it gets `ceil(cores / threads per core)` of them and uses `cores` of their CPUs. A sibling
//! left over stays idle rather than going to another slot. Each slot's cores come
//! from one memory node when one node has enough, and its memory nodes are those of its CPUs.

use std::collections::BTreeSet;
use std::path::Path;

/// A physical core: the CPUs cellrun may use among its hyperthread siblings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoreUnit {
    pub cpus: Vec<usize>,
    pub node: usize,
}

/// The usable CPUs grouped into physical cores, ordered by node and first CPU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topology {
    units: Vec<CoreUnit>,
}

/// The CPUs and memory nodes of one slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotCpus {
    pub cpus: Vec<usize>,
    pub memory_nodes: Vec<usize>,
}

impl Topology {
    /// Builds a topology from physical cores; empty units are dropped.
    pub fn from_units(mut units: Vec<CoreUnit>) -> Topology {
        units.retain(|unit| !unit.cpus.is_empty());
        for unit in &mut units {
            unit.cpus.sort_unstable();
        }
        units.sort_by_key(|unit| (unit.node, unit.cpus[0]));
        Topology { units }
    }

    /// Builds a topology where every CPU of `cpus` is a physical core of its own on node 0.
    pub fn flat(cpus: &[usize]) -> Topology {
        Topology::from_units(cpus.iter().map(|&cpu| CoreUnit { cpus: vec![cpu], node: 0 }).collect())
    }

    /// Reads the siblings and nodes of `usable` CPUs from sysfs under `sys` (normally `/sys`).
    ///
    /// A CPU whose sibling list is missing counts as a core of its own, and one that no node
    /// lists counts as node 0, as on kernels built without NUMA support.
    pub fn read_sysfs(sys: &Path, usable: &[usize]) -> Topology {
        let usable_set: BTreeSet<usize> = usable.iter().copied().collect();
        let nodes = read_nodes(sys);
        let mut seen = BTreeSet::new();
        let mut units = Vec::new();

        for &cpu in usable {
            if seen.contains(&cpu) {
                continue;
            }
            let siblings_file = sys.join(format!("devices/system/cpu/cpu{cpu}/topology/thread_siblings_list"));
            let siblings = std::fs::read_to_string(siblings_file)
                .ok()
                .and_then(|text| parse_cpu_list(&text))
                .unwrap_or_else(|| vec![cpu]);
            let cpus: Vec<usize> = siblings.into_iter().filter(|sibling| usable_set.contains(sibling)).collect();
            seen.extend(cpus.iter().copied());

            let node = nodes.iter().find(|(_, cpus)| cpus.contains(&cpu)).map_or(0, |(node, _)| *node);
            units.push(CoreUnit { cpus: if cpus.is_empty() { vec![cpu] } else { cpus }, node });
        }
        Topology::from_units(units)
    }

    /// Number of usable CPUs.
    pub fn cpu_count(&self) -> usize {
        self.units.iter().map(|unit| unit.cpus.len()).sum()
    }

    pub fn units(&self) -> &[CoreUnit] {
        &self.units
    }

    /// Returns a slot of every usable CPU, ascending, on every node.
    pub fn all_cpus(&self) -> SlotCpus {
        let cpus: BTreeSet<usize> = self.units.iter().flat_map(|unit| unit.cpus.iter().copied()).collect();
        let nodes: BTreeSet<usize> = self.units.iter().map(|unit| unit.node).collect();
        SlotCpus { cpus: cpus.into_iter().collect(), memory_nodes: nodes.into_iter().collect() }
    }

    /// Divides the cores into as many disjoint slots of `cores` CPUs as fit, at most `limit`.
    pub fn allocate(&self, cores: usize, limit: usize) -> Vec<SlotCpus> {
        let mut free: Vec<bool> = vec![true; self.units.len()];
        let mut slots = Vec::new();
        while slots.len() < limit {
            let Some(chosen) = self.pick_units(&free, cores) else { break };
            for &index in &chosen {
                free[index] = false;
            }
            slots.push(self.slot_from(&chosen, cores));
        }
        slots
    }

    /// Picks free units with at least `cores` CPUs, from a single node when one suffices.
    fn pick_units(&self, free: &[bool], cores: usize) -> Option<Vec<usize>> {
        if cores == 0 {
            return None;
        }
        let nodes: BTreeSet<usize> = self.units.iter().map(|unit| unit.node).collect();
        let candidates = nodes.iter().map(Some).chain([None]);
        for node in candidates {
            let mut chosen = Vec::new();
            let mut count = 0;
            for (index, unit) in self.units.iter().enumerate() {
                if free[index] && node.is_none_or(|node| unit.node == *node) && count < cores {
                    chosen.push(index);
                    count += unit.cpus.len();
                }
            }
            if count >= cores {
                return Some(chosen);
            }
        }
        None
    }

    fn slot_from(&self, chosen: &[usize], cores: usize) -> SlotCpus {
        let cpus: Vec<usize> = chosen.iter().flat_map(|&index| self.units[index].cpus.iter().copied()).take(cores).collect();
        let nodes: BTreeSet<usize> = chosen.iter().map(|&index| self.units[index].node).collect();
        SlotCpus { cpus, memory_nodes: nodes.into_iter().collect() }
    }
}

/// Node numbers with their CPU lists, from `devices/system/node/nodeN/cpulist`.
fn read_nodes(sys: &Path) -> Vec<(usize, Vec<usize>)> {
    let Ok(entries) = std::fs::read_dir(sys.join("devices/system/node")) else { return Vec::new() };
    let mut nodes = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(number) = name.to_str().and_then(|name| name.strip_prefix("node")).and_then(|n| n.parse().ok()) else {
            continue;
        };
        if let Some(cpus) = std::fs::read_to_string(entry.path().join("cpulist")).ok().and_then(|text| parse_cpu_list(&text)) {
            nodes.push((number, cpus));
        }
    }
    nodes.sort();
    nodes
}

/// Parses a kernel CPU list such as `0-3,8,10-11`; an empty list is valid.
pub fn parse_cpu_list(text: &str) -> Option<Vec<usize>> {
    let mut cpus = Vec::new();
    for part in text.trim().split(',').filter(|part| !part.is_empty()) {
        match part.split_once('-') {
            Some((first, last)) => {
                let (first, last): (usize, usize) = (first.parse().ok()?, last.parse().ok()?);
                cpus.extend(first..=last);
            }
            None => cpus.push(part.parse().ok()?),
        }
    }
    Some(cpus)
}

/// Formats CPU numbers as `0,1,4`, the form of the `cores` column.
pub fn format_cpus(cpus: &[usize]) -> String {
    cpus.iter().map(usize::to_string).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two nodes, each with two physical cores of two hyperthreads: CPU n and n+4 are siblings.
    fn two_nodes_smt() -> Topology {
        Topology::from_units(vec![
            CoreUnit { cpus: vec![0, 4], node: 0 },
            CoreUnit { cpus: vec![1, 5], node: 0 },
            CoreUnit { cpus: vec![2, 6], node: 1 },
            CoreUnit { cpus: vec![3, 7], node: 1 },
        ])
    }

    #[test]
    fn cpu_list_parsed() {
        assert_eq!(parse_cpu_list("0-2,5,7-8\n"), Some(vec![0, 1, 2, 5, 7, 8]));
        assert_eq!(parse_cpu_list(""), Some(vec![]));
        assert_eq!(parse_cpu_list("x"), None);
    }

    #[test]
    fn siblings_kept_together() {
        let slots = two_nodes_smt().allocate(2, 8);
        let cpus: Vec<_> = slots.iter().map(|slot| slot.cpus.clone()).collect();
        assert_eq!(cpus, [vec![0, 4], vec![1, 5], vec![2, 6], vec![3, 7]]);
    }

    #[test]
    fn single_cpu_slot_takes_whole_core() {
        let slots = two_nodes_smt().allocate(1, 8);
        assert_eq!(slots.len(), 4);
        assert_eq!(slots[0].cpus, [0]);
        assert_eq!(slots[1].cpus, [1]);
    }

    #[test]
    fn slot_stays_on_one_node() {
        let slots = two_nodes_smt().allocate(4, 8);
        assert_eq!(slots.len(), 2);
        assert_eq!(slots[0].memory_nodes, [0]);
        assert_eq!(slots[1].cpus, [2, 6, 3, 7]);
        assert_eq!(slots[1].memory_nodes, [1]);
    }

    #[test]
    fn slot_spans_nodes_when_needed() {
        let slots = two_nodes_smt().allocate(6, 8);
        assert_eq!(slots.len(), 1);
        assert_eq!(slots[0].memory_nodes, [0, 1]);
        assert_eq!(slots[0].cpus.len(), 6);
    }

    #[test]
    fn slots_disjoint() {
        let slots = Topology::flat(&[0, 1, 2, 3, 4, 5, 6]).allocate(2, 10);
        assert_eq!(slots.len(), 3);
        let all: Vec<usize> = slots.iter().flat_map(|slot| slot.cpus.clone()).collect();
        let unique: BTreeSet<usize> = all.iter().copied().collect();
        assert_eq!(all.len(), unique.len());
    }

    #[test]
    fn limit_respected() {
        assert_eq!(Topology::flat(&[0, 1, 2, 3]).allocate(1, 2).len(), 2);
    }

    #[test]
    fn sysfs_of_this_machine_read() {
        let cpus: Vec<usize> = (0..std::thread::available_parallelism().unwrap().get()).collect();
        let topology = Topology::read_sysfs(Path::new("/sys"), &cpus);
        assert_eq!(topology.cpu_count(), cpus.len());
    }

    #[test]
    fn fake_sysfs_siblings_and_nodes_read() {
        let sys = tempfile::tempdir().unwrap();
        for (cpu, siblings) in [(0, "0,2"), (1, "1,3"), (2, "0,2"), (3, "1,3")] {
            let dir = sys.path().join(format!("devices/system/cpu/cpu{cpu}/topology"));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("thread_siblings_list"), siblings).unwrap();
        }
        for (node, list) in [(0, "0,2"), (1, "1,3")] {
            let dir = sys.path().join(format!("devices/system/node/node{node}"));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("cpulist"), list).unwrap();
        }

        let topology = Topology::read_sysfs(sys.path(), &[0, 1, 2, 3]);
        assert_eq!(
            topology.units(),
            [CoreUnit { cpus: vec![0, 2], node: 0 }, CoreUnit { cpus: vec![1, 3], node: 1 }]
        );
    }
}

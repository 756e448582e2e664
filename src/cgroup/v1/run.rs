//! The cgroup of one run on cgroup v1: measurement, killing and removal.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cgroup::error::CgroupError;
use crate::cgroup::fs as cgfs;
use crate::cgroup::kill;

/// How long a freeze may take before the processes get SIGKILL anyway; a task in
/// uninterruptible sleep can hold the v1 freezer in state FREEZING.
const FREEZE_TIMEOUT: Duration = Duration::from_millis(200);

/// The directories of one run, one per hierarchy, with the controllers of each.
#[derive(Debug, Default)]
pub struct V1Run {
    dirs: Vec<(Vec<String>, PathBuf)>,
}

impl V1Run {
    pub(super) fn add_dir(&mut self, controllers: &[String], dir: PathBuf) {
        self.dirs.push((controllers.to_vec(), dir));
    }

    pub fn dir_of(&self, controller: &str) -> Option<&Path> {
        self.dirs
            .iter()
            .find(|(controllers, _)| controllers.iter().any(|c| c == controller))
            .map(|(_, dir)| dir.as_path())
    }

    pub fn paths(&self) -> Vec<PathBuf> {
        self.dirs.iter().map(|(_, dir)| dir.clone()).collect()
    }

    fn required_dir(&self, controller: &'static str) -> Result<&Path, CgroupError> {
        self.dir_of(controller)
            .ok_or_else(|| CgroupError::MissingController {
                controller,
                path: PathBuf::from("/proc/self/mountinfo"),
                fix: format!("mount the {controller} hierarchy"),
            })
    }

    /// Moves the process `pid` into the run's cgroup in every hierarchy.
    pub fn add_process(&self, pid: i32) -> Result<(), CgroupError> {
        for (_, dir) in &self.dirs {
            cgfs::write(&dir.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    pub fn cpu_time(&self) -> Result<Duration, CgroupError> {
        let nanoseconds = cgfs::read_u64(&self.required_dir("cpuacct")?.join("cpuacct.usage"))?;
        Ok(Duration::from_nanos(nanoseconds))
    }

    pub fn cpu_time_per_cpu(&self) -> Result<Vec<(usize, Duration)>, CgroupError> {
        let path = self.required_dir("cpuacct")?.join("cpuacct.usage_percpu");
        let text = cgfs::read(&path)?;
        let mut usage = Vec::new();
        for (cpu, field) in text.split_whitespace().enumerate() {
            let nanoseconds: u64 = field.parse().map_err(|_| {
                cgfs::parse_error(&path, text.clone(), "numbers separated by spaces")
            })?;
            usage.push((cpu, Duration::from_nanos(nanoseconds)));
        }
        Ok(usage)
    }

    /// Returns the peak of memory plus swap when the kernel accounts swap, else of memory;
    /// `None` without a memory hierarchy.
    pub fn memory_peak(&self) -> Result<Option<u64>, CgroupError> {
        let Some(dir) = self.dir_of("memory") else {
            return Ok(None);
        };
        let memsw = dir.join("memory.memsw.max_usage_in_bytes");
        let path = if memsw.exists() {
            memsw
        } else {
            dir.join("memory.max_usage_in_bytes")
        };
        cgfs::read_u64(&path).map(Some)
    }

    /// Returns how many processes the OOM killer killed in this cgroup; 0 without a memory
    /// hierarchy, where no limit could have triggered it.
    pub fn oom_kills(&self) -> Result<u64, CgroupError> {
        match self.dir_of("memory") {
            Some(dir) => cgfs::read_keyed(&dir.join("memory.oom_control"), "oom_kill"),
            None => Ok(0),
        }
    }

    fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        let mut pids = Vec::new();
        for (_, dir) in &self.dirs {
            pids.extend(cgfs::pids_in_subtree(dir)?);
        }
        pids.sort_unstable();
        pids.dedup();
        Ok(pids)
    }

    /// Kills every process of the run. With a freezer hierarchy the processes are frozen
    /// first, so that none can fork between reading the pid list and the signal.
    pub fn kill_all(&self) -> Result<(), CgroupError> {
        let Some((_, first)) = self.dirs.first() else {
            return Ok(());
        };
        kill::kill_until_empty(first, || self.pids(), |pids| self.kill_round(pids))
    }

    fn kill_round(&self, pids: &[i32]) -> Result<(), CgroupError> {
        let Some(freezer) = self.dir_of("freezer") else {
            kill::sigkill_all(pids);
            return Ok(());
        };

        let state = freezer.join("freezer.state");
        cgfs::write(&state, "FROZEN")?;
        let frozen = cgfs::wait_until(FREEZE_TIMEOUT, || {
            cgfs::read(&state).is_ok_and(|s| s.trim() == "FROZEN")
        });
        if !frozen {
            tracing::debug!(path = %state.display(), "freezing did not finish, killing anyway");
        }
        // Frozen tasks receive SIGKILL only when thawed, so the list read now is complete.
        let killed = self.pids().map(|pids| kill::sigkill_all(&pids));
        let thawed = cgfs::write(&state, "THAWED");
        killed.and(thawed)
    }

    /// Kills the run's processes and removes its directory in every hierarchy.
    pub fn remove(&self) -> Result<(), CgroupError> {
        self.kill_all()?;
        kill::remove_all(&self.paths(), |dir| fs::remove_dir(dir))
    }

    /// Removes what exists of a run cgroup whose setup failed.
    pub(super) fn remove_dirs_best_effort(&self) {
        if let Err(error) = self.remove() {
            tracing::warn!(%error, "failed to remove a run cgroup after its setup failed");
        }
    }
}

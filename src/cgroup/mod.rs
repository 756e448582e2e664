//! Control groups: limits and measurement of one run's whole process tree.
//!
//! One interface, two backends chosen at run time: cgroup v1 (one hierarchy per controller)
//! and cgroup v2 (one unified hierarchy). cellrun creates one cgroup per run below a cgroup
//! of its own, `cellrun-<pid>`, placed under the cgroup cellrun was started in, so that it
//! respects the limits of its parent (a SLURM job, a systemd scope, a CI container).

use std::path::PathBuf;
use std::time::Duration;

use thiserror::Error;

/// The cgroup version in use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Version {
    V1,
    V2,
}

/// A cgroup operation that failed, with the file and the fix.
#[derive(Debug, Error)]
pub enum CgroupError {
    #[error("cgroup support is not finished")]
    Unavailable,
}

/// What a run's cgroup is set up with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunCgroupSettings {
    pub memory_limit: Option<u64>,
    pub cpus: Option<Vec<usize>>,
    pub memory_nodes: Option<Vec<usize>>,
    pub pids_max: Option<u64>,
}

/// The cgroup hierarchy cellrun runs in, detected at start.
pub struct Cgroups {}

impl Cgroups {
    pub fn detect() -> Result<Cgroups, CgroupError> {
        Err(CgroupError::Unavailable)
    }

    pub fn version(&self) -> Version {
        Version::V1
    }

    pub fn create_run(&self, _name: &str, _settings: &RunCgroupSettings) -> Result<RunCgroup, CgroupError> {
        Err(CgroupError::Unavailable)
    }

    pub fn available_cpus(&self) -> Vec<usize> {
        Vec::new()
    }

    pub fn available_memory_nodes(&self) -> Vec<usize> {
        Vec::new()
    }
}

/// The cgroup of one run.
pub struct RunCgroup {
    pub paths: Vec<PathBuf>,
}

impl RunCgroup {
    /// The `cgroup.procs` file of the run's cgroup in every hierarchy; a process joins the
    /// cgroup by writing `0` to each.
    pub fn procs_files(&self) -> Vec<PathBuf> {
        self.paths.iter().map(|path| path.join("cgroup.procs")).collect()
    }
    pub fn add_process(&self, _pid: i32) -> Result<(), CgroupError> {
        Err(CgroupError::Unavailable)
    }
    pub fn cpu_time(&self) -> Result<Duration, CgroupError> {
        Err(CgroupError::Unavailable)
    }
    pub fn cpu_time_per_cpu(&self) -> Result<Vec<(usize, Duration)>, CgroupError> {
        Err(CgroupError::Unavailable)
    }
    pub fn memory_peak(&self) -> Result<Option<u64>, CgroupError> {
        Err(CgroupError::Unavailable)
    }
    pub fn oom_kills(&self) -> Result<u64, CgroupError> {
        Err(CgroupError::Unavailable)
    }
    pub fn kill_all(&self) -> Result<(), CgroupError> {
        Err(CgroupError::Unavailable)
    }
    pub fn remove(self) -> Result<(), CgroupError> {
        Err(CgroupError::Unavailable)
    }
}

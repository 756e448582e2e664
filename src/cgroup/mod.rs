//! Control groups: limits and measurement of one run's whole process tree.
//!
//! One interface, two backends chosen at run time: cgroup v1 (one hierarchy per controller)
//! and cgroup v2 (one unified hierarchy). cellrun creates one cgroup per run below a cgroup
//! of its own, `cellrun-<pid>`, placed under the cgroup cellrun was started in, so that it
//! respects the limits of its parent (a SLURM job, a systemd scope, a CI container).
//!
//! Every limit write is checked: a run never starts in a cgroup whose limit the kernel
//! rejected. Each run gets a fresh cgroup, so no value carries over from an earlier run.

mod detect;
mod error;
mod fs;
mod kill;
mod names;
mod parse;
mod sweep;
mod v1;
mod v2;

use std::path::PathBuf;
use std::time::Duration;

pub use error::CgroupError;

/// The cgroup version in use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Version {
    V1,
    V2,
}

/// Limits and cpuset of a run's cgroup.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunCgroupSettings {
    /// Limit of memory plus swap in bytes; unlimited when `None`.
    pub memory_limit: Option<u64>,
    /// CPUs of the run's cpuset; those of cellrun's own cgroup when `None`.
    pub cpus: Option<Vec<usize>>,
    /// Memory nodes of the run's cpuset; those of cellrun's own cgroup when `None`.
    pub memory_nodes: Option<Vec<usize>>,
    /// Maximum number of processes and threads; unlimited when `None`.
    pub pids_max: Option<u64>,
}

/// The limits a run uses, hence the controllers it needs besides CPU-time accounting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Needs {
    pub memory: bool,
    /// A cpuset: CPUs or memory nodes.
    pub cpus: bool,
    pub pids: bool,
}

impl Needs {
    pub fn of(settings: &RunCgroupSettings) -> Needs {
        Needs {
            memory: settings.memory_limit.is_some(),
            cpus: settings.cpus.is_some() || settings.memory_nodes.is_some(),
            pids: settings.pids_max.is_some(),
        }
    }
}

/// The cgroup hierarchy cellrun runs in, detected at start.
#[derive(Debug)]
pub struct Cgroups {
    backend: Backend,
}

#[derive(Debug)]
enum Backend {
    V1(v1::V1Cgroups),
    V2(v2::V2Cgroups),
}

impl Cgroups {
    /// Detects the cgroup version and cellrun's own cgroup from `/proc/self/mountinfo` and
    /// `/proc/self/cgroup`. A hybrid system with v1 controllers mounted counts as v1.
    pub fn detect() -> Result<Cgroups, CgroupError> {
        let backend = match detect::detect_self()? {
            detect::Layout::V1(hierarchies) => {
                Backend::V1(v1::V1Cgroups::new(hierarchies, detect::swap_active()))
            }
            detect::Layout::V2 { mount_point, own } => Backend::V2(v2::V2Cgroups::new(
                mount_point,
                own,
                detect::swap_active(),
                v2::DirOps::KERNEL,
            )),
        };
        Ok(Cgroups { backend })
    }

    /// Uses the cgroup2 hierarchy mounted at `mount_point` with `own` as cellrun's cgroup,
    /// without detection. Tests use it to reach a cgroup2 mount that detection passes over,
    /// such as the one beside the v1 hierarchies of a hybrid system.
    pub fn v2_at(mount_point: PathBuf, own: PathBuf) -> Cgroups {
        let v2 = v2::V2Cgroups::new(mount_point, own, detect::swap_active(), v2::DirOps::KERNEL);
        Cgroups {
            backend: Backend::V2(v2),
        }
    }

    pub fn version(&self) -> Version {
        match self.backend {
            Backend::V1(_) => Version::V1,
            Backend::V2(_) => Version::V2,
        }
    }

    /// Checks that the controllers for `needs` are available and that cellrun may use them,
    /// without creating anything. The error names the controller, the cgroup and the fix.
    pub fn require(&self, needs: &Needs) -> Result<(), CgroupError> {
        match &self.backend {
            Backend::V1(v1) => v1.require(needs),
            Backend::V2(v2) => v2.require(needs),
        }
    }

    /// Creates the cgroup of one run with its limits set, below `cellrun-<pid>`, which is
    /// created at the first call.
    pub fn create_run(
        &self,
        name: &str,
        settings: &RunCgroupSettings,
    ) -> Result<RunCgroup, CgroupError> {
        let inner = match &self.backend {
            Backend::V1(v1) => RunBackend::V1(v1.create_run(name, settings)?),
            Backend::V2(v2) => RunBackend::V2(v2.create_run(name, settings)?),
        };
        Ok(RunCgroup {
            paths: inner.paths(),
            inner,
            removed: false,
        })
    }

    /// Returns the CPUs of cellrun's cgroup (its effective cpuset), or of the machine when
    /// no cpuset is available.
    pub fn available_cpus(&self) -> Vec<usize> {
        let from_cgroup = match &self.backend {
            Backend::V1(v1) => v1.available_cpus(),
            Backend::V2(v2) => v2.available_cpus(),
        };
        from_cgroup.unwrap_or_else(|| online_list("/sys/devices/system/cpu/online"))
    }

    /// Returns the memory nodes of cellrun's cgroup, or of the machine when no cpuset is
    /// available.
    pub fn available_memory_nodes(&self) -> Vec<usize> {
        let from_cgroup = match &self.backend {
            Backend::V1(v1) => v1.available_memory_nodes(),
            Backend::V2(v2) => v2.available_memory_nodes(),
        };
        from_cgroup.unwrap_or_else(|| online_list("/sys/devices/system/node/online"))
    }

    /// Returns the memory limit that applies to cellrun's own cgroup, the smallest over it
    /// and its ancestors; `None` when unlimited or unknown.
    pub fn own_memory_limit(&self) -> Option<u64> {
        match &self.backend {
            Backend::V1(v1) => v1.own_memory_limit(),
            Backend::V2(v2) => v2.own_memory_limit(),
        }
    }

    /// Creates cellrun's own `cellrun-<pid>` cgroup now instead of at the first run.
    ///
    /// On v2 this may move cellrun into a leaf cgroup. That must happen before cellrun starts
    /// long-lived children such as the fork server, because they would stay behind in the
    /// cgroup that then passes controllers on, and the kernel rejects that while it has
    /// processes.
    pub fn prepare(&self) -> Result<(), CgroupError> {
        match &self.backend {
            Backend::V1(v1) => v1.ensure_parent().map(|_| ()),
            Backend::V2(v2) => v2.ensure_parent().map(|_| ()),
        }
    }

    /// Lets the kernel prepare the next move of a process into a cgroup in the background,
    /// while the container is set up. Only v1 needs it: there the move waits for an RCU grace
    /// period unless another move happened shortly before (see
    /// `V1Cgroups::start_attach_grace_period`).
    pub fn prepare_attach(&self) {
        if let Backend::V1(v1) = &self.backend {
            v1.start_attach_grace_period();
        }
    }

    /// Removes the `cellrun-<pid>` cgroups of cellrun processes that no longer run, with
    /// the cgroups below them, after killing the processes left in them. Returns the
    /// removed directories.
    pub fn sweep_stale(&self) -> Result<Vec<PathBuf>, CgroupError> {
        match &self.backend {
            Backend::V1(v1) => {
                sweep::sweep(&v1.parent_containers(), |dir| std::fs::remove_dir(dir))
            }
            Backend::V2(v2) => v2.sweep_stale(),
        }
    }
}

impl Drop for Cgroups {
    fn drop(&mut self) {
        // V2Cgroups undoes its own setup when dropped.
        if let Backend::V1(v1) = &self.backend {
            v1.remove_parent_best_effort();
        }
    }
}

fn online_list(path: &str) -> Vec<usize> {
    match fs::read_cpu_list(std::path::Path::new(path)) {
        Ok(ids) => ids,
        Err(error) => {
            tracing::warn!(%error, "failed to list the machine's CPUs or memory nodes");
            Vec::new()
        }
    }
}

/// The cgroup of one run. Dropping it without [`RunCgroup::remove`] removes it on a best-effort
/// basis and logs a failure.
#[derive(Debug)]
pub struct RunCgroup {
    /// The run's cgroup directories: one per hierarchy on v1, one on v2.
    pub paths: Vec<PathBuf>,
    inner: RunBackend,
    removed: bool,
}

#[derive(Debug)]
enum RunBackend {
    V1(v1::V1Run),
    V2(v2::V2Run),
}

impl RunBackend {
    fn paths(&self) -> Vec<PathBuf> {
        match self {
            RunBackend::V1(run) => run.paths(),
            RunBackend::V2(run) => vec![run.dir().to_path_buf()],
        }
    }
}

impl RunCgroup {
    /// Returns the `cgroup.procs` file of the run's cgroup in every hierarchy. A process joins
    /// the cgroup by writing `0` to each.
    pub fn procs_files(&self) -> Vec<PathBuf> {
        self.paths.iter().map(|path| path.join("cgroup.procs")).collect()
    }

    /// Moves the process `pid` into the run's cgroup; its future children follow it.
    pub fn add_process(&self, pid: i32) -> Result<(), CgroupError> {
        match &self.inner {
            RunBackend::V1(run) => run.add_process(pid),
            RunBackend::V2(run) => run.add_process(pid),
        }
    }

    /// Returns the user plus system CPU time of all processes that were ever in the cgroup.
    pub fn cpu_time(&self) -> Result<Duration, CgroupError> {
        match &self.inner {
            RunBackend::V1(run) => run.cpu_time(),
            RunBackend::V2(run) => run.cpu_time(),
        }
    }

    /// Returns the CPU time per CPU id; v2 does not account it, so the list is empty there.
    pub fn cpu_time_per_cpu(&self) -> Result<Vec<(usize, Duration)>, CgroupError> {
        match &self.inner {
            RunBackend::V1(run) => run.cpu_time_per_cpu(),
            RunBackend::V2(_) => Ok(Vec::new()),
        }
    }

    /// Returns the peak memory use in bytes, including swap where the kernel accounts it;
    /// `None` when the kernel does not record a peak.
    pub fn memory_peak(&self) -> Result<Option<u64>, CgroupError> {
        match &self.inner {
            RunBackend::V1(run) => run.memory_peak(),
            RunBackend::V2(run) => run.memory_peak(),
        }
    }

    /// Returns how many processes of the run the OOM killer killed.
    pub fn oom_kills(&self) -> Result<u64, CgroupError> {
        match &self.inner {
            RunBackend::V1(run) => run.oom_kills(),
            RunBackend::V2(run) => run.oom_kills(),
        }
    }

    /// Kills every process in the cgroup and waits until it is empty, for at most one second.
    pub fn kill_all(&self) -> Result<(), CgroupError> {
        match &self.inner {
            RunBackend::V1(run) => run.kill_all(),
            RunBackend::V2(run) => run.kill_all(),
        }
    }

    /// Kills every process in the cgroup, then removes it in every hierarchy.
    pub fn remove(mut self) -> Result<(), CgroupError> {
        self.removed = true;
        self.remove_now()
    }

    fn remove_now(&self) -> Result<(), CgroupError> {
        match &self.inner {
            RunBackend::V1(run) => run.remove(),
            RunBackend::V2(run) => run.remove(),
        }
    }
}

impl Drop for RunCgroup {
    fn drop(&mut self) {
        if self.removed {
            return;
        }
        if let Err(error) = self.remove_now() {
            tracing::warn!(%error, "failed to remove the cgroup of a run");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn handles_shareable_between_threads() {
        assert_send_sync::<Cgroups>();
        assert_send_sync::<RunCgroup>();
    }

    #[test]
    fn needs_follow_settings() {
        let settings = RunCgroupSettings {
            memory_nodes: Some(vec![0]),
            pids_max: Some(1),
            ..Default::default()
        };
        assert_eq!(
            Needs::of(&settings),
            Needs {
                memory: false,
                cpus: true,
                pids: true
            }
        );
        assert_eq!(Needs::of(&RunCgroupSettings::default()), Needs::default());
    }
}

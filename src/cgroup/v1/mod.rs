//! The cgroup v1 backend: one directory per hierarchy for every cgroup.
//!
//! A run's cgroup is `<own>/cellrun-<pid>/<n>-<name>` in each hierarchy of the controllers
//! memory, cpuacct, cpuset, pids and freezer, where `<own>` is cellrun's cgroup in that
//! hierarchy and may differ between hierarchies.

mod run;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use nix::unistd::{AccessFlags, access};

pub use run::V1Run;

use super::detect::V1Hierarchy;
use super::error::{CgroupError, DELEGATION_FIX};
use super::{Needs, RunCgroupSettings, fs as cgfs, names, parse};

const SWAP_FIX: &str = "boot Linux with `swapaccount=1` so that memory.memsw files exist, \
    or turn swap off with `swapoff -a`";

/// cellrun's place in the v1 hierarchies.
#[derive(Debug)]
pub struct V1Cgroups {
    hierarchies: Vec<V1Hierarchy>,
    swap_active: bool,
    /// Serializes the creation of `cellrun-<pid>` between threads that start runs.
    parent_lock: Mutex<()>,
}

impl V1Cgroups {
    pub fn new(hierarchies: Vec<V1Hierarchy>, swap_active: bool) -> V1Cgroups {
        V1Cgroups {
            hierarchies,
            swap_active,
            parent_lock: Mutex::new(()),
        }
    }

    fn hierarchy(&self, controller: &str) -> Option<&V1Hierarchy> {
        self.hierarchies
            .iter()
            .find(|h| h.controllers.iter().any(|c| c == controller))
    }

    fn own_dir(&self, controller: &'static str) -> Result<&Path, CgroupError> {
        match self.hierarchy(controller) {
            Some(hierarchy) => Ok(&hierarchy.own),
            None => Err(CgroupError::MissingController {
                controller,
                path: PathBuf::from("/proc/self/mountinfo"),
                fix: format!(
                    "mount its hierarchy, for example `mount -t cgroup -o {controller} cgroup /sys/fs/cgroup/{controller}`"
                ),
            }),
        }
    }

    /// Checks that the controllers for `needs` (and cpuacct, which measures every run) are
    /// mounted, that cellrun may create cgroups in them, and that swap cannot escape a
    /// memory limit.
    pub fn require(&self, needs: &Needs) -> Result<(), CgroupError> {
        let mut controllers = vec!["cpuacct"];
        controllers.extend(needs.memory.then_some("memory"));
        controllers.extend(needs.cpus.then_some("cpuset"));
        controllers.extend(needs.pids.then_some("pids"));

        for controller in controllers {
            let own = self.own_dir(controller)?;
            if access(own, AccessFlags::W_OK | AccessFlags::X_OK).is_err() {
                return Err(CgroupError::NotDelegated {
                    path: own.to_path_buf(),
                    fix: DELEGATION_FIX,
                });
            }
        }

        if needs.memory && self.swap_active {
            let own = self.own_dir("memory")?;
            if !own.join("memory.memsw.limit_in_bytes").exists() {
                return Err(CgroupError::SwapNotLimited {
                    path: own.to_path_buf(),
                    fix: SWAP_FIX,
                });
            }
        }
        Ok(())
    }

    /// Creates `cellrun-<pid>` in every hierarchy unless it exists, and gives its cpuset the
    /// CPUs and memory nodes of cellrun's own cpuset, since a new v1 cpuset starts empty and
    /// accepts no process.
    pub(super) fn ensure_parent(&self) -> Result<Vec<(&V1Hierarchy, PathBuf)>, CgroupError> {
        let _guard = self
            .parent_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut parents = Vec::new();
        for hierarchy in &self.hierarchies {
            let dir = hierarchy.own.join(names::parent_name());
            create_dir_if_missing(&dir)?;
            if hierarchy.controllers.iter().any(|c| c == "cpuset") {
                copy_cpuset_if_empty(&hierarchy.own, &dir)?;
            }
            parents.push((hierarchy, dir));
        }
        Ok(parents)
    }

    pub fn create_run(
        &self,
        name: &str,
        settings: &RunCgroupSettings,
    ) -> Result<V1Run, CgroupError> {
        self.require(&Needs::of(settings))?;
        let parents = self.ensure_parent()?;
        let leaf = names::run_cgroup_name(name);

        let mut run = V1Run::default();
        for (hierarchy, parent) in &parents {
            let dir = parent.join(&leaf);
            if let Err(source) = fs::create_dir(&dir) {
                run.remove_dirs_best_effort();
                return Err(CgroupError::Create {
                    path: dir,
                    source,
                    fix: DELEGATION_FIX,
                });
            }
            run.add_dir(&hierarchy.controllers, dir);
        }

        if let Err(error) = configure(&run, settings) {
            run.remove_dirs_best_effort();
            return Err(error);
        }
        Ok(run)
    }

    pub fn available_cpus(&self) -> Option<Vec<usize>> {
        let own = &self.hierarchy("cpuset")?.own;
        read_first_cpu_list(&[own.join("cpuset.effective_cpus"), own.join("cpuset.cpus")])
    }

    pub fn available_memory_nodes(&self) -> Option<Vec<usize>> {
        let own = &self.hierarchy("cpuset")?.own;
        read_first_cpu_list(&[own.join("cpuset.effective_mems"), own.join("cpuset.mems")])
    }

    /// Returns the memory limit of cellrun's cgroup and its ancestors: the kernel's
    /// `hierarchical_memory_limit`, which also covers ancestors outside the mounted part.
    pub fn own_memory_limit(&self) -> Option<u64> {
        let own = &self.hierarchy("memory")?.own;
        let stat = fs::read_to_string(own.join("memory.stat")).ok()?;
        let limit = parse::keyed_value(&stat, "hierarchical_memory_limit")?;
        parse::parse_v1_memory_limit(&limit.to_string()).flatten()
    }

    /// Starts, on a background thread, the RCU grace period that the next move of a process
    /// into a cgroup waits for, so that it overlaps the container setup.
    ///
    /// Every write to a v1 `tasks` or `cgroup.procs` file takes the kernel's global
    /// `cgroup_threadgroup_rwsem` for writing, which waits for a full RCU grace period unless
    /// another writer held it within roughly the last grace period (6-8 ms measured on an idle
    /// 2-core VM with HZ=250, more under load). The thread writes its own id to the `tasks`
    /// file of the cgroup it is already in, which moves nothing but takes the lock. The write
    /// holds the kernel's `cgroup_mutex` while it waits, so creating cgroups meanwhile blocks:
    /// call this after the run's cgroup exists. Failures are ignored: the tool's later move
    /// into its run cgroup is checked on its own and only gets slower without this.
    pub fn start_attach_grace_period(&self) {
        let Some(hierarchy) = self.hierarchies.first() else { return };
        let tasks = hierarchy.own.join("tasks");
        let spawned = std::thread::Builder::new().name("cgroup-warmup".into()).spawn(move || {
            let _ = cgfs::write(&tasks, &nix::unistd::gettid().to_string());
        });
        if let Err(error) = spawned {
            tracing::debug!(%error, "cannot start the thread that starts the cgroup grace period");
        }
    }

    /// Returns the directories that contain `cellrun-<pid>` cgroups, one per hierarchy.
    pub fn parent_containers(&self) -> Vec<PathBuf> {
        self.hierarchies.iter().map(|h| h.own.clone()).collect()
    }

    /// Removes this process's `cellrun-<pid>` cgroups if they are empty.
    pub fn remove_parent_best_effort(&self) {
        let _guard = self
            .parent_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for hierarchy in &self.hierarchies {
            let dir = hierarchy.own.join(names::parent_name());
            if let Err(error) = fs::remove_dir(&dir)
                && error.kind() != io::ErrorKind::NotFound
            {
                tracing::debug!(path = %dir.display(), %error, "cgroup of this cellrun process left in place");
            }
        }
    }
}

/// Writes the limits of a fresh run cgroup; cpuset first because a cpuset without CPUs
/// accepts no process.
fn configure(run: &V1Run, settings: &RunCgroupSettings) -> Result<(), CgroupError> {
    if let Some(dir) = run.dir_of("cpuset") {
        let parent = dir.parent().unwrap_or(dir);
        write_cpuset(dir, parent, "cpuset.cpus", settings.cpus.as_deref())?;
        write_cpuset(dir, parent, "cpuset.mems", settings.memory_nodes.as_deref())?;
    }

    if let (Some(limit), Some(dir)) = (settings.memory_limit, run.dir_of("memory")) {
        // The memsw limit must never be below the memory limit, so the memory limit goes
        // first; equal values leave swap no room beyond the limit.
        cgfs::write(&dir.join("memory.limit_in_bytes"), &limit.to_string())?;
        let memsw = dir.join("memory.memsw.limit_in_bytes");
        if memsw.exists() {
            cgfs::write(&memsw, &limit.to_string())?;
        }
    }

    if let (Some(max), Some(dir)) = (settings.pids_max, run.dir_of("pids")) {
        cgfs::write(&dir.join("pids.max"), &max.to_string())?;
    }
    Ok(())
}

fn create_dir_if_missing(dir: &Path) -> Result<(), CgroupError> {
    match fs::create_dir(dir) {
        Err(error) if error.kind() != io::ErrorKind::AlreadyExists => Err(CgroupError::Create {
            path: dir.to_path_buf(),
            source: error,
            fix: DELEGATION_FIX,
        }),
        _ => Ok(()),
    }
}

fn copy_cpuset_if_empty(from: &Path, to: &Path) -> Result<(), CgroupError> {
    for file in ["cpuset.cpus", "cpuset.mems"] {
        if cgfs::read(&to.join(file))?.trim().is_empty() {
            let value = cgfs::read(&from.join(file))?;
            cgfs::write(&to.join(file), value.trim())?;
        }
    }
    Ok(())
}

/// Writes the requested ids to `file`, or the parent's value when none are requested.
fn write_cpuset(
    dir: &Path,
    parent: &Path,
    file: &str,
    requested: Option<&[usize]>,
) -> Result<(), CgroupError> {
    let value = match requested {
        Some(ids) => parse::format_cpu_list(ids),
        None => cgfs::read(&parent.join(file))?.trim().to_string(),
    };
    cgfs::write(&dir.join(file), &value)
}

fn read_first_cpu_list(candidates: &[PathBuf]) -> Option<Vec<usize>> {
    let path = candidates.iter().find(|path| path.exists())?;
    match cgfs::read_cpu_list(path) {
        Ok(ids) => Some(ids),
        Err(error) => {
            tracing::warn!(%error, "failed to read the cpuset of cellrun's cgroup");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hierarchy(controller: &str, own: &Path) -> V1Hierarchy {
        V1Hierarchy {
            mount_point: own.to_path_buf(),
            controllers: vec![controller.to_string()],
            own: own.to_path_buf(),
        }
    }

    #[test]
    fn require_names_missing_controller() {
        let dir = tempfile::tempdir().unwrap();
        let cgroups = V1Cgroups::new(vec![hierarchy("cpuacct", dir.path())], false);

        let error = cgroups
            .require(&Needs {
                pids: true,
                ..Needs::default()
            })
            .unwrap_err();

        let message = error.to_string();
        assert!(
            matches!(
                error,
                CgroupError::MissingController {
                    controller: "pids",
                    ..
                }
            ),
            "{message}"
        );
        assert!(message.contains("mount -t cgroup -o pids"), "{message}");
        assert!(cgroups.require(&Needs::default()).is_ok());
    }

    #[test]
    fn require_cpuacct_always() {
        let cgroups = V1Cgroups::new(Vec::new(), false);
        let error = cgroups.require(&Needs::default()).unwrap_err();
        assert!(
            matches!(
                error,
                CgroupError::MissingController {
                    controller: "cpuacct",
                    ..
                }
            ),
            "{error}"
        );
    }

    #[test]
    fn require_rejects_memory_limit_swap_can_escape() {
        let cpuacct = tempfile::tempdir().unwrap();
        let memory = tempfile::tempdir().unwrap();
        let hierarchies = vec![
            hierarchy("cpuacct", cpuacct.path()),
            hierarchy("memory", memory.path()),
        ];
        let with_swap = V1Cgroups::new(hierarchies.clone(), true);
        let needs = Needs {
            memory: true,
            ..Needs::default()
        };

        let error = with_swap.require(&needs).unwrap_err();
        assert!(
            matches!(error, CgroupError::SwapNotLimited { .. }),
            "{error}"
        );
        assert!(error.to_string().contains("swapaccount=1"), "{error}");

        std::fs::write(memory.path().join("memory.memsw.limit_in_bytes"), "").unwrap();
        assert!(with_swap.require(&needs).is_ok());
        assert!(
            V1Cgroups::new(hierarchies, false)
                .require(&Needs {
                    memory: true,
                    ..Needs::default()
                })
                .is_ok()
        );
    }
}

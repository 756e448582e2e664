//! The cgroup v2 backend: one unified hierarchy.
//!
//! Runs live in `<own>/cellrun-<pid>/<n>-<name>`, where `<own>` is the cgroup cellrun was
//! started in. The no-internal-process rule allows controllers in a cgroup's
//! `cgroup.subtree_control` only while the cgroup itself contains no process (the root cgroup
//! excepted). So when `<own>` contains processes and lacks the controllers, cellrun moves
//! itself into the leaf `<own>/cellrun-<pid>/cellrun` first, enables the controllers in
//! `<own>` and then in `<own>/cellrun-<pid>`, whose children are that leaf and the runs.

mod run;
mod setup;
#[cfg(test)]
mod tests;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use nix::unistd::{AccessFlags, access};

pub use run::V2Run;

use super::error::{CgroupError, DELEGATION_FIX};
use super::{Needs, RunCgroupSettings, fs as cgfs, names, parse};

/// The controllers cellrun enables for its runs. CPU time comes from `cpu.stat`, which
/// every cgroup has without the cpu controller.
const CONTROLLERS: [&str; 3] = ["cpuset", "memory", "pids"];

const SWAP_FIX: &str = "boot Linux with swap accounting (`swapaccount=1`) so that \
    memory.swap.max exists, or turn swap off with `swapoff -a`";

/// Functions that create and remove cgroup directories: `mkdir(2)` and `rmdir(2)` on a
/// cgroup2 mount. The unit tests substitute functions that also write the control files a
/// kernel would create.
#[derive(Clone, Copy, Debug)]
pub struct DirOps {
    pub create: fn(&Path) -> io::Result<()>,
    pub remove: fn(&Path) -> io::Result<()>,
}

impl DirOps {
    pub const KERNEL: DirOps = DirOps {
        create: |dir| fs::create_dir(dir),
        remove: |dir| fs::remove_dir(dir),
    };
}

/// cellrun's place in the unified hierarchy.
#[derive(Debug)]
pub struct V2Cgroups {
    mount_point: PathBuf,
    own: PathBuf,
    swap_active: bool,
    ops: DirOps,
    /// The `cellrun-<pid>` cgroup once set up, and how to undo the setup.
    parent: Mutex<Option<setup::Parent>>,
}

impl V2Cgroups {
    pub fn new(mount_point: PathBuf, own: PathBuf, swap_active: bool, ops: DirOps) -> V2Cgroups {
        V2Cgroups {
            mount_point,
            own,
            swap_active,
            ops,
            parent: Mutex::new(None),
        }
    }

    /// Returns whether cellrun's cgroup is the root of the whole hierarchy, which is exempt
    /// from the no-internal-process rule. The root of a cgroup namespace looks like the mount
    /// root but is not exempt. Only the real root lacks `cgroup.type`.
    fn is_root(&self) -> bool {
        self.own == self.mount_point && !self.own.join("cgroup.type").exists()
    }

    /// Checks that cellrun may create cgroups in its own cgroup and that the controllers for
    /// `needs` are available there.
    pub fn require(&self, needs: &Needs) -> Result<(), CgroupError> {
        if access(&self.own, AccessFlags::W_OK | AccessFlags::X_OK).is_err() {
            return Err(CgroupError::NotDelegated {
                path: self.own.clone(),
                fix: DELEGATION_FIX,
            });
        }

        let available = self.available_controllers()?;
        let needed = [
            ("memory", needs.memory),
            ("cpuset", needs.cpus),
            ("pids", needs.pids),
        ];
        for (controller, _) in needed.iter().filter(|(_, needed)| *needed) {
            if !available.iter().any(|name| name == controller) {
                return Err(self.missing_controller(controller));
            }
        }

        let swap_max = self.own.join("memory.swap.max");
        if needs.memory && self.swap_active && !self.is_root() && !swap_max.exists() {
            return Err(CgroupError::SwapNotLimited {
                path: self.own.clone(),
                fix: SWAP_FIX,
            });
        }
        Ok(())
    }

    fn available_controllers(&self) -> Result<Vec<String>, CgroupError> {
        let text = cgfs::read(&self.own.join("cgroup.controllers"))?;
        Ok(text.split_whitespace().map(str::to_string).collect())
    }

    fn missing_controller(&self, controller: &'static str) -> CgroupError {
        let fix = if self.is_root() {
            format!(
                "the kernel lacks the {controller} controller, or a cgroup v1 hierarchy uses it"
            )
        } else {
            let parent = self
                .own
                .parent()
                .unwrap_or(&self.mount_point)
                .join("cgroup.subtree_control");
            format!(
                "enable it with `echo +{controller} > {}`, or start cellrun under \
                 `systemd-run --scope -p Delegate=yes cellrun ...`",
                parent.display()
            )
        };
        CgroupError::MissingController {
            controller,
            path: self.own.clone(),
            fix,
        }
    }

    pub fn create_run(
        &self,
        name: &str,
        settings: &RunCgroupSettings,
    ) -> Result<V2Run, CgroupError> {
        self.require(&Needs::of(settings))?;
        let parent = self.ensure_parent()?;
        let dir = parent.join(names::run_cgroup_name(name));
        (self.ops.create)(&dir).map_err(|source| CgroupError::Create {
            path: dir.clone(),
            source,
            fix: DELEGATION_FIX,
        })?;

        let run = V2Run::new(dir, self.ops);
        if let Err(error) = self.configure(run.dir(), settings) {
            if let Err(cleanup) = run.remove() {
                tracing::warn!(error = %cleanup, "failed to remove a run cgroup after its setup failed");
            }
            return Err(error);
        }
        Ok(run)
    }

    /// Writes the limits of a fresh run cgroup. Swap gets 0 so that the memory limit
    /// covers everything the run can use.
    fn configure(&self, dir: &Path, settings: &RunCgroupSettings) -> Result<(), CgroupError> {
        if let Some(cpus) = &settings.cpus {
            cgfs::write(&dir.join("cpuset.cpus"), &parse::format_cpu_list(cpus))?;
        }
        if let Some(nodes) = &settings.memory_nodes {
            cgfs::write(&dir.join("cpuset.mems"), &parse::format_cpu_list(nodes))?;
        }

        if let Some(limit) = settings.memory_limit {
            cgfs::write(&dir.join("memory.max"), &limit.to_string())?;
            let swap_max = dir.join("memory.swap.max");
            if swap_max.exists() {
                cgfs::write(&swap_max, "0")?;
            } else if self.swap_active {
                return Err(CgroupError::SwapNotLimited {
                    path: dir.to_path_buf(),
                    fix: SWAP_FIX,
                });
            }
        }

        if let Some(max) = settings.pids_max {
            cgfs::write(&dir.join("pids.max"), &max.to_string())?;
        }
        Ok(())
    }

    pub fn available_cpus(&self) -> Option<Vec<usize>> {
        self.read_nearest_list("cpuset.cpus.effective")
    }

    pub fn available_memory_nodes(&self) -> Option<Vec<usize>> {
        self.read_nearest_list("cpuset.mems.effective")
    }

    /// Reads `file` from cellrun's cgroup or, where it lacks the cpuset controller, from the
    /// nearest ancestor that has it.
    fn read_nearest_list(&self, file: &str) -> Option<Vec<usize>> {
        let path = self
            .own
            .ancestors()
            .take_while(|dir| dir.starts_with(&self.mount_point))
            .map(|dir| dir.join(file))
            .find(|path| path.exists())?;
        match cgfs::read_cpu_list(&path) {
            Ok(ids) => Some(ids),
            Err(error) => {
                tracing::warn!(%error, "failed to read the cpuset of cellrun's cgroup");
                None
            }
        }
    }

    /// Returns the smallest `memory.max` of cellrun's cgroup and its visible ancestors.
    pub fn own_memory_limit(&self) -> Option<u64> {
        let mut smallest: Option<u64> = None;
        for dir in self
            .own
            .ancestors()
            .take_while(|dir| dir.starts_with(&self.mount_point))
        {
            let Ok(text) = fs::read_to_string(dir.join("memory.max")) else {
                continue;
            };
            if let Some(Some(limit)) = parse::parse_v2_limit(&text) {
                smallest = Some(smallest.map_or(limit, |known| known.min(limit)));
            }
        }
        smallest
    }

    pub fn sweep_stale(&self) -> Result<Vec<PathBuf>, CgroupError> {
        super::sweep::sweep(std::slice::from_ref(&self.own), self.ops.remove)
    }
}

impl Drop for V2Cgroups {
    fn drop(&mut self) {
        self.tear_down_parent();
    }
}

//! One isolated, limited and measured run: the entry point used by `cellrun exec` and by the
//! batch scheduler.
//!
//! `Sandbox::execute` creates the run's cgroup and scratch directory, starts the container
//! helper (see `container::protocol`), watches the limits while storing the output, and
//! removes everything again. It never panics on a failed run: setup failures come back as
//! an outcome with the termination reason `failed`.

mod executor;
mod output;
mod outcome;
pub mod path_text;
mod request;
mod scratch;
mod supervise;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use thiserror::Error;

pub use outcome::{ExitStatus, RunOutcome, SkippedFile, TerminationReason};
pub use output::{shell_quote, HEADER_RULE};
pub use request::RunRequest;

use crate::cgroup::{CgroupError, Cgroups, RunCgroupSettings};

/// A reason why no run can be executed on this machine at all.
#[derive(Debug, Error)]
pub enum SandboxError {
    #[error("cellrun needs root to create containers (effective user id is {uid}); run it as root, for example with sudo")]
    NotRoot { uid: u32 },
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    #[error("cannot locate the cellrun executable to start containers: {0}")]
    Executable(std::io::Error),
    #[error("cannot create the scratch directory {path}: {source}")]
    Scratch { path: PathBuf, source: std::io::Error },
}

/// Everything needed to execute runs: the cgroup hierarchy, the helper executable and the
/// base directory for per-run mount points.
pub struct Sandbox {
    cgroups: Cgroups,
    helper: PathBuf,
    scratch: scratch::ScratchBase,
    next_run: AtomicU64,
}

impl Sandbox {
    /// Checks that containers can be created here and removes what a killed earlier cellrun
    /// left behind.
    pub fn new() -> Result<Sandbox, SandboxError> {
        let uid = nix::unistd::geteuid().as_raw();
        if uid != 0 {
            return Err(SandboxError::NotRoot { uid });
        }
        let cgroups = Cgroups::detect()?;
        match cgroups.sweep_stale() {
            Ok(removed) if !removed.is_empty() => {
                tracing::info!(count = removed.len(), "removed cgroups left by a cellrun that was killed");
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "cannot remove cgroups left by a cellrun that was killed"),
        }
        let helper = std::env::current_exe().map_err(SandboxError::Executable)?;
        let scratch = scratch::ScratchBase::open()?;
        Ok(Sandbox { cgroups, helper, scratch, next_run: AtomicU64::new(0) })
    }

    /// The cgroup hierarchy, for pre-flight checks of the scheduler.
    pub fn cgroups(&self) -> &Cgroups {
        &self.cgroups
    }

    /// Executes one run. `cancel` may be set from another thread to stop it; the run then
    /// ends within a fraction of a second with the termination reason `killed`.
    pub fn execute(&self, request: &RunRequest, cancel: &AtomicBool) -> RunOutcome {
        let started_at = jiff::Timestamp::now();
        let number = self.next_run.fetch_add(1, Ordering::Relaxed);

        let scratch_dir = match self.scratch.create_run_dir(number) {
            Ok(dir) => dir,
            Err(error) => return RunOutcome::failed(started_at, error.to_string()),
        };
        let settings = RunCgroupSettings {
            memory_limit: request.limits.memory.map(|bytes| bytes.0),
            cpus: request.cpus.clone(),
            memory_nodes: request.memory_nodes.clone(),
            pids_max: request.limits.processes,
        };
        let cgroup = match self.cgroups.create_run(&request.run_id, &settings) {
            Ok(cgroup) => cgroup,
            Err(error) => {
                scratch_dir.remove();
                return RunOutcome::failed(started_at, error.to_string());
            }
        };

        let outcome = supervise::run(&self.helper, request, &cgroup, scratch_dir.path(), cancel, started_at);

        if let Err(error) = cgroup.remove() {
            tracing::warn!(run = %request.run_id, %error, "cannot remove the run's cgroup");
        }
        scratch_dir.remove();
        outcome
    }
}

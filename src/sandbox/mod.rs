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

use crate::cgroup::{CgroupError, Cgroups, RunCgroup, RunCgroupSettings};
use crate::container::fork_server::ForkServer;
use crate::container::protocol::IdMap;

/// Tells whether a normal user may create cgroups here, by creating and removing one.
fn probe_delegation(cgroups: &Cgroups) -> Result<(), CgroupError> {
    cgroups.create_run("delegation-probe", &RunCgroupSettings::default())?.remove()
}

fn sweep_stale_cgroups(cgroups: &Cgroups) {
    match cgroups.sweep_stale() {
        Ok(removed) if !removed.is_empty() => {
            tracing::info!(count = removed.len(), "removed cgroups left by a cellrun that was killed");
        }
        Ok(_) => {}
        Err(error) => tracing::warn!(%error, "cannot remove cgroups left by a cellrun that was killed"),
    }
}

/// A reason why no run can be executed on this machine at all.
#[derive(Debug, Error)]
pub enum SandboxError {
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
    /// Forks the helper of each run; `None` when it could not start, and then each run
    /// executes its helper. Declared first so that it ends before `cgroups` is dropped:
    /// it lives in cellrun's own cgroup, which cannot be removed while it has processes.
    fork_server: Option<ForkServer>,
    cgroups: Option<Cgroups>,
    /// The reason runs get no cgroup; only possible for a rootless sandbox.
    cgroup_unavailable: Option<String>,
    rootless: Option<IdMap>,
    helper: PathBuf,
    scratch: scratch::ScratchBase,
    next_run: AtomicU64,
}

impl Sandbox {
    /// Checks that containers can be created here and removes what a killed earlier cellrun
    /// left behind.
    ///
    /// As root, cgroups are required. As a normal user the container gets a user namespace
    /// (rootless mode), and cgroups are used when a delegated cgroup allows it.
    pub fn new() -> Result<Sandbox, SandboxError> {
        let uid = nix::unistd::geteuid().as_raw();
        let rootless = (uid != 0).then(|| IdMap { uid, gid: nix::unistd::getegid().as_raw() });
        let helper = std::env::current_exe().map_err(SandboxError::Executable)?;
        let scratch = scratch::ScratchBase::open(uid)?;

        let (cgroups, cgroup_unavailable) = match (Cgroups::detect(), rootless) {
            (Ok(cgroups), None) => (Some(cgroups), None),
            (Err(error), None) => return Err(error.into()),
            (Ok(cgroups), Some(_)) => match probe_delegation(&cgroups) {
                Ok(()) => (Some(cgroups), None),
                Err(error) => (None, Some(error.to_string())),
            },
            (Err(error), Some(_)) => (None, Some(error.to_string())),
        };
        if let Some(cgroups) = &cgroups {
            sweep_stale_cgroups(cgroups);
            // A failure here shows again, with its fix, when the first run creates its cgroup.
            if let Err(error) = cgroups.prepare() {
                tracing::debug!(%error, "cannot prepare cellrun's own cgroup before the first run");
            }
        }
        // Started from the thread that creates the sandbox: the fork server ends with that
        // thread (parent-death signal), and the sandbox's runs end with the fork server.
        let fork_server = match ForkServer::start(&helper) {
            Ok(server) => Some(server),
            Err(error) => {
                tracing::warn!(%error, "cannot start the fork server, each run executes its container helper");
                None
            }
        };
        Ok(Sandbox { cgroups, cgroup_unavailable, rootless, helper, scratch, fork_server, next_run: AtomicU64::new(0) })
    }

    /// Returns the cgroup hierarchy, for pre-flight checks of the scheduler; `None` for a
    /// rootless sandbox without a delegated cgroup.
    pub fn cgroups(&self) -> Option<&Cgroups> {
        self.cgroups.as_ref()
    }

    /// Checks that the sandbox can enforce every limit of `request`, or that the request
    /// accepts unenforced limits; the error names the limits and both fixes.
    pub fn check_enforceable(&self, request: &RunRequest) -> Result<(), String> {
        let Some(reason) = &self.cgroup_unavailable else { return Ok(()) };
        let limits = request.limits_needing_cgroup();
        if limits.is_empty() || request.allow_unenforced_limits {
            return Ok(());
        }
        Err(format!(
            "cannot enforce the {} limit{} without a cgroup ({reason}); run cellrun in a cgroup \
             delegated to this user, for example with `systemd-run --user --scope -p Delegate=yes`, \
             or accept unenforced limits explicitly (`cellrun exec --allow-unenforced-limits`, \
             job file: `unenforced_limits: accept`)",
            limits.join(", "),
            if limits.len() == 1 { "" } else { "s" },
        ))
    }

    /// Executes one run. `cancel` may be set from another thread to stop it; the run then
    /// ends within a fraction of a second with the termination reason `killed`.
    pub fn execute(&self, request: &RunRequest, cancel: &AtomicBool) -> RunOutcome {
        let started_at = jiff::Timestamp::now();
        let number = self.next_run.fetch_add(1, Ordering::Relaxed);
        if let Err(message) = self.check_enforceable(request) {
            return RunOutcome::failed(started_at, message);
        }

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
        let cgroup = match self.cgroups.as_ref().map(|cgroups| cgroups.create_run(&request.run_id, &settings)) {
            Some(Ok(cgroup)) => {
                // After the cgroup exists: the grace period holds the kernel's cgroup lock,
                // which creating a cgroup needs too.
                self.cgroups.as_ref().inspect(|cgroups| cgroups.prepare_attach());
                Some(cgroup)
            }
            Some(Err(error)) => {
                scratch_dir.remove();
                return RunOutcome::failed(started_at, error.to_string());
            }
            None => None,
        };

        let context = supervise::Context {
            helper: &self.helper,
            scratch: scratch_dir.path(),
            rootless: self.rootless,
            fork_server: self.fork_server.as_ref(),
        };
        let outcome = supervise::run(&context, request, cgroup.as_ref(), cancel, started_at);

        if let Some(Err(error)) = cgroup.map(RunCgroup::remove) {
            tracing::warn!(run = %request.run_id, %error, "cannot remove the run's cgroup");
        }
        scratch_dir.remove();
        outcome
    }
}

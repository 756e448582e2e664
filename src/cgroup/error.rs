//! Errors of the cgroup module: each names the file, the value and the fix.

use std::io;
use std::path::PathBuf;

use thiserror::Error;

/// The fix printed when cellrun lacks the right to manage cgroups below its own.
pub const DELEGATION_FIX: &str = "run cellrun as root, or start it under \
    `systemd-run --user --scope -p Delegate=yes cellrun ...` so that it may manage its own cgroups";

/// A cgroup operation that failed, with the file and the fix.
#[derive(Debug, Error)]
pub enum CgroupError {
    #[error("failed to read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },

    #[error("failed to write `{value}` to {path}: {source}")]
    Write {
        path: PathBuf,
        value: String,
        source: io::Error,
    },

    #[error("failed to create cgroup {path}: {source}; {fix}")]
    Create {
        path: PathBuf,
        source: io::Error,
        fix: &'static str,
    },

    #[error("failed to remove cgroup {path}: {source}")]
    Remove { path: PathBuf, source: io::Error },

    #[error("unexpected content in {path}: {content:?} (expected {expected})")]
    Parse {
        path: PathBuf,
        content: String,
        expected: &'static str,
    },

    #[error(
        "no usable cgroup hierarchy is mounted: mount cgroup2 at /sys/fs/cgroup, \
         or the v1 controllers memory, cpuacct, cpuset, pids and freezer below it"
    )]
    NoHierarchy,

    #[error(
        "the cgroup {path} of cellrun is not visible below the mount point {mount_point} \
         (mounted from {mount_root}); run cellrun in a cgroup namespace of its own or \
         mount the whole hierarchy"
    )]
    NotVisible {
        path: String,
        mount_point: PathBuf,
        mount_root: String,
    },

    #[error("the {controller} controller is not available in {path}: {fix}")]
    MissingController {
        controller: &'static str,
        path: PathBuf,
        fix: String,
    },

    #[error("failed to enable the controllers {controllers} in {path}: {source}; {fix}")]
    Delegation {
        path: PathBuf,
        controllers: String,
        source: io::Error,
        fix: String,
    },

    #[error(
        "swap is active but the memory limit of {path} cannot include swap, so a run could \
         exceed its limit by swapping; {fix}"
    )]
    SwapNotLimited { path: PathBuf, fix: &'static str },

    #[error("processes {pids:?} still run in {path} after SIGKILL and {waited_ms} ms of waiting")]
    NotEmpty {
        path: PathBuf,
        pids: Vec<i32>,
        waited_ms: u128,
    },

    #[error("cellrun may not create cgroups in {path}: {fix}")]
    NotDelegated { path: PathBuf, fix: &'static str },
}

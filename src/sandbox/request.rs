//! The request for one run: command, limits, directory modes and output paths.

use std::ffi::OsString;
use std::path::PathBuf;

use crate::container::dirmode::DirModes;
use crate::limits::Limits;

/// One command to run in a container, with its limits and where its output goes.
#[derive(Clone, Debug)]
pub struct RunRequest {
    /// Name used in messages and as part of the cgroup name.
    pub run_id: String,
    /// The command and its arguments; the program is looked up in the container's `PATH`.
    pub command: Vec<OsString>,
    /// The whole environment of the tool.
    pub env: Vec<(OsString, OsString)>,
    /// Working directory inside the container, absolute.
    pub workdir: PathBuf,
    /// File for the tool's standard input; `/dev/null` when `None`.
    pub stdin: Option<PathBuf>,
    pub limits: Limits,
    pub dirs: DirModes,
    /// Whether the run may use the host's network; otherwise it has only loopback.
    pub network: bool,
    /// Glob patterns of result files, relative to `workdir` or absolute.
    pub result_patterns: Vec<String>,
    /// Directory that result files are copied to; nothing is collected when `None`.
    pub result_dir: Option<PathBuf>,
    /// File for the tool's standard output and error, after a header naming the command.
    pub log_path: PathBuf,
    /// CPUs the run may use; all CPUs of cellrun's own cpuset when `None`.
    pub cpus: Option<Vec<usize>>,
    /// Memory nodes the run may use; all of cellrun's when `None`.
    pub memory_nodes: Option<Vec<usize>>,
    /// Whether the run may go ahead when cellrun has no cgroup to enforce its memory,
    /// CPU-time, core or process limits (rootless without a delegated cgroup). Those limits
    /// are then neither enforced nor, except CPU time, measured.
    pub allow_unenforced_limits: bool,
}

impl RunRequest {
    /// Returns the limits of this request that only a cgroup can enforce.
    pub fn limits_needing_cgroup(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        if self.limits.memory.is_some() {
            names.push("memory");
        }
        if self.limits.cputime.is_some() || self.limits.soft_cputime.is_some() {
            names.push("cputime");
        }
        if self.cpus.is_some() || self.memory_nodes.is_some() {
            names.push("cores");
        }
        if self.limits.processes.is_some() {
            names.push("processes");
        }
        names
    }
}

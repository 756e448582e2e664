//! `meta.json`: what produced the results, so that they can be compared and reproduced.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::atomic;
use super::error::ResultsError;

/// The contents of `meta.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    pub cellrun_version: String,
    pub job_name: String,
    /// The job file as given, made absolute.
    pub job_file: PathBuf,
    /// `blake3:` and the hex BLAKE3 hash of the job file's bytes.
    pub job_hash: String,
    pub host: Host,
    pub tools: Vec<ToolVersion>,
    /// RFC 3339 time when the first session of this batch started.
    pub started_at: String,
    /// RFC 3339 time when the last session ended; `null` while a session runs or after a
    /// crash.
    pub ended_at: Option<String>,
    /// Each invocation of `cellrun run` on this directory: the first one and every resume.
    pub sessions: Vec<Session>,
}

/// The machine the runs ran on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Host {
    /// The `model name` of the first CPU in `/proc/cpuinfo`.
    pub cpu_model: Option<String>,
    /// Number of online CPUs of the machine.
    pub cpus_online: usize,
    /// The CPUs cellrun may use, from its cgroup's cpuset.
    pub cpus_usable: Vec<usize>,
    /// `MemTotal` of `/proc/meminfo`, in bytes.
    pub memory_bytes: Option<u64>,
    /// Memory cellrun may give to runs, in bytes: the machine's or its cgroup's limit.
    pub memory_usable_bytes: u64,
    /// The kernel release, as `uname -r` prints it.
    pub kernel: Option<String>,
    /// `v1` or `v2`; `null` when it could not be detected.
    pub cgroup_version: Option<String>,
}

/// A tool's version as its version command printed it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolVersion {
    pub name: String,
    pub command: Option<Vec<String>>,
    /// The command's output, trimmed, with undecodable bytes escaped as `\xNN`.
    pub version: Option<String>,
    /// The reason no version was recorded although a command was given.
    pub error: Option<String>,
}

/// One invocation of `cellrun run` on the result directory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub started_at: String,
    pub ended_at: Option<String>,
    pub job_hash: String,
    pub parallel: usize,
    /// Whether the session ended by Ctrl+C or SIGTERM.
    pub interrupted: bool,
}

/// Computes the job hash recorded in `meta.json` for the job file bytes `job`.
pub fn job_hash(job: &[u8]) -> String {
    format!("blake3:{}", blake3::hash(job).to_hex())
}

/// Reads `meta.json` at `path`.
pub fn read(path: &Path) -> Result<Meta, ResultsError> {
    let bytes = std::fs::read(path).map_err(|source| ResultsError::Read { path: path.to_path_buf(), source })?;
    serde_json::from_slice(&bytes).map_err(|error| ResultsError::InvalidMeta { path: path.to_path_buf(), message: error.to_string() })
}

/// Writes `meta` to `path` atomically.
pub fn write(path: &Path, meta: &Meta) -> Result<(), ResultsError> {
    let mut text = serde_json::to_vec_pretty(meta).expect("meta data always serializes");
    text.push(b'\n');
    atomic::write(path, &text)
}

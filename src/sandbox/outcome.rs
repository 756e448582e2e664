//! The result of one run: how it ended and the resources it used.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The way the tool's main process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitStatus {
    /// It exited with this code.
    Exited(i32),
    /// A signal with this number ended it.
    Signaled(i32),
}

/// The reason cellrun stopped a run. Absent when the tool ended by itself.
///
/// The names are `runexec`'s `terminationreason` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TerminationReason {
    /// The hard CPU-time limit was reached.
    #[serde(rename = "cputime")]
    CpuTime,
    /// The soft CPU-time limit was reached and the tool ended after SIGTERM.
    #[serde(rename = "cputime-soft")]
    CpuTimeSoft,
    /// The wall-time limit was reached.
    #[serde(rename = "walltime")]
    WallTime,
    /// The kernel killed a process of the run because the memory limit was reached.
    #[serde(rename = "memory")]
    Memory,
    /// cellrun was asked to stop, for example by Ctrl+C.
    #[serde(rename = "killed")]
    Killed,
    /// The container could not be set up or the command could not be started.
    #[serde(rename = "failed")]
    Failed,
}

impl TerminationReason {
    /// Returns the `runexec` name of the reason.
    pub fn name(self) -> &'static str {
        match self {
            TerminationReason::CpuTime => "cputime",
            TerminationReason::CpuTimeSoft => "cputime-soft",
            TerminationReason::WallTime => "walltime",
            TerminationReason::Memory => "memory",
            TerminationReason::Killed => "killed",
            TerminationReason::Failed => "failed",
        }
    }
}

impl fmt::Display for TerminationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Everything measured and collected for one run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunOutcome {
    /// When the tool was started, or when setup began for a run that never started.
    pub started_at: jiff::Timestamp,
    /// The main process's end; `None` when it never started.
    pub exit: Option<ExitStatus>,
    /// The reason cellrun stopped the run, if it did.
    pub termination: Option<TerminationReason>,
    /// The error message of a run whose termination reason is `failed`.
    pub failure: Option<String>,
    /// CPU time of every process of the run, user and system.
    pub cputime: Duration,
    /// CPU time per CPU number, where the kernel reports it.
    pub cputime_per_cpu: Vec<(usize, Duration)>,
    /// Wall time from the tool's start to the end of its last process.
    pub walltime: Duration,
    /// Peak memory of the run's cgroup in bytes, including its writable layers.
    pub memory_peak: Option<u64>,
    /// Whether the stored output was cut to the output limit.
    pub output_truncated: bool,
    /// Result files copied out, relative to the result directory.
    #[serde(serialize_with = "super::path_text::serialize_paths", deserialize_with = "super::path_text::deserialize_paths")]
    pub result_files: Vec<PathBuf>,
    /// Files that matched a result pattern but were not copied, with the reason.
    pub skipped_files: Vec<SkippedFile>,
}

/// A file that matched a result pattern and was not copied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedFile {
    #[serde(serialize_with = "super::path_text::serialize_path")]
    pub path: PathBuf,
    pub reason: String,
}

impl RunOutcome {
    /// Builds the outcome of a run that could not be set up or started.
    pub fn failed(started_at: jiff::Timestamp, message: String) -> RunOutcome {
        RunOutcome {
            started_at,
            exit: None,
            termination: Some(TerminationReason::Failed),
            failure: Some(message),
            cputime: Duration::ZERO,
            cputime_per_cpu: Vec::new(),
            walltime: Duration::ZERO,
            memory_peak: None,
            output_truncated: false,
            result_files: Vec::new(),
            skipped_files: Vec::new(),
        }
    }
}

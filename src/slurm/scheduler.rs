//! What cellrun needs from a cluster scheduler: submit an array job, ask about its tasks,
//! cancel it. [`super::SlurmCommands`] implements it with the SLURM commands.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::error::SlurmError;

/// The id of a submitted array job, as `sbatch --parsable` printed it (without a cluster).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(pub String);

impl fmt::Display for JobId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

/// An array job to submit: one task per shard index in `tasks`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Submission {
    pub script: PathBuf,
    pub job_name: String,
    /// The array task ids, which are the shard indices.
    pub tasks: Vec<usize>,
    /// At most this many tasks at once (`--array=...%K`).
    pub max_concurrent: Option<usize>,
    pub partition: Option<String>,
    /// The standard output and error of each task; `%A` and `%a` are SLURM's placeholders.
    pub output_pattern: PathBuf,
    /// The working directory of each task.
    pub workdir: PathBuf,
    /// Further `sbatch` arguments, passed on unchanged before the script.
    pub extra_args: Vec<String>,
}

/// The scheduler's report on one array task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TaskState {
    Pending,
    Running,
    /// The task ended; the state name the scheduler gave, such as `COMPLETED` or `TIMEOUT`.
    Ended(String),
}

/// A batch scheduler that runs array jobs.
pub trait Scheduler {
    /// Submits `submission` and returns its job id.
    fn submit(&self, submission: &Submission) -> Result<JobId, SlurmError>;

    /// The state of each task of `job` that the scheduler still knows; a task it forgot
    /// (long ended, or never known) is missing from the map.
    fn task_states(&self, job: &JobId) -> Result<BTreeMap<usize, TaskState>, SlurmError>;

    /// Cancels the tasks of `job` that have not ended.
    fn cancel(&self, job: &JobId) -> Result<(), SlurmError>;

    /// Returns the final state of a task that [`Scheduler::task_states`] no longer lists,
    /// from the scheduler's accounting where it keeps one.
    fn accounted_state(&self, _job: &JobId, _task: usize) -> Option<String> {
        None
    }
}

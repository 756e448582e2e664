//! Running a job file on a SLURM cluster: shards, a batch script, an array job, a merge.
//!
//! The submitting cellrun splits the runs of a job into shards. Run `i` goes to shard
//! `i mod N`, so the same job file always gives the same shards. It writes a batch script and
//! a campaign file into a shared directory and submits one array job. Each array task runs
//! `cellrun run --shard I/N`, which is an ordinary batch over the runs of its shard with the
//! same containers, cgroups and measurements as a local batch. It writes a normal result
//! directory under `shards/I/` and a status file under `status/I.json`.
//!
//! The files in the shared directory are the record of what happened. SLURM is asked only
//! whether a task is still pending or running; a task that is gone without a final status
//! file was lost (node failure, `scancel`, time limit) and is submitted again with
//! `--resume`. When every shard has ended, the shard journals are merged into one result
//! directory at the top of the shared directory.

mod allocation;
mod campaign;
mod commands;
mod error;
mod merge;
mod scheduler;
mod script;
mod shard;
mod status;
mod submit;
mod watch;

pub use allocation::{AllocatedExecutor, allocated_resources};
pub use campaign::{Campaign, CampaignDir, SubmissionRecord};
pub use commands::SlurmCommands;
pub use error::SlurmError;
pub use merge::{MergeReport, merge};
pub use scheduler::{JobId, Scheduler, Submission, TaskState};
pub use script::batch_script;
pub use shard::ShardSpec;
pub use status::{ShardState, ShardStatus};
pub use submit::{DEFAULT_MAX_ATTEMPTS, NewCampaign, create, submit_shards};
pub use merge::{keep_matching, load_plan};
pub use watch::{Overview, ShardProgress, ShardView, WatchEnd, WatchOptions, overview, watch};

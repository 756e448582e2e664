//! Errors of a SLURM campaign, each naming the file, command or value and what to do.

use std::io;
use std::path::PathBuf;

use thiserror::Error;

use crate::results::ResultsError;

/// A failure to submit, watch or merge a campaign.
#[derive(Debug, Error)]
pub enum SlurmError {
    #[error("invalid --shard `{value}`: expected I/N with 0 <= I < N, for example `--shard 2/8`")]
    InvalidShard { value: String },
    #[error("--shards must be at least 1")]
    ZeroShards,
    #[error("cannot start `{command}`: {source}; run cellrun on a machine with the SLURM commands (a login node) or put them on PATH")]
    CommandMissing { command: String, source: io::Error },
    #[error("`{command}` failed with {status}: {stderr}")]
    CommandFailed { command: String, status: String, stderr: String },
    #[error("`{command}` printed `{output}`, which is not a job id")]
    UnexpectedOutput { command: String, output: String },
    #[error("--slurm needs --output SHARED_DIR: a directory on a file system that every node of the cluster sees")]
    OutputMissing,
    #[error("{path} already holds a SLURM campaign; follow it with `cellrun status {path} --wait`, or choose another --output")]
    CampaignExists { path: PathBuf },
    #[error("{path} is not empty; choose a new or empty directory for --output")]
    OutputNotEmpty { path: PathBuf },
    #[error("{path} is not a SLURM campaign of cellrun: {missing} is missing")]
    NotACampaign { path: PathBuf, missing: &'static str },
    #[error("invalid {path}: {message}")]
    InvalidFile { path: PathBuf, message: String },
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("cannot find the cellrun binary to name in the batch script: {source}")]
    Binary { source: io::Error },
    #[error("the job file {path} of the campaign is invalid now: {message}")]
    Job { path: PathBuf, message: String },
    #[error(
        "the job file {path} changed since the campaign was submitted (job hash {current}, was {recorded}); \
         restore it, or start a new campaign with another --output"
    )]
    JobChanged { path: PathBuf, recorded: String, current: String },
    #[error(
        "another cellrun (process {pid}) follows the campaign in {path}; wait for it or stop it first, \
         because two followers would submit the same lost shard twice"
    )]
    AlreadyFollowed { path: PathBuf, pid: String },
    #[error("cannot handle Ctrl+C and SIGTERM: {0}")]
    Signals(io::Error),
    #[error(transparent)]
    Filter(#[from] crate::schedule::ScheduleError),
    #[error(transparent)]
    Results(#[from] ResultsError),
}

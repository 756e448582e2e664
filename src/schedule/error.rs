//! Errors that stop a batch before or while it runs.

use std::path::PathBuf;

use thiserror::Error;

use crate::results::ResultsError;
use crate::units::Bytes;

/// A reason the slots of a batch cannot be set up.
#[derive(Debug, Error)]
pub enum ScheduleError {
    #[error("--parallel must be at least 1")]
    ZeroParallel,
    #[error(
        "{slots} parallel runs with {cores} core(s) each need {needed} CPU(s), but cellrun may use {available} CPU(s) \
         in {physical} physical core(s), and hyperthreads of one core never go to two runs \
         (a run without a `cores` limit gets one core); \
         run with `--parallel {fit}` or lower `cores` in the job file"
    )]
    TooManyCores { slots: usize, cores: usize, needed: usize, available: usize, physical: usize, fit: usize },
    #[error(
        "{slots} parallel runs with a memory limit of {memory} need {needed}, but cellrun may use {available}; \
         run with `--parallel {fit}` or lower `memory` in the job file"
    )]
    TooMuchMemory { slots: usize, memory: Bytes, needed: Bytes, available: Bytes, fit: usize },
    #[error("a run needs {cores} cores, but cellrun may use only {available} CPUs; lower `cores` in the job file")]
    RunTooLarge { cores: usize, available: usize },
    #[error("a run has a memory limit of {memory}, but cellrun may use only {available}; lower `memory` in the job file")]
    RunMemoryTooLarge { memory: Bytes, available: Bytes },
    #[error("invalid --filter pattern `{pattern}`: {message}")]
    InvalidFilter { pattern: String, message: String },
    #[error("--filter `{pattern}` matches none of the {total} run ids of the job")]
    FilterMatchesNothing { pattern: String, total: usize },
}

/// A failure that stops a batch before or during its runs.
#[derive(Debug, Error)]
pub enum BatchError {
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
    /// The result directory could not be created or opened.
    #[error(transparent)]
    Setup(ResultsError),
    /// Writing the result directory failed while runs were going on.
    #[error("{source}; the batch stopped, its finished runs are in {dir}")]
    Write { dir: PathBuf, source: ResultsError },
    #[error("cannot start slot thread: {0}")]
    Thread(std::io::Error),
}

//! Errors of the result directory, each with the path and what to do.

use std::io;
use std::path::PathBuf;

use thiserror::Error;

/// A failure to create, read or write the result directory.
#[derive(Debug, Error)]
pub enum ResultsError {
    #[error("cannot create the result directory {path}: {source}; choose another --output")]
    CreateDir { path: PathBuf, source: io::Error },
    #[error("the result directory {path} already holds a batch; continue it with `--resume {path}` or choose another --output")]
    AlreadyUsed { path: PathBuf },
    #[error("{path} is not a result directory of cellrun: {missing} is missing")]
    NotABatch { path: PathBuf, missing: &'static str },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("line {line} of the journal {path} is not a run record ({message}) and complete records follow it; remove that line to resume")]
    CorruptJournal { path: PathBuf, line: usize, message: String },
    #[error("invalid {path}: {message}")]
    InvalidMeta { path: PathBuf, message: String },
    #[error(
        "the job file differs from the one the batch in {dir} started with ({job_file}, job hash {recorded}; \
         now {current}); start a new batch with another --output, or pass --force-resume to keep the finished runs anyway"
    )]
    JobChanged { dir: PathBuf, job_file: PathBuf, recorded: String, current: String },
    #[error("cannot write the summary {path}: {source}")]
    Csv { path: PathBuf, source: csv::Error },
}

//! The result directory of one batch and the files in it.
//!
//! ```text
//! DIR/summary.csv         one row per run
//! DIR/runs.jsonl          the journal
//! DIR/logs/<run id>.log   the tool's output
//! DIR/files/<run id>/     the run's result files
//! DIR/job.yaml            a copy of the job file
//! DIR/meta.json           versions, host, job hash, times
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::error::ResultsError;
use super::journal::{self, Journal};
use super::meta::{self, Meta};
use super::paths;
use super::record::RunRecord;
use crate::sandbox::TerminationReason;

pub const SUMMARY: &str = "summary.csv";
pub const JOURNAL: &str = "runs.jsonl";
pub const META: &str = "meta.json";
pub const JOB_COPY: &str = "job.yaml";

/// An open result directory.
#[derive(Debug)]
pub struct ResultDir {
    root: PathBuf,
    journal: Journal,
    meta: Meta,
}

/// The contents of an existing result directory, read without changing it.
#[derive(Debug)]
pub struct Inspection {
    pub meta: Meta,
    /// Whether the job file's hash differs from the recorded one.
    pub job_changed: bool,
    pub finished: Vec<RunRecord>,
    pub interrupted: Vec<String>,
    pub torn_line: Option<usize>,
}

/// A result directory opened to continue a batch, with the runs it already holds.
#[derive(Debug)]
pub struct Resumed {
    pub dir: ResultDir,
    /// The finished runs kept from earlier sessions, one per run id.
    pub finished: Vec<RunRecord>,
    /// Run ids whose earlier attempt was interrupted and which must run again.
    pub interrupted: Vec<String>,
    /// The line number of a torn last journal line that was dropped.
    pub torn_line: Option<usize>,
}

impl ResultDir {
    /// Creates a result directory at `root`, which must not exist or be empty.
    pub fn create(root: &Path, job: &[u8], meta: Meta) -> Result<ResultDir, ResultsError> {
        let create_error = |source| ResultsError::CreateDir { path: root.to_path_buf(), source };
        let is_used = std::fs::read_dir(root).map(|mut entries| entries.next().is_some()).unwrap_or(false);
        if is_used {
            return Err(ResultsError::AlreadyUsed { path: root.to_path_buf() });
        }
        for sub in ["", "logs", "files"] {
            std::fs::create_dir_all(root.join(sub)).map_err(create_error)?;
        }

        super::atomic::write(&root.join(JOB_COPY), job)?;
        meta::write(&root.join(META), &meta)?;
        let journal = Journal::open(&root.join(JOURNAL))?;

        super::summary::write_summary(&root.join(SUMMARY), std::iter::empty())?;
        Ok(ResultDir { root: root.to_path_buf(), journal, meta })
    }

    /// Opens the result directory at `root` to continue its batch with the job file bytes
    /// `job`.
    ///
    /// Refuses when the job file changed since, unless `force`. Keeps the last record of each
    /// finished run, drops interrupted ones and a torn last line, and rewrites the journal to
    /// what it kept.
    pub fn resume(root: &Path, job: &[u8], force: bool) -> Result<Resumed, ResultsError> {
        let inspection = ResultDir::inspect(root, job, force)?;
        let mut meta = inspection.meta;
        if inspection.job_changed {
            meta.job_hash = meta::job_hash(job);
            super::atomic::write(&root.join(JOB_COPY), job)?;
            meta::write(&root.join(META), &meta)?;
        }
        journal::rewrite(&root.join(JOURNAL), &inspection.finished)?;

        let journal = Journal::open(&root.join(JOURNAL))?;
        let dir = ResultDir { root: root.to_path_buf(), journal, meta };
        Ok(Resumed { dir, finished: inspection.finished, interrupted: inspection.interrupted, torn_line: inspection.torn_line })
    }

    /// Reads what [`ResultDir::resume`] would keep, without writing anything.
    pub fn inspect(root: &Path, job: &[u8], force: bool) -> Result<Inspection, ResultsError> {
        for (name, missing) in [(JOURNAL, "runs.jsonl"), (META, "meta.json")] {
            if !root.join(name).is_file() {
                return Err(ResultsError::NotABatch { path: root.to_path_buf(), missing });
            }
        }
        let meta = meta::read(&root.join(META))?;

        let current = meta::job_hash(job);
        let job_changed = current != meta.job_hash;
        if job_changed && !force {
            return Err(ResultsError::JobChanged {
                dir: root.to_path_buf(),
                job_file: meta.job_file.clone(),
                recorded: meta.job_hash.clone(),
                current,
            });
        }

        let contents = journal::read(&root.join(JOURNAL))?;
        let (finished, interrupted) = split_finished(contents.records);
        Ok(Inspection { meta, job_changed, finished, interrupted, torn_line: contents.torn_line })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// Replaces `meta.json` with `meta`.
    pub fn write_meta(&mut self, meta: Meta) -> Result<(), ResultsError> {
        meta::write(&self.root.join(META), &meta)?;
        self.meta = meta;
        Ok(())
    }

    /// Creates the parent directory of a run's log and its result-file directory, and returns
    /// both paths, absolute.
    pub fn prepare_run(&self, run_id: &str) -> Result<(PathBuf, PathBuf), ResultsError> {
        let log = self.root.join(paths::log_path(run_id));
        let files = self.root.join(paths::files_dir(run_id));
        let parent = log.parent().expect("a log path has a parent");

        for dir in [parent, files.as_path()] {
            std::fs::create_dir_all(dir).map_err(|source| ResultsError::Write { path: dir.to_path_buf(), source })?;
        }
        Ok((log, files))
    }
}

/// Splits journal records into the last finished record per run id, in journal order, and
/// the ids whose last record is an interrupted attempt.
fn split_finished(records: Vec<RunRecord>) -> (Vec<RunRecord>, Vec<String>) {
    let killed = TerminationReason::Killed.name();
    let mut last: HashMap<String, usize> = HashMap::new();
    for (index, record) in records.iter().enumerate() {
        last.insert(record.run_id.clone(), index);
    }

    let mut finished = Vec::new();
    let mut interrupted = Vec::new();
    for (index, record) in records.into_iter().enumerate() {
        if last[&record.run_id] != index {
            continue;
        }
        if record.termination_reason.as_deref() == Some(killed) {
            interrupted.push(record.run_id);
        } else {
            finished.push(record);
        }
    }
    (finished, interrupted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::meta::{Host, Meta};
    use crate::results::record::tests::sample;

    pub(crate) fn meta(job: &[u8]) -> Meta {
        Meta {
            cellrun_version: "0".into(),
            job_name: "job".into(),
            job_file: "/job.yaml".into(),
            job_hash: meta::job_hash(job),
            host: Host {
                cpu_model: None,
                cpus_online: 1,
                cpus_usable: vec![0],
                memory_bytes: None,
                memory_usable_bytes: 0,
                kernel: None,
                cgroup_version: None,
            },
            tools: Vec::new(),
            started_at: "2026-12-04T20:00:00Z".into(),
            ended_at: None,
            sessions: Vec::new(),
        }
    }

    #[test]
    fn create_lays_out_directory() {
        let temp = tempfile::tempdir().unwrap();
        let root = temp.path().join("out");
        ResultDir::create(&root, b"runs: []\n", meta(b"runs: []\n")).unwrap();
        for name in [SUMMARY, JOURNAL, META, JOB_COPY, "logs", "files"] {
            assert!(root.join(name).exists(), "{name} missing");
        }
        assert_eq!(std::fs::read(root.join(JOB_COPY)).unwrap(), b"runs: []\n");
    }

    #[test]
    fn create_rejects_used_directory() {
        let temp = tempfile::tempdir().unwrap();
        std::fs::write(temp.path().join("x"), b"").unwrap();
        let error = ResultDir::create(temp.path(), b"", meta(b"")).unwrap_err();
        assert!(matches!(error, ResultsError::AlreadyUsed { .. }), "{error}");
    }

    #[test]
    fn resume_rejects_changed_job() {
        let temp = tempfile::tempdir().unwrap();
        ResultDir::create(temp.path(), b"a", meta(b"a")).unwrap();
        let error = ResultDir::resume(temp.path(), b"b", false).unwrap_err();
        assert!(error.to_string().contains("--force-resume"), "{error}");
        assert!(ResultDir::resume(temp.path(), b"b", true).is_ok());
    }

    #[test]
    fn resume_drops_interrupted_and_duplicates() {
        let mut interrupted = sample("b");
        interrupted.termination_reason = Some("killed".into());
        let mut first = sample("a");
        first.status = "old".into();
        let records = vec![first, interrupted, sample("a"), sample("c")];

        let (finished, interrupted) = split_finished(records);
        let ids: Vec<_> = finished.iter().map(|record| (record.run_id.as_str(), record.status.as_str())).collect();
        assert_eq!(ids, [("a", "done"), ("c", "done")]);
        assert_eq!(interrupted, ["b"]);
    }

    #[test]
    fn prepare_run_creates_nested_dirs() {
        let temp = tempfile::tempdir().unwrap();
        let dir = ResultDir::create(temp.path(), b"", meta(b"")).unwrap();
        let (log, files) = dir.prepare_run("tool/set/../../x").unwrap();
        assert!(log.starts_with(temp.path().join("logs")));
        assert!(files.is_dir());
        assert!(files.starts_with(temp.path().join("files")));
    }
}

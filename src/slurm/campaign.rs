//! The shared directory of a SLURM campaign and `slurm.json`, its campaign file.
//!
//! ```text
//! SHARED/slurm.json            the job, the shard count, the sbatch options, every submission
//! SHARED/cellrun.sbatch        the batch script each array task runs
//! SHARED/job.yaml              a copy of the job file
//! SHARED/shards/<i>/           the result directory of shard i
//! SHARED/status/<i>.json       the status file of shard i, written by the shard
//! SHARED/slurm-logs/<job>_<i>.out   standard output and error of each array task
//! SHARED/follow.lock           locked by the cellrun that follows the campaign
//! SHARED/summary.csv, runs.jsonl, meta.json, logs/, files/   the merged results
//! ```

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use serde::{Deserialize, Serialize};

use super::error::SlurmError;
use super::scheduler::JobId;
use crate::results::{META, atomic};

pub const CAMPAIGN_FILE: &str = "slurm.json";
pub const SCRIPT_FILE: &str = "cellrun.sbatch";
pub const FOLLOW_LOCK: &str = "follow.lock";

/// The paths inside a campaign's shared directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CampaignDir {
    root: PathBuf,
}

impl CampaignDir {
    pub fn new(root: &Path) -> CampaignDir {
        CampaignDir { root: root.to_path_buf() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn campaign_file(&self) -> PathBuf {
        self.root.join(CAMPAIGN_FILE)
    }

    pub fn script(&self) -> PathBuf {
        self.root.join(SCRIPT_FILE)
    }

    pub fn shard_dir(&self, shard: usize) -> PathBuf {
        self.root.join("shards").join(shard.to_string())
    }

    pub fn status_file(&self, shard: usize) -> PathBuf {
        self.root.join("status").join(format!("{shard}.json"))
    }

    pub fn slurm_logs(&self) -> PathBuf {
        self.root.join("slurm-logs")
    }

    /// Returns whether shard `shard` has a result directory to resume.
    pub fn shard_started(&self, shard: usize) -> bool {
        self.shard_dir(shard).join(META).is_file()
    }

    /// Locks the campaign for this process as its only follower, until the returned lock
    /// is dropped. The lock is an exclusive `flock`, which the kernel releases when the
    /// process ends, however it ends.
    pub fn lock_follower(&self) -> Result<Flock<File>, SlurmError> {
        let path = self.root.join(FOLLOW_LOCK);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|source| SlurmError::Write { path: path.clone(), source })?;
        let mut lock = Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(|(mut file, _)| {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            SlurmError::AlreadyFollowed { path: self.root.clone(), pid: pid.trim().to_string() }
        })?;

        let write_pid = |file: &mut File| {
            file.set_len(0)?;
            file.seek(SeekFrom::Start(0))?;
            writeln!(file, "{}", std::process::id())
        };
        write_pid(&mut lock).map_err(|source| SlurmError::Write { path, source })?;
        Ok(lock)
    }

    /// Creates the subdirectories of a new campaign.
    pub fn create_layout(&self) -> Result<(), SlurmError> {
        for dir in [self.root.join("shards"), self.root.join("status"), self.slurm_logs(), self.root.join("logs"), self.root.join("files")] {
            std::fs::create_dir_all(&dir).map_err(|source| SlurmError::Write { path: dir, source })?;
        }
        Ok(())
    }
}

/// The contents of `slurm.json`: what was submitted, and how to submit a shard again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Campaign {
    /// The job file, absolute; it must stay where it is until the campaign ends.
    pub job_file: PathBuf,
    /// The job hash when the campaign was submitted, as in `meta.json`.
    pub job_hash: String,
    pub job_name: String,
    pub shards: usize,
    /// The cellrun binary the batch script runs, absolute.
    pub cellrun: PathBuf,
    pub partition: Option<String>,
    pub max_concurrent: Option<usize>,
    /// The `sbatch` arguments of every submission, cellrun's resource requests included.
    pub sbatch_args: Vec<String>,
    /// The `--filter` pattern of the submission; the shards divide the runs it selects.
    #[serde(default)]
    pub filter: Option<String>,
    /// Submissions of one shard beyond which a lost shard is no longer submitted again.
    pub max_attempts: usize,
    /// Every `sbatch` of the campaign, in order.
    pub submissions: Vec<SubmissionRecord>,
}

/// One `sbatch` of the campaign.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SubmissionRecord {
    pub job_id: JobId,
    /// The shard indices, which are the array task ids.
    pub shards: Vec<usize>,
    /// RFC 3339.
    pub submitted_at: String,
}

impl Campaign {
    /// Reads `slurm.json` of the campaign in `dir`.
    pub fn read(dir: &CampaignDir) -> Result<Campaign, SlurmError> {
        let path = dir.campaign_file();
        let bytes = std::fs::read(&path).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => SlurmError::NotACampaign { path: dir.root().to_path_buf(), missing: CAMPAIGN_FILE },
            _ => SlurmError::Read { path: path.clone(), source },
        })?;
        serde_json::from_slice(&bytes).map_err(|error| SlurmError::InvalidFile { path, message: error.to_string() })
    }

    /// Replaces `slurm.json` atomically.
    pub fn write(&self, dir: &CampaignDir) -> Result<(), SlurmError> {
        let mut text = serde_json::to_vec_pretty(self).expect("a campaign always serializes");
        text.push(b'\n');
        Ok(atomic::write(&dir.campaign_file(), &text)?)
    }

    /// Counts the submissions of `shard`.
    pub fn attempts(&self, shard: usize) -> usize {
        self.submissions.iter().filter(|submission| submission.shards.contains(&shard)).count()
    }

    /// Returns the job id of the latest submission of `shard`.
    pub fn latest_job(&self, shard: usize) -> Option<&JobId> {
        self.submissions.iter().rev().find(|submission| submission.shards.contains(&shard)).map(|submission| &submission.job_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_follower_rejected() {
        let root = tempfile::tempdir().unwrap();
        let dir = CampaignDir::new(root.path());
        let first = dir.lock_follower().unwrap();

        let error = dir.lock_follower().unwrap_err();
        let message = error.to_string();
        assert!(message.contains(&format!("process {}", std::process::id())), "{message}");

        drop(first);
        assert!(dir.lock_follower().is_ok());
    }
}

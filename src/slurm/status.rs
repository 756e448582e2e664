//! `status/<i>.json`: what shard `i` says about itself.
//!
//! The shard writes the file atomically when it starts (`running`) and when it ends. A
//! shard killed with SIGKILL or lost with its node leaves `running` behind; together with
//! SLURM no longer listing the task, that marks the shard as lost.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::error::SlurmError;
use crate::results::atomic;

/// The state of a shard's last attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ShardState {
    /// The attempt is running, or it died without a word.
    Running,
    /// Every run of the shard has a record.
    Finished,
    /// Stopped by SIGTERM or Ctrl+C (`scancel`, a time limit); the finished runs are kept.
    Interrupted,
    /// The batch could not start or its result directory could not be written.
    Failed,
}

/// The contents of a status file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShardStatus {
    pub shard: usize,
    pub state: ShardState,
    /// The exit status of `cellrun run` once the attempt ended.
    pub exit_code: Option<i32>,
    /// The node of the latest attempt.
    pub node: String,
    /// Every node the shard ran on, in order of first use.
    pub nodes: Vec<String>,
    /// `SLURM_ARRAY_JOB_ID` of the latest attempt, when it ran under SLURM.
    pub slurm_job_id: Option<String>,
    /// RFC 3339 times of the latest attempt.
    pub started_at: String,
    pub ended_at: Option<String>,
    /// The reason the attempt failed, when it did.
    pub message: Option<String>,
}

impl ShardStatus {
    /// Reads the status file at `path`; `None` when there is none yet.
    pub fn read(path: &Path) -> Result<Option<ShardStatus>, SlurmError> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(SlurmError::Read { path: path.to_path_buf(), source }),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|error| SlurmError::InvalidFile { path: path.to_path_buf(), message: error.to_string() })
    }

    /// Replaces the status file at `path` atomically.
    pub fn write(&self, path: &Path) -> Result<(), SlurmError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| SlurmError::Write { path: parent.to_path_buf(), source })?;
        }
        let mut text = serde_json::to_vec_pretty(self).expect("a shard status always serializes");
        text.push(b'\n');
        Ok(atomic::write(path, &text)?)
    }

    /// The status of an attempt of `shard` starting now on this node, keeping the nodes of
    /// `previous` attempts.
    pub fn starting(shard: usize, previous: Option<ShardStatus>) -> ShardStatus {
        let node = node_name();
        let mut nodes = previous.map(|status| status.nodes).unwrap_or_default();
        if !nodes.contains(&node) {
            nodes.push(node.clone());
        }
        ShardStatus {
            shard,
            state: ShardState::Running,
            exit_code: None,
            node,
            nodes,
            slurm_job_id: std::env::var("SLURM_ARRAY_JOB_ID").ok(),
            started_at: jiff::Timestamp::now().to_string(),
            ended_at: None,
            message: None,
        }
    }

    /// Marks the attempt as ended with `exit_code`.
    pub fn end(&mut self, state: ShardState, exit_code: i32, message: Option<String>) {
        self.state = state;
        self.exit_code = Some(exit_code);
        self.ended_at = Some(jiff::Timestamp::now().to_string());
        self.message = message;
    }
}

/// The SLURM node name (`SLURMD_NODENAME`), else the host name.
fn node_name() -> String {
    std::env::var("SLURMD_NODENAME")
        .ok()
        .filter(|name| !name.is_empty())
        .or_else(|| nix::unistd::gethostname().ok().map(|name| name.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "unknown".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("status/3.json");
        assert_eq!(ShardStatus::read(&path).unwrap(), None);

        let mut status = ShardStatus::starting(3, None);
        status.end(ShardState::Interrupted, 130, None);
        status.write(&path).unwrap();
        assert_eq!(ShardStatus::read(&path).unwrap(), Some(status.clone()));

        let again = ShardStatus::starting(3, Some(status));
        assert_eq!(again.nodes.len(), 1);
        assert_eq!(again.state, ShardState::Running);
    }
}

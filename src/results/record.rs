//! One finished run as stored in the journal (`runs.jsonl`) and in `summary.csv`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::verdict::Category;

/// The stored result of one run: one line of `runs.jsonl`, one row of `summary.csv`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub run_id: String,
    pub tool: String,
    pub config: String,
    pub task_set: String,
    pub task: String,
    /// What happened: the tool's answer (`sat`, `true`, `false(unreach-call)`), `done` for a
    /// plain command that succeeded, or a status such as `timeout` or `out of memory`.
    pub status: String,
    pub category: Category,
    pub expected: Option<String>,
    pub exit_code: Option<i32>,
    pub exit_signal: Option<i32>,
    /// `runexec`'s termination reason, when cellrun stopped the run.
    pub termination_reason: Option<String>,
    pub cputime_s: f64,
    pub walltime_s: f64,
    pub memory_bytes: Option<u64>,
    /// The CPU numbers the run was pinned to, for example `0,1`.
    pub cores: String,
    /// RFC 3339 time of the tool's start.
    pub started_at: String,
    /// The log file, relative to the result directory.
    pub log: String,
    /// Number of result files collected.
    pub files: usize,
    /// The reason the run failed to start, when it did.
    pub failure: Option<String>,
    /// Whether the stored output was cut to the output limit.
    pub output_truncated: bool,
    /// Extra values extracted from the output by the tool's `columns:` rules.
    pub columns: BTreeMap<String, String>,
    /// Remarks that fit no column, such as result files that matched a pattern but were not
    /// copied. Stored in the journal only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds a finished run with plain values, for tests of the journal and the summary.
    pub(crate) fn sample(run_id: &str) -> RunRecord {
        RunRecord {
            run_id: run_id.to_string(),
            tool: "tool".to_string(),
            config: String::new(),
            task_set: "set".to_string(),
            task: "task.cnf".to_string(),
            status: "done".to_string(),
            category: Category::Missing,
            expected: None,
            exit_code: Some(0),
            exit_signal: None,
            termination_reason: None,
            cputime_s: 0.25,
            walltime_s: 0.5,
            memory_bytes: Some(1024),
            cores: "0".to_string(),
            started_at: "2026-12-04T20:00:00Z".to_string(),
            log: format!("logs/{run_id}.log"),
            files: 0,
            failure: None,
            output_truncated: false,
            columns: BTreeMap::new(),
            notes: Vec::new(),
        }
    }
}

//! Judging a finished run: its status and category from how it ended.
//!
//! This version reads only the exit status and the termination reason; answers from
//! `verdict:` rules are not extracted, so a successful run is `done` with category `missing`.

use std::collections::BTreeMap;

use super::{Category, VerdictRules};
use crate::sandbox::{ExitStatus, RunOutcome, TerminationReason};

/// The status, category, answer and extra columns of one run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Judgement {
    pub status: String,
    pub category: Category,
    pub answer: Option<String>,
    pub columns: BTreeMap<String, String>,
}

/// Judges `outcome`; `rules`, `output` and `expected` are not consulted by this version.
pub fn judge(_rules: Option<&VerdictRules>, outcome: &RunOutcome, _output: &[u8], _expected: Option<&str>) -> Judgement {
    let (status, category) = match (outcome.termination, outcome.exit) {
        (Some(TerminationReason::CpuTime | TerminationReason::CpuTimeSoft | TerminationReason::WallTime), _) => {
            ("timeout".to_string(), Category::Error)
        }
        (Some(TerminationReason::Memory), _) => ("out of memory".to_string(), Category::Error),
        (Some(TerminationReason::Failed), _) => ("failed".to_string(), Category::Error),
        (Some(TerminationReason::Killed), _) => ("interrupted".to_string(), Category::Error),
        (None, Some(ExitStatus::Exited(0))) => ("done".to_string(), Category::Missing),
        (None, Some(ExitStatus::Exited(code))) => (format!("error (exit code {code})"), Category::Error),
        (None, Some(ExitStatus::Signaled(signal))) => (format!("signal {signal}"), Category::Error),
        (None, None) => ("failed".to_string(), Category::Error),
    };
    Judgement { status, category, answer: None, columns: BTreeMap::new() }
}

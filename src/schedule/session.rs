//! The sessions of a batch in `meta.json`: the first one writes the host and tool facts,
//! each one records its start, end and whether it was interrupted.

use super::batch::BatchOptions;
use super::interrupt::Interrupt;
use super::Resources;
use crate::plan::Plan;
use crate::results::meta::{self, Meta, Session};
use crate::results::{ResultDir, ResultsError, probe};

/// Gathers the facts of a new batch for `meta.json`.
pub fn first_meta(
    plan: &Plan,
    job: &[u8],
    resources: &Resources,
    options: &BatchOptions,
    start: jiff::Timestamp,
    interrupt: &Interrupt,
) -> Meta {
    Meta {
        cellrun_version: env!("CARGO_PKG_VERSION").to_string(),
        job_name: plan.name.clone(),
        job_file: plan.job_file.clone(),
        job_hash: meta::job_hash(job),
        host: probe::host(&resources.cpus, resources.memory_bytes, options.cgroup_version.clone()),
        tools: probe::tool_versions(&plan.tools, &plan.job_dir, interrupt.flag()),
        started_at: start.to_string(),
        ended_at: None,
        sessions: Vec::new(),
    }
}

pub fn start_session(dir: &mut ResultDir, parallel: usize, start: jiff::Timestamp) -> Result<(), ResultsError> {
    let mut meta = dir.meta().clone();
    meta.ended_at = None;
    meta.sessions.push(Session {
        started_at: start.to_string(),
        ended_at: None,
        job_hash: meta.job_hash.clone(),
        parallel,
        interrupted: false,
    });
    dir.write_meta(meta)
}

pub fn end_session(dir: &mut ResultDir, interrupted: bool) -> Result<(), ResultsError> {
    let now = jiff::Timestamp::now().to_string();
    let mut meta = dir.meta().clone();
    meta.ended_at = Some(now.clone());
    if let Some(session) = meta.sessions.last_mut() {
        session.ended_at = Some(now);
        session.interrupted = interrupted;
    }
    dir.write_meta(meta)
}

//! `cellrun merge`: the shard result directories combined into one at the top of the
//! shared directory, as a local batch of the whole job would have written it.
//!
//! `runs.jsonl` and `summary.csv` get one record per run that has one in its shard, in plan
//! order, with the column rules of a local batch. `meta.json` is the first shard's, with
//! the times and sessions of all shards, the list of nodes, and per shard its host, nodes
//! and sessions. Logs and result files are hard links to the shards' files (a copy where
//! the file system refuses a link), at the same relative paths, so the `log` column is
//! valid from the top directory too. Nothing in the output depends on when the merge ran,
//! so merging again without new shard results gives byte-identical files.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::campaign::{Campaign, CampaignDir};
use super::error::SlurmError;
use super::scheduler::JobId;
use super::shard::ShardSpec;
use super::status::{ShardState, ShardStatus};
use crate::plan::Plan;
use crate::results::meta::{self, Host, Meta, Session};
use crate::results::{JOURNAL, META, RunRecord, SUMMARY, atomic, journal, paths, summary};
use crate::schedule::RunFilter;

/// The result of a merge.
#[derive(Debug)]
pub struct MergeReport {
    pub root: PathBuf,
    /// The merged records, in plan order.
    pub records: Vec<RunRecord>,
    /// Runs of the job without a record in any shard.
    pub missing: usize,
}

/// The merged `meta.json`: the fields of a local one, then the nodes and the shards.
#[derive(Serialize)]
struct MergedMeta {
    #[serde(flatten)]
    base: Option<Meta>,
    /// Every node a shard ran on, sorted.
    nodes: Vec<String>,
    slurm: SlurmMeta,
}

#[derive(Serialize)]
struct SlurmMeta {
    shards: usize,
    job_ids: Vec<JobId>,
    shard_details: Vec<ShardMeta>,
}

#[derive(Serialize)]
struct ShardMeta {
    shard: usize,
    state: Option<ShardState>,
    attempts: usize,
    nodes: Vec<String>,
    /// Runs of the shard with a record, and runs the shard has.
    runs_done: usize,
    runs: usize,
    host: Option<Host>,
    sessions: Vec<Session>,
}

/// One shard as read from its directory.
struct ShardRead {
    status: Option<ShardStatus>,
    meta: Option<Meta>,
    records: Vec<RunRecord>,
}

/// Merges the shards of the campaign in `root` into its top directory.
pub fn merge(root: &Path) -> Result<MergeReport, SlurmError> {
    let dir = CampaignDir::new(root);
    let campaign = Campaign::read(&dir)?;
    let plan = load_plan(&campaign)?;
    let shards: Vec<ShardRead> = (0..campaign.shards).map(|shard| read_shard(&dir, shard)).collect::<Result<_, _>>()?;

    let mut by_id: HashMap<&str, (usize, &RunRecord)> = HashMap::new();
    for (shard, read) in shards.iter().enumerate() {
        for record in &read.records {
            by_id.insert(record.run_id.as_str(), (shard, record));
        }
    }
    let run_dirs: HashSet<PathBuf> = plan.runs.iter().map(|run| paths::files_dir(&run.id)).collect();
    let mut records = Vec::new();
    for run in &plan.runs {
        if let Some(&(shard, record)) = by_id.get(run.id.as_str()) {
            link_run_files(&dir.shard_dir(shard), root, record)?;
            remove_stale_files(&dir.shard_dir(shard), root, record, &run_dirs)?;
            records.push(record.clone());
        }
    }

    journal::rewrite(&root.join(JOURNAL), &records)?;
    summary::write_summary(&root.join(SUMMARY), records.iter())?;
    write_meta(root, &campaign, &plan, &shards)?;

    let missing = plan.runs.len() - records.len();
    Ok(MergeReport { root: root.to_path_buf(), records, missing })
}

/// Loads the campaign's job file, which must be unchanged since the submission, with the
/// runs its `--filter` selects.
pub fn load_plan(campaign: &Campaign) -> Result<Plan, SlurmError> {
    let path = &campaign.job_file;
    let bytes = std::fs::read(path).map_err(|source| SlurmError::Read { path: path.clone(), source })?;
    let current = meta::job_hash(&bytes);
    if current != campaign.job_hash {
        return Err(SlurmError::JobChanged { path: path.clone(), recorded: campaign.job_hash.clone(), current });
    }
    let mut plan = crate::plan::load(path).map_err(|errors| SlurmError::Job { path: path.clone(), message: errors.to_string() })?;
    if let Some(pattern) = &campaign.filter {
        keep_matching(&mut plan, pattern)?;
    }
    Ok(plan)
}

/// Keeps the runs of `plan` whose id matches the `--filter` `pattern`.
pub fn keep_matching(plan: &mut Plan, pattern: &str) -> Result<(), SlurmError> {
    let filter = RunFilter::new(pattern)?;
    plan.runs.retain(|run| filter.matches(&run.id));
    Ok(())
}

fn read_shard(dir: &CampaignDir, shard: usize) -> Result<ShardRead, SlurmError> {
    let status = ShardStatus::read(&dir.status_file(shard))?;
    let shard_dir = dir.shard_dir(shard);
    let meta = match shard_dir.join(META).is_file() {
        true => Some(meta::read(&shard_dir.join(META))?),
        false => None,
    };
    let records = match shard_dir.join(JOURNAL).is_file() {
        true => last_records(journal::read(&shard_dir.join(JOURNAL))?.records),
        false => Vec::new(),
    };
    Ok(ShardRead { status, meta, records })
}

/// Keeps the last record of each run id, in the order the ids first appear.
fn last_records(records: Vec<RunRecord>) -> Vec<RunRecord> {
    let mut position: HashMap<String, usize> = HashMap::new();
    let mut kept: Vec<RunRecord> = Vec::new();
    for record in records {
        match position.get(&record.run_id) {
            Some(&index) => kept[index] = record,
            None => {
                position.insert(record.run_id.clone(), kept.len());
                kept.push(record);
            }
        }
    }
    kept
}

/// Links the log and the result files of `record` from `shard_dir` into `root`.
fn link_run_files(shard_dir: &Path, root: &Path, record: &RunRecord) -> Result<(), SlurmError> {
    let log = paths::log_path(&record.run_id);
    if shard_dir.join(&log).is_file() {
        link(&shard_dir.join(&log), &root.join(&log))?;
    }

    let files = paths::files_dir(&record.run_id);
    let source_dir = shard_dir.join(&files);
    if !source_dir.is_dir() {
        return Ok(());
    }
    for entry in walkdir::WalkDir::new(&source_dir).sort_by_file_name() {
        let entry = entry.map_err(|error| SlurmError::Read {
            path: error.path().unwrap_or(&source_dir).to_path_buf(),
            source: error.into_io_error().unwrap_or_else(|| std::io::Error::other("file system loop")),
        })?;
        if entry.file_type().is_dir() {
            continue;
        }
        let relative = entry.path().strip_prefix(shard_dir).expect("walked below the shard directory");
        link(entry.path(), &root.join(relative))?;
    }
    Ok(())
}

/// Removes files below the run's `files/<run id>/` in `root` that its shard no longer has,
/// such as result files of an interrupted attempt that the shard removed when it continued.
/// Directories of other runs below it (`a/b` below `a`) are left alone.
fn remove_stale_files(shard_dir: &Path, root: &Path, record: &RunRecord, run_dirs: &HashSet<PathBuf>) -> Result<(), SlurmError> {
    let own = paths::files_dir(&record.run_id);
    let merged_dir = root.join(&own);
    if !merged_dir.is_dir() {
        return Ok(());
    }
    let other_run = |path: &Path| {
        let relative = path.strip_prefix(root).expect("walked below the root");
        relative != own && run_dirs.contains(relative)
    };
    let walk = walkdir::WalkDir::new(&merged_dir).into_iter().filter_entry(|entry| !other_run(entry.path()));
    for entry in walk.flatten() {
        if entry.file_type().is_dir() {
            continue;
        }
        let relative = entry.path().strip_prefix(root).expect("walked below the root");
        if std::fs::symlink_metadata(shard_dir.join(relative)).is_err() {
            std::fs::remove_file(entry.path()).map_err(|source| SlurmError::Write { path: entry.path().to_path_buf(), source })?;
        }
    }
    Ok(())
}

/// Makes `target` the same file as `source`: a hard link, or a copy where linking fails.
/// A target that already is that file, or a copy of it, stays untouched.
fn link(source: &Path, target: &Path) -> Result<(), SlurmError> {
    let read_error = |source_error| SlurmError::Read { path: source.to_path_buf(), source: source_error };
    let write_error = |path: &Path| {
        let path = path.to_path_buf();
        move |error| SlurmError::Write { path, source: error }
    };
    let source_meta = std::fs::symlink_metadata(source).map_err(read_error)?;
    if let Ok(target_meta) = std::fs::symlink_metadata(target) {
        let same_file = target_meta.dev() == source_meta.dev() && target_meta.ino() == source_meta.ino();
        if same_file || same_contents(source, target) {
            return Ok(());
        }
    }

    let parent = target.parent().expect("a target below the root has a parent");
    std::fs::create_dir_all(parent).map_err(write_error(parent))?;
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(target.file_name().expect("a target names a file"));
    temp_name.push(".link");
    let temp = target.with_file_name(temp_name);
    let _ = std::fs::remove_file(&temp);

    if std::fs::hard_link(source, &temp).is_err() {
        std::fs::copy(source, &temp).map_err(write_error(&temp))?;
    }
    std::fs::rename(&temp, target).map_err(write_error(target))
}

fn same_contents(first: &Path, second: &Path) -> bool {
    match (std::fs::read(first), std::fs::read(second)) {
        (Ok(first), Ok(second)) => first == second,
        _ => false,
    }
}

fn write_meta(root: &Path, campaign: &Campaign, plan: &Plan, shards: &[ShardRead]) -> Result<(), SlurmError> {
    let details: Vec<ShardMeta> = shards
        .iter()
        .enumerate()
        .map(|(shard, read)| ShardMeta {
            shard,
            state: read.status.as_ref().map(|status| status.state),
            attempts: campaign.attempts(shard),
            nodes: read.status.as_ref().map(|status| status.nodes.clone()).unwrap_or_default(),
            runs_done: read.records.len(),
            runs: ShardSpec { index: shard, count: campaign.shards }.size(plan.runs.len()),
            host: read.meta.as_ref().map(|meta| meta.host.clone()),
            sessions: read.meta.as_ref().map(|meta| meta.sessions.clone()).unwrap_or_default(),
        })
        .collect();
    let nodes: BTreeSet<String> = details.iter().flat_map(|detail| detail.nodes.iter().cloned()).collect();
    let job_ids = campaign.submissions.iter().map(|submission| submission.job_id.clone()).collect();

    let merged = MergedMeta {
        base: base_meta(shards),
        nodes: nodes.into_iter().collect(),
        slurm: SlurmMeta { shards: campaign.shards, job_ids, shard_details: details },
    };
    let mut text = serde_json::to_vec_pretty(&merged).expect("the merged meta data always serializes");
    text.push(b'\n');
    Ok(atomic::write(&root.join(META), &text)?)
}

/// Builds the merged meta data from the first shard's, with the earliest start, the latest
/// end (once every shard has ended) and the sessions of all shards in order of their start.
fn base_meta(shards: &[ShardRead]) -> Option<Meta> {
    let metas: Vec<&Meta> = shards.iter().filter_map(|read| read.meta.as_ref()).collect();
    let mut base = (*metas.first()?).clone();
    let time = |text: &str| text.parse::<jiff::Timestamp>().ok();

    base.started_at = metas.iter().map(|meta| meta.started_at.clone()).min_by_key(|text| time(text)).unwrap_or_default();
    let all_ended = metas.len() == shards.len() && metas.iter().all(|meta| meta.ended_at.is_some());
    base.ended_at = match all_ended {
        true => metas.iter().filter_map(|meta| meta.ended_at.clone()).max_by_key(|text| time(text)),
        false => None,
    };
    base.sessions = metas.iter().flat_map(|meta| meta.sessions.iter().cloned()).collect();
    base.sessions.sort_by_key(|session| time(&session.started_at));
    Some(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(run_id: &str) -> RunRecord {
        let json = format!(
            r#"{{"run_id":"{run_id}","tool":"t","config":"","task_set":"s","task":"x","status":"done","category":"missing","expected":null,"exit_code":0,"exit_signal":null,"termination_reason":null,"cputime_s":0.1,"walltime_s":0.2,"memory_bytes":null,"cores":"0","started_at":"2026-12-04T20:00:00Z","log":"logs/{run_id}.log","files":0,"failure":null,"output_truncated":false,"columns":{{}}}}"#
        );
        serde_json::from_str(&json).unwrap()
    }

    #[test]
    fn later_record_of_run_wins() {
        let mut first = sample("a");
        first.status = "interrupted".into();
        let kept = last_records(vec![first, sample("b"), sample("a")]);
        let ids: Vec<(&str, &str)> = kept.iter().map(|record| (record.run_id.as_str(), record.status.as_str())).collect();
        assert_eq!(ids, [("a", "done"), ("b", "done")]);
    }

    #[test]
    fn link_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("shard/logs/a.log");
        std::fs::create_dir_all(source.parent().unwrap()).unwrap();
        std::fs::write(&source, b"output").unwrap();
        let target = dir.path().join("logs/a.log");

        link(&source, &target).unwrap();
        let first = std::fs::metadata(&target).unwrap().ino();
        link(&source, &target).unwrap();
        assert_eq!(std::fs::metadata(&target).unwrap().ino(), first);
        assert_eq!(std::fs::read(&target).unwrap(), b"output");
    }

    #[test]
    fn stale_result_files_removed() {
        let root = tempfile::tempdir().unwrap();
        let shard = root.path().join("shards/0");
        let write = |path: &Path| {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, b"x").unwrap();
        };
        write(&shard.join("files/a/kept"));
        write(&root.path().join("files/a/kept"));
        write(&root.path().join("files/a/old/stale"));
        write(&root.path().join("files/a/b/of-run-a-b"));
        let run_dirs: HashSet<PathBuf> = ["a", "a/b"].iter().map(|id| paths::files_dir(id)).collect();

        remove_stale_files(&shard, root.path(), &sample("a"), &run_dirs).unwrap();
        assert!(root.path().join("files/a/kept").exists());
        assert!(!root.path().join("files/a/old/stale").exists());
        assert!(root.path().join("files/a/b/of-run-a-b").exists());
    }

    #[test]
    fn link_replaces_outdated_target() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("new.log");
        let target = dir.path().join("merged.log");
        std::fs::write(&source, b"second attempt").unwrap();
        std::fs::write(&target, b"first attempt").unwrap();
        link(&source, &target).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"second attempt");
    }
}

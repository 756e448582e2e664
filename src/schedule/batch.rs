//! A whole batch: select the runs, check the slots, open the result directory, run, finish.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::dispatch::run_slots;
use super::error::{BatchError, ScheduleError};
use super::filter::RunFilter;
use super::interrupt::{INTERRUPTED_EXIT, Interrupt};
use super::preflight::{SlotPlan, plan_slots};
use super::topology::Topology;
use super::session::{end_session, first_meta, start_session};
use super::{Executor, Resources};
use crate::plan::{Plan, PlannedRun};
use crate::report::progress::{Progress, ProgressMode};
use crate::results::summary::SummaryWriter;
use crate::results::{ResultDir, RunRecord, SUMMARY, paths};
use crate::verdict::Category;

/// The settings of a batch taken from the command line.
#[derive(Clone, Debug)]
pub struct BatchOptions {
    /// The result directory of a new batch; `results/<job name>.<time>` when `None`.
    pub output: Option<PathBuf>,
    /// The result directory of a batch to continue.
    pub resume: Option<PathBuf>,
    /// Continue even though the job file changed since the batch started.
    pub force_resume: bool,
    /// Runs at once; the job's `parallel` or as many as fit when `None`.
    pub parallel: Option<usize>,
    pub filter: Option<RunFilter>,
    pub progress: ProgressMode,
    /// `v1` or `v2`, for `meta.json`.
    pub cgroup_version: Option<String>,
}

/// The end state of a batch.
#[derive(Debug)]
pub struct BatchEnd {
    pub root: PathBuf,
    /// One record per finished run, in plan order, including runs of earlier sessions.
    pub records: Vec<RunRecord>,
    /// Runs executed in this session.
    pub ran: usize,
    /// Runs selected for this session that never started.
    pub not_started: usize,
    pub interrupted: bool,
    /// Wall time of this session.
    pub wall: Duration,
    pub slots: SlotPlan,
    /// A torn last journal line dropped when resuming.
    pub torn_line: Option<usize>,
}

impl BatchEnd {
    /// Returns 130 when interrupted, 1 when a run could not start or its category is in
    /// `fail_on`, else 0.
    ///
    /// A run that could not be started (termination reason `failed`) also gives 1, whatever
    /// `fail_on` says: a container that cannot be set up is a problem of the machine or the
    /// job file that the user must see.
    pub fn exit_code(&self, fail_on: &[Category]) -> i32 {
        let failed_to_start = self.records.iter().any(|record| record.termination_reason.as_deref() == Some("failed"));
        if self.interrupted {
            INTERRUPTED_EXIT
        } else if failed_to_start || self.records.iter().any(|record| fail_on.contains(&record.category)) {
            1
        } else {
            0
        }
    }
}

/// The plan that `--dry-run` prints: the runs that would start and the slots they would use.
#[derive(Debug)]
pub struct DryRun<'a> {
    pub pending: Vec<&'a PlannedRun>,
    pub already_finished: usize,
    pub slots: SlotPlan,
}

/// Works out the runs and slots of a batch without writing anything.
pub fn dry_run<'a>(
    plan: &'a Plan,
    job: &[u8],
    resources: &Resources,
    topology: &Topology,
    options: &BatchOptions,
) -> Result<DryRun<'a>, BatchError> {
    let finished: HashSet<String> = match &options.resume {
        Some(root) => {
            let inspection = ResultDir::inspect(root, job, options.force_resume).map_err(BatchError::Setup)?;
            inspection.finished.into_iter().map(|record| record.run_id).collect()
        }
        None => HashSet::new(),
    };
    let pending = pending_runs(plan, options.filter.as_ref(), &finished)?;
    let slots = plan_slots(options.parallel.or(plan.parallel), &runs_of(plan, &pending), resources, topology)?;
    let already_finished = plan.runs.iter().filter(|run| finished.contains(&run.id)).count();
    Ok(DryRun { pending: runs_of(plan, &pending), already_finished, slots })
}

/// Runs the batch of `plan` with `executor` and returns how it ended.
///
/// `job` is the job file's bytes, copied and hashed into the result directory. Errors before
/// the first run leave no result directory behind for a new batch.
pub fn run_job(
    plan: &Plan,
    job: &[u8],
    executor: &dyn Executor,
    topology: &Topology,
    options: &BatchOptions,
    interrupt: &Interrupt,
) -> Result<BatchEnd, BatchError> {
    let session_start = jiff::Timestamp::now();
    let resources = executor.resources();

    let (dir, finished, torn_line, pending, slots) = match &options.resume {
        Some(root) => {
            let resumed = ResultDir::resume(root, job, options.force_resume).map_err(BatchError::Setup)?;
            let finished_ids: HashSet<String> = resumed.finished.iter().map(|record| record.run_id.clone()).collect();
            let pending = pending_runs(plan, options.filter.as_ref(), &finished_ids)?;
            let slots = plan_slots(options.parallel.or(plan.parallel), &runs_of(plan, &pending), &resources, topology)?;
            clear_stale_files(&resumed.dir, plan, &pending);
            (resumed.dir, resumed.finished, resumed.torn_line, pending, slots)
        }
        None => {
            let pending = pending_runs(plan, options.filter.as_ref(), &HashSet::new())?;
            let slots = plan_slots(options.parallel.or(plan.parallel), &runs_of(plan, &pending), &resources, topology)?;
            let root = options.output.clone().unwrap_or_else(|| default_output(&plan.name));
            let meta = first_meta(plan, job, &resources, options, session_start, interrupt);
            let dir = ResultDir::create(&root, job, meta).map_err(BatchError::Setup)?;
            (dir, Vec::new(), None, pending, slots)
        }
    };

    let mut dir = dir;
    start_session(&mut dir, slots.slots.len(), session_start).map_err(BatchError::Setup)?;

    let mut rows = rows_from(plan, finished);
    let started = Instant::now();
    let progress = Progress::new(options.progress, plan.runs.len(), present(&rows), slots.slots.len());
    let outcome = run_slots(plan, executor, &dir, &slots, &pending, &mut rows, progress, interrupt);
    let wall = started.elapsed();

    let interrupted = interrupt.is_set() && outcome.write_error.is_none();
    let final_write = SummaryWriter::new(dir.root().join(SUMMARY))
        .write_now(present(&rows))
        .and_then(|()| end_session(&mut dir, interrupted));

    let root = dir.root().to_path_buf();
    if let Some(source) = outcome.write_error.or(final_write.err()) {
        return Err(BatchError::Write { dir: root, source });
    }
    if let Some(error) = outcome.thread_error {
        return Err(BatchError::Thread(error));
    }

    Ok(BatchEnd {
        root,
        records: rows.into_iter().flatten().map(|record| *record).collect(),
        ran: outcome.ran,
        not_started: pending.len() - outcome.ran,
        interrupted,
        wall,
        slots,
        torn_line,
    })
}

/// Indices of the runs to start: selected by `filter` and not in `finished`.
fn pending_runs(plan: &Plan, filter: Option<&RunFilter>, finished: &HashSet<String>) -> Result<Vec<usize>, ScheduleError> {
    if let Some(filter) = filter
        && !plan.runs.iter().any(|run| filter.matches(&run.id))
    {
        return Err(ScheduleError::FilterMatchesNothing { pattern: filter.pattern().to_string(), total: plan.runs.len() });
    }
    let selected = |run: &PlannedRun| filter.is_none_or(|filter| filter.matches(&run.id));
    Ok((0..plan.runs.len()).filter(|&index| selected(&plan.runs[index]) && !finished.contains(&plan.runs[index].id)).collect())
}

fn runs_of<'a>(plan: &'a Plan, indices: &[usize]) -> Vec<&'a PlannedRun> {
    indices.iter().map(|&index| &plan.runs[index]).collect()
}

/// `results/<job name>.<local time>` below the current directory.
fn default_output(job_name: &str) -> PathBuf {
    let name = job_name.replace(['/', '\0'], "_");
    let time = jiff::ZonedDateTime::now().strftime("%Y-%m-%dT%H-%M-%S").to_string();
    Path::new("results").join(format!("{name}.{time}"))
}

/// Builds the rows of the summary in plan order, filled with the records kept from earlier
/// sessions. Rows are boxed so that a run not yet finished costs one pointer.
fn rows_from(plan: &Plan, finished: Vec<RunRecord>) -> Vec<Option<Box<RunRecord>>> {
    let index_of: HashMap<&str, usize> = plan.runs.iter().enumerate().map(|(index, run)| (run.id.as_str(), index)).collect();
    let mut rows: Vec<Option<Box<RunRecord>>> = vec![None; plan.runs.len()];
    for record in finished {
        if let Some(&index) = index_of.get(record.run_id.as_str()) {
            rows[index] = Some(Box::new(record));
        }
    }
    rows
}

/// Iterates over the finished rows in plan order.
pub(super) fn present(rows: &[Option<Box<RunRecord>>]) -> impl Iterator<Item = &RunRecord> + Clone {
    rows.iter().flatten().map(|record| &**record)
}

/// Removes result files left by earlier attempts of the runs about to start (interrupted, or
/// running when cellrun was killed), unless a directory also contains the files of another run
/// whose id continues it (`a` and `a/b`), because those files belong to the other run.
fn clear_stale_files(dir: &ResultDir, plan: &Plan, pending: &[usize]) {
    let parents: HashSet<&str> = plan
        .runs
        .iter()
        .flat_map(|run| run.id.match_indices('/').map(|(at, _)| &run.id[..at]))
        .collect();
    for &index in pending {
        let run_id = plan.runs[index].id.as_str();
        if !parents.contains(run_id) {
            let _ = std::fs::remove_dir_all(dir.root().join(paths::files_dir(run_id)));
        }
    }
}

//! Following a campaign: the state of each shard, resubmitting lost shards, and Ctrl+C.
//!
//! A shard's state comes first from its status file: `finished` is final. Otherwise the
//! state of its latest array task tells whether it is pending or running. A task that SLURM
//! reports as ended, or no longer knows, while the status file is not final was lost. It is
//! submitted again with the same script, which continues its result directory, until it
//! was submitted [`super::Campaign::max_attempts`] times; then cellrun gives up on it.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use super::campaign::{Campaign, CampaignDir};
use super::error::SlurmError;
use super::scheduler::{JobId, Scheduler, TaskState};
use super::shard::ShardSpec;
use super::status::{ShardState, ShardStatus};
use super::submit::submit_shards;
use serde::Deserialize;

use crate::results::JOURNAL;
use crate::sandbox::TerminationReason;
use crate::schedule::Interrupt;

/// Shortest and longest time between two looks at the campaign; the interval grows while
/// nothing changes and drops back to the shortest on every change.
const POLL_MIN: Duration = Duration::from_millis(500);
const POLL_MAX: Duration = Duration::from_secs(5);

/// How long a shard must look lost before it is submitted again, so that a status file
/// that a shared file system shows late does not cause a needless resubmission.
const LOST_GRACE: Duration = Duration::from_secs(2);

/// Maximum number of failed `squeue` calls in a row before watching stops with the error.
/// At the longest interval that is about a minute, enough for a controller to restart.
const MAX_QUERY_FAILURES: usize = 12;

/// How long cellrun waits for cancelled tasks to end after Ctrl+C.
const CANCEL_WAIT: Duration = Duration::from_secs(60);

/// The state of one shard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShardView {
    Pending,
    Running,
    Finished,
    /// Ended without a final status; the SLURM state name, or `gone` when SLURM forgot it.
    Lost(String),
    /// Lost after its last allowed attempt.
    GaveUp(String),
}

/// One shard in an [`Overview`].
#[derive(Clone, Debug)]
pub struct ShardProgress {
    pub shard: usize,
    pub view: ShardView,
    pub runs_done: usize,
    pub runs: usize,
    pub attempts: usize,
    pub job: Option<JobId>,
    pub node: Option<String>,
}

/// The state of every shard of a campaign.
#[derive(Clone, Debug)]
pub struct Overview {
    pub shards: Vec<ShardProgress>,
}

impl Overview {
    pub fn count(&self, matches: impl Fn(&ShardView) -> bool) -> usize {
        self.shards.iter().filter(|shard| matches(&shard.view)).count()
    }

    pub fn runs_done(&self) -> usize {
        self.shards.iter().map(|shard| shard.runs_done).sum()
    }

    pub fn runs(&self) -> usize {
        self.shards.iter().map(|shard| shard.runs).sum()
    }

    /// Returns whether no shard is pending, running or waiting to be submitted again.
    pub fn ended(&self) -> bool {
        self.shards.iter().all(|shard| matches!(shard.view, ShardView::Finished | ShardView::GaveUp(_)))
    }

    /// Formats one line with the shards per state and the runs done.
    pub fn line(&self) -> String {
        let lost = self.count(|view| matches!(view, ShardView::Lost(_)));
        let gave_up = self.count(|view| matches!(view, ShardView::GaveUp(_)));
        let mut line = format!(
            "shards: {} pending, {} running, {} done",
            self.count(|view| *view == ShardView::Pending),
            self.count(|view| *view == ShardView::Running),
            self.count(|view| *view == ShardView::Finished),
        );
        if lost > 0 {
            line.push_str(&format!(", {lost} lost"));
        }
        if gave_up > 0 {
            line.push_str(&format!(", {gave_up} failed"));
        }
        line.push_str(&format!(" of {} · runs: {}/{} done", self.shards.len(), self.runs_done(), self.runs()));
        line
    }
}

/// Looks at every shard of `campaign` once; `total_runs` is the number of runs of the job.
pub fn overview(
    dir: &CampaignDir,
    campaign: &Campaign,
    total_runs: usize,
    scheduler: &dyn Scheduler,
) -> Result<Overview, SlurmError> {
    let mut task_states: HashMap<JobId, BTreeMap<usize, TaskState>> = HashMap::new();
    let mut shards = Vec::with_capacity(campaign.shards);

    for shard in 0..campaign.shards {
        let status = ShardStatus::read(&dir.status_file(shard))?;
        let job = campaign.latest_job(shard).cloned();
        let task = match &job {
            Some(job) => {
                if !task_states.contains_key(job) {
                    task_states.insert(job.clone(), scheduler.task_states(job)?);
                }
                task_states[job].get(&shard).cloned()
            }
            None => None,
        };
        let finished = status.as_ref().is_some_and(|status| status.state == ShardState::Finished);
        let task = match (&task, &job) {
            (None, Some(job)) if !finished => scheduler.accounted_state(job, shard).map(TaskState::Ended),
            _ => task,
        };
        let attempts = campaign.attempts(shard);
        let view = classify(status.as_ref(), task.as_ref(), attempts >= campaign.max_attempts);
        shards.push(ShardProgress {
            shard,
            view,
            runs_done: runs_done(dir, shard),
            runs: ShardSpec { index: shard, count: campaign.shards }.size(total_runs),
            attempts,
            job,
            node: status.map(|status| status.node),
        });
    }
    Ok(Overview { shards })
}

/// Derives the view of a shard from its status file and its latest task's state.
fn classify(status: Option<&ShardStatus>, task: Option<&TaskState>, last_attempt: bool) -> ShardView {
    if status.is_some_and(|status| status.state == ShardState::Finished) {
        return ShardView::Finished;
    }
    let reason = match task {
        Some(TaskState::Pending) => return ShardView::Pending,
        Some(TaskState::Running) => return ShardView::Running,
        Some(TaskState::Ended(name)) => name.clone(),
        None => "gone".to_string(),
    };
    let reason = match status {
        Some(status) if status.state != ShardState::Running => {
            format!("{reason}, cellrun exited with {}", status.exit_code.unwrap_or_default())
        }
        _ => reason,
    };
    if last_attempt { ShardView::GaveUp(reason) } else { ShardView::Lost(reason) }
}

/// The fields of a journal line that tell whether its run is done.
#[derive(Deserialize)]
struct JournalLine {
    run_id: String,
    termination_reason: Option<String>,
}

/// Counts the runs done in a shard's journal: run ids whose last record is not an
/// interrupted attempt. Lines that do not parse, such as a torn last line, are skipped.
fn runs_done(dir: &CampaignDir, shard: usize) -> usize {
    let Ok(bytes) = std::fs::read(dir.shard_dir(shard).join(JOURNAL)) else { return 0 };
    let killed = TerminationReason::Killed.name();
    let mut done: HashMap<String, bool> = HashMap::new();
    for line in bytes.split(|&byte| byte == b'\n') {
        if let Ok(line) = serde_json::from_slice::<JournalLine>(line) {
            done.insert(line.run_id, line.termination_reason.as_deref() != Some(killed));
        }
    }
    done.values().filter(|&&done| done).count()
}

/// Settings of [`watch`].
pub struct WatchOptions<'a> {
    pub total_runs: usize,
    /// Progress lines to stderr.
    pub progress: bool,
    pub interrupt: &'a Interrupt,
}

/// The end of [`watch`].
#[derive(Debug)]
pub enum WatchEnd {
    /// Every shard finished or was given up on.
    Ended(Overview),
    /// Ctrl+C: the tasks were cancelled.
    Interrupted(Overview),
}

/// Follows the campaign in `dir` until every shard has ended, submitting lost shards again.
pub fn watch(dir: &CampaignDir, scheduler: &dyn Scheduler, options: &WatchOptions<'_>) -> Result<WatchEnd, SlurmError> {
    let _follower = dir.lock_follower()?;
    let mut campaign = Campaign::read(dir)?;
    let mut interval = POLL_MIN;
    let mut last_line = String::new();
    let mut last_print = Instant::now();
    let mut lost_since: HashMap<usize, Instant> = HashMap::new();
    let mut query_failures = 0;

    loop {
        let view = match overview(dir, &campaign, options.total_runs, scheduler) {
            Ok(view) => view,
            Err(_) if options.interrupt.is_set() => {
                return cancel(dir, &campaign, scheduler, options).map(WatchEnd::Interrupted);
            }
            Err(error @ SlurmError::CommandFailed { .. })
                if query_failures < MAX_QUERY_FAILURES && !options.interrupt.is_set() =>
            {
                query_failures += 1;
                eprintln!("cellrun: warning: {error}; asking again in {} s", POLL_MAX.as_secs());
                sleep_unless_interrupted(POLL_MAX, options.interrupt);
                continue;
            }
            Err(error) => return Err(error),
        };
        query_failures = 0;
        if options.interrupt.is_set() {
            return cancel(dir, &campaign, scheduler, options).map(WatchEnd::Interrupted);
        }

        let line = view.line();
        let changed = line != last_line;
        if options.progress && (changed || last_print.elapsed() >= Duration::from_secs(30)) {
            eprintln!("cellrun: {line}");
            last_print = Instant::now();
        }
        last_line = line;
        if view.ended() {
            return Ok(WatchEnd::Ended(view));
        }

        let due = lost_due(&view, &mut lost_since);
        if !due.is_empty() {
            let job = submit_shards(dir, &mut campaign, scheduler, due.clone())?;
            if options.progress {
                for shard in &due {
                    let reason = lost_reason(&view, *shard);
                    let attempt = campaign.attempts(*shard);
                    eprintln!(
                        "cellrun: shard {shard} was lost ({reason}) and keeps its finished runs; submitted it again as job {job}, attempt {attempt} of {}",
                        campaign.max_attempts
                    );
                }
            }
            due.iter().for_each(|shard| {
                lost_since.remove(shard);
            });
        }

        interval = if changed || !due.is_empty() { POLL_MIN } else { (interval.mul_f64(1.5)).min(POLL_MAX) };
        sleep_unless_interrupted(interval, options.interrupt);
    }
}

/// Returns the shards that have looked lost for [`LOST_GRACE`], and drops the shards that
/// no longer look lost from `lost_since`.
fn lost_due(view: &Overview, lost_since: &mut HashMap<usize, Instant>) -> Vec<usize> {
    let lost: Vec<usize> =
        view.shards.iter().filter(|shard| matches!(shard.view, ShardView::Lost(_))).map(|shard| shard.shard).collect();
    lost_since.retain(|shard, _| lost.contains(shard));
    let now = Instant::now();
    lost.into_iter().filter(|shard| now.duration_since(*lost_since.entry(*shard).or_insert(now)) >= LOST_GRACE).collect()
}

fn lost_reason(view: &Overview, shard: usize) -> String {
    match &view.shards[shard].view {
        ShardView::Lost(reason) | ShardView::GaveUp(reason) => reason.clone(),
        _ => String::new(),
    }
}

fn sleep_unless_interrupted(duration: Duration, interrupt: &Interrupt) {
    let end = Instant::now() + duration;
    while Instant::now() < end && !interrupt.is_set() {
        std::thread::sleep(Duration::from_millis(50).min(end - Instant::now()));
    }
}

/// Cancels every array job that still has shards to run and waits until their tasks end,
/// so that each shard has written its interrupted runs.
fn cancel(
    dir: &CampaignDir,
    campaign: &Campaign,
    scheduler: &dyn Scheduler,
    options: &WatchOptions<'_>,
) -> Result<Overview, SlurmError> {
    let view = overview(dir, campaign, options.total_runs, scheduler)?;
    let mut jobs: Vec<&JobId> = view
        .shards
        .iter()
        .filter(|shard| matches!(shard.view, ShardView::Pending | ShardView::Running))
        .filter_map(|shard| shard.job.as_ref())
        .collect();
    jobs.sort();
    jobs.dedup();
    if options.progress {
        let names: Vec<String> = jobs.iter().map(|job| job.to_string()).collect();
        eprintln!("cellrun: interrupted: cancelling job {}; the shards keep their finished runs", names.join(", "));
    }
    for job in &jobs {
        if let Err(error) = scheduler.cancel(job) {
            eprintln!("cellrun: warning: {error}");
        }
    }

    let deadline = Instant::now() + CANCEL_WAIT;
    loop {
        let view = overview(dir, campaign, options.total_runs, scheduler)?;
        let active = view.count(|view| matches!(view, ShardView::Pending | ShardView::Running));
        if active == 0 || Instant::now() >= deadline {
            return Ok(view);
        }
        std::thread::sleep(POLL_MIN);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(state: ShardState) -> ShardStatus {
        let mut status = ShardStatus::starting(0, None);
        if state != ShardState::Running {
            status.end(state, 130, None);
        }
        status
    }

    #[test]
    fn finished_status_is_final() {
        let finished = status(ShardState::Finished);
        assert_eq!(classify(Some(&finished), Some(&TaskState::Running), false), ShardView::Finished);
        assert_eq!(classify(Some(&finished), None, true), ShardView::Finished);
    }

    #[test]
    fn slurm_state_while_not_finished() {
        let running = status(ShardState::Running);
        assert_eq!(classify(None, Some(&TaskState::Pending), false), ShardView::Pending);
        assert_eq!(classify(Some(&running), Some(&TaskState::Running), false), ShardView::Running);
    }

    #[test]
    fn ended_without_final_status_is_lost() {
        let running = status(ShardState::Running);
        assert_eq!(classify(Some(&running), Some(&TaskState::Ended("NODE_FAIL".into())), false), ShardView::Lost("NODE_FAIL".into()));
        assert_eq!(classify(None, None, false), ShardView::Lost("gone".into()));
        let interrupted = status(ShardState::Interrupted);
        assert_eq!(
            classify(Some(&interrupted), Some(&TaskState::Ended("CANCELLED".into())), true),
            ShardView::GaveUp("CANCELLED, cellrun exited with 130".into())
        );
    }

    #[test]
    fn runs_done_skip_interrupted_attempts() {
        let root = tempfile::tempdir().unwrap();
        let dir = CampaignDir::new(root.path());
        std::fs::create_dir_all(dir.shard_dir(0)).unwrap();
        let line = |id: &str, reason: &str| format!("{{\"run_id\":\"{id}\",\"termination_reason\":{reason}}}\n");
        let journal = [line("a", "null"), line("b", "\"killed\""), line("c", "\"killed\""), line("c", "null"), "{\"run_id\":\"d".into()];
        std::fs::write(dir.shard_dir(0).join(JOURNAL), journal.concat()).unwrap();
        assert_eq!(runs_done(&dir, 0), 2);
        assert_eq!(runs_done(&dir, 1), 0);
    }

    #[test]
    fn lost_shard_due_after_grace() {
        let shard = |view| ShardProgress { shard: 0, view, runs_done: 0, runs: 1, attempts: 1, job: None, node: None };
        let view = Overview { shards: vec![shard(ShardView::Lost("gone".into()))] };
        let mut since = HashMap::new();
        assert!(lost_due(&view, &mut since).is_empty());
        since.insert(0, Instant::now() - LOST_GRACE);
        assert_eq!(lost_due(&view, &mut since), [0]);

        let running = Overview { shards: vec![shard(ShardView::Running)] };
        lost_due(&running, &mut since);
        assert!(since.is_empty());
    }
}

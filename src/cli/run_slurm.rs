//! The SLURM side of `cellrun run`: `--slurm` submits the job as shards, `--shard I/N` runs
//! one shard, and `--shard-of DIR` makes that shard part of a campaign in DIR.

use std::path::{Path, PathBuf};

use clap::Args;

use super::run::RunArgs;
use crate::plan::Plan;
use crate::report::Tally;
use crate::schedule::{Executor, INTERRUPTED_EXIT, Interrupt, ScheduleError};
use crate::slurm::{
    self, AllocatedExecutor, CampaignDir, NewCampaign, ShardSpec, ShardState, ShardStatus, ShardView, SlurmCommands,
    SlurmError, WatchEnd, WatchOptions,
};

/// Shards of a campaign when `--shards` is not given, fewer when the job has fewer runs.
pub const DEFAULT_SHARDS: usize = 10;

/// Exit status of a campaign in which a shard was still lost after its last attempt.
pub const SHARD_FAILED_EXIT: i32 = 4;

/// The SLURM options of `cellrun run`.
#[derive(Debug, Args)]
pub struct SlurmArgs {
    /// Run the job on a SLURM cluster: split its runs into shards, submit one array job, follow
    /// it and merge the shards into --output, which must be on a file system all nodes see.
    #[arg(long, requires = "output", conflicts_with_all = ["resume", "dry_run"], help_heading = "SLURM")]
    pub slurm: bool,

    /// With --slurm: the partition to submit to. Default: the cluster's default partition.
    #[arg(long, value_name = "P", requires = "slurm", help_heading = "SLURM")]
    pub partition: Option<String>,

    /// With --slurm: number of shards, which is the number of array tasks. Default: 10, or
    /// the number of runs when the job has fewer.
    #[arg(long, value_name = "N", requires = "slurm", help_heading = "SLURM")]
    pub shards: Option<usize>,

    /// With --slurm: at most K shards run at once (`sbatch --array=...%K`).
    #[arg(long, value_name = "K", requires = "slurm", help_heading = "SLURM")]
    pub max_concurrent: Option<usize>,

    /// With --slurm: one more argument for `sbatch`, such as `--sbatch-arg=--time=2:00:00`;
    /// repeat it for several. `--cpus-per-task`, `--mem` or `--mem-per-cpu` here replace
    /// cellrun's own requests.
    #[arg(long = "sbatch-arg", value_name = "ARG", allow_hyphen_values = true, requires = "slurm", help_heading = "SLURM")]
    pub sbatch_args: Vec<String>,

    /// With --slurm: exit after submitting; `cellrun status DIR --wait` follows the campaign later.
    #[arg(long, requires = "slurm", help_heading = "SLURM")]
    pub detach: bool,

    /// Run only shard I of N: the runs whose number in the job, counted from 0, leaves the
    /// remainder I when divided by N.
    #[arg(long, value_name = "I/N", conflicts_with = "slurm", help_heading = "SLURM")]
    pub shard: Option<ShardSpec>,

    /// With --shard: the shard belongs to the campaign in DIR. It writes its results into
    /// DIR/shards/I (continuing them when they exist) and its status into DIR/status/I.json.
    /// The batch script of `--slurm` passes this option.
    #[arg(long, value_name = "DIR", requires = "shard", conflicts_with_all = ["output", "resume"], help_heading = "SLURM")]
    pub shard_of: Option<PathBuf>,
}

/// Keeps only the runs of `--shard I/N` in `plan`. With `--filter`, the shards divide the
/// runs that the filter selects, as they do for `--slurm`.
pub fn select_shard(args: &RunArgs, plan: &mut Plan) -> Result<(), SlurmError> {
    let Some(spec) = &args.slurm.shard else { return Ok(()) };
    if let Some(pattern) = &args.filter {
        slurm::keep_matching(plan, pattern)?;
    }
    spec.select(plan);
    Ok(())
}

/// Returns the result directory to create and the one to resume. These are the shard's for
/// `--shard-of`, else those of `--output` and `--resume`.
pub fn result_dirs(args: &RunArgs) -> (Option<PathBuf>, Option<PathBuf>) {
    match (&args.slurm.shard_of, &args.slurm.shard) {
        (Some(root), Some(spec)) => {
            let dir = CampaignDir::new(root);
            let shard_dir = dir.shard_dir(spec.index);
            if dir.shard_started(spec.index) {
                return (None, Some(shard_dir));
            }
            // An attempt that died while creating the directory left no meta.json and no
            // journal, so nothing in it is worth keeping, and a new batch needs it empty.
            let _ = std::fs::remove_dir_all(&shard_dir);
            (Some(shard_dir), None)
        }
        _ => (args.output.clone(), args.resume.clone()),
    }
}

/// Narrows `executor` to this task's allocation when cellrun runs inside a SLURM job.
pub fn within_allocation(executor: Box<dyn Executor>) -> Box<dyn Executor> {
    match std::env::var_os("SLURM_JOB_ID") {
        Some(_) => Box::new(AllocatedExecutor::new(executor)),
        None => executor,
    }
}

/// The status file of a shard that belongs to a campaign.
pub struct ShardRun {
    path: PathBuf,
    status: ShardStatus,
}

impl ShardRun {
    /// Writes the `running` status of a shard of a campaign; `None` for other batches.
    pub fn start(args: &RunArgs) -> Option<ShardRun> {
        let (root, spec) = (args.slurm.shard_of.as_ref()?, args.slurm.shard?);
        let path = CampaignDir::new(root).status_file(spec.index);
        let previous = ShardStatus::read(&path).ok().flatten();
        let status = ShardStatus::starting(spec.index, previous);
        if let Err(error) = status.write(&path) {
            eprintln!("cellrun: warning: {error}");
        }
        Some(ShardRun { path, status })
    }

    /// Writes the final status from the batch's exit status and error message.
    pub fn finish(mut self, exit_code: i32, message: Option<String>) {
        let state = match exit_code {
            0 | 1 => ShardState::Finished,
            INTERRUPTED_EXIT => ShardState::Interrupted,
            _ => ShardState::Failed,
        };
        self.status.end(state, exit_code, message);
        if let Err(error) = self.status.write(&self.path) {
            eprintln!("cellrun: warning: {error}");
        }
    }
}

/// Submits `plan` as a campaign into `--output` and follows it unless `--detach`.
pub fn submit(args: &RunArgs, plan: &Plan, job: &[u8]) -> Result<i32, SlurmError> {
    let total = plan.runs.len();
    let mut plan = plan.clone();
    if let Some(pattern) = &args.filter {
        slurm::keep_matching(&mut plan, pattern)?;
        if plan.runs.is_empty() {
            return Err(ScheduleError::FilterMatchesNothing { pattern: pattern.clone(), total }.into());
        }
    }
    let plan = &plan;
    let output = args.output.as_ref().ok_or(SlurmError::OutputMissing)?;
    std::fs::create_dir_all(output).map_err(|source| SlurmError::Write { path: output.clone(), source })?;
    let root = output.canonicalize().map_err(|source| SlurmError::Read { path: output.clone(), source })?;
    let job_file = args.job.canonicalize().map_err(|source| SlurmError::Read { path: args.job.clone(), source })?;
    let cellrun = std::env::current_exe().and_then(|path| path.canonicalize()).map_err(|source| SlurmError::Binary { source })?;

    let shards = match args.slurm.shards {
        Some(0) => return Err(SlurmError::ZeroShards),
        Some(shards) => shards.min(plan.runs.len()),
        None => DEFAULT_SHARDS.min(plan.runs.len()),
    };
    let dir = CampaignDir::new(&root);
    let new = NewCampaign {
        job_file,
        job_bytes: job.to_vec(),
        job_name: plan.name.clone(),
        shards,
        cellrun,
        partition: args.slurm.partition.clone(),
        max_concurrent: args.slurm.max_concurrent,
        sbatch_args: sbatch_args(plan, args.parallel, &args.slurm.sbatch_args),
        filter: args.filter.clone(),
        run_options: run_options(args),
    };
    let mut campaign = slurm::create(&dir, new)?;
    let job_id = slurm::submit_shards(&dir, &mut campaign, &SlurmCommands::default(), (0..shards).collect())?;
    let shard_word = if shards == 1 { "shard" } else { "shards" };
    eprintln!(
        "cellrun: submitted the job's {} runs in {shards} {shard_word} as array job {job_id}; results go to {}",
        plan.runs.len(),
        root.display()
    );

    if args.slurm.detach {
        eprintln!("cellrun: follow the campaign with `cellrun status {} --wait`", root.display());
        return Ok(0);
    }
    follow(&dir, plan, args.quiet)
}

/// Builds the `sbatch` arguments: requests for the CPUs and memory of the shard's slots,
/// unless the user's arguments make their own, then the user's. A shard has `--parallel`
/// slots, else the job's `parallel`, else one.
fn sbatch_args(plan: &Plan, parallel: Option<usize>, user: &[String]) -> Vec<String> {
    let names = |names: &[&str]| user.iter().any(|arg| names.iter().any(|name| arg == name || arg.starts_with(&format!("{name}="))));
    let cores = plan.runs.iter().filter_map(|run| run.settings.limits.cores).max().unwrap_or(1).max(1) as u64;
    let memory = plan.runs.iter().filter_map(|run| run.settings.limits.memory).map(|memory| memory.0).max();

    let mut args = Vec::new();
    let own_cpus = names(&["--cpus-per-task", "-c"]) || user.iter().any(|arg| arg.starts_with("-c") && arg.len() > 2);
    if !own_cpus {
        let slots = parallel.or(plan.parallel).unwrap_or(1).max(1) as u64;
        args.push(format!("--cpus-per-task={}", cores * slots));
    }
    if let Some(memory) = memory
        && !names(&["--mem", "--mem-per-cpu", "--mem-per-gpu"])
    {
        let mib_per_cpu = memory.div_ceil(1024 * 1024).div_ceil(cores).max(1);
        args.push(format!("--mem-per-cpu={mib_per_cpu}M"));
    }
    args.extend(user.iter().cloned());
    args
}

/// Collects the options of this `cellrun run` that every shard repeats.
fn run_options(args: &RunArgs) -> Vec<String> {
    let mut options = Vec::new();
    if let Some(parallel) = args.parallel {
        options.extend(["--parallel".to_string(), parallel.to_string()]);
    }
    if let Some(filter) = &args.filter {
        options.extend(["--filter".to_string(), filter.clone()]);
    }
    options
}

/// Follows the campaign in `dir` until its shards end or Ctrl+C, then merges the shards.
pub fn follow(dir: &CampaignDir, plan: &Plan, quiet: bool) -> Result<i32, SlurmError> {
    let interrupt = Interrupt::install().map_err(SlurmError::Signals)?;
    let options = WatchOptions { total_runs: plan.runs.len(), progress: !quiet, interrupt: &interrupt };
    let end = slurm::watch(dir, &SlurmCommands::default(), &options)?;
    let report = slurm::merge(dir.root())?;

    let mut tally = Tally::default();
    report.records.iter().for_each(|record| tally.add(record));
    if !quiet {
        eprintln!("cellrun: merged {} of {} runs into {}: {}", report.records.len(), plan.runs.len(), dir.root().display(), tally.line());
    }

    let overview = match end {
        WatchEnd::Interrupted(_) => {
            eprintln!("cellrun: interrupted; follow the campaign again with `cellrun status {} --wait`", dir.root().display());
            return Ok(INTERRUPTED_EXIT);
        }
        WatchEnd::Ended(overview) => overview,
    };
    let failed: Vec<String> = overview
        .shards
        .iter()
        .filter_map(|shard| match &shard.view {
            ShardView::GaveUp(reason) => Some(format!("shard {} ({reason})", shard.shard)),
            _ => None,
        })
        .collect();
    if !failed.is_empty() {
        eprintln!(
            "cellrun: error: {} failed after {} attempts; {} runs have no record. See {} for the output of each task.",
            failed.join(", "),
            slurm::DEFAULT_MAX_ATTEMPTS,
            report.missing,
            dir.slurm_logs().display()
        );
        return Ok(SHARD_FAILED_EXIT);
    }
    // The rule of a local batch: 1 when a run could not be started or its category is in
    // the job's `fail_on` list.
    let failed_to_start = report.records.iter().any(|record| record.termination_reason.as_deref() == Some("failed"));
    let failing_category = report.records.iter().any(|record| plan.fail_on.contains(&record.category));
    Ok(if failed_to_start || failing_category { 1 } else { 0 })
}

/// Reads the campaign in `root` and its job's plan.
pub fn open_campaign(root: &Path) -> Result<(CampaignDir, slurm::Campaign, Plan), SlurmError> {
    let dir = CampaignDir::new(root);
    let campaign = slurm::Campaign::read(&dir)?;
    let plan = slurm::load_plan(&campaign)?;
    Ok((dir, campaign, plan))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(cores: Option<u32>, memory: Option<u64>) -> Plan {
        let dir = tempfile::tempdir().unwrap();
        let job = dir.path().join("job.yaml");
        let mut limits = String::new();
        if let Some(cores) = cores {
            limits.push_str(&format!("cores: {cores}, "));
        }
        if let Some(memory) = memory {
            limits.push_str(&format!("memory: {memory} MiB, "));
        }
        let text = format!("commands:\n  a:\n    command: [true]\n    limits: {{{limits}}}\n");
        std::fs::write(&job, text).unwrap();
        crate::plan::load(&job).unwrap()
    }

    fn run_args(words: &[&str]) -> RunArgs {
        use clap::Parser;
        let cli = crate::cli::Cli::try_parse_from(words).unwrap();
        match cli.command {
            crate::cli::Command::Run(args) => args,
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn shard_of_campaign_creates_then_resumes() {
        let root = tempfile::tempdir().unwrap();
        let campaign = root.path().to_str().unwrap();
        let args = run_args(&["cellrun", "run", "job.yaml", "--shard", "1/2", "--shard-of", campaign]);
        let shard_dir = root.path().join("shards/1");

        std::fs::create_dir_all(shard_dir.join("logs")).unwrap();
        assert_eq!(result_dirs(&args), (Some(shard_dir.clone()), None));
        assert!(!shard_dir.exists(), "the directory of a dead first attempt is removed");

        std::fs::create_dir_all(&shard_dir).unwrap();
        std::fs::write(shard_dir.join("meta.json"), b"{}").unwrap();
        assert_eq!(result_dirs(&args), (None, Some(shard_dir)));
    }

    #[test]
    fn requests_follow_limits() {
        assert_eq!(sbatch_args(&plan(Some(2), Some(1000)), None, &[]), ["--cpus-per-task=2", "--mem-per-cpu=500M"]);
        assert_eq!(sbatch_args(&plan(None, None), None, &[]), ["--cpus-per-task=1"]);
    }

    #[test]
    fn requests_cover_parallel_slots() {
        assert_eq!(sbatch_args(&plan(Some(2), Some(1000)), Some(3), &[]), ["--cpus-per-task=6", "--mem-per-cpu=500M"]);
    }

    #[test]
    fn user_requests_replace_own() {
        let user = vec!["--cpus-per-task=8".to_string(), "--mem=4G".to_string()];
        assert_eq!(sbatch_args(&plan(Some(2), Some(1000)), Some(2), &user), user);
        let short = vec!["-c4".to_string()];
        assert_eq!(sbatch_args(&plan(Some(2), None), None, &short), short);
    }
}

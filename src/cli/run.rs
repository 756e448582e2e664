//! `cellrun run JOB.yaml`: run every run of a job file and keep the results.

use std::path::{Path, PathBuf};

use clap::Args;
use thiserror::Error;

use crate::plan::{Plan, PlannedRun};
use crate::report::{outcome, progress::ProgressMode};
use crate::schedule::{self, BatchError, BatchOptions, Executor, Interrupt, RunFilter, Topology};
use crate::slurm::SlurmError;

use super::run_slurm::{self, ShardRun, SlurmArgs};

/// Exit status when the job file or the command line is invalid, or the batch cannot start.
pub const USAGE_EXIT: i32 = 2;

/// Exit status when the result directory could not be written while runs went on.
pub const WRITE_EXIT: i32 = 3;

const EXIT_STATUS_HELP: &str = "\
Exit status:
  0    the batch completed
  1    a run could not be started, or a run's category is in the job's `fail_on` list
  2    invalid job file or command line, or the batch could not start (see the message)
  3    the result directory could not be written during the batch
  4    with --slurm: a shard was still lost after its last attempt
  130  interrupted by Ctrl+C or SIGTERM; continue with --resume DIR";

/// Run every run of a job file in its own container and write a result directory.
#[derive(Debug, Args)]
#[command(after_help = EXIT_STATUS_HELP)]
pub struct RunArgs {
    /// The job file.
    #[arg(value_name = "JOB")]
    pub job: PathBuf,

    /// Number of runs at once. Default: the job's `parallel`, else as many as the CPU cores
    /// and memory cellrun may use allow.
    #[arg(short = 'j', long = "parallel", value_name = "N")]
    pub parallel: Option<usize>,

    /// The result directory to create; it must not exist or be empty.
    /// Default: results/<job name>.<local time>.
    #[arg(long, value_name = "DIR", conflicts_with = "resume")]
    pub output: Option<PathBuf>,

    /// Continue the batch in DIR: keep its finished runs, run the interrupted and missing ones.
    #[arg(long, value_name = "DIR")]
    pub resume: Option<PathBuf>,

    /// With --resume: continue even though the job file changed since the batch started.
    #[arg(long, requires = "resume")]
    pub force_resume: bool,

    /// Run only the runs whose id matches PATTERN. A pattern with `*`, `?`, `[` or `{` is a
    /// glob over the whole id, where `*` also matches `/`. Any other pattern selects the ids
    /// that contain it.
    #[arg(long, value_name = "PATTERN")]
    pub filter: Option<String>,

    /// Print the runs that would start and the CPUs of each slot, then exit without running.
    #[arg(long)]
    pub dry_run: bool,

    /// Show no progress and no final report; errors are still printed.
    #[arg(short, long)]
    pub quiet: bool,

    #[command(flatten)]
    pub slurm: SlurmArgs,
}

/// A failure of `cellrun run` before its batch ended.
#[derive(Debug, Error)]
pub enum RunCommandError {
    #[error("cannot read the job file {path}: {source}")]
    ReadJob { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Job(String),
    #[error("cannot start the containers: {0}")]
    Executor(String),
    #[error("cannot handle Ctrl+C and SIGTERM: {0}")]
    Signals(std::io::Error),
    #[error(transparent)]
    Batch(#[from] BatchError),
    #[error(transparent)]
    Slurm(#[from] SlurmError),
}

impl RunCommandError {
    fn exit_code(&self) -> i32 {
        match self {
            RunCommandError::Batch(BatchError::Write { .. } | BatchError::Thread(_)) => WRITE_EXIT,
            _ => USAGE_EXIT,
        }
    }
}

/// Runs `cellrun run` and returns the process exit status.
pub fn run(args: RunArgs) -> i32 {
    let shard = ShardRun::start(&args);
    let (code, message) = match execute(&args) {
        Ok(code) => (code, None),
        Err(error) => {
            match &error {
                // The job file's errors carry their own `error:` prefixes and locations.
                RunCommandError::Job(errors) => eprintln!("{errors}"),
                _ => eprintln!("cellrun: error: {error}"),
            }
            (error.exit_code(), Some(error.to_string()))
        }
    };
    if let Some(shard) = shard {
        shard.finish(code, message);
    }
    code
}

fn execute(args: &RunArgs) -> Result<i32, RunCommandError> {
    let job = std::fs::read(&args.job).map_err(|source| RunCommandError::ReadJob { path: args.job.clone(), source })?;
    let mut plan = load_job(&args.job)?;
    if args.slurm.slurm {
        return Ok(run_slurm::submit(args, &plan, &job)?);
    }
    run_slurm::select_shard(args, &mut plan)?;
    let filter = args.filter.as_deref().map(RunFilter::new).transpose().map_err(BatchError::from)?;
    let executor = run_slurm::within_allocation(open_executor()?);
    let resources = executor.resources();
    let topology = Topology::read_sysfs(Path::new("/sys"), &resources.cpus);

    let (output, resume) = run_slurm::result_dirs(args);
    let options = BatchOptions {
        output,
        resume,
        force_resume: args.force_resume,
        parallel: args.parallel,
        filter,
        progress: ProgressMode::detect(args.quiet),
        cgroup_version: cgroup_version(),
    };

    if args.dry_run {
        let dry = schedule::dry_run(&plan, &job, &resources, &topology, &options)?;
        print_dry_run(&dry);
        return Ok(0);
    }

    let interrupt = Interrupt::install().map_err(RunCommandError::Signals)?;
    let end = schedule::run_job(&plan, &job, executor.as_ref(), &topology, &options, &interrupt)?;
    if let Some(line) = end.torn_line {
        eprintln!("cellrun: warning: dropped the incomplete line {line} at the end of the journal; that run ran again");
    }
    if !args.quiet {
        eprintln!("{}", outcome::render(&end, &args.job));
    }
    Ok(end.exit_code(&plan.fail_on))
}

/// Reads and validates the job file.
fn load_job(path: &Path) -> Result<Plan, RunCommandError> {
    crate::plan::load(path).map_err(|errors| RunCommandError::Job(errors.to_string()))
}

/// Opens the container executor.
fn open_executor() -> Result<Box<dyn Executor>, RunCommandError> {
    let sandbox = crate::sandbox::Sandbox::new().map_err(|error| RunCommandError::Executor(error.to_string()))?;
    Ok(Box::new(sandbox))
}

fn cgroup_version() -> Option<String> {
    let cgroups = crate::cgroup::Cgroups::detect().ok()?;
    Some(match cgroups.version() {
        crate::cgroup::Version::V1 => "v1".to_string(),
        crate::cgroup::Version::V2 => "v2".to_string(),
    })
}

fn print_dry_run(dry: &schedule::DryRun<'_>) {
    println!(
        "{} runs would start ({} already finished), {} at once, {} CPUs each",
        dry.pending.len(),
        dry.already_finished,
        dry.slots.slots.len(),
        dry.slots.cores
    );
    for (slot, cpus) in dry.slots.slots.iter().enumerate() {
        println!("slot {slot}: CPUs {}, memory nodes {}", list(&cpus.cpus), list(&cpus.memory_nodes));
    }
    for run in &dry.pending {
        println!("{}\t{}", crate::report::printable(&run.id), command_line(run));
    }
}

fn list(values: &[usize]) -> String {
    schedule::topology::format_cpus(values)
}

/// Formats the command as it would be typed in a shell, with single quotes where needed.
fn command_line(run: &PlannedRun) -> String {
    let quote = |word: &String| {
        let plain = !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
        if plain { word.clone() } else { format!("'{}'", word.replace('\'', "'\\''")) }
    };
    crate::report::printable(&run.command.iter().map(quote).collect::<Vec<_>>().join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::ResultsError;

    #[test]
    fn write_failure_exits_3() {
        let source = ResultsError::Write { path: "summary.csv".into(), source: std::io::Error::other("disk full") };
        let error = RunCommandError::Batch(BatchError::Write { dir: "out".into(), source });
        assert_eq!(error.exit_code(), WRITE_EXIT);
    }

    #[test]
    fn setup_failures_exit_2() {
        let preflight = RunCommandError::Batch(BatchError::Schedule(crate::schedule::ScheduleError::ZeroParallel));
        assert_eq!(preflight.exit_code(), USAGE_EXIT);
        let used = RunCommandError::Batch(BatchError::Setup(ResultsError::AlreadyUsed { path: "out".into() }));
        assert_eq!(used.exit_code(), USAGE_EXIT);
    }

    #[test]
    fn command_line_quotes_special_words() {
        let mut run = PlannedRun {
            id: "r".into(),
            tool: "t".into(),
            config: String::new(),
            task_set: String::new(),
            task: String::new(),
            command: vec!["sh".into(), "-c".into(), "echo 'a b'".into(), "x.cnf".into()],
            expected: None,
            property: None,
            settings: std::sync::Arc::new(crate::plan::RunSettings {
                limits: Default::default(),
                dirs: Default::default(),
                network: false,
                env: Default::default(),
                workdir: "/".into(),
                result_files: Vec::new(),
                accept_unenforced_limits: false,
            }),
            verdict: None,
        };
        assert_eq!(command_line(&run), r#"sh -c 'echo '\''a b'\''' x.cnf"#);

        run.command = vec![String::new()];
        assert_eq!(command_line(&run), "''");
    }
}

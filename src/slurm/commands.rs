//! The SLURM backend: `sbatch --parsable`, `squeue` and `scancel`, which every cluster has.
//!
//! `squeue -r -t all` lists each array task on its own line, finished ones included, until
//! the controller drops them (`MinJobAge`, 300 s by default). cellrun never needs more
//! from SLURM than "pending, running or gone": what a shard did is in its files.
//! `SLURM_CONF` and the other SLURM variables pass through the environment unchanged.
//! Where the cluster keeps accounting, `sacct` names the final state of a task that `squeue`
//! no longer lists. Without accounting `sacct` fails, and cellrun stops asking it.

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

use super::error::SlurmError;
use super::scheduler::{JobId, Scheduler, Submission, TaskState};

/// The SLURM commands on `PATH`.
#[derive(Debug, Default)]
pub struct SlurmCommands {
    /// Set once `sacct` failed, because the cluster keeps no accounting.
    no_accounting: AtomicBool,
}

impl Scheduler for SlurmCommands {
    fn submit(&self, submission: &Submission) -> Result<JobId, SlurmError> {
        let args = sbatch_args(submission);
        let output = run("sbatch", &args)?;
        parse_job_id(&output).ok_or_else(|| SlurmError::UnexpectedOutput { command: "sbatch --parsable".into(), output })
    }

    fn task_states(&self, job: &JobId) -> Result<BTreeMap<usize, TaskState>, SlurmError> {
        let args = ["-h", "-r", "-t", "all", "-j", job.0.as_str(), "-o", "%i|%T"].map(String::from);
        match run("squeue", &args) {
            Ok(output) => Ok(parse_squeue(&output, job)),
            // squeue exits with 1 and "Invalid job id specified" once the controller forgot
            // the job: every task is gone.
            Err(SlurmError::CommandFailed { stderr, .. }) if stderr.contains("Invalid job id") => Ok(BTreeMap::new()),
            Err(error) => Err(error),
        }
    }

    fn cancel(&self, job: &JobId) -> Result<(), SlurmError> {
        run("scancel", std::slice::from_ref(&job.0)).map(|_| ())
    }

    fn accounted_state(&self, job: &JobId, task: usize) -> Option<String> {
        if self.no_accounting.load(Ordering::Relaxed) {
            return None;
        }
        let args = ["-n", "-P", "-X", "-j", &format!("{job}_{task}"), "-o", "State"].map(String::from);
        match run("sacct", &args) {
            Ok(output) => parse_sacct_state(&output),
            Err(_) => {
                self.no_accounting.store(true, Ordering::Relaxed);
                None
            }
        }
    }
}

/// Parses the state of `sacct -o State`, such as `CANCELLED by 1000`, to its name.
fn parse_sacct_state(output: &str) -> Option<String> {
    output.lines().next()?.split_whitespace().next().map(str::to_string)
}

/// Builds the arguments of `sbatch` for `submission`.
pub fn sbatch_args(submission: &Submission) -> Vec<String> {
    let tasks: Vec<String> = submission.tasks.iter().map(usize::to_string).collect();
    let mut array = format!("--array={}", tasks.join(","));
    if let Some(limit) = submission.max_concurrent {
        array.push_str(&format!("%{limit}"));
    }
    let mut args = vec![
        "--parsable".to_string(),
        array,
        format!("--job-name={}", submission.job_name),
        format!("--output={}", submission.output_pattern.display()),
        format!("--chdir={}", submission.workdir.display()),
    ];
    if let Some(partition) = &submission.partition {
        args.push(format!("--partition={partition}"));
    }
    args.extend(submission.extra_args.iter().cloned());
    args.push(submission.script.display().to_string());
    args
}

/// Parses the job id that `sbatch --parsable` prints as `ID` or `ID;CLUSTER`.
fn parse_job_id(output: &str) -> Option<JobId> {
    let id = output.trim().split(';').next()?.trim();
    (!id.is_empty() && id.chars().all(|c| c.is_ascii_digit())).then(|| JobId(id.to_string()))
}

/// Parses task states from lines `JOB_TASK|STATE`, skipping lines of other jobs or without a task.
fn parse_squeue(output: &str, job: &JobId) -> BTreeMap<usize, TaskState> {
    let prefix = format!("{}_", job.0);
    let mut states = BTreeMap::new();
    for line in output.lines() {
        let Some((id, state)) = line.trim().split_once('|') else { continue };
        let Some(task) = id.strip_prefix(&prefix).and_then(|task| task.parse::<usize>().ok()) else { continue };
        states.insert(task, task_state(state.trim()));
    }
    states
}

/// Maps a SLURM job state name to pending, running or ended.
fn task_state(name: &str) -> TaskState {
    match name {
        "PENDING" | "CONFIGURING" | "REQUEUED" | "REQUEUE_HOLD" | "REQUEUE_FED" | "RESV_DEL_HOLD" | "SUSPENDED" => {
            TaskState::Pending
        }
        "RUNNING" | "COMPLETING" | "STAGE_OUT" | "SIGNALING" | "RESIZING" => TaskState::Running,
        other => TaskState::Ended(other.to_string()),
    }
}

/// Runs `program` with `args` and returns its standard output.
///
/// The command runs in a process group of its own, so that Ctrl+C in the terminal reaches
/// only cellrun, which then cancels the campaign with `scancel`, and not a `squeue` that
/// happens to run at that moment.
fn run(program: &str, args: &[String]) -> Result<String, SlurmError> {
    let command_line = format!("{program} {}", args.join(" "));
    let output = Command::new(program)
        .args(args)
        .process_group(0)
        .output()
        .map_err(|source| SlurmError::CommandMissing { command: program.to_string(), source })?;
    if !output.status.success() {
        return Err(SlurmError::CommandFailed {
            command: command_line,
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn job_id_with_cluster_parsed() {
        assert_eq!(parse_job_id("1234\n"), Some(JobId("1234".into())));
        assert_eq!(parse_job_id("1234;cluster\n"), Some(JobId("1234".into())));
        assert_eq!(parse_job_id("Submitted batch job 1\n"), None);
        assert_eq!(parse_job_id(""), None);
    }

    #[test]
    fn squeue_lines_parsed() {
        let job = JobId("17".into());
        let output = "17_0|COMPLETED\n17_1|RUNNING\n17_2|PENDING\n17_3|TIMEOUT\n170_4|RUNNING\n17|PENDING\n";
        let states = parse_squeue(output, &job);
        assert_eq!(states.len(), 4);
        assert_eq!(states[&0], TaskState::Ended("COMPLETED".into()));
        assert_eq!(states[&1], TaskState::Running);
        assert_eq!(states[&2], TaskState::Pending);
        assert_eq!(states[&3], TaskState::Ended("TIMEOUT".into()));
    }

    #[test]
    fn sacct_state_parsed() {
        assert_eq!(parse_sacct_state("CANCELLED by 1000\n"), Some("CANCELLED".into()));
        assert_eq!(parse_sacct_state("TIMEOUT\n"), Some("TIMEOUT".into()));
        assert_eq!(parse_sacct_state(""), None);
    }

    #[test]
    fn sbatch_arguments_built() {
        let submission = Submission {
            script: PathBuf::from("/shared/cellrun.sbatch"),
            job_name: "cellrun-job".into(),
            tasks: vec![0, 3, 5],
            max_concurrent: Some(2),
            partition: Some("short".into()),
            output_pattern: PathBuf::from("/shared/slurm-logs/%A_%a.out"),
            workdir: PathBuf::from("/shared"),
            extra_args: vec!["--time=10".into()],
        };
        assert_eq!(
            sbatch_args(&submission),
            [
                "--parsable",
                "--array=0,3,5%2",
                "--job-name=cellrun-job",
                "--output=/shared/slurm-logs/%A_%a.out",
                "--chdir=/shared",
                "--partition=short",
                "--time=10",
                "/shared/cellrun.sbatch"
            ]
        );
    }
}

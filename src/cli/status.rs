//! `cellrun status DIR`: the state of a SLURM campaign, and `--wait` to follow it again.

use std::path::PathBuf;

use clap::Args;

use super::run::USAGE_EXIT;
use super::run_slurm;
use crate::slurm::{self, ShardView, SlurmCommands, SlurmError};

/// Show the shards of a SLURM campaign, or follow it to its end with --wait.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The shared directory of the campaign (the --output of `cellrun run --slurm`).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,

    /// Follow the campaign as `cellrun run --slurm` does: show progress, submit lost shards
    /// again, and merge the shards when all have ended. Ctrl+C cancels the array job.
    #[arg(long)]
    pub wait: bool,

    /// With --wait: show no progress; errors are still printed.
    #[arg(short, long, requires = "wait")]
    pub quiet: bool,
}

/// Runs `cellrun status` and returns the process exit status.
pub fn run(args: &StatusArgs) -> i32 {
    match execute(args) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("cellrun: error: {error}");
            USAGE_EXIT
        }
    }
}

fn execute(args: &StatusArgs) -> Result<i32, SlurmError> {
    let (dir, campaign, plan) = run_slurm::open_campaign(&args.dir)?;
    if args.wait {
        return run_slurm::follow(&dir, &plan, args.quiet);
    }

    let overview = slurm::overview(&dir, &campaign, plan.runs.len(), &SlurmCommands::default())?;
    println!("shard  state      runs     attempts  job       node");
    for shard in &overview.shards {
        let runs = format!("{}/{}", shard.runs_done, shard.runs);
        let job = shard.job.as_ref().map(|job| format!("{job}_{}", shard.shard)).unwrap_or_else(|| "-".into());
        let node = shard.node.as_deref().unwrap_or("-");
        println!("{:<6} {:<10} {runs:<8} {:<9} {job:<9} {node}", shard.shard, state_name(&shard.view), shard.attempts);
    }
    println!("{}", overview.line());
    for shard in &overview.shards {
        if let ShardView::Lost(reason) | ShardView::GaveUp(reason) = &shard.view {
            println!("shard {}: {reason}", shard.shard);
        }
    }
    if !overview.ended() {
        println!("follow the campaign with `cellrun status {} --wait`", dir.root().display());
    }
    Ok(0)
}

fn state_name(view: &ShardView) -> &'static str {
    match view {
        ShardView::Pending => "pending",
        ShardView::Running => "running",
        ShardView::Finished => "done",
        ShardView::Lost(_) => "lost",
        ShardView::GaveUp(_) => "failed",
    }
}

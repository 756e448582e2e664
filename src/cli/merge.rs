//! `cellrun merge DIR`: combine the shard results of a SLURM campaign into DIR.

use std::path::PathBuf;

use clap::Args;

use super::run::USAGE_EXIT;

/// Merge the shards of a SLURM campaign into one summary.csv, runs.jsonl and meta.json.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The shared directory of the campaign (the --output of `cellrun run --slurm`).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// Runs `cellrun merge` and returns the process exit status.
pub fn run(args: &MergeArgs) -> i32 {
    match crate::slurm::merge(&args.dir) {
        Ok(report) => {
            let total = report.records.len() + report.missing;
            println!("merged {} of {total} runs into {}", report.records.len(), report.root.join(crate::results::SUMMARY).display());
            if report.missing > 0 {
                println!("{} runs have no record yet; merge again when their shards have run", report.missing);
            }
            0
        }
        Err(error) => {
            eprintln!("cellrun: error: {error}");
            USAGE_EXIT
        }
    }
}

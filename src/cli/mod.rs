//! The command line: one subcommand per file, each with its options and its entry point.

pub mod check;
pub mod exec;
pub mod merge;
pub mod report;
pub mod run;
pub mod run_slurm;
pub mod schema;
pub mod status;

use clap::{Parser, Subcommand};

/// Run benchmark campaigns in isolated, measured Linux containers.
#[derive(Debug, Parser)]
#[command(name = "cellrun", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate a job file and show its runs without running them.
    Check(check::CheckArgs),
    /// Run one command in a container with limits and print its measurements, like `runexec`.
    Exec(exec::ExecArgs),
    /// Merge the shards of a SLURM campaign into one result directory.
    Merge(merge::MergeArgs),
    /// Print a table per tool and config from a result directory.
    Report(report::ReportArgs),
    /// Run every run of a job file, in parallel containers, into a result directory.
    Run(run::RunArgs),
    /// Print the JSON Schema of job files, for editors with a YAML language server.
    Schema,
    /// Show the shards of a SLURM campaign, or follow it to its end with --wait.
    Status(status::StatusArgs),
}

/// Runs the subcommand and returns the process exit status.
pub fn run(cli: Cli) -> i32 {
    match cli.command {
        Command::Check(args) => check::run(&args),
        Command::Exec(args) => exec::main(args),
        Command::Report(args) => report::run(args),
        Command::Run(args) => run::run(args),
        Command::Schema => schema::run(),
        Command::Merge(args) => merge::run(&args),
        Command::Status(args) => status::run(&args),
    }
}

/// Sends log messages to stderr; `CELLRUN_LOG` sets the filter (default: `warn`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CELLRUN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

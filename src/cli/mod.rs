//! The command line: one subcommand per file, each with its options and its entry point.

mod report;

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
    Report(report::ReportArgs),
}

/// Runs the subcommand and returns the process exit status.
pub fn run(cli: Cli) -> i32 {
    match cli.command {
        Command::Report(args) => report::run(args),
    }
}

//! The command line: one subcommand per file, each with its options and its entry point.

pub mod check;
pub mod schema;

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
    /// Print the JSON Schema of job files, for editors with a YAML language server.
    Schema,
}

/// Runs the subcommand and returns the process exit status.
pub fn run(cli: Cli) -> i32 {
    match cli.command {
        Command::Check(args) => check::run(&args),
        Command::Schema => schema::run(),
    }
}

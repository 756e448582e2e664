//! `cellrun report DIR`: the summary table of a result directory.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::report::{read_journal, render_markdown, render_text, summary_table};

/// Print the summary table of a result directory: per tool and config, the runs per
/// category, timeouts, out-of-memory runs and the CPU time of the correct runs.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Result directory written by `cellrun run`; its `runs.jsonl` is read.
    pub dir: PathBuf,

    /// Output format: aligned text for the terminal, or Markdown for papers and pull requests.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Text,
    Markdown,
}

/// Prints the table to standard output; returns 2 when the journal cannot be read.
pub fn run(args: ReportArgs) -> i32 {
    let journal = match read_journal(&args.dir) {
        Ok(journal) => journal,
        Err(error) => {
            eprintln!("error: {error}");
            return 2;
        }
    };

    for line in &journal.cut_lines {
        eprintln!("warning: skipped line {line} of the journal, which was cut short when a batch stopped");
    }

    let table = summary_table(&journal.records);
    let text = match args.format {
        ReportFormat::Text => render_text(&table),
        ReportFormat::Markdown => render_markdown(&table),
    };
    print!("{text}");
    0
}

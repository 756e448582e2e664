//! What cellrun shows about a campaign: progress while a batch runs, a summary at its end,
//! and the per tool and config table that `cellrun report` builds from the journal.
//!
//! Progress and messages go to stderr; data goes to files and stdout.

mod journal;
pub mod outcome;
pub mod progress;
mod table;
mod tally;

pub use journal::{JOURNAL_FILE, Journal, JournalError, parse_journal, read_journal};
pub use table::{SummaryRow, Table, render_markdown, render_text, summary_table};
pub use tally::{Tally, format_duration, printable};

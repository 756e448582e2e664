//! Summaries of a campaign for researchers, built from the journal of a result directory.

mod journal;
mod table;

pub use journal::{JOURNAL_FILE, Journal, JournalError, parse_journal, read_journal};
pub use table::{SummaryRow, Table, render_markdown, render_text, summary_table};

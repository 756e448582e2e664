//! The result directory: the journal, the CSV summary, logs, result files and metadata.

mod record;

pub use record::RunRecord;

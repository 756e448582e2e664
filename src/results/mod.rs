//! The result directory: the journal, the CSV summary, logs, result files and metadata.
//!
//! The journal is the durable record: a run counts as done once its line is on disk. The
//! summary and `meta.json` are derived views, replaced atomically so that neither a reader nor
//! a crash can leave half a file.

pub mod atomic;
mod dir;
mod error;
pub mod escape;
pub mod journal;
pub mod meta;
pub mod paths;
pub mod probe;
pub(crate) mod record;
pub mod summary;

pub use dir::{Inspection, JOB_COPY, JOURNAL, META, ResultDir, Resumed, SUMMARY};
pub use error::ResultsError;
pub use record::RunRecord;

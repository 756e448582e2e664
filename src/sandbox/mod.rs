//! One isolated, limited and measured run: the public entry point used by `cellrun exec`
//! and by the batch scheduler.

mod outcome;
mod request;

pub use outcome::{ExitStatus, RunOutcome, SkippedFile, TerminationReason};
pub use request::RunRequest;

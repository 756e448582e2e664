//! The terminal output of cellrun: progress while a batch runs and a report at its end.
//!
//! Everything here goes to stderr; data goes to files and stdout.

pub mod outcome;
pub mod progress;
mod tally;

pub use tally::{Tally, format_duration, printable};

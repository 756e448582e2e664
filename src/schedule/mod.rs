//! The scheduler: runs the planned runs of a job in parallel slots and records each one.
//!
//! Each slot is a thread that owns a disjoint set of CPU cores and pulls run indices from a
//! shared queue. A slot executes its run, judges it, appends the record to the journal and
//! only then reports it to the main thread, which alone drives the progress display and the
//! summary. A run that fails to set up becomes a record with status `failed`; it never stops
//! the batch.

mod batch;
mod dispatch;
mod error;
pub mod filter;
mod interrupt;
pub mod preflight;
mod request;
mod session;
mod slot;
pub mod topology;

use std::sync::atomic::AtomicBool;

use crate::sandbox::{RunOutcome, RunRequest};

pub use batch::{BatchEnd, BatchOptions, DryRun, dry_run, run_job};
pub use error::{BatchError, ScheduleError};
pub use filter::RunFilter;
pub use interrupt::{INTERRUPTED_EXIT, Interrupt};
pub use preflight::SlotPlan;
pub use topology::{SlotCpus, Topology};

/// Executes one run in isolation; the container implementation, or a fake in tests.
pub trait Executor: Sync {
    /// Runs `request` to its end and returns what it produced.
    ///
    /// When `cancel` becomes true the executor kills the run within a second and returns an
    /// outcome with termination reason `Killed`.
    fn execute(&self, request: &RunRequest, cancel: &AtomicBool) -> RunOutcome;

    /// Returns the CPUs and memory cellrun may give to runs.
    fn resources(&self) -> Resources;
}

/// The CPUs, memory nodes and memory cellrun may use, from the machine and its own cgroup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resources {
    pub cpus: Vec<usize>,
    pub memory_nodes: Vec<usize>,
    /// Memory in bytes.
    pub memory_bytes: u64,
}

//! cellrun: run benchmark campaigns in isolated, measured Linux containers.
//!
//! The flow of a batch: a job file (`spec`) is validated and expanded into a `plan`; the
//! `schedule` runs each planned run through the `sandbox`, which builds a `container` and a
//! `cgroup` for it; `results` stores each finished run durably; `verdict` judges answers and
//! `report` shows progress and summaries. `slurm` runs the same batch as shards of a SLURM
//! array job and merges their result directories.

pub mod cgroup;
pub mod cli;
pub mod container;
pub mod limits;
pub mod plan;
pub mod report;
pub mod results;
pub mod sandbox;
pub mod schedule;
pub mod slurm;
pub mod spec;
pub mod units;
pub mod verdict;

//! The resource limits of one run, after every level of the job file has been merged.
//!
//! `None` means "no limit". The container turns these into cgroup settings and into the
//! deadlines it watches; the job file and `cellrun exec` only ever produce this type.

use std::time::Duration;

use serde::Serialize;

use crate::units::Bytes;

/// How far the wall-time limit lies above the CPU-time limit when the job file sets no
/// wall-time limit: a run that waits on I/O still gets stopped, but never before it could use
/// its CPU time.
pub const WALLTIME_MARGIN: Duration = Duration::from_secs(30);

/// The limits of one run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// Memory including swap, tmpfs contents and the run's writable layers.
    pub memory: Option<Bytes>,
    /// Hard CPU-time limit over all processes of the run: the run is killed when it is reached.
    pub cputime: Option<Duration>,
    /// Soft CPU-time limit: the run gets SIGTERM, then SIGKILL after a grace period.
    pub soft_cputime: Option<Duration>,
    /// Wall-time limit, measured from the start of the tool.
    pub walltime: Option<Duration>,
    /// Number of CPU cores the run may use.
    pub cores: Option<u32>,
    /// Maximum number of processes and threads alive at once.
    pub processes: Option<u64>,
    /// Maximum size of the stored tool output; the rest is dropped from the middle.
    pub output: Option<Bytes>,
}

impl Limits {
    /// Returns the wall-time limit, derived from the CPU-time limit when none is set.
    ///
    /// The derived value is the CPU-time limit (the soft one when it is larger) plus
    /// [`WALLTIME_MARGIN`].
    pub fn effective_walltime(&self) -> Option<Duration> {
        if self.walltime.is_some() {
            return self.walltime;
        }
        let cpu = match (self.cputime, self.soft_cputime) {
            (Some(hard), Some(soft)) => Some(hard.max(soft)),
            (hard, soft) => hard.or(soft),
        };
        cpu.map(|limit| limit + WALLTIME_MARGIN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walltime_derived_from_cputime() {
        let limits = Limits { cputime: Some(Duration::from_secs(60)), ..Limits::default() };
        assert_eq!(limits.effective_walltime(), Some(Duration::from_secs(90)));
    }

    #[test]
    fn explicit_walltime_wins() {
        let limits = Limits {
            cputime: Some(Duration::from_secs(60)),
            walltime: Some(Duration::from_secs(5)),
            ..Limits::default()
        };
        assert_eq!(limits.effective_walltime(), Some(Duration::from_secs(5)));
    }

    #[test]
    fn no_time_limits_means_no_walltime() {
        assert_eq!(Limits::default().effective_walltime(), None);
    }
}

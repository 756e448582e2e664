//! The cgroup of one run on cgroup v2: measurement, killing and removal.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::DirOps;
use crate::cgroup::error::CgroupError;
use crate::cgroup::{fs as cgfs, kill, parse};

/// How long a freeze may take before the processes get SIGKILL anyway. On v2, SIGKILL
/// reaches frozen processes, so killing during a slow freeze is safe.
const FREEZE_TIMEOUT: Duration = Duration::from_millis(200);

/// The directory of one run in the unified hierarchy.
#[derive(Debug)]
pub struct V2Run {
    dir: PathBuf,
    ops: DirOps,
}

impl V2Run {
    pub(super) fn new(dir: PathBuf, ops: DirOps) -> V2Run {
        V2Run { dir, ops }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn add_process(&self, pid: i32) -> Result<(), CgroupError> {
        cgfs::write(&self.dir.join("cgroup.procs"), &pid.to_string())
    }

    pub fn cpu_time(&self) -> Result<Duration, CgroupError> {
        let microseconds = cgfs::read_keyed(&self.dir.join("cpu.stat"), "usage_usec")?;
        Ok(Duration::from_micros(microseconds))
    }

    /// Returns the sum of the peaks of memory and of swap, or `None` on kernels without
    /// `memory.peak` (before Linux 5.19) or without the memory controller.
    pub fn memory_peak(&self) -> Result<Option<u64>, CgroupError> {
        let memory = self.dir.join("memory.peak");
        if !memory.exists() {
            return Ok(None);
        }
        let mut peak = cgfs::read_u64(&memory)?;
        let swap = self.dir.join("memory.swap.peak");
        if swap.exists() {
            peak += cgfs::read_u64(&swap)?;
        }
        Ok(Some(peak))
    }

    /// Returns the `oom_kill` count of `memory.events`; 0 without the memory controller,
    /// where no memory limit could have triggered the OOM killer.
    pub fn oom_kills(&self) -> Result<u64, CgroupError> {
        let events = self.dir.join("memory.events");
        if !events.exists() {
            return Ok(0);
        }
        cgfs::read_keyed(&events, "oom_kill")
    }

    /// Kills every process of the run: with `cgroup.kill` (Linux 5.14 and later), which
    /// also kills children forked during the kill, else by freezing, sending SIGKILL to each pid and thawing.
    pub fn kill_all(&self) -> Result<(), CgroupError> {
        let kill_file = self.dir.join("cgroup.kill");
        let list = || cgfs::pids_in_subtree(&self.dir);
        if kill_file.exists() {
            kill::kill_until_empty(&self.dir, list, |_| cgfs::write(&kill_file, "1"))
        } else {
            kill::kill_until_empty(&self.dir, list, |_| self.freeze_and_kill())
        }
    }

    /// Freezes the cgroup, sends SIGKILL to each process and thaws it. Kernels before
    /// Linux 5.2 have no `cgroup.freeze`, so there the signals go out without a freeze.
    fn freeze_and_kill(&self) -> Result<(), CgroupError> {
        let freeze = self.dir.join("cgroup.freeze");
        if !freeze.exists() {
            kill::sigkill_all(&cgfs::pids_in_subtree(&self.dir)?);
            return Ok(());
        }
        let events = self.dir.join("cgroup.events");
        cgfs::write(&freeze, "1")?;
        let frozen = cgfs::wait_until(FREEZE_TIMEOUT, || {
            cgfs::read(&events).is_ok_and(|text| parse::keyed_value(&text, "frozen") == Some(1))
        });
        if !frozen {
            tracing::debug!(path = %self.dir.display(), "freezing did not finish, killing anyway");
        }
        let killed = cgfs::pids_in_subtree(&self.dir).map(|pids| kill::sigkill_all(&pids));
        let thawed = cgfs::write(&freeze, "0");
        killed.and(thawed)
    }

    pub fn remove(&self) -> Result<(), CgroupError> {
        self.kill_all()?;
        kill::remove_subtree(&self.dir, self.ops.remove)
    }
}

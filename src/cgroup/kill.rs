//! Killing every process of a cgroup and removing cgroup directories, for both backends.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::error::CgroupError;
use super::fs as cgfs;

/// How long killing waits for the processes of a cgroup to disappear, and how long removal
/// retries a cgroup the kernel still reports busy.
pub const KILL_TIMEOUT: Duration = Duration::from_secs(1);

/// Runs `kill_round` on the pids `list_pids` returns until it returns none, or fails with
/// the remaining pids after [`KILL_TIMEOUT`].
pub fn kill_until_empty(
    path: &Path,
    mut list_pids: impl FnMut() -> Result<Vec<i32>, CgroupError>,
    mut kill_round: impl FnMut(&[i32]) -> Result<(), CgroupError>,
) -> Result<(), CgroupError> {
    let start = Instant::now();
    loop {
        let pids = list_pids()?;
        if pids.is_empty() {
            return Ok(());
        }
        if start.elapsed() >= KILL_TIMEOUT {
            return Err(CgroupError::NotEmpty {
                path: path.to_path_buf(),
                pids,
                waited_ms: start.elapsed().as_millis(),
            });
        }
        kill_round(&pids)?;
        cgfs::wait_until(Duration::from_millis(100), || {
            list_pids().is_ok_and(|pids| pids.is_empty())
        });
    }
}

/// Sends SIGKILL to each pid, skipping cellrun itself and pids that already exited.
pub fn sigkill_all(pids: &[i32]) {
    let own = std::process::id() as i32;
    for &pid in pids.iter().filter(|&&pid| pid != own && pid > 0) {
        if let Err(errno) = kill(Pid::from_raw(pid), Signal::SIGKILL)
            && errno != nix::errno::Errno::ESRCH
        {
            tracing::warn!(pid, %errno, "failed to send SIGKILL to a process of a run");
        }
    }
}

/// Thaws `dir` and every cgroup below it, parents first, through the v1 `freezer.state` or
/// the v2 `cgroup.freeze`, whichever exists.
pub fn thaw_subtree(dir: &Path) -> Result<(), CgroupError> {
    for cgroup in cgfs::subtree_deepest_first(dir)?.iter().rev() {
        let v1_state = cgroup.join("freezer.state");
        if v1_state.exists() {
            cgfs::write(&v1_state, "THAWED")?;
        }
        let v2_freeze = cgroup.join("cgroup.freeze");
        if v2_freeze.exists() {
            cgfs::write(&v2_freeze, "0")?;
        }
    }
    Ok(())
}

/// Removes `dir` and every cgroup below it with `remove_dir`, children first, retrying for
/// up to [`KILL_TIMEOUT`] while the kernel still reports a cgroup busy because its last
/// processes are exiting.
pub fn remove_subtree(
    dir: &Path,
    remove_dir: fn(&Path) -> io::Result<()>,
) -> Result<(), CgroupError> {
    if !dir.exists() {
        return Ok(());
    }
    for cgroup in cgfs::subtree_deepest_first(dir)? {
        remove_one(&cgroup, remove_dir)?;
    }
    Ok(())
}

fn remove_one(dir: &Path, remove_dir: fn(&Path) -> io::Result<()>) -> Result<(), CgroupError> {
    let start = Instant::now();
    loop {
        match remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(error)
                if error.raw_os_error() == Some(libc::EBUSY) && start.elapsed() < KILL_TIMEOUT =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(source) => {
                return Err(CgroupError::Remove {
                    path: dir.to_path_buf(),
                    source,
                });
            }
        }
    }
}

/// Removes each directory and its subtree, trying all of them; returns the first error.
pub fn remove_all(
    dirs: &[PathBuf],
    remove_dir: fn(&Path) -> io::Result<()>,
) -> Result<(), CgroupError> {
    let mut first_error = None;
    for dir in dirs {
        if let Err(error) = remove_subtree(dir, remove_dir) {
            first_error.get_or_insert(error);
        }
    }
    first_error.map_or(Ok(()), Err)
}

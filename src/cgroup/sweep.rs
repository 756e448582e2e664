//! Removal of `cellrun-<pid>` cgroups left behind by cellrun processes that died without
//! cleaning up (SIGKILL, power loss inside a VM, a crash).
//!
//! A `cellrun-<pid>` cgroup is stale when no process `<pid>` exists, or when the process
//! with that pid started after the cgroup was last changed, so that it is a later process
//! that reuses the pid. The owner is the process that created the cgroup, whatever its
//! name, which keeps test binaries and renamed executables safe from a sweep.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::error::CgroupError;
use super::{fs as cgfs, kill, names};

/// Tolerance between the process start time (from clock ticks and a boot time in whole
/// seconds) and the cgroup's change time. It errs on the side of keeping a cgroup.
const START_TIME_SLACK: Duration = Duration::from_secs(2);

/// Finds the stale `cellrun-<pid>` cgroups in each of `containers` (the cgroups that hold
/// them, one per hierarchy), kills their processes and removes them with `remove_dir`.
pub fn sweep(
    containers: &[PathBuf],
    remove_dir: fn(&Path) -> io::Result<()>,
) -> Result<Vec<PathBuf>, CgroupError> {
    let stale = find_stale(containers)?;

    let label = stale.first().cloned().unwrap_or_default();
    kill::kill_until_empty(
        &label,
        || {
            let mut remaining = Vec::new();
            for dir in &stale {
                remaining.extend(cgfs::pids_in_subtree(dir)?);
            }
            // On v1 every process appears once per hierarchy.
            remaining.sort_unstable();
            remaining.dedup();
            Ok(remaining)
        },
        |pids| {
            // A cellrun killed while it froze a run leaves the run frozen, and frozen v1
            // processes act on SIGKILL only once thawed.
            for dir in &stale {
                kill::thaw_subtree(dir)?;
            }
            kill::sigkill_all(pids);
            Ok(())
        },
    )?;

    kill::remove_all(&stale, remove_dir)?;
    for dir in &stale {
        tracing::info!(path = %dir.display(), "removed a stale cellrun cgroup");
    }
    Ok(stale)
}

fn find_stale(containers: &[PathBuf]) -> Result<Vec<PathBuf>, CgroupError> {
    let own_pid = std::process::id() as i32;
    let mut stale = Vec::new();
    for container in containers {
        let entries = fs::read_dir(container).map_err(|source| CgroupError::Read {
            path: container.clone(),
            source,
        })?;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) = name.to_str().and_then(names::parent_pid) else {
                continue;
            };
            if pid != own_pid && !owner_alive(pid, &entry.path()) {
                stale.push(entry.path());
            }
        }
    }
    Ok(stale)
}

/// Returns whether the process that created `dir` still runs as `pid`.
fn owner_alive(pid: i32, dir: &Path) -> bool {
    let Some(started) = process_start_time(pid) else {
        return false;
    };
    let changed = match fs::metadata(dir).and_then(|meta| meta.modified()) {
        Ok(time) => time,
        // Without a time to compare, keeping the cgroup is the safe choice.
        Err(_) => return true,
    };
    started <= changed + START_TIME_SLACK
}

/// Returns when process `pid` started, from `/proc/<pid>/stat` and the boot time in
/// `/proc/stat`; `None` when no such process exists.
fn process_start_time(pid: i32) -> Option<SystemTime> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Field 22 (starttime, in clock ticks since boot) counts from the process name, which
    // ends at the last `)` and may itself contain spaces.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let start_ticks: u64 = after_name.split_whitespace().nth(19)?.parse().ok()?;

    let boot_stat = fs::read_to_string("/proc/stat").ok()?;
    let boot_seconds = super::parse::keyed_value(&boot_stat, "btime")?;
    let ticks_per_second = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).ok()??;
    let ticks_per_second = u64::try_from(ticks_per_second)
        .ok()
        .filter(|ticks| *ticks > 0)?;

    let since_boot = Duration::from_millis(start_ticks * 1000 / ticks_per_second);
    Some(UNIX_EPOCH + Duration::from_secs(boot_seconds) + since_boot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_time_of_own_process_is_past() {
        let started = process_start_time(std::process::id() as i32).unwrap();
        assert!(started <= SystemTime::now() + START_TIME_SLACK);
        assert!(started > SystemTime::now() - Duration::from_secs(3600));
    }

    #[test]
    fn missing_process_is_not_alive() {
        let dir = tempfile::tempdir().unwrap();
        // Pids above the kernel's maximum (4194304) never exist.
        assert!(!owner_alive(i32::MAX, dir.path()));
    }

    #[test]
    fn pid_reused_after_cgroup_change_is_not_owner() {
        let dir = tempfile::tempdir().unwrap();
        let own_pid = std::process::id() as i32;
        let started = process_start_time(own_pid).unwrap();
        fs::File::open(dir.path())
            .unwrap()
            .set_modified(started - Duration::from_secs(600))
            .unwrap();
        assert!(!owner_alive(own_pid, dir.path()));
    }

    #[test]
    fn process_older_than_cgroup_is_owner() {
        let dir = tempfile::tempdir().unwrap();
        assert!(owner_alive(std::process::id() as i32, dir.path()));
    }

    #[test]
    fn sweep_removes_only_stale_parents() {
        let container = tempfile::tempdir().unwrap();
        let stale = container.path().join(format!("cellrun-{}", i32::MAX));
        let live = container
            .path()
            .join(format!("cellrun-{}", std::process::id()));
        let other = container.path().join("user.slice");
        for dir in [&stale, &live, &other] {
            fs::create_dir(dir).unwrap();
            fs::write(dir.join("cgroup.procs"), "").unwrap();
        }
        fs::create_dir(stale.join("3-run")).unwrap();
        fs::write(stale.join("3-run/cgroup.procs"), "").unwrap();

        let removed = sweep(&[container.path().to_path_buf()], |dir| {
            fs::remove_dir_all(dir)
        })
        .unwrap();

        assert_eq!(removed, vec![stale.clone()]);
        assert!(!stale.exists());
        assert!(live.exists());
        assert!(other.exists());
    }
}

//! Checked reads and writes of cgroup control files.
//!
//! Every write goes out as one `write(2)` call, because the kernel parses each call on its
//! own, and every failure returns the file, the value and the errno.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use super::error::CgroupError;
use super::parse;

pub fn read(path: &Path) -> Result<String, CgroupError> {
    fs::read_to_string(path).map_err(|source| CgroupError::Read {
        path: path.to_path_buf(),
        source,
    })
}

pub fn write(path: &Path, value: &str) -> Result<(), CgroupError> {
    let error = |source| CgroupError::Write {
        path: path.to_path_buf(),
        value: value.to_string(),
        source,
    };
    let mut file = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .map_err(error)?;
    let written = file.write(value.as_bytes()).map_err(error)?;
    if written != value.len() {
        return Err(error(io::Error::new(
            io::ErrorKind::WriteZero,
            "short write",
        )));
    }
    Ok(())
}

/// Reads a file holding one unsigned number.
pub fn read_u64(path: &Path) -> Result<u64, CgroupError> {
    let text = read(path)?;
    text.trim()
        .parse()
        .map_err(|_| parse_error(path, text, "an unsigned number"))
}

/// Reads `key` from a flat keyed file such as `cpu.stat` or `memory.events`.
pub fn read_keyed(path: &Path, key: &'static str) -> Result<u64, CgroupError> {
    let text = read(path)?;
    parse::keyed_value(&text, key).ok_or_else(|| parse_error(path, text, key))
}

pub fn read_cpu_list(path: &Path) -> Result<Vec<usize>, CgroupError> {
    let text = read(path)?;
    parse::parse_cpu_list(&text).ok_or_else(|| parse_error(path, text, "a list such as 0-3,8"))
}

pub fn read_pids(path: &Path) -> Result<Vec<i32>, CgroupError> {
    let text = read(path)?;
    parse::parse_pids(&text).ok_or_else(|| parse_error(path, text, "one pid per line"))
}

pub fn parse_error(path: &Path, content: String, expected: &'static str) -> CgroupError {
    CgroupError::Parse {
        path: path.to_path_buf(),
        content,
        expected,
    }
}

/// Returns the pids in `cgroup.procs` of `dir` and of all cgroups below it.
pub fn pids_in_subtree(dir: &Path) -> Result<Vec<i32>, CgroupError> {
    let mut pids = Vec::new();
    for cgroup in subtree_deepest_first(dir)? {
        pids.extend(read_pids(&cgroup.join("cgroup.procs"))?);
    }
    Ok(pids)
}

/// Lists `dir` and every cgroup below it, children before their parents, so that removing
/// them in this order always removes an empty cgroup.
pub fn subtree_deepest_first(dir: &Path) -> Result<Vec<PathBuf>, CgroupError> {
    let mut ordered = Vec::new();
    collect_subtree(dir, &mut ordered)?;
    Ok(ordered)
}

fn collect_subtree(dir: &Path, ordered: &mut Vec<PathBuf>) -> Result<(), CgroupError> {
    let entries = fs::read_dir(dir).map_err(|source| CgroupError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    for entry in entries {
        let entry = entry.map_err(|source| CgroupError::Read {
            path: dir.to_path_buf(),
            source,
        })?;
        let is_dir = entry.file_type().map(|kind| kind.is_dir()).unwrap_or(false);
        if is_dir {
            collect_subtree(&entry.path(), ordered)?;
        }
    }
    ordered.push(dir.to_path_buf());
    Ok(())
}

/// Polls `done` every few milliseconds until it returns true or `timeout` passes; returns
/// whether it became true.
pub fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        if done() {
            return true;
        }
        if start.elapsed() >= timeout {
            return false;
        }
        thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

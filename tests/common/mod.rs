//! Helpers shared by the integration tests: privileged-test gating, fresh directories,
//! running `cellrun` and reading its results.
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use std::io::Write;

/// Returns whether the test runs as root and may use privileged features.
///
/// When not root, it prints a SKIP line naming the caller to stderr and returns false, so
/// the test can return early. With `CELLRUN_REQUIRE_PRIVILEGED=1` set (as in CI), a missing
/// privilege fails the test instead, so that no privileged test passes without running.
#[track_caller]
pub fn require_root() -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    let caller = std::panic::Location::caller();
    if std::env::var("CELLRUN_REQUIRE_PRIVILEGED").is_ok_and(|value| value == "1") {
        panic!(
            "{caller}: this test needs root, and CELLRUN_REQUIRE_PRIVILEGED=1 forbids skipping it"
        );
    }
    // Written to the stderr handle, not with eprintln!, because the test harness captures
    // the print macros of passing tests and the skip must stay visible.
    let message = format!(
        "SKIP {caller}: this test needs root; run it as root, or set \
         CELLRUN_REQUIRE_PRIVILEGED=1 to make the skip a failure\n"
    );
    let _ = std::io::stderr().write_all(message.as_bytes());
    false
}

/// The directory below which tests create their files: `CELLRUN_TEST_DIR`, or
/// `/var/tmp/cellrun-tests`. It must not lie below `/tmp`, which containers hide by default,
/// so it does not follow the build directory, which may be in a clone below `/tmp`.
pub fn tests_base() -> PathBuf {
    let base = std::env::var_os("CELLRUN_TEST_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/var/tmp/cellrun-tests"));
    std::fs::create_dir_all(&base).unwrap();
    base
}

/// A fresh directory for one test, below [`tests_base`].
pub fn test_dir(name: &str) -> PathBuf {
    let dir = tests_base().join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The cellrun binary under test.
pub fn cellrun() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cellrun"))
}

/// Runs `cellrun exec --json` with `options` and `command` in `dir`; returns the parsed
/// outcome, the exit status and the stored output (without its header).
pub fn exec(dir: &Path, options: &[&str], command: &[&str]) -> Exec {
    let output = cellrun()
        .current_dir(dir)
        .arg("exec")
        .arg("--json")
        .args(options)
        .arg("--")
        .args(command)
        .output()
        .expect("cellrun runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let outcome: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|error| {
        panic!("no JSON outcome ({error}); stdout: {stdout}; stderr: {}", String::from_utf8_lossy(&output.stderr))
    });
    let log_path = dir.join("output.log");
    let log = std::fs::read(&log_path).unwrap_or_default();
    let log = String::from_utf8_lossy(&log).into_owned();
    let body = match log.find("\n\n") {
        Some(index) => log[index + 2..].to_string(),
        None => log.clone(),
    };
    Exec { outcome, status: output.status.code(), stderr: String::from_utf8_lossy(&output.stderr).into_owned(), output: body }
}

/// The result of one `cellrun exec`.
pub struct Exec {
    pub outcome: serde_json::Value,
    pub status: Option<i32>,
    pub stderr: String,
    pub output: String,
}

impl Exec {
    pub fn exit_code(&self) -> Option<i64> {
        self.outcome["exit"]["exited"].as_i64()
    }

    pub fn signal(&self) -> Option<i64> {
        self.outcome["exit"]["signaled"].as_i64()
    }

    pub fn termination(&self) -> Option<&str> {
        self.outcome["termination"].as_str()
    }

    pub fn cputime(&self) -> f64 {
        duration_seconds(&self.outcome["cputime"])
    }

    pub fn walltime(&self) -> f64 {
        duration_seconds(&self.outcome["walltime"])
    }

    pub fn memory(&self) -> u64 {
        self.outcome["memory_peak"].as_u64().unwrap_or(0)
    }
}

fn duration_seconds(value: &serde_json::Value) -> f64 {
    value["secs"].as_f64().unwrap_or(0.0) + value["nanos"].as_f64().unwrap_or(0.0) / 1e9
}

/// Lists cellrun's leftover cgroups, scratch directories and mounts on the host.
pub fn leftovers() -> Vec<String> {
    let mut found = Vec::new();
    for entry in walkdir::WalkDir::new("/sys/fs/cgroup").max_depth(6).into_iter().flatten() {
        let name = entry.file_name().to_string_lossy();
        if entry.file_type().is_dir() && name.starts_with("cellrun-") && !owner_alive(&name["cellrun-".len()..]) {
            found.push(format!("cgroup: {}", entry.path().display()));
        }
    }
    let scratch = std::env::temp_dir().join(".cellrun-scratch");
    for entry in std::fs::read_dir(&scratch).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if owner_alive(name.split('-').next().unwrap_or("")) {
            continue;
        }
        found.push(format!("scratch directory: {}", entry.path().display()));
    }
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    for line in mountinfo.lines().filter(|line| line.contains(".cellrun-scratch")) {
        found.push(format!("mount: {line}"));
    }
    found
}

/// Tells whether the cellrun process with this pid still runs; its cgroups and scratch
/// directories are then in use, not left behind.
fn owner_alive(pid: &str) -> bool {
    !pid.is_empty() && Path::new("/proc").join(pid).exists()
}

/// Creates a temporary job directory holding `files` (path, contents); files under `bin/`
/// are made executable. The directory is not under `/tmp`, which runs see as hidden.
pub fn job_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir_in(tests_base()).expect("create temp dir");
    for (path, contents) in files {
        write_file(dir.path(), path, contents);
    }
    dir
}

pub fn write_file(dir: &Path, path: &str, contents: &str) {
    let full = dir.join(path);
    std::fs::create_dir_all(full.parent().expect("file has a parent")).expect("create dirs");
    std::fs::write(&full, contents).expect("write file");
    if path.starts_with("bin/") {
        std::fs::set_permissions(&full, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
}

/// Runs `cellrun` with `args` in `dir`, with a fixed `PATH` so messages do not depend on
/// the machine.
pub fn cellrun_in(dir: &Path, args: &[&str]) -> Output {
    let mut command = assert_cmd::cargo::cargo_bin_cmd!("cellrun");
    command.current_dir(dir).env("PATH", "/usr/bin:/bin").args(args);
    command.output().expect("run cellrun")
}

/// The input files most job files in the tests use.
pub const TASK_FILES: &[(&str, &str)] = &[
    ("cnf/php-3-2.cnf", "p cnf 1 1\n1 0\n"),
    ("cnf/php-4-3.cnf", "p cnf 1 1\n1 0\n"),
    ("cnf/rand-sat.cnf", "p cnf 1 1\n1 0\n"),
    ("bin/solver", "#!/bin/sh\nexit 10\n"),
];

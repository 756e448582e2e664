//! Helpers shared by the job-file tests: a fresh directory per test with the files a job
//! file refers to, and a way to run `cellrun` in it.

#![allow(dead_code, reason = "each test file uses a different subset")]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;

/// Creates a temporary job directory holding `files` (path, contents); files under `bin/`
/// are made executable. The directory is not under `/tmp`, which runs see as hidden.
pub fn job_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("create temp dir");
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
pub fn cellrun(dir: &Path, args: &[&str]) -> Output {
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

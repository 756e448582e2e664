//! Rootless mode: cellrun started as a normal user (`nobody`) on this host, where no cgroup
//! is delegated to that user. The test binary runs as root and drops to `nobody` with
//! `setpriv` for each run.

mod common;

use std::os::unix::fs::chown;
use std::path::Path;
use std::process::Command;

use common::{require_root, test_dir};

const NOBODY: u32 = 65534;

/// Runs `cellrun exec --json OPTIONS -- COMMAND` as `nobody` in `dir`.
fn exec_as_nobody(dir: &Path, options: &[&str], command: &[&str]) -> (serde_json::Value, String, String, Option<i32>) {
    let output = Command::new("setpriv")
        .args(["--reuid", "65534", "--regid", "65534", "--clear-groups", "--"])
        .arg(env!("CARGO_BIN_EXE_cellrun"))
        .arg("exec")
        .arg("--json")
        .args(options)
        .arg("--")
        .args(command)
        .current_dir(dir)
        .env("HOME", dir)
        .output()
        .expect("setpriv runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let outcome = serde_json::from_str(stdout.trim()).unwrap_or(serde_json::Value::Null);
    let log = std::fs::read_to_string(dir.join("output.log")).unwrap_or_default();
    let body = log.split_once("\n\n").map(|(_, body)| body.to_string()).unwrap_or_default();
    (outcome, body, stderr, output.status.code())
}

fn nobody_dir(name: &str) -> std::path::PathBuf {
    let dir = test_dir(name);
    chown(&dir, Some(NOBODY), Some(NOBODY)).unwrap();
    dir
}

#[test]
fn rootless_default_modes_keep_host_unchanged() {
    if !require_root() {
        return;
    }
    let dir = nobody_dir("rootless-modes");
    let script = "id -u; echo x > /etc/cellrun-rootless-probe && cat /etc/cellrun-rootless-probe; \
                  echo y > local.txt; ls -A /tmp | wc -l; hostname; ls /proc | grep -c '^[0-9]'";
    let (outcome, output, stderr, status) = exec_as_nobody(&dir, &[], &["sh", "-c", script]);
    assert_eq!(status, Some(0), "{stderr}");
    assert_eq!(outcome["exit"]["exited"], 0, "{outcome} {stderr}");
    let lines: Vec<&str> = output.lines().collect();
    assert_eq!(lines[0], "65534", "the tool runs as the user");
    assert_eq!(lines[1], "x");
    assert_eq!(lines[2], "0", "/tmp is hidden");
    assert_eq!(lines[3], "cellrun");
    assert!(lines[4].parse::<u32>().unwrap() <= 4);
    assert!(!Path::new("/etc/cellrun-rootless-probe").exists());
    assert!(!dir.join("local.txt").exists());
}

#[test]
fn rootless_measures_cputime_without_cgroup() {
    if !require_root() {
        return;
    }
    let dir = nobody_dir("rootless-cputime");
    let burn = "python3 -c 'import time\nwhile time.process_time() < 0.5: pass'";
    let (outcome, _, stderr, _) = exec_as_nobody(&dir, &[], &["sh", "-c", &format!("{burn} & {burn}; wait")]);
    let cputime = outcome["cputime"]["secs"].as_f64().unwrap_or(0.0) + outcome["cputime"]["nanos"].as_f64().unwrap_or(0.0) / 1e9;
    assert!(cputime >= 1.0, "cputime {cputime} must cover both processes: {outcome} {stderr}");
}

#[test]
fn rootless_refuses_limits_it_cannot_enforce() {
    if !require_root() {
        return;
    }
    let dir = nobody_dir("rootless-refuse");
    let (outcome, _, stderr, status) = exec_as_nobody(&dir, &["--memlimit", "100MB", "--timelimit", "5s"], &["true"]);
    assert_eq!(status, Some(1));
    assert_eq!(outcome["termination"], "failed");
    assert!(stderr.contains("memory, cputime"), "{stderr}");
    assert!(stderr.contains("--allow-unenforced-limits"), "{stderr}");
    assert!(stderr.contains("Delegate=yes"), "{stderr}");

    let (accepted, output, stderr, status) =
        exec_as_nobody(&dir, &["--memlimit", "100MB", "--allow-unenforced-limits"], &["echo", "ran"]);
    assert_eq!(status, Some(0), "{stderr}");
    assert_eq!(accepted["exit"]["exited"], 0);
    assert_eq!(output, "ran\n");
}

#[test]
fn rootless_walltime_and_output_limits_hold() {
    if !require_root() {
        return;
    }
    let dir = nobody_dir("rootless-walltime");
    let (outcome, _, stderr, _) = exec_as_nobody(&dir, &["--walltimelimit", "1s"], &["sleep", "10"]);
    assert_eq!(outcome["termination"], "walltime", "{stderr}");

    let (outcome, output, _, _) = exec_as_nobody(&dir, &["--maxOutputSize", "100kB"], &["sh", "-c", "seq 1 100000; echo LAST"]);
    assert_eq!(outcome["output_truncated"], true);
    assert!(output.trim_end().ends_with("LAST"));
    assert!(output.len() < 101_000);
}

/// Runs `cellrun run JOB --output OUT` as `nobody` in `dir`; returns the exit status and the
/// summary rows as `run_id,status` pairs.
fn run_job_as_nobody(dir: &Path, job: &str) -> (Option<i32>, Vec<(String, String)>, String) {
    std::fs::write(dir.join("job.yaml"), job).unwrap();
    let output = Command::new("setpriv")
        .args(["--reuid", "65534", "--regid", "65534", "--clear-groups", "--"])
        .arg(env!("CARGO_BIN_EXE_cellrun"))
        .args(["run", "job.yaml", "--output", "out", "--quiet"])
        .current_dir(dir)
        .env("HOME", dir)
        .output()
        .expect("setpriv runs");
    let csv = std::fs::read_to_string(dir.join("out/summary.csv")).unwrap_or_default();
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let headers = reader.headers().unwrap().clone();
    let column = |name: &str| headers.iter().position(|header| header == name).unwrap();
    let rows = reader
        .records()
        .map(|row| {
            let row = row.unwrap();
            (row[column("run_id")].to_string(), row[column("status")].to_string())
        })
        .collect();
    (output.status.code(), rows, String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn rootless_batch_honours_unenforced_limits_key() {
    if !require_root() {
        return;
    }
    let job = "defaults:\n  limits: {memory: 200 MiB}\ncommands:\n  hello:\n    command: [echo, hello]\n";
    let rejecting = nobody_dir("rootless-batch-reject");
    let (_, rows, stderr) = run_job_as_nobody(&rejecting, job);
    assert_eq!(rows, [("hello".to_string(), "failed".to_string())], "{stderr}");

    let accepting = nobody_dir("rootless-batch-accept");
    let (status, rows, stderr) = run_job_as_nobody(&accepting, &format!("unenforced_limits: accept\n{job}"));
    assert_eq!(status, Some(0), "{stderr}");
    assert_eq!(rows, [("hello".to_string(), "done".to_string())], "{stderr}");
}

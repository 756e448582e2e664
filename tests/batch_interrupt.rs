//! Interrupting a whole batch and resuming it, through the `cellrun` binary with real
//! containers: Ctrl+C (SIGINT), SIGTERM and `kill -9` of cellrun itself.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{require_root, test_dir};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// A job of 4 quick runs, 8 long ones and 20 queued ones. The long runs sleep until the file
/// `release` exists in the job directory, so the same job file finishes quickly on resume.
fn write_job(dir: &Path) -> PathBuf {
    let mut job = String::from("parallel: 2\ndefaults:\n  limits: {cores: 1}\ncommands:\n");
    for index in 1..=4 {
        job.push_str(&format!("  quick-{index}:\n    command: [sh, -c, 'echo q']\n"));
    }
    for index in 1..=8 {
        let script = "while ! test -e release; do sleep 0.05; done; echo long c15marker";
        job.push_str(&format!("  long-{index}:\n    command: [sh, -c, '{script}']\n"));
    }
    for index in 1..=20 {
        job.push_str(&format!("  queued-{index}:\n    command: [sh, -c, 'echo z']\n"));
    }
    let path = dir.join("job.yaml");
    std::fs::write(&path, job).unwrap();
    path
}

fn start_batch(dir: &Path, extra: &[&str]) -> Child {
    common::cellrun()
        .current_dir(dir)
        .args(["run", "job.yaml", "--quiet"])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn journal_lines(output: &Path) -> usize {
    std::fs::read_to_string(output.join("runs.jsonl")).map(|text| text.lines().count()).unwrap_or(0)
}

/// Waits until the four quick runs are in the journal and two long runs are running.
fn wait_for_long_runs(output: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let running = Command::new("pgrep").args(["-f", "release; do sleep"]).output().unwrap();
        let long_running = String::from_utf8_lossy(&running.stdout).lines().count();
        if journal_lines(output) >= 4 && long_running >= 2 {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the long runs did not start within 60 s");
}

/// Reads `summary.csv` into (run id, status) pairs.
fn summary_rows(output: &Path) -> Vec<(String, String)> {
    let mut reader = csv::Reader::from_path(output.join("summary.csv")).unwrap();
    let headers = reader.headers().unwrap().clone();
    let id = headers.iter().position(|name| name == "run_id").unwrap();
    let status = headers.iter().position(|name| name == "status").unwrap();
    reader.records().map(|row| row.unwrap()).map(|row| (row[id].to_string(), row[status].to_string())).collect()
}

fn wait_with_timeout(child: &mut Child, limit: Duration) -> Option<i32> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    panic!("cellrun did not exit within {limit:?}");
}

fn assert_no_run_processes() {
    let found = Command::new("pgrep").args(["-f", "release; do sleep"]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&found.stdout).trim(), "", "run processes outlived the batch");
}

/// Checks the final summary after a resume: every run exactly once, all finished.
fn assert_complete(output: &Path) {
    let rows = summary_rows(output);
    assert_eq!(rows.len(), 32, "{rows:?}");
    let mut ids: Vec<&str> = rows.iter().map(|(id, _)| id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 32, "a run appears twice");
    assert!(rows.iter().all(|(_, status)| status == "done"), "{rows:?}");
}

fn interrupt_then_resume(name: &str, signal: Signal) {
    let dir = test_dir(name);
    write_job(&dir);
    let output = dir.join("out");
    let mut batch = start_batch(&dir, &["--output", "out"]);
    wait_for_long_runs(&output);

    let sent = Instant::now();
    kill(Pid::from_raw(batch.id() as i32), signal).unwrap();
    let status = wait_with_timeout(&mut batch, Duration::from_secs(10));
    assert_eq!(status, Some(130));
    assert!(sent.elapsed() < Duration::from_secs(10));
    assert_no_run_processes();
    assert_eq!(common::leftovers(), Vec::<String>::new());

    let rows = summary_rows(&output);
    let done = rows.iter().filter(|(id, status)| id.starts_with("quick-") && status == "done").count();
    let interrupted = rows.iter().filter(|(id, status)| id.starts_with("long-") && status == "interrupted").count();
    assert_eq!(done, 4, "{rows:?}");
    assert_eq!(interrupted, 2, "{rows:?}");

    std::fs::write(dir.join("release"), "").unwrap();
    let mut resumed = start_batch(&dir, &["--resume", "out"]);
    assert_eq!(wait_with_timeout(&mut resumed, Duration::from_secs(120)), Some(0));
    assert_complete(&output);
    assert_eq!(common::leftovers(), Vec::<String>::new());
}

#[test]
fn c15_sigint_then_resume() {
    if !require_root() {
        return;
    }
    interrupt_then_resume("c15-sigint", Signal::SIGINT);
}

#[test]
fn c15_sigterm_then_resume() {
    if !require_root() {
        return;
    }
    interrupt_then_resume("c15-sigterm", Signal::SIGTERM);
}

#[test]
fn c15_kill9_then_resume() {
    if !require_root() {
        return;
    }
    let dir = test_dir("c15-kill9");
    write_job(&dir);
    let output = dir.join("out");
    let mut batch = start_batch(&dir, &["--output", "out"]);
    wait_for_long_runs(&output);

    kill(Pid::from_raw(batch.id() as i32), Signal::SIGKILL).unwrap();
    batch.wait().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert_no_run_processes();

    std::fs::write(dir.join("release"), "").unwrap();
    let mut resumed = start_batch(&dir, &["--resume", "out"]);
    assert_eq!(wait_with_timeout(&mut resumed, Duration::from_secs(120)), Some(0));
    assert_complete(&output);
    assert_eq!(common::leftovers(), Vec::<String>::new());
}

#[test]
fn c15_resume_rejects_changed_job() {
    if !require_root() {
        return;
    }
    let dir = test_dir("c15-changed");
    std::fs::write(dir.join("job.yaml"), "commands:\n  one:\n    command: [echo, one]\n").unwrap();
    let mut first = start_batch(&dir, &["--output", "out"]);
    assert_eq!(wait_with_timeout(&mut first, Duration::from_secs(60)), Some(0));

    std::fs::write(dir.join("job.yaml"), "commands:\n  one:\n    command: [echo, one]\n    limits: {memory: 1 GiB}\n").unwrap();
    let refused = common::cellrun().current_dir(&dir).args(["run", "job.yaml", "--quiet", "--resume", "out"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--force-resume"), "{stderr}");

    let forced = common::cellrun().current_dir(&dir).args(["run", "job.yaml", "--quiet", "--resume", "out", "--force-resume"]).output().unwrap();
    assert_eq!(forced.status.code(), Some(0), "{}", String::from_utf8_lossy(&forced.stderr));
    assert_eq!(summary_rows(&dir.join("out")).len(), 1);
}

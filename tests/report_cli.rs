//! `cellrun report` on a result directory written by hand.

use assert_cmd::Command;
use predicates::prelude::*;

fn record(run_id: &str, tool: &str, category: &str, termination: &str, cputime_s: f64) -> String {
    format!(
        r#"{{"run_id":"{run_id}","tool":"{tool}","config":"","task_set":"php","task":"{run_id}.cnf","status":"x","category":"{category}","expected":"unsat","exit_code":null,"exit_signal":null,"termination_reason":{termination},"cputime_s":{cputime_s},"walltime_s":1.0,"memory_bytes":null,"cores":"0","started_at":"2026-01-01T00:00:00Z","log":"logs/{run_id}.log","files":0,"failure":null,"output_truncated":false,"columns":{{}}}}"#
    )
}

fn result_dir(journal: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("runs.jsonl"), journal).expect("write journal");
    dir
}

fn campaign() -> String {
    [
        record("minisat/php/a", "minisat", "correct", "null", 1.25),
        record("minisat/php/b", "minisat", "error", r#""cputime""#, 5.0),
        record("picosat/php/a", "picosat", "correct", "null", 0.5),
    ]
    .join("\n")
        + "\n"
}

#[test]
fn report_prints_text_table() {
    let dir = result_dir(&campaign());
    Command::cargo_bin("cellrun")
        .expect("binary")
        .args(["report", dir.path().to_str().expect("utf-8 path")])
        .assert()
        .success()
        .stdout(predicate::str::contains("minisat  -          2        1"))
        .stdout(predicate::str::contains("total"));
}

#[test]
fn report_prints_markdown_table() {
    let dir = result_dir(&campaign());
    Command::cargo_bin("cellrun")
        .expect("binary")
        .args(["report", "--format", "markdown", dir.path().to_str().expect("utf-8 path")])
        .assert()
        .success()
        .stdout(predicate::str::contains("| minisat | - | 2 | 1 | 0 | 0 | 1 | 0 | 1 | 0 | 1.25 |"))
        .stdout(predicate::str::contains("| picosat | - | 1 | 1 | 0 | 0 | 0 | 0 | 0 | 0 | 0.50 |"));
}

#[test]
fn report_warns_on_cut_line() {
    let mut journal = campaign();
    journal.push_str(r#"{"run_id":"picosat/php/b","tool":"pic"#);
    let dir = result_dir(&journal);
    Command::cargo_bin("cellrun")
        .expect("binary")
        .args(["report", dir.path().to_str().expect("utf-8 path")])
        .assert()
        .success()
        .stderr(predicate::str::contains("skipped line 4"));
}

#[test]
fn report_without_journal_fails() {
    let dir = tempfile::tempdir().expect("temp dir");
    Command::cargo_bin("cellrun")
        .expect("binary")
        .args(["report", dir.path().to_str().expect("utf-8 path")])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot read the journal"));
}

//! `cellrun run` on the command line: help, usage errors and their exit status.

use assert_cmd::Command;
use predicates::str::contains;

fn cellrun() -> Command {
    Command::cargo_bin("cellrun").unwrap()
}

#[test]
fn help_documents_exit_status() {
    cellrun()
        .args(["run", "--help"])
        .assert()
        .success()
        .stdout(contains("Exit status:"))
        .stdout(contains("130"))
        .stdout(contains("fail_on"))
        .stdout(contains("--resume"))
        .stdout(contains("--filter"));
}

#[test]
fn missing_job_file_exits_2() {
    cellrun()
        .args(["run", "/nonexistent/job.yaml"])
        .assert()
        .code(2)
        .stderr(contains("cannot read the job file /nonexistent/job.yaml"));
}

#[test]
fn missing_job_argument_exits_2() {
    cellrun().arg("run").assert().code(2);
}

#[test]
fn force_resume_needs_resume() {
    let job = tempfile::NamedTempFile::new().unwrap();
    cellrun().arg("run").arg(job.path()).arg("--force-resume").assert().code(2).stderr(contains("--resume"));
}

#[test]
fn output_conflicts_with_resume() {
    let job = tempfile::NamedTempFile::new().unwrap();
    cellrun()
        .arg("run")
        .arg(job.path())
        .args(["--output", "a", "--resume", "b"])
        .assert()
        .code(2);
}

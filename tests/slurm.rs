//! `cellrun run --slurm`, `cellrun status` and `cellrun merge` against a real SLURM cluster.
//!
//! scripts/test-slurm.sh starts a single-node cluster on 127.0.0.1, exports its
//! `SLURM_CONF` and runs these tests one at a time. Without `SLURM_CONF` they print SKIP and
//! pass, unless `CELLRUN_REQUIRE_SLURM=1` makes the skip a failure. They need root, like the
//! other container tests, because the shards run containers.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Maximum time a campaign of these tests may take before the test fails.
const CAMPAIGN_TIMEOUT: Duration = Duration::from_secs(120);

/// Returns whether a SLURM cluster is configured, printing SKIP when it is not.
#[track_caller]
fn require_slurm() -> bool {
    if !common::require_root() {
        return false;
    }
    if std::env::var_os("SLURM_CONF").is_some() {
        return true;
    }
    let caller = std::panic::Location::caller();
    if std::env::var("CELLRUN_REQUIRE_SLURM").is_ok_and(|value| value == "1") {
        panic!("{caller}: SLURM_CONF is not set, and CELLRUN_REQUIRE_SLURM=1 forbids skipping this test");
    }
    let message = format!(
        "SKIP {caller}: this test needs a SLURM cluster; run scripts/test-slurm.sh, or set SLURM_CONF \
         to a cluster's configuration\n"
    );
    let _ = std::io::stderr().write_all(message.as_bytes());
    false
}

/// A job of plain commands and tool runs with different statuses and categories: correct,
/// wrong, error, timeout, and runs without an expected result.
const MIXED_JOB: &str = r#"
name: mixed
tools:
  answer:
    command: [sh, -c, "case {input} in *yes*) exit 10;; *) exit 20;; esac"]
    verdict:
      exit_codes: {10: sat, 20: unsat}
tasks:
  inputs:
    files: ["inputs/*.txt"]
    expected_from_name: {regex: "-(sat|unsat)\\.txt$"}
commands:
  ok:
    command: ["true"]
  exits-3:
    command: [sh, -c, "exit 3"]
  too-slow:
    command: [sleep, "10"]
    limits: {walltime: 1s}
"#;

fn mixed_job() -> tempfile::TempDir {
    let dir = common::job_dir(&[("job.yaml", MIXED_JOB)]);
    for name in ["a-yes-sat", "b-yes-unsat", "c-no-unsat", "d-no-sat", "e-yes-sat", "f-no-unsat"] {
        common::write_file(dir.path(), &format!("inputs/{name}.txt"), "input\n");
    }
    dir
}

/// Writes a job of `count` commands that each sleep for `seconds`.
fn sleeping_job(count: usize, seconds: u32) -> tempfile::TempDir {
    let mut text = String::from("name: sleeping\ncommands:\n");
    for index in 0..count {
        text.push_str(&format!("  s{index}:\n    command: [sleep, \"{seconds}\"]\n"));
    }
    common::job_dir(&[("job.yaml", &text)])
}

fn cellrun(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cellrun"));
    command.current_dir(dir).args(args);
    command
}

fn run_to_end(dir: &Path, args: &[&str]) -> Output {
    let child = cellrun(dir, args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("cellrun starts");
    wait_output(child)
}

/// Waits for `child` up to [`CAMPAIGN_TIMEOUT`], killing it when it takes longer.
fn wait_output(mut child: Child) -> Output {
    let deadline = Instant::now() + CAMPAIGN_TIMEOUT;
    while child.try_wait().expect("wait for cellrun").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let output = child.wait_with_output().expect("collect output");
            panic!("cellrun took longer than {CAMPAIGN_TIMEOUT:?}; stderr: {}", String::from_utf8_lossy(&output.stderr));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.wait_with_output().expect("collect output")
}

fn wait_until(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + CAMPAIGN_TIMEOUT;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Reads the rows of a summary as maps from column name to value.
fn summary_rows(dir: &Path) -> Vec<BTreeMap<String, String>> {
    let mut reader = csv::Reader::from_path(dir.join("summary.csv")).expect("summary.csv readable");
    let headers = reader.headers().expect("summary header").clone();
    reader
        .records()
        .map(|record| {
            let record = record.expect("summary row");
            headers.iter().zip(record.iter()).map(|(name, value)| (name.to_string(), value.to_string())).collect()
        })
        .collect()
}

/// (run id, status, category) of each summary row, in file order.
fn verdicts(dir: &Path) -> Vec<(String, String, String)> {
    summary_rows(dir).into_iter().map(|row| (row["run_id"].clone(), row["status"].clone(), row["category"].clone())).collect()
}

fn read_json(path: &Path) -> serde_json::Value {
    let bytes = std::fs::read(path).unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    serde_json::from_slice(&bytes).expect("valid JSON")
}

fn journal_ids(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("runs.jsonl")).expect("runs.jsonl readable");
    text.lines().map(|line| serde_json::from_str::<serde_json::Value>(line).expect("record")["run_id"].as_str().unwrap().to_string()).collect()
}

fn job_ids(shared: &Path) -> Vec<String> {
    let campaign = read_json(&shared.join("slurm.json"));
    campaign["submissions"].as_array().unwrap().iter().map(|submission| submission["job_id"].as_str().unwrap().to_string()).collect()
}

fn shard_journal(shared: &Path, shard: usize) -> String {
    std::fs::read_to_string(shared.join(format!("shards/{shard}/runs.jsonl"))).unwrap_or_default()
}

fn shard_journal_lines(shared: &Path, shard: usize) -> usize {
    std::fs::read_to_string(shared.join(format!("shards/{shard}/runs.jsonl"))).map(|text| text.lines().count()).unwrap_or(0)
}

fn squeue_states(job: &str) -> String {
    let output = Command::new("squeue").args(["-h", "-r", "-t", "all", "-j", job, "-o", "%i %T"]).output().expect("squeue runs");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn slurm_matches_local_run() {
    if !require_slurm() {
        return;
    }
    let job = mixed_job();
    let local = job.path().join("local");
    let shared = job.path().join("shared");

    let local_run = run_to_end(job.path(), &["run", "job.yaml", "--output", local.to_str().unwrap(), "-q"]);
    let slurm_run = run_to_end(job.path(), &["run", "job.yaml", "--slurm", "--shards", "3", "--output", shared.to_str().unwrap()]);

    assert_eq!(slurm_run.status.code(), local_run.status.code(), "stderr: {}", stderr(&slurm_run));
    let expected = verdicts(&local);
    assert_eq!(expected.len(), 9, "the local batch ran every run");
    assert_eq!(verdicts(&shared), expected);
    let categories: Vec<&str> = expected.iter().map(|(_, _, category)| category.as_str()).collect();
    for category in ["correct", "wrong", "error", "missing"] {
        assert!(categories.contains(&category), "no {category} run in {expected:?}");
    }
    assert!(expected.iter().any(|(_, status, _)| status == "timeout"), "no timeout in {expected:?}");

    let meta = read_json(&shared.join("meta.json"));
    assert_eq!(meta["nodes"], serde_json::json!(["localhost"]));
    assert_eq!(meta["job_name"], "mixed");
    assert_eq!(meta["slurm"]["shards"], 3);
    for shard in 0..3 {
        let status = read_json(&shared.join(format!("status/{shard}.json")));
        assert_eq!(status["state"], "finished", "shard {shard}");
    }
    for row in summary_rows(&shared) {
        assert!(shared.join(&row["log"]).is_file(), "log of {} missing in the merged directory", row["run_id"]);
    }
}

#[test]
fn killed_shard_resubmitted() {
    if !require_slurm() {
        return;
    }
    let job = sleeping_job(8, 1);
    let shared = job.path().join("shared");
    let child = cellrun(job.path(), &["run", "job.yaml", "--slurm", "--shards", "2", "--output", shared.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cellrun starts");

    wait_until("shard 0 finished a run", || shard_journal_lines(&shared, 0) >= 1);
    let first_job = job_ids(&shared)[0].clone();
    let cancelled = Command::new("scancel").arg(format!("{first_job}_0")).status().expect("scancel runs");
    assert!(cancelled.success());
    let output = wait_output(child);

    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    assert!(stderr(&output).contains("shard 0 was lost"), "stderr: {}", stderr(&output));
    let campaign = read_json(&shared.join("slurm.json"));
    let submissions = campaign["submissions"].as_array().unwrap();
    assert_eq!(submissions.len(), 2, "{campaign}");
    assert_eq!(submissions[1]["shards"], serde_json::json!([0]));

    let expected: Vec<String> = (0..8).map(|index| format!("s{index}")).collect();
    assert_eq!(journal_ids(&shared), expected);
    let rows = verdicts(&shared);
    let ids: Vec<&str> = rows.iter().map(|(id, _, _)| id.as_str()).collect();
    assert_eq!(ids, expected);
    for (id, status, _) in &rows {
        assert_eq!(status, "done", "run {id}; journal of shard 0 before the merge: {}", shard_journal(&shared, 0));
    }
    let status = read_json(&shared.join("status/0.json"));
    assert_eq!(status["state"], "finished");
    assert_eq!(status["slurm_job_id"].as_str(), Some(job_ids(&shared)[1].as_str()));
    assert_eq!(common::leftovers(), Vec::<String>::new(), "the cancelled shard left cgroups, mounts or scratch behind");
}

#[test]
fn detached_campaign_followed_and_merged() {
    if !require_slurm() {
        return;
    }
    let job = mixed_job();
    let shared = job.path().join("shared");

    let submitted = run_to_end(job.path(), &["run", "job.yaml", "--slurm", "--shards", "2", "--detach", "--output", shared.to_str().unwrap()]);
    assert_eq!(submitted.status.code(), Some(0), "stderr: {}", stderr(&submitted));
    assert!(stderr(&submitted).contains("cellrun status"), "stderr: {}", stderr(&submitted));

    let status = run_to_end(job.path(), &["status", shared.to_str().unwrap()]);
    assert_eq!(status.status.code(), Some(0), "stderr: {}", stderr(&status));
    let table = String::from_utf8_lossy(&status.stdout).into_owned();
    assert!(table.starts_with("shard  state"), "{table}");
    assert!(table.contains("of 2 · runs:"), "{table}");

    let followed = run_to_end(job.path(), &["status", shared.to_str().unwrap(), "--wait", "-q"]);
    assert_eq!(followed.status.code(), Some(0), "stderr: {}", stderr(&followed));
    assert_eq!(verdicts(&shared).len(), 9);

    let files = ["summary.csv", "runs.jsonl", "meta.json"];
    let snapshot = |root: &Path| -> Vec<Vec<u8>> { files.iter().map(|name| std::fs::read(root.join(name)).unwrap()).collect() };
    let after_follow = snapshot(&shared);
    for round in 0..2 {
        let merged = run_to_end(job.path(), &["merge", shared.to_str().unwrap()]);
        assert_eq!(merged.status.code(), Some(0), "stderr: {}", stderr(&merged));
        assert_eq!(snapshot(&shared), after_follow, "merge {round} changed the merged files");
    }
}

#[test]
fn interrupt_cancels_array() {
    if !require_slurm() {
        return;
    }
    let job = sleeping_job(4, 30);
    let shared = job.path().join("shared");
    // A process group of its own, which gets SIGINT as a terminal's foreground group gets
    // Ctrl+C: cellrun and any squeue it runs at that moment.
    let child = cellrun(job.path(), &["run", "job.yaml", "--slurm", "--shards", "2", "--output", shared.to_str().unwrap()])
        .process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cellrun starts");

    let running = |shard: usize| {
        let path = shared.join(format!("status/{shard}.json"));
        path.is_file() && read_json(&path)["state"] == "running"
    };
    wait_until("both shards run", || running(0) && running(1));
    std::thread::sleep(Duration::from_millis(500));
    nix::sys::signal::killpg(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGINT).expect("send SIGINT");
    let started = Instant::now();
    let output = wait_output(child);

    assert_eq!(output.status.code(), Some(130), "stderr: {}", stderr(&output));
    assert!(started.elapsed() < Duration::from_secs(30), "cancelling took {:?}", started.elapsed());
    let job_id = job_ids(&shared)[0].clone();
    let states = squeue_states(&job_id);
    assert!(!states.contains("RUNNING"), "{states}");
    assert!(!states.contains("PENDING"), "{states}");
    for shard in 0..2 {
        let status = read_json(&shared.join(format!("status/{shard}.json")));
        assert_eq!(status["state"], "interrupted", "shard {shard}");
    }
    let rows = verdicts(&shared);
    assert_eq!(rows.len(), 2, "the two running runs have interrupted records: {rows:?}");
    for (id, status, _) in &rows {
        assert_eq!(status, "interrupted", "run {id}");
    }
    assert_eq!(common::leftovers(), Vec::<String>::new(), "the cancelled shards left cgroups, mounts or scratch behind");
}

/// Runs `cellrun` (the copy `binary`) as the user `nobody` with `args` in `dir`.
fn cellrun_as_nobody(binary: &Path, dir: &Path, args: &[&str]) -> Output {
    let mut command = Command::new("runuser");
    command.current_dir(dir).args(["-u", "nobody", "--", "env"]);
    if let Some(conf) = std::env::var_os("SLURM_CONF") {
        let mut setting = std::ffi::OsString::from("SLURM_CONF=");
        setting.push(conf);
        command.arg(setting);
    }
    command.arg(binary).args(args);
    let child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("runuser starts");
    wait_output(child)
}

#[test]
fn rootless_shards_match_local_run() {
    if !require_slurm() {
        return;
    }
    // Every directory up to the job and the binary must be open to `nobody`, which a
    // checkout below /root is not, so both go to a fresh directory in /var/tmp.
    let job = tempfile::tempdir_in("/var/tmp").expect("temp dir in /var/tmp");
    let text = format!("unenforced_limits: accept\n{MIXED_JOB}");
    common::write_file(job.path(), "job.yaml", &text);
    for name in ["a-yes-sat", "b-yes-unsat", "c-no-unsat"] {
        common::write_file(job.path(), &format!("inputs/{name}.txt"), "input\n");
    }
    let binary = job.path().join("cellrun");
    std::fs::copy(env!("CARGO_BIN_EXE_cellrun"), &binary).expect("copy cellrun");
    let chown = Command::new("chown").args(["-R", "nobody"]).arg(job.path()).status().expect("chown runs");
    assert!(chown.success());

    let local = cellrun_as_nobody(&binary, job.path(), &["run", "job.yaml", "--output", "local", "-q"]);
    let shared = job.path().join("shared");
    let slurm = cellrun_as_nobody(&binary, job.path(), &["run", "job.yaml", "--slurm", "--shards", "2", "--output", "shared", "-q"]);

    assert_eq!(slurm.status.code(), local.status.code(), "stderr: {}", stderr(&slurm));
    let expected = verdicts(&job.path().join("local"));
    assert_eq!(expected.len(), 6, "the local batch ran every run");
    assert!(expected.iter().all(|(_, status, _)| status != "failed"), "{expected:?}");
    assert_eq!(verdicts(&shared), expected);
    let owner = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(shared.join("status/0.json")).unwrap());
    assert_eq!(owner, 65534, "the shard ran as nobody");
}

#[test]
fn failing_shard_given_up() {
    if !require_slurm() {
        return;
    }
    // Runs of 2 cores cannot get a slot in a task of 1 CPU, so every attempt of the shard
    // fails in the pre-flight check.
    let job = common::job_dir(&[("job.yaml", "commands:\n  wide:\n    command: [\"true\"]\n    limits: {cores: 2}\n")]);
    let shared = job.path().join("shared");
    let output = run_to_end(
        job.path(),
        &["run", "job.yaml", "--slurm", "--sbatch-arg=--cpus-per-task=1", "--output", shared.to_str().unwrap()],
    );

    assert_eq!(output.status.code(), Some(4), "stderr: {}", stderr(&output));
    assert!(stderr(&output).contains("shard 0 ("), "stderr: {}", stderr(&output));
    assert!(stderr(&output).contains("failed after 3 attempts"), "stderr: {}", stderr(&output));
    assert_eq!(job_ids(&shared).len(), 3);
    let status = read_json(&shared.join("status/0.json"));
    assert_eq!(status["state"], "failed");
    assert_eq!(status["exit_code"], 2);
    assert!(status["message"].as_str().unwrap().contains("cores"), "{status}");
    assert_eq!(verdicts(&shared), Vec::new());
}

#[test]
fn filter_divides_selected_runs() {
    if !require_slurm() {
        return;
    }
    let job = sleeping_job(6, 0);
    let shared = job.path().join("shared");
    let output = run_to_end(
        job.path(),
        &["run", "job.yaml", "--slurm", "--shards", "4", "--filter", "s{1,3,4}", "--output", shared.to_str().unwrap(), "-q"],
    );

    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    let campaign = read_json(&shared.join("slurm.json"));
    assert_eq!(campaign["shards"], 3, "no shard without runs");
    let ids: Vec<String> = verdicts(&shared).into_iter().map(|(id, _, _)| id).collect();
    assert_eq!(ids, ["s1", "s3", "s4"]);
    let merged = run_to_end(job.path(), &["merge", shared.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&merged.stdout).contains("merged 3 of 3 runs"), "{merged:?}");
}

#[test]
fn shard_option_selects_round_robin() {
    if !common::require_root() {
        return;
    }
    let job = sleeping_job(5, 0);
    let out = job.path().join("out");
    let output = run_to_end(job.path(), &["run", "job.yaml", "--shard", "1/2", "--output", out.to_str().unwrap(), "-q"]);
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    assert_eq!(journal_ids(&out).len(), 2);
    let ids: Vec<String> = verdicts(&out).into_iter().map(|(id, _, _)| id).collect();
    assert_eq!(ids, ["s1", "s3"]);
}

#[test]
fn slurm_needs_output() {
    let dir: PathBuf = common::test_dir("slurm-needs-output");
    common::write_file(&dir, "job.yaml", "commands:\n  a:\n    command: [\"true\"]\n");
    let output = common::cellrun_in(&dir, &["run", "job.yaml", "--slurm"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("--output"), "{}", stderr(&output));
}

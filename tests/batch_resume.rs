//! Interrupting a batch and resuming it: every run ends up exactly once.

mod fake;

use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

use cellrun::plan::EnvSettings;
use cellrun::results::ResultsError;
use cellrun::schedule::{BatchError, Interrupt, Topology, run_job};
use fake::{FakeExecutor, Job, job, journal, options, python_rows, resume_options, settings};

/// Builds the job of the batch-control case: 4 quick, 8 long and 20 queued runs.
fn c15_job() -> Job {
    let mut runs: Vec<(String, Vec<&str>)> = Vec::new();
    runs.extend((1..=4).map(|n| (format!("quick-{n}"), vec!["print", "q"])));
    runs.extend((1..=8).map(|n| (format!("long-{n}"), vec!["sleep", "600000"])));
    runs.extend((1..=20).map(|n| (format!("queued-{n}"), vec!["print", "z"])));
    let runs: Vec<(&str, &[&str])> = runs.iter().map(|(id, command)| (id.as_str(), command.as_slice())).collect();
    job(&runs, settings(Some(1), EnvSettings::default()))
}

fn four_cpus() -> Topology {
    Topology::flat(&[0, 1, 2, 3])
}

/// Runs the batch until 4 long runs are running, then interrupts it.
fn interrupted_batch(job: &Job) -> FakeExecutor {
    let interrupt = Interrupt::new();
    let mut executor = FakeExecutor::new(4);
    executor.interrupt_at_sleepers = Some((4, interrupt.clone()));

    let end = run_job(&job.plan, &job.bytes, &executor, &four_cpus(), &options(&job.output(), Some(4)), &interrupt).unwrap();

    assert!(end.interrupted);
    assert_eq!(end.exit_code(&[]), 130);
    assert_eq!(end.ran, 8, "4 quick runs finished and 4 long runs were killed");
    assert_eq!(end.not_started, 24);
    executor
}

#[test]
fn c15_interrupt_records_running_runs() {
    let job = c15_job();
    interrupted_batch(&job);

    let rows = python_rows(&job.output().join("summary.csv"));
    let status: HashMap<&str, &str> = rows[1..].iter().map(|row| (row[0].as_str(), row[5].as_str())).collect();
    assert_eq!(rows.len(), 9);
    for n in 1..=4 {
        assert_eq!(status[format!("quick-{n}").as_str()], "done");
        assert_eq!(status[format!("long-{n}").as_str()], "interrupted");
    }
    assert_eq!(journal(&job.output()).len(), 8);

    let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(job.output().join("meta.json")).unwrap()).unwrap();
    assert_eq!(meta["sessions"][0]["interrupted"], true);
}

#[test]
fn c15_interrupt_then_resume() {
    let job = c15_job();
    let first = interrupted_batch(&job);

    let mut second = FakeExecutor::new(4);
    second.max_sleep = Some(Duration::from_millis(5));
    let end = run_job(&job.plan, &job.bytes, &second, &four_cpus(), &resume_options(&job.output(), Some(4)), &Interrupt::new())
        .unwrap();

    assert!(!end.interrupted);
    assert_eq!(end.exit_code(&[]), 0);
    assert_eq!(end.records.len(), 32);
    assert_eq!(end.ran, 28, "the 4 interrupted and the 24 never started runs ran");

    let counts = second.counts();
    for n in 1..=4 {
        assert!(!counts.contains_key(&format!("quick-{n}")), "finished quick-{n} ran again");
        assert_eq!(first.counts()[&format!("quick-{n}")], 1);
    }

    let rows = python_rows(&job.output().join("summary.csv"));
    assert_eq!(rows.len(), 33);
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for row in &rows[1..] {
        *seen.entry(row[0].as_str()).or_default() += 1;
        assert_ne!(row[5], "interrupted", "{} still interrupted", row[0]);
    }
    assert_eq!(seen.len(), 32);
    assert!(seen.values().all(|&count| count == 1));

    let journal = journal(&job.output());
    assert_eq!(journal.len(), 32, "the journal holds each run once after a resume");
}

#[test]
fn torn_journal_line_tolerated() {
    let job = c15_job();
    interrupted_batch(&job);
    let mut file = std::fs::OpenOptions::new().append(true).open(job.output().join("runs.jsonl")).unwrap();
    file.write_all(b"{\"run_id\":\"queued-1\",\"tool\":\"que").unwrap();
    drop(file);

    let mut executor = FakeExecutor::new(4);
    executor.max_sleep = Some(Duration::from_millis(1));
    let options = resume_options(&job.output(), Some(4));
    let end = run_job(&job.plan, &job.bytes, &executor, &four_cpus(), &options, &Interrupt::new()).unwrap();

    assert_eq!(end.torn_line, Some(9));
    assert_eq!(end.records.len(), 32);
    assert_eq!(journal(&job.output()).len(), 32);
}

#[test]
fn resume_rejects_changed_job_file() {
    let job = c15_job();
    interrupted_batch(&job);
    let changed = b"# changed limits\n";

    let executor = FakeExecutor::new(4);
    let options = resume_options(&job.output(), Some(4));
    let error = run_job(&job.plan, changed, &executor, &four_cpus(), &options, &Interrupt::new()).unwrap_err();

    assert!(matches!(error, BatchError::Setup(ResultsError::JobChanged { .. })), "{error}");
    assert!(error.to_string().contains("--force-resume"));
    assert!(executor.counts().is_empty());

    let forced = cellrun::schedule::BatchOptions { force_resume: true, ..options };
    let mut executor = FakeExecutor::new(4);
    executor.max_sleep = Some(Duration::from_millis(1));
    let end = run_job(&job.plan, changed, &executor, &four_cpus(), &forced, &Interrupt::new()).unwrap();
    assert_eq!(end.records.len(), 32);
    assert_eq!(std::fs::read(job.output().join("job.yaml")).unwrap(), changed);
}

#[test]
fn resume_of_missing_directory_rejected() {
    let job = c15_job();
    let executor = FakeExecutor::new(4);
    let options = resume_options(&job.dir.path().join("nothing"), Some(4));
    let error = run_job(&job.plan, &job.bytes, &executor, &four_cpus(), &options, &Interrupt::new()).unwrap_err();
    assert!(error.to_string().contains("not a result directory"), "{error}");
}

#[test]
fn resume_clears_stale_files_only_of_rerun_runs() {
    let job = c15_job();
    interrupted_batch(&job);
    let stale = job.output().join("files/long-1/partial.out");
    let kept = job.output().join("files/quick-1/result.out");
    std::fs::write(&stale, b"half").unwrap();
    std::fs::write(&kept, b"done").unwrap();

    let mut executor = FakeExecutor::new(4);
    executor.max_sleep = Some(Duration::from_millis(1));
    let options = resume_options(&job.output(), Some(4));
    run_job(&job.plan, &job.bytes, &executor, &four_cpus(), &options, &Interrupt::new()).unwrap();

    assert!(!stale.exists(), "files of the interrupted attempt removed");
    assert_eq!(std::fs::read(&kept).unwrap(), b"done");
}

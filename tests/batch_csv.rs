//! The summary through a whole batch: parsable by Python's csv module, one row per run, and
//! odd characters intact.

mod fake;

use std::collections::BTreeMap;

use cellrun::plan::EnvSettings;
use cellrun::results::summary::COLUMNS;
use cellrun::schedule::{Interrupt, Topology, run_job};
use fake::{FakeExecutor, job, options, python_rows, settings};

#[test]
fn csv_has_header_and_one_row_per_run() {
    let runs: Vec<(String, Vec<&str>)> = (0..50).map(|index| (format!("tool/set/task-{index}"), vec!["print", "ok"])).collect();
    let runs: Vec<(&str, &[&str])> = runs.iter().map(|(id, command)| (id.as_str(), command.as_slice())).collect();
    let job = job(&runs, settings(Some(1), EnvSettings::default()));
    let executor = FakeExecutor::new(2);

    let end = run_job(&job.plan, &job.bytes, &executor, &Topology::flat(&[0, 1]), &options(&job.output(), None), &Interrupt::new())
        .unwrap();

    let rows = python_rows(&job.output().join("summary.csv"));
    assert_eq!(rows[0], COLUMNS);
    assert_eq!(rows.len(), 51);
    let ids: Vec<&str> = rows[1..].iter().map(|row| row[0].as_str()).collect();
    let expected: Vec<String> = (0..50).map(|index| format!("tool/set/task-{index}")).collect();
    assert_eq!(ids, expected);
    assert!(rows.iter().all(|row| row.len() == COLUMNS.len()));
    assert_eq!(end.exit_code(&[]), 0);
    assert_eq!(end.ran, 50);
}

#[test]
fn c14_odd_characters_survive_csv() {
    let weird_id = "comma,quote\"and newline\nname";
    let runs: [(&str, &[&str]); 3] = [
        (weird_id, &["print-hex", "636166c3a920fffe3b2c220a"]),
        ("é-ü-日本", &["exit", "1"]),
        ("env/weird", &["env"]),
    ];
    let mut env = EnvSettings::default();
    env.set.insert("WEIRD".into(), "\u{1b}[31mred\u{1}".into());
    let job = job(&runs, settings(Some(1), env));
    let executor = FakeExecutor::new(2);

    let end = run_job(&job.plan, &job.bytes, &executor, &Topology::flat(&[0, 1]), &options(&job.output(), None), &Interrupt::new())
        .unwrap();

    let rows = python_rows(&job.output().join("summary.csv"));
    assert_eq!(rows.len(), 4, "header and 3 rows: {rows:?}");
    assert!(rows.iter().all(|row| row.len() == COLUMNS.len()));
    let ids: Vec<&str> = rows[1..].iter().map(|row| row[0].as_str()).collect();
    assert_eq!(ids, [weird_id, "é-ü-日本", "env/weird"]);

    let status: BTreeMap<&str, &str> = rows[1..].iter().map(|row| (row[0].as_str(), row[5].as_str())).collect();
    assert_eq!(status["é-ü-日本"], "error (exit code 1)");
    assert_eq!(end.exit_code(&[cellrun::verdict::Category::Error]), 1);

    let log = std::fs::read(job.output().join("logs").join(format!("{weird_id}.log"))).unwrap();
    assert!(log.ends_with(b"caf\xc3\xa9 \xff\xfe;,\"\n"), "tool output kept byte for byte");
    let env_log = std::fs::read(job.output().join("logs/env/weird.log")).unwrap();
    assert!(env_log.windows(9).any(|window| window == b"\x1b[31mred\x01"));

    let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(job.output().join("meta.json")).unwrap()).unwrap();
    assert_eq!(meta["sessions"][0]["interrupted"], false);
}

#[test]
fn undecodable_version_output_escaped_in_meta() {
    let runs: [(&str, &[&str]); 1] = [("a", &["print", "x"])];
    let mut job = job(&runs, settings(Some(1), EnvSettings::default()));
    job.plan.tools.push(cellrun::plan::ToolPlan {
        name: "odd".into(),
        version_command: Some(vec!["printf".into(), "odd 1.0 \\377\\033[0m".into()]),
    });
    let executor = FakeExecutor::new(1);

    run_job(&job.plan, &job.bytes, &executor, &Topology::flat(&[0]), &options(&job.output(), None), &Interrupt::new()).unwrap();

    let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(job.output().join("meta.json")).unwrap()).unwrap();
    assert_eq!(meta["tools"][0]["version"], "odd 1.0 \\xff\u{1b}[0m");
    assert!(meta["job_hash"].as_str().unwrap().starts_with("blake3:"));
    assert!(meta["ended_at"].is_string());
}

#[test]
fn failed_setup_becomes_failed_row() {
    let long_id = format!("tool/{}", "x".repeat(300));
    let runs: [(&str, &[&str]); 2] = [(long_id.as_str(), &["print", "x"]), ("tool/ok", &["print", "x"])];
    let job = job(&runs, settings(Some(1), EnvSettings::default()));
    let executor = FakeExecutor::new(1);

    let end = run_job(&job.plan, &job.bytes, &executor, &Topology::flat(&[0]), &options(&job.output(), None), &Interrupt::new())
        .unwrap();

    assert_eq!(end.records.len(), 2);
    assert_eq!(end.records[0].status, "failed");
    assert!(end.records[0].failure.as_deref().unwrap().contains("cannot write"));
    assert_eq!(end.records[1].status, "done");
}

#[test]
fn executor_panic_becomes_failed_row() {
    let runs: [(&str, &[&str]); 2] = [("tool/bad", &["no-such-fake-command"]), ("tool/ok", &["print", "x"])];
    let job = job(&runs, settings(Some(1), EnvSettings::default()));
    let executor = FakeExecutor::new(1);

    let end = run_job(&job.plan, &job.bytes, &executor, &Topology::flat(&[0]), &options(&job.output(), None), &Interrupt::new())
        .unwrap();

    assert_eq!(end.records[0].status, "failed");
    assert!(end.records[0].failure.as_deref().unwrap().contains("the executor panicked"));
    assert_eq!(end.records[1].status, "done");
}

#[test]
fn summary_write_failure_stops_batch() {
    let runs: Vec<(String, Vec<&str>)> = (0..20).map(|index| (format!("run-{index}"), vec!["print", "x"])).collect();
    let runs: Vec<(&str, &[&str])> = runs.iter().map(|(id, command)| (id.as_str(), command.as_slice())).collect();
    let job = job(&runs, settings(Some(1), EnvSettings::default()));
    let summary = job.output().join("summary.csv");
    let mut executor = FakeExecutor::new(1);
    let blocker = summary.clone();
    executor.before_run = Some(Box::new(move |_| {
        // A directory in place of the summary makes every rename over it fail.
        let _ = std::fs::remove_file(&blocker);
        let _ = std::fs::create_dir(&blocker);
    }));

    let error = run_job(&job.plan, &job.bytes, &executor, &Topology::flat(&[0]), &options(&job.output(), None), &Interrupt::new())
        .unwrap_err();

    assert!(matches!(error, cellrun::schedule::BatchError::Write { .. }), "{error}");
    assert!(error.to_string().contains("summary.csv"), "{error}");
    assert!(executor.counts().len() < 20, "the batch stopped early");
    assert_eq!(fake::journal(&job.output()).len(), executor.counts().len(), "every run that ran is in the journal");
}

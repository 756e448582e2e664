//! Slots: disjoint cores, the pre-flight check, `--filter` and `--dry-run`.

mod fake;

use cellrun::plan::EnvSettings;
use cellrun::schedule::topology::CoreUnit;
use cellrun::schedule::{BatchError, Interrupt, RunFilter, ScheduleError, Topology, dry_run, run_job};
use fake::{FakeExecutor, job, options, settings};

/// Two physical cores per node, two nodes, two hyperthreads per core: CPU n and n+4 are
/// siblings.
fn smt_topology() -> Topology {
    Topology::from_units(vec![
        CoreUnit { cpus: vec![0, 4], node: 0 },
        CoreUnit { cpus: vec![1, 5], node: 0 },
        CoreUnit { cpus: vec![2, 6], node: 1 },
        CoreUnit { cpus: vec![3, 7], node: 1 },
    ])
}

fn sleepers(count: usize) -> Vec<(String, Vec<&'static str>)> {
    (0..count).map(|index| (format!("run-{index}"), vec!["sleep", "20"])).collect()
}

#[test]
fn parallel_runs_get_disjoint_cores() {
    let runs = sleepers(24);
    let runs: Vec<(&str, &[&str])> = runs.iter().map(|(id, command)| (id.as_str(), command.as_slice())).collect();
    let job = job(&runs, settings(Some(2), EnvSettings::default()));
    let executor = FakeExecutor::new(8);

    let end = run_job(&job.plan, &job.bytes, &executor, &smt_topology(), &options(&job.output(), None), &Interrupt::new())
        .unwrap();
    assert_eq!(end.slots.slots.len(), 4, "default parallelism is the largest that fits");

    let executions = executor.executions.lock().unwrap().clone();
    assert_eq!(executions.len(), 24);
    for execution in &executions {
        assert_eq!(execution.cpus.len(), 2);
        assert_eq!(execution.cpus[0] + 4, execution.cpus[1], "siblings kept together: {:?}", execution.cpus);
    }
    let mut overlapping_pairs = 0;
    for (index, first) in executions.iter().enumerate() {
        for second in &executions[index + 1..] {
            if first.start < second.end && second.start < first.end {
                overlapping_pairs += 1;
                assert!(
                    first.cpus.iter().all(|cpu| !second.cpus.contains(cpu)),
                    "{} and {} ran at once on {:?} and {:?}",
                    first.run_id,
                    second.run_id,
                    first.cpus,
                    second.cpus
                );
            }
        }
    }
    assert!(overlapping_pairs > 0, "runs did run in parallel");

    let rows = fake::python_rows(&job.output().join("summary.csv"));
    assert!(rows[1..].iter().all(|row| ["0,4", "1,5", "2,6", "3,7"].contains(&row[14].as_str())));
}

#[test]
fn preflight_rejects_too_many_slots() {
    let runs = sleepers(8);
    let runs: Vec<(&str, &[&str])> = runs.iter().map(|(id, command)| (id.as_str(), command.as_slice())).collect();
    let job = job(&runs, settings(Some(2), EnvSettings::default()));
    let executor = FakeExecutor::new(8);

    let error = run_job(&job.plan, &job.bytes, &executor, &smt_topology(), &options(&job.output(), Some(5)), &Interrupt::new())
        .unwrap_err();

    assert!(matches!(error, BatchError::Schedule(ScheduleError::TooManyCores { slots: 5, fit: 4, .. })), "{error}");
    let message = error.to_string();
    assert!(message.contains("need 10 CPU(s)"), "{message}");
    assert!(message.contains("--parallel 4"), "{message}");
    assert!(!job.output().exists(), "no result directory before the first run");
    assert!(executor.counts().is_empty());
}

#[test]
fn filter_selects_runs() {
    let runs: [(&str, &[&str]); 3] = [("a/x", &["print", "1"]), ("a/y", &["print", "2"]), ("b/x", &["print", "3"])];
    let job = job(&runs, settings(Some(1), EnvSettings::default()));
    let executor = FakeExecutor::new(2);
    let mut options = options(&job.output(), None);
    options.filter = Some(RunFilter::new("*/x").unwrap());

    let end = run_job(&job.plan, &job.bytes, &executor, &Topology::flat(&[0, 1]), &options, &Interrupt::new()).unwrap();

    let ids: Vec<&str> = end.records.iter().map(|record| record.run_id.as_str()).collect();
    assert_eq!(ids, ["a/x", "b/x"]);
}

#[test]
fn filter_matching_nothing_rejected() {
    let runs: [(&str, &[&str]); 1] = [("a", &["print", "1"])];
    let job = job(&runs, settings(Some(1), EnvSettings::default()));
    let mut options = options(&job.output(), None);
    options.filter = Some(RunFilter::new("zzz").unwrap());

    let error = run_job(&job.plan, &job.bytes, &FakeExecutor::new(1), &Topology::flat(&[0]), &options, &Interrupt::new())
        .unwrap_err();
    assert!(error.to_string().contains("matches none of the 1 run ids"), "{error}");
}

#[test]
fn dry_run_writes_nothing() {
    let runs = sleepers(6);
    let runs: Vec<(&str, &[&str])> = runs.iter().map(|(id, command)| (id.as_str(), command.as_slice())).collect();
    let job = job(&runs, settings(Some(1), EnvSettings::default()));
    let executor = FakeExecutor::new(8);

    let dry = dry_run(&job.plan, &job.bytes, &executor.resources, &smt_topology(), &options(&job.output(), Some(3))).unwrap();

    assert_eq!(dry.pending.len(), 6);
    assert_eq!(dry.slots.slots.len(), 3);
    assert!(!job.output().exists());
    assert!(executor.counts().is_empty());
}

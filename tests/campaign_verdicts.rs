//! The verdict rules of the campaigns in `specs/` judge real tool output correctly.
//!
//! The logs in `tests/fixtures/logs/` were captured from minisat 2.2.1, picosat 965,
//! cadical 1.5.3, gzip and sha256sum on Debian bookworm, on the instances in `specs/data/`,
//! with the header cellrun writes. The rules are read from the job files themselves, so a
//! change to a pattern there is tested here.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use cellrun::sandbox::{ExitStatus, RunOutcome, TerminationReason};
use cellrun::verdict::{Category, ColumnRule, Judgement, OutputRule, VerdictRules, judge};
use serde::Deserialize;

/// The part of a job file these tests need. Output rules are read into a sorted map, which
/// loses their job-file order. That order only matters when two rules match one line, and no
/// line of the captured logs does.
#[derive(Deserialize)]
struct JobVerdicts {
    #[serde(default)]
    tools: BTreeMap<String, Entry>,
    #[serde(default)]
    commands: BTreeMap<String, Entry>,
}

#[derive(Deserialize)]
struct Entry {
    verdict: Option<RawVerdict>,
}

#[derive(Deserialize)]
struct RawVerdict {
    #[serde(default)]
    exit_codes: BTreeMap<i32, String>,
    #[serde(default)]
    output: BTreeMap<String, String>,
    #[serde(default)]
    columns: BTreeMap<String, String>,
}

fn read_job(name: &str) -> JobVerdicts {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("specs").join(name);
    let text = std::fs::read_to_string(&path).expect("job file readable");
    serde_saphyr::from_str(&text).expect("job file parses")
}

fn rules(entry: &Entry) -> VerdictRules {
    let raw = entry.verdict.as_ref().expect("entry has a verdict");
    VerdictRules {
        exit_codes: raw.exit_codes.clone(),
        output: raw
            .output
            .iter()
            .map(|(pattern, answer)| OutputRule { pattern: pattern.clone(), answer: answer.clone() })
            .collect(),
        columns: raw
            .columns
            .iter()
            .map(|(name, pattern)| ColumnRule { name: name.clone(), pattern: pattern.clone() })
            .collect(),
        ..VerdictRules::default()
    }
}

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/logs").join(name);
    std::fs::read(path).expect("fixture readable")
}

fn exited(code: i32) -> RunOutcome {
    let mut outcome = RunOutcome::failed(jiff::Timestamp::UNIX_EPOCH, String::new());
    outcome.exit = Some(ExitStatus::Exited(code));
    outcome.termination = None;
    outcome.failure = None;
    outcome.cputime = Duration::from_millis(30);
    outcome
}

fn judge_fixture(rules: &VerdictRules, log: &str, exit_code: i32, expected: &str) -> Judgement {
    judge(Some(rules), &exited(exit_code), &fixture(log), Some(expected))
}

const SOLVER_LOGS: [(&str, &str, i32, &str); 6] = [
    ("minisat", "minisat-sat.log", 10, "sat"),
    ("minisat", "minisat-unsat.log", 20, "unsat"),
    ("picosat", "picosat-sat.log", 10, "sat"),
    ("picosat", "picosat-unsat.log", 20, "unsat"),
    ("cadical", "cadical-sat.log", 10, "sat"),
    ("cadical", "cadical-unsat.log", 20, "unsat"),
];

#[test]
fn solvers_are_correct_on_real_output() {
    let job = read_job("sat-solvers.yaml");
    for (tool, log, exit_code, expected) in SOLVER_LOGS {
        let judgement = judge_fixture(&rules(&job.tools[tool]), log, exit_code, expected);
        assert_eq!(judgement.status, expected, "{log}");
        assert_eq!(judgement.category, Category::Correct, "{log}");
    }
}

#[test]
fn solver_output_alone_gives_answer() {
    let job = read_job("sat-solvers.yaml");
    for (tool, log, _, expected) in SOLVER_LOGS {
        // Exit code 0 is mapped by no rule, so the answer must come from the output.
        let judgement = judge_fixture(&rules(&job.tools[tool]), log, 0, expected);
        assert_eq!(judgement.status, expected, "{log}");
    }
}

#[test]
fn solver_answer_against_opposite_expected_is_wrong() {
    let job = read_job("sat-solvers.yaml");
    let judgement = judge_fixture(&rules(&job.tools["cadical"]), "cadical-sat.log", 10, "unsat");
    assert_eq!(judgement.category, Category::Wrong);
}

#[test]
fn solver_conflicts_column_is_read() {
    let job = read_job("sat-solvers.yaml");
    let expected_conflicts =
        [("minisat-unsat.log", "10495"), ("picosat-unsat.log", "3073"), ("cadical-unsat.log", "5832")];
    for (log, conflicts) in expected_conflicts {
        let tool = log.split('-').next().expect("tool prefix");
        let judgement = judge_fixture(&rules(&job.tools[tool]), log, 20, "unsat");
        assert_eq!(judgement.columns.get("conflicts").map(String::as_str), Some(conflicts), "{log}");
    }
}

#[test]
fn solver_timeout_is_error_whatever_printed() {
    let job = read_job("sat-solvers.yaml");
    let mut outcome = exited(0);
    outcome.exit = Some(ExitStatus::Signaled(9));
    outcome.termination = Some(TerminationReason::CpuTime);
    let judgement = judge(Some(&rules(&job.tools["minisat"])), &outcome, &fixture("minisat-sat.log"), Some("sat"));
    assert_eq!(judgement.status, "timeout");
    assert_eq!(judgement.category, Category::Error);
}

#[test]
fn quickstart_round_trip_is_correct() {
    let job = read_job("quickstart.yaml");
    for tool in ["gzip", "bzip2", "xz"] {
        let judgement = judge_fixture(&rules(&job.tools[tool]), "gzip-roundtrip.log", 0, "ok");
        assert_eq!(judgement.status, "ok", "{tool}");
        assert_eq!(judgement.category, Category::Correct, "{tool}");
        assert_eq!(judgement.columns.get("compressed_bytes").map(String::as_str), Some("3983"), "{tool}");
    }
}

#[test]
fn quickstart_failed_round_trip_is_error() {
    let job = read_job("quickstart.yaml");
    let log = format!("sh -c ...\n{}\n\ncompressed-bytes: 10\n- out.gz differ: byte 1, line 1\n", "-".repeat(80));
    let judgement = judge(Some(&rules(&job.tools["gzip"])), &exited(1), log.as_bytes(), Some("ok"));
    assert_eq!(judgement.status, "error (exit code 1)");
    assert_eq!(judgement.category, Category::Error);
}

#[test]
fn ci_data_check_passes() {
    let job = read_job("ci-commands.yaml");
    let judgement = judge_fixture(&rules(&job.commands["verify-data"]), "verify-data-pass.log", 0, "pass");
    assert_eq!(judgement.status, "pass");
    assert_eq!(judgement.category, Category::Correct);
    assert_eq!(judgement.columns.get("files_checked").map(String::as_str), Some("4"));
}

#[test]
fn ci_data_check_mismatch_is_wrong() {
    let job = read_job("ci-commands.yaml");
    let judgement = judge_fixture(&rules(&job.commands["verify-data"]), "verify-data-fail.log", 1, "pass");
    assert_eq!(judgement.status, "fail");
    assert_eq!(judgement.category, Category::Wrong);
}

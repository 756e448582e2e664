use std::time::Duration;

use super::*;
use crate::verdict::{ColumnRule, OutputRule};

fn outcome(exit: Option<ExitStatus>, termination: Option<TerminationReason>) -> RunOutcome {
    let mut outcome = RunOutcome::failed(jiff::Timestamp::UNIX_EPOCH, String::new());
    outcome.exit = exit;
    outcome.termination = termination;
    outcome.failure = None;
    outcome.cputime = Duration::from_millis(10);
    outcome
}

fn exited(code: i32) -> RunOutcome {
    outcome(Some(ExitStatus::Exited(code)), None)
}

fn stopped(reason: TerminationReason) -> RunOutcome {
    outcome(Some(ExitStatus::Signaled(9)), Some(reason))
}

/// Builds a log as the batch writes it: header, then the tool's output.
fn log(output: &str) -> Vec<u8> {
    format!("tool --flag input.cnf\n{}\n\n{output}", "-".repeat(80)).into_bytes()
}

fn sat_exit_codes() -> VerdictRules {
    VerdictRules {
        exit_codes: BTreeMap::from([(10, "sat".to_owned()), (20, "unsat".to_owned())]),
        ..VerdictRules::default()
    }
}

fn output_rules(rules: &[(&str, &str)]) -> VerdictRules {
    let output = rules
        .iter()
        .map(|(pattern, answer)| OutputRule { pattern: (*pattern).to_owned(), answer: (*answer).to_owned() })
        .collect();
    VerdictRules { output, ..VerdictRules::default() }
}

fn minisat_rules() -> VerdictRules {
    VerdictRules {
        output: output_rules(&[("^UNSATISFIABLE$", "unsat"), ("^SATISFIABLE$", "sat")]).output,
        ..sat_exit_codes()
    }
}

#[test]
fn exit_code_maps_to_answer() {
    let judgement = judge(Some(&sat_exit_codes()), &exited(20), &log(""), Some("unsat"));
    assert_eq!(judgement.status, "unsat");
    assert_eq!(judgement.category, Category::Correct);
    assert_eq!(judgement.answer.as_deref(), Some("unsat"));
}

#[test]
fn exit_code_answer_can_be_wrong() {
    let judgement = judge(Some(&sat_exit_codes()), &exited(10), &log(""), Some("unsat"));
    assert_eq!(judgement.status, "sat");
    assert_eq!(judgement.category, Category::Wrong);
}

#[test]
fn unmapped_exit_code_is_error() {
    let judgement = judge(Some(&sat_exit_codes()), &exited(3), &log(""), Some("unsat"));
    assert_eq!(judgement.status, "error (exit code 3)");
    assert_eq!(judgement.category, Category::Error);
    assert_eq!(judgement.answer, None);
}

#[test]
fn output_rule_maps_to_answer() {
    let rules = output_rules(&[("^s UNSATISFIABLE", "unsat")]);
    let judgement = judge(Some(&rules), &exited(0), &log("c comment\ns UNSATISFIABLE\n"), Some("unsat"));
    assert_eq!(judgement.status, "unsat");
    assert_eq!(judgement.category, Category::Correct);
}

#[test]
fn caret_and_dollar_match_per_line() {
    let rules = output_rules(&[("^SATISFIABLE$", "sat")]);
    let judgement = judge(Some(&rules), &exited(0), &log("UNSATISFIABLE\n"), None);
    assert_eq!(judgement.status, "unknown");

    let judgement = judge(Some(&rules), &exited(0), &log("x\nSATISFIABLE\r\ny\n"), None);
    assert_eq!(judgement.status, "sat");
}

#[test]
fn last_matching_line_wins() {
    let rules = output_rules(&[("^result: (\\w+)$", "$1")]);
    let judgement = judge(Some(&rules), &exited(0), &log("result: unknown\nresult: sat\n"), Some("sat"));
    assert_eq!(judgement.status, "sat");
    assert_eq!(judgement.category, Category::Correct);
}

#[test]
fn last_line_wins_across_rules() {
    let rules = output_rules(&[("^TRUE$", "true"), ("^FALSE$", "false")]);
    let judgement = judge(Some(&rules), &exited(0), &log("FALSE\nTRUE\n"), None);
    assert_eq!(judgement.status, "true");

    let judgement = judge(Some(&rules), &exited(0), &log("TRUE\nFALSE\n"), None);
    assert_eq!(judgement.status, "false");
}

#[test]
fn first_listed_rule_wins_on_same_line() {
    let rules = output_rules(&[("UNSAT", "unsat"), ("SAT", "sat")]);
    let judgement = judge(Some(&rules), &exited(0), &log("s UNSAT\n"), None);
    assert_eq!(judgement.status, "unsat");
}

#[test]
fn numbered_capture_group_in_answer() {
    let rules = output_rules(&[("^FALSE\\((.*)\\)", "false($1)")]);
    let judgement = judge(Some(&rules), &exited(0), &log("FALSE(unreach-call)\n"), Some("false(unreach-call)"));
    assert_eq!(judgement.status, "false(unreach-call)");
    assert_eq!(judgement.category, Category::Correct);
}

#[test]
fn named_capture_group_in_answer() {
    let rules = output_rules(&[("^Verdict: (?P<v>[A-Z]+)", "${v}")]);
    let judgement = judge(Some(&rules), &exited(0), &log("Verdict: TRUE\n"), Some("true"));
    assert_eq!(judgement.status, "TRUE");
    assert_eq!(judgement.category, Category::Correct);
}

#[test]
fn empty_captured_answer_is_unknown() {
    let rules = output_rules(&[("^result:(.*)$", "$1")]);
    let judgement = judge(Some(&rules), &exited(0), &log("result:\n"), Some("sat"));
    assert_eq!(judgement.status, "unknown");
    assert_eq!(judgement.category, Category::Unknown);
}

#[test]
fn output_wins_over_exit_code() {
    let rules = VerdictRules { output: output_rules(&[("^UNKNOWN$", "unknown")]).output, ..sat_exit_codes() };
    let judgement = judge(Some(&rules), &exited(10), &log("UNKNOWN\n"), Some("sat"));
    assert_eq!(judgement.status, "unknown");
    assert_eq!(judgement.category, Category::Unknown);
}

#[test]
fn exit_code_used_when_output_does_not_match() {
    let judgement = judge(Some(&minisat_rules()), &exited(20), &log("c no verdict line\n"), Some("unsat"));
    assert_eq!(judgement.status, "unsat");
    assert_eq!(judgement.category, Category::Correct);
}

#[test]
fn output_answer_counts_with_nonzero_exit_code() {
    let rules = output_rules(&[("^FALSE$", "false")]);
    let judgement = judge(Some(&rules), &exited(1), &log("FALSE\n"), Some("false"));
    assert_eq!(judgement.status, "false");
    assert_eq!(judgement.category, Category::Correct);
}

#[test]
fn header_is_not_matched() {
    let rules = output_rules(&[("UNSAT", "unsat")]);
    let log = format!("minisat php-unsat.cnf\n{}\n\nno verdict\n", "-".repeat(80));
    let judgement = judge(Some(&rules), &exited(0), log.as_bytes(), Some("unsat"));
    assert_eq!(judgement.status, "unknown");
}

#[test]
fn unknown_answer_is_unknown_category() {
    let rules = output_rules(&[("^s UNKNOWN", "unknown")]);
    let judgement = judge(Some(&rules), &exited(0), &log("s UNKNOWN\n"), Some("sat"));
    assert_eq!(judgement.status, "unknown");
    assert_eq!(judgement.category, Category::Unknown);
    assert_eq!(judgement.answer.as_deref(), Some("unknown"));
}

#[test]
fn no_rule_matched_is_unknown() {
    let judgement = judge(Some(&minisat_rules()), &exited(0), &log("INDETERMINATE\n"), Some("sat"));
    assert_eq!(judgement.status, "unknown");
    assert_eq!(judgement.category, Category::Unknown);
    assert_eq!(judgement.answer, None);
}

#[test]
fn truncated_output_without_answer_is_output_limit() {
    let mut run = exited(0);
    run.output_truncated = true;
    let judgement = judge(Some(&minisat_rules()), &run, &log("c progress\n"), Some("sat"));
    assert_eq!(judgement.status, "output limit");
    assert_eq!(judgement.category, Category::Error);
}

#[test]
fn truncated_output_keeps_answer() {
    let mut run = exited(0);
    run.output_truncated = true;
    let judgement = judge(Some(&minisat_rules()), &run, &log("SATISFIABLE\n"), Some("sat"));
    assert_eq!(judgement.status, "sat");
    assert_eq!(judgement.category, Category::Correct);
}

#[test]
fn plain_command_is_done() {
    let judgement = judge(None, &exited(0), &log("all tests passed\n"), None);
    assert_eq!(judgement.status, "done");
    assert_eq!(judgement.category, Category::Missing);
    assert_eq!(judgement.answer, None);
}

#[test]
fn columns_only_rules_give_done() {
    let rules = VerdictRules {
        columns: vec![ColumnRule { name: "tests".to_owned(), pattern: "(\\d+) passed".to_owned() }],
        ..VerdictRules::default()
    };
    let judgement = judge(Some(&rules), &exited(0), &log("12 passed\n"), None);
    assert_eq!(judgement.status, "done");
    assert_eq!(judgement.columns.get("tests").map(String::as_str), Some("12"));
}

#[test]
fn plain_command_failure_is_error() {
    let judgement = judge(None, &exited(2), &log("make: *** [test] Error 1\n"), None);
    assert_eq!(judgement.status, "error (exit code 2)");
    assert_eq!(judgement.category, Category::Error);
}

#[test]
fn signal_is_error() {
    let run = outcome(Some(ExitStatus::Signaled(libc::SIGSEGV)), None);
    let judgement = judge(Some(&minisat_rules()), &run, &log("SATISFIABLE\n"), Some("sat"));
    assert_eq!(judgement.status, "signal (SIGSEGV)");
    assert_eq!(judgement.category, Category::Error);
    assert_eq!(judgement.answer, None);
}

#[test]
fn unknown_signal_number_is_named_by_number() {
    let run = outcome(Some(ExitStatus::Signaled(200)), None);
    let judgement = judge(None, &run, &log(""), None);
    assert_eq!(judgement.status, "signal (200)");
}

#[test]
fn limits_give_their_status_whatever_was_printed() {
    let cases = [
        (TerminationReason::CpuTime, "timeout"),
        (TerminationReason::WallTime, "timeout"),
        (TerminationReason::CpuTimeSoft, "timeout (soft)"),
        (TerminationReason::Memory, "out of memory"),
    ];
    for (reason, status) in cases {
        let judgement = judge(Some(&minisat_rules()), &stopped(reason), &log("SATISFIABLE\n"), Some("sat"));
        assert_eq!(judgement.status, status, "{reason}");
        assert_eq!(judgement.category, Category::Error, "{reason}");
        assert_eq!(judgement.answer, None, "{reason}");
    }
}

#[test]
fn soft_timeout_with_clean_exit_is_timeout() {
    let run = outcome(Some(ExitStatus::Exited(0)), Some(TerminationReason::CpuTimeSoft));
    let judgement = judge(Some(&sat_exit_codes()), &run, &log(""), None);
    assert_eq!(judgement.status, "timeout (soft)");
}

#[test]
fn failed_start_is_failed() {
    let run = RunOutcome::failed(jiff::Timestamp::UNIX_EPOCH, "mount failed".to_owned());
    let judgement = judge(Some(&sat_exit_codes()), &run, b"", Some("sat"));
    assert_eq!(judgement.status, "failed");
    assert_eq!(judgement.category, Category::Error);
}

#[test]
fn missing_exit_status_is_failed() {
    let judgement = judge(None, &outcome(None, None), b"", None);
    assert_eq!(judgement.status, "failed");
    assert_eq!(judgement.category, Category::Error);
}

#[test]
fn killed_is_interrupted() {
    let judgement = judge(None, &stopped(TerminationReason::Killed), &log(""), None);
    assert_eq!(judgement.status, "interrupted");
    assert_eq!(judgement.category, Category::Error);
}

#[test]
fn answer_without_expected_is_missing() {
    let judgement = judge(Some(&sat_exit_codes()), &exited(10), &log(""), None);
    assert_eq!(judgement.status, "sat");
    assert_eq!(judgement.category, Category::Missing);
}

#[test]
fn columns_take_last_match_first_group() {
    let rules = VerdictRules {
        columns: vec![
            ColumnRule { name: "conflicts".to_owned(), pattern: "^conflicts\\s*:\\s*(\\d+)".to_owned() },
            ColumnRule { name: "restarts".to_owned(), pattern: "^restarts: \\d+".to_owned() },
            ColumnRule { name: "absent".to_owned(), pattern: "^never".to_owned() },
        ],
        ..sat_exit_codes()
    };
    let output = "conflicts : 10\nconflicts : 42\nrestarts: 7\n";
    let judgement = judge(Some(&rules), &exited(20), &log(output), Some("unsat"));
    assert_eq!(judgement.columns.get("conflicts").map(String::as_str), Some("42"));
    assert_eq!(judgement.columns.get("restarts").map(String::as_str), Some("restarts: 7"));
    assert!(!judgement.columns.contains_key("absent"));
}

#[test]
fn columns_read_after_timeout() {
    let rules = VerdictRules {
        columns: vec![ColumnRule { name: "conflicts".to_owned(), pattern: "conflicts: (\\d+)".to_owned() }],
        ..sat_exit_codes()
    };
    let judgement = judge(Some(&rules), &stopped(TerminationReason::CpuTime), &log("conflicts: 99\n"), None);
    assert_eq!(judgement.status, "timeout");
    assert_eq!(judgement.columns.get("conflicts").map(String::as_str), Some("99"));
}

#[test]
fn invalid_pattern_is_error() {
    let rules = output_rules(&[("(unclosed", "sat")]);
    let judgement = judge(Some(&rules), &exited(0), &log("sat\n"), None);
    assert_eq!(judgement.status, "error (invalid verdict rule)");
    assert_eq!(judgement.category, Category::Error);
}

#[test]
fn compile_rejects_invalid_pattern() {
    assert!(output_rules(&[("[a-", "sat")]).compile().is_err());
    assert!(output_rules(&[("^ok$", "ok")]).compile().is_ok());
}

#[test]
fn non_utf8_output_is_read() {
    let rules = output_rules(&[("^RESULT: (\\w+)$", "$1")]);
    let mut bytes = log("");
    bytes.extend_from_slice(b"\xff\xfe garbage\nRESULT: sat\n");
    let judgement = judge(Some(&rules), &exited(0), &bytes, Some("sat"));
    assert_eq!(judgement.status, "sat");
}

#[test]
fn compiled_rules_are_reusable() {
    let compiled = minisat_rules().compile().expect("valid patterns");
    let first = judge_compiled(Some(&compiled), &exited(0), &log("SATISFIABLE\n"), Some("sat"));
    let second = judge_compiled(Some(&compiled), &exited(0), &log("UNSATISFIABLE\n"), Some("sat"));
    assert_eq!(first.category, Category::Correct);
    assert_eq!(second.category, Category::Wrong);
}

#[test]
fn column_matches_across_undecodable_bytes() {
    let rules = VerdictRules {
        columns: vec![ColumnRule { name: "said".into(), pattern: "^(caf.*)$".into() }],
        ..VerdictRules::default()
    };
    let judgement = judge(Some(&rules), &exited(0), b"caf\xc3\xa9 \xff;\n", None);
    assert_eq!(judgement.columns.get("said").map(String::as_str), Some("café \\xFF;"));
}

//! Judging one finished run: its status, its category, its answer and its extra columns.
//!
//! The order of the checks, first applicable wins:
//! 1. cellrun stopped the run: `failed`, `interrupted`, `timeout`, `timeout (soft)` or
//!    `out of memory`, whatever the tool printed before.
//! 2. A signal ended the tool: `signal (SIGSEGV)` and the like.
//! 3. An `output` rule matches: its answer, whatever the exit code.
//! 4. `exit_codes` maps the exit code: that answer.
//! 5. Any other non-zero exit code: `error (exit code N)`.
//! 6. Exit code 0: `done` without answer rules; with them, `output limit` when the output was
//!    truncated, else `unknown`.
//!
//! Columns are read from the output in every case, so a run that timed out still reports
//! the counters it printed.

use std::collections::BTreeMap;

use nix::sys::signal::Signal;

use super::{Category, CompiledRules, VerdictRules, categorize, tool_output};
use crate::sandbox::{ExitStatus, RunOutcome, TerminationReason};

/// The verdict on one run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Judgement {
    /// What happened: the tool's answer, `done`, or a status such as `timeout`.
    pub status: String,
    pub category: Category,
    /// The answer read from the exit code or output, when the tool gave one.
    pub answer: Option<String>,
    /// Values of the tool's `columns` rules that matched.
    pub columns: BTreeMap<String, String>,
}

/// Judges a run from its log file contents, by the rules in the module documentation.
///
/// The rules are compiled on the first call and the compiled form is kept in `rules`. An
/// invalid pattern, which the job-file check rejects before any run, yields the status
/// `error (invalid verdict rule)`.
pub fn judge(rules: Option<&VerdictRules>, outcome: &RunOutcome, log: &[u8], expected: Option<&str>) -> Judgement {
    match rules.map(VerdictRules::compiled).transpose() {
        Ok(compiled) => judge_compiled(compiled, outcome, log, expected),
        Err(error) => {
            tracing::error!(%error, "invalid verdict rule");
            Judgement {
                status: "error (invalid verdict rule)".to_owned(),
                category: Category::Error,
                answer: None,
                columns: BTreeMap::new(),
            }
        }
    }
}

/// Judges a run from its log file contents with rules compiled beforehand.
pub fn judge_compiled(
    rules: Option<&CompiledRules>,
    outcome: &RunOutcome,
    log: &[u8],
    expected: Option<&str>,
) -> Judgement {
    let output = tool_output(log);
    // Rules match the output with undecodable bytes written as `\xNN`, the rule of the CSV
    // summary, so `.` matches across them and extracted values read as they will be stored.
    let escaped;
    let output = match std::str::from_utf8(output) {
        Ok(_) => output,
        Err(_) => {
            escaped = crate::sandbox::path_text::escape_bytes(output);
            escaped.as_bytes()
        }
    };
    let columns = rules.map(|rules| rules.columns(output)).unwrap_or_default();

    let (status, category, answer) = match read(rules, outcome, output) {
        Reading::Stopped(status) => (status, Category::Error, None),
        Reading::Answer(answer) => (answer.clone(), categorize(&answer, expected), Some(answer)),
        Reading::Done => ("done".to_owned(), Category::Missing, None),
        Reading::NoAnswer => ("unknown".to_owned(), Category::Unknown, None),
    };
    Judgement { status, category, answer, columns }
}

/// The result of reading a run, before it is compared with the expected answer.
enum Reading {
    /// No answer because of a limit, a crash or a failed start; the status says which.
    Stopped(String),
    Answer(String),
    /// A command without answer rules that exited with code 0.
    Done,
    /// Answer rules exist, the tool exited with code 0, and none matched.
    NoAnswer,
}

fn read(rules: Option<&CompiledRules>, outcome: &RunOutcome, output: &[u8]) -> Reading {
    if let Some(reason) = outcome.termination {
        return Reading::Stopped(termination_status(reason).to_owned());
    }

    let code = match outcome.exit {
        None => return Reading::Stopped("failed".to_owned()),
        Some(ExitStatus::Signaled(signal)) => return Reading::Stopped(signal_status(signal)),
        Some(ExitStatus::Exited(code)) => code,
    };

    if let Some(answer) = rules.and_then(|rules| rules.answer_from_output(output)) {
        // An empty answer, such as `$1` over an empty group, tells nothing.
        return if answer.is_empty() { Reading::NoAnswer } else { Reading::Answer(answer) };
    }
    if let Some(answer) = rules.and_then(|rules| rules.answer_for_exit_code(code)) {
        return Reading::Answer(answer.to_owned());
    }
    if code != 0 {
        return Reading::Stopped(format!("error (exit code {code})"));
    }

    match rules {
        Some(rules) if rules.reads_answers() && outcome.output_truncated => Reading::Stopped("output limit".to_owned()),
        Some(rules) if rules.reads_answers() => Reading::NoAnswer,
        _ => Reading::Done,
    }
}

/// Returns the status of a run that cellrun stopped.
pub fn termination_status(reason: TerminationReason) -> &'static str {
    match reason {
        TerminationReason::CpuTime | TerminationReason::WallTime => "timeout",
        TerminationReason::CpuTimeSoft => "timeout (soft)",
        TerminationReason::Memory => "out of memory",
        TerminationReason::Killed => "interrupted",
        TerminationReason::Failed => "failed",
    }
}

/// Formats the status of a run whose tool a signal ended, such as `signal (SIGSEGV)`.
fn signal_status(signal: i32) -> String {
    match Signal::try_from(signal) {
        Ok(signal) => format!("signal ({})", signal.as_str()),
        Err(_) => format!("signal ({signal})"),
    }
}

#[cfg(test)]
mod tests;

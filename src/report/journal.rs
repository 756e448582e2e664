//! Reading the journal of a result directory for reports.
//!
//! The journal, `runs.jsonl`, has one JSON run record per line and is appended to as runs
//! finish. A batch that was killed may leave a line cut short, and a resumed batch appends a
//! run again after its earlier record. So a line cut short is skipped, and when a run id
//! appears twice, the later line wins.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::results::RunRecord;

/// The journal's file name inside a result directory.
pub const JOURNAL_FILE: &str = "runs.jsonl";

/// The run records of a journal, one per run id.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Journal {
    /// One record per run id, in the order the ids first appear.
    pub records: Vec<RunRecord>,
    /// Line numbers (from 1) of lines that were cut short and skipped.
    pub cut_lines: Vec<usize>,
}

#[derive(Debug, Error)]
pub enum JournalError {
    #[error("cannot read the journal {path}: {source}; name a result directory written by `cellrun run`")]
    Read { path: PathBuf, source: io::Error },

    #[error(
        "{path}:{line}: invalid run record: {source}; the line was changed by hand or written by another version of cellrun"
    )]
    Invalid { path: PathBuf, line: usize, source: serde_json::Error },
}

/// Reads `DIR/runs.jsonl` of a result directory.
pub fn read_journal(result_dir: &Path) -> Result<Journal, JournalError> {
    let path = result_dir.join(JOURNAL_FILE);
    let bytes = std::fs::read(&path).map_err(|source| JournalError::Read { path: path.clone(), source })?;
    parse_journal(&bytes, &path)
}

/// Parses journal contents; `path` only names the file in errors.
pub fn parse_journal(bytes: &[u8], path: &Path) -> Result<Journal, JournalError> {
    let mut journal = Journal::default();
    let mut positions: HashMap<String, usize> = HashMap::new();

    for (index, line) in bytes.split(|&byte| byte == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }

        let record: RunRecord = match serde_json::from_slice(line) {
            Ok(record) => record,
            // A line that ends before its JSON value does was cut short by a crash.
            Err(error) if error.is_eof() => {
                journal.cut_lines.push(index + 1);
                continue;
            }
            Err(source) => return Err(JournalError::Invalid { path: path.to_owned(), line: index + 1, source }),
        };

        match positions.get(&record.run_id) {
            Some(&position) => journal.records[position] = record,
            None => {
                positions.insert(record.run_id.clone(), journal.records.len());
                journal.records.push(record);
            }
        }
    }
    Ok(journal)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(run_id: &str, status: &str) -> String {
        format!(
            r#"{{"run_id":"{run_id}","tool":"t","config":"","task_set":"s","task":"{run_id}","status":"{status}","category":"correct","expected":"ok","exit_code":0,"exit_signal":null,"termination_reason":null,"cputime_s":0.5,"walltime_s":0.6,"memory_bytes":1024,"cores":"0","started_at":"2026-01-01T00:00:00Z","log":"logs/x.log","files":1,"failure":null,"output_truncated":false,"columns":{{}}}}"#
        )
    }

    fn parse(text: &str) -> Result<Journal, JournalError> {
        parse_journal(text.as_bytes(), Path::new("out/runs.jsonl"))
    }

    #[test]
    fn records_are_read() {
        let journal = parse(&format!("{}\n{}\n", line("a", "ok"), line("b", "ok"))).expect("valid journal");
        assert_eq!(journal.records.len(), 2);
        assert_eq!(journal.records[1].run_id, "b");
        assert!(journal.cut_lines.is_empty());
    }

    #[test]
    fn cut_last_line_is_skipped() {
        let full = line("b", "ok");
        let text = format!("{}\n{}", line("a", "ok"), &full[..full.len() / 2]);
        let journal = parse(&text).expect("cut line tolerated");
        assert_eq!(journal.records.len(), 1);
        assert_eq!(journal.cut_lines, [2]);
    }

    #[test]
    fn later_line_wins() {
        let text = format!("{}\n{}\n{}\n", line("a", "timeout"), line("b", "ok"), line("a", "ok"));
        let journal = parse(&text).expect("valid journal");
        assert_eq!(journal.records.len(), 2);
        assert_eq!(journal.records[0].run_id, "a");
        assert_eq!(journal.records[0].status, "ok");
    }

    #[test]
    fn invalid_line_names_its_place() {
        let text = format!("{}\nnot json\n", line("a", "ok"));
        let error = parse(&text).expect_err("invalid line");
        let message = error.to_string();
        assert!(message.starts_with("out/runs.jsonl:2: invalid run record"), "{message}");
    }

    #[test]
    fn blank_lines_are_ignored() {
        let journal = parse(&format!("\n{}\n\n", line("a", "ok"))).expect("valid journal");
        assert_eq!(journal.records.len(), 1);
    }

    #[test]
    fn missing_journal_is_read_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let error = read_journal(dir.path()).expect_err("no journal");
        assert!(matches!(error, JournalError::Read { .. }));
        assert!(error.to_string().contains("runs.jsonl"));
    }
}

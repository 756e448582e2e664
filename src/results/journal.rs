//! The journal `runs.jsonl`: one JSON object per finished run, the durable record of a batch.
//!
//! Each record is written with a single `write` to a file opened with `O_APPEND`, so
//! concurrent appenders never interleave lines, and then flushed with `fdatasync`, outside
//! the lock so that the flushes of parallel slots overlap. A run counts as done only after
//! its flush returned. A crash can leave at most one incomplete line at the end; reading
//! drops such a torn tail, and resuming cuts it off before appending.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::error::ResultsError;
use super::record::RunRecord;

/// An open journal, shared by the slots of a batch.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    append_lock: Mutex<()>,
}

/// The complete records of a journal and the torn line dropped while reading it.
#[derive(Debug)]
pub struct JournalContents {
    pub records: Vec<RunRecord>,
    /// The line number of an incomplete last line that was dropped.
    pub torn_line: Option<usize>,
}

impl Journal {
    /// Opens `path` for appending, creating it when missing.
    pub fn open(path: &Path) -> Result<Journal, ResultsError> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| ResultsError::Write { path: path.to_path_buf(), source })?;
        Ok(Journal { path: path.to_path_buf(), file, append_lock: Mutex::new(()) })
    }

    /// Appends `record` as one line and flushes it to disk.
    pub fn append(&self, record: &RunRecord) -> Result<(), ResultsError> {
        let mut line = serde_json::to_vec(record).expect("a run record always serializes");
        line.push(b'\n');

        {
            let _guard = self.append_lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            (&self.file).write_all(&line).map_err(|source| self.write_error(source))?;
        }

        self.file.sync_data().map_err(|source| self.write_error(source))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write_error(&self, source: std::io::Error) -> ResultsError {
        ResultsError::Write { path: self.path.clone(), source }
    }
}

/// Reads every complete record of the journal at `path`.
///
/// Unparsable text after the last complete record is a torn tail and is dropped. An
/// unparsable line followed by complete records is an error that names the line.
pub fn read(path: &Path) -> Result<JournalContents, ResultsError> {
    let bytes = std::fs::read(path).map_err(|source| ResultsError::Read { path: path.to_path_buf(), source })?;
    parse(path, &bytes)
}

fn parse(path: &Path, bytes: &[u8]) -> Result<JournalContents, ResultsError> {
    let mut records = Vec::new();
    let mut bad_line: Option<(usize, String)> = None;

    for (index, line) in bytes.split(|byte| *byte == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<RunRecord>(line) {
            Ok(record) => {
                if let Some((line, message)) = bad_line.take() {
                    return Err(ResultsError::CorruptJournal { path: path.to_path_buf(), line, message });
                }
                records.push(record);
            }
            Err(error) if bad_line.is_none() => bad_line = Some((index + 1, error.to_string())),
            Err(_) => {}
        }
    }

    Ok(JournalContents { records, torn_line: bad_line.map(|(line, _)| line) })
}

/// Replaces the journal at `path` with `records`, atomically: a crash leaves either the old
/// or the new journal.
pub fn rewrite(path: &Path, records: &[RunRecord]) -> Result<(), ResultsError> {
    let mut text = Vec::new();
    for record in records {
        serde_json::to_writer(&mut text, record).expect("a run record always serializes");
        text.push(b'\n');
    }
    super::atomic::write(path, &text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::record::tests::sample;

    #[test]
    fn appended_records_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs.jsonl");
        let journal = Journal::open(&path).unwrap();
        journal.append(&sample("a")).unwrap();
        journal.append(&sample("b")).unwrap();

        let contents = read(&path).unwrap();
        let ids: Vec<_> = contents.records.iter().map(|record| record.run_id.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
        assert_eq!(contents.torn_line, None);
    }

    #[test]
    fn torn_last_line_dropped() {
        let mut bytes = serde_json::to_vec(&sample("a")).unwrap();
        bytes.extend_from_slice(b"\n{\"run_id\":\"b\",\"tool");
        let contents = parse(Path::new("runs.jsonl"), &bytes).unwrap();
        assert_eq!(contents.records.len(), 1);
        assert_eq!(contents.torn_line, Some(2));
    }

    #[test]
    fn corrupt_middle_line_rejected() {
        let mut bytes = b"garbage\n".to_vec();
        bytes.extend(serde_json::to_vec(&sample("a")).unwrap());
        let error = parse(Path::new("runs.jsonl"), &bytes).unwrap_err();
        assert!(matches!(error, ResultsError::CorruptJournal { line: 1, .. }), "{error}");
    }

    #[test]
    fn rewrite_replaces_contents() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs.jsonl");
        std::fs::write(&path, b"{\"torn").unwrap();
        rewrite(&path, &[sample("c")]).unwrap();
        let contents = read(&path).unwrap();
        assert_eq!(contents.records, vec![sample("c")]);
    }
}

//! The tool's stored output: a header naming the command, then the output, cut to the
//! output limit while the run goes on.
//!
//! The tool never blocks on a full pipe: the supervisor reads everything. When the output
//! exceeds the limit, the file keeps the first half of the limit and the last half, with a
//! marker line between them that says how many bytes were dropped. The file on disk never
//! grows past the header plus half the limit before the run ends.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

/// The line between the header and the output: 80 dashes, as `runexec` writes it.
pub const HEADER_RULE: &str = "--------------------------------------------------------------------------------";

/// A log file that keeps the head and the tail of the output within a limit.
pub struct LogWriter {
    file: File,
    head_capacity: Option<u64>,
    head_written: u64,
    tail: VecDeque<u8>,
    tail_capacity: usize,
    dropped: u64,
}

impl LogWriter {
    /// Creates the log file and writes the header naming the command line.
    pub fn create(path: &Path, command: &[OsString], limit: Option<u64>) -> io::Result<LogWriter> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut file = File::create(path)?;
        let command_line: Vec<String> = command.iter().map(|arg| shell_quote(&arg.to_string_lossy())).collect();
        write!(file, "{}\n{HEADER_RULE}\n\n", command_line.join(" "))?;
        let head_capacity = limit.map(|limit| limit / 2);
        let tail_capacity = limit.map(|limit| (limit - limit / 2) as usize).unwrap_or(0);
        Ok(LogWriter { file, head_capacity, head_written: 0, tail: VecDeque::new(), tail_capacity, dropped: 0 })
    }

    /// Stores a chunk of output.
    pub fn write(&mut self, mut chunk: &[u8]) -> io::Result<()> {
        let Some(head_capacity) = self.head_capacity else {
            return self.file.write_all(chunk);
        };
        if self.head_written < head_capacity {
            let room = (head_capacity - self.head_written).min(chunk.len() as u64) as usize;
            self.file.write_all(&chunk[..room])?;
            self.head_written += room as u64;
            chunk = &chunk[room..];
        }
        self.tail.extend(chunk);
        let excess = self.tail.len().saturating_sub(self.tail_capacity);
        if excess > 0 {
            self.tail.drain(..excess);
            self.dropped += excess as u64;
        }
        Ok(())
    }

    /// Writes the marker and the kept tail; returns whether output was dropped.
    pub fn finish(mut self) -> io::Result<bool> {
        if self.dropped > 0 {
            write!(self.file, "\n[cellrun: {} bytes of output omitted here because of the output limit]\n", self.dropped)?;
        }
        let (first, second) = self.tail.as_slices();
        self.file.write_all(first)?;
        self.file.write_all(second)?;
        self.file.flush()?;
        Ok(self.dropped > 0)
    }
}

/// Quotes an argument for a POSIX shell when it contains anything but safe characters.
pub fn shell_quote(argument: &str) -> String {
    let safe = !argument.is_empty()
        && argument.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if safe {
        return argument.to_string();
    }
    format!("'{}'", argument.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_of(path: &Path) -> String {
        let text = std::fs::read_to_string(path).unwrap();
        let start = text.find(&format!("{HEADER_RULE}\n\n")).unwrap() + HEADER_RULE.len() + 2;
        text[start..].to_string()
    }

    #[test]
    fn output_under_limit_kept_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.log");
        let mut log = LogWriter::create(&path, &["echo".into(), "a b".into()], Some(100)).unwrap();
        log.write(b"0123456789").unwrap();
        log.write(&[b'x'; 80]).unwrap();
        assert!(!log.finish().unwrap());
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("echo 'a b'\n"));
        assert_eq!(body_of(&path), format!("0123456789{}", "x".repeat(80)));
    }

    #[test]
    fn output_over_limit_keeps_head_and_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.log");
        let mut log = LogWriter::create(&path, &["seq".into()], Some(10)).unwrap();
        for chunk in [&b"HEAD"[..], b"-middle-middle-", b"TAIL!"] {
            log.write(chunk).unwrap();
        }
        assert!(log.finish().unwrap());
        let body = body_of(&path);
        assert!(body.starts_with("HEAD-"), "{body}");
        assert!(body.ends_with("TAIL!"), "{body}");
        assert!(body.contains("14 bytes of output omitted"), "{body}");
    }

    #[test]
    fn quoting_of_odd_arguments() {
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("-q"), "-q");
    }
}

//! `summary.csv`: one row per run in plan order, rewritten atomically as runs finish.
//!
//! The CSV follows RFC 4180 through the `csv` crate: comma separator, `"` quoting only where a
//! field needs it, doubled quotes, and CRLF after each record. A line break inside a field is
//! kept as it is, inside quotes.
//! Numbers carry no units; the unit is in the column name. Empty fields mean "no value".
//!
//! Rewriting the whole file after every run would cost O(n²) over a batch, so rewrites are
//! spaced: at least [`MIN_INTERVAL`] apart and at least twice as long apart as the last
//! rewrite took, which bounds the time spent writing to about a third. The journal, not the
//! summary, is the durable record; the summary is rewritten from it at the end.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::atomic;
use super::error::ResultsError;
use super::record::RunRecord;

/// Shortest time between two rewrites of the summary during a batch.
pub const MIN_INTERVAL: Duration = Duration::from_millis(200);

/// The fixed columns, in order; extracted `columns:` values follow them.
pub const COLUMNS: [&str; 20] = [
    "run_id",
    "tool",
    "config",
    "task_set",
    "task",
    "status",
    "category",
    "expected",
    "exit_code",
    "exit_signal",
    "termination_reason",
    "cputime_s",
    "walltime_s",
    "memory_bytes",
    "cores",
    "started_at",
    "log",
    "files",
    "failure",
    "output_truncated",
];

/// Rewrites `summary.csv`, no more often than its spacing rule allows.
#[derive(Debug)]
pub struct SummaryWriter {
    path: PathBuf,
    last_write: Option<Instant>,
    last_cost: Duration,
}

impl SummaryWriter {
    pub fn new(path: PathBuf) -> SummaryWriter {
        SummaryWriter { path, last_write: None, last_cost: Duration::ZERO }
    }

    /// Rewrites the summary when enough time has passed since the last rewrite.
    pub fn write_if_due<'a>(&mut self, rows: impl Iterator<Item = &'a RunRecord> + Clone) -> Result<bool, ResultsError> {
        let due = match self.last_write {
            None => true,
            Some(last) => last.elapsed() >= MIN_INTERVAL.max(self.last_cost * 2),
        };
        if due {
            self.write_now(rows)?;
        }
        Ok(due)
    }

    /// Rewrites the summary now.
    pub fn write_now<'a>(&mut self, rows: impl Iterator<Item = &'a RunRecord> + Clone) -> Result<(), ResultsError> {
        let start = Instant::now();
        write_summary(&self.path, rows)?;
        self.last_cost = start.elapsed();
        self.last_write = Some(Instant::now());
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Writes `rows` to `path` atomically.
///
/// The CSV is built in memory first, so a failure leaves the previous summary in place.
pub fn write_summary<'a>(path: &Path, rows: impl Iterator<Item = &'a RunRecord> + Clone) -> Result<(), ResultsError> {
    let extra = extra_columns(rows.clone());
    let csv_error = |source| ResultsError::Csv { path: path.to_path_buf(), source };

    let mut writer = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::with_capacity(1 << 16));
    write_rows(&mut writer, &extra, rows).map_err(csv_error)?;
    let text = writer.into_inner().map_err(|error| csv_error(csv::Error::from(error.into_error())))?;

    atomic::write(path, &text)
}

/// Collects the names of the extracted columns of `rows`, sorted.
fn extra_columns<'a>(rows: impl Iterator<Item = &'a RunRecord>) -> Vec<String> {
    let names: BTreeSet<&str> = rows.flat_map(|row| row.columns.keys().map(String::as_str)).collect();
    names.into_iter().map(String::from).collect()
}

/// Returns the header of an extracted column: a name equal to a fixed column gets the prefix
/// `extra_`, so no header appears twice.
fn header_name(extra: &str) -> String {
    if COLUMNS.contains(&extra) { format!("extra_{extra}") } else { extra.to_string() }
}

fn write_rows<'a, W: Write>(
    writer: &mut csv::Writer<W>,
    extra: &[String],
    rows: impl Iterator<Item = &'a RunRecord>,
) -> Result<(), csv::Error> {
    let header = COLUMNS.iter().map(|name| name.to_string()).chain(extra.iter().map(|name| header_name(name)));
    writer.write_record(header)?;

    let mut fields: Vec<String> = Vec::with_capacity(COLUMNS.len() + extra.len());
    for row in rows {
        fields.clear();
        push_fields(&mut fields, row);
        fields.extend(extra.iter().map(|name| row.columns.get(name).cloned().unwrap_or_default()));
        writer.write_record(&fields)?;
    }
    Ok(())
}

fn push_fields(fields: &mut Vec<String>, row: &RunRecord) {
    fn optional<T: ToString>(value: &Option<T>) -> String {
        value.as_ref().map(ToString::to_string).unwrap_or_default()
    }

    fields.extend([
        row.run_id.clone(),
        row.tool.clone(),
        row.config.clone(),
        row.task_set.clone(),
        row.task.clone(),
        row.status.clone(),
        row.category.name().to_string(),
        optional(&row.expected),
        optional(&row.exit_code),
        optional(&row.exit_signal),
        optional(&row.termination_reason),
        seconds(row.cputime_s),
        seconds(row.walltime_s),
        optional(&row.memory_bytes),
        row.cores.clone(),
        row.started_at.clone(),
        row.log.clone(),
        row.files.to_string(),
        optional(&row.failure),
        row.output_truncated.to_string(),
    ]);
}

/// Seconds with microsecond resolution, the resolution of the kernel's CPU-time counters.
fn seconds(value: f64) -> String {
    format!("{value:.6}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::record::tests::sample;

    fn render(rows: &[RunRecord]) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("summary.csv");
        write_summary(&path, rows.iter()).unwrap();
        std::fs::read_to_string(path).unwrap()
    }

    #[test]
    fn header_lists_columns_in_order() {
        let text = render(&[]);
        assert_eq!(text, format!("{}\r\n", COLUMNS.join(",")));
    }

    #[test]
    fn row_values_formatted() {
        let text = render(&[sample("a")]);
        let row = text.lines().nth(1).unwrap();
        assert_eq!(row, "a,tool,,set,task.cnf,done,missing,,0,,,0.250000,0.500000,1024,0,2026-12-04T20:00:00Z,logs/a.log,0,,false");
    }

    #[test]
    fn fields_with_separators_quoted() {
        let text = render(&[sample("comma,quote\"and newline\nname")]);
        assert!(text.contains("\"comma,quote\"\"and newline\nname\""), "{text}");
    }

    #[test]
    fn extra_columns_appended_sorted() {
        let mut row = sample("a");
        row.columns.insert("decisions".into(), "42".into());
        row.columns.insert("status".into(), "x".into());
        let text = render(&[row, sample("b")]);
        let mut lines = text.lines();
        assert!(lines.next().unwrap().ends_with(",output_truncated,decisions,extra_status"));
        assert!(lines.next().unwrap().ends_with(",false,42,x"));
        assert!(lines.next().unwrap().ends_with(",false,,"));
    }

    #[test]
    fn rewrite_spaced() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = SummaryWriter::new(dir.path().join("summary.csv"));
        let rows = [sample("a")];
        assert!(writer.write_if_due(rows.iter()).unwrap());
        assert!(!writer.write_if_due(rows.iter()).unwrap());
    }
}

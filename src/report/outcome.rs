//! The short report printed when a batch ends.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use super::tally::{format_duration, printable};
use crate::schedule::BatchEnd;

/// How many of the slowest runs the report lists.
const SLOWEST: usize = 5;

/// Formats the end-of-batch report: counts per status and category, CPU and wall time, the
/// slowest runs and the result directory.
pub fn render(end: &BatchEnd, job_file: &Path) -> String {
    let mut lines = vec![format!(
        "cellrun: {} runs in the summary, {} run in this session, results in {}",
        end.records.len(),
        end.ran,
        end.root.display()
    )];

    lines.push(format!("  status: {}", counts(end.records.iter().map(|record| printable(&record.status)))));
    lines.push(format!("  category: {}", counts(end.records.iter().map(|record| record.category.name().to_string()))));

    let cpu: f64 = end.records.iter().map(|record| record.cputime_s).sum();
    lines.push(format!(
        "  CPU time {} over all runs; wall time {} for this session",
        format_duration(Duration::from_secs_f64(cpu)),
        format_duration(end.wall)
    ));

    let mut slowest: Vec<_> = end.records.iter().collect();
    slowest.sort_by(|a, b| b.walltime_s.total_cmp(&a.walltime_s));
    let slowest: Vec<String> = slowest
        .iter()
        .take(SLOWEST)
        .map(|record| format!("{} {}", printable(&record.run_id), format_duration(Duration::from_secs_f64(record.walltime_s))))
        .collect();
    if !slowest.is_empty() {
        lines.push(format!("  slowest: {}", slowest.join(", ")));
    }

    if end.interrupted {
        lines.push(format!(
            "  interrupted: {} runs did not start; continue with `cellrun run {} --resume {}`",
            end.not_started,
            job_file.display(),
            end.root.display()
        ));
    }
    lines.join("\n")
}

/// `done 3, timeout 1`, most frequent first.
fn counts(values: impl Iterator<Item = String>) -> String {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for value in values {
        *counts.entry(value).or_default() += 1;
    }
    let mut sorted: Vec<_> = counts.into_iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    if sorted.is_empty() {
        return "none".to_string();
    }
    sorted.into_iter().map(|(value, count)| format!("{value} {count}")).collect::<Vec<_>>().join(", ")
}

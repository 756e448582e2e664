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
        "cellrun: {} run(s) in the summary, {} of them in this session, results in {}",
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

    let table = super::render_text(&super::summary_table(&end.records));
    if !table.is_empty() {
        lines.push(String::new());
        lines.push(table.trim_end().to_string());
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::RunRecord;
    use crate::results::record::tests::sample;
    use crate::schedule::SlotPlan;
    use crate::verdict::Category;

    fn record(run_id: &str, status: &str, walltime_s: f64) -> RunRecord {
        RunRecord {
            status: status.into(),
            category: if status == "done" { Category::Missing } else { Category::Error },
            cputime_s: 30.0,
            walltime_s,
            ..sample(run_id)
        }
    }

    fn end(interrupted: bool) -> BatchEnd {
        BatchEnd {
            root: "results/job.1".into(),
            records: vec![record("a", "done", 1.0), record("b\nc", "interrupted", 9.0), record("d", "done", 2.0)],
            ran: 3,
            not_started: 5,
            interrupted,
            wall: Duration::from_secs(10),
            slots: SlotPlan { slots: Vec::new(), cores: 1, memory_per_run: None },
            torn_line: None,
        }
    }

    #[test]
    fn report_lists_counts_times_and_slowest() {
        let text = render(&end(false), Path::new("job.yaml"));
        assert!(text.contains("results in results/job.1"), "{text}");
        assert!(text.contains("status: done 2, interrupted 1"), "{text}");
        assert!(text.contains("category: missing 2, error 1"), "{text}");
        assert!(text.contains("CPU time 1m30s"), "{text}");
        assert!(text.contains("slowest: b\\nc 9.0s, d 2.0s, a 1.0s"), "{text}");
        assert!(!text.contains("--resume"), "{text}");
    }

    #[test]
    fn report_ends_with_table_per_tool_and_config() {
        let mut end = end(false);
        for record in &mut end.records {
            record.tool = "solver".into();
        }
        let text = render(&end, Path::new("job.yaml"));
        let header = text.lines().find(|line| line.starts_with("tool")).unwrap_or_else(|| panic!("no table: {text}"));
        assert!(header.contains("correct"), "{header}");
        assert!(header.contains("out of memory"), "{header}");
        assert!(text.lines().any(|line| line.starts_with("solver")), "{text}");
    }

    #[test]
    fn interrupted_report_names_resume_command() {
        let text = render(&end(true), Path::new("job.yaml"));
        assert!(text.contains("5 runs did not start"), "{text}");
        assert!(text.contains("cellrun run job.yaml --resume results/job.1"), "{text}");
    }
}

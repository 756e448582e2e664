//! The summary a researcher reads after a campaign: one row per tool and config.
//!
//! Each row counts the runs per category, the timeouts and out-of-memory runs among the
//! errors, and the total CPU time of the correct runs, the usual score of a benchmark table.
//! The same table renders as aligned text for the terminal and as Markdown for papers and
//! pull requests.

use std::collections::BTreeMap;

use crate::results::RunRecord;
use crate::verdict::Category;

/// The summary table: one row per tool and config, sorted by tool, then config.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table {
    pub rows: Vec<SummaryRow>,
}

/// The counts of one tool and config, or of all runs for the total row.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SummaryRow {
    pub tool: String,
    /// The config's name; empty for tools without configs and for plain commands.
    pub config: String,
    pub runs: usize,
    pub correct: usize,
    pub wrong: usize,
    pub unknown: usize,
    pub error: usize,
    pub missing: usize,
    /// Runs stopped by the CPU-time, soft CPU-time or wall-time limit.
    pub timeouts: usize,
    /// Runs stopped by the memory limit.
    pub out_of_memory: usize,
    /// Total CPU time of the correct runs, in seconds.
    pub cputime_correct_s: f64,
}

const HEADERS: [&str; 11] = [
    "tool",
    "config",
    "runs",
    "correct",
    "wrong",
    "unknown",
    "error",
    "missing",
    "timeout",
    "out of memory",
    "cputime correct (s)",
];

/// Number of leading text columns; the others are numbers and are right-aligned.
const TEXT_COLUMNS: usize = 2;

/// Builds the summary of `records`, one row per tool and config.
pub fn summary_table(records: &[RunRecord]) -> Table {
    let mut rows: BTreeMap<(&str, &str), SummaryRow> = BTreeMap::new();
    for record in records {
        let row = rows.entry((&record.tool, &record.config)).or_insert_with(|| SummaryRow {
            tool: record.tool.clone(),
            config: record.config.clone(),
            ..SummaryRow::default()
        });
        row.add(record);
    }
    Table { rows: rows.into_values().collect() }
}

impl SummaryRow {
    fn add(&mut self, record: &RunRecord) {
        self.runs += 1;
        match record.category {
            Category::Correct => {
                self.correct += 1;
                self.cputime_correct_s += record.cputime_s;
            }
            Category::Wrong => self.wrong += 1,
            Category::Unknown => self.unknown += 1,
            Category::Error => self.error += 1,
            Category::Missing => self.missing += 1,
        }

        match record.termination_reason.as_deref() {
            Some("cputime" | "cputime-soft" | "walltime") => self.timeouts += 1,
            Some("memory") => self.out_of_memory += 1,
            _ => {}
        }
    }

    fn merge(&mut self, other: &SummaryRow) {
        self.runs += other.runs;
        self.correct += other.correct;
        self.wrong += other.wrong;
        self.unknown += other.unknown;
        self.error += other.error;
        self.missing += other.missing;
        self.timeouts += other.timeouts;
        self.out_of_memory += other.out_of_memory;
        self.cputime_correct_s += other.cputime_correct_s;
    }

    fn cells(&self) -> [String; 11] {
        let config = if self.config.is_empty() { "-".to_owned() } else { self.config.clone() };
        [
            self.tool.clone(),
            config,
            self.runs.to_string(),
            self.correct.to_string(),
            self.wrong.to_string(),
            self.unknown.to_string(),
            self.error.to_string(),
            self.missing.to_string(),
            self.timeouts.to_string(),
            self.out_of_memory.to_string(),
            format!("{:.2}", self.cputime_correct_s),
        ]
    }
}

impl Table {
    /// Returns the sum of all rows, named `total`.
    pub fn total(&self) -> SummaryRow {
        let mut total = SummaryRow { tool: "total".to_owned(), ..SummaryRow::default() };
        for row in &self.rows {
            total.merge(row);
        }
        total
    }

    /// Lists the cells of every row, with a total row when there is more than one row.
    fn body(&self) -> Vec<[String; 11]> {
        let mut body: Vec<[String; 11]> = self.rows.iter().map(SummaryRow::cells).collect();
        if self.rows.len() > 1 {
            body.push(self.total().cells());
        }
        body
    }
}

/// Renders the table as aligned text for the terminal; numbers are right-aligned.
pub fn render_text(table: &Table) -> String {
    let body = table.body();
    let mut widths = HEADERS.map(str::len);
    for cells in &body {
        for (width, cell) in widths.iter_mut().zip(cells) {
            *width = (*width).max(cell.chars().count());
        }
    }

    let mut text = text_line(&HEADERS.map(str::to_owned), &widths);
    let rule: Vec<String> = widths.iter().map(|&width| "-".repeat(width)).collect();
    text.push_str(&rule.join("  "));
    text.push('\n');
    for cells in &body {
        text.push_str(&text_line(cells, &widths));
    }
    text
}

fn text_line(cells: &[String; 11], widths: &[usize; 11]) -> String {
    let padded: Vec<String> = cells
        .iter()
        .zip(widths)
        .enumerate()
        .map(
            |(column, (cell, &width))| {
                if column < TEXT_COLUMNS { format!("{cell:<width$}") } else { format!("{cell:>width$}") }
            },
        )
        .collect();
    format!("{}\n", padded.join("  ").trim_end())
}

/// Renders the table as a GitHub-flavoured Markdown table; number columns are right-aligned.
pub fn render_markdown(table: &Table) -> String {
    let mut text = markdown_line(&HEADERS.map(str::to_owned));
    let alignment: Vec<&str> =
        (0..HEADERS.len()).map(|column| if column < TEXT_COLUMNS { "---" } else { "---:" }).collect();
    text.push_str(&format!("| {} |\n", alignment.join(" | ")));
    for cells in table.body() {
        text.push_str(&markdown_line(&cells));
    }
    text
}

fn markdown_line(cells: &[String; 11]) -> String {
    let escaped: Vec<String> = cells.iter().map(|cell| cell.replace('|', "\\|")).collect();
    format!("| {} |\n", escaped.join(" | "))
}

#[cfg(test)]
mod tests;

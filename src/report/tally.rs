//! Counting finished runs by outcome, and formatting for the terminal.

use std::fmt::Write;
use std::time::Duration;

use crate::results::RunRecord;
use crate::verdict::Category;

/// Finished runs counted by the outcomes a user watches for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub correct: usize,
    pub wrong: usize,
    pub unknown: usize,
    pub timeout: usize,
    pub out_of_memory: usize,
    /// Errors other than timeouts and out of memory, interrupted runs included.
    pub error: usize,
    /// Runs with no expected answer to compare with, such as plain commands.
    pub missing: usize,
}

impl Tally {
    pub fn add(&mut self, record: &RunRecord) {
        match (record.category, record.status.as_str()) {
            (Category::Correct, _) => self.correct += 1,
            (Category::Wrong, _) => self.wrong += 1,
            (Category::Unknown, _) => self.unknown += 1,
            (Category::Missing, _) => self.missing += 1,
            (Category::Error, "timeout") => self.timeout += 1,
            (Category::Error, "out of memory") => self.out_of_memory += 1,
            (Category::Error, _) => self.error += 1,
        }
    }

    pub fn total(&self) -> usize {
        self.correct + self.wrong + self.unknown + self.timeout + self.out_of_memory + self.error + self.missing
    }

    /// `correct 3 · wrong 0 · …`, listing the always-shown outcomes and any other non-zero one.
    pub fn line(&self) -> String {
        let mut parts = vec![
            format!("correct {}", self.correct),
            format!("wrong {}", self.wrong),
            format!("timeout {}", self.timeout),
            format!("out of memory {}", self.out_of_memory),
            format!("error {}", self.error),
        ];
        if self.unknown > 0 {
            parts.push(format!("unknown {}", self.unknown));
        }
        if self.missing > 0 {
            parts.push(format!("missing {}", self.missing));
        }
        parts.join(" · ")
    }
}

/// Formats a duration for people: `850ms`, `12.3s`, `4m05s`, `2h03m`.
pub fn format_duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    if duration < Duration::from_secs(1) {
        format!("{}ms", duration.as_millis())
    } else if seconds < 60 {
        format!("{:.1}s", duration.as_secs_f64())
    } else if seconds < 3600 {
        format!("{}m{:02}s", seconds / 60, seconds % 60)
    } else {
        format!("{}h{:02}m", seconds / 3600, seconds % 3600 / 60)
    }
}

/// Makes a run id fit for one terminal line by writing control characters as Rust escapes.
pub fn printable(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        if character.is_control() {
            write!(escaped, "{}", character.escape_default()).expect("writing to a String cannot fail");
        } else {
            escaped.push(character);
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_formatted() {
        assert_eq!(format_duration(Duration::from_millis(850)), "850ms");
        assert_eq!(format_duration(Duration::from_millis(12_340)), "12.3s");
        assert_eq!(format_duration(Duration::from_secs(245)), "4m05s");
        assert_eq!(format_duration(Duration::from_secs(7380)), "2h03m");
    }

    #[test]
    fn control_characters_escaped() {
        assert_eq!(printable("a\nb\u{1b}[31m"), "a\\nb\\u{1b}[31m");
        assert_eq!(printable("é-日本"), "é-日本");
    }
}

#[cfg(test)]
mod tally_tests {
    use super::*;
    use crate::results::record::tests::sample;

    fn record(status: &str, category: Category) -> RunRecord {
        RunRecord { status: status.into(), category, ..sample("r") }
    }

    #[test]
    fn outcomes_counted_apart() {
        let mut tally = Tally::default();
        for (status, category) in [
            ("sat", Category::Correct),
            ("unsat", Category::Wrong),
            ("timeout", Category::Error),
            ("out of memory", Category::Error),
            ("signal 11", Category::Error),
            ("done", Category::Missing),
        ] {
            tally.add(&record(status, category));
        }
        assert_eq!(tally.total(), 6);
        assert_eq!(tally.line(), "correct 1 · wrong 1 · timeout 1 · out of memory 1 · error 1 · missing 1");
    }
}

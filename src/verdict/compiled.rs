//! Verdict rules with their regular expressions compiled, built once per tool.
//!
//! Every pattern is compiled in multi-line mode, so `^` and `$` match at the start and end of
//! each output line, and in CRLF mode, so a line ending in `\r\n` still matches `$`. Patterns
//! run over bytes because a tool's output need not be valid UTF-8.

use std::collections::BTreeMap;

use regex::bytes::{Captures, Regex, RegexBuilder};

use super::VerdictRules;

/// Compiles one verdict pattern with the flags every rule uses.
///
/// The job-file parser calls this to validate patterns, so validation and judging agree.
pub fn compile_pattern(pattern: &str) -> Result<Regex, regex::Error> {
    RegexBuilder::new(pattern).multi_line(true).crlf(true).build()
}

/// A tool's verdict rules, ready to be applied to many runs.
#[derive(Clone, Debug)]
pub struct CompiledRules {
    exit_codes: BTreeMap<i32, String>,
    output: Vec<CompiledOutputRule>,
    columns: Vec<CompiledColumnRule>,
}

#[derive(Clone, Debug)]
struct CompiledOutputRule {
    regex: Regex,
    answer: String,
}

#[derive(Clone, Debug)]
struct CompiledColumnRule {
    name: String,
    regex: Regex,
}

impl VerdictRules {
    /// Compiles every pattern of the rules; fails on the first invalid one.
    pub fn compile(&self) -> Result<CompiledRules, regex::Error> {
        let mut output = Vec::with_capacity(self.output.len());
        for rule in &self.output {
            let regex = compile_pattern(&rule.pattern)?;
            output.push(CompiledOutputRule { regex, answer: rule.answer.clone() });
        }

        let mut columns = Vec::with_capacity(self.columns.len());
        for rule in &self.columns {
            let regex = compile_pattern(&rule.pattern)?;
            columns.push(CompiledColumnRule { name: rule.name.clone(), regex });
        }

        Ok(CompiledRules { exit_codes: self.exit_codes.clone(), output, columns })
    }
}

impl CompiledRules {
    /// Whether the rules can yield an answer at all; rules with only `columns` cannot.
    pub fn reads_answers(&self) -> bool {
        !self.exit_codes.is_empty() || !self.output.is_empty()
    }

    /// Looks up the answer that `exit_codes` maps this exit code to.
    pub fn answer_for_exit_code(&self, code: i32) -> Option<&str> {
        self.exit_codes.get(&code).map(String::as_str)
    }

    /// Reads the answer from the output by the `output` rules, with capture groups expanded.
    ///
    /// The match on the last line wins, because tools print their final answer last. When
    /// several rules match on that line, the rule listed first wins. A match that spans lines
    /// counts on the line where it starts.
    pub fn answer_from_output(&self, output: &[u8]) -> Option<String> {
        let mut best: Option<(usize, &CompiledOutputRule, Captures<'_>)> = None;
        for rule in &self.output {
            let Some(captures) = last_captures(&rule.regex, output) else {
                continue;
            };
            let line_start = line_start(output, captures.get(0).map_or(0, |m| m.start()));
            // Only a strictly later line replaces the best match, so on one line the earlier rule stays.
            if best.as_ref().is_none_or(|(best_line, _, _)| line_start > *best_line) {
                best = Some((line_start, rule, captures));
            }
        }

        let (_, rule, captures) = best?;
        let mut answer = Vec::new();
        captures.expand(rule.answer.as_bytes(), &mut answer);
        Some(String::from_utf8_lossy(&answer).trim().to_owned())
    }

    /// Reads the `columns` values. For each rule that matches, the value is the first capture
    /// group of its last match, or the whole match when the pattern has no group.
    pub fn columns(&self, output: &[u8]) -> BTreeMap<String, String> {
        let mut values = BTreeMap::new();
        for rule in &self.columns {
            let Some(captures) = last_captures(&rule.regex, output) else {
                continue;
            };
            let Some(value) = captures.get(1).or_else(|| captures.get(0)) else {
                continue;
            };
            let text = String::from_utf8_lossy(value.as_bytes()).trim().to_owned();
            values.insert(rule.name.clone(), text);
        }
        values
    }
}

/// Finds the capture groups of the last match of `regex` in `output`.
fn last_captures<'h>(regex: &Regex, output: &'h [u8]) -> Option<Captures<'h>> {
    // Finding the last match without groups is cheaper; groups are then read for it alone.
    let last = regex.find_iter(output).last()?;
    regex.captures_at(output, last.start())
}

/// Returns the offset of the start of the line that contains `offset`.
fn line_start(output: &[u8], offset: usize) -> usize {
    output[..offset].iter().rposition(|&byte| byte == b'\n').map_or(0, |newline| newline + 1)
}

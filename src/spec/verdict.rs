//! The `verdict:` key of a tool or command, checked and converted into [`VerdictRules`].
//!
//! Only the form is checked here (regular expressions compile, names are valid); judging an
//! answer belongs to `crate::verdict`.

use std::path::Path;

use super::error::{Located, SpecError};
use super::names::check_name;
use super::pos_of;
use super::raw::RawVerdict;
use crate::verdict::{ColumnRule, OutputRule, VerdictRules};

/// Converts a `verdict:` key; invalid regular expressions and column names go to `errors`.
pub fn read_verdict(raw: &RawVerdict, file: &Path, errors: &mut Vec<Located>) -> VerdictRules {
    let mut rules = VerdictRules { exit_codes: raw.exit_codes.clone().unwrap_or_default(), ..VerdictRules::default() };
    for (pattern, answer) in raw.output.iter().flat_map(|output| output.iter()) {
        if let Err(error) = check_regex(&pattern.value) {
            errors.push(Located::new(file, pos_of(pattern), error));
            continue;
        }
        rules.output.push(OutputRule { pattern: pattern.value.clone(), answer: answer.clone() });
    }
    for (name, pattern) in raw.columns.iter().flat_map(|columns| columns.iter()) {
        let checked = check_name("column", &name.value).and_then(|()| check_regex(pattern));
        if let Err(error) = checked {
            errors.push(Located::new(file, pos_of(name), error));
            continue;
        }
        rules.columns.push(ColumnRule { name: name.value.clone(), pattern: pattern.clone() });
    }
    rules
}

/// Checks that `pattern` is a valid regular expression in the syntax of the `regex` crate.
pub fn check_regex(pattern: &str) -> Result<regex::Regex, SpecError> {
    regex::Regex::new(pattern).map_err(|error| SpecError::InvalidRegex {
        pattern: pattern.to_string(),
        reason: error.to_string().lines().last().unwrap_or_default().trim().to_string(),
    })
}

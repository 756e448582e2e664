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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::raw::RawJob;

    fn verdict_of(yaml: &str) -> (VerdictRules, Vec<Located>) {
        let text = format!("tools:\n  t:\n    command: [t]\n    verdict:\n{yaml}");
        let job: RawJob = crate::spec::parse(&text, Path::new("job.yaml")).unwrap();
        let raw = job.tools.get("t").unwrap().verdict.as_ref().unwrap();
        let mut errors = Vec::new();
        (read_verdict(raw, Path::new("job.yaml"), &mut errors), errors)
    }

    #[test]
    fn exit_codes_output_and_columns() {
        let (rules, errors) = verdict_of(
            "      exit_codes: {10: sat, 20: unsat}\n      output:\n        \"^s UNSAT\": unsat\n        \"^s SAT\": sat\n      columns: {conflicts: 'c conflicts: ([0-9]+)'}\n",
        );
        assert!(errors.is_empty());
        assert_eq!(rules.exit_codes.get(&10).map(String::as_str), Some("sat"));
        assert_eq!(rules.output[0].pattern, "^s UNSAT");
        assert_eq!(rules.output[1].answer, "sat");
        assert_eq!(rules.columns[0].name, "conflicts");
    }

    #[test]
    fn invalid_regex_located_at_pattern() {
        let (rules, errors) = verdict_of("      output: {\"(open\": x}\n");
        assert!(rules.output.is_empty());
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].pos.line, 5);
        assert!(matches!(errors[0].error, SpecError::InvalidRegex { .. }));
    }
}

//! The job file: its YAML format, located errors and the checks that need no expansion.
//!
//! Reading goes in two steps, as in most configuration loaders: YAML into raw serde structs
//! that mirror the file ([`raw`]), then checks and conversion into typed values ([`settings`],
//! [`names`], [`placeholders`]). Expansion into runs lives in `plan`. All YAML goes through
//! [`parse_yaml`], so the YAML crate can be swapped in one place.

pub mod error;
pub mod names;
pub mod ordered;
pub mod placeholders;
pub mod raw;
pub mod schema;
pub mod setfile;
pub mod settings;
pub mod suggest;
mod unknown_keys;
pub use unknown_keys::find as find_unknown_keys;
pub mod taskdef;
pub mod verdict;

use std::path::Path;

use serde::de::DeserializeOwned;
use serde_saphyr::{Error as YamlError, Spanned};

pub use error::{JobErrors, Located, Pos, SpecError};

/// Parses a job file's text; `source_name` is the file the errors name.
pub fn parse(text: &str, source_name: &Path) -> Result<raw::RawJob, Located> {
    parse_yaml(text, source_name)
}

/// Parses YAML text into `T` with strict booleans (`yes` and `on` are strings, not `true`).
pub fn parse_yaml<T: DeserializeOwned>(text: &str, source_name: &Path) -> Result<T, Located> {
    let options = serde_saphyr::options! { strict_booleans: true };
    serde_saphyr::from_str_with_options(text, options).map_err(|error| located_yaml_error(&error, source_name))
}

/// Returns the location of a value read with a span.
pub fn pos_of<T>(value: &Spanned<T>) -> Pos {
    let location = value.referenced;
    Pos { line: location.line() as u32, column: location.column() as u32 }
}

fn located_yaml_error(error: &YamlError, source_name: &Path) -> Located {
    let pos = error
        .location()
        .map(|location| Pos { line: location.line() as u32, column: location.column() as u32 })
        .unwrap_or(Pos::FILE);
    let error = match error.without_snippet() {
        YamlError::SerdeUnknownField { field, expected, .. } => SpecError::UnknownKey {
            key: field.clone(),
            suggestion: suggest::closest(field, expected.iter().copied()),
            known: expected.iter().map(|key| format!("`{key}`")).collect::<Vec<_>>().join(", "),
        },
        YamlError::SerdeMissingField { field, .. } => SpecError::MissingKey { key: field.to_string() },
        other => SpecError::Syntax { message: user_message(&strip_location(&other.render())) },
    };
    Located::new(source_name, pos, error)
}

/// Rewords parser messages that speak of parser internals instead of the job file.
fn user_message(message: &str) -> String {
    if let Some(rest) = message.strip_prefix("duplicate mapping key: ") {
        let key = rest.split(',').next().unwrap_or_default();
        return format!("duplicate key `{key}`; each key may appear only once in a mapping");
    }
    let reworded = match message {
        "expected sequence start" => "expected a list here, for example `[a, b]`",
        "expected mapping start" => "expected a mapping here (`key: value` lines or `{key: value}`)",
        "invalid u32" | "invalid u64" | "invalid usize" => "expected a whole number here",
        other => other,
    };
    reworded.to_string()
}

/// Removes the parser's own " at line L, column C" suffix; the rendered error names the place.
fn strip_location(message: &str) -> String {
    let first_line = message.lines().next().unwrap_or_default();
    match first_line.find(" at line ") {
        Some(index) => first_line[..index].to_string(),
        None => first_line.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(text: &str) -> Located {
        parse(text, Path::new("job.yaml")).unwrap_err()
    }

    #[test]
    fn unknown_key_suggests_closest() {
        let error = error_of("defaults:\n  dirs:\n    readonly: [/]\n");
        assert_eq!(error.pos, Pos { line: 3, column: 5 });
        assert!(matches!(error.error, SpecError::UnknownKey { ref suggestion, .. } if suggestion.as_deref() == Some("read_only")));
    }

    #[test]
    fn keys_and_configs_keep_locations() {
        let text = "tools:\n  a:\n    command: [a]\n    configs:\n      x: [-x]\n      y: {options: [-y], limits: {memory: 1 GiB}}\n      z:\n";
        let job = parse(text, Path::new("job.yaml")).unwrap();
        let (name, tool) = &job.tools.entries[0];
        assert_eq!(pos_of(name), Pos { line: 2, column: 3 });
        let configs = tool.configs.as_ref().unwrap();
        assert_eq!(configs.keys().collect::<Vec<_>>(), ["x", "y", "z"]);
        assert_eq!(configs.get("x").unwrap().0.options[0].value, "-x");
        assert_eq!(pos_of(&configs.get("y").unwrap().0.options[0]), Pos { line: 6, column: 21 });
        assert!(configs.get("y").unwrap().0.limits.is_some());
    }

    #[test]
    fn yes_is_not_a_boolean() {
        let error = error_of("defaults:\n  network: yes\n");
        assert_eq!(error.pos.line, 2);
    }

    #[test]
    fn syntax_error_located() {
        let error = error_of("tools:\n  a: [\n");
        eprintln!("{error:?}");
        assert!(matches!(error.error, SpecError::Syntax { .. }));
    }
}

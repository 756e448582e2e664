//! Task-definition files in BenchExec's format 2.0 (YAML).
//!
//! A task-definition file names a task's input files and the properties it can be checked
//! against, each with its expected verdict. cellrun reads `format_version`, `input_files`,
//! `required_files` and `properties`; `options` is accepted and not used (it configures
//! BenchExec's tool-info modules, which cellrun does not have).

use std::fmt;
use std::path::Path;

use serde::Deserialize;
use serde::de::{Deserializer, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use super::error::{Located, SpecError};
use super::{parse_yaml, pos_of};

/// The parts of a task-definition file cellrun uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskDefinition {
    /// Patterns of the input files, relative to the task-definition file.
    pub input_files: Vec<String>,
    pub properties: Vec<TaskProperty>,
}

/// A property a task can be checked against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskProperty {
    /// The property file as written, relative to the task-definition file.
    pub file: String,
    /// `true`, `false` or `false(subproperty)`; `None` when the file gives no verdict.
    pub expected: Option<String>,
}

impl TaskDefinition {
    /// Finds the property whose file has the file name of `property` (its last component).
    pub fn property(&self, property: &str) -> Option<&TaskProperty> {
        let wanted = Path::new(property).file_name();
        self.properties.iter().find(|candidate| Path::new(&candidate.file).file_name() == wanted)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTaskDefinition {
    format_version: Spanned<String>,
    input_files: StringOrList,
    #[serde(default)]
    #[allow(dead_code, reason = "read so the key is accepted; required files are not copied")]
    required_files: Option<StringOrList>,
    #[serde(default)]
    properties: Vec<RawProperty>,
    #[serde(default)]
    #[allow(dead_code, reason = "options configure tool-info modules, which cellrun does not have")]
    options: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProperty {
    property_file: String,
    expected_verdict: Option<bool>,
    subproperty: Option<String>,
}

/// Parses a task-definition file's text; `path` is the file the errors name.
pub fn parse_taskdef(text: &str, path: &Path) -> Result<TaskDefinition, Located> {
    let raw: RawTaskDefinition = parse_yaml(text, path)?;
    if raw.format_version.value != "2.0" {
        let error = SpecError::TaskdefVersion { version: raw.format_version.value.clone() };
        return Err(Located::new(path, pos_of(&raw.format_version), error));
    }
    let properties = raw
        .properties
        .into_iter()
        .map(|property| TaskProperty {
            file: property.property_file,
            expected: property.expected_verdict.map(|verdict| match (verdict, property.subproperty) {
                (false, Some(sub)) => format!("false({sub})"),
                (verdict, _) => verdict.to_string(),
            }),
        })
        .collect();
    Ok(TaskDefinition { input_files: raw.input_files.0, properties })
}

/// A string or a list of strings, as `input_files` allows.
#[derive(Default)]
struct StringOrList(Vec<String>);

impl<'de> Deserialize<'de> for StringOrList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StringOrListVisitor)
    }
}

struct StringOrListVisitor;

impl<'de> Visitor<'de> for StringOrListVisitor {
    type Value = StringOrList;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a file name or a list of file names")
    }

    fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<StringOrList, E> {
        Ok(StringOrList(vec![value.to_string()]))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StringOrList, A::Error> {
        let mut files = Vec::new();
        while let Some(file) = seq.next_element::<String>()? {
            files.push(file);
        }
        Ok(StringOrList(files))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAFE: &str = "format_version: '2.0'\ninput_files: 'a.c'\nproperties:\n  - property_file: ../prop/unreach-call.prp\n    expected_verdict: false\n    subproperty: unreach\n  - property_file: ../prop/termination.prp\n    expected_verdict: true\noptions:\n  language: C\n  data_model: ILP32\n";

    #[test]
    fn properties_and_expected_verdicts() {
        let taskdef = parse_taskdef(SAFE, Path::new("t.yml")).unwrap();
        assert_eq!(taskdef.input_files, ["a.c"]);
        assert_eq!(taskdef.property("unreach-call.prp").unwrap().expected.as_deref(), Some("false(unreach)"));
        assert_eq!(taskdef.property("x/termination.prp").unwrap().expected.as_deref(), Some("true"));
        assert!(taskdef.property("no-overflow.prp").is_none());
    }

    #[test]
    fn input_files_as_list() {
        let text = "format_version: '2.0'\ninput_files: [a.c, b.c]\n";
        assert_eq!(parse_taskdef(text, Path::new("t.yml")).unwrap().input_files, ["a.c", "b.c"]);
    }

    #[test]
    fn other_format_versions_rejected() {
        let error = parse_taskdef("format_version: '1.0'\ninput_files: a.c\n", Path::new("t.yml")).unwrap_err();
        assert!(matches!(error.error, SpecError::TaskdefVersion { .. }));
        assert_eq!(error.pos.line, 1);
    }
}

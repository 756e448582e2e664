//! Errors in job files, each tied to the place in the file that caused it.
//!
//! Validation goes on after the first error, so one `cellrun check` lists every problem it can
//! find. Each error carries the file, line and column; [`JobErrors`] renders them with the
//! offending line and a caret under the column, the way compilers do.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use thiserror::Error;

use crate::units::UnitError;

/// A line and column in a file, both counted from 1; line 0 means "the whole file".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    pub line: u32,
    pub column: u32,
}

impl Pos {
    pub const FILE: Pos = Pos { line: 0, column: 0 };
}

/// What is wrong with a job file, a task-definition file or a set file.
#[derive(Debug, Error, PartialEq, Eq, Clone)]
pub enum SpecError {
    #[error("{message}")]
    Syntax { message: String },
    #[error("unknown key `{key}`{}; known keys here: {known}", did_you_mean(suggestion))]
    UnknownKey { key: String, suggestion: Option<String>, known: String },
    #[error("missing key `{key}`")]
    MissingKey { key: String },
    #[error(transparent)]
    Unit(#[from] UnitError),
    #[error("invalid {kind} name `{name}`: use only letters, digits, `_`, `-` and `.`")]
    InvalidName { kind: &'static str, name: String },
    #[error("invalid task path `{path}`: task paths must not contain control characters")]
    InvalidTaskPath { path: String },
    #[error("`{key}` must be at least 1, found 0")]
    Zero { key: &'static str },
    #[error("unknown placeholder `{{{name}}}`; known placeholders: {known} (write `{{{{` for a literal brace)")]
    UnknownPlaceholder { name: String, known: String },
    #[error("unclosed `{{` in `{word}`; write `{{{{` for a literal brace")]
    UnclosedPlaceholder { word: String },
    #[error("`{word}` mixes `{{inputs}}` or `{{options}}` with other text; these placeholders stand for several arguments and must be a whole command word")]
    ListPlaceholderInWord { word: String },
    #[error("`{{{name}}}` needs a task, but plain commands have none")]
    PlaceholderWithoutTask { name: &'static str },
    #[error("the command uses `{{property}}`, but task set `{task_set}` names no `property`")]
    PropertyPlaceholderWithoutProperty { task_set: String },
    #[error("the command is empty; give at least the program to run")]
    EmptyCommand,
    #[error("program `{program}` not found {searched}")]
    ExecutableNotFound { program: String, searched: String },
    #[error("invalid glob `{pattern}`: {reason}")]
    InvalidGlob { pattern: String, reason: String },
    #[error("glob `{pattern}` matches no file under {base}")]
    GlobMatchesNothing { pattern: String, base: PathBuf },
    #[error("task set `{name}` has no tasks: every file matched by `files` is excluded")]
    AllExcluded { name: String },
    #[error("task set `{name}` needs exactly one of `files`, `taskdefs` and `files_from`")]
    TaskSource { name: String },
    #[error("directory `{path}` does not exist; create it or remove it from `dirs`")]
    DirNotFound { path: PathBuf },
    #[error("directory `{path}` cannot be accessed ({reason}); make it and its parents readable, or remove it from `dirs`")]
    DirNotAccessible { path: PathBuf, reason: String },
    #[error("directory `{path}` is given two modes here, `{first}` and `{second}`; keep one")]
    ConflictingDirModes { path: PathBuf, first: &'static str, second: &'static str },
    #[error("working directory `{path}` does not exist")]
    WorkdirNotFound { path: PathBuf },
    #[error("walltime {walltime} is below cputime {cputime}; raise `walltime` or drop it to get cputime + 30s")]
    WalltimeBelowCputime { walltime: String, cputime: String },
    #[error("result file pattern `{pattern}` is absolute; patterns are relative to the run's working directory")]
    ResultPatternAbsolute { pattern: String },
    #[error("result file pattern `{pattern}` contains `..`; result files must lie below the run's working directory")]
    ResultPatternParent { pattern: String },
    #[error("unknown {kind} `{name}`{}", did_you_mean(suggestion))]
    UnknownName { kind: &'static str, name: String, suggestion: Option<String> },
    #[error("config `{config}` does not exist in tool `{tool}`{}", did_you_mean(suggestion))]
    UnknownConfig { tool: String, config: String, suggestion: Option<String> },
    #[error("run id `{id}` is produced twice: by {first} and by {second}")]
    DuplicateRunId { id: String, first: String, second: String },
    #[error("invalid regular expression `{pattern}`: {reason}")]
    InvalidRegex { pattern: String, reason: String },
    #[error("cannot read `{path}`: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("unsupported task-definition format `{version}`; only format_version '2.0' is supported")]
    TaskdefVersion { version: String },
    #[error("task-definition file has no property `{property}`; it lists: {listed}")]
    PropertyMissing { property: String, listed: String },
    #[error("property file `{path}` does not exist")]
    PropertyFileNotFound { path: PathBuf },
    #[error("input file `{path}` lies below the hidden directory `{hidden}`, so runs cannot read it ({count} input file{} of task set `{task_set}` affected); give that directory another mode in `dirs` or move the files", if *count == 1 { "" } else { "s" })]
    InputHidden { path: String, hidden: PathBuf, count: usize, task_set: String },
    #[error("`expected_verdict` must be `true` or `false`, found `{found}`")]
    ExpectedVerdict { found: String },
    #[error("the job declares no runs: add `tools` with `tasks`, or `commands`")]
    NoRuns,
}

fn did_you_mean(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(name) => format!(" (did you mean `{name}`?)"),
        None => String::new(),
    }
}

/// One error at one place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub file: PathBuf,
    pub pos: Pos,
    pub error: SpecError,
}

impl Located {
    pub fn new(file: impl Into<PathBuf>, pos: Pos, error: impl Into<SpecError>) -> Located {
        Located { file: file.into(), pos, error: error.into() }
    }
}

/// Every error found in a job file and the files it refers to, with their texts for rendering.
#[derive(Debug, Default, Clone)]
pub struct JobErrors {
    pub errors: Vec<Located>,
    sources: BTreeMap<PathBuf, String>,
}

impl JobErrors {
    /// Keeps the text of `file`, so errors in it can show their line.
    pub fn add_source(&mut self, file: PathBuf, text: String) {
        self.sources.insert(file, text);
    }

    pub fn push(&mut self, error: Located) {
        self.errors.push(error);
    }

    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    pub fn len(&self) -> usize {
        self.errors.len()
    }

    /// Moves the errors and sources of `other` into `self`.
    pub fn append(&mut self, other: JobErrors) {
        self.errors.extend(other.errors);
        self.sources.extend(other.sources);
    }

    /// Returns `Ok(value)` when no error was collected.
    pub fn into_result<T>(self, value: T) -> Result<T, JobErrors> {
        if self.is_empty() { Ok(value) } else { Err(self) }
    }

    fn render_one(&self, error: &Located, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = error.file.display();
        writeln!(f, "error: {}", error.error)?;
        if error.pos.line == 0 {
            return writeln!(f, "  --> {file}");
        }
        writeln!(f, "  --> {file}:{}:{}", error.pos.line, error.pos.column)?;
        let line_text = self
            .sources
            .get(&error.file)
            .and_then(|text| text.lines().nth(error.pos.line as usize - 1));
        if let Some(line_text) = line_text {
            let number = error.pos.line.to_string();
            let gutter = " ".repeat(number.len());
            let caret_indent: String = line_text
                .chars()
                .take(error.pos.column.saturating_sub(1) as usize)
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            writeln!(f, "{gutter} |")?;
            writeln!(f, "{number} | {line_text}")?;
            writeln!(f, "{gutter} | {caret_indent}^")?;
        }
        Ok(())
    }
}

impl fmt::Display for JobErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, error) in self.errors.iter().enumerate() {
            if index > 0 {
                writeln!(f)?;
            }
            self.render_one(error, f)?;
        }
        let count = self.errors.len();
        write!(f, "\n{count} error{} found", if count == 1 { "" } else { "s" })
    }
}

impl std::error::Error for JobErrors {}

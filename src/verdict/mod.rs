//! Reading a tool's answer and judging it against the expected one.
//!
//! A tool's `verdict:` key in the job file declares how its answer is read; this module turns
//! a finished run into a status (what happened) and a category (whether it was right).

mod categorize;
mod compiled;
mod judge;
mod log;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

pub use categorize::{answers_agree, categorize};
pub use compiled::{CompiledRules, compile_pattern};
pub use judge::{Judgement, judge, judge_compiled, termination_status};
pub use log::tool_output;

/// How a tool's answer is read from its exit code and output.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct VerdictRules {
    /// Exit codes mapped to answers, for example `10: sat` and `20: unsat`.
    pub exit_codes: BTreeMap<i32, String>,
    /// Regular expressions over the output mapped to answers, in job-file order.
    pub output: Vec<OutputRule>,
    /// Named values extracted from the output, which become extra CSV columns.
    pub columns: Vec<ColumnRule>,
    /// The compiled regular expressions, built on first use and shared by every run of the
    /// tool, since a plan shares one `VerdictRules` per tool.
    #[serde(skip)]
    pub compiled: CompiledCache,
}

/// A lazily filled cache of compiled rules; it never takes part in comparisons.
#[derive(Clone, Debug, Default)]
pub struct CompiledCache(std::sync::OnceLock<Result<CompiledRules, String>>);

impl PartialEq for CompiledCache {
    fn eq(&self, _: &CompiledCache) -> bool {
        true
    }
}

impl Eq for CompiledCache {}

impl VerdictRules {
    /// Returns the compiled rules, compiling them on the first call.
    pub fn compiled(&self) -> Result<&CompiledRules, &str> {
        self.compiled.0.get_or_init(|| self.compile().map_err(|error| error.to_string())).as_ref().map_err(String::as_str)
    }
}

/// One regular expression over the tool's output and the answer it means.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OutputRule {
    pub pattern: String,
    /// The answer; `$1`-style references name capture groups of `pattern`.
    pub answer: String,
}

/// One extra CSV column: the first capture group of `pattern` in the output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ColumnRule {
    pub name: String,
    pub pattern: String,
}

/// Whether a run's answer was right.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    /// The answer matches the expected one.
    Correct,
    /// The answer contradicts the expected one.
    Wrong,
    /// The tool gave up or answered "unknown".
    Unknown,
    /// A limit, a crash or a failed start: no answer.
    Error,
    /// An answer, but no expected answer to compare it with.
    Missing,
}

impl Category {
    pub const ALL: [Category; 5] =
        [Category::Correct, Category::Wrong, Category::Unknown, Category::Error, Category::Missing];

    /// Returns the name used in job files, CSV files and messages.
    pub fn name(self) -> &'static str {
        match self {
            Category::Correct => "correct",
            Category::Wrong => "wrong",
            Category::Unknown => "unknown",
            Category::Error => "error",
            Category::Missing => "missing",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

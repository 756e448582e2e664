//! The validated, expanded form of a job file: every run with its command and settings.
//!
//! Only this type reaches the scheduler. Everything in it has been checked: paths are
//! absolute, limits are typed, placeholders are substituted, run ids are unique.

pub mod expand;

pub use expand::load;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;

use crate::container::dirmode::DirModes;
use crate::limits::Limits;
use crate::verdict::{Category, VerdictRules};

/// A whole job: its identity and every run it declares.
#[derive(Clone, Debug, Serialize)]
pub struct Plan {
    /// The job's name: the `name` key, or the job file's stem.
    pub name: String,
    /// The job file, absolute.
    pub job_file: PathBuf,
    /// The directory of the job file; relative paths in the job file start here.
    pub job_dir: PathBuf,
    /// Runs at once, when the job file sets it.
    pub parallel: Option<usize>,
    /// Categories that make `cellrun run` exit with status 1.
    pub fail_on: Vec<Category>,
    /// The tools the job uses, in job-file order.
    pub tools: Vec<ToolPlan>,
    /// Every run, in a stable order: tools, then configs, then task sets, then tasks.
    pub runs: Vec<PlannedRun>,
}

/// A tool and how to ask it for its version.
#[derive(Clone, Debug, Serialize)]
pub struct ToolPlan {
    pub name: String,
    /// Command that prints the tool's version, recorded in `meta.json`.
    pub version_command: Option<Vec<String>>,
}

/// One run: a command with its settings.
#[derive(Clone, Debug, Serialize)]
pub struct PlannedRun {
    /// Readable id, unique within the job and stable across invocations, for example
    /// `cadical.no-elim/pigeonhole/cnf/php-8-7.cnf`; a plain command's id is its name.
    pub id: String,
    /// The tool's name, or the command's name for a plain command.
    pub tool: String,
    /// The config's name; empty for a tool without configs and for plain commands.
    pub config: String,
    /// The task set's name; empty for plain commands.
    pub task_set: String,
    /// The task: the input file relative to the job directory, or the task-definition file.
    pub task: String,
    /// The command line with every placeholder substituted.
    pub command: Vec<String>,
    /// The expected answer, when known.
    pub expected: Option<String>,
    /// The property file of the task, when the task set names one.
    pub property: Option<PathBuf>,
    /// Settings shared by many runs.
    pub settings: Arc<RunSettings>,
    /// How the tool's answer is read; `None` for plain commands without a `verdict:` key.
    pub verdict: Option<Arc<VerdictRules>>,
}

/// The settings of a run after merging defaults, tool, config, task set and `runs` entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RunSettings {
    pub limits: Limits,
    pub dirs: DirModes,
    /// Whether the run may use the host's network; otherwise it has only loopback.
    pub network: bool,
    pub env: EnvSettings,
    /// The working directory of the run, absolute.
    pub workdir: PathBuf,
    /// Patterns of result files, relative to `workdir`.
    pub result_files: Vec<String>,
    /// Whether the run may go ahead without the limits that only a cgroup enforces, when
    /// cellrun runs rootless without a delegated cgroup (`unenforced_limits: accept`).
    pub accept_unenforced_limits: bool,
}

/// The environment of a run: nothing from the host unless listed in `inherit`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct EnvSettings {
    pub set: BTreeMap<String, String>,
    pub inherit: Vec<String>,
}

impl EnvSettings {
    /// Builds the run's environment from `host`: the inherited variables that exist there,
    /// then the explicitly set ones, which win.
    pub fn resolve(&self, host: impl Fn(&str) -> Option<std::ffi::OsString>) -> Vec<(std::ffi::OsString, std::ffi::OsString)> {
        let mut env: BTreeMap<std::ffi::OsString, std::ffi::OsString> = BTreeMap::new();
        for name in &self.inherit {
            if let Some(value) = host(name) {
                env.insert(name.into(), value);
            }
        }
        for (name, value) in &self.set {
            env.insert(name.into(), value.into());
        }
        env.into_iter().collect()
    }
}

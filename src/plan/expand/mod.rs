//! Expansion of a job file into a [`Plan`]: every run with its id, command and settings.
//!
//! All checks run before any run starts, and they go on after the first error so a single
//! `cellrun check` lists every problem. Settings are merged once per tool × config × task set
//! × `runs` entry and shared by that combination's runs through an `Arc`, which keeps a plan
//! of 100,000 runs small.

mod glob;
mod groups;
mod program;
mod runs;
mod tasks;
mod tools;

use std::path::{Path, PathBuf};

use self::groups::{Group, TaskSetSpec, implicit_group, read_group};
use self::runs::RunBuilder;
use self::tasks::{TaskContext, read_tasks};
use self::tools::{read_plain_command, read_tool};
use super::{Plan, ToolPlan};
use crate::spec::names::check_name;
use crate::spec::raw::RawJob;
use crate::spec::settings::{Layer, LayerContext};
use crate::spec::suggest::closest;
use crate::spec::{JobErrors, Located, Pos, SpecError, pos_of};
use crate::verdict::Category;

/// Reads, checks and expands the job file at `path`.
///
/// Errors name `path` as given, so messages show the file the way the user typed it.
pub fn load(path: &Path) -> Result<Plan, JobErrors> {
    let mut errors = JobErrors::default();
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) => {
            let error = SpecError::Read { path: path.to_path_buf(), reason: error.to_string() };
            errors.push(Located::new(path, Pos::FILE, error));
            return Err(errors);
        }
    };
    errors.add_source(path.to_path_buf(), text.clone());
    let raw = match crate::spec::parse(&text, path) {
        Ok(raw) => raw,
        Err(error) => {
            // serde stops at the first unknown key; report every one of them at once.
            let all_unknown = match error.error {
                SpecError::UnknownKey { .. } => crate::spec::find_unknown_keys(&text, path),
                _ => Vec::new(),
            };
            if all_unknown.is_empty() {
                errors.push(error);
            } else {
                all_unknown.into_iter().for_each(|unknown| errors.push(unknown));
            }
            return Err(errors);
        }
    };
    let job_file = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let job_file = crate::spec::settings::absolute(Path::new("/"), &job_file.to_string_lossy());
    let job_dir = job_file.parent().unwrap_or(Path::new("/")).to_path_buf();
    let plan = expand(&raw, path, job_file, job_dir, &mut errors);
    errors.into_result(plan)
}

/// Expands a parsed job file; `file` is the name errors use.
fn expand(raw: &RawJob, file: &Path, job_file: PathBuf, job_dir: PathBuf, errors: &mut JobErrors) -> Plan {
    let mut located = Vec::new();
    let mut context = LayerContext { job_dir: &job_dir, file, errors: &mut located };
    let defaults = raw.defaults.as_ref().map(|defaults| Layer::from_raw(defaults.settings(), &mut context)).unwrap_or_default();
    let tools: Vec<_> = raw.tools.iter().map(|(name, tool)| read_tool(name, tool, &mut context)).collect();
    let commands: Vec<_> = raw.commands.iter().filter_map(|(name, command)| read_plain_command(name, command, &mut context)).collect();
    let header = read_header(raw, file, &job_file, &mut located);
    errors.errors.append(&mut located);

    let task_sets = read_task_sets(raw, &job_dir, file, errors);
    let groups = read_groups(raw, &tools, &task_sets, &job_dir, file, errors);

    let mut builder = RunBuilder::new(&job_dir, file, &defaults, errors);
    builder.accept_unenforced_limits = read_unenforced_limits(raw, file, &mut builder.errors.errors);
    for group in &groups {
        builder.add_group(group, &tools, &task_sets);
    }
    for command in &commands {
        builder.add_command(command);
    }
    let runs = std::mem::take(&mut builder.runs);
    if runs.is_empty() && errors.is_empty() {
        errors.push(Located::new(file, Pos::FILE, SpecError::NoRuns));
    }
    Plan {
        name: header.0,
        job_file,
        job_dir,
        parallel: header.1,
        fail_on: header.2,
        tools: tools.iter().map(|tool| ToolPlan { name: tool.name.clone(), version_command: tool.version.clone() }).collect(),
        runs,
    }
}

/// Reads `name`, `parallel` and `fail_on`.
fn read_header(raw: &RawJob, file: &Path, job_file: &Path, errors: &mut Vec<Located>) -> (String, Option<usize>, Vec<crate::verdict::Category>) {
    let name = match &raw.name {
        Some(name) => {
            if let Err(error) = check_name("job", &name.value) {
                errors.push(Located::new(file, pos_of(name), error));
            }
            name.value.clone()
        }
        None => job_file.file_stem().map(|stem| stem.to_string_lossy().into_owned()).unwrap_or_default(),
    };
    let parallel = raw.parallel.as_ref().and_then(|parallel| {
        if parallel.value == 0 {
            errors.push(Located::new(file, pos_of(parallel), SpecError::Zero { key: "parallel" }));
        }
        (parallel.value > 0).then_some(parallel.value)
    });
    let mut fail_on = Vec::new();
    for category in raw.fail_on.iter().flatten() {
        match Category::ALL.iter().find(|known| known.name() == category.value) {
            Some(known) => fail_on.push(*known),
            None => {
                let suggestion = closest(&category.value, Category::ALL.iter().map(|known| known.name()));
                let error = SpecError::UnknownName { kind: "category", name: category.value.clone(), suggestion };
                errors.push(Located::new(file, pos_of(category), error));
            }
        }
    }
    (name, parallel, fail_on)
}

/// Reads `unenforced_limits`: `accept` lets runs go ahead without the limits only a cgroup
/// enforces, `reject` (the default) makes them fail.
fn read_unenforced_limits(raw: &RawJob, file: &Path, errors: &mut Vec<Located>) -> bool {
    let Some(value) = &raw.unenforced_limits else { return false };
    match value.value.as_str() {
        "accept" => true,
        "reject" => false,
        other => {
            let suggestion = closest(other, ["accept", "reject"].into_iter());
            let error = SpecError::UnknownName { kind: "unenforced_limits value", name: other.to_string(), suggestion };
            errors.push(Located::new(file, pos_of(value), error));
            false
        }
    }
}

fn read_task_sets(raw: &RawJob, job_dir: &Path, file: &Path, errors: &mut JobErrors) -> Vec<TaskSetSpec> {
    let mut task_sets = Vec::with_capacity(raw.tasks.len());
    for (name, set) in raw.tasks.iter() {
        if let Err(error) = check_name("task set", &name.value) {
            errors.push(Located::new(file, pos_of(name), error));
        }
        let mut located = Vec::new();
        let layer = Layer::from_raw(set.settings(), &mut LayerContext { job_dir, file, errors: &mut located });
        errors.errors.append(&mut located);
        let tasks = read_tasks(name, set, &mut TaskContext { job_dir, job_file: file, errors });
        task_sets.push(TaskSetSpec { name: name.value.clone(), pos: pos_of(name), layer, tasks, has_property: set.property.is_some() });
    }
    task_sets
}

fn read_groups(raw: &RawJob, tools: &[tools::ToolSpec], task_sets: &[TaskSetSpec], job_dir: &Path, file: &Path, errors: &mut JobErrors) -> Vec<Group> {
    let Some(entries) = &raw.runs else {
        return vec![implicit_group(tools.len(), task_sets.len())];
    };
    let mut located = Vec::new();
    let mut context = LayerContext { job_dir, file, errors: &mut located };
    let groups = entries
        .iter()
        .enumerate()
        .map(|(index, entry)| read_group(index + 1, entry, tools, task_sets, &mut context))
        .collect();
    errors.errors.append(&mut located);
    groups
}

//! Task sets: which files a task set names and what each task's expected answer is.
//!
//! A task set takes its tasks from exactly one source: `files` (globs, minus `exclude`),
//! `taskdefs` (task-definition files) or `files_from` (a set file whose lines are globs of
//! input files or of task-definition files, told apart by the `.yml`/`.yaml` extension).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_saphyr::Spanned;

use super::glob::Pattern;
use crate::spec::raw::{RawExpectedFromName, RawTaskSet};
use crate::spec::setfile::parse_set_file;
use crate::spec::taskdef::parse_taskdef;
use crate::spec::verdict::check_regex;
use crate::spec::{JobErrors, Located, Pos, SpecError, pos_of};

/// One task: its id and what its runs need.
#[derive(Clone, Debug)]
pub struct Task {
    /// The task file relative to the job directory (absolute when outside it).
    pub id: String,
    /// Input files, absolute.
    pub inputs: Vec<String>,
    /// Directory of the task file, absolute.
    pub task_dir: String,
    pub expected: Option<String>,
    pub property: Option<PathBuf>,
}

/// Base directory of task paths, and the error list.
pub struct TaskContext<'a> {
    pub job_dir: &'a Path,
    pub job_file: &'a Path,
    pub errors: &'a mut JobErrors,
}

impl TaskContext<'_> {
    fn report(&mut self, pos: Pos, error: SpecError) {
        self.errors.push(Located::new(self.job_file, pos, error));
    }

    /// Expands `pattern` relative to `base`, reporting a pattern that matches nothing.
    fn expand(&mut self, base: &Path, pattern: &str, file: &Path, pos: Pos) -> Vec<PathBuf> {
        let files = match Pattern::new(base, pattern) {
            Ok(compiled) => compiled.files(),
            Err(error) => {
                self.errors.push(Located::new(file, pos, error));
                return Vec::new();
            }
        };
        if files.is_empty() {
            let error = SpecError::GlobMatchesNothing { pattern: pattern.to_string(), base: base.to_path_buf() };
            self.errors.push(Located::new(file, pos, error));
        }
        files
    }

    fn task_id(&self, path: &Path) -> String {
        path.strip_prefix(self.job_dir).unwrap_or(path).to_string_lossy().into_owned()
    }
}

/// Reads the tasks of one task set; problems go to `context.errors`.
pub fn read_tasks(name: &Spanned<String>, raw: &RawTaskSet, context: &mut TaskContext<'_>) -> Vec<Task> {
    let sources = [raw.files.is_some(), raw.taskdefs.is_some(), raw.files_from.is_some()];
    if sources.iter().filter(|given| **given).count() != 1 {
        context.report(pos_of(name), SpecError::TaskSource { name: name.value.clone() });
        return Vec::new();
    }
    let property = raw.property.as_ref().map(|property| property.value.as_str());
    let (input_files, taskdef_files) = collect_files(name, raw, context);
    let mut tasks = input_files_to_tasks(&input_files, raw, property, context);
    for taskdef in taskdef_files {
        tasks.extend(read_taskdef_task(&taskdef, property, context));
    }
    apply_expected(&mut tasks, raw, context);
    if let Some(property) = &raw.property {
        check_property_files(&tasks, property, context);
    }
    tasks
}

/// Reports the first property file, of those the tasks name, that does not exist.
fn check_property_files(tasks: &[Task], property: &Spanned<String>, context: &mut TaskContext<'_>) {
    let files: BTreeSet<&PathBuf> = tasks.iter().filter_map(|task| task.property.as_ref()).collect();
    if let Some(missing) = files.into_iter().find(|file| !file.is_file()) {
        context.report(pos_of(property), SpecError::PropertyFileNotFound { path: missing.clone() });
    }
}

/// Returns the input files and the task-definition files a task set names, each sorted.
fn collect_files(
    name: &Spanned<String>,
    raw: &RawTaskSet,
    context: &mut TaskContext<'_>) -> (BTreeSet<PathBuf>, BTreeSet<PathBuf>) {
    let job_dir = context.job_dir.to_path_buf();
    let job_file = context.job_file.to_path_buf();
    let mut inputs = BTreeSet::new();
    let mut taskdefs = BTreeSet::new();
    for pattern in raw.files.iter().flatten() {
        inputs.extend(context.expand(&job_dir, &pattern.value, &job_file, pos_of(pattern)));
    }
    for pattern in raw.taskdefs.iter().flatten() {
        taskdefs.extend(context.expand(&job_dir, &pattern.value, &job_file, pos_of(pattern)));
    }
    if let Some(set_file) = &raw.files_from {
        read_set_file(set_file, context, &mut inputs, &mut taskdefs);
    }
    let found_any = !inputs.is_empty() || !taskdefs.is_empty();
    for pattern in raw.exclude.iter().flatten() {
        match Pattern::new(&job_dir, &pattern.value) {
            Ok(compiled) => {
                inputs.retain(|file| !compiled.matches(file));
                taskdefs.retain(|file| !compiled.matches(file));
            }
            Err(error) => context.report(pos_of(pattern), error),
        }
    }
    if found_any && inputs.is_empty() && taskdefs.is_empty() {
        context.report(pos_of(name), SpecError::AllExcluded { name: name.value.clone() });
    }
    (inputs, taskdefs)
}

fn read_set_file(
    set_file: &Spanned<String>,
    context: &mut TaskContext<'_>,
    inputs: &mut BTreeSet<PathBuf>,
    taskdefs: &mut BTreeSet<PathBuf>,
) {
    let path = crate::spec::settings::absolute(context.job_dir, &set_file.value);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) => {
            context.report(pos_of(set_file), SpecError::Read { path, reason: error.to_string() });
            return;
        }
    };
    let base = path.parent().unwrap_or(Path::new("/")).to_path_buf();
    for line in parse_set_file(&text) {
        let pos = Pos { line: line.line, column: 1 };
        for file in context.expand(&base, &line.pattern, &path, pos) {
            let is_taskdef = file.extension().is_some_and(|ext| ext == "yml" || ext == "yaml");
            if is_taskdef { taskdefs.insert(file) } else { inputs.insert(file) };
        }
    }
    context.errors.add_source(path, text);
}

fn input_files_to_tasks(
    files: &BTreeSet<PathBuf>,
    raw: &RawTaskSet,
    property: Option<&str>,
    context: &TaskContext<'_>,
) -> Vec<Task> {
    let property = property.map(|property| crate::spec::settings::absolute(context.job_dir, property));
    let expected = raw.expected.as_ref().map(|expected| expected.value.clone());
    files
        .iter()
        .map(|file| Task {
            id: context.task_id(file),
            inputs: vec![file.to_string_lossy().into_owned()],
            task_dir: parent_of(file),
            expected: expected.clone(),
            property: property.clone(),
        })
        .collect()
}

fn parent_of(file: &Path) -> String {
    file.parent().unwrap_or(Path::new("/")).to_string_lossy().into_owned()
}

/// Reads one task-definition file; `None` when it fails or lacks the selected property,
/// which skips the task as BenchExec does.
fn read_taskdef_task(path: &Path, property: Option<&str>, context: &mut TaskContext<'_>) -> Option<Task> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) => {
            let error = SpecError::Read { path: path.to_path_buf(), reason: error.to_string() };
            context.errors.push(Located::new(path, Pos::FILE, error));
            return None;
        }
    };
    let taskdef = match parse_taskdef(&text, path) {
        Ok(taskdef) => taskdef,
        Err(error) => {
            context.errors.push(error);
            context.errors.add_source(path.to_path_buf(), text);
            return None;
        }
    };
    let base = path.parent().unwrap_or(Path::new("/")).to_path_buf();
    let (expected, property_file) = match property {
        Some(name) => {
            let selected = taskdef.property(name)?;
            (selected.expected.clone(), Some(crate::spec::settings::absolute(&base, &selected.file)))
        }
        None => (None, None),
    };
    let mut inputs = Vec::new();
    for pattern in &taskdef.input_files {
        let files = context.expand(&base, pattern, path, Pos::FILE);
        inputs.extend(files.into_iter().map(|file| file.to_string_lossy().into_owned()));
    }
    Some(Task { id: context.task_id(path), inputs, task_dir: parent_of(path), expected, property: property_file })
}

/// Fills expected answers from `expected_from_name`, keeping the set's `expected` otherwise.
fn apply_expected(tasks: &mut [Task], raw: &RawTaskSet, context: &mut TaskContext<'_>) {
    let Some(RawExpectedFromName { regex, answers }) = &raw.expected_from_name else {
        return;
    };
    let compiled = match check_regex(&regex.value) {
        Ok(compiled) => compiled,
        Err(error) => {
            context.report(pos_of(regex), error);
            return;
        }
    };
    for task in tasks {
        let Some(captures) = compiled.captures(&task.id) else {
            continue;
        };
        let text = captures.get(1).or_else(|| captures.get(0)).map(|found| found.as_str()).unwrap_or_default();
        let answer = match answers {
            Some(answers) => answers.get(text).cloned(),
            None => Some(text.to_string()),
        };
        if answer.is_some() {
            task.expected = answer;
        }
    }
}

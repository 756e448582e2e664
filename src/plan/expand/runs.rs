//! Building the runs: every tool × config × task set × task of each `runs` entry, then the
//! plain commands, each with its id, command line and shared settings.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::path::Path;
use std::sync::Arc;

use super::groups::{Group, TaskSetSpec};
use super::program::check_program;
use super::tools::{CommandSpec, ConfigSpec, ToolSpec};
use crate::container::dirmode::DirMode;
use crate::plan::{PlannedRun, RunSettings};
use crate::spec::placeholders::{Placeholder, Values};
use crate::spec::settings::{Layer, merge};
use crate::spec::{JobErrors, Located, Pos, SpecError};

/// Collects runs and checks their ids for collisions.
pub struct RunBuilder<'a> {
    /// Copied into every run's settings: see `RunSettings::accept_unenforced_limits`.
    pub accept_unenforced_limits: bool,
    pub job_dir: &'a Path,
    pub file: &'a Path,
    pub defaults: &'a Layer,
    pub errors: &'a mut JobErrors,
    pub runs: Vec<PlannedRun>,
    host_path: Option<OsString>,
    /// Run id to the index of its origin in `origins`.
    ids: HashMap<String, usize>,
    origins: Vec<String>,
    /// Pairs of origins already reported as colliding; one error per pair is enough.
    collisions: HashSet<(usize, usize)>,
}

impl<'a> RunBuilder<'a> {
    pub fn new(job_dir: &'a Path, file: &'a Path, defaults: &'a Layer, errors: &'a mut JobErrors) -> Self {
        RunBuilder {
            accept_unenforced_limits: false,
            job_dir,
            file,
            defaults,
            errors,
            runs: Vec::new(),
            host_path: std::env::var_os("PATH"),
            ids: HashMap::new(),
            origins: Vec::new(),
            collisions: HashSet::new(),
        }
    }

    fn report(&mut self, pos: Pos, error: SpecError) {
        let located = Located::new(self.file, pos, error);
        if !self.errors.errors.contains(&located) {
            self.errors.push(located);
        }
    }

    /// Records `id`; a second use is an error naming both origins.
    fn claim_id(&mut self, id: &str, origin: usize, pos: Pos) -> bool {
        if let Some(&first) = self.ids.get(id) {
            if !self.collisions.insert((first, origin)) {
                return false;
            }
            let error = SpecError::DuplicateRunId {
                id: id.to_string(),
                first: self.origins[first].clone(),
                second: self.origins[origin].clone(),
            };
            self.report(pos, error);
            return false;
        }
        self.ids.insert(id.to_string(), origin);
        true
    }

    /// Merges the layers of one combination and checks its program once.
    fn settings(&mut self, layers: &[&Layer], program: Option<&str>, program_pos: Pos) -> Option<Arc<RunSettings>> {
        let mut settings = match merge(layers, self.job_dir, self.file) {
            Ok(settings) => settings,
            Err(error) => {
                if !self.errors.errors.contains(&error) {
                    self.errors.push(error);
                }
                return None;
            }
        };
        if let Some(program) = program
            && let Err(error) = check_program(program, &settings, self.host_path.as_ref())
        {
            self.report(program_pos, error);
        }
        settings.accept_unenforced_limits = self.accept_unenforced_limits;
        Some(Arc::new(settings))
    }

    /// Adds the runs of one `runs` entry.
    pub fn add_group(&mut self, group: &Group, tools: &[ToolSpec], task_sets: &[TaskSetSpec]) {
        for tool in group.tools.iter().map(|index| &tools[*index]) {
            let configs: Vec<Option<&ConfigSpec>> = if tool.configs.is_empty() {
                vec![None]
            } else {
                tool.configs
                    .iter()
                    .filter(|config| group.configs.as_ref().is_none_or(|names| names.contains(&config.name)))
                    .map(Some)
                    .collect()
            };
            for config in configs {
                for set in group.task_sets.iter().map(|index| &task_sets[*index]) {
                    self.add_combination(group, tool, config, set);
                }
            }
        }
    }

    fn add_combination(&mut self, group: &Group, tool: &ToolSpec, config: Option<&ConfigSpec>, set: &TaskSetSpec) {
        let mut layers = vec![self.defaults, &tool.layer];
        layers.extend(config.map(|config| &config.layer));
        layers.extend([&set.layer, &group.layer]);
        let program = tool.template.as_ref().and_then(|template| template.program());

        let Some(settings) = self.settings(&layers, program, tool.program_pos) else {
            return;
        };
        let Some(template) = &tool.template else {
            return;
        };
        if let Some(error) = hidden_inputs(set, &settings) {
            self.report(set.pos, error);
            return;
        }
        if template.uses(Placeholder::Property) && !set.has_property {
            self.report(set.pos, SpecError::PropertyPlaceholderWithoutProperty { task_set: set.name.clone() });
            return;
        }

        let config_name = config.map(|config| config.name.as_str()).unwrap_or_default();
        let prefix = match config {
            Some(config) => format!("{}.{}/{}/", tool.name, config.name, set.name),
            None => format!("{}/{}/", tool.name, set.name),
        };
        let origin = self.origins.len();
        self.origins.push(describe_origin(tool, config_name, set, group));
        let pos = group.pos.unwrap_or(tool.pos);

        let options = config.map(|config| config.options.as_slice()).unwrap_or_default();
        let job_dir = self.job_dir.to_string_lossy();
        for task in &set.tasks {
            let id = format!("{prefix}{}", task.id);
            if let Err(error) = crate::spec::names::check_task_path(&task.id) {
                self.report(set.pos, error);
                continue;
            }
            if !self.claim_id(&id, origin, pos) {
                continue;
            }
            let property = task.property.as_ref().map(|path| path.to_string_lossy()).unwrap_or_default();
            let values = Values {
                inputs: &task.inputs,
                options,
                task: &task.id,
                task_dir: &task.task_dir,
                run_id: &id,
                property: &property,
                job_dir: &job_dir,
            };
            let command = template.render(&values);
            self.runs.push(PlannedRun {
                id,
                tool: tool.name.clone(),
                config: config_name.to_string(),
                task_set: set.name.clone(),
                task: task.id.clone(),
                command,
                expected: task.expected.clone(),
                property: task.property.clone(),
                settings: Arc::clone(&settings),
                verdict: tool.verdict.clone(),
            });
        }
    }

    /// Adds the run of one plain command.
    pub fn add_command(&mut self, command: &CommandSpec) {
        let layers = [self.defaults, &command.layer];
        let Some(settings) = self.settings(&layers, command.template.program(), command.program_pos) else {
            return;
        };
        let origin = self.origins.len();
        self.origins.push(format!("command `{}` (line {})", command.name, command.pos.line));
        if !self.claim_id(&command.name, origin, command.pos) {
            return;
        }
        let job_dir = self.job_dir.to_string_lossy();
        let values = Values {
            inputs: &[],
            options: &[],
            task: "",
            task_dir: "",
            run_id: &command.name,
            property: "",
            job_dir: &job_dir,
        };
        self.runs.push(PlannedRun {
            id: command.name.clone(),
            tool: command.name.clone(),
            config: String::new(),
            task_set: String::new(),
            task: String::new(),
            command: command.template.render(&values),
            expected: command.expected.clone(),
            property: None,
            settings,
            verdict: command.verdict.clone(),
        });
    }
}

/// Finds input files of `set` that runs with `settings` cannot see, because a directory
/// above them is hidden; the error names the first one and the count.
fn hidden_inputs(set: &TaskSetSpec, settings: &RunSettings) -> Option<SpecError> {
    let mut hidden = set
        .tasks
        .iter()
        .flat_map(|task| task.inputs.iter())
        .filter(|input| settings.dirs.mode_of(Path::new(input)) == DirMode::Hidden);
    let first = hidden.next()?;
    let count = 1 + hidden.count();
    let hidden_dir = Path::new(first)
        .ancestors()
        .find(|dir| settings.dirs.iter().any(|(path, mode)| path == *dir && mode == DirMode::Hidden))
        .unwrap_or(Path::new("/"))
        .to_path_buf();
    Some(SpecError::InputHidden { path: first.clone(), hidden: hidden_dir, count, task_set: set.name.clone() })
}

fn describe_origin(tool: &ToolSpec, config: &str, set: &TaskSetSpec, group: &Group) -> String {
    let mut origin = format!("tool `{}`", tool.name);
    if !config.is_empty() {
        origin.push_str(&format!(" with config `{config}`"));
    }
    origin.push_str(&format!(" on task set `{}`", set.name));
    if let Some(pos) = group.pos {
        origin.push_str(&format!(" (runs entry {}, line {})", group.number, pos.line));
    }
    origin
}

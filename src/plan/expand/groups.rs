//! Entries of `runs:`: which tools, configs and task sets run together, with their settings.
//! Without `runs:`, one implicit entry runs every tool with every config on every task set.

use serde_saphyr::Spanned;

use super::tasks::Task;
use super::tools::ToolSpec;
use crate::spec::raw::RawRunGroup;
use crate::spec::settings::{Layer, LayerContext};
use crate::spec::suggest::closest;
use crate::spec::{Located, Pos, SpecError, pos_of};

/// A task set after checking, with its tasks.
pub struct TaskSetSpec {
    pub name: String,
    pub pos: Pos,
    pub layer: Layer,
    pub tasks: Vec<Task>,
    pub has_property: bool,
}

/// One entry of `runs:` with its names resolved to indices.
pub struct Group {
    /// Location for this entry's collision errors; `None` for the implicit entry.
    pub pos: Option<Pos>,
    /// The entry's number from 1, for messages.
    pub number: usize,
    pub tools: Vec<usize>,
    /// The configs to run; `None` means every config of each tool.
    pub configs: Option<Vec<String>>,
    pub task_sets: Vec<usize>,
    pub layer: Layer,
}

/// Builds the implicit entry used when the job file has no `runs:`.
pub fn implicit_group(tools: usize, task_sets: usize) -> Group {
    Group {
        pos: None,
        number: 0,
        tools: (0..tools).collect(),
        configs: None,
        task_sets: (0..task_sets).collect(),
        layer: Layer::default(),
    }
}

/// Resolves one entry of `runs:`; unknown names go to `context.errors`.
pub fn read_group(
    number: usize,
    raw: &Spanned<RawRunGroup>,
    tools: &[ToolSpec],
    task_sets: &[TaskSetSpec],
    context: &mut LayerContext<'_>,
) -> Group {
    let tool_names: Vec<&str> = tools.iter().map(|tool| tool.name.as_str()).collect();
    let set_names: Vec<&str> = task_sets.iter().map(|set| set.name.as_str()).collect();
    let group = &raw.value;
    let tool_indices = resolve("tool", group.tools.as_deref(), &tool_names, context);
    let set_indices = resolve("task set", group.tasks.as_deref(), &set_names, context);
    if let Some(configs) = &group.configs {
        check_configs(configs, &tool_indices, tools, context);
    }
    Group {
        pos: Some(pos_of(raw)),
        number,
        tools: tool_indices,
        configs: group.configs.as_ref().map(|configs| configs.iter().map(|config| config.value.clone()).collect()),
        task_sets: set_indices,
        layer: Layer::from_raw(group.settings(), context),
    }
}

/// Resolves names to indices into `known`; `None` means all of them.
fn resolve(kind: &'static str, names: Option<&[Spanned<String>]>, known: &[&str], context: &mut LayerContext<'_>) -> Vec<usize> {
    let Some(names) = names else {
        return (0..known.len()).collect();
    };
    let mut indices = Vec::new();
    for name in names {
        match known.iter().position(|candidate| *candidate == name.value) {
            Some(index) => indices.push(index),
            None => {
                let suggestion = closest(&name.value, known.iter().copied());
                let error = SpecError::UnknownName { kind, name: name.value.clone(), suggestion };
                context.errors.push(Located::new(context.file, pos_of(name), error));
            }
        }
    }
    indices
}

/// Checks that every config named in a `runs` entry exists in each of its tools.
fn check_configs(configs: &[Spanned<String>], tool_indices: &[usize], tools: &[ToolSpec], context: &mut LayerContext<'_>) {
    for config in configs {
        for tool in tool_indices.iter().map(|index| &tools[*index]) {
            let names: Vec<&str> = tool.configs.iter().map(|known| known.name.as_str()).collect();
            if !names.contains(&config.value.as_str()) {
                let error = SpecError::UnknownConfig {
                    tool: tool.name.clone(),
                    config: config.value.clone(),
                    suggestion: closest(&config.value, names.iter().copied()),
                };
                context.errors.push(Located::new(context.file, pos_of(config), error));
            }
        }
    }
}

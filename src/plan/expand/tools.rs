//! Tools and plain commands: their command templates, configs, verdict rules and settings.

use std::path::Path;
use std::sync::Arc;

use serde_saphyr::Spanned;

use crate::spec::names::check_name;
use crate::spec::placeholders::CommandTemplate;
use crate::spec::raw::{RawCommand, RawTool};
use crate::spec::settings::{Layer, LayerContext};
use crate::spec::verdict::read_verdict;
use crate::spec::{Located, Pos, SpecError, pos_of};
use crate::verdict::VerdictRules;

/// A tool after checking.
pub struct ToolSpec {
    pub name: String,
    pub pos: Pos,
    /// `None` when the command is invalid: its settings are still checked, but no run is built.
    pub template: Option<CommandTemplate>,
    /// The position of the command's first word, where a missing program is reported.
    pub program_pos: Pos,
    pub version: Option<Vec<String>>,
    pub verdict: Option<Arc<VerdictRules>>,
    pub layer: Layer,
    /// The configs in job-file order; empty when the tool has none.
    pub configs: Vec<ConfigSpec>,
}

/// One config of a tool.
pub struct ConfigSpec {
    pub name: String,
    pub options: Vec<String>,
    pub layer: Layer,
}

/// Checks a command line and parses it into a template; errors point at the faulty word.
pub fn read_command(command: &Spanned<Vec<Spanned<String>>>, file: &Path, errors: &mut Vec<Located>) -> Option<CommandTemplate> {
    let words: Vec<&str> = command.value.iter().map(|word| word.value.as_str()).collect();
    match CommandTemplate::parse(&words) {
        Ok(template) => Some(template),
        Err((index, error)) => {
            let pos = command.value.get(index).map_or_else(|| pos_of(command), pos_of);
            errors.push(Located::new(file, pos, error));
            None
        }
    }
}

/// Checks one tool.
pub fn read_tool(name: &Spanned<String>, raw: &RawTool, context: &mut LayerContext<'_>) -> ToolSpec {
    if let Err(error) = check_name("tool", &name.value) {
        context.errors.push(Located::new(context.file, pos_of(name), error));
    }
    let template = read_command(&raw.command, context.file, context.errors);
    let verdict = raw.verdict.as_ref().map(|verdict| Arc::new(read_verdict(verdict, context.file, context.errors)));
    let layer = Layer::from_raw(raw.settings(), context);
    let mut configs = Vec::new();
    for (config_name, entry) in raw.configs.iter().flat_map(|configs| configs.iter()) {
        if let Err(error) = check_name("config", &config_name.value) {
            context.errors.push(Located::new(context.file, pos_of(config_name), error));
        }
        configs.push(ConfigSpec {
            name: config_name.value.clone(),
            options: entry.0.options.iter().map(|option| option.value.clone()).collect(),
            layer: Layer::from_raw(entry.0.settings(), context),
        });
    }
    ToolSpec {
        name: name.value.clone(),
        pos: pos_of(name),
        program_pos: raw.command.value.first().map_or_else(|| pos_of(&raw.command), pos_of),
        template,
        version: raw.version.clone(),
        verdict,
        layer,
        configs,
    }
}

/// A plain command after checking.
pub struct CommandSpec {
    pub name: String,
    pub pos: Pos,
    pub template: CommandTemplate,
    pub program_pos: Pos,
    pub verdict: Option<Arc<VerdictRules>>,
    pub expected: Option<String>,
    pub layer: Layer,
}

/// Checks one plain command; task placeholders are errors because a command has no task.
pub fn read_plain_command(name: &Spanned<String>, raw: &RawCommand, context: &mut LayerContext<'_>) -> Option<CommandSpec> {
    if let Err(error) = check_name("command", &name.value) {
        context.errors.push(Located::new(context.file, pos_of(name), error));
    }
    let template = read_command(&raw.command, context.file, context.errors)?;
    if let Some(placeholder) = template.placeholders().find(|placeholder| placeholder.needs_task()) {
        let error = SpecError::PlaceholderWithoutTask { name: placeholder.name() };
        context.errors.push(Located::new(context.file, pos_of(&raw.command), error));
    }
    let verdict = raw.verdict.as_ref().map(|verdict| Arc::new(read_verdict(verdict, context.file, context.errors)));
    Some(CommandSpec {
        name: name.value.clone(),
        pos: pos_of(name),
        program_pos: raw.command.value.first().map_or_else(|| pos_of(&raw.command), pos_of),
        template,
        verdict,
        expected: raw.expected.as_ref().map(|expected| expected.value.clone()),
        layer: Layer::from_raw(raw.settings(), context),
    })
}

//! Placeholders in command lines, such as `{input}` and `{options}`.
//!
//! A command is parsed once per tool into a template and rendered once per run. `{inputs}`
//! and `{options}` stand for several arguments, so they must fill a whole command word;
//! the others may sit inside a word (`--proof={task_dir}/proof`). `{{` and `}}` write a
//! literal brace.

use super::error::SpecError;

/// One placeholder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placeholder {
    Input,
    Inputs,
    Options,
    Task,
    TaskDir,
    RunId,
    Property,
    JobDir,
}

const NAMES: [(&str, Placeholder); 8] = [
    ("input", Placeholder::Input),
    ("inputs", Placeholder::Inputs),
    ("options", Placeholder::Options),
    ("task", Placeholder::Task),
    ("task_dir", Placeholder::TaskDir),
    ("run_id", Placeholder::RunId),
    ("property", Placeholder::Property),
    ("job_dir", Placeholder::JobDir),
];

impl Placeholder {
    pub fn name(self) -> &'static str {
        NAMES.iter().find(|(_, p)| *p == self).map(|(name, _)| *name).unwrap_or_default()
    }

    /// Tells whether the placeholder needs a task, which plain commands do not have.
    pub fn needs_task(self) -> bool {
        !matches!(self, Placeholder::RunId | Placeholder::JobDir | Placeholder::Options)
    }

    fn is_list(self) -> bool {
        matches!(self, Placeholder::Inputs | Placeholder::Options)
    }
}

/// A piece of a command word.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Text(String),
    Value(Placeholder),
}

/// A command line with its placeholders found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandTemplate {
    words: Vec<Vec<Part>>,
}

/// The values a run gives to the placeholders.
#[derive(Clone, Copy, Debug)]
pub struct Values<'a> {
    pub inputs: &'a [String],
    pub options: &'a [String],
    pub task: &'a str,
    pub task_dir: &'a str,
    pub run_id: &'a str,
    pub property: &'a str,
    pub job_dir: &'a str,
}

impl CommandTemplate {
    /// Parses a command; on error returns the index of the faulty word with the error.
    /// `{options}` is appended when the command does not use it.
    pub fn parse(words: &[&str]) -> Result<CommandTemplate, (usize, SpecError)> {
        if words.is_empty() {
            return Err((0, SpecError::EmptyCommand));
        }
        let mut parsed = Vec::with_capacity(words.len() + 1);
        for (index, word) in words.iter().enumerate() {
            parsed.push(parse_word(word).map_err(|error| (index, error))?);
        }
        let mut template = CommandTemplate { words: parsed };
        if !template.uses(Placeholder::Options) {
            template.words.push(vec![Part::Value(Placeholder::Options)]);
        }
        Ok(template)
    }

    pub fn uses(&self, placeholder: Placeholder) -> bool {
        self.placeholders().any(|used| used == placeholder)
    }

    /// Iterates over the placeholders of the command, in order, with repeats.
    pub fn placeholders(&self) -> impl Iterator<Item = Placeholder> + '_ {
        self.words.iter().flatten().filter_map(|part| match part {
            Part::Value(placeholder) => Some(*placeholder),
            Part::Text(_) => None,
        })
    }

    /// Returns the program, when the first word has no placeholder.
    pub fn program(&self) -> Option<&str> {
        match self.words.first()?.as_slice() {
            [Part::Text(text)] => Some(text),
            _ => None,
        }
    }

    /// Builds the command line of one run.
    pub fn render(&self, values: &Values<'_>) -> Vec<String> {
        let mut line = Vec::with_capacity(self.words.len() + values.options.len() + values.inputs.len());
        for word in &self.words {
            match word.as_slice() {
                [Part::Value(Placeholder::Inputs)] => line.extend(values.inputs.iter().cloned()),
                [Part::Value(Placeholder::Options)] => line.extend(values.options.iter().cloned()),
                parts => line.push(render_word(parts, values)),
            }
        }
        line
    }
}

fn render_word(parts: &[Part], values: &Values<'_>) -> String {
    let mut word = String::new();
    for part in parts {
        match part {
            Part::Text(text) => word.push_str(text),
            Part::Value(placeholder) => word.push_str(scalar_value(*placeholder, values)),
        }
    }
    word
}

fn scalar_value<'a>(placeholder: Placeholder, values: &Values<'a>) -> &'a str {
    match placeholder {
        Placeholder::Input => values.inputs.first().map(String::as_str).unwrap_or_default(),
        Placeholder::Task => values.task,
        Placeholder::TaskDir => values.task_dir,
        Placeholder::RunId => values.run_id,
        Placeholder::Property => values.property,
        Placeholder::JobDir => values.job_dir,
        Placeholder::Inputs | Placeholder::Options => "",
    }
}

fn parse_word(word: &str) -> Result<Vec<Part>, SpecError> {
    let mut parts = Vec::new();
    let mut text = String::new();
    let mut chars = word.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                text.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                text.push('}');
            }
            '{' => {
                let name: String = chars.by_ref().take_while(|c| *c != '}').collect();
                let placeholder = lookup(&name, word)?;
                if !text.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut text)));
                }
                parts.push(Part::Value(placeholder));
            }
            other => text.push(other),
        }
    }
    if !text.is_empty() || parts.is_empty() {
        parts.push(Part::Text(text));
    }
    if parts.len() > 1 && parts.iter().any(|part| matches!(part, Part::Value(p) if p.is_list())) {
        return Err(SpecError::ListPlaceholderInWord { word: word.to_string() });
    }
    Ok(parts)
}

fn lookup(name: &str, word: &str) -> Result<Placeholder, SpecError> {
    if !word.contains('}') {
        return Err(SpecError::UnclosedPlaceholder { word: word.to_string() });
    }
    NAMES.iter().find(|(known, _)| *known == name).map(|(_, placeholder)| *placeholder).ok_or_else(|| {
        SpecError::UnknownPlaceholder { name: name.to_string(), known: known_list() }
    })
}

/// Lists the known placeholders, for messages.
pub fn known_list() -> String {
    NAMES.iter().map(|(name, _)| format!("`{{{name}}}`")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values<'a>(inputs: &'a [String], options: &'a [String]) -> Values<'a> {
        Values {
            inputs,
            options,
            task: "cnf/a.cnf",
            task_dir: "/job/cnf",
            run_id: "t/s/cnf/a.cnf",
            property: "",
            job_dir: "/job",
        }
    }

    #[test]
    fn options_appended_when_absent() {
        let template = CommandTemplate::parse(&["tool", "{input}"]).unwrap();
        let inputs = vec!["/job/cnf/a.cnf".to_string()];
        let options = vec!["-q".to_string(), "-v".to_string()];
        assert_eq!(template.render(&values(&inputs, &options)), ["tool", "/job/cnf/a.cnf", "-q", "-v"]);
    }

    #[test]
    fn list_placeholders_expand_to_words() {
        let template = CommandTemplate::parse(&["tool", "{options}", "{inputs}"]).unwrap();
        let inputs = vec!["a".to_string(), "b".to_string()];
        let options = vec!["-x".to_string()];
        assert_eq!(template.render(&values(&inputs, &options)), ["tool", "-x", "a", "b"]);
    }

    #[test]
    fn placeholder_inside_word_and_escapes() {
        let template = CommandTemplate::parse(&["sh", "-c", "echo {{x}} --out={task_dir}/p"]).unwrap();
        let rendered = template.render(&values(&[], &[]));
        assert_eq!(rendered[2], "echo {x} --out=/job/cnf/p");
    }

    #[test]
    fn unknown_placeholder_rejected() {
        let error = CommandTemplate::parse(&["tool", "{inptu}"]).unwrap_err();
        assert_eq!(error.0, 1);
        assert!(matches!(error.1, SpecError::UnknownPlaceholder { ref name, .. } if name == "inptu"));
    }

    #[test]
    fn unclosed_and_embedded_lists_rejected() {
        assert!(matches!(CommandTemplate::parse(&["a{input"]), Err((0, SpecError::UnclosedPlaceholder { .. }))));
        assert!(matches!(
            CommandTemplate::parse(&["x", "--in={inputs}"]),
            Err((1, SpecError::ListPlaceholderInWord { .. }))
        ));
        assert!(matches!(CommandTemplate::parse(&[]), Err((0, SpecError::EmptyCommand))));
    }

    #[test]
    fn program_is_first_literal_word() {
        assert_eq!(CommandTemplate::parse(&["cadical", "{input}"]).unwrap().program(), Some("cadical"));
        assert_eq!(CommandTemplate::parse(&["{input}"]).unwrap().program(), None);
    }
}

//! `cellrun check`: validate a job file and show what it would run.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use crate::limits::Limits;
use crate::plan::{Plan, PlannedRun};
use crate::units::format_duration;

/// Options of `cellrun check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The job file to check.
    pub job_file: PathBuf,
    /// Print every run id, one per line, instead of the summary.
    #[arg(long, conflicts_with = "json")]
    pub list: bool,
    /// Print the expanded plan as JSON instead of the summary.
    #[arg(long)]
    pub json: bool,
}

/// Exit status for a job file with errors.
pub const EXIT_INVALID: i32 = 2;

/// Checks the job file; returns 0 when it is valid and 2 when it is not.
pub fn run(args: &CheckArgs) -> i32 {
    let plan = match crate::plan::load(&args.job_file) {
        Ok(plan) => plan,
        Err(errors) => {
            eprintln!("{errors}");
            return EXIT_INVALID;
        }
    };
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    // A closed pipe (`cellrun check --list job.yaml | head`) is not an error of the job file,
    // so write errors are ignored.
    if args.list {
        for run in &plan.runs {
            let _ = writeln!(stdout, "{}", run.id);
        }
    } else if args.json {
        // Streamed, so a plan of 100,000 runs never exists as one string.
        let _ = serde_json::to_writer_pretty(&mut stdout, &plan);
        let _ = writeln!(stdout);
    } else {
        let _ = stdout.write_all(summary(&plan).as_bytes());
    }
    let _ = stdout.flush();
    0
}

/// Builds the summary: run count, runs per tool × config × task set, and the first run in full.
pub fn summary(plan: &Plan) -> String {
    let mut out = format!("job `{}` is valid: {} run{}\n", plan.name, plan.runs.len(), plural(plan.runs.len()));
    out.push_str("\nruns per tool × config × task set:\n");
    for (group, count) in count_groups(&plan.runs) {
        out.push_str(&format!("  {count:>8}  {group}\n"));
    }
    if let Some(run) = plan.runs.first() {
        out.push_str(&format!("\nfirst run: {}\n", run.id));
        out.push_str(&describe_run(run));
    }
    out
}

fn plural(count: usize) -> &'static str {
    if count == 1 { "" } else { "s" }
}

/// Counts runs per `tool.config/task_set`, in the order of their first run.
fn count_groups(runs: &[PlannedRun]) -> Vec<(String, usize)> {
    let mut order: Vec<(String, usize)> = Vec::new();
    let mut index: HashMap<(&str, &str, &str), usize> = HashMap::new();
    for run in runs {
        let key = (run.tool.as_str(), run.config.as_str(), run.task_set.as_str());
        let slot = *index.entry(key).or_insert_with(|| {
            order.push((group_label(run), 0));
            order.len() - 1
        });
        order[slot].1 += 1;
    }
    order
}

fn group_label(run: &PlannedRun) -> String {
    let tool = if run.config.is_empty() { run.tool.clone() } else { format!("{}.{}", run.tool, run.config) };
    if run.task_set.is_empty() { format!("{tool} (command)") } else { format!("{tool} / {}", run.task_set) }
}

/// Describes the fully resolved settings of one run, one line per setting.
pub fn describe_run(run: &PlannedRun) -> String {
    let settings = &run.settings;
    let mut out = format!("  command:      {}\n", shell_words(&run.command));
    out.push_str(&format!("  workdir:      {}\n", settings.workdir.display()));
    out.push_str("  limits:\n");
    out.push_str(&describe_limits(&settings.limits));
    out.push_str("  dirs, in path order:\n");
    for (path, mode) in settings.dirs.iter() {
        out.push_str(&format!("    {:<12} {}\n", mode.key(), path.display()));
    }
    out.push_str(&format!("  network:      {}\n", if settings.network { "host network" } else { "loopback only" }));
    out.push_str(&format!("  env inherit:  {}\n", settings.env.inherit.join(", ")));
    for (name, value) in &settings.env.set {
        out.push_str(&format!("  env set:      {name}={value}\n"));
    }
    if !settings.result_files.is_empty() {
        out.push_str(&format!("  result files: {}\n", settings.result_files.join(", ")));
    }
    if let Some(expected) = &run.expected {
        out.push_str(&format!("  expected:     {expected}\n"));
    }
    if let Some(property) = &run.property {
        out.push_str(&format!("  property:     {}\n", property.display()));
    }
    out
}

fn describe_limits(limits: &Limits) -> String {
    let none = || "none".to_string();
    let walltime = match (limits.walltime, limits.effective_walltime()) {
        (Some(walltime), _) => format_duration(walltime),
        (None, Some(derived)) => format!("{} (cputime + 30s)", format_duration(derived)),
        (None, None) => none(),
    };
    let rows = [
        ("memory", limits.memory.map(|size| size.to_string()).unwrap_or_else(none)),
        ("cputime", limits.cputime.map(format_duration).unwrap_or_else(none)),
        ("soft_cputime", limits.soft_cputime.map(format_duration).unwrap_or_else(none)),
        ("walltime", walltime),
        ("cores", limits.cores.map(|cores| cores.to_string()).unwrap_or_else(|| "all".to_string())),
        ("processes", limits.processes.map(|count| count.to_string()).unwrap_or_else(none)),
        ("output", limits.output.map(|size| size.to_string()).unwrap_or_else(none)),
    ];
    rows.iter().map(|(name, value)| format!("    {name:<12} {value}\n")).collect()
}

/// Joins a command line, quoting words a POSIX shell would split or expand.
fn shell_words(words: &[String]) -> String {
    let plain = |word: &str| {
        !word.is_empty() && word.chars().all(|c| c.is_alphanumeric() || "-_./=:,+@%".contains(c))
    };
    let quoted: Vec<String> = words
        .iter()
        .map(|word| if plain(word) { word.clone() } else { format!("'{}'", word.replace('\'', r"'\''")) })
        .collect();
    quoted.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_quotes_when_needed() {
        let words = ["sh", "-c", "make test", "it's"].map(String::from);
        assert_eq!(shell_words(&words), r"sh -c 'make test' 'it'\''s'");
    }
}

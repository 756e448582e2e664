//! Property test: expanding the same job file twice gives the same runs in the same order,
//! and run ids are unique, or else every error is a reported run-id collision.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashSet};

use cellrun::spec::SpecError;
use proptest::prelude::*;

/// A generated job: tools with their configs, task sets with their file names.
#[derive(Debug, Clone)]
struct Job {
    tools: BTreeMap<String, Vec<String>>,
    task_sets: BTreeMap<String, BTreeSet<String>>,
}

fn job_strategy() -> impl Strategy<Value = Job> {
    let tools = prop::collection::btree_map("[a-c]{1,2}(\\.[a-c])?", prop::collection::vec("[a-c]{1,2}", 0..3), 1..4);
    let files = prop::collection::btree_set("(d1|d2)/[a-z]{1,5}\\.cnf", 1..6);
    let task_sets = prop::collection::btree_map("[a-c]{1,2}", files, 1..3);
    (tools, task_sets).prop_map(|(tools, task_sets)| Job { tools, task_sets })
}

fn job_yaml(job: &Job) -> String {
    let mut yaml = String::from("tools:\n");
    for (tool, configs) in &job.tools {
        yaml.push_str(&format!("  {tool}:\n    command: [sh, \"{{input}}\"]\n"));
        let unique: BTreeSet<&String> = configs.iter().collect();
        if !unique.is_empty() {
            yaml.push_str("    configs:\n");
            for config in unique {
                yaml.push_str(&format!("      {config}: [-{config}]\n"));
            }
        }
    }
    yaml.push_str("tasks:\n");
    for (set, files) in &job.task_sets {
        let list: Vec<String> = files.iter().map(|file| format!("\"{file}\"")).collect();
        yaml.push_str(&format!("  {set}:\n    files: [{}]\n", list.join(", ")));
    }
    yaml
}

fn write_job(job: &Job) -> tempfile::TempDir {
    let dir = tempfile::tempdir_in(common::tests_base()).unwrap();
    for file in job.task_sets.values().flatten() {
        let path = dir.path().join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "p cnf 0 0\n").unwrap();
    }
    std::fs::write(dir.path().join("job.yaml"), job_yaml(job)).unwrap();
    dir
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn expansion_deterministic_and_ids_unique(job in job_strategy()) {
        let dir = write_job(&job);
        let path = dir.path().join("job.yaml");
        let first = cellrun::plan::load(&path);
        let second = cellrun::plan::load(&path);
        match (first, second) {
            (Ok(first), Ok(second)) => {
                let ids: Vec<&str> = first.runs.iter().map(|run| run.id.as_str()).collect();
                let again: Vec<&str> = second.runs.iter().map(|run| run.id.as_str()).collect();
                prop_assert_eq!(&ids, &again);
                let unique: HashSet<&str> = ids.iter().copied().collect();
                prop_assert_eq!(unique.len(), ids.len());
                let variants: usize = job.tools.values().map(|configs| configs.iter().collect::<BTreeSet<_>>().len().max(1)).sum();
                let tasks: usize = job.task_sets.values().map(BTreeSet::len).sum();
                prop_assert_eq!(ids.len(), variants * tasks);
            }
            (Err(first), Err(second)) => {
                prop_assert_eq!(first.to_string(), second.to_string());
                for error in &first.errors {
                    prop_assert!(matches!(error.error, SpecError::DuplicateRunId { .. }), "{}", first);
                }
            }
            (first, second) => prop_assert!(false, "results differ: {:?} vs {:?}", first.is_ok(), second.is_ok()),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any text, including a valid job file with bytes changed, gives a plan or errors.
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}", cut in 0usize..400, insert in "[\\[\\]{}:,\\-\"' \\n\\ta-z0-9]{0,8}") {
        let _ = cellrun::spec::parse(&text, std::path::Path::new("job.yaml"));
        let valid = "defaults:\n  limits: {memory: 1 GiB}\n  dirs: {hidden: [/tmp]}\ntools:\n  a:\n    command: [sh, \"{input}\"]\n    configs: {x: [-x], y: {options: [-y]}}\ntasks:\n  s:\n    files: [\"*.cnf\"]\nruns:\n  - tools: [a]\n";
        let at = valid.char_indices().map(|(index, _)| index).nth(cut % valid.len()).unwrap_or(0);
        let mutated = format!("{}{insert}{}", &valid[..at], &valid[at..]);
        let dir = tempfile::tempdir_in(common::tests_base()).unwrap();
        let path = dir.path().join("job.yaml");
        std::fs::write(&path, &mutated).unwrap();
        if let Err(errors) = cellrun::plan::load(&path) {
            prop_assert!(!errors.to_string().is_empty());
        }
    }
}

//! Error messages for malformed job files, one snapshot per case.
//!
//! Each case writes a job file into a fresh directory, runs `cellrun check job.yaml`, and
//! checks the exit status, the `FILE:LINE:COLUMN` of the first error and the whole message.

mod common;

use common::{TASK_FILES, cellrun_in, job_dir};

/// A working tool and task set, for cases that break something else.
const BASE: &str = "tools:\n  solver:\n    command: [bin/solver, \"{input}\"]\ntasks:\n  php:\n    files: [\"cnf/php-*.cnf\"]\n";

/// Checks `job` and returns stderr with the temporary directory replaced by `[DIR]`.
fn errors_of(job: &str) -> String {
    let dir = job_dir(TASK_FILES);
    common::write_file(dir.path(), "job.yaml", job);
    let output = cellrun_in(dir.path(), &["check", "job.yaml"]);
    assert_eq!(output.status.code(), Some(2), "stdout: {}", String::from_utf8_lossy(&output.stdout));
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let real = std::fs::canonicalize(dir.path()).unwrap();
    stderr.replace(&real.display().to_string(), "[DIR]").replace(&dir.path().display().to_string(), "[DIR]")
}

macro_rules! error_case {
    ($name:ident, $location:expr, $job:expr) => {
        #[test]
        fn $name() {
            let stderr = errors_of(&$job);
            assert!(stderr.contains(&format!("--> {}\n", $location)), "expected {} in:\n{stderr}", $location);
            insta::assert_snapshot!(stringify!($name), stderr);
        }
    };
}

// Syntax
error_case!(syntax_unclosed_flow_sequence, "job.yaml:2:6", "tools:\n  a: [cat\n");
error_case!(syntax_bad_indentation, "job.yaml:4:4", "tools:\n  a:\n    command: [cat]\n   tasks: x\n");
error_case!(syntax_duplicate_key, "job.yaml:4:3", "tools:\n  solver:\n    command: [cat]\n  solver:\n    command: [cat]\n");
error_case!(syntax_tab_indentation, "job.yaml:2:2", "tools:\n\tsolver: {}\n");

// Unknown keys
error_case!(unknown_top_level_key, "job.yaml:1:1", "tool:\n  a: {command: [cat]}\n");
error_case!(unknown_limit_key, "job.yaml:2:12", "defaults:\n  limits: {cpu_time: 5s}\n");
error_case!(unknown_dirs_key, "job.yaml:3:5", "defaults:\n  dirs:\n    readonly: [/]\n");
error_case!(unknown_tool_key, "job.yaml:3:5", "tools:\n  solver:\n    comand: [cat]\n");
error_case!(unknown_task_set_key, "job.yaml:8:5", format!("{BASE}  more:\n    file: [x]\n"));

// Types
error_case!(type_cores_not_a_number, "job.yaml:2:19", "defaults:\n  limits: {cores: many}\n");
error_case!(type_yes_is_not_a_boolean, "job.yaml:2:12", "defaults:\n  network: yes\n");
error_case!(type_command_is_a_string, "job.yaml:3:14", "tools:\n  solver:\n    command: \"cat x\"\n");
error_case!(missing_command, "job.yaml:3:5", "tools:\n  solver:\n    version: [cat]\n");

// Units
error_case!(size_without_unit, "job.yaml:2:20", format!("defaults:\n  limits: {{memory: 1000}}\n{BASE}"));
error_case!(size_with_unknown_unit, "job.yaml:2:20", format!("defaults:\n  limits: {{memory: 1 gigs}}\n{BASE}"));
error_case!(duration_without_unit, "job.yaml:2:21", format!("defaults:\n  limits: {{cputime: 60}}\n{BASE}"));
error_case!(duration_with_unknown_unit, "job.yaml:2:21", format!("defaults:\n  limits: {{cputime: 5 weeks}}\n{BASE}"));
error_case!(zero_cores, "job.yaml:2:19", format!("defaults:\n  limits: {{cores: 0}}\n{BASE}"));
error_case!(walltime_below_cputime, "job.yaml:2:36", format!("defaults:\n  limits: {{cputime: 60s, walltime: 10s}}\n{BASE}"));

// Files and globs
error_case!(glob_matches_nothing, "job.yaml:6:13", BASE.replace("cnf/php-*.cnf", "cnf/none-*.cnf"));
error_case!(glob_invalid, "job.yaml:6:13", BASE.replace("cnf/php-*.cnf", "cnf/[php.cnf"));
error_case!(all_files_excluded, "job.yaml:5:3", format!("{BASE}    exclude: [\"cnf/*\"]\n"));
error_case!(set_file_missing, "job.yaml:6:17", BASE.replace("files: [\"cnf/php-*.cnf\"]", "files_from: lists/missing.set"));
error_case!(task_set_with_two_sources, "job.yaml:5:3", format!("{BASE}    taskdefs: [\"sv/*.yml\"]\n"));
error_case!(input_files_hidden, "job.yaml:7:3", format!("defaults:\n  dirs: {{hidden: [cnf]}}\n{BASE}"));
error_case!(property_file_missing, "job.yaml:7:15", format!("{BASE}    property: props/unreach-call.prp\n"));
error_case!(workdir_missing, "job.yaml:2:12", format!("defaults:\n  workdir: ./nowhere\n{BASE}"));

// Commands and placeholders
error_case!(placeholder_unknown, "job.yaml:3:27", BASE.replace("{input}", "{inptu}"));
error_case!(placeholder_unclosed, "job.yaml:3:27", BASE.replace("\"{input}\"", "\"{input\""));
error_case!(placeholder_list_inside_word, "job.yaml:3:27", BASE.replace("{input}", "--in={inputs}"));
error_case!(placeholder_task_in_plain_command, "job.yaml:3:14", "commands:\n  test:\n    command: [cat, \"{input}\"]\n");
error_case!(placeholder_property_without_property, "job.yaml:5:3", BASE.replace("{input}", "{property}"));
error_case!(command_empty, "job.yaml:3:14", BASE.replace("[bin/solver, \"{input}\"]", "[]"));
error_case!(program_not_found_on_path, "job.yaml:3:15", BASE.replace("bin/solver", "no-such-solver"));
error_case!(program_path_missing, "job.yaml:3:15", BASE.replace("bin/solver", "bin/missing"));
error_case!(program_hidden_by_dirs, "job.yaml:5:15", format!("defaults:\n  dirs: {{hidden: [bin]}}\n{BASE}"));

// Directory modes and result files
error_case!(dir_mode_conflict, "job.yaml:2:42", format!("defaults:\n  dirs: {{read_only: [cnf], full_access: [./cnf/]}}\n{BASE}"));
error_case!(dir_mode_path_missing, "job.yaml:2:24", format!("defaults:\n  dirs: {{full_access: [scratch]}}\n{BASE}"));
error_case!(result_file_absolute, "job.yaml:2:18", format!("defaults:\n  result_files: [/etc/passwd]\n{BASE}"));
error_case!(result_file_parent, "job.yaml:2:18", format!("defaults:\n  result_files: [\"../*.log\"]\n{BASE}"));

// Names and references
error_case!(name_with_space, "job.yaml:2:3", BASE.replace("solver:", "\"my solver\":"));
error_case!(runs_unknown_tool, "job.yaml:8:13", format!("{BASE}runs:\n  - tools: [solvr]\n"));
error_case!(runs_unknown_task_set, "job.yaml:8:13", format!("{BASE}runs:\n  - tasks: [phx]\n"));
error_case!(runs_unknown_config, "job.yaml:9:15", format!("{BASE}runs:\n  - tools: [solver]\n    configs: [fast]\n"));
error_case!(run_id_collision, "job.yaml:9:5", format!("{BASE}runs:\n  - tools: [solver]\n  - tasks: [php]\n"));
error_case!(fail_on_unknown_category, "job.yaml:1:18", format!("fail_on: [wrong, eror]\n{BASE}"));
error_case!(parallel_zero, "job.yaml:1:11", format!("parallel: 0\n{BASE}"));
error_case!(verdict_regex_invalid, "job.yaml:5:16", "tools:\n  solver:\n    command: [bin/solver, \"{input}\"]\n    verdict:\n      output: {\"^s (SAT\": sat}\ntasks:\n  php:\n    files: [\"cnf/php-*.cnf\"]\n");
error_case!(no_runs, "job.yaml", "name: empty\n");

#[test]
fn many_errors_reported_together() {
    let job = format!("defaults:\n  limits: {{memory: 1000, cputime: 60}}\n  dirs: {{full_access: [scratch]}}\n{BASE}");
    let stderr = errors_of(&job);
    assert!(stderr.contains("job.yaml:2:20"), "{stderr}");
    assert!(stderr.contains("job.yaml:2:35"), "{stderr}");
    assert!(stderr.contains("job.yaml:3:24"), "{stderr}");
    assert!(stderr.contains("3 errors found"), "{stderr}");
}

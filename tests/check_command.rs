//! `cellrun check` on valid job files: the summary, `--list`, `--json`, and what expansion
//! resolves (merged limits, directory modes, expected answers, placeholders).

mod common;

use common::{TASK_FILES, cellrun_in, job_dir};
use serde_json::Value;

const JOB: &str = r#"
defaults:
  limits: {memory: 1 GiB, cputime: 60s}
  dirs: {full_access: [out]}
tools:
  solver:
    command: [bin/solver, "{input}", "--id={run_id}"]
    verdict: {exit_codes: {10: sat, 20: unsat}}
    configs:
      plain: []
      fast: {options: [--fast], limits: {memory: 2 GiB}}
    limits: {cores: 2}
tasks:
  php:
    files: ["cnf/php-*.cnf"]
    expected: unsat
    limits: {cputime: 20s}
  named:
    files: ["cnf/*.cnf"]
    exclude: ["cnf/php-4-*"]
    expected_from_name: {regex: '(php|sat)', answers: {php: unsat, sat: sat}}
runs:
  - tasks: [php]
  - tools: [solver]
    configs: [fast]
    tasks: [named]
    limits: {walltime: 5m}
commands:
  unit-tests:
    command: [sh, -c, "make test"]
"#;

fn setup() -> tempfile::TempDir {
    let dir = job_dir(TASK_FILES);
    common::write_file(dir.path(), "job.yaml", JOB);
    std::fs::create_dir(dir.path().join("out")).unwrap();
    dir
}

fn stdout_of(dir: &std::path::Path, args: &[&str]) -> String {
    let output = cellrun_in(dir, args);
    assert_eq!(output.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn list_prints_every_run_id() {
    let dir = setup();
    let listed = stdout_of(dir.path(), &["check", "job.yaml", "--list"]);
    let ids: Vec<&str> = listed.lines().collect();
    assert_eq!(
        ids,
        [
            "solver.plain/php/cnf/php-3-2.cnf",
            "solver.plain/php/cnf/php-4-3.cnf",
            "solver.fast/php/cnf/php-3-2.cnf",
            "solver.fast/php/cnf/php-4-3.cnf",
            "solver.fast/named/cnf/php-3-2.cnf",
            "solver.fast/named/cnf/rand-sat.cnf",
            "unit-tests",
        ]
    );
}

#[test]
fn list_is_stable_across_invocations() {
    let dir = setup();
    let first = stdout_of(dir.path(), &["check", "job.yaml", "--list"]);
    let second = stdout_of(dir.path(), &["check", "job.yaml", "--list"]);
    assert_eq!(first, second);
}

#[test]
fn summary_counts_and_first_run() {
    let dir = setup();
    let summary = stdout_of(dir.path(), &["check", "job.yaml"]);
    assert!(summary.contains("is valid: 7 runs"), "{summary}");
    assert!(summary.contains("2  solver.plain / php"), "{summary}");
    assert!(summary.contains("1  unit-tests (command)"), "{summary}");
    assert!(summary.contains("first run: solver.plain/php/cnf/php-3-2.cnf"), "{summary}");
    assert!(summary.contains("memory       1 GiB"), "{summary}");
    assert!(summary.contains("cputime      20s"), "{summary}");
    assert!(summary.contains("walltime     50s (cputime + 30s)"), "{summary}");
    assert!(summary.contains("full_access  "), "{summary}");
    assert!(summary.contains("expected:     unsat"), "{summary}");
}

fn plan_json(dir: &std::path::Path) -> Value {
    serde_json::from_str(&stdout_of(dir, &["check", "job.yaml", "--json"])).unwrap()
}

fn run_by_id<'a>(plan: &'a Value, id: &str) -> &'a Value {
    plan["runs"].as_array().unwrap().iter().find(|run| run["id"] == id).unwrap_or_else(|| panic!("no run {id}"))
}

#[test]
fn json_merges_levels_narrow_over_broad() {
    let dir = setup();
    let plan = plan_json(dir.path());
    let plain = &run_by_id(&plan, "solver.plain/php/cnf/php-3-2.cnf")["settings"]["limits"];
    assert_eq!(plain["memory"], 1u64 << 30);
    assert_eq!(plain["cores"], 2);
    let fast = &run_by_id(&plan, "solver.fast/named/cnf/rand-sat.cnf")["settings"]["limits"];
    assert_eq!(fast["memory"], 2u64 << 30);
    assert_eq!(fast["walltime"]["secs"], 300);
}

#[test]
fn json_renders_placeholders_and_options() {
    let dir = setup();
    let plan = plan_json(dir.path());
    let run = run_by_id(&plan, "solver.fast/php/cnf/php-4-3.cnf");
    let command: Vec<&str> = run["command"].as_array().unwrap().iter().map(|word| word.as_str().unwrap()).collect();
    assert_eq!(command[0], "bin/solver");
    assert!(command[1].starts_with('/'), "{command:?}");
    assert!(command[1].ends_with("/cnf/php-4-3.cnf"), "{command:?}");
    assert_eq!(command[2], "--id=solver.fast/php/cnf/php-4-3.cnf");
    assert_eq!(command[3], "--fast");
    assert_eq!(run["verdict"]["exit_codes"]["20"], "unsat");
}

#[test]
fn json_expected_answers_from_names() {
    let dir = setup();
    let plan = plan_json(dir.path());
    assert_eq!(run_by_id(&plan, "solver.fast/named/cnf/rand-sat.cnf")["expected"], "sat");
    assert_eq!(run_by_id(&plan, "solver.fast/named/cnf/php-3-2.cnf")["expected"], "unsat");
    assert_eq!(run_by_id(&plan, "unit-tests")["expected"], Value::Null);
}

#[test]
fn json_dirs_resolved_absolute() {
    let dir = setup();
    let plan = plan_json(dir.path());
    let modes = &run_by_id(&plan, "unit-tests")["settings"]["dirs"]["modes"];
    let out = std::fs::canonicalize(dir.path()).unwrap().join("out");
    let found = modes.as_object().unwrap().iter().any(|(path, mode)| {
        std::fs::canonicalize(path).is_ok_and(|path| path == out) && mode == "full_access"
    });
    assert!(found, "{modes}");
    assert_eq!(modes["/tmp"], "hidden");
}

const TASKDEF: &str = "format_version: '2.0'\ninput_files: 'a.c'\nproperties:\n  - property_file: ../props/unreach-call.prp\n    expected_verdict: false\n    subproperty: unreach-call\n  - property_file: ../props/termination.prp\n    expected_verdict: true\n";

#[test]
fn taskdefs_select_property_and_expected_verdict() {
    let dir = job_dir(&[
        ("sv/a.c", "int main() {}\n"),
        ("sv/a.yml", TASKDEF),
        ("sv/b.c", "int main() {}\n"),
        ("sv/b.yml", "format_version: '2.0'\ninput_files: 'b.c'\nproperties:\n  - property_file: ../props/termination.prp\n    expected_verdict: true\n"),
        ("props/unreach-call.prp", "CHECK\n"),
        ("bin/verifier", "#!/bin/sh\n"),
        (
            "job.yaml",
            "tools:\n  v:\n    command: [bin/verifier, --spec, \"{property}\", \"{inputs}\"]\ntasks:\n  sv:\n    taskdefs: [\"sv/*.yml\"]\n    property: unreach-call.prp\n",
        ),
    ]);
    let plan: Value = serde_json::from_str(&stdout_of(dir.path(), &["check", "job.yaml", "--json"])).unwrap();
    let runs = plan["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "b.yml lacks the property and is skipped");
    assert_eq!(runs[0]["id"], "v/sv/sv/a.yml");
    assert_eq!(runs[0]["expected"], "false(unreach-call)");
    assert!(runs[0]["command"][2].as_str().unwrap().ends_with("/props/unreach-call.prp"));
    assert!(runs[0]["command"][3].as_str().unwrap().ends_with("/sv/a.c"));
}

#[test]
fn set_file_lists_patterns() {
    let dir = job_dir(TASK_FILES);
    common::write_file(dir.path(), "lists/php.set", "# pigeonhole\n\n../cnf/php-3-*.cnf\n");
    common::write_file(dir.path(), "job.yaml", "tools:\n  s:\n    command: [bin/solver]\ntasks:\n  php:\n    files_from: lists/php.set\n");
    assert_eq!(stdout_of(dir.path(), &["check", "job.yaml", "--list"]), "s/php/cnf/php-3-2.cnf\n");
}

#[test]
fn missing_job_file_is_invalid() {
    let dir = job_dir(&[]);
    let output = cellrun_in(dir.path(), &["check", "absent.yaml"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot read `absent.yaml`"));
}

#[test]
fn bundled_specs_pass_check() {
    let specs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("specs");
    let mut checked = 0;
    for entry in std::fs::read_dir(&specs).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|ext| ext == "yaml") {
            let output = cellrun_in(&specs, &["check", path.to_str().unwrap()]);
            assert_eq!(output.status.code(), Some(0), "{}: {}", path.display(), String::from_utf8_lossy(&output.stderr));
            checked += 1;
        }
    }
    assert!(checked > 0, "no job files in specs/");
}

#[test]
fn summary_lists_mount_steps_in_order() {
    let dir = setup();
    let summary = stdout_of(dir.path(), &["check", "job.yaml"]);
    let steps: Vec<&str> = summary
        .lines()
        .skip_while(|line| !line.contains("mount steps on this host"))
        .skip(1)
        .take_while(|line| line.trim_start().chars().next().is_some_and(|c| c.is_ascii_digit()))
        .collect();
    assert!(steps.first().is_some_and(|step| step.contains("tmpfs for the writable layers")), "{summary}");
    let overlay_root = steps.iter().position(|step| step.contains("overlay /:")).expect("overlay of /");
    let hidden_tmp = steps.iter().position(|step| step.contains("hidden /tmp")).expect("hidden /tmp");
    let proc = steps.iter().position(|step| step.contains("fresh /proc")).expect("fresh /proc");
    assert!(overlay_root < hidden_tmp, "{summary}");
    assert!(hidden_tmp < proc, "{summary}");
}

#[test]
fn every_unknown_key_reported_at_once() {
    let dir = job_dir(TASK_FILES);
    let job = "nme: x\ndefaults:\n  limit: {memory: 1 GiB}\n  dirs: {readonly: [/]}\ncommands:\n  a:\n    comand: [true]\n";
    common::write_file(dir.path(), "job.yaml", job);
    let output = cellrun_in(dir.path(), &["check", "job.yaml"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2));
    for (key, place) in [("nme", "job.yaml:1:1"), ("limit", "job.yaml:3:3"), ("readonly", "job.yaml:4:10"), ("comand", "job.yaml:7:5")] {
        assert!(stderr.contains(&format!("unknown key `{key}`")), "{key} missing: {stderr}");
        assert!(stderr.contains(place), "{place} missing: {stderr}");
    }
    assert!(stderr.contains("4 errors found"), "{stderr}");
}

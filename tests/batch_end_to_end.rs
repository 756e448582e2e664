//! `cellrun run` through the binary with real containers: cores per slot and odd characters.

mod common;

use std::path::Path;
use std::process::Command;

use common::{require_root, test_dir};

fn run_batch(dir: &Path, envs: &[(&str, &str)]) -> std::process::Output {
    let mut command = common::cellrun();
    command.current_dir(dir).args(["run", "job.yaml", "--quiet", "--output", "out"]);
    for (name, value) in envs {
        command.env(name, value);
    }
    command.output().unwrap()
}

/// Parses `out/summary.csv` with Python's csv module; returns the rows, header first.
fn python_rows(dir: &Path) -> Vec<Vec<String>> {
    let script = "import csv, json, sys\nprint(json.dumps(list(csv.reader(open(sys.argv[1], newline='', encoding='utf-8')))))";
    let output = Command::new("python3").args(["-c", script]).arg(dir.join("out/summary.csv")).env("LANG", "C").output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn parallel_slots_get_disjoint_cores() {
    if !require_root() {
        return;
    }
    let dir = test_dir("disjoint-cores");
    let job = "parallel: 2\ndefaults:\n  limits: {cores: 1}\ncommands:\n  \
               first:\n    command: [sh, -c, 'grep Cpus_allowed_list /proc/self/status; sleep 1']\n  \
               second:\n    command: [sh, -c, 'grep Cpus_allowed_list /proc/self/status; sleep 1']\n";
    std::fs::write(dir.join("job.yaml"), job).unwrap();
    let output = run_batch(&dir, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));

    let rows = python_rows(&dir);
    let header = &rows[0];
    let cores = header.iter().position(|name| name == "cores").unwrap();
    let log = header.iter().position(|name| name == "log").unwrap();
    assert_eq!(rows.len(), 3);
    assert_ne!(rows[1][cores], rows[2][cores], "both runs got the same core");
    for row in &rows[1..] {
        let text = std::fs::read_to_string(dir.join("out").join(&row[log])).unwrap();
        assert!(text.contains(&format!("Cpus_allowed_list:\t{}", row[cores])), "{text}");
    }
}

#[test]
fn c14_odd_characters_survive_real_runs() {
    if !require_root() {
        return;
    }
    let dir = test_dir("c14-real");
    std::fs::create_dir(dir.join("inputs")).unwrap();
    let names = ["comma,quote\"name.txt", "semi;colon and space.txt", "é-ü-日本.txt", "plain.txt"];
    for name in names {
        std::fs::write(dir.join("inputs").join(name), "x").unwrap();
    }
    let job = "tools:\n  printer:\n    command: [sh, -c, \"printf 'caf\\\\303\\\\251 \\\\377\\\\376;,\\\"\\\\n'; echo \\\"$WEIRD\\\"\", sh, \"{input}\"]\n    \
               verdict:\n      columns:\n        said: '^(caf.*)$'\n\
               defaults:\n  env: {inherit: [PATH, WEIRD]}\n\
               tasks:\n  odd:\n    files: ['inputs/*']\n";
    std::fs::write(dir.join("job.yaml"), job).unwrap();
    let output = run_batch(&dir, &[("LANG", "C"), ("LC_ALL", "C"), ("WEIRD", "\x1b[31mred\x01")]);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));

    let rows = python_rows(&dir);
    assert_eq!(rows.len(), 1 + names.len(), "{rows:?}");
    assert!(rows.iter().all(|row| row.len() == rows[0].len()), "rows differ in length");
    let task = rows[0].iter().position(|name| name == "task").unwrap();
    let tasks: Vec<&str> = rows[1..].iter().map(|row| row[task].as_str()).collect();
    for name in names {
        assert!(tasks.contains(&format!("inputs/{name}").as_str()), "{tasks:?}");
    }
    let said = rows[0].iter().position(|name| name == "said").unwrap();
    assert!(rows[1..].iter().all(|row| row[said].starts_with("café \\xFF\\xFE;,\"")), "{rows:?}");
}

#[test]
fn c14_newline_in_task_name_rejected() {
    if !require_root() {
        return;
    }
    let dir = test_dir("c14-newline");
    std::fs::create_dir(dir.join("inputs")).unwrap();
    std::fs::write(dir.join("inputs").join("new\nline.txt"), "x").unwrap();
    std::fs::write(dir.join("job.yaml"), "tools:\n  cat:\n    command: [cat, '{input}']\ntasks:\n  odd:\n    files: ['inputs/*']\n").unwrap();
    let output = run_batch(&dir, &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr.contains("control characters"), "{stderr}");
    assert!(stderr.contains("job.yaml:"), "{stderr}");
}

#[test]
fn c13_skipped_result_files_noted_in_journal() {
    if !require_root() {
        return;
    }
    let dir = test_dir("c13-notes");
    let job = "defaults:\n  result_files: ['out/*']\ncommands:\n  fifo:\n    command: [sh, -c, 'mkdir out; mkfifo out/pipe; echo ok > out/good.txt']\n";
    std::fs::write(dir.join("job.yaml"), job).unwrap();
    let output = run_batch(&dir, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));

    let journal = std::fs::read_to_string(dir.join("out/runs.jsonl")).unwrap();
    let record: serde_json::Value = serde_json::from_str(journal.lines().next().unwrap()).unwrap();
    assert_eq!(record["files"], 1);
    let notes = record["notes"].as_array().expect("a notes list");
    assert!(notes.iter().any(|note| note.as_str().unwrap().contains("out/pipe not copied")), "{notes:?}");
    assert!(dir.join("out/files/fifo/out/good.txt").is_file());
}

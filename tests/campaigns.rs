//! The example campaigns in `specs/`, run end to end through `cellrun run` with real
//! containers and real tools, on a copy of `specs/` so the repository stays untouched.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{require_root, test_dir};

/// Copies `specs/` and `scripts/` into a fresh directory and returns the copy of `specs/`.
fn copy_specs(name: &str) -> PathBuf {
    let dir = test_dir(name);
    let repository = Path::new(env!("CARGO_MANIFEST_DIR"));
    for folder in ["specs", "scripts"] {
        let status = Command::new("cp").arg("-a").arg(repository.join(folder)).arg(&dir).status().unwrap();
        assert!(status.success());
    }
    let _ = std::fs::remove_dir_all(dir.join("specs/ci-output"));
    std::fs::create_dir(dir.join("specs/ci-output")).unwrap();
    dir.join("specs")
}

/// Runs `cellrun run JOB --output OUT --quiet` in `specs`; returns the exit status and stderr.
fn run_job(specs: &Path, job: &str, output: &Path) -> (Option<i32>, String) {
    let result = common::cellrun().current_dir(specs).args(["run", job, "--quiet", "--output"]).arg(output).output().unwrap();
    (result.status.code(), String::from_utf8_lossy(&result.stderr).into_owned())
}

/// Reads `summary.csv` with Python's csv module, as a user's script would; returns the
/// header and the rows.
fn read_summary_with_python(output: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let script = "import csv, json, sys\nrows = list(csv.reader(open(sys.argv[1], newline='', encoding='utf-8')))\nprint(json.dumps(rows))";
    let result = Command::new("python3").args(["-c", script]).arg(output.join("summary.csv")).output().unwrap();
    assert!(result.status.success(), "{}", String::from_utf8_lossy(&result.stderr));
    let mut rows: Vec<Vec<String>> = serde_json::from_slice(&result.stdout).unwrap();
    let header = rows.remove(0);
    (header, rows)
}

fn column(header: &[String], name: &str) -> usize {
    header.iter().position(|column| column == name).unwrap_or_else(|| panic!("no column {name} in {header:?}"))
}

#[test]
fn quickstart_compresses_and_round_trips() {
    if !require_root() {
        return;
    }
    let specs = copy_specs("campaign-quickstart");
    let output = specs.join("../results");
    let (status, stderr) = run_job(&specs, "quickstart.yaml", &output);
    assert_eq!(status, Some(0), "{stderr}");

    let (header, rows) = read_summary_with_python(&output);
    assert_eq!(rows.len(), 24);
    let (category, files) = (column(&header, "category"), column(&header, "files"));
    let bytes = column(&header, "compressed_bytes");
    for row in &rows {
        assert_eq!(row[category], "correct", "{row:?}");
        assert_eq!(row[files], "1", "{row:?}");
        assert!(row[bytes].parse::<u64>().unwrap() > 0, "{row:?}");
    }

    let report = common::cellrun().arg("report").arg(&output).args(["--format", "markdown"]).output().unwrap();
    let table = String::from_utf8_lossy(&report.stdout);
    assert!(report.status.success());
    assert!(table.contains("| gzip"), "{table}");
    assert!(table.contains("| xz"), "{table}");
}

#[test]
fn sat_solvers_are_never_wrong() {
    if !require_root() {
        return;
    }
    for solver in ["minisat", "picosat", "cadical"] {
        let found = Command::new("sh").args(["-c", &format!("command -v {solver}")]).output().unwrap();
        assert!(found.status.success(), "{solver} is missing: run scripts/install-campaign-deps.sh first");
    }
    let specs = copy_specs("campaign-sat");
    let output = specs.join("../results");
    let (status, stderr) = run_job(&specs, "sat-solvers.yaml", &output);
    assert_eq!(status, Some(0), "fail_on: [wrong] must not trigger: {stderr}");

    let (header, rows) = read_summary_with_python(&output);
    assert_eq!(rows.len(), 60);
    let (category, status_column, reason) = (column(&header, "category"), column(&header, "status"), column(&header, "termination_reason"));
    let mut correct = 0;
    let mut timeouts = 0;
    for row in &rows {
        match row[category].as_str() {
            "correct" => correct += 1,
            "error" if row[status_column] == "timeout" && row[reason] == "cputime" => timeouts += 1,
            other => panic!("unexpected category {other} in {row:?}"),
        }
    }
    assert!(correct >= 40, "{correct} correct runs");
    assert!(timeouts >= 1, "the campaign is sized so that some runs time out");
}

#[test]
fn ci_commands_keep_full_access_artifacts() {
    if !require_root() {
        return;
    }
    let specs = copy_specs("campaign-ci");
    let output = specs.join("../results");
    let (status, stderr) = run_job(&specs, "ci-commands.yaml", &output);
    assert_eq!(status, Some(0), "{stderr}");
    assert!(specs.join("ci-output/checksums.txt").is_file());
    assert!(specs.join("ci-output/quickstart-data.tar.gz").is_file());

    let (header, rows) = read_summary_with_python(&output);
    let (id, category) = (column(&header, "run_id"), column(&header, "category"));
    let verify = rows.iter().find(|row| row[id] == "verify-data").unwrap();
    assert_eq!(verify[category], "correct");
    assert_eq!(verify[column(&header, "files_checked")], "4");

    std::fs::write(specs.join("data/quickstart/apache-2.0.txt"), "changed\n").unwrap();
    let (status, _) = run_job(&specs, "ci-commands.yaml", &specs.join("../results-changed"));
    assert_eq!(status, Some(1), "a wrong answer must fail the CI job");
}

//! A fake executor and plan builders for batch tests through the library API.
//!
//! The fake replaces containers only where the tests check scheduling logic: order,
//! core sets, journal, summary and resume. Its commands:
//! - `print TEXT`: writes TEXT to the log and exits 0;
//! - `print-hex HEX`: writes the bytes HEX names and exits 0;
//! - `exit N`: exits with code N;
//! - `sleep MS`: sleeps MS milliseconds, or until cancelled;
//! - `env`: writes the run's environment to the log.

#![allow(dead_code)]

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cellrun::plan::{EnvSettings, Plan, PlannedRun, RunSettings};
use cellrun::results::RunRecord;
use cellrun::sandbox::{ExitStatus, RunOutcome, RunRequest, TerminationReason};
use cellrun::schedule::{BatchOptions, Executor, Interrupt, Resources};

/// One execution seen by the fake: the run, its CPUs and when it ran.
#[derive(Clone, Debug)]
pub struct Execution {
    pub run_id: String,
    pub cpus: Vec<usize>,
    pub start: Instant,
    pub end: Instant,
}

pub struct FakeExecutor {
    pub resources: Resources,
    pub executions: Mutex<Vec<Execution>>,
    /// Triggers this interrupt once this many `sleep` runs run at once.
    pub interrupt_at_sleepers: Option<(usize, Interrupt)>,
    /// Makes every `sleep` run take at most this long.
    pub max_sleep: Option<Duration>,
    /// Called at the start of every execution, to change the result directory mid-batch.
    pub before_run: Option<Box<dyn Fn(&RunRequest) + Sync>>,
    sleepers: AtomicUsize,
}

impl FakeExecutor {
    pub fn new(cpus: usize) -> FakeExecutor {
        FakeExecutor {
            resources: Resources { cpus: (0..cpus).collect(), memory_nodes: vec![0], memory_bytes: 64 << 30 },
            executions: Mutex::new(Vec::new()),
            interrupt_at_sleepers: None,
            max_sleep: None,
            before_run: None,
            sleepers: AtomicUsize::new(0),
        }
    }

    /// Counts how often each run id was executed.
    pub fn counts(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for execution in self.executions.lock().unwrap().iter() {
            *counts.entry(execution.run_id.clone()).or_insert(0) += 1;
        }
        counts
    }

    fn sleep(&self, millis: u64, cancel: &AtomicBool) -> bool {
        let sleepers = self.sleepers.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some((count, interrupt)) = &self.interrupt_at_sleepers
            && sleepers >= *count
        {
            interrupt.trigger();
        }
        let mut duration = Duration::from_millis(millis);
        if let Some(max) = self.max_sleep {
            duration = duration.min(max);
        }
        let deadline = Instant::now() + duration;
        let mut cancelled = false;
        while Instant::now() < deadline {
            if cancel.load(Ordering::SeqCst) {
                cancelled = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        self.sleepers.fetch_sub(1, Ordering::SeqCst);
        cancelled
    }
}

impl Executor for FakeExecutor {
    fn execute(&self, request: &RunRequest, cancel: &AtomicBool) -> RunOutcome {
        if let Some(hook) = &self.before_run {
            hook(request);
        }
        let start = Instant::now();
        let started_at = jiff::Timestamp::now();
        let command: Vec<String> = request.command.iter().map(|part| part.to_string_lossy().into_owned()).collect();
        let mut output: Vec<u8> = Vec::new();
        let mut exit = ExitStatus::Exited(0);
        let mut termination = None;

        match command.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
            ["print", text] => output.extend_from_slice(text.as_bytes()),
            ["print-hex", hex] => output.extend(decode_hex(hex)),
            ["exit", code] => exit = ExitStatus::Exited(code.parse().unwrap()),
            ["sleep", millis] => {
                if self.sleep(millis.parse().unwrap(), cancel) {
                    exit = ExitStatus::Signaled(9);
                    termination = Some(TerminationReason::Killed);
                }
            }
            ["env"] => {
                for (name, value) in &request.env {
                    output.extend_from_slice(name.as_encoded_bytes());
                    output.push(b'=');
                    output.extend_from_slice(value.as_encoded_bytes());
                    output.push(b'\n');
                }
            }
            other => panic!("the fake executor has no command {other:?}"),
        }

        let mut log = std::fs::File::create(&request.log_path).unwrap();
        writeln!(log, "command: {:?}", request.command).unwrap();
        log.write_all(&output).unwrap();

        let end = Instant::now();
        self.executions.lock().unwrap().push(Execution {
            run_id: request.run_id.clone(),
            cpus: request.cpus.clone().unwrap_or_default(),
            start,
            end,
        });

        RunOutcome {
            started_at,
            exit: Some(exit),
            termination,
            failure: None,
            cputime: Duration::from_micros(1500),
            cputime_per_cpu: Vec::new(),
            walltime: end - start,
            memory_peak: Some(4096),
            output_truncated: false,
            result_files: Vec::new(),
            skipped_files: Vec::new(),
        }
    }

    fn resources(&self) -> Resources {
        self.resources.clone()
    }
}

fn decode_hex(hex: &str) -> Vec<u8> {
    (0..hex.len()).step_by(2).map(|at| u8::from_str_radix(&hex[at..at + 2], 16).unwrap()).collect()
}

/// A job file on disk and the plan it stands for.
pub struct Job {
    pub dir: tempfile::TempDir,
    pub plan: Plan,
    pub bytes: Vec<u8>,
}

impl Job {
    pub fn output(&self) -> PathBuf {
        self.dir.path().join("out")
    }
}

/// Settings for every test run: no limits except `cores`, and `env` as given.
pub fn settings(cores: Option<u32>, env: EnvSettings) -> Arc<RunSettings> {
    let mut settings = RunSettings {
        limits: Default::default(),
        dirs: Default::default(),
        network: false,
        env,
        workdir: "/".into(),
        result_files: Vec::new(),
        accept_unenforced_limits: false,
    };
    settings.limits.cores = cores;
    Arc::new(settings)
}

/// Builds a plan of plain commands, `(id, command)`, all with `settings`.
pub fn job(runs: &[(&str, &[&str])], settings: Arc<RunSettings>) -> Job {
    let dir = tempfile::tempdir().unwrap();
    let bytes = format!("# a job with {} runs\n", runs.len()).into_bytes();
    let job_file = dir.path().join("job.yaml");
    std::fs::write(&job_file, &bytes).unwrap();

    let runs = runs
        .iter()
        .map(|(id, command)| PlannedRun {
            id: id.to_string(),
            tool: id.split('/').next().unwrap().to_string(),
            config: String::new(),
            task_set: String::new(),
            task: String::new(),
            command: command.iter().map(|part| part.to_string()).collect(),
            expected: None,
            property: None,
            settings: Arc::clone(&settings),
            verdict: None,
        })
        .collect();
    let plan = Plan {
        name: "test".into(),
        job_file,
        job_dir: dir.path().to_path_buf(),
        parallel: None,
        fail_on: Vec::new(),
        tools: Vec::new(),
        runs,
    };
    Job { dir, plan, bytes }
}

/// Options for a new batch writing to `output`, with no progress display.
pub fn options(output: &Path, parallel: Option<usize>) -> BatchOptions {
    BatchOptions {
        output: Some(output.to_path_buf()),
        resume: None,
        force_resume: false,
        parallel,
        filter: None,
        progress: cellrun::report::progress::ProgressMode::Quiet,
        cgroup_version: None,
    }
}

/// Options to resume the batch in `dir`.
pub fn resume_options(dir: &Path, parallel: Option<usize>) -> BatchOptions {
    BatchOptions { output: None, resume: Some(dir.to_path_buf()), ..options(dir, parallel) }
}

/// Parses `summary.csv` with Python's csv module under `LANG=C` and returns its rows,
/// header first.
pub fn python_rows(summary: &Path) -> Vec<Vec<String>> {
    let script = "import csv, json, sys\n\
                  with open(sys.argv[1], newline='') as f:\n    \
                  print(json.dumps(list(csv.reader(f))))";
    let output = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(summary)
        .env("LANG", "C")
        .env("LC_ALL", "C")
        .output()
        .expect("python3 runs");
    assert!(output.status.success(), "python csv failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Reads the records of the journal `runs.jsonl` in `dir`.
pub fn journal(dir: &Path) -> Vec<RunRecord> {
    cellrun::results::journal::read(&dir.join("runs.jsonl")).unwrap().records
}

pub fn os(text: &str) -> OsString {
    OsString::from(text)
}

//! One run of a slot: from the planned run to the request, and from the outcome to the record.

use std::ffi::OsString;
use std::io::Read;
use std::path::Path;
use std::sync::atomic::AtomicBool;

use super::topology::{SlotCpus, format_cpus};
use super::Executor;
use crate::plan::PlannedRun;
use crate::results::{ResultDir, RunRecord};
use crate::sandbox::{ExitStatus, RunOutcome, RunRequest};
use crate::verdict::{self, Judgement};

/// Most bytes of a log read for judging when the run has no output limit.
const DEFAULT_OUTPUT_READ: u64 = 64 << 20;

/// Room for the log header that names the command line, on top of the output limit.
const LOG_HEADER_ALLOWANCE: u64 = 64 << 10;

/// Executes `run` on the CPUs `slot`, judges it and returns its record.
pub fn execute(run: &PlannedRun, slot: &SlotCpus, executor: &dyn Executor, dir: &ResultDir, cancel: &AtomicBool) -> RunRecord {
    let started_at = jiff::Timestamp::now();
    let cpus = cpus_for(run, slot);

    let (outcome, log) = match dir.prepare_run(&run.id) {
        Ok((log, files)) => {
            let request = build_request(run, &log, &files, &cpus, slot);
            (execute_guarded(executor, &request, cancel, started_at), Some(log))
        }
        Err(error) => (RunOutcome::failed(started_at, error.to_string()), None),
    };

    let output = log.as_deref().map(|log| read_output(log, run)).unwrap_or_default();
    let judgement = verdict::judge(run.verdict.as_deref(), &outcome, &output, run.expected.as_deref());
    let log_relative = crate::results::paths::log_path(&run.id);
    build_record(run, &outcome, judgement, &cpus, &log_relative)
}

/// Calls the executor, turning a panic into a failed run so that one bad run cannot end the
/// batch and lose the summary.
fn execute_guarded(executor: &dyn Executor, request: &RunRequest, cancel: &AtomicBool, started_at: jiff::Timestamp) -> RunOutcome {
    let call = std::panic::AssertUnwindSafe(|| executor.execute(request, cancel));
    std::panic::catch_unwind(call).unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<&str>()
            .map(|text| text.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string());
        RunOutcome::failed(started_at, format!("the executor panicked: {message}"))
    })
}

/// Selects the CPUs of `slot` that `run` uses: as many as its `cores` limit, or all.
fn cpus_for(run: &PlannedRun, slot: &SlotCpus) -> Vec<usize> {
    match run.settings.limits.cores {
        Some(cores) => slot.cpus.iter().copied().take(cores as usize).collect(),
        None => slot.cpus.clone(),
    }
}

fn build_request(run: &PlannedRun, log: &Path, files: &Path, cpus: &[usize], slot: &SlotCpus) -> RunRequest {
    let settings = &run.settings;
    RunRequest {
        run_id: run.id.clone(),
        command: run.command.iter().map(OsString::from).collect(),
        env: settings.env.resolve(|name| std::env::var_os(name)),
        workdir: settings.workdir.clone(),
        stdin: None,
        limits: settings.limits.clone(),
        dirs: settings.dirs.clone(),
        network: settings.network,
        result_patterns: settings.result_files.clone(),
        result_dir: Some(files.to_path_buf()),
        log_path: log.to_path_buf(),
        cpus: Some(cpus.to_vec()),
        memory_nodes: Some(slot.memory_nodes.clone()),
        allow_unenforced_limits: run.settings.accept_unenforced_limits,
    }
}

/// Reads the log for judging: at most the output limit plus room for the header.
fn read_output(log: &Path, run: &PlannedRun) -> Vec<u8> {
    let limit = run.settings.limits.output.map_or(DEFAULT_OUTPUT_READ, |bytes| bytes.0) + LOG_HEADER_ALLOWANCE;
    let mut output = Vec::new();
    if let Ok(file) = std::fs::File::open(log) {
        let _ = file.take(limit).read_to_end(&mut output);
    }
    output
}

/// Joins the planned run, its outcome and its judgement into the stored record.
pub fn build_record(run: &PlannedRun, outcome: &RunOutcome, judgement: Judgement, cpus: &[usize], log: &Path) -> RunRecord {
    let (exit_code, exit_signal) = match outcome.exit {
        Some(ExitStatus::Exited(code)) => (Some(code), None),
        Some(ExitStatus::Signaled(signal)) => (None, Some(signal)),
        None => (None, None),
    };
    RunRecord {
        run_id: run.id.clone(),
        tool: run.tool.clone(),
        config: run.config.clone(),
        task_set: run.task_set.clone(),
        task: run.task.clone(),
        status: judgement.status,
        category: judgement.category,
        expected: run.expected.clone(),
        exit_code,
        exit_signal,
        termination_reason: outcome.termination.map(|reason| reason.name().to_string()),
        cputime_s: outcome.cputime.as_secs_f64(),
        walltime_s: outcome.walltime.as_secs_f64(),
        memory_bytes: outcome.memory_peak,
        cores: format_cpus(cpus),
        started_at: outcome.started_at.to_string(),
        log: log.to_string_lossy().into_owned(),
        files: outcome.result_files.len(),
        failure: outcome.failure.clone(),
        output_truncated: outcome.output_truncated,
        columns: judgement.columns,
        notes: skipped_file_notes(outcome),
    }
}

/// One note per result file that matched a pattern but was not copied.
fn skipped_file_notes(outcome: &RunOutcome) -> Vec<String> {
    outcome
        .skipped_files
        .iter()
        .map(|file| format!("result file {} not copied: {}", crate::sandbox::path_text::escape_path(&file.path), file.reason))
        .collect()
}

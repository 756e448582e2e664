//! `cellrun exec`: one isolated run from the command line, a drop-in for BenchExec's `runexec`.
//!
//! The option names, units and `key=value` output lines follow `runexec`, so scripts switch by
//! changing the program name. Unlike `runexec`, the exit status tells whether the run could be
//! executed: 0 when the tool ran (whatever its own exit code), 1 when the container could not
//! be set up or the tool could not be started, 2 for invalid options.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use clap::Args;

use crate::container::dirmode::{DirMode, DirModes};
use crate::limits::Limits;
use crate::sandbox::{ExitStatus, RunOutcome, RunRequest, Sandbox};
use crate::units::{parse_duration, Bytes};

/// Options of `cellrun exec`.
#[derive(Debug, Args)]
#[command(after_help = "Exit status: 0 when the tool ran (its own exit code is printed as returnvalue), \
1 when the container could not be set up or the tool not started, 2 for invalid options.")]
pub struct ExecArgs {
    /// Memory limit, including swap and files the run writes to its writable layers
    /// (for example `100MB`, `1GiB`; a bare number means bytes).
    #[arg(long = "memlimit", value_parser = parse_bytes)]
    memlimit: Option<Bytes>,
    /// Hard CPU-time limit (for example `60`, `1.5s`, `1m30s`; a bare number means seconds).
    #[arg(long = "timelimit", value_parser = parse_seconds)]
    timelimit: Option<Duration>,
    /// Soft CPU-time limit: the run gets SIGTERM when it is reached.
    #[arg(long = "softtimelimit", value_parser = parse_seconds)]
    softtimelimit: Option<Duration>,
    /// Wall-time limit; default: the CPU-time limit plus 30 s when one is set.
    #[arg(long = "walltimelimit", value_parser = parse_seconds)]
    walltimelimit: Option<Duration>,
    /// CPU cores the run may use, as a list such as `0,1` or `0-3`.
    #[arg(long = "cores", value_parser = parse_cpu_list)]
    cores: Option<CpuList>,
    /// Memory nodes the run may use, as a list such as `0` or `0-1`.
    #[arg(long = "memoryNodes", value_parser = parse_cpu_list)]
    memory_nodes: Option<CpuList>,
    /// Maximum number of processes and threads of the run.
    #[arg(long = "processes")]
    processes: Option<u64>,
    /// File for the tool's standard input; default: /dev/null.
    #[arg(long = "input")]
    input: Option<PathBuf>,
    /// File for the tool's output, after a header naming the command.
    #[arg(long = "output", default_value = "output.log")]
    output: PathBuf,
    /// Maximum size of the stored output; the middle is dropped beyond it (for example `20MB`).
    #[arg(long = "maxOutputSize", value_parser = parse_bytes)]
    max_output_size: Option<Bytes>,
    /// Directory to show empty and writable inside the container (repeatable).
    #[arg(long = "hidden-dir")]
    hidden_dir: Vec<PathBuf>,
    /// Directory to show read-only inside the container (repeatable).
    #[arg(long = "read-only-dir")]
    read_only_dir: Vec<PathBuf>,
    /// Directory to show writable, with writes kept in the container (repeatable).
    #[arg(long = "overlay-dir")]
    overlay_dir: Vec<PathBuf>,
    /// Directory to share with the host, writes included (repeatable).
    #[arg(long = "full-access-dir")]
    full_access_dir: Vec<PathBuf>,
    /// Pattern of result files to copy out of the writable layers, relative to the working
    /// directory (repeatable). Nothing is copied without it.
    #[arg(long = "result-files")]
    result_files: Vec<String>,
    /// Where result files are copied.
    #[arg(long = "output-directory", default_value = "output.files")]
    output_directory: PathBuf,
    /// Let the run use the host's network; otherwise it sees only its own loopback.
    #[arg(long = "network-access")]
    network_access: bool,
    /// Working directory of the tool; default: the current directory.
    #[arg(long = "dir")]
    dir: Option<PathBuf>,
    /// Run even when cellrun has no cgroup to enforce the memory, CPU-time, core and process
    /// limits (rootless without a delegated cgroup); the limits are then not enforced.
    #[arg(long = "allow-unenforced-limits")]
    allow_unenforced_limits: bool,
    /// Print the measurements as one JSON object instead of `key=value` lines.
    #[arg(long = "json")]
    json: bool,
    /// The command to run and its arguments.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true, value_name = "COMMAND")]
    command: Vec<OsString>,
}

fn parse_bytes(text: &str) -> Result<Bytes, String> {
    Bytes::parse_or_bytes(text).map_err(|error| error.to_string())
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    if let Ok(seconds) = text.trim().parse::<f64>() {
        return Duration::try_from_secs_f64(seconds).map_err(|_| format!("invalid number of seconds `{text}`"));
    }
    parse_duration(text).map_err(|error| error.to_string())
}

/// CPU or memory-node numbers given on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuList(pub Vec<usize>);

/// Parses a CPU or node list such as `0-3,8,10-11`.
pub fn parse_cpu_list(text: &str) -> Result<CpuList, String> {
    let invalid = || format!("invalid list `{text}`: expected numbers and ranges such as `0-3,8`");
    let mut numbers = Vec::new();
    for part in text.split(',').map(str::trim).filter(|part| !part.is_empty()) {
        match part.split_once('-') {
            Some((first, last)) => {
                let first: usize = first.parse().map_err(|_| invalid())?;
                let last: usize = last.parse().map_err(|_| invalid())?;
                if first > last {
                    return Err(invalid());
                }
                numbers.extend(first..=last);
            }
            None => numbers.push(part.parse().map_err(|_| invalid())?),
        }
    }
    if numbers.is_empty() {
        return Err(invalid());
    }
    Ok(CpuList(numbers))
}

/// Runs the command and prints the measurements; returns the process exit status.
pub fn main(args: ExecArgs) -> i32 {
    let request = match build_request(&args) {
        Ok(request) => request,
        Err(message) => {
            eprintln!("cellrun exec: {message}");
            return 2;
        }
    };
    let sandbox = match Sandbox::new() {
        Ok(sandbox) => sandbox,
        Err(error) => {
            eprintln!("cellrun exec: {error}");
            return 1;
        }
    };
    let cancel = AtomicBool::new(false);
    let outcome = sandbox.execute(&request, &cancel);
    print_outcome(&outcome, args.json);
    match &outcome.failure {
        Some(message) => {
            eprintln!("cellrun exec: {message}");
            1
        }
        None => 0,
    }
}

fn build_request(args: &ExecArgs) -> Result<RunRequest, String> {
    let current = std::env::current_dir().map_err(|error| format!("cannot read the current directory: {error}"))?;
    let absolute = |path: &PathBuf| if path.is_absolute() { path.clone() } else { current.join(path) };

    let mut dirs = DirModes::default();
    let groups = [
        (&args.hidden_dir, DirMode::Hidden),
        (&args.read_only_dir, DirMode::ReadOnly),
        (&args.overlay_dir, DirMode::Overlay),
        (&args.full_access_dir, DirMode::FullAccess),
    ];
    for (paths, mode) in groups {
        for path in paths {
            let path = absolute(path);
            if !path.is_dir() {
                return Err(format!("the directory {} for --{}-dir does not exist", path.display(), mode.key().replace('_', "-")));
            }
            dirs.set(path, mode);
        }
    }

    let limits = Limits {
        memory: args.memlimit,
        cputime: args.timelimit,
        soft_cputime: args.softtimelimit,
        walltime: args.walltimelimit,
        cores: args.cores.as_ref().map(|cores| cores.0.len() as u32),
        processes: args.processes,
        output: args.max_output_size,
    };
    Ok(RunRequest {
        run_id: "exec".to_string(),
        command: args.command.clone(),
        env: std::env::vars_os().collect(),
        workdir: args.dir.as_ref().map(absolute).unwrap_or(current.clone()),
        stdin: args.input.as_ref().map(absolute),
        limits,
        dirs,
        network: args.network_access,
        result_patterns: args.result_files.clone(),
        result_dir: (!args.result_files.is_empty()).then(|| absolute(&args.output_directory)),
        log_path: absolute(&args.output),
        cpus: args.cores.as_ref().map(|cores| cores.0.clone()),
        memory_nodes: args.memory_nodes.as_ref().map(|nodes| nodes.0.clone()),
        allow_unenforced_limits: args.allow_unenforced_limits,
    })
}

fn print_outcome(outcome: &RunOutcome, json: bool) {
    let mut out = std::io::stdout().lock();
    if json {
        let _ = serde_json::to_writer(&mut out, outcome);
        let _ = writeln!(out);
        return;
    }
    let _ = writeln!(out, "starttime={}", outcome.started_at);
    match outcome.exit {
        Some(ExitStatus::Exited(code)) => {
            let _ = writeln!(out, "returnvalue={code}");
        }
        Some(ExitStatus::Signaled(signal)) => {
            let _ = writeln!(out, "exitsignal={signal}");
        }
        None => {}
    }
    if let Some(reason) = outcome.termination {
        let _ = writeln!(out, "terminationreason={reason}");
    }
    let _ = writeln!(out, "walltime={:.9}s", outcome.walltime.as_secs_f64());
    let _ = writeln!(out, "cputime={:.9}s", outcome.cputime.as_secs_f64());
    for (cpu, time) in &outcome.cputime_per_cpu {
        let _ = writeln!(out, "cputime-cpu{cpu}={:.9}s", time.as_secs_f64());
    }
    if let Some(memory) = outcome.memory_peak {
        let _ = writeln!(out, "memory={memory}B");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_list_ranges() {
        assert_eq!(parse_cpu_list("0-3,8,10-11"), Ok(CpuList(vec![0, 1, 2, 3, 8, 10, 11])));
        assert!(parse_cpu_list("3-1").is_err());
        assert!(parse_cpu_list("").is_err());
    }

    #[test]
    fn seconds_bare_or_with_unit() {
        assert_eq!(parse_seconds("60"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_seconds("1.5s"), Ok(Duration::from_millis(1500)));
        assert!(parse_seconds("soon").is_err());
    }
}

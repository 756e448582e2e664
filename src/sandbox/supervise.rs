//! The supervisor of one container: starts the helper, stores the output, enforces the time
//! limits and collects the measurements.
//!
//! CPU time is read from the run's cgroup. The supervisor does not poll at a fixed rate. It
//! sleeps until the earliest moment the limit could be reached, which is the remaining CPU
//! time divided by the number of CPUs the run may use. So the check comes close to the limit
//! without busy polling. The wait never exceeds [`MAX_WAIT`] so that a cancel request is seen quickly.

use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::output::LogWriter;
use super::{ExitStatus, RunOutcome, RunRequest, SkippedFile, TerminationReason};
use crate::cgroup::RunCgroup;
use crate::container::monotonic_nanos;
use crate::container::mountinfo::read_host_mounts;
use crate::container::protocol::{IdMap, InitConfig, Message, HELPER_ARGUMENT, SIGNAL_KILL_RUN, SIGNAL_TERMINATE_RUN};
use crate::container::steps::plan_mounts;

/// Maximum sleep between two checks of the limits and the cancel flag.
const MAX_WAIT: Duration = Duration::from_millis(100);
/// Minimum sleep, so that a run near its limit does not make the supervisor spin.
const MIN_WAIT: Duration = Duration::from_millis(1);
/// Time a run gets after the SIGTERM of its soft CPU-time limit when it has no hard limit.
const SOFT_LIMIT_GRACE: Duration = Duration::from_secs(1);
/// Time the container gets to end after the signal to kill the run, before the supervisor
/// kills every process of the cgroup itself.
const KILL_GRACE: Duration = Duration::from_secs(2);

/// Settings shared by every run of one sandbox.
pub struct Context<'a> {
    /// The cellrun executable, started as the container helper.
    pub helper: &'a Path,
    /// The run's empty scratch directory on the host.
    pub scratch: &'a Path,
    /// The user's ids for a rootless container.
    pub rootless: Option<IdMap>,
}

/// Runs `request` in a container whose tool processes all live in `cgroup`; without a
/// cgroup (rootless without delegation) CPU time comes from the init's accounting.
pub fn run(context: &Context, request: &RunRequest, cgroup: Option<&RunCgroup>, cancel: &AtomicBool, started_at: jiff::Timestamp) -> RunOutcome {
    let mut log = match LogWriter::create(&request.log_path, &request.command, request.limits.output.map(|b| b.0)) {
        Ok(log) => log,
        Err(error) => return RunOutcome::failed(started_at, format!("cannot create the log file {}: {error}", request.log_path.display())),
    };
    if request.command.is_empty() {
        return RunOutcome::failed(started_at, "the command is empty".to_string());
    }
    let config = match build_config(request, context, cgroup) {
        Ok(config) => config,
        Err(message) => return RunOutcome::failed(started_at, message),
    };
    let mut child = match start_helper(context.helper, &config) {
        Ok(child) => child,
        Err(message) => return RunOutcome::failed(started_at, message),
    };

    let mut watch = Watch::new(request);
    let pump_result = pump(&mut child, &mut log, cgroup, cancel, &mut watch);
    let _ = child.wait();
    let truncated = log.finish().unwrap_or(false);

    let mut outcome = watch.into_outcome(started_at, cgroup);
    outcome.output_truncated = truncated;
    if let Err(message) = pump_result {
        outcome.termination = Some(TerminationReason::Failed);
        outcome.failure = Some(message);
    }
    outcome
}

fn build_config(request: &RunRequest, context: &Context, cgroup: Option<&RunCgroup>) -> Result<InitConfig, String> {
    let host_mounts = read_host_mounts().map_err(|error| format!("cannot read /proc/self/mountinfo: {error}"))?;
    let dirs = match context.rootless {
        Some(_) => with_rootless_write_points(request),
        None => request.dirs.clone(),
    };
    let plan = plan_mounts(&dirs, &host_mounts, context.scratch);
    Ok(InitConfig {
        command: request.command.clone(),
        env: request.env.clone(),
        workdir: request.workdir.clone(),
        stdin: request.stdin.clone(),
        plan,
        tmpfs_size: request.limits.memory.map(|bytes| bytes.0),
        network: request.network,
        hostname: "cellrun".to_string(),
        result_patterns: request.result_patterns.clone(),
        result_dir: request.result_dir.clone(),
        cgroup_procs: cgroup.map(RunCgroup::procs_files).unwrap_or_default(),
        rootless: context.rootless,
    })
}

/// Gives the working directory, `$HOME` and `/var/tmp` overlays of their own when they are
/// in overlay mode. The modes stay the same.
///
/// In a user namespace the kernel cannot copy up a directory whose owner is not mapped, such
/// as root's. So a write below `/work/user/job` inside an overlay of `/` fails with EOVERFLOW.
/// An overlay whose lower layer is the directory itself copies up nothing above it.
fn with_rootless_write_points(request: &RunRequest) -> crate::container::dirmode::DirModes {
    use crate::container::dirmode::DirMode;

    let mut dirs = request.dirs.clone();
    let home = request.env.iter().find(|(name, _)| name == "HOME").map(|(_, value)| std::path::PathBuf::from(value));
    let candidates = [Some(request.workdir.clone()), home, Some(std::path::PathBuf::from("/var/tmp"))];
    for path in candidates.into_iter().flatten() {
        if path.is_absolute() && path.is_dir() && dirs.mode_of(&path) == DirMode::Overlay {
            dirs.set(path, DirMode::Overlay);
        }
    }
    dirs
}

/// Starts the helper and sends it the configuration.
fn start_helper(helper: &Path, config: &InitConfig) -> Result<Child, String> {
    let mut child = Command::new(helper)
        .arg(HELPER_ARGUMENT)
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| format!("cannot start the container helper {}: {error}", helper.display()))?;

    let mut line = serde_json::to_vec(config).map_err(|error| format!("cannot encode the container configuration: {error}"))?;
    line.push(b'\n');
    let mut stdin = child.stdin.take().expect("the helper's stdin is piped");
    if let Err(error) = stdin.write_all(&line) {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!("cannot send the configuration to the container helper: {error}"));
    }
    Ok(child)
}

/// The supervisor's knowledge of the run so far.
struct Watch {
    limits: crate::limits::Limits,
    walltime_limit: Option<Duration>,
    cpus: usize,
    init_pid: Option<Pid>,
    tool_started: Option<u64>,
    tool_exited: Option<(u64, ExitStatus)>,
    collected: Option<(Vec<std::path::PathBuf>, Vec<SkippedFile>)>,
    /// CPU time of the run as the init accounted it, in nanoseconds.
    init_cputime_nanos: u64,
    setup_failure: Option<String>,
    termination: Option<TerminationReason>,
    soft_signal_at: Option<Instant>,
    kill_sent_at: Option<Instant>,
}

impl Watch {
    fn new(request: &RunRequest) -> Watch {
        let cpus = request.cpus.as_ref().map(Vec::len).unwrap_or_else(|| {
            std::thread::available_parallelism().map(usize::from).unwrap_or(1)
        });
        Watch {
            limits: request.limits.clone(),
            walltime_limit: request.limits.effective_walltime(),
            cpus: cpus.max(1),
            init_pid: None,
            tool_started: None,
            tool_exited: None,
            collected: None,
            init_cputime_nanos: 0,
            setup_failure: None,
            termination: None,
            soft_signal_at: None,
            kill_sent_at: None,
        }
    }

    fn handle(&mut self, message: Message) {
        match message {
            Message::InitPid(pid) => self.init_pid = Some(Pid::from_raw(pid)),
            Message::SetupFailed(text) => self.setup_failure = Some(text),
            Message::ToolStarted(at) => self.tool_started = Some(at),
            Message::ToolExited { at_nanos, status } => self.tool_exited = Some((at_nanos, status)),
            Message::Collected { result_files, skipped, cputime_nanos } => {
                self.init_cputime_nanos = cputime_nanos;
                let files = result_files.into_iter().map(|file| file.0).collect();
                let skipped = skipped.into_iter().map(|(path, reason)| SkippedFile { path: path.0, reason }).collect();
                self.collected = Some((files, skipped));
            }
        }
    }

    fn tool_running(&self) -> bool {
        self.tool_started.is_some() && self.tool_exited.is_none()
    }

    /// Checks the limits; stops the run when one is reached. Returns how long to wait until
    /// the next check.
    fn check_limits(&mut self, child: &Child, cgroup: Option<&RunCgroup>, cancel: &AtomicBool) -> Duration {
        if let Some(sent) = self.kill_sent_at {
            if sent.elapsed() > KILL_GRACE {
                if let Some(cgroup) = cgroup {
                    let _ = cgroup.kill_all();
                }
                let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
            }
            return MAX_WAIT;
        }
        if cancel.load(Ordering::Relaxed) {
            self.stop(child, TerminationReason::Killed);
            return MAX_WAIT;
        }
        let Some(started) = self.tool_started else { return MAX_WAIT };
        if !self.tool_running() {
            return MAX_WAIT;
        }

        let mut wait = MAX_WAIT;
        if let Some(limit) = self.walltime_limit {
            let elapsed = Duration::from_nanos(monotonic_nanos().saturating_sub(started));
            if elapsed >= limit {
                self.stop(child, TerminationReason::WallTime);
                return MAX_WAIT;
            }
            wait = wait.min(limit - elapsed);
        }
        let cputime_limited = self.limits.cputime.is_some() || self.limits.soft_cputime.is_some();
        if let (true, Some(cgroup)) = (cputime_limited, cgroup) {
            wait = wait.min(self.check_cputime(child, cgroup));
        }
        wait.max(MIN_WAIT)
    }

    fn check_cputime(&mut self, child: &Child, cgroup: &RunCgroup) -> Duration {
        let Ok(used) = cgroup.cpu_time() else { return MIN_WAIT };
        if let Some(hard) = self.limits.cputime {
            if used >= hard {
                self.stop(child, TerminationReason::CpuTime);
                return MAX_WAIT;
            }
        }
        if let Some(soft) = self.limits.soft_cputime {
            if used >= soft && self.soft_signal_at.is_none() {
                self.soft_signal_at = Some(Instant::now());
                self.termination = Some(TerminationReason::CpuTimeSoft);
                if let Some(init) = self.init_pid {
                    let _ = kill(init, SIGNAL_TERMINATE_RUN);
                }
            }
            if let Some(signalled) = self.soft_signal_at {
                if self.limits.cputime.is_none() && signalled.elapsed() >= SOFT_LIMIT_GRACE {
                    self.stop(child, TerminationReason::CpuTimeSoft);
                    return MAX_WAIT;
                }
            }
        }
        let next_limit = [self.limits.cputime, self.limits.soft_cputime.filter(|_| self.soft_signal_at.is_none())]
            .into_iter()
            .flatten()
            .min();
        match next_limit {
            Some(limit) => (limit.saturating_sub(used) / self.cpus as u32).min(MAX_WAIT),
            None => MAX_WAIT,
        }
    }

    /// Tells the container to kill every process of the run.
    fn stop(&mut self, child: &Child, reason: TerminationReason) {
        if self.termination.is_none() || self.termination == Some(TerminationReason::CpuTimeSoft) {
            self.termination = Some(reason);
        }
        self.kill_sent_at = Some(Instant::now());
        match self.init_pid {
            Some(init) => {
                let _ = kill(init, SIGNAL_KILL_RUN);
            }
            None => {
                let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
            }
        }
    }

    fn into_outcome(self, started_at: jiff::Timestamp, cgroup: Option<&RunCgroup>) -> RunOutcome {
        let init_cputime = Duration::from_nanos(self.init_cputime_nanos);
        let (cputime, oom_kills, cputime_per_cpu, memory_peak) = match cgroup {
            Some(cgroup) => {
                let _ = cgroup.kill_all();
                (
                    cgroup.cpu_time().unwrap_or(init_cputime),
                    cgroup.oom_kills().unwrap_or(0),
                    cgroup.cpu_time_per_cpu().unwrap_or_default(),
                    cgroup.memory_peak().unwrap_or(None),
                )
            }
            None => (init_cputime, 0, Vec::new(), None),
        };
        let walltime = match (self.tool_started, self.tool_exited) {
            (Some(start), Some((end, _))) => Duration::from_nanos(end.saturating_sub(start)),
            (Some(start), None) => Duration::from_nanos(monotonic_nanos().saturating_sub(start)),
            _ => Duration::ZERO,
        };
        let (result_files, skipped_files) = self.collected.unwrap_or_default();
        let mut outcome = RunOutcome {
            started_at,
            exit: self.tool_exited.map(|(_, status)| status),
            termination: self.termination,
            failure: None,
            cputime,
            cputime_per_cpu,
            walltime,
            memory_peak,
            output_truncated: false,
            result_files,
            skipped_files,
        };

        if let Some(message) = self.setup_failure {
            outcome.termination = Some(TerminationReason::Failed);
            outcome.failure = Some(message);
            return outcome;
        }
        if self.tool_started.is_none() {
            outcome.termination = Some(TerminationReason::Failed);
            outcome.failure = Some("the container ended before the tool started".to_string());
            return outcome;
        }
        if self.tool_exited.is_none() && outcome.termination.is_none() {
            outcome.termination = Some(TerminationReason::Failed);
            outcome.failure = Some(
                "the container ended before the tool's main process did; its helper or init was killed \
                 from outside cellrun"
                    .to_string(),
            );
            return outcome;
        }
        classify_limits(&mut outcome, &self.limits, self.walltime_limit, oom_kills);
        outcome
    }
}

/// Applies the rule "a limit exceeded means the limit stopped the run", whatever the tool
/// printed or returned. The kernel's OOM-kill counter is the only evidence for `memory`.
fn classify_limits(outcome: &mut RunOutcome, limits: &crate::limits::Limits, walltime_limit: Option<Duration>, oom_kills: u64) {
    if outcome.termination == Some(TerminationReason::Killed) {
        return;
    }
    if oom_kills > 0 && matches!(outcome.exit, Some(ExitStatus::Signaled(9))) && outcome.termination.is_none() {
        outcome.termination = Some(TerminationReason::Memory);
        return;
    }
    if outcome.termination.is_none() || outcome.termination == Some(TerminationReason::CpuTimeSoft) {
        if limits.cputime.is_some_and(|limit| outcome.cputime > limit) {
            outcome.termination = Some(TerminationReason::CpuTime);
        } else if walltime_limit.is_some_and(|limit| outcome.walltime > limit) {
            outcome.termination = Some(TerminationReason::WallTime);
        }
    }
    if outcome.termination.is_none() && oom_kills > 0 {
        outcome.termination = Some(TerminationReason::Memory);
    }
}

/// Reads the helper's messages and the tool's output until the helper closes its stdout,
/// checking the limits in between.
fn pump(child: &mut Child, log: &mut LogWriter, cgroup: Option<&RunCgroup>, cancel: &AtomicBool, watch: &mut Watch) -> Result<(), String> {
    let mut status = child.stdout.take().expect("the helper's stdout is piped");
    let mut output = child.stderr.take().expect("the helper's stderr is piped");
    set_nonblocking(&status)?;
    set_nonblocking(&output)?;

    let mut status_buffer = Vec::new();
    let mut chunk = vec![0u8; 1 << 16];
    let mut status_open = true;
    let mut output_open = true;
    while status_open {
        let wait = watch.check_limits(child, cgroup, cancel);
        let mut fds = vec![PollFd::new(status.as_fd(), PollFlags::POLLIN)];
        if output_open {
            fds.push(PollFd::new(output.as_fd(), PollFlags::POLLIN));
        }
        let timeout = PollTimeout::try_from(wait.as_millis().max(1) as u64).unwrap_or(PollTimeout::MAX);
        match poll(&mut fds, timeout) {
            Ok(_) | Err(nix::Error::EINTR) => {}
            Err(errno) => return Err(format!("cannot wait for the container (poll): {errno}")),
        }
        if output_open {
            output_open = drain(&mut output, &mut chunk, |bytes| log.write(bytes).map_err(|e| e.to_string()))?;
        }
        status_open = drain(&mut status, &mut chunk, |bytes| {
            status_buffer.extend_from_slice(bytes);
            Ok(())
        })?;
        for message in take_messages(&mut status_buffer) {
            watch.handle(message);
        }
    }
    if output_open {
        drain(&mut output, &mut chunk, |bytes| log.write(bytes).map_err(|e| e.to_string()))?;
    }
    Ok(())
}

/// Reads what is available; returns false at end of file.
fn drain(reader: &mut impl Read, chunk: &mut [u8], mut sink: impl FnMut(&[u8]) -> Result<(), String>) -> Result<bool, String> {
    loop {
        match reader.read(chunk) {
            Ok(0) => return Ok(false),
            Ok(count) => sink(&chunk[..count]).map_err(|error| format!("cannot store the tool's output: {error}"))?,
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => return Ok(true),
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(format!("cannot read from the container: {error}")),
        }
    }
}

fn take_messages(buffer: &mut Vec<u8>) -> Vec<Message> {
    let mut messages = Vec::new();
    while let Some(end) = buffer.iter().position(|byte| *byte == b'\n') {
        let line: Vec<u8> = buffer.drain(..=end).collect();
        if let Ok(message) = serde_json::from_slice(&line) {
            messages.push(message);
        }
    }
    messages
}

fn set_nonblocking(fd: &impl AsRawFd) -> Result<(), String> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let raw = fd.as_raw_fd();
    // SAFETY: the descriptor is owned by the caller and stays open for the call.
    let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(raw) };
    let flags = fcntl(borrowed, FcntlArg::F_GETFL).map_err(|errno| format!("fcntl failed: {errno}"))?;
    fcntl(borrowed, FcntlArg::F_SETFL(OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK))
        .map_err(|errno| format!("fcntl failed: {errno}"))?;
    Ok(())
}

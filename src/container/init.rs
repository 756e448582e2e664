//! The helper and the init of a container (see `protocol` for the whole process protocol).

use std::io::BufRead;
use std::os::fd::OwnedFd;
use std::path::Path;

use nix::sched::{unshare, CloneFlags};
use nix::sys::signal::{kill, SigHandler, SigSet, Signal, sigaction, SaFlags, SigAction};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};

use super::collect;
use super::protocol::{send, IdMap, InitConfig, Message, SIGNAL_KILL_RUN, SIGNAL_TERMINATE_RUN};
use super::setup;
use super::steps::under;
use super::syscalls;
use super::tool;
use crate::sandbox::ExitStatus;

/// Entry point of `cellrun __container-init`; returns the process exit status.
pub fn helper_main() -> i32 {
    let config = match read_config() {
        Ok(config) => config,
        Err(message) => {
            send(&Message::SetupFailed(message));
            return 1;
        }
    };
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
    let _ = syscalls::set_oom_score_adj(-1000);

    let mut namespaces = CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWUTS;
    if !config.network {
        namespaces |= CloneFlags::CLONE_NEWNET;
    }
    if config.rootless.is_some() {
        namespaces |= CloneFlags::CLONE_NEWUSER;
    }
    if let Err(errno) = unshare(namespaces) {
        send(&Message::SetupFailed(unshare_failure(errno, config.rootless.is_some())));
        return 1;
    }
    if let Some(ids) = config.rootless {
        if let Err(message) = map_own_ids(ids) {
            send(&Message::SetupFailed(message));
            return 1;
        }
    }

    // SAFETY: the helper is single-threaded (a freshly executed process that starts no
    // threads), so the child may run arbitrary code after fork.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => std::process::exit(init_main(&config)),
        Ok(ForkResult::Parent { child }) => {
            send(&Message::InitPid(child.as_raw()));
            wait_for_init(child)
        }
        Err(errno) => {
            send(&Message::SetupFailed(format!("cannot start the container's init process (fork): {errno}")));
            1
        }
    }
}

fn unshare_failure(errno: nix::Error, rootless: bool) -> String {
    if rootless && matches!(errno, nix::Error::EPERM | nix::Error::ENOSPC | nix::Error::EINVAL) {
        return format!(
            "cannot create a user namespace for a rootless container (unshare): {errno}; \
             allow unprivileged user namespaces (sysctl user.max_user_namespaces > 0, and \
             kernel.unprivileged_userns_clone=1 where it exists) or run cellrun as root"
        );
    }
    format!("cannot create the container's namespaces (unshare): {errno}")
}

/// Maps the user's own ids to themselves in the new user namespace, which gives the helper
/// and the init the capabilities to build the container but lets the tool run as the user.
fn map_own_ids(ids: IdMap) -> Result<(), String> {
    let write = |file: &str, text: String| {
        std::fs::write(file, &text).map_err(|error| format!("cannot write {file} ({}): {error}", text.trim()))
    };
    write("/proc/self/setgroups", "deny".to_string())?;
    write("/proc/self/uid_map", format!("{0} {0} 1\n", ids.uid))?;
    write("/proc/self/gid_map", format!("{0} {0} 1\n", ids.gid))
}

fn read_config() -> Result<InitConfig, String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).map_err(|error| format!("cannot read the container configuration: {error}"))?;
    serde_json::from_str(&line).map_err(|error| format!("invalid container configuration: {error}"))
}

fn wait_for_init(init: Pid) -> i32 {
    loop {
        match waitpid(init, None) {
            Ok(WaitStatus::Exited(_, code)) => return code,
            Ok(WaitStatus::Signaled(..)) => return 1,
            Ok(_) => continue,
            Err(nix::Error::EINTR) => continue,
            Err(_) => return 1,
        }
    }
}

extern "C" fn ignore_signal(_: libc::c_int) {}

/// PID 1 of the run: sets up the mounts, starts the tool, reaps every process, collects the
/// result files. Returns the exit status of the init itself, not of the tool.
fn init_main(config: &InitConfig) -> i32 {
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
    let signals = block_control_signals();

    if let Err(message) = prepare_container(config) {
        send(&Message::SetupFailed(message));
        return 1;
    }
    let tool = match start_tool(config) {
        Ok(tool) => tool,
        Err(message) => {
            send(&Message::SetupFailed(message));
            return 1;
        }
    };

    supervise_processes(tool, &signals);

    let (result_files, skipped) = match &config.result_dir {
        Some(result_dir) => collect::collect(&config.plan.layers, &config.workdir, &config.result_patterns, result_dir),
        None => (Vec::new(), Vec::new()),
    };
    send(&super::protocol::collected(result_files, skipped, children_cputime_nanos()));
    0
}

/// Blocks the signals the init waits for with `sigwait`, and gives the control signals a
/// handler: the kernel drops signals to a namespace's PID 1 that have the default action.
fn block_control_signals() -> SigSet {
    let mut signals = SigSet::empty();
    for signal in [Signal::SIGCHLD, SIGNAL_TERMINATE_RUN, SIGNAL_KILL_RUN, Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        signals.add(signal);
    }
    let action = SigAction::new(SigHandler::Handler(ignore_signal), SaFlags::empty(), SigSet::empty());
    for signal in [SIGNAL_TERMINATE_RUN, SIGNAL_KILL_RUN, Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        // SAFETY: the handler does nothing, so it is async-signal-safe.
        let _ = unsafe { sigaction(signal, &action) };
    }
    let _ = signals.thread_block();
    signals
}

fn prepare_container(config: &InitConfig) -> Result<(), String> {
    nix::unistd::sethostname(&config.hostname).map_err(|errno| format!("cannot set the hostname: {errno}"))?;
    if !config.network {
        syscalls::bring_loopback_up().map_err(|error| format!("cannot bring up the loopback interface: {error}"))?;
    }
    setup::execute_plan(&config.plan, config.tmpfs_size, config.rootless.is_some()).map_err(|error| error.to_string())?;

    let workdir = under(&config.plan.root, &config.workdir);
    if !workdir.is_dir() {
        return Err(format!(
            "the working directory {} does not exist in the container; it is hidden or missing, \
             so give it (or a parent) the mode `overlay`, `read_only` or `full_access`",
            config.workdir.display()
        ));
    }
    Ok(())
}

/// CPU time of every reaped child and their reaped descendants. The init reaps every
/// process of the run, so this covers the whole run.
fn children_cputime_nanos() -> u64 {
    match nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN) {
        Ok(usage) => {
            let nanos = |time: nix::sys::time::TimeVal| time.tv_sec() as u64 * 1_000_000_000 + time.tv_usec() as u64 * 1000;
            nanos(usage.user_time()) + nanos(usage.system_time())
        }
        Err(_) => 0,
    }
}

struct StartedTool {
    pid: Pid,
}

fn start_tool(config: &InitConfig) -> Result<StartedTool, String> {
    let stdin = open_stdin(config.stdin.as_deref())?;
    let (report_read, report_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|errno| format!("cannot create a pipe: {errno}"))?;

    // SAFETY: the init is single-threaded, so the child may run arbitrary code after fork.
    let pid = match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            drop(report_read);
            tool::exec_tool(config, stdin, report_write)
        }
        Ok(ForkResult::Parent { child }) => child,
        Err(errno) => return Err(format!("cannot fork the tool process: {errno}")),
    };
    drop(report_write);
    drop(stdin);

    match parse_report(&read_all(report_read)) {
        Ok(started) => {
            send(&Message::ToolStarted(started));
            Ok(StartedTool { pid })
        }
        Err(message) => match waitpid(pid, None) {
            Ok(WaitStatus::Signaled(_, Signal::SIGKILL, _)) if report_is_empty(&message) => Err(
                "the tool process was killed (SIGKILL) before it could execute the tool; a memory limit \
                 this small cannot start any program, so raise it"
                    .to_string(),
            ),
            _ => Err(message),
        },
    }
}

fn report_is_empty(message: &str) -> bool {
    message == NO_REPORT
}

/// The message when the tool process ended without reporting a start or an error.
const NO_REPORT: &str = "the tool process ended before it could execute the tool";

/// Reads what the tool process reported before `execve`: its start time, or why it failed.
fn parse_report(report: &[u8]) -> Result<u64, String> {
    if let Some(position) = report.iter().position(|byte| *byte == tool::ERROR_TAG) {
        let is_error_record = position == 0 || (report[0] == tool::START_TAG && position == 9);
        if is_error_record {
            return Err(String::from_utf8_lossy(&report[position + 1..]).into_owned());
        }
    }
    match report {
        [tag, time @ ..] if *tag == tool::START_TAG && time.len() == 8 => {
            Ok(u64::from_le_bytes(time.try_into().expect("eight bytes")))
        }
        _ => Err(NO_REPORT.to_string()),
    }
}

fn open_stdin(path: Option<&Path>) -> Result<OwnedFd, String> {
    let path = path.unwrap_or(Path::new("/dev/null"));
    std::fs::File::open(path)
        .map(OwnedFd::from)
        .map_err(|error| format!("cannot open the input file {}: {error}", path.display()))
}

fn read_all(fd: OwnedFd) -> Vec<u8> {
    use std::io::Read;
    let mut bytes = Vec::new();
    let _ = std::fs::File::from(fd).read_to_end(&mut bytes);
    bytes
}

/// Reaps every process of the run until none is left. When the tool's main process ends,
/// everything else it left behind is killed: a run ends with its main process.
fn supervise_processes(tool: StartedTool, signals: &SigSet) {
    let mut tool_ended = false;
    loop {
        let signal = match signals.wait() {
            Ok(signal) => signal,
            Err(_) => continue,
        };
        match signal {
            Signal::SIGCHLD => {}
            signal if signal == SIGNAL_TERMINATE_RUN => {
                let _ = kill(Pid::from_raw(-1), Signal::SIGTERM);
            }
            _ => {
                let _ = kill(Pid::from_raw(-1), Signal::SIGKILL);
            }
        }
        if reap_children(tool.pid, &mut tool_ended) {
            return;
        }
    }
}

/// Reaps every finished child; returns true once the tool has ended and no child is left.
fn reap_children(tool: Pid, tool_ended: &mut bool) -> bool {
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => return false,
            Ok(status) => {
                if status.pid() == Some(tool) {
                    *tool_ended = true;
                    report_tool_exit(status);
                    let _ = kill(Pid::from_raw(-1), Signal::SIGKILL);
                }
            }
            Err(nix::Error::EINTR) => continue,
            Err(_) => return *tool_ended,
        }
    }
}

fn report_tool_exit(status: WaitStatus) {
    let at_nanos = syscalls::monotonic_nanos();
    let status = match status {
        WaitStatus::Exited(_, code) => ExitStatus::Exited(code),
        WaitStatus::Signaled(_, signal, _) => ExitStatus::Signaled(signal as i32),
        _ => return,
    };
    send(&Message::ToolExited { at_nanos, status });
}

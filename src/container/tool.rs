//! The last step in the container: enter the finished mount tree and execute the tool.
//!
//! This runs in a child of the init. It gets a mount namespace of its own before
//! `pivot_root`, because `pivot_root` moves the root of every process in the namespace and
//! the init must keep the host view to collect result files later.

use std::ffi::{CString, OsStr, OsString};
use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::mount::{umount2, MntFlags};
use nix::sched::{unshare, CloneFlags};
use nix::sys::signal::{SigSet, SigmaskHow, sigprocmask};

use super::protocol::InitConfig;
use super::syscalls;

/// Tag of the start record on the report pipe: `S` and the start time as 8 bytes.
pub const START_TAG: u8 = b'S';
/// Tag of the error record on the report pipe: `E` and the message up to the end.
pub const ERROR_TAG: u8 = b'E';

/// Enters the container root and executes the tool. Just before `execve` it writes a start
/// record to `report_pipe` (close-on-exec, so a successful exec closes it); on any failure it
/// writes an error record and exits with status 127. Never returns.
pub fn exec_tool(config: &InitConfig, stdin: OwnedFd, report_pipe: OwnedFd) -> ! {
    let mut pipe = std::fs::File::from(report_pipe);
    let error = match prepare_and_exec(config, stdin, &mut pipe) {
        Ok(never) => match never {},
        Err(message) => message,
    };
    let mut record = vec![ERROR_TAG];
    record.extend_from_slice(error.as_bytes());
    let _ = pipe.write_all(&record);
    // SAFETY: _exit ends the process without running destructors, which belong to the init.
    unsafe { libc::_exit(127) }
}

enum Never {}

fn prepare_and_exec(config: &InitConfig, stdin: OwnedFd, report_pipe: &mut std::fs::File) -> Result<Never, String> {
    let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL);
    join_cgroup(&config.cgroup_procs)?;
    // The cgroup namespace starts at the run's cgroup, so the tool sees it as the root.
    unshare(CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWCGROUP)
        .map_err(|errno| format!("cannot create the tool's mount and cgroup namespaces: {errno}"))?;
    enter_root(&config.plan.root)?;
    std::env::set_current_dir(&config.workdir).map_err(|error| {
        format!("cannot enter the working directory {} in the container: {error}", config.workdir.display())
    })?;

    nix::unistd::dup2_stdin(&stdin).map_err(|errno| format!("cannot set up standard input: {errno}"))?;
    // Standard output joins standard error, which is the pipe the supervisor stores as the log.
    nix::unistd::dup2_stdout(std::io::stderr()).map_err(|errno| format!("cannot set up standard output: {errno}"))?;
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)
        .map_err(|errno| format!("cannot reset the signal mask: {errno}"))?;
    syscalls::set_oom_score_adj(0).map_err(|error| format!("cannot reset oom_score_adj: {error}"))?;
    nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_CORE, 0, 0)
        .map_err(|errno| format!("cannot disable core dumps: {errno}"))?;

    let program = find_program(&config.command[0], &config.env)?;
    let arguments: Vec<CString> = config.command.iter().map(|arg| c_string(arg)).collect::<Result<_, _>>()?;
    let environment: Vec<CString> = config
        .env
        .iter()
        .map(|(name, value)| {
            let mut entry = name.clone();
            entry.push("=");
            entry.push(value);
            c_string(&entry)
        })
        .collect::<Result<_, _>>()?;
    let program = c_string(program.as_os_str())?;
    let mut start = vec![START_TAG];
    start.extend_from_slice(&syscalls::monotonic_nanos().to_le_bytes());
    let _ = report_pipe.write_all(&start);
    let errno = nix::unistd::execve(&program, &arguments, &environment).unwrap_err();
    Err(format!("cannot execute {}: {errno}", config.command[0].to_string_lossy()))
}

/// Moves the calling process into the run's cgroup in every hierarchy.
fn join_cgroup(procs_files: &[PathBuf]) -> Result<(), String> {
    for file in procs_files {
        std::fs::write(file, "0").map_err(|error| format!("cannot join the run's cgroup {}: {error}", file.display()))?;
    }
    Ok(())
}

/// Makes `root` the root directory with `pivot_root` and drops the old root.
fn enter_root(root: &Path) -> Result<(), String> {
    std::env::set_current_dir(root).map_err(|error| format!("cannot enter the container root: {error}"))?;
    // pivot_root(".", ".") stacks the old root on top of the new one; unmounting "." then
    // removes the old root without needing a directory for it.
    nix::unistd::pivot_root(".", ".").map_err(|errno| format!("pivot_root failed: {errno}"))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(|errno| format!("cannot detach the host root: {errno}"))?;
    std::env::set_current_dir("/").map_err(|error| format!("cannot enter the new root: {error}"))
}

/// Looks the program up in the `PATH` of the tool's environment, as a shell would.
fn find_program(program: &OsStr, env: &[(OsString, OsString)]) -> Result<PathBuf, String> {
    if program.as_bytes().contains(&b'/') {
        return Ok(PathBuf::from(program));
    }
    let path = env
        .iter()
        .find(|(name, _)| name == "PATH")
        .map(|(_, value)| value.clone())
        .unwrap_or_else(|| OsString::from("/usr/local/bin:/usr/bin:/bin"));
    for directory in std::env::split_paths(&path) {
        let candidate = directory.join(program);
        if nix::unistd::access(&candidate, nix::unistd::AccessFlags::X_OK).is_ok() && candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(format!(
        "cannot execute {}: not found in the container's PATH ({})",
        program.to_string_lossy(),
        path.to_string_lossy()
    ))
}

fn c_string(text: &OsStr) -> Result<CString, String> {
    CString::new(text.as_bytes()).map_err(|_| format!("argument {} contains a NUL byte", text.to_string_lossy()))
}

//! The messages between the supervisor (a thread of cellrun) and its container.
//!
//! Processes, in order of creation:
//! 1. The supervisor starts the *helper* (`cellrun __container-init`, or a child of the fork
//!    server) with three pipes. Stdin carries one JSON line, the [`InitConfig`]. Stdout
//!    carries [`Message`] lines back. Stderr is the tool's output pipe, which the supervisor
//!    reads and stores. Usually the
//!    helper is not executed but forked by the sandbox's fork server (see `fork_server`),
//!    which passes the same configuration and pipes.
//! 2. The helper reads the configuration. Being a fresh single-threaded process, it may fork
//!    freely: it unshares the namespaces, forks the *init* (PID 1 of the new PID namespace),
//!    reports the init's host PID and waits for it.
//! 3. The init mounts the container and forks the tool, which joins the run's cgroup before
//!    it executes the tool program. The helper and the init stay outside that cgroup, so a
//!    tiny memory limit cannot make the kernel kill them and their work is not measured.
//!    The init reaps every process of the run and collects result files once all are gone.
//!
//! The supervisor controls the init by signals to its host PID: SIGUSR1 sends SIGTERM to every
//! process of the run (soft CPU-time limit), SIGUSR2 kills them all. When the init ends, the
//! kernel kills whatever is left in its PID namespace.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::steps::MountPlan;
use crate::sandbox::{ExitStatus, SkippedFile};

/// Signal from the supervisor: send SIGTERM to every process of the run.
pub const SIGNAL_TERMINATE_RUN: nix::sys::signal::Signal = nix::sys::signal::Signal::SIGUSR1;
/// Signal from the supervisor: kill every process of the run.
pub const SIGNAL_KILL_RUN: nix::sys::signal::Signal = nix::sys::signal::Signal::SIGUSR2;

/// The argument that makes cellrun act as the container helper.
pub const HELPER_ARGUMENT: &str = "__container-init";
/// The second argument that makes the helper a fork server for helpers (see `fork_server`).
pub const FORK_SERVER_ARGUMENT: &str = "fork-server";

/// Everything the container needs, sent by the supervisor as one JSON line.
#[derive(Debug, Serialize, Deserialize)]
pub struct InitConfig {
    pub command: Vec<OsString>,
    pub env: Vec<(OsString, OsString)>,
    pub workdir: PathBuf,
    pub stdin: Option<PathBuf>,
    pub plan: MountPlan,
    /// Size of the run's tmpfs; its contents are charged to the run's memory anyway.
    pub tmpfs_size: Option<u64>,
    pub network: bool,
    pub hostname: String,
    pub result_patterns: Vec<String>,
    pub result_dir: Option<PathBuf>,
    /// The `cgroup.procs` files of the run's cgroup, one per hierarchy, that the tool joins;
    /// empty when cellrun runs without a cgroup (rootless without delegation).
    pub cgroup_procs: Vec<PathBuf>,
    /// For a rootless container: the user and group ids that the user namespace maps to
    /// themselves. `None` when cellrun runs as root and needs no user namespace.
    pub rootless: Option<IdMap>,
}

/// The ids of the user that starts a rootless container.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdMap {
    pub uid: u32,
    pub gid: u32,
}

/// A report from the helper or the init, one JSON line each.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub enum Message {
    /// The init's PID in the supervisor's PID namespace.
    InitPid(i32),
    /// The container could not be set up or the tool could not be started.
    SetupFailed(String),
    /// The tool was started at this `CLOCK_MONOTONIC` time in nanoseconds.
    ToolStarted(u64),
    /// The tool's main process ended at this time.
    ToolExited { at_nanos: u64, status: ExitStatus },
    /// Every process is gone and the result files are copied. `cputime_nanos` is the CPU
    /// time of every process the init reaped, that is of every process of the run.
    Collected { result_files: Vec<RawPath>, skipped: Vec<(RawPath, String)>, cputime_nanos: u64 },
}

/// A path sent as its bytes, because JSON strings cannot hold every Linux path.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub struct RawPath(#[serde(with = "crate::sandbox::path_text::as_bytes")] pub PathBuf);

/// Builds the `Collected` message from the collector's lists.
pub fn collected(result_files: Vec<PathBuf>, skipped: Vec<SkippedFile>, cputime_nanos: u64) -> Message {
    Message::Collected {
        result_files: result_files.into_iter().map(RawPath).collect(),
        skipped: skipped.into_iter().map(|file| (RawPath(file.path), file.reason)).collect(),
        cputime_nanos,
    }
}

/// Writes one message to the supervisor. A failed write is ignored, because it means the
/// supervisor is gone and no reader is left.
pub fn send(message: &Message) {
    let mut line = match serde_json::to_vec(message) {
        Ok(line) => line,
        Err(error) => serde_json::to_vec(&Message::SetupFailed(format!("cannot encode a message: {error}"))).unwrap_or_default(),
    };
    line.push(b'\n');
    let _ = std::io::stdout().lock().write_all(&line);
}

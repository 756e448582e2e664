//! A fork server for container helpers: one single-threaded process per sandbox that forks the
//! helper of each run, so that cellrun need not execute itself again for every run.
//!
//! Executing the helper costs a whole process start per run: loading and relocating the
//! libraries and, in a virtual machine, the C library's CPU feature probes (`cpuid`), which
//! trap to the hypervisor. On a 2-core VM that was about 1 ms of CPU per run. The fork server,
//! `cellrun __container-init fork-server`, pays it once. It is single-threaded, so its
//! children may run arbitrary code after `fork`, just as an executed helper may.
//!
//! Protocol on a Unix stream socket, which is the fork server's stdin. The supervisor sends an
//! 8-byte header with the length of the configuration (little-endian). The write ends of the
//! helper's stdout and stderr pipes are attached to it (`SCM_RIGHTS`). Then it sends the
//! configuration itself, one JSON line. The fork server forks, and the child becomes the
//! helper, with those pipes as stdout and stderr and `/dev/null` as stdin. The fork server
//! replies with the child's PID (4 bytes) and attaches a pidfd of it. It reaps its children
//! itself, so the supervisor signals the helper through the pidfd, which cannot hit a reused
//! PID.

use std::io::{IoSlice, IoSliceMut, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

use nix::sys::signal::Signal;
use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};

use super::protocol::{FORK_SERVER_ARGUMENT, HELPER_ARGUMENT};

/// The supervisor's end of a running fork server.
pub struct ForkServer {
    process: Child,
    /// One request at a time: the header, the configuration and the reply belong together.
    socket: Mutex<UnixStream>,
}

/// A helper started by the fork server.
pub struct ForkedHelper {
    pub pid: Pid,
    pub pidfd: OwnedFd,
}

impl ForkServer {
    /// Starts the fork server from the cellrun executable `helper`.
    pub fn start(helper: &Path) -> std::io::Result<ForkServer> {
        let (ours, theirs) = UnixStream::pair()?;
        let process = Command::new(helper)
            .args([HELPER_ARGUMENT, FORK_SERVER_ARGUMENT])
            .env_clear()
            .stdin(Stdio::from(OwnedFd::from(theirs)))
            .stdout(Stdio::null())
            .spawn()?;
        Ok(ForkServer { process, socket: Mutex::new(ours) })
    }

    /// Starts a helper that reads `config` (one JSON line) and writes to `stdout` and `stderr`.
    pub fn fork_helper(&self, config: &[u8], stdout: &OwnedFd, stderr: &OwnedFd) -> std::io::Result<ForkedHelper> {
        let mut socket = self.socket.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let header = (config.len() as u64).to_le_bytes();
        let fds = [stdout.as_raw_fd(), stderr.as_raw_fd()];
        sendmsg::<()>(socket.as_raw_fd(), &[IoSlice::new(&header)], &[ControlMessage::ScmRights(&fds)], MsgFlags::empty(), None)?;
        socket.write_all(config)?;

        let mut pid = [0u8; 4];
        let mut fds = receive_with_fds(&socket, &mut pid)?;
        let pid = i32::from_le_bytes(pid);
        match fds.pop() {
            Some(pidfd) if pid > 0 => Ok(ForkedHelper { pid: Pid::from_raw(pid), pidfd }),
            _ => Err(std::io::Error::other(format!("the fork server cannot fork a container helper (errno {})", -pid))),
        }
    }
}

impl Drop for ForkServer {
    /// Closes the socket, which ends the fork server once its helpers have ended.
    fn drop(&mut self) {
        let socket = self.socket.get_mut().unwrap_or_else(|poisoned| poisoned.into_inner());
        let _ = socket.shutdown(std::net::Shutdown::Both);
        let _ = self.process.wait();
    }
}

/// Reads exactly `buffer.len()` bytes and the file descriptors attached to them, as owned
/// descriptors with close-on-exec set.
fn receive_with_fds(socket: &UnixStream, buffer: &mut [u8]) -> std::io::Result<Vec<OwnedFd>> {
    let mut fds = Vec::new();
    let mut filled = 0;
    while filled < buffer.len() {
        let mut space = nix::cmsg_space!([RawFd; 2]);
        let mut iov = [IoSliceMut::new(&mut buffer[filled..])];
        let message = recvmsg::<()>(socket.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)?;
        for control in message.cmsgs()? {
            if let ControlMessageOwned::ScmRights(received) = control {
                // SAFETY: the kernel just installed these descriptors in this process; nothing
                // else owns them.
                fds.extend(received.into_iter().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }));
            }
        }
        if message.bytes == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        filled += message.bytes;
    }
    Ok(fds)
}

/// Entry point of the fork server; returns its exit status once the supervisor closed the
/// socket and every helper ended.
pub fn fork_server_main(run_helper: fn(&[u8]) -> i32) -> i32 {
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
    // SAFETY: the supervisor passed the socket as stdin, which nothing else in this process uses.
    let mut socket = unsafe { UnixStream::from_raw_fd(0) };
    loop {
        reap_helpers(WaitPidFlag::WNOHANG);
        let Ok((config, pipes)) = receive_request(&mut socket) else { break };
        // SAFETY: the fork server is single-threaded, so the child may run arbitrary code.
        match unsafe { fork() } {
            Ok(ForkResult::Child) => std::process::exit(become_helper(&config, pipes, run_helper)),
            Ok(ForkResult::Parent { child }) => {
                drop(pipes);
                reply(&socket, child);
            }
            Err(errno) => {
                drop(pipes);
                let _ = socket.write_all(&(-(errno as i32)).to_le_bytes());
            }
        }
    }
    drop(socket);
    reap_helpers(WaitPidFlag::empty());
    0
}

fn receive_request(socket: &mut UnixStream) -> std::io::Result<(Vec<u8>, Vec<OwnedFd>)> {
    let mut header = [0u8; 8];
    let pipes = receive_with_fds(socket, &mut header)?;
    if pipes.len() != 2 {
        return Err(std::io::Error::other("a fork request needs the helper's stdout and stderr"));
    }
    let mut config = vec![0u8; u64::from_le_bytes(header) as usize];
    socket.read_exact(&mut config)?;
    Ok((config, pipes))
}

/// Sends the helper's PID with a pidfd of it. Without a pidfd the reply is `-errno`.
fn reply(socket: &UnixStream, child: Pid) {
    // SAFETY: pidfd_open takes a PID and flags and returns a new descriptor or -1.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, child.as_raw(), 0) };
    if pidfd < 0 {
        let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO);
        let _ = nix::sys::signal::kill(child, Signal::SIGKILL);
        let mut socket = socket;
        let _ = socket.write_all(&(-errno).to_le_bytes());
        return;
    }
    // SAFETY: pidfd_open returned a new descriptor that nothing else owns.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd as RawFd) };
    let pid = child.as_raw().to_le_bytes();
    let fds = [pidfd.as_raw_fd()];
    let _ = sendmsg::<()>(socket.as_raw_fd(), &[IoSlice::new(&pid)], &[ControlMessage::ScmRights(&fds)], MsgFlags::empty(), None);
}

/// Turns the forked child into the helper of one run.
fn become_helper(config: &[u8], pipes: Vec<OwnedFd>, run_helper: fn(&[u8]) -> i32) -> i32 {
    let null = match std::fs::File::open("/dev/null") {
        Ok(file) => OwnedFd::from(file),
        Err(_) => return 1,
    };
    // dup2 onto 0 also closes this process's copy of the socket.
    let redirected = nix::unistd::dup2_stdin(&null)
        .and_then(|()| nix::unistd::dup2_stdout(&pipes[0]))
        .and_then(|()| nix::unistd::dup2_stderr(&pipes[1]));
    drop(pipes);
    drop(null);
    if redirected.is_err() {
        return 1;
    }
    run_helper(config)
}

fn reap_helpers(flags: WaitPidFlag) {
    loop {
        match waitpid(Pid::from_raw(-1), Some(flags)) {
            Ok(WaitStatus::StillAlive) | Err(nix::Error::ECHILD) => return,
            Ok(_) | Err(nix::Error::EINTR) => continue,
            Err(_) => return,
        }
    }
}

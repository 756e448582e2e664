//! Facts about the host and the tools for `meta.json`, gathered outside any container.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::escape::escape_bytes;
use super::meta::{Host, ToolVersion};
use crate::plan::ToolPlan;

/// How long a tool's version command may take before it is killed.
pub const VERSION_TIMEOUT: Duration = Duration::from_secs(10);

/// Maximum length of the version text kept, in bytes. A tool that prints its manual is cut here.
const VERSION_MAX_BYTES: usize = 4096;

/// Reads the host's CPU model, CPU count, memory and kernel release from `/proc` and `/sys`.
pub fn host(cpus_usable: &[usize], memory_usable_bytes: u64, cgroup_version: Option<String>) -> Host {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();

    Host {
        cpu_model: field(&cpuinfo, "model name").map(str::to_string),
        cpus_online: online_cpus().unwrap_or(cpus_usable.len()),
        cpus_usable: cpus_usable.to_vec(),
        memory_bytes: field(&meminfo, "MemTotal").and_then(parse_kib),
        memory_usable_bytes,
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease").ok().map(|text| text.trim().to_string()),
        cgroup_version,
    }
}

/// Counts the CPUs listed in `/sys/devices/system/cpu/online`.
fn online_cpus() -> Option<usize> {
    let text = std::fs::read_to_string("/sys/devices/system/cpu/online").ok()?;
    crate::schedule::topology::parse_cpu_list(&text).map(|cpus| cpus.len())
}

fn field<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == name).then(|| value.trim())
    })
}

fn parse_kib(value: &str) -> Option<u64> {
    let number = value.strip_suffix("kB")?.trim();
    number.parse::<u64>().ok().map(|kib| kib * 1024)
}

/// Runs each tool's version command in `job_dir`, each with [`VERSION_TIMEOUT`]. A command
/// still running when `cancel` becomes true is killed, so Ctrl+C works during this step too.
pub fn tool_versions(tools: &[ToolPlan], job_dir: &Path, cancel: &AtomicBool) -> Vec<ToolVersion> {
    tools.iter().map(|tool| tool_version(tool, job_dir, cancel)).collect()
}

fn tool_version(tool: &ToolPlan, job_dir: &Path, cancel: &AtomicBool) -> ToolVersion {
    let (version, error) = match &tool.version_command {
        None => (None, None),
        Some(command) => match run_version_command(command, job_dir, cancel) {
            Ok(text) => (Some(text), None),
            Err(message) => (None, Some(message)),
        },
    };
    ToolVersion { name: tool.name.clone(), command: tool.version_command.clone(), version, error }
}

/// Runs `command` and returns its standard output and error, trimmed and escaped.
fn run_version_command(command: &[String], job_dir: &Path, cancel: &AtomicBool) -> Result<String, String> {
    let (program, args) = command.split_first().ok_or_else(|| "the version command is empty".to_string())?;
    let mut child = Command::new(program)
        .args(args)
        .current_dir(job_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| format!("cannot start `{program}`: {error}"))?;

    // Both pipes are drained on threads so a tool that fills one of them cannot block.
    let stdout = child.stdout.take().map(drain);
    let stderr = child.stderr.take().map(drain);

    let deadline = Instant::now() + VERSION_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("`{program}` timed out after {} s", VERSION_TIMEOUT.as_secs()));
            }
            Ok(None) if cancel.load(Ordering::SeqCst) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("`{program}` was stopped by an interrupt"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(error) => return Err(format!("cannot wait for `{program}`: {error}")),
        }
    };

    let mut output = stdout.map(|thread| thread.join().unwrap_or_default()).unwrap_or_default();
    if output.iter().all(u8::is_ascii_whitespace) {
        output = stderr.map(|thread| thread.join().unwrap_or_default()).unwrap_or_default();
    }
    if !status.success() {
        return Err(format!("`{program}` failed with {status}: {}", escape_bytes(trim(&output))));
    }

    output.truncate(VERSION_MAX_BYTES);
    Ok(escape_bytes(trim(&output)))
}

fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|byte| !byte.is_ascii_whitespace()).unwrap_or(bytes.len());
    let end = bytes.iter().rposition(|byte| !byte.is_ascii_whitespace()).map_or(start, |end| end + 1);
    &bytes[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(command: &[&str]) -> ToolPlan {
        ToolPlan { name: "t".into(), version_command: Some(command.iter().map(|part| part.to_string()).collect()) }
    }

    #[test]
    fn version_output_trimmed_and_escaped() {
        let version = tool_version(&tool(&["printf", "  t 1.0 \\377\\n"]), Path::new("/"), &AtomicBool::new(false));
        assert_eq!(version.version.as_deref(), Some("t 1.0 \\xff"));
        assert_eq!(version.error, None);
    }

    #[test]
    fn missing_program_reported() {
        let version = tool_version(&tool(&["/nonexistent/tool", "--version"]), Path::new("/"), &AtomicBool::new(false));
        assert_eq!(version.version, None);
        assert!(version.error.unwrap().contains("cannot start"));
    }

    #[test]
    fn failing_command_reported() {
        let version = tool_version(&tool(&["sh", "-c", "echo broken >&2; exit 3"]), Path::new("/"), &AtomicBool::new(false));
        assert!(version.error.unwrap().contains("broken"));
    }

    #[test]
    fn interrupt_stops_version_command() {
        let start = Instant::now();
        let version = tool_version(&tool(&["sleep", "30"]), Path::new("/"), &AtomicBool::new(true));
        assert!(version.error.unwrap().contains("interrupt"));
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn host_fields_read() {
        let host = host(&[0], 1 << 30, None);
        assert!(host.cpus_online >= 1);
        assert!(host.memory_bytes.unwrap() > 0);
        assert!(host.kernel.is_some());
    }
}

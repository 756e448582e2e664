//! The cgroup v1 backend against the real kernel: limits, measurement, killing, removal.
//!
//! These tests need root and a v1 hierarchy for memory, cpuacct, cpuset, pids and freezer.
//! They hold a lock each, because dropping a `Cgroups` value removes the shared
//! `cellrun-<pid>` cgroup of the test process.

mod common;

use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use cellrun::cgroup::{Cgroups, RunCgroup, RunCgroupSettings, Version};

const MIB: u64 = 1024 * 1024;

static SERIAL: Mutex<()> = Mutex::new(());

/// Returns the v1 cgroups with the test lock, or `None` when the test must be skipped.
#[track_caller]
fn setup() -> Option<(MutexGuard<'static, ()>, Cgroups)> {
    if !common::require_root() {
        return None;
    }
    let guard = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let cgroups = Cgroups::detect().expect("cgroups detected");
    if cgroups.version() != Version::V1 {
        let message = "SKIP: this machine uses cgroup v2, and these tests cover the v1 backend\n";
        let _ = std::io::stderr().write_all(message.as_bytes());
        return None;
    }
    Some((guard, cgroups))
}

/// Starts `sh -c script` with the script blocked until `release` writes a line to its
/// stdin, so that it can join a cgroup before doing anything.
fn spawn_held(script: &str) -> Child {
    Command::new("sh")
        .arg("-c")
        .arg(format!("read _ready; {script}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sh starts")
}

fn release(child: &mut Child) {
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
}

fn start_in(run: &RunCgroup, script: &str) -> Child {
    let mut child = spawn_held(script);
    run.add_process(child.id() as i32)
        .expect("process joins the run cgroup");
    release(&mut child);
    child
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file))
        .unwrap_or_else(|error| panic!("{}/{file}: {error}", dir.display()))
}

fn dir_with(run: &RunCgroup, file: &str) -> PathBuf {
    run.paths
        .iter()
        .find(|dir| dir.join(file).exists())
        .cloned()
        .unwrap_or_else(|| panic!("no cgroup has {file}"))
}

fn procs(run: &RunCgroup) -> Vec<i32> {
    let mut pids: Vec<i32> = run
        .paths
        .iter()
        .flat_map(|dir| {
            read(dir, "cgroup.procs")
                .lines()
                .map(|line| line.parse().unwrap())
                .collect::<Vec<i32>>()
        })
        .collect();
    pids.sort_unstable();
    pids.dedup();
    pids
}

fn process_gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .unwrap()
            .trim_start()
            .starts_with('Z'),
    }
}

#[test]
fn limits_written_and_process_joins() {
    let Some((_guard, cgroups)) = setup() else {
        return;
    };
    let settings = RunCgroupSettings {
        memory_limit: Some(100 * MIB),
        cpus: Some(vec![0]),
        memory_nodes: Some(vec![0]),
        pids_max: Some(50),
    };
    let run = cgroups.create_run("limits/test run", &settings).unwrap();

    let memory = dir_with(&run, "memory.limit_in_bytes");
    assert_eq!(
        read(&memory, "memory.limit_in_bytes").trim(),
        (100 * MIB).to_string()
    );
    assert_eq!(
        read(&memory, "memory.memsw.limit_in_bytes").trim(),
        (100 * MIB).to_string()
    );
    assert_eq!(read(&dir_with(&run, "pids.max"), "pids.max").trim(), "50");
    let cpuset = dir_with(&run, "cpuset.cpus");
    assert_eq!(read(&cpuset, "cpuset.cpus").trim(), "0");
    assert_eq!(read(&cpuset, "cpuset.mems").trim(), "0");
    assert!(run.paths.iter().all(|dir| {
        dir.file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .ends_with("-limits_test_run")
    }));

    let mut child = start_in(&run, "sleep 30");
    for dir in &run.paths {
        assert!(
            read(dir, "cgroup.procs")
                .lines()
                .any(|line| line == child.id().to_string()),
            "{}",
            dir.display()
        );
    }

    let paths = run.paths.clone();
    run.remove().unwrap();
    child.wait().unwrap();
    for dir in &paths {
        assert!(!dir.exists(), "{} still exists", dir.display());
    }

    drop(cgroups);
    for dir in &paths {
        let parent = dir.parent().unwrap();
        assert!(!parent.exists(), "{} still exists", parent.display());
    }
}

#[test]
fn rejected_cpuset_is_an_error() {
    let Some((_guard, cgroups)) = setup() else {
        return;
    };
    let settings = RunCgroupSettings {
        cpus: Some(vec![4000]),
        ..RunCgroupSettings::default()
    };

    let error = cgroups.create_run("badcpu", &settings).unwrap_err();

    let message = error.to_string();
    assert!(message.contains("cpuset.cpus"), "{message}");
    assert!(message.contains("`4000`"), "{message}");
    assert!(message.contains("os error"), "{message}");
    let own_cpuset = cgroups.available_cpus();
    assert!(!own_cpuset.contains(&4000));
    let leftovers: Vec<PathBuf> = ["cpuset", "memory", "pids", "cpuacct", "freezer"]
        .iter()
        .flat_map(|controller| glob_run_dirs(controller, "badcpu"))
        .collect();
    assert!(leftovers.is_empty(), "left behind: {leftovers:?}");
}

/// Lists the run cgroups named `*-<name>` below any `cellrun-<pid>` of this process in the
/// hierarchy mounted at `/sys/fs/cgroup/<controller>`.
fn glob_run_dirs(controller: &str, name: &str) -> Vec<PathBuf> {
    let parent_name = format!("cellrun-{}", std::process::id());
    walkdir::WalkDir::new(Path::new("/sys/fs/cgroup").join(controller))
        .into_iter()
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_dir())
        .filter(|entry| {
            let parent_matches =
                entry.path().parent().and_then(Path::file_name) == Some(parent_name.as_ref());
            parent_matches
                && entry
                    .file_name()
                    .to_string_lossy()
                    .ends_with(&format!("-{name}"))
        })
        .map(|entry| entry.into_path())
        .collect()
}

#[test]
fn no_limits_leaves_defaults() {
    let Some((_guard, cgroups)) = setup() else {
        return;
    };
    let run = cgroups
        .create_run("defaults", &RunCgroupSettings::default())
        .unwrap();

    let memory = dir_with(&run, "memory.limit_in_bytes");
    assert!(
        read(&memory, "memory.limit_in_bytes")
            .trim()
            .parse::<u64>()
            .unwrap()
            > 1 << 62
    );
    assert_eq!(read(&dir_with(&run, "pids.max"), "pids.max").trim(), "max");
    let cpuset = dir_with(&run, "cpuset.cpus");
    let parent_cpus = read(cpuset.parent().unwrap(), "cpuset.cpus");
    assert_eq!(read(&cpuset, "cpuset.cpus"), parent_cpus);
    run.remove().unwrap();
}

#[test]
fn memory_hog_is_oom_killed() {
    let Some((_guard, cgroups)) = setup() else {
        return;
    };
    let limit = 100 * MIB;
    let settings = RunCgroupSettings {
        memory_limit: Some(limit),
        ..RunCgroupSettings::default()
    };
    let run = cgroups.create_run("oom", &settings).unwrap();

    let mut child = start_in(
        &run,
        "exec python3 -c 'b = bytearray(400_000_000); print(len(b))'",
    );
    let status = child.wait().unwrap();

    assert_eq!(
        status.signal(),
        Some(libc::SIGKILL),
        "tool not OOM-killed: {status:?}"
    );
    assert!(run.oom_kills().unwrap() >= 1);
    let peak = run.memory_peak().unwrap().expect("v1 records a peak");
    assert!(peak >= limit * 9 / 10, "peak {peak} below 90% of {limit}");
    assert!(peak <= limit + MIB, "peak {peak} above the limit {limit}");
    run.remove().unwrap();
}

#[test]
fn busy_loop_cpu_time_grows() {
    let Some((_guard, cgroups)) = setup() else {
        return;
    };
    let run = cgroups
        .create_run("busy", &RunCgroupSettings::default())
        .unwrap();
    let before = run.cpu_time().unwrap();

    // The loop runs until the process has used 0.5 s of CPU time, however busy the machine.
    let script = "exec python3 -c 'import time\nwhile time.process_time() < 0.5: pass'";
    let mut child = start_in(&run, script);
    assert!(child.wait().unwrap().success());

    let total = run.cpu_time().unwrap();
    assert!(
        before < Duration::from_millis(50),
        "fresh cgroup starts at {before:?}"
    );
    assert!(
        total >= Duration::from_millis(500),
        "cpu time {total:?} after a loop that used 0.5 s"
    );
    let per_cpu: Duration = run
        .cpu_time_per_cpu()
        .unwrap()
        .iter()
        .map(|(_, time)| *time)
        .sum();
    assert!(
        per_cpu.abs_diff(total) < Duration::from_millis(50),
        "per-CPU sum {per_cpu:?} vs total {total:?}"
    );
    run.remove().unwrap();
}

#[test]
fn pids_limit_stops_forks() {
    let Some((_guard, cgroups)) = setup() else {
        return;
    };
    let settings = RunCgroupSettings {
        pids_max: Some(5),
        ..RunCgroupSettings::default()
    };
    let run = cgroups.create_run("forks", &settings).unwrap();

    // The shell exits at the first failed fork; the sleeps started before it stay.
    let mut child = start_in(
        &run,
        "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 30 & done; wait",
    );
    let status = child.wait().unwrap();

    assert!(!status.success(), "all ten forks succeeded");
    assert!(
        procs(&run).len() <= 5,
        "{} processes despite pids.max 5",
        procs(&run).len()
    );
    let events = read(&dir_with(&run, "pids.events"), "pids.events");
    assert_ne!(events.trim(), "max 0", "the kernel rejected no fork");

    run.kill_all().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(
        stderr.to_lowercase().contains("fork"),
        "shell reported no failed fork: {stderr}"
    );
    run.remove().unwrap();
}

#[test]
fn kill_all_kills_setsid_daemon() {
    let Some((_guard, cgroups)) = setup() else {
        return;
    };
    let run = cgroups
        .create_run("daemon", &RunCgroupSettings::default())
        .unwrap();

    let mut child = start_in(
        &run,
        "setsid sleep 300 </dev/null >/dev/null 2>&1 & echo $!",
    );
    let mut output = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut output)
        .unwrap();
    child.wait().unwrap();
    let daemon: i32 = output.trim().parse().unwrap();
    assert!(
        procs(&run).contains(&daemon),
        "daemon {daemon} not in the cgroup"
    );

    run.kill_all().unwrap();

    assert!(procs(&run).is_empty());
    assert!(process_gone(daemon), "daemon {daemon} survived");
    run.remove().unwrap();
}

#[test]
fn dropped_run_cgroup_removed() {
    let Some((_guard, cgroups)) = setup() else {
        return;
    };
    let run = cgroups
        .create_run("dropped", &RunCgroupSettings::default())
        .unwrap();
    let mut child = start_in(&run, "sleep 30");
    let paths = run.paths.clone();

    drop(run);

    child.wait().unwrap();
    assert!(paths.iter().all(|dir| !dir.exists()));
}

#[test]
fn sweep_removes_dead_owner_cgroups() {
    let Some((_guard, cgroups)) = setup() else {
        return;
    };
    let run = cgroups
        .create_run("sweep", &RunCgroupSettings::default())
        .unwrap();
    let own_parents: Vec<PathBuf> = run
        .paths
        .iter()
        .map(|dir| dir.parent().unwrap().to_path_buf())
        .collect();

    let mut dead = Command::new("true").spawn().unwrap();
    dead.wait().unwrap();
    let stale_name = format!("cellrun-{}", dead.id());
    let stale: Vec<PathBuf> = own_parents
        .iter()
        .map(|parent| parent.parent().unwrap().join(&stale_name))
        .collect();
    for dir in &stale {
        std::fs::create_dir_all(dir.join("1-left")).unwrap();
    }
    let cpuset = stale
        .iter()
        .find(|dir| dir.join("cpuset.cpus").exists())
        .unwrap();
    for dir in [cpuset.clone(), cpuset.join("1-left")] {
        std::fs::write(dir.join("cpuset.cpus"), "0").unwrap();
        std::fs::write(dir.join("cpuset.mems"), "0").unwrap();
    }
    let mut orphan = spawn_held("sleep 30");
    for dir in &stale {
        std::fs::write(dir.join("1-left/cgroup.procs"), orphan.id().to_string()).unwrap();
    }
    release(&mut orphan);
    // A cellrun killed during kill_all leaves its run frozen.
    let freezer = stale
        .iter()
        .find(|dir| dir.join("freezer.state").exists())
        .unwrap();
    std::fs::write(freezer.join("1-left/freezer.state"), "FROZEN").unwrap();

    let removed = cgroups.sweep_stale().unwrap();

    orphan.wait().unwrap();
    for dir in &stale {
        assert!(removed.contains(dir), "{} not reported", dir.display());
        assert!(!dir.exists(), "{} still exists", dir.display());
    }
    assert!(
        own_parents.iter().all(|dir| dir.exists()),
        "the live cgroup of this process was swept"
    );
    run.remove().unwrap();
}

#[test]
fn own_cpus_and_memory_visible() {
    let Some((_guard, cgroups)) = setup() else {
        return;
    };
    let online = std::fs::read_to_string("/sys/devices/system/cpu/online").unwrap();
    let cpus = cgroups.available_cpus();
    assert!(!cpus.is_empty());
    assert!(cpus.iter().all(|cpu| *cpu < 4096));
    assert!(!online.trim().is_empty());
    assert!(!cgroups.available_memory_nodes().is_empty());
    assert!(
        cgroups
            .require(&cellrun::cgroup::Needs {
                memory: true,
                cpus: true,
                pids: true
            })
            .is_ok()
    );
}

//! The cgroup v2 backend against the real kernel, in a cgroup2 hierarchy of this machine.
//!
//! On a hybrid system the cgroup2 mount has few controllers, so these tests cover what
//! needs none: creation, joining, `cpu.stat`, `cgroup.kill`, removal and the error for a
//! missing controller. They need root and skip loudly otherwise.

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use cellrun::cgroup::{CgroupError, Cgroups, Needs, RunCgroup, RunCgroupSettings, Version};

/// A test cgroup directly below the cgroup2 mount, removed on drop, that plays the role of
/// the cgroup cellrun was started in.
struct TestCgroup {
    mount_point: PathBuf,
    dir: PathBuf,
}

impl TestCgroup {
    fn create(name: &str) -> Option<TestCgroup> {
        let mount_point = cgroup2_mount()?;
        let dir = mount_point.join(format!("cellrun-test-{name}-{}", std::process::id()));
        std::fs::create_dir(&dir).unwrap();
        Some(TestCgroup { mount_point, dir })
    }

    fn cgroups(&self) -> Cgroups {
        Cgroups::v2_at(self.mount_point.clone(), self.dir.clone())
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.dir);
    }
}

fn cgroup2_mount() -> Option<PathBuf> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let line = mountinfo
        .lines()
        .find(|line| line.contains(" - cgroup2 "))?;
    line.split(' ').nth(4).map(PathBuf::from)
}

/// Returns the test cgroup, or `None` with a SKIP line when the test cannot run here.
#[track_caller]
fn setup(name: &str) -> Option<TestCgroup> {
    if !common::require_root() {
        return None;
    }
    let cgroup = TestCgroup::create(name);
    if cgroup.is_none() {
        let message = "SKIP: no cgroup2 hierarchy is mounted on this machine\n";
        let _ = std::io::stderr().write_all(message.as_bytes());
    }
    cgroup
}

fn start_in(run: &RunCgroup, script: &str) -> Child {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("read _ready; {script}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sh starts");
    run.add_process(child.id() as i32).unwrap();
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    child
}

fn procs(dir: &Path) -> Vec<i32> {
    let text = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap();
    text.lines().map(|line| line.parse().unwrap()).collect()
}

#[test]
fn run_joins_measures_and_is_removed() {
    let Some(test_cgroup) = setup("measure") else {
        return;
    };
    let cgroups = test_cgroup.cgroups();
    assert_eq!(cgroups.version(), Version::V2);
    let run = cgroups
        .create_run("busy", &RunCgroupSettings::default())
        .unwrap();
    let dir = run.paths[0].clone();

    let script = "exec python3 -c 'import time\nwhile time.process_time() < 0.3: pass'";
    let mut child = start_in(&run, script);
    assert!(procs(&dir).contains(&(child.id() as i32)));
    assert!(child.wait().unwrap().success());

    let cpu_time = run.cpu_time().unwrap();
    assert!(
        cpu_time >= Duration::from_millis(300),
        "cpu time {cpu_time:?}"
    );
    assert_eq!(run.cpu_time_per_cpu().unwrap(), Vec::new());
    run.remove().unwrap();
    assert!(!dir.exists());

    let parent = dir.parent().unwrap().to_path_buf();
    drop(cgroups);
    assert!(!parent.exists(), "{} left behind", parent.display());
}

#[test]
fn kill_all_uses_cgroup_kill() {
    let Some(test_cgroup) = setup("kill") else {
        return;
    };
    let cgroups = test_cgroup.cgroups();
    let run = cgroups
        .create_run("daemon", &RunCgroupSettings::default())
        .unwrap();
    let dir = run.paths[0].clone();
    if !dir.join("cgroup.kill").exists() {
        let message = "SKIP: this kernel has no cgroup.kill (Linux 5.14 and later)\n";
        let _ = std::io::stderr().write_all(message.as_bytes());
        return;
    }

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
        procs(&dir).contains(&daemon),
        "daemon {daemon} not in the cgroup"
    );

    run.kill_all().unwrap();

    assert!(procs(&dir).is_empty());
    run.remove().unwrap();
}

#[test]
fn missing_controller_reported() {
    let Some(test_cgroup) = setup("require") else {
        return;
    };
    let controllers = std::fs::read_to_string(test_cgroup.dir.join("cgroup.controllers")).unwrap();
    if controllers.split_whitespace().any(|name| name == "pids") {
        let message = "SKIP: the pids controller is available here, so it cannot be missing\n";
        let _ = std::io::stderr().write_all(message.as_bytes());
        return;
    }
    let cgroups = test_cgroup.cgroups();

    let needs = Needs {
        pids: true,
        ..Needs::default()
    };
    let error = cgroups.require(&needs).unwrap_err();

    let message = error.to_string();
    assert!(
        matches!(
            error,
            CgroupError::MissingController {
                controller: "pids",
                ..
            }
        ),
        "{message}"
    );
    assert!(message.contains("cgroup.subtree_control"), "{message}");
    let settings = RunCgroupSettings {
        pids_max: Some(10),
        ..RunCgroupSettings::default()
    };
    assert!(cgroups.create_run("pids", &settings).is_err());
}

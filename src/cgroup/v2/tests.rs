//! The v2 backend against a fixture: a tree of plain files in a temporary directory, laid
//! out as a cgroup2 mount would be. `fake_create` writes the control files the kernel
//! would create, so the tests check what the backend writes and how it reads the files.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use super::setup::{SELF_LEAF, delegation_error};
use super::{DirOps, V2Cgroups};
use crate::cgroup::error::CgroupError;
use crate::cgroup::{Needs, RunCgroupSettings, names};

const MIB: u64 = 1024 * 1024;

const FAKE_OPS: DirOps = DirOps {
    create: fake_create,
    remove: fake_remove,
};

/// Creates a cgroup directory with the control files of the controllers that its parent's
/// `cgroup.subtree_control` enables.
fn fake_create(dir: &Path) -> io::Result<()> {
    fs::create_dir(dir)?;
    let parent = dir.parent().unwrap();
    let enabled = fs::read_to_string(parent.join("cgroup.subtree_control")).unwrap_or_default();
    let controllers: Vec<String> = enabled
        .split_whitespace()
        .map(|name| name.trim_start_matches('+').to_string())
        .collect();
    let has = |name: &str| controllers.iter().any(|controller| controller == name);

    let mut files = vec![
        ("cgroup.controllers", controllers.join(" ")),
        ("cgroup.type", "domain\n".to_string()),
        ("cgroup.subtree_control", String::new()),
        ("cgroup.procs", String::new()),
        ("cgroup.events", "populated 0\nfrozen 0\n".to_string()),
        ("cgroup.freeze", "0\n".to_string()),
        ("cgroup.kill", String::new()),
        (
            "cpu.stat",
            "usage_usec 0\nuser_usec 0\nsystem_usec 0\n".to_string(),
        ),
    ];
    if has("memory") {
        files.extend([
            ("memory.max", "max\n".to_string()),
            ("memory.swap.max", "max\n".to_string()),
            ("memory.peak", "0\n".to_string()),
            ("memory.swap.peak", "0\n".to_string()),
            ("memory.oom.group", "0\n".to_string()),
            (
                "memory.events",
                "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n".to_string(),
            ),
        ]);
    }
    if has("pids") {
        files.push(("pids.max", "max\n".to_string()));
    }
    if has("cpuset") {
        let effective_cpus =
            fs::read_to_string(parent.join("cpuset.cpus.effective")).unwrap_or_default();
        let effective_mems =
            fs::read_to_string(parent.join("cpuset.mems.effective")).unwrap_or_default();
        files.extend([
            ("cpuset.cpus", String::new()),
            ("cpuset.mems", String::new()),
            ("cpuset.cpus.effective", effective_cpus),
            ("cpuset.mems.effective", effective_mems),
        ]);
    }
    for (name, content) in files {
        fs::write(dir.join(name), content)?;
    }
    Ok(())
}

/// Removes a cgroup directory like `rmdir(2)` on cgroupfs: its control files go with it,
/// but a child cgroup makes it fail.
fn fake_remove(dir: &Path) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        if entry?.file_type()?.is_dir() {
            return Err(io::Error::from_raw_os_error(libc::ENOTEMPTY));
        }
    }
    fs::remove_dir_all(dir)
}

struct Fixture {
    _temp: TempDir,
    root: PathBuf,
    own: PathBuf,
}

/// Builds a cgroup2 mount whose root enables cpuset, memory and pids, with cellrun's cgroup
/// `job.scope` below it containing the processes `own_procs`.
fn fixture(own_procs: &str) -> Fixture {
    let temp = tempfile::tempdir().unwrap();
    let root = temp.path().to_path_buf();
    for (name, content) in [
        ("cgroup.controllers", "cpuset cpu io memory hugetlb pids\n"),
        ("cgroup.subtree_control", "cpuset memory pids\n"),
        ("cgroup.procs", "1\n"),
        ("cpuset.cpus.effective", "0-3\n"),
        ("cpuset.mems.effective", "0\n"),
        ("cpu.stat", "usage_usec 0\n"),
    ] {
        fs::write(root.join(name), content).unwrap();
    }
    let own = root.join("job.scope");
    fake_create(&own).unwrap();
    fs::write(own.join("cgroup.procs"), own_procs).unwrap();
    Fixture {
        _temp: temp,
        root,
        own,
    }
}

impl Fixture {
    fn cgroups(&self) -> V2Cgroups {
        V2Cgroups::new(self.root.clone(), self.own.clone(), false, FAKE_OPS)
    }

    fn parent(&self) -> PathBuf {
        self.own.join(names::parent_name())
    }
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

fn own_pid() -> String {
    std::process::id().to_string()
}

#[test]
fn first_run_moves_self_into_leaf() {
    let fixture = fixture(&format!("{}\n", own_pid()));
    let cgroups = fixture.cgroups();

    let run = cgroups
        .create_run("first", &RunCgroupSettings::default())
        .unwrap();

    let leaf = fixture.parent().join(SELF_LEAF);
    assert_eq!(read(&leaf.join("cgroup.procs")), own_pid());
    assert_eq!(
        read(&fixture.own.join("cgroup.subtree_control")),
        "+cpuset +memory +pids"
    );
    assert_eq!(
        read(&fixture.parent().join("cgroup.subtree_control")),
        "+cpuset +memory +pids"
    );
    assert_eq!(run.dir().parent().unwrap(), fixture.parent());
    assert!(
        run.dir().join("memory.max").exists(),
        "run cgroup lacks the memory controller"
    );
}

#[test]
fn empty_own_cgroup_not_left() {
    let fixture = fixture("");
    let cgroups = fixture.cgroups();

    cgroups
        .create_run("empty", &RunCgroupSettings::default())
        .unwrap();

    assert!(!fixture.parent().join(SELF_LEAF).exists());
    assert_eq!(
        read(&fixture.own.join("cgroup.subtree_control")),
        "+cpuset +memory +pids"
    );
}

#[test]
fn root_cgroup_never_left() {
    let fixture = fixture("");
    let cgroups = V2Cgroups::new(fixture.root.clone(), fixture.root.clone(), false, FAKE_OPS);

    cgroups
        .create_run("root", &RunCgroupSettings::default())
        .unwrap();

    let parent = fixture.root.join(names::parent_name());
    assert!(!parent.join(SELF_LEAF).exists());
    assert_eq!(
        read(&fixture.root.join("cgroup.subtree_control")),
        "cpuset memory pids\n"
    );
    assert_eq!(
        read(&parent.join("cgroup.subtree_control")),
        "+cpuset +memory +pids"
    );
}

#[test]
fn namespace_root_left_like_any_cgroup() {
    let fixture = fixture("");
    // Inside a cgroup namespace, cellrun's cgroup is the mount root but still has
    // cgroup.type, and the no-internal-process rule applies to it.
    fs::write(fixture.root.join("cgroup.type"), "domain\n").unwrap();
    fs::write(fixture.root.join("cgroup.subtree_control"), "").unwrap();
    fs::write(
        fixture.root.join("cgroup.procs"),
        format!("{}\n", own_pid()),
    )
    .unwrap();
    fs::write(
        fixture.root.join("cgroup.controllers"),
        "cpuset memory pids\n",
    )
    .unwrap();
    let cgroups = V2Cgroups::new(fixture.root.clone(), fixture.root.clone(), false, FAKE_OPS);

    cgroups
        .create_run("namespace", &RunCgroupSettings::default())
        .unwrap();

    let parent = fixture.root.join(names::parent_name());
    assert_eq!(
        read(&parent.join(SELF_LEAF).join("cgroup.procs")),
        own_pid()
    );
    assert_eq!(
        read(&fixture.root.join("cgroup.subtree_control")),
        "+cpuset +memory +pids"
    );
}

#[test]
fn second_run_reuses_parent() {
    let fixture = fixture(&own_pid());
    let cgroups = fixture.cgroups();

    let first = cgroups
        .create_run("same", &RunCgroupSettings::default())
        .unwrap();
    let second = cgroups
        .create_run("same", &RunCgroupSettings::default())
        .unwrap();

    assert_ne!(first.dir(), second.dir());
    assert_eq!(first.dir().parent(), second.dir().parent());
}

#[test]
fn limits_written() {
    let fixture = fixture(&own_pid());
    let cgroups = fixture.cgroups();
    let settings = RunCgroupSettings {
        memory_limit: Some(100 * MIB),
        cpus: Some(vec![1, 2]),
        memory_nodes: Some(vec![0]),
        pids_max: Some(64),
    };

    let run = cgroups.create_run("limits", &settings).unwrap();

    let dir = run.dir();
    assert_eq!(read(&dir.join("memory.max")), (100 * MIB).to_string());
    assert_eq!(read(&dir.join("memory.swap.max")), "0");
    assert_eq!(read(&dir.join("memory.oom.group")), "0\n");
    assert_eq!(read(&dir.join("pids.max")), "64");
    assert_eq!(read(&dir.join("cpuset.cpus")), "1-2");
    assert_eq!(read(&dir.join("cpuset.mems")), "0");
}

#[test]
fn no_limits_leave_defaults() {
    let fixture = fixture(&own_pid());
    let run = fixture
        .cgroups()
        .create_run("defaults", &RunCgroupSettings::default())
        .unwrap();

    let dir = run.dir();
    assert_eq!(read(&dir.join("memory.max")), "max\n");
    assert_eq!(read(&dir.join("memory.swap.max")), "max\n");
    assert_eq!(read(&dir.join("pids.max")), "max\n");
    assert_eq!(read(&dir.join("cpuset.cpus")), "");
}

#[test]
fn add_process_writes_pid() {
    let fixture = fixture(&own_pid());
    let run = fixture
        .cgroups()
        .create_run("join", &RunCgroupSettings::default())
        .unwrap();

    run.add_process(4321).unwrap();

    assert_eq!(read(&run.dir().join("cgroup.procs")), "4321");
}

#[test]
fn measurements_read_from_files() {
    let fixture = fixture(&own_pid());
    let run = fixture
        .cgroups()
        .create_run("measure", &RunCgroupSettings::default())
        .unwrap();
    let dir = run.dir();
    fs::write(
        dir.join("cpu.stat"),
        "usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\n",
    )
    .unwrap();
    fs::write(dir.join("memory.peak"), "1000\n").unwrap();
    fs::write(dir.join("memory.swap.peak"), "24\n").unwrap();
    fs::write(
        dir.join("memory.events"),
        "low 0\nhigh 0\nmax 7\noom 3\noom_kill 2\noom_group_kill 0\n",
    )
    .unwrap();

    assert_eq!(run.cpu_time().unwrap(), Duration::from_millis(1500));
    assert_eq!(run.memory_peak().unwrap(), Some(1024));
    assert_eq!(run.oom_kills().unwrap(), 2);
}

#[test]
fn memory_peak_without_swap_or_file() {
    let fixture = fixture(&own_pid());
    let run = fixture
        .cgroups()
        .create_run("peak", &RunCgroupSettings::default())
        .unwrap();
    fs::write(run.dir().join("memory.peak"), "4096\n").unwrap();
    fs::remove_file(run.dir().join("memory.swap.peak")).unwrap();

    assert_eq!(run.memory_peak().unwrap(), Some(4096));

    fs::remove_file(run.dir().join("memory.peak")).unwrap();
    assert_eq!(run.memory_peak().unwrap(), None);
}

#[test]
fn malformed_cpu_stat_is_an_error() {
    let fixture = fixture(&own_pid());
    let run = fixture
        .cgroups()
        .create_run("broken", &RunCgroupSettings::default())
        .unwrap();
    fs::write(run.dir().join("cpu.stat"), "user_usec 5\n").unwrap();

    let error = run.cpu_time().unwrap_err();

    assert!(matches!(error, CgroupError::Parse { .. }), "{error}");
    assert!(error.to_string().contains("cpu.stat"), "{error}");
}

#[test]
fn missing_controller_names_fix() {
    let fixture = fixture("");
    fs::write(fixture.own.join("cgroup.controllers"), "cpuset pids").unwrap();
    let cgroups = fixture.cgroups();

    let error = cgroups
        .require(&Needs {
            memory: true,
            ..Needs::default()
        })
        .unwrap_err();

    let message = error.to_string();
    assert!(
        matches!(
            error,
            CgroupError::MissingController {
                controller: "memory",
                ..
            }
        ),
        "{message}"
    );
    assert!(
        message.contains(
            &fixture
                .root
                .join("cgroup.subtree_control")
                .display()
                .to_string()
        ),
        "{message}"
    );
    assert!(message.contains("Delegate=yes"), "{message}");
    assert!(
        cgroups
            .require(&Needs {
                cpus: true,
                pids: true,
                ..Needs::default()
            })
            .is_ok()
    );
}

#[test]
fn memory_limit_rejected_when_swap_unlimitable() {
    let fixture = fixture("");
    fs::remove_file(fixture.own.join("memory.swap.max")).unwrap();
    let cgroups = V2Cgroups::new(fixture.root.clone(), fixture.own.clone(), true, FAKE_OPS);

    let settings = RunCgroupSettings {
        memory_limit: Some(MIB),
        ..RunCgroupSettings::default()
    };
    let error = cgroups.create_run("swap", &settings).unwrap_err();

    assert!(
        matches!(error, CgroupError::SwapNotLimited { .. }),
        "{error}"
    );
}

/// Creates a cgroup like `fake_create`, but a run cgroup's `pids.max` rejects every write
/// (it points to `/dev/full`, where writes fail with ENOSPC).
fn create_rejecting_pids_max(dir: &Path) -> io::Result<()> {
    fake_create(dir)?;
    let is_run = dir
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with(|c: char| c.is_ascii_digit());
    if is_run {
        fs::remove_file(dir.join("pids.max"))?;
        std::os::unix::fs::symlink("/dev/full", dir.join("pids.max"))?;
    }
    Ok(())
}

#[test]
fn rejected_limit_write_is_an_error() {
    let fixture = fixture(&own_pid());
    let ops = DirOps {
        create: create_rejecting_pids_max,
        remove: fake_remove,
    };
    let cgroups = V2Cgroups::new(fixture.root.clone(), fixture.own.clone(), false, ops);

    let settings = RunCgroupSettings {
        pids_max: Some(10),
        ..RunCgroupSettings::default()
    };
    let error = cgroups.create_run("rejected", &settings).unwrap_err();

    let message = error.to_string();
    assert!(matches!(error, CgroupError::Write { .. }), "{message}");
    assert!(message.contains("pids.max"), "{message}");
    assert!(message.contains("`10`"), "{message}");
    assert!(message.contains("os error 28"), "{message}");
    let runs_left = fs::read_dir(fixture.parent())
        .unwrap()
        .flatten()
        .filter(|entry| entry.file_type().unwrap().is_dir() && entry.file_name() != SELF_LEAF)
        .count();
    assert_eq!(runs_left, 0, "the failed run's cgroup was left behind");
}

#[test]
fn delegation_errors_name_fix() {
    let own = Path::new("/sys/fs/cgroup/job.scope");
    let control = own.join("cgroup.subtree_control");
    let cases = [
        (
            libc::EBUSY,
            "other processes are in /sys/fs/cgroup/job.scope",
        ),
        (libc::ENOENT, "not available to /sys/fs/cgroup/job.scope"),
        (libc::EOPNOTSUPP, "not available to"),
        (libc::EACCES, "Delegate=yes"),
    ];
    for (errno, expected) in cases {
        let error = delegation_error(
            control.clone(),
            &["memory"],
            io::Error::from_raw_os_error(errno),
            own,
        );
        let message = error.to_string();
        assert!(message.contains(expected), "errno {errno}: {message}");
        assert!(
            message.contains("cgroup.subtree_control"),
            "errno {errno}: {message}"
        );
        assert!(message.contains("memory"), "errno {errno}: {message}");
    }
}

#[test]
fn kill_all_writes_cgroup_kill() {
    let fixture = fixture(&own_pid());
    let run = fixture
        .cgroups()
        .create_run("kill", &RunCgroupSettings::default())
        .unwrap();
    let mut child = Command::new("sleep")
        .arg("30")
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    run.add_process(child.id() as i32).unwrap();

    // The fixture cannot kill, so the pid stays listed and kill_all must report it.
    let error = run.kill_all().unwrap_err();

    assert_eq!(read(&run.dir().join("cgroup.kill")), "1");
    assert!(
        matches!(&error, CgroupError::NotEmpty { pids, .. } if pids == &[child.id() as i32]),
        "{error}"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn kill_all_without_cgroup_kill_freezes() {
    use std::os::unix::process::ExitStatusExt;

    let fixture = fixture(&own_pid());
    let run = fixture
        .cgroups()
        .create_run("freeze", &RunCgroupSettings::default())
        .unwrap();
    fs::remove_file(run.dir().join("cgroup.kill")).unwrap();
    let mut child = Command::new("sleep")
        .arg("30")
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    run.add_process(child.id() as i32).unwrap();

    let result = run.kill_all();

    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    assert_eq!(read(&run.dir().join("cgroup.freeze")), "0");
    assert!(
        matches!(result, Err(CgroupError::NotEmpty { .. })),
        "{result:?}"
    );
}

#[test]
fn remove_and_drop_undo_setup() {
    let fixture = fixture(&own_pid());
    let cgroups = fixture.cgroups();
    let run = cgroups
        .create_run("remove", &RunCgroupSettings::default())
        .unwrap();
    let dir = run.dir().to_path_buf();

    run.remove().unwrap();
    assert!(!dir.exists());

    drop(cgroups);
    assert!(!fixture.parent().exists(), "cellrun-<pid> left behind");
    assert_eq!(read(&fixture.own.join("cgroup.procs")), own_pid());
    assert_eq!(
        read(&fixture.own.join("cgroup.subtree_control")),
        "-cpuset -memory -pids"
    );
}

#[test]
fn own_memory_limit_smallest_ancestor() {
    let fixture = fixture("");
    let inner = fixture.own.join("inner");
    fake_create(&inner).unwrap();
    fs::write(fixture.own.join("memory.max"), format!("{}\n", 2048 * MIB)).unwrap();
    fs::write(inner.join("memory.max"), "max\n").unwrap();

    let cgroups = V2Cgroups::new(fixture.root.clone(), inner.clone(), false, FAKE_OPS);
    assert_eq!(cgroups.own_memory_limit(), Some(2048 * MIB));

    fs::write(fixture.own.join("memory.max"), "max\n").unwrap();
    assert_eq!(cgroups.own_memory_limit(), None);
}

#[test]
fn available_cpus_from_effective_cpuset() {
    let fixture = fixture("");
    let cgroups = fixture.cgroups();
    assert_eq!(cgroups.available_cpus(), Some(vec![0, 1, 2, 3]));
    assert_eq!(cgroups.available_memory_nodes(), Some(vec![0]));

    fs::remove_file(fixture.own.join("cpuset.cpus.effective")).unwrap();
    assert_eq!(
        cgroups.available_cpus(),
        Some(vec![0, 1, 2, 3]),
        "root's cpuset not used"
    );
}

#[test]
fn sweep_removes_dead_parent() {
    let fixture = fixture("");
    let cgroups = fixture.cgroups();
    let stale = fixture.own.join(format!("cellrun-{}", i32::MAX));
    fake_create(&stale).unwrap();
    fake_create(&stale.join("1-left")).unwrap();

    let removed = cgroups.sweep_stale().unwrap();

    assert_eq!(removed, vec![stale.clone()]);
    assert!(!stale.exists());
}

#[test]
fn failed_delegation_undoes_move() {
    let fixture = fixture("4242\n");
    // Writes to /proc/version fail with EIO, as a rejected write to cgroupfs would fail.
    let own_control = fixture.own.join("cgroup.subtree_control");
    fs::remove_file(&own_control).unwrap();
    std::os::unix::fs::symlink("/proc/version", &own_control).unwrap();
    let cgroups = fixture.cgroups();

    let error = cgroups
        .create_run("busy", &RunCgroupSettings::default())
        .unwrap_err();

    let message = error.to_string();
    assert!(matches!(error, CgroupError::Delegation { .. }), "{message}");
    assert!(message.contains("cgroup.subtree_control"), "{message}");
    assert!(message.contains("os error 5"), "{message}");
    assert_eq!(
        read(&fixture.own.join("cgroup.procs")),
        own_pid(),
        "cellrun not moved back"
    );
    assert!(!fixture.parent().exists(), "cellrun-<pid> left behind");
}

#[test]
fn kill_all_without_freezer_signals() {
    use std::os::unix::process::ExitStatusExt;

    let fixture = fixture(&own_pid());
    let run = fixture
        .cgroups()
        .create_run("nofreeze", &RunCgroupSettings::default())
        .unwrap();
    fs::remove_file(run.dir().join("cgroup.kill")).unwrap();
    fs::remove_file(run.dir().join("cgroup.freeze")).unwrap();
    let mut child = Command::new("sleep")
        .arg("30")
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    run.add_process(child.id() as i32).unwrap();

    let result = run.kill_all();

    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    assert!(
        matches!(result, Err(CgroupError::NotEmpty { .. })),
        "{result:?}"
    );
}

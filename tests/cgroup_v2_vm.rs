//! cellrun on a pure cgroup v2 system, as root and as a normal user with a delegated cgroup:
//! limits, measurement, dir modes, delegation.
//!
//! Machines whose controllers sit on cgroup v1 cannot test the v2 backend, so these tests do
//! their work only inside the VM of `tests/vm/run-in-v2-vm.sh`, which sets
//! `CELLRUN_IN_V2_VM=1`. Elsewhere each test prints a SKIP line and returns.
//! `scripts/test-v2-vm.sh` runs the binary in the VM and fails unless every test passed there.
//!
//! Each test starts the real `cellrun` binary in a fresh cgroup below the root that receives
//! every controller and contains no other process, as `systemd-run --scope -p Delegate=yes`
//! would give it. The kernel's own counters in that cgroup (`memory.events`, `cpu.stat`)
//! include its removed descendants, so they confirm what cellrun reported. Timing under
//! qemu's software emulation varies by about half a second, hence the generous upper bounds.

use std::io::Write;
use std::os::unix::fs::chown;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

const CELLRUN: &str = env!("CARGO_BIN_EXE_cellrun");
const CGROUP_ROOT: &str = "/sys/fs/cgroup";
const MIB: u64 = 1024 * 1024;
const BUSY_LOOP: &[&str] = &["sh", "-c", "while :; do :; done"];
const NOBODY: u32 = 65534;

/// Serializes the tests: the VM has two emulated CPUs, and CPU-time checks need them otherwise idle.
static SERIAL: Mutex<()> = Mutex::new(());

/// Returns the test lock inside the VM. Elsewhere it prints a SKIP line and returns `None`.
#[track_caller]
fn in_vm() -> Option<MutexGuard<'static, ()>> {
    if std::env::var("CELLRUN_IN_V2_VM").as_deref() != Ok("1") {
        // Written to the stderr handle, not with eprintln!, because the test harness captures
        // the print macros of passing tests and the skip must stay visible.
        let message = format!(
            "SKIP {}: this test is meant for the cgroup v2 VM; run scripts/test-v2-vm.sh\n",
            std::panic::Location::caller()
        );
        let _ = std::io::stderr().write_all(message.as_bytes());
        return None;
    }
    assert!(nix::unistd::geteuid().is_root(), "the VM runs the tests as root");
    Some(SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
}

/// A cgroup created by a test, removed with its children when dropped.
struct TestCgroup {
    path: PathBuf,
}

impl TestCgroup {
    /// Creates `/sys/fs/cgroup/test-<name>`. The VM's init enables every controller in the
    /// root, so the new cgroup has them all available and enables none itself.
    fn delegated(name: &str) -> TestCgroup {
        TestCgroup::create(Path::new(CGROUP_ROOT).join(format!("test-{name}")))
    }

    fn create(path: PathBuf) -> TestCgroup {
        if path.exists() {
            remove_tree(&path);
        }
        std::fs::create_dir(&path).unwrap_or_else(|error| panic!("mkdir {}: {error}", path.display()));
        TestCgroup { path }
    }

    fn child(&self, name: &str) -> TestCgroup {
        TestCgroup::create(self.path.join(name))
    }

    fn read(&self, file: &str) -> String {
        let path = self.path.join(file);
        std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
    }

    fn write(&self, file: &str, value: &str) {
        let path = self.path.join(file);
        std::fs::write(&path, value).unwrap_or_else(|error| panic!("write {value:?} to {}: {error}", path.display()));
    }

    /// Reads one `key value` line of a flat-keyed file such as `memory.events`.
    fn counter(&self, file: &str, key: &str) -> u64 {
        let text = self.read(file);
        let value = text.lines().find_map(|line| line.strip_prefix(key)?.strip_prefix(' '));
        value.and_then(|value| value.trim().parse().ok()).unwrap_or_else(|| panic!("no {key} in {file}: {text}"))
    }

    fn child_cgroups(&self) -> Vec<String> {
        let entries = std::fs::read_dir(&self.path).unwrap();
        let dirs = entries.flatten().filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_dir()));
        dirs.map(|entry| entry.file_name().to_string_lossy().into_owned()).collect()
    }

    /// Returns a command that runs `program` in this cgroup. A shell moves itself into the
    /// cgroup and then execs the program, so the program is in it from its first instruction.
    fn command<'a>(&self, program: impl IntoIterator<Item = &'a str>) -> Command {
        let mut command = Command::new("sh");
        command.arg("-c").arg(r#"echo $$ >"$0/cgroup.procs" && exec "$@""#).arg(&self.path).args(program);
        command
    }

    /// Starts `cellrun exec --json OPTIONS -- COMMAND` in this cgroup, with `dir` as the
    /// working directory.
    fn spawn_cellrun(&self, dir: &Path, options: &[&str], command: &[&str]) -> Child {
        self.command([CELLRUN, "exec", "--json"])
            .args(options)
            .arg("--")
            .args(command)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("sh starts")
    }

    fn run_cellrun(&self, dir: &Path, options: &[&str], command: &[&str]) -> Exec {
        Exec::finish(self.spawn_cellrun(dir, options, command), dir)
    }

    /// Hands the cgroup to `nobody` as systemd's `Delegate=yes` does for a user's unit: the
    /// directory and the files that move processes and enable controllers.
    fn delegate_to_nobody(&self) {
        for file in ["", "cgroup.procs", "cgroup.subtree_control", "cgroup.threads"] {
            let path = self.path.join(file);
            chown(&path, Some(NOBODY), Some(NOBODY)).unwrap_or_else(|error| panic!("chown {}: {error}", path.display()));
        }
    }

    /// Runs `cellrun exec --json OPTIONS -- COMMAND` as `nobody` in this cgroup. The user
    /// may not move a process out of the test's cgroup, so cellrun waits on its stdin until
    /// the test, as root, has moved it.
    fn run_cellrun_as_nobody(&self, dir: &Path, options: &[&str], command: &[&str]) -> Exec {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#"read _moved && exec "$@""#)
            .arg("sh")
            .args([CELLRUN, "exec", "--json"])
            .args(options)
            .arg("--")
            .args(command)
            .uid(NOBODY)
            .gid(NOBODY)
            .env("HOME", dir)
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("sh starts as nobody");
        self.write("cgroup.procs", &child.id().to_string());
        child.stdin.take().unwrap().write_all(b"moved\n").unwrap();
        Exec::finish(child, dir)
    }

    /// Asserts that cellrun removed everything it created in this cgroup.
    fn assert_clean(&self) {
        assert_eq!(self.child_cgroups(), Vec::<String>::new(), "cgroups left in {}", self.path.display());
        assert_eq!(self.read("cgroup.procs"), "", "processes left in {}", self.path.display());
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        remove_tree(&self.path);
    }
}

/// Removes a cgroup and its descendants, killing what still runs there.
fn remove_tree(path: &Path) {
    let _ = std::fs::write(path.join("cgroup.kill"), "1");
    let children: Vec<PathBuf> = std::fs::read_dir(path)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_dir()))
        .map(|entry| entry.path())
        .collect();
    for child in children {
        remove_tree(&child);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::remove_dir(path).is_err() && path.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What one `cellrun exec --json` printed and stored.
struct Exec {
    /// The JSON outcome; `None` when cellrun failed before it had one.
    outcome: Option<serde_json::Value>,
    status: Option<i32>,
    stderr: String,
    /// The tool's output from `output.log`, without its header.
    output: String,
}

impl Exec {
    fn finish(child: Child, dir: &Path) -> Exec {
        let output = child.wait_with_output().expect("cellrun ends");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        let outcome = (!stdout.trim().is_empty()).then(|| {
            serde_json::from_str(stdout.trim())
                .unwrap_or_else(|error| panic!("no JSON outcome ({error}); stdout: {stdout}; stderr: {stderr}"))
        });
        let log = std::fs::read(dir.join("output.log")).unwrap_or_default();
        let log = String::from_utf8_lossy(&log).into_owned();
        let body = match log.find("\n\n") {
            Some(index) => log[index + 2..].to_string(),
            None => log,
        };
        Exec { outcome, status: output.status.code(), stderr, output: body }
    }

    fn field(&self, key: &str) -> &serde_json::Value {
        let outcome = self.outcome.as_ref().unwrap_or_else(|| panic!("no outcome; stderr: {}", self.stderr));
        &outcome[key]
    }

    fn exit_code(&self) -> Option<i64> {
        self.field("exit")["exited"].as_i64()
    }

    fn signal(&self) -> Option<i64> {
        self.field("exit")["signaled"].as_i64()
    }

    fn termination(&self) -> Option<&str> {
        self.field("termination").as_str()
    }

    fn cputime(&self) -> f64 {
        seconds(self.field("cputime"))
    }

    fn walltime(&self) -> f64 {
        seconds(self.field("walltime"))
    }

    fn memory_peak(&self) -> Option<u64> {
        self.field("memory_peak").as_u64()
    }

    /// Everything known about the run, for assertion messages.
    fn describe(&self) -> String {
        format!("status {:?}, outcome {:?}, stderr {:?}, output {:?}", self.status, self.outcome, self.stderr, self.output)
    }
}

fn seconds(duration: &serde_json::Value) -> f64 {
    duration["secs"].as_f64().unwrap_or(0.0) + duration["nanos"].as_f64().unwrap_or(0.0) / 1e9
}

/// Creates a fresh working directory owned by `nobody`.
fn nobody_dir(name: &str) -> PathBuf {
    let dir = test_dir(name);
    chown(&dir, Some(NOBODY), Some(NOBODY)).unwrap();
    dir
}

/// Creates a fresh working directory outside `/tmp`, which containers hide by default.
fn test_dir(name: &str) -> PathBuf {
    // Not the build directory: a clone below /tmp would put it below a hidden directory.
    let dir = Path::new("/var/tmp/cellrun-tests").join(format!("v2-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Returns whether a process whose command line is `argv` runs. Zombies have an empty
/// command line, so they do not count.
fn process_running(argv: &[&str]) -> bool {
    let expected: Vec<u8> = argv.iter().flat_map(|arg| arg.bytes().chain([0])).collect();
    let entries = std::fs::read_dir("/proc").unwrap().flatten();
    entries.filter_map(|entry| std::fs::read(entry.path().join("cmdline")).ok()).any(|cmdline| cmdline == expected)
}

#[test]
fn vm_has_only_cgroup_v2() {
    let Some(_lock) = in_vm() else { return };
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    let cgroup_mounts: Vec<&str> = mounts.lines().filter(|line| line.contains(" cgroup")).collect();
    assert_eq!(cgroup_mounts.len(), 1, "{cgroup_mounts:?}");
    assert!(cgroup_mounts[0].starts_with("cgroup2 /sys/fs/cgroup cgroup2 "), "{}", cgroup_mounts[0]);
    assert!(cgroup_mounts[0].contains("nsdelegate"), "{}", cgroup_mounts[0]);

    let controllers = std::fs::read_to_string("/sys/fs/cgroup/cgroup.controllers").unwrap();
    for controller in ["cpuset", "cpu", "memory", "pids"] {
        assert!(controllers.split_whitespace().any(|name| name == controller), "{controller} missing: {controllers}");
    }
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    assert_eq!(own.trim(), "0::/runner");
}

#[test]
fn memory_limit_ends_run_with_oom() {
    let Some(_lock) = in_vm() else { return };
    let cgroup = TestCgroup::delegated("memory");
    let dir = test_dir("memory");
    let limit = 50 * MIB;

    // busybox dd allocates one buffer of the block size and fills it.
    let run = cgroup.run_cellrun(&dir, &["--memlimit", &limit.to_string()], &["dd", "if=/dev/zero", "of=/dev/null", "bs=300M", "count=1"]);

    assert_eq!(run.status, Some(0), "{}", run.describe());
    assert_eq!(run.termination(), Some("memory"), "{}", run.describe());
    assert_eq!(run.signal(), Some(9), "{}", run.describe());
    let peak = run.memory_peak().expect("memory.peak is read on v2");
    assert!(peak >= limit * 9 / 10, "peak {peak} below 90% of the limit {limit}");
    assert!(peak <= limit + MIB, "peak {peak} above the limit {limit}");
    assert!(cgroup.counter("memory.events", "oom_kill") > 0, "memory.events: {}", cgroup.read("memory.events"));
    cgroup.assert_clean();
}

#[test]
fn memory_peak_without_limit() {
    let Some(_lock) = in_vm() else { return };
    let cgroup = TestCgroup::delegated("peak");
    let dir = test_dir("peak");

    let run = cgroup.run_cellrun(&dir, &[], &["dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"]);

    assert_eq!(run.exit_code(), Some(0), "{}", run.describe());
    assert_eq!(run.termination(), None, "{}", run.describe());
    let peak = run.memory_peak().expect("memory.peak is read on v2");
    assert!(peak >= 64 * MIB, "peak {peak} below the 64 MiB buffer");
    assert!(peak < 128 * MIB, "peak {peak} far above the 64 MiB buffer");
    cgroup.assert_clean();
}

#[test]
fn cputime_limit_stops_busy_loop() {
    let Some(_lock) = in_vm() else { return };
    let cgroup = TestCgroup::delegated("cputime");
    let dir = test_dir("cputime");

    let run = cgroup.run_cellrun(&dir, &["--timelimit", "1s"], BUSY_LOOP);

    assert_eq!(run.status, Some(0), "{}", run.describe());
    assert_eq!(run.termination(), Some("cputime"), "{}", run.describe());
    assert_eq!(run.signal(), Some(9), "{}", run.describe());
    assert!(run.cputime() >= 1.0, "cputime {} below the limit", run.cputime());
    assert!(run.cputime() < 3.0, "cputime {} far above the 1 s limit", run.cputime());
    assert!(run.walltime() < 30.0, "walltime {}", run.walltime());
    // The start cgroup's cpu.stat also counts cellrun itself, so it can only be larger.
    let usage = cgroup.counter("cpu.stat", "usage_usec") as f64 / 1e6;
    assert!(usage >= run.cputime() * 0.99, "cpu.stat usage {usage} s below the reported {} s", run.cputime());
    cgroup.assert_clean();
}

#[test]
fn soft_cputime_limit_sends_sigterm() {
    let Some(_lock) = in_vm() else { return };
    let cgroup = TestCgroup::delegated("soft-cputime");
    let dir = test_dir("soft-cputime");
    let script = "trap 'echo got-term; exit 3' TERM; while :; do :; done";

    let run = cgroup.run_cellrun(&dir, &["--softtimelimit", "0.5s", "--timelimit", "10s"], &["sh", "-c", script]);

    assert_eq!(run.termination(), Some("cputime-soft"), "{}", run.describe());
    assert_eq!(run.exit_code(), Some(3), "{}", run.describe());
    assert!(run.output.contains("got-term"), "{}", run.describe());
    assert!(run.cputime() >= 0.5, "cputime {} below the soft limit", run.cputime());
    assert!(run.cputime() < 5.0, "cputime {} far above the 0.5 s soft limit", run.cputime());
    cgroup.assert_clean();
}

#[test]
fn walltime_limit_stops_sleep() {
    let Some(_lock) = in_vm() else { return };
    let cgroup = TestCgroup::delegated("walltime");
    let dir = test_dir("walltime");

    let run = cgroup.run_cellrun(&dir, &["--walltimelimit", "1s"], &["sleep", "30"]);

    assert_eq!(run.termination(), Some("walltime"), "{}", run.describe());
    assert!(run.walltime() >= 1.0, "walltime {} below the limit", run.walltime());
    assert!(run.walltime() < 6.0, "walltime {} far above the 1 s limit", run.walltime());
    assert!(run.cputime() < 0.5, "cputime {} of a sleep", run.cputime());
    cgroup.assert_clean();
}

#[test]
fn cores_restrict_cpu_affinity() {
    let Some(_lock) = in_vm() else { return };
    let cgroup = TestCgroup::delegated("cores");
    let command = &["grep", "Cpus_allowed_list", "/proc/self/status"];

    for core in ["0", "1"] {
        let dir = test_dir(&format!("cores-{core}"));
        let run = cgroup.run_cellrun(&dir, &["--cores", core], command);
        assert_eq!(run.exit_code(), Some(0), "{}", run.describe());
        assert_eq!(run.output.trim(), format!("Cpus_allowed_list:\t{core}"), "{}", run.describe());
    }
    cgroup.assert_clean();
}

#[test]
fn memory_nodes_restrict_mems() {
    let Some(_lock) = in_vm() else { return };
    let cgroup = TestCgroup::delegated("memory-nodes");
    let dir = test_dir("memory-nodes");

    let run = cgroup.run_cellrun(&dir, &["--memoryNodes", "0"], &["grep", "Mems_allowed_list", "/proc/self/status"]);

    assert_eq!(run.exit_code(), Some(0), "{}", run.describe());
    assert_eq!(run.output.trim(), "Mems_allowed_list:\t0", "{}", run.describe());
    cgroup.assert_clean();
}

#[test]
fn processes_limit_stops_forks() {
    let Some(_lock) = in_vm() else { return };
    let cgroup = TestCgroup::delegated("pids");
    let dir = test_dir("pids");
    let script = "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 30 & done; wait";
    // The start cgroup's pids.events cannot confirm the limit: before Linux 6.12, only the
    // run cgroup that set pids.max counts the rejected forks, and it is gone afterwards.

    let run = cgroup.run_cellrun(&dir, &["--processes", "5"], &["sh", "-c", script]);

    assert_ne!(run.exit_code(), Some(0), "all ten forks succeeded: {}", run.describe());
    assert!(run.output.contains("fork"), "the shell reported no failed fork: {}", run.describe());
    assert!(run.walltime() < 25.0, "the sleeps outlived the shell: {}", run.describe());
    cgroup.assert_clean();
}

#[test]
fn setsid_daemon_killed_with_run() {
    let Some(_lock) = in_vm() else { return };
    let cgroup = TestCgroup::delegated("daemon");
    let dir = test_dir("daemon");
    let daemon = ["sleep", "317"];
    let script = "setsid sleep 317 </dev/null >/dev/null 2>&1 & echo started";

    let run = cgroup.run_cellrun(&dir, &[], &["sh", "-c", script]);

    assert_eq!(run.exit_code(), Some(0), "{}", run.describe());
    assert!(run.output.contains("started"), "{}", run.describe());
    assert!(!process_running(&daemon), "the setsid daemon outlived its run");
    cgroup.assert_clean();
}

#[test]
fn overlay_dir_write_invisible_outside() {
    let Some(_lock) = in_vm() else { return };
    let cgroup = TestCgroup::delegated("overlay");
    let dir = test_dir("overlay");
    let shared = dir.join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::write(shared.join("existing"), "original\n").unwrap();
    let script = "echo changed >existing && echo new >created && cat existing created";

    let run = cgroup.run_cellrun(&dir, &["--overlay-dir", "shared", "--dir", "shared"], &["sh", "-c", script]);

    assert_eq!(run.exit_code(), Some(0), "{}", run.describe());
    assert_eq!(run.output, "changed\nnew\n", "{}", run.describe());
    assert_eq!(std::fs::read_to_string(shared.join("existing")).unwrap(), "original\n");
    assert!(!shared.join("created").exists(), "a write in the overlay reached the VM's file system");
    cgroup.assert_clean();
}

#[test]
fn hidden_dir_is_empty_and_writable() {
    let Some(_lock) = in_vm() else { return };
    let cgroup = TestCgroup::delegated("hidden");
    let dir = test_dir("hidden");
    let secret = dir.join("secret");
    std::fs::create_dir(&secret).unwrap();
    std::fs::write(secret.join("password"), "hunter2\n").unwrap();
    let script = "ls -A secret; echo scratch >secret/note && echo written";

    let run = cgroup.run_cellrun(&dir, &["--hidden-dir", "secret"], &["sh", "-c", script]);

    assert_eq!(run.exit_code(), Some(0), "{}", run.describe());
    assert_eq!(run.output, "written\n", "the hidden directory was not empty: {}", run.describe());
    assert!(!secret.join("note").exists(), "a write in a hidden directory reached the VM's file system");
    cgroup.assert_clean();
}

#[test]
fn read_only_dir_rejects_writes() {
    let Some(_lock) = in_vm() else { return };
    let cgroup = TestCgroup::delegated("read-only");
    let dir = test_dir("read-only");
    let data = dir.join("data");
    std::fs::create_dir(&data).unwrap();

    let run = cgroup.run_cellrun(&dir, &["--read-only-dir", "data"], &["sh", "-c", "echo x >data/new"]);

    assert_ne!(run.exit_code(), Some(0), "{}", run.describe());
    assert!(run.output.contains("Read-only file system"), "{}", run.describe());
    assert!(!data.join("new").exists());
    cgroup.assert_clean();
}

#[test]
fn full_access_dir_write_lands() {
    let Some(_lock) = in_vm() else { return };
    let cgroup = TestCgroup::delegated("full-access");
    let dir = test_dir("full-access");
    let results = dir.join("results");
    std::fs::create_dir(&results).unwrap();

    let run = cgroup.run_cellrun(&dir, &["--full-access-dir", "results"], &["sh", "-c", "echo landed >results/new"]);

    assert_eq!(run.exit_code(), Some(0), "{}", run.describe());
    assert_eq!(std::fs::read_to_string(results.join("new")).unwrap(), "landed\n");
    cgroup.assert_clean();
}

/// `cellrun run` with two runs at once: each run gets its own cgroup below the same
/// `cellrun-<pid>`, and the summary contains each run's own measurement.
#[test]
fn batch_runs_parallel_in_own_cgroups() {
    let Some(_lock) = in_vm() else { return };
    let cgroup = TestCgroup::delegated("batch");
    let dir = test_dir("batch");
    std::fs::create_dir(dir.join("tasks")).unwrap();
    for (task, mebibytes) in [("tiny", 10), ("small", 40), ("big", 300)] {
        std::fs::write(dir.join(format!("tasks/{task}.txt")), format!("{mebibytes}\n")).unwrap();
    }
    let job = r#"
defaults:
  limits: {memory: 100 MiB, cputime: 20s}
tools:
  alloc:
    command: [sh, -c, "dd if=/dev/zero of=/dev/null bs=$(cat {input})M count=1"]
tasks:
  sizes:
    files: ["tasks/*.txt"]
"#;
    std::fs::write(dir.join("job.yaml"), job).unwrap();

    let output = cgroup
        .command([CELLRUN, "run", "--quiet", "--parallel", "2", "--output", "results", "job.yaml"])
        .current_dir(&dir)
        .output()
        .expect("sh starts");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "stderr: {stderr}");

    let mut summary = csv::Reader::from_path(dir.join("results/summary.csv")).unwrap();
    let headers = summary.headers().unwrap().clone();
    let column = |name: &str| headers.iter().position(|header| header == name).unwrap_or_else(|| panic!("no column {name}"));
    let rows: Vec<csv::StringRecord> = summary.records().map(Result::unwrap).collect();
    let row = |task: &str| rows.iter().find(|row| &row[column("task")] == task).unwrap_or_else(|| panic!("no row for {task}: {rows:?}"));
    let memory = |task: &str| row(task)[column("memory_bytes")].parse::<u64>().unwrap();

    assert_eq!(rows.len(), 3, "{rows:?}");
    assert_eq!(&row("tasks/big.txt")[column("termination_reason")], "memory", "{rows:?}");
    for task in ["tasks/tiny.txt", "tasks/small.txt"] {
        assert_eq!(&row(task)[column("exit_code")], "0", "{rows:?}");
        assert_eq!(&row(task)[column("termination_reason")], "", "{rows:?}");
    }
    assert!(memory("tasks/small.txt") >= 40 * MIB, "{rows:?}");
    assert!(memory("tasks/tiny.txt") < 40 * MIB, "the tiny run was charged for another run: {rows:?}");
    assert!(memory("tasks/big.txt") >= 90 * MIB, "{rows:?}");
    cgroup.assert_clean();
}

/// The no-internal-process rule: cellrun's start cgroup contains a process (cellrun itself), so
/// cellrun must move into a leaf below it before it can enable the controllers there.
#[test]
fn cellrun_moves_itself_into_leaf() {
    let Some(_lock) = in_vm() else { return };
    let cgroup = TestCgroup::delegated("leaf");
    let dir = test_dir("leaf");

    let child = cgroup.spawn_cellrun(&dir, &["--memlimit", "100MB", "--processes", "20"], &["sleep", "3"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while cgroup.read("cgroup.subtree_control").trim().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let enabled = cgroup.read("cgroup.subtree_control");
    let procs_during_run = cgroup.read("cgroup.procs");
    let cellrun_cgroup = std::fs::read_to_string(format!("/proc/{}/cgroup", child.id())).unwrap_or_default();
    let run = Exec::finish(child, &dir);

    for controller in ["memory", "pids"] {
        assert!(enabled.split_whitespace().any(|name| name == controller), "{controller} not enabled: {enabled:?}");
    }
    assert_eq!(procs_during_run, "", "the start cgroup held processes while its controllers were enabled");
    assert!(cellrun_cgroup.trim().starts_with("0::/test-leaf/"), "cellrun ran in {cellrun_cgroup:?}");
    assert_eq!(run.exit_code(), Some(0), "{}", run.describe());
    assert_eq!(run.termination(), None, "{}", run.describe());
    cgroup.assert_clean();
}

/// Another process in cellrun's start cgroup blocks the controllers (EBUSY). cellrun must
/// name the cgroup and the fix instead of running without limits.
#[test]
fn busy_start_cgroup_gives_clear_error() {
    let Some(_lock) = in_vm() else { return };
    let cgroup = TestCgroup::delegated("busy");
    let dir = test_dir("busy");
    let mut neighbour = cgroup.command(["sleep", "60"]).spawn().expect("sh starts");
    while cgroup.read("cgroup.procs").trim().is_empty() {
        std::thread::sleep(Duration::from_millis(10));
    }

    let run = cgroup.run_cellrun(&dir, &["--memlimit", "100MB"], &["true"]);
    let _ = neighbour.kill();
    let _ = neighbour.wait();

    assert_eq!(run.status, Some(1), "{}", run.describe());
    assert!(run.stderr.contains(&cgroup.path.display().to_string()), "the cgroup is not named: {}", run.stderr);
    assert!(run.stderr.contains("Delegate=yes"), "no fix given: {}", run.stderr);
    assert_eq!(cgroup.child_cgroups(), Vec::<String>::new(), "cgroups left after the failed setup");
}

#[test]
fn missing_memory_delegation_named_in_error() {
    let Some(_lock) = in_vm() else { return };
    let parent = TestCgroup::delegated("no-memory");
    parent.write("cgroup.subtree_control", "+cpuset +pids");
    let start = parent.child("start");
    let dir = test_dir("no-memory");

    let run = start.run_cellrun(&dir, &["--memlimit", "100MB"], &["true"]);

    assert_eq!(run.status, Some(1), "{}", run.describe());
    assert!(run.stderr.contains("memory"), "the controller is not named: {}", run.stderr);
    assert!(run.stderr.contains(&start.path.display().to_string()), "the cgroup is not named: {}", run.stderr);
    assert!(run.stderr.contains("cgroup.subtree_control"), "no fix given: {}", run.stderr);
    start.assert_clean();
}

#[test]
fn no_cgroup_left_behind() {
    let Some(_lock) = in_vm() else { return };
    let cgroup = TestCgroup::delegated("leftovers");
    let dir = test_dir("leftovers");
    let enabled_before = cgroup.read("cgroup.subtree_control");

    let finished = cgroup.run_cellrun(&dir, &["--memlimit", "100MB"], &["true"]);
    let stopped = cgroup.run_cellrun(&dir, &["--timelimit", "1s"], BUSY_LOOP);

    assert_eq!(finished.exit_code(), Some(0), "{}", finished.describe());
    assert_eq!(stopped.termination(), Some("cputime"), "{}", stopped.describe());
    cgroup.assert_clean();
    assert_eq!(cgroup.read("cgroup.subtree_control"), enabled_before, "controllers left enabled");
    let stray: Vec<PathBuf> = walkdir::WalkDir::new(CGROUP_ROOT)
        .into_iter()
        .flatten()
        .filter(|entry| entry.file_type().is_dir() && entry.file_name().to_string_lossy().starts_with("cellrun"))
        .map(|entry| entry.into_path())
        .collect();
    assert_eq!(stray, Vec::<PathBuf>::new(), "cellrun cgroups left in the hierarchy");
}

#[test]
fn rootless_tool_runs_as_user() {
    let Some(_lock) = in_vm() else { return };
    let cgroup = TestCgroup::delegated("rootless-user");
    cgroup.delegate_to_nobody();
    let dir = nobody_dir("rootless-user");
    let script = "id -u; echo x >/etc/rootless-probe && cat /etc/rootless-probe";

    let run = cgroup.run_cellrun_as_nobody(&dir, &[], &["sh", "-c", script]);

    assert_eq!(run.exit_code(), Some(0), "{}", run.describe());
    assert_eq!(run.output, "65534\nx\n", "{}", run.describe());
    assert!(!Path::new("/etc/rootless-probe").exists(), "a write in the overlay of / reached the VM");
    cgroup.assert_clean();
}

#[test]
fn rootless_memory_limit_ends_with_oom() {
    let Some(_lock) = in_vm() else { return };
    let cgroup = TestCgroup::delegated("rootless-memory");
    cgroup.delegate_to_nobody();
    let dir = nobody_dir("rootless-memory");
    let limit = 50 * MIB;

    let run = cgroup.run_cellrun_as_nobody(&dir, &["--memlimit", &limit.to_string()], &["dd", "if=/dev/zero", "of=/dev/null", "bs=300M", "count=1"]);

    assert_eq!(run.status, Some(0), "{}", run.describe());
    assert_eq!(run.termination(), Some("memory"), "{}", run.describe());
    let peak = run.memory_peak().expect("memory.peak is read on v2");
    assert!(peak >= limit * 9 / 10, "peak {peak} below 90% of the limit {limit}");
    assert!(peak <= limit + MIB, "peak {peak} above the limit {limit}");
    assert!(cgroup.counter("memory.events", "oom_kill") > 0, "memory.events: {}", cgroup.read("memory.events"));
    cgroup.assert_clean();
}

#[test]
fn rootless_cputime_limit_stops_loop() {
    let Some(_lock) = in_vm() else { return };
    let cgroup = TestCgroup::delegated("rootless-cputime");
    cgroup.delegate_to_nobody();
    let dir = nobody_dir("rootless-cputime");

    let run = cgroup.run_cellrun_as_nobody(&dir, &["--timelimit", "1s"], BUSY_LOOP);

    assert_eq!(run.status, Some(0), "{}", run.describe());
    assert_eq!(run.termination(), Some("cputime"), "{}", run.describe());
    assert!(run.cputime() >= 1.0, "cputime {} below the limit", run.cputime());
    assert!(run.cputime() < 3.0, "cputime {} far above the 1 s limit", run.cputime());
    cgroup.assert_clean();
}

#[test]
fn rootless_processes_and_cores_enforced() {
    let Some(_lock) = in_vm() else { return };
    let cgroup = TestCgroup::delegated("rootless-pids");
    cgroup.delegate_to_nobody();
    let dir = nobody_dir("rootless-pids");
    let script = "grep Cpus_allowed_list /proc/self/status; for i in 1 2 3 4 5 6 7 8 9 10; do sleep 30 & done; wait";

    let run = cgroup.run_cellrun_as_nobody(&dir, &["--processes", "5", "--cores", "1"], &["sh", "-c", script]);

    assert_ne!(run.exit_code(), Some(0), "all ten forks succeeded: {}", run.describe());
    assert!(run.output.starts_with("Cpus_allowed_list:\t1\n"), "{}", run.describe());
    assert!(run.output.contains("fork"), "the shell reported no failed fork: {}", run.describe());
    cgroup.assert_clean();
}

/// A normal user in a cgroup that belongs to root cannot create cgroups, so limits that need
/// one are rejected with both ways out, and a run without them still works.
#[test]
fn rootless_without_delegation_rejects_limits() {
    let Some(_lock) = in_vm() else { return };
    let cgroup = TestCgroup::delegated("rootless-undelegated");
    let dir = nobody_dir("rootless-undelegated");

    let limited = cgroup.run_cellrun_as_nobody(&dir, &["--memlimit", "100MB"], &["true"]);
    let unlimited = cgroup.run_cellrun_as_nobody(&dir, &[], &["echo", "ran"]);

    assert_eq!(limited.status, Some(1), "{}", limited.describe());
    assert!(limited.stderr.contains("memory"), "the limit is not named: {}", limited.stderr);
    assert!(limited.stderr.contains("Delegate=yes"), "no fix given: {}", limited.stderr);
    assert!(limited.stderr.contains("--allow-unenforced-limits"), "no opt-in named: {}", limited.stderr);
    assert_eq!(unlimited.exit_code(), Some(0), "{}", unlimited.describe());
    assert_eq!(unlimited.output, "ran\n", "{}", unlimited.describe());
    cgroup.assert_clean();
}

//! Isolation of one run, tested through `cellrun exec` with real containers as root.

mod common;

use common::{exec, require_root, test_dir};

#[test]
fn overlay_write_stays_in_container() {
    if !require_root() {
        return;
    }
    let dir = test_dir("overlay-write");
    std::fs::write(dir.join("input.txt"), "host").unwrap();
    let run = exec(&dir, &[], &["sh", "-c", "echo changed > input.txt && echo new > created.txt && cat input.txt"]);
    assert_eq!(run.exit_code(), Some(0), "{}", run.stderr);
    assert_eq!(run.output.trim(), "changed");
    assert_eq!(std::fs::read_to_string(dir.join("input.txt")).unwrap(), "host");
    assert!(!dir.join("created.txt").exists());
}

#[test]
fn hidden_dir_is_empty_and_writable() {
    if !require_root() {
        return;
    }
    let dir = test_dir("hidden");
    let secret = dir.join("secret");
    std::fs::create_dir(&secret).unwrap();
    std::fs::write(secret.join("key"), "k").unwrap();
    let script = "ls -A secret | wc -l; echo x > secret/new && cat secret/new";
    let run = exec(&dir, &["--hidden-dir", "secret"], &["sh", "-c", script]);
    assert_eq!(run.exit_code(), Some(0), "{}", run.stderr);
    assert_eq!(run.output.split_whitespace().collect::<Vec<_>>(), ["0", "x"]);
    assert!(!secret.join("new").exists());
}

#[test]
fn read_only_dir_rejects_writes() {
    if !require_root() {
        return;
    }
    let dir = test_dir("read-only");
    let run = exec(&dir, &["--read-only-dir", "."], &["sh", "-c", "echo x > f 2>&1; echo status=$?"]);
    assert_eq!(run.exit_code(), Some(0), "{}", run.stderr);
    assert!(run.output.contains("Read-only file system"), "{}", run.output);
    assert!(run.output.contains("status=") && !run.output.contains("status=0"), "{}", run.output);
    assert!(!dir.join("f").exists());
}

#[test]
fn full_access_write_lands_on_host() {
    if !require_root() {
        return;
    }
    let dir = test_dir("full-access");
    let run = exec(&dir, &["--full-access-dir", "."], &["sh", "-c", "echo landed > f"]);
    assert_eq!(run.exit_code(), Some(0), "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(dir.join("f")).unwrap(), "landed\n");
}

#[test]
fn network_is_loopback_only() {
    if !require_root() {
        return;
    }
    let dir = test_dir("network");
    let run = exec(&dir, &[], &["sh", "-c", "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '; cat /sys/class/net/lo/operstate 2>/dev/null; grep -c . /proc/net/route"]);
    assert_eq!(run.exit_code(), Some(0), "{}", run.stderr);
    let interfaces: Vec<&str> = run.output.lines().take_while(|line| !line.chars().all(|c| c.is_ascii_digit())).collect();
    assert!(interfaces.contains(&"lo"), "{}", run.output);
    assert!(!interfaces.iter().any(|name| name.starts_with("eth") || name.starts_with("en")), "{}", run.output);
}

#[test]
fn loopback_is_up() {
    if !require_root() {
        return;
    }
    let dir = test_dir("loopback");
    let script = "python3 -c \"import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); s.listen(); c=socket.create_connection(s.getsockname()); print('connected')\"";
    let run = exec(&dir, &[], &["sh", "-c", script]);
    assert_eq!(run.output.trim(), "connected", "{}", run.stderr);
}

#[test]
fn own_hostname_and_pid_namespace() {
    if !require_root() {
        return;
    }
    let dir = test_dir("pidns");
    let run = exec(&dir, &[], &["sh", "-c", "hostname; echo $$; ls /proc | grep -c '^[0-9]'"]);
    let lines: Vec<&str> = run.output.lines().collect();
    assert_eq!(lines[0], "cellrun");
    assert_eq!(lines[1], "2", "the tool is the first process after the init");
    let visible: u32 = lines[2].parse().unwrap();
    assert!(visible <= 4, "the run sees {visible} processes");
}

#[test]
fn environment_and_working_directory() {
    if !require_root() {
        return;
    }
    let dir = test_dir("workdir");
    let run = exec(&dir, &[], &["sh", "-c", "pwd; cat"]);
    assert_eq!(run.output.lines().next(), Some(dir.to_str().unwrap()));
    assert_eq!(run.output.lines().count(), 1, "stdin is /dev/null");
}

#[test]
fn input_file_becomes_stdin() {
    if !require_root() {
        return;
    }
    let dir = test_dir("stdin");
    std::fs::write(dir.join("in.txt"), "from-input\n").unwrap();
    let run = exec(&dir, &["--input", "in.txt"], &["cat"]);
    assert_eq!(run.output, "from-input\n");
}

#[test]
fn missing_program_fails_setup() {
    if !require_root() {
        return;
    }
    let dir = test_dir("missing-program");
    let run = exec(&dir, &[], &["no-such-program-here"]);
    assert_eq!(run.termination(), Some("failed"));
    assert_eq!(run.status, Some(1));
    assert!(run.stderr.contains("not found in the container's PATH"), "{}", run.stderr);
}

#[test]
fn c04_shared_memory_and_proc_view() {
    if !require_root() {
        return;
    }
    let dir = test_dir("c04");
    let script = "import multiprocessing as m\nif __name__ == '__main__':\n  p = m.Pool(2); print(sum(p.map(abs, [-1, -2, -3]))); l = m.Lock(); l.acquire(); l.release()";
    let before: Vec<_> = std::fs::read_dir("/dev/shm").unwrap().flatten().map(|e| e.file_name()).collect();
    let run = exec(&dir, &["--read-only-dir", "/", "--overlay-dir", ".", "--memlimit", "300MB", "--walltimelimit", "30"], &["python3", "-c", script]);
    assert_eq!(run.output.trim(), "6", "{}", run.stderr);
    let after: Vec<_> = std::fs::read_dir("/dev/shm").unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(before, after, "the run left files in the host's /dev/shm");

    let proc_view = exec(&dir, &["--read-only-dir", "/"], &["sh", "-c", "grep NSpid /proc/self/status; touch /sys/x 2>&1 || echo sys-not-writable"]);
    assert!(proc_view.output.contains("sys-not-writable"), "{}", proc_view.output);
    let nspid = proc_view.output.lines().next().unwrap();
    assert!(nspid.split_whitespace().count() == 2, "{nspid}");
}

#[test]
fn c04_shared_memory_counts_toward_limit() {
    if !require_root() {
        return;
    }
    let dir = test_dir("c04-shm-limit");
    let run = exec(&dir, &["--memlimit", "300MB"], &["sh", "-c", "head -c 400000000 /dev/zero > /dev/shm/big; echo written"]);
    assert_eq!(run.termination(), Some("memory"), "{:?} {}", run.outcome, run.output);
}

/// Lists every file below `dir` with its size and contents hash, to compare trees.
fn tree_digest(dir: &std::path::Path) -> Vec<(String, u64, String)> {
    let mut entries = Vec::new();
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = entry.unwrap();
        let meta = entry.metadata().unwrap();
        let hash = if meta.is_file() {
            blake3::hash(&std::fs::read(entry.path()).unwrap()).to_hex().to_string()
        } else {
            String::new()
        };
        entries.push((entry.path().display().to_string(), meta.len(), hash));
    }
    entries
}

#[test]
fn host_tree_unchanged_after_writes() {
    if !require_root() {
        return;
    }
    let dir = test_dir("host-tree");
    for name in ["over", "ro", "hid"] {
        std::fs::create_dir_all(dir.join(name).join("sub")).unwrap();
        std::fs::write(dir.join(name).join("sub/file"), name).unwrap();
    }
    let before = tree_digest(&dir);
    let script = "for d in over ro hid; do echo x >> $d/sub/file; rm -f $d/sub/file; mkdir $d/new; echo y > $d/new/f; chmod 000 $d/sub; done 2>/dev/null; true";
    let options = ["--overlay-dir", "over", "--read-only-dir", "ro", "--hidden-dir", "hid", "--output", "/dev/null"];
    let run = exec(&dir, &options, &["sh", "-c", script]);
    assert_eq!(run.exit_code(), Some(0), "{}", run.stderr);
    assert_eq!(before, tree_digest(&dir));
}

#[test]
fn nothing_left_behind() {
    if !require_root() {
        return;
    }
    let dir = test_dir("leftovers");
    let run = exec(&dir, &["--timelimit", "1s"], &["sh", "-c", "sleep 100 & setsid sleep 101 & while :; do :; done"]);
    assert_eq!(run.termination(), Some("cputime"));
    assert_eq!(common::leftovers(), Vec::<String>::new());
}

#[test]
fn killed_cellrun_leaves_nothing_after_next_start() {
    if !require_root() {
        return;
    }
    let dir = test_dir("kill9");
    let mut child = common::cellrun()
        .current_dir(&dir)
        .args(["exec", "--", "sh", "-c", "sleep 200.731 & exec sleep 201.731"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGKILL).unwrap();
    child.wait().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));

    let pgrep = std::process::Command::new("pgrep").args(["-f", "sleep 20[01].731"]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&pgrep.stdout).trim(), "", "run processes outlived cellrun");

    let next = exec(&dir, &[], &["true"]);
    assert_eq!(next.exit_code(), Some(0));
    assert_eq!(common::leftovers(), Vec::<String>::new());
}

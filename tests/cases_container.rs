//! Real-world failure cases of container tools, each as a test with the correct outcome.

mod common;

use std::os::unix::ffi::OsStrExt;
use std::process::Command;

use common::{exec, require_root, test_dir};

/// Lists the host's mount points below `paths` and cellrun's scratch directories; other
/// tests on the machine mount and unmount elsewhere at the same time.
fn host_mounts(paths: &[&std::path::Path]) -> String {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let mut lines: Vec<String> = text
        .lines()
        .map(|line| line.split(' ').nth(4).unwrap_or_default().to_string())
        .filter(|mount_point| mount_point.contains(".cellrun-scratch") || paths.iter().any(|path| std::path::Path::new(mount_point).starts_with(path)))
        .collect();
    lines.sort();
    lines.join("\n")
}

fn pgrep(pattern: &str) -> String {
    let output = Command::new("pgrep").args(["-f", pattern]).output().unwrap();
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

#[test]
fn c01_refused_overlay_is_a_setup_error() {
    if !require_root() {
        return;
    }
    // overlayfs refuses a lower layer that is already two overlays deep, just as some
    // kernels refuse an overlay of `/`: the run must fail before the command runs.
    let dir = test_dir("c01");
    let (base, mid, top) = (dir.join("base"), dir.join("mid"), dir.join("top"));
    for name in ["base", "mid", "top", "u1", "w1", "u2", "w2", "out"] {
        std::fs::create_dir_all(dir.join(name)).unwrap();
    }
    let overlay = |lower: &std::path::Path, upper: &str, work: &str, target: &std::path::Path| {
        let options = format!("lowerdir={},upperdir={},workdir={}", lower.display(), dir.join(upper).display(), dir.join(work).display());
        let status = Command::new("mount").args(["-t", "overlay", "overlay", "-o", &options]).arg(target).status().unwrap();
        assert!(status.success());
    };
    overlay(&base, "u1", "w1", &mid);
    overlay(&mid, "u2", "w2", &top);

    let marker = dir.join("out/ran");
    let run = exec(
        &dir,
        &["--overlay-dir", top.to_str().unwrap(), "--full-access-dir", "out"],
        &["sh", "-c", &format!("touch {}", marker.display())],
    );
    Command::new("umount").arg(&top).status().unwrap();
    Command::new("umount").arg(&mid).status().unwrap();

    assert_eq!(run.termination(), Some("failed"), "{:?}", run.outcome);
    assert_eq!(run.status, Some(1));
    assert!(run.stderr.contains(top.to_str().unwrap()), "{}", run.stderr);
    assert!(run.stderr.contains("read_only:"), "the message names a fix: {}", run.stderr);
    assert!(!marker.exists(), "the command ran although its container could not be set up");
}

#[test]
fn c02_submounts_inside_hidden_dir() {
    if !require_root() {
        return;
    }
    let fake_root = std::path::Path::new("/tmp/cellrun-c02-fakeroot");
    std::fs::create_dir_all(fake_root.join("proc")).unwrap();
    std::fs::create_dir_all(fake_root.join("dev")).unwrap();
    Command::new("mount").args(["-t", "proc", "proc"]).arg(fake_root.join("proc")).status().unwrap();
    Command::new("mount").args(["-t", "tmpfs", "tmpfs"]).arg(fake_root.join("dev")).status().unwrap();
    let dir = test_dir("c02");
    let before = host_mounts(&[fake_root, &dir]);

    let run = exec(&dir, &["--read-only-dir", "/", "--overlay-dir", "."], &["sh", "-c", "ls -A /tmp; echo x > /tmp/y; cat /tmp/y"]);
    let after = host_mounts(&[fake_root, &dir]);
    Command::new("umount").arg(fake_root.join("proc")).status().unwrap();
    Command::new("umount").arg(fake_root.join("dev")).status().unwrap();
    let _ = std::fs::remove_dir_all(fake_root);

    assert_eq!(run.exit_code(), Some(0), "{}", run.stderr);
    assert_eq!(run.output, "x\n", "/tmp must look empty inside");
    assert_eq!(before, after, "the host mount table changed");
    assert!(!std::path::Path::new("/tmp/y").exists());
}

#[test]
fn c03_nested_modes_below_read_only_parent() {
    if !require_root() {
        return;
    }
    let dir = test_dir("c03");
    let ro = dir.join("ro");
    std::fs::create_dir_all(ro.join("secret")).unwrap();
    std::fs::create_dir_all(ro.join("work")).unwrap();
    std::fs::write(ro.join("data.txt"), "data\n").unwrap();
    std::fs::write(ro.join("secret/key"), "key\n").unwrap();
    let script = "cat ../data.txt; ls -A ../secret | wc -l; echo w > f; touch ../new 2>&1 | grep -o 'Read-only file system'";
    let options = [
        "--read-only-dir", "/",
        "--hidden-dir", ro.join("secret").to_str().unwrap().to_owned().leak(),
        "--overlay-dir", ro.join("work").to_str().unwrap().to_owned().leak(),
        "--dir", ro.join("work").to_str().unwrap().to_owned().leak(),
        "--result-files", "*",
        "--output-directory", dir.join("results").to_str().unwrap().to_owned().leak(),
    ];
    let run = exec(&dir, &options, &["sh", "-c", script]);
    assert_eq!(run.output.split_whitespace().collect::<Vec<_>>(), ["data", "0", "Read-only", "file", "system"], "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(dir.join("results/f")).unwrap(), "w\n");
    assert!(!ro.join("work/f").exists());
    assert!(!ro.join("new").exists());

    let absent = common::cellrun()
        .current_dir(&dir)
        .args(["exec", "--overlay-dir", ro.join("absent").to_str().unwrap(), "--", "true"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&absent.stderr);
    assert_eq!(absent.status.code(), Some(2));
    assert!(stderr.contains("absent") && stderr.contains("does not exist"), "{stderr}");
}

#[test]
fn c05_background_processes_end_with_the_run() {
    if !require_root() {
        return;
    }
    let dir = test_dir("c05");
    // The durations carry a unique fraction so that no other process on the machine matches.
    let script = "sleep 300.917 & setsid sh -c 'sleep 301.917 &' & nohup sleep 302.917 >/dev/null 2>&1 & (trap '' TERM HUP; exec sleep 303.917) & echo main-done";
    let run = exec(&dir, &["--read-only-dir", "/", "--overlay-dir", ".", "--walltimelimit", "60"], &["sh", "-c", script]);
    assert_eq!(run.exit_code(), Some(0));
    assert_eq!(run.output.trim(), "main-done");
    assert!(run.walltime() < 2.0, "walltime {}", run.walltime());
    assert_eq!(pgrep("sleep 30[0-3].917"), "", "background processes outlived the run");

    let busy = exec(&dir, &["--timelimit", "2s", "--walltimelimit", "10s"], &["sh", "-c", "(trap '' TERM; marker=c05; while :; do :; done) & while :; do :; done"]);
    assert_eq!(busy.termination(), Some("cputime"));
    assert!(busy.cputime() >= 2.0, "cputime {} must include the background loop", busy.cputime());
    assert_eq!(pgrep("marker=c05"), "");
}

#[test]
fn c06_orphans_are_reaped() {
    if !require_root() {
        return;
    }
    let dir = test_dir("c06");
    let script = "i=0; while [ $i -lt 2000 ]; do ( sleep 0.001 & ); i=$((i+1)); done; sleep 2; ps -eo stat= | grep -c '^Z' || true";
    let run = exec(&dir, &["--read-only-dir", "/", "--walltimelimit", "60"], &["sh", "-c", script]);
    assert_eq!(run.exit_code(), Some(0), "{}", run.stderr);
    assert_eq!(run.output.trim(), "0");
}

#[test]
fn c07_huge_stdout_does_not_block() {
    if !require_root() {
        return;
    }
    let dir = test_dir("c07");
    let flood = "head -c 1000000000 /dev/zero | tr '\\0' 'a'; head -c 300000000 /dev/zero >&2; echo END";
    let run = exec(&dir, &["--walltimelimit", "120", "--maxOutputSize", "10MB"], &["sh", "-c", flood]);
    assert_eq!(run.exit_code(), Some(0));
    assert!(run.walltime() < 60.0, "walltime {}", run.walltime());
    assert_eq!(run.outcome["output_truncated"], true);
    assert!(run.output.len() <= 10_000_200, "log body is {} bytes", run.output.len());
    assert!(run.output.trim_end().ends_with("END"));

    let medium = exec(&dir, &[], &["seq", "1", "200000"]);
    let lines: Vec<&str> = medium.output.lines().collect();
    assert_eq!(lines.len(), 200000);
    assert_eq!(lines.last(), Some(&"200000"));
}

#[test]
fn c08_oom_is_detected_from_the_cgroup() {
    if !require_root() {
        return;
    }
    let dir = test_dir("c08");
    let dd = exec(&dir, &["--read-only-dir", "/", "--memlimit", "1000MB"], &["dd", "if=/dev/zero", "of=/dev/null", "bs=1000M", "count=1"]);
    assert_eq!(dd.termination(), Some("memory"), "{:?}", dd.outcome);
    assert_eq!(dd.signal(), Some(9));
    assert!(dd.memory() >= 900_000_000, "peak {}", dd.memory());

    let python = "b = bytearray(1)\nwhile True: b += bytearray(50_000_000)";
    let py = exec(&dir, &["--memlimit", "200MB", "--walltimelimit", "60"], &["python3", "-c", python]);
    assert_eq!(py.termination(), Some("memory"), "{:?}", py.outcome);

    let mut statuses = std::collections::BTreeSet::new();
    for _ in 0..10 {
        let tiny = exec(&dir, &["--memlimit", "1MB"], &["sh", "-c", "true"]);
        statuses.insert(format!("{:?}/{:?}", tiny.termination(), tiny.outcome["exit"]));
        assert!(tiny.termination() != Some("failed"), "{:?} {}", tiny.outcome, tiny.stderr);
    }
    assert_eq!(statuses.len(), 1, "tiny limits must end alike: {statuses:?}");
}

#[test]
fn c09_tmpfs_counts_page_cache_does_not() {
    if !require_root() {
        return;
    }
    let dir = test_dir("c09");
    let fill = exec(&dir, &["--read-only-dir", "/", "--hidden-dir", "/tmp", "--memlimit", "200MB", "--walltimelimit", "60"], &["sh", "-c", "head -c 400000000 /dev/urandom > /tmp/big; echo done"]);
    assert_eq!(fill.termination(), Some("memory"), "{:?}", fill.outcome);

    std::fs::create_dir_all(dir.join("disk")).unwrap();
    let disk = exec(&dir, &["--full-access-dir", "disk", "--memlimit", "200MB", "--walltimelimit", "120"], &["sh", "-c", "head -c 1500000000 /dev/zero > disk/big.bin; sync; echo done"]);
    let _ = std::fs::remove_file(dir.join("disk/big.bin"));
    assert_eq!(disk.termination(), None, "{:?}", disk.outcome);
    assert_eq!(disk.output.trim(), "done");
}

#[test]
fn c10_limits_do_not_leak_between_runs() {
    if !require_root() {
        return;
    }
    let dir = test_dir("c10");
    let allocate = ["python3", "-c", "x = bytearray(400_000_000); print('alloc')"];
    let limited = exec(&dir, &["--memlimit", "150MB", "--walltimelimit", "60"], &allocate);
    assert_eq!(limited.termination(), Some("memory"));
    let unlimited = exec(&dir, &["--walltimelimit", "60"], &allocate);
    assert_eq!(unlimited.output.trim(), "alloc");
    let raised = exec(&dir, &["--memlimit", "800MB", "--walltimelimit", "60"], &allocate);
    assert_eq!(raised.output.trim(), "alloc");
}

#[test]
fn c11_cpu_limit_exceeded_despite_exit_0() {
    if !require_root() {
        return;
    }
    let dir = test_dir("c11");
    let busy_until = |seconds: f64| format!("import time, os\nwhile time.process_time() < {seconds}: pass\nprint('RESULT'); os._exit(0)");
    for _ in 0..3 {
        let over = exec(&dir, &["--timelimit", "2s", "--walltimelimit", "20s"], &["python3", "-c", &busy_until(2.15)]);
        assert_eq!(over.termination(), Some("cputime"));
        assert!(over.cputime() > 2.0);
        let under = exec(&dir, &["--timelimit", "2s", "--walltimelimit", "20s"], &["python3", "-c", &busy_until(1.7)]);
        assert_eq!(under.termination(), None, "{:?}", under.outcome);
        assert_eq!(under.exit_code(), Some(0));
        let fractional = exec(&dir, &["--timelimit", "1.5s"], &["sh", "-c", "while :; do :; done"]);
        assert_eq!(fractional.termination(), Some("cputime"));
        assert!(fractional.cputime() >= 1.5 && fractional.cputime() < 1.7, "cputime {}", fractional.cputime());
    }
}

#[test]
fn c13_result_files_never_leave_the_layer() {
    if !require_root() {
        return;
    }
    let dir = test_dir("c13");
    let full = dir.join("full");
    std::fs::create_dir_all(&full).unwrap();
    let script = format!(
        "mkdir -p out/sub; echo ok > out/good.txt; ln -s /etc/shadow out/shadow; ln -s /root out/rootdir; \
         ln -s /proc/self out/hop; mkfifo out/pipe; \
         python3 -c \"import socket; s = socket.socket(socket.AF_UNIX); s.bind('out/sock')\"; \
         truncate -s 5G out/sparse.bin; printf x > \"$(printf 'out/n\\351\\377 name\\nline.txt')\"; \
         echo h > /tmp/h.txt; echo f > {}/f.txt; cd out/sub && echo t > t.txt",
        full.display()
    );
    let results = dir.join("results");
    let options = [
        "--read-only-dir", "/", "--hidden-dir", "/tmp", "--overlay-dir", ".",
        "--full-access-dir", full.to_str().unwrap(),
        "--result-files", "out/**", "--result-files", "out/rootdir/*", "--result-files", "out/hop/environ",
        "--result-files", "tmp/*",
        "--output-directory", results.to_str().unwrap(), "--walltimelimit", "60",
    ];
    let started = std::time::Instant::now();
    let run = exec(&dir, &options, &["sh", "-c", &script]);
    assert!(started.elapsed().as_secs() < 20);
    assert_eq!(run.exit_code(), Some(0), "{} {}", run.stderr, run.output);

    assert_eq!(std::fs::read_to_string(results.join("out/good.txt")).unwrap(), "ok\n");
    assert_eq!(std::fs::read_link(results.join("out/shadow")).unwrap(), std::path::Path::new("/etc/shadow"));
    assert!(std::fs::symlink_metadata(results.join("out/hop")).unwrap().file_type().is_symlink());
    assert!(!results.join("out/pipe").exists());
    assert!(!results.join("out/sock").exists());
    let sparse = std::fs::metadata(results.join("out/sparse.bin")).unwrap();
    assert_eq!(sparse.len(), 5 << 30);
    assert!(std::os::unix::fs::MetadataExt::blocks(&sparse) < 1024, "the sparse file was copied with its holes filled");
    let odd_name = std::ffi::OsStr::from_bytes(b"n\xe9\xff name\nline.txt");
    assert_eq!(std::fs::read(results.join("out").join(odd_name)).unwrap(), b"x");
    assert_eq!(std::fs::read_to_string(results.join("out/sub/t.txt")).unwrap(), "t\n");
    assert!(!results.join("tmp/h.txt").exists(), "files of hidden dirs outside the working directory are collected only by absolute patterns");
    assert!(!results.join("full").exists());
    let collected = run.outcome["result_files"].as_array().unwrap();
    assert!(collected.iter().any(|path| path == "out/n\\xE9\\xFF name\nline.txt"), "{collected:?}");
    let skipped = run.outcome["skipped_files"].as_array().unwrap();
    assert!(skipped.iter().any(|entry| entry["path"] == "out/pipe"), "{:?} {}", run.outcome, run.output);
}


#[test]
fn c02_submounts_inside_overlay_dir() {
    if !require_root() {
        return;
    }
    let dir = test_dir("c02-overlay");
    let fake_root = dir.join("fakeroot");
    std::fs::create_dir_all(fake_root.join("proc")).unwrap();
    std::fs::create_dir_all(fake_root.join("dev")).unwrap();
    Command::new("mount").args(["-t", "proc", "proc"]).arg(fake_root.join("proc")).status().unwrap();
    Command::new("mount").args(["-t", "tmpfs", "tmpfs"]).arg(fake_root.join("dev")).status().unwrap();
    std::fs::write(fake_root.join("dev/marker"), "tmpfs content").unwrap();
    let before = host_mounts(&[&dir]);

    let run = exec(&dir, &[], &["sh", "-c", "ls fakeroot/proc | wc -l; cat fakeroot/dev/marker; echo x > fakeroot/dev/new"]);
    let after = host_mounts(&[&dir]);
    let leaked = fake_root.join("dev/new").exists();
    Command::new("umount").arg(fake_root.join("proc")).status().unwrap();
    Command::new("umount").arg(fake_root.join("dev")).status().unwrap();

    assert_eq!(run.exit_code(), Some(0), "{}", run.stderr);
    let lines: Vec<&str> = run.output.lines().collect();
    assert_eq!(lines[0], "0", "a procfs below an overlay directory must not show the host's processes");
    assert_eq!(lines[1], "tmpfs content", "an ordinary tmpfs below an overlay directory stays visible");
    assert!(!leaked, "a write to the overlaid tmpfs reached the host");
    assert_eq!(before, after, "the host mount table changed");
}

//! Limits and measurement of one run, tested through `cellrun exec` with real containers.

mod common;

use common::{exec, require_root, test_dir};

const BUSY_LOOP: &[&str] = &["sh", "-c", "while :; do :; done"];

#[test]
fn cputime_limit_stops_busy_loop_promptly() {
    if !require_root() {
        return;
    }
    let dir = test_dir("cputime-limit");
    let run = exec(&dir, &["--timelimit", "1s", "--cores", "0"], BUSY_LOOP);
    assert_eq!(run.termination(), Some("cputime"));
    assert_eq!(run.signal(), Some(9));
    assert!(run.cputime() >= 1.0, "cputime {}", run.cputime());
    assert!(run.cputime() < 1.1, "cputime {} overshoots the limit by more than 100 ms", run.cputime());
}

#[test]
fn walltime_limit_stops_sleep_promptly() {
    if !require_root() {
        return;
    }
    let dir = test_dir("walltime-limit");
    let run = exec(&dir, &["--walltimelimit", "1s"], &["sleep", "10"]);
    assert_eq!(run.termination(), Some("walltime"));
    assert!(run.walltime() >= 1.0 && run.walltime() < 1.1, "walltime {}", run.walltime());
    assert!(run.cputime() < 0.5);
}

#[test]
fn soft_limit_sends_sigterm() {
    if !require_root() {
        return;
    }
    let dir = test_dir("soft-limit");
    let script = "trap 'echo got-term; exit 3' TERM; while :; do :; done";
    let run = exec(&dir, &["--softtimelimit", "0.5s", "--timelimit", "5s", "--cores", "0"], &["sh", "-c", script]);
    assert_eq!(run.termination(), Some("cputime-soft"), "{:?}", run.outcome);
    assert_eq!(run.exit_code(), Some(3));
    assert!(run.output.contains("got-term"));
}

#[test]
fn tool_exiting_by_itself_is_not_killed() {
    if !require_root() {
        return;
    }
    let dir = test_dir("no-limit-hit");
    let run = exec(&dir, &["--timelimit", "5s", "--walltimelimit", "5s"], &["sh", "-c", "exit 7"]);
    assert_eq!(run.exit_code(), Some(7));
    assert_eq!(run.termination(), None);
}

#[test]
fn memory_limit_reports_oom_from_cgroup() {
    if !require_root() {
        return;
    }
    let dir = test_dir("memory-limit");
    let run = exec(&dir, &["--memlimit", "100MB"], &["python3", "-c", "b = bytearray(400_000_000)"]);
    assert_eq!(run.termination(), Some("memory"), "{:?}", run.outcome);
    assert!(run.memory() >= 90_000_000, "peak {} below 90% of the limit", run.memory());
}

#[test]
fn peak_memory_is_measured() {
    if !require_root() {
        return;
    }
    let dir = test_dir("memory-peak");
    let run = exec(&dir, &[], &["python3", "-c", "b = bytearray(300 * 1024 * 1024); b[::4096] = b'x' * len(b[::4096])"]);
    assert_eq!(run.exit_code(), Some(0), "{}", run.stderr);
    assert!(run.memory() >= 300 * 1024 * 1024, "peak {}", run.memory());
    assert!(run.memory() < 400 * 1024 * 1024, "peak {}", run.memory());
}

#[test]
fn process_limit_contains_fork_bomb() {
    if !require_root() {
        return;
    }
    let dir = test_dir("processes");
    let script = "i=0; while [ $i -lt 100 ]; do sleep 5 & i=$((i+1)); done 2>/dev/null; echo started=$(jobs -p | wc -l)";
    let run = exec(&dir, &["--processes", "20", "--walltimelimit", "20"], &["sh", "-c", script]);
    let started: u32 = run.output.trim().trim_start_matches("started=").parse().unwrap_or(0);
    assert!(started < 20, "{} background processes started despite the limit: {}", started, run.output);
}

#[test]
fn output_limit_keeps_head_and_tail() {
    if !require_root() {
        return;
    }
    let dir = test_dir("output-limit");
    let run = exec(&dir, &["--maxOutputSize", "1MB"], &["sh", "-c", "echo FIRST; head -c 5000000 /dev/zero | tr '\\0' a; echo; echo LAST"]);
    assert_eq!(run.exit_code(), Some(0));
    assert_eq!(run.outcome["output_truncated"], true);
    assert!(run.output.starts_with("FIRST"));
    assert!(run.output.trim_end().ends_with("LAST"));
    assert!(run.output.len() < 1_000_200, "log body is {} bytes", run.output.len());
}

#[test]
fn cores_pin_the_run() {
    if !require_root() {
        return;
    }
    let dir = test_dir("cores");
    let run = exec(&dir, &["--cores", "1"], &["sh", "-c", "grep Cpus_allowed_list /proc/self/status"]);
    assert!(run.output.trim().ends_with('1'), "{}", run.output);
}

#[test]
fn cputime_counts_every_process() {
    if !require_root() {
        return;
    }
    let dir = test_dir("cputime-children");
    let burn = "python3 -c 'import time\nwhile time.process_time() < 0.6: pass'";
    let script = format!("{burn} & {burn} & wait");
    let run = exec(&dir, &[], &["sh", "-c", &script]);
    assert_eq!(run.exit_code(), Some(0), "{}", run.output);
    assert!(run.cputime() > 1.2, "cputime {}", run.cputime());
}

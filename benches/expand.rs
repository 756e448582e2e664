//! Expansion of a large job: 10 tools × 10,000 task files, 100,000 runs.
//!
//! Run it with:
//!
//! ```text
//! cargo bench --bench expand
//! ```
//!
//! The target is under 2 s per expansion and under 200 MB of memory. Criterion reports the
//! time. At the end the bench prints the peak resident set size (`VmHWM` from
//! `/proc/self/status`) of its whole process, criterion included. To measure the command
//! as users run it instead:
//!
//! ```text
//! cargo build --release
//! CELLRUN_BENCH_KEEP=1 cargo bench --bench expand   # prints the job directory it keeps
//! /usr/bin/time -v target/release/cellrun check DIR/job.yaml
//! ```

use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};

const TOOLS: usize = 10;
const TASKS: usize = 10_000;

/// Writes the job file and its task files into `dir`.
fn generate(dir: &Path) {
    let tasks = dir.join("tasks");
    for shard in 0..100 {
        std::fs::create_dir_all(tasks.join(format!("s{shard:02}"))).expect("create task dir");
    }
    for task in 0..TASKS {
        let path = tasks.join(format!("s{:02}/task-{task:05}.cnf", task % 100));
        std::fs::write(path, "p cnf 0 0\n").expect("write task file");
    }
    let mut job = String::from("defaults:\n  limits: {memory: 1 GiB, cputime: 60s}\ntools:\n");
    for tool in 0..TOOLS {
        job.push_str(&format!("  tool{tool}:\n    command: [sh, -c, \"exit 0\", \"{{input}}\"]\n"));
    }
    job.push_str("tasks:\n  all:\n    files: [\"tasks/**/*.cnf\"]\n");
    std::fs::write(dir.join("job.yaml"), job).expect("write job file");
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn expand_large_job(criterion: &mut Criterion) {
    // Not under /tmp, nor in the build directory, which may be in a clone below /tmp: runs
    // see /tmp as hidden, so check rejects input files there.
    std::fs::create_dir_all("/var/tmp/cellrun-bench").expect("create /var/tmp/cellrun-bench");
    let dir = tempfile::tempdir_in("/var/tmp/cellrun-bench").expect("create temp dir");
    generate(dir.path());
    let job = dir.path().join("job.yaml");

    let mut group = criterion.benchmark_group("expand");
    group.sample_size(10).measurement_time(Duration::from_secs(20));
    group.bench_function("10 tools x 10000 tasks", |bench| {
        bench.iter(|| {
            let plan = cellrun::plan::load(&job).expect("job is valid");
            assert_eq!(plan.runs.len(), TOOLS * TASKS);
            plan
        });
    });
    group.finish();

    if let Some(kib) = peak_rss_kib() {
        println!("peak resident set size of the bench process: {} MiB", kib / 1024);
    }
    if std::env::var_os("CELLRUN_BENCH_KEEP").is_some() {
        println!("job directory kept: {}", dir.keep().display());
    }
}

criterion_group!(benches, expand_large_job);
criterion_main!(benches);

#!/usr/bin/env python3
"""Measures cellrun against BenchExec and bubblewrap in one run and rewrites the results
table in docs/benchmarks.md.

Run it through benches/run.sh, which installs the peers first. Directly:

    python3 benches/compare.py --cellrun target/release/cellrun \
        --runexec /var/tmp/benchexec-venv/bin/runexec --benchexec /var/tmp/benchexec-venv/bin/benchexec

Every figure comes from this one invocation, so the ratios compare tools measured under the
same load. The shared VMs are noisy: read the medians and the ratios, not single times.
`--quick` runs a smoke version with few repetitions (for CI); its table is not a result.
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "benchmarks.md"
TABLE_START = "<!-- results: start (written by benches/compare.py) -->"
TABLE_END = "<!-- results: end -->"

BWRAP = ["bwrap", "--unshare-all", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
# BenchExec's overlay of / fails on this kernel ("Failed to create overlay mount for '/'"),
# so runexec gets / read-only, and /home hidden so that it can create its home directory.
RUNEXEC_DIRS = ["--read-only-dir", "/", "--hidden-dir", "/home"]
BUSY_LOOP = ["sh", "-c", "while :; do :; done"]


class Settings:
    def __init__(self, args):
        self.quick = args.quick
        self.exec_runs = 20 if args.quick else 300
        self.runexec_runs = 5 if args.quick else 30
        self.batch_runs = 40 if args.quick else 1000
        self.batch_repeats = 1 if args.quick else 3
        self.limit_runs = 2 if args.quick else 10
        self.runexec_limit_runs = 2 if args.quick else 5
        self.accuracy_runs = 2 if args.quick else 10
        self.runexec_accuracy_runs = 2 if args.quick else 5


# ----------------------------------------------------------------------------- statistics

def summary(values):
    """Returns median, min, max and N of a list of numbers."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def fmt_ms(seconds):
    return f"{seconds * 1000:.2f} ms"


def fmt_s(seconds):
    return f"{seconds:.3f} s"


# ----------------------------------------------------------------------------- running

def run(command, cwd=None, check=True, quiet=True, env=None):
    """Runs a command and returns its completed process, with stdout as text."""
    result = subprocess.run(command, cwd=cwd, env=env, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE if quiet else None)
    if check and result.returncode != 0:
        sys.exit(f"command failed ({result.returncode}): {' '.join(map(str, command))}\n{result.stderr}")
    return result


def key_values(text):
    """Parses runexec-style `key=value` lines; units (s, B) are stripped from numbers."""
    values = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip()
    return values


def seconds(value):
    return float(value.rstrip("s"))


def hyperfine(commands, runs, workdir, prepare=None):
    """Times whole processes with hyperfine; returns one list of seconds per command."""
    export = Path(workdir) / "hyperfine.json"
    command = ["hyperfine", "--shell=none", "--warmup", "3", "--runs", str(runs), "--export-json", str(export)]
    if prepare:
        command += ["--prepare", prepare]
    command += [" ".join(parts) for parts in commands]
    run(command, cwd=workdir)
    results = json.loads(export.read_text())["results"]
    return [result["times"] for result in results]


def timed(command, cwd):
    """Runs a command and returns its wall time in seconds and its peak RSS in bytes."""
    start = time.monotonic()
    process = subprocess.Popen(command, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.monotonic() - start
    stderr = process.stderr.read()
    process.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"command failed: {' '.join(map(str, command))}\n{stderr}")
    return elapsed, usage.ru_maxrss * 1024


# ----------------------------------------------------------------------------- helper programs

def build_programs(workdir):
    """Compiles the CPU burner and the memory toucher statically into the work directory."""
    programs = {}
    for name in ["burn", "touch"]:
        target = Path(workdir) / name
        run(["cc", "-O2", "-static", "-o", str(target), str(REPO / "benches" / "peers" / f"{name}.c")])
        programs[name] = str(target)
    return programs


# ----------------------------------------------------------------------------- benchmarks

def bench_exec(tools, settings, workdir):
    """Item 1: one isolated run of /bin/true as a whole process."""
    cellrun = [tools.cellrun, "exec", "--output", "/dev/null", "--", "/bin/true"]
    bwrap = BWRAP + ["/bin/true"]
    runexec = [tools.runexec, "--container", *RUNEXEC_DIRS, "--output", "/dev/null", "--", "/bin/true"]
    cellrun_times, bwrap_times = hyperfine([cellrun, bwrap], settings.exec_runs, workdir)
    (runexec_times,) = hyperfine([runexec], settings.runexec_runs, workdir)
    # A pause before each run lets the kernel's RCU state go idle, as for a single command.
    (cold_times,) = hyperfine([cellrun], max(settings.exec_runs // 5, 10), workdir, prepare="sleep 0.05")
    return {
        "cellrun": summary(cellrun_times),
        "cellrun_cold": summary(cold_times),
        "bwrap": summary(bwrap_times),
        "runexec": summary(runexec_times),
    }


def write_batch_inputs(workdir, runs):
    """Writes the task files, cellrun's job file and BenchExec's benchmark definition."""
    batch = Path(workdir) / "batch"
    tasks = batch / "tasks"
    tasks.mkdir(parents=True, exist_ok=True)
    for index in range(runs):
        (tasks / f"task-{index:05}.txt").write_text(f"task {index}\n")
    # Both tools run `shuf --echo` on the task: BenchExec's `dummy` tool does exactly that.
    (batch / "trivial.yaml").write_text(
        "name: trivial\n"
        "parallel: 2\n"
        "defaults:\n"
        "  limits: {cputime: 60s, memory: 500 MB, cores: 1}\n"
        "tools:\n"
        "  shuf:\n"
        "    command: [shuf, --echo, --, \"{input}\"]\n"
        "tasks:\n"
        "  all:\n"
        "    files: [\"tasks/*.txt\"]\n"
    )
    (batch / "trivial.xml").write_text(
        '<?xml version="1.0"?>\n'
        '<!DOCTYPE benchmark PUBLIC "+//IDN sosy-lab.org//DTD BenchExec benchmark 3.0//EN" '
        '"https://www.sosy-lab.org/benchexec/benchmark-3.0.dtd">\n'
        '<benchmark tool="dummy" timelimit="60 s" memlimit="500 MB" cpuCores="1">\n'
        '  <rundefinition name="trivial"/>\n'
        '  <tasks name="all">\n'
        '    <include>tasks/*.txt</include>\n'
        '  </tasks>\n'
        '</benchmark>\n'
    )
    return batch


def bench_batch(tools, settings, workdir):
    """Item 2: many trivial runs at 2 in parallel, whole batch wall time."""
    batch = write_batch_inputs(workdir, settings.batch_runs)
    cellrun_times = []
    for repeat in range(settings.batch_repeats):
        output = batch / f"cellrun-results-{repeat}"
        shutil.rmtree(output, ignore_errors=True)
        elapsed, _ = timed([tools.cellrun, "run", "-q", "-j", "2", "--output", str(output), "trivial.yaml"], batch)
        cellrun_times.append(elapsed)
        shutil.rmtree(output, ignore_errors=True)
    output = batch / "benchexec-results"
    shutil.rmtree(output, ignore_errors=True)
    benchexec = [tools.benchexec, "trivial.xml", "-N", "2", *RUNEXEC_DIRS, "--outputpath", str(output) + "/"]
    benchexec_time, _ = timed(benchexec, batch)
    shutil.rmtree(output, ignore_errors=True)
    return {"runs": settings.batch_runs, "cellrun": summary(cellrun_times), "benchexec": summary([benchexec_time])}


def measure(command, cwd):
    """Runs a runexec-style command and returns its key=value output."""
    return key_values(run(command, cwd=cwd).stdout)


def bench_limits(tools, settings, workdir):
    """Item 3: overshoot of a 1 s CPU-time limit and of a 1 s wall-time limit."""
    results = {}
    for name, command, runs in [
        ("cellrun", [tools.cellrun, "exec", "--output", "/dev/null"], settings.limit_runs),
        ("runexec", [tools.runexec, "--container", *RUNEXEC_DIRS, "--output", "/dev/null"], settings.runexec_limit_runs),
    ]:
        cpu, wall = [], []
        for _ in range(runs):
            values = measure(command + ["--timelimit", "1", "--"] + BUSY_LOOP, workdir)
            cpu.append(seconds(values["cputime"]) - 1.0)
            values = measure(command + ["--walltimelimit", "1", "--", "sleep", "10"], workdir)
            wall.append(seconds(values["walltime"]) - 1.0)
        results[name] = {"cpu": summary(cpu), "wall": summary(wall)}
    return results


def bench_accuracy(tools, settings, workdir, programs):
    """Item 4: CPU time of a 2 s busy loop against getrusage, peak memory of 300 MiB touched."""
    results = {}
    for name, command, runs in [
        ("cellrun", [tools.cellrun, "exec", "--output", "output.log"], settings.accuracy_runs),
        ("runexec", [tools.runexec, "--container", *RUNEXEC_DIRS, "--output", "output.log"], settings.runexec_accuracy_runs),
    ]:
        cpu_error, memory_error = [], []
        for _ in range(runs):
            values = measure(command + ["--", programs["burn"], "2"], workdir)
            truth = float(key_values((Path(workdir) / "output.log").read_text())["groundtruth"])
            cpu_error.append(seconds(values["cputime"]) - truth)
            values = measure(command + ["--", programs["touch"], "300"], workdir)
            touched = 300 * 1024 * 1024
            memory_error.append((int(values["memory"].rstrip("B")) - touched) / touched)
        results[name] = {"cpu": summary(cpu_error), "memory": summary(memory_error)}
    return results


def bench_expansion(tools, settings, workdir):
    """Item 5: expansion of a 100,000-run job file, in criterion and as `cellrun check`."""
    env = dict(os.environ, CELLRUN_BENCH_KEEP="1")
    command = ["cargo", "bench", "--bench", "expand"]
    if settings.quick:
        command += ["--", "--quick"]
    output = run(command, cwd=REPO, check=True, env=env).stdout
    estimate = re.search(r"time:\s+\[([^\]]+)\]", output)
    rss = re.search(r"peak resident set size of the bench process: (\d+) MiB", output)
    kept = re.search(r"job directory kept: (\S+)", output)
    if not (estimate and rss and kept):
        sys.exit(f"cannot read the output of cargo bench:\n{output}")
    job_dir = Path(kept.group(1))
    times, peaks = [], []
    for _ in range(3 if settings.quick else 5):
        elapsed, peak = timed([tools.cellrun, "check", "job.yaml"], job_dir)
        times.append(elapsed)
        peaks.append(peak)
    shutil.rmtree(job_dir, ignore_errors=True)
    return {
        "criterion": estimate.group(1),
        "criterion_rss_mib": int(rss.group(1)),
        "check": summary(times),
        "check_rss": summary(peaks),
    }


# ----------------------------------------------------------------------------- table

def verdict(met):
    """Returns the verdict cell: one bool, or a list of (target, met) pairs."""
    if isinstance(met, bool):
        return "met" if met else "**missed**"
    return "; ".join(f"{target}: {verdict(each)}" for target, each in met)


def render(results, settings, tools):
    exec_ = results["exec"]
    batch = results["batch"]
    limits = results["limits"]
    accuracy = results["accuracy"]
    expansion = results["expansion"]

    rows = []

    def row(benchmark, tool, stats, fmt, ratio="", target="", met=None):
        rows.append(
            f"| {benchmark} | {tool} | {fmt(stats['median'])} | {fmt(stats['min'])} | {fmt(stats['max'])} "
            f"| {stats['n']} | {ratio} | {target} | {'' if met is None else verdict(met)} |"
        )

    cellrun_exec = exec_["cellrun"]["median"]
    vs_runexec = exec_["runexec"]["median"] / cellrun_exec
    vs_bwrap = cellrun_exec / exec_["bwrap"]["median"]
    row("1. `/bin/true`, whole process", "cellrun exec", exec_["cellrun"], fmt_ms,
        f"{vs_runexec:.1f}x faster than runexec; {vs_bwrap:.2f}x bwrap's time",
        ">= 50x faster than runexec; <= 0.75x bwrap", [("50x", vs_runexec >= 50), ("0.75x", vs_bwrap <= 0.75)])
    row("", "cellrun exec, 50 ms pause before each run", exec_["cellrun_cold"], fmt_ms,
        f"{exec_['cellrun_cold']['median'] / exec_['bwrap']['median']:.2f}x bwrap's time")
    row("", "runexec --container (read-only /)", exec_["runexec"], fmt_ms)
    row("", "bwrap", exec_["bwrap"], fmt_ms)

    runs = batch["runs"]
    cellrun_rate = runs / batch["cellrun"]["median"]
    benchexec_rate = runs / batch["benchexec"]["median"]
    row(f"2. batch of {runs} trivial runs, 2 in parallel (wall time)", "cellrun run -j 2", batch["cellrun"], fmt_s,
        f"{cellrun_rate:.0f} runs/s; {cellrun_rate / benchexec_rate:.1f}x BenchExec's runs/s",
        ">= 40x BenchExec; >= 230 runs/s",
        [("40x", cellrun_rate / benchexec_rate >= 40), ("230 runs/s", cellrun_rate >= 230)])
    row("", "benchexec -N 2 (read-only /)", batch["benchexec"], fmt_s, f"{benchexec_rate:.1f} runs/s")

    for kind, label in [("cpu", "CPU-time limit 1 s, busy loop: CPU time beyond the limit"),
                        ("wall", "wall-time limit 1 s, `sleep 10`: wall time beyond the limit")]:
        cellrun_stats = limits["cellrun"][kind]
        row(f"3. {label}", "cellrun exec", cellrun_stats, fmt_ms, "", "median <= 20 ms",
            cellrun_stats["median"] <= 0.020)
        row("", "runexec", limits["runexec"][kind], fmt_ms)

    cpu = accuracy["cellrun"]["cpu"]
    cpu_bound = 0.01 * 2.0 + 0.005
    row("4. 2 s busy loop: measured CPU time minus getrusage", "cellrun exec", cpu, fmt_ms, "",
        "within 1% + 5 ms (25 ms)", max(abs(cpu["min"]), abs(cpu["max"])) <= cpu_bound)
    row("", "runexec", accuracy["runexec"]["cpu"], fmt_ms)
    percent = lambda value: f"{value * 100:+.2f} %"
    memory = accuracy["cellrun"]["memory"]
    row("4. 300 MiB touched: peak memory minus 300 MiB", "cellrun exec", memory, percent, "",
        "within 2 %", max(abs(memory["min"]), abs(memory["max"])) <= 0.02)
    row("", "runexec", accuracy["runexec"]["memory"], percent)

    check = expansion["check"]
    peak = expansion["check_rss"]
    mib = lambda value: f"{value / 2**20:.0f} MiB"
    row("5. job file with 100,000 runs: `cellrun check` wall time", "cellrun", check, fmt_s,
        f"criterion (load only): [{expansion['criterion']}]", "< 2 s", check["max"] < 2.0)
    row("5. same: peak resident set size", "cellrun", peak, mib,
        f"criterion process: {expansion['criterion_rss_mib']} MiB", "< 200 MB", peak["max"] < 200e6)

    header = (
        "| benchmark | tool | median | min | max | N | ratio | target | |\n"
        "|---|---|---|---|---|---|---|---|---|"
    )
    machine = f"{os.cpu_count()} CPUs, Linux {os.uname().release}"
    versions = (
        f"{run([tools.cellrun, '--version']).stdout.strip()}, "
        f"{run([tools.runexec, '--version']).stdout.strip()}, "
        f"{run(['bwrap', '--version']).stdout.strip()}, "
        f"{run(['hyperfine', '--version']).stdout.strip()}"
    )
    quick = "\n**Smoke run with few repetitions (`--quick`): not a result.**\n" if settings.quick else ""
    return (
        f"{TABLE_START}\n"
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {machine}; {versions}.\n{quick}\n"
        f"{header}\n" + "\n".join(rows) + f"\n{TABLE_END}"
    )


def rewrite_doc(table):
    text = DOC.read_text()
    start, end = text.index(TABLE_START), text.index(TABLE_END) + len(TABLE_END)
    DOC.write_text(text[:start] + table + text[end:])


# ----------------------------------------------------------------------------- main

class Tools:
    def __init__(self, args):
        self.cellrun = str(Path(args.cellrun).resolve())
        self.runexec = args.runexec
        self.benchexec = args.benchexec


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cellrun", default=str(REPO / "target" / "release" / "cellrun"))
    parser.add_argument("--runexec", default="/var/tmp/benchexec-venv/bin/runexec")
    parser.add_argument("--benchexec", default="/var/tmp/benchexec-venv/bin/benchexec")
    parser.add_argument("--quick", action="store_true", help="few repetitions, for a smoke test")
    parser.add_argument("--only", action="append", choices=["exec", "batch", "limits", "accuracy", "expansion"],
                        help="run only these parts and print their figures without rewriting the doc")
    parser.add_argument("--json", help="also write the raw figures to this file, after each part")
    parser.add_argument("--render", metavar="JSON",
                        help="measure nothing: rewrite the doc's table from figures saved with --json")
    args = parser.parse_args()
    tools, settings = Tools(args), Settings(args)
    if args.render:
        table = render(json.loads(Path(args.render).read_text()), settings, tools)
        rewrite_doc(table)
        print(table)
        return

    # Not below /tmp: runexec and cellrun hide /tmp, so the programs must live elsewhere.
    workdir = tempfile.mkdtemp(prefix="cellrun-bench-", dir="/var/tmp")
    try:
        programs = build_programs(workdir)
        parts = {
            "exec": lambda: bench_exec(tools, settings, workdir),
            "batch": lambda: bench_batch(tools, settings, workdir),
            "limits": lambda: bench_limits(tools, settings, workdir),
            "accuracy": lambda: bench_accuracy(tools, settings, workdir, programs),
            "expansion": lambda: bench_expansion(tools, settings, workdir),
        }
        results = {}
        for name, part in parts.items():
            if args.only and name not in args.only:
                continue
            print(f"== {name}", file=sys.stderr, flush=True)
            results[name] = part()
            print(json.dumps(results[name], indent=1), file=sys.stderr, flush=True)
            if args.json:
                Path(args.json).write_text(json.dumps(results, indent=1))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    if args.only:
        return
    table = render(results, settings, tools)
    rewrite_doc(table)
    print(table)


if __name__ == "__main__":
    main()

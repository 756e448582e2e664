#!/bin/sh
# Runs every comparison benchmark of cellrun against BenchExec and bubblewrap and rewrites
# the results table in docs/benchmarks.md.
#
#   benches/run.sh            # full run, about 10 minutes (BenchExec's batch takes most)
#   benches/run.sh --quick    # smoke run with few repetitions, for CI
#
# Needs root (cgroups, namespaces). It installs what is missing: bubblewrap, hyperfine and
# a C compiler with apt, and BenchExec from PyPI into a virtual environment in
# /var/tmp/benchexec-venv (outside /tmp, which runexec's container hides). It then builds
# cellrun in release mode and runs benches/compare.py, which accepts --only PART to run
# single parts (exec, batch, limits, accuracy, expansion) without touching the doc.
set -eu

cd "$(dirname "$0")/.."
venv=${BENCHEXEC_VENV:-/var/tmp/benchexec-venv}

missing=""
command -v bwrap >/dev/null || missing="$missing bubblewrap"
command -v hyperfine >/dev/null || missing="$missing hyperfine"
command -v cc >/dev/null || missing="$missing gcc libc6-dev"
if [ -n "$missing" ]; then
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq $missing
fi
if [ ! -x "$venv/bin/runexec" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet benchexec
fi

cargo build --release --quiet
exec python3 benches/compare.py --runexec "$venv/bin/runexec" --benchexec "$venv/bin/benchexec" "$@"

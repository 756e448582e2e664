#!/usr/bin/env bash
# Runs the SLURM suite (tests/slurm.rs) against a single-node SLURM cluster that this script
# starts on 127.0.0.1 and stops again, also when a test fails or the script is interrupted.
# Arguments go to the test binary as a filter.
#
# Needs root and Debian's packages slurmctld, slurmd, slurm-client and munge, which
# tests/slurm/local-cluster.sh installs with apt-get when they are missing. The cluster's
# state lives in CELLRUN_SLURM_STATE (default /tmp/cellrun-slurm), which must be short for
# the munge socket path; it is deleted at the end. A test that cannot reach the cluster
# fails instead of skipping (CELLRUN_REQUIRE_SLURM=1).
set -euo pipefail
cd "$(dirname "$0")/.."

readonly harness=tests/slurm/local-cluster.sh
readonly state=${CELLRUN_SLURM_STATE:-/tmp/cellrun-slurm}

# Builds first, so that the cluster is not up during the compilation.
cargo test --locked --test slurm --no-run

stop_cluster() {
    bash "$harness" down "$state" || true
    rm -rf -- "$state"
}
trap stop_cluster EXIT

eval "$(bash "$harness" up "$state")"
export CELLRUN_REQUIRE_SLURM=1
cargo test --locked --test slurm -- --test-threads=1 "$@"

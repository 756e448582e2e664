#!/usr/bin/env bash
# Builds cellrun and runs the bundled example job: gzip, bzip2 and xz compress real text
# files, each run in its own container, and the results land in results/quickstart.<time>/.
# Needs root (containers and cgroups) and a Rust toolchain.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --locked
./target/release/cellrun check specs/quickstart.yaml
./target/release/cellrun run specs/quickstart.yaml

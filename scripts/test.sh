#!/usr/bin/env bash
# The test command of the README: every unit and integration test, containers included.
#
# Tests run one at a time because several of them measure CPU time and limit precision,
# which parallel tests on a small machine would disturb.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --locked --no-fail-fast -- --test-threads=1

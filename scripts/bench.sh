#!/usr/bin/env bash
# The benchmarks (README, "Benchmarks"): a table on stdout, target/bench/results.json.
# Arguments go to the benchmark: scale, reaction, flink (default: all three),
# --sizes 100,1000,10000, --samples 40, --settle-secs 150, --window-secs 60, --rounds 4.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/prerequisites.sh
export FLINK_HOME_FOR_TESTS="$PWD/.flinkd/flink-2.3"
exec cargo bench --locked --features test-support --bench flinkd -- "$@"

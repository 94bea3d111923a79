#!/usr/bin/env bash
# The README's second command: the whole test suite (unit, integration, end-to-end).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/prerequisites.sh
export FLINK_HOME_FOR_TESTS="$PWD/.flinkd/flink-2.3"
# test-support builds the fake Flink REST server used by the fault-injection tests.
cargo test --locked --all-targets --features test-support

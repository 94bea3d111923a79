#!/usr/bin/env bash
# The README's first command: install what is missing, build flinkd, and run it on the
# bundled example (config/flinkd.toml, examples/deployments/).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/prerequisites.sh
cargo build --release --locked
target/release/flinkd validate --config config/flinkd.toml examples/deployments
echo "setup: running flinkd on examples/deployments (Ctrl-C stops flinkd; the Flink cluster keeps running)" >&2
exec target/release/flinkd run --config config/flinkd.toml

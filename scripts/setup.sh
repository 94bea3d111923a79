#!/usr/bin/env bash
# The README's first command: install what is missing, build flinkd, and run it on the
# bundled example (config/flinkd.toml, examples/deployments/).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/prerequisites.sh
cargo build --release --locked
# `flinkd run` (the daemon) is not built yet; until it is, the set-up checks the
# bundled example the way the daemon will read it.
exec target/release/flinkd validate --config config/flinkd.toml --expand examples/deployments

#!/usr/bin/env bash
# The README's first command: install what is missing, build flinkd, and run it on the
# bundled example (config/flinkd.toml, examples/deployments/).
#
#   scripts/setup.sh                       runs flinkd in the foreground (Ctrl-C stops it)
#   scripts/setup.sh --exit-when-running   starts flinkd, waits until the example is
#                                          RUNNING (at most FLINKD_SETUP_TIMEOUT seconds,
#                                          180), then stops flinkd and exits 0; the Flink
#                                          cluster keeps running and the next flinkd
#                                          adopts it
set -euo pipefail
cd "$(dirname "$0")/.."

exit_when_running=""
for arg in "$@"; do
    case "$arg" in
        --exit-when-running) exit_when_running=1 ;;
        *) echo "usage: scripts/setup.sh [--exit-when-running]" >&2; exit 2 ;;
    esac
done

scripts/prerequisites.sh
cargo build --release --locked
flinkd=target/release/flinkd
$flinkd validate --config config/flinkd.toml examples/deployments

if [ -z "$exit_when_running" ]; then
    echo "setup: running flinkd on examples/deployments (Ctrl-C stops flinkd; the Flink cluster keeps running)" >&2
    exec $flinkd run --config config/flinkd.toml
fi

echo "setup: starting flinkd on examples/deployments until the example is RUNNING" >&2
$flinkd run --config config/flinkd.toml &
daemon=$!
trap 'kill -TERM $daemon 2>/dev/null || true; wait $daemon 2>/dev/null || true' EXIT
deadline=$((SECONDS + ${FLINKD_SETUP_TIMEOUT:-180}))
status=""
while [ $SECONDS -lt $deadline ]; do
    if ! kill -0 $daemon 2>/dev/null; then
        echo "setup: flinkd exited before the example ran" >&2
        exit 1
    fi
    status=$($flinkd get deployment counter --config config/flinkd.toml -o json 2>/dev/null \
        | python3 -c 'import json, sys; print(json.load(sys.stdin).get("status", {}).get("state", ""))' \
        2>/dev/null || true)
    case "$status" in
        RUNNING)
            $flinkd get deployments --config config/flinkd.toml
            echo "setup: the example is RUNNING; stopping flinkd (the Flink cluster keeps running)" >&2
            exit 0
            ;;
        FAILED)
            $flinkd events counter --config config/flinkd.toml >&2 || true
            echo "setup: the example FAILED (events above)" >&2
            exit 1
            ;;
    esac
    sleep 1
done
$flinkd events counter --config config/flinkd.toml >&2 || true
echo "setup: the example is not RUNNING after ${FLINKD_SETUP_TIMEOUT:-180}s (status: ${status:-unknown})" >&2
exit 1

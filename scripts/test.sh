#!/usr/bin/env bash
# The README's second command: the whole test suite (unit, integration, end-to-end).
#
# Two groups run side by side: the tests on real Flink (files marked
# `// suite: real-flink`, one cluster at a time within their group) and the rest (the
# pure core, the fake Flink: no JVM), whose output is printed when both have ended.
# The fake-only group refuses to reach real Flink (FLINKD_TESTS_NO_JVM), so a test
# that starts a JVM without the mark fails instead of running two clusters at once.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/prerequisites.sh --tests
export FLINK_HOME_FOR_TESTS="$PWD/.flinkd/flink-2.3"
# test-support builds the fake Flink REST server used by the fault-injection tests.
cargo test --locked --all-targets --features test-support --no-run

real=()
rest=()
for file in tests/*.rs; do
    name=$(basename "$file" .rs)
    if grep -q '^// suite: real-flink' "$file"; then
        real+=(--test "$name")
    else
        rest+=(--test "$name")
    fi
done

logs=$(mktemp -d)
# Its own session, so that it ends with this script however this script ends.
# --no-fail-fast: a failing test binary does not hide the others' results.
FLINKD_TESTS_NO_JVM=1 setsid cargo test --locked --no-fail-fast --features test-support \
    --lib --bins --benches "${rest[@]}" >"$logs/fake-only.log" 2>&1 &
fake_only=$!
trap 'kill -- -"$fake_only" 2>/dev/null || true; rm -rf "$logs"' EXIT

set +e
cargo test --locked --no-fail-fast --features test-support "${real[@]}" 2>&1 |
    tee "$logs/real-flink.log"
real_rc=${PIPESTATUS[0]}
wait "$fake_only"
fake_only_rc=$?
set -e

echo
echo "==== the tests without a JVM (pure core, fake Flink) ===="
cat "$logs/fake-only.log"
# Last, where a truncated log still shows it: which tests failed, in which binary.
for group in real-flink fake-only; do
    awk -v g="$group" '/^     Running /{bin=$2} / \.\.\. FAILED$/{print "[" g "] FAILED " bin ": " $2}' \
        "$logs/$group.log"
done
echo "==== real Flink: exit $real_rc; without a JVM: exit $fake_only_rc ===="
[ "$real_rc" -eq 0 ] && [ "$fake_only_rc" -eq 0 ]

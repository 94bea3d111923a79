#!/usr/bin/env bash
# Compiles the example jobs (examples/jobs/src) against a Flink distribution into
# .flinkd/jobs/*.jar. Plain javac and jar: no Maven.
#
#   scripts/build-examples.sh FLINK_HOME
set -euo pipefail
cd "$(dirname "$0")/.."

flink_home="$1"
out=.flinkd/jobs
build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT

mkdir -p "$out"
find examples/jobs/src -name '*.java' > "$build/sources"
javac -nowarn -encoding UTF-8 --release 17 -cp "$flink_home/lib/*" -d "$build/classes" @"$build/sources"
jar --create --file "$out/counter.jar" --main-class flinkd.examples.Counter -C "$build/classes" .
echo "build-examples: $out/counter.jar" >&2

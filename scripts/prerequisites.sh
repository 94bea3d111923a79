#!/usr/bin/env bash
# Installs what flinkd and its tests need and is missing, on Debian: a JDK 17+ (for
# Flink and for compiling the example jobs), a C compiler and make (for the bundled
# SQLite and jemalloc), and a Flink distribution from PyPI, linked at .flinkd/flink-2.3
# where config/flinkd.toml expects it. With --tests, also what only the test suite
# needs: Debian's Chromium and ChromeDriver, for the web console's browser test. Safe
# to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

tests=false
[ "${1:-}" = "--tests" ] && tests=true

FLINK_VERSION="${FLINK_VERSION:-2.3.0}"

java_major() {
    command -v javac >/dev/null 2>&1 || { echo 0; return; }
    javac -version 2>&1 | sed -E 's/^javac ([0-9]+).*/\1/'
}

missing=()
[ "$(java_major)" -ge 17 ] || missing+=(openjdk-17-jdk-headless)
# A C compiler and make build the bundled SQLite and jemalloc.
command -v cc >/dev/null 2>&1 || missing+=(gcc libc6-dev)
command -v make >/dev/null 2>&1 || missing+=(make)
if $tests; then
    [ -x /usr/bin/chromium ] || missing+=(chromium)
    [ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
    # kubernetes-validate goes into a venv; Debian's python3 makes one only with this.
    python3 -c 'import ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
fi
if [ ${#missing[@]} -gt 0 ]; then
    echo "prerequisites: installing ${missing[*]}" >&2
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >&2
fi

if ! command -v cargo >/dev/null 2>&1; then
    echo "prerequisites: cargo is missing; install Rust (https://rustup.rs) first" >&2
    exit 1
fi

flink_home=$(scripts/install-flink.sh "$FLINK_VERSION")
minor=$(echo "$FLINK_VERSION" | cut -d. -f1-2)
mkdir -p .flinkd
ln -sfn "$flink_home" ".flinkd/flink-$minor"
echo "prerequisites: Flink $FLINK_VERSION at .flinkd/flink-$minor -> $flink_home" >&2
scripts/build-examples.sh ".flinkd/flink-$minor"

if $tests; then
    # The schema check of `flinkd render`'s Kubernetes objects (tests/kubernetes_render.rs):
    # kubernetes-validate carries the official schemas, so it runs offline once installed.
    kv_version=1.37.0
    kv="${XDG_CACHE_HOME:-$HOME/.cache}/flinkd/kubernetes-validate-$kv_version"
    # A venv cannot be moved (its scripts name its path): made in place, and marked
    # complete last, so that an interrupted install is made again.
    if [ ! -e "$kv/.complete" ]; then
        echo "prerequisites: installing kubernetes-validate $kv_version into $kv" >&2
        rm -rf "$kv"
        python3 -m venv "$kv"
        "$kv/bin/python" -m pip install --quiet "kubernetes-validate==$kv_version" >&2
        touch "$kv/.complete"
    fi
    mkdir -p .flinkd/bin
    ln -sfn "$kv/bin/kubernetes-validate" .flinkd/bin/kubernetes-validate
fi

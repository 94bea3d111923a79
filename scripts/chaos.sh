#!/usr/bin/env bash
# The chaos soak (tests/support/chaos.rs): seeded campaigns of edits, Flink faults,
# daemon kills and quota pressure against the fake Flink, three at a time; prints each
# seed's figures and the totals, and fails on any violation (with its seed and schedule,
# to replay it).
#
#   scripts/chaos.sh [--seeds N] [--minutes M] [--ops K] [--first-seed S]
#     N seeds (30), new ones started until M minutes have passed (30), K operations each
#     (300), seeds S, S+1, … (1000). CI runs seeds 1-10 of 200 operations (tests/chaos.rs).
set -euo pipefail
cd "$(dirname "$0")/.."

while [ $# -gt 0 ]; do
    case "$1" in
        --seeds) export CHAOS_SEEDS="$2"; shift 2 ;;
        --minutes) export CHAOS_MINUTES="$2"; shift 2 ;;
        --ops) export CHAOS_OPS="$2"; shift 2 ;;
        --first-seed) export CHAOS_FIRST_SEED="$2"; shift 2 ;;
        *) echo "usage: scripts/chaos.sh [--seeds N] [--minutes M] [--ops K] [--first-seed S]" >&2; exit 2 ;;
    esac
done
exec cargo test --locked --features test-support --test chaos soak -- --ignored --nocapture

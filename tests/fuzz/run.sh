#!/usr/bin/env bash
# One libFuzzer target for a fixed time: run.sh FUZZ_DIR SECONDS TARGET.
# The Makefile's `fuzz` runs the targets $(JOBS) at a time through this;
# a crash or sanitizer report prints the log's tail and fails.
set -u
dir=$1 seconds=$2 t=$3
if "$dir/fuzz_$t" -max_total_time="$seconds" -seed=1 \
    -artifact_prefix="$dir/" "$dir/corpus-$t" "tests/fuzz/seeds-$t" \
    >"$dir/log-$t" 2>&1; then
    echo "fuzz $t: $(grep '^Done' "$dir/log-$t")"
else
    tail -n 40 "$dir/log-$t"
    echo "fuzz $t: FAILED"
    exit 1
fi

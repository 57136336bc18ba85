#!/usr/bin/env bash
# make bench: the start-up table (bench_startup) and the CLI's wall time.
# Figures only; nothing here asserts a time.
set -euo pipefail
host=${1:?usage: bench/run.sh BUILD/host}
echo "## liberyx start-up ($(nproc) cores, $(date -u +%F))"
echo
"$host/bench_startup" 100
echo
echo "## Limits: trigger to error"
echo
"$host/bench_limits"
echo
echo "## CLI wall time: eryx -c 'print(1)'"
echo
if command -v hyperfine >/dev/null; then
    hyperfine -N --warmup 3 --runs 30 --export-markdown /dev/stdout \
        "$host/eryx -c 'print(1)'" 2>/dev/null | grep '^|'
else
    start=$(date +%s%N)
    for _ in $(seq 20); do "$host/eryx" -c 'print(1)' >/dev/null; done
    echo "mean $(( ($(date +%s%N) - start) / 20000000 )) ms over 20 runs"
fi

#!/usr/bin/env bash
# make bench: eryx and the reference pyeryx measured side by side in one run,
# merged into one markdown table (bench/table.py), then the limits table.
# Figures only; nothing here fails on a missed target.
#
#   bench/run.sh BUILD/host [PYTHON_NATIVE] [WASMTIME_VERSION] [--quick]
#
# PYTHON_NATIVE: the native CPython built from the guest's source (the kernels'
# baseline); empty or missing: the native ratios say n/a.  The pyeryx column
# comes from the venv scripts/pyeryx-venv.sh makes; when it cannot be made the
# column says n/a and the run still succeeds.  BENCH_QUICK=1 is --quick.
# The raw JSON lines and the table are kept in BUILD/host/bench-results/.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
host=$(cd "${1:?usage: bench/run.sh BUILD/host [PYTHON_NATIVE] [WASMTIME_VERSION] [--quick]}" && pwd)
native=${2:-}
wasmtime=${3:-?}
quick=()
[[ ${4:-} == --quick || ${BENCH_QUICK:-} == 1 ]] && quick=(--quick)

out="$host/bench-results"
mkdir -p "$out"
rm -f "$out"/*.jsonl "$out"/*.log "$out/table.md"

echo "bench: eryx (bench_speed)..." >&2
"$host/bench_speed" "${quick[@]}" --cli "$host/eryx" >"$out/eryx.jsonl" 2>"$out/eryx.log" ||
    { cat "$out/eryx.log" >&2; echo "bench: bench_speed failed" >&2; exit 1; }

if [[ -n $native && -x $native ]]; then
    echo "bench: native CPython gather and throughput..." >&2
    "$native" "$here/bench/native_kernels.py" --only gather5x10 --only throughput \
        "${quick[@]}" >"$out/native.jsonl" 2>"$out/native.log" ||
        echo "bench: native kernels failed (see $out/native.log)" >&2
else
    echo "bench: no native CPython given; the native ratios say n/a" >&2
fi

echo "bench: pyeryx..." >&2
if py=$("$here/scripts/pyeryx-venv.sh" 2>"$out/pyeryx-venv.log" | tail -n 1) &&
   [[ -x $py ]]; then
    "$py" "$here/bench/pyeryx_bench.py" "${quick[@]}" --skip kernels \
        >"$out/pyeryx.jsonl" 2>"$out/pyeryx.log" ||
        echo "bench: pyeryx bench failed (see $out/pyeryx.log); partial column" >&2
else
    echo "bench: no pyeryx venv (see $out/pyeryx-venv.log); its column says n/a" >&2
fi

# The CPU kernels: eryx, native CPython and pyeryx one call at a time in turn,
# so that the machine's drift falls on all three alike.
echo "bench: CPU kernels, interleaved..." >&2
kargs=(--eryx "$host/bench_speed" --out-eryx "$out/eryx.jsonl")
[[ -n $native && -x $native ]] && kargs+=(--native "$native" --out-native "$out/native.jsonl")
[[ -n ${py:-} && -x ${py:-} ]] && kargs+=(--pyeryx "$py" --out-pyeryx "$out/pyeryx.jsonl")
python3 "$here/bench/kernels_interleaved.py" "${kargs[@]}" "${quick[@]}" \
    2>"$out/kernels.log" ||
    echo "bench: interleaved kernels failed (see $out/kernels.log)" >&2

# The Python API's rows: the same script with our wheel (dist/, made by
# `make python`) in a venv of its own, and with pyeryx in its venv.
wheel=$(ls -t "$here"/dist/eryx-*.whl 2>/dev/null | head -n 1 || true)
if [[ -n $wheel ]] && python3 -m venv --clear "$out/venv-eryx" &&
   "$out/venv-eryx/bin/pip" install --quiet --disable-pip-version-check \
       --no-deps "$wheel"; then
    echo "bench: Python API, eryx..." >&2
    (cd "$out" && "$out/venv-eryx/bin/python" "$here/bench/python_bench.py" \
        "${quick[@]}" >"$out/py-eryx.jsonl" 2>"$out/py-eryx.log") ||
        echo "bench: python_bench failed for eryx (see $out/py-eryx.log)" >&2
    if [[ -n ${py:-} && -x ${py:-} ]]; then
        echo "bench: Python API, pyeryx..." >&2
        (cd "$out" && "$py" "$here/bench/python_bench.py" "${quick[@]}" \
            >"$out/py-pyeryx.jsonl" 2>"$out/py-pyeryx.log") ||
            echo "bench: python_bench failed for pyeryx (see $out/py-pyeryx.log)" >&2
    fi
else
    echo "bench: no wheel in dist/ (make python); no Python API rows" >&2
fi

python3 "$here/bench/table.py" --eryx "$out/eryx.jsonl" \
    --pyeryx "$out/pyeryx.jsonl" --native "$out/native.jsonl" \
    --py-eryx "$out/py-eryx.jsonl" --py-pyeryx "$out/py-pyeryx.jsonl" \
    --wasmtime "$wasmtime" | tee "$out/table.md"

echo "## Limits: trigger to error (eryx, in a session)"
echo
"$host/bench_limits"

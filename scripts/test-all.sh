#!/usr/bin/env bash
# The README's test command, after the build: ctest over the C library, then
# the Python package's pytest suite on the wheel (dist/) installed in a fresh
# venv.  Ends with one line CI reads: "N passed, N failed".
#
#   scripts/test-all.sh HOST_BUILD_DIR VENV_DIR JOBS
set -uo pipefail
host=${1:?host build dir}
venv=${2:?venv dir}
jobs=${3:-2}
here=$(cd "$(dirname "$0")/.." && pwd)

log=$(mktemp)
trap 'rm -f "$log"' EXIT

(cd "$host" && ctest --output-on-failure -j "$jobs") 2>&1 | tee "$log"
c_line=$(grep -E 'tests passed, [0-9]+ tests failed out of [0-9]+' "$log" | tail -1)
c_failed=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\1/' <<<"$c_line")
c_total=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\2/' <<<"$c_line")
if [ -z "$c_line" ]; then c_failed=1 c_total=1; fi

wheel=$(ls -t "$here"/dist/eryx-*.whl 2>/dev/null | head -1)
p_passed=0 p_failed=1
if [ -n "$wheel" ] &&
    python3 -m venv --clear "$venv" &&
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
        --require-hashes -r "$here/bindings/python/requirements-test.txt" &&
    "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps \
        "$wheel"; then
    # From outside the source tree, so that the installed package is tested.
    (cd "$venv" && "$venv/bin/python" -m pytest -q -p no:cacheprovider \
        "$here/bindings/python/tests") 2>&1 | tee "$log"
    p_line=$(grep -E '^(=+ )?[0-9]+ (passed|failed)' "$log" | tail -1)
    p_passed=$(grep -oE '[0-9]+ passed' <<<"$p_line" | cut -d' ' -f1)
    p_failed=0
    for n in $(grep -oE '[0-9]+ (failed|errors?)' <<<"$p_line" | cut -d' ' -f1); do
        p_failed=$((p_failed + n))
    done
    p_passed=${p_passed:-0}
    [ -n "$p_line" ] || p_failed=1
else
    echo "test-all: no wheel in dist/ or the venv could not be made" >&2
fi
passed=$((c_total - c_failed + p_passed))
failed=$((c_failed + p_failed))
echo "ctest: $((c_total - c_failed)) passed, $c_failed failed; pytest: $p_passed passed, $p_failed failed"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

#!/usr/bin/env bash
# liberyx.so exports the API of include/eryx.h and nothing else
# (host/liberyx.map): a leaked Wasmtime, Rust or cJSON symbol would clash
# with another copy in the program that loads us.  And it carries the
# versioned SONAME that programs record.
set -euo pipefail
lib=${1:?usage: check_exports.sh PATH/liberyx.so}
soname=liberyx.so.0.1
# Fewer than this many eryx_ symbols means the version script or the
# visibility attributes stopped exporting the API (include/eryx.h has ~70).
min_api=60
status=0

# Defined dynamic symbols: "ADDRESS TYPE NAME[@VERSION]".  Global types
# are upper-case (T, D, B, R, W, V...) plus u (unique global) and i
# (ifunc); A is a version node's name, not code or data.
symbols=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[B-Zui]$/ {print $3}')
foreign=$(grep -v '^eryx_' <<<"$symbols" || true)
if [ -n "$foreign" ]; then
    echo "FAIL: exported symbols outside eryx_*:"
    # (head first: a sed cut short by head would fail under pipefail)
    head -n 40 <<<"$foreign" | sed 's/^/    /'
    status=1
fi
count=$(grep -c '^eryx_' <<<"$symbols" || true)
if [ "$count" -lt "$min_api" ]; then
    echo "FAIL: only $count eryx_ symbols exported (expected at least $min_api)"
    status=1
fi
if ! readelf -d "$lib" | grep -qF "Library soname: [$soname]"; then
    echo "FAIL: no SONAME $soname:"
    readelf -d "$lib" | grep -F SONAME || echo "    (none)"
    status=1
fi
[ "$status" = 0 ] && echo "ok: $count eryx_ symbols exported, nothing else; SONAME $soname"
exit "$status"

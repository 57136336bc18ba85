#!/usr/bin/env bash
# The layering rule of host/ (docs/design.md, "Layers"): a file may include
# the private header of its own subsystem and of subsystems below it, never
# above; so no include or call loop can form between subsystems.  Each
# line of LAYERS is one layer, lowest first; subsystems on one line are
# peers and must not include each other.
set -u
host=${1:?usage: check_layers.sh HOST_DIR}
LAYERS="core
callbacks guest vfs
net
config
imports
engine
instance
sandbox"
declare -A rank
r=0
while read -r line; do
    for sub in $line; do rank[$sub]=$r; done
    r=$((r + 1))
done <<<"$LAYERS"
bad=0 checked=0
for f in "$host"/*/*.[ch]; do
    sub=$(basename "$(dirname "$f")")
    if [ -z "${rank[$sub]+x}" ]; then
        echo "FAIL $f: subsystem '$sub' is not in the layer table"
        bad=$((bad + 1))
        continue
    fi
    while read -r inc; do
        dep=${inc%%/*}
        checked=$((checked + 1))
        if [ -z "${rank[$dep]+x}" ]; then
            echo "FAIL $f includes $inc: unknown subsystem '$dep'"
            bad=$((bad + 1))
        elif [ "$dep" != "$sub" ] && [ "${rank[$dep]}" -ge "${rank[$sub]}" ]; then
            echo "FAIL $f ($sub) includes $inc ($dep): not a lower layer"
            bad=$((bad + 1))
        fi
    done < <(sed -n 's/^#include "\([a-z_]*\/[a-z_]*\.h\)".*/\1/p' "$f")
done
# No header of a subsystem may be reached by a relative path around the rule.
if grep -n '#include "\.\./' "$host"/*/*.[ch]; then
    echo "FAIL relative includes"
    bad=$((bad + 1))
fi
echo "$((checked - bad)) passed, $bad failed"
[ "$bad" = 0 ]

#!/usr/bin/env bash
# Create (once) a virtualenv holding the reference package pyeryx, pinned and
# hash-checked by bench/pyeryx-requirements.txt, for `make bench`'s
# comparison column. Prints the venv's python on its last line.
#
#   scripts/pyeryx-venv.sh            # -> .../pyeryx-0.11.0/bin/python
#   PYERYX_PYTHON=/path/python3.13 scripts/pyeryx-venv.sh
#
# pyeryx 0.11.0 ships only cp312-abi3 wheels, so the venv needs a Python
# >= 3.12. Looked for, in order: $PYERYX_PYTHON, python3.13/python3.12/python3
# on PATH, pyenv's installed versions, and as a last resort the native
# CPython built beside the guest (${ERYX_CACHE}/guest-py*/cpython/...).
set -euo pipefail

version=0.11.0
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
req="$here/bench/pyeryx-requirements.txt"
cache=${ERYX_CACHE:-$HOME/.cache/eryx}
venv="$cache/pyeryx-$version"
stamp="$venv/.eryx-requirements.sha256"

log() { echo "pyeryx-venv: $*" >&2; }

want=$(sha256sum "$req" | cut -d' ' -f1)
if [[ -f $stamp && $(cat "$stamp") == "$want" ]] &&
   "$venv/bin/python" -c 'import eryx' 2>/dev/null; then
    echo "$venv/bin/python"
    exit 0
fi

usable() {   # a real interpreter >= 3.12 with venv and ensurepip
    [[ -x $1 ]] || return 1
    "$1" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 12))' \
        >/dev/null 2>&1
}

pick_python() {
    local c
    if [[ -n ${PYERYX_PYTHON:-} ]]; then
        usable "$PYERYX_PYTHON" && { echo "$PYERYX_PYTHON"; return; }
        log "PYERYX_PYTHON=$PYERYX_PYTHON is not a Python >= 3.12 with venv"
        return 1
    fi
    for c in python3.13 python3.12 python3; do
        c=$(command -v "$c" 2>/dev/null) || continue
        usable "$c" && { echo "$c"; return; }   # pyenv shims fail here unless active
    done
    local root
    root=$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")
    for c in $(ls -d "$root"/versions/3.1[2-9]* 2>/dev/null | sort -rV); do
        usable "$c/bin/python3" && { echo "$c/bin/python3"; return; }
    done
    for c in "$cache"/guest-py3.1[2-9]*/cpython/cross-build/build/python; do
        usable "$c" && { echo "$c"; return; }
    done
    log "no Python >= 3.12 found (pyeryx $version ships only cp312-abi3 wheels);"
    log "set PYERYX_PYTHON, or build the guest first (its native CPython is used)"
    return 1
}

py=$(pick_python)
log "creating $venv with $py ($("$py" -c 'import sys; print(sys.version.split()[0])'))"
mkdir -p "$cache"
rm -rf "$venv"
"$py" -m venv "$venv" >&2
"$venv/bin/python" -m pip install --no-input --disable-pip-version-check \
    --only-binary=:all: --no-deps --require-hashes -r "$req" >&2
"$venv/bin/python" -c 'import eryx; assert eryx.__version__ == "'"$version"'", eryx.__version__'
echo "$want" >"$stamp"
echo "$venv/bin/python"

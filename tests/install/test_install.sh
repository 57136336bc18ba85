#!/usr/bin/env bash
# `make install` and liberyx used from the prefix alone: the build tree is
# moved away, so anything that still reaches into it fails here.  Checks
# pkg-config and find_package(eryx) builds of examples/hello.c, the
# installed CLI and its precompiled guest, a moved prefix, an unreadable
# $ERYX_RUNTIME, a static link, and a DESTDIR install.
# Run from the top of the source tree after `make host` (make test-install).
# The check functions below run through check "$@", which ShellCheck
# cannot follow:
# shellcheck disable=SC2317
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
build=${BUILD:-build}
make=${MAKE:-make}
pass=0 fail=0
tmp=$(mktemp -d /tmp/eryx-install.XXXXXX)
away=$build.away-$$

cleanup() {
    # The build tree comes back whatever happened.
    if [ -d "$away" ] && [ ! -e "$build" ]; then
        mv "$away" "$build"
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
# Signals end the script through `exit`, so that the EXIT trap runs.
trap 'exit 130' INT
trap 'exit 143' TERM

# check NAME COMMAND...: COMMAND succeeds.  What it printed is in
# $tmp/out for the functions below, and shown on failure.
check() {
    local name=$1
    shift
    if "$@" >"$tmp/log" 2>&1; then
        pass=$((pass + 1))
        echo "ok   $name"
    else
        fail=$((fail + 1))
        echo "FAIL $name"
        [ -f "$tmp/out" ] && tail -n 20 "$tmp/out" | sed 's/^/    | /'
        tail -n 20 "$tmp/log" | sed 's/^/    > /'
    fi
    rm -f "$tmp/out"
}

# hello_ok COMMAND...: examples/hello.c ran and printed what the ctest
# example_hello expects (tests/CMakeLists.txt).
hello_ok() {
    "$@" >"$tmp/out" 2>&1 &&
        grep -qF 'squares: [0, 1, 4, 9, 16]' "$tmp/out" &&
        grep -qF 'hello from cpython wasi' "$tmp/out"
}

# precompiled ERYX PREFIX: `eryx info` says the guest is PREFIX's
# runtime.cwasm, mapped, not compiled (the library names it relative to
# its own directory, e.g. bin/../share, hence realpath).
precompiled() {
    "$1" info >"$tmp/out" 2>&1 || return 1
    local path
    path=$(sed -n 's/^guest: precompiled //p' "$tmp/out")
    [ -n "$path" ] &&
        [ "$(realpath "$path")" = "$(realpath "$2/share/eryx/runtime.cwasm")" ]
}

# same_mtime A B: equal modification times to the nanosecond, which the
# compiled guest's identity includes (host/engine/cache.c).
same_mtime() {
    [ "$(stat -c %y "$1")" = "$(stat -c %y "$2")" ]
}

# owner_writable DIR: every file and directory is writable by its owner,
# so that an installed tree can be deleted or overwritten (the guest's
# stdlib is read-only in the dependency cache).
owner_writable() {
    [ -z "$(find "$1" ! -type l ! -perm -u+w -print -quit)" ] &&
        [ -z "$(find "$1" ! -type l ! -perm -a+r -print -quit)" ]
}

# no_build_paths DIR: the pkg-config and CMake files name no path of the
# source or build tree (they must work from a moved prefix).
no_build_paths() {
    ! grep -rqF "$root" "$1/lib/pkgconfig" "$1/lib/cmake"
}

runtime_wasm=$build/runtime.wasm
mm=$(sed -n 's/^PYTHON_VERSION *:\?= *//p' "$build/deps.mk")

# ---- make install, into PREFIX and into DESTDIR/PREFIX ----
prefix=$tmp/prefix
check "make install PREFIX" "$make" --no-print-directory install PREFIX="$prefix"
for f in include/eryx.h lib/liberyx.so lib/liberyx.so.0.1 lib/liberyx.a \
    lib/pkgconfig/eryx.pc lib/cmake/eryx/eryxConfig.cmake bin/eryx \
    share/eryx/runtime.wasm share/eryx/runtime.cwasm \
    share/eryx/runtime.fuel.cwasm "share/eryx/lib/python$mm/os.py"; do
    check "installed $f" test -e "$prefix/$f"
done
check "runtime.wasm keeps its mtime" same_mtime "$runtime_wasm" "$prefix/share/eryx/runtime.wasm"
check "installed files are owner-writable and readable" owner_writable "$prefix"
check "pkg-config and CMake files name no build path" no_build_paths "$prefix"

# DESTDIR stages the files under DESTDIR/PREFIX and nothing at PREFIX.
# Both under $tmp, so that a DESTDIR that is ignored writes nowhere else.
stage=$tmp/stage
staged_prefix=$tmp/staged-prefix
check "make install DESTDIR" "$make" --no-print-directory install \
    PREFIX="$staged_prefix" DESTDIR="$stage"
check "DESTDIR: files under DESTDIR/PREFIX" test -e "$stage$staged_prefix/lib/liberyx.so"
check "DESTDIR: nothing at PREFIX" test ! -e "$staged_prefix"
check "DESTDIR: runtime.wasm keeps its mtime" \
    same_mtime "$runtime_wasm" "$stage$staged_prefix/share/eryx/runtime.wasm"

# ---- from the prefix alone ----
mv "$build" "$away"
# The engines' verification stamps go here, not to ~/.cache.
export ERYX_CACHE=$tmp/cache

# (a) pkg-config
pc() { PKG_CONFIG_PATH=$1/lib/pkgconfig pkg-config "${@:2}" eryx; }
read -ra pc_flags <<<"$(pc "$prefix" --cflags --libs)"
check "pkg-config: build hello" cc examples/hello.c "${pc_flags[@]}" \
    -Wl,-rpath,"$prefix/lib" -o "$tmp/hello-pc"
check "pkg-config: hello runs" hello_ok "$tmp/hello-pc"

# (b) CMake: find_package(eryx), eryx::eryx
mkdir -p "$tmp/cmake-project"
cat >"$tmp/cmake-project/CMakeLists.txt" <<EOF
cmake_minimum_required(VERSION 3.16)
project(hello_eryx C)
find_package(eryx REQUIRED)
add_executable(hello $root/examples/hello.c)
target_link_libraries(hello PRIVATE eryx::eryx)
EOF
check "cmake: configure" cmake -S "$tmp/cmake-project" -B "$tmp/cmake-build" \
    -DCMAKE_PREFIX_PATH="$prefix"
check "cmake: build" cmake --build "$tmp/cmake-build"
check "cmake: hello runs" hello_ok "$tmp/cmake-build/hello"

# (c) the installed CLI, with the installed precompiled guest
eryx_c() {
    "$prefix/bin/eryx" -c 'print(6*7)' >"$tmp/out" 2>&1 &&
        [ "$(cat "$tmp/out")" = 42 ]
}
check "eryx -c" eryx_c
check "eryx info: precompiled from the prefix" precompiled "$prefix/bin/eryx" "$prefix"
check "staged eryx info: precompiled from DESTDIR/PREFIX" \
    precompiled "$stage$staged_prefix/bin/eryx" "$stage$staged_prefix"

# (e) an explicit guest that is not there: a clear error naming it.
missing_runtime() {
    local status=0
    ERYX_RUNTIME=/nonexistent/runtime.wasm "$prefix/bin/eryx" -c 'print(1)' \
        >"$tmp/out" 2>&1 || status=$?
    [ "$status" = 1 ] && grep -qF /nonexistent/runtime.wasm "$tmp/out"
}
check "ERYX_RUNTIME missing: exit 1, path named" missing_runtime

# (f) static link: the installed liberyx.a holds Wasmtime.  A program
# outside a prefix is told where the guest is; one in PREFIX/bin finds it.
check "static: link hello" cc examples/hello.c -I"$prefix/include" \
    "$prefix/lib/liberyx.a" -lcjson -lssl -lcrypto -lpthread -ldl -lm -o "$tmp/hello-static"
check "static: hello runs (ERYX_RUNTIME, ERYX_STDLIB)" hello_ok \
    env ERYX_RUNTIME="$prefix/share/eryx/runtime.wasm" \
    ERYX_STDLIB="$prefix/share/eryx/lib/python$mm" "$tmp/hello-static"
cp "$tmp/hello-static" "$prefix/bin/hello-static"
check "static: hello in PREFIX/bin finds its guest" hello_ok "$prefix/bin/hello-static"
rm -f "$prefix/bin/hello-static"

# (d) relocation: the prefix moved, found by the library itself.
moved=$tmp/moved/prefix
mkdir -p "$tmp/moved"
mv "$prefix" "$moved"
check "moved: hello (LD_LIBRARY_PATH) finds its guest" \
    hello_ok env LD_LIBRARY_PATH="$moved/lib" "$tmp/hello-pc"
check "moved: eryx info still precompiled" precompiled "$moved/bin/eryx" "$moved"
check "moved: pkg-config follows" test "$(pc "$moved" --variable=includedir)" \
    = "$moved/lib/pkgconfig/../../include"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]

#!/usr/bin/env bash
# Bring and build every third-party piece eryx needs, from registries only,
# into ${ERYX_CACHE:-$HOME/.cache/eryx}, keyed by version.  Idempotent: each
# step leaves a stamp and is skipped the next time.
#
#   scripts/deps.sh [--no-apt] OUT.mk
#
# Writes OUT.mk, a make fragment naming the paths the rest of the build uses
# (sysroot, CPython build tree, trimmed stdlib, Wasmtime library and headers).
# Steps and their wall times are appended to $ERYX_CACHE/timings.tsv.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=../deps/versions.env
. "$here/deps/versions.env"

install_apt=1
if [ "${1:-}" = "--no-apt" ]; then install_apt=0; shift; fi
out_mk=${1:?usage: deps.sh [--no-apt] OUT.mk}

cache=${ERYX_CACHE:-$HOME/.cache/eryx}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
jobs=$(nproc 2>/dev/null || echo 2)
llvm=$LLVM_VERSION

log() { printf '[deps] %s\n' "$*" >&2; }
die() { printf '[deps] error: %s\n' "$*" >&2; exit 1; }

# step NAME STAMPDIR CMD...: run CMD once; a stamp file marks it done.  The
# command runs in a subshell so that `set -e` stays in force inside it.
step() {
    local name=$1 stamp=$2/.done-$1
    shift 2
    [ -f "$stamp" ] && return 0
    log "$name ..."
    local t0=$SECONDS
    ("$@")
    mkdir -p "$(dirname "$stamp")"
    touch "$stamp"
    printf '%s\t%s\t%ss\n' "$(date -u +%FT%TZ)" "$name" $((SECONDS - t0)) \
        >>"$cache/timings.tsv"
    log "$name done in $((SECONDS - t0)) s"
}

# ---------------------------------------------------------------- packages
host_packages="clang-$llvm lld-$llvm llvm-$llvm libclang-rt-$llvm-dev-wasm32
    libclang-rt-$llvm-dev clang-tidy-$llvm
    wabt cmake pkg-config tcl make xz-utils ca-certificates dpkg-dev binutils
    clang-format-14 libcjson-dev libssl-dev openssl libedit-dev"
apt_install() {
    local missing=()
    for p in $host_packages; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
            missing+=("$p")
    done
    command -v node >/dev/null || missing+=(nodejs)
    python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
    # The Python package: venvs for its build and tests, headers for its
    # extension.
    python3 -c 'import ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
    python3 -c 'import os, sys, sysconfig
sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' ||
        missing+=(python3-dev)
    command -v npm >/dev/null || missing+=(npm)
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$install_apt" = 1 ] || die "missing packages: ${missing[*]}"
    log "apt-get install ${missing[*]}"
    local sudo=
    [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
        --no-install-recommends "${missing[@]}" >/dev/null
}
apt_install
command -v cargo >/dev/null || die "cargo (Rust >= 1.95) is needed to build Wasmtime"

# ------------------------------------------- private apt for the guest suite
# The guest's sources and wasi-libc come from $DEBIAN_GUEST_SUITE through a
# private apt configuration.  It reuses the mirror the system's apt sources
# already name, so no host name is written anywhere; the system's own apt
# state is never touched.
system_mirror() {
    local f uri
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        uri=$(awk 'BEGIN{RS=""} /Types:.*deb/ && !/Suites:[^\n]*security/ {
                 for (i = 1; i <= NF; i++) if ($i == "URIs:") { print $(i+1); exit } }' "$f")
        [ -n "$uri" ] && { echo "$uri"; return; }
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        uri=$(awk '$1 == "deb" && $0 !~ /security/ {
                 for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' "$f")
        [ -n "$uri" ] && { echo "$uri"; return; }
    done
}

aptdir=$cache/apt
apt_opts=(-o "Dir::Etc::SourceList=$aptdir/sources.list"
    -o "Dir::Etc::SourceParts=/dev/null" -o "Dir::State::Lists=$aptdir/lists"
    -o "Dir::Cache=$aptdir/cache" -o "APT::Get::List-Cleanup=0"
    -o "APT::Sandbox::User=root")
private_apt_update() {
    local mirror
    mirror=$(system_mirror)
    [ -n "$mirror" ] || die "no Debian mirror found in /etc/apt sources"
    mkdir -p "$aptdir/lists/partial" "$aptdir/cache/archives/partial"
    printf 'deb %s %s main\ndeb-src %s %s main\n' "$mirror" "$DEBIAN_GUEST_SUITE" \
        "$mirror" "$DEBIAN_GUEST_SUITE" >"$aptdir/sources.list"
    apt-get "${apt_opts[@]}" update -qq
}

dl=$cache/downloads
mkdir -p "$dl"

# verified FILE: true when FILE is present and matches deps/sha256sums.
verified() {
    [ -f "$dl/$1" ] || return 1
    (cd "$dl" && grep -F "  $1" "$here/deps/sha256sums" | sha256sum -c --status -)
}

# fetch_source PKG VERSION ORIG: apt-get source --download-only.  Some mirrors
# serve the orig tarball but not the .dsc; apt has already checked what it
# fetched against the signed Sources index, and we check our own pin too.
fetch_source() {
    local pkg=$1 ver=$2 orig=$3
    verified "$orig" && return 0
    [ -f "$aptdir/sources.list" ] || private_apt_update
    (cd "$dl" && apt-get "${apt_opts[@]}" source --download-only -qq \
        "$pkg=$ver" >/dev/null 2>&1) || true
    if ! verified "$orig"; then
        private_apt_update
        (cd "$dl" && apt-get "${apt_opts[@]}" source --download-only -qq \
            "$pkg=$ver" >/dev/null 2>&1) || true
    fi
    verified "$orig" || die "could not fetch $orig ($pkg=$ver) with a matching sha256"
}

fetch_deb() {
    local pkg=$1 ver=$2 file=$3
    verified "$file" && return 0
    [ -f "$aptdir/sources.list" ] || private_apt_update
    (cd "$dl" && apt-get "${apt_opts[@]}" download -qq "$pkg=$ver" >/dev/null 2>&1) ||
        { private_apt_update; (cd "$dl" && apt-get "${apt_opts[@]}" download -qq "$pkg=$ver"); }
    verified "$file" || die "$file does not match deps/sha256sums"
}

upstream() { # strip epoch and Debian revision
    local v=${1#*:}
    echo "${v%-*}"
}

py_up=$(upstream "$PYTHON_DEB_VERSION")
wasi_file="wasi-libc_${WASI_LIBC_DEB_VERSION}_all.deb"
py_orig="python${PYTHON_VERSION}_${py_up}.orig.tar.xz"
zlib_orig="zlib_$(upstream "$ZLIB_DEB_VERSION").orig.tar.gz"
bzip2_orig="bzip2_$(upstream "$BZIP2_DEB_VERSION").orig.tar.gz"
xz_orig="xz-utils_$(upstream "$XZ_DEB_VERSION").orig.tar.xz"
sqlite_orig="sqlite3_$(upstream "$SQLITE_DEB_VERSION").orig.tar.xz"
openssl_orig="openssl_$(upstream "$OPENSSL_DEB_VERSION").orig.tar.gz"

# fetch_wheel NAME VERSION FILE: a wheel from PyPI with pip, checked against
# our pin like every download.
fetch_wheel() {
    local name=$1 ver=$2 file=$3
    verified "$file" && return 0
    python3 -m pip download --quiet --no-deps --only-binary=:all: \
        --dest "$dl" "$name==$ver" >/dev/null
    verified "$file" || die "$file does not match deps/sha256sums"
}

tzdata_whl="tzdata-$TZDATA_VERSION-py2.py3-none-any.whl"
fetch_wheel tzdata "$TZDATA_VERSION" "$tzdata_whl"
fetch_deb wasi-libc "$WASI_LIBC_DEB_VERSION" "$wasi_file"
fetch_source "python$PYTHON_VERSION" "$PYTHON_DEB_VERSION" "$py_orig"
fetch_source zlib "$ZLIB_DEB_VERSION" "$zlib_orig"
fetch_source bzip2 "$BZIP2_DEB_VERSION" "$bzip2_orig"
fetch_source xz-utils "$XZ_DEB_VERSION" "$xz_orig"
fetch_source sqlite3 "$SQLITE_DEB_VERSION" "$sqlite_orig"
fetch_source openssl "$OPENSSL_DEB_VERSION" "$openssl_orig"

# -------------------------------------------------------------- sysroot
# Keyed by the pinned versions and by the recipe's revision: bump
# RECIPE_REVISION whenever a step below changes what it builds.
RECIPE_REVISION=6
# Wizer's pins are left out: it is not part of the guest's build.
key=$( (cat "$here/deps/versions.env" "$here/deps/sha256sums"; echo "$RECIPE_REVISION") |
    grep -v -i wizer | sha256sum | cut -c1-12)
gdir=$cache/guest-py$py_up-$key
mkdir -p "$gdir"
sysroot=$gdir/sysroot
S=$sysroot/usr
rd=$gdir/clang-resource
work=$gdir/work

unpack_sysroot() {
    rm -rf "$sysroot"
    dpkg -x "$dl/$wasi_file" "$sysroot"
    [ -f "$S/lib/wasm32-wasip1/libc.a" ] || die "wasi-libc has no wasm32-wasip1 libc.a"
}
step sysroot "$gdir" unpack_sysroot

# clang-19 looks for lib/wasm32-unknown-wasip1/libclang_rt.builtins.a inside its
# resource dir, while Debian ships lib/wasi/libclang_rt.builtins-wasm32.a.  A
# private resource dir of symlinks bridges the two without touching /usr.
resource_dir() {
    local sys
    sys=$(clang-"$llvm" -print-resource-dir)
    rm -rf "$rd"
    mkdir -p "$rd/lib/wasm32-unknown-wasip1"
    ln -s "$sys/include" "$rd/include"
    ln -s "$sys/lib/wasi/libclang_rt.builtins-wasm32.a" \
        "$rd/lib/wasm32-unknown-wasip1/libclang_rt.builtins.a"
}
step resource-dir "$gdir" resource_dir

# The cross toolchain; only wasm_env hands it to configure scripts, so native
# steps (sqlite's generator, the build python) keep the host compiler.
WCC="clang-$llvm --target=wasm32-wasip1 --sysroot=$S -resource-dir $rd"
WCPP="clang-$llvm -E --target=wasm32-wasip1 --sysroot=$S -resource-dir $rd"
WAR=llvm-ar-$llvm
WRANLIB=llvm-ranlib-$llvm
wasm_env() {
    env CC="$WCC" CPP="$WCPP" AR="$WAR" RANLIB="$WRANLIB" CFLAGS="-O2" \
        PKG_CONFIG_PATH= PKG_CONFIG_LIBDIR="$S/lib/wasm32-wasip1/pkgconfig" "$@"
}
inc=$S/include/wasm32-wasip1
lib=$S/lib/wasm32-wasip1

unpack() { # unpack TARBALL DIR
    rm -rf "$2"
    mkdir -p "$2"
    tar -xf "$dl/$1" -C "$2" --strip-components=1
}

build_zlib() {
    unpack "$zlib_orig" "$work/zlib"
    cd "$work/zlib"
    wasm_env CHOST=wasm32-wasip1 ./configure --static --prefix="$S" \
        --libdir="$lib" --includedir="$inc" >/dev/null
    wasm_env make -j"$jobs" libz.a >/dev/null
    make install-libs install-headers >/dev/null 2>&1 ||
        { cp libz.a "$lib/"; cp zlib.h zconf.h "$inc/"; mkdir -p "$lib/pkgconfig"; cp zlib.pc "$lib/pkgconfig/"; }
    [ -f "$lib/pkgconfig/zlib.pc" ] || { mkdir -p "$lib/pkgconfig"; cp zlib.pc "$lib/pkgconfig/"; }
}
step zlib "$gdir" build_zlib

build_bzip2() {
    unpack "$bzip2_orig" "$work/bzip2"
    cd "$work/bzip2"
    local f
    for f in blocksort huffman crctable randtable compress decompress bzlib; do
        $WCC -O2 -D_FILE_OFFSET_BITS=64 -c $f.c -o $f.o
    done
    $WAR rcs "$lib/libbz2.a" ./*.o
    cp bzlib.h "$inc/"
    mkdir -p "$lib/pkgconfig"
    printf 'prefix=%s\nlibdir=%s\nincludedir=%s\n\nName: bzip2\nDescription: bzip2\nVersion: %s\nLibs: -L${libdir} -lbz2\nCflags: -I${includedir}\n' \
        "$S" "$lib" "$inc" "$(upstream "$BZIP2_DEB_VERSION")" >"$lib/pkgconfig/bzip2.pc"
}
step bzip2 "$gdir" build_bzip2

build_xz() {
    unpack "$xz_orig" "$work/xz"
    cd "$work/xz"
    wasm_env ./configure --host=wasm32-wasip1 --prefix="$S" --libdir="$lib" \
        --includedir="$inc" --enable-static --disable-shared --disable-threads \
        --disable-xz --disable-xzdec --disable-lzmadec --disable-lzmainfo \
        --disable-lzma-links --disable-scripts --disable-doc --disable-nls \
        --disable-microlzma --disable-lzip-decoder --disable-ifunc \
        --disable-clmul-crc --disable-arm64-crc32 >/dev/null
    wasm_env make -j"$jobs" -C src/liblzma >/dev/null
    make -C src/liblzma install >/dev/null
}
step xz "$gdir" build_xz

build_sqlite() {
    unpack "$sqlite_orig" "$work/sqlite"
    cd "$work/sqlite"
    # The amalgamation is generated with native tools; only it is cross-built.
    ./configure >/dev/null
    make -j"$jobs" sqlite3.c >/dev/null
    # Debian's own sqlite3 options (debian/rules), less what WASI cannot
    # have (extensions loaded at run time, threads), plus FTS5 and math.
    $WCC -O2 -fno-strict-aliasing \
        -DSQLITE_SECURE_DELETE -DSQLITE_ENABLE_COLUMN_METADATA \
        -DSQLITE_ENABLE_FTS3 -DSQLITE_ENABLE_FTS3_PARENTHESIS \
        -DSQLITE_ENABLE_FTS4 -DSQLITE_ENABLE_FTS5 \
        -DSQLITE_ENABLE_RTREE -DSQLITE_SOUNDEX -DSQLITE_ENABLE_DBSTAT_VTAB \
        -DSQLITE_ENABLE_DBPAGE_VTAB -DSQLITE_ALLOW_ROWID_IN_VIEW \
        -DSQLITE_ENABLE_UPDATE_DELETE_LIMIT -DSQLITE_ENABLE_JSON1 \
        -DSQLITE_LIKE_DOESNT_MATCH_BLOBS -DSQLITE_USE_URI \
        -DSQLITE_MAX_SCHEMA_RETRY=25 -DSQLITE_ENABLE_PREUPDATE_HOOK \
        -DSQLITE_ENABLE_SESSION -DSQLITE_ENABLE_STMTVTAB \
        -DSQLITE_STRICT_SUBTYPE -DSQLITE_MAX_VARIABLE_NUMBER=250000 \
        -DSQLITE_ENABLE_MATH_FUNCTIONS -DSQLITE_OMIT_LOAD_EXTENSION \
        -DSQLITE_THREADSAFE=0 -c sqlite3.c -o sqlite3.o
    $WAR rcs "$lib/libsqlite3.a" sqlite3.o
    cp sqlite3.h sqlite3ext.h "$inc/"
    printf 'prefix=%s\nlibdir=%s\nincludedir=%s\n\nName: SQLite\nDescription: SQL database engine\nVersion: %s\nLibs: -L${libdir} -lsqlite3\nCflags: -I${includedir}\n' \
        "$S" "$lib" "$inc" "$(upstream "$SQLITE_DEB_VERSION")" >"$lib/pkgconfig/sqlite3.pc"
}
step sqlite "$gdir" build_sqlite

# OpenSSL's libcrypto, for hashlib's OpenSSL backend (_hashlib: pbkdf2_hmac,
# scrypt, the EVP digests).  No libssl: TLS is the host's (CPython's
# configure then leaves _ssl out).  "gcc" is OpenSSL's generic Unix target
# (BN_LLONG suits ILP32 wasm32) and, unlike linux-generic32, adds no
# -pthread, which would turn on wasm atomics; enable-threads then uses
# wasi-libc's single-thread pthread stubs, because CPython's _hashopenssl.c
# requires OPENSSL_THREADS.  WASI lacks sockets, dlopen, mmap/mlock, termios
# and pthread_exit; getpid is wasi-libc's emulation, which CPython links
# too.  Random seeds come from getentropy (WASI random_get).  Public-key,
# legacy and TLS-only algorithms are left out: hashlib uses none of them
# (this halves the library; hashlib loses only sm3).
build_openssl() {
    unpack "$openssl_orig" "$work/openssl"
    cd "$work/openssl"
    wasm_env CPPFLAGS=-D_WASI_EMULATED_GETPID ./Configure gcc \
        --prefix=/usr --openssldir=/etc/ssl --with-rand-seed=getrandom \
        enable-threads no-thread-pool no-asm no-pic no-shared no-sock no-dso \
        no-engine no-afalgeng no-ui-console no-secure-memory \
        no-autoload-config no-apps no-tests no-docs \
        no-legacy no-ec no-dh no-dsa no-ml-dsa no-ml-kem no-slh-dsa no-sm2 \
        no-sm3 no-sm4 no-cms no-ts no-ocsp no-cmp no-ct no-srp no-des \
        no-camellia no-aria no-seed no-idea no-rc2 no-rc4 no-bf no-cast \
        no-whirlpool no-md4 no-mdc2 no-siphash no-argon2 no-ocb no-siv \
        no-chacha no-poly1305 >/dev/null
    wasm_env make -j"$jobs" build_generated libcrypto.a >/dev/null \
        2>"$gdir/openssl-build.log"
    mkdir -p "$inc/openssl" "$lib/pkgconfig"
    cp include/openssl/*.h "$inc/openssl/"
    cp libcrypto.a "$lib/"
    printf 'prefix=%s\nlibdir=%s\nincludedir=%s\n\nName: OpenSSL\nDescription: libcrypto only\nVersion: %s\nLibs: -L${libdir} -lcrypto -lwasi-emulated-getpid\nCflags: -I${includedir}\n' \
        "$S" "$lib" "$inc" "$(upstream "$OPENSSL_DEB_VERSION")" >"$lib/pkgconfig/openssl.pc"
}
step openssl "$gdir" build_openssl

# -------------------------------------------------------------- CPython
py=$gdir/cpython
pyver=$PYTHON_VERSION
unpack_python() {
    unpack "$py_orig" "$py"
    touch "$py/Modules/Setup.local"
}
step python-unpack "$gdir" unpack_python

# The native "build python" of the same version runs CPython's code
# generators and compiles the stdlib's .pyc files for the cross build.
build_python_native() {
    mkdir -p "$py/cross-build/build"
    cd "$py/cross-build/build"
    ../../configure -C --without-ensurepip --disable-test-modules >/dev/null
    make -j"$jobs" all >/dev/null 2>"$gdir/native-build.log"
}
step python-native "$gdir" build_python_native

# A host runner for the few times the cross build runs its own python.wasm.
cat >"$gdir/run-wasi.mjs" <<'EOF'
import { readFile } from 'node:fs/promises';
import { WASI } from 'node:wasi';
const argv = process.argv.slice(2), preopens = {}, env = {};
while (argv.length && argv[0].startsWith('--')) {
  const opt = argv.shift(), val = argv.shift();
  if (opt === '--dir') { const [h, g] = val.split('::'); preopens[g ?? h] = h; }
  else if (opt === '--env') { const i = val.indexOf('='); env[val.slice(0, i)] = val.slice(i + 1); }
}
const wasi = new WASI({ version: 'preview1', args: argv, env, preopens, returnOnExit: true });
const mod = await WebAssembly.compile(await readFile(argv[0]));
const inst = await WebAssembly.instantiate(mod, wasi.getImportObject());
process.exitCode = wasi.start(inst);
EOF

# Profile-guided optimization.  An instrumented interpreter cannot run as
# wasm (Debian has no wasm32 profile runtime), so the profile comes from an
# instrumented native build of the same source, configured without computed
# gotos as the wasm build is, running CPython's own training set (`-m test
# --pgo`, what --enable-optimizations runs; its failures do not matter, as
# there).  Clang applies it to the wasm build wherever a function's shape
# is the same on both targets, which is nearly everywhere: the kernels ran
# 4-12 % faster in interleaved A/B runs (docs/benchmarks.md).
profdata=$gdir/cpython.profdata
build_python_profile() {
    local pgo=$py/cross-build/pgo-gen
    rm -rf "$pgo"
    mkdir -p "$pgo"
    cd "$pgo"
    CC="clang-$llvm" CFLAGS="-O2 -fprofile-instr-generate" \
        LDFLAGS="-fprofile-instr-generate" \
        ../../configure -C --without-computed-gotos --disable-test-modules \
        --without-ensurepip >/dev/null
    make -j"$jobs" all >/dev/null 2>"$gdir/pgo-build.log"
    LLVM_PROFILE_FILE="$pgo/prof/%p-%m.profraw" ./python -m test --pgo \
        --timeout=600 >"$gdir/pgo-train.log" 2>&1 || true
    ls "$pgo"/prof/*.profraw >/dev/null 2>&1 ||
        die "the PGO training wrote no profile (see $gdir/pgo-train.log)"
    llvm-profdata-"$llvm" merge -output="$profdata" "$pgo"/prof/*.profraw
    cd "$py"
    rm -rf "$pgo"
}
step python-profile "$gdir" build_python_profile

pywasm=$py/cross-build/wasm32-wasip1
site=$py/Tools/wasm/config.site-wasm32-wasi
[ -f "$site" ] || site=$py/Tools/wasm/wasi/config.site-wasm32-wasi
build_python_wasm() {
    mkdir -p "$pywasm"
    cd "$pywasm"
    # configure must be called by a relative path (CPython's wasi.py says
    # why: the in-tree python.wasm then finds /Lib).
    # -O3, the profile above, and pymalloc (which CPython's configure leaves
    # out on WASI): the kernels ran 5-18 % faster with -O3 and pymalloc in
    # interleaved A/B runs (docs/benchmarks.md), 4-12 % more with the
    # profile.  ThinLTO across the library (the guest's link then optimizes
    # the whole of it: LDFLAGS reach link.ldflags below), except for the
    # interpreter's loop: with ceval.c in it, nbody and richards ran 10 %
    # slower (the loop grew by what was inlined into it); without, every
    # kernel 0-15 % faster.
    local cflags="-O3 -flto=thin -fprofile-instr-use=$profdata"
    cflags+=" -Wno-profile-instr-unprofiled -Wno-profile-instr-out-of-date"
    local nolto=${cflags/-flto=thin /}
    wasm_env CFLAGS="$cflags" LDFLAGS="-flto=thin -Wl,--lto-O3" \
        CONFIG_SITE="$site" \
        HOSTRUNNER="node --no-warnings --stack-size=4000 $gdir/run-wasi.mjs --dir $py::/ --env PYTHONPATH=/cross-build/wasm32-wasip1/build/lib.wasi-wasm32-$pyver" \
        ../../configure -C --host=wasm32-wasip1 --build="$(../../config.guess)" \
        --with-build-python="$py/cross-build/build/python" \
        --disable-test-modules --without-ensurepip --with-pymalloc >/dev/null
    # ceval.o first, without LTO; `make all` then finds it up to date.
    wasm_env CFLAGS="$nolto" make CONFIGURE_CFLAGS="$nolto" Python/ceval.o \
        >/dev/null 2>"$gdir/wasm-build.log"
    wasm_env CFLAGS="$cflags" make -j"$jobs" all >/dev/null \
        2>>"$gdir/wasm-build.log"
    [ -f "libpython$pyver.a" ] || make -j"$jobs" "libpython$pyver.a" >/dev/null
}
step python-wasm "$gdir" build_python_wasm

# What the guest links against: the same libraries and flags python.wasm
# used, read from CPython's own Makefile.
link_flags() {
    cd "$pywasm"
    cat >"$gdir/print-link.mk" <<'EOF'
print-link:
	@echo $(LIBRARY) $(MODLIBS) $(LIBS) $(SYSLIBS)
print-ldflags:
	@echo $(PY_CORE_LDFLAGS) $(LINKFORSHARED)
EOF
    # Relative archive paths in CPython's Makefile are made absolute.
    make -s -f Makefile -f "$gdir/print-link.mk" print-link | tr ' ' '\n' |
        sed -e "/^[^-\/].*\\.a\$/s|^|$pywasm/|" | tr '\n' ' ' >"$gdir/link.libs"
    make -s -f Makefile -f "$gdir/print-link.mk" print-ldflags >"$gdir/link.ldflags"
}
step link-flags "$gdir" link_flags

# The guest's stdlib: sources plus one level of .pyc (unchecked hashes: the
# mount is read-only and never changes under a sandbox), without the test
# suites, GUI and packaging leftovers.
stdlib=$gdir/stdlib/lib/python$pyver
build_stdlib() {
    rm -rf "$gdir/stdlib"
    mkdir -p "$stdlib"
    cp -a "$py/Lib/." "$stdlib/"
    local d
    for d in test idlelib tkinter turtledemo ensurepip lib2to3 venv \
        pydoc_data __phello__ site-packages; do
        rm -rf "${stdlib:?}/$d"
    done
    rm -f "$stdlib"/turtle.py "$stdlib"/_pyrepl/windows*.py
    find "$stdlib" -name __pycache__ -prune -exec rm -rf {} +
    find "$stdlib" -type d -name tests -prune -exec rm -rf {} +
    cp "$pywasm"/build/lib.wasi-wasm32-"$pyver"/_sysconfigdata_*.py "$stdlib/"
    # zoneinfo's time-zone data: the tzdata package, importable from the
    # stdlib directory (the guest imports no site-packages).
    "$py/cross-build/build/python" -E -s -c 'import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    z.extractall(sys.argv[2], [n for n in z.namelist() if n.startswith("tzdata/")])' \
        "$dl/$tzdata_whl" "$stdlib"
    mkdir -p "$stdlib/site-packages"
    "$py/cross-build/build/python" -E -s -m compileall -q -j0 -o 0 \
        --invalidation-mode unchecked-hash "$stdlib" >/dev/null
    chmod -R a-w "$gdir/stdlib"
}
step stdlib "$gdir" build_stdlib

# -------------------------------------------------------------- Wasmtime
wkey=$(cat "$here/deps/wasmtime/Cargo.toml" "$here/deps/wasmtime/Cargo.lock" \
    "$here/deps/wasmtime/src/lib.rs" | sha256sum | cut -c1-12)
wdir=$cache/wasmtime-$WASMTIME_VERSION-$wkey
build_wasmtime() {
    cargo build --release --locked --quiet \
        --manifest-path "$here/deps/wasmtime/Cargo.toml" --target-dir "$wdir/target"
    local incdir
    incdir=$(ls -d "$wdir"/target/release/build/wasmtime-c-api-impl-*/out/include | head -1)
    rm -rf "$wdir/include"
    cp -r "$incdir" "$wdir/include"
    rm -rf "$wdir/target/release/build" "$wdir/target/release/deps" \
        "$wdir/target/release/incremental"
}
step wasmtime "$wdir" build_wasmtime

# -------------------------------------------------------------- Wizer
# The pre-initializer, a native binary from npm, fetched as the package
# tarball with `npm pack` and checked against our pin like every download.
wizer_tgz="bytecodealliance-wizer-linux-x64-$WIZER_VERSION.tgz"
wzdir=$cache/wizer-$WIZER_VERSION
fetch_wizer() {
    verified "$wizer_tgz" && return 0
    (cd "$dl" && npm pack --silent "@bytecodealliance/wizer-linux-x64@$WIZER_VERSION" >/dev/null)
    verified "$wizer_tgz" || die "$wizer_tgz does not match deps/sha256sums"
}
unpack_wizer() {
    fetch_wizer
    tar -xzf "$dl/$wizer_tgz" -C "$wzdir" package/wizer
    mv "$wzdir/package/wizer" "$wzdir/wizer"
    rmdir "$wzdir/package"
}
mkdir -p "$wzdir"
step wizer "$wzdir" unpack_wizer

# ---------------------------------------------------------------- test packages
# Real PyPI packages the tests and benchmarks install into sandboxes; pip
# checks each against its hash.  Keyed by the list, outside the guest's key.
pkey=$(sha256sum "$here/deps/test-packages.txt" | cut -c1-12)
pkgdir=$cache/test-packages-$pkey
fetch_test_packages() {
    rm -rf "$pkgdir/files"
    python3 -m pip download --quiet --no-deps --require-hashes \
        -r "$here/deps/test-packages.txt" --dest "$pkgdir/files" >/dev/null
}
mkdir -p "$pkgdir"
step test-packages "$pkgdir" fetch_test_packages

cat >"$out_mk.tmp" <<EOF
# Written by scripts/deps.sh; paths into \$ERYX_CACHE.
ERYX_CACHE_DIR := $cache
PYTHON_VERSION := $pyver
PYTHON_FULL_VERSION := $py_up
LLVM_VERSION := $llvm
WASI_SYSROOT := $S
CLANG_RESOURCE_DIR := $rd
PYTHON_SRC := $py
PYTHON_WASM_BUILD := $pywasm
PYTHON_NATIVE := $py/cross-build/build/python
PYTHON_WASM_LIBS := $(cat "$gdir/link.libs")
PYTHON_WASM_LDFLAGS := $(cat "$gdir/link.ldflags")
STDLIB_DIR := $stdlib
WASMTIME_LIB := $wdir/target/release/liberyx_wasmtime.a
WASMTIME_SHARED_LIB := $wdir/target/release/liberyx_wasmtime.so
WASMTIME_INCLUDE := $wdir/include
WASMTIME_VERSION := $WASMTIME_VERSION
WIZER := $wzdir/wizer
TEST_PACKAGES_DIR := $pkgdir/files
EOF
mv "$out_mk.tmp" "$out_mk"
log "ready: $out_mk"

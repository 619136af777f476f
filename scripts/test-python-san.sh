#!/bin/sh
# Runs Python tests against the extension built with ASan+UBSan (a copy of
# the package under build/python-san; the .venv's own build is untouched).
#   scripts/test-python-san.sh [pytest args]
# default: every test of tests/python but the hypothesis state machine, the
# console script and the benchmark smoke tests (slow under ASan, or they test no extension
# code the others miss): about 12 s, run by `make test`.
# Leak detection is off: CPython itself keeps memory until exit.
set -eu
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
# the platform layer (Makefile PLATFORM): src/platform_$PLAT.c
PLAT=${BRAIN_PLATFORM:-linux}
OUT=build/python-san
[ "$PLAT" = linux ] || OUT=build/$PLAT/python-san
SRCS="$(ls src/*.c | grep -v '^src/platform_') src/platform_$PLAT.c"
CC=${CC:-cc}
rm -rf "$OUT"
mkdir -p "$OUT/brain_plasma"
cp python/brain_plasma/*.py "$OUT/brain_plasma/"
INC=$($PY -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
SO=$($PY -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
$CC -std=gnu11 -O1 -g -fPIC -shared -fsanitize=address,undefined \
    -fno-omit-frame-pointer -fno-sanitize-recover=undefined \
    -Iinclude -Isrc -I"$INC" -D_GNU_SOURCE -DBRAIN_STATIC=1 \
    $SRCS python/brain_plasma/_core.c python/brain_plasma/_strcol.c -lpthread \
    -o "$OUT/brain_plasma/_core$SO"
# (test_console.py runs the `brain` program the console script execs: no
# extension code, and this copy of the package has no _bin/brain)
[ $# -gt 0 ] || set -- tests/python --ignore=tests/python/test_stateful.py \
    --ignore=tests/python/test_bench_run.py --ignore=tests/python/test_bench_frames.py \
    --ignore=tests/python/test_bench_speed2.py --ignore=tests/python/test_console.py
LD_PRELOAD="$($CC -print-file-name=libasan.so):$($CC -print-file-name=libubsan.so)" \
ASAN_OPTIONS=detect_leaks=0 PYTHONPATH="$OUT" \
    $PY -m pytest -q -p no:cacheprovider "$@"

#!/bin/sh
# make check-macos: the portable build (PLATFORM=posix) compiled and linked
# for macOS on this Linux machine, so that its __APPLE__ lines are compiled
# against real macOS headers instead of only read.  zig's C compiler
# (clang; the PyPI package ziglang, requirements-macos-check.txt) bundles
# the macOS libc headers and libSystem's link stubs.  For each target of
# MACOS_TARGETS (x86_64 from macOS 10.15, arm64 from 11.0):
#   - every src/ file, cli/, the C tests, the torture worker, the lock
#     holder, the fuzz corpus replayer, the demo and the platform bench,
#     with the project's warnings and -Werror, through the Makefile's own
#     rules (UNAME_S=Darwin, so its macOS branches too);
#   - libbrain as a Mach-O dylib, the programs as Mach-O executables
#     (`file` says so), nothing left undefined but libSystem's symbols;
#   - os_sync_wait_on_address (macOS 14.4) referenced weakly, so the same
#     binary loads on older macOS and polls there;
#   - libbrain.a exporting only brain_* names (check-symbols, with llvm-nm
#     when there is one: GNU nm cannot read Mach-O);
#   - the Python extension's C files (_core.c, _strcol.c) compiled and
#     linked as a Mach-O extension module.  Only a compile check: Python's
#     headers are this machine's (Linux's pyconfig.h), not a Mac's.
# Then the Makefile's macOS branches as a Mac would take them, from a dry
# run (make -n -B UNAME_S=Darwin test, with a clang without libFuzzer):
# the posix layer and install_name, never platform_linux.c or -soname, each
# suite run and each Linux-only part skipped with its reason.
# Nothing here runs: no Mac is reachable.  README.md "Platforms".
set -eu
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
MAKE=${MAKE:-make}
ZIG="$(pwd)/$VENV/bin/python -m ziglang"
targets=${MACOS_TARGETS:-x86_64-macos.10.15 aarch64-macos.11.0}
FLAGS=$(grep -v '^#' compiler-flags.txt)
PYINC=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
NM=$(command -v llvm-nm || command -v llvm-nm-14 || true)
PROGS="brain run-tests torture-worker lock-holder fuzz-replay demo bench-platform"

fail() { echo "check-macos: $*" >&2; exit 1; }

for t in $targets; do
    case $t in
    aarch64-*) arch=arm64 ;;
    x86_64-*) arch=x86_64 ;;
    *) fail "MACOS_TARGETS: $t is not x86_64-macos.V or aarch64-macos.V" ;;
    esac
    out=build/macos/$t
    rm -rf "$out" # zig leaves an empty output behind when a link fails
    set --
    for p in $PROGS; do set -- "$@" "$out/$p"; done
    $MAKE -s --no-print-directory UNAME_S=Darwin PLATFORM=posix BUILD="$out" \
        CC="$ZIG cc -target $t" AR="$ZIG ar" CFLAGS=-Werror \
        "$out/libbrain.so" "$out/libbrain.a" "$@" ||
        fail "$t: the build above failed"
    # the Python extension, as setup.py builds it (libbrain linked in)
    for f in _core _strcol; do
        # shellcheck disable=SC2086
        $ZIG cc -target "$t" -O2 $FLAGS -Werror -DBRAIN_STATIC=1 -Iinclude -Isrc -I"$PYINC" \
            -c -o "$out/obj/py$f.o" "python/brain_plasma/$f.c" || fail "$t: python/brain_plasma/$f.c"
    done
    $ZIG cc -target "$t" -shared -Wl,-undefined,dynamic_lookup -o "$out/_core.so" \
        "$out/obj/py_core.o" "$out/obj/py_strcol.o" "$out/libbrain.a" || fail "$t: linking _core.so"

    kind() { file -b "$1" | cut -d, -f1; }
    for f in libbrain.so _core.so; do
        case $(kind "$out/$f") in
        "Mach-O 64-bit $arch dynamically linked shared library"*) ;;
        *) fail "$out/$f is not a Mach-O $arch library: $(file -b "$out/$f")" ;;
        esac
    done
    for p in $PROGS; do
        case $(kind "$out/$p") in
        "Mach-O 64-bit $arch executable"*) ;;
        *) fail "$out/$p is not a Mach-O $arch executable: $(file -b "$out/$p")" ;;
        esac
    done
    if [ -n "$NM" ]; then
        weak=$("$NM" -m "$out/libbrain.so" | grep -c '(undefined) weak external _os_sync_wa[ik]' || true)
        [ "$weak" -eq 3 ] ||
            fail "$t: libbrain.so should reference os_sync_wait_on_address, _with_timeout and os_sync_wake_by_address_all weakly; it has $weak: $("$NM" -m "$out/libbrain.so" | grep os_sync)"
        $MAKE -s --no-print-directory UNAME_S=Darwin PLATFORM=posix BUILD="$out" \
            CC="$ZIG cc -target $t" AR="$ZIG ar" CFLAGS=-Werror NM="$NM" check-symbols
    else
        echo "check-macos: no llvm-nm: the exported names and the weak os_sync references are not checked" >&2
    fi
    echo "check-macos: $t: libbrain.so, _core.so and $(echo $PROGS | wc -w) programs are Mach-O $arch, -Werror clean"
done

dry=$($MAKE -n -B --no-print-directory UNAME_S=Darwin CLANG=false VENV="$VENV" test 2>&1) ||
    fail "make -n UNAME_S=Darwin test failed: $(echo "$dry" | tail -n 5)"
for want in "src/platform_posix.c" "-Wl,-install_name,@rpath/libbrain.so" "BRAIN_PLATFORM=posix" \
    "run-tests" "fuzz-replay tests/fuzz/corpus" "tsan/run-tests" "pytest -q tests/cli" \
    "pytest -q tests/python" "tests/torture/torture.py" "pytest -q tests/wheel" \
    "check-macos: on a Mac" "test-fuzz: skipped" "test-python-san: skipped" \
    "test-redis: skipped: no redis-server" "--ignore=tests/dash/test_browser.py" \
    "test-posix: make test ran on the posix layer"; do
    case $dry in
    *"$want"*) ;;
    *) fail "make -n UNAME_S=Darwin test does not show: $want" ;;
    esac
done
for bad in "platform_linux.c" "-soname" "scripts/test-python-san.sh" "setup.sh dash"; do
    case $dry in
    *"$bad"*) fail "make -n UNAME_S=Darwin test shows what a Mac must not run: $bad" ;;
    esac
done
echo "check-macos: make test's macOS branches (dry run): the posix layer, each Linux-only part skipped with its reason"

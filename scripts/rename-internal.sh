#!/bin/sh
# Applies scripts/rename-internal.sed to every C source and header of the
# tree (src/ cli/ tests/ python/brain_plasma/); see that file.
set -e
cd "$(dirname "$0")/.."
find src cli tests python/brain_plasma \( -name '*.c' -o -name '*.h' \) -print |
    xargs sed -i -E -f scripts/rename-internal.sed

#!/bin/sh
# Runs every libFuzzer target for SECONDS each (tests/fuzz/README.md).
#   run.sh BUILD SECONDS [TARGET...]
# New inputs go to BUILD/corpus/<target>/ (the committed seeds in
# tests/fuzz/corpus/<target>/ are read, never written); a crash, hang, leak
# or failed check stops the run and the input is saved as
# BUILD/crashes/<target>-crash-<sha1> (or timeout-, leak-, oom-).
# Prints one line per target with its executions; exits 1 on a finding.
set -u
build=$1 secs=$2
shift 2
targets=${*:-store-open store-repair snapshot-load store-write}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$build/crashes"
# the targets' scratch stores; a crash skips their own clean-up
# (the platform's directory of stores: /dev/shm on Linux, $TMPDIR on macOS)
shm=/dev/shm
[ "$(uname -s)" != Darwin ] && [ -w "$shm" ] || shm=${TMPDIR:-/tmp}
BRAIN_FUZZ_TMP=$(mktemp -d "$shm/brain-fuzzrun-XXXXXX")
export BRAIN_FUZZ_TMP
trap 'rm -rf "$BRAIN_FUZZ_TMP"' EXIT
trap 'exit 130' INT TERM
status=0
for t in $targets; do
    case $t in
    snapshot-load) maxlen=16384 ;;
    *) maxlen=65536 ;;
    esac
    mkdir -p "$build/corpus/$t"
    log=$build/$t.log
    "$build/fuzz-$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -max_len=$maxlen -print_final_stats=1 \
        -artifact_prefix="$build/crashes/$t-" \
        "$build/corpus/$t" "$here/corpus/$t" >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
    if [ $rc -ne 0 ]; then
        status=1
        saved=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
        echo "fuzz: $t FAILED after ${execs:-?} executions (exit $rc); last lines of $log:" >&2
        grep -v '^#' "$log" | tail -n 40 >&2
        echo "fuzz: $t: the input is saved as ${saved:-(see $log)}" >&2
        echo "fuzz: reproduce with $build/fuzz-$t ${saved:-FILE} (or the gcc build: build/fuzz-replay -t $t FILE);" >&2
        echo "fuzz: once fixed, copy the input into tests/fuzz/corpus/$t/ as a regression case" >&2
    else
        echo "fuzz: $t: ${execs:-?} executions in ${secs}s, $cov, no crash"
    fi
done
exit $status

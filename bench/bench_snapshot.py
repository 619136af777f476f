#!/usr/bin/env python3
"""`brain save` and `brain load` of a store against `cp` of a file of the
same size, side by side in one run (issue #5: within 2x of cp).

For each target directory (default /dev/shm, which is page-cache speed,
and /var/tmp, a disk file system):
  cp          cp of the snapshot file (source in the page cache)
  cp + sync   the same, then `sync FILE`: cp's bytes on the disk, as
              `brain save` leaves them (it fsyncs before the rename)
  brain save  every value of the store into a snapshot file
  cp to /dev/shm  cp of the snapshot file into /dev/shm, where the store
              lives: what load does without the checks (its peer)
  brain load  that file into a fresh store (checks every checksum, then
              copies each value into the store)

Usage: bench/bench_snapshot.py [--mb 1024] [--repeat 3] [--dir D ...]
Prints a markdown table of medians (min-max) and ratios to cp.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BRAIN = os.environ.get("BRAIN_CLI") or str(ROOT / "build" / "brain")


def run(*args):
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)


def timed(fn, repeat, before=None):
    times = []
    for _ in range(repeat):
        if before:
            before()
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return times


def fmt(ts):
    return f"{statistics.median(ts):.3f} s ({min(ts):.3f}-{max(ts):.3f})"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mb", type=int, default=1024, help="store size in MiB of values")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dir", action="append", help="target directories")
    a = ap.parse_args()
    dirs = a.dir or ["/dev/shm", "/var/tmp"]
    chunk = 64 if a.mb >= 64 else a.mb
    nvals = max(1, a.mb // chunk)
    store = f"bench-snap-{uuid.uuid4().hex[:8]}"
    store2 = store + "-b"
    work = [Path(tempfile.mkdtemp(prefix="brain-bench-snap-", dir=d)) for d in dirs]
    try:
        run(BRAIN, "create", store, "--size", f"{a.mb + 64}MiB")
        with tempfile.NamedTemporaryFile(dir="/dev/shm") as f:
            f.write(os.urandom(chunk << 20))
            f.flush()
            for i in range(nvals):
                run(BRAIN, "put", store, f"v{i:03d}", f.name)
        total = nvals * chunk
        print(f"# snapshot of {nvals} values of {chunk} MiB ({total} MiB), "
              f"median of {a.repeat} (min-max), {os.cpu_count()} cores\n")
        print("| target | cp | cp + sync | cp to /dev/shm | brain save | brain load | save / cp | "
              "save / (cp + sync) | load / (cp to /dev/shm) |")
        print("|---|---|---|---|---|---|---|---|---|")
        for w in work:
            snap = w / "s.snapshot"
            copy = w / "copy.snapshot"
            save = timed(lambda: run(BRAIN, "save", "-q", store, snap), a.repeat)
            rm_copy = lambda: copy.unlink(missing_ok=True)
            cp = timed(lambda: run("cp", snap, copy), a.repeat, rm_copy)
            cps = timed(lambda: (run("cp", snap, copy), run("sync", copy)), a.repeat, rm_copy)
            # load writes the snapshot into the store, in /dev/shm: its peer is
            # cp of the snapshot into /dev/shm, whichever disk it lies on
            shm_copy = Path(f"/dev/shm/brain-bench-snap-{uuid.uuid4().hex[:8]}")
            rm_shm = lambda: shm_copy.unlink(missing_ok=True)
            try:
                cpm = timed(lambda: run("cp", snap, shm_copy), a.repeat, rm_shm)
            finally:
                rm_shm()
            destroy2 = lambda: subprocess.run([BRAIN, "destroy", store2],
                                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            load = timed(lambda: run(BRAIN, "load", "-q", store2, snap,
                                     "--size", f"{a.mb + 64}MiB"), a.repeat, destroy2)
            destroy2()
            m = statistics.median
            print(f"| {w.parent} | {fmt(cp)} | {fmt(cps)} | {fmt(cpm)} | {fmt(save)} | {fmt(load)} | "
                  f"{m(save) / m(cp):.2f}x | {m(save) / m(cps):.2f}x | {m(load) / m(cpm):.2f}x |")
            sys.stdout.flush()
    finally:
        subprocess.run([BRAIN, "destroy", store], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run([BRAIN, "destroy", store2], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for w in work:
            shutil.rmtree(w, ignore_errors=True)


if __name__ == "__main__":
    main()

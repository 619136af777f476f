#!/usr/bin/env python3
"""The platform layers side by side (make bench-platform).

Runs bench-platform built on platform_linux.c and on platform_posix.c,
alternately, REPEATS times each, and prints the median of each figure and
the ratio posix / linux.  Writes the table to --md when given.

    python3 bench/bench_platform.py LINUX_BIN POSIX_BIN [--repeats N] [--md FILE]
        [-- bench-platform options]
"""
import argparse
import statistics
import subprocess
import sys

LABELS = {
    "put_ns": "put 100 B, replacing (ns)",
    "put2_ns": "put 100 B, 2 processes on one name (ns per put)",
    "read_ns": "brain_read 100 B (ns)",
    "get_ns": "brain_get + release (ns)",
    "wake_us_p50": "brain_wait woken by a put, median (us)",
    "wake_us_p90": "brain_wait woken by a put, 90th percentile (us)",
}


def run(binary, extra):
    out = subprocess.run([binary, *extra], check=True, capture_output=True, text=True).stdout
    plat, res = None, {}
    for line in out.splitlines():
        parts = line.split()
        if parts[:1] == ["PLATFORM"]:
            plat = parts[1]
        elif parts[:1] == ["RESULT"]:
            res[parts[1]] = float(parts[2])
    return plat, res


def main(argv):
    p = argparse.ArgumentParser()
    p.add_argument("linux")
    p.add_argument("posix")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--md")
    args, extra = p.parse_known_args(argv)
    extra = [a for a in extra if a != "--"]
    got = {"linux": [], "posix": []}
    for _ in range(args.repeats):
        for want, binary in (("linux", args.linux), ("posix", args.posix)):
            plat, res = run(binary, extra)
            if plat != want:
                raise SystemExit(f"bench-platform: {binary} is built on {plat!r}, expected {want!r}")
            got[want].append(res)
    lines = ["| figure | linux layer | posix layer | posix / linux |", "|---|---:|---:|---:|"]
    for key, label in LABELS.items():
        lin = statistics.median(r[key] for r in got["linux"])
        pos = statistics.median(r[key] for r in got["posix"])
        lines.append(f"| {label} | {lin:.1f} | {pos:.1f} | {pos / lin:.2f}x |")
    table = "\n".join(lines)
    print(f"medians of {args.repeats} alternating runs of each build")
    print(table)
    if args.md:
        with open(args.md, "w") as f:
            f.write(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

#!/usr/bin/env python3
"""Plasma's create + fill + seal of one large object, side by side with its
peers in one run (issue #13: create hands out room in the store, seal
publishes it with no copy).

  memcpy      numpy copy of the source into a buffer of the same size that
              is already mapped: the floor for writing the bytes once
  memcpy, fresh pages  the same into a new buffer (np.empty): every page
              is faulted in and zeroed by the kernel on first write.  The
              store gives the pages of a freed large block back to the
              system (hole punching), so a new object's pages are fresh
              too: this is create's floor
  create      client.create(id, n), the source copied into its buffer with
              numpy, client.seal(id): the bytes are written once, in the
              store
  create + seal, no fill  the store's part alone: reserving the room
              (fresh pages, see above) and publishing it
  put_raw_buffer  the source stored with one call (one copy into the
              store): what create + fill + seal should match
  copy path   what create/seal did before: the source copied into a private
              bytearray, which seal copied into the store (timed here as
              bytearray + fill + put_raw_buffer, the same store call)

Each repeat runs every variant once, in turn, and deletes the object after
it, so drift on a shared machine spreads over all of them.

Usage: bench/bench_create.py [--mb 100] [--repeat 7]
Prints a markdown table of medians (min-max) and the ratios.
"""
import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))

import numpy as np  # noqa: E402

from brain_plasma import Brain, _core, plasma  # noqa: E402


def fmt(ts):
    return "%.1f ms (%.1f-%.1f)" % (1e3 * statistics.median(ts), 1e3 * min(ts), 1e3 * max(ts))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mb", type=int, default=100, help="object size, MB (10^6 bytes)")
    ap.add_argument("--repeat", type=int, default=7)
    a = ap.parse_args()
    n = a.mb * 1_000_000
    store = "bench-create-%d-%s" % (os.getpid(), uuid.uuid4().hex[:8])
    brain = Brain(path=store, size=4 * n + (64 << 20))
    client = plasma.connect(store)
    src = np.frombuffer(os.urandom(1 << 20) * (n >> 20) + os.urandom(n % (1 << 20)),
                        dtype=np.uint8)
    floor = np.empty(n, dtype=np.uint8)
    floor[:] = 0  # mapped before timing

    def memcpy():
        np.copyto(floor, src)

    def memcpy_fresh():
        dst = np.empty(n, dtype=np.uint8)
        np.copyto(dst, src)

    def create():
        oid = plasma.ObjectID.from_random()
        buf = client.create(oid, n)
        np.copyto(np.frombuffer(buf, dtype=np.uint8), src)
        client.seal(oid)
        return oid

    def create_empty():
        oid = plasma.ObjectID.from_random()
        client.create(oid, n)
        client.seal(oid)
        return None, oid

    def put_raw():
        return client.put_raw_buffer(src)

    def copy_path():
        oid = plasma.ObjectID.from_random()
        buf = bytearray(n)
        np.copyto(np.frombuffer(buf, dtype=np.uint8), src)
        client.put_raw_buffer(buf, oid)
        return oid

    variants = [("memcpy", memcpy), ("memcpy, fresh pages", memcpy_fresh),
                ("create + fill + seal", create),
                ("create + seal, no fill", create_empty), ("put_raw_buffer", put_raw),
                ("copy path (before #13)", copy_path)]
    times = {name: [] for name, _ in variants}
    try:
        for name, fn in variants:  # warm up: map the store's pages once
            oid = fn()
            if isinstance(oid, tuple):
                client.delete([oid[1]])
            elif oid is not None:
                assert bytes(client.get_buffers([oid])[0][:4096]) == src[:4096].tobytes()
                client.delete([oid])
        for _ in range(a.repeat):
            for name, fn in variants:
                t = time.perf_counter()
                oid = fn()
                times[name].append(time.perf_counter() - t)
                if isinstance(oid, tuple):  # nothing written: not checked
                    client.delete([oid[1]])
                elif oid is not None:
                    [got] = client.get_buffers([oid])
                    assert np.array_equal(np.frombuffer(got, dtype=np.uint8)[-4096:],
                                          src[-4096:])
                    del got
                    client.release(oid)
                    client.delete([oid])
        med = {k: statistics.median(v) for k, v in times.items()}
        print("# create + fill + seal of a %d MB object, median of %d (min-max), %d cores\n"
              % (a.mb, a.repeat, os.cpu_count()))
        print("| variant | time | GB/s | / memcpy | / memcpy, fresh pages |")
        print("|---|---|---|---|---|")
        for name, _ in variants:
            print("| %s | %s | %.2f | %.2f | %.2f |" % (
                name, fmt(times[name]), n / med[name] / 1e9, med[name] / med["memcpy"],
                med[name] / med["memcpy, fresh pages"]))
        print("\ncopy path / create: %.2f (the time create saves: the private buffer "
              "and seal's copy)" % (med["copy path (before #13)"] / med["create + fill + seal"]))
    finally:
        client.disconnect()
        brain.sleep()
        _core.destroy(store)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The Python benchmark of brain_plasma: the Brain side by side with its peers.

    .venv/bin/python bench/bench_python.py [--quick] [--json FILE]

Measures, in one run, the goals of the issue ("Speed") and of DESIGN.md
("Performance goals"):

1. a 10M-row, 4-column numeric DataFrame (about 220 MB; --quick: 1M rows):
   recall in another process, pandas.read_pickle from /dev/shm, bare
   pickle.loads over views of the same out-of-band bytes (the limit); learn
   against a memcpy into touched memory (the limit) and to_pickle;
2. small values (an int, a 100-byte str): recall against py-lmdb,
   a dict lookup plus pickle.loads, and redis-py GET on loopback;
3. N=4 worker processes recalling the same frame and touching it:
   private memory (USS) and PSS each one adds.

Prints markdown tables: every figure (median of repeats, min, max) and each
goal with its ratio and whether it is met.  Nothing is asserted: the exit
status is 0 unless the benchmark itself failed.  Every store, file, process
and server it creates is removed at the end, also on error and on
SIGINT/SIGTERM/SIGHUP.  Peers: pip install -r requirements-bench.txt, and
apt-get install -y redis-server (the redis row says 'not installed' without it).
"""

import argparse
import gc
import json
import os
import pickle
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import pandas as pd

from brain_plasma import Brain

PID = os.getpid()
SHM = "/dev/shm"
STORE = "%s/brain-bench-py-%d" % (SHM, PID)
PICKLE_FILE = "%s/bench-py-%d.pkl" % (SHM, PID)
LMDB_DIR = "%s/bench-py-%d-lmdb" % (SHM, PID)
FRAME = "frame"

_cleanup = []          # callables run at the end, last first


def cleanup():
    while _cleanup:
        fn = _cleanup.pop()
        try:
            fn()
        except Exception as exc:  # keep cleaning
            print("cleanup: %s: %s" % (type(exc).__name__, exc), file=sys.stderr)


def _on_signal(signum, frame):
    raise SystemExit(128 + signum)


# ---- measuring ---------------------------------------------------------------

def summary(samples):
    return {"median": statistics.median(samples), "min": min(samples),
            "max": max(samples), "samples": list(samples)}


def time_calls(fn, repeats, before=None):
    """Seconds of each of REPEATS calls of FN (BEFORE runs untimed first)."""
    out = []
    for _ in range(repeats):
        if before is not None:
            before()
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def calibrate(loop, seconds):
    """How many operations LOOP(n) runs in about SECONDS."""
    n = 16
    while True:
        t0 = time.perf_counter()
        loop(n)
        dt = time.perf_counter() - t0
        if dt > seconds / 4 or n > 1 << 26:
            break
        n *= 4
    return max(1, int(n * seconds / max(dt, 1e-9)))


def ns_per_op_interleaved(loops, repeats, seconds):
    """{key: summary of ns per operation} of each LOOP(n) of LOOPS (a dict),
    the repeats taken round-robin so that a noisy moment of a shared
    machine falls on every peer alike."""
    ns = {k: calibrate(f, seconds) for k, f in loops.items()}
    out = {k: [] for k in loops}
    for _ in range(repeats):
        for k, f in loops.items():
            t0 = time.perf_counter()
            f(ns[k])
            out[k].append((time.perf_counter() - t0) * 1e9 / ns[k])
    return {k: summary(v) for k, v in out.items()}


# ---- workload 1: a large frame -------------------------------------------------

def make_frame(rows):
    rng = np.random.default_rng(42)
    return pd.DataFrame({
        "id": np.arange(rows, dtype=np.int64),
        "price": rng.random(rows),                          # float64
        "score": rng.random(rows, dtype=np.float32),        # float32
        "count": rng.integers(0, 30000, rows, dtype=np.int16),
    })


RECALLER = r"""
import json, sys, time, gc
import pandas as pd
from brain_plasma import Brain
store, name, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3])
brain = Brain(store, start_process=False)
t0 = time.perf_counter(); x = brain.recall(name); first = time.perf_counter() - t0
assert x.shape[0] > 0
del x
gc.disable()
out = []
for _ in range(repeats):
    t0 = time.perf_counter()
    x = brain.recall(name)
    out.append(time.perf_counter() - t0)
    del x
gc.enable()
print(json.dumps({"first": first, "samples": out}))
"""


def bench_frame(brain, args, R):
    rows = args.rows
    print("workload 1: a %d-row frame ..." % rows, file=sys.stderr)
    df = make_frame(rows)
    nbytes = int(df.memory_usage(index=False, deep=True).sum())
    R["frame"] = {"rows": rows, "bytes": nbytes}
    cols = [df[c].to_numpy() for c in df.columns]

    # learn: a warm-up learn first, so the arena is reused by the timed ones
    brain.learn(df, FRAME)
    R["learn"] = summary(time_calls(lambda: brain.learn(df, FRAME), args.repeats))

    # memcpy into touched memory of the same total size
    dst = [np.empty_like(c) for c in cols]
    for d in dst:
        d.fill(1)

    def memcpy():
        for d, c in zip(dst, cols):
            np.copyto(d, c)
    memcpy()
    R["memcpy"] = summary(time_calls(memcpy, args.repeats))
    del dst

    # to_pickle / read_pickle on /dev/shm
    _cleanup.append(lambda: os.path.exists(PICKLE_FILE) and os.unlink(PICKLE_FILE))
    R["to_pickle"] = summary(time_calls(lambda: df.to_pickle(PICKLE_FILE),
                                        args.slow_repeats))

    def read():
        x = pd.read_pickle(PICKLE_FILE)
        del x
    read()
    R["read_pickle"] = summary(time_calls(read, args.slow_repeats))
    os.unlink(PICKLE_FILE)

    # bare pickle.loads over memoryviews of the out-of-band bytes (in memory)
    bufs = []
    stream = pickle.dumps(df, protocol=5, buffer_callback=bufs.append)
    held = [bytearray(b.raw()) for b in bufs]        # the same bytes, held here
    views = [memoryview(h) for h in held]
    R["frame"]["oob_buffers"] = len(views)
    R["frame"]["stream_bytes"] = len(stream)

    def loads():
        x = pickle.loads(stream, buffers=views)
        del x
    loads()
    R["pickle_loads"] = summary(time_calls(loads, args.fast_repeats))
    del held, views, bufs

    # recall in this process (for reference)
    def recall_here():
        x = brain.recall(FRAME)
        del x
    recall_here()
    R["recall_same_process"] = summary(time_calls(recall_here, args.fast_repeats))

    # recall in a fresh interpreter (the recaller process)
    proc = subprocess.run(
        [sys.executable, "-c", RECALLER, STORE, FRAME, str(args.fast_repeats)],
        capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError("recaller process failed:\n" + proc.stderr)
    got = json.loads(proc.stdout)
    R["recall"] = summary(got["samples"])
    R["recall_first"] = got["first"]
    del cols, df
    gc.collect()


# ---- workload 2: small values ---------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis():
    """A redis client on a fresh loopback server, or a reason why not."""
    exe = shutil.which("redis-server")
    if exe is None:
        return None, "not installed (apt-get install -y redis-server)"
    try:
        import redis
    except ImportError:
        return None, "not installed (pip install -r requirements-bench.txt)"
    for _ in range(3):
        port = free_port()
        srv = subprocess.Popen(
            [exe, "--port", str(port), "--save", "", "--appendonly", "no",
             "--bind", "127.0.0.1", "--dir", tempfile.gettempdir()],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def stop(srv=srv):
            if srv.poll() is None:
                srv.terminate()
                try:
                    srv.wait(5)
                except subprocess.TimeoutExpired:
                    srv.kill()
                    srv.wait()
        _cleanup.append(stop)
        r = redis.Redis(host="127.0.0.1", port=port)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and srv.poll() is None:
            try:
                r.ping()
                return r, "redis-server %s, redis-py %s" % (
                    r.info()["redis_version"], redis.__version__)
            except redis.ConnectionError:
                time.sleep(0.05)
        stop()
    return None, "redis-server did not start"


def bench_small(brain, args, R):
    print("workload 2: small values ...", file=sys.stderr)
    values = {"int": 42, "str": "x" * 100}
    R["small"] = {}
    try:
        import lmdb
    except ImportError:
        lmdb = None
    env = None
    if lmdb is not None:
        _cleanup.append(lambda: shutil.rmtree(LMDB_DIR, ignore_errors=True))
        env = lmdb.open(LMDB_DIR, map_size=1 << 26, max_dbs=0, lock=True)
        _cleanup.append(env.close)
    r, redis_note = start_redis()
    R["redis_note"] = redis_note
    loads = pickle.loads

    for kind, value in values.items():
        name = "small-" + kind
        key = name.encode()
        blob = pickle.dumps(value, protocol=5)
        brain.learn(value, name)
        assert brain.recall(name) == value
        loops = {}

        def brain_loop(n, f=brain.recall, name=name):
            for _ in range(n):
                f(name)
        loops["brain"] = brain_loop

        d = {key: blob}

        def dict_loop(n, d=d, key=key):
            for _ in range(n):
                loads(d[key])
        loops["dict"] = dict_loop

        if env is not None:
            with env.begin(write=True) as txn:
                txn.put(key, blob)

            def lmdb_txn_loop(n, begin=env.begin, key=key):
                for _ in range(n):
                    with begin() as txn:
                        loads(txn.get(key))
            loops["lmdb_txn"] = lmdb_txn_loop
            txn = env.begin()
            _cleanup.append(txn.abort)

            def lmdb_get_loop(n, get=txn.get, key=key):
                for _ in range(n):
                    loads(get(key))
            loops["lmdb_get"] = lmdb_get_loop
            assert loads(env.begin().get(key)) == value

        if r is not None:
            r.set(key, blob)
            assert loads(r.get(key)) == value

            def redis_loop(n, get=r.get, key=key):
                for _ in range(n):
                    loads(get(key))
            loops["redis"] = redis_loop
        R["small"][kind] = ns_per_op_interleaved(loops, args.repeats,
                                                 args.seconds)
        if env is not None:
            txn.abort()
        brain.forget(name)
    if r is not None:
        r.close()


# ---- workload 3: N workers on one frame -----------------------------------------

WORKER = r"""
import json, sys, gc
import psutil, pandas as pd
from brain_plasma import Brain
store, name, how = sys.argv[1], sys.argv[2], sys.argv[3]
me = psutil.Process()
brain = Brain(store, start_process=False)
gc.collect()
m0 = me.memory_full_info()
if how == "recall":
    df = brain.recall(name)
else:
    df = pd.read_pickle(how)
m1 = me.memory_full_info()
t = 0.0
for c in df.columns:                  # touch every page, no scratch memory
    t += float(df[c].to_numpy().sum())
m2 = me.memory_full_info()
s = df.sum()                          # pandas' sum: allocates NaN masks
m3 = me.memory_full_info()
d = lambda a, b: {"uss": b.uss - a.uss, "pss": b.pss - a.pss, "rss": b.rss - a.rss}
print(json.dumps({"recall": d(m0, m1), "touch": d(m0, m2), "sum": d(m0, m3),
                  "check": [t, float(s.sum())]}), flush=True)
sys.stdin.readline()        # every worker has touched the frame: measure again
print(json.dumps(d(m0, me.memory_full_info())), flush=True)
sys.stdin.readline()        # hold the frame until every worker has measured
"""


def run_workers(n, how):
    procs = []

    def kill_all():
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    _cleanup.append(kill_all)
    for _ in range(n):
        procs.append(subprocess.Popen(
            [sys.executable, "-c", WORKER, STORE, FRAME, how],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
    out = []
    for p in procs:
        line = p.stdout.readline()
        if not line:
            raise RuntimeError("a worker process failed (exit %s)" % p.wait())
        out.append(json.loads(line))
    for p in procs:                   # all have touched it: measure again
        p.stdin.write("\n")
        p.stdin.flush()
    for p, o in zip(procs, out):
        line = p.stdout.readline()
        if not line:
            raise RuntimeError("a worker process failed (exit %s)" % p.wait())
        o["all"] = json.loads(line)
    for p in procs:                   # every worker holds its frame until here
        p.stdin.write("\n")
        p.stdin.close()
    for p in procs:
        p.wait(30)
    return out


def bench_workers(brain, args, R):
    n = args.workers
    print("workload 3: %d workers ..." % n, file=sys.stderr)
    df = make_frame(args.rows)
    brain.learn(df, FRAME)
    df.to_pickle(PICKLE_FILE)
    _cleanup.append(lambda: os.path.exists(PICKLE_FILE) and os.unlink(PICKLE_FILE))
    del df
    gc.collect()
    got = run_workers(n, "recall")
    R["workers"] = {"n": n, "each": got}
    for stage in ("recall", "touch", "sum", "all"):
        for m in ("uss", "pss"):
            R["workers"][stage + "_" + m] = summary([g[stage][m] for g in got])
    ref = run_workers(1, PICKLE_FILE)[0]          # a private copy, for contrast
    R["workers"]["read_pickle_worker"] = ref
    os.unlink(PICKLE_FILE)


# ---- the report -------------------------------------------------------------------

def machine_line():
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import brain_plasma
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return ("%s, %d cores, %.0f GiB, %s %s, Python %s, numpy %s, pandas %s, "
            "brain_plasma %s" % (cpu, os.cpu_count(), mem, platform.system(),
                                 platform.release(), platform.python_version(),
                                 np.__version__, pd.__version__,
                                 getattr(brain_plasma, "__version__", "?")))


def fmt_s(x):
    if x is None:
        return "-"
    if x >= 1:
        return "%.2f s" % x
    if x >= 1e-3:
        return "%.1f ms" % (x * 1e3)
    if x >= 1e-6:
        return "%.1f µs" % (x * 1e6)
    return "%.0f ns" % (x * 1e9)


def report(R, args):
    lines = []
    add = lines.append
    fr = R["frame"]
    add("Machine: " + R["machine"])
    add("")
    add("Frame: %d rows, 4 columns (int64, float64, float32, int16), %.0f MB; "
        "median of %d repeats (%d for the slow peers, %d for the fast ones)."
        % (fr["rows"], fr["bytes"] / 1e6, args.repeats, args.slow_repeats,
           args.fast_repeats))
    add("")
    add("| figure | median | min | max |")
    add("|---|---:|---:|---:|")

    def row(label, s, scale=1.0, unit=None):
        if s is None:
            add("| %s | %s | | |" % (label, unit or "-"))
            return
        f = (lambda v: "%.0f ns" % v) if unit == "ns" else fmt_s
        add("| %s | %s | %s | %s |" % (label, f(s["median"] * scale),
                                       f(s["min"] * scale), f(s["max"] * scale)))
    row("frame: brain recall, another process", R["recall"])
    add("| frame: brain recall, another process, its first | %s | | |"
        % fmt_s(R["recall_first"]))
    row("frame: brain recall, the learning process", R["recall_same_process"])
    row("frame: `pickle.loads` over views (the limit)", R["pickle_loads"])
    row("frame: `pandas.read_pickle` from /dev/shm", R["read_pickle"])
    row("frame: brain learn (arena reused)", R["learn"])
    row("frame: memcpy into touched memory (the limit)", R["memcpy"])
    row("frame: `to_pickle` to /dev/shm", R["to_pickle"])
    names = [("brain", "brain recall"), ("dict", "dict lookup + `pickle.loads`"),
             ("lmdb_get", "py-lmdb get + `pickle.loads` (one read txn)"),
             ("lmdb_txn", "py-lmdb txn + get + `pickle.loads` per op"),
             ("redis", "redis-py GET + `pickle.loads`, loopback")]
    for kind in R["small"]:
        for key, label in names:
            s = R["small"][kind].get(key)
            if s is None:
                add("| %s: %s | %s | | |" % (kind, label, R["redis_note"]
                                           if key == "redis" else "not installed"))
            else:
                row("%s: %s (per op)" % (kind, label), s, unit="ns")
    w = R["workers"]
    mb = 1e6
    for stage, label in (("recall", "recall only"),
                         ("touch", "recall + every column summed in NumPy"),
                         ("sum", "recall + NumPy sums + `df.sum()`"),
                         ("all", "the same, once all %d have touched it" % w["n"])):
        for m in ("uss", "pss"):
            s = w[stage + "_" + m]
            add("| %d workers, %s: %s added per worker | %.1f MB | %.1f MB | "
                "%.1f MB |" % (w["n"], label, m.upper(), s["median"] / mb,
                               s["min"] / mb, s["max"] / mb))
    ref = w["read_pickle_worker"]
    add("| for contrast, one worker `read_pickle` + NumPy sums: USS added "
        "| %.1f MB | | |" % (ref["touch"]["uss"] / mb))
    add("| for contrast, one worker `read_pickle` + NumPy sums + `df.sum()`: "
        "USS added | %.1f MB | | |" % (ref["sum"]["uss"] / mb))
    add("")

    # goals
    G = R["goals"] = []

    def goal(text, measured, target, met):
        G.append({"goal": text, "measured": measured, "target": target,
                  "met": met})
    rc = R["recall"]["median"]
    goal("frame recall (another process) < 0.25 ms", fmt_s(rc), "< 0.25 ms",
         rc < 0.25e-3)
    x = R["read_pickle"]["median"] / rc
    goal("frame recall vs `read_pickle`", "%.0fx faster" % x, ">= 500x", x >= 500)
    x = rc / R["pickle_loads"]["median"]
    goal("frame recall vs bare `pickle.loads` (limit)", "%.2fx" % x, "<= 3x",
         x <= 3)
    lm = R["learn"]["median"]
    x = lm / R["memcpy"]["median"]
    goal("frame learn vs memcpy (limit)", "%.2fx" % x, "<= 2x", x <= 2)
    x = R["to_pickle"]["median"] / lm
    goal("frame learn vs `to_pickle`", "%.2fx faster" % x, ">= 2x", x >= 2)
    for kind in R["small"]:
        s = R["small"][kind]
        b = s["brain"]["median"]
        for key, label in (("lmdb_get", "py-lmdb get (one read txn)"),
                           ("lmdb_txn", "py-lmdb txn + get per op")):
            if key in s:
                x = s[key]["median"] / b
                goal("%s recall vs %s" % (kind, label),
                     "%.2fx as fast" % x, ">= 1x", x >= 1)
            else:
                goal("%s recall vs %s" % (kind, label), "not installed",
                     ">= 1x", None)
        x = b / s["dict"]["median"]
        goal("%s recall vs dict + `pickle.loads`" % kind, "%.2fx slower" % x,
             "<= 3x", x <= 3)
        if "redis" in s:
            x = s["redis"]["median"] / b
            goal("%s recall vs redis-py GET" % kind, "%.0fx faster" % x,
                 ">= 100x", x >= 100)
        else:
            goal("%s recall vs redis-py GET" % kind, R["redis_note"], ">= 100x",
                 None)
    u = w["touch_uss"]["max"]
    goal("%d workers, recall + touch every page: private memory (USS) per "
         "worker" % w["n"],
         "%.1f MB (max), frame %.0f MB" % (u / mb, fr["bytes"] / mb),
         "~0: < 1 MB + 1% of the frame", u < 1e6 + 0.01 * fr["bytes"])
    # df.sum() allocates scratch of its own (NaN masks), whatever the frame's
    # memory: the read_pickle worker measures it (its USS after df.sum()
    # minus after the NumPy sums), and it is not counted against the Brain
    scratch = max(0, ref["sum"]["uss"] - ref["touch"]["uss"])
    u = w["all_uss"]["max"]
    goal("%d workers, recall + `df.sum()`: USS per worker, less `df.sum()`'s "
         "own scratch (%.1f MB, measured with `read_pickle`)" % (w["n"], scratch / mb),
         "%.1f MB - %.1f MB = %.1f MB" % (u / mb, scratch / mb, (u - scratch) / mb),
         "~0: < 1 MB + 1% of the frame", u - scratch < 1e6 + 0.01 * fr["bytes"])

    if args.quick:
        add("--quick: a %.0f MB frame and short times, a smoke run. The frame "
            "goals are stated for the 220 MB frame: `read_pickle` scales with "
            "the size, recall does not." % (fr["bytes"] / 1e6))
        add("")
    add("| goal | measured | target | met |")
    add("|---|---:|---:|:---:|")
    for g in G:
        add("| %s | %s | %s | %s |" % (g["goal"], g["measured"], g["target"],
                                       {True: "yes", False: "**no**",
                                        None: "n/a"}[g["met"]]))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="1M rows and short times: the whole run well under 40 s")
    ap.add_argument("--json", metavar="FILE", help="also write every figure as JSON")
    ap.add_argument("--rows", type=int, help="rows of the frame (10M; --quick 1M)")
    ap.add_argument("--workers", type=int, default=4, help="workers of workload 3")
    args = ap.parse_args()
    q = args.quick
    args.rows = args.rows or (1_000_000 if q else 10_000_000)
    args.repeats = 5 if q else 7          # learn, memcpy, small values
    args.slow_repeats = 3 if q else 5     # to_pickle, read_pickle
    args.fast_repeats = 30 if q else 50   # recall, pickle.loads
    args.seconds = 0.05 if q else 0.2     # per repeat of an ns/op figure

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)
    frame_bytes = args.rows * 22
    need = 3 * frame_bytes + (64 << 20)
    if shutil.disk_usage(SHM).free < need + frame_bytes:
        sys.exit("bench_python: needs about %d MB free in %s"
                 % ((need + frame_bytes) >> 20, SHM))
    R = {"machine": machine_line(), "quick": q}
    t_start = time.perf_counter()
    try:
        brain = Brain(STORE, size=need)

        def destroy():
            brain.dead(i_am_sure=True)
            if os.path.exists(STORE):
                os.unlink(STORE)
        _cleanup.append(destroy)
        bench_frame(brain, args, R)
        bench_small(brain, args, R)
        bench_workers(brain, args, R)
        gc.collect()
    finally:
        cleanup()
    R["seconds"] = time.perf_counter() - t_start
    text = report(R, args)
    print(text)
    print("\n(run took %.0f s)" % R["seconds"])
    if args.json:
        with open(args.json, "w") as f:
            json.dump(R, f, indent=1)


if __name__ == "__main__":
    main()

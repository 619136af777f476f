#!/usr/bin/env python3
"""Sharing a frame between Dash workers: the options side by side, in one
run, on the same frame (docs/dash.md, "Sharing data in Dash").

The frame is examples/dash_app's (ROWS rows: two numeric columns, a city
str column (Arrow-backed), datetimes, a categorical).  For each option the
frame is stored once, then WORKERS fresh processes (as gunicorn workers:
spawned, pandas and pyarrow imported, one small frame of the same layout
read through the same option first) each get it REPEAT times at the same
time, as a callback does, and report:

  per callback   median time to have the frame in the callback
  private/worker USS growth of a worker holding the frame (psutil), after
                 it read every column once
  4 concurrent   the sum of the workers' growth while all of them hold it
                 at once (what 4 simultaneous callbacks cost the machine)

Options: dcc.Store (the frame as JSON through the browser: its body size,
and the server's decode; one worker, one repeat: it is slow and large),
Flask-Caching FileSystemCache and RedisCache (a redis-server started here
on a free loopback port), dash-extensions' FileSystemBackend, and
brain-plasma (Brain.recall; BrainCache.get through Flask-Caching's API; the
same frame with its city column as object str, packed).  Last, the cost of
BrainCache's LRU bookkeeping on a hit against LRW.

    .venv/bin/python bench/bench_dash.py [--rows N] [--repeat R] [--quick]
        [--md build/bench-dash.md] [--json build/bench-dash.json]
"""
import argparse
import gc
import io
import json
import multiprocessing as mp
import os
import queue
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "examples", "dash_app"))


# ---- the options: how a worker gets the frame ------------------------------

def getter(kind, cfg):
    """A function NAME -> frame, for option KIND, opened in this process."""
    if kind == "brain":
        from brain_plasma import Brain
        b = Brain(cfg["store"], namespace="bench")
        return lambda name: b.recall(name)
    if kind == "braincache":
        from brain_plasma.contrib.flask_caching import BrainCache
        c = BrainCache(cfg["store"], key_prefix="bench_")
        return c.get
    if kind == "fc-file":
        from flask_caching.backends import FileSystemCache
        c = FileSystemCache(cfg["dir"], threshold=0, default_timeout=0)
        return c.get
    if kind == "fc-redis":
        from flask_caching.backends import RedisCache
        c = RedisCache(host="127.0.0.1", port=cfg["port"], default_timeout=0)
        return c.get
    if kind == "de-file":
        from dash_extensions.enrich import FileSystemBackend
        c = FileSystemBackend(cache_dir=cfg["dir"], default_timeout=0)
        return lambda key: c.get(key, ignore_expired=True)
    if kind == "dcc-store":
        import pandas as pd

        def get(name):
            with open(os.path.join(cfg["dir"], name + ".json")) as f:
                body = f.read()                 # the request body Dash receives
            from frame import SEGMENTS
            df = pd.read_json(io.StringIO(body), orient="split")
            # JSON loses the dtypes: the callback restores them
            df["when"] = pd.to_datetime(df["when"])
            df["segment"] = df["segment"].astype(pd.CategoricalDtype(SEGMENTS))
            return df
        return get
    raise ValueError(kind)


def worker(kind, cfg, repeat, barrier, out):
    import psutil
    from frame import checksum

    proc = psutil.Process()
    get = getter(kind, cfg)
    small = get("small")                       # imports, first-call caches
    checksum(small)
    del small
    gc.collect()
    base = proc.memory_full_info().uss
    barrier.wait()
    times = []
    frame = None
    for _ in range(repeat):
        frame = None
        gc.collect()
        t = time.perf_counter()
        frame = get("frame")
        times.append(time.perf_counter() - t)
    sums = checksum(frame)                      # every column read once
    barrier.wait()                              # all hold the frame now
    grown = proc.memory_full_info().uss - base
    barrier.wait()
    out.put({"pid": os.getpid(), "times": times, "uss": grown, "rows": sums["rows"],
             "value_sum": sums["value_sum"]})


def measure(kind, cfg, workers, repeat):
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(workers)
    out = ctx.Queue()
    procs = [ctx.Process(target=worker, args=(kind, cfg, repeat, barrier, out))
             for _ in range(workers)]
    for p in procs:
        p.start()
    res = []
    while len(res) < workers:
        try:
            res.append(out.get(timeout=2))
        except queue.Empty:
            dead = [p.exitcode for p in procs if p.exitcode not in (None, 0)]
            if dead:
                for p in procs:
                    p.kill()
                raise RuntimeError("%s: a worker failed (exit status %s)" % (kind, dead))
    for p in procs:
        p.join(60)
    times = [t for r in res for t in r["times"]]
    return {"ms": statistics.median(times) * 1e3, "uss": [r["uss"] for r in res],
            "rows": {r["rows"] for r in res}, "value_sum": {r["value_sum"] for r in res}}


# ---- set-up of each option ------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis(tmp):
    exe = shutil.which("redis-server")
    if not exe:
        return None, "redis-server is not installed (scripts/setup.sh bench installs it)"
    port = free_port()
    p = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                          "--appendonly", "no", "--dir", tmp, "--proto-max-bulk-len", "2gb"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import redis
    r = redis.Redis(host="127.0.0.1", port=port)
    for _ in range(100):
        try:
            r.ping()
            return (p, port), None
        except redis.exceptions.ConnectionError:
            time.sleep(0.1)
    p.kill()
    return None, "redis-server did not start"


def timed(f):
    t = time.perf_counter()
    f()
    return time.perf_counter() - t


def lru_cost(store, n=20000):
    """BrainCache.get of a small value: LRW against LRU (a write per hit)."""
    from brain_plasma.contrib.flask_caching import BrainCache
    out = {}
    for ev in ("lrw", "lru"):
        c = BrainCache(store, key_prefix="lru_" + ev, eviction=ev)
        c.set("k", {"a": 1, "b": [1, 2, 3]})
        for _ in range(1000):
            c.get("k")
        best = min(timed(lambda: [c.get("k") for _ in range(n)]) for _ in range(5))
        out[ev] = best / n * 1e6
        c.clear()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--quick", action="store_true", help="200k rows, 2 repeats")
    ap.add_argument("--md", default=os.path.join(ROOT, "build", "bench-dash.md"))
    ap.add_argument("--json", default=os.path.join(ROOT, "build", "bench-dash.json"))
    a = ap.parse_args()
    if a.quick:
        a.rows, a.repeat = 200_000, 2

    import pandas as pd
    from frame import build_frame
    from brain_plasma import Brain, _core
    from brain_plasma.contrib.flask_caching import BrainCache
    from dash_extensions.enrich import FileSystemBackend
    from flask_caching.backends import FileSystemCache, RedisCache

    tmp = tempfile.mkdtemp(prefix="bench-dash-")
    store = "bench-dash-%d-%s" % (os.getpid(), uuid.uuid4().hex[:8])
    redis_proc = None
    rows_out = []
    try:
        print("building the frame: %d rows" % a.rows, file=sys.stderr)
        df = build_frame(a.rows)
        small = build_frame(1000)
        frame_mb = df.memory_usage(deep=True).sum() / 1e6

        def row(name, kind, cfg, set_s, note, workers=a.workers, repeat=a.repeat):
            print("  %s ..." % name, file=sys.stderr)
            m = measure(kind, cfg, workers, repeat)
            assert m["rows"] == {a.rows}, (name, m["rows"])
            r = {"option": name, "set_s": set_s, "ms": m["ms"],
                 "uss_mb": statistics.median(m["uss"]) / 1e6,
                 "peak4_mb": (sum(m["uss"]) * a.workers / workers) / 1e6,
                 "workers": workers, "note": note}
            rows_out.append(r)
            return r

        # dcc.Store: the frame as JSON in the browser, sent back with every callback
        split = df.to_json(orient="split", date_format="iso")
        records_mb = len(df.head(100_000).to_json(orient="records", date_format="iso")) \
            * (a.rows / min(a.rows, 100_000)) / 1e6
        d_store = os.path.join(tmp, "dcc")
        os.makedirs(d_store)
        for name, frame in (("frame", df), ("small", small)):
            with open(os.path.join(d_store, name + ".json"), "w") as f:
                f.write(split if name == "frame" else frame.to_json(orient="split",
                                                                     date_format="iso"))
        row("dcc.Store (JSON through the browser)", "dcc-store", {"dir": d_store},
            None, "a %.0f MB JSON body (orient=split; %.0f MB as to_dict('records')) "
            "each way on every callback; the browser holds it"
            % (len(split) / 1e6, records_mb), workers=1, repeat=1)
        del split

        # Flask-Caching, files
        d_fc = os.path.join(tmp, "fc")
        c = FileSystemCache(d_fc, threshold=0, default_timeout=0)
        c.set("small", small)
        set_s = timed(lambda: c.set("frame", df))
        row("Flask-Caching FileSystemCache", "fc-file", {"dir": d_fc}, set_s,
            "a private copy per callback: each worker unpickles the whole file")

        # Flask-Caching, Redis
        r, why = start_redis(tmp)
        if r:
            redis_proc, port = r
            c = RedisCache(host="127.0.0.1", port=port, default_timeout=0)
            c.set("small", small)
            set_s = timed(lambda: c.set("frame", df))
            row("Flask-Caching RedisCache", "fc-redis", {"port": port}, set_s,
                "a private copy per callback, through a socket; a value is limited "
                "to 512 MB (proto-max-bulk-len)")
        else:
            rows_out.append({"option": "Flask-Caching RedisCache", "note": why})

        # dash-extensions' default backend
        d_de = os.path.join(tmp, "de")
        c = FileSystemBackend(cache_dir=d_de, default_timeout=0)
        c.set("small", small)

        def disk():
            names = os.listdir(d_de)
            return len(names), sum(os.path.getsize(os.path.join(d_de, f)) for f in names)
        files0, bytes0 = disk()
        set_s = timed(lambda: c.set("frame", df))
        for i in range(2):                      # two more clicks: Serverside keys are new
            c.set("click-%d" % i, df)
        files, nbytes = disk()
        row("dash-extensions FileSystemBackend", "de-file", {"dir": d_de}, set_s,
            "a new %.0f MB file per click, never deleted (3 clicks: %d new files)"
            % ((nbytes - bytes0) / 3e6, files - files0))

        # brain-plasma
        b = Brain(store, size=int(frame_mb * 4e6) + (64 << 20), namespace="bench")
        b.learn(small, "small")
        set_s = timed(lambda: b.learn(df, "frame"))
        row("brain-plasma Brain.recall", "brain", {"store": store}, set_s,
            "zero-copy: every worker maps the same pages; read-only")
        bc = BrainCache(store, key_prefix="bench_")
        bc.set("small", small)
        set_s = timed(lambda: bc.set("frame", df))
        row("brain-plasma BrainCache.get (Flask-Caching API)", "braincache",
            {"store": store}, set_s, "the same, through cache.get")
        bc.clear()
        obj = df.astype({"city": object})
        b.learn(small.astype({"city": object}), "small")
        set_s = timed(lambda: b.learn(obj, "frame"))
        del obj
        row("brain-plasma, city as object str (packed)", "brain", {"store": store}, set_s,
            "numbers and dates zero-copy; the str column rebuilt per recall")
        lru = lru_cost(store)
        b.dead(i_am_sure=True)
    finally:
        if redis_proc is not None:
            redis_proc.terminate()
            redis_proc.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            _core.destroy(store)
        except Exception:
            pass

    import platform
    head = ("Frame: %d rows, %.0f MB in memory (examples/dash_app/frame.py); %d "
            "workers, median of %d gets each; %s, %d CPUs, Python %s, pandas %s.\n\n"
            % (a.rows, frame_mb, a.workers, a.repeat, platform.machine(),
               os.cpu_count(), platform.python_version(), pd.__version__))
    brain_ms = next(r["ms"] for r in rows_out if r["option"] == "brain-plasma Brain.recall")
    lines = ["| option | per callback | vs brain-plasma | private memory per worker "
             "| 4 concurrent callbacks | store once | what happens with 4 workers |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for r in rows_out:
        if "ms" not in r:
            lines.append("| %s | - | - | - | - | - | not measured: %s |" % (r["option"], r["note"]))
            continue
        lines.append("| %s | %s | %.0fx | %.1f MB | %.0f MB%s | %s | %s |" % (
            r["option"], ("%.2f ms" % r["ms"]) if r["ms"] < 10 else ("%.0f ms" % r["ms"]),
            r["ms"] / brain_ms, r["uss_mb"] + 0.0 if abs(r["uss_mb"]) >= 0.05 else 0.0,
            r["peak4_mb"] if abs(r["peak4_mb"]) >= 0.5 else 0.0,
            "" if r["workers"] == a.workers else " (1 worker x 4)",
            "-" if r["set_s"] is None else "%.2f s" % r["set_s"], r["note"]))
    text = head + "\n".join(lines) + (
        "\n\nBrainCache.get of a small value: %.1f us with eviction='lrw', %.1f us "
        "with 'lru' (a write per hit: %.1fx).\n" % (lru["lrw"], lru["lru"],
                                                    lru["lru"] / lru["lrw"]))
    print(text)
    for path, data in ((a.md, text), (a.json, json.dumps(
            {"rows": a.rows, "results": rows_out, "lru_us": lru}, indent=1))):
        if path:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            with open(path, "w") as f:
                f.write(data)


if __name__ == "__main__":
    main()

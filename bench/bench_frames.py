#!/usr/bin/env python3
"""Workload 2 of issue #6: a frame as Dash apps hold it, side by side.

A frame of ROWS rows with a column of distinct str (a user name), a column
of 50 repeated str (a city), a categorical, a datetime, a float and an int
column, stored with each layout of its str columns:

  object/pickle   object dtype, plain pickle (Brain(pack_strings=False),
                  the path before packing)
  object/packed   object dtype, packed (the default now: _strcol.c)
  sql-like ...    the same two, with the city column holding one str object
                  per row (as read_sql or JSON give it)
  string[python]  pandas' StringDtype("python"), packed
  string[pyarrow] Arrow-backed strings (pyarrow)
  string[pyarrow]/plain  the same, Brain(pack_strings=False): its datetime
                  column pickled in-band as NumPy does
  categorical     both str columns as categoricals

For each: learn time in this process (and memcpy of the stored bytes, the
limit), and recall in another process (time until the frame is usable),
with bare pickle.loads over views of the same stored value in that process
(the limit a pickle value can reach).  Prints a markdown table with ratios.

    .venv/bin/python bench/bench_frames.py [--rows N] [--repeat R] [--quick]
    .venv/bin/python bench/bench_frames.py --json out.json

Entry point for a harness: run(rows, repeat) -> list of row dicts.
"""
import argparse
import json
import os
import pickle
import statistics
import subprocess
import sys
import time
import uuid

import numpy as np
import pandas as pd

from brain_plasma import Brain, _core

CITIES = ["city-%02d" % i for i in range(50)]


def make_frame(rows, seed=0):
    """The base frame: str columns of object dtype (as pandas < 3 made them,
    and as read_csv(dtype=object) or a Dash app's astype(object) does)."""
    rng = np.random.default_rng(seed)
    names = np.array(["user-%08d" % i for i in range(rows)], dtype=object)
    cities = np.array(CITIES, dtype=object)[rng.integers(0, len(CITIES), rows)]
    return pd.DataFrame({
        "name": pd.Series(names, dtype=object),
        "city": pd.Series(cities, dtype=object),
        "segment": pd.Categorical.from_codes(rng.integers(0, 8, rows),
                                             ["seg-%d" % i for i in range(8)]),
        "ts": pd.Series(pd.date_range("2024-01-01", periods=rows, freq="s").as_unit("ns")),
        "amount": rng.random(rows) * 100,
        "count": rng.integers(0, 1000, rows),
    })


def sql_like(df):
    """DF with its city column as read_sql or JSON give it: one str object
    per row, though only 50 values."""
    out = df.copy()
    cities = out["city"].to_numpy()
    out["city"] = pd.Series(np.array([c[:4] + c[4:] for c in cities], dtype=object),
                            dtype=object)
    return out


def variants(df):
    """(label, frame, pack_strings) for each layout that can be built here."""
    sql = sql_like(df)
    out = [("object/pickle", df, False), ("object/packed", df, True),
           ("sql-like object/pickle", sql, False), ("sql-like object/packed", sql, True)]
    out.append(("string[python]", df.astype({"name": "string[python]",
                                              "city": "string[python]"}), True))
    try:
        import pyarrow  # noqa: F401
        arrow = df.astype({"name": "string[pyarrow]", "city": "string[pyarrow]"})
        out.append(("string[pyarrow]", arrow, True))
        # the same with pack_strings=False: its datetime column in-band
        out.append(("string[pyarrow]/plain", arrow, False))
    except ImportError:
        print("string[pyarrow]: skipped (pyarrow is not installed)", file=sys.stderr)
    out.append(("categorical", df.astype({"name": "category", "city": "category"}), True))
    return out


def _stats(ts):
    return {"median": statistics.median(ts), "min": min(ts), "max": max(ts)}


def _stored_size(b, name):
    return b.info(name)["size"]


def time_learn(b, frame, name, repeat):
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        b.learn(frame, name)
        ts.append(time.perf_counter() - t0)
    return _stats(ts)


def time_memcpy(nbytes, repeat):
    src = np.ones(max(nbytes, 1), dtype=np.uint8)
    dst = np.empty_like(src)
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        np.copyto(dst, src)
        ts.append(time.perf_counter() - t0)
    return _stats(ts)


def child(store, name, repeat):
    """In another process: the first recall of NAME (cold: the process maps
    the value's pages), then REPEAT recalls (each a full rebuild) and REPEAT
    bare pickle.loads over views of the same value, interleaved."""
    b = Brain(path=store, start_process=False)
    import pandas  # noqa: F401  (an app has imported it already: not timed)
    t0 = time.perf_counter()
    v = b.recall(name)
    first = time.perf_counter() - t0
    del v
    tag, view = b._c().fetch(b.namespace, name)
    (soff, slen), bufs = _core.pickle_parse(view)
    mv = memoryview(view)
    rec, loads = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        v = b.recall(name)
        rec.append(time.perf_counter() - t0)
        del v
        t0 = time.perf_counter()
        v = pickle.loads(mv[soff:soff + slen], buffers=[mv[o:o + n] for o, n in bufs])
        loads.append(time.perf_counter() - t0)
        del v
    del mv, view
    b.sleep()
    return {"first": first, "recall": _stats(rec), "loads": _stats(loads)}


def recall_elsewhere(store, name, repeat):
    res = subprocess.run([sys.executable, os.path.abspath(__file__), "--child",
                          store, name, str(repeat)], capture_output=True, timeout=600)
    if res.returncode:
        raise RuntimeError("recall child failed: %s" % res.stderr.decode()[-2000:])
    return json.loads(res.stdout)


def run(rows=1_000_000, repeat=5, progress=None):
    """Every layout, learned here and recalled in another process: a list of
    {"layout", "learn", "memcpy", "first", "recall", "loads", "bytes"}
    (seconds; learn, memcpy, recall and loads as median, min and max)."""
    df = make_frame(rows)
    store = "bench-frames-%d-%s" % (os.getpid(), uuid.uuid4().hex[:8])
    results = []
    try:
        base = Brain(path=store, size=max(64 << 20, rows * 200))
        for label, frame, pack in variants(df):
            if progress:
                progress(label)
            b = Brain(path=store, pack_strings=pack)
            learn = time_learn(b, frame, label, repeat)
            nbytes = _stored_size(b, label)
            r = recall_elsewhere(store, label, repeat)
            results.append({"layout": label, "learn": learn,
                            "memcpy": time_memcpy(nbytes, repeat),
                            "first": r["first"], "recall": r["recall"],
                            "loads": r["loads"], "bytes": nbytes})
            b.forget(label)
        base.sleep()
    finally:
        try:
            _core.destroy(store)
        except Exception:
            pass
    return results


def table(results, rows):
    ms = lambda s: "%.2f" % (s["median"] * 1e3)  # noqa: E731
    old = next(r for r in results if r["layout"] == "object/pickle")
    lines = [
        "Frame of %d rows (6 columns; 2 of str). Recall in another process: the first "
        "(cold), then the median of repeats; ms." % rows,
        "",
        "| layout | first recall ms | recall ms | speed-up vs object/pickle | loads over views ms "
        "| recall / loads | learn ms | memcpy ms | learn / memcpy | stored MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append("| %s | %.2f | %s | %.1fx | %s | %.2f | %s | %s | %.1f | %.1f |" % (
            r["layout"], r["first"] * 1e3, ms(r["recall"]),
            old["recall"]["median"] / r["recall"]["median"], ms(r["loads"]),
            r["recall"]["median"] / r["loads"]["median"], ms(r["learn"]), ms(r["memcpy"]),
            r["learn"]["median"] / r["memcpy"]["median"], r["bytes"] / 1e6))
    lines.append("")
    lines.append("object/pickle: plain pickle of the object columns (Brain(pack_strings=False)); "
                 "object/packed: the default (identical frame back). string[pyarrow] and "
                 "categorical change the frame's dtypes: an opt-in of the caller's.")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="100k rows, 3 repeats")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        store, name, repeat = a.child
        json.dump(child(store, name, int(repeat)), sys.stdout)
        return 0
    rows, repeat = (100_000, 3) if a.quick else (a.rows, a.repeat)
    results = run(rows, repeat, progress=lambda s: print("...", s, file=sys.stderr))
    print(table(results, rows))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"rows": rows, "repeat": repeat, "results": results}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

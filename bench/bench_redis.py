"""The Brain on Redis against its peers (make bench-redis; docs/redis.md).

Starts a redis-server on a free loopback port, then measures side by side,
median of several repeats:

- the 10M-row frame of bench/run.py (4 numeric columns, 220 MB) and a small
  value (a dict of ~100 bytes):
  * the local Brain (recall from the host's store);
  * redis-py + hiredis with pickle (SET pickle.dumps, GET + pickle.loads);
  * the Redis Brain, first recall on a host (its cache emptied before each
    repeat: Redis -> the host's cache -> zero-copy frame) and cached recall
    (one round trip for the object id, then zero-copy from the cache; with
    revalidate=push, no round trip);
- the client: GET of the frame's bytes through redis-py with hiredis, with
  redis-py's pure-Python parser, and a raw socket that reads the reply
  straight into a preallocated buffer (the floor a client in C reaches);
- one Redis round trip: PING through redis-py, and PING over a plain
  socket (the wire and the server, no client library's work).

The cached recall, the local recall and the PINGs are timed in turn
(interleaved samples of a few calls each, 301 of each), so their ratio
compares times taken under the same load; samples are short so that on a
busy machine most of them hold no preemption, and the median is the
figure (the samples that waited for the CPU show in the max).

Prints a markdown table and the ratios against the goals of issue 12:
cached recall within 2x of (local recall + one round trip); first recall
no slower than redis-py GET + pickle.loads.  Nothing is asserted.

    bench/bench_redis.py [--quick] [--rows N] [--repeats N] [--md FILE] [--json FILE]
"""
import argparse
import gc
import json
import os
import pickle
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from worker import make_frame  # noqa: E402  (the frame of bench/run.py)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis(tmp):
    exe = shutil.which("redis-server")
    if exe is None:
        raise SystemExit("bench_redis: redis-server is missing; run scripts/setup.sh redis")
    import redis

    port = free_port()
    p = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                          "--appendonly", "no", "--dir", tmp, "--loglevel", "warning"],
                         stdout=subprocess.DEVNULL)
    r = redis.Redis(host="127.0.0.1", port=port)
    for _ in range(500):
        try:
            r.ping()
            return p, port, r
        except redis.ConnectionError:
            time.sleep(0.02)
    p.kill()
    raise SystemExit("bench_redis: redis-server did not start")


def timeit(fn, repeats, setup=None, inner=1):
    """Median, min, max seconds of FN (per call; INNER calls per sample)."""
    samples = []
    for _ in range(repeats):
        if setup:
            setup()
        t = time.perf_counter()
        for _ in range(inner):
            out = fn()
        samples.append((time.perf_counter() - t) / inner)
        del out
    return statistics.median(samples), min(samples), max(samples)


def interleaved(fns, repeats, inner):
    """{name: (median, min, max)} of the functions FNS {name: fn}, their
    samples taken in turn (A B C A B C ...): a ratio of two of them then
    compares times taken under the same load."""
    samples = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t = time.perf_counter()
            for _ in range(inner):
                out = fn()
            samples[k].append((time.perf_counter() - t) / inner)
            del out
    return {k: (statistics.median(v), min(v), max(v)) for k, v in samples.items()}


class RawPing:
    """PING over a plain socket, the reply read with one recv: the round
    trip itself, without a client library's work."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def __call__(self):
        self.s.sendall(b"*1\r\n$4\r\nPING\r\n")
        got = b""
        while not got.endswith(b"\r\n"):
            got += self.s.recv(64)
        return got

    def close(self):
        self.s.close()


def raw_get(port, key, size):
    """GET KEY over a plain socket, the reply read into one preallocated
    buffer: no parser, no copy but the kernel's."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        k = key.encode()
        s.sendall(b"*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n" % (len(k), k))
        head = b""
        while not head.endswith(b"\r\n"):
            head += s.recv(1)
        n = int(head[1:-2])
        buf = bytearray(n + 2)
        mv = memoryview(buf)
        got = 0
        while got < n + 2:
            got += s.recv_into(mv[got:])
        return mv[:n]


def fmt(s):
    if s >= 1:
        return "%.2f s" % s
    if s >= 1e-3:
        return "%.1f ms" % (s * 1e3)
    return "%.1f µs" % (s * 1e6)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="1M rows, 3 repeats")
    ap.add_argument("--rows", type=int, help="rows of the frame (default 10M)")
    ap.add_argument("--repeats", type=int, help="repeats of each large figure (default 5)")
    ap.add_argument("--md", help="also write the table to this file")
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args()
    rows = args.rows or (1_000_000 if args.quick else 10_000_000)
    reps = args.repeats or (3 if args.quick else 5)
    small_reps = 200 if args.quick else 2000

    import redis
    from redis._parsers import _RESP2Parser
    from redis.utils import HIREDIS_AVAILABLE

    from brain_plasma import Brain

    tmp = tempfile.mkdtemp(prefix="bench-redis-")
    proc, port, r = start_redis(tmp)
    tag = "bench-redis-%d" % os.getpid()
    cache = "/dev/shm/brain-%s-cache" % tag
    local = Brain(tag, size=int(rows * 22 * 1.5) + (256 << 20))
    rb = Brain("redis://127.0.0.1:%d/0?cache=%s&cache_size=%d"
               % (port, cache, int(rows * 22 * 3) + (256 << 20)))
    res = {}
    try:
        df = make_frame(rows)
        small = {"user": "someone", "n": 42, "ok": True, "xs": [1, 2, 3]}
        nbytes = int(df.memory_usage(index=True).sum())
        env = "redis-server %s, redis-py %s, hiredis %s, %d rows (%d MB)" % (
            r.info()["redis_version"], redis.__version__,
            "yes" if HIREDIS_AVAILABLE else "no", rows, nbytes // 10**6)

        raw_ping = RawPing(port)
        res["ping"] = timeit(r.ping, 5, inner=small_reps)
        res["ping, raw socket"] = timeit(raw_ping, 5, inner=small_reps)

        # ---- the frame
        local.learn(df, "frame")
        blob = pickle.dumps(df, protocol=5)
        r.set("plain:frame", blob)
        res["redis-py frame GET"] = timeit(lambda: r.get("plain:frame"), reps)
        res["redis-py frame GET+loads"] = timeit(
            lambda: pickle.loads(r.get("plain:frame")), reps)
        del blob
        pure = redis.Redis(connection_pool=redis.ConnectionPool(
            host="127.0.0.1", port=port, parser_class=_RESP2Parser))
        res["redis-py (Python parser) frame GET"] = timeit(lambda: pure.get("plain:frame"), reps)
        size = r.strlen("plain:frame")
        res["raw socket frame GET"] = timeit(lambda: raw_get(port, "plain:frame", size), reps)
        r.delete("plain:frame")

        rb.learn(df, "frame")

        def empty_cache():
            # a new cache store: its pages are fresh, as on a host's first recall
            gc.collect()
            rb._drop_cache()
            rb._cache_store()
        res["redis brain frame first"] = timeit(lambda: rb.recall("frame"), reps, setup=empty_cache)
        rb.recall("frame")
        local.recall("frame")
        push = Brain("redis://127.0.0.1:%d/0?cache=%s&revalidate=push" % (port, cache))
        w = push._watcher()
        for _ in range(500):
            if w.ready:
                break
            time.sleep(0.01)
        push.recall("frame")
        # the cached recall and the figures of its goal, taken in turn
        res.update(interleaved({
            "local frame": lambda: local.recall("frame"),
            "redis brain frame cached": lambda: rb.recall("frame"),
            "ping (beside the cached recall)": r.ping,
            "ping, raw socket (beside the cached recall)": raw_ping,
            "redis brain frame cached, revalidate=push": lambda: push.recall("frame"),
        }, 301, 5))
        got = rb.recall("frame")
        assert got.equals(df), "the Redis Brain's frame came back changed"
        del got

        # ---- a small value
        local.learn(small, "small")
        r.set("plain:small", pickle.dumps(small, protocol=5))
        res["redis-py small GET+loads"] = timeit(
            lambda: pickle.loads(r.get("plain:small")), 5, inner=small_reps)
        res["redis-py (Python parser) small GET"] = timeit(
            lambda: pure.get("plain:small"), 5, inner=small_reps)
        res["redis-py small GET"] = timeit(lambda: r.get("plain:small"), 5, inner=small_reps)
        rb.learn(small, "small")
        res.update(interleaved({
            "local small": lambda: local.recall("small"),
            "redis brain small": lambda: rb.recall("small"),
            "ping (beside the small recall)": r.ping,
            "ping, raw socket (beside the small recall)": raw_ping,
        }, 301, 10))
        res["redis brain small learn"] = timeit(lambda: rb.learn(small, "small"), 5, inner=small_reps // 4)
        res["redis-py small SET"] = timeit(
            lambda: r.set("plain:small", pickle.dumps(small, protocol=5)), 5, inner=small_reps // 4)
        res["redis brain frame learn"] = timeit(lambda: rb.learn(df, "frame"), max(2, reps // 2))
        res["redis-py frame SET"] = timeit(
            lambda: r.set("plain:frame", pickle.dumps(df, protocol=5)), max(2, reps // 2))
        pure.close()
        raw_ping.close()
    finally:
        rb.dead(i_am_sure=True)
        local.dead(i_am_sure=True)
        r.close()
        proc.kill()
        proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)

    m = {k: v[0] for k, v in res.items()}
    lines = ["Redis Brain benchmark: %s" % env, "",
             "| figure | median | min | max |", "|---|---|---|---|"]
    for k, (med, lo, hi) in res.items():
        lines.append("| %s | %s | %s | %s |" % (k, fmt(med), fmt(lo), fmt(hi)))
    # one round trip: the raw socket's PING (the wire and the server); the
    # ratio against redis-py's PING (which adds the client's work) is shown
    # too
    cached = m["redis brain frame cached"]
    goal_cached = cached / (m["local frame"] + m["ping, raw socket (beside the cached recall)"])
    goal_cached_py = cached / (m["local frame"] + m["ping (beside the cached recall)"])
    goal_first = m["redis brain frame first"] / m["redis-py frame GET+loads"]
    goal_small = m["redis brain small"] / (
        m["local small"] + m["ping, raw socket (beside the small recall)"])
    lines += [
        "",
        "| goal | ratio | met |", "|---|---|---|",
        "| frame, cached recall / (local recall + one round trip) <= 2 | %.2f | %s |"
        % (goal_cached, "yes" if goal_cached <= 2 else "**no**"),
        "| (the same with redis-py's PING as the round trip) | %.2f | |" % goal_cached_py,
        "| frame, cached recall - local recall - round trip (µs; no goal) | %.1f | |"
        % ((cached - m["local frame"] - m["ping, raw socket (beside the cached recall)"]) * 1e6),
        "| frame, first recall / (redis-py GET + pickle.loads) <= 1 | %.2f | %s |"
        % (goal_first, "yes" if goal_first <= 1 else "**no**"),
        "| frame, cached recall with revalidate=push / local recall (no goal) | %.2f | |"
        % (m["redis brain frame cached, revalidate=push"] / m["local frame"]),
        "| small value, recall / (local recall + one round trip) (no goal) | %.2f | |"
        % goal_small,
        "| small value, recall / (redis-py GET + pickle.loads) (no goal) | %.2f | |"
        % (m["redis brain small"] / m["redis-py small GET+loads"]),
        "| client: frame GET, redis-py+hiredis / raw socket into one buffer | %.2f | |"
        % (m["redis-py frame GET"] / m["raw socket frame GET"]),
        "| client: frame GET, redis-py Python parser / redis-py+hiredis | %.2f | |"
        % (m["redis-py (Python parser) frame GET"] / m["redis-py frame GET"]),
        "| client: small GET, redis-py Python parser / redis-py+hiredis | %.2f | |"
        % (m["redis-py (Python parser) small GET"] / m["redis-py small GET"]),
    ]
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    if args.md:
        with open(args.md, "w") as f:
            f.write(text)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"env": env, "figures": res}, f, indent=1)


if __name__ == "__main__":
    main()

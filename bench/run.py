#!/usr/bin/env python3
"""brain-plasma against its peers, side by side, in one run (issue #6).

    .venv/bin/python bench/run.py [--quick] [--only 1,4] [--peers brain,lmdb]
                                  [--json FILE] [--png FILE] [--md FILE]

Runs the seven workloads against every peer and prints a markdown table per
workload (median of repeats, min, max, and the ratio to brain-plasma), then
the goals of DESIGN.md "Performance goals" with the ratio and met / not met.
Writes bench/results.json, bench/results.md and the plot bench/results.png
(log scale).  A peer that cannot be installed or started keeps its rows,
saying why.  Nothing is asserted: the exit status is 0 unless the benchmark
itself failed.

Each peer's operations run in worker processes (bench/worker.py): one
stores, another recalls (time until the object is usable in a process that
did not store it), more for the workloads with several processes.  The
original brain-plasma 0.3.3 runs under .venv-plasma/bin/python with its own
plasma_store; Redis and Ray are started on loopback and stopped at the end.
Everything the run creates is named with its process id and removed at the
end, also on error and on SIGINT/SIGTERM/SIGHUP.
"""
import argparse
import json
import os
import platform
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PID = os.getpid()
SHM = "/dev/shm"
RUNDIR = "%s/bench-run-%d" % (SHM, PID)
PLASMA_PY = os.path.join(ROOT, ".venv-plasma", "bin", "python")

PEERS = [
    ("brain", "brain-plasma (this)"),
    ("plasma", "brain-plasma 0.3.3 on Plasma"),
    ("pickle", "pickle files in /dev/shm"),
    ("shm", "multiprocessing.shared_memory"),
    ("redis", "Redis (redis-py + hiredis)"),
    ("lmdb", "LMDB (py-lmdb)"),
    ("diskcache", "diskcache"),
    ("ray", "Ray object store"),
    ("ultradict", "UltraDict"),
    ("smdict", "shared-memory-dict"),
    ("parquet", "Parquet files in /dev/shm"),
    ("feather", "Feather files in /dev/shm"),
    ("limit", "the limit: memcpy / pickle.loads over views / dict"),
]
LABEL = dict(PEERS)
TABLE_ONLY = {"parquet", "feather"}
WORKLOADS = {
    1: "a 10M-row, 4-column frame",
    2: "a frame as Dash apps hold it (str, category, datetime, numbers)",
    3: "a 1 GiB float64 ndarray",
    4: "small values: p50 / p99 latency",
    5: "one million names",
    6: "four workers recalling the same frame: memory added per worker",
    7: "read-heavy mix from two processes (90% get, 10% set)",
}

_cleanup = []


def cleanup():
    while _cleanup:
        fn = _cleanup.pop()
        try:
            fn()
        except Exception as exc:
            print("cleanup: %s: %s" % (type(exc).__name__, exc), file=sys.stderr)


def _on_signal(signum, frame):
    raise SystemExit(128 + signum)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_proc(p, group=False):
    if p.poll() is None:
        try:
            if group:
                os.killpg(p.pid, signal.SIGTERM)
            else:
                p.terminate()
            p.wait(10)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            try:
                if group:
                    os.killpg(p.pid, signal.SIGKILL)
                else:
                    p.kill()
            except ProcessLookupError:
                pass
            p.wait()


# ---- worker processes -----------------------------------------------------------

class WorkerError(Exception):
    pass


class Worker:
    def __init__(self, python, timeout):
        self.timeout = timeout
        self.p = subprocess.Popen([python, os.path.join(HERE, "worker.py")],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, cwd=ROOT)
        self.q = queue.Queue()
        self.err = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()
        _cleanup.append(self.stop)

    def _read(self):
        for line in self.p.stdout:
            self.q.put(line)
        self.q.put(None)

    def _read_err(self):
        for line in self.p.stderr:
            self.err.append(line)
            del self.err[:-20]

    def send(self, op, **kw):
        kw["op"] = op
        try:
            self.p.stdin.write(json.dumps(kw) + "\n")
            self.p.stdin.flush()
        except OSError:
            raise WorkerError("the worker process died: " + self.stderr())

    def recv(self, timeout=None):
        try:
            line = self.q.get(timeout=timeout or self.timeout)
        except queue.Empty:
            self.stop()
            raise WorkerError("timed out after %d s" % (timeout or self.timeout))
        if line is None:
            raise WorkerError("the worker process died: " + self.stderr())
        res = json.loads(line)
        if not res.pop("ok"):
            raise WorkerError(res["error"])
        return res

    def call(self, op, timeout=None, **kw):
        self.send(op, **kw)
        return self.recv(timeout)

    def stderr(self):
        lines = [x.strip() for x in self.err if x.strip()]
        return lines[-1] if lines else "(nothing on stderr)"

    def stop(self):
        if self.p.poll() is None:
            try:
                self.send("close")
                self.p.wait(5)
            except Exception:
                pass
            stop_proc(self.p)


# ---- servers the peers need --------------------------------------------------------

def start_redis(capacity):
    exe = shutil.which("redis-server")
    if exe is None:
        return None, "not installed: apt-get install -y redis-server (scripts/setup.sh bench)"
    try:
        import redis
    except ImportError:
        return None, "not installed: pip install -r requirements-bench.txt (redis, hiredis)"
    for _ in range(3):
        port = free_port()
        srv = subprocess.Popen(
            [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", tempfile.gettempdir(),
             "--proto-max-bulk-len", str(max(capacity, 512 << 20)),
             "--client-query-buffer-limit", str(max(capacity, 1 << 30))],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _cleanup.append(lambda srv=srv: stop_proc(srv))
        r = redis.Redis(host="127.0.0.1", port=port)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and srv.poll() is None:
            try:
                r.ping()
                v = r.info()["redis_version"]
                r.close()
                try:
                    import hiredis  # noqa: F401
                    h = "hiredis"
                except ImportError:
                    h = "no hiredis"
                return {"redis_port": port}, "redis-server %s, redis-py %s, %s" % (
                    v, redis.__version__, h)
            except redis.ConnectionError:
                time.sleep(0.05)
        stop_proc(srv)
    return None, "redis-server did not start"


def start_plasma(capacity):
    exe = os.path.join(ROOT, ".venv-plasma", "bin", "plasma_store")
    if not os.path.exists(PLASMA_PY) or not os.path.exists(exe):
        return None, ("not installed: make bench-plasma-venv (creates .venv-plasma "
                      "from requirements-plasma.txt)")
    sock = "%s/plasma-%d.sock" % (tempfile.gettempdir(), PID)
    srv = subprocess.Popen([exe, "-m", str(capacity), "-s", sock, "-d", SHM],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _cleanup.append(lambda: os.path.exists(sock) and os.unlink(sock))
    _cleanup.append(lambda: stop_proc(srv))
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and srv.poll() is None:
        if os.path.exists(sock):
            v = subprocess.run([PLASMA_PY, "-c", "import pyarrow, brain_plasma, numpy; "
                                "print(pyarrow.__version__, numpy.__version__)"],
                               capture_output=True, text=True, timeout=60)
            return {"plasma_socket": sock}, "brain-plasma 0.3.3, pyarrow %s, numpy %s" % tuple(
                v.stdout.split()[:2]) if v.returncode == 0 else "?"
        time.sleep(0.05)
    stop_proc(srv)
    return None, "plasma_store did not start"


def start_ray(capacity, timeout):
    exe = os.path.join(os.path.dirname(sys.executable), "ray")
    if not os.path.exists(exe):
        return None, "not installed: pip install -r requirements-bench-ray.txt (make bench installs it)"
    port = free_port()
    tmp = "/tmp/rb%d" % PID
    # its own session: the whole group (gcs_server, raylet, ...) is stopped at the end
    srv = subprocess.Popen(
        [exe, "start", "--head", "--block", "--port", str(port), "--node-ip-address",
         "127.0.0.1", "--num-cpus", "2", "--object-store-memory", str(capacity),
         "--include-dashboard", "false", "--disable-usage-stats", "--temp-dir", tmp],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        start_new_session=True, env=dict(os.environ, RAY_USAGE_STATS_ENABLED="0"))
    _cleanup.append(lambda: shutil.rmtree(tmp, ignore_errors=True))
    _cleanup.append(lambda: stop_proc(srv, group=True))
    addr = "127.0.0.1:%d" % port
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and srv.poll() is None:
        r = subprocess.run([sys.executable, "-c",
                            "import ray,sys; ray.init(address=sys.argv[1], logging_level=40);"
                            "print(ray.__version__)", addr],
                           capture_output=True, text=True, timeout=timeout)
        if r.returncode == 0:
            return {"ray_address": addr}, "ray %s (%d MB object store)" % (
                r.stdout.strip(), capacity >> 20)
        time.sleep(1)
    if srv.poll() is not None:
        return None, "ray start failed: %s" % (srv.stderr.read().strip().splitlines() or ["?"])[-1]
    stop_proc(srv, group=True)
    return None, "Ray did not start within %d s" % timeout


# ---- results -------------------------------------------------------------------------

class Results:
    def __init__(self):
        self.rows = []      # dicts: workload, figure, peer, unit, median, min, max, note / why

    def add(self, w, fig, peer, s, unit, note=None):
        self.rows.append({"workload": w, "figure": fig, "peer": peer, "unit": unit,
                          "median": s["median"], "min": s["min"], "max": s["max"],
                          "n": len(s.get("samples", [])), "note": note})

    def miss(self, w, fig, peer, why):
        self.rows.append({"workload": w, "figure": fig, "peer": peer, "why": why})

    def get(self, w, fig, peer):
        for r in self.rows:
            if r["workload"] == w and r["figure"] == fig and r["peer"] == peer and "median" in r:
                return r
        return None


def summ(xs):
    xs = sorted(xs)
    n = len(xs)
    med = xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2
    return {"median": med, "min": xs[0], "max": xs[-1], "samples": xs}


def pct(lat, q):
    s = sorted(lat)
    return s[min(len(s) - 1, int(q * len(s)))]


# ---- the workloads, one peer at a time ------------------------------------------------

FIG = {
    1: ["store", "recall (another process)", "recall + df.sum() (another process)"],
    2: ["store", "recall (another process)"],
    3: ["store", "recall (another process)"],
    4: ["%s %s %s%s" % (k, op, p, procs) for k in ("int", "str", "dict")
        for procs in ("", ", 2 procs") for op in ("get", "set") for p in ("p50", "p99")],
    5: ["insert (per name)", "random lookup", "list all"],
    6: ["USS added per worker", "PSS added per worker"],
    7: ["ops/s, 2 processes"],
}
UNIT = {6: "bytes", 7: "ops/s"}


class Bench:
    def __init__(self, args, S, R):
        self.args, self.S, self.R = args, S, R

    def workers(self, peer, cfg, n, create=True):
        py = PLASMA_PY if peer == "plasma" else sys.executable
        ws = [Worker(py, self.S["timeout"]) for _ in range(n)]
        for i, w in enumerate(ws):
            w.send("open", peer=peer, cfg=cfg, create=create and i == 0)
            if i == 0:          # the first creates the store; the others open it
                w.recv()
        for w in ws[1:]:
            w.recv()
        return ws

    def restart(self, peer, cfg, A, B):
        """Both workers afresh (after a failure answers may be left in a pipe)."""
        A.stop()
        B.stop()
        self.pair = self.workers(peer, cfg, 2)
        return self.pair

    def run_peer(self, peer, cfg, only, progress):
        S, R = self.S, self.R
        same = peer == "limit"
        A, B = self.workers(peer, cfg, 2)
        rec = B if not same else A
        try:
            for w in only:
                if peer in TABLE_ONLY and w in (4, 5, 7):
                    for f in FIG[w]:
                        R.miss(w, f, peer, "n/a: a file format for tables, not a key-value store")
                    progress(w)
                    continue
                if peer == "limit" and w == 6:
                    for f in FIG[w]:
                        R.miss(w, f, peer, "n/a: in one process (the 0 of private memory is the goal)")
                    progress(w)
                    continue
                try:
                    t0 = time.perf_counter()
                    nb = self.S["wbytes"][w]
                    for x in (A, B):
                        x.call("prepare", nbytes=nb)
                    self.pair = (A, B)
                    getattr(self, "w%d" % w)(peer, cfg, A, B, rec)
                    A, B = self.pair
                    rec = B if not same else A
                    self.S.setdefault("took", {})["%s %d" % (peer, w)] = round(
                        time.perf_counter() - t0, 2)
                except WorkerError as exc:
                    have = {r["figure"] for r in R.rows if r["workload"] == w and r["peer"] == peer}
                    for f in FIG[w]:
                        if f not in have:
                            R.miss(w, f, peer, "failed: %s" % str(exc)[:160])
                    A, B = self.restart(peer, cfg, A, B)
                    rec = B if not same else A
                for x in (A, B):
                    try:
                        x.call("data")
                    except WorkerError:
                        pass
                try:
                    A.call("clear")
                except WorkerError:
                    pass
                progress(w)
        finally:
            A.stop()
            B.stop()

    def big(self, peer, A, rec, w, kind, n, then=None, check=False):
        S, R = self.S, self.R
        A.call("data", kind=kind, n=n)
        if check and rec is not A:
            rec.call("data", kind=kind, n=n)
        r = A.call("store", name=kind, kind=kind, repeat=S["repeat"], budget=S["budget"])
        R.add(w, "store", peer, r["store"], "s")
        r = rec.call("recall", name=kind, repeat=S["repeat"], budget=S["budget"], then=then,
                     check=kind if check else None)
        note = "first %s" % fmt(r["first"], "s")
        if check:
            note += "; comes back %s" % ("unchanged" if r["same"] else "**changed** (dtypes or values)")
        R.add(w, "recall (another process)", peer, r["recall"], "s", note)
        if then == "sum":
            R.add(w, "recall + df.sum() (another process)", peer, r["recall_sum"], "s")

    def w1(self, peer, cfg, A, B, rec):
        self.big(peer, A, rec, 1, "frame", self.S["rows"], then="sum")
        if 6 in self.args.only_set and peer != "limit":
            A.call("data")
            self.w6_stored(peer, cfg, A, B)

    def w6(self, peer, cfg, A, B, rec):
        if 1 in self.args.only_set:
            return              # measured right after workload 1, on its frame
        A.call("data", kind="frame", n=self.S["rows"])
        A.call("store", name="frame", kind="frame", repeat=1, budget=0)
        A.call("data")
        self.w6_stored(peer, cfg, A, B)

    def w6_stored(self, peer, cfg, A, B):
        """N fresh workers (none has mapped or read the frame before)."""
        n = self.S["workers"]
        try:
            ws = self.workers(peer, cfg, n, create=False)
        except WorkerError as exc:
            for f in FIG[6]:
                self.R.miss(6, f, peer, "failed: %s" % str(exc)[:160])
            return
        try:
            got = []
            for w in ws:
                w.call("prepare", nbytes=self.S["wbytes"][1])
                got.append(w.call("memory", name="frame"))
            again = [w.call("memory_again", base=g["base"]) for w, g in zip(ws, got)]
            self.R.add(6, "USS added per worker", peer, summ([g["uss"] for g in got]),
                       "bytes", "after recall + reading every column, %d workers" % n)
            self.R.add(6, "PSS added per worker", peer, summ([g["pss"] for g in again]),
                       "bytes", "once all %d have read it" % n)
        except WorkerError as exc:
            have = {r["figure"] for r in self.R.rows if r["workload"] == 6 and r["peer"] == peer}
            for f in FIG[6]:
                if f not in have:
                    self.R.miss(6, f, peer, "failed: %s" % str(exc)[:160])
        finally:
            for w in ws:
                w.stop()

    def w2(self, peer, cfg, A, B, rec):
        self.big(peer, A, rec, 2, "dash", self.S["dash_rows"], check=True)

    def w3(self, peer, cfg, A, B, rec):
        self.big(peer, A, rec, 3, "array", self.S["array_bytes"])

    def w4(self, peer, cfg, A, B, rec):
        S, R = self.S, self.R
        same = peer == "limit"
        for kind in ("int", "str", "dict"):
            names = ["s-%s-%d" % (kind, i) for i in range(100)]
            A.call("fill", kind=kind, names=names)
            if same:
                B.call("fill", kind=kind, names=names)
            for procs in (1, 2):
                for op in ("get", "set"):
                    kw = dict(kind=kind, names=names, which=op, ops=S["lat_ops"],
                              min_ops=S["lat_min_ops"],
                              repeat=S["lat_repeat"], batch_s=S["lat_batch_s"],
                              budget=S["budget"])
                    suffix = ", 2 procs" if procs == 2 else ""
                    try:
                        if procs == 1:
                            batches = A.call("latency", **kw)["batches"]
                        else:
                            t = time.time() + self.S["start_delay"]
                            A.send("latency", start_at=t, seed=1, **kw)
                            B.send("latency", start_at=t, seed=2, **kw)
                            a, b = A.recv(), B.recv()
                            batches = [x + y for x, y in zip(a["batches"], b["batches"])]
                    except WorkerError as exc:
                        for p in ("p50", "p99"):
                            R.miss(4, "%s %s %s%s" % (kind, op, p, suffix), peer,
                                   "failed: %s" % str(exc)[:160])
                        A, B = self.restart(peer, cfg, A, B)
                        A.call("fill", kind=kind, names=names)
                        if same:
                            B.call("fill", kind=kind, names=names)
                        continue
                    for p, q in (("p50", 0.5), ("p99", 0.99)):
                        R.add(4, "%s %s %s%s" % (kind, op, p, suffix), peer,
                              summ([pct(b, q) * 1e-9 for b in batches]), "s")

    def w5(self, peer, cfg, A, B, rec):
        S, R = self.S, self.R
        n = S["names"]
        note = ""
        if peer in ("pickle", "shm"):
            n = min(n, S["names_file_cap"])
            note = "capped at %d names: each takes a 4 KiB page of /dev/shm; " % n
        r = A.call("names_insert", n=n, deadline=S["names_deadline"],
                   timeout=S["names_deadline"] * 4 + S["timeout"])
        done = r["done"]
        if done < S["names"]:
            note += "%d of %d names inserted in %.0f s" % (done, S["names"], r["seconds"])
        else:
            note += "%d names" % done
        per = r["seconds"] / done
        R.add(5, "insert (per name)", peer, {"median": per, "min": per, "max": per,
                                              "samples": [per]}, "s", note)
        r = rec.call("names_lookup", count=done, ops=min(S["lookup_ops"], done * 10),
                     repeat=S["repeat"], budget=S["budget"])
        R.add(5, "random lookup", peer, r["lookup"], "s", "among %d names" % done)
        R.rows[-1]["names"] = done
        r = rec.call("names_list", repeat=S["repeat"], budget=S["budget"])
        R.add(5, "list all", peer, r["list"], "s", "%d names" % r["count"])
        R.rows[-1]["names"] = r["count"]

    def w7(self, peer, cfg, A, B, rec):
        S, R = self.S, self.R
        names = ["m-%d" % i for i in range(1000)]
        A.call("fill", kind="str", names=names)
        if peer == "limit":
            B.call("fill", kind="str", names=names)
        t = time.time() + self.S["start_delay"]
        kw = dict(kind="str", names=names, write=0.1, seconds=S["mix_s"],
                  repeat=S["mix_repeat"], start_at=t)
        A.send("mix", seed=1, **kw)
        B.send("mix", seed=2, **kw)
        a, b = A.recv(), B.recv()
        rates = [(x[0] + y[0]) / max(x[1], y[1]) for x, y in zip(a["runs"], b["runs"])]
        R.add(7, "ops/s, 2 processes", peer, summ(rates), "ops/s",
              "100-byte str values, 1,000 names")


# ---- the report --------------------------------------------------------------------

def fmt(x, unit):
    if x is None:
        return "-"
    if unit == "bytes":
        return "%.1f MB" % (x / 1e6)
    if unit == "ops/s":
        if x >= 1e6:
            return "%.2f M/s" % (x / 1e6)
        return "%.0f k/s" % (x / 1e3)
    if x >= 1:
        return "%.2f s" % x
    if x >= 1e-3:
        return "%.1f ms" % (x * 1e3)
    if x >= 1e-6:
        return "%.1f µs" % (x * 1e6)
    return "%.0f ns" % (x * 1e9)


def ratio(r, b):
    """How many times brain is faster (time: peer / brain; ops/s: brain /
    peer); None for memory or no brain figure."""
    if b is None or r["unit"] == "bytes":
        return None
    if r["unit"] == "ops/s":
        return b["median"] / r["median"] if r["median"] else None
    return r["median"] / b["median"] if b["median"] else None


def fmt_ratio(x):
    if x is None:
        return "-"
    if x >= 100:
        return "%.0fx" % x
    if x >= 10:
        return "%.1fx" % x
    return "%.2fx" % x


def peer_rows(R, w, f, p):
    return [r for r in R.rows if r["workload"] == w and r["figure"] == f and r["peer"] == p]


def same_why(R, w, p):
    """The reason when every figure of workload W of peer P is missing for
    one reason, else None."""
    whys = {r.get("why") for r in R.rows if r["workload"] == w and r["peer"] == p}
    return whys.pop() if len(whys) == 1 and None not in whys else None


def workload_table(R, w, peers):
    lines = ["### Workload %d: %s" % (w, WORKLOADS[w]), ""]
    skipped = [(p, same_why(R, w, p)) for p in peers if same_why(R, w, p)]
    shown = [p for p in peers if not same_why(R, w, p)]
    if w == 4:
        # one row per value and peer: the medians of the batches' percentiles
        cols = ["%s %s%s" % (op, q, procs) for procs in ("", ", 2 procs")
                for op in ("get", "set") for q in ("p50", "p99")]
        lines += ["| value | peer | " + " | ".join(cols) + " |",
                  "|---|---|" + "---:|" * len(cols)]
        for kind in ("int", "str", "dict"):
            for p in shown:
                cells = []
                for c in cols:
                    f = kind + " " + c
                    rows = peer_rows(R, w, f, p)
                    if not rows or "why" in rows[0]:
                        cells.append(rows[0]["why"] if rows else "")
                        continue
                    r = rows[0]
                    x = ratio(r, R.get(w, f, "brain"))
                    cells.append(fmt(r["median"], "s") + (
                        "" if p == "brain" or x is None else " (%s)" % fmt_ratio(x)))
                lines.append("| %s | %s | %s |" % (kind, LABEL[p], " | ".join(cells)))
        lines += ["", "Each cell: the median over batches of that percentile of single "
                  "operations (timer included); in brackets, how many times brain-plasma "
                  "is faster. Min and max are in results.json."]
    else:
        lines += ["| figure | peer | median | min | max | brain faster by | note |",
                  "|---|---|---:|---:|---:|---:|---|"]
        for f in FIG[w]:
            b = R.get(w, f, "brain")
            for p in shown:
                rows = peer_rows(R, w, f, p)
                if not rows:
                    continue
                r = rows[0]
                if "why" in r:
                    lines.append("| %s | %s | - | | | | %s |" % (f, LABEL[p], r["why"]))
                    continue
                u = r["unit"]
                lines.append("| %s | %s | %s | %s | %s | %s | %s |" % (
                    f, LABEL[p], fmt(r["median"], u), fmt(r["min"], u), fmt(r["max"], u),
                    "" if p == "brain" else fmt_ratio(ratio(r, b)), r["note"] or ""))
    if skipped:
        lines += [""] + ["Not measured: %s: %s." % (LABEL[p], why) for p, why in skipped]
    return "\n".join(lines)


def goals(R, S, quick):
    G = []

    def goal(text, measured, target, met):
        G.append({"goal": text, "measured": measured, "target": target, "met": met})

    def med(w, f, p):
        r = R.get(w, f, p)
        return r["median"] if r else None
    rc = med(1, "recall (another process)", "brain")
    if rc is not None:
        goal("frame recall (another process) under 0.25 ms", fmt(rc, "s"), "< 0.25 ms",
             rc < 0.25e-3)
        rp = med(1, "recall (another process)", "pickle")
        goal("frame recall vs `read_pickle` (pickle file in /dev/shm)",
             "%s faster" % fmt_ratio(rp / rc) if rp else "n/a", ">= 500x",
             rp / rc >= 500 if rp else None)
        lim = med(1, "recall (another process)", "limit")
        goal("frame recall vs bare `pickle.loads` over views (the limit)",
             "%.2fx its time" % (rc / lim) if lim else "n/a", "<= 3x",
             rc / lim <= 3 if lim else None)
    ls = med(1, "store", "brain")
    lm = med(1, "store", "limit")
    if ls is not None and lm:
        goal("frame learn vs memcpy (the limit)", "%.2fx its time" % (ls / lm), "<= 2x",
             ls / lm <= 2)
    d = med(2, "recall (another process)", "brain")
    dp = med(2, "recall (another process)", "pickle")
    if d is not None and dp:
        same = R.get(2, "recall (another process)", "brain")["note"]
        goal("Dash frame recall vs `read_pickle`, unchanged", "%s faster; %s" % (
            fmt_ratio(dp / d), "unchanged" if "unchanged" in same else "CHANGED"),
            ">= 20x", dp / d >= 20 and "unchanged" in same)
    for kind in ("int", "str", "dict"):
        f = "%s get p50" % kind
        b = med(4, f, "brain")
        if b is None:
            continue
        for peer, text, target, test in (
                ("lmdb", "as fast as py-lmdb", ">= 1x", lambda x: x >= 1),
                ("redis", "faster than Redis", ">= 100x", lambda x: x >= 100)):
            p = med(4, f, peer)
            goal("%s recall p50: %s" % (kind, text),
                 "%s" % fmt_ratio(p / b) if p else "n/a", target, test(p / b) if p else None)
        lim = med(4, f, "limit")
        goal("%s recall p50 within 3x of dict + `pickle.loads`" % kind,
             "%.2fx its time" % (b / lim) if lim else "n/a", "<= 3x",
             b / lim <= 3 if lim else None)
    r = R.get(5, "list all", "brain")
    if r is not None:
        goal("one million names: list all under a second", "%s (%s)" % (
            fmt(r["median"], "s"), r["note"]), "< 1 s", r["median"] < 1)
    r = R.get(6, "USS added per worker", "brain")
    if r is not None:
        fb = S["rows"] * 22
        goal("workers reading the same frame add no private memory",
             "%s (max) per worker, frame %.0f MB" % (fmt(r["max"], "bytes"), fb / 1e6),
             "< 1 MB + 1% of the frame", r["max"] < 1e6 + 0.01 * fb)
    # ahead of every peer that does the same job (the limits excluded)
    for w in sorted({r["workload"] for r in R.rows}):
        behind = []
        total = 0
        for f in FIG[w]:
            b = R.get(w, f, "brain")
            if b is None:
                continue
            for r in R.rows:
                if (r["workload"] != w or r["figure"] != f or r["peer"] in ("brain", "limit")
                        or "median" not in r):
                    continue
                if r.get("names", 0) != b.get("names", 0):
                    continue        # fewer names: not the same job
                if "changed" in (r.get("note") or "") and "unchanged" not in r["note"]:
                    continue        # gave back another frame: not the same job
                if f.startswith("PSS"):
                    continue        # shared pages split among readers: not a cost
                total += 1
                x = ratio(r, b)
                if r["unit"] == "bytes":       # behind: 1 MB + 1% of the frame more
                    x = None if r["median"] >= b["median"] - 1e6 - 0.01 * S["rows"] * 22 else 0
                if x is not None and x < 1:
                    behind.append("%s: %s (%s)" % (f, LABEL[r["peer"]], fmt_ratio(x)))
        if total:
            goal("workload %d: ahead of every peer" % w,
                 "behind on %d of %d%s" % (len(behind), total,
                                           (": " + "; ".join(behind[:6])) if behind else ""),
                 "behind on 0", not behind)
    return G


SUMMARY = [
    (1, "store", "10M-row frame: store"),
    (1, "recall (another process)", "10M-row frame: recall, another process"),
    (1, "recall + df.sum() (another process)", "10M-row frame: recall + `df.sum()`"),
    (2, "recall (another process)", "1M-row Dash frame: recall"),
    (3, "store", "1 GiB ndarray: store"),
    (3, "recall (another process)", "1 GiB ndarray: recall"),
    (4, "str get p50", "100-char str: get p50"),
    (4, "str set p50", "100-char str: set p50"),
    (4, "dict get p50", "10 KB dict: get p50"),
    (4, "str get p99, 2 procs", "str get p99, 2 processes"),
    (5, "insert (per name)", "1M names: insert, per name"),
    (5, "random lookup", "1M names: random lookup"),
    (5, "list all", "1M names: list all"),
    (6, "USS added per worker", "4 workers on one frame: private memory each"),
    (7, "ops/s, 2 processes", "90/10 get/set mix, 2 processes: ops/s"),
]
SHORT = {"brain": "brain-plasma", "plasma": "0.3.3 (Plasma)", "pickle": "pickle file",
         "shm": "shared_memory", "redis": "Redis", "lmdb": "LMDB", "diskcache": "diskcache",
         "ray": "Ray", "ultradict": "UltraDict", "smdict": "shared-memory-dict",
         "parquet": "Parquet", "feather": "Feather", "limit": "limit"}


def summary_table(R, peers):
    """One row per key figure, one column per peer: medians ("-": not
    measured, the tables below say why; a name count in brackets where a
    peer got through fewer names)."""
    peers = [p for p in peers if any("median" in r for r in R.rows if r["peer"] == p)]
    lines = ["| figure | " + " | ".join(SHORT[p] for p in peers) + " |",
             "|---|" + "---:|" * len(peers)]
    for w, f, label in SUMMARY:
        if not any(r["workload"] == w for r in R.rows):
            continue
        cells = []
        for p in peers:
            r = R.get(w, f, p)
            if r is None:
                cells.append("-")
                continue
            c = fmt(r["median"], r["unit"])
            b = R.get(w, f, "brain")
            if w == 5 and p != "brain" and r.get("names", b and b.get("names")) != (
                    b and b.get("names")):
                n = r["names"]
                c += " (%s names)" % ("%dk" % (n // 1000) if n >= 10000 else "%d" % n)
            elif w == 5 and f == "insert (per name)" and "inserted" in (r["note"] or ""):
                c += " (%s)" % r["note"].split(" names")[0].replace(" of ", "/")
            cells.append("**%s**" % c if p == "brain" else c)
        lines.append("| %s | %s |" % (label, " | ".join(cells)))
    return "\n".join(lines)


def goals_table(G):
    lines = ["### Goals", "", "| goal | measured | target | met |", "|---|---|---|:---:|"]
    for g in G:
        lines.append("| %s | %s | %s | %s |" % (g["goal"], g["measured"], g["target"],
                                               {True: "yes", False: "**no**", None: "n/a"}[g["met"]]))
    return "\n".join(lines)


PLOTS = [
    (1, "recall (another process)", "W1 frame recall"),
    (1, "store", "W1 frame store"),
    (2, "recall (another process)", "W2 Dash frame recall"),
    (3, "recall (another process)", "W3 1 GiB ndarray recall"),
    (4, "str get p50", "W4 str get p50"),
    (4, "str set p50", "W4 str set p50"),
    (5, "insert (per name)", "W5 insert, per name"),
    (5, "list all", "W5 list all names (slow peers got through fewer)"),
    (6, "USS added per worker", "W6 private memory per worker (MB)"),
    (7, "ops/s, 2 processes", "W7 mixed ops/s, 2 procs"),
]


def plot(R, path, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    panels = [p for p in PLOTS if any(r["workload"] == p[0] and "median" in r for r in R.rows)]
    cols = 2
    nrow = (len(panels) + 1) // 2
    fig, axes = plt.subplots(nrow, cols, figsize=(13, 3.1 * nrow), squeeze=False)
    for ax, (w, f, t) in zip(axes.flat, panels):
        rows = [r for p, _ in PEERS for r in R.rows
                if r["workload"] == w and r["figure"] == f and r["peer"] == p]
        labels, vals, colors, errs = [], [], [], []
        for r in rows:
            labels.append(LABEL[r["peer"]].split(":")[0].split(" (")[0])
            if "median" in r:
                scale = 1e-6 if r["unit"] == "bytes" else 1
                v = max(r["median"] * scale, 1e-9 if r["unit"] == "s" else 0.01)
                vals.append(v)
                errs.append(None)
            else:
                vals.append(0)
                errs.append(r["why"])
            colors.append("#d62728" if r["peer"] == "brain" else
                          "#7f7f7f" if r["peer"] == "limit" else "#1f77b4")
        y = range(len(rows))
        ax.barh(list(y), vals, color=colors)
        ax.set_yticks(list(y))
        ax.set_yticklabels(labels, fontsize=7)
        ax.invert_yaxis()
        ax.set_xscale("log")
        unit = {"s": "seconds (lower is better)", "bytes": "MB (lower is better)",
                "ops/s": "ops/s (higher is better)"}[rows[0].get("unit") or
                                                      next((r["unit"] for r in rows if "unit" in r), "s")]
        ax.set_title(t, fontsize=9)
        ax.set_xlabel(unit, fontsize=7)
        ax.tick_params(axis="x", labelsize=7)
        pos = [v for v in vals if v > 0]
        lo = min(pos) if pos else 1
        for i, e in enumerate(errs):
            if e is not None:
                ax.text(lo, i, " " + e[:50], va="center", fontsize=6, color="#555")
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


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
    import numpy
    import pandas
    import brain_plasma
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return ("%s, %d cores, %.0f GiB, %s %s, Python %s, numpy %s, pandas %s, brain_plasma %s, "
            "load %.2f" % (cpu, os.cpu_count(), mem, platform.system(), platform.release(),
                           platform.python_version(), numpy.__version__, pandas.__version__,
                           getattr(brain_plasma, "__version__", "?"), os.getloadavg()[0]))


# ---- main -------------------------------------------------------------------------------

def sizes(quick):
    if quick:
        return dict(rows=200_000, dash_rows=20_000, array_bytes=8 << 20, names=10_000,
                    names_file_cap=10_000, names_deadline=0.5, lookup_ops=2_000,
                    repeat=3, budget=0.1, lat_ops=1_000, lat_min_ops=10, lat_repeat=2,
                    lat_batch_s=0.005, mix_s=0.05, mix_repeat=2, workers=2, timeout=120,
                    capacity=512 << 20, start_delay=0.05,
                    ud_buffer=1 << 20, ray_timeout=60)
    return dict(rows=10_000_000, dash_rows=1_000_000, array_bytes=1 << 30, names=1_000_000,
                names_file_cap=250_000, names_deadline=20, lookup_ops=100_000,
                repeat=7, budget=6, lat_ops=20_000, lat_min_ops=50, lat_repeat=5,
                lat_batch_s=0.1,
                mix_s=1.0, mix_repeat=3, workers=4, timeout=600, capacity=3 << 30, start_delay=0.2,
                ud_buffer=8 << 20, ray_timeout=120)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="every workload at small sizes (under a minute on 2 cores); Ray skipped")
    ap.add_argument("--only", help="workloads to run, e.g. 1,4 (default all)")
    ap.add_argument("--peers", help="peers to run, e.g. brain,lmdb,limit (default all): "
                    + ", ".join(p for p, _ in PEERS))
    ap.add_argument("--json", default=os.path.join(HERE, "results.json"), help="results as JSON")
    ap.add_argument("--md", default=os.path.join(HERE, "results.md"), help="the tables as markdown")
    ap.add_argument("--png", default=os.path.join(HERE, "results.png"),
                    help="the plot ('' for none)")
    ap.add_argument("--report", metavar="JSON",
                    help="run nothing: print the tables and write --md, --png (and --json) "
                    "again from the results JSON of an earlier run")
    args = ap.parse_args(argv)
    if args.report:
        with open(args.report) as f:
            out = json.load(f)
        if os.path.abspath(args.json) == os.path.abspath(args.report):
            pass                    # rewritten with the goals recomputed
        return report(out, args)
    only = sorted(int(x) for x in args.only.split(",")) if args.only else sorted(WORKLOADS)
    bad = [w for w in only if w not in WORKLOADS]
    if bad:
        ap.error("--only: no workload %s; they are 1 to 7" % bad)
    args.only_set = set(only)
    chosen = [p for p, _ in PEERS]
    if args.peers:
        chosen = [x.strip() for x in args.peers.split(",") if x.strip()]
        bad = [p for p in chosen if p not in LABEL]
        if bad:
            ap.error("--peers: unknown %s; known: %s" % (bad, ", ".join(LABEL)))
        if "brain" not in chosen:
            chosen.insert(0, "brain")
    S = sizes(args.quick)
    # about the bytes each workload's values take (sizes shared-memory-dict's segment)
    S["wbytes"] = {1: S["rows"] * 22 * 5 // 4 + (1 << 20), 2: S["dash_rows"] * 120 + (1 << 20),
                   3: S["array_bytes"] * 9 // 8 + (1 << 20), 4: 4 << 20,
                   5: S["names"] * 40 + (1 << 20), 6: S["rows"] * 22 * 5 // 4 + (1 << 20),
                   7: 1 << 20}
    need = S["capacity"] * 2 + (512 << 20)
    free = shutil.disk_usage(SHM).free
    if free < need:
        sys.exit("bench/run.py: needs about %d MB free in %s, has %d MB"
                 % (need >> 20, SHM, free >> 20))

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)
    R = Results()
    notes = {}
    t_start = time.perf_counter()
    tq = None
    try:
        os.makedirs(RUNDIR)
        _cleanup.append(lambda: shutil.rmtree(RUNDIR, ignore_errors=True))
        store = "%s/brain-bench-run-%d" % (SHM, PID)
        _cleanup.append(lambda: os.path.exists(store) and os.unlink(store))

        def unlink_segments():
            for n in os.listdir(SHM):
                if n.startswith(("bpk%d_" % PID, "bud%d" % PID, "sm_bsm%d" % PID)):
                    try:
                        os.unlink(os.path.join(SHM, n))
                    except OSError:
                        pass
        _cleanup.append(unlink_segments)
        base = {"id": PID, "store": store, "capacity": S["capacity"], "ud_buffer": S["ud_buffer"]}
        unavailable = {}
        for p, _ in PEERS:
            if p not in chosen:
                unavailable[p] = "not selected (--peers)"
        if "ray" in chosen and args.quick and not args.peers:
            unavailable["ray"] = "skipped in --quick (starting Ray takes 10-60 s); run make bench"
        # servers, each started just before its peer and stopped right after
        starters = {
            "redis": lambda: start_redis(S["capacity"]),
            "plasma": lambda: start_plasma(S["capacity"] + (256 << 20)),
            "ray": lambda: start_ray(S["capacity"], S["ray_timeout"]),
        }
        run = [p for p, _ in PEERS if p not in unavailable]
        steps = len(run) * len(only)
        if sys.stderr.isatty():
            try:
                from tqdm import tqdm
                tq = tqdm(total=steps, unit="step", file=sys.stderr)
            except ImportError:
                tq = None
        bench = Bench(args, S, R)
        for p, _ in PEERS:
            if p in unavailable:
                for w in only:
                    for f in FIG[w]:
                        R.miss(w, f, p, unavailable[p])
                continue
            if tq is not None:
                tq.set_description(p)
            else:
                log("%s ..." % LABEL[p])
            mark = len(_cleanup)
            cfg = dict(base, dir=os.path.join(RUNDIR, p))
            if p in starters:
                log("starting the server of %s ..." % LABEL[p])
                extra, notes[p] = starters[p]()
                if extra is None:
                    for w in only:
                        for f in FIG[w]:
                            R.miss(w, f, p, notes[p])
                    if tq is not None:
                        tq.update(len(only))
                    continue
                cfg.update(extra)
            os.makedirs(cfg["dir"], exist_ok=True)

            def progress(w):
                if tq is not None:
                    tq.update(1)
            try:
                bench.run_peer(p, cfg, only, progress)
            except WorkerError as exc:
                have = {(r["workload"], r["figure"]) for r in R.rows if r["peer"] == p}
                for w in only:
                    for f in FIG[w]:
                        if (w, f) not in have:
                            R.miss(w, f, p, "cannot start: %s" % str(exc)[:200])
            shutil.rmtree(cfg["dir"], ignore_errors=True)
            if p == "brain" and os.path.exists(store):
                os.unlink(store)
            unlink_segments()
            while len(_cleanup) > mark:         # this peer's servers and workers
                fn = _cleanup.pop()
                try:
                    fn()
                except Exception as exc:
                    log("cleanup: %s: %s" % (type(exc).__name__, exc))
    finally:
        if tq is not None:
            tq.close()
        cleanup()
    seconds = time.perf_counter() - t_start
    out = {"machine": machine_line(), "quick": args.quick, "pid": PID, "sizes": S,
           "seconds": seconds, "workloads": {str(w): WORKLOADS[w] for w in only},
           "peers": {p: LABEL[p] for p, _ in PEERS}, "peer_notes": notes, "rows": R.rows}
    return report(out, args)


def report(out, args):
    """Prints the tables and writes the JSON, markdown and plot of OUT."""
    R = Results()
    R.rows = out["rows"]
    S = out["sizes"]
    only = sorted(int(w) for w in out["workloads"])
    order = [p for p, _ in PEERS]
    machine = out["machine"]
    G = out["goals"] = goals(R, S, out["quick"])
    parts = ["Machine: " + machine, "",
             "Sizes: frame %d rows (%.0f MB), Dash frame %d rows, ndarray %d MB, %d names; "
             "median of up to %d repeats. %s" % (
                 S["rows"], S["rows"] * 22 / 1e6, S["dash_rows"], S["array_bytes"] >> 20,
                 S["names"], S["repeat"],
                 "--quick: small sizes, a smoke run; the goals are stated for the full sizes."
                 if out["quick"] else ""),
             "", "Peers: " + "; ".join("%s: %s" % (LABEL[k], v)
                                       for k, v in out["peer_notes"].items()), ""]
    parts += ["### Summary (medians; the tables below have min, max, ratios and notes)", "",
              summary_table(R, order), ""]
    for w in only:
        parts += [workload_table(R, w, order), ""]
    parts += [goals_table(G), "", "(run took %.0f s)" % out["seconds"]]
    text = "\n".join(parts)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    if args.md:
        with open(args.md, "w") as f:
            f.write(text + "\n")
    if args.png:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            log("no plot: matplotlib is not installed (pip install -r requirements-bench.txt)")
            args.png = None
    if args.png:
        plot(R, args.png, "brain-plasma and its peers%s — %s" % (
            " (--quick)" if out["quick"] else "", machine))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The seven workloads of bench/run.py, run against one peer at a time in
its worker processes (bench/worker.py), and the sizes they run at."""
import sys
import time

from peers import PLASMA_PY, TABLE_ONLY, Worker, WorkerError
from results import FIG, fmt, pct, summ


def sizes(quick):
    """The sizes, repeats and time limits of a run; wbytes: about the bytes
    each workload's values take (sizes shared-memory-dict's segment)."""
    S = _sizes(quick)
    S["wbytes"] = {1: S["rows"] * 22 * 5 // 4 + (1 << 20), 2: S["dash_rows"] * 120 + (1 << 20),
                   3: S["array_bytes"] * 9 // 8 + (1 << 20), 4: 4 << 20,
                   5: S["names"] * 40 + (1 << 20), 6: S["rows"] * 22 * 5 // 4 + (1 << 20),
                   7: 1 << 20}
    return S


def _sizes(quick):
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

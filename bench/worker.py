#!/usr/bin/env python3
"""One process of bench/run.py: holds one peer open and runs the operations
the harness sends it, one JSON object a line on stdin, one answer a line.

    python bench/worker.py        (started by bench/run.py, never by hand)

The harness starts several of these per peer (the store, the recall in
another process, the workers of workloads 4, 6 and 7); the peer
brain-plasma 0.3.3 runs under .venv-plasma/bin/python, so this file imports
only the standard library at the top and each peer's package when it opens.
Times are measured here, around the operation alone, with perf_counter.
"""
import gc
import json
import os
import pickle
import random
import sys
import time

# answers go to the real stdout; anything a library prints goes to stderr
_OUT = os.fdopen(os.dup(1), "w", buffering=1)
os.dup2(2, 1)
sys.stdout = sys.stderr


# ---- the data of the workloads (the same in every process: seeded) -----------

def make_frame(rows):
    """Workload 1 and 6: 10M rows, 4 numeric columns (220 MB)."""
    import numpy as np
    import pandas as pd
    rng = np.random.default_rng(42)
    return pd.DataFrame({
        "id": np.arange(rows, dtype=np.int64),
        "price": rng.random(rows),
        "score": rng.random(rows, dtype=np.float32),
        "count": rng.integers(0, 30000, rows, dtype=np.int16),
    })


CITIES = ["city-%02d" % i for i in range(50)]


def make_dash_frame(rows, seed=0):
    """Workload 2: a frame as Dash apps hold it; the same frame as
    bench_frames.make_frame (tests/python/test_bench_run.py checks it)."""
    import numpy as np
    import pandas as pd
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


def make_array(nbytes):
    import numpy as np
    a = np.empty(nbytes // 8, dtype=np.float64)
    a[:] = 1.5                      # touched: no page faults in the timings
    a[::4096] = np.arange(len(a[::4096]))
    return a


SMALL = {
    "int": lambda: 42,
    "str": lambda: "x" * 100,
    "dict": lambda: {"k%03d" % i: "v" * 90 for i in range(100)},   # ~10 KB pickled
}


def make(kind, n):
    if kind == "frame":
        return make_frame(n)
    if kind == "dash":
        return make_dash_frame(n)
    if kind == "array":
        return make_array(n)
    return SMALL[kind]()


def touch(obj):
    """Reads every byte of a frame's or an array's columns; returns a sum."""
    import numpy as np
    if isinstance(obj, np.ndarray):
        return float(obj.sum())
    t = 0.0
    for c in obj.columns:
        a = obj[c].to_numpy()
        if a.dtype.kind in "iuf":
            t += float(a.sum())
    return t


def same(a, b):
    import numpy as np
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    if hasattr(a, "equals"):
        return (type(a) is type(b) and list(a.dtypes) == list(b.dtypes)
                and a.equals(b))
    return a == b


# ---- the peers -----------------------------------------------------------------
# Each: open(cfg, create), put(name, obj), get(name), delete(name), names(),
# clear(), close().  SAME_PROCESS: the value lives in the process that put it
# (the limits), so the harness recalls it there.

class Peer:
    SAME_PROCESS = False

    def prepare(self, nbytes):
        """A workload whose values take about NBYTES in all begins."""
    # get() of a big value: open a fresh handle (UltraDict caches a copy)
    def get_big(self, name):
        return self.get(name)

    def close(self):
        pass


class BrainPeer(Peer):
    def open(self, cfg, create):
        from brain_plasma import Brain
        self.b = Brain(cfg["store"], size=cfg["capacity"], start_process=create)

    def put(self, name, obj):
        self.b.learn(obj, name)

    def get(self, name):
        return self.b.recall(name)

    def delete(self, name):
        self.b.forget(name)

    def names(self):
        return self.b.names()

    def clear(self):
        self.b.clear()


class PlasmaPeer(Peer):
    """brain-plasma 0.3.3 over pyarrow 11's Plasma (.venv-plasma)."""
    def open(self, cfg, create):
        import warnings
        warnings.simplefilter("ignore")
        from brain_plasma import Brain
        self.b = Brain(path=cfg["plasma_socket"])

    def put(self, name, obj):
        self.b.learn(name, obj)

    def get(self, name):
        return self.b.recall(name)

    def delete(self, name):
        self.b.forget(name)

    def names(self):
        return self.b.names()

    def clear(self):
        for n in self.b.names():
            self.b.forget(n)


class PickleFilePeer(Peer):
    def open(self, cfg, create):
        self.dir = os.path.join(cfg["dir"], "pickle")
        os.makedirs(self.dir, exist_ok=True)

    def put(self, name, obj):
        p = os.path.join(self.dir, name)
        tmp = "%s.%d.tmp" % (p, os.getpid())
        with open(tmp, "wb") as f:
            pickle.dump(obj, f, protocol=5)
        os.replace(tmp, p)

    def get(self, name):
        with open(os.path.join(self.dir, name), "rb") as f:
            return pickle.load(f)

    def delete(self, name):
        os.unlink(os.path.join(self.dir, name))

    def names(self):
        return [n for n in os.listdir(self.dir) if not n.endswith(".tmp")]

    def clear(self):
        for n in os.listdir(self.dir):
            os.unlink(os.path.join(self.dir, n))


class ShmPeer(Peer):
    """multiprocessing.shared_memory: one segment per name holding a
    protocol-5 pickle with its out-of-band buffers; recall is zero-copy
    (pickle.loads over views of the segment)."""
    def open(self, cfg, create):
        from multiprocessing import shared_memory, resource_tracker
        self.sm = shared_memory
        self.rt = resource_tracker
        self.prefix = "bpk%d_" % cfg["id"]
        self.held = []

    def _untrack(self, shm):
        try:                       # Python < 3.13 tracks attached segments too
            self.rt.unregister(shm._name, "shared_memory")
        except Exception:
            pass

    def put(self, name, obj):
        bufs = []
        stream = pickle.dumps(obj, protocol=5, buffer_callback=bufs.append)
        raws = [b.raw() for b in bufs]
        head = pickle.dumps((len(stream), [len(r) for r in raws]))
        off = 8 + len(head)
        offs = []
        pos = (off + len(stream) + 63) & ~63
        for r in raws:
            offs.append(pos)
            pos = (pos + len(r) + 63) & ~63
        seg = self.prefix + name
        tmp = "%s.%d.tmp" % (seg, os.getpid())
        shm = self.sm.SharedMemory(name=tmp, create=True, size=max(pos, 1))
        self._untrack(shm)
        m = shm.buf
        m[0:8] = len(head).to_bytes(8, "little")
        m[8:off] = head
        m[off:off + len(stream)] = stream
        for o, r in zip(offs, raws):
            m[o:o + len(r)] = r
        del m
        # filled, then renamed into place: a reader sees the old or the new
        os.rename("/dev/shm/" + tmp, "/dev/shm/" + seg)
        shm.close()

    def get(self, name):
        shm = self.sm.SharedMemory(name=self.prefix + name)
        self._untrack(shm)
        m = shm.buf
        hl = int.from_bytes(m[0:8], "little")
        slen, lens = pickle.loads(m[8:8 + hl])
        off = 8 + hl
        pos = (off + slen + 63) & ~63
        views = []
        for n in lens:
            views.append(m[pos:pos + n])
            pos = (pos + n + 63) & ~63
        obj = pickle.loads(m[off:off + slen], buffers=views)
        if views:
            self.held.append(shm)        # the object's arrays live in it
        else:
            del m
            shm.close()
        return obj

    def delete(self, name):
        s = self.sm.SharedMemory(name=self.prefix + name)
        self._untrack(s)
        s.unlink()
        s.close()

    def names(self):
        p = self.prefix
        return [n[len(p):] for n in os.listdir("/dev/shm")
                if n.startswith(p) and not n.endswith(".tmp")]

    def clear(self):
        for n in self.names():
            try:
                os.unlink("/dev/shm/" + self.prefix + n)
            except FileNotFoundError:
                pass


class RedisPeer(Peer):
    def open(self, cfg, create):
        import redis
        self.r = redis.Redis(host="127.0.0.1", port=cfg["redis_port"])

    def put(self, name, obj):
        self.r.set(name, pickle.dumps(obj, protocol=5))

    def get(self, name):
        return pickle.loads(self.r.get(name))

    def delete(self, name):
        self.r.delete(name)

    def names(self):
        return [k.decode() for k in self.r.scan_iter(count=10000)]

    def clear(self):
        self.r.flushdb()


class LmdbPeer(Peer):
    def open(self, cfg, create):
        import lmdb
        # sparse: pages count when used; a replaced 1 GiB value needs two copies
        self.env = lmdb.open(os.path.join(cfg["dir"], "lmdb"), map_size=3 * cfg["capacity"],
                             max_dbs=0, sync=False, metasync=False, readahead=False)

    def put(self, name, obj):
        with self.env.begin(write=True) as txn:
            txn.put(name.encode(), pickle.dumps(obj, protocol=5))

    def get(self, name):
        with self.env.begin() as txn:
            return pickle.loads(txn.get(name.encode()))

    def delete(self, name):
        with self.env.begin(write=True) as txn:
            txn.delete(name.encode())

    def names(self):
        with self.env.begin() as txn:
            return [k.decode() for k in txn.cursor().iternext(values=False)]

    def clear(self):
        with self.env.begin(write=True) as txn:
            txn.drop(self.env.open_db(), delete=False)

    def close(self):
        self.env.close()


class DiskcachePeer(Peer):
    def open(self, cfg, create):
        import diskcache
        self.c = diskcache.Cache(os.path.join(cfg["dir"], "diskcache"),
                                 size_limit=1 << 40, eviction_policy="none")

    def put(self, name, obj):
        self.c.set(name, obj)

    def get(self, name):
        v = self.c.get(name, default=KeyError)
        if v is KeyError:
            raise KeyError(name)
        return v

    def delete(self, name):
        del self.c[name]

    def names(self):
        return list(self.c.iterkeys())

    def clear(self):
        self.c.clear()

    def close(self):
        self.c.close()


class RayPeer(Peer):
    """Ray's object store: ray.put, and a named detached actor that maps
    names to object refs (Ray has no names of its own for objects).  The
    object is owned by the process that put it (Ray >= 2.56 has no _owner)."""
    def open(self, cfg, create):
        import logging
        import ray
        self.ray = ray
        ray.init(address=cfg["ray_address"], namespace="bench", log_to_driver=False,
                 logging_level=logging.ERROR)

        @ray.remote(num_cpus=0)
        class Names:
            def __init__(self):
                self.d = {}

            def set(self, name, refs):
                self.d[name] = refs[0]

            def get(self, name):
                return [self.d[name]]

            def delete(self, name):
                del self.d[name]

            def names(self):
                return list(self.d)

            def clear(self):
                self.d.clear()
        self.actor = Names.options(name="names", get_if_exists=True,
                                   lifetime="detached").remote()

    def put(self, name, obj):
        ref = self.ray.put(obj)          # owned by this process, which lives on
        self.ray.get(self.actor.set.remote(name, [ref]))

    def get(self, name):
        return self.ray.get(self.ray.get(self.actor.get.remote(name))[0])

    def delete(self, name):
        self.ray.get(self.actor.delete.remote(name))

    def names(self):
        return self.ray.get(self.actor.names.remote())

    def clear(self):
        self.ray.get(self.actor.clear.remote())


class UltraDictPeer(Peer):
    """UltraDict: each process keeps an unpickled copy and replays the
    stream of changes; get_big attaches a fresh handle (a process that has
    not read the value yet), get reads the kept copy."""
    def open(self, cfg, create):
        from UltraDict import UltraDict
        self.U = UltraDict
        self.cfg = cfg
        self.name = "bud%d" % cfg["id"]
        try:
            import atomics  # noqa: F401  (UltraDict's lock between processes)
            self.lock = True
        except ImportError:
            self.lock = False
        self.d = UltraDict(name=self.name, create=None, buffer_size=cfg["ud_buffer"],
                           full_dump_size=cfg["capacity"], shared_lock=self.lock,
                           auto_unlink=False)

    def put(self, name, obj):
        self.d[name] = obj

    def get(self, name):
        return self.d[name]

    def get_big(self, name):
        d = self.U(name=self.name, create=False, shared_lock=self.lock, auto_unlink=False)
        v = d[name]
        return v

    def delete(self, name):
        del self.d[name]

    def names(self):
        return list(self.d.keys())

    def clear(self):
        self.d.clear()

    def close(self):
        try:
            self.d.close()
        except Exception:
            pass


class SMDictPeer(Peer):
    """shared-memory-dict: the whole dict is pickled into one segment on
    every set and unpickled on every get."""
    def open(self, cfg, create):
        from shared_memory_dict import SharedMemoryDict
        self.S = SharedMemoryDict
        self.base = "bsm%d" % cfg["id"]
        self.d = None

    def prepare(self, nbytes):
        # every get copies the whole segment: it is sized for the workload
        self.d = self.S(name="%s_%d" % (self.base, nbytes), size=nbytes)

    def put(self, name, obj):
        self.d[name] = obj

    def get(self, name):
        return self.d[name]

    def delete(self, name):
        del self.d[name]

    def names(self):
        return list(self.d.keys())

    def clear(self):
        self.d.clear()


class TableFilePeer(Peer):
    """Parquet or Feather files in /dev/shm (frames; an array as a
    one-column table)."""
    FMT = "parquet"

    def open(self, cfg, create):
        self.dir = os.path.join(cfg["dir"], self.FMT)
        os.makedirs(self.dir, exist_ok=True)

    def put(self, name, obj):
        import numpy as np
        import pyarrow as pa
        p = os.path.join(self.dir, name)
        tmp = "%s.%d.tmp" % (p, os.getpid())
        if isinstance(obj, np.ndarray):
            obj = pa.table({"a": obj})
            if self.FMT == "parquet":
                import pyarrow.parquet as pq
                pq.write_table(obj, tmp)
            else:
                import pyarrow.feather as pf
                pf.write_feather(obj, tmp)
            os.replace(tmp, p + ".np")
            return
        if self.FMT == "parquet":
            obj.to_parquet(tmp)
        else:
            obj.to_feather(tmp)
        os.replace(tmp, p)

    def get(self, name):
        import pandas as pd
        p = os.path.join(self.dir, name)
        if os.path.exists(p + ".np"):
            if self.FMT == "parquet":
                import pyarrow.parquet as pq
                t = pq.read_table(p + ".np")
            else:
                import pyarrow.feather as pf
                t = pf.read_table(p + ".np", memory_map=True)
            return t.column(0).to_numpy()
        if self.FMT == "parquet":
            return pd.read_parquet(p)
        return pd.read_feather(p)

    def delete(self, name):
        os.unlink(os.path.join(self.dir, name))

    def names(self):
        return os.listdir(self.dir)

    def clear(self):
        for n in os.listdir(self.dir):
            os.unlink(os.path.join(self.dir, n))


class FeatherPeer(TableFilePeer):
    FMT = "feather"


class LimitPeer(Peer):
    """The physical limits, in one process: put copies the value's bytes
    into memory already touched (memcpy; a small value is pickled into a
    dict); get is bare pickle.loads over views of those bytes."""
    SAME_PROCESS = True

    def open(self, cfg, create):
        self.d = {}
        self.src = {}

    def put(self, name, obj):
        src = self.src.get(name)
        if src is not None and src[0] is obj:
            # the same object again: memcpy of its bytes into the touched
            # copy (np.copyto of uint8 views), no pickling
            import numpy as np
            for h, r in zip(self.d[name][1], src[1]):
                np.copyto(np.frombuffer(h, dtype=np.uint8), np.frombuffer(r, dtype=np.uint8))
            return
        bufs = []
        stream = pickle.dumps(obj, protocol=5, buffer_callback=bufs.append)
        raws = [b.raw() for b in bufs]
        self.d[name] = (stream, [bytearray(r) for r in raws])
        self.src[name] = (obj, raws) if raws else None

    def get(self, name):
        stream, held = self.d[name]
        if held:
            return pickle.loads(stream, buffers=[memoryview(h) for h in held])
        return pickle.loads(stream)

    def delete(self, name):
        del self.d[name]
        self.src.pop(name, None)

    def names(self):
        return list(self.d)

    def clear(self):
        self.d.clear()
        self.src.clear()


PEERS = {
    "brain": BrainPeer, "plasma": PlasmaPeer, "pickle": PickleFilePeer,
    "shm": ShmPeer, "redis": RedisPeer, "lmdb": LmdbPeer,
    "diskcache": DiskcachePeer, "ray": RayPeer, "ultradict": UltraDictPeer,
    "smdict": SMDictPeer, "parquet": TableFilePeer, "feather": FeatherPeer,
    "limit": LimitPeer,
}


# ---- the operations ---------------------------------------------------------------

def summary(xs):
    xs = sorted(xs)
    return {"median": xs[len(xs) // 2] if len(xs) % 2 else (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2,
            "min": xs[0], "max": xs[-1], "samples": xs}


def wait_until(t):
    d = t - time.time()
    if d > 0:
        time.sleep(d)


class Worker:
    def __init__(self):
        self.peer = None
        self.data = {}
        self.keep = None

    def op_open(self, m):
        self.peer = PEERS[m["peer"]]()
        self.peer.open(m["cfg"], m.get("create", False))
        return {}

    def op_prepare(self, m):
        self.peer.prepare(m["nbytes"])
        return {}

    def op_data(self, m):
        self.data = {}
        gc.collect()
        if m.get("kind"):
            self.data[m["kind"]] = make(m["kind"], m.get("n", 0))
        return {}

    def _repeat(self, fn, repeat, budget, before=None):
        out = []
        t_end = time.perf_counter() + budget
        for i in range(repeat):
            if before is not None:
                before()
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
            if i >= 1 and time.perf_counter() > t_end:
                break
        return out

    def op_store(self, m):
        obj = self.data[m["kind"]]
        name = m["name"]
        self.peer.put(name, obj)                      # warm-up: the name exists
        s = self._repeat(lambda: self.peer.put(name, obj), m["repeat"], m["budget"])
        return {"store": summary(s)}

    def op_recall(self, m):
        name, then = m["name"], m.get("then")
        get = self.peer.get_big
        res = {}
        gc.collect()
        t0 = time.perf_counter()
        x = get(name)
        res["first"] = time.perf_counter() - t0
        if m.get("check"):
            res["same"] = same(self.data[m["check"]], x)
        del x
        holder = []

        def once():
            holder.append(get(name))

        def drop():
            holder.clear()
        gc.disable()
        try:
            res["recall"] = summary(self._repeat(once, m["repeat"], m["budget"], drop))
            drop()
            if then == "sum":
                def with_sum():
                    holder.append(get(name).sum())
                res["recall_sum"] = summary(self._repeat(with_sum, m["repeat"],
                                                         m["budget"], drop))
                drop()
        finally:
            gc.enable()
        return res

    def op_latency(self, m):
        """p50 and p99 of single get or set operations, in ns, per batch."""
        names = m["names"]
        kind = m["kind"]
        value = SMALL[kind]()
        for n in names:
            if m.get("fill"):
                self.peer.put(n, value)
        ns = time.perf_counter_ns
        rng = random.Random(m.get("seed", 0))
        get, put = self.peer.get, self.peer.put
        wait_until(m.get("start_at", 0))
        batches = []
        t_end = time.perf_counter() + m["budget"]
        gc.disable()
        try:
            for _ in range(m["repeat"]):
                lat = []
                b_end = time.perf_counter() + m["batch_s"]
                for i in range(m["ops"]):
                    n = names[rng.randrange(len(names))]
                    if m["which"] == "get":
                        t0 = ns()
                        get(n)
                        lat.append(ns() - t0)
                    else:
                        t0 = ns()
                        put(n, value)
                        lat.append(ns() - t0)
                    if i >= m["min_ops"] and (i & 7) == 0 and time.perf_counter() > b_end:
                        break
                batches.append(lat)
                if len(batches) >= 2 and time.perf_counter() > t_end:
                    break
        finally:
            gc.enable()
        return {"batches": batches}

    def op_names_insert(self, m):
        n, deadline = m["n"], m["deadline"]
        put = self.peer.put
        t0 = time.perf_counter()
        t_end = t0 + deadline
        done = 0
        gc.disable()
        try:
            for i in range(n):
                put("n-%07d" % i, i)
                done = i + 1
                if (i & 255) == 0 and time.perf_counter() > t_end:
                    break
        finally:
            gc.enable()
        return {"done": done, "seconds": time.perf_counter() - t0}

    def op_names_lookup(self, m):
        count, ops = m["count"], m["ops"]
        rng = random.Random(1)
        keys = ["n-%07d" % rng.randrange(count) for _ in range(ops)]
        get = self.peer.get
        for k in keys[:10]:
            assert get(k) == int(k[2:])
        out = []
        t_end = time.perf_counter() + m["budget"]
        per = max(m["budget"] / m["repeat"], 0.005)
        for _ in range(m["repeat"]):
            t0 = time.perf_counter()
            r_end = t0 + per
            done = 0
            for i in range(0, len(keys), 16):
                for k in keys[i:i + 16]:
                    get(k)
                done += len(keys[i:i + 16])
                if time.perf_counter() > r_end:
                    break
            out.append((time.perf_counter() - t0) / done)
            if len(out) >= 2 and time.perf_counter() > t_end:
                break
        return {"lookup": summary(out)}

    def op_names_list(self, m):
        out = []
        got = None
        t_end = time.perf_counter() + m["budget"]
        for _ in range(m["repeat"]):
            t0 = time.perf_counter()
            got = self.peer.names()
            out.append(time.perf_counter() - t0)
            if time.perf_counter() > t_end:
                break
        return {"list": summary(out), "count": len(got)}

    def op_memory(self, m):
        """Recall and touch every column; USS and PSS added (psutil)."""
        import psutil
        import numpy  # noqa: F401  (imported before the baseline: their code
        import pandas  # noqa: F401  is not the value's memory)
        me = psutil.Process()
        gc.collect()
        m0 = me.memory_full_info()
        self.keep = self.peer.get_big(m["name"])
        touch(self.keep)
        m1 = me.memory_full_info()
        return {"uss": m1.uss - m0.uss, "pss": m1.pss - m0.pss, "base": [m0.uss, m0.pss]}

    def op_release(self, m):
        self.keep = None
        gc.collect()
        return {}

    def op_memory_again(self, m):
        import psutil
        m1 = psutil.Process().memory_full_info()
        return {"uss": m1.uss - m["base"][0], "pss": m1.pss - m["base"][1]}

    def op_mix(self, m):
        """Random gets (and a WRITE share of sets) over NAMES small values
        for SECONDS: operations done."""
        names = m["names"]
        value = SMALL[m["kind"]]()
        rng = random.Random(m["seed"])
        get, put = self.peer.get, self.peer.put
        w = m["write"]
        out = []
        wait_until(m["start_at"])
        for _ in range(m["repeat"]):
            t0 = time.perf_counter()
            t_end = t0 + m["seconds"]
            ops = 0
            while True:
                for _ in range(64):
                    n = names[rng.randrange(len(names))]
                    if rng.random() < w:
                        put(n, value)
                    else:
                        get(n)
                ops += 64
                if time.perf_counter() > t_end:
                    break
            out.append([ops, time.perf_counter() - t0])
        return {"runs": out}

    def op_fill(self, m):
        value = SMALL[m["kind"]]()
        for n in m["names"]:
            self.peer.put(n, value)
        return {}

    def op_clear(self, m):
        self.keep = None
        self.peer.clear()
        if isinstance(self.peer, ShmPeer):
            for s in self.peer.held:
                try:
                    s.close()
                except BufferError:
                    pass
        gc.collect()
        return {}

    def op_close(self, m):
        if self.peer is not None:
            self.peer.close()
        return {}


def main():
    w = Worker()
    for line in sys.stdin:
        m = json.loads(line)
        try:
            res = getattr(w, "op_" + m["op"])(m)
            res["ok"] = True
        except Exception as exc:
            res = {"ok": False, "error": "%s: %s" % (type(exc).__name__, exc)}
        _OUT.write(json.dumps(res) + "\n")
        if m["op"] == "close":
            break
    _OUT.flush()
    os._exit(0)     # no destructors: shm handles with live views, ray, ...


if __name__ == "__main__":
    main()

"""The Brain API on Redis (python/brain_plasma/redis_brain.py), against real
redis-server processes (conftest.py)."""
import os
import random
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pandas as pd
import pytest

from brain_plasma import (
    Brain,
    BrainConnectionError,
    BrainError,
    BrainNameNotExistError,
    BrainNameTypeError,
    BrainNamespaceNotExistError,
    BrainNamespaceRemoveDefaultError,
    BrainSerializationError,
    BrainSnapshotError,
    BrainStoreFullError,
    BrainTimeoutError,
    BrainValueError,
    BrainVersionConflictError,
    _core,
)
from brain_plasma.redis_brain import RedisBrain

WORKER = os.path.join(os.path.dirname(__file__), "worker.py")


def spawn(*args):
    return subprocess.Popen([sys.executable, WORKER] + [str(a) for a in args],
                            stdout=subprocess.PIPE, text=True)


# ---- the API -------------------------------------------------------------


def test_url_dispatch_and_basic_api(brain):
    assert isinstance(brain, RedisBrain) and isinstance(brain, Brain)
    brain.learn({"a": 1}, "d", description="a dict")
    brain["s"] = "text"
    brain["b"] = b"\x00bytes"
    assert brain.recall("d") == {"a": 1}
    assert brain["s"] == "text" and brain["b"] == b"\x00bytes"
    assert brain.names() == ["b", "d", "s"] == list(brain) == list(brain.keys())
    assert list(brain.values()) == [b"\x00bytes", {"a": 1}, "text"]  # views, as a Brain's
    assert dict(brain.items()) == {"b": b"\x00bytes", "d": {"a": 1}, "s": "text"}
    assert len(brain) == 3 and "d" in brain and "zz" not in brain and 5 not in brain
    info = brain.info("d")
    assert info["description"] == "a dict" and info["type_name"] == "pickle"
    assert info["version"] == brain.version("d") > 0
    assert len(info["object_id"]) == 20 and info["expires"] is None
    assert brain.metadata("d", "s", output="list")[1]["name"] == "s"
    assert set(brain.metadata()) == {"b", "d", "s"}
    assert brain.object_id("d").binary() == info["object_id"]
    brain.learn({"a": 2}, "d")
    assert brain.object_id("d").binary() != info["object_id"]
    assert brain.info("d")["created"] == info["created"]
    brain.forget("d")
    with pytest.raises(BrainNameNotExistError, match="'d' does not exist in namespace 'default'"):
        brain.recall("d")
    with pytest.raises(KeyError):
        brain["d"]
    assert brain.get("d", 7) == 7 and brain.version("d") == 0
    assert brain.pop("s") == "text" and "s" not in brain
    assert brain.setdefault("sd", [1]) == [1] and brain.setdefault("sd", [2]) == [1]
    brain.update(u1=1, u2=2)
    assert brain.recall_many(["u1", "u2"]) == {"u1": 1, "u2": 2}
    assert brain.clear() == 4 and brain.names() == []


def test_values_round_trip_like_the_local_brain(brain):
    df = pd.DataFrame({"x": np.arange(50_000), "s": ["v%d" % (i % 97) for i in range(50_000)],
                       "t": pd.date_range("2024", periods=50_000, freq="s")})
    arr = np.arange(100_000, dtype=np.float32).reshape(1000, 100)
    values = {"df": df, "arr": arr, "small": np.arange(3), "none": None,
              "tuple": (1, "a"), "empty": b"", "estr": "", "big": b"x" * 300_000}
    brain.learn_many(values)
    got = brain.recall_many(list(values))
    pd.testing.assert_frame_equal(got["df"], df)
    np.testing.assert_array_equal(got["arr"], arr)
    assert got["arr"].dtype == np.float32 and not got["arr"].flags.writeable
    for k in ("none", "tuple", "empty", "estr", "big"):
        assert got[k] == values[k]
    w = brain.recall("arr", copy=True)
    w[0, 0] = 5  # a private copy
    assert brain.recall("arr")[0, 0] == 0
    # the same layouts as the local store: a chunked value is the bytes the
    # local store keeps
    assert brain.info("df")["type"] == _core.TYPE_PICKLE
    assert brain.info("arr")["type"] == _core.TYPE_ARRAY


def test_namespaces(brain):
    brain["x"] = 1
    brain.set_namespace("two")
    brain["x"] = 2
    brain["y"] = 3
    assert brain.names() == ["x", "y"]
    assert brain.names("default") == ["x"]
    assert brain.names("all") == ["x", "x", "y"]
    assert brain.namespaces() == ["default", "two"]
    brain.set_namespace("default")
    assert brain["x"] == 1
    # characters that would break the key layout stay apart
    brain.set_namespace("a}:m:b")
    brain["c"] = "odd"
    brain.set_namespace("a")
    brain["b}:m:c"] = "other"
    brain.set_namespace("a}:m:b")
    assert brain["c"] == "odd"
    with pytest.raises(BrainNamespaceNotExistError, match="does not exist"):
        brain.remove_namespace("nope")
    with pytest.raises(BrainNamespaceRemoveDefaultError):
        brain.remove_namespace("default")
    assert brain.remove_namespace("two") == 2
    assert brain.remove_namespace() == 1 and brain.namespace == "default"
    assert "two" not in brain.namespaces()


def test_bad_input_is_refused_with_what_to_do(brain, server):
    brain["keep"] = 1
    with pytest.raises(BrainNameTypeError, match="names are str"):
        brain.learn(1, 5)
    with pytest.raises(BrainValueError, match="ttl is a positive number"):
        brain.learn(1, "x", ttl=-1)
    with pytest.raises(BrainValueError, match="if_version is a version"):
        brain.learn(1, "x", if_version="3")
    with pytest.raises(BrainValueError, match="description is a str"):
        brain.learn(1, "x", description=5)
    with pytest.raises(BrainValueError, match="at most 4096 bytes"):
        brain.learn(1, "x", description="d" * 4097)
    with pytest.raises(BrainValueError, match="with a NUL"):
        brain.learn(1, "x", description="a\x00b")
    with pytest.raises(BrainValueError, match="lone surrogate"):
        brain.learn(1, "x", description="a\udc80")
    with pytest.raises(BrainSerializationError, match="cannot be pickled"):
        brain.learn(lambda: 1, "x")
    with pytest.raises(BrainValueError, match="capacity is Redis's maxmemory"):
        brain.resize("1GB")
    with pytest.raises(BrainValueError, match="the database is a number"):
        Brain("redis://127.0.0.1:%d/zero" % server.port)
    with pytest.raises(BrainValueError, match="a Redis URL is"):
        Brain("redis://")
    with pytest.raises(BrainValueError, match="chunk_size is at most 512MB"):
        Brain(server.url + "?chunk_size=1GiB")
    with pytest.raises(BrainValueError, match="cache_size"):
        Brain(server.url + "?cache_size=lots")
    with pytest.raises(BrainValueError, match="serializer is"):
        Brain(server.url, serializer="json")
    assert brain.names() == ["keep"] and brain["keep"] == 1


def test_safe_serializer_never_unpickles(brain, server, hosts):
    brain["p"] = {"a": 1}
    brain["big"] = {"a": np.arange(100_000)}  # chunked
    safe = Brain(hosts.url(server, "safe", inline_max=4096), serializer="safe")
    safe["j"] = {"a": [1, 2]}
    assert safe["j"] == {"a": [1, 2]}
    for name in ("p", "big"):
        with pytest.raises(BrainSerializationError, match="refusing to unpickle"):
            safe.recall(name)


# ---- versions, expiry, waiting --------------------------------------------


def test_compare_and_set(brain):
    v1 = brain.learn(1, "c", if_version=0)
    with pytest.raises(BrainVersionConflictError, match="its version is %d, not 0" % v1):
        brain.learn(2, "c", if_version=0)
    v2 = brain.learn(2, "c", if_version=v1)
    assert v2 > v1 and brain["c"] == 2
    with pytest.raises(BrainVersionConflictError):
        brain.learn(3, "c", if_version=v1)
    # a large value that loses leaves no chunk behind
    with pytest.raises(BrainVersionConflictError):
        brain.learn(np.zeros(100_000), "c", if_version=v1)
    assert brain["c"] == 2
    keys = brain.client.keys(brain.prefix + "{default}:d:*")
    assert keys == []


def test_ttl(brain):
    brain.learn(1, "t", ttl=0.3)
    brain.learn(np.arange(100_000), "tbig", ttl=0.3)
    exp = brain.info("t")["expires"]
    assert exp is not None and 0 < exp - time.time() <= 0.31
    assert brain["t"] == 1 and brain["tbig"][5] == 5
    time.sleep(0.45)
    assert "t" not in brain and "tbig" not in brain
    assert brain.names() == []


def test_wait_wakes_on_a_change_an_expiry_and_times_out(brain):
    v = brain.learn(1, "w")
    t = threading.Timer(0.2, lambda: brain.learn(2, "w"))
    t.start()
    t0 = time.monotonic()
    nv = brain.wait("w", timeout=5)
    assert nv > v and brain["w"] == 2 and time.monotonic() - t0 < 4
    t.join()
    brain.learn(3, "e", ttl=0.3)
    assert brain.wait("e", timeout=5) == 0  # expired
    t0 = time.monotonic()
    with pytest.raises(BrainTimeoutError, match="did not change"):
        brain.wait("w", timeout=0.2)
    assert 0.18 < time.monotonic() - t0 < 3
    threading.Timer(0.1, lambda: brain.forget("w")).start()
    assert brain.wait("w", timeout=5) == 0
    # after_version: returns at once when the name is elsewhere already
    assert brain.wait("e", after_version=17, timeout=0) == 0


# ---- chunks and atomicity ------------------------------------------------


def test_large_values_are_chunked_and_readers_never_mix_versions(brain, server):
    # 64 KiB chunks: each value spans 13 chunks
    brain.learn(np.zeros(100_000, dtype=np.int64), "big")
    h = brain.client.hgetall(brain.prefix + "{default}:m:big")
    assert int(h[b"c"]) == 13 and b"d" not in h
    assert len(brain.client.keys(brain.prefix + "{default}:d:*")) == 13
    stop = threading.Event()

    def writer():
        i = 1
        while not stop.is_set():
            brain.learn(np.full(100_000, i, dtype=np.int64), "big")
            i += 1

    other = Brain(server.url + "?cache=off&inline_max=4096&chunk_size=65536")
    threads = [threading.Thread(target=writer)]
    for t in threads:
        t.start()
    seen = set()
    try:
        deadline = time.monotonic() + 15
        while len(seen) <= 3 and time.monotonic() < deadline:
            for b in (brain, other):
                a = b.recall("big")
                assert a.min() == a.max()  # one version's chunks only
                seen.add(int(a[0]))
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert len(seen) > 3
    # replaced values' chunks are gone
    assert len(brain.client.keys(brain.prefix + "{default}:d:*")) == 13


def test_learn_many_is_seen_whole(brain):
    stop = threading.Event()

    def writer():
        i = 1
        while not stop.is_set():
            brain.learn_many({"a": i, "b": np.full(20_000, i), "c": str(i)})
            i += 1

    t = threading.Thread(target=writer)
    t.start()
    try:
        deadline = time.monotonic() + 15
        n = 0
        while n < 20 and time.monotonic() < deadline:
            try:
                got = brain.recall_many(["a", "b", "c"])
            except BrainNameNotExistError:
                continue  # before the first learn_many
            assert got["b"].min() == got["b"].max() == got["a"] == int(got["c"])
            n += 1
    finally:
        stop.set()
        t.join()
    assert n >= 20


def test_host_killed_mid_learn_many_leaves_all_or_nothing(server, hosts):
    url = hosts.url(server, "w", inline_max=4096, chunk_size=32768)
    b = Brain(hosts.url(server, "r", inline_max=4096, chunk_size=32768))
    rng = random.Random(12)
    for _ in range(8):
        p = spawn("learn_many", url)
        assert p.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.4))
        p.send_signal(signal.SIGKILL)
        p.wait()
        p.stdout.close()
        try:
            got = b.recall_many(["a", "b", "c"])
        except BrainNameNotExistError:
            assert b.names() == []
            continue
        gens = {int(v.min()) for v in got.values()} | {int(v.max()) for v in got.values()}
        assert len(gens) == 1
    assert b.check() == []
    # chunks a killed writer uploaded but never committed expire by themselves
    r = server.client()
    live = set()
    for n in "abc":
        h = r.hgetall(b.prefix + "{default}:m:" + n)
        if h:
            live.add(h[b"o"])
    for key in r.scan_iter(match=b.prefix + "{default}:d:*"):
        oid = key.split(b":d:")[1].split(b":")[0]
        assert oid in live or 0 < r.pttl(key) <= 3_600_000


def test_two_hosts_racing_compare_and_set_exactly_one_wins(server, hosts, tmp_path):
    go = tmp_path / "go"
    b = Brain(hosts.url(server, "a"))
    b.learn(0, "ctr")
    v0 = b.version("ctr")
    procs = [spawn("cas", hosts.url(server, h), "ctr", 150, go) for h in "ab"]
    time.sleep(0.5)
    go.touch()
    wins = []
    for p in procs:
        out, _ = p.communicate(timeout=60)
        assert p.returncode == 0
        wins += [int(x) for x in out.split()]
    # each version was the base of exactly one successful learn
    assert len(wins) == len(set(wins))
    assert b.version("ctr") - v0 == len(wins)
    assert sorted(wins) == list(range(v0, v0 + len(wins)))


# ---- the host cache --------------------------------------------------------


def _cache(brain):
    return brain._cache_store()


def test_cache_fills_once_per_host_and_revalidates_by_object_id(server, hosts):
    a = Brain(hosts.url(server, "a"))
    b = Brain(hosts.url(server, "b"))
    frame = pd.DataFrame({"x": np.arange(500_000)})
    a["f"] = frame
    r = server.client()
    r.config_resetstat()
    pd.testing.assert_frame_equal(a["f"], frame)
    pd.testing.assert_frame_equal(b["f"], frame)
    a2 = Brain(hosts.url(server, "a"))  # another worker of host a
    for _ in range(5):
        a2["f"], b["f"]
    gets = r.info("commandstats").get("cmdstat_get", {}).get("calls", 0)
    assert gets == 2  # once per host
    assert _cache(a).meta("default", "f")["description"] == a.info("f")["object_id"].hex()
    # a value replaced through host b is never served stale on host a
    b["f"] = frame.assign(x=frame.x + 1)
    assert int(a["f"].x.iloc[0]) == 1 and int(a2["f"].x.iloc[0]) == 1
    # small values skip the cache
    a["tiny"] = 5
    assert not _cache(a).exists("default", "tiny")


def _frame(k):
    return pd.DataFrame({"i": np.arange(200_000) + k, "f": np.linspace(0, 1, 200_000),
                         "s": pd.Series(["a", "bb", "ccc", "d"] * 50_000)})


@pytest.fixture
def keep_every_frame():
    """The process's recall cache keeps every frame, however fast its
    decoding (the default keeps those that take 20 µs or more)."""
    from brain_plasma import recall_cache

    old = recall_cache.configure(min_seconds=0)
    recall_cache.clear()
    yield recall_cache
    recall_cache.configure(**old)
    recall_cache.clear()


def test_recall_keeps_decoded_frames_and_sees_every_change_at_once(
        server, hosts, keep_every_frame):
    rc = keep_every_frame
    a = Brain(hosts.url(server, "a"))
    b = Brain(hosts.url(server, "b"))  # another host
    a["f"] = _frame(0)
    r = server.client()
    first = a["f"]
    hits = rc.stats()["hits"]
    calls = _hmgets(r)
    again = [a["f"] for _ in range(5)]
    assert rc.stats()["hits"] == hits + 5  # decoded once, then shallow copies
    assert _hmgets(r) == calls + 5  # each recall still asks Redis once
    for x in again:
        assert x is not first
        pd.testing.assert_frame_equal(x, _frame(0))
    again[0]["extra"] = 1  # the caller's own frame object
    assert "extra" not in a["f"].columns
    # a value learned on another host is seen by the next recall
    b["f"] = _frame(1)
    assert int(a["f"].i.iloc[0]) == 1
    assert int(first.i.iloc[0]) == 0  # what a caller holds stays as it was
    b.forget("f")
    with pytest.raises(BrainNameNotExistError):
        a.recall("f")
    # Redis restarted with its data: the kept frame is still the value
    a["f"] = _frame(2)
    a["f"]
    server.save()
    server.restart(keep_data=True)
    assert int(a["f"].i.iloc[0]) == 2
    # restarted empty: nothing kept is served, and a new value is seen
    server.restart(keep_data=False)
    with pytest.raises(BrainNameNotExistError):
        a.recall("f")
    b["f"] = _frame(3)
    assert int(a["f"].i.iloc[0]) == 3
    # recall_cache=False decodes every time
    off = Brain(hosts.url(server, "a"), recall_cache=False)
    hits = rc.stats()["hits"]
    pd.testing.assert_frame_equal(off["f"], _frame(3))
    off["f"]
    assert rc.stats()["hits"] == hits
    with pytest.raises(BrainValueError, match="lock_timeout"):
        Brain(hosts.url(server, "a"), lock_timeout=-1)


def test_recall_metadata_connection_errors_threads_and_fork(server, hosts):
    """Recall reads metadata on a connection of its own (redis_brain._Fast):
    an error reply, several threads, a fork and a stale connection."""
    a = Brain(hosts.url(server, "a"))
    a["f"] = np.arange(300_000)
    a["s"] = "small"
    # a key changed behind the Brain's back: Redis's error, named
    server.client().set(a._mkey("odd"), "a string, not a hash")
    with pytest.raises(BrainError, match="127.0.0.1:%d.*WRONGTYPE" % server.port):
        a.recall("odd")
    assert a["s"] == "small"  # the connection is still good
    # threads share the Brain: one at a time on the connection, the others
    # on redis-py's pool; every answer is right
    bad = []

    def reader(k):
        for _ in range(200):
            if int(a["f"][k]) != k or a["s"] != "small":
                bad.append(k)

    ts = [threading.Thread(target=reader, args=(k,)) for k in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert bad == []
    # a child process after fork makes its own connection; the parent's
    # stays usable
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = 0 if int(a["f"][9]) == 9 and a["s"] == "small" else 2
        finally:
            os._exit(code)
    assert os.waitpid(pid, 0)[1] == 0
    assert a["s"] == "small" and a._fast.pid == os.getpid()
    # the server closes every connection: the next recall connects again
    r = server.client()
    r.client_kill_filter(_type="normal", skipme=True)
    assert a["s"] == "small" and int(a["f"][3]) == 3
    a.sleep()
    assert a._fast is None
    a.wake_up()
    assert a["s"] == "small"


def test_recall_metadata_connection_without_hiredis(server, hosts, monkeypatch):
    """Without hiredis, the recall's connection reads replies with
    redis-py's own parser: the same answers and errors."""
    from brain_plasma import redis_brain

    monkeypatch.setattr(redis_brain, "_hiredis", None)
    a = Brain(hosts.url(server, "a"))
    a["f"] = _frame(4)
    a["s"] = "small"
    pd.testing.assert_frame_equal(a["f"], _frame(4))
    pd.testing.assert_frame_equal(a["f"], _frame(4))
    server.client().set(a._mkey("odd"), "a string, not a hash")
    with pytest.raises(BrainError, match="WRONGTYPE"):
        a.recall("odd")
    assert a["s"] == "small"
    server.client().client_kill_filter(_type="normal", skipme=True)
    assert a["s"] == "small"
    with pytest.raises(BrainNameNotExistError):
        a.recall("nothing")


def test_four_workers_on_each_of_two_hosts_share_one_frame(server, hosts, tmp_path):
    go = tmp_path / "go"
    n = 400_000
    Brain(hosts.url(server, "a"))["frame"] = pd.DataFrame({"x": np.arange(n)})
    r = server.client()
    r.config_resetstat()
    procs = [spawn("frame", hosts.url(server, h), "frame", go)
             for h in "ab" for _ in range(4)]
    time.sleep(0.3)
    go.touch()
    for p in procs:
        out, _ = p.communicate(timeout=60)
        assert p.returncode == 0 and out.split() == [str(n), str(n * (n - 1) // 2)]
    assert r.info("commandstats")["cmdstat_get"]["calls"] == 2


def test_worker_killed_while_filling_the_cache(server, hosts):
    url = hosts.url(server, "a", chunk_size=262144)
    b = Brain(url)
    arr = np.arange(3_000_000, dtype=np.int64)
    b["big"] = arr  # 24 MB in 92 chunks
    cache = _cache(b)
    rng = random.Random(7)
    for _ in range(6):
        try:
            cache.delete("default", "big")
        except BrainNameNotExistError:
            pass
        p = spawn("recall", url, "big")
        assert p.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.06))
        p.send_signal(signal.SIGKILL)
        p.wait()
        p.stdout.close()
        assert cache.check() == []
        # the lock died with the worker; the next one fills the cache
        got = Brain(url)["big"]
        assert int(got.sum()) == int(arr.sum())
        assert cache.exists("default", "big")
    p = spawn("recall", url, "big")
    out, _ = p.communicate(timeout=30)
    assert out.split() == ["ready", str(int(arr.sum()))]


def test_cache_evicts_the_oldest_entries_when_full(server, hosts):
    b = Brain(hosts.url(server, "a", cache_size="48MB"))
    for i in range(4):
        b["v%d" % i] = np.full(2_000_000, i, dtype=np.int64)  # 16 MB each
    for i in range(4):
        assert int(b["v%d" % i][0]) == i
    cache = _cache(b)
    held = set(cache.names("default"))
    assert "v3" in held and "v0" not in held
    for i in range(4):
        assert int(b["v%d" % i][-1]) == i


# ---- failures ------------------------------------------------------------


def test_redis_down_gives_a_clear_error_then_reconnects(server, hosts):
    b = Brain(hosts.url(server, "a"))
    b["k"] = np.arange(200_000)
    b.recall("k")
    server.save()
    server.stop()
    t0 = time.monotonic()
    with pytest.raises(BrainConnectionError, match="127.0.0.1:%d" % server.port) as e:
        b.recall("k")
    assert time.monotonic() - t0 < 5
    assert "redis-server runs there" in str(e.value) and isinstance(e.value, BrainError)
    with pytest.raises(BrainConnectionError):
        b["other"] = 1
    with pytest.raises(BrainConnectionError, match="cannot connect to Redis"):
        Brain(hosts.url(server, "b"))
    # restarted with its data: the same Brain reconnects; the cache is valid
    server.restart(keep_data=True)
    assert int(b["k"][7]) == 7
    # restarted empty: nothing cached is served
    server.restart(keep_data=False)
    with pytest.raises(BrainNameNotExistError):
        b.recall("k")
    b["k"] = np.arange(200_000) * 2  # a new value, versions start again
    assert int(b["k"][7]) == 14
    assert Brain(hosts.url(server, "b"))["k"][7] == 14


def test_nothing_listens_and_wrong_password(hosts, tmp_path):
    from redis_servers import RedisServer, free_port

    port = free_port()
    t0 = time.monotonic()
    with pytest.raises(BrainConnectionError, match="redis://127.0.0.1:%d/0" % port):
        Brain("redis://127.0.0.1:%d/0" % port)
    assert time.monotonic() - t0 < 5
    s = RedisServer(tmp_path, password="s3cret")
    try:
        with pytest.raises(BrainConnectionError) as e:
            Brain("redis://:wrong@127.0.0.1:%d/0" % s.port)
        assert "wrong" not in str(e.value) and "***" in str(e.value)
        b = Brain(s.url + "?cache=" + hosts.cache("pw"))
        b["x"] = 1
        assert b["x"] == 1
    finally:
        s.stop()


def test_unix_socket_url(tmp_path, hosts):
    sock = str(tmp_path / "redis.sock")
    p = subprocess.Popen(["redis-server", "--port", "0", "--unixsocket", sock,
                          "--save", "", "--dir", str(tmp_path), "--loglevel", "warning"])
    try:
        deadline = time.monotonic() + 10
        while not os.path.exists(sock):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        b = Brain("unix://%s?db=2&cache=%s" % (sock, hosts.cache("u")))
        b["x"] = np.arange(500_000)
        assert int(b["x"][9]) == 9
        assert b.client.connection_pool.connection_kwargs["db"] == 2
    finally:
        p.kill()
        p.wait()


# ---- persistence -----------------------------------------------------------


def test_save_load_round_trip_and_local_interop(brain, tmp_path, store_name=None):
    brain.learn(pd.DataFrame({"x": np.arange(100_000)}), "df", description="d")
    brain.learn(1, "gone", ttl=0.2)
    brain.set_namespace("n2")
    brain["s"] = "two"
    path = brain.save(tmp_path / "snap")
    brain.forget("s")
    brain.set_namespace("default")
    brain["extra"] = 9
    time.sleep(0.25)
    assert brain.load(path) == 2
    assert brain.names() == ["df"] and brain.names("n2") == ["s"]
    assert brain.info("df")["description"] == "d"
    assert int(brain["df"].x.sum()) == 100_000 * 99_999 // 2
    # the file is the local store's snapshot format
    local = Brain("pytest-redis-%d" % os.getpid(), size="64MB")
    try:
        assert local.load(path) == 2
        assert int(local["df"].x.iloc[-1]) == 99_999
        local["fromlocal"] = [1]
        local.save(tmp_path / "snap2")
    finally:
        local.dead(i_am_sure=True)
    assert brain.load(tmp_path / "snap2", merge=True) == 3
    assert brain["fromlocal"] == [1] and brain.names() == ["df", "fromlocal"]
    # a damaged file changes nothing
    bad = tmp_path / "bad"
    data = bytearray(open(path, "rb").read())
    data[len(data) // 2] ^= 0xFF
    bad.write_bytes(bytes(data))
    with pytest.raises(BrainSnapshotError):
        brain.load(bad)
    with pytest.raises(BrainSnapshotError, match="nothing was changed"):
        brain.load(tmp_path / "missing")
    assert brain.names() == ["df", "fromlocal"]


def test_check_finds_missing_chunks_and_dead_deletes_everything(brain, server):
    brain["big"] = np.arange(100_000)
    brain.set_namespace("o")
    brain["x"] = 1
    assert brain.check() == []
    r = server.client()
    r.delete(r.keys(brain.prefix + "{default}:d:*")[0])
    assert brain.check() == ["default/big: 1 of its 13 chunks are missing"]
    r.set("unrelated", 1)
    assert brain.dead() is False and brain.names() == ["x"]
    assert brain.dead(i_am_sure=True) is True
    assert r.keys("*") == [b"unrelated"]
    with pytest.raises(BrainError, match="disconnected"):
        brain.names()
    assert brain.wake_up().names("all") == []


# ---- gunicorn -------------------------------------------------------------


def _gunicorn(url, port, preload):
    import shutil

    exe = shutil.which("gunicorn") or os.path.join(os.path.dirname(sys.executable), "gunicorn")
    args = [exe, "-w", "4", "-b", "127.0.0.1:%d" % port, "--chdir",
            os.path.dirname(__file__), "--log-level", "warning", "app:app"]
    if preload:
        args.insert(1, "--preload")
    env = dict(os.environ, BRAIN_URL=url)
    return subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL,
                            start_new_session=True)


def _get(port, path):
    import urllib.request

    with urllib.request.urlopen("http://127.0.0.1:%d/%s" % (port, path), timeout=30) as r:
        return r.read().decode()


def _ask_all(port, path, n):
    import urllib.error
    from concurrent.futures import ThreadPoolExecutor

    deadline = time.monotonic() + 30
    while True:  # until the server answers
        try:
            _get(port, "")
            break
        except urllib.error.HTTPError:
            break  # it answered (an error page for the empty name)
        except OSError:
            assert time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.1)
    with ThreadPoolExecutor(8) as ex:
        return list(ex.map(lambda _: _get(port, path), range(n)))


def test_four_gunicorn_workers_on_each_of_two_hosts_share_one_frame(server, hosts):
    pytest.importorskip("gunicorn")
    from redis_servers import free_port

    writer = Brain(hosts.url(server, "w"))
    n = 300_000
    writer["frame"] = pd.DataFrame({"x": np.arange(n)})
    r = server.client()
    ports = [free_port(), free_port()]
    procs = [_gunicorn(hosts.url(server, h), p, preload)
             for h, p, preload in (("a", ports[0], False), ("b", ports[1], True))]
    try:
        r.config_resetstat()
        for gen in (0, 1):
            total = sum(range(n)) + gen * n
            for p in ports:
                pids = set()
                for _ in range(5):  # until several workers have answered
                    answers = _ask_all(p, "frame", 32)
                    pids |= {a.split()[0] for a in answers}
                    assert all(a.split()[1:] == [str(n), str(total)] for a in answers), \
                        answers[:3]
                    if len(pids) >= 2:
                        break
                assert len(pids) >= 2
            # the frame crossed the network once per host
            assert r.info("commandstats")["cmdstat_get"]["calls"] == 2 * (gen + 1)
            writer["frame"] = pd.DataFrame({"x": np.arange(n) + 1})  # a new frame
    finally:
        for p in procs:
            os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


def test_a_server_that_never_answers_times_out(hosts):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)  # accepts connections (the kernel does), answers nothing
    port = s.getsockname()[1]
    try:
        t0 = time.monotonic()
        with pytest.raises(BrainConnectionError, match="127.0.0.1:%d.*Timeout" % port):
            Brain("redis://127.0.0.1:%d/0?socket_timeout=0.5&cache=off" % port)
        assert time.monotonic() - t0 < 4
    finally:
        s.close()


def test_redis_out_of_memory_is_store_full(brain, server):
    r = server.client()
    brain["keep"] = np.arange(1000)
    r.config_set("maxmemory", "3mb")
    try:
        with pytest.raises(BrainStoreFullError, match="is full \\(maxmemory\\)"):
            brain["big"] = np.zeros(1_000_000)
        r.config_set("maxmemory", "1")
        with pytest.raises(BrainStoreFullError):
            brain["big"] = b"x" * 3000  # a small one, in the commit script
        r.config_set("maxmemory", "0")
        assert "big" not in brain and int(brain["keep"][-1]) == 999
        assert len(r.keys(brain.prefix + "{default}:d:*")) == 1  # keep's chunk only
    finally:
        r.config_set("maxmemory", "0")


def test_chunks_changed_behind_its_back_are_reported(brain, server):
    brain["big"] = np.arange(100_000)
    r = server.client()
    key = sorted(r.keys(brain.prefix + "{default}:d:*"))[0]
    r.set(key, b"short")
    with pytest.raises(BrainError, match="something other than brain_plasma"):
        brain.recall("big", copy=True)
    assert brain.check() == []  # every chunk is there, one is wrong


def test_rediss_url_over_tls(tmp_path, hosts):
    import shutil

    if shutil.which("openssl") is None:  # scripts/setup.sh redis installs it
        raise RuntimeError("openssl is missing: run scripts/setup.sh redis")
    from redis_servers import free_port

    cert, key = str(tmp_path / "cert.pem"), str(tmp_path / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    port = free_port()
    p = subprocess.Popen(["redis-server", "--port", "0", "--tls-port", str(port),
                          "--bind", "127.0.0.1", "--tls-cert-file", cert,
                          "--tls-key-file", key, "--tls-ca-cert-file", cert,
                          "--tls-auth-clients", "no", "--save", "", "--dir", str(tmp_path),
                          "--loglevel", "warning"], stdout=subprocess.DEVNULL)
    try:
        url = "rediss://127.0.0.1:%d/0?ssl_ca_certs=%s&ssl_cert_reqs=required" % (port, cert)
        deadline = time.monotonic() + 10
        while True:
            try:
                b = Brain(url + "&cache=" + hosts.cache("tls") + "&chunk_size=100000")
                break
            except BrainConnectionError:
                assert time.monotonic() < deadline, "redis-server (TLS) did not start"
                time.sleep(0.05)
        frame = pd.DataFrame({"x": np.arange(300_000)})
        b["f"] = frame
        b["s"] = "small"
        pd.testing.assert_frame_equal(b["f"], frame)  # chunks read over TLS
        assert b.recall("f", copy=True).x.sum() == frame.x.sum() and b["s"] == "small"
        # a server whose certificate is not trusted is refused, clearly
        with pytest.raises(BrainConnectionError, match="rediss://127.0.0.1:%d" % port):
            Brain("rediss://127.0.0.1:%d/0?ssl_cert_reqs=required&cache=off" % port)
    finally:
        p.kill()
        p.wait()


# ---- revalidate=push --------------------------------------------------------


def _hmgets(r):
    return r.info("commandstats").get("cmdstat_hmget", {}).get("calls", 0)


def _until(cond, seconds=5.0):
    deadline = time.monotonic() + seconds
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_push_revalidation_costs_no_round_trip_and_sees_changes(server, hosts):
    a = Brain(hosts.url(server, "a", revalidate="push"))
    # another "host": another spelling of the server, so another watcher
    other = Brain("redis://localhost:%d/0?cache=%s" % (server.port, hosts.cache("b")))
    a["f"] = np.arange(300_000)
    w = a._watcher()
    _until(lambda: w.ready)
    assert int(a["f"][5]) == 5  # checked against Redis, remembered
    r = server.client()
    before = _hmgets(r)
    for _ in range(20):
        assert int(a["f"][5]) == 5
    assert _hmgets(r) == before  # no round trip
    # a change made elsewhere arrives as a message
    other["f"] = np.arange(300_000) * 2
    _until(lambda: int(a["f"][5]) == 10)
    other.forget("f")
    _until(lambda: "f" not in a)
    with pytest.raises(BrainNameNotExistError):
        a.recall("f")
    # this process's own writes are seen at once
    a["g"] = np.arange(300_000)
    assert int(a["g"][3]) == 3
    a["g"] = np.arange(300_000) + 1
    assert int(a["g"][3]) == 4
    # an expiry is honoured without any message
    a.learn(np.arange(300_000), "t", ttl=0.3)
    assert int(a["t"][1]) == 1
    time.sleep(0.35)
    with pytest.raises(BrainNameNotExistError):
        a.recall("t")
    with pytest.raises(BrainValueError, match="revalidate= is 'always'"):
        Brain(server.url + "?revalidate=sometimes")


def test_push_revalidation_after_flush_and_restart(server, hosts):
    a = Brain(hosts.url(server, "a", revalidate="push"))
    a["f"] = np.arange(300_000)
    w = a._watcher()
    _until(lambda: w.ready)
    a["f"], a["f"]
    assert ("default", "f") in w.known
    # an operator empties Redis: nothing publishes, the epoch key goes
    server.client().flushall()
    _until(lambda: ("default", "f") not in w.known, 5)
    with pytest.raises(BrainNameNotExistError):
        a.recall("f")
    a["f"] = np.arange(300_000) + 7
    a["f"]
    server.restart(keep_data=False)  # the subscription drops
    with pytest.raises(BrainNameNotExistError):
        a.recall("f")
    _until(lambda: w.ready, 10)  # and comes back by itself
    a["f"] = np.arange(300_000) + 9
    assert int(a["f"][0]) == 9


def test_key_layout_is_what_docs_redis_md_says(brain, server):
    brain.learn("v", "small", description="about it", ttl=60)
    brain["large"] = np.arange(100_000)
    r = server.client()
    p = brain.prefix
    assert p == "brain:"
    h = r.hgetall("brain:{default}:m:small")
    assert set(h) == {b"v", b"t", b"n", b"o", b"c", b"k", b"cr", b"up", b"x", b"s", b"d"}
    assert h[b"d"] == b"v" and h[b"s"] == b"about it" and h[b"c"] == b"0"
    assert h[b"t"] == str(_core.TYPE_STR).encode()
    assert 0 < r.pttl("brain:{default}:m:small") <= 60_000
    big = r.hgetall("brain:{default}:m:large")
    oid = big[b"o"].decode()
    assert bytes.fromhex(oid) == brain.object_id("large").binary()
    assert r.exists(*["brain:{default}:d:%s:%d" % (oid, j) for j in range(int(big[b"c"]))]) == 13
    assert r.smembers("brain:{default}:names") == {b"small", b"large"}
    assert int(r.get("brain:{default}:seq")) == brain.version("large")
    assert r.smembers("brain:namespaces") == {b"default"}
    assert len(r.get("brain:epoch")) == 16
    # another prefix keeps apart
    other = Brain(server.url + "?prefix=app2:&cache=off")
    other["small"] = 1
    assert r.exists("app2:{default}:m:small") and brain["small"] == "v"


def test_wait_with_keyspace_notifications_wakes_on_expiry(brain, server):
    server.client().config_set("notify-keyspace-events", "Kgx")
    brain.learn(1, "k", ttl=0.3)
    t0 = time.monotonic()
    assert brain.wait("k", timeout=5) == 0
    assert time.monotonic() - t0 < 4


# ---- Redis Cluster -----------------------------------------------------------


def test_redis_cluster_through_the_same_url(tmp_path, hosts):
    from redis_servers import RedisCluster3

    cl = RedisCluster3(tmp_path)
    try:
        b = Brain(cl.url + "?chunk_size=65536&inline_max=4096&cache=" + hosts.cache("c"))
        assert b.cluster
        other = Brain("redis://127.0.0.1:%d/0?cache=%s" % (cl.ports[2], hosts.cache("d")))
        nodes_used = set()
        for i in range(6):  # namespaces land on different nodes
            ns = "ns%d" % i
            b.set_namespace(ns)
            b["small"] = i
            b["big"] = np.full(100_000, i)
            nodes_used.add(b.client.get_node_from_key(b._base(ns) + ":names").port)
            v = b.learn_many({"a": i, "b": np.full(50_000, i)})
            got = b.recall_many(["a", "b"])
            assert got["a"] == i and int(got["b"][0]) == i and set(v) == {"a", "b"}
            other.set_namespace(ns)
            assert other["small"] == i and int(other["big"][-1]) == i
            assert int(other.recall("big", copy=True)[0]) == i
        assert len(nodes_used) >= 2
        # recall reads metadata on connections of its own, one per node
        assert {f.conn.port for f in other._fasts[1].values()} == nodes_used
        b.set_namespace("ns1")
        other.set_namespace("ns1")
        v = b.version("small")
        b.learn(10, "small", if_version=v)
        with pytest.raises(BrainVersionConflictError):
            other.learn(11, "small", if_version=v)
        assert other["small"] == 10
        assert sorted(b.names()) == ["a", "b", "big", "small"]
        assert b.namespaces() == ["default"] + ["ns%d" % i for i in range(6)]
        assert len(b.names("all")) == 24
        threading.Timer(0.2, lambda: other.forget("small")).start()
        assert b.wait("small", timeout=5) == 0
        path = b.save(tmp_path / "snap")
        b.remove_namespace("ns2")
        assert b.load(path) == 23
        other.set_namespace("ns2")
        assert other["small"] == 2
        assert b.check() == []
        assert b.dead(i_am_sure=True)
        assert Brain(cl.url + "?cache=off").names("all") == []
        with pytest.raises(BrainValueError, match="only database 0"):
            Brain("redis://127.0.0.1:%d/1" % cl.ports[0])
    finally:
        cl.stop()

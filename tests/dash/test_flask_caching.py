"""brain_plasma.contrib.flask_caching.BrainCache: the Flask-Caching
interface, timeouts (real sleeps), eviction on a full store, clear() and
bad configuration."""
import multiprocessing
import os
import time

import numpy as np
import pandas as pd
import pytest
from flask import Flask
from flask_caching import Cache

from brain_plasma import Brain
from brain_plasma.contrib.flask_caching import BrainCache
from brain_plasma.exceptions import BrainCorruptError, BrainIOError, BrainValueError
from conftest import STORE_DIR

CACHE_TYPE = "brain_plasma.contrib.flask_caching.BrainCache"


@pytest.fixture
def cache(store_name):
    c = BrainCache(store_name, default_timeout=0, size=16_000_000)
    yield c


def test_interface(cache):
    assert cache.get("missing") is None
    assert cache.has("missing") is False
    assert cache.set("a", {"x": 1}) is True
    assert cache.get("a") == {"x": 1}
    assert cache.has("a")
    assert cache.add("a", 2) is False
    assert cache.get("a") == {"x": 1}
    assert cache.add("b", 2) is True and cache.get("b") == 2
    assert cache.set_many({"c": 3, "d": [4]}) == ["c", "d"]
    assert cache.get_many("a", "c", "nope", "d") == [{"x": 1}, 3, None, [4]]
    assert cache.get_dict("c", "d") == {"c": 3, "d": [4]}
    assert cache.delete("c") is True
    assert cache.delete("c") is False
    assert cache.delete_many("d", "never") == ["d", "never"]
    assert cache.get("d") is None
    assert cache.inc("n") == 1
    assert cache.inc("n", 5) == 6
    assert cache.dec("n", 2) == 4
    assert cache.dec("m") == -1
    assert cache.get("n") == 4
    # keys that are not valid store names still work (hashed)
    long_key = "k" * 5000
    for k in (long_key, "nul\x00key", "", "caf\u00e9 \U0001f600", "lone \ud800"):
        assert cache.set(k, k) is True
        assert cache.get(k) == k
        assert cache.has(k)
    assert cache.get("k" * 4999) is None
    cache.set("none", None)
    assert cache.has("none") and cache.get("none") is None


def test_inc_refuses_a_non_int(cache):
    cache.set("s", "text")
    with pytest.raises(BrainValueError, match="cannot add 1 to key 's': it holds str"):
        cache.inc("s")
    assert cache.get("s") == "text"


def test_frames_come_back_zero_copy(cache):
    df = pd.DataFrame({"x": np.arange(100_000, dtype=np.float64),
                       "city": ["Oslo", "Rome"] * 50_000})
    assert cache.set("df", df)
    got = cache.get("df")
    pd.testing.assert_frame_equal(got, df)
    arr = got["x"].to_numpy()
    assert not arr.flags.writeable  # a view of the store, not a copy


def _inc_many(store, n):
    c = BrainCache(store, default_timeout=0)
    for _ in range(n):
        assert c.inc("counter") is not None


def test_inc_is_atomic_across_processes(cache, store_name):
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_inc_many, args=(store_name, 150)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert cache.get("counter") == 600


def test_timeouts(store_name):
    c = BrainCache(store_name, default_timeout=2)
    t0 = time.monotonic()
    c.set("default", 1)                # default timeout: 2 s
    c.set("forever", 2, timeout=0)     # 0: never expires
    c.set("short", 3, timeout=0.6)     # fractions of a second work
    c.set("long", 4, timeout=60)
    c.set("gone", 5, timeout=-1)       # negative: expired at once
    assert c.get("gone") is None and not c.has("gone")
    c.add("added", 6)
    c.inc("counter", 10)               # absent: default timeout
    assert time.monotonic() - t0 < 0.5, "too slow a machine for these timeouts"
    assert c.has("short")
    time.sleep(0.9 - (time.monotonic() - t0))
    assert c.get("short") is None and not c.has("short")
    assert c.get("default") == 1
    assert c.add("short", 7, timeout=0)  # an expired key is absent for add
    time.sleep(2.3 - (time.monotonic() - t0))
    assert c.get("default") is None
    assert c.get("added") is None
    assert c.get("counter") is None
    assert c.get("forever") == 2
    assert c.get("long") == 4
    assert c.get("short") == 7


def test_bad_timeouts_are_clear_errors(cache):
    cache.set("k", 1)
    for bad in ("soon", None.__class__, [1], True):
        with pytest.raises(BrainValueError, match="a timeout is seconds"):
            cache.set("k", 2, timeout=bad)
    assert cache.get("k") == 1


def test_inc_keeps_the_expiry(store_name):
    c = BrainCache(store_name, default_timeout=0)
    t0 = time.monotonic()
    c.set("n", 1, timeout=1.0)
    assert c.inc("n") == 2
    assert time.monotonic() - t0 < 0.5, "too slow a machine for these timeouts"
    time.sleep(1.3 - (time.monotonic() - t0))
    assert c.get("n") is None          # inc kept the 1 s expiry
    c.set("m", 1)                       # no expiry: inc keeps none
    c.inc("m")
    assert c._brain.info("m")["expires"] is None


def test_clear_removes_only_this_caches_names(store_name):
    brain = Brain(store_name, size=16_000_000)
    brain.learn("keep me", "frame")
    a = BrainCache(store_name, key_prefix="a_")
    b = BrainCache(store_name, key_prefix="b_")
    a.set("k", 1)
    a.set("frame", "a's frame")         # same key as a name elsewhere
    b.set("k", 2)
    assert a.clear() is True
    assert a.get("k") is None and a.get("frame") is None
    assert b.get("k") == 2
    assert brain.recall("frame") == "keep me"
    assert brain.names() == ["frame"]


def _fill(cache, prefix, n, size):
    return [cache.set("%s%d" % (prefix, i), b"x" * size) for i in range(n)]


def test_eviction_lrw_keeps_the_newest(store_name):
    c = BrainCache(store_name, default_timeout=0, size=3_000_000)
    free = c._brain.free()
    n = 3 * free // 100_000            # three times what fits
    assert all(_fill(c, "v", n, 100_000))
    present = [i for i in range(n) if c.has("v%d" % i)]
    assert present, "nothing left"
    assert n - 1 in present            # the last written is there
    assert 0 not in present            # the first written went
    # what is left is a suffix: the least recently written went first
    assert present == list(range(present[0], n))


def test_eviction_takes_expired_entries_first(store_name):
    c = BrainCache(store_name, default_timeout=0, size=3_000_000)
    c.set("old", b"o" * 100_000)        # oldest, never expires
    per = 100_000
    n = c._brain.free() // per
    assert all(c.set("tmp%d" % i, b"t" * per, timeout=0.2) for i in range(n - 2))
    time.sleep(0.3)
    assert all(_fill(c, "new", 5, per))
    assert c.get("old") == b"o" * 100_000   # expired ones went, not "old"


def test_eviction_lru_keeps_what_is_read(store_name):
    c = BrainCache(store_name, default_timeout=0, size=3_000_000, eviction="lru")
    per = 100_000
    n = c._brain.free() // per
    _fill(c, "v", n, per)
    assert c.get("v0") is not None      # used: the most recent now
    assert all(_fill(c, "w", n // 2, per))
    assert c.has("v0")
    assert not c.has("v1")
    c.clear()
    assert c._brain._c().names(c._atime_ns) == []


def test_eviction_never_touches_other_names(store_name):
    brain = Brain(store_name, size=3_000_000)
    brain.learn(np.zeros(100_000), "frame")   # 800 kB the app owns
    c = BrainCache(store_name, default_timeout=0)
    assert all(_fill(c, "v", 40, 100_000))
    assert brain.recall("frame").shape == (100_000,)
    # too big for what the cache may use: False, nothing raised
    assert c.set("huge", b"h" * (brain.free() + 1_500_000)) is False
    assert brain.recall("frame").shape == (100_000,)
    # larger than the whole store
    assert c.set("huger", b"h" * 4_000_000) is False
    assert c.set_many({"x": b"1", "y": b"h" * 4_000_000}) == ["x"]


def make_app(**config):
    app = Flask(__name__)
    app.config.update(CACHE_TYPE=CACHE_TYPE, **config)
    return app


def test_flask_config_and_memoize(store_name):
    app = make_app(CACHE_BRAIN_PATH=store_name, CACHE_BRAIN_SIZE="8MB",
                   CACHE_DEFAULT_TIMEOUT=0, CACHE_KEY_PREFIX="app_")
    cache = Cache(app)
    backend = app.extensions["cache"][cache]
    assert isinstance(backend, BrainCache)
    assert backend.path == STORE_DIR + "/brain-" + store_name
    assert backend.namespace == "cache:app_"
    assert backend.default_timeout == 0
    assert Brain(store_name).size() == 8_000_000
    calls = []

    @cache.memoize()
    def square(x):
        calls.append(x)
        return x * x

    @app.route("/view")
    @cache.cached()
    def view():
        calls.append("view")
        return "page %d" % len(calls)

    with app.app_context():
        assert square(3) == 9 and square(3) == 9 and square(4) == 16
        assert calls == [3, 4]
        client = app.test_client()
        assert client.get("/view").data == client.get("/view").data
        assert calls.count("view") == 1
        # another process sees the memoized result (the function is not run)
        ctx = multiprocessing.get_context("fork")
        q = ctx.Queue()

        def child():
            with app.app_context():
                before = len(calls)
                q.put((square(3), len(calls) - before))

        p = ctx.Process(target=child)
        p.start()
        assert q.get(timeout=30) == (9, 0)
        p.join(30)
        cache.clear()
        assert Brain(store_name, namespace="cache:app_").names() == []


def test_bad_config_is_a_clear_error_at_start(store_name, tmp_path):
    not_a_store = tmp_path / "notastore"
    not_a_store.write_bytes(b"just a file, not a brain-plasma store\n" * 100)
    with pytest.raises(BrainCorruptError, match=r"CACHE_BRAIN_PATH='.*notastore'.*not a"):
        Cache(make_app(CACHE_BRAIN_PATH=str(not_a_store)))
    assert not_a_store.read_bytes().startswith(b"just a file")
    with pytest.raises(BrainIOError, match=r"CACHE_BRAIN_PATH='/nonexistent.*directory does not exist"):
        Cache(make_app(CACHE_BRAIN_PATH="/nonexistent-brain-dir/store"))
    with pytest.raises(BrainValueError, match=r"CACHE_BRAIN_PATH='bad/name'.*relative path"):
        Cache(make_app(CACHE_BRAIN_PATH="bad/name"))
    with pytest.raises(BrainValueError, match=r"CACHE_BRAIN_SIZE=-5.*size must be positive"):
        Cache(make_app(CACHE_BRAIN_PATH=store_name, CACHE_BRAIN_SIZE=-5))
    with pytest.raises(BrainValueError, match=r"size"):
        Cache(make_app(CACHE_BRAIN_PATH=store_name, CACHE_BRAIN_SIZE="lots"))
    with pytest.raises(BrainValueError, match="eviction is 'lrw'.*got 'fifo'"):
        Cache(make_app(CACHE_BRAIN_PATH=store_name, CACHE_BRAIN_EVICTION="fifo"))
    with pytest.raises(BrainValueError, match="key_prefix .* is too long"):
        Cache(make_app(CACHE_BRAIN_PATH=store_name, CACHE_KEY_PREFIX="p" * 80))
    with pytest.raises(BrainValueError, match="default_timeout is seconds >= 0"):
        BrainCache(store_name, default_timeout=-1)
    with pytest.raises(BrainValueError, match="a timeout is seconds"):
        BrainCache(store_name, default_timeout="soon")

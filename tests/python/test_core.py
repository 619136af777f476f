"""brain_plasma._core: the Store and View types, layouts, error mapping."""
import gc
import sys

import pytest

from brain_plasma import _core
import brain_plasma as bp
from conftest import STORE_DIR


def test_module_constants():
    assert _core.TYPE_BYTES == 0 and _core.TYPE_PICKLE == 3
    assert _core.NAME_MAX == 1024 and _core.NS_MAX == 64
    assert _core.ENOTFOUND == -30897
    assert _core.LIB_VERSION.count(".") == 2


def test_resolve_and_sizes():
    assert _core.resolve("app1") == STORE_DIR + "/brain-app1"
    assert _core.resolve("/tmp/x.brain") == "/tmp/x.brain"
    with pytest.raises(bp.BrainValueError):
        _core.resolve("a/b")
    assert _core.parse_size("50MB") == 50_000_000
    assert _core.parse_size("2GiB") == 2 << 30
    with pytest.raises(bp.BrainValueError):
        _core.parse_size("lots")
    assert _core.format_size(50_000_000) == "50.0 MB"


def test_open_missing_and_exclusive(store_name):
    with pytest.raises(bp.BrainStoreNotFoundError) as ei:
        _core.Store(store_name, create=False)
    assert ei.value.code == _core.ENOSTORE
    assert ei.value.errname == "BRAIN_ENOSTORE"
    assert isinstance(ei.value, FileNotFoundError)
    s = _core.Store(store_name, capacity=4 << 20)
    with pytest.raises(bp.BrainStoreExistsError):
        _core.Store(store_name, exclusive=True)
    s2 = _core.Store(store_name, create=False)
    assert s2.path == s.path == STORE_DIR + "/brain-" + store_name
    s2.close()
    s.close()


def test_put_read_fetch_meta_delete(store):
    v1 = store.put(None, "a", b"hello", desc="greeting")
    assert v1 > 0
    assert store.read(None, "a") == (_core.TYPE_BYTES, b"hello")
    t, ba = store.read(None, "a", writable=True)
    assert isinstance(ba, bytearray) and ba == b"hello"
    assert store.fetch(None, "a") == (_core.TYPE_BYTES, b"hello")
    m = store.meta(None, "a")
    assert m["name"] == "a" and m["namespace"] == "default"
    assert m["description"] == "greeting" and m["size"] == 5
    assert m["version"] == v1 and len(m["object_id"]) == 20
    assert store.exists(None, "a") is True
    store.delete(None, "a")
    assert store.exists(None, "a") is False
    with pytest.raises(bp.BrainNameNotExistError):
        store.delete(None, "a")
    with pytest.raises(KeyError):
        store.read(None, "a")


def test_fetch_large_gives_pinned_view(store):
    data = bytes(range(256)) * 1024  # 256 KiB
    store.put("ns", "big", data)
    t, v = store.fetch("ns", "big")
    assert isinstance(v, _core.View)
    assert len(v) == len(data) and v.tobytes() == data
    assert store.stats()["pins"] >= 1
    # a small threshold forces a view, a large one a copy
    assert isinstance(store.fetch("ns", "big", small=1 << 20)[1], bytes)
    del v
    gc.collect()
    assert store.stats()["pins"] == 0


def test_view_buffer_is_readonly_and_counts_exports(store):
    store.put(None, "x", b"abcdef" * 1000)
    v = store.get(None, "x")
    assert v.type == _core.TYPE_BYTES and v.info["name"] == "x"
    m = memoryview(v)
    assert m.readonly and bytes(m[:6]) == b"abcdef"
    with pytest.raises(TypeError):
        m[0] = 1
    assert v.exports == 1
    with pytest.raises(BufferError):
        v.release()
    m.release()
    assert v.exports == 0
    v.release()
    assert v.released
    with pytest.raises(ValueError):
        memoryview(v)


def test_view_survives_replace_and_delete(store):
    store.put(None, "x", b"1" * 100_000)
    v = store.get(None, "x")
    store.put(None, "x", b"2" * 100_000)
    store.delete(None, "x")
    assert bytes(memoryview(v)[:3]) == b"111"


def test_close_waits_for_views(store_name):
    s = _core.Store(store_name, capacity=4 << 20)
    s.put(None, "x", b"z" * 100_000)
    v = s.get(None, "x")
    m = memoryview(v)
    s.close()
    assert s.closed
    with pytest.raises(bp.BrainClientDisconnectedError):
        s.put(None, "y", b"")
    assert bytes(m[:2]) == b"zz"  # mapping still alive
    del m, v
    gc.collect()


def test_put_many_get_many(store):
    vs = store.put_many([(None, "a", b"1"), ("n2", "b", "2".encode(), _core.TYPE_STR)])
    assert len(vs) == 2 and vs[1] > vs[0]
    views = store.get_many([(None, "a"), ("n2", "b")])
    assert [bytes(memoryview(v)) for v in views] == [b"1", b"2"]
    with pytest.raises(bp.BrainNameNotExistError) as ei:
        store.get_many([(None, "a"), (None, "missing")])
    assert ei.value.index == 1
    with pytest.raises(bp.BrainVersionConflictError) as ei:
        store.put_many([(None, "c", b"3"), (None, "a", b"x", 0, None, 0, 12345)])
    assert ei.value.index == 1
    assert not store.exists(None, "c")  # all or nothing


def test_list_names_namespaces_clear(store):
    store.put(None, "a", b"1")
    store.put("other", "b", b"2")
    assert store.names() == ["a"]
    assert sorted(store.names(all=True)) == ["a", "b"]
    assert [d["name"] for d in store.list("other")] == ["b"]
    nss = {d["name"]: d for d in store.namespaces()}
    assert nss["other"]["names"] == 1 and "default" in nss
    assert store.ns_clear("other") == 1
    assert store.names("other") == []


def test_versions_wait_expire(store):
    v = store.put(None, "a", b"1")
    assert store.version() >= v
    assert store.wait(None, "a", 0, 0) == v
    with pytest.raises(bp.BrainTimeoutError):
        store.wait(None, "a", v, 50)
    store.put(None, "t", b"1", ttl_ms=1)
    import time

    time.sleep(0.01)
    assert not store.exists(None, "t")
    assert store.expire() in (0, 1)


def test_stats_resize_reap_check(store):
    st = store.stats()
    assert st["capacity"] == 16 << 20 and st["used"] > 0
    store.resize(32 << 20)
    assert store.stats()["capacity"] == 32 << 20
    assert store.reap() >= 0
    assert store.check() == []


def test_array_layout_roundtrip():
    raw = _core.array_pack("<i4", (2, 3), bytes(24))
    dtype, shape, off, nbytes = _core.array_parse(raw)
    assert (dtype, shape, off % 64, nbytes) == ("<i4", (2, 3), 0, 24)
    with pytest.raises(bp.BrainValueTypeError):
        _core.array_pack("O", (1,), b"12345678")
    with pytest.raises(ValueError):
        _core.array_pack("<i4", (2,), b"123")
    with pytest.raises(bp.BrainValueTypeError):
        _core.array_parse(b"not an array at all, not at all, no" * 3)


def test_pickle_layout_aligns_buffers():
    raw = _core.pickle_pack(b"stream", [b"a" * 10, b"b" * 100])
    (so, sl), bufs = _core.pickle_parse(raw)
    assert raw[so:so + sl] == b"stream"
    assert [o % 64 for o, _ in bufs] == [0, 0]
    assert [raw[o:o + n] for o, n in bufs] == [b"a" * 10, b"b" * 100]


def test_put_pickle_writes_in_place(store):
    store.put_pickle(None, "p", b"S", [b"x" * 1000])
    t, v = store.fetch(None, "p", small=0)
    assert t == _core.TYPE_PICKLE
    (so, sl), bufs = _core.pickle_parse(v)
    assert bytes(memoryview(v)[so:so + sl]) == b"S"


def test_bad_arguments(store):
    with pytest.raises(TypeError):
        store.put(None, 1, b"x")
    with pytest.raises(TypeError):
        store.put(None, "a", "not bytes")
    with pytest.raises(bp.BrainNameError):
        store.put(None, "", b"x")
    with pytest.raises(bp.BrainNamespaceNameError):
        store.put("bad\nns", "a", b"x")
    with pytest.raises(bp.BrainValueTypeError):
        store.put(None, "a", b"\xff\xfe", type=_core.TYPE_STR)


def test_refcounts_do_not_leak(store):
    store.put(None, "x", b"q" * 100_000)
    v = store.get(None, "x")
    before = sys.getrefcount(store)
    for _ in range(100):
        m = memoryview(v)
        m.release()
        store.fetch(None, "x")
    assert sys.getrefcount(store) == before


def test_malformed_layouts_are_refused_on_put(store):
    with pytest.raises(bp.BrainValueTypeError):
        store.put(None, "p", b"\x00" * 200, type=_core.TYPE_PICKLE)
    with pytest.raises(bp.BrainValueTypeError):
        store.put(None, "a", b"\x00" * 200, type=_core.TYPE_ARRAY)
    assert not store.exists(None, "p") and not store.exists(None, "a")


def test_store_context_manager_and_weakref(store_name):
    import weakref

    with _core.Store(store_name, capacity=4 << 20) as s:
        s.put(None, "a", b"1")
        r = weakref.ref(s)
    assert s.closed and r() is s
    with pytest.raises(bp.BrainClientDisconnectedError):
        s.meta(None, "a")
    del s
    gc.collect()
    assert r() is None


def test_view_cannot_be_made_directly():
    with pytest.raises(TypeError):
        _core.View()

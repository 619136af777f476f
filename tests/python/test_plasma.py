"""brain_plasma.plasma: the usage patterns of Arrow 11's Plasma docs and of
its Python tests (pyarrow/tests/test_plasma.py), ported to our store, and
the Brain <-> Plasma bridge."""
import os
import pickle
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pandas as pd
import pytest

import brain_plasma as bp
from brain_plasma import Brain, _core, plasma
from conftest import random_object_id, run_python


# ---- ObjectID ----------------------------------------------------------------

def test_object_id():
    raw = bytes(range(20))
    a, b = plasma.ObjectID(raw), plasma.ObjectID(raw)
    assert a == b and hash(a) == hash(b) and a.binary() == raw and len({a, b}) == 1
    assert a != plasma.ObjectID.from_random()
    assert plasma.ObjectID.from_random() != plasma.ObjectID.from_random()
    assert repr(a) == "ObjectID(%s)" % raw.hex()
    assert pickle.loads(pickle.dumps(a)) == a
    assert (a == raw) is False  # an ObjectID is not its bytes


@pytest.mark.parametrize("bad", [b"short", b"x" * 21, "x" * 20, 12, None])
def test_object_id_bad_input(bad):
    with pytest.raises(bp.BrainValueError) as ei:
        plasma.ObjectID(bad)
    assert "20 bytes" in str(ei.value) and "from_random" in str(ei.value)
    assert isinstance(ei.value, ValueError)


# ---- put / get -------------------------------------------------------------------

def test_put_get_python_values(client):
    for value in [1, "a str", b"bytes", [1, 2.5, "x"], {"k": (1, 2)}, None]:
        oid = client.put(value)
        assert isinstance(oid, plasma.ObjectID)
        assert client.get(oid) == value
    oid = random_object_id()
    assert client.put("given", oid) == oid and client.get(oid, timeout_ms=0) == "given"


def test_put_get_numpy_zero_copy(client):
    arr = np.random.rand(1000, 10)
    oid = client.put(arr)
    got = client.get(oid)
    np.testing.assert_array_equal(got, arr)
    assert not got.flags.writeable  # a view of the store, not a copy
    with pytest.raises(ValueError):
        got[0, 0] = 1.0
    # several at once, in order
    ids = [client.put(np.full(5, i)) for i in range(4)]
    assert [int(a[0]) for a in client.get(ids)] == [0, 1, 2, 3]


def test_put_get_pandas(client):
    df = pd.DataFrame({"a": np.arange(1000), "b": np.random.rand(1000),
                       "s": ["x%d" % i for i in range(1000)]})
    oid = client.put(df)
    pd.testing.assert_frame_equal(client.get(oid), df)
    s = pd.Series(np.arange(10.0), name="n")
    pd.testing.assert_series_equal(client.get(client.put(s)), s)


def test_get_missing_is_object_not_available(client):
    oid = random_object_id()
    t0 = time.monotonic()
    assert client.get(oid, timeout_ms=50) is plasma.ObjectNotAvailable
    assert time.monotonic() - t0 >= 0.045
    present = client.put(7)
    assert client.get([present, oid], timeout_ms=0) == [7, plasma.ObjectNotAvailable]
    assert client.get_buffers([oid], timeout_ms=0) == [None]
    assert client.get_buffers([oid], timeout_ms=0, with_meta=True) == [(None, None)]


def test_put_existing_id_raises(client):
    oid = client.put(1)
    with pytest.raises(plasma.PlasmaObjectExists) as ei:
        client.put(2, oid)
    assert oid.hex() in str(ei.value) and "immutable" in str(ei.value)
    with pytest.raises(plasma.PlasmaObjectExists):
        client.put_raw_buffer(b"x", oid)
    with pytest.raises(plasma.PlasmaObjectExists):
        client.create(oid, 10)
    assert client.get(oid) == 1  # unchanged
    brain_value = Brain(path=client.store_socket_name)
    brain_value["v"] = 1
    with pytest.raises(plasma.PlasmaObjectExists):  # a Brain value's id is taken too
        client.put(2, brain_value.object_id("v"))
    assert brain_value["v"] == 1


def test_put_raw_buffer_and_get_buffers(client):
    data = np.arange(256, dtype=np.uint8).tobytes() * 40
    oid = client.put_raw_buffer(data, metadata=b"meta")
    [buf] = client.get_buffers([oid])
    assert bytes(buf) == data and buf.readonly and len(buf) == len(data)
    with pytest.raises(TypeError):
        buf[0] = 1  # read-only
    [(meta, buf2)] = client.get_buffers([oid], with_meta=True)
    assert meta == b"meta" and bytes(buf2) == data
    assert client.get_metadata([oid]) == [b"meta"]
    assert client.get(oid) == data  # raw bytes come back as bytes
    arr = np.frombuffer(client.get_buffers([oid])[0], dtype=np.uint8)
    assert arr[255] == 255 and not arr.flags.writeable
    client.put_raw_buffer(np.arange(10.0), random_object_id())  # any contiguous buffer


# ---- create / seal ----------------------------------------------------------------

def test_create_and_seal(client):
    oid = random_object_id()
    length = 1000
    memory_buffer = np.frombuffer(client.create(oid, length, b"md"), dtype="uint8")
    for i in range(length):
        memory_buffer[i] = i % 256
    assert not client.contains(oid)
    assert client.list()[oid]["state"] == "created"
    client.seal(oid)
    assert client.contains(oid)
    info = client.list()[oid]
    assert info["state"] == "sealed" and info["data_size"] == length
    assert info["metadata_size"] == 2
    [buf] = client.get_buffers([oid])
    assert np.array_equal(np.frombuffer(buf, dtype="uint8"), np.arange(length) % 256)


def test_create_errors(client):
    oid = random_object_id()
    client.create(oid, 10)
    with pytest.raises(plasma.PlasmaObjectExists):
        client.create(oid, 10)  # being created
    client.seal(oid)
    with pytest.raises(plasma.PlasmaObjectExists) as ei:
        client.seal(oid)
    assert "already sealed" in str(ei.value)
    with pytest.raises(plasma.PlasmaObjectNonexistent) as ei:
        client.seal(random_object_id())
    assert "create" in str(ei.value)
    with pytest.raises(bp.BrainValueError) as ei:
        client.create(random_object_id(), -1)
    assert "data_size" in str(ei.value)
    with pytest.raises(bp.BrainValueError) as ei:
        client.create(random_object_id(), 1, metadata=b"m" * 5000)
    assert "metadata is at most" in str(ei.value)
    with pytest.raises(bp.BrainValueError) as ei:
        client.create(b"x" * 20, 1)
    assert "plasma.ObjectID" in str(ei.value)


def test_get_of_unsealed_object_times_out_then_sees_the_seal(client, store_name):
    oid = random_object_id()
    buf = client.create(oid, 4)
    buf[:] = b"abcd"
    t0 = time.monotonic()
    assert client.get(oid, timeout_ms=100) is plasma.ObjectNotAvailable
    assert time.monotonic() - t0 >= 0.095
    assert client.get_buffers([oid], timeout_ms=10) == [None]
    # a blocked get in another client wakes up when the object is sealed
    other = plasma.connect(store_name)
    out = []
    t = threading.Thread(target=lambda: out.append(other.get(oid, timeout_ms=10_000)))
    t.start()
    time.sleep(0.2)
    client.seal(oid)
    t.join(10)
    assert out == [b"abcd"]


def test_get_waits_for_another_process(client, store_name):
    oid = random_object_id()
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import sys, time
        from brain_plasma import plasma
        c = plasma.connect(sys.argv[1])
        time.sleep(0.3)
        c.put({"from": "child"}, plasma.ObjectID(bytes.fromhex(sys.argv[2])))
    """), store_name, oid.hex()])
    try:
        assert client.get(oid, timeout_ms=20_000) == {"from": "child"}
    finally:
        assert child.wait(30) == 0


# ---- zero-copy in a second process --------------------------------------------------

@pytest.mark.skipif(not sys.platform.startswith("linux"),
                    reason="reads the mappings from /proc/self/maps (Linux's)")
def test_zero_copy_read_in_a_second_process(client, brain):
    arr = np.arange(2_000_000, dtype=np.int64)
    oid = client.put(arr)
    out = run_python("""
        import sys
        import numpy as np
        from brain_plasma import plasma
        c = plasma.connect(sys.argv[1])
        oid = plasma.ObjectID(bytes.fromhex(sys.argv[2]))
        a = c.get(oid)
        addr = a.__array_interface__["data"][0]
        inside = False
        for line in open("/proc/self/maps"):
            parts = line.split()
            if len(parts) >= 6 and parts[5] == sys.argv[3]:
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                inside = inside or lo <= addr < hi
        [buf] = c.get_buffers([oid])
        print(int(a.sum()), a.flags.writeable, inside, buf.readonly)
    """, brain._c().path, oid.hex(), brain.path)
    assert out.split() == [str(int(arr.sum())), "False", "True", "True"]


# ---- delete, release, evict ------------------------------------------------------------

def test_delete_of_an_object_in_use(client):
    data = b"y" * 100_000
    oid = client.put_raw_buffer(data)
    [buf] = client.get_buffers([oid])
    arr = client.get(client.put(np.arange(100_000)))
    client.delete([oid])
    assert not client.contains(oid)
    assert client.get(oid, timeout_ms=0) is plasma.ObjectNotAvailable
    assert bytes(buf) == data  # the buffer handed out stays valid
    assert arr.sum() == np.arange(100_000).sum()
    client.release(oid)
    assert bytes(buf) == data  # still alive while buf lives
    client.delete([oid, random_object_id()])  # missing ids are skipped


def test_evict_deletes_plasma_objects_oldest_first_never_brain_names(client, brain):
    brain["keep"] = b"k" * 10_000
    first = client.put_raw_buffer(b"a" * 10_000)
    time.sleep(0.01)
    second = client.put_raw_buffer(b"b" * 10_000)
    freed = client.evict(5_000)
    assert freed == 10_000
    assert not client.contains(first) and client.contains(second)
    assert client.evict(10**9) == 10_000
    assert brain["keep"] == b"k" * 10_000
    with pytest.raises(bp.BrainValueError):
        client.evict(-1)


def test_more_buffers_than_the_pin_table_holds(client):
    n = _core.PINS_PER_PROC + 20
    ids = [client.put_raw_buffer(b"%05d" % i) for i in range(n)]
    bufs = client.get_buffers(ids)  # the last ones are private copies
    assert [bytes(b) for b in bufs] == [b"%05d" % i for i in range(n)]
    assert all(b.readonly for b in bufs)
    assert client.get(ids[-1]) == b"%05d" % (n - 1)
    assert len(client.hash(ids[-1])) == 8
    for oid in ids:
        client.release(oid)
    del bufs


# ---- list, hash, capacity ------------------------------------------------------------------

def test_list_hash_capacity(client, brain):
    oid = client.put_raw_buffer(b"12345", metadata=b"m")
    listed = client.list()
    info = listed[oid]
    assert info["data_size"] == 5 and info["metadata_size"] == 1
    assert info["state"] == "sealed" and abs(info["create_time"] - time.time()) < 60
    assert info["construct_duration"] >= 0 and info["ref_count"] == 0
    client.get_buffers([oid])
    assert client.list()[oid]["ref_count"] == 1
    assert 63_000_000 < client.store_capacity() <= 64_000_000
    same = client.put_raw_buffer(b"12345", metadata=b"m")
    other = client.put_raw_buffer(b"12346", metadata=b"m")
    h = client.hash(oid)
    assert len(h) == 8 and h == client.hash(same) != client.hash(other)
    assert client.hash(random_object_id()) == b""


# ---- notifications ------------------------------------------------------------------------

def test_subscribe_and_notifications(client, store_name):
    client.subscribe()
    producer = plasma.connect(store_name)
    ids = []
    for i in range(3):
        ids.append(producer.put_raw_buffer(b"x" * (i + 1), metadata=b"m" * i))
    got = [client.get_next_notification() for _ in range(3)]
    assert got == [(ids[i], i + 1, i) for i in range(3)]
    producer.delete([ids[0]])
    assert client.get_next_notification() == (ids[0], -1, -1)
    with pytest.raises(bp.BrainTimeoutError):
        client.get_next_notification(timeout_ms=50)
    # one sealed in another thread wakes a waiting subscriber
    later = random_object_id()
    threading.Timer(0.2, lambda: producer.put(1, later)).start()
    oid, size, msize = client.get_next_notification(timeout_ms=10_000)
    assert oid == later and size > 0 and msize == 0


def test_notification_before_subscribe(client):
    with pytest.raises(bp.BrainValueError) as ei:
        client.get_next_notification()
    assert "subscribe" in str(ei.value)


# ---- a full store ----------------------------------------------------------------------------

def test_full_store(store_name):
    Brain(path=store_name, size="4MiB")
    c = plasma.connect(store_name)
    with pytest.raises(plasma.PlasmaStoreFull) as ei:
        c.create(random_object_id(), 8 << 20)
    assert "capacity" in str(ei.value)
    assert isinstance(ei.value, bp.BrainStoreFullError)
    held = []
    with pytest.raises(plasma.PlasmaStoreFull) as ei:
        for _ in range(100):
            held.append(c.put(np.zeros(100_000, dtype=np.uint8)))
    assert "delete objects" in str(ei.value) or "evict" in str(ei.value)
    assert 20 < len(held) < 100
    assert all(c.contains(o) for o in held)  # nothing stored was lost
    assert c.evict(1_000_000) >= 1_000_000
    c.put(np.zeros(100_000, dtype=np.uint8))  # fits again


# ---- errors ------------------------------------------------------------------------------------

def test_bad_inputs(client):
    with pytest.raises(bp.BrainValueError) as ei:
        client.get(b"x" * 20)
    assert "plasma.ObjectID" in str(ei.value)
    with pytest.raises(bp.BrainValueError) as ei:
        client.get_buffers(random_object_id())
    assert "list" in str(ei.value)
    with pytest.raises(bp.BrainValueError) as ei:
        client.get(random_object_id(), timeout_ms=-5)
    assert "timeout_ms" in str(ei.value)
    with pytest.raises(bp.BrainValueError) as ei:
        client.put(1, serialization_context=object())
    assert "Arrow 12" in str(ei.value)
    with pytest.raises(bp.BrainValueError) as ei:
        client.put_raw_buffer(12)
    assert "buffer" in str(ei.value)
    with pytest.raises(bp.BrainSerializationError):
        client.put(lambda: 1)
    with pytest.raises(bp.BrainValueError) as ei:
        client.delete(random_object_id())
    assert "list" in str(ei.value)


def test_connect_errors_and_disconnect(store_name, tmp_path):
    with pytest.raises(bp.BrainStoreNotFoundError) as ei:
        plasma.connect(str(tmp_path / "nothing"), num_retries=1)
    assert "plasma_store -m SIZE -s" in str(ei.value)
    with pytest.raises(bp.BrainValueError):
        plasma.connect("")
    with pytest.raises(bp.BrainValueError):
        plasma.connect(store_name, num_retries=-3)
    Brain(path=store_name)
    c = plasma.connect(store_name, "", 0)  # the old three-argument form
    assert c.store_socket_name == store_name
    oid = c.put(1)
    c.disconnect()
    with pytest.raises(bp.BrainClientDisconnectedError) as ei:
        c.get(oid)
    assert "plasma.connect" in str(ei.value)
    assert plasma.connect(store_name).get(oid) == 1  # the object outlives the client


def test_connect_waits_for_the_store(tmp_path):
    path = str(tmp_path / "plasma")
    threading.Timer(0.3, lambda: Brain(path=path, size="4MiB")).start()
    c = plasma.connect(path, num_retries=100)
    assert c.put(1) is not None
    _core.destroy(path)


# ---- Brain and Plasma on one store ----------------------------------------------------------

def test_brain_value_id_works_with_the_client(brain):
    brain["frame"] = pd.DataFrame({"a": [1, 2, 3]})
    brain["n"] = 5
    value = brain.client.get(plasma.ObjectID(brain.metadata("frame")["value_id"]))
    pd.testing.assert_frame_equal(value, brain["frame"])
    assert brain.client.get(brain.object_id("n")) == 5
    assert brain.client.contains(brain.object_id("n"))
    assert brain.object_id("n") in brain.client.list()
    old = brain.object_id("n")
    brain["n"] = 6  # a new value, a new id; the old one is gone
    assert brain.client.get(old, timeout_ms=0) is plasma.ObjectNotAvailable
    brain.client.delete([brain.object_id("n")])  # deleting a value forgets its name
    assert "n" not in brain


def test_names_and_objects_coexist(brain, store_name):
    oid = brain.client.put("an object")
    brain["name"] = "a value"
    assert brain.names() == ["name"] and brain.names("all") == ["name"]
    assert brain.client.get(oid) == "an object"
    brain.clear()
    assert brain.client.get(oid) == "an object"
    other = Brain(path=store_name, namespace="other")
    other["name"] = 1
    assert brain.client is other.client


def test_client_of_a_safe_brain_never_unpickles(store_name, brain):
    brain["pickled"] = {1, 2}  # a set: pickled
    safe = Brain(path=store_name, serializer="safe")
    assert safe.client is not brain.client and safe.client is safe.client
    with pytest.raises(bp.BrainSerializationError) as ei:
        safe.client.get(safe.object_id("pickled"))
    assert "safe" in str(ei.value)
    with pytest.raises(bp.BrainSerializationError):
        safe.client.put({1, 2})
    assert safe.client.get(safe.client.put({"json": [1, 2]})) == {"json": [1, 2]}
    assert brain.client.get(brain.object_id("pickled")) == {1, 2}


def test_metadata_of_one_name_and_object_ids(brain):
    brain.learn([1], "a", description="the a")
    brain["b"] = 2
    md = brain.metadata("a")
    assert md["name"] == "a" and md["description"] == "the a" and md["namespace"] == "default"
    assert md["value_id"] == brain.info("a")["object_id"] and len(md["metadata_id"]) == 20
    assert md["metadata_id"].startswith(b"default")  # 0.3.3's layout
    assert set(brain.metadata("a", "b")) == {"a", "b"}
    assert isinstance(brain.object_id("a"), plasma.ObjectID)
    ids = brain.object_ids()
    assert set(ids) == {"a", "b"} and all(isinstance(i, plasma.ObjectID) for i in ids.values())
    assert ids["a"].binary() == md["value_id"]
    with pytest.raises(TypeError) as ei:
        brain.metadata(output="set")
    assert isinstance(ei.value, bp.BrainError) and "'dict' or 'list'" in str(ei.value)


def test_033_exception_names(brain):
    for name in ("BrainLearnNameError", "BrainUpdateNameError",
                 "BrainRemoveOldNameValueError", "BrainNamespaceNameError",
                 "BrainNamespaceRemoveDefaultError", "BrainNamespaceNotExistError",
                 "BrainNameNotExistError", "BrainNameLengthError", "BrainNameTypeError",
                 "BrainClientDisconnectedError"):
        assert issubclass(getattr(bp.exceptions, name), bp.BrainError)
        assert getattr(bp, name) is getattr(bp.exceptions, name)
    assert issubclass(bp.BrainUpdateNameError, bp.BrainLearnNameError)
    # a failed learn of a new name
    with pytest.raises(bp.BrainLearnNameError) as ei:
        brain.learn(lambda: 1, "new")
    assert isinstance(ei.value, bp.BrainSerializationError)
    assert not isinstance(ei.value, bp.BrainUpdateNameError)
    assert "new" not in brain
    # a failed update keeps the old value
    brain["old"] = 1
    with pytest.raises(bp.BrainUpdateNameError) as ei:
        brain["old"] = np.zeros(100_000_000, dtype=np.uint8)
    assert isinstance(ei.value, bp.BrainStoreFullError) and "cannot hold" in str(ei.value)
    assert brain["old"] == 1
    e = pickle.loads(pickle.dumps(ei.value))
    assert type(e) is bp.BrainStoreFullError and str(e) == str(ei.value)
    # bad names raise as they are
    with pytest.raises(bp.BrainNameTypeError):
        brain.learn(1, 2)


def test_learn_keywords_work_in_both_orders(brain):
    brain.learn(name="k", thing=1)  # brain-plasma 0.3.3's order, by keyword
    brain.learn(thing=2, name="j")
    brain.learn(3, "i")  # the seed's (thing, name) order
    assert (brain["k"], brain["j"], brain["i"]) == (1, 2, 3)


# ---- brain-plasma 0.3.3's README, unchanged ----------------------------------------------------

def test_brain_plasma_033_readme(store_name, monkeypatch):
    import brain_plasma.brain

    # Brain() is the default store: point it at this test's store
    monkeypatch.setattr(brain_plasma.brain, "DEFAULT_STORE", store_name)
    # -- the README's Basic Use, as written (it used pd without importing it) --
    from brain_plasma import Brain
    brain = Brain()

    this = 'a text object'
    those = pd.DataFrame(dict(this=[1,2,3,4],that=[4,5,6,7]))  # noqa: F841,E231

    brain['this'] = this

    assert brain['this'] == 'a text object'

    assert brain.names() == ['this']

    del brain['this'] # remove the object from the brain's memory
    with pytest.raises(KeyError):
        brain['this']

    assert brain.names() == [] # object is gone

    # -- Namespaces --
    brain['this'] = 'default text object'
    brain.set_namespace('newname')
    brain['this'] = 'newname text object'

    brain.set_namespace('default')
    assert brain['this'] == 'default text object'

    assert brain.names(namespaces='all') == ['this','this']  # noqa: E231

    # -- the API reference --
    brain = Brain(path=store_name, namespace='default')
    assert brain.client.store_capacity() == brain.bytes and brain.mb.endswith(" MB")
    assert brain.namespace == 'default'
    # 0.3.3 wrote learn(name, thing); the seed's (thing, name) order wins here, and
    # a positional 0.3.3 call with a non-str value says so (docs/migration.md)
    with pytest.raises(bp.BrainNameTypeError) as ei:
        brain.learn('x', 5)
    assert "names are str" in str(ei.value)
    brain.learn(name='x', thing=5)  # keywords work for both
    assert brain.recall('x') == 5
    brain.forget('this')
    brain['y'] = 1
    assert isinstance(brain.object_id('y'), plasma.ObjectID)
    assert brain.object_ids()['y'] == brain.object_id('y')
    assert 'y' in brain.names(namespace='default')
    assert all(isinstance(i, plasma.ObjectID) for i in brain.ids())
    md = brain.metadata('y')
    assert {'name', 'metadata_id', 'value_id', 'description', 'namespace'} <= set(md)
    assert brain.size() > 0 and 0 < brain.used() < brain.size() and brain.free() > 0
    assert brain.set_namespace('newname') == 'newname'
    assert 'newname' in brain.namespaces()
    brain.remove_namespace('newname')
    assert brain.namespace == 'default'
    brain.sleep()
    brain.wake_up()
    assert brain['y'] == 1
    from brain_plasma.exceptions import (  # noqa: F401
        BrainNamespaceNameError,
        BrainNamespaceNotExistError,
        BrainNamespaceRemoveDefaultError,
        BrainNameLengthError,
        BrainNameTypeError,
        BrainClientDisconnectedError,
        BrainRemoveOldNameValueError,
        BrainLearnNameError,
        BrainUpdateNameError,
    )


# ---- the plasma_store command -------------------------------------------------------------------

def _plasma_store():
    exe = os.path.join(os.path.dirname(sys.executable), "plasma_store")
    assert os.path.exists(exe), "plasma_store is not installed (pip install -e .)"
    return exe


def _start_store(*args):
    p = subprocess.Popen([_plasma_store(), *args], stderr=subprocess.PIPE, text=True)
    lines = []
    while True:  # log lines up to the one saying the store is ready
        line = p.stderr.readline()
        lines.append(line)
        if "ready" in line:
            p.early_log = "".join(lines)
            return p
        if not line:  # it exited
            p.wait(30)
            raise AssertionError("plasma_store did not start:\n" + "".join(lines))


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_plasma_store_command(tmp_path, sig):
    import signal

    path = str(tmp_path / "plasma")
    p = _start_store("-m", "50000000", "-s", path)
    try:
        c = plasma.connect(path, num_retries=0)
        assert 49_000_000 < c.store_capacity() <= 50_000_000
        oid = c.put(np.arange(10))
        assert run_python("""
            import sys
            from brain_plasma import plasma
            c = plasma.connect(sys.argv[1])
            print(int(c.get(plasma.ObjectID(bytes.fromhex(sys.argv[2]))).sum()))
        """, path, oid.hex()).strip() == "45"
        assert Brain(path=path).client.get(oid).sum() == 45  # Brain(path=...) too
        p.send_signal(getattr(signal, sig))
        rc, log = p.wait(30), p.stderr.read()
        assert rc == 0, log
        assert "stopped on " + sig in log
        assert os.path.exists(path)  # the store and its objects stay
        assert plasma.connect(path).get(oid).sum() == 45
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stderr.close()
        _core.destroy(path)


def test_plasma_store_destroy_on_exit_and_existing_store(tmp_path):
    path = str(tmp_path / "plasma")
    Brain(path=path, size="4MiB")["kept"] = 1
    p = _start_store("-m", "8MiB", "-s", path, "--destroy-on-exit")
    try:
        assert "resized the existing store" in p.early_log
        assert Brain(path=path)["kept"] == 1  # an existing store is attached to
        assert plasma.connect(path).store_capacity() == 8 << 20  # and resized to -m
        p.terminate()
        rc, log = p.wait(30), p.stderr.read()
        assert rc == 0, log
        assert "removed the store" in log
        assert not os.path.exists(path)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stderr.close()


@pytest.mark.parametrize("args,rc,message", [
    (["-m", "12x", "-s", "/tmp/x"], 2, "'12x' is not a size"),
    (["-m", "1000", "-s", "/tmp/x"], 2, "outside the store's range"),
    (["-s", "/tmp/x"], 2, "-m"),
    (["-m", "10MB"], 2, "-s"),
    (["-m", "10MB", "-s", "/no/such/folder/plasma"], 2, "does not exist"),
    (["-m", "10MB", "-s", "/tmp"], 2, "is a folder"),
    (["-m", "10MB", "-s", "NOTASTORE"], 1, "not a brain store"),
])
def test_plasma_store_bad_arguments(args, rc, message, tmp_path):
    if "NOTASTORE" in args:
        (tmp_path / "f").write_bytes(b"not a store" * 1000)
        args = [str(tmp_path / "f") if a == "NOTASTORE" else a for a in args]
    proc = subprocess.run([_plasma_store(), *args], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == rc, proc.stderr
    assert message in proc.stderr


# ---- brain-plasma 0.3.3's own tests (tests/test_brain.py), ported ---------------------------
# Changes: `from brain_plasma import plasma` for pyarrow's, a store of this
# test for the mocked client, learn by keyword (0.3's positional order is
# swapped here: docs/migration.md), and 0.3's 5-15 character namespace rule
# left out (any 1-64 byte namespace is valid here).

@pytest.fixture
def brain033(store_name, monkeypatch):
    import brain_plasma.brain

    monkeypatch.setattr(brain_plasma.brain, "DEFAULT_STORE", store_name)
    b = Brain()
    yield b
    b.sleep()


def test_033_init(brain033, store_name):
    assert brain033.namespace == "default" and hasattr(brain033, "client")
    assert Brain(namespace="nondefault").namespace == "nondefault"


def test_033_recall_learn_exists(brain033):
    brain = brain033
    with pytest.raises(KeyError):
        brain.recall("this")
    brain.learn(name="this", thing="that")
    assert brain.exists("this")
    assert brain.recall("this") == "that"
    out = brain.metadata("this")
    assert "name" in out
    assert brain.client.get(plasma.ObjectID(out["value_id"])) == "that"


def test_033_mapping_names_namespaces(brain033):
    brain = brain033
    brain["this"] = "that"
    assert brain["this"] == "that" and brain.exists("this")
    assert "this" in brain.names()
    brain.set_namespace("newspace")
    brain["that"] = "other"
    assert "this" in brain.names(namespace="all")
    brain["this"] = "this"
    assert brain["this"] == "this"
    brain.set_namespace("default")
    assert brain["this"] == "that"
    del brain["this"]
    assert not brain.exists("this")
    with pytest.raises(KeyError):
        brain["this"]


def test_033_ids_and_metadata(brain033):
    brain = brain033
    brain["this"] = "that"
    assert len(brain.ids())
    assert brain.object_id("this") == plasma.ObjectID(brain.metadata("this").get("value_id"))
    assert brain.object_ids() == {
        "this": plasma.ObjectID(brain.metadata("this").get("value_id"))
    }
    assert len(brain.metadata()) == 1
    with pytest.raises(TypeError):
        brain.metadata("this", output="int")


def test_033_set_and_remove_namespace(brain033):
    brain = brain033
    assert brain.namespace == "default"
    brain.set_namespace("somespace")
    assert brain.namespace == "somespace"
    brain["that"] = "this"
    brain.remove_namespace("somespace")
    assert brain.namespace == "default"
    assert not "that" in brain  # noqa: E713
    with pytest.raises(bp.BrainNamespaceNameError):
        brain.set_namespace("x" * 65)  # too long here too (64 bytes at most)

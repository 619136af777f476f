"""plasma create/seal writing in place: create() hands out room in the store
itself (a _core.Reservation over brain_reserve), seal() publishes it with no
copy (brain_publish_view).  The patterns of Arrow 11's Plasma docs, the
zero-copy proof (the writer's buffer and a reader's are the same pages of
the store file), and the bad paths: seal twice, unknown ids, existing ids,
too big, use after release/abort, writers that exit, fork children."""
import gc
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import brain_plasma as bp
from brain_plasma import Brain, _core, plasma
from conftest import random_object_id, run_python


def used(brain):
    return brain._c().stats()["used"]


# where a buffer lies in the store file is read from Linux's /proc/self/maps
needs_proc_maps = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                     reason="reads /proc/self/maps (Linux)")


def address(buf):
    return np.frombuffer(buf, dtype=np.uint8).__array_interface__["data"][0]


def file_offset(addr, path):
    """Where ADDR lies in the store file PATH, from /proc/self/maps (the
    store maps the file twice: read-write and read-only; matched by inode,
    as the creator maps it under a temporary name)."""
    inode = str(os.stat(path).st_ino)
    for line in open("/proc/self/maps"):
        parts = line.split()
        if len(parts) >= 6 and parts[4] == inode:
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            if lo <= addr < hi:
                return addr - lo + int(parts[2], 16)
    return None


# ---- Arrow 11's docs ---------------------------------------------------------------

def test_docs_create_memoryview_seal(client):
    # "Creating an Object" in Arrow 11's Plasma docs, verbatim but the import
    object_id = plasma.ObjectID(20 * b"a")
    buffer = memoryview(client.create(object_id, 1000))
    for i in range(1000):
        buffer[i] = i % 128
    client.seal(object_id)
    [buffer2] = client.get_buffers([object_id])
    view2 = memoryview(buffer2)
    assert view2[1] == 1 and view2[129] == 1
    assert bytes(buffer[1:4]) == bytes(view2[1:4])
    assert client.contains(object_id)


def test_docs_numpy_frombuffer_pattern(client):
    # the docs' numpy pattern: write a tensor into the Plasma-allocated buffer
    data = np.random.randn(10_000)
    oid = random_object_id()
    buf = client.create(oid, data.nbytes)
    arr = np.frombuffer(buf, dtype=data.dtype)
    assert arr.flags.writeable
    arr[:] = data
    client.seal(oid)
    [out] = client.get_buffers([oid])
    assert np.array_equal(np.frombuffer(out, dtype=np.float64), data)
    assert client.get(oid) == data.tobytes()  # a raw buffer comes back as bytes


def test_buffer_api(client):
    oid = random_object_id()
    buf = client.create(oid, 16)
    assert len(buf) == 16 and buf.size == 16 and buf.is_mutable
    buf[:4] = b"abcd"
    buf[4] = ord("e")
    assert buf[0] == ord("a") and bytes(buf[:5]) == b"abcde"
    assert buf.to_pybytes()[:5] == b"abcde"
    assert client.list()[oid]["state"] == "created"
    assert client.list()[oid]["data_size"] == 16
    time.sleep(0.05)
    client.seal(oid)
    info = client.list()[oid]
    assert info["state"] == "sealed" and info["construct_duration"] >= 0.04
    assert not buf.is_mutable and bytes(buf[:5]) == b"abcde"  # still readable


def test_create_takes_room_in_the_store_not_in_the_process(brain, client):
    before = used(brain)
    oid = random_object_id()
    client.create(oid, 8 << 20)
    assert used(brain) >= before + (8 << 20)  # the room is the store's
    client.seal(oid)
    after = used(brain)
    assert after - before < (8 << 20) + 64 * 1024  # and sealing added no second copy


# ---- zero copy -----------------------------------------------------------------------

@needs_proc_maps
def test_seal_publishes_the_bytes_written_in_place(client, brain):
    n = 4 << 20
    oid = random_object_id()
    buf = client.create(oid, n)
    w = file_offset(address(buf), brain.path)
    assert w is not None  # the buffer is in the store file's mapping
    np.frombuffer(buf, dtype=np.uint8)[:] = 7
    client.seal(oid)
    [mine] = client.get_buffers([oid])
    assert file_offset(address(mine), brain.path) == w  # same bytes of the file
    out = run_python("""
        import sys
        import numpy as np
        from brain_plasma import plasma
        c = plasma.connect(sys.argv[1])
        [buf] = c.get_buffers([plasma.ObjectID(bytes.fromhex(sys.argv[2]))], timeout_ms=10_000)
        a = np.frombuffer(buf, dtype=np.uint8)
        addr = a.__array_interface__["data"][0]
        off = None
        for line in open("/proc/self/maps"):
            p = line.split()
            if len(p) >= 6 and p[5] == sys.argv[1]:
                lo, hi = (int(x, 16) for x in p[0].split("-"))
                if lo <= addr < hi:
                    off = addr - lo + int(p[2], 16)
        print(off, int(a.sum()), buf.readonly)
    """, brain.path, oid.hex())
    assert out.split() == [str(w), str(7 * n), "True"]


def test_reader_in_another_process_waits_for_the_seal(client, brain):
    oid = random_object_id()
    buf = client.create(oid, 1 << 20)
    reader = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import sys
        import numpy as np
        from brain_plasma import plasma
        c = plasma.connect(sys.argv[1])
        oid = plasma.ObjectID(bytes.fromhex(sys.argv[2]))
        assert c.get(oid, timeout_ms=0) is plasma.ObjectNotAvailable
        print("waiting", flush=True)
        [buf] = c.get_buffers([oid], timeout_ms=20_000)
        print(int(np.frombuffer(buf, dtype=np.uint8).sum()))
    """), brain.path, oid.hex()], stdout=subprocess.PIPE, text=True)
    assert reader.stdout.readline().strip() == "waiting"
    arr = np.frombuffer(buf, dtype=np.uint8)
    arr[:] = 3  # written through numpy before seal
    time.sleep(0.1)
    client.seal(oid)
    out, _ = reader.communicate(timeout=30)
    assert reader.returncode == 0 and out.split() == [str(3 << 20)]


def test_after_seal_the_buffer_is_read_only(client):
    oid = random_object_id()
    buf = client.create(oid, 100)
    early = np.frombuffer(buf, dtype=np.uint8)  # made before seal: keeps write access
    early[:] = 1
    client.seal(oid)
    with pytest.raises(bp.BrainValueError) as ei:
        buf[0] = 9
    assert "sealed" in str(ei.value) and "immutable" in str(ei.value)
    assert memoryview(buf).readonly
    late = np.frombuffer(buf, dtype=np.uint8)
    assert not late.flags.writeable
    with pytest.raises(ValueError):
        late[0] = 9
    assert bytes(client.get_buffers([oid])[0]) == b"\x01" * 100
    # Plasma's rule: a sealed object must not be written.  Arrays made from
    # the buffer before seal are the store's memory and keep their access:
    # a write through one is what every reader sees (it is not a copy)
    early[0] = 42
    assert client.get_buffers([oid])[0][0] == 42


def test_sealed_buffer_outlives_delete_and_the_store_reuses_nothing(brain, client, store_name):
    oid = random_object_id()
    buf = client.create(oid, 2 << 20)
    arr = np.frombuffer(buf, dtype=np.uint8)
    arr[:] = 5
    client.seal(oid)
    other = plasma.connect(store_name)
    other.delete([oid])
    assert not client.contains(oid)
    # fill the store: the deleted object's block stays pinned by the buffer
    with pytest.raises(plasma.PlasmaStoreFull):
        for _ in range(100):
            other.put_raw_buffer(np.full(1 << 20, 9, dtype=np.uint8))
    assert int(arr.sum()) == 5 * (2 << 20) and bytes(buf[:3]) == b"\x05\x05\x05"
    other.disconnect()
    assert brain.check() == []


# ---- bad paths ----------------------------------------------------------------------

def test_seal_twice_and_unknown_ids(client):
    oid = random_object_id()
    client.create(oid, 10)
    client.seal(oid)
    with pytest.raises(plasma.PlasmaObjectExists) as ei:
        client.seal(oid)
    assert "already sealed" in str(ei.value)
    with pytest.raises(plasma.PlasmaObjectNonexistent) as ei:
        client.seal(random_object_id())
    assert "not created by this client" in str(ei.value)
    with pytest.raises(plasma.PlasmaObjectNonexistent) as ei:
        client.abort(random_object_id())
    assert "between create and seal" in str(ei.value)


def test_create_of_an_existing_id(client, store_name):
    oid = random_object_id()
    mine = client.create(oid, 10)
    with pytest.raises(plasma.PlasmaObjectExists) as ei:
        client.create(oid, 10)  # being created by this client
    assert oid.hex() in str(ei.value) and "immutable" in str(ei.value)
    # another client creating the same id meanwhile loses at seal
    other = plasma.connect(store_name)
    obuf = other.create(oid, 10)
    obuf[:] = b"theirs...."
    mine[:] = b"mine......"
    client.seal(oid)
    with pytest.raises(plasma.PlasmaObjectExists) as ei:
        other.seal(oid)
    assert "sealed it first" in str(ei.value)
    assert client.get(oid) == b"mine......"  # the first seal stands
    with pytest.raises(bp.BrainValueError) as ei:
        obuf[0] = 1  # the loser's buffer was aborted
    assert "aborted" in str(ei.value)
    with pytest.raises(plasma.PlasmaObjectExists):
        client.create(oid, 10)  # sealed
    other.disconnect()


def test_create_bigger_than_the_store_and_a_full_store(store_name):
    b = Brain(path=store_name, size="4MiB")
    c = plasma.connect(store_name)
    before = b._c().stats()["used"]
    with pytest.raises(plasma.PlasmaStoreFull) as ei:
        c.create(random_object_id(), 8 << 20)
    assert "capacity" in str(ei.value) and isinstance(ei.value, bp.BrainStoreFullError)
    bufs = []
    with pytest.raises(plasma.PlasmaStoreFull) as ei:
        for _ in range(10):
            bufs.append(c.create(random_object_id(), 1 << 20))
    assert "does not fit" in str(ei.value)
    assert 1 <= len(bufs) < 10
    for oid in list(c.list()):
        c.release(oid)  # aborts the unsealed ones
    assert b._c().stats()["used"] == before
    c.disconnect()
    b.sleep()


def test_writes_cannot_pass_the_end(client):
    a, b_ = random_object_id(), random_object_id()
    buf_a = client.create(a, 100)
    buf_b = client.create(b_, 100)
    buf_b[:] = b"b" * 100
    buf_a[:] = b"a" * 100
    with pytest.raises(IndexError):
        buf_a[100] = 1
    with pytest.raises(ValueError):
        buf_a[90:110] = b"x" * 20
    mv = memoryview(buf_a)
    assert len(mv) == 100 and len(np.frombuffer(buf_a, dtype=np.uint8)) == 100
    with pytest.raises(IndexError):
        mv[100] = 1
    client.seal(a)
    client.seal(b_)
    assert client.get(a) == b"a" * 100 and client.get(b_) == b"b" * 100


def test_use_after_release_or_abort(brain, client):
    before = used(brain)
    oid = random_object_id()
    buf = client.create(oid, 1 << 20)
    client.release(oid)  # an unsealed object: aborted
    assert used(brain) == before
    for use in (lambda: buf.__setitem__(0, 1), lambda: memoryview(buf),
                lambda: np.frombuffer(buf, dtype=np.uint8), buf.to_pybytes):
        with pytest.raises(bp.BrainValueError) as ei:
            use()
        assert "aborted" in str(ei.value) and "create the object again" in str(ei.value)
    with pytest.raises(plasma.PlasmaObjectNonexistent):
        client.seal(oid)
    assert not client.contains(oid) and oid not in client.list()
    client.create(oid, 4)  # the id is free again
    client.abort(oid)


def test_abort_waits_for_arrays_made_from_the_buffer(brain, client):
    before = used(brain)
    oid = random_object_id()
    buf = client.create(oid, 1 << 20)
    arr = np.frombuffer(buf, dtype=np.uint8)
    client.abort(oid)
    assert buf.state == "aborting"
    arr[:] = 1  # still reserved memory: harmless, no other value has it
    assert used(brain) >= before + (1 << 20)
    del arr
    assert buf.state == "aborted" and used(brain) == before


def test_unsealed_objects_of_a_dropped_client_are_aborted(brain, store_name):
    before = used(brain)
    c = plasma.connect(store_name)
    buf = c.create(random_object_id(), 1 << 20)
    c.disconnect()
    assert used(brain) == before
    with pytest.raises(bp.BrainValueError):
        buf[0] = 1
    c = plasma.connect(store_name)
    c.create(random_object_id(), 1 << 20)  # buffer not kept
    del c
    gc.collect()
    assert used(brain) == before


# ---- processes ------------------------------------------------------------------------

WRITER = """
    import os, signal, sys
    import numpy as np
    from brain_plasma import plasma
    c = plasma.connect(sys.argv[1])
    oid = plasma.ObjectID(bytes.fromhex(sys.argv[2]))
    buf = c.create(oid, 1 << 20)
    arr = np.frombuffer(buf, dtype=np.uint8)
    arr[:] = 11
    if sys.argv[3] != "unsealed":
        c.seal(oid)
    sys.stdout.write("ready\\n"); sys.stdout.flush()
    how = sys.argv[3]
    if how == "exit":
        sys.exit(0)        # buf and arr still alive at interpreter exit
    if how == "_exit":
        os._exit(0)        # no cleanup at all
    signal.pause()         # "kill", "unsealed": wait for SIGKILL
"""


@pytest.mark.parametrize("how", ["exit", "_exit", "kill"])
def test_sealed_object_outlives_its_writer(client, brain, how):
    oid = random_object_id()
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(WRITER),
                             brain.path, oid.hex(), how], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    [buf] = client.get_buffers([oid], timeout_ms=10_000)
    if how == "kill":
        proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    brain._c().reap()
    assert int(np.frombuffer(buf, dtype=np.uint8).sum()) == 11 << 20
    assert client.get(oid) == b"\x0b" * (1 << 20)
    assert brain.check() == []


def test_unsealed_object_of_a_killed_writer_is_reclaimed(client, brain):
    before = used(brain)
    oid = random_object_id()
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(WRITER),
                             brain.path, oid.hex(), "unsealed"], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "ready"
    assert client.get(oid, timeout_ms=100) is plasma.ObjectNotAvailable
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    brain._c().reap()
    assert used(brain) == before
    assert client.get(oid, timeout_ms=0) is plasma.ObjectNotAvailable
    assert brain.check() == []


def _wait_child(pid):
    _, status = os.waitpid(pid, 0)
    return os.WEXITSTATUS(status)


def test_fork_child_with_an_unsealed_object(client, brain):
    oid = random_object_id()
    buf = client.create(oid, 64)
    buf[:8] = b"parent.."
    pid = os.fork()
    if pid == 0:  # child: must not run pytest's cleanup
        code = 1
        try:
            try:
                buf[0] = 1
            except bp.BrainError as exc:
                assert "fork child" in str(exc) and str(os.getppid()) in str(exc), exc
            else:
                raise AssertionError("the child wrote its parent's object")
            try:
                client.seal(oid)
            except plasma.PlasmaObjectNonexistent as exc:
                assert "forked" in str(exc) and "create it again" in str(exc), exc
            else:
                raise AssertionError("the child sealed its parent's object")
            assert oid not in client.list()
            mine = plasma.ObjectID.from_random()
            client.create(mine, 5)[:] = b"child"
            client.seal(mine)
            print(mine.hex(), flush=True)
            code = 0
        finally:
            os._exit(code)
    assert _wait_child(pid) == 0
    assert client.list()[oid]["state"] == "created"  # still the parent's
    buf[8:16] = b"writing."
    client.seal(oid)
    assert client.get(oid)[:16] == b"parent..writing."
    assert sum(1 for o, i in client.list().items() if i["data_size"] == 5) == 1
    brain._c().reap()
    assert brain.check() == []


# ---- the core type ---------------------------------------------------------------------

def test_reservation_bad_arguments(store):
    with pytest.raises(TypeError) as ei:
        _core.Reservation("not a store", "ns", "n", 1)
    assert "Store" in str(ei.value)
    with pytest.raises(bp.BrainValueError) as ei:
        _core.Reservation(store, "ns", "n", -1)
    assert "size" in str(ei.value)
    with pytest.raises(bp.BrainNameError):
        _core.Reservation(store, "ns", "", 1)
    r = _core.Reservation(store, "ns", "n", 3)
    r[:] = b"abc"
    assert r.seal() > 0 and r.state == "sealed"
    with pytest.raises(bp.BrainValueError) as ei:
        r.seal()
    assert "cannot seal 'n': the reservation is sealed" in str(ei.value)
    with pytest.raises(bp.BrainValueError) as ei:
        r.abort()
    assert "cannot abort" in str(ei.value)
    with pytest.raises(TypeError):
        del r[0]
    m = memoryview(r)
    assert r.exports == 1 and m.readonly
    m.release()
    assert r.exports == 0
    assert bytes(store.get("ns", "n")) == b"abc"


def test_bench_create_runs():
    """bench/bench_create.py at a small size: every variant runs, checks
    what it wrote and prints its row and the ratios (no timing asserted)."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    proc = subprocess.run([sys.executable, os.path.join(root, "bench", "bench_create.py"),
                           "--mb", "4", "--repeat", "1"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| ")]
    assert [r.split("|")[1].strip() for r in rows[1:]] == [
        "memcpy", "memcpy, fresh pages", "create + fill + seal", "create + seal, no fill",
        "put_raw_buffer", "copy path (before #13)"]
    assert "copy path / create:" in proc.stdout

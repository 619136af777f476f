"""Store.put_filled: a value written by a callback straight into its
reservation (the Redis Brain receives chunks from the socket this way)."""
import pytest

from brain_plasma import (
    BrainStoreFullError,
    BrainVersionConflictError,
    _core,
)


def test_fill_then_publish(store):
    def fill(mv):
        assert len(mv) == 100_000 and not mv.readonly
        mv[:] = bytes(range(100)) * 1000

    v = store.put_filled("ns", "a", 100_000, fill, type=_core.TYPE_BYTES, desc="d1")
    tag, data = store.read("ns", "a")
    assert tag == _core.TYPE_BYTES and data == bytes(range(100)) * 1000
    info = store.meta("ns", "a")
    assert info["version"] == v and info["description"] == "d1"


def test_a_failing_fill_stores_nothing_and_gives_the_space_back(store):
    free = store.stats()["free"]

    def fill(mv):
        mv[:10] = b"0123456789"
        raise ValueError("the socket went away")

    with pytest.raises(ValueError, match="the socket went away"):
        store.put_filled("ns", "a", 1 << 20, fill)
    assert not store.exists("ns", "a")
    assert store.stats()["free"] == free
    # a name that held a value keeps it
    store.put("ns", "b", b"old")
    with pytest.raises(ValueError):
        store.put_filled("ns", "b", 1 << 20, fill)
    assert store.read("ns", "b")[1] == b"old"


def test_the_view_dies_with_the_call(store):
    kept = []
    store.put_filled("ns", "a", 64, kept.append)
    with pytest.raises(ValueError):  # released: no write after publishing
        kept[0][0] = 1


def test_empty_value_cas_and_errors(store):
    store.put_filled("ns", "e", 0, lambda mv: None)
    assert store.read("ns", "e")[1] == b""
    v = store.put_filled("ns", "c", 8, lambda mv: mv.__setitem__(slice(None), b"x" * 8),
                         if_version=0)
    with pytest.raises(BrainVersionConflictError):
        store.put_filled("ns", "c", 8, lambda mv: None, if_version=v + 5)
    with pytest.raises(BrainStoreFullError):
        store.put_filled("ns", "huge", 1 << 40, lambda mv: None)
    with pytest.raises(TypeError, match="fill must be callable"):
        store.put_filled("ns", "x", 8, None)
    assert store.read("ns", "c")[1] == b"x" * 8

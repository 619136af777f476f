"""serializer='safe': a Brain that never unpickles."""
import os

import numpy as np
import pandas as pd
import pytest

from brain_plasma import Brain, BrainSerializationError, BrainValueError


class Payload:
    """Unpickling this creates a file: proof that code ran."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_safe_roundtrips(store_name):
    b = Brain(path=store_name, size=8_000_000, serializer="safe")
    b["d"] = {"a": 1, "b": [1, 2.5, None, "x"], "c": {"n": True}}
    assert b["d"] == {"a": 1, "b": [1, 2.5, None, "x"], "c": {"n": True}}
    assert b.info("d")["type_name"] == "json"
    b["t"] = (1, 2)
    assert b["t"] == [1, 2]  # JSON has no tuples
    b["s"] = "text"
    b["b"] = b"raw"
    b["a"] = np.arange(5)
    assert b["s"] == "text" and b["b"] == b"raw" and list(b["a"]) == list(range(5))
    b.learn_many({"x": 1, "y": [2]})
    assert b.recall_many(["x", "y"]) == {"x": 1, "y": [2]}


def test_safe_refuses_what_json_cannot_hold(store_name):
    b = Brain(path=store_name, size=8_000_000, serializer="safe")
    for value in (pd.DataFrame({"a": [1]}), {1, 2}, object(), np.array([1, None], dtype=object)):
        with pytest.raises(BrainSerializationError) as ei:
            b["v"] = value
        assert "serializer='safe'" in str(ei.value)
    assert "v" not in b


def test_safe_never_unpickles(store_name, tmp_path):
    marker = tmp_path / "ran"
    writer = Brain(path=store_name, size=8_000_000)
    writer["evil"] = Payload(str(marker))
    writer["big"] = {"arr": np.arange(100_000)}  # large, out-of-band buffers
    if marker.exists():
        os.unlink(marker)
    reader = Brain(path=store_name, serializer="safe")
    for name in ("evil", "big"):
        with pytest.raises(BrainSerializationError) as ei:
            reader[name]
        assert "refusing to unpickle" in str(ei.value)
    with pytest.raises(BrainSerializationError):
        reader.recall("evil", copy=True)
    with pytest.raises(BrainSerializationError):
        reader.recall_many(["evil"])
    assert not marker.exists()
    # the pickle reader does run it: the test's payload is real
    writer["evil"].close()  # the payload returns the file it opened
    assert marker.exists()


def test_bad_serializer(store_name):
    with pytest.raises(BrainValueError):
        Brain(path=store_name, serializer="yaml")

"""Brain.save / Brain.load: snapshots in the format `brain save` uses."""
import os

import numpy as np
import pandas as pd
import pytest

from brain_plasma import Brain, BrainSnapshotError, _core


def fill(brain):
    frame = pd.DataFrame({"a": np.arange(1000), "b": np.linspace(0, 1, 1000),
                          "c": pd.Categorical(["x", "y"] * 500)},
                         index=pd.RangeIndex(5, 1005))
    brain.learn(frame, "frame", description="a frame")
    brain["text"] = "héllo"
    brain["arr"] = np.arange(12, dtype="<i4").reshape(3, 4)
    brain.learn({"k": [1, 2]}, "soon", ttl=3600)
    brain.set_namespace("other")
    brain["raw"] = b"\x00\x01binary"
    brain.set_namespace("default")
    return frame


def check_filled(brain, frame):
    pd.testing.assert_frame_equal(brain["frame"], frame)
    assert brain.info("frame")["description"] == "a frame"
    assert brain["text"] == "héllo"
    np.testing.assert_array_equal(brain["arr"], np.arange(12, dtype="<i4").reshape(3, 4))
    assert brain["soon"] == {"k": [1, 2]}
    assert brain.info("soon")["expires"] is not None
    assert brain.names(namespace="other") == ["raw"]
    brain.set_namespace("other")
    assert brain["raw"] == b"\x00\x01binary"
    brain.set_namespace("default")


def test_save_dead_load_round_trip(store_name, tmp_path):
    brain = Brain(path=store_name, size=64_000_000)
    frame = fill(brain)
    snap = tmp_path / "s.snapshot"
    assert brain.save(snap) == str(snap)
    brain.dead(i_am_sure=True)
    again = Brain(path=store_name, size=64_000_000)
    assert again.names() == []
    assert again.load(snap) == 5
    check_filled(again, frame)
    assert again.check() == []
    again.sleep()


def test_default_location_is_xdg_data_home(brain, store_name, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    frame = fill(brain)
    path = brain.save()
    assert path == str(tmp_path / "brain-plasma" / (store_name + ".snapshot"))
    assert os.path.exists(path)
    brain.forget("frame")
    brain.load()
    check_filled(brain, frame)


def test_load_replaces_unless_merge(brain, tmp_path):
    frame = fill(brain)
    snap = tmp_path / "s.snapshot"
    brain.save(snap)
    brain["later"] = 1
    brain.load(snap, merge=True)
    assert "later" in brain
    check_filled(brain, frame)
    brain.load(snap)
    assert "later" not in brain
    check_filled(brain, frame)


def test_damaged_snapshot_refused_store_unchanged(brain, tmp_path):
    fill(brain)
    snap = tmp_path / "s.snapshot"
    brain.save(snap)
    data = snap.read_bytes()
    brain.forget("text")
    brain["kept"] = "still here"
    before = sorted(brain.names())
    bad = tmp_path / "bad.snapshot"
    for damaged, why in [
        (data[: len(data) // 2], "truncated"),
        (data[:100] + bytes([data[100] ^ 0xFF]) + data[101:], "damaged"),
        (b"not a snapshot at all", "not a brain snapshot"),
    ]:
        bad.write_bytes(damaged)
        with pytest.raises(BrainSnapshotError, match=why):
            brain.load(bad)
        assert sorted(brain.names()) == before
        assert brain["kept"] == "still here"
    with pytest.raises(BrainSnapshotError, match="No such file"):
        brain.load(tmp_path / "missing.snapshot")


def test_save_into_missing_directory_is_a_clear_error(brain, tmp_path):
    brain["x"] = 1
    with pytest.raises(Exception, match="no/such"):
        brain.save(tmp_path / "no" / "such" / "s.snapshot")
    assert brain["x"] == 1

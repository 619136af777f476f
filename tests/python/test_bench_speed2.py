"""bench/bench_speed2.py runs end to end at a tiny size (so the script never
rots): every goal's figures are there and the report prints them."""
import os
import sys
import uuid

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bench"))
import bench_speed2  # noqa: E402

from brain_plasma import Brain, _core  # noqa: E402


@pytest.fixture
def bench_store():
    name = "pytest-speed2-%d-%s" % (os.getpid(), uuid.uuid4().hex[:8])
    b = Brain(path=name, size=256 << 20)
    yield name, b
    b.sleep()
    try:
        _core.destroy(name)
    except Exception:
        pass


def test_bench_speed2_every_goal(bench_store):
    store, b = bench_store
    out = {}
    dash = bench_speed2.goal1(b, store, 3000, 1, out)
    assert out["goal1"]["unchanged"] is True and out["goal1"]["ratio"] > 0
    bench_speed2.goal2(b, dash, out)
    assert [r["frame"] for r in out["goal2"]] == [
        "Dash frame", "200 float columns", "6 numeric columns",
        "50 extension columns (str, Int64), 10k rows",
        "200 extension columns (str, Int64), 10k rows"]
    bench_speed2.goal3(b, 2000, out)
    bench_speed2.goal5(b, out)
    bench_speed2.goal7(b, 2000, out)
    text = bench_speed2.report(out)
    for head in ("## 1.", "## 2.", "## 3.", "## 5.", "## 7."):
        assert head in text


def test_bench_speed2_dtype_cases_round_trip(bench_store):
    store, b = bench_store
    for label, frame in bench_speed2.dtype_cases(300):
        if frame is None:
            continue
        b.learn(frame, "x")
        got = b.recall("x")
        assert got.equals(frame) and list(got.dtypes) == list(frame.dtypes), label
        assert type(got.index) is type(frame.index), label


def test_bench_speed2_listing_and_memory():
    """Goals 4 and 8 at a tiny size: the listing equals py-lmdb's (when it is
    installed), and the store file's pages stay within live + pinned + the
    warm reserve while a frame is replaced under readers."""
    out = {}
    bench_speed2.goal4(3000, 2, out)
    g = out["goal4"]
    if "skipped" not in g:
        assert [r["order"] for r in g["rows"]] == ["in order", "shuffled"]
        assert all(r["same"] and r["names"] == 3000 for r in g["rows"])
    bench_speed2.goal8(48, 2, 2, out)
    g = out["goal8"]
    assert [r["round"] for r in g["rounds"]] == [1, 2]
    assert all(r["pinned_before"] > 0 for r in g["rounds"])  # the readers held the old one
    assert g["met"], g
    text = bench_speed2.report(out)
    assert "## 4." in text and "## 8." in text

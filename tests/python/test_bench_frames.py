"""bench/bench_frames.py runs end to end at a tiny size (so the script never
rots); no timing is asserted."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "bench"))

import bench_frames  # noqa: E402


def test_bench_frames_runs_every_layout():
    results = bench_frames.run(rows=500, repeat=1)
    layouts = [r["layout"] for r in results]
    for want in ("object/pickle", "object/packed", "sql-like object/packed",
                 "string[python]", "categorical"):
        assert want in layouts
    for r in results:
        assert r["recall"]["median"] > 0 and r["loads"]["median"] > 0
        assert r["learn"]["median"] > 0 and r["bytes"] > 0
    text = bench_frames.table(results, 500)
    assert text.count("\n| ") == len(results) + 1  # header and one row each


def test_bench_frame_variants_are_the_same_data():
    df = bench_frames.make_frame(300)
    for label, frame, _ in bench_frames.variants(df):
        assert frame.shape == df.shape, label
        assert list(frame["name"].astype(str)) == list(df["name"]), label
        assert list(frame["city"].astype(str)) == list(df["city"]), label

"""bench/run.py runs end to end (--quick, cheap peers) and writes every
workload's rows for every peer, those it did not measure saying why; no
timing is asserted.  About 15 s on 2 cores."""
import json
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.join(HERE, "..", "..", "bench")
sys.path.insert(0, BENCH)

import worker  # noqa: E402  (bench/worker.py)
from conftest import STORE_DIR  # noqa: E402

CHEAP = ["brain", "pickle", "shm", "limit"]


def run_bench(tmp_path, *args, timeout=90):
    return subprocess.run(
        [sys.executable, os.path.join(BENCH, "run.py"), *args],
        capture_output=True, text=True, timeout=timeout, cwd=tmp_path)


def test_quick_run_has_every_workload_and_peer(tmp_path):
    out = tmp_path / "results.json"
    res = run_bench(tmp_path, "--quick", "--peers", ",".join(CHEAP), "--json", str(out),
                    "--md", str(tmp_path / "results.md"), "--png", "", timeout=120)
    assert res.returncode == 0, res.stderr[-3000:]
    R = json.loads(out.read_text())
    assert sorted(R["workloads"]) == [str(w) for w in range(1, 8)]
    rows = R["rows"]
    import run  # noqa: E402  (bench/run.py: the figures each workload has)
    for w in range(1, 8):
        for f in run.FIG[w]:
            for p in R["peers"]:
                got = [r for r in rows if r["workload"] == w and r["figure"] == f
                       and r["peer"] == p]
                assert len(got) == 1, (w, f, p, got)
                r = got[0]
                assert ("median" in r) != ("why" in r), r
                if "why" in r:
                    assert r["why"], r
                if p not in CHEAP:
                    assert r["why"] == "not selected (--peers)", r
                elif p == "brain" and not (w == 6 and "psutil" in r.get("why", "")):
                    # brain-plasma itself is measured everywhere (psutil is
                    # a benchmark requirement, not a test one)
                    assert "median" in r, r
                    assert r["median"] > 0 or r["unit"] == "bytes", r
    # the Dash frame comes back unchanged from brain-plasma
    r = [r for r in rows if r["workload"] == 2 and r["peer"] == "brain"
         and r["figure"] == "recall (another process)"][0]
    assert "unchanged" in r["note"], r
    md = (tmp_path / "results.md").read_text()
    for w in range(1, 8):
        assert "### Workload %d:" % w in md
    assert "### Goals" in md
    # nothing left behind in the stores' directory by this run
    pid = R["pid"]
    mine = ("bench-run-%d" % pid, "brain-bench-run-%d" % pid, "bpk%d_" % pid,
            "sm_bsm%d" % pid, "bud%d" % pid)
    assert not [n for n in os.listdir(STORE_DIR) if n.startswith(mine)]


def test_bad_options_say_what_is_wrong(tmp_path):
    res = run_bench(tmp_path, "--only", "9")
    assert res.returncode == 2
    assert "--only: no workload [9]; they are 1 to 7" in res.stderr
    res = run_bench(tmp_path, "--peers", "brain,memcached")
    assert res.returncode == 2
    assert "--peers: unknown ['memcached']" in res.stderr


def test_dash_frame_is_bench_frames_frame():
    pytest.importorskip("pandas")
    import bench_frames
    assert worker.make_dash_frame(500).equals(bench_frames.make_frame(500))

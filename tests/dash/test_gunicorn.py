"""The example Dash app under gunicorn with 4 workers, with and without
--preload: every worker sees the same frame and the same memoized results,
and recalling the frame costs a worker no private copy (USS)."""
import gc

import psutil
import pytest

from servers import Gunicorn
from frame import build_frame, checksum, summarize

from brain_plasma import Brain

ROWS = 2_000_000        # 78 MB: a private copy would be 78x the allowance


def uss(pids):
    return {p: psutil.Process(p).memory_full_info().uss for p in pids}


@pytest.mark.parametrize("preload", [False, True], ids=["fork-per-worker", "preload"])
def test_four_workers_share_one_frame(store_name, preload, tmp_path):
    with open(tmp_path / "gunicorn.log", "w") as log, \
            Gunicorn("app", store_name, preload=preload, log=log,
                     env={"BRAIN_DASH_STORE_SIZE": "1GB"}) as g:
        pids = g.worker_pids()
        built = g.request("/api/build?rows=%d" % ROWS, method="POST")
        assert built["rows"] == ROWS and built["pid"] in pids
        brain = Brain(store_name, namespace="dash_app")
        frame_bytes = brain.info("frame")["size"]
        assert frame_bytes > 60_000_000
        # the same frame, rebuilt here, gives the figures every worker must give
        expected = checksum(build_frame(ROWS))
        gc.collect()

        # warm every worker up on a small frame of the same layout, through
        # the same code path: imports and first-call caches are not the frame
        brain.learn(build_frame(1000), "small")
        g.on_every_worker("/api/frame?name=small", per_worker=3)
        before = uss(pids)

        seen = g.on_every_worker("/api/frame", per_worker=2)
        assert sorted(seen) == pids
        for pid, responses in seen.items():
            for r in responses:
                r = dict(r)
                assert r.pop("pid") == pid
                r.pop("recall_ms")
                assert r.pop("version") == built["version"]
                assert r == expected
        after = uss(pids)
        allowance = 1_000_000 + frame_bytes // 100
        growth = {p: after[p] - before[p] for p in pids}
        assert all(v < allowance for v in growth.values()), (
            "USS growth per worker %s, allowance %d bytes (frame %d bytes)"
            % (growth, allowance, frame_bytes))
        recall_ms = sorted(r["recall_ms"] for v in seen.values() for r in v[1:])
        assert recall_ms[len(recall_ms) // 2] < 50

        # memoized once, by one worker, for all of them (the first request
        # alone: concurrent misses would each compute it, as with any cache)
        once = g.get("/api/summary?city=Oslo")
        assert once["computed_by"] == once["pid"]
        summaries = g.on_every_worker("/api/summary?city=Oslo", per_worker=2)
        first = [r for v in summaries.values() for r in v]
        assert {r["computed_by"] for r in first} == {once["pid"]}
        assert {r["computed_ms"] for r in first} == {once["computed_ms"]}
        want = summarize(brain.recall("frame"), "Oslo")
        for r in first:
            assert r["table"] == want["table"]
            assert r["lines"] == want["lines"]
            assert r["rows"] == want["rows"]
        log.flush()
    brain.sleep()

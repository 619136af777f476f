"""Brain(size=...): capacity is a limit, so asking for more than an existing
store has grows it (logged); asking for less never shrinks it.  The default
is libbrain's (the same store whichever tool creates it)."""
import logging
import subprocess
import sys
import time

import numpy as np
import pytest

import brain_plasma as bp
from brain_plasma import Brain, _core

MB = 1_000_000


def test_default_capacity_is_libbrains(store_name):
    b = Brain(path=store_name)
    assert bp.brain.DEFAULT_SIZE == _core.DEFAULT_CAPACITY == 256 << 20
    assert b.size() == _core.DEFAULT_CAPACITY
    assert b.stats()["file_size"] < 16 * MB  # a limit, not an allocation


def test_a_larger_size_grows_an_existing_store_and_logs_it(store_name, caplog):
    small = Brain(path=store_name, size="50MB")
    assert small.size() == 50 * MB
    with caplog.at_level(logging.INFO, logger="brain_plasma"):
        big = Brain(path=store_name, size="1GB")
    assert big.size() == small.size() == 1000 * MB
    msgs = [r.getMessage() for r in caplog.records if r.name == "brain_plasma"]
    assert any("grew store" in m and "50.0 MB" in m and "1.0 GB" in m for m in msgs), msgs
    # the case: a value larger than the old capacity now fits
    big["frame"] = np.zeros(80 * MB // 8)
    assert small["frame"].nbytes == 80 * MB


def test_a_smaller_size_or_none_never_shrinks(store_name, caplog):
    Brain(path=store_name, size="200MB")["x"] = 1
    with caplog.at_level(logging.INFO, logger="brain_plasma"):
        assert Brain(path=store_name, size="10MB").size() == 200 * MB
        assert Brain(path=store_name).size() == 200 * MB
        assert Brain(path=store_name, start_process=False).size() == 200 * MB
    assert not [r for r in caplog.records if "grew" in r.getMessage()]
    # asking for the same size again (not a multiple of 64) changes nothing
    Brain(path=store_name, size=300 * MB + 7)
    with caplog.at_level(logging.INFO, logger="brain_plasma"):
        Brain(path=store_name, size=300 * MB + 7)
    assert not [r for r in caplog.records if "grew" in r.getMessage()]


def test_attach_only_and_start_grow_too(store_name):
    Brain(path=store_name, size="20MB")
    assert Brain(path=store_name, start_process=False, size="40MB").size() == 40 * MB
    b = Brain(path=store_name)
    b.start(size="60MB")
    assert b.size() == 60 * MB
    b.start(size="30MB")
    assert b.size() == 60 * MB


def test_a_size_beyond_the_limit_is_a_clear_error_and_keeps_the_store(store_name):
    b = Brain(path=store_name, size="20MB")
    b["kept"] = "value"
    with pytest.raises(bp.BrainValueError) as ei:
        Brain(path=store_name, size=_core.MAX_CAPACITY * 2)
    assert "larger than the limit" in str(ei.value)
    with pytest.raises(bp.BrainValueError):
        Brain(path=store_name, size="a lot")
    assert b.size() == 20 * MB and b["kept"] == "value"


def test_another_process_sees_the_grown_store(store_name):
    b = Brain(path=store_name, size="16MB")
    code = ("from brain_plasma import Brain; import sys; "
            "Brain(path=sys.argv[1], size='64MB')")
    subprocess.run([sys.executable, "-c", code, store_name], check=True, timeout=60)
    assert b.size() == 64 * MB
    b["big"] = b"x" * (40 * MB)  # needs the grown capacity
    assert len(b["big"]) == 40 * MB


def test_expired_values_give_their_space_back(store_name):
    """The issue's case: a 60 MB value learned with ttl=1 into a 100 MB
    store; once it expired, the next 60 MB learn fits without expire()."""
    b = Brain(path=store_name, size="100MB")
    b.learn(np.ones(60 * MB // 8), "first", ttl=1)
    b["small"] = "kept"
    with pytest.raises(bp.BrainStoreFullError):
        b["second"] = np.ones(60 * MB // 8)  # both alive: it cannot fit
    time.sleep(1.3)
    b["second"] = np.full(60 * MB // 8, 2.0)
    assert b["second"][0] == 2.0 and b["small"] == "kept"
    assert "first" not in b
    st = b.stats()
    assert st["names"] == 2
    assert sorted(b.names()) == ["second", "small"]


def test_stats_never_count_expired_values(store_name):
    b = Brain(path=store_name, size="64MB")
    used0 = b.used()
    b.learn(b"x" * (8 * MB), "gone", ttl=0.05)
    b["kept"] = 1
    time.sleep(0.2)
    assert b.stats()["names"] == 1
    assert b.used() < used0 + MB
    assert len(b) == 1 and b.names() == ["kept"]

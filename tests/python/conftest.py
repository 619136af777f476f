"""Fixtures: every test gets a store of its own under /dev/shm, destroyed
afterwards."""
import os
import uuid

import pytest

from brain_plasma import Brain, _core, recall_cache


@pytest.fixture(autouse=True)
def _empty_recall_cache():
    """Each test starts and ends with an empty recall cache (it keeps the
    stores of the frames it holds open)."""
    recall_cache.clear()
    yield
    recall_cache.clear()


@pytest.fixture
def store_name():
    name = "pytest-%d-%s" % (os.getpid(), uuid.uuid4().hex[:12])
    yield name
    try:
        _core.destroy(name)
    except Exception:
        pass


@pytest.fixture
def brain(store_name):
    b = Brain(path=store_name, size=64_000_000)
    yield b
    b.sleep()


@pytest.fixture
def store(store_name):
    s = _core.Store(store_name, capacity=16 << 20)
    yield s
    s.close()

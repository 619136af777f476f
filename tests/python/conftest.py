"""Fixtures: every test gets a store of its own in STORE_DIR, destroyed
afterwards."""
import os
import subprocess
import sys
import uuid

import pytest

from brain_plasma import Brain, _core, recall_cache

# Where the library keeps stores named by a bare name: /dev/shm on Linux,
# $TMPDIR on macOS (test_platform.py checks it is the platform's).
STORE_DIR = os.path.dirname(_core.resolve("x"))
LINUX = sys.platform.startswith("linux")


def proc_state(pid):
    """The state letter of process PID (R, S, T, Z...): /proc on Linux, ps(1)
    elsewhere; '' when it is gone."""
    if LINUX:
        try:
            with open(f"/proc/{pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            return ""
    r = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True)
    return r.stdout.strip()[:1]


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

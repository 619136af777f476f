"""Fixtures: every test gets a store of its own in STORE_DIR, destroyed
afterwards."""
import os
import subprocess
import sys
import textwrap
import uuid

import pytest

from brain_plasma import Brain, _core, plasma, recall_cache

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
def client(brain, store_name):
    """A Plasma client (brain_plasma.plasma) on the brain fixture's store."""
    c = plasma.connect(store_name)
    yield c
    c.disconnect()


def random_object_id():
    return plasma.ObjectID(os.urandom(20))


def run_python(code, *args, timeout=60):
    """Runs CODE in a fresh interpreter; returns its stdout."""
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args],
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture
def store(store_name):
    s = _core.Store(store_name, capacity=16 << 20)
    yield s
    s.close()

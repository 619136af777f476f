"""Fixtures of the Dash and Flask tests (make test-dash): a store of each
test's own in STORE_DIR, destroyed afterwards."""
import os
import uuid

import pytest

from brain_plasma import _core

# the directory of bare store names: /dev/shm on Linux, $TMPDIR on macOS
STORE_DIR = os.path.dirname(_core.resolve("x"))


def _unique(tag):
    return "pytest-%s-%d-%s" % (tag, os.getpid(), uuid.uuid4().hex[:10])


@pytest.fixture
def store_name():
    name = _unique("dash")
    yield name
    try:
        _core.destroy(name)
    except Exception:
        pass

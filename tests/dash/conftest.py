"""Fixtures of the Dash and Flask tests (make test-dash): a store of each
test's own under /dev/shm, destroyed afterwards."""
import os
import uuid

import pytest

from brain_plasma import _core


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

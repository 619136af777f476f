"""A store file cut short under an open Brain (issue 18, finding 5): the
calls that can see it cheaply raise BrainCorruptError saying what happened
and what to do, instead of the process dying of SIGBUS; values before the
cut still read back."""
import os

import pytest

from brain_plasma import BrainCorruptError


def test_check_and_growth_of_a_store_cut_under_it_raise(brain):
    brain["a"] = b"alpha" * 100
    path = brain.path
    size = os.path.getsize(path)
    os.truncate(path, size - 8192)  # the sentinel and the end of the free tail go
    with pytest.raises(BrainCorruptError, match="truncated while open"):
        brain.check()
    with pytest.raises(BrainCorruptError, match=r"check --repair"):
        brain["big"] = os.urandom(8 << 20)  # needs the file to grow
    assert os.path.getsize(path) == size - 8192  # not grown back over the hole
    assert brain["a"] == b"alpha" * 100

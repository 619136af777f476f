"""The extension is built on the platform layer make asked for (make sets
BRAIN_EXPECT_PLATFORM: `make test PLATFORM=posix` must test the portable
layer, not the .venv's Linux build), and that layer's stores carry its
lock (docs/DESIGN-NOTES.md "Platform")."""
import os
import sys

import pytest

from brain_plasma import _core
from brain_plasma.exceptions import BrainError


def test_extension_is_the_layer_make_built():
    assert _core.PLATFORM in ("linux", "posix")
    want = os.environ.get("BRAIN_EXPECT_PLATFORM")
    if not want:
        pytest.skip("BRAIN_EXPECT_PLATFORM is not set (make test-python sets it)")
    assert _core.PLATFORM == want


def test_bare_name_lives_in_the_platforms_folder():
    """/dev/shm on Linux (both layers); $TMPDIR without its trailing slashes
    on macOS, /tmp when TMPDIR is unset or not absolute."""
    path = _core.resolve("app1")
    if sys.platform == "darwin":
        t = os.environ.get("TMPDIR") or ""
        want = (t if t.startswith("/") else "/tmp").rstrip("/") or "/"
    else:
        want = "/dev/shm"
    assert path == want + "/brain-app1"


def test_store_of_the_other_layer_is_refused(brain):
    """The store's lock_kind (a header word) stamped as the other layer's:
    opening it raises a BrainError that names both layers; stamped back, it
    opens with its values."""
    import struct
    brain["k"] = 1
    path = brain.path
    # offsetof(struct brain__header, lock_kind): the immutable part and pad0
    # (128 bytes), the hot line (64), 13 words of writer state, slots_hw, pad3
    off = 128 + 64 + 13 * 8 + 4 + 4
    with open(path, "rb") as f:
        f.seek(off)
        mine = struct.unpack("<I", f.read(4))[0]
    assert mine == (1 if _core.PLATFORM == "linux" else 2)
    with open(path, "r+b") as f:
        f.seek(off)
        f.write(struct.pack("<I", 3 - mine))
    try:
        with pytest.raises(BrainError) as ei:
            _core.Store(path)  # a handle of its own (Brain shares one per store)
        assert "platform layer" in str(ei.value)
        assert "do not exclude each other" in str(ei.value)
    finally:
        with open(path, "r+b") as f:
            f.seek(off)
            f.write(struct.pack("<I", mine))
    s = _core.Store(path)
    s.close()
    assert brain["k"] == 1

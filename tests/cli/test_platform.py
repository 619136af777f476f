"""A store belongs to the platform layer that made it (docs/DESIGN-NOTES.md
"Platform"): the CLI of the other layer refuses it by name and changes
nothing, and a snapshot carries the values across.

Needs both CLIs: $BRAIN_CLI and $BRAIN_CLI_OTHER, one per layer (make
test-posix sets them: build/brain on the Linux layer, build/posix/brain on
the portable one)."""
import os

import pytest

from conftest import Runner


@pytest.fixture
def other():
    p = os.environ.get("BRAIN_CLI_OTHER")
    if not p:
        pytest.skip("BRAIN_CLI_OTHER is not set (make test-posix runs this with both layers)")
    return Runner(p)


def test_other_layer_refuses_store_and_snapshot_moves_it(brain, other, stores, tmp_path):
    name = stores.name()
    brain.ok("create", name, "--size", "16MB")
    brain.ok("put", name, "k", "-", input=b"made by the first")
    r = other("get", name, "k")
    assert r.rc != 0
    assert "platform layer" in r.err and "do not exclude each other" in r.err, r.err
    assert "save it there and load the snapshot here" in r.err
    r = other("put", name, "k2", "-", input=b"x")
    assert r.rc != 0
    # nothing changed: the maker still reads it, and k2 is not there
    assert brain.ok("get", name, "k").out_bytes == b"made by the first"
    assert brain("get", name, "k2").rc != 0
    # the snapshot carries the values to a store of the other layer
    snap = tmp_path / "s.snapshot"
    brain.ok("save", name, str(snap), "--quiet")
    name2 = stores.name()
    other.ok("load", name2, str(snap), "--quiet")
    assert other.ok("get", name2, "k").out_bytes == b"made by the first"
    assert brain("get", name2, "k").rc != 0

"""A store file cut short (issue 18, findings 5 and 12).

`brain check` reports the truncation and says to run `check --repair`;
`check --repair` salvages the values wholly inside what is left, byte for
byte, names what was lost (text and --json), restores the file's size and
leaves a store that passes `check` and takes new values; a file cut inside
its header, or still open in another process, is refused untouched.  A
command whose store is cut under it (`serve`, `watch`) exits with status 3
and says what happened instead of dying on SIGBUS.
"""
import json
import os
import signal
import subprocess
import time

import pytest

HEADER = 16384
EXIT_TRUNCATED = 3


def put_values(brain, store, n=10):
    vals = {}
    for i in range(n):
        name = f"val-{i:02d}"
        data = bytes((i * 7 + j) % 251 for j in range(4000 + 900 * i))
        brain.ok("put", store, name, "-", input=data)
        vals[name] = data
    return vals


def name_offset(path, name):
    with open(path, "rb") as f:
        blob = f.read()
    i = blob.find(name.encode() + b"\0")
    assert i > 0, f"{name} not in the file"
    assert blob.find(name.encode() + b"\0", i + 1) < 0
    return i


def salvaged_store(brain, stores, store, cut_in):
    """Puts ten values, cuts the file inside the value of CUT_IN."""
    vals = put_values(brain, store)
    path = stores.path_of(store)
    size = os.path.getsize(path)
    cut = name_offset(path, cut_in) + 600  # past its name, inside its value
    os.truncate(path, cut)
    return vals, path, size, cut


def expect_kept(brain, store, vals, kept):
    for name, data in vals.items():
        r = brain("get", store, name)
        if name in kept:
            assert r.rc == 0, r
            assert r.out_bytes == data, f"{name} changed"
        else:
            assert r.rc == 1 and "not found" in r.err, r
    r = brain.ok("check", store)
    assert r.out.startswith("ok: "), r
    big = os.urandom(6 << 20)
    brain.ok("put", store, "after-salvage", "-", input=big)
    assert brain.ok("get", store, "after-salvage").out_bytes == big
    brain.ok("check", store)


def test_check_of_a_truncated_store_says_to_repair(brain, store, stores):
    salvaged_store(brain, stores, store, "val-05")
    r = brain("check", store)
    assert r.rc == 1, r
    assert "is truncated" in r.err and "check --repair" in r.err, r
    r = brain("check", store, "--json")
    assert r.rc == 1, r
    doc = json.loads(r.out)
    assert doc["ok"] is False and "check --repair" in doc["error"]


def test_check_repair_salvages_a_truncated_store(brain, store, stores):
    vals, path, size, cut = salvaged_store(brain, stores, store, "val-05")
    r = brain("check", store, "--repair")
    assert r.rc == 0, r
    assert r.out.startswith(f"salvaged: {path}: the file had been truncated to "), r
    assert "5 names kept, 5 lost" in r.out, r
    assert "lost: default/val-05 (its value was cut through)" in r.out, r
    assert "lost: 4 more names whose entries lay wholly in the cut-off part" in r.out, r
    assert "\nok: " in r.out, r
    assert os.path.getsize(path) == size
    expect_kept(brain, store, vals, {f"val-{i:02d}" for i in range(5)})


def test_check_repair_json_lists_what_was_lost(brain, store, stores):
    vals, path, size, cut = salvaged_store(brain, stores, store, "val-03")
    r = brain("check", store, "--repair", "--json")
    assert r.rc == 0, r
    doc = json.loads(r.out)
    assert doc["ok"] is True and doc["repaired"] is True and doc["error"] is None
    s = doc["salvaged"]
    assert s["header_size"] == size and s["found_size"] == cut
    assert s["kept"] == 3 and s["lost"] == 7 and s["lost_unnamed"] == 6
    assert s["lost_names"] == [{"namespace": "default", "name": "val-03"}]
    # a second run finds nothing to salvage
    doc = json.loads(brain.ok("check", store, "--repair", "--json").out)
    assert doc["salvaged"] is None and doc["ok"] is True
    expect_kept(brain, store, vals, {f"val-{i:02d}" for i in range(3)})


def test_check_repair_of_a_header_cut_is_refused(brain, store, stores):
    put_values(brain, store, 3)
    path = stores.path_of(store)
    os.truncate(path, HEADER - 100)
    r = brain("check", store, "--repair")
    assert r.rc == 1, r
    assert "inside its header" in r.err and "snapshot" in r.err, r
    assert os.path.getsize(path) == HEADER - 100
    doc = json.loads(brain("check", store, "--repair", "--json").out)
    assert doc["ok"] is False and "nothing in it can be salvaged" in doc["error"]


def test_check_repair_refused_while_another_process_has_it_open(brain, brain_bin, store, stores):
    vals = put_values(brain, store)
    path = stores.path_of(store)
    # a watcher of the namespace keeps the store open; it reads only the
    # namespace table, which the cut leaves
    w = subprocess.Popen([brain_bin, "watch", store, "--timeout", "60"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        time.sleep(0.5)
        cut = name_offset(path, "val-06")
        os.truncate(path, cut)
        r = brain("check", store, "--repair")
        assert r.rc == 1, r
        assert "other processes still have it open" in r.err, r
        assert os.path.getsize(path) == cut
    finally:
        w.terminate()
        w.wait(10)
    r = brain("check", store, "--repair")
    assert r.rc == 0, r
    expect_kept(brain, store, vals, {f"val-{i:02d}" for i in range(6)})


def wait_for_line(p, needle, timeout=10):
    """Reads P's stderr until a line holds NEEDLE."""
    end = time.time() + timeout
    seen = []
    while time.time() < end:
        line = p.stderr.readline()
        if not line:
            break
        seen.append(line)
        if needle in line:
            return seen
    pytest.fail(f"no {needle!r} in {seen!r}")


def test_serve_exits_with_status_3_when_its_store_is_truncated(brain_bin, store, stores):
    path = stores.path_of(store)
    p = subprocess.Popen([brain_bin, "serve", store, "--no-snapshot", "--expire-every", "0.2"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_line(p, "serving")
        os.truncate(path, HEADER + 4096)
        rc = p.wait(20)
        err = p.stderr.read()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert rc == EXIT_TRUNCATED, (rc, err)
    assert "the store file was truncated by another process while mapped" in err, err
    assert f"check --repair {store}" in err, err


def test_watch_exits_with_status_3_when_its_store_is_truncated(brain, brain_bin, store, stores):
    path = stores.path_of(store)
    brain.ok("put", store, "k", "-", "--ttl", "2", input=b"v")
    p = subprocess.Popen([brain_bin, "watch", store, "k"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5)
        os.truncate(path, HEADER + 4096)
        # the watcher wakes when k expires and looks the name up
        rc = p.wait(20)
        err = p.stderr.read()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert rc == EXIT_TRUNCATED, (rc, err)
    assert "brain: watch: store '" + path + "': the store file was truncated" in err, err


@pytest.fixture
def tiny_fs(tmp_path):
    d = tmp_path / "tiny"
    d.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(d)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    yield d
    subprocess.run(["umount", str(d)])


def test_check_repair_without_room_to_restore_the_size_changes_nothing(brain, tiny_fs):
    store = str(tiny_fs / "s.store")
    brain.ok("create", store, "--size", "5MB")
    vals = put_values(brain, store, 6)
    cut = name_offset(store, "val-04")
    os.truncate(store, cut)
    with open(tiny_fs / "filler", "wb") as f:  # the file system is now full
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    r = brain("check", store, "--repair")
    assert r.rc == 1, r
    assert "cannot restore the file to its size" in r.err and "nothing was changed" in r.err, r
    assert os.path.getsize(store) == cut
    os.unlink(tiny_fs / "filler")
    r = brain("check", store, "--repair")
    assert r.rc == 0 and "4 names kept, 2 lost" in r.out, r
    for i in range(4):
        assert brain.ok("get", store, f"val-{i:02d}").out_bytes == vals[f"val-{i:02d}"]
    brain.ok("check", store)

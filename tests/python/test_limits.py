"""Limits and bad input through the Python API (issue #7's list): each case
sends the bad input, checks the error's class and sentence, then checks that
nothing stored was lost and that the store still works.  The C side of the
same list is in tests/c/test-errors.c, test-namespace.c, test-alloc.c and
test-resize.c; the CLI side in tests/cli/test_errors.py."""
import os
import shutil
import struct
import subprocess
import sys
import textwrap

import pytest

import brain_plasma as bp
from brain_plasma import Brain, _core
from conftest import LINUX

MB = 1_000_000


def _intact(brain, expected):
    """Every value stored before the bad input reads back, the store passes
    its check, and a new value can be stored and recalled."""
    for name, value in expected.items():
        assert brain[name] == value
    assert brain.check() == []
    brain["after-the-error"] = b"still works"
    assert brain["after-the-error"] == b"still works"
    brain.forget("after-the-error")


@pytest.fixture
def filled(brain):
    values = {"a": b"x" * 1000, "b": "text", "c": {"k": [1, 2]}}
    for k, v in values.items():
        brain[k] = v
    return brain, values


# ---- sizes -------------------------------------------------------------------

def test_value_bigger_than_the_store(filled):
    brain, values = filled
    with pytest.raises(bp.BrainStoreFullError) as ei:
        brain["huge"] = b"h" * (brain.size() + MB)
    assert ei.value.errname == "BRAIN_ETOOBIG"
    msg = str(ei.value)
    assert "larger than" in msg or "capacity" in msg, msg
    assert "huge" not in brain
    _intact(brain, values)


def test_value_bigger_than_the_store_in_learn_many(filled):
    brain, values = filled
    with pytest.raises(bp.BrainStoreFullError):
        brain.learn_many({"ok": 1, "huge": b"h" * (brain.size() + MB)})
    assert "ok" not in brain  # all or nothing
    _intact(brain, values)


def test_resize_below_what_is_stored_names_the_sizes(filled):
    brain, values = filled
    brain["blob"] = b"z" * (8 * MB)
    values["blob"] = b"z" * (8 * MB)
    size = brain.size()
    with pytest.raises(bp.BrainStoreFullError) as ei:
        brain.resize(4 * MB)
    assert "holds 8.0 MB" in str(ei.value) and "cannot shrink to 4.0 MB" in str(ei.value)
    assert brain.size() == size
    _intact(brain, values)


# ---- names -------------------------------------------------------------------

BAD_NAMES = [
    ("nul", "a\x00b", bp.BrainNameError, "NUL"),
    ("lone surrogate", "bad\udcffname", bp.BrainNameError, "UTF-8"),
    ("megabyte", "m" * (1 << 20), bp.BrainNameLengthError, "1024"),
    ("control character", "tab\x01", bp.BrainNameError, "control"),
]


@pytest.mark.parametrize("label,name,cls,word", BAD_NAMES, ids=[b[0] for b in BAD_NAMES])
def test_bad_names_everywhere(filled, label, name, cls, word):
    brain, values = filled
    calls = {
        "learn": lambda: brain.learn(1, name),
        "recall": lambda: brain.recall(name),
        "forget": lambda: brain.forget(name),
        "exists": lambda: brain.exists(name),
        "learn_many": lambda: brain.learn_many({"fine": 1, name: 2}),
        "recall_many": lambda: brain.recall_many(["a", name]),
    }
    for what, call in calls.items():
        with pytest.raises(cls) as ei:
            call()
        msg = str(ei.value)
        assert word.lower() in msg.lower(), (what, msg)
        assert len(msg) < 500, "a megabyte name must not be echoed whole"
    assert "fine" not in brain
    _intact(brain, values)


ONE_PLACE = [1, None, b"b", "", "x" * 1025, "é" * 513, "m" * (1 << 20), "a\x00b",
             "a\x00" + "b" * 2000, "bad\udcffname", "tab\x01", "\x7f\x05"]


@pytest.mark.parametrize("name", ONE_PLACE, ids=[repr(n)[:20] for n in ONE_PLACE])
def test_name_rules_in_one_place(filled, name):
    """The rules are libbrain's (brain_check_name): _core.check_name, every
    Store call and every Brain method raise the same class and message."""
    brain, values = filled
    with pytest.raises(bp.BrainNameError) as ei:
        _core.check_name(name)
    want = (type(ei.value), str(ei.value))
    assert ei.value.code == _core.ENAME and ei.value.errname == "BRAIN_ENAME"
    c = brain._c()
    for call in (lambda: c.get(None, name), lambda: c.put(None, name, b"x"),
                 lambda: c.put_many([(None, name, b"x")]), lambda: c.version_of("default", name),
                 lambda: c.put_filled(None, name, 1, lambda m: None),
                 lambda: brain.recall(name), lambda: brain.exists(name),
                 lambda: brain.info(name), lambda: brain.recall_many([name]),
                 lambda: brain.version(name), lambda: brain.forget(name),
                 lambda: brain.wait(name, timeout=0), lambda: brain.learn(1, name)):
        with pytest.raises(bp.BrainNameError) as ei:
            call()
        assert issubclass(type(ei.value), want[0]) and str(ei.value) == want[1]
    _intact(brain, values)


def test_name_messages(filled):
    brain, _ = filled
    cases = [
        (5, bp.BrainNameTypeError, "names are str; got int 5. Use str(name) or a str key"),
        ("", bp.BrainNameLengthError, "names are 1 to 1024 bytes of UTF-8; '' has 0. "
         "Use a shorter name"),
        ("é" * 513, bp.BrainNameLengthError, "has 1026. Use a shorter name"),
        ("m" * 5000, bp.BrainNameLengthError, "has 5000 characters"),
        ("ab\x00c", bp.BrainNameError, "names cannot contain NUL characters; 'ab\\x00c' has "
         "one at position 2"),
        ("é\x00" + "b" * 2000, bp.BrainNameError, "has one at position 1"),  # NUL first
        ("ab\udcff", bp.BrainNameError, "names are UTF-8 text; 'ab\\udcff' has a lone "
         "surrogate at position 2, which UTF-8 cannot encode"),
        ("é\x01", bp.BrainNameError, "name contains control character 0x01 at byte 2"),
    ]
    for name, cls, text in cases:
        with pytest.raises(cls) as ei:
            brain.recall(name)
        assert type(ei.value) is cls and text in str(ei.value), (name, str(ei.value))
    assert _core.check_name("é" * 512) == "é" * 512
    with pytest.raises(bp.BrainNamespaceNameError, match="namespaces are str; got int 3$"):
        _core.check_namespace(3)
    with pytest.raises(bp.BrainNamespaceNameError, match="control character 0x0a"):
        brain.set_namespace("new\nline")  # refused at once, not at first use
    assert brain.namespace == "default"
    with pytest.raises(bp.BrainNamespaceNameError, match="NUL characters"):
        brain.names("a\x00")
    with pytest.raises(bp.BrainNamespaceNameError, match="NUL characters"):
        brain._c().put("a\x00", "k", b"x")


def test_slashes_are_fine_in_names(filled):
    brain, values = filled
    brain["a/b/../c"] = 1
    brain["/leading"] = 2
    assert brain["a/b/../c"] == 1 and brain["/leading"] == 2
    assert "a/b/../c" in brain.names()
    _intact(brain, values)


@pytest.mark.parametrize("ns", ["n\x00s", "bad\udcff", "n" * (1 << 20), "all", ""])
def test_bad_namespaces(filled, store_name, ns):
    brain, values = filled
    with pytest.raises(bp.BrainNamespaceNameError) as ei:
        brain.set_namespace(ns)
    assert len(str(ei.value)) < 500
    assert brain.namespace == "default"
    with pytest.raises(bp.BrainNamespaceNameError):
        Brain(path=store_name, namespace=ns)
    _intact(brain, values)


# ---- the store file ----------------------------------------------------------

def _reopen_intact(store_name, values):
    b = Brain(path=store_name, start_process=False)
    try:
        _intact(b, values)
    finally:
        b.sleep()


def test_symlink_planted_at_the_store_path(filled, store_name, tmp_path):
    brain, values = filled
    link = str(tmp_path / "link-store")
    os.symlink(brain.path, link)
    for start in (True, False):
        with pytest.raises(bp.BrainStoreAccessError) as ei:
            Brain(path=link, start_process=start)
        assert ei.value.errname == "BRAIN_ESYMLINK"
        assert "symbolic link" in str(ei.value) or "symlink" in str(ei.value)
    assert os.path.islink(link)  # left alone, not replaced
    _intact(brain, values)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the store file away")
def test_store_owned_by_another_user(filled, store_name):
    brain, values = filled
    path = brain.path
    brain.sleep()
    os.chown(path, 65534, 65534)  # nobody
    try:
        for start in (True, False):
            with pytest.raises(bp.BrainStoreAccessError) as ei:
                Brain(path=store_name, start_process=start)
            assert ei.value.errname == "BRAIN_EPERM"
            assert "owned by uid 65534" in str(ei.value)
    finally:
        os.chown(path, 0, 0)
    _reopen_intact(store_name, values)


def _layout_version_offset():
    # struct bh_header: char magic[8]; uint32_t layout_version; ...
    return 8


def test_store_written_by_a_future_layout_version(filled, store_name):
    brain, values = filled
    path = brain.path
    brain.sleep()
    with open(path, "r+b") as f:
        f.seek(_layout_version_offset())
        (version,) = struct.unpack("<I", f.read(4))
        f.seek(_layout_version_offset())
        f.write(struct.pack("<I", version + 1))
    try:
        with pytest.raises(bp.BrainCorruptError) as ei:
            Brain(path=store_name, start_process=False)
        assert ei.value.errname == "BRAIN_EVERSION"
        msg = str(ei.value)
        assert "layout version %d" % (version + 1) in msg and "reads version %d" % version in msg
        with pytest.raises(bp.BrainCorruptError):  # never recreated over it
            Brain(path=store_name, start_process=True)
    finally:
        with open(path, "r+b") as f:
            f.seek(_layout_version_offset())
            f.write(struct.pack("<I", version))
    _reopen_intact(store_name, values)


@pytest.mark.parametrize("damage", ["not a store", "truncated"])
def test_bad_store_files(tmp_path, damage):
    path = str(tmp_path / "store")
    b = Brain(path=path, size=4 * MB)
    b["k"] = 1
    b.sleep()
    if damage == "not a store":
        with open(path, "wb") as f:
            f.write(b"hello, this is not a store\n" * 100)
        cls, errname = bp.BrainCorruptError, "BRAIN_ENOTSTORE"
    else:
        os.truncate(path, 100)
        cls, errname = bp.BrainCorruptError, "BRAIN_ETRUNCATED"
    with pytest.raises(cls) as ei:
        Brain(path=path, start_process=True)
    assert ei.value.errname == errname
    assert path in str(ei.value)
    assert os.path.getsize(path) in (2700, 100)  # not overwritten


# ---- memory of the host --------------------------------------------------------

_FILL_TMPFS = textwrap.dedent("""
    import os, subprocess, sys
    d = sys.argv[1]
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs", d], check=True)
    from brain_plasma import Brain, BrainStoreFullError
    b = Brain(path=d + "/store", size="256MB")   # far more than the tmpfs holds
    stored = []
    try:
        for i in range(64):
            b["m%d" % i] = bytes([i]) * (512 << 10)
            stored.append(i)
        print("NO ERROR after", len(stored))
        sys.exit(3)
    except BrainStoreFullError as e:
        assert e.errname == "BRAIN_ENOSPC", e.errname
        assert "no room" in str(e) or "host" in str(e), str(e)
    assert len(stored) >= 2, stored  # 16 MB, less the store's tables and growth steps
    for i in stored:                                   # nothing lost
        assert b["m%d" % i] == bytes([i]) * (512 << 10)
    assert b.check() == []
    b.forget("m0"); b.forget("m1")                      # room made: works again
    b["again"] = b"a" * (512 << 10)
    assert b["again"] == b"a" * (512 << 10)
    print("OK", len(stored))
""")


def _run_in_private_tmpfs(tmp_path, script, which):
    """Runs SCRIPT (Python, given the mount point as argv[1]) as root in a
    mount namespace of its own, where it mounts a small tmpfs; it must exit
    0 having printed OK, and never die of a signal (SIGBUS above all).
    Skipped where that cannot be done (WHICH: whose tmpfs it mounts)."""
    if not LINUX:
        pytest.skip("mounts a private tmpfs (%s)" % which)
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a private tmpfs (the C test covers the library)")
    unshare = shutil.which("unshare")
    if not unshare:
        pytest.skip("no unshare(1) to make a private mount namespace")
    d = tmp_path / "small-shm"
    d.mkdir()
    r = subprocess.run([unshare, "--mount", "--propagation", "private", sys.executable,
                        "-c", script, str(d)],
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0 and ("mount" in r.stderr and "permission" in r.stderr.lower()
                              or "unshare failed" in r.stderr):
        pytest.skip("cannot mount a private tmpfs here: %s" % r.stderr.strip()[-200:])
    assert r.returncode >= 0, "the writer died of signal %d (SIGBUS is 7): %s" % (
        -r.returncode, r.stderr[-2000:])
    assert r.returncode == 0, r.stdout + r.stderr[-2000:]
    assert r.stdout.startswith("OK"), r.stdout


def test_store_larger_than_the_host_allows_is_an_error_not_sigbus(tmp_path):
    _run_in_private_tmpfs(tmp_path, _FILL_TMPFS, "Linux's; the portable layer's ENOSPC is "
                          "tested by the C suite's growth_refused tests")


_NEARLY_FULL_TMPFS = textwrap.dedent("""
    import os, subprocess, sys
    d = sys.argv[1]
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs", d], check=True)
    from brain_plasma import Brain, BrainError
    b = Brain(path=d + "/store", size="256MB")
    st = b.stats()
    b["fill"] = b"f" * (st["file_size"] - st["used"] - (200 << 10))   # no growth yet
    assert b.stats()["file_size"] == st["file_size"]
    def free():
        v = os.statvfs(d)
        return v.f_bavail * v.f_frsize
    with open(d + "/filler", "wb") as f:                 # leave 1.9 MB free
        os.posix_fallocate(f.fileno(), 0, free() - 1900 * 1000)
    b["v500"] = b"v" * (500 * 1000)                      # the 4 MiB step does not fit
    try:
        b["big"] = b"b" * (3 << 20)
        print("NO ERROR")
        sys.exit(3)
    except BrainError as e:
        assert e.errname == "BRAIN_ENOSPC", e.errname
        msg = str(e)
    assert "a value of 3.1 MB" in msg, msg
    assert "its file system has" in msg and " free" in msg, msg
    assert b["v500"] == b"v" * (500 * 1000) and "big" not in b.names()
    assert b.check() == []
    print("OK", msg)
""")


def test_growth_falls_back_to_what_fits_on_a_nearly_full_tmpfs(tmp_path):
    """Issue 18, finding 12: 1.9 MB free takes a 500 kB value; 3 MB is a
    BRAIN_ENOSPC naming the sizes, and nothing is lost."""
    _run_in_private_tmpfs(tmp_path, _NEARLY_FULL_TMPFS, "Linux's")


_LEARN_INTO_GIVEN_BACK_PAGES = textwrap.dedent("""
    import os, subprocess, sys
    import numpy as np, pandas as pd
    d = sys.argv[1]
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96m,mode=0700", "tmpfs", d], check=True)
    from brain_plasma import Brain, BrainError
    b = Brain(path=d + "/store", size="256MB")
    keep = pd.DataFrame({"k": np.arange(100_000)})
    b.learn(keep, "keep")
    b.learn(pd.DataFrame({"x": np.zeros(7_000_000)}), "big")    # 56 MB
    b.forget("big")
    b.stats()                                                    # reclaims: its pages go back
    assert os.stat(d + "/store").st_blocks * 512 < (24 << 20), os.stat(d + "/store")
    def free():
        v = os.statvfs(d)
        return v.f_bavail * v.f_frsize
    with open(d + "/filler", "wb") as f:                         # leave 6 MB free
        os.posix_fallocate(f.fileno(), 0, free() - (6 << 20))
    frame = pd.DataFrame({"a": np.arange(3_000_000), "b": np.ones(3_000_000)})  # 48 MB
    try:
        b.learn(frame, "new")
        print("NO ERROR")
        sys.exit(3)
    except BrainError as e:
        assert e.errname == "BRAIN_ENOSPC", e.errname
        msg = str(e)
    assert "no room for a value of" in msg and d in msg and "nothing stored was changed" in msg, msg
    assert "new" not in b.names() and b.recall("keep").equals(keep)
    assert b.check() == []
    os.unlink(d + "/filler")                                      # room made: it works
    b.learn(frame, "new")
    assert b.recall("new").equals(frame)
    assert b.check() == []
    print("OK", msg)
""")


def test_learn_into_given_back_pages_on_a_full_tmpfs(tmp_path):
    """Issue 14, goal 7: a large frame written through the file descriptor
    into pages the store gave back meets a full tmpfs: BRAIN_ENOSPC naming
    the store and the value's size, nothing lost, never a SIGBUS."""
    _run_in_private_tmpfs(tmp_path, _LEARN_INTO_GIVEN_BACK_PAGES, "Linux's")


def test_core_refuses_nul_instead_of_using_the_prefix(store):
    store.put(None, "a", b"value of a")
    for call in (lambda: store.put(None, "a\x00b", b"x"),
                 lambda: store.read(None, "a\x00b"),
                 lambda: store.delete(None, "a\x00b"),
                 lambda: store.put("ns\x00x", "k", b"x")):
        with pytest.raises(ValueError, match="NUL"):
            call()
    assert bytes(store.read(None, "a")[1]) == b"value of a"
    assert store.names(None) == ["a"]

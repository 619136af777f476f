"""What an adversarial run broke (issue 18), from the CLI: serve and its
snapshot, default snapshot paths, FIFOs at our paths, leftover temporary
files, snapshot file modes, printing of hostile names."""
import json
import os
import signal
import stat
import subprocess
import sys
import time

import pytest

from conftest import proc_state
from test_ops import Server, ls_json


def put_many(brain, store, n, tmpfile, size=16):
    for i in range(n):
        brain.ok("put", store, f"k{i:03d}", tmpfile(bytes([i % 256]) * size))


def snapshot_count(brain, stores, snap):
    """How many names snapshot SNAP holds, by loading it into a new store."""
    s = stores.name()
    r = brain.ok("load", s, snap)
    return int(r.out.split()[1])


# ---- finding 1: serve never overwrites a fuller snapshot ----------------------------


def test_serve_does_not_replace_a_snapshot_the_store_never_held(brain, stores, tmp_path,
                                                                tmpfile, brain_bin):
    # the state a restore killed half way left behind (before 0.4.1): a new
    # store holding part of the snapshot's names
    s = stores.name()
    snap = tmp_path / "app.snapshot"
    brain.ok("create", s)
    put_many(brain, s, 40, tmpfile)
    brain.ok("save", s, snap)
    good = snap.read_bytes()
    brain.ok("destroy", s)
    brain.ok("create", s)
    put_many(brain, s, 20, tmpfile)
    srv = Server(brain_bin, s, "--snapshot", snap, "--every", "0.2s")
    try:
        srv.p.wait(timeout=30)
        err = srv.p.stderr.read().decode()
    finally:
        srv.kill()
    assert srv.p.returncode == 1, err
    assert "not starting" in err and "holds 20 names" in err and "(40 names)" in err, err
    assert "--merge" in err
    assert snap.read_bytes() == good


def test_serve_killed_during_restore_keeps_every_name(brain, stores, tmp_path, tmpfile, brain_bin):
    s = stores.name()
    snap = tmp_path / "big.snapshot"
    brain.ok("create", s, "--size", "512MiB")
    blob = tmpfile(os.urandom(4 << 20))
    for i in range(40):
        brain.ok("put", s, f"v{i:02d}", blob)
    brain.ok("save", s, snap)
    brain.ok("destroy", s)
    for delay in (0.0, 0.05, 0.15):
        srv = Server(brain_bin, s, "--snapshot", snap, "--every", "0.1s", "--size", "512MiB")
        srv.wait_log("serving")
        time.sleep(delay)
        srv.p.send_signal(signal.SIGKILL)
        srv.p.wait(timeout=30)
        names = json.loads(brain.ok("stats", s, "--json").out)["names"]
        assert names in (0, 40), (delay, names)  # all or nothing
    srv = Server(brain_bin, s, "--snapshot", snap, "--every", "1h", "--size", "512MiB")
    try:
        srv.wait_log("snapshots every")
        assert json.loads(brain.ok("stats", s, "--json").out)["names"] == 40
        rc, log = srv.stop()
    finally:
        srv.kill()
    assert rc == 0, log
    assert snapshot_count(brain, stores, snap) == 40


def test_serve_saves_fewer_names_when_the_store_deleted_them(brain, stores, tmp_path, tmpfile,
                                                             brain_bin):
    s = stores.name()
    snap = tmp_path / "del.snapshot"
    brain.ok("create", s)
    put_many(brain, s, 10, tmpfile)
    brain.ok("save", s, snap)
    brain.ok("destroy", s)
    srv = Server(brain_bin, s, "--snapshot", snap, "--every", "1h")
    try:
        srv.wait_log("restored 10 names")
        brain.ok("rm", s, "k000", "k001", "k002")
        srv.p.send_signal(signal.SIGUSR1)
        srv.wait_log("SIGUSR1: saved 7 names")
        rc, log = srv.stop()
    finally:
        srv.kill()
    assert rc == 0, log
    assert snapshot_count(brain, stores, snap) == 7


# ---- finding 2: one default snapshot per store ----------------------------------------


def test_default_snapshot_is_unique_per_store_path(brain, stores, tmp_path, tmpfile, monkeypatch):
    data = tmp_path / "data"
    monkeypatch.setenv("XDG_DATA_HOME", str(data))
    bare = stores.name()
    d = tmp_path / "srv" / "x"
    d.mkdir(parents=True)
    full = str(d / bare)  # the same last path component
    stores.track(full)
    brain.ok("create", bare)
    brain.ok("create", full)
    brain.ok("put", bare, "who", tmpfile(b"bare"))
    brain.ok("put", full, "who", tmpfile(b"full"))
    r1 = brain.ok("save", bare)
    r2 = brain.ok("save", full)
    p1 = data / "brain-plasma" / f"{bare}.snapshot"
    p2 = data / "brain-plasma" / "path" / (full.replace("%", "%25").replace("/", "%2F") + ".snapshot")
    assert str(p1) in r1.out and str(p2) in r2.out
    assert p1.exists() and p2.exists()
    brain.ok("put", bare, "who", tmpfile(b"changed"))
    brain.ok("put", full, "who", tmpfile(b"changed"))
    brain.ok("load", bare)
    brain.ok("load", full)
    assert brain.ok("get", bare, "who").out_bytes == b"bare"
    assert brain.ok("get", full, "who").out_bytes == b"full"
    # Python agrees on both paths
    out = subprocess.run(
        [sys.executable, "-c",
         "import brain_plasma, sys\n"
         "for s in sys.argv[1:]:\n"
         "    b = brain_plasma.Brain(path=s, start_process=False); print(b.snapshot_path()); b.sleep()",
         bare, full], capture_output=True, text=True, check=True).stdout.split()
    assert out == [str(p1), str(p2)]


def test_old_default_snapshot_still_found_when_it_is_the_stores(brain, stores, tmp_path, tmpfile,
                                                               monkeypatch):
    data = tmp_path / "data"
    monkeypatch.setenv("XDG_DATA_HOME", str(data))
    d = tmp_path / "srv"
    d.mkdir()
    full = str(d / "app")
    stores.track(full)
    brain.ok("create", full)
    brain.ok("put", full, "v", tmpfile(b"one"))
    (data / "brain-plasma").mkdir(parents=True, mode=0o700)
    old = data / "brain-plasma" / "app.snapshot"  # where 0.4.0 saved it
    brain.ok("save", full, old)
    brain.ok("put", full, "v", tmpfile(b"two"))
    r = brain.ok("load", full)
    assert str(old) in r.out
    assert brain.ok("get", full, "v").out_bytes == b"one"
    # another store with that last component does not take it
    other = str(tmp_path / "app")
    stores.track(other)
    brain.ok("create", other)
    r = brain("load", other)
    assert r.rc == 1 and "not known to be this store's" in r.err


# ---- findings 6 and 11: serve stops on SIGTERM, tells the truth ---------------------------


def test_serve_refuses_a_fifo_snapshot_at_once(brain, stores, tmp_path, brain_bin):
    s = stores.name()
    fifo = tmp_path / "fifo.snapshot"
    os.mkfifo(fifo)
    srv = Server(brain_bin, s, "--snapshot", fifo)
    try:
        srv.p.wait(timeout=10)  # hung forever before
        err = srv.p.stderr.read().decode()
    finally:
        srv.kill()
    assert srv.p.returncode == 1 and "not a regular file" in err, err


def test_serve_stops_on_sigterm_during_its_restore(brain, stores, tmp_path, tmpfile, brain_bin):
    s = stores.name()
    snap = tmp_path / "big.snapshot"
    brain.ok("create", s, "--size", "512MiB")
    blob = tmpfile(os.urandom(8 << 20))
    for i in range(30):
        brain.ok("put", s, f"v{i:02d}", blob)
    brain.ok("save", s, snap)
    brain.ok("destroy", s)
    good = snap.stat().st_mtime_ns
    srv = Server(brain_bin, s, "--snapshot", snap, "--size", "512MiB")
    try:
        srv.wait_log("serving")
        t0 = time.monotonic()
        rc, log = srv.stop(signal.SIGTERM)
        took = time.monotonic() - t0
    finally:
        srv.kill()
    assert took < 10, log
    names = json.loads(brain.ok("stats", s, "--json").out)["names"]
    if "during the restore" in log:
        assert rc == 1 and names == 0, log  # stopped at once, store untouched
    else:  # the restore was done first: a normal stop
        assert rc == 0 and names == 30, log
    assert snap.stat().st_mtime_ns == good


def test_serve_exit_status_is_0_when_writes_race_the_final_snapshot(brain, stores, tmp_path, tmpfile,
                                                                     brain_bin):
    s = stores.name()
    snap = tmp_path / "race.snapshot"
    srv = Server(brain_bin, s, "--snapshot", snap, "--every", "1h", "--size", "512MiB")
    writer = None
    try:
        srv.wait_log("serving")
        blob = tmpfile(os.urandom(8 << 20))
        for i in range(20):
            brain.ok("put", s, f"v{i:02d}", blob)
        writer = subprocess.Popen([sys.executable, "-c", (
            "import brain_plasma, time\n"
            f"b = brain_plasma.Brain(path={s!r}, start_process=False)\n"
            "i = 0\n"
            "while True:\n"
            "    b['tick'] = i; i += 1; time.sleep(0.0005)\n")])
        time.sleep(0.5)
        rc, log = srv.stop(signal.SIGTERM)
    finally:
        if writer:
            writer.kill()
            writer.wait()
        srv.kill()
    assert "final: saved" in log, log
    assert rc == 0, log


# ---- finding 7: a stopped holder of the writers' lock -----------------------------------


def lock_holder(store):
    from pathlib import Path
    exe = os.environ.get("BRAIN_LOCK_HOLDER") or str(Path(__file__).resolve().parents[2] /
                                                       "build" / "lock-holder")
    if not os.access(exe, os.X_OK):
        pytest.fail(f"test helper {exe} missing: run `make build/lock-holder`")
    p = subprocess.Popen([exe, store], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().startswith("locked ")
    for _ in range(200):  # until it has stopped itself
        if proc_state(p.pid) in ("T", "t"):
            break
        time.sleep(0.01)
    return p


def test_stopped_lock_holder_does_not_hang_stats_check_or_writes(brain, store, tmpfile,
                                                                 monkeypatch):
    brain.ok("put", store, "a", tmpfile(b"1"))
    p = lock_holder(store)
    try:
        monkeypatch.setenv("BRAIN_LOCK_TIMEOUT", "0.3")
        st = json.loads(brain.ok("stats", store, "--json", timeout=10).out)
        assert st["names"] == 1
        assert brain.ok("get", store, "a", timeout=10).out_bytes == b"1"
        r = brain("check", store, timeout=10)
        assert r.rc == 1 and f"held by pid {p.pid} (stopped)" in r.out + r.err, r
        r = brain("rm", store, "a", timeout=10)
        assert r.rc == 1 and f"pid {p.pid} (stopped)" in r.err and "kill -CONT" in r.err, r
        r = brain("put", store, "b", tmpfile(b"2"), timeout=10)
        assert r.rc == 1 and "lock timeout" in r.err, r
    finally:
        p.kill()
        p.wait()
    brain.ok("rm", store, "a")  # the holder died: the lock is recovered


def test_resize_with_a_stopped_lock_holder_fails_naming_it(brain, store, tmpfile, monkeypatch):
    brain.ok("put", store, "a", tmpfile(b"1"))
    before = json.loads(brain.ok("stats", store, "--json").out)["capacity"]
    p = lock_holder(store)
    try:
        monkeypatch.setenv("BRAIN_LOCK_TIMEOUT", "0.3")
        t0 = time.monotonic()
        r = brain("resize", store, "512MiB", timeout=10)
        assert time.monotonic() - t0 < 5, r
        assert r.rc == 1, r
        assert f"held by pid {p.pid} (stopped)" in r.err and "kill -CONT" in r.err, r
        assert "nothing changed" in r.err, r
        st = json.loads(brain.ok("stats", store, "--json").out)
        assert st["capacity"] == before and st["names"] == 1
    finally:
        p.kill()
        p.wait()
    monkeypatch.delenv("BRAIN_LOCK_TIMEOUT")
    brain.ok("resize", store, "512MiB")  # the holder died: the lock is recovered
    assert json.loads(brain.ok("stats", store, "--json").out)["capacity"] >= 512 << 20
    assert brain.ok("get", store, "a").out_bytes == b"1"


@pytest.mark.parametrize("asked_twice", [False, True], ids=["grace", "second-signal"])
def test_serve_stops_when_a_stopped_process_holds_the_lock(brain, stores, tmp_path, tmpfile,
                                                           brain_bin, monkeypatch, asked_twice):
    """serve busy in a writer call (its expiry pass) that waits for a lock a
    stopped process holds: SIGTERM gives it STOP_GRACE_S (10 s) to get free,
    a second SIGTERM cuts that short; either way it exits with status 1
    without a final snapshot, and the last one is intact."""
    s = stores.name()
    snap = tmp_path / "held.snapshot"
    monkeypatch.setenv("BRAIN_LOCK_TIMEOUT", "none")  # serve's expiry pass waits for ever
    srv = Server(brain_bin, s, "--snapshot", snap, "--every", "1h", "--expire-every", "0.1s",
                 "--size", "64MiB")
    p = None
    try:
        srv.wait_log("snapshots every")
        brain.ok("put", s, "v", tmpfile(b"kept"))
        srv.p.send_signal(signal.SIGUSR1)
        srv.wait_log("SIGUSR1: saved 1 names")
        good = snap.read_bytes()
        brain.ok("put", s, "w", tmpfile(b"a change the final snapshot would save"))
        p = lock_holder(s)
        time.sleep(0.5)  # serve's next expiry pass now waits for the lock
        t0 = time.monotonic()
        srv.p.send_signal(signal.SIGTERM)
        time.sleep(1)
        assert srv.p.poll() is None, "serve did not wait for the lock to come free"
        if asked_twice:
            rc, log = srv.stop(signal.SIGTERM)
            assert time.monotonic() - t0 < 5, log
        else:
            srv.p.wait(timeout=30)
            rc, log = srv.stop(0)  # signal 0: only collects the log
            assert 9 < time.monotonic() - t0 < 25, log
    finally:
        if p:
            p.kill()
            p.wait()
        srv.kill()
    assert rc == 1, log
    assert "SIGTERM: still busy (a writers' lock held elsewhere?)" in log, log
    assert "without a final snapshot; the last one is intact" in log, log
    assert "final:" not in log, log
    assert snap.read_bytes() == good
    assert snapshot_count(brain, stores, snap) == 1


# ---- finding 12: the smaller ones -------------------------------------------------------


def test_control_and_bidi_characters_are_escaped_everywhere(brain, store, tmpfile):
    spoof = "invoice\u202egpj.exe"
    bell = "ring\x7f\u009b31mred"  # DEL and the C1 CSI (C0 controls are refused in names)
    for n in (spoof, bell):
        r = brain.ok("put", store, n, tmpfile(b"x"))
        assert "\u202e" not in r.out and "\u009b" not in r.out and "\x7f" not in r.out
    out = brain.ok("ls", store, "--long").out + brain.ok("show", store, spoof).out
    assert "\u202e" not in out and "\u009b" not in out and "\x7f" not in out
    assert "invoice\\u{202e}gpj.exe" in out and "ring\\x7f\\x9b31mred" in out
    js = brain.ok("ls", store, "--json").out
    assert "\u202e" not in js and "\\u202e" in js
    r = brain("get", store, "nope\u202eevil")
    assert r.rc == 1 and "\u202e" not in r.err and "\\u{202e}" in r.err, r


HOSTILE = "\n\x1b[31m\u202e"   # a newline, ESC (a colour sequence), RIGHT-TO-LEFT OVERRIDE


def _clean(text):
    """True when TEXT carries none of HOSTILE's characters raw (its own
    line ends aside) and shows them escaped."""
    return "\x1b" not in text and "\u202e" not in text


def test_paths_with_control_and_bidi_characters_are_escaped(brain, stores, tmp_path, tmpfile,
                                                           brain_bin):
    d = tmp_path / ("dir" + HOSTILE + "x")
    d.mkdir()
    st = str(d / ("st" + HOSTILE + "ore"))
    stores.track(st)
    snap = str(d / ("snap" + HOSTILE + ".snapshot"))
    esc_st = st.replace("\n", "\\x0a").replace("\x1b", "\\x1b").replace("\u202e", "\\u{202e}")
    esc_snap = snap.replace("\n", "\\x0a").replace("\x1b", "\\x1b").replace("\u202e",
                                                                              "\\u{202e}")
    outs = []
    for args in (("create", st, "--size", "16MiB"), ("info", st), ("stats", st), ("check", st),
                 ("check", st, "--repair"), ("resize", st, "32MiB"), ("save", st, snap),
                 ("load", st, snap)):
        r = brain.ok(*args)
        assert _clean(r.out) and _clean(r.err), (args, r)
        assert r.out.count("\n") == len(r.out.splitlines()), r  # no line broken by a path
        outs.append(r.out)
    assert esc_st in outs[0] and esc_st in outs[1] and esc_st in outs[2] and esc_st in outs[3]
    assert esc_snap in outs[6] and esc_snap in outs[7]
    for args in (("info", st, "--json"), ("stats", st, "--json")):
        js = brain.ok(*args).out
        assert _clean(js) and "\n" not in js.rstrip("\n")
        assert json.loads(js)["path"] == st   # JSON escapes, the value is exact
    # errors name the paths escaped
    for args in (("load", st, snap + "-missing"), ("info", st + "-missing"),
                 ("nosuch" + HOSTILE,), ("--nosuch" + HOSTILE,)):
        r = brain(*args)
        assert r.rc in (1, 2) and _clean(r.err) and len(r.err.splitlines()) <= 3, (args, r)
        assert "\\x1b" in r.err and "\\u{202e}" in r.err, (args, r)
    # serve's log too
    srv = Server(brain_bin, st, "--snapshot", snap, "--every", "1h")
    try:
        srv.wait_log("serving")
        rc, log = srv.stop()
    finally:
        srv.kill()
    assert rc == 0, log
    assert _clean(log) and esc_snap in log and esc_st in log, log
    r = brain.ok("destroy", st)
    assert _clean(r.out) and esc_st in r.out


def test_value_preview_escapes_bidi_and_c1_characters(brain, store, tmpfile):
    r = brain.ok("put", store, "t", tmpfile("text \u202egpj.exe \u009b \x1b end".encode()),
                 "--type", "str")
    out = brain.ok("show", store, "t").out
    assert "\u202e" not in out and "\u009b" not in out and "\x1b" not in out, out
    assert "\\u{202e}gpj.exe" in out and "\\x9b" in out and "\\x1b" in out, out


@pytest.mark.parametrize("which", ["brain-plasma", "brain-plasma/path"])
def test_snapshot_directory_that_is_a_link_is_refused(brain, stores, tmp_path, tmpfile,
                                                      monkeypatch, which):
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    if which != "brain-plasma":
        (data / "brain-plasma").mkdir(mode=0o700)
    other = tmp_path / "elsewhere"
    other.mkdir(mode=0o700)
    os.symlink(other, data / which)  # planted by someone else
    monkeypatch.setenv("XDG_DATA_HOME", str(data))
    st = stores.abspath()
    brain.ok("create", st)
    brain.ok("put", st, "v", tmpfile(b"1"))
    r = brain("save", st)
    assert r.rc == 1 and "symbolic link" in r.err and str(data / which) in r.err, r
    r = brain("load", st)
    assert r.rc == 1 and "symbolic link" in r.err, r
    assert list(other.iterdir()) == []
    os.unlink(data / which)
    r = brain.ok("save", st)
    assert str(data / "brain-plasma" / "path") in r.out


def test_snapshot_base_writable_by_everyone_is_refused(brain, stores, tmp_path, tmpfile,
                                                       monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    os.chmod(data, 0o777)
    monkeypatch.setenv("XDG_DATA_HOME", str(data))
    st = stores.abspath()
    brain.ok("create", st)
    r = brain("save", st)
    assert r.rc == 1 and "writable by every user" in r.err, r
    assert not (data / "brain-plasma").exists()
    os.chmod(data, 0o1777)  # sticky, as /tmp: entries cannot be swapped by others
    brain.ok("save", st)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a directory to another user")
@pytest.mark.parametrize("which", ["brain-plasma", "brain-plasma/path"])
def test_snapshot_directory_owned_by_another_user_is_refused(brain, stores, tmp_path, tmpfile,
                                                             monkeypatch, which):
    data = tmp_path / "data"
    (data / "brain-plasma" / "path").mkdir(parents=True, mode=0o700)
    monkeypatch.setenv("XDG_DATA_HOME", str(data))
    os.chown(data / which, 65534, 65534)  # nobody
    st = stores.abspath()
    brain.ok("create", st)
    brain.ok("put", st, "v", tmpfile(b"1"))
    for cmd in ("save", "load"):
        r = brain(cmd, st)
        assert r.rc == 1 and "owned by uid 65534" in r.err, r
    assert os.listdir(data / "brain-plasma" / "path") == []
    os.chown(data / which, 0, 0)
    brain.ok("save", st)
    assert brain.ok("load", st).out.startswith("loaded 1 name ")


def test_put_into_namespace_all_refused_like_python(brain, store, tmpfile):
    r = brain("put", store, "x", tmpfile(b"1"), "--namespace", "all")
    assert r.rc == 2 and "'all' is reserved" in r.err
    assert brain.ok("ls", store, "--all", "--json").out.strip() == "[]"


def test_descriptions_with_control_characters_refused(brain, store, tmpfile):
    r = brain("put", store, "x", tmpfile(b"1"), "--desc", "line\nbreak")
    assert r.rc == 1 and "control character 0x0a" in r.err, r

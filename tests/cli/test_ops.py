"""Operating a store from the CLI: ls --long/--sort, show, stats, resize,
clear, rm of several names, save/load, watch, serve, check --repair."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import SHM

PY = sys.executable

OPS = ["show", "stats", "resize", "clear", "save", "load", "watch", "serve"]


def py(code, timeout=60):
    """Runs Python code in a fresh process (the store's other user)."""
    cp = subprocess.run([PY, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE, timeout=timeout)
    assert cp.returncode == 0, cp.stderr.decode()
    return cp.stdout.decode()


def ls_json(brain, store, *extra):
    items = json.loads(brain.ok("ls", store, "--all", "--json", *extra).out)
    for i in items:
        del i["age_s"]  # moves with the clock
    return items


def fill(brain, store, tmpfile):
    brain.ok("put", store, "text", "-", "--type", "str", "--desc", "a greeting",
             input="héllo wörld\n".encode())
    brain.ok("put", store, "blob", tmpfile(bytes(range(256)) * 40), "-n", "other")
    brain.ok("put", store, "cfg", "-", "--type", "json", "--ttl", "1h", "-n", "other",
             input=b'{"a": 1}')


@pytest.mark.parametrize("cmd", OPS)
def test_help(brain, cmd):
    r = brain.ok(cmd, "--help")
    assert r.out.startswith(f"usage: brain {cmd} ")
    assert cmd in brain.ok("--help").out


# ---- ls --long, --sort ----------------------------------------------------------


def test_ls_long_describes_python_values(brain, store):
    py(f"""
        import numpy as np, pandas as pd, brain_plasma
        b = brain_plasma.Brain(path={store!r})
        b['frame'] = pd.DataFrame({{'a': np.arange(100), 's': ['x'] * 100}})
        b.learn(np.zeros((3, 4), dtype='int32'), 'arr', description='zeros')
        b['d'] = {{'k': 1}}
        b['n'] = 7
        b['ser'] = pd.Series(np.arange(12.0))
        b.learn_many({{'f2': pd.DataFrame({{'x': [1, 2, 3]}})}})
    """)
    r = brain.ok("ls", store, "--long")
    rows = {line.split()[0]: line for line in r.out.splitlines()[1:]}
    assert "DESCRIPTION" in r.out.splitlines()[0]
    # the shape the Python side recorded in the pickle's header
    assert "pickle DataFrame 100x2" in rows["frame"]
    assert "pickle DataFrame 3x1" in rows["f2"]
    assert "pickle Series 12 float64" in rows["ser"]
    assert "type:        pickle DataFrame 100x2" in brain.ok("show", store, "frame").out
    assert "ndarray <i4 (3, 4)" in rows["arr"] and rows["arr"].rstrip().endswith("zeros")
    assert "pickle dict" in rows["d"]
    assert "pickle int" in rows["n"]
    items = {i["name"]: i for i in json.loads(brain.ok("ls", store, "-l", "--json").out)}
    assert items["frame"]["kind"] == "pickle DataFrame 100x2"
    assert items["arr"]["kind"] == "ndarray <i4 (3, 4)"
    # without --long there is no kind
    assert "kind" not in json.loads(brain.ok("ls", store, "--json").out)[0]


def test_ls_sort(brain, store, tmpfile):
    for name, size in [("b", 300), ("a", 10), ("c", 2000)]:
        brain.ok("put", store, name, tmpfile(b"x" * size))
        time.sleep(0.01)
    names = lambda *o: [i["name"] for i in json.loads(brain.ok("ls", store, "--json", *o).out)]
    assert names() == ["a", "b", "c"]
    assert names("--sort", "name") == ["a", "b", "c"]
    assert names("--sort", "size") == ["c", "b", "a"]
    assert names("--sort", "age") == ["c", "a", "b"]
    r = brain("ls", store, "--sort", "colour")
    assert r.rc == 2 and "--sort takes name, size or age, not 'colour'" in r.err


# ---- show -------------------------------------------------------------------------


def test_show_text_bytes_array(brain, store, tmpfile):
    fill(brain, store, tmpfile)
    r = brain.ok("show", store, "text")
    assert "type:        str" in r.out
    assert "description: a greeting" in r.out
    assert 'preview:     "héllo wörld\\n"' in r.out
    r = brain.ok("show", store, "blob", "-n", "other")
    assert "00 01 02 03" in r.out and "10240 bytes" in r.out
    r = brain.ok("show", store, "cfg", "-n", "other")
    assert "expires:     20" in r.out
    py(f"""
        import numpy as np, brain_plasma
        brain_plasma.Brain(path={store!r})['arr'] = np.arange(20, dtype='float64')
    """)
    r = brain.ok("show", store, "arr")
    assert "ndarray <f8 (20,)" in r.out
    assert "[0, 1, 2, 3, 4, 5, 6, 7, ... (12 more)]" in r.out
    j = json.loads(brain.ok("show", store, "arr", "--json").out)
    assert j["kind"] == "ndarray <f8 (20,)" and j["type"] == "ndarray"


def test_show_pickle_is_not_unpickled(brain, store, tmp_path):
    # a pickle whose unpickling would create a file: show must not run it
    marker = tmp_path / "ran"
    py(f"""
        import os, brain_plasma
        class Evil:
            def __reduce__(self):
                return (os.system, ("touch {marker}",))
        brain_plasma.Brain(path={store!r})['evil'] = Evil()
    """)
    r = brain.ok("show", store, "evil")
    assert "type:        pickle posix.system" in r.out
    assert "not unpickled" in r.out
    brain.ok("ls", store, "--long")
    assert not marker.exists()


def test_show_missing(brain, store):
    r = brain("show", store, "nope")
    assert r.rc == 1 and "nope" in r.err and "not found" in r.err.lower()


# ---- stats --------------------------------------------------------------------------


def test_stats_namespaces_and_processes(brain, store, tmpfile):
    fill(brain, store, tmpfile)
    holder = subprocess.Popen([PY, "-c", textwrap.dedent(f"""
        import sys, numpy as np, brain_plasma
        b = brain_plasma.Brain(path={store!r}, namespace='arrays')
        b['a'] = np.arange(1000000.0)
        held = b['a']  # a zero-copy view: one pin while it lives
        print('ready', flush=True)
        sys.stdin.read()
    """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline() == b"ready\n"
        j = json.loads(brain.ok("stats", store, "--json").out)
        assert j["names"] == 4
        ns = {n["name"]: n for n in j["namespaces"]}
        assert ns["default"]["names"] == 1 and ns["other"]["names"] == 2
        assert ns["arrays"]["names"] == 1
        procs = {p["pid"]: p for p in j["processes"]}
        assert holder.pid in procs and procs[holder.pid]["alive"]
        assert procs[holder.pid]["pins"] >= 1
        assert any(p["self"] for p in j["processes"])
        assert 0.0 <= j["fragmentation"] <= 1.0
        assert j["free"] + j["used"] + j["limbo"] <= j["capacity"]
        r = brain.ok("stats", store)
        for word in ("capacity:", "used:", "free:", "fragmentation:", "NAMESPACE", "PID"):
            assert word in r.out
        assert str(holder.pid) in r.out
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)


# ---- resize, rm, clear --------------------------------------------------------------


def test_resize(brain, stores, tmpfile):
    s = stores.name()
    brain.ok("create", s, "--size", "8MiB")
    brain.ok("put", s, "big", tmpfile(os.urandom(5 << 20)))
    r = brain.ok("resize", s, "32MiB")
    assert "capacity 8.4 MB -> 33.6 MB" in r.out
    r = brain("resize", s, "4MiB")
    assert r.rc == 1 and "cannot shrink to 4.2 MB" in r.err and "delete names first" in r.err
    assert len(brain.ok("get", s, "big").out_bytes) == 5 << 20
    r = brain("resize", s, "lots")
    assert r.rc == 2 and "bad size 'lots'" in r.err
    brain.ok("check", s)


def test_rm_several(brain, store, tmpfile):
    for n in "abc":
        brain.ok("put", store, n, tmpfile(n.encode()))
    r = brain("rm", store, "a", "zz", "c")
    assert r.rc == 1
    assert "deleted a" in r.out and "deleted c" in r.out and "zz" in r.err
    assert [i["name"] for i in ls_json(brain, store)] == ["b"]


def test_clear(brain, store, tmpfile):
    fill(brain, store, tmpfile)
    r = brain("clear", store)
    assert r.rc == 2 and "--namespace" in r.err
    assert len(ls_json(brain, store)) == 3
    r = brain.ok("clear", store, "--namespace", "other")
    assert "2 names deleted" in r.out
    assert [i["name"] for i in ls_json(brain, store)] == ["text"]
    assert "0 names deleted" in brain.ok("clear", store, "-n", "empty").out


# ---- save and load ------------------------------------------------------------------


def test_save_destroy_load_round_trip(brain, stores, tmp_path, tmpfile):
    s = stores.name()
    brain.ok("create", s)
    fill(brain, s, tmpfile)
    py(f"""
        import numpy as np, pandas as pd, brain_plasma
        b = brain_plasma.Brain(path={s!r})
        df = pd.DataFrame({{'x': np.arange(50000), 'f': np.linspace(0, 1, 50000),
                           'city': ['Oslo', 'Lima', None, 'Pune'] * 12500,
                           't': pd.date_range('2020', periods=50000, freq='min')}})
        b.learn(df, 'frame', description='daily')
        b.namespace = 'models'
        b['weights'] = np.arange(1000.0)
        pd.to_pickle(df, {str(tmp_path / 'expected.pkl')!r})
    """)
    before = {(i["namespace"], i["name"]): i for i in ls_json(brain, s)}
    blobs = {k: brain.ok("get", s, k[1], "-n", k[0]).out_bytes for k in before}
    snap = tmp_path / "s.snapshot"
    r = brain.ok("save", s, snap)
    assert "saved 5 names" in r.out and r.err == ""  # no bar when not a terminal
    brain.ok("destroy", s)
    r = brain.ok("load", s, snap)
    assert "loaded 5 names" in r.out and "(created)" in r.out
    after = {(i["namespace"], i["name"]): i for i in ls_json(brain, s)}
    assert after.keys() == before.keys()
    for k, i in before.items():
        assert brain.ok("get", s, k[1], "-n", k[0]).out_bytes == blobs[k], k
        for f in ("type", "size", "desc", "created_ns"):
            assert after[k][f] == i[f] or f == "created_ns", (k, f)
        assert (after[k]["expires_ns"] == 0) == (i["expires_ns"] == 0)
        assert abs(after[k]["expires_ns"] - i["expires_ns"]) < 2e9
    out = py(f"""
        import pandas as pd, numpy as np, brain_plasma
        b = brain_plasma.Brain(path={s!r})
        pd.testing.assert_frame_equal(b['frame'], pd.read_pickle({str(tmp_path / 'expected.pkl')!r}))
        b.namespace = 'models'
        assert (b['weights'] == np.arange(1000.0)).all()
        print('same')
    """)
    assert out == "same\n"
    # the frame's shape travels in its value's header
    assert {i["name"]: i for i in ls_json(brain, s, "--long")}["frame"]["kind"] == \
        "pickle DataFrame 50000x4"
    brain.ok("check", s)


def test_load_replace_and_merge(brain, store, tmp_path, tmpfile):
    brain.ok("put", store, "a", tmpfile(b"1"))
    snap = tmp_path / "a.snapshot"
    brain.ok("save", store, snap)
    brain.ok("put", store, "a", tmpfile(b"2"))
    brain.ok("put", store, "b", tmpfile(b"3"))
    brain.ok("load", store, snap, "--merge")
    assert brain.ok("get", store, "a").out_bytes == b"1"
    assert [i["name"] for i in ls_json(brain, store)] == ["a", "b"]
    brain.ok("load", store, snap)
    assert [i["name"] for i in ls_json(brain, store)] == ["a"]
    r = brain("load", store, snap, "--size", "1GiB")
    assert r.rc == 2 and "exists" in r.err


def test_default_snapshot_path(brain, store, tmp_path, tmpfile, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    brain.ok("put", store, "a", tmpfile(b"1"))
    r = brain.ok("save", store)
    path = tmp_path / "xdg" / "brain-plasma" / f"{store}.snapshot"
    assert str(path) in r.out and path.exists()
    # the same place as Python's Brain.snapshot_path()
    out = py(f"""
        import brain_plasma
        print(brain_plasma.Brain(path={store!r}).snapshot_path())
    """)
    assert out.strip() == str(path)
    brain.ok("rm", store, "a")
    brain.ok("load", store)
    assert brain.ok("get", store, "a").out_bytes == b"1"


def damaged(snap, how):
    data = bytearray(snap.read_bytes())
    bad = snap.with_name(how + ".snapshot")
    if how == "flipped":
        data[len(data) // 2] ^= 0x40
    elif how == "truncated":
        data = data[: len(data) - 100]
    elif how == "magic":
        data[:8] = b"NOTASNAP"
    elif how == "empty":
        data = b""
    bad.write_bytes(bytes(data))
    return bad


@pytest.mark.parametrize("how,message", [
    ("flipped", "checksum does not match"),
    ("truncated", "truncated"),
    ("magic", "not a brain snapshot (bad magic)"),
    ("empty", "not a brain snapshot"),
])
def test_damaged_snapshot_refused_store_unchanged(brain, store, tmp_path, tmpfile, how, message):
    brain.ok("put", store, "big", tmpfile(os.urandom(100000)))
    snap = tmp_path / "s.snapshot"
    brain.ok("save", store, snap)
    brain.ok("put", store, "later", tmpfile(b"kept"))
    before = ls_json(brain, store)
    r = brain("load", store, damaged(snap, how))
    assert r.rc == 1 and message in r.err, r
    assert ls_json(brain, store) == before
    assert brain.ok("get", store, "later").out_bytes == b"kept"


def test_damaged_snapshot_creates_no_store(brain, stores, store, tmp_path, tmpfile):
    brain.ok("put", store, "x", tmpfile(b"x"))
    snap = tmp_path / "s.snapshot"
    brain.ok("save", store, snap)
    fresh = stores.name()
    r = brain("load", fresh, damaged(snap, "flipped"))
    assert r.rc == 1 and "checksum" in r.err
    assert not os.path.exists(stores.path_of(fresh))


def test_snapshot_bad_paths(brain, store, tmp_path):
    r = brain("save", store, tmp_path / "no" / "such" / "dir" / "s.snapshot")
    assert r.rc == 1 and "cannot create snapshot" in r.err and "No such file" in r.err
    r = brain("load", store, tmp_path / "missing.snapshot")
    assert r.rc == 1 and "missing.snapshot" in r.err and "No such file" in r.err
    not_snap = tmp_path / "x.txt"
    not_snap.write_text("hello, I am not a snapshot at all" * 10)
    r = brain("load", store, not_snap)
    assert r.rc == 1 and "not a brain snapshot" in r.err


# ---- watch -------------------------------------------------------------------------


def test_watch_name_and_namespace(brain, store, tmpfile, brain_bin):
    w1 = subprocess.Popen([brain_bin, "watch", store, "k", "--count", "2", "--timeout", "20"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    w2 = subprocess.Popen([brain_bin, "watch", store, "--count", "3", "--timeout", "20"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(0.5)
    brain.ok("put", store, "k", tmpfile(b"1"))
    time.sleep(0.2)
    brain.ok("put", store, "other", tmpfile(b"2"))
    time.sleep(0.2)
    brain.ok("rm", store, "k")
    out1, err1 = w1.communicate(timeout=30)
    out2, _ = w2.communicate(timeout=30)
    assert w1.returncode == 0, err1
    l1 = out1.decode().splitlines()
    assert len(l1) == 2 and "default/k  stored" in l1[0] and "default/k  deleted" in l1[1]
    l2 = out2.decode().splitlines()
    assert len(l2) == 3
    assert "default/k  stored" in l2[0] and "default/other  stored" in l2[1]
    assert "default/k  deleted" in l2[2]


def test_watch_timeout_and_bad_args(brain, store):
    t = time.monotonic()
    r = brain.ok("watch", store, "--timeout", "0.3")
    assert r.out == "" and time.monotonic() - t < 10
    r = brain("watch", store, "--count", "many")
    assert r.rc == 2 and "many" in r.err
    r = brain("watch", "no-such-store-xyz", "--timeout", "1")
    assert r.rc == 1 and "no-such-store-xyz" in r.err


# ---- serve -------------------------------------------------------------------------


class Server:
    def __init__(self, brain_bin, *args):
        self.p = subprocess.Popen([brain_bin, "serve", *map(str, args)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.err = b""

    def wait_log(self, text, timeout=20):
        """Reads the log until a line holds TEXT."""
        deadline = time.monotonic() + timeout
        os.set_blocking(self.p.stderr.fileno(), False)
        while time.monotonic() < deadline:
            chunk = self.p.stderr.read()
            if chunk:
                self.err += chunk
            if text.encode() in self.err:
                return self.err.decode()
            if self.p.poll() is not None:
                self.err += self.p.stderr.read() or b""
                break
            time.sleep(0.05)
        raise AssertionError(f"no {text!r} in the log: {self.err.decode()}")

    def stop(self, sig=signal.SIGTERM):
        self.p.send_signal(sig)
        self.p.wait(timeout=30)
        os.set_blocking(self.p.stderr.fileno(), True)
        self.err += self.p.stderr.read()
        return self.p.returncode, self.err.decode()

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait(timeout=30)


def test_serve_snapshots_on_sigterm_and_restores(brain, stores, tmp_path, tmpfile, brain_bin):
    s = stores.name()
    snap = tmp_path / "serve.snapshot"
    srv = Server(brain_bin, s, "--snapshot", snap, "--every", "1h", "--size", "64MiB")
    try:
        srv.wait_log("serving")
        brain.ok("put", s, "v", tmpfile(b"value"), "--desc", "kept over restarts")
        rc, log = srv.stop(signal.SIGTERM)
        assert rc == 0, log
        assert "SIGTERM: stopping" in log and "final: saved 1 names" in log
        assert snap.exists()
    finally:
        srv.kill()
    brain.ok("destroy", s)
    srv = Server(brain_bin, s, "--snapshot", snap)
    try:
        log = srv.wait_log("restored 1 names")
        assert brain.ok("get", s, "v").out_bytes == b"value"
        assert ls_json(brain, s)[0]["desc"] == "kept over restarts"
        rc, log = srv.stop(signal.SIGINT)
        assert rc == 0 and "nothing changed" in log
    finally:
        srv.kill()


def test_serve_expires_and_snapshots_on_schedule(brain, stores, tmp_path, tmpfile, brain_bin):
    s = stores.name()
    snap = tmp_path / "sched.snapshot"
    srv = Server(brain_bin, s, "--snapshot", snap, "--every", "0.5s", "--expire-every", "0.2s")
    try:
        srv.wait_log("serving")
        brain.ok("put", s, "short", tmpfile(b"x"), "--ttl", "1")
        brain.ok("put", s, "long", tmpfile(b"y"))
        srv.wait_log("scheduled: saved 2 names")
        srv.wait_log("expired 1 name")
        # gone from the store itself, not only hidden from readers
        st = json.loads(brain.ok("stats", s, "--json").out)
        assert st["names"] == 1
        srv.wait_log("scheduled: saved 1 names")
    finally:
        rc, log = srv.stop()
        srv.kill()
    assert rc == 0, log


def test_serve_refuses_a_bad_snapshot(brain, stores, tmp_path, brain_bin):
    s = stores.name()
    snap = tmp_path / "bad.snapshot"
    snap.write_bytes(b"garbage" * 100)
    srv = Server(brain_bin, s, "--snapshot", snap)
    try:
        srv.p.wait(timeout=30)
        err = srv.p.stderr.read().decode()
        assert srv.p.returncode == 1
        assert "not a brain snapshot" in err and "not starting" in err
        assert snap.read_bytes() == b"garbage" * 100
    finally:
        srv.kill()


def test_serve_bad_args(brain, store):
    r = brain("serve", store, "--every", "0")
    assert r.rc == 2 and "--every" in r.err
    r = brain("serve", store, "--no-snapshot", "--snapshot", "/tmp/x")
    assert r.rc == 2 and "exclude" in r.err


# ---- check --repair ----------------------------------------------------------------


def test_check_repair(brain, store, tmpfile):
    fill(brain, store, tmpfile)
    r = brain.ok("check", store, "--repair")
    assert "repaired:" in r.out and "ok:" in r.out
    assert brain.ok("get", store, "blob", "-n", "other").out_bytes == bytes(range(256)) * 40
    st = json.loads(brain.ok("stats", store, "--json").out)
    assert st["recoveries"] >= 1 and st["names"] == 3

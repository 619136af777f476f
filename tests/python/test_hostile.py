"""What an adversarial run broke (issue 18), from Python: a store destroyed
under other handles, FIFOs at our paths, the writers' lock held by a stopped
process, out-of-range arguments, snapshot files and directories."""
import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import brain_plasma
from brain_plasma import (Brain, BrainError, BrainStoreDestroyedError, BrainSnapshotError,
                          BrainCorruptError, BrainClientDisconnectedError, _core)
from conftest import LINUX, STORE_DIR, proc_state


def run_py(code, timeout=60):
    cp = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                        text=True, timeout=timeout)
    assert cp.returncode == 0, cp.stderr
    return cp.stdout


# ---- finding 8: dead() in another process --------------------------------------------


def test_destroyed_by_another_process_is_an_error_naming_the_pid(store_name):
    a = Brain(path=store_name, size=16_000_000)
    a["x"] = 1
    out = run_py(f"""
        import os, brain_plasma
        b = brain_plasma.Brain(path={store_name!r}, start_process=False)
        b.dead(i_am_sure=True)
        print(os.getpid())
    """)
    pid = int(out)
    with pytest.raises(BrainStoreDestroyedError) as e:
        a["y"] = 2  # used to succeed, on a file no one would see again
    assert f"destroyed by pid {pid}" in str(e.value) and "start()" in str(e.value)
    with pytest.raises(BrainStoreDestroyedError):
        a.names()
    with pytest.raises(BrainStoreDestroyedError):
        a["x"]
    assert not os.path.exists(a.path)
    a.start()  # creates it again, as the message says
    a["y"] = 2
    assert a.names() == ["y"]
    a.dead(i_am_sure=True)


def test_dead_in_this_process_advises_start_not_wake_up(store_name):
    a = Brain(path=store_name, size=16_000_000)
    b = Brain(path=store_name)
    a["x"] = 1
    a.dead(i_am_sure=True)
    for br in (a, b):
        with pytest.raises(BrainClientDisconnectedError) as e:
            br["x"] = 2
        msg = str(e.value)
        assert "start()" in msg and "wake_up()" not in msg, msg
    b.start()
    assert b.names() == []
    b.dead(i_am_sure=True)


# ---- finding 7: a stopped lock holder ---------------------------------------------------

ROOT = pathlib.Path(__file__).resolve().parents[2]


class Holder:
    """A process holding the store's writers' lock, stopped (SIGSTOP) or
    alive (pausing)."""

    def __init__(self, store, alive=False):
        exe = os.environ.get("BRAIN_LOCK_HOLDER") or str(ROOT / "build" / "lock-holder")
        if not os.access(exe, os.X_OK):
            pytest.fail(f"test helper {exe} missing: run `make build/lock-holder`")
        self.p = subprocess.Popen([exe, store] + (["--pause"] if alive else []),
                                  stdout=subprocess.PIPE, text=True)
        line = self.p.stdout.readline()
        assert line.startswith("locked "), line
        self.pid = self.p.pid
        if not alive:  # wait until it is stopped
            for _ in range(200):
                if proc_state(self.pid) in ("T", "t"):
                    break
                time.sleep(0.01)

    def release(self):
        self.p.send_signal(signal.SIGCONT)
        try:
            self.p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


def test_stopped_lock_holder_times_out_naming_it(store_name):
    b = Brain(path=store_name, size=16_000_000, lock_timeout=0.3)
    b["a"] = 1
    h = Holder(store_name)
    try:
        t0 = time.monotonic()
        with pytest.raises(brain_plasma.BrainLockTimeoutError) as e:
            b["x"] = 2
        assert time.monotonic() - t0 < 5
        msg = str(e.value)
        assert f"pid {h.pid} (stopped)" in msg and "kill -CONT" in msg, msg
        with pytest.raises(brain_plasma.BrainLockTimeoutError):
            b.forget("a")
        # reads and stats never wait for the lock
        assert b["a"] == 1
        st = b.stats() if hasattr(b, "stats") else b.client.stats()
        assert st["names"] == 1
        assert b.size() > 0 and b.used() > 0 and "Brain" in repr(b)
        with pytest.raises(brain_plasma.BrainLockTimeoutError,
                           match=f"held by pid {h.pid} \\(stopped\\), so the store was not checked"):
            b.check()
    finally:
        h.release()
        h.kill()
    b["x"] = 2  # the holder is gone: the lock is free again
    assert b["x"] == 2
    b.sleep()


def test_stats_with_lock_held_leaves_expired_values_out(store_name):
    """stats() never waits for the writers' lock (issue 18) and never counts
    expired values as live (issue 15): with the lock held by a stopped
    process it cannot drop them, so it leaves them out of names, used and
    the namespace count instead."""
    b = Brain(path=store_name, size=16_000_000, lock_timeout=0.3)
    b.set_namespace("short")
    b.learn(b"\x01" * 2_000_000, "gone", ttl=0.2)
    b.set_namespace("default")
    b["kept"] = 1
    live = b.stats()
    time.sleep(0.4)
    h = Holder(store_name)
    try:
        t0 = time.monotonic()
        st = b.stats()
        assert time.monotonic() - t0 < 1
        assert st["names"] == 1, st
        assert st["used"] <= live["used"] - 2_000_000, (st, live)
        assert st["namespaces"] == 1, st  # "short" holds only an expired value
        assert st["free"] + st["used"] + st["limbo"] == st["capacity"]
    finally:
        h.release()
        h.kill()
    st = b.stats()  # lock free again: the expired name is dropped for real
    assert st["names"] == 1 and st["namespaces"] == 1
    b.sleep()


def test_lock_wait_releases_the_gil_and_ctrl_c_ends_it(store_name):
    b = Brain(path=store_name, size=16_000_000)
    b["a"] = 1
    h = Holder(store_name, alive=True)
    try:
        # another thread waits for the lock; this one keeps running Python
        done = []
        t = threading.Thread(target=lambda: done.append(
            pytest.raises(brain_plasma.BrainLockTimeoutError, b.__setitem__, "x", 1)))
        b.lock_timeout = 1.0
        t.start()
        n = 0
        t0 = time.monotonic()
        while t.is_alive() and time.monotonic() - t0 < 10:
            n += 1  # would not advance if the waiting thread held the GIL
        t.join()
        assert done and n > 1000
        assert f"pid {h.pid} (alive)" in str(done[0].value)
        # Ctrl-C in a process waiting with no timeout
        p = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
            import brain_plasma, sys
            b = brain_plasma.Brain(path={store_name!r}, start_process=False, lock_timeout=None)
            print("waiting", flush=True)
            try:
                b["x"] = 1
            except KeyboardInterrupt:
                print("interrupted", flush=True)
                sys.exit(3)
        """)], stdout=subprocess.PIPE, text=True)
        assert p.stdout.readline().strip() == "waiting"
        time.sleep(0.5)
        p.send_signal(signal.SIGINT)
        out, _ = p.communicate(timeout=10)
        assert p.returncode == 3 and "interrupted" in out
    finally:
        h.kill()
    b["x"] = 2  # the holder died holding it: the next writer recovers
    assert b["x"] == 2
    b.sleep()


def test_lock_timeout_argument_checked(store_name):
    for bad in (-1, "x", float("nan"), float("inf"), True):
        with pytest.raises(brain_plasma.BrainValueError, match="lock_timeout"):
            Brain(path=store_name, lock_timeout=bad)
    b = Brain(path=store_name, lock_timeout=None)
    assert b.lock_timeout is None
    b.sleep()


# ---- finding 11: snapshot files keep mode and group; a full disk is not a full store ------


def test_snapshot_replaced_keeps_mode_and_group(brain, tmp_path):
    brain["x"] = 1
    snap = tmp_path / "shared.snapshot"
    brain.save(snap)
    gid = 100 if os.geteuid() == 0 else os.getegid()  # a group root can give away
    os.chown(snap, -1, gid)
    os.chmod(snap, 0o640)
    brain["x"] = 2
    brain.save(snap)
    st = os.stat(snap)
    assert oct(st.st_mode & 0o777) == oct(0o640) and st.st_gid == gid


@pytest.fixture
def tiny_fs(tmp_path):
    if not LINUX:
        pytest.skip("mounts a small tmpfs (Linux's)")
    d = tmp_path / "tiny"
    d.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(d)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    yield d
    subprocess.run(["umount", str(d)])


def test_disk_full_during_save_is_not_store_full(brain, tiny_fs):
    brain["big"] = os.urandom(3 << 20)
    with pytest.raises(brain_plasma.BrainDiskFullError) as e:
        brain.save(tiny_fs / "s.snapshot")
    assert not isinstance(e.value, brain_plasma.BrainStoreFullError)
    assert "file system holding it is full" in str(e.value)
    assert list(tiny_fs.iterdir()) == []  # the temporary file was removed
    assert len(brain["big"]) == 3 << 20


# ---- finding 12: out-of-range arguments, paths, descriptions -------------------------


def test_sizes_times_and_versions_out_of_range_are_brain_errors(brain, store_name):
    with pytest.raises(brain_plasma.BrainValueError, match="larger than the limit"):
        Brain(path=store_name + "-big", size=2 ** 64 + 10_000_000)  # used to wrap to 10 MB
    assert not os.path.exists(STORE_DIR + "/brain-" + store_name + "-big")
    for ttl in (float("inf"), 2 ** 63, float("nan"), -1, 0):
        with pytest.raises(brain_plasma.BrainValueError, match="ttl"):
            brain.learn(1, "x", ttl=ttl)
    for v in (-1, "x", 2 ** 64, 1.5, True):
        with pytest.raises(brain_plasma.BrainValueError, match="if_version"):
            brain.learn(1, "x", if_version=v)
    for t in (1e300, float("inf"), float("nan"), -1, "1"):
        with pytest.raises(brain_plasma.BrainValueError, match="timeout"):
            brain.wait("x", timeout=t)
    assert brain.names() == []


def test_pathlib_store_path_just_works(tmp_path):
    p = tmp_path / "store"
    b = Brain(path=p, size=4_000_000)
    try:
        b["x"] = 1
        assert b.path == str(p) and Brain(path=p, start_process=False)["x"] == 1
    finally:
        b.dead(i_am_sure=True)
    with pytest.raises(brain_plasma.BrainValueError, match="store path"):
        Brain(path=3.5)


def test_descriptions_with_control_characters_refused(brain):
    for bad in ("a\nb", "tab\there", "esc\x1b[31m", "del\x7f"):
        with pytest.raises(brain_plasma.BrainError, match="control character"):
            brain.learn(1, "x", description=bad)
    brain.learn(1, "x", description="fine, ünïcode too")
    assert brain.names() == ["x"]


def test_snapshot_directory_that_is_a_link_or_not_ours_is_refused(brain, tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    other = tmp_path / "elsewhere"
    other.mkdir()
    os.symlink(other, data / "brain-plasma")  # planted by someone else
    monkeypatch.setenv("XDG_DATA_HOME", str(data))
    brain["x"] = 1
    with pytest.raises(BrainSnapshotError, match="symbolic link"):
        brain.save()
    assert list(other.iterdir()) == []
    os.unlink(data / "brain-plasma")
    (data / "brain-plasma").mkdir(mode=0o777)
    os.chmod(data / "brain-plasma", 0o777)
    with pytest.raises(BrainSnapshotError, match="writable by others"):
        brain.save()


def test_snapshot_directories_are_checked_on_the_opened_directory(tmp_path, monkeypatch):
    """The nested directory of a path store (brain-plasma/path) is checked
    too, a base writable by everyone is refused, and a directory given to
    another user is refused (root only)."""
    data = tmp_path / "data"
    (data / "brain-plasma").mkdir(parents=True, mode=0o700)
    other = tmp_path / "elsewhere"
    other.mkdir()
    os.symlink(other, data / "brain-plasma" / "path")
    monkeypatch.setenv("XDG_DATA_HOME", str(data))
    store = str(tmp_path / "store")
    b = Brain(path=store, size="16MiB")
    try:
        b["x"] = 1
        with pytest.raises(BrainSnapshotError, match="symbolic link"):
            b.save()
        assert list(other.iterdir()) == []
        # a snapshot planted behind the link is not loaded either
        planted = other / os.path.basename(b.snapshot_path())
        b["evil"] = 2
        b.save(path=planted)
        b.forget("evil")
        with pytest.raises(BrainSnapshotError, match="symbolic link"):
            b.load()
        assert b.names() == ["x"]
        os.unlink(planted)
        os.unlink(data / "brain-plasma" / "path")
        os.chmod(data, 0o777)
        with pytest.raises(BrainSnapshotError, match="writable by every user"):
            b.save()
        os.chmod(data, 0o700)
        saved = b.save()
        assert os.path.dirname(saved) == str(data / "brain-plasma" / "path")
        b.forget("x")
        assert b.load() == 1 and b["x"] == 1
    finally:
        b.dead(i_am_sure=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a directory to another user")
@pytest.mark.parametrize("which", ["brain-plasma", "brain-plasma/path"])
def test_snapshot_directory_owned_by_another_user_is_refused(tmp_path, monkeypatch, which):
    data = tmp_path / "data"
    (data / "brain-plasma" / "path").mkdir(parents=True, mode=0o700)
    monkeypatch.setenv("XDG_DATA_HOME", str(data))
    os.chown(data / which, 65534, 65534)  # nobody
    b = Brain(path=str(tmp_path / "store"), size="16MiB")
    try:
        b["x"] = 1
        with pytest.raises(BrainSnapshotError, match="owned by uid 65534"):
            b.save()
        with pytest.raises(BrainSnapshotError, match="owned by uid 65534"):
            b.load()
        assert os.listdir(data / "brain-plasma" / "path") == []
        os.chown(data / which, 0, 0)
        assert os.path.exists(b.save())
    finally:
        b.dead(i_am_sure=True)

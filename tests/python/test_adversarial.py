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

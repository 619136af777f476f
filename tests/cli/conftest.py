"""Fixtures for the tests of the `brain` command-line tool.

The binary is $BRAIN_CLI (set by `make test-cli`), else build/brain in the
repository.  Every store a test makes has a unique name in SHM (the
directory of bare store names) and is removed afterwards, whatever the test
did to it.
"""
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINUX = sys.platform.startswith("linux")


def store_dir():
    """The directory of bare store names, the library's rule: /dev/shm on
    Linux, $TMPDIR on macOS (without trailing slashes; /tmp when unset)."""
    if sys.platform == "darwin":
        t = os.environ.get("TMPDIR") or ""
        return Path((t if t.startswith("/") else "/tmp").rstrip("/") or "/")
    return Path("/dev/shm")


SHM = store_dir()


def proc_state(pid):
    """The state letter of process PID (R, S, T, Z...): /proc on Linux, ps(1)
    elsewhere; '' when it is gone."""
    if LINUX:
        try:
            with open(f"/proc/{pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            return ""
    r = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True)
    return r.stdout.strip()[:1]

# A size as the tool prints it ("12 B", "1.5 MB", "256.0 MiB").
SIZE_RE = re.compile(r"\d+(?:\.\d+)? ?(?:B|kB|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\b")


def cli_path():
    p = os.environ.get("BRAIN_CLI") or str(ROOT / "build" / "brain")
    return p


@pytest.fixture(scope="session")
def brain_bin():
    p = cli_path()
    if not os.access(p, os.X_OK):
        pytest.fail(f"brain CLI not found at {p}: run `make cli` or set BRAIN_CLI")
    return p


class Result:
    def __init__(self, cp):
        self.rc = cp.returncode
        self.out_bytes = cp.stdout
        self.err_bytes = cp.stderr
        self.out = cp.stdout.decode("utf-8", "replace")
        self.err = cp.stderr.decode("utf-8", "replace")

    def __repr__(self):
        return f"<rc={self.rc} out={self.out[:400]!r} err={self.err[:400]!r}>"


class Runner:
    """Runs the CLI; never lets a crash pass (a signal is a failure)."""

    def __init__(self, binary):
        self.binary = binary

    def __call__(self, *args, input=None, stdin=None, timeout=60, check_rc=None):
        kw = {}
        if stdin is not None:
            kw["stdin"] = stdin
        elif input is None:
            kw["stdin"] = subprocess.DEVNULL
        cp = subprocess.run(
            [self.binary, *[str(a) for a in args]],
            input=input,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            timeout=timeout,
            **kw,
        )
        r = Result(cp)
        assert r.rc >= 0, f"brain {' '.join(map(str, args))} was killed by signal {-r.rc}: {r!r}"
        if check_rc is not None:
            assert r.rc == check_rc, f"brain {' '.join(map(str, args))}: {r!r}"
        return r

    def ok(self, *args, **kw):
        return self(*args, check_rc=0, **kw)


@pytest.fixture
def brain(brain_bin):
    return Runner(brain_bin)


class Stores:
    """Hands out unique store names and removes their files afterwards."""

    def __init__(self):
        self.paths = []

    def name(self):
        n = f"clitest-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self.paths.append(SHM / f"brain-{n}")
        return n

    def abspath(self):
        p = SHM / f"clitest-{os.getpid()}-{uuid.uuid4().hex[:12]}.store"
        self.paths.append(p)
        return str(p)

    def path_of(self, name):
        return name if name.startswith("/") else str(SHM / f"brain-{name}")

    def track(self, path):
        self.paths.append(Path(path))

    def cleanup(self):
        for p in self.paths:
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass


@pytest.fixture
def stores():
    s = Stores()
    yield s
    s.cleanup()


@pytest.fixture
def store(brain, stores):
    """A fresh, created store (default size); yields its name."""
    name = stores.name()
    brain.ok("create", name)
    return name


@pytest.fixture
def tmpfile(tmp_path):
    """tmpfile(data) -> path of a file holding data."""
    counter = [0]

    def make(data: bytes, name=None):
        counter[0] += 1
        p = tmp_path / (name or f"in{counter[0]}.bin")
        p.write_bytes(data)
        return str(p)

    return make

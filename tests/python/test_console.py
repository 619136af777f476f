"""The `brain` command of a pip install: the console script beside this
interpreter and ``python -m brain_plasma`` exec brain_plasma/_bin/brain, the
C program built from cli/*.c and src/*.c.  They must behave as build/brain:
same output, exit status, process (signals reach the C program), SIGPIPE.

tests/cli runs the whole CLI suite against the console script too
(BRAIN_CLI=.../bin/brain, as `make test-wheel` does with an installed wheel).
"""
import importlib.metadata
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import brain_plasma
from brain_plasma import Brain, _cli, _core
from conftest import LINUX, STORE_DIR

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(sys.executable).parent / "brain"
MODULE = [sys.executable, "-m", "brain_plasma"]
BUILD_BRAIN = ROOT / "build" / "brain"


def run(cmd, **kw):
    kw.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=60, **kw)


def commands():
    out = run([str(SCRIPT), "--help"]).stdout.decode()
    block = out.split("commands:\n", 1)[1].split("\n\n", 1)[0]
    return [line.split()[0] for line in block.splitlines()]


def test_console_script_is_installed():
    assert SCRIPT.exists(), "pip installs the console script `brain` beside python"
    assert os.access(_cli.executable(), os.X_OK)
    # the package carries the program, not the C sources of the extension
    pkg = Path(brain_plasma.__file__).parent
    assert (pkg / "_bin" / "brain").exists()


def test_one_version_everywhere():
    v = brain_plasma.__version__
    assert re.fullmatch(r"\d+\.\d+\.\d+", v)
    assert v == _core.LIB_VERSION
    assert importlib.metadata.version("brain-plasma") == v
    assert run([str(SCRIPT), "--version"]).stdout.decode() == "brain %s\n" % v
    assert run(MODULE + ["--version"]).stdout.decode() == "brain %s\n" % v
    header = ROOT / "include" / "brain.h"
    if header.exists():  # a source checkout: the one definition
        m = re.search(r'#define BRAIN_VERSION_STRING "([^"]+)"', header.read_text())
        assert m and m.group(1) == v


def test_help_of_every_command_is_the_c_programs():
    names = commands()
    assert {"create", "put", "get", "ls", "stats", "serve", "destroy"} <= set(names)
    ref = [str(BUILD_BRAIN)] if BUILD_BRAIN.exists() else [_cli.executable()]
    for args in [["--help"], ["help"]] + [[n, "--help"] for n in names]:
        want = run(ref + args)
        for cmd in ([str(SCRIPT)], MODULE):
            got = run(cmd + args)
            assert (got.returncode, got.stdout, got.stderr) == \
                (want.returncode, want.stdout, want.stderr), (cmd, args)


@pytest.mark.parametrize("args, rc", [
    ([], 2),                            # usage on stderr
    (["bogus"], 2),                     # unknown command
    (["--bogus"], 2),                   # unknown option
    (["ls"], 2),                        # missing STORE
    (["ls", STORE_DIR + "/brain-test-console-missing-%d" % os.getpid()], 1),
])
def test_exit_status_and_stderr(args, rc):
    ref = [str(BUILD_BRAIN)] if BUILD_BRAIN.exists() else [_cli.executable()]
    want = run(ref + args)
    assert want.returncode == rc
    for cmd in ([str(SCRIPT)], MODULE):
        got = run(cmd + args)
        assert (got.returncode, got.stdout, got.stderr) == \
            (want.returncode, want.stdout, want.stderr), (cmd, args)


def test_stdin_and_stdout_pass_through(brain, store_name):
    data = bytes(range(256)) * 1000
    p = run([str(SCRIPT), "put", store_name, "raw", "-"], input=data, stdin=None)
    assert p.returncode == 0, p.stderr
    assert brain["raw"] == data
    p = run(MODULE + ["get", store_name, "raw"])
    assert p.returncode == 0 and p.stdout == data


def exe_of(pid):
    """The program process PID runs: /proc on Linux, ps(1) elsewhere."""
    if LINUX:
        return os.path.realpath("/proc/%d/exe" % pid)
    r = subprocess.run(["ps", "-o", "comm=", "-p", str(pid)], capture_output=True, text=True)
    return os.path.realpath(r.stdout.strip()) if r.stdout.strip() else ""


def test_the_program_replaces_the_python_process(store_name):
    """exec: the pid Python started is the C program's, so a signal sent to
    it reaches the C program (Ctrl-C ends `brain watch`, which has no
    handler of its own, by the default action, not a KeyboardInterrupt)."""
    Brain(store_name)["w"] = 1
    p = subprocess.Popen([str(SCRIPT), "watch", store_name, "w", "--timeout", "60"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        want = os.path.realpath(_cli.executable())
        deadline = time.monotonic() + 20
        while exe_of(p.pid) != want:
            assert time.monotonic() < deadline, "the console script never exec'd the program"
            time.sleep(0.02)
        p.send_signal(signal.SIGINT)
        p.wait(timeout=30)
        assert p.returncode == -signal.SIGINT, p.stderr.read()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_sigpipe_kills_it_as_it_kills_the_c_program(brain, store_name):
    """Python ignores SIGPIPE and an ignored signal stays ignored across
    exec: the launcher puts it back, so `brain get ... | head` ends quietly."""
    brain["big"] = b"x" * (8 << 20)
    for cmd in ([str(SCRIPT)], MODULE):
        r, w = os.pipe()
        os.close(r)  # nobody reads: the first write raises SIGPIPE
        try:
            p = subprocess.run(cmd + ["get", store_name, "big"], stdout=w,
                               stderr=subprocess.PIPE, timeout=60)
        finally:
            os.close(w)
        assert p.returncode == -signal.SIGPIPE, (cmd, p.returncode, p.stderr)
        assert p.stderr == b""


def test_serve_takes_sigterm_through_the_console_script(store_name, tmp_path):
    snap = tmp_path / "s.snapshot"
    p = subprocess.Popen([str(SCRIPT), "serve", store_name, "--snapshot", str(snap),
                          "--every", "1h"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        b = None
        while b is None:
            try:
                b = Brain(store_name, start_process=False)
            except brain_plasma.BrainStoreNotFoundError:
                assert time.monotonic() < deadline and p.poll() is None
                time.sleep(0.05)
        b["kept"] = "value"
        time.sleep(0.3)  # serve is in its loop
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=30)
        err = p.stderr.read().decode()
        assert p.returncode == 0, err
        assert "SIGTERM: stopping" in err and snap.exists()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_a_missing_program_is_a_clear_error(tmp_path):
    code = ("import sys; from brain_plasma import _cli; "
            "_cli.executable = lambda: %r; sys.exit(_cli.main(['--version']))"
            % str(tmp_path / "nothing" / "brain"))
    p = run([sys.executable, "-c", code])
    assert p.returncode == 1
    err = p.stderr.decode()
    assert "cannot run" in err and "reinstall" in err and "make cli" in err

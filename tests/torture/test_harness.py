"""The torture harness's own test: a value lost or damaged behind the
log's back must fail the run with a message that names it.  (A harness
whose checks cannot fail proves nothing.)  Run by `make test-torture`."""
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BUILD = os.environ.get("TORTURE_BUILD", os.path.join(ROOT, "build"))


@pytest.mark.parametrize("fault,message", [
    ("loss", "is gone, but a learn of it returned"),
    ("corrupt", "holds a damaged value: CRC-32 mismatch"),
])
def test_injected_fault_fails_the_run(fault, message):
    p = subprocess.run(
        [sys.executable, os.path.join(HERE, "torture.py"), "--kills", "5", "--quiet",
         "--inject", fault, "--worker", os.path.join(BUILD, "torture-worker"),
         "--brain", os.path.join(BUILD, "brain")],
        capture_output=True, text=True, timeout=120)
    assert p.returncode == 1, p.stdout + p.stderr
    assert message in p.stderr, p.stderr


def test_clean_short_run_passes(tmp_path):
    out = tmp_path / "r.json"
    p = subprocess.run(
        [sys.executable, os.path.join(HERE, "torture.py"), "--kills", "5", "--quiet",
         "--json", str(out), "--worker", os.path.join(BUILD, "torture-worker"),
         "--brain", os.path.join(BUILD, "brain")],
        capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    import json
    r = json.loads(out.read_text())
    assert r["kills"] >= 5 and r["result"] == "pass"
    assert r["used_after_forgetting_all"] == r["used_before"]

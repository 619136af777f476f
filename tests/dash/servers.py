"""gunicorn serving the example apps on a free loopback port, for the tests
(and bench/bench_dash.py): started by the test, stopped after."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import psutil

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
APP_DIR = os.path.join(ROOT, "examples", "dash_app")
GUNICORN = os.path.join(os.path.dirname(sys.executable), "gunicorn")
sys.path.insert(0, APP_DIR)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_no_ctl = None


def _control_socket_args():
    """gunicorn 24+ opens a control socket under ~/.gunicorn; off here."""
    global _no_ctl
    if _no_ctl is None:
        out = subprocess.run([GUNICORN, "--help"], capture_output=True, text=True).stdout
        _no_ctl = ["--no-control-socket"] if "--no-control-socket" in out else []
    return _no_ctl


class Gunicorn:
    """gunicorn -w WORKERS [--preload] MODULE:server in examples/dash_app."""

    def __init__(self, module, store, workers=4, preload=False, env=None, log=None):
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        e = dict(os.environ, BRAIN_DASH_STORE=store, PYTHONUNBUFFERED="1")
        e.update(env or {})
        cmd = [GUNICORN, "-w", str(workers), "-b", "127.0.0.1:%d" % self.port,
               "--timeout", "120", "--graceful-timeout", "5"] + _control_socket_args()
        if preload:
            cmd.append("--preload")
        cmd.append(module + ":server")
        self.log = log or open(os.devnull, "w")
        self.proc = subprocess.Popen(cmd, cwd=APP_DIR, env=e, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.workers = workers
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout=90):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError("gunicorn exited with status %s" % self.proc.returncode)
            if len(self.worker_pids()) == self.workers:
                try:
                    self.get("/api/pid", timeout=5)
                    return
                except OSError:
                    pass
            time.sleep(0.2)
        raise RuntimeError("gunicorn did not answer within %d s" % timeout)

    def worker_pids(self):
        try:
            return sorted(c.pid for c in psutil.Process(self.proc.pid).children())
        except psutil.NoSuchProcess:
            return []

    def request(self, path, method="GET", timeout=120):
        req = urllib.request.Request(self.url + path, method=method,
                                     headers={"Connection": "close"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read())

    def get(self, path, timeout=120):
        return self.request(path, timeout=timeout)

    def on_every_worker(self, path, per_worker=2, max_rounds=40, threads=8):
        """GET PATH concurrently until every worker answered PER_WORKER
        times; returns {pid: [responses]}."""
        seen = {}
        with ThreadPoolExecutor(threads) as pool:
            for _ in range(max_rounds):
                for r in pool.map(lambda _: self.get(path), range(threads)):
                    seen.setdefault(r["pid"], []).append(r)
                if len(seen) >= self.workers and all(
                        len(v) >= per_worker for v in seen.values()):
                    return seen
        raise AssertionError("requests reached only workers %s of %s"
                             % (sorted(seen), self.worker_pids()))

    def stop(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
            except ProcessLookupError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

"""The peers of bench/run.py and the processes they run in.

The list of peers, the worker processes that hold one peer open
(bench/worker.py, driven over a JSON-lines pipe), the servers some peers
need (Redis, plasma_store, Ray; started on loopback), and the cleanup
registry: everything a run creates is registered here and removed at the
end, also on error and on a signal.
"""
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PID = os.getpid()
SHM = "/dev/shm"
RUNDIR = "%s/bench-run-%d" % (SHM, PID)
PLASMA_PY = os.path.join(ROOT, ".venv-plasma", "bin", "python")

PEERS = [
    ("brain", "brain-plasma (this)"),
    ("plasma", "brain-plasma 0.3.3 on Plasma"),
    ("pickle", "pickle files in /dev/shm"),
    ("shm", "multiprocessing.shared_memory"),
    ("redis", "Redis (redis-py + hiredis)"),
    ("lmdb", "LMDB (py-lmdb)"),
    ("diskcache", "diskcache"),
    ("ray", "Ray object store"),
    ("ultradict", "UltraDict"),
    ("smdict", "shared-memory-dict"),
    ("parquet", "Parquet files in /dev/shm"),
    ("feather", "Feather files in /dev/shm"),
    ("limit", "the limit: memcpy / pickle.loads over views / dict"),
]
LABEL = dict(PEERS)
TABLE_ONLY = {"parquet", "feather"}
STORE = "%s/brain-bench-run-%d" % (SHM, PID)

_cleanup = []


def cleanup():
    while _cleanup:
        fn = _cleanup.pop()
        try:
            fn()
        except Exception as exc:
            print("cleanup: %s: %s" % (type(exc).__name__, exc), file=sys.stderr)


def cleanup_since(mark):
    """Runs the cleanups registered after MARK (len(_cleanup) then): one
    peer's servers and workers."""
    while len(_cleanup) > mark:
        fn = _cleanup.pop()
        try:
            fn()
        except Exception as exc:
            log("cleanup: %s: %s" % (type(exc).__name__, exc))


def unlink_segments():
    """The shared-memory segments this run's peers created."""
    for n in os.listdir(SHM):
        if n.startswith(("bpk%d_" % PID, "bud%d" % PID, "sm_bsm%d" % PID)):
            try:
                os.unlink(os.path.join(SHM, n))
            except OSError:
                pass


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_proc(p, group=False):
    if p.poll() is None:
        try:
            if group:
                os.killpg(p.pid, signal.SIGTERM)
            else:
                p.terminate()
            p.wait(10)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            try:
                if group:
                    os.killpg(p.pid, signal.SIGKILL)
                else:
                    p.kill()
            except ProcessLookupError:
                pass
            p.wait()


# ---- worker processes -----------------------------------------------------------

class WorkerError(Exception):
    pass


class Worker:
    def __init__(self, python, timeout):
        self.timeout = timeout
        self.p = subprocess.Popen([python, os.path.join(HERE, "worker.py")],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, cwd=ROOT)
        self.q = queue.Queue()
        self.err = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()
        _cleanup.append(self.stop)

    def _read(self):
        for line in self.p.stdout:
            self.q.put(line)
        self.q.put(None)

    def _read_err(self):
        for line in self.p.stderr:
            self.err.append(line)
            del self.err[:-20]

    def send(self, op, **kw):
        kw["op"] = op
        try:
            self.p.stdin.write(json.dumps(kw) + "\n")
            self.p.stdin.flush()
        except OSError:
            raise WorkerError("the worker process died: " + self.stderr())

    def recv(self, timeout=None):
        try:
            line = self.q.get(timeout=timeout or self.timeout)
        except queue.Empty:
            self.stop()
            raise WorkerError("timed out after %d s" % (timeout or self.timeout))
        if line is None:
            raise WorkerError("the worker process died: " + self.stderr())
        res = json.loads(line)
        if not res.pop("ok"):
            raise WorkerError(res["error"])
        return res

    def call(self, op, timeout=None, **kw):
        self.send(op, **kw)
        return self.recv(timeout)

    def stderr(self):
        lines = [x.strip() for x in self.err if x.strip()]
        return lines[-1] if lines else "(nothing on stderr)"

    def stop(self):
        if self.p.poll() is None:
            try:
                self.send("close")
                self.p.wait(5)
            except Exception:
                pass
            stop_proc(self.p)


# ---- servers the peers need --------------------------------------------------------

def start_redis(capacity):
    exe = shutil.which("redis-server")
    if exe is None:
        return None, "not installed: apt-get install -y redis-server (scripts/setup.sh bench)"
    try:
        import redis
    except ImportError:
        return None, "not installed: pip install -r requirements-bench.txt (redis, hiredis)"
    for _ in range(3):
        port = free_port()
        srv = subprocess.Popen(
            [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", tempfile.gettempdir(),
             "--proto-max-bulk-len", str(max(capacity, 512 << 20)),
             "--client-query-buffer-limit", str(max(capacity, 1 << 30))],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _cleanup.append(lambda srv=srv: stop_proc(srv))
        r = redis.Redis(host="127.0.0.1", port=port)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and srv.poll() is None:
            try:
                r.ping()
                v = r.info()["redis_version"]
                r.close()
                try:
                    import hiredis  # noqa: F401
                    h = "hiredis"
                except ImportError:
                    h = "no hiredis"
                return {"redis_port": port}, "redis-server %s, redis-py %s, %s" % (
                    v, redis.__version__, h)
            except redis.ConnectionError:
                time.sleep(0.05)
        stop_proc(srv)
    return None, "redis-server did not start"


def start_plasma(capacity):
    exe = os.path.join(ROOT, ".venv-plasma", "bin", "plasma_store")
    if not os.path.exists(PLASMA_PY) or not os.path.exists(exe):
        return None, ("not installed: make bench-plasma-venv (creates .venv-plasma "
                      "from requirements-plasma.txt)")
    sock = "%s/plasma-%d.sock" % (tempfile.gettempdir(), PID)
    srv = subprocess.Popen([exe, "-m", str(capacity), "-s", sock, "-d", SHM],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _cleanup.append(lambda: os.path.exists(sock) and os.unlink(sock))
    _cleanup.append(lambda: stop_proc(srv))
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and srv.poll() is None:
        if os.path.exists(sock):
            v = subprocess.run([PLASMA_PY, "-c", "import pyarrow, brain_plasma, numpy; "
                                "print(pyarrow.__version__, numpy.__version__)"],
                               capture_output=True, text=True, timeout=60)
            return {"plasma_socket": sock}, "brain-plasma 0.3.3, pyarrow %s, numpy %s" % tuple(
                v.stdout.split()[:2]) if v.returncode == 0 else "?"
        time.sleep(0.05)
    stop_proc(srv)
    return None, "plasma_store did not start"


def start_ray(capacity, timeout):
    exe = os.path.join(os.path.dirname(sys.executable), "ray")
    if not os.path.exists(exe):
        return None, "not installed: pip install -r requirements-bench-ray.txt (make bench installs it)"
    port = free_port()
    tmp = "/tmp/rb%d" % PID
    # its own session: the whole group (gcs_server, raylet, ...) is stopped at the end
    srv = subprocess.Popen(
        [exe, "start", "--head", "--block", "--port", str(port), "--node-ip-address",
         "127.0.0.1", "--num-cpus", "2", "--object-store-memory", str(capacity),
         "--include-dashboard", "false", "--disable-usage-stats", "--temp-dir", tmp],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        start_new_session=True, env=dict(os.environ, RAY_USAGE_STATS_ENABLED="0"))
    _cleanup.append(lambda: shutil.rmtree(tmp, ignore_errors=True))
    _cleanup.append(lambda: stop_proc(srv, group=True))
    addr = "127.0.0.1:%d" % port
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and srv.poll() is None:
        r = subprocess.run([sys.executable, "-c",
                            "import ray,sys; ray.init(address=sys.argv[1], logging_level=40);"
                            "print(ray.__version__)", addr],
                           capture_output=True, text=True, timeout=timeout)
        if r.returncode == 0:
            return {"ray_address": addr}, "ray %s (%d MB object store)" % (
                r.stdout.strip(), capacity >> 20)
        time.sleep(1)
    if srv.poll() is not None:
        return None, "ray start failed: %s" % (srv.stderr.read().strip().splitlines() or ["?"])[-1]
    stop_proc(srv, group=True)
    return None, "Ray did not start within %d s" % timeout

"""redis-server processes for tests/redis and bench: single servers and a
3-node cluster on free loopback ports.  (A module of its own: a test that
imports from "conftest" could get tests/python's when both run together.)"""
import glob
import os
import shutil
import signal
import socket
import subprocess
import time

REDIS_SERVER = shutil.which("redis-server")

if REDIS_SERVER is None:  # make test-redis installs it (scripts/setup.sh redis)
    raise RuntimeError("redis-server is missing: run scripts/setup.sh redis "
                       "(or apt-get install redis-server)")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """A redis-server on 127.0.0.1:PORT with its data in DIR (dump.rdb,
    written only by save())."""

    def __init__(self, tmpdir, password=None):
        self.dir = str(tmpdir)
        self.port = free_port()
        self.password = password
        self.proc = None
        self.start()

    @property
    def url(self):
        auth = ":%s@" % self.password if self.password else ""
        return "redis://%s127.0.0.1:%d/0" % (auth, self.port)

    def start(self):
        args = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", self.dir,
                "--dbfilename", "dump.rdb", "--daemonize", "no",
                "--loglevel", "warning", "--logfile", os.path.join(self.dir, "redis.log")]
        if self.password:
            args += ["--requirepass", self.password]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL)
        import redis

        r = redis.Redis(host="127.0.0.1", port=self.port, password=self.password)
        deadline = time.monotonic() + 10
        while True:
            try:
                r.ping()
                break
            except redis.exceptions.BusyLoadingError:
                pass
            except redis.exceptions.ConnectionError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start on port %d" % self.port)
            time.sleep(0.02)
        r.close()

    def client(self):
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, password=self.password)

    def save(self):
        c = self.client()
        c.save()
        c.close()

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def restart(self, keep_data):
        """Stops the server and starts it again on the same port: with the
        data saved by save() when KEEP_DATA, else empty."""
        self.stop()
        if not keep_data:
            for f in glob.glob(os.path.join(self.dir, "*.rdb")):
                os.unlink(f)
        self.start()


def free_cluster_port():
    """A port P with P and its cluster bus port P + 10000 free."""
    for _ in range(100):
        p = free_port()
        if p + 10000 > 65535:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", p + 10000))
            except OSError:
                continue
        return p
    raise RuntimeError("no free port pair for a cluster node")


class RedisCluster3:
    """A Redis Cluster on loopback: three primaries, and REPLICAS replicas
    of each (then NODE_TIMEOUT_MS, cluster-node-timeout, bounds how soon a
    dead primary's replica takes over; FULL_COVERAGE False serves the
    other slots while some are not)."""

    def __init__(self, tmpdir, replicas=0, node_timeout_ms=None, full_coverage=True):
        self.dir = str(tmpdir)
        self.ports = []
        self.procs = {}
        n = 3 * (1 + replicas)
        extra = []
        if node_timeout_ms is not None:
            extra = ["--cluster-node-timeout", str(node_timeout_ms)]
        if not full_coverage:  # the other slots are served while some are not
            extra += ["--cluster-require-full-coverage", "no"]
        for _ in range(n):
            p = free_cluster_port()
            while p in self.ports:
                p = free_cluster_port()
            self.ports.append(p)
            self.procs[p] = subprocess.Popen(
                [REDIS_SERVER, "--port", str(p), "--bind", "127.0.0.1",
                 "--cluster-enabled", "yes", "--cluster-config-file",
                 os.path.join(self.dir, "nodes-%d.conf" % p), "--save", "",
                 "--appendonly", "no", "--dir", self.dir, "--loglevel", "warning",
                 "--logfile", os.path.join(self.dir, "redis-%d.log" % p)] + extra,
                stdout=subprocess.DEVNULL)
        import redis

        for p in self.ports:
            r = redis.Redis(host="127.0.0.1", port=p)
            deadline = time.monotonic() + 10
            while True:
                try:
                    r.ping()
                    break
                except redis.exceptions.ConnectionError:
                    if time.monotonic() > deadline:
                        raise RuntimeError("cluster node %d did not start" % p)
                    time.sleep(0.02)
            r.close()
        cli = shutil.which("redis-cli")
        subprocess.run([cli, "--cluster", "create"] +
                       ["127.0.0.1:%d" % p for p in self.ports] +
                       ["--cluster-replicas", str(replicas), "--cluster-yes"],
                       check=True, capture_output=True, timeout=60)
        self.wait_ok(self.ports, 30)
        if replicas:  # every replica attached and in sync
            deadline = time.monotonic() + 30
            while len([p for p in self.ports if self.role(p) == ("slave", "up")]) \
                    != 3 * replicas:
                if time.monotonic() > deadline:
                    raise RuntimeError("the cluster's replicas did not sync")
                time.sleep(0.05)

    def client(self, port):
        import redis

        return redis.Redis(host="127.0.0.1", port=port)

    def role(self, port):
        """(role, master_link_status) of the node at PORT."""
        info = self.client(port).info("replication")
        return info["role"], info.get("master_link_status")

    def wait_ok(self, ports, seconds):
        """Until every node at PORTS says cluster_state:ok and agrees on
        which nodes serve slots."""
        deadline = time.monotonic() + seconds
        for p in ports:
            r = self.client(p)
            while r.cluster("info").get("cluster_state") != "ok":
                if time.monotonic() > deadline:
                    raise RuntimeError("the cluster did not become ok")
                time.sleep(0.05)

    def primary_of(self, key):
        """The port of the primary serving KEY's slot, and of its replicas."""
        r = self.client(self.alive()[0])
        slot = r.cluster("keyslot", key)
        for lo, hi, primary, *_ in r.execute_command("CLUSTER SLOTS"):
            if lo <= slot <= hi:
                port = int(primary[1])
                return port, [p for p in self.alive()
                              if self.client(p).info("replication").get("master_port") == port]
        raise RuntimeError("slot %d is not served" % slot)

    def alive(self):
        return [p for p in self.ports if self.procs[p].poll() is None]

    def kill(self, port, sig=signal.SIGKILL):
        self.procs[port].send_signal(sig)
        if sig == signal.SIGKILL:
            self.procs[port].wait()

    @property
    def url(self):
        return "redis://127.0.0.1:%d/0" % self.ports[0]

    def stop(self):
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGCONT)
                p.kill()
        for p in self.procs.values():
            p.wait()

"""Fixtures of the Redis Brain tests: real redis-server processes on free
loopback ports, started and stopped by the tests, and "hosts": Brains with
caches of their own in the directory of bare store names (/dev/shm on Linux,
$TMPDIR on macOS), removed afterwards."""
import os
import uuid

import pytest

from brain_plasma import _core
from redis_servers import RedisServer


@pytest.fixture
def server(tmp_path):
    s = RedisServer(tmp_path)
    yield s
    s.stop()


class Hosts:
    """Cache store names, one per "host"; destroyed at the end."""

    def __init__(self):
        self.tag = "pytest-redis-%d-%s" % (os.getpid(), uuid.uuid4().hex[:8])
        self.made = []

    def cache(self, host):
        path = _core.resolve("%s-%s" % (self.tag, host))
        self.made.append(path)
        return path

    def url(self, server, host="a", **opts):
        q = {"cache": self.cache(host)}
        q.update({k: str(v) for k, v in opts.items()})
        return server.url + "?" + "&".join("%s=%s" % kv for kv in q.items())

    def cleanup(self):
        for p in self.made:
            for f in (p, p + ".lock"):
                try:
                    if f.endswith(".lock"):
                        os.unlink(f)
                    else:
                        _core.destroy(f)
                except (FileNotFoundError, OSError):
                    pass


@pytest.fixture
def hosts():
    h = Hosts()
    yield h
    h.cleanup()


@pytest.fixture
def brain(server, hosts):
    from brain_plasma import Brain

    b = Brain(hosts.url(server, "a", inline_max=4096, chunk_size=65536))
    yield b
    b.sleep()


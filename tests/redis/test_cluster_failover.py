"""A Redis Cluster primary dies and its replica takes over: the Brain keeps
working through the same URL (docs/redis.md, "Failover").  A cluster of
three primaries and three replicas on loopback, cluster-node-timeout 1 s;
about 15 s."""
import signal
import threading
import time

import numpy as np
import pytest

from brain_plasma import (
    Brain,
    BrainConnectionError,
    BrainNameNotExistError,
    BrainVersionConflictError,
)
from redis_servers import RedisCluster3


def _namespace_on(brain, cl, url_node):
    """A namespace whose slot is served by the URL's node (URL_NODE) or by
    another primary: (namespace, its primary, a replica of it)."""
    for i in range(200):
        ns = "ns%d" % i
        primary, replicas = cl.primary_of(brain._base(ns) + ":names")
        if (primary == cl.ports[0]) == url_node and replicas:
            return ns, primary, replicas[0]
    raise AssertionError("no namespace found")


def test_a_primary_killed_its_replica_takes_over(tmp_path, hosts):
    cl = RedisCluster3(tmp_path, replicas=1, node_timeout_ms=1000)
    try:
        opts = "?chunk_size=65536&inline_max=4096&socket_timeout=5&cache="
        a = Brain(cl.url + opts + hosts.cache("a"))
        b = Brain(cl.url + opts + hosts.cache("b"))  # another host
        assert a.cluster
        # the primary that dies is not the URL's node: new Brains start there
        ns, primary, replica = _namespace_on(a, cl, url_node=False)
        elsewhere = Brain(cl.url + "?cache=off", namespace=_namespace_on(a, cl, True)[0])
        elsewhere["x"] = np.arange(10_000)
        a.set_namespace(ns)
        b.set_namespace(ns)
        a["small"] = 1
        a["big"] = np.arange(100_000)
        a.learn_many({"m1": 1, "m2": np.arange(50_000)})
        assert int(b["big"][1]) == 1  # in host b's cache
        assert cl.client(primary).wait(1, 5000) == 1  # the replica has it all
        # writes the replica never gets: its link is cut while it is stopped,
        # and the primary acknowledges them alone (asynchronous replication)
        cl.kill(replica, signal.SIGSTOP)
        cl.client(primary).client_kill_filter(_type="replica")
        a["lost"] = 5
        a["big"] = np.arange(100_000) * 3
        assert int(b["big"][1]) == 3  # host b caches the value that will be lost
        lost_version = a.version("big")
        cl.kill(primary)  # SIGKILL
        cl.kill(replica, signal.SIGCONT)

        # until the replica serves the slot: each call answers, or raises
        # BrainConnectionError naming the URL within a bounded time
        t0 = time.monotonic()
        errors = []
        while True:
            t = time.monotonic()
            try:
                big = b["big"]
                break
            except BrainConnectionError as exc:
                errors.append(str(exc))
            assert time.monotonic() - t < 12, "a call during the failover hung"
            # the other primaries' slots: served, or (the cluster is down
            # while a primary is missing: cluster-require-full-coverage) the
            # same clear error
            try:
                assert int(elsewhere["x"][5]) == 5
            except BrainConnectionError as exc:
                assert "cluster is down" in str(exc) and "a replica takes over" in str(exc)
            assert time.monotonic() - t0 < 40, "no failover within 40 s: %s" % errors[-1:]
            time.sleep(0.1)
        assert all("127.0.0.1:%d" % cl.ports[0] in e and "a replica takes over" in e
                   for e in errors)
        assert cl.role(replica)[0] == "master"
        # what the replica had: the lost writes are gone, and host b's cache,
        # which holds one of them, is not served
        assert int(big[1]) == 1
        with pytest.raises(BrainNameNotExistError):
            b.recall("lost")
        assert a["small"] == 1 and int(a["big"][-1]) == 99_999
        got = a.recall_many(["m1", "m2"])
        assert got["m1"] == 1 and int(got["m2"][7]) == 7
        # versions went back with the data: the lost write's comes again
        assert a.version("big") < lost_version
        # learn, compare-and-set, wait: as before
        v = a.version("small")
        a.learn(2, "small", if_version=v)
        with pytest.raises(BrainVersionConflictError):
            b.learn(3, "small", if_version=v)
        assert b["small"] == 2
        threading.Timer(0.3, lambda: b.learn(4, "small")).start()
        assert a.wait("small", timeout=10) == a.version("small")
        assert a["small"] == 4
        b["big"] = np.arange(100_000) * 7
        assert int(a["big"][1]) == 7 and int(b["big"][1]) == 7
        # a new Brain through the same URL finds the new primary
        c = Brain(cl.url + "?cache=off", namespace=ns)
        assert c["small"] == 4 and int(c["big"][2]) == 14
        assert c.check() == []
    finally:
        cl.stop()

"""A Redis Cluster primary dies and its replica takes over: the Brain keeps
working through the same URL (docs/redis.md, "Failover").  A cluster of
three primaries and three replicas on loopback, cluster-node-timeout 1 s,
cluster-require-full-coverage no (the other primaries' slots stay served);
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


def _until(cond, seconds):
    deadline = time.monotonic() + seconds
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _namespace_on(brain, cl, primaries):
    """A namespace whose slot one of PRIMARIES (ports) serves: (namespace,
    its primary, a replica of it)."""
    for i in range(500):
        ns = "ns%d" % i
        primary, replicas = cl.primary_of(brain._base(ns) + ":names")
        if primary in primaries and replicas:
            return ns, primary, replicas[0]
    raise AssertionError("no namespace found")


def _call_through_failover(fn, url_port, seconds=40):
    """FN() once it answers; until then each call raises
    BrainConnectionError naming the URL, at once or within socket_timeout.
    Returns (FN's result, the error messages)."""
    t0 = time.monotonic()
    errors = []
    while True:
        t = time.monotonic()
        try:
            return fn(), errors
        except BrainConnectionError as exc:
            errors.append(str(exc))
            assert "127.0.0.1:%d" % url_port in str(exc), str(exc)
        assert time.monotonic() - t < 12, "a call during the failover hung"
        assert time.monotonic() - t0 < seconds, "no answer within %d s: %s" % (
            seconds, errors[-1:])
        time.sleep(0.1)


def test_a_primary_killed_its_replica_takes_over(tmp_path, hosts):
    cl = RedisCluster3(tmp_path, replicas=1, node_timeout_ms=1000, full_coverage=False)
    try:
        opts = "?chunk_size=65536&inline_max=4096&socket_timeout=5&cache="
        a = Brain(cl.url + opts + hosts.cache("a"))
        b = Brain(cl.url + opts + hosts.cache("b"))  # another host
        assert a.cluster
        # the primary that dies is neither the URL's node (new Brains start
        # there) nor the one of PREFIXepoch (read by revalidate=push's
        # watcher every second: it would notice the failover by its errors)
        epoch_node = cl.primary_of(a.prefix + "epoch")[0]
        others = [p for p in cl.ports[:3] if p not in (cl.ports[0], epoch_node)]
        ns, primary, replica = _namespace_on(a, cl, others or cl.ports[1:3])
        elsewhere = Brain(cl.url + "?cache=off",
                          namespace=_namespace_on(a, cl, [cl.ports[0]])[0])
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
        # a process of host c that recalls it with no round trip
        # (revalidate=push): nothing is published when the replica takes over
        c = Brain(cl.url + opts + hosts.cache("c") + "&revalidate=push", namespace=ns)
        w = c._watcher()
        _until(lambda: w.ready, 10)
        _until(lambda: int(c["big"][1]) == 3 and (ns, "big") in w.known, 5)
        lost_version = a.version("big")
        cl.kill(primary)  # SIGKILL
        cl.kill(replica, signal.SIGCONT)

        def recall_and_check_elsewhere():
            # the other primaries' slots stay served meanwhile
            assert int(elsewhere["x"][5]) == 5
            return b["big"]

        big, errors = _call_through_failover(recall_and_check_elsewhere, cl.ports[0])
        assert all("a replica takes over" in e for e in errors)
        assert cl.role(replica)[0] == "master"
        # the recall's own connection follows: one to the new primary
        assert int(b["big"][1]) == 1
        assert replica in {f.conn.port for f in b._fasts[1].values()}
        # what the replica had: the lost writes are gone, and host b's cache,
        # which holds one of them, is not served
        assert int(big[1]) == 1
        with pytest.raises(BrainNameNotExistError):
            b.recall("lost")
        assert a["small"] == 1 and int(a["big"][-1]) == 99_999
        got = a.recall_many(["m1", "m2"])
        assert got["m1"] == 1 and int(got["m2"][7]) == 7
        # host c: the cluster's epoch, which the failover raised, drops what
        # its subscription remembered (checked every second)
        _until(lambda: (ns, "big") not in w.known, 5)
        assert int(c["big"][1]) == 1
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
        _until(lambda: int(c["big"][2]) == 14, 5)
        # a new Brain through the same URL finds the new primary
        d = Brain(cl.url + "?cache=off", namespace=ns)
        assert d["small"] == 4 and int(d["big"][2]) == 14
        assert d.check() == []

        # the new primary dies too, with no replica left: its slots are not
        # served (redis-py keeps asking the dead node, which the cluster
        # still names), each call a clear error at once; the others served
        cl.kill(replica)
        for _ in range(3):
            t = time.monotonic()
            with pytest.raises(BrainConnectionError, match="a replica takes over"):
                a.recall("small")
            assert time.monotonic() - t < 12
            assert int(elsewhere["x"][5]) == 5
        # the cluster's "not now" replies (CLUSTERDOWN with
        # cluster-require-full-coverage yes during a failover, MASTERDOWN,
        # TRYAGAIN during a resharding) are the same error
        import redis

        for exc in (redis.exceptions.ClusterDownError("The cluster is down"),
                    redis.exceptions.MasterDownError("MASTERDOWN Link with MASTER is down"),
                    redis.exceptions.TryAgainError("TRYAGAIN Multiple keys request")):
            with pytest.raises(BrainConnectionError, match="a replica takes over") as e:
                with a._net("read from"):
                    raise exc
            assert str(exc) in str(e.value) and "127.0.0.1:%d" % cl.ports[0] in str(e.value)
    finally:
        cl.stop()

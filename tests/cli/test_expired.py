"""`brain ls` and `brain stats` never count expired values as live, and a
put that does not fit first drops expired names (issue 15)."""
import json
import time


def test_ls_and_stats_leave_expired_values_out(brain, stores, tmpfile):
    s = stores.name()
    brain.ok("create", s, "--size", "100MB")
    big = tmpfile(b"\0" * 60_000_000)
    brain.ok("put", s, "big", big, "--ttl", "1")
    brain.ok("put", s, "keep", tmpfile(b"x"))
    brain.ok("put", s, "gone", tmpfile(b"y"), "--ttl", "1", "--namespace", "other")
    st = json.loads(brain.ok("stats", s, "--json").out)
    assert st["names"] == 3
    time.sleep(1.3)
    ls = brain.ok("ls", s, "--all").out
    assert "keep" in ls and "big" not in ls and "gone" not in ls
    assert [e["name"] for e in json.loads(brain.ok("ls", s, "--json").out)] == ["keep"]
    st = json.loads(brain.ok("stats", s, "--json").out)
    assert st["names"] == 1
    assert st["used"] < 10_000_000, st
    table = brain.ok("stats", s).out
    line = [l for l in table.splitlines() if l.startswith("default ")][0]
    assert line.split()[1] == "1", table
    other = [l for l in table.splitlines() if l.startswith("other ")]
    assert not other or other[0].split()[1] == "0", table


def test_put_into_a_store_full_of_expired_values(brain, stores, tmpfile):
    s = stores.name()
    brain.ok("create", s, "--size", "100MB")
    big = tmpfile(b"\1" * 60_000_000)
    brain.ok("put", s, "first", big, "--ttl", "1")
    r = brain("put", s, "second", big)
    assert r.rc == 1 and "is full" in r.err
    time.sleep(1.3)
    brain.ok("put", s, "second", big)  # no `brain serve`, no expire
    assert [e["name"] for e in json.loads(brain.ok("ls", s, "--json").out)] == ["second"]

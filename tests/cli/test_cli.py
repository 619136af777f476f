"""The `brain` CLI: every command, its output and exit status."""
import json
import os
import re
import time

import pytest

from conftest import LINUX, SHM, SIZE_RE


COMMANDS = ["create", "put", "get", "rm", "ls", "info", "check", "destroy"]


# ---- help and version ---------------------------------------------------------


def test_version(brain):
    r = brain.ok("--version")
    assert re.fullmatch(r"brain \d+\.\d+\.\d+\n", r.out)
    assert r.err == ""


def test_help_lists_every_command(brain):
    r = brain.ok("--help")
    assert r.out.startswith("usage: brain")
    for c in COMMANDS:
        assert re.search(rf"^  {c}\s+\S", r.out, re.M), c
    assert brain.ok("-h").out == r.out
    assert brain.ok("help").out == r.out


@pytest.mark.parametrize("cmd", COMMANDS)
def test_command_help(brain, cmd):
    r = brain.ok(cmd, "--help")
    assert r.out.startswith(f"usage: brain {cmd} ")
    assert "--help" in r.out
    assert r.err == ""
    # help wins wherever it is, even with other arguments missing or bad
    assert brain.ok(cmd, "x", "-h").out == r.out
    assert brain.ok("help", cmd).out == r.out


def test_put_help_names_its_options(brain):
    out = brain.ok("put", "--help").out
    for opt in ["--namespace", "--type", "--desc", "--ttl"]:
        assert opt in out


def test_no_arguments_is_a_usage_error(brain):
    r = brain()
    assert r.rc == 2
    assert "usage: brain" in r.err
    assert r.out == ""


# ---- create / destroy ----------------------------------------------------------


def test_create_and_destroy(brain, stores):
    name = stores.name()
    path = stores.path_of(name)
    r = brain.ok("create", name)
    assert path in r.out
    assert os.path.exists(path)
    st = os.stat(path)
    assert st.st_mode & 0o777 == 0o600
    r = brain.ok("destroy", name)
    assert path in r.out
    assert not os.path.exists(path)


def test_create_fails_when_it_exists(brain, store, stores):
    brain.ok("put", store, "k", "-", input=b"keep me")
    r = brain("create", store)
    assert r.rc == 1
    assert r.err.startswith("brain: create: ")
    assert "exist" in r.err
    # nothing was wiped
    assert brain.ok("get", store, "k").out_bytes == b"keep me"


@pytest.mark.parametrize(
    "size,expected",
    [("50MB", 50_000_000), ("2GiB", 2 << 30), ("16777216", 16777216),
     ("1.5 GB", 1_500_000_000), ("512mib", 512 << 20)],
)
def test_create_size(brain, stores, size, expected):
    name = stores.name()
    brain.ok("create", name, "--size", size)
    info = json.loads(brain.ok("info", name, "--json").out)
    # the library may round the capacity down to whole pages
    assert expected - 65536 < info["capacity"] <= expected


def test_create_size_equals_form_and_max_procs(brain, stores):
    name = stores.name()
    brain.ok("create", name, "--size=8MiB", "--max-procs", "8")
    info = json.loads(brain.ok("info", name, "--json").out)
    assert info["capacity"] == 8 << 20
    assert info["max_procs"] == 8


def test_create_default_capacity(brain, store):
    info = json.loads(brain.ok("info", store, "--json").out)
    assert info["capacity"] == 256 << 20
    assert info["max_procs"] == 128


def test_create_absolute_path(brain, stores):
    path = stores.abspath()
    r = brain.ok("create", path, "--size", "4MB")
    assert path in r.out
    assert os.path.isfile(path)
    brain.ok("put", path, "a", "-", input=b"abc")
    assert brain.ok("get", path, "a").out_bytes == b"abc"
    info = json.loads(brain.ok("info", path, "--json").out)
    assert info["path"] == path
    brain.ok("destroy", path)
    assert not os.path.exists(path)


def test_destroy_missing_store(brain, stores):
    r = brain("destroy", stores.name())
    assert r.rc == 1
    assert r.err.startswith("brain: destroy: ")


def test_destroy_refuses_a_file_that_is_not_a_store(brain, stores):
    path = stores.abspath()
    with open(path, "wb") as f:
        f.write(b"precious data, not a store\n" * 1000)
    r = brain("destroy", path)
    assert r.rc == 1
    assert r.err.startswith("brain: destroy: ")
    assert os.path.exists(path)
    r = brain("destroy", path, "--force")
    assert r.rc == 2


def test_destroy_a_damaged_store(brain, store, stores):
    brain.ok("put", store, "k", "-", input=b"v")
    path = stores.path_of(store)
    with open(path, "r+b") as f:
        f.seek(8)
        f.write(b"\xff" * 200)
    brain.ok("destroy", store)
    assert not os.path.exists(path)


# ---- put / get -------------------------------------------------------------------


def roundtrip(brain, store, data, tmpfile, tmp_path, name="v"):
    f = tmpfile(data)
    r = brain.ok("put", store, name, f)
    assert r.out.startswith(f"stored {name}: ")
    assert re.search(r"version \d+", r.out)
    assert brain.ok("get", store, name).out_bytes == data
    out = tmp_path / f"out-{name}.bin"
    r = brain.ok("get", store, name, "-o", out)
    assert r.out == ""
    assert out.read_bytes() == data


@pytest.mark.parametrize("size", [0, 1, 63, 64, 65, 4096, 1000003])
def test_put_get_file_roundtrip(brain, store, tmpfile, tmp_path, size):
    data = os.urandom(size)
    roundtrip(brain, store, data, tmpfile, tmp_path)
    info = json.loads(brain.ok("ls", store, "--json").out)
    assert [(e["name"], e["size"]) for e in info] == [("v", size)]


def test_put_get_multi_mb(brain, store, tmpfile, tmp_path):
    data = os.urandom(12 << 20)
    roundtrip(brain, store, data, tmpfile, tmp_path, name="big")


def test_binary_with_every_byte_value(brain, store, tmpfile, tmp_path):
    data = bytes(range(256)) * 257 + b"\0\0\r\n\x1a"
    roundtrip(brain, store, data, tmpfile, tmp_path)


@pytest.mark.parametrize("size", [0, 5, 70000, 3 << 20])
def test_put_from_stdin_pipe(brain, store, size):
    data = os.urandom(size)
    r = brain.ok("put", store, "p", "-", input=data)
    assert "stored p" in r.out
    assert brain.ok("get", store, "p").out_bytes == data


def test_put_from_stdin_redirected_file(brain, store, tmpfile):
    """stdin that is a regular file is read from its current offset."""
    data = os.urandom(300000)
    f = tmpfile(data)
    with open(f, "rb") as fh:
        brain.ok("put", store, "whole", "-", stdin=fh)
    assert brain.ok("get", store, "whole").out_bytes == data
    with open(f, "rb") as fh:
        fh.seek(1000)
        brain.ok("put", store, "tail", "-", stdin=fh)
    assert brain.ok("get", store, "tail").out_bytes == data[1000:]


def test_put_replaces_and_versions_grow(brain, store):
    v1 = int(re.search(r"version (\d+)", brain.ok("put", store, "k", "-", input=b"one").out)[1])
    v2 = int(re.search(r"version (\d+)", brain.ok("put", store, "k", "-", input=b"two!").out)[1])
    assert v2 > v1
    assert brain.ok("get", store, "k").out_bytes == b"two!"
    (e,) = json.loads(brain.ok("ls", store, "--json").out)
    assert e["version"] == v2
    assert e["size"] == 4


def test_get_to_stdout_with_dash(brain, store):
    brain.ok("put", store, "k", "-", input=b"xyz")
    assert brain.ok("get", store, "k", "-o", "-").out_bytes == b"xyz"
    assert brain.ok("get", store, "k", "--output=-").out_bytes == b"xyz"


def test_get_short_option_attached(brain, store, tmp_path):
    brain.ok("put", store, "k", "-", input=b"attached")
    out = tmp_path / "o"
    brain.ok("get", store, "k", f"-o{out}")
    assert out.read_bytes() == b"attached"


def test_get_overwrites_output_file(brain, store, tmp_path):
    out = tmp_path / "o"
    out.write_bytes(b"x" * 10000)
    brain.ok("put", store, "k", "-", input=b"short")
    brain.ok("get", store, "k", "-o", out)
    assert out.read_bytes() == b"short"


def test_names_with_spaces_unicode_and_dashes(brain, store):
    for name in ["with space", "ünïcødé/ключ", "a/b/c", "x" * 1024]:
        brain.ok("put", store, name, "-", input=name.encode())
        assert brain.ok("get", store, name).out_bytes == name.encode()
    # a name that starts with '-' after "--"
    brain.ok("put", store, "--", "-dash", "-", input=b"d")
    assert brain.ok("get", "--", store, "-dash").out_bytes == b"d"
    names = {e["name"] for e in json.loads(brain.ok("ls", store, "--json").out)}
    assert names == {"with space", "ünïcødé/ключ", "a/b/c", "x" * 1024, "-dash"}


def test_put_types(brain, store):
    brain.ok("put", store, "s", "-", "--type", "str", input="héllo".encode())
    brain.ok("put", store, "j", "-", "--type", "json", input=b'{"a": [1, 2]}')
    brain.ok("put", store, "b", "-", "--type", "bytes", input=b"\xff\xfe")
    types = {e["name"]: e["type"] for e in json.loads(brain.ok("ls", store, "--json").out)}
    assert types == {"s": "str", "j": "json", "b": "bytes"}
    assert brain.ok("get", store, "j").out_bytes == b'{"a": [1, 2]}'


def test_put_str_refuses_invalid_utf8(brain, store, tmpfile):
    r = brain("put", store, "s", "-", "--type", "str", input=b"ok\xff\xfe")
    assert r.rc == 1
    assert r.err.startswith("brain: put: ")
    # through the reserve path too (a regular file)
    r = brain("put", store, "s", tmpfile(b"bad \xc3\x28 utf8"), "--type", "str")
    assert r.rc == 1
    assert r.err.startswith("brain: put: ")
    assert brain("get", store, "s").rc == 1
    # the failed reservation left nothing behind
    assert json.loads(brain.ok("ls", store, "--json").out) == []
    brain.ok("check", store)


def test_put_desc(brain, store):
    brain.ok("put", store, "k", "-", "--desc", 'a "quoted" description', input=b"v")
    (e,) = json.loads(brain.ok("ls", store, "--json").out)
    assert e["desc"] == 'a "quoted" description'


def test_put_ttl_expires(brain, store):
    brain.ok("put", store, "short", "-", "--ttl", "1", input=b"gone soon")
    brain.ok("put", store, "long", "-", "--ttl", "1h", input=b"stays")
    brain.ok("put", store, "forever", "-", input=b"stays")
    entries = {e["name"]: e for e in json.loads(brain.ok("ls", store, "--json").out)}
    now_ns = time.time_ns()
    assert entries["forever"]["expires_ns"] == 0
    assert 0 < entries["short"]["expires_ns"] - now_ns <= 1_100_000_000
    assert 3500e9 < entries["long"]["expires_ns"] - now_ns <= 3601e9
    table = brain.ok("ls", store).out
    line = next(line for line in table.splitlines() if line.startswith("long "))
    assert re.search(r"in (59m|1h)\s*$", line), line
    line = next(line for line in table.splitlines() if line.startswith("forever "))
    assert line.rstrip().endswith("-")
    assert brain.ok("get", store, "short").out_bytes == b"gone soon"
    time.sleep(1.3)
    r = brain("get", store, "short")
    assert r.rc == 1
    names = {e["name"] for e in json.loads(brain.ok("ls", store, "--json").out)}
    assert names == {"long", "forever"}


# ---- namespaces ------------------------------------------------------------------


def test_namespaces(brain, store):
    brain.ok("put", store, "k", "-", input=b"default value")
    r = brain.ok("put", store, "k", "-", "--namespace", "ns1", input=b"ns1 value")
    assert "stored ns1/k" in r.out
    brain.ok("put", store, "only", "-", "-n", "ns1", input=b"x")
    assert brain.ok("get", store, "k").out_bytes == b"default value"
    assert brain.ok("get", store, "k", "--namespace", "ns1").out_bytes == b"ns1 value"
    assert brain("get", store, "only").rc == 1

    default = json.loads(brain.ok("ls", store, "--json").out)
    assert [(e["namespace"], e["name"]) for e in default] == [("default", "k")]
    ns1 = json.loads(brain.ok("ls", store, "--namespace", "ns1", "--json").out)
    assert [(e["namespace"], e["name"]) for e in ns1] == [("ns1", "k"), ("ns1", "only")]
    every = json.loads(brain.ok("ls", store, "--all", "--json").out)
    assert [(e["namespace"], e["name"]) for e in every] == [
        ("default", "k"), ("ns1", "k"), ("ns1", "only")]

    table = brain.ok("ls", store, "--all").out.splitlines()
    assert table[0].split() == ["NAMESPACE", "NAME", "TYPE", "SIZE", "VERSION", "AGE", "EXPIRES"]
    assert [line.split()[:2] for line in table[1:]] == [["default", "k"], ["ns1", "k"], ["ns1", "only"]]

    brain.ok("rm", store, "k", "--namespace", "ns1")
    assert brain.ok("get", store, "k").out_bytes == b"default value"
    assert brain("get", store, "k", "--namespace", "ns1").rc == 1


# ---- rm --------------------------------------------------------------------------


def test_rm(brain, store):
    for n in ["a", "b", "c", "d"]:
        brain.ok("put", store, n, "-", input=n.encode())
    r = brain.ok("rm", store, "a")
    assert "deleted a" in r.out
    r = brain.ok("rm", store, "b", "c")
    assert "deleted b" in r.out and "deleted c" in r.out
    names = [e["name"] for e in json.loads(brain.ok("ls", store, "--json").out)]
    assert names == ["d"]
    assert brain("get", store, "a").rc == 1


def test_rm_missing_name_reports_and_goes_on(brain, store):
    brain.ok("put", store, "x", "-", input=b"1")
    brain.ok("put", store, "y", "-", input=b"2")
    r = brain("rm", store, "x", "nope", "y")
    assert r.rc == 1
    assert r.err.startswith("brain: rm: ")
    assert "deleted x" in r.out and "deleted y" in r.out
    assert json.loads(brain.ok("ls", store, "--json").out) == []


# ---- ls --------------------------------------------------------------------------


def test_ls_table(brain, store):
    brain.ok("put", store, "zeta", "-", input=b"z" * 1500)
    brain.ok("put", store, "alpha", "-", "--type", "str", input=b"a" * 12)
    brain.ok("put", store, "mid", "-", input=os.urandom(3_000_000))
    lines = brain.ok("ls", store).out.splitlines()
    assert lines[0].split() == ["NAME", "TYPE", "SIZE", "VERSION", "AGE", "EXPIRES"]
    rows = [line.split() for line in lines[1:]]
    assert [r[0] for r in rows] == ["alpha", "mid", "zeta"]  # sorted
    alpha, mid, zeta = lines[1:]
    assert alpha.split()[1] == "str"
    assert re.search(r"\b12 B\b", alpha)
    assert re.search(r"\b3\.0 MB\b", mid)
    assert re.search(r"\b1\.5 kB\b", zeta)
    for line in lines[1:]:
        assert SIZE_RE.search(line)
        assert re.search(r"\s\d+[smhd]\s", line)  # age
        assert line.rstrip().endswith("-")  # no expiry
    # columns line up
    starts = {line.index(line.split()[1]) for line in lines}
    assert len(starts) == 1


def test_ls_empty(brain, store):
    r = brain.ok("ls", store)
    assert r.out.split() == ["NAME", "TYPE", "SIZE", "VERSION", "AGE", "EXPIRES"]
    assert json.loads(brain.ok("ls", store, "--json").out) == []
    assert json.loads(brain.ok("ls", store, "--all", "--json").out) == []


def test_ls_json_fields(brain, store):
    brain.ok("put", store, "k", "-", "--desc", "d", input=b"12345")
    brain.ok("put", store, "k2", "-", input=b"12345")
    r = brain.ok("ls", store, "--json")
    entries = json.loads(r.out)
    e = entries[0]
    for key in ["namespace", "name", "type", "size", "version", "created_ns",
                "updated_ns", "expires_ns", "age_s", "desc", "object_id"]:
        assert key in e, key
    assert e["name"] == "k" and e["size"] == 5 and e["desc"] == "d"
    assert e["namespace"] == "default"
    assert abs(e["updated_ns"] - time.time_ns()) < 60e9
    assert 0 <= e["age_s"] < 60
    assert re.fullmatch(r"[0-9a-f]{40}", e["object_id"])
    assert entries[0]["object_id"] != entries[1]["object_id"]


def test_ls_age_grows(brain, store):
    brain.ok("put", store, "k", "-", input=b"v")
    time.sleep(1.1)
    (line,) = brain.ok("ls", store).out.splitlines()[1:]
    assert re.search(r"\s[1-9]\d*s\s", line), line


# ---- info ------------------------------------------------------------------------


def test_info(brain, store):
    brain.ok("put", store, "a", "-", input=os.urandom(100_000))
    brain.ok("put", store, "b", "-", "-n", "other", input=b"x")
    r = brain.ok("info", store)
    assert stores_path_in(store, r.out)
    for label in ["capacity:", "file size:", "used:", "free:", "largest free:",
                  "limbo:", "names:", "namespaces:", "processes:", "pins:",
                  "version:", "index slots:", "blocks:", "free blocks:",
                  "recoveries:", "reaped:", "max processes:", "max namespaces:"]:
        assert re.search(rf"^{label}\s", r.out, re.M), label
    assert re.search(r"^capacity:\s+268\.4 MB \(268435456 bytes\)$", r.out, re.M)
    assert re.search(r"^names:\s+2$", r.out, re.M)

    j = json.loads(brain.ok("info", store, "--json").out)
    for key in ["path", "capacity", "file_size", "used", "free", "largest_free",
                "limbo", "names", "namespaces", "procs", "pins", "version",
                "index_slots", "blocks", "free_blocks", "recoveries", "reaped",
                "max_procs", "max_namespaces"]:
        assert key in j, key
    assert j["names"] == 2
    assert j["namespaces"] >= 2
    assert j["used"] >= 100_000
    assert j["free"] <= j["capacity"] - j["used"]
    assert j["procs"] >= 1  # this very command
    assert j["pins"] == 0


def stores_path_in(name, text):
    return f"{SHM}/brain-{name}" in text


# ---- check -----------------------------------------------------------------------


def test_check_healthy(brain, store):
    r = brain.ok("check", store)
    assert r.out.startswith("ok: ")
    for i in range(50):
        brain.ok("put", store, f"n{i}", "-", input=os.urandom(i * 1000))
    for i in range(0, 50, 3):
        brain.ok("rm", store, f"n{i}")
    r = brain.ok("check", store)
    assert r.out.startswith("ok: ")
    assert "33 names" in r.out
    assert r.err == ""


# ---- odd inputs ------------------------------------------------------------------


def test_put_from_dev_null_is_empty(brain, store):
    brain.ok("put", store, "k", "/dev/null")
    assert brain.ok("get", store, "k").out_bytes == b""
    (e,) = json.loads(brain.ok("ls", store, "--json").out)
    assert e["size"] == 0


@pytest.mark.skipif(not LINUX, reason="reads /proc/version (Linux's)")
def test_put_from_a_file_whose_size_says_nothing(brain, store):
    """/proc files are regular files of size 0 that have contents."""
    with open("/proc/version", "rb") as f:
        data = f.read()
    assert os.stat("/proc/version").st_size == 0
    brain.ok("put", store, "k", "/proc/version")
    assert brain.ok("get", store, "k").out_bytes == data


@pytest.mark.parametrize("ttl,seconds", [("90", 90), ("90s", 90), ("2m", 120), ("1.5h", 5400),
                                         ("2d", 172800), ("30.5", 30.5)])
def test_ttl_forms(brain, store, ttl, seconds):
    before = time.time_ns()
    brain.ok("put", store, "k", "-", "--ttl", ttl, input=b"v")
    (e,) = json.loads(brain.ok("ls", store, "--json").out)
    left = e["expires_ns"] - before
    assert seconds * 1e9 - 1e6 <= left <= seconds * 1e9 + 5e9, (ttl, left)


def test_short_version_flag(brain):
    assert brain.ok("-V").out == brain.ok("--version").out


def test_commands_leave_no_process_slots_or_pins(brain, store):
    """Every command closes its handle, on success and on failure."""
    brain.ok("put", store, "k", "-", input=b"v" * 5000)
    for _ in range(3):
        brain.ok("get", store, "k")
        brain("get", store, "missing")
        brain("put", store, "bad\x01", "-", input=b"v")
        brain("put", store, "s", "-", "--type", "str", input=b"\xff")
        brain.ok("ls", store, "--all")
        brain("rm", store, "missing")
        brain.ok("check", store)
    j = json.loads(brain.ok("info", store, "--json").out)
    assert j["procs"] == 1  # the info command itself
    assert j["pins"] == 0
    assert j["reaped"] == 0  # nothing had to be cleaned up after us


def test_parallel_puts_and_gets(brain_bin, store):
    import subprocess
    procs = []
    payload = {i: os.urandom(1000 * (i + 1)) for i in range(12)}
    for i, data in payload.items():
        p = subprocess.Popen([brain_bin, "put", store, f"p{i}", "-"], stdin=subprocess.PIPE,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        procs.append((p, data))
    for p, data in procs:
        _, err = p.communicate(data, timeout=60)
        assert p.returncode == 0, err
    getters = [subprocess.Popen([brain_bin, "get", store, f"p{i}"], stdout=subprocess.PIPE)
               for i in payload]
    for i, g in zip(payload, getters):
        out, _ = g.communicate(timeout=60)
        assert g.returncode == 0
        assert out == payload[i]

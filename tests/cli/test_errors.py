"""The `brain` CLI on bad input: a clear message on stderr, the right exit
status (1 operational, 2 usage), never a crash (conftest's runner fails any
run killed by a signal), and never a store created as a side effect."""
import json
import os
import re

import pytest

from conftest import SIZE_RE, SHM


def assert_usage(r, cmd=None):
    assert r.rc == 2, r
    if cmd:
        assert r.err.startswith(f"brain: {cmd}: "), r
    assert r.out == ""


def assert_fails(r, cmd):
    assert r.rc == 1, r
    assert r.err.startswith(f"brain: {cmd}: "), r
    assert len(r.err.strip()) > len(f"brain: {cmd}: ") + 5, r


# ---- usage errors ----------------------------------------------------------------


def test_unknown_command(brain):
    r = brain("frobnicate")
    assert r.rc == 2
    assert "unknown command 'frobnicate'" in r.err


def test_unknown_global_option(brain):
    r = brain("--frob")
    assert r.rc == 2
    assert "--frob" in r.err


@pytest.mark.parametrize(
    "args,missing",
    [
        (["create"], "STORE"),
        (["put"], "STORE"),
        (["put", "s"], "NAME"),
        (["put", "s", "n"], "FILE"),
        (["get"], "STORE"),
        (["get", "s"], "NAME"),
        (["rm"], "STORE"),
        (["rm", "s"], "NAME"),
        (["ls"], "STORE"),
        (["info"], "STORE"),
        (["check"], "STORE"),
        (["destroy"], "STORE"),
    ],
)
def test_missing_arguments(brain, args, missing):
    r = brain(*args)
    assert_usage(r, args[0])
    assert f"missing {missing}" in r.err
    assert f"usage: brain {args[0]} " in r.err


@pytest.mark.parametrize(
    "args",
    [
        ["create", "s", "extra"],
        ["get", "s", "n", "extra"],
        ["ls", "s", "extra"],
        ["info", "s", "t"],
        ["check", "s", "t"],
        ["destroy", "s", "t"],
        ["put", "s", "n", "f", "g"],
    ],
)
def test_too_many_arguments(brain, args):
    r = brain(*args)
    assert_usage(r, args[0])
    assert "unexpected argument" in r.err


@pytest.mark.parametrize(
    "args,bad",
    [
        (["ls", "s", "--frob"], "--frob"),
        (["ls", "s", "-z"], "-z"),
        (["get", "s", "n", "--size", "1"], "--size"),
        (["create", "s", "--json"], "--json"),
        (["info", "s", "--all"], "--all"),
    ],
)
def test_unknown_option(brain, stores, args, bad):
    r = brain(*args)
    assert_usage(r, args[0])
    assert f"unknown option '{bad}'" in r.err


def test_option_missing_its_value(brain):
    r = brain("create", "s", "--size")
    assert_usage(r, "create")
    assert "--size" in r.err and "needs a value" in r.err


def test_flag_given_a_value(brain):
    r = brain("ls", "s", "--json=yes")
    assert_usage(r, "ls")


@pytest.mark.parametrize("size", ["abc", "-5", "10XB", "", "MB", "1.2.3MB", "99999999999999999999999",
                                  "5 M B", "0x10"])
def test_create_bad_size(brain, stores, size):
    name = stores.name()
    r = brain("create", name, "--size", size)
    assert_usage(r, "create")
    assert "bad size" in r.err
    assert not os.path.exists(stores.path_of(name))


@pytest.mark.parametrize("size", ["1kB", "100", "2TiB", "5TB"])
def test_create_size_out_of_range(brain, stores, size):
    """The library's limits (1 MiB .. 1 TiB) come back as a clear error."""
    name = stores.name()
    r = brain("create", name, "--size", size)
    assert_fails(r, "create")
    assert not os.path.exists(stores.path_of(name))


@pytest.mark.parametrize("n", ["abc", "-1", "0", "", "1e3", "99999999999"])
def test_create_bad_max_procs(brain, stores, n):
    name = stores.name()
    r = brain("create", name, "--max-procs", n)
    assert_usage(r, "create")
    assert not os.path.exists(stores.path_of(name))


def test_create_max_procs_out_of_range(brain, stores):
    name = stores.name()
    r = brain("create", name, "--max-procs", "100000")
    assert_fails(r, "create")
    assert not os.path.exists(stores.path_of(name))


@pytest.mark.parametrize("bad", ["a/b", "..", ".", "relative/path/x"])
def test_bad_store_names(brain, bad):
    r = brain("create", bad)
    assert r.rc in (1, 2), r
    assert r.err.startswith("brain: create: ")
    r = brain("ls", bad)
    assert r.rc in (1, 2), r


def test_bad_type(brain, store):
    r = brain("put", store, "k", "-", "--type", "pickle", input=b"x")
    assert_usage(r, "put")
    assert "bad type" in r.err
    assert json.loads(brain.ok("ls", store, "--json").out) == []


@pytest.mark.parametrize("ttl", ["abc", "-1", "0", "", "5x", "1e400", "nan", "inf", " 5", "0.0001"])
def test_bad_ttl(brain, store, ttl):
    r = brain("put", store, "k", "-", "--ttl", ttl, input=b"x")
    assert_usage(r, "put")
    assert "bad duration" in r.err


def test_ls_all_and_namespace_exclude_each_other(brain, store):
    r = brain("ls", store, "--all", "--namespace", "x")
    assert_usage(r, "ls")


# ---- operational errors ----------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["put", "{s}", "k", "-"],
        ["get", "{s}", "k"],
        ["rm", "{s}", "k"],
        ["ls", "{s}"],
        ["info", "{s}"],
        ["check", "{s}"],
        ["destroy", "{s}"],
    ],
)
def test_missing_store_is_an_error_and_is_not_created(brain, stores, args):
    name = stores.name()
    r = brain(*[a.format(s=name) for a in args], input=b"data")
    assert_fails(r, args[0])
    assert not os.path.exists(stores.path_of(name))
    # also with an absolute path
    path = stores.abspath()
    r = brain(*[a.format(s=path) for a in args], input=b"data")
    assert_fails(r, args[0])
    assert not os.path.exists(path)


def test_get_missing_name(brain, store, tmp_path):
    r = brain("get", store, "nope")
    assert_fails(r, "get")
    assert "not found" in r.err or "nope" in r.err
    assert r.out == ""
    out = tmp_path / "keep"
    out.write_bytes(b"untouched")
    r = brain("get", store, "nope", "-o", out)
    assert_fails(r, "get")
    assert out.read_bytes() == b"untouched"


def test_get_missing_namespace(brain, store):
    brain.ok("put", store, "k", "-", input=b"v")
    r = brain("get", store, "k", "--namespace", "nowhere")
    assert_fails(r, "get")


def test_rm_missing_name(brain, store):
    r = brain("rm", store, "nope")
    assert_fails(r, "rm")


@pytest.mark.parametrize("name", ["", "bad\x01name", "x" * 1025])
def test_bad_names(brain, store, name):
    r = brain("put", store, name, "-", input=b"v")
    assert_fails(r, "put")
    r = brain("get", store, name)
    assert_fails(r, "get")
    assert json.loads(brain.ok("ls", store, "--json").out) == []


@pytest.mark.parametrize("ns", ["", "bad\x02ns", "n" * 65])
def test_bad_namespaces(brain, store, ns):
    r = brain("put", store, "k", "-", "--namespace", ns, input=b"v")
    assert_fails(r, "put")
    r = brain("ls", store, "--namespace", ns)
    assert r.rc == 1


def test_put_missing_file(brain, store, tmp_path):
    r = brain("put", store, "k", tmp_path / "nope.bin")
    assert_fails(r, "put")
    assert "nope.bin" in r.err
    assert json.loads(brain.ok("ls", store, "--json").out) == []


def test_put_directory(brain, store, tmp_path):
    r = brain("put", store, "k", tmp_path)
    assert_fails(r, "put")
    assert "directory" in r.err


def test_get_output_unwritable(brain, store, tmp_path):
    brain.ok("put", store, "k", "-", input=b"v")
    r = brain("get", store, "k", "-o", tmp_path / "no" / "such" / "dir" / "f")
    assert_fails(r, "get")


def count_sizes(text):
    return len(SIZE_RE.findall(text))


def test_put_larger_than_store_file(brain, stores, tmpfile):
    name = stores.name()
    brain.ok("create", name, "--size", "4MiB")
    brain.ok("put", name, "small", "-", input=b"still here")
    f = tmpfile(os.urandom(6 << 20))
    r = brain("put", name, "huge", f)
    assert_fails(r, "put")
    assert count_sizes(r.err) >= 2, f"message does not name the sizes: {r.err!r}"
    assert brain("get", name, "huge").rc == 1
    assert brain.ok("get", name, "small").out_bytes == b"still here"
    brain.ok("check", name)


def test_put_larger_than_store_stdin(brain, stores):
    name = stores.name()
    brain.ok("create", name, "--size", "4MiB")
    r = brain("put", name, "huge", "-", input=os.urandom(6 << 20))
    assert_fails(r, "put")
    assert count_sizes(r.err) >= 2, f"message does not name the sizes: {r.err!r}"
    assert brain("get", name, "huge").rc == 1
    brain.ok("check", name)


def test_store_full_then_works(brain, stores):
    """Filling the store gives a clear error; what is stored stays, and after
    deleting, puts work again."""
    name = stores.name()
    brain.ok("create", name, "--size", "2MiB")
    stored = []
    failed = None
    for i in range(40):
        r = brain("put", name, f"v{i}", "-", input=bytes([i]) * 200_000)
        if r.rc != 0:
            failed = r
            break
        stored.append(i)
    assert failed is not None, "a 2 MiB store took 8 MB"
    assert_fails(failed, "put")
    assert count_sizes(failed.err) >= 1, failed.err
    for i in stored:
        assert brain.ok("get", name, f"v{i}").out_bytes == bytes([i]) * 200_000
    brain.ok("rm", name, *[f"v{i}" for i in stored])
    brain.ok("put", name, "again", "-", input=b"z" * 200_000)
    brain.ok("check", name)


@pytest.mark.parametrize("content", [b"", b"hello, not a store\n", os.urandom(100_000),
                                     b"\0" * 65536])
@pytest.mark.parametrize("cmd", [["ls"], ["info"], ["get", "k"], ["put", "k", "-"],
                                 ["rm", "k"], ["check"]])
def test_file_that_is_not_a_store(brain, stores, content, cmd):
    path = stores.abspath()
    with open(path, "wb") as f:
        f.write(content)
    os.chmod(path, 0o600)
    r = brain(cmd[0], path, *cmd[1:], input=b"v")
    assert_fails(r, cmd[0])
    with open(path, "rb") as f:
        assert f.read() == content, "the CLI changed a file that is not a store"


def test_store_path_is_a_directory(brain, tmp_path):
    r = brain("ls", str(tmp_path))
    assert_fails(r, "ls")


def test_help_for_unknown_command(brain):
    r = brain("help", "nosuch")
    assert r.rc == 2
    assert "unknown command 'nosuch'" in r.err


def test_store_path_is_a_symlink(brain, store, stores):
    link = stores.abspath()
    os.symlink(stores.path_of(store), link)
    for args in (["ls", link], ["get", link, "k"], ["check", link], ["destroy", link]):
        r = brain(*args)
        assert_fails(r, args[0])
    assert os.path.exists(stores.path_of(store))  # destroy left the target alone
    brain.ok("ls", store)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a file away")
def test_store_owned_by_another_user(brain, store, stores):
    os.chown(stores.path_of(store), 65534, 65534)
    for args in (["ls", store], ["put", store, "k", "-"], ["destroy", store]):
        r = brain(*args, input=b"v")
        assert_fails(r, args[0])
    assert os.path.exists(stores.path_of(store))


def test_get_to_a_full_device(brain, store):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    brain.ok("put", store, "k", "-", input=b"v" * 100000)
    r = brain("get", store, "k", "-o", "/dev/full")
    assert_fails(r, "get")
    assert "/dev/full" in r.err

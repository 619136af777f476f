"""Issue 14 (speed, round two) and issue 17's recall_small: the small-value
fast path (ints and floats decoded in C, errors never swallowed nor
unpickled twice), the recall cache (same semantics as a fresh recall),
the bulk reference counting of _strcol.c, and stored pickles that name
public helpers (old names still load)."""
import gc
import io
import os
import pickle
import sys

import numpy as np
import pandas as pd
import pytest

from brain_plasma import Brain, BrainNameNotExistError, BrainSerializationError
from brain_plasma import _core, brain as brain_mod, recall_cache, serialize


# ---- small values -------------------------------------------------------------

TINY = [0, 1, 42, 255, 256, 65535, 65536, -1, -2, -128, -129, -2**31, 2**31 - 1,
        2**31, -2**31 - 1, 2**32, 2**40 + 7, -2**40, 2**63 - 1, -2**63, 2**63, 2**64,
        -2**64, 10**30, True, False, None, 0.0, -0.0, 3.14, 1e300, -1e-300,
        float("inf"), float("-inf")]


@pytest.mark.parametrize("value", TINY, ids=repr)
def test_tiny_pickles_round_trip_through_the_fast_path(brain, value):
    brain["v"] = value
    got = brain["v"]
    assert type(got) is type(value) and got == value
    if isinstance(value, float):
        assert str(got) == str(value)  # -0.0 keeps its sign
    # the C path itself, for every stream pickle writes for it
    for proto in (2, 3, 4, 5):
        brain._c().put_pickle("default", "p", pickle.dumps(value, protocol=proto), [])
        got = brain._c().recall_small("default", "p", pickle.loads)
        assert type(got) is type(value) and got == value


def test_nan_through_the_fast_path(brain):
    brain["nan"] = float("nan")
    got = brain["nan"]
    assert type(got) is float and got != got


def test_tiny_pickle_decoding_calls_no_loads(brain):
    calls = []

    def loads(data):
        calls.append(data)
        return pickle.loads(data)

    for v in (7, -70000, 2**50, 2.5, True, None):
        brain["v"] = v
        assert brain._c().recall_small("default", "v", loads) == v
    assert calls == []
    brain["d"] = {"a": 1}
    assert brain._c().recall_small("default", "d", loads) == {"a": 1}
    assert len(calls) == 1


def test_recall_small_hands_back_the_store_for_the_general_path(brain):
    c = brain._c()
    assert c.recall_small("default", "absent", pickle.loads) is c
    brain["big"] = np.arange(10_000)
    assert c.recall_small("default", "big", pickle.loads) is c
    assert c.recall_small("default", "a\udc80", pickle.loads) is c  # lone surrogate
    assert c.recall_small("default", "a\x00b", pickle.loads) is c
    assert c.recall_small("default", 5, pickle.loads) is c
    with pytest.raises(TypeError, match="3 arguments"):
        c.recall_small("default", "big")
    # NotImplemented is a value like any other now
    brain["ni"] = NotImplemented
    assert brain["ni"] is NotImplemented


def test_recall_small_takes_values_up_to_64_kib_but_not_frames_over_4_kib(brain):
    """Values of 4-64 KiB: bytes, str and pickles of other things are
    recalled in the one C call too (a second read into a buffer of their
    size); a pickle whose header names a pandas or NumPy object (its hint)
    takes the general path, where the recall cache keeps a costly frame."""
    c = brain._c()
    calls = []

    def loads(data):
        calls.append(len(data))
        return pickle.loads(data)

    mid = {"list": list(range(1500)), "bytes": b"\x01" * 20_000, "str": "é" * 9_000,
           "edge": b"e" * ((64 << 10) - 64)}
    for k, v in mid.items():
        brain[k] = v
        assert 4096 < brain.info(k)["size"] <= 64 << 10, k
        got = c.recall_small("default", k, loads)
        assert got is not c and type(got) is type(v) and got == v, k
        assert brain[k] == v
    assert len(calls) == 1 and calls[0] > 4096  # only the list was unpickled
    brain["over"] = b"o" * ((64 << 10) + 1)
    assert c.recall_small("default", "over", loads) is c
    assert brain["over"] == b"o" * ((64 << 10) + 1)
    # the same stream with a pandas hint goes the general path; without, not
    stream = pickle.dumps(list(range(1500)), protocol=5)
    c.put_pickle("default", "hinted", stream, [], hint="DataFrame 1500x1")
    assert c.recall_small("default", "hinted", loads) is c
    assert brain["hinted"] == list(range(1500))
    c.put_pickle("default", "plain", stream, [])
    assert c.recall_small("default", "plain", loads) == list(range(1500))
    # a stream that fails to unpickle raises once, from the one C call
    bad = pickle.dumps(list(range(1500)), protocol=5)[:-1]  # no STOP
    c.put_pickle("default", "bad", bad, [])
    n = len(calls)
    with pytest.raises(pickle.UnpicklingError):
        c.recall_small("default", "bad", loads)
    assert len(calls) == n + 1


def test_mid_sized_pandas_frames_still_reach_the_recall_cache(brain, monkeypatch):
    monkeypatch.setattr(recall_cache._cache, "min_seconds", 0.0)
    df = pd.DataFrame({"s": np.array(["x%d" % (i % 50) for i in range(3000)], dtype=object)})
    brain["df"] = df
    assert 4096 < brain.info("df")["size"] <= 64 << 10
    first = brain["df"]
    hits = recall_cache.stats()["hits"]
    again = brain["df"]
    assert recall_cache.stats()["hits"] == hits + 1
    assert again.equals(df) and first.equals(df) and again is not first


class Gone:
    pass


def test_a_failing_unpickle_runs_once_and_raises(brain, monkeypatch):
    brain["obj"] = Gone()
    calls = []

    def loads(data):
        calls.append(1)
        raise AttributeError("no class Gone here")

    monkeypatch.setattr(brain_mod, "_loads", loads)
    with pytest.raises(BrainSerializationError, match="could not be rebuilt.*no class Gone"):
        brain.recall("obj")
    assert calls == [1]


def test_keyboard_interrupt_in_unpickle_is_not_swallowed(brain, monkeypatch):
    brain["obj"] = {"k": 1}

    def loads(data):
        raise KeyboardInterrupt

    monkeypatch.setattr(brain_mod, "_loads", loads)
    with pytest.raises(KeyboardInterrupt):
        brain.recall("obj")
    with pytest.raises(KeyboardInterrupt):
        brain._c().recall_small("default", "obj", loads)


def test_version_of(brain):
    assert brain._c().version_of("default", "x") == 0
    v = brain.learn(b"abc", "x")
    assert brain._c().version_of("default", "x") == v == brain.version("x")
    with pytest.raises(TypeError):
        brain._c().version_of("default")


# ---- the recall cache -----------------------------------------------------------

def frame(n=20_000, seed=0):
    """A frame with a Python-storage str column, an object column with
    non-ASCII text and a lone surrogate, two numeric columns and a
    DatetimeIndex (the same with or without pyarrow installed)."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "user": pd.Series(["user%d" % i for i in rng.integers(0, 500, n)],
                          dtype=pd.StringDtype("python", na_value=np.nan)),
        "city": pd.Series(np.array(["Paris", "Köln", "東京", "a\udc80"], dtype=object)
                          [rng.integers(0, 4, n)], dtype=object),
        "x": rng.random(n),
        "k": np.arange(n),
    })
    df.index = pd.date_range("2024-01-01", periods=n, freq="min", name="t")
    return df


@pytest.fixture
def costly():
    """Every decoded frame counts as costly, whatever this machine's speed."""
    old = recall_cache.configure()
    recall_cache.configure(min_seconds=0)
    yield
    recall_cache.configure(**old)


def test_cache_hands_out_equal_frames_that_are_new_objects(brain, costly):
    df = frame()
    brain["f"] = df
    a = brain["f"]
    b = brain["f"]
    assert recall_cache.stats()["entries"] == 1 and recall_cache.stats()["hits"] == 1
    assert a is not b and a.equals(df) and b.equals(df)
    assert (a.dtypes == df.dtypes).all() and (b.dtypes == df.dtypes).all()
    assert a.index is not b.index and a.columns is not b.columns


def test_cache_callers_changes_never_reach_another_caller(brain, costly):
    df = frame()
    brain["f"] = df
    a = brain["f"]
    a["new"] = 1
    a.rename(columns={"x": "renamed"}).equals(a)
    a.columns.name = "cols"
    a.index.name = "other"
    a.attrs["mine"] = True
    a.loc[a.index[0], "x"] = -5.0
    a.iloc[1, 0] = "changed"
    del a["city"]
    b = brain["f"]
    assert recall_cache.stats()["hits"] == 1
    assert b.equals(df) and list(b.columns) == list(df.columns)
    assert b.index.name == "t" and b.columns.name is None and b.attrs == {}
    assert b["x"].iloc[0] == df["x"].iloc[0] and b["user"].iloc[1] == df["user"].iloc[1]
    fresh = Brain(path=brain.path, recall_cache=False)["f"]
    assert fresh.equals(df)


def test_cache_with_entries_still_refuses_bad_names(brain, costly):
    from brain_plasma import BrainNameTypeError

    brain["f"] = frame()
    brain["f"]
    assert recall_cache.stats()["entries"] == 1
    with pytest.raises(BrainNameTypeError):
        brain.recall(["f"])
    with pytest.raises(BrainNameTypeError):
        brain.recall(b"f")


def test_cache_arrays_stay_read_only(brain, costly):
    brain["f"] = frame()
    brain["f"]
    b = brain["f"]
    assert recall_cache.stats()["hits"] == 1
    arr = b["x"].to_numpy()
    assert not arr.flags.writeable
    with pytest.raises(ValueError):
        arr[0] = 1.0


def test_cache_sees_a_new_version_at_once(brain, costly):
    brain["f"] = frame(seed=1)
    brain["f"]
    # another process's learn (a put this process's Brain did not make)
    new = frame(seed=2)
    stream, buffers = serialize.pickled(new, "f", pack_strings=True)
    brain._c().put_pickle("default", "f", stream, buffers)
    got = brain["f"]
    assert got.equals(new)
    brain._c().delete("default", "f")
    with pytest.raises(BrainNameNotExistError):
        brain["f"]
    assert recall_cache.stats()["entries"] == 0


def test_cache_is_bounded(brain, costly):
    recall_cache.configure(max_entries=2)
    for i in range(4):
        brain["f%d" % i] = frame(5000, seed=i)
        brain["f%d" % i]
    assert recall_cache.stats()["entries"] == 2
    recall_cache.configure(max_entries=16, max_bytes=1000)
    brain["g"] = frame(5000)
    brain["g"]
    assert recall_cache.stats()["bytes"] <= 1000
    recall_cache.configure(max_bytes=1 << 30)
    with pytest.raises(ValueError, match="max_entries"):
        recall_cache.configure(max_entries=-1)


def test_cache_keeps_only_costly_frames(brain):
    recall_cache.configure(min_seconds=10.0)
    try:
        brain["f"] = frame()
        brain["f"]
        assert recall_cache.stats()["entries"] == 0
    finally:
        recall_cache.configure(min_seconds=recall_cache.MIN_SECONDS)
    brain["arr"] = np.arange(100_000)
    brain["d"] = {"a": list(range(10_000))}
    brain["arr"], brain["d"]
    assert recall_cache.stats()["entries"] == 0  # frames and series only


def test_cache_off(brain, costly, store_name):
    b = Brain(path=store_name, recall_cache=False)
    b["f"] = frame()
    b["f"], b["f"]
    assert recall_cache.stats()["entries"] == 0
    brain["f"], brain["f"].copy()
    assert recall_cache.stats()["entries"] == 1
    brain.recall("f", copy=True)
    assert recall_cache.stats()["hits"] == 1


def test_cache_dropped_by_learn_forget_and_dead(brain, costly):
    brain["f"] = frame()
    brain["f"]
    assert recall_cache.stats()["entries"] == 1
    brain["f"] = frame(seed=3)
    assert recall_cache.stats()["entries"] == 0
    brain["f"]
    brain.forget("f")
    assert recall_cache.stats()["entries"] == 0
    brain["f"] = frame()
    brain["f"]
    brain.dead(i_am_sure=True)
    assert recall_cache.stats()["entries"] == 0


def test_cache_released_pins_on_new_version(brain, costly):
    brain["f"] = frame()
    brain["f"]
    gc.collect()
    assert brain.stats()["pins"] == 1
    recall_cache.clear()
    gc.collect()
    assert brain.stats()["pins"] == 0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork")
def test_cache_starts_empty_after_fork(brain, costly):
    brain["f"] = frame()
    brain["f"]
    assert recall_cache.stats()["entries"] == 1
    pid = os.fork()
    if pid == 0:
        ok = recall_cache.stats()["entries"] == 0 and brain["f"].equals(frame())
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    assert recall_cache.stats()["entries"] == 1


def test_cache_series(brain, costly):
    s = frame()["user"]
    brain["s"] = s
    a = brain["s"]
    a.name = "mine"
    a.index.name = "z"
    b = brain["s"]
    assert recall_cache.stats()["hits"] == 1
    assert b.equals(s) and b.name == "user" and b.index.name == "t"


# ---- packed str: references counted in bulk ----------------------------------

def unpack(packed, n):
    out = np.empty(n, dtype=object)
    _core.strings_unpack(out, *packed)
    return out


def rebuild(packed, n):
    """What object_array does: the elements in slots of their own, an
    array over them."""
    return np.ndarray((n,), dtype=object, buffer=_core.strings_rebuild(n, *packed))


@pytest.mark.parametrize("fill", [unpack, rebuild], ids=["unpack", "rebuild"])
@pytest.mark.parametrize("values", [
    ["a", "bb", "a", None, "bb", "a"] * 500,
    ["x%d" % i for i in range(3000)],  # every element its own entry
    ["", "é", "\udc80", "😀", float("nan"), None] * 200,
])
def test_unpack_reference_counts(values, fill):
    col = np.array(values, dtype=object)
    packed = _core.strings_pack(col, len(values))
    gc.collect()  # garbage freed later would move None's count
    nones = sys.getrefcount(None)
    out = fill(packed, len(col))
    # (the interpreter itself moves None's count by a few meanwhile)
    assert abs(sys.getrefcount(None) - nones - sum(v is None for v in values)) <= 50
    assert [x for x in out] == [x for x in col] or all(
        (a == b) or (a != a and b != b) for a, b in zip(out, col))
    # each distinct str: one reference per element holding it (+1 for getrefcount)
    seen = {}
    for x in out:
        if type(x) is str:
            seen[id(x)] = x
    for x in seen.values():
        held = sum(1 for y in out if y is x)
        if len(x) > 1:  # "" and one-character str are shared interpreter-wide
            assert sys.getrefcount(x) == held + 3  # out, seen, x, the argument
    del out
    gc.collect()
    assert abs(sys.getrefcount(None) - nones) <= 50  # a miscount: hundreds


@pytest.mark.parametrize("n", [3000, 300_000, 600_000])  # 300,000 slots: a mapping of their
# own; 600,000: its 0.6 MiB tail rounded up to a whole huge page
@pytest.mark.parametrize("kinds", [4, 200, 300, 70_000])  # no codes, 1, 2 or 4-byte codes
def test_rebuild_counts_and_releases_references(n, kinds):
    class Held:  # an element that is not a str: travels in OTHERS
        pass

    held = Held()
    values = np.array(["v%d" % (i % kinds) for i in range(n)], dtype=object)
    values[7::kinds + 1] = held
    packed = _core.strings_pack(values, n)
    assert packed[3] in (0, 1, 2, 4)
    before = sys.getrefcount(held)
    out = rebuild(packed, n)
    assert (out == values).all()
    assert sys.getrefcount(held) - before == sum(1 for x in out if x is held)
    one = out[0]
    assert sys.getrefcount(one) == sum(1 for x in out if x is one) + 2
    assert type(out.base).__name__ == "StrCells"
    view = memoryview(out.base)  # exported as NumPy exports an object array
    assert (view.format, view.itemsize, view.shape) == ("O", 8, (n,))
    view.release()
    out[0] = "replaced"  # a write swaps references as in any object array
    assert sys.getrefcount(one) == sum(1 for x in out if x is one) + 2
    refs = sys.getrefcount(held)
    keep = out[::kinds]  # a view keeps the slots (all of them) alive
    del out
    gc.collect()
    assert sys.getrefcount(held) == refs and keep[0] == "replaced"
    del keep
    assert sys.getrefcount(held) == before


def test_rebuild_refusals():
    col = np.array(["a", "b", "a"] * 1000, dtype=object)
    table, data, codes, width, others = _core.strings_pack(col, 10)
    a, b = col[0], col[1]
    counts = sys.getrefcount(a), sys.getrefcount(b)
    for at in (0, 200, 2999):
        bad = bytearray(codes)
        bad[at] = 7  # an entry that does not exist
        with pytest.raises(ValueError, match="element %d refers to entry 7" % at):
            _core.strings_rebuild(len(col), table, data, bytes(bad), width, others)
    big = np.array(["x%d" % (i % 9) for i in range(400_000)], dtype=object)
    t2, d2, c2, w2, o2 = _core.strings_pack(big, 10)
    bad = bytearray(c2)
    bad[399_998] = 50
    with pytest.raises(ValueError, match="element 399998 refers to entry 50"):
        _core.strings_rebuild(len(big), t2, d2, bytes(bad), w2, o2)
    with pytest.raises(ValueError, match="code width 3"):
        _core.strings_rebuild(len(col), table, data, codes, 3, others)
    with pytest.raises(ValueError, match="do not describe 2999 elements"):
        _core.strings_rebuild(len(col) - 1, table, data, codes, width, others)
    with pytest.raises(ValueError, match="do not describe"):
        _core.strings_rebuild(len(col), table[:-8], data, codes, width, others)
    with pytest.raises(ValueError, match="elements"):
        _core.strings_rebuild(-1, table, data, codes, width, others)
    with pytest.raises(ValueError, match="lies outside"):
        _core.strings_rebuild(len(col), table, data[:0], codes, width, others)
    with pytest.raises(TypeError):
        _core.strings_rebuild(len(col), table, data, codes, width, list(others))
    gc.collect()
    assert (sys.getrefcount(a), sys.getrefcount(b)) == counts


def test_unpack_refusals_leave_the_array_and_counts_untouched():
    col = np.array(["a", "b", "a"] * 1000, dtype=object)
    table, data, codes, width, others = _core.strings_pack(col, 10)
    bad = bytearray(codes)
    bad[200] = 7  # an entry that does not exist
    gc.collect()
    nones = sys.getrefcount(None)
    out = np.empty(len(col), dtype=object)
    with pytest.raises(ValueError, match="element 200 refers to entry 7"):
        _core.strings_unpack(out, table, data, bytes(bad), width, others)
    assert all(x is None for x in out)
    used = np.empty(len(col), dtype=object)
    used[1500] = "x"
    with pytest.raises(ValueError, match="fresh object array"):
        _core.strings_unpack(used, table, data, codes, width, others)
    assert used[1500] == "x" and all(x is None for i, x in enumerate(used) if i != 1500)
    del out, used
    assert abs(sys.getrefcount(None) - nones) <= 50  # a miscount: thousands


# ---- stored pickles name public helpers -------------------------------------------

def _rename_global(stream, old, new):
    """STREAM (one frame) with the SHORT_BINUNICODE OLD replaced by NEW."""
    a = b"\x8c" + bytes([len(old)]) + old
    b = b"\x8c" + bytes([len(new)]) + new
    assert stream.count(a) == 1
    out = bytearray(stream.replace(a, b))
    assert out[2] == 0x95  # FRAME: its length grows too
    n = int.from_bytes(out[3:11], "little") + len(new) - len(old)
    out[3:11] = n.to_bytes(8, "little")
    return bytes(out)


def test_stored_pickles_name_public_helpers_and_old_names_load(brain):
    df = pd.DataFrame({"s": pd.Series(["a", "b"] * 100, dtype=object),
                       "t": pd.date_range("2024-01-01", periods=200, freq="s")})
    stream, buffers = serialize.pickled(df, "df", pack_strings=True)
    assert b"\x8c\x0cobject_array" in stream and b"\x8c\x0edatetime_array" in stream
    assert b"_object_array" not in stream and b"_datetime_array" not in stream
    old = _rename_global(stream, b"object_array", b"_object_array")
    old = _rename_global(old, b"datetime_array", b"_datetime_array")
    brain._c().put_pickle("default", "old", old, buffers)
    got = brain["old"]
    assert got.equals(df) and (got.dtypes == df.dtypes).all()
    assert serialize._object_array is serialize.object_array
    assert serialize._datetime_array is serialize.datetime_array


def test_brain_calls_no_underscore_helper_of_serialize():
    src = open(brain_mod.__file__).read()
    assert "serialize._" not in src


# ---- learn(..., strings="arrow") ---------------------------------------------------

def test_strings_arrow_recalls_zero_copy_str_columns(brain):
    pytest.importorskip("pyarrow")
    pystr = pd.StringDtype("python", na_value=np.nan)
    df = pd.DataFrame({
        "s": pd.array(["a", "é", None, "😀", ""] * 40, dtype=pystr),
        "o": np.array(["x", None, "東京", float("nan"), "y"] * 40, dtype=object),
        "mixed": np.array([1, "a", None, 2.5, "b"] * 40, dtype=object),
        "n": np.arange(200.0),
    })
    keep = df.copy()
    brain.learn(df, "f", strings="arrow")
    assert df.equals(keep) and list(df.dtypes) == list(keep.dtypes)  # caller's frame untouched
    got = brain["f"]
    assert got["s"].dtype == pd.StringDtype("pyarrow", na_value=np.nan)
    assert got["o"].dtype == pd.StringDtype("pyarrow", na_value=np.nan)
    assert got["mixed"].dtype == object and got["n"].dtype == np.float64
    assert got["s"].tolist()[:4] == ["a", "é", got["s"].iloc[2], "😀"] and pd.isna(got["s"].iloc[2])
    assert got["o"].iloc[2] == "東京" and pd.isna(got["o"].iloc[1]) and pd.isna(got["o"].iloc[3])
    assert got["mixed"].equals(df["mixed"]) and got["n"].equals(df["n"])
    # Series too; empty and all-missing columns
    brain.learn(pd.Series(["p", "q"] * 50, dtype=pystr), "s", strings="arrow")
    assert brain["s"].dtype.storage == "pyarrow"
    brain.learn(pd.DataFrame({"e": pd.array([], dtype=pystr)}), "e", strings="arrow")
    assert brain["e"]["e"].dtype.storage == "pyarrow" and len(brain["e"]) == 0


def test_strings_arrow_refusals(brain, monkeypatch):
    from brain_plasma import BrainValueError

    with pytest.raises(BrainValueError, match="strings is None .* or 'arrow'"):
        brain.learn(pd.DataFrame({"a": ["x"]}), "f", strings="utf8")
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow fails
    with pytest.raises(BrainValueError, match="needs pyarrow.*pip install pyarrow"):
        brain.learn(pd.DataFrame({"a": ["x"]}), "f", strings="arrow")
    assert "f" not in brain
    brain.learn({"plain": 1}, "d", strings="arrow")  # not a frame: stored as it is
    assert brain["d"] == {"plain": 1}


def test_cache_keeps_frames_fetched_as_copies(brain, costly):
    # stored in 4 KB to 64 KB: fetched as bytes (no pin), versioned around the fetch
    df = pd.DataFrame({"s%d" % i: pd.Series(["v%05d" % (i * 1000 + j) for j in range(200)],
                                            dtype=object) for i in range(10)})
    brain["small"] = df
    assert 4096 < brain.info("small")["size"] < 65536
    a = brain["small"]
    b = brain["small"]
    assert recall_cache.stats()["hits"] == 1 and a is not b and b.equals(df)
    a["s0"] = "changed"
    assert brain["small"].equals(df)

"""Packed str columns (serialize._PackingPickler, _strcol.c): every frame
comes back identical, the packing is used where it should be and not
elsewhere, and damaged packed values raise clear errors."""
import io
import math
import pickle
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from brain_plasma import Brain, _core, serialize
from brain_plasma.exceptions import BrainSerializationError

N = 300  # > serialize.PACK_MIN: columns this long are packed
NAN = float("nan")


def packed_arrays(value, pack=True):
    """How many object arrays of VALUE's stored stream are packed."""
    kind, payload = serialize.encode(value, "x", False, pack)
    assert kind == "pickle"
    return payload[0].count(b"object_array")


def same_objects(a, b, merged=True):
    """Element by element, A the original and B the copy: same type, None
    stays None, NaN stays NaN (with its sign), equal values; str elements
    that were one object in A are one object in B (pickle's memo keeps
    that); with MERGED, equal str of B are one object (packing stores each
    value once)."""
    a = list(a)
    b = list(b)
    assert len(a) == len(b)
    seen, by_value = {}, {}
    for i, (x, y) in enumerate(zip(a, b)):
        assert type(x) is type(y), (i, x, y)
        assert (x is None) == (y is None), (i, x, y)
        if isinstance(x, float) and math.isnan(x):
            assert math.isnan(y) and math.copysign(1, x) == math.copysign(1, y)
        elif x is pd.NA or x is pd.NaT:
            assert y is x
        else:
            assert x == y, (i, x, y)
        if type(x) is str:
            assert seen.setdefault(id(x), y) is y, i
            if merged:
                assert by_value.setdefault(y, y) is y, i


def check_frame(out, df, merged=True):
    pd.testing.assert_frame_equal(out, df, check_exact=True, check_dtype=True,
                                  check_index_type=True, check_column_type=True,
                                  check_names=True, check_flags=True)
    assert list(out.columns) == list(df.columns)
    assert out.attrs == df.attrs
    for i in range(df.shape[1]):
        if df.dtypes.iloc[i] == object:
            same_objects(df.iloc[:, i].to_numpy(), out.iloc[:, i].to_numpy(), merged)
    if df.index.dtype == object:
        same_objects(df.index, out.index, merged)


def roundtrip(brain, value, name="v"):
    brain.learn(value, name)
    return brain.recall(name), brain.recall(name, copy=True)


def obj(values):
    return pd.Series(np.array(values, dtype=object), dtype=object)


def strs(n=N, fmt="s-{}"):
    return [fmt.format(i) for i in range(n)]


FRAMES = {
    "empty": lambda: pd.DataFrame(),
    "zero_rows": lambda: pd.DataFrame({"a": obj([]), "b": pd.Series([], dtype="f8")}),
    "distinct": lambda: pd.DataFrame({"a": obj(strs()), "x": np.arange(N)}),
    "repeated": lambda: pd.DataFrame({"a": obj(["red", "green", "blue"] * (N // 3))}),
    "all_none": lambda: pd.DataFrame({"a": obj([None] * N)}),
    "none_nan": lambda: pd.DataFrame({"a": obj(["a", None, NAN, "b", -NAN, ""] * (N // 6))}),
    "na_nat": lambda: pd.DataFrame({"a": obj(["a", pd.NA, pd.NaT, None] * (N // 4))}),
    "unicode": lambda: pd.DataFrame({"a": obj(
        ["", "ascii", "é latin1", "ÿ", "€ bmp", "日本語", "😀 non-bmp", "a\x00b",
         "\ud800 lone surrogate", "\udfff", "𝔘𝔫𝔦", "\u0100", "\uffff"] * 30)}),
    "long": lambda: pd.DataFrame({"a": obj(["x" * 1_000_003, "é" * 300_001, "😀" * 100_001]
                                          + strs(N))}),
    "few_others": lambda: pd.DataFrame({"a": obj(strs() + [1, 2.5, b"by", ("t",), None])}),
    "mixed_fallback": lambda: pd.DataFrame({"a": obj(list(range(N)) + strs(10))}),
    "str_subclass": lambda: pd.DataFrame({"a": obj([np.str_("np"), "plain"] * (N // 2))}),
    "string_python": lambda: pd.DataFrame({"a": pd.array(strs() + [None], dtype="string[python]")}),
    "str_python_nan": lambda: pd.DataFrame(
        {"a": pd.array(strs() + [None], dtype=pd.StringDtype("python", na_value=np.nan))}),
    "default_str": lambda: pd.DataFrame({"a": strs() + [None]}),
    "categorical_unused": lambda: pd.DataFrame({"c": pd.Categorical(
        ["a", "b"] * (N // 2),
        categories=pd.Index(["z", "a", "b", "unused"] + strs(100), dtype=object),
        ordered=True)}),
    "datetime_tz": lambda: pd.DataFrame({
        "t": pd.date_range("2024-03-30", periods=N, freq="h", tz="Europe/Paris"),
        "a": obj(strs())}),
    "nullable": lambda: pd.DataFrame({
        "i": pd.array([1, None] * (N // 2), dtype="Int64"),
        "b": pd.array([True, None, False] * (N // 3), dtype="boolean"),
        "a": obj(strs())}),
    "dup_columns": lambda: pd.concat(
        [obj(strs()).rename("a"), pd.Series(np.arange(N), name="n"),
         obj(strs(fmt="q{}")).rename("a")], axis=1),
    "multiindex": lambda: pd.DataFrame(
        {("g", "a"): obj(strs()), ("g", "n"): np.arange(N)},
        index=pd.MultiIndex.from_arrays([pd.Index(strs(fmt="k{}"), dtype=object),
                                         np.arange(N) % 7], names=["key", "m"])),
    "object_index": lambda: pd.DataFrame(
        {"a": obj(strs())}, index=pd.Index(strs(fmt="i{}"), dtype=object, name="idx")),
    "wide": lambda: pd.DataFrame({f"c{j}": obj(strs(fmt=f"{j}-{{}}")) for j in range(5)}),
    "fortran_block": lambda: pd.DataFrame(
        np.array([strs(), strs(fmt="t{}")], dtype=object).T.copy(order="F"),
        columns=["a", "b"]),
}


@pytest.mark.parametrize("kind", sorted(FRAMES))
def test_frame_roundtrip_exact(brain, kind):
    df = FRAMES[kind]()
    df.attrs = {"source": kind, "rows": len(df)}
    for out in roundtrip(brain, df):
        check_frame(out, df)


def test_where_packing_applies():
    assert packed_arrays(FRAMES["distinct"]()) == 1
    assert packed_arrays(FRAMES["wide"]()) == 1  # one 2-d block of 5 columns
    assert packed_arrays(FRAMES["string_python"]()) == 1
    assert packed_arrays(FRAMES["str_python_nan"]()) == 1
    assert packed_arrays(FRAMES["none_nan"]()) == 1
    assert packed_arrays(FRAMES["few_others"]()) == 1
    # most elements not str: pickled as usual
    assert packed_arrays(FRAMES["mixed_fallback"]()) == 0
    # shorter than PACK_MIN: pickled as usual
    assert packed_arrays(pd.DataFrame({"a": obj(strs(serialize.PACK_MIN - 1))})) == 0
    assert packed_arrays(pd.DataFrame({"a": obj(strs(serialize.PACK_MIN))})) == 1
    # opted out
    assert packed_arrays(FRAMES["distinct"](), pack=False) == 0
    # inside a container: pickled as usual
    assert packed_arrays({"df": FRAMES["distinct"]()}) == 0


def test_series_index_and_arrays(brain):
    s = obj(strs())
    s.name = "names"
    out, out2 = roundtrip(brain, s)
    pd.testing.assert_series_equal(out, s, check_exact=True)
    same_objects(s, out2)
    idx = pd.Index(strs(), dtype=object, name="i")
    for out in roundtrip(brain, idx):
        pd.testing.assert_index_equal(out, idx, exact=True)
    base = np.array([strs(), strs(fmt="t{}")], dtype=object)
    for arr in (base, np.asfortranarray(base), base[:, ::3], base[:, ::7], base[0, ::2],
                base.reshape(2, 10, -1)):
        for out in roundtrip(brain, arr):
            assert out.dtype == object and out.shape == arr.shape
            assert out.flags.c_contiguous == arr.flags.c_contiguous or not arr.flags.c_contiguous
            assert out.flags.f_contiguous == arr.flags.f_contiguous or not arr.flags.f_contiguous
            assert out.flags.writeable
            same_objects(arr.ravel(order="K"), out.ravel(order="K"))


def test_datetime_arrays_travel_out_of_band(brain):
    df = pd.DataFrame({
        "ns": pd.Series(pd.date_range("2024-01-01", periods=N, freq="s").as_unit("ns")),
        "tz": pd.date_range("2024-03-30", periods=N, freq="h", tz="Europe/Paris"),
        "td": pd.timedelta_range(0, periods=N, freq="ms"),
        "nat": pd.Series([pd.NaT, pd.Timestamp("2001-02-03")] * (N // 2)),
    })
    stream = serialize.encode(df, "x")[1][0]
    assert len(stream) < 4000 and b"datetime_array" in stream  # 4 x 2400 bytes out
    assert b"_datetime_array" not in stream  # the public name (issue 17)
    assert len(serialize.encode(df, "x", False, False)[1][0]) > 8 * N * 3  # plain: in-band
    out, out2 = roundtrip(brain, df)
    check_frame(out, df)
    check_frame(out2, df)
    assert not out["ns"].array._ndarray.flags.writeable  # a view of the store
    # the arrays themselves (a top-level ndarray takes the array layout:
    # through the pickler here), every order kept as pickle keeps it
    base = np.arange(3 * N).astype("<M8[s]").reshape(3, N)
    for arr in (base, np.asfortranarray(base), base[:, ::3], base[1, ::2],
                base.astype("m8[D]"), base.astype(">M8[ms]")):
        bufs = []
        f = io.BytesIO()
        serialize._PackingPickler(f, protocol=5, buffer_callback=bufs.append).dump(arr)
        assert len(bufs) == 1
        got = pickle.loads(f.getvalue(), buffers=bufs)
        want = pickle.loads(pickle.dumps(arr, protocol=5))
        assert got.dtype == arr.dtype and got.shape == arr.shape
        assert got.flags.c_contiguous == want.flags.c_contiguous
        assert got.flags.f_contiguous == want.flags.f_contiguous
        np.testing.assert_array_equal(got, arr)


def test_equal_str_are_stored_once(brain):
    a, b = "".join(["sha", "red"]), "".join(["sha", "red"])  # equal, not identical
    assert a is not b
    col = np.array([a, b, a, "other"] * 100, dtype=object)
    table, data, codes, width, others = _core.strings_pack(col, 10)
    assert len(table) == 2 * 16 and bytes(data) == b"sharedother"
    assert width == 1 and list(np.frombuffer(codes, "<u1")[:8]) == [0, 0, 0, 1] * 2
    brain.learn(col, "v")
    out = brain.recall("v")
    assert out[0] is out[1] and out[0] is out[2] and out[0] == "shared"
    same_objects(col, out)
    # non-str elements keep their identity only
    x, y = int("1" + "0" * 20), int("1" + "0" * 20)
    col = np.array(["s"] * 100 + [x, y, x], dtype=object)
    got = unpack(len(col), *_core.strings_pack(col, 10))
    assert got[100] is got[102] and got[100] is not got[101]


def test_packed_frame_is_smaller_and_recalled_in_another_process(brain):
    df = pd.DataFrame({"a": obj(strs(5000)), "c": obj(["x", "yy", None] * 5000)[:5000]})
    brain.learn(df, "df")
    code = (
        "import sys, pickle, pandas as pd\n"
        "from brain_plasma import Brain\n"
        "b = Brain(path=%r, start_process=False)\n"
        "sys.stdout.buffer.write(pickle.dumps(b.recall('df'), protocol=4))\n"
    ) % brain.path
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    assert res.returncode == 0, res.stderr.decode()
    check_frame(pickle.loads(res.stdout), df)


def test_pack_strings_false_writes_plain_pickles(store_name):
    df = FRAMES["distinct"]()
    b = Brain(path=store_name, size=16_000_000, pack_strings=False)
    b.learn(df, "df")
    tag, view = b._c().fetch(b.namespace, "df")
    (off, n), _ = _core.pickle_parse(view)
    stream = bytes(memoryview(view)[off:off + n])
    del view
    assert b"object_array" not in stream
    check_frame(b.recall("df"), df)
    b.sleep()


def test_learn_many_and_recall_many_pack(brain):
    d = {"a": FRAMES["distinct"](), "b": FRAMES["none_nan"]()}
    brain.learn_many(d)
    got = brain.recall_many(["a", "b"])
    for k in d:
        check_frame(got[k], d[k])


# ---- damaged packed values: clear errors, never a crash -------------------


def packed(values):
    return _core.strings_pack(np.array(values, dtype=object), len(values))


def unpack(n, table, data, codes, width, others):
    out = np.empty(n, dtype=object)
    _core.strings_unpack(out, table, data, codes, width, others)
    return out


def test_unpack_matches_pack():
    vals = ["a", "é", "€", "😀", None, NAN, "a", "", "\ud800"]
    t = packed(vals)
    same_objects(vals, unpack(len(vals), *t))
    assert _core.strings_pack(np.array([1, 2, "a"], dtype=object), 1) is None
    # the identity map regrows when it starts small (long columns start it
    # sized for 4M keys): the same result.  (The first 4096 values are all
    # different here: packing does not look for equal values after them.)
    many = np.array(["k%d" % (i % 5000) for i in range(20000)] + [None, NAN] * 50, dtype=object)
    grown = _core.strings_pack(many, 200, 1)
    assert [bytes(x) if isinstance(x, bytes) else x for x in grown][:4] == \
        [bytes(x) if isinstance(x, bytes) else x for x in _core.strings_pack(many, 200)][:4]
    same_objects(many, unpack(len(many), *grown), merged=False)
    assert len(grown[0]) == 16 * (20000 + 2)  # one entry per object
    # equal values among the first ones: every later equal value merges too
    sql_like = np.array(["v%d" % (i % 50) for i in range(10000)], dtype=object)
    assert len({id(x) for x in sql_like}) == 10000
    t = _core.strings_pack(sql_like, 10, 1)
    assert len(t[0]) == 16 * 50
    same_objects(sql_like, unpack(len(sql_like), *t))


def test_code_widths():
    # every element its own entry: no codes at all
    t = packed(strs(300))
    assert t[2] == b"" and t[3] == 0
    # the narrowest width that numbers every entry
    for entries, width in ((2, 1), (256, 1), (257, 2), (65536, 2), (65537, 4)):
        vals = strs(entries)
        vals.append(vals[0])  # one repeat (the same object)
        t = packed(vals)
        assert t[3] == width and len(t[2]) == width * len(vals), entries
        same_objects(vals, unpack(len(vals), *t))


@pytest.mark.parametrize("damage, message", [
    (lambda t: (t[0], t[1], np.array([0, 9, 1], "<u1").tobytes(), 1, t[4]), "refers to entry 9"),
    (lambda t: (t[0], t[1][:2], t[2], 1, t[4]), "lies outside"),
    (lambda t: (t[0][:8], t[1], t[2], 1, t[4]), "do not describe"),
    (lambda t: (t[0], t[1], t[2][:2], 1, t[4]), "do not describe"),
    (lambda t: (t[0], t[1], b"", 0, t[4]), "do not describe"),  # 2 entries, 3 elements
    (lambda t: (t[0], t[1], t[2], 3, t[4]), "code width 3"),
    (lambda t: (np.array([0, (5 << 3) | 3, 0, 1], "<u8").tobytes(), t[1], t[2], 1, t[4]), "unit 3"),
    (lambda t: (np.array([0, (5 << 3) | 0, 0, 1], "<u8").tobytes(), t[1], t[2], 1, ()), "object 5 of 0"),
    (lambda t: (np.array([1, (1 << 3) | 2, 0, 1], "<u8").tobytes(), t[1], t[2], 1, t[4]), "misaligned"),
])
def test_unpack_damaged_raises(damage, message):
    t = packed(["abc", "d", "abc"])
    assert t[3] == 1
    with pytest.raises(ValueError, match=message):
        unpack(3, *damage(t))


def test_pack_restores_the_gc_state():
    import gc

    col = np.array(strs(), dtype=object)
    assert gc.isenabled()
    _core.strings_pack(col, 10)
    assert gc.isenabled()
    gc.disable()
    try:
        _core.strings_pack(col, 10)
        assert not gc.isenabled()
    finally:
        gc.enable()
    with pytest.raises(TypeError):
        _core.strings_pack(np.arange(3), 1)
    assert gc.isenabled()


def test_pack_and_unpack_refuse_non_object_arrays():
    with pytest.raises(TypeError, match="object ndarray"):
        _core.strings_pack(np.arange(4), 1)
    t = packed(["a", "b"])
    with pytest.raises(TypeError, match="object ndarray"):
        _core.strings_unpack(np.zeros(2), *t)
    with pytest.raises(ValueError, match="fresh object array of None"):
        _core.strings_unpack(np.array(["x", None], dtype=object), *t)
    with pytest.raises((TypeError, ValueError)):  # read-only: cannot fill
        ro = np.empty(2, dtype=object)
        ro.flags.writeable = False
        _core.strings_unpack(ro, *t)


def test_recall_of_damaged_packed_value_is_a_clear_error(brain):
    """A stored stream whose packed codes are damaged raises
    BrainSerializationError naming the value, and the store still works."""
    table, data, codes, width, others = packed(["abc", "d"] * 100)
    assert width == 1
    bad = np.full(200, 7, "<u1").tobytes()
    PB = pickle.PickleBuffer

    class Fake:
        def __reduce__(self):
            return serialize.object_array, ((200,), "C", PB(table), PB(data), PB(bad),
                                             width, others)

    bufs = []
    stream = pickle.dumps(Fake(), protocol=5, buffer_callback=lambda b: bufs.append(b.raw()) or False)
    brain._c().put_pickle(brain.namespace, "bad", stream, bufs)
    with pytest.raises(BrainSerializationError, match="'bad'.*refers to entry 7"):
        brain.recall("bad")
    brain.learn(FRAMES["distinct"](), "good")
    check_frame(brain.recall("good"), FRAMES["distinct"]())


# ---- randomized round trips ----------------------------------------------

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402

ELEMENT = st.one_of(
    st.text(max_size=12),
    st.text(alphabet=st.characters(min_codepoint=0x80, max_codepoint=0x10FFFF), max_size=5),
    st.sampled_from(["shared", "é", "😀", ""]),
    st.none(),
    st.just(NAN),
    st.just(pd.NA),
    st.integers(-3, 3),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(ELEMENT, min_size=0, max_size=400), st.booleans())
def test_random_object_columns_roundtrip(values, as_index):
    df = pd.DataFrame({"a": obj(values), "n": np.arange(len(values))})
    if as_index:
        df = df.set_index("a")
    kind, (stream, bufs) = serialize.encode(df, "x", False, True)
    out = pickle.loads(stream, buffers=bufs)
    check_frame(out, df)
    # and a plain pickle of the same frame gives the same objects
    plain = pickle.loads(pickle.dumps(df))
    same_objects((plain.index if as_index else plain["a"]),
                 (out.index if as_index else out["a"]), merged=len(values) >= serialize.PACK_MIN)


def test_encode_is_deterministic():
    df = FRAMES["unicode"]()
    a = serialize.encode(df, "x", False, True)[1]
    b = serialize.encode(df, "x", False, True)[1]
    assert a[0] == b[0] and [bytes(x) for x in a[1]] == [bytes(x) for x in b[1]]

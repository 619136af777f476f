"""Round trips of every kind of value, zero-copy and read-only recalls,
copies, and values that cannot be stored."""
import datetime
import threading

import numpy as np
import pandas as pd
import pytest

from brain_plasma import recall_cache

from brain_plasma import BrainSerializationError, BrainStoreFullError, _core


def module_function(x):
    return x * 2


class ModuleClass:
    def __init__(self, v):
        self.v = v

    def __eq__(self, other):
        return isinstance(other, ModuleClass) and other.v == self.v


@pytest.mark.parametrize(
    "value",
    [
        {"a": 1, "b": [1, 2], "c": {"d": None}},
        "a text object",
        "",
        "ünïcødé ☃",
        b"raw \x00 bytes",
        b"",
        [1, 2, 3, 4],
        {1, 2, 3},
        None,
        (1, "two", 3.0),
        42,
        2**100,
        -1.5,
        True,
        datetime.datetime(2024, 1, 2, 3, 4, 5),
        bytearray(b"mutable"),
    ],
    ids=repr,
)
def test_roundtrip_builtin(brain, value):
    brain["v"] = value
    got = brain["v"]
    assert got == value
    assert type(got) is type(value)


def test_string_and_bytes_layouts(brain):
    brain["s"] = "x" * 200_000
    brain["b"] = b"y" * 200_000
    brain["small"] = "hi"
    assert brain.info("s")["type_name"] == "str"
    assert brain.info("b")["type_name"] == "bytes"
    assert brain["s"] == "x" * 200_000 and brain["b"] == b"y" * 200_000
    assert brain.recall("s", copy=True) == "x" * 200_000
    # a str that is not valid UTF-8 (lone surrogate) is pickled instead
    brain["sur"] = "a\ud800b"
    assert brain["sur"] == "a\ud800b"
    assert brain.info("sur")["type_name"] == "pickle"


def test_module_function_and_class(brain):
    brain["f"] = module_function
    brain["cls"] = ModuleClass
    brain["obj"] = ModuleClass(7)
    assert brain["f"](21) == 42
    assert brain["cls"] is ModuleClass
    assert brain["obj"] == ModuleClass(7)


@pytest.mark.parametrize(
    "dtype", ["<f8", "<f4", "<i8", "<i4", "|u1", "|i1", "|b1", "<c16", "<M8[ns]", "<m8[s]", "<U7", "|S3", ">i4"]
)
def test_ndarray_dtypes(brain, dtype):
    a = (np.arange(24) % 5).astype(dtype).reshape(2, 3, 4)
    brain["a"] = a
    got = brain["a"]
    assert got.dtype == a.dtype and got.shape == a.shape
    np.testing.assert_array_equal(got, a)
    assert brain.info("a")["type_name"] == "ndarray"


def test_ndarray_zero_d_empty_noncontiguous(brain):
    brain["z"] = np.array(3.5)
    z = brain["z"]
    assert z.shape == () and z == 3.5
    brain["e"] = np.zeros((0, 4), dtype="<i2")
    e = brain["e"]
    assert e.shape == (0, 4) and e.dtype == np.dtype("<i2")
    base = np.arange(100, dtype=np.int64).reshape(10, 10)
    nc = base[::2, 1::3]
    assert not nc.flags.c_contiguous
    brain["nc"] = nc
    np.testing.assert_array_equal(brain["nc"], nc)
    brain["f"] = np.asfortranarray(base)
    np.testing.assert_array_equal(brain["f"], base)


def test_ndarray_object_and_structured_are_pickled(brain):
    o = np.array([1, "a", None], dtype=object)
    brain["o"] = o
    assert list(brain["o"]) == [1, "a", None]
    assert brain.info("o")["type_name"] == "pickle"
    s = np.zeros(3, dtype=[("x", "<i4"), ("y", "<f8")])
    s["x"] = [1, 2, 3]
    brain["s"] = s
    got = brain["s"]
    assert got.dtype == s.dtype and list(got["x"]) == [1, 2, 3]


def test_recalled_array_is_readonly_zero_copy(brain):
    a = np.arange(1_000_000, dtype=np.float64)
    brain["a"] = a
    got = brain["a"]
    assert not got.flags.writeable
    with pytest.raises(ValueError):
        got[0] = 99
    # zero-copy: the data lies in the store's mapping, not in a private copy
    st = brain.stats()
    assert st["pins"] >= 1
    # recall(copy=True) is private and writable, and does not change the store
    c = brain.recall("a", copy=True)
    assert c.flags.writeable
    c[0] = 99
    assert brain["a"][0] == 0
    # np.array(recalled) is a copy too
    m = np.array(got)
    m[1] = -1
    assert brain["a"][1] == 1
    del got
    import gc

    gc.collect()


def test_recalled_array_outlives_forget_and_replace(brain):
    brain["a"] = np.arange(100_000)
    got = brain["a"]
    brain["a"] = np.zeros(5)
    brain.forget("a")
    assert got[99_999] == 99_999


def test_array_from_c_layout_reads_as_ndarray(brain):
    # the layout C programs write with brain_put_array
    raw = _core.array_pack("<i4", (2, 2), np.array([[1, 2], [3, 4]], dtype="<i4").tobytes())
    brain._c().put(brain.namespace, "c", raw, type=_core.TYPE_ARRAY)
    got = brain["c"]
    np.testing.assert_array_equal(got, [[1, 2], [3, 4]])


def make_frame(n=1000):
    idx = pd.Index(["r%d" % i for i in range(n)], name="key")
    return pd.DataFrame(
        {
            "i": np.arange(n),
            "f": np.linspace(0, 1, n),
            "cat": pd.Categorical(["a", "b", "c", "a"] * (n // 4)),
            "when": pd.date_range("2024-01-01", periods=n, freq="h", tz="Europe/Paris"),
            "obj": ["s%d" % (i % 7) for i in range(n)],
            "mixed": [i if i % 2 else str(i) for i in range(n)],
        },
        index=idx,
    )


def test_dataframe_roundtrip(brain):
    df = make_frame()
    brain["df"] = df
    got = brain["df"]
    pd.testing.assert_frame_equal(got, df)
    assert got.index.name == "key"
    assert got["when"].dtype == df["when"].dtype
    assert str(got["when"].dt.tz) == "Europe/Paris"
    assert isinstance(got["cat"].dtype, pd.CategoricalDtype)


def test_dataframe_zero_copy_readonly_and_copy(brain):
    df = pd.DataFrame({"a": np.arange(200_000), "b": np.arange(200_000) * 0.5})
    brain["df"] = df
    got = brain["df"]
    pd.testing.assert_frame_equal(got, df)
    assert not got["a"].to_numpy().flags.writeable
    mine = brain.recall("df", copy=True)
    mine.loc[0, "a"] = -5
    assert brain["df"].loc[0, "a"] == 0
    mod = got.copy()
    mod.loc[0, "b"] = 123.0
    assert brain["df"].loc[0, "b"] == 0.0


def test_series_roundtrip(brain):
    s = pd.Series([1.5, 2.5, None], index=["x", "y", "z"], name="vals")
    brain["s"] = s
    pd.testing.assert_series_equal(brain["s"], s)


def test_multiindex_and_period(brain):
    df = pd.DataFrame(
        {"v": range(6)},
        index=pd.MultiIndex.from_product([["a", "b"], [1, 2, 3]], names=["l", "n"]),
    )
    brain["m"] = df
    pd.testing.assert_frame_equal(brain["m"], df)


# ---- values that cannot be stored --------------------------------------


def _gen():
    yield 1


@pytest.mark.parametrize(
    "value, tname",
    [
        (threading.Lock(), "lock"),
        (_gen(), "generator"),
        ((lambda: 1), "function"),
    ],
    ids=["lock", "generator", "lambda"],
)
def test_unpicklable_raises_and_changes_nothing(brain, value, tname):
    brain["keep"] = "old"
    with pytest.raises(BrainSerializationError) as ei:
        brain.learn(value, "keep")
    msg = str(ei.value)
    assert tname in msg and "'keep'" in msg and "nothing was stored" in msg
    assert isinstance(ei.value, TypeError)
    assert brain["keep"] == "old"
    with pytest.raises(BrainSerializationError):
        brain.learn_many({"x": 1, "y": value})
    assert "x" not in brain


def test_local_lambda_in_container(brain):
    def make():
        return lambda: 0

    with pytest.raises(BrainSerializationError) as ei:
        brain["d"] = {"f": make()}
    assert "builtins.dict" in str(ei.value)
    assert "d" not in brain


def test_value_larger_than_store(brain):
    brain["keep"] = [1, 2, 3]
    big = np.zeros(10_000_000)  # 80 MB, store holds 64 MB
    with pytest.raises(BrainStoreFullError) as ei:
        brain["big"] = big
    msg = str(ei.value)
    assert "80.0 MB" in msg and "capacity" in msg
    assert brain["keep"] == [1, 2, 3]
    assert "big" not in brain
    with pytest.raises(BrainStoreFullError):
        brain["bigdf"] = pd.DataFrame({"a": big})
    assert brain.check() == []
    brain["after"] = "works"
    assert brain["after"] == "works"


def test_store_full_then_recovers(brain):
    chunk = np.ones(2_000_000)  # 16 MB
    stored = []
    with pytest.raises(BrainStoreFullError):
        for i in range(10):
            brain["c%d" % i] = chunk
            stored.append("c%d" % i)
    assert stored and all(brain[n][5] == 1.0 for n in stored)
    brain.forget(stored[0])
    brain["again"] = chunk
    assert brain["again"].sum() == 2_000_000


def test_pins_released_when_values_die(brain):
    import gc

    brain["a"] = np.arange(100_000)
    brain["df"] = pd.DataFrame({"x": np.arange(100_000)})
    a, df = brain["a"], brain["df"]
    col = df["x"].to_numpy()
    assert brain.stats()["pins"] >= 2
    del a, df
    gc.collect()
    assert brain.stats()["pins"] >= 1  # the column still points into the store
    assert col[-1] == 99_999
    del col
    gc.collect()
    # the recall cache keeps the frame it decoded (brain_plasma.recall_cache)
    assert brain.stats()["pins"] == 1
    recall_cache.clear()
    gc.collect()
    assert brain.stats()["pins"] == 0
    # small values are copied out and pin nothing
    brain["s"] = {"k": 1}
    brain["s"]
    assert brain.stats()["pins"] == 0


def test_full_pin_table_falls_back_to_copies(brain):
    # more live views than one process may pin: recall copies instead
    from brain_plasma import BrainLimitError

    for i in range(_core.PINS_PER_PROC + 5):
        brain._c().put(brain.namespace, "p%d" % i, b"x")
    held = []
    with pytest.raises(BrainLimitError) as ei:
        for i in range(_core.PINS_PER_PROC + 5):
            held.append(brain._c().get(brain.namespace, "p%d" % i))
    assert ei.value.code == _core.EPINS
    brain["big"] = np.arange(100_000)
    got = brain["big"]
    assert got[-1] == 99_999 and not got.flags.writeable
    del held


def test_small_pickle_with_out_of_band_buffers(brain):
    # small enough to be copied out, yet carrying out-of-band buffers
    brain["d"] = {"a": np.arange(3), "b": "x"}
    got = brain["d"]
    assert list(got["a"]) == [0, 1, 2] and got["b"] == "x"
    assert brain.stats()["pins"] == 0


def test_relearn_recalled_values(brain):
    df = pd.DataFrame({"a": np.arange(100_000)})
    brain["df"] = df
    brain["df2"] = brain["df"]  # out-of-band buffers read from the store itself
    brain["arr2"] = brain["df"]["a"].to_numpy()
    pd.testing.assert_frame_equal(brain["df2"], df)
    assert brain["arr2"][-1] == 99_999


def test_description_limits(brain):
    brain.learn(1, "d", description="é" * 100)
    assert brain.info("d")["description"] == "é" * 100
    from brain_plasma import BrainValueError

    with pytest.raises(BrainValueError):
        brain.learn(2, "d", description="x" * 5000)
    assert brain["d"] == 1
    with pytest.raises(TypeError):
        brain.learn(2, "d", description=5)


def test_pickled_arrays_in_any_order(brain):
    base = np.arange(300_000, dtype=np.float64).reshape(600, 500)
    value = {"f": np.asfortranarray(base), "nc": base[::3, ::7], "c": base}
    brain["v"] = value
    got = brain["v"]
    for k in value:
        np.testing.assert_array_equal(got[k], value[k])
    assert got["f"].flags.f_contiguous


def test_pickled_frames_carry_a_hint_of_their_shape(brain):
    """learn writes what a pickled value is into its header ('DataFrame RxC'),
    which the CLI shows without unpickling; the value itself is unchanged."""
    import numpy as np
    import pandas as pd

    from brain_plasma import BrainError, _core, serialize

    df = pd.DataFrame({"a": np.arange(5), "b": list("abcde")})
    assert serialize.hint_of(df) == "DataFrame 5x2"
    assert serialize.hint_of(df["a"]) == "Series 5 int64"
    assert serialize.hint_of(np.array([1, None], dtype=object)) == "ndarray object (2,)"
    assert serialize.hint_of(7) is None and serialize.hint_of({"a": 1}) is None
    long = np.zeros(2, dtype=[("field%d" % i, "i4") for i in range(20)])
    assert len(serialize.hint_of(long)) == 64  # kept short
    brain["df"] = df
    pd.testing.assert_frame_equal(brain["df"], df)
    stream, buffers = serialize.pickled(df, "df")
    packed = _core.pickle_pack(stream, buffers, "DataFrame 5x2")
    assert packed[:4] == b"BRPH" and b"DataFrame 5x2" in packed[:256]
    assert _core.pickle_pack(stream, buffers)[:4] == b"BRPK"
    with pytest.raises(TypeError, match="expected str or None"):
        _core.pickle_pack(stream, buffers, b"bytes")
    with pytest.raises(ValueError):
        _core.pickle_pack(stream, buffers, "a\0b")
    with pytest.raises(BrainError, match="the limit is 256"):
        _core.pickle_pack(stream, buffers, "h" * 257)

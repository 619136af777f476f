"""Issue 14, goal 2: a recall served by the recall cache has exactly the
semantics of a fresh recall.  Every write path of test_cow.py, on every
column type, applied to a frame the cache handed out, changes that frame
as pandas changes a frame of its own, and never shows in another caller's
frame (handed out before or after), in the frame the cache keeps, nor in
the store.  So do the writes that bypass pandas' copy-on-write (into
``.array`` or ``to_numpy()``: they raise, every array being read-only) and
changes to the frame object itself (insert, rename, drop, axes names,
attrs)."""
import warnings

import numpy as np
import pytest

pd = pytest.importorskip("pandas")

from brain_plasma import Brain, recall_cache  # noqa: E402

from test_cow import COLUMNS, WRITES, fill_value, frame  # noqa: E402


@pytest.fixture
def costly():
    """Every decoded frame counts as costly, whatever this machine's speed."""
    old = recall_cache.configure()
    recall_cache.configure(min_seconds=0)
    yield
    recall_cache.configure(**old)


@pytest.fixture
def kept(brain, costly):
    """(brain, the frame stored, a caller's frame handed out before the
    writes), the frame kept by the cache."""
    df = frame()
    brain["df"] = df
    before = brain["df"]  # decoded and kept
    assert recall_cache.stats()["entries"] == 1
    return brain, df, before


def hits():
    return recall_cache.stats()["hits"]


def check_untouched(brain, df, before):
    """Another caller's frame (handed out before), a new one (handed out
    by the cache after) and a fresh decode all equal the stored frame."""
    n = hits()
    after = brain["df"]
    assert hits() == n + 1  # served by the cache
    for other in (before, after):
        pd.testing.assert_frame_equal(other, df)
        assert list(other.dtypes) == list(df.dtypes)
    fresh = Brain(path=brain.path, recall_cache=False)["df"]
    pd.testing.assert_frame_equal(fresh, df)


@pytest.mark.parametrize("col", COLUMNS)
@pytest.mark.parametrize("write", WRITES, ids=lambda f: f.__name__[2:])
def test_a_write_to_a_cached_recall_stays_with_its_caller(kept, write, col):
    brain, df, before = kept
    n = hits()
    got = brain["df"]
    assert hits() == n + 1
    want = df.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # pandas' downcasting notices
        write(want, col)  # what pandas does to a frame of its own
        write(got, col)   # the same on the frame the cache handed out
    pd.testing.assert_frame_equal(got, want)
    check_untouched(brain, df, before)


@pytest.mark.parametrize("col", COLUMNS)
def test_writes_around_copy_on_write_raise_on_a_cached_recall(kept, col):
    """Writing into a column's array itself (pandas does not copy first)
    raises on a fresh recall, every array being read-only; the same on a
    cached one, so no caller's write can reach another."""
    brain, df, before = kept
    for got in (Brain(path=brain.path, recall_cache=False)["df"], brain["df"]):
        arr = got[col].array
        if "Arrow" in type(arr).__name__:
            # (pyarrow installed: `str` is Arrow-backed) an Arrow array's
            # write replaces its data in its own object, the caller's own
            arr[0:2] = arr[5]
        else:
            with pytest.raises((ValueError, TypeError)):
                arr[0:2] = arr[5]
        values = got[col].to_numpy()
        if isinstance(values, np.ndarray) and not values.flags.writeable:
            with pytest.raises(ValueError):
                values[0] = values[5]
        elif isinstance(values, np.ndarray):
            values[0] = values[5]  # a copy of the caller's own (e.g. Int64 -> object)
    check_untouched(brain, df, before)


@pytest.mark.filterwarnings("ignore:The inplace keyword")
def test_changes_to_a_cached_frame_object_stay_with_its_caller(kept):
    brain, df, before = kept
    got = brain["df"]
    got.insert(0, "first", 1)            # moves every block's placement
    got.insert(5, "middle", np.arange(len(got)))
    got["last"] = "x"
    got.rename(columns={"float": "FLOAT"}, inplace=True)
    del got["int"]
    got.pop("str")
    got.columns.name = "cols"
    got.index.name = "rows"
    got.attrs["mine"] = True
    got.set_index("middle", inplace=True)
    got.sort_values("FLOAT", inplace=True)
    got.reset_index(inplace=True)
    got.drop(columns=["bool"], inplace=True)
    got.loc[got.index[0], "FLOAT"] = 7.5
    assert got.columns[0] == "middle" and "int" not in got and got.attrs == {"mine": True}
    check_untouched(brain, df, before)
    again = brain["df"]
    assert again.columns.name is None and again.index.name is None and again.attrs == {}
    assert list(again.columns) == list(df.columns)


def test_many_callers_each_write_their_own(kept):
    brain, df, before = kept
    frames = [brain["df"] for _ in range(6)]
    for i, f in enumerate(frames):
        f.iloc[i, f.columns.get_loc("float")] = -i - 1.0
        f.loc[i, "string"] = "caller%d" % i
        f.insert(0, "n%d" % i, i)
    for i, f in enumerate(frames):
        assert f["float"].iloc[i] == -i - 1.0 and f["string"].iloc[i] == "caller%d" % i
        assert list(f.columns) == ["n%d" % i] + list(df.columns)
        for j in range(6):
            if j != i:
                assert f["float"].iloc[j] == df["float"].iloc[j] or (
                    np.isnan(f["float"].iloc[j]) and np.isnan(df["float"].iloc[j]))
    check_untouched(brain, df, before)


def test_a_cached_frame_of_many_extension_columns(brain, costly):
    """Frames of extension columns (str, Int64, boolean, Float64,
    category, Arrow-backed when pyarrow is here): the cache shares the
    array objects whose data is read-only and views the others; writes of
    every kind stay with their caller."""
    n = 2000
    rng = np.random.default_rng(5)
    cols = {}
    for i in range(12):
        kind = i % 6
        if kind == 0:
            cols["s%d" % i] = pd.array(np.array(["v%d" % (j % 50) for j in range(n)],
                                                dtype=object), dtype="string")
        elif kind == 1:
            cols["i%d" % i] = pd.array(rng.integers(0, 9, n), dtype="Int64")
        elif kind == 2:
            cols["b%d" % i] = pd.array(rng.integers(0, 2, n) == 1, dtype="boolean")
        elif kind == 3:
            cols["f%d" % i] = pd.array(rng.random(n), dtype="Float64")
        elif kind == 4:
            cols["c%d" % i] = pd.Categorical(np.array(["a", "b", "c"])[rng.integers(0, 3, n)])
        else:
            cols["t%d" % i] = pd.date_range("2024", periods=n, freq="min", tz="UTC")
    df = pd.DataFrame(cols)
    try:
        import pyarrow  # noqa: F401
        df["arrow"] = pd.array(["w%d" % (j % 7) for j in range(n)],
                               dtype=pd.StringDtype("pyarrow"))
    except ImportError:
        pass
    brain["df"] = df
    before = brain["df"]
    got = brain["df"]
    assert recall_cache.stats()["hits"] == 1
    want = df.copy()
    for f in (got, want):
        for c in f.columns:
            f.iloc[0:3, f.columns.get_loc(c)] = f[c].iloc[7]
        f.insert(3, "new", 0)
    pd.testing.assert_frame_equal(got, want)
    if "arrow" in df:  # an Arrow array's writes replace its data: its object is the caller's
        arr = brain["df"]["arrow"].array
        arr[0] = "changed"
        assert arr[0] == "changed"
    for other in (before, brain["df"], Brain(path=brain.path, recall_cache=False)["df"]):
        pd.testing.assert_frame_equal(other, df)


def test_frames_of_mutable_objects_are_not_kept(brain, costly):
    """A column of lists: callers of a cached frame would share the lists
    (a fresh recall builds its own), so such a frame is not kept."""
    df = pd.DataFrame({"l": [[i] for i in range(300)], "x": np.arange(300.0)})
    brain["df"] = df
    a = brain["df"]
    a.loc[0, "l"].append(99)
    b = brain["df"]
    assert recall_cache.stats()["entries"] == 0
    assert b.loc[0, "l"] == [0]
    # mostly str, so packed: the few lists travel beside the str
    cells = np.array(["x%d" % (i % 9) for i in range(300)], dtype=object)
    cells[::50] = [[i] for i in range(6)]
    brain["packed"] = pd.DataFrame({"s": cells})
    a = brain["packed"]
    base = a["s"].to_numpy()
    while isinstance(base, np.ndarray):
        base = base.base
    assert type(base).__name__ == "StrCells"  # it was packed
    a.loc[0, "s"].append(99)
    assert brain["packed"].loc[0, "s"] == [0]
    assert recall_cache.stats()["entries"] == 0
    # immutable cells (str, None, floats) are kept, packed or not
    brain["ok"] = pd.DataFrame({"s": ["x%d" % (i % 9) for i in range(300)],
                                "o": np.array(["y", None, 1.5] * 100, dtype=object),
                                "n": [None, 1.5, "y"] * 100})
    brain["ok"]
    assert recall_cache.stats()["entries"] == 1

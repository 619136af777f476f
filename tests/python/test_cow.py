"""Recalled pandas objects behave like ordinary pandas (copy-on-write)
frames: reads are zero-copy views of the store, and a write copies the block
it touches (as with any frame that shares its data) instead of raising
"assignment destination is read-only"; the stored value never changes.
Arrays recalled as such stay read-only views."""
import warnings

import numpy as np
import pytest

pd = pytest.importorskip("pandas")

from brain_plasma import Brain  # noqa: E402

N = 10_000  # a value above 64 KiB: recalled as a view of the store, not copied


def frame():
    na = np.arange(N) % 10 == 3  # rows holding a missing value where the dtype can
    df = pd.DataFrame({
        "float": np.where(na, np.nan, np.arange(N, dtype=float)),
        "int": np.arange(N, dtype=np.int64),
        "bool": np.arange(N) % 2 == 0,
        "datetime": pd.Series(pd.date_range("2024-01-01", periods=N, freq="h")).mask(na),
        "datetime_tz": pd.Series(pd.date_range("2024-01-01", periods=N, freq="h",
                                               tz="Europe/Paris")).mask(na),
        "timedelta": pd.Series(pd.to_timedelta(np.arange(N), unit="s")).mask(na),
        "category": pd.Series(pd.Categorical(np.array(["a", "b", "c"])[np.arange(N) % 3])).mask(na),
        "Int64": pd.array(np.arange(N), dtype="Int64"),
        "boolean": pd.array(np.arange(N) % 2 == 0, dtype="boolean"),
        "Float64": pd.array(np.arange(N, dtype=float), dtype="Float64"),
        "string": pd.array(["s%d" % i for i in range(N)], dtype="string"),
        "str": pd.Series(["t%d" % i for i in range(N)]),
    })
    for c in ("Int64", "boolean", "Float64", "string"):
        df.loc[na, c] = pd.NA
    return df


COLUMNS = list(frame().columns)
# columns whose data lies in the store (object and string storage is rebuilt)
ZERO_COPY = ["float", "int", "bool", "datetime", "datetime_tz", "timedelta",
             "category", "Int64", "boolean", "Float64"]


def data_of(series):
    """The NumPy array holding the series' values (codes for a category,
    the values of a masked or datetime array)."""
    arr = series.array
    for attr in ("_ndarray", "_data", "_codes"):
        if hasattr(arr, attr):
            return getattr(arr, attr)
    return np.asarray(arr)


def fill_value(df, col):
    return df[col].iloc[6]


# each write path: (name, function(df, col) that writes in place)
def w_loc(df, c):
    df.loc[df.index < 5, c] = fill_value(df, c)


def w_iloc(df, c):
    df.iloc[0:5, df.columns.get_loc(c)] = fill_value(df, c)


def w_at(df, c):
    df.at[2, c] = fill_value(df, c)


def w_iat(df, c):
    df.iat[2, df.columns.get_loc(c)] = fill_value(df, c)


def w_fillna(df, c):
    df.fillna({c: fill_value(df, c)}, inplace=True)


def w_replace(df, c):
    df.replace({c: {df[c].iloc[1]: fill_value(df, c)}}, inplace=True)


def w_where(df, c):
    df.mask(df.index.to_series().lt(5).to_frame(c).reindex(columns=df.columns, fill_value=False),
            fill_value(df, c), inplace=True)


def w_setitem_column(df, c):
    df[c] = df[c].iloc[::-1].to_numpy()


WRITES = [w_loc, w_iloc, w_at, w_iat, w_fillna, w_replace, w_where, w_setitem_column]


@pytest.fixture
def stored(brain):
    df = frame()
    brain["df"] = df
    return brain, df


@pytest.mark.parametrize("col", COLUMNS)
@pytest.mark.parametrize("write", WRITES, ids=lambda f: f.__name__[2:])
def test_write_copies_the_block_and_leaves_the_store(stored, write, col):
    brain, orig = stored
    got = brain["df"]
    want = orig.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # pandas' downcasting notices
        write(want, col)        # what pandas does to a frame of its own
        write(got, col)         # the same on the recalled frame: no read-only error
    pd.testing.assert_frame_equal(got, want)
    pd.testing.assert_frame_equal(brain["df"], orig)  # the stored value is untouched


@pytest.mark.parametrize("col", ZERO_COPY)
def test_reads_are_zero_copy_and_a_write_copies_only_its_block(stored, col):
    brain, orig = stored
    a, b = brain["df"], brain["df"]
    # two recalls read the same bytes: the store's
    assert np.shares_memory(data_of(a[col]), data_of(b[col]))
    assert not data_of(a[col]).flags.writeable
    other = "float" if col != "float" else "int"
    a.loc[a.index < 5, col] = fill_value(a, col)
    assert not np.shares_memory(data_of(a[col]), data_of(b[col]))  # a private copy
    assert np.shares_memory(data_of(a[other]), data_of(b[other]))  # others still shared
    pd.testing.assert_frame_equal(b, orig)
    # the copy is an ordinary writable frame from then on
    a.loc[a.index < 3, col] = fill_value(a, col)


@pytest.mark.parametrize("col", COLUMNS)
def test_recalled_series_and_column_views(brain, col):
    df = frame()
    brain["s"] = df[col]
    s = brain["s"]
    s.iloc[0:3] = fill_value(df, col)
    s.loc[5] = fill_value(df, col)
    s.fillna(fill_value(df, col), inplace=True)
    want = df[col].copy()
    want.iloc[0:3] = fill_value(df, col)
    want.loc[5] = fill_value(df, col)
    want.fillna(fill_value(df, col), inplace=True)
    pd.testing.assert_series_equal(s, want)
    pd.testing.assert_series_equal(brain["s"], df[col])
    # a column taken out of a recalled frame, then written
    brain["df"] = df
    c = brain["df"][col]
    c.iloc[0] = fill_value(df, col)
    pd.testing.assert_frame_equal(brain["df"], df)


@pytest.mark.parametrize("derive", [
    lambda df: df.rename(columns=str.upper),
    lambda df: df.iloc[:50],
    lambda df: df[["float", "int", "Int64", "datetime"]],
    lambda df: df.set_index("str"),
    lambda df: df.reset_index(),
    lambda df: df.astype({"float": "float64"}),
    lambda df: df.T.T,
], ids=["rename", "iloc-slice", "columns", "set_index", "reset_index", "astype", "T.T"])
def test_frames_derived_from_a_dropped_recall(brain, derive):
    """Views derived from a recalled frame share its data; they copy before
    writing even after the recalled frame itself is gone."""
    df = frame()
    brain["df"] = df
    d = derive(brain["df"])  # the recalled frame is dropped at once
    want = derive(df.copy())
    for c in list(d.columns)[:4]:
        want.iloc[0:3, want.columns.get_loc(c)] = want[c].iloc[5]
        d.iloc[0:3, d.columns.get_loc(c)] = d[c].iloc[5]
    pd.testing.assert_frame_equal(d, want)
    pd.testing.assert_frame_equal(brain["df"], df)


def test_frames_inside_a_recalled_dict_or_list(brain):
    df = frame()
    brain["d"] = {"frame": df, "more": [df[["float", "int"]]], "n": 1}
    d = brain["d"]
    d["frame"].loc[0, "float"] = -1.0
    d["more"][0].iat[0, 1] = -1
    assert d["frame"].loc[0, "float"] == -1.0 and d["more"][0].iat[0, 1] == -1
    again = brain["d"]
    pd.testing.assert_frame_equal(again["frame"], df)
    pd.testing.assert_frame_equal(again["more"][0], df[["float", "int"]])


def test_small_frames_too(brain):
    """A small value is copied out as bytes: its frame is read-only memory
    as well, and is handled the same way."""
    df = pd.DataFrame({"a": [1.0, 2.0, np.nan], "b": [1, 2, 3]})
    brain["small"] = df
    got = brain["small"]
    got.loc[got["b"] > 1, "a"] = 0.0
    got.fillna(9.0, inplace=True)
    assert got["a"].tolist() == [1.0, 0.0, 0.0]
    pd.testing.assert_frame_equal(brain["small"], df)


def test_copy_true_frames_are_private_and_writable(brain):
    df = frame()
    brain["df"] = df
    got = brain.recall("df", copy=True) if "copy" in Brain.recall.__code__.co_varnames else None
    if got is None:
        pytest.skip("recall has no copy argument")
    got.loc[0, "int"] = -5
    assert got.loc[0, "int"] == -5
    pd.testing.assert_frame_equal(brain["df"], df)


def test_a_dash_callback_written_for_a_pickle_cache(brain):
    """The issue's case: code that mutates the frame it got from a cache."""
    import pickle

    df = frame()
    brain["df"] = df

    def callback(data, threshold):
        data.loc[data["float"] > threshold, "category"] = "a"
        data.iloc[:, data.columns.get_loc("Int64")] = 0
        data.at[0, "datetime"] = pd.Timestamp("2000-01-01")
        data.fillna({"Float64": 0.5, "boolean": False}, inplace=True)
        return data.describe(include="all").shape

    from_pickle = callback(pickle.loads(pickle.dumps(df)), 50)
    assert callback(brain["df"], 50) == from_pickle
    pd.testing.assert_frame_equal(brain["df"], df)


def test_recalled_arrays_stay_read_only_views(brain):
    brain["arr"] = np.arange(100_000, dtype=np.float64)
    a, b = brain["arr"], brain["arr"]
    assert not a.flags.writeable and np.shares_memory(a, b)
    with pytest.raises(ValueError, match="read-only"):
        a[0] = 1.0
    assert brain["arr"][0] == 0.0

"""The example's frame and the aggregate its callbacks draw.

Shared by app.py, serverside.py, the tests (tests/dash) and
bench/bench_dash.py, so that they all compute the same figures."""
import numpy as np
import pandas as pd

CITIES = ["Amsterdam", "Berlin", "Cairo", "Delhi", "Edinburgh", "Florence",
          "Geneva", "Havana", "Istanbul", "Jakarta", "Kyoto", "Lima", "Madrid",
          "Nairobi", "Oslo", "Paris", "Quito", "Rome", "Seoul", "Toronto"]
SEGMENTS = ["consumer", "corporate", "home office", "small business"]
ALL = "All cities"


def build_frame(rows, seed=0):
    """ROWS rows of numbers, a city-name str column, datetimes (one year)
    and a categorical.  With pyarrow installed (pandas 3), the str column
    is Arrow-backed, so a recall is zero-copy (an object column would be
    rebuilt per recall: docs/python.md)."""
    rng = np.random.default_rng(seed)
    city = np.array(CITIES, dtype=object)[rng.integers(0, len(CITIES), rows)]
    try:
        import pyarrow  # noqa: F401
        city = pd.array(city, dtype="string[pyarrow]")
    except ImportError:
        pass
    return pd.DataFrame({
        "value": rng.normal(100.0, 15.0, rows),
        "count": rng.integers(0, 1000, rows),
        "city": city,
        "when": pd.Timestamp("2024-01-01")
        + pd.to_timedelta(rng.integers(0, 366 * 24 * 3600, rows), unit="s"),
        "segment": pd.Categorical.from_codes(rng.integers(0, len(SEGMENTS), rows),
                                             SEGMENTS),
    })


def summarize(df, city):
    """The table (one row per segment) and the graph (monthly mean value
    per segment) for CITY (ALL: every row), as plain JSON data."""
    sub = df if city in (None, ALL) else df[df["city"] == city]
    table = (sub.groupby("segment", observed=False)
             .agg(rows=("value", "size"), mean_value=("value", "mean"),
                  total_count=("count", "sum"))
             .reset_index())
    table["segment"] = table["segment"].astype(str)
    table["mean_value"] = table["mean_value"].round(3)
    table["rows"] = table["rows"].astype(int)
    table["total_count"] = table["total_count"].astype(int)
    month = sub["when"].dt.month
    monthly = sub.groupby([month, sub["segment"]], observed=False)["value"].mean()
    lines = {}
    for (m, seg), v in monthly.items():
        lines.setdefault(str(seg), {"x": [], "y": []})
        lines[seg]["x"].append(int(m))
        lines[seg]["y"].append(round(float(v), 3))
    return {"city": city or ALL, "rows": int(len(sub)),
            "table": table.to_dict("records"), "lines": lines}


def checksum(df):
    """Reads every column of DF whole (every page of the frame is touched)
    without making a temporary the size of a column, and returns figures
    two processes can compare."""
    when = df["when"].to_numpy()            # a view of the datetime64 data
    codes = df["segment"].array.codes       # .cat.codes would be a copy
    out = {
        "rows": int(len(df)),
        "value_sum": round(float(df["value"].to_numpy().sum()), 6),
        "count_sum": int(df["count"].to_numpy().sum()),
        "when_sum": int(when.view(np.int64).sum()),
        "segment_codes_sum": int(codes.sum(dtype=np.int64)),
    }
    city = df["city"].array
    if hasattr(city, "__arrow_array__"):    # Arrow strings: read the buffers
        chars = 0
        for chunk in city.__arrow_array__().chunks:
            wide = str(chunk.type) in ("large_string", "large_utf8")
            offsets = np.frombuffer(chunk.buffers()[1], dtype=np.int64 if wide else np.int32)
            data = np.frombuffer(chunk.buffers()[2], dtype=np.uint8)
            lo, hi = offsets[chunk.offset], offsets[chunk.offset + len(chunk)]
            chars += int(data[lo:hi].sum(dtype=np.uint64))
        out["city_bytes_sum"] = chars
    else:
        out["city_bytes_sum"] = int(sum(sum(s.encode()) for s in city))
    return out

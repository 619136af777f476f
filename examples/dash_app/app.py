"""A Dash app whose gunicorn workers share one frame through brain-plasma.

    gunicorn -w 4 -b 127.0.0.1:8050 app:server            (from this folder)
    gunicorn -w 4 --preload -b 127.0.0.1:8050 app:server

or `make demo-dash` from the repository root.  "Build the frame" makes a
frame of BRAIN_DASH_ROWS rows (5 million by default) and learns it; the
dropdown filters it and draws a graph and a table in whichever worker
serves the callback, which recalls the frame zero-copy.  Aggregates are
memoized with Flask-Caching in the same store (BrainCache), so a worker
reuses what another computed.  Each output names the worker (pid) that
made it.

Settings (environment): BRAIN_DASH_STORE (store name, "dash-demo"),
BRAIN_DASH_STORE_SIZE ("2GB": room for the frame twice while it is
replaced, plus the cache), BRAIN_DASH_ROWS.

The /api/ routes give the same figures as JSON (the tests use them).
"""
import os
import sys
import time

import flask
from dash import Dash, Input, Output, State, dash_table, dcc, html
from flask_caching import Cache

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from frame import ALL, CITIES, build_frame, checksum, summarize  # noqa: E402

from brain_plasma import Brain  # noqa: E402

STORE = os.environ.get("BRAIN_DASH_STORE", "dash-demo")
STORE_SIZE = os.environ.get("BRAIN_DASH_STORE_SIZE", "2GB")
ROWS = int(os.environ.get("BRAIN_DASH_ROWS", "5000000"))

# one handle per process; with --preload it is opened in the master and
# inherited by every worker
brain = Brain(STORE, size=STORE_SIZE, namespace="dash_app")

server = flask.Flask(__name__)
server.config.update(
    CACHE_TYPE="brain_plasma.contrib.flask_caching.BrainCache",
    CACHE_BRAIN_PATH=STORE,
    CACHE_DEFAULT_TIMEOUT=3600,
    CACHE_KEY_PREFIX="dash_app_",
)
cache = Cache(server)


def learn_frame(rows):
    t = time.perf_counter()
    df = build_frame(rows)
    built = time.perf_counter() - t
    t = time.perf_counter()
    version = brain.learn(df, "frame", description="%d rows" % rows)
    return {"pid": os.getpid(), "version": version, "rows": rows,
            "build_s": round(built, 3), "learn_s": round(time.perf_counter() - t, 3),
            "mb": round(brain.info("frame")["size"] / 1e6, 1)}


def recall_frame():
    """(frame, version, milliseconds): zero-copy, whatever the worker."""
    t = time.perf_counter()
    df = brain.recall("frame")
    ms = (time.perf_counter() - t) * 1e3
    return df, brain.version("frame"), ms


@cache.memoize()
def summary(city, version):
    """The aggregate of CITY in frame VERSION, computed by one worker and
    memoized in the store for all of them."""
    t = time.perf_counter()
    df, _, _ = recall_frame()
    out = summarize(df, city)
    out["version"] = version
    out["computed_by"] = os.getpid()
    out["computed_ms"] = round((time.perf_counter() - t) * 1e3, 1)
    return out


# ---- the Dash app -------------------------------------------------------------

app = Dash(__name__, server=server, title="brain-plasma + Dash")
app.layout = html.Div(style={"fontFamily": "sans-serif", "margin": "1em 2em"}, children=[
    html.H2("One frame, four gunicorn workers, zero copies"),
    html.Div([
        html.Button("Build the frame", id="build", n_clicks=0),
        html.Span(id="status", style={"marginLeft": "1em"}),
    ]),
    html.Div(style={"width": "320px", "margin": "1em 0"}, children=[
        dcc.Dropdown(id="city", options=[ALL] + CITIES, value=ALL, clearable=False),
    ]),
    html.Div(id="served-by", style={"color": "#555"}),
    dcc.Graph(id="graph"),
    dash_table.DataTable(
        id="table",
        columns=[{"name": c, "id": c} for c in ("segment", "rows", "mean_value", "total_count")],
        style_table={"width": "640px"}),
    dcc.Store(id="version"),
])


@app.callback(Output("status", "children"), Output("version", "data"),
              Input("build", "n_clicks"))
def build(n_clicks):
    if n_clicks:
        r = learn_frame(ROWS)
        return ("worker %d built %d rows in %.1f s and learned them (%.0f MB) in %.2f s"
                % (r["pid"], r["rows"], r["build_s"], r["mb"], r["learn_s"]), r["version"])
    if not brain.exists("frame"):
        return "no frame yet: build it (worker %d)" % os.getpid(), None
    info = brain.info("frame")
    return ("frame in store %s: %s, %.0f MB, version %d (worker %d)"
            % (brain.path, info["description"], info["size"] / 1e6, info["version"],
               os.getpid()), info["version"])


@app.callback(Output("graph", "figure"), Output("table", "data"),
              Output("served-by", "children"),
              Input("city", "value"), Input("version", "data"))
def update(city, version):
    if not version or not brain.exists("frame"):
        return {"data": [], "layout": {"title": {"text": "no frame yet"}}}, [], ""
    df, version, recall_ms = recall_frame()
    s = summary(city, version)
    fig = {
        "data": [{"type": "scatter", "mode": "lines+markers", "name": seg,
                  "x": line["x"], "y": line["y"]} for seg, line in s["lines"].items()],
        "layout": {"title": {"text": "%s: mean value by month (%d rows of %d)"
                             % (s["city"], s["rows"], len(df))},
                   "xaxis": {"title": {"text": "month of 2024"}},
                   "yaxis": {"title": {"text": "mean value"}},
                   "margin": {"t": 50}},
    }
    who = ("worker %d recalled the %d-row frame in %.2f ms; aggregate computed by "
           "worker %d in %.0f ms%s" % (os.getpid(), len(df), recall_ms, s["computed_by"],
                                       s["computed_ms"],
                                       "" if s["computed_by"] == os.getpid() else " (memoized)"))
    return fig, s["table"], who


# ---- JSON routes: the same figures for scripts and tests ---------------------

@server.route("/api/pid")
def api_pid():
    return {"pid": os.getpid()}


@server.route("/api/build", methods=["POST"])
def api_build():
    return learn_frame(int(flask.request.args.get("rows", ROWS)))


@server.route("/api/frame")
def api_frame():
    """Recalls a frame (name: "frame" by default) and reads it whole."""
    name = flask.request.args.get("name", "frame")
    t = time.perf_counter()
    df = brain.recall(name)
    ms = (time.perf_counter() - t) * 1e3
    out = checksum(df)
    out.update(pid=os.getpid(), version=brain.version(name), recall_ms=round(ms, 3))
    return out


@server.route("/api/summary")
def api_summary():
    city = flask.request.args.get("city", ALL)
    out = dict(summary(city, brain.version("frame")))
    out["pid"] = os.getpid()
    return out


if __name__ == "__main__":
    print("serve it with gunicorn: cd examples/dash_app && gunicorn -w 4 app:server")
    app.run(debug=False)

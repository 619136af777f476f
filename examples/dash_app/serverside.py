"""dash-extensions' Serverside outputs kept in brain-plasma.

    gunicorn -w 4 -b 127.0.0.1:8051 serverside:server     (from this folder)

"Load" builds a frame and returns it as ``Serverside(df)``: the frame goes
into the store (BrainBackend), the browser keeps only a short reference,
and whichever worker runs the next callback recalls the frame zero-copy.
Every click is a new entry; entries expire after BRAIN_DASH_SERVERSIDE_TTL
seconds (1 hour here; 24 hours by default) and the oldest are evicted when
the store is full.
"""
import os
import sys

from dash_extensions.enrich import (DashProxy, Input, Output, Serverside,
                                    ServersideOutputTransform, dash_table, dcc, html)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from frame import ALL, CITIES, build_frame, summarize  # noqa: E402

from brain_plasma.contrib.dash_extensions import BrainBackend  # noqa: E402

STORE = os.environ.get("BRAIN_DASH_STORE", "dash-demo")
ROWS = int(os.environ.get("BRAIN_DASH_ROWS", "1000000"))
backend = BrainBackend(STORE, size=os.environ.get("BRAIN_DASH_STORE_SIZE", "2GB"),
                       default_timeout=int(os.environ.get("BRAIN_DASH_SERVERSIDE_TTL", "3600")))

app = DashProxy(__name__, title="Serverside outputs in brain-plasma",
                transforms=[ServersideOutputTransform(backends=[backend])])
server = app.server
app.layout = html.Div(style={"fontFamily": "sans-serif", "margin": "1em 2em"}, children=[
    html.H2("Serverside outputs in brain-plasma"),
    html.Button("Load", id="load", n_clicks=0),
    html.Span(id="loaded", style={"marginLeft": "1em"}),
    html.Div(style={"width": "320px", "margin": "1em 0"}, children=[
        dcc.Dropdown(id="city", options=[ALL] + CITIES, value=ALL, clearable=False),
    ]),
    html.Div(id="served-by", style={"color": "#555"}),
    dash_table.DataTable(
        id="table",
        columns=[{"name": c, "id": c} for c in ("segment", "rows", "mean_value", "total_count")],
        style_table={"width": "640px"}),
    dcc.Store(id="frame"),
])


@app.callback(Output("frame", "data"), Output("loaded", "children"),
              Input("load", "n_clicks"), prevent_initial_call=True)
def load(n_clicks):
    df = build_frame(ROWS, seed=n_clicks)
    return Serverside(df), "worker %d built %d rows (seed %d), kept server-side" % (
        os.getpid(), len(df), n_clicks)


@app.callback(Output("table", "data"), Output("served-by", "children"),
              Input("frame", "data"), Input("city", "value"), prevent_initial_call=True)
def show(df, city):
    s = summarize(df, city)
    return s["table"], "worker %d recalled the %d-row frame: %s has %d rows" % (
        os.getpid(), len(df), s["city"], s["rows"])


@server.route("/api/pid")
def api_pid():
    return {"pid": os.getpid()}

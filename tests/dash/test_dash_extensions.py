"""brain_plasma.contrib.dash_extensions.BrainBackend as
ServersideOutputTransform uses it (the browser test drives it in an app)."""
import time

import numpy as np
import pandas as pd
from dash_extensions.enrich import Serverside, ServersideBackend, ServersideOutputTransform

from brain_plasma import Brain
from brain_plasma.contrib.dash_extensions import DEFAULT_TIMEOUT, BrainBackend
from conftest import STORE_DIR


def test_backend_interface(store_name):
    b = BrainBackend(store_name, size=16_000_000)
    assert isinstance(b, ServersideBackend)
    assert b.default_timeout == DEFAULT_TIMEOUT == 24 * 3600
    assert b.uid == "BrainBackend:%s/brain-%s:cache:dash_extensions" % (STORE_DIR, store_name)
    assert BrainBackend(store_name, key_prefix="other").uid != b.uid
    assert b.get(None) is None
    assert b.get("absent", ignore_expired=True) is None
    df = pd.DataFrame({"x": np.arange(10_000)})
    b.set("k", df)
    assert b.has("k")
    got = b.get("k", ignore_expired=True)
    pd.testing.assert_frame_equal(got, df)
    assert not got["x"].to_numpy().flags.writeable     # zero-copy
    info = Brain(store_name, namespace="cache:dash_extensions").info("k")
    assert 24 * 3600 - 60 < info["expires"] - time.time() <= 24 * 3600


def test_serverside_transform_round_trip(store_name):
    b = BrainBackend(store_name, default_timeout=0.5)
    t = ServersideOutputTransform(backends=[b])
    df = pd.DataFrame({"x": np.arange(1000.0)})
    ref = t._try_dump(Serverside(df))
    assert isinstance(ref, str) and len(ref) < 200       # the browser gets a key
    pd.testing.assert_frame_equal(t._try_load(ref), df)
    time.sleep(0.7)                                      # entries expire
    assert t._try_load(ref) is None

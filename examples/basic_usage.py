"""The README's "Basic Usage", run for real across two processes.

    python examples/basic_usage.py [rows]

One process learns a string, a list and a DataFrame of ROWS rows (default
3,000,000) into a store of its own; a second, separate process recalls them
and prints what it got and how long each recall took.  The store is
destroyed at the end.
"""
import os
import subprocess
import sys
import time

STORE = "demo-basic-usage-%d" % os.getpid()


def learner(store, rows):
    import numpy as np
    import pandas as pd

    from brain_plasma import Brain

    brain = Brain(path=store, size="1GB")
    this = "a text object"
    that = [1, 2, 3, 4]
    those = pd.DataFrame(
        {
            "this": np.arange(rows),
            "that": np.random.default_rng(0).random(rows),
            "city": pd.Categorical(np.array(["Madison", "Paris", "Oslo"])[np.arange(rows) % 3]),
            "when": pd.date_range("2024-01-01", periods=rows, freq="s"),
        }
    )
    t = time.perf_counter()
    brain["that"] = that  # recommended
    brain.learn(this, "this")  # underlying API
    brain.learn(those, "those")
    dt = time.perf_counter() - t
    print("[learner pid %d] learned 'this', 'that' and a %d-row DataFrame (%.0f MB) in %.1f ms"
          % (os.getpid(), rows, those.memory_usage().sum() / 1e6, dt * 1e3))


def recaller(store):
    import pandas  # noqa: F401  (an app has it imported; keep import time out of the timing)

    from brain_plasma import Brain, BrainNameNotExistError

    brain = Brain(path=store, start_process=False)

    def timed(label, fn):
        t = time.perf_counter()
        value = fn()
        dt = time.perf_counter() - t
        print("[recaller pid %d] %-28s %10.3f ms" % (os.getpid(), label, dt * 1e3))
        return value

    this = timed("brain['this']", lambda: brain["this"])
    print("    ->", repr(this))
    that = timed("brain.recall('that')", lambda: brain.recall("that"))
    print("    ->", that)
    those = timed("brain.recall('those')", lambda: brain.recall("those"))
    those = timed("brain.recall('those') again", lambda: brain.recall("those"))
    print("    ->", type(those).__name__, those.shape, "zero-copy, read-only:",
          not those["this"].to_numpy().flags.writeable)
    print(those.head(3).to_string())
    brain.forget("this")
    try:
        brain.recall("this")
    except BrainNameNotExistError as exc:
        print("    after forget('this'):", type(exc).__name__ + ":", exc)
    print("    brain.names() ->", brain.names())


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--learn":
        learner(sys.argv[2], int(sys.argv[3]))
        return
    if len(sys.argv) > 2 and sys.argv[1] == "--recall":
        recaller(sys.argv[2])
        return
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 3_000_000
    me = os.path.abspath(__file__)
    try:
        subprocess.run([sys.executable, me, "--learn", STORE, str(rows)], check=True)
        subprocess.run([sys.executable, me, "--recall", STORE], check=True)
    finally:
        from brain_plasma import _core

        try:
            _core.destroy(STORE)
        except Exception:
            pass


if __name__ == "__main__":
    main()

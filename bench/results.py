"""What a run of bench/run.py produces: the workloads and their figures,
the rows (one per workload, figure and peer: a measurement or why there is
none), and how a figure is written."""

WORKLOADS = {
    1: "a 10M-row, 4-column frame",
    2: "a frame as Dash apps hold it (str, category, datetime, numbers)",
    3: "a 1 GiB float64 ndarray",
    4: "small values: p50 / p99 latency",
    5: "one million names",
    6: "four workers recalling the same frame: memory added per worker",
    7: "read-heavy mix from two processes (90% get, 10% set)",
}

FIG = {
    1: ["store", "recall (another process)", "recall + df.sum() (another process)"],
    2: ["store", "recall (another process)"],
    3: ["store", "recall (another process)"],
    4: ["%s %s %s%s" % (k, op, p, procs) for k in ("int", "str", "dict")
        for procs in ("", ", 2 procs") for op in ("get", "set") for p in ("p50", "p99")],
    5: ["insert (per name)", "random lookup", "list all"],
    6: ["USS added per worker", "PSS added per worker"],
    7: ["ops/s, 2 processes"],
}
UNIT = {6: "bytes", 7: "ops/s"}


class Results:
    def __init__(self):
        self.rows = []      # dicts: workload, figure, peer, unit, median, min, max, note / why

    def add(self, w, fig, peer, s, unit, note=None):
        self.rows.append({"workload": w, "figure": fig, "peer": peer, "unit": unit,
                          "median": s["median"], "min": s["min"], "max": s["max"],
                          "n": len(s.get("samples", [])), "note": note})

    def miss(self, w, fig, peer, why):
        self.rows.append({"workload": w, "figure": fig, "peer": peer, "why": why})

    def get(self, w, fig, peer):
        for r in self.rows:
            if r["workload"] == w and r["figure"] == fig and r["peer"] == peer and "median" in r:
                return r
        return None


def summ(xs):
    xs = sorted(xs)
    n = len(xs)
    med = xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2
    return {"median": med, "min": xs[0], "max": xs[-1], "samples": xs}


def pct(lat, q):
    s = sorted(lat)
    return s[min(len(s) - 1, int(q * len(s)))]



def fmt(x, unit):
    if x is None:
        return "-"
    if unit == "bytes":
        return "%.1f MB" % (x / 1e6)
    if unit == "ops/s":
        if x >= 1e6:
            return "%.2f M/s" % (x / 1e6)
        return "%.0f k/s" % (x / 1e3)
    if x >= 1:
        return "%.2f s" % x
    if x >= 1e-3:
        return "%.1f ms" % (x * 1e3)
    if x >= 1e-6:
        return "%.1f µs" % (x * 1e6)
    return "%.0f ns" % (x * 1e9)


"""The report of bench/run.py: the tables (summary, one per workload,
goals), the goals of DESIGN.md "Performance goals" with met / not met, the
plot, and the files they are written to."""
import json
import os
import platform

from peers import LABEL, PEERS, log
from results import FIG, WORKLOADS, Results, fmt


def ratio(r, b):
    """How many times brain is faster (time: peer / brain; ops/s: brain /
    peer); None for memory or no brain figure."""
    if b is None or r["unit"] == "bytes":
        return None
    if r["unit"] == "ops/s":
        return b["median"] / r["median"] if r["median"] else None
    return r["median"] / b["median"] if b["median"] else None


def fmt_ratio(x):
    if x is None:
        return "-"
    if x >= 100:
        return "%.0fx" % x
    if x >= 10:
        return "%.1fx" % x
    return "%.2fx" % x


def peer_rows(R, w, f, p):
    return [r for r in R.rows if r["workload"] == w and r["figure"] == f and r["peer"] == p]


def same_why(R, w, p):
    """The reason when every figure of workload W of peer P is missing for
    one reason, else None."""
    whys = {r.get("why") for r in R.rows if r["workload"] == w and r["peer"] == p}
    return whys.pop() if len(whys) == 1 and None not in whys else None


def workload_table(R, w, peers):
    lines = ["### Workload %d: %s" % (w, WORKLOADS[w]), ""]
    skipped = [(p, same_why(R, w, p)) for p in peers if same_why(R, w, p)]
    shown = [p for p in peers if not same_why(R, w, p)]
    if w == 4:
        # one row per value and peer: the medians of the batches' percentiles
        cols = ["%s %s%s" % (op, q, procs) for procs in ("", ", 2 procs")
                for op in ("get", "set") for q in ("p50", "p99")]
        lines += ["| value | peer | " + " | ".join(cols) + " |",
                  "|---|---|" + "---:|" * len(cols)]
        for kind in ("int", "str", "dict"):
            for p in shown:
                cells = []
                for c in cols:
                    f = kind + " " + c
                    rows = peer_rows(R, w, f, p)
                    if not rows or "why" in rows[0]:
                        cells.append(rows[0]["why"] if rows else "")
                        continue
                    r = rows[0]
                    x = ratio(r, R.get(w, f, "brain"))
                    cells.append(fmt(r["median"], "s") + (
                        "" if p == "brain" or x is None else " (%s)" % fmt_ratio(x)))
                lines.append("| %s | %s | %s |" % (kind, LABEL[p], " | ".join(cells)))
        lines += ["", "Each cell: the median over batches of that percentile of single "
                  "operations (timer included); in brackets, how many times brain-plasma "
                  "is faster. Min and max are in results.json."]
    else:
        lines += ["| figure | peer | median | min | max | brain faster by | note |",
                  "|---|---|---:|---:|---:|---:|---|"]
        for f in FIG[w]:
            b = R.get(w, f, "brain")
            for p in shown:
                rows = peer_rows(R, w, f, p)
                if not rows:
                    continue
                r = rows[0]
                if "why" in r:
                    lines.append("| %s | %s | - | | | | %s |" % (f, LABEL[p], r["why"]))
                    continue
                u = r["unit"]
                lines.append("| %s | %s | %s | %s | %s | %s | %s |" % (
                    f, LABEL[p], fmt(r["median"], u), fmt(r["min"], u), fmt(r["max"], u),
                    "" if p == "brain" else fmt_ratio(ratio(r, b)), r["note"] or ""))
    if skipped:
        lines += [""] + ["Not measured: %s: %s." % (LABEL[p], why) for p, why in skipped]
    return "\n".join(lines)


def goals(R, S, quick):
    G = []

    def goal(text, measured, target, met):
        G.append({"goal": text, "measured": measured, "target": target, "met": met})

    def med(w, f, p):
        r = R.get(w, f, p)
        return r["median"] if r else None
    rc = med(1, "recall (another process)", "brain")
    if rc is not None:
        goal("frame recall (another process) under 0.25 ms", fmt(rc, "s"), "< 0.25 ms",
             rc < 0.25e-3)
        rp = med(1, "recall (another process)", "pickle")
        goal("frame recall vs `read_pickle` (pickle file in /dev/shm)",
             "%s faster" % fmt_ratio(rp / rc) if rp else "n/a", ">= 500x",
             rp / rc >= 500 if rp else None)
        lim = med(1, "recall (another process)", "limit")
        goal("frame recall vs bare `pickle.loads` over views (the limit)",
             "%.2fx its time" % (rc / lim) if lim else "n/a", "<= 3x",
             rc / lim <= 3 if lim else None)
    ls = med(1, "store", "brain")
    lm = med(1, "store", "limit")
    if ls is not None and lm:
        goal("frame learn vs memcpy (the limit)", "%.2fx its time" % (ls / lm), "<= 2x",
             ls / lm <= 2)
    d = med(2, "recall (another process)", "brain")
    dp = med(2, "recall (another process)", "pickle")
    if d is not None and dp:
        same = R.get(2, "recall (another process)", "brain")["note"]
        goal("Dash frame recall vs `read_pickle`, unchanged", "%s faster; %s" % (
            fmt_ratio(dp / d), "unchanged" if "unchanged" in same else "CHANGED"),
            ">= 20x", dp / d >= 20 and "unchanged" in same)
    for kind in ("int", "str", "dict"):
        f = "%s get p50" % kind
        b = med(4, f, "brain")
        if b is None:
            continue
        for peer, text, target, test in (
                ("lmdb", "as fast as py-lmdb", ">= 1x", lambda x: x >= 1),
                ("redis", "faster than Redis", ">= 100x", lambda x: x >= 100)):
            p = med(4, f, peer)
            goal("%s recall p50: %s" % (kind, text),
                 "%s" % fmt_ratio(p / b) if p else "n/a", target, test(p / b) if p else None)
        lim = med(4, f, "limit")
        goal("%s recall p50 within 3x of dict + `pickle.loads`" % kind,
             "%.2fx its time" % (b / lim) if lim else "n/a", "<= 3x",
             b / lim <= 3 if lim else None)
    r = R.get(5, "list all", "brain")
    if r is not None:
        goal("one million names: list all under a second", "%s (%s)" % (
            fmt(r["median"], "s"), r["note"]), "< 1 s", r["median"] < 1)
    r = R.get(6, "USS added per worker", "brain")
    if r is not None:
        fb = S["rows"] * 22
        goal("workers reading the same frame add no private memory",
             "%s (max) per worker, frame %.0f MB" % (fmt(r["max"], "bytes"), fb / 1e6),
             "< 1 MB + 1% of the frame", r["max"] < 1e6 + 0.01 * fb)
    # ahead of every peer that does the same job (the limits excluded)
    for w in sorted({r["workload"] for r in R.rows}):
        behind = []
        total = 0
        for f in FIG[w]:
            b = R.get(w, f, "brain")
            if b is None:
                continue
            for r in R.rows:
                if (r["workload"] != w or r["figure"] != f or r["peer"] in ("brain", "limit")
                        or "median" not in r):
                    continue
                if r.get("names", 0) != b.get("names", 0):
                    continue        # fewer names: not the same job
                if "changed" in (r.get("note") or "") and "unchanged" not in r["note"]:
                    continue        # gave back another frame: not the same job
                if f.startswith("PSS"):
                    continue        # shared pages split among readers: not a cost
                total += 1
                x = ratio(r, b)
                if r["unit"] == "bytes":       # behind: 1 MB + 1% of the frame more
                    x = None if r["median"] >= b["median"] - 1e6 - 0.01 * S["rows"] * 22 else 0
                if x is not None and x < 1:
                    behind.append("%s: %s (%s)" % (f, LABEL[r["peer"]], fmt_ratio(x)))
        if total:
            goal("workload %d: ahead of every peer" % w,
                 "behind on %d of %d%s" % (len(behind), total,
                                           (": " + "; ".join(behind[:6])) if behind else ""),
                 "behind on 0", not behind)
    return G


SUMMARY = [
    (1, "store", "10M-row frame: store"),
    (1, "recall (another process)", "10M-row frame: recall, another process"),
    (1, "recall + df.sum() (another process)", "10M-row frame: recall + `df.sum()`"),
    (2, "recall (another process)", "1M-row Dash frame: recall"),
    (3, "store", "1 GiB ndarray: store"),
    (3, "recall (another process)", "1 GiB ndarray: recall"),
    (4, "str get p50", "100-char str: get p50"),
    (4, "str set p50", "100-char str: set p50"),
    (4, "dict get p50", "10 KB dict: get p50"),
    (4, "str get p99, 2 procs", "str get p99, 2 processes"),
    (5, "insert (per name)", "1M names: insert, per name"),
    (5, "random lookup", "1M names: random lookup"),
    (5, "list all", "1M names: list all"),
    (6, "USS added per worker", "4 workers on one frame: private memory each"),
    (7, "ops/s, 2 processes", "90/10 get/set mix, 2 processes: ops/s"),
]
SHORT = {"brain": "brain-plasma", "plasma": "0.3.3 (Plasma)", "pickle": "pickle file",
         "shm": "shared_memory", "redis": "Redis", "lmdb": "LMDB", "diskcache": "diskcache",
         "ray": "Ray", "ultradict": "UltraDict", "smdict": "shared-memory-dict",
         "parquet": "Parquet", "feather": "Feather", "limit": "limit"}


def summary_table(R, peers):
    """One row per key figure, one column per peer: medians ("-": not
    measured, the tables below say why; a name count in brackets where a
    peer got through fewer names)."""
    peers = [p for p in peers if any("median" in r for r in R.rows if r["peer"] == p)]
    lines = ["| figure | " + " | ".join(SHORT[p] for p in peers) + " |",
             "|---|" + "---:|" * len(peers)]
    for w, f, label in SUMMARY:
        if not any(r["workload"] == w for r in R.rows):
            continue
        cells = []
        for p in peers:
            r = R.get(w, f, p)
            if r is None:
                cells.append("-")
                continue
            c = fmt(r["median"], r["unit"])
            b = R.get(w, f, "brain")
            if w == 5 and p != "brain" and r.get("names", b and b.get("names")) != (
                    b and b.get("names")):
                n = r["names"]
                c += " (%s names)" % ("%dk" % (n // 1000) if n >= 10000 else "%d" % n)
            elif w == 5 and f == "insert (per name)" and "inserted" in (r["note"] or ""):
                c += " (%s)" % r["note"].split(" names")[0].replace(" of ", "/")
            cells.append("**%s**" % c if p == "brain" else c)
        lines.append("| %s | %s |" % (label, " | ".join(cells)))
    return "\n".join(lines)


def goals_table(G):
    lines = ["### Goals", "", "| goal | measured | target | met |", "|---|---|---|:---:|"]
    for g in G:
        lines.append("| %s | %s | %s | %s |" % (g["goal"], g["measured"], g["target"],
                                               {True: "yes", False: "**no**", None: "n/a"}[g["met"]]))
    return "\n".join(lines)


PLOTS = [
    (1, "recall (another process)", "W1 frame recall"),
    (1, "store", "W1 frame store"),
    (2, "recall (another process)", "W2 Dash frame recall"),
    (3, "recall (another process)", "W3 1 GiB ndarray recall"),
    (4, "str get p50", "W4 str get p50"),
    (4, "str set p50", "W4 str set p50"),
    (5, "insert (per name)", "W5 insert, per name"),
    (5, "list all", "W5 list all names (slow peers got through fewer)"),
    (6, "USS added per worker", "W6 private memory per worker (MB)"),
    (7, "ops/s, 2 processes", "W7 mixed ops/s, 2 procs"),
]


def plot(R, path, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    panels = [p for p in PLOTS if any(r["workload"] == p[0] and "median" in r for r in R.rows)]
    cols = 2
    nrow = (len(panels) + 1) // 2
    fig, axes = plt.subplots(nrow, cols, figsize=(13, 3.1 * nrow), squeeze=False)
    for ax, (w, f, t) in zip(axes.flat, panels):
        rows = [r for p, _ in PEERS for r in R.rows
                if r["workload"] == w and r["figure"] == f and r["peer"] == p]
        labels, vals, colors, errs = [], [], [], []
        for r in rows:
            labels.append(LABEL[r["peer"]].split(":")[0].split(" (")[0])
            if "median" in r:
                scale = 1e-6 if r["unit"] == "bytes" else 1
                v = max(r["median"] * scale, 1e-9 if r["unit"] == "s" else 0.01)
                vals.append(v)
                errs.append(None)
            else:
                vals.append(0)
                errs.append(r["why"])
            colors.append("#d62728" if r["peer"] == "brain" else
                          "#7f7f7f" if r["peer"] == "limit" else "#1f77b4")
        y = range(len(rows))
        ax.barh(list(y), vals, color=colors)
        ax.set_yticks(list(y))
        ax.set_yticklabels(labels, fontsize=7)
        ax.invert_yaxis()
        ax.set_xscale("log")
        unit = {"s": "seconds (lower is better)", "bytes": "MB (lower is better)",
                "ops/s": "ops/s (higher is better)"}[rows[0].get("unit") or
                                                      next((r["unit"] for r in rows if "unit" in r), "s")]
        ax.set_title(t, fontsize=9)
        ax.set_xlabel(unit, fontsize=7)
        ax.tick_params(axis="x", labelsize=7)
        pos = [v for v in vals if v > 0]
        lo = min(pos) if pos else 1
        for i, e in enumerate(errs):
            if e is not None:
                ax.text(lo, i, " " + e[:50], va="center", fontsize=6, color="#555")
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def machine_line():
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import numpy
    import pandas
    import brain_plasma
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return ("%s, %d cores, %.0f GiB, %s %s, Python %s, numpy %s, pandas %s, brain_plasma %s, "
            "load %.2f" % (cpu, os.cpu_count(), mem, platform.system(), platform.release(),
                           platform.python_version(), numpy.__version__, pandas.__version__,
                           getattr(brain_plasma, "__version__", "?"), os.getloadavg()[0]))



def report(out, args):
    """Prints the tables and writes the JSON, markdown and plot of OUT."""
    R = Results()
    R.rows = out["rows"]
    S = out["sizes"]
    only = sorted(int(w) for w in out["workloads"])
    order = [p for p, _ in PEERS]
    machine = out["machine"]
    G = out["goals"] = goals(R, S, out["quick"])
    parts = ["Machine: " + machine, "",
             "Sizes: frame %d rows (%.0f MB), Dash frame %d rows, ndarray %d MB, %d names; "
             "median of up to %d repeats. %s" % (
                 S["rows"], S["rows"] * 22 / 1e6, S["dash_rows"], S["array_bytes"] >> 20,
                 S["names"], S["repeat"],
                 "--quick: small sizes, a smoke run; the goals are stated for the full sizes."
                 if out["quick"] else ""),
             "", "Peers: " + "; ".join("%s: %s" % (LABEL[k], v)
                                       for k, v in out["peer_notes"].items()), ""]
    parts += ["### Summary (medians; the tables below have min, max, ratios and notes)", "",
              summary_table(R, order), ""]
    for w in only:
        parts += [workload_table(R, w, order), ""]
    parts += [goals_table(G), "", "(run took %.0f s)" % out["seconds"]]
    text = "\n".join(parts)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    if args.md:
        with open(args.md, "w") as f:
            f.write(text + "\n")
    if args.png:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            log("no plot: matplotlib is not installed (pip install -r requirements-bench.txt)")
            args.png = None
    if args.png:
        plot(R, args.png, "brain-plasma and its peers%s — %s" % (
            " (--quick)" if out["quick"] else "", machine))
    return 0

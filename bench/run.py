#!/usr/bin/env python3
"""brain-plasma against its peers, side by side, in one run (issue #6).

    .venv/bin/python bench/run.py [--quick] [--only 1,4] [--peers brain,lmdb]
                                  [--json FILE] [--png FILE] [--md FILE]

Runs the seven workloads against every peer and prints a markdown table per
workload (median of repeats, min, max, and the ratio to brain-plasma), then
the goals of DESIGN.md "Performance goals" with the ratio and met / not met.
Writes bench/results.json, bench/results.md and the plot bench/results.png
(log scale).  A peer that cannot be installed or started keeps its rows,
saying why.  Nothing is asserted: the exit status is 0 unless the benchmark
itself failed.

Each peer's operations run in worker processes (bench/worker.py): one
stores, another recalls (time until the object is usable in a process that
did not store it), more for the workloads with several processes.  The
original brain-plasma 0.3.3 runs under .venv-plasma/bin/python with its own
plasma_store; Redis and Ray are started on loopback and stopped at the end.
Everything the run creates is named with its process id and removed at the
end, also on error and on SIGINT/SIGTERM/SIGHUP.

The parts: bench/peers.py (the peers, their worker processes and servers,
the cleanup), bench/workloads.py (the seven workloads and their sizes),
bench/results.py (the rows a run produces), bench/report.py (the tables,
goals and plot).  This file parses the options and runs every peer.
"""
import argparse
import json
import os
import shutil
import signal
import sys
import time

import peers
from peers import LABEL, PEERS, PID, RUNDIR, SHM, STORE, WorkerError, log
from report import machine_line, report
from results import FIG, WORKLOADS, Results
from workloads import Bench, sizes


def _on_signal(signum, frame):
    raise SystemExit(128 + signum)


def parse_args(argv):
    """The options; --only and --peers checked (the error exits with 2).
    Returns (args, workloads, peers chosen); brain-plasma is always chosen."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="every workload at small sizes (under a minute on 2 cores); Ray skipped")
    ap.add_argument("--only", help="workloads to run, e.g. 1,4 (default all)")
    ap.add_argument("--peers", help="peers to run, e.g. brain,lmdb,limit (default all): "
                    + ", ".join(p for p, _ in PEERS))
    ap.add_argument("--json", default=os.path.join(peers.HERE, "results.json"),
                    help="results as JSON")
    ap.add_argument("--md", default=os.path.join(peers.HERE, "results.md"),
                    help="the tables as markdown")
    ap.add_argument("--png", default=os.path.join(peers.HERE, "results.png"),
                    help="the plot ('' for none)")
    ap.add_argument("--report", metavar="JSON",
                    help="run nothing: print the tables and write --md, --png (and --json) "
                    "again from the results JSON of an earlier run")
    args = ap.parse_args(argv)
    if args.report:
        return args, None, None
    only = sorted(int(x) for x in args.only.split(",")) if args.only else sorted(WORKLOADS)
    bad = [w for w in only if w not in WORKLOADS]
    if bad:
        ap.error("--only: no workload %s; they are 1 to 7" % bad)
    args.only_set = set(only)
    chosen = [p for p, _ in PEERS]
    if args.peers:
        chosen = [x.strip() for x in args.peers.split(",") if x.strip()]
        bad = [p for p in chosen if p not in LABEL]
        if bad:
            ap.error("--peers: unknown %s; known: %s" % (bad, ", ".join(LABEL)))
        if "brain" not in chosen:
            chosen.insert(0, "brain")
    return args, only, chosen


def main(argv=None):
    args, only, chosen = parse_args(argv)
    if args.report:
        # --json may name the same file: it is rewritten with the goals recomputed
        with open(args.report) as f:
            return report(json.load(f), args)
    S = sizes(args.quick)
    need = S["capacity"] * 2 + (512 << 20)
    free = shutil.disk_usage(SHM).free
    if free < need:
        sys.exit("bench/run.py: needs about %d MB free in %s, has %d MB"
                 % (need >> 20, SHM, free >> 20))
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)
    R = Results()
    notes = {}
    t_start = time.perf_counter()
    run_all(args, S, R, notes, only, chosen)
    seconds = time.perf_counter() - t_start
    out = {"machine": machine_line(), "quick": args.quick, "pid": PID, "sizes": S,
           "seconds": seconds, "workloads": {str(w): WORKLOADS[w] for w in only},
           "peers": {p: LABEL[p] for p, _ in PEERS}, "peer_notes": notes, "rows": R.rows}
    return report(out, args)


def unavailable_peers(args, chosen):
    """{peer: why it is not run} for the peers left out of this run."""
    unavailable = {}
    for p, _ in PEERS:
        if p not in chosen:
            unavailable[p] = "not selected (--peers)"
    if "ray" in chosen and args.quick and not args.peers:
        unavailable["ray"] = "skipped in --quick (starting Ray takes 10-60 s); run make bench"
    return unavailable


def progress_bar(steps):
    """A tqdm bar on a terminal, else None (a line per peer is logged)."""
    if sys.stderr.isatty():
        try:
            from tqdm import tqdm
            return tqdm(total=steps, unit="step", file=sys.stderr)
        except ImportError:
            return None
    return None


def miss_all(R, p, only, why):
    for w in only:
        for f in FIG[w]:
            R.miss(w, f, p, why)


def run_all(args, S, R, notes, only, chosen):
    """Every peer in turn, each with its server started just before it and
    stopped right after; everything removed at the end."""
    tq = None
    try:
        os.makedirs(RUNDIR)
        peers._cleanup.append(lambda: shutil.rmtree(RUNDIR, ignore_errors=True))
        peers._cleanup.append(lambda: os.path.exists(STORE) and os.unlink(STORE))
        peers._cleanup.append(peers.unlink_segments)
        base = {"id": PID, "store": STORE, "capacity": S["capacity"], "ud_buffer": S["ud_buffer"]}
        unavailable = unavailable_peers(args, chosen)
        starters = {
            "redis": lambda: peers.start_redis(S["capacity"]),
            "plasma": lambda: peers.start_plasma(S["capacity"] + (256 << 20)),
            "ray": lambda: peers.start_ray(S["capacity"], S["ray_timeout"]),
        }
        run = [p for p, _ in PEERS if p not in unavailable]
        tq = progress_bar(len(run) * len(only))
        bench = Bench(args, S, R)
        for p, _ in PEERS:
            if p in unavailable:
                miss_all(R, p, only, unavailable[p])
                continue
            run_peer(bench, p, dict(base, dir=os.path.join(RUNDIR, p)), only,
                     starters.get(p), notes, tq)
    finally:
        if tq is not None:
            tq.close()
        peers.cleanup()


def run_peer(bench, p, cfg, only, starter, notes, tq):
    """One peer: its server (STARTER, if it has one), its workloads, then
    its files, segments, workers and server removed."""
    R = bench.R
    if tq is not None:
        tq.set_description(p)
    else:
        log("%s ..." % LABEL[p])
    mark = len(peers._cleanup)
    if starter is not None:
        log("starting the server of %s ..." % LABEL[p])
        extra, notes[p] = starter()
        if extra is None:
            miss_all(R, p, only, notes[p])
            if tq is not None:
                tq.update(len(only))
            return
        cfg.update(extra)
    os.makedirs(cfg["dir"], exist_ok=True)

    def progress(w):
        if tq is not None:
            tq.update(1)
    try:
        bench.run_peer(p, cfg, only, progress)
    except WorkerError as exc:
        have = {(r["workload"], r["figure"]) for r in R.rows if r["peer"] == p}
        for w in only:
            for f in FIG[w]:
                if (w, f) not in have:
                    R.miss(w, f, p, "cannot start: %s" % str(exc)[:200])
    shutil.rmtree(cfg["dir"], ignore_errors=True)
    if p == "brain" and os.path.exists(STORE):
        os.unlink(STORE)
    peers.unlink_segments()
    peers.cleanup_since(mark)           # this peer's servers and workers


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""kill -9 torture of a brain-plasma store (docs/RELIABILITY.md).

    python tests/torture/torture.py [--kills N] [--json PATH] ...

Starts Python workers (this file, `worker` mode, using brain_plasma) and C
workers (build/torture-worker, linked with build/libbrain.a).  Writers
learn, replace and forget the names of their own slot, with values of
random sizes (48 bytes to a few MB), each carrying a header (slot, key,
writer generation and sequence, length) and a CRC-32 of the rest; readers
and writers read every slot's names and hold some zero-copy views.  A
killer sends SIGKILL at random moments, many of them aimed: it waits until
the worker announces a phase (inside a learn, writing into a reservation,
inside a learn_many, inside a forget, holding views, attaching) and kills
it then.  Killed workers are restarted.

Each writer appends one 64-byte record to its slot's log before and after
each learn or forget, so the driver knows which operations returned.
Afterwards:

- `brain check STORE` exits 0;
- every name holds what the log allows: the value of its last learn that
  returned (unless a forget returned after it), or, where an operation was
  cut short by a kill, the old or the new value (never anything else); every
  value read back has a valid header and CRC;
- no name the workers did not write exists;
- the dead are reaped (no pins, one process attached);
- after forgetting everything, the store's used bytes equal the figure
  before the workers started, limbo is empty and `brain check` passes again.

Every wait has a timeout: a worker that stops making progress for
--stall-seconds, a killed worker that does not die, a stopped one that does
not exit, and `brain check` running too long all fail the run.
Exit status 0 when every check passed, 1 otherwise.
"""
import argparse
import json
import mmap
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

# ---- shared with worker.c ---------------------------------------------------
VMAGIC = 0x52545254
VHDR = struct.Struct("<IIIIQQIIQ")  # magic crc slot gen seq len key kind reserved
assert VHDR.size == 48
REC = struct.Struct("<IIIiIIQQQ16x")  # kind slot key rc gen crc seq size t_ns
assert REC.size == 64
CELL = 64  # phase cell: phase u32, pid u32, ops u64, reads u64, views u32, gen u32, bytes u64
PH_IDLE, PH_OPEN, PH_LEARN, PH_WRITE_RESERVED, PH_PUBLISH, PH_LEARN_MANY, \
    PH_FORGET, PH_RECALL, PH_CLOSING = range(9)
PH_SPAWNED = 255  # written by the driver before a worker starts
PHASE_NAMES = {PH_IDLE: "between operations", PH_OPEN: "attaching",
               PH_LEARN: "inside a learn", PH_WRITE_RESERVED: "writing into a reservation",
               PH_PUBLISH: "inside a publish", PH_LEARN_MANY: "inside a learn_many",
               PH_FORGET: "inside a forget", PH_RECALL: "inside a recall",
               PH_CLOSING: "closing", PH_SPAWNED: "starting (before attaching)"}
REC_BEGIN_LEARN, REC_END_LEARN, REC_BEGIN_FORGET, REC_END_FORGET = 1, 2, 3, 4
RC_OK, RC_FULL, RC_NOTFOUND, RC_ABORTED = 0, 1, 2, 3
KIND_BYTES, KIND_ARRAY, KIND_RESERVED, KIND_MANY = 1, 2, 3, 4


def slot_ns(slot):
    return "tort" if slot % 2 else "default"


def key_name(slot, key):
    return "s%d-k%d" % (slot, key)


def vcheck(buf, slot, key):
    """'' when BUF is a sound value of (slot, key), else why not; and the
    header tuple."""
    mv = memoryview(buf).cast("B")
    if len(mv) < VHDR.size:
        return "shorter than the 48-byte header", None
    h = VHDR.unpack_from(mv, 0)
    magic, crc, hslot, gen, seq, length, hkey, kind, _ = h
    if magic != VMAGIC:
        return "bad magic", h
    if length != len(mv):
        return "length in the header (%d) differs from the value's size (%d)" % (
            length, len(mv)), h
    if hslot != slot or hkey != key:
        return "the header names s%d-k%d (a value under the wrong name)" % (hslot, hkey), h
    if zlib.crc32(mv[8:]) != crc:
        return "CRC-32 mismatch (torn or overwritten bytes)", h
    return "", h


# ---- the Python worker ----------------------------------------------------------
def worker_main(argv):
    store, rundir, slot, gen, role, nslots, nkeys, maxsize, seed = argv
    slot, gen, nslots, nkeys, maxsize, seed = (int(x) for x in
                                               (slot, gen, nslots, nkeys, maxsize, seed))
    writer = role == "writer"
    rng = random.Random(seed)
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))

    fd = os.open(os.path.join(rundir, "phase"), os.O_RDWR)
    mm = mmap.mmap(fd, nslots * CELL)
    os.close(fd)
    off = slot * CELL
    counters = {"ops": 0, "reads": 0}

    def phase(p):
        struct.pack_into("<I", mm, off, p)

    def done_op():
        counters["ops"] += 1
        struct.pack_into("<Q", mm, off + 8, counters["ops"])

    def verified():
        counters["reads"] += 1
        struct.pack_into("<Q", mm, off + 16, counters["reads"])

    def die(msg):
        sys.stderr.write("Python worker slot %d gen %d pid %d: %s\n"
                         % (slot, gen, os.getpid(), msg))
        sys.stderr.flush()
        os._exit(3)

    logfd = (os.open(os.path.join(rundir, "log-%d" % slot),
                     os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600) if writer else -1)

    def log(kind, key, rc, seq, size, crc):
        os.write(logfd, REC.pack(kind, slot, key, rc, gen, crc, seq, size, time.time_ns()))

    import numpy as np
    from brain_plasma import Brain, BrainNameNotExistError, BrainStoreFullError
    phase(PH_OPEN)
    brains = {ns: Brain(path=store, start_process=False, namespace=ns)
              for ns in ("default", "tort")}
    phase(PH_IDLE)
    seqno = [gen << 32]

    def rand_size():
        r = rng.randrange(100)
        if r < 30:
            return VHDR.size + rng.randrange(200)
        if r < 70:
            return VHDR.size + rng.randrange(64 << 10)
        if r < 95:
            return (64 << 10) + rng.randrange(960 << 10)
        return (1 << 20) + rng.randrange(max(1, maxsize - (1 << 20)))

    def make_value(key, kind, size):
        seqno[0] += 1
        buf = bytearray(size)
        buf[VHDR.size:] = rng.randbytes(size - VHDR.size)
        VHDR.pack_into(buf, 0, VMAGIC, 0, slot, gen, seqno[0], size, key, kind, 0)
        crc = zlib.crc32(memoryview(buf)[8:])
        struct.pack_into("<I", buf, 4, crc)
        return buf, seqno[0], crc

    held = []  # (value, slot, key)
    hold_max = 8 if writer else 16

    def count_views():
        # arrays above 64 KiB are zero-copy views of the store (pinned)
        n = sum(1 for v, _, _ in held if isinstance(v, np.ndarray) and v.nbytes > 65536)
        struct.pack_into("<I", mm, off + 24, n)

    def check(value, s, k, what):
        why, _ = vcheck(value, s, k)
        if why:
            die("%s %s: %s" % (what, key_name(s, k), why))
        verified()

    def recall():
        s, k = rng.randrange(nslots), rng.randrange(nkeys)
        phase(PH_RECALL)
        try:
            v = brains[slot_ns(s)].recall(key_name(s, k))
        except BrainNameNotExistError:
            v = None
        phase(PH_IDLE)
        if v is not None:
            check(v, s, k, "recall")
            if rng.randrange(3):
                if len(held) >= hold_max:
                    held.pop(rng.randrange(len(held)))
                held.append((v, s, k))
            count_views()
        if held:  # a held value never changes, even if its name was replaced
            v, s, k = held[rng.randrange(len(held))]
            check(v, s, k, "held value of")

    def learn(kind):
        key = rng.randrange(nkeys)
        name = key_name(slot, key)
        buf, seq, crc = make_value(key, kind, rand_size())
        thing = bytes(buf) if kind == KIND_BYTES else np.frombuffer(buf, dtype=np.uint8)
        log(REC_BEGIN_LEARN, key, 0, seq, len(buf), crc)
        phase(PH_LEARN)
        try:
            brains[slot_ns(slot)].learn(thing, name)
            rc = RC_OK
        except BrainStoreFullError:
            rc = RC_FULL
        phase(PH_IDLE)
        log(REC_END_LEARN, key, rc, seq, len(buf), crc)

    def learn_many():
        n = min(nkeys, 2 + rng.randrange(7))  # copied under the writers' lock
        first = rng.randrange(nkeys)
        vals = []
        for i in range(n):
            key = (first + i) % nkeys
            buf, seq, crc = make_value(key, KIND_MANY, VHDR.size + rng.randrange(60 << 10))
            vals.append((key, bytes(buf), seq, crc))
        for key, buf, seq, crc in vals:
            log(REC_BEGIN_LEARN, key, 0, seq, len(buf), crc)
        phase(PH_LEARN_MANY)
        try:
            brains[slot_ns(slot)].learn_many({key_name(slot, k): b for k, b, _, _ in vals})
            rc = RC_OK
        except BrainStoreFullError:
            rc = RC_FULL
        phase(PH_IDLE)
        for key, buf, seq, crc in vals:
            log(REC_END_LEARN, key, rc, seq, len(buf), crc)

    def forget():
        key = rng.randrange(nkeys)
        log(REC_BEGIN_FORGET, key, 0, 0, 0, 0)
        phase(PH_FORGET)
        try:
            brains[slot_ns(slot)].forget(key_name(slot, key))
            rc = RC_OK
        except BrainNameNotExistError:
            rc = RC_NOTFOUND
        phase(PH_IDLE)
        log(REC_END_FORGET, key, rc, 0, 0, 0)

    try:
        while not stop:
            op = rng.randrange(100)
            if writer and op < 30:
                learn(KIND_BYTES)
            elif writer and op < 45:
                learn(KIND_ARRAY)
            elif writer and op < 53:
                learn_many()
            elif writer and op < 65:
                forget()
            else:
                recall()
            done_op()
    except Exception as exc:  # anything unexpected is a failure, with its reason
        import traceback
        die("%s: %s\n%s" % (type(exc).__name__, exc, traceback.format_exc()))
    phase(PH_CLOSING)
    held.clear()
    count_views()
    for b in brains.values():
        b.sleep()
    return 0


# ---- the driver -------------------------------------------------------------------
class Failure(Exception):
    pass


STOP_EARLY = []  # SIGUSR1: stop killing now, then check everything as usual


class Slot:
    def __init__(self, idx, lang, role):
        self.idx, self.lang, self.role = idx, lang, role
        self.gen = -1
        self.proc = None
        self.last_ops = 0
        self.last_change = 0.0
        self.errpath = None

    @property
    def label(self):
        return "slot %d (%s %s, gen %d)" % (self.idx, self.lang, self.role, self.gen)


class Driver:
    def __init__(self, args):
        self.a = args
        self.rng = random.Random(args.seed)
        self.rundir = tempfile.mkdtemp(prefix="brain-torture-")
        # workers start from private copies, so rebuilding or editing the
        # harness during a long run does not change the workers under it
        self.worker_c = os.path.join(self.rundir, "torture-worker")
        self.worker_py = os.path.join(self.rundir, "torture_worker.py")
        shutil.copy2(args.worker, self.worker_c)
        shutil.copy2(os.path.abspath(__file__), self.worker_py)
        from brain_plasma import _core  # the directory of bare names: /dev/shm, $TMPDIR on macOS
        self.store = _core.resolve("torture-%d-%d" % (os.getpid(), self.rng.randrange(1 << 30)))
        kinds = ([("py", "writer")] * args.py_writers + [("c", "writer")] * args.c_writers +
                 [("py", "reader")] * args.py_readers + [("c", "reader")] * args.c_readers)
        # interleave so both languages get odd and even slots (namespaces)
        order = sorted(range(len(kinds)), key=lambda i: (i % 2, i))
        self.slots = [Slot(i, *kinds[j]) for i, j in enumerate(order)]
        self.nslots = len(self.slots)
        with open(os.path.join(self.rundir, "phase"), "wb") as f:
            f.write(b"\0" * (self.nslots * CELL))
        fd = os.open(os.path.join(self.rundir, "phase"), os.O_RDWR)
        self.mm = mmap.mmap(fd, self.nslots * CELL)
        os.close(fd)
        self.kills = 0
        self.kills_by_phase = {}
        self.kills_by_lang = {"py": 0, "c": 0}
        self.kills_holding_views = 0
        self.reads_verified = 0
        self.ops_done = 0
        self.spawns = 0
        self.aimed = {}  # target: [kills aimed, waits that timed out, seconds waited]

    # -- cells --
    def cell(self, slot):
        o = slot.idx * CELL
        phase, pid, ops, reads, views, gen, nbytes = struct.unpack_from("<IIQQIIQ", self.mm, o)
        return phase, ops, reads, views

    def set_phase(self, slot, ph):
        struct.pack_into("<I", self.mm, slot.idx * CELL, ph)

    def reset_cell(self, slot):
        struct.pack_into("<IIQQIIQ", self.mm, slot.idx * CELL, PH_SPAWNED, 0, 0, 0, 0, 0, 0)

    # -- processes --
    def spawn(self, slot):
        slot.gen += 1
        self.reset_cell(slot)
        seed = self.rng.randrange(1 << 62)
        args = [self.store, self.rundir, str(slot.idx), str(slot.gen), slot.role,
                str(self.nslots), str(self.a.keys), str(self.a.max_size), str(seed)]
        if slot.lang == "c":
            cmd = [self.worker_c] + args
        else:
            cmd = [sys.executable, self.worker_py, "worker"] + args
        slot.errpath = os.path.join(self.rundir, "err-%d" % slot.idx)
        with open(slot.errpath, "ab") as err:
            slot.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=err)
        slot.last_ops = 0
        slot.last_change = time.monotonic()
        self.spawns += 1

    def errtext(self, slot):
        try:
            with open(slot.errpath, errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def reap_wait(self, slot, timeout):
        """Waits (bounded) for SLOT's process to end; its return code."""
        try:
            return slot.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise Failure("%s (pid %d) did not end within %.0f s" %
                          (slot.label, slot.proc.pid, timeout)) from None

    def check_alive(self, slot):
        rc = slot.proc.poll()
        if rc is not None:
            raise Failure("%s ended by itself with status %d:\n%s" %
                          (slot.label, rc, self.errtext(slot)))
        _, ops, _, _ = self.cell(slot)
        now = time.monotonic()
        if ops != slot.last_ops:
            slot.last_ops, slot.last_change = ops, now
        elif now - slot.last_change > self.a.stall_seconds:
            raise Failure("%s (pid %d) hung: no operation completed for %.0f s (phase: %s)" %
                          (slot.label, slot.proc.pid, now - slot.last_change,
                           PHASE_NAMES.get(self.cell(slot)[0], "?")))

    def wait_for(self, slot, pred, timeout):
        """Polls SLOT's cell until pred(phase, views) holds; False on timeout."""
        end = time.monotonic() + timeout
        n = 0
        while time.monotonic() < end:
            ph, _, _, views = self.cell(slot)
            if pred(ph, views):
                return True
            n += 1
            if n % 64 == 0:
                self.check_alive(slot)
                time.sleep(0.0002)
            else:
                os.sched_yield()
        return False

    def cells(self):
        """[(phase, views)] of every slot, in one read of the shared page."""
        raw = self.mm[:self.nslots * CELL]
        return [(struct.unpack_from("<I", raw, i * CELL)[0],
                 struct.unpack_from("<I", raw, i * CELL + 24)[0]) for i in range(self.nslots)]

    def started(self, slot):
        # wait until the worker has reached the store (Python start-up takes
        # a while; a kill before then tests nothing)
        if not self.wait_for(slot, lambda ph, v: ph != PH_SPAWNED, self.a.stall_seconds):
            self.check_alive(slot)
            raise Failure("%s did not start within %d s:\n%s" %
                          (slot.label, self.a.stall_seconds, self.errtext(slot)))

    # aimed kills: (what, phase, weight, who does it)
    TARGETS = [("phase", PH_LEARN, 3, "writer"), ("phase", PH_LEARN_MANY, 3, "writer"),
               ("phase", PH_WRITE_RESERVED, 2, "c writer"), ("phase", PH_PUBLISH, 1, "c writer"),
               ("phase", PH_FORGET, 2, "writer"), ("phase", PH_RECALL, 1, "any"),
               ("views", None, 2, "any")]

    def aim(self):
        """Spins over every worker's cell until one is in a randomly chosen
        phase (or holds views); returns that slot and what was aimed at."""
        weights = [t[2] for t in self.TARGETS]
        what, ph, _, who = self.rng.choices(self.TARGETS, weights)[0]
        lang = self.rng.choice(sorted({s.lang for s in self.slots}))
        cand = [s for s in self.slots
                if (who == "any" and s.lang == lang) or
                (who == "writer" and s.role == "writer" and s.lang == lang) or
                (who == "c writer" and s.role == "writer" and s.lang == "c")]
        if not cand:
            return None, None
        label = "holding views" if what == "views" else PHASE_NAMES[ph]
        t0 = time.monotonic()
        end = t0 + self.a.aim_seconds
        n = 0
        hit = None
        while hit is None and time.monotonic() < end:
            cells = self.cells()
            for s in cand:
                p, v = cells[s.idx]
                if (what == "views" and v >= 2 and p != PH_SPAWNED) or p == ph:
                    hit = s
                    break
            n += 1
            if n % 256 == 0:
                for s in cand:
                    self.check_alive(s)
                time.sleep(0.0001)
        w = self.aimed.setdefault(label, [0, 0, 0.0])
        w[0] += 1
        w[1] += hit is None
        w[2] += time.monotonic() - t0
        if hit is None:
            hit = cand[self.rng.randrange(len(cand))]
            self.started(hit)
        return hit, label

    def kill_one(self):
        mode = self.rng.randrange(100)
        slot = None
        if mode >= 35:
            slot, _ = self.aim()
        if slot is None:
            # Python or C at even odds, preferring a worker that has reached
            # the store over one still starting
            lang = self.rng.choice(sorted({s.lang for s in self.slots}))
            mine = [s for s in self.slots if s.lang == lang]
            cells = self.cells()
            ready = [s for s in mine if cells[s.idx][0] != PH_SPAWNED] or mine
            slot = ready[self.rng.randrange(len(ready))]
            self.started(slot)
            if mode >= 5:  # else at once: often while attaching
                time.sleep(self.rng.random() * self.a.max_delay)
        ph, _, _, views = self.cell(slot)
        try:
            os.kill(slot.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        rc = self.reap_wait(slot, 30)
        if rc != -signal.SIGKILL:
            raise Failure("%s ended with status %d before the kill:\n%s" %
                          (slot.label, rc, self.errtext(slot)))
        _, ops, reads, _ = self.cell(slot)  # the final counts
        self.ops_done += ops
        self.reads_verified += reads
        self.kills += 1
        key = PHASE_NAMES.get(ph, "?")
        self.kills_by_phase[key] = self.kills_by_phase.get(key, 0) + 1
        self.kills_by_lang[slot.lang] += 1
        if views:
            self.kills_holding_views += 1
        self.spawn(slot)

    def stop_all(self):
        """The end of the run.  Every other writer is killed one last time in
        the middle of a learn or forget (not restarted), so the final check
        meets operations cut short.  The others get SIGTERM: each finishes
        its operation, releases its views, closes the store and exits 0,
        within a timeout (a survivor that hangs fails the run)."""
        last = []
        for s in self.slots:
            if s.role == "writer" and s.idx % 2 == 0:
                self.started(s)
                if not self.wait_for(s, lambda ph, v: ph in (PH_LEARN, PH_LEARN_MANY,
                                                             PH_FORGET, PH_WRITE_RESERVED), 5):
                    self.check_alive(s)
                ph = self.cell(s)[0]
                s.proc.send_signal(signal.SIGKILL)
                rc = self.reap_wait(s, 30)
                if rc != -signal.SIGKILL:
                    raise Failure("%s ended with status %d before the kill:\n%s" %
                                  (s.label, rc, self.errtext(s)))
                last.append(PHASE_NAMES.get(ph, "?"))
            else:
                # a Python worker installs its SIGTERM handler as it starts
                self.started(s)
                s.proc.send_signal(signal.SIGTERM)
        for s in self.slots:
            rc = self.reap_wait(s, self.a.stall_seconds)
            if rc != 0 and rc != -signal.SIGKILL:
                raise Failure("%s exited with status %d when stopped:\n%s" %
                              (s.label, rc, self.errtext(s)))
            _, ops, reads, _ = self.cell(s)
            self.ops_done += ops
            self.reads_verified += reads
        self.final_kills = last

    def brain_check(self, when):
        try:
            p = subprocess.run([self.a.brain, "check", self.store], capture_output=True,
                               text=True, timeout=300)
        except subprocess.TimeoutExpired:
            raise Failure("brain check %s: no answer within 300 s" % when) from None
        if p.returncode != 0:
            raise Failure("brain check %s: exit %d\n%s%s" % (when, p.returncode, p.stdout,
                                                             p.stderr))
        return p.stdout.strip()

    # -- the model --
    @staticmethod
    def records(path):
        """(offset, record) of the log at PATH, read in chunks."""
        if not os.path.exists(path):
            return
        with open(path, "rb") as f:
            base = 0
            while True:
                chunk = f.read(REC.size * 65536)
                if not chunk:
                    return
                for i, r in enumerate(REC.iter_unpack(chunk)):
                    yield base + i * REC.size, r
                base += len(chunk)

    def replay(self, slot):
        """{key: (candidates, pending)}; a candidate is None (absent) or
        (seq, size, crc).  Also counts records."""
        cands = {k: {None} for k in range(self.a.keys)}
        pend = {}
        stats = {"records": 0, "learns": 0, "forgets": 0, "in_doubt": 0, "full": 0}
        path = os.path.join(self.rundir, "log-%d" % slot.idx)
        if os.path.exists(path) and os.path.getsize(path) % REC.size:
            raise Failure("log of %s: %d bytes, not whole records (a torn write)" %
                          (slot.label, os.path.getsize(path)))
        for off, (kind, rslot, key, rc, gen, crc, seq, size, _) in self.records(path):
            stats["records"] += 1
            if rslot != slot.idx or key >= self.a.keys:
                raise Failure("log of slot %d: bad record at %d" % (slot.idx, off))
            if kind in (REC_BEGIN_LEARN, REC_BEGIN_FORGET):
                if key in pend:  # the previous op on this key was cut short
                    cands[key].add(pend[key])
                    stats["in_doubt"] += 1
                pend[key] = (seq, size, crc) if kind == REC_BEGIN_LEARN else None
            elif kind == REC_END_LEARN:
                if key not in pend or pend[key] != (seq, size, crc):
                    raise Failure("log of slot %d: end of a learn that did not begin" % slot.idx)
                del pend[key]
                if rc == RC_OK:
                    cands[key] = {(seq, size, crc)}
                    stats["learns"] += 1
                elif rc == RC_FULL:
                    stats["full"] += 1
                elif rc != RC_ABORTED:
                    raise Failure("log of slot %d: learn rc %d" % (slot.idx, rc))
            elif kind == REC_END_FORGET:
                if key not in pend or pend[key] is not None:
                    raise Failure("log of slot %d: end of a forget that did not begin" % slot.idx)
                del pend[key]
                if rc == RC_NOTFOUND and None not in cands[key]:
                    raise Failure(
                        "%s: a forget of %s found it absent, but its last learn had "
                        "returned and no forget had begun since (a lost value)" %
                        (slot.label, key_name(slot.idx, key)))
                cands[key] = {None}
                stats["forgets"] += 1
            else:
                raise Failure("log of slot %d: bad record kind %d" % (slot.idx, kind))
        for key, p in pend.items():
            cands[key].add(p)
            stats["in_doubt"] += 1
        return cands, stats

    def verify_values(self, brain_by_ns):
        totals = {"records": 0, "learns": 0, "forgets": 0, "in_doubt": 0, "full": 0,
                  "values_verified": 0, "absent_verified": 0, "names_in_doubt": 0}
        expected = set()
        for slot in self.slots:
            if slot.role != "writer":
                continue
            cands, st = self.replay(slot)
            for k in st:
                totals[k] += st[k]
            for key in range(self.a.keys):
                name = key_name(slot.idx, key)
                allowed = cands[key]
                if len(allowed) > 1:
                    totals["names_in_doubt"] += 1
                b = brain_by_ns[slot_ns(slot.idx)]
                try:
                    v = b.recall(name, copy=True)
                except KeyError:
                    v = None
                if v is None:
                    if None not in allowed:
                        raise Failure("%s: %s is gone, but a learn of it returned and no "
                                      "forget of it began after" % (slot.label, name))
                    totals["absent_verified"] += 1
                    continue
                expected.add((slot_ns(slot.idx), name))
                why, h = vcheck(v, slot.idx, key)
                if why:
                    raise Failure("%s: %s holds a damaged value: %s" % (slot.label, name, why))
                got = (h[4], h[5], h[1])
                if got not in allowed:
                    raise Failure("%s: %s holds the value of seq %#x (%d bytes), which no "
                                  "operation the log allows left there (allowed: %s)" %
                                  (slot.label, name, got[0], got[1], sorted(
                                      ("absent" if c is None else "%#x" % c[0])
                                      for c in allowed)))
                totals["values_verified"] += 1
        found = set()
        for ns, b in brain_by_ns.items():
            for n in b.names():
                found.add((ns, n))
        stray = found - expected
        if stray:
            raise Failure("names nobody wrote (or that should be absent): %s" % sorted(stray)[:10])
        return totals

    # -- the harness's own test: a fault the checks must find --
    def inject_loss(self, brains):
        """Forgets, behind the log's back, a name whose learn returned."""
        for slot in self.slots:
            if slot.role != "writer":
                continue
            cands, _ = self.replay(slot)
            for key, allowed in cands.items():
                if None not in allowed:
                    brains[slot_ns(slot.idx)].forget(key_name(slot.idx, key))
                    return
        raise Failure("--inject loss: no name to lose")

    def inject_corrupt(self, brains):
        """Flips one byte of a stored value in the store file."""
        for (ns, b) in brains.items():
            for n in b.names():
                v = bytes(memoryview(b.recall(n, copy=True)).cast("B"))
                with open(self.store, "r+b") as f:
                    m = mmap.mmap(f.fileno(), 0)
                    at = m.find(v[:VHDR.size])
                    if at >= 0:
                        pos = at + len(v) - 1
                        m[pos] = m[pos] ^ 0x40
                        m.close()
                        return
                    m.close()
        raise Failure("--inject corrupt: no value found in the file")

    # -- the run --
    def run(self):
        from brain_plasma import Brain
        t0 = time.monotonic()
        brains = {ns: Brain(path=self.store, size=self.a.capacity, namespace=ns)
                  for ns in ("default", "tort")}
        b = brains["default"]
        st0 = b.stats()
        used0 = st0["used"]
        for s in self.slots:
            self.spawn(s)
        next_report = time.monotonic() + 10
        self.stopped_early = None
        while (self.kills < self.a.kills or time.monotonic() - t0 < self.a.min_seconds):
            if self.a.stop_after and time.monotonic() - t0 > self.a.stop_after:
                self.stopped_early = "--stop-after %d s" % self.a.stop_after
                break
            if STOP_EARLY:
                self.stopped_early = "SIGUSR1"
                break
            if time.monotonic() - t0 > self.a.max_seconds:
                raise Failure("only %d of %d kills within the %d s limit" %
                              (self.kills, self.a.kills, self.a.max_seconds))
            self.kill_one()
            for s in self.slots:
                self.check_alive(s)
            if time.monotonic() > next_report and not self.a.quiet:
                print("torture: %d kills, %.0f s" % (self.kills, time.monotonic() - t0),
                      flush=True)
                next_report = time.monotonic() + (10 if self.a.kills < 2000 else 60)
        self.stop_all()
        t_run = time.monotonic() - t0
        st1 = b.stats()
        in_lock = st1["recoveries"] - st0["recoveries"]
        if self.kills >= 200 and in_lock == 0:
            raise Failure("%d kills and none landed inside the writers' lock (no recovery "
                          "counted): the harness does not do what it claims" % self.kills)
        if self.a.inject == "loss":
            self.inject_loss(brains)
        check1 = self.brain_check("after the run")
        if self.a.inject == "corrupt":
            self.inject_corrupt(brains)
        totals = self.verify_values(brains)
        reaped = b._c().reap()
        st2 = b.stats()
        if st2["procs"] != 1 or st2["pins"] != 0:
            raise Failure("after reaping: %d processes attached, %d pins (want 1 and 0)" %
                          (st2["procs"], st2["pins"]))
        # forget everything: the space comes back to the figure before the run
        for ns, bb in brains.items():
            for n in bb.names():
                bb.forget(n)
        b.learn(b"flush", "flush")  # a write frees what limbo still holds
        b.forget("flush")
        st3 = b.stats()
        if st3["names"] != 0 or st3["limbo"] != 0 or st3["used"] != used0:
            raise Failure("after forgetting everything: %d names, limbo %d, used %d bytes; "
                          "before the run used was %d" % (st3["names"], st3["limbo"],
                                                          st3["used"], used0))
        self.brain_check("after forgetting everything")
        for bb in brains.values():
            bb.sleep()
        return {
            "kills": self.kills,
            "kills_target": self.a.kills,
            "stopped_early_by": self.stopped_early,
            "kills_by_language": self.kills_by_lang,
            "kills_by_phase": dict(sorted(self.kills_by_phase.items(), key=lambda x: -x[1])),
            "kills_holding_views": self.kills_holding_views,
            "final_kills_of_writers": self.final_kills,
            "aimed_kills": {k: {"aimed": v[0], "not_seen_in_time": v[1],
                                "mean_wait_ms": round(1000 * v[2] / max(1, v[0]), 1)}
                            for k, v in sorted(self.aimed.items())},
            "kills_inside_writers_lock": in_lock,
            "workers": {"py_writers": self.a.py_writers, "c_writers": self.a.c_writers,
                        "py_readers": self.a.py_readers, "c_readers": self.a.c_readers},
            "worker_starts": self.spawns,
            "operations_completed": self.ops_done,
            "log_records": totals["records"],
            "learns_returned": totals["learns"],
            "forgets_returned": totals["forgets"],
            "learns_refused_store_full": totals["full"],
            "operations_cut_short": totals["in_doubt"],
            "reads_verified_during_run": self.reads_verified,
            "values_verified_after": totals["values_verified"],
            "names_absent_as_expected": totals["absent_verified"],
            "names_in_doubt_verified": totals["names_in_doubt"],
            "dead_reaped": st2["reaped"],
            "used_before": used0,
            "used_after_forgetting_all": st3["used"],
            "brain_check": check1.splitlines()[-1] if check1 else "",
            "capacity": self.a.capacity,
            "max_value_size": self.a.max_size,
            "keys_per_writer": self.a.keys,
            "seed": self.a.seed,
            "run_seconds": round(t_run, 1),
            "total_seconds": round(time.monotonic() - t0, 1),
            "lost_values": 0,
            "result": "pass",
        }

    def cleanup(self, keep):
        for s in self.slots:
            if s.proc and s.proc.poll() is None:
                s.proc.kill()
                try:
                    s.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pass
        if not keep:
            try:
                os.unlink(self.store)
            except FileNotFoundError:
                pass
            for f in os.listdir(self.rundir):
                os.unlink(os.path.join(self.rundir, f))
            os.rmdir(self.rundir)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        sys.exit(worker_main(sys.argv[2:]))
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kills", type=int, default=200, help="SIGKILLs to send (default 200)")
    p.add_argument("--stop-after", type=float, default=0,
                   help="stop killing after this many seconds even if fewer than --kills "
                        "were sent, then check as usual (the summary says so); SIGUSR1 "
                        "to the driver does the same")
    p.add_argument("--min-seconds", type=float, default=0,
                   help="keep killing at least this long")
    p.add_argument("--max-seconds", type=int, default=150,
                   help="fail when the kills take longer (default 150)")
    p.add_argument("--py-writers", type=int, default=2)
    p.add_argument("--c-writers", type=int, default=2)
    p.add_argument("--py-readers", type=int, default=1)
    p.add_argument("--c-readers", type=int, default=1)
    p.add_argument("--keys", type=int, default=8, help="names per writer (default 8)")
    p.add_argument("--max-size", type=int, default=4 << 20,
                   help="largest value in bytes (default 4 MiB)")
    p.add_argument("--capacity", type=int, default=192 << 20,
                   help="store capacity in bytes (default 192 MiB)")
    p.add_argument("--max-delay", type=float, default=0.05,
                   help="longest random delay before an unaimed kill, seconds")
    p.add_argument("--aim-seconds", type=float, default=0.5,
                   help="how long an aimed kill waits for its phase (default 0.5)")
    p.add_argument("--stall-seconds", type=int, default=60,
                   help="a worker without progress this long has hung (default 60)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--worker", default=os.path.join(ROOT, "build", "torture-worker"))
    p.add_argument("--brain", default=os.path.join(ROOT, "build", "brain"))
    p.add_argument("--json", help="write the summary here")
    p.add_argument("--inject", choices=("loss", "corrupt"),
                   help="the harness's own test: lose or damage a value after the run; "
                        "the run must then fail")
    p.add_argument("--keep", action="store_true", help="keep the store and logs on failure")
    p.add_argument("--quiet", action="store_true")
    a = p.parse_args()
    if a.seed is None:
        a.seed = random.SystemRandom().randrange(1 << 31)
    for path, what in ((a.worker, "the C worker"), (a.brain, "the brain CLI")):
        if not os.access(path, os.X_OK):
            p.error("%s is missing at %s; run make first" % (what, path))
    signal.signal(signal.SIGUSR1, lambda *x: STOP_EARLY.append(1))
    d = Driver(a)
    ok = False
    try:
        summary = d.run()
        ok = True
    except Failure as exc:
        print("torture: FAILED (seed %d, %d kills so far): %s" % (a.seed, d.kills, exc),
              file=sys.stderr)
        print("torture: store %s, logs in %s%s" % (d.store, d.rundir,
              "" if a.keep else " (removed; --keep keeps them)"), file=sys.stderr)
    finally:
        d.cleanup(keep=a.keep and not ok)
    if not ok:
        return 1
    if summary["stopped_early_by"]:
        print("torture: stopped early by %s after %d of %d kills" % (
            summary["stopped_early_by"], summary["kills"], summary["kills_target"]))
    print("torture: %d kills (%d Python, %d C; %d inside the writers' lock, %d holding "
          "views), %d operations completed, %d log records, %d operations cut short, "
          "%d reads verified during the run, %d values verified after, nothing lost; "
          "%.1f s" % (summary["kills"], summary["kills_by_language"]["py"],
                      summary["kills_by_language"]["c"],
                      summary["kills_inside_writers_lock"], summary["kills_holding_views"],
                      summary["operations_completed"], summary["log_records"],
                      summary["operations_cut_short"], summary["reads_verified_during_run"],
                      summary["values_verified_after"], summary["total_seconds"]))
    print("torture: kills by phase: " + ", ".join(
        "%s %d" % kv for kv in summary["kills_by_phase"].items()))
    if a.json:
        os.makedirs(os.path.dirname(os.path.abspath(a.json)), exist_ok=True)
        with open(a.json, "w") as f:
            json.dump(summary, f, indent=2)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

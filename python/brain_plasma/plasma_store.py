"""``plasma_store -m SIZE -s PATH``: Arrow Plasma's start-up line, on a
brain-plasma store.

Creates the store file PATH with capacity SIZE (or attaches to the store
already there, growing or shrinking it to SIZE when the values fit) and
keeps it alive in the foreground, as ``brain serve`` does without
snapshots: expired names are removed every second and the slots of dead
processes reaped every 10 s.  SIGTERM or SIGINT (Ctrl-C) stops it (exit 0).
The store file stays (its values too) unless ``--destroy-on-exit`` is
given, which removes it on stop as Plasma's objects went with its store.

Clients: ``brain_plasma.plasma.connect(PATH)`` or ``Brain(path=PATH)``.
There is no socket and no server: clients open the file themselves, so they
keep working while this process is stopped; it is for scripts and service
managers that expect a ``plasma_store`` process.
"""
import argparse
import os
import signal
import sys
import time

from . import _core
from .exceptions import BrainError

_EXPIRE_EVERY = 1.0
_REAP_EVERY = 10.0


def _log(msg):
    ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime())
    sys.stderr.write("%s plasma_store: %s\n" % (ts, msg))
    sys.stderr.flush()


def _size(text):
    try:
        n = _core.parse_size(text.strip())
    except (BrainError, ValueError):
        raise argparse.ArgumentTypeError(
            "%r is not a size: give bytes (1000000000) or a size with a unit "
            "(1GB, 512MiB)" % text) from None
    if n < _core.MIN_CAPACITY or n > _core.MAX_CAPACITY:
        raise argparse.ArgumentTypeError(
            "%s is outside the store's range: %s to %s" % (
                text, _core.format_size(_core.MIN_CAPACITY, True),
                _core.format_size(_core.MAX_CAPACITY, True)))
    return n


def _path(text):
    if not text:
        raise argparse.ArgumentTypeError("the store path is empty; give one such as /tmp/plasma")
    if "/" in text and not text.startswith("/"):
        text = os.path.abspath(text)
    if text.startswith("/"):
        parent = os.path.dirname(text) or "/"
        if not os.path.isdir(parent):
            raise argparse.ArgumentTypeError(
                "the folder %s does not exist; create it or choose another path" % parent)
        if os.path.isdir(text):
            raise argparse.ArgumentTypeError(
                "%s is a folder; -s takes the path of the store file (/tmp/plasma)" % text)
    return text


def _parser():
    p = argparse.ArgumentParser(
        prog="plasma_store",
        description="Create a brain-plasma store at PATH with capacity SIZE and keep "
                    "it alive (Arrow Plasma's plasma_store command line).")
    p.add_argument("-m", dest="size", type=_size, required=True, metavar="SIZE",
                   help="capacity in bytes, or with a unit (1GB, 512MiB)")
    p.add_argument("-s", dest="path", type=_path, required=True, metavar="PATH",
                   help="the store: a file path such as /tmp/plasma (Plasma's socket "
                        "path), or a bare name (/dev/shm/brain-NAME)")
    p.add_argument("-d", dest="directory", metavar="DIR",
                   help="accepted for Plasma's command lines and ignored: the store is "
                        "the file given with -s")
    p.add_argument("--destroy-on-exit", action="store_true",
                   help="remove the store file when stopped (Plasma's objects died "
                        "with its store)")
    return p


def main(argv=None):
    args = _parser().parse_args(argv)
    if args.directory:
        _log("-d %s ignored: the store is the file %s" % (args.directory, args.path))
    try:
        store = _core.Store(args.path, create=True, capacity=args.size)
    except BrainError as exc:
        _log("cannot open or create the store %s: %s" % (args.path, exc))
        return 1
    path = store.path
    capacity = store.stats()["capacity"]
    if abs(capacity - args.size) >= 65536:  # an existing store of another size
        try:
            store.resize(args.size)
            _log("resized the existing store %s from %s to %s" % (
                path, _core.format_size(capacity), _core.format_size(args.size)))
        except BrainError as exc:
            _log("kept the existing store's capacity %s: %s"
                 % (_core.format_size(capacity), exc))
    st = os.stat(path)
    ident = (st.st_dev, st.st_ino)

    stopping = []

    def stop(signum, frame):  # the loop sees it within a second
        stopping.append(signal.Signals(signum).name)

    old = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    _log("store %s ready, capacity %s (pid %d); SIGTERM or Ctrl-C stops" % (
        path, _core.format_size(store.stats()["capacity"]), os.getpid()))
    rc = 0
    try:
        next_reap = time.monotonic() + _REAP_EVERY
        while not stopping:
            time.sleep(_EXPIRE_EVERY)
            if stopping:
                break
            try:
                st = os.stat(path)
            except FileNotFoundError:
                st = None
            if st is None or (st.st_dev, st.st_ino) != ident:
                _log("the store file %s was removed or replaced; stopping" % path)
                break
            n = store.expire()
            if n:
                _log("removed %d expired names" % n)
            if time.monotonic() >= next_reap:
                next_reap = time.monotonic() + _REAP_EVERY
                n = store.reap()
                if n:
                    _log("reaped %d dead processes" % n)
    except BrainError as exc:
        _log("stopping: %s" % exc)
        rc = 1
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    why = stopping[0] if stopping else None
    store.close()
    if args.destroy_on_exit:
        try:
            _core.destroy(path)
            _log("removed the store %s" % path)
        except (BrainError, OSError) as exc:
            _log("could not remove %s: %s" % (path, exc))
            rc = 1
    _log("stopped%s" % (" on " + why if why else ""))
    return rc


if __name__ == "__main__":
    sys.exit(main())

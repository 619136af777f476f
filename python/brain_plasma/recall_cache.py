"""The recall cache: a process keeps the frames it decoded, and a recall of
the same version again is a new frame over one of them.

Why: a Dash app recalls the same frame in every callback.  Decoding a
frame with str columns builds its Python str objects (milliseconds per
million rows); even an all-numeric frame of 200 columns costs about 60 µs
of pickle machinery.  A new frame over one decoded before costs 7-15 µs,
whatever its rows (50 extension columns included: _recipe says how).

Semantics are those of a fresh recall:

- every recall asks the store for the name's current version (one lookup,
  no copy) and uses a kept frame only when the version is the same: a new
  value is seen at once, a forgotten name raises as before;
- the caller gets its own DataFrame object: a new block manager of new
  blocks, its own index and column objects, over the same arrays (a
  Series: ``copy(deep=False)``).  Adding, inserting, renaming or dropping
  columns, setting names or ``attrs``, changes nothing the next caller
  gets;
- every array of a recalled frame is read-only, the store's and those
  the decoding built (serialize._mark_shared), and each block's refs
  hold a reference besides the block: with pandas copy-on-write (always
  on in pandas 3) a write copies the block first, so it never reaches the
  kept frame, another caller or the store, and a write around pandas
  (into ``.array``) raises as on a fresh recall;
- a frame with an object column of possibly mutable cells (lists,
  dicts, ...) is not kept: callers would share the cells, where fresh
  recalls build their own.

What is kept: DataFrame and Series values (exact types) whose decoding
took at least ``min_seconds`` (20 µs), only with pandas copy-on-write, and
only for ``Brain.recall`` with ``copy=False``.  Values recalled in one C
call (Store.recall_small: any of at most 4 KiB, and up to 64 KiB bytes,
str and pickles that hold no pandas or NumPy object) are never kept;
other values copied out of the store rather than pinned (up to 64 KiB) are kept when
the name's version was the same before and after the copy.  At most ``max_entries``
values (16) and ``max_bytes`` (1 GiB) in all, least recently used dropped
first, and entries whose name has moved on are dropped whenever a new
value is kept; a value's bytes count the stored value it pins (its arrays point
into the store, so an old version's memory stays in use while it is kept)
plus 8 bytes per cell of its object columns (the rebuilt str).  A name
learned or forgotten through this process drops its entry; a child process
after fork starts with an empty cache (the parent's entries point at
values pinned by the parent).

``Brain(recall_cache=False)`` recalls without it; :func:`configure` sets
the limits (``max_entries=0`` turns it off for the process).
"""
import os
import sys
import threading
from collections import OrderedDict

__all__ = ["configure", "clear", "stats"]

MAX_ENTRIES = 16
MAX_BYTES = 1 << 30
MIN_SECONDS = 20e-6

_MISS = object()


class _Cache:
    def __init__(self):
        self.lock = threading.Lock()
        self.entries = OrderedDict()  # (store, ns, name) -> (version, value, nbytes, recipe)
        self.nbytes = 0
        self.max_entries = MAX_ENTRIES
        self.max_bytes = MAX_BYTES
        self.min_seconds = MIN_SECONDS
        self.hits = 0
        self.misses = 0


_cache = _Cache()
# entries inherited across fork: never used nor released by the child
_inherited = []


def _after_fork_in_child():
    global _cache
    old = _cache
    _cache = _Cache()
    _cache.max_entries, _cache.max_bytes, _cache.min_seconds = (
        old.max_entries, old.max_bytes, old.min_seconds)
    if old.entries:
        _inherited.append(old.entries)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def configure(max_entries=None, max_bytes=None, min_seconds=None):
    """Sets the process's recall cache limits (None: unchanged); returns
    them as a dict.  max_entries=0 turns the cache off (and empties it)."""
    c = _cache
    with c.lock:
        if max_entries is not None:
            if isinstance(max_entries, bool) or not isinstance(max_entries, int) \
                    or max_entries < 0:
                raise ValueError("max_entries is an int >= 0; got %r" % (max_entries,))
            c.max_entries = max_entries
        if max_bytes is not None:
            if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0:
                raise ValueError("max_bytes is an int >= 0; got %r" % (max_bytes,))
            c.max_bytes = max_bytes
        if min_seconds is not None:
            if not isinstance(min_seconds, (int, float)) or not min_seconds >= 0:
                raise ValueError("min_seconds is a number >= 0; got %r" % (min_seconds,))
            c.min_seconds = float(min_seconds)
        _evict(c)
        return {"max_entries": c.max_entries, "max_bytes": c.max_bytes,
                "min_seconds": c.min_seconds}


def clear():
    """Drops every kept value of this process (and zeroes the counts of
    stats())."""
    c = _cache
    with c.lock:
        c.entries.clear()
        c.nbytes = 0
        c.hits = c.misses = 0


def stats():
    """{"entries", "bytes", "hits", "misses"} of this process's cache."""
    c = _cache
    with c.lock:
        return {"entries": len(c.entries), "bytes": c.nbytes, "hits": c.hits,
                "misses": c.misses}


def _evict(c):
    while c.entries and (len(c.entries) > c.max_entries or c.nbytes > c.max_bytes):
        _, (_, _, nb, _) = c.entries.popitem(last=False)
        c.nbytes -= nb


def get(store, ns, name):
    """A fresh shallow copy of the value kept for (STORE, NS, NAME) when
    it is still the name's current value, else _MISS."""
    c = _cache
    if not c.entries:
        return _MISS
    key = (store, ns, name)
    e = c.entries.get(key)
    if e is None:
        return _MISS
    try:
        version = store.version_of(ns, name) if not store.closed else -1
    except Exception:  # the general path raises the right error
        version = -1
    with c.lock:
        if version != e[0]:
            if c.entries.get(key) is e:
                del c.entries[key]
                c.nbytes -= e[2]
            c.misses += 1
            return _MISS
        if key in c.entries:
            c.entries.move_to_end(key)
        c.hits += 1
    return _hand_out(e[1], e[3])


def _hand_out(value, recipe):
    """A new frame over the blocks of VALUE, a kept DataFrame, built from
    RECIPE (see _recipe); VALUE.copy(deep=False) when there is none."""
    if recipe is None:
        return _shallow_copy(value)
    mtype, groups, axes, blknos, blklocs = recipe
    blocks = []
    for btype, view, values, locs, ndims, refs in groups:
        # map() of a type: each block built by one C call, no bytecode
        blocks += map(btype, values if view is None else map(view, values), locs, ndims, refs)
    new = mtype.from_blocks(blocks, [ax._view() for ax in axes])
    if blknos is not None:
        new._blknos = blknos.copy()
        new._blklocs = blklocs.copy()
    return value._constructor_from_mgr(new, axes=new.axes).__finalize__(value, method="copy")


def _shareable(pd):
    """The array types whose object a caller's block may share with the
    kept frame's (see _recipe), for this pandas."""
    global _SHARE
    if _SHARE is None:
        arrays = pd.arrays
        _SHARE = frozenset(t for t in (
            getattr(arrays, "StringArray", None), getattr(arrays, "NumpyExtensionArray", None),
            getattr(arrays, "IntegerArray", None), getattr(arrays, "FloatingArray", None),
            getattr(arrays, "BooleanArray", None), getattr(pd, "Categorical", None))
            if isinstance(t, type))
    return _SHARE


_SHARE = None
# where those types keep their data
_DATA = ("_ndarray", "_data", "_mask", "_codes")


def _recipe(value, pd):
    """How _hand_out builds a caller's frame from VALUE (a kept DataFrame):
    (manager type, groups of blocks, axes, block numbers, block
    locations), or None to take pandas' copy.  A group is (block type, the
    function that views an array or None, values, placements, ndims,
    refs): its blocks in one map() call; the block numbers are those of
    the blocks in the order the groups build them.

    Each caller gets a new manager of new blocks, as pandas'
    copy(deep=False) makes them: pandas changes a block object itself in
    places (its placement when a column is inserted before it, its values
    when a write copies them), so no two frames may share one.  Each new
    block holds the kept block's refs, which the kept frame keeps
    referenced: any write through pandas copies the block first.  What
    pandas' copy does besides, a view of each block's array (about 1 µs for
    an extension array, most of a frame of 50 of them), is skipped for
    the array types whose data is all read-only and whose writes raise
    before changing the array object (StringArray, masked arrays,
    Categorical: _shareable): their objects are shared, as a read-only
    view would be; the others (NumPy arrays, Arrow-backed, sparse,
    datetime-like, ...) are viewed per caller as pandas does."""
    mgr = getattr(value, "_mgr", None)
    if getattr(mgr, "ndim", 1) != 2:
        return None
    import operator

    import numpy

    ndarray = numpy.ndarray
    share_types = _shareable(pd)
    groups = {}  # (block type, view) -> ([values], [placements], [refs], [old numbers])
    try:
        for i, b in enumerate(mgr.blocks):
            v = b.values
            if type(v) in share_types and all(
                    not getattr(v, a).flags.writeable
                    for a in _DATA if isinstance(getattr(v, a, None), ndarray)):
                view = None
            elif type(v) is ndarray:
                view = ndarray.view
            else:
                view = operator.methodcaller("view")
            g = groups.setdefault((type(b), view), ([], [], [], []))
            g[0].append(v)
            g[1].append(b._mgr_locs)
            g[2].append(b.refs)
            g[3].append(i)
        old = [i for g in groups.values() for i in g[3]]
        blknos = mgr._blknos
        if blknos is not None:
            renumber = numpy.empty(len(old), dtype=blknos.dtype)
            renumber[old] = numpy.arange(len(old), dtype=blknos.dtype)
            blknos = renumber[blknos]
        return (type(mgr),
                tuple((btype, view, tuple(vals), tuple(locs), (2,) * len(vals), tuple(refs))
                      for (btype, view), (vals, locs, refs, _) in groups.items()),
                list(mgr.axes), blknos, mgr._blklocs)
    except AttributeError:  # a pandas without these internals
        return None


# what infer_dtype calls the columns of immutable objects (str, numbers,
# datetimes, ...): a frame with an object column of anything else (lists,
# dicts, objects of the app's own) is not kept, since its callers would
# share those objects where fresh recalls get their own
_IMMUTABLE = frozenset(("empty", "string", "bytes", "integer", "floating", "mixed-integer-float",
                        "decimal", "complex", "boolean", "datetime64", "datetime", "date",
                        "timedelta64", "timedelta", "time", "period"))


def _immutable_cells(value, pd):
    """False when VALUE has an object column (or is an object Series) whose
    elements may be mutable objects."""
    from .serialize import _CELLS

    mgr = getattr(value, "_mgr", None)
    infer = pd.api.types.infer_dtype
    for b in getattr(mgr, "blocks", ()):
        v = b.values
        if getattr(v, "dtype", None) == object and type(v).__name__ == "ndarray":
            root = v
            while type(root.base).__name__ == "ndarray":
                root = root.base
            if type(root.base) is _CELLS:
                # rebuilt from packed str: the elements that are not str
                # are in its others, a short tuple of distinct objects
                if not set(map(type, root.base.others)) <= _immutable_types(pd):
                    return False
                continue
            flat = v.reshape(-1)
            if infer(flat, skipna=True) not in _IMMUTABLE and \
                    not set(map(type, flat)) <= _immutable_types(pd):
                return False
    return True


def _immutable_types(pd):
    global _IMMUTABLE_TYPES
    if _IMMUTABLE_TYPES is None:
        import datetime
        import decimal

        import numpy

        _IMMUTABLE_TYPES = frozenset((
            str, bytes, int, float, bool, complex, type(None), decimal.Decimal,
            datetime.datetime, datetime.date, datetime.time, datetime.timedelta,
            pd.Timestamp, pd.Timedelta, pd.Period, type(pd.NA), type(pd.NaT),
            numpy.float64, numpy.int64, numpy.bool_, numpy.datetime64, numpy.timedelta64))
    return _IMMUTABLE_TYPES


_IMMUTABLE_TYPES = None


def _shallow_copy(value):
    """VALUE.copy(deep=False).  For a DataFrame, the same steps pandas 3
    takes (BlockManager.copy(deep=False): a shallow copy of each block, a
    view of each axis, the block-number caches copied; then the frame
    around it and __finalize__), without BlockManager.apply's generic
    dispatch, which costs more than the copies themselves (50 extension
    columns: 120 µs of block copies, 360 µs through apply).  Any pandas
    without these internals takes the public copy."""
    mgr = getattr(value, "_mgr", None)
    if getattr(mgr, "ndim", 1) == 2:
        try:
            new = type(mgr).from_blocks([b.copy(deep=False) for b in mgr.blocks],
                                        [ax.view() for ax in mgr.axes])
            blknos = mgr._blknos
            if blknos is not None:
                new._blknos = blknos.copy()
                new._blklocs = mgr._blklocs.copy()
            return value._constructor_from_mgr(new, axes=new.axes).__finalize__(
                value, method="copy")
        except (AttributeError, TypeError):
            pass
    return value.copy(deep=False)


def _cow():
    pd = sys.modules.get("pandas")
    if pd is None:
        return False
    try:
        major = int(pd.__version__.split(".", 1)[0])
    except ValueError:
        major = 0
    if major >= 3:
        return True
    try:
        return pd.options.mode.copy_on_write is True
    except AttributeError:
        return False


def _private_bytes(value, pd):
    """8 bytes per cell of VALUE's object-backed columns (the pointers; the
    str themselves are about the stored bytes, counted by the caller)."""
    n = 0
    series = isinstance(value, pd.Series)
    for b in value._mgr.blocks:
        dt = b.dtype
        if dt == object or getattr(dt, "storage", None) == "python":
            n += 1 if series else len(b.mgr_locs)
    return 8 * n * len(value)


def offer(store, ns, name, version, value, seconds, stored_bytes):
    """Keeps VALUE (just decoded from version VERSION of NAME, in SECONDS)
    when it is worth keeping; returns what the caller hands out: VALUE
    itself when not kept, else a shallow copy (the kept one stays
    private)."""
    c = _cache
    if seconds < c.min_seconds or c.max_entries == 0:
        return value
    pd = sys.modules.get("pandas")
    if pd is None or type(value) not in (pd.DataFrame, pd.Series) or not _cow() \
            or not _immutable_cells(value, pd):
        return value
    nbytes = stored_bytes + _private_bytes(value, pd)
    if nbytes > c.max_bytes:
        return value
    recipe = _recipe(value, pd)
    key = (store, ns, name)
    _sweep(c)
    with c.lock:
        old = c.entries.pop(key, None)
        if old is not None:
            c.nbytes -= old[2]
        c.entries[key] = (version, value, nbytes, recipe)
        c.nbytes += nbytes
        _evict(c)
    return _hand_out(value, recipe)


def _sweep(c):
    """Drops the entries whose name now holds another version (or none):
    they pin an old value's memory in the store.  Runs when a value is
    offered, i.e. after a costly decode: a lookup per entry is noise."""
    stale = []
    for key, (version, _, _, _) in list(c.entries.items()):
        store, ns, name = key
        try:
            now = store.version_of(ns, name) if not store.closed else -1
        except Exception:
            now = -1
        if now != version:
            stale.append((key, version))
    if stale:
        with c.lock:
            for key, version in stale:
                e = c.entries.get(key)
                if e is not None and e[0] == version:
                    del c.entries[key]
                    c.nbytes -= e[2]


def drop(store, ns, name):
    """Forgets the value kept for (STORE, NS, NAME), if any."""
    c = _cache
    if not c.entries:
        return
    with c.lock:
        e = c.entries.pop((store, ns, name), None)
        if e is not None:
            c.nbytes -= e[2]


def drop_store(store):
    """Forgets every value kept for STORE (it is closed or destroyed)."""
    c = _cache
    with c.lock:
        for key in [k for k in c.entries if k[0] is store]:
            c.nbytes -= c.entries.pop(key)[2]

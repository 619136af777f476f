"""Brain: the brain-plasma API over a libbrain store.

A Brain is a handle on one store (a file, by default in /dev/shm) and one
namespace in it.  Every process that opens the same store sees the same
names; there is no server.  ``Brain()`` in two processes of the same user
shares data with no configuration: the default store is the name
``"default"``, the file ``/dev/shm/brain-default``.

Thread-safety: one Brain may be used by any number of threads.  Fork: a
child keeps using the Brain it inherited (gunicorn ``--preload``).
"""
import collections.abc
import errno
import functools
import hashlib
import logging
import os
import stat
import threading
import time
import weakref

from . import _core
from . import recall_cache
from . import plasma
from . import serialize
from .exceptions import (
    BrainClientDisconnectedError,
    BrainError,
    BrainSerializationError,
    BrainLimitError,
    BrainNameError,
    BrainNameNotExistError,
    BrainNamespaceNameError,
    BrainNamespaceNotExistError,
    BrainNamespaceRemoveDefaultError,
    BrainOptionError,
    BrainSnapshotError,
    BrainStoreDestroyedError,
    BrainValueError,
    BrainValueTypeError,
    as_learn_error,
)

__all__ = ["Brain", "DEFAULT_STORE", "DEFAULT_NAMESPACE"]

log = logging.getLogger("brain_plasma")

DEFAULT_STORE = "default"
DEFAULT_NAMESPACE = "default"
# the capacity of a store created without a size: libbrain's default
# (BRAIN_DEFAULT_CAPACITY, 256 MiB), the same as `brain create` and `brain
# serve`, so a store is the same whichever process creates it first.
# Capacity is a limit, not an allocation (docs/python.md, "Sizes").
DEFAULT_SIZE = _core.DEFAULT_CAPACITY
_MISSING = object()
_CACHE_MISS = recall_cache._MISS
_loads = serialize.loads
_perf = time.perf_counter
_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")  # redis_brain.py


# One store handle per store file per process, shared by every Brain on it:
# a handle takes a slot of the store's process table, and a Dash callback
# that builds a Brain per request must not open the store each time.
# resolved path -> (weak reference to the Store, (st_dev, st_ino) at open)
_handles = {}
_handles_lock = threading.Lock()


def _reset_handles_lock():
    global _handles_lock
    _handles_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_handles_lock)


def _file_id(path):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _open_store(store, create, capacity):
    """The process's handle on STORE, opened when there is none (or when
    the file was replaced since: destroyed and created again)."""
    path = _core.resolve(store)
    with _handles_lock:
        entry = _handles.get(path)
        if entry is not None:
            s = entry[0]()
            if s is not None and not s.closed and entry[1] == _file_id(path):
                return s, True
        s = _core.Store(store, create=create, capacity=capacity)
        _handles[s.path] = (weakref.ref(s), _file_id(s.path))
        return s, False


def _forget_store(path, close=True):
    with _handles_lock:
        entry = _handles.pop(path, None)
    s = entry[0]() if entry else None
    if s is not None:
        recall_cache.drop_store(s)
        if close:
            s.close()


def _grow(client, size):
    """Grows the store of CLIENT to SIZE bytes when it is smaller; never
    shrinks it.  Growing only raises a limit: nothing is allocated.  Another
    process may grow it at the same moment to a smaller size, so the
    capacity is read again until it is at least SIZE."""
    want = size & ~63  # the store's block unit, as brain_resize rounds
    for _ in range(8):
        cap = client.stats()["capacity"]
        if cap >= want:
            return
        client.resize(size)
        log.info("grew store %s from %s to %s: Brain(size=%d) asked for more "
                 "than its capacity", client.path, _core.format_size(cap),
                 _core.format_size(want), size)


def _size_bytes(size, what="size"):
    if isinstance(size, str):
        return _core.parse_size(size)
    if isinstance(size, bool) or not isinstance(size, int):
        raise BrainValueError(
            "%s must be a number of bytes (int) or a string such as '50MB'; got %s %r"
            % (what, type(size).__name__, size)
        )
    if size <= 0:
        raise BrainValueError("%s must be positive; got %d bytes" % (what, size))
    if size > _core.MAX_CAPACITY:
        # checked here: the C call takes 64 bits, and 2**64 + 10 MB would
        # silently become 10 MB
        raise BrainValueError("%s of %d bytes is larger than the limit of %d bytes (1 TiB)"
                              % (what, size, _core.MAX_CAPACITY))
    return size


# The rules for names and namespaces are libbrain's (src/name.c); every
# Store call checks its arguments with them and raises BrainNameTypeError,
# BrainNameLengthError, BrainNameError or BrainNamespaceNameError, so a
# method here checks a name itself (_check_name, one C call) only before
# work the store does not do: encoding a value, or waiting.
_check_name = _core.check_name


def _check_namespace(namespace):
    _core.check_namespace(namespace)
    if namespace == "all":
        raise BrainNamespaceNameError(
            "'all' is reserved (names(namespace='all') lists every namespace); "
            "choose another namespace name"
        )
    return namespace


def _missing(exc):
    """EXC with what to do added to the library's sentence."""
    new = BrainNameNotExistError(
        "%s: it was never learned, was forgotten, or expired; brain.names() "
        "lists the names there, brain.get(name, default) does not raise" % exc)
    new.code, new.errname = exc.code, exc.errname
    return new


def _rebuild_failed(name, what, exc):
    return BrainSerializationError(
        "cannot recall %r: its %s value could not be rebuilt in this "
        "process (%s: %s). Import the modules that define its classes "
        "here, or store it as plain data"
        % (name, what, type(exc).__name__, exc))


def _decode(name, tag, buf, safe):
    """serialize.decode, with a failure to unpickle named for what it is."""
    try:
        return serialize.decode(tag, buf, safe)
    except BrainError:
        raise
    except Exception as exc:  # the reader lacks a class, a module, ...
        raise _rebuild_failed(
            name, _core.type_name(tag) if tag >= 0 else "pickle", exc) from exc


def _learn_errors(learn):
    """A failed learn raises its error as an instance of
    BrainUpdateNameError (the name had a value) or BrainLearnNameError
    (brain-plasma 0.3.3's names) too; bad names and a disconnected Brain
    raise as they are."""
    @functools.wraps(learn)
    def wrapper(self, *args, **kw):
        try:
            return learn(self, *args, **kw)
        except (BrainNameError, BrainNamespaceNameError, BrainClientDisconnectedError):
            raise
        except BrainError as exc:
            name = kw.get("name", args[1] if len(args) > 1 else None)
            try:
                updating = isinstance(name, str) and self._c().exists(self.namespace, name)
            except BrainError:
                updating = False
            new = as_learn_error(exc, updating)
            raise new.with_traceback(exc.__traceback__) from exc.__cause__
    return wrapper


def metadata_id(namespace, name):
    """The 20-byte id brain-plasma 0.3.3 gave a name's metadata object:
    the namespace's UTF-8 bytes then a BLAKE2b digest of the name filling
    the rest (a digest of both when the namespace has 20 bytes or more)."""
    ns = namespace.encode("utf-8")
    if 0 < len(ns) < _core.OBJECT_ID_SIZE:
        return ns + hashlib.blake2b(name.encode("utf-8"),
                                    digest_size=_core.OBJECT_ID_SIZE - len(ns)).digest()
    return hashlib.blake2b(ns + b"\x00" + name.encode("utf-8"),
                           digest_size=_core.OBJECT_ID_SIZE).digest()


def _with_ids(info):
    """INFO with brain-plasma 0.3.3's metadata keys added: value_id (the
    value's object id) and metadata_id."""
    info["value_id"] = info["object_id"]
    info["metadata_id"] = metadata_id(info["namespace"], info["name"])
    return info


_TTL_MAX = 100 * 365 * 24 * 3600  # seconds: the library's limit, a century


def _ttl_ms(ttl):
    if ttl is None:
        return 0
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not 0 < ttl <= _TTL_MAX:
        raise BrainValueError(
            "ttl is a positive number of seconds, at most %d (a century); got %r"
            % (_TTL_MAX, ttl))
    return max(1, int(round(ttl * 1000)))


def _check_version(v, what):
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 2 ** 64:
        raise BrainValueError("%s is a version number, an int from 0 to 2**64-1 (0: absent); "
                              "got %r" % (what, v))
    return v


def _store_arg(path):
    """A store given as str or os.PathLike (pathlib.Path), as a str."""
    if path is None:
        return None
    try:
        p = os.fspath(path)
    except TypeError:
        raise BrainValueError("store path is a str or os.PathLike (a bare name or an "
                              "absolute path); got %s %r" % (type(path).__name__, path)) from None
    if isinstance(p, bytes):
        p = os.fsdecode(p)
    return p


def _check_serializer(serializer):
    if serializer not in ("pickle", "safe"):
        raise BrainValueError(
            "serializer is 'pickle' or 'safe'; got %r" % (serializer,))


def _check_lock_timeout(t):
    if t is None:
        return None
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 <= t <= 1e9:
        raise BrainValueError(
            "lock_timeout is seconds from 0 to 1e9, or None (wait for ever); got %r" % (t,))
    return float(t)


class _ValuesView(collections.abc.ValuesView):
    """brain.values(): each value recalled when the iteration reaches it.
    A name forgotten (or expired) by any process after the names were
    listed is skipped, not an error."""

    __slots__ = ()

    def __iter__(self):
        for _, value in self._mapping._recalled():
            yield value

    def __contains__(self, value):
        for v in self:
            if v is value or v == value:
                return True
        return False


class _ItemsView(collections.abc.ItemsView):
    """brain.items(): (name, value) pairs, each value recalled when the
    iteration reaches it; names forgotten since the listing are skipped."""

    __slots__ = ()

    def __iter__(self):
        return self._mapping._recalled()

    def __contains__(self, item):
        try:
            name, value = item
        except (TypeError, ValueError):
            return False
        if not isinstance(name, str):
            return False
        try:
            v = self._mapping.recall(name)
        except (BrainNameNotExistError, BrainNameError):
            return False
        return v is value or v == value


class Brain(collections.abc.MutableMapping):
    """A named, shared-memory object store (the brain-plasma API).

    A Brain is a MutableMapping of names (str) to values over its
    namespace: ``brain[name]``, ``brain[name] = v``, ``del brain[name]``,
    ``name in brain``, ``len(brain)`` and iteration (the names, sorted).
    ``keys()``, ``values()`` and ``items()`` are views: nothing is recalled
    until the iteration reaches a value, and each iteration lists the
    names afresh.  Where Brain's own methods differ from a dict's, Brain's
    stay: ``clear()`` returns how many names it forgot, ``update()`` stores
    everything at once (learn_many), ``setdefault()`` is atomic, and two
    Brains compare equal only when they are the same object (comparing
    contents would recall every value); a Brain stays hashable.

    Parameters:
        path: the store: a bare name (``"app1"`` means
            ``/dev/shm/brain-app1``) or an absolute path (a file on disk is
            persistent).  None means the default store, ``"default"``.
            A ``redis://``, ``rediss://`` or ``unix://`` URL gives the same
            API on a Redis server (a RedisBrain, docs/redis.md).
        start_process: True creates the store when it is missing and attaches
            to it when it exists; it never wipes data.  False requires the
            store to exist (BrainStoreNotFoundError otherwise).
        size: the store's capacity in bytes (or a string such as
            ``"1GB"``).  A store this call creates gets it (None: the
            default, 256 MiB); an existing smaller store is grown to it
            (logged), a larger one is never shrunk.  Capacity is a limit,
            not an allocation: memory is used as values arrive, so a large
            size costs nothing until it is filled.
        namespace: the namespace this Brain's names live in.
        serializer: "pickle" (default) stores any picklable value; "safe"
            never unpickles: it stores bytes, str, NumPy arrays and JSON
            values (dicts, lists, numbers, ...; tuples come back as lists)
            and refuses to recall pickled values.  Use it where the
            processes that write the store are not trusted: unpickling runs
            code chosen by the writer.
        pack_strings: True (default) stores the str columns of pandas
            objects (object dtype, string[python]) packed: recalled several
            times faster, identical (see docs/python.md).  False writes
            plain pickles, for readers without this version of brain_plasma.
        recall_cache: True (default) keeps frames whose decoding is costly
            and hands a shallow copy of one to a recall of the same version
            again (see brain_plasma.recall_cache); False decodes every time.
        lock_timeout: seconds a call that changes the store waits for the
            writers' lock (held by another process's write, resize or
            repair) before raising BrainLockTimeoutError, whose message names
            the holder's pid and whether it is alive, stopped or gone;
            None waits for ever.  Default 60.  The wait releases the GIL and
            Ctrl-C ends it.  Reads and stats() never wait for the lock.
            One setting per process and store (Brains on the same store
            share one handle): the last one set wins.
    """

    def __new__(cls, path=None, *args, **kwargs):
        # a redis://, rediss:// or unix:// URL: the same API on Redis
        if cls is Brain and isinstance(path, str) and path.startswith(_REDIS_SCHEMES):
            from .redis_brain import RedisBrain
            cls = RedisBrain
        return object.__new__(cls)

    def __init__(self, path=None, start_process=True, size=None,
                 namespace=DEFAULT_NAMESPACE, serializer="pickle", pack_strings=True,
                 recall_cache=True, lock_timeout=60.0):
        _check_serializer(serializer)
        self.serializer = serializer
        self._safe = serializer == "safe"
        self.pack_strings = bool(pack_strings)
        self.recall_cache = bool(recall_cache)
        self._lock = threading.RLock()
        self._client = None
        self._plasma = None
        self._destroyed = False
        self._store = DEFAULT_STORE if path is None else _store_arg(path)
        self._size = None if size is None else _size_bytes(size)
        self._lock_timeout = _check_lock_timeout(lock_timeout)
        self.namespace = _check_namespace(namespace)
        self.path = _core.resolve(self._store)
        self._connect(create=bool(start_process))

    # ---- connection ------------------------------------------------------

    def _connect(self, create):
        client, shared = _open_store(self._store, create, self._size or DEFAULT_SIZE)
        client.set_lock_timeout(self._lock_timeout)
        if self._size is not None:
            _grow(client, self._size)
        self._client = client
        self.path = client.path
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s store %s (capacity %d bytes, asked %s)",
                      "reusing this process's handle on" if shared else "opened",
                      self.path, client.stats()["capacity"], self._size)

    def _c(self):
        c = self._client
        if c is None and self._destroyed:
            raise BrainStoreDestroyedError(
                "this Brain destroyed store %r with dead(); call brain.start() "
                "to create it again" % (self.path,))
        if c is None:
            raise BrainClientDisconnectedError(
                "this Brain (store %r) is disconnected: it was put to sleep() "
                "or destroyed with dead(). Call brain.wake_up() or "
                "brain.start() first" % (self.path,)
            )
        return c

    @property
    def lock_timeout(self):
        """Seconds a write waits for the writers' lock (None: for ever)."""
        return self._lock_timeout

    @lock_timeout.setter
    def lock_timeout(self, t):
        self._lock_timeout = _check_lock_timeout(t)
        if self._client is not None:
            self._client.set_lock_timeout(self._lock_timeout)

    @property
    def client(self):
        """A Plasma client (brain_plasma.plasma.PlasmaClient) on this
        Brain's store: pyarrow.plasma's API, and a value's id works with it:
        ``brain.client.get(plasma.ObjectID(brain.metadata(name)["value_id"]))``."""
        c = self._c()
        p = self._plasma
        if p is None or p._store is not c or p._safe != self._safe:
            p = self._plasma = plasma._client_for(c, self._safe)
        return p

    @property
    def bytes(self):
        """The store's capacity in bytes."""
        return self.size()

    @property
    def mb(self):
        """The store's capacity in megabytes, e.g. ``'268 MB'``."""
        return "%d MB" % round(self.size() / 1_000_000)

    def sleep(self):
        """Detaches this Brain from the store.  Use wake_up() before using
        it again; values already recalled stay valid.  (The process's handle
        on the store closes when no Brain and no recalled value uses it.)"""
        with self._lock:
            if self._client is not None:
                self._client = None
                log.debug("detached from %s", self.path)

    def wake_up(self):
        """Re-attaches to the store after sleep().  The store must exist."""
        with self._lock:
            if self._client is None:
                self._connect(create=False)
        return self

    def start(self, path=None, size=None):
        """Creates (or attaches to) the store at PATH (default: this Brain's)
        with capacity SIZE, and connects this Brain to it.  An existing store
        is attached to, never restarted or wiped; one smaller than SIZE is
        grown to it (never shrunk)."""
        with self._lock:
            if size is not None:
                self._size = _size_bytes(size)
            if path is not None:
                self._store = _store_arg(path)
            self._client = None
            self._connect(create=True)
            self._destroyed = False
        return self

    def dead(self, i_am_sure=False):
        """Destroys the store: every name in every namespace, for every
        process.  Does nothing unless ``i_am_sure=True``.  Returns True when
        the store was destroyed.  The store is marked destroyed before its
        file is removed: every other Brain on it, in this process or another,
        raises BrainStoreDestroyedError (naming this process's pid) on its
        next call instead of writing into a file no one would see again;
        start() creates the store anew.  Values already recalled stay
        valid."""
        if not i_am_sure:
            log.warning("dead() destroys store %s for every process; call "
                        "dead(i_am_sure=True) to do it", self.path)
            return False
        with self._lock:
            self._client = None
            self._destroyed = True
            try:
                # marks the store destroyed (every handle on it, in this
                # process or another, refuses its next call naming this pid)
                # and unlinks it
                _core.destroy(self.path)
            except FileNotFoundError:
                pass
            # other Brains of this process keep the handle: their next call
            # raises BrainStoreDestroyedError, which says to start()
            _forget_store(self.path, close=False)
            log.info("destroyed store %s", self.path)
        return True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.sleep()
        return False

    def __repr__(self):
        c = self._client
        if c is None:
            return "<Brain path=%r namespace=%r asleep>" % (self.path, self.namespace)
        try:
            st = c.stats()
            n = len(c.names(self.namespace))
        except Exception:
            return "<Brain path=%r namespace=%r>" % (self.path, self.namespace)
        return "<Brain path=%r namespace=%r names=%d used=%s capacity=%s>" % (
            self.path, self.namespace, n, _core.format_size(st["used"]),
            _core.format_size(st["capacity"]))

    # ---- storing ---------------------------------------------------------

    @_learn_errors
    def learn(self, thing, name, description=None, *, ttl=None, if_version=None,
              strings=None):
        """Stores THING under NAME in this Brain's namespace, replacing any
        value the name had.  Every process sees the new value at once.
        (brain-plasma 0.3.3 took ``learn(name, thing)``; keywords,
        ``learn(name="x", thing=v)``, work with both.)

        description: a short text kept with the value (see info()).
        ttl: seconds after which the name expires.
        if_version: store only if the name's current version is this
            (0 = the name must be absent); BrainVersionConflictError if not.
        strings: "arrow" stores the Python str columns of a DataFrame or
            Series in Arrow (needs pyarrow): they recall zero-copy, and
            come back as `str` columns of pyarrow storage (object columns
            of str become `str`, missing values NaN); THING itself is not
            changed.  None (default) stores the frame as it is.
        Returns the value's version.  Raises BrainSerializationError (the
        value cannot be pickled), BrainStoreFullError (it does not fit); in
        both cases nothing stored changes."""
        _check_name(name)           # before the value is encoded
        c = self._c()
        if strings is not None:
            if strings != "arrow":
                raise BrainValueError(
                    "strings is None (store str columns as they are) or 'arrow' "
                    "(store them in Arrow, zero-copy on recall); got %r" % (strings,))
            thing = serialize.arrow_strings(thing)
        kind, payload = serialize.encode(thing, name, self._safe, self.pack_strings)
        kw = dict(desc=description, ttl_ms=_ttl_ms(ttl),
                  if_version=_check_version(if_version, "if_version"))
        recall_cache.drop(c, self.namespace, name)
        if kind == "array":
            typestr, shape, data = payload
            try:
                return c.put_array(self.namespace, name, typestr, shape, data, **kw)
            except BrainValueTypeError:  # a dtype the layout does not know
                if self._safe:
                    raise
                kind, payload = "pickle", serialize.pickled(thing, name)
        if kind == "pickle":
            stream, buffers = payload
            return c.put_pickle(self.namespace, name, stream, buffers,
                                hint=serialize.hint_of(thing), **kw)
        return c.put(self.namespace, name, payload, type=serialize.TYPE_OF[kind], **kw)

    def __setitem__(self, name, thing):
        self.learn(thing, name)

    def learn_many(self, mapping, *, ttl=None):
        """Stores every (name, value) of MAPPING at once: all or nothing, and
        a concurrent recall_many sees all of them or none.  Returns
        {name: version}."""
        items = list(mapping.items())
        c = self._c()
        ttl_ms = _ttl_ms(ttl)
        rows = []
        for name, thing in items:
            _check_name(name)
            kind, payload = serialize.encode(thing, name, self._safe, self.pack_strings)
            if kind == "array":
                try:
                    packed = serialize.pack(kind, payload)
                except BrainValueTypeError:
                    if self._safe:
                        raise
                    kind, payload = "pickle", serialize.pickled(thing, name)
                    packed = serialize.pack(kind, payload, serialize.hint_of(thing))
            else:
                packed = serialize.pack(kind, payload, serialize.hint_of(thing))
            rows.append((self.namespace, name, packed, serialize.TYPE_OF[kind],
                         None, ttl_ms, None))
        versions = c.put_many(rows)
        return {name: v for (name, _), v in zip(items, versions)}

    def update(self, other=(), **kw):
        """Like dict.update: learn_many of OTHER and the keywords."""
        d = dict(other)
        d.update(kw)
        if d:
            self.learn_many(d)

    def setdefault(self, name, default=None):
        """The value of NAME; when absent, stores DEFAULT (only if still
        absent, atomically) and returns it."""
        from .exceptions import BrainVersionConflictError

        try:
            return self.recall(name)
        except BrainNameNotExistError:
            pass
        try:
            self.learn(default, name, if_version=0)
            return default
        except BrainVersionConflictError:
            return self.recall(name)

    # ---- reading ---------------------------------------------------------

    def recall(self, name, copy=False):
        """The value stored under NAME.

        Large NumPy arrays and pandas objects come back zero-copy: they point
        into the store, read-only (writing raises ValueError), and keep the
        stored value alive while they live even if the name is replaced or
        forgotten.  copy=True returns a private, writable copy instead.
        A frame whose decoding is costly is kept by this process, and a
        recall of the same version again returns a shallow copy of it
        (brain_plasma.recall_cache; Brain(recall_cache=False) turns it off).
        Raises BrainNameNotExistError (a KeyError) when NAME holds nothing."""
        c = self._client
        if not copy and c is not None and not self._safe:
            # small bytes, str and in-band pickles in one C call; it hands
            # back the store itself for anything else (nothing unpickled)
            ns = self.namespace
            try:
                value = c.recall_small(ns, name, _loads)
            except Exception as exc:  # the stream's loads failed
                raise _rebuild_failed(name, "pickle", exc) from exc
            if value is not c:
                return value
            if self.recall_cache and type(name) is str:
                value = recall_cache.get(c, ns, name)
                if value is not _CACHE_MISS:
                    return value
        c = self._c()
        ns = self.namespace
        caching = not copy and self.recall_cache and not self._safe
        # a value fetched as a copy (bytes) carries no version: the name's
        # version before and after the fetch, when equal, is the copy's
        # (versions only grow, and every put makes a new one)
        before = c.version_of(ns, name) if caching else 0
        try:
            if copy:
                tag, buf = c.read(ns, name, writable=True)
            else:
                try:
                    tag, buf = c.fetch(ns, name)
                except BrainLimitError as exc:
                    if exc.code != _core.EPINS:
                        raise
                    # this process pins as many values as it may: copy instead
                    log.debug("pin table full; recalling %r as a copy", name)
                    tag, buf = c.read(ns, name)
        except BrainNameNotExistError as exc:
            raise _missing(exc) from None
        if not caching or tag != _core.TYPE_PICKLE:
            return _decode(name, tag, buf, self._safe)
        t0 = _perf()
        value = _decode(name, tag, buf, False)
        dt = _perf() - t0
        if type(buf) is _core.View:
            version = buf.version
        elif type(buf) is bytes and before and c.version_of(ns, name) == before:
            version = before
        else:
            return value
        return recall_cache.offer(c, ns, name, version, value, dt, len(buf))

    def __getitem__(self, name):
        return self.recall(name)

    def get(self, name, default=None):
        """The value of NAME, or DEFAULT when it holds nothing."""
        try:
            return self.recall(name)
        except BrainNameNotExistError:
            return default

    def recall_many(self, names, copy=False):
        """{name: value} for NAMES, read from one consistent snapshot: a
        concurrent learn_many is seen whole or not at all."""
        names = list(names)
        c = self._c()
        views = c.get_many([(self.namespace, n) for n in names])
        out = {}
        for n, v in zip(names, views):
            if copy:
                out[n] = _decode(n, v.type, bytearray(v), self._safe)
            else:
                out[n] = _decode(n, v.type, v, self._safe)
        return out

    def exists(self, name):
        """True when NAME holds an (unexpired) value."""
        return self._c().exists(self.namespace, name)

    def __contains__(self, name):
        if not isinstance(name, str):
            return False
        return self.exists(name)

    # ---- removing --------------------------------------------------------

    def forget(self, name):
        """Deletes NAME.  Arrays and frames already recalled stay valid.
        Raises BrainNameNotExistError when NAME holds nothing."""
        _check_name(name)           # before the cache is asked (a dict key)
        c = self._c()
        recall_cache.drop(c, self.namespace, name)
        try:
            c.delete(self.namespace, name)
        except BrainNameNotExistError as exc:
            raise _missing(exc) from None

    def __delitem__(self, name):
        self.forget(name)

    def pop(self, name, default=_MISSING):
        """Recalls NAME, forgets it, and returns the value (or DEFAULT when
        absent; BrainNameNotExistError when absent and no default)."""
        try:
            value = self.recall(name)
        except BrainNameNotExistError:
            if default is _MISSING:
                raise
            return default
        try:
            self.forget(name)
        except BrainNameNotExistError:
            pass
        return value

    def clear(self):
        """Forgets every name of this Brain's namespace; returns how many."""
        return self._c().ns_clear(self.namespace)

    # ---- listing ---------------------------------------------------------

    def names(self, namespace=None, *, namespaces=None):
        """The names of this Brain's namespace, or of NAMESPACE, or of every
        namespace with ``namespace="all"``; sorted.  (``namespaces=`` is
        accepted for ``namespace=``, as brain-plasma 0.3.3's README wrote it.)"""
        if namespaces is not None:
            if namespace is not None:
                raise BrainValueError("give namespace= or namespaces=, not both")
            namespace = namespaces
        c = self._c()
        if namespace == "all":  # Plasma's objects (plasma.NAMESPACE) are not names
            return c.names(None, all=True, exclude=plasma.NAMESPACE)
        ns = self.namespace if namespace is None else _check_namespace(namespace)
        return c.names(ns)  # sorted by the C library

    def keys(self):
        """A view of the namespace's names: iterating it lists them (sorted)
        afresh each time; ``in`` asks the store.  ``names()`` returns a list."""
        return collections.abc.KeysView(self)

    def __iter__(self):
        return iter(self.names())

    def __len__(self):
        return self._c().count(self.namespace)  # expired names excluded, none listed

    def values(self):
        """A view of the namespace's values: each is recalled when the
        iteration reaches it (none is held by the view), names forgotten
        meanwhile are skipped.  ``recall_many(brain.names())`` reads them
        all from one consistent snapshot instead."""
        return _ValuesView(self)

    def items(self):
        """A view of (name, value) pairs, each value recalled when the
        iteration reaches it (as values())."""
        return _ItemsView(self)

    def _recalled(self):
        """(name, value) for the names listed now, each recalled in turn;
        one forgotten or expired since the listing is skipped."""
        for name in self.names():
            try:
                value = self.recall(name)
            except BrainNameNotExistError:
                continue
            yield name, value

    def popitem(self):
        """Forgets some name and returns (name, value): the first name in
        sorted order that still holds a value.  BrainNameNotExistError (a
        KeyError) when the namespace is empty."""
        for name in self.names():
            try:
                return name, self.pop(name)
            except BrainNameNotExistError:
                continue            # forgotten by another process meanwhile
        raise BrainNameNotExistError(
            "popitem(): namespace %r of store %r holds no names"
            % (self.namespace, self.path))

    # a Brain is a handle: equal only to itself, and hashable (Mapping's
    # __eq__ would recall every value of both, and would unset __hash__)
    __eq__ = object.__eq__
    __ne__ = object.__ne__
    __hash__ = object.__hash__

    def _listing(self):
        return sorted((_with_ids(d) for d in self._c().list(self.namespace)),
                      key=lambda d: d["name"])

    def info(self, name):
        """Metadata of NAME: namespace, name, type, type_name, size (bytes),
        version, created/updated/expires (Unix seconds), object_id (20 bytes,
        new for every value; also as value_id, the name brain-plasma 0.3.3
        used), metadata_id (0.3.3's id of the name) and description."""
        try:
            return _with_ids(self._c().meta(self.namespace, name))
        except BrainNameNotExistError as exc:
            raise _missing(exc) from None

    def metadata(self, *names, output="dict"):
        """info() of NAMES (all names of the namespace when none are given),
        as {name: info} (output="dict") or [info] (output="list").  One name
        gives that name's info dict (as brain-plasma 0.3.3), whatever OUTPUT.
        Each dict has 0.3.3's keys too: name, value_id, description,
        metadata_id, namespace."""
        if output not in ("dict", "list"):
            raise BrainOptionError("output is 'dict' or 'list'; got %r" % (output,))
        if len(names) == 1:
            return self.info(names[0])
        if names:
            infos = [self.info(n) for n in names]
        else:
            infos = self._listing()
        if output == "list":
            return infos
        return {d["name"]: d for d in infos}

    def knowledge(self):
        """info() of every name of the namespace, as a list."""
        return self._listing()

    def object_id(self, name):
        """The plasma.ObjectID of NAME's current value (``.binary()``: its
        20 bytes); ``brain.client.get(brain.object_id(name))`` is the value."""
        return plasma.ObjectID(self.info(name)["object_id"])

    def object_map(self):
        """{name: plasma.ObjectID} for the namespace."""
        return {d["name"]: plasma.ObjectID(d["object_id"]) for d in self._listing()}

    def object_ids(self):
        """{name: plasma.ObjectID} for the namespace (as object_map)."""
        return self.object_map()

    def ids(self):
        """The plasma.ObjectIDs of the namespace's values."""
        return [plasma.ObjectID(d["object_id"]) for d in self._listing()]

    # ---- size ------------------------------------------------------------

    def size(self):
        """The store's capacity in bytes."""
        return self._c().stats()["capacity"]

    def used(self):
        """Bytes in use: values, the name index and the store's tables."""
        return self._c().stats()["used"]

    def free(self):
        """Bytes free for new values."""
        return self._c().stats()["free"]

    def stats(self):
        """The store's statistics (capacity, used, free, names, ...)."""
        return self._c().stats()

    def resize(self, size):
        """Changes the store's capacity to SIZE bytes (or '1GB').  Shrinking
        below what is stored raises BrainStoreFullError and changes nothing."""
        size = _size_bytes(size)
        self._c().resize(size)
        self._size = size
        log.info("resized store %s to %d bytes", self.path, size)

    # ---- namespaces ------------------------------------------------------

    def set_namespace(self, namespace=None):
        """Switches this Brain to NAMESPACE (None: "default"); returns it."""
        self.namespace = (DEFAULT_NAMESPACE if namespace is None
                          else _check_namespace(namespace))
        return self.namespace

    def namespaces(self):
        """The namespaces that hold names, plus "default" and this Brain's."""
        found = {d["name"] for d in self._c().namespaces()}
        found.discard(plasma.NAMESPACE)  # Plasma's objects
        found.add(DEFAULT_NAMESPACE)
        found.add(self.namespace)
        return sorted(found)

    def remove_namespace(self, namespace=None):
        """Forgets every name of NAMESPACE (None: this Brain's) and returns
        how many.  When it is this Brain's namespace, the Brain switches to
        "default".  The default namespace cannot be removed."""
        ns = self.namespace if namespace is None else _check_namespace(namespace)
        if ns == DEFAULT_NAMESPACE:
            raise BrainNamespaceRemoveDefaultError(
                "the 'default' namespace cannot be removed; use "
                "brain.clear() in it to forget its names"
            )
        c = self._c()
        if ns != self.namespace and ns not in {d["name"] for d in c.namespaces()}:
            raise BrainNamespaceNotExistError(
                "namespace %r does not exist in store %r (namespaces: %s)"
                % (ns, self.path, ", ".join(self.namespaces()))
            )
        removed = c.ns_clear(ns)
        if ns == self.namespace:
            self.namespace = DEFAULT_NAMESPACE
        return removed

    # ---- versions, expiry, waiting --------------------------------------

    def version(self, name):
        """The version of NAME's current value; 0 when it holds nothing (so
        ``learn(v, name, if_version=brain.version(name))`` is a
        compare-and-set)."""
        try:
            return self._c().meta(self.namespace, name)["version"]
        except BrainNameNotExistError:
            return 0

    def wait(self, name, timeout=None, after_version=None):
        """Blocks until NAME changes (is stored, replaced, forgotten or
        expires) and returns its new version (0 when absent).

        after_version: wait for a version other than this one (default: the
        current version, i.e. the next change).  timeout: seconds, None
        waits forever; BrainTimeoutError when it passes.  Does not poll."""
        _check_name(name)           # None would wait for any name
        if after_version is None:
            after_version = self.version(name)
        _check_version(after_version, "after_version")
        if timeout is None:
            ms = -1
        else:
            if (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                    or not 0 <= timeout <= 1e9):
                raise BrainValueError(
                    "timeout is seconds from 0 to 1e9, or None (wait for ever); got %r"
                    % (timeout,))
            ms = int(timeout * 1000)
        return self._c().wait(self.namespace, name, after_version, ms)

    def expire(self):
        """Deletes expired names now (readers already skip them); returns
        how many."""
        return self._c().expire()

    def check(self):
        """Validates the store; returns the problems found (empty: sound)."""
        return self._c().check()

    # ---- persistence -------------------------------------------------------

    def snapshot_path(self):
        """The standard snapshot file of this store (docs/SNAPSHOT.md), the
        one `brain save`/`brain load` use too, under
        ``$XDG_DATA_HOME/brain-plasma`` (``XDG_DATA_HOME`` defaults to
        ``~/.local/share``): ``NAME.snapshot`` for a store given by bare
        name, ``path/P.snapshot`` for any other store path P, with ``%``
        written ``%25`` and ``/`` written ``%2F``, so two stores never share
        one.  The file of older versions (the last path component) is used
        when the new one does not exist and that file was written by, or
        loaded whole into, this store."""
        base = os.environ.get("XDG_DATA_HOME") or os.path.join(
            os.path.expanduser("~"), ".local", "share")
        top = os.path.join(base, "brain-plasma")
        leaf = os.path.basename(self.path)
        # a bare name's store (in /dev/shm, or $TMPDIR on macOS) -> the name
        if leaf.startswith("brain-") and os.path.dirname(self.path) == os.path.dirname(
                _core.resolve("x")):
            return os.path.join(top, leaf[len("brain-"):] + ".snapshot")
        key = self.path.replace("%", "%25").replace("/", "%2F")
        new = os.path.join(top, "path", key + ".snapshot")
        old = os.path.join(top, leaf + ".snapshot")
        if not os.path.lexists(new) and os.path.isfile(old) and not os.path.islink(old):
            try:
                if self._c().snapshot_info(old)[1]:
                    return old
            except BrainError:
                pass
        return new

    @staticmethod
    def _snapshot_dirs(path, make=True):
        """Creates (with MAKE) the default snapshot directories (private),
        and refuses any that is a symbolic link or not this user's: each is
        created (mkdir) and opened (O_NOFOLLOW) under its parent's
        descriptor, and checked by fstat on the directory opened, not by a
        look at the name first.  The base (``XDG_DATA_HOME``) may not be
        writable by every user without the sticky bit, where anyone could
        swap them.  Without MAKE (a load) a missing directory is left for
        the load to report."""
        top = os.path.dirname(path)
        dirs = [os.path.dirname(top), top] if os.path.basename(top) == "path" else [top]
        base = os.path.dirname(dirs[0])
        try:
            if make:
                os.makedirs(base, mode=0o700, exist_ok=True)
            fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError:
            if not make:
                return
            raise BrainSnapshotError("cannot use %r for snapshots: it does not exist" % base)
        except OSError as e:
            raise BrainSnapshotError("cannot use %r for snapshots: %s" % (
                base, e.strerror)) from None
        try:
            st = os.fstat(fd)
            if st.st_mode & 0o002 and not st.st_mode & stat.S_ISVTX:
                raise BrainSnapshotError(
                    "%r is writable by every user (without the sticky bit): snapshot "
                    "directories there could be replaced by anyone; set XDG_DATA_HOME "
                    "elsewhere or pass path=" % base)
            for d in dirs:
                name = os.path.basename(d)
                try:
                    if make:
                        os.mkdir(name, 0o700, dir_fd=fd)
                except FileExistsError:
                    pass
                except OSError as e:
                    raise BrainSnapshotError("cannot create %r: %s" % (d, e.strerror)) from None
                try:
                    sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW |
                                  os.O_CLOEXEC, dir_fd=fd)
                except FileNotFoundError:
                    if make:
                        raise BrainSnapshotError("cannot use %r: it vanished" % d) from None
                    return
                except OSError as e:
                    if e.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                        raise BrainSnapshotError(
                            "snapshot directory %r is not a directory (a symbolic link or "
                            "another file); snapshots are never written through links"
                            % d) from None
                    raise BrainSnapshotError("cannot use %r: %s" % (d, e.strerror)) from None
                os.close(fd)
                fd = sub
                st = os.fstat(fd)
                if st.st_uid != os.geteuid() or st.st_mode & 0o022:
                    raise BrainSnapshotError(
                        "snapshot directory %r is owned by uid %d or writable by others; "
                        "refusing to use it (pass path=)" % (d, st.st_uid))
        finally:
            os.close(fd)

    def save(self, path=None):
        """Writes every name of every namespace (values, namespaces,
        descriptions, types, expiries) to a snapshot file, by default
        :meth:`snapshot_path`.  The file is written under a temporary name
        and renamed, so a crash never leaves half a snapshot.  Returns the
        file's path."""
        if path is None:
            path = self.snapshot_path()
            self._snapshot_dirs(path)
        path = os.fspath(path)
        n = self._c().snapshot_save(path)
        log.info("saved %d names of %s to %s", n, self.path, path)
        return path

    def load(self, path=None, merge=False):
        """Restores a snapshot written by :meth:`save` (or `brain save`),
        by default from :meth:`snapshot_path`.  The whole file is checked
        first; a missing, damaged or truncated file raises
        :class:`BrainSnapshotError` and changes nothing.  Without ``merge``
        the store then holds exactly the snapshot's names; with
        ``merge=True`` names the snapshot does not hold are kept.  Returns
        how many names were loaded."""
        if path is None:
            path = self.snapshot_path()
            self._snapshot_dirs(path, make=False)  # never load from another's directory
        path = os.fspath(path)
        n = self._c().snapshot_load(path, merge=bool(merge))
        log.info("loaded %d names into %s from %s", n, self.path, path)
        return n

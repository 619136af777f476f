"""pyarrow.plasma's client API on a brain-plasma store.

Arrow removed Plasma in version 12.  Code written against ``pyarrow.plasma``
runs here with one changed import::

    from brain_plasma import plasma          # was: import pyarrow.plasma as plasma
    client = plasma.connect("/tmp/plasma")   # the store at that path
    oid = client.put(df)                     # an ObjectID
    client.get(oid)                          # the DataFrame, zero-copy

There is no server: ``connect`` opens the store file (start one with
``plasma_store -m SIZE -s PATH``, ``brain serve`` or ``Brain(path=...)``).

Where objects live: an object with ObjectID ``oid`` is the name
``oid.binary().hex()`` in the reserved namespace ``"__plasma__"``
(:data:`NAMESPACE`) of the store, so Brain names and Plasma objects share one
store without meeting.  A Brain value is an object too: its id
(``brain.metadata(name)["value_id"]``) works with :meth:`PlasmaClient.get`,
``get_buffers``, ``contains``, ``hash``, ``list`` and ``delete`` (which
forgets the name).  Objects are immutable, as in Plasma: a second put or
create of the same id raises :class:`PlasmaObjectExists`.

Values are stored as Brain stores them (pickle protocol 5 with out-of-band
buffers; bytes, str and NumPy arrays in plain layouts), not with Arrow's
removed serialization; what ``put`` stores, ``get`` returns.

Differences from Plasma, all documented in docs/migration.md: the store
never evicts on its own (a full store raises :class:`PlasmaStoreFull`;
:meth:`PlasmaClient.evict` deletes Plasma objects, oldest first, on
request); ``create`` hands out the object's room in the store and
``seal`` publishes it in place (writes through arrays made from the
buffer before ``seal`` still reach the object: Plasma's rule, never write
a sealed object, stands); notifications cover the objects of the reserved
namespace; ``ref_count`` counts the buffers this client holds; ``hash`` is an 8-byte
BLAKE2b digest of metadata and data.
"""
import base64
import hashlib
import json
import logging
import os
import threading
import time
import weakref

from . import _core
from . import serialize
from .exceptions import (
    BrainClientDisconnectedError,
    BrainError,
    BrainLimitError,
    BrainNameNotExistError,
    BrainStoreFullError,
    BrainStoreNotFoundError,
    BrainTimeoutError,
    BrainValueError,
    BrainValueTypeError,
    BrainVersionConflictError,
    PlasmaObjectExists,
    PlasmaObjectNonexistent,
    PlasmaStoreFull,
)

__all__ = [
    "NAMESPACE",
    "ObjectID",
    "ObjectNotAvailable",
    "PlasmaBuffer",
    "PlasmaClient",
    "PlasmaObjectExists",
    "PlasmaObjectNonexistent",
    "PlasmaStoreFull",
    "connect",
]

log = logging.getLogger("brain_plasma")

#: The namespace that holds Plasma objects (names are the ids in hex).
NAMESPACE = "__plasma__"
_ID_SIZE = _core.OBJECT_ID_SIZE  # 20
_DESC_PREFIX = "plasma-object "
_METADATA_MAX = 3000  # bytes; kept base64 in the entry's description
_WAIT_SLICE_MS = 1000  # waits are cut into slices so Ctrl-C gets through
_CONNECT_RETRIES = 50
_CONNECT_DELAY = 0.1
_DIGEST_SIZE = 8

#: What a buffer handed out by get_buffers is: a read-only memoryview over
#: the store (``bytes(buf)`` copies it; ``np.frombuffer(buf, ...)`` does not).
PlasmaBuffer = memoryview


class ObjectID:
    """The 20 bytes that name a Plasma object."""

    __slots__ = ("_id",)

    def __init__(self, object_id):
        if isinstance(object_id, ObjectID):
            object_id = object_id._id
        if not isinstance(object_id, bytes) or len(object_id) != _ID_SIZE:
            raise BrainValueError(
                "an ObjectID is %d bytes; got %s %.60r%s. Use ObjectID.from_random() "
                "for a new id or ObjectID(bytes.fromhex(text)) for a hex one"
                % (_ID_SIZE, type(object_id).__name__, object_id,
                   " (%d bytes)" % len(object_id) if isinstance(object_id, bytes) else ""))
        self._id = object_id

    @staticmethod
    def from_random():
        """A new random ObjectID (160 bits from os.urandom)."""
        return ObjectID(os.urandom(_ID_SIZE))

    def binary(self):
        """The 20 bytes of this id."""
        return self._id

    def hex(self):
        return self._id.hex()

    def __eq__(self, other):
        if isinstance(other, ObjectID):
            return self._id == other._id
        return NotImplemented

    def __ne__(self, other):
        if isinstance(other, ObjectID):
            return self._id != other._id
        return NotImplemented

    def __hash__(self):
        return hash(self._id)

    def __repr__(self):
        return "ObjectID(%s)" % self._id.hex()

    def __reduce__(self):
        return (ObjectID, (self._id,))


class ObjectNotAvailable:
    """What get() returns for an object that did not appear in time (the
    class itself, as in Plasma: ``value is plasma.ObjectNotAvailable``)."""


def _oid(value, what="object_id"):
    if isinstance(value, ObjectID):
        return value
    raise BrainValueError(
        "%s must be a plasma.ObjectID; got %s %.60r. Wrap 20 bytes with "
        "plasma.ObjectID(b) or make one with plasma.ObjectID.from_random()"
        % (what, type(value).__name__, value))


def _oids(values, what="object_ids"):
    if isinstance(values, (ObjectID, str, bytes)) or not hasattr(values, "__iter__"):
        raise BrainValueError(
            "%s is a list of plasma.ObjectID; got %s %.60r (wrap one id in a list)"
            % (what, type(values).__name__, values))
    return [_oid(v, "each of " + what) for v in values]


def _timeout(timeout_ms):
    if isinstance(timeout_ms, bool) or not isinstance(timeout_ms, int) or timeout_ms < -1:
        raise BrainValueError(
            "timeout_ms is milliseconds >= 0, or -1 to wait for ever; got %r" % (timeout_ms,))
    return timeout_ms


def _metadata_bytes(metadata):
    try:
        md = bytes(memoryview(metadata))
    except TypeError:
        raise BrainValueError(
            "metadata is bytes; got %s %.60r" % (type(metadata).__name__, metadata)) from None
    if len(md) > _METADATA_MAX:
        raise BrainValueError(
            "metadata is at most %d bytes here (it is kept with the object's "
            "entry); got %d. Store larger metadata as an object of its own"
            % (_METADATA_MAX, len(md)))
    return md


def _desc(metadata, duration):
    d = {"construct_duration": round(duration, 6)}
    if metadata:
        d["metadata"] = base64.b64encode(metadata).decode("ascii")
    return _DESC_PREFIX + json.dumps(d, separators=(",", ":"))


def _created_desc(metadata, started):
    """The description of an object made with create(): written when the
    room is reserved, so it holds the creation time; construct_duration is
    the time from there to the seal (the entry's update time)."""
    d = {"created": started}
    if metadata:
        d["metadata"] = base64.b64encode(metadata).decode("ascii")
    return _DESC_PREFIX + json.dumps(d, separators=(",", ":"))


def _parse_desc(info):
    """(metadata bytes, construct_duration) of an entry."""
    desc = info.get("description") or ""
    if info.get("namespace") != NAMESPACE or not desc.startswith(_DESC_PREFIX):
        return b"", 0.0
    try:
        d = json.loads(desc[len(_DESC_PREFIX):])
        if "created" in d:
            duration = max(0.0, float(info.get("updated", 0)) - float(d["created"]))
        else:
            duration = float(d.get("construct_duration", 0))
        return base64.b64decode(d.get("metadata", "")), round(duration, 6)
    except (ValueError, TypeError):
        return b"", 0.0


def _full(exc, oid, size):
    new = PlasmaStoreFull(
        "object %s (%d bytes) does not fit: %s. Delete objects "
        "(client.delete, client.evict) or grow the store (brain resize / "
        "Brain.resize)" % (oid.hex(), size, exc))
    new.code, new.errname = exc.code, exc.errname
    return new


class _Copy:
    """A value read as a copy (when this process cannot pin more values),
    standing in for a View: .type, .info, a buffer and release()."""

    __slots__ = ("type", "info", "data")

    def __init__(self, tag, data, info):
        self.type, self.data, self.info = tag, data, info

    def release(self):
        pass


def _buffer(view):
    return memoryview(view.data) if isinstance(view, _Copy) else memoryview(view)


class _Pending:
    """An object created and not sealed: its room in the store (a
    _core.Reservation, which is also the buffer create() returned)."""

    __slots__ = ("res", "metadata", "started", "pid")

    def __init__(self, res, metadata, started):
        self.res = res
        self.metadata = metadata
        self.started = started
        self.pid = os.getpid()

    def abort(self):
        """Gives the room back (once no buffer made from it is alive)."""
        try:
            self.res.abort()
        except BrainError:  # sealed or aborted meanwhile
            pass


class PlasmaClient:
    """A Plasma client on one store.  Make one with :func:`connect` (or use
    ``Brain.client``).  Thread-safe; usable after fork.  A client of a
    ``Brain(serializer="safe")`` never unpickles: get() of a pickled value
    raises BrainSerializationError, as the Brain's recall does."""

    def __init__(self, store, socket_name=None, safe=False):
        self._store = store
        self._safe = bool(safe)
        self._socket_name = socket_name if socket_name is not None else store.path
        self._lock = threading.RLock()
        self._pending = {}      # ObjectID -> _Pending (created, not sealed)
        self._held = {}         # ObjectID -> [View] handed out by get_buffers
        self._ids = {}          # value id bytes -> (namespace, name) of Brain values
        self._subscribed = False
        self._notes = []
        self._seen = {}
        self._ns_version = 0

    # ---- plumbing ---------------------------------------------------------

    def _c(self):
        s = self._store
        if s is None or s.closed:
            raise BrainClientDisconnectedError(
                "this plasma client (store %r) is disconnected; call "
                "plasma.connect(path) again" % (self._socket_name,))
        return s

    @property
    def store_socket_name(self):
        """The path this client was connected with."""
        return self._socket_name

    def _locate(self, oid, relist=True):
        """(namespace, name, info) of the object OID, or None.  Plasma
        objects are found by name; Brain values by their value id, through
        a cache of the store's listing refreshed on a miss (RELIST False:
        the cache only, for the checks before a put, which must not cost a
        listing of the store each)."""
        c = self._c()
        name = oid._id.hex()
        try:
            return NAMESPACE, name, c.meta(NAMESPACE, name)
        except BrainNameNotExistError:
            pass
        hit = self._ids.get(oid._id)
        if hit is not None:
            try:
                info = c.meta(*hit)
                if info["object_id"] == oid._id:
                    return hit[0], hit[1], info
            except BrainNameNotExistError:
                pass
        if not relist:
            return None
        ids = {}
        found = None
        for info in c.list(None, all=True):
            if info["namespace"] == NAMESPACE:
                continue
            ids[info["object_id"]] = (info["namespace"], info["name"])
            if info["object_id"] == oid._id:
                found = info
        self._ids = ids
        if found is not None:
            return found["namespace"], found["name"], found
        return None

    def _maybe_value_id(self, oid):
        """False when OID cannot be the id of a Brain value, so a put need
        not list the store to rule it out.  libbrain makes a value's id from
        12 bytes of its writer and the value's version (8 bytes, little
        endian, src/ops.c); a random id's last 8 bytes read as a version far
        beyond the store's."""
        version = int.from_bytes(oid._id[12:20], "little")
        return version <= self._c().version()

    def _view(self, oid):
        """A pinned View of OID's value, or None when absent."""
        loc = self._locate(oid)
        if loc is None:
            return None
        c = self._c()
        try:
            view = c.get(loc[0], loc[1])
        except BrainNameNotExistError:
            return None
        except BrainLimitError as exc:
            if exc.code != _core.EPINS:
                raise
            # this process pins as many values as it may: a private copy
            log.debug("pin table full; reading object %s as a copy", oid.hex())
            try:
                tag, data = c.read(loc[0], loc[1])
                info = c.meta(loc[0], loc[1])
            except BrainNameNotExistError:
                return None
            if loc[0] != NAMESPACE and info["object_id"] != oid._id:
                return None
            return _Copy(tag, data, info)
        if loc[0] != NAMESPACE and view.info["object_id"] != oid._id:
            # the Brain name got a new value since it was located
            view.release()
            return None
        return view

    def _wait_views(self, oids, timeout_ms):
        """Views of OIDS (None where absent), waiting up to TIMEOUT_MS (-1:
        for ever) for the Plasma objects among them to be sealed."""
        views = [self._view(o) for o in oids]
        if timeout_ms == 0 or all(v is not None for v in views):
            return views
        deadline = None if timeout_ms < 0 else time.monotonic() + timeout_ms / 1000.0
        c = self._c()
        for i, o in enumerate(oids):
            while views[i] is None:
                if deadline is None:
                    ms = _WAIT_SLICE_MS
                else:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    ms = min(_WAIT_SLICE_MS, max(1, int(left * 1000)))
                try:
                    c.wait(NAMESPACE, o._id.hex(), 0, ms)
                except BrainTimeoutError:
                    pass
                views[i] = self._view(o)
        return views

    # ---- creating -----------------------------------------------------------

    def create(self, object_id, data_size, metadata=b""):
        """A writable buffer of DATA_SIZE bytes for a new object, in the
        store itself: write it in place (``memoryview(buf)[:] = ...``,
        ``numpy.frombuffer(buf, ...)``, ``buf[i:j] = ...``), then
        :meth:`seal` publishes it with no copy.  Raises PlasmaObjectExists
        (the id is taken) or PlasmaStoreFull (it cannot fit).  An object
        not sealed is aborted by :meth:`release`, :meth:`abort`,
        :meth:`delete`, :meth:`disconnect` or when its client is garbage
        collected; it never outlives its process."""
        oid = _oid(object_id)
        if isinstance(data_size, bool) or not isinstance(data_size, int) or data_size < 0:
            raise BrainValueError(
                "data_size is a number of bytes >= 0; got %r" % (data_size,))
        md = _metadata_bytes(metadata)
        with self._lock:
            p = self._pending.get(oid)
            if p is not None and p.pid != os.getpid():
                del self._pending[oid]  # a parent's, inherited through fork
                p = None
            if p is not None or self._locate(oid, self._maybe_value_id(oid)) is not None:
                raise PlasmaObjectExists(
                    "object %s already exists in store %r; objects are "
                    "immutable: delete it first or use another id"
                    % (oid.hex(), self._socket_name))
            started = time.time()
            try:
                res = _core.Reservation(self._c(), NAMESPACE, oid._id.hex(), data_size,
                                        _core.TYPE_BYTES, _created_desc(md, started),
                                        if_version=0)
            except BrainStoreFullError as exc:
                raise _full(exc, oid, data_size) from None
            self._pending[oid] = _Pending(res, md, started)
            return res

    def seal(self, object_id):
        """Publishes an object made with :meth:`create`: every process sees
        it from now on, and it can no longer change (the buffer create gave
        turns read-only; arrays made from it before must not be written:
        as in Plasma, sealed objects are immutable)."""
        oid = _oid(object_id)
        with self._lock:
            p = self._pending.get(oid)
            if p is None:
                if self._locate(oid) is not None:
                    raise PlasmaObjectExists(
                        "object %s is already sealed" % oid.hex())
                raise PlasmaObjectNonexistent(
                    "object %s was not created by this client (create it "
                    "with client.create first)" % oid.hex())
            if p.pid != os.getpid():
                del self._pending[oid]
                raise PlasmaObjectNonexistent(
                    "object %s was created by process %d, which this process was "
                    "forked from: only that process can seal it (unsealed objects "
                    "are not inherited by fork); create it again here"
                    % (oid.hex(), p.pid))
            try:
                p.res.seal()
            except BrainVersionConflictError:
                del self._pending[oid]
                p.abort()
                raise PlasmaObjectExists(
                    "object %s already exists in store %r (another client sealed "
                    "it first); objects are immutable, this one was aborted"
                    % (oid.hex(), self._socket_name)) from None
            except BrainError as exc:
                if exc.code == _core.ESTALE:  # pid reuse cannot fool libbrain
                    del self._pending[oid]
                raise
            del self._pending[oid]

    def abort(self, object_id):
        """Drops an object made with :meth:`create` and not sealed (a
        brain_plasma addition; Plasma's C++ client has Abort).  Its room is
        given back at once, or when the last array or memoryview made from
        its buffer is gone; the buffer itself raises from now on."""
        oid = _oid(object_id)
        with self._lock:
            p = self._pending.pop(oid, None)
        if p is None:
            raise PlasmaObjectNonexistent(
                "object %s is not being created by this client (abort drops an "
                "object between create and seal)" % oid.hex())
        p.abort()

    def _publish(self, oid, data, tag, metadata, duration, kind=None, payload=None, hint=None):
        c = self._c()
        if self._locate(oid, self._maybe_value_id(oid)) is not None:
            raise PlasmaObjectExists(
                "object %s already exists in store %r; objects are immutable: "
                "delete it first or use another id" % (oid.hex(), self._socket_name))
        kw = dict(desc=_desc(metadata, duration), if_version=0)
        name = oid._id.hex()
        size = 0
        try:
            if kind == "array":
                typestr, shape, arr = payload
                size = len(memoryview(arr).cast("B")) if arr is not None else 0
                c.put_array(NAMESPACE, name, typestr, shape, arr, **kw)
            elif kind == "pickle":
                stream, buffers = payload
                size = len(stream)
                c.put_pickle(NAMESPACE, name, stream, buffers, hint=hint, **kw)
            else:
                size = len(memoryview(data).cast("B"))
                c.put(NAMESPACE, name, data, type=tag, **kw)
        except BrainVersionConflictError:
            raise PlasmaObjectExists(
                "object %s already exists in store %r (another client sealed "
                "it first); objects are immutable" % (oid.hex(), self._socket_name)) from None
        except BrainStoreFullError as exc:
            raise _full(exc, oid, size) from None

    def put_raw_buffer(self, value, object_id=None, metadata=b"", memcopy_threads=6):
        """Stores the bytes of VALUE (any buffer) as an object; returns its
        ObjectID (OBJECT_ID, or a new random one)."""
        oid = ObjectID.from_random() if object_id is None else _oid(object_id)
        md = _metadata_bytes(metadata)
        try:
            mv = memoryview(value)
        except TypeError:
            raise BrainValueError(
                "put_raw_buffer stores a buffer (bytes, bytearray, memoryview, "
                "a contiguous NumPy array); got %s. Use client.put for other "
                "values" % type(value).__name__) from None
        if not mv.contiguous:
            raise BrainValueError("put_raw_buffer needs a contiguous buffer; "
                                  "copy it first (numpy.ascontiguousarray)")
        t0 = time.time()
        with self._lock:
            if oid in self._pending:
                raise PlasmaObjectExists("object %s is being created by this client"
                                         % oid.hex())
            self._publish(oid, mv.cast("B") if mv.ndim != 1 or mv.format != "B" else mv,
                          _core.TYPE_BYTES, md, time.time() - t0)
        return oid

    def put(self, value, object_id=None, memcopy_threads=6, serialization_context=None):
        """Stores the Python value VALUE as an object; returns its ObjectID
        (OBJECT_ID, or a new random one).  NumPy arrays and pandas objects
        are stored so that get() returns them zero-copy."""
        if serialization_context is not None:
            raise BrainValueError(
                "serialization_context was pyarrow's (removed in Arrow 12); values "
                "are pickled here: define __reduce__ or copyreg for custom classes")
        oid = ObjectID.from_random() if object_id is None else _oid(object_id)
        label = "plasma object %s" % oid.hex()
        t0 = time.time()
        kind, payload = serialize.encode(value, label, self._safe, True)
        with self._lock:
            if oid in self._pending:
                raise PlasmaObjectExists("object %s is being created by this client"
                                         % oid.hex())
            if kind == "array":
                try:
                    self._publish(oid, None, None, b"", time.time() - t0, kind, payload)
                    return oid
                except BrainValueTypeError:  # a dtype the array layout lacks
                    if self._safe:
                        raise
                    kind, payload = "pickle", serialize._pickle(value, label)
            if kind == "pickle":
                self._publish(oid, None, None, b"", time.time() - t0, kind, payload,
                              serialize.hint_of(value))
            else:
                self._publish(oid, payload, serialize.TYPE_OF[kind], b"", time.time() - t0)
        return oid

    # ---- reading ------------------------------------------------------------

    def get_buffers(self, object_ids, timeout_ms=-1, with_meta=False):
        """Zero-copy, read-only buffers (memoryviews over the store) of the
        objects' bytes, None for those not available within TIMEOUT_MS
        (-1: wait for ever, 0: do not wait).  with_meta=True gives
        (metadata, buffer) pairs.  A buffer stays valid while it lives,
        even if the object is deleted meanwhile."""
        oids = _oids(object_ids)
        views = self._wait_views(oids, _timeout(timeout_ms))
        out = []
        with self._lock:
            for oid, view in zip(oids, views):
                if view is None:
                    out.append((None, None) if with_meta else None)
                    continue
                self._held.setdefault(oid, []).append(view)
                buf = _buffer(view)
                if with_meta:
                    out.append((_parse_desc(view.info)[0], buf))
                else:
                    out.append(buf)
        return out

    def get_metadata(self, object_ids, timeout_ms=-1):
        """The metadata (bytes) of each object, None where not available."""
        oids = _oids(object_ids)
        out = []
        for view in self._wait_views(oids, _timeout(timeout_ms)):
            if view is None:
                out.append(None)
            else:
                out.append(_parse_desc(view.info)[0])
                view.release()
        return out

    def get(self, object_ids, timeout_ms=-1, serialization_context=None):
        """The value of one ObjectID, or a list of values for a list of ids;
        :class:`ObjectNotAvailable` for objects not sealed within TIMEOUT_MS
        (-1: wait for ever, 0: do not wait)."""
        if serialization_context is not None:
            raise BrainValueError(
                "serialization_context was pyarrow's (removed in Arrow 12); "
                "values are pickled here")
        single = isinstance(object_ids, ObjectID)
        oids = [object_ids] if single else _oids(object_ids)
        views = self._wait_views(oids, _timeout(timeout_ms))
        out = []
        for oid, view in zip(oids, views):
            if view is None:
                out.append(ObjectNotAvailable)
                continue
            try:
                out.append(serialize.decode(
                    view.type, view.data if isinstance(view, _Copy) else view, self._safe))
            except BrainError:
                raise
            except Exception as exc:
                raise BrainError(
                    "object %s could not be rebuilt in this process (%s: %s); "
                    "import the modules that define its classes"
                    % (oid.hex(), type(exc).__name__, exc)) from exc
        return out[0] if single else out

    def contains(self, object_id):
        """True when the object exists and is sealed."""
        return self._locate(_oid(object_id)) is not None

    def hash(self, object_id):
        """An 8-byte BLAKE2b digest of the object's metadata and data (b""
        when the object does not exist)."""
        oid = _oid(object_id)
        view = self._view(oid)
        if view is None:
            return b""
        try:
            h = hashlib.blake2b(digest_size=_DIGEST_SIZE)
            h.update(_parse_desc(view.info)[0])
            h.update(_buffer(view))
            return h.digest()
        finally:
            try:
                view.release()
            except BufferError:
                pass

    def release(self, object_id):
        """Drops this client's references to the buffers get_buffers gave
        for OBJECT_ID; the store space is freed once no buffer uses it.  An
        object created and not sealed is aborted (see :meth:`abort`)."""
        oid = _oid(object_id)
        with self._lock:
            views = self._held.pop(oid, [])
            p = self._pending.pop(oid, None)
        if p is not None:
            p.abort()
        for v in views:
            try:
                v.release()
            except BufferError:  # a buffer still uses it: freed when it goes
                pass

    # ---- removing -------------------------------------------------------------

    def delete(self, object_ids):
        """Deletes the objects (ids that do not exist are skipped).  Buffers
        already handed out stay valid until they are dropped.  A Brain
        value's id forgets its name."""
        oids = _oids(object_ids)
        c = self._c()
        with self._lock:
            for oid in oids:
                p = self._pending.pop(oid, None)
                if p is not None:
                    p.abort()
                    continue
                loc = self._locate(oid)
                if loc is None:
                    continue
                try:
                    c.delete(loc[0], loc[1])
                except BrainNameNotExistError:
                    pass

    def evict(self, num_bytes):
        """Deletes Plasma objects (never Brain names), oldest first, skipping
        those this client holds buffers of, until NUM_BYTES bytes are freed
        or none is left; returns the bytes freed."""
        if isinstance(num_bytes, bool) or not isinstance(num_bytes, int) or num_bytes < 0:
            raise BrainValueError("num_bytes is a number of bytes >= 0; got %r" % (num_bytes,))
        c = self._c()
        freed = 0
        with self._lock:
            held = {o._id.hex() for o, vs in self._held.items() if vs}
            entries = sorted(c.list(NAMESPACE), key=lambda d: (d["updated"], d["version"]))
            for info in entries:
                if freed >= num_bytes:
                    break
                if info["name"] in held:
                    continue
                try:
                    c.delete(NAMESPACE, info["name"])
                except BrainNameNotExistError:
                    continue
                freed += info["size"]
        return freed

    # ---- listing ----------------------------------------------------------------

    def list(self):
        """{ObjectID: info} of every object: Plasma objects, Brain values
        (by value id) and this client's unsealed ones.  info has data_size,
        metadata_size, ref_count (buffers this client holds), create_time
        (Unix seconds), construct_duration (seconds) and state ("created" or
        "sealed")."""
        c = self._c()
        out = {}
        with self._lock:
            for info in c.list(None, all=True):
                if info["namespace"] == NAMESPACE:
                    try:
                        oid = ObjectID(bytes.fromhex(info["name"]))
                    except (ValueError, BrainValueError):
                        continue  # a name someone else put in the namespace
                else:
                    oid = ObjectID(info["object_id"])
                md, duration = _parse_desc(info)
                out[oid] = {
                    "data_size": info["size"],
                    "metadata_size": len(md),
                    "ref_count": len(self._held.get(oid, ())),
                    "create_time": int(info["updated"]),
                    "construct_duration": duration,
                    "state": "sealed",
                }
            for oid, p in self._pending.items():
                if p.pid != os.getpid():
                    continue  # a parent's, inherited through fork
                out[oid] = {
                    "data_size": p.res.size,
                    "metadata_size": len(p.metadata),
                    "ref_count": 1,
                    "create_time": int(p.started),
                    "construct_duration": -1,
                    "state": "created",
                }
        return out

    def store_capacity(self):
        """The store's capacity in bytes."""
        return self._c().stats()["capacity"]

    def debug_string(self):
        st = self._c().stats()
        return ("store %s: capacity %d, used %d, free %d, names %d"
                % (self._c().path, st["capacity"], st["used"], st["free"], st["names"]))

    def set_client_options(self, client_name, limit_output_memory):
        """Accepted for compatibility; the store has no per-client limits."""

    # ---- notifications --------------------------------------------------------

    def _ns_state(self):
        c = self._c()
        version = 0
        for d in c.namespaces():
            if d["name"] == NAMESPACE:
                version = d["version"]
        entries = {}
        for info in c.list(NAMESPACE):
            entries[info["name"]] = info
        return version, entries

    def subscribe(self):
        """Starts notifications: get_next_notification() then returns every
        object sealed (and deleted) after this call, in order."""
        with self._lock:
            self._ns_version, entries = self._ns_state()
            self._seen = {n: d["version"] for n, d in entries.items()}
            self._notes = []
            self._subscribed = True

    def get_next_notification(self, timeout_ms=-1):
        """(ObjectID, data_size, metadata_size) of the next object sealed
        since subscribe(); data_size and metadata_size are -1 for a deleted
        object.  Blocks until there is one (TIMEOUT_MS, a brain_plasma
        addition: BrainTimeoutError when it passes)."""
        timeout_ms = _timeout(timeout_ms)
        if not self._subscribed:
            raise BrainValueError("call client.subscribe() before get_next_notification()")
        deadline = None if timeout_ms < 0 else time.monotonic() + timeout_ms / 1000.0
        c = self._c()
        while True:
            with self._lock:
                if self._notes:
                    return self._notes.pop(0)
                after = self._ns_version
            if deadline is None:
                ms = _WAIT_SLICE_MS
            else:
                left = deadline - time.monotonic()
                if left <= 0 and timeout_ms != 0:
                    raise BrainTimeoutError(
                        "no object was sealed or deleted within %d ms" % timeout_ms)
                ms = max(0, min(_WAIT_SLICE_MS, int(left * 1000)))
            try:
                c.wait(NAMESPACE, None, after, ms)
            except BrainTimeoutError:
                if timeout_ms == 0:
                    raise BrainTimeoutError("no object was sealed or deleted") from None
                continue
            with self._lock:
                self._collect()

    def _collect(self):
        version, entries = self._ns_state()
        new = []
        for name, info in entries.items():
            if self._seen.get(name) != info["version"]:
                new.append((info["version"], name, info))
        new.sort(key=lambda t: t[0])
        for _, name, info in new:
            try:
                oid = ObjectID(bytes.fromhex(name))
            except (ValueError, BrainValueError):
                continue
            self._notes.append((oid, info["size"], len(_parse_desc(info)[0])))
        for name in sorted(set(self._seen) - set(entries)):
            try:
                self._notes.append((ObjectID(bytes.fromhex(name)), -1, -1))
            except (ValueError, BrainValueError):
                continue
        self._seen = {n: d["version"] for n, d in entries.items()}
        self._ns_version = max(version, self._ns_version)

    # ---- connection ---------------------------------------------------------------

    def disconnect(self):
        """Disconnects this client; its unsealed objects are aborted and its
        buffers released when they are garbage (values already returned stay
        valid).  Other clients and Brains on the store are not affected."""
        with self._lock:
            pending = list(self._pending.values())
            self._pending.clear()
            self._held.clear()
            self._store = None
        for p in pending:
            p.abort()

    def __repr__(self):
        return "<brain_plasma.plasma.PlasmaClient store=%r%s>" % (
            self._socket_name, " disconnected" if self._store is None else "")


def connect(store_socket_name, num_retries=-1, *legacy):
    """A PlasmaClient on the store at STORE_SOCKET_NAME (the path given to
    ``plasma_store -s``; a bare name means /dev/shm/brain-NAME).  The store
    must exist: connect tries NUM_RETRIES times (-1: 50), 0.1 s apart, then
    raises BrainStoreNotFoundError.  The old form
    ``connect(path, "", 0)`` (manager socket, release delay) is accepted."""
    from .brain import _open_store

    if isinstance(num_retries, str) or legacy:  # connect(path, manager, delay[, retries])
        num_retries = legacy[1] if len(legacy) > 1 else -1
    path = _socket_path(store_socket_name)
    if isinstance(num_retries, bool) or not isinstance(num_retries, int) or num_retries < -1:
        raise BrainValueError("num_retries is a count >= 0, or -1 for the default; got %r"
                              % (num_retries,))
    tries = _CONNECT_RETRIES if num_retries < 0 else max(1, num_retries)
    for attempt in range(tries):
        try:
            store, _ = _open_store(path, False, 0)
            return PlasmaClient(store, store_socket_name)
        except BrainStoreNotFoundError as exc:
            if attempt + 1 >= tries:
                raise BrainStoreNotFoundError(
                    "no store at %r (%s) after %d tries; start one with "
                    "`plasma_store -m SIZE -s %s` (or `brain serve`, or "
                    "Brain(path=...))" % (store_socket_name, exc, tries, store_socket_name)
                ) from None
            time.sleep(_CONNECT_DELAY)
    raise AssertionError("unreachable")


def _socket_path(path):
    """The store behind a Plasma socket path: absolute paths as given, a
    relative path with a '/' made absolute, a bare name as Brain takes it."""
    if isinstance(path, os.PathLike):
        path = os.fspath(path)
    if not isinstance(path, str) or not path:
        raise BrainValueError(
            "the store is a path such as '/tmp/plasma' (str); got %s %.60r"
            % (type(path).__name__, path))
    if "/" in path and not path.startswith("/"):
        path = os.path.abspath(path)
    return path


_clients = {}  # id(Store) -> weak reference to its PlasmaClient
_clients_lock = threading.Lock()


def _client_for(store, safe=False):
    """The PlasmaClient of a Store handle, shared by every Brain on it that
    has the same serializer."""
    key = (id(store), bool(safe))
    with _clients_lock:
        ref = _clients.get(key)
        c = ref() if ref is not None else None
        if c is not None and c._store is store:
            return c
        for k in [k for k, r in _clients.items() if r() is None]:
            del _clients[k]
        c = PlasmaClient(store, safe=safe)
        _clients[key] = weakref.ref(c)
        return c

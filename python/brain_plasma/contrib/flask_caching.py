"""A Flask-Caching backend that keeps the cache in a brain-plasma store.

Every gunicorn worker (every process on the machine) that opens the same
store sees the same cache, and large values (NumPy arrays, pandas frames)
come back zero-copy and read-only, as ``Brain.recall`` gives them.

With Flask-Caching::

    app.config["CACHE_TYPE"] = "brain_plasma.contrib.flask_caching.BrainCache"
    app.config["CACHE_BRAIN_PATH"] = "myapp"      # store name or path; default store if absent
    app.config["CACHE_BRAIN_SIZE"] = "2GB"        # capacity when the store is created
    app.config["CACHE_DEFAULT_TIMEOUT"] = 300     # seconds; 0 = never expire
    app.config["CACHE_KEY_PREFIX"] = "myapp_"     # names this cache's namespace
    cache = Cache(app)

or directly: ``BrainCache(path=None, default_timeout=300, key_prefix="",
size=None)``.

Each cache lives in a namespace of its own, ``"cache:" + key_prefix``, so
``clear()`` removes this cache's entries and never the other names of the
store (a frame ``Brain.learn``-ed by the app, another cache).

A cache, unlike a brain, may drop entries: when the store is full, ``set``
first deletes expired names, then this cache's least recently written
entries (``eviction="lrw"``, the default) or least recently used ones
(``eviction="lru"``, which costs a small write on every hit; see
docs/dash.md), until the value fits.  It never raises because the store is
full: a value that cannot fit returns False, as Flask-Caching's backends do
for backend errors.
"""
import hashlib
import logging
import time

from flask_caching.backends.base import BaseCache

from .. import _core
from ..brain import Brain
from ..exceptions import (
    BrainError,
    BrainNameNotExistError,
    BrainSerializationError,
    BrainStoreFullError,
    BrainValueError,
    BrainVersionConflictError,
)

__all__ = ["BrainCache"]

log = logging.getLogger("brain_plasma.contrib.flask_caching")

NAMESPACE_PREFIX = "cache:"
ATIME_PREFIX = "cache-atime:"
_HASHED = "#sha256:"
_EVICTIONS = ("lrw", "lru")


def _key_name(key):
    """The store name of cache KEY: the key itself when it is a valid name,
    else a digest of it (keys longer than a name, with NUL, not str)."""
    if not isinstance(key, str):
        key = str(key)
    if 0 < len(key) <= _core.NAME_MAX // 4 and key.isascii() and "\x00" not in key \
            and not key.startswith(_HASHED):
        return key
    raw = key.encode("utf-8", "surrogatepass")
    if 0 < len(raw) <= _core.NAME_MAX and "\x00" not in key and not key.startswith(_HASHED):
        try:
            key.encode("utf-8")
            return key
        except UnicodeEncodeError:
            pass
    return _HASHED + hashlib.sha256(raw).hexdigest()


class BrainCache(BaseCache):
    """A Flask-Caching cache in a brain-plasma store.

    Parameters:
        path: the store (a bare name such as ``"myapp"`` or an absolute
            path); None means the default store.  Created when missing.
        default_timeout: seconds an entry lives when ``set`` gives no
            timeout; 0 means never expire.  Fractions of a second work.
        key_prefix: names this cache's namespace, ``"cache:" + key_prefix``.
        size: the store's capacity (bytes or ``"2GB"``) when this call
            creates it; an existing store keeps its own.
        namespace: the namespace to use instead of the one named by
            key_prefix.
        eviction: ``"lrw"`` (default) or ``"lru"``: which of this cache's
            entries go first when the store is full (after expired ones).
    """

    def __init__(self, path=None, default_timeout=300, key_prefix="", size=None,
                 *, namespace=None, eviction="lrw", ignore_delete_many_errors=False):
        BaseCache.__init__(self, default_timeout=0,
                           ignore_delete_many_errors=ignore_delete_many_errors)
        self.default_timeout = self._seconds(default_timeout)
        if self.default_timeout < 0:
            raise BrainValueError(
                "default_timeout is seconds >= 0 (0 = never expire); got %r"
                % (default_timeout,))
        if eviction not in _EVICTIONS:
            raise BrainValueError(
                "eviction is 'lrw' (least recently written) or 'lru' (least "
                "recently used); got %r" % (eviction,))
        if key_prefix is None:
            key_prefix = ""
        if not isinstance(key_prefix, str):
            raise BrainValueError("key_prefix is a str; got %s %r"
                                  % (type(key_prefix).__name__, key_prefix))
        self.key_prefix = key_prefix
        self.eviction = eviction
        ns = namespace if namespace is not None else NAMESPACE_PREFIX + key_prefix
        self._atime_ns = ATIME_PREFIX + (key_prefix if namespace is None else namespace)
        if len(self._atime_ns.encode("utf-8", "replace")) > _core.NS_MAX:
            raise BrainValueError(
                "key_prefix %r is too long: the cache's namespaces (%r, %r) must "
                "be at most %d bytes; use a prefix of at most %d bytes"
                % (key_prefix, ns, self._atime_ns, _core.NS_MAX,
                   _core.NS_MAX - len(ATIME_PREFIX)))
        # size None: a new store gets Brain's default, an existing one is
        # kept as it is (a size grows a smaller store, never shrinks one)
        self._brain = Brain(path, size=size, namespace=ns)
        self._atime = Brain(path, size=size,
                            namespace=self._atime_ns) if eviction == "lru" else None
        self.path = self._brain.path
        self.namespace = ns

    @classmethod
    def factory(cls, app, config, args, kwargs):
        """How Flask-Caching builds the backend from the app's config
        (CACHE_BRAIN_PATH, CACHE_BRAIN_SIZE, CACHE_KEY_PREFIX,
        CACHE_DEFAULT_TIMEOUT, CACHE_BRAIN_EVICTION; CACHE_OPTIONS
        override them).  Bad configuration raises a BrainError naming the
        setting, when the app starts."""
        opts = {
            "path": config.get("CACHE_BRAIN_PATH"),
            "size": config.get("CACHE_BRAIN_SIZE"),
            "key_prefix": config.get("CACHE_KEY_PREFIX", ""),
            "default_timeout": config.get("CACHE_DEFAULT_TIMEOUT", 300),
            "eviction": config.get("CACHE_BRAIN_EVICTION", "lrw"),
        }
        opts.update(kwargs)
        try:
            return cls(*args, **opts)
        except BrainError as exc:
            new = type(exc)(
                "Flask-Caching BrainCache (CACHE_BRAIN_PATH=%r, CACHE_BRAIN_SIZE=%r, "
                "CACHE_KEY_PREFIX=%r, CACHE_DEFAULT_TIMEOUT=%r): %s"
                % (opts["path"], opts["size"], opts["key_prefix"],
                   opts["default_timeout"], exc))
            new.code, new.errname = exc.code, exc.errname
            raise new from exc

    # ---- helpers -----------------------------------------------------------

    @staticmethod
    def _seconds(timeout):
        if hasattr(timeout, "total_seconds"):
            return timeout.total_seconds()
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
            raise BrainValueError(
                "a timeout is seconds (int, float or datetime.timedelta); got %s %r"
                % (type(timeout).__name__, timeout))
        return timeout

    def _ttl(self, timeout):
        """(expired_now, ttl for Brain.learn): timeout None is the default,
        0 never expires, a negative one is expired at once."""
        t = self.default_timeout if timeout is None else self._seconds(timeout)
        if t < 0:
            return True, None
        return False, (t if t > 0 else None)

    def _touch(self, name):
        if self._atime is not None:
            try:
                self._atime.learn(b"", name)
            except BrainError as exc:  # bookkeeping only: never fail a get
                log.debug("cannot record the use of %r: %s", name, exc)

    def _victims(self, keep):
        """This cache's names, the next to evict first."""
        c = self._brain._c()
        rows = c.list(self.namespace)
        used = {}
        if self._atime is not None:
            used = {d["name"]: d["updated"] for d in c.list(self._atime_ns)}
        order = sorted(
            (max(d["updated"], used.get(d["name"], 0)), d["name"])
            for d in rows if d["name"] != keep)
        return [n for _, n in order]

    def _forget(self, name):
        c = self._brain._c()
        try:
            c.delete(self.namespace, name)
            found = True
        except BrainNameNotExistError:
            found = False
        if self._atime is not None:
            try:
                c.delete(self._atime_ns, name)
            except BrainNameNotExistError:
                pass
        return found

    def _put(self, name, value, ttl, if_version=None):
        """learn, evicting when the store is full.  True when stored, False
        when it cannot fit; BrainVersionConflictError passes through."""
        expired_done = False
        batch = 1
        evicted = 0
        while True:
            try:
                self._brain.learn(value, name, ttl=ttl, if_version=if_version)
            except BrainStoreFullError as exc:
                if exc.code == _core.ETOOBIG:
                    log.warning("cache %s: %r is larger than the store %s; not cached (%s)",
                                self.namespace, name, self.path, exc)
                    return False
                if not expired_done:
                    expired_done = True
                    if self._brain._c().expire():
                        continue
                victims = self._victims(keep=name)
                if not victims:
                    log.warning("cache %s: %r does not fit in store %s even with "
                                "this cache empty (%d entries evicted); not cached: %s",
                                self.namespace, name, self.path, evicted, exc)
                    return False
                for v in victims[:batch]:
                    self._forget(v)
                evicted += min(batch, len(victims))
                batch *= 2
                continue
            if evicted:
                log.info("cache %s: evicted %d entries to store %r",
                         self.namespace, evicted, name)
            self._touch(name)
            return True

    # ---- the BaseCache interface -------------------------------------------

    def get(self, key):
        name = _key_name(key)
        try:
            value = self._brain.recall(name)
        except BrainNameNotExistError:
            return None
        except BrainSerializationError as exc:
            log.warning("cache %s: %r cannot be read here: %s", self.namespace, key, exc)
            return None
        self._touch(name)
        return value

    def has(self, key):
        return self._brain.exists(_key_name(key))

    def set(self, key, value, timeout=None):
        expired, ttl = self._ttl(timeout)
        name = _key_name(key)
        if expired:
            self._forget(name)
            return True
        return self._put(name, value, ttl)

    def add(self, key, value, timeout=None):
        expired, ttl = self._ttl(timeout)
        name = _key_name(key)
        if expired:
            return not self._brain.exists(name)
        try:
            return self._put(name, value, ttl, if_version=0)
        except BrainVersionConflictError:
            return False

    def delete(self, key):
        return self._forget(_key_name(key))

    def get_many(self, *keys):
        names = [_key_name(k) for k in keys]
        try:
            values = self._brain.recall_many(names)
        except (BrainNameNotExistError, BrainSerializationError):
            return [self.get(k) for k in keys]
        for n in names:
            self._touch(n)
        return [values[n] for n in names]

    def set_many(self, mapping, timeout=None):
        items = list(mapping.items())
        expired, ttl = self._ttl(timeout)
        if expired:
            for k, _ in items:
                self._forget(_key_name(k))
            return [k for k, _ in items]
        named = {}
        for k, v in items:
            named[_key_name(k)] = v
        if len(named) == len(items):
            try:
                self._brain.learn_many(named, ttl=ttl)
                for n in named:
                    self._touch(n)
                return [k for k, _ in items]
            except BrainStoreFullError:
                pass  # one at a time, evicting as needed
        return [k for k, v in items if self.set(k, v, timeout)]

    def clear(self):
        c = self._brain._c()
        c.ns_clear(self.namespace)
        if self._atime is not None:
            c.ns_clear(self._atime_ns)
        return True

    def _add_delta(self, key, delta):
        name = _key_name(key)
        c = self._brain._c()
        for _ in range(1000):
            try:
                meta = c.meta(self.namespace, name)
            except BrainNameNotExistError:
                meta = None
            current, version = 0, 0
            expired, ttl = self._ttl(None)
            if meta is not None:
                try:
                    current = self._brain.recall(name)
                except BrainNameNotExistError:
                    continue
                version = meta["version"]
                if meta["expires"]:
                    ttl = meta["expires"] - time.time()
                    if ttl <= 0:
                        continue  # expiring right now: start over
                else:
                    ttl = None
            if isinstance(current, bool) or not isinstance(current, int):
                raise BrainValueError(
                    "cache %s: cannot add %d to key %r: it holds %s, not an int"
                    % (self.namespace, delta, key, type(current).__name__))
            new = current + delta
            try:
                if not self._put(name, new, ttl, if_version=version):
                    return None
                return new
            except BrainVersionConflictError:
                continue  # another worker changed it: read it again
        return None

    def inc(self, key, delta=1):
        """Adds DELTA to the int under KEY (0 when absent) atomically across
        processes; the entry keeps its expiry.  Returns the new value."""
        return self._add_delta(key, delta)

    def dec(self, key, delta=1):
        """Subtracts DELTA, as inc."""
        return self._add_delta(key, -delta)

    def __repr__(self):
        return "<BrainCache path=%r namespace=%r default_timeout=%r eviction=%r>" % (
            self.path, self.namespace, self.default_timeout, self.eviction)

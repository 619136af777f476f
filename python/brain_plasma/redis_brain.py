"""RedisBrain: the Brain API on a Redis server, with a shared-memory cache
on each host (docs/redis.md).

``Brain("redis://host:6379/0")`` (also ``rediss://`` and
``unix:///path/to/redis.sock?db=0``, user and password from the URL) returns
a RedisBrain.  Redis holds every name, value and version; values are stored
in the same layouts as the local store (serialize.py).  Small values live in
the name's metadata hash and come back in one round trip; large ones live in
chunk keys named by the value's object id, and each host keeps a copy of
those in a local brain store (the cache) that its workers recall zero-copy,
after one round trip that checks the object id.  A URL naming a node of a
Redis Cluster uses the cluster (redis-py's RedisCluster): the keys of one
namespace share a hash slot, so its atomic operations stay atomic.

Options in the URL's query (removed before the URL reaches redis-py; the
rest of the query goes to redis-py, e.g. ``socket_timeout=5``):

    prefix=brain:      the prefix of every key
    cache=PATH|off     the local cache store (default
                       /dev/shm/brain-redis-<hash of host, port, db, prefix>)
    cache_size=1GiB    the cache's capacity (a limit, not an allocation)
    inline_max=1MiB    values up to this size live in the metadata hash and
                       skip the cache
    chunk_size=256MiB  large values are stored in chunks of this size
                       (Redis refuses strings over 512 MB)
    revalidate=always  each recall of a cached value checks its object id
                       (one round trip); push: a subscription tells each
                       process which names changed, and a recall of an
                       unchanged cached value costs no round trip (a change
                       made on another host is seen once its message
                       arrives, see docs/redis.md)
"""
import fcntl
import hashlib
import logging
import os
import re
import select
import threading
import time
import urllib.parse
import zlib
from time import perf_counter as _perf

from . import _core
from . import recall_cache
from . import serialize
from . import redis_lua
from .brain import (
    Brain,
    DEFAULT_NAMESPACE,
    _check_lock_timeout,
    _check_serializer,
    _check_name,
    _check_namespace,
    _decode,
    _size_bytes,
    _ttl_ms,
)
from .exceptions import (
    BrainClientDisconnectedError,
    BrainConnectionError,
    BrainError,
    BrainNameNotExistError,
    BrainNamespaceNotExistError,
    BrainNamespaceRemoveDefaultError,
    BrainSnapshotError,
    BrainStoreFullError,
    BrainTimeoutError,
    BrainValueError,
    BrainValueTypeError,
    BrainVersionConflictError,
)

__all__ = ["RedisBrain", "SCHEMES"]

log = logging.getLogger("brain_plasma.redis")

SCHEMES = ("redis://", "rediss://", "unix://")
DEFAULT_PREFIX = "brain:"
DEFAULT_CACHE_SIZE = 1 << 30
DEFAULT_INLINE_MAX = 1 << 20
DEFAULT_CHUNK_SIZE = 256 << 20
REDIS_STRING_MAX = 512 << 20
# chunks of a value being stored expire unless its commit makes them
# permanent: a writer killed before the commit leaves nothing for long
PENDING_TTL_MS = 3_600_000
# how many times a recall starts again when the value it read the metadata
# of was replaced before its chunks were read
_RETRIES = 50
_OURS = ("prefix", "cache", "cache_size", "inline_max", "chunk_size", "revalidate")
_FIELDS = ("v", "t", "n", "o", "c", "k", "d", "x")
_NOPE = object()
_CACHE_MISS = recall_cache._MISS


def _redis():
    try:
        import redis
    except ImportError:
        raise BrainError(
            "a Brain on Redis needs the redis package: pip install redis hiredis "
            "(or pip install 'brain-plasma[redis]')"
        ) from None
    return redis


def _esc(ns):
    return ns.replace("%", "%25").replace("{", "%7B").replace("}", "%7D")


def _redact(url):
    """URL without its password, for messages and logs."""
    return re.sub(r"^([a-z]+://[^:/@]*:)[^@/]*@", r"\1***@", url)


def _parse(url):
    """(url for redis-py, our options, identity of the server+db)."""
    p = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(p.query, keep_blank_values=True)
    ours = {k: v for k, v in query if k in _OURS}
    rest = [(k, v) for k, v in query if k not in _OURS]
    if p.scheme == "unix":  # urlunsplit writes unix:/path, which redis-py refuses
        clean = "unix://%s%s" % (p.netloc, p.path)
        if rest:
            clean += "?" + urllib.parse.urlencode(rest)
    else:
        clean = urllib.parse.urlunsplit(p._replace(query=urllib.parse.urlencode(rest)))
    db = dict(rest).get("db")
    if p.scheme == "unix":
        where = "unix:%s" % p.path
        db = db or "0"
    else:
        if not p.hostname:
            raise BrainValueError(
                "cannot use %r: a Redis URL is redis://[user:password@]host[:port][/db], "
                "rediss://... or unix:///path/to/redis.sock[?db=N]" % (_redact(url),))
        try:
            port = p.port or 6379
        except ValueError:
            raise BrainValueError("cannot use %r: its port is not a number" % (_redact(url),)) from None
        where = "%s:%d" % (p.hostname, port)
        path = p.path.strip("/")
        db = db or path or "0"
    if not str(db).isdigit():
        raise BrainValueError(
            "cannot use %r: the database is a number (redis://host:6379/0); got %r"
            % (_redact(url), db))
    return clean, ours, "%s/%s" % (where, db)


def _opt_size(opts, key, default):
    if key not in opts:
        return default
    try:
        return _size_bytes(opts[key], key)
    except BrainValueError as exc:
        raise BrainValueError(
            "the URL's %s=%s is not a size: %s" % (key, opts[key], exc)) from None


class _Replaced(Exception):
    """The value changed between reading its metadata and its chunks."""


class RedisBrain(Brain):
    """The Brain API on a Redis server (see the module's doc and
    docs/redis.md).  Same methods and meanings as :class:`Brain`, except:
    ``size``/``resize`` (Redis's memory is its ``maxmemory``), ``check``
    (checks that every large value has all its chunks) and ``expire``
    (Redis expires names itself; this drops expired names from the
    namespace sets)."""

    def __init__(self, path=None, start_process=True, size=None,
                 namespace=DEFAULT_NAMESPACE, serializer="pickle", pack_strings=True,
                 recall_cache=True, lock_timeout=60.0):
        _check_serializer(serializer)
        if not isinstance(path, str) or not path.startswith(SCHEMES):
            raise BrainValueError(
                "RedisBrain needs a redis://, rediss:// or unix:// URL; got %r" % (path,))
        self.serializer = serializer
        self._safe = serializer == "safe"
        self.pack_strings = bool(pack_strings)
        # frames decoded from the host's cache are kept per process, as
        # for the local Brain (brain_plasma.recall_cache)
        self.recall_cache = bool(recall_cache)
        self._lock_timeout = _check_lock_timeout(lock_timeout)
        self._lock = threading.RLock()
        self._client = None
        self._fast = None
        self._fasts = (None, {})  # a cluster's: (pid, {id(node client): _Fast})
        # (cache store, {(ns, name): (version of the entry, object id)})
        self._seen = (None, {})
        self.namespace = _check_namespace(namespace)
        self._setup(path)
        self._connect(create=bool(start_process))

    def _setup(self, url):
        self.url = url
        self.path = _redact(url)
        self._redis_url, opts, self._where = _parse(url)
        self.prefix = opts.get("prefix", DEFAULT_PREFIX)
        if not self.prefix:
            raise BrainValueError("prefix must not be empty (default %r)" % DEFAULT_PREFIX)
        self.inline_max = _opt_size(opts, "inline_max", DEFAULT_INLINE_MAX)
        self.chunk_size = _opt_size(opts, "chunk_size", DEFAULT_CHUNK_SIZE)
        if self.chunk_size > REDIS_STRING_MAX:
            raise BrainValueError(
                "chunk_size is at most 512MB (Redis's largest string); got %d" % self.chunk_size)
        cache = opts.get("cache", "")
        self.cache_size = _opt_size(opts, "cache_size", DEFAULT_CACHE_SIZE)
        if cache == "off":
            self.cache_path = None
        elif cache:
            self.cache_path = cache
        else:
            h = hashlib.sha1(("%s/%s" % (self._where, self.prefix)).encode()).hexdigest()[:16]
            self.cache_path = "redis-" + h
        self.revalidate = opts.get("revalidate", "always")
        if self.revalidate not in ("always", "push"):
            raise BrainValueError(
                "the URL's revalidate= is 'always' (default) or 'push'; got %r"
                % (self.revalidate,))
        self.cluster = False
        self._cache = None
        self._cache_pid = None
        self._lockfd = None

    # ---- connection ------------------------------------------------------

    def _connect(self, create=True):
        redis = _redis()
        from redis.backoff import ExponentialBackoff
        from redis.retry import Retry

        kw = dict(socket_connect_timeout=2.0, socket_timeout=30.0,
                  retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 1),
                  retry_on_error=[redis.exceptions.ConnectionError])
        q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self._redis_url).query))
        # RESP2: the chunk reader (_read_bulks) sees no push messages there
        kw["protocol"] = 2
        for k in ("socket_connect_timeout", "socket_timeout", "protocol"):
            if k in q:
                kw.pop(k)
        try:
            r = redis.Redis.from_url(self._redis_url, **kw)
        except (ValueError, TypeError) as exc:
            raise BrainValueError("cannot use %r: %s" % (self.path, exc)) from None
        with self._net("connect to"):
            r.ping()
            self.cluster = bool(r.info("cluster").get("cluster_enabled"))
        if self.cluster:  # the same URL names a node of a Redis Cluster
            r.close()
            from redis.cluster import RedisCluster

            if self._where.rsplit("/", 1)[1] != "0":
                raise BrainValueError(
                    "cannot use %r: it is a node of a Redis Cluster, which has only "
                    "database 0" % (self.path,))
            kw.pop("retry_on_error", None)
            with self._net("connect to"):
                r = RedisCluster.from_url(self._redis_url, **kw)
        self._client = r
        self._scripts = {
            name: r.register_script(getattr(redis_lua, name))
            for name in ("COMMIT", "FORGET", "CLEAR", "NAMES")
        }
        log.debug("connected to Redis at %s (prefix %r, cache %s)",
                  self.path, self.prefix, self.cache_path)

    def _net(self, what):
        return _NetErrors(self, what)

    def _c(self):
        c = self._client
        if c is None:
            raise BrainClientDisconnectedError(
                "this Brain (Redis at %s) is disconnected: it was put to sleep() "
                "or destroyed with dead(). Call brain.wake_up() or brain.start() first"
                % (self.path,))
        return c

    @property
    def client(self):
        """The redis-py client."""
        return self._c()

    def sleep(self):
        with self._lock:
            f, self._fast = self._fast, None
            if f is not None:
                f.close()
            fasts, self._fasts = self._fasts, (None, {})
            for f in fasts[1].values():
                f.close()
            if self._client is not None:
                self._client.close()
                self._client = None

    def wake_up(self):
        with self._lock:
            if self._client is None:
                self._connect()
        return self

    def start(self, path=None, size=None):
        with self._lock:
            if path is not None:
                self._setup(path)
            self.sleep()
            self._connect()
        return self

    def dead(self, i_am_sure=False):
        """Deletes every key of this brain (every namespace, under the
        prefix) from Redis, and this host's cache.  Does nothing unless
        ``i_am_sure=True``."""
        if not i_am_sure:
            log.warning("dead() deletes every name under %r in Redis at %s for every "
                        "host; call dead(i_am_sure=True) to do it", self.prefix, self.path)
            return False
        r = self._c()
        self._changed()
        with self._net("delete the keys of"):
            batch = []
            for key in r.scan_iter(match=_glob(self.prefix) + "*", count=1000):
                batch.append(key)
                if len(batch) >= 1000:
                    r.unlink(*batch)
                    batch = []
            if batch:
                r.unlink(*batch)
            # other processes' watchers (revalidate=push): everything changed
            r.publish(self.prefix + "{}:chg:", "0")
        self._drop_cache()
        self.sleep()
        log.info("deleted every key under %r in Redis at %s", self.prefix, self.path)
        return True

    def __repr__(self):
        state = " asleep" if getattr(self, "_client", None) is None else ""
        return "<Brain redis=%r prefix=%r namespace=%r%s>" % (
            self.path, self.prefix, self.namespace, state)

    # ---- keys ------------------------------------------------------------

    def _base(self, ns=None):
        return "%s{%s}" % (self.prefix, _esc(self.namespace if ns is None else ns))

    def _mkey(self, name, ns=None):
        return "%s:m:%s" % (self._base(ns), name)

    def _chunk_keys(self, base, oid, c):
        return ["%s:d:%s:%d" % (base, oid, j) for j in range(c)]

    # ---- storing ---------------------------------------------------------

    def _encode(self, thing, name):
        """(type tag, stored bytes) of THING: the local store's layouts."""
        kind, payload = serialize.encode(thing, name, self._safe, self.pack_strings)
        if kind == "array":
            try:
                return serialize.TYPE_OF[kind], serialize.pack(kind, payload)
            except BrainValueTypeError:  # a dtype the layout does not know
                if self._safe:
                    raise
                kind, payload = "pickle", serialize._pickle(thing, name)
        return serialize.TYPE_OF[kind], serialize.pack(kind, payload, serialize.hint_of(thing))

    def _commit(self, rows, replace_all=False):
        """Stores ROWS [(ns, name, tag, data, desc, ttl_ms, if_version)] in
        one atomic script; large values' chunks are uploaded first (with a
        pending expiry), so a writer that dies before the commit leaves
        nothing visible.  Returns the versions."""
        r = self._c()
        args = []
        uploads = []
        for ns, name, tag, data, desc, ttl_ms, if_version in rows:
            if desc is not None:  # the local store's limits: save() keeps it
                if not isinstance(desc, str):
                    raise BrainValueError(
                        "description is a str; got %s %.60r" % (type(desc).__name__, desc))
                if "\x00" in desc or len(desc.encode("utf-8", "surrogatepass")) > _core.DESC_MAX:
                    raise BrainValueError(
                        "a description is at most %d bytes of UTF-8 without NUL "
                        "characters; got %d characters%s" % (
                            _core.DESC_MAX, len(desc), " with a NUL" if "\x00" in desc else ""))
                try:
                    desc.encode("utf-8")
                except UnicodeEncodeError:
                    raise BrainValueError("a description is UTF-8 text; %.60r has a lone "
                                          "surrogate" % (desc,)) from None
            if if_version is not None and (isinstance(if_version, bool) or
                                           not isinstance(if_version, int) or if_version < 0):
                raise BrainValueError(
                    "if_version is a version (int >= 0, 0: the name must be absent); got %r"
                    % (if_version,))
            oid = os.urandom(20).hex()
            n = len(data)
            if n <= self.inline_max:
                chunks, inline = 0, data
            else:
                base = self._base(ns)
                mv = memoryview(data)
                if mv.ndim != 1 or mv.itemsize != 1:
                    mv = mv.cast("B")
                keys = self._chunk_keys(base, oid, (n + self.chunk_size - 1) // self.chunk_size)
                for j, key in enumerate(keys):
                    uploads.append((key, mv[j * self.chunk_size:(j + 1) * self.chunk_size]))
                chunks, inline = len(keys), b""
            args += [ns, name, "" if if_version is None else str(if_version), str(tag),
                     str(n), oid, desc or "", str(ttl_ms), str(chunks),
                     str(self.chunk_size), inline]
        self._changed(None if replace_all else [(row[0], row[1]) for row in rows])
        now = time.time()
        try:
            with self._net("store values in"):
                for key, part in uploads:  # one chunk per command: bounded buffers
                    r.set(key, part, px=PENDING_TTL_MS)
                if replace_all and self.cluster:  # one namespace at a time there
                    for ns in self._all_namespaces():
                        self._scripts["CLEAR"](keys=[self._base(ns) + ":names"],
                                               args=[self._base(ns)])
                res = self._scripts["COMMIT"](
                    keys=[self._base(rows[0][0] if rows else None) + ":names"],
                    args=[self.prefix, "1" if replace_all else "0", repr(now),
                          str(int(now * 1000)), str(len(rows)), os.urandom(8).hex(),
                          "1" if self.cluster else "0"] + args)
                if self.cluster and res[0] != 0:
                    r.sadd(self.prefix + "namespaces", *{row[0] for row in rows})
        except BrainError:
            if uploads:  # best effort: they would expire anyway
                try:
                    r.unlink(*[k for k, _ in uploads])
                except Exception:
                    pass
            raise
        if res[0] == 0:
            i, cur = int(res[1]), int(res[2])
            ns, name = rows[i][0], rows[i][1]
            if uploads:  # the pending chunks are garbage now
                with self._net("clean up in"):
                    r.unlink(*[k for k, _ in uploads])
            raise BrainVersionConflictError(
                "cannot store %r in namespace %r: its version is %d, not %d "
                "(if_version); nothing was stored. Recall it and its version "
                "again, then retry" % (name, ns, cur, rows[i][6]))
        return [int(v) for v in res[1:]]

    def learn(self, thing, name, description=None, *, ttl=None, if_version=None):
        _check_name(name)
        self._c()
        tag, data = self._encode(thing, name)
        return self._commit([(self.namespace, name, tag, data, description,
                              _ttl_ms(ttl), if_version)])[0]

    def learn_many(self, mapping, *, ttl=None):
        items = list(mapping.items())
        self._c()
        ttl_ms = _ttl_ms(ttl)
        rows = []
        for name, thing in items:
            _check_name(name)
            tag, data = self._encode(thing, name)
            rows.append((self.namespace, name, tag, data, None, ttl_ms, None))
        if not rows:
            return {}
        versions = self._commit(rows)
        return {name: v for (name, _), v in zip(items, versions)}

    # ---- reading ---------------------------------------------------------

    def _meta(self, name, ns, during=None):
        """(the fields _FIELDS of NAME or None, what DURING returned).  One
        round trip; DURING (optional, no argument) runs while the command
        is on its way, so local work overlaps the round trip (_NOPE when it
        did not run)."""
        key = self._mkey(name, ns)
        f = self._fast
        if f is None or f.pid != os.getpid() or self.cluster:
            f = self._fast_for(key)
        if f is not None and f.lock.acquire(False):  # else another thread has it
            try:
                vals, spec = f.hmget(key, during)
            except Exception as exc:
                redis = f.redis
                if not (self.cluster and isinstance(exc, redis.exceptions.ConnectionError)):
                    # as _net does, without its object
                    _NetErrors(self, "read from").__exit__(type(exc), exc, None)
                    raise
                # a cluster's node gone: redis-py's client says so, and
                # reloads its map of slots (a replica may have taken over)
                vals = spec = _NOPE
            finally:
                f.lock.release()
            if vals is not _NOPE:
                return (None if vals[0] is None else vals), spec
        with self._net("read from"):
            vals = self._c().hmget(key, _FIELDS)
        return (None if vals[0] is None else vals), _NOPE

    def _fast_for(self, key):
        """The recall's own connection (_Fast) to the server of KEY, or None
        (then redis-py's client).  On a cluster, one per node, made anew
        when redis-py's map of slots names another node or client for the
        key's slot; error replies (MOVED, ASK, CLUSTERDOWN, ...) and a node
        gone go through redis-py's client, which follows them."""
        pid = os.getpid()
        if not self.cluster:
            f = self._fast
            if f is None or f.pid != pid:
                f = self._fast = _Fast(self._c())
            return f
        try:
            client = self._c().get_node_from_key(key).redis_connection
        except Exception:  # no node for the slot now: redis-py says why
            return None
        if client is None:
            return None
        fasts = self._fasts
        if fasts[0] != pid:
            fasts = self._fasts = (pid, {})
        f = fasts[1].get(id(client))
        if f is None or f.client is not client:
            if len(fasts[1]) > 64:  # nodes come and go: drop the old ones
                for old in fasts[1].values():
                    old.close()
                fasts[1].clear()
            f = fasts[1][id(client)] = _Fast(client, reconnect=False)
        return f

    def _missing(self, name, ns=None):
        return BrainNameNotExistError(
            "%r does not exist in namespace %r of the Redis brain at %s: it was "
            "never learned, was forgotten, or expired; brain.names() lists the "
            "names there, brain.get(name, default) does not raise"
            % (name, self.namespace if ns is None else ns, self.path))

    def _chunks(self, base, oid, c, size):
        """The stored bytes of a large value (SIZE bytes in C chunks), in a
        private bytearray."""
        out = bytearray(size)
        self._read_chunks(base, oid, c, memoryview(out))
        return out

    def _read_chunks(self, base, oid, c, out):
        """Reads the C chunks of a value straight into the writable
        memoryview OUT (its size): one pipelined GET per chunk, each reply
        received into its place (no parser buffer, no bytes object).
        Raises _Replaced when a chunk is gone (the value was replaced)."""
        redis = _redis()
        r = self._c()
        cmds = [("GET", key) for key in self._chunk_keys(base, oid, c)]
        if self.cluster:  # the chunks of a value share its namespace's slot
            pool = r.get_node_from_key(cmds[0][1]).redis_connection.connection_pool
        else:
            pool = r.connection_pool
        with self._net("read from"):
            for attempt in range(2):
                conn = pool.get_connection()
                clean = False
                try:
                    conn.send_packed_command(conn.pack_commands(cmds))
                    missing = _read_bulks(conn._sock, out, c)
                    clean = True
                except (OSError, redis.exceptions.ConnectionError) as exc:
                    if attempt == 0 and not isinstance(exc, TimeoutError):
                        continue  # a connection that went stale: once more
                    raise redis.exceptions.ConnectionError(str(exc) or type(exc).__name__) from exc
                finally:
                    if not clean:
                        conn.disconnect()
                    pool.release(conn)
                if missing:
                    raise _Replaced()
                return

    def _value(self, name, ns, vals, copy):
        """The Python value of NAME from its metadata VALS; raises
        _Replaced when its chunks are gone (replaced meanwhile)."""
        v, t, n, oid, c, k, d, x = vals
        tag, c = int(t), int(c)
        if c == 0:
            return _decode(name, tag, bytearray(d) if copy else d, self._safe)
        oid = oid.decode()
        base = self._base(ns)
        if copy or self.cache_path is None or self._safe and tag in (
                _core.TYPE_PICKLE, _core.TYPE_PICKLE_STREAM):
            data = self._chunks(base, oid, c, int(n))
            return _decode(name, tag, data if copy else memoryview(data).toreadonly(),
                           self._safe)
        return self._cached(name, ns, tag, oid, c, int(n))

    def recall(self, name, copy=False):
        _check_name(name)
        ns = self.namespace
        w = None
        if self.revalidate == "push" and not copy and self.cache_path is not None:
            w = self._watcher()
            value = self._pushed(w, ns, name)
            if value is not _NOPE:
                return value
        during = ent = None
        if not copy and self.recall_cache and not self._safe and self.cache_path is not None:
            ent = self._seen[1].get((ns, name))
            if ent is not None:  # a frame this process may have kept
                cache = self._cache_store()

                def during():
                    return self._kept(cache, ns, name, ent[1])
        for _ in range(_RETRIES):
            seq = w.seq if w is not None and w.ready else None
            vals, kept = self._meta(name, ns, during)
            if vals is None:
                raise self._missing(name)
            # the frame kept of the cache entry that holds the object id
            # Redis just gave: the value (entries never change)
            if kept is not _NOPE and kept is not _CACHE_MISS and vals[3] is not None \
                    and vals[3].decode() == ent[1] and int(vals[1]) == _core.TYPE_PICKLE:
                value = kept
            else:
                try:
                    value = self._value(name, ns, vals, copy)
                except _Replaced:
                    continue
            if seq is not None and int(vals[4]):
                w.remember(seq, ns, name, vals[3].decode(), int(vals[1]),
                           int(vals[7]) if vals[7] else 0)
            return value
        raise BrainError("cannot recall %r: it was replaced %d times while being read; "
                         "try again" % (name, _RETRIES))

    # ---- revalidate=push -------------------------------------------------

    def _watcher(self):
        key = (os.getpid(), self._where, self.prefix)
        w = _watchers.get(key)
        if w is None:
            with _watchers_lock:
                w = _watchers.get(key)
                if w is None:
                    w = _watchers[key] = _Watcher(self._c(), self.prefix, self.path,
                                                  self.cluster)
        return w

    def _pushed(self, w, ns, name):
        """NAME's value from the cache when the subscription says it did not
        change since it was last checked; _NOPE otherwise."""
        ent = w.known.get((ns, name))
        if ent is None or not w.ready or not w.quiet():
            return _NOPE
        oid, tag, expires = ent
        if expires and time.time() * 1000 >= expires:
            return _NOPE
        value = self._host_value(self._cache_store(), ns, name, tag, oid)
        return _NOPE if value is _CACHE_MISS else value

    def _changed(self, keys=None):
        """This process changes KEYS [(ns, name)] (None: maybe any): its
        watcher forgets them now, before their messages come back."""
        w = _watchers.get((os.getpid(), self._where, self.prefix))
        if w is not None:
            w.forget(keys)

    def recall_many(self, names, copy=False):
        names = list(names)
        for n in names:
            _check_name(n)
        ns = self.namespace
        r = self._c()
        for _ in range(_RETRIES):
            with self._net("read from"):
                p = r.pipeline(transaction=True)  # MULTI/EXEC: one snapshot
                for n in names:
                    p.hmget(self._mkey(n, ns), _FIELDS)
                metas = p.execute()
            out = {}
            try:
                for n, vals in zip(names, metas):
                    if vals[0] is None:
                        raise self._missing(n)
                    out[n] = self._value(n, ns, vals, copy)
            except _Replaced:
                continue
            return out
        raise BrainError("cannot recall_many: the values were replaced %d times while "
                         "being read; try again" % _RETRIES)

    def exists(self, name):
        _check_name(name)
        with self._net("read from"):
            return bool(self._c().exists(self._mkey(name)))

    # ---- the host's cache ------------------------------------------------

    def _cache_store(self):
        pid = os.getpid()
        if self._cache is None or self._cache_pid != pid or self._cache.closed:
            from .brain import _open_store
            self._cache, _ = _open_store(self.cache_path, True, self.cache_size)
            self._cache.set_lock_timeout(self._lock_timeout)
            self._cache_pid = pid
            if self._lockfd is None:
                self._lockfd = os.open(self._cache.path + ".lock",
                                       os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        return self._cache

    def _drop_cache(self):
        if self.cache_path is None:
            return
        try:
            from .brain import _forget_store
            path = _core.resolve(self.cache_path)
            _forget_store(path)
            self._cache = None
            if self._lockfd is not None:
                os.close(self._lockfd)
                self._lockfd = None
            _core.destroy(path)
            os.unlink(path + ".lock")
        except FileNotFoundError:
            pass

    def _cached_view(self, cache, ns, name, oid):
        try:
            view = cache.get(ns, name)
        except BrainNameNotExistError:
            return None
        if view.info["description"] == oid:
            return view
        view.release()
        return None

    def _cached(self, name, ns, tag, oid, c, size):
        """The value whose object id is OID: from this host's cache, or
        fetched once into it (one worker of the host fetches; the others
        wait for it, then read the cache)."""
        cache = self._cache_store()
        value = self._host_value(cache, ns, name, tag, oid)
        if value is not _CACHE_MISS:
            return value
        # fcntl locks exclude other processes (and go when one dies);
        # the thread lock, other threads of this one
        slot = zlib.crc32(("%s\0%s" % (ns, name)).encode()) & 0xFFFFF
        # a frame this process kept of the old entry pins its memory
        recall_cache.drop(cache, ns, name)
        with _fill_lock:
            fcntl.lockf(self._lockfd, fcntl.LOCK_EX, 1, slot)
            try:
                view = self._cached_view(cache, ns, name, oid)
                if view is None and self._cache_fill(cache, ns, name, tag, oid, c, size):
                    view = self._cached_view(cache, ns, name, oid)
            finally:
                fcntl.lockf(self._lockfd, fcntl.LOCK_UN, 1, slot)
        if view is None:  # too big for the cache, or evicted at once
            data = self._chunks(self._base(ns), oid, c, size)
            return _decode(name, tag, memoryview(data).toreadonly(), self._safe)
        return self._from_view(cache, ns, name, tag, view, oid)

    def _host_value(self, cache, ns, name, tag, oid):
        """The value of object id OID as this host's cache holds it now: the
        frame this process kept of it, or decoded from the cache's entry;
        _CACHE_MISS when the cache has no entry holding OID."""
        if self.recall_cache and tag == _core.TYPE_PICKLE:
            kept = self._kept(cache, ns, name, oid)
            if kept is not _CACHE_MISS:
                return kept
        view = self._cached_view(cache, ns, name, oid)
        if view is None:
            return _CACHE_MISS
        return self._from_view(cache, ns, name, tag, view, oid)

    def _from_view(self, cache, ns, name, tag, view, oid):
        """The value of VIEW (NAME's entry in the host's cache, checked to
        hold object id OID, the one Redis gave).  A frame whose decoding is
        costly is kept by this process (brain_plasma.recall_cache), tied to
        the entry's version in the cache store; _kept finds it again.  A
        new value in Redis has a new object id, so a new entry (a new
        version) in the cache."""
        if not self.recall_cache or self._safe or tag != _core.TYPE_PICKLE:
            return _decode(name, tag, view, self._safe)
        version = view.version
        seen = self._seen
        if seen[0] is not cache:  # another store: its versions are its own
            seen = self._seen = (cache, {})
        if len(seen[1]) >= 4096:
            seen[1].clear()
        # version VERSION of the entry holds OID: true for as long as this
        # store lives (every put makes a new version)
        seen[1][(ns, name)] = (version, oid)
        kept = self._kept(cache, ns, name, oid)
        if kept is not _CACHE_MISS:
            view.release()
            return kept
        t0 = _perf()
        value = _decode(name, tag, view, False)
        dt = _perf() - t0
        return recall_cache.offer(cache, ns, name, version, value, dt, len(view))

    def _kept(self, cache, ns, name, oid):
        """A shallow copy of the frame this process kept of NAME's entry in
        the cache when that entry holds object id OID, else _CACHE_MISS.
        No view is taken: SEEN says which version of the entry held OID
        (version V, seen current at some time t0); recall_cache.get hits
        when its frame's version K is the entry's version at t2; the
        entry's version at t3 > t2 is V again; versions only grow, so
        V <= K <= V: the frame is version V's, which holds OID."""
        seen = self._seen
        if seen[0] is not cache or self._safe:
            return _CACHE_MISS
        e = seen[1].get((ns, name))
        if e is None or e[1] != oid:
            return _CACHE_MISS
        kept = recall_cache.get(cache, ns, name)
        if kept is not _CACHE_MISS:
            try:
                if cache.version_of(ns, name) != e[0]:
                    return _CACHE_MISS
            except BrainError:  # the store was closed meanwhile
                return _CACHE_MISS
        return kept

    def _cache_fill(self, cache, ns, name, tag, oid, c, size):
        """Receives the value's chunks from Redis straight into a
        reservation in the cache, evicting the least recently filled
        entries when it does not fit; False when it cannot fit."""
        if size > cache.stats()["capacity"] // 2:
            log.info("cache %s: %r (%d bytes) is over half the cache; recalled "
                     "without caching", cache.path, name, size)
            return False
        base = self._base(ns)
        for attempt in range(2):
            try:
                cache.put_filled(ns, name, size,
                                 lambda mv: self._read_chunks(base, oid, c, mv),
                                 type=tag, desc=oid)
                return True
            except BrainStoreFullError:
                if attempt:
                    break
                entries = sorted(cache.list(None, all=True), key=lambda d: d["updated"])
                need = size + (1 << 20)
                freed = cache.stats()["free"]
                for e in entries:
                    if freed >= need:
                        break
                    try:
                        cache.delete(e["namespace"], e["name"])
                    except BrainNameNotExistError:
                        continue
                    freed += e["size"]
                    log.debug("cache %s: evicted %s/%s (%d bytes)", cache.path,
                              e["namespace"], e["name"], e["size"])
        log.info("cache %s: %r (%d bytes) does not fit; recalled without caching",
                 cache.path, name, size)
        return False

    # ---- removing --------------------------------------------------------

    def forget(self, name):
        _check_name(name)
        self._c()
        self._changed([(self.namespace, name)])
        with self._net("forget a name in"):
            ok = self._scripts["FORGET"](keys=[self._base() + ":names"],
                                         args=[self._base(), name])
        if not ok:
            raise self._missing(name)

    def clear(self):
        self._c()
        self._changed()
        with self._net("forget names in"):
            return int(self._scripts["CLEAR"](keys=[self._base() + ":names"],
                                              args=[self._base()]))

    # ---- listing ---------------------------------------------------------

    def _names(self, ns):
        self._c()
        with self._net("list names in"):
            return [n.decode("utf-8") for n in self._scripts["NAMES"](
                keys=[self._base(ns) + ":names"], args=[self._base(ns)])]

    def _all_namespaces(self):
        with self._net("list namespaces in"):
            return sorted(n.decode("utf-8") for n in
                          self._c().smembers(self.prefix + "namespaces"))

    def names(self, namespace=None):
        if namespace == "all":
            out = []
            for ns in self._all_namespaces():
                out += self._names(ns)
            return sorted(out)
        ns = self.namespace if namespace is None else _check_namespace(namespace)
        return sorted(self._names(ns))

    def __len__(self):
        return len(self._names(self.namespace))

    def _info(self, ns, name, h):
        x = h.get(b"x")
        desc = h.get(b"s")
        t = int(h[b"t"])
        return {
            "namespace": ns, "name": name, "type": t, "type_name": _core.type_name(t),
            "size": int(h[b"n"]), "version": int(h[b"v"]),
            "created": float(h[b"cr"]), "updated": float(h[b"up"]),
            "expires": int(x) / 1000.0 if x else None,
            "object_id": bytes.fromhex(h[b"o"].decode()),
            "description": desc.decode("utf-8", "replace") if desc else None,
        }

    _INFO_FIELDS = ("v", "t", "n", "o", "cr", "up", "x", "s")

    def _infos(self, ns, names):
        r = self._c()
        with self._net("read from"):
            p = r.pipeline(transaction=False)
            for n in names:
                p.hmget(self._mkey(n, ns), self._INFO_FIELDS)
            rows = p.execute()
        out = []
        for n, vals in zip(names, rows):
            if vals[0] is None:
                out.append(None)
            else:
                h = {k.encode(): v for k, v in zip(self._INFO_FIELDS, vals) if v is not None}
                out.append(self._info(ns, n, h))
        return out

    def info(self, name):
        _check_name(name)
        d = self._infos(self.namespace, [name])[0]
        if d is None:
            raise self._missing(name)
        return d

    def _listing(self):
        ns = self.namespace
        infos = [d for d in self._infos(ns, self._names(ns)) if d is not None]
        return sorted(infos, key=lambda d: d["name"])

    # ---- namespaces ------------------------------------------------------

    def namespaces(self):
        found = {ns for ns in self._all_namespaces() if self._names(ns)}
        found.add(DEFAULT_NAMESPACE)
        found.add(self.namespace)
        return sorted(found)

    def remove_namespace(self, namespace=None):
        ns = self.namespace if namespace is None else _check_namespace(namespace)
        if ns == DEFAULT_NAMESPACE:
            raise BrainNamespaceRemoveDefaultError(
                "the 'default' namespace cannot be removed; use "
                "brain.clear() in it to forget its names")
        if ns != self.namespace and not self._names(ns):
            raise BrainNamespaceNotExistError(
                "namespace %r does not exist in the Redis brain at %s (namespaces: %s)"
                % (ns, self.path, ", ".join(self.namespaces())))
        self._changed()
        with self._net("forget names in"):
            removed = int(self._scripts["CLEAR"](keys=[self._base(ns) + ":names"],
                                                 args=[self._base(ns)]))
            self._c().srem(self.prefix + "namespaces", ns)
        if ns == self.namespace:
            self.namespace = DEFAULT_NAMESPACE
        return removed

    # ---- size ------------------------------------------------------------

    def stats(self):
        """Redis's memory (capacity: maxmemory, or the host's memory when
        Redis has no limit), the names of this brain, and the cache's
        statistics on this host."""
        with self._net("read the statistics of"):
            mem = self._c().info("memory")
        cap = int(mem.get("maxmemory") or 0) or int(mem.get("total_system_memory", 0))
        used = int(mem.get("used_memory", 0))
        out = {"capacity": cap, "used": used, "free": max(0, cap - used),
               "names": len(self.names("all"))}
        if self.cache_path is not None:
            st = self._cache_store().stats()
            out.update(cache_capacity=st["capacity"], cache_used=st["used"],
                       cache_names=st["names"])
        return out

    def size(self):
        return self.stats()["capacity"]

    def used(self):
        return self.stats()["used"]

    def free(self):
        return self.stats()["free"]

    def resize(self, size):
        raise BrainValueError(
            "a Redis brain's capacity is Redis's maxmemory: set it in redis.conf "
            "or with redis-cli CONFIG SET maxmemory %s (the host cache's size is "
            "the URL's cache_size=...)" % (size,))

    # ---- versions, expiry, waiting --------------------------------------

    def version(self, name):
        _check_name(name)
        with self._net("read from"):
            v = self._c().hget(self._mkey(name), "v")
        return 0 if v is None else int(v)

    def wait(self, name, timeout=None, after_version=None):
        """Blocks until NAME changes and returns its new version (0 when
        absent).  Writers publish each change on the name's channel; an
        expiry publishes nothing, so the wait also wakes when the current
        value's expiry comes.  No polling."""
        _check_name(name)
        if timeout is not None and not timeout >= 0:
            raise BrainValueError("timeout is seconds >= 0 or None; got %r" % (timeout,))
        r = self._c()
        mk = self._mkey(name)
        deadline = None if timeout is None else time.monotonic() + timeout
        db = 0 if self.cluster else r.connection_pool.connection_kwargs.get("db", 0)
        with self._net("wait on"):
            ps = r.pubsub(ignore_subscribe_messages=True)
            try:
                ps.subscribe("%s:chg:%s" % (self._base(), name),
                             "__keyspace@%s__:%s" % (db, mk))
                if after_version is None:
                    after_version = self.version(name)
                while True:
                    p = r.pipeline(transaction=True)
                    p.hget(mk, "v")
                    p.pttl(mk)
                    v, pttl = p.execute()
                    v = 0 if v is None else int(v)
                    if v != after_version:
                        return v
                    wake = None if deadline is None else deadline - time.monotonic()
                    if wake is not None and wake <= 0:
                        raise BrainTimeoutError(
                            "%r did not change from version %d within %gs"
                            % (name, after_version, timeout))
                    if pttl > 0:
                        wake = pttl / 1000 + 0.001 if wake is None else min(wake, pttl / 1000 + 0.001)
                    # get_message(None) blocks until a message comes
                    ps.get_message(timeout=wake)
            finally:
                ps.close()

    def expire(self):
        """Redis expires names itself; this drops expired names from the
        namespaces' name sets and returns how many it dropped."""
        r = self._c()
        dropped = 0
        for ns in self._all_namespaces():
            with self._net("read from"):
                before = r.scard(self._base(ns) + ":names")
            dropped += before - len(self._names(ns))
        return dropped

    def check(self):
        """Checks that every large value has all its chunks; returns the
        problems found (empty: sound)."""
        r = self._c()
        problems = []
        for ns in self._all_namespaces():
            base = self._base(ns)
            for name in self._names(ns):
                with self._net("read from"):
                    oid, c = r.hmget(self._mkey(name, ns), ("o", "c"))
                    if oid is None or not int(c):
                        continue
                    keys = self._chunk_keys(base, oid.decode(), int(c))
                    there = r.exists(*keys)
                if there != len(keys):
                    problems.append("%s/%s: %d of its %d chunks are missing"
                                    % (ns, name, len(keys) - there, len(keys)))
        return problems

    # ---- persistence -------------------------------------------------------

    def snapshot_path(self):
        base = os.environ.get("XDG_DATA_HOME") or os.path.join(
            os.path.expanduser("~"), ".local", "share")
        leaf = "redis-" + "".join(ch if ch.isalnum() or ch in "-." else "-"
                                  for ch in self._where + "-" + self.prefix.rstrip(":"))
        return os.path.join(base, "brain-plasma", leaf + ".snapshot")

    def _raw_namespace(self, ns):
        """[(name, tag, data, info)] of every name of NS, from one MULTI/EXEC
        snapshot of their metadata."""
        r = self._c()
        names = self._names(ns)
        base = self._base(ns)
        for _ in range(_RETRIES):
            with self._net("read from"):
                p = r.pipeline(transaction=True)
                for n in names:
                    p.hgetall(self._mkey(n, ns))
                rows = p.execute()
            out = []
            try:
                for n, h in zip(names, rows):
                    if not h:
                        continue
                    if isinstance(h, list):  # a cluster transaction's raw reply
                        h = dict(zip(h[0::2], h[1::2]))
                    c = int(h[b"c"])
                    data = h[b"d"] if c == 0 else self._chunks(
                        base, h[b"o"].decode(), c, int(h[b"n"]))
                    out.append((n, int(h[b"t"]), data, self._info(ns, n, h)))
            except _Replaced:
                continue
            return out
        raise BrainError("cannot save namespace %r: its values kept changing" % ns)

    def save(self, path=None):
        """Writes every name of every namespace under the prefix to a
        snapshot file in the local store's format (``brain load`` and
        ``Brain().load`` read it).  Each namespace is read from one
        consistent snapshot.  Returns the file's path."""
        if path is None:
            path = self.snapshot_path()
            os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        path = os.fspath(path)
        dump = {ns: self._raw_namespace(ns) for ns in self._all_namespaces()}
        total = sum(len(d) for rows in dump.values() for _, _, d, _ in rows)
        tmp = _TempStore(total)
        try:
            now = time.time()
            for ns, rows in dump.items():
                for name, tag, data, info in rows:
                    ttl = 0
                    if info["expires"] is not None:
                        ttl = int((info["expires"] - now) * 1000)
                        if ttl <= 0:
                            continue
                    tmp.store.put(ns, name, data, type=tag, desc=info["description"],
                                  ttl_ms=ttl)
            n = tmp.store.snapshot_save(path)
        finally:
            tmp.close()
        log.info("saved %d names of the Redis brain at %s to %s", n, self.path, path)
        return path

    def load(self, path=None, merge=False):
        """Restores a snapshot written by save() (or by a local Brain, or
        ``brain save``).  The file is checked whole first (a damaged one
        raises BrainSnapshotError and changes nothing); then one atomic
        commit writes its names, after forgetting every other name under
        the prefix unless ``merge=True``.  Returns how many names were
        loaded."""
        path = os.fspath(self.snapshot_path() if path is None else path)
        try:
            size = os.path.getsize(path)
        except OSError as exc:
            raise BrainSnapshotError(
                "cannot load %s: %s; nothing was changed" % (path, exc.strerror)) from None
        tmp = _TempStore(size)
        try:
            tmp.store.snapshot_load(path)
            rows = []
            now = time.time()
            for info in tmp.store.list(None, all=True):
                ns, name = info["namespace"], info["name"]
                ttl = 0
                if info["expires"] is not None:
                    ttl = int((info["expires"] - now) * 1000)
                    if ttl <= 0:
                        continue
                tag, data = tmp.store.read(ns, name)
                rows.append((ns, name, tag, data, info["description"], ttl, None))
        finally:
            tmp.close()
        if self.cluster:  # one commit per namespace: each is one slot
            groups = {}
            for row in rows:
                groups.setdefault(row[0], []).append(row)
            if not groups and not merge:
                self._commit([], replace_all=True)
            for i, group in enumerate(groups.values()):
                self._commit(group, replace_all=not merge and i == 0)
        elif rows or not merge:
            self._commit(rows, replace_all=not merge)
        log.info("loaded %d names into the Redis brain at %s from %s", len(rows), self.path, path)
        return len(rows)


_fill_lock = threading.Lock()
# (pid, server, prefix) -> _Watcher, for revalidate=push
_watchers = {}
_watchers_lock = threading.Lock()


def _reset_fill_lock():
    global _fill_lock, _watchers_lock
    _fill_lock = threading.Lock()
    _watchers_lock = threading.Lock()


class _Watcher:
    """revalidate=push: a thread of this process subscribed to every change
    channel under PREFIX.  KNOWN maps (ns, name) to (object id, type tag,
    expiry in Unix ms or 0) of values this process checked against Redis
    while subscribed; each change message drops its name, and losing the
    subscription, a silent server (no PONG within DEAD seconds) or a new
    PREFIXepoch (Redis emptied) drops them all.  SEQ counts those events: a
    recall remembers what it read only when no event happened since it
    asked, so no message can be missed between the read and the
    remembering."""

    TICK = 1.0
    DEAD = 3.0

    def __init__(self, client, prefix, where, cluster=False):
        self.client, self.prefix, self.where = client, prefix, where
        self.cluster = cluster
        self.lock = threading.Lock()
        self.known = {}
        self.seq = 0
        self.ready = False
        self.epoch = None
        self.sock = None
        t = threading.Thread(target=self._run, name="brain-redis-watch", daemon=True)
        t.start()

    def remember(self, seq, ns, name, oid, tag, expires):
        with self.lock:
            if self.ready and self.seq == seq:
                self.known[(ns, name)] = (oid, tag, expires)

    def quiet(self):
        """True when nothing waits on the subscription's socket: no
        message and no end of connection that the thread has yet to
        handle (a recall then may trust KNOWN)."""
        sock = self.sock
        if sock is None:
            return False
        try:
            if getattr(sock, "pending", None) and sock.pending():  # TLS
                return False
            return not select.select([sock], [], [], 0)[0]
        except (OSError, ValueError):
            return False

    def forget(self, keys=None):
        with self.lock:
            self.seq += 1
            if keys is None:
                self.known.clear()
            else:
                for k in keys:
                    self.known.pop(k, None)

    def _reset(self, ready, epoch=_NOPE, sock=_NOPE):
        with self.lock:
            self.seq += 1
            self.known.clear()
            self.ready = ready
            if not ready:
                self.sock = None
            elif sock is not _NOPE:
                self.sock = sock
            if epoch is not _NOPE:
                self.epoch = epoch

    def _epoch(self):
        """What changes when Redis lost data: PREFIXepoch (a Redis
        emptied); on a cluster, which writes no such key, also the
        cluster's epoch, which a failover raises (the new primary may
        lack writes the old one acknowledged, and nothing publishes
        that)."""
        epoch = self.client.get(self.prefix + "epoch")
        if self.cluster:
            # one node's view (the client's default node): nodes learn a
            # new epoch by gossip, one after the other
            node = self.client.get_default_node()
            epoch = (epoch, self.client.cluster_info(target_nodes=node).get(
                "cluster_current_epoch"))
        return epoch

    def _key(self, channel):
        """(ns, name) of a change channel; None: every name."""
        text = channel.decode("utf-8", "replace")[len(self.prefix):]
        i = text.find("}:chg:")
        if not text.startswith("{") or i < 0 or i == 1:
            return None
        ns = urllib.parse.unquote(text[1:i])
        return ns, text[i + len("}:chg:"):]

    def _run(self):
        pattern = _glob(self.prefix) + "{*}:chg:*"
        while True:
            ps = None
            try:
                ps = self.client.pubsub()
                ps.psubscribe(pattern)
                last_seen = last_tick = time.monotonic()
                while True:
                    msg = ps.get_message(timeout=self.TICK)
                    now = time.monotonic()
                    if msg is not None:
                        last_seen = now
                        if msg["type"] == "psubscribe":
                            self._reset(True, self._epoch(), ps.connection._sock)
                        elif msg["type"] == "pmessage":
                            self.forget(None if (k := self._key(msg["channel"])) is None
                                        else [k])
                    if now - last_tick >= self.TICK:
                        last_tick = now
                        ps.ping()
                        epoch = self._epoch()
                        if epoch != self.epoch:
                            self._reset(True, epoch)
                    if now - last_seen > self.DEAD:
                        raise TimeoutError("no PONG within %gs" % self.DEAD)
            except Exception as exc:
                log.debug("revalidate=push: subscription to %s lost (%s); every "
                          "recall checks Redis until it is back", self.where, exc)
                self._reset(False)
                time.sleep(0.2)
            finally:
                if ps is not None:
                    try:
                        ps.close()
                    except Exception:
                        pass


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_fill_lock)


def _read_bulks(sock, out, count):
    """Reads COUNT RESP bulk-string replies from SOCK into the memoryview
    OUT, one after the other (they fill it exactly); nil replies are
    skipped.  Returns True when one was nil (a chunk is gone)."""
    buf = bytearray()
    pos = 0
    missing = False

    def line():
        nonlocal buf
        while True:
            i = buf.find(b"\r\n")
            if i >= 0:
                head = bytes(buf[:i])
                del buf[:i + 2]
                return head
            more = sock.recv(65536)
            if not more:
                raise ConnectionError("Redis closed the connection")
            buf += more

    def take(dst, n):
        """N bytes into DST (a memoryview) or, without DST, dropped."""
        k = min(len(buf), n)
        if dst is not None and k:
            dst[:k] = buf[:k]
        del buf[:k]
        got = k
        scratch = None
        while got < n:
            if dst is not None:
                r = sock.recv_into(dst[got:n])
            else:
                scratch = scratch or bytearray(min(n, 1 << 20))
                r = sock.recv_into(scratch, min(n - got, len(scratch)))
            if not r:
                raise ConnectionError("Redis closed the connection")
            got += r

    for _ in range(count):
        head = line()
        if head.startswith(b"-"):
            raise _redis().exceptions.ResponseError(head[1:].decode("utf-8", "replace"))
        if head == b"_":  # RESP3's null
            missing = True
            continue
        if not head.startswith(b"$"):
            raise BrainError("Redis answered %r to a GET; brain_plasma reads RESP2 and "
                             "RESP3 bulk strings only" % head[:40])
        n = int(head[1:])
        if n < 0:
            missing = True
            continue
        if pos + n > len(out):
            raise BrainError("a chunk of %d bytes does not fit the value's size (%d); the "
                             "keys were changed by something other than brain_plasma"
                             % (n, len(out)))
        take(None if missing else out[pos:pos + n], n)
        pos += n
        while len(buf) < 2:
            more = sock.recv(2 - len(buf))
            if not more:
                raise ConnectionError("Redis closed the connection")
            buf += more
        del buf[:2]
    if not missing and pos != len(out):
        raise BrainError("a value's chunks hold %d bytes, its metadata says %d; the keys "
                         "were changed by something other than brain_plasma" % (pos, len(out)))
    return missing


def _glob(text):
    """TEXT with the glob characters of SCAN MATCH escaped."""
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)


class _TempStore:
    """A private local store for save/load, removed on close."""

    def __init__(self, payload):
        cap = max(_core.MIN_CAPACITY, int(payload * 1.25) + (64 << 20))
        self.path = _core.resolve("redis-tmp-%d-%s" % (os.getpid(), os.urandom(6).hex()))
        self.store = _core.Store(self.path, create=True, capacity=cap, exclusive=True)

    def close(self):
        self.store.close()
        try:
            _core.destroy(self.path)
        except FileNotFoundError:
            pass


try:
    import hiredis as _hiredis
except ImportError:  # redis-py's own parser then
    _hiredis = None

# HMGET KEY <_FIELDS> in RESP, around the key
_HMGET = (b"*%d\r\n$5\r\nHMGET\r\n" % (2 + len(_FIELDS)),
          b"".join(b"$%d\r\n%s\r\n" % (len(f), f.encode()) for f in _FIELDS))


def _during(fn):
    """FN(), or _NOPE when it raised: work done while a reply is on its way
    must not leave the reply unread (the caller then does it again)."""
    try:
        return fn()
    except Exception:
        log.debug("work overlapping a round trip failed", exc_info=True)
        return _NOPE


class _Fast:
    """The connection on which a process's recalls read metadata: one of
    its own, outside redis-py's pool, for the cost of redis-py's
    per-command machinery.  With redis-py 8 an HMGET through the client
    costs about 40 µs more than the round trip itself (connection pool,
    retry and metrics wrappers, the command's response callback); here the
    command goes out as bytes packed once and hiredis parses the reply
    straight from the socket (bench/bench_redis.py, docs/redis.md).

    The connection is a redis-py Connection made by the client's pool, so
    it connects, authenticates, selects the database and times out as the
    client's do (and reconnects when it is used after an error).  One
    thread uses it at a time (LOCK; the others take the pool's); a child
    process after fork makes its own (PID)."""

    def __init__(self, client, reconnect=True):
        self.pid = os.getpid()
        self.client = client
        self.reconnect = reconnect
        self.lock = threading.Lock()
        self.conn = client.connection_pool.make_connection()
        self.reader = None
        self.buf = bytearray(16384)
        self.redis = _redis()
        enc = self.conn.encoder  # the client's encoding of str arguments
        self.enc = (enc.encoding, enc.encoding_errors)

    def hmget(self, key, during=None):
        """(the reply of HMGET KEY _FIELDS (a list), or _NOPE when Redis
        answered an error (the caller then asks through redis-py, which
        raises the right exception); what DURING returned, called once the
        command is sent, or _NOPE).  Raises redis-py's ConnectionError or
        TimeoutError; a connection that went stale (Redis restarted) is
        made again once."""
        redis = self.redis
        k = key.encode(*self.enc)
        cmd = b"%s$%d\r\n%s\r\n%s" % (_HMGET[0], len(k), k, _HMGET[1])
        spec = _NOPE
        for attempt in (0, 1):
            conn = self.conn
            # a connection open before this command may have gone stale
            # (Redis restarted): made again once.  One that cannot be made
            # is tried once more on a single Redis (as redis-py's retry
            # does), not on a cluster's node (the caller asks redis-py)
            again = conn._sock is not None or self.reconnect
            try:
                if conn._sock is None:
                    conn.connect()
                    self.reader = None
                if _hiredis is None:
                    conn.send_packed_command([cmd], check_health=False)
                    if during is not None and spec is _NOPE:
                        spec = _during(during)
                    try:
                        return conn.read_response(), spec
                    except redis.exceptions.ResponseError:
                        return _NOPE, spec
                sock = conn._sock
                if self.reader is None:
                    self.reader = _hiredis.Reader()
                reader = self.reader
                sock.sendall(cmd)
                if during is not None and spec is _NOPE:
                    spec = _during(during)
                buf = self.buf
                while True:
                    n = sock.recv_into(buf)
                    if not n:
                        raise ConnectionError("Redis closed the connection")
                    reader.feed(buf, 0, n)
                    out = reader.gets()
                    if out is not False:
                        break
                if isinstance(out, _hiredis.ReplyError):
                    return _NOPE, spec
                return out, spec
            except redis.exceptions.TimeoutError:
                raise
            except redis.exceptions.ConnectionError:
                self.reader = None
                if attempt or not again:
                    raise
            except TimeoutError as exc:  # socket.timeout
                conn.disconnect()
                self.reader = None
                raise redis.exceptions.TimeoutError(
                    "no answer within socket_timeout (%s)" % (exc,)) from exc
            except OSError as exc:
                conn.disconnect()
                self.reader = None
                if attempt or not again:
                    raise redis.exceptions.ConnectionError(
                        str(exc) or type(exc).__name__) from exc
            except BaseException:  # a reply half read: the connection is unusable
                conn.disconnect()
                self.reader = None
                raise

    def close(self):
        if self.pid == os.getpid():
            self.conn.disconnect()


class _NetErrors:
    """Turns redis-py's errors into BrainErrors that name the server."""

    def __init__(self, brain, what):
        self.brain, self.what = brain, what

    def __enter__(self):
        return self

    def __exit__(self, et, exc, tb):
        if exc is None:
            return False
        redis = _redis()
        down = tuple(getattr(redis.exceptions, n) for n in
                     ("ClusterDownError", "MasterDownError", "TryAgainError")
                     if hasattr(redis.exceptions, n))
        if isinstance(exc, (redis.exceptions.ConnectionError,
                            redis.exceptions.TimeoutError) + down):
            if isinstance(exc, down) or getattr(self.brain, "cluster", False):
                hint = ("Check that the cluster's nodes run; while a replica takes over "
                        "from a primary that died (cluster-node-timeout and about a "
                        "second more) the names of its slots give this error (every "
                        "name, with cluster-require-full-coverage yes), and the Brain "
                        "finds the new primary by itself (docs/redis.md, Failover)")
            else:
                hint = ("Check that redis-server runs there and that the URL (host, "
                        "port, password, TLS) is right; the Brain reconnects by itself "
                        "once it answers")
            raise BrainConnectionError(
                "cannot %s Redis at %s: %s. %s"
                % (self.what, self.brain.path, str(exc).rstrip(". "), hint)) from exc
        if isinstance(exc, redis.exceptions.ResponseError):
            text = str(exc)
            if text.startswith("OOM") or isinstance(
                    exc, getattr(redis.exceptions, "OutOfMemoryError", ())) or \
                    "maxmemory" in text:
                raise BrainStoreFullError(
                    "Redis at %s is full (maxmemory): %s; nothing was stored. Forget "
                    "names or raise maxmemory" % (self.brain.path, text)) from exc
            if "SELECT is not allowed in cluster mode" in text:
                raise BrainValueError(
                    "cannot use %s: it is a node of a Redis Cluster, which has only "
                    "database 0" % (self.brain.path,)) from exc
            if "NOPERM" in text or "NOAUTH" in text or "WRONGPASS" in text:
                raise BrainConnectionError(
                    "Redis at %s refused: %s. Check the user and password in the URL"
                    % (self.brain.path, text)) from exc
            raise BrainError("Redis at %s answered an error: %s" % (self.brain.path, text)) from exc
        if isinstance(exc, redis.exceptions.RedisError):
            raise BrainError("Redis at %s: %s" % (self.brain.path, exc)) from exc
        return False

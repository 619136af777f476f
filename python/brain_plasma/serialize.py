"""How Python values become stored values, and back.

Layouts (the type tag is stored with the value):

- ``bytes`` -> BRAIN_TYPE_BYTES, the bytes themselves;
- ``str`` -> BRAIN_TYPE_STR, UTF-8 (a str with lone surrogates is pickled);
- ``numpy.ndarray`` of a fixed-size, non-structured dtype -> BRAIN_TYPE_ARRAY,
  the C layout shared with libbrain (``brain_put_array``): a header with the
  dtype's typestr and the shape, then the C-order data 64-byte aligned.  A
  non-contiguous array is made contiguous first.  Arrays put from C read
  back here the same way;
- anything else -> BRAIN_TYPE_PICKLE: a pickle protocol 5 stream whose large
  buffers (NumPy and pandas data) travel out of band, each 64-byte aligned in
  the same stored value.

Packed strings: when the value is a pandas object (DataFrame, Series, Index,
...) or an object ndarray, its object arrays of at least PACK_MIN elements
(columns of str, an Index of str, the ``string[python]`` dtype's storage)
are not pickled element by element: :func:`_core.strings_pack` turns each
into a table of its distinct values (equal str stored once), their code
units and one code per element, three buffers that travel out of band like NumPy data, and the
stream calls :func:`object_array` to rebuild the identical array with one C
loop (see _strcol.c).  Elements that are not exact str (None, NaN, pd.NA,
...) are pickled in-band as usual; an array where they are the majority is
pickled as usual.  Datetime64 and timedelta64 arrays of such values (which
NumPy pickles in-band) travel out of band too, as :func:`datetime_array`:
zero-copy and read-only on recall like every other column.  The value stays
a BRAIN_TYPE_PICKLE: only a reader with brain_plasma 0.4 or later can load
it (``Brain(pack_strings=False)`` writes plain pickles).

Reading: values that come back as views of the store (:class:`_core.View`)
are zero-copy and read-only: an ndarray is built over the view, and pickles
are loaded with ``buffers=`` slices of it, so a DataFrame's columns point
into the store.  The view's pin lives as long as any object built on it.
With ``copy=True`` the value is first copied into a private, writable
``bytearray`` and decoded from there.

Security: unpickling runs code chosen by whoever wrote the value.  Anyone who
can write the store can run code in the processes that recall from it, as
with any pickle cache.
"""
import io
import json
import pickle
import re
import sys

from . import _core
from .exceptions import BrainSerializationError, BrainValueError

__all__ = ["encode", "pack", "decode", "is_plain_array", "pickled", "loads",
           "object_array", "datetime_array", "arrow_strings"]

PROTOCOL = 5
_PICKLE_STREAM = _core.TYPE_PICKLE_STREAM
loads = pickle.loads
_loads = loads  # the name brain_plasma 0.4.0 used


def _numpy():
    import numpy

    return numpy


def is_plain_array(value):
    """True when VALUE is an ndarray the plain array layout stores exactly."""
    t = type(value)
    if t.__name__ != "ndarray" or t.__module__ != "numpy":
        return False
    dt = value.dtype
    return not dt.hasobject and dt.fields is None and dt.kind != "V" and dt.subdtype is None


# object arrays smaller than this are pickled as usual: packing them saves
# less than the three extra buffers cost
PACK_MIN = 64


def object_array(shape, order, table, data, codes, width, others):
    """Rebuilds an object ndarray packed by _reduce_object_array.  Stored
    pickles call this by its name, brain_plasma.serialize.object_array:
    the name and the arguments are part of the stored format."""
    np = _numpy()
    n = 1
    for d in shape:
        n *= d
    # the elements in slots of their own (_strcol.c, strings_rebuild), the
    # array over them without a copy
    cells = _core.strings_rebuild(n, table, data, codes, width, others)
    try:
        out = np.ndarray((n,), dtype=object, buffer=cells)
    except TypeError:  # a NumPy that builds no object array over a buffer
        out = np.empty(n, dtype=object)
        _core.strings_unpack(out, table, data, codes, width, others)
    if order == "F":
        return out.reshape(shape[::-1]).T
    return out.reshape(shape)


def _reduce_object_array(arr):
    """(callable, args) that pickle an object ndarray ARR packed, or
    NotImplemented to pickle it as usual."""
    if arr.ndim == 0 or arr.size < PACK_MIN:
        return NotImplemented
    # pickle keeps an array's C or Fortran order: so do we
    if arr.flags.c_contiguous:
        flat, order = arr.reshape(-1), "C"
    elif arr.flags.f_contiguous:
        flat, order = arr.T.reshape(-1), "F"
    else:  # a copy in C order, as pickle makes (reshape may give a strided view)
        flat, order = _numpy().ascontiguousarray(arr.reshape(-1)), "C"
    packed = _core.strings_pack(flat, arr.size // 2)
    if packed is None:  # mostly other objects: nothing to gain
        return NotImplemented
    table, data, codes, width, others = packed
    PB = pickle.PickleBuffer
    # (no codes when every element is its own entry: nothing to send out of band)
    return object_array, (arr.shape, order, PB(table), PB(data),
                           PB(codes) if codes else codes, width, others)


def datetime_array(data, typestr, shape, order):
    """Rebuilds a datetime64/timedelta64 ndarray over DATA (zero-copy when
    DATA is a view of the store).  Stored pickles call this by its name,
    brain_plasma.serialize.datetime_array: part of the stored format."""
    np = _numpy()
    arr = np.frombuffer(data, dtype=np.dtype(typestr))
    if order == "F":
        return arr.reshape(shape[::-1]).T
    return arr.reshape(shape)


# the names values stored by brain_plasma 0.4.0 call: they must still load
_object_array = object_array
_datetime_array = datetime_array


def _reduce_datetime_array(arr):
    """NumPy pickles datetime64 and timedelta64 arrays in-band (they do not
    export the buffer protocol), so every recall copied a frame's datetime
    columns into the process; their bytes travel out of band instead, as a
    float column's do."""
    if arr.ndim == 0 or arr.size < PACK_MIN:
        return NotImplemented
    if arr.flags.c_contiguous:
        flat, order = arr.reshape(-1), "C"
    elif arr.flags.f_contiguous:
        flat, order = arr.T.reshape(-1), "F"
    else:
        flat, order = _numpy().ascontiguousarray(arr.reshape(-1)), "C"
    return datetime_array, (pickle.PickleBuffer(flat.view("u1")), arr.dtype.str,
                             arr.shape, order)


class _PackingPickler(pickle.Pickler):
    """A Pickler that packs object ndarrays (see the module's doc).  pickle
    calls reducer_override only for objects that are not of built-in types,
    so a frame costs a few calls, not one per element."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        np = _numpy()
        self._ndarray = np.ndarray
        # the canonical object dtype only: one with metadata pickles as usual
        self._object = np.dtype(object)

    def reducer_override(self, obj):
        if type(obj) is self._ndarray:
            dt = obj.dtype
            if dt is self._object:
                return _reduce_object_array(obj)
            if dt.kind in "mM" and dt.metadata is None:
                return _reduce_datetime_array(obj)
        return NotImplemented


def _arrow_dtype_for(col, pd):
    """The Arrow-backed str dtype COL (a Series) becomes under
    strings="arrow", or None to keep it: pandas' `str` / StringDtype of
    Python storage keeps its NA value; an object column of str (NaN and
    None allowed) becomes the `str` dtype (NaN for missing values)."""
    dt = col.dtype
    if isinstance(dt, pd.StringDtype):
        if dt.storage == "python":
            return pd.StringDtype("pyarrow", na_value=dt.na_value)
        return None
    if dt == object and len(col) and pd.api.types.infer_dtype(col, skipna=True) == "string":
        return pd.StringDtype("pyarrow", na_value=float("nan"))
    return None


def arrow_strings(value):
    """VALUE (a DataFrame or Series) with its columns of Python str stored
    in Arrow (``learn(..., strings="arrow")``): a shallow copy with those
    columns converted, VALUE itself when none is; other values unchanged.
    Raises BrainValueError when pyarrow is missing."""
    pd = sys.modules.get("pandas")
    if pd is None or not isinstance(value, (pd.DataFrame, pd.Series)):
        return value
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise BrainValueError(
            "strings='arrow' stores str columns in Arrow, which needs pyarrow, "
            "and pyarrow is not installed here: pip install pyarrow, or learn "
            "without strings='arrow' (the frame then keeps its dtypes)") from None
    if isinstance(value, pd.Series):
        dt = _arrow_dtype_for(value, pd)
        return value if dt is None else value.astype(dt)
    out = None
    for i in range(value.shape[1]):
        col = value.iloc[:, i]
        dt = _arrow_dtype_for(col, pd)
        if dt is None:
            continue
        if out is None:
            out = value.copy(deep=False)
        out.isetitem(i, col.astype(dt))
    return value if out is None else out


def wants_packing(value):
    """True for the values whose object arrays are packed: pandas objects
    and object ndarrays, when stored as the value itself (not inside a
    dict or list, which are pickled as usual)."""
    t = type(value)
    mod = t.__module__
    if mod == "pandas" or mod.startswith("pandas."):  # pandas.DataFrame, ...
        return True
    if t.__name__ == "ndarray" and mod == "numpy":
        return value.dtype.hasobject
    return False


def pickled(value, name, pack_strings=False):
    """(stream, out-of-band buffers) of VALUE pickled at protocol 5 (its
    object arrays packed with PACK_STRINGS, see the module's doc); raises
    BrainSerializationError naming NAME when VALUE cannot be pickled."""
    buffers = []

    def keep(pb):
        try:
            raw = pb.raw()
        except BufferError:  # not contiguous: let pickle copy it in-band
            return True
        buffers.append(raw)
        return False

    try:
        if pack_strings and wants_packing(value):
            f = io.BytesIO()
            _PackingPickler(f, protocol=PROTOCOL, buffer_callback=keep).dump(value)
            stream = f.getvalue()
        else:
            stream = pickle.dumps(value, protocol=PROTOCOL, buffer_callback=keep)
    except Exception as exc:  # PicklingError, TypeError, AttributeError, ...
        tname = "%s.%s" % (type(value).__module__, type(value).__qualname__)
        raise BrainSerializationError(
            "cannot store %r: a %s value cannot be pickled (%s: %s); nothing "
            "was stored. Store a picklable value instead (module-level "
            "functions and classes, plain data, NumPy/pandas objects)"
            % (name, tname, type(exc).__name__, exc)
        ) from exc
    return stream, buffers


def _json(value, name):
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=True).encode("utf-8")
    except (TypeError, ValueError) as exc:
        tname = "%s.%s" % (type(value).__module__, type(value).__qualname__)
        raise BrainSerializationError(
            "cannot store %r: serializer='safe' stores bytes, str, NumPy arrays "
            "and JSON values, and a %s value is none of these (%s); nothing "
            "was stored. Convert it, or use serializer='pickle'"
            % (name, tname, exc)
        ) from exc


def encode(value, name, safe=False, pack_strings=True):
    """Chooses a layout for VALUE (PACK_STRINGS: pack the object arrays of
    pandas objects, see the module's doc).

    Returns one of ("bytes", data), ("str", data), ("array", (typestr,
    shape, data)) or ("pickle", (stream, buffers)).  Raises
    BrainSerializationError when VALUE cannot be pickled."""
    t = type(value)
    if t is bytes:
        return "bytes", value
    if t is str:
        try:
            return "str", value.encode("utf-8")
        except UnicodeEncodeError:
            pass
    elif is_plain_array(value):
        np = _numpy()
        # (not ascontiguousarray: it turns a 0-d array into a 1-d one)
        arr = value if value.flags.c_contiguous else value.copy(order="C")
        # a flat uint8 view exports every dtype (datetime64 included) as bytes
        data = arr.reshape(-1).view(np.uint8) if arr.size else b""
        return "array", (arr.dtype.str, arr.shape, data)
    if safe:
        return "json", _json(value, name)
    return "pickle", pickled(value, name, pack_strings)


TYPE_OF = {
    "bytes": _core.TYPE_BYTES,
    "str": _core.TYPE_STR,
    "array": _core.TYPE_ARRAY,
    "pickle": _core.TYPE_PICKLE,
    "json": _core.TYPE_JSON,
}


def hint_of(value):
    """A short text saying what a pickled VALUE holds ("DataFrame 1000000x7",
    "Series 10 float64", "ndarray object (3,)"), kept in the value's header
    so that tools (`brain ls --long`, `brain show`) describe it without
    unpickling anything; None for other values.  Costs no copy: shapes and
    dtypes only."""
    t = type(value)
    module = t.__module__
    try:
        if module.startswith("pandas"):
            pd = sys.modules.get("pandas")
            if pd is not None and isinstance(value, pd.DataFrame):
                return "DataFrame %dx%d" % value.shape
            if pd is not None and isinstance(value, pd.Series):
                return _short("Series %d %s" % (len(value), value.dtype))
        elif module == "numpy" and t.__name__ == "ndarray":
            return _short("ndarray %s %s" % (value.dtype, value.shape))
    except Exception:  # an odd subclass: no hint rather than no value
        return None
    return None


def _short(text):
    # the header keeps at most 256 bytes of UTF-8
    return text if len(text) <= 64 else text[:61] + "..."


def pack(kind, payload, hint=None):
    """The stored bytes of an encoded value (for put_many)."""
    if kind in ("bytes", "str", "json"):
        return payload
    if kind == "array":
        typestr, shape, data = payload
        return _core.array_pack(typestr, shape, data)
    stream, buffers = payload
    return _core.pickle_pack(stream, buffers, hint)


def decode(type_tag, buf, safe=False):
    """Builds the Python value of a stored value.

    BUF is bytes (a small value, copied), a bytearray (a private copy) or a
    _core.View (zero-copy, read-only).  With SAFE, a pickle is refused
    (BrainSerializationError) instead of loaded: nothing in it runs."""
    if safe and type_tag in (_PICKLE_STREAM, _core.TYPE_PICKLE):
        raise BrainSerializationError(
            "refusing to unpickle a stored value: this Brain uses "
            "serializer='safe', which never runs code from the store. The "
            "value was stored by a Brain with serializer='pickle'; store it "
            "as bytes, str, an array or JSON, or read it with serializer='pickle'"
        )
    if type_tag == _PICKLE_STREAM:  # small, in-band only: the bare stream
        return loads(buf)
    if type_tag == _core.TYPE_PICKLE:
        (soff, slen), bufs = _core.pickle_parse(buf)
        mv = memoryview(buf)
        if not bufs:
            return loads(mv[soff : soff + slen])
        value = loads(mv[soff : soff + slen], buffers=[mv[o : o + n] for o, n in bufs])
        return value if isinstance(buf, bytearray) else _shared(value, mv[soff : soff + slen])
    if type_tag == _core.TYPE_BYTES:
        if isinstance(buf, bytes):
            return buf
        if isinstance(buf, bytearray):
            return bytes(buf)
        return buf.tobytes()
    if type_tag == _core.TYPE_STR:
        return str(buf, "utf-8")
    if type_tag == _core.TYPE_ARRAY:
        np = _numpy()
        typestr, shape, offset, nbytes = _core.array_parse(buf)
        dtype = np.dtype(typestr)
        if nbytes == 0:
            return np.empty(shape, dtype=dtype) if not _readonly(buf) else _frozen(np.empty(shape, dtype=dtype))
        return np.ndarray(shape, dtype=dtype, buffer=buf, offset=offset)
    if type_tag == _core.TYPE_JSON:
        return json.loads(str(buf, "utf-8"))
    # a tag of the caller's own: hand back the bytes
    return buf if isinstance(buf, (bytes, bytearray)) else buf.tobytes()


def _shared(value, stream):
    """VALUE, unpickled over read-only memory (the store's, or a small
    value's bytes), with each block of its pandas objects that lies in that
    memory marked as referenced, as pandas marks blocks that share their
    data: a write (``df.loc[...] =``, ``iloc``, ``at``,
    ``fillna(inplace=True)``, ...) then copies the block it touches through
    pandas' copy-on-write instead of raising "assignment destination is
    read-only".  Reads stay zero-copy; the stored value never changes.
    Arrays the unpickling built in this process's own memory (the str of a
    packed column, a small array pickled in-band) are made read-only and
    referenced the same way: every array of a recalled frame is read-only,
    writes through pandas copy first, and a frame kept by the recall cache
    can be handed to several callers without one's write reaching another.

    The reference is the memoryview the block's data lies in (the end of
    its arrays' ``base`` chain), added to the block's ``refs``: it lives as
    long as any array over that memory, so every frame, column or slice
    derived from the recalled one (they share the ``refs``) copies before
    writing, whichever of them is still alive.  A block that was copied has
    refs of its own and is written in place from then on.  Frames inside a
    recalled dict, list or tuple are marked too (only when the stream names
    pandas).  Needs pandas' copy-on-write: always on in pandas 3; pandas 2
    with it off writes in place and raises (docs/python.md)."""
    pd = sys.modules.get("pandas")
    if pd is None:
        return value
    kinds = (pd.DataFrame, pd.Series)
    if isinstance(value, kinds):
        _mark_shared(value)
    elif type(value) in (dict, list, tuple) and _PANDAS_IN_STREAM.search(stream):
        stack = [(value, 0)]
        while stack:
            v, depth = stack.pop()
            for item in (v.values() if type(v) is dict else v):
                if isinstance(item, kinds):
                    _mark_shared(item)
                elif depth < 8 and type(item) in (dict, list, tuple):
                    stack.append((item, depth + 1))
    return value


_PANDAS_IN_STREAM = re.compile(rb"pandas")
# the base of the object arrays object_array builds (memory of this process)
_CELLS = type(_core.strings_rebuild(0, b"", b"", b"", 0, ()))
# where pandas' arrays keep their NumPy data (datetime, masked, categorical)
_DATA_ATTRS = ("_ndarray", "_data", "_mask", "_codes")


_attrs_of = {}  # type of a block's values -> those of _DATA_ATTRS it has


def _mark_shared(obj):
    ndarray = _numpy().ndarray
    for blk in getattr(getattr(obj, "_mgr", None), "blocks", ()):
        refs = getattr(blk, "refs", None)
        if refs is None:
            continue
        values = blk.values
        attrs = _attrs_of.get(type(values))
        if attrs is None:
            attrs = _attrs_of[type(values)] = tuple(a for a in _DATA_ATTRS if hasattr(values, a))
        seen = None
        for arr in (values,) + tuple(getattr(values, a) for a in attrs):
            top = arr
            root = None
            while isinstance(arr, ndarray):
                root = arr
                arr = arr.base
            if type(arr) is memoryview:
                if arr is not seen and arr.readonly:
                    seen = arr
                    refs.add_index_reference(arr)
            elif (arr is None or type(arr) is _CELLS) and root is not None \
                    and root is not seen and root.flags.writeable:
                # memory of this process's own, built by the unpickling
                # (the str of a packed column, a small in-band array): made
                # read-only like the store's, so that every array of a
                # recalled frame is read-only and a frame the recall cache
                # hands out to several callers cannot carry one caller's
                # write to another; the reference makes pandas copy first
                arr = top
                while isinstance(arr, ndarray):
                    arr.flags.writeable = False
                    arr = arr.base
                seen = root
                refs.add_index_reference(root)


def _readonly(buf):
    return not isinstance(buf, bytearray)


def _frozen(arr):
    arr.flags.writeable = False
    return arr

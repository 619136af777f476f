/*
 * _core.c - the CPython extension over libbrain.
 *
 * Three heap types: Store wraps one open `brain *`; View wraps one pinned
 * brain_view and exports it through the buffer protocol, read-only, the way
 * CPython's mmap module exports its mapping (an exports counter, no release
 * while a buffer is alive); Reservation is room reserved for a value,
 * exported writable until it is sealed (its section says more).  The pin is released when the View is
 * deallocated.  Everything else (what a value means, names, the Brain API)
 * lives in the Python layer.
 *
 * Lifetimes: a View holds a strong reference to its Store.  Store.close()
 * marks the handle closed at once (every later call raises ECLOSED's
 * exception) but the brain handle itself is closed only when no View and no
 * call that released the GIL still uses it, so an array that points into the
 * store never outlives its mapping.
 *
 * Errors: every BRAIN_E* code raises the class registered for it with
 * _set_exceptions() (the Python layer's tree), or _core.Error when none is,
 * carrying brain_errdetail() as the message and the code as .code.
 *
 * The GIL is released around copies of more than SMALL_COPY bytes, around
 * waits, and around operations that may scan the store (list, resize,
 * check, expire, reap).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include <limits.h>
#include <stdlib.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "brain.h"
#include "_strcol.h"

#define SMALL_COPY (64 * 1024)   /* copies below this keep the GIL */
#define READ_STACK 4096          /* first read attempt goes here */
#define RECALL_SMALL_MAX (64u << 10) /* recall_small takes values up to this */
#define WAIT_SLICE_MS 200        /* waits wake this often to check signals */
/* Not a libbrain code: a call on a Store after close(). */
#define CORE_ECLOSED (-30800)
/* Not a stored tag: fetch() returns it with the bare stream of a small
 * pickle value that has no out-of-band buffers (pickle.loads it as is). */
#define CORE_PICKLE_STREAM (-3)

/* ---- module state ------------------------------------------------------- */

typedef struct {
    PyTypeObject *store_type;
    PyTypeObject *view_type;
    PyObject *error;    /* _core.Error */
    PyObject *errmap;   /* dict: int code -> exception class */
} core_state;

static inline core_state *get_state(PyObject *module)
{
    return (core_state *)PyModule_GetState(module);
}

static struct PyModuleDef core_module;

static core_state *state_of_type(PyTypeObject *tp)
{
    PyObject *m = PyType_GetModuleByDef(tp, &core_module);
    return m ? get_state(m) : NULL;
}

/* The class registered for CODE, else _core.Error (borrowed); NULL with an
 * exception set on failure. */
static PyObject *class_of(core_state *st, int code)
{
    PyObject *cls = NULL;
    if (st && st->errmap) {
        PyObject *key = PyLong_FromLong(code);
        if (!key)
            return NULL;
        cls = PyDict_GetItemWithError(st->errmap, key);
        Py_DECREF(key);
        if (!cls && PyErr_Occurred())
            return NULL;
    }
    return cls ? cls : st ? st->error : PyExc_RuntimeError;
}

/* Raises the class registered for LOOKUP with the message MSG (stolen),
 * .code STATUS and .errname its symbolic name. */
static PyObject *raise_with(core_state *st, int lookup, int status, PyObject *msg)
{
    if (!msg)
        return NULL;
    PyObject *cls = class_of(st, lookup);
    if (!cls) {
        Py_DECREF(msg);
        return NULL;
    }
    PyObject *exc = PyObject_CallOneArg(cls, msg);
    Py_DECREF(msg);
    if (!exc)
        return NULL;
    PyObject *code = PyLong_FromLong(status);
    if (code) {
        if (PyObject_SetAttrString(exc, "code", code) < 0)
            PyErr_Clear();
        Py_DECREF(code);
    }
    PyObject *ename = PyUnicode_FromString(brain_errname(status));
    if (ename) {
        if (PyObject_SetAttrString(exc, "errname", ename) < 0)
            PyErr_Clear();
        Py_DECREF(ename);
    }
    PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
    Py_DECREF(exc);
    return NULL;
}

/* Raises the exception for STATUS with the thread's last detail. */
static PyObject *raise_status(core_state *st, int status)
{
    const char *detail = brain_errdetail();
    return raise_with(st, status, status,
                      PyUnicode_FromFormat("%s", (detail && *detail) ? detail
                                                     : brain_strerror(status)));
}

/* ---- Store -------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    brain *b;
    int closed;          /* close() was called */
    Py_ssize_t users;    /* live Views + calls running without the GIL */
    PyObject *weakrefs;
} StoreObject;

typedef struct {
    PyObject_HEAD
    StoreObject *store;
    brain_view view;
    Py_ssize_t exports;
    int held;
} ViewObject;

/* Closes the handle once nothing uses it.  Called with the GIL. */
static void store_maybe_close(StoreObject *s)
{
    if (s->closed && s->users == 0 && s->b) {
        brain *b = s->b;
        s->b = NULL;
        brain_close(b);
    }
}

/* Returns the open handle, or raises ECLOSED's exception. */
static brain *store_handle(StoreObject *s)
{
    if (s->closed || !s->b) {
        core_state *st = state_of_type(Py_TYPE(s));
        PyErr_Clear();
        PyObject *cls = NULL;
        if (st && st->errmap) {
            PyObject *key = PyLong_FromLong(CORE_ECLOSED);
            cls = key ? PyDict_GetItemWithError(st->errmap, key) : NULL;
            Py_XDECREF(key);
        }
        if (!cls)
            cls = st ? st->error : PyExc_RuntimeError;
        PyErr_SetString(cls, "the store handle is closed; open it again "
                             "(Brain.wake_up() or Brain.start())");
        return NULL;
    }
    return s->b;
}

#define ENTER(s) ((s)->users++)
#define LEAVE(s) do { (s)->users--; store_maybe_close(s); } while (0)

static PyObject *fail(StoreObject *s, int rc)
{
    if (rc == BRAIN_ECANCELED && PyErr_Occurred())
        return NULL; /* KeyboardInterrupt (or another signal handler's error) */
    return raise_status(state_of_type(Py_TYPE(s)), rc);
}

/* ---- the glue every Store call shares -------------------------------------
 * A call: its arguments parsed, the handle and the (ns, name) checked
 * (store_key, key_call, store_for_path), libbrain called with or without
 * the GIL (NOGIL, LOCKING_CALL, WRITE_CALL), the status mapped to the
 * result or the exception (*_or_fail). */

/* The status raised, or the result. */
static PyObject *u64_or_fail(StoreObject *s, int rc, uint64_t v)
{
    return rc ? fail(s, rc) : PyLong_FromUnsignedLongLong(v);
}

static PyObject *size_or_fail(StoreObject *s, int rc, size_t n)
{
    return rc ? fail(s, rc) : PyLong_FromSize_t(n);
}

static PyObject *none_or_fail(StoreObject *s, int rc)
{
    if (rc)
        return fail(s, rc);
    Py_RETURN_NONE;
}

/* Runs the statements with the GIL released, the handle held open for them
 * (a close() meanwhile takes effect when they are done: store_maybe_close). */
#define NOGIL(s, ...)                                                          \
    do {                                                                       \
        ENTER(s);                                                              \
        Py_BEGIN_ALLOW_THREADS                                                 \
        __VA_ARGS__;                                                           \
        Py_END_ALLOW_THREADS                                                   \
        LEAVE(s);                                                              \
    } while (0)

/* Calls EXPR with the GIL held in libbrain's try-only mode (no wait, so the
 * common case costs nothing more); when the writers' lock is busy, again
 * with the GIL released, waiting as the handle's timeout and Ctrl-C allow. */
#define LOCKING_CALL(s, rc, expr)                                              \
    do {                                                                       \
        brain_lock_try_only(1);                                                \
        rc = (expr);                                                           \
        brain_lock_try_only(0);                                                \
        if (rc == BRAIN_EWOULDBLOCK)                                           \
            NOGIL(s, rc = (expr));                                             \
    } while (0)

/* A write that copies NBYTES into the store: with the GIL released when
 * they are more than SMALL_COPY (the lock waited for too), else
 * LOCKING_CALL. */
#define WRITE_CALL(s, nbytes, rc, expr)                                        \
    do {                                                                       \
        if ((nbytes) > SMALL_COPY)                                             \
            NOGIL(s, rc = (expr));                                             \
        else                                                                   \
            LOCKING_CALL(s, rc, expr);                                         \
    } while (0)

/* The UTF-8 of str O for libbrain, which takes NUL-terminated strings: a
 * str with a NUL inside would silently mean its prefix ("a\0b" -> "a"), so
 * it is refused. */
static int utf8_no_nul(PyObject *o, const char **out)
{
    Py_ssize_t n;
    *out = PyUnicode_AsUTF8AndSize(o, &n);
    if (!*out)
        return 0;
    if (strlen(*out) != (size_t)n) {
        PyErr_Format(PyExc_ValueError, "%.60R contains a NUL character, which names, "
                     "namespaces and descriptions cannot hold", o);
        *out = NULL;
        return 0;
    }
    return 1;
}

/* Converts an optional str argument to UTF-8; None -> NULL. */
static int opt_utf8(PyObject *o, const char **out)
{
    if (o == NULL || o == Py_None) {
        *out = NULL;
        return 1;
    }
    if (!PyUnicode_Check(o)) {
        PyErr_Format(PyExc_TypeError, "expected str or None, got %.100s",
                     Py_TYPE(o)->tp_name);
        return 0;
    }
    return utf8_no_nul(o, out);
}

static int req_utf8(PyObject *o, const char **out)
{
    if (!PyUnicode_Check(o)) {
        PyErr_Format(PyExc_TypeError, "expected str, got %.100s",
                     Py_TYPE(o)->tp_name);
        return 0;
    }
    return utf8_no_nul(o, out);
}

/* ---- names and namespaces ------------------------------------------------
 * The rules are libbrain's (src/name.c: brain_check_name, the same check
 * every call makes).  Here only what a Python str adds (its type, lone
 * surrogates, a length in characters too long whatever they hold) and the
 * messages, which show the str's repr and use the Python layer's classes:
 * BrainNameTypeError and BrainNameLengthError are registered under the two
 * codes below, raised with .code BRAIN_ENAME. */
#define CORE_ENAMETYPE (-30801)
#define CORE_ENAMELENGTH (-30802)

/* Raises what is wrong with name (IS_NS 0) or namespace (IS_NS 1) O; 0. */
static int key_error(core_state *st, PyObject *o, int is_ns)
{
    const char *what = is_ns ? "namespace" : "name";
    const char *tail = is_ns ? "" : ". Use a shorter name";
    int max = is_ns ? BRAIN_NS_MAX : BRAIN_NAME_MAX;
    int code = is_ns ? BRAIN_ENAMESPACE : BRAIN_ENAME;
    int lencode = is_ns ? code : CORE_ENAMELENGTH;
    PyObject *msg;
    if (!PyUnicode_Check(o)) {
        PyObject *tn = PyObject_GetAttrString((PyObject *)Py_TYPE(o), "__name__");
        if (!tn)
            return 0;
        msg = PyUnicode_FromFormat("%ss are str; got %S %.60R%s", what, tn, o,
                                   is_ns ? "" : ". Use str(name) or a str key");
        Py_DECREF(tn);
        raise_with(st, is_ns ? code : CORE_ENAMETYPE, code, msg);
        return 0;
    }
    Py_ssize_t chars = PyUnicode_GET_LENGTH(o), n;
    if (chars > 4 * (Py_ssize_t)max) { /* too long whatever it holds */
        raise_with(st, lencode, code,
                   PyUnicode_FromFormat("%ss are 1 to %d bytes of UTF-8; %.60R has %zd "
                                        "characters%s", what, max, o, chars, tail));
        return 0;
    }
    const char *u = PyUnicode_AsUTF8AndSize(o, &n);
    if (!u) {
        if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError))
            return 0;
        PyObject *t, *v, *tb;
        PyErr_Fetch(&t, &v, &tb);
        PyErr_NormalizeException(&t, &v, &tb);
        Py_ssize_t at = 0;
        if (!v || PyUnicodeEncodeError_GetStart(v, &at) < 0)
            PyErr_Clear();
        Py_XDECREF(t);
        Py_XDECREF(v);
        Py_XDECREF(tb);
        raise_with(st, code, code,
                   PyUnicode_FromFormat("%ss are UTF-8 text; %.60R has a lone surrogate at "
                                        "position %zd, which UTF-8 cannot encode (decode "
                                        "bytes with errors='replace' or use another %s)",
                                        what, o, at, what));
        return 0;
    }
    int rule = 0;
    int rc = brain_check_name(u, (size_t)n, is_ns, &rule, NULL);
    if (rule == BRAIN_NAME_EMPTY || rule == BRAIN_NAME_TOO_LONG)
        raise_with(st, lencode, code,
                   PyUnicode_FromFormat("%ss are 1 to %d bytes of UTF-8; %.60R has %zd%s",
                                        what, max, o, n, tail));
    else if (rule == BRAIN_NAME_NUL)
        raise_with(st, code, code,
                   PyUnicode_FromFormat("%ss cannot contain NUL characters; %.60R has one "
                                        "at position %zd", what, o,
                                        PyUnicode_FindChar(o, 0, 0, chars, 1)));
    else
        raise_status(st, rc ? rc : code); /* libbrain's sentence */
    return 0;
}

/* The UTF-8 of name (IS_NS 0) or namespace (IS_NS 1) O for libbrain, or 0
 * with the error raised; None gives NULL when OPT ("default" namespace, or
 * any name).  TP is the Store type, for the module state, looked up only
 * when O is refused. */
static int key_utf8(PyTypeObject *tp, PyObject *o, int is_ns, int opt, const char **out)
{
    if (opt && o == Py_None) {
        *out = NULL;
        return 1;
    }
    if (PyUnicode_Check(o) &&
        PyUnicode_GET_LENGTH(o) <= 4 * (is_ns ? BRAIN_NS_MAX : BRAIN_NAME_MAX)) {
        Py_ssize_t n;
        const char *u = PyUnicode_AsUTF8AndSize(o, &n);
        if (u && brain_check_name(u, (size_t)n, is_ns, NULL, NULL) == 0) {
            *out = u;
            return 1;
        }
        if (!u && !PyErr_ExceptionMatches(PyExc_UnicodeEncodeError))
            return 0;
        PyErr_Clear();
    }
    core_state *st = state_of_type(tp);
    if (!st)
        return 0;
    return key_error(st, o, is_ns);
}

/* A Store method's name and namespace arguments. */
#define NAME_ARG(s, o, out) key_utf8(Py_TYPE(s), (o), 0, 0, (out))
#define OPT_NAME_ARG(s, o, out) key_utf8(Py_TYPE(s), (o), 0, 1, (out))
#define NS_ARG(s, o, out) key_utf8(Py_TYPE(s), (o), 1, 1, (out))

/* The open handle and a call's (ns, name) arguments, or NULL with the
 * error raised. */
static brain *store_key(StoreObject *s, PyObject *nso, PyObject *nameo, const char **ns,
                        const char **name)
{
    brain *b = store_handle(s);
    if (!b || !NS_ARG(s, nso, ns) || !NAME_ARG(s, nameo, name))
        return NULL;
    return b;
}

/* store_key for a call that takes (ns, name) and nothing else: FMT is
 * "OO:method". */
static brain *key_call(StoreObject *s, PyObject *args, const char *fmt, const char **ns,
                       const char **name)
{
    PyObject *nso, *nameo;
    if (!PyArg_ParseTuple(args, fmt, &nso, &nameo))
        return NULL;
    return store_key(s, nso, nameo, ns, name);
}

/* The open handle for a call on a file (BYTES: its path from
 * PyUnicode_FSConverter, released here when there is no handle). */
static brain *store_for_path(StoreObject *s, PyObject *bytes)
{
    brain *b = store_handle(s);
    if (!b)
        Py_DECREF(bytes);
    return b;
}

/* The open handle for a call taking one path argument ARG: *BYTES is the
 * path from PyUnicode_FSConverter, for the caller to release; NULL (with
 * the exception set, nothing held) when ARG is no path or there is no
 * handle. */
static brain *store_path_arg(StoreObject *s, PyObject *arg, PyObject **bytes)
{
    *bytes = NULL;
    if (!PyUnicode_FSConverter(arg, bytes))
        return NULL;
    return store_for_path(s, *bytes);
}

static int fill_opts(brain_put_opts *o, unsigned type, PyObject *desc,
                     long long ttl_ms, PyObject *if_version)
{
    memset(o, 0, sizeof *o);
    o->type = type;
    o->ttl_ms = ttl_ms;
    if (!opt_utf8(desc, &o->desc))
        return 0;
    if (if_version && if_version != Py_None) {
        unsigned long long v = PyLong_AsUnsignedLongLong(if_version);
        if (v == (unsigned long long)-1 && PyErr_Occurred())
            return 0;
        o->flags |= BRAIN_PUT_IF_VERSION;
        o->if_version = v;
    }
    return 1;
}

static double ns_to_s(int64_t ns) { return (double)ns / 1e9; }

static PyObject *info_to_dict(const brain_info *in)
{
    PyObject *expires = in->expires_ns ? PyFloat_FromDouble(ns_to_s(in->expires_ns))
                                       : Py_NewRef(Py_None);
    if (!expires)
        return NULL;
    PyObject *desc;
    if (in->desc && in->desc_len)
        desc = PyUnicode_DecodeUTF8(in->desc, in->desc_len, "replace");
    else
        desc = Py_NewRef(Py_None);
    if (!desc) {
        Py_DECREF(expires);
        return NULL;
    }
    PyObject *d = Py_BuildValue(
        "{s:s#,s:s#,s:I,s:s,s:K,s:K,s:d,s:d,s:N,s:y#,s:N}",
        "namespace", in->ns ? in->ns : "", (Py_ssize_t)(in->ns ? in->ns_len : 0),
        "name", in->name ? in->name : "", (Py_ssize_t)(in->name ? in->name_len : 0),
        "type", (unsigned)in->type,
        "type_name", brain_type_name(in->type),
        "size", (unsigned long long)in->size,
        "version", (unsigned long long)in->version,
        "created", ns_to_s(in->created_ns),
        "updated", ns_to_s(in->updated_ns),
        "expires", expires,
        "object_id", (const char *)in->object_id, (Py_ssize_t)BRAIN_OBJECT_ID_SIZE,
        "description", desc);
    return d;
}

/* The writers' lock is waited for with the GIL released, in slices: this
 * runs between them (libbrain's lock_cancel hook) and gives up the wait
 * when a signal handler raised (Ctrl-C: KeyboardInterrupt), which then
 * propagates from the call. */
static int py_lock_cancel(void *ctx)
{
    (void)ctx;
    if (!Py_IsInitialized())
        return 0;
    PyGILState_STATE g = PyGILState_Ensure();
    int r = PyErr_CheckSignals();
    PyGILState_Release(g);
    return r < 0;
}

static PyObject *Store_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"path", "create", "capacity", "exclusive",
                             "max_procs", "max_namespaces", NULL};
    const char *path;
    int create = 1, excl = 0;
    unsigned long long capacity = 0;
    unsigned int max_procs = 0, max_ns = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "s|pKpII:Store", kwlist, &path,
                                     &create, &capacity, &excl, &max_procs,
                                     &max_ns))
        return NULL;
    brain_config cfg = {capacity, max_procs, max_ns};
    unsigned flags = (create ? BRAIN_CREATE : 0) | (create && excl ? BRAIN_EXCL : 0);
    brain *b = NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = brain_open(path, flags, &cfg, &b);
    Py_END_ALLOW_THREADS
    if (rc)
        return raise_status(state_of_type(type), rc);
    StoreObject *s = (StoreObject *)type->tp_alloc(type, 0);
    if (!s) {
        brain_close(b);
        return NULL;
    }
    s->b = b;
    brain_set_lock_cancel(b, py_lock_cancel, NULL);
    return (PyObject *)s;
}

static void Store_dealloc(StoreObject *s)
{
    PyTypeObject *tp = Py_TYPE(s);
    PyObject_GC_UnTrack(s);
    if (s->weakrefs)
        PyObject_ClearWeakRefs((PyObject *)s);
    if (s->b) {
        brain_close(s->b);
        s->b = NULL;
    }
    tp->tp_free(s);
    Py_DECREF(tp);
}

static int Store_traverse(StoreObject *s, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(s));
    return 0;
}

static PyObject *Store_close(StoreObject *s, PyObject *Py_UNUSED(ignored))
{
    s->closed = 1;
    store_maybe_close(s);
    Py_RETURN_NONE;
}

static PyObject *Store_get_closed(StoreObject *s, void *Py_UNUSED(c))
{
    return PyBool_FromLong(s->closed);
}

static PyObject *Store_get_path(StoreObject *s, void *Py_UNUSED(c))
{
    brain *b = store_handle(s);
    return b ? PyUnicode_FromString(brain_path(b)) : NULL;
}

static PyObject *Store_enter(StoreObject *s, PyObject *Py_UNUSED(a))
{
    return Py_NewRef(s);
}

static PyObject *Store_exit(StoreObject *s, PyObject *Py_UNUSED(a))
{
    return Store_close(s, NULL);
}

/* put(ns, name, data, type=0, desc=None, ttl_ms=0, if_version=None) -> version */
static PyObject *Store_put(StoreObject *s, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"ns", "name", "data", "type", "desc", "ttl_ms",
                             "if_version", NULL};
    PyObject *nso, *nameo, *desc = Py_None, *ifv = Py_None;
    Py_buffer data;
    unsigned int type = BRAIN_TYPE_BYTES;
    long long ttl = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OOy*|IOLO:put", kwlist, &nso,
                                     &nameo, &data, &type, &desc, &ttl, &ifv))
        return NULL;
    PyObject *ret = NULL;
    const char *ns, *name;
    brain_put_opts o;
    brain *b = store_key(s, nso, nameo, &ns, &name);
    if (!b || !fill_opts(&o, type, desc, ttl, ifv))
        goto done;
    uint64_t version = 0;
    int rc;
    WRITE_CALL(s, data.len, rc, brain_put(b, ns, name, data.buf, (size_t)data.len, &o, &version));
    ret = u64_or_fail(s, rc, version);
done:
    PyBuffer_Release(&data);
    return ret;
}

/* put_filled(ns, name, size, fill, type=0, desc=None, ttl_ms=0,
 *            if_version=None) -> version.
 * Reserves SIZE bytes for the value and calls FILL(memoryview) with a
 * writable view of them (e.g. socket.recv_into, for the Redis Brain's
 * cache: no copy between the network and the store).  Publishes when FILL
 * returns, gives the space back when it raises (its exception propagates).
 * FILL must keep no reference to the view: it is released on return. */
static PyObject *Store_put_filled(StoreObject *s, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"ns", "name", "size", "fill", "type", "desc",
                             "ttl_ms", "if_version", NULL};
    PyObject *nso, *nameo, *fill, *desc = Py_None, *ifv = Py_None;
    unsigned long long size;
    unsigned int type = BRAIN_TYPE_BYTES;
    long long ttl = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OOKO|IOLO:put_filled", kwlist, &nso,
                                     &nameo, &size, &fill, &type, &desc, &ttl, &ifv))
        return NULL;
    const char *ns, *name;
    brain_put_opts o;
    brain *b = store_key(s, nso, nameo, &ns, &name);
    if (!b || !fill_opts(&o, type, desc, ttl, ifv))
        return NULL;
    if (!PyCallable_Check(fill)) {
        PyErr_SetString(PyExc_TypeError, "fill must be callable");
        return NULL;
    }
    if (size > (unsigned long long)PY_SSIZE_T_MAX) {
        PyErr_SetString(PyExc_OverflowError, "size too large");
        return NULL;
    }
    brain_reservation *res = NULL;
    void *dst = NULL;
    uint64_t version = 0;
    int rc;
    ENTER(s);
    Py_BEGIN_ALLOW_THREADS
    rc = brain_reserve(b, ns, name, (size_t)size, &o, &res, &dst);
    Py_END_ALLOW_THREADS
    if (rc) {
        LEAVE(s);
        return fail(s, rc);
    }
    PyObject *mv = PyMemoryView_FromMemory(size ? (char *)dst : (char *)"",
                                           (Py_ssize_t)size, PyBUF_WRITE);
    PyObject *r = mv ? PyObject_CallOneArg(fill, mv) : NULL;
    if (mv) {
        PyObject *et, *ev, *tb;
        PyErr_Fetch(&et, &ev, &tb);  /* FILL's exception, kept for the caller */
        PyObject *rel = PyObject_CallMethod(mv, "release", NULL);
        if (!rel && r) {  /* still exported: never publish memory FILL may write */
            Py_CLEAR(r);
        } else if (!rel) {
            PyErr_Clear();
        }
        if (et)
            PyErr_Restore(et, ev, tb);
        Py_XDECREF(rel);
        Py_DECREF(mv);
    }
    if (!r) {
        brain_abort(b, res);
        LEAVE(s);
        return NULL;
    }
    Py_DECREF(r);
    Py_BEGIN_ALLOW_THREADS
    rc = brain_publish(b, res, &version);
    Py_END_ALLOW_THREADS
    LEAVE(s); /* the ENTER before brain_reserve: DST was in use until here */
    return u64_or_fail(s, rc, version);
}

/* Collects contiguous buffers from a sequence.  Returns count or -1. */
static Py_ssize_t get_buffers(PyObject *seq, Py_buffer **out)
{
    PyObject *fast = PySequence_Fast(seq, "buffers must be a sequence");
    if (!fast)
        return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    Py_buffer *bufs = PyMem_Calloc(n ? (size_t)n : 1, sizeof *bufs);
    if (!bufs) {
        Py_DECREF(fast);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (PyObject_GetBuffer(PySequence_Fast_GET_ITEM(fast, i), &bufs[i],
                               PyBUF_C_CONTIGUOUS) < 0) {
            for (Py_ssize_t j = 0; j < i; j++)
                PyBuffer_Release(&bufs[j]);
            PyMem_Free(bufs);
            Py_DECREF(fast);
            return -1;
        }
    }
    Py_DECREF(fast);
    *out = bufs;
    return n;
}

static void release_buffers(Py_buffer *bufs, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++)
        PyBuffer_Release(&bufs[i]);
    PyMem_Free(bufs);
}

static const char pad_zeros[BRAIN_ALIGN];

/* The pieces of a pickle value after its header (OFFS[0] bytes; the
 * layout of pickle_plan): the stream, the buffers and the zeros that align
 * them, in order, into IOV (room for 2 N + 2).  Returns how many. */
static size_t pickle_pieces(brain_iov *iov, uint64_t total, const Py_buffer *stream,
                            const Py_buffer *bufs, uint32_t n, const uint64_t *offs)
{
    size_t k = 0;
    uint64_t at = offs[0] + (uint64_t)stream->len;
    iov[k++] = (brain_iov){stream->buf, (size_t)stream->len};
    for (uint32_t i = 0; i <= n; i++) {
        uint64_t next = i < n ? offs[i + 1] : total;
        if (next > at) /* under 64 bytes: each piece starts 64-byte aligned */
            iov[k++] = (brain_iov){pad_zeros, (size_t)(next - at)};
        if (i < n) {
            iov[k++] = (brain_iov){bufs[i].buf, (size_t)bufs[i].len};
            at = next + (uint64_t)bufs[i].len;
        }
    }
    return k;
}

/* Lays out a pickle value (stream + buffers) into DST of TOTAL bytes. */
static int pickle_fill(void *dst, uint64_t total, const Py_buffer *stream,
                       const Py_buffer *bufs, uint32_t n, const uint64_t *lens,
                       const uint64_t *offs, const char *hint, size_t hint_len)
{
    brain_iov *iov = malloc(sizeof *iov * (2 * (size_t)n + 2));
    if (!iov)
        return BRAIN_ENOMEM;
    int rc = brain_pickle_write_header_hint(dst, (size_t)total, (uint64_t)stream->len,
                                            n, lens, hint, hint_len);
    if (rc == 0) {
        char *p = (char *)dst + offs[0];
        size_t k = pickle_pieces(iov, total, stream, bufs, n, offs);
        for (size_t i = 0; i < k; i++) {
            memcpy(p, iov[i].base, iov[i].len);
            p += iov[i].len;
        }
    }
    free(iov);
    return rc;
}

/* Stores a pickle value (the layout's header, then pickle_pieces) with
 * brain_putv: each piece is copied once, straight from where it lies into
 * the store (through the file descriptor where the store has no pages
 * yet).  GIL released by the caller. */
static int pickle_put(brain *b, const char *ns, const char *name, const brain_put_opts *o,
                      uint64_t total, const Py_buffer *stream, const Py_buffer *bufs,
                      uint32_t n, const uint64_t *lens, const uint64_t *offs,
                      const char *hint, size_t hint_len, uint64_t *version)
{
    /* the header is offs[0] bytes; brain_pickle_write_header_hint writes
     * only those, TOTAL is the size it checks the layout against */
    uint8_t *hdr = malloc((size_t)offs[0]);
    brain_iov *iov = malloc(sizeof *iov * (2 * (size_t)n + 3));
    int rc = BRAIN_ENOMEM;
    if (hdr && iov)
        rc = brain_pickle_write_header_hint(hdr, (size_t)total, (uint64_t)stream->len, n, lens,
                                            hint, hint_len);
    if (rc == 0) {
        iov[0] = (brain_iov){hdr, (size_t)offs[0]};
        size_t k = 1 + pickle_pieces(iov + 1, total, stream, bufs, n, offs);
        rc = brain_putv(b, ns, name, iov, k, o, version);
    }
    free(hdr);
    free(iov);
    return rc;
}

/* Computes a pickle layout.  Returns 0 or a status; lens and offs are malloc'ed. */
static int pickle_plan(const Py_buffer *stream, const Py_buffer *bufs,
                       Py_ssize_t n, size_t hint_len, uint64_t **lens, uint64_t **offs,
                       uint64_t *total)
{
    if ((unsigned long long)n > UINT32_MAX)
        return BRAIN_ETYPE;
    *lens = malloc(sizeof(uint64_t) * ((size_t)n + 1));
    *offs = malloc(sizeof(uint64_t) * ((size_t)n + 1));
    if (!*lens || !*offs) {
        free(*lens);
        free(*offs);
        *lens = *offs = NULL;
        return BRAIN_ENOMEM;
    }
    for (Py_ssize_t i = 0; i < n; i++)
        (*lens)[i] = (uint64_t)bufs[i].len;
    return brain_pickle_layout_hint((uint64_t)stream->len, (uint32_t)n, *lens, hint_len,
                                    *offs, total);
}

/* put_pickle(ns, name, stream, buffers, desc=None, ttl_ms=0, if_version=None)
 * Stores the layout with the stream and every out-of-band buffer copied
 * straight into the store (brain_putv, GIL released). */
static PyObject *Store_put_pickle(StoreObject *s, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"ns", "name", "stream", "buffers", "desc",
                             "ttl_ms", "if_version", "hint", NULL};
    PyObject *nso, *nameo, *bufseq, *desc = Py_None, *ifv = Py_None, *hinto = Py_None;
    Py_buffer stream;
    long long ttl = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OOy*O|OLOO:put_pickle", kwlist,
                                     &nso, &nameo, &stream, &bufseq, &desc,
                                     &ttl, &ifv, &hinto))
        return NULL;
    PyObject *ret = NULL;
    Py_buffer *bufs = NULL;
    Py_ssize_t n = -1;
    uint64_t *lens = NULL, *offs = NULL, total = 0, version = 0;
    const char *ns, *name, *hint;
    brain_put_opts o;
    brain *b = store_key(s, nso, nameo, &ns, &name);
    if (!b || !fill_opts(&o, BRAIN_TYPE_PICKLE, desc, ttl, ifv) || !opt_utf8(hinto, &hint))
        goto done;
    size_t hint_len = hint ? strlen(hint) : 0;
    n = get_buffers(bufseq, &bufs);
    if (n < 0)
        goto done;
    int rc = pickle_plan(&stream, bufs, n, hint_len, &lens, &offs, &total);
    if (rc) {
        fail(s, rc);
        goto done;
    }
    NOGIL(s, rc = pickle_put(b, ns, name, &o, total, &stream, bufs, (uint32_t)n, lens, offs,
                             hint, hint_len, &version));
    ret = u64_or_fail(s, rc, version);
done:
    free(lens);
    free(offs);
    if (n >= 0)
        release_buffers(bufs, n);
    PyBuffer_Release(&stream);
    return ret;
}

/* Reads a shape tuple into SHAPE; returns ndim or -1. */
static int parse_shape(PyObject *shapeo, uint64_t *shape)
{
    PyObject *fast = PySequence_Fast(shapeo, "shape must be a sequence");
    if (!fast)
        return -1;
    Py_ssize_t nd = PySequence_Fast_GET_SIZE(fast);
    if (nd > BRAIN_ARRAY_MAX_DIMS) {
        Py_DECREF(fast);
        PyErr_Format(PyExc_ValueError, "%zd dimensions; at most %d", nd,
                     BRAIN_ARRAY_MAX_DIMS);
        return -1;
    }
    for (Py_ssize_t i = 0; i < nd; i++) {
        unsigned long long v =
            PyLong_AsUnsignedLongLong(PySequence_Fast_GET_ITEM(fast, i));
        if (v == (unsigned long long)-1 && PyErr_Occurred()) {
            Py_DECREF(fast);
            return -1;
        }
        shape[i] = v;
    }
    Py_DECREF(fast);
    return (int)nd;
}

/* put_array(ns, name, dtype, shape, data, desc=None, ttl_ms=0,
 *           if_version=None) -> version.  DATA: the C-order bytes. */
static PyObject *Store_put_array(StoreObject *s, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"ns", "name", "dtype", "shape", "data", "desc",
                             "ttl_ms", "if_version", NULL};
    PyObject *nso, *nameo, *shapeo, *desc = Py_None, *ifv = Py_None;
    const char *dtype;
    Py_buffer data;
    long long ttl = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OOsOy*|OLO:put_array", kwlist,
                                     &nso, &nameo, &dtype, &shapeo, &data,
                                     &desc, &ttl, &ifv))
        return NULL;
    PyObject *ret = NULL;
    const char *ns, *name;
    brain_put_opts o;
    uint64_t shape[BRAIN_ARRAY_MAX_DIMS];
    brain_array a;
    uint64_t version = 0;
    int rc, nd;
    brain *b = store_key(s, nso, nameo, &ns, &name);
    if (!b || !fill_opts(&o, BRAIN_TYPE_ARRAY, desc, ttl, ifv))
        goto done;
    if ((nd = parse_shape(shapeo, shape)) < 0)
        goto done;
    if ((rc = brain_array_init(&a, dtype, (uint32_t)nd, shape))) {
        fail(s, rc);
        goto done;
    }
    if ((uint64_t)data.len != a.nbytes) {
        PyErr_Format(PyExc_ValueError,
                     "array data has %zd bytes; dtype %s and the shape need %llu",
                     data.len, dtype, (unsigned long long)a.nbytes);
        goto done;
    }
    NOGIL(s, rc = brain_put_array(b, ns, name, &a, data.buf, &o, &version));
    ret = u64_or_fail(s, rc, version);
done:
    PyBuffer_Release(&data);
    return ret;
}

static PyObject *new_view(StoreObject *s, const brain_view *v);

/* fetch(ns, name, small=65536) -> (type, bytes | View)
 * Copies values up to SMALL bytes out (no pin); pins larger ones. */
static PyObject *Store_fetch(StoreObject *s, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"ns", "name", "small", NULL};
    PyObject *nso, *nameo;
    Py_ssize_t small = SMALL_COPY;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|n:fetch", kwlist, &nso,
                                     &nameo, &small))
        return NULL;
    if (small < 0)
        small = 0;
    const char *ns, *name;
    brain *b = store_key(s, nso, nameo, &ns, &name);
    if (!b)
        return NULL;
    char stack[READ_STACK];
    size_t size = 0;
    brain_info info;
    int rc = brain_read(b, ns, name, stack, sizeof stack, &size, &info);
    if (rc == 0) {
        brain_pickle p;
        if (info.type == BRAIN_TYPE_PICKLE &&
            brain_pickle_parse(stack, size, &p) == 0 && p.nbufs == 0)
            return Py_BuildValue("(iy#)", CORE_PICKLE_STREAM, stack + p.stream_offset,
                                 (Py_ssize_t)p.stream_len);
        return Py_BuildValue("(Iy#)", (unsigned)info.type, stack, (Py_ssize_t)size);
    }
    /* too big for the stack: copy into a bytes object, or pin */
    while (rc == BRAIN_ERANGE && size <= (size_t)small) {
        PyObject *bytes = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)size);
        if (!bytes)
            return NULL;
        size_t cap = size;
        rc = brain_read(b, ns, name, PyBytes_AS_STRING(bytes), cap, &size, &info);
        if (rc == 0) {
            if (size != cap && _PyBytes_Resize(&bytes, (Py_ssize_t)size) < 0)
                return NULL;
            return Py_BuildValue("(IN)", (unsigned)info.type, bytes);
        }
        Py_DECREF(bytes);
    }
    if (rc && rc != BRAIN_ERANGE)
        return fail(s, rc);
    brain_view v;
    rc = brain_get(b, ns, name, &v);
    if (rc)
        return fail(s, rc);
    PyObject *view = new_view(s, &v);
    if (!view)
        return NULL;
    return Py_BuildValue("(IN)", (unsigned)v.info.type, view);
}

/* The value of a pickle stream that holds nothing but an int of at most
 * 64 bits, a float, True, False or None, as pickle.dumps writes them
 * (protocol 2 or later, an optional frame); NULL with no exception for any
 * other stream, which then goes to pickle.loads.  The int 42 recalled in
 * ~30 ns less than through pickle.loads (no bytes object, no call). */
static PyObject *tiny_pickle(const unsigned char *p, size_t n)
{
    size_t i = 0;
    if (n >= 2 && p[0] == 0x80) /* PROTO */
        i = 2;
    if (n >= i + 9 && p[i] == 0x95) { /* FRAME: 8-byte length of the rest */
        uint64_t flen = 0;
        for (int k = 7; k >= 0; k--)
            flen = flen << 8 | p[i + 1 + k];
        i += 9;
        if (flen != n - i)
            return NULL;
    }
    if (i >= n)
        return NULL;
    unsigned char op = p[i++];
    const unsigned char *a = p + i;
    size_t left = n - i; /* the argument and the STOP */
    switch (op) {
    case 'K': /* BININT1 */
        if (left == 2 && a[1] == '.')
            return PyLong_FromLong(a[0]);
        break;
    case 'M': /* BININT2 */
        if (left == 3 && a[2] == '.')
            return PyLong_FromLong((long)a[0] | (long)a[1] << 8);
        break;
    case 'J': /* BININT: 4 bytes, signed */
        if (left == 5 && a[4] == '.') {
            uint32_t u = (uint32_t)a[0] | (uint32_t)a[1] << 8 | (uint32_t)a[2] << 16 |
                         (uint32_t)a[3] << 24;
            return PyLong_FromLong((long)(int32_t)u);
        }
        break;
    case 0x8a: /* LONG1: a length byte, then little-endian two's complement */
        if (left >= 2 && a[0] <= 8 && left == (size_t)a[0] + 2 && a[a[0] + 1] == '.') {
            unsigned len = a[0];
            uint64_t u = 0;
            for (unsigned k = 0; k < len; k++)
                u |= (uint64_t)a[1 + k] << (8 * k);
            if (len && len < 8 && (a[len] & 0x80))
                u |= ~(uint64_t)0 << (8 * len);
            return PyLong_FromLongLong((long long)u);
        }
        break;
    case 'G': /* BINFLOAT: 8 bytes, big-endian */
        if (left == 9 && a[8] == '.') {
#if PY_VERSION_HEX >= 0x030B0000
            double d = PyFloat_Unpack8((const char *)a, 0);
#else
            double d = _PyFloat_Unpack8(a, 0);
#endif
            if (d == -1.0 && PyErr_Occurred())
                return NULL; /* never for IEEE doubles */
            return PyFloat_FromDouble(d);
        }
        break;
    case 0x88: /* NEWTRUE */
        if (left == 1 && a[0] == '.')
            Py_RETURN_TRUE;
        break;
    case 0x89: /* NEWFALSE */
        if (left == 1 && a[0] == '.')
            Py_RETURN_FALSE;
        break;
    case 'N': /* NONE */
        if (left == 1 && a[0] == '.')
            Py_RETURN_NONE;
        break;
    }
    return NULL;
}

/* The value recall_small hands out for the SIZE bytes at BUF (NULL: the
 * read failed), or GENERAL.  LARGER: the value did not fit READ_STACK;
 * then a pickle that says it holds a pandas or NumPy object (a hint)
 * takes the general path, where the recall cache keeps what is costly to
 * decode. */
static PyObject *recall_small_value(const char *buf, size_t size, const brain_info *info,
                                    int larger, PyObject *loads, PyObject *general)
{
    if (!buf)
        return Py_NewRef(general);
    if (info->type == BRAIN_TYPE_BYTES)
        return PyBytes_FromStringAndSize(buf, (Py_ssize_t)size);
    if (info->type == BRAIN_TYPE_STR) {
        PyObject *out = PyUnicode_DecodeUTF8(buf, (Py_ssize_t)size, "strict");
        if (!out && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
            PyErr_Clear(); /* not UTF-8 (a C writer's): the general path says so */
            return Py_NewRef(general);
        }
        return out;
    }
    if (info->type != BRAIN_TYPE_PICKLE)
        return Py_NewRef(general);
    brain_pickle p;
    if (brain_pickle_parse(buf, size, &p) != 0 || p.nbufs != 0 || (larger && p.hint_len))
        return Py_NewRef(general);
    const char *stream = buf + p.stream_offset;
    PyObject *out = tiny_pickle((const unsigned char *)stream, (size_t)p.stream_len);
    if (out || PyErr_Occurred())
        return out;
    PyObject *bytes = PyBytes_FromStringAndSize(stream, (Py_ssize_t)p.stream_len);
    if (!bytes)
        return NULL;
    out = PyObject_CallOneArg(loads, bytes);
    Py_DECREF(bytes);
    return out;
}

/* recall_small(ns, name, loads) -> value, or this Store itself.
 * The hot path of Brain.recall for small values, in one call: look up and
 * copy a value of at most READ_STACK bytes (on the stack), or of at most
 * RECALL_SMALL_MAX if it is not a pickle of a pandas or NumPy object (a
 * buffer of its size), and build bytes, str, or (for
 * a pickle without out-of-band buffers) the value of its stream (an int,
 * float, bool or None decoded here, anything else by loads(stream)).
 *
 * The Store itself (which no stored value can unpickle to) means "take the
 * general path": the value is larger, of another type, absent, the name
 * is not one this path takes, or the store is closed; the general path
 * then reads it or raises the right error, and nothing was unpickled.
 * An exception raised by loads (or a MemoryError) propagates as it is:
 * the stream is never unpickled twice, and KeyboardInterrupt is never
 * swallowed. */
static PyObject *Store_recall_small(StoreObject *s, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_Format(PyExc_TypeError, "recall_small takes 3 arguments (%zd given)", nargs);
        return NULL;
    }
    PyObject *general = (PyObject *)s;
    if (!PyUnicode_Check(args[0]) || !PyUnicode_Check(args[1]) || s->closed)
        return Py_NewRef(general);
    brain *b = s->b;
    Py_ssize_t nslen = 0, namelen = 0;
    const char *ns = PyUnicode_AsUTF8AndSize(args[0], &nslen);
    const char *name = ns ? PyUnicode_AsUTF8AndSize(args[1], &namelen) : NULL;
    if (!ns || !name) {
        /* a lone surrogate: the general path says what is wrong with it */
        if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError))
            return NULL;
        PyErr_Clear();
        return Py_NewRef(general);
    }
    /* a NUL inside would name a prefix: the general path refuses it */
    if (strlen(ns) != (size_t)nslen || strlen(name) != (size_t)namelen)
        return Py_NewRef(general);
    char stack[READ_STACK], *buf = stack;
    size_t size = 0;
    brain_info info;
    int rc = brain_read(b, ns, name, stack, sizeof stack, &size, &info);
    if (rc == BRAIN_ERANGE && size <= RECALL_SMALL_MAX) {
        /* larger: once more into a buffer of its size (a value replaced by
         * a larger one meanwhile fails again and takes the general path) */
        if (!(buf = PyMem_Malloc(size ? size : 1)))
            return PyErr_NoMemory();
        rc = brain_read(b, ns, name, buf, size, &size, &info);
    }
    PyObject *out = recall_small_value(rc == 0 ? buf : NULL, size, &info, buf != stack,
                                       args[2], general);
    if (buf != stack)
        PyMem_Free(buf);
    return out;
}

/* version_of(ns, name) -> the version of the name's value, 0 when it holds
 * none (absent or expired).  Brain.recall's cache asks this before handing
 * out a copy of a value it decoded before. */
static PyObject *Store_version_of(StoreObject *s, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "version_of takes 2 arguments (%zd given)", nargs);
        return NULL;
    }
    const char *ns, *name;
    brain *b = store_key(s, args[0], args[1], &ns, &name);
    if (!b)
        return NULL;
    brain_info info;
    int rc = brain_meta(b, ns, name, &info, NULL, 0);
    if (rc == BRAIN_ENOTFOUND)
        return PyLong_FromLong(0);
    return u64_or_fail(s, rc, info.version);
}

/* read(ns, name, writable=False) -> (type, bytes | bytearray): a copy. */
static PyObject *Store_read(StoreObject *s, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"ns", "name", "writable", NULL};
    PyObject *nso, *nameo;
    int writable = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|p:read", kwlist, &nso,
                                     &nameo, &writable))
        return NULL;
    const char *ns, *name;
    brain *b = store_key(s, nso, nameo, &ns, &name);
    if (!b)
        return NULL;
    brain_info info;
    size_t size = 0, cap = 0;
    int rc = brain_meta(b, ns, name, &info, NULL, 0);
    if (rc)
        return fail(s, rc);
    cap = (size_t)info.size;
    for (;;) {
        PyObject *out = writable ? PyByteArray_FromStringAndSize(NULL, (Py_ssize_t)cap)
                                 : PyBytes_FromStringAndSize(NULL, (Py_ssize_t)cap);
        if (!out)
            return NULL;
        char *dst = writable ? PyByteArray_AS_STRING(out) : PyBytes_AS_STRING(out);
        char dummy;
        if (cap == 0)
            dst = &dummy;
        NOGIL(s, rc = brain_read(b, ns, name, dst, cap, &size, &info));
        if (rc == BRAIN_ERANGE) { /* replaced by a larger value meanwhile */
            Py_DECREF(out);
            cap = size;
            continue;
        }
        if (rc) {
            Py_DECREF(out);
            return fail(s, rc);
        }
        if (size != cap) {
            int r = writable ? PyByteArray_Resize(out, (Py_ssize_t)size)
                             : _PyBytes_Resize(&out, (Py_ssize_t)size);
            if (r < 0) {
                Py_XDECREF(out);
                return NULL;
            }
        }
        return Py_BuildValue("(IN)", (unsigned)info.type, out);
    }
}

/* get(ns, name) -> View (pinned, zero-copy) */
static PyObject *Store_get(StoreObject *s, PyObject *args)
{
    const char *ns, *name;
    brain *b = key_call(s, args, "OO:get", &ns, &name);
    if (!b)
        return NULL;
    brain_view v;
    int rc = brain_get(b, ns, name, &v);
    if (rc)
        return fail(s, rc);
    return new_view(s, &v);
}

static PyObject *Store_meta(StoreObject *s, PyObject *args)
{
    const char *ns, *name;
    brain *b = key_call(s, args, "OO:meta", &ns, &name);
    if (!b)
        return NULL;
    char strbuf[BRAIN_NS_MAX + BRAIN_NAME_MAX + BRAIN_DESC_MAX + 3];
    brain_info info;
    int rc = brain_meta(b, ns, name, &info, strbuf, sizeof strbuf);
    if (rc)
        return fail(s, rc);
    return info_to_dict(&info);
}

static PyObject *Store_exists(StoreObject *s, PyObject *args)
{
    const char *ns, *name;
    brain *b = key_call(s, args, "OO:exists", &ns, &name);
    if (!b)
        return NULL;
    int rc = brain_exists(b, ns, name);
    if (rc < 0)
        return fail(s, rc);
    return PyBool_FromLong(rc);
}

static PyObject *Store_delete(StoreObject *s, PyObject *args)
{
    const char *ns, *name;
    brain *b = key_call(s, args, "OO:delete", &ns, &name);
    if (!b)
        return NULL;
    int rc;
    LOCKING_CALL(s, rc, brain_delete(b, ns, name));
    return none_or_fail(s, rc);
}

/* put_many([(ns, name, data, type, desc, ttl_ms, if_version), ...])
 * -> [versions]; atomic.  On error the exception has .index. */
static PyObject *Store_put_many(StoreObject *s, PyObject *arg)
{
    brain *b = store_handle(s);
    if (!b)
        return NULL;
    PyObject *fast = PySequence_Fast(arg, "put_many takes a sequence of tuples");
    if (!fast)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    PyObject *ret = NULL;
    size_t alloc = n ? (size_t)n : 1;
    brain_item *items = PyMem_Calloc(alloc, sizeof *items);
    brain_put_opts *opts = PyMem_Calloc(alloc, sizeof *opts);
    Py_buffer *bufs = PyMem_Calloc(alloc, sizeof *bufs);
    uint64_t *versions = PyMem_Calloc(alloc, sizeof *versions);
    Py_ssize_t got = 0;
    size_t total = 0;
    if (!items || !opts || !bufs || !versions) {
        PyErr_NoMemory();
        goto done;
    }
    for (; got < n; got++) {
        PyObject *t = PySequence_Fast_GET_ITEM(fast, got);
        PyObject *nso, *nameo, *desc = Py_None, *ifv = Py_None;
        unsigned int type = 0;
        long long ttl = 0;
        if (!PyTuple_Check(t)) {
            PyErr_SetString(PyExc_TypeError,
                            "put_many items are (ns, name, data, type, desc, ttl_ms, if_version)");
            goto done;
        }
        if (!PyArg_ParseTuple(t, "OOy*|IOLO:put_many", &nso, &nameo, &bufs[got],
                              &type, &desc, &ttl, &ifv))
            goto done;
        if (!NS_ARG(s, nso, &items[got].ns) || !NAME_ARG(s, nameo, &items[got].name) ||
            !fill_opts(&opts[got], type, desc, ttl, ifv)) {
            PyBuffer_Release(&bufs[got]);
            goto done;
        }
        items[got].data = bufs[got].buf;
        items[got].size = (size_t)bufs[got].len;
        items[got].opts = &opts[got];
        total += (size_t)bufs[got].len;
    }
    size_t failed = 0;
    int rc;
    WRITE_CALL(s, total, rc, brain_put_many(b, (size_t)n, items, versions, &failed));
    if (rc) {
        fail(s, rc);
        PyObject *et, *ev, *tb;
        PyErr_Fetch(&et, &ev, &tb);
        PyErr_NormalizeException(&et, &ev, &tb);
        PyObject *idx = PyLong_FromSize_t(failed);
        if (idx && ev && PyObject_SetAttrString(ev, "index", idx) < 0)
            PyErr_Clear();
        Py_XDECREF(idx);
        PyErr_Restore(et, ev, tb);
        goto done;
    }
    ret = PyList_New(n);
    if (!ret)
        goto done;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = PyLong_FromUnsignedLongLong(versions[i]);
        if (!v) {
            Py_CLEAR(ret);
            goto done;
        }
        PyList_SET_ITEM(ret, i, v);
    }
done:
    for (Py_ssize_t i = 0; i < got; i++)
        PyBuffer_Release(&bufs[i]);
    PyMem_Free(items);
    PyMem_Free(opts);
    PyMem_Free(bufs);
    PyMem_Free(versions);
    Py_DECREF(fast);
    return ret;
}

/* get_many([(ns, name), ...]) -> [View]; one consistent snapshot. */
static PyObject *Store_get_many(StoreObject *s, PyObject *arg)
{
    brain *b = store_handle(s);
    if (!b)
        return NULL;
    PyObject *fast = PySequence_Fast(arg, "get_many takes a sequence of (ns, name)");
    if (!fast)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    PyObject *ret = NULL;
    size_t alloc = n ? (size_t)n : 1;
    brain_key *keys = PyMem_Calloc(alloc, sizeof *keys);
    brain_view *views = PyMem_Calloc(alloc, sizeof *views);
    if (!keys || !views) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *nso, *nameo;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(fast, i), "OO:get_many",
                              &nso, &nameo) ||
            !NS_ARG(s, nso, &keys[i].ns) || !NAME_ARG(s, nameo, &keys[i].name))
            goto done;
    }
    size_t failed = 0;
    int rc;
    LOCKING_CALL(s, rc, brain_get_many(b, (size_t)n, keys, views, &failed));
    if (rc) {
        fail(s, rc);
        PyObject *et, *ev, *tb;
        PyErr_Fetch(&et, &ev, &tb);
        PyErr_NormalizeException(&et, &ev, &tb);
        PyObject *idx = PyLong_FromSize_t(failed);
        if (idx && ev && PyObject_SetAttrString(ev, "index", idx) < 0)
            PyErr_Clear();
        Py_XDECREF(idx);
        PyErr_Restore(et, ev, tb);
        goto done;
    }
    ret = PyList_New(n);
    Py_ssize_t made = 0;
    if (ret) {
        for (; made < n; made++) {
            PyObject *v = new_view(s, &views[made]);
            if (!v)
                break;
            PyList_SET_ITEM(ret, made, v);
        }
    }
    if (!ret || made < n) {
        /* Views already made release their pins when the list goes;
         * new_view released views[made] itself when it failed. */
        for (Py_ssize_t i = ret ? made + 1 : 0; i < n; i++)
            brain_view_release(b, &views[i]);
        Py_CLEAR(ret);
    }
done:
    PyMem_Free(keys);
    PyMem_Free(views);
    Py_DECREF(fast);
    return ret;
}

/* Parses (ns=None, all=False) and lists, the GIL released. */
static brain_list *list_call(StoreObject *s, PyObject *args, PyObject *kw, const char *fmt)
{
    static char *kwlist[] = {"ns", "all", NULL};
    PyObject *nso = Py_None;
    int all = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, fmt, kwlist, &nso, &all))
        return NULL;
    const char *ns;
    brain *b = store_handle(s);
    if (!b || !NS_ARG(s, nso, &ns))
        return NULL;
    brain_list *l = NULL;
    int rc;
    NOGIL(s, rc = brain_list_names(b, ns, all, &l));
    if (rc) {
        fail(s, rc);
        return NULL;
    }
    return l;
}

/* list(ns=None, all=False) -> [info dict] */
static PyObject *Store_list(StoreObject *s, PyObject *args, PyObject *kw)
{
    brain_list *l = list_call(s, args, kw, "|Op:list");
    if (!l)
        return NULL;
    PyObject *out = PyList_New((Py_ssize_t)l->count);
    for (size_t i = 0; out && i < l->count; i++) {
        PyObject *d = info_to_dict(&l->items[i]);
        if (!d) {
            Py_CLEAR(out);
            break;
        }
        PyList_SET_ITEM(out, (Py_ssize_t)i, d);
    }
    brain_list_free(l);
    return out;
}

/* names(ns=None, all=False, exclude=None) -> [str]: the names only, sorted
 * (by code point; one name in several namespaces once per namespace),
 * cheaper than list.  EXCLUDE: a namespace whose names are left out. */
static PyObject *Store_names(StoreObject *s, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"ns", "all", "exclude", NULL};
    PyObject *nso = Py_None, *exo = Py_None;
    int all = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|OpO:names", kwlist, &nso, &all, &exo))
        return NULL;
    const char *ns, *ex;
    brain *b = store_handle(s);
    if (!b || !NS_ARG(s, nso, &ns) || !opt_utf8(exo, &ex))
        return NULL;
    brain_names *l = NULL;
    int rc;
    NOGIL(s, rc = brain_list_sorted_names(b, ns, all, &l));
    if (rc) {
        fail(s, rc);
        return NULL;
    }
    size_t n = l->count, m = 0;
    PyObject *out = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; out && i < n; i++) {
        if (ex && strcmp(l->ns[i], ex) == 0)
            continue;
        const unsigned char *p = (const unsigned char *)l->names[i];
        uint32_t len = l->name_lens[i], j = 0;
        uint64_t any = 0; /* the bytes ORed together, 8 at a time */
        for (; j + 8 <= len; j += 8) {
            uint64_t w;
            memcpy(&w, p + j, 8);
            any |= w;
        }
        for (; j < len; j++)
            any |= p[j];
        PyObject *d;
        if (!(any & 0x8080808080808080ull)) { /* ASCII: no decoding */
            d = PyUnicode_New(len, 127);
            if (d)
                memcpy(PyUnicode_DATA(d), p, len);
        } else {
            d = PyUnicode_DecodeUTF8((const char *)p, len, "replace");
        }
        if (!d) {
            Py_CLEAR(out);
            break;
        }
        PyList_SET_ITEM(out, (Py_ssize_t)m++, d);
    }
    brain_names_free(l);
    if (out && m < n && PyList_SetSlice(out, (Py_ssize_t)m, (Py_ssize_t)n, NULL) < 0)
        Py_CLEAR(out);
    return out;
}

/* count(ns=None) -> int: how many names NS holds (expired ones left out),
 * without listing them. */
static PyObject *Store_count(StoreObject *s, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"ns", NULL};
    PyObject *nso = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|O:count", kwlist, &nso))
        return NULL;
    const char *ns;
    brain *b = store_handle(s);
    if (!b || !NS_ARG(s, nso, &ns))
        return NULL;
    uint64_t n = 0;
    int rc;
    NOGIL(s, rc = brain_count_names(b, ns, &n));
    return u64_or_fail(s, rc, n);
}

static PyObject *Store_namespaces(StoreObject *s, PyObject *Py_UNUSED(a))
{
    brain *b = store_handle(s);
    if (!b)
        return NULL;
    brain_ns_info *v = NULL;
    size_t n = 0;
    int rc;
    LOCKING_CALL(s, rc, brain_namespaces(b, &v, &n));
    if (rc)
        return fail(s, rc);
    PyObject *out = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; out && i < n; i++) {
        PyObject *d = Py_BuildValue("{s:s,s:K,s:K,s:K}", "name", v[i].name,
                                    "names", (unsigned long long)v[i].names,
                                    "bytes", (unsigned long long)v[i].bytes,
                                    "version", (unsigned long long)v[i].version);
        if (!d) {
            Py_CLEAR(out);
            break;
        }
        PyList_SET_ITEM(out, (Py_ssize_t)i, d);
    }
    free(v);
    return out;
}

static PyObject *Store_ns_clear(StoreObject *s, PyObject *arg)
{
    const char *ns;
    brain *b = store_handle(s);
    if (!b || !NS_ARG(s, arg, &ns))
        return NULL;
    size_t removed = 0;
    int rc;
    NOGIL(s, rc = brain_ns_clear(b, ns, &removed));
    return size_or_fail(s, rc, removed);
}

/* wait(ns, name, after_version, timeout_ms=-1) -> version
 * name None waits on the namespace.  Wakes every WAIT_SLICE_MS to let
 * signal handlers (KeyboardInterrupt) run. */
static PyObject *Store_wait(StoreObject *s, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"ns", "name", "after_version", "timeout_ms", NULL};
    PyObject *nso, *nameo;
    unsigned long long after = 0;
    long long timeout = -1;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OOK|L:wait", kwlist, &nso,
                                     &nameo, &after, &timeout))
        return NULL;
    const char *ns, *name;
    brain *b = store_handle(s);
    if (!b || !NS_ARG(s, nso, &ns) || !OPT_NAME_ARG(s, nameo, &name))
        return NULL;
    uint64_t version = 0;
    int rc;
    long long left = timeout;
    for (;;) {
        long long slice = (left < 0 || left > WAIT_SLICE_MS) ? WAIT_SLICE_MS : left;
        NOGIL(s, rc = brain_wait(b, ns, name, after, slice, &version));
        if (rc != BRAIN_ETIMEDOUT)
            break;
        if (left >= 0) {
            left -= slice;
            if (left <= 0)
                break;
        }
        if (PyErr_CheckSignals() < 0)
            return NULL;
        if (!(b = store_handle(s)))
            return NULL;
    }
    return u64_or_fail(s, rc, version);
}

static PyObject *Store_version(StoreObject *s, PyObject *Py_UNUSED(a))
{
    brain *b = store_handle(s);
    if (!b)
        return NULL;
    uint64_t v = 0;
    int rc = brain_version(b, &v);
    return u64_or_fail(s, rc, v);
}

typedef int (*count_fn)(brain *, size_t *);

static PyObject *count_call(StoreObject *s, count_fn fn)
{
    brain *b = store_handle(s);
    if (!b)
        return NULL;
    size_t n = 0;
    int rc;
    NOGIL(s, rc = fn(b, &n));
    return size_or_fail(s, rc, n);
}

static PyObject *Store_expire(StoreObject *s, PyObject *Py_UNUSED(a))
{
    return count_call(s, brain_expire);
}

static PyObject *Store_reap(StoreObject *s, PyObject *Py_UNUSED(a))
{
    return count_call(s, brain_reap);
}

static PyObject *Store_snapshot_save(StoreObject *s, PyObject *arg)
{
    PyObject *bytes;
    brain *b = store_path_arg(s, arg, &bytes);
    if (!b)
        return NULL;
    uint64_t n = 0;
    int rc;
    NOGIL(s, rc = brain_snapshot_save(b, PyBytes_AS_STRING(bytes), &n));
    Py_DECREF(bytes);
    return u64_or_fail(s, rc, n);
}

static PyObject *Store_snapshot_load(StoreObject *s, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"path", "merge", NULL};
    PyObject *bytes = NULL;
    int merge = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O&|p:snapshot_load", kwlist, PyUnicode_FSConverter,
                                     &bytes, &merge))
        return NULL;
    brain *b = store_for_path(s, bytes);
    if (!b)
        return NULL;
    uint64_t n = 0;
    int rc;
    NOGIL(s, rc = brain_snapshot_load(b, PyBytes_AS_STRING(bytes), merge ? BRAIN_LOAD_MERGE : 0,
                                      &n));
    Py_DECREF(bytes);
    return u64_or_fail(s, rc, n);
}

static PyObject *Store_snapshot_info(StoreObject *s, PyObject *arg)
{
    PyObject *bytes;
    brain *b = store_path_arg(s, arg, &bytes);
    if (!b)
        return NULL;
    uint64_t n = 0;
    int ours = 0, rc;
    NOGIL(s, rc = brain_snapshot_info(b, PyBytes_AS_STRING(bytes), &n, &ours));
    Py_DECREF(bytes);
    if (rc)
        return fail(s, rc);
    return Py_BuildValue("(KO)", (unsigned long long)n, ours ? Py_True : Py_False);
}

static PyObject *Store_set_lock_timeout(StoreObject *s, PyObject *arg)
{
    brain *b = store_handle(s);
    if (!b)
        return NULL;
    long long ms = -1;
    if (arg != Py_None) {
        double sec = PyFloat_AsDouble(arg);
        if (sec == -1.0 && PyErr_Occurred())
            return NULL;
        if (!(sec >= 0) || sec > 1e9) {
            PyErr_Format(PyExc_ValueError, "lock_timeout is seconds from 0 to 1e9, or None "
                                           "(wait for ever); got %R", arg);
            return NULL;
        }
        ms = (long long)(sec * 1000.0);
    }
    brain_set_lock_timeout(b, ms);
    Py_RETURN_NONE;
}

static PyObject *Store_stats(StoreObject *s, PyObject *Py_UNUSED(a))
{
    brain *b = store_handle(s);
    if (!b)
        return NULL;
    brain_stats st;
    int rc = brain_stats_get(b, &st);
    if (rc)
        return fail(s, rc);
#define K(f) #f, (unsigned long long)st.f
    return Py_BuildValue(
        "{s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K}",
        K(capacity), K(file_size), K(used), K(free), K(largest_free), K(limbo),
        K(names), K(namespaces), K(procs), K(pins), K(version), K(index_slots),
        K(blocks), K(free_blocks), K(recoveries), K(reaped), K(max_procs),
        K(max_namespaces));
#undef K
}

static PyObject *Store_resize(StoreObject *s, PyObject *arg)
{
    unsigned long long cap = PyLong_AsUnsignedLongLong(arg);
    if (cap == (unsigned long long)-1 && PyErr_Occurred())
        return NULL;
    brain *b = store_handle(s);
    if (!b)
        return NULL;
    int rc;
    NOGIL(s, rc = brain_resize(b, cap));
    return none_or_fail(s, rc);
}

typedef struct {
    char **msgs;
    size_t n, cap;
    int oom;
} report_ctx;

static void collect_report(void *ctx, const char *message)
{
    report_ctx *r = ctx;
    if (r->oom)
        return;
    if (r->n == r->cap) {
        size_t nc = r->cap ? r->cap * 2 : 8;
        char **m = realloc(r->msgs, nc * sizeof *m);
        if (!m) {
            r->oom = 1;
            return;
        }
        r->msgs = m;
        r->cap = nc;
    }
    char *c = strdup(message ? message : "");
    if (!c) {
        r->oom = 1;
        return;
    }
    r->msgs[r->n++] = c;
}

/* check() -> [problems]; empty when the store is consistent. */
static PyObject *Store_check(StoreObject *s, PyObject *Py_UNUSED(a))
{
    brain *b = store_handle(s);
    if (!b)
        return NULL;
    report_ctx r = {0};
    int rc;
    NOGIL(s, rc = brain_check(b, collect_report, &r));
    PyObject *out = NULL;
    if (rc && rc != BRAIN_ECORRUPT) {
        fail(s, rc);
    } else {
        out = PyList_New((Py_ssize_t)r.n);
        for (size_t i = 0; out && i < r.n; i++) {
            PyObject *m = PyUnicode_DecodeUTF8(r.msgs[i], (Py_ssize_t)strlen(r.msgs[i]),
                                               "replace");
            if (!m) {
                Py_CLEAR(out);
                break;
            }
            PyList_SET_ITEM(out, (Py_ssize_t)i, m);
        }
        if (out && rc == BRAIN_ECORRUPT && r.n == 0) {
            PyObject *m = PyUnicode_FromString("store is corrupted");
            if (!m || PyList_Append(out, m) < 0)
                Py_CLEAR(out);
            Py_XDECREF(m);
        }
    }
    for (size_t i = 0; i < r.n; i++)
        free(r.msgs[i]);
    free(r.msgs);
    return out;
}

static PyMethodDef Store_methods[] = {
    {"close", (PyCFunction)Store_close, METH_NOARGS,
     "close()\n--\n\nDetaches from the store.  Views still alive keep the "
     "mapping until they are released; every other call raises."},
    {"put", (PyCFunction)(void (*)(void))Store_put, METH_VARARGS | METH_KEYWORDS,
     "put(ns, name, data, type=0, desc=None, ttl_ms=0, if_version=None)\n--\n\n"
     "Stores a copy of the bytes-like DATA; returns the new version."},
    {"put_filled", (PyCFunction)(void (*)(void))Store_put_filled,
     METH_VARARGS | METH_KEYWORDS,
     "put_filled(ns, name, size, fill, type=0, desc=None, ttl_ms=0, if_version=None)\n--\n\n"
     "Reserves SIZE bytes, calls FILL(view) with a writable memoryview of "
     "them, then publishes the value (or gives the space back when FILL "
     "raises); returns the new version."},
    {"put_pickle", (PyCFunction)(void (*)(void))Store_put_pickle,
     METH_VARARGS | METH_KEYWORDS,
     "put_pickle(ns, name, stream, buffers, desc=None, ttl_ms=0, if_version=None, hint=None)\n--\n\n"
     "Writes a pickle-5 stream and its out-of-band buffers (each 64-byte "
     "aligned) straight into the store; returns the new version.  HINT: a "
     "short text kept in the value's header saying what it holds "
     "(`brain ls --long` prints it)."},
    {"put_array", (PyCFunction)(void (*)(void))Store_put_array,
     METH_VARARGS | METH_KEYWORDS,
     "put_array(ns, name, dtype, shape, data, desc=None, ttl_ms=0, if_version=None)\n--\n\n"
     "Stores an n-d array in the C layout; DATA holds the C-order bytes."},
    {"fetch", (PyCFunction)(void (*)(void))Store_fetch, METH_VARARGS | METH_KEYWORDS,
     "fetch(ns, name, small=65536)\n--\n\n"
     "Returns (type, bytes) for values up to SMALL bytes (4096 at least), else "
     "(type, View).  "
     "For a small pickle without out-of-band buffers the type is "
     "TYPE_PICKLE_STREAM and the bytes are the bare stream."},
    {"recall_small", (PyCFunction)(void (*)(void))Store_recall_small, METH_FASTCALL,
     "recall_small(ns, name, loads)\n--\n\nA small bytes, str or in-band pickle value in one call, "
     "or this Store itself (take the general path; nothing was unpickled)."},
    {"version_of", (PyCFunction)(void (*)(void))Store_version_of, METH_FASTCALL,
     "version_of(ns, name)\n--\n\nThe version of the name's value; 0 when it holds none."},
    {"read", (PyCFunction)(void (*)(void))Store_read, METH_VARARGS | METH_KEYWORDS,
     "read(ns, name, writable=False)\n--\n\nReturns (type, a private copy)."},
    {"get", (PyCFunction)Store_get, METH_VARARGS,
     "get(ns, name)\n--\n\nReturns a pinned, read-only View of the value."},
    {"meta", (PyCFunction)Store_meta, METH_VARARGS,
     "meta(ns, name)\n--\n\nMetadata of a name, as a dict."},
    {"exists", (PyCFunction)Store_exists, METH_VARARGS,
     "exists(ns, name)\n--\n\nTrue when the name holds an unexpired value."},
    {"delete", (PyCFunction)Store_delete, METH_VARARGS,
     "delete(ns, name)\n--\n\nDeletes a name."},
    {"put_many", (PyCFunction)Store_put_many, METH_O,
     "put_many(items)\n--\n\nAtomic puts of (ns, name, data, type, desc, ttl_ms, "
     "if_version) tuples; returns the versions."},
    {"get_many", (PyCFunction)Store_get_many, METH_O,
     "get_many(keys)\n--\n\nViews of (ns, name) keys from one snapshot."},
    {"list", (PyCFunction)(void (*)(void))Store_list, METH_VARARGS | METH_KEYWORDS,
     "list(ns=None, all=False)\n--\n\nMetadata dicts of the names."},
    {"names", (PyCFunction)(void (*)(void))Store_names, METH_VARARGS | METH_KEYWORDS,
     "names(ns=None, all=False)\n--\n\nThe names."},
    {"count", (PyCFunction)(void (*)(void))Store_count, METH_VARARGS | METH_KEYWORDS,
     "count(ns=None)\n--\n\nHow many names the namespace holds (expired ones left out)."},
    {"namespaces", (PyCFunction)Store_namespaces, METH_NOARGS,
     "namespaces()\n--\n\nThe namespaces, as dicts."},
    {"ns_clear", (PyCFunction)Store_ns_clear, METH_O,
     "ns_clear(ns)\n--\n\nDeletes every name of NS; returns how many."},
    {"wait", (PyCFunction)(void (*)(void))Store_wait, METH_VARARGS | METH_KEYWORDS,
     "wait(ns, name, after_version, timeout_ms=-1)\n--\n\n"
     "Blocks until the name (or, with name None, the namespace) has a version "
     "other than AFTER_VERSION; returns it."},
    {"version", (PyCFunction)Store_version, METH_NOARGS,
     "version()\n--\n\nThe store's current version."},
    {"expire", (PyCFunction)Store_expire, METH_NOARGS,
     "expire()\n--\n\nDeletes expired entries; returns how many."},
    {"stats", (PyCFunction)Store_stats, METH_NOARGS, "stats()\n--\n\nStore statistics."},
    {"set_lock_timeout", (PyCFunction)Store_set_lock_timeout, METH_O,
     "set_lock_timeout(seconds or None): how long calls wait for the writers' lock"},
    {"snapshot_info", (PyCFunction)Store_snapshot_info, METH_O,
     "snapshot_info(path) -> (count, ours): the header of a snapshot file"},
    {"snapshot_save", (PyCFunction)Store_snapshot_save, METH_O,
     "snapshot_save(path)\n--\n\nWrites every name to a snapshot file; returns how many."},
    {"snapshot_load", (PyCFunction)(void (*)(void))Store_snapshot_load, METH_VARARGS | METH_KEYWORDS,
     "snapshot_load(path, merge=False)\n--\n\nLoads a snapshot file (checked whole first); returns how many names."},
    {"resize", (PyCFunction)Store_resize, METH_O,
     "resize(capacity)\n--\n\nChanges the capacity."},
    {"reap", (PyCFunction)Store_reap, METH_NOARGS,
     "reap()\n--\n\nReaps dead processes' slots; returns how many."},
    {"check", (PyCFunction)Store_check, METH_NOARGS,
     "check()\n--\n\nValidates the store; returns the problems found."},
    {"__enter__", (PyCFunction)Store_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)Store_exit, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Store_getset[] = {
    {"path", (getter)Store_get_path, NULL, "The resolved path of the store file.", NULL},
    {"closed", (getter)Store_get_closed, NULL, "True once close() was called.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMemberDef Store_members[] = {
    {"__weaklistoffset__", T_PYSSIZET, offsetof(StoreObject, weakrefs), READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot Store_slots[] = {
    {Py_tp_doc, "Store(path, create=True, capacity=0, exclusive=False, "
                "max_procs=0, max_namespaces=0)\n--\n\n"
                "An open libbrain store: a name ('app1' -> /dev/shm/brain-app1) "
                "or an absolute path."},
    {Py_tp_new, Store_new},
    {Py_tp_dealloc, Store_dealloc},
    {Py_tp_traverse, Store_traverse},
    {Py_tp_methods, Store_methods},
    {Py_tp_getset, Store_getset},
    {Py_tp_members, Store_members},
    {0, NULL},
};

static PyType_Spec Store_spec = {
    .name = "brain_plasma._core.Store",
    .basicsize = sizeof(StoreObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = Store_slots,
};

/* ---- View --------------------------------------------------------------- */

static PyObject *new_view(StoreObject *s, const brain_view *v)
{
    core_state *st = state_of_type(Py_TYPE(s));
    if (!st) {
        brain_view tmp = *v;
        brain_view_release(s->b, &tmp);
        return NULL;
    }
    ViewObject *o = PyObject_GC_New(ViewObject, st->view_type);
    if (!o) {
        brain_view tmp = *v;
        brain_view_release(s->b, &tmp);
        return NULL;
    }
    o->store = (StoreObject *)Py_NewRef(s);
    o->view = *v;
    o->exports = 0;
    o->held = 1;
    s->users++;
    PyObject_GC_Track(o);
    return (PyObject *)o;
}

static void view_release_pin(ViewObject *o)
{
    if (o->held) {
        o->held = 0;
        StoreObject *s = o->store;
        if (s->b)
            brain_view_release(s->b, &o->view);
        memset(&o->view, 0, sizeof o->view);
        s->users--;
        store_maybe_close(s);
    }
}

static void View_dealloc(ViewObject *o)
{
    PyTypeObject *tp = Py_TYPE(o);
    PyObject_GC_UnTrack(o);
    view_release_pin(o);
    Py_CLEAR(o->store);
    tp->tp_free(o);
    Py_DECREF(tp);
}

static int View_traverse(ViewObject *o, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(o));
    Py_VISIT(o->store);
    return 0;
}

static int View_getbuffer(ViewObject *o, Py_buffer *view, int flags)
{
    if (!o->held) {
        PyErr_SetString(PyExc_ValueError, "the view was released");
        return -1;
    }
    if (PyBuffer_FillInfo(view, (PyObject *)o, (void *)o->view.data,
                          (Py_ssize_t)o->view.size, 1, flags) < 0)
        return -1;
    o->exports++;
    return 0;
}

static void View_releasebuffer(ViewObject *o, Py_buffer *Py_UNUSED(view))
{
    o->exports--;
}

/* release(): releases the pin now; BufferError while buffers are exported. */
static PyObject *View_release(ViewObject *o, PyObject *Py_UNUSED(a))
{
    if (o->exports > 0) {
        PyErr_Format(PyExc_BufferError,
                     "cannot release the view: %zd buffers exported from it "
                     "are alive (arrays or memoryviews still use the value)",
                     o->exports);
        return NULL;
    }
    view_release_pin(o);
    Py_RETURN_NONE;
}

static PyObject *View_tobytes(ViewObject *o, PyObject *Py_UNUSED(a))
{
    if (!o->held) {
        PyErr_SetString(PyExc_ValueError, "the view was released");
        return NULL;
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)o->view.size);
    if (!out)
        return NULL;
    if (o->view.size > SMALL_COPY) {
        Py_BEGIN_ALLOW_THREADS
        memcpy(PyBytes_AS_STRING(out), o->view.data, (size_t)o->view.size);
        Py_END_ALLOW_THREADS
    } else if (o->view.size) {
        memcpy(PyBytes_AS_STRING(out), o->view.data, (size_t)o->view.size);
    }
    return out;
}

static PyObject *View_get_info(ViewObject *o, void *Py_UNUSED(c))
{
    if (!o->held) {
        PyErr_SetString(PyExc_ValueError, "the view was released");
        return NULL;
    }
    return info_to_dict(&o->view.info);
}

static PyObject *View_get_type(ViewObject *o, void *Py_UNUSED(c))
{
    return PyLong_FromUnsignedLong(o->view.info.type);
}

static PyObject *View_get_version(ViewObject *o, void *Py_UNUSED(c))
{
    return PyLong_FromUnsignedLongLong(o->view.info.version);
}

static PyObject *View_get_exports(ViewObject *o, void *Py_UNUSED(c))
{
    return PyLong_FromSsize_t(o->exports);
}

static PyObject *View_get_released(ViewObject *o, void *Py_UNUSED(c))
{
    return PyBool_FromLong(!o->held);
}

static Py_ssize_t View_len(ViewObject *o)
{
    return o->held ? (Py_ssize_t)o->view.size : 0;
}

static PyObject *View_repr(ViewObject *o)
{
    if (!o->held)
        return PyUnicode_FromString("<brain_plasma._core.View released>");
    return PyUnicode_FromFormat("<brain_plasma._core.View %s/%s %s %llu bytes v%llu>",
                                o->view.info.ns ? o->view.info.ns : "",
                                o->view.info.name ? o->view.info.name : "",
                                brain_type_name(o->view.info.type),
                                (unsigned long long)o->view.size,
                                (unsigned long long)o->view.info.version);
}

static PyMethodDef View_methods[] = {
    {"release", (PyCFunction)View_release, METH_NOARGS,
     "release()\n--\n\nReleases the pin now (BufferError while exported)."},
    {"tobytes", (PyCFunction)View_tobytes, METH_NOARGS,
     "tobytes()\n--\n\nA copy of the value as bytes."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef View_getset[] = {
    {"info", (getter)View_get_info, NULL, "Metadata of the viewed value.", NULL},
    {"type", (getter)View_get_type, NULL, "The value's type tag.", NULL},
    {"version", (getter)View_get_version, NULL, "The value's version.", NULL},
    {"exports", (getter)View_get_exports, NULL, "Buffers exported and alive.", NULL},
    {"released", (getter)View_get_released, NULL, "True once the pin is released.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot View_slots[] = {
    {Py_tp_doc, "A pinned, read-only, zero-copy view of a stored value "
                "(buffer protocol).  The pin is released when the View is "
                "deallocated, which cannot happen while a buffer exported "
                "from it is alive."},
    {Py_tp_dealloc, View_dealloc},
    {Py_tp_traverse, View_traverse},
    {Py_tp_methods, View_methods},
    {Py_tp_getset, View_getset},
    {Py_tp_repr, View_repr},
    {Py_bf_getbuffer, View_getbuffer},
    {Py_bf_releasebuffer, View_releasebuffer},
    {Py_sq_length, View_len},
    {Py_mp_length, View_len},
    {0, NULL},
};

static PyType_Spec View_spec = {
    .name = "brain_plasma._core.View",
    .basicsize = sizeof(ViewObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE |
             Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = View_slots,
};

/* ---- Reservation ---------------------------------------------------------
 * Room for a value in the store, written in place, then published
 * (brain_reserve / brain_publish_view): the Plasma client's create() buffer.
 *
 * Reservation(store, ns, name, size, type=0, desc=None, ttl_ms=0,
 *             if_version=None) reserves SIZE bytes for (ns, name).  The
 * object exports them through the buffer protocol, writable until seal()
 * (an exports counter, as View's), and supports len(), item and slice reads
 * and writes (through a memoryview of itself), so it can be written as
 * `buf[:] = data` or through `numpy.frombuffer(buf, ...)`.
 *
 * seal() publishes the value and pins it (brain_publish_view), so the
 * memory stays the value's while this object lives, however long buffers
 * exported from it live (the pin is dropped at deallocation, which cannot
 * happen while one is alive).  After seal() new exports are read-only and
 * item writes raise; buffers exported before seal keep the access they
 * got (the buffer protocol cannot take it back): writing through them
 * changes what readers see, which Plasma's rule forbids ("sealed objects
 * are immutable").
 *
 * abort() gives the space back: at once when nothing is exported, else
 * when the last exported buffer is released (until then the bytes are
 * still reserved, so late writes through old buffers land in memory no
 * other value has).  Deallocating an unsealed reservation aborts it.  A
 * fork child cannot use its parent's reservation (not inherited, as in
 * libbrain): exports and seal() raise there, deallocation frees only the
 * child's copy of the bookkeeping.
 *
 * The Reservation holds a reference to its Store and counts as a user of
 * the handle (like a View), so the mapping outlives it. */

enum { RES_OPEN, RES_BUSY, RES_SEALED, RES_ABORTING, RES_ABORTED };

typedef struct {
    PyObject_HEAD
    StoreObject *store;
    brain_reservation *res; /* OPEN and ABORTING */
    unsigned char *data;
    Py_ssize_t size;
    brain_view view;        /* SEALED: the pin */
    Py_ssize_t exports;
    int state;
    long pid;               /* the process that reserved */
    uint64_t version;
    PyObject *name;         /* for messages */
} ReservationObject;

static const char *res_state_name(const ReservationObject *o)
{
    static const char *names[] = {"open", "busy", "sealed", "aborting", "aborted"};
    return names[o->state];
}

/* Raises the error class registered for CODE with a message. */
static int res_error(ReservationObject *o, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    PyObject *msg = PyUnicode_FromFormatV(fmt, ap);
    va_end(ap);
    raise_with(state_of_type(Py_TYPE(o)), code, code, msg);
    return -1;
}

/* In a fork child the reservation is the parent's. */
static int res_foreign(ReservationObject *o)
{
    if ((long)getpid() == o->pid)
        return 0;
    res_error(o, BRAIN_ESTALE,
              "'%U' was reserved by process %ld, not this one (%ld): a fork child "
              "does not inherit its parent's unsealed objects; create it again here",
              o->name, o->pid, (long)getpid());
    return 1;
}

/* Gives the space back now.  The GIL is released around the lock wait. */
static void res_do_abort(ReservationObject *o)
{
    brain_reservation *r = o->res;
    o->res = NULL;
    o->state = RES_ABORTED;
    StoreObject *s = o->store;
    if (r && s->b) {
        brain *b = s->b;
        Py_BEGIN_ALLOW_THREADS
        brain_abort(b, r); /* in a fork child: frees only the bookkeeping */
        Py_END_ALLOW_THREADS
    }
}

static PyObject *Reservation_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"store", "ns", "name", "size", "type", "desc",
                             "ttl_ms", "if_version", NULL};
    PyObject *storeo, *nso, *nameo, *desc = Py_None, *ifv = Py_None;
    long long size;
    unsigned int vtype = BRAIN_TYPE_BYTES;
    long long ttl = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OOOL|IOLO:Reservation", kwlist, &storeo,
                                     &nso, &nameo, &size, &vtype, &desc, &ttl, &ifv))
        return NULL;
    core_state *st = state_of_type(type);
    if (!st)
        return NULL;
    if (!PyObject_TypeCheck(storeo, st->store_type)) {
        PyErr_Format(PyExc_TypeError, "store must be a brain_plasma._core.Store, not %.80s",
                     Py_TYPE(storeo)->tp_name);
        return NULL;
    }
    if (size < 0 || (unsigned long long)size > (unsigned long long)PY_SSIZE_T_MAX) {
        PyObject *msg = PyUnicode_FromFormat("size is a number of bytes >= 0; got %lld", size);
        return raise_with(st, BRAIN_EINVAL, BRAIN_EINVAL, msg);
    }
    StoreObject *s = (StoreObject *)storeo;
    const char *ns, *name;
    brain_put_opts opts;
    brain *b = store_key(s, nso, nameo, &ns, &name);
    if (!b || !fill_opts(&opts, vtype, desc, ttl, ifv))
        return NULL;
    brain_reservation *res = NULL;
    void *data = NULL;
    int rc;
    NOGIL(s, rc = brain_reserve(b, ns, name, (size_t)size, &opts, &res, &data));
    if (rc)
        return fail(s, rc);
    ReservationObject *o = (ReservationObject *)type->tp_alloc(type, 0);
    if (!o) {
        Py_BEGIN_ALLOW_THREADS
        brain_abort(b, res);
        Py_END_ALLOW_THREADS
        return NULL;
    }
    o->store = (StoreObject *)Py_NewRef(s);
    s->users++;
    o->res = res;
    o->data = data;
    o->size = (Py_ssize_t)size;
    o->state = RES_OPEN;
    o->pid = (long)getpid();
    o->name = Py_NewRef(nameo);
    return (PyObject *)o;
}

static void Reservation_dealloc(ReservationObject *o)
{
    PyTypeObject *tp = Py_TYPE(o);
    PyObject_GC_UnTrack(o);
    StoreObject *s = o->store;
    if (s) {
        if (o->state == RES_OPEN || o->state == RES_ABORTING)
            res_do_abort(o);
        if (o->state == RES_SEALED && o->view.pin_ && s->b)
            brain_view_release(s->b, &o->view);
        s->users--;
        store_maybe_close(s);
        Py_CLEAR(o->store);
    }
    Py_CLEAR(o->name);
    tp->tp_free(o);
    Py_DECREF(tp);
}

static int Reservation_traverse(ReservationObject *o, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(o));
    Py_VISIT(o->store);
    return 0;
}

static int Reservation_getbuffer(ReservationObject *o, Py_buffer *view, int flags)
{
    if (o->state == RES_ABORTING || o->state == RES_ABORTED)
        return res_error(o, BRAIN_EINVAL,
                         "the object '%U' was aborted (released, deleted or its client "
                         "disconnected before seal): this buffer no longer holds it; "
                         "create the object again", o->name);
    if (o->state == RES_OPEN && res_foreign(o))
        return -1;
    int readonly = o->state != RES_OPEN;
    if (readonly && (flags & PyBUF_WRITABLE) == PyBUF_WRITABLE) {
        PyErr_Format(PyExc_BufferError,
                     "the object '%U' is sealed: its buffer is read-only now "
                     "(sealed objects are immutable)", o->name);
        return -1;
    }
    if (PyBuffer_FillInfo(view, (PyObject *)o, o->size ? (void *)o->data : (void *)"",
                          o->size, readonly, flags) < 0)
        return -1;
    o->exports++;
    return 0;
}

static void Reservation_releasebuffer(ReservationObject *o, Py_buffer *Py_UNUSED(view))
{
    if (--o->exports == 0 && o->state == RES_ABORTING)
        res_do_abort(o); /* the deferred abort: no buffer can reach the bytes now */
}

/* seal() -> version: publishes and pins the value. */
static PyObject *Reservation_seal(ReservationObject *o, PyObject *Py_UNUSED(a))
{
    if (o->state != RES_OPEN) {
        res_error(o, BRAIN_EINVAL, "cannot seal '%U': the reservation is %s",
                  o->name, res_state_name(o));
        return NULL;
    }
    StoreObject *s = o->store;
    brain *b = store_handle(s);
    if (!b)
        return NULL;
    brain_reservation *r = o->res;
    brain_view v;
    uint64_t version = 0;
    int rc;
    o->state = RES_BUSY; /* another thread's seal or abort meanwhile is refused */
    NOGIL(s, rc = brain_publish_view(b, r, &version, &v));
    if (rc) {
        o->state = RES_OPEN; /* still ours (libbrain leaves it on failure) */
        if (rc == BRAIN_ESTALE)
            return res_foreign(o) ? NULL : fail(s, rc);
        return fail(s, rc);
    }
    o->res = NULL;
    o->view = v;
    o->version = version;
    o->state = RES_SEALED;
    return PyLong_FromUnsignedLongLong(version);
}

/* abort() -> True when the space was given back now, False when it will be
 * at the release of the last exported buffer. */
static PyObject *Reservation_abort(ReservationObject *o, PyObject *Py_UNUSED(a))
{
    if (o->state == RES_ABORTED || o->state == RES_ABORTING)
        return PyBool_FromLong(o->state == RES_ABORTED);
    if (o->state != RES_OPEN) {
        res_error(o, BRAIN_EINVAL, "cannot abort '%U': the reservation is %s",
                  o->name, res_state_name(o));
        return NULL;
    }
    if (o->exports > 0) {
        o->state = RES_ABORTING;
        Py_RETURN_FALSE;
    }
    res_do_abort(o);
    Py_RETURN_TRUE;
}

static PyObject *Reservation_to_pybytes(ReservationObject *o, PyObject *Py_UNUSED(a))
{
    Py_buffer view;
    if (Reservation_getbuffer(o, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    PyObject *out = PyBytes_FromStringAndSize(view.buf, view.len);
    PyBuffer_Release(&view);
    return out;
}

static Py_ssize_t Reservation_len(ReservationObject *o)
{
    return o->size;
}

static PyObject *Reservation_getitem(ReservationObject *o, PyObject *key)
{
    PyObject *mv = PyMemoryView_FromObject((PyObject *)o);
    if (!mv)
        return NULL;
    PyObject *r = PyObject_GetItem(mv, key);
    Py_DECREF(mv);
    return r;
}

static int Reservation_setitem(ReservationObject *o, PyObject *key, PyObject *value)
{
    if (!value) {
        PyErr_SetString(PyExc_TypeError, "cannot delete bytes of a reservation");
        return -1;
    }
    if (o->state == RES_SEALED || o->state == RES_BUSY)
        return res_error(o, BRAIN_EINVAL,
                         "the object '%U' is sealed: it can no longer be written "
                         "(sealed objects are immutable; create a new object)", o->name);
    PyObject *mv = PyMemoryView_FromObject((PyObject *)o);
    if (!mv)
        return -1;
    int r = PyObject_SetItem(mv, key, value);
    PyObject *et, *ev, *tb;
    PyErr_Fetch(&et, &ev, &tb); /* the write's error, kept for the caller */
    PyObject *rel = PyObject_CallMethod(mv, "release", NULL);
    Py_XDECREF(rel);
    if (!rel)
        PyErr_Clear();
    PyErr_Restore(et, ev, tb);
    Py_DECREF(mv);
    return r;
}

static PyObject *Reservation_get_size(ReservationObject *o, void *Py_UNUSED(c))
{
    return PyLong_FromSsize_t(o->size);
}

static PyObject *Reservation_get_state(ReservationObject *o, void *Py_UNUSED(c))
{
    return PyUnicode_FromString(res_state_name(o));
}

static PyObject *Reservation_get_exports(ReservationObject *o, void *Py_UNUSED(c))
{
    return PyLong_FromSsize_t(o->exports);
}

static PyObject *Reservation_get_version(ReservationObject *o, void *Py_UNUSED(c))
{
    return PyLong_FromUnsignedLongLong(o->version);
}

static PyObject *Reservation_get_is_mutable(ReservationObject *o, void *Py_UNUSED(c))
{
    return PyBool_FromLong(o->state == RES_OPEN);
}

static PyObject *Reservation_get_address(ReservationObject *o, void *Py_UNUSED(c))
{
    return PyLong_FromVoidPtr(o->data);
}

static PyObject *Reservation_repr(ReservationObject *o)
{
    return PyUnicode_FromFormat("<brain_plasma._core.Reservation %R %zd bytes %s>", o->name,
                                o->size, res_state_name(o));
}

static PyMethodDef Reservation_methods[] = {
    {"seal", (PyCFunction)Reservation_seal, METH_NOARGS,
     "seal()\n--\n\nPublishes the value (pinned while this object lives); returns its version."},
    {"abort", (PyCFunction)Reservation_abort, METH_NOARGS,
     "abort()\n--\n\nGives the space back (True), or at the release of the last "
     "exported buffer (False)."},
    {"to_pybytes", (PyCFunction)Reservation_to_pybytes, METH_NOARGS,
     "to_pybytes()\n--\n\nA copy of the bytes."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Reservation_getset[] = {
    {"size", (getter)Reservation_get_size, NULL, "Bytes reserved.", NULL},
    {"state", (getter)Reservation_get_state, NULL,
     "'open', 'sealed', 'aborting' (buffers alive) or 'aborted'.", NULL},
    {"exports", (getter)Reservation_get_exports, NULL, "Buffers exported and alive.", NULL},
    {"version", (getter)Reservation_get_version, NULL, "The version sealed (0 before).", NULL},
    {"is_mutable", (getter)Reservation_get_is_mutable, NULL, "True until sealed.", NULL},
    {"address", (getter)Reservation_get_address, NULL, "Address of the first byte.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot Reservation_slots[] = {
    {Py_tp_doc, "Room for a value in the store, written in place, then sealed "
                "(published and pinned) or aborted.  Writable buffer protocol "
                "until seal."},
    {Py_tp_new, Reservation_new},
    {Py_tp_dealloc, Reservation_dealloc},
    {Py_tp_traverse, Reservation_traverse},
    {Py_tp_methods, Reservation_methods},
    {Py_tp_getset, Reservation_getset},
    {Py_tp_repr, Reservation_repr},
    {Py_bf_getbuffer, Reservation_getbuffer},
    {Py_bf_releasebuffer, Reservation_releasebuffer},
    {Py_sq_length, Reservation_len},
    {Py_mp_length, Reservation_len},
    {Py_mp_subscript, Reservation_getitem},
    {Py_mp_ass_subscript, Reservation_setitem},
    {0, NULL},
};

static PyType_Spec Reservation_spec = {
    .name = "brain_plasma._core.Reservation",
    .basicsize = sizeof(ReservationObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = Reservation_slots,
};

/* ---- module functions --------------------------------------------------- */

static PyObject *mod_raise(PyObject *m, int rc)
{
    return raise_status(get_state(m), rc);
}

static PyObject *mod_resolve(PyObject *m, PyObject *arg)
{
    const char *store;
    if (!req_utf8(arg, &store))
        return NULL;
    char buf[BRAIN_PATH_MAX + 1];
    int rc = brain_resolve(store, buf, sizeof buf);
    if (rc)
        return mod_raise(m, rc);
    return PyUnicode_FromString(buf);
}

static PyObject *mod_destroy(PyObject *m, PyObject *arg)
{
    const char *store;
    if (!req_utf8(arg, &store))
        return NULL;
    int rc = brain_destroy(store);
    if (rc)
        return mod_raise(m, rc);
    Py_RETURN_NONE;
}

/* array_parse(buffer) -> (dtype, shape, data_offset, nbytes) */
static PyObject *mod_array_parse(PyObject *m, PyObject *arg)
{
    Py_buffer b;
    if (PyObject_GetBuffer(arg, &b, PyBUF_SIMPLE) < 0)
        return NULL;
    brain_array a;
    int rc = brain_array_parse(b.buf, (size_t)b.len, &a);
    PyBuffer_Release(&b);
    if (rc)
        return mod_raise(m, rc);
    PyObject *shape = PyTuple_New(a.ndim);
    for (uint32_t i = 0; shape && i < a.ndim; i++) {
        PyObject *d = PyLong_FromUnsignedLongLong(a.shape[i]);
        if (!d) {
            Py_CLEAR(shape);
            break;
        }
        PyTuple_SET_ITEM(shape, i, d);
    }
    if (!shape)
        return NULL;
    return Py_BuildValue("(sNKK)", a.dtype, shape, (unsigned long long)a.data_offset,
                         (unsigned long long)a.nbytes);
}

/* pickle_parse(buffer) -> ((stream_off, stream_len), [(off, len), ...]) */
static PyObject *mod_pickle_parse(PyObject *m, PyObject *arg)
{
    Py_buffer b;
    if (PyObject_GetBuffer(arg, &b, PyBUF_SIMPLE) < 0)
        return NULL;
    brain_pickle p;
    int rc = brain_pickle_parse(b.buf, (size_t)b.len, &p);
    if (rc) {
        PyBuffer_Release(&b);
        return mod_raise(m, rc);
    }
    PyObject *bufs = PyList_New(p.nbufs);
    for (uint32_t i = 0; bufs && i < p.nbufs; i++) {
        PyObject *t = Py_BuildValue("(KK)", (unsigned long long)p.buf_offsets[i],
                                    (unsigned long long)p.buf_lens[i]);
        if (!t) {
            Py_CLEAR(bufs);
            break;
        }
        PyList_SET_ITEM(bufs, i, t);
    }
    PyBuffer_Release(&b);
    if (!bufs)
        return NULL;
    return Py_BuildValue("((KK)N)", (unsigned long long)p.stream_offset,
                         (unsigned long long)p.stream_len, bufs);
}

/* pickle_pack(stream, buffers, hint=None) -> bytes: the layout put_pickle writes. */
static PyObject *mod_pickle_pack(PyObject *m, PyObject *args)
{
    Py_buffer stream;
    PyObject *bufseq, *hinto = Py_None;
    const char *hint = NULL;
    if (!PyArg_ParseTuple(args, "y*O|O:pickle_pack", &stream, &bufseq, &hinto))
        return NULL;
    PyObject *out = NULL;
    Py_buffer *bufs = NULL;
    uint64_t *lens = NULL, *offs = NULL, total = 0;
    Py_ssize_t n = -1;
    if (!opt_utf8(hinto, &hint))
        goto done;
    size_t hint_len = hint ? strlen(hint) : 0;
    n = get_buffers(bufseq, &bufs);
    if (n < 0)
        goto done;
    int rc = pickle_plan(&stream, bufs, n, hint_len, &lens, &offs, &total);
    if (rc) {
        mod_raise(m, rc);
        goto done;
    }
    out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)total);
    if (!out)
        goto done;
    memset(PyBytes_AS_STRING(out), 0, (size_t)total);
    rc = pickle_fill(PyBytes_AS_STRING(out), total, &stream, bufs, (uint32_t)n,
                     lens, offs, hint, hint_len);
    if (rc) {
        Py_CLEAR(out);
        mod_raise(m, rc);
    }
done:
    free(lens);
    free(offs);
    if (n >= 0)
        release_buffers(bufs, n);
    PyBuffer_Release(&stream);
    return out;
}

/* array_pack(dtype, shape, data) -> bytes: the layout put_array writes. */
static PyObject *mod_array_pack(PyObject *m, PyObject *args)
{
    const char *dtype;
    PyObject *shapeo;
    Py_buffer data;
    if (!PyArg_ParseTuple(args, "sOy*:array_pack", &dtype, &shapeo, &data))
        return NULL;
    PyObject *out = NULL;
    uint64_t shape[BRAIN_ARRAY_MAX_DIMS];
    brain_array a;
    int rc, nd = parse_shape(shapeo, shape);
    if (nd < 0)
        goto done;
    if ((rc = brain_array_init(&a, dtype, (uint32_t)nd, shape))) {
        mod_raise(m, rc);
        goto done;
    }
    if ((uint64_t)data.len != a.nbytes) {
        PyErr_Format(PyExc_ValueError,
                     "array data has %zd bytes; dtype %s and the shape need %llu",
                     data.len, dtype, (unsigned long long)a.nbytes);
        goto done;
    }
    out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(a.data_offset + a.nbytes));
    if (!out)
        goto done;
    if ((rc = brain_array_write_header(&a, PyBytes_AS_STRING(out), (size_t)a.data_offset))) {
        Py_CLEAR(out);
        mod_raise(m, rc);
        goto done;
    }
    memcpy(PyBytes_AS_STRING(out) + a.data_offset, data.buf, (size_t)a.nbytes);
done:
    PyBuffer_Release(&data);
    return out;
}

static PyObject *mod_parse_size(PyObject *m, PyObject *arg)
{
    const char *text;
    if (!req_utf8(arg, &text))
        return NULL;
    uint64_t v;
    int rc = brain_parse_size(text, &v);
    if (rc)
        return mod_raise(m, rc);
    return PyLong_FromUnsignedLongLong(v);
}

static PyObject *mod_format_size(PyObject *Py_UNUSED(m), PyObject *args)
{
    unsigned long long bytes;
    int binary = 0;
    if (!PyArg_ParseTuple(args, "K|p:format_size", &bytes, &binary))
        return NULL;
    char buf[64];
    return PyUnicode_FromString(brain_format_size(bytes, binary, buf, sizeof buf));
}

static PyObject *mod_strerror(PyObject *Py_UNUSED(m), PyObject *arg)
{
    long c = PyLong_AsLong(arg);
    if (c == -1 && PyErr_Occurred())
        return NULL;
    return PyUnicode_FromString(brain_strerror((int)c));
}

static PyObject *mod_type_name(PyObject *Py_UNUSED(m), PyObject *arg)
{
    unsigned long c = PyLong_AsUnsignedLong(arg);
    if (c == (unsigned long)-1 && PyErr_Occurred())
        return NULL;
    return PyUnicode_FromString(brain_type_name((uint32_t)c));
}

/* check_name(name) -> name, or the error every Store call gives for it. */
static PyObject *mod_check_name(PyObject *m, PyObject *arg)
{
    const char *u;
    if (!key_utf8(get_state(m)->store_type, arg, 0, 0, &u))
        return NULL;
    return Py_NewRef(arg);
}

/* check_namespace(ns) -> ns, or the error every Store call gives for it. */
static PyObject *mod_check_namespace(PyObject *m, PyObject *arg)
{
    const char *u;
    if (!key_utf8(get_state(m)->store_type, arg, 1, 0, &u))
        return NULL;
    return Py_NewRef(arg);
}

/* _set_exceptions({code: class}): the Python layer's exception tree. */
static PyObject *mod_set_exceptions(PyObject *m, PyObject *arg)
{
    if (!PyDict_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "_set_exceptions takes a dict");
        return NULL;
    }
    core_state *st = get_state(m);
    PyObject *copy = PyDict_Copy(arg);
    if (!copy)
        return NULL;
    Py_XSETREF(st->errmap, copy);
    Py_RETURN_NONE;
}

static PyMethodDef mod_methods[] = {
    {"resolve", mod_resolve, METH_O, "resolve(store)\n--\n\nThe file path of a store name."},
    {"destroy", mod_destroy, METH_O, "destroy(store)\n--\n\nRemoves a store's file."},
    {"array_parse", mod_array_parse, METH_O,
     "array_parse(buffer)\n--\n\n(dtype, shape, data_offset, nbytes) of an array value."},
    {"pickle_parse", mod_pickle_parse, METH_O,
     "pickle_parse(buffer)\n--\n\n((offset, length) of the stream, [(offset, length) "
     "of each buffer]) of a pickle value."},
    {"pickle_pack", mod_pickle_pack, METH_VARARGS,
     "pickle_pack(stream, buffers, hint=None)\n--\n\nThe pickle value layout as bytes."},
    {"array_pack", mod_array_pack, METH_VARARGS,
     "array_pack(dtype, shape, data)\n--\n\nThe array value layout as bytes."},
    {"strings_pack", strcol_pack, METH_VARARGS,
     "strings_pack(array, max_others, presize=-1)\n--\n\n(table, data, codes, code_width, others) "
     "of a 1-d object array, or None when it holds more than max_others "
     "distinct objects that are not str (see _strcol.c)."},
    {"strings_unpack", strcol_unpack, METH_VARARGS,
     "strings_unpack(out, table, data, codes, code_width, others)\n--\n\n"
     "Fills the object array OUT from a strings_pack result."},
    {"strings_rebuild", strcol_rebuild, METH_VARARGS,
     "strings_rebuild(n, table, data, codes, code_width, others)\n--\n\n"
     "The N elements of a strings_pack result in slots of their own, for "
     "numpy.ndarray(n, object, buffer=...)."},
    {"parse_size", mod_parse_size, METH_O, "parse_size(text)\n--\n\n'50MB' -> 50000000."},
    {"format_size", mod_format_size, METH_VARARGS,
     "format_size(bytes, binary=False)\n--\n\n50000000 -> '50.0 MB'."},
    {"strerror", mod_strerror, METH_O, "strerror(code)\n--\n\nThe message of a status code."},
    {"type_name", mod_type_name, METH_O, "type_name(tag)\n--\n\nThe name of a type tag."},
    {"check_name", mod_check_name, METH_O,
     "check_name(name)\n--\n\nNAME when libbrain takes it as a name, else the error "
     "(BrainNameTypeError, BrainNameLengthError, BrainNameError) a Store call raises."},
    {"check_namespace", mod_check_namespace, METH_O,
     "check_namespace(ns)\n--\n\nNS when libbrain takes it as a namespace, else the "
     "BrainNamespaceNameError a Store call raises."},
    {"_set_exceptions", mod_set_exceptions, METH_O,
     "_set_exceptions(mapping)\n--\n\nRegisters {code: exception class}."},
    {NULL, NULL, 0, NULL},
};

static int mod_exec(PyObject *m)
{
    core_state *st = get_state(m);
    st->store_type = (PyTypeObject *)PyType_FromModuleAndSpec(m, &Store_spec, NULL);
    if (!st->store_type || PyModule_AddType(m, st->store_type) < 0)
        return -1;
    st->view_type = (PyTypeObject *)PyType_FromModuleAndSpec(m, &View_spec, NULL);
    if (!st->view_type || PyModule_AddType(m, st->view_type) < 0)
        return -1;
    PyObject *res_type = PyType_FromModuleAndSpec(m, &Reservation_spec, NULL);
    int res_added = res_type ? PyModule_AddType(m, (PyTypeObject *)res_type) : -1;
    Py_XDECREF(res_type); /* the module's attribute holds it */
    if (res_added < 0)
        return -1;
    st->error = PyErr_NewExceptionWithDoc("brain_plasma._core.Error",
                                          "A libbrain failure; .code is the BRAIN_E* status.",
                                          NULL, NULL);
    if (!st->error || PyModule_AddObjectRef(m, "Error", st->error) < 0)
        return -1;
    st->errmap = PyDict_New();
    if (!st->errmap)
        return -1;
#define XX(code, val, msg) \
    if (PyModule_AddIntConstant(m, #code, val) < 0) return -1;
    BRAIN_ERRNO_MAP(XX)
#undef XX
#define I(name, v) if (PyModule_AddIntConstant(m, name, v) < 0) return -1;
    I("TYPE_BYTES", BRAIN_TYPE_BYTES) I("TYPE_STR", BRAIN_TYPE_STR)
    I("TYPE_ARRAY", BRAIN_TYPE_ARRAY) I("TYPE_PICKLE", BRAIN_TYPE_PICKLE)
    I("TYPE_JSON", BRAIN_TYPE_JSON) I("TYPE_USER", BRAIN_TYPE_USER)
    I("NS_MAX", BRAIN_NS_MAX) I("NAME_MAX", BRAIN_NAME_MAX)
    I("DESC_MAX", BRAIN_DESC_MAX) I("OBJECT_ID_SIZE", BRAIN_OBJECT_ID_SIZE)
    I("ALIGN", BRAIN_ALIGN) I("ARRAY_MAX_DIMS", BRAIN_ARRAY_MAX_DIMS)
    I("PINS_PER_PROC", BRAIN_PINS_PER_PROC)
#undef I
    if (PyModule_AddIntConstant(m, "ECLOSED", CORE_ECLOSED) < 0 ||
        PyModule_AddIntConstant(m, "ENAMETYPE", CORE_ENAMETYPE) < 0 ||
        PyModule_AddIntConstant(m, "ENAMELENGTH", CORE_ENAMELENGTH) < 0 ||
        PyModule_AddIntConstant(m, "TYPE_PICKLE_STREAM", CORE_PICKLE_STREAM) < 0)
        return -1;
    if (PyModule_AddObject(m, "MIN_CAPACITY",
                           PyLong_FromUnsignedLongLong(BRAIN_MIN_CAPACITY)) < 0 ||
        PyModule_AddObject(m, "MAX_CAPACITY",
                           PyLong_FromUnsignedLongLong(BRAIN_MAX_CAPACITY)) < 0 ||
        PyModule_AddObject(m, "DEFAULT_CAPACITY",
                           PyLong_FromUnsignedLongLong(BRAIN_DEFAULT_CAPACITY)) < 0 ||
        PyModule_AddStringConstant(m, "LIB_VERSION", BRAIN_VERSION_STRING) < 0 ||
        PyModule_AddStringConstant(m, "PLATFORM", brain_platform()) < 0)
        return -1;
    return 0;
}

static int mod_traverse(PyObject *m, visitproc visit, void *arg)
{
    core_state *st = get_state(m);
    Py_VISIT(st->store_type);
    Py_VISIT(st->view_type);
    Py_VISIT(st->error);
    Py_VISIT(st->errmap);
    return 0;
}

static int mod_clear(PyObject *m)
{
    core_state *st = get_state(m);
    Py_CLEAR(st->store_type);
    Py_CLEAR(st->view_type);
    Py_CLEAR(st->error);
    Py_CLEAR(st->errmap);
    return 0;
}

static void mod_free(void *m)
{
    mod_clear((PyObject *)m);
}

static PyModuleDef_Slot mod_slots[] = {
    {Py_mod_exec, mod_exec},
    {0, NULL},
};

static struct PyModuleDef core_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "brain_plasma._core",
    .m_doc = "The C core of brain_plasma: libbrain's store, views and layouts.",
    .m_size = sizeof(core_state),
    .m_methods = mod_methods,
    .m_slots = mod_slots,
    .m_traverse = mod_traverse,
    .m_clear = mod_clear,
    .m_free = mod_free,
};

PyMODINIT_FUNC PyInit__core(void);
PyMODINIT_FUNC PyInit__core(void)
{
    return PyModuleDef_Init(&core_module);
}

/*
 * _strcol.c - object arrays of str, packed for the store and rebuilt.
 *
 * Why: pickle writes an object ndarray (a pandas column of str) element by
 * element, and unpickling it decodes each str from UTF-8, memoizes it,
 * appends it to a list, and NumPy then copies the list into the array: about
 * 100 ns an element.  Here the array is packed instead into three flat
 * buffers that travel out of band in the pickle-5 value (so they sit in the
 * store, zero-copy), and rebuilt with one C loop:
 *
 *   table  int64 pairs, one per distinct element in first-seen order:
 *          (byte offset into data, length << 3 | kind).  kind is the str's
 *          code unit width (1 = Latin-1, 2 = UCS-2, 4 = UCS-4), or 0 for an
 *          element that is not an exact str (None, NaN, pd.NA, a str
 *          subclass, ...): its "length" is then its index in OTHERS, a tuple
 *          that pickle carries in-band like any other object.
 *   data   each distinct str's code units at its own width, aligned to that
 *          width.  This is the str's own canonical storage (PEP 393), so
 *          packing is a memcpy and rebuilding needs no UTF-8 decoding; lone
 *          surrogates and non-BMP characters need no special case.
 *   codes  one unsigned integer per element, the number of its table
 *          entry, as narrow as the table's length allows (1, 2, 4 or 8
 *          bytes: the code width); none at all (width 0) when every
 *          element is its own entry, in order.
 *
 * "Distinct" is first by identity, as in pickle's memo: elements that are
 * one object before come back as one object after, and a column holding a
 * few values many times (read_csv shares them) rebuilds each value once
 * and then only stores references.  Then equal str held as different
 * objects are merged too (merge_equal), when the first distinct objects
 * show that values repeat.
 *
 * Both functions run with the GIL held: they create or inspect Python
 * objects throughout, and hold no other lock.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "_strcol.h"

#define KIND_OTHER 0
#define KIND_SHIFT 3
#define PREFETCH 16 /* elements ahead whose slot is prefetched */
#define MERGE_SAMPLE 4096 /* str compared by value before giving up on merging */
#define MAP_PRESIZE ((size_t)1 << 22) /* keys the map starts sized for (128 MiB) */

/* ---- an identity map: object pointer -> index of its first occurrence ---- */

typedef struct {
    PyObject *key;
    uint64_t val;
} slot;

typedef struct {
    slot *slots;
    size_t mask; /* capacity - 1, capacity a power of two */
    size_t used;
} idmap;

static size_t ptr_hash(const PyObject *p)
{
    uint64_t x = (uint64_t)(uintptr_t)p >> 4; /* objects are 16-byte aligned */
    x *= 0x9E3779B97F4A7C15ull;
    return (size_t)(x ^ (x >> 29));
}

static int idmap_init(idmap *m, size_t want)
{
    size_t cap = 64;
    while (cap < want * 2)
        cap <<= 1;
    m->slots = PyMem_Calloc(cap, sizeof(slot));
    if (!m->slots) {
        PyErr_NoMemory();
        return -1;
    }
    m->mask = cap - 1;
    m->used = 0;
    return 0;
}

static int idmap_grow(idmap *m)
{
    size_t cap = (m->mask + 1) * 2;
    slot *ns = PyMem_Calloc(cap, sizeof(slot));
    if (!ns) {
        PyErr_NoMemory();
        return -1;
    }
    for (size_t i = 0; i <= m->mask; i++) {
        if (!m->slots[i].key)
            continue;
        size_t j = ptr_hash(m->slots[i].key) & (cap - 1);
        while (ns[j].key)
            j = (j + 1) & (cap - 1);
        ns[j] = m->slots[i];
    }
    PyMem_Free(m->slots);
    m->slots = ns;
    m->mask = cap - 1;
    return 0;
}

/* The index of KEY, inserting NEXT for a new key (*isnew set).  -1 on
 * memory error. */
static int idmap_get(idmap *m, PyObject *key, uint64_t next, uint64_t *val,
                     int *isnew)
{
    size_t j = ptr_hash(key) & m->mask;
    while (m->slots[j].key) {
        if (m->slots[j].key == key) {
            *val = m->slots[j].val;
            *isnew = 0;
            return 0;
        }
        j = (j + 1) & m->mask;
    }
    m->slots[j].key = key;
    m->slots[j].val = next;
    *val = next;
    *isnew = 1;
    if (++m->used * 2 > m->mask + 1)
        return idmap_grow(m);
    return 0;
}

/* ---- helpers --------------------------------------------------------------- */

/* A C-contiguous buffer of object pointers (an object ndarray).  The
 * buffer protocol is enough: NumPy exports object arrays with format "O". */
static int get_object_buffer(PyObject *arr, Py_buffer *b, int writable)
{
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(arr, b, flags) < 0)
        return -1;
    if (!b->format || strcmp(b->format, "O") != 0 ||
        b->itemsize != (Py_ssize_t)sizeof(PyObject *)) {
        PyErr_Format(PyExc_TypeError,
                     "expected an object ndarray (buffer format 'O'), got format '%s'",
                     b->format ? b->format : "B");
        PyBuffer_Release(b);
        return -1;
    }
    return 0;
}

static int unit_of(PyObject *s)
{
    switch (PyUnicode_KIND(s)) {
    case PyUnicode_1BYTE_KIND: return 1;
    case PyUnicode_2BYTE_KIND: return 2;
    default: return 4;
    }
}

static uint64_t align_to(uint64_t off, unsigned unit)
{
    return (off + unit - 1) & ~(uint64_t)(unit - 1);
}

/* ---- equal str held as distinct objects ----------------------------------- */

/* A column read from SQL or JSON, or made by .str methods or apply, holds
 * one object per row even where the values repeat.  Storing each value
 * once makes recall build one str per value instead of one per row (a
 * column of 50 cities over 1M rows: about 1 ms instead of 30).  Recall
 * then gives equal str as one object, as interning would: the frame is
 * equal in every value, type and dtype; only `is` between equal str of
 * different rows can differ, which no pandas operation observes. */

typedef struct {
    Py_hash_t hash;
    size_t idx; /* + 1; 0 = empty */
} vslot;

static int same_str(PyObject *a, PyObject *b)
{
    Py_ssize_t len = PyUnicode_GET_LENGTH(a);
    return len == PyUnicode_GET_LENGTH(b) && PyUnicode_KIND(a) == PyUnicode_KIND(b) &&
           memcmp(PyUnicode_DATA(a), PyUnicode_DATA(b), (size_t)len * PyUnicode_KIND(a)) == 0;
}

/* The hash of an exact str (made ready first on Pythons with legacy
 * strings); cached in the str after the first time. */
static Py_hash_t str_hash(PyObject *o)
{
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(o) < 0)
        return -1;
#endif
    return PyObject_Hash(o);
}

/* One merging pass over UNIQ[0, n): fills CANON, REMAP and *nc.  Returns
 * 1 when two str were equal, 0 when none were, -1 on failure. */
static int merge_run(PyObject **uniq, size_t n, PyObject **canon,
                     uint64_t *remap, size_t *ncanon)
{
    size_t cap = 64;
    while (cap < n * 2)
        cap <<= 1;
    vslot *t = PyMem_Calloc(cap, sizeof(vslot));
    if (!t) {
        PyErr_NoMemory();
        return -1;
    }
    size_t nc = 0;
    int merged_any = 0;
    for (size_t u = 0; u < n; u++) {
        PyObject *o = uniq[u];
        if (!PyUnicode_CheckExact(o)) {
            remap[u] = nc;
            canon[nc++] = o;
            continue;
        }
        /* a large table misses the caches: prefetch a slot a little ahead */
        if (u + PREFETCH < n && PyUnicode_CheckExact(uniq[u + PREFETCH])) {
            Py_hash_t ha = str_hash(uniq[u + PREFETCH]);
            if (ha == -1 && PyErr_Occurred())
                goto fail;
            __builtin_prefetch(&t[(size_t)ha & (cap - 1)]);
        }
        Py_hash_t h = str_hash(o);
        if (h == -1 && PyErr_Occurred())
            goto fail;
        size_t j = (size_t)h & (cap - 1);
        for (;;) {
            if (!t[j].idx) {
                t[j].hash = h;
                t[j].idx = nc + 1;
                remap[u] = nc;
                canon[nc++] = o;
                break;
            }
            if (t[j].hash == h && same_str(canon[t[j].idx - 1], o)) {
                remap[u] = t[j].idx - 1;
                merged_any = 1;
                break;
            }
            j = (j + 1) & (cap - 1);
        }
    }
    PyMem_Free(t);
    *ncanon = nc;
    return merged_any;
fail:
    PyMem_Free(t);
    return -1;
}

/* Maps each of the NUNIQ distinct objects UNIQ to the index of the first
 * equal one among *CANON (exact str compared by value, anything else by
 * identity), both in first-seen order: *canon and *remap (nuniq entries)
 * are allocated here (PyMem), *ncanon gets CANON's length.  When the first
 * MERGE_SAMPLE objects hold no two equal str, the rest are not compared (a
 * column of names or ids: hashing it all would double the time to pack
 * it, for nothing) and *canon and *remap are NULL: UNIQ is the answer.
 * -1 with an exception on failure. */
static int merge_equal(PyObject **uniq, size_t nuniq, PyObject ***canon,
                       size_t *ncanon, uint64_t **remap)
{
    size_t n = nuniq < MERGE_SAMPLE ? nuniq : MERGE_SAMPLE;
    int rc = 0;
    for (int pass = 0; pass < 2; pass++) {
        *canon = PyMem_Malloc((n ? n : 1) * sizeof(PyObject *));
        *remap = PyMem_Malloc((n ? n : 1) * sizeof(uint64_t));
        if (!*canon || !*remap) {
            PyErr_NoMemory();
            rc = -1;
        } else {
            rc = merge_run(uniq, n, *canon, *remap, ncanon);
        }
        if (rc < 0 || n == nuniq)
            break;
        PyMem_Free(*canon);
        PyMem_Free(*remap);
        *canon = NULL;
        *remap = NULL;
        if (rc == 0) { /* no repeats among the first: keep UNIQ as it is */
            *ncanon = nuniq;
            return 0;
        }
        n = nuniq; /* repeats: merge all, with a table sized for all */
    }
    if (rc < 0) {
        PyMem_Free(*canon);
        PyMem_Free(*remap);
        *canon = NULL;
        *remap = NULL;
        return -1;
    }
    return 0;
}

/* ---- codes ------------------------------------------------------------------ */

static uint64_t code_at(const void *codes, int width, Py_ssize_t i)
{
    switch (width) {
    case 0: return (uint64_t)i;
    case 1: return ((const uint8_t *)codes)[i];
    case 2: return ((const uint16_t *)codes)[i];
    case 4: return ((const uint32_t *)codes)[i];
    default: return ((const uint64_t *)codes)[i];
    }
}

/* Replaces *CODES (N codes of WIDTH bytes, numbers below NENTRIES) with
 * the narrowest form: *out_width 0 (no codes: element i is entry i, which
 * is so whenever there are as many entries as elements, entries being
 * numbered in first-use order), 1, 2, 4 or 8. */
static int narrow_codes(PyObject **codes, Py_ssize_t n, int width, size_t nentries,
                        int *out_width)
{
    int w = (size_t)n == nentries ? 0
          : nentries <= 1u << 8 ? 1
          : nentries <= 1u << 16 ? 2
          : (uint64_t)nentries <= 1ull << 32 ? 4 : 8;
    if (w == width) {
        *out_width = w;
        return 0;
    }
    PyObject *nc = PyBytes_FromStringAndSize(NULL, n * w);
    if (!nc)
        return -1;
    char *src = PyBytes_AS_STRING(*codes), *dst = PyBytes_AS_STRING(nc);
    for (Py_ssize_t i = 0; w && i < n; i++) {
        uint64_t c = code_at(src, width, i);
        switch (w) {
        case 1: dst[i] = (char)(uint8_t)c; break;
        case 2: { uint16_t v = (uint16_t)c; memcpy(dst + 2 * i, &v, 2); } break;
        case 4: { uint32_t v = (uint32_t)c; memcpy(dst + 4 * i, &v, 4); } break;
        default: memcpy(dst + 8 * i, &c, 8);
        }
    }
    Py_SETREF(*codes, nc);
    *out_width = w;
    return 0;
}

/* ---- packing ------------------------------------------------------------- */

/* strings_pack(array, max_others[, presize]) -> (table, data, codes,
 * code_width, others) or None when the array holds more than MAX_OTHERS
 * distinct objects that are not exact str (pickle it as it is then).
 * ARRAY: a C-contiguous 1-d object ndarray.  PRESIZE (tests): size the
 * identity map for at most this many keys first. */
PyObject *strcol_pack(PyObject *Py_UNUSED(m), PyObject *args)
{
    PyObject *arr;
    Py_ssize_t max_others, presize = -1; /* presize: tests force regrowth */
    if (!PyArg_ParseTuple(args, "On|n:strings_pack", &arr, &max_others, &presize))
        return NULL;
    Py_buffer b;
    if (get_object_buffer(arr, &b, 0) < 0)
        return NULL;
    PyObject **items = (PyObject **)b.buf;
    Py_ssize_t n = b.len / (Py_ssize_t)sizeof(PyObject *);
    int width = (uint64_t)n <= UINT32_MAX ? 4 : 8;

    PyObject *result = NULL, *codes = NULL, *table = NULL, *data = NULL,
             *others = NULL;
    PyObject **uniq = NULL; /* the distinct elements, borrowed */
    PyObject **canon = NULL; /* the distinct values, borrowed from uniq;
                              * NULL: the same as uniq */
    uint64_t *remap = NULL;
    size_t nuniq = 0, cap = 0, ncanon = 0;
    Py_ssize_t nothers = 0;
    idmap map = {0};
    /* UNIQ borrows the array's references (a strong reference each would
     * cost a pass over a million objects to release, and would write to
     * every object: copy-on-write pages in a forked worker).  Nothing here runs
     * Python code and the GIL is held throughout, so only a garbage
     * collection, started by allocating the OTHERS tuple, could run a
     * finalizer that replaces elements of the array: none runs meanwhile. */
    int gc_was = PyGC_Disable();

    /* sized for every element distinct (up to MAP_PRESIZE): calloc'd pages
     * are only touched where a key lands, so a column of few values costs
     * little, and a column of distinct values rehashes seldom or never */
    codes = PyBytes_FromStringAndSize(NULL, n * width);
    size_t want = (size_t)n < MAP_PRESIZE ? (size_t)n : MAP_PRESIZE;
    if (presize >= 0 && (size_t)presize < want)
        want = (size_t)presize;
    if (!codes || idmap_init(&map, want) < 0)
        goto done;
    char *cp = PyBytes_AS_STRING(codes);
    PyObject *prev = NULL;
    uint64_t prevcode = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *o = items[i];
        /* the table is far larger than the caches for a long column: ask
         * for the slot of an element a little ahead while this one is
         * looked up (a hint only: the table may grow meanwhile) */
        if (i + PREFETCH < n)
            __builtin_prefetch(&map.slots[ptr_hash(items[i + PREFETCH]) & map.mask]);
        if (!o) { /* NumPy never leaves NULL in an array it made; be safe */
            PyErr_SetString(PyExc_ValueError, "object array holds a NULL element");
            goto done;
        }
        uint64_t code = prevcode;
        if (o != prev) {
            int isnew;
            if (idmap_get(&map, o, nuniq, &code, &isnew) < 0)
                goto done;
            if (isnew) {
                if (nuniq == cap) {
                    size_t ncap = cap ? cap * 2 : 256;
                    PyObject **nu = PyMem_Realloc(uniq, ncap * sizeof(PyObject *));
                    if (!nu) {
                        PyErr_NoMemory();
                        goto done;
                    }
                    uniq = nu;
                    cap = ncap;
                }
                uniq[nuniq++] = o; /* borrowed: see gc_was above */
                if (!PyUnicode_CheckExact(o) && ++nothers > max_others) {
                    result = Py_NewRef(Py_None);
                    goto done;
                }
            }
            prev = o;
            prevcode = code;
        }
        if (width == 4) {
            uint32_t c32 = (uint32_t)code;
            memcpy(cp + 4 * i, &c32, 4);
        } else {
            memcpy(cp + 8 * i, &code, 8);
        }
    }

    /* equal str stored once: CANON (borrowed from UNIQ) and the codes
     * renumbered, when any two distinct objects were equal */
    if (merge_equal(uniq, nuniq, &canon, &ncanon, &remap) < 0)
        goto done;
    PyObject **cv = canon ? canon : uniq;
    if (ncanon < nuniq) {
        for (Py_ssize_t i = 0; i < n; i++) {
            if (width == 4) {
                uint32_t c32;
                memcpy(&c32, cp + 4 * i, 4);
                c32 = (uint32_t)remap[c32];
                memcpy(cp + 4 * i, &c32, 4);
            } else {
                uint64_t c64;
                memcpy(&c64, cp + 8 * i, 8);
                c64 = remap[c64];
                memcpy(cp + 8 * i, &c64, 8);
            }
        }
    }

    if (narrow_codes(&codes, n, width, ncanon, &width) < 0)
        goto done;

    /* the table, and the size of data */
    table = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(ncanon * 16));
    others = PyTuple_New(nothers);
    if (!table || !others)
        goto done;
    uint64_t *tab = (uint64_t *)PyBytes_AS_STRING(table);
    uint64_t off = 0;
    Py_ssize_t oi = 0;
    for (size_t u = 0; u < ncanon; u++) {
        PyObject *o = cv[u];
        if (!PyUnicode_CheckExact(o)) {
            PyTuple_SET_ITEM(others, oi, Py_NewRef(o));
            tab[2 * u] = 0;
            tab[2 * u + 1] = ((uint64_t)oi++ << KIND_SHIFT) | KIND_OTHER;
            continue;
        }
#if PY_VERSION_HEX < 0x030C0000
        if (PyUnicode_READY(o) < 0)
            goto done;
#endif
        unsigned unit = (unsigned)unit_of(o);
        off = align_to(off, unit);
        uint64_t len = (uint64_t)PyUnicode_GET_LENGTH(o);
        tab[2 * u] = off;
        tab[2 * u + 1] = (len << KIND_SHIFT) | unit;
        off += len * unit;
    }
    if (off > (uint64_t)PY_SSIZE_T_MAX) {
        PyErr_SetString(PyExc_OverflowError, "strings too large to pack");
        goto done;
    }
    data = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)off);
    if (!data)
        goto done;
    char *dp = PyBytes_AS_STRING(data);
    memset(dp, 0, (size_t)off); /* alignment padding: no stray heap bytes */
    for (size_t u = 0; u < ncanon; u++) {
        unsigned unit = (unsigned)(tab[2 * u + 1] & ((1u << KIND_SHIFT) - 1));
        if (unit == KIND_OTHER)
            continue;
        uint64_t len = tab[2 * u + 1] >> KIND_SHIFT;
        memcpy(dp + tab[2 * u], PyUnicode_DATA(cv[u]), (size_t)(len * unit));
    }
    result = Py_BuildValue("(OOOiO)", table, data, codes, width, others);
done:
    PyMem_Free(map.slots);
    PyMem_Free(canon);
    PyMem_Free(remap);
    PyMem_Free(uniq);
    if (gc_was)
        PyGC_Enable();
    Py_XDECREF(codes);
    Py_XDECREF(table);
    Py_XDECREF(data);
    Py_XDECREF(others);
    PyBuffer_Release(&b);
    return result;
}

/* ---- rebuilding ------------------------------------------------------------ */

/* N references more (add_refs) or fewer (drop_refs) to O in one write.
 * The caller knows N references were stored or dropped; none of them can
 * be the last (drop_refs: the object stays referenced elsewhere, as None
 * always is).  Immortal objects (3.12+) ignore Py_SET_REFCNT; the
 * free-threaded build splits the count, so there each reference is taken
 * one at a time. */
static void add_refs(PyObject *o, Py_ssize_t n)
{
#ifdef Py_GIL_DISABLED
    for (Py_ssize_t i = 0; i < n; i++)
        Py_INCREF(o);
#else
    if (n)
        Py_SET_REFCNT(o, Py_REFCNT(o) + n);
#endif
}

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22 /* Linux 5.14 */
#endif

/* Maps in the pages of [P, P + LEN) with one system call where the kernel
 * can (Linux 5.14+), instead of a page fault per 4 KiB page as the loops
 * below first read them: in a process that just opened the store, the
 * codes of a 1M-row column are 1-4 MB of pages it never touched.  A hint
 * only: any failure (an older kernel, memory that is not a mapping) is
 * ignored and the pages fault in as they are read. */
static void populate(const void *p, Py_ssize_t len)
{
#if defined(__linux__)
    if (len < 65536)
        return;
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0)
        return;
    uintptr_t start = (uintptr_t)p & ~(uintptr_t)(page - 1);
    uintptr_t end = (uintptr_t)p + (uintptr_t)len;
    (void)madvise((void *)start, end - start, MADV_POPULATE_READ);
#else
    (void)p;
    (void)len;
#endif
}

/* Puts OUT's first N slots back to None (their references were not taken). */
static void unfill(PyObject **items, Py_ssize_t n)
{
    for (Py_ssize_t j = 0; j < n; j++)
        items[j] = Py_None;
}

static void drop_refs(PyObject *o, Py_ssize_t n)
{
#ifdef Py_GIL_DISABLED
    for (Py_ssize_t i = 0; i < n; i++)
        Py_DECREF(o);
#else
    if (n)
        Py_SET_REFCNT(o, Py_REFCNT(o) - n);
#endif
}

/* The distinct element U of a packed table, a new reference. */
static PyObject *build_one(const uint64_t *tab, size_t u, const Py_buffer *data,
                           PyObject *others)
{
    uint64_t off = tab[2 * u], meta = tab[2 * u + 1];
    unsigned unit = (unsigned)(meta & ((1u << KIND_SHIFT) - 1));
    uint64_t len = meta >> KIND_SHIFT;
    if (unit == KIND_OTHER) {
        if (len >= (uint64_t)PyTuple_GET_SIZE(others)) {
            PyErr_Format(PyExc_ValueError,
                         "packed strings: entry %zu refers to object %llu of %zd",
                         u, (unsigned long long)len, PyTuple_GET_SIZE(others));
            return NULL;
        }
        return Py_NewRef(PyTuple_GET_ITEM(others, (Py_ssize_t)len));
    }
    if (unit != 1 && unit != 2 && unit != 4) {
        PyErr_Format(PyExc_ValueError, "packed strings: entry %zu has unit %u", u, unit);
        return NULL;
    }
    const char *p = (const char *)data->buf + off;
    if (off > (uint64_t)data->len || len > ((uint64_t)data->len - off) / unit ||
        (uintptr_t)p % unit) {
        PyErr_Format(PyExc_ValueError,
                     "packed strings: entry %zu (offset %llu, %llu units of %u bytes) "
                     "lies outside the %zd data bytes or is misaligned",
                     u, (unsigned long long)off, (unsigned long long)len, unit,
                     data->len);
        return NULL;
    }
    int kind = unit == 1 ? PyUnicode_1BYTE_KIND
             : unit == 2 ? PyUnicode_2BYTE_KIND : PyUnicode_4BYTE_KIND;
    /* finds the narrowest representation itself, so a damaged value can
     * give a wrong string but never a malformed str object */
    return PyUnicode_FromKindAndData(kind, p, (Py_ssize_t)len);
}

/* The buffers of a packed column (TABLE of 16-byte records, DATA, CODES of
 * WIDTH bytes each), checked to describe N elements; -1 with an exception
 * set otherwise.  The caller releases whichever buffers were taken (their
 * .obj is NULL until then). */
static int packed_buffers(PyObject *tableo, PyObject *datao, PyObject *codeso, Py_ssize_t n,
                          int width, Py_buffer *table, Py_buffer *data, Py_buffer *codes)
{
    if (PyObject_GetBuffer(tableo, table, PyBUF_SIMPLE) < 0 ||
        PyObject_GetBuffer(datao, data, PyBUF_SIMPLE) < 0 ||
        PyObject_GetBuffer(codeso, codes, PyBUF_SIMPLE) < 0)
        return -1;
    if (table->len % 16 || (uintptr_t)table->buf % 8 || codes->len != n * width ||
        (width && (uintptr_t)codes->buf % (unsigned)width) ||
        (width == 0 && table->len / 16 != n)) {
        PyErr_Format(PyExc_ValueError,
                     "packed strings: a table of %zd bytes and %zd bytes of codes "
                     "do not describe %zd elements (or are misaligned)",
                     table->len, codes->len, n);
        return -1;
    }
    return 0;
}

/* Releases what packed_buffers took (a buffer not taken has no .obj). */
static void packed_release(Py_buffer *table, Py_buffer *data, Py_buffer *codes)
{
    if (codes->obj)
        PyBuffer_Release(codes);
    if (data->obj)
        PyBuffer_Release(data);
    if (table->obj)
        PyBuffer_Release(table);
}

/* strings_unpack(out, table, data, codes, code_width, others) -> None.
 * OUT: a fresh 1-d object ndarray (every element None) of as many elements
 * as CODES holds codes; fills it. */
PyObject *strcol_unpack(PyObject *Py_UNUSED(m), PyObject *args)
{
    PyObject *outo, *tableo, *datao, *codeso, *others;
    int width;
    if (!PyArg_ParseTuple(args, "OOOOiO!:strings_unpack", &outo, &tableo, &datao,
                          &codeso, &width, &PyTuple_Type, &others))
        return NULL;
    if (width != 0 && width != 1 && width != 2 && width != 4 && width != 8) {
        PyErr_Format(PyExc_ValueError, "packed strings: code width %d is not 0, 1, 2, 4 or 8",
                     width);
        return NULL;
    }
    Py_buffer out, table = {0}, data = {0}, codes = {0};
    if (get_object_buffer(outo, &out, 1) < 0)
        return NULL;
    PyObject *result = NULL, **uniq = NULL;
    Py_ssize_t *counts = NULL;
    size_t nuniq = 0, built = 0, given = 0; /* [0, given) now owned by OUT */
    Py_ssize_t n = out.len / (Py_ssize_t)sizeof(PyObject *);
    if (packed_buffers(tableo, datao, codeso, n, width, &table, &data, &codes) < 0)
        goto done;
    PyObject **items = out.buf;
    populate(table.buf, table.len);
    populate(data.buf, data.len);
    populate(codes.buf, codes.len);
    nuniq = (size_t)table.len / 16;
    if (nuniq) {
        uniq = PyMem_Malloc(nuniq * sizeof(PyObject *));
        if (!uniq) {
            PyErr_NoMemory();
            goto done;
        }
    }
    const uint64_t *tab = table.buf;
    for (; built < nuniq; built++) {
        uniq[built] = build_one(tab, built, &data, others);
        if (!uniq[built])
            goto done;
    }
    /* The fill writes pointers only; the references are counted and added
     * to each distinct str in one step afterwards.  A per-element INCREF
     * writes to the str object itself: for a column of 50,000 values over
     * 1M rows that is a cache miss per row (the objects are spread over
     * megabytes), and for a column of 4 values a chain of dependent writes
     * to 4 cache lines; counting into a small array costs neither.  The
     * None that np.empty put in each slot is released the same way.
     * A column of distinct elements (width 0) needs no counts: each
     * element takes over the reference built above.
     *
     * OUT must hold only None (a fresh np.empty(n, object)), checked as
     * it is filled: its n references to None are then dropped at once
     * and no finalizer can run meanwhile.  On any refusal, OUT is put back
     * to all None before a single reference changed. */
    if (width == 0) {
        for (Py_ssize_t i = 0; i < n; i++) {
            if (items[i] != Py_None) {
                unfill(items, i);
                goto not_fresh;
            }
            items[i] = uniq[i];
        }
        given = nuniq;
    } else {
        counts = PyMem_Calloc(nuniq ? nuniq : 1, sizeof(Py_ssize_t));
        if (!counts) {
            PyErr_NoMemory();
            goto done;
        }
        for (Py_ssize_t i = 0; i < n; i++) {
            uint64_t c = code_at(codes.buf, width, i);
            if (items[i] != Py_None) {
                unfill(items, i);
                goto not_fresh;
            }
            if (c >= nuniq) {
                unfill(items, i);
                PyErr_Format(PyExc_ValueError,
                             "packed strings: element %zd refers to entry %llu of %zu",
                             i, (unsigned long long)c, nuniq);
                goto done;
            }
            items[i] = uniq[c];
            counts[c]++;
        }
        for (size_t u = 0; u < nuniq; u++)
            add_refs(uniq[u], counts[u]);
        /* the references built above are released at done */
    }
    drop_refs(Py_None, n);
    result = Py_NewRef(Py_None);
    goto done;
not_fresh:
    PyErr_SetString(PyExc_ValueError,
                    "strings_unpack fills a fresh object array of None "
                    "(numpy.empty(n, dtype=object))");
done:
    for (size_t u = given; u < built; u++)
        Py_DECREF(uniq[u]);
    PyMem_Free(uniq);
    PyMem_Free(counts);
    packed_release(&table, &data, &codes);
    PyBuffer_Release(&out);
    return result;
}

/* ---- strings_rebuild: the cells of a new object array, filled once ------- *
 *
 * strings_unpack fills an array numpy.empty made: NumPy first writes None
 * into every slot (and counts a reference to None for each), then the loop
 * reads each slot back to check it and writes the element.  For a 1M-row
 * column in a process that just started that is 8 MB of fresh pages
 * written twice, and the pass over them was most of a frame's recall
 * (perf: PyArray_SetObjectsToNone and the checked fill).  Here the slots
 * are this object's own memory, zero pages straight from the kernel
 * (NULL, which NumPy reads as None), written once; NumPy wraps them
 * without a copy (numpy.ndarray(shape, object, buffer=cells)).
 *
 * The cells own one reference per slot, as an object array owning its
 * data does: NumPy, not owning them, never releases them, and its writes
 * into the array (a caller's copy=True frame is writable) swap references
 * slot by slot as for any object array.  The cells live as long as an
 * array over them (its base), and release whatever the slots hold then. */

typedef struct {
    PyObject_HEAD
    PyObject **items;
    Py_ssize_t n;
    size_t maplen; /* bytes mapped at items (mmap), 0: PyMem_Calloc */
    PyObject *others; /* the elements that are not str (a tuple) */
} cells_object;

#define CELLS_MAP_MIN ((size_t)1 << 21) /* from here on, whole pages of their own */
#define HUGE_PAGE ((size_t)1 << 21)

static void cells_dealloc(PyObject *o)
{
    cells_object *c = (cells_object *)o;
    Py_XDECREF(c->others);
    if (c->items) {
        for (Py_ssize_t i = 0; i < c->n; i++)
            Py_XDECREF(c->items[i]);
        if (c->maplen)
            munmap(c->items, c->maplen);
        else
            PyMem_Free(c->items);
    }
    Py_TYPE(o)->tp_free(o);
}

/* Exported as NumPy exports an object array: format "O", one item per
 * slot (a plain byte buffer to a consumer that asks for no format). */
static int cells_getbuffer(PyObject *o, Py_buffer *view, int flags)
{
    cells_object *c = (cells_object *)o;
    Py_ssize_t len = c->n * (Py_ssize_t)sizeof(PyObject *);
    if (!(flags & (PyBUF_FORMAT | PyBUF_ND)))
        return PyBuffer_FillInfo(view, o, c->items, len, 0, flags);
    view->obj = Py_NewRef(o);
    view->buf = c->items;
    view->len = len;
    view->readonly = 0;
    view->itemsize = (Py_ssize_t)sizeof(PyObject *);
    view->format = (flags & PyBUF_FORMAT) ? "O" : NULL;
    view->ndim = 1;
    view->shape = (flags & PyBUF_ND) ? &c->n : NULL;
    view->strides = (flags & PyBUF_STRIDES) == PyBUF_STRIDES ? &view->itemsize : NULL;
    view->suboffsets = NULL;
    view->internal = NULL;
    return 0;
}

static PyBufferProcs cells_as_buffer = {cells_getbuffer, NULL};

static PyMemberDef cells_members[] = {
    {"others", T_OBJECT, offsetof(cells_object, others), READONLY,
     "the distinct elements that are not str (the recall cache checks they are immutable)"},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject cells_type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "brain_plasma._core.StrCells",
    .tp_basicsize = sizeof(cells_object),
    .tp_dealloc = cells_dealloc,
    .tp_as_buffer = &cells_as_buffer,
    .tp_members = cells_members,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The slots of an object array rebuilt by strings_rebuild (its base).",
};

/* N zeroed slots.  Large ones are a mapping of their own, aligned to 2 MiB
 * and advised as huge pages (as NumPy advises its large arrays): 4 faults
 * for a 1M-row column instead of 2048, where the kernel has huge pages.
 * A tail of a quarter huge page or more is rounded up to a whole one: the
 * 8,000,000 bytes of a 1M-row column are 3 huge pages and 1.6 MiB, which
 * faulted in 4 KiB at a time took 420 faults (about 0.8 ms on the 2-core
 * VM of bench/) against one more huge page (0.2 ms), for at most 1.5 MiB
 * mapped and never used.
 *
 * (On that VM a fresh page of either size sometimes costs 20-30 times as
 * much: its balloon device reports free memory to the host (free page
 * reporting, page_reporting_order 9), and the first touch of a page the
 * host took back makes the host fault it in again, 4 KiB at a time.  perf
 * of such a recall: clear_page_erms under do_huge_pmd_anonymous_page,
 * most of its time; /proc/vmstat counts no compaction stall.  Small pages
 * are no escape: a trial that switched the rest of the slots to small
 * pages after one slow huge page took 70 ms for these 16 MB once, where
 * huge pages take about 50 in that state.  Only fewer fresh bytes would
 * help, and one pointer per row is the floor of an object array.) */
static PyObject **cells_alloc(size_t n, size_t *maplen)
{
    size_t len = n * sizeof(PyObject *);
    *maplen = 0;
#if defined(MAP_ANONYMOUS)
    if (len >= CELLS_MAP_MIN) {
        size_t page = (size_t)sysconf(_SC_PAGESIZE);
        size_t want = (len + page - 1) & ~(page - 1);
        if (want % HUGE_PAGE >= HUGE_PAGE / 4)
            want = (want + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
        size_t span = want + HUGE_PAGE;
        char *p = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p != MAP_FAILED) {
            char *a = (char *)(((uintptr_t)p + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
            if (a > p)
                munmap(p, (size_t)(a - p));
            if (a + want < p + span)
                munmap(a + want, (size_t)(p + span - (a + want)));
#if defined(MADV_HUGEPAGE)
            (void)madvise(a, want, MADV_HUGEPAGE);
#endif
            *maplen = want;
            return (PyObject **)a;
        }
    }
#endif
    return PyMem_Calloc(n ? n : 1, sizeof(PyObject *));
}

static int cells_ready = 0;

/* rows filled between two flushes of the 32-bit counts: none can wrap */
#define COUNT_SPAN ((size_t)1 << 30)

/* Adds the references counted in COUNTS (4 tables of 256 when SPLIT) to
 * the distinct elements and zeroes the counts. */
static void flush_counts(PyObject **uniq, uint32_t *counts, size_t nuniq, int split)
{
    for (size_t u = 0; u < nuniq; u++) {
        uint64_t k = counts[u];
        if (split) {
            k += (uint64_t)counts[256 + u] + counts[512 + u] + counts[768 + u];
            counts[256 + u] = counts[512 + u] = counts[768 + u] = 0;
        }
        counts[u] = 0;
        add_refs(uniq[u], (Py_ssize_t)k);
    }
}

/* strings_rebuild(n, table, data, codes, code_width, others) -> cells:
 * the N elements of a strings_pack result in slots of their own, each
 * distinct element built once (see the block comment above). */
PyObject *strcol_rebuild(PyObject *Py_UNUSED(m), PyObject *args)
{
    Py_ssize_t n;
    PyObject *tableo, *datao, *codeso, *others;
    int width;
    if (!PyArg_ParseTuple(args, "nOOOiO!:strings_rebuild", &n, &tableo, &datao, &codeso,
                          &width, &PyTuple_Type, &others))
        return NULL;
    if (n < 0 || (size_t)n > PY_SSIZE_T_MAX / sizeof(PyObject *)) {
        PyErr_Format(PyExc_ValueError, "packed strings: %zd elements", n);
        return NULL;
    }
    if (width != 0 && width != 1 && width != 2 && width != 4 && width != 8) {
        PyErr_Format(PyExc_ValueError, "packed strings: code width %d is not 0, 1, 2, 4 or 8",
                     width);
        return NULL;
    }
    if (!cells_ready) {
        if (PyType_Ready(&cells_type) < 0)
            return NULL;
        cells_ready = 1;
    }
    Py_buffer table = {0}, data = {0}, codes = {0};
    cells_object *cells = NULL;
    PyObject **uniq = NULL;
    uint32_t *counts = NULL;
    size_t nuniq = 0, built = 0;
    if (packed_buffers(tableo, datao, codeso, n, width, &table, &data, &codes) < 0)
        goto fail;
    cells = PyObject_New(cells_object, &cells_type);
    if (!cells)
        goto fail;
    cells->n = n;
    cells->others = Py_NewRef(others);
    cells->items = cells_alloc((size_t)n, &cells->maplen);
    if (!cells->items) {
        PyErr_NoMemory();
        goto fail;
    }
    PyObject **items = cells->items;
    populate(table.buf, table.len);
    populate(data.buf, data.len);
    populate(codes.buf, codes.len);
    nuniq = (size_t)table.len / 16;
    const uint64_t *tab = table.buf;
    if (width == 0) { /* each element its own entry: it takes the reference built */
        for (; built < nuniq; built++) {
            items[built] = build_one(tab, built, &data, others);
            if (!items[built])
                goto fail;
        }
        goto done;
    }
    uniq = PyMem_Malloc((nuniq ? nuniq : 1) * sizeof(PyObject *));
    if (!uniq) {
        PyErr_NoMemory();
        goto fail;
    }
    for (; built < nuniq; built++) {
        uniq[built] = build_one(tab, built, &data, others);
        if (!uniq[built])
            goto fail;
    }
    /* The fill writes pointers only; the references are counted and added
     * to each distinct element in one step afterwards (see strings_unpack).
     * Up to 256 entries the counts go to 4 tables in turn: consecutive rows
     * of a column of few values mostly hit the same count, and one table
     * makes each increment wait for the one before. */
    int split = nuniq <= 256;
    counts = PyMem_Calloc(split ? 4 * 256 : nuniq, sizeof(uint32_t));
    if (!counts) {
        PyErr_NoMemory();
        goto fail;
    }
    /* 32-bit counts (half the cache a column of 50,000 values takes), each
     * added before it could wrap */
    Py_ssize_t i = 0;
    if (width == 1 && split) {
        const uint8_t *cd = codes.buf;
        while (i + 4 <= n) {
            Py_ssize_t stop = n - i >= (Py_ssize_t)COUNT_SPAN ? i + (Py_ssize_t)COUNT_SPAN : n;
            for (; i + 4 <= stop; i += 4) {
                uint8_t c0 = cd[i], c1 = cd[i + 1], c2 = cd[i + 2], c3 = cd[i + 3];
                if (c0 >= nuniq || c1 >= nuniq || c2 >= nuniq || c3 >= nuniq)
                    break;
                items[i] = uniq[c0];
                items[i + 1] = uniq[c1];
                items[i + 2] = uniq[c2];
                items[i + 3] = uniq[c3];
                counts[c0]++;
                counts[256 + c1]++;
                counts[512 + c2]++;
                counts[768 + c3]++;
            }
            flush_counts(uniq, counts, nuniq, 1);
            if (i + 4 <= stop)
                break; /* a bad code: the loop below reports it */
        }
    }
#define FILL(T)                                                                    \
    do {                                                                           \
        const T *cd = codes.buf;                                                   \
        while (i < n) {                                                            \
            Py_ssize_t stop =                                                      \
                n - i >= (Py_ssize_t)COUNT_SPAN ? i + (Py_ssize_t)COUNT_SPAN : n;  \
            for (; i < stop; i++) {                                                \
                T c = cd[i];                                                       \
                if ((uint64_t)c >= nuniq)                                          \
                    break;                                                         \
                items[i] = uniq[c];                                                \
                counts[split ? (size_t)(i & 3) * 256 + c : c]++;                   \
            }                                                                      \
            flush_counts(uniq, counts, nuniq, split);                              \
            if (i < stop)                                                          \
                break;                                                             \
        }                                                                          \
    } while (0)
    switch (width) {
    case 1: FILL(uint8_t); break;
    case 2: FILL(uint16_t); break;
    case 4: FILL(uint32_t); break;
    default: FILL(uint64_t); break;
    }
#undef FILL
    if (i < n) { /* a code past the table */
        uint64_t c = code_at(codes.buf, width, i);
        /* the references of the slots filled so far were added: take them
         * back (each element keeps build_one's, released below) */
        for (Py_ssize_t j = 0; j < i; j++)
            Py_DECREF(items[j]);
        memset(items, 0, (size_t)i * sizeof(PyObject *));
        PyErr_Format(PyExc_ValueError,
                     "packed strings: element %zd refers to entry %llu of %zu",
                     i, (unsigned long long)c, nuniq);
        goto fail;
    }
    for (size_t u = 0; u < nuniq; u++) /* the references build_one made */
        Py_DECREF(uniq[u]);
    built = 0;
done:
    PyMem_Free(uniq);
    PyMem_Free(counts);
    packed_release(&table, &data, &codes);
    return (PyObject *)cells;
fail:
    if (uniq) {
        for (size_t u = 0; u < built; u++)
            Py_DECREF(uniq[u]);
    } /* (width 0: the slots hold what was built; the cells release it) */
    PyMem_Free(uniq);
    PyMem_Free(counts);
    packed_release(&table, &data, &codes);
    Py_XDECREF(cells);
    return NULL;
}

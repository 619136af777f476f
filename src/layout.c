/*
 * layout.c - the typed value layouts: n-d arrays and pickle-5 with
 * out-of-band buffers, their parsing and the check of a value against its
 * type tag; the names of the type tags.
 *
 * The layouts are the contract between the C API and the Python front end:
 * an array put from C reads back in Python as an ndarray.  Every parse
 * validates sizes and offsets against the value's length before anything is
 * trusted.  No store access here.
 */
#include "internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>

#define ARRAY_MAGIC 0x59415242u  /* "BRAY" */
#define PICKLE_MAGIC 0x4b505242u      /* "BRPK" */
#define PICKLE_MAGIC_HINT 0x48505242u /* "BRPH": the same, with a hint */
#define ARRAY_FIXED 48u
#define PICKLE_FIXED 32u
#define PICKLE_MAX_BUFS (1u << 20)

const char *brain_type_name(uint32_t type)
{
    switch (type) {
    case BRAIN_TYPE_BYTES: return "bytes";
    case BRAIN_TYPE_STR: return "str";
    case BRAIN_TYPE_ARRAY: return "ndarray";
    case BRAIN_TYPE_PICKLE: return "pickle";
    case BRAIN_TYPE_JSON: return "json";
    default: return type >= BRAIN_TYPE_USER ? "user" : "unknown";
    }
}

/* ---- n-d arrays ---------------------------------------------------------- */

static int dtype_itemsize(const char *dt, uint64_t *itemsize)
{
    size_t n = strnlen(dt, 16);
    if (n < 2 || n >= 16)
        return 0;
    const char *p = dt;
    if (*p == '<' || *p == '>' || *p == '|' || *p == '=')
        p++;
    char kind = *p++;
    if (!strchr("biufcmMSUV", kind) || !isdigit((unsigned char)*p))
        return 0;
    uint64_t v = 0;
    while (isdigit((unsigned char)*p)) {
        v = v * 10 + (uint64_t)(*p++ - '0');
        if (v > (1u << 20))
            return 0;
    }
    if (*p == '[') { /* datetime unit, e.g. <M8[ns], as NumPy names them */
        static const char *units[] = {"Y", "M", "W", "D", "h", "m", "s", "ms", "us",
                                      "ns", "ps", "fs", "as", "generic"};
        if (kind != 'm' && kind != 'M')
            return 0;
        const char *end = strchr(++p, ']');
        if (!end || end[1])
            return 0;
        size_t ul = (size_t)(end - p);
        int known = 0;
        for (size_t i = 0; i < sizeof units / sizeof *units; i++)
            if (strlen(units[i]) == ul && memcmp(units[i], p, ul) == 0)
                known = 1;
        if (!known)
            return 0;
        p = end + 1;
    }
    if (*p)
        return 0;
    if (kind == 'U')
        v *= 4;
    if (v == 0)
        return 0;
    *itemsize = v;
    return 1;
}

size_t brain_array_header_size(uint32_t ndim)
{
    return (size_t)align_up(ARRAY_FIXED + 8ull * ndim, BRAIN_ALIGN);
}

int brain_array_init(brain_array *a, const char *dtype, uint32_t ndim,
                     const uint64_t *shape)
{
    if (!a || !dtype || (ndim > 0 && !shape))
        return brain__fail(BRAIN_EINVAL, "brain_array_init: NULL argument");
    if (ndim > BRAIN_ARRAY_MAX_DIMS)
        return brain__fail(BRAIN_ETYPE, "array has %u dimensions; at most %d are supported",
                       ndim, BRAIN_ARRAY_MAX_DIMS);
    memset(a, 0, sizeof *a);
    if (strnlen(dtype, sizeof a->dtype) >= sizeof a->dtype ||
        !dtype_itemsize(dtype, &a->itemsize))
        return brain__fail(BRAIN_ETYPE,
                       "dtype '%.40s' is not a fixed-size NumPy typestr such as '<f8' or '|u1'",
                       dtype);
    strcpy(a->dtype, dtype);
    a->ndim = ndim;
    uint64_t n = a->itemsize;
    for (uint32_t i = 0; i < ndim; i++) {
        a->shape[i] = shape[i];
        if (shape[i] && n > UINT64_MAX / shape[i])
            return brain__fail(BRAIN_ETYPE, "array size overflows 64 bits");
        n *= shape[i];
    }
    if (n > BRAIN_MAX_CAPACITY)
        return brain__fail(BRAIN_ETYPE, "array of %llu bytes is larger than any store",
                       (unsigned long long)n);
    a->nbytes = n;
    a->data_offset = brain_array_header_size(ndim);
    return 0;
}

int brain_array_write_header(const brain_array *a, void *buf, size_t cap)
{
    if (!a || !buf)
        return brain__fail(BRAIN_EINVAL, "brain_array_write_header: NULL argument");
    size_t hs = brain_array_header_size(a->ndim);
    if (cap < hs)
        return brain__fail(BRAIN_ERANGE, "array header needs %zu bytes, buffer has %zu", hs, cap);
    uint8_t *p = buf;
    memset(p, 0, hs);
    uint32_t magic = ARRAY_MAGIC, hsz = (uint32_t)hs, flags = 0;
    memcpy(p, &magic, 4);
    memcpy(p + 4, &hsz, 4);
    memcpy(p + 8, a->dtype, 16);
    memcpy(p + 24, &a->ndim, 4);
    memcpy(p + 28, &flags, 4);
    memcpy(p + 32, &a->itemsize, 8);
    memcpy(p + 40, &a->nbytes, 8);
    memcpy(p + 48, a->shape, 8ull * a->ndim);
    return 0;
}

int brain_array_parse(const void *value, size_t size, brain_array *a)
{
    if (!value || !a)
        return brain__fail(BRAIN_EINVAL, "brain_array_parse: NULL argument");
    const uint8_t *p = value;
    uint32_t magic, hsz, ndim;
    if (size < ARRAY_FIXED)
        return brain__fail(BRAIN_ETYPE, "array value of %zu bytes is shorter than its header", size);
    memcpy(&magic, p, 4);
    memcpy(&hsz, p + 4, 4);
    memcpy(&ndim, p + 24, 4);
    if (magic != ARRAY_MAGIC)
        return brain__fail(BRAIN_ETYPE, "value is not an array layout (bad magic)");
    if (ndim > BRAIN_ARRAY_MAX_DIMS || hsz != brain_array_header_size(ndim) || hsz > size)
        return brain__fail(BRAIN_ETYPE, "array header is malformed (ndim %u, header %u bytes)",
                       ndim, hsz);
    char dt[17] = {0};
    memcpy(dt, p + 8, 16);
    uint64_t shape[BRAIN_ARRAY_MAX_DIMS];
    memcpy(shape, p + 48, 8ull * ndim);
    brain_array tmp;
    int rc = brain_array_init(&tmp, dt, ndim, shape);
    if (rc)
        return rc;
    uint64_t nbytes, itemsize;
    memcpy(&itemsize, p + 32, 8);
    memcpy(&nbytes, p + 40, 8);
    if (itemsize != tmp.itemsize || nbytes != tmp.nbytes || size - hsz != nbytes)
        return brain__fail(BRAIN_ETYPE,
                       "array header says %llu data bytes but shape and dtype give %llu and the value holds %zu",
                       (unsigned long long)nbytes, (unsigned long long)tmp.nbytes,
                       size - hsz);
    *a = tmp;
    a->data = p + hsz;
    return 0;
}

/* ---- pickle-5 with out-of-band buffers ----------------------------------- */

/* The header: 32 fixed bytes (magic, nbufs, header size, stream offset,
 * stream length), the buffers' offsets then lengths (8 bytes each); with
 * a hint ("BRPH"), then the hint's length (4 bytes), 4 zero bytes and the
 * hint's UTF-8 text; zero padding to a multiple of 64. */
static uint64_t pickle_header_size(uint32_t nbufs, uint32_t hint_len)
{
    uint64_t n = PICKLE_FIXED + 16ull * nbufs;
    if (hint_len)
        n += 8 + hint_len;
    return align_up(n, BRAIN_ALIGN);
}

int brain_pickle_layout_hint(uint64_t stream_len, uint32_t nbufs, const uint64_t *buf_lens,
                             size_t hint_len, uint64_t *offsets, uint64_t *total)
{
    if ((nbufs && !buf_lens) || !offsets || !total)
        return brain__fail(BRAIN_EINVAL, "brain_pickle_layout: NULL argument");
    if (nbufs > PICKLE_MAX_BUFS)
        return brain__fail(BRAIN_ETYPE, "%u out-of-band buffers; the limit is %u", nbufs,
                       PICKLE_MAX_BUFS);
    if (hint_len > BRAIN_PICKLE_HINT_MAX)
        return brain__fail(BRAIN_EINVAL, "pickle hint of %zu bytes; the limit is %u", hint_len,
                       BRAIN_PICKLE_HINT_MAX);
    uint64_t off = pickle_header_size(nbufs, (uint32_t)hint_len);
    offsets[0] = off;
    if (stream_len > BRAIN_MAX_CAPACITY)
        return brain__fail(BRAIN_ETYPE, "pickle stream too large");
    off = align_up(off + stream_len, BRAIN_ALIGN);
    for (uint32_t i = 0; i < nbufs; i++) {
        if (buf_lens[i] > BRAIN_MAX_CAPACITY || off > BRAIN_MAX_CAPACITY)
            return brain__fail(BRAIN_ETYPE, "out-of-band buffers too large");
        offsets[i + 1] = off;
        off = align_up(off + buf_lens[i], BRAIN_ALIGN);
    }
    *total = off;
    return 0;
}

int brain_pickle_layout(uint64_t stream_len, uint32_t nbufs, const uint64_t *buf_lens,
                        uint64_t *offsets, uint64_t *total)
{
    return brain_pickle_layout_hint(stream_len, nbufs, buf_lens, 0, offsets, total);
}

int brain_pickle_write_header_hint(void *value, size_t cap, uint64_t stream_len, uint32_t nbufs,
                                   const uint64_t *buf_lens, const char *hint, size_t hint_len)
{
    if (!value || (nbufs && !buf_lens) || (hint_len && !hint))
        return brain__fail(BRAIN_EINVAL, "brain_pickle_write_header: NULL argument");
    if (hint_len > BRAIN_PICKLE_HINT_MAX)
        return brain__fail(BRAIN_EINVAL, "pickle hint of %zu bytes; the limit is %u", hint_len,
                       BRAIN_PICKLE_HINT_MAX);
    if (hint_len && (!brain__utf8_valid(hint, hint_len) || memchr(hint, 0, hint_len)))
        return brain__fail(BRAIN_EINVAL, "pickle hint is not UTF-8 text without NUL bytes");
    uint64_t hs = pickle_header_size(nbufs, (uint32_t)hint_len);
    if (nbufs > PICKLE_MAX_BUFS || cap < hs)
        return brain__fail(BRAIN_ERANGE, "pickle header needs %llu bytes, buffer has %zu",
                       (unsigned long long)hs, cap);
    uint64_t *offs = malloc(sizeof(uint64_t) * (nbufs + 1ull));
    if (!offs)
        return brain__fail(BRAIN_ENOMEM, "out of memory");
    uint64_t total;
    int rc = brain_pickle_layout_hint(stream_len, nbufs, buf_lens, hint_len, offs, &total);
    if (rc == 0 && total > cap)
        rc = brain__fail(BRAIN_ERANGE, "pickle value needs %llu bytes, buffer has %zu",
                     (unsigned long long)total, cap);
    if (rc == 0) {
        uint8_t *p = value;
        uint32_t magic = hint_len ? PICKLE_MAGIC_HINT : PICKLE_MAGIC;
        memset(p, 0, hs);
        memcpy(p, &magic, 4);
        memcpy(p + 4, &nbufs, 4);
        memcpy(p + 8, &hs, 8);
        memcpy(p + 16, &offs[0], 8);
        memcpy(p + 24, &stream_len, 8);
        if (nbufs) {
            memcpy(p + 32, offs + 1, 8ull * nbufs);
            memcpy(p + 32 + 8ull * nbufs, buf_lens, 8ull * nbufs);
        }
        if (hint_len) {
            uint32_t hl = (uint32_t)hint_len;
            memcpy(p + 32 + 16ull * nbufs, &hl, 4);
            memcpy(p + 40 + 16ull * nbufs, hint, hint_len);
        }
    }
    free(offs);
    return rc;
}

int brain_pickle_write_header(void *value, size_t cap, uint64_t stream_len, uint32_t nbufs,
                              const uint64_t *buf_lens)
{
    return brain_pickle_write_header_hint(value, cap, stream_len, nbufs, buf_lens, NULL, 0);
}

int brain_pickle_parse(const void *value, size_t size, brain_pickle *pk)
{
    if (!value || !pk)
        return brain__fail(BRAIN_EINVAL, "brain_pickle_parse: NULL argument");
    const uint8_t *p = value;
    uint32_t magic, nbufs, hint_len = 0;
    uint64_t hs, soff, slen;
    if (size < PICKLE_FIXED)
        return brain__fail(BRAIN_ETYPE, "pickle value of %zu bytes is shorter than its header", size);
    memcpy(&magic, p, 4);
    memcpy(&nbufs, p + 4, 4);
    memcpy(&hs, p + 8, 8);
    memcpy(&soff, p + 16, 8);
    memcpy(&slen, p + 24, 8);
    if (magic != PICKLE_MAGIC && magic != PICKLE_MAGIC_HINT)
        return brain__fail(BRAIN_ETYPE, "value is not a pickle layout (bad magic)");
    if (nbufs > PICKLE_MAX_BUFS)
        return brain__fail(BRAIN_ETYPE, "pickle header is malformed");
    if (magic == PICKLE_MAGIC_HINT) {
        uint64_t at = PICKLE_FIXED + 16ull * nbufs;
        if (at + 8 > size)
            return brain__fail(BRAIN_ETYPE, "pickle header is malformed");
        memcpy(&hint_len, p + at, 4);
        if (hint_len == 0 || hint_len > BRAIN_PICKLE_HINT_MAX || at + 8 + hint_len > size ||
            !brain__utf8_valid(p + at + 8, hint_len) || memchr(p + at + 8, 0, hint_len))
            return brain__fail(BRAIN_ETYPE, "pickle header's hint is malformed");
    }
    if (hs != pickle_header_size(nbufs, hint_len) || hs > size || soff < hs || soff > size ||
        slen > size - soff)
        return brain__fail(BRAIN_ETYPE, "pickle header is malformed");
    if ((uintptr_t)value % 8)
        return brain__fail(BRAIN_ETYPE, "pickle value is not 8-byte aligned");
    const uint64_t *offs = (const uint64_t *)(p + 32);
    const uint64_t *lens = offs + nbufs;
    for (uint32_t i = 0; i < nbufs; i++) {
        if (offs[i] % BRAIN_ALIGN || offs[i] < hs || offs[i] > size ||
            lens[i] > size - offs[i])
            return brain__fail(BRAIN_ETYPE, "pickle buffer %u lies outside the value", i);
    }
    pk->nbufs = nbufs;
    pk->stream_offset = soff;
    pk->stream_len = slen;
    pk->buf_offsets = offs;
    pk->buf_lens = lens;
    pk->hint_len = hint_len;
    pk->hint = hint_len ? (const char *)p + PICKLE_FIXED + 16ull * nbufs + 8 : "";
    return 0;
}

int brain__value_validate(uint32_t type, const void *data, size_t size)
{
    switch (type) {
    case BRAIN_TYPE_STR:
    case BRAIN_TYPE_JSON:
        if (!brain__utf8_valid(data, size))
            return brain__fail(BRAIN_ETYPE, "a %s value must be valid UTF-8",
                           brain_type_name(type));
        return 0;
    case BRAIN_TYPE_ARRAY: {
        brain_array a;
        return brain_array_parse(data, size, &a);
    }
    case BRAIN_TYPE_PICKLE: {
        brain_pickle pk;
        return brain_pickle_parse(data, size, &pk);
    }
    case BRAIN_TYPE_BYTES:
        return 0;
    default:
        if (type >= BRAIN_TYPE_USER)
            return 0;
        return brain__fail(BRAIN_EINVAL, "type tag %u is reserved; use BRAIN_TYPE_USER (%d) and up",
                       type, BRAIN_TYPE_USER);
    }
}

/*
 * value.c - names, hashing, and the typed value layouts.
 *
 * The layouts here (n-d arrays, pickle-5 with out-of-band buffers) are the
 * contract between the C API and the Python front end: an array put from C
 * reads back in Python as an ndarray.  Every parse validates sizes and
 * offsets against the value's length before anything is trusted.
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

int brain__utf8_valid(const void *s, size_t n)
{
    const uint8_t *p = s, *end = p + n;
    while (p < end) {
        uint8_t c = *p;
        if (c < 0x80) {
            p++;
            continue;
        }
        size_t len;
        uint32_t cp;
        if ((c & 0xE0) == 0xC0) {
            len = 2;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4;
            cp = c & 0x07;
        } else
            return 0;
        if ((size_t)(end - p) < len)
            return 0;
        for (size_t i = 1; i < len; i++) {
            if ((p[i] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i] & 0x3F);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
            (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        p += len;
    }
    return 1;
}

int brain__name_check(const char *s, size_t max, int code, const char *what,
                  size_t *len)
{
    if (!s)
        return brain__fail(code, "%s is NULL; pass a non-empty UTF-8 string", what);
    size_t n = strnlen(s, max + 1);
    if (n == 0)
        return brain__fail(code, "%s is empty; pass a non-empty UTF-8 string", what);
    if (n > max) {
        size_t full = n + strlen(s + n);
        return brain__fail(code, "%s is %zu bytes long; the limit is %zu bytes", what,
                       full, max);
    }
    unsigned high = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        high |= c;
        if (c < 0x20)
            return brain__fail(code,
                           "%s contains control character 0x%02x at byte %zu; "
                           "names may not hold control characters",
                           what, c, i);
    }
    if ((high & 0x80) && !brain__utf8_valid(s, n)) /* plain ASCII is valid UTF-8 */
        return brain__fail(code, "%s is not valid UTF-8", what);
    *len = n;
    return 0;
}

static inline uint64_t rd64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint64_t fmix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

static uint64_t hash_bytes(uint64_t h, const uint8_t *p, size_t n)
{
    const uint64_t k = 0x9E3779B97F4A7C15ull;
    h ^= (uint64_t)n * k;
    while (n >= 8) {
        h = (h ^ (rd64(p) * 0xbf58476d1ce4e5b9ull));
        h = ((h << 31) | (h >> 33)) * k;
        p += 8;
        n -= 8;
    }
    if (n) {
        uint64_t t = 0;
        memcpy(&t, p, n);
        h ^= t * 0x94d049bb133111ebull;
        h = ((h << 27) | (h >> 37)) * k;
    }
    return h;
}

uint64_t brain__checksum(uint64_t seed, const void *p, size_t n)
{
    return fmix(hash_bytes(seed, (const uint8_t *)p, n));
}

/* The same mixing over four independent lanes, 32 bytes a round: the
 * lanes' multiplies overlap, so a value checksums at memory speed rather
 * than at one multiply chain's (about 2x faster here).  For snapshots, where
 * every byte of every value is hashed on save and on load.  In pieces:
 * init with the total length, rounds over multiples of 32 bytes, final
 * over the last n % 32; brain__checksum_wide does the three at once. */
void brain__wide_init(struct brain__wide *w, uint64_t seed, uint64_t total)
{
    w->seed = seed;
    w->v[0] = seed ^ total * 0x9E3779B97F4A7C15ull;
    w->v[1] = seed + 0x243F6A8885A308D3ull;
    w->v[2] = seed - 0x13198A2E03707344ull;
    w->v[3] = ~seed ^ 0xA4093822299F31D0ull;
}

void brain__wide_rounds(struct brain__wide *w, const void *data, size_t n)
{
    const uint64_t k = 0x9E3779B97F4A7C15ull, m = 0xbf58476d1ce4e5b9ull;
    const uint8_t *p = data;
    uint64_t v0 = w->v[0], v1 = w->v[1], v2 = w->v[2], v3 = w->v[3];
    for (; n >= 32; p += 32, n -= 32) {
        uint64_t h0 = v0 ^ (rd64(p) * m), h1 = v1 ^ (rd64(p + 8) * m);
        uint64_t h2 = v2 ^ (rd64(p + 16) * m), h3 = v3 ^ (rd64(p + 24) * m);
        v0 = ((h0 << 31) | (h0 >> 33)) * k;
        v1 = ((h1 << 31) | (h1 >> 33)) * k;
        v2 = ((h2 << 31) | (h2 >> 33)) * k;
        v3 = ((h3 << 31) | (h3 >> 33)) * k;
    }
    w->v[0] = v0, w->v[1] = v1, w->v[2] = v2, w->v[3] = v3;
}

uint64_t brain__wide_final(const struct brain__wide *w, const void *tail, size_t n)
{
    uint64_t h = hash_bytes(w->seed, (const uint8_t *)w->v, sizeof w->v);
    return fmix(hash_bytes(h, tail, n));
}

uint64_t brain__checksum_wide(uint64_t seed, const void *data, size_t n)
{
    if (n < 256)
        return brain__checksum(seed, data, n);
    struct brain__wide w;
    size_t body = n & ~(size_t)31;
    brain__wide_init(&w, seed, n);
    brain__wide_rounds(&w, data, body);
    return brain__wide_final(&w, (const uint8_t *)data + body, n - body);
}

uint64_t brain__key_hash(uint64_t seed, const char *ns, size_t nslen, const char *name,
                 size_t namelen)
{
    uint64_t h = hash_bytes(seed, (const uint8_t *)ns, nslen);
    h = hash_bytes(h ^ 0xA5A5A5A5A5A5A5A5ull, (const uint8_t *)name, namelen);
    h = fmix(h);
    return h ? h : 1;
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

/* ---- sizes ---------------------------------------------------------------- */

int brain_parse_size(const char *text, uint64_t *out)
{
    if (!text || !out)
        return brain__fail(BRAIN_EINVAL, "size: NULL argument");
    const char *p = text;
    while (isspace((unsigned char)*p))
        p++;
    if (!isdigit((unsigned char)*p))
        return brain__fail(BRAIN_EINVAL,
                       "size '%.64s' is not a number of bytes such as 1048576, 50MB or 2GiB",
                       text);
    uint64_t ip = 0, frac = 0, fscale = 1;
    while (isdigit((unsigned char)*p)) {
        uint64_t d = (uint64_t)(*p++ - '0');
        if (ip > (UINT64_MAX - d) / 10)
            return brain__fail(BRAIN_EINVAL, "size '%.64s' is too large", text);
        ip = ip * 10 + d;
    }
    int has_frac = 0;
    if (*p == '.') {
        p++;
        has_frac = 1;
        if (!isdigit((unsigned char)*p))
            return brain__fail(BRAIN_EINVAL, "size '%.64s' is malformed", text);
        while (isdigit((unsigned char)*p)) {
            if (fscale < 1000000000000000000ull) {
                frac = frac * 10 + (uint64_t)(*p - '0');
                fscale *= 10;
            }
            p++;
        }
    }
    while (*p == ' ')
        p++;
    char unit[8] = {0};
    size_t ul = 0;
    while (*p && !isspace((unsigned char)*p) && ul < sizeof unit - 1)
        unit[ul++] = (char)tolower((unsigned char)*p++);
    while (isspace((unsigned char)*p))
        p++;
    if (*p)
        return brain__fail(BRAIN_EINVAL, "size '%.64s' has trailing characters", text);
    static const struct {
        const char *u;
        uint64_t m;
    } units[] = {
        {"", 1}, {"b", 1}, {"k", 1000ull}, {"kb", 1000ull}, {"m", 1000000ull},
        {"mb", 1000000ull}, {"g", 1000000000ull}, {"gb", 1000000000ull},
        {"t", 1000000000000ull}, {"tb", 1000000000000ull},
        {"p", 1000000000000000ull}, {"pb", 1000000000000000ull},
        {"kib", 1ull << 10}, {"mib", 1ull << 20}, {"gib", 1ull << 30},
        {"tib", 1ull << 40}, {"pib", 1ull << 50}, {"ki", 1ull << 10},
        {"mi", 1ull << 20}, {"gi", 1ull << 30}, {"ti", 1ull << 40},
    };
    uint64_t mult = 0;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcmp(unit, units[i].u) == 0)
            mult = units[i].m;
    if (!mult)
        return brain__fail(BRAIN_EINVAL,
                       "size '%.64s' has unknown unit '%s'; use B, kB, MB, GB, TB, KiB, MiB, GiB or TiB",
                       text, unit);
    if (has_frac && mult == 1)
        return brain__fail(BRAIN_EINVAL, "size '%.64s' is a fraction of a byte", text);
    if (ip > UINT64_MAX / mult)
        return brain__fail(BRAIN_EINVAL, "size '%.64s' is too large", text);
    uint64_t v = ip * mult;
    if (has_frac) {
        /* frac/fscale * mult, without overflow for the units we have */
        long double f = (long double)frac / (long double)fscale * (long double)mult;
        if ((long double)(UINT64_MAX - v) < f)
            return brain__fail(BRAIN_EINVAL, "size '%.64s' is too large", text);
        v += (uint64_t)(f + 0.5L);
    }
    *out = v;
    return 0;
}

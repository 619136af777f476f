/*
 * index.c - the name index: an open-addressing hash table from
 * (namespace, name) to the entry block that holds the current value.
 *
 * The table is itself an arena block; the header's `index` word holds its
 * offset and log2(slots).  Each slot is one 64-bit word, (tag << 40) |
 * (entry block >> 6), 0 for empty or 1 for a tombstone, so readers see
 * every change as one atomic store and never need a lock.  Growing or
 * cleaning the table builds a new block and swaps the header word; the old
 * table goes to limbo like any replaced value, so a reader still probing
 * it stays safe.
 *
 * Entries are immutable once linked, and are validated (magic, lengths,
 * offsets within the file) before any field is trusted.
 */
#include "internal.h"

#include <stdlib.h>

#define TAG_OF(h) ((h) >> 40)

const char *brain__entry_ns(const struct brain__entry *e) { return e->strings; }
const char *brain__entry_name(const struct brain__entry *e) { return e->strings + e->ns_len + 1; }
const char *brain__entry_desc(const struct brain__entry *e)
{
    return e->strings + e->ns_len + 1 + e->name_len + 1;
}

const struct brain__entry *brain__entry_at(const brain *b, uint64_t block)
{
    /* BLOCK comes from an index word: a block header, then the entry's fixed
     * part, then its strings and value, each through the checked accessor */
    if (!brain__block_at(b, block))
        return NULL;
    const struct brain__entry *e = brain__ptr(b, block + BLOCK_HDR, ENTRY_FIXED);
    if (!e)
        return NULL;
    if (e->magic != ENTRY_MAGIC || e->ns_len == 0 || e->ns_len > BRAIN_NS_MAX ||
        e->name_len == 0 || e->name_len > BRAIN_NAME_MAX || e->desc_len > BRAIN_DESC_MAX)
        return NULL;
    uint64_t strings = ENTRY_FIXED + e->ns_len + 1u + e->name_len + 1u + e->desc_len + 1u;
    if (e->data_off % BRAIN_ALIGN || e->data_off < strings ||
        !brain__ptr(b, block + BLOCK_HDR, e->data_off))
        return NULL;
    /* the value: data_off and size are read from the file */
    if (!brain__ptr(b, block + BLOCK_HDR + e->data_off, e->size))
        return NULL;
    /* callers hand the strings out as C strings: the terminators must be
     * where the lengths say (they lie before start, so inside the file) */
    const char *s = e->strings;
    if (s[e->ns_len] || s[e->ns_len + 1u + e->name_len] ||
        s[e->ns_len + 1u + e->name_len + 1u + e->desc_len])
        return NULL;
    return e;
}

int brain__entry_key_eq(const struct brain__entry *e, const char *ns, size_t nslen,
                 const char *name, size_t namelen)
{
    return e->ns_len == nslen && e->name_len == namelen &&
           memcmp(e->strings, ns, nslen) == 0 &&
           memcmp(e->strings + nslen + 1, name, namelen) == 0;
}

int brain__entry_expired(const struct brain__entry *e, int64_t now)
{
    return e->expires_ns && now >= e->expires_ns;
}

void brain__entry_fill_info(const brain *b, const struct brain__entry *e, brain_info *info,
                     enum brain__info_strings strings)
{
    info->type = e->type;
    info->flags = 0;
    info->size = e->size;
    info->version = e->version;
    info->created_ns = e->created_ns;
    info->updated_ns = e->updated_ns;
    info->expires_ns = e->expires_ns;
    memcpy(info->object_id, e->object_id, BRAIN_OBJECT_ID_SIZE);
    info->ns_len = e->ns_len;
    info->name_len = e->name_len;
    info->desc_len = e->desc_len;
    if (strings == INFO_STRINGS) {
        const char *base = (const char *)b->ro + ((const uint8_t *)e - b->rw);
        const char *s = base + offsetof(struct brain__entry, strings);
        info->ns = s;
        info->name = s + e->ns_len + 1;
        info->desc = s + e->ns_len + 1 + e->name_len + 1;
    } else {
        info->ns = info->name = info->desc = NULL;
    }
}

/* The table's slots, validated; NULL when the header word is bad. */
_Atomic uint64_t *brain__index_table(const brain *b, uint64_t packed, uint64_t *nslots)
{
    unsigned lg = (unsigned)(packed & 63);
    uint64_t off = packed & ~63ull;
    if (lg < IDX_MIN_LOG2 || lg > 36 || !brain__block_at(b, off))
        return NULL;
    *nslots = 1ull << lg;
    return (_Atomic uint64_t *)brain__ptr(b, off + BLOCK_HDR, *nslots * 8);
}

const struct brain__entry *brain__index_find(brain *b, uint64_t hash, const char *ns,
                                  size_t nslen, const char *name, size_t namelen,
                                  uint64_t *block, int *corrupt)
{
    uint64_t nslots;
    _Atomic uint64_t *t = brain__index_table(b, atomic_load(&b->h->index), &nslots);
    if (!t) {
        *corrupt = 1;
        return NULL;
    }
    uint64_t mask = nslots - 1, tag = TAG_OF(hash);
    uint64_t i = hash & mask;
    for (uint64_t n = 0; n < nslots; n++, i = (i + 1) & mask) {
        uint64_t w = atomic_load(&t[i]);
        if (w == IDX_EMPTY)
            return NULL;
        if (w == IDX_TOMB || TAG_OF(w) != tag)
            continue;
        uint64_t blk = brain__idx_block(w);
        const struct brain__entry *e = brain__entry_at(b, blk);
        if (!e) {
            *corrupt = 1;
            continue;
        }
        if (e->hash == hash && brain__entry_key_eq(e, ns, nslen, name, namelen)) {
            *block = blk;
            return e;
        }
    }
    return NULL;
}

/* Under the lock: the slot holding the key, or the first free one on its
 * probe path.  NULL only if the table is full (it never is: it grows). */
uint64_t *brain__index_slot_for(brain *b, uint64_t hash, const char *ns, size_t nslen,
                         const char *name, size_t namelen, int *existing)
{
    uint64_t nslots;
    _Atomic uint64_t *t = brain__index_table(b, atomic_load(&b->h->index), &nslots);
    if (!t)
        return NULL;
    uint64_t mask = nslots - 1, tag = TAG_OF(hash), i = hash & mask;
    _Atomic uint64_t *first_free = NULL;
    for (uint64_t n = 0; n < nslots; n++, i = (i + 1) & mask) {
        uint64_t w = atomic_load_explicit(&t[i], memory_order_relaxed);
        if (w == IDX_EMPTY) {
            *existing = 0;
            return (uint64_t *)(first_free ? first_free : &t[i]);
        }
        if (w == IDX_TOMB) {
            if (!first_free)
                first_free = &t[i];
            continue;
        }
        if (TAG_OF(w) != tag)
            continue;
        const struct brain__entry *e = brain__entry_at(b, brain__idx_block(w));
        if (e && e->hash == hash && brain__entry_key_eq(e, ns, nslen, name, namelen)) {
            *existing = 1;
            return (uint64_t *)&t[i];
        }
    }
    *existing = 0;
    return (uint64_t *)first_free;
}

static void table_insert(_Atomic uint64_t *t, uint64_t mask, uint64_t hash, uint64_t w)
{
    uint64_t i = hash & mask;
    while (atomic_load_explicit(&t[i], memory_order_relaxed) != IDX_EMPTY)
        i = (i + 1) & mask;
    atomic_store_explicit(&t[i], w, memory_order_relaxed);
}

/* Calls FN for every entry the table links, in slot order (empty slots,
 * tombstones and words that lead to no valid entry are skipped), until FN
 * returns non-zero, which is returned.  SLOT is the word's place: a writer
 * holding the lock may unlink through it.  BRAIN_ECORRUPT when the index
 * header word is damaged.  A caller without the lock runs inside a lane. */
#define FOREACH_AHEAD 24

int brain__index_foreach(brain *b, brain__index_fn fn, void *ctx)
{
    uint64_t packed = atomic_load(&b->h->index), nslots = 0;
    _Atomic uint64_t *t = brain__index_table(b, packed, &nslots);
    if (!t)
        return brain__fail(BRAIN_ECORRUPT, "store '%s': the name index is damaged", b->path);
    uint64_t size = atomic_load(&b->h->file_size);
    for (uint64_t i = 0; i < nslots; i++) {
        /* the entries lie in hash order all over the file: ask for the
         * ones a few slots ahead now, so that the misses overlap */
        if (i + FOREACH_AHEAD < nslots) {
            uint64_t wa = atomic_load_explicit(&t[i + FOREACH_AHEAD], memory_order_relaxed);
            uint64_t ba = brain__idx_block(wa);
            if (wa != IDX_EMPTY && wa != IDX_TOMB && ba < size - 3 * BLOCK_HDR) {
                __builtin_prefetch(b->rw + ba + BLOCK_HDR);
                __builtin_prefetch(b->rw + ba + 2 * BLOCK_HDR);
            }
        }
        uint64_t w = atomic_load(&t[i]);
        if (w == IDX_EMPTY || w == IDX_TOMB)
            continue;
        const struct brain__entry *e = brain__entry_at(b, brain__idx_block(w));
        if (!e)
            continue;
        int rc = fn(b, &t[i], e, ctx);
        if (rc)
            return rc;
    }
    return 0;
}

/* LSD radix sort of A[0..n) (block offsets: multiples of 64, below
 * 2^(6 + BITS)), digits of up to 12 bits (as few passes as the offsets
 * need: two for a store under 16 GiB), skipping the digits all share; TMP
 * has room for n.  0, or BRAIN_ENOMEM with A unsorted. */
static int sort_offsets(uint64_t *a, uint64_t *tmp, size_t n, unsigned bits)
{
    unsigned passes = (bits + 11) / 12, width = passes ? (bits + passes - 1) / passes : 0;
    size_t nb = (size_t)1 << width, mask = nb - 1;
    if (!passes || n < 2)
        return 0;
    size_t *cnt = calloc(passes * nb, sizeof *cnt);
    if (!cnt)
        return BRAIN_ENOMEM;
    for (size_t i = 0; i < n; i++)
        for (unsigned d = 0; d < passes; d++)
            cnt[d * nb + ((a[i] >> (6 + width * d)) & mask)]++;
    uint64_t *src = a, *dst = tmp;
    for (unsigned d = 0; d < passes; d++) {
        size_t *c = cnt + d * nb;
        unsigned shift = 6 + width * d;
        if (c[(a[0] >> shift) & mask] == n)
            continue;
        size_t sum = 0;
        for (size_t v = 0; v < nb; v++) {
            size_t t = c[v];
            c[v] = sum;
            sum += t;
        }
        for (size_t i = 0; i < n; i++)
            dst[c[(src[i] >> shift) & mask]++] = src[i];
        uint64_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != a)
        memcpy(a, src, n * sizeof *a);
    free(cnt);
    return 0;
}

/* FN for the entry at each offset of OFFS[0..n), in that order, asking
 * for the ones FOREACH_AHEAD further on (of OFFS[0..avail), avail >= n)
 * ahead of time. */
static int foreach_offsets(brain *b, const uint64_t *offs, size_t n, size_t avail, brain__index_fn fn,
                           void *ctx)
{
    uint64_t size = atomic_load(&b->h->file_size);
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        if (i + FOREACH_AHEAD < avail && offs[i + FOREACH_AHEAD] < size - 3 * BLOCK_HDR) {
            __builtin_prefetch(b->rw + offs[i + FOREACH_AHEAD] + BLOCK_HDR);
            __builtin_prefetch(b->rw + offs[i + FOREACH_AHEAD] + 2 * BLOCK_HDR);
        }
        const struct brain__entry *e = brain__entry_at(b, offs[i]);
        if (e)
            rc = fn(b, NULL, e, ctx);
    }
    return rc;
}

/* brain__index_foreach_by_address for a table T of NSLOTS slots when the
 * file is SIZE bytes: one bit a 64-byte unit of the file, set for each
 * block a slot links, then the bits read in order: no sort, and the
 * bitmap (SIZE / 512 bytes) stays in the cache where an array of offsets
 * would not.  1, with nothing called, when memory is short or a slot
 * links a block at SIZE or beyond (the file grew during the scan, or a
 * damaged word): the caller sorts offsets instead. */
static int foreach_bitmap(brain *b, _Atomic uint64_t *t, uint64_t nslots, uint64_t size,
                          brain__index_fn fn, void *ctx, int *rc)
{
    size_t words = (size_t)((size / 64 + 63) / 64);
    uint64_t *bits = calloc(words ? words : 1, sizeof *bits);
    if (!bits)
        return 1;
    for (uint64_t i = 0; i < nslots; i++) {
        uint64_t w = atomic_load_explicit(&t[i], memory_order_acquire);
        if (w == IDX_EMPTY || w == IDX_TOMB)
            continue;
        uint64_t u = brain__idx_block(w) / 64;
        if (u / 64 >= words) {
            free(bits);
            return 1;
        }
        bits[u / 64] |= 1ull << (u % 64);
    }
    /* the offsets in order, a batch at a time; the last FOREACH_AHEAD of a
     * batch move to the front of the next, so that prefetching goes on */
    uint64_t buf[512];
    size_t have = 0, wi = 0;
    uint64_t word = words ? bits[0] : 0;
    for (;;) {
        while (have < sizeof buf / sizeof *buf && wi < words) {
            if (!word) {
                if (++wi < words)
                    word = bits[wi];
                continue;
            }
            buf[have++] = ((uint64_t)wi * 64 + (uint64_t)__builtin_ctzll(word)) * 64;
            word &= word - 1;
        }
        if (wi >= words) { /* the bitmap is read: the rest of the batch */
            *rc = foreach_offsets(b, buf, have, have, fn, ctx);
            break;
        }
        size_t now = have - FOREACH_AHEAD;
        if ((*rc = foreach_offsets(b, buf, now, have, fn, ctx)))
            break;
        memmove(buf, buf + now, FOREACH_AHEAD * sizeof *buf);
        have = FOREACH_AHEAD;
    }
    free(bits);
    return 0;
}

/* Calls FN for every entry the table links as brain__index_foreach does,
 * but in the order of the entries' addresses (so that the walk goes
 * through the file once, front to back); SLOT is NULL.  The order comes
 * from a bitmap of the file (foreach_bitmap) when the names are many for
 * the file's size, else from sorting their offsets.  Falls back to slot
 * order when memory for the sort is short. */
int brain__index_foreach_by_address(brain *b, brain__index_fn fn, void *ctx)
{
    uint64_t packed = atomic_load(&b->h->index), nslots = 0;
    _Atomic uint64_t *t = brain__index_table(b, packed, &nslots);
    if (!t)
        return brain__fail(BRAIN_ECORRUPT, "store '%s': the name index is damaged", b->path);
    uint64_t live = b->h->index_count; /* a hint: read without the lock */
    size_t cap = (size_t)(live < nslots ? live : nslots) + 64, n = 0;
    /* a bitmap of the file when it is no bigger than the offsets and the
     * sort's scratch would be (many names for the file's size) */
    uint64_t fsize = atomic_load(&b->h->file_size);
    int rc = 0;
    if (fsize / 512 <= 2 * cap * sizeof(uint64_t) && !foreach_bitmap(b, t, nslots, fsize, fn, ctx, &rc))
        return rc;
    uint64_t *offs = malloc(2 * cap * sizeof *offs), any = 0;
    if (!offs)
        return brain__index_foreach(b, fn, ctx); /* the same, in hash order */
    brain__plat_advise_huge(offs, 2 * cap * sizeof *offs);
    for (uint64_t i = 0; i < nslots; i++) {
        uint64_t w = atomic_load_explicit(&t[i], memory_order_acquire);
        if (w == IDX_EMPTY || w == IDX_TOMB)
            continue;
        if (n == cap) { /* names came in since index_count was read */
            uint64_t *more = realloc(offs, 4 * cap * sizeof *offs);
            if (!more) {
                free(offs);
                return brain__fail(BRAIN_ENOMEM, "out of memory while listing");
            }
            offs = more;
            cap *= 2;
        }
        offs[n] = brain__idx_block(w);
        any |= offs[n++];
    }
    if (sort_offsets(offs, offs + cap, n, any >> 6 ? 64 - (unsigned)__builtin_clzll(any >> 6) : 0)) {
        free(offs);
        return brain__index_foreach(b, fn, ctx); /* the same, in hash order */
    }
    rc = foreach_offsets(b, offs, n, n, fn, ctx);
    free(offs);
    return rc;
}

int brain__index_create(brain *b, uint32_t log2cap)
{
    uint64_t nslots = 1ull << log2cap, blk;
    int rc = brain__alloc_block(b, nslots * 8, BS_USED, BK_INDEX, nslots * 8, 0, &blk);
    if (rc)
        return rc;
    memset(b->rw + blk + BLOCK_HDR, 0, nslots * 8);
    atomic_store(&b->h->index, blk | log2cap);
    b->h->index_count = 0;
    b->h->index_tombs = 0;
    return 0;
}

/* Rebuilds the table into a new block of 2^lg slots (lg may equal the old
 * size, to drop tombstones), optionally below LIMIT (for shrinking). */
static int index_rebuild(brain *b, unsigned lg, uint64_t limit)
{
    struct brain__header *h = b->h;
    uint64_t old = atomic_load(&h->index), onslots;
    _Atomic uint64_t *ot = brain__index_table(b, old, &onslots);
    if (!ot)
        return brain__fail(BRAIN_ECORRUPT, "store '%s': the name index header word is invalid", b->path);
    uint64_t nslots = 1ull << lg, nb;
    int rc = limit ? brain__alloc_below(b, nslots * 8, limit, BK_INDEX, &nb)
                   : brain__alloc_block(b, nslots * 8, BS_USED, BK_INDEX, nslots * 8, 0, &nb);
    if (rc)
        return rc;
    _Atomic uint64_t *nt = (_Atomic uint64_t *)(b->rw + nb + BLOCK_HDR);
    memset((void *)nt, 0, nslots * 8);
    uint64_t count = 0;
    for (uint64_t i = 0; i < onslots; i++) {
        uint64_t w = atomic_load_explicit(&ot[i], memory_order_relaxed);
        if (w == IDX_EMPTY || w == IDX_TOMB)
            continue;
        const struct brain__entry *e = brain__entry_at(b, brain__idx_block(w));
        if (!e)
            continue; /* damaged word: dropped (repair reports it) */
        table_insert(nt, nslots - 1, e->hash, w);
        count++;
    }
    atomic_store(&h->index, nb | lg);
    h->index_count = count;
    h->index_tombs = 0;
    brain__limbo_retire(b, old & ~63ull);
    return 0;
}

int brain__index_relocate(brain *b, uint64_t limit)
{
    return index_rebuild(b, (unsigned)(atomic_load(&b->h->index) & 63), limit);
}

/* Makes room for EXTRA more names.  When the store is too full to build a
 * bigger table, the old one keeps serving up to 90% load. */
int brain__index_reserve(brain *b, uint64_t extra)
{
    struct brain__header *h = b->h;
    uint64_t packed = atomic_load(&h->index), nslots;
    if (!brain__index_table(b, packed, &nslots))
        return brain__fail(BRAIN_ECORRUPT, "store '%s': the name index header word is invalid", b->path);
    unsigned lg = (unsigned)(packed & 63);
    /* the counts come from the file: more than the table holds is damage
     * (repair recounts them when the lock is released), and bounded so
     * that nothing below overflows */
    uint64_t count = h->index_count, tombs = h->index_tombs;
    if (extra > (1ull << 36))
        return brain__fail(BRAIN_EFULL, "store '%s' cannot index more names", b->path);
    if (count > nslots || tombs > nslots) {
        brain__mark_damaged(b);
        return brain__fail(BRAIN_ECORRUPT,
                           "store '%s': the name index's counts are damaged (%llu names and %llu "
                           "deleted in %llu slots); they are recounted as this call ends: try again",
                           b->path, (unsigned long long)count, (unsigned long long)tombs,
                           (unsigned long long)nslots);
    }
    if ((count + tombs + extra) * 4 <= nslots * 3)
        return 0;
    unsigned nl = lg;
    while (nl <= 36 && (count + extra) * 2 > (1ull << nl))
        nl++;
    if (nl < IDX_MIN_LOG2)
        nl = IDX_MIN_LOG2;
    if (nl > 36)
        return brain__fail(BRAIN_EFULL, "store '%s' cannot index more names", b->path);
    int rc = index_rebuild(b, nl, 0);
    if (rc && (count + tombs + extra) * 10 <= nslots * 9)
        return 0;
    return rc;
}

int brain__index_maybe_grow(brain *b) { return brain__index_reserve(b, 1); }

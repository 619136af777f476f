/*
 * list.c - listing: names (of one namespace or all), namespaces, process
 * slots and the store's statistics.
 *
 * Listings walk the index without the lock, inside the batch_seq bracket
 * that writers keep odd while they change names, and retry when it moved.
 * Nothing here changes the store.
 */
#include "internal.h"

#include <sched.h>
#include <stdlib.h>
#include <stdio.h>
#include <time.h>

/* ---- listing and namespaces -------------------------------------------- */

struct list_impl {
    brain_list pub;
    char *strings;
};

struct list_key {
    uint64_t hash;
    size_t idx;
};

static int cmp_list_key(const void *a, const void *b)
{
    const struct list_key *x = a, *y = b;
    return x->hash < y->hash ? -1 : x->hash > y->hash;
}

/* A name deleted and stored again while the scan ran can sit in a slot
 * the scan had not reached yet, and show up twice: keep its newest value.
 * HASHES[i] is item i's hash; strings are still offsets into STRINGS. */
static size_t list_dedupe(brain_info *items, const uint64_t *hashes, size_t count,
                          const char *strings)
{
    struct list_key *k = malloc(count * sizeof *k);
    uint8_t *drop = calloc(count, 1);
    if (!k || !drop) {
        free(k);
        free(drop);
        return count;
    }
    for (size_t i = 0; i < count; i++)
        k[i] = (struct list_key){hashes[i], i};
    qsort(k, count, sizeof *k, cmp_list_key);
    for (size_t i = 0; i < count; i++)
        for (size_t j = i + 1; j < count && k[j].hash == k[i].hash; j++) {
            brain_info *x = &items[k[i].idx], *y = &items[k[j].idx];
            const char *xs = strings + (uintptr_t)x->ns, *ys = strings + (uintptr_t)y->ns;
            if (drop[k[i].idx] || drop[k[j].idx] || x->ns_len != y->ns_len ||
                x->name_len != y->name_len ||
                memcmp(xs, ys, (size_t)x->ns_len + 1 + x->name_len) != 0)
                continue;
            drop[x->version < y->version ? k[i].idx : k[j].idx] = 1;
        }
    size_t n = 0;
    for (size_t i = 0; i < count; i++)
        if (!drop[i])
            items[n++] = items[i];
    free(k);
    free(drop);
    return n;
}

/* What brain_list_names gathers, one entry at a time (brain__index_foreach). */
struct list_ctx {
    const struct brain__key *k;
    int all_ns;
    int64_t now;
    brain_info *items;
    uint64_t *hashes;
    char *strings;
    size_t cap, scap, slen, count;
};

static int list_one(brain *b, _Atomic uint64_t *slot, const struct brain__entry *e, void *ctx)
{
    (void)slot;
    struct list_ctx *c = ctx;
    if (brain__entry_expired(e, c->now))
        return 0;
    if (!c->all_ns && !(e->ns_len == c->k->nslen && memcmp(e->strings, c->k->ns, c->k->nslen) == 0))
        return 0;
    size_t need = (size_t)e->ns_len + e->name_len + e->desc_len + 3;
    if (c->count == c->cap || c->slen + need > c->scap) {
        size_t ncap = c->count == c->cap ? c->cap * 2 : c->cap;
        size_t nscap = c->slen + need > c->scap ? (c->scap + need) * 2 : c->scap;
        brain_info *ni = realloc(c->items, ncap * sizeof *ni);
        if (ni)
            c->items = ni;
        uint64_t *nh = ni ? realloc(c->hashes, ncap * sizeof *nh) : NULL;
        if (nh)
            c->hashes = nh;
        char *nsb = nh ? realloc(c->strings, nscap) : NULL;
        if (nsb)
            c->strings = nsb;
        if (!ni || !nh || !nsb)
            return brain__fail(BRAIN_ENOMEM, "out of memory while listing");
        c->cap = ncap;
        c->scap = nscap;
    }
    brain__entry_fill_info(b, e, &c->items[c->count], INFO_NO_STRINGS);
    c->hashes[c->count] = e->hash;
    memcpy(c->strings + c->slen, e->strings, need);
    /* offsets for now; pointers once the buffer stops moving */
    c->items[c->count].ns = (const char *)(uintptr_t)c->slen;
    c->slen += need;
    c->count++;
    return 0;
}

/* The checks both listings open with: clear the thread's error, check the
 * handle and the namespace (into K), and that OUT was given; FN names the
 * caller in the message. */
static int list_begin(brain *b, const char *ns, struct brain__key *k, const void *out, const char *fn)
{
    brain__clear_error();
    int rc = brain__handle_ready(b);
    if (rc || (rc = brain__key_init(b, ns, NULL, k, 1)))
        return rc;
    if (!out)
        return brain__fail(BRAIN_EINVAL, "%s: out is NULL", fn);
    return 0;
}

int brain_list_names(brain *b, const char *ns, int all_ns, brain_list **out)
{
    struct brain__key k;
    int rc = list_begin(b, ns, &k, out, "brain_list_names");
    if (rc)
        return rc;
    *out = NULL;
    struct list_impl *L = calloc(1, sizeof *L);
    size_t cap = 64, scap = 4096;
    brain_info *items = malloc(cap * sizeof *items);
    char *strings = malloc(scap);
    if (!L || !items || !strings) {
        free(L);
        free(items);
        free(strings);
        return brain__fail(BRAIN_ENOMEM, "out of memory");
    }
    size_t count = 0;
    uint64_t *hashes = malloc(cap * sizeof *hashes);
    if (!hashes) {
        free(L);
        free(items);
        free(strings);
        return brain__fail(BRAIN_ENOMEM, "out of memory");
    }
    struct brain__lane *lane = brain__lane_enter(b);
    uint64_t seq0 = atomic_load(&b->h->batch_seq);
    struct list_ctx lc = {&k, all_ns, brain__plat_now_ns(), items, hashes, strings, cap, scap, 0, 0};
    rc = brain__index_foreach_by_address(b, list_one, &lc);
    items = lc.items;
    hashes = lc.hashes;
    strings = lc.strings;
    count = lc.count;
    int moved = atomic_load(&b->h->batch_seq) != seq0;
    brain__lane_leave(lane);
    if (rc) {
        free(items);
        free(hashes);
        free(strings);
        free(L);
        return rc;
    }
    if (moved)
        count = list_dedupe(items, hashes, count, strings);
    free(hashes);
    for (size_t i = 0; i < count; i++) {
        const char *s = strings + (uintptr_t)items[i].ns;
        items[i].ns = s;
        items[i].name = s + items[i].ns_len + 1;
        items[i].desc = items[i].name + items[i].name_len + 1;
    }
    L->pub.count = count;
    L->pub.items = items;
    L->strings = strings;
    *out = &L->pub;
    return 0;
}

void brain_list_free(brain_list *list)
{
    if (!list)
        return;
    struct list_impl *L = (struct list_impl *)list;
    free(L->pub.items);
    free(L->strings);
    free(L);
}

/* ---- the names alone, sorted --------------------------------------------- */

/* brain_list_sorted_names gathers one record a name during the walk, sorts
 * the records, then writes the names out in order.  A record carries the
 * first KEY_BYTES bytes of its name as two big-endian integers (0-padded):
 * names compare as those integers first, so sorting touches nothing but
 * the records (contiguous, 24 bytes each) unless two names share their
 * first KEY_BYTES bytes, and a name shorter than that is written out from
 * its record alone.  Only the others (and, listing every namespace, the
 * namespaces) are copied to the strings buffer during the walk. */
#define KEY_BYTES 16u

struct name_rec {
    uint64_t k[2];     /* name bytes [depth, depth + 16), big-endian, 0-padded */
    uint32_t off;      /* of the name in the strings buffer (when copied) */
    uint16_t ns_len, name_len;
};

/* The strings buffer holds, for each name listed every namespace, "ns NUL
 * name NUL"; listing one namespace, "name NUL" for names of KEY_BYTES
 * bytes or more only (rec_copied). */

struct names_ctx {
    const struct brain__key *k;
    int all_ns;
    int64_t now;
    struct name_rec *recs;
    char *strings;
    size_t cap, scap, slen, count, total; /* total: the names' bytes, NULs included */
};

static int rec_copied(int all_ns, size_t name_len)
{
    return all_ns || name_len >= KEY_BYTES;
}

static const char *rec_name(const char *strings, const struct name_rec *r)
{
    return strings + r->off;
}

static const char *rec_ns(const char *strings, const struct name_rec *r)
{
    return strings + r->off - r->ns_len - 1;
}

static uint64_t load_be64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return v;
#else
    return __builtin_bswap64(v);
#endif
}

static void store_be64(unsigned char *p, uint64_t v)
{
#if !(defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__)
    v = __builtin_bswap64(v);
#endif
    memcpy(p, &v, 8);
}

/* The key of NAME (LEN bytes) from byte DEPTH on, into K. */
static void name_key(const char *name, size_t len, size_t depth, uint64_t k[2])
{
    unsigned char buf[KEY_BYTES];
    if (len >= depth + KEY_BYTES) {
        memcpy(buf, name + depth, KEY_BYTES);
    } else {
        memset(buf, 0, sizeof buf);
        if (len > depth)
            memcpy(buf, name + depth, len - depth);
    }
    k[0] = load_be64(buf);
    k[1] = load_be64(buf + 8);
}

static int names_one(brain *b, _Atomic uint64_t *slot, const struct brain__entry *e, void *ctx)
{
    (void)b;
    (void)slot;
    struct names_ctx *c = ctx;
    if (brain__entry_expired(e, c->now))
        return 0;
    if (!c->all_ns && !(e->ns_len == c->k->nslen && memcmp(e->strings, c->k->ns, c->k->nslen) == 0))
        return 0;
    size_t nsl = c->all_ns ? e->ns_len + 1u : 0;
    size_t need = rec_copied(c->all_ns, e->name_len) ? nsl + e->name_len + 1u : 0;
    if (c->count == c->cap || c->slen + need > c->scap) {
        size_t ncap = c->count == c->cap ? c->cap * 2 : c->cap;
        size_t nscap = c->slen + need > c->scap ? (c->scap + need) * 2 : c->scap;
        if (nscap > UINT32_MAX)
            return brain__fail(BRAIN_ENOMEM, "listing: the names take more than 4 GiB");
        struct name_rec *nr = realloc(c->recs, ncap * sizeof *nr);
        if (nr)
            c->recs = nr;
        char *nsb = nr ? realloc(c->strings, nscap) : NULL;
        if (nsb)
            c->strings = nsb;
        if (!nr || !nsb)
            return brain__fail(BRAIN_ENOMEM, "out of memory while listing");
        c->cap = ncap;
        c->scap = nscap;
    }
    const char *name = e->strings + e->ns_len + 1;
    struct name_rec *r = &c->recs[c->count++];
    name_key(name, e->name_len, 0, r->k);
    r->off = (uint32_t)(c->slen + nsl);
    r->ns_len = (uint16_t)(nsl ? e->ns_len : 0);
    r->name_len = e->name_len;
    if (need) /* "ns NUL name NUL", or "name NUL" */
        memcpy(c->strings + c->slen, e->strings + (e->ns_len + 1u - nsl), need);
    c->slen += need;
    c->total += e->name_len + 1u;
    return 0;
}

/* What comparing two records needs beyond their keys. */
struct sort_ctx {
    const char *strings;
    int all_ns;
};

static int key_cmp(const struct name_rec *x, const struct name_rec *y)
{
    if (x->k[0] != y->k[0])
        return x->k[0] < y->k[0] ? -1 : 1;
    return (x->k[1] > y->k[1]) - (x->k[1] < y->k[1]);
}

/* X against Y whose keys (bytes [depth, depth + 16)) are equal: the rest
 * of the names by bytes (UTF-8 byte order is code point order), then the
 * lengths (a name before the longer ones it begins), then namespaces.
 * Names hold no NUL, so with equal keys a name that ends before the key
 * does equals the other; names that reach the key's end were copied. */
static int rec_tie_cmp(const struct sort_ctx *s, const struct name_rec *x, const struct name_rec *y,
                       size_t depth)
{
    size_t lx = x->name_len, ly = y->name_len, from = depth + KEY_BYTES;
    if (lx > from && ly > from) {
        size_t m = lx < ly ? lx : ly;
        int c = memcmp(rec_name(s->strings, x) + from, rec_name(s->strings, y) + from, m - from);
        if (c)
            return c;
    }
    if (lx != ly)
        return lx < ly ? -1 : 1;
    if (!s->all_ns)
        return 0;
    size_t nx = x->ns_len, ny = y->ns_len;
    int c = memcmp(rec_ns(s->strings, x), rec_ns(s->strings, y), nx < ny ? nx : ny);
    return c ? c : (nx > ny) - (nx < ny);
}

static int rec_cmp(const struct sort_ctx *s, const struct name_rec *x, const struct name_rec *y,
                   size_t depth)
{
    int c = key_cmp(x, y);
    return c ? c : rec_tie_cmp(s, x, y, depth);
}

/* X against Y after sorting: the keys of names that were copied can have
 * moved on to later bytes (sort_run), so those compare by their bytes;
 * the keys of the others are still their first bytes. */
static int rec_cmp_sorted(const struct sort_ctx *s, const struct name_rec *x,
                          const struct name_rec *y)
{
    int cx = rec_copied(0, x->name_len), cy = rec_copied(0, y->name_len);
    if (!cx && !cy) {
        int c = key_cmp(x, y);
        return c ? c : rec_tie_cmp(s, x, y, 0);
    }
    unsigned char bx[KEY_BYTES], by[KEY_BYTES];
    const char *px = rec_name(s->strings, x), *py = rec_name(s->strings, y);
    if (!cx) {
        store_be64(bx, x->k[0]);
        store_be64(bx + 8, x->k[1]);
        px = (const char *)bx;
    }
    if (!cy) {
        store_be64(by, y->k[0]);
        store_be64(by + 8, y->k[1]);
        py = (const char *)by;
    }
    size_t lx = x->name_len, ly = y->name_len;
    int c = memcmp(px, py, lx < ly ? lx : ly);
    if (c || lx != ly)
        return c ? c : (lx < ly ? -1 : 1);
    return rec_tie_cmp(s, x, y, lx); /* the same name: by namespace */
}

/* Merge sort of R[0..n) by rec_tie_cmp at DEPTH (records whose keys are
 * equal); TMP has room for n. */
static void merge_sort_ties(const struct sort_ctx *s, struct name_rec *r, struct name_rec *tmp, size_t n,
                            size_t depth)
{
    if (n < 16) {
        for (size_t i = 1; i < n; i++) {
            struct name_rec v = r[i];
            size_t j = i;
            while (j > 0 && rec_tie_cmp(s, &r[j - 1], &v, depth) > 0) {
                r[j] = r[j - 1];
                j--;
            }
            r[j] = v;
        }
        return;
    }
    size_t h = n / 2;
    merge_sort_ties(s, r, tmp, h, depth);
    merge_sort_ties(s, r + h, tmp + h, n - h, depth);
    size_t i = 0, j = h, o = 0;
    while (i < h && j < n)
        tmp[o++] = rec_tie_cmp(s, &r[j], &r[i], depth) < 0 ? r[j++] : r[i++];
    while (i < h)
        tmp[o++] = r[i++];
    while (j < n)
        tmp[o++] = r[j++];
    memcpy(r, tmp, n * sizeof *r);
}

static void sort_recs(const struct sort_ctx *s, struct name_rec *a, struct name_rec *b, size_t n,
                      size_t depth, unsigned byte, int into_b);

/* R[0..n) have equal keys at DEPTH: sorts them by what follows. */
static void sort_run(const struct sort_ctx *s, struct name_rec *r, struct name_rec *tmp, size_t n,
                     size_t depth)
{
    size_t from = depth + KEY_BYTES;
    int longer = 0;
    for (size_t i = 0; i < n && !longer; i++)
        longer = r[i].name_len > from;
    if (!longer) { /* the same name: by namespace (or duplicates) */
        if (s->all_ns)
            merge_sort_ties(s, r, tmp, n, depth);
        return;
    }
    /* the next 16 bytes (0 for a name that ends at FROM: it goes first).
     * With no NUL in a name, every name of the run reaches FROM (see
     * rec_tie_cmp), and so was copied; one that does not (a damaged
     * store) keeps its key and its bytes. */
    for (size_t i = 0; i < n; i++) {
        if (i + 8 < n && r[i + 8].name_len >= from)
            __builtin_prefetch(rec_name(s->strings, &r[i + 8]) + from);
        if (r[i].name_len >= from)
            name_key(rec_name(s->strings, &r[i]), r[i].name_len, from, r[i].k);
    }
    sort_recs(s, r, tmp, n, from, 0, 0);
}

static unsigned rec_digit(const struct name_rec *r, unsigned byte)
{
    return (unsigned)(r->k[byte >> 3] >> (56 - 8 * (byte & 7))) & 255u;
}

/* The first key byte after AFTER in which keys differ, given the XOR of
 * every key with one of them (X0, X1); KEY_BYTES when none does. */
static unsigned next_varying_byte(uint64_t x0, uint64_t x1, unsigned after)
{
    for (unsigned byte = after + 1; byte < KEY_BYTES; byte++) {
        uint64_t x = byte < 8 ? x0 : x1;
        if ((x >> (56 - 8 * (byte & 7))) & 255u)
            return byte;
    }
    return KEY_BYTES;
}

/* Sorts the records of A[0..n), whose keys hold the name bytes from DEPTH
 * on and agree on their first BYTE bytes, into B when INTO_B (else into A;
 * the other is scratch).  An MSD radix sort on one key byte at a time,
 * from A into B and back level by level (no copying back); a byte every
 * record shares costs one counting pass, which also finds the next byte
 * that differs.  Short ranges: insertion sort.  Records whose keys are
 * equal go on past the key (sort_run). */
static void sort_recs(const struct sort_ctx *s, struct name_rec *a, struct name_rec *b, size_t n,
                      size_t depth, unsigned byte, int into_b)
{
    if (n < 32) {
        for (size_t i = 1; i < n; i++) { /* insertion sort on the keys */
            struct name_rec v = a[i];
            size_t j = i;
            while (j > 0 && key_cmp(&a[j - 1], &v) > 0) {
                a[j] = a[j - 1];
                j--;
            }
            a[j] = v;
        }
        for (size_t i = 0; i < n;) { /* runs of equal keys */
            size_t j = i + 1;
            while (j < n && key_cmp(&a[j], &a[i]) == 0)
                j++;
            if (j - i > 1)
                sort_run(s, a + i, b + i, j - i, depth);
            i = j;
        }
        if (into_b)
            memcpy(b, a, n * sizeof *a);
        return;
    }
    size_t cnt[256];
    unsigned lo, hi; /* the digits seen */
    for (;;) {
        memset(cnt, 0, sizeof cnt);
        uint64_t f0 = a[0].k[0], f1 = a[0].k[1], x0 = 0, x1 = 0;
        lo = 255;
        hi = 0;
        for (size_t i = 0; i < n; i++) {
            unsigned d = rec_digit(&a[i], byte);
            cnt[d]++;
            lo = d < lo ? d : lo;
            hi = d > hi ? d : hi;
            x0 |= a[i].k[0] ^ f0;
            x1 |= a[i].k[1] ^ f1;
        }
        if (lo != hi)
            break;
        byte = next_varying_byte(x0, x1, byte); /* every key has this byte */
        if (byte == KEY_BYTES) {
            sort_run(s, a, b, n, depth);
            if (into_b)
                memcpy(b, a, n * sizeof *a);
            return;
        }
    }
    size_t pos[256], sum = 0;
    for (unsigned v = lo; v <= hi; v++) {
        pos[v] = sum;
        sum += cnt[v];
    }
    for (size_t i = 0; i < n; i++)
        b[pos[rec_digit(&a[i], byte)]++] = a[i];
    /* the buckets are in B now: each sorts from B into A unless INTO_B */
    size_t start = 0;
    for (unsigned v = lo; v <= hi; v++) {
        size_t m = cnt[v];
        if (m > 1 && byte + 1 == KEY_BYTES) {
            sort_run(s, b + start, a + start, m, depth);
            if (!into_b)
                memcpy(a + start, b + start, m * sizeof *a);
        } else if (m > 1) {
            sort_recs(s, b + start, a + start, m, depth, byte + 1, !into_b);
        } else if (m == 1 && !into_b) {
            a[start] = b[start];
        }
        start += m;
    }
}

/* Sorts R[0..n) (TMP: scratch for n).  Names stored in order mostly lie
 * in order in the file too (but for the blocks freed and reused
 * meanwhile): when one run in order holds half of them or more, the rest
 * is sorted apart and merged into it, one pass; else sort_recs. */
static void sort_names(const struct sort_ctx *s, struct name_rec *r, struct name_rec *tmp, size_t n)
{
    size_t best = 0, blen = n ? 1 : 0, start = 0;
    for (size_t i = 1; i <= n; i++)
        if (i == n || rec_cmp(s, &r[i - 1], &r[i], 0) > 0) {
            if (i - start > blen) {
                best = start;
                blen = i - start;
            }
            start = i;
        }
    if (blen == n)
        return;
    if (2 * blen < n) {
        sort_recs(s, r, tmp, n, 0, 0, 0);
        return;
    }
    /* the rest (at most n / 2) to the end of TMP, sorted there with the
     * front of TMP as scratch; the run to the end of R; then merge into R
     * from the front (the write never passes the run's next record), by
     * rec_cmp_sorted: the run's keys are as gathered, the rest's not */
    size_t rest = n - blen;
    struct name_rec *q = tmp + (n - rest);
    memcpy(q, r, best * sizeof *r);
    memcpy(q + best, r + best + blen, (n - best - blen) * sizeof *r);
    sort_recs(s, q, tmp, rest, 0, 0, 0);
    if (best != rest)
        memmove(r + rest, r + best, blen * sizeof *r);
    size_t i = rest, j = 0, o = 0;
    while (j < rest && i < n)
        r[o++] = rec_cmp_sorted(s, &q[j], &r[i]) <= 0 ? q[j++] : r[i++];
    while (j < rest)
        r[o++] = q[j++];
}

struct names_impl {
    brain_names pub;
    char *strings; /* the names, in order */
    char *nsbuf;   /* the walk's strings buffer, where ns[i] point (every namespace) */
    void *arrays;
    char ns[BRAIN_NS_MAX + 1]; /* the namespace listed (one namespace) */
};

int brain_list_sorted_names(brain *b, const char *ns, int all_ns, brain_names **out)
{
    struct brain__key k;
    int rc = list_begin(b, ns, &k, out, "brain_list_sorted_names");
    if (rc)
        return rc;
    *out = NULL;
    /* room for the names there are now, so that it rarely grows */
    uint64_t live = b->h->index_count, most = atomic_load(&b->h->file_size) / 128;
    size_t guess = (size_t)(live < most ? live : most) + 1024;
    struct names_ctx c = {&k, all_ns, 0, NULL, NULL, guess, all_ns ? guess * 16 : guess * 4, 0, 0, 0};
    c.recs = malloc(c.cap * sizeof *c.recs);
    c.strings = malloc(c.scap);
    if (c.recs)
        brain__plat_advise_huge(c.recs, c.cap * sizeof *c.recs);
    if (c.strings)
        brain__plat_advise_huge(c.strings, c.scap);
    struct names_impl *L = calloc(1, sizeof *L);
    void *arr = NULL;
    char *sorted = NULL;
    if (!c.recs || !c.strings || !L)
        goto nomem;
    memcpy(L->ns, k.ns, k.nslen);
    L->ns[k.nslen] = 0;
    struct brain__lane *lane = brain__lane_enter(b);
    uint64_t seq0 = atomic_load(&b->h->batch_seq);
    c.now = brain__plat_now_ns();
    rc = brain__index_foreach_by_address(b, names_one, &c);
    int moved = atomic_load(&b->h->batch_seq) != seq0;
    brain__lane_leave(lane);
    if (rc)
        goto fail;
    size_t n = c.count;
    /* scratch for the sort, then the results: 2 pointers and a length a
     * name (no more than a record) */
    arr = malloc(n * sizeof(struct name_rec) + 1);
    sorted = malloc(c.total + KEY_BYTES);
    if (!arr || !sorted)
        goto nomem;
    brain__plat_advise_huge(arr, n * sizeof(struct name_rec));
    brain__plat_advise_huge(sorted, c.total);
    struct sort_ctx sc = {c.strings, all_ns};
    sort_names(&sc, c.recs, arr, n);
    /* A name deleted and stored again while the scan ran can have been
     * seen twice; sorted, the two are neighbours: list it once. */
    size_t m = moved ? 0 : n; /* unmoved: no pass at all */
    for (size_t i = 0; moved && i < n; i++)
        if (!m || c.recs[m - 1].name_len != c.recs[i].name_len ||
            (!rec_copied(0, c.recs[i].name_len) ? key_cmp(&c.recs[m - 1], &c.recs[i]) != 0
                                             : memcmp(rec_name(c.strings, &c.recs[m - 1]),
                                                      rec_name(c.strings, &c.recs[i]),
                                                      c.recs[i].name_len) != 0) ||
            (all_ns && rec_tie_cmp(&sc, &c.recs[m - 1], &c.recs[i], c.recs[i].name_len) != 0))
            c.recs[m++] = c.recs[i];
    const char **names = arr, **nss = names + m;
    uint32_t *lens = (uint32_t *)(nss + m);
    /* the names in order, each NUL-terminated: a short one from its key
     * (the 16 bytes written may run into the next name's place, which
     * that name then overwrites; the buffer has KEY_BYTES to spare) */
    unsigned char *o = (unsigned char *)sorted;
    for (size_t i = 0; i < m; i++) {
        const struct name_rec *r = &c.recs[i];
        size_t len = r->name_len;
        if (i + 8 < m && rec_copied(all_ns, c.recs[i + 8].name_len))
            __builtin_prefetch(c.strings + c.recs[i + 8].off);
        names[i] = (const char *)o;
        lens[i] = (uint32_t)len;
        nss[i] = all_ns ? rec_ns(c.strings, r) : L->ns;
        if (!rec_copied(0, len)) {
            store_be64(o, r->k[0]);
            store_be64(o + 8, r->k[1]);
            o[len] = 0;
        } else {
            memcpy(o, rec_name(c.strings, r), len + 1);
        }
        o += len + 1;
    }
    free(c.recs);
    if (all_ns) {
        L->nsbuf = c.strings;
    } else {
        free(c.strings);
    }
    L->pub.count = m;
    L->pub.names = names;
    L->pub.ns = nss;
    L->pub.name_lens = lens;
    L->strings = sorted;
    L->arrays = arr;
    *out = &L->pub;
    return 0;
nomem:
    rc = brain__fail(BRAIN_ENOMEM, "out of memory while listing");
fail:
    free(c.recs);
    free(c.strings);
    free(arr);
    free(sorted);
    free(L);
    return rc;
}

void brain_names_free(brain_names *list)
{
    if (!list)
        return;
    struct names_impl *L = (struct names_impl *)list;
    free(L->strings);
    free(L->nsbuf);
    free(L->arrays);
    free(L);
}

/* ---- counting ------------------------------------------------------------ */

struct count_ctx {
    const struct brain__key *k;
    int64_t now;
    uint64_t count;
};

static int count_one(brain *b, _Atomic uint64_t *slot, const struct brain__entry *e, void *ctx)
{
    (void)b;
    (void)slot;
    struct count_ctx *c = ctx;
    if (e->ns_len == c->k->nslen && memcmp(e->strings, c->k->ns, c->k->nslen) == 0 &&
        !brain__entry_expired(e, c->now))
        c->count++;
    return 0;
}

int brain_count_names(brain *b, const char *ns, uint64_t *count)
{
    struct brain__key k;
    int rc = list_begin(b, ns, &k, count, "brain_count_names");
    if (rc)
        return rc;
    *count = 0;
    /* the walk of listing without gathering anything; a name deleted and
     * stored again meanwhile could be counted twice, so when a batch of
     * writes ran during the walk it is walked again, at last under the
     * writers' lock */
    for (int attempt = 0;; attempt++) {
        int locked = attempt == 3;
        if (locked && (rc = brain__writer_lock(b)))
            return rc;
        struct brain__lane *lane = brain__lane_enter(b);
        uint64_t seq0 = atomic_load(&b->h->batch_seq);
        struct count_ctx c = {&k, brain__plat_now_ns(), 0};
        rc = brain__index_foreach_by_address(b, count_one, &c);
        int moved = (seq0 & 1) || atomic_load(&b->h->batch_seq) != seq0;
        brain__lane_leave(lane);
        if (locked)
            brain__writer_unlock(b);
        if (rc)
            return rc;
        if (locked || !moved) {
            *count = c.count;
            return 0;
        }
    }
}

int brain_namespaces(brain *b, brain_ns_info **out, size_t *count)
{
    brain__clear_error();
    int rc = brain__handle_ready(b);
    if (rc)
        return rc;
    if (!out || !count)
        return brain__fail(BRAIN_EINVAL, "brain_namespaces: out or count is NULL");
    struct brain__header *h = b->h;
    brain_ns_info *arr = calloc(h->max_namespaces, sizeof *arr);
    if (!arr)
        return brain__fail(BRAIN_ENOMEM, "out of memory");
    size_t n = 0;
    int locked = 0;
    for (int attempt = 0;; attempt++) {
        if (attempt == 64) {
            if ((rc = brain__writer_lock(b))) {
                free(arr);
                return rc;
            }
            locked = 1;
        }
        uint64_t s1 = atomic_load(&h->batch_seq);
        if ((s1 & 1) && !locked) {
            sched_yield();
            continue;
        }
        n = 0;
        for (uint32_t i = 0; i < h->max_namespaces; i++) {
            struct brain__nsrec *r = brain__nsrec_at(b, i);
            if (!atomic_load_explicit(&r->used, memory_order_acquire))
                continue;
            uint32_t len = r->len;
            if (len == 0 || len > BRAIN_NS_MAX)
                continue;
            int is_default = len == 7 && memcmp(r->name, "default", 7) == 0;
            if (!r->names && !is_default)
                continue;
            memcpy(arr[n].name, r->name, len);
            arr[n].name[len] = 0;
            arr[n].names = r->names;
            arr[n].bytes = r->bytes;
            arr[n].version = r->version;
            n++;
        }
        atomic_thread_fence(memory_order_acquire);
        if (locked || atomic_load(&h->batch_seq) == s1)
            break;
    }
    if (locked)
        brain__writer_unlock(b);
    *out = arr;
    *count = n;
    return 0;
}

/* ---- stats and resize ----------------------------------------------------- */

/* What brain_stats_get leaves out when it could not take the lock (and so
 * could not drop them): the expired names still linked, their blocks'
 * bytes, and per namespace record how many of its names they are. */
struct expired_ctx {
    int64_t now;
    uint64_t names, bytes;
    uint64_t *ns_names; /* max_namespaces counters, or NULL */
};

static int count_expired(brain *b, _Atomic uint64_t *slot, const struct brain__entry *e, void *ctx)
{
    (void)slot;
    struct expired_ctx *c = ctx;
    if (!brain__entry_expired(e, c->now))
        return 0;
    const struct brain__block *bb =
        (const struct brain__block *)((const uint8_t *)e - BLOCK_HDR); /* brain__entry_at checked it */
    c->names++;
    c->bytes += bs_size(bb->sizestate);
    int ni = brain__ns_find(b, brain__entry_ns(e), e->ns_len);
    if (c->ns_names && ni >= 0)
        c->ns_names[ni]++;
    return 0;
}

int brain_stats_get(brain *b, brain_stats *st)
{
    brain__clear_error();
    int rc = brain__handle_ready(b);
    if (rc)
        return rc;
    if (!st)
        return brain__fail(BRAIN_EINVAL, "brain_stats_get: st is NULL");
    /* never waits for the writers' lock: when it is busy the figures are
     * read without it (a moment stale; largest_free a lower bound) */
    int locked = (rc = brain__writer_lock_try(b, LOCK_REFUSE_CORRUPT)) == 0;
    if (rc && rc != BRAIN_EWOULDBLOCK)
        return rc;
    brain__clear_error();
    struct brain__header *h = b->h;
    int64_t now = brain__plat_now_ns();
    if (locked) {
        brain__reap_dead(b, NULL, REAP_DEAD);
        /* expired names are absent for readers: drop them, so that names,
         * used and free (and the namespace records) count live values only */
        int corrupt = 0;
        brain__expire_locked(b, now, &corrupt);
        if (h->limbo_head) /* all of it: the figures below should be settled */
            brain__limbo_reclaim(b, RECLAIM_READY);
    }
    /* without the lock the expired names are still linked: leave them out
     * of the figures (a lock-free walk of the index, as listing does) */
    struct expired_ctx ex = {now, 0, 0, NULL};
    if (!locked) {
        ex.ns_names = calloc(h->max_namespaces ? h->max_namespaces : 1, sizeof *ex.ns_names);
        struct brain__lane *lane = brain__lane_enter(b);
        brain__index_foreach(b, count_expired, &ex); /* a damaged index: nothing left out */
        brain__lane_leave(lane);
        brain__clear_error();
    }
    memset(st, 0, sizeof *st);
    st->capacity = atomic_load(&h->capacity);
    st->file_size = atomic_load(&h->file_size);
    /* the header, process table, namespace table and sentinel count as
     * used, so that used + free + limbo == capacity */
    st->used = h->used + h->arena_off + BLOCK_HDR;
    st->used = st->used > ex.bytes ? st->used - ex.bytes : 0;
    st->limbo = h->limbo_bytes;
    st->free = st->capacity > st->used + st->limbo ? st->capacity - st->used - st->limbo : 0;
    uint64_t lf = locked ? brain__alloc_largest_free(b) : 0;
    uint64_t tail = st->capacity - st->file_size; /* room the file can still grow */
    st->largest_free = lf + tail > st->free ? st->free : lf + tail;
    st->names = h->index_count > ex.names ? h->index_count - ex.names : 0;
    st->version = atomic_load(&h->version);
    st->index_slots = 1ull << (atomic_load(&h->index) & 63);
    st->blocks = h->nblocks;
    st->free_blocks = h->nfree;
    st->recoveries = h->recoveries;
    st->reaped = h->reaped;
    st->max_procs = h->max_procs;
    st->max_namespaces = h->max_namespaces;
    for (uint32_t i = 0; i < h->max_procs; i++) {
        struct brain__slot *s = brain__slot_at(b, i);
        uint64_t owner = atomic_load(&s->owner);
        if (!owner)
            continue;
        if ((owner >> 32) == SLOT_ACTIVE)
            st->procs++;
        uint32_t hw = atomic_load(&s->npins_hw);
        for (uint32_t p = 0; p < hw && p < PINS; p++)
            if (atomic_load(&s->pins[p]))
                st->pins++;
    }
    for (uint32_t i = 0; i < h->max_namespaces; i++) {
        struct brain__nsrec *r = brain__nsrec_at(b, i);
        uint64_t names = r->names;
        if (ex.ns_names)
            names = names > ex.ns_names[i] ? names - ex.ns_names[i] : 0;
        if (atomic_load(&r->used) && (names || (r->len == 7 && !memcmp(r->name, "default", 7))))
            st->namespaces++;
    }
    free(ex.ns_names);
    if (locked)
        brain__writer_unlock(b);
    return 0;
}

int brain_procs(brain *b, brain_proc_info **out, size_t *count)
{
    brain__clear_error();
    int rc = brain__handle_ready(b);
    if (rc)
        return rc;
    if (!out || !count)
        return brain__fail(BRAIN_EINVAL, "brain_procs: NULL argument");
    *out = NULL;
    *count = 0;
    struct brain__header *h = b->h;
    uint32_t hw = atomic_load(&h->slots_hw);
    if (hw > h->max_procs)
        hw = h->max_procs;
    brain_proc_info *v = calloc(hw ? hw : 1, sizeof *v);
    if (!v)
        return brain__fail(BRAIN_ENOMEM, "out of memory");
    size_t n = 0;
    /* no lock: each slot is read with atomic loads, and a process that
     * attaches or leaves meanwhile is shown or not, as at some moment */
    for (uint32_t i = 0; i < hw; i++) {
        struct brain__slot *s = brain__slot_at(b, i);
        uint64_t owner = atomic_load(&s->owner);
        if (!owner || (owner >> 32) != SLOT_ACTIVE)
            continue;
        brain_proc_info *p = &v[n++];
        p->pid = (int32_t)(owner & 0xffffffffu);
        p->self = s == b->slot;
        p->alive = p->self || brain__plat_proc_alive((pid_t)p->pid, s->start_time);
        p->reservations = atomic_load(&s->nreserved);
        uint32_t phw = atomic_load(&s->npins_hw);
        for (uint32_t k = 0; k < phw && k < PINS; k++)
            if (atomic_load(&s->pins[k]))
                p->pins++;
    }
    if (n == 0) {
        free(v);
        v = NULL;
    }
    *out = v;
    *count = n;
    return 0;
}
